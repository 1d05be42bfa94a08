//! A backup plan and its selection as snapshift defines them: one rule that backs up into the
//! source vault and copies into the destination vault (R13), and a selection that names the
//! clusters and the role (R14). Pure: the JSON is AWS Backup's own shape, used for the docs and
//! to compare a live plan with its definition.

use serde_json::{json, Map, Value};

use super::{Lifecycle, Schedule, Windows};
use crate::ids::{BackupPlanName, BackupRuleName, SelectionName, VaultName};

/// A copy action: where a rule copies its recovery points, and how long the copies live
/// (R13, R24). The copy's key is the destination vault's key; a rule cannot choose one (R11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyDefinition {
    /// The destination vault's ARN.
    pub destination_vault_arn: String,
    /// The lifecycle of the copies.
    pub lifecycle: Lifecycle,
}

/// A backup plan with one rule (R13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanDefinition {
    /// The plan's name.
    pub name: BackupPlanName,
    /// The rule's name.
    pub rule_name: BackupRuleName,
    /// The vault the rule backs up into (in the plan's region).
    pub target_vault: VaultName,
    /// When the rule runs (cron, UTC).
    pub schedule: Schedule,
    /// Start and completion windows.
    pub windows: Windows,
    /// The lifecycle of the recovery points in the target vault.
    pub lifecycle: Lifecycle,
    /// Where the rule copies to.
    pub copies: Vec<CopyDefinition>,
}

/// AWS Backup's `Lifecycle` object of a definition; empty when the recovery points are kept.
pub fn lifecycle_json(lifecycle: &Lifecycle) -> Value {
    lifecycle_days_json(
        lifecycle.move_to_cold_storage_after_days().map(i64::from),
        lifecycle.delete_after_days().map(i64::from),
    )
}

/// AWS Backup's `Lifecycle` object of the two day counts, as a definition writes it and as a
/// live plan is read back, so that the two compare.
pub fn lifecycle_days_json(move_to_cold_storage: Option<i64>, delete: Option<i64>) -> Value {
    let mut map = Map::new();
    if let Some(days) = move_to_cold_storage {
        map.insert("MoveToColdStorageAfterDays".into(), json!(days));
    }
    if let Some(days) = delete {
        map.insert("DeleteAfterDays".into(), json!(days));
    }
    Value::Object(map)
}

impl PlanDefinition {
    /// The plan as AWS Backup's `BackupPlan` JSON (the body of `CreateBackupPlan`, and what
    /// `GetBackupPlan` answers), with only the fields snapshift sets.
    pub fn to_json(&self) -> Value {
        let copies: Vec<Value> = self
            .copies
            .iter()
            .map(|c| {
                json!({
                    "DestinationBackupVaultArn": c.destination_vault_arn,
                    "Lifecycle": lifecycle_json(&c.lifecycle),
                })
            })
            .collect();
        json!({
            "BackupPlanName": self.name.as_str(),
            "Rules": [{
                "RuleName": self.rule_name.as_str(),
                "TargetBackupVaultName": self.target_vault.as_str(),
                "ScheduleExpression": self.schedule.as_str(),
                "StartWindowMinutes": self.windows.start().get(),
                "CompletionWindowMinutes": self.windows.completion_minutes(),
                "Lifecycle": lifecycle_json(&self.lifecycle),
                "CopyActions": copies,
            }],
        })
    }
}

/// What a backup selection picks (R14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// These resources, by ARN (Aurora cluster ARNs).
    Resources(Vec<String>),
    /// Every resource with this tag key and value.
    Tag {
        /// The tag key.
        key: String,
        /// The tag value.
        value: String,
    },
}

/// A backup selection: what to back up and the role AWS Backup assumes to do it (R14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectionDefinition {
    /// The selection's name.
    pub name: SelectionName,
    /// What it picks.
    pub selector: Selector,
}

impl SelectionDefinition {
    /// The selection as AWS Backup's `BackupSelection` JSON, with the role's ARN.
    pub fn to_json(&self, role_arn: &str) -> Value {
        let (resources, tags) = match &self.selector {
            Selector::Resources(arns) => (json!(arns), json!([])),
            Selector::Tag { key, value } => (
                json!([]),
                json!([{
                    "ConditionType": "STRINGEQUALS",
                    "ConditionKey": key,
                    "ConditionValue": value,
                }]),
            ),
        };
        json!({
            "SelectionName": self.name.as_str(),
            "IamRoleArn": role_arn,
            "Resources": resources,
            "ListOfTags": tags,
        })
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;
    use crate::backup::StartWindow;

    fn plan() -> PlanDefinition {
        PlanDefinition {
            name: "orders-dr".parse().unwrap(),
            rule_name: "daily-cross-region".parse().unwrap(),
            target_vault: "orders-source".parse().unwrap(),
            schedule: "cron(0 17 ? * * *)".parse().unwrap(),
            windows: Windows::new(StartWindow::minutes(60).unwrap(), 480).unwrap(),
            lifecycle: Lifecycle::delete_after(35).unwrap(),
            copies: vec![CopyDefinition {
                destination_vault_arn:
                    "arn:aws:backup:ap-northeast-3:111111111111:backup-vault:orders-destination"
                        .into(),
                lifecycle: Lifecycle::new(Some(30), Some(120)).unwrap(),
            }],
        }
    }

    // R13, R24: the rule names its vault, a cron schedule, both windows, and the copy action
    // its destination vault ARN and its own lifecycle.
    #[test]
    fn plan_json_is_aws_backup_shape() {
        let json = serde_json::to_string_pretty(&plan().to_json()).unwrap();
        expect![[r#"
            {
              "BackupPlanName": "orders-dr",
              "Rules": [
                {
                  "CompletionWindowMinutes": 480,
                  "CopyActions": [
                    {
                      "DestinationBackupVaultArn": "arn:aws:backup:ap-northeast-3:111111111111:backup-vault:orders-destination",
                      "Lifecycle": {
                        "DeleteAfterDays": 120,
                        "MoveToColdStorageAfterDays": 30
                      }
                    }
                  ],
                  "Lifecycle": {
                    "DeleteAfterDays": 35
                  },
                  "RuleName": "daily-cross-region",
                  "ScheduleExpression": "cron(0 17 ? * * *)",
                  "StartWindowMinutes": 60,
                  "TargetBackupVaultName": "orders-source"
                }
              ]
            }"#]]
        .assert_eq(&json);
    }

    // R14: by ARN or by tag, always with the role.
    #[test]
    fn selection_json_by_arn_and_by_tag() {
        let by_arn = SelectionDefinition {
            name: "orders".parse().unwrap(),
            selector: Selector::Resources(vec![
                "arn:aws:rds:ap-northeast-1:111111111111:cluster:orders".into(),
            ]),
        };
        let by_tag = SelectionDefinition {
            name: "tagged".parse().unwrap(),
            selector: Selector::Tag {
                key: "backup".into(),
                value: "cross-region".into(),
            },
        };
        let role = "arn:aws:iam::111111111111:role/orders-backup";
        let out = format!("{}\n{}", by_arn.to_json(role), by_tag.to_json(role));
        expect![[r#"
            {"IamRoleArn":"arn:aws:iam::111111111111:role/orders-backup","ListOfTags":[],"Resources":["arn:aws:rds:ap-northeast-1:111111111111:cluster:orders"],"SelectionName":"orders"}
            {"IamRoleArn":"arn:aws:iam::111111111111:role/orders-backup","ListOfTags":[{"ConditionKey":"backup","ConditionType":"STRINGEQUALS","ConditionValue":"cross-region"}],"Resources":[],"SelectionName":"tagged"}"#]]
        .assert_eq(&out);
    }
}
