//! `github.com/docker/go-units.BytesSize`: binary units, `%.4g`.

const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// `units.BytesSize(size)`, e.g. `16663740416` → `15.52GiB`.
pub fn bytes_size(size: f64) -> String {
    let mut size = size;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{}{}", go_g4(size), UNITS[unit])
}

/// Go's `%.4g`: four significant digits, trailing zeros dropped, and
/// exponent notation only when the exponent is below -4 or at least 4.
fn go_g4(v: f64) -> String {
    // `{:.3e}` rounds to four significant digits: `1.552e1`.
    let sci = format!("{v:.3e}");
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
    if !(-4..4).contains(&exp) {
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
        assert_eq!(go_g4(0.001234), "0.001234");
        assert_eq!(go_g4(0.00001234), "1.234e-05");
        assert_eq!(go_g4(123_456.0), "1.235e+05");
    }
}
