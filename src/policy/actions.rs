//! The action lists snapshift's policies grant, named once so that policies, checks and docs
//! agree.

/// What key administrators may do: manage the key; no cryptographic action is listed (R2).
/// Includes `kms:PutKeyPolicy` (through `kms:Put*`), which keeps the key manageable (R4), and
/// `kms:CreateGrant` (through `kms:Create*`): an administrator can therefore grant itself use,
/// so the split is a separation of duties, not a wall.
pub const KEY_ADMIN: &[&str] = &[
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
];

/// What an account that uses the key for snapshots may do with it, through RDS (R2).
pub const KEY_USE: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
];

/// The key's metadata, which an account that uses the key may read directly (R2, R31).
pub const KEY_DESCRIBE: &[&str] = &["kms:DescribeKey"];

/// Grants, allowed only for AWS resources such as RDS (R2).
pub const KEY_GRANTS: &[&str] = &["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"];

/// The action whose loss locks a key policy (R4).
pub const PUT_KEY_POLICY: &str = "kms:PutKeyPolicy";

/// RDS actions the backup role needs on the cluster, its groups and the backup snapshots (R15).
pub const BACKUP_RDS: &[&str] = &[
    "rds:CreateDBClusterSnapshot",
    "rds:DescribeDBClusters",
    "rds:DescribeDBClusterSnapshots",
    "rds:AddTagsToResource",
    "rds:ListTagsForResource",
    "rds:CopyDBClusterSnapshot",
    "rds:ModifyDBClusterSnapshotAttribute",
    "rds:RestoreDBClusterFromSnapshot",
];

/// Deleting backup snapshots, in a statement of its own (R15).
pub const BACKUP_RDS_DELETE: &[&str] = &["rds:DeleteDBClusterSnapshot"];

/// Vault actions on both vaults (R15, R17).
pub const BACKUP_VAULT: &[&str] = &["backup:DescribeBackupVault", "backup:CopyIntoBackupVault"];

/// Cryptographic actions on the primary and replica keys (R15).
pub const BACKUP_KMS: &[&str] = &[
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:ReEncrypt*",
    "kms:CreateGrant",
    "kms:DescribeKey",
];
