//! The AWS Backup role deployed to IAM: the role trusted by `backup.amazonaws.com` for its own
//! account (R14) with the least-privilege inline policy (R15); both are compared with the
//! definition by plan and refresh and put back by deploy; torn down inline policy first, then
//! the role.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::KeyResource;
use crate::{
    aws::{
        iam::{Iam, RoleInfo},
        Account,
    },
    backup::BackupRole,
    engine::{Action, Change, Context, Handle, Resource},
    error::{Error, Result},
    ids::{Region, RoleName},
    policy::PolicyDocument,
    rules::Rule,
};

/// The name of the inline policy snapshift puts on the role.
pub const INLINE_POLICY: &str = "snapshift-backup";

/// What a deployed backup role gives other resources (the backup selection names it, R14).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRoleOutputs {
    /// The role name.
    pub name: String,
    /// The role ARN.
    pub arn: String,
}

/// What the state records of the role.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RoleRecord {
    /// Saved before `CreateRole`: after a crash, a role of that name with this stack's tags
    /// is this resource's own.
    creating: bool,
    /// The role exists and is this resource's own.
    created: bool,
}

/// A [`BackupRole`] deployed as an IAM role with its inline policy.
#[derive(Debug, Clone)]
pub struct BackupRoleResource {
    account: Account,
    region: Region,
    name: RoleName,
    role: BackupRole,
    policy: PolicyDocument,
    trust: PolicyDocument,
    /// The multi-region key of the same stack whose primary and replica the role may use;
    /// their ARNs are known once it is deployed.
    keys: Option<Handle<KeyResource>>,
}

impl BackupRoleResource {
    /// The role `name` in `account`, with `role`'s policies. The policy is checked here (R11,
    /// R15, R18, R23), before any call; the role's account must be `account`.
    pub fn new(account: &Account, name: RoleName, role: &BackupRole) -> Result<BackupRoleResource> {
        if role.account != account.id() {
            return Err(Error::Definition {
                stack: "backup-role".into(),
                problem: format!(
                    "the backup role is described for account {}, but deployed with account {}",
                    role.account,
                    account.id()
                ),
            });
        }
        let policy = role.policy().map_err(|source| Error::BackupRole {
            resource: "backup-role".into(),
            source: Box::new(source),
        })?;
        let trust = role.trust_policy().map_err(|source| Error::BackupRole {
            resource: "backup-role".into(),
            source: Box::new(source),
        })?;
        Ok(BackupRoleResource {
            account: account.clone(),
            region: role.source_region.clone(),
            name,
            role: role.clone(),
            policy,
            trust,
            keys: None,
        })
    }

    /// The same role, but its key statement names the primary and the destination-region
    /// replica of `key`, a multi-region key of the same stack (R12, R15), read from its outputs
    /// at deploy. The keys in `role` stand in for them until then (they are checked, not
    /// used).
    pub fn with_key(mut self, key: &Handle<KeyResource>) -> BackupRoleResource {
        self.keys = Some(key.clone());
        self
    }

    /// The policy with the keys of the key resource, if it names one; `None` while that key
    /// is not deployed.
    async fn live_policy(&self, ctx: &Context) -> Result<Option<PolicyDocument>> {
        let Some(handle) = &self.keys else {
            return Ok(Some(self.policy.clone()));
        };
        let Ok(outputs) = ctx.outputs(handle).await else {
            return Ok(None);
        };
        let replica = outputs
            .replicas
            .iter()
            .find(|r| r.region() == &self.role.destination_region)
            .ok_or_else(|| Error::Conflict {
                resource: ctx.name().to_owned(),
                problem: format!(
                    "key `{}` has no replica in {} (R12)",
                    handle.name(),
                    self.role.destination_region
                ),
            })?;
        let role = BackupRole {
            primary_key: outputs.key_arn.clone(),
            replica_key: replica.clone(),
            ..self.role.clone()
        };
        role.policy().map(Some).map_err(|source| Error::BackupRole {
            resource: ctx.name().to_owned(),
            source: Box::new(source),
        })
    }

    fn iam(&self) -> Iam {
        Iam::new(&self.account)
    }

    async fn live_role(&self, ctx: &Context) -> Result<Option<RoleInfo>> {
        self.iam()
            .role(self.name.as_str())
            .await
            .map_err(Error::aws_in(ctx.name()))
    }

    async fn is_ours(&self, ctx: &Context) -> Result<Option<bool>> {
        Ok(self.live_role(ctx).await?.map(|r| ctx.owns(&r.tags)))
    }

    /// Whether the live role's trust policy says the same as the definition (compared as
    /// JSON): a trust policy changed outside snapshift may let others assume the role (R14).
    fn trust_matches(&self, role: &RoleInfo) -> bool {
        let live: Option<serde_json::Value> = role
            .trust_policy
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok());
        live.is_some() && live == serde_json::to_value(&self.trust).ok()
    }

    async fn policy_matches(&self, ctx: &Context) -> Result<bool> {
        let Some(policy) = self.live_policy(ctx).await? else {
            return Ok(false);
        };
        let live = self
            .iam()
            .role_policy(self.name.as_str(), INLINE_POLICY)
            .await
            .map_err(Error::aws_in(ctx.name()))?;
        let live: Option<serde_json::Value> = live.and_then(|p| serde_json::from_str(&p).ok());
        Ok(live == serde_json::to_value(&policy).ok())
    }
}

#[async_trait]
impl Resource for BackupRoleResource {
    type Outputs = BackupRoleOutputs;

    fn kind(&self) -> &'static str {
        "iam-backup-role"
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn preflight(&self, ctx: &Context) -> Result<()> {
        let record: RoleRecord = ctx.load().await?.unwrap_or_default();
        if !record.creating && self.is_ours(ctx).await? == Some(false) {
            return Err(Error::NotOurs {
                resource: ctx.name().to_owned(),
                what: format!("IAM role {}", self.name),
            });
        }
        Ok(())
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        let Some(role) = self.live_role(ctx).await? else {
            return Ok(Change::new(
                ctx.name(),
                self.kind(),
                Action::Create,
                format!(
                    "role {} trusted by backup.amazonaws.com for account {} (R14)",
                    self.name, self.role.account
                ),
            )
            .rule(Rule::R15)
            .detail(format!("CreateRole {}", self.name))
            .detail(format!(
                "PutRolePolicy {INLINE_POLICY} (least privilege, R15)"
            )));
        };
        let mut differs = Vec::new();
        let mut details = Vec::new();
        if !self.trust_matches(&role) {
            differs.push("the trust policy");
            details.push(format!(
                "UpdateAssumeRolePolicy {} (trusted by backup.amazonaws.com for account {} only, R14)",
                self.name, self.role.account
            ));
        }
        if !self.policy_matches(ctx).await? {
            differs.push("the inline policy");
            details.push(format!("PutRolePolicy {INLINE_POLICY}"));
        }
        if differs.is_empty() {
            return Ok(Change::new(
                ctx.name(),
                self.kind(),
                Action::Unchanged,
                "matches the definition",
            ));
        }
        let mut change = Change::new(
            ctx.name(),
            self.kind(),
            Action::Update,
            format!(
                "{} {} from the definition",
                differs.join(" and "),
                if differs.len() == 1 {
                    "differs"
                } else {
                    "differ"
                }
            ),
        )
        .rule(Rule::R15);
        change.details = details;
        Ok(change)
    }

    async fn deploy(&self, ctx: &Context) -> Result<BackupRoleOutputs> {
        let mut record: RoleRecord = ctx.load().await?.unwrap_or_default();
        let iam = self.iam();
        let arn = match iam
            .role(self.name.as_str())
            .await
            .map_err(Error::aws_in(ctx.name()))?
        {
            Some(role) => {
                if !ctx.owns(&role.tags) {
                    return Err(Error::NotOurs {
                        resource: ctx.name().to_owned(),
                        what: format!("IAM role {}", self.name),
                    });
                }
                // A trust policy changed outside snapshift is put back (R14).
                if !self.trust_matches(&role) {
                    iam.update_assume_role_policy(self.name.as_str(), &self.trust.to_json())
                        .await
                        .map_err(Error::aws_in(ctx.name()))?;
                }
                role.arn
            }
            None => {
                record.creating = true;
                ctx.save(&record).await?;
                iam.create_role(self.name.as_str(), &self.trust.to_json(), &ctx.tags())
                    .await
                    .map_err(Error::aws_in(ctx.name()))?
            }
        };
        if !record.created {
            record.created = true;
            ctx.save(&record).await?;
        }
        if !self.policy_matches(ctx).await? {
            let policy = self
                .live_policy(ctx)
                .await?
                .ok_or_else(|| Error::Conflict {
                    resource: ctx.name().to_owned(),
                    problem: "its key is not deployed yet".into(),
                })?;
            iam.put_role_policy(self.name.as_str(), INLINE_POLICY, &policy.to_json())
                .await
                .map_err(Error::aws_in(ctx.name()))?;
        }
        Ok(BackupRoleOutputs {
            name: self.name.to_string(),
            arn,
        })
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        Ok(Change::new(
            ctx.name(),
            self.kind(),
            Action::Delete,
            format!("delete role {}", self.name),
        )
        .detail(format!(
            "DeleteRolePolicy {INLINE_POLICY}, then DeleteRole (inline policies first)"
        )))
    }

    async fn teardown(&self, ctx: &Context) -> Result<Vec<String>> {
        let record: RoleRecord = ctx.load().await?.unwrap_or_default();
        if !record.creating && !record.created {
            return Ok(Vec::new());
        }
        match self.is_ours(ctx).await? {
            None => return Ok(Vec::new()),
            Some(false) => {
                return Ok(vec![format!(
                    "role {} left in place: this stack did not make it",
                    self.name
                )])
            }
            Some(true) => {}
        }
        let iam = self.iam();
        let mut removed = Vec::new();
        if iam
            .delete_role_policy(self.name.as_str(), INLINE_POLICY)
            .await
            .map_err(Error::aws_in(ctx.name()))?
        {
            removed.push(format!(
                "inline policy {INLINE_POLICY} of {} deleted",
                self.name
            ));
        }
        if iam
            .delete_role(self.name.as_str())
            .await
            .map_err(Error::aws_in(ctx.name()))?
        {
            removed.push(format!("role {} deleted", self.name));
        }
        Ok(removed)
    }

    async fn refresh(&self, ctx: &Context) -> Result<Vec<String>> {
        let Some(role) = self.live_role(ctx).await? else {
            return Ok(vec![format!("role {} no longer exists", self.name)]);
        };
        let mut drift = Vec::new();
        if !self.trust_matches(&role) {
            drift.push(format!(
                "the trust policy of {} was changed outside snapshift",
                self.name
            ));
        }
        if !self.policy_matches(ctx).await? {
            drift.push(format!(
                "the inline policy of {} was changed outside snapshift",
                self.name
            ));
        }
        Ok(drift)
    }
}
