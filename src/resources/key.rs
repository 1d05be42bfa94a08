//! A [`ShareableKey`] deployed to KMS: the key with its policy and tags, its alias, and its
//! replicas (R12); torn down by deleting the alias and scheduling the key's deletion, replicas
//! first (R23).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{
    aws::{
        kms::{Kms, NewKey},
        Account,
    },
    engine::{Action, Change, Context, KeyDeletion, Resource},
    error::{Error, Result},
    ids::{AliasName, KeyArn, KeyId, Region},
    key::ShareableKey,
    policy::PolicyDocument,
    rules::Rule,
};

/// What a deployed key gives other resources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyOutputs {
    /// The key id.
    pub key_id: KeyId,
    /// The key ARN in its home region.
    pub key_arn: KeyArn,
    /// The alias, if the key has one.
    pub alias: Option<AliasName>,
    /// The replica ARNs, one per replica region (R12).
    pub replicas: Vec<KeyArn>,
}

/// What the state records of the key, step by step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct KeyRecord {
    /// Saved before `CreateKey` and put on the key as a tag: after a crash between the call
    /// and saving the id, the key is found by it.
    token: Option<String>,
    /// The key this resource created.
    key_id: Option<KeyId>,
    /// The alias this resource created (or found pointing at its key).
    alias: Option<AliasName>,
    /// The replica regions this resource created.
    replicas: Vec<Region>,
    /// The deletion window to use at teardown (R23).
    deletion_window: u32,
}

/// A shareable key in one account and region, deployable by a [`Stack`](crate::engine::Stack).
#[derive(Debug, Clone)]
pub struct KeyResource {
    account: Account,
    region: Region,
    key: ShareableKey,
    policy: PolicyDocument,
}

impl KeyResource {
    /// The key `key` in `account` and `region`, with the policy
    /// [`ShareableKey::key_policy_in_region`] writes for that home region: granted accounts use
    /// the key through RDS in the regions it lives in (R2). Everything that can be checked
    /// without AWS is checked here: the policy (R2, R4) and the replica regions (R12); nothing
    /// has been called yet if this fails.
    pub fn new(account: &Account, region: Region, key: ShareableKey) -> Result<KeyResource> {
        let policy = key
            .key_policy_in_region(&region, account.id())
            .map_err(|source| Error::key("kms-key", source))?;
        KeyResource::with_policy(account, region, key, policy)
    }

    /// The same with a key policy of your own, which must pass
    /// [`PolicyDocument::validate_key_policy`]: it must keep the account able to change it
    /// (R4), and may not give `kms:*` or key administration to a principal outside the
    /// account (another account, `"*"`): the error names the statement (R2).
    pub fn with_policy(
        account: &Account,
        region: Region,
        key: ShareableKey,
        policy: PolicyDocument,
    ) -> Result<KeyResource> {
        policy
            .validate_key_policy(account.id())
            .map_err(|source| Error::policy("kms-key", source))?;
        if key.replica_regions().contains(&region) {
            return Err(Error::key(
                "kms-key",
                crate::key::KeyError::DuplicateReplica { region },
            ));
        }
        Ok(KeyResource {
            account: account.clone(),
            region,
            key,
            policy,
        })
    }

    /// The key definition.
    pub fn key(&self) -> &ShareableKey {
        &self.key
    }

    fn kms(&self) -> Kms {
        Kms::new(&self.account, &self.region)
    }

    fn replica_arn(&self, id: &KeyId, region: &Region) -> KeyArn {
        KeyArn::new(region, self.account.id(), id)
    }

    fn tags(&self, ctx: &Context, token: &str) -> Vec<(String, String)> {
        let mut tags = ctx.tags();
        tags.push(("snapshift:token".into(), token.to_owned()));
        tags.extend(
            self.key
                .tags()
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        tags
    }

    fn create_reason(&self) -> String {
        let who = if self.key.granted_accounts().is_empty() {
            "for this account only".to_owned()
        } else {
            let accounts: Vec<String> = self
                .key
                .granted_accounts()
                .iter()
                .map(ToString::to_string)
                .collect();
            format!("granted to {}", accounts.join(", "))
        };
        format!("customer managed key {who}")
    }

    /// Whether the live policy says the same as the definition (compared as JSON). Right
    /// after snapshift put the policy, KMS may answer with the one before: it is read again
    /// within the settling window (R26).
    async fn policy_matches(&self, kms: &Kms, id: &KeyId, ctx: &Context) -> Result<bool> {
        let wanted = serde_json::to_value(&self.policy).unwrap_or_default();
        let live = kms
            .key_policy_expecting(id, &wanted)
            .await
            .map_err(Error::aws_in(ctx.name()))?;
        Ok(serde_json::from_str::<serde_json::Value>(&live).ok() == Some(wanted))
    }

    /// Finds the key of an interrupted `CreateKey` by its token tag; extra keys made by a
    /// retried call are scheduled for deletion (they are this resource's own).
    async fn recover(&self, kms: &Kms, ctx: &Context, token: &str) -> Result<Option<KeyId>> {
        let wanted = vec![
            ("snapshift:stack".to_owned(), ctx.stack().to_owned()),
            ("snapshift:resource".to_owned(), ctx.name().to_owned()),
            ("snapshift:token".to_owned(), token.to_owned()),
        ];
        let mut found = kms
            .keys_tagged(&wanted)
            .await
            .map_err(Error::aws_in(ctx.name()))?;
        found.sort();
        // Found by its tags, a key exists, whatever KMS answers in the next seconds (R26).
        for id in &found {
            kms.known(
                id.as_str(),
                format!("key {} was found by its token tag", kms.key_arn(id)),
            );
        }
        let mut found = found.into_iter();
        let first = found.next();
        for extra in found {
            tracing::warn!(key = %extra, "scheduling deletion of a duplicate key from a retried CreateKey");
            kms.schedule_key_deletion(&extra, crate::rules::limits::MIN_KEY_DELETION_DAYS)
                .await
                .map_err(Error::aws_in(ctx.name()))?;
        }
        Ok(first)
    }
}

#[async_trait]
impl Resource for KeyResource {
    type Outputs = KeyOutputs;

    fn kind(&self) -> &'static str {
        "kms-key"
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    /// R4 as KMS checks it: the principal deploying must itself keep `kms:PutKeyPolicy` under
    /// the policy, or `CreateKey` and `PutKeyPolicy` are refused. A policy that allows it to
    /// the account root and has no Deny keeps every principal of the account; any other is
    /// checked against the caller STS names.
    async fn preflight(&self, ctx: &Context) -> Result<()> {
        let root = self.account.id().root_arn(self.region.partition());
        let has_deny = self
            .policy
            .statements()
            .iter()
            .any(|st| st.effect == crate::policy::Effect::Deny);
        if !has_deny && self.policy.check_lockout_for(&root).is_ok() {
            return Ok(());
        }
        let caller = crate::aws::sts::caller_identity(&self.account, &self.region)
            .await
            .map_err(Error::aws_in(ctx.name()))?;
        self.policy
            .check_lockout_for(&caller.arn)
            .map_err(|source| Error::policy(ctx.name(), source))
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        let record: KeyRecord = ctx.load().await?.unwrap_or_default();
        let kms = self.kms();
        let live = match &record.key_id {
            Some(id) => kms
                .describe_key(id.as_str())
                .await
                .map_err(Error::aws_in(ctx.name()))?,
            None => None,
        };
        let Some(live) = live else {
            let mut change =
                Change::new(ctx.name(), "kms-key", Action::Create, self.create_reason())
                    .rule(Rule::R2)
                    .detail(format!(
                        "CreateKey in {} {} (symmetric{})",
                        self.account.id(),
                        self.region,
                        if self.key.is_multi_region() {
                            ", multi-region"
                        } else {
                            ""
                        }
                    ));
            if let Some(alias) = self.key.alias() {
                change = change.detail(format!("CreateAlias {alias}"));
            }
            for region in self.key.replica_regions() {
                change = change.detail(format!("ReplicateKey to {region} (R12)"));
            }
            return Ok(change);
        };
        let id = live.arn.key_id().clone();
        if live.state.is_deleting() {
            return Ok(Change::new(
                ctx.name(),
                "kms-key",
                Action::Update,
                format!("{} is pending deletion: deploy will stop and ask", live.arn),
            ));
        }
        let mut change = Change::new(
            ctx.name(),
            "kms-key",
            Action::Unchanged,
            "matches the definition",
        );
        let mut details = Vec::new();
        if !self.policy_matches(&kms, &id, ctx).await? {
            details.push("PutKeyPolicy: the live policy differs from the definition".to_owned());
        }
        if let Some(alias) = self.key.alias() {
            let target = kms
                .describe_key(alias.as_str())
                .await
                .map_err(Error::aws_in(ctx.name()))?;
            if target.is_none() {
                details.push(format!("CreateAlias {alias}"));
            }
        }
        for region in self.key.replica_regions() {
            let replica = Kms::new(&self.account, region)
                .describe_key(&self.replica_arn(&id, region).to_string())
                .await
                .map_err(Error::aws_in(ctx.name()))?;
            if replica.is_none() {
                details.push(format!("ReplicateKey to {region} (R12)"));
            }
        }
        if !details.is_empty() {
            change = Change::new(
                ctx.name(),
                "kms-key",
                Action::Update,
                "differs from the definition",
            );
            change.details = details;
        }
        Ok(change)
    }

    async fn deploy(&self, ctx: &Context) -> Result<KeyOutputs> {
        let kms = self.kms();
        let mut record: KeyRecord = ctx.load().await?.unwrap_or_default();
        if record.deletion_window == 0 {
            record.deletion_window = self.key.deletion_window().get();
        }

        // The key: recorded, recovered after a crash, or created.
        let mut live = match &record.key_id {
            Some(id) => kms
                .describe_key(id.as_str())
                .await
                .map_err(Error::aws_in(ctx.name()))?,
            None => None,
        };
        if let Some(info) = &live {
            if info.state.is_deleting() {
                return Err(Error::Conflict {
                    resource: ctx.name().to_owned(),
                    problem: format!(
                        "key {} is pending deletion; cancel the deletion (CancelKeyDeletion) to keep it, or tear the stack down",
                        info.arn
                    ),
                });
            }
        }
        if live.is_none() {
            if let Some(token) = record.token.clone() {
                if let Some(id) = self.recover(&kms, ctx, &token).await? {
                    live = kms
                        .describe_key(id.as_str())
                        .await
                        .map_err(Error::aws_in(ctx.name()))?;
                    record.key_id = Some(id);
                    ctx.save(&record).await?;
                }
            }
        }
        let info = match live {
            Some(info) => info,
            None => {
                // Keep an earlier token: a key made under it may not be listed yet.
                let token = record.token.clone().unwrap_or_else(super::new_token);
                record.token = Some(token.clone());
                record.key_id = None;
                ctx.save(&record).await?;
                let policy = self.policy.to_json();
                let tags = self.tags(ctx, &token);
                let created = kms
                    .create_key(&NewKey {
                        policy: &policy,
                        description: self.key.description(),
                        multi_region: self.key.is_multi_region(),
                        tags: &tags,
                    })
                    .await
                    .map_err(Error::aws_in(ctx.name()))?;
                // Recorded at once: without `kms:ListKeys` the token search below cannot find
                // it, and a key the state does not know would never be scheduled for deletion.
                record.key_id = Some(created.arn.key_id().clone());
                ctx.save(&record).await?;
                // CreateKey is not idempotent: an SDK retry after an attempt that took effect
                // makes a second key. Keep one and schedule the others (all this resource's).
                // Without the permission to list keys, the key AWS answered with is kept.
                let kept = match self.recover(&kms, ctx, &token).await {
                    Ok(found) => found.unwrap_or_else(|| created.arn.key_id().clone()),
                    Err(e) if e.aws().is_some_and(|a| a.is_access_denied()) => {
                        created.arn.key_id().clone()
                    }
                    Err(e) => return Err(e),
                };
                let info = kms
                    .describe_key(kept.as_str())
                    .await
                    .map_err(Error::aws_in(ctx.name()))?
                    .unwrap_or(created);
                record.key_id = Some(kept);
                ctx.save(&record).await?;
                info
            }
        };
        let id = info.arn.key_id().clone();
        if !self.policy_matches(&kms, &id, ctx).await? {
            kms.put_key_policy(&id, &self.policy.to_json())
                .await
                .map_err(Error::aws_in(ctx.name()))?;
        }

        // The alias: ours, or refused if it names another key. The intent is saved first, so
        // that a teardown after a crash removes it (only while it names this key).
        if let Some(alias) = self.key.alias() {
            match kms
                .describe_key(alias.as_str())
                .await
                .map_err(Error::aws_in(ctx.name()))?
            {
                Some(target) if target.arn.key_id() == &id => {
                    if record.alias.as_ref() != Some(alias) {
                        record.alias = Some(alias.clone());
                        ctx.save(&record).await?;
                    }
                }
                Some(target) => {
                    return Err(Error::NotOurs {
                        resource: ctx.name().to_owned(),
                        what: format!("alias {alias} (it points at {})", target.arn),
                    })
                }
                None => {
                    record.alias = Some(alias.clone());
                    ctx.save(&record).await?;
                    match kms.create_alias(alias, &id).await {
                        Ok(()) => {}
                        // KMS did not show it a moment ago, yet it exists: made by a call
                        // whose answer was lost, not known yet (R26). Whose key it names
                        // decides.
                        Err(e) if e.is("AlreadyExistsException") => {
                            kms.known(alias.as_str(), format!("alias {alias} was found to exist"));
                            match kms
                                .describe_key(alias.as_str())
                                .await
                                .map_err(Error::aws_in(ctx.name()))?
                            {
                                Some(target) if target.arn.key_id() == &id => {}
                                Some(target) => {
                                    return Err(Error::NotOurs {
                                        resource: ctx.name().to_owned(),
                                        what: format!(
                                            "alias {alias} (it points at {})",
                                            target.arn
                                        ),
                                    })
                                }
                                None => return Err(Error::aws_in(ctx.name())(e)),
                            }
                        }
                        Err(e) => return Err(Error::aws_in(ctx.name())(e)),
                    }
                }
            }
        }

        // Replicas, each with the same policy and tags (R12); the intent is saved first.
        let mut replicas = Vec::new();
        for region in self.key.replica_regions() {
            let arn = self.replica_arn(&id, region);
            let replica = Kms::new(&self.account, region)
                .describe_key(&arn.to_string())
                .await
                .map_err(Error::aws_in(ctx.name()))?;
            if replica.as_ref().is_some_and(|r| r.state.is_deleting()) {
                return Err(Error::Conflict {
                    resource: ctx.name().to_owned(),
                    problem: format!("replica {arn} is pending deletion; cancel its deletion to keep it, or tear the stack down"),
                });
            }
            if !record.replicas.contains(region) {
                record.replicas.push(region.clone());
                ctx.save(&record).await?;
            }
            if replica.is_none() {
                let token = record.token.clone().unwrap_or_default();
                kms.replicate_key(
                    &id,
                    region,
                    &self.policy.to_json(),
                    self.key.description(),
                    &self.tags(ctx, &token),
                )
                .await
                .map_err(Error::aws_in(ctx.name()))?;
            }
            replicas.push(arn);
        }
        if record.deletion_window != self.key.deletion_window().get() {
            record.deletion_window = self.key.deletion_window().get();
            ctx.save(&record).await?;
        }
        Ok(KeyOutputs {
            key_id: id,
            key_arn: info.arn,
            alias: self.key.alias().cloned(),
            replicas,
        })
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        let record: KeyRecord = ctx.load().await?.unwrap_or_default();
        let Some(id) = &record.key_id else {
            return Ok(Change::new(
                ctx.name(),
                "kms-key",
                Action::Unchanged,
                "nothing was created",
            ));
        };
        let mut change = Change::new(
            ctx.name(),
            "kms-key",
            Action::Delete,
            format!(
                "schedule deletion with a {}-day waiting period",
                record.deletion_window
            ),
        )
        .rule(Rule::R23);
        if let Some(alias) = &record.alias {
            change = change.detail(format!("DeleteAlias {alias}"));
        }
        for region in &record.replicas {
            change = change.detail(format!(
                "ScheduleKeyDeletion of the replica in {region} (before the primary)"
            ));
        }
        Ok(change.detail(format!("ScheduleKeyDeletion of {}", self.kms().key_arn(id))))
    }

    async fn teardown(&self, ctx: &Context) -> Result<Vec<String>> {
        let Some(mut record) = ctx.load::<KeyRecord>().await? else {
            return Ok(Vec::new());
        };
        let kms = self.kms();
        let mut removed = Vec::new();
        // A crash between CreateKey and saving its id: find the key by its token.
        if record.key_id.is_none() {
            if let Some(token) = record.token.clone() {
                record.key_id = self.recover(&kms, ctx, &token).await?;
                ctx.save(&record).await?;
            }
        }
        if let Some(alias) = record.alias.clone() {
            // Only while the alias still names this resource's key.
            let target = kms
                .describe_key(alias.as_str())
                .await
                .map_err(Error::aws_in(ctx.name()))?;
            let ours = target.is_some_and(|t| Some(t.arn.key_id()) == record.key_id.as_ref());
            if ours
                && kms
                    .delete_alias(&alias)
                    .await
                    .map_err(Error::aws_in(ctx.name()))?
            {
                removed.push(format!("alias {alias} deleted"));
            }
            record.alias = None;
            ctx.save(&record).await?;
        }
        let Some(id) = record.key_id.clone() else {
            return Ok(removed);
        };
        let days = record
            .deletion_window
            .max(crate::rules::limits::MIN_KEY_DELETION_DAYS);
        // Replicas first: a multi-region primary's waiting period starts only after its last
        // replica is deleted (R23).
        for region in record.replicas.clone() {
            let arn = self.replica_arn(&id, &region);
            if Kms::new(&self.account, &region)
                .schedule_key_deletion(&id, days)
                .await
                .map_err(Error::aws_in(ctx.name()))?
            {
                removed.push(format!(
                    "replica {arn} scheduled for deletion in {days} days"
                ));
            }
            record.replicas.retain(|r| r != &region);
            ctx.save(&record).await?;
        }
        if kms
            .schedule_key_deletion(&id, days)
            .await
            .map_err(Error::aws_in(ctx.name()))?
        {
            removed.push(format!(
                "key {} scheduled for deletion in {days} days",
                kms.key_arn(&id)
            ));
        }
        Ok(removed)
    }

    async fn key_to_delete(&self, ctx: &Context) -> Result<Option<KeyDeletion>> {
        let record: KeyRecord = ctx.load().await?.unwrap_or_default();
        let Some(id) = record.key_id else {
            return Ok(None);
        };
        let mut regions = vec![self.region.clone()];
        regions.extend(record.replicas.iter().cloned());
        regions.extend(self.key.replica_regions().iter().cloned());
        regions.sort();
        regions.dedup();
        Ok(Some(KeyDeletion {
            account: self.account.id(),
            arn: self.kms().key_arn(&id).to_string(),
            key_id: id,
            regions,
        }))
    }

    async fn refresh(&self, ctx: &Context) -> Result<Vec<String>> {
        let record: KeyRecord = ctx.load().await?.unwrap_or_default();
        let Some(id) = &record.key_id else {
            return Ok(vec!["no key recorded: deploy did not finish".into()]);
        };
        let kms = self.kms();
        let mut drift = Vec::new();
        match kms
            .describe_key(id.as_str())
            .await
            .map_err(Error::aws_in(ctx.name()))?
        {
            None => drift.push(format!("key {id} no longer exists")),
            Some(info) if info.state.is_deleting() => {
                drift.push(format!("key {} is pending deletion", info.arn))
            }
            Some(_) => {
                if !self.policy_matches(&kms, id, ctx).await? {
                    drift.push("the key policy was changed outside snapshift".into());
                }
            }
        }
        if let Some(alias) = &record.alias {
            match kms
                .describe_key(alias.as_str())
                .await
                .map_err(Error::aws_in(ctx.name()))?
            {
                None => drift.push(format!("alias {alias} no longer exists")),
                Some(t) if t.arn.key_id() != id => {
                    drift.push(format!("alias {alias} now points at {}", t.arn))
                }
                Some(_) => {}
            }
        }
        Ok(drift)
    }
}
