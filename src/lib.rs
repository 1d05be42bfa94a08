//! snapshift moves encrypted Amazon RDS and Aurora snapshots safely: across accounts
//! (re-keying snapshots AWS refuses to share), within an account (re-encryption under a new
//! key), and across regions with AWS Backup.
//!
//! The flows, each a set of resources added to an [`engine::Stack`] that previews, deploys,
//! tears down and resumes from its state file:
//! - [`migration`]: a snapshot moved to another account (R1 to R10), or re-encrypted under a
//!   new key within one account;
//! - [`fleet`]: every snapshot a selector matches, to one or more accounts, as one stack,
//!   at the speed AWS's quotas allow (R19 to R21);
//! - [`cross_region`]: an AWS Backup plan that copies Aurora recovery points to another region
//!   under a key you choose, with its least-privilege role and the way back (R11 to R18).
//!
//! Underneath:
//! - [`engine`]: the stack, its plan, its state file and the waiting runtime (R5, R19, R20);
//! - [`resources`]: keys, vaults, roles, plans and selections as deployable resources;
//! - [`aws`]: accounts and one module per AWS service, the only code that calls the SDK;
//! - pure code that does no I/O: [`ids`] (validated identifiers), [`policy`] (typed IAM and
//!   KMS policies with AWS's checks, R4), [`key`] (the [`ShareableKey`](key::ShareableKey)
//!   builder, R2, R12, R23), [`backup`] (the backup role, rule settings, plan and selection,
//!   R13 to R15, R24), [`share`] (R6), [`tags`] and [`rules`] (R1..R32, cited by errors and
//!   docs);
//! - `testing` (feature `testing`): `FakeAws`, a stateful fake of the AWS APIs for examples
//!   and your own tests.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

/// Locks `mutex`, whose data stays consistent even if a holder panicked.
pub(crate) fn locked<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub mod aws;
pub mod backup;
pub mod cross_region;
pub mod engine;
pub mod error;
pub mod fleet;
pub mod ids;
pub mod key;
pub mod migration;
pub mod policy;
pub mod quota;
pub mod resources;
pub mod rules;
pub mod share;
pub mod tags;
#[cfg(feature = "testing")]
pub mod testing;

/// The Rust code of the README and of the generated docs, compiled and run as doc tests so
/// that what users copy keeps working.
#[cfg(doctest)]
pub mod doc_snippets {
    #[doc = include_str!("../README.md")]
    pub struct Readme;
    #[doc = include_str!("../docs/key-policies/same-account.md")]
    pub struct SameAccountKeyPolicy;
    #[doc = include_str!("../docs/key-policies/cross-account.md")]
    pub struct CrossAccountKeyPolicy;
    #[doc = include_str!("../docs/key-policies/cross-region.md")]
    pub struct CrossRegionKeyPolicy;
    #[doc = include_str!("../docs/iam/backup-role.md")]
    pub struct BackupRole;
    #[doc = include_str!("../docs/cross-region-backup.md")]
    pub struct CrossRegionBackup;
}
