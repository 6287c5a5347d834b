//! UTC formatting for error messages (no date crate needed for one format).

/// `2012-11-16T17:49:39Z` for a Unix time in seconds.
pub fn iso8601_utc(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs_of_day = unix_secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// `2026-11-27` for a Unix time in milliseconds: the ledger's day period.
pub fn utc_day(unix_ms: f64) -> String {
    let (year, month, day) = civil_from_days((unix_ms / 86_400_000.0).floor() as i64);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `2026-11` for a Unix time in milliseconds: the ledger's month period (quotas reset on it).
pub fn utc_month(unix_ms: f64) -> String {
    let (year, month, _) = civil_from_days((unix_ms / 86_400_000.0).floor() as i64);
    format!("{year:04}-{month:02}")
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
/// Days are clamped to ±2^47 (beyond any i64 of seconds), so no step can overflow.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    const LIMIT: i64 = 1 << 47;
    let z = days.clamp(-LIMIT, LIMIT) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_utc(1_353_088_179), "2012-11-16T17:49:39Z");
        assert_eq!(iso8601_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601_utc(1_798_761_599), "2026-12-31T23:59:59Z");
    }

    #[test]
    fn ledger_periods() {
        assert_eq!(utc_day(1_798_761_599_999.0), "2026-12-31");
        assert_eq!(utc_month(1_798_761_599_999.0), "2026-12");
        assert_eq!(utc_day(1_798_761_600_000.0), "2027-01-01");
        assert_eq!(utc_month(951_782_400_000.0), "2000-02");
    }

    #[test]
    fn extremes_do_not_overflow() {
        assert_eq!(iso8601_utc(i64::MIN), "-292277022657-01-27T08:29:52Z");
        assert_eq!(iso8601_utc(i64::MAX), "292277026596-12-04T15:30:07Z");
        for ms in [f64::MAX, f64::MIN, f64::NAN, f64::INFINITY] {
            assert!(!utc_day(ms).is_empty());
            assert!(!utc_month(ms).is_empty());
        }
    }
}
