//! UTC calendar arithmetic: timestamps in the data files, months as windows in milliseconds.
//!
//! The day counts use the proleptic Gregorian calendar with eras of 400 years (146,097 days), the
//! method of Howard Hinnant's `days_from_civil` and `civil_from_days`.

use std::fmt;

pub const MS_PER_SECOND: i64 = 1_000;
pub const MS_PER_DAY: i64 = 86_400 * MS_PER_SECOND;

const DAYS_PER_ERA: i64 = 146_097;
/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_SHIFT_DAYS: i64 = 719_468;

/// Returns the number of days from 1970-01-01 to the date `year-month-day`, negative before.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // A year that starts in March puts the leap day last, so month lengths no longer depend on it.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - EPOCH_SHIFT_DAYS
}

/// Returns the date `(year, month, day)` that lies `days` days after 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
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
    // The ranges of the arithmetic above keep month in 1..=12 and day in 1..=31.
    (year, month as u32, day as u32)
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `YYYY-MM-DD HH:MM:SS` with an optional fraction of 1 to 3 digits (`.mmm`), read as
/// UTC, into milliseconds since the Unix epoch.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    let invalid = |why: &str| format!("invalid timestamp {text:?}: {why}");
    let (date, time) = text
        .split_once(' ')
        .ok_or_else(|| invalid("expected YYYY-MM-DD HH:MM:SS.mmm"))?;
    let [year, month, day] =
        split_fields::<3>(date, '-', 4, 2).ok_or_else(|| invalid("bad date"))?;
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let [hour, minute, second] =
        split_fields::<3>(clock, ':', 2, 2).ok_or_else(|| invalid("bad time"))?;
    let millis = parse_fraction_ms(fraction).ok_or_else(|| invalid("bad fraction of a second"))?;

    let month = month as u32;
    if !(1..=12).contains(&month) {
        return Err(invalid("month out of 1..=12"));
    }
    if day < 1 || day > i64::from(days_in_month(year, month)) {
        return Err(invalid("day out of range for its month"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(invalid("time of day out of range"));
    }
    let days = days_from_civil(year, month, day as u32);
    let seconds = hour * 3_600 + minute * 60 + second;
    Ok(days * MS_PER_DAY + seconds * MS_PER_SECOND + millis)
}

/// Splits `text` on `separator` into `N` decimal fields, the first of `first_width` digits and
/// the others of `width` digits.
fn split_fields<const N: usize>(
    text: &str,
    separator: char,
    first_width: usize,
    width: usize,
) -> Option<[i64; N]> {
    let mut fields = [0; N];
    let mut parts = text.split(separator);
    for (i, field) in fields.iter_mut().enumerate() {
        let part = parts.next()?;
        let expected = if i == 0 { first_width } else { width };
        if part.len() != expected || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *field = part.parse().ok()?;
    }
    parts.next().is_none().then_some(fields)
}

/// Converts the digits after the decimal point of a second into milliseconds.
fn parse_fraction_ms(fraction: &str) -> Option<i64> {
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{fraction:0<3}");
    padded.parse().ok()
}

/// One calendar month in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
}

impl Month {
    /// Returns the month that contains the instant `timestamp_ms`.
    pub fn containing(timestamp_ms: i64) -> Month {
        let (year, month, _) = civil_from_days(timestamp_ms.div_euclid(MS_PER_DAY));
        Month { year, month }
    }

    /// Returns the first millisecond of the month.
    pub fn start_ms(self) -> i64 {
        days_from_civil(self.year, self.month, 1) * MS_PER_DAY
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Returns every month from the one containing `first_ms` to the one containing `last_ms`.
    pub fn span(first_ms: i64, last_ms: i64) -> Vec<Month> {
        let last = Month::containing(last_ms);
        let mut months = Vec::new();
        let mut month = Month::containing(first_ms);
        while month <= last {
            months.push(month);
            month = month.next();
        }
        months
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_from_civil_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2018, 1, 1), 17_532);
        assert_eq!(days_from_civil(2019, 8, 29), 18_137);
    }

    #[test]
    fn civil_from_days_inverts_days_from_civil() {
        for days in -800_000..800_000 {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days, "day {days}");
        }
    }

    #[test]
    fn civil_from_days_advances_one_day() {
        let mut previous = civil_from_days(-1);
        for days in 0..200_000 {
            let current = civil_from_days(days);
            let (year, month, day) = previous;
            let expected = if day < days_in_month(year, month) {
                (year, month, day + 1)
            } else if month < 12 {
                (year, month + 1, 1)
            } else {
                (year + 1, 1, 1)
            };
            assert_eq!(current, expected, "day {days}");
            previous = current;
        }
    }

    #[test]
    fn parse_timestamp_with_milliseconds() {
        // 2018-01-01 00:08:43.152 UTC, as `date -u -d` prints it in seconds: 1514765323.
        assert_eq!(
            parse_timestamp("2018-01-01 00:08:43.152"),
            Ok(1_514_765_323_152)
        );
        assert_eq!(parse_timestamp("1970-01-01 00:00:00.000"), Ok(0));
        assert_eq!(parse_timestamp("1970-01-01 00:00:01.5"), Ok(1_500));
        assert_eq!(
            parse_timestamp("2020-02-29 23:59:59"),
            Ok(1_583_020_799_000)
        );
    }

    #[test]
    fn parse_timestamp_rejects_malformed_text() {
        for text in [
            "",
            "2018-01-01",
            "2018-01-01T00:00:00.000",
            "2018-1-01 00:00:00.000",
            "2018-13-01 00:00:00.000",
            "2019-02-29 00:00:00.000",
            "2018-01-01 24:00:00.000",
            "2018-01-01 00:00:00.1234",
            "2018-01-01 00:00:00.-12",
            "+018-01-01 00:00:00.000",
            "2018-01-01 00:00:00:00",
        ] {
            assert!(parse_timestamp(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn month_span_crosses_year_end() {
        let first = parse_timestamp("2018-11-30 23:59:59.999").unwrap();
        let last = parse_timestamp("2019-02-01 00:00:00.000").unwrap();
        let months: Vec<String> = Month::span(first, last)
            .iter()
            .map(Month::to_string)
            .collect();
        assert_eq!(months, ["2018-11", "2018-12", "2019-01", "2019-02"]);
    }

    #[test]
    fn month_start_is_first_millisecond() {
        let month = Month::containing(parse_timestamp("2019-03-15 12:00:00").unwrap());
        assert_eq!(
            month.start_ms(),
            parse_timestamp("2019-03-01 00:00:00").unwrap()
        );
        assert_eq!(
            Month::containing(month.start_ms() - 1).to_string(),
            "2019-02"
        );
    }
}
