//! Topic configuration: the names, defaults and types Kafka reports, and validation.

use std::collections::BTreeMap;

/// Type of a config value, with DescribeConfigs' numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// true / false.
    Boolean = 1,
    /// Any string.
    String = 2,
    /// 32-bit integer.
    Int = 3,
    /// 16-bit integer.
    Short = 4,
    /// 64-bit integer.
    Long = 5,
    /// Floating point.
    Double = 6,
    /// Comma-separated list.
    List = 7,
}

/// A known topic config: name, Kafka's default, type, and the allowed values if an enum.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    /// Config name.
    pub name: &'static str,
    /// Default value as Kafka reports it.
    pub default: &'static str,
    /// Value type.
    pub ty: ConfigType,
    /// Allowed values for enumerations (empty = any of the type).
    pub allowed: &'static [&'static str],
    /// Smallest allowed numeric value.
    pub min: i64,
}

const fn def(name: &'static str, default: &'static str, ty: ConfigType) -> ConfigDef {
    ConfigDef { name, default, ty, allowed: &[], min: i64::MIN }
}

const fn def_min(name: &'static str, default: &'static str, ty: ConfigType, min: i64) -> ConfigDef {
    ConfigDef { name, default, ty, allowed: &[], min }
}

/// Every topic config Kafka 4 knows, with its defaults.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    ConfigDef {
        name: "cleanup.policy",
        default: "delete",
        ty: ConfigType::List,
        allowed: &["delete", "compact"],
        min: i64::MIN,
    },
    ConfigDef {
        name: "compression.type",
        default: "producer",
        ty: ConfigType::String,
        allowed: &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"],
        min: i64::MIN,
    },
    def_min("compression.gzip.level", "-1", ConfigType::Int, -1),
    def_min("compression.lz4.level", "9", ConfigType::Int, 1),
    def_min("compression.zstd.level", "3", ConfigType::Int, -131072),
    def_min("delete.retention.ms", "86400000", ConfigType::Long, 0),
    def_min("file.delete.delay.ms", "60000", ConfigType::Long, 0),
    def_min("flush.messages", "9223372036854775807", ConfigType::Long, 1),
    def_min("flush.ms", "9223372036854775807", ConfigType::Long, 0),
    def("follower.replication.throttled.replicas", "", ConfigType::List),
    def_min("index.interval.bytes", "4096", ConfigType::Int, 0),
    def("leader.replication.throttled.replicas", "", ConfigType::List),
    def_min("local.retention.bytes", "-2", ConfigType::Long, -2),
    def_min("local.retention.ms", "-2", ConfigType::Long, -2),
    def_min("max.compaction.lag.ms", "9223372036854775807", ConfigType::Long, 1),
    def_min("max.message.bytes", "1048588", ConfigType::Int, 0),
    def_min("message.timestamp.after.max.ms", "3600000", ConfigType::Long, 0),
    def_min("message.timestamp.before.max.ms", "9223372036854775807", ConfigType::Long, 0),
    ConfigDef {
        name: "message.timestamp.type",
        default: "CreateTime",
        ty: ConfigType::String,
        allowed: &["CreateTime", "LogAppendTime"],
        min: i64::MIN,
    },
    def("min.cleanable.dirty.ratio", "0.5", ConfigType::Double),
    def_min("min.compaction.lag.ms", "0", ConfigType::Long, 0),
    def_min("min.insync.replicas", "1", ConfigType::Int, 1),
    def("preallocate", "false", ConfigType::Boolean),
    def("remote.storage.enable", "false", ConfigType::Boolean),
    def_min("retention.bytes", "-1", ConfigType::Long, i64::MIN),
    def_min("retention.ms", "604800000", ConfigType::Long, -1),
    def_min("segment.bytes", "1073741824", ConfigType::Int, 1024 * 1024),
    def_min("segment.index.bytes", "10485760", ConfigType::Int, 4),
    def_min("segment.jitter.ms", "0", ConfigType::Long, 0),
    def_min("segment.ms", "604800000", ConfigType::Long, 1),
    def("unclean.leader.election.enable", "false", ConfigType::Boolean),
];

/// Looks a config up by name.
pub fn find(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks a value for a config; the error says what is wrong in Kafka's words.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let Some(d) = find(name) else {
        return Err(format!("Unknown topic config name: {name}"));
    };
    let bad = || format!("Invalid value {value} for configuration {name}");
    match d.ty {
        ConfigType::Boolean => {
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                return Err(format!("{}: Expected value to be either true or false", bad()));
            }
        }
        ConfigType::Short | ConfigType::Int | ConfigType::Long => {
            let v: i64 = value.trim().parse().map_err(|_| format!("{}: Not a number of type {:?}", bad(), d.ty))?;
            if d.ty == ConfigType::Int && i32::try_from(v).is_err() {
                return Err(format!("{}: Not a number of type INT", bad()));
            }
            if v < d.min {
                return Err(format!("{}: Value must be at least {}", bad(), d.min));
            }
        }
        ConfigType::Double => {
            value.trim().parse::<f64>().map_err(|_| format!("{}: Not a number of type DOUBLE", bad()))?;
        }
        ConfigType::List => {
            if !d.allowed.is_empty() {
                for item in value.split(',').map(str::trim) {
                    if !d.allowed.contains(&item) {
                        return Err(format!("{}: String must be one of: {}", bad(), d.allowed.join(", ")));
                    }
                }
            }
        }
        ConfigType::String => {
            if !d.allowed.is_empty() && !d.allowed.contains(&value) {
                return Err(format!("{}: String must be one of: {}", bad(), d.allowed.join(", ")));
            }
        }
    }
    Ok(())
}

/// The effective value of `name` given a topic's overrides and the broker's defaults.
pub fn effective<'a>(
    overrides: &'a BTreeMap<String, String>,
    defaults: &'a BTreeMap<String, String>,
    name: &str,
) -> Option<&'a str> {
    overrides.get(name).or_else(|| defaults.get(name)).map(String::as_str)
}

/// Parses an integer config, falling back to `fallback` when missing or malformed.
pub fn int_of(
    overrides: &BTreeMap<String, String>,
    defaults: &BTreeMap<String, String>,
    name: &str,
    fallback: i64,
) -> i64 {
    effective(overrides, defaults, name).and_then(|v| v.trim().parse().ok()).unwrap_or(fallback)
}

/// Kafka's topic name rules: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return Err(format!("Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return Err(format!(
            "Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka_rules() {
        assert!(validate_topic_name("user-events").is_ok());
        assert!(validate_topic_name("a.b_c-D9").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("bad name").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
    }

    #[test]
    fn values_are_checked_by_type() {
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("retention.ms", "soon").is_err());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "shred").is_err());
        assert!(validate("segment.bytes", "10").is_err());
        assert!(validate("no.such.config", "1").is_err());
        assert!(validate("preallocate", "TRUE").is_ok());
    }
}
