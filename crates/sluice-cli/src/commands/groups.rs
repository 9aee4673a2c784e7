//! `sluice groups list|describe|reset-offsets|delete`, like kafka-consumer-groups.sh.
//!
//! Offsets are read and written with a consumer that names the group but never joins it, as
//! Kafka's own tool does; so offsets can only be reset while the group has no active members.

use crate::clients::{admin, admin_options};
use crate::kafka_opts::{ConnectArgs, Environment, KafkaConn};
use crate::output::outln;
use crate::output::{OutputFormat, print_json, table};
use anyhow::{Context, bail};
use clap::{ArgGroup, Args, Subcommand};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::groups::GroupInfo;
use rdkafka::metadata::Metadata;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::json;
use sluice_connect::civil::parse_datetime_ms;
use sluice_connect::kafka::SluiceContext;
use std::collections::BTreeMap;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(30);

/// `sluice groups` flags.
#[derive(Debug, Args)]
pub struct GroupsArgs {
    /// Connection.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Output for people (table) or scripts (json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, global = true, value_name = "FORMAT")]
    pub format: OutputFormat,
    /// What to do.
    #[command(subcommand)]
    pub action: GroupsAction,
}

/// Consumer group administration.
#[derive(Debug, Subcommand)]
pub enum GroupsAction {
    /// List consumer groups with their state and member count.
    List,
    /// Show a group's members, committed offsets and lag per partition.
    Describe {
        /// Group id.
        #[arg(value_name = "GROUP")]
        group: String,
    },
    /// Move a group's committed offsets (the group must have no active members). Prints the
    /// plan only, unless --execute.
    #[command(group(ArgGroup::new("target").required(true).args(["to_earliest", "to_latest", "to_offset", "to_datetime", "shift_by"])))]
    ResetOffsets {
        /// Group id.
        #[arg(value_name = "GROUP")]
        group: String,
        /// Topic to reset (repeatable) [default: every topic the group has offsets for].
        #[arg(long, value_name = "TOPIC")]
        topic: Vec<String>,
        /// Partition to reset (repeatable, with one --topic) [default: all].
        #[arg(long, value_name = "N", requires = "topic")]
        partition: Vec<i32>,
        /// To the first record still stored.
        #[arg(long)]
        to_earliest: bool,
        /// To the end: skip everything stored now.
        #[arg(long)]
        to_latest: bool,
        /// To this offset (kept within the stored range).
        #[arg(long, value_name = "N")]
        to_offset: Option<i64>,
        /// To the first record at or after this time: Unix ms, YYYY-MM-DD or
        /// YYYY-MM-DDTHH:MM:SS (UTC).
        #[arg(long, value_name = "TIME")]
        to_datetime: Option<String>,
        /// By this many records from the committed offset (negative: back).
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        shift_by: Option<i64>,
        /// Apply the new offsets (without it, only print them).
        #[arg(long)]
        execute: bool,
    },
    /// Delete groups that have no active members, with their committed offsets.
    Delete {
        /// Group ids.
        #[arg(value_name = "GROUP", required = true)]
        groups: Vec<String>,
    },
}

/// Where `reset-offsets` moves the offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Earliest,
    Latest,
    Offset(i64),
    Time(i64),
    Shift(i64),
}

/// The topics and partitions of a consumer-protocol assignment (Kafka's
/// ConsumerProtocolAssignment: version, [topic, [partition]], user data); `None` when the
/// bytes are not one.
pub(crate) fn parse_assignment(bytes: &[u8]) -> Option<Vec<(String, Vec<i32>)>> {
    let mut at = 0usize;
    let mut take = |n: usize| -> Option<&[u8]> {
        let s = bytes.get(at..at.checked_add(n)?)?;
        at += n;
        Some(s)
    };
    let _version = i16::from_be_bytes(take(2)?.try_into().ok()?);
    let topics = i32::from_be_bytes(take(4)?.try_into().ok()?);
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let len = i16::from_be_bytes(take(2)?.try_into().ok()?);
        let name = String::from_utf8(take(usize::try_from(len).ok()?)?.to_vec()).ok()?;
        let count = i32::from_be_bytes(take(4)?.try_into().ok()?);
        let mut parts = Vec::new();
        for _ in 0..count.max(0) {
            parts.push(i32::from_be_bytes(take(4)?.try_into().ok()?));
        }
        out.push((name, parts));
    }
    Some(out)
}

fn group_consumer(conn: &KafkaConn, group: &str) -> anyhow::Result<BaseConsumer<SluiceContext>> {
    let mut s = conn.client_settings();
    s.set("group.id", group);
    s.set("enable.auto.commit", "false");
    for (k, v) in &conn.overrides {
        s.set(k, v);
    }
    s.client_config()
        .create_with_context(SluiceContext::default())
        .map_err(|e| anyhow::anyhow!("invalid consumer setting: {e}; check the -X key=value pairs"))
}

fn find_group(consumer: &BaseConsumer<SluiceContext>, group: &str) -> anyhow::Result<Option<GroupSummary>> {
    let list =
        consumer.fetch_group_list(Some(group), TIMEOUT).with_context(|| format!("cannot describe group {group}"))?;
    Ok(list.groups().iter().find(|g| g.name() == group).map(GroupSummary::of).filter(|g| g.state != "Dead"))
}

/// What a group looks like, owned.
#[derive(Debug, Clone)]
struct GroupSummary {
    name: String,
    state: String,
    protocol_type: String,
    protocol: String,
    members: Vec<Member>,
}

#[derive(Debug, Clone)]
struct Member {
    id: String,
    client_id: String,
    host: String,
    assignment: Vec<(String, Vec<i32>)>,
}

impl GroupSummary {
    fn of(g: &GroupInfo) -> Self {
        GroupSummary {
            name: g.name().to_string(),
            state: g.state().to_string(),
            protocol_type: g.protocol_type().to_string(),
            protocol: g.protocol().to_string(),
            members: g
                .members()
                .iter()
                .map(|m| Member {
                    id: m.id().to_string(),
                    client_id: m.client_id().to_string(),
                    host: m.client_host().to_string(),
                    assignment: m.assignment().and_then(parse_assignment).unwrap_or_default(),
                })
                .collect(),
        }
    }
}

/// Every partition of the user topics in `md`, or of `topics` when given (which must exist).
fn partitions_of(
    md: &Metadata,
    topics: &[String],
    only: &[i32],
    conn: &KafkaConn,
) -> anyhow::Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for t in md.topics().iter().filter(|t| t.error().is_none()) {
        let wanted = if topics.is_empty() { !t.name().starts_with("__") } else { topics.iter().any(|x| x == t.name()) };
        if !wanted {
            continue;
        }
        for p in t.partitions() {
            if only.is_empty() || only.contains(&p.id()) {
                tpl.add_partition(t.name(), p.id());
            }
        }
    }
    for t in topics {
        if !md.topics().iter().any(|m| m.name() == t && m.error().is_none()) {
            bail!("--topic {t}: no such topic at {}; see `sluice topics list`", conn.bootstrap);
        }
    }
    for p in only {
        if !tpl.elements().iter().any(|e| e.partition() == *p) {
            bail!("--partition {p}: {} has no partition {p}", topics.join(", "));
        }
    }
    Ok(tpl)
}

/// Committed offsets of `group` among `tpl`: (topic, partition) → offset, only those set.
fn committed(
    consumer: &BaseConsumer<SluiceContext>,
    tpl: TopicPartitionList,
    group: &str,
) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    if tpl.count() == 0 {
        return Ok(BTreeMap::new());
    }
    let got = consumer
        .committed_offsets(tpl, TIMEOUT)
        .with_context(|| format!("cannot read the offsets of group {group}"))?;
    Ok(got
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
            _ => None,
        })
        .collect())
}

pub(crate) async fn run(args: GroupsArgs) -> anyhow::Result<()> {
    let env = Environment::load()?;
    let conn = KafkaConn::resolve(&args.connect, &env)?;
    let fmt = args.format;
    match args.action {
        GroupsAction::Delete { groups } => {
            let c = conn.clone();
            let (admin, _) = tokio::task::spawn_blocking(move || admin(&c)).await??;
            let names: Vec<&str> = groups.iter().map(String::as_str).collect();
            let mut deleted = Vec::new();
            for r in admin.delete_groups(&names, &admin_options()).await.context("DeleteGroups failed")? {
                match r {
                    Ok(g) => deleted.push(g),
                    Err((g, code)) => bail!(
                        "cannot delete group {g}: {code} (a group with active members cannot be deleted; stop them first)"
                    ),
                }
            }
            match fmt {
                OutputFormat::Json => print_json(&json!({"deleted": deleted})),
                OutputFormat::Table => deleted.iter().for_each(|g| outln!("deleted group {g}")),
            }
            Ok(())
        }
        action => tokio::task::spawn_blocking(move || run_blocking(action, conn, fmt)).await?,
    }
}

fn run_blocking(action: GroupsAction, conn: KafkaConn, fmt: OutputFormat) -> anyhow::Result<()> {
    let (admin, md) = admin(&conn)?;
    drop(admin);
    match action {
        GroupsAction::List => list(&conn, fmt),
        GroupsAction::Describe { group } => describe(&conn, &md, &group, fmt),
        GroupsAction::ResetOffsets {
            group,
            topic,
            partition,
            to_earliest,
            to_latest,
            to_offset,
            to_datetime,
            shift_by,
            execute,
        } => {
            let target = match (to_earliest, to_latest, to_offset, to_datetime, shift_by) {
                (true, ..) => Target::Earliest,
                (_, true, ..) => Target::Latest,
                (_, _, Some(o), ..) if o < 0 => bail!("--to-offset {o} must be 0 or more"),
                (_, _, Some(o), ..) => Target::Offset(o),
                (_, _, _, Some(t), _) => Target::Time(parse_datetime_ms(&t).with_context(|| {
                    format!("--to-datetime {t:?} is not a time; write Unix ms, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS (UTC)")
                })?),
                (.., Some(n)) => Target::Shift(n),
                _ => bail!("give one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by"),
            };
            if !partition.is_empty() && topic.len() != 1 {
                bail!("--partition needs exactly one --topic");
            }
            reset(&conn, &md, &group, &topic, &partition, target, execute, fmt)
        }
        GroupsAction::Delete { .. } => unreachable!("handled in run"),
    }
}

fn list(conn: &KafkaConn, fmt: OutputFormat) -> anyhow::Result<()> {
    let consumer = group_consumer(conn, "sluice-groups")?;
    let list = consumer.fetch_group_list(None, TIMEOUT).context("cannot list consumer groups")?;
    let mut groups: Vec<GroupSummary> = list.groups().iter().map(GroupSummary::of).collect();
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    match fmt {
        OutputFormat::Json => print_json(&json!(
            groups
                .iter()
                .map(|g| json!({"group": g.name, "state": g.state, "members": g.members.len(), "protocol_type": g.protocol_type}))
                .collect::<Vec<_>>()
        )),
        OutputFormat::Table => outln!(
            "{}",
            table(
                &["GROUP", "STATE", "MEMBERS", "PROTOCOL-TYPE"],
                groups
                    .iter()
                    .map(|g| vec![g.name.clone(), g.state.clone(), g.members.len().to_string(), g.protocol_type.clone()])
                    .collect()
            )
        ),
    }
    Ok(())
}

fn describe(conn: &KafkaConn, md: &Metadata, group: &str, fmt: OutputFormat) -> anyhow::Result<()> {
    let consumer = group_consumer(conn, group)?;
    let summary = find_group(&consumer, group)?;
    let offsets = committed(&consumer, partitions_of(md, &[], &[], conn)?, group)?;
    let Some(summary) = summary.or_else(|| {
        (!offsets.is_empty()).then(|| GroupSummary {
            name: group.to_string(),
            state: "Empty".into(),
            protocol_type: String::new(),
            protocol: String::new(),
            members: vec![],
        })
    }) else {
        bail!("group {group} does not exist at {}; see `sluice groups list`", conn.bootstrap);
    };
    // Rows: every partition with an offset or an owner.
    let mut owner: BTreeMap<(String, i32), &Member> = BTreeMap::new();
    for m in &summary.members {
        for (t, ps) in &m.assignment {
            for p in ps {
                owner.insert((t.clone(), *p), m);
            }
        }
    }
    let mut keys: Vec<(String, i32)> = offsets.keys().cloned().chain(owner.keys().cloned()).collect();
    keys.sort();
    keys.dedup();
    let mut rows = Vec::new();
    for (t, p) in &keys {
        let (_, high) = consumer
            .fetch_watermarks(t, *p, TIMEOUT)
            .with_context(|| format!("cannot read the end of {t} partition {p}"))?;
        let current = offsets.get(&(t.clone(), *p)).copied();
        rows.push((
            t.clone(),
            *p,
            current,
            high,
            current.map(|c| (high - c).max(0)),
            owner.get(&(t.clone(), *p)).copied(),
        ));
    }
    match fmt {
        OutputFormat::Json => print_json(&json!({
            "group": summary.name,
            "state": summary.state,
            "protocol_type": summary.protocol_type,
            "protocol": summary.protocol,
            "members": summary.members.iter().map(|m| json!({
                "member_id": m.id, "client_id": m.client_id, "host": m.host,
                "assignment": m.assignment.iter().map(|(t, ps)| json!({"topic": t, "partitions": ps})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "offsets": rows.iter().map(|(t, p, cur, end, lag, m)| json!({
                "topic": t, "partition": p, "committed_offset": cur, "log_end_offset": end, "lag": lag,
                "member_id": m.map(|m| m.id.clone()),
            })).collect::<Vec<_>>(),
        })),
        OutputFormat::Table => {
            outln!(
                "group {}: {}, {} members{}",
                summary.name,
                summary.state,
                summary.members.len(),
                if summary.protocol.is_empty() { String::new() } else { format!(", assignor {}", summary.protocol) }
            );
            let dash = || "-".to_string();
            outln!(
                "{}",
                table(
                    &[
                        "TOPIC",
                        "PARTITION",
                        "CURRENT-OFFSET",
                        "LOG-END-OFFSET",
                        "LAG",
                        "CONSUMER-ID",
                        "HOST",
                        "CLIENT-ID"
                    ],
                    rows.iter()
                        .map(|(t, p, cur, end, lag, m)| vec![
                            t.clone(),
                            p.to_string(),
                            cur.map_or_else(dash, |c| c.to_string()),
                            end.to_string(),
                            lag.map_or_else(dash, |l| l.to_string()),
                            m.map_or_else(dash, |m| m.id.clone()),
                            m.map_or_else(dash, |m| m.host.clone()),
                            m.map_or_else(dash, |m| m.client_id.clone()),
                        ])
                        .collect()
                )
            );
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn reset(
    conn: &KafkaConn,
    md: &Metadata,
    group: &str,
    topics: &[String],
    only: &[i32],
    target: Target,
    execute: bool,
    fmt: OutputFormat,
) -> anyhow::Result<()> {
    let consumer = group_consumer(conn, group)?;
    if let Some(g) = find_group(&consumer, group)?
        && !g.members.is_empty()
    {
        bail!(
            "group {group} has {} active members ({}); stop them first: Kafka only moves the offsets of a group without members",
            g.members.len(),
            g.state
        );
    }
    let current = committed(&consumer, partitions_of(md, topics, only, conn)?, group)?;
    // Without --topic, only partitions the group has offsets for.
    let tpl = partitions_of(md, topics, only, conn)?;
    let chosen: Vec<(String, i32)> = tpl
        .elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .filter(|k| !topics.is_empty() || current.contains_key(k))
        .collect();
    if chosen.is_empty() {
        bail!("group {group} has no committed offsets to reset; name the topics with --topic");
    }
    let times = if let Target::Time(ms) = target {
        let mut q = TopicPartitionList::new();
        for (t, p) in &chosen {
            q.add_partition_offset(t, *p, Offset::Offset(ms))?;
        }
        let found = consumer.offsets_for_times(q, TIMEOUT).context("cannot look up offsets by time")?;
        found
            .elements()
            .iter()
            .map(|e| {
                (
                    (e.topic().to_string(), e.partition()),
                    match e.offset() {
                        Offset::Offset(o) if o >= 0 => Some(o),
                        _ => None,
                    },
                )
            })
            .collect::<BTreeMap<_, _>>()
    } else {
        BTreeMap::new()
    };
    let mut plan = Vec::new();
    let mut commit = TopicPartitionList::new();
    for (t, p) in &chosen {
        let (low, high) = consumer
            .fetch_watermarks(t, *p, TIMEOUT)
            .with_context(|| format!("cannot read the offsets of {t} partition {p}"))?;
        let cur = current.get(&(t.clone(), *p)).copied();
        let new = match target {
            Target::Earliest => low,
            Target::Latest => high,
            Target::Offset(o) => o,
            Target::Time(_) => times.get(&(t.clone(), *p)).copied().flatten().unwrap_or(high),
            Target::Shift(n) => cur.unwrap_or(low).saturating_add(n),
        }
        .clamp(low, high);
        commit.add_partition_offset(t, *p, Offset::Offset(new))?;
        plan.push((t.clone(), *p, cur, new));
    }
    if execute {
        consumer
            .commit(&commit, CommitMode::Sync)
            .with_context(|| format!("cannot commit the new offsets of group {group}"))?;
    }
    match fmt {
        OutputFormat::Json => print_json(&json!({
            "group": group,
            "executed": execute,
            "offsets": plan.iter().map(|(t, p, cur, new)| json!({"topic": t, "partition": p, "previous_offset": cur, "new_offset": new})).collect::<Vec<_>>(),
        })),
        OutputFormat::Table => {
            outln!(
                "{}",
                table(
                    &["GROUP", "TOPIC", "PARTITION", "PREVIOUS-OFFSET", "NEW-OFFSET"],
                    plan.iter()
                        .map(|(t, p, cur, new)| vec![
                            group.to_string(),
                            t.clone(),
                            p.to_string(),
                            cur.map_or("-".to_string(), |c| c.to_string()),
                            new.to_string()
                        ])
                        .collect()
                )
            );
            if execute {
                outln!("offsets of group {group} reset");
            } else {
                outln!("dry run: nothing changed; add --execute to apply");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_bytes_parse_and_garbage_does_not_panic() {
        // version 1, one topic "ab" with partitions 0 and 2, empty user data.
        let bytes = [0, 1, 0, 0, 0, 1, 0, 2, b'a', b'b', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(parse_assignment(&bytes), Some(vec![("ab".to_string(), vec![0, 2])]));
        assert_eq!(parse_assignment(&bytes[..9]), None);
        assert_eq!(parse_assignment(&[0, 1, 0x7f, 0xff, 0xff, 0xff]), None);
        assert_eq!(parse_assignment(&[]), None);
    }
}
