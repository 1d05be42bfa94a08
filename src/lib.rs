//! snapshift moves encrypted Amazon RDS and Aurora snapshots safely: across accounts
//! (re-keying snapshots AWS refuses to share), within an account (re-encryption under a new
//! key), and across regions with AWS Backup.
//!
//! This release holds the pure layer the rest is built on:
//! - [`ids`]: validated identifiers (accounts, regions, ARNs, keys, snapshots, names);
//! - [`policy`]: typed IAM and KMS policy documents with the checks AWS applies (R4);
//! - [`key`]: the [`ShareableKey`](key::ShareableKey) builder and its key policy (R2, R12, R23);
//! - [`backup`]: the least-privilege AWS Backup role (R15) and validated backup rule settings
//!   (R13, R24);
//! - [`share`]: share lists within AWS's limit (R6);
//! - [`rules`]: the AWS rules R1..R24 that errors and docs cite.
//!
//! Nothing here does I/O.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod aws;
pub mod backup;
pub mod engine;
pub mod error;
pub mod ids;
pub mod key;
pub mod migration;
pub mod policy;
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
}
