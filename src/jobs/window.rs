//! Windows and the schemes that divide time into them: calendar months, ISO weeks, days, or a
//! fixed length from an origin, all in UTC.

use std::fmt;

use super::calendar::{self, Date, MS_PER_DAY, Year};
use crate::error::{Error, Result};

/// A half-open interval of timestamps `[start_ms, end_ms)`, in milliseconds since the Unix
/// epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl Window {
    /// Returns the window, or `Error::InvalidInput` unless `end_ms > start_ms`.
    pub fn new(start_ms: i64, end_ms: i64) -> Result<Window> {
        crate::value::validate_window(start_ms, end_ms)?;
        Ok(Window { start_ms, end_ms })
    }

    pub fn contains(&self, timestamp_ms: i64) -> bool {
        self.start_ms <= timestamp_ms && timestamp_ms < self.end_ms
    }
}

/// Formats the window as `[START, END)` in RFC 3339.
impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {})",
            calendar::format_timestamp(self.start_ms),
            calendar::format_timestamp(self.end_ms)
        )
    }
}

/// A division of time into windows. Every scheme counts in UTC and gives each instant exactly
/// one window, so a window is the same whatever range a job runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowScheme {
    /// Calendar months, from 00:00 on the first day to 00:00 on the first day of the next.
    Months,
    /// ISO 8601 weeks, from Monday 00:00 to the next Monday 00:00.
    IsoWeeks,
    /// Days, from 00:00 to the next 00:00.
    Days,
    /// Windows of `length_ms` milliseconds laid end to end from `origin_ms`, before and after
    /// it. `length_ms` must be positive.
    Fixed { origin_ms: i64, length_ms: i64 },
}

impl WindowScheme {
    /// Returns the window that contains `timestamp_ms`.
    ///
    /// Returns `Error::InvalidInput` when the window starts or ends outside the `i64`
    /// millisecond range, which happens only within a window's length of its ends, or when a
    /// fixed length is not positive.
    pub fn window_containing(&self, timestamp_ms: i64) -> Result<Window> {
        let window = match *self {
            WindowScheme::Months => month_containing(timestamp_ms),
            WindowScheme::IsoWeeks => week_containing(timestamp_ms),
            WindowScheme::Days => fixed_containing(timestamp_ms, 0, MS_PER_DAY),
            WindowScheme::Fixed {
                origin_ms,
                length_ms,
            } => {
                self.check_length()?;
                fixed_containing(timestamp_ms, origin_ms, length_ms)
            }
        };
        window.ok_or_else(|| {
            Error::invalid(
                "timestamp",
                timestamp_ms.to_string(),
                format!(
                    "its {} window starts or ends outside the range of i64 milliseconds: \
                     choose a range further from the ends of that range",
                    self.kind()
                ),
            )
        })
    }

    /// Returns the windows that overlap `range`, in time order: the window that contains
    /// `range.start_ms`, the one that contains `range.end_ms - 1`, and those between them.
    /// Windows are never cut to the range.
    pub fn windows(&self, range: Window) -> Result<Windows> {
        crate::value::validate_window(range.start_ms, range.end_ms)?;
        let first = self.window_containing(range.start_ms)?;
        let last = self.window_containing(range.end_ms - 1)?;
        Ok(Windows {
            scheme: *self,
            next: Some(first),
            last,
        })
    }

    /// Returns whether `window` is one of this scheme's windows.
    pub fn is_window(&self, window: Window) -> bool {
        self.window_containing(window.start_ms)
            .is_ok_and(|found| found == window)
    }

    /// Returns a short name of the window that starts at `start_ms`: `2019-01` for a month,
    /// `2019-W01` for an ISO week, `2019-01-31` for a day, and the start in RFC 3339 for a fixed
    /// length.
    pub fn window_name(&self, start_ms: i64) -> String {
        let date = Date::containing(start_ms);
        match self {
            WindowScheme::Months => format!("{}-{:02}", Year(date.year), date.month),
            WindowScheme::IsoWeeks => {
                calendar::iso_week(start_ms.div_euclid(MS_PER_DAY)).to_string()
            }
            WindowScheme::Days => date.to_string(),
            WindowScheme::Fixed { .. } => calendar::format_timestamp(start_ms),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            WindowScheme::Months => "month",
            WindowScheme::IsoWeeks => "ISO week",
            WindowScheme::Days => "day",
            WindowScheme::Fixed { .. } => "fixed-length",
        }
    }

    /// Returns `Error::InvalidInput` when a fixed length is not positive.
    pub(crate) fn check_length(&self) -> Result<()> {
        match *self {
            WindowScheme::Fixed { length_ms, .. } if length_ms <= 0 => Err(Error::invalid(
                "window length_ms",
                length_ms.to_string(),
                "a fixed window length must be positive, in milliseconds",
            )),
            _ => Ok(()),
        }
    }
}

/// The windows of a scheme over a range, in time order; see [`WindowScheme::windows`].
#[derive(Clone, Debug)]
pub struct Windows {
    scheme: WindowScheme,
    next: Option<Window>,
    last: Window,
}

impl Iterator for Windows {
    type Item = Window;

    fn next(&mut self) -> Option<Window> {
        let current = self.next?;
        self.next = if current == self.last {
            None
        } else {
            // Every window up to `last` has bounds in range, because `last` has.
            self.scheme.window_containing(current.end_ms).ok()
        };
        Some(current)
    }
}

impl Windows {
    /// Returns an iterator without windows.
    pub(crate) fn empty(scheme: WindowScheme) -> Windows {
        Windows {
            scheme,
            next: None,
            last: Window {
                start_ms: 0,
                end_ms: 1,
            },
        }
    }
}

fn month_containing(timestamp_ms: i64) -> Option<Window> {
    let date = Date::containing(timestamp_ms);
    Some(Window {
        start_ms: date.first_of_month().start_ms()?,
        end_ms: date.first_of_next_month()?.start_ms()?,
    })
}

fn week_containing(timestamp_ms: i64) -> Option<Window> {
    let days = timestamp_ms.div_euclid(MS_PER_DAY);
    let monday = days.checked_sub(i64::from(calendar::weekday(days)))?;
    let start_ms = monday.checked_mul(MS_PER_DAY)?;
    Some(Window {
        start_ms,
        end_ms: start_ms.checked_add(7 * MS_PER_DAY)?,
    })
}

/// Computes in `i128`, where `timestamp_ms - origin_ms` cannot overflow. `length_ms` must be
/// positive.
fn fixed_containing(timestamp_ms: i64, origin_ms: i64, length_ms: i64) -> Option<Window> {
    let length = i128::from(length_ms);
    let index = (i128::from(timestamp_ms) - i128::from(origin_ms)).div_euclid(length);
    let start = i128::from(origin_ms) + index * length;
    Some(Window {
        start_ms: i64::try_from(start).ok()?,
        end_ms: i64::try_from(start + length).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(year: i64, month: u32, day: u32) -> i64 {
        Date::new(year, month, day).unwrap().start_ms().unwrap()
    }

    fn window_names(scheme: WindowScheme, start_ms: i64, end_ms: i64) -> Vec<String> {
        let range = Window::new(start_ms, end_ms).unwrap();
        let windows = scheme.windows(range).unwrap();
        windows.map(|w| scheme.window_name(w.start_ms)).collect()
    }

    #[test]
    fn month_window_spans_whole_month() {
        let window = WindowScheme::Months
            .window_containing(ms(2019, 3, 15) + 5)
            .unwrap();
        assert_eq!(window.start_ms, ms(2019, 3, 1));
        assert_eq!(window.end_ms, ms(2019, 4, 1));
    }

    #[test]
    fn month_boundaries_belong_to_next_month() {
        let scheme = WindowScheme::Months;
        let end_of_january = scheme.window_containing(ms(2019, 2, 1) - 1).unwrap();
        assert_eq!(end_of_january.start_ms, ms(2019, 1, 1));
        let february = scheme.window_containing(ms(2019, 2, 1)).unwrap();
        assert_eq!(february.start_ms, ms(2019, 2, 1));
        assert_eq!(february.end_ms - february.start_ms, 28 * MS_PER_DAY);
    }

    #[test]
    fn leap_february_has_29_days() {
        let scheme = WindowScheme::Months;
        for (year, days) in [(2020, 29), (2000, 29), (1900, 28), (2019, 28)] {
            let window = scheme.window_containing(ms(year, 2, 10)).unwrap();
            assert_eq!(window.end_ms - window.start_ms, days * MS_PER_DAY, "{year}");
        }
    }

    #[test]
    fn months_cross_year_end() {
        let months = window_names(WindowScheme::Months, ms(2018, 11, 30), ms(2019, 2, 1) + 1);
        assert_eq!(months, ["2018-11", "2018-12", "2019-01", "2019-02"]);
    }

    #[test]
    fn range_end_is_exclusive() {
        let months = window_names(WindowScheme::Months, ms(2019, 1, 1), ms(2019, 3, 1));
        assert_eq!(months, ["2019-01", "2019-02"]);
    }

    #[test]
    fn negative_timestamps_get_1969_windows() {
        let scheme = WindowScheme::Months;
        let window = scheme.window_containing(-1).unwrap();
        assert_eq!(window.start_ms, ms(1969, 12, 1));
        assert_eq!(window.end_ms, 0);
        assert_eq!(scheme.window_name(window.start_ms), "1969-12");
        let day = WindowScheme::Days.window_containing(-1).unwrap();
        assert_eq!(day.start_ms, -MS_PER_DAY);
        assert_eq!(day.end_ms, 0);
    }

    #[test]
    fn iso_weeks_start_on_monday() {
        let scheme = WindowScheme::IsoWeeks;
        // 2021-01-03 is a Sunday of week 2020-W53; the week began on Monday 2020-12-28.
        let window = scheme.window_containing(ms(2021, 1, 3) + 1).unwrap();
        assert_eq!(window.start_ms, ms(2020, 12, 28));
        assert_eq!(window.end_ms, ms(2021, 1, 4));
        assert_eq!(scheme.window_name(window.start_ms), "2020-W53");
        let next = scheme.window_containing(window.end_ms).unwrap();
        assert_eq!(scheme.window_name(next.start_ms), "2021-W01");
    }

    #[test]
    fn iso_week_before_epoch() {
        let scheme = WindowScheme::IsoWeeks;
        let window = scheme.window_containing(0).unwrap();
        assert_eq!(window.start_ms, -3 * MS_PER_DAY, "Monday 1969-12-29");
        assert_eq!(scheme.window_name(window.start_ms), "1970-W01");
        let earlier = scheme.window_containing(window.start_ms - 1).unwrap();
        assert_eq!(scheme.window_name(earlier.start_ms), "1969-W52");
    }

    #[test]
    fn day_names_and_lengths() {
        let days = window_names(WindowScheme::Days, ms(2020, 2, 28), ms(2020, 3, 2));
        assert_eq!(days, ["2020-02-28", "2020-02-29", "2020-03-01"]);
    }

    #[test]
    fn fixed_windows_extend_before_origin() {
        let scheme = WindowScheme::Fixed {
            origin_ms: 1_000,
            length_ms: 300,
        };
        assert_eq!(
            scheme.window_containing(1_000).unwrap(),
            Window {
                start_ms: 1_000,
                end_ms: 1_300
            }
        );
        assert_eq!(
            scheme.window_containing(999).unwrap(),
            Window {
                start_ms: 700,
                end_ms: 1_000
            }
        );
        assert_eq!(
            scheme.window_containing(-250).unwrap(),
            Window {
                start_ms: -500,
                end_ms: -200
            }
        );
    }

    #[test]
    fn fixed_length_must_be_positive() {
        for length_ms in [0, -5] {
            let scheme = WindowScheme::Fixed {
                origin_ms: 0,
                length_ms,
            };
            assert!(scheme.window_containing(10).is_err(), "{length_ms}");
        }
    }

    #[test]
    fn windows_at_i64_ends_are_rejected() {
        let month = WindowScheme::Months;
        assert!(month.window_containing(i64::MAX).is_err());
        assert!(month.window_containing(i64::MIN).is_err());
        let fixed = WindowScheme::Fixed {
            origin_ms: i64::MIN,
            length_ms: i64::MAX,
        };
        let first = fixed.window_containing(i64::MIN).unwrap();
        assert_eq!(first.end_ms, -1);
        let second = fixed.window_containing(0).unwrap();
        assert_eq!(second.start_ms, -1);
        assert!(fixed.window_containing(i64::MAX).is_err());
    }

    #[test]
    fn windows_far_from_epoch_work() {
        let scheme = WindowScheme::Months;
        let early = Date::containing(i64::MIN / 2).first_of_month();
        let window = scheme.window_containing(i64::MIN / 2).unwrap();
        assert_eq!(window.start_ms, early.start_ms().unwrap());
        assert!(scheme.window_name(window.start_ms).starts_with("-1"));
    }

    #[test]
    fn is_window_rejects_unaligned_windows() {
        let scheme = WindowScheme::Days;
        assert!(scheme.is_window(Window {
            start_ms: 0,
            end_ms: MS_PER_DAY
        }));
        assert!(!scheme.is_window(Window {
            start_ms: 1,
            end_ms: MS_PER_DAY
        }));
        assert!(!scheme.is_window(Window {
            start_ms: 0,
            end_ms: 2 * MS_PER_DAY
        }));
    }

    #[test]
    fn window_new_requires_end_after_start() {
        assert!(Window::new(5, 5).is_err());
        assert!(Window::new(6, 5).is_err());
        assert!(Window::new(5, 6).is_ok());
    }

    #[test]
    fn window_displays_rfc_3339_bounds() {
        let window = Window {
            start_ms: 0,
            end_ms: MS_PER_DAY,
        };
        assert_eq!(
            window.to_string(),
            "[1970-01-01T00:00:00.000Z, 1970-01-02T00:00:00.000Z)"
        );
    }
}
