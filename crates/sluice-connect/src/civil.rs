//! Calendar arithmetic and the timestamp text the seeds write, in UTC.
//!
//! The seeds call Python's `datetime.now()`, which is the container's local time; containers
//! run in UTC, so sluice writes UTC and says so rather than depending on the host's zone.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01: (year, month 1–12, day 1–31).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `YYYY-MM-DD` of a day number.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD{sep}HH:MM:SS` of a Unix time in milliseconds (fraction dropped). `sep` is `'T'`
/// for Python's `isoformat()`, `' '` for `strftime("%Y-%m-%d %H:%M:%S")`.
pub fn format_datetime(ms: i64, sep: char) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    format!("{}{sep}{:02}:{:02}:{:02}", format_date(days), sod / 3600, (sod / 60) % 60, sod % 60)
}

/// Parses `YYYY-MM-DD` into a day number; `None` when it is not a valid date.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut it = text.trim().splitn(3, '-');
    let y: i64 = it.next()?.parse().ok()?;
    let m: u32 = it.next()?.parse().ok()?;
    let d: u32 = it.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || d > 31 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    // Rejects 2025-02-30 and the like: the round trip lands on another date.
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// Parses a UTC instant: Unix milliseconds (`1753610889000`), `YYYY-MM-DD`,
/// `YYYY-MM-DDTHH:MM:SS[.fff][Z]` or the same with a space; `None` when it is none of these.
pub fn parse_datetime_ms(text: &str) -> Option<i64> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok();
    }
    let t = t.strip_suffix('Z').unwrap_or(t);
    let (date, time) = match t.split_once(['T', ' ']) {
        Some((d, tm)) => (d, Some(tm)),
        None => (t, None),
    };
    let days = parse_date(date)?;
    let mut ms = days * 86_400_000;
    if let Some(tm) = time {
        let (hms, frac) = tm.split_once('.').unwrap_or((tm, ""));
        let parts: Vec<&str> = hms.split(':').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.len() != 2) {
            return None;
        }
        let (h, m, s): (i64, i64, i64) = (parts[0].parse().ok()?, parts[1].parse().ok()?, parts[2].parse().ok()?);
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        ms += (h * 3600 + m * 60 + s) * 1000;
        if !frac.is_empty() {
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let digits: String = frac.chars().chain("000".chars()).take(3).collect();
            ms += digits.parse::<i64>().ok()?;
        }
    }
    Some(ms)
}

/// `YYYY-MM-DDTHH:MM:SS.fffZ` of Unix milliseconds.
pub fn format_timestamp_ms(ms: i64) -> String {
    format!("{}.{:03}Z", format_datetime(ms, 'T'), ms.rem_euclid(1000))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(11_017), (2000, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 1690454489 is the seed's producer_timestamp: 2023-07-27 10:41:29 UTC.
        assert_eq!(format_datetime(1_690_454_489_123, ' '), "2023-07-27 10:41:29");
        assert_eq!(format_datetime(1_690_454_489_000, 'T'), "2023-07-27T10:41:29");
        assert_eq!(format_date(days_from_civil(2024, 2, 29)), "2024-02-29");
    }

    #[test]
    fn round_trips_every_day_for_centuries() {
        for days in -200_000..200_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn datetimes_parse_in_every_documented_form() {
        assert_eq!(parse_datetime_ms("1690454489123"), Some(1_690_454_489_123));
        assert_eq!(parse_datetime_ms("2023-07-27T10:41:29"), Some(1_690_454_489_000));
        assert_eq!(parse_datetime_ms("2023-07-27 10:41:29.12Z"), Some(1_690_454_489_120));
        assert_eq!(parse_datetime_ms("2023-07-27"), Some(1_690_416_000_000));
        assert_eq!(parse_datetime_ms("2023-07-27T25:00:00"), None);
        assert_eq!(parse_datetime_ms("soon"), None);
        assert_eq!(format_timestamp_ms(1_690_454_489_123), "2023-07-27T10:41:29.123Z");
    }

    #[test]
    fn parse_date_rejects_impossible_dates() {
        assert_eq!(parse_date("2025-07-27"), Some(days_from_civil(2025, 7, 27)));
        assert_eq!(parse_date("2025-02-30"), None);
        assert_eq!(parse_date("2025-13-01"), None);
        assert_eq!(parse_date("yesterday"), None);
    }
}
