//! Backup rule settings: schedule, windows and lifecycles, checked as AWS Backup checks them
//! (R13, R24).

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::rules::{limits, Rule};

/// A backup rule setting AWS Backup would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The schedule is not a six-field `cron(...)` expression AWS Backup takes (R13).
    #[error("invalid backup schedule `{value}`: {problem} (R13)")]
    Schedule {
        /// The expression given.
        value: String,
        /// What is wrong.
        problem: String,
    },
    /// The start window is under 60 minutes or over 100 years (R13).
    #[error("a start window of {minutes} minutes is outside 60 to 52560000 minutes (R13)")]
    StartWindow {
        /// The minutes given.
        minutes: u32,
    },
    /// The completion window does not end after the start window (R13).
    #[error("a completion window of {completion} minutes must be longer than the start window of {start} minutes (R13)")]
    CompletionWindow {
        /// The start window in minutes.
        start: u32,
        /// The completion window in minutes.
        completion: u32,
    },
    /// A lifecycle that deletes before 90 days in cold storage, or after zero days (R24).
    #[error("invalid lifecycle: {problem} (R24)")]
    Lifecycle {
        /// What is wrong.
        problem: String,
    },
}

impl RuleError {
    /// The rule of `docs/rules.md` the error enforces.
    pub fn rule(&self) -> Rule {
        match self {
            RuleError::Lifecycle { .. } => Rule::R24,
            _ => Rule::R13,
        }
    }
}

/// When a backup rule runs: AWS Backup's six-field `cron(minutes hours day-of-month month
/// day-of-week year)` in UTC (R13).
///
/// Checked here: the six fields, `?` in exactly one of day-of-month and day-of-week, the
/// characters and ranges of each field, and a single minute value (a backup runs at most
/// hourly). The default is AWS Backup's own, `cron(0 5 ? * * *)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Schedule(String);

impl Schedule {
    /// The expression, `cron(...)` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule("cron(0 5 ? * * *)".into())
    }
}

impl FromStr for Schedule {
    type Err = RuleError;

    fn from_str(s: &str) -> Result<Schedule, RuleError> {
        let bad = |problem: String| RuleError::Schedule {
            value: s.to_owned(),
            problem,
        };
        let inner = s
            .strip_prefix("cron(")
            .and_then(|rest| rest.strip_suffix(')'))
            .ok_or_else(|| bad("expected `cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)`, in UTC".into()))?;
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields.as_slice() else {
            return Err(bad(format!("expected 6 fields, found {}", fields.len())));
        };
        if !minutes.bytes().all(|b| b.is_ascii_digit())
            || minutes.parse::<u32>().map_or(true, |m| m > 59)
        {
            return Err(bad(format!(
                "the minutes field `{minutes}` must be one number from 0 to 59: backups run at most hourly"
            )));
        }
        if (*dom == "?") == (*dow == "?") {
            return Err(bad(
                "exactly one of day-of-month and day-of-week must be `?`".into(),
            ));
        }
        let checks: [(&str, &str, u32, u32, &str); 5] = [
            ("hours", hours, 0, 23, ",-*/"),
            ("day-of-month", dom, 1, 31, ",-*/?LW"),
            ("month", month, 1, 12, ",-*/"),
            ("day-of-week", dow, 1, 7, ",-*/?L#"),
            ("year", year, 1970, 2199, ",-*/"),
        ];
        for (name, field, min, max, specials) in checks {
            check_field(name, field, min, max, specials).map_err(bad)?;
        }
        Ok(Schedule(s.to_owned()))
    }
}

/// Checks one cron field: allowed characters, and every plain number within `min..=max`
/// (month and weekday names such as `JAN` or `MON-FRI` are allowed in their fields).
fn check_field(name: &str, field: &str, min: u32, max: u32, specials: &str) -> Result<(), String> {
    let names_ok = matches!(name, "month" | "day-of-week");
    for c in field.chars() {
        let ok = c.is_ascii_digit() || specials.contains(c) || (names_ok && c.is_ascii_uppercase());
        if !ok {
            return Err(format!("the {name} field `{field}` may not contain `{c}`"));
        }
    }
    // Only values are range-checked: the increment after `/` and the occurrence after `#`
    // are not values of the field.
    for item in field.split(',') {
        let values = item.split(['/', '#']).next().unwrap_or_default();
        for value in values.split('-') {
            let digits = value.trim_end_matches(['L', 'W']);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                continue; // `*`, `?`, `L` or a name
            }
            match digits.parse::<u32>() {
                Ok(n) if (min..=max).contains(&n) => {}
                _ => {
                    return Err(format!(
                        "the {name} field `{field}` has {digits}, outside {min} to {max}"
                    ))
                }
            }
        }
    }
    Ok(())
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How long after the scheduled time a backup job may start: at least 60 minutes (R13;
/// default 8 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct StartWindow(u32);

/// The longest window AWS Backup takes: 100 years in minutes.
const MAX_WINDOW_MINUTES: u32 = 52_560_000;

impl StartWindow {
    /// A start window of `minutes`, 60 to 52,560,000 (R13).
    pub fn minutes(minutes: u32) -> Result<StartWindow, RuleError> {
        if (limits::MIN_START_WINDOW_MINUTES..=MAX_WINDOW_MINUTES).contains(&minutes) {
            Ok(StartWindow(minutes))
        } else {
            Err(RuleError::StartWindow { minutes })
        }
    }

    /// The window in minutes.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for StartWindow {
    /// 8 hours, as AWS Backup defaults (R13).
    fn default() -> StartWindow {
        StartWindow(limits::DEFAULT_START_WINDOW_MINUTES)
    }
}

impl TryFrom<u32> for StartWindow {
    type Error = RuleError;

    fn try_from(minutes: u32) -> Result<StartWindow, RuleError> {
        StartWindow::minutes(minutes)
    }
}

impl From<StartWindow> for u32 {
    fn from(w: StartWindow) -> u32 {
        w.0
    }
}

/// How long after the scheduled time a backup job must finish (R13; default 7 days). It must
/// be longer than the start window, since it counts from the same moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CompletionWindow(u32);

impl CompletionWindow {
    /// A completion window of `minutes`, longer than `start` and at most 100 years (R13).
    pub fn minutes(minutes: u32, start: StartWindow) -> Result<CompletionWindow, RuleError> {
        if minutes > start.get() && minutes <= MAX_WINDOW_MINUTES {
            Ok(CompletionWindow(minutes))
        } else {
            Err(RuleError::CompletionWindow {
                start: start.get(),
                completion: minutes,
            })
        }
    }

    /// The window in minutes.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for CompletionWindow {
    /// 7 days, as AWS Backup defaults (R13).
    fn default() -> CompletionWindow {
        CompletionWindow(limits::DEFAULT_COMPLETION_WINDOW_MINUTES)
    }
}

/// When recovery points move to cold storage and when they are deleted (R24).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Lifecycle {
    move_to_cold_storage_after_days: Option<u32>,
    delete_after_days: Option<u32>,
}

impl Lifecycle {
    /// Keep recovery points until deleted by hand.
    pub fn keep_forever() -> Lifecycle {
        Lifecycle::default()
    }

    /// Delete recovery points after `days` (at least 1).
    pub fn delete_after(days: u32) -> Result<Lifecycle, RuleError> {
        Lifecycle::new(None, Some(days))
    }

    /// A lifecycle with either or both settings. When both are set, deletion must come at
    /// least 90 days after the move to cold storage (R24); every count is at least 1 day.
    pub fn new(
        move_to_cold_storage_after_days: Option<u32>,
        delete_after_days: Option<u32>,
    ) -> Result<Lifecycle, RuleError> {
        let bad = |problem: String| Err(RuleError::Lifecycle { problem });
        if move_to_cold_storage_after_days == Some(0) || delete_after_days == Some(0) {
            return bad("day counts start at 1".into());
        }
        if let (Some(cold), Some(delete)) = (move_to_cold_storage_after_days, delete_after_days) {
            if delete < cold.saturating_add(limits::MIN_COLD_STORAGE_DAYS) {
                return bad(format!(
                    "DeleteAfterDays {delete} must be at least MoveToColdStorageAfterDays {cold} + 90 = {}",
                    cold.saturating_add(limits::MIN_COLD_STORAGE_DAYS)
                ));
            }
        }
        Ok(Lifecycle {
            move_to_cold_storage_after_days,
            delete_after_days,
        })
    }

    /// Days until the move to cold storage, if any.
    pub fn move_to_cold_storage_after_days(&self) -> Option<u32> {
        self.move_to_cold_storage_after_days
    }

    /// Days until deletion, if any.
    pub fn delete_after_days(&self) -> Option<u32> {
        self.delete_after_days
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use super::*;

    fn check_schedules(inputs: &[&str], expect: Expect) {
        let out: String = inputs
            .iter()
            .map(|s| match s.parse::<Schedule>() {
                Ok(sch) => format!("ok  {sch}\n"),
                Err(e) => format!("err {e}\n"),
            })
            .collect();
        expect.assert_eq(&out);
    }

    // R13: six-field cron in UTC, `?` in one day field, at most hourly.
    #[test]
    fn r13_schedules() {
        check_schedules(
            &[
                "cron(0 16 * * ? *)",
                "cron(0 5 ? * * *)",
                "cron(15 */2 ? * MON-FRI *)",
                "cron(0 0 L * ? 2030)",
                "cron(0 3 ? * 6#3 *)",
                "0 16 * * ? *",
                "cron(0 16 * * *)",
                "cron(* 16 * * ? *)",
                "cron(0,30 16 * * ? *)",
                "cron(0 24 * * ? *)",
                "cron(0 16 * * * *)",
                "cron(0 16 ? * ? *)",
                "cron(0 16 32 * ? *)",
                "cron(0 16 * 13 ? *)",
                "cron(0 16 * * ? 1900)",
                "cron(0 16 * * ? x)",
            ],
            expect![[r#"
                ok  cron(0 16 * * ? *)
                ok  cron(0 5 ? * * *)
                ok  cron(15 */2 ? * MON-FRI *)
                ok  cron(0 0 L * ? 2030)
                ok  cron(0 3 ? * 6#3 *)
                err invalid backup schedule `0 16 * * ? *`: expected `cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>)`, in UTC (R13)
                err invalid backup schedule `cron(0 16 * * *)`: expected 6 fields, found 5 (R13)
                err invalid backup schedule `cron(* 16 * * ? *)`: the minutes field `*` must be one number from 0 to 59: backups run at most hourly (R13)
                err invalid backup schedule `cron(0,30 16 * * ? *)`: the minutes field `0,30` must be one number from 0 to 59: backups run at most hourly (R13)
                err invalid backup schedule `cron(0 24 * * ? *)`: the hours field `24` has 24, outside 0 to 23 (R13)
                err invalid backup schedule `cron(0 16 * * * *)`: exactly one of day-of-month and day-of-week must be `?` (R13)
                err invalid backup schedule `cron(0 16 ? * ? *)`: exactly one of day-of-month and day-of-week must be `?` (R13)
                err invalid backup schedule `cron(0 16 32 * ? *)`: the day-of-month field `32` has 32, outside 1 to 31 (R13)
                err invalid backup schedule `cron(0 16 * 13 ? *)`: the month field `13` has 13, outside 1 to 12 (R13)
                err invalid backup schedule `cron(0 16 * * ? 1900)`: the year field `1900` has 1900, outside 1970 to 2199 (R13)
                err invalid backup schedule `cron(0 16 * * ? x)`: the year field `x` may not contain `x` (R13)
            "#]],
        );
        assert_eq!(Schedule::default().as_str(), "cron(0 5 ? * * *)");
    }

    // R13: start window at least 60 minutes, default 8 hours; completion after start, default 7 days.
    #[test]
    fn r13_windows() {
        assert_eq!(StartWindow::default().get(), 480);
        assert_eq!(CompletionWindow::default().get(), 10_080);
        assert_eq!(StartWindow::minutes(60).unwrap().get(), 60);
        expect!["a start window of 59 minutes is outside 60 to 52560000 minutes (R13)"]
            .assert_eq(&StartWindow::minutes(59).unwrap_err().to_string());
        let start = StartWindow::minutes(60).unwrap();
        assert_eq!(CompletionWindow::minutes(720, start).unwrap().get(), 720);
        expect!["a completion window of 60 minutes must be longer than the start window of 60 minutes (R13)"]
            .assert_eq(&CompletionWindow::minutes(60, start).unwrap_err().to_string());
        assert_eq!(StartWindow::minutes(30).unwrap_err().rule(), Rule::R13);
        let parsed: Result<StartWindow, _> = serde_json::from_str("59");
        assert!(parsed.is_err());
    }

    // R24: deletion at least 90 days after the move to cold storage.
    #[test]
    fn r24_lifecycles() {
        assert!(Lifecycle::new(Some(30), Some(120)).is_ok());
        assert!(Lifecycle::new(Some(30), None).is_ok());
        assert!(Lifecycle::delete_after(1).is_ok());
        assert_eq!(Lifecycle::keep_forever().delete_after_days(), None);
        let err = Lifecycle::new(Some(30), Some(119)).unwrap_err();
        expect!["invalid lifecycle: DeleteAfterDays 119 must be at least MoveToColdStorageAfterDays 30 + 90 = 120 (R24)"]
            .assert_eq(&err.to_string());
        assert_eq!(err.rule(), Rule::R24);
        expect!["invalid lifecycle: day counts start at 1 (R24)"]
            .assert_eq(&Lifecycle::delete_after(0).unwrap_err().to_string());
    }
}
