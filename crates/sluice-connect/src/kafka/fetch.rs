//! The job source's own fetch client: Fetch requests to each partition leader, the responses'
//! record batches read in place (CRC-32C checked, decompressed, records walked without a copy
//! or an allocation per record), aborted transactions left out as a `read_committed` consumer
//! leaves them out.
//!
//! librdkafka still runs the consumer group (membership, rebalances, offset commits, the
//! transactional producer's offsets): the source assigns its partitions there and pauses them,
//! and this client reads them. Why: librdkafka makes an operation (an allocation, a reference,
//! a queue entry) of every record, which was a third of the job's CPU on the bench
//! (bench/stream/README.md); here a record costs a few varint reads.
//!
//! What it speaks: ApiVersions v0 once per connection, then Metadata (v4–v8), ListOffsets
//! (≤ v5, for `earliest`/`latest` starts and resets) and Fetch (≤ v11: topics by name, full
//! fetches without a session), each at the highest version both sides know; plaintext only
//! (the source keeps librdkafka's fetching for TLS and SASL). One blocking connection per
//! leader, all on the source thread: a Fetch goes to every leader at once, and a response not
//! complete when the caller's wait ends stays in flight for the next call.
//!
//! - A partition starts at an offset, or at its earliest or latest (for `read_committed`: last
//!   stable) offset; `OFFSET_OUT_OF_RANGE` resets it to the job's `starting_offsets` with a
//!   warning, as `auto.offset.reset` does in librdkafka.
//! - Leader changes and unknown partitions refresh the metadata; lost connections are made
//!   again; both with a growing back-off, the reason kept for [`Fetcher::last_error`]. A
//!   partition without a leader waits for a later metadata while the others are read.
//! - End of a partition: the fetch position reached the last stable offset (read_committed).
//! - A batch that is corrupt (CRC, layout, decompression) is an error the caller turns into a
//!   stop naming the partition and offsets: nothing after it is read, nothing is skipped.

use super::ClientSettings;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader, TopicName,
    fetch_request::{FetchPartition, FetchTopic},
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    metadata_request::MetadataRequestTopic,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use sluice_wire::batch::{self, BatchHeader, ControlType, HEADER_LEN};
use sluice_wire::records;
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Where a partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// At this offset.
    At(i64),
    /// At the earliest offset.
    Earliest,
    /// At the latest (last stable) offset.
    Latest,
}

/// What a fetch hands its record batches and partition ends to, in offset order per
/// partition.
pub(crate) trait Handler {
    /// The records at or after `from` of one record batch (`h`; `bytes`: the whole batch as
    /// fetched, validated, not a control batch). The job's source decompresses its records
    /// section whole into its own buffer (no value copied on its own). An error is the batch's:
    /// the fetch stops before it.
    fn batch(&mut self, partition: i32, h: &BatchHeader, bytes: &[u8], from: i64) -> Result<(), records::RecordsError>;
    /// The partition has been read to its (last stable) end.
    fn end(&mut self, partition: i32);
}

/// Why the fetcher cannot go on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum FetchError {
    /// A batch of the partition cannot be read.
    #[error(
        "partition {partition}, offsets {first}..={last}: {why}; the job stops before this batch so that \
         nothing is skipped (the group's committed offset stays before it)"
    )]
    Corrupt {
        /// Partition.
        partition: i32,
        /// The batch's first offset.
        first: i64,
        /// Its last offset.
        last: i64,
        /// What is wrong.
        why: String,
    },
    /// The broker refuses this client the topic.
    #[error("the broker refuses to serve partition {partition}: {code}")]
    Refused {
        /// Partition.
        partition: i32,
        /// The error's name.
        code: String,
    },
}

/// Settings read from the consumer's `-X` overrides (librdkafka's names and defaults; its 1 MiB
/// per partition, the Java consumer's too, is also the fastest here: with 8 MiB the bench's jobs
/// took 5% more CPU, their responses passing through the caches on the way to being decoded).
#[derive(Debug, Clone)]
pub(crate) struct FetchConfig {
    /// `bootstrap.servers`.
    pub bootstrap: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// The topic.
    pub topic: String,
    /// `fetch.wait.max.ms`.
    pub max_wait_ms: i32,
    /// `fetch.min.bytes`.
    pub min_bytes: i32,
    /// `fetch.max.bytes`.
    pub max_bytes: i32,
    /// `max.partition.fetch.bytes`.
    pub partition_max_bytes: i32,
    /// `isolation.level=read_committed`.
    pub read_committed: bool,
    /// Where `OFFSET_OUT_OF_RANGE` resets a partition (`auto.offset.reset`).
    pub reset: Start,
}

impl FetchConfig {
    /// The configuration from a consumer's settings, or `None` when they ask for what this
    /// client does not speak (TLS, SASL): then librdkafka fetches.
    pub(crate) fn from_settings(s: &ClientSettings, topic: &str, client_id: &str, reset: Start) -> Option<Self> {
        if s.get("security.protocol").is_some_and(|p| !p.eq_ignore_ascii_case("plaintext")) {
            return None;
        }
        let bootstrap: Vec<String> = s
            .get("bootstrap.servers")
            .or_else(|| s.get("metadata.broker.list"))?
            .split(',')
            .map(|b| b.trim().trim_start_matches("PLAINTEXT://").trim_start_matches("plaintext://").to_string())
            .filter(|b| !b.is_empty())
            .collect();
        if bootstrap.is_empty() {
            return None;
        }
        let num =
            |k: &str, d: i32| s.get(k).and_then(|v| v.trim().parse::<i32>().ok()).filter(|&v| v >= 0).unwrap_or(d);
        Some(FetchConfig {
            bootstrap,
            client_id: client_id.to_string(),
            topic: topic.to_string(),
            max_wait_ms: num("fetch.wait.max.ms", 500),
            min_bytes: num("fetch.min.bytes", 1),
            max_bytes: num("fetch.max.bytes", 52_428_800),
            partition_max_bytes: num("max.partition.fetch.bytes", 1 << 20),
            read_committed: s.get("isolation.level").is_none_or(|l| l != "read_uncommitted"),
            reset,
        })
    }
}

/// Largest response frame accepted.
const MAX_FRAME: usize = 512 << 20;
/// A connection's read buffer is used again for the next response unless the last frame was
/// larger than this.
const MAX_KEPT_RBUF: usize = 64 << 20;
/// First back-off after an error; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Connect and request timeout of the control requests (ApiVersions, Metadata, ListOffsets).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// The versions this client uses: the highest both sides know, if the broker knows one at or
/// above the lowest this client speaks.
#[derive(Debug, Clone, Copy)]
struct Versions {
    fetch: i16,
    metadata: i16,
    list_offsets: i16,
}

fn pick(resp: &ApiVersionsResponse, api: ApiKey, lowest: i16, highest: i16) -> Result<i16, String> {
    let k = resp
        .api_keys
        .iter()
        .find(|k| k.api_key == api as i16)
        .ok_or_else(|| format!("the broker does not serve {api:?}"))?;
    let v = k.max_version.min(highest);
    if v < lowest || v < k.min_version {
        return Err(format!(
            "the broker serves {api:?} v{}–v{}, this client needs v{lowest}–v{highest}",
            k.min_version, k.max_version
        ));
    }
    Ok(v)
}

/// What a Fetch asked for: per partition, (partition, generation, fetch offset).
type Asked = Vec<(i32, u64, i64)>;

/// One broker connection: blocking socket, a buffer of the response being read.
struct Conn {
    addr: String,
    stream: TcpStream,
    /// The length prefix of the frame being read: `head[..head_filled]`.
    head: [u8; 4],
    head_filled: usize,
    /// The frame being read (after its length prefix), read into the vector's spare capacity.
    frame: Vec<u8>,
    /// The last frame's memory, back from [`Conn::recycle`] for the next one.
    spare: Vec<u8>,
    next_id: i32,
    versions: Versions,
    /// The Fetch in flight: its correlation id, when it went, and each partition's (generation,
    /// fetch offset) it asked for.
    inflight: Option<(i32, Asked)>,
}

impl Conn {
    /// A connection over `stream`, with the lowest versions until ApiVersions is asked.
    fn new(addr: &str, stream: TcpStream) -> Conn {
        Conn {
            addr: addr.to_string(),
            stream,
            head: [0; 4],
            head_filled: 0,
            frame: Vec::new(),
            spare: Vec::new(),
            next_id: 0,
            versions: Versions { fetch: 4, metadata: 4, list_offsets: 1 },
            inflight: None,
        }
    }

    fn connect(addr: &str, client_id: &str) -> Result<Conn, String> {
        let mut last = format!("{addr} resolves to no address");
        let addrs = addr.to_socket_addrs().map_err(|e| format!("cannot resolve {addr}: {e}"))?;
        for a in addrs {
            match TcpStream::connect_timeout(&a, CONTROL_TIMEOUT) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let mut c = Conn::new(addr, stream);
                    let v: ApiVersionsResponse =
                        c.call(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default(), client_id)?;
                    if v.error_code != 0 {
                        return Err(format!("{addr} answered ApiVersions with error {}", v.error_code));
                    }
                    c.versions = Versions {
                        fetch: pick(&v, ApiKey::Fetch, 4, 11)?,
                        metadata: pick(&v, ApiKey::Metadata, 4, 8)?,
                        list_offsets: pick(&v, ApiKey::ListOffsets, 1, 5)?,
                    };
                    return Ok(c);
                }
                Err(e) => last = format!("cannot connect to {addr}: {e}"),
            }
        }
        Err(last)
    }

    /// Sends a request; its correlation id.
    fn send<R: Encodable>(&mut self, api: ApiKey, version: i16, req: &R, client_id: &str) -> Result<i32, String> {
        self.next_id = self.next_id.wrapping_add(1);
        let id = self.next_id;
        let mut buf = BytesMut::with_capacity(256);
        buf.put_i32(0);
        let mut header = RequestHeader::default();
        header.request_api_key = api as i16;
        header.request_api_version = version;
        header.correlation_id = id;
        header.client_id = Some(StrBytes::from_string(client_id.to_string()));
        let encoded =
            header.encode(&mut buf, api.request_header_version(version)).and_then(|()| req.encode(&mut buf, version));
        encoded.map_err(|e| format!("cannot encode a {api:?} request: {e}"))?;
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        self.stream.set_write_timeout(Some(CONTROL_TIMEOUT)).map_err(|e| e.to_string())?;
        self.stream.write_all(&buf).map_err(|e| format!("cannot send to {}: {e}", self.addr))?;
        Ok(id)
    }

    /// Reads until a whole response frame is here or `until` passes; the frame, or `None` on
    /// timeout (what was read stays buffered).
    ///
    /// The frame is read straight into the spare capacity of its own vector (`read_to_end`
    /// writes into memory not yet initialised, so no byte is zeroed first), exactly its length
    /// so nothing of the next frame is taken; the vector's memory comes back through
    /// [`Conn::recycle`] once the response has been applied, so no fresh pages are faulted in
    /// for every response.
    fn read_frame(&mut self, until: Instant) -> Result<Option<Bytes>, String> {
        // One read is tried even when `until` has passed (waiting a millisecond at most).
        let mut tried = false;
        loop {
            let len = if self.head_filled == 4 {
                let len = i32::from_be_bytes(self.head);
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= MAX_FRAME)
                    .ok_or_else(|| format!("{} sent a response frame of length {len}", self.addr))?;
                if self.frame.len() == len {
                    self.head_filled = 0;
                    return Ok(Some(Bytes::from(std::mem::take(&mut self.frame))));
                }
                Some(len)
            } else {
                None
            };
            let now = Instant::now();
            if tried && now >= until {
                return Ok(None);
            }
            tried = true;
            // At least a millisecond: a zero timeout means "block forever" to the socket.
            let wait = until.saturating_duration_since(now).max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
            let read = match len {
                None => self.stream.read(&mut self.head[self.head_filled..]).inspect(|&n| self.head_filled += n),
                Some(len) => {
                    if self.frame.capacity() == 0 {
                        self.frame = std::mem::take(&mut self.spare);
                        self.frame.clear();
                    }
                    self.frame.reserve(len - self.frame.len());
                    let rest = (len - self.frame.len()) as u64;
                    (&mut self.stream).take(rest).read_to_end(&mut self.frame)
                }
            };
            match read {
                Ok(0) => return Err(format!("{} closed the connection", self.addr)),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(format!("cannot read from {}: {e}", self.addr)),
            }
        }
    }

    /// Takes back the memory of a frame [`Conn::read_frame`] handed out, once nothing refers
    /// to it any more (an unusually large one is let go).
    fn recycle(&mut self, frame: Bytes) {
        if frame.len() <= MAX_KEPT_RBUF
            && let Ok(m) = frame.try_into_mut()
        {
            self.spare = Vec::from(m);
        }
    }

    /// Decodes a response frame to request `id` of `api` at `version`.
    fn decode<T: Decodable>(&self, mut frame: Bytes, api: ApiKey, version: i16, id: i32) -> Result<T, String> {
        let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))
            .map_err(|e| format!("{} sent an undecodable {api:?} response header: {e}", self.addr))?;
        if header.correlation_id != id {
            return Err(format!("{} answered request {} instead of {id}", self.addr, header.correlation_id));
        }
        T::decode(&mut frame, version)
            .map_err(|e| format!("{} sent an undecodable {api:?} v{version} response: {e}", self.addr))
    }

    /// A request and its response, with nothing else in flight.
    fn call<R: Encodable, T: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        req: &R,
        client_id: &str,
    ) -> Result<T, String> {
        debug_assert!(self.inflight.is_none());
        let id = self.send(api, version, req, client_id)?;
        let frame = self
            .read_frame(Instant::now() + CONTROL_TIMEOUT)?
            .ok_or_else(|| format!("{} did not answer {api:?} within {CONTROL_TIMEOUT:?}", self.addr))?;
        self.decode(frame, api, version, id)
    }
}

/// A partition being read.
#[derive(Debug, Clone)]
struct Part {
    /// Bumped on every (re)assignment: a response to a request made before is not applied.
    generation: u64,
    start: Start,
    leader: Option<i32>,
    /// The end at which [`Handler::end`] was last called.
    end_told: Option<i64>,
    /// Not fetched before this (after an error).
    not_before: Option<Instant>,
}

/// The fetch client of one topic. Not thread-safe: the source thread drives it.
pub(crate) struct Fetcher {
    config: FetchConfig,
    parts: BTreeMap<i32, Part>,
    generation: u64,
    /// Leaders' addresses by node id (from the last metadata).
    brokers: BTreeMap<i32, String>,
    conns: BTreeMap<i32, Conn>,
    /// A connection for metadata (the first bootstrap server that answers).
    bootstrap: Option<Conn>,
    metadata_stale: bool,
    /// A stale metadata is not refreshed before this (set while partitions wait for a leader).
    metadata_due: Option<Instant>,
    /// How long the next wait for a leader is (doubling while partitions have none).
    leader_wait: Duration,
    backoff: Duration,
    last_error: Option<String>,
    /// Per partition, the last stable offset (or high watermark) of the latest response.
    stable: BTreeMap<i32, i64>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").field("topic", &self.config.topic).field("parts", &self.parts).finish()
    }
}

impl Fetcher {
    pub(crate) fn new(config: FetchConfig) -> Self {
        Fetcher {
            config,
            parts: BTreeMap::new(),
            generation: 0,
            brokers: BTreeMap::new(),
            conns: BTreeMap::new(),
            bootstrap: None,
            metadata_stale: true,
            metadata_due: None,
            leader_wait: MIN_BACKOFF,
            backoff: MIN_BACKOFF,
            last_error: None,
            stable: BTreeMap::new(),
        }
    }

    /// Reads `partitions` from their starts (added to, or replacing, what is read).
    pub(crate) fn assign(&mut self, partitions: &[(i32, Start)]) {
        for &(p, start) in partitions {
            self.generation += 1;
            self.parts
                .insert(p, Part { generation: self.generation, start, leader: None, end_told: None, not_before: None });
        }
        self.metadata_stale = true;
    }

    /// Stops reading `partitions`; what is in flight for them is dropped when it comes.
    pub(crate) fn revoke(&mut self, partitions: &[i32]) {
        for p in partitions {
            self.parts.remove(p);
            self.stable.remove(p);
        }
    }

    /// Whether no partition is assigned (a poll would only sleep).
    pub(crate) fn is_idle(&self) -> bool {
        self.parts.is_empty()
    }

    /// The last error met (connection, metadata, broker error), if any.
    pub(crate) fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Per partition, the last stable offset the broker reported.
    pub(crate) fn stable(&self) -> &BTreeMap<i32, i64> {
        &self.stable
    }

    fn failed(&mut self, why: String) {
        tracing::debug!(topic = %self.config.topic, "fetch: {why}");
        self.last_error = Some(why);
        self.metadata_stale = true;
    }

    /// Fetches, waiting up to `timeout` for records, and hands what came to `on`. An `Err` is
    /// fatal (the caller stops); connection and leadership troubles are retried here.
    pub(crate) fn poll(&mut self, timeout: Duration, on: &mut impl Handler) -> Result<(), FetchError> {
        let until = Instant::now() + timeout;
        if self.parts.is_empty() {
            std::thread::sleep(timeout.min(Duration::from_millis(100)));
            return Ok(());
        }
        let now = Instant::now();
        let needs_control = (self.metadata_stale && self.metadata_due.is_none_or(|t| now >= t))
            || self.parts.values().any(|p| p.leader.is_some() && !matches!(p.start, Start::At(_)));
        if needs_control {
            // Control requests share the connections: finish what is in flight first.
            self.drain(until.max(Instant::now() + Duration::from_millis(self.config.max_wait_ms as u64 + 1000)), on)?;
            if let Err(why) = self.control() {
                self.failed(why);
                std::thread::sleep(self.backoff.min(timeout));
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                return Ok(());
            }
        }
        self.send_fetches();
        self.receive(until, on)
    }

    /// Waits for every in-flight response (up to `until`), applying them.
    fn drain(&mut self, until: Instant, on: &mut impl Handler) -> Result<(), FetchError> {
        while self.conns.values().any(|c| c.inflight.is_some()) {
            let before = self.conns.values().filter(|c| c.inflight.is_some()).count();
            self.receive(until, on)?;
            let after = self.conns.values().filter(|c| c.inflight.is_some()).count();
            if after == before && Instant::now() >= until {
                // Unanswered: drop those connections (their responses would come to nobody).
                self.conns.retain(|_, c| c.inflight.is_none());
                break;
            }
        }
        Ok(())
    }

    /// Metadata (leaders) and the offsets of partitions that start at their earliest/latest.
    fn control(&mut self) -> Result<(), String> {
        if self.metadata_stale && self.metadata_due.is_none_or(|t| Instant::now() >= t) {
            self.metadata_stale = false;
            self.metadata_due = None;
            if let Err(e) = self.refresh_metadata() {
                self.metadata_stale = true;
                return Err(e);
            }
        }
        let mut by_leader: BTreeMap<i32, Vec<(i32, i64)>> = BTreeMap::new();
        for (&p, part) in &self.parts {
            let ts = match part.start {
                Start::At(_) => continue,
                Start::Earliest => -2,
                Start::Latest => -1,
            };
            if let Some(l) = part.leader {
                by_leader.entry(l).or_default().push((p, ts));
            }
        }
        for (leader, parts) in by_leader {
            let req = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_isolation_level(i8::from(self.config.read_committed))
                .with_topics(vec![
                    ListOffsetsTopic::default()
                        .with_name(TopicName(StrBytes::from_string(self.config.topic.clone())))
                        .with_partitions(
                            parts
                                .iter()
                                .map(|&(p, ts)| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(p)
                                        .with_current_leader_epoch(-1)
                                        .with_timestamp(ts)
                                })
                                .collect(),
                        ),
                ]);
            let client_id = self.config.client_id.clone();
            let conn = self.conn(leader)?;
            let v = conn.versions.list_offsets;
            let resp: ListOffsetsResponse = conn.call(ApiKey::ListOffsets, v, &req, &client_id)?;
            for t in resp.topics.iter().filter(|t| t.name.0.as_str() == self.config.topic) {
                for r in &t.partitions {
                    if r.error_code != 0 {
                        return Err(format!(
                            "the offset lookup of partition {} failed: {}",
                            r.partition_index,
                            error_name(r.error_code)
                        ));
                    }
                    if let Some(part) = self.parts.get_mut(&r.partition_index)
                        && r.offset >= 0
                    {
                        part.start = Start::At(r.offset);
                    }
                }
            }
        }
        self.backoff = MIN_BACKOFF;
        Ok(())
    }

    fn conn(&mut self, node: i32) -> Result<&mut Conn, String> {
        if !self.conns.contains_key(&node) {
            let addr = self.brokers.get(&node).ok_or_else(|| format!("no address of broker {node}"))?.clone();
            let c = Conn::connect(&addr, &self.config.client_id)?;
            self.conns.insert(node, c);
        }
        Ok(self.conns.get_mut(&node).expect("inserted above"))
    }

    fn refresh_metadata(&mut self) -> Result<(), String> {
        let req = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(self.config.topic.clone())))),
            ]))
            // A job never creates its source topic (the field exists from v4; before, it did not).
            .with_allow_auto_topic_creation(false);
        let mut errors = Vec::new();
        // Any live connection answers metadata; else the bootstrap servers in turn.
        let mut resp: Option<MetadataResponse> = None;
        if let Some(c) = self.bootstrap.as_mut() {
            let v = c.versions.metadata;
            match c.call(ApiKey::Metadata, v, &req, &self.config.client_id) {
                Ok(r) => resp = Some(r),
                Err(e) => {
                    errors.push(e);
                    self.bootstrap = None;
                }
            }
        }
        if resp.is_none() {
            for addr in self.config.bootstrap.clone() {
                match Conn::connect(&addr, &self.config.client_id) {
                    Ok(mut c) => {
                        let v = c.versions.metadata;
                        match c.call(ApiKey::Metadata, v, &req, &self.config.client_id) {
                            Ok(r) => {
                                resp = Some(r);
                                self.bootstrap = Some(c);
                                break;
                            }
                            Err(e) => errors.push(e),
                        }
                    }
                    Err(e) => errors.push(e),
                }
            }
        }
        let resp = resp.ok_or_else(|| format!("no bootstrap server answered: {}", errors.join("; ")))?;
        self.brokers = resp.brokers.iter().map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port))).collect();
        // Connections to brokers that moved or left go.
        let brokers = &self.brokers;
        self.conns.retain(|id, c| brokers.get(id).is_some_and(|a| *a == c.addr));
        let topic = resp.topics.iter().find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == self.config.topic));
        for part in self.parts.values_mut() {
            part.leader = None;
        }
        if let Some(t) = topic {
            for p in &t.partitions {
                if let Some(part) = self.parts.get_mut(&p.partition_index)
                    && p.error_code == 0
                    && p.leader_id.0 >= 0
                {
                    part.leader = Some(p.leader_id.0);
                }
            }
        }
        // Partitions without a leader (an election, a broker restarting) wait for a later
        // metadata; the others are read meanwhile.
        let missing: Vec<i32> = self.parts.iter().filter(|(_, p)| p.leader.is_none()).map(|(&p, _)| p).collect();
        if !missing.is_empty() {
            self.last_error =
                Some(format!("no leader known for partitions {missing:?} of topic {}", self.config.topic));
            self.metadata_stale = true;
            self.metadata_due = Some(Instant::now() + self.leader_wait);
            self.leader_wait = (self.leader_wait * 2).min(MAX_BACKOFF);
        } else {
            self.leader_wait = MIN_BACKOFF;
        }
        Ok(())
    }

    /// A Fetch to every leader without one in flight.
    fn send_fetches(&mut self) {
        let now = Instant::now();
        let mut by_leader: BTreeMap<i32, Vec<(i32, u64, i64)>> = BTreeMap::new();
        let busy: HashSet<i32> = self.conns.iter().filter(|(_, c)| c.inflight.is_some()).map(|(&n, _)| n).collect();
        for (&p, part) in &self.parts {
            let (Start::At(offset), Some(leader)) = (part.start, part.leader) else { continue };
            if busy.contains(&leader) || part.not_before.is_some_and(|t| t > now) {
                continue;
            }
            by_leader.entry(leader).or_default().push((p, part.generation, offset));
        }
        for (leader, asked) in by_leader {
            // Until a partition's end has been told, its fetches do not wait for data: the
            // broker answers at once with the end, so a caught-up (or empty) partition is known
            // as such right away rather than after `fetch.wait.max.ms`.
            let eager = asked.iter().any(|(p, ..)| self.parts.get(p).is_some_and(|part| part.end_told.is_none()));
            let req = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(if eager { 0 } else { self.config.max_wait_ms })
                .with_min_bytes(self.config.min_bytes)
                .with_max_bytes(self.config.max_bytes)
                .with_isolation_level(i8::from(self.config.read_committed))
                .with_session_id(0)
                .with_session_epoch(-1)
                .with_topics(vec![
                    FetchTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(self.config.topic.clone())))
                        .with_partitions(
                            asked
                                .iter()
                                .map(|&(p, _, offset)| {
                                    FetchPartition::default()
                                        .with_partition(p)
                                        .with_current_leader_epoch(-1)
                                        .with_fetch_offset(offset)
                                        .with_log_start_offset(-1)
                                        .with_partition_max_bytes(self.config.partition_max_bytes)
                                })
                                .collect(),
                        ),
                ]);
            let client_id = self.config.client_id.clone();
            let sent = self.conn(leader).and_then(|c| {
                let v = c.versions.fetch;
                let id = c.send(ApiKey::Fetch, v, &req, &client_id)?;
                c.inflight = Some((id, asked));
                Ok(())
            });
            if let Err(why) = sent {
                self.conns.remove(&leader);
                self.failed(why);
            }
        }
    }

    /// Reads responses until one came or `until` passed: first without waiting on every
    /// connection, then waiting on the first one in flight.
    fn receive(&mut self, until: Instant, on: &mut impl Handler) -> Result<(), FetchError> {
        let nodes: Vec<i32> = self.conns.iter().filter(|(_, c)| c.inflight.is_some()).map(|(&n, _)| n).collect();
        let mut got = false;
        for (i, &node) in nodes.iter().enumerate() {
            let last = i + 1 == nodes.len();
            // Only the last waits, and only if nothing came from the others.
            let wait_until = if last && !got { until } else { Instant::now() };
            let Some(conn) = self.conns.get_mut(&node) else { continue };
            match conn.read_frame(wait_until) {
                Ok(None) => {}
                Ok(Some(frame)) => {
                    got = true;
                    let (id, asked) = conn.inflight.take().expect("in flight");
                    let v = conn.versions.fetch;
                    let memory = frame.clone();
                    match conn.decode::<FetchResponse>(frame, ApiKey::Fetch, v, id) {
                        Ok(resp) => {
                            self.apply(&resp, &asked, on)?;
                            drop(resp);
                            if let Some(conn) = self.conns.get_mut(&node) {
                                conn.recycle(memory);
                            }
                        }
                        Err(why) => {
                            self.conns.remove(&node);
                            self.failed(why);
                        }
                    }
                }
                Err(why) => {
                    self.conns.remove(&node);
                    self.failed(why);
                }
            }
        }
        if nodes.is_empty() {
            // Every partition waits out a back-off (or has no leader): sleep rather than spin.
            let now = Instant::now();
            let next = self.parts.values().filter_map(|p| p.not_before).min().unwrap_or(now + MIN_BACKOFF);
            std::thread::sleep(next.min(until).saturating_duration_since(now));
        }
        Ok(())
    }

    /// Applies a Fetch response: records, ends, errors.
    fn apply(
        &mut self,
        resp: &FetchResponse,
        asked: &[(i32, u64, i64)],
        on: &mut impl Handler,
    ) -> Result<(), FetchError> {
        if resp.error_code != 0 {
            self.failed(format!("fetch failed: {}", error_name(resp.error_code)));
            return Ok(());
        }
        let mut ok = true;
        let topic = self.config.topic.clone();
        for t in resp.responses.iter().filter(|t| t.topic.0.as_str() == topic) {
            for pd in &t.partitions {
                let p = pd.partition_index;
                let Some(&(_, generation, offset)) = asked.iter().find(|a| a.0 == p) else { continue };
                let Some(part) = self.parts.get_mut(&p) else { continue };
                if part.generation != generation || part.start != Start::At(offset) {
                    continue;
                }
                match pd.error_code {
                    0 => {}
                    1 => {
                        // OFFSET_OUT_OF_RANGE
                        tracing::warn!(%topic, partition = p, offset,
                            "offset {offset} is out of range (deleted by retention or not written yet): \
                             resetting to the {:?} offset", self.config.reset);
                        part.start = self.config.reset;
                        continue;
                    }
                    29 => {
                        return Err(FetchError::Refused { partition: p, code: error_name(29).to_string() });
                    }
                    code => {
                        part.not_before = Some(Instant::now() + self.backoff);
                        ok = false;
                        let why = format!("partition {p}: {}", error_name(code));
                        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                        self.failed(why);
                        continue;
                    }
                }
                part.not_before = None;
                let end = if self.config.read_committed && pd.last_stable_offset >= 0 {
                    pd.last_stable_offset
                } else {
                    pd.high_watermark
                };
                let aborted: Vec<(i64, i64)> =
                    pd.aborted_transactions.iter().flatten().map(|a| (a.producer_id.0, a.first_offset)).collect();
                let next = read_batches(
                    p,
                    offset,
                    pd.records.as_deref().unwrap_or_default(),
                    self.config.read_committed.then_some(aborted.as_slice()),
                    on,
                )?;
                part.start = Start::At(next);
                if end >= 0 {
                    self.stable.insert(p, end);
                }
                if next >= end && part.end_told != Some(next) {
                    part.end_told = Some(next);
                    on.end(p);
                }
            }
        }
        if ok {
            self.backoff = MIN_BACKOFF;
        }
        Ok(())
    }
}

/// Walks the record batches of one partition's fetch (`data`), handing records at or after
/// `from` to `on`; with `aborted` (read_committed: the response's aborted transactions, as
/// `(producer id, first offset)`), the records of aborted transactions are left out. Control
/// batches are never handed out. A partial batch at the end (the response's size limit) ends
/// the walk. Returns the next offset to fetch.
pub(crate) fn read_batches(
    partition: i32,
    from: i64,
    mut data: &[u8],
    aborted: Option<&[(i64, i64)]>,
    on: &mut impl Handler,
) -> Result<i64, FetchError> {
    let mut next = from;
    let mut pending_aborts: Vec<(i64, i64)> = aborted.map(<[_]>::to_vec).unwrap_or_default();
    pending_aborts.sort_by_key(|&(_, first)| std::cmp::Reverse(first));
    let mut aborting: HashSet<i64> = HashSet::new();
    while data.len() >= HEADER_LEN {
        let Ok(h) = BatchHeader::parse(data) else { break };
        let corrupt = |why: String| FetchError::Corrupt {
            partition,
            first: h.base_offset,
            last: h.base_offset.saturating_add(i64::from(h.last_offset_delta.max(0))),
            why,
        };
        if h.magic != 2 {
            return Err(corrupt(format!(
                "a message set of format v{} (before Kafka 0.11); sluice reads record batches (v2) only: \
                 set SLUICE_FETCH=librdkafka to read it with librdkafka",
                h.magic
            )));
        }
        if h.batch_length < 0 || data.len() < h.total_len() {
            // The last batch did not fit in the response.
            break;
        }
        let bytes = &data[..h.total_len()];
        data = &data[h.total_len()..];
        let h = batch::validate(bytes).map_err(|e| corrupt(e.to_string()))?;
        let last = h.last_offset();
        if last < next {
            continue;
        }
        while pending_aborts.last().is_some_and(|&(_, first)| first <= last) {
            if let Some((pid, _)) = pending_aborts.pop() {
                aborting.insert(pid);
            }
        }
        let skip = if h.is_control() {
            if aborting.contains(&h.producer_id) && batch::control_type(bytes) == Some(ControlType::Abort) {
                aborting.remove(&h.producer_id);
            }
            true
        } else {
            aborted.is_some() && h.is_transactional() && aborting.contains(&h.producer_id)
        };
        if !skip {
            on.batch(partition, &h, bytes, next).map_err(|e| corrupt(e.to_string()))?;
        }
        next = last + 1;
    }
    Ok(next)
}

/// The name of a Kafka error code, for messages.
fn error_name(code: i16) -> String {
    kafka_protocol::ResponseError::try_from_code(code)
        .map_or_else(|| format!("error {code}"), |e| format!("{e:?} ({code})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_wire::batch::{attributes, build, build_marker};

    /// A fetch's calls as values, for tests that hand a closure.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Event<'a> {
        /// A record.
        Record {
            /// Partition.
            partition: i32,
            /// Offset.
            offset: i64,
            /// Timestamp (ms).
            timestamp: i64,
            /// The value; `None` for a tombstone.
            value: Option<&'a [u8]>,
        },
        /// The partition has been read to its (last stable) end.
        End {
            /// Partition.
            partition: i32,
        },
    }

    impl<F: FnMut(Event<'_>)> Handler for F {
        fn batch(
            &mut self,
            partition: i32,
            h: &BatchHeader,
            bytes: &[u8],
            from: i64,
        ) -> Result<(), records::RecordsError> {
            let payload = records::decompress(h, bytes)?;
            for r in records::records(h, &payload) {
                let r = r?;
                if r.offset >= from {
                    self(Event::Record { partition, offset: r.offset, timestamp: r.timestamp, value: r.value });
                }
            }
            Ok(())
        }

        fn end(&mut self, partition: i32) {
            self(Event::End { partition });
        }
    }

    fn collect(data: &[u8], from: i64, aborted: Option<&[(i64, i64)]>) -> (Vec<(i64, Vec<u8>)>, i64) {
        let mut got = Vec::new();
        let next = read_batches(3, from, data, aborted, &mut |e: Event<'_>| {
            if let Event::Record { offset, value, partition, .. } = e {
                assert_eq!(partition, 3);
                got.push((offset, value.unwrap_or_default().to_vec()));
            }
        })
        .unwrap();
        (got, next)
    }

    fn plain(base: i64, values: &[&str]) -> Vec<u8> {
        let recs: Vec<_> = values.iter().map(|v| (None, Some(v.as_bytes()), 10)).collect();
        build(base, &recs, (-1, -1, -1), 0)
    }

    fn txn(base: i64, pid: i64, values: &[&str]) -> Vec<u8> {
        let recs: Vec<_> = values.iter().map(|v| (None, Some(v.as_bytes()), 10)).collect();
        build(base, &recs, (pid, 0, 0), attributes::TRANSACTIONAL)
    }

    fn marker(offset: i64, pid: i64, kind: ControlType) -> Vec<u8> {
        let mut m = build_marker(pid, 0, kind, 0, 10);
        batch::set_base_offset(&mut m, offset);
        m
    }

    /// A connection to a peer that writes `chunks` (frames cut anywhere) and then waits.
    fn conn_reading(chunks: Vec<Vec<u8>>) -> (Conn, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            for c in chunks {
                s.write_all(&c).unwrap();
                s.flush().unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
            // Until the reader is done (it closes the connection).
            let _ = s.read(&mut [0u8; 1]);
        });
        let conn = Conn::new(&addr.to_string(), TcpStream::connect(addr).unwrap());
        (conn, peer)
    }

    fn frame_of(payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as i32).to_be_bytes().to_vec();
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn frames_come_whole_however_they_are_cut_and_while_earlier_ones_are_held() {
        // Payloads of distinct bytes: small, large (several reads), empty, small.
        let payloads: Vec<Vec<u8>> = [10usize, 300_000, 0, 7, 200_000, 3]
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|j| (j * 31 + i * 7) as u8).collect())
            .collect();
        let wire: Vec<u8> = payloads.iter().flat_map(|p| frame_of(p)).collect();
        // Cut: two frames and a half in one write, a length split in two, the rest in pieces.
        let cuts = [10 + 4 + 4 + 150_000, 10 + 4 + 4 + 300_000 + 2, 10 + 4 + 4 + 300_000 + 4 + 4 + 9, wire.len()];
        let mut chunks = Vec::new();
        let mut at = 0;
        for c in cuts {
            chunks.push(wire[at..c].to_vec());
            at = c;
        }
        let (mut conn, peer) = conn_reading(chunks);
        let until = || Instant::now() + Duration::from_secs(10);
        // Frames 0 and 1 are still held when they are handed back (their memory must not be
        // taken for the next frames); the rest are handed back alone, and the next frame is
        // read into the last one's memory.
        let mut held = Vec::new();
        let mut last: Option<*const u8> = None;
        for (i, want) in payloads.iter().enumerate() {
            let got = conn.read_frame(until()).unwrap().expect("a frame within 10 s");
            assert_eq!(got.len(), want.len(), "frame {i}");
            assert!(got[..] == want[..], "frame {i}");
            if i == 5 {
                assert_eq!(Some(got.as_ptr()), last, "frame 5 reuses frame 4's memory");
            }
            last = Some(got.as_ptr());
            if i < 2 {
                held.push(got.clone());
            }
            conn.recycle(got);
        }
        for (i, h) in held.iter().enumerate() {
            assert!(h[..] == payloads[i][..], "held frame {i} was overwritten");
        }
        // Nothing more: a timeout, not an error.
        assert!(conn.read_frame(Instant::now() + Duration::from_millis(20)).unwrap().is_none());
        drop(conn);
        peer.join().unwrap();
    }

    #[test]
    fn records_from_the_fetch_offset_on_and_the_next_offset() {
        let mut data = plain(0, &["a", "b", "c"]);
        data.extend(plain(3, &["d"]));
        let (got, next) = collect(&data, 1, None);
        assert_eq!(got, vec![(1, b"b".to_vec()), (2, b"c".to_vec()), (3, b"d".to_vec())]);
        assert_eq!(next, 4);
    }

    #[test]
    fn a_partial_last_batch_ends_the_walk() {
        let mut data = plain(0, &["a"]);
        let second = plain(1, &["b", "c"]);
        data.extend_from_slice(&second[..second.len() - 3]);
        let (got, next) = collect(&data, 0, None);
        assert_eq!(got, vec![(0, b"a".to_vec())]);
        assert_eq!(next, 1);
    }

    #[test]
    fn aborted_transactions_are_left_out_when_read_committed() {
        // pid 7 aborts offsets 0..=1 (marker at 2); pid 8 commits 3 (marker at 4); pid 7 then
        // commits 5 (marker at 6): only its aborted batch goes.
        let mut data = txn(0, 7, &["x1", "x2"]);
        data.extend(marker(2, 7, ControlType::Abort));
        data.extend(txn(3, 8, &["ok"]));
        data.extend(marker(4, 8, ControlType::Commit));
        data.extend(txn(5, 7, &["later"]));
        data.extend(marker(6, 7, ControlType::Commit));
        let (got, next) = collect(&data, 0, Some(&[(7, 0)]));
        assert_eq!(got, vec![(3, b"ok".to_vec()), (5, b"later".to_vec())]);
        assert_eq!(next, 7);
        // read_uncommitted: everything but the markers.
        let (got, _) = collect(&data, 0, None);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![0, 1, 3, 5]);
    }

    #[test]
    fn a_corrupt_batch_stops_with_its_offsets() {
        let mut data = plain(0, &["a"]);
        let mut bad = plain(1, &["b", "c"]);
        let n = bad.len();
        bad[n - 1] ^= 0xff;
        data.extend(bad);
        let mut got = Vec::new();
        let err = read_batches(0, 0, &data, None, &mut |e: Event<'_>| got.push(format!("{e:?}"))).unwrap_err();
        assert_eq!(got.len(), 1, "the good batch before it is handed out");
        match err {
            FetchError::Corrupt { partition: 0, first: 1, last: 2, why } => {
                assert!(why.contains("CRC") || why.contains("crc"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut data = plain(0, &["a", "b"]);
        data.extend(txn(2, 5, &["c"]));
        for i in 0..data.len() {
            for bit in [0, 3, 7] {
                let mut d = data.clone();
                d[i] ^= 1 << bit;
                let _ = read_batches(0, 0, &d, Some(&[(5, 2)]), &mut |_: Event<'_>| {});
            }
            let _ = read_batches(0, 0, &data[..i], None, &mut |_: Event<'_>| {});
        }
    }

    #[test]
    fn settings_choose_the_client() {
        let s = ClientSettings::new("127.0.0.1:9092, 127.0.0.1:9093");
        let c = FetchConfig::from_settings(&s, "t", "c", Start::Earliest).unwrap();
        assert_eq!(c.bootstrap, vec!["127.0.0.1:9092", "127.0.0.1:9093"]);
        assert!(c.read_committed);
        let mut tls = s.clone();
        tls.set("security.protocol", "SSL");
        assert!(FetchConfig::from_settings(&tls, "t", "c", Start::Earliest).is_none());
        let mut plain = s;
        plain.set("security.protocol", "PLAINTEXT");
        plain.set("fetch.wait.max.ms", "20");
        assert_eq!(FetchConfig::from_settings(&plain, "t", "c", Start::Latest).unwrap().max_wait_ms, 20);
    }

    // --- against a real broker -----------------------------------------------------------

    use rdkafka::ClientConfig;
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use sluice_testkit::TestBroker;

    async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
        let admin: AdminClient<_> = ClientConfig::new().set("bootstrap.servers", bootstrap).create().unwrap();
        let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let r = admin.create_topics([&t], &AdminOptions::new()).await.unwrap();
        assert!(r.iter().all(Result::is_ok), "{r:?}");
    }

    /// Runs `body` (blocking: the fetcher's sockets are std's) with the bootstrap address of a
    /// fresh broker holding `topic` with `partitions` partitions.
    async fn with_topic(topic: &str, partitions: i32, body: impl FnOnce(String) + Send + 'static) {
        let broker = TestBroker::start().await;
        let b = broker.bootstrap();
        create_topic(&b, topic, partitions).await;
        tokio::task::spawn_blocking(move || body(b)).await.unwrap();
    }

    /// `n` records `"<tag>-<i>"`, spread over the partitions by key, lz4-compressed batches.
    fn produce(bootstrap: &str, topic: &str, tag: &str, n: usize) {
        let p: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("compression.type", "lz4")
            .set("linger.ms", "5")
            .create()
            .unwrap();
        for i in 0..n {
            let v = format!("{tag}-{i}");
            let k = format!("k{i}");
            p.send(BaseRecord::to(topic).payload(&v).key(&k)).unwrap();
        }
        p.flush(Duration::from_secs(30)).unwrap();
    }

    /// Polls until every one of `parts` has ended with at least `want` records in all (or 30 s):
    /// the values per partition, in the order handed out.
    fn read_until(f: &mut Fetcher, parts: &[i32], want: usize) -> BTreeMap<i32, Vec<(i64, String)>> {
        let mut got: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
        let mut ended: HashSet<i32> = HashSet::new();
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            f.poll(Duration::from_millis(50), &mut |e: Event<'_>| match e {
                Event::Record { partition, offset, value, .. } => {
                    ended.remove(&partition);
                    let v = String::from_utf8(value.unwrap().to_vec()).unwrap();
                    got.entry(partition).or_default().push((offset, v));
                }
                Event::End { partition } => {
                    ended.insert(partition);
                }
            })
            .unwrap();
            if parts.iter().all(|p| ended.contains(p)) && got.values().map(Vec::len).sum::<usize>() >= want {
                break;
            }
        }
        got
    }

    fn config(bootstrap: &str, topic: &str) -> FetchConfig {
        let mut c =
            FetchConfig::from_settings(&ClientSettings::new(bootstrap), topic, "fetch-test", Start::Earliest).unwrap();
        c.max_wait_ms = 50;
        // Small responses: many fetches, partial batches at their ends.
        c.partition_max_bytes = 700;
        c
    }

    fn values(got: &BTreeMap<i32, Vec<(i64, String)>>) -> Vec<String> {
        let mut all: Vec<String> = got.values().flatten().map(|(_, v)| v.clone()).collect();
        all.sort();
        all
    }

    fn expected(tag: &str, n: usize) -> Vec<String> {
        let mut v: Vec<String> = (0..n).map(|i| format!("{tag}-{i}")).collect();
        v.sort();
        v
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_from_earliest_latest_and_out_of_range_offsets() {
        with_topic("f", 2, |b| {
            produce(&b, "f", "a", 500);
            let mut f = Fetcher::new(config(&b, "f"));
            f.assign(&[(0, Start::Earliest), (1, Start::Earliest)]);
            let got = read_until(&mut f, &[0, 1], 500);
            assert_eq!(values(&got), expected("a", 500));
            for recs in got.values() {
                // Every offset once, in order, from 0.
                let offsets: Vec<i64> = recs.iter().map(|r| r.0).collect();
                assert_eq!(offsets, (0..recs.len() as i64).collect::<Vec<_>>());
            }
            assert_eq!(f.stable().values().sum::<i64>(), 500);

            // Latest: nothing of the 500, then what comes after.
            let mut f = Fetcher::new(config(&b, "f"));
            f.assign(&[(0, Start::Latest), (1, Start::Latest)]);
            assert!(read_until(&mut f, &[0, 1], 0).is_empty());
            produce(&b, "f", "b", 40);
            assert_eq!(values(&read_until(&mut f, &[0, 1], 40)), expected("b", 40));

            // An offset past the end resets to `auto.offset.reset` (earliest here).
            let mut f = Fetcher::new(config(&b, "f"));
            f.assign(&[(0, Start::At(1_000_000)), (1, Start::At(0))]);
            let got = read_until(&mut f, &[0, 1], 540);
            assert_eq!(got.values().map(Vec::len).sum::<usize>(), 540);

            // A revoked partition is not read any more; the other goes on.
            let at1 = got[&1].len() as i64;
            f.revoke(&[0]);
            produce(&b, "f", "c", 40);
            let got = read_until(&mut f, &[1], 1);
            assert!(!got.contains_key(&0), "{got:?}");
            assert!(got[&1].iter().all(|(o, v)| *o >= at1 && v.starts_with("c-")), "{got:?}");
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_end_of_a_read_partition_is_told_without_waiting_for_data() {
        with_topic("e", 2, |b| {
            produce(&b, "e", "a", 30);
            let mut f = Fetcher::new(config(&b, "e"));
            f.assign(&[(0, Start::Earliest), (1, Start::Earliest)]);
            let got = read_until(&mut f, &[0, 1], 30);
            assert_eq!(values(&got), expected("a", 30));
            // From the ends, with fetches that would wait a minute for data: both ends are told
            // within the first polls.
            let mut c = config(&b, "e");
            c.max_wait_ms = 60_000;
            let mut f = Fetcher::new(c);
            f.assign(&got.iter().map(|(&p, recs)| (p, Start::At(recs.len() as i64))).collect::<Vec<_>>());
            let mut ended = HashSet::new();
            let until = Instant::now() + Duration::from_secs(10);
            while ended.len() < 2 && Instant::now() < until {
                f.poll(Duration::from_millis(50), &mut |e: Event<'_>| match e {
                    Event::End { partition } => {
                        ended.insert(partition);
                    }
                    Event::Record { .. } => panic!("a record past the end"),
                })
                .unwrap();
            }
            assert_eq!(ended.len(), 2, "ends told: {ended:?}");
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_partition_without_a_leader_does_not_hold_the_others_back() {
        with_topic("l", 1, |b| {
            produce(&b, "l", "a", 50);
            let mut f = Fetcher::new(config(&b, "l"));
            // Partition 3 does not exist: the metadata names no leader for it.
            f.assign(&[(0, Start::Earliest), (3, Start::Earliest)]);
            assert_eq!(values(&read_until(&mut f, &[0], 50)), expected("a", 50));
            assert!(
                f.last_error().is_some_and(|e| e.contains("no leader known for partitions [3]")),
                "{:?}",
                f.last_error()
            );
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn goes_on_after_the_broker_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let broker = TestBroker::start_in(dir.path(), Default::default()).await;
        let b = broker.bootstrap();
        create_topic(&b, "r", 1).await;
        let b2 = b.clone();
        let mut f = tokio::task::spawn_blocking(move || {
            produce(&b2, "r", "a", 100);
            let mut f = Fetcher::new(config(&b2, "r"));
            f.assign(&[(0, Start::Earliest)]);
            assert_eq!(values(&read_until(&mut f, &[0], 100)), expected("a", 100));
            f
        })
        .await
        .unwrap();
        broker.shutdown().await;
        // Down: polls fail quietly (the reason is kept), nothing is handed out.
        f = tokio::task::spawn_blocking(move || {
            let mut n = 0;
            for _ in 0..5 {
                f.poll(Duration::from_millis(50), &mut |e: Event<'_>| {
                    n += usize::from(matches!(e, Event::Record { .. }))
                })
                .unwrap();
            }
            assert_eq!(n, 0);
            assert!(f.last_error().is_some());
            f
        })
        .await
        .unwrap();
        // Up again on the same port with the same data: reading goes on from where it was.
        let listener = tokio::net::TcpListener::bind(&b).await.unwrap();
        let config = sluice_broker::BrokerConfig { data_dir: Some(dir.path().to_path_buf()), ..Default::default() };
        let handle = sluice_broker::start(listener, config).unwrap();
        tokio::task::spawn_blocking(move || {
            produce(&b, "r", "b", 30);
            let got = read_until(&mut f, &[0], 30);
            assert_eq!(values(&got), expected("b", 30));
            assert_eq!(got[&0].first().map(|r| r.0), Some(100));
        })
        .await
        .unwrap();
        handle.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn read_committed_leaves_aborted_transactions_out() {
        with_topic("t", 1, |b| {
            let p: BaseProducer = ClientConfig::new()
                .set("bootstrap.servers", &b)
                .set("transactional.id", "fetch-test")
                .set("compression.type", "lz4")
                .create()
                .unwrap();
            p.init_transactions(Duration::from_secs(30)).unwrap();
            for (tag, commit) in [("gone", false), ("kept", true), ("gone2", false), ("kept2", true)] {
                p.begin_transaction().unwrap();
                for i in 0..20 {
                    let v = format!("{tag}-{i}");
                    p.send(BaseRecord::<(), _>::to("t").payload(&v)).unwrap();
                }
                p.flush(Duration::from_secs(30)).unwrap();
                if commit {
                    p.commit_transaction(Duration::from_secs(30)).unwrap();
                } else {
                    p.abort_transaction(Duration::from_secs(30)).unwrap();
                }
            }
            let mut want = expected("kept", 20);
            want.extend(expected("kept2", 20));
            want.sort();
            let mut f = Fetcher::new(config(&b, "t"));
            f.assign(&[(0, Start::Earliest)]);
            assert_eq!(values(&read_until(&mut f, &[0], 40)), want);
            // read_uncommitted: all 80 records, none of the 4 markers.
            let mut c = config(&b, "t");
            c.read_committed = false;
            let mut f = Fetcher::new(c);
            f.assign(&[(0, Start::Earliest)]);
            assert_eq!(read_until(&mut f, &[0], 80).values().map(Vec::len).sum::<usize>(), 80);
        })
        .await;
    }
}
