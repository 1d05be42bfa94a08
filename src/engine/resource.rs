//! The resource contract: what every deployable thing does, and the context it is given.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Serialize};

use super::{
    plan::{Change, Warning},
    state::{JsonText, LiveState},
    Handle,
};
use crate::{
    aws::Account,
    error::{Error, Result},
    ids::Region,
};

/// Something a stack deploys: a KMS key, a snapshot copy, a share...
///
/// Every method is given a [`Context`] that reads and saves this resource's own record in the
/// state file, tags what it creates, and reads the outputs of the resources it depends on.
///
/// # Expected flow
/// `plan` (read only) → `deploy` → later `refresh` (read only) → `teardown`.
///
/// # Guarantees a resource gives
/// - **Idempotent both ways.** `deploy` after a crash at any point finds what it already made
///   (by its saved record, or by the `snapshift:stack` / `snapshift:resource` / token tags it
///   puts on what it creates) instead of making a second one, and does nothing when
///   everything is in place. `teardown` tolerates "not found" and a deploy that never ran.
/// - **Progress is saved after every AWS step** ([`Context::save`]), so a re-run resumes
///   where the last one stopped.
/// - **Nothing lost.** It never deletes or changes what its record does not say it created.
///
/// # Assumptions
/// - One process deploys a stack at a time (the stack holds the state lock).
/// - Outputs of dependencies are available when `deploy` runs (the stack orders the work).
///
/// # Errors
/// Every error names the resource; AWS errors carry the AWS code, message and request id
/// ([`crate::aws::AwsError`]); errors from AWS rules name the rule ([`Error::rule`]).
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// What `deploy` returns and the stack records: ids and ARNs other resources may use.
    type Outputs: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The resource kind, e.g. `kms-key`.
    fn kind(&self) -> &'static str;

    /// The account it lives in.
    fn account(&self) -> &Account;

    /// The region it lives in.
    fn region(&self) -> &Region;

    /// Checks, before the stack makes its first change, everything that can be checked
    /// against the live world without changing it; an error here stops the deploy with
    /// nothing changed. Nothing by default.
    async fn preflight(&self, _ctx: &Context) -> Result<()> {
        Ok(())
    }

    /// Checks, after every resource's [`preflight`](Resource::preflight) passed and before the
    /// first change, what needs their findings (the quota check adds up what the copies will
    /// make). Nothing by default.
    async fn preflight_after(&self, _ctx: &Context) -> Result<()> {
        Ok(())
    }

    /// What `deploy` would do, read from the saved record and the live resource. Makes no
    /// change.
    async fn plan(&self, ctx: &Context) -> Result<Change>;

    /// Warnings to show with the plan. Pure by default: none.
    fn warnings(&self, _name: &str) -> Vec<Warning> {
        Vec::new()
    }

    /// Creates or updates the resource until it matches its definition; returns its outputs.
    async fn deploy(&self, ctx: &Context) -> Result<Self::Outputs>;

    /// What `teardown` would do. Makes no change.
    async fn plan_teardown(&self, ctx: &Context) -> Result<Change>;

    /// Removes what the record says this resource created, in the safe order, and returns a
    /// line for each thing removed.
    async fn teardown(&self, ctx: &Context) -> Result<Vec<String>>;

    /// Reads the live resource and lists how it differs from the record and the definition.
    async fn refresh(&self, ctx: &Context) -> Result<Vec<String>>;

    /// Whether this resource, once deployed, still needs `dependency` to exist (R8). A
    /// resource that copied what it needed (R7) can say no, so that a retained copy does not
    /// keep, say, a source key alive. Conservative by default: yes.
    async fn still_needs(&self, _ctx: &Context, _dependency: &str) -> Result<bool> {
        Ok(true)
    }

    /// The key whose deletion this resource's teardown would schedule, read from its record
    /// (`None` by default, and when nothing was created). Before that teardown the stack looks
    /// for anything still encrypted under the key in its account and every other account of
    /// the stack, in the key's regions, and refuses ([`Error::KeyInUse`], R8) when it finds
    /// any: the engine, not each resource, keeps a key alive while data needs it.
    async fn key_to_delete(&self, _ctx: &Context) -> Result<Option<KeyDeletion>> {
        Ok(None)
    }
}

/// A key a teardown would schedule for deletion: where to look for what it encrypts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDeletion {
    /// The account that owns the key.
    pub account: crate::ids::AccountId,
    /// The key's id (the same in every region for a multi-region key).
    pub key_id: crate::ids::KeyId,
    /// The key's ARN in its home region, for messages.
    pub arn: String,
    /// The home region and the regions of its replicas (R12).
    pub regions: Vec<Region>,
}

/// What a resource method is given: its name, the stack's tags for it, its saved record, and
/// the outputs of other resources.
pub struct Context {
    pub(crate) stack: Arc<str>,
    pub(crate) name: Arc<str>,
    pub(crate) state: Arc<LiveState>,
    pub(crate) runtime: Arc<super::wait::Runtime>,
}

impl Context {
    /// The stack's name.
    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// The resource's logical name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stack's waiting runtime: progress events, rate limiters, copy slots (R5, R19, R20).
    pub fn runtime(&self) -> &super::wait::Runtime {
        &self.runtime
    }

    /// The tags snapshift puts on everything this resource creates, so that a re-run can find
    /// it and a person can tell who made it.
    pub fn tags(&self) -> Vec<(String, String)> {
        vec![
            ("snapshift:stack".to_owned(), self.stack.to_string()),
            ("snapshift:resource".to_owned(), self.name.to_string()),
        ]
    }

    /// Whether a resource with `tags` was made by this resource of this stack: it carries
    /// every tag of [`tags`](Self::tags).
    pub fn owns(&self, tags: &[(String, String)]) -> bool {
        self.owns_as(&self.name, tags)
    }

    /// Whether a resource with `tags` was made by `resource` of this stack (a release deletes
    /// the intermediate copy its copy resource made).
    pub(crate) fn owns_as(&self, resource: &str, tags: &[(String, String)]) -> bool {
        [
            ("snapshift:stack", &*self.stack),
            ("snapshift:resource", resource),
        ]
        .iter()
        .all(|(k, v)| tags.iter().any(|(tk, tv)| tk == k && tv == v))
    }

    /// Marks the resource as never to be removed by teardown, whatever the definition says
    /// later, and saves the state: call it before the step after which what this resource
    /// made is the only copy of the user's data (the original deleted). `reason` is shown
    /// at teardown.
    pub async fn pin(&self, reason: &str) -> Result<()> {
        if let Some(record) = self.state.lock().await.resources.get_mut(&*self.name) {
            if record.pinned.is_none() {
                record.pinned = Some(reason.to_owned());
            }
            record.retain = true;
        }
        Box::pin(self.state.commit([&*self.name])).await?;
        Ok(())
    }

    /// The resource's saved record, if it has one.
    pub async fn load<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        let state = self.state.lock().await;
        let Some(record) = state.resources.get(&*self.name) else {
            return Ok(None);
        };
        if record.data.is_null() {
            return Ok(None);
        }
        record.data.parse().map(Some).map_err(|e| Error::Conflict {
            resource: self.name.to_string(),
            problem: format!(
                "its record in the state file cannot be read ({e}); the file was left as it is"
            ),
        })
    }

    /// Saves the resource's record and writes the state file, atomically. Call it after every
    /// AWS step that created or removed something.
    pub async fn save<T: Serialize>(&self, data: &T) -> Result<()> {
        let value = JsonText::new(data).map_err(|e| Error::Conflict {
            resource: self.name.to_string(),
            problem: format!("its record cannot be written ({e})"),
        })?;
        if let Some(record) = self.state.lock().await.resources.get_mut(&*self.name) {
            record.data = value;
        }
        // On the heap: a resource's future would otherwise carry the write's state while it
        // waits for hours.
        Box::pin(self.state.commit([&*self.name])).await?;
        Ok(())
    }

    /// Changes the record of `other`, a resource of the same stack that this one acts for
    /// (a release removes a share and an intermediate copy as it goes), and writes the state
    /// before the change is made in AWS: that resource's own deploy and teardown then read
    /// what was done. Nothing when `other` has no record.
    pub(crate) async fn update_record_of<T, F>(&self, other: &str, change: F) -> Result<()>
    where
        T: Serialize + DeserializeOwned + Default,
        F: FnOnce(&mut T),
    {
        {
            let mut state = self.state.lock().await;
            let Some(record) = state.resources.get_mut(other) else {
                return Ok(());
            };
            let mut data: T = if record.data.is_null() {
                T::default()
            } else {
                record.data.parse().map_err(|e| Error::Conflict {
                    resource: self.name.to_string(),
                    problem: format!(
                        "the record of `{other}` in the state file cannot be read ({e}); the file was left as it is"
                    ),
                })?
            };
            change(&mut data);
            record.data = JsonText::new(&data).map_err(|e| Error::Conflict {
                resource: self.name.to_string(),
                problem: format!("the record of `{other}` cannot be written ({e})"),
            })?;
        }
        Box::pin(self.state.commit([other])).await?;
        Ok(())
    }

    /// The saved record of `other`, a resource of the same stack, if it has one.
    pub(crate) async fn load_of<T: DeserializeOwned>(&self, other: &str) -> Result<Option<T>> {
        let state = self.state.lock().await;
        let Some(record) = state.resources.get(other).filter(|r| !r.data.is_null()) else {
            return Ok(None);
        };
        record.data.parse().map(Some).map_err(|e| Error::Conflict {
            resource: self.name.to_string(),
            problem: format!(
                "the record of `{other}` in the state file cannot be read ({e}); the file was left as it is"
            ),
        })
    }

    /// Whether `other`, a resource of the same stack, was deployed (by this run or an earlier
    /// one).
    pub(crate) async fn is_deployed(&self, other: &str) -> bool {
        self.state
            .lock()
            .await
            .resources
            .get(other)
            .is_some_and(|r| !r.outputs.is_null())
    }

    /// The outputs of a deployed resource of the same stack.
    pub async fn outputs<R: Resource>(&self, handle: &Handle<R>) -> Result<R::Outputs> {
        let state = self.state.lock().await;
        let record = state
            .resources
            .get(handle.name())
            .filter(|r| !r.outputs.is_null());
        let record = record.ok_or_else(|| Error::Conflict {
            resource: self.name.to_string(),
            problem: format!(
                "`{}` has no outputs yet: it has not been deployed",
                handle.name()
            ),
        })?;
        record.outputs.parse().map_err(|e| Error::Conflict {
            resource: self.name.to_string(),
            problem: format!("the outputs of `{}` cannot be read ({e})", handle.name()),
        })
    }
}
