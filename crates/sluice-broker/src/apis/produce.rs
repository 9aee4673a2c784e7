//! Produce: validate each partition's record batch, check idempotent sequences, append, ack.

use super::util::s;
use crate::log::compaction;
use crate::producers::SequenceCheck;
use crate::server::now_ms;
use crate::state::{ApiError, Broker, Topic, lock, read};
use crate::topic_config;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use sluice_wire::batch::{self, BatchError, BatchHeader};
use std::sync::Arc;

pub(super) async fn handle(broker: &Arc<Broker>, req: ProduceRequest, version: i16) -> Option<ProduceResponse> {
    let acks = req.acks;
    let mut resp = ProduceResponse::default();
    let mut appended = false;
    for td in req.topic_data {
        let topic = if version >= 13 { broker.topic_by_id(td.topic_id) } else { broker.topic(td.name.0.as_str()) };
        let mut tr = TopicProduceResponse::default();
        tr.name = td.name.clone();
        tr.topic_id = td.topic_id;
        for pd in td.partition_data {
            let mut pr = PartitionProduceResponse::default();
            pr.index = pd.index;
            pr.base_offset = -1;
            pr.log_append_time_ms = -1;
            pr.log_start_offset = -1;
            let result = if !matches!(acks, -1..=1) {
                Err(ApiError::new(ResponseError::InvalidRequiredAcks, format!("acks={acks} is not one of -1, 0, 1")))
            } else {
                match &topic {
                    None if version >= 13 => Err(ResponseError::UnknownTopicId.into()),
                    None => Err(ResponseError::UnknownTopicOrPartition.into()),
                    Some(t) if t.is_internal() => Err(ApiError::new(
                        ResponseError::InvalidTopicException,
                        format!("Cannot append to internal topic {}", t.name),
                    )),
                    Some(t) => match refuse_keyless(broker, t, pd.index, pd.records.as_ref()) {
                        Some((e, record_errors, log_start_offset)) => {
                            pr.record_errors = record_errors;
                            pr.log_start_offset = log_start_offset;
                            Err(e)
                        }
                        None => append(broker, t, pd.index, pd.records),
                    },
                }
            };
            match result {
                Ok(done) => {
                    appended |= done.appended;
                    pr.base_offset = done.base_offset;
                    pr.log_append_time_ms = done.log_append_time;
                    pr.log_start_offset = done.log_start_offset;
                }
                Err(e) => {
                    pr.error_code = e.code;
                    pr.error_message = e.message.map(s);
                }
            }
            tr.partition_responses.push(pr);
        }
        resp.responses.push(tr);
    }
    if appended {
        broker.appended.notify_waiters();
    }
    (acks != 0).then_some(resp)
}

struct Appended {
    appended: bool,
    base_offset: i64,
    log_append_time: i64,
    log_start_offset: i64,
}

fn batch_error(e: BatchError) -> ApiError {
    match e {
        BatchError::Magic(m) => ApiError::new(
            ResponseError::InvalidRecord,
            format!("Produce requests with version 3+ may only contain record batches with magic 2, got magic {m}"),
        ),
        other => ApiError::new(ResponseError::CorruptMessage, other.to_string()),
    }
}

/// A compacted topic refuses records without a key (Kafka's `LogValidator.validateKey`): the
/// error, one entry per such record and the log start offset (Kafka sends it with this error).
/// Only compacted topics pay for decoding the records; batches that are not valid are left to
/// `append` to refuse.
fn refuse_keyless(
    broker: &Broker,
    topic: &Topic,
    index: i32,
    records: Option<&Bytes>,
) -> Option<(ApiError, Vec<BatchIndexAndErrorMessage>, i64)> {
    let records = records?;
    let partition = topic.partition(index)?;
    let compacted = {
        let configs = read(&topic.configs);
        topic_config::effective(&configs, &broker.topic_defaults, "cleanup.policy")
            .is_some_and(compaction::is_compacted)
    };
    if !compacted {
        return None;
    }
    let header = batch::validate(records).ok().filter(|h| h.total_len() == records.len())?;
    match compaction::keyless_records(&header, records) {
        Ok(keyless) if keyless.is_empty() => None,
        Ok(keyless) => {
            let (summary, errors) = compaction::keyless_rejection(&topic.name, index, &keyless);
            let errors = errors
                .into_iter()
                .map(|(i, m)| {
                    let mut e = BatchIndexAndErrorMessage::default();
                    e.batch_index = i;
                    e.batch_index_error_message = Some(s(m));
                    e
                })
                .collect();
            let start = lock(&partition.state).log.log_start_offset();
            Some((ApiError::new(ResponseError::InvalidRecord, summary), errors, start))
        }
        Err(e) => Some((
            ApiError::new(
                ResponseError::CorruptMessage,
                format!("cannot read the records of a batch for compacted topic {}: {e}", topic.name),
            ),
            Vec::new(),
            -1,
        )),
    }
}

fn append(broker: &Broker, topic: &Topic, index: i32, records: Option<Bytes>) -> Result<Appended, ApiError> {
    let partition = topic.partition(index).ok_or(ApiError::from(ResponseError::UnknownTopicOrPartition))?;
    let records =
        records.ok_or_else(|| ApiError::new(ResponseError::CorruptMessage, "produce request without records"))?;
    let mut walk = batch::walk(&records);
    let header: BatchHeader = match walk.next() {
        None => return Err(ApiError::new(ResponseError::CorruptMessage, "produce request with an empty record set")),
        Some(r) => r.map_err(batch_error)?.1,
    };
    if walk.next().is_some() || header.total_len() != records.len() {
        return Err(ApiError::new(
            ResponseError::InvalidRecord,
            "Produce requests with version 3+ may contain exactly one record batch per partition",
        ));
    }
    let max = broker.topic_config_int(topic, "max.message.bytes", 1_048_588);
    if header.total_len() as i64 > max {
        return Err(ApiError::new(
            ResponseError::MessageTooLarge,
            format!(
                "The record batch is {} bytes, larger than the topic's max.message.bytes {max}",
                header.total_len()
            ),
        ));
    }
    let now = now_ms();
    let after_max = broker.topic_config_int(topic, "message.timestamp.after.max.ms", i64::MAX);
    let before_max = broker.topic_config_int(topic, "message.timestamp.before.max.ms", i64::MAX);
    let log_append = broker.topic_config_str(topic, "message.timestamp.type") == "LogAppendTime";
    if !log_append && !header.is_control() {
        if header.max_timestamp.saturating_sub(now) > after_max {
            return Err(ApiError::new(
                ResponseError::InvalidTimestamp,
                format!(
                    "Timestamp {} is more than message.timestamp.after.max.ms={after_max} in the future",
                    header.max_timestamp
                ),
            ));
        }
        if header.base_timestamp >= 0 && now.saturating_sub(header.base_timestamp) > before_max {
            return Err(ApiError::new(
                ResponseError::InvalidTimestamp,
                format!(
                    "Timestamp {} is more than message.timestamp.before.max.ms={before_max} in the past",
                    header.base_timestamp
                ),
            ));
        }
    }
    let mut buf = BytesMut::from(&records[..]);
    batch::set_partition_leader_epoch(&mut buf, 0);
    let log_append_time = if log_append {
        batch::set_log_append_time(&mut buf, now).map_err(batch_error)?;
        now
    } else {
        -1
    };
    let mut state = lock(&partition.state);
    match state.producers.check(&header) {
        SequenceCheck::Duplicate { base_offset } => {
            return Ok(Appended {
                appended: false,
                base_offset,
                log_append_time,
                log_start_offset: state.log.log_start_offset(),
            });
        }
        SequenceCheck::Reject(code) => {
            return Err(ApiError {
                code,
                message: Some(format!(
                    "batch from producer {} epoch {} with sequence {} refused",
                    header.producer_id, header.producer_epoch, header.base_sequence
                )),
            });
        }
        SequenceCheck::Append => {}
    }
    let info = state.log.append(&mut buf).map_err(|e| {
        tracing::error!(topic = %topic.name, partition = index, error = %e, "append failed");
        ApiError::new(ResponseError::KafkaStorageError, e.to_string())
    })?;
    state.producers.record(&header, info.base_offset);
    state.txns.on_append(&header, info.base_offset);
    Ok(Appended {
        appended: true,
        base_offset: info.base_offset,
        log_append_time,
        log_start_offset: state.log.log_start_offset(),
    })
}

/// Answers Produce v0–v2 (pre record-batch) with UNSUPPORTED_VERSION for every partition, in
/// the old response layout. `body` starts at the request header.
pub(super) fn unsupported_old_version(body: &mut Bytes, version: i16, correlation_id: i32, out: &mut BytesMut) {
    let topics = parse_old_request(body).unwrap_or_default();
    let start = out.len();
    out.put_i32(0);
    out.put_i32(correlation_id);
    out.put_i32(topics.len() as i32);
    for (name, partitions) in &topics {
        out.put_i16(name.len() as i16);
        out.put_slice(name);
        out.put_i32(partitions.len() as i32);
        for p in partitions {
            out.put_i32(*p);
            out.put_i16(ResponseError::UnsupportedVersion.code());
            out.put_i64(-1);
            if version >= 2 {
                out.put_i64(-1);
            }
        }
    }
    if version >= 1 {
        out.put_i32(0);
    }
    let len = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

type OldTopics = Vec<(Vec<u8>, Vec<i32>)>;

fn parse_old_request(b: &mut Bytes) -> Option<OldTopics> {
    fn need(b: &Bytes, n: usize) -> Option<()> {
        (b.remaining() >= n).then_some(())
    }
    fn string(b: &mut Bytes) -> Option<Vec<u8>> {
        need(b, 2)?;
        let len = b.get_i16();
        if len < 0 {
            return Some(Vec::new());
        }
        need(b, len as usize)?;
        Some(b.split_to(len as usize).to_vec())
    }
    need(b, 8)?;
    b.advance(8); // api key, version, correlation id
    string(b)?; // client id
    need(b, 6)?;
    b.advance(6); // acks, timeout
    need(b, 4)?;
    let n = b.get_i32().clamp(0, 10_000);
    let mut topics = Vec::new();
    for _ in 0..n {
        let name = string(b)?;
        need(b, 4)?;
        let np = b.get_i32().clamp(0, 100_000);
        let mut parts = Vec::new();
        for _ in 0..np {
            need(b, 8)?;
            parts.push(b.get_i32());
            let len = b.get_i32();
            if len > 0 {
                need(b, len as usize)?;
                b.advance(len as usize);
            }
        }
        topics.push((name, parts));
    }
    Some(topics)
}
