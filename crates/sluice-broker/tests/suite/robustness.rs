//! Hostile input never panics the broker: random bytes, frames with random bodies for every API
//! and version, valid requests truncated or with bytes flipped, and oversized length prefixes.
//! After each case a new connection must still get an ApiVersions answer, and no thread of the
//! test process (the broker runs in it) may have panicked.

use super::versions::sample;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestKind, ResponseKind};
use proptest::prelude::*;
use sluice_testkit::TestBroker;
use sluice_testkit::client::KafkaConn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt;

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// Sends `bytes` on a new connection, drains whatever comes back for a moment, then checks that
/// the broker still serves a new connection.
async fn hit(addr: &str, bytes: &[u8]) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = tokio::io::AsyncWriteExt::write_all(&mut stream, bytes).await;
    let mut sink = vec![0u8; 64 * 1024];
    let _ = tokio::time::timeout(Duration::from_millis(50), async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    drop(stream);
    let mut conn = KafkaConn::connect(addr).await.unwrap();
    let r = conn.request(3, RequestKind::ApiVersions(ApiVersionsRequest::default())).await.unwrap();
    assert!(matches!(r, ResponseKind::ApiVersions(a) if a.error_code == 0));
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    broker: TestBroker,
    topic_id: uuid::Uuid,
}

fn fixture() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        count_panics();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let broker = rt.block_on(async {
            let config = sluice_broker::BrokerConfig { max_request_bytes: 1 << 20, ..Default::default() };
            TestBroker::start_with(config).await
        });
        let topic_id = broker.broker().auto_create("sweep").unwrap().id;
        broker.broker().auto_create("grow").unwrap();
        Fixture { rt, broker, topic_id }
    })
}

fn served() -> Vec<(ApiKey, i16, i16)> {
    sluice_broker::apis::supported_list()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let f = fixture();
        f.rt.block_on(hit(&f.broker.bootstrap(), &bytes));
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn random_bodies_for_every_api(which in any::<prop::sample::Index>(), v in 0i16..20,
                                   body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let f = fixture();
        let apis = served();
        let (api, min, max) = apis[which.index(apis.len())];
        let version = min + v % (max - min + 1);
        let mut frame = Vec::new();
        frame.extend_from_slice(&(api as i16).to_be_bytes());
        frame.extend_from_slice(&version.to_be_bytes());
        frame.extend_from_slice(&1i32.to_be_bytes());
        frame.extend_from_slice(&body);
        f.rt.block_on(hit(&f.broker.bootstrap(), &framed(&frame)));
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn valid_requests_truncated_or_flipped(which in any::<prop::sample::Index>(), v in 0i16..20,
                                          cut in any::<prop::sample::Index>(), flip in any::<prop::sample::Index>(),
                                          byte in any::<u8>(), truncate in any::<bool>()) {
        let f = fixture();
        let apis = served();
        let (api, min, max) = apis[which.index(apis.len())];
        let lowest = if api == ApiKey::Produce { 3 } else { min };
        let version = lowest + v % (max - lowest + 1);
        let Some(req) = sample(api, version, f.topic_id, "fuzz") else { return Ok(()) };
        let encoded = KafkaConn::encode(api, version, 9, &req).unwrap();
        let body = &encoded[4..];
        let mangled: Vec<u8> = if truncate {
            body[..cut.index(body.len())].to_vec()
        } else {
            let mut b = body.to_vec();
            let i = flip.index(b.len());
            b[i] ^= byte | 1;
            b
        };
        f.rt.block_on(hit(&f.broker.bootstrap(), &framed(&mangled)));
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn oversized_and_negative_length_prefixes(len in prop_oneof![(1i32 << 20) + 1..i32::MAX, i32::MIN..0]) {
        let f = fixture();
        let mut frame = len.to_be_bytes().to_vec();
        frame.extend_from_slice(&[0, 18, 0, 3, 0, 0, 0, 1]);
        f.rt.block_on(hit(&f.broker.bootstrap(), &frame));
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0);
    }
}
