//! Snapshot identifiers and references to DB snapshots and DB cluster snapshots.

use std::{fmt, str::FromStr};

use super::{
    rds_identifier_problem, string_serde, AccountId, Arn, IdError, IdKind, Partition, Region,
    Service,
};

/// Who named a snapshot, read from its identifier's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SnapshotOrigin {
    /// A manual snapshot with a user-chosen identifier. Only these can be shared (R3).
    Manual,
    /// An automated snapshot, `rds:<name>`; it must be copied to a manual one before it can be
    /// shared (R3).
    Automated,
    /// A snapshot made by AWS Backup, `awsbackup:job-<id>` or `awsbackup:copyjob-<id>` (R16).
    AwsBackup,
}

/// A DB snapshot or DB cluster snapshot identifier.
///
/// A manual identifier has 1 to 255 letters, digits and hyphens, starts with a letter, has no
/// `--` and no trailing hyphen. The names AWS gives are accepted too: `rds:<name>` for
/// automated snapshots and `awsbackup:<job>` for AWS Backup's (R16); see [`origin`].
///
/// [`origin`]: SnapshotId::origin
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotId(String);

impl SnapshotId {
    /// The identifier.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Who named the snapshot.
    pub fn origin(&self) -> SnapshotOrigin {
        if self.0.starts_with("rds:") {
            SnapshotOrigin::Automated
        } else if self.0.starts_with("awsbackup:") {
            SnapshotOrigin::AwsBackup
        } else {
            SnapshotOrigin::Manual
        }
    }

    /// Parses an identifier for a snapshot of `kind` that snapshift will create: only the
    /// manual form, and at most 63 characters for a cluster snapshot (RDS allows 255 for DB
    /// snapshots).
    pub fn for_new_snapshot(s: &str, kind: SnapshotKind) -> Result<SnapshotId, IdError> {
        let id: SnapshotId = s.parse()?;
        if id.origin() != SnapshotOrigin::Manual {
            return Err(IdError::new(
                IdKind::SnapshotId,
                s,
                "the prefixes `rds:` and `awsbackup:` are reserved for snapshots AWS names",
            ));
        }
        if kind == SnapshotKind::Cluster && s.len() > 63 {
            return Err(IdError::new(
                IdKind::SnapshotId,
                s,
                "a cluster snapshot identifier is at most 63 characters long",
            ));
        }
        Ok(id)
    }
}

impl FromStr for SnapshotId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let problem = if let Some(rest) = s.strip_prefix("rds:") {
            rds_identifier_problem(rest, 255 - 4).map(|p| format!("after `rds:`, {p}"))
        } else if let Some(rest) = s.strip_prefix("awsbackup:") {
            let ok = !rest.is_empty()
                && rest.len() <= 255 - 10
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            (!ok).then(|| "after `awsbackup:`, expected a job name such as `job-<id>`".to_owned())
        } else {
            rds_identifier_problem(s, 255)
        };
        match problem {
            // RDS stores identifiers in lowercase and compares them without case.
            None => Ok(SnapshotId(s.to_ascii_lowercase())),
            Some(p) => Err(IdError::new(IdKind::SnapshotId, s, p)),
        }
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a snapshot is of a DB instance or of an Aurora (or Multi-AZ) DB cluster.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotKind {
    /// A DB snapshot (`snapshot:` in ARNs; `CopyDBSnapshot`, `ModifyDBSnapshotAttribute`).
    Db,
    /// A DB cluster snapshot (`cluster-snapshot:` in ARNs; `CopyDBClusterSnapshot`, ...).
    Cluster,
}

impl SnapshotKind {
    /// The resource type in ARNs: `snapshot` or `cluster-snapshot`.
    pub fn resource_type(self) -> &'static str {
        match self {
            SnapshotKind::Db => "snapshot",
            SnapshotKind::Cluster => "cluster-snapshot",
        }
    }

    /// The kind whose ARN resource type is `resource_type`.
    pub fn from_resource_type(resource_type: &str) -> Option<SnapshotKind> {
        [SnapshotKind::Db, SnapshotKind::Cluster]
            .into_iter()
            .find(|k| k.resource_type() == resource_type)
    }
}

/// A reference to one snapshot: its kind, its identifier, and, when known, where it lives.
///
/// Written as its ARN (`arn:aws:rds:<region>:<account>:cluster-snapshot:<id>`) or, without a
/// location, as `snapshot:<id>` or `cluster-snapshot:<id>`: the same resource part an ARN
/// has. A bare identifier is ambiguous and refused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotRef {
    kind: SnapshotKind,
    id: SnapshotId,
    location: Option<(Partition, Region, AccountId)>,
}

impl SnapshotRef {
    /// A DB snapshot by identifier, in the account and region of whoever uses it.
    pub fn db(id: SnapshotId) -> SnapshotRef {
        SnapshotRef {
            kind: SnapshotKind::Db,
            id,
            location: None,
        }
    }

    /// A DB cluster snapshot by identifier, in the account and region of whoever uses it.
    pub fn cluster(id: SnapshotId) -> SnapshotRef {
        SnapshotRef {
            kind: SnapshotKind::Cluster,
            id,
            location: None,
        }
    }

    /// The same snapshot, located in `region` of `account`.
    pub fn located(mut self, region: Region, account: AccountId) -> SnapshotRef {
        self.location = Some((region.partition(), region, account));
        self
    }

    /// DB snapshot or cluster snapshot.
    pub fn kind(&self) -> SnapshotKind {
        self.kind
    }

    /// The identifier.
    pub fn id(&self) -> &SnapshotId {
        &self.id
    }

    /// The region, when known.
    pub fn region(&self) -> Option<&Region> {
        self.location.as_ref().map(|(_, r, _)| r)
    }

    /// The owning account, when known.
    pub fn account(&self) -> Option<AccountId> {
        self.location.as_ref().map(|(_, _, a)| *a)
    }

    /// The full ARN, when the location is known. A copy in another account needs it (R3).
    pub fn arn(&self) -> Option<Arn> {
        self.location.as_ref().map(|(p, r, a)| {
            Arn::from_checked_parts(
                *p,
                Service::Rds,
                Some(r.clone()),
                *a,
                self.kind.resource_type(),
                self.id.as_str(),
            )
        })
    }
}

impl FromStr for SnapshotRef {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.starts_with("arn:") {
            let arn: Arn = s.parse()?;
            let kind = (arn.service() == Service::Rds)
                .then(|| SnapshotKind::from_resource_type(arn.resource_type()))
                .flatten()
                .ok_or_else(|| {
                    IdError::new(
                        IdKind::SnapshotRef,
                        s,
                        "expected an RDS `snapshot` or `cluster-snapshot` ARN",
                    )
                })?;
            let id = arn.resource_id().parse().map_err(|e| nested(s, e))?;
            let region = arn
                .region()
                .cloned()
                .ok_or_else(|| IdError::new(IdKind::SnapshotRef, s, "RDS ARNs need a region"))?;
            return Ok(SnapshotRef {
                kind,
                id,
                location: Some((arn.partition(), region, arn.account())),
            });
        }
        match s
            .split_once(':')
            .and_then(|(t, id)| Some((SnapshotKind::from_resource_type(t)?, id)))
        {
            Some((kind, id)) => Ok(SnapshotRef {
                kind,
                id: id.parse().map_err(|e| nested(s, e))?,
                location: None,
            }),
            None => Err(IdError::new(
                IdKind::SnapshotRef,
                s,
                "write `snapshot:<id>` for a DB snapshot, `cluster-snapshot:<id>` for a cluster \
                 snapshot, or the snapshot's ARN",
            )),
        }
    }
}

/// An error in the identifier part, reported against the whole reference.
fn nested(whole: &str, e: IdError) -> IdError {
    IdError::new(
        IdKind::SnapshotRef,
        whole,
        format!("{} `{}` {}", e.kind(), e.value(), e.problem()),
    )
}

impl fmt::Display for SnapshotRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.arn() {
            Some(arn) => arn.fmt(f),
            None => write!(f, "{}:{}", self.kind.resource_type(), self.id),
        }
    }
}

string_serde!(SnapshotId, SnapshotRef);
