//! Validated AWS identifiers: account ids, regions, ARNs, key references, snapshot references
//! and resource names.
//!
//! Every type here is a newtype that can only hold a valid value: parse it with [`FromStr`]
//! (`"111111111111".parse::<AccountId>()`), print it with [`Display`](std::fmt::Display), and
//! (de)serialize it as the same string. A bad value is an [`IdError`] that names the value and
//! the rule it breaks, before anything reaches AWS.
//!
//! [`FromStr`]: std::str::FromStr

mod account;
mod arn;
mod key;
mod names;
mod snapshot;

use std::fmt;

pub use account::{AccountId, Partition, Region};
pub use arn::{Arn, PrincipalArn, Service};
pub use key::{AliasName, KeyArn, KeyId, KeyRef};
pub use names::{
    BackupPlanName, BackupRuleName, ClusterId, InstanceId, OptionGroupName, ParameterGroupName,
    PolicyName, RoleName, SelectionName, SubnetGroupName, VaultName,
};
pub use snapshot::{SnapshotId, SnapshotKind, SnapshotOrigin, SnapshotRef};

/// What kind of identifier an [`IdError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IdKind {
    /// [`AccountId`].
    AccountId,
    /// [`Region`].
    Region,
    /// [`Arn`] (and [`PrincipalArn`], [`KeyArn`]).
    Arn,
    /// [`KeyRef`], [`KeyId`], [`AliasName`].
    Key,
    /// [`SnapshotId`].
    SnapshotId,
    /// [`SnapshotRef`].
    SnapshotRef,
    /// One of the resource name types of this module, e.g. [`ClusterId`].
    Name(&'static str),
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::AccountId => "account id",
            IdKind::Region => "region",
            IdKind::Arn => "ARN",
            IdKind::Key => "KMS key reference",
            IdKind::SnapshotId => "snapshot identifier",
            IdKind::SnapshotRef => "snapshot reference",
            IdKind::Name(name) => name,
        })
    }
}

/// A value that is not a valid identifier of its kind: names the value and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} `{value}`: {problem}")]
pub struct IdError {
    kind: IdKind,
    value: String,
    problem: String,
}

impl IdError {
    pub(crate) fn new(kind: IdKind, value: &str, problem: impl Into<String>) -> Self {
        IdError {
            kind,
            value: value.to_owned(),
            problem: problem.into(),
        }
    }

    /// What kind of identifier was expected.
    pub fn kind(&self) -> IdKind {
        self.kind
    }

    /// The rejected value, as given.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What is wrong with it, e.g. "must be exactly 12 digits".
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

/// Implements `Serialize`/`Deserialize` as the `Display`/`FromStr` string.
macro_rules! string_serde {
    ($($ty:ty),* $(,)?) => {$(
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
pub(crate) use string_serde;

/// Checks the RDS identifier rules shared by snapshots, clusters, instances and parameter
/// groups: `1..=max` letters, digits and hyphens; starts with a letter; no `--`; no trailing
/// hyphen.
pub(crate) fn rds_identifier_problem(s: &str, max: usize) -> Option<String> {
    if s.is_empty() || s.len() > max {
        return Some(format!("must be 1 to {max} characters long"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Some(format!(
            "may contain only letters, digits and hyphens, not `{c}`"
        ));
    }
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Some("must start with a letter".into());
    }
    if s.contains("--") {
        return Some("must not contain two consecutive hyphens".into());
    }
    if s.ends_with('-') {
        return Some("must not end with a hyphen".into());
    }
    None
}

#[cfg(test)]
mod tests;
