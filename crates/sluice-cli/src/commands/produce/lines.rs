//! `sluice produce lines TOPIC`: stdin lines as records, like kafka-console-producer and
//! `kcat -P`.

use super::{check_topic_name, print_banner, summarize};
use crate::clients::check_sink;
use crate::kafka_opts::KafkaConn;
use anyhow::{Context, bail};
use clap::Args;
use sluice_connect::kafka::KafkaSink;
use std::io::BufRead;
use std::sync::Arc;
use std::time::Instant;

/// How key and value text is turned into bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum InputFormat {
    /// The text itself (UTF-8).
    #[default]
    Text,
    /// Hexadecimal digits, for binary values (what `consume --value-format hex` prints).
    Hex,
}

/// `sluice produce lines` flags.
#[derive(Debug, Clone, Args)]
pub struct LinesArgs {
    /// Topic to write to.
    #[arg(value_name = "TOPIC")]
    pub topic: String,
    /// Split each line at the first occurrence of this separator into key and value, e.g.
    /// $'\t' [default: no key].
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// How key and value text becomes bytes.
    #[arg(long, value_enum, default_value_t = InputFormat::Text, value_name = "FORMAT")]
    pub input_format: InputFormat,
    /// Partition to write to [default: by key, murmur2 as Java clients do].
    #[arg(long, value_name = "N")]
    pub partition: Option<i32>,
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if !t.len().is_multiple_of(2) {
        return None;
    }
    (0..t.len()).step_by(2).map(|i| u8::from_str_radix(t.get(i..i + 2)?, 16).ok()).collect()
}

/// Splits and decodes one line into (key, value).
pub(crate) fn parse_line(line: &str, number: usize, args: &LinesArgs) -> anyhow::Result<(Option<Vec<u8>>, Vec<u8>)> {
    let (key, value) = match &args.key_separator {
        None => (None, line),
        Some(sep) => match line.split_once(sep.as_str()) {
            Some((k, v)) => (Some(k), v),
            None => bail!(
                "stdin line {number} has no key separator {sep:?}; write the key, {sep:?}, then the value, or drop --key-separator"
            ),
        },
    };
    let bytes = |t: &str, what: &str| -> anyhow::Result<Vec<u8>> {
        match args.input_format {
            InputFormat::Text => Ok(t.as_bytes().to_vec()),
            InputFormat::Hex => decode_hex(t).with_context(|| {
                format!("stdin line {number}: the {what} {t:?} is not hexadecimal bytes (--input-format hex)")
            }),
        }
    };
    Ok((key.map(|k| bytes(k, "key")).transpose()?, bytes(value, "value")?))
}

pub(crate) async fn run(args: LinesArgs, conn: KafkaConn) -> anyhow::Result<()> {
    check_topic_name(&args.topic, "TOPIC")?;
    if let Some(p) = args.partition
        && p < 0
    {
        bail!("--partition {p} must be 0 or more");
    }
    if args.key_separator.as_deref() == Some("") {
        bail!("--key-separator must not be empty; use e.g. $'\\t' or ':'");
    }
    let settings = conn.producer_settings();
    let sink = Arc::new(KafkaSink::new(&settings, &args.topic)?);
    check_sink(&sink, &conn).await?;
    print_banner(
        "lines",
        &args.topic,
        &conn,
        &settings,
        &[format!(
            "reading    stdin, one record per line{}; flushed at end of input",
            args.key_separator.as_ref().map(|s| format!(", key {s:?} value")).unwrap_or_default()
        )],
    );
    let topic = args.topic.clone();
    let run_sink = Arc::clone(&sink);
    let started = Instant::now();
    let (produced, error) = tokio::task::spawn_blocking(move || {
        let mut produced = 0u64;
        let mut error = None;
        for (i, line) in std::io::stdin().lock().lines().enumerate() {
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    error = Some(anyhow::anyhow!("cannot read stdin line {}: {e}", i + 1));
                    break;
                }
            };
            let line = line.strip_suffix('\r').unwrap_or(&line);
            let sent = parse_line(line, i + 1, &args)
                .and_then(|(k, v)| Ok(run_sink.send_to(args.partition, k.as_deref(), &v, i)?));
            if let Err(e) = sent {
                error = Some(e);
                break;
            }
            produced += 1;
        }
        // Whatever was read is delivered before reporting, even after a bad line.
        run_sink.flush(&|| false);
        (produced, error)
    })
    .await
    .context("the producer thread failed")?;
    let summary = summarize(&topic, produced, sink.stats(), started.elapsed(), false);
    match error {
        Some(e) => Err(e),
        None => summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(sep: Option<&str>, format: InputFormat) -> LinesArgs {
        LinesArgs { topic: "t".into(), key_separator: sep.map(String::from), input_format: format, partition: None }
    }

    #[test]
    fn lines_split_and_decode() {
        let a = args(Some("\t"), InputFormat::Text);
        assert_eq!(parse_line("k\tv\tw", 1, &a).unwrap(), (Some(b"k".to_vec()), b"v\tw".to_vec()));
        let e = parse_line("novalue", 7, &a).unwrap_err().to_string();
        assert!(e.contains("line 7") && e.contains("\"\\t\""), "{e}");
        let h = args(None, InputFormat::Hex);
        assert_eq!(parse_line("00ff10", 1, &h).unwrap(), (None, vec![0, 255, 16]));
        assert!(parse_line("0g", 2, &h).unwrap_err().to_string().contains("not hexadecimal"));
        assert!(parse_line("abc", 2, &h).is_err());
        assert_eq!(parse_line("", 1, &args(None, InputFormat::Text)).unwrap(), (None, vec![]));
    }
}
