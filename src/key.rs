//! The shareable key: a customer managed KMS key whose policy lets chosen accounts use it for
//! snapshots (R2), with its administrators, replicas (R12) and deletion window (R23).
//!
//! ```
//! use snapshift::key::ShareableKey;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = ShareableKey::new()
//!     .alias("snapshot-share")
//!     .admin("arn:aws:iam::111111111111:role/admin".parse()?)
//!     .grant_account("999999999999".parse()?)
//!     .build()?;
//! // In Tokyo: the granted account may use the key through RDS in that region only (R2).
//! let policy = key.key_policy_in_region(&"ap-northeast-1".parse()?, "111111111111".parse()?)?;
//! assert_eq!(policy.statements().len(), 5);
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{
    ids::{AccountId, AliasName, IdError, Partition, PrincipalArn, Region},
    policy::{
        action_matches, actions, AwsPrincipal, ConditionValue, Effect, PolicyDocument, PolicyError,
        Statement,
    },
    rules::{limits, Rule},
    tags::{TagError, Tags},
};

/// The `Id` of every key policy snapshift writes: the one the KMS console writes, so the
/// policy reads the same as one made by hand.
pub const KEY_POLICY_ID: &str = "key-consolepolicy-3";

/// The statement names of a shareable key policy, also used to explain them in the docs.
pub mod sid {
    /// The account root may do everything, which enables IAM policies and keeps the key
    /// manageable (R4).
    pub const ROOT: &str = "Enable IAM User Permissions";
    /// Key administrators: administrative actions only (R2).
    pub const ADMINS: &str = "Allow access for Key Administrators";
    /// Granted accounts: cryptographic actions, through RDS (or AWS Backup) only (R2).
    pub const USE: &str = "Allow use of the key";
    /// Granted accounts: grants for AWS resources only, through RDS (or AWS Backup) (R2).
    pub const GRANTS: &str = "Allow attachment of persistent resources";
    /// Granted accounts: the key's metadata (`kms:DescribeKey`), directly (R2, R31).
    pub const DESCRIBE: &str = "Allow granted accounts to describe the key";
}

/// The service a granted account uses a shareable key through: RDS, whose copies and
/// restores of a shared snapshot use the key (R2, R7, R9).
const RDS_SERVICE: &str = "rds";

/// The service a granted account may also use the key of AWS Backup vaults through (R11).
const BACKUP_SERVICE: &str = "backup";

/// The value of `kms:ViaService` for `service` called in `region`, such as
/// `rds.ap-northeast-1.amazonaws.com`. The same form is written in every partition.
fn via_service(service: &str, region: &str) -> String {
    format!("{service}.{region}.amazonaws.com")
}

/// How long a key waits in `PendingDeletion` before KMS deletes it: 7 to 30 days (R23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct DeletionWindow(u32);

impl DeletionWindow {
    /// A window of `days`, which must be 7 to 30 (R23).
    pub fn days(days: u32) -> Result<DeletionWindow, KeyError> {
        if (limits::MIN_KEY_DELETION_DAYS..=limits::MAX_KEY_DELETION_DAYS).contains(&days) {
            Ok(DeletionWindow(days))
        } else {
            Err(KeyError::DeletionWindow { days })
        }
    }

    /// The window in days.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for DeletionWindow {
    /// 30 days, as KMS defaults (R23).
    fn default() -> DeletionWindow {
        DeletionWindow(limits::DEFAULT_KEY_DELETION_DAYS)
    }
}

impl TryFrom<u32> for DeletionWindow {
    type Error = KeyError;

    fn try_from(days: u32) -> Result<DeletionWindow, KeyError> {
        DeletionWindow::days(days)
    }
}

impl From<DeletionWindow> for u32 {
    fn from(w: DeletionWindow) -> u32 {
        w.0
    }
}

/// A shareable key that [`ShareableKeyBuilder::build`] or [`ShareableKey::key_policy`] refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The alias is not a valid name for a new alias.
    #[error("key alias: {0}")]
    Alias(IdError),
    /// The deletion window is outside 7 to 30 days (R23).
    #[error("a key deletion window of {days} days is outside 7 to 30 days (R23)")]
    DeletionWindow {
        /// The days given.
        days: u32,
    },
    /// A replica region without `multi_region(true)` (R12).
    #[error("replica region {region} needs a multi-region key; MultiRegion can only be set when the key is created (R12)")]
    ReplicaWithoutMultiRegion {
        /// The replica region.
        region: Region,
    },
    /// The same replica region twice (R12).
    #[error(
        "replica region {region} is named twice; a key has at most one replica per region (R12)"
    )]
    DuplicateReplica {
        /// The repeated region.
        region: Region,
    },
    /// The description is longer than KMS allows.
    #[error("a key description is at most 8192 characters, this one has {len}")]
    Description {
        /// Its length in characters.
        len: usize,
    },
    /// A tag AWS would refuse.
    #[error(transparent)]
    Tag(TagError),
    /// A replica region in another partition than the key's home region (R12).
    #[error("replica region {region} is not in the partition of the key's home region {home}; a replica stays in its key's partition and account (R12)")]
    ReplicaPartition {
        /// The replica region.
        region: Region,
        /// The home region.
        home: Region,
    },
    /// The key's own account is listed as a granted account.
    #[error("account {account} owns the key; grant_account is for other accounts (R2)")]
    GrantToOwner {
        /// The owner account.
        account: AccountId,
    },
    /// An administrator from another account.
    #[error("key administrator {admin} is not in account {owner}, which owns the key (R2)")]
    AdminOutsideOwner {
        /// The administrator.
        admin: PrincipalArn,
        /// The owner account.
        owner: AccountId,
    },
    /// A migration to an account the key does not grant (R2).
    #[error(
        "the shareable key does not grant account {account}; add .grant_account({account}) (R2)"
    )]
    NotGranted {
        /// The target account.
        account: AccountId,
    },
    /// The policy the key would get fails a policy check.
    #[error(transparent)]
    Policy(PolicyError),
}

impl KeyError {
    /// The rule of `docs/rules.md` the error enforces, if any.
    pub fn rule(&self) -> Option<Rule> {
        match self {
            KeyError::DeletionWindow { .. } => Some(Rule::R23),
            KeyError::ReplicaWithoutMultiRegion { .. }
            | KeyError::DuplicateReplica { .. }
            | KeyError::ReplicaPartition { .. } => Some(Rule::R12),
            KeyError::GrantToOwner { .. }
            | KeyError::AdminOutsideOwner { .. }
            | KeyError::NotGranted { .. } => Some(Rule::R2),
            KeyError::Tag(e) => e.rule(),
            KeyError::Policy(e) => e.rule(),
            KeyError::Alias(_) | KeyError::Description { .. } => None,
        }
    }
}

/// A customer managed, symmetric KMS key for sharing snapshots (R2).
///
/// Made with [`ShareableKey::new`], a builder; [`ShareableKey::key_policy`] writes its policy.
/// It deserializes through the same checks as [`ShareableKeyBuilder::build`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ShareableKeyRepr")]
pub struct ShareableKey {
    alias: Option<AliasName>,
    description: String,
    admins: Vec<PrincipalArn>,
    granted: Vec<AccountId>,
    tags: Tags,
    multi_region: bool,
    replica_regions: Vec<Region>,
    deletion_window: DeletionWindow,
    backup_vaults: bool,
}

/// The unchecked shape of [`ShareableKey`], for deserializing through the builder.
#[derive(Deserialize)]
struct ShareableKeyRepr {
    alias: Option<String>,
    description: String,
    admins: Vec<PrincipalArn>,
    granted: Vec<AccountId>,
    tags: std::collections::BTreeMap<String, String>,
    multi_region: bool,
    replica_regions: Vec<Region>,
    deletion_window: u32,
    #[serde(default)]
    backup_vaults: bool,
}

impl TryFrom<ShareableKeyRepr> for ShareableKey {
    type Error = KeyError;

    fn try_from(r: ShareableKeyRepr) -> Result<ShareableKey, KeyError> {
        let mut b = ShareableKey::new()
            .description(r.description)
            .multi_region(r.multi_region)
            .backup_vaults(r.backup_vaults)
            .deletion_window_days(r.deletion_window);
        if let Some(alias) = r.alias {
            b = b.alias(alias);
        }
        for admin in r.admins {
            b = b.admin(admin);
        }
        for account in r.granted {
            b = b.grant_account(account);
        }
        for (k, v) in r.tags {
            b = b.tag(k, v);
        }
        for region in r.replica_regions {
            b = b.replica_region(region);
        }
        b.build()
    }
}

impl ShareableKey {
    /// Starts a builder: no alias, no admins, no granted accounts, single-region, 30-day
    /// deletion window.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> ShareableKeyBuilder {
        ShareableKeyBuilder::default()
    }

    /// The alias, if any.
    pub fn alias(&self) -> Option<&AliasName> {
        self.alias.as_ref()
    }

    /// The key description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The key administrators.
    pub fn admins(&self) -> &[PrincipalArn] {
        &self.admins
    }

    /// The accounts that may use the key.
    pub fn granted_accounts(&self) -> &[AccountId] {
        &self.granted
    }

    /// The user's tags.
    pub fn tags(&self) -> &Tags {
        &self.tags
    }

    /// Whether the key is multi-region (R12).
    pub fn is_multi_region(&self) -> bool {
        self.multi_region
    }

    /// The regions that get a replica (R12).
    pub fn replica_regions(&self) -> &[Region] {
        &self.replica_regions
    }

    /// The deletion window used at teardown (R23).
    pub fn deletion_window(&self) -> DeletionWindow {
        self.deletion_window
    }

    /// Whether the key encrypts AWS Backup vaults, so that granted accounts may use it through
    /// AWS Backup as well as RDS (R11).
    pub fn backs_backup_vaults(&self) -> bool {
        self.backup_vaults
    }

    /// The same key, marked as the key of AWS Backup vaults (a cross-region backup does this
    /// to the key it is given).
    pub(crate) fn for_backup_vaults(mut self) -> ShareableKey {
        self.backup_vaults = true;
        self
    }

    /// The services granted accounts may use the key through.
    fn services(&self) -> Vec<&'static str> {
        let mut services = vec![RDS_SERVICE];
        if self.backup_vaults {
            services.push(BACKUP_SERVICE);
        }
        services
    }

    /// The key policy for the key in `owner`'s account in the `aws` partition, for a home
    /// region not known yet; see [`key_policy_in`](Self::key_policy_in).
    pub fn key_policy(&self, owner: AccountId) -> Result<PolicyDocument, KeyError> {
        self.key_policy_in(Partition::Aws, owner)
    }

    /// The key policy for the key in `owner`'s account, for a home region not known yet: as
    /// [`key_policy_in_region`](Self::key_policy_in_region), but granted accounts may use the
    /// key through RDS (and AWS Backup) of any region of the partition (`StringLike`
    /// `kms:ViaService` `rds.*.amazonaws.com`). A key lives in one region and is used there,
    /// so prefer `key_policy_in_region`, which [`KeyResource`](crate::resources::KeyResource)
    /// writes.
    pub fn key_policy_in(
        &self,
        partition: Partition,
        owner: AccountId,
    ) -> Result<PolicyDocument, KeyError> {
        self.policy(partition, owner, None)
    }

    /// The key policy for the key in `owner`'s account, with its home region `home` (R2):
    /// 1. the account root may do everything (`kms:*`), which lets IAM policies of the account
    ///    grant use and keeps the policy changeable (R4);
    /// 2. the administrators get the administrative actions, not the cryptographic ones;
    /// 3. each granted account gets the cryptographic actions, only through RDS in a region
    ///    where the key lives (its home region and its replica regions, R12):
    ///    `kms:ViaService` = `rds.<region>.amazonaws.com` for each (and
    ///    `backup.<region>.amazonaws.com` for a key of AWS Backup vaults), and
    ///    `kms:CallerAccount` = the granted accounts;
    /// 4. and `kms:CreateGrant`, `ListGrants`, `RevokeGrant` when the grant is for an AWS
    ///    resource (`kms:GrantIsForAWSResource`), which is how RDS uses the key, with the same
    ///    two conditions;
    /// 5. and `kms:DescribeKey` directly, narrowed by `kms:CallerAccount` alone: metadata, which
    ///    the target account reads before a copy to check that it can use the key (R31).
    ///
    /// With no granted account it is the same-account policy: statements 1 and 2.
    /// Replicas get the same policy (R12). The result passes
    /// [`PolicyDocument::validate_key_policy`].
    pub fn key_policy_in_region(
        &self,
        home: &Region,
        owner: AccountId,
    ) -> Result<PolicyDocument, KeyError> {
        if self.replica_regions.contains(home) {
            return Err(KeyError::DuplicateReplica {
                region: home.clone(),
            });
        }
        if let Some(region) = self
            .replica_regions
            .iter()
            .find(|r| r.partition() != home.partition())
        {
            return Err(KeyError::ReplicaPartition {
                region: region.clone(),
                home: home.clone(),
            });
        }
        let regions: Vec<&Region> = std::iter::once(home).chain(&self.replica_regions).collect();
        self.policy(home.partition(), owner, Some(&regions))
    }

    /// The policy, narrowed to RDS in `regions`, or in any region when `None`.
    fn policy(
        &self,
        partition: Partition,
        owner: AccountId,
        regions: Option<&[&Region]>,
    ) -> Result<PolicyDocument, KeyError> {
        if self.granted.contains(&owner) {
            return Err(KeyError::GrantToOwner { account: owner });
        }
        if let Some(admin) = self.admins.iter().find(|a| a.account() != owner) {
            return Err(KeyError::AdminOutsideOwner {
                admin: admin.clone(),
                owner,
            });
        }
        let mut statements = vec![Statement::allow()
            .sid(sid::ROOT)
            .aws_principals([owner.root_arn(partition)])
            .actions(["kms:*"])
            .resources(["*"])];
        if !self.admins.is_empty() {
            statements.push(
                Statement::allow()
                    .sid(sid::ADMINS)
                    .aws_principals(self.admins.iter().map(ToString::to_string))
                    .actions(actions::KEY_ADMIN.iter().copied())
                    .resources(["*"]),
            );
        }
        if !self.granted.is_empty() {
            let granted: Vec<String> = self.granted.iter().map(|a| a.root_arn(partition)).collect();
            let callers: Vec<&str> = self.granted.iter().map(AccountId::as_str).collect();
            // Through RDS (and AWS Backup) in the key's regions, or in any region.
            let (operator, via): (&str, Vec<String>) = match regions {
                Some(regions) => (
                    "StringEquals",
                    self.services()
                        .into_iter()
                        .flat_map(|service| {
                            regions
                                .iter()
                                .map(move |r| via_service(service, r.as_str()))
                        })
                        .collect(),
                ),
                None => (
                    "StringLike",
                    self.services()
                        .into_iter()
                        .map(|service| via_service(service, "*"))
                        .collect(),
                ),
            };
            statements.push(
                Statement::allow()
                    .sid(sid::USE)
                    .aws_principals(granted.clone())
                    .actions(actions::KEY_USE.iter().copied())
                    .resources(["*"])
                    .condition("StringEquals", "kms:CallerAccount", callers.clone())
                    .condition(operator, "kms:ViaService", via.clone()),
            );
            statements.push(
                Statement::allow()
                    .sid(sid::GRANTS)
                    .aws_principals(granted.clone())
                    .actions(actions::KEY_GRANTS.iter().copied())
                    .resources(["*"])
                    .condition("Bool", "kms:GrantIsForAWSResource", ["true"])
                    .condition("StringEquals", "kms:CallerAccount", callers.clone())
                    .condition(operator, "kms:ViaService", via),
            );
            statements.push(
                Statement::allow()
                    .sid(sid::DESCRIBE)
                    .aws_principals(granted)
                    .actions(actions::KEY_DESCRIBE.iter().copied())
                    .resources(["*"])
                    .condition("StringEquals", "kms:CallerAccount", callers),
            );
        }
        let mut policy = PolicyDocument::new(statements);
        policy.id = Some(KEY_POLICY_ID.into());
        policy
            .validate_key_policy(owner)
            .map_err(KeyError::Policy)?;
        Ok(policy)
    }

    /// Whether a key policy certainly lets `account` use the key, which lives in `region`, for
    /// snapshots: every cryptographic action of R2 and `kms:CreateGrant` allowed to the account
    /// (by root ARN, bare id, or `"*"` narrowed to it by `kms:CallerAccount`), and no Deny on
    /// them.
    ///
    /// An Allow counts when each of its conditions certainly holds for RDS acting for the
    /// account in `region`: `kms:CallerAccount` listing the account, `kms:ViaService` listing
    /// (or, with `StringLike`, matching) `rds.<region>.amazonaws.com`, and, on the grant
    /// actions, `kms:GrantIsForAWSResource` true; the policies snapshift writes are narrowed
    /// so. Conservative: an Allow with any other condition does not count, and any Deny on
    /// those actions makes the answer `false`; the caller then re-encrypts under a key it
    /// controls instead of sharing directly.
    pub fn policy_grants(policy: &PolicyDocument, account: AccountId, region: &Region) -> bool {
        let who = AwsPrincipal::Account(account);
        let rds = via_service(RDS_SERVICE, region.as_str());
        let statements = policy.statements();
        let allows = |st: &Statement, action: &str| {
            let holds = |operator: &str, key: &str, values: &[ConditionValue]| {
                let mut strings = values.iter().filter_map(|v| match v {
                    ConditionValue::String(s) => Some(s.as_str()),
                    _ => None,
                });
                match (
                    operator.to_ascii_lowercase().as_str(),
                    key.to_ascii_lowercase().as_str(),
                ) {
                    ("stringequals", "kms:calleraccount") => strings.any(|v| v == account.as_str()),
                    ("stringequals", "kms:viaservice") => {
                        strings.any(|v| v.eq_ignore_ascii_case(&rds))
                    }
                    ("stringlike", "kms:viaservice") => strings.any(|v| action_matches(v, &rds)),
                    ("bool", "kms:grantisforawsresource") => {
                        actions::KEY_GRANTS
                            .iter()
                            .any(|g| g.eq_ignore_ascii_case(action))
                            && !values.is_empty()
                            && values.iter().all(|v| match v {
                                ConditionValue::String(s) => s.eq_ignore_ascii_case("true"),
                                ConditionValue::Bool(b) => *b,
                                ConditionValue::Number(_) => false,
                            })
                    }
                    _ => false,
                }
            };
            let conditions_hold = st.condition.as_ref().is_none_or(|condition| {
                condition.iter().all(|(operator, keys)| {
                    keys.iter()
                        .all(|(key, values)| holds(operator, key, values.as_slice()))
                })
            });
            let narrowed_to_account = st.condition.as_ref().is_some_and(|condition| {
                condition.iter().any(|(operator, keys)| {
                    keys.iter().any(|(key, values)| {
                        key.eq_ignore_ascii_case("kms:CallerAccount")
                            && operator.eq_ignore_ascii_case("StringEquals")
                            && holds(operator, key, values.as_slice())
                    })
                })
            });
            st.effect == Effect::Allow
                && st
                    .resource
                    .as_ref()
                    .is_some_and(|r| r.iter().any(|v| v == "*"))
                && st
                    .action
                    .as_ref()
                    .is_some_and(|a| a.iter().any(|p| action_matches(p, action)))
                && conditions_hold
                && st.principal.as_ref().is_some_and(|p| {
                    p.aws_principals().into_iter().any(|named| match named {
                        AwsPrincipal::Any => narrowed_to_account,
                        _ => named.covers(&who) && named.account() == Some(account),
                    })
                })
        };
        let denies = |st: &Statement, action: &str| {
            st.effect == Effect::Deny
                && match (&st.action, &st.not_action) {
                    (Some(a), _) => a.iter().any(|p| action_matches(p, action)),
                    (None, Some(n)) => !n.iter().any(|p| action_matches(p, action)),
                    (None, None) => false,
                }
        };
        SNAPSHOT_USE.iter().all(|action| {
            statements.iter().any(|st| allows(st, action))
                && !statements.iter().any(|st| denies(st, action))
        })
    }
}

/// The concrete actions behind R2's use statement, and the grant RDS needs.
const SNAPSHOT_USE: [&str; 8] = [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:DescribeKey",
    "kms:CreateGrant",
];

/// Builds a [`ShareableKey`]; every setter can be chained, and [`build`](Self::build) checks
/// the whole.
#[derive(Debug, Clone, Default)]
#[must_use = "a builder does nothing until `build()`"]
pub struct ShareableKeyBuilder {
    alias: Option<String>,
    description: Option<String>,
    admins: Vec<PrincipalArn>,
    granted: BTreeSet<AccountId>,
    tags: Vec<(String, String)>,
    multi_region: bool,
    replica_regions: Vec<Region>,
    deletion_days: Option<u32>,
    backup_vaults: bool,
}

impl ShareableKeyBuilder {
    /// The alias, with or without the `alias/` prefix; `alias/aws/` is reserved.
    pub fn alias(mut self, alias: impl Into<String>) -> Self {
        self.alias = Some(alias.into());
        self
    }

    /// The key description (default: "snapshift shareable key for RDS snapshots").
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds a key administrator: an IAM user or role of the key's account (R2).
    pub fn admin(mut self, admin: PrincipalArn) -> Self {
        if !self.admins.contains(&admin) {
            self.admins.push(admin);
        }
        self
    }

    /// Lets `account` use the key for snapshots (R2). Naming an account twice is harmless.
    pub fn grant_account(mut self, account: AccountId) -> Self {
        self.granted.insert(account);
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// Makes the key multi-region, which can only be chosen at creation (R12).
    pub fn multi_region(mut self, multi_region: bool) -> Self {
        self.multi_region = multi_region;
        self
    }

    /// Adds a region that gets a replica of the key; needs `multi_region(true)` (R12).
    pub fn replica_region(mut self, region: Region) -> Self {
        self.replica_regions.push(region);
        self
    }

    /// Marks the key as the key of AWS Backup vaults: granted accounts may then use it
    /// through AWS Backup (`kms:ViaService` `backup.<region>.amazonaws.com`) as well as RDS
    /// (R11). A cross-region backup marks its key so.
    pub fn backup_vaults(mut self, backup_vaults: bool) -> Self {
        self.backup_vaults = backup_vaults;
        self
    }

    /// The deletion window used at teardown, 7 to 30 days (R23; default 30).
    pub fn deletion_window_days(mut self, days: u32) -> Self {
        self.deletion_days = Some(days);
        self
    }

    /// Checks the combination and returns the key.
    pub fn build(self) -> Result<ShareableKey, KeyError> {
        let alias = self
            .alias
            .as_deref()
            .map(AliasName::for_new_alias)
            .transpose()
            .map_err(KeyError::Alias)?;
        let description = self
            .description
            .unwrap_or_else(|| "snapshift shareable key for RDS snapshots".into());
        let len = description.chars().count();
        if len > 8192 {
            return Err(KeyError::Description { len });
        }
        let mut seen = BTreeSet::new();
        for region in &self.replica_regions {
            if !self.multi_region {
                return Err(KeyError::ReplicaWithoutMultiRegion {
                    region: region.clone(),
                });
            }
            if !seen.insert(region) {
                return Err(KeyError::DuplicateReplica {
                    region: region.clone(),
                });
            }
        }
        let deletion_window = match self.deletion_days {
            Some(days) => DeletionWindow::days(days)?,
            None => DeletionWindow::default(),
        };
        let mut tags = Tags::new();
        for (k, v) in self.tags {
            tags.insert(k, v).map_err(KeyError::Tag)?;
        }
        Ok(ShareableKey {
            alias,
            description,
            admins: self.admins,
            granted: self.granted.into_iter().collect(),
            tags,
            multi_region: self.multi_region,
            replica_regions: self.replica_regions,
            deletion_window,
            backup_vaults: self.backup_vaults,
        })
    }
}

#[cfg(test)]
mod tests;
