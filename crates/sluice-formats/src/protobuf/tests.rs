use super::*;
use crate::row::{Kind, Row, Value};
use proptest::prelude::*;
use prost_reflect::{MapKey, Value as PV};

const ALL_TYPES: &str = r#"
syntax = "proto3";
package t;
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
enum Color { RED = 0; GREEN = 1; BLUE = 7; }
message Inner { string s = 1; int32 i = 2; }
message All {
  double d = 1; float f = 2; int32 i32 = 3; int64 i64 = 4; uint32 u32 = 5; uint64 u64 = 6;
  sint32 s32 = 7; sint64 s64 = 8; fixed32 fx32 = 9; fixed64 fx64 = 10; sfixed32 sf32 = 11;
  sfixed64 sf64 = 12; bool b = 13; string s = 14; bytes by = 15; Color color = 16;
  google.protobuf.Timestamp ts = 17; google.protobuf.StringValue ws = 18;
  optional int32 opt = 19; repeated int32 list = 20; map<string, int64> m = 21; Inner inner = 22;
  oneof choice { string a = 23; int32 bnum = 24; }
  int32 big = 2000;
}
"#;

fn all_types() -> ProtoSchema {
    ProtoSchema::compile_source("all.proto", ALL_TYPES).unwrap()
}

fn user_event() -> MessageDescriptor {
    ProtoSchema::compile_source("user_event.proto", crate::seeds::USER_EVENT_PROTO)
        .unwrap()
        .message(crate::seeds::USER_EVENT)
        .unwrap()
}

#[test]
fn seed_protos_compile_and_the_committed_desc_matches() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
    let from_source = ProtoSchema::load(&dir.join("user_event.proto")).unwrap();
    let from_desc = ProtoSchema::load(&dir.join("user_event.desc")).unwrap();
    for s in [&from_source, &from_desc] {
        let m = s.message("protobuf.UserEvent").unwrap();
        let names: Vec<String> = m.fields().map(|f| f.name().to_string()).collect();
        assert_eq!(names, ["userId", "action", "value"]);
    }
    assert_eq!(from_source.descriptor_set_bytes(), crate::seeds::USER_EVENT_DESC, "regenerate user_event.desc");
    let my = ProtoSchema::load(&dir.join("my_event.proto")).unwrap();
    let dec = RowDecoder::new(&my.message("numbers.MyEvent").unwrap()).unwrap();
    let kinds: Vec<(&str, Kind)> = dec.schema().fields.iter().map(|f| (f.name.as_str(), f.kind)).collect();
    assert_eq!(kinds, [("number", Kind::Int), ("created_at", Kind::Timestamp)]);
}

#[test]
fn message_lookup_by_full_or_bare_name_and_helpful_miss() {
    let s = all_types();
    assert_eq!(s.message("t.All").unwrap().full_name(), "t.All");
    assert_eq!(s.message(".t.Inner").unwrap().full_name(), "t.Inner");
    assert_eq!(s.message("Inner").unwrap().full_name(), "t.Inner");
    let e = s.message("t.Nope").unwrap_err().to_string();
    assert_eq!(e, r#"no message named "t.Nope" in the schema; it has: t.Inner, t.All"#);
}

#[test]
fn compile_errors_name_the_file_and_line() {
    let e = ProtoSchema::compile_source("bad.proto", "syntax = \"proto3\";\nmessage A { strin x = 1; }").unwrap_err();
    let text = e.to_string();
    assert!(text.starts_with("cannot compile bad.proto:"), "{text}");
    let e = ProtoSchema::compile_source("imp.proto", "syntax = \"proto3\"; import \"missing.proto\";").unwrap_err();
    assert!(e.to_string().contains("missing.proto"), "{e}");
    let e = ProtoSchema::from_descriptor_set(b"\xff\xff", "x.desc").unwrap_err();
    assert!(e.to_string().contains("sluice schemas compile"), "{e}");
    let e = ProtoSchema::load(std::path::Path::new("/nonexistent/x.desc")).unwrap_err();
    assert!(e.to_string().starts_with("cannot read /nonexistent/x.desc"), "{e}");
}

#[test]
fn descriptor_set_without_well_known_imports_still_loads() {
    let s = ProtoSchema::compile_source("my_event.proto", crate::seeds::MY_EVENT_PROTO).unwrap();
    // keep only the root file: the Timestamp import is supplied by the loader
    let only_root = FileDescriptorSet {
        file: s.pool().file_descriptor_protos().filter(|f| f.name() == "my_event.proto").cloned().collect(),
    };
    let loaded = ProtoSchema::from_descriptor_set(&only_root.encode_to_vec(), "mine.desc").unwrap();
    assert!(loaded.message("numbers.MyEvent").is_ok());
}

/// The exact bytes any protobuf writer produces for UserEvent("user3", "purchase", 221.45).
const USER3: &[u8] = b"\x0a\x05user3\x12\x08purchase\x19\x66\x66\x66\x66\x66\xae\x6b\x40";

#[test]
fn decodes_golden_user_event() {
    let dec = RowDecoder::new(&user_event()).unwrap();
    let row = dec.decode(USER3).unwrap();
    assert_eq!(row.values, vec![Value::from("user3"), Value::from("purchase"), Value::Float(221.45)]);
    // an empty message is all zero values (proto3 defaults)
    assert_eq!(dec.decode(b"").unwrap().values, vec![Value::from(""), Value::from(""), Value::Float(0.0)]);
    // unknown fields are skipped
    let mut with_unknown = USER3.to_vec();
    with_unknown.extend_from_slice(b"\x20\x96\x01\x2a\x02hi\x35\x01\x02\x03\x04\x39\x01\x02\x03\x04\x05\x06\x07\x08");
    assert_eq!(dec.decode(&with_unknown).unwrap(), row);
    // a reused row: fields absent from the next message go back to their defaults
    let mut reused = Row::default();
    dec.decode_into(USER3, &mut reused).unwrap();
    assert_eq!(reused, row);
    dec.decode_into(b"\x12\x04view", &mut reused).unwrap();
    assert_eq!(reused.values, vec![Value::from(""), Value::from("view"), Value::Float(0.0)]);
    // string cells are rewritten in place: longer than inline (heap), then short again
    let long = "a user id longer than twenty-four bytes";
    let mut msg = vec![0x0a, long.len() as u8];
    msg.extend_from_slice(long.as_bytes());
    dec.decode_into(&msg, &mut reused).unwrap();
    assert_eq!(reused.values, vec![Value::from(long), Value::from(""), Value::Float(0.0)]);
    dec.decode_into(USER3, &mut reused).unwrap();
    assert_eq!(reused, row);
    // encoder writes the same bytes
    assert_eq!(RowEncoder::new(&user_event()).unwrap().encode_to_vec(&row).unwrap(), USER3);
}

#[test]
fn bad_bytes_give_errors_naming_the_problem() {
    let dec = RowDecoder::new(&user_event()).unwrap();
    let cases: [(&[u8], &str); 6] = [
        (b"\x0a\x09user3", "length 9 runs past the end"),
        (b"\x19\x00\x00", "8-byte value runs past the end"),
        (b"\x08\x01", "field 1 has wire type 0 but the schema says 2"),
        (b"\x0a\x02\xff\xfe", "invalid UTF-8"),
        (b"\x0a", "varint runs past the end"),
        (b"\x07", "field number 0"),
    ];
    for (bytes, want) in cases {
        let e = dec.decode(bytes).unwrap_err().to_string();
        assert!(e.starts_with("invalid protobuf.UserEvent bytes at offset"), "{e}");
        assert!(e.contains(want), "{bytes:?}: {e}");
    }
    let e = dec.decode(b"\x0f").unwrap_err().to_string();
    assert!(e.contains("invalid wire type 7"), "{e}");
    // Fields read through the fast table fail as clearly: a string and a double cut short,
    // a string of invalid UTF-8.
    let e = dec.decode(b"\x12\x05cli").unwrap_err().to_string();
    assert!(e.contains("offset 1") && e.contains("length 5 runs past the end"), "{e}");
    let e = dec.decode(b"\x0a\x01u\x19\x00").unwrap_err().to_string();
    assert!(e.contains("offset 4") && e.contains("8-byte value runs past the end"), "{e}");
    let e = dec.decode(b"\x12\x01\xc3").unwrap_err().to_string();
    assert!(e.contains("field 2 is a string but holds invalid UTF-8"), "{e}");
}

#[test]
fn every_field_kind_becomes_the_documented_column() {
    let s = all_types();
    let m = s.message("t.All").unwrap();
    let dec = RowDecoder::new(&m).unwrap();
    let kinds: Vec<Kind> = dec.schema().fields.iter().map(|f| f.kind).collect();
    use Kind::*;
    assert_eq!(
        kinds,
        [
            Float, Float, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Bool, Str, Bytes, Str, Timestamp, Str, Int,
            Str, Str, Str, Str, Int, Int
        ]
    );
    // defaults: zero values for proto3 scalars, null for presence fields and messages
    let empty = dec.decode(b"").unwrap();
    assert_eq!(empty.get(15), &Value::from("RED"));
    assert_eq!(empty.get(0), &Value::Float(0.0));
    for i in [16, 17, 18, 19, 20, 21, 22, 23] {
        assert!(empty.get(i).is_null(), "column {i} should be null, is {:?}", empty.get(i));
    }

    let mut msg = DynamicMessage::new(m.clone());
    let set = |msg: &mut DynamicMessage, name: &str, v: PV| msg.set_field_by_name(name, v);
    set(&mut msg, "d", PV::F64(-1.5));
    set(&mut msg, "f", PV::F32(0.25));
    set(&mut msg, "i32", PV::I32(-7));
    set(&mut msg, "i64", PV::I64(i64::MIN));
    set(&mut msg, "u32", PV::U32(u32::MAX));
    set(&mut msg, "u64", PV::U64(42));
    set(&mut msg, "s32", PV::I32(-3));
    set(&mut msg, "s64", PV::I64(-300_000_000_000));
    set(&mut msg, "fx32", PV::U32(9));
    set(&mut msg, "fx64", PV::U64(10));
    set(&mut msg, "sf32", PV::I32(-11));
    set(&mut msg, "sf64", PV::I64(-12));
    set(&mut msg, "b", PV::Bool(true));
    set(&mut msg, "s", PV::String("héllo".into()));
    set(&mut msg, "by", PV::Bytes(vec![0u8, 1, 2].into()));
    set(&mut msg, "color", PV::EnumNumber(7));
    let mut ts = DynamicMessage::new(s.message("google.protobuf.Timestamp").unwrap());
    ts.set_field_by_name("seconds", PV::I64(1_700_000_000));
    ts.set_field_by_name("nanos", PV::I32(123_456_789));
    set(&mut msg, "ts", PV::Message(ts));
    let mut ws = DynamicMessage::new(s.message("google.protobuf.StringValue").unwrap());
    ws.set_field_by_name("value", PV::String("wrapped".into()));
    set(&mut msg, "ws", PV::Message(ws));
    set(&mut msg, "opt", PV::I32(0));
    set(&mut msg, "list", PV::List(vec![PV::I32(1), PV::I32(-2)]));
    set(&mut msg, "m", PV::Map([(MapKey::String("k".into()), PV::I64(5))].into_iter().collect()));
    let mut inner = DynamicMessage::new(s.message("t.Inner").unwrap());
    inner.set_field_by_name("s", PV::String("in".into()));
    set(&mut msg, "inner", PV::Message(inner));
    set(&mut msg, "bnum", PV::I32(9));
    set(&mut msg, "big", PV::I32(77));
    let bytes = msg.encode_to_vec();

    let row = dec.decode(&bytes).unwrap();
    let want = Row::new(vec![
        Value::Float(-1.5),
        Value::Float(0.25),
        Value::Int(-7),
        Value::Int(i64::MIN),
        Value::Int(u32::MAX.into()),
        Value::Int(42),
        Value::Int(-3),
        Value::Int(-300_000_000_000),
        Value::Int(9),
        Value::Int(10),
        Value::Int(-11),
        Value::Int(-12),
        Value::Bool(true),
        Value::from("héllo"),
        Value::Bytes(vec![0u8, 1, 2].into()),
        Value::from("BLUE"),
        Value::Timestamp(1_700_000_000_123),
        Value::from("wrapped"),
        Value::Int(0),
        Value::from("[1,-2]"),
        Value::from(r#"{"k":"5"}"#),
        Value::from(r#"{"s":"in","i":0}"#),
        Value::Null,
        Value::Int(9),
        Value::Int(77),
    ]);
    assert_eq!(row, want);

    // and back: the encoder's bytes decode (with prost-reflect, independently) to the same message
    let enc = RowEncoder::new(&m).unwrap();
    let again = DynamicMessage::decode(m.clone(), enc.encode_to_vec(&row).unwrap().as_slice()).unwrap();
    let mut expected = msg.clone();
    // Timestamp keeps milliseconds only
    let mut ts_ms = DynamicMessage::new(s.message("google.protobuf.Timestamp").unwrap());
    ts_ms.set_field_by_name("seconds", PV::I64(1_700_000_000));
    ts_ms.set_field_by_name("nanos", PV::I32(123_000_000));
    expected.set_field_by_name("ts", PV::Message(ts_ms));
    // the nested message's JSON spelled out its zero field; that is the same message
    assert_eq!(again, expected);
}

#[test]
fn absent_and_empty_fields_decode_to_their_defaults() {
    let s = all_types();
    let dec = RowDecoder::new(&s.message("t.All").unwrap()).unwrap();
    // Nothing at all; then only `list` (field 20), present but packed empty: still its default.
    for bytes in [&b""[..], &b"\xa2\x01\x00"[..]] {
        let fresh = dec.decode(bytes).unwrap();
        let mut reused = Row::default();
        dec.decode_into(bytes, &mut reused).unwrap();
        assert_eq!(fresh, reused, "{bytes:?}");
        assert_eq!(
            (fresh.get(2), fresh.get(13), fresh.get(12)),
            (&Value::Int(0), &Value::from(""), &Value::Bool(false))
        );
        // An absent or empty repeated field is null, as in the template.
        assert_eq!(fresh.get(19), &Value::Null, "{bytes:?}");
    }
}

#[test]
fn wide_messages_reset_absent_fields_too() {
    let fields: String = (1..=70).map(|i| format!("int32 f{i} = {i}; ")).collect();
    let s =
        ProtoSchema::compile_source("wide.proto", &format!("syntax = \"proto3\"; message W {{ {fields} }}")).unwrap();
    let dec = RowDecoder::new(&s.message("W").unwrap()).unwrap();
    let mut row = Row::default();
    // field 70 = 5 and field 3 = 7
    dec.decode_into(b"\xb0\x04\x05\x18\x07", &mut row).unwrap();
    assert_eq!((row.get(69), row.get(2), row.get(0)), (&Value::Int(5), &Value::Int(7), &Value::Int(0)));
    dec.decode_into(b"", &mut row).unwrap();
    assert!(row.values.iter().all(|v| *v == Value::Int(0)) && row.values.len() == 70);
}

#[test]
fn uint64_beyond_i64_is_an_error_not_a_wrap() {
    let s = all_types();
    let m = s.message("t.All").unwrap();
    let mut msg = DynamicMessage::new(m.clone());
    msg.set_field_by_name("u64", PV::U64(u64::MAX));
    let e = RowDecoder::new(&m).unwrap().decode(&msg.encode_to_vec()).unwrap_err();
    assert!(e.to_string().contains("beyond the row's 64-bit signed integers"), "{e}");
}

#[test]
fn encoder_rejects_rows_that_do_not_fit() {
    let enc = RowEncoder::new(&user_event()).unwrap();
    let e = enc.encode_to_vec(&Row::new(vec![Value::Int(3)])).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"cannot encode row as protobuf.UserEvent: column "userId" (field 1) holds Int(3): expected text for a string field"#
    );
    assert!(enc.encode_to_vec(&Row::new(vec![Value::Null; 4])).is_err());
    // ints widen into a double field; a short row is padded with nulls
    let bytes = enc.encode_to_vec(&Row::new(vec![Value::from("u"), Value::Null, Value::Int(2)])).unwrap();
    let back = RowDecoder::new(&user_event()).unwrap().decode(&bytes).unwrap();
    assert_eq!(back.values, vec![Value::from("u"), Value::from(""), Value::Float(2.0)]);
    let all = all_types();
    let enc = RowEncoder::new(&all.message("t.All").unwrap()).unwrap();
    let mut row = Row::new(vec![Value::Null; 25]);
    row.values[15] = Value::from("PURPLE");
    let e = enc.encode_to_vec(&row).unwrap_err().to_string();
    assert!(e.contains("known: RED, GREEN, BLUE"), "{e}");
    row.values[15] = Value::Null;
    row.values[2] = Value::Int(1 << 40);
    assert!(enc.encode_to_vec(&row).unwrap_err().to_string().contains("out of range for a int32"));
}

#[test]
fn json_conversions() {
    let m = user_event();
    let bytes = json_to_protobuf(&m, r#"{"userId":"user3","action":"purchase","value":221.45}"#).unwrap();
    assert_eq!(bytes, USER3);
    assert_eq!(protobuf_to_json(&m, USER3).unwrap(), r#"{"userId":"user3","action":"purchase","value":221.45}"#);
    let e = json_to_protobuf(&m, r#"{"userId":5}"#).unwrap_err();
    assert!(e.to_string().starts_with("JSON conversion for protobuf.UserEvent failed"), "{e}");
    assert!(json_to_protobuf(&m, r#"{"userId":"a"} trailing"#).is_err());
}

#[test]
fn message_index_paths() {
    let s = ProtoSchema::compile_source(
        "n.proto",
        "syntax=\"proto3\"; message A {} message B { message C {} message D {} }",
    )
    .unwrap();
    let file = s.pool().get_file_by_name("n.proto").unwrap();
    assert_eq!(message_at(&file, &[0]).unwrap().full_name(), "A");
    assert_eq!(message_at(&file, &[1, 1]).unwrap().full_name(), "B.D");
    assert!(message_at(&file, &[2]).is_none());
    assert!(message_at(&file, &[]).is_none());
    assert_eq!(indexes_of(&s.message("B.D").unwrap()), [1, 1]);
    assert_eq!(indexes_of(&s.message("A").unwrap()), [0]);
}

proptest! {
    #[test]
    fn user_events_round_trip_through_both_codecs(user in ".{0,40}", action in "[a-z]{0,12}", value in any::<f64>().prop_filter("nan", |v| !v.is_nan())) {
        let m = user_event();
        let mut msg = DynamicMessage::new(m.clone());
        msg.set_field_by_name("userId", PV::String(user.clone()));
        msg.set_field_by_name("action", PV::String(action.clone()));
        msg.set_field_by_name("value", PV::F64(value));
        let bytes = msg.encode_to_vec();
        let row = RowDecoder::new(&m).unwrap().decode(&bytes).unwrap();
        prop_assert_eq!(&row.values, &vec![Value::from(user.as_str()), Value::from(action.as_str()), Value::Float(value)]);
        let ours = RowEncoder::new(&m).unwrap().encode_to_vec(&row).unwrap();
        prop_assert_eq!(ours, bytes);
    }

    #[test]
    fn encoder_scalar_fast_path_agrees_with_prost_reflect(
        d in any::<f64>().prop_filter("nan", |v| !v.is_nan()),
        i32v in any::<i32>(),
        i64v in any::<i64>(),
        text in ".{0,20}",
        opt in proptest::option::of(any::<i32>()),
        big in any::<i32>(),
        too_big in (i64::from(i32::MAX) + 1)..i64::MAX,
    ) {
        let s = all_types();
        let m = s.message("t.All").unwrap();
        let enc = RowEncoder::new(&m).unwrap();
        let mut cells = vec![Value::Null; 25];
        cells[0] = Value::Float(d);
        cells[2] = Value::Int(i64::from(i32v));
        cells[3] = Value::Int(i64v);
        cells[13] = Value::from(text.as_str());
        cells[18] = opt.map_or(Value::Null, |o| Value::Int(i64::from(o)));
        cells[24] = Value::Int(i64::from(big));
        let ours = DynamicMessage::decode(m.clone(), enc.encode_to_vec(&Row::new(cells.clone())).unwrap().as_slice()).unwrap();
        let mut want = DynamicMessage::new(m.clone());
        want.set_field_by_name("d", PV::F64(d));
        want.set_field_by_name("i32", PV::I32(i32v));
        want.set_field_by_name("i64", PV::I64(i64v));
        want.set_field_by_name("s", PV::String(text.clone()));
        if let Some(o) = opt {
            want.set_field_by_name("opt", PV::I32(o));
        }
        want.set_field_by_name("big", PV::I32(big));
        // field by field: absent proto3 scalars read as their zero value, as in `want`
        for f in ["d", "i32", "i64", "s", "opt", "big"] {
            prop_assert_eq!(ours.get_field_by_name(f), want.get_field_by_name(f), "field {}", f);
        }
        // `optional` keeps an explicit 0; absent stays absent
        prop_assert_eq!(ours.has_field_by_name("opt"), opt.is_some());
        // an int32 column out of range is refused, naming the column
        cells[2] = Value::Int(too_big);
        let err = enc.encode_to_vec(&Row::new(cells)).unwrap_err().to_string();
        prop_assert!(err.contains("\"i32\"") && err.contains("out of range"), "{}", err);
    }

    #[test]
    fn decoder_fast_path_agrees_with_prost_reflect(
        a in (any::<f64>().prop_filter("nan", |v| !v.is_nan()), any::<f32>().prop_filter("nan", |v| !v.is_nan()),
              any::<i32>(), any::<i64>(), any::<u32>(), any::<bool>(), ".{0,30}", any::<i32>()),
        b in (any::<i32>(), any::<bool>(), "[a-z]{0,20}"),
        twice in any::<bool>(),
    ) {
        // Fields 1-15 of the common scalar kinds take the decoder's fast path, the others (s32
        // here) the general one; a second message appended to the first overrides its fields
        // (the last value of a scalar field wins), as prost-reflect merges them.
        let m = all_types().message("t.All").unwrap();
        let mut first = DynamicMessage::new(m.clone());
        first.set_field_by_name("d", PV::F64(a.0));
        first.set_field_by_name("f", PV::F32(a.1));
        first.set_field_by_name("i32", PV::I32(a.2));
        first.set_field_by_name("i64", PV::I64(a.3));
        first.set_field_by_name("u32", PV::U32(a.4));
        first.set_field_by_name("b", PV::Bool(a.5));
        first.set_field_by_name("s", PV::String(a.6.clone()));
        first.set_field_by_name("s32", PV::I32(a.7));
        let mut bytes = first.encode_to_vec();
        if twice {
            let mut second = DynamicMessage::new(m.clone());
            second.set_field_by_name("i32", PV::I32(b.0));
            second.set_field_by_name("b", PV::Bool(b.1));
            second.set_field_by_name("s", PV::String(b.2.clone()));
            bytes.extend(second.encode_to_vec());
        }
        let want = DynamicMessage::decode(m.clone(), bytes.as_slice()).unwrap();
        let row = RowDecoder::new(&m).unwrap().decode(&bytes).unwrap();
        for (col, name) in [(0, "d"), (1, "f"), (2, "i32"), (3, "i64"), (4, "u32"), (6, "s32"), (12, "b"), (13, "s")] {
            let cell = match &*want.get_field_by_name(name).unwrap() {
                PV::F64(x) => Value::Float(*x),
                PV::F32(x) => Value::Float(f64::from(*x)),
                PV::I32(x) => Value::Int(i64::from(*x)),
                PV::I64(x) => Value::Int(*x),
                PV::U32(x) => Value::Int(i64::from(*x)),
                PV::Bool(x) => Value::Bool(*x),
                PV::String(x) => Value::from(x.as_str()),
                other => panic!("unexpected {other:?}"),
            };
            prop_assert_eq!(&row.values[col], &cell, "field {}", name);
        }
    }

    #[test]
    fn damaged_descriptor_sets_are_errors(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut bytes = all_types().descriptor_set_bytes();
        for (at, b) in flips {
            let i = at % bytes.len();
            bytes[i] = b;
        }
        let _ = ProtoSchema::from_descriptor_set(&bytes, "damaged.desc");
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let s = all_types();
        let dec = RowDecoder::new(&s.message("t.All").unwrap()).unwrap();
        let _ = dec.decode(&bytes);
    }
}
