//! UTC calendar arithmetic for windows: dates from day counts and back, ISO weeks, and
//! timestamps as text.
//!
//! Dates follow the proleptic Gregorian calendar, counted in eras of 400 years (146,097 days)
//! by the method of Howard Hinnant's `days_from_civil` and `civil_from_days`. A year that
//! starts on 1 March puts the leap day last, so the month lengths before it do not depend on
//! the year. The arithmetic runs in `i128`, so every `i64` day count has a date and no input
//! overflows.

use std::fmt;

pub const MS_PER_SECOND: i64 = 1_000;
pub const MS_PER_DAY: i64 = 86_400 * MS_PER_SECOND;

const DAYS_PER_ERA: i128 = 146_097;
/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_SHIFT_DAYS: i128 = 719_468;
/// Day of the week of 1970-01-01, a Thursday, counted from Monday = 0.
const EPOCH_WEEKDAY: i64 = 3;

/// A date of the proleptic Gregorian calendar. Year 0 is 1 BC, year -1 is 2 BC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to the length of the month.
    pub day: u32,
}

/// A week of the ISO 8601 week-numbering calendar: weeks start on Monday, and week 1 of a year
/// is the week that contains its first Thursday.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoWeek {
    /// The year of the week's Thursday, which differs from the calendar year for some days
    /// around 1 January.
    pub year: i64,
    /// 1 to 52, or 53 in long years.
    pub week: u32,
}

impl Date {
    /// Returns the date, or `None` when `month` is outside 1..=12 or `day` outside the month.
    pub fn new(year: i64, month: u32, day: u32) -> Option<Date> {
        let valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// Returns the date that lies `days` days after 1970-01-01 (before it when negative).
    pub fn from_days(days: i64) -> Date {
        date_from_days(i128::from(days))
    }

    /// Returns the date of the instant `timestamp_ms`, in milliseconds since the Unix epoch.
    pub fn containing(timestamp_ms: i64) -> Date {
        Date::from_days(timestamp_ms.div_euclid(MS_PER_DAY))
    }

    /// Returns the number of days from 1970-01-01 to this date, negative before it, or `None`
    /// when that number does not fit in an `i64`.
    pub fn days(self) -> Option<i64> {
        i64::try_from(days_from_date(self)).ok()
    }

    /// Returns the first millisecond of this date, or `None` when it does not fit in an `i64`.
    pub fn start_ms(self) -> Option<i64> {
        self.days()?.checked_mul(MS_PER_DAY)
    }

    /// Returns the first day of this date's month.
    pub fn first_of_month(self) -> Date {
        Date { day: 1, ..self }
    }

    /// Returns the first day of the month after this date's, or `None` after December of the
    /// largest `i64` year.
    pub fn first_of_next_month(self) -> Option<Date> {
        let (year, month) = if self.month == 12 {
            (self.year.checked_add(1)?, 1)
        } else {
            (self.year, self.month + 1)
        };
        Some(Date {
            year,
            month,
            day: 1,
        })
    }
}

/// Formats the date as `YYYY-MM-DD`, with a sign and more digits for years outside 0..=9999,
/// as ISO 8601 writes expanded years.
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:02}-{:02}", Year(self.year), self.month, self.day)
    }
}

/// Formats the week as `YYYY-Www`, such as `2020-W53`.
impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-W{:02}", Year(self.year), self.week)
    }
}

/// A year as dates show it: four digits for 0 to 9999, otherwise a sign and as many digits
/// as needed.
pub(crate) struct Year(pub i64);

impl fmt::Display for Year {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let year = self.0;
        if (0..=9999).contains(&year) {
            write!(f, "{year:04}")
        } else if year < 0 {
            write!(f, "-{:04}", year.unsigned_abs())
        } else {
            write!(f, "+{year}")
        }
    }
}

pub fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Returns the number of days of `month` (1 to 12) in `year`, or 0 for another month number.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        _ => 0,
    }
}

/// Returns the day of the week of the day `days` after 1970-01-01: 0 for Monday to 6 for
/// Sunday.
pub fn weekday(days: i64) -> u32 {
    // rem_euclid keeps both terms in 0..7, so the sum cannot overflow.
    ((days.rem_euclid(7) + EPOCH_WEEKDAY) % 7) as u32
}

/// Returns the ISO week of the day `days` after 1970-01-01.
pub fn iso_week(days: i64) -> IsoWeek {
    let days = i128::from(days);
    let monday = days - i128::from(weekday_wide(days));
    let thursday = monday + 3;
    let year = date_from_days(thursday).year;
    let first_day = days_from_date(Date {
        year,
        month: 1,
        day: 1,
    });
    // The Thursday lies in the ISO year, so it is at most 365 days after 1 January.
    let week = (thursday - first_day) / 7 + 1;
    IsoWeek {
        year,
        week: week as u32,
    }
}

/// Formats `timestamp_ms` as UTC in RFC 3339 with milliseconds: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_timestamp(timestamp_ms: i64) -> String {
    let date = Date::containing(timestamp_ms);
    let ms_of_day = timestamp_ms.rem_euclid(MS_PER_DAY);
    let seconds = ms_of_day / MS_PER_SECOND;
    format!(
        "{date}T{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3_600,
        seconds / 60 % 60,
        seconds % 60,
        ms_of_day % MS_PER_SECOND
    )
}

fn weekday_wide(days: i128) -> u32 {
    ((days.rem_euclid(7) + i128::from(EPOCH_WEEKDAY)) % 7) as u32
}

fn days_from_date(date: Date) -> i128 {
    let year = i128::from(date.year) - i128::from(date.month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i128::from((date.month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i128::from(date.day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - EPOCH_SHIFT_DAYS
}

fn date_from_days(days: i128) -> Date {
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
    let year = era * 400 + year_of_era + i128::from(month <= 2);
    // The arithmetic keeps month in 1..=12 and day in 1..=31. A day count of at most 2^63 in
    // magnitude gives a year of at most 2.6e16 in magnitude, so every cast keeps its value.
    Date {
        year: year as i64,
        month: month as u32,
        day: day as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(year: i64, month: u32, day: u32) -> Date {
        Date::new(year, month, day).unwrap()
    }

    #[test]
    fn days_of_known_dates() {
        assert_eq!(date(1970, 1, 1).days(), Some(0));
        assert_eq!(date(1969, 12, 31).days(), Some(-1));
        assert_eq!(date(2000, 3, 1).days(), Some(11_017));
        assert_eq!(date(2018, 1, 1).days(), Some(17_532));
        assert_eq!(date(2019, 8, 29).days(), Some(18_137));
        // `date -u -d 1900-01-01 +%s` prints -2208988800, which is 25,567 days.
        assert_eq!(date(1900, 1, 1).days(), Some(-25_567));
    }

    #[test]
    fn from_days_inverts_days() {
        for days in -800_000..800_000 {
            let date = Date::from_days(days);
            assert_eq!(date.days(), Some(days), "day {days}");
        }
    }

    #[test]
    fn from_days_advances_one_day() {
        let mut previous = Date::from_days(-200_001);
        for days in -200_000..200_000 {
            let current = Date::from_days(days);
            let expected = if previous.day < days_in_month(previous.year, previous.month) {
                Date {
                    day: previous.day + 1,
                    ..previous
                }
            } else {
                previous.first_of_next_month().unwrap()
            };
            assert_eq!(current, expected, "day {days}");
            previous = current;
        }
    }

    #[test]
    fn extreme_day_counts_round_trip() {
        for days in [i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX] {
            let date = Date::from_days(days);
            assert!(Date::new(date.year, date.month, date.day).is_some());
            assert_eq!(date.days(), Some(days), "day {days}");
        }
    }

    #[test]
    fn days_beyond_i64_are_none() {
        let late = date(i64::MAX, 12, 31);
        assert_eq!(late.days(), None);
        assert_eq!(late.first_of_next_month(), None);
        assert_eq!(date(i64::MIN, 1, 1).days(), None);
    }

    #[test]
    fn leap_years_follow_gregorian_rules() {
        assert!(is_leap_year(2000));
        assert!(is_leap_year(2024));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2023));
        assert!(is_leap_year(0));
        assert!(is_leap_year(-4));
        assert!(!is_leap_year(-100));
    }

    #[test]
    fn new_rejects_invalid_dates() {
        assert_eq!(Date::new(2019, 2, 29), None);
        assert_eq!(Date::new(2019, 13, 1), None);
        assert_eq!(Date::new(2019, 0, 1), None);
        assert_eq!(Date::new(2019, 4, 31), None);
        assert_eq!(Date::new(2019, 1, 0), None);
        assert!(Date::new(2020, 2, 29).is_some());
    }

    #[test]
    fn leap_day_is_followed_by_march() {
        let leap_day = date(2020, 2, 29).days().unwrap();
        assert_eq!(Date::from_days(leap_day + 1), date(2020, 3, 1));
        let not_leap = date(1900, 2, 28).days().unwrap();
        assert_eq!(Date::from_days(not_leap + 1), date(1900, 3, 1));
    }

    #[test]
    fn negative_timestamps_fall_on_earlier_days() {
        assert_eq!(Date::containing(-1), date(1969, 12, 31));
        assert_eq!(Date::containing(-MS_PER_DAY), date(1969, 12, 31));
        assert_eq!(Date::containing(-MS_PER_DAY - 1), date(1969, 12, 30));
        assert_eq!(Date::containing(0), date(1970, 1, 1));
    }

    #[test]
    fn start_ms_overflow_is_none() {
        assert_eq!(date(1970, 1, 2).start_ms(), Some(MS_PER_DAY));
        let last_day = Date::containing(i64::MAX);
        assert!(last_day.start_ms().is_some());
        assert_eq!(last_day.first_of_next_month().unwrap().start_ms(), None);
    }

    #[test]
    fn weekday_counts_from_monday() {
        assert_eq!(weekday(0), 3, "1970-01-01 was a Thursday");
        assert_eq!(weekday(-3), 0, "1969-12-29 was a Monday");
        assert_eq!(weekday(date(2024, 1, 1).days().unwrap()), 0);
        assert_eq!(weekday(date(2019, 9, 1).days().unwrap()), 6);
        assert!(weekday(i64::MIN) < 7);
        assert!(weekday(i64::MAX) < 7);
    }

    #[test]
    fn iso_weeks_at_year_boundaries() {
        let cases = [
            // (date, ISO year, week), checked against `date -u -d DATE +%G-W%V`.
            ((2021, 1, 3), (2020, 53)),
            ((2021, 1, 4), (2021, 1)),
            ((2019, 12, 30), (2020, 1)),
            ((2018, 12, 31), (2019, 1)),
            ((2016, 1, 3), (2015, 53)),
            ((2024, 12, 29), (2024, 52)),
            ((2024, 12, 30), (2025, 1)),
            ((1970, 1, 1), (1970, 1)),
            ((1969, 12, 29), (1970, 1)),
            ((1969, 12, 28), (1969, 52)),
        ];
        for ((year, month, day), (iso_year, week)) in cases {
            let days = date(year, month, day).days().unwrap();
            let expected = IsoWeek {
                year: iso_year,
                week,
            };
            assert_eq!(iso_week(days), expected, "{year}-{month}-{day}");
        }
    }

    #[test]
    fn iso_weeks_advance_on_mondays() {
        let mut previous = iso_week(-100_001);
        for days in -100_000..100_000 {
            let current = iso_week(days);
            if weekday(days) == 0 {
                let next_year = IsoWeek {
                    year: previous.year + 1,
                    week: 1,
                };
                let next_week = IsoWeek {
                    week: previous.week + 1,
                    ..previous
                };
                assert!(current == next_week || current == next_year, "day {days}");
                assert!((52..=53).contains(&previous.week) || current == next_week);
            } else {
                assert_eq!(current, previous, "day {days}");
            }
            previous = current;
        }
    }

    #[test]
    fn dates_format_with_expanded_years() {
        assert_eq!(date(2019, 1, 5).to_string(), "2019-01-05");
        assert_eq!(date(5, 12, 31).to_string(), "0005-12-31");
        assert_eq!(date(-1, 3, 1).to_string(), "-0001-03-01");
        assert_eq!(date(12_345, 3, 1).to_string(), "+12345-03-01");
        let week = IsoWeek {
            year: 2020,
            week: 3,
        };
        assert_eq!(week.to_string(), "2020-W03");
    }

    #[test]
    fn timestamps_format_as_rfc_3339() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999Z");
        // `date -u -d @1540922400` prints 2018-10-30 18:00:00.
        assert_eq!(
            format_timestamp(1_540_922_400_000),
            "2018-10-30T18:00:00.000Z"
        );
        assert!(format_timestamp(i64::MIN).starts_with("-292275055-05-16T"));
        assert!(format_timestamp(i64::MAX).starts_with("+292278994-08-17T"));
    }
}
