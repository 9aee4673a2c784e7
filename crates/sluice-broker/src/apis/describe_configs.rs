//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics (and a read-only view
//! of the broker's own settings).

use super::util::s;
use crate::state::{ApiError, Broker, read};
use crate::topic_config::{self, ConfigType};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, alter_configs_response,
    incremental_alter_configs_response,
};
use std::collections::BTreeMap;
use std::sync::Arc;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC_BROKER: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

/// The broker-level config name behind a topic config, as Kafka names its synonyms.
fn broker_synonym(name: &str) -> String {
    match name {
        "max.message.bytes" => "message.max.bytes".into(),
        "cleanup.policy"
        | "retention.ms"
        | "retention.bytes"
        | "segment.bytes"
        | "segment.ms"
        | "index.interval.bytes"
        | "flush.messages"
        | "flush.ms"
        | "preallocate"
        | "delete.retention.ms"
        | "min.compaction.lag.ms"
        | "max.compaction.lag.ms"
        | "min.cleanable.dirty.ratio"
        | "segment.jitter.ms"
        | "segment.index.bytes"
        | "message.timestamp.type"
        | "message.timestamp.after.max.ms"
        | "message.timestamp.before.max.ms" => {
            format!("log.{name}")
        }
        _ => name.to_string(),
    }
}

fn entry(
    name: &str,
    value: String,
    source: i8,
    ty: i8,
    synonyms: Vec<DescribeConfigsSynonym>,
    read_only: bool,
) -> DescribeConfigsResourceResult {
    let mut c = DescribeConfigsResourceResult::default();
    c.name = s(name);
    c.value = Some(s(value));
    c.config_source = source;
    c.config_type = ty;
    c.synonyms = synonyms;
    c.read_only = read_only;
    c
}

fn synonym(name: String, value: &str, source: i8) -> DescribeConfigsSynonym {
    let mut y = DescribeConfigsSynonym::default();
    y.name = s(name);
    y.value = Some(s(value));
    y.source = source;
    y
}

fn broker_configs(broker: &Broker) -> Vec<(&'static str, String, ConfigType)> {
    let c = &broker.config;
    vec![
        ("node.id", c.node_id.to_string(), ConfigType::Int),
        ("broker.id", c.node_id.to_string(), ConfigType::Int),
        ("num.partitions", c.num_partitions.to_string(), ConfigType::Int),
        ("default.replication.factor", "1".into(), ConfigType::Int),
        ("auto.create.topics.enable", c.auto_create_topics.to_string(), ConfigType::Boolean),
        ("log.retention.ms", c.retention_ms.to_string(), ConfigType::Long),
        ("log.retention.bytes", c.retention_bytes.to_string(), ConfigType::Long),
        ("log.segment.bytes", c.segment_bytes.to_string(), ConfigType::Int),
        ("message.max.bytes", c.max_message_bytes.to_string(), ConfigType::Int),
        ("log.retention.check.interval.ms", c.retention_check_interval.as_millis().to_string(), ConfigType::Long),
        ("socket.request.max.bytes", c.max_request_bytes.to_string(), ConfigType::Int),
        ("max.connections", c.max_connections.to_string(), ConfigType::Int),
        ("connections.max.idle.ms", c.idle_timeout.as_millis().to_string(), ConfigType::Long),
        ("offsets.topic.replication.factor", "1".into(), ConfigType::Short),
        ("transaction.state.log.replication.factor", "1".into(), ConfigType::Short),
        ("min.insync.replicas", "1".into(), ConfigType::Int),
        (
            "advertised.listeners",
            format!("PLAINTEXT://{}:{}", broker.advertised_host, broker.advertised_port),
            ConfigType::String,
        ),
        (
            "log.dirs",
            c.data_dir.as_ref().map_or_else(|| "(memory)".into(), |d| d.display().to_string()),
            ConfigType::String,
        ),
    ]
}

pub(super) fn describe(broker: &Arc<Broker>, req: DescribeConfigsRequest, _version: i16) -> DescribeConfigsResponse {
    let mut resp = DescribeConfigsResponse::default();
    for res in req.resources {
        let mut r = DescribeConfigsResult::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        let wanted =
            |name: &str| res.configuration_keys.as_ref().is_none_or(|keys| keys.iter().any(|k| k.as_str() == name));
        match res.resource_type {
            TOPIC => match broker.topic(res.resource_name.as_str()) {
                None => {
                    r.error_code = ResponseError::UnknownTopicOrPartition.code();
                    r.error_message = Some(s(format!("The topic '{}' does not exist.", res.resource_name.as_str())));
                }
                Some(t) => {
                    let overrides = read(&t.configs).clone();
                    for d in topic_config::TOPIC_CONFIGS.iter().filter(|d| wanted(d.name)) {
                        let broker_default =
                            broker.topic_defaults.get(d.name).cloned().unwrap_or_else(|| d.default.to_string());
                        let default_source =
                            if broker_default != d.default { SOURCE_STATIC_BROKER } else { SOURCE_DEFAULT };
                        let mut synonyms = Vec::new();
                        if req.include_synonyms {
                            if let Some(v) = overrides.get(d.name) {
                                synonyms.push(synonym(d.name.to_string(), v, SOURCE_TOPIC));
                            }
                            synonyms.push(synonym(broker_synonym(d.name), &broker_default, default_source));
                        }
                        let (value, source) = match overrides.get(d.name) {
                            Some(v) => (v.clone(), SOURCE_TOPIC),
                            None => (broker_default, default_source),
                        };
                        r.configs.push(entry(d.name, value, source, d.ty as i8, synonyms, false));
                    }
                }
            },
            BROKER => {
                if !res.resource_name.is_empty() && res.resource_name.as_str() != broker.config.node_id.to_string() {
                    r.error_code = ResponseError::InvalidRequest.code();
                    r.error_message = Some(s(format!(
                        "Unexpected broker id, expected {} or empty string, but received {}",
                        broker.config.node_id,
                        res.resource_name.as_str()
                    )));
                } else {
                    for (name, value, ty) in broker_configs(broker).into_iter().filter(|(n, ..)| wanted(n)) {
                        let synonyms = if req.include_synonyms {
                            vec![synonym(name.to_string(), &value, SOURCE_STATIC_BROKER)]
                        } else {
                            Vec::new()
                        };
                        r.configs.push(entry(name, value, SOURCE_STATIC_BROKER, ty as i8, synonyms, true));
                    }
                }
            }
            other => {
                r.error_code = ResponseError::InvalidRequest.code();
                r.error_message = Some(s(format!("Unsupported resource type {other}")));
            }
        }
        resp.results.push(r);
    }
    resp
}

fn validate_all(configs: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (k, v) in configs {
        topic_config::validate(k, v).map_err(|m| ApiError::new(ResponseError::InvalidConfig, m))?;
    }
    Ok(())
}

fn alter_topic(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    validate_only: bool,
    change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    if resource_type == BROKER {
        return Err(ApiError::new(
            ResponseError::InvalidRequest,
            "broker configs are set when the broker starts (sluice broker --help); they cannot be altered at run time",
        ));
    }
    if resource_type != TOPIC {
        return Err(ApiError::new(ResponseError::InvalidRequest, format!("Unsupported resource type {resource_type}")));
    }
    let topic = broker.topic(name).ok_or_else(|| {
        ApiError::new(ResponseError::UnknownTopicOrPartition, format!("The topic '{name}' does not exist."))
    })?;
    let mut configs = read(&topic.configs).clone();
    change(&mut configs)?;
    validate_all(&configs)?;
    if !validate_only {
        broker.set_topic_configs(&topic, configs)?;
    }
    Ok(())
}

pub(super) fn alter(broker: &Arc<Broker>, req: AlterConfigsRequest, _version: i16) -> AlterConfigsResponse {
    let mut resp = AlterConfigsResponse::default();
    for res in req.resources {
        let mut r = alter_configs_response::AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        let outcome =
            alter_topic(broker, res.resource_type, res.resource_name.as_str(), req.validate_only, |configs| {
                configs.clear();
                for c in &res.configs {
                    if let Some(v) = &c.value {
                        configs.insert(c.name.to_string(), v.to_string());
                    }
                }
                Ok(())
            });
        if let Err(e) = outcome {
            r.error_code = e.code;
            r.error_message = e.message.map(s);
        }
        resp.responses.push(r);
    }
    resp
}

pub(super) fn incremental_alter(
    broker: &Arc<Broker>,
    req: IncrementalAlterConfigsRequest,
    _version: i16,
) -> IncrementalAlterConfigsResponse {
    let mut resp = IncrementalAlterConfigsResponse::default();
    for res in req.resources {
        let mut r = incremental_alter_configs_response::AlterConfigsResourceResponse::default();
        r.resource_type = res.resource_type;
        r.resource_name = res.resource_name.clone();
        let outcome = alter_topic(
            broker,
            res.resource_type,
            res.resource_name.as_str(),
            req.validate_only,
            |configs| {
                for c in &res.configs {
                    let name = c.name.to_string();
                    let value = c.value.as_ref().map(|v| v.to_string());
                    let def = topic_config::find(&name).ok_or_else(|| {
                        ApiError::new(ResponseError::InvalidConfig, format!("Unknown topic config name: {name}"))
                    })?;
                    match c.config_operation {
                        0 => {
                            configs.insert(name, value.unwrap_or_default());
                        }
                        1 => {
                            configs.remove(&name);
                        }
                        2 | 3 if def.ty != ConfigType::List => {
                            return Err(ApiError::new(
                                ResponseError::InvalidConfig,
                                format!(
                                    "Config value append/subtract is not allowed for config key {name}, which is not a list"
                                ),
                            ));
                        }
                        2 => {
                            let current = configs
                                .get(&name)
                                .cloned()
                                .unwrap_or_else(|| broker.topic_defaults.get(&name).cloned().unwrap_or_default());
                            let mut items: Vec<String> =
                                current.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
                            for v in value.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
                                if !items.iter().any(|i| i == v) {
                                    items.push(v.to_string());
                                }
                            }
                            configs.insert(name, items.join(","));
                        }
                        3 => {
                            let current = configs
                                .get(&name)
                                .cloned()
                                .unwrap_or_else(|| broker.topic_defaults.get(&name).cloned().unwrap_or_default());
                            let remove: Vec<String> =
                                value.unwrap_or_default().split(',').map(|s| s.trim().to_string()).collect();
                            let items: Vec<&str> = current
                                .split(',')
                                .map(str::trim)
                                .filter(|s| !s.is_empty() && !remove.iter().any(|r| r == s))
                                .collect();
                            configs.insert(name, items.join(","));
                        }
                        op => {
                            return Err(ApiError::new(
                                ResponseError::InvalidRequest,
                                format!("Unknown config operation {op}"),
                            ));
                        }
                    }
                }
                Ok(())
            },
        );
        if let Err(e) = outcome {
            r.error_code = e.code;
            r.error_message = e.message.map(s);
        }
        resp.responses.push(r);
    }
    resp
}
