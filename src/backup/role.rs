//! The IAM role AWS Backup assumes to back up an Aurora cluster and copy it to another region.

use typed_builder::TypedBuilder;

use crate::{
    ids::{AccountId, ClusterId, KeyArn, ParameterGroupName, Region, SubnetGroupName, VaultName},
    policy::{actions, PolicyDocument, PolicyError, Statement},
    rules::Rule,
};

/// The service principal the role trusts (R14).
pub const BACKUP_SERVICE_PRINCIPAL: &str = "backup.amazonaws.com";

/// What a protected cluster's name is followed by in the one restore name it gets when none is
/// given: `<cluster>-restored` (R15).
pub const DEFAULT_RESTORE_SUFFIX: &str = "-restored";

/// The statement names of the backup role policy, also used to explain them in the docs.
pub mod sid {
    /// RDS actions on the cluster, its restore names, its groups and the backup snapshots of
    /// both regions.
    pub const RDS: &str = "RdsBackupCopyRestore";
    /// `rds:DeleteDBClusterSnapshot` on backup snapshots only, in a statement of its own.
    pub const RDS_DELETE: &str = "RdsDeleteBackupSnapshots";
    /// The two vaults.
    pub const VAULTS: &str = "BackupVaults";
    /// Cryptographic use of the primary and replica keys.
    pub const KEYS: &str = "KmsVaultKeys";
    /// `kms:DescribeKey` on the AWS managed keys of both regions, by alias.
    pub const MANAGED_KEYS: &str = "KmsDescribeAwsManagedKeys";
    /// `tag:GetResources`, which a selection by tag needs (R30).
    pub const TAGS: &str = "FindResourcesByTag";
    /// The trust policy's one statement.
    pub const TRUST: &str = "TrustAwsBackup";
}

/// The backup role of a cross-region Aurora backup: what it may touch, and nothing more (R15).
///
/// ```
/// use snapshift::backup::BackupRole;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let role = BackupRole::builder()
///     .account("111111111111".parse()?)
///     .source_region("ap-northeast-1".parse()?)
///     .destination_region("ap-northeast-3".parse()?)
///     .cluster("example-db".parse()?)
///     .subnet_group("example-db-subnet-group".parse()?)
///     .parameter_group("example-db-cluster-pg".parse()?)
///     .source_vault("source-backup-vault".parse()?)
///     .destination_vault("destination-backup-vault".parse()?)
///     .primary_key("arn:aws:kms:ap-northeast-1:111111111111:key/mrk-0123456789abcdef0123456789abcdef".parse()?)
///     .replica_key("arn:aws:kms:ap-northeast-3:111111111111:key/mrk-0123456789abcdef0123456789abcdef".parse()?)
///     .build();
/// assert_eq!(role.policy()?.statements().len(), 5);
/// // Only AWS Backup, acting for this account, may assume it (R14).
/// assert!(role.trust_policy()?.to_json().contains("aws:SourceAccount"));
/// # Ok(())
/// # }
/// ```
///
/// Every field is required; a missing one is a compile error (E0061, naming the field):
///
/// ```compile_fail,E0061
/// # use snapshift::backup::BackupRole;
/// let role = BackupRole::builder()
///     .account("111111111111".parse().unwrap())
///     .build(); // the regions, cluster, groups, vaults and keys are missing
/// ```
#[derive(Debug, Clone, PartialEq, Eq, TypedBuilder)]
pub struct BackupRole {
    /// The account of the cluster, the vaults and the keys.
    pub account: AccountId,
    /// The cluster's region.
    pub source_region: Region,
    /// The region the copies go to.
    pub destination_region: Region,
    /// The cluster, named exactly: another cluster whose name starts with it is not covered.
    pub cluster: ClusterId,
    /// The names a restore of `cluster` may give the new cluster (R15); empty means the one
    /// default, `<cluster>-restored`. A restore under the cluster's own name is always covered.
    #[builder(default)]
    pub restore_names: Vec<ClusterId>,
    /// The cluster's DB subnet group (needed to restore).
    pub subnet_group: SubnetGroupName,
    /// The cluster's DB cluster parameter group (needed to restore).
    pub parameter_group: ParameterGroupName,
    /// The vault in the source region.
    pub source_vault: VaultName,
    /// The vault in the destination region.
    pub destination_vault: VaultName,
    /// The key of the source vault (the multi-region primary).
    pub primary_key: KeyArn,
    /// The key of the destination vault (the replica, R11).
    pub replica_key: KeyArn,
    /// Further clusters of the same account and region the role covers, each with its own
    /// groups (optional; `cluster` is the first).
    #[builder(default)]
    pub more_clusters: Vec<ProtectedCluster>,
    /// Whether the backup selection names its resources by tag: AWS Backup then finds them
    /// as the role, with `tag:GetResources` (R30). Default no (by ARN).
    #[builder(default)]
    pub select_by_tag: bool,
    /// The VPC security groups a restore of `cluster` in the source region is given.
    #[builder(default)]
    pub security_groups: Vec<String>,
    /// Where `cluster` may be restored in the destination region (R30); `None`: only in the
    /// source region.
    #[builder(default)]
    pub recovery_site: Option<RecoverySite>,
}

/// What a restore in the destination region needs there (R30): a restore job runs as the
/// role in the recovery point's region, with that region's subnet group, cluster parameter
/// group and security groups, which the role must name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecoverySite {
    /// The DB subnet group in the destination region.
    pub subnet_group: SubnetGroupName,
    /// The DB cluster parameter group in the destination region.
    pub parameter_group: ParameterGroupName,
    /// The VPC security groups there (`sg-...`); none: the VPC's default.
    pub security_groups: Vec<String>,
}

/// A cluster a backup role covers, with the groups a restore of it needs and the names a
/// restore may give the new cluster (R15).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProtectedCluster {
    /// The cluster, named exactly: another cluster whose name starts with it is not covered.
    pub cluster: ClusterId,
    /// Its DB subnet group.
    pub subnet_group: SubnetGroupName,
    /// Its DB cluster parameter group.
    pub parameter_group: ParameterGroupName,
    /// The names a restore of it may give the new cluster; empty means the one default,
    /// `<cluster>-restored` (see [`restore_targets`](Self::restore_targets)).
    pub restore_names: Vec<ClusterId>,
    /// The VPC security groups a restore in the source region is given (`sg-...`); none:
    /// the VPC's default.
    pub security_groups: Vec<String>,
    /// Where it may be restored in the destination region (R30); `None`: only in the source
    /// region.
    pub recovery_site: Option<RecoverySite>,
}

impl ProtectedCluster {
    /// A cluster with its subnet group and cluster parameter group; a restore of it may be
    /// named `<cluster>-restored` until [`restore_as`](Self::restore_as) names others.
    pub fn new(
        cluster: ClusterId,
        subnet_group: SubnetGroupName,
        parameter_group: ParameterGroupName,
    ) -> ProtectedCluster {
        ProtectedCluster {
            cluster,
            subnet_group,
            parameter_group,
            restore_names: Vec::new(),
            security_groups: Vec::new(),
            recovery_site: None,
        }
    }

    /// Adds a VPC security group (`sg-...`) for a restore in the source region.
    pub fn security_group(mut self, id: &str) -> ProtectedCluster {
        self.security_groups.push(id.to_owned());
        self
    }

    /// Lets a restore run in the destination region too, with that region's subnet group,
    /// cluster parameter group and security groups (R30): the role then names the restore
    /// names, the groups of both regions.
    pub fn restore_in_destination(mut self, site: RecoverySite) -> ProtectedCluster {
        self.recovery_site = Some(site);
        self
    }

    /// Adds a name a restore of the cluster may give the new cluster (R15); the first one
    /// replaces the default `<cluster>-restored`. Naming one twice is harmless.
    pub fn restore_as(mut self, name: ClusterId) -> ProtectedCluster {
        if !self.restore_names.contains(&name) {
            self.restore_names.push(name);
        }
        self
    }

    /// The clusters a restore of it may create, each named exactly in the role (R15): the
    /// cluster's own name (the way back after the original is gone), then the names given
    /// with [`restore_as`](Self::restore_as), or else `<cluster>-restored`. Refused when that
    /// default is not a valid cluster identifier (a name of more than 54 characters).
    pub fn restore_targets(&self) -> Result<Vec<ClusterId>, BackupRoleError> {
        let mut targets = vec![self.cluster.clone()];
        if self.restore_names.is_empty() {
            let name = format!("{}{DEFAULT_RESTORE_SUFFIX}", self.cluster);
            let default = name
                .parse::<ClusterId>()
                .map_err(|e| BackupRoleError::RestoreName {
                    cluster: self.cluster.clone(),
                    name,
                    problem: e.problem().to_owned(),
                })?;
            targets.push(default);
        }
        for name in &self.restore_names {
            if !targets.contains(name) {
                targets.push(name.clone());
            }
        }
        Ok(targets)
    }
}

/// A backup role whose parts do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackupRoleError {
    /// Source and destination are the same region (R18: this role is for cross-region copies).
    #[error("source and destination region are both {region}; a cross-region backup needs two regions (R18)")]
    SameRegion {
        /// The region.
        region: Region,
    },
    /// The two regions are in different partitions, which AWS Backup cannot copy across.
    #[error("{source_region} and {destination_region} are in different partitions; AWS Backup copies within one partition")]
    Partition {
        /// The source region.
        source_region: Region,
        /// The destination region.
        destination_region: Region,
    },
    /// A key is in the wrong region for its vault (R11).
    #[error("the {which} key {key} is in {actual}, but its vault is in {expected}; a vault's key must be in the vault's region (R11)")]
    KeyRegion {
        /// `primary` or `replica`.
        which: &'static str,
        /// The key.
        key: Box<KeyArn>,
        /// The key's region.
        actual: Region,
        /// The vault's region.
        expected: Region,
    },
    /// A key belongs to another account.
    #[error("the {which} key {key} belongs to account {actual}, not {expected}; replicas stay in their key's account (R23)")]
    KeyAccount {
        /// `primary` or `replica`.
        which: &'static str,
        /// The key.
        key: Box<KeyArn>,
        /// The key's account.
        actual: AccountId,
        /// The role's account.
        expected: AccountId,
    },
    /// The default restore name of a cluster is not a valid cluster identifier (R15).
    #[error("cluster {cluster}: the default restore name `{name}` is not a valid cluster identifier ({problem}); name the restores with ProtectedCluster::restore_as (R15)")]
    RestoreName {
        /// The protected cluster.
        cluster: ClusterId,
        /// The name tried.
        name: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The generated policy failed a policy check.
    #[error(transparent)]
    Policy(PolicyError),
}

impl BackupRoleError {
    /// The rule of `docs/rules.md` the error enforces, if any.
    pub fn rule(&self) -> Option<Rule> {
        match self {
            BackupRoleError::SameRegion { .. } => Some(Rule::R18),
            BackupRoleError::Partition { .. } => None,
            BackupRoleError::KeyRegion { .. } => Some(Rule::R11),
            BackupRoleError::KeyAccount { .. } => Some(Rule::R23),
            BackupRoleError::RestoreName { .. } => Some(Rule::R15),
            BackupRoleError::Policy(e) => e.rule(),
        }
    }
}

impl BackupRole {
    fn check(&self) -> Result<(), BackupRoleError> {
        if self.source_region == self.destination_region {
            return Err(BackupRoleError::SameRegion {
                region: self.source_region.clone(),
            });
        }
        if self.source_region.partition() != self.destination_region.partition() {
            return Err(BackupRoleError::Partition {
                source_region: self.source_region.clone(),
                destination_region: self.destination_region.clone(),
            });
        }
        for (which, key, region) in [
            ("primary", &self.primary_key, &self.source_region),
            ("replica", &self.replica_key, &self.destination_region),
        ] {
            if key.region() != region {
                return Err(BackupRoleError::KeyRegion {
                    which,
                    key: Box::new(key.clone()),
                    actual: key.region().clone(),
                    expected: region.clone(),
                });
            }
            if key.account() != self.account {
                return Err(BackupRoleError::KeyAccount {
                    which,
                    key: Box::new(key.clone()),
                    actual: key.account(),
                    expected: self.account,
                });
            }
        }
        Ok(())
    }

    /// Every cluster the role covers, the first (`cluster`) included, with its groups and
    /// restore names.
    pub fn clusters(&self) -> Vec<ProtectedCluster> {
        let first = ProtectedCluster {
            cluster: self.cluster.clone(),
            subnet_group: self.subnet_group.clone(),
            parameter_group: self.parameter_group.clone(),
            restore_names: self.restore_names.clone(),
            security_groups: self.security_groups.clone(),
            recovery_site: self.recovery_site.clone(),
        };
        std::iter::once(first)
            .chain(self.more_clusters.iter().cloned())
            .collect()
    }

    /// The role's inline policy (R15), in five statements:
    /// 1. RDS snapshot, copy, share and restore actions on each cluster, named exactly
    ///    (`cluster:<name>`, not `<name>*`, which would also cover `<name>-billing`), on the
    ///    clusters a restore of it may create ([`ProtectedCluster::restore_targets`]: by
    ///    default `<cluster>-restored`), its subnet group, its cluster parameter group, and the
    ///    `awsbackup:` cluster snapshots of both regions (R16);
    /// 2. `rds:DeleteDBClusterSnapshot` alone, on the `awsbackup:` snapshots only: RDS offers
    ///    no condition that tells one plan's recovery points from another's, and a manual
    ///    snapshot cannot carry that prefix (identifiers have no `:`);
    /// 3. `backup:DescribeBackupVault` and `backup:CopyIntoBackupVault` on both vaults (the
    ///    source vault for the way back, R17);
    /// 4. the cryptographic actions on the primary and replica keys;
    /// 5. `kms:DescribeKey` on any key of both regions whose alias is `alias/aws/rds` or
    ///    `alias/aws/backup`: those keys may not exist yet, so their ARNs are unknown.
    pub fn policy(&self) -> Result<PolicyDocument, BackupRoleError> {
        self.check()?;
        let partition = self.source_region.partition();
        let arn = |service: &str, region: &Region, resource: &str| {
            format!(
                "arn:{partition}:{service}:{region}:{}:{resource}",
                self.account
            )
        };
        let (src, dst) = (&self.source_region, &self.destination_region);
        let backup_snapshots = [
            arn("rds", src, "cluster-snapshot:awsbackup:*"),
            arn("rds", dst, "cluster-snapshot:awsbackup:*"),
        ];
        let mut rds_resources: Vec<String> = Vec::new();
        for c in self.clusters() {
            let targets = c.restore_targets()?;
            // Each region a restore of it may run in, with that region's groups (R30).
            let mut sites = vec![(src, &c.subnet_group, &c.parameter_group)];
            if let Some(site) = &c.recovery_site {
                sites.push((dst, &site.subnet_group, &site.parameter_group));
            }
            for (region, subnet_group, parameter_group) in sites {
                let clusters = targets
                    .iter()
                    .map(|name| arn("rds", region, &format!("cluster:{name}")));
                let groups = [
                    arn("rds", region, &format!("subgrp:{subnet_group}")),
                    arn("rds", region, &format!("cluster-pg:{parameter_group}")),
                ];
                for resource in clusters.chain(groups) {
                    if !rds_resources.contains(&resource) {
                        rds_resources.push(resource);
                    }
                }
            }
        }
        rds_resources.extend(backup_snapshots.iter().cloned());
        let statements = vec![
            Statement::allow()
                .sid(sid::RDS)
                .actions(actions::BACKUP_RDS.iter().copied())
                .resources(rds_resources),
            Statement::allow()
                .sid(sid::RDS_DELETE)
                .actions(actions::BACKUP_RDS_DELETE.iter().copied())
                .resources(backup_snapshots),
            Statement::allow()
                .sid(sid::VAULTS)
                .actions(actions::BACKUP_VAULT.iter().copied())
                .resources([
                    arn(
                        "backup",
                        src,
                        &format!("backup-vault:{}", self.source_vault),
                    ),
                    arn(
                        "backup",
                        dst,
                        &format!("backup-vault:{}", self.destination_vault),
                    ),
                ]),
            Statement::allow()
                .sid(sid::KEYS)
                .actions(actions::BACKUP_KMS.iter().copied())
                .resources([self.primary_key.to_string(), self.replica_key.to_string()]),
            Statement::allow()
                .sid(sid::MANAGED_KEYS)
                .actions(["kms:DescribeKey"])
                .resources([arn("kms", src, "key/*"), arn("kms", dst, "key/*")])
                .condition(
                    "ForAnyValue:StringEquals",
                    "kms:ResourceAliases",
                    ["alias/aws/rds", "alias/aws/backup"],
                ),
        ];
        let mut statements = statements;
        if self.select_by_tag {
            // R30: AWS Backup resolves a selection by tag as the role; `tag:GetResources`
            // has no resource-level permissions, so its resource is `*`.
            statements.push(
                Statement::allow()
                    .sid(sid::TAGS)
                    .actions(["tag:GetResources"])
                    .resources(["*"]),
            );
        }
        // Action and Resource lists stay lists even with one item, as in the console's policies.
        let policy =
            PolicyDocument::new(statements.into_iter().map(Statement::with_lists).collect());
        policy
            .validate_identity_policy()
            .map_err(BackupRoleError::Policy)?;
        Ok(policy)
    }

    /// The role's trust policy: `backup.amazonaws.com` may assume it (R14), when it acts for
    /// the role's own account (`aws:SourceAccount`), as AWS Backup's guidance against the
    /// confused deputy recommends: AWS Backup acting for another account cannot use the role.
    pub fn trust_policy(&self) -> Result<PolicyDocument, BackupRoleError> {
        let policy = PolicyDocument::new(vec![Statement::allow()
            .sid(sid::TRUST)
            .service_principal(BACKUP_SERVICE_PRINCIPAL)
            .actions(["sts:AssumeRole"])
            .condition("StringEquals", "aws:SourceAccount", [self.account.as_str()])]);
        policy
            .validate_trust_policy()
            .map_err(BackupRoleError::Policy)?;
        Ok(policy)
    }
}
