//! Timestamps of the data files: `YYYY-MM-DD HH:MM:SS.mmm` read as UTC, in milliseconds since
//! the Unix epoch.

use modelmetrics::jobs::calendar::{Date, MS_PER_DAY, MS_PER_SECOND};

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

    // The fields have 2 digits, so the casts keep their values.
    let date = Date::new(year, month as u32, day as u32)
        .ok_or_else(|| invalid("month out of 1..=12 or day out of range for its month"))?;
    if hour > 23 || minute > 59 || second > 59 {
        return Err(invalid("time of day out of range"));
    }
    // A year of 4 digits is far inside the range of i64 days.
    let days = date.days().ok_or_else(|| invalid("date out of range"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
