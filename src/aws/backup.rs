//! AWS Backup: vaults, plans, selections, recovery points and jobs, as snapshift needs them.

use std::collections::HashMap;

use aws_sdk_backup::types::{
    BackupPlanInput, BackupRuleInput, BackupSelection, Condition, ConditionType, CopyAction,
};
use serde_json::{json, Value};

use super::{none_on, Account, AwsError};
use crate::{
    backup::{lifecycle_days_json, Lifecycle, PlanDefinition, SelectionDefinition, Selector},
    ids::Region,
};

/// The codes AWS Backup answers for a vault, plan, selection, job or recovery point that is
/// not there.
const NOT_FOUND: &[&str] = &["ResourceNotFoundException"];

/// R32: `GetBackupSelection` of a plan deleted outside snapshift answers
/// `InvalidParameterValueException` `Cannot find Backup plan with ID <id>`, not
/// `ResourceNotFoundException`. AWS gives that case no code of its own, so the code is
/// narrowed by the start of the message, the one signal there is (Terraform's AWS provider
/// reads it the same way, `findSelection`, since its PR 13945). Should AWS reword it, the
/// error stays an error: teardown and refresh stop and say so; nothing is taken as gone that
/// is not.
fn plan_not_found(e: &AwsError) -> bool {
    e.is("InvalidParameterValueException")
        && e.message()
            .is_some_and(|m| m.starts_with("Cannot find Backup plan"))
}

fn err<E, R>(op: &'static str) -> impl FnOnce(aws_sdk_backup::error::SdkError<E, R>) -> AwsError
where
    E: aws_sdk_backup::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + super::RawResponse,
{
    move |e| AwsError::from_sdk("backup", op, e)
}

fn request(op: &'static str) -> impl FnOnce(aws_sdk_backup::error::BuildError) -> AwsError {
    move |e| AwsError::request("backup", op, e.to_string())
}

fn missing(op: &'static str, what: &str) -> AwsError {
    AwsError::malformed("backup", op, format!("no {what}"))
}

/// What snapshift reads about a vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultInfo {
    /// The vault's name.
    pub name: String,
    /// The vault's ARN.
    pub arn: String,
    /// The key that encrypts what the vault holds (R11).
    pub key_arn: String,
    /// How many recovery points it holds.
    pub recovery_points: i64,
}

/// A recovery point in a vault; for Aurora, a cluster snapshot named `awsbackup:...` (R16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryPoint {
    /// Its ARN (the snapshot's ARN for Aurora).
    pub arn: String,
    /// The vault that holds it.
    pub vault: String,
    /// The resource it was taken from.
    pub resource_arn: String,
    /// The key that encrypts it (R11).
    pub key_arn: String,
    /// `COMPLETED`, `PARTIAL`, `DELETING`, `EXPIRED`...
    pub status: String,
}

/// A backup plan as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSummary {
    /// The plan id.
    pub id: String,
    /// The plan ARN.
    pub arn: String,
    /// The plan name.
    pub name: String,
}

/// A backup plan as read: its ids and its body in the shape of
/// [`PlanDefinition::to_json`], so the two compare.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInfo {
    /// The plan id.
    pub id: String,
    /// The plan ARN.
    pub arn: String,
    /// The plan as JSON, with the fields snapshift sets.
    pub body: Value,
}

/// A backup selection as listed or read.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionInfo {
    /// The selection id.
    pub id: String,
    /// The selection name.
    pub name: String,
    /// The selection as JSON in the shape of [`SelectionDefinition::to_json`] (only when
    /// read with [`Backup::selection`]).
    pub body: Option<Value>,
}

/// The state of a backup, copy or restore job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Not finished yet, with AWS's state word (`CREATED`, `RUNNING`, `PENDING`...) and the
    /// percentage AWS reports, if any.
    Running {
        /// AWS's state.
        state: String,
        /// AWS's percentage.
        percent: Option<i32>,
    },
    /// Done; the ARN it made (the recovery point, or the restored cluster).
    Completed {
        /// The recovery point or the restored resource.
        arn: String,
    },
    /// Failed, aborted or expired, with AWS's state and message.
    Failed {
        /// AWS's state.
        state: String,
        /// AWS's message.
        message: String,
    },
}

/// A started job: its id, and for a backup job the recovery point it will make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedJob {
    /// The job id.
    pub id: String,
    /// The recovery point ARN, when AWS says it at once (backup jobs).
    pub recovery_point: Option<String>,
}

/// A copy of a recovery point into another vault.
#[derive(Debug, Clone, Copy)]
pub struct CopyJobRequest<'a> {
    /// The recovery point to copy.
    pub recovery_point: &'a str,
    /// The vault that holds it (in this client's region).
    pub source_vault: &'a str,
    /// The vault to copy into, by ARN (another region is fine).
    pub destination_vault_arn: &'a str,
    /// The role AWS Backup assumes.
    pub role_arn: &'a str,
    /// The lifecycle of the copy.
    pub lifecycle: &'a Lifecycle,
    /// Makes a retried start return the same job.
    pub idempotency_token: &'a str,
}

fn lifecycle(l: &Lifecycle) -> aws_sdk_backup::types::Lifecycle {
    aws_sdk_backup::types::Lifecycle::builder()
        .set_move_to_cold_storage_after_days(l.move_to_cold_storage_after_days().map(i64::from))
        .set_delete_after_days(l.delete_after_days().map(i64::from))
        .build()
}

fn lifecycle_back(l: Option<&aws_sdk_backup::types::Lifecycle>) -> Value {
    lifecycle_days_json(
        l.and_then(|l| l.move_to_cold_storage_after_days()),
        l.and_then(|l| l.delete_after_days()),
    )
}

fn plan_input(plan: &PlanDefinition, op: &'static str) -> Result<BackupPlanInput, AwsError> {
    let mut rule = BackupRuleInput::builder()
        .rule_name(plan.rule_name.as_str())
        .target_backup_vault_name(plan.target_vault.as_str())
        .schedule_expression(plan.schedule.as_str())
        .start_window_minutes(i64::from(plan.windows.start().get()))
        .completion_window_minutes(i64::from(plan.windows.completion_minutes()))
        .lifecycle(lifecycle(&plan.lifecycle));
    for copy in &plan.copies {
        rule = rule.copy_actions(
            CopyAction::builder()
                .destination_backup_vault_arn(&copy.destination_vault_arn)
                .lifecycle(lifecycle(&copy.lifecycle))
                .build()
                .map_err(request(op))?,
        );
    }
    BackupPlanInput::builder()
        .backup_plan_name(plan.name.as_str())
        .rules(rule.build().map_err(request(op))?)
        .build()
        .map_err(request(op))
}

fn plan_body(plan: &aws_sdk_backup::types::BackupPlan) -> Value {
    let rules: Vec<Value> = plan
        .rules()
        .iter()
        .map(|r| {
            let copies: Vec<Value> = r
                .copy_actions()
                .iter()
                .map(|c| {
                    json!({
                        "DestinationBackupVaultArn": c.destination_backup_vault_arn(),
                        "Lifecycle": lifecycle_back(c.lifecycle()),
                    })
                })
                .collect();
            json!({
                "RuleName": r.rule_name(),
                "TargetBackupVaultName": r.target_backup_vault_name(),
                "ScheduleExpression": r.schedule_expression(),
                "StartWindowMinutes": r.start_window_minutes(),
                "CompletionWindowMinutes": r.completion_window_minutes(),
                "Lifecycle": lifecycle_back(r.lifecycle()),
                "CopyActions": copies,
            })
        })
        .collect();
    json!({"BackupPlanName": plan.backup_plan_name(), "Rules": rules})
}

fn selection_input(
    selection: &SelectionDefinition,
    role_arn: &str,
    op: &'static str,
) -> Result<BackupSelection, AwsError> {
    let mut builder = BackupSelection::builder()
        .selection_name(selection.name.as_str())
        .iam_role_arn(role_arn);
    match &selection.selector {
        Selector::Resources(arns) => {
            for arn in arns {
                builder = builder.resources(arn);
            }
        }
        Selector::Tag { key, value } => {
            builder = builder.list_of_tags(
                Condition::builder()
                    .condition_type(ConditionType::Stringequals)
                    .condition_key(key)
                    .condition_value(value)
                    .build()
                    .map_err(request(op))?,
            );
        }
    }
    builder.build().map_err(request(op))
}

fn selection_body(s: &BackupSelection) -> Value {
    let tags: Vec<Value> = s
        .list_of_tags()
        .iter()
        .map(|c| {
            json!({
                "ConditionType": c.condition_type().as_str(),
                "ConditionKey": c.condition_key(),
                "ConditionValue": c.condition_value(),
            })
        })
        .collect();
    json!({
        "SelectionName": s.selection_name(),
        "IamRoleArn": s.iam_role_arn(),
        "Resources": s.resources(),
        "ListOfTags": tags,
    })
}

fn percent(p: Option<&str>) -> Option<i32> {
    p.and_then(|p| p.trim_end_matches('%').parse::<f64>().ok())
        .map(|p| p.round() as i32)
}

/// AWS Backup of one account in one region.
#[derive(Debug, Clone)]
pub struct Backup {
    client: aws_sdk_backup::Client,
    region: Region,
    pace: std::sync::Arc<super::Pace>,
    /// The account, whose record of recent changes tells what to wait out (R26).
    settle: Account,
}

/// R26: AWS Backup cannot use a role, or its inline policy, that IAM has only just made or
/// changed: `CreateBackupSelection` answers `InvalidParameterValueException` `IAM Role <arn>
/// cannot be assumed by AWS Backup` or `... is not authorized to call tag:GetResources` for a
/// while. The code is shared with real mistakes, so the message decides, as in Terraform's
/// AWS provider (its issue 9297, PR 12017); and the call is made again only right after
/// snapshift changed that role ([`Account::settled`]), so a role that is wrong for good fails
/// at the end of the settling window, saying what was waited for.
fn role_not_usable_yet(e: &AwsError) -> bool {
    e.is("InvalidParameterValueException")
        && e.message().is_some_and(|m| {
            m.starts_with("IAM Role")
                && (m.contains("cannot be assumed") || m.contains("is not authorized to call"))
        })
}

impl Backup {
    /// AWS Backup of `account` in `region`.
    pub fn new(account: &Account, region: &Region) -> Backup {
        Backup {
            client: account.backup_client(region),
            region: region.clone(),
            pace: account.pace(region.as_str()),
            settle: account.clone(),
        }
    }

    /// The region this client talks to.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// `DescribeBackupVault`; `None` when there is no such vault.
    pub async fn vault(&self, name: &str) -> Result<Option<VaultInfo>, AwsError> {
        const OP: &str = "DescribeBackupVault";
        let out = super::paced(&self.pace, || {
            self.client
                .describe_backup_vault()
                .backup_vault_name(name)
                .send()
        })
        .await
        .map_err(err(OP));
        // AWS answers `AccessDeniedException`, not `ResourceNotFoundException`, for a vault
        // that does not exist; the vault list tells the two apart.
        let out = match out {
            Err(e) if e.is("AccessDeniedException") => {
                if self.vault_names().await?.iter().any(|n| n == name) {
                    return Err(e);
                }
                return Ok(None);
            }
            other => other,
        };
        let Some(out) = none_on(out, NOT_FOUND)? else {
            return Ok(None);
        };
        Ok(Some(VaultInfo {
            name: out.backup_vault_name().unwrap_or(name).to_owned(),
            arn: out
                .backup_vault_arn()
                .ok_or_else(|| missing(OP, "BackupVaultArn"))?
                .to_owned(),
            key_arn: out.encryption_key_arn().unwrap_or_default().to_owned(),
            recovery_points: out.number_of_recovery_points(),
        }))
    }

    /// `ListBackupVaults`: the names of the vaults of this account and region.
    pub async fn vault_names(&self) -> Result<Vec<String>, AwsError> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let out = super::paced(&self.pace, || {
                self.client
                    .list_backup_vaults()
                    .set_next_token(token)
                    .send()
            })
            .await
            .map_err(err("ListBackupVaults"))?;
            names.extend(
                out.backup_vault_list()
                    .iter()
                    .filter_map(|v| v.backup_vault_name().map(str::to_owned)),
            );
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(names);
            }
        }
    }

    /// `CreateBackupVault` under `key_arn` (the AWS managed `alias/aws/backup` when `None`),
    /// with `tags`; returns the vault's ARN.
    pub async fn create_vault(
        &self,
        name: &str,
        key_arn: Option<&str>,
        tags: &[(String, String)],
        creator_request_id: &str,
    ) -> Result<String, AwsError> {
        const OP: &str = "CreateBackupVault";
        let out = super::paced(&self.pace, || {
            self.client
                .create_backup_vault()
                .backup_vault_name(name)
                .set_encryption_key_arn(key_arn.map(str::to_owned))
                .set_backup_vault_tags(Some(tags.iter().cloned().collect::<HashMap<_, _>>()))
                .creator_request_id(creator_request_id)
                .send()
        })
        .await
        .map_err(err(OP))?;
        Ok(out
            .backup_vault_arn()
            .ok_or_else(|| missing(OP, "BackupVaultArn"))?
            .to_owned())
    }

    /// `DeleteBackupVault`; `false` when it was not there. AWS refuses while the vault holds
    /// recovery points (`InvalidRequestException`).
    pub async fn delete_vault(&self, name: &str) -> Result<bool, AwsError> {
        let out = super::paced(&self.pace, || {
            self.client
                .delete_backup_vault()
                .backup_vault_name(name)
                .send()
        })
        .await
        .map_err(err("DeleteBackupVault"));
        Ok(none_on(out, NOT_FOUND)?.is_some())
    }

    /// `ListTags` of a vault or plan; empty when it is not there.
    pub async fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, AwsError> {
        let mut tags = Vec::new();
        let mut token = None;
        loop {
            let out = super::paced(&self.pace, || {
                self.client
                    .list_tags()
                    .resource_arn(arn)
                    .set_next_token(token)
                    .send()
            })
            .await
            .map_err(err("ListTags"));
            let Some(out) = none_on(out, NOT_FOUND)? else {
                return Ok(tags);
            };
            if let Some(map) = out.tags() {
                tags.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                tags.sort();
                return Ok(tags);
            }
        }
    }

    /// `ListRecoveryPointsByBackupVault`: everything a vault holds; empty when there is no
    /// such vault.
    pub async fn recovery_points(&self, vault: &str) -> Result<Vec<RecoveryPoint>, AwsError> {
        let mut points = Vec::new();
        let mut token = None;
        loop {
            let out = super::paced(&self.pace, || {
                self.client
                    .list_recovery_points_by_backup_vault()
                    .backup_vault_name(vault)
                    .set_next_token(token)
                    .send()
            })
            .await
            .map_err(err("ListRecoveryPointsByBackupVault"));
            let Some(out) = none_on(out, NOT_FOUND)? else {
                return Ok(points);
            };
            points.extend(out.recovery_points().iter().map(|p| {
                RecoveryPoint {
                    arn: p.recovery_point_arn().unwrap_or_default().to_owned(),
                    vault: p.backup_vault_name().unwrap_or(vault).to_owned(),
                    resource_arn: p.resource_arn().unwrap_or_default().to_owned(),
                    key_arn: p.encryption_key_arn().unwrap_or_default().to_owned(),
                    status: p
                        .status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                }
            }));
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(points);
            }
        }
    }

    /// `DescribeRecoveryPoint`; `None` when it is not there.
    pub async fn recovery_point(
        &self,
        vault: &str,
        arn: &str,
    ) -> Result<Option<RecoveryPoint>, AwsError> {
        let out = super::paced(&self.pace, || {
            self.client
                .describe_recovery_point()
                .backup_vault_name(vault)
                .recovery_point_arn(arn)
                .send()
        })
        .await
        .map_err(err("DescribeRecoveryPoint"));
        Ok(none_on(out, NOT_FOUND)?.map(|p| RecoveryPoint {
            arn: p.recovery_point_arn().unwrap_or(arn).to_owned(),
            vault: p.backup_vault_name().unwrap_or(vault).to_owned(),
            resource_arn: p.resource_arn().unwrap_or_default().to_owned(),
            key_arn: p.encryption_key_arn().unwrap_or_default().to_owned(),
            status: p
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
        }))
    }

    /// `DeleteRecoveryPoint`; `false` when it was not there.
    pub async fn delete_recovery_point(&self, vault: &str, arn: &str) -> Result<bool, AwsError> {
        let out = super::paced(&self.pace, || {
            self.client
                .delete_recovery_point()
                .backup_vault_name(vault)
                .recovery_point_arn(arn)
                .send()
        })
        .await
        .map_err(err("DeleteRecoveryPoint"));
        Ok(none_on(out, NOT_FOUND)?.is_some())
    }

    /// `ListBackupPlans`: the plans of this account and region.
    pub async fn plans(&self) -> Result<Vec<PlanSummary>, AwsError> {
        let mut plans = Vec::new();
        let mut token = None;
        loop {
            let out = super::paced(&self.pace, || {
                self.client.list_backup_plans().set_next_token(token).send()
            })
            .await
            .map_err(err("ListBackupPlans"))?;
            plans.extend(out.backup_plans_list().iter().filter_map(|p| {
                Some(PlanSummary {
                    id: p.backup_plan_id()?.to_owned(),
                    arn: p.backup_plan_arn()?.to_owned(),
                    name: p.backup_plan_name()?.to_owned(),
                })
            }));
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(plans);
            }
        }
    }

    /// `GetBackupPlan`; `None` when there is no such plan (or it was deleted).
    pub async fn plan(&self, id: &str) -> Result<Option<PlanInfo>, AwsError> {
        const OP: &str = "GetBackupPlan";
        let out = super::paced(&self.pace, || {
            self.client.get_backup_plan().backup_plan_id(id).send()
        })
        .await
        .map_err(err(OP));
        let Some(out) = none_on(out, NOT_FOUND)? else {
            return Ok(None);
        };
        Ok(Some(PlanInfo {
            id: out.backup_plan_id().unwrap_or(id).to_owned(),
            arn: out
                .backup_plan_arn()
                .ok_or_else(|| missing(OP, "BackupPlanArn"))?
                .to_owned(),
            body: out.backup_plan().map(plan_body).unwrap_or(Value::Null),
        }))
    }

    /// `CreateBackupPlan` with `tags`; returns its id and ARN.
    pub async fn create_plan(
        &self,
        plan: &PlanDefinition,
        tags: &[(String, String)],
        creator_request_id: &str,
    ) -> Result<PlanSummary, AwsError> {
        const OP: &str = "CreateBackupPlan";
        let input = plan_input(plan, OP)?;
        let out = super::paced(&self.pace, || {
            self.client
                .create_backup_plan()
                .backup_plan(input)
                .set_backup_plan_tags(Some(tags.iter().cloned().collect::<HashMap<_, _>>()))
                .creator_request_id(creator_request_id)
                .send()
        })
        .await
        .map_err(err(OP))?;
        Ok(PlanSummary {
            id: out
                .backup_plan_id()
                .ok_or_else(|| missing(OP, "BackupPlanId"))?
                .to_owned(),
            arn: out
                .backup_plan_arn()
                .ok_or_else(|| missing(OP, "BackupPlanArn"))?
                .to_owned(),
            name: plan.name.to_string(),
        })
    }

    /// `UpdateBackupPlan`: replaces the plan's rules with the definition's.
    pub async fn update_plan(&self, id: &str, plan: &PlanDefinition) -> Result<(), AwsError> {
        const OP: &str = "UpdateBackupPlan";
        let input = plan_input(plan, OP)?;
        super::paced(&self.pace, || {
            self.client
                .update_backup_plan()
                .backup_plan_id(id)
                .backup_plan(input)
                .send()
        })
        .await
        .map_err(err(OP))?;
        Ok(())
    }

    /// `DeleteBackupPlan`; `false` when it was not there. AWS refuses while selections remain.
    pub async fn delete_plan(&self, id: &str) -> Result<bool, AwsError> {
        let out = super::paced(&self.pace, || {
            self.client.delete_backup_plan().backup_plan_id(id).send()
        })
        .await
        .map_err(err("DeleteBackupPlan"));
        Ok(none_on(out, NOT_FOUND)?.is_some())
    }

    /// `ListBackupSelections` of a plan; empty when there is no such plan.
    pub async fn selections(&self, plan_id: &str) -> Result<Vec<SelectionInfo>, AwsError> {
        let mut selections = Vec::new();
        let mut token = None;
        loop {
            let out = super::paced(&self.pace, || {
                self.client
                    .list_backup_selections()
                    .backup_plan_id(plan_id)
                    .set_next_token(token)
                    .send()
            })
            .await
            .map_err(err("ListBackupSelections"));
            let Some(out) = none_on(out, NOT_FOUND)? else {
                return Ok(selections);
            };
            selections.extend(out.backup_selections_list().iter().filter_map(|s| {
                Some(SelectionInfo {
                    id: s.selection_id()?.to_owned(),
                    name: s.selection_name()?.to_owned(),
                    body: None,
                })
            }));
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(selections);
            }
        }
    }

    /// `GetBackupSelection`; `None` when it is not there, or its plan is not (R32).
    pub async fn selection(
        &self,
        plan_id: &str,
        selection_id: &str,
    ) -> Result<Option<SelectionInfo>, AwsError> {
        let out = super::paced(&self.pace, || {
            self.client
                .get_backup_selection()
                .backup_plan_id(plan_id)
                .selection_id(selection_id)
                .send()
        })
        .await
        .map_err(err("GetBackupSelection"));
        let out = match out {
            Err(e) if plan_not_found(&e) => return Ok(None),
            out => none_on(out, NOT_FOUND)?,
        };
        Ok(out.map(|out| SelectionInfo {
            id: out.selection_id().unwrap_or(selection_id).to_owned(),
            name: out
                .backup_selection()
                .map(|s| s.selection_name().to_owned())
                .unwrap_or_default(),
            body: out.backup_selection().map(selection_body),
        }))
    }

    /// `CreateBackupSelection`: `selection` with `role_arn` (R14); returns the selection id.
    /// Right after snapshift made or changed the role, AWS Backup not being able to use it
    /// yet is waited out (R26).
    pub async fn create_selection(
        &self,
        plan_id: &str,
        selection: &SelectionDefinition,
        role_arn: &str,
        creator_request_id: &str,
    ) -> Result<String, AwsError> {
        const OP: &str = "CreateBackupSelection";
        let input = selection_input(selection, role_arn, OP)?;
        let role = role_arn.rsplit('/').next().unwrap_or_default();
        let out = self
            .settle
            .settled(
                &super::iam::role_thing(role),
                role_not_usable_yet,
                || async {
                    super::paced(&self.pace, || {
                        self.client
                            .create_backup_selection()
                            .backup_plan_id(plan_id)
                            .backup_selection(input.clone())
                            .creator_request_id(creator_request_id)
                            .send()
                    })
                    .await
                    .map_err(err(OP))
                },
            )
            .await?;
        Ok(out
            .selection_id()
            .ok_or_else(|| missing(OP, "SelectionId"))?
            .to_owned())
    }

    /// `DeleteBackupSelection`; `false` when it was not there.
    pub async fn delete_selection(
        &self,
        plan_id: &str,
        selection_id: &str,
    ) -> Result<bool, AwsError> {
        let out = super::paced(&self.pace, || {
            self.client
                .delete_backup_selection()
                .backup_plan_id(plan_id)
                .selection_id(selection_id)
                .send()
        })
        .await
        .map_err(err("DeleteBackupSelection"));
        Ok(none_on(out, NOT_FOUND)?.is_some())
    }

    /// `StartBackupJob`: an on-demand backup of `resource_arn` into `vault`.
    pub async fn start_backup_job(
        &self,
        vault: &str,
        resource_arn: &str,
        role_arn: &str,
        lifecycle_of_point: &Lifecycle,
        idempotency_token: &str,
    ) -> Result<StartedJob, AwsError> {
        const OP: &str = "StartBackupJob";
        let out = super::paced(&self.pace, || {
            self.client
                .start_backup_job()
                .backup_vault_name(vault)
                .resource_arn(resource_arn)
                .iam_role_arn(role_arn)
                .lifecycle(lifecycle(lifecycle_of_point))
                .idempotency_token(idempotency_token)
                .send()
        })
        .await
        .map_err(err(OP))?;
        Ok(StartedJob {
            id: out
                .backup_job_id()
                .ok_or_else(|| missing(OP, "BackupJobId"))?
                .to_owned(),
            recovery_point: out.recovery_point_arn().map(str::to_owned),
        })
    }

    /// `DescribeBackupJob`.
    pub async fn backup_job(&self, id: &str) -> Result<JobState, AwsError> {
        const OP: &str = "DescribeBackupJob";
        let out = super::paced(&self.pace, || {
            self.client.describe_backup_job().backup_job_id(id).send()
        })
        .await
        .map_err(err(OP))?;
        let state = out.state().map(|s| s.as_str()).unwrap_or_default();
        Ok(job_state(
            state,
            &["COMPLETED"],
            out.status_message(),
            out.recovery_point_arn(),
            percent(out.percent_done()),
        ))
    }

    /// `StartCopyJob`: copies a recovery point into another vault, whose key encrypts the
    /// copy (R11).
    pub async fn start_copy_job(&self, request: &CopyJobRequest<'_>) -> Result<String, AwsError> {
        const OP: &str = "StartCopyJob";
        let out = super::paced(&self.pace, || {
            self.client
                .start_copy_job()
                .recovery_point_arn(request.recovery_point)
                .source_backup_vault_name(request.source_vault)
                .destination_backup_vault_arn(request.destination_vault_arn)
                .iam_role_arn(request.role_arn)
                .lifecycle(lifecycle(request.lifecycle))
                .idempotency_token(request.idempotency_token)
                .send()
        })
        .await
        .map_err(err(OP))?;
        Ok(out
            .copy_job_id()
            .ok_or_else(|| missing(OP, "CopyJobId"))?
            .to_owned())
    }

    /// `DescribeCopyJob`.
    pub async fn copy_job(&self, id: &str) -> Result<JobState, AwsError> {
        const OP: &str = "DescribeCopyJob";
        let out = super::paced(&self.pace, || {
            self.client.describe_copy_job().copy_job_id(id).send()
        })
        .await
        .map_err(err(OP))?;
        let job = out.copy_job().ok_or_else(|| missing(OP, "CopyJob"))?;
        let state = job.state().map(|s| s.as_str()).unwrap_or_default();
        Ok(job_state(
            state,
            &["COMPLETED"],
            job.status_message(),
            job.destination_recovery_point_arn(),
            None,
        ))
    }

    /// `StartRestoreJob` of an Aurora recovery point as cluster `cluster_id`. Through AWS
    /// Backup only the cluster comes back, no DB instances (R17).
    pub async fn start_restore_job(
        &self,
        recovery_point: &str,
        role_arn: &str,
        metadata: &[(String, String)],
        idempotency_token: &str,
    ) -> Result<String, AwsError> {
        const OP: &str = "StartRestoreJob";
        let out = super::paced(&self.pace, || {
            self.client
                .start_restore_job()
                .recovery_point_arn(recovery_point)
                .iam_role_arn(role_arn)
                .set_metadata(Some(metadata.iter().cloned().collect::<HashMap<_, _>>()))
                .resource_type("Aurora")
                .idempotency_token(idempotency_token)
                .send()
        })
        .await
        .map_err(err(OP))?;
        Ok(out
            .restore_job_id()
            .ok_or_else(|| missing(OP, "RestoreJobId"))?
            .to_owned())
    }

    /// `DescribeRestoreJob`.
    pub async fn restore_job(&self, id: &str) -> Result<JobState, AwsError> {
        const OP: &str = "DescribeRestoreJob";
        let out = super::paced(&self.pace, || {
            self.client.describe_restore_job().restore_job_id(id).send()
        })
        .await
        .map_err(err(OP))?;
        let state = out.status().map(|s| s.as_str()).unwrap_or_default();
        Ok(job_state(
            state,
            &["COMPLETED"],
            out.status_message(),
            out.created_resource_arn(),
            percent(out.percent_done()),
        ))
    }
}

fn job_state(
    state: &str,
    done: &[&str],
    message: Option<&str>,
    arn: Option<&str>,
    percent: Option<i32>,
) -> JobState {
    match (state, arn) {
        (s, Some(arn)) if done.contains(&s) => JobState::Completed {
            arn: arn.to_owned(),
        },
        ("FAILED" | "ABORTED" | "EXPIRED" | "PARTIAL", _) => JobState::Failed {
            state: state.to_owned(),
            message: message.unwrap_or_default().to_owned(),
        },
        (s, None) if done.contains(&s) => JobState::Failed {
            state: state.to_owned(),
            message: "AWS reports the job complete but names nothing it made".into(),
        },
        _ => JobState::Running {
            state: state.to_owned(),
            percent,
        },
    }
}
