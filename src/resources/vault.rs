//! An AWS Backup vault: created under a chosen key, or an existing vault used as it is. The
//! vault's key is the key of every copy that lands in it (R11), and a vault that still holds
//! recovery points is never deleted.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::KeyResource;
use crate::{
    aws::{backup::Backup, Account},
    engine::{Action, Change, Context, Handle, Resource, Warning},
    error::{Error, Result},
    ids::{KeyArn, Region, VaultName},
    rules::Rule,
};

/// The key a vault is created under (R11).
#[derive(Debug, Clone)]
pub enum VaultKey {
    /// The AWS managed key `alias/aws/backup`: copies into the vault land under
    /// `alias/aws/rds` of its region (R11).
    AwsManaged,
    /// A key the user names.
    Key(KeyArn),
    /// The key of a key resource of the same stack, in its home region.
    Primary(Handle<KeyResource>),
    /// The replica of a key resource of the same stack in this region (R12).
    Replica(Handle<KeyResource>),
}

/// What a vault gives other resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultOutputs {
    /// The vault's name.
    pub name: String,
    /// The vault's ARN.
    pub arn: String,
    /// The key that encrypts what it holds (R11).
    pub key_arn: String,
}

/// What the state records of the vault.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct VaultRecord {
    /// Saved before `CreateBackupVault`: after a crash, a vault of that name with this stack's
    /// tags is this resource's own.
    creating: bool,
    /// The vault exists and this resource created it.
    created: bool,
}

/// An AWS Backup vault in one account and region.
#[derive(Debug, Clone)]
pub struct VaultResource {
    account: Account,
    region: Region,
    name: VaultName,
    /// `None`: an existing vault, used and never changed or deleted.
    key: Option<VaultKey>,
    notes: Vec<(String, Option<Rule>)>,
}

impl VaultResource {
    /// A vault snapshift creates (and deletes at teardown, once empty) under `key`.
    pub fn new(account: &Account, region: Region, name: VaultName, key: VaultKey) -> Self {
        VaultResource {
            account: account.clone(),
            region,
            name,
            key: Some(key),
            notes: Vec::new(),
        }
    }

    /// An existing vault, such as the region's `Default` vault: deploy checks it is there;
    /// nothing changes or deletes it.
    pub fn existing(account: &Account, region: Region, name: VaultName) -> Self {
        VaultResource {
            account: account.clone(),
            region,
            name,
            key: None,
            notes: Vec::new(),
        }
    }

    /// Adds a warning to show with the plan.
    pub fn warn(mut self, message: impl Into<String>, rule: Option<Rule>) -> Self {
        self.notes.push((message.into(), rule));
        self
    }

    /// The vault's name.
    pub fn name(&self) -> &VaultName {
        &self.name
    }

    /// The vault's ARN (known before it exists).
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:backup:{}:{}:backup-vault:{}",
            self.region.partition(),
            self.region,
            self.account.id(),
            self.name
        )
    }

    /// Whether copies into this vault land under an AWS managed key (R11): a vault made
    /// under `alias/aws/backup`, or the `Default` vault.
    pub fn is_aws_managed(&self) -> bool {
        match &self.key {
            Some(VaultKey::AwsManaged) => true,
            None => self.name.as_str() == "Default",
            Some(_) => false,
        }
    }

    fn backup(&self) -> Backup {
        Backup::new(&self.account, &self.region)
    }

    /// The key ARN the definition asks for; `None` for the AWS managed key or an existing
    /// vault.
    async fn wanted_key(&self, ctx: &Context) -> Result<Option<String>> {
        Ok(match &self.key {
            None | Some(VaultKey::AwsManaged) => None,
            Some(VaultKey::Key(arn)) => Some(arn.to_string()),
            Some(VaultKey::Primary(handle)) => Some(ctx.outputs(handle).await?.key_arn.to_string()),
            Some(VaultKey::Replica(handle)) => {
                let outputs = ctx.outputs(handle).await?;
                let replica = outputs
                    .replicas
                    .iter()
                    .find(|r| r.region() == &self.region)
                    .ok_or_else(|| Error::Conflict {
                        resource: ctx.name().to_owned(),
                        problem: format!(
                            "key `{}` has no replica in {}; add `.replica_region(\"{}\")` to it (R12)",
                            handle.name(),
                            self.region,
                            self.region
                        ),
                    })?;
                Some(replica.to_string())
            }
        })
    }

    fn key_label(&self) -> String {
        match &self.key {
            None => "its own key".into(),
            Some(VaultKey::AwsManaged) => "alias/aws/backup (AWS managed)".into(),
            Some(VaultKey::Key(arn)) => arn.to_string(),
            Some(VaultKey::Primary(h)) => format!("the key of `{}`", h.name()),
            Some(VaultKey::Replica(h)) => format!("the {} replica of `{}`", self.region, h.name()),
        }
    }

    /// Waits while the vault's key is `Creating`, as a multi-region replica is for a few
    /// seconds after `ReplicateKey`: AWS Backup cannot use it until it is `Enabled` (R12,
    /// R26). Bounded by the stack's settling window; then [`Error::Unsettled`].
    async fn wait_usable(&self, ctx: &Context, key: &str) -> Result<()> {
        let started = tokio::time::Instant::now();
        let info = crate::aws::kms::Kms::new(&self.account, &self.region)
            .describe_usable(key)
            .await
            .map_err(Error::aws_in(ctx.name()))?;
        match info {
            Some(info) if info.state == crate::aws::kms::KeyState::Creating => {
                Err(Error::Unsettled {
                    resource: ctx.name().to_owned(),
                    what: format!(
                        "key {key} to leave the Creating state (a new replica cannot encrypt vault {} until it is Enabled)",
                        self.name
                    ),
                    waited: started.elapsed(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Whether the live vault is this resource's: it carries this stack's tags, which it was
    /// created with. A record alone does not make it so: a vault deleted outside snapshift
    /// and made again by someone else under the same name is theirs.
    async fn is_ours(&self, ctx: &Context, arn: &str, _record: &VaultRecord) -> Result<bool> {
        let tags = self
            .backup()
            .tags(arn)
            .await
            .map_err(Error::aws_in(ctx.name()))?;
        Ok(ctx.owns(&tags))
    }
}

#[async_trait]
impl Resource for VaultResource {
    type Outputs = VaultOutputs;

    fn kind(&self) -> &'static str {
        "backup-vault"
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn preflight(&self, ctx: &Context) -> Result<()> {
        let record: VaultRecord = ctx.load().await?.unwrap_or_default();
        let live = self
            .backup()
            .vault(self.name.as_str())
            .await
            .map_err(Error::aws_in(ctx.name()))?;
        match (&self.key, live) {
            (None, None) => Err(Error::Conflict {
                resource: ctx.name().to_owned(),
                problem: format!(
                    "vault {} does not exist in {}; name a vault that exists, or let snapshift create one. Nothing was changed",
                    self.name, self.region
                ),
            }),
            (Some(_), Some(vault)) if !self.is_ours(ctx, &vault.arn, &record).await? => {
                Err(Error::NotOurs {
                    resource: ctx.name().to_owned(),
                    what: format!("backup vault {} in {}", self.name, self.region),
                })
            }
            _ => Ok(()),
        }
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        let live = self
            .backup()
            .vault(self.name.as_str())
            .await
            .map_err(Error::aws_in(ctx.name()))?;
        Ok(match (&self.key, live) {
            (None, Some(vault)) => Change::new(
                ctx.name(),
                self.kind(),
                Action::Unchanged,
                format!(
                    "uses the existing vault {} (under {})",
                    self.name, vault.key_arn
                ),
            )
            .rule(Rule::R11),
            (None, None) => Change::new(
                ctx.name(),
                self.kind(),
                Action::Unchanged,
                format!(
                    "the existing vault {} is missing: deploy will stop",
                    self.name
                ),
            ),
            (Some(_), None) => Change::new(
                ctx.name(),
                self.kind(),
                Action::Create,
                format!(
                    "vault {} in {} under {}",
                    self.name,
                    self.region,
                    self.key_label()
                ),
            )
            .rule(Rule::R11)
            .detail(format!("CreateBackupVault {}", self.name)),
            (Some(_), Some(_)) => Change::new(
                ctx.name(),
                self.kind(),
                Action::Unchanged,
                "matches the definition",
            ),
        })
    }

    fn warnings(&self, name: &str) -> Vec<Warning> {
        self.notes
            .iter()
            .map(|(message, rule)| Warning {
                resource: name.to_owned(),
                message: message.clone(),
                rule: *rule,
            })
            .collect()
    }

    async fn deploy(&self, ctx: &Context) -> Result<VaultOutputs> {
        let mut record: VaultRecord = ctx.load().await?.unwrap_or_default();
        let backup = self.backup();
        let live = backup
            .vault(self.name.as_str())
            .await
            .map_err(Error::aws_in(ctx.name()))?;
        let wanted = self.wanted_key(ctx).await?;
        let vault = match (&self.key, live) {
            (None, Some(vault)) => vault,
            (None, None) => {
                return Err(Error::Conflict {
                    resource: ctx.name().to_owned(),
                    problem: format!("vault {} does not exist in {}", self.name, self.region),
                })
            }
            (Some(_), Some(vault)) => {
                if !self.is_ours(ctx, &vault.arn, &record).await? {
                    return Err(Error::NotOurs {
                        resource: ctx.name().to_owned(),
                        what: format!("backup vault {} in {}", self.name, self.region),
                    });
                }
                vault
            }
            (Some(_), None) => {
                if let Some(key) = &wanted {
                    self.wait_usable(ctx, key).await?;
                }
                record.creating = true;
                ctx.save(&record).await?;
                backup
                    .create_vault(
                        self.name.as_str(),
                        wanted.as_deref(),
                        &ctx.tags(),
                        &super::request_token(),
                    )
                    .await
                    .map_err(Error::aws_in(ctx.name()))?;
                record.created = true;
                ctx.save(&record).await?;
                backup
                    .vault(self.name.as_str())
                    .await
                    .map_err(Error::aws_in(ctx.name()))?
                    .ok_or_else(|| Error::Conflict {
                        resource: ctx.name().to_owned(),
                        problem: format!(
                            "vault {} was created but cannot be read back; deploy again",
                            self.name
                        ),
                    })?
            }
        };
        if !record.created && self.key.is_some() {
            record.created = true;
            ctx.save(&record).await?;
        }
        if let Some(wanted) = wanted {
            if vault.key_arn != wanted {
                return Err(Error::Conflict {
                    resource: ctx.name().to_owned(),
                    problem: format!(
                        "vault {} is under key {}, but the definition asks for {wanted}; a vault's key cannot be changed. Tear the stack down (once the vault is empty) and deploy again (R11)",
                        self.name, vault.key_arn
                    ),
                });
            }
        }
        Ok(VaultOutputs {
            name: vault.name,
            arn: vault.arn,
            key_arn: vault.key_arn,
        })
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        if self.key.is_none() {
            return Ok(Change::new(
                ctx.name(),
                self.kind(),
                Action::Keep,
                format!("{} was not created by this stack", self.name),
            ));
        }
        Ok(Change::new(
            ctx.name(),
            self.kind(),
            Action::Delete,
            format!("delete vault {} if it holds no recovery points", self.name),
        )
        .detail("ListRecoveryPointsByBackupVault, then DeleteBackupVault"))
    }

    async fn teardown(&self, ctx: &Context) -> Result<Vec<String>> {
        let record: VaultRecord = ctx.load().await?.unwrap_or_default();
        if self.key.is_none() || (!record.creating && !record.created) {
            return Ok(Vec::new());
        }
        let backup = self.backup();
        let Some(vault) = backup
            .vault(self.name.as_str())
            .await
            .map_err(Error::aws_in(ctx.name()))?
        else {
            return Ok(Vec::new());
        };
        if !self.is_ours(ctx, &vault.arn, &record).await? {
            return Ok(vec![format!(
                "vault {} left in place: this stack did not make it",
                self.name
            )]);
        }
        let points = backup
            .recovery_points(self.name.as_str())
            .await
            .map_err(Error::aws_in(ctx.name()))?;
        if !points.is_empty() || vault.recovery_points > 0 {
            let mut listed: Vec<String> = points
                .iter()
                .map(|p| format!("{} (under {})", p.arn, p.key_arn))
                .collect();
            if listed.is_empty() {
                listed.push(format!("{} reported by AWS", vault.recovery_points));
            }
            return Err(Error::VaultNotEmpty {
                resource: ctx.name().to_owned(),
                vault: self.name.to_string(),
                region: self.region.to_string(),
                recovery_points: listed,
            });
        }
        Ok(
            if backup
                .delete_vault(self.name.as_str())
                .await
                .map_err(Error::aws_in(ctx.name()))?
            {
                vec![format!("vault {} in {} deleted", self.name, self.region)]
            } else {
                Vec::new()
            },
        )
    }

    async fn refresh(&self, ctx: &Context) -> Result<Vec<String>> {
        let live = self
            .backup()
            .vault(self.name.as_str())
            .await
            .map_err(Error::aws_in(ctx.name()))?;
        let Some(vault) = live else {
            return Ok(vec![format!("vault {} no longer exists", self.name)]);
        };
        let recorded: Option<VaultOutputs> = {
            let state = ctx.state.lock().await;
            state
                .resources
                .get(ctx.name())
                .and_then(|r| r.outputs.parse().ok())
        };
        Ok(match recorded {
            Some(out) if out.key_arn != vault.key_arn => vec![format!(
                "vault {} is now under {}, not {} (R11)",
                self.name, vault.key_arn, out.key_arn
            )],
            _ => Vec::new(),
        })
    }
}
