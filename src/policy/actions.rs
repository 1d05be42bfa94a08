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

/// Key administration, which a key policy gives only to principals of the key's own account
/// (R2): every action on a key that [`KEY_ADMIN`]'s patterns cover except those R2 lets a
/// granted account use ([`KEY_DESCRIBE`] and [`KEY_GRANTS`]), and the administrative actions
/// those patterns do not reach (`ImportKeyMaterial`, `ReplicateKey`, `RotateKeyOnDemand`,
/// `SynchronizeMultiRegionKey`). Reading the policy, tags and rotation status is in it:
/// the AWS managed keys give those to their own account only. `GetPublicKey`, the public half
/// of an asymmetric key, is use, not administration.
pub const KEY_ADMINISTRATION: &[&str] = &[
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKeyRotation",
    "kms:RotateKeyOnDemand",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
    "kms:UpdateKeyDescription",
    "kms:UpdatePrimaryRegion",
    "kms:ReplicateKey",
    "kms:SynchronizeMultiRegionKey",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:GetKeyPolicy",
    "kms:ListKeyPolicies",
    "kms:GetKeyRotationStatus",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:ListRetirableGrants",
    "kms:ImportKeyMaterial",
    "kms:DeleteImportedKeyMaterial",
    "kms:GetParametersForImport",
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
