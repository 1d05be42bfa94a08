//! The fake IAM: roles, their trust policies, inline policies and tags (global: no region).

use std::collections::BTreeMap;

use super::{
    unknown,
    wire::{el, form_tags, AwsFault, Params},
    Caller, World,
};
use crate::ids::AccountId;

pub(crate) const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";

/// A role as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRole {
    /// The owning account.
    pub account: AccountId,
    /// The role name.
    pub name: String,
    /// The trust policy JSON.
    pub trust_policy: String,
    /// Inline policies by name.
    pub policies: BTreeMap<String, String>,
    /// Tags.
    pub tags: Vec<(String, String)>,
    id: String,
}

impl FakeRole {
    /// The role ARN.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{}", self.account, self.name)
    }
}

#[derive(Default)]
pub(crate) struct Iam {
    pub roles: BTreeMap<(AccountId, String), FakeRole>,
    /// R26: roles AWS Backup cannot use yet, how many more times it refuses them, and
    /// whether the role itself (created, trust changed) or only its inline policy changed.
    pub unsettled: BTreeMap<(AccountId, String), (u32, RoleChange)>,
}

/// What changed in a role that AWS Backup does not know of yet (R26).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RoleChange {
    /// Created, or its trust policy changed: it "cannot be assumed" yet.
    Trust,
    /// An inline policy changed: it "is not authorized to call" what the policy allows yet.
    Policy,
}

/// R26: a role or inline policy just changed is not usable by AWS Backup for the next
/// `Consistency::iam_calls` calls that use it.
fn unsettle(world: &mut World, key: &(AccountId, String), change: RoleChange) {
    let calls = world.consistency.iam_calls;
    if calls == 0 {
        return;
    }
    let change = match world.iam.unsettled.get(key) {
        Some((_, RoleChange::Trust)) => RoleChange::Trust,
        _ => change,
    };
    world.iam.unsettled.insert(key.clone(), (calls, change));
}

fn no_such(what: &str) -> AwsFault {
    AwsFault::new(
        "NoSuchEntity",
        format!("The role with name {what} cannot be found."),
    )
    .status(404)
}

/// URL-encodes a policy document as IAM returns it.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn role_xml(r: &FakeRole) -> String {
    let tags: String = r
        .tags
        .iter()
        .map(|(k, v)| format!("<member>{}{}</member>", el("Key", k), el("Value", v)))
        .collect();
    format!(
        "<Role>{}{}{}{}{}{}<Tags>{tags}</Tags></Role>",
        el("Path", "/"),
        el("RoleName", &r.name),
        el("RoleId", &r.id),
        el("Arn", r.arn()),
        el("CreateDate", "2026-01-01T00:00:00Z"),
        el("AssumeRolePolicyDocument", url_encode(&r.trust_policy)),
    )
}

fn policy_json(params: &Params, field: &str) -> Result<String, AwsFault> {
    let doc = params.str(field).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&doc).map_err(|e| {
        AwsFault::new(
            "MalformedPolicyDocument",
            format!("the policy document is not valid JSON: {e}"),
        )
    })?;
    Ok(doc)
}

pub(crate) fn handle(
    world: &mut World,
    caller: &Caller,
    operation: &str,
    params: &Params,
) -> Result<String, AwsFault> {
    let name = params.str("RoleName").unwrap_or_default();
    let key = (caller.account, name.clone());
    match operation {
        "CreateRole" => {
            if world.iam.roles.contains_key(&key) {
                return Err(AwsFault::new(
                    "EntityAlreadyExists",
                    format!("Role with name {name} already exists."),
                )
                .status(409));
            }
            let trust_policy = policy_json(params, "AssumeRolePolicyDocument")?;
            let id = format!("AROA{}", &world.fresh_hex()[..17].to_ascii_uppercase());
            let role = FakeRole {
                account: caller.account,
                name,
                trust_policy,
                policies: BTreeMap::new(),
                tags: form_tags(params, "Tags.member"),
                id,
            };
            let xml = role_xml(&role);
            unsettle(world, &key, RoleChange::Trust);
            world.iam.roles.insert(key, role);
            Ok(xml)
        }
        "GetRole" => world
            .iam
            .roles
            .get(&key)
            .map(role_xml)
            .ok_or_else(|| no_such(&name)),
        "UpdateAssumeRolePolicy" => {
            let document = policy_json(params, "PolicyDocument")?;
            let role = world
                .iam
                .roles
                .get_mut(&key)
                .ok_or_else(|| no_such(&name))?;
            role.trust_policy = document;
            unsettle(world, &key, RoleChange::Trust);
            Ok(String::new())
        }
        "PutRolePolicy" => {
            let document = policy_json(params, "PolicyDocument")?;
            let policy = params.str("PolicyName").unwrap_or_default();
            let role = world
                .iam
                .roles
                .get_mut(&key)
                .ok_or_else(|| no_such(&name))?;
            role.policies.insert(policy, document);
            unsettle(world, &key, RoleChange::Policy);
            Ok(String::new())
        }
        "GetRolePolicy" => {
            let policy = params.str("PolicyName").unwrap_or_default();
            let role = world.iam.roles.get(&key).ok_or_else(|| no_such(&name))?;
            let document = role.policies.get(&policy).ok_or_else(|| {
                AwsFault::new(
                    "NoSuchEntity",
                    format!("The role policy with name {policy} cannot be found."),
                )
                .status(404)
            })?;
            Ok(format!(
                "{}{}{}",
                el("RoleName", &name),
                el("PolicyName", &policy),
                el("PolicyDocument", url_encode(document))
            ))
        }
        "DeleteRolePolicy" => {
            let policy = params.str("PolicyName").unwrap_or_default();
            let role = world
                .iam
                .roles
                .get_mut(&key)
                .ok_or_else(|| no_such(&name))?;
            role.policies.remove(&policy).ok_or_else(|| {
                AwsFault::new(
                    "NoSuchEntity",
                    format!("The role policy with name {policy} cannot be found."),
                )
                .status(404)
            })?;
            unsettle(world, &key, RoleChange::Policy);
            Ok(String::new())
        }
        "DeleteRole" => {
            let role = world.iam.roles.get(&key).ok_or_else(|| no_such(&name))?;
            if !role.policies.is_empty() {
                return Err(AwsFault::new(
                    "DeleteConflict",
                    "Cannot delete entity, must delete policies first.",
                )
                .status(409));
            }
            world.iam.roles.remove(&key);
            world.iam.unsettled.remove(&key);
            Ok(String::new())
        }
        "TagRole" => {
            let tags = form_tags(params, "Tags.member");
            let role = world
                .iam
                .roles
                .get_mut(&key)
                .ok_or_else(|| no_such(&name))?;
            for (k, v) in tags {
                role.tags.retain(|(existing, _)| existing != &k);
                role.tags.push((k, v));
            }
            Ok(String::new())
        }
        other => Err(unknown("iam", other)),
    }
}
