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

pub mod backup;
pub mod ids;
pub mod key;
pub mod policy;
pub mod rules;
pub mod share;
pub mod tags;

/// The README's code, compiled and run as a doc test so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
