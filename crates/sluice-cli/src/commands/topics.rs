//! `sluice topics create|list|describe|delete|alter`, like kafka-topics.sh and kafka-configs.sh
//! for topics.

use crate::clients::{admin, admin_options};
use crate::kafka_opts::{ConnectArgs, Environment, KafkaConn};
use crate::output::outln;
use crate::output::{OutputFormat, print_json, table};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use rdkafka::admin::{
    AdminClient, AlterConfig, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;
use serde_json::json;
use sluice_connect::kafka::SluiceContext;
use std::collections::BTreeMap;
use std::time::Duration;

/// `sluice topics` flags.
#[derive(Debug, Args)]
pub struct TopicsArgs {
    /// Connection.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Output for people (table) or scripts (json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, global = true, value_name = "FORMAT")]
    pub format: OutputFormat,
    /// What to do.
    #[command(subcommand)]
    pub action: TopicsAction,
}

/// Topic administration.
#[derive(Debug, Subcommand)]
pub enum TopicsAction {
    /// List topics with their partition counts.
    List {
        /// Include internal topics (names starting with `__`).
        #[arg(long)]
        internal: bool,
    },
    /// Create a topic.
    Create {
        /// Topic name.
        #[arg(value_name = "TOPIC")]
        name: String,
        /// Partitions [default: the broker's num.partitions].
        #[arg(long, value_name = "N")]
        partitions: Option<i32>,
        /// Replicas of each partition [default: the broker's default.replication.factor].
        #[arg(long, value_name = "N")]
        replication_factor: Option<i32>,
        /// A topic setting, e.g. --config retention.ms=60000 (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Succeed when the topic exists already.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// Show partitions (leader, replicas, offsets) and settings of topics.
    Describe {
        /// Topic names.
        #[arg(value_name = "TOPIC", required = true)]
        names: Vec<String>,
    },
    /// Delete topics and their records.
    Delete {
        /// Topic names.
        #[arg(value_name = "TOPIC", required = true)]
        names: Vec<String>,
        /// Succeed when a topic does not exist.
        #[arg(long)]
        if_exists: bool,
    },
    /// Add partitions or change settings of a topic.
    Alter {
        /// Topic name.
        #[arg(value_name = "TOPIC")]
        name: String,
        /// New total number of partitions (Kafka can only add partitions).
        #[arg(long, value_name = "N")]
        partitions: Option<i32>,
        /// Set a topic setting, e.g. --config retention.ms=60000 (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        configs: Vec<String>,
        /// Remove a topic setting, back to the broker default (repeatable).
        #[arg(long = "delete-config", value_name = "KEY")]
        delete_configs: Vec<String>,
    },
}

fn parse_configs(raw: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    raw.iter()
        .map(|r| match r.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
            _ => bail!("--config {r:?} is not KEY=VALUE; write e.g. --config retention.ms=60000"),
        })
        .collect()
}

fn check_names(names: &[String]) -> anyhow::Result<()> {
    names.iter().try_for_each(|n| crate::commands::produce::check_topic_name(n, "TOPIC"))
}

pub(crate) async fn run(args: TopicsArgs) -> anyhow::Result<()> {
    let env = Environment::load()?;
    let conn = KafkaConn::resolve(&args.connect, &env)?;
    // Validate before connecting: a typo is reported without waiting for a broker.
    match &args.action {
        TopicsAction::Create { name, partitions, replication_factor, configs, .. } => {
            check_names(std::slice::from_ref(name))?;
            parse_configs(configs)?;
            if let Some(p) = partitions.filter(|p| *p < 1) {
                bail!("--partitions {p} must be at least 1");
            }
            if let Some(r) = replication_factor.filter(|r| *r < 1) {
                bail!("--replication-factor {r} must be at least 1");
            }
        }
        TopicsAction::Describe { names } | TopicsAction::Delete { names, .. } => check_names(names)?,
        TopicsAction::Alter { name, partitions, configs, delete_configs } => {
            check_names(std::slice::from_ref(name))?;
            parse_configs(configs)?;
            if partitions.is_none() && configs.is_empty() && delete_configs.is_empty() {
                bail!("nothing to alter: give --partitions N, --config KEY=VALUE or --delete-config KEY");
            }
        }
        TopicsAction::List { .. } => {}
    }
    let c = conn.clone();
    let (admin, md) = tokio::task::spawn_blocking(move || admin(&c)).await??;
    let fmt = args.format;
    match args.action {
        TopicsAction::List { internal } => list(&md, internal, fmt),
        TopicsAction::Create { name, partitions, replication_factor, configs, if_not_exists } => {
            create(&admin, &conn, &name, partitions, replication_factor, &parse_configs(&configs)?, if_not_exists, fmt)
                .await
        }
        TopicsAction::Describe { names } => describe(admin, &md, &conn, names, fmt).await,
        TopicsAction::Delete { names, if_exists } => delete(&admin, &md, &conn, &names, if_exists, fmt).await,
        TopicsAction::Alter { name, partitions, configs, delete_configs } => {
            alter(&admin, &md, &conn, &name, partitions, &parse_configs(&configs)?, &delete_configs, fmt).await
        }
    }
}

fn list(md: &Metadata, internal: bool, fmt: OutputFormat) -> anyhow::Result<()> {
    let mut topics: Vec<_> =
        md.topics().iter().filter(|t| t.error().is_none() && (internal || !t.name().starts_with("__"))).collect();
    topics.sort_by_key(|t| t.name());
    let rf = |t: &rdkafka::metadata::MetadataTopic| t.partitions().first().map_or(0, |p| p.replicas().len());
    match fmt {
        OutputFormat::Json => print_json(&json!(
            topics
                .iter()
                .map(|t| json!({"name": t.name(), "partitions": t.partitions().len(), "replication_factor": rf(t)}))
                .collect::<Vec<_>>()
        )),
        OutputFormat::Table => outln!(
            "{}",
            table(
                &["TOPIC", "PARTITIONS", "REPLICATION"],
                topics
                    .iter()
                    .map(|t| vec![t.name().to_string(), t.partitions().len().to_string(), rf(t).to_string()])
                    .collect(),
            )
        ),
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn create(
    admin: &AdminClient<SluiceContext>,
    conn: &KafkaConn,
    name: &str,
    partitions: Option<i32>,
    replication_factor: Option<i32>,
    configs: &[(String, String)],
    if_not_exists: bool,
    fmt: OutputFormat,
) -> anyhow::Result<()> {
    let mut new =
        NewTopic::new(name, partitions.unwrap_or(-1), TopicReplication::Fixed(replication_factor.unwrap_or(-1)));
    for (k, v) in configs {
        new = new.set(k, v);
    }
    let result = admin.create_topics([&new], &admin_options()).await.context("CreateTopics failed")?;
    let existed = match result.into_iter().next() {
        Some(Ok(_)) | None => false,
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) if if_not_exists => true,
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => {
            bail!("topic {name} already exists at {}; pass --if-not-exists to accept that", conn.bootstrap)
        }
        Some(Err((_, code))) => {
            let brokers = admin.inner().fetch_metadata(None, Duration::from_secs(5)).ok().map(|m| m.brokers().len());
            bail!(
                "cannot create topic {name}: {code}{}",
                create_fix(code, brokers).map(|f| format!("; {f}")).unwrap_or_default()
            )
        }
    };
    let md = admin.inner().fetch_metadata(Some(name), Duration::from_secs(10)).ok();
    let count = md.as_ref().and_then(|m| crate::clients::partition_count(m, name));
    match fmt {
        OutputFormat::Json => print_json(&json!({"topic": name, "created": !existed, "partitions": count})),
        OutputFormat::Table if existed => outln!("topic {name} exists already"),
        OutputFormat::Table => match count {
            Some(n) => outln!("created topic {name} with {n} partitions"),
            None => outln!("created topic {name}"),
        },
    }
    Ok(())
}

/// What to do about a refused CreateTopics (librdkafka passes on the code, not the broker's text).
fn create_fix(code: RDKafkaErrorCode, brokers: Option<usize>) -> Option<String> {
    Some(match code {
        RDKafkaErrorCode::InvalidReplicationFactor => match brokers {
            Some(n) => format!(
                "the cluster has {n} broker{}, so give --replication-factor {n} or less (or leave it out for the \
                 broker's default)",
                if n == 1 { "" } else { "s" }
            ),
            None => "give a --replication-factor no larger than the number of brokers".to_string(),
        },
        RDKafkaErrorCode::InvalidPartitions => {
            "give --partitions 1 or more (or leave it out for the broker's default)".into()
        }
        RDKafkaErrorCode::InvalidConfig => {
            "check the --config KEY=VALUE pairs: each must be a topic config Kafka knows, with a valid value".into()
        }
        RDKafkaErrorCode::TopicAuthorizationFailed | RDKafkaErrorCode::ClusterAuthorizationFailed => {
            "this client may not create topics here; ask for the CREATE permission".into()
        }
        _ => return None,
    })
}

async fn describe(
    admin: AdminClient<SluiceContext>,
    md: &Metadata,
    conn: &KafkaConn,
    names: Vec<String>,
    fmt: OutputFormat,
) -> anyhow::Result<()> {
    for n in &names {
        if !md.topics().iter().any(|t| t.name() == n && t.error().is_none()) {
            bail!("topic {n} does not exist at {}; see `sluice topics list`", conn.bootstrap);
        }
    }
    let specs: Vec<ResourceSpecifier<'_>> = names.iter().map(|n| ResourceSpecifier::Topic(n)).collect();
    let configs = admin.describe_configs(specs.iter(), &admin_options()).await.context("DescribeConfigs failed")?;
    let mut out = Vec::new();
    let admin = std::sync::Arc::new(admin);
    for (name, cfg) in names.iter().zip(configs) {
        let topic = md.topics().iter().find(|t| t.name() == name).context("topic vanished")?;
        let parts: Vec<(i32, i32, Vec<i32>, Vec<i32>)> =
            topic.partitions().iter().map(|p| (p.id(), p.leader(), p.replicas().to_vec(), p.isr().to_vec())).collect();
        let (a, n, ids) = (admin.clone(), name.clone(), parts.iter().map(|p| p.0).collect::<Vec<_>>());
        let marks = tokio::task::spawn_blocking(move || {
            ids.iter()
                .map(|p| a.inner().fetch_watermarks(&n, *p, Duration::from_secs(10)).map_err(|e| (*p, e)))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?
        .map_err(|(p, e)| anyhow::anyhow!("cannot read the offsets of {name} partition {p}: {e}"))?;
        let entries = cfg.map_err(|code| anyhow::anyhow!("cannot describe the settings of {name}: {code}"))?.entries;
        out.push((name.clone(), parts, marks, entries));
    }
    match fmt {
        OutputFormat::Json => {
            let v: Vec<_> = out
                .iter()
                .map(|(name, parts, marks, entries)| {
                    json!({
                        "name": name,
                        "partitions": parts.iter().zip(marks).map(|((id, leader, replicas, isr), (lo, hi))| json!({
                            "partition": id, "leader": leader, "replicas": replicas, "isr": isr,
                            "earliest_offset": lo, "latest_offset": hi, "records": hi - lo,
                        })).collect::<Vec<_>>(),
                        "configs": entries.iter().map(|e| (e.name.clone(), json!({
                            "value": e.value, "default": e.is_default, "read_only": e.is_read_only,
                        }))).collect::<BTreeMap<_, _>>(),
                    })
                })
                .collect();
            print_json(&json!(v));
        }
        OutputFormat::Table => {
            for (name, parts, marks, entries) in &out {
                let records: i64 = marks.iter().map(|(lo, hi)| hi - lo).sum();
                let rf = parts.first().map_or(0, |p| p.2.len());
                outln!("topic {name}: {} partitions, replication factor {rf}, {records} records", parts.len());
                let rows = parts
                    .iter()
                    .zip(marks)
                    .map(|((id, leader, replicas, isr), (lo, hi))| {
                        let list = |v: &Vec<i32>| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
                        vec![
                            id.to_string(),
                            leader.to_string(),
                            list(replicas),
                            list(isr),
                            lo.to_string(),
                            hi.to_string(),
                            (hi - lo).to_string(),
                        ]
                    })
                    .collect();
                outln!("{}", table(&["PARTITION", "LEADER", "REPLICAS", "ISR", "EARLIEST", "LATEST", "RECORDS"], rows));
                let set: Vec<Vec<String>> = entries
                    .iter()
                    .filter(|e| !e.is_default || e.source == ConfigSource::DynamicTopic)
                    .map(|e| vec![e.name.clone(), e.value.clone().unwrap_or_default()])
                    .collect();
                if set.is_empty() {
                    outln!("settings: all broker defaults");
                } else {
                    outln!("{}", table(&["SETTING", "VALUE"], set));
                }
            }
        }
    }
    Ok(())
}

async fn delete(
    admin: &AdminClient<SluiceContext>,
    md: &Metadata,
    conn: &KafkaConn,
    names: &[String],
    if_exists: bool,
    fmt: OutputFormat,
) -> anyhow::Result<()> {
    let exists = |n: &String| md.topics().iter().any(|t| t.name() == n && t.error().is_none());
    let missing: Vec<&String> = names.iter().filter(|n| !exists(n)).collect();
    if !missing.is_empty() && !if_exists {
        let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        bail!("topic {} does not exist at {}; pass --if-exists to accept that", list.join(", "), conn.bootstrap);
    }
    let present: Vec<&str> = names.iter().filter(|n| exists(n)).map(String::as_str).collect();
    let mut deleted = Vec::new();
    if !present.is_empty() {
        for r in admin.delete_topics(&present, &admin_options()).await.context("DeleteTopics failed")? {
            match r {
                Ok(n) => deleted.push(n),
                Err((n, RDKafkaErrorCode::UnknownTopicOrPartition)) if if_exists => {
                    tracing::debug!("{n} vanished before delete")
                }
                Err((n, code)) => bail!("cannot delete topic {n}: {code}"),
            }
        }
    }
    match fmt {
        OutputFormat::Json => print_json(&json!({"deleted": deleted})),
        OutputFormat::Table => {
            for n in &deleted {
                outln!("deleted topic {n}");
            }
            for n in missing {
                outln!("topic {n} did not exist");
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn alter(
    admin: &AdminClient<SluiceContext>,
    md: &Metadata,
    conn: &KafkaConn,
    name: &str,
    partitions: Option<i32>,
    configs: &[(String, String)],
    delete_configs: &[String],
    fmt: OutputFormat,
) -> anyhow::Result<()> {
    let Some(current) = crate::clients::partition_count(md, name) else {
        bail!("topic {name} does not exist at {}; see `sluice topics list`", conn.bootstrap);
    };
    let mut changes = Vec::new();
    if let Some(p) = partitions {
        if p as i64 <= current as i64 {
            bail!(
                "--partitions {p}: topic {name} has {current} partitions and Kafka can only add partitions; give more than {current}"
            );
        }
        let np = NewPartitions::new(name, p as usize);
        match admin.create_partitions([&np], &admin_options()).await.context("CreatePartitions failed")?.pop() {
            Some(Err((_, code))) => bail!("cannot grow {name} to {p} partitions: {code}"),
            _ => changes.push(format!("partitions {current} → {p}")),
        }
    }
    if !configs.is_empty() || !delete_configs.is_empty() {
        // AlterConfigs replaces a topic's whole set of settings: start from the current ones.
        let spec = ResourceSpecifier::Topic(name);
        let described = admin.describe_configs([&spec], &admin_options()).await.context("DescribeConfigs failed")?;
        let entries = match described.into_iter().next() {
            Some(Ok(r)) => r.entries,
            Some(Err(code)) => bail!("cannot read the settings of {name}: {code}"),
            None => Vec::new(),
        };
        let mut set: BTreeMap<String, String> = entries
            .into_iter()
            .filter(|e| e.source == ConfigSource::DynamicTopic)
            .filter_map(|e| e.value.map(|v| (e.name, v)))
            .collect();
        for k in delete_configs {
            if set.remove(k).is_none() {
                bail!("--delete-config {k}: topic {name} has no setting {k} of its own");
            }
            changes.push(format!("{k} removed"));
        }
        for (k, v) in configs {
            set.insert(k.clone(), v.clone());
            changes.push(format!("{k}={v}"));
        }
        let mut alter = AlterConfig::new(spec);
        for (k, v) in &set {
            alter = alter.set(k, v);
        }
        let result = admin.alter_configs([&alter], &admin_options()).await.context("AlterConfigs failed")?;
        if let Some(Err((_, code))) = result.into_iter().next() {
            bail!("cannot change the settings of {name}: {code}");
        }
    }
    match fmt {
        OutputFormat::Json => print_json(&json!({"topic": name, "changes": changes})),
        OutputFormat::Table => outln!("altered topic {name}: {}", changes.join(", ")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::create_fix;
    use rdkafka::types::RDKafkaErrorCode;

    #[test]
    fn refused_creates_name_the_fix() {
        let f = create_fix(RDKafkaErrorCode::InvalidReplicationFactor, Some(1)).unwrap();
        assert!(f.starts_with("the cluster has 1 broker, so give --replication-factor 1 or less"), "{f}");
        let f = create_fix(RDKafkaErrorCode::InvalidReplicationFactor, Some(3)).unwrap();
        assert!(f.starts_with("the cluster has 3 brokers, so give --replication-factor 3 or less"), "{f}");
        assert!(create_fix(RDKafkaErrorCode::InvalidReplicationFactor, None).unwrap().contains("number of brokers"));
        assert!(create_fix(RDKafkaErrorCode::InvalidConfig, None).unwrap().contains("--config"));
        assert!(create_fix(RDKafkaErrorCode::InvalidPartitions, None).unwrap().contains("--partitions 1 or more"));
        assert_eq!(create_fix(RDKafkaErrorCode::RequestTimedOut, None), None);
    }
}
