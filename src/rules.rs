//! The AWS rules snapshift encodes, numbered R1..R32, with the limits they set.
//!
//! Every error that stops an operation because of one of these facts names the rule, so a
//! user can look it up in `docs/rules.md` (generated from [`Rule::ALL`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// One of the AWS facts snapshift encodes (see `docs/rules.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Rule {
    /// Snapshots encrypted with the AWS managed key `alias/aws/rds` cannot be shared.
    R1,
    /// Sharing needs a customer managed key whose policy lets the target account use it.
    R2,
    /// A re-encrypting copy under the shareable key makes a shareable manual snapshot.
    R3,
    /// A key policy must leave someone able to change it, and must not open the key to all.
    R4,
    /// Copies are slow and their reported progress stays at 0 until done.
    R5,
    /// Sharing is the `restore` attribute; at most 20 accounts.
    R6,
    /// The target copies the shared snapshot under its own key to cut the tie to the source.
    R7,
    /// Source-side clean-up order; only keys nothing depends on may be scheduled for deletion.
    R8,
    /// Restores need access to the snapshot's key; taking a snapshot does not.
    R9,
    /// Restored clusters keep the password but lose the Secrets Manager secret.
    R10,
    /// In AWS Backup the destination vault's key encrypts the copy.
    R11,
    /// `MultiRegion` is set at creation only; replicas have their own key policy.
    R12,
    /// Backup plan rule settings: cron in UTC, start window of at least 60 minutes.
    R13,
    /// A backup selection names resources and a role trusted by `backup.amazonaws.com`.
    R14,
    /// The least-privilege backup role policy.
    R15,
    /// The snapshot names AWS Backup gives: `awsbackup:job-*` and `awsbackup:copyjob-*`.
    R16,
    /// Restores through AWS Backup create only the cluster; the way back needs the source vault.
    R17,
    /// Aurora cross-region copies go through AWS Backup.
    R18,
    /// At most 20 snapshot copies in flight per destination region and account.
    R19,
    /// RDS API calls are throttled per account and region; every call shares one token bucket.
    R20,
    /// Re-encrypting copies are full copies.
    R21,
    /// Other copy failures: option groups, reserved tag prefixes, snapshot and share quotas.
    R22,
    /// Key deletion waits 7 to 30 days; replicas stay in the key's account.
    R23,
    /// Backup lifecycles: deletion at least 90 days after the move to cold storage.
    R24,
    /// At most 100 manual snapshots of each kind per account and region by default.
    R25,
    /// New KMS keys, aliases, grants and policies, and new IAM roles, take a while to be seen.
    R26,
    /// Restored databases and snapshots in a failed state do not recover on their own.
    R27,
    /// IAM and STS need a region to find their endpoint: the partition's global one.
    R28,
    /// Automated and AWS Backup snapshots are described with their `SnapshotType`.
    R29,
    /// The backup role also needs `tag:GetResources`, and restores run in the point's region.
    R30,
    /// Cross-account key use needs the key policy and the caller account's IAM policy.
    R31,
    /// A backup selection of a deleted plan answers "Cannot find Backup plan".
    R32,
}

impl Rule {
    /// Every rule, in order.
    pub const ALL: [Rule; 32] = [
        Rule::R1,
        Rule::R2,
        Rule::R3,
        Rule::R4,
        Rule::R5,
        Rule::R6,
        Rule::R7,
        Rule::R8,
        Rule::R9,
        Rule::R10,
        Rule::R11,
        Rule::R12,
        Rule::R13,
        Rule::R14,
        Rule::R15,
        Rule::R16,
        Rule::R17,
        Rule::R18,
        Rule::R19,
        Rule::R20,
        Rule::R21,
        Rule::R22,
        Rule::R23,
        Rule::R24,
        Rule::R25,
        Rule::R26,
        Rule::R27,
        Rule::R28,
        Rule::R29,
        Rule::R30,
        Rule::R31,
        Rule::R32,
    ];

    /// The rule's number, 1 to 32.
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    /// A short title, e.g. "default-key snapshots cannot be shared".
    pub fn title(self) -> &'static str {
        match self {
            Rule::R1 => "default-key snapshots cannot be shared",
            Rule::R2 => "the shareable key",
            Rule::R3 => "re-encrypting copy",
            Rule::R4 => "key policy lockout check",
            Rule::R5 => "copies are slow and their progress lies",
            Rule::R6 => "sharing",
            Rule::R7 => "cut the tie to the source",
            Rule::R8 => "clean up in the right order",
            Rule::R9 => "who needs the key when",
            Rule::R10 => "restored clusters lose their secret",
            Rule::R11 => "the vault picks the key",
            Rule::R12 => "multi-region keys",
            Rule::R13 => "backup plan rules",
            Rule::R14 => "backup selection",
            Rule::R15 => "least-privilege backup role",
            Rule::R16 => "names AWS Backup gives",
            Rule::R17 => "restores differ",
            Rule::R18 => "why AWS Backup",
            Rule::R19 => "copy quotas",
            Rule::R20 => "API rate",
            Rule::R21 => "full copies",
            Rule::R22 => "other copy failures",
            Rule::R23 => "key deletion",
            Rule::R24 => "backup lifecycle",
            Rule::R25 => "manual snapshot quota",
            Rule::R26 => "eventual consistency",
            Rule::R27 => "terminal states",
            Rule::R28 => "regions of global services",
            Rule::R29 => "snapshot types",
            Rule::R30 => "what the backup role needs besides R15",
            Rule::R31 => "two halves of cross-account key use",
            Rule::R32 => "backup selections of a deleted plan",
        }
    }

    /// What the rule says and what snapshift does about it, in a few sentences.
    pub fn summary(self) -> &'static str {
        match self {
            Rule::R1 => {
                "A snapshot encrypted with the AWS managed key `alias/aws/rds` cannot be shared: \
                 the managed key's policy allows use only through RDS by its own account. \
                 snapshift detects this before calling AWS and plans a re-encrypting copy instead."
            }
            Rule::R2 => {
                "Sharing an encrypted snapshot needs a symmetric customer managed key in the source \
                 account whose policy gives the target account the cryptographic actions, and the \
                 grant actions only for AWS resources (`kms:GrantIsForAWSResource`). Key \
                 administrators get the administrative actions and not the cryptographic ones."
            }
            Rule::R3 => {
                "`CopyDBSnapshot` / `CopyDBClusterSnapshot` with the shareable key produces a \
                 shareable copy. Only manual snapshots can be shared, so an automated snapshot is \
                 copied to a manual one first. A copy in another account names the source by its \
                 full ARN."
            }
            Rule::R4 => {
                "KMS refuses a key policy that would not let anyone change it later \
                 (`MalformedPolicyDocumentException`). Every policy snapshift writes keeps the \
                 account root or a named administrator able to call `kms:PutKeyPolicy`, and a \
                 policy that grants anything to `\"*\"` without a narrowing condition is refused \
                 before any call."
            }
            Rule::R5 => {
                "A re-encrypting copy of a small snapshot can take over an hour and \
                 `PercentProgress` stays at 0 until it jumps to done. Waits are long and \
                 configurable, report elapsed time and a heartbeat, and never call 0% stuck."
            }
            Rule::R6 => {
                "Sharing sets the snapshot's `restore` attribute (`ValuesToAdd` / \
                 `ValuesToRemove`). A snapshot can be shared with at most 20 accounts; the target \
                 sees it as `SnapshotType=shared`."
            }
            Rule::R7 => {
                "In the target account the shared snapshot is copied under a key of the target \
                 account. After that copy the source key may go; before it, deleting the source \
                 key makes the shared snapshot unrecoverable."
            }
            Rule::R8 => {
                "Source-side clean-up runs after the target copy is available: remove the share, \
                 delete the intermediate copy, then schedule deletion of the key (7 to 30 days). \
                 Only keys snapshift created, and only when nothing it knows of depends on them."
            }
            Rule::R9 => {
                "Taking a snapshot of an encrypted cluster does not need access to its key; \
                 restoring from an encrypted snapshot does. Preflight checks key access for \
                 restores only."
            }
            Rule::R10 => {
                "A restore in the target account keeps the source master password but not its \
                 Secrets Manager secret; snapshift offers `ManageMasterUserPassword` after restore."
            }
            Rule::R11 => {
                "AWS Backup encrypts a cross-region copy with the destination vault's key; a backup \
                 rule cannot choose one. A vault under `alias/aws/backup` (the `Default` vault) \
                 lands RDS copies under `alias/aws/rds` of that region, and a replica key that is \
                 not the vault's key changes nothing."
            }
            Rule::R12 => {
                "`MultiRegion=true` can only be set when a key is created. Replicas are made with \
                 `ReplicateKey` in the destination region and carry their own key policy."
            }
            Rule::R13 => {
                "A backup rule's schedule is a six-field cron expression in UTC; the start window \
                 is at least 60 minutes (default 8 hours); the completion window defaults to 7 \
                 days. The destination vault must exist before the plan that copies into it."
            }
            Rule::R14 => {
                "A backup selection names resources by ARN or by tags, and an IAM role trusted by \
                 `backup.amazonaws.com`."
            }
            Rule::R15 => {
                "The backup role gets RDS actions on the cluster, its subnet group, its parameter \
                 group and the `awsbackup:` snapshots of both regions; `DeleteDBClusterSnapshot` \
                 alone in its own statement; the two vaults; the two keys; and `kms:DescribeKey` \
                 on the AWS managed keys of both regions by alias condition, since their ARNs may \
                 not exist yet."
            }
            Rule::R16 => {
                "AWS Backup names its snapshots `cluster-snapshot:awsbackup:job-<id>` and its \
                 copies `cluster-snapshot:awsbackup:copyjob-<id>`."
            }
            Rule::R17 => {
                "A restore through AWS Backup creates only the cluster, no instances. Copying back \
                 from the destination vault for disaster recovery needs `CopyIntoBackupVault` on \
                 the source vault too."
            }
            Rule::R18 => {
                "RDS cross-region automated backups do not cover Aurora, so Aurora cross-region \
                 copies go through AWS Backup."
            }
            Rule::R19 => {
                "At most 20 snapshot copies may be in flight to one destination region per \
                 account. Past it AWS answers `SnapshotQuotaExceeded`: back-pressure, waited \
                 for and retried. AWS answers the same code when the manual snapshot quota \
                 (R25) is full, which no waiting frees. Copies of one source are queued one \
                 after another."
            }
            Rule::R20 => {
                "RDS throttles API calls per account and region with a token bucket shared by \
                 every caller (by default a burst of 300, then 12 a second); \
                 `ThrottlingException` is retried with backoff, and every call snapshift makes, \
                 waiter or not, draws from one token bucket per account and region."
            }
            Rule::R21 => {
                "Re-encrypting with a new key always makes a full copy, so copy time grows with \
                 snapshot size."
            }
            Rule::R22 => {
                "A snapshot with an option group may need a target option group across regions; \
                 tags with the reserved `aws:` prefix cannot be copied; an account holds 100 \
                 manual snapshots by default; shares are limited to 20 accounts."
            }
            Rule::R23 => {
                "A key's deletion waiting period is 7 to 30 days (default 30). A multi-region \
                 primary waits for its last replica to be deleted. Replicas cannot be put in \
                 another account."
            }
            Rule::R24 => {
                "When a lifecycle sets both, `DeleteAfterDays` must be at least \
                 `MoveToColdStorageAfterDays` + 90. AWS Backup does not carry a custom option \
                 group across regions."
            }
            Rule::R25 => {
                "An account holds at most 100 manual DB snapshots and 100 manual DB cluster \
                 snapshots per region by default (adjustable in Service Quotas); \
                 `DescribeAccountAttributes` reports `ManualSnapshots` and \
                 `ManualClusterSnapshots` used and max. A copy past it answers \
                 `SnapshotQuotaExceeded` and never succeeds until snapshots are deleted. \
                 Intermediate copies count; automated snapshots do not. snapshift reads every \
                 account's quota before the first change and stops when a target cannot hold \
                 the copies it keeps or the source cannot hold one intermediate copy per copy \
                 slot; a fleet keeps at most `Max - Used - margin` intermediate copies alive \
                 and deletes each, with its shares, as soon as every target holds its copy; a \
                 copy refused by a full manual quota fails at once, the copy quota untouched."
            }
            Rule::R26 => {
                "A KMS key, alias, grant or key policy just created or changed may be unknown for \
                 seconds, rarely minutes (`NotFoundException`, `KMSInvalidStateException`); a \
                 multi-region replica is `Creating` before it is `Enabled`. A new IAM role or \
                 inline policy may not be usable by AWS Backup for a while \
                 (`InvalidParameterValueException`). These are retried within a bounded window, \
                 only right after the change that explains them."
            }
            Rule::R27 => {
                "A restored cluster or instance in `failed`, `incompatible-restore`, \
                 `incompatible-network`, `incompatible-parameters` or \
                 `inaccessible-encryption-credentials`, or a snapshot `failed`, does not recover \
                 on its own: the wait stops at once and says why."
            }
            Rule::R28 => {
                "IAM and STS clients need a region to resolve their endpoint and a profile may \
                 name none: the partition's global region (us-east-1 for `aws`) is used then."
            }
            Rule::R29 => {
                "`DescribeDBSnapshots` / `DescribeDBClusterSnapshots` of an automated (`rds:`) or \
                 AWS Backup (`awsbackup:`) snapshot take `SnapshotType` with the identifier. \
                 Sharing anything but a manual snapshot is refused."
            }
            Rule::R30 => {
                "A selection by tag needs `tag:GetResources` in the backup role; a restore job \
                 runs as the role in the recovery point's region, with that region's subnet \
                 group and security groups."
            }
            Rule::R31 => {
                "Account B can use account A's key only when A's key policy grants B and an IAM \
                 policy in B grants its principal the same actions on the key. Only the first \
                 half is visible from A: the second is checked with B's credentials before the \
                 long copy starts."
            }
            Rule::R32 => {
                "`GetBackupSelection` of a plan deleted outside snapshift answers \
                 `InvalidParameterValueException` (\"Cannot find Backup plan\"), not \
                 `ResourceNotFoundException`: snapshift reads it as gone."
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "R{}", self.number())
    }
}

/// Limits that AWS sets, in one place so that validation, planning and docs agree.
pub mod limits {
    /// Accounts a snapshot can be shared with (R6, R22).
    pub const MAX_SHARED_ACCOUNTS: usize = 20;
    /// Default copies in flight per destination region and account (R19).
    pub const DEFAULT_COPY_QUOTA: usize = 20;
    /// Shortest key deletion waiting period in days (R23).
    pub const MIN_KEY_DELETION_DAYS: u32 = 7;
    /// Longest key deletion waiting period in days (R23).
    pub const MAX_KEY_DELETION_DAYS: u32 = 30;
    /// Default key deletion waiting period in days (R23).
    pub const DEFAULT_KEY_DELETION_DAYS: u32 = 30;
    /// Shortest backup start window in minutes (R13).
    pub const MIN_START_WINDOW_MINUTES: u32 = 60;
    /// Default backup start window in minutes: 8 hours (R13).
    pub const DEFAULT_START_WINDOW_MINUTES: u32 = 8 * 60;
    /// Default backup completion window in minutes: 7 days (R13).
    pub const DEFAULT_COMPLETION_WINDOW_MINUTES: u32 = 7 * 24 * 60;
    /// Days between the move to cold storage and deletion (R24).
    pub const MIN_COLD_STORAGE_DAYS: u32 = 90;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_run_from_1_to_32_in_order() {
        for (i, rule) in Rule::ALL.iter().enumerate() {
            assert_eq!(usize::from(rule.number()), i + 1);
            assert_eq!(rule.to_string(), format!("R{}", i + 1));
            assert!(!rule.title().is_empty());
            assert!(rule.summary().len() > 40, "{rule} needs a real summary");
        }
    }
}
