//! A registry on a real broker, for the tests.

pub(crate) use sluice_testkit::{TestBroker, TestRegistry};

/// A broker and a registry on it.
pub(crate) struct Env {
    /// Kept alive for the registry.
    _broker: TestBroker,
    pub(crate) registry: TestRegistry,
    pub(crate) http: reqwest::Client,
}

impl Env {
    pub(crate) async fn start() -> Env {
        let broker = TestBroker::start().await;
        let registry = TestRegistry::start(&broker.bootstrap()).await;
        Env { _broker: broker, registry, http: reqwest::Client::new() }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.registry.url(), path)
    }

    /// (status, parsed JSON body)
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        call(&self.http, &self.url(path), method, body).await
    }
}

pub(crate) async fn call(
    http: &reqwest::Client,
    url: &str,
    method: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = http.request(m, url);
    if let Some(b) = body {
        req = req.header("content-type", "application/vnd.schemaregistry.v1+json").body(b.to_string());
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {url}: body {text:?} is not JSON: {e}"));
    (status, json)
}

pub(crate) const USER_EVENT: &str = "syntax = \"proto3\";\npackage protobuf;\nmessage UserEvent { string userId = 1; string action = 2; double value = 3; }";

pub(crate) fn proto(schema: &str) -> serde_json::Value {
    serde_json::json!({ "schemaType": "PROTOBUF", "schema": schema })
}
