use super::*;

const V1: &str = "syntax = \"proto3\"; package protobuf; message UserEvent { string userId = 1; string action = 2; double value = 3; }";
const V2_ADD: &str = "syntax = \"proto3\"; package protobuf; message UserEvent { string userId = 1; string action = 2; double value = 3; int64 ts = 4; }";
const V2_BREAK: &str = "syntax = \"proto3\"; package protobuf; message UserEvent { string userId = 1; string action = 2; string value = 3; }";

fn proto(text: &str) -> SchemaInput {
    SchemaInput { schema_type: SchemaType::Protobuf, schema: text.into(), references: vec![], id: None, version: None }
}

/// Runs a write the way the server does: check, then apply the records; keeps them as the log.
fn write<T>(
    core: &mut Core,
    log: &mut Vec<Record>,
    op: impl FnOnce(&Core) -> Result<(T, Vec<Record>), RegistryError>,
) -> Result<T, RegistryError> {
    let (out, records) = op(core)?;
    for rec in &records {
        // through the bytes, as the topic would carry them
        let (k, v) = rec.encode();
        let back = Record::decode(&k, v.as_deref()).unwrap();
        core.apply(&back);
        log.push(back);
    }
    Ok(out)
}

fn replay(log: &[Record]) -> Core {
    let mut c = Core::new(CompatibilityLevel::Backward);
    for r in log {
        c.apply(r);
    }
    c
}

#[test]
fn register_assigns_ids_and_versions_and_dedups() {
    let (mut c, mut log) = (Core::new(CompatibilityLevel::Backward), Vec::new());
    let a = write(&mut c, &mut log, |c| c.register("a-value", &proto(V1))).unwrap();
    assert_eq!(a, Registered { id: 1, version: 1 });
    // same schema, same subject: same id and version, nothing written
    let (again, recs) = c.register("a-value", &proto(V1)).unwrap();
    assert_eq!((again, recs.len()), (a.clone(), 0));
    // same schema in another subject: same id, version 1 there; whitespace does not matter
    let spaced = V1.replace("; ", ";\n   ");
    let b = write(&mut c, &mut log, |c| c.register("b-value", &proto(&spaced))).unwrap();
    assert_eq!(b, Registered { id: 1, version: 1 });
    // compatible evolution: new id, version 2
    let a2 = write(&mut c, &mut log, |c| c.register("a-value", &proto(V2_ADD))).unwrap();
    assert_eq!(a2, Registered { id: 2, version: 2 });
    // incompatible under BACKWARD: 409 with the rule named
    let e = c.register("a-value", &proto(V2_BREAK)).unwrap_err();
    assert_eq!(e.code(), 409);
    assert!(e.to_string().contains("FIELD_SCALAR_KIND_CHANGED"), "{e}");
    assert!(e.to_string().contains("#/UserEvent/3"), "{e}");
    // the checks are against live versions only; NONE lets it through
    write(&mut c, &mut log, |c| c.set_config(Some("a-value"), CompatibilityLevel::None).map(|r| ((), r))).unwrap();
    let a3 = write(&mut c, &mut log, |c| c.register("a-value", &proto(V2_BREAK))).unwrap();
    assert_eq!(a3, Registered { id: 3, version: 3 });
    assert_eq!(c.versions("a-value", false).unwrap(), vec![1, 2, 3]);
    assert_eq!(c.versions_of_id(1, false).unwrap(), vec![("a-value".to_string(), 1), ("b-value".to_string(), 1)]);
    // replaying the log gives the same answers
    let r = replay(&log);
    assert_eq!(r.versions("a-value", false).unwrap(), vec![1, 2, 3]);
    assert_eq!(r.effective_level("a-value"), CompatibilityLevel::None);
    assert_eq!(r.schema_by_id(2).unwrap().schema, c.schema_by_id(2).unwrap().schema);
    let (next, _) = r.register("c-value", &proto("syntax = \"proto3\"; message X {}")).unwrap();
    assert_eq!(next.id, 4);
}

#[test]
fn lookups_and_not_found_codes() {
    let (mut c, mut log) = (Core::new(CompatibilityLevel::Backward), Vec::new());
    write(&mut c, &mut log, |c| c.register("s", &proto(V1))).unwrap();
    let v = c.lookup("s", &proto(V1), false).unwrap();
    assert_eq!((v.version, v.schema.id), (1, 1));
    assert_eq!(c.lookup("s", &proto(V2_ADD), false).unwrap_err().code(), 40403);
    assert_eq!(c.lookup("nope", &proto(V1), false).unwrap_err().code(), 40401);
    assert_eq!(c.version("s", VersionSpec::Number(9), false).unwrap_err().code(), 40402);
    assert_eq!(c.version("nope", VersionSpec::Latest, false).unwrap_err().code(), 40401);
    assert_eq!(c.schema_by_id(99).unwrap_err().code(), 40403);
    assert_eq!(c.register("s", &proto("message {")).unwrap_err().code(), 42201);
    assert_eq!(c.get_config(Some("s"), false).unwrap_err().code(), 40408);
    assert_eq!(c.get_config(Some("s"), true).unwrap(), CompatibilityLevel::Backward);
    assert_eq!(c.get_mode(Some("s"), false).unwrap_err().code(), 40409);
}

#[test]
fn soft_then_permanent_deletes() {
    let (mut c, mut log) = (Core::new(CompatibilityLevel::None), Vec::new());
    write(&mut c, &mut log, |c| c.register("s", &proto(V1))).unwrap();
    write(&mut c, &mut log, |c| c.register("s", &proto(V2_ADD))).unwrap();
    // permanent first is refused
    assert_eq!(c.delete_version("s", VersionSpec::Number(1), true).unwrap_err().code(), 40407);
    assert_eq!(write(&mut c, &mut log, |c| c.delete_version("s", VersionSpec::Number(1), false)).unwrap(), 1);
    assert_eq!(c.delete_version("s", VersionSpec::Number(1), false).unwrap_err().code(), 40406);
    assert_eq!(c.versions("s", false).unwrap(), vec![2]);
    assert_eq!(c.versions("s", true).unwrap(), vec![1, 2]);
    assert!(c.version("s", VersionSpec::Number(1), true).unwrap().deleted);
    // the id stays readable while a soft-deleted version holds it
    assert!(c.schema_by_id(1).is_ok());
    assert_eq!(write(&mut c, &mut log, |c| c.delete_version("s", VersionSpec::Number(1), true)).unwrap(), 1);
    assert_eq!(c.schema_by_id(1).unwrap_err().code(), 40403);
    // subject: soft, then permanent; permanent before soft is refused
    assert_eq!(c.delete_subject("s", true).unwrap_err().code(), 40405);
    assert_eq!(write(&mut c, &mut log, |c| c.delete_subject("s", false)).unwrap(), vec![2]);
    assert_eq!(c.delete_subject("s", false).unwrap_err().code(), 40404);
    assert!(c.subjects(false, "").is_empty());
    assert_eq!(c.subjects(true, ""), vec!["s".to_string()]);
    // re-registering a soft-deleted schema makes a new version with the same id
    let back = write(&mut c, &mut log, |c| c.register("s", &proto(V2_ADD))).unwrap();
    assert_eq!(back, Registered { id: 2, version: 3 });
    write(&mut c, &mut log, |c| c.delete_subject("s", false)).unwrap();
    assert_eq!(write(&mut c, &mut log, |c| c.delete_subject("s", true)).unwrap(), vec![2, 3]);
    assert_eq!(c.delete_subject("s", false).unwrap_err().code(), 40401);
    let r = replay(&log);
    assert!(r.subjects(true, "").is_empty());
    assert_eq!(r.schema_by_id(2).unwrap_err().code(), 40403);
}

#[test]
fn references_resolve_and_protect_their_targets() {
    let (mut c, mut log) = (Core::new(CompatibilityLevel::Backward), Vec::new());
    let dep = "syntax = \"proto3\"; package common; message Money { int64 cents = 1; }";
    write(&mut c, &mut log, |c| c.register("common/money.proto", &proto(dep))).unwrap();
    let main =
        "syntax = \"proto3\"; package shop; import \"common/money.proto\"; import \"google/protobuf/timestamp.proto\";
                message Order { common.Money total = 1; google.protobuf.Timestamp at = 2; }";
    let refs =
        vec![SchemaReference { name: "common/money.proto".into(), subject: "common/money.proto".into(), version: 1 }];
    let input = SchemaInput { references: refs.clone(), ..proto(main) };
    let r = write(&mut c, &mut log, |c| c.register("orders-value", &input)).unwrap();
    assert_eq!(r.id, 2);
    assert_eq!(c.referenced_by("common/money.proto", 1, false), vec![2]);
    assert_eq!(c.delete_version("common/money.proto", VersionSpec::Number(1), false).unwrap_err().code(), 42206);
    // a missing import is a 42201 naming the fix
    let e = c.register("x", &proto(main)).unwrap_err();
    assert_eq!(e.code(), 42201);
    assert!(e.to_string().contains("references"), "{e}");
    // a reference to a version that does not exist
    let bad = SchemaInput {
        references: vec![SchemaReference {
            name: "common/money.proto".into(),
            subject: "common/money.proto".into(),
            version: 7,
        }],
        ..proto(main)
    };
    assert_eq!(c.register("x", &bad).unwrap_err().code(), 42201);
    // the stored text is canonical and compiles again with its references
    let stored = c.schema_by_id(2).unwrap();
    assert!(stored.schema.contains(".common.Money total = 1;"), "{}", stored.schema);
    assert!(c.parse_stored(&stored).is_ok());
}

#[test]
fn modes_and_import() {
    let (mut c, mut log) = (Core::new(CompatibilityLevel::Backward), Vec::new());
    write(&mut c, &mut log, |c| c.set_mode(None, Mode::Readonly, false).map(|r| ((), r))).unwrap();
    assert_eq!(c.register("s", &proto(V1)).unwrap_err().code(), 42205);
    write(&mut c, &mut log, |c| c.set_mode(None, Mode::Import, false).map(|r| ((), r))).unwrap();
    let imported = SchemaInput { id: Some(42), version: Some(5), ..proto(V1) };
    let r = write(&mut c, &mut log, |c| c.register("s", &imported)).unwrap();
    assert_eq!(r, Registered { id: 42, version: 5 });
    // an id holding another schema is not overwritten
    let clash = SchemaInput { id: Some(42), version: Some(6), ..proto(V2_BREAK) };
    assert_eq!(c.register("s", &clash).unwrap_err().code(), 42205);
    // IMPORT over existing subjects needs force
    write(&mut c, &mut log, |c| c.set_mode(None, Mode::Readwrite, false).map(|r| ((), r))).unwrap();
    assert_eq!(c.set_mode(None, Mode::Import, false).unwrap_err().code(), 42205);
    assert!(c.set_mode(None, Mode::Import, true).is_ok());
    // outside IMPORT an explicit id is refused
    assert_eq!(c.register("t", &SchemaInput { id: Some(7), ..proto(V1) }).unwrap_err().code(), 42205);
    // new ids continue past imported ones
    let n = write(&mut c, &mut log, |c| c.register("t", &proto(V2_ADD))).unwrap();
    assert_eq!(n.id, 43);
}

#[test]
fn json_schema_compatibility_is_refused_clearly_and_avro_is_checked() {
    let (mut c, mut log) = (Core::new(CompatibilityLevel::Backward), Vec::new());
    let json = |s: &str| SchemaInput { schema_type: SchemaType::Json, ..proto(s) };
    write(&mut c, &mut log, |c| c.register("j", &json(r#"{"type":"object"}"#))).unwrap();
    let e = c.register("j", &json(r#"{"type":"object","properties":{"a":{"type":"string"}}}"#)).unwrap_err();
    assert_eq!((e.code(), e.status()), (42203, 422));
    assert!(e.to_string().contains("PUT /config/{subject}"), "{e}");
    let avro = |s: &str| SchemaInput { schema_type: SchemaType::Avro, ..proto(s) };
    let v1 = r#"{"type":"record","name":"U","fields":[{"name":"id","type":"string"}]}"#;
    write(&mut c, &mut log, |c| c.register("a", &avro(v1))).unwrap();
    let no_default =
        r#"{"type":"record","name":"U","fields":[{"name":"id","type":"string"},{"name":"n","type":"int"}]}"#;
    let e = c.register("a", &avro(no_default)).unwrap_err();
    assert!(e.to_string().contains("READER_FIELD_MISSING_DEFAULT_VALUE"), "{e}");
    let with_default = r#"{"type":"record","name":"U","fields":[{"name":"id","type":"string"},{"name":"n","type":"int","default":0}]}"#;
    assert!(c.register("a", &avro(with_default)).is_ok());
    assert_eq!(c.register("a", &avro(r#"{"type":"recrd"}"#)).unwrap_err().code(), 42201);
}
