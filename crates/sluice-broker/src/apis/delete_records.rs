//! DeleteRecords: move a partition's log start offset forward (-1 = to the high watermark).

use crate::log::LogError;
use crate::state::{Broker, lock};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use std::sync::Arc;

pub(super) fn handle(broker: &Arc<Broker>, req: DeleteRecordsRequest, _version: i16) -> DeleteRecordsResponse {
    let mut resp = DeleteRecordsResponse::default();
    for t in req.topics {
        let topic = broker.topic(t.name.0.as_str());
        let mut tr = DeleteRecordsTopicResult::default();
        tr.name = t.name.clone();
        for p in t.partitions {
            let mut r = DeleteRecordsPartitionResult::default();
            r.partition_index = p.partition_index;
            r.low_watermark = -1;
            match topic.as_ref().and_then(|t| t.partition(p.partition_index)) {
                None => r.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some(part) => {
                    let mut state = lock(&part.state);
                    let target = if p.offset == -1 { state.log.log_end_offset() } else { p.offset };
                    if target < 0 {
                        r.error_code = ResponseError::OffsetOutOfRange.code();
                    } else {
                        match state.log.delete_records_before(target) {
                            Ok(start) => r.low_watermark = start,
                            Err(LogError::OffsetOutOfRange { .. }) => {
                                r.error_code = ResponseError::OffsetOutOfRange.code()
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "delete records failed");
                                r.error_code = ResponseError::KafkaStorageError.code();
                            }
                        }
                    }
                }
            }
            tr.partitions.push(r);
        }
        resp.topics.push(tr);
    }
    resp
}
