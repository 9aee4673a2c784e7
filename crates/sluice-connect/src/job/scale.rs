//! Scale-out set-up of jobs with aggregates (see [`sluice_stream::shuffle`]): the repartition
//! topic and where each stage keeps its checkpoints.
//!
//! Checkpoint layout under the job's location (`[checkpoint] location`, else
//! `checkpoints/<job>`): `shuffle/instance-<N>/` (the shuffle stage: offsets only),
//! `merge/instance-<N>/` (the merge stage's epochs, which its file sinks recover by) and
//! `merge/partition-<P>/` (each repartition partition's state, shared by the instances: the
//! next owner of a partition restores it from there).

use super::{JobConfig, JobError};
use crate::kafka::SluiceContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::types::RDKafkaErrorCode;
use sluice_stream::JobPlan;
use std::time::Duration;

/// What both stages need to know.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// `<job>-repartition`.
    pub(crate) topic: String,
    /// Its partition count.
    pub(crate) partitions: u32,
    /// The source topic's partitions.
    pub(crate) source_partitions: Vec<i32>,
}

/// The internal topic between the stages.
pub(crate) fn repartition_topic(plan: &JobPlan) -> String {
    format!("{}-repartition", plan.name)
}

/// A stage's own checkpoints (`shuffle` or `merge`).
pub(crate) fn stage_location(config: &JobConfig, stage: &str) -> String {
    format!("{}/{stage}/instance-{}", config.checkpoint_base(), config.instance)
}

/// A repartition partition's checkpoints.
pub(crate) fn partition_location(config: &JobConfig, partition: i32) -> String {
    format!("{}/merge/partition-{partition}", config.checkpoint_base())
}

/// Partition counts of `topics` (`None`: no such topic), from one metadata request.
fn partition_counts<const N: usize>(
    admin: &AdminClient<SluiceContext>,
    topics: [&str; N],
) -> Result<[Option<usize>; N], String> {
    // All topics: asking for one by name may make a broker create it with its defaults.
    let md = admin.inner().fetch_metadata(None, Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let count = |name: &str| {
        md.topics().iter().find(|t| t.name() == name).filter(|t| t.error().is_none()).map(|t| t.partitions().len())
    };
    Ok(topics.map(count))
}

/// Reads the source topic's partitions and creates the repartition topic (as many partitions)
/// unless it exists.
pub(crate) async fn prepare(config: &JobConfig) -> Result<Layout, JobError> {
    let plan = &config.plan;
    let source = plan.source.topic.clone();
    let topic = repartition_topic(plan);
    let kafka_err = |what: String, message: String, fix: &str| JobError::Kafka { what, message, fix: fix.into() };
    let admin: AdminClient<SluiceContext> =
        config.kafka.client_config().create_with_context(SluiceContext::default()).map_err(|e| {
            kafka_err(format!("the admin client of job {}", plan.name), e.to_string(), "check the -X settings")
        })?;
    let admin = std::sync::Arc::new(admin);
    let (a, s, t) = (admin.clone(), source.clone(), topic.clone());
    let counts = tokio::task::spawn_blocking(move || partition_counts(&a, [s.as_str(), t.as_str()]))
        .await
        .map_err(|e| JobError::internal(format!("the metadata task failed: {e}")))?
        .map_err(|m| kafka_err(format!("the metadata of topic {source}"), m, "check that the broker is up"))?;
    let [n, existing] = counts;
    let Some(n) = n.filter(|&n| n > 0) else {
        return Err(JobError::Config {
            file: config.job_file.clone(),
            field: "source.topic".into(),
            message: format!(
                "topic {source} does not exist; a scaled-out job (--instance-id) shares the topic's partitions \
                 among its instances, so the topic must exist before they start"
            ),
            fix: format!("create it first, e.g. `sluice topics create {source} --partitions 6`"),
        });
    };
    let partitions = match existing {
        Some(m) if m > 0 => m,
        _ => {
            let new = NewTopic::new(&topic, n as i32, TopicReplication::Fixed(-1));
            let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
            let results = admin.create_topics([&new], &opts).await.map_err(|e| {
                kafka_err(
                    format!("creating topic {topic}"),
                    e.to_string(),
                    "check that the broker allows topic creation",
                )
            })?;
            for r in results {
                if let Err((_, code)) = r
                    && code != RDKafkaErrorCode::TopicAlreadyExists
                {
                    return Err(kafka_err(
                        format!("creating topic {topic}"),
                        code.to_string(),
                        "create it yourself with as many partitions as the source topic",
                    ));
                }
            }
            n
        }
    };
    Ok(Layout { topic, partitions: partitions as u32, source_partitions: (0..n as i32).collect() })
}
