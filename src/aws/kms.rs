//! KMS: keys, aliases, replicas, policies and tags, as the engine needs them.

use aws_sdk_kms::types::{KeySpec, KeyUsageType, Tag};

use super::{none_on, Account, AwsError};

/// The code KMS answers for a key or alias that is not there.
const NOT_FOUND: &[&str] = &["NotFoundException"];

/// What KMS answers about a key or alias it does not know yet, or whose state has not caught
/// up (R26; the KMS developer guide, "AWS KMS eventual consistency"): retried right after a
/// change of snapshift's, and only then.
fn unsettled(e: &AwsError) -> bool {
    e.is("NotFoundException") || e.is("KMSInvalidStateException")
}

/// A key or alias not known yet (R26), where `KMSInvalidStateException` means something else.
fn unknown(e: &AwsError) -> bool {
    e.is("NotFoundException")
}
use crate::ids::{AccountId, AliasName, IdError, KeyArn, KeyId, Region};

/// A key's lifecycle state, as KMS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Disabled (also after `CancelKeyDeletion`).
    Disabled,
    /// Scheduled for deletion.
    PendingDeletion,
    /// A multi-region primary waiting for its replicas to be deleted.
    PendingReplicaDeletion,
    /// Being created (replicas).
    Creating,
    /// Another state.
    Other(String),
}

impl KeyState {
    fn from_sdk(state: Option<&aws_sdk_kms::types::KeyState>) -> KeyState {
        use aws_sdk_kms::types::KeyState as S;
        match state {
            Some(S::Enabled) => KeyState::Enabled,
            Some(S::Disabled) => KeyState::Disabled,
            Some(S::PendingDeletion) => KeyState::PendingDeletion,
            Some(S::PendingReplicaDeletion) => KeyState::PendingReplicaDeletion,
            Some(S::Creating) => KeyState::Creating,
            Some(other) => KeyState::Other(other.as_str().to_owned()),
            None => KeyState::Other("unknown".into()),
        }
    }

    /// Whether the key is on its way out (pending deletion of itself or its replicas).
    pub fn is_deleting(&self) -> bool {
        matches!(
            self,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        )
    }
}

/// What snapshift reads about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key ARN.
    pub arn: KeyArn,
    /// Its state.
    pub state: KeyState,
    /// Whether AWS manages the key (`alias/aws/*`, R1).
    pub aws_managed: bool,
    /// Whether it is a multi-region key (R12).
    pub multi_region: bool,
}

impl KeyInfo {
    fn from_sdk(
        op: &'static str,
        m: Option<&aws_sdk_kms::types::KeyMetadata>,
    ) -> Result<KeyInfo, AwsError> {
        let m = m.ok_or_else(|| AwsError::malformed("kms", op, "no KeyMetadata".into()))?;
        let arn: KeyArn = m
            .arn()
            .unwrap_or_default()
            .parse()
            .map_err(|e: IdError| AwsError::malformed("kms", op, e.to_string()))?;
        Ok(KeyInfo {
            arn,
            state: KeyState::from_sdk(m.key_state()),
            aws_managed: m.key_manager() == Some(&aws_sdk_kms::types::KeyManagerType::Aws),
            multi_region: m.multi_region().unwrap_or(false),
        })
    }
}

/// What a new key is made with.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    /// The key policy JSON.
    pub policy: &'a str,
    /// The description.
    pub description: &'a str,
    /// Multi-region (R12).
    pub multi_region: bool,
    /// Tags, including snapshift's own.
    pub tags: &'a [(String, String)],
}

/// KMS in one account and region.
#[derive(Debug, Clone)]
pub struct Kms {
    client: aws_sdk_kms::Client,
    account: AccountId,
    region: Region,
    pace: std::sync::Arc<super::Pace>,
    /// The account, whose record of recent changes decides what is retried (R26).
    settle: Account,
}

fn err<E, R>(op: &'static str) -> impl FnOnce(aws_sdk_kms::error::SdkError<E, R>) -> AwsError
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + super::RawResponse,
{
    move |e| AwsError::from_sdk("kms", op, e)
}

fn tags(pairs: &[(String, String)]) -> Result<Vec<Tag>, AwsError> {
    pairs
        .iter()
        .map(|(k, v)| {
            Tag::builder()
                .tag_key(k)
                .tag_value(v)
                .build()
                .map_err(|e| AwsError::malformed("kms", "Tag", e.to_string()))
        })
        .collect()
}

impl Kms {
    /// KMS of `account` in `region`.
    pub fn new(account: &Account, region: &Region) -> Kms {
        Kms {
            client: account.kms_client(region),
            account: account.id(),
            region: region.clone(),
            pace: account.pace(region.as_str()),
            settle: account.clone(),
        }
    }

    /// The region this client talks to.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The name of the key or alias `reference` (an id, alias name, or key or alias ARN) in
    /// the account's record of changes: `kms:<region>:<key id or alias/name>`.
    fn thing(&self, reference: &str) -> String {
        match reference.strip_prefix("arn:") {
            Some(arn) => {
                let mut parts = arn.splitn(5, ':');
                let region = parts.nth(2).unwrap_or_default();
                let resource = parts.nth(1).unwrap_or_default();
                format!(
                    "kms:{region}:{}",
                    resource.strip_prefix("key/").unwrap_or(resource)
                )
            }
            None => format!("kms:{}:{reference}", self.region),
        }
    }

    /// Records that `reference` is known to exist as of now (found by its tags, or seen in a
    /// state that will change): for the settling window, KMS not knowing it is retried (R26).
    pub(crate) fn known(&self, reference: &str, what: String) {
        self.settle.found(self.thing(reference), what);
    }

    /// `CreateKey`: a symmetric encryption key with `key`'s policy, description and tags.
    pub async fn create_key(&self, key: &NewKey<'_>) -> Result<KeyInfo, AwsError> {
        let tags = tags(key.tags)?;
        let out = super::paced(&self.pace, || {
            self.client
                .create_key()
                .policy(key.policy)
                .description(key.description)
                .key_usage(KeyUsageType::EncryptDecrypt)
                .key_spec(KeySpec::SymmetricDefault)
                .multi_region(key.multi_region)
                .set_tags(Some(tags))
                .send()
        })
        .await
        .map_err(err("CreateKey"))?;
        let info = KeyInfo::from_sdk("CreateKey", out.key_metadata())?;
        self.settle.changed(
            self.thing(info.arn.key_id().as_str()),
            format!("key {} was created", info.arn),
        );
        Ok(info)
    }

    /// `DescribeKey`; `None` when the key or alias does not exist. Right after snapshift made
    /// it, KMS not knowing it yet is waited out (R26).
    pub async fn describe_key(&self, key: &str) -> Result<Option<KeyInfo>, AwsError> {
        let out = self
            .settle
            .settled(&self.thing(key), unsettled, || async {
                super::paced(&self.pace, || self.client.describe_key().key_id(key).send())
                    .await
                    .map_err(err("DescribeKey"))
            })
            .await;
        none_on(out, NOT_FOUND)?
            .map(|out| KeyInfo::from_sdk("DescribeKey", out.key_metadata()))
            .transpose()
    }

    /// `DescribeKey`, waiting while the key is `Creating`, as a new multi-region replica is
    /// for a few seconds, within the settling window (R26, R12): a replica may be managed but
    /// not used until it is `Enabled`. Answers the last state seen.
    pub async fn describe_usable(&self, key: &str) -> Result<Option<KeyInfo>, AwsError> {
        let first = self.describe_key(key).await?;
        let creating = |info: &Option<KeyInfo>| {
            info.as_ref()
                .is_some_and(|k| matches!(k.state, KeyState::Creating))
        };
        if !creating(&first) {
            return Ok(first);
        }
        let thing = format!("{}#creating", self.thing(key));
        self.settle
            .changed(thing.clone(), format!("key {key} was seen Creating"));
        self.settle
            .settled_until(
                &thing,
                |r: &Result<Option<KeyInfo>, AwsError>| !matches!(r, Ok(info) if creating(info)),
                || self.describe_key(key),
            )
            .await
    }

    /// `GetKeyPolicy` of the default policy. Right after snapshift made the key, KMS not
    /// knowing it yet is waited out (R26).
    pub async fn key_policy(&self, key: &KeyId) -> Result<String, AwsError> {
        let out = self
            .settle
            .settled(&self.thing(key.as_str()), unsettled, || async {
                super::paced(&self.pace, || {
                    self.client
                        .get_key_policy()
                        .key_id(key.as_str())
                        .policy_name("default")
                        .send()
                })
                .await
                .map_err(err("GetKeyPolicy"))
            })
            .await?;
        Ok(out.policy().unwrap_or_default().to_owned())
    }

    /// `GetKeyPolicy`, read again while it is not `expected` (compared as JSON) within the
    /// settling window after snapshift put that very policy (R26: KMS may answer with the
    /// policy from before the change). Answers the last policy read.
    pub async fn key_policy_expecting(
        &self,
        key: &KeyId,
        expected: &serde_json::Value,
    ) -> Result<String, AwsError> {
        let is_expected = |policy: &str| {
            serde_json::from_str::<serde_json::Value>(policy)
                .ok()
                .as_ref()
                == Some(expected)
        };
        self.settle
            .settled_until(
                &self.policy_thing(key, &expected.to_string()),
                |r: &Result<String, AwsError>| !matches!(r, Ok(policy) if !is_expected(policy)),
                || self.key_policy(key),
            )
            .await
    }

    /// The name of "key `key` has policy `policy`" in the account's record of changes: a
    /// stale read is waited out only when snapshift put the very policy it expects.
    fn policy_thing(&self, key: &KeyId, policy: &str) -> String {
        let canonical = serde_json::from_str::<serde_json::Value>(policy)
            .map(|v| v.to_string())
            .unwrap_or_else(|_| policy.to_owned());
        format!("{}#policy:{canonical}", self.thing(key.as_str()))
    }

    /// `PutKeyPolicy` of the default policy.
    pub async fn put_key_policy(&self, key: &KeyId, policy: &str) -> Result<(), AwsError> {
        self.settle
            .settled(&self.thing(key.as_str()), unsettled, || async {
                super::paced(&self.pace, || {
                    self.client
                        .put_key_policy()
                        .key_id(key.as_str())
                        .policy_name("default")
                        .policy(policy)
                        .send()
                })
                .await
                .map_err(err("PutKeyPolicy"))
            })
            .await?;
        self.settle.changed(
            self.policy_thing(key, policy),
            format!("the policy of key {} was changed", self.key_arn(key)),
        );
        Ok(())
    }

    /// `CreateAlias`. Right after snapshift made the key, KMS not knowing it yet is waited
    /// out (R26).
    pub async fn create_alias(&self, alias: &AliasName, key: &KeyId) -> Result<(), AwsError> {
        self.settle
            .settled(&self.thing(key.as_str()), unsettled, || async {
                super::paced(&self.pace, || {
                    self.client
                        .create_alias()
                        .alias_name(alias.as_str())
                        .target_key_id(key.as_str())
                        .send()
                })
                .await
                .map_err(err("CreateAlias"))
            })
            .await?;
        self.settle.changed(
            self.thing(alias.as_str()),
            format!("alias {alias} was created"),
        );
        Ok(())
    }

    /// `DeleteAlias`; `false` when there was no such alias (right after snapshift made it,
    /// KMS not knowing it yet is waited out first, R26).
    pub async fn delete_alias(&self, alias: &AliasName) -> Result<bool, AwsError> {
        let thing = self.thing(alias.as_str());
        let out = self
            .settle
            .settled(&thing, unknown, || async {
                super::paced(&self.pace, || {
                    self.client.delete_alias().alias_name(alias.as_str()).send()
                })
                .await
                .map_err(err("DeleteAlias"))
            })
            .await;
        // Asked to go, it may be gone whatever the answer said: "not found" is the truth now.
        self.settle.forget(&thing);
        Ok(none_on(out, NOT_FOUND)?.is_some())
    }

    /// `ReplicateKey`: a replica of multi-region key `key` in `replica_region` with its own
    /// policy and tags (R12).
    pub async fn replicate_key(
        &self,
        key: &KeyId,
        replica_region: &Region,
        policy: &str,
        description: &str,
        tag_pairs: &[(String, String)],
    ) -> Result<KeyInfo, AwsError> {
        let tags = tags(tag_pairs)?;
        let out = self
            .settle
            .settled(&self.thing(key.as_str()), unsettled, || async {
                super::paced(&self.pace, || {
                    self.client
                        .replicate_key()
                        .key_id(key.as_str())
                        .replica_region(replica_region.as_str())
                        .policy(policy)
                        .description(description)
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await
                .map_err(err("ReplicateKey"))
            })
            .await?;
        let info = KeyInfo::from_sdk("ReplicateKey", out.replica_key_metadata())?;
        self.settle.changed(
            format!("kms:{replica_region}:{key}"),
            format!("replica {} was created", info.arn),
        );
        Ok(info)
    }

    /// `ScheduleKeyDeletion` with a waiting period of `days` (R23). A key already pending
    /// deletion, or gone, is left as it is (`Ok(false)`).
    pub async fn schedule_key_deletion(&self, key: &KeyId, days: u32) -> Result<bool, AwsError> {
        let days = i32::try_from(days).unwrap_or(i32::MAX);
        // Right after snapshift made the key, KMS not knowing it yet is waited out (R26): a
        // key taken for gone would never be scheduled.
        match self
            .settle
            .settled(&self.thing(key.as_str()), unknown, || async {
                super::paced(&self.pace, || {
                    self.client
                        .schedule_key_deletion()
                        .key_id(key.as_str())
                        .pending_window_in_days(days)
                        .send()
                })
                .await
                .map_err(err("ScheduleKeyDeletion"))
            })
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                if e.is("NotFoundException") || self.is_pending_deletion(key).await? {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn is_pending_deletion(&self, key: &KeyId) -> Result<bool, AwsError> {
        Ok(self
            .describe_key(key.as_str())
            .await?
            .is_some_and(|k| k.state.is_deleting()))
    }

    /// `ListResourceTags` of a key.
    pub async fn tags(&self, key: &KeyId) -> Result<Vec<(String, String)>, AwsError> {
        let mut pairs = Vec::new();
        let mut marker = None;
        loop {
            let out = super::paced(&self.pace, || {
                self.client
                    .list_resource_tags()
                    .key_id(key.as_str())
                    .set_marker(marker)
                    .send()
            })
            .await
            .map_err(err("ListResourceTags"))?;
            pairs.extend(
                out.tags()
                    .iter()
                    .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned())),
            );
            match out.next_marker() {
                Some(m) if out.truncated() => marker = Some(m.to_owned()),
                _ => return Ok(pairs),
            }
        }
    }

    /// Every key of the account and region that carries all of `wanted` tags (`ListKeys`, then
    /// `ListResourceTags` per key). Used only to recover from a crash between `CreateKey` and
    /// saving its id.
    pub async fn keys_tagged(&self, wanted: &[(String, String)]) -> Result<Vec<KeyId>, AwsError> {
        let mut found = Vec::new();
        let mut marker = None;
        loop {
            let out = super::paced(&self.pace, || {
                self.client.list_keys().set_marker(marker).send()
            })
            .await
            .map_err(err("ListKeys"))?;
            for entry in out.keys() {
                let Some(id) = entry.key_id().and_then(|id| id.parse::<KeyId>().ok()) else {
                    continue;
                };
                // A key whose tags this caller may not read (or that just went) is not ours.
                let unreadable = &["AccessDeniedException", "NotFoundException"];
                let Some(tags) = none_on(self.tags(&id).await, unreadable)? else {
                    continue;
                };
                if wanted.iter().all(|w| tags.contains(w)) {
                    found.push(id);
                }
            }
            match out.next_marker() {
                Some(m) if out.truncated() => marker = Some(m.to_owned()),
                _ => return Ok(found),
            }
        }
    }

    /// The ARN of key `id` in this client's account and region.
    pub fn key_arn(&self, id: &KeyId) -> KeyArn {
        KeyArn::new(&self.region, self.account, id)
    }
}
