//! Protobuf schema differences, with Confluent's rules (its `protobuf.diff` package: the same
//! difference types, paths and compatible set).
//!
//! `compare(original, update)` lists what changed from `original` to `update`; the update can read
//! data written with the original (backward) when every difference is in [`COMPATIBLE`].
//! Compatible: adding or removing fields, messages, enums, enum constants and oneofs, renaming
//! fields, changing the package, moving messages, adding a field to a oneof, and changing the
//! label of a string/bytes field. Incompatible: changing a field's kind (scalar / message / map),
//! its scalar wire group (`int32 int64 uint32 uint64 bool enum` | `sint32 sint64` |
//! `string bytes` | `fixed32 sfixed32` | `fixed64 sfixed64` | `float` | `double`), the message
//! type it names, the label of a numeric field, removing a message or a oneof member, moving
//! several existing fields into one oneof (or one into an existing oneof), adding or removing a
//! required field.

use crate::schema::{CompiledProto, MAIN_FILE};
use prost_reflect::{Cardinality, EnumDescriptor, FieldDescriptor, FileDescriptor, Kind, MessageDescriptor, Syntax};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// Kinds of difference, named as Confluent names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum DiffType {
    PackageChanged,
    MessageAdded,
    MessageRemoved,
    MessageMoved,
    EnumAdded,
    EnumRemoved,
    EnumConstAdded,
    EnumConstChanged,
    EnumConstRemoved,
    FieldAdded,
    FieldRemoved,
    FieldNameChanged,
    FieldKindChanged,
    FieldScalarKindChanged,
    FieldNamedTypeChanged,
    FieldNumericLabelChanged,
    FieldStringOrBytesLabelChanged,
    RequiredFieldAdded,
    RequiredFieldRemoved,
    OneofAdded,
    OneofRemoved,
    OneofFieldAdded,
    OneofFieldRemoved,
    MultipleFieldsMovedToOneof,
    FieldMovedToExistingOneof,
}

/// The differences a reader tolerates.
pub const COMPATIBLE: [DiffType; 15] = [
    DiffType::PackageChanged,
    DiffType::MessageAdded,
    DiffType::MessageMoved,
    DiffType::EnumAdded,
    DiffType::EnumRemoved,
    DiffType::EnumConstAdded,
    DiffType::EnumConstChanged,
    DiffType::EnumConstRemoved,
    DiffType::FieldAdded,
    DiffType::FieldRemoved,
    DiffType::FieldNameChanged,
    DiffType::FieldStringOrBytesLabelChanged,
    DiffType::OneofAdded,
    DiffType::OneofRemoved,
    DiffType::OneofFieldAdded,
];

impl DiffType {
    /// Confluent's name (`FIELD_KIND_CHANGED`).
    pub fn name(self) -> &'static str {
        use DiffType::*;
        match self {
            PackageChanged => "PACKAGE_CHANGED",
            MessageAdded => "MESSAGE_ADDED",
            MessageRemoved => "MESSAGE_REMOVED",
            MessageMoved => "MESSAGE_MOVED",
            EnumAdded => "ENUM_ADDED",
            EnumRemoved => "ENUM_REMOVED",
            EnumConstAdded => "ENUM_CONST_ADDED",
            EnumConstChanged => "ENUM_CONST_CHANGED",
            EnumConstRemoved => "ENUM_CONST_REMOVED",
            FieldAdded => "FIELD_ADDED",
            FieldRemoved => "FIELD_REMOVED",
            FieldNameChanged => "FIELD_NAME_CHANGED",
            FieldKindChanged => "FIELD_KIND_CHANGED",
            FieldScalarKindChanged => "FIELD_SCALAR_KIND_CHANGED",
            FieldNamedTypeChanged => "FIELD_NAMED_TYPE_CHANGED",
            FieldNumericLabelChanged => "FIELD_NUMERIC_LABEL_CHANGED",
            FieldStringOrBytesLabelChanged => "FIELD_STRING_OR_BYTES_LABEL_CHANGED",
            RequiredFieldAdded => "REQUIRED_FIELD_ADDED",
            RequiredFieldRemoved => "REQUIRED_FIELD_REMOVED",
            OneofAdded => "ONEOF_ADDED",
            OneofRemoved => "ONEOF_REMOVED",
            OneofFieldAdded => "ONEOF_FIELD_ADDED",
            OneofFieldRemoved => "ONEOF_FIELD_REMOVED",
            MultipleFieldsMovedToOneof => "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
            FieldMovedToExistingOneof => "FIELD_MOVED_TO_EXISTING_ONEOF",
        }
    }

    /// Whether a reader tolerates it.
    pub fn compatible(self) -> bool {
        COMPATIBLE.contains(&self)
    }

    /// What it means, for error messages.
    pub fn describe(self) -> &'static str {
        use DiffType::*;
        match self {
            FieldKindChanged => "the field changed kind (scalar, message or map)",
            FieldScalarKindChanged => "the field's scalar type moved to a wire-incompatible group",
            FieldNamedTypeChanged => "the field names a different or incompatible message type",
            FieldNumericLabelChanged => "a numeric field changed between singular and repeated",
            RequiredFieldAdded => "a required field was added",
            RequiredFieldRemoved => "a required field was removed",
            MessageRemoved => "a message was removed",
            OneofFieldRemoved => "a field was removed from a oneof",
            MultipleFieldsMovedToOneof => "several existing fields were moved into one oneof",
            FieldMovedToExistingOneof => "an existing field was moved into an existing oneof",
            _ => "a compatible change",
        }
    }
}

/// One difference at a path (`#/Message/Nested/3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Difference {
    /// What changed.
    pub kind: DiffType,
    /// Where: `#/` then message names, oneof names and field numbers.
    pub path: String,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.name(), self.path)
    }
}

/// Lists the differences from `original` to `update` (both compiled with their references).
pub fn compare(original: &CompiledProto, update: &CompiledProto) -> Vec<Difference> {
    let (Some(o), Some(u)) = (original.pool.get_file_by_name(MAIN_FILE), update.pool.get_file_by_name(MAIN_FILE))
    else {
        return Vec::new();
    };
    let mut ctx = Ctx { original, update, path: Vec::new(), in_progress: Vec::new(), diffs: Vec::new() };
    if o.package_name() != u.package_name() {
        ctx.add(DiffType::PackageChanged);
    }
    ctx.compare_types(types_of_file(&o), types_of_file(&u));
    ctx.diffs
}

struct Types {
    messages: Vec<MessageDescriptor>,
    enums: Vec<EnumDescriptor>,
}

fn types_of_file(f: &FileDescriptor) -> Types {
    Types { messages: f.messages().filter(|m| !m.is_map_entry()).collect(), enums: f.enums().collect() }
}

fn types_of_message(m: &MessageDescriptor) -> Types {
    Types { messages: m.child_messages().filter(|m| !m.is_map_entry()).collect(), enums: m.child_enums().collect() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Label {
    Optional,
    Required,
    Repeated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FieldType {
    Scalar(&'static str),
    Enum(String),
    Message(String),
    Map(Box<FieldType>, Box<FieldType>),
}

#[derive(Debug, PartialEq, Eq)]
enum TypeKind {
    Scalar,
    Message,
    Map,
}

#[derive(Debug, PartialEq, Eq)]
enum ScalarKind {
    GeneralNumber,
    SignedNumber,
    StringOrBytes,
    Fixed32,
    Fixed64,
    Float,
    Double,
}

fn type_of_kind(kind: Kind) -> FieldType {
    FieldType::Scalar(match kind {
        Kind::Double => "double",
        Kind::Float => "float",
        Kind::Int32 => "int32",
        Kind::Int64 => "int64",
        Kind::Uint32 => "uint32",
        Kind::Uint64 => "uint64",
        Kind::Sint32 => "sint32",
        Kind::Sint64 => "sint64",
        Kind::Fixed32 => "fixed32",
        Kind::Fixed64 => "fixed64",
        Kind::Sfixed32 => "sfixed32",
        Kind::Sfixed64 => "sfixed64",
        Kind::Bool => "bool",
        Kind::String => "string",
        Kind::Bytes => "bytes",
        Kind::Enum(e) => return FieldType::Enum(e.full_name().to_string()),
        Kind::Message(m) => return FieldType::Message(m.full_name().to_string()),
    })
}

fn field_type(f: &FieldDescriptor) -> FieldType {
    if f.is_map()
        && let Kind::Message(entry) = f.kind()
    {
        return FieldType::Map(
            Box::new(type_of_kind(entry.map_entry_key_field().kind())),
            Box::new(type_of_kind(entry.map_entry_value_field().kind())),
        );
    }
    type_of_kind(f.kind())
}

/// The label as written in source: none for proto3 singular fields, oneof members and maps.
fn label(f: &FieldDescriptor) -> Option<Label> {
    if f.is_map() || real_oneof(f).is_some() {
        return None;
    }
    match f.cardinality() {
        Cardinality::Repeated => Some(Label::Repeated),
        Cardinality::Required => Some(Label::Required),
        Cardinality::Optional => {
            let proto3 = f.parent_file().syntax() == Syntax::Proto3;
            if !proto3 || f.field_descriptor_proto().proto3_optional() { Some(Label::Optional) } else { None }
        }
    }
}

fn real_oneof(f: &FieldDescriptor) -> Option<String> {
    f.containing_oneof().filter(|o| !o.is_synthetic()).map(|o| o.name().to_string())
}

fn scalar_kind(t: &FieldType) -> Option<ScalarKind> {
    Some(match t {
        FieldType::Enum(_) => ScalarKind::GeneralNumber,
        FieldType::Scalar(s) => match *s {
            "int32" | "int64" | "uint32" | "uint64" | "bool" => ScalarKind::GeneralNumber,
            "sint32" | "sint64" => ScalarKind::SignedNumber,
            "string" | "bytes" => ScalarKind::StringOrBytes,
            "fixed32" | "sfixed32" => ScalarKind::Fixed32,
            "fixed64" | "sfixed64" => ScalarKind::Fixed64,
            "float" => ScalarKind::Float,
            "double" => ScalarKind::Double,
            _ => return None,
        },
        _ => return None,
    })
}

fn type_kind(t: &FieldType) -> TypeKind {
    match t {
        FieldType::Scalar(_) | FieldType::Enum(_) => TypeKind::Scalar,
        FieldType::Message(_) => TypeKind::Message,
        FieldType::Map(..) => TypeKind::Map,
    }
}

struct Ctx<'a> {
    original: &'a CompiledProto,
    update: &'a CompiledProto,
    path: Vec<String>,
    /// Original messages whose fields are being compared (recursion guard).
    in_progress: Vec<String>,
    diffs: Vec<Difference>,
}

impl<'a> Ctx<'a> {
    fn add(&mut self, kind: DiffType) {
        self.diffs.push(Difference { kind, path: format!("#/{}", self.path.join("/")) });
    }

    fn scoped(&mut self, segment: impl Into<String>, f: impl FnOnce(&mut Self)) {
        self.path.push(segment.into());
        f(self);
        self.path.pop();
    }

    fn compare_types(&mut self, original: Types, update: Types) {
        let index = |ms: &[MessageDescriptor]| -> BTreeMap<String, (usize, MessageDescriptor)> {
            ms.iter().enumerate().map(|(i, m)| (m.name().to_string(), (i, m.clone()))).collect()
        };
        let (om, um) = (index(&original.messages), index(&update.messages));
        let names: BTreeSet<&String> = om.keys().chain(um.keys()).collect();
        for name in names {
            self.scoped(name.clone(), |ctx| match (om.get(name), um.get(name)) {
                (Some(_), None) => ctx.add(DiffType::MessageRemoved),
                (None, Some(_)) => ctx.add(DiffType::MessageAdded),
                (Some((oi, o)), Some((ui, u))) => {
                    ctx.compare_message(o, u);
                    if oi != ui {
                        ctx.add(DiffType::MessageMoved);
                    }
                }
                (None, None) => {}
            });
        }
        let by_name = |es: &[EnumDescriptor]| -> BTreeMap<String, EnumDescriptor> {
            es.iter().map(|e| (e.name().to_string(), e.clone())).collect()
        };
        let (oe, ue) = (by_name(&original.enums), by_name(&update.enums));
        let names: BTreeSet<&String> = oe.keys().chain(ue.keys()).collect();
        for name in names {
            self.scoped(name.clone(), |ctx| match (oe.get(name), ue.get(name)) {
                (Some(_), None) => ctx.add(DiffType::EnumRemoved),
                (None, Some(_)) => ctx.add(DiffType::EnumAdded),
                (Some(o), Some(u)) => ctx.compare_enum(o, u),
                (None, None) => {}
            });
        }
    }

    fn compare_enum(&mut self, o: &EnumDescriptor, u: &EnumDescriptor) {
        let ov: BTreeMap<i32, String> = o.values().map(|v| (v.number(), v.name().to_string())).collect();
        let uv: BTreeMap<i32, String> = u.values().map(|v| (v.number(), v.name().to_string())).collect();
        let tags: BTreeSet<i32> = ov.keys().chain(uv.keys()).copied().collect();
        for tag in tags {
            self.scoped(tag.to_string(), |ctx| match (ov.get(&tag), uv.get(&tag)) {
                (Some(_), None) => ctx.add(DiffType::EnumConstRemoved),
                (None, Some(_)) => ctx.add(DiffType::EnumConstAdded),
                (Some(a), Some(b)) if a != b => ctx.add(DiffType::EnumConstChanged),
                _ => {}
            });
        }
    }

    fn compare_message(&mut self, o: &MessageDescriptor, u: &MessageDescriptor) {
        if !self.in_progress.iter().any(|n| n == o.full_name()) {
            self.in_progress.push(o.full_name().to_string());
            self.compare_fields(o, u);
            self.in_progress.pop();
        }
        self.compare_types(types_of_message(o), types_of_message(u));
    }

    fn compare_fields(&mut self, o: &MessageDescriptor, u: &MessageDescriptor) {
        let top = |m: &MessageDescriptor| -> BTreeMap<u32, FieldDescriptor> {
            m.fields().filter(|f| real_oneof(f).is_none()).map(|f| (f.number(), f)).collect()
        };
        let mut original_by_tag = top(o);
        let update_by_tag = top(u);
        let mut original_all = original_by_tag.clone();
        let mut update_all = update_by_tag.clone();
        let mut original_tag_oneof: HashMap<u32, String> = HashMap::new();
        let mut update_tag_oneof: HashMap<u32, String> = HashMap::new();
        let mut original_oneof_tags: BTreeSet<u32> = BTreeSet::new();
        let oneofs = |m: &MessageDescriptor| -> Vec<(String, Vec<FieldDescriptor>)> {
            m.oneofs().filter(|x| !x.is_synthetic()).map(|x| (x.name().to_string(), x.fields().collect())).collect()
        };
        let (o_oneofs, u_oneofs) = (oneofs(o), oneofs(u));
        for (name, fields) in &o_oneofs {
            for f in fields {
                original_oneof_tags.insert(f.number());
                original_all.insert(f.number(), f.clone());
                original_tag_oneof.insert(f.number(), name.clone());
            }
        }
        for (name, fields) in &u_oneofs {
            let (mut moved, mut existing) = (0, 0);
            for f in fields {
                update_all.insert(f.number(), f.clone());
                update_tag_oneof.insert(f.number(), name.clone());
                if original_by_tag.remove(&f.number()).is_some() {
                    moved += 1;
                } else if original_oneof_tags.contains(&f.number()) {
                    existing += 1;
                }
            }
            self.scoped(name.clone(), |ctx| {
                if moved > 1 {
                    ctx.add(DiffType::MultipleFieldsMovedToOneof);
                } else if moved == 1 && existing > 0 {
                    ctx.add(DiffType::FieldMovedToExistingOneof);
                }
            });
        }
        let names: BTreeSet<&String> = o_oneofs.iter().chain(u_oneofs.iter()).map(|(n, _)| n).collect();
        for name in names {
            let of = o_oneofs.iter().find(|(n, _)| n == name);
            let uf = u_oneofs.iter().find(|(n, _)| n == name);
            self.scoped(name.clone(), |ctx| match (of, uf) {
                (Some(_), None) => ctx.add(DiffType::OneofRemoved),
                (None, Some(_)) => ctx.add(DiffType::OneofAdded),
                (Some((_, a)), Some((_, b))) => {
                    let ob: BTreeMap<u32, &FieldDescriptor> = a.iter().map(|f| (f.number(), f)).collect();
                    let ub: BTreeMap<u32, &FieldDescriptor> = b.iter().map(|f| (f.number(), f)).collect();
                    let tags: BTreeSet<u32> = ob.keys().chain(ub.keys()).copied().collect();
                    for tag in tags {
                        ctx.scoped(tag.to_string(), |ctx| match (ob.get(&tag), ub.get(&tag)) {
                            (Some(_), None) => {
                                if !update_all.contains_key(&tag) {
                                    ctx.add(DiffType::OneofFieldRemoved);
                                }
                            }
                            (None, Some(_)) => ctx.add(DiffType::OneofFieldAdded),
                            (Some(x), Some(y)) => ctx.compare_field(x, y),
                            (None, None) => {}
                        });
                    }
                }
                (None, None) => {}
            });
        }
        let tags: BTreeSet<u32> = original_by_tag.keys().chain(update_by_tag.keys()).copied().collect();
        for tag in tags {
            self.scoped(tag.to_string(), |ctx| match (original_by_tag.get(&tag), update_by_tag.get(&tag)) {
                (Some(f), None) => ctx.add(if label(f) == Some(Label::Required) {
                    DiffType::RequiredFieldRemoved
                } else {
                    DiffType::FieldRemoved
                }),
                (None, Some(f)) => ctx.add(if label(f) == Some(Label::Required) {
                    DiffType::RequiredFieldAdded
                } else {
                    DiffType::FieldAdded
                }),
                (Some(a), Some(b)) => ctx.compare_field(a, b),
                (None, None) => {}
            });
        }
        // fields whose oneof membership changed are compared by number across the message
        for (tag, a) in &original_all {
            let Some(b) = update_all.get(tag) else { continue };
            let (oo, uo) = (original_tag_oneof.get(tag), update_tag_oneof.get(tag));
            let top_level_in_both = oo.is_none() && uo.is_none();
            let same_oneof = oo.is_some() && oo == uo;
            if top_level_in_both || same_oneof {
                continue;
            }
            self.scoped(tag.to_string(), |ctx| ctx.compare_field(a, b));
        }
    }

    fn compare_field(&mut self, o: &FieldDescriptor, u: &FieldDescriptor) {
        if o.name() != u.name() {
            self.add(DiffType::FieldNameChanged);
        }
        self.compare_labels_and_types(label(o), label(u), &field_type(o), &field_type(u));
    }

    fn compare_labels_and_types(&mut self, lo: Option<Label>, lu: Option<Label>, to: &FieldType, tu: &FieldType) {
        let (ko, ku) = (type_kind(to), type_kind(tu));
        if ko != ku {
            self.add(DiffType::FieldKindChanged);
            return;
        }
        match (to, tu) {
            (FieldType::Map(ok, ov), FieldType::Map(uk, uv)) => {
                self.compare_labels_and_types(None, None, ok, uk);
                self.compare_labels_and_types(None, None, ov, uv);
            }
            (FieldType::Message(a), FieldType::Message(b)) => self.compare_message_types(a, b),
            _ => {
                let (so, su) = (scalar_kind(to), scalar_kind(tu));
                if so != su {
                    self.add(DiffType::FieldScalarKindChanged);
                } else if let (Some(a), Some(b)) = (lo, lu)
                    && a != b
                {
                    match so {
                        Some(ScalarKind::StringOrBytes) => self.add(DiffType::FieldStringOrBytesLabelChanged),
                        Some(_) => self.add(DiffType::FieldNumericLabelChanged),
                        None => {}
                    }
                }
            }
        }
    }

    fn compare_message_types(&mut self, o_name: &str, u_name: &str) {
        let (Some(o), Some(u)) =
            (self.original.pool.get_message_by_name(o_name), self.update.pool.get_message_by_name(u_name))
        else {
            if o_name != u_name {
                self.add(DiffType::FieldNamedTypeChanged);
            }
            return;
        };
        let local = |m: &MessageDescriptor| -> String {
            let pkg = m.package_name();
            let full = m.full_name();
            if pkg.is_empty() {
                full.to_string()
            } else {
                full.strip_prefix(&format!("{pkg}.")).unwrap_or(full).to_string()
            }
        };
        let (lo, lu) = (local(&o), local(&u));
        if lo != lu {
            self.add(DiffType::FieldNamedTypeChanged);
            return;
        }
        let (ro, ru) = (ref_of(self.original, &o), ref_of(self.update, &u));
        if ro.is_some() && ro == ru {
            // both local, or the same registered subject version: compared elsewhere or identical
            return;
        }
        let mut sub = Ctx {
            original: self.original,
            update: self.update,
            path: lo.split('.').map(str::to_string).collect(),
            in_progress: self.in_progress.clone(),
            diffs: Vec::new(),
        };
        sub.compare_message(&o, &u);
        let incompatible = sub.diffs.iter().any(|d| !d.kind.compatible());
        self.diffs.append(&mut sub.diffs);
        if incompatible {
            self.add(DiffType::FieldNamedTypeChanged);
        }
    }
}

/// Where a message type comes from: `("", -1)` for the schema itself, the reference's subject and
/// version for an import, `None` for well-known types.
fn ref_of(p: &CompiledProto, m: &MessageDescriptor) -> Option<(String, i32)> {
    let file = m.parent_file();
    if file.name() == MAIN_FILE {
        return Some((String::new(), -1));
    }
    p.file_refs.get(file.name()).cloned()
}
