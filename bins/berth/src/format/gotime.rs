//! The renderings of API timestamps docker's CLI prints: Go's
//! `time.Time.String()` of an RFC 3339 string (network `CreatedAt`, which
//! keeps the offset the daemon wrote), of a Unix time (container and image
//! `CreatedAt`, in the local zone), and `time.ANSIC` (version `Built`).

/// An RFC 3339 timestamp as written, with its offset.
#[derive(Debug, PartialEq)]
struct Stamp {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// `None` for `Z`, else the offset east of UTC in seconds.
    offset: Option<i32>,
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, what Go's
/// `time.RFC3339Nano` layout accepts from a JSON time.
fn parse(s: &str) -> Option<Stamp> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't') {
        return None;
    }
    let mut st = Stamp {
        year: i64::from(digits(s.get(0..4)?)?),
        month: digits(s.get(5..7)?)?,
        day: digits(s.get(8..10)?)?,
        hour: digits(s.get(11..13)?)?,
        minute: digits(s.get(14..16)?)?,
        second: digits(s.get(17..19)?)?,
        nanos: 0,
        offset: None,
    };
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        let padded = format!("{:0<9}", &frac[..n]);
        st.nanos = digits(&padded)?;
        rest = &frac[n..];
    }
    st.offset = match rest {
        "Z" | "z" => None,
        _ => {
            let (sign, hm) = match rest.as_bytes().first() {
                Some(b'+') => (1, &rest[1..]),
                Some(b'-') => (-1, &rest[1..]),
                _ => return None,
            };
            if hm.len() != 5 || hm.as_bytes()[2] != b':' {
                return None;
            }
            let h = i32::try_from(digits(&hm[..2])?).ok()?;
            let m = i32::try_from(digits(&hm[3..])?).ok()?;
            Some(sign * (h * 3600 + m * 60))
        }
    };
    let valid = (1..=12).contains(&st.month)
        && (1..=days_in_month(st.year, st.month)).contains(&st.day)
        && st.hour < 24
        && st.minute < 60
        && st.second < 60;
    valid.then_some(st)
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

/// Day of the week, 0 = Sunday (Sakamoto's method).
fn weekday(y: i64, m: u32, d: u32) -> usize {
    const T: [i64; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = if m < 3 { y - 1 } else { y };
    let idx = usize::try_from(m.saturating_sub(1)).unwrap_or(0).min(11);
    let w = (y + y / 4 - y / 100 + y / 400 + T[idx] + i64::from(d)).rem_euclid(7);
    usize::try_from(w).unwrap_or(0)
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Go's `time.Time.String()` of a time decoded from JSON:
/// `2006-01-02 15:04:05.999999999 -0700 MST`. A `Z` time is in UTC; any
/// other offset gets Go's nameless fixed zone, printed as `+0200 +0200`.
/// An absent or unparsable value is Go's zero time.
pub fn go_string(s: &str) -> String {
    let Some(t) = parse(s) else {
        return "0001-01-01 00:00:00 +0000 UTC".to_string();
    };
    let mut out = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
    if t.nanos != 0 {
        let frac = format!("{:09}", t.nanos);
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    match t.offset {
        None => out.push_str(" +0000 UTC"),
        Some(off) => {
            let zone = offset_hhmm(off);
            out.push(' ');
            out.push_str(&zone);
            out.push(' ');
            out.push_str(&zone);
        }
    }
    out
}

/// Go's `time.Unix(secs, 0).String()`: the local time with its offset and
/// zone abbreviation, `2024-05-01 12:00:00 +0200 CEST`.
pub fn unix_local(secs: i64) -> String {
    let Ok(at) = jiff::Timestamp::from_second(secs) else {
        return "0001-01-01 00:00:00 +0000 UTC".to_string();
    };
    let local = at.to_zoned_datetime(jiff::tz::TimeZone::system());
    let hhmm = offset_hhmm(local.offset().seconds());
    // Go prints the offset again where the zone has no abbreviation.
    let zone = local
        .time_zone()
        .to_offset_info(at)
        .abbreviation()
        .to_string();
    format!(
        "{} {hhmm} {}",
        local.strftime("%Y-%m-%d %H:%M:%S"),
        if zone.is_empty() { &hhmm } else { &zone }
    )
}

fn offset_hhmm(off: i32) -> String {
    let sign = if off < 0 { '-' } else { '+' };
    let mins = off.unsigned_abs() / 60;
    format!("{sign}{:02}{:02}", mins / 60, mins % 60)
}

/// docker's `reformatDate`: an RFC 3339 time as `time.ANSIC`
/// (`Mon Jan _2 15:04:05 2006`); anything else is returned unchanged.
pub fn ansic(s: &str) -> String {
    let Some(t) = parse(s) else {
        return s.to_string();
    };
    let month = usize::try_from(t.month - 1).map_or("", |i| MONTHS[i]);
    format!(
        "{} {} {:>2} {:02}:{:02}:{:02} {}",
        DAYS[weekday(t.year, t.month, t.day)],
        month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_string_matches_docker_created_at() {
        // Pairs captured from `docker network ls --format '{{.CreatedAt}}'`.
        assert_eq!(
            go_string("2024-05-01T10:00:00Z"),
            "2024-05-01 10:00:00 +0000 UTC"
        );
        assert_eq!(
            go_string("2024-05-01T10:00:00.123456789Z"),
            "2024-05-01 10:00:00.123456789 +0000 UTC"
        );
        assert_eq!(
            go_string("2024-05-02T11:22:33.5+02:00"),
            "2024-05-02 11:22:33.5 +0200 +0200"
        );
        assert_eq!(
            go_string("2024-05-02T11:22:33-05:30"),
            "2024-05-02 11:22:33 -0530 -0530"
        );
        assert_eq!(go_string(""), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn ansic_matches_docker_version_built() {
        // From `docker version` against a server sending this BuildTime.
        assert_eq!(
            ansic("2025-01-02T03:04:05.000000000+00:00"),
            "Thu Jan  2 03:04:05 2025"
        );
        assert_eq!(ansic("2025-05-30T12:07:14Z"), "Fri May 30 12:07:14 2025");
        assert_eq!(ansic("2024-02-29T00:00:00Z"), "Thu Feb 29 00:00:00 2024");
        assert_eq!(ansic("yesterday"), "yesterday");
    }

    #[test]
    fn unix_times_in_the_local_zone() {
        // The tests run with the machine's zone; the date and clock are
        // shifted by exactly the offset it prints.
        let s = unix_local(1_714_557_600);
        let offset = &s[20..25];
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let h: i64 = offset[1..3].parse().unwrap_or(99);
        let m: i64 = offset[3..5].parse().unwrap_or(99);
        let local = 1_714_557_600 + sign * (h * 3600 + m * 60);
        let (day, secs) = (local.div_euclid(86400), local.rem_euclid(86400));
        // 2024-05-01 is day 19844 of the Unix epoch.
        let date = match day {
            19843 => "2024-04-30",
            19844 => "2024-05-01",
            _ => "2024-05-02",
        };
        let clock = format!("{:02}:{:02}:00", secs / 3600, secs % 3600 / 60);
        assert_eq!(&s[..19], format!("{date} {clock}"));
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(parse("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse("2023-02-29T00:00:00Z"), None);
        assert_eq!(parse("2024-01-01 00:00:00Z"), None);
        assert_eq!(parse("2024-01-01T00:00:00+0200"), None);
        assert_eq!(parse("2024-01-01T00:00:00.Z"), None);
    }
}
