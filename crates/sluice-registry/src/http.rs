//! The Confluent Schema Registry REST API over [`Registry`](crate::Registry), with axum.
//!
//! Bodies are parsed leniently (any content type); query booleans accept `true`/`True`/`1`;
//! every schema in a response carries `schemaType`; errors are Confluent's
//! `{"error_code": 40401, "message": "..."}`; `/associations/...` (asked first by
//! confluent-kafka 2.16) and unknown paths answer 404 so clients fall back to subjects.

use crate::Registry;
use crate::core::{SchemaInput, StoredSchema, VersionView};
use crate::error::RegistryError;
use crate::schema::Parsed;
use crate::types::{CompatibilityLevel, Mode, SchemaReference, SchemaType, VersionSpec};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::Deserialize;
use serde_json::{Value as J, json};
use std::collections::HashMap;
use std::sync::Arc;

type Q = Query<HashMap<String, String>>;
type Reply = Result<Response, ApiError>;

/// The content type Confluent's registry answers with.
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: u32,
    message: String,
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        ApiError {
            status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r =
            (self.status, json!({ "error_code": self.code, "message": self.message }).to_string()).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        r
    }
}

fn ok(v: J) -> Reply {
    let mut r = (StatusCode::OK, v.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(r)
}

fn not_found() -> ApiError {
    ApiError { status: StatusCode::NOT_FOUND, code: 404, message: "HTTP 404 Not Found".into() }
}

/// A query boolean: `true`, `True`, `TRUE`, `1`, `yes`; absent = `default`.
fn flag(q: &HashMap<String, String>, name: &str, default: bool) -> bool {
    match q.get(name) {
        None => default,
        Some(v) => matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes" | ""),
    }
}

fn version_spec(s: &str) -> Result<VersionSpec, ApiError> {
    VersionSpec::parse(s).ok_or_else(|| RegistryError::InvalidVersion(s.to_string()).into())
}

fn schema_id(s: &str) -> Result<u32, ApiError> {
    s.parse::<u32>()
        .map_err(|_| RegistryError::SchemaNotFound(format!("Schema {s} not found: ids are positive integers")).into())
}

/// The routes, ready to serve.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/", get(|| async { ok(json!({})) }))
        .route("/schemas/types", get(|| async { ok(json!(["JSON", "PROTOBUF", "AVRO"])) }))
        .route("/schemas", get(list_schemas))
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(raw_schema_by_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_of_id))
        .route("/schemas/ids/{id}/versions", get(versions_of_id))
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route("/subjects/{subject}/versions", get(list_versions).post(register))
        .route("/subjects/{subject}/versions/{version}", get(get_version).delete(delete_version))
        .route("/subjects/{subject}/versions/{version}/schema", get(raw_version))
        .route("/subjects/{subject}/versions/{version}/referencedby", get(referenced_by))
        .route("/compatibility/subjects/{subject}/versions", post(check_all))
        .route("/compatibility/subjects/{subject}/versions/{version}", post(check_version))
        .route("/config", get(get_global_config).put(put_global_config).delete(delete_global_config))
        .route("/config/{subject}", get(get_config).put(put_config).delete(delete_config))
        .route("/mode", get(get_global_mode).put(put_global_mode).delete(delete_global_mode))
        .route("/mode/{subject}", get(get_mode).put(put_mode).delete(delete_mode))
        .route("/contexts", get(|| async { ok(json!(["."])) }))
        .route("/associations", any(|| async { Err::<Response, _>(not_found()) }))
        .route("/associations/{*rest}", any(|| async { Err::<Response, _>(not_found()) }))
        .fallback(|| async { Err::<Response, _>(not_found()) })
        .with_state(registry)
}

// ---- request bodies -------------------------------------------------------------------

#[derive(Deserialize)]
struct SchemaBody {
    #[serde(default)]
    schema: Option<String>,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Option<Vec<SchemaReference>>,
    #[serde(default)]
    id: Option<u32>,
    #[serde(default)]
    version: Option<i32>,
}

fn schema_input(body: &Bytes) -> Result<SchemaInput, ApiError> {
    let b: SchemaBody = serde_json::from_slice(body).map_err(|e| {
        RegistryError::InvalidRequest(format!(
            "the request body is not a schema object ({e}); send {{\"schema\": \"...\", \"schemaType\": \"PROTOBUF\"}}"
        ))
    })?;
    let schema_type = match b.schema_type.as_deref() {
        None | Some("") => SchemaType::Avro,
        Some(t) => SchemaType::parse(t).ok_or_else(|| {
            RegistryError::InvalidRequest(format!("unknown schemaType {t:?}; use AVRO, PROTOBUF or JSON"))
        })?,
    };
    Ok(SchemaInput {
        schema_type,
        schema: b.schema.unwrap_or_default(),
        references: b.references.unwrap_or_default(),
        id: b.id,
        version: b.version,
    })
}

fn body_json(body: &Bytes) -> Result<J, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| RegistryError::InvalidRequest(format!("the request body is not JSON: {e}")).into())
}

// ---- responses ------------------------------------------------------------------------

/// The schema text in the format asked for: protobuf `serialized` = base64 FileDescriptorProto.
async fn formatted(reg: &Registry, s: &StoredSchema, format: Option<&str>, name: &str) -> Result<String, ApiError> {
    match (s.schema_type, format) {
        (SchemaType::Protobuf, Some(f)) if f.eq_ignore_ascii_case("serialized") => {
            let core = reg.core.lock().await;
            match core.parse_stored(s)? {
                Parsed::Protobuf(p) => Ok(p.serialized(name)),
                _ => Ok(s.schema.clone()),
            }
        }
        _ => Ok(s.schema.clone()),
    }
}

fn schema_json(s: &StoredSchema, text: String) -> serde_json::Map<String, J> {
    let mut m = serde_json::Map::new();
    m.insert("schemaType".into(), json!(s.schema_type.as_str()));
    m.insert("schema".into(), J::String(text));
    if !s.references.is_empty() {
        m.insert("references".into(), json!(s.references));
    }
    m
}

async fn version_json(reg: &Registry, v: &VersionView, format: Option<&str>) -> Result<J, ApiError> {
    let text = formatted(reg, &v.schema, format, &v.subject).await?;
    let mut m = serde_json::Map::new();
    m.insert("subject".into(), json!(v.subject));
    m.insert("version".into(), json!(v.version));
    m.insert("id".into(), json!(v.schema.id));
    m.extend(schema_json(&v.schema, text));
    if v.deleted {
        m.insert("deleted".into(), json!(true));
    }
    Ok(J::Object(m))
}

// ---- handlers -------------------------------------------------------------------------

async fn schema_by_id(State(reg): State<Arc<Registry>>, Path(id): Path<String>, Query(q): Q) -> Reply {
    let id = schema_id(&id)?;
    let s = reg.core.lock().await.schema_by_id(id)?;
    let name = q.get("subject").cloned().unwrap_or_else(|| "default".into());
    let text = formatted(&reg, &s, q.get("format").map(String::as_str), &name).await?;
    ok(J::Object(schema_json(&s, text)))
}

async fn raw_schema_by_id(State(reg): State<Arc<Registry>>, Path(id): Path<String>) -> Reply {
    let s = reg.core.lock().await.schema_by_id(schema_id(&id)?)?;
    ok(J::String(s.schema.clone()))
}

async fn subjects_of_id(State(reg): State<Arc<Registry>>, Path(id): Path<String>, Query(q): Q) -> Reply {
    let pairs = reg.core.lock().await.versions_of_id(schema_id(&id)?, flag(&q, "deleted", false))?;
    let mut subjects: Vec<String> = pairs.into_iter().map(|(s, _)| s).collect();
    subjects.dedup();
    ok(json!(subjects))
}

async fn versions_of_id(State(reg): State<Arc<Registry>>, Path(id): Path<String>, Query(q): Q) -> Reply {
    let pairs = reg.core.lock().await.versions_of_id(schema_id(&id)?, flag(&q, "deleted", false))?;
    ok(J::Array(pairs.into_iter().map(|(s, v)| json!({ "subject": s, "version": v })).collect()))
}

async fn list_schemas(State(reg): State<Arc<Registry>>, Query(q): Q) -> Reply {
    let deleted = flag(&q, "deleted", false);
    let latest_only = flag(&q, "latestOnly", false);
    let prefix = q.get("subjectPrefix").map(String::as_str).unwrap_or("");
    let views: Vec<VersionView> = {
        let core = reg.core.lock().await;
        let mut out = Vec::new();
        for s in core.subjects(deleted, prefix) {
            let versions = core.versions(&s, deleted).unwrap_or_default();
            let chosen: Vec<i32> = if latest_only { versions.last().copied().into_iter().collect() } else { versions };
            for v in chosen {
                if let Ok(view) = core.version(&s, VersionSpec::Number(v), deleted) {
                    out.push(view);
                }
            }
        }
        out
    };
    let mut out = Vec::new();
    for v in &views {
        out.push(version_json(&reg, v, None).await?);
    }
    ok(J::Array(out))
}

async fn list_subjects(State(reg): State<Arc<Registry>>, Query(q): Q) -> Reply {
    let prefix = q.get("subjectPrefix").map(String::as_str).unwrap_or("");
    ok(json!(reg.core.lock().await.subjects(flag(&q, "deleted", false), prefix)))
}

async fn list_versions(State(reg): State<Arc<Registry>>, Path(subject): Path<String>, Query(q): Q) -> Reply {
    ok(json!(reg.core.lock().await.versions(&subject, flag(&q, "deleted", false))?))
}

async fn get_version(
    State(reg): State<Arc<Registry>>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Q,
) -> Reply {
    let spec = version_spec(&version)?;
    let view = reg.core.lock().await.version(&subject, spec, flag(&q, "deleted", false))?;
    ok(version_json(&reg, &view, q.get("format").map(String::as_str)).await?)
}

async fn raw_version(
    State(reg): State<Arc<Registry>>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Q,
) -> Reply {
    let spec = version_spec(&version)?;
    let view = reg.core.lock().await.version(&subject, spec, flag(&q, "deleted", false))?;
    ok(J::String(view.schema.schema.clone()))
}

async fn referenced_by(State(reg): State<Arc<Registry>>, Path((subject, version)): Path<(String, String)>) -> Reply {
    let spec = version_spec(&version)?;
    let core = reg.core.lock().await;
    let view = core.version(&subject, spec, true)?;
    ok(json!(core.referenced_by(&subject, view.version, false)))
}

async fn register(State(reg): State<Arc<Registry>>, Path(subject): Path<String>, body: Bytes) -> Reply {
    let input = schema_input(&body)?;
    let r = reg.register(&subject, &input).await?;
    ok(json!({ "id": r.id, "version": r.version, "schemaType": input.schema_type.as_str() }))
}

async fn lookup(State(reg): State<Arc<Registry>>, Path(subject): Path<String>, Query(q): Q, body: Bytes) -> Reply {
    let input = schema_input(&body)?;
    let view = reg.core.lock().await.lookup(&subject, &input, flag(&q, "deleted", false))?;
    ok(version_json(&reg, &view, q.get("format").map(String::as_str)).await?)
}

async fn delete_subject(State(reg): State<Arc<Registry>>, Path(subject): Path<String>, Query(q): Q) -> Reply {
    let permanent = flag(&q, "permanent", false);
    let versions = reg.write(|c| c.delete_subject(&subject, permanent)).await?;
    ok(json!(versions))
}

async fn delete_version(
    State(reg): State<Arc<Registry>>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Q,
) -> Reply {
    let spec = version_spec(&version)?;
    let permanent = flag(&q, "permanent", false);
    let v = reg.write(|c| c.delete_version(&subject, spec, permanent)).await?;
    ok(json!(v))
}

async fn compatibility(
    reg: &Registry,
    subject: &str,
    spec: Option<VersionSpec>,
    q: &HashMap<String, String>,
    body: &Bytes,
) -> Reply {
    let input = schema_input(body)?;
    let messages = reg.core.lock().await.check_compatibility(subject, spec, &input)?;
    let mut m = serde_json::Map::new();
    m.insert("is_compatible".into(), json!(messages.is_empty()));
    if flag(q, "verbose", false) {
        m.insert("messages".into(), json!(messages));
    }
    ok(J::Object(m))
}

async fn check_all(State(reg): State<Arc<Registry>>, Path(subject): Path<String>, Query(q): Q, body: Bytes) -> Reply {
    compatibility(&reg, &subject, None, &q, &body).await
}

async fn check_version(
    State(reg): State<Arc<Registry>>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Q,
    body: Bytes,
) -> Reply {
    let spec = version_spec(&version)?;
    compatibility(&reg, &subject, Some(spec), &q, &body).await
}

fn level_from_body(body: &Bytes) -> Result<CompatibilityLevel, ApiError> {
    let v = body_json(body)?;
    let text = v
        .get("compatibility")
        .or_else(|| v.get("compatibilityLevel"))
        .and_then(J::as_str)
        .ok_or_else(|| RegistryError::InvalidCompatibilityLevel(v.to_string()))?;
    CompatibilityLevel::parse(text).ok_or_else(|| RegistryError::InvalidCompatibilityLevel(text.into()).into())
}

async fn config_get(reg: &Registry, subject: Option<&str>, q: &HashMap<String, String>) -> Reply {
    let level = reg.core.lock().await.get_config(subject, flag(q, "defaultToGlobal", false))?;
    ok(json!({ "compatibilityLevel": level.as_str() }))
}

async fn config_put(reg: &Registry, subject: Option<&str>, body: &Bytes) -> Reply {
    let level = level_from_body(body)?;
    reg.write(|c| c.set_config(subject, level).map(|r| ((), r))).await?;
    ok(json!({ "compatibility": level.as_str() }))
}

async fn config_delete(reg: &Registry, subject: Option<&str>) -> Reply {
    let old = reg.write(|c| c.delete_config(subject)).await?;
    ok(json!({ "compatibilityLevel": old.as_str() }))
}

async fn get_global_config(State(reg): State<Arc<Registry>>, Query(q): Q) -> Reply {
    config_get(&reg, None, &q).await
}
async fn put_global_config(State(reg): State<Arc<Registry>>, body: Bytes) -> Reply {
    config_put(&reg, None, &body).await
}
async fn delete_global_config(State(reg): State<Arc<Registry>>) -> Reply {
    config_delete(&reg, None).await
}
async fn get_config(State(reg): State<Arc<Registry>>, Path(s): Path<String>, Query(q): Q) -> Reply {
    config_get(&reg, Some(&s), &q).await
}
async fn put_config(State(reg): State<Arc<Registry>>, Path(s): Path<String>, body: Bytes) -> Reply {
    config_put(&reg, Some(&s), &body).await
}
async fn delete_config(State(reg): State<Arc<Registry>>, Path(s): Path<String>) -> Reply {
    config_delete(&reg, Some(&s)).await
}

fn mode_from_body(body: &Bytes) -> Result<Mode, ApiError> {
    let v = body_json(body)?;
    let text = v.get("mode").and_then(J::as_str).ok_or_else(|| RegistryError::InvalidMode(v.to_string()))?;
    Mode::parse(text).ok_or_else(|| RegistryError::InvalidMode(text.into()).into())
}

async fn mode_get(reg: &Registry, subject: Option<&str>, q: &HashMap<String, String>) -> Reply {
    let mode = reg.core.lock().await.get_mode(subject, flag(q, "defaultToGlobal", false))?;
    ok(json!({ "mode": mode.as_str() }))
}

async fn mode_put(reg: &Registry, subject: Option<&str>, q: &HashMap<String, String>, body: &Bytes) -> Reply {
    let mode = mode_from_body(body)?;
    let force = flag(q, "force", false);
    reg.write(|c| c.set_mode(subject, mode, force).map(|r| ((), r))).await?;
    ok(json!({ "mode": mode.as_str() }))
}

async fn mode_delete(reg: &Registry, subject: Option<&str>) -> Reply {
    let old = reg.write(|c| c.delete_mode(subject)).await?;
    ok(json!({ "mode": old.as_str() }))
}

async fn get_global_mode(State(reg): State<Arc<Registry>>, Query(q): Q) -> Reply {
    mode_get(&reg, None, &q).await
}
async fn put_global_mode(State(reg): State<Arc<Registry>>, Query(q): Q, body: Bytes) -> Reply {
    mode_put(&reg, None, &q, &body).await
}
async fn delete_global_mode(State(reg): State<Arc<Registry>>) -> Reply {
    mode_delete(&reg, None).await
}
async fn get_mode(State(reg): State<Arc<Registry>>, Path(s): Path<String>, Query(q): Q) -> Reply {
    mode_get(&reg, Some(&s), &q).await
}
async fn put_mode(State(reg): State<Arc<Registry>>, Path(s): Path<String>, Query(q): Q, body: Bytes) -> Reply {
    mode_put(&reg, Some(&s), &q, &body).await
}
async fn delete_mode(State(reg): State<Arc<Registry>>, Path(s): Path<String>) -> Reply {
    mode_delete(&reg, Some(&s)).await
}
