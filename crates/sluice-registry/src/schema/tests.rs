use super::*;

fn canonical(text: &str, deps: &[Dependency]) -> String {
    parse(SchemaType::Protobuf, text, deps).unwrap().1
}

#[test]
fn text_and_descriptor_give_the_same_canonical_text() {
    let text = r#"
        syntax = "proto3";
        package shop;
        import "google/protobuf/timestamp.proto";
        option java_package = "com.example.shop";
        message Order {
          string id = 1;
          repeated Line lines = 2;
          map<string, int64> tags = 3;
          optional int32 priority = 4;
          oneof payment { string card = 5; string iban = 6; }
          google.protobuf.Timestamp at = 7 [deprecated = true];
          Status status = 8;
          reserved 20 to 25, 30;
          reserved "old";
          message Line { string sku = 1; int32 qty = 2 [json_name = "quantity"]; }
          enum Status { NEW = 0; PAID = 1; }
        }
        enum Kind { option allow_alias = true; A = 0; B = 0; }
        service Shop { rpc Place(Order) returns (stream Order); }
    "#;
    let c = canonical(text, &[]);
    // idempotent: the canonical text compiles to itself
    assert_eq!(canonical(&c, &[]), c);
    // the same file sent as base64 FileDescriptorProto (as the Python serializer does)
    let compiled = compile_proto(text, &[]).unwrap();
    let b64 = compiled.serialized("order.proto");
    assert_eq!(canonical(&b64, &[]), c);
    let expected = r#"syntax = "proto3";
package shop;

import "google/protobuf/timestamp.proto";

option java_package = "com.example.shop";

message Order {
  string id = 1;
  repeated .shop.Order.Line lines = 2;
  map<string, int64> tags = 3;
  optional int32 priority = 4;
  oneof payment {
    string card = 5;
    string iban = 6;
  }
  .google.protobuf.Timestamp at = 7 [deprecated = true];
  .shop.Order.Status status = 8;
  reserved 20 to 25, 30;
  reserved "old";
  message Line {
    string sku = 1;
    int32 qty = 2 [json_name = "quantity"];
  }
  enum Status {
    NEW = 0;
    PAID = 1;
  }
}

enum Kind {
  option allow_alias = true;
  A = 0;
  B = 0;
}

service Shop {
  rpc Place(.shop.Order) returns (stream .shop.Order);
}
"#;
    assert_eq!(c, expected);
}

#[test]
fn proto2_labels_defaults_and_extensions_survive() {
    let text = r#"
        syntax = "proto2";
        message A {
          required string name = 1;
          optional int32 n = 2 [default = 7];
          optional string s = 3 [default = "a\"b"];
          repeated int32 packed = 4 [packed = true];
          extensions 100 to max;
        }
        extend A { optional int32 extra = 100; }
    "#;
    let c = canonical(text, &[]);
    assert_eq!(canonical(&c, &[]), c);
    for want in [
        "required string name = 1;",
        "optional int32 n = 2 [default = 7];",
        r#"optional string s = 3 [default = "a\"b"];"#,
        "repeated int32 packed = 4 [packed = true];",
        "extensions 100 to max;",
        "extend .A {",
    ] {
        assert!(c.contains(want), "{want} missing from:\n{c}");
    }
}

#[test]
fn references_compile_by_import_name() {
    let dep = Dependency {
        reference: SchemaReference { name: "money.proto".into(), subject: "money".into(), version: 3 },
        schema_type: SchemaType::Protobuf,
        text: "syntax = \"proto3\"; package m; message Money { int64 cents = 1; }".into(),
    };
    let (parsed, c) = parse(
        SchemaType::Protobuf,
        "syntax = \"proto3\"; import \"money.proto\"; message P { m.Money price = 1; }",
        std::slice::from_ref(&dep),
    )
    .unwrap();
    assert!(c.contains("import \"money.proto\";") && c.contains(".m.Money price = 1;"), "{c}");
    let Parsed::Protobuf(p) = parsed else { panic!("protobuf expected") };
    assert_eq!(p.file_refs.get("money.proto"), Some(&("money".to_string(), 3)));
    // without the reference: a clear error naming the import and the fix
    let e = parse(
        SchemaType::Protobuf,
        "syntax = \"proto3\"; import \"money.proto\"; message P { m.Money price = 1; }",
        &[],
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("money.proto") && text.contains("references"), "{text}");
    assert!(!text.contains(MAIN_FILE), "{text}");
}

#[test]
fn invalid_schemas_are_errors() {
    for (t, text) in [
        (SchemaType::Protobuf, "message A { int32 x = ; }"),
        (SchemaType::Protobuf, "syntax = \"proto3\"; message A { Unknown x = 1; }"),
        (SchemaType::Avro, "{not json"),
        (SchemaType::Avro, r#"{"type":"record","fields":[]}"#),
        (SchemaType::Avro, r#"{"type":"record","name":"R","fields":[{"name":"a","type":"Missing"}]}"#),
        (SchemaType::Avro, r#"{"type":"enum","name":"E"}"#),
        (SchemaType::Json, "[1,2]"),
    ] {
        let e = parse(t, text, &[]).unwrap_err();
        assert!(e.to_string().starts_with("Invalid schema:"), "{t} {text}: {e}");
    }
    let (_, c) = parse(SchemaType::Avro, r#"{ "type": "record", "name": "R", "namespace": "n", "fields": [ {"name":"a","type":"int"}, {"name":"b","type":"R"} ] }"#, &[]).unwrap();
    assert_eq!(
        c,
        r#"{"type":"record","name":"R","namespace":"n","fields":[{"name":"a","type":"int"},{"name":"b","type":"R"}]}"#
    );
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    fn valid_descriptor() -> Vec<u8> {
        let text = "syntax = \"proto3\"; package p; import \"google/protobuf/timestamp.proto\";
            message A { string s = 1; map<string, B> m = 2; oneof o { int32 x = 3; B b = 4; } google.protobuf.Timestamp t = 5; }
            message B { repeated A a = 1; enum E { Z = 0; O = 1; } E e = 2; }";
        let p = compile_proto(text, &[]).unwrap();
        let mut fd = p.main();
        fd.name = Some("x.proto".into());
        fd.encode_to_vec()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Damaged descriptors (as a client could send them) are errors, never panics.
        #[test]
        fn mutated_descriptors_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
            let mut bytes = valid_descriptor();
            for (at, b) in flips {
                let i = at % bytes.len();
                bytes[i] = b;
            }
            let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
            let _ = parse(SchemaType::Protobuf, &b64, &[]);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[a-z0-9 ;={}<>\\.\"\n]{0,80}") {
            let _ = parse(SchemaType::Protobuf, &format!("syntax = \"proto3\"; {text}"), &[]);
            let _ = parse(SchemaType::Avro, &text, &[]);
            let _ = parse(SchemaType::Json, &text, &[]);
        }
    }
}
