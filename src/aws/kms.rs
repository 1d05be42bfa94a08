//! KMS: keys, aliases, replicas, policies and tags, as the engine needs them.

use aws_sdk_kms::types::{KeySpec, KeyUsageType, Tag};

use super::{none_on, Account, AwsError};

/// The code KMS answers for a key or alias that is not there.
const NOT_FOUND: &[&str] = &["NotFoundException"];
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
        }
    }

    /// The region this client talks to.
    pub fn region(&self) -> &Region {
        &self.region
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
        KeyInfo::from_sdk("CreateKey", out.key_metadata())
    }

    /// `DescribeKey`; `None` when the key or alias does not exist.
    pub async fn describe_key(&self, key: &str) -> Result<Option<KeyInfo>, AwsError> {
        let out = super::paced(&self.pace, || self.client.describe_key().key_id(key).send())
            .await
            .map_err(err("DescribeKey"));
        none_on(out, NOT_FOUND)?
            .map(|out| KeyInfo::from_sdk("DescribeKey", out.key_metadata()))
            .transpose()
    }

    /// `GetKeyPolicy` of the default policy.
    pub async fn key_policy(&self, key: &KeyId) -> Result<String, AwsError> {
        let out = super::paced(&self.pace, || {
            self.client
                .get_key_policy()
                .key_id(key.as_str())
                .policy_name("default")
                .send()
        })
        .await
        .map_err(err("GetKeyPolicy"))?;
        Ok(out.policy().unwrap_or_default().to_owned())
    }

    /// `PutKeyPolicy` of the default policy.
    pub async fn put_key_policy(&self, key: &KeyId, policy: &str) -> Result<(), AwsError> {
        super::paced(&self.pace, || {
            self.client
                .put_key_policy()
                .key_id(key.as_str())
                .policy_name("default")
                .policy(policy)
                .send()
        })
        .await
        .map_err(err("PutKeyPolicy"))?;
        Ok(())
    }

    /// `CreateAlias`.
    pub async fn create_alias(&self, alias: &AliasName, key: &KeyId) -> Result<(), AwsError> {
        super::paced(&self.pace, || {
            self.client
                .create_alias()
                .alias_name(alias.as_str())
                .target_key_id(key.as_str())
                .send()
        })
        .await
        .map_err(err("CreateAlias"))?;
        Ok(())
    }

    /// `DeleteAlias`; `false` when there was no such alias.
    pub async fn delete_alias(&self, alias: &AliasName) -> Result<bool, AwsError> {
        let out = super::paced(&self.pace, || {
            self.client.delete_alias().alias_name(alias.as_str()).send()
        })
        .await
        .map_err(err("DeleteAlias"));
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
        let out = super::paced(&self.pace, || {
            self.client
                .replicate_key()
                .key_id(key.as_str())
                .replica_region(replica_region.as_str())
                .policy(policy)
                .description(description)
                .set_tags(Some(tags))
                .send()
        })
        .await
        .map_err(err("ReplicateKey"))?;
        KeyInfo::from_sdk("ReplicateKey", out.replica_key_metadata())
    }

    /// `ScheduleKeyDeletion` with a waiting period of `days` (R23). A key already pending
    /// deletion, or gone, is left as it is (`Ok(false)`).
    pub async fn schedule_key_deletion(&self, key: &KeyId, days: u32) -> Result<bool, AwsError> {
        let days = i32::try_from(days).unwrap_or(i32::MAX);
        match super::paced(&self.pace, || {
            self.client
                .schedule_key_deletion()
                .key_id(key.as_str())
                .pending_window_in_days(days)
                .send()
        })
        .await
        {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = AwsError::from_sdk("kms", "ScheduleKeyDeletion", e);
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
