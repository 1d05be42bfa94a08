//! The crate's error: what failed, the rule behind it, what AWS said, and what was left done.

use crate::{
    aws::AwsError,
    engine::state::StateError,
    ids::{AccountId, IdError},
    key::KeyError,
    policy::PolicyError,
    rules::Rule,
};

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a preview, deploy, teardown or refresh.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A call to AWS failed.
    #[error("{resource}: {source}")]
    Aws {
        /// The resource whose step failed (or `stack` for stack-wide calls).
        resource: String,
        /// What AWS said.
        source: Box<AwsError>,
    },
    /// The state file could not be used.
    #[error(transparent)]
    State(#[from] StateError),
    /// A shareable key that cannot be made.
    #[error("{resource}: {source}")]
    Key {
        /// The resource.
        resource: String,
        /// What is wrong.
        source: Box<KeyError>,
    },
    /// A backup role whose parts do not fit together (R11, R15, R18, R23).
    #[error("{resource}: {source}")]
    BackupRole {
        /// The resource.
        resource: String,
        /// What is wrong.
        source: Box<crate::backup::BackupRoleError>,
    },
    /// A policy snapshift refuses to write.
    #[error("{resource}: {source}")]
    Policy {
        /// The resource.
        resource: String,
        /// What is wrong.
        source: Box<PolicyError>,
    },
    /// A bad identifier.
    #[error(transparent)]
    Id(#[from] IdError),
    /// The credentials given for an account belong to another account.
    #[error("the credentials given for account {declared} belong to account {actual} ({arn}); nothing was changed")]
    WrongAccount {
        /// The account the stack declares.
        declared: AccountId,
        /// The account the credentials belong to.
        actual: AccountId,
        /// The caller's ARN.
        arn: String,
    },
    /// A teardown step refused because something still needs what it would remove (R8).
    #[error("{resource}: not torn down: {dependent} still depends on it (R8); tear that down first, or let it finish")]
    StillNeeded {
        /// The resource that was kept.
        resource: String,
        /// What still needs it.
        dependent: String,
    },
    /// A key whose deletion teardown would schedule, while something is still encrypted under
    /// it (R8): nothing was scheduled.
    #[error("{resource}: the deletion of key {key} was not scheduled: {} thing(s) are still encrypted under it (R8): {}. Nothing was changed; delete or re-encrypt them, or keep the key (Options::retain), then tear down again", users.len(), users.join(", "))]
    KeyInUse {
        /// The key resource.
        resource: String,
        /// The key's ARN in its home region.
        key: String,
        /// What is encrypted under it or its replicas: snapshots, clusters, instances, vaults
        /// and recovery points, each by ARN or identifier with its account and region.
        users: Vec<String>,
    },
    /// Something exists that this stack did not create, where it would create or change it.
    #[error("{resource}: {what} already exists and was not created by this stack; snapshift will not change it")]
    NotOurs {
        /// The resource.
        resource: String,
        /// What was found.
        what: String,
    },
    /// A resource found in a state that needs a person to decide.
    #[error("{resource}: {problem}")]
    Conflict {
        /// The resource.
        resource: String,
        /// What is in the way, and what to do.
        problem: String,
    },
    /// A backup rule setting AWS Backup would refuse (R13, R24).
    #[error(transparent)]
    BackupRule(#[from] crate::backup::RuleError),
    /// A vault that still holds recovery points: teardown stops there, deletes nothing that
    /// holds data, and keeps what the recovery points need (their keys, the role).
    #[error("{resource}: vault {vault} in {region} still holds {} recovery point(s): {}; nothing that holds data was deleted, and teardown stopped here, keeping the keys they need. Delete or move them (or keep the vault), then tear down again", recovery_points.len(), recovery_points.join(", "))]
    VaultNotEmpty {
        /// The resource.
        resource: String,
        /// The vault.
        vault: String,
        /// Its region.
        region: String,
        /// The recovery points it holds.
        recovery_points: Vec<String>,
    },
    /// A deploy with `keep_going` in which some resources failed: the report says what
    /// deployed, what failed (with each error) and what was skipped. A re-run retries only what
    /// is not done.
    #[error("{} resource(s) deployed, {} failed, {} skipped: {}", report.outputs.len(), report.failed.len(), report.skipped.len(), report.failed.iter().map(|(r, e)| format!("{r}: {e}")).collect::<Vec<_>>().join("; "))]
    Incomplete {
        /// What happened to each resource.
        report: Box<crate::engine::DeployReport>,
    },
    /// Something AWS had not caught up with when the settling window after a change of the
    /// stack's passed (R26, eventual consistency): nothing more was changed; deploy again in
    /// a while.
    #[error("{resource}: waited {waited:.1?} for {what} (R26: AWS is eventually consistent); nothing more was changed. Deploy again in a while, or give the stack a longer WaitConfig::consistency_window")]
    Unsettled {
        /// The resource.
        resource: String,
        /// What was waited for, e.g. "replica ... to leave the Creating state".
        what: String,
        /// How long.
        waited: std::time::Duration,
    },
    /// AWS refused a copy because an account's manual-snapshot quota is full (R25), not for
    /// copies in flight (R19): no waiting frees it, so that snapshot fails at once (with
    /// `keep_going`, only that one) and the copy quota is left as it was.
    #[error("{resource}: AWS refused the copy: {shortfall} (R25). Nothing else was changed for this snapshot; deploy again once there is room")]
    ManualSnapshotQuota {
        /// The resource.
        resource: String,
        /// The account, region and kind, with used, max and needed.
        shortfall: crate::quota::QuotaShortfall,
    },
    /// The quota preflight found accounts whose manual-snapshot quota cannot hold what the
    /// deploy would make (R25); the deploy stopped before its first change, whatever
    /// `keep_going` says.
    #[error("stack `{stack}`: the manual-snapshot quotas cannot hold this deploy; nothing was changed (R25): {}", shortfalls.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    QuotaPreflight {
        /// The stack.
        stack: String,
        /// Each account, region and kind without room.
        shortfalls: Vec<crate::quota::QuotaShortfall>,
    },
    /// A stack definition mistake.
    #[error("stack `{stack}`: {problem}")]
    Definition {
        /// The stack.
        stack: String,
        /// What is wrong.
        problem: String,
    },
}

impl Error {
    /// The rule of `docs/rules.md` behind the error, if any.
    pub fn rule(&self) -> Option<Rule> {
        match self {
            Error::Key { source, .. } => source.rule(),
            Error::Policy { source, .. } => source.rule(),
            Error::BackupRole { source, .. } => source.rule(),
            Error::StillNeeded { .. } | Error::KeyInUse { .. } => Some(Rule::R8),
            Error::Unsettled { .. } => Some(Rule::R26),
            Error::ManualSnapshotQuota { .. } | Error::QuotaPreflight { .. } => Some(Rule::R25),
            Error::Aws { source, .. } if source.waited_for().is_some() => Some(Rule::R26),
            Error::BackupRule(source) => Some(source.rule()),
            _ => None,
        }
    }

    /// The AWS error, if AWS refused the call.
    pub fn aws(&self) -> Option<&AwsError> {
        match self {
            Error::Aws { source, .. } => Some(&**source),
            _ => None,
        }
    }

    /// Whether the error stops a deploy before its first change even with `keep_going`: a
    /// preflight that proves the whole deploy cannot fit (R25).
    pub fn stops_deploy(&self) -> bool {
        matches!(self, Error::QuotaPreflight { .. })
    }

    /// Whether AWS throttled the call even after the retries.
    pub fn is_throttled(&self) -> bool {
        self.aws().is_some_and(AwsError::is_throttled)
    }

    /// Whether AWS throttled the call or answered with a server error, even after the
    /// retries: passing, so an idempotent step runs again.
    pub fn is_transient(&self) -> bool {
        self.aws().is_some_and(AwsError::is_transient)
    }

    /// A key definition error, for `resource`.
    pub fn key(resource: &str, source: KeyError) -> Error {
        Error::Key {
            resource: resource.to_owned(),
            source: Box::new(source),
        }
    }

    /// A policy error, for `resource`.
    pub fn policy(resource: &str, source: PolicyError) -> Error {
        Error::Policy {
            resource: resource.to_owned(),
            source: Box::new(source),
        }
    }

    pub(crate) fn aws_in(resource: &str) -> impl FnOnce(AwsError) -> Error + '_ {
        move |source| Error::Aws {
            resource: resource.to_owned(),
            source: Box::new(source),
        }
    }
}
