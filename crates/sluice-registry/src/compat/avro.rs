//! Avro compatibility by the specification's schema-resolution rules: can a reader schema read
//! data written with a writer schema?
//!
//! Primitives match themselves and promote (`int`→`long`/`float`/`double`, `long`→`float`/
//! `double`, `float`→`double`, `string`↔`bytes`); records match by name and each reader field
//! must exist in the writer or have a default; enums match by name and every writer symbol must
//! exist in the reader (unless the reader has a default); fixed match by name and size; arrays
//! and maps by their items / values; a writer union needs every branch readable, a reader union
//! needs some branch that reads the writer.

use serde_json::Value as J;
use std::collections::HashMap;

/// Named types of one schema by full name.
struct Names<'a> {
    defs: HashMap<String, &'a J>,
}

impl<'a> Names<'a> {
    fn collect(root: &'a J) -> Self {
        let mut n = Names { defs: HashMap::new() };
        n.walk(root, "");
        n
    }

    fn walk(&mut self, v: &'a J, ns: &str) {
        match v {
            J::Array(b) => b.iter().for_each(|x| self.walk(x, ns)),
            J::Object(o) => {
                let t = o.get("type").and_then(J::as_str).unwrap_or("");
                let mut inner_ns = ns.to_string();
                if matches!(t, "record" | "error" | "enum" | "fixed")
                    && let Some(name) = o.get("name").and_then(J::as_str)
                {
                    let space = o.get("namespace").and_then(J::as_str).unwrap_or(ns);
                    let full = if name.contains('.') || space.is_empty() {
                        name.to_string()
                    } else {
                        format!("{space}.{name}")
                    };
                    inner_ns = full.rsplit_once('.').map(|(a, _)| a.to_string()).unwrap_or_default();
                    self.defs.insert(full, v);
                }
                if let Some(J::Array(fields)) = o.get("fields") {
                    for f in fields {
                        if let Some(t) = f.get("type") {
                            self.walk(t, &inner_ns);
                        }
                    }
                }
                for key in ["items", "values"] {
                    if let Some(x) = o.get(key) {
                        self.walk(x, ns);
                    }
                }
                if let Some(t @ (J::Object(_) | J::Array(_))) = o.get("type") {
                    self.walk(t, ns);
                }
            }
            _ => {}
        }
    }

    /// Resolves a type reference (a name string) to its definition.
    fn resolve(&self, v: &'a J) -> &'a J {
        if let J::String(s) = v
            && let Some(def) = self
                .defs
                .get(s.as_str())
                .or_else(|| self.defs.iter().find(|(k, _)| k.rsplit('.').next() == Some(s.as_str())).map(|(_, d)| d))
        {
            return def;
        }
        if let J::Object(o) = v
            && let Some(t @ J::String(_)) = o.get("type")
            && !is_complex(t)
            && o.len() == 1
        {
            return self.resolve(t);
        }
        v
    }
}

fn is_complex(t: &J) -> bool {
    matches!(t.as_str(), Some("record" | "error" | "enum" | "fixed" | "array" | "map"))
}

fn type_name(v: &J) -> &str {
    match v {
        J::String(s) => s,
        J::Array(_) => "union",
        J::Object(o) => o.get("type").and_then(J::as_str).unwrap_or("?"),
        _ => "?",
    }
}

fn short_name(v: &J) -> &str {
    v.get("name").and_then(J::as_str).map(|n| n.rsplit('.').next().unwrap_or(n)).unwrap_or("")
}

/// Incompatibilities (empty = the reader can read the writer's data), each
/// `(errorType, description)`.
pub fn check(reader: &J, writer: &J) -> Vec<(String, String)> {
    let (rn, wn) = (Names::collect(reader), Names::collect(writer));
    let mut out = Vec::new();
    let mut seen = Vec::new();
    compat(reader, writer, &rn, &wn, "", &mut out, &mut seen);
    out
}

fn compat<'a>(
    r: &'a J,
    w: &'a J,
    rn: &Names<'a>,
    wn: &Names<'a>,
    path: &str,
    out: &mut Vec<(String, String)>,
    seen: &mut Vec<(String, String)>,
) {
    let (r, w) = (rn.resolve(r), wn.resolve(w));
    if let J::Array(wb) = w {
        for (i, b) in wb.iter().enumerate() {
            compat(r, b, rn, wn, &format!("{path}/{i}"), out, seen);
        }
        return;
    }
    if let J::Array(rb) = r {
        let fits = rb.iter().any(|b| {
            let mut probe = Vec::new();
            let mut s = seen.clone();
            compat(b, w, rn, wn, path, &mut probe, &mut s);
            probe.is_empty()
        });
        if !fits {
            out.push((
                "MISSING_UNION_BRANCH".into(),
                format!(
                    "The new schema's union at path '{}' has no branch for the old type '{}'",
                    or_root(path),
                    type_name(w)
                ),
            ));
        }
        return;
    }
    let (rt, wt) = (type_name(r), type_name(w));
    let promotes = matches!(
        (wt, rt),
        ("int", "long" | "float" | "double")
            | ("long", "float" | "double")
            | ("float", "double")
            | ("string", "bytes")
            | ("bytes", "string")
    );
    if rt != wt && !promotes {
        out.push((
            "TYPE_MISMATCH".into(),
            format!(
                "The type (path '{}') of a field in the new schema ({rt}) does not match the old schema ({wt})",
                or_root(path)
            ),
        ));
        return;
    }
    match rt {
        "record" | "error" => {
            if short_name(r) != short_name(w) && !aliases(r).contains(&short_name(w)) {
                out.push((
                    "NAME_MISMATCH".into(),
                    format!(
                        "The name of the record at path '{}' changed from '{}' to '{}'",
                        or_root(path),
                        short_name(w),
                        short_name(r)
                    ),
                ));
                return;
            }
            let key = (short_name(r).to_string(), short_name(w).to_string());
            if seen.contains(&key) {
                return;
            }
            seen.push(key);
            let empty = Vec::new();
            let wf = w.get("fields").and_then(J::as_array).unwrap_or(&empty);
            let rf = r.get("fields").and_then(J::as_array).unwrap_or(&empty);
            for (i, f) in rf.iter().enumerate() {
                let name = f.get("name").and_then(J::as_str).unwrap_or("");
                let matched = wf.iter().find(|x| {
                    let wname = x.get("name").and_then(J::as_str).unwrap_or("");
                    wname == name || aliases(f).contains(&wname)
                });
                match matched {
                    Some(x) => {
                        if let (Some(rt), Some(wt)) = (f.get("type"), x.get("type")) {
                            compat(rt, wt, rn, wn, &format!("{path}/fields/{i}/type"), out, seen);
                        }
                    }
                    None if f.get("default").is_none() => out.push((
                        "READER_FIELD_MISSING_DEFAULT_VALUE".into(),
                        format!(
                            "The field '{name}' at path '{path}/fields/{i}' in the new schema has no default value and is \
                             missing in the old schema"
                        ),
                    )),
                    None => {}
                }
            }
        }
        "enum" => {
            if short_name(r) != short_name(w) && !aliases(r).contains(&short_name(w)) {
                out.push(("NAME_MISMATCH".into(), format!("The name of the enum at path '{}' changed", or_root(path))));
                return;
            }
            let syms = |v: &J| -> Vec<String> {
                v.get("symbols")
                    .and_then(J::as_array)
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                    .unwrap_or_default()
            };
            let (rs, ws) = (syms(r), syms(w));
            let missing: Vec<&String> = ws.iter().filter(|s| !rs.contains(s)).collect();
            if !missing.is_empty() && r.get("default").is_none() {
                out.push((
                    "MISSING_ENUM_SYMBOLS".into(),
                    format!(
                        "The new schema is missing enum symbols {missing:?} at path '{}' in the old schema",
                        or_root(path)
                    ),
                ));
            }
        }
        "fixed" => {
            if short_name(r) != short_name(w) {
                out.push((
                    "NAME_MISMATCH".into(),
                    format!("The name of the fixed at path '{}' changed", or_root(path)),
                ));
            } else if r.get("size") != w.get("size") {
                out.push((
                    "FIXED_SIZE_MISMATCH".into(),
                    format!("The size of the fixed at path '{}' changed", or_root(path)),
                ));
            }
        }
        "array" => {
            if let (Some(a), Some(b)) = (r.get("items"), w.get("items")) {
                compat(a, b, rn, wn, &format!("{path}/items"), out, seen);
            }
        }
        "map" => {
            if let (Some(a), Some(b)) = (r.get("values"), w.get("values")) {
                compat(a, b, rn, wn, &format!("{path}/values"), out, seen);
            }
        }
        _ => {}
    }
}

fn aliases(v: &J) -> Vec<&str> {
    v.get("aliases").and_then(J::as_array).map(|a| a.iter().filter_map(J::as_str).collect()).unwrap_or_default()
}

fn or_root(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> J {
        serde_json::from_str(s).unwrap()
    }

    fn kinds(reader: &str, writer: &str) -> Vec<String> {
        check(&j(reader), &j(writer)).into_iter().map(|(k, _)| k).collect()
    }

    const V1: &str =
        r#"{"type":"record","name":"U","fields":[{"name":"id","type":"string"},{"name":"n","type":"int"}]}"#;

    #[test]
    fn record_rules() {
        assert!(kinds(V1, V1).is_empty());
        // added field with a default: new reads old
        let added_default = r#"{"type":"record","name":"U","fields":[{"name":"id","type":"string"},{"name":"n","type":"int"},{"name":"x","type":"string","default":""}]}"#;
        assert!(kinds(added_default, V1).is_empty());
        // added field without default: new cannot read old
        let added = r#"{"type":"record","name":"U","fields":[{"name":"id","type":"string"},{"name":"n","type":"int"},{"name":"x","type":"string"}]}"#;
        assert_eq!(kinds(added, V1), ["READER_FIELD_MISSING_DEFAULT_VALUE"]);
        // old reads new (forward) fine: extra writer fields are ignored
        assert!(kinds(V1, added).is_empty());
        // promotion int -> long ok, long -> int not
        let long =
            r#"{"type":"record","name":"U","fields":[{"name":"id","type":"string"},{"name":"n","type":"long"}]}"#;
        assert!(kinds(long, V1).is_empty());
        assert_eq!(kinds(V1, long), ["TYPE_MISMATCH"]);
        let renamed = r#"{"type":"record","name":"V","fields":[]}"#;
        assert_eq!(kinds(renamed, V1), ["NAME_MISMATCH"]);
    }

    #[test]
    fn enums_unions_and_named_references() {
        let e1 = r#"{"type":"enum","name":"E","symbols":["A","B"]}"#;
        let e2 = r#"{"type":"enum","name":"E","symbols":["A"]}"#;
        assert_eq!(kinds(e2, e1), ["MISSING_ENUM_SYMBOLS"]);
        assert!(kinds(e1, e2).is_empty());
        assert!(kinds(r#"["null","string"]"#, r#""string""#).is_empty());
        assert_eq!(kinds(r#""string""#, r#"["null","string"]"#), ["TYPE_MISMATCH"]);
        assert_eq!(kinds(r#"["null","int"]"#, r#""string""#), ["MISSING_UNION_BRANCH"]);
        let rec = r#"{"type":"record","name":"N","fields":[{"name":"a","type":{"type":"fixed","name":"F","size":4}},{"name":"b","type":"F"},{"name":"next","type":["null","N"]}]}"#;
        assert!(kinds(rec, rec).is_empty());
        let rec8 = rec.replace("\"size\":4", "\"size\":8");
        assert_eq!(kinds(&rec8, rec), ["FIXED_SIZE_MISMATCH", "FIXED_SIZE_MISMATCH"]);
        assert!(kinds(r#"{"type":"array","items":"long"}"#, r#"{"type":"array","items":"int"}"#).is_empty());
        assert_eq!(kinds(r#"{"type":"map","values":"int"}"#, r#"{"type":"map","values":"long"}"#), ["TYPE_MISMATCH"]);
    }
}
