//! A minimal Kafka protocol client over a real socket, for tests that need exact control of
//! API versions and request bytes (real clients negotiate and hide both).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One connection to a broker.
#[derive(Debug)]
pub struct KafkaConn {
    stream: TcpStream,
    correlation_id: i32,
}

impl KafkaConn {
    /// Connects to `addr` (`host:port`).
    pub async fn connect(addr: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(KafkaConn { stream, correlation_id: 0 })
    }

    /// Encodes a request frame (length prefix, header, body) without sending it.
    pub fn encode(api: ApiKey, version: i16, correlation_id: i32, req: &RequestKind) -> anyhow::Result<BytesMut> {
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        let mut header = RequestHeader::default();
        header.request_api_key = api as i16;
        header.request_api_version = version;
        header.correlation_id = correlation_id;
        header.client_id = Some(StrBytes::from_static_str("sluice-testkit"));
        header.encode(&mut buf, api.request_header_version(version))?;
        req.encode(&mut buf, version)?;
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        Ok(buf)
    }

    /// Sends raw bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads one response frame body (after the length prefix); `None` when the broker closed.
    pub async fn read_frame(&mut self) -> std::io::Result<Option<Bytes>> {
        let mut len = [0u8; 4];
        match self.stream.read_exact(&mut len).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = i32::from_be_bytes(len);
        if !(0..=256 * 1024 * 1024).contains(&len) {
            return Err(std::io::Error::other(format!("response frame length {len}")));
        }
        let mut body = vec![0u8; len as usize];
        self.stream.read_exact(&mut body).await?;
        Ok(Some(Bytes::from(body)))
    }

    /// Sends a request at `version` and decodes the response.
    pub async fn request(&mut self, version: i16, req: RequestKind) -> anyhow::Result<ResponseKind> {
        let api = api_key_of(&req);
        self.correlation_id += 1;
        let id = self.correlation_id;
        let frame = Self::encode(api, version, id, &req)?;
        self.send_raw(&frame).await?;
        let mut body = self
            .read_frame()
            .await?
            .ok_or_else(|| anyhow::anyhow!("broker closed the connection after {api:?} v{version}"))?;
        let header = ResponseHeader::decode(&mut body, api.response_header_version(version))?;
        anyhow::ensure!(header.correlation_id == id, "correlation id {} != {id}", header.correlation_id);
        let resp = ResponseKind::decode(api, &mut body, version)?;
        anyhow::ensure!(!body.has_remaining(), "{} bytes left after {api:?} v{version} response", body.remaining());
        Ok(resp)
    }
}

/// The API key of a request.
pub fn api_key_of(req: &RequestKind) -> ApiKey {
    macro_rules! keys {
        ($($v:ident),* $(,)?) => {
            match req {
                $(RequestKind::$v(_) => ApiKey::$v,)*
                _ => ApiKey::ApiVersions,
            }
        };
    }
    keys!(
        Produce,
        Fetch,
        ListOffsets,
        Metadata,
        OffsetCommit,
        OffsetFetch,
        FindCoordinator,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        ApiVersions,
        CreateTopics,
        DeleteTopics,
        DeleteRecords,
        InitProducerId,
        OffsetForLeaderEpoch,
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        EndTxn,
        TxnOffsetCommit,
        DescribeConfigs,
        AlterConfigs,
        CreatePartitions,
        DeleteGroups,
        IncrementalAlterConfigs,
        OffsetDelete,
        DescribeCluster,
        DescribeProducers,
        DescribeTransactions,
        ListTransactions,
        ConsumerGroupHeartbeat,
    )
}
