//! UTC dates of timestamps in milliseconds since the Unix epoch, in ISO 8601, through the
//! library's calendar.

use modelmetrics::jobs::calendar::format_timestamp;

/// Formats `ms` as a UTC date and time with milliseconds, such as `2023-11-14T22:13:20.000Z`.
/// Years outside 0 to 9999 get a sign, as in the expanded years of ISO 8601.
pub fn iso8601(ms: i64) -> String {
    format_timestamp(ms)
}

/// Formats a time range in milliseconds and as UTC dates.
pub fn range(range: Option<(i64, i64)>) -> String {
    match range {
        Some((min, max)) => format!("{min} .. {max} ms ({} .. {})", iso8601(min), iso8601(max)),
        None => "none".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_of_epoch() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn iso8601_before_epoch() {
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn iso8601_of_leap_days() {
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(1_709_164_800_123), "2024-02-29T00:00:00.123Z");
    }

    #[test]
    fn iso8601_of_extreme_values() {
        assert_eq!(iso8601(i64::MAX), "+292278994-08-17T07:12:55.807Z");
        assert_eq!(iso8601(i64::MIN), "-292275055-05-16T16:47:04.192Z");
    }
}
