//! What `deploy` (or `teardown`) would do, resource by resource: pure data that renders as a
//! table for people and as JSON for tools.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::rules::Rule;

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// It does not exist yet and will be created.
    Create,
    /// It exists and will be changed in place.
    Update,
    /// It will be replaced by a new one.
    Replace,
    /// It will be removed (or, for a key, scheduled for deletion).
    Delete,
    /// It will be left in place and no longer managed (`retain`).
    Keep,
    /// Nothing to do.
    Unchanged,
}

impl Action {
    fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+ create",
            Action::Update => "~ update",
            Action::Replace => "± replace",
            Action::Delete => "- delete",
            Action::Keep => "= keep",
            Action::Unchanged => "= unchanged",
        }
    }
}

/// One line of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The resource's logical name.
    pub resource: String,
    /// The resource kind, e.g. `kms-key`.
    pub kind: String,
    /// What happens.
    pub action: Action,
    /// Why, in a few words.
    pub reason: String,
    /// The rule behind the reason, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Rule>,
    /// The individual steps or differences, one per line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl Change {
    /// A change with no rule and no details.
    pub fn new(resource: &str, kind: &str, action: Action, reason: impl Into<String>) -> Change {
        Change {
            resource: resource.to_owned(),
            kind: kind.to_owned(),
            action,
            reason: reason.into(),
            rule: None,
            details: Vec::new(),
        }
    }

    /// The same change, citing `rule`.
    pub fn rule(mut self, rule: Rule) -> Change {
        self.rule = Some(rule);
        self
    }

    /// The same change, with one more detail line.
    pub fn detail(mut self, detail: impl Into<String>) -> Change {
        self.details.push(detail.into());
        self
    }
}

/// A warning shown with a plan: something that will work but probably not as intended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// The resource it is about.
    pub resource: String,
    /// What to look at.
    pub message: String,
    /// The rule behind it.
    pub rule: Option<Rule>,
}

/// What a deploy or teardown would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The stack.
    pub stack: String,
    /// `deploy` or `teardown`.
    pub operation: String,
    /// One change per resource, in the order they would run.
    pub changes: Vec<Change>,
    /// Warnings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

impl Plan {
    /// Whether anything would change.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| c.action != Action::Unchanged)
    }

    /// How many changes have `action`.
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// The plan as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The plan as an aligned table with a summary line.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{} plan for stack `{}`\n",
            title(&self.operation),
            self.stack
        );
        let name_w = self
            .changes
            .iter()
            .map(|c| c.resource.len())
            .max()
            .unwrap_or(0);
        let kind_w = self.changes.iter().map(|c| c.kind.len()).max().unwrap_or(0);
        for c in &self.changes {
            let reason = match c.rule {
                Some(rule) => format!("{rule}: {}", c.reason),
                None => c.reason.clone(),
            };
            let _ = writeln!(
                out,
                "  {:<11}  {:<name_w$}  {:<kind_w$}  {reason}",
                c.action.symbol(),
                c.resource,
                c.kind
            );
            for d in &c.details {
                let _ = writeln!(out, "  {:<11}  {:<name_w$}    · {d}", "", "");
            }
        }
        for w in &self.warnings {
            let rule = w.rule.map(|r| format!("{r}: ")).unwrap_or_default();
            let _ = writeln!(out, "  warning: {}: {rule}{}", w.resource, w.message);
        }
        let parts: Vec<String> = [
            (Action::Create, "to create"),
            (Action::Update, "to update"),
            (Action::Replace, "to replace"),
            (Action::Delete, "to delete"),
            (Action::Keep, "to keep"),
            (Action::Unchanged, "unchanged"),
        ]
        .iter()
        .filter(|(a, _)| self.count(*a) > 0)
        .map(|(a, label)| format!("{} {label}", self.count(*a)))
        .collect();
        let summary = if parts.is_empty() {
            "nothing to do".to_owned()
        } else {
            parts.join(", ")
        };
        let _ = writeln!(out, "{summary}");
        out
    }
}

fn title(operation: &str) -> String {
    let mut chars = operation.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn sample() -> Plan {
        Plan {
            stack: "migrate-orders".into(),
            operation: "deploy".into(),
            changes: vec![
                Change::new(
                    "share-key",
                    "kms-key",
                    Action::Create,
                    "customer managed key granted to 999999999999",
                )
                .rule(Rule::R2)
                .detail("CreateKey (symmetric, multi-region)")
                .detail("CreateAlias alias/snapshot-share"),
                Change::new(
                    "copy",
                    "db-cluster-snapshot",
                    Action::Create,
                    "source uses alias/aws/rds, re-encrypting copy needed",
                )
                .rule(Rule::R1),
                Change::new(
                    "old-key",
                    "kms-key",
                    Action::Unchanged,
                    "matches the definition",
                ),
            ],
            warnings: vec![Warning {
                resource: "vault".into(),
                message: "destination vault uses alias/aws/backup: copies land under alias/aws/rds"
                    .into(),
                rule: Some(Rule::R11),
            }],
        }
    }

    #[test]
    fn renders_as_a_table() {
        expect![[r#"
            Deploy plan for stack `migrate-orders`
              + create     share-key  kms-key              R2: customer managed key granted to 999999999999
                                        · CreateKey (symmetric, multi-region)
                                        · CreateAlias alias/snapshot-share
              + create     copy       db-cluster-snapshot  R1: source uses alias/aws/rds, re-encrypting copy needed
              = unchanged  old-key    kms-key              matches the definition
              warning: vault: R11: destination vault uses alias/aws/backup: copies land under alias/aws/rds
            2 to create, 1 unchanged
        "#]]
        .assert_eq(&sample().render());
        let empty = Plan {
            stack: "s".into(),
            operation: "teardown".into(),
            changes: vec![],
            warnings: vec![],
        };
        expect![[r#"
            Teardown plan for stack `s`
            nothing to do
        "#]]
        .assert_eq(&empty.render());
    }

    #[test]
    fn renders_as_json_and_reads_back() {
        let plan = sample();
        let json = plan.to_json();
        assert!(json.contains(r#""action": "create""#), "{json}");
        assert!(json.contains(r#""rule": "R1""#), "{json}");
        let back: Plan = serde_json::from_str(&json).unwrap();
        assert_eq!(back, plan);
        assert!(plan.has_changes());
        assert_eq!(plan.count(Action::Create), 2);
    }
}
