//! A series' time column: stamps parsed from dates, date-times or numbers, the regular step
//! between them, and the stamps after the end.

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, Timelike};

/// One row's time.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub enum Stamp {
    /// A number (a year, a day count, …), or the row's position when there is no time column.
    Number(f64),
    /// A date or a date and time.
    Moment(NaiveDateTime),
}

/// How the stamps were written, so that new ones are written the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StampFormat {
    /// No time column: rows are numbered from 0.
    Row,
    /// Numbers.
    Number,
    /// `YYYY-MM`.
    Month,
    /// `YYYY-MM-DD`.
    Date,
    /// `YYYY-MM-DD HH:MM`.
    Minute,
    /// `YYYY-MM-DD HH:MM:SS`.
    Second,
}

/// The regular distance between two consecutive rows.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Step {
    /// Calendar months (1: monthly, 3: quarterly, 12: yearly).
    Months(u32),
    /// A fixed duration.
    Seconds(i64),
    /// A number (1 for years written as numbers, or for row positions).
    Number(f64),
}

impl Stamp {
    /// Parses one cell: a date-time, a date, a year and month, or a number.
    pub fn parse(cell: &str) -> Option<(Stamp, StampFormat)> {
        let cell = cell.trim();
        const DATE_TIMES: [(&str, StampFormat); 4] = [
            ("%Y-%m-%d %H:%M:%S", StampFormat::Second),
            ("%Y-%m-%dT%H:%M:%S", StampFormat::Second),
            ("%Y-%m-%d %H:%M", StampFormat::Minute),
            ("%Y-%m-%dT%H:%M", StampFormat::Minute),
        ];
        for (pattern, format) in DATE_TIMES {
            if let Ok(moment) = NaiveDateTime::parse_from_str(cell, pattern) {
                return Some((Stamp::Moment(moment), format));
            }
        }
        for pattern in ["%Y-%m-%d", "%Y/%m/%d"] {
            if let Ok(date) = NaiveDate::parse_from_str(cell, pattern) {
                return Some((Stamp::Moment(date.and_hms_opt(0, 0, 0)?), StampFormat::Date));
            }
        }
        if let Ok(date) = NaiveDate::parse_from_str(&format!("{cell}-01"), "%Y-%m-%d") {
            return Some((
                Stamp::Moment(date.and_hms_opt(0, 0, 0)?),
                StampFormat::Month,
            ));
        }
        let number: f64 = cell.parse().ok()?;
        number
            .is_finite()
            .then_some((Stamp::Number(number), StampFormat::Number))
    }

    /// Written as `format` writes it.
    pub fn write(&self, format: StampFormat) -> String {
        match (self, format) {
            (Stamp::Number(value), _) => match value.fract() == 0.0 {
                true => format!("{value:.0}"),
                false => format!("{value}"),
            },
            (Stamp::Moment(moment), StampFormat::Month) => moment.format("%Y-%m").to_string(),
            (Stamp::Moment(moment), StampFormat::Minute) => {
                moment.format("%Y-%m-%d %H:%M").to_string()
            }
            (Stamp::Moment(moment), StampFormat::Second) => {
                moment.format("%Y-%m-%d %H:%M:%S").to_string()
            }
            (Stamp::Moment(moment), _) => moment.format("%Y-%m-%d").to_string(),
        }
    }

    /// The stamp `count` steps later.
    pub fn after(&self, step: Step, count: u32) -> Option<Stamp> {
        match (*self, step) {
            (Stamp::Number(value), Step::Number(step)) => {
                Some(Stamp::Number(value + step * f64::from(count)))
            }
            (Stamp::Moment(moment), Step::Months(months)) => moment
                .checked_add_months(Months::new(months * count))
                .map(Stamp::Moment),
            (Stamp::Moment(moment), Step::Seconds(seconds)) => moment
                .checked_add_signed(chrono::TimeDelta::seconds(seconds * i64::from(count)))
                .map(Stamp::Moment),
            _ => None,
        }
    }

    /// A position on a plot's axis: numbers as they are, dates in fractional years (or, for a
    /// step under a day, fractional days since `origin`).
    pub fn axis_value(&self, step: Option<Step>, origin: &Stamp) -> f64 {
        match (*self, origin) {
            (Stamp::Number(value), _) => value,
            (Stamp::Moment(moment), Stamp::Moment(origin)) if matches!(step, Some(Step::Seconds(s)) if s < 86_400) => {
                (moment - *origin).num_seconds() as f64 / 86_400.0
            }
            (Stamp::Moment(moment), _) => {
                let days = if moment.date().leap_year() {
                    366.0
                } else {
                    365.0
                };
                let seconds = f64::from(moment.num_seconds_from_midnight()) / 86_400.0;
                f64::from(moment.year()) + (f64::from(moment.ordinal0()) + seconds) / days
            }
        }
    }
}

/// How a plot's tick at axis position `x` (see [`Stamp::axis_value`]) is written: a date as
/// `format` writes dates (`2018-01`, `2018-01-15`), a number without a needless fraction (a
/// year `2018`, not `2018.0`).
pub fn axis_tick(x: f64, origin: &Stamp, step: Step, format: StampFormat) -> String {
    let sub_day = matches!(step, Step::Seconds(s) if s < 86_400);
    match origin {
        Stamp::Moment(_) if !sub_day => {
            let year = x.floor();
            let days =
                if NaiveDate::from_ymd_opt(year as i32, 12, 31).is_some_and(|d| d.leap_year()) {
                    366.0
                } else {
                    365.0
                };
            // A day's fraction of rounding error must not move a tick to the day before.
            let ordinal = (((x - year) * days + 1e-6).floor() as u32 + 1).min(days as u32);
            let date = NaiveDate::from_yo_opt(year as i32, ordinal).unwrap_or_default();
            match format {
                StampFormat::Month => date.format("%Y-%m").to_string(),
                _ => date.format("%Y-%m-%d").to_string(),
            }
        }
        _ if (x - x.round()).abs() < 1e-9 => format!("{}", x.round() as i64),
        _ => format!("{x:.2}"),
    }
}

/// The step from `a` to `b` (`b` later): whole calendar months when both fall on the same day
/// of the month at the same time, else seconds, or the numbers' difference.
pub fn step_between(a: &Stamp, b: &Stamp) -> Option<Step> {
    match (a, b) {
        (Stamp::Number(a), Stamp::Number(b)) => Some(Step::Number(b - a)),
        (Stamp::Moment(a), Stamp::Moment(b)) => {
            let months = (b.year() - a.year()) * 12 + b.month() as i32 - a.month() as i32;
            let same_place = a.day() == b.day() && a.time() == b.time();
            match (same_place && months > 0, (*b - *a).num_seconds()) {
                (true, _) => Some(Step::Months(months as u32)),
                (false, seconds) => Some(Step::Seconds(seconds)),
            }
        }
        _ => None,
    }
}

impl Step {
    /// How many of `self` make `other` (`None` when not a whole number).
    pub fn count_in(&self, other: &Step) -> Option<u32> {
        let ratio = match (self, other) {
            (Step::Months(a), Step::Months(b)) => f64::from(*b) / f64::from(*a),
            (Step::Seconds(a), Step::Seconds(b)) => *b as f64 / *a as f64,
            (Step::Number(a), Step::Number(b)) => b / a,
            _ => return None,
        };
        let whole = ratio.round();
        ((ratio - whole).abs() < 1e-9 && whole >= 1.0).then_some(whole as u32)
    }

    /// The calendar's season for this step (months of a year, quarters, days of a week, a
    /// day's half-hours or hours); `None` for yearly, numeric or unusual steps.
    pub fn calendar_season(&self) -> Option<usize> {
        match *self {
            Step::Months(1) => Some(12),
            Step::Months(3) => Some(4),
            Step::Seconds(86_400) => Some(7),
            Step::Seconds(seconds) if seconds > 0 && seconds < 86_400 && 86_400 % seconds == 0 => {
                Some((86_400 / seconds) as usize)
            }
            _ => None,
        }
    }

    /// For a person: "1 month", "30 minutes", "1".
    pub fn describe(&self) -> String {
        match *self {
            Step::Months(1) => "1 month".into(),
            Step::Months(months) => format!("{months} months"),
            Step::Seconds(seconds) if seconds % 86_400 == 0 => format!("{} days", seconds / 86_400),
            Step::Seconds(seconds) if seconds % 60 == 0 => format!("{} minutes", seconds / 60),
            Step::Seconds(seconds) => format!("{seconds} seconds"),
            Step::Number(step) => format!("{step}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_parse_and_are_written_back_the_same_way() {
        for cell in [
            "1949-01",
            "2000-06-05",
            "2000-06-05 00:30",
            "2000-06-05 00:30:15",
            "1821",
        ] {
            let (stamp, format) = Stamp::parse(cell).expect(cell);
            assert_eq!(stamp.write(format), cell);
        }
        assert!(Stamp::parse("yesterday").is_none());
        // Plot ticks are written as the file writes its stamps.
        let (march, format) = Stamp::parse("2018-03").unwrap();
        let x = march.axis_value(Some(Step::Months(1)), &march);
        assert_eq!(axis_tick(x, &march, Step::Months(1), format), "2018-03");
        let year = Stamp::Number(1821.0);
        assert_eq!(
            axis_tick(1850.0, &year, Step::Number(1.0), StampFormat::Number),
            "1850"
        );
        assert!(Stamp::parse("NaN").is_none());
    }

    #[test]
    fn steps_months_and_seasons() {
        let (jan, _) = Stamp::parse("1949-01").unwrap();
        let (apr, _) = Stamp::parse("1949-04").unwrap();
        let quarter = step_between(&jan, &apr).unwrap();
        assert_eq!(quarter, Step::Months(3));
        assert_eq!(quarter.calendar_season(), Some(4));
        assert_eq!(
            jan.after(quarter, 4).unwrap().write(StampFormat::Month),
            "1950-01"
        );
        let (a, _) = Stamp::parse("2000-06-05 00:00").unwrap();
        let (b, _) = Stamp::parse("2000-06-05 00:30").unwrap();
        let half_hour = step_between(&a, &b).unwrap();
        assert_eq!(half_hour.calendar_season(), Some(48));
        assert_eq!(half_hour.count_in(&Step::Seconds(5400)), Some(3));
        assert_eq!(half_hour.count_in(&Step::Seconds(2000)), None);
        assert_eq!(Step::Number(1.0).calendar_season(), None);
    }
}
