//! Cross-region backup of Aurora clusters with AWS Backup (R11 to R18, R23, R24): a backup plan
//! that copies recovery points to a second region under a key you choose, its least-privilege
//! role, and the way back for disaster recovery.
//!
//! RDS cross-region automated backups do not cover Aurora, so Aurora's cross-region copies go
//! through AWS Backup (R18), and there the copy's key is the *destination vault's* key (R11):
//! a backup rule cannot choose one.
//!
//! ```no_run
//! # async fn run(account: snapshift::aws::Account) -> snapshift::error::Result<()> {
//! use snapshift::{backup::ProtectedCluster, cross_region::CrossRegionBackup, engine::Stack};
//!
//! let mut stack = Stack::new("orders-dr")?;
//! let backup = CrossRegionBackup::new("ap-northeast-1".parse()?, "ap-northeast-3".parse()?)
//!     .cluster(ProtectedCluster::new(
//!         "orders".parse()?,
//!         "orders-subnets".parse()?,
//!         "orders-cluster-pg".parse()?,
//!     ))
//!     .schedule("cron(0 17 ? * * *)".parse()?);
//! let handles = stack.add_cross_region_backup("orders-dr", &account, backup)?;
//! println!("{}", stack.preview().await?.render());
//! stack.deploy().await?;
//! let point = stack.backup_now(&handles, &"orders".parse()?).await?;
//! let copy = stack.copy_to_destination(&handles, &point).await?;
//! println!("{} is under {}", copy.arn, copy.key_arn);
//! # Ok(())
//! # }
//! ```
//!
//! # What it deploys, in this order
//! 1. A multi-region [`ShareableKey`] and its replica in the destination region (R12), unless
//!    you name existing keys.
//! 2. The IAM role trusted by `backup.amazonaws.com` with the least-privilege inline policy
//!    naming those keys (R14, R15), and the destination vault under the replica key: it must
//!    exist before the plan that copies into it (R13).
//! 3. The source vault under the primary key.
//! 4. The backup plan: one rule (cron in UTC, start window of at least 60 minutes) and its
//!    copy action to the destination vault (R13, R24).
//! 5. The backup selection: the clusters by ARN, or a tag, and the role (R14).
//!
//! Teardown: selection, plan, source vault, destination vault, role (inline policy first),
//! key (replica first, R23). A vault that still holds recovery points is not deleted:
//! teardown stops there with [`Error::VaultNotEmpty`], lists them, and keeps the role and keys
//! they need.

mod jobs;

pub use jobs::{RecoveryPointRef, RestoredCluster};

use crate::{
    aws::Account,
    backup::{
        BackupRole, CopyDefinition, Lifecycle, PlanDefinition, ProtectedCluster, Schedule,
        SelectionDefinition, Selector, Windows,
    },
    engine::{Handle, Options, Stack},
    error::{Error, Result},
    ids::{BackupPlanName, BackupRuleName, KeyArn, Region, RoleName, SelectionName, VaultName},
    key::ShareableKey,
    resources::{
        BackupPlanResource, BackupRoleResource, BackupSelectionResource, KeyResource, VaultKey,
        VaultResource,
    },
    rules::Rule,
};

/// Which keys encrypt the two vaults, and so the recovery points and their copies (R11).
#[derive(Debug, Clone)]
pub enum KeyStrategy {
    /// A new multi-region key made by the stack, with its replica in the destination region
    /// (the default, R12). The key must be multi-region with a replica there; `None` makes
    /// one with the alias `<name>-backup`.
    NewMultiRegion(Option<ShareableKey>),
    /// Existing keys: the source vault's key (in the source region) and the destination
    /// vault's key (in the destination region). They are never scheduled for deletion.
    Existing {
        /// The source vault's key.
        source: KeyArn,
        /// The destination vault's key: the key of every copy (R11).
        destination: KeyArn,
    },
}

/// A vault the backup creates, or an existing one it uses (such as `Default`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultChoice {
    /// A vault the stack creates under the strategy's key, and deletes once empty.
    Create(VaultName),
    /// A vault that exists; used as it is, never changed or deleted.
    Existing(VaultName),
}

/// An AWS Backup plan that copies Aurora recovery points to another region: build it, then
/// add it to a stack with [`Stack::add_cross_region_backup`].
#[derive(Debug, Clone)]
#[must_use]
pub struct CrossRegionBackup {
    source_region: Region,
    destination_region: Region,
    clusters: Vec<ProtectedCluster>,
    tag: Option<(String, String)>,
    schedule: Schedule,
    windows: Windows,
    lifecycle: Lifecycle,
    copy_lifecycle: Lifecycle,
    source_vault: Option<VaultChoice>,
    destination_vault: Option<VaultChoice>,
    role_name: Option<RoleName>,
    plan_name: Option<BackupPlanName>,
    keys: KeyStrategy,
}

impl CrossRegionBackup {
    /// A backup from `source_region` to `destination_region`: AWS Backup's default schedule
    /// (`cron(0 5 ? * * *)`, UTC) and windows (8 hours, 7 days), recovery points kept until
    /// deleted, vaults named after the stack entry, and a new multi-region key.
    pub fn new(source_region: Region, destination_region: Region) -> CrossRegionBackup {
        CrossRegionBackup {
            source_region,
            destination_region,
            clusters: Vec::new(),
            tag: None,
            schedule: Schedule::default(),
            windows: Windows::default(),
            lifecycle: Lifecycle::keep_forever(),
            copy_lifecycle: Lifecycle::keep_forever(),
            source_vault: None,
            destination_vault: None,
            role_name: None,
            plan_name: None,
            keys: KeyStrategy::NewMultiRegion(None),
        }
    }

    /// Protects a cluster. The role may act on it, named exactly, on the clusters a restore of
    /// it may create (its restore names: `<cluster>-restored` unless
    /// [`ProtectedCluster::restore_as`] names others), its subnet group and its parameter
    /// group (R15); the selection names it by ARN (R14).
    pub fn cluster(mut self, cluster: ProtectedCluster) -> CrossRegionBackup {
        self.clusters.push(cluster);
        self
    }

    /// Selects clusters by tag instead of by ARN (R14). The role still covers only the
    /// clusters given with [`cluster`](Self::cluster): a tagged cluster not among them fails
    /// its backup with an access error (R15), and the preview says so.
    pub fn select_by_tag(mut self, key: &str, value: &str) -> CrossRegionBackup {
        self.tag = Some((key.to_owned(), value.to_owned()));
        self
    }

    /// When the rule runs: cron in UTC (R13).
    pub fn schedule(mut self, schedule: Schedule) -> CrossRegionBackup {
        self.schedule = schedule;
        self
    }

    /// The start and completion windows (R13).
    pub fn windows(mut self, windows: Windows) -> CrossRegionBackup {
        self.windows = windows;
        self
    }

    /// The lifecycle of the recovery points in the source region (R24).
    pub fn lifecycle(mut self, lifecycle: Lifecycle) -> CrossRegionBackup {
        self.lifecycle = lifecycle;
        self
    }

    /// The lifecycle of the copies in the destination region (R24).
    pub fn copy_lifecycle(mut self, lifecycle: Lifecycle) -> CrossRegionBackup {
        self.copy_lifecycle = lifecycle;
        self
    }

    /// The source vault: created, or existing.
    pub fn source_vault(mut self, vault: VaultChoice) -> CrossRegionBackup {
        self.source_vault = Some(vault);
        self
    }

    /// The destination vault: created, or existing. Its key is the key of every copy
    /// (R11); the region's `Default` vault is under `alias/aws/backup`, so copies into it land
    /// under `alias/aws/rds`.
    pub fn destination_vault(mut self, vault: VaultChoice) -> CrossRegionBackup {
        self.destination_vault = Some(vault);
        self
    }

    /// The backup role's name (default `<name>-backup`).
    pub fn role_name(mut self, name: RoleName) -> CrossRegionBackup {
        self.role_name = Some(name);
        self
    }

    /// The backup plan's name (default `<name>`).
    pub fn plan_name(mut self, name: BackupPlanName) -> CrossRegionBackup {
        self.plan_name = Some(name);
        self
    }

    /// The key strategy (default: a new multi-region key with a replica in the destination
    /// region, R12).
    pub fn keys(mut self, keys: KeyStrategy) -> CrossRegionBackup {
        self.keys = keys;
        self
    }
}

/// The resources of a cross-region backup in its stack.
#[derive(Debug, Clone)]
pub struct BackupHandles {
    /// The multi-region key, when the stack makes one.
    pub key: Option<Handle<KeyResource>>,
    /// The destination vault.
    pub destination_vault: Handle<VaultResource>,
    /// The source vault.
    pub source_vault: Handle<VaultResource>,
    /// The backup role.
    pub role: Handle<BackupRoleResource>,
    /// The backup plan.
    pub plan: Handle<BackupPlanResource>,
    /// The backup selection.
    pub selection: Handle<BackupSelectionResource>,
    name: String,
    account: Account,
    source_region: Region,
    destination_region: Region,
    clusters: Vec<ProtectedCluster>,
    lifecycle: Lifecycle,
    copy_lifecycle: Lifecycle,
}

fn parse<T: std::str::FromStr<Err = crate::ids::IdError>>(s: &str) -> Result<T> {
    s.parse::<T>().map_err(Error::Id)
}

impl Stack {
    /// Adds a cross-region backup under `name` (used for the resource names and the default
    /// vault, role and plan names; at most 30 letters, digits and hyphens). Everything that
    /// can be checked without AWS is checked here: the regions (R18), the keys' regions and
    /// account (R11, R23), the role policy (R15), and at least one cluster.
    ///
    /// Resources: `<name>-key` (unless existing keys), `<name>-role`,
    /// `<name>-destination-vault`, `<name>-source-vault`, `<name>-plan`, `<name>-selection`.
    /// Deploy makes the key first, the destination vault before the source vault, both
    /// vaults and the role before the plan (R13), and the selection last; teardown goes
    /// selection, plan, source vault, destination vault, role (inline policy first), key
    /// (replica first, R23).
    pub fn add_cross_region_backup(
        &mut self,
        name: &str,
        account: &Account,
        backup: CrossRegionBackup,
    ) -> Result<BackupHandles> {
        let definition = |problem: String| Error::Definition {
            stack: self.name().to_owned(),
            problem,
        };
        self.check_group_name(
            "cross-region backup (it names vaults, a role and a plan)",
            name,
            30,
        )?;
        let Some(first) = backup.clusters.first().cloned() else {
            return Err(definition(format!(
                "cross-region backup `{name}` protects no cluster: add one with `.cluster(..)`; the role is scoped to the clusters it names (R15)"
            )));
        };
        let (src, dst) = (&backup.source_region, &backup.destination_region);
        let account_id = account.id();
        let source_vault = backup
            .source_vault
            .clone()
            .unwrap_or(VaultChoice::Create(parse(&format!("{name}-source"))?));
        let destination_vault = backup
            .destination_vault
            .clone()
            .unwrap_or(VaultChoice::Create(parse(&format!("{name}-destination"))?));
        let vault_name = |v: &VaultChoice| match v {
            VaultChoice::Create(n) | VaultChoice::Existing(n) => n.clone(),
        };
        let placeholder = |region: &Region| -> Result<KeyArn> {
            parse(&format!(
                "arn:{}:kms:{region}:{account_id}:key/mrk-00000000000000000000000000000000",
                region.partition()
            ))
        };
        // The role is checked first, with the keys it will name (placeholders for a key the
        // stack makes): two regions (R18), keys in their vaults' regions and account (R11,
        // R23), the policy (R15). Nothing is added to the stack if it fails.
        let template_keys = match &backup.keys {
            KeyStrategy::NewMultiRegion(_) => (placeholder(src)?, placeholder(dst)?),
            KeyStrategy::Existing {
                source,
                destination,
            } => (source.clone(), destination.clone()),
        };
        let role_template = BackupRole::builder()
            .account(account_id)
            .source_region(src.clone())
            .destination_region(dst.clone())
            .cluster(first.cluster.clone())
            .restore_names(first.restore_names.clone())
            .subnet_group(first.subnet_group.clone())
            .parameter_group(first.parameter_group.clone())
            .source_vault(vault_name(&source_vault))
            .destination_vault(vault_name(&destination_vault))
            .primary_key(template_keys.0)
            .replica_key(template_keys.1)
            .more_clusters(backup.clusters[1..].to_vec())
            .select_by_tag(backup.tag.is_some())
            .security_groups(first.security_groups.clone())
            .recovery_site(first.recovery_site.clone())
            .build();
        let role_name = match &backup.role_name {
            Some(n) => n.clone(),
            None => parse(&format!("{name}-backup"))?,
        };
        let role = BackupRoleResource::new(account, role_name, &role_template)?;
        // The keys: made by the stack, or named.
        let (key_handle, source_key, destination_key) = match &backup.keys {
            KeyStrategy::NewMultiRegion(key) => {
                // The key of the vaults: an account it grants may use it through AWS Backup
                // as well as RDS (R11).
                let key = match key {
                    Some(k) => k.clone().for_backup_vaults(),
                    None => ShareableKey::new()
                        .alias(format!("{name}-backup"))
                        .description(format!(
                            "snapshift: AWS Backup vault key of {name} ({src} to {dst})"
                        ))
                        .multi_region(true)
                        .replica_region(dst.clone())
                        .backup_vaults(true)
                        .build()
                        .map_err(|e| Error::key(name, e))?,
                };
                if !key.is_multi_region() || !key.replica_regions().contains(dst) {
                    return Err(definition(format!(
                        "the key of `{name}` must be multi-region with a replica in {dst}: the destination vault's key encrypts the copies (R11, R12)"
                    )));
                }
                let handle = self.add(
                    &format!("{name}-key"),
                    KeyResource::new(account, src.clone(), key)?,
                )?;
                (
                    Some(handle.clone()),
                    VaultKey::Primary(handle.clone()),
                    VaultKey::Replica(handle),
                )
            }
            KeyStrategy::Existing {
                source,
                destination,
            } => (
                None,
                VaultKey::Key(source.clone()),
                VaultKey::Key(destination.clone()),
            ),
        };
        let role = match &key_handle {
            Some(key) => role.with_key(key),
            None => role,
        };
        // The vaults, with the R11 warnings.
        let dst_vault = match &destination_vault {
            VaultChoice::Create(n) => {
                VaultResource::new(account, dst.clone(), n.clone(), destination_key)
            }
            VaultChoice::Existing(n) => VaultResource::existing(account, dst.clone(), n.clone()),
        };
        let mut dst_vault = dst_vault;
        if dst_vault.is_aws_managed() {
            let vault = dst_vault.name().clone();
            dst_vault = dst_vault.warn(
                format!(
                    "the destination vault {vault} is under alias/aws/backup: the copies land under alias/aws/rds of {dst}, an AWS managed key that cannot be shared with another account (R11, R1)"
                ),
                Some(Rule::R11),
            );
        }
        if let (Some(key), VaultChoice::Existing(n)) = (&key_handle, &destination_vault) {
            dst_vault = dst_vault.warn(
                format!(
                    "the replica of `{}` in {dst} is not the key of the destination vault {n}: a replica alone changes nothing, the copies take the vault's key (R11)",
                    key.name()
                ),
                Some(Rule::R11),
            );
        }
        let src_vault = match &source_vault {
            VaultChoice::Create(n) => {
                VaultResource::new(account, src.clone(), n.clone(), source_key)
            }
            VaultChoice::Existing(n) => VaultResource::existing(account, src.clone(), n.clone()),
        };
        let src_vault = match &backup.tag {
            Some((k, v)) => src_vault.warn(
                format!(
                    "clusters are selected by tag {k}={v}, but the role covers only {}: a tagged cluster outside that list fails its backup with an access error (R15)",
                    backup
                        .clusters
                        .iter()
                        .map(|c| c.cluster.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(Rule::R15),
            ),
            None => src_vault,
        };
        let dst_vault_arn = dst_vault.arn();
        // Entries in teardown order, reversed: the role goes after the vaults, so a vault
        // that still holds recovery points stops teardown before the role and keys they need.
        let mut role_options = Options::new();
        if let Some(key) = &key_handle {
            role_options = role_options.depends_on(key);
        }
        let role_handle = self.add_with(&format!("{name}-role"), role, role_options)?;
        let mut options = Options::new();
        if let Some(key) = &key_handle {
            options = options.depends_on(key);
        }
        let dst_handle = self.add_with(&format!("{name}-destination-vault"), dst_vault, options)?;
        let src_handle = self.add_with(
            &format!("{name}-source-vault"),
            src_vault,
            Options::new().depends_on(&dst_handle),
        )?;
        let plan_name = match &backup.plan_name {
            Some(n) => n.clone(),
            None => parse(name)?,
        };
        let plan = PlanDefinition {
            name: plan_name,
            rule_name: parse::<BackupRuleName>(&format!("{name}-cross-region"))?,
            target_vault: vault_name(&source_vault),
            schedule: backup.schedule.clone(),
            windows: backup.windows,
            lifecycle: backup.lifecycle,
            copies: vec![CopyDefinition {
                destination_vault_arn: dst_vault_arn,
                lifecycle: backup.copy_lifecycle,
            }],
        };
        let plan_handle = self.add_with(
            &format!("{name}-plan"),
            BackupPlanResource::new(account, src.clone(), plan, &[&dst_handle, &src_handle]),
            Options::new()
                .depends_on(&role_handle)
                .depends_on(&src_handle)
                .depends_on(&dst_handle),
        )?;
        let selector = match &backup.tag {
            Some((key, value)) => Selector::Tag {
                key: key.clone(),
                value: value.clone(),
            },
            None => Selector::Resources(
                backup
                    .clusters
                    .iter()
                    .map(|c| {
                        format!(
                            "arn:{}:rds:{src}:{account_id}:cluster:{}",
                            src.partition(),
                            c.cluster
                        )
                    })
                    .collect(),
            ),
        };
        let selection = SelectionDefinition {
            name: parse::<SelectionName>(name)?,
            selector,
        };
        let selection_handle = self.add_with(
            &format!("{name}-selection"),
            BackupSelectionResource::new(
                account,
                src.clone(),
                selection,
                &plan_handle,
                &role_handle,
            ),
            Options::new()
                .depends_on(&plan_handle)
                .depends_on(&role_handle),
        )?;
        Ok(BackupHandles {
            key: key_handle,
            destination_vault: dst_handle,
            source_vault: src_handle,
            role: role_handle,
            plan: plan_handle,
            selection: selection_handle,
            name: name.to_owned(),
            account: account.clone(),
            source_region: src.clone(),
            destination_region: dst.clone(),
            clusters: backup.clusters.clone(),
            lifecycle: backup.lifecycle,
            copy_lifecycle: backup.copy_lifecycle,
        })
    }
}
