//! `github.com/docker/go-units`: sizes (`BytesSize`, `HumanSize`) and
//! durations (`HumanDuration`) as docker prints them.

const BINARY: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
const DECIMAL: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// `units.BytesSize(size)`, e.g. `16663740416` → `15.52GiB`.
pub fn bytes_size(size: f64) -> String {
    scaled(size, 1024.0, &BINARY, 4)
}

/// `units.HumanSizeWithPrecision(size, precision)`: decimal units, e.g.
/// `4261550` at 3 → `4.26MB`.
pub fn human_size(size: f64, precision: usize) -> String {
    scaled(size, 1000.0, &DECIMAL, precision)
}

fn scaled(size: f64, base: f64, units: &[&str], precision: usize) -> String {
    let mut size = size;
    let mut unit = 0;
    while size >= base && unit < units.len() - 1 {
        size /= base;
        unit += 1;
    }
    format!("{}{}", go_g(size, precision), units[unit])
}

/// `units.HumanDuration`: how long ago, the way `docker ps` says it.
pub fn human_duration(seconds: f64) -> String {
    // Go truncates each unit toward zero; hours round to the nearest.
    let secs = seconds as i64;
    let minutes = (seconds / 60.0) as i64;
    let hours = (seconds / 3600.0 + 0.5) as i64;
    if secs < 1 {
        "Less than a second".to_string()
    } else if secs == 1 {
        "1 second".to_string()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if minutes == 1 {
        "About a minute".to_string()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".to_string()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", (seconds / 3600.0) as i64 / 24 / 365)
    }
}

/// Go's `%.<precision>g`: that many significant digits, trailing zeros
/// dropped, and exponent notation only when the exponent is below -4 or at
/// least the precision.
fn go_g(v: f64, precision: usize) -> String {
    let precision = precision.max(1);
    // `{:.Ne}` rounds to N+1 significant digits: `1.552e1`.
    let sci = format!("{v:.*e}", precision - 1);
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return sci;
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let neg = if v < 0.0 { "-" } else { "" };
    let limit = i32::try_from(precision).unwrap_or(i32::MAX);
    if !(-4..limit).contains(&exp) {
        let (head, tail) = digits.split_at(1);
        let dot = if tail.is_empty() { "" } else { "." };
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{neg}{head}{dot}{tail}e{sign}{:02}", exp.abs());
    }
    // Fixed notation: the decimal point goes after `exp + 1` digits.
    let point = exp + 1;
    if point <= 0 {
        let zeros = "0".repeat(usize::try_from(-point).unwrap_or(0));
        return format!("{neg}0.{zeros}{digits}");
    }
    let point = usize::try_from(point).unwrap_or(0);
    if digits.len() <= point {
        format!("{neg}{digits}{}", "0".repeat(point - digits.len()))
    } else {
        let (int, frac) = digits.split_at(point);
        format!("{neg}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_go_units() {
        // `docker info` printed `Total Memory: 15.52GiB` for this MemTotal.
        assert_eq!(bytes_size(16_663_740_416.0), "15.52GiB");
        assert_eq!(bytes_size(0.0), "0B");
        assert_eq!(bytes_size(1000.0), "1000B");
        assert_eq!(bytes_size(1024.0), "1KiB");
        assert_eq!(bytes_size(1536.0), "1.5KiB");
        assert_eq!(bytes_size(1_048_575.0), "1024KiB");
        assert_eq!(bytes_size(17_179_869_184.0), "16GiB");
    }

    #[test]
    fn small_and_large_exponents() {
        assert_eq!(go_g(0.001234, 4), "0.001234");
        assert_eq!(go_g(0.00001234, 4), "1.234e-05");
        assert_eq!(go_g(123_456.0, 4), "1.235e+05");
        assert_eq!(go_g(999.9, 3), "1e+03");
    }

    #[test]
    fn human_sizes_match_docker_images() {
        // `docker images` SIZE and `{{.VirtualSize}}` for these sizes.
        assert_eq!(human_size(4_261_550.0, 3), "4.26MB");
        assert_eq!(human_size(123_456_789.0, 3), "123MB");
        assert_eq!(human_size(123_456_789.0, 4), "123.5MB");
        assert_eq!(human_size(999.0, 3), "999B");
        assert_eq!(human_size(0.0, 3), "0B");
        assert_eq!(human_size(1000.0, 3), "1kB");
    }

    #[test]
    fn durations_match_docker_ps() {
        let cases = [
            (0.5, "Less than a second"),
            (1.0, "1 second"),
            (58.9, "58 seconds"),
            (60.0, "About a minute"),
            (150.0, "2 minutes"),
            (3599.0, "59 minutes"),
            (3600.0, "About an hour"),
            (7300.0, "2 hours"),
            (4.0 * 86400.0, "4 days"),
            (21.0 * 86400.0, "3 weeks"),
            (90.0 * 86400.0, "3 months"),
            (800.0 * 86400.0, "2 years"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}");
        }
    }
}
