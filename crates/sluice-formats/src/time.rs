//! Text ↔ timestamps (milliseconds since the Unix epoch, UTC), for JSON and CSV cells.
//!
//! Accepted: `2024-05-01T12:30:00Z`, `2024-05-01 12:30:00`, fractions of a second (`.5`,
//! `.123456`), offsets (`+02:00`, `-0530`), and a bare date (`2024-05-01`, midnight UTC). Text
//! without an offset is UTC.
//!
//! ```
//! use sluice_formats::time::{format_ms, parse_ms};
//! assert_eq!(parse_ms("1970-01-02T00:00:01.5Z"), Some(86_401_500));
//! assert_eq!(parse_ms("2024-05-01 14:30:00+02:00"), parse_ms("2024-05-01T12:30:00Z"));
//! assert_eq!(format_ms(86_401_500), "1970-01-02T00:00:01.500Z");
//! ```

/// Parses a date-time; `None` if it is not one.
pub fn parse_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i64 = s.get(0..4)?.parse().ok()?;
    let month: u32 = s.get(5..7)?.parse().ok()?;
    let day: u32 = s.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if b.len() == 10 {
        return Some(days * 86_400_000);
    }
    if b[10] != b'T' && b[10] != b't' && b[10] != b' ' {
        return None;
    }
    let rest = &s[11..];
    let rb = rest.as_bytes();
    if rb.len() < 8 || rb[2] != b':' || rb[5] != b':' {
        return None;
    }
    let h: i64 = rest.get(0..2)?.parse().ok()?;
    let m: i64 = rest.get(3..5)?.parse().ok()?;
    let sec: i64 = rest.get(6..8)?.parse().ok()?;
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut i = 8;
    let mut ms = 0i64;
    if rb.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < rb.len() && rb[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let digits = &rest[start..i.min(start + 3)];
        ms = digits.parse::<i64>().ok()? * 10i64.pow(3 - digits.len() as u32);
    }
    let offset_min = match &rest[i..] {
        "" | "Z" | "z" => 0,
        tz => {
            let sign = match tz.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = tz[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let oh: i64 = digits[..2].parse().ok()?;
            let om: i64 = digits[2..].parse().ok()?;
            sign * (oh * 60 + om)
        }
    };
    Some(((days * 24 + h) * 60 + m - offset_min) * 60_000 + sec * 1000 + ms)
}

/// RFC 3339 in UTC with milliseconds: `2024-05-01T12:30:00.000Z`.
pub fn format_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (in_day / 3_600_000, in_day / 60_000 % 60, in_day / 1000 % 60, in_day % 1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_ms("2000-03-01T00:00:00Z"), Some(951_868_800_000));
        assert_eq!(parse_ms("2024-02-29 23:59:59.999"), Some(1_709_251_199_999));
        assert_eq!(parse_ms("1969-12-31T23:59:59Z"), Some(-1000));
        assert_eq!(parse_ms("2024-05-01T12:30:00-0530"), parse_ms("2024-05-01T18:00:00Z"));
        assert_eq!(parse_ms("2024-05-01"), Some(1_714_521_600_000));
    }

    #[test]
    fn rejects_non_dates() {
        for s in [
            "",
            "12",
            "2024-13-01",
            "2023-02-29",
            "2024-05-01X12:00:00",
            "2024-05-01T1:00:00",
            "abc-de-fg",
            "2024-05-01T12:00:00+5",
        ] {
            assert_eq!(parse_ms(s), None, "{s}");
        }
    }

    #[test]
    fn format_parse_round_trip() {
        for ms in [0, 1, -1, 951_868_800_123, 4_102_444_800_000, -62_135_596_800_000] {
            assert_eq!(parse_ms(&format_ms(ms)), Some(ms), "{}", format_ms(ms));
        }
    }
}
