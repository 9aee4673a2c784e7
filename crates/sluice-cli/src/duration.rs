//! Durations as users type them: `30s`, `500ms`, `2m`, `1h`, `1.5s`; a bare number is seconds.

use std::time::Duration;

/// Parses `text` given to `flag`; the error names both and shows the accepted forms.
pub(crate) fn parse(flag: &str, text: &str) -> anyhow::Result<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    match num.parse::<f64>() {
        Ok(n) if scale.is_finite() && n.is_finite() && n * scale < 1e12 => Ok(Duration::from_secs_f64(n * scale)),
        _ => anyhow::bail!(
            "{flag} {text:?} is not a duration; write e.g. 30s, 500ms, 2m or 1h (a bare number is seconds)"
        ),
    }
}

/// `1.5s`, `250ms`, `5m`: the shortest exact spelling, for messages.
pub(crate) fn show(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        format!("{}µs", d.as_micros())
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms < 1000 {
        format!("{ms}ms")
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse("--x", "30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("--x", "30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse("--x", "500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("--x", "2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse("--x", "1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse("--x", "1h").unwrap(), Duration::from_secs(3600));
        let e = parse("--sleep", "ten").unwrap_err().to_string();
        assert!(e.contains("--sleep \"ten\"") && e.contains("30s"), "{e}");
        assert!(parse("--x", "5y").is_err());
        assert!(parse("--x", "").is_err());
        assert_eq!(show(Duration::from_millis(250)), "250ms");
        assert_eq!(show(Duration::from_secs(10)), "10s");
        assert_eq!(show(Duration::from_millis(1500)), "1.5s");
        assert_eq!(show(Duration::from_secs(300)), "5m");
    }
}
