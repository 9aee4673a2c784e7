//! Every API at every advertised version, with a realistic request (one topic, one partition,
//! one group), over a real socket: the broker must answer and the answer must decode. Real
//! clients only exercise the versions they pick; this catches a field set on a version that
//! does not have it (which the encoder refuses, closing the connection).

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use sluice_testkit::TestBroker;
use sluice_testkit::client::KafkaConn;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic(v: &str) -> TopicName {
    TopicName(s(v))
}

fn record_batch() -> Bytes {
    Bytes::from(sluice_wire::batch::build(0, &[(Some(b"k"), Some(b"v"), 1_700_000_000_000)], (-1, -1, -1), 0))
}

/// A request of `api` at `version` that touches `sweep` partition 0 and group `g-sweep`.
pub(super) fn sample(api: ApiKey, v: i16, topic_id: uuid::Uuid, unique: &str) -> Option<RequestKind> {
    use ApiKey::*;
    Some(match api {
        Produce => {
            let mut p = produce_request::PartitionProduceData::default();
            p.index = 0;
            p.records = Some(record_batch());
            let mut t = produce_request::TopicProduceData::default();
            if v >= 13 {
                t.topic_id = topic_id;
            } else {
                t.name = topic("sweep");
            }
            t.partition_data = vec![p];
            let mut r = ProduceRequest::default();
            r.acks = -1;
            r.timeout_ms = 5000;
            r.topic_data = vec![t];
            RequestKind::Produce(r)
        }
        Fetch => {
            let mut p = fetch_request::FetchPartition::default();
            p.partition = 0;
            p.fetch_offset = 0;
            p.partition_max_bytes = 1 << 20;
            if v < 9 {
                p.current_leader_epoch = -1;
            }
            if v < 12 {
                p.last_fetched_epoch = -1;
            }
            if v < 5 {
                p.log_start_offset = -1;
            }
            let mut t = fetch_request::FetchTopic::default();
            if v >= 13 {
                t.topic_id = topic_id;
            } else {
                t.topic = topic("sweep");
            }
            t.partitions = vec![p];
            let mut r = FetchRequest::default();
            r.max_wait_ms = 10;
            r.min_bytes = 1;
            if v >= 3 {
                r.max_bytes = 1 << 20;
            }
            if v >= 7 {
                r.session_epoch = -1;
            }
            r.topics = vec![t];
            RequestKind::Fetch(r)
        }
        ListOffsets => {
            let mut p = list_offsets_request::ListOffsetsPartition::default();
            p.partition_index = 0;
            p.timestamp = -1;
            if v < 4 {
                p.current_leader_epoch = -1;
            }
            let mut t = list_offsets_request::ListOffsetsTopic::default();
            t.name = topic("sweep");
            t.partitions = vec![p];
            let mut r = ListOffsetsRequest::default();
            r.topics = vec![t];
            RequestKind::ListOffsets(r)
        }
        Metadata => {
            let mut t = metadata_request::MetadataRequestTopic::default();
            t.name = Some(topic("sweep"));
            let mut r = MetadataRequest::default();
            r.topics = Some(vec![t]);
            r.allow_auto_topic_creation = true;
            RequestKind::Metadata(r)
        }
        OffsetCommit => {
            let mut p = offset_commit_request::OffsetCommitRequestPartition::default();
            p.partition_index = 0;
            p.committed_offset = 1;
            if v < 6 {
                p.committed_leader_epoch = -1;
            }
            let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
            t.name = topic("sweep");
            t.partitions = vec![p];
            let mut r = OffsetCommitRequest::default();
            r.group_id = GroupId(s("g-sweep"));
            r.generation_id_or_member_epoch = -1;
            if !(2..=4).contains(&v) {
                r.retention_time_ms = 0;
            } else {
                r.retention_time_ms = -1;
            }
            r.topics = vec![t];
            RequestKind::OffsetCommit(r)
        }
        OffsetFetch => {
            let mut r = OffsetFetchRequest::default();
            if v >= 8 {
                let mut t = offset_fetch_request::OffsetFetchRequestTopics::default();
                t.name = topic("sweep");
                t.partition_indexes = vec![0];
                let mut g = offset_fetch_request::OffsetFetchRequestGroup::default();
                g.group_id = GroupId(s("g-sweep"));
                if v >= 9 {
                    g.member_epoch = -1;
                }
                g.topics = Some(vec![t]);
                r.groups = vec![g];
            } else {
                let mut t = offset_fetch_request::OffsetFetchRequestTopic::default();
                t.name = topic("sweep");
                t.partition_indexes = vec![0];
                r.group_id = GroupId(s("g-sweep"));
                r.topics = Some(vec![t]);
            }
            RequestKind::OffsetFetch(r)
        }
        FindCoordinator => {
            let mut r = FindCoordinatorRequest::default();
            if v >= 4 {
                r.coordinator_keys = vec![s("g-sweep")];
            } else {
                r.key = s("g-sweep");
            }
            RequestKind::FindCoordinator(r)
        }
        JoinGroup => {
            let mut p = join_group_request::JoinGroupRequestProtocol::default();
            p.name = s("range");
            p.metadata = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 5, b's', b'w', b'e', b'e', b'p', 0, 0, 0, 0]);
            let mut r = JoinGroupRequest::default();
            r.group_id = GroupId(s(&format!("join-{unique}")));
            r.session_timeout_ms = 10_000;
            if v >= 1 {
                r.rebalance_timeout_ms = 10_000;
            }
            r.protocol_type = s("consumer");
            r.protocols = vec![p];
            RequestKind::JoinGroup(r)
        }
        SyncGroup => {
            let mut r = SyncGroupRequest::default();
            r.group_id = GroupId(s("g-sweep"));
            r.member_id = s("nobody");
            RequestKind::SyncGroup(r)
        }
        Heartbeat => {
            let mut r = HeartbeatRequest::default();
            r.group_id = GroupId(s("g-sweep"));
            r.member_id = s("nobody");
            RequestKind::Heartbeat(r)
        }
        LeaveGroup => {
            let mut r = LeaveGroupRequest::default();
            r.group_id = GroupId(s("g-sweep"));
            if v >= 3 {
                let mut m = leave_group_request::MemberIdentity::default();
                m.member_id = s("nobody");
                r.members = vec![m];
            } else {
                r.member_id = s("nobody");
            }
            RequestKind::LeaveGroup(r)
        }
        DescribeGroups => {
            let mut r = DescribeGroupsRequest::default();
            r.groups = vec![GroupId(s("g-sweep"))];
            RequestKind::DescribeGroups(r)
        }
        ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiVersions => {
            let mut r = ApiVersionsRequest::default();
            if v >= 3 {
                r.client_software_name = s("sweep");
                r.client_software_version = s("1.0");
            }
            RequestKind::ApiVersions(r)
        }
        CreateTopics => {
            let mut c = create_topics_request::CreatableTopicConfig::default();
            c.name = s("retention.ms");
            c.value = Some(s("60000"));
            let mut t = create_topics_request::CreatableTopic::default();
            t.name = topic(&format!("created-{unique}"));
            t.num_partitions = 2;
            t.replication_factor = 1;
            t.configs = vec![c];
            let mut r = CreateTopicsRequest::default();
            r.topics = vec![t];
            r.timeout_ms = 5000;
            RequestKind::CreateTopics(r)
        }
        DeleteTopics => {
            let mut r = DeleteTopicsRequest::default();
            let name = format!("created-{unique}");
            if v >= 6 {
                let mut t = delete_topics_request::DeleteTopicState::default();
                t.name = Some(topic(&name));
                r.topics = vec![t];
            } else {
                r.topic_names = vec![topic(&name)];
            }
            r.timeout_ms = 5000;
            RequestKind::DeleteTopics(r)
        }
        DeleteRecords => {
            let mut p = delete_records_request::DeleteRecordsPartition::default();
            p.partition_index = 0;
            p.offset = 0;
            let mut t = delete_records_request::DeleteRecordsTopic::default();
            t.name = topic("sweep");
            t.partitions = vec![p];
            let mut r = DeleteRecordsRequest::default();
            r.topics = vec![t];
            r.timeout_ms = 5000;
            RequestKind::DeleteRecords(r)
        }
        InitProducerId => {
            let mut r = InitProducerIdRequest::default();
            r.transaction_timeout_ms = 60_000;
            if v >= 3 {
                r.producer_id = ProducerId(-1);
                r.producer_epoch = -1;
            }
            RequestKind::InitProducerId(r)
        }
        OffsetForLeaderEpoch => {
            let mut p = offset_for_leader_epoch_request::OffsetForLeaderPartition::default();
            p.partition = 0;
            p.leader_epoch = 0;
            if v < 2 {
                p.current_leader_epoch = -1;
            }
            let mut t = offset_for_leader_epoch_request::OffsetForLeaderTopic::default();
            t.topic = topic("sweep");
            t.partitions = vec![p];
            let mut r = OffsetForLeaderEpochRequest::default();
            if v >= 3 {
                r.replica_id = BrokerId(-1);
            }
            r.topics = vec![t];
            RequestKind::OffsetForLeaderEpoch(r)
        }
        DescribeConfigs => {
            let mut res = describe_configs_request::DescribeConfigsResource::default();
            res.resource_type = 2;
            res.resource_name = s("sweep");
            let mut r = DescribeConfigsRequest::default();
            r.resources = vec![res];
            RequestKind::DescribeConfigs(r)
        }
        AlterConfigs => {
            let mut c = alter_configs_request::AlterableConfig::default();
            c.name = s("retention.ms");
            c.value = Some(s("3600000"));
            let mut res = alter_configs_request::AlterConfigsResource::default();
            res.resource_type = 2;
            res.resource_name = s("sweep");
            res.configs = vec![c];
            let mut r = AlterConfigsRequest::default();
            r.resources = vec![res];
            RequestKind::AlterConfigs(r)
        }
        IncrementalAlterConfigs => {
            let mut c = incremental_alter_configs_request::AlterableConfig::default();
            c.name = s("retention.ms");
            c.config_operation = 0;
            c.value = Some(s("7200000"));
            let mut res = incremental_alter_configs_request::AlterConfigsResource::default();
            res.resource_type = 2;
            res.resource_name = s("sweep");
            res.configs = vec![c];
            let mut r = IncrementalAlterConfigsRequest::default();
            r.resources = vec![res];
            RequestKind::IncrementalAlterConfigs(r)
        }
        CreatePartitions => {
            let mut t = create_partitions_request::CreatePartitionsTopic::default();
            t.name = topic("grow");
            t.count = 4 + i32::from(v);
            let mut r = CreatePartitionsRequest::default();
            r.topics = vec![t];
            r.timeout_ms = 5000;
            RequestKind::CreatePartitions(r)
        }
        DeleteGroups => {
            let mut r = DeleteGroupsRequest::default();
            r.groups_names = vec![GroupId(s("no-such-group"))];
            RequestKind::DeleteGroups(r)
        }
        OffsetDelete => {
            let mut p = offset_delete_request::OffsetDeleteRequestPartition::default();
            p.partition_index = 0;
            let mut t = offset_delete_request::OffsetDeleteRequestTopic::default();
            t.name = topic("sweep");
            t.partitions = vec![p];
            let mut r = OffsetDeleteRequest::default();
            r.group_id = GroupId(s("g-sweep"));
            r.topics = vec![t];
            RequestKind::OffsetDelete(r)
        }
        DescribeCluster => RequestKind::DescribeCluster(DescribeClusterRequest::default()),
        AddPartitionsToTxn => {
            let mut t = add_partitions_to_txn_request::AddPartitionsToTxnTopic::default();
            t.name = topic("sweep");
            t.partitions = vec![0];
            let mut r = AddPartitionsToTxnRequest::default();
            if v >= 4 {
                let mut x = add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default();
                x.transactional_id = TransactionalId(s("tx-sweep"));
                x.producer_id = ProducerId(1);
                x.topics = vec![t];
                r.transactions = vec![x];
            } else {
                r.v3_and_below_transactional_id = TransactionalId(s("tx-sweep"));
                r.v3_and_below_producer_id = ProducerId(1);
                r.v3_and_below_topics = vec![t];
            }
            RequestKind::AddPartitionsToTxn(r)
        }
        AddOffsetsToTxn => {
            let mut r = AddOffsetsToTxnRequest::default();
            r.transactional_id = TransactionalId(s("tx-sweep"));
            r.producer_id = ProducerId(1);
            r.group_id = GroupId(s("g-sweep"));
            RequestKind::AddOffsetsToTxn(r)
        }
        EndTxn => {
            let mut r = EndTxnRequest::default();
            r.transactional_id = TransactionalId(s("tx-sweep"));
            r.producer_id = ProducerId(1);
            r.committed = true;
            RequestKind::EndTxn(r)
        }
        TxnOffsetCommit => {
            let mut p = txn_offset_commit_request::TxnOffsetCommitRequestPartition::default();
            p.partition_index = 0;
            p.committed_offset = 1;
            if v < 2 {
                p.committed_leader_epoch = -1;
            }
            let mut t = txn_offset_commit_request::TxnOffsetCommitRequestTopic::default();
            t.name = topic("sweep");
            t.partitions = vec![p];
            let mut r = TxnOffsetCommitRequest::default();
            r.transactional_id = TransactionalId(s("tx-sweep"));
            r.group_id = GroupId(s("g-sweep"));
            r.producer_id = ProducerId(1);
            if v >= 3 {
                r.generation_id = -1;
            }
            r.topics = vec![t];
            RequestKind::TxnOffsetCommit(r)
        }
        ListTransactions => {
            let mut r = ListTransactionsRequest::default();
            if v >= 1 {
                r.duration_filter = -1;
            }
            RequestKind::ListTransactions(r)
        }
        DescribeTransactions => {
            let mut r = DescribeTransactionsRequest::default();
            r.transactional_ids = vec![TransactionalId(s("tx-sweep"))];
            RequestKind::DescribeTransactions(r)
        }
        _ => return None,
    })
}

fn error_codes(resp: &ResponseKind) -> Vec<i16> {
    match resp {
        ResponseKind::Produce(r) => {
            r.responses.iter().flat_map(|t| t.partition_responses.iter().map(|p| p.error_code)).collect()
        }
        ResponseKind::Fetch(r) => r.responses.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)).collect(),
        ResponseKind::ListOffsets(r) => {
            r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)).collect()
        }
        ResponseKind::Metadata(r) => r.topics.iter().map(|t| t.error_code).collect(),
        ResponseKind::OffsetCommit(r) => {
            r.topics.iter().flat_map(|t| t.partitions.iter().map(|p| p.error_code)).collect()
        }
        ResponseKind::CreateTopics(r) => r.topics.iter().map(|t| t.error_code).collect(),
        ResponseKind::DeleteTopics(r) => r.responses.iter().map(|t| t.error_code).collect(),
        ResponseKind::DescribeConfigs(r) => r.results.iter().map(|t| t.error_code).collect(),
        ResponseKind::IncrementalAlterConfigs(r) => r.responses.iter().map(|t| t.error_code).collect(),
        ResponseKind::AlterConfigs(r) => r.responses.iter().map(|t| t.error_code).collect(),
        ResponseKind::CreatePartitions(r) => r.results.iter().map(|t| t.error_code).collect(),
        ResponseKind::ApiVersions(r) => vec![r.error_code],
        ResponseKind::InitProducerId(r) => vec![r.error_code],
        ResponseKind::DescribeCluster(r) => vec![r.error_code],
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn every_api_at_every_advertised_version_answers() {
    let broker = TestBroker::start().await;
    let addr = broker.bootstrap();
    let mut conn = KafkaConn::connect(&addr).await.unwrap();
    // The topics the samples touch.
    let sweep = broker.broker().auto_create("sweep").unwrap();
    broker.broker().auto_create("grow").unwrap();
    let ApiVersionsResponse { api_keys, .. } =
        match conn.request(3, RequestKind::ApiVersions(ApiVersionsRequest::default())).await.unwrap() {
            ResponseKind::ApiVersions(r) => r,
            other => panic!("unexpected {other:?}"),
        };
    let mut checked = 0;
    let mut failures = Vec::new();
    for a in &api_keys {
        let api = ApiKey::try_from(a.api_key).unwrap();
        let lowest = if api == ApiKey::Produce { 3 } else { a.min_version };
        for v in lowest..=a.max_version {
            let unique = format!("{}-{v}", a.api_key);
            let Some(req) = sample(api, v, sweep.id, &unique) else {
                panic!("{api:?} is advertised but the sweep has no sample request for it");
            };
            let resp = match conn.request(v, req).await {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{api:?} v{v}: {e:#}"));
                    conn = KafkaConn::connect(&addr).await.unwrap();
                    continue;
                }
            };
            // Errors that mean the broker could not serve a well-formed request.
            for code in error_codes(&resp) {
                if [35, 42, 2, 56].contains(&code) {
                    failures.push(format!("{api:?} v{v}: error code {code} for a well-formed request"));
                }
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 150, "only {checked} api/version pairs were checked");
    broker.shutdown().await;
}

#[tokio::test]
async fn produce_below_v3_gets_unsupported_version_in_the_old_layout() {
    let broker = TestBroker::start().await;
    broker.broker().auto_create("old").unwrap();
    let mut conn = KafkaConn::connect(&broker.bootstrap()).await.unwrap();
    // Produce v2, hand-encoded: header, acks, timeout, [topic [partition, message set]].
    let mut body = Vec::new();
    body.extend_from_slice(&0i16.to_be_bytes()); // api key
    body.extend_from_slice(&2i16.to_be_bytes()); // version
    body.extend_from_slice(&7i32.to_be_bytes()); // correlation id
    body.extend_from_slice(&(-1i16).to_be_bytes()); // client id: null
    body.extend_from_slice(&1i16.to_be_bytes()); // acks
    body.extend_from_slice(&1000i32.to_be_bytes()); // timeout
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&3i16.to_be_bytes());
    body.extend_from_slice(b"old");
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&0i32.to_be_bytes()); // partition 0
    body.extend_from_slice(&0i32.to_be_bytes()); // empty message set
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    conn.send_raw(&frame).await.unwrap();
    let resp = conn.read_frame().await.unwrap().expect("an answer, not a closed connection");
    // correlation id, 1 topic "old", 1 partition: index 0, error 35, base offset -1, timestamp -1, throttle.
    let mut want = 7i32.to_be_bytes().to_vec();
    want.extend_from_slice(&1i32.to_be_bytes());
    want.extend_from_slice(&3i16.to_be_bytes());
    want.extend_from_slice(b"old");
    want.extend_from_slice(&1i32.to_be_bytes());
    want.extend_from_slice(&0i32.to_be_bytes());
    want.extend_from_slice(&35i16.to_be_bytes());
    want.extend_from_slice(&(-1i64).to_be_bytes());
    want.extend_from_slice(&(-1i64).to_be_bytes());
    want.extend_from_slice(&0i32.to_be_bytes());
    assert_eq!(&resp[..], &want[..]);
}

#[tokio::test]
async fn too_new_api_versions_gets_error_35_in_the_v0_layout() {
    let broker = TestBroker::start().await;
    let mut conn = KafkaConn::connect(&broker.bootstrap()).await.unwrap();
    // ApiVersions v99 with a header this broker cannot know the layout of.
    let body = [0u8, 18, 0, 99, 0, 0, 0, 5, 0xff, 0xff, 1, 2, 3];
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    conn.send_raw(&frame).await.unwrap();
    let resp = conn.read_frame().await.unwrap().unwrap();
    assert_eq!(&resp[..4], &5i32.to_be_bytes());
    assert_eq!(&resp[4..6], &35i16.to_be_bytes());
    let n = i32::from_be_bytes([resp[6], resp[7], resp[8], resp[9]]) as usize;
    assert_eq!(resp.len(), 10 + n * 6, "v0 layout: no throttle time, no tagged fields");
    // The connection stays usable: the client retries with a version it can use.
    let r = conn.request(3, RequestKind::ApiVersions(ApiVersionsRequest::default())).await.unwrap();
    assert!(matches!(r, ResponseKind::ApiVersions(a) if a.error_code == 0));
}
