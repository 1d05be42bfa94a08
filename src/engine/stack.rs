//! A stack: named resources with dependencies, deployed in order over one state file.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    marker::PhantomData,
    path::PathBuf,
    sync::Arc,
};

use async_trait::async_trait;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{
    plan::{Action, Change, Plan},
    resource::{Context, Resource},
    state::{JsonText, LiveState, ResourceRecord, StateStore, Status},
};
use crate::{
    aws::{self, Account},
    error::{Error, Result},
    ids::{AccountId, Region},
};

/// A typed reference to a resource added to a stack: read its outputs after deploy with
/// [`Stack::outputs`], or name it as a dependency of another resource.
pub struct Handle<R> {
    /// Shared with the stack's entry and every dependent's options: a batch names each
    /// resource many times, and a clone is a pointer.
    name: Arc<str>,
    _resource: PhantomData<fn() -> R>,
}

impl<R> Handle<R> {
    /// The resource's logical name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<R> Clone for Handle<R> {
    fn clone(&self) -> Self {
        Handle {
            name: Arc::clone(&self.name),
            _resource: PhantomData,
        }
    }
}

impl<R> PartialEq for Handle<R> {
    fn eq(&self, other: &Handle<R>) -> bool {
        self.name == other.name
    }
}

impl<R> Eq for Handle<R> {}

impl<R> std::fmt::Debug for Handle<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Handle({})", self.name)
    }
}

/// How a resource sits in its stack.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Options {
    depends_on: Vec<Arc<str>>,
    retain: bool,
}

impl Options {
    /// No dependencies, not retained.
    pub fn new() -> Options {
        Options::default()
    }

    /// The names of the dependencies, as the state records them.
    fn names(&self) -> Vec<String> {
        self.depends_on.iter().map(|d| d.to_string()).collect()
    }

    /// Deploy after `handle` (and tear down before it).
    pub fn depends_on<R>(mut self, handle: &Handle<R>) -> Options {
        self.depends_on.push(Arc::clone(&handle.name));
        self
    }

    /// Leave the resource in place at teardown and stop managing it (Pulumi's
    /// `retainOnDelete`).
    pub fn retain(mut self) -> Options {
        self.retain = true;
        self
    }
}

/// A deploy's or teardown's outcome once its state is finished: whatever the outcome, the
/// file alone is the state afterwards (see [`LiveState::finish`]).
async fn finished<T>(state: &LiveState, outcome: Result<T>) -> Result<T> {
    let written = state.finish().await;
    let value = outcome?;
    written?;
    Ok(value)
}

/// Preflight checks in flight at once: they are reads, and more at once would only meet
/// AWS's rate limit (R20).
const PREFLIGHT_CONCURRENCY: usize = 32;

/// How many resources a batch (a fleet) runs at once: all of them, in practice.
const BATCH_CONCURRENCY: usize = 100_000;

/// What a deploy did: each resource's outputs, and with
/// [`keep_going`](Stack::keep_going), what failed and what was not started because of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeployReport {
    /// Outputs by resource name (the text the state holds, not a copy of it): read one with
    /// [`JsonText::parse`].
    pub outputs: BTreeMap<String, JsonText>,
    /// Resources whose deploy failed, with the error.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed: BTreeMap<String, String>,
    /// Resources not started because something they depend on failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

impl DeployReport {
    /// Whether every resource deployed.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty()
    }
}

/// What a teardown did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeardownReport {
    /// Each thing removed (or scheduled for deletion), by resource.
    pub removed: Vec<(String, String)>,
    /// Resources left in place because they are retained.
    pub kept: Vec<String>,
}

/// What a refresh found: per resource, how the live world differs from the record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Differences by resource; a resource in sync has an empty list.
    pub resources: BTreeMap<String, Vec<String>>,
}

impl DriftReport {
    /// Whether anything drifted.
    pub fn has_drift(&self) -> bool {
        self.resources.values().any(|d| !d.is_empty())
    }
}

/// The object-safe face of a [`Resource`], outputs as JSON.
#[async_trait]
trait DynResource: Send + Sync {
    fn as_any(&self) -> &dyn std::any::Any;
    fn kind(&self) -> &'static str;
    fn account(&self) -> &Account;
    fn region(&self) -> &Region;
    async fn preflight(&self, ctx: &Context) -> Result<()>;
    async fn preflight_after(&self, ctx: &Context) -> Result<()>;
    async fn plan(&self, ctx: &Context) -> Result<Change>;
    fn warnings(&self, name: &str) -> Vec<super::plan::Warning>;
    async fn deploy(&self, ctx: &Context) -> Result<JsonText>;
    async fn plan_teardown(&self, ctx: &Context) -> Result<Change>;
    async fn teardown(&self, ctx: &Context) -> Result<Vec<String>>;
    async fn refresh(&self, ctx: &Context) -> Result<Vec<String>>;
    async fn still_needs(&self, ctx: &Context, dependency: &str) -> Result<bool>;
    async fn key_to_delete(&self, ctx: &Context) -> Result<Option<super::KeyDeletion>>;
}

#[async_trait]
impl<R: Resource> DynResource for R {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn kind(&self) -> &'static str {
        Resource::kind(self)
    }
    fn account(&self) -> &Account {
        Resource::account(self)
    }
    fn region(&self) -> &Region {
        Resource::region(self)
    }
    async fn preflight(&self, ctx: &Context) -> Result<()> {
        Resource::preflight(self, ctx).await
    }
    async fn preflight_after(&self, ctx: &Context) -> Result<()> {
        Resource::preflight_after(self, ctx).await
    }
    async fn plan(&self, ctx: &Context) -> Result<Change> {
        Resource::plan(self, ctx).await
    }
    fn warnings(&self, name: &str) -> Vec<super::plan::Warning> {
        Resource::warnings(self, name)
    }
    async fn deploy(&self, ctx: &Context) -> Result<JsonText> {
        let outputs = Resource::deploy(self, ctx).await?;
        JsonText::new(&outputs).map_err(|e| Error::Conflict {
            resource: ctx.name().to_owned(),
            problem: format!("its outputs cannot be recorded ({e})"),
        })
    }
    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        Resource::plan_teardown(self, ctx).await
    }
    async fn teardown(&self, ctx: &Context) -> Result<Vec<String>> {
        Resource::teardown(self, ctx).await
    }
    async fn refresh(&self, ctx: &Context) -> Result<Vec<String>> {
        Resource::refresh(self, ctx).await
    }
    async fn still_needs(&self, ctx: &Context, dependency: &str) -> Result<bool> {
        Resource::still_needs(self, ctx, dependency).await
    }
    async fn key_to_delete(&self, ctx: &Context) -> Result<Option<super::KeyDeletion>> {
        Resource::key_to_delete(self, ctx).await
    }
}

/// Who depends on whom, by position in the definition, in two flat lists: a batch has
/// thousands of resources, and a list per resource would cost an allocation each.
struct Dependents {
    /// Where each resource's dependents start in `list`; one more entry than resources.
    start: Vec<u32>,
    list: Vec<u32>,
}

/// [`Dependents`], and how many dependencies each resource waits for.
struct Graph {
    dependents: Dependents,
    waiting: Vec<u32>,
}

impl Graph {
    /// The graph of `entries`, whose dependencies were checked to be among them when added.
    fn of(entries: &[Entry]) -> Graph {
        // Positions fit in u32: a stack of four billion resources is not a batch AWS allows.
        let index: HashMap<&str, u32> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (&*e.name, i as u32))
            .collect();
        let edges = |visit: &mut dyn FnMut(usize, usize)| {
            for (i, entry) in entries.iter().enumerate() {
                for dependency in &entry.options.depends_on {
                    if let Some(&d) = index.get(&**dependency) {
                        visit(d as usize, i);
                    }
                }
            }
        };
        // Counted first, then filled in the order of the definition, so that each list is
        // exactly as long as it needs to be.
        let mut start = vec![0u32; entries.len() + 1];
        let mut waiting = vec![0u32; entries.len()];
        edges(&mut |d, i| {
            start[d + 1] += 1;
            waiting[i] += 1;
        });
        for k in 1..start.len() {
            start[k] += start[k - 1];
        }
        let mut next: Vec<u32> = start.clone();
        let mut list = vec![0u32; start[entries.len()] as usize];
        edges(&mut |d, i| {
            list[next[d] as usize] = i as u32;
            next[d] += 1;
        });
        Graph {
            dependents: Dependents { start, list },
            waiting,
        }
    }
}

impl Dependents {
    /// The resources that depend on resource `i` directly.
    fn of(&self, i: usize) -> &[u32] {
        let (from, to) = (self.start[i] as usize, self.start[i + 1] as usize);
        &self.list[from..to]
    }
}

struct Entry {
    name: Arc<str>,
    options: Options,
    resource: Box<dyn DynResource>,
}

/// Resources deployed together, in dependency order, over one state file.
///
/// ```no_run
/// # async fn run(account: snapshift::aws::Account) -> snapshift::error::Result<()> {
/// use snapshift::{engine::Stack, key::ShareableKey, resources::KeyResource};
///
/// let mut stack = Stack::new("share-orders-db")?;
/// let key = ShareableKey::new().alias("orders-share").grant_account("999999999999".parse()?).build().map_err(|e| snapshift::error::Error::key("share-key", e))?;
/// let key = stack.add("share-key", KeyResource::new(&account, "us-east-1".parse()?, key)?)?;
/// println!("{}", stack.preview().await?.render());
/// stack.deploy().await?;
/// println!("{:?}", stack.outputs(&key)?);
/// stack.teardown().await?;
/// # Ok(())
/// # }
/// ```
pub struct Stack {
    name: Arc<str>,
    store: StateStore,
    concurrency: usize,
    keep_going: bool,
    entries: Vec<Entry>,
    verified: tokio::sync::Mutex<BTreeSet<AccountId>>,
    runtime: Arc<super::wait::Runtime>,
    /// A setting refused where it was given ([`Stack::wait`]): every operation answers it
    /// before any AWS call.
    refused: Option<String>,
    /// Every snapshot the stack's migrations and fleets copy, for their quota checks, which
    /// add up what all of them keep in each account (R25).
    quota_items: crate::migration::QuotaRegistry,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("name", &self.name)
            .field(
                "resources",
                &self.entries.iter().map(|e| &e.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Whether teardown leaves a resource in place: retained by its definition, or by what its
/// record says was done (deployed as retained, or pinned as the only copy of data).
fn kept_at_teardown(entry: &Entry, record: &ResourceRecord) -> bool {
    entry.options.retain || record.retain || record.pinned.is_some()
}

/// A recorded resource must still live where its definition says: a changed account or region
/// would otherwise create a second one on deploy and orphan the first on teardown.
fn check_placement(entry: &Entry, record: &ResourceRecord) -> Result<()> {
    let (account, region) = (entry.resource.account().id(), entry.resource.region());
    if record.account != account || &record.region != region || record.kind != entry.resource.kind()
    {
        return Err(Error::Conflict {
            resource: entry.name.to_string(),
            problem: format!(
                "the state records it as {} in {} {}, the definition as {} in {account} {region}; tear it down with its old definition first",
                record.kind,
                record.account,
                record.region,
                entry.resource.kind()
            ),
        });
    }
    Ok(())
}

fn check_name(what: &str, name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} name `{name}` must be 1 to 64 letters, digits, `-` or `_`"
        ))
    }
}

impl Stack {
    /// A stack named `name` (1 to 64 letters, digits, `-`, `_`), its state in
    /// `.snapshift/<name>.json`.
    pub fn new(name: &str) -> Result<Stack> {
        check_name("stack", name).map_err(|problem| Error::Definition {
            stack: name.to_owned(),
            problem,
        })?;
        Ok(Stack {
            name: Arc::from(name),
            store: StateStore::new(".snapshift"),
            concurrency: 4,
            keep_going: false,
            entries: Vec::new(),
            verified: tokio::sync::Mutex::new(BTreeSet::new()),
            runtime: Arc::new(super::wait::Runtime::new(
                super::wait::WaitConfig::default(),
                Arc::new(super::wait::TracingProgress),
            )),
            refused: None,
            quota_items: crate::migration::QuotaRegistry::default(),
        })
    }

    /// Where the stack's migrations and fleets list the snapshots they copy (R25).
    pub(crate) fn quota_registry(&self) -> crate::migration::QuotaRegistry {
        self.quota_items.clone()
    }

    /// Keeps the state file in `dir` instead of `.snapshift`.
    #[must_use]
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Stack {
        self.store = StateStore::new(dir);
        self
    }

    /// How many independent resources deploy at once (default 4, at least 1).
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Stack {
        self.concurrency = n.max(1);
        self
    }

    /// Whether a failed resource lets the others go on (default no). With it, deploy starts
    /// everything that does not depend on a failed resource, and then answers
    /// [`Error::Incomplete`] with the report of what deployed, what failed and what was
    /// skipped; a re-run retries only what is not done. For batches, where one snapshot's
    /// problem must not stop fifty others.
    #[must_use]
    pub fn keep_going(mut self, on: bool) -> Stack {
        self.keep_going = on;
        self
    }

    /// How long and how often to wait for slow work, and the copy quota (R5, R19, R20).
    /// A config that [`WaitConfig::check`](super::wait::WaitConfig::check) refuses is not
    /// used: every operation of the stack then answers [`Error::Definition`] naming the
    /// field, before any AWS call.
    #[must_use]
    pub fn wait(mut self, config: super::wait::WaitConfig) -> Stack {
        if let Err(problem) = config.check() {
            self.refused = Some(problem);
            return self;
        }
        self.runtime = Arc::new(super::wait::Runtime::new(
            config,
            Arc::clone(&self.runtime.progress),
        ));
        self
    }

    /// Where progress events go (default: `tracing` at info level).
    #[must_use]
    pub fn progress(mut self, progress: Arc<dyn super::wait::Progress>) -> Stack {
        self.runtime = Arc::new(super::wait::Runtime::new(self.runtime.config, progress));
        self
    }

    /// The stack's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks the name of a group of resources (a fleet, a cross-region backup), which
    /// prefixes its resources and AWS names: 1 to `max` letters, digits and hyphens. `what`
    /// says what the name is for in the message.
    pub(crate) fn check_group_name(&self, what: &str, name: &str, max: usize) -> Result<()> {
        if name.is_empty()
            || name.len() > max
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(Error::Definition {
                stack: self.name.to_string(),
                problem: format!(
                    "{what} name `{name}` must be 1 to {max} letters, digits and hyphens"
                ),
            });
        }
        Ok(())
    }

    /// A batch's settings: keep going past a failed resource, and every ready resource at
    /// once (a waiting resource costs a little memory; the copy quota and the rate limiter
    /// bound the work in AWS).
    pub(crate) fn set_batch_mode(&mut self) {
        self.keep_going = true;
        self.concurrency = self.concurrency.max(BATCH_CONCURRENCY);
    }

    /// The stack's waiting runtime (progress events, rate limiters), for work outside
    /// resources such as backup jobs.
    pub(crate) fn runtime(&self) -> &super::wait::Runtime {
        &self.runtime
    }

    /// The stack's state files, for work outside resources that records what it did.
    pub(crate) fn store(&self) -> &StateStore {
        &self.store
    }

    /// The path of the state file.
    pub fn state_path(&self) -> PathBuf {
        self.store.path(&self.name)
    }

    /// Adds a resource with no dependencies.
    pub fn add<R: Resource>(&mut self, name: &str, resource: R) -> Result<Handle<R>> {
        self.add_with(name, resource, Options::new())
    }

    /// Adds a resource with dependencies or `retain`. Dependencies are handles of resources
    /// already added, so the order of `add` calls is a valid deploy order.
    pub fn add_with<R: Resource>(
        &mut self,
        name: &str,
        resource: R,
        options: Options,
    ) -> Result<Handle<R>> {
        let definition = |problem: String| Error::Definition {
            stack: self.name.to_string(),
            problem,
        };
        check_name("resource", name).map_err(definition)?;
        if self.entries.iter().any(|e| &*e.name == name) {
            return Err(definition(format!("two resources are named `{name}`")));
        }
        if let Some(missing) = options
            .depends_on
            .iter()
            .find(|d| !self.entries.iter().any(|e| e.name == **d))
        {
            return Err(definition(format!(
                "`{name}` depends on `{missing}`, which is not in this stack"
            )));
        }
        let name: Arc<str> = Arc::from(name);
        self.entries.push(Entry {
            name: Arc::clone(&name),
            options,
            resource: Box::new(resource),
        });
        Ok(Handle {
            name,
            _resource: PhantomData,
        })
    }

    /// Makes room for `additional` more resources at once: a batch that knows its size
    /// holds no spare room for more (the list would otherwise double as it grows).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.entries.reserve_exact(additional);
    }

    /// The resource a handle names, as it was added.
    pub fn resource<R: Resource>(&self, handle: &Handle<R>) -> Option<&R> {
        self.entries
            .iter()
            .find(|e| e.name == handle.name)
            .and_then(|e| e.resource.as_any().downcast_ref::<R>())
    }

    fn context(&self, name: &Arc<str>, state: &Arc<LiveState>) -> Context {
        Context {
            stack: Arc::clone(&self.name),
            name: Arc::clone(name),
            state: Arc::clone(state),
            runtime: Arc::clone(&self.runtime),
        }
    }

    /// A setting refused where it was given, as the error every operation answers.
    fn check_definition(&self) -> Result<()> {
        match &self.refused {
            Some(problem) => Err(Error::Definition {
                stack: self.name.to_string(),
                problem: format!("{problem}. Nothing was changed"),
            }),
            None => Ok(()),
        }
    }

    /// Confirms with STS that each account's credentials belong to the declared account, once
    /// per stack. A mismatch stops everything before any change. A refused setting stops it
    /// first.
    async fn verify_accounts(&self) -> Result<()> {
        self.check_definition()?;
        let mut verified = self.verified.lock().await;
        for entry in &self.entries {
            let account = entry.resource.account();
            // Every call of this stack in this account is paced (R20), and waits out eventual
            // consistency after the stack's changes as its WaitConfig says (R26).
            account.pace_calls(self.runtime.config().calls_per_second);
            account.settle_with(self.runtime.config().settling());
            if verified.contains(&account.id()) {
                continue;
            }
            let who = aws::sts::caller_identity(account, entry.resource.region())
                .await
                .map_err(Error::aws_in("stack"))?;
            if who.account != account.id() {
                return Err(Error::WrongAccount {
                    declared: account.id(),
                    actual: who.account,
                    arn: who.arn,
                });
            }
            verified.insert(account.id());
        }
        Ok(())
    }

    /// What `deploy` would do, resource by resource, with warnings. Makes no change.
    pub async fn preview(&self) -> Result<Plan> {
        self.verify_accounts().await?;
        let state = Arc::new(LiveState::new(
            self.store.clone(),
            self.store.load(&self.name)?,
        ));
        let mut plan = Plan {
            stack: self.name.to_string(),
            operation: "deploy".into(),
            changes: Vec::new(),
            warnings: Vec::new(),
        };
        for entry in &self.entries {
            plan.changes.push(
                entry
                    .resource
                    .plan(&self.context(&entry.name, &state))
                    .await?,
            );
            plan.warnings.extend(entry.resource.warnings(&entry.name));
        }
        Ok(plan)
    }

    /// What `teardown` would do. Makes no change.
    pub async fn preview_teardown(&self) -> Result<Plan> {
        self.verify_accounts().await?;
        let loaded = self.store.load(&self.name)?;
        let state = Arc::new(LiveState::new(self.store.clone(), loaded.clone()));
        let mut plan = Plan {
            stack: self.name.to_string(),
            operation: "teardown".into(),
            changes: Vec::new(),
            warnings: Vec::new(),
        };
        for entry in self.entries.iter().rev() {
            let Some(record) = loaded.resources.get(&*entry.name) else {
                continue;
            };
            let change = if let Some(reason) = &record.pinned {
                Change::new(
                    &entry.name,
                    entry.resource.kind(),
                    Action::Keep,
                    format!("kept whatever the definition says: {reason}"),
                )
            } else if kept_at_teardown(entry, record) {
                Change::new(
                    &entry.name,
                    entry.resource.kind(),
                    Action::Keep,
                    "retained: left in place and no longer managed",
                )
            } else {
                entry
                    .resource
                    .plan_teardown(&self.context(&entry.name, &state))
                    .await?
            };
            plan.changes.push(change);
        }
        Ok(plan)
    }

    /// Deploys every resource, dependencies first, independent ones concurrently, saving the
    /// state after every step.
    ///
    /// # Expected flow
    /// Lock the stack → confirm each account's identity (STS) → every resource's preflight
    /// (read-only checks; a failure stops everything with nothing changed) → deploy in
    /// dependency order → record each resource's outputs.
    ///
    /// # Guarantees
    /// Idempotent: a second deploy with nothing changed makes no mutating call. Resumable: a
    /// crash at any point, then a re-run, finishes the job without duplicates (see
    /// [`Resource`]). Each resource starts as soon as its dependencies are done. A failure
    /// stops new work, and resources already started finish or save their progress; with
    /// [`keep_going`](Self::keep_going), only the failed resource's dependents stop.
    ///
    /// # Errors
    /// [`Error::State`] when another process holds the stack or the state file cannot be
    /// used; [`Error::WrongAccount`] before any change; the first resource error otherwise,
    /// or with `keep_going`, [`Error::Incomplete`] with every failure.
    pub async fn deploy(&self) -> Result<DeployReport> {
        self.check_definition()?;
        let _lock = self.store.lock(&self.name)?;
        let state = Arc::new(LiveState::new(
            self.store.clone(),
            self.store.load(&self.name)?,
        ));
        finished(&state, self.deploy_with(&state).await).await
    }

    async fn deploy_with(&self, state: &Arc<LiveState>) -> Result<DeployReport> {
        self.verify_accounts().await?;
        // Every preflight, concurrently: read-only checks before the first change. The
        // results are in the order of the definition.
        let checks: Vec<Result<()>> = futures::stream::iter(&self.entries)
            .map(|entry| {
                let state = Arc::clone(state);
                async move {
                    let ctx = self.context(&entry.name, &state);
                    self.retry_throttled(&entry.name, || entry.resource.preflight(&ctx))
                        .await
                }
            })
            .buffered(self.concurrency.min(PREFLIGHT_CONCURRENCY))
            .collect()
            .await;
        let mut report = DeployReport::default();
        // Dataflow: a resource starts as soon as everything it depends on is done (so a
        // share follows its own copy, not the slowest copy of the batch), at most
        // `concurrency` at a time, in the order of the definition. Each event costs in
        // proportion to the resources it concerns, not to the size of the stack.
        let count = self.entries.len();
        let Graph {
            dependents,
            mut waiting,
        } = Graph::of(&self.entries);
        let mut blocked = vec![false; count];
        let mut skipped = vec![false; count];
        // Marks what depends on `from`, directly or not, as skipped.
        let block_dependents = |from: usize, blocked: &mut Vec<bool>, skipped: &mut Vec<bool>| {
            let mut todo = dependents.of(from).to_vec();
            while let Some(i) = todo.pop() {
                let i = i as usize;
                if !blocked[i] {
                    blocked[i] = true;
                    skipped[i] = true;
                    todo.extend_from_slice(dependents.of(i));
                }
            }
        };
        for (i, result) in checks.into_iter().enumerate() {
            match result {
                Ok(()) => {}
                // With keep_going, a resource that fails its checks is skipped with its
                // dependents; the others go on, unless the check proves the whole deploy
                // cannot fit (R25).
                Err(e) if self.keep_going && !e.stops_deploy() => {
                    report
                        .failed
                        .insert(self.entries[i].name.to_string(), e.to_string());
                    blocked[i] = true;
                    skipped[i] = false;
                    block_dependents(i, &mut blocked, &mut skipped);
                }
                Err(e) => return Err(e),
            }
        }
        // Then the checks that need every other one's findings (the quota check, R25).
        let later: Vec<(usize, Result<()>)> =
            futures::stream::iter((0..count).filter(|&i| !blocked[i]).collect::<Vec<_>>())
                .map(|i| {
                    let state = Arc::clone(state);
                    let entry = &self.entries[i];
                    async move {
                        let ctx = self.context(&entry.name, &state);
                        let result = self
                            .retry_throttled(&entry.name, || entry.resource.preflight_after(&ctx))
                            .await;
                        (i, result)
                    }
                })
                .buffered(self.concurrency.min(PREFLIGHT_CONCURRENCY))
                .collect()
                .await;
        for (i, result) in later {
            match result {
                Ok(()) => {}
                Err(e) if self.keep_going && !e.stops_deploy() => {
                    report
                        .failed
                        .insert(self.entries[i].name.to_string(), e.to_string());
                    blocked[i] = true;
                    skipped[i] = false;
                    block_dependents(i, &mut blocked, &mut skipped);
                }
                Err(e) => return Err(e),
            }
        }
        let mut ready: BTreeSet<usize> = (0..count)
            .filter(|&i| waiting[i] == 0 && !blocked[i])
            .collect();
        let mut first_error: Option<Error> = None;
        let mut running = futures::stream::FuturesUnordered::new();
        loop {
            while first_error.is_none() && running.len() < self.concurrency {
                let Some(i) = ready.pop_first() else {
                    break;
                };
                let entry = &self.entries[i];
                let state = Arc::clone(state);
                // Under way from now until it ends, retries included: copies waiting for
                // manual-snapshot room know room may still come back (R25).
                let active = self.runtime.activity();
                running.push(async move {
                    let result = self.deploy_one(entry, &state).await;
                    drop(active);
                    (i, result)
                });
            }
            // And what is ready but waits for a place among those running.
            self.runtime.set_ready(ready.len());
            let Some((i, result)) = running.next().await else {
                break;
            };
            let name = self.entries[i].name.to_string();
            match result {
                Ok(outputs) => {
                    report.outputs.insert(name, outputs);
                    for &d in dependents.of(i) {
                        let d = d as usize;
                        waiting[d] -= 1;
                        if waiting[d] == 0 && !blocked[d] {
                            ready.insert(d);
                        }
                    }
                }
                Err(e) if self.keep_going => {
                    report.failed.insert(name, e.to_string());
                    blocked[i] = true;
                    block_dependents(i, &mut blocked, &mut skipped);
                }
                Err(e) => {
                    // Stop starting work; what runs finishes or saves its progress.
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        // In the order of the definition: what a failure kept from starting, and what never
        // became ready.
        report.skipped = (0..count)
            .filter(|&i| {
                skipped[i] || (!blocked[i] && !report.outputs.contains_key(&*self.entries[i].name))
            })
            .map(|i| self.entries[i].name.to_string())
            .collect();
        if report.is_complete() {
            Ok(report)
        } else {
            Err(Error::Incomplete {
                report: Box::new(report),
            })
        }
    }

    /// Runs an idempotent step again while AWS throttles it, or answers with a server error,
    /// past the SDK's own retries (R20), with the stack's backoff.
    async fn retry_throttled<T, F, Fut>(&self, name: &str, step: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        super::wait::again_while_throttled(
            name,
            super::wait::Backoff::new(self.runtime.config()),
            Error::is_transient,
            step,
        )
        .await
    }

    async fn deploy_one(&self, entry: &Entry, state: &Arc<LiveState>) -> Result<JsonText> {
        {
            let mut s = state.lock().await;
            if let Some(existing) = s.resources.get(&*entry.name) {
                check_placement(entry, existing)?;
            }
            let record = s
                .resources
                .entry(entry.name.to_string())
                .or_insert_with(|| ResourceRecord {
                    kind: entry.resource.kind().to_owned(),
                    account: entry.resource.account().id(),
                    region: entry.resource.region().clone(),
                    status: Status::Creating,
                    // Set below, for a new record as for one from an earlier run.
                    depends_on: Vec::new(),
                    retain: entry.options.retain,
                    pinned: None,
                    outputs: JsonText::NULL,
                    data: JsonText::NULL,
                });
            record.depends_on = entry.options.names();
            // A pinned resource (the only copy of data) stays retained whatever the
            // definition now says.
            record.retain = entry.options.retain || record.pinned.is_some();
        }
        // The record is on disk before the resource's first call, so that a crash leaves
        // nothing the state does not know of. The writes' futures are on the heap: a batch's
        // resources wait for hours in `deploy`, and would otherwise each carry one.
        Box::pin(state.commit([&*entry.name])).await?;
        // Throttling that outlasts the SDK's retries (R20) is retried here: deploy is
        // idempotent, so running it again picks up where the throttled call stopped.
        let ctx = self.context(&entry.name, state);
        let outputs = self
            .retry_throttled(&entry.name, || entry.resource.deploy(&ctx))
            .await?;
        let outputs = {
            let mut s = state.lock().await;
            // A resource that passes on what it depends on (a share gives its snapshot's
            // outputs) keeps one text for both: a batch holds thousands.
            let outputs = entry
                .options
                .depends_on
                .iter()
                .filter_map(|d| s.resources.get(&**d))
                .map(|r| &r.outputs)
                .find(|o| **o == outputs)
                .cloned()
                .unwrap_or(outputs);
            if let Some(record) = s.resources.get_mut(&*entry.name) {
                record.outputs = outputs.clone();
                record.status = Status::Deployed;
            }
            outputs
        };
        Box::pin(state.commit([&*entry.name])).await?;
        Ok(outputs)
    }

    /// Tears down what the state says this stack created, dependents first, and empties the
    /// state.
    ///
    /// # Expected flow
    /// Lock the stack → confirm each account's identity → for each resource in reverse
    /// dependency order: leave it if retained, otherwise remove what its record says it
    /// created and drop the record.
    ///
    /// # Guarantees
    /// Only what the state records is touched; retained resources stay. A resource is not torn
    /// down while another resource of the stack still needs it (R8): a retained dependent is
    /// asked ([`Resource::still_needs`]). Idempotent and resumable: "not found" is fine, and a
    /// teardown of a stack that never deployed does nothing.
    ///
    /// # Errors
    /// [`Error::StillNeeded`] (R8) when a dependent still needs a resource; the first
    /// resource error otherwise. What was removed before the error is recorded.
    pub async fn teardown(&self) -> Result<TeardownReport> {
        self.check_definition()?;
        let _lock = self.store.lock(&self.name)?;
        let loaded = self.store.load(&self.name)?;
        // Every record needs its definition (to know how to remove it), in the same place.
        for (name, record) in &loaded.resources {
            match self.entries.iter().find(|e| *e.name == **name) {
                Some(entry) => check_placement(entry, record)?,
                None => {
                    return Err(Error::Definition {
                        stack: self.name.to_string(),
                        problem: format!(
                            "the state records `{name}` ({}), which is not in this stack's definition; tear down with the definition that created it. Nothing was changed",
                            record.kind
                        ),
                    })
                }
            }
        }
        let state = Arc::new(LiveState::new(self.store.clone(), loaded));
        finished(&state, self.teardown_with(&state).await).await
    }

    async fn teardown_with(&self, state: &Arc<LiveState>) -> Result<TeardownReport> {
        self.verify_accounts().await?;
        let mut report = TeardownReport::default();
        let mut kept: Vec<&Entry> = Vec::new();
        for entry in self.entries.iter().rev() {
            let Some(record) = state.lock().await.resources.get(&*entry.name).cloned() else {
                continue;
            };
            // What was done decides what is undone: a resource deployed as retained, or
            // pinned because it holds the only copy of data, stays whatever the definition
            // now says.
            if kept_at_teardown(entry, &record) {
                kept.push(entry);
                report.kept.push(entry.name.to_string());
                continue;
            }
            // Dependents by the definition and by the state (which recorded them at deploy).
            let recorded: Vec<String> = state
                .lock()
                .await
                .resources
                .iter()
                .filter(|(_, r)| r.depends_on.iter().any(|d| *d == *entry.name))
                .map(|(n, _)| n.clone())
                .collect();
            let dependents = self.entries.iter().filter(|d| {
                d.options.depends_on.contains(&entry.name) || recorded.iter().any(|r| *r == *d.name)
            });
            for dependent in dependents {
                let dependent_record = state.lock().await.resources.get(&*dependent.name).cloned();
                let Some(dependent_record) = dependent_record else {
                    continue;
                };
                let needs = !kept_at_teardown(dependent, &dependent_record)
                    || dependent
                        .resource
                        .still_needs(&self.context(&dependent.name, state), &entry.name)
                        .await?;
                if needs {
                    return Err(Error::StillNeeded {
                        resource: entry.name.to_string(),
                        dependent: dependent.name.to_string(),
                    });
                }
            }
            let ctx = self.context(&entry.name, state);
            // R8: no key is scheduled for deletion while anything is encrypted under it, made
            // by this stack or not.
            self.retry_throttled(&entry.name, || self.check_key_unused(entry, &ctx))
                .await?;
            // As in deploy: throttling that outlasts the SDK's retries runs the (idempotent)
            // teardown again (R20).
            let removed = self
                .retry_throttled(&entry.name, || entry.resource.teardown(&ctx))
                .await?;
            report
                .removed
                .extend(removed.into_iter().map(|r| (entry.name.to_string(), r)));
            state.lock().await.resources.remove(&*entry.name);
            state.commit([&*entry.name]).await?;
        }
        {
            let mut s = state.lock().await;
            for entry in &kept {
                s.resources.remove(&*entry.name);
            }
            // What the stack's jobs restored is the user's: never deleted, and said so.
            report.kept.extend(
                s.actions
                    .values()
                    .filter(|a| a.kind == "restore" && a.status == super::state::ActionStatus::Done)
                    .filter_map(|a| a.result.as_ref())
                    .map(|arn| format!("{arn} (restored from backup; never deleted)")),
            );
        }
        state.commit(kept.iter().map(|e| &*e.name)).await?;
        Ok(report)
    }

    /// Refuses ([`Error::KeyInUse`], R8) when the key `entry`'s teardown would schedule for
    /// deletion still encrypts something: in any account of the stack, in the key's regions.
    async fn check_key_unused(&self, entry: &Entry, ctx: &Context) -> Result<()> {
        let Some(deletion) = entry.resource.key_to_delete(ctx).await? else {
            return Ok(());
        };
        let mut accounts: Vec<&Account> = Vec::new();
        for e in &self.entries {
            let account = e.resource.account();
            if !accounts.iter().any(|a| a.id() == account.id()) {
                accounts.push(account);
            }
        }
        let users = super::guard::encrypted_under(
            &accounts,
            &deletion.regions,
            deletion.account,
            &deletion.key_id,
        )
        .await
        .map_err(Error::aws_in(&entry.name))?;
        if users.is_empty() {
            Ok(())
        } else {
            Err(Error::KeyInUse {
                resource: entry.name.to_string(),
                key: deletion.arn,
                users,
            })
        }
    }

    /// Reads every deployed resource and reports how it differs from its record. Makes no
    /// change.
    pub async fn refresh(&self) -> Result<DriftReport> {
        self.verify_accounts().await?;
        let loaded = self.store.load(&self.name)?;
        let state = Arc::new(LiveState::new(self.store.clone(), loaded.clone()));
        let mut report = DriftReport::default();
        for entry in self
            .entries
            .iter()
            .filter(|e| loaded.resources.contains_key(&*e.name))
        {
            let drift = entry
                .resource
                .refresh(&self.context(&entry.name, &state))
                .await?;
            report.resources.insert(entry.name.to_string(), drift);
        }
        Ok(report)
    }

    /// The outputs of a deployed resource, from the state file; `None` before deploy.
    pub fn outputs<R: Resource>(&self, handle: &Handle<R>) -> Result<Option<R::Outputs>> {
        let state = self.store.load(&self.name)?;
        match state
            .resources
            .get(handle.name())
            .filter(|r| !r.outputs.is_null())
        {
            None => Ok(None),
            Some(record) => record
                .outputs
                .parse()
                .map(Some)
                .map_err(|e| Error::Conflict {
                    resource: handle.name().to_owned(),
                    problem: format!("its outputs in the state file cannot be read ({e})"),
                }),
        }
    }
}
