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

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Checks one cron field item by item. An item is `*`, `?`, `L`, `LW`, a value, a range
/// `a-b`, any of those (but `?`) followed by `/step`, `<value>L` or `<value>W` (day of
/// month), `<value>L` or `<value>#<1-5>` (day of week). A value is a number in `min..=max`
/// or, for months and weekdays, a three-letter name. `specials` lists the characters the
/// field allows beyond digits and `,-*/`.
fn check_field(name: &str, field: &str, min: u32, max: u32, specials: &str) -> Result<(), String> {
    let names: &[&str] = match name {
        "month" => &MONTHS,
        "day-of-week" => &WEEKDAYS,
        _ => &[],
    };
    let bad = |why: String| Err(format!("the {name} field `{field}` {why}"));
    let value = |v: &str| -> Result<(), String> {
        if names.contains(&v) {
            return Ok(());
        }
        match v.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) && v.bytes().all(|b| b.is_ascii_digit()) => Ok(()),
            Ok(_) => Err(format!("has {v}, outside {min} to {max}")),
            Err(_) if v.is_empty() => Err("has an empty part".into()),
            Err(_) => Err(format!("has `{v}`, which is not a value of the field")),
        }
    };
    for item in field.split(',') {
        let result = (|| {
            let (base, step) = match item.split_once('/') {
                Some((base, step)) => (base, Some(step)),
                None => (item, None),
            };
            if let Some(step) = step {
                match step.parse::<u32>() {
                    Ok(n) if n >= 1 && step.bytes().all(|b| b.is_ascii_digit()) => {}
                    _ => {
                        return Err(format!(
                            "has the step `/{step}`, which is not a positive number"
                        ))
                    }
                }
            }
            match base {
                "*" => Ok(()),
                "?" | "L" | "LW" if step.is_none() && specials.contains(&base[..1]) => {
                    if base == "LW" && !specials.contains('W') {
                        return Err("may not contain `LW`".into());
                    }
                    Ok(())
                }
                _ => {
                    if let Some((v, nth)) = base.split_once('#').filter(|_| specials.contains('#'))
                    {
                        value(v)?;
                        return match nth.parse::<u32>() {
                            Ok(1..=5) => Ok(()),
                            _ => Err(format!("has `#{nth}`; the occurrence is 1 to 5")),
                        };
                    }
                    let core = base
                        .strip_suffix('L')
                        .filter(|_| specials.contains('L'))
                        .or_else(|| base.strip_suffix('W').filter(|_| specials.contains('W')))
                        .unwrap_or(base);
                    match core.split_once('-') {
                        Some((a, b)) => value(a).and_then(|()| value(b)),
                        None => value(core),
                    }
                }
            }
        })();
        if let Err(why) = result {
            return bad(why);
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

/// A backup rule's two windows, counted from the scheduled time: the job must start within
/// `start` and finish within `completion` (R13). The completion window must be longer than
/// the start window; the defaults are 8 hours and 7 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "WindowsRepr")]
pub struct Windows {
    start_minutes: StartWindow,
    completion_minutes: u32,
}

/// The unchecked shape of [`Windows`], for deserializing through its checks.
#[derive(Deserialize)]
struct WindowsRepr {
    start_minutes: u32,
    completion_minutes: u32,
}

impl TryFrom<WindowsRepr> for Windows {
    type Error = RuleError;

    fn try_from(r: WindowsRepr) -> Result<Windows, RuleError> {
        Windows::new(StartWindow::minutes(r.start_minutes)?, r.completion_minutes)
    }
}

impl Windows {
    /// Both windows; `completion_minutes` must exceed the start window and be at most 100
    /// years (R13).
    pub fn new(start: StartWindow, completion_minutes: u32) -> Result<Windows, RuleError> {
        if completion_minutes > start.get() && completion_minutes <= MAX_WINDOW_MINUTES {
            Ok(Windows {
                start_minutes: start,
                completion_minutes,
            })
        } else {
            Err(RuleError::CompletionWindow {
                start: start.get(),
                completion: completion_minutes,
            })
        }
    }

    /// The start window.
    pub fn start(&self) -> StartWindow {
        self.start_minutes
    }

    /// The completion window in minutes.
    pub fn completion_minutes(&self) -> u32 {
        self.completion_minutes
    }
}

impl Default for Windows {
    /// 8 hours to start, 7 days to complete, as AWS Backup defaults (R13).
    fn default() -> Windows {
        Windows {
            start_minutes: StartWindow::default(),
            completion_minutes: limits::DEFAULT_COMPLETION_WINDOW_MINUTES,
        }
    }
}

/// When recovery points move to cold storage and when they are deleted (R24).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "LifecycleRepr")]
pub struct Lifecycle {
    move_to_cold_storage_after_days: Option<u32>,
    delete_after_days: Option<u32>,
}

/// The unchecked shape of [`Lifecycle`], for deserializing through its checks.
#[derive(Deserialize)]
struct LifecycleRepr {
    move_to_cold_storage_after_days: Option<u32>,
    delete_after_days: Option<u32>,
}

impl TryFrom<LifecycleRepr> for Lifecycle {
    type Error = RuleError;

    fn try_from(r: LifecycleRepr) -> Result<Lifecycle, RuleError> {
        Lifecycle::new(r.move_to_cold_storage_after_days, r.delete_after_days)
    }
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
                "cron(0 , ? * * *)",
                "cron(0 1- ? * * *)",
                "cron(0 5 ? FOO * *)",
                "cron(0 5 ? L * *)",
                "cron(0 5 ? * MON#9 *)",
                "cron(0 5 ? JAN-MAR MON-FRI *)",
                "cron(0 5 15W * ? *)",
                "cron(0 5 LW * ? *)",
                "cron(0 5 ? * 5L *)",
                "cron(0 0/6 ? * * *)",
                "cron(0 */0 ? * * *)",
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
                err invalid backup schedule `cron(0 16 * * ? x)`: the year field `x` has `x`, which is not a value of the field (R13)
                err invalid backup schedule `cron(0 , ? * * *)`: the hours field `,` has an empty part (R13)
                err invalid backup schedule `cron(0 1- ? * * *)`: the hours field `1-` has an empty part (R13)
                err invalid backup schedule `cron(0 5 ? FOO * *)`: the month field `FOO` has `FOO`, which is not a value of the field (R13)
                err invalid backup schedule `cron(0 5 ? L * *)`: the month field `L` has `L`, which is not a value of the field (R13)
                err invalid backup schedule `cron(0 5 ? * MON#9 *)`: the day-of-week field `MON#9` has `#9`; the occurrence is 1 to 5 (R13)
                ok  cron(0 5 ? JAN-MAR MON-FRI *)
                ok  cron(0 5 15W * ? *)
                ok  cron(0 5 LW * ? *)
                ok  cron(0 5 ? * 5L *)
                ok  cron(0 0/6 ? * * *)
                err invalid backup schedule `cron(0 */0 ? * * *)`: the hours field `*/0` has the step `/0`, which is not a positive number (R13)
            "#]],
        );
        assert_eq!(Schedule::default().as_str(), "cron(0 5 ? * * *)");
    }

    // R13: start window at least 60 minutes, default 8 hours; completion after start, default 7 days.
    #[test]
    fn r13_windows() {
        assert_eq!(StartWindow::default().get(), 480);
        assert_eq!(Windows::default().completion_minutes(), 10_080);
        assert_eq!(Windows::default().start().get(), 480);
        assert_eq!(StartWindow::minutes(60).unwrap().get(), 60);
        expect!["a start window of 59 minutes is outside 60 to 52560000 minutes (R13)"]
            .assert_eq(&StartWindow::minutes(59).unwrap_err().to_string());
        let start = StartWindow::minutes(60).unwrap();
        assert_eq!(Windows::new(start, 720).unwrap().completion_minutes(), 720);
        expect!["a completion window of 60 minutes must be longer than the start window of 60 minutes (R13)"]
            .assert_eq(&Windows::new(start, 60).unwrap_err().to_string());
        let ok: Windows =
            serde_json::from_str(r#"{"start_minutes":60,"completion_minutes":720}"#).unwrap();
        assert_eq!(ok, Windows::new(start, 720).unwrap());
        for bad in [
            r#"{"start_minutes":59,"completion_minutes":720}"#,
            r#"{"start_minutes":60,"completion_minutes":60}"#,
        ] {
            assert!(serde_json::from_str::<Windows>(bad).is_err(), "{bad}");
        }
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
        assert!(serde_json::from_str::<Lifecycle>(
            r#"{"move_to_cold_storage_after_days":30,"delete_after_days":100}"#
        )
        .is_err());
        assert!(serde_json::from_str::<Lifecycle>(
            r#"{"move_to_cold_storage_after_days":30,"delete_after_days":120}"#
        )
        .is_ok());
        expect!["invalid lifecycle: day counts start at 1 (R24)"]
            .assert_eq(&Lifecycle::delete_after(0).unwrap_err().to_string());
    }
}
