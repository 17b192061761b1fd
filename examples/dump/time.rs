//! UTC dates of timestamps in milliseconds since the Unix epoch, in ISO 8601.
//!
//! Days convert to dates in the proleptic Gregorian calendar with eras of 400 years, as in
//! Howard Hinnant's `civil_from_days` algorithm.

const MS_PER_SECOND: i64 = 1_000;
const MS_PER_DAY: i64 = 86_400 * MS_PER_SECOND;
/// Days in 400 Gregorian years.
const DAYS_PER_ERA: i64 = 146_097;
/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_SHIFT_DAYS: i64 = 719_468;

/// Formats `ms` as a UTC date and time with milliseconds, such as `2023-11-14T22:13:20.000Z`.
/// Years outside 0 to 9999 get a sign, as in the expanded years of ISO 8601.
pub fn iso8601(ms: i64) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let ms_of_day = ms.rem_euclid(MS_PER_DAY);
    let seconds = ms_of_day / MS_PER_SECOND;
    let (hour, minute, second) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let millis = ms_of_day % MS_PER_SECOND;
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{year:+}")
    };
    format!("{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// Formats a time range in milliseconds and as UTC dates.
pub fn range(range: Option<(i64, i64)>) -> String {
    match range {
        Some((min, max)) => format!("{min} .. {max} ms ({} .. {})", iso8601(min), iso8601(max)),
        None => "none".to_owned(),
    }
}

/// Returns the date `(year, month, day)` that lies `days` days after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Counting years from March puts the leap day last, so month lengths do not depend on it.
    let shifted = days + EPOCH_SHIFT_DAYS;
    let era = shifted.div_euclid(DAYS_PER_ERA);
    let day_of_era = shifted.rem_euclid(DAYS_PER_ERA);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
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
    fn iso8601_of_recent_time() {
        assert_eq!(iso8601(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn iso8601_of_extreme_values() {
        assert_eq!(iso8601(i64::MAX), "+292278994-08-17T07:12:55.807Z");
        assert_eq!(iso8601(i64::MIN), "-292275055-05-16T16:47:04.192Z");
    }

    #[test]
    fn civil_from_days_matches_day_by_day_count() {
        let mut date = (1969, 1, 1);
        let month_days = |y: i64, m: i64| match m {
            2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        for days in -365..(365 * 400) {
            assert_eq!(civil_from_days(days), date, "day {days}");
            date.2 += 1;
            if date.2 > month_days(date.0, date.1) {
                date = (date.0, date.1 + 1, 1);
            }
            if date.1 > 12 {
                date = (date.0 + 1, 1, 1);
            }
        }
    }
}
