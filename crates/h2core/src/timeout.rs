//! `grpc-timeout` encoding: at most 8 ASCII digits and a unit (PROTOCOL-HTTP2).

use std::time::Duration;

/// Encodes a remaining time for the `grpc-timeout` header, picking the finest
/// unit whose value fits in 8 digits so that the server's deadline is as close
/// to ours as the format allows. Rounds up, so the server never gets a shorter
/// budget than the client enforces; the only cap is 99 999 999 hours.
pub fn encode_timeout(remaining: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let nanos = remaining.as_nanos().max(1);
    let units: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60 * 1_000_000_000, 'M'),
        (3_600 * 1_000_000_000, 'H'),
    ];
    for (per, unit) in units {
        let v = nanos.div_ceil(per);
        if v <= MAX {
            return format!("{v}{unit}");
        }
    }
    format!("{MAX}H")
}

/// Parses a `grpc-timeout` value (used by tests and by anything that proxies).
pub fn decode_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "n" => Duration::from_nanos(n),
        "u" => Duration::from_micros(n),
        "m" => Duration::from_millis(n),
        "S" => Duration::from_secs(n),
        "M" => Duration::from_secs(n * 60),
        "H" => Duration::from_secs(n * 3600),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_finest_unit_that_fits() {
        assert_eq!(encode_timeout(Duration::from_nanos(5)), "5n");
        assert_eq!(encode_timeout(Duration::from_millis(1)), "1000000n");
        assert_eq!(encode_timeout(Duration::from_millis(100)), "100000u");
        assert_eq!(encode_timeout(Duration::from_secs(1)), "1000000u");
        assert_eq!(encode_timeout(Duration::from_secs(100)), "100000m");
        assert_eq!(encode_timeout(Duration::from_secs(100_000)), "100000S");
        assert_eq!(
            encode_timeout(Duration::from_secs(1_000_000_000)),
            "16666667M"
        );
        assert_eq!(encode_timeout(Duration::ZERO), "1n");
    }

    #[test]
    fn never_more_than_eight_digits() {
        for secs in [1u64, 59, 99, 100, 12_345, 99_999_999, 3_600 * 99_999_999] {
            let s = encode_timeout(Duration::from_secs(secs));
            assert!(s.len() <= 9, "{s}");
            let back = decode_timeout(&s).unwrap();
            assert!(
                back >= Duration::from_secs(secs),
                "{s} decodes shorter than {secs}s"
            );
        }
        assert_eq!(encode_timeout(Duration::MAX), "99999999H");
    }

    #[test]
    fn rounds_up() {
        let d = Duration::from_nanos(123_456_789_123);
        let s = encode_timeout(d);
        assert_eq!(s, "123457m");
        assert!(decode_timeout(&s).unwrap() >= d);
    }

    #[test]
    fn decodes() {
        assert_eq!(decode_timeout("10S"), Some(Duration::from_secs(10)));
        assert_eq!(decode_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(decode_timeout("123456789S"), None);
        assert_eq!(decode_timeout("S"), None);
        assert_eq!(decode_timeout("10x"), None);
    }
}
