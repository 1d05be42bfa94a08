//! Snapshot migration: move an encrypted DB or cluster snapshot to another account (R1 to R10),
//! or re-encrypt it under a new key within one account.
//!
//! ```no_run
//! # async fn run(source: snapshift::aws::Account, target: snapshift::aws::Account) -> snapshift::error::Result<()> {
//! use snapshift::{engine::Stack, key::ShareableKey, migration::SnapshotMigration, resources::KeyResource};
//!
//! let mut stack = Stack::new("move-orders")?;
//! let key = ShareableKey::new().alias("orders-share").grant_account(target.id()).build().map_err(|e| snapshift::error::Error::key("key", e))?;
//! let key = stack.add("share-key", KeyResource::new(&source, "ap-northeast-1".parse()?, key)?)?;
//! let migration = SnapshotMigration::new(&source, "arn:aws:rds:ap-northeast-1:111111111111:cluster-snapshot:orders-2026-11-23".parse()?)
//!     .via(&key)
//!     .to(&target);
//! let handles = stack.add_migration("orders", migration)?;
//! println!("{}", stack.preview().await?.render());
//! stack.deploy().await?;
//! println!("{:?}", stack.outputs(&handles.target)?);
//! stack.teardown().await?; // unshare, delete the intermediate copy, schedule the key's deletion
//! # Ok(())
//! # }
//! ```
//!
//! # What it plans, from the live source
//! - An unencrypted manual snapshot, or one under a customer managed key whose policy already
//!   grants the target (R2): shared directly.
//! - Under `alias/aws/rds` (R1), under a key that does not grant the target (R2), or
//!   automated (R3): first a re-encrypting copy under the shareable key, then shared.
//! - In the target account: a copy from the shared snapshot's ARN under the target's key
//!   (`alias/aws/rds` by default, R7), kept at teardown; optionally a restore from it (R9,
//!   R10).
//! - Teardown: the share removed, the intermediate copy deleted, then the key scheduled for
//!   deletion, only once the target copy is available (R7, R8). The source is never changed.

mod resources;

pub use resources::{
    KeyAccess, KeyAccessOutputs, QuotaCheck, QuotaOutputs, ReencryptCopy, Release, ReleaseOutputs,
    Restore, Share, SnapshotOutputs, SourceCopy, TargetCopy,
};
pub(crate) use resources::{QuotaItem, QuotaRegistry};

use crate::{
    aws::Account,
    engine::{Handle, Options, Stack},
    error::{Error, Result},
    ids::{IdError, KeyRef, Region, SnapshotId, SnapshotKind, SnapshotRef},
    key::KeyError,
    resources::KeyResource,
    rules::Rule,
};

/// The key of the snapshot that stays in the target account (R7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TargetKey {
    /// The target account's AWS managed key `alias/aws/rds` (the default).
    #[default]
    AwsManaged,
    /// A customer managed key of the target account.
    Key(KeyRef),
    /// A key of the same stack, in the target account and region: the target copy is made
    /// after it, and teardown knows the copy is encrypted under it (R8).
    Stack(Handle<KeyResource>),
}

impl TargetKey {
    /// The key as plans name it, and as AWS takes it when it is not a key of the stack.
    pub(crate) fn reference(&self) -> String {
        match self {
            TargetKey::AwsManaged => "alias/aws/rds".into(),
            TargetKey::Key(k) => k.to_string(),
            TargetKey::Stack(h) => format!("the key of `{}`", h.name()),
        }
    }

    /// The key resource of the stack, when the key is one.
    pub(crate) fn stack_key(&self) -> Option<&Handle<KeyResource>> {
        match self {
            TargetKey::Stack(h) => Some(h),
            _ => None,
        }
    }
}

/// A restore in the target account from the migrated snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreSpec {
    /// The new cluster's (or instance's) identifier.
    pub identifier: String,
    /// The DB subnet group.
    pub subnet_group: Option<crate::ids::SubnetGroupName>,
    /// The instance class (DB snapshots).
    pub instance_class: Option<String>,
    /// VPC security group ids.
    pub security_groups: Vec<String>,
    /// Turn on RDS-managed master passwords after the restore (R10).
    pub manage_master_user_password: bool,
}

impl RestoreSpec {
    /// A restore named `identifier` (1 to 63 letters, digits and hyphens).
    pub fn new(identifier: &str) -> Result<RestoreSpec> {
        let id: crate::ids::ClusterId = identifier.parse()?;
        Ok(RestoreSpec {
            identifier: id.to_string(),
            subnet_group: None,
            instance_class: None,
            security_groups: Vec::new(),
            manage_master_user_password: true,
        })
    }

    /// The DB subnet group.
    #[must_use]
    pub fn subnet_group(mut self, group: crate::ids::SubnetGroupName) -> RestoreSpec {
        self.subnet_group = Some(group);
        self
    }

    /// The instance class, for a DB snapshot.
    #[must_use]
    pub fn instance_class(mut self, class: &str) -> RestoreSpec {
        self.instance_class = Some(class.to_owned());
        self
    }

    /// Adds a VPC security group (`sg-...`).
    #[must_use]
    pub fn security_group(mut self, id: &str) -> RestoreSpec {
        self.security_groups.push(id.to_owned());
        self
    }

    /// Whether to turn on RDS-managed master passwords after the restore (default yes, R10).
    #[must_use]
    pub fn manage_master_user_password(mut self, on: bool) -> RestoreSpec {
        self.manage_master_user_password = on;
        self
    }
}

/// A snapshot to move to another account, or to re-encrypt in its own.
#[derive(Debug, Clone)]
#[must_use = "add it to a stack with `Stack::add_migration`"]
pub struct SnapshotMigration {
    source_account: Account,
    source: SnapshotRef,
    region: Option<Region>,
    key: Option<Handle<KeyResource>>,
    target: Option<Account>,
    target_key: TargetKey,
    target_id: Option<String>,
    copy_tags: bool,
    option_group: Option<crate::ids::OptionGroupName>,
    restore: Option<RestoreSpec>,
    keep_target: bool,
    delete_source: bool,
    release_as_you_go: bool,
}

impl SnapshotMigration {
    /// Moves `snapshot` of `source_account` (by ARN, or `snapshot:`/`cluster-snapshot:` and
    /// [`region`](Self::region)).
    pub fn new(source_account: &Account, snapshot: SnapshotRef) -> SnapshotMigration {
        SnapshotMigration {
            source_account: source_account.clone(),
            region: snapshot.region().cloned(),
            source: snapshot,
            key: None,
            target: None,
            target_key: TargetKey::AwsManaged,
            target_id: None,
            copy_tags: true,
            option_group: None,
            restore: None,
            keep_target: true,
            delete_source: false,
            release_as_you_go: false,
        }
    }

    /// Re-encrypts `snapshot` under a new key in its own account: a copy under the key given
    /// with [`with_key`](Self::with_key). The original stays unless
    /// [`delete_source`](Self::delete_source) says otherwise.
    pub fn reencrypt(account: &Account, snapshot: SnapshotRef) -> SnapshotMigration {
        SnapshotMigration::new(account, snapshot)
    }

    /// The region of the snapshot, when it is not given by ARN (a region that differs from
    /// the ARN's is refused when the migration is added to a stack).
    pub fn region(mut self, region: Region) -> SnapshotMigration {
        self.region = Some(region);
        self
    }

    /// The region, checked against the snapshot's ARN.
    fn checked_region(&self, stack: &str, name: &str) -> Result<Region> {
        let region = self.region.clone().ok_or_else(|| {
            invalid(
                stack,
                format!("`{name}`: give the source snapshot by ARN or set .region(...)"),
            )
        })?;
        match self.source.region() {
            Some(arn_region) if arn_region != &region => Err(invalid(
                stack,
                format!(
                    "`{name}`: {} is in {arn_region}, not in {region}",
                    self.source
                ),
            )),
            _ => Ok(region),
        }
    }

    /// The shareable key that re-encrypts the snapshot when it cannot be shared as it is (R1,
    /// R2, R3).
    pub fn via(mut self, key: &Handle<KeyResource>) -> SnapshotMigration {
        self.key = Some(key.clone());
        self
    }

    /// The key to re-encrypt under (same-account re-encryption).
    pub fn with_key(self, key: &Handle<KeyResource>) -> SnapshotMigration {
        self.via(key)
    }

    /// The account to move the snapshot to.
    pub fn to(mut self, target: &Account) -> SnapshotMigration {
        self.target = Some(target.clone());
        self
    }

    /// The key of the final snapshot in the target account (default `alias/aws/rds` there).
    pub fn target_key(mut self, key: TargetKey) -> SnapshotMigration {
        self.target_key = key;
        self
    }

    /// The final snapshot's identifier (default: the source's).
    pub fn target_id(mut self, id: &str) -> SnapshotMigration {
        self.target_id = Some(id.to_owned());
        self
    }

    /// Whether copies carry the source's tags (default yes; tags with the reserved `aws:`
    /// prefix cannot be copied, R22).
    pub fn copy_tags(mut self, copy: bool) -> SnapshotMigration {
        self.copy_tags = copy;
        self
    }

    /// A target option group for a DB snapshot that needs one (R22).
    pub fn option_group(mut self, group: crate::ids::OptionGroupName) -> SnapshotMigration {
        self.option_group = Some(group);
        self
    }

    /// Restores a cluster or instance in the target account from the final snapshot.
    pub fn restore(mut self, spec: RestoreSpec) -> SnapshotMigration {
        self.restore = Some(spec);
        self
    }

    /// Whether teardown keeps the final snapshot (default yes).
    pub fn keep_target(mut self, keep: bool) -> SnapshotMigration {
        self.keep_target = keep;
        self
    }

    /// Removes the share and deletes the intermediate copy during the deploy, as soon as the
    /// target holds its own available copy, instead of at teardown (R25: the intermediate
    /// copy counts against the source account's manual-snapshot quota while it exists). Off
    /// by default; the preview says which. The shareable key is scheduled for deletion only at
    /// teardown either way (R8).
    pub fn release_as_you_go(mut self, release: bool) -> SnapshotMigration {
        self.release_as_you_go = release;
        self
    }

    /// Same-account re-encryption: delete the original once the new copy is available. Only
    /// manual snapshots; off unless asked.
    pub fn delete_source(mut self, delete: bool) -> SnapshotMigration {
        self.delete_source = delete;
        self
    }
}

/// The resources one migration added to a stack.
#[derive(Debug, Clone)]
pub struct MigrationHandles {
    /// The re-encrypting copy in the source account (or, when none is needed, the source).
    pub source_copy: Handle<SourceCopy>,
    /// The share with the target account.
    pub share: Handle<Share>,
    /// The final snapshot in the target account.
    pub target: Handle<TargetCopy>,
    /// The restore, if asked for.
    pub restore: Option<Handle<Restore>>,
    /// The quota preflight of the source and target accounts (R25).
    pub quota: Handle<QuotaCheck>,
    /// The release of the share and the intermediate copy once the target holds its copy,
    /// with [`SnapshotMigration::release_as_you_go`] (R25).
    pub release: Option<Handle<Release>>,
}

/// A migration that cannot be set up: nothing has been called.
fn invalid(name: &str, problem: String) -> Error {
    Error::Definition {
        stack: name.to_owned(),
        problem,
    }
}

/// A new snapshot identifier of at most 63 characters for clusters: `base` and `suffix`.
pub(crate) fn derived_id(
    base: &SnapshotId,
    suffix: &str,
    kind: SnapshotKind,
) -> std::result::Result<SnapshotId, IdError> {
    let max: usize = match kind {
        SnapshotKind::Cluster => 63,
        SnapshotKind::Db => 255,
    };
    let base = base
        .as_str()
        .trim_start_matches("rds:")
        .trim_start_matches("awsbackup:");
    let room = max.saturating_sub(suffix.len());
    let stem: String = base.chars().take(room).collect();
    SnapshotId::for_new_snapshot(&format!("{}{suffix}", stem.trim_end_matches('-')), kind)
}

impl Stack {
    /// Adds the resources of a cross-account migration, named `<name>-quota` (the quota
    /// preflight, R25), `<name>-key-access` (a check of the target's own IAM, R31),
    /// `<name>-copy`, `<name>-share`, `<name>-target`, `<name>-release` (with
    /// [`SnapshotMigration::release_as_you_go`]) and `<name>-restore`. Checks here, before any AWS call: a source
    /// region, a key (`via`), a target account other than the source, and a key that grants
    /// the target (R2).
    pub fn add_migration(&mut self, name: &str, m: SnapshotMigration) -> Result<MigrationHandles> {
        let region = m.checked_region(self.name(), name)?;
        let key = m.key.clone().ok_or_else(|| {
            invalid(
                self.name(),
                format!("migration `{name}`: name the shareable key with .via(&key) (R2)"),
            )
        })?;
        let target = m.target.clone().ok_or_else(|| {
            invalid(
                self.name(),
                format!("migration `{name}`: name the target account with .to(&account)"),
            )
        })?;
        if target.id() == m.source_account.id() {
            return Err(invalid(
                self.name(),
                format!("migration `{name}`: the target account {} is the source account; use SnapshotMigration::reencrypt for a same-account re-encryption", target.id()),
            ));
        }
        if let Some(account) = m.source.account() {
            if account != m.source_account.id() {
                return Err(invalid(self.name(), format!("migration `{name}`: {} belongs to account {account}, not to the source account {}", m.source, m.source_account.id())));
            }
        }
        let key_resource = self.resource(&key).ok_or_else(|| {
            invalid(
                self.name(),
                format!("migration `{name}`: the key is not in this stack"),
            )
        })?;
        if !key_resource.key().granted_accounts().contains(&target.id()) {
            return Err(Error::key(
                &format!("{name}-copy"),
                KeyError::NotGranted {
                    account: target.id(),
                },
            ));
        }
        if crate::engine::Resource::account(key_resource).id() != m.source_account.id() {
            return Err(invalid(
                self.name(),
                format!(
                    "migration `{name}`: the shareable key must live in the source account {} (R2)",
                    m.source_account.id()
                ),
            ));
        }
        check_key_region(self.name(), name, key_resource, &region)?;
        let kind = m.source.kind();
        // One intermediate copy per target: two migrations of one source do not collide.
        let copy_id = derived_id(m.source.id(), &format!("-share-{}", target.id()), kind)?;
        let target_id = match &m.target_id {
            Some(id) => SnapshotId::for_new_snapshot(id, kind)?,
            None => derived_id(m.source.id(), "", kind)?,
        };
        // R25: room for the intermediate copy and the target copy, before the first change.
        let check = QuotaCheck::new(
            &m.source_account,
            region.clone(),
            std::slice::from_ref(&target),
            m.release_as_you_go,
            self.quota_registry(),
        );
        let cover = check.cover();
        let quota = self.add(&format!("{name}-quota"), check)?;
        // R31: the target's own IAM is checked before the long copy starts.
        let access = self.add_with(
            &format!("{name}-key-access"),
            KeyAccess::new(&target, region.clone(), key.clone()),
            Options::new().depends_on(&key),
        )?;
        let resource = SourceCopy::new(
            &m.source_account,
            region.clone(),
            m.source.clone(),
            key.clone(),
            vec![target.id()],
            copy_id,
            m.copy_tags,
        )
        .releasing(m.release_as_you_go);
        let flags = resource.flags();
        let source_copy = self.add_with(
            &format!("{name}-copy"),
            resource,
            Options::new().depends_on(&key).depends_on(&access),
        )?;
        let share = self.add_with(
            &format!("{name}-share"),
            Share::new(
                &m.source_account,
                region.clone(),
                kind,
                source_copy.clone(),
                target.id(),
            ),
            Options::new().depends_on(&source_copy),
        )?;
        let mut options = Options::new().depends_on(&share);
        if let Some(target_key) = m.target_key.stack_key() {
            let resource = self.resource(target_key).ok_or_else(|| {
                invalid(
                    self.name(),
                    format!("migration `{name}`: the target key is not in this stack"),
                )
            })?;
            let (account, home) = (
                crate::engine::Resource::account(resource).id(),
                crate::engine::Resource::region(resource),
            );
            if account != target.id() || home != &region {
                return Err(invalid(
                    self.name(),
                    format!(
                        "migration `{name}`: the target key `{}` lives in {account} {home}; the target copy is made in {} {region} and is encrypted under a key of its own account and region (R7)",
                        target_key.name(),
                        target.id()
                    ),
                ));
            }
            options = options.depends_on(target_key);
        }
        if m.keep_target {
            options = options.retain();
        }
        let resource = TargetCopy::new(
            &target,
            region.clone(),
            kind,
            share.clone(),
            target_id,
            m.target_key.reference(),
            m.copy_tags,
            m.option_group.clone(),
        )
        .key_of_stack(m.target_key.stack_key().cloned());
        let target_made = resource.will_make();
        let target_handle = self.add_with(&format!("{name}-target"), resource, options)?;
        let release = if m.release_as_you_go {
            Some(self.add_with(
                &format!("{name}-release"),
                Release::new(
                    &m.source_account,
                    region.clone(),
                    kind,
                    source_copy.clone(),
                    vec![(target.id(), share.clone())],
                    vec![target_handle.clone()],
                ),
                Options::new().depends_on(&target_handle),
            )?)
        } else {
            None
        };
        cover(vec![QuotaItem {
            source: m.source_account.id(),
            region: region.clone(),
            kind,
            copy: source_copy.clone(),
            flags,
            targets: vec![(target.id(), target_handle.clone(), target_made)],
        }]);
        let restore = match m.restore {
            Some(spec) => Some(self.add_with(
                &format!("{name}-restore"),
                Restore::new(&target, region, kind, target_handle.clone(), spec),
                Options::new().depends_on(&target_handle).retain(),
            )?),
            None => None,
        };
        Ok(MigrationHandles {
            source_copy,
            share,
            target: target_handle,
            restore,
            quota,
            release,
        })
    }

    /// Adds a same-account re-encryption, named `<name>`: a copy of the snapshot under the
    /// key, kept at teardown; the original is deleted only with `delete_source(true)`. The
    /// copy still needs its key: keep the key too (`Options::retain`), or teardown refuses to
    /// schedule its deletion (R8).
    pub fn add_reencryption(
        &mut self,
        name: &str,
        m: SnapshotMigration,
    ) -> Result<Handle<ReencryptCopy>> {
        let region = m.checked_region(self.name(), name)?;
        if m.delete_source && !m.keep_target {
            return Err(invalid(
                self.name(),
                format!("re-encryption `{name}`: delete_source(true) with keep_target(false) would lose the data at teardown"),
            ));
        }
        let key = m.key.clone().ok_or_else(|| {
            invalid(
                self.name(),
                format!("re-encryption `{name}`: name the new key with .with_key(&key)"),
            )
        })?;
        if m.target
            .as_ref()
            .is_some_and(|t| t.id() != m.source_account.id())
        {
            return Err(invalid(
                self.name(),
                format!(
                    "re-encryption `{name}` stays in its account; use add_migration to move it"
                ),
            ));
        }
        // The snapshot named by ARN must be the account's own: otherwise the copy (and with
        // delete_source, the deletion) would act on the account's snapshot of the same name.
        if let Some(account) = m.source.account() {
            if account != m.source_account.id() {
                return Err(invalid(
                    self.name(),
                    format!(
                        "re-encryption `{name}`: {} belongs to account {account}, not to account {}; nothing was changed",
                        m.source,
                        m.source_account.id()
                    ),
                ));
            }
        }
        let key_resource = self.resource(&key).ok_or_else(|| {
            invalid(
                self.name(),
                format!("re-encryption `{name}`: the key is not in this stack"),
            )
        })?;
        if crate::engine::Resource::account(key_resource).id() != m.source_account.id() {
            return Err(invalid(
                self.name(),
                format!(
                    "re-encryption `{name}`: the key lives in account {}, the snapshot in {}: a copy is encrypted under a key of its own account (R3)",
                    crate::engine::Resource::account(key_resource).id(),
                    m.source_account.id()
                ),
            ));
        }
        check_key_region(self.name(), name, key_resource, &region)?;
        let kind = m.source.kind();
        let target_id = match &m.target_id {
            Some(id) => SnapshotId::for_new_snapshot(id, kind)?,
            None => derived_id(m.source.id(), "-reencrypted", kind)?,
        };
        let mut options = Options::new().depends_on(&key);
        if m.keep_target {
            options = options.retain();
        }
        self.add_with(
            name,
            ReencryptCopy::new(
                &m.source_account,
                region,
                m.source.clone(),
                key,
                target_id,
                m.copy_tags,
                m.delete_source,
            ),
            options,
        )
    }
}

/// A copy is encrypted under a key of its own region (R3): the key must be in the
/// snapshot's region.
fn check_key_region(stack: &str, name: &str, key: &KeyResource, region: &Region) -> Result<()> {
    let home = crate::engine::Resource::region(key);
    if home == region {
        return Ok(());
    }
    Err(invalid(
        stack,
        format!(
            "`{name}`: the snapshot is in {region}, the key in {home}: a copy is encrypted under a key of its own region (R3); nothing was changed"
        ),
    ))
}

/// The rule a re-encrypting copy answers, for plans.
pub(crate) fn copy_reason(rule: Rule) -> &'static str {
    match rule {
        Rule::R1 => "source uses alias/aws/rds, which cannot be shared: re-encrypting copy under the shareable key",
        Rule::R2 => "source key does not grant the target: re-encrypting copy under the shareable key",
        Rule::R3 => "source is an automated snapshot, which cannot be shared: copy to a manual one",
        _ => "re-encrypting copy under the shareable key",
    }
}
