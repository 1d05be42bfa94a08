//! An AWS Backup plan with its rule and copy action (R13), and the selection that names what
//! it backs up and the role it uses (R14).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{BackupRoleResource, VaultResource};
use crate::{
    aws::{
        backup::{Backup, PlanInfo},
        Account,
    },
    backup::{PlanDefinition, SelectionDefinition},
    engine::{Action, Change, Context, Handle, Resource},
    error::{Error, Result},
    ids::Region,
    rules::Rule,
};

/// What a deployed plan gives its selection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOutputs {
    /// The plan id.
    pub id: String,
    /// The plan ARN.
    pub arn: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct PlanRecord {
    /// Saved before `CreateBackupPlan`: after a crash, a plan of that name with this stack's
    /// tags is this resource's own.
    creating: bool,
    /// The plan this resource created.
    id: Option<String>,
}

/// A backup plan in the source region: one rule that backs up into the source vault and
/// copies into the destination vault (R13). It depends on both vaults, which must exist
/// first.
#[derive(Debug, Clone)]
pub struct BackupPlanResource {
    account: Account,
    region: Region,
    definition: PlanDefinition,
    vaults: Vec<Handle<VaultResource>>,
}

impl BackupPlanResource {
    /// The plan `definition` in `account` and `region`, copying into the vaults of `vaults`
    /// (named so that the stack orders them first, R13).
    pub fn new(
        account: &Account,
        region: Region,
        definition: PlanDefinition,
        vaults: &[&Handle<VaultResource>],
    ) -> BackupPlanResource {
        BackupPlanResource {
            account: account.clone(),
            region,
            definition,
            vaults: vaults.iter().map(|h| (*h).clone()).collect(),
        }
    }

    /// The plan's definition.
    pub fn definition(&self) -> &PlanDefinition {
        &self.definition
    }

    fn backup(&self) -> Backup {
        Backup::new(&self.account, &self.region)
    }

    /// The live plan this resource made: by its recorded id, or (after a crash before the id
    /// was saved, or with a lost state file) by its name and this stack's tags.
    async fn find(&self, ctx: &Context, record: &PlanRecord) -> Result<Option<PlanInfo>> {
        let backup = self.backup();
        if let Some(id) = &record.id {
            return backup.plan(id).await.map_err(Error::aws_in(ctx.name()));
        }
        for plan in backup.plans().await.map_err(Error::aws_in(ctx.name()))? {
            if plan.name != self.definition.name.as_str() {
                continue;
            }
            let tags = backup
                .tags(&plan.arn)
                .await
                .map_err(Error::aws_in(ctx.name()))?;
            if ctx.owns(&tags) {
                return backup
                    .plan(&plan.id)
                    .await
                    .map_err(Error::aws_in(ctx.name()));
            }
        }
        Ok(None)
    }

    /// A plan of the same name that this stack did not make.
    async fn foreign(&self, ctx: &Context) -> Result<bool> {
        let backup = self.backup();
        for plan in backup.plans().await.map_err(Error::aws_in(ctx.name()))? {
            if plan.name == self.definition.name.as_str() {
                let tags = backup
                    .tags(&plan.arn)
                    .await
                    .map_err(Error::aws_in(ctx.name()))?;
                if !ctx.owns(&tags) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

#[async_trait]
impl Resource for BackupPlanResource {
    type Outputs = PlanOutputs;

    fn kind(&self) -> &'static str {
        "backup-plan"
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn preflight(&self, ctx: &Context) -> Result<()> {
        let record: PlanRecord = ctx.load().await?.unwrap_or_default();
        if record.id.is_none() && self.foreign(ctx).await? {
            return Err(Error::NotOurs {
                resource: ctx.name().to_owned(),
                what: format!("backup plan {} in {}", self.definition.name, self.region),
            });
        }
        Ok(())
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        let record: PlanRecord = ctx.load().await?.unwrap_or_default();
        let rule = &self.definition;
        Ok(match self.find(ctx, &record).await? {
            None => Change::new(
                ctx.name(),
                self.kind(),
                Action::Create,
                format!(
                    "plan {}: {} into {}, copies to {}",
                    rule.name,
                    rule.schedule,
                    rule.target_vault,
                    rule.copies
                        .iter()
                        .map(|c| c.destination_vault_arn.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .rule(Rule::R13)
            .detail(format!(
                "CreateBackupPlan (start window {} min, completion {} min)",
                rule.windows.start().get(),
                rule.windows.completion_minutes()
            )),
            Some(live) if live.body != self.definition.to_json() => Change::new(
                ctx.name(),
                self.kind(),
                Action::Update,
                "the rule differs from the definition",
            )
            .rule(Rule::R13)
            .detail(format!("UpdateBackupPlan {}", live.id)),
            Some(_) => Change::new(
                ctx.name(),
                self.kind(),
                Action::Unchanged,
                "matches the definition",
            ),
        })
    }

    async fn deploy(&self, ctx: &Context) -> Result<PlanOutputs> {
        // The vaults must exist before the plan that copies into them (R13): their outputs
        // are there only once they are deployed.
        for vault in &self.vaults {
            ctx.outputs(vault).await?;
        }
        let mut record: PlanRecord = ctx.load().await?.unwrap_or_default();
        let backup = self.backup();
        let live = match self.find(ctx, &record).await? {
            Some(live) => {
                if live.body != self.definition.to_json() {
                    backup
                        .update_plan(&live.id, &self.definition)
                        .await
                        .map_err(Error::aws_in(ctx.name()))?;
                }
                live
            }
            None => {
                if record.id.is_some() {
                    // Deleted outside snapshift: make it again.
                    record.id = None;
                }
                record.creating = true;
                ctx.save(&record).await?;
                let made = backup
                    .create_plan(&self.definition, &ctx.tags(), &super::request_token())
                    .await
                    .map_err(Error::aws_in(ctx.name()))?;
                PlanInfo {
                    id: made.id,
                    arn: made.arn,
                    body: self.definition.to_json(),
                }
            }
        };
        if record.id.as_deref() != Some(live.id.as_str()) {
            record.id = Some(live.id.clone());
            ctx.save(&record).await?;
        }
        Ok(PlanOutputs {
            id: live.id,
            arn: live.arn,
        })
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        Ok(Change::new(
            ctx.name(),
            self.kind(),
            Action::Delete,
            format!("delete plan {}", self.definition.name),
        )
        .detail("DeleteBackupPlan (after its selection)"))
    }

    async fn teardown(&self, ctx: &Context) -> Result<Vec<String>> {
        let record: PlanRecord = ctx.load().await?.unwrap_or_default();
        if !record.creating && record.id.is_none() {
            return Ok(Vec::new());
        }
        let Some(live) = self.find(ctx, &record).await? else {
            return Ok(Vec::new());
        };
        Ok(
            if self
                .backup()
                .delete_plan(&live.id)
                .await
                .map_err(Error::aws_in(ctx.name()))?
            {
                vec![format!(
                    "backup plan {} ({}) deleted",
                    self.definition.name, live.id
                )]
            } else {
                Vec::new()
            },
        )
    }

    async fn refresh(&self, ctx: &Context) -> Result<Vec<String>> {
        let record: PlanRecord = ctx.load().await?.unwrap_or_default();
        Ok(match self.find(ctx, &record).await? {
            None => vec![format!(
                "backup plan {} no longer exists",
                self.definition.name
            )],
            Some(live) if live.body != self.definition.to_json() => vec![format!(
                "backup plan {} was changed outside snapshift",
                self.definition.name
            )],
            Some(_) => Vec::new(),
        })
    }
}

/// What a deployed selection records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectionOutputs {
    /// The plan id.
    pub plan_id: String,
    /// The selection id.
    pub selection_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SelectionRecord {
    /// The plan the selection belongs to (set before `CreateBackupSelection`).
    plan_id: Option<String>,
    /// The selection this resource created.
    selection_id: Option<String>,
}

/// A backup selection of a plan of the same stack: the clusters (by ARN or tag) and the role
/// AWS Backup assumes (R14). AWS cannot change a selection, so a changed definition replaces
/// it.
#[derive(Debug, Clone)]
pub struct BackupSelectionResource {
    account: Account,
    region: Region,
    definition: SelectionDefinition,
    plan: Handle<BackupPlanResource>,
    role: Handle<BackupRoleResource>,
}

impl BackupSelectionResource {
    /// `definition` in the plan of `plan`, with the role of `role`.
    pub fn new(
        account: &Account,
        region: Region,
        definition: SelectionDefinition,
        plan: &Handle<BackupPlanResource>,
        role: &Handle<BackupRoleResource>,
    ) -> BackupSelectionResource {
        BackupSelectionResource {
            account: account.clone(),
            region,
            definition,
            plan: plan.clone(),
            role: role.clone(),
        }
    }

    fn backup(&self) -> Backup {
        Backup::new(&self.account, &self.region)
    }

    /// The live selection in plan `plan_id`: by recorded id, else by name (the plan is this
    /// stack's, so is what it holds).
    async fn find(
        &self,
        ctx: &Context,
        plan_id: &str,
        record: &SelectionRecord,
    ) -> Result<Option<crate::aws::backup::SelectionInfo>> {
        let backup = self.backup();
        let id = match (&record.selection_id, record.plan_id.as_deref()) {
            (Some(id), Some(p)) if p == plan_id => Some(id.clone()),
            _ => backup
                .selections(plan_id)
                .await
                .map_err(Error::aws_in(ctx.name()))?
                .into_iter()
                .find(|s| s.name == self.definition.name.as_str())
                .map(|s| s.id),
        };
        match id {
            Some(id) => backup
                .selection(plan_id, &id)
                .await
                .map_err(Error::aws_in(ctx.name())),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl Resource for BackupSelectionResource {
    type Outputs = SelectionOutputs;

    fn kind(&self) -> &'static str {
        "backup-selection"
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        let record: SelectionRecord = ctx.load().await?.unwrap_or_default();
        let what = match &self.definition.selector {
            crate::backup::Selector::Resources(arns) => arns.join(", "),
            crate::backup::Selector::Tag { key, value } => format!("tag {key}={value}"),
        };
        let create = Change::new(
            ctx.name(),
            self.kind(),
            Action::Create,
            format!("select {what} with role `{}` (R14)", self.role.name()),
        )
        .rule(Rule::R14)
        .detail("CreateBackupSelection");
        let (Ok(plan), Ok(role)) = (ctx.outputs(&self.plan).await, ctx.outputs(&self.role).await)
        else {
            return Ok(create);
        };
        Ok(match self.find(ctx, &plan.id, &record).await? {
            None => create,
            Some(live) if live.body != Some(self.definition.to_json(&role.arn)) => Change::new(
                ctx.name(),
                self.kind(),
                Action::Replace,
                "the selection differs from the definition; AWS Backup cannot change a selection",
            )
            .rule(Rule::R14)
            .detail("DeleteBackupSelection, then CreateBackupSelection"),
            Some(_) => Change::new(
                ctx.name(),
                self.kind(),
                Action::Unchanged,
                "matches the definition",
            ),
        })
    }

    async fn deploy(&self, ctx: &Context) -> Result<SelectionOutputs> {
        let plan = ctx.outputs(&self.plan).await?;
        let role = ctx.outputs(&self.role).await?;
        let mut record: SelectionRecord = ctx.load().await?.unwrap_or_default();
        let backup = self.backup();
        let wanted = self.definition.to_json(&role.arn);
        if let Some(live) = self.find(ctx, &plan.id, &record).await? {
            if live.body.as_ref() == Some(&wanted) {
                if record.selection_id.as_deref() != Some(live.id.as_str()) {
                    record.plan_id = Some(plan.id.clone());
                    record.selection_id = Some(live.id.clone());
                    ctx.save(&record).await?;
                }
                return Ok(SelectionOutputs {
                    plan_id: plan.id,
                    selection_id: live.id,
                });
            }
            backup
                .delete_selection(&plan.id, &live.id)
                .await
                .map_err(Error::aws_in(ctx.name()))?;
            record.selection_id = None;
            ctx.save(&record).await?;
        }
        record.plan_id = Some(plan.id.clone());
        ctx.save(&record).await?;
        let id = backup
            .create_selection(
                &plan.id,
                &self.definition,
                &role.arn,
                &super::request_token(),
            )
            .await
            .map_err(Error::aws_in(ctx.name()))?;
        record.selection_id = Some(id.clone());
        ctx.save(&record).await?;
        Ok(SelectionOutputs {
            plan_id: plan.id,
            selection_id: id,
        })
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        Ok(Change::new(
            ctx.name(),
            self.kind(),
            Action::Delete,
            format!("delete selection {}", self.definition.name),
        )
        .detail("DeleteBackupSelection"))
    }

    async fn teardown(&self, ctx: &Context) -> Result<Vec<String>> {
        let record: SelectionRecord = ctx.load().await?.unwrap_or_default();
        let Some(plan_id) = record.plan_id.clone() else {
            return Ok(Vec::new());
        };
        let Some(live) = self.find(ctx, &plan_id, &record).await? else {
            return Ok(Vec::new());
        };
        Ok(
            if self
                .backup()
                .delete_selection(&plan_id, &live.id)
                .await
                .map_err(Error::aws_in(ctx.name()))?
            {
                vec![format!("backup selection {} deleted", self.definition.name)]
            } else {
                Vec::new()
            },
        )
    }

    async fn refresh(&self, ctx: &Context) -> Result<Vec<String>> {
        let record: SelectionRecord = ctx.load().await?.unwrap_or_default();
        let Some(plan_id) = record.plan_id.clone() else {
            return Ok(Vec::new());
        };
        Ok(match self.find(ctx, &plan_id, &record).await? {
            None => vec![format!(
                "backup selection {} no longer exists",
                self.definition.name
            )],
            Some(_) => Vec::new(),
        })
    }
}
