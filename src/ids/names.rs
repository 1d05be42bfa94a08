//! Names of RDS, IAM and AWS Backup resources, each with the rules its service sets.

use std::{fmt, str::FromStr};

use super::{rds_identifier_problem, string_serde, IdError, IdKind};

/// Declares a validated name newtype with `check`, `as_str`, `FromStr`, `Display` and serde.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $problem:expr) => {
        name_type!($(#[$doc])* $name, $what, $problem, str::to_owned);
    };
    ($(#[$doc:meta])* $name:ident, $what:literal, $problem:expr, $normalize:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Checks `s` against the rules for this name without keeping it.
            pub fn check(s: &str) -> Result<(), IdError> {
                let problem: fn(&str) -> Option<String> = $problem;
                match problem(s) {
                    None => Ok(()),
                    Some(p) => Err(IdError::new(IdKind::Name($what), s, p)),
                }
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::check(s)?;
                let normalize: fn(&str) -> String = $normalize;
                Ok($name(normalize(s)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        string_serde!($name);
    };
}

/// `min..=max` characters, each allowed by `ok`, described as `allowed` in the message.
fn charset_problem(
    s: &str,
    min: usize,
    max: usize,
    ok: fn(char) -> bool,
    allowed: &str,
) -> Option<String> {
    if s.chars().count() < min || s.chars().count() > max {
        return Some(format!("must be {min} to {max} characters long"));
    }
    s.chars()
        .find(|c| !ok(*c))
        .map(|c| format!("may contain only {allowed}, not `{c}`"))
}

/// RDS stores identifiers in lowercase and compares them without case; so do these types,
/// which keeps ARNs written into IAM policies (case-sensitive) matching what RDS reports.
fn rds_lowercase(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// Parameter and option group names: the RDS identifier rule, and the names of the default
/// groups RDS makes (`default.aurora-mysql8.0`, `default:mysql-8-0`).
fn group_name_problem(s: &str) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    match lower
        .strip_prefix("default.")
        .or_else(|| lower.strip_prefix("default:"))
    {
        Some(rest) => charset_problem(
            rest,
            1,
            255 - 8,
            |c| c.is_ascii_alphanumeric() || "-.".contains(c),
            "letters, digits, hyphens and periods after `default.`",
        ),
        None => rds_identifier_problem(s, 255),
    }
}

/// AWS Backup plan and rule names: 1 to 50 letters, digits, hyphens, underscores, periods.
fn backup_name_problem(s: &str) -> Option<String> {
    charset_problem(
        s,
        1,
        50,
        |c| c.is_ascii_alphanumeric() || "-_.".contains(c),
        "letters, digits, hyphens, underscores and periods",
    )
}

fn iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

name_type!(
    /// A DB cluster identifier: 1 to 63 letters, digits and hyphens, starting with a letter,
    /// with no `--` and no trailing hyphen.
    ClusterId,
    "DB cluster identifier",
    |s| rds_identifier_problem(s, 63),
    rds_lowercase
);

name_type!(
    /// A DB instance identifier: 1 to 63 letters, digits and hyphens, starting with a letter,
    /// with no `--` and no trailing hyphen.
    InstanceId,
    "DB instance identifier",
    |s| rds_identifier_problem(s, 63),
    rds_lowercase
);

name_type!(
    /// A DB (cluster) parameter group name: 1 to 255 letters, digits and hyphens, starting
    /// with a letter, with no `--` and no trailing hyphen; or a default group's name
    /// (`default.aurora-mysql8.0`).
    ParameterGroupName,
    "parameter group name",
    group_name_problem,
    rds_lowercase
);

name_type!(
    /// An option group name: 1 to 255 letters, digits and hyphens, starting with a letter,
    /// with no `--` and no trailing hyphen, or a default group's name (`default:mysql-8-0`)
    /// (R22).
    OptionGroupName,
    "option group name",
    group_name_problem,
    rds_lowercase
);

name_type!(
    /// A DB subnet group name: 1 to 255 letters, digits, periods, underscores, spaces and
    /// hyphens; not `default`.
    SubnetGroupName,
    "DB subnet group name",
    |s| {
        if s.eq_ignore_ascii_case("default") {
            return Some("`default` is reserved".into());
        }
        charset_problem(
            s,
            1,
            255,
            |c| c.is_ascii_alphanumeric() || "._ -".contains(c),
            "letters, digits, periods, underscores, spaces and hyphens",
        )
    },
    rds_lowercase
);

name_type!(
    /// An AWS Backup vault name: 2 to 50 letters, digits, hyphens and underscores.
    VaultName,
    "backup vault name",
    |s| charset_problem(
        s,
        2,
        50,
        |c| c.is_ascii_alphanumeric() || "-_".contains(c),
        "letters, digits, hyphens and underscores",
    )
);

name_type!(
    /// An AWS Backup plan name: 1 to 50 letters, digits, hyphens, underscores and periods.
    BackupPlanName,
    "backup plan name",
    backup_name_problem
);

name_type!(
    /// An AWS Backup rule name: 1 to 50 letters, digits, hyphens, underscores and periods.
    BackupRuleName,
    "backup rule name",
    backup_name_problem
);

name_type!(
    /// An AWS Backup selection name: 1 to 50 letters, digits, hyphens, underscores and
    /// periods.
    SelectionName,
    "backup selection name",
    backup_name_problem
);

name_type!(
    /// An IAM role name: 1 to 64 letters, digits and `_+=,.@-`.
    RoleName,
    "IAM role name",
    |s| charset_problem(s, 1, 64, iam_name_char, "letters, digits and `_+=,.@-`")
);

name_type!(
    /// An IAM inline policy name: 1 to 128 letters, digits and `_+=,.@-`.
    PolicyName,
    "IAM policy name",
    |s| charset_problem(s, 1, 128, iam_name_char, "letters, digits and `_+=,.@-`")
);
