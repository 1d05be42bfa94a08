//! Typed IAM and KMS policy documents, and the checks every policy snapshift writes must pass.
//!
//! [`PolicyDocument`] mirrors the JSON policy language closely enough to round-trip any policy
//! AWS accepts (one-or-many values keep their shape, condition values keep their JSON type),
//! and refuses fields the language does not have. Validation is separate and depends on what
//! the policy is for: [`PolicyDocument::validate_key_policy`] (R4),
//! [`PolicyDocument::validate_identity_policy`] and [`PolicyDocument::validate_trust_policy`].

pub mod actions;
mod validate;

use std::collections::BTreeMap;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

pub use validate::PolicyError;

/// The current policy language version.
pub const VERSION_2012_10_17: &str = "2012-10-17";

/// A whole IAM or KMS policy document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// `Version`: `2012-10-17` for every policy snapshift writes.
    #[serde(rename = "Version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `Id`: an optional identifier of the policy.
    #[serde(rename = "Id", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `Statement`: one statement or a list of them.
    #[serde(rename = "Statement")]
    pub statement: OneOrMany<Statement>,
}

impl PolicyDocument {
    /// A `2012-10-17` policy with the given statements.
    pub fn new(statements: Vec<Statement>) -> PolicyDocument {
        PolicyDocument {
            version: Some(VERSION_2012_10_17.into()),
            id: None,
            statement: OneOrMany::Many(statements),
        }
    }

    /// The statements, however they were written.
    pub fn statements(&self) -> &[Statement] {
        self.statement.as_slice()
    }

    /// Parses a policy from JSON text.
    pub fn from_json(text: &str) -> Result<PolicyDocument, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The policy as pretty-printed JSON, fields in the conventional order.
    pub fn to_json_pretty(&self) -> String {
        // Serializing these plain data types cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The policy as compact JSON, as AWS APIs take it.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// `Sid`: the statement's name. IAM policies allow only letters and digits; KMS key
    /// policies allow spaces too.
    #[serde(rename = "Sid", default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `Effect`.
    #[serde(rename = "Effect")]
    pub effect: Effect,
    /// `Principal`: who the statement applies to (resource and trust policies only).
    #[serde(rename = "Principal", default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// `NotPrincipal`: everyone except these.
    #[serde(
        rename = "NotPrincipal",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub not_principal: Option<Principal>,
    /// `Action`.
    #[serde(rename = "Action", default, skip_serializing_if = "Option::is_none")]
    pub action: Option<OneOrMany<String>>,
    /// `NotAction`: every action except these.
    #[serde(rename = "NotAction", default, skip_serializing_if = "Option::is_none")]
    pub not_action: Option<OneOrMany<String>>,
    /// `Resource`.
    #[serde(rename = "Resource", default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<OneOrMany<String>>,
    /// `NotResource`: every resource except these.
    #[serde(
        rename = "NotResource",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub not_resource: Option<OneOrMany<String>>,
    /// `Condition`: operator, then condition key, then values.
    #[serde(rename = "Condition", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
}

impl Statement {
    /// An `Allow` statement with nothing else set.
    pub fn allow() -> Statement {
        Statement::with_effect(Effect::Allow)
    }

    /// A `Deny` statement with nothing else set.
    pub fn deny() -> Statement {
        Statement::with_effect(Effect::Deny)
    }

    fn with_effect(effect: Effect) -> Statement {
        Statement {
            sid: None,
            effect,
            principal: None,
            not_principal: None,
            action: None,
            not_action: None,
            resource: None,
            not_resource: None,
            condition: None,
        }
    }

    /// Sets `Sid`.
    pub fn sid(mut self, sid: impl Into<String>) -> Statement {
        self.sid = Some(sid.into());
        self
    }

    /// Sets `Principal` to `{"AWS": ...}` (a single value stays a string).
    pub fn aws_principals<I, S>(mut self, principals: I) -> Statement
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.principal = Some(Principal::aws(principals));
        self
    }

    /// Sets `Principal` to `{"Service": service}`.
    pub fn service_principal(mut self, service: impl Into<String>) -> Statement {
        self.principal = Some(Principal::Map(PrincipalMap {
            service: Some(OneOrMany::One(service.into())),
            ..PrincipalMap::default()
        }));
        self
    }

    /// Sets `Action` (a single value stays a string).
    pub fn actions<I, S>(mut self, actions: I) -> Statement
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.action = Some(OneOrMany::from_vec(
            actions.into_iter().map(Into::into).collect(),
        ));
        self
    }

    /// Sets `Resource` (a single value stays a string).
    pub fn resources<I, S>(mut self, resources: I) -> Statement
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.resource = Some(OneOrMany::from_vec(
            resources.into_iter().map(Into::into).collect(),
        ));
        self
    }

    /// Adds a condition `operator: { key: values }` (a single value stays a string).
    pub fn condition<I, S>(mut self, operator: &str, key: &str, values: I) -> Statement
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Vec<ConditionValue> = values
            .into_iter()
            .map(|v| ConditionValue::String(v.into()))
            .collect();
        self.condition
            .get_or_insert_with(BTreeMap::new)
            .entry(operator.to_owned())
            .or_default()
            .insert(key.to_owned(), OneOrMany::from_vec(values));
        self
    }

    /// Writes `Action` and `Resource` as lists even when they hold one value.
    pub fn with_lists(mut self) -> Statement {
        for field in [&mut self.action, &mut self.resource].into_iter().flatten() {
            if let OneOrMany::One(item) = field {
                *field = OneOrMany::Many(vec![std::mem::take(item)]);
            }
        }
        self
    }

    /// The statement's label in messages: its Sid, or its position.
    pub(crate) fn label(&self, index: usize) -> String {
        match &self.sid {
            Some(sid) => format!("statement \"{sid}\""),
            None => format!("statement #{}", index + 1),
        }
    }
}

/// `Effect`: `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// `Allow`.
    Allow,
    /// `Deny`.
    Deny,
}

/// `Condition`: a map from operator (`StringEquals`, `Bool`, ...) to condition keys and values.
pub type Condition = BTreeMap<String, BTreeMap<String, OneOrMany<ConditionValue>>>;

/// A value in a condition. JSON policies may write booleans and numbers unquoted; the type is
/// kept so that a policy round-trips unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConditionValue {
    /// A string, the usual form.
    String(String),
    /// An unquoted boolean.
    Bool(bool),
    /// An unquoted number.
    Number(serde_json::Number),
}

/// `Principal` (or `NotPrincipal`): everyone (`"*"`), or named principals by type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Principal {
    /// `"*"`: every principal.
    Any(Wildcard),
    /// `{"AWS": ..., "Service": ..., ...}`.
    Map(PrincipalMap),
}

impl Principal {
    /// `{"AWS": ...}` with the given principals; one value is written as a string.
    pub fn aws<I, S>(principals: I) -> Principal
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Principal::Map(PrincipalMap {
            aws: Some(OneOrMany::from_vec(
                principals.into_iter().map(Into::into).collect(),
            )),
            ..PrincipalMap::default()
        })
    }

    /// Whether the principal is everyone: `"*"` or `{"AWS": "*"}`.
    pub fn is_wildcard(&self) -> bool {
        match self {
            Principal::Any(_) => true,
            Principal::Map(m) => m.aws.as_ref().is_some_and(|a| a.iter().any(|p| p == "*")),
        }
    }

    /// Whether the principal names nobody: `{}` or empty lists, which AWS refuses.
    pub fn is_empty(&self) -> bool {
        match self {
            Principal::Any(_) => false,
            Principal::Map(m) => [&m.aws, &m.service, &m.federated, &m.canonical_user]
                .into_iter()
                .all(|v| v.as_ref().is_none_or(OneOrMany::is_empty)),
        }
    }

    /// The `AWS` principals, understood; `"*"` is [`AwsPrincipal::Any`]. Values that do not
    /// parse are left out (policy validation reports them).
    pub fn aws_principals(&self) -> Vec<AwsPrincipal> {
        match self {
            Principal::Any(_) => vec![AwsPrincipal::Any],
            Principal::Map(_) => self
                .aws_values()
                .iter()
                .filter_map(|v| AwsPrincipal::parse(v).ok())
                .collect(),
        }
    }

    /// The `AWS` principals as written (empty for `"*"`).
    pub fn aws_values(&self) -> &[String] {
        match self {
            Principal::Any(_) => &[],
            Principal::Map(m) => m.aws.as_ref().map_or(&[], OneOrMany::as_slice),
        }
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Dispatch on the JSON shape so that errors say what is wrong inside, rather than
        // "did not match any variant".
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) if s == "*" => Ok(Principal::Any(Wildcard)),
            serde_json::Value::String(s) => Err(de::Error::custom(format!(
                "a Principal string can only be \"*\", found \"{s}\"; write {{\"AWS\": \"{s}\"}}"
            ))),
            value => PrincipalMap::deserialize(value)
                .map(Principal::Map)
                .map_err(de::Error::custom),
        }
    }
}

/// The object form of `Principal`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalMap {
    /// `AWS`: account ids, IAM ARNs, or `"*"`.
    #[serde(rename = "AWS", default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<OneOrMany<String>>,
    /// `Service`: service principals such as `backup.amazonaws.com`.
    #[serde(rename = "Service", default, skip_serializing_if = "Option::is_none")]
    pub service: Option<OneOrMany<String>>,
    /// `Federated`: identity providers.
    #[serde(rename = "Federated", default, skip_serializing_if = "Option::is_none")]
    pub federated: Option<OneOrMany<String>>,
    /// `CanonicalUser`.
    #[serde(
        rename = "CanonicalUser",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub canonical_user: Option<OneOrMany<String>>,
}

/// The string `"*"`, and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wildcard;

impl Serialize for Wildcard {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("*")
    }
}

impl<'de> Deserialize<'de> for Wildcard {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if s == "*" {
            Ok(Wildcard)
        } else {
            Err(de::Error::custom(format!("expected \"*\", found \"{s}\"")))
        }
    }
}

/// A value the policy language allows as one item or as a list; the shape is kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value, written without brackets.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Dispatch on the JSON shape so that an error inside an item is reported as such.
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(T::deserialize)
                .collect::<Result<Vec<T>, _>>()
                .map(OneOrMany::Many)
                .map_err(de::Error::custom),
            value => T::deserialize(value)
                .map(OneOrMany::One)
                .map_err(de::Error::custom),
        }
    }
}

impl<T> OneOrMany<T> {
    /// One value as `One`, anything else as `Many`.
    pub fn from_vec(mut items: Vec<T>) -> OneOrMany<T> {
        if items.len() == 1 {
            if let Some(item) = items.pop() {
                return OneOrMany::One(item);
            }
        }
        OneOrMany::Many(items)
    }

    /// The values as a slice.
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(item) => std::slice::from_ref(item),
            OneOrMany::Many(items) => items,
        }
    }

    /// Iterates over the values.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are none (only an empty list).
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

/// Whether an IAM action pattern (`kms:*`, `kms:Put*`, `*`) matches `action`.
/// Matching is case-insensitive, `*` matches any run and `?` any one character. Linear in
/// the lengths (no backtracking blow-up on patterns such as `****...x`).
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), action.as_bytes());
    let (mut pi, mut si) = (0, 0);
    // Where the last `*` was, and the input position it is currently matched up to.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || s.get(si).is_some_and(|b| c.eq_ignore_ascii_case(b)) => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more character and retry after it.
                Some((star_pi, star_si)) => {
                    star = Some((star_pi, star_si + 1));
                    pi = star_pi + 1;
                    si = star_si + 1;
                }
                None => return false,
            },
        }
    }
    p[pi.min(p.len())..].iter().all(|&c| c == b'*')
}

/// A value of `Principal: {"AWS": ...}`, understood: everyone, a whole account (its root
/// ARN or its bare id, which mean the same), or one IAM principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsPrincipal {
    /// `"*"`.
    Any,
    /// `arn:aws:iam::<account>:root` or `<account>`: the account, whose IAM policies decide.
    Account(crate::ids::AccountId),
    /// An IAM user or role, or an STS assumed-role session.
    Principal(crate::ids::PrincipalArn),
}

impl AwsPrincipal {
    /// Parses a principal value as written in a policy.
    pub fn parse(value: &str) -> Result<AwsPrincipal, crate::ids::IdError> {
        if value == "*" {
            return Ok(AwsPrincipal::Any);
        }
        if !value.starts_with("arn:") {
            return value.parse().map(AwsPrincipal::Account);
        }
        let arn: crate::ids::PrincipalArn = value.parse()?;
        Ok(if arn.is_root() {
            AwsPrincipal::Account(arn.account())
        } else {
            AwsPrincipal::Principal(arn)
        })
    }

    /// The account the principal belongs to (`None` for everyone).
    pub fn account(&self) -> Option<crate::ids::AccountId> {
        match self {
            AwsPrincipal::Any => None,
            AwsPrincipal::Account(a) => Some(*a),
            AwsPrincipal::Principal(p) => Some(p.account()),
        }
    }

    /// The principal a caller's ARN (as STS `GetCallerIdentity` gives it) acts as in a key
    /// policy: the account for its root, the role for an assumed-role session
    /// (`arn:aws:sts::<account>:assumed-role/<role>/<session>` is covered by a statement
    /// naming `arn:aws:iam::<account>:role/<role>`), the user itself otherwise.
    pub fn caller(arn: &str) -> Result<AwsPrincipal, crate::ids::IdError> {
        let parsed: crate::ids::PrincipalArn = arn.parse()?;
        let session = parsed.arn();
        if session.service() == crate::ids::Service::Sts {
            let role = session.resource_id().split('/').next().unwrap_or_default();
            return AwsPrincipal::parse(&format!(
                "arn:{}:iam::{}:role/{role}",
                session.partition(),
                session.account()
            ));
        }
        AwsPrincipal::parse(arn)
    }

    /// Whether a statement naming `self` applies to `other`: everyone covers all, an account
    /// covers its own principals, a principal covers itself.
    pub fn covers(&self, other: &AwsPrincipal) -> bool {
        match (self, other) {
            (AwsPrincipal::Any, _) => true,
            (AwsPrincipal::Account(a), o) => o.account() == Some(*a),
            (AwsPrincipal::Principal(p), AwsPrincipal::Principal(q)) => p == q,
            (AwsPrincipal::Principal(_), _) => false,
        }
    }
}

#[cfg(test)]
mod tests;
