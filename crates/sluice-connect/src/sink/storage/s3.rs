//! S3 (and S3-compatible servers: MinIO, moto, ...) as [`Storage`], through `object_store`.
//!
//! Configuration, later sources winning: the standard AWS environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` /
//! `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...; every `AWS_*` name that
//! `object_store` knows), then the sink's `endpoint`, `region` and `allow_http` options.
//! Requests use path-style addressing (`http://endpoint/bucket/key`), which every
//! S3-compatible server accepts.

use super::{Storage, StorageError, Upload, check_key};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload};
use std::sync::Arc;

/// How to reach S3.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// Environment variables to read `AWS_*` settings from (pass `std::env::vars()`; tests
    /// pass their own).
    pub env: Vec<(String, String)>,
    /// Endpoint of an S3-compatible server (`http://127.0.0.1:9000`); overrides the environment.
    pub endpoint: Option<String>,
    /// Region; overrides the environment (default `us-east-1`).
    pub region: Option<String>,
    /// Allow `http://` endpoints; overrides the environment.
    pub allow_http: Option<bool>,
}

impl S3Options {
    /// Options read from the process environment only.
    pub fn from_env() -> S3Options {
        S3Options { env: std::env::vars().collect(), ..S3Options::default() }
    }
}

/// A bucket and key prefix on S3.
#[derive(Debug)]
pub struct S3Storage {
    store: Arc<AmazonS3>,
    bucket: String,
    prefix: String,
}

/// Parts above this size go up as a multipart upload; smaller objects in one PUT. S3 wants
/// parts of at least 5 MiB (except the last).
const PART_SIZE: usize = 8 << 20;

impl S3Storage {
    /// Builds the client. No request is sent, except one: with no credentials configured,
    /// object_store would ask the EC2 instance metadata service for them, and off EC2 that
    /// service seldom answers, so its retries would hold the job's start for three minutes; it
    /// is asked once first, for a second at most, and if it is silent the error says which
    /// variables to set.
    pub fn open(bucket: &str, prefix: &str, options: &S3Options) -> Result<S3Storage, StorageError> {
        let url = if prefix.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{prefix}") };
        let mut builder = AmazonS3Builder::new();
        let mut env_allow_http = false;
        for (k, v) in &options.env {
            if !k.starts_with("AWS_") {
                continue;
            }
            if let Ok(key) = k.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                builder = builder.with_config(key, v.clone());
            }
            if k == "AWS_ALLOW_HTTP" && v.eq_ignore_ascii_case("true") {
                env_allow_http = true;
            }
        }
        builder = builder.with_bucket_name(bucket).with_virtual_hosted_style_request(false);
        if let Some(region) = &options.region {
            builder = builder.with_region(region.clone());
        }
        let endpoint = options.endpoint.clone().or_else(|| {
            options.env.iter().find(|(k, _)| k == "AWS_ENDPOINT_URL" || k == "AWS_ENDPOINT").map(|(_, v)| v.clone())
        });
        if let Some(endpoint) = &options.endpoint {
            builder = builder.with_endpoint(endpoint.clone());
        }
        let allow_http = options.allow_http.unwrap_or(env_allow_http);
        builder = builder.with_allow_http(allow_http);
        if let Some(e) = &endpoint
            && e.starts_with("http://")
            && !allow_http
        {
            return Err(StorageError::new("use", url, format!("the endpoint {e} is plain http"))
                .with_fix("add allow_http = true to the sink (or set AWS_ALLOW_HTTP=true), or use https"));
        }
        if needs_instance_metadata(&builder) {
            let endpoint = builder
                .get_config_value(&AmazonS3ConfigKey::MetadataEndpoint)
                .unwrap_or_else(|| format!("http://{INSTANCE_METADATA}"));
            if let Err(why) = probe_metadata(&endpoint, METADATA_PROBE_TIMEOUT) {
                return Err(StorageError::new(
                    "use",
                    url,
                    format!("no AWS credentials are set, and the instance metadata service at {endpoint} {why}"),
                )
                .with_fix(NO_CREDENTIALS_FIX));
            }
        }
        let store = builder.build().map_err(|e| {
            StorageError::new("use", url.clone(), &e)
                .with_fix("check the bucket name, the region and the endpoint (AWS_* variables or the sink's options)")
        })?;
        Ok(S3Storage { store: Arc::new(store), bucket: bucket.to_string(), prefix: prefix.to_string() })
    }

    fn path(&self, op: &'static str, key: &str) -> Result<Path, StorageError> {
        check_key(key).map_err(|m| StorageError::new(op, self.location(key), m))?;
        let full = if self.prefix.is_empty() { key.to_string() } else { format!("{}/{key}", self.prefix) };
        Path::parse(&full).map_err(|e| StorageError::new(op, self.location(key), e))
    }

    fn err(&self, op: &'static str, key: &str, e: object_store::Error) -> StorageError {
        s3_error(op, self.location(key), &self.bucket, e)
    }
}

/// Whether object_store will take its credentials from the instance metadata service: none of
/// the other sources (keys, web identity, container credentials) is configured and requests
/// are signed.
fn needs_instance_metadata(b: &AmazonS3Builder) -> bool {
    let set = |k: AmazonS3ConfigKey| b.get_config_value(&k).is_some_and(|v| !v.is_empty());
    let skip_signature =
        b.get_config_value(&AmazonS3ConfigKey::SkipSignature).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    !(skip_signature
        || set(AmazonS3ConfigKey::AccessKeyId)
        || set(AmazonS3ConfigKey::SecretAccessKey)
        || (set(AmazonS3ConfigKey::WebIdentityTokenFile) && set(AmazonS3ConfigKey::RoleArn))
        || set(AmazonS3ConfigKey::ContainerCredentialsRelativeUri)
        || (set(AmazonS3ConfigKey::ContainerCredentialsFullUri)
            && set(AmazonS3ConfigKey::ContainerAuthorizationTokenFile)))
}

/// How long the metadata service may take to connect, and again to answer, before a job
/// without credentials is told to set them (on EC2 it answers in a millisecond or two).
const METADATA_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Sends the metadata service one HTTP request and waits for the first byte of any answer.
fn probe_metadata(endpoint: &str, timeout: std::time::Duration) -> Result<(), String> {
    use std::io::{Read, Write};
    let url = reqwest::Url::parse(endpoint).ok().filter(|u| u.scheme() == "http");
    let Some((url, host)) = url.as_ref().and_then(|u| Some((u, u.host_str()?))) else {
        return Err("is not an http:// URL".to_string());
    };
    let authority = format!("{host}:{}", url.port_or_known_default().unwrap_or(80));
    let addr = url
        .socket_addrs(|| Some(80))
        .ok()
        .and_then(|a| a.into_iter().next())
        .ok_or_else(|| format!("cannot be resolved ({authority})"))?;
    let mut conn = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            format!("did not accept a connection within {timeout:?}")
        } else {
            format!("cannot be reached ({e})")
        }
    })?;
    conn.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    conn.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    conn.write_all(
        format!("GET /latest/meta-data/ HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| format!("cannot be reached ({e})"))?;
    let mut first = [0u8; 1];
    match conn.read(&mut first) {
        Ok(1..) => Ok(()),
        Ok(0) => Err("closed the connection without an answer".to_string()),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            Err(format!("did not answer within {timeout:?}"))
        }
        Err(e) => Err(format!("cannot be reached ({e})")),
    }
}

const NO_CREDENTIALS_FIX: &str = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (for an S3-compatible server such as \
     MinIO or moto, also AWS_ENDPOINT_URL or the sink's `endpoint`, and AWS_ALLOW_HTTP=true for http), or write the sink \
     to a local path";

/// The EC2 instance metadata service and the ECS credentials endpoint, where object_store looks
/// for credentials when the environment has none.
const INSTANCE_METADATA: &str = "169.254.169.254";
const CONTAINER_METADATA: &str = "169.254.170.2";

fn s3_error(op: &'static str, location: String, bucket: &str, e: object_store::Error) -> StorageError {
    let text = error_chain(&e);
    let err = StorageError::new(op, location, &text);
    let lower = text.to_ascii_lowercase();
    if lower.contains(INSTANCE_METADATA) || lower.contains(CONTAINER_METADATA) {
        // No credentials in the environment: object_store then asks the EC2 (or ECS) metadata
        // service, which off AWS refuses or never answers; its error names only that service.
        err.with_fix(format!(
            "no AWS credentials were found, so the instance metadata service was asked for them and gave none: \
             {NO_CREDENTIALS_FIX}"
        ))
    } else if lower.contains("nosuchbucket") || lower.contains("bucket does not exist") {
        err.with_fix(format!(
            "create the bucket first (object_store cannot create buckets): aws s3 mb s3://{bucket} (with --endpoint-url for an S3-compatible server)"
        ))
    } else if lower.contains("connection refused") || lower.contains("error sending request") || lower.contains("dns") {
        err.with_fix("is the S3 endpoint reachable? check the sink's `endpoint` option or AWS_ENDPOINT_URL")
    } else if lower.contains("accessdenied")
        || lower.contains("invalidaccesskeyid")
        || lower.contains("signaturedoesnotmatch")
        || lower.contains("credential")
    {
        err.with_fix("check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) and the bucket's policy")
    } else {
        err
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

#[async_trait]
impl Storage for S3Storage {
    fn location(&self, key: &str) -> String {
        match (self.prefix.is_empty(), key.is_empty()) {
            (true, _) => format!("s3://{}/{key}", self.bucket),
            (false, true) => format!("s3://{}/{}", self.bucket, self.prefix),
            (false, false) => format!("s3://{}/{}/{key}", self.bucket, self.prefix),
        }
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        let path = self.path("write", key)?;
        self.store.put(&path, PutPayload::from(data)).await.map_err(|e| self.err("write", key, e))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        let path = self.path("read", key)?;
        match self.store.get(&path).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| self.err("read", key, e))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("read", key, e)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        let path = self.path("look for", key)?;
        match self.store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err("look for", key, e)),
        }
    }

    async fn create(&self, key: &str) -> Result<Box<dyn Upload>, StorageError> {
        let path = self.path("create", key)?;
        Ok(Box::new(S3Upload {
            store: self.store.clone(),
            path,
            location: self.location(key),
            bucket: self.bucket.clone(),
            buf: Vec::new(),
            multipart: None,
            size: 0,
        }))
    }

    async fn publish(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let src = self.path("publish", from)?;
        let dst = self.path("publish", to)?;
        self.store.copy(&src, &dst).await.map_err(|e| self.err("publish", to, e))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path("delete", key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("delete", key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let prefix = prefix.trim_matches('/');
        let root = if self.prefix.is_empty() {
            prefix.to_string()
        } else if prefix.is_empty() {
            self.prefix.clone()
        } else {
            format!("{}/{prefix}", self.prefix)
        };
        let root_path = if root.is_empty() {
            None
        } else {
            Some(Path::parse(&root).map_err(|e| StorageError::new("list", self.location(prefix), e))?)
        };
        let mut stream = self.store.list(root_path.as_ref());
        let mut keys = Vec::new();
        let strip = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        while let Some(item) = stream.next().await {
            let meta = item.map_err(|e| self.err("list", prefix, e))?;
            let full = meta.location.as_ref();
            if let Some(rel) = full.strip_prefix(strip.as_str()) {
                keys.push(rel.to_string());
            }
        }
        keys.sort();
        Ok(keys)
    }
}

struct S3Upload {
    store: Arc<AmazonS3>,
    path: Path,
    location: String,
    bucket: String,
    buf: Vec<u8>,
    multipart: Option<Box<dyn MultipartUpload>>,
    size: u64,
}

impl S3Upload {
    fn err(&self, op: &'static str, e: object_store::Error) -> StorageError {
        s3_error(op, self.location.clone(), &self.bucket, e)
    }

    async fn send_part(&mut self) -> Result<(), StorageError> {
        if self.multipart.is_none() {
            let up = self.store.put_multipart(&self.path).await.map_err(|e| self.err("write", e))?;
            self.multipart = Some(up);
        }
        let part = PutPayload::from(std::mem::take(&mut self.buf));
        let fut = match self.multipart.as_mut() {
            Some(up) => up.put_part(part),
            None => return Err(StorageError::new("write", self.location.clone(), "no multipart upload")),
        };
        fut.await.map_err(|e| self.err("write", e))
    }
}

#[async_trait]
impl Upload for S3Upload {
    async fn write(&mut self, data: Bytes) -> Result<(), StorageError> {
        self.size += data.len() as u64;
        self.buf.extend_from_slice(&data);
        if self.buf.len() >= PART_SIZE {
            self.send_part().await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> Result<u64, StorageError> {
        if self.multipart.is_none() {
            let payload = PutPayload::from(std::mem::take(&mut self.buf));
            self.store.put(&self.path, payload).await.map_err(|e| self.err("write", e))?;
            return Ok(self.size);
        }
        if !self.buf.is_empty() {
            self.send_part().await?;
        }
        let result = match self.multipart.as_mut() {
            Some(up) => up.complete().await,
            None => return Err(StorageError::new("finish", self.location.clone(), "no multipart upload")),
        };
        result.map_err(|e| self.err("finish", e))?;
        Ok(self.size)
    }

    async fn abort(mut self: Box<Self>) -> Result<(), StorageError> {
        match self.multipart.take() {
            Some(mut up) => up.abort().await.map_err(|e| self.err("abort", e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{S3Options, S3Storage, s3_error};
    use std::time::{Duration, Instant};

    fn env(pairs: &[(&str, &str)]) -> S3Options {
        S3Options { env: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), ..Default::default() }
    }

    fn open_error(options: &S3Options) -> String {
        match S3Storage::open("b", "p", options) {
            Ok(_) => panic!("opened"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn without_credentials_a_silent_metadata_service_fails_the_start_at_once() {
        // Closed: refused at once.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let endpoint = format!("http://{closed}");
        let e = open_error(&env(&[("AWS_METADATA_ENDPOINT", &endpoint)]));
        assert!(
            e.starts_with(&format!(
                "cannot use s3://b/p: no AWS credentials are set, and the instance metadata service at {endpoint} cannot \
                 be reached (Connection refused"
            )),
            "{e}"
        );
        assert!(e.contains("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"), "{e}");

        // Listening but never answering (what off-EC2 networks mostly do): a second, not the
        // three minutes of object_store's retries.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", silent.local_addr().unwrap());
        let started = Instant::now();
        let e = open_error(&env(&[("AWS_METADATA_ENDPOINT", &endpoint)]));
        assert!(e.contains(&format!("metadata service at {endpoint} did not answer within 1s")), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());

        // An answering service (as on EC2): the store opens and object_store takes it from there.
        let answering = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", answering.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut c, _) = answering.accept().unwrap();
            let mut buf = [0u8; 512];
            let _ = c.read(&mut buf);
            c.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n").unwrap();
        });
        assert!(S3Storage::open("b", "p", &env(&[("AWS_METADATA_ENDPOINT", &endpoint)])).is_ok());
        server.join().unwrap();

        // With keys (or another credential source) the service is not asked.
        let keys = env(&[
            ("AWS_METADATA_ENDPOINT", &format!("http://{closed}")),
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ]);
        assert!(S3Storage::open("b", "p", &keys).is_ok());
        let unsigned = env(&[("AWS_METADATA_ENDPOINT", &format!("http://{closed}")), ("AWS_SKIP_SIGNATURE", "true")]);
        assert!(S3Storage::open("b", "p", &unsigned).is_ok());
    }

    fn generic(text: &str) -> object_store::Error {
        object_store::Error::Generic { store: "S3", source: text.to_string().into() }
    }

    #[test]
    fn errors_name_the_fix() {
        let imds = "Error performing PUT http://169.254.169.254/latest/api/token in 2ms - Server returned non-2xx \
                    status code: 403 Forbidden";
        let e = s3_error("list", "s3://b/p".into(), "b", generic(imds)).to_string();
        assert!(
            e.starts_with("cannot list s3://b/p: Generic S3 error: Error performing PUT http://169.254.169.254/"),
            "{e}"
        );
        assert!(e.contains("no AWS credentials were found") && e.contains("AWS_ENDPOINT_URL"), "{e}");

        let e = s3_error("put", "s3://b/k".into(), "b", generic("NoSuchBucket: The specified bucket does not exist"));
        assert!(e.to_string().contains("aws s3 mb s3://b"), "{e}");
        let e = s3_error("get", "s3://b/k".into(), "b", generic("InvalidAccessKeyId")).to_string();
        assert!(e.contains("check AWS_ACCESS_KEY_ID"), "{e}");
        let e = s3_error("get", "s3://b/k".into(), "b", generic("something else"));
        assert!(e.fix.is_none(), "{e}");
    }
}
