//! The fake KMS: keys, aliases, replicas, policies, grants and tags, with AWS's checks.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{
    page, unknown,
    wire::{AwsFault, Params},
    Caller, World,
};
use crate::{
    ids::{AccountId, Region},
    policy::{AwsPrincipal, ConditionValue, Effect, PolicyDocument, PolicyError},
};

/// A key as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeKey {
    /// The key id.
    pub id: String,
    /// The owning account.
    pub account: AccountId,
    /// The region.
    pub region: Region,
    /// The description.
    pub description: String,
    /// The key policy JSON.
    pub policy: String,
    /// `Enabled`, `Disabled`, `PendingDeletion` or `PendingReplicaDeletion`.
    pub state: String,
    /// Whether AWS manages it (`alias/aws/*`).
    pub aws_managed: bool,
    /// Whether it is multi-region.
    pub multi_region: bool,
    /// For a replica, the primary's region.
    pub primary_region: Option<Region>,
    /// Its tags.
    pub tags: Vec<(String, String)>,
    /// The waiting period, once scheduled for deletion.
    pub pending_window_days: Option<u32>,
    /// When it was scheduled for deletion, in seconds since the epoch.
    pub scheduled_at: Option<f64>,
    /// Its grants: (grant id, grantee principal, operations).
    pub grants: Vec<(String, String, Vec<String>)>,
    created: f64,
}

impl FakeKey {
    /// The key ARN.
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:kms:{}:{}:key/{}",
            self.region.partition(),
            self.region,
            self.account,
            self.id
        )
    }
}

type Addr = (AccountId, Region, String);

#[derive(Default)]
pub(crate) struct Kms {
    keys: BTreeMap<Addr, FakeKey>,
    aliases: BTreeMap<Addr, String>,
    /// R26: new keys and aliases (by key id or alias name), and how many more calls naming
    /// them answer `NotFoundException`.
    unseen: BTreeMap<Addr, u32>,
    /// R26: keys whose policy just changed: the policy before, and for how many more calls
    /// naming the key KMS still goes by it.
    stale_policies: BTreeMap<Addr, (String, u32)>,
    /// R26: new replicas, and how many more `DescribeKey` calls show them `Creating`.
    creating: BTreeMap<Addr, u32>,
    /// The policy the request being answered sees, when it is one from before a change.
    stale_view: Option<String>,
}

impl Kms {
    /// Every key of every account and region.
    pub fn all_keys(&self) -> impl Iterator<Item = &FakeKey> {
        self.keys.values()
    }

    pub fn customer_keys(&self, account: AccountId, region: &Region) -> Vec<FakeKey> {
        self.keys
            .values()
            .filter(|k| k.account == account && &k.region == region && !k.aws_managed)
            .cloned()
            .collect()
    }

    pub fn aliases(&self, account: AccountId, region: &Region) -> BTreeMap<String, String> {
        self.aliases
            .iter()
            .filter(|((a, r, _), _)| *a == account && r == region)
            .map(|((_, _, name), id)| (name.clone(), id.clone()))
            .collect()
    }

    /// The key at `addr`, if any.
    pub fn key(&self, addr: &Addr) -> Option<&FakeKey> {
        self.keys.get(addr)
    }
}

fn not_found(what: &str) -> AwsFault {
    AwsFault::new("NotFoundException", what.to_owned())
}

fn uuid(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The policy of an AWS managed key: usable only through the service, by its own account
/// (seeds/001, R1).
fn managed_policy(account: AccountId, region: &Region, service: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Id": format!("auto-{service}-2"),
        "Statement": [{
            "Sid": "Allow access through the service for all principals in the account that are authorized to use it",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:ListGrants", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:ViaService": format!("{service}.{region}.amazonaws.com"), "kms:CallerAccount": account.to_string()}}
        }, {
            "Sid": "Allow direct access to key metadata to the account",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:{}:iam::{account}:root", region.partition())},
            "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
            "Resource": "*"
        }]
    })
    .to_string()
}

fn default_policy(account: AccountId, region: &Region) -> String {
    json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:{}:iam::{account}:root", region.partition())},
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}

/// Whether a key policy lets `account` perform `action` on the key. `via_service` is the AWS
/// service calling on the account's behalf (`rds`, `backup`), if any: it makes
/// `kms:GrantIsForAWSResource` true and `kms:ViaService` `<service>.<region>.amazonaws.com`.
///
/// Conditions are evaluated as IAM does for the keys the crate's policies use: a condition key
/// with several values holds when the request's value is any of them (`StringEquals`,
/// `StringLike`, `Bool`), and every condition of a statement must hold. A condition on any
/// other key, or with another operator, is taken not to hold, so the fake errs towards
/// refusing. A Deny counts only without conditions.
pub(crate) fn key_allows(
    policy: &str,
    account: AccountId,
    region: &Region,
    action: &str,
    via_service: Option<&str>,
) -> bool {
    let Ok(doc) = PolicyDocument::from_json(policy) else {
        return false;
    };
    let who = AwsPrincipal::Account(account);
    let applies = |st: &crate::policy::Statement| {
        st.principal
            .as_ref()
            .is_some_and(|p| p.aws_principals().iter().any(|n| n.covers(&who)))
            && st
                .action
                .as_ref()
                .is_some_and(|a| a.iter().any(|p| crate::policy::action_matches(p, action)))
    };
    // The request's value of a condition key, if the request has one.
    let request_value = |key: &str| -> Option<String> {
        match key.to_ascii_lowercase().as_str() {
            "kms:grantisforawsresource" => Some(via_service.is_some().to_string()),
            "kms:calleraccount" => Some(account.to_string()),
            "kms:viaservice" => via_service.map(|s| format!("{s}.{region}.amazonaws.com")),
            _ => None,
        }
    };
    let conditions_hold = |st: &crate::policy::Statement| {
        st.condition.as_ref().is_none_or(|c| {
            c.iter().all(|(op, keys)| {
                keys.iter().all(|(key, values)| {
                    let Some(actual) = request_value(key) else {
                        return false;
                    };
                    let mut values = values.iter().map(|v| match v {
                        ConditionValue::String(s) => s.clone(),
                        ConditionValue::Bool(b) => b.to_string(),
                        ConditionValue::Number(n) => n.to_string(),
                    });
                    match op.to_ascii_lowercase().as_str() {
                        "bool" => values.any(|v| v.eq_ignore_ascii_case(&actual)),
                        "stringequals" => values.any(|v| v == actual),
                        "stringlike" => values.any(|v| crate::policy::action_matches(&v, &actual)),
                        _ => false,
                    }
                })
            })
        })
    };
    let statements = doc.statements();
    let denied = statements
        .iter()
        .any(|st| st.effect == Effect::Deny && applies(st) && st.condition.is_none());
    !denied
        && statements
            .iter()
            .any(|st| st.effect == Effect::Allow && applies(st) && conditions_hold(st))
}

/// Reads a key reference the way KMS does: a key id or alias name in the caller's account and
/// region, or a key or alias ARN (the only way to name another account's key).
fn resolve(world: &mut World, caller: &Caller, reference: &str) -> Result<Addr, AwsFault> {
    let (account, region, rest) = if let Some(arn) = reference.strip_prefix("arn:") {
        let parts: Vec<&str> = arn.splitn(5, ':').collect();
        let [_, "kms", region, account, rest] = parts.as_slice() else {
            return Err(not_found(&format!("Invalid arn {reference}")));
        };
        let account: AccountId = account
            .parse()
            .map_err(|_| not_found(&format!("Invalid arn {reference}")))?;
        if *region != caller.region.as_str() {
            return Err(not_found(&format!(
                "Invalid arn {reference}: the key is in {region}, the request in {}",
                caller.region
            )));
        }
        (account, caller.region.clone(), (*rest).to_owned())
    } else {
        (caller.account, caller.region.clone(), reference.to_owned())
    };
    if let Some(alias) = rest.strip_prefix("alias/") {
        let name = format!("alias/{alias}");
        if let Some(service) = alias.strip_prefix("aws/") {
            ensure_managed_key(world, account, &region, service, &name);
        }
        let id = world
            .kms
            .aliases
            .get(&(account, region.clone(), name.clone()))
            .cloned()
            .ok_or_else(|| {
                not_found(&format!(
                    "Alias arn:{}:kms:{region}:{account}:{name} is not found.",
                    region.partition()
                ))
            })?;
        return Ok((account, region, id));
    }
    let id = rest.strip_prefix("key/").unwrap_or(&rest).to_owned();
    let addr = (account, region.clone(), id.clone());
    if !world.kms.keys.contains_key(&addr) {
        return Err(not_found(&format!(
            "Key 'arn:{}:kms:{region}:{account}:key/{id}' does not exist",
            region.partition()
        )));
    }
    Ok(addr)
}

/// The ARN of the key `reference` names (id, alias or ARN), as seen by `caller`; AWS managed
/// keys are made on demand.
pub(crate) fn resolve_arn(
    world: &mut World,
    caller: &Caller,
    reference: &str,
) -> Result<String, AwsFault> {
    let addr = resolve(world, caller, reference)?;
    world
        .kms
        .key(&addr)
        .map(FakeKey::arn)
        .ok_or_else(|| not_found(reference))
}

/// The state of the key `reference` names, as seen by `caller`, if it exists.
pub(crate) fn state_of(world: &mut World, caller: &Caller, reference: &str) -> Option<String> {
    let addr = resolve(world, caller, reference).ok()?;
    world.kms.key(&addr).map(|k| k.state.clone())
}

fn ensure_managed_key(
    world: &mut World,
    account: AccountId,
    region: &Region,
    service: &str,
    alias: &str,
) {
    if !matches!(service, "rds" | "backup")
        || world
            .kms
            .aliases
            .contains_key(&(account, region.clone(), alias.to_owned()))
    {
        return;
    }
    let id = uuid(&world.fresh_hex());
    world.kms.keys.insert(
        (account, region.clone(), id.clone()),
        FakeKey {
            id: id.clone(),
            account,
            region: region.clone(),
            description: format!(
                "Default key that protects my {service} data when no other key is defined"
            ),
            policy: managed_policy(account, region, service),
            state: "Enabled".into(),
            aws_managed: true,
            multi_region: false,
            primary_region: None,
            tags: Vec::new(),
            pending_window_days: None,
            scheduled_at: None,
            grants: Vec::new(),
            created: World::now(),
        },
    );
    world
        .kms
        .aliases
        .insert((account, region.clone(), alias.to_owned()), id);
}

/// Resolves and authorizes: another account's key needs its policy to allow the caller.
fn authorized(
    world: &mut World,
    caller: &Caller,
    reference: &str,
    action: &str,
) -> Result<Addr, AwsFault> {
    let addr = resolve(world, caller, reference)?;
    if addr.0 != caller.account {
        let key = world.kms.keys.get(&addr).ok_or_else(|| not_found("key"))?;
        let policy = world.kms.stale_view.as_ref().unwrap_or(&key.policy);
        if !key_allows(
            policy,
            caller.account,
            &caller.region,
            &format!("kms:{action}"),
            None,
        ) {
            return Err(AwsFault::new(
                "AccessDeniedException",
                format!(
                    "User: {} is not authorized to perform: kms:{action} on resource: {} because no resource-based policy allows the kms:{action} action",
                    caller.arn(world),
                    key.arn()
                ),
            ));
        }
        // R31: the caller's own account must allow it too.
        let arn = key.arn();
        if !world.caller_allows(caller.account, &format!("kms:{action}"), &arn) {
            return Err(AwsFault::new(
                "AccessDeniedException",
                format!(
                    "User: arn:aws:iam::{}:user/snapshift-fake is not authorized to perform: kms:{action} on resource: {arn} because no identity-based policy allows the kms:{action} action",
                    caller.account
                ),
            ));
        }
    }
    Ok(addr)
}

fn key_mut<'a>(world: &'a mut World, addr: &Addr) -> Result<&'a mut FakeKey, AwsFault> {
    world.kms.keys.get_mut(addr).ok_or_else(|| not_found("key"))
}

/// A replica still `Creating` may be managed but not used yet (R26): `KMSInvalidStateException`.
fn refuse_creating(world: &World, addr: &Addr) -> Result<(), AwsFault> {
    match world.kms.key(addr) {
        Some(k) if k.state == "Creating" => Err(AwsFault::new(
            "KMSInvalidStateException",
            format!("{} is creating.", k.arn()),
        )),
        _ => Ok(()),
    }
}

/// A key pending deletion refuses new uses: `KMSInvalidStateException`.
fn refuse_pending(world: &World, addr: &Addr) -> Result<(), AwsFault> {
    match world.kms.key(addr) {
        Some(k) if k.state.starts_with("Pending") => Err(AwsFault::new(
            "KMSInvalidStateException",
            format!("{} is pending deletion.", k.arn()),
        )),
        _ => Ok(()),
    }
}

/// R4: KMS's safety check, with its exact error. As the API reference says of `CreateKey`,
/// `PutKeyPolicy` and `ReplicateKey` ("the key policy must allow the calling principal to
/// make a subsequent PutKeyPolicy request"), it is the caller (`caller_arn`) that must keep
/// `kms:PutKeyPolicy`, not any principal of the account.
fn check_policy(policy: &str, caller_arn: &str) -> Result<(), AwsFault> {
    let doc = PolicyDocument::from_json(policy).map_err(|e| {
        AwsFault::new(
            "MalformedPolicyDocumentException",
            format!("The policy document is not valid JSON: {e}"),
        )
    })?;
    match doc.check_lockout_for(caller_arn) {
        Err(PolicyError::CallerLockout { .. }) => Err(AwsFault::new(
            "MalformedPolicyDocumentException",
            "The new key policy will not allow you to update the key policy in the future.",
        )),
        _ => Ok(()),
    }
}

fn read_tags(params: &Params) -> Result<Vec<(String, String)>, AwsFault> {
    let tags = params
        .json()
        .get("Tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    tags.iter()
        .map(|t| {
            let key = t
                .get("TagKey")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let value = t
                .get("TagValue")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if key.to_ascii_lowercase().starts_with("aws:") {
                Err(AwsFault::new(
                    "TagException",
                    "Tags beginning with aws: are reserved",
                ))
            } else {
                Ok((key, value))
            }
        })
        .collect()
}

fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"TagKey": k, "TagValue": v}))
            .collect(),
    )
}

fn metadata(world: &World, key: &FakeKey) -> Value {
    let mut m = json!({
        "AWSAccountId": key.account.to_string(),
        "KeyId": key.id,
        "Arn": key.arn(),
        "CreationDate": key.created,
        "Enabled": key.state == "Enabled",
        "Description": key.description,
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": key.state,
        "Origin": "AWS_KMS",
        "KeyManager": if key.aws_managed { "AWS" } else { "CUSTOMER" },
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": key.multi_region,
    });
    if key.multi_region {
        let primary_region = key
            .primary_region
            .clone()
            .unwrap_or_else(|| key.region.clone());
        let primary_arn = format!(
            "arn:{}:kms:{primary_region}:{}:key/{}",
            primary_region.partition(),
            key.account,
            key.id
        );
        let replicas: Vec<Value> = world
            .kms
            .keys
            .values()
            .filter(|k| k.id == key.id && k.account == key.account && k.primary_region.is_some())
            .map(|k| json!({"Arn": k.arn(), "Region": k.region.to_string()}))
            .collect();
        m["MultiRegionConfiguration"] = json!({
            "MultiRegionKeyType": if key.primary_region.is_some() { "REPLICA" } else { "PRIMARY" },
            "PrimaryKey": {"Arn": primary_arn, "Region": primary_region.to_string()},
            "ReplicaKeys": replicas,
        });
    }
    // As AWS: a deletion date once the waiting period runs, the window while it waits for
    // replicas (R23).
    match (
        key.state.as_str(),
        key.pending_window_days,
        key.scheduled_at,
    ) {
        ("PendingDeletion", Some(days), Some(at)) => {
            m["DeletionDate"] = json!(at + f64::from(days) * 86_400.0)
        }
        ("PendingReplicaDeletion", Some(days), _) => m["PendingDeletionWindowInDays"] = json!(days),
        _ => {}
    }
    m
}

/// The key or alias `reference` names (a key id, alias name, or key or alias ARN), without
/// resolving it: its account, region and key id or alias name.
fn named(caller: &Caller, reference: &str) -> Option<Addr> {
    let (account, region, rest) = match reference.strip_prefix("arn:") {
        Some(arn) => {
            let parts: Vec<&str> = arn.splitn(5, ':').collect();
            let [_, "kms", region, account, rest] = parts.as_slice() else {
                return None;
            };
            (
                account.parse().ok()?,
                region.parse().ok()?,
                (*rest).to_owned(),
            )
        }
        None => (caller.account, caller.region.clone(), reference.to_owned()),
    };
    let name = match rest.strip_prefix("key/") {
        Some(id) => id.to_owned(),
        None => rest,
    };
    Some((account, region, name))
}

/// R26: KMS learns of a change only after `Consistency::kms_calls` calls that name the key or
/// alias (the KMS developer guide, "AWS KMS eventual consistency": "You might get unexpected
/// errors, such as a NotFoundException ..."). A new key or alias answers `NotFoundException`;
/// a key whose policy just changed is seen with the policy from before. Lists and `CreateKey`
/// name nothing.
fn settle_view(
    world: &mut World,
    caller: &Caller,
    operation: &str,
    params: &Params,
) -> Result<(), AwsFault> {
    world.kms.stale_view = None;
    if operation.starts_with("List") || operation == "CreateKey" {
        return Ok(());
    }
    let field = match operation {
        "CreateAlias" | "UpdateAlias" => "TargetKeyId",
        "DeleteAlias" => "AliasName",
        _ => "KeyId",
    };
    let Some(addr) = params.str(field).and_then(|r| named(caller, &r)) else {
        return Ok(());
    };
    let not_found = |(account, region, name): &Addr| {
        let arn = format!("arn:{}:kms:{region}:{account}", region.partition());
        if name.starts_with("alias/") {
            not_found(&format!("Alias {arn}:{name} is not found."))
        } else {
            not_found(&format!("Key '{arn}:key/{name}' does not exist"))
        }
    };
    let key = match world.kms.aliases.get(&addr) {
        Some(id) if addr.2.starts_with("alias/") => (addr.0, addr.1.clone(), id.clone()),
        _ => addr.clone(),
    };
    for named in [&addr, &key] {
        if let Some(left) = world.kms.unseen.get_mut(named) {
            *left -= 1;
            if *left == 0 {
                world.kms.unseen.remove(named);
            }
            world.unsettled_answers += 1;
            return Err(not_found(named));
        }
    }
    if let Some((before, left)) = world.kms.stale_policies.get_mut(&key) {
        *left -= 1;
        world.kms.stale_view = Some(before.clone());
        if *left == 0 {
            world.kms.stale_policies.remove(&key);
        }
    }
    Ok(())
}

pub(crate) fn handle(
    world: &mut World,
    caller: &Caller,
    operation: &str,
    params: &Params,
) -> Result<Value, AwsFault> {
    settle_view(world, caller, operation, params)?;
    let key_id = || params.str("KeyId").unwrap_or_default();
    match operation {
        "CreateKey" => {
            let policy = params
                .str("Policy")
                .unwrap_or_else(|| default_policy(caller.account, &caller.region));
            check_policy(&policy, &caller.arn(world))?;
            let tags = read_tags(params)?;
            let multi_region = params
                .json()
                .get("MultiRegion")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let hex = world.fresh_hex();
            let id = if multi_region {
                format!("mrk-{hex}")
            } else {
                uuid(&hex)
            };
            let key = FakeKey {
                id: id.clone(),
                account: caller.account,
                region: caller.region.clone(),
                description: params.str("Description").unwrap_or_default(),
                policy,
                state: "Enabled".into(),
                aws_managed: false,
                multi_region,
                primary_region: None,
                tags,
                pending_window_days: None,
                scheduled_at: None,
                grants: Vec::new(),
                created: World::now(),
            };
            let m = metadata(world, &key);
            let addr = (caller.account, caller.region.clone(), id);
            if world.consistency.kms_calls > 0 {
                world
                    .kms
                    .unseen
                    .insert(addr.clone(), world.consistency.kms_calls);
            }
            world.kms.keys.insert(addr, key);
            Ok(json!({"KeyMetadata": m}))
        }
        "DescribeKey" => {
            let addr = authorized(world, caller, &key_id(), "DescribeKey")?;
            // R26: a new replica is `Creating` for a few describes, then `Enabled`.
            match world.kms.creating.get_mut(&addr) {
                Some(0) => {
                    world.kms.creating.remove(&addr);
                    key_mut(world, &addr)?.state = "Enabled".into();
                }
                Some(left) => {
                    *left -= 1;
                    world.unsettled_answers += 1;
                }
                None => {}
            }
            let key = world.kms.key(&addr).ok_or_else(|| not_found("key"))?;
            Ok(json!({"KeyMetadata": metadata(world, key)}))
        }
        "GetKeyPolicy" => {
            let addr = authorized(world, caller, &key_id(), "GetKeyPolicy")?;
            let key = world.kms.key(&addr).ok_or_else(|| not_found("key"))?;
            let policy = match world.kms.stale_view.clone() {
                Some(before) => {
                    world.unsettled_answers += 1;
                    before
                }
                None => key.policy.clone(),
            };
            Ok(json!({"Policy": policy, "PolicyName": "default"}))
        }
        "PutKeyPolicy" => {
            let addr = authorized(world, caller, &key_id(), "PutKeyPolicy")?;
            refuse_pending(world, &addr)?;
            let policy = params.str("Policy").unwrap_or_default();
            check_policy(&policy, &caller.arn(world))?;
            let calls = world.consistency.kms_calls;
            let key = key_mut(world, &addr)?;
            if key.aws_managed {
                return Err(AwsFault::new(
                    "AccessDeniedException",
                    "the policy of an AWS managed key cannot be changed",
                ));
            }
            let before = std::mem::replace(&mut key.policy, policy);
            if calls > 0 && before != key.policy {
                world.kms.stale_policies.insert(addr, (before, calls));
            }
            Ok(json!({}))
        }
        "CreateAlias" => {
            let name = params.str("AliasName").unwrap_or_default();
            if !name.starts_with("alias/") {
                return Err(AwsFault::new(
                    "ValidationException",
                    "Alias must start with the prefix \"alias/\".",
                ));
            }
            if name.starts_with("alias/aws/") {
                return Err(AwsFault::new(
                    "NotAuthorizedException",
                    "Cannot create alias with prefix 'alias/aws/'",
                ));
            }
            let addr = resolve(
                world,
                caller,
                &params.str("TargetKeyId").unwrap_or_default(),
            )?;
            if addr.0 != caller.account {
                return Err(AwsFault::new(
                    "AccessDeniedException",
                    "an alias must point at a key of the same account",
                ));
            }
            refuse_pending(world, &addr)?;
            let alias = (caller.account, caller.region.clone(), name.clone());
            if world.kms.aliases.contains_key(&alias) {
                return Err(AwsFault::new(
                    "AlreadyExistsException",
                    format!(
                        "An alias with the name arn:{}:kms:{}:{}:{name} already exists",
                        caller.region.partition(),
                        caller.region,
                        caller.account
                    ),
                ));
            }
            if world.consistency.kms_calls > 0 {
                world
                    .kms
                    .unseen
                    .insert(alias.clone(), world.consistency.kms_calls);
            }
            world.kms.aliases.insert(alias, addr.2);
            Ok(json!({}))
        }
        "DeleteAlias" => {
            let name = params.str("AliasName").unwrap_or_default();
            let alias = (caller.account, caller.region.clone(), name.clone());
            world.kms.unseen.remove(&alias);
            if world.kms.aliases.remove(&alias).is_none() {
                return Err(not_found(&format!(
                    "Alias arn:{}:kms:{}:{}:{name} is not found.",
                    caller.region.partition(),
                    caller.region,
                    caller.account
                )));
            }
            Ok(json!({}))
        }
        "ListAliases" => {
            let filter = match params.str("KeyId") {
                Some(k) => Some(resolve(world, caller, &k)?.2),
                None => None,
            };
            let aliases = world
                .kms
                .aliases
                .iter()
                .filter(|((a, r, _), id)| *a == caller.account && r == &caller.region && filter.as_ref().is_none_or(|f| f == *id))
                .map(|((a, r, name), id)| (name.clone(), json!({"AliasName": name, "AliasArn": format!("arn:{}:kms:{r}:{a}:{name}", r.partition()), "TargetKeyId": id})));
            page::kms_list("Aliases", aliases, params, 50, world.page_size())
        }
        "ListKeys" => {
            let keys = world
                .kms
                .keys
                .values()
                .filter(|k| k.account == caller.account && k.region == caller.region)
                .map(|k| (k.id.clone(), json!({"KeyId": k.id, "KeyArn": k.arn()})));
            page::kms_list("Keys", keys, params, 100, world.page_size())
        }
        "ReplicateKey" => {
            let addr = authorized(world, caller, &key_id(), "ReplicateKey")?;
            let replica_region: Region = params
                .str("ReplicaRegion")
                .unwrap_or_default()
                .parse()
                .map_err(|_| {
                    AwsFault::new("ValidationException", "ReplicaRegion is not a region")
                })?;
            refuse_pending(world, &addr)?;
            let primary = world
                .kms
                .key(&addr)
                .cloned()
                .ok_or_else(|| not_found("key"))?;
            if !primary.multi_region || primary.primary_region.is_some() {
                return Err(AwsFault::new(
                    "UnsupportedOperationException",
                    format!("{} is not a multi-Region primary key; MultiRegion can only be set when a key is created", primary.arn()),
                ));
            }
            if replica_region == primary.region {
                return Err(AwsFault::new(
                    "ValidationException",
                    "The replica must be in a different Region than its primary key.",
                ));
            }
            let replica_addr = (primary.account, replica_region.clone(), primary.id.clone());
            if world.kms.keys.contains_key(&replica_addr) {
                return Err(AwsFault::new(
                    "AlreadyExistsException",
                    format!(
                        "a replica of {} already exists in {replica_region}",
                        primary.arn()
                    ),
                ));
            }
            let tags = read_tags(params)?;
            let policy = params
                .str("Policy")
                .unwrap_or_else(|| default_policy(primary.account, &replica_region));
            check_policy(&policy, &caller.arn(world))?;
            let replica = FakeKey {
                region: replica_region,
                description: params
                    .str("Description")
                    .unwrap_or(primary.description.clone()),
                policy: policy.clone(),
                primary_region: Some(primary.region.clone()),
                tags: tags.clone(),
                pending_window_days: None,
                scheduled_at: None,
                grants: Vec::new(),
                // R12, R26: a new replica is `Creating` for a few seconds (the KMS developer
                // guide, "Create multi-Region replica keys").
                state: if world.consistency.replica_describes > 0 {
                    "Creating"
                } else {
                    "Enabled"
                }
                .into(),
                created: World::now(),
                ..primary
            };
            let m = metadata(world, &replica);
            if world.consistency.replica_describes > 0 {
                world
                    .kms
                    .creating
                    .insert(replica_addr.clone(), world.consistency.replica_describes);
            }
            world.kms.keys.insert(replica_addr, replica);
            Ok(
                json!({"ReplicaKeyMetadata": m, "ReplicaPolicy": policy, "ReplicaTags": tags_json(&tags)}),
            )
        }
        "ScheduleKeyDeletion" => {
            let addr = authorized(world, caller, &key_id(), "ScheduleKeyDeletion")?;
            let days = params
                .json()
                .get("PendingWindowInDays")
                .and_then(Value::as_u64)
                .unwrap_or(30);
            if !(7..=30).contains(&days) {
                return Err(AwsFault::new(
                    "ValidationException",
                    "PendingWindowInDays must be between 7 and 30",
                ));
            }
            let has_replicas = world.kms.keys.values().any(|k| {
                k.id == addr.2 && k.account == addr.0 && k.primary_region.as_ref() == Some(&addr.1)
            });
            let key = key_mut(world, &addr)?;
            if key.aws_managed {
                return Err(AwsFault::new(
                    "AccessDeniedException",
                    "an AWS managed key cannot be scheduled for deletion",
                ));
            }
            if key.state.starts_with("Pending") {
                return Err(AwsFault::new(
                    "KMSInvalidStateException",
                    format!("{} is pending deletion.", key.arn()),
                ));
            }
            key.state = if has_replicas {
                "PendingReplicaDeletion"
            } else {
                "PendingDeletion"
            }
            .into();
            key.pending_window_days = Some(u32::try_from(days).unwrap_or(30));
            let now = World::now();
            key.scheduled_at = Some(now);
            Ok(json!({
                "KeyId": key.arn(),
                "DeletionDate": now + days as f64 * 86_400.0,
                "KeyState": key.state,
                "PendingWindowInDays": days,
            }))
        }
        "CancelKeyDeletion" => {
            let addr = authorized(world, caller, &key_id(), "CancelKeyDeletion")?;
            let key = key_mut(world, &addr)?;
            if !key.state.starts_with("Pending") {
                return Err(AwsFault::new(
                    "KMSInvalidStateException",
                    format!("{} is not pending deletion.", key.arn()),
                ));
            }
            key.state = "Disabled".into();
            key.pending_window_days = None;
            key.scheduled_at = None;
            Ok(json!({"KeyId": key.arn()}))
        }
        "CreateGrant" => {
            let addr = authorized(world, caller, &key_id(), "CreateGrant")?;
            refuse_creating(world, &addr)?;
            let grantee = params.str("GranteePrincipal").unwrap_or_default();
            let operations: Vec<String> = params
                .json()
                .get("Operations")
                .and_then(Value::as_array)
                .map(|ops| {
                    ops.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let grant_id = world.fresh_hex();
            key_mut(world, &addr)?
                .grants
                .push((grant_id.clone(), grantee, operations));
            Ok(json!({"GrantId": grant_id, "GrantToken": format!("token-{grant_id}")}))
        }
        "ListGrants" => {
            let addr = authorized(world, caller, &key_id(), "ListGrants")?;
            let key = world.kms.key(&addr).ok_or_else(|| not_found("key"))?;
            let grants = key
                .grants
                .iter()
                .map(|(id, grantee, ops)| (id.clone(), json!({"KeyId": key.arn(), "GrantId": id, "GranteePrincipal": grantee, "Operations": ops})));
            page::kms_list("Grants", grants, params, 50, world.page_size())
        }
        "TagResource" => {
            let addr = authorized(world, caller, &key_id(), "TagResource")?;
            let tags = read_tags(params)?;
            let key = key_mut(world, &addr)?;
            for (k, v) in tags {
                key.tags.retain(|(existing, _)| existing != &k);
                key.tags.push((k, v));
            }
            Ok(json!({}))
        }
        "ListResourceTags" => {
            let addr = authorized(world, caller, &key_id(), "ListResourceTags")?;
            let key = world.kms.key(&addr).ok_or_else(|| not_found("key"))?;
            let tags = key
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), json!({"TagKey": k, "TagValue": v})));
            page::kms_list("Tags", tags, params, 50, world.page_size())
        }
        other => Err(unknown("kms", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(s: &str) -> AccountId {
        s.parse().unwrap()
    }

    fn tokyo() -> Region {
        "ap-northeast-1".parse().unwrap()
    }

    /// A key of 111111111111 whose use by two other accounts goes through RDS in Tokyo only.
    const THROUGH_RDS: &str = r#"{"Statement":[
        {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"},
        {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::222222222222:root","arn:aws:iam::999999999999:root"]},
         "Action":["kms:Decrypt","kms:CreateGrant"],"Resource":"*",
         "Condition":{"StringEquals":{"kms:CallerAccount":["222222222222","999999999999"],
                                      "kms:ViaService":["rds.ap-northeast-1.amazonaws.com","rds.ap-northeast-3.amazonaws.com"]}}},
        {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::222222222222:root","arn:aws:iam::999999999999:root"]},
         "Action":"kms:DescribeKey","Resource":"*",
         "Condition":{"StringEquals":{"kms:CallerAccount":["222222222222","999999999999"]}}}]}"#;

    // R2: a grant narrowed by kms:ViaService and kms:CallerAccount serves RDS acting for each
    // listed account in each listed region, and nothing else; a condition with several values
    // holds when any of them matches.
    #[test]
    fn r2_via_service_and_caller_account_conditions_take_any_listed_value() {
        let allows = |who: &str, region: &Region, action: &str, via: Option<&str>| {
            key_allows(THROUGH_RDS, account(who), region, action, via)
        };
        let osaka: Region = "ap-northeast-3".parse().unwrap();
        for who in ["222222222222", "999999999999"] {
            assert!(allows(who, &tokyo(), "kms:Decrypt", Some("rds")), "{who}");
            assert!(allows(who, &osaka, "kms:CreateGrant", Some("rds")), "{who}");
            // Direct use, another service, or RDS in another region: no.
            assert!(!allows(who, &tokyo(), "kms:Decrypt", None), "{who}");
            assert!(!allows(who, &tokyo(), "kms:Decrypt", Some("ec2")), "{who}");
            assert!(!allows(
                who,
                &"us-east-1".parse().unwrap(),
                "kms:Decrypt",
                Some("rds")
            ));
            // Metadata stays readable directly (a preflight reads it, R31).
            assert!(allows(who, &tokyo(), "kms:DescribeKey", None), "{who}");
        }
        assert!(!allows(
            "333333333333",
            &tokyo(),
            "kms:Decrypt",
            Some("rds")
        ));
        assert!(!allows("333333333333", &tokyo(), "kms:DescribeKey", None));
    }

    // R2: `StringLike` on kms:ViaService, as written for a key whose region is not known.
    #[test]
    fn r2_string_like_via_service() {
        let policy = r#"{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},
             "Action":"kms:Decrypt","Resource":"*",
             "Condition":{"StringEquals":{"kms:CallerAccount":"999999999999"},
                          "StringLike":{"kms:ViaService":"rds.*.amazonaws.com"}}}]}"#;
        let b = account("999999999999");
        assert!(key_allows(policy, b, &tokyo(), "kms:Decrypt", Some("rds")));
        assert!(!key_allows(policy, b, &tokyo(), "kms:Decrypt", Some("ec2")));
        assert!(!key_allows(policy, b, &tokyo(), "kms:Decrypt", None));
    }
}
