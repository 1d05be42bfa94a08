//! Checks on policy documents, by what the policy is for.

use std::collections::BTreeSet;

use super::{
    action_matches, actions, AwsPrincipal, ConditionValue, Effect, OneOrMany, PolicyDocument,
    Principal, Statement, VERSION_2012_10_17,
};
use crate::{ids::AccountId, rules::Rule};

/// A policy snapshift refuses to write, with the statement and value at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy has no statement.
    #[error("the policy has no statement")]
    NoStatements,
    /// Two statements share a Sid.
    #[error("two statements have the Sid \"{sid}\"; Sids must be unique")]
    DuplicateSid {
        /// The repeated Sid.
        sid: String,
    },
    /// A Sid has characters the policy kind does not allow.
    #[error("the Sid \"{sid}\" may contain only letters and digits in an IAM policy")]
    InvalidSid {
        /// The Sid.
        sid: String,
    },
    /// `Version` is neither `2012-10-17` nor `2008-10-17`.
    #[error("the policy version \"{version}\" is not one AWS knows (use \"2012-10-17\")")]
    InvalidVersion {
        /// The version given.
        version: String,
    },
    /// A principal is not an account id, an IAM principal ARN, or `*`.
    #[error("{statement}: principal `{value}` is neither a 12-digit account id, an IAM principal ARN nor \"*\": {problem}")]
    InvalidPrincipal {
        /// Which statement.
        statement: String,
        /// The principal as written.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A statement needs a principal (key and trust policies) and has none.
    #[error("{statement} has no Principal; a {kind} names who it applies to")]
    MissingPrincipal {
        /// Which statement.
        statement: String,
        /// What the policy is for.
        kind: &'static str,
    },
    /// A principal in an identity policy, which takes none.
    #[error(
        "{statement} has a Principal; an IAM identity policy applies to its holder and takes none"
    )]
    UnexpectedPrincipal {
        /// Which statement.
        statement: String,
    },
    /// A statement has neither or both of `Action` and `NotAction`.
    #[error("{statement} must have exactly one of Action and NotAction")]
    ActionShape {
        /// Which statement.
        statement: String,
    },
    /// A field that names nothing: `Principal: {}` or an empty `Action` list.
    #[error("{statement} has an empty {field}; AWS refuses a {field} that names nothing")]
    EmptyValue {
        /// Which statement.
        statement: String,
        /// Which field.
        field: &'static str,
    },
    /// A statement has neither or both of `Resource` and `NotResource`.
    #[error("{statement} must have exactly one of Resource and NotResource")]
    ResourceShape {
        /// Which statement.
        statement: String,
    },
    /// R4: an Allow to every principal with no condition that narrows who.
    #[error("{statement} allows {actions} to every principal (\"*\") with no condition that narrows who (R4); name the principals or add a condition such as kms:CallerAccount or aws:PrincipalAccount")]
    WildcardGrant {
        /// Which statement.
        statement: String,
        /// The actions granted, comma-separated.
        actions: String,
    },
    /// R2: key administration (or `kms:*`) allowed to a principal outside the key's account.
    #[error("{statement} allows {granted} (key administration: it covers {action}) to {principal}, outside account {owner}, which owns the key (R2); another account may only use the key: give it the cryptographic actions, and keep administration to principals of {owner}")]
    ForeignKeyAdministration {
        /// Which statement.
        statement: String,
        /// The action pattern that grants it, as written (`kms:*`, `kms:Put*`, or
        /// `every action but ...` for `NotAction`).
        granted: String,
        /// An administrative action it covers, such as `kms:PutKeyPolicy`.
        action: String,
        /// The principal outside the account, as written (`"*"` for everyone).
        principal: String,
        /// The key's account.
        owner: AccountId,
    },
    /// R4: no one in the key's own account could change the policy afterwards.
    #[error("the key policy would lock itself: no principal of account {owner} (its root, or a named user or role) is allowed kms:PutKeyPolicy without conditions and spared by every Deny (R4); KMS refuses such a policy with MalformedPolicyDocumentException")]
    Lockout {
        /// The key's account.
        owner: AccountId,
    },
    /// R4 as KMS checks it: the principal making `CreateKey` or `PutKeyPolicy` could not
    /// change the policy afterwards.
    #[error("the key policy would lock out its caller {caller}: no statement without conditions allows it kms:PutKeyPolicy, or a Deny takes it away (R4); KMS checks the principal that makes CreateKey or PutKeyPolicy (not any principal of the account) and refuses with MalformedPolicyDocumentException. Name that principal, or its account root, in a statement that allows kms:PutKeyPolicy, or deploy as a principal the policy names")]
    CallerLockout {
        /// The caller's ARN, as STS names it.
        caller: String,
    },
}

impl PolicyError {
    /// The rule of `docs/rules.md` this error enforces, if any.
    pub fn rule(&self) -> Option<Rule> {
        match self {
            PolicyError::WildcardGrant { .. }
            | PolicyError::Lockout { .. }
            | PolicyError::CallerLockout { .. } => Some(Rule::R4),
            PolicyError::ForeignKeyAdministration { .. } => Some(Rule::R2),
            _ => None,
        }
    }
}

/// Condition keys that narrow who a statement applies to.
const NARROWING_KEYS: &[&str] = &[
    "kms:calleraccount",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:userid",
    "aws:username",
];

impl PolicyDocument {
    /// Checks a KMS key policy for the key owned by `owner`:
    /// the common checks, a principal in every statement, principals that parse, no grant to
    /// `"*"` without a narrowing condition (R4), someone of `owner` keeping
    /// `kms:PutKeyPolicy` (R4, KMS's own lockout safety check), and no key administration
    /// (`kms:*`, or any of [`actions::KEY_ADMINISTRATION`]) allowed to a principal outside
    /// `owner`, `"*"` included unless a condition keeps it to `owner` (R2).
    pub fn validate_key_policy(&self, owner: AccountId) -> Result<(), PolicyError> {
        self.validate_common(false)?;
        for (i, st) in self.statements().iter().enumerate() {
            require_principal(st, i, "key policy")?;
            check_principals(st, i)?;
            check_wildcard(st, i)?;
            if st.resource.is_some() == st.not_resource.is_some() {
                return Err(PolicyError::ResourceShape {
                    statement: st.label(i),
                });
            }
        }
        self.check_lockout(owner)?;
        self.check_foreign_administration(owner)
    }

    /// R2: no Allow gives key administration to a principal outside `owner`: an account or
    /// IAM principal of another account, `"*"` (unless `kms:CallerAccount` or
    /// `aws:PrincipalAccount` keeps it to `owner`), or everyone but some (`NotPrincipal`).
    /// The error names the statement (Sid, or position), the action pattern and the principal.
    fn check_foreign_administration(&self, owner: AccountId) -> Result<(), PolicyError> {
        for (i, st) in self.statements().iter().enumerate() {
            if st.effect != Effect::Allow {
                continue;
            }
            let Some((granted, action)) = administration_granted(st) else {
                continue;
            };
            let outsider = match (&st.principal, &st.not_principal) {
                (_, Some(np)) => Some(format!(
                    "every principal but {}",
                    np.aws_values().join(", ")
                )),
                (Some(p), None) => {
                    let values: Vec<String> = match p {
                        Principal::Any(_) => vec!["*".to_owned()],
                        Principal::Map(_) => p.aws_values().to_vec(),
                    };
                    values.into_iter().find(|value| {
                        match AwsPrincipal::parse(value) {
                            Ok(AwsPrincipal::Any) => !kept_to_account(st, owner),
                            Ok(named) => named.account() != Some(owner),
                            // Reported by the principal check.
                            Err(_) => false,
                        }
                    })
                }
                (None, None) => None,
            };
            if let Some(principal) = outsider {
                return Err(PolicyError::ForeignKeyAdministration {
                    statement: st.label(i),
                    granted,
                    action: action.to_owned(),
                    principal,
                    owner,
                });
            }
        }
        Ok(())
    }

    /// Checks an IAM identity policy (attached to a role): the common checks, IAM's Sid rule,
    /// no principal, and exactly one of Resource and NotResource in each statement.
    pub fn validate_identity_policy(&self) -> Result<(), PolicyError> {
        self.validate_common(true)?;
        for (i, st) in self.statements().iter().enumerate() {
            if st.principal.is_some() || st.not_principal.is_some() {
                return Err(PolicyError::UnexpectedPrincipal {
                    statement: st.label(i),
                });
            }
            if st.resource.is_some() == st.not_resource.is_some() {
                return Err(PolicyError::ResourceShape {
                    statement: st.label(i),
                });
            }
        }
        Ok(())
    }

    /// Checks an IAM role trust policy: the common checks, IAM's Sid rule, a principal in each
    /// statement, principals that parse, and no trust to `"*"` without a narrowing condition.
    pub fn validate_trust_policy(&self) -> Result<(), PolicyError> {
        self.validate_common(true)?;
        for (i, st) in self.statements().iter().enumerate() {
            require_principal(st, i, "trust policy")?;
            check_principals(st, i)?;
            check_wildcard(st, i)?;
        }
        Ok(())
    }

    fn validate_common(&self, iam_sids: bool) -> Result<(), PolicyError> {
        if let Some(version) = &self.version {
            if version != VERSION_2012_10_17 && version != "2008-10-17" {
                return Err(PolicyError::InvalidVersion {
                    version: version.clone(),
                });
            }
        }
        if self.statements().is_empty() {
            return Err(PolicyError::NoStatements);
        }
        let mut sids = BTreeSet::new();
        for (i, st) in self.statements().iter().enumerate() {
            if let Some(sid) = &st.sid {
                if iam_sids && !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(PolicyError::InvalidSid { sid: sid.clone() });
                }
                if !sids.insert(sid.as_str()) {
                    return Err(PolicyError::DuplicateSid { sid: sid.clone() });
                }
            }
            if st.action.is_some() == st.not_action.is_some() {
                return Err(PolicyError::ActionShape {
                    statement: st.label(i),
                });
            }
            let empty = |field: &'static str| PolicyError::EmptyValue {
                statement: st.label(i),
                field,
            };
            let lists = [
                ("Action", &st.action),
                ("NotAction", &st.not_action),
                ("Resource", &st.resource),
                ("NotResource", &st.not_resource),
            ];
            if let Some((field, _)) = lists
                .into_iter()
                .find(|(_, v)| v.as_ref().is_some_and(OneOrMany::is_empty))
            {
                return Err(empty(field));
            }
            if [&st.principal, &st.not_principal]
                .into_iter()
                .flatten()
                .any(Principal::is_empty)
            {
                return Err(empty("Principal"));
            }
        }
        Ok(())
    }

    /// R4: some principal of `owner`'s account (its root, or a named user or role) is
    /// allowed `kms:PutKeyPolicy` on the key by a statement without conditions, and no Deny
    /// takes it away. A Deny with conditions counts unless one of its conditions is a negated
    /// identity test that exempts that principal (`StringNotEquals aws:PrincipalArn`, ...):
    /// conditions are ANDed, so one that is false for the principal switches the Deny off.
    /// Any other conditional Deny is assumed to apply, so the check errs towards refusing.
    ///
    /// This is the one check KMS itself applies to every key policy; it is public so that a
    /// model of KMS can apply it alone.
    pub fn check_lockout(&self, owner: AccountId) -> Result<(), PolicyError> {
        let keeps_control = self
            .statements()
            .iter()
            .filter(|st| {
                st.effect == Effect::Allow
                    && st.condition.is_none()
                    && covers_put_key_policy(st)
                    && covers_the_key(st)
            })
            .flat_map(|st| st.principal.iter().flat_map(Principal::aws_principals))
            .filter(|p| p.account() == Some(owner))
            .any(|candidate| !self.denies_put_key_policy(&candidate));
        if keeps_control {
            Ok(())
        } else {
            Err(PolicyError::Lockout { owner })
        }
    }

    /// R4 as KMS applies it to a `CreateKey` or `PutKeyPolicy` request: the caller itself
    /// (`caller`, its ARN as STS gives it, read with [`AwsPrincipal::caller`]) is allowed
    /// `kms:PutKeyPolicy` on the key by a statement without conditions that names it, its
    /// role or its account, and no Deny takes it away. [`check_lockout`](Self::check_lockout)
    /// accepts any principal of the account; KMS accepts only the one asking.
    pub fn check_lockout_for(&self, caller: &str) -> Result<(), PolicyError> {
        let lockout = || PolicyError::CallerLockout {
            caller: caller.to_owned(),
        };
        let who = AwsPrincipal::caller(caller).map_err(|_| lockout())?;
        let allowed = self.statements().iter().any(|st| {
            st.effect == Effect::Allow
                && st.condition.is_none()
                && covers_put_key_policy(st)
                && covers_the_key(st)
                && st
                    .principal
                    .iter()
                    .flat_map(Principal::aws_principals)
                    .any(|p| p.covers(&who))
        });
        if allowed && !self.denies_put_key_policy(&who) {
            Ok(())
        } else {
            Err(lockout())
        }
    }

    /// Whether some Deny statement takes `kms:PutKeyPolicy` away from `who`.
    fn denies_put_key_policy(&self, who: &AwsPrincipal) -> bool {
        self.statements().iter().any(|st| {
            st.effect == Effect::Deny
                && covers_put_key_policy(st)
                && deny_reaches(st, who)
                && !condition_exempts(st, who)
        })
    }
}

/// The first key administration action an Allow's `Action` (or `NotAction`) covers, with the
/// pattern that covers it as written.
fn administration_granted(st: &Statement) -> Option<(String, &'static str)> {
    match (&st.action, &st.not_action) {
        (Some(patterns), _) => patterns.iter().find_map(|pattern| {
            actions::KEY_ADMINISTRATION
                .iter()
                .find(|a| action_matches(pattern, a))
                .map(|a| (pattern.clone(), *a))
        }),
        (None, Some(excluded)) => actions::KEY_ADMINISTRATION
            .iter()
            .find(|a| !excluded.iter().any(|p| action_matches(p, a)))
            .map(|a| {
                (
                    format!(
                        "every action but {}",
                        excluded.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    *a,
                )
            }),
        (None, None) => None,
    }
}

/// Whether a condition keeps a statement to principals of `owner`: `StringEquals` (or
/// `StringEqualsIgnoreCase`) on `kms:CallerAccount` or `aws:PrincipalAccount` listing `owner`
/// and no other account.
fn kept_to_account(st: &Statement, owner: AccountId) -> bool {
    st.condition.as_ref().is_some_and(|condition| {
        condition.iter().any(|(operator, keys)| {
            matches!(
                operator.to_ascii_lowercase().as_str(),
                "stringequals" | "stringequalsignorecase"
            ) && keys.iter().any(|(key, values)| {
                matches!(
                    key.to_ascii_lowercase().as_str(),
                    "kms:calleraccount" | "aws:principalaccount"
                ) && !values.is_empty()
                    && values
                        .iter()
                        .all(|v| matches!(v, ConditionValue::String(s) if s == owner.as_str()))
            })
        })
    })
}

/// Whether a Deny's `Principal` (or `NotPrincipal`) reaches `who`.
fn deny_reaches(st: &Statement, who: &AwsPrincipal) -> bool {
    match (&st.principal, &st.not_principal) {
        (Some(p), _) => p.aws_principals().iter().any(|n| n.covers(who)),
        // Deny to everyone except those listed: `who` is reached unless listed exactly.
        (None, Some(np)) => !np.aws_principals().iter().any(|n| n == who),
        (None, None) => false,
    }
}

/// Whether a Deny's conditions are certainly false for `who`: a negated operator
/// (`StringNotEquals`, `StringNotLike`, `ArnNotEquals`, `ArnNotLike`) on the caller's ARN or
/// account that lists `who`.
fn condition_exempts(st: &Statement, who: &AwsPrincipal) -> bool {
    let Some(condition) = &st.condition else {
        return false;
    };
    condition.iter().any(|(operator, keys)| {
        let negated = matches!(
            operator.to_ascii_lowercase().as_str(),
            "stringnotequals" | "stringnotlike" | "arnnotequals" | "arnnotlike"
        );
        negated
            && keys.iter().any(|(key, values)| {
                let mut strings = values.iter().filter_map(|v| match v {
                    ConditionValue::String(s) => Some(s.as_str()),
                    _ => None,
                });
                match key.to_ascii_lowercase().as_str() {
                    "aws:principalarn" => {
                        strings.any(|v| AwsPrincipal::parse(v).is_ok_and(|p| &p == who))
                    }
                    "aws:principalaccount" | "kms:calleraccount" => {
                        // Exempts a whole account, so only the account itself is exempted
                        // for certain (a named principal of it too).
                        strings.any(|v| who.account().is_some_and(|a| a.as_str() == v))
                    }
                    _ => false,
                }
            })
    })
}

fn covers_put_key_policy(st: &Statement) -> bool {
    match (&st.action, &st.not_action) {
        (Some(actions), _) => actions
            .iter()
            .any(|a| action_matches(a, actions::PUT_KEY_POLICY)),
        (None, Some(excluded)) => !excluded
            .iter()
            .any(|a| action_matches(a, actions::PUT_KEY_POLICY)),
        (None, None) => false,
    }
}

/// In a key policy `Resource` is `"*"`, meaning this key; a statement limited to other
/// resources grants nothing on it.
fn covers_the_key(st: &Statement) -> bool {
    st.resource
        .as_ref()
        .is_some_and(|r| r.iter().any(|v| v == "*"))
}

fn require_principal(st: &Statement, i: usize, kind: &'static str) -> Result<(), PolicyError> {
    if st.principal.is_none() && st.not_principal.is_none() {
        return Err(PolicyError::MissingPrincipal {
            statement: st.label(i),
            kind,
        });
    }
    Ok(())
}

fn check_principals(st: &Statement, i: usize) -> Result<(), PolicyError> {
    for p in [&st.principal, &st.not_principal].into_iter().flatten() {
        for value in p.aws_values() {
            if let Err(e) = AwsPrincipal::parse(value) {
                return Err(PolicyError::InvalidPrincipal {
                    statement: st.label(i),
                    value: value.clone(),
                    problem: e.problem().to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// R4: an Allow to everyone needs a condition that narrows who. `NotPrincipal` in an Allow is
/// "everyone but", so it counts as everyone.
fn check_wildcard(st: &Statement, i: usize) -> Result<(), PolicyError> {
    let everyone =
        st.not_principal.is_some() || st.principal.as_ref().is_some_and(Principal::is_wildcard);
    if st.effect != Effect::Allow || !everyone || has_narrowing_condition(st) {
        return Ok(());
    }
    let actions = match (&st.action, &st.not_action) {
        (Some(a), _) => a.iter().cloned().collect::<Vec<_>>().join(", "),
        (None, Some(n)) => format!(
            "every action but {}",
            n.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
        (None, None) => String::new(),
    };
    Err(PolicyError::WildcardGrant {
        statement: st.label(i),
        actions,
    })
}

/// A condition that narrows who: a positive string or ARN operator (not negated, not
/// `IfExists`, not `ForAllValues`, which holds when the key is absent) on a key that names the
/// caller's identity or account, with values that are not just wildcards.
fn has_narrowing_condition(st: &Statement) -> bool {
    st.condition.as_ref().is_some_and(|condition| {
        condition.iter().any(|(operator, keys)| {
            let op = operator.to_ascii_lowercase();
            let op = op.strip_prefix("foranyvalue:").unwrap_or(&op);
            let positive = matches!(
                op,
                "stringequals" | "stringequalsignorecase" | "stringlike" | "arnequals" | "arnlike"
            );
            positive
                && keys.iter().any(|(key, values)| {
                    NARROWING_KEYS.contains(&key.to_ascii_lowercase().as_str())
                        && !values.is_empty()
                        && values.iter().all(|v| {
                            matches!(v, ConditionValue::String(s) if s.chars().any(|c| c != '*' && c != '?'))
                        })
                })
        })
    })
}
