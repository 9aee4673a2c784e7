//! Event time and durations: milliseconds since the Unix epoch (UTC), Spark-style interval
//! strings (`"10 seconds"`, `"1 minute"`), and Spark's timestamp text (`2025-07-27 10:08:05`).
//!
//! Everything here is plain arithmetic on `i64` milliseconds; there is no clock. Calendar
//! conversions use Howard Hinnant's days-from-civil algorithms, so no date crate is needed.

use std::fmt;

/// Milliseconds in a second.
pub const SECOND: i64 = 1_000;
/// Milliseconds in a minute.
pub const MINUTE: i64 = 60 * SECOND;
/// Milliseconds in an hour.
pub const HOUR: i64 = 60 * MINUTE;
/// Milliseconds in a day.
pub const DAY: i64 = 24 * HOUR;

/// A duration string that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a duration: {reason}; write a number and a unit, e.g. \"10 seconds\", \"500 ms\", \"1 minute\""
)]
pub struct DurationError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a duration such as `"10 seconds"`, `"5s"`, `"1 minute 30 seconds"`, `"250 ms"` into
/// milliseconds. Units: ms/millisecond(s), s/sec/second(s), min/minute(s), h/hour(s), d/day(s),
/// w/week(s). An optional leading `interval` is accepted, as in Spark SQL.
pub fn parse_duration(text: &str) -> Result<i64, DurationError> {
    let err = |reason: &str| DurationError { text: text.to_string(), reason: reason.to_string() };
    let mut rest = text.trim();
    if rest.get(..8).is_some_and(|w| w.eq_ignore_ascii_case("interval")) {
        rest = rest[8..].trim_start();
    }
    if rest.is_empty() {
        return Err(err("it is empty"));
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return Err(err("expected a number"));
        }
        let number: f64 = rest[..num_len].parse().map_err(|_| err("the number is malformed"))?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(err("the unit is missing"));
        }
        let unit = rest[..unit_len].to_ascii_lowercase();
        let scale = match unit.as_str() {
            "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
            "s" | "sec" | "secs" | "second" | "seconds" => SECOND,
            "min" | "mins" | "minute" | "minutes" => MINUTE,
            "h" | "hr" | "hrs" | "hour" | "hours" => HOUR,
            "d" | "day" | "days" => DAY,
            "w" | "week" | "weeks" => 7 * DAY,
            _ => return Err(err(&format!("unknown unit `{unit}`"))),
        };
        total += number * scale as f64;
        rest = rest[unit_len..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
        }
    }
    if !total.is_finite() || total > (i64::MAX / 4) as f64 {
        return Err(err("it is too large"));
    }
    Ok(total.round() as i64)
}

/// Renders milliseconds the way the job-file format accepts them (`"10 seconds"`, `"1500 ms"`).
pub fn format_duration(ms: i64) -> String {
    let units = [(DAY, "day"), (HOUR, "hour"), (MINUTE, "minute"), (SECOND, "second")];
    for (scale, name) in units {
        if ms != 0 && ms % scale == 0 {
            let n = ms / scale;
            return format!("{n} {name}{}", if n == 1 { "" } else { "s" });
        }
    }
    format!("{ms} ms")
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01: (year, month, day).
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

/// A timestamp rendered as Spark's `show()` does in UTC: `2025-07-27 10:08:05`, with the
/// fraction of a second only when it is not zero (`10:08:05.12` for 120 ms).
pub struct SparkTimestamp(pub i64);

impl fmt::Display for SparkTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        let days = ms.div_euclid(DAY);
        let in_day = ms.rem_euclid(DAY);
        let (y, mo, d) = civil_from_days(days);
        let (h, mi, s, frac) = (in_day / HOUR, in_day % HOUR / MINUTE, in_day % MINUTE / SECOND, in_day % SECOND);
        if (0..=9999).contains(&y) {
            write!(f, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")?;
        } else {
            write!(f, "{y:+}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")?;
        }
        if frac != 0 {
            let digits = format!("{frac:03}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        Ok(())
    }
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS[.fff]]` (a `T` may replace the space; a trailing
/// `Z` or `+00:00` is accepted, other offsets are applied) into UTC milliseconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let t = text.trim();
    let b = t.as_bytes();
    let num = |s: &str| -> Option<i64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    // Only ASCII is valid, so byte positions below are character boundaries.
    if b.len() < 10 || !t.is_ascii() || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = num(&t[0..4])?;
    let month = num(&t[5..7])? as u32;
    let day = num(&t[8..10])? as u32;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * DAY;
    let mut rest = &t[10..];
    if rest.is_empty() {
        return Some(ms);
    }
    if !(rest.starts_with(' ') || rest.starts_with('T') || rest.starts_with('t')) {
        return None;
    }
    rest = &rest[1..];
    // Offset suffix.
    let mut offset_ms = 0;
    if let Some(r) = rest.strip_suffix('Z').or_else(|| rest.strip_suffix('z')) {
        rest = r;
    } else if rest.len() > 6 {
        let (head, tail) = rest.split_at(rest.len() - 6);
        let tb = tail.as_bytes();
        if (tb[0] == b'+' || tb[0] == b'-') && tb[3] == b':' {
            let oh = num(&tail[1..3])?;
            let om = num(&tail[4..6])?;
            let sign = if tb[0] == b'-' { -1 } else { 1 };
            offset_ms = sign * (oh * HOUR + om * MINUTE);
            rest = head;
        }
    }
    let mut parts = rest.splitn(3, ':');
    let h = num(parts.next()?)?;
    let mi = num(parts.next()?)?;
    let (s, frac_ms) = match parts.next() {
        None => (0, 0),
        Some(sec) => match sec.split_once('.') {
            None => (num(sec)?, 0),
            Some((whole, frac)) => {
                if frac.is_empty() || !frac.bytes().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                let mut digits: String = frac.chars().take(3).collect();
                while digits.len() < 3 {
                    digits.push('0');
                }
                (num(whole)?, digits.parse::<i64>().ok()?)
            }
        },
    };
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    ms += h * HOUR + mi * MINUTE + s * SECOND + frac_ms;
    Some(ms - offset_ms)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

/// A calendar unit for [`truncate`] (SQL `date_trunc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruncUnit {
    /// Whole milliseconds (no change).
    Millisecond,
    /// Start of the second.
    Second,
    /// Start of the minute.
    Minute,
    /// Start of the hour.
    Hour,
    /// Midnight UTC.
    Day,
    /// Monday 00:00 UTC.
    Week,
    /// First of the month.
    Month,
    /// First of the quarter.
    Quarter,
    /// First of January.
    Year,
}

impl TruncUnit {
    /// A unit by its SQL name (case-insensitive), as `date_trunc` accepts it.
    pub fn parse(name: &str) -> Option<TruncUnit> {
        Some(match name.to_ascii_lowercase().as_str() {
            "millisecond" | "milliseconds" | "ms" => TruncUnit::Millisecond,
            "second" | "seconds" => TruncUnit::Second,
            "minute" | "minutes" => TruncUnit::Minute,
            "hour" | "hours" => TruncUnit::Hour,
            "day" | "days" | "dd" => TruncUnit::Day,
            "week" | "weeks" => TruncUnit::Week,
            "month" | "months" | "mon" | "mm" => TruncUnit::Month,
            "quarter" => TruncUnit::Quarter,
            "year" | "years" | "yyyy" | "yy" => TruncUnit::Year,
            _ => return None,
        })
    }
}

/// Truncates a timestamp to the start of its calendar unit, in UTC.
pub fn truncate(ms: i64, unit: TruncUnit) -> i64 {
    let floor = |scale: i64| ms.div_euclid(scale).saturating_mul(scale);
    match unit {
        TruncUnit::Millisecond => ms,
        TruncUnit::Second => floor(SECOND),
        TruncUnit::Minute => floor(MINUTE),
        TruncUnit::Hour => floor(HOUR),
        TruncUnit::Day => floor(DAY),
        TruncUnit::Week => {
            // 1970-01-01 was a Thursday; Monday-based weeks start 3 days earlier.
            let days = ms.div_euclid(DAY);
            (days - (days + 3).rem_euclid(7)).saturating_mul(DAY)
        }
        TruncUnit::Month | TruncUnit::Quarter | TruncUnit::Year => {
            let (y, m, _) = civil_from_days(ms.div_euclid(DAY));
            let month = match unit {
                TruncUnit::Month => m,
                TruncUnit::Quarter => (m - 1) / 3 * 3 + 1,
                _ => 1,
            };
            days_from_civil(y, month, 1).saturating_mul(DAY)
        }
    }
}

/// A field of a timestamp, as Spark's `year(ts)`, `hour(ts)`, ... give it (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    /// The year.
    Year,
    /// 1-4.
    Quarter,
    /// 1-12.
    Month,
    /// Day of the month, 1-31.
    Day,
    /// 1 (Sunday) to 7 (Saturday), as Spark's `dayofweek`.
    DayOfWeek,
    /// 1-366.
    DayOfYear,
    /// 0-23.
    Hour,
    /// 0-59.
    Minute,
    /// 0-59.
    Second,
}

impl DatePart {
    /// The part named by a function name (`dayofmonth` and `day` are the same).
    pub fn by_function(name: &str) -> Option<DatePart> {
        Some(match name {
            "year" => DatePart::Year,
            "quarter" => DatePart::Quarter,
            "month" => DatePart::Month,
            "day" | "dayofmonth" => DatePart::Day,
            "dayofweek" => DatePart::DayOfWeek,
            "dayofyear" => DatePart::DayOfYear,
            "hour" => DatePart::Hour,
            "minute" => DatePart::Minute,
            "second" => DatePart::Second,
            _ => return None,
        })
    }

    /// This part of the timestamp `ms` (milliseconds since the epoch, UTC).
    pub fn of(self, ms: i64) -> i64 {
        Civil::of(ms).part(self)
    }
}

/// A timestamp's calendar date and time of day (UTC), worked out once for all its parts.
struct Civil {
    days: i64,
    /// Milliseconds into the day.
    in_day: i64,
    year: i64,
    month: u32,
    day: u32,
}

impl Civil {
    fn of(ms: i64) -> Civil {
        let days = ms.div_euclid(DAY);
        let (year, month, day) = civil_from_days(days);
        Civil { days, in_day: ms.rem_euclid(DAY), year, month, day }
    }

    fn part(&self, part: DatePart) -> i64 {
        match part {
            DatePart::Year => self.year,
            DatePart::Quarter => i64::from((self.month - 1) / 3 + 1),
            DatePart::Month => i64::from(self.month),
            DatePart::Day => i64::from(self.day),
            // 1970-01-01 was a Thursday (5 when Sunday is 1).
            DatePart::DayOfWeek => (self.days + 4).rem_euclid(7) + 1,
            DatePart::DayOfYear => self.days - days_from_civil(self.year, 1, 1) + 1,
            DatePart::Hour => self.in_day / HOUR,
            DatePart::Minute => self.in_day % HOUR / MINUTE,
            DatePart::Second => self.in_day % MINUTE / SECOND,
        }
    }
}

/// A compiled `date_format` pattern: the datetime pattern letters of Spark (Java's
/// `DateTimeFormatter`) that fixed-width output needs, checked once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// A pattern letter repeated `n` times.
    Field(char, usize),
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

impl DateFormat {
    /// The letters understood, for messages.
    pub const LETTERS: &'static str = "y (year), M (month), d (day), D (day of year), E (weekday), H (hour 0-23), \
         h (hour 1-12), a (AM/PM), m (minute), s (second), S (fraction of a second); 'quoted' text";

    /// Parses a pattern such as `yyyy-MM-dd HH:mm:ss`.
    pub fn parse(pattern: &str) -> Result<DateFormat, String> {
        let mut pieces = Vec::new();
        let mut chars = pattern.chars().peekable();
        let mut text = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    text.push('\'');
                    continue;
                }
                loop {
                    match chars.next() {
                        None => return Err("a quote (') is not closed".to_string()),
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            text.push('\'');
                        }
                        Some('\'') => break,
                        Some(q) => text.push(q),
                    }
                }
            } else if c.is_ascii_alphabetic() {
                let mut n = 1;
                while chars.peek() == Some(&c) {
                    chars.next();
                    n += 1;
                }
                let most = match c {
                    'y' | 'M' | 'E' => 4,
                    'D' => 3,
                    'd' | 'H' | 'h' | 'm' | 's' => 2,
                    'a' => 1,
                    'S' => 9,
                    _ => return Err(format!("the pattern letter '{c}' is not supported")),
                };
                if n > most {
                    return Err(format!("too many pattern letters '{c}' ({n}; at most {most})"));
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Field(c, n));
            } else {
                text.push(c);
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(DateFormat(pieces))
    }

    /// Formats the timestamp `ms` (UTC).
    pub fn format(&self, ms: i64) -> String {
        let t = Civil::of(ms);
        let hour = t.part(DatePart::Hour);
        let month = MONTHS[t.month as usize - 1];
        let mut out = String::new();
        for p in &self.0 {
            let (c, n) = match p {
                Piece::Text(text) => {
                    out.push_str(text);
                    continue;
                }
                Piece::Field(c, n) => (*c, *n),
            };
            let num = |v: i64| format!("{v:0n$}");
            let s = match c {
                'y' if n == 2 => format!("{:02}", t.year.rem_euclid(100)),
                'y' => num(t.year),
                'M' if n == 3 => month[..3].to_string(),
                'M' if n == 4 => month.to_string(),
                'M' => num(t.part(DatePart::Month)),
                'd' => num(t.part(DatePart::Day)),
                'D' => num(t.part(DatePart::DayOfYear)),
                'E' => {
                    let name = WEEKDAYS[t.part(DatePart::DayOfWeek) as usize - 1];
                    if n == 4 { name.to_string() } else { name[..3].to_string() }
                }
                'H' => num(hour),
                'h' => num((hour + 11) % 12 + 1),
                'a' => (if hour < 12 { "AM" } else { "PM" }).to_string(),
                'm' => num(t.part(DatePart::Minute)),
                's' => num(t.part(DatePart::Second)),
                // Milliseconds, then zeros: sluice's timestamps hold no finer time.
                _ => {
                    let mut f = format!("{:03}", t.in_day % SECOND);
                    f.truncate(n);
                    while f.len() < n {
                        f.push('0');
                    }
                    f
                }
            };
            out.push_str(&s);
        }
        out
    }
}

/// Greatest common divisor (for pane widths of sliding windows).
pub fn gcd(mut a: i64, mut b: i64) -> i64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_format_patterns() {
        let t = parse_timestamp("2025-07-07 09:05:03.042").unwrap();
        let f = |p: &str| DateFormat::parse(p).unwrap().format(t);
        assert_eq!(f("yyyy-MM-dd HH:mm:ss"), "2025-07-07 09:05:03");
        assert_eq!(f("yyyy-MM-dd HH:mm:ss.SSS"), "2025-07-07 09:05:03.042");
        assert_eq!(f("yy/M/d H:m:s S SSSSSS"), "25/7/7 9:5:3 0 042000");
        assert_eq!(f("EEE, d MMM yyyy h:mm a"), "Mon, 7 Jul 2025 9:05 AM");
        assert_eq!(f("EEEE MMMM D DDD"), "Monday July 188 188");
        assert_eq!(f("'week of' yyyy-MM-dd''"), "week of 2025-07-07'");
        assert_eq!(DateFormat::parse("hh a").unwrap().format(parse_timestamp("2025-01-01 00:30:00").unwrap()), "12 AM");
        assert_eq!(DateFormat::parse("hh a").unwrap().format(parse_timestamp("2025-01-01 13:30:00").unwrap()), "01 PM");
        assert_eq!(DateFormat::parse("yyyy-MM-dd HH").unwrap().format(-1), "1969-12-31 23");
        assert!(DateFormat::parse("yyyy-MM-dd Q").unwrap_err().contains("'Q' is not supported"));
        assert!(DateFormat::parse("ddd").unwrap_err().contains("too many pattern letters 'd'"));
        assert!(DateFormat::parse("'open").unwrap_err().contains("not closed"));
    }

    #[test]
    fn date_parts_as_spark_gives_them() {
        let at = |text: &str| parse_timestamp(text).unwrap();
        let parts = |ms: i64| {
            use DatePart::*;
            [Year, Quarter, Month, Day, DayOfWeek, DayOfYear, Hour, Minute, Second].map(|p| p.of(ms))
        };
        // 2025-07-27 was a Sunday, day 208 of the year.
        assert_eq!(parts(at("2025-07-27 10:08:05.5")), [2025, 3, 7, 27, 1, 208, 10, 8, 5]);
        // The epoch was a Thursday; the millisecond before it, a Wednesday evening.
        assert_eq!(parts(0), [1970, 1, 1, 1, 5, 1, 0, 0, 0]);
        assert_eq!(parts(-1), [1969, 4, 12, 31, 4, 365, 23, 59, 59]);
        assert_eq!(parts(at("2000-02-29 00:00:00")), [2000, 1, 2, 29, 3, 60, 0, 0, 0]);
        assert_eq!(parts(at("2024-12-31 23:00:00"))[5], 366);
        assert_eq!(DatePart::by_function("dayofmonth"), Some(DatePart::Day));
        assert_eq!(DatePart::by_function("weekday"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10 seconds"), Ok(10_000));
        assert_eq!(parse_duration("5s"), Ok(5_000));
        assert_eq!(parse_duration("1 minute 30 seconds"), Ok(90_000));
        assert_eq!(parse_duration("interval 2 hours"), Ok(7_200_000));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("1.5 s"), Ok(1_500));
        assert!(parse_duration("ten seconds").is_err());
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10 parsecs").unwrap_err().to_string().contains("unknown unit `parsecs`"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999999999 days").is_err());
        assert_eq!(format_duration(10_000), "10 seconds");
        assert_eq!(format_duration(60_000), "1 minute");
        assert_eq!(format_duration(1_500), "1500 ms");
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 59, 365, 10_957, 20_296, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn spark_timestamp_text() {
        let t = parse_timestamp("2025-07-27 10:08:05").unwrap();
        assert_eq!(SparkTimestamp(t).to_string(), "2025-07-27 10:08:05");
        assert_eq!(SparkTimestamp(t + 120).to_string(), "2025-07-27 10:08:05.12");
        assert_eq!(SparkTimestamp(t + 7).to_string(), "2025-07-27 10:08:05.007");
        assert_eq!(parse_timestamp("2025-07-27T10:08:05.12Z"), Some(t + 120));
        assert_eq!(parse_timestamp("2025-07-27T12:08:05+02:00"), Some(t));
        assert_eq!(parse_timestamp("2025-07-27"), Some(t - (10 * HOUR + 8 * MINUTE + 5 * SECOND)));
        assert_eq!(SparkTimestamp(-1).to_string(), "1969-12-31 23:59:59.999");
        assert_eq!(parse_timestamp("2025-02-30"), None);
        assert_eq!(parse_timestamp("2025-07-27 25:00:00"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2025-07-27 10"), None);
    }

    #[test]
    fn truncation() {
        let t = parse_timestamp("2025-07-27 10:08:05.5").unwrap(); // a Sunday
        let p = |s| parse_timestamp(s).unwrap();
        assert_eq!(truncate(t, TruncUnit::Minute), p("2025-07-27 10:08:00"));
        assert_eq!(truncate(t, TruncUnit::Hour), p("2025-07-27 10:00:00"));
        assert_eq!(truncate(t, TruncUnit::Week), p("2025-07-21"));
        assert_eq!(truncate(t, TruncUnit::Month), p("2025-07-01"));
        assert_eq!(truncate(t, TruncUnit::Quarter), p("2025-07-01"));
        assert_eq!(truncate(t, TruncUnit::Year), p("2025-01-01"));
        assert_eq!(truncate(-1, TruncUnit::Second), -1000);
        for unit in [TruncUnit::Second, TruncUnit::Week, TruncUnit::Month, TruncUnit::Year] {
            assert!(truncate(i64::MIN, unit) <= i64::MIN / 2, "saturates, does not overflow");
            assert!(truncate(i64::MAX, unit) > i64::MAX / 2);
        }
        assert_eq!(gcd(10_000, 4_000), 2_000);
    }
}
