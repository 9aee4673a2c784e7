//! FileDescriptorProto → `.proto` text: the registry's canonical form of a protobuf schema.
//!
//! Clients register either text (Java, Go) or a base64 FileDescriptorProto (Python); both are
//! compiled and printed here, so the same schema has the same text whichever way it came, and
//! clients that read `.proto` text get text. Type names are printed fully qualified
//! (`.pkg.Msg`), so the text compiles the same in any context. Options without a source form
//! here (custom options) are not printed.

use prost_reflect::prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto, ServiceDescriptorProto,
    field_descriptor_proto::{Label, Type},
};
use std::fmt::Write as _;

/// Why a descriptor cannot be printed.
#[derive(Debug, thiserror::Error)]
pub enum PrintError {
    /// proto2 groups have no faithful print here.
    #[error("field {0:?} is a proto2 group; groups are not supported, use a nested message instead")]
    Group(String),
}

/// Prints a file as `.proto` source.
pub fn print(file: &FileDescriptorProto) -> Result<String, PrintError> {
    let mut p = Printer { out: String::with_capacity(512), proto3: false };
    p.file(file)?;
    Ok(p.out)
}

struct Printer {
    out: String,
    proto3: bool,
}

fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(q, "\\{:03o}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// The JSON name protoc derives from a field name (lowerCamelCase).
fn default_json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn scalar_name(t: Type) -> Option<&'static str> {
    Some(match t {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
        Type::Group | Type::Message | Type::Enum => return None,
    })
}

impl Printer {
    fn line(&mut self, depth: usize, text: &str) {
        for _ in 0..depth {
            self.out.push_str("  ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn file(&mut self, f: &FileDescriptorProto) -> Result<(), PrintError> {
        match f.syntax() {
            "proto3" => {
                self.proto3 = true;
                self.line(0, "syntax = \"proto3\";");
            }
            // prost-types does not carry the edition number; 2023 is the only one in use
            "editions" => self.line(0, "edition = \"2023\";"),
            _ => self.line(0, "syntax = \"proto2\";"),
        }
        if !f.package().is_empty() {
            self.line(0, &format!("package {};", f.package()));
        }
        if !f.dependency.is_empty() {
            self.out.push('\n');
            for (i, dep) in f.dependency.iter().enumerate() {
                let kind = if f.public_dependency.contains(&(i as i32)) {
                    "public "
                } else if f.weak_dependency.contains(&(i as i32)) {
                    "weak "
                } else {
                    ""
                };
                self.line(0, &format!("import {kind}{};", quote(dep)));
            }
        }
        let opts = file_options(f);
        if !opts.is_empty() {
            self.out.push('\n');
            for o in opts {
                self.line(0, &format!("option {o};"));
            }
        }
        for m in &f.message_type {
            self.out.push('\n');
            self.message(m, 0)?;
        }
        for e in &f.enum_type {
            self.out.push('\n');
            self.enumeration(e, 0);
        }
        for s in &f.service {
            self.out.push('\n');
            self.service(s);
        }
        self.extensions(&f.extension, 0)?;
        Ok(())
    }

    fn message(&mut self, m: &DescriptorProto, depth: usize) -> Result<(), PrintError> {
        self.line(depth, &format!("message {} {{", m.name()));
        let inner = depth + 1;
        if let Some(o) = &m.options {
            if o.deprecated() {
                self.line(inner, "option deprecated = true;");
            }
            if o.message_set_wire_format() {
                self.line(inner, "option message_set_wire_format = true;");
            }
            if o.no_standard_descriptor_accessor() {
                self.line(inner, "option no_standard_descriptor_accessor = true;");
            }
        }
        let mut printed_oneofs = vec![false; m.oneof_decl.len()];
        for field in &m.field {
            let real_oneof = field.oneof_index.filter(|_| !field.proto3_optional()).map(|i| i as usize);
            match real_oneof {
                Some(i) if i < printed_oneofs.len() => {
                    if printed_oneofs[i] {
                        continue;
                    }
                    printed_oneofs[i] = true;
                    self.line(inner, &format!("oneof {} {{", m.oneof_decl[i].name()));
                    for member in m.field.iter().filter(|f| f.oneof_index == Some(i as i32) && !f.proto3_optional()) {
                        let text = self.field(member, m, true)?;
                        self.line(inner + 1, &text);
                    }
                    self.line(inner, "}");
                }
                _ => {
                    let text = self.field(field, m, false)?;
                    self.line(inner, &text);
                }
            }
        }
        if !m.reserved_range.is_empty() {
            let ranges: Vec<String> = m
                .reserved_range
                .iter()
                .map(|r| {
                    let (start, end) = (r.start(), r.end() - 1);
                    if start == end { start.to_string() } else { format!("{start} to {}", max_or(end)) }
                })
                .collect();
            self.line(inner, &format!("reserved {};", ranges.join(", ")));
        }
        if !m.reserved_name.is_empty() {
            let names: Vec<String> = m.reserved_name.iter().map(|n| quote(n)).collect();
            self.line(inner, &format!("reserved {};", names.join(", ")));
        }
        for r in &m.extension_range {
            let (start, end) = (r.start(), r.end() - 1);
            let range = if start == end { start.to_string() } else { format!("{start} to {}", max_or(end)) };
            self.line(inner, &format!("extensions {range};"));
        }
        for nested in &m.nested_type {
            if nested.options.as_ref().is_some_and(|o| o.map_entry()) {
                continue;
            }
            self.message(nested, inner)?;
        }
        for e in &m.enum_type {
            self.enumeration(e, inner);
        }
        self.extensions(&m.extension, inner)?;
        self.line(depth, "}");
        Ok(())
    }

    fn extensions(&mut self, exts: &[FieldDescriptorProto], depth: usize) -> Result<(), PrintError> {
        let mut extendees: Vec<&str> = Vec::new();
        for e in exts {
            if !extendees.contains(&e.extendee()) {
                extendees.push(e.extendee());
            }
        }
        for extendee in extendees {
            self.line(depth, &format!("extend {extendee} {{"));
            for e in exts.iter().filter(|e| e.extendee() == extendee) {
                let text = self.field(e, &DescriptorProto::default(), false)?;
                self.line(depth + 1, &text);
            }
            self.line(depth, "}");
        }
        Ok(())
    }

    fn field(&self, f: &FieldDescriptorProto, parent: &DescriptorProto, in_oneof: bool) -> Result<String, PrintError> {
        if f.r#type() == Type::Group {
            return Err(PrintError::Group(f.name().to_string()));
        }
        let map_entry = (f.label() == Label::Repeated && f.r#type() == Type::Message)
            .then(|| {
                let short = f.type_name().rsplit('.').next().unwrap_or_default();
                parent
                    .nested_type
                    .iter()
                    .find(|n| n.name() == short && n.options.as_ref().is_some_and(|o| o.map_entry()))
            })
            .flatten();
        let ty = if let Some(entry) = map_entry {
            let kv: Vec<String> = entry.field.iter().map(type_of).collect();
            format!("map<{}, {}>", kv.first().map_or("string", |s| s), kv.get(1).map_or("string", |s| s))
        } else {
            type_of(f)
        };
        let label = if map_entry.is_some() || in_oneof {
            ""
        } else {
            match f.label() {
                Label::Repeated => "repeated ",
                Label::Required => "required ",
                Label::Optional if self.proto3 => {
                    if f.proto3_optional() {
                        "optional "
                    } else {
                        ""
                    }
                }
                Label::Optional => "optional ",
            }
        };
        let mut opts = Vec::new();
        if let Some(d) = &f.default_value {
            let v = match f.r#type() {
                Type::String | Type::Bytes => quote(d),
                _ => d.clone(),
            };
            opts.push(format!("default = {v}"));
        }
        if let Some(j) = &f.json_name
            && *j != default_json_name(f.name())
        {
            opts.push(format!("json_name = {}", quote(j)));
        }
        if let Some(o) = &f.options {
            if let Some(p) = o.packed {
                opts.push(format!("packed = {p}"));
            }
            if o.deprecated() {
                opts.push("deprecated = true".into());
            }
            if o.lazy() {
                opts.push("lazy = true".into());
            }
        }
        let opts = if opts.is_empty() { String::new() } else { format!(" [{}]", opts.join(", ")) };
        Ok(format!("{label}{ty} {} = {}{opts};", f.name(), f.number()))
    }

    fn enumeration(&mut self, e: &EnumDescriptorProto, depth: usize) {
        self.line(depth, &format!("enum {} {{", e.name()));
        let inner = depth + 1;
        if let Some(o) = &e.options {
            if o.allow_alias() {
                self.line(inner, "option allow_alias = true;");
            }
            if o.deprecated() {
                self.line(inner, "option deprecated = true;");
            }
        }
        for v in &e.value {
            let dep = if v.options.as_ref().is_some_and(|o| o.deprecated()) { " [deprecated = true]" } else { "" };
            self.line(inner, &format!("{} = {}{dep};", v.name(), v.number()));
        }
        if !e.reserved_range.is_empty() {
            let ranges: Vec<String> = e
                .reserved_range
                .iter()
                .map(|r| {
                    let (start, end) = (r.start(), r.end());
                    if start == end { start.to_string() } else { format!("{start} to {}", max_or(end)) }
                })
                .collect();
            self.line(inner, &format!("reserved {};", ranges.join(", ")));
        }
        if !e.reserved_name.is_empty() {
            let names: Vec<String> = e.reserved_name.iter().map(|n| quote(n)).collect();
            self.line(inner, &format!("reserved {};", names.join(", ")));
        }
        self.line(depth, "}");
    }

    fn service(&mut self, s: &ServiceDescriptorProto) {
        self.line(0, &format!("service {} {{", s.name()));
        for m in &s.method {
            let cs = if m.client_streaming() { "stream " } else { "" };
            let ss = if m.server_streaming() { "stream " } else { "" };
            self.line(1, &format!("rpc {}({cs}{}) returns ({ss}{});", m.name(), m.input_type(), m.output_type()));
        }
        self.line(0, "}");
    }
}

fn max_or(n: i32) -> String {
    if n >= 536_870_911 { "max".into() } else { n.to_string() }
}

fn type_of(f: &FieldDescriptorProto) -> String {
    match scalar_name(f.r#type()) {
        Some(s) => s.to_string(),
        None => f.type_name().to_string(),
    }
}

fn file_options(f: &FileDescriptorProto) -> Vec<String> {
    let Some(o) = &f.options else { return Vec::new() };
    let mut out = Vec::new();
    let mut s = |name: &str, v: &Option<String>| {
        if let Some(v) = v {
            out.push(format!("{name} = {}", quote(v)));
        }
    };
    s("java_package", &o.java_package);
    s("java_outer_classname", &o.java_outer_classname);
    s("go_package", &o.go_package);
    s("objc_class_prefix", &o.objc_class_prefix);
    s("csharp_namespace", &o.csharp_namespace);
    s("swift_prefix", &o.swift_prefix);
    s("php_class_prefix", &o.php_class_prefix);
    s("php_namespace", &o.php_namespace);
    s("php_metadata_namespace", &o.php_metadata_namespace);
    s("ruby_package", &o.ruby_package);
    let mut b = |name: &str, v: Option<bool>| {
        if let Some(v) = v {
            out.push(format!("{name} = {v}"));
        }
    };
    b("java_multiple_files", o.java_multiple_files);
    b("java_string_check_utf8", o.java_string_check_utf8);
    b("cc_generic_services", o.cc_generic_services);
    b("java_generic_services", o.java_generic_services);
    b("py_generic_services", o.py_generic_services);
    b("deprecated", o.deprecated);
    b("cc_enable_arenas", o.cc_enable_arenas);
    if o.optimize_for.is_some() {
        out.push(format!("optimize_for = {}", o.optimize_for().as_str_name()));
    }
    out
}
