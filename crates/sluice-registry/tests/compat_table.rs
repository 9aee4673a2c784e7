//! One case per protobuf compatibility rule, with the differences Confluent's checker reports
//! for the same pair of schemas (its `protobuf.diff` rules), then the levels.

use sluice_registry::compat::protobuf::compare;
use sluice_registry::compat::{Previous, check};
use sluice_registry::schema::{CompiledProto, Dependency, Parsed, compile_proto};
use sluice_registry::types::{CompatibilityLevel, SchemaReference, SchemaType};
use std::collections::BTreeSet;

struct Case {
    what: &'static str,
    original: &'static str,
    update: &'static str,
    /// (import name, subject, version, text) for each side
    original_deps: &'static [(&'static str, &'static str, i32, &'static str)],
    update_deps: &'static [(&'static str, &'static str, i32, &'static str)],
    changes: &'static [&'static str],
    compatible: bool,
}

const HOME_V1: &str =
    "syntax = \"proto3\"; package io.demo; message GoogleHome { int32 deviceID = 1; bool enabled = 2; }";
const HOME_V1_OTHER_PKG: &str =
    "syntax = \"proto3\"; package io.demo2; message GoogleHome { int32 deviceID = 1; bool enabled = 2; }";
const HOME_STRING_ID: &str =
    "syntax = \"proto3\"; package io.demo; message GoogleHome { string deviceID = 1; bool enabled = 2; }";
const OUTER: &str = "syntax = \"proto3\"; package io.demo; message outer { message GoogleHome { int32 deviceID = 1; bool enabled = 2; } }";
const OUTER2_STRING: &str = "syntax = \"proto3\"; package io.demo2; message outer { message GoogleHome { string deviceID = 1; bool enabled = 2; } }";

const CASES: &[Case] = &[
    Case {
        what: "package change",
        original: "syntax = \"proto3\"; package foo; message M { string s = 1; .foo.M.S t = 2; message S { string s = 1; } }",
        update: "syntax = \"proto3\"; package bar; message M { string s = 1; .bar.M.S t = 2; message S { string s = 1; } }",
        original_deps: &[],
        update_deps: &[],
        changes: &["PACKAGE_CHANGED #/"],
        compatible: true,
    },
    Case {
        what: "name qualification only",
        original: "syntax = \"proto3\"; package foo; message M { string s = 1; S t = 2; message S { string s = 1; } }",
        update: "syntax = \"proto3\"; package foo; message M { string s = 1; .foo.M.S t = 2; message S { string s = 1; } }",
        original_deps: &[],
        update_deps: &[],
        changes: &[],
        compatible: true,
    },
    Case {
        what: "field added",
        original: "syntax = \"proto3\"; message M { string a = 1; }",
        update: "syntax = \"proto3\"; message M { string a = 1; string b = 2; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_ADDED #/M/2"],
        compatible: true,
    },
    Case {
        what: "required field added",
        original: "syntax = \"proto2\"; message M { optional string a = 1; }",
        update: "syntax = \"proto2\"; message M { optional string a = 1; required string b = 2; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["REQUIRED_FIELD_ADDED #/M/2"],
        compatible: false,
    },
    Case {
        what: "field added to a nested message",
        original: "syntax = \"proto3\"; message W { int32 i = 1; message M { string a = 1; } }",
        update: "syntax = \"proto3\"; message W { int32 i = 1; message M { string a = 1; string b = 2; } }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_ADDED #/W/M/2"],
        compatible: true,
    },
    Case {
        what: "field removed",
        original: "syntax = \"proto3\"; message M { string a = 1; string b = 2; }",
        update: "syntax = \"proto3\"; message M { string a = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_REMOVED #/M/2"],
        compatible: true,
    },
    Case {
        what: "required field removed",
        original: "syntax = \"proto2\"; message M { optional string a = 1; required string b = 2; }",
        update: "syntax = \"proto2\"; message M { optional string a = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["REQUIRED_FIELD_REMOVED #/M/2"],
        compatible: false,
    },
    Case {
        what: "field renumbered",
        original: "syntax = \"proto3\"; message M { string a = 1; }",
        update: "syntax = \"proto3\"; message M { string a = 2; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_REMOVED #/M/1", "FIELD_ADDED #/M/2"],
        compatible: true,
    },
    Case {
        what: "int32 to int64: same wire group",
        original: "syntax = \"proto3\"; message M { string a = 1; int32 n = 2; }",
        update: "syntax = \"proto3\"; message M { string a = 1; int64 n = 2; }",
        original_deps: &[],
        update_deps: &[],
        changes: &[],
        compatible: true,
    },
    Case {
        what: "string to bytes: same wire group",
        original: "syntax = \"proto3\"; message M { string a = 1; string b = 2; }",
        update: "syntax = \"proto3\"; message M { string a = 1; bytes b = 2; }",
        original_deps: &[],
        update_deps: &[],
        changes: &[],
        compatible: true,
    },
    Case {
        what: "int32 to enum: same wire group",
        original: "syntax = \"proto3\"; message M { string a = 1; int32 n = 2; }",
        update: "syntax = \"proto3\"; message M { string a = 1; Status n = 2; } enum Status { ACTIVE = 0; INACTIVE = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["ENUM_ADDED #/Status"],
        compatible: true,
    },
    Case {
        what: "enum to int32",
        original: "syntax = \"proto3\"; message M { string a = 1; Status n = 2; } enum Status { ACTIVE = 0; INACTIVE = 1; }",
        update: "syntax = \"proto3\"; message M { string a = 1; int32 n = 2; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["ENUM_REMOVED #/Status"],
        compatible: true,
    },
    Case {
        what: "scalar to message: kind changed",
        original: "syntax = \"proto3\"; message M { string a = 1; int32 n = 2; }",
        update: "syntax = \"proto3\"; message M { string a = 1; .M.Status n = 2; message Status { string s = 1; } } enum Status { ACTIVE = 0; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_KIND_CHANGED #/M/2", "MESSAGE_ADDED #/M/Status", "ENUM_ADDED #/Status"],
        compatible: false,
    },
    Case {
        what: "message to scalar: kind changed, message removed",
        original: "syntax = \"proto3\"; message M { string a = 1; .M.Status n = 2; message Status { string s = 1; } } enum Status { ACTIVE = 0; }",
        update: "syntax = \"proto3\"; message M { string a = 1; int32 n = 2; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_KIND_CHANGED #/M/2", "MESSAGE_REMOVED #/M/Status", "ENUM_REMOVED #/Status"],
        compatible: false,
    },
    Case {
        what: "enum constant renamed",
        original: "syntax = \"proto3\"; message M { Status n = 2; } enum Status { ACTIVE = 0; INACTIVE = 1; }",
        update: "syntax = \"proto3\"; message M { Status n = 2; } enum Status { ACTIVE = 0; NOT_ACTIVE = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["ENUM_CONST_CHANGED #/Status/1"],
        compatible: true,
    },
    Case {
        what: "enum constants added and removed",
        original: "syntax = \"proto3\"; enum E { A = 0; B = 1; }",
        update: "syntax = \"proto3\"; enum E { A = 0; C = 2; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["ENUM_CONST_REMOVED #/E/1", "ENUM_CONST_ADDED #/E/2"],
        compatible: true,
    },
    Case {
        what: "one field moved into a new oneof",
        original: "syntax = \"proto3\"; message M { string a = 1; string b = 2; }",
        update: "syntax = \"proto3\"; message M { string a = 1; oneof o { string b = 2; int32 c = 3; } }",
        original_deps: &[],
        update_deps: &[],
        changes: &["ONEOF_ADDED #/M/o"],
        compatible: true,
    },
    Case {
        what: "several fields moved into one oneof",
        original: "syntax = \"proto3\"; message M { string a = 1; string b = 2; }",
        update: "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; int32 c = 3; } }",
        original_deps: &[],
        update_deps: &[],
        changes: &["MULTIPLE_FIELDS_MOVED_TO_ONEOF #/M/o", "ONEOF_ADDED #/M/o"],
        compatible: false,
    },
    Case {
        what: "a field moved into an existing oneof",
        original: "syntax = \"proto3\"; message M { string a = 1; oneof o { string b = 2; } }",
        update: "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; } }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_MOVED_TO_EXISTING_ONEOF #/M/o", "ONEOF_FIELD_ADDED #/M/o/1"],
        compatible: false,
    },
    Case {
        what: "field added to a oneof",
        original: "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; } }",
        update: "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; int32 c = 3; } }",
        original_deps: &[],
        update_deps: &[],
        changes: &["ONEOF_FIELD_ADDED #/M/o/3"],
        compatible: true,
    },
    Case {
        what: "field removed from a oneof",
        original: "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; int32 c = 3; } }",
        update: "syntax = \"proto3\"; message M { oneof o { string a = 1; string b = 2; } }",
        original_deps: &[],
        update_deps: &[],
        changes: &["ONEOF_FIELD_REMOVED #/M/o/3"],
        compatible: false,
    },
    Case {
        what: "oneof removed, its fields kept",
        original: "syntax = \"proto3\"; message M { oneof o { string a = 1; } }",
        update: "syntax = \"proto3\"; message M { string a = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["ONEOF_REMOVED #/M/o", "FIELD_ADDED #/M/1"],
        compatible: true,
    },
    Case {
        what: "scalar to message type",
        original: "syntax = \"proto3\"; message M { string a = 1; int32 n = 2; }",
        update: "syntax = \"proto3\"; message M { string a = 1; M2 n = 2; } message M2 { string s = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["MESSAGE_ADDED #/M2", "FIELD_KIND_CHANGED #/M/2"],
        compatible: false,
    },
    Case {
        what: "int32 to string: wire group changed (and renamed)",
        original: "syntax = \"proto3\"; message M { string a = 1; int32 n = 2; }",
        update: "syntax = \"proto3\"; message M { string a = 1; string s = 2; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_NAME_CHANGED #/M/2", "FIELD_SCALAR_KIND_CHANGED #/M/2"],
        compatible: false,
    },
    Case {
        what: "sint32 to int32: signed group differs",
        original: "syntax = \"proto3\"; message M { sint32 n = 1; }",
        update: "syntax = \"proto3\"; message M { int32 n = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_SCALAR_KIND_CHANGED #/M/1"],
        compatible: false,
    },
    Case {
        what: "fixed32 to sfixed32 and float to double",
        original: "syntax = \"proto3\"; message M { fixed32 a = 1; float b = 2; }",
        update: "syntax = \"proto3\"; message M { sfixed32 a = 1; double b = 2; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_SCALAR_KIND_CHANGED #/M/2"],
        compatible: false,
    },
    Case {
        what: "message type renamed",
        original: "syntax = \"proto3\"; message M { string a = 1; M2 n = 2; } message M2 { string s = 1; }",
        update: "syntax = \"proto3\"; message M { string a = 1; M3 n = 2; } message M3 { string s = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["MESSAGE_REMOVED #/M2", "MESSAGE_ADDED #/M3", "FIELD_NAMED_TYPE_CHANGED #/M/2"],
        compatible: false,
    },
    Case {
        what: "map value type changed",
        original: "syntax = \"proto3\"; message M { string a = 1; map<string, int32> m = 2; }",
        update: "syntax = \"proto3\"; message M { string a = 1; map<string, string> m2 = 2; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_NAME_CHANGED #/M/2", "FIELD_SCALAR_KIND_CHANGED #/M/2"],
        compatible: false,
    },
    Case {
        what: "map value name qualification only",
        original: "syntax = \"proto3\"; message M { map<string, S> m = 2; message S { string s = 1; } }",
        update: "syntax = \"proto3\"; message M { map<string, M.S> m = 2; message S { string s = 1; } }",
        original_deps: &[],
        update_deps: &[],
        changes: &[],
        compatible: true,
    },
    Case {
        what: "message field optional to repeated",
        original: "syntax = \"proto3\"; message M { optional S s = 2; message S { string s = 1; } }",
        update: "syntax = \"proto3\"; message M { repeated S s = 2; message S { string s = 1; } }",
        original_deps: &[],
        update_deps: &[],
        changes: &[],
        compatible: true,
    },
    Case {
        what: "string field optional to repeated",
        original: "syntax = \"proto3\"; message M { optional string s = 1; }",
        update: "syntax = \"proto3\"; message M { repeated string s = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_STRING_OR_BYTES_LABEL_CHANGED #/M/1"],
        compatible: true,
    },
    Case {
        what: "bytes field optional to repeated",
        original: "syntax = \"proto3\"; message M { optional bytes b = 1; }",
        update: "syntax = \"proto3\"; message M { repeated bytes b = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_STRING_OR_BYTES_LABEL_CHANGED #/M/1"],
        compatible: true,
    },
    Case {
        what: "number field optional to repeated",
        original: "syntax = \"proto3\"; message M { optional int32 n = 1; }",
        update: "syntax = \"proto3\"; message M { repeated int32 n = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_NUMERIC_LABEL_CHANGED #/M/1"],
        compatible: false,
    },
    Case {
        what: "message added",
        original: "syntax = \"proto3\"; message M { string s = 1; }",
        update: "syntax = \"proto3\"; message M { string s = 1; } message M2 { string s = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["MESSAGE_ADDED #/M2"],
        compatible: true,
    },
    Case {
        what: "message moved after a new one",
        original: "syntax = \"proto3\"; message M { string s = 1; }",
        update: "syntax = \"proto3\"; message M2 { string s = 1; } message M { string s = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["MESSAGE_ADDED #/M2", "MESSAGE_MOVED #/M"],
        compatible: true,
    },
    Case {
        what: "message removed",
        original: "syntax = \"proto3\"; message M { string s = 1; } message Gone { int32 n = 1; }",
        update: "syntax = \"proto3\"; message M { string s = 1; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["MESSAGE_REMOVED #/Gone"],
        compatible: false,
    },
    Case {
        what: "imported type changed incompatibly",
        original: "syntax = \"proto3\"; import \"home.proto\"; message T { .io.demo.GoogleHome h = 1; }",
        update: "syntax = \"proto3\"; import \"home2.proto\"; message T { .io.demo.GoogleHome h = 1; }",
        original_deps: &[("home.proto", "home.proto", 1, HOME_V1)],
        update_deps: &[("home2.proto", "home2.proto", 1, HOME_STRING_ID)],
        changes: &["FIELD_SCALAR_KIND_CHANGED #/GoogleHome/1", "FIELD_NAMED_TYPE_CHANGED #/T/1"],
        compatible: false,
    },
    Case {
        what: "local type moved to an import",
        original: "syntax = \"proto3\"; message T { GoogleHome h = 1; } message GoogleHome { int32 deviceID = 1; bool enabled = 2; }",
        update: "syntax = \"proto3\"; import \"home.proto\"; message T { .io.demo.GoogleHome h = 1; }",
        original_deps: &[],
        update_deps: &[("home.proto", "home.proto", 1, HOME_V1)],
        changes: &["MESSAGE_REMOVED #/GoogleHome"],
        compatible: false,
    },
    Case {
        what: "imported type moved into the schema",
        original: "syntax = \"proto3\"; import \"home.proto\"; message T { .io.demo.GoogleHome h = 1; }",
        update: "syntax = \"proto3\"; message T { GoogleHome h = 1; } message GoogleHome { int32 deviceID = 1; bool enabled = 2; }",
        original_deps: &[("home.proto", "home.proto", 1, HOME_V1)],
        update_deps: &[],
        changes: &["MESSAGE_ADDED #/GoogleHome"],
        compatible: true,
    },
    Case {
        what: "import from another package, same shape",
        original: "syntax = \"proto3\"; import \"home.proto\"; message T { .io.demo.GoogleHome h = 1; }",
        update: "syntax = \"proto3\"; import \"home2.proto\"; message T { .io.demo2.GoogleHome h = 1; }",
        original_deps: &[("home.proto", "home.proto", 1, HOME_V1)],
        update_deps: &[("home2.proto", "home2.proto", 1, HOME_V1_OTHER_PKG)],
        changes: &[],
        compatible: true,
    },
    Case {
        what: "nested imported type, same subject, new version, incompatible",
        original: "syntax = \"proto3\"; import \"home.proto\"; message T { .io.demo.outer.GoogleHome h = 1; }",
        update: "syntax = \"proto3\"; import \"home.proto\"; message T { .io.demo2.outer.GoogleHome h = 1; }",
        original_deps: &[("home.proto", "home.proto", 1, OUTER)],
        update_deps: &[("home.proto", "home.proto", 3, OUTER2_STRING)],
        changes: &["FIELD_SCALAR_KIND_CHANGED #/outer/GoogleHome/1", "FIELD_NAMED_TYPE_CHANGED #/T/1"],
        compatible: false,
    },
    Case {
        what: "recursive message types terminate",
        original: "syntax = \"proto3\"; message Node { string v = 1; repeated Node kids = 2; }",
        update: "syntax = \"proto3\"; message Node { string v = 1; repeated Node kids = 2; int32 depth = 3; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_ADDED #/Node/3"],
        compatible: true,
    },
    Case {
        what: "well-known types compared by content",
        original: "syntax = \"proto3\"; import \"google/protobuf/timestamp.proto\"; message E { google.protobuf.Timestamp at = 1; }",
        update: "syntax = \"proto3\"; import \"google/protobuf/timestamp.proto\"; message E { google.protobuf.Timestamp at = 1; string s = 2; }",
        original_deps: &[],
        update_deps: &[],
        changes: &["FIELD_ADDED #/E/2"],
        compatible: true,
    },
];

fn deps(list: &[(&str, &str, i32, &str)]) -> Vec<Dependency> {
    list.iter()
        .map(|(name, subject, version, text)| Dependency {
            reference: SchemaReference { name: (*name).into(), subject: (*subject).into(), version: *version },
            schema_type: SchemaType::Protobuf,
            text: (*text).into(),
        })
        .collect()
}

fn compiled(text: &str, d: &[(&str, &str, i32, &str)]) -> CompiledProto {
    compile_proto(text, &deps(d)).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn each_protobuf_rule() {
    let mut failures = Vec::new();
    for c in CASES {
        let (o, u) = (compiled(c.original, c.original_deps), compiled(c.update, c.update_deps));
        let diffs = compare(&o, &u);
        let got: BTreeSet<String> = diffs.iter().map(ToString::to_string).collect();
        let want: BTreeSet<String> = c.changes.iter().map(|s| s.to_string()).collect();
        let compatible = diffs.iter().all(|d| d.kind.compatible());
        if got != want || compatible != c.compatible {
            failures.push(format!(
                "{}: got {got:?} (compatible {compatible}), want {want:?} (compatible {})",
                c.what, c.compatible
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}

fn parsed(text: &str) -> Parsed {
    Parsed::Protobuf(compiled(text, &[]))
}

#[test]
fn levels_pick_direction_and_scope() {
    let v1 = parsed("syntax = \"proto3\"; message M { string a = 1; } message Extra { int32 n = 1; }");
    let v2 = parsed("syntax = \"proto3\"; message M { string a = 1; }");
    let v3 = parsed("syntax = \"proto3\"; message M { string a = 1; int64 b = 2; }");
    let prev =
        |list: &[(i32, &Parsed)]| -> Vec<(i32, Parsed)> { list.iter().map(|(v, p)| (*v, (*p).clone())).collect() };
    let run = |level, new: &Parsed, old: &[(i32, Parsed)]| {
        let list: Vec<Previous<'_>> = old.iter().map(|(v, p)| Previous { version: *v, parsed: p, text: "…" }).collect();
        check(level, new, &list).unwrap()
    };
    use CompatibilityLevel::*;
    // v1 → v2 removes a message: backward fails, forward passes (the old schema reads new data)
    let one = prev(&[(1, &v1)]);
    let msgs = run(Backward, &v2, &one);
    assert!(msgs[0].contains("MESSAGE_REMOVED") && msgs.iter().any(|m| m == "{oldSchemaVersion: 1}"), "{msgs:?}");
    assert!(msgs.iter().any(|m| m == "{compatibility: 'BACKWARD'}"), "{msgs:?}");
    assert!(run(Forward, &v2, &one).is_empty());
    assert!(!run(Full, &v2, &one).is_empty());
    assert!(run(None, &v2, &one).is_empty());
    // v3 against [v1, v2]: non-transitive looks at v2 only (passes); transitive also at v1 (fails)
    let both = prev(&[(1, &v1), (2, &v2)]);
    assert!(run(Backward, &v3, &both).is_empty());
    let t = run(BackwardTransitive, &v3, &both);
    assert!(t.iter().any(|m| m == "{oldSchemaVersion: 1}"), "{t:?}");
    assert!(run(ForwardTransitive, &v3, &both).is_empty());
    assert!(!run(FullTransitive, &v3, &both).is_empty());
}
