//! Fleet migration: every snapshot a selector matches, from one source account to one or more
//! target accounts, as one stack: one shareable key per source region, one preview, one
//! progress view and one teardown (R1 to R10, scheduled within R19 to R21).
//!
//! ```no_run
//! # async fn run(source: snapshift::aws::Account, b: snapshift::aws::Account, c: snapshift::aws::Account) -> snapshift::error::Result<()> {
//! use snapshift::{engine::Stack, fleet::FleetMigration};
//!
//! let fleet = FleetMigration::new(&source, "ap-northeast-1".parse()?)
//!     .latest_of_cluster("orders".parse()?)
//!     .latest_of_cluster("billing".parse()?)
//!     .tagged("migrate", "2026-q4")
//!     .to(&b)
//!     .to(&c)
//!     .resolve()
//!     .await?;
//! let mut stack = Stack::new("consolidation")?;
//! let handles = stack.add_fleet("move", fleet)?;
//! println!("{}", stack.preview().await?.render());
//! let report = match stack.deploy().await {
//!     Ok(report) => report,
//!     Err(snapshift::error::Error::Incomplete { report }) => *report,
//!     Err(e) => return Err(e),
//! };
//! for outcome in handles.outcomes(&report)? {
//!     println!("{outcome}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # How it runs
//! - Snapshots are resolved once, read-only ([`FleetMigration::resolve`]), and ordered largest
//!   first, so that the long copies start early and the batch ends on short ones.
//! - Per snapshot: a re-encrypting copy under the region's shareable key when AWS requires one
//!   (R1 to R3), a share with each target (R6), and a copy in each target (R7). A share starts
//!   as soon as its own snapshot's copy is done, not after the whole batch.
//! - Within the manual-snapshot quotas (R25): a check first in the plan reads the quota of
//!   the source and of every target (`DescribeAccountAttributes`) and stops the deploy
//!   before its first change when a target cannot hold the copies it keeps, or the source
//!   cannot hold one intermediate copy per copy slot beyond its margin
//!   ([`WaitConfig::manual_snapshot_margin`](crate::engine::WaitConfig)). The intermediate
//!   copies alive at once stay within `Max - Used - margin`, and each one is released as it
//!   goes: a release resource per snapshot removes its shares and deletes it as soon as
//!   every target holds its own copy, so a fleet of any size fits the default quota of 100.
//!   The shareable key is scheduled for deletion only at teardown (R8).
//! - The stack keeps going: a snapshot that fails (R22, say) does not stop the others;
//!   [`FleetHandles::outcomes`] lists each one, and a re-run retries only what is not done.
//! - Copies are scheduled within AWS's limits: at most the quota in flight per account and
//!   destination region (R19, lowered when AWS refuses), copies of one source one at a time
//!   (a snapshot's copy into an account with room goes before its copy into a full one), the
//!   biggest snapshots first after the smallest (which teaches the copy speed, polled closely
//!   while ten others or more wait for it), one rate limiter per account and region, polls planned
//!   from each snapshot's size (R20, R21). A started copy keeps its slot until it is done,
//!   throttled follow-up calls included, so AWS never counts more copies than snapshift.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    aws::{rds::Rds, Account},
    engine::{DeployReport, Handle, Options, Stack},
    error::{Error, Result},
    ids::{AccountId, ClusterId, InstanceId, Region, SnapshotKind, SnapshotRef},
    key::ShareableKey,
    migration::{
        derived_id, KeyAccess, QuotaCheck, QuotaItem, Release, Share, SnapshotOutputs, SourceCopy,
        TargetCopy, TargetKey,
    },
    resources::KeyResource,
};

/// What a fleet migration moves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    /// One snapshot.
    Snapshot(SnapshotRef),
    /// The newest available snapshot of a cluster or instance.
    Latest(SnapshotKind, String),
    /// Every manual snapshot (DB and cluster) with this tag.
    Tagged(String, String),
}

/// Many snapshots from one account to one or more accounts: build it, [`resolve`] it, then
/// add it to a stack with [`Stack::add_fleet`].
///
/// [`resolve`]: FleetMigration::resolve
#[derive(Debug, Clone)]
#[must_use]
pub struct FleetMigration {
    source: Account,
    region: Region,
    selectors: Vec<Selector>,
    targets: Vec<Account>,
    target_key: TargetKey,
    copy_tags: bool,
}

impl FleetMigration {
    /// A fleet migration out of `source`; snapshots named without an ARN, and the selectors,
    /// are looked up in `region`.
    pub fn new(source: &Account, region: Region) -> FleetMigration {
        FleetMigration {
            source: source.clone(),
            region,
            selectors: Vec::new(),
            targets: Vec::new(),
            target_key: TargetKey::AwsManaged,
            copy_tags: true,
        }
    }

    /// Adds one snapshot (an ARN may name another region of the source account).
    pub fn snapshot(mut self, snapshot: SnapshotRef) -> FleetMigration {
        self.selectors.push(Selector::Snapshot(snapshot));
        self
    }

    /// Adds snapshots.
    pub fn snapshots(mut self, snapshots: impl IntoIterator<Item = SnapshotRef>) -> FleetMigration {
        self.selectors
            .extend(snapshots.into_iter().map(Selector::Snapshot));
        self
    }

    /// Adds the newest available snapshot (manual or automated) of a cluster.
    pub fn latest_of_cluster(mut self, cluster: ClusterId) -> FleetMigration {
        self.selectors.push(Selector::Latest(
            SnapshotKind::Cluster,
            cluster.as_str().to_owned(),
        ));
        self
    }

    /// Adds the newest available snapshot (manual or automated) of a DB instance.
    pub fn latest_of_instance(mut self, instance: InstanceId) -> FleetMigration {
        self.selectors.push(Selector::Latest(
            SnapshotKind::Db,
            instance.as_str().to_owned(),
        ));
        self
    }

    /// Adds every available manual snapshot, DB and cluster, tagged `key` = `value`.
    pub fn tagged(mut self, key: &str, value: &str) -> FleetMigration {
        self.selectors
            .push(Selector::Tagged(key.to_owned(), value.to_owned()));
        self
    }

    /// Adds a target account.
    pub fn to(mut self, target: &Account) -> FleetMigration {
        self.targets.push(target.clone());
        self
    }

    /// The key of the copies in the targets (default `alias/aws/rds` of each target, R7).
    pub fn target_key(mut self, key: TargetKey) -> FleetMigration {
        self.target_key = key;
        self
    }

    /// Whether copies carry the source's tags (default yes; `aws:` tags make such a copy
    /// fail, R22).
    pub fn copy_tags(mut self, copy: bool) -> FleetMigration {
        self.copy_tags = copy;
        self
    }

    /// Looks the selectors up (read-only: `Describe*` and tag reads) and returns the
    /// snapshots to move, each once, largest first. Checks before anything else: at least
    /// one target, no target that is the source, at most 20 targets (R6).
    pub async fn resolve(self) -> Result<ResolvedFleet> {
        let invalid = |problem: String| Error::Definition {
            stack: "fleet".into(),
            problem,
        };
        if self.targets.is_empty() {
            return Err(invalid(
                "name at least one target account with .to(&account)".into(),
            ));
        }
        let mut seen_targets = BTreeSet::new();
        for t in &self.targets {
            if t.id() == self.source.id() {
                return Err(invalid(format!(
                    "the target account {} is the source account",
                    t.id()
                )));
            }
            if !seen_targets.insert(t.id()) {
                return Err(invalid(format!(
                    "the target account {} is named twice",
                    t.id()
                )));
            }
        }
        if self.targets.len() > crate::rules::limits::MAX_SHARED_ACCOUNTS {
            return Err(invalid(format!(
                "{} target accounts: a snapshot can be shared with at most {} (R6)",
                self.targets.len(),
                crate::rules::limits::MAX_SHARED_ACCOUNTS
            )));
        }
        let rds = Rds::new(&self.source, &self.region);
        let aws = |e| Error::aws_in("fleet")(e);
        let mut found: BTreeMap<String, FleetSnapshot> = BTreeMap::new();
        for selector in &self.selectors {
            match selector {
                Selector::Snapshot(reference) => {
                    if let Some(account) = reference.account() {
                        if account != self.source.id() {
                            return Err(invalid(format!(
                                "{reference} belongs to account {account}, not to the source account {}",
                                self.source.id()
                            )));
                        }
                    }
                    let region = reference.region().unwrap_or(&self.region).clone();
                    let there = Rds::new(&self.source, &region);
                    let info =
                        read(|| there.describe_snapshot(reference.kind(), reference.id().as_str()))
                            .await
                            .map_err(aws)?
                            .ok_or_else(|| {
                                invalid(format!("snapshot {reference} does not exist in {region}"))
                            })?;
                    found.insert(info.arn.clone(), FleetSnapshot::from_info(&info, region)?);
                }
                Selector::Latest(kind, source) => {
                    let mut candidates: Vec<_> = read(|| rds.list_snapshots(*kind, Some(source)))
                        .await
                        .map_err(aws)?
                        .into_iter()
                        .filter(|s| s.is_available() && s.snapshot_type != "awsbackup")
                        .collect();
                    // Newest first; snapshift's own copies (an intermediate copy keeps the
                    // cluster's id and is newer) are never a fleet's source.
                    candidates.sort_by(|a, b| {
                        (b.created, &b.identifier).cmp(&(a.created, &a.identifier))
                    });
                    let mut newest = None;
                    for candidate in candidates {
                        let tags = read(|| rds.tags(&candidate.arn)).await.map_err(aws)?;
                        if !made_by_snapshift(&tags) {
                            newest = Some(candidate);
                            break;
                        }
                    }
                    let newest = newest.ok_or_else(|| {
                        invalid(format!(
                            "{source} has no available snapshot in {} (snapshift's own copies do not count)",
                            self.region
                        ))
                    })?;
                    found.insert(
                        newest.arn.clone(),
                        FleetSnapshot::from_info(&newest, self.region.clone())?,
                    );
                }
                Selector::Tagged(key, value) => {
                    for kind in [SnapshotKind::Cluster, SnapshotKind::Db] {
                        for info in read(|| rds.list_snapshots(kind, None)).await.map_err(aws)? {
                            if info.snapshot_type != "manual" || !info.is_available() {
                                continue;
                            }
                            let tags = read(|| rds.tags(&info.arn)).await.map_err(aws)?;
                            // A copy snapshift made carries the selector's tag too (copy_tags):
                            // it is never a source.
                            if tags.iter().any(|(k, v)| k == key && v == value)
                                && !made_by_snapshift(&tags)
                            {
                                found.insert(
                                    info.arn.clone(),
                                    FleetSnapshot::from_info(&info, self.region.clone())?,
                                );
                            }
                        }
                    }
                }
            }
        }
        let mut snapshots: Vec<FleetSnapshot> = found.into_values().collect();
        // Largest first: the long copies start early and the batch ends on short ones.
        snapshots.sort_by(FleetSnapshot::biggest_first);
        Ok(ResolvedFleet {
            source: self.source,
            region: self.region,
            targets: self.targets,
            target_key: self.target_key,
            copy_tags: self.copy_tags,
            snapshots,
        })
    }
}

/// Whether a snapshot's tags say snapshift made it (any `snapshift:` tag, which users cannot
/// set through snapshift, R22).
fn made_by_snapshift(tags: &[(String, String)]) -> bool {
    tags.iter().any(|(k, _)| k.starts_with("snapshift:"))
}

/// A snapshot a fleet moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSnapshot {
    /// The snapshot, by ARN.
    pub reference: SnapshotRef,
    /// Its ARN.
    pub arn: String,
    /// Its region.
    pub region: Region,
    /// Its size in GiB (a re-encrypting copy's time grows with it, R21).
    pub size_gb: u32,
}

impl FleetSnapshot {
    /// The order a fleet lists its snapshots in: biggest first (the long poles of a batch),
    /// then by ARN.
    fn biggest_first(a: &FleetSnapshot, b: &FleetSnapshot) -> std::cmp::Ordering {
        b.size_gb.cmp(&a.size_gb).then(a.arn.cmp(&b.arn))
    }

    fn from_info(info: &crate::aws::rds::SnapshotInfo, region: Region) -> Result<FleetSnapshot> {
        Ok(FleetSnapshot {
            reference: info.arn.parse()?,
            arn: info.arn.clone(),
            region,
            size_gb: u32::try_from(info.allocated_gb).unwrap_or(0),
        })
    }
}

/// The snapshots a fleet migration moves, looked up: add it to a stack with
/// [`Stack::add_fleet`].
#[derive(Debug, Clone)]
pub struct ResolvedFleet {
    source: Account,
    region: Region,
    targets: Vec<Account>,
    target_key: TargetKey,
    copy_tags: bool,
    snapshots: Vec<FleetSnapshot>,
}

impl ResolvedFleet {
    /// The snapshots, largest first.
    pub fn snapshots(&self) -> &[FleetSnapshot] {
        &self.snapshots
    }
}

/// One snapshot's resources in the stack.
#[derive(Debug, Clone)]
pub struct FleetItem {
    /// The source snapshot.
    pub source: FleetSnapshot,
    /// The copy under the shareable key (or the source itself, when it can be shared as it
    /// is).
    pub copy: Handle<SourceCopy>,
    /// Per target: the share and the copy in the target.
    pub targets: Vec<(AccountId, Handle<Share>, Handle<TargetCopy>)>,
    /// The release of the shares and the copy once every target holds its own (R25).
    pub release: Handle<Release>,
}

/// The resources of a fleet migration.
#[derive(Debug, Clone)]
pub struct FleetHandles {
    /// The quota preflight (R25), first in the plan.
    pub quota: Handle<QuotaCheck>,
    /// The shareable key of each source region.
    pub keys: BTreeMap<Region, Handle<KeyResource>>,
    /// The check, per source region and target, that the target may use that region's key
    /// (R31).
    pub access: BTreeMap<(Region, AccountId), Handle<KeyAccess>>,
    /// One item per snapshot.
    pub items: Vec<FleetItem>,
}

/// What happened to one snapshot for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The source snapshot's ARN.
    pub source: String,
    /// The target account.
    pub target: AccountId,
    /// How it ended.
    pub status: OutcomeStatus,
}

/// How a snapshot's migration to one target ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutcomeStatus {
    /// The copy is in the target: its ARN.
    Done(String),
    /// One of its own steps failed (the copy, the share, the target copy): that resource and
    /// its error.
    Failed(String, String),
    /// Not attempted because a resource it depends on failed (the shareable key, say): that
    /// resource and its error.
    HeldBack(String, String),
    /// Not attempted, because the deploy stopped.
    NotDone,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.status {
            OutcomeStatus::Done(arn) => write!(f, "done     {} -> {}", self.source, arn),
            OutcomeStatus::Failed(_, error) => {
                write!(f, "failed   {} -> {}: {error}", self.source, self.target)
            }
            OutcomeStatus::HeldBack(resource, error) => write!(
                f,
                "not done {} -> {}: held back by {resource}, which failed: {error}",
                self.source, self.target
            ),
            OutcomeStatus::NotDone => {
                write!(
                    f,
                    "not done {} -> {}: the deploy stopped before it",
                    self.source, self.target
                )
            }
        }
    }
}

impl FleetHandles {
    /// Each snapshot's outcome for each target, from a deploy's report (a deploy reports the
    /// outputs of every resource in place, made in this run or before). A snapshot that is
    /// not in place names the error that held it back: its own step's, or that of the key or
    /// access check it waited for.
    pub fn outcomes(&self, report: &DeployReport) -> Result<Vec<Outcome>> {
        let mut out = Vec::new();
        for item in &self.items {
            for (target, share, copy) in &item.targets {
                // Its own steps, in the order of the chain: the copy, the share, the target
                // copy. What it waited for (the region's key, the access checks) is below.
                let failed = [item.copy.name(), share.name(), copy.name()]
                    .into_iter()
                    .find_map(|n| report.failed.get(n).map(|e| (n.to_owned(), e.clone())));
                let done = report
                    .outputs
                    .get(copy.name())
                    .map(|v| v.parse::<SnapshotOutputs>())
                    .transpose()
                    .map_err(|e| Error::Conflict {
                        resource: copy.name().to_owned(),
                        problem: format!("its outputs cannot be read ({e})"),
                    })?;
                // What it depends on beyond its own steps: the key of its region and the
                // checks that the targets may use it.
                let held_back = || {
                    let key = self.keys.get(&item.source.region).map(Handle::name);
                    let checks = self
                        .access
                        .iter()
                        .filter(|((region, _), _)| *region == item.source.region)
                        .map(|(_, check)| check.name());
                    key.into_iter()
                        .chain(checks)
                        .find_map(|name| report.failed.get(name).map(|e| (name, e)))
                        .map(|(name, e)| OutcomeStatus::HeldBack(name.to_owned(), e.clone()))
                };
                let status = match (done, failed) {
                    (Some(SnapshotOutputs { arn, .. }), _) => OutcomeStatus::Done(arn),
                    (None, Some((resource, error))) => OutcomeStatus::Failed(resource, error),
                    (None, None) => held_back().unwrap_or(OutcomeStatus::NotDone),
                };
                out.push(Outcome {
                    source: item.source.arn.clone(),
                    target: *target,
                    status,
                });
            }
        }
        Ok(out)
    }
}

/// A resource name for a snapshot: readable, unique, at most 40 characters.
fn item_name(name: &str, snapshot: &FleetSnapshot) -> String {
    // FNV-1a: stable across runs and platforms (the name is in the state file).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in snapshot.arn.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let readable: String = snapshot
        .reference
        .id()
        .as_str()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(20)
        .collect();
    format!(
        "{name}-{}-{:06x}",
        readable.trim_end_matches('-'),
        hash & 0xff_ffff
    )
}

impl Stack {
    /// Adds a fleet migration under `name` (at most 12 letters, digits and hyphens): the quota
    /// check `<name>-quota` (R25), a shareable key per source region granting every target,
    /// and per snapshot a copy, a share and a copy in each target (kept at teardown), and a
    /// release of the shares and the copy once every target holds its own (R25). The stack keeps going when one
    /// snapshot fails ([`Stack::keep_going`]), and runs every ready resource at once: the copy
    /// quota and the rate limiter, not the stack, bound the work in AWS.
    pub fn add_fleet(&mut self, name: &str, fleet: ResolvedFleet) -> Result<FleetHandles> {
        self.check_group_name("fleet", name, 12)?;
        if let Some(key) = fleet.target_key.stack_key() {
            return Err(Error::Definition {
                stack: self.name().to_owned(),
                problem: format!(
                    "fleet `{name}`: a fleet's target key is named by alias or ARN in each target account, not by a key resource (`{}`) of one account",
                    key.name()
                ),
            });
        }
        self.set_batch_mode();
        // R25: the quotas are read and checked before anything else, and said first.
        let check = QuotaCheck::new(
            &fleet.source,
            fleet.region.clone(),
            &fleet.targets,
            true,
            self.quota_registry(),
        );
        let cover = check.cover();
        let quota = self.add(&format!("{name}-quota"), check)?;
        let mut keys: BTreeMap<Region, Handle<KeyResource>> = BTreeMap::new();
        let mut checks: BTreeMap<Region, Vec<Handle<KeyAccess>>> = BTreeMap::new();
        let mut access: BTreeMap<(Region, AccountId), Handle<KeyAccess>> = BTreeMap::new();
        for region in fleet
            .snapshots
            .iter()
            .map(|s| s.region.clone())
            .collect::<BTreeSet<_>>()
        {
            let mut key = ShareableKey::new()
                .alias(format!("{name}-{}-share", self.name()))
                .description(format!(
                    "snapshift: shareable key of fleet {name} in stack {}",
                    self.name()
                ));
            for target in &fleet.targets {
                key = key.grant_account(target.id());
            }
            let key = key.build().map_err(|e| Error::key(name, e))?;
            let handle = self.add(
                &format!("{name}-key-{region}"),
                KeyResource::new(&fleet.source, region.clone(), key)?,
            )?;
            // R31: each target's own IAM is checked once per key, before any copy starts.
            for target in &fleet.targets {
                let check = self.add_with(
                    &format!("{name}-access-{region}-{}", target.id()),
                    KeyAccess::new(target, region.clone(), handle.clone()),
                    Options::new().depends_on(&handle),
                )?;
                checks
                    .entry(region.clone())
                    .or_default()
                    .push(check.clone());
                access.insert((region.clone(), target.id()), check);
            }
            keys.insert(region, handle);
        }
        let target_ids: Vec<AccountId> = fleet.targets.iter().map(Account::id).collect();
        let target_key: std::sync::Arc<str> = fleet.target_key.reference().into();
        // Per snapshot a copy, and a share and a copy per target.
        let count = fleet.snapshots.len();
        self.reserve(count.saturating_mul(2 + 2 * fleet.targets.len()));
        let mut items = Vec::with_capacity(count);
        let mut counted = Vec::with_capacity(count);
        // Biggest first (the long poles of the batch), except the smallest, which goes first
        // of all: done in a minute or so, it teaches the copy speed that plans the polls of
        // the big copies running meanwhile (R21).
        let order = count
            .checked_sub(1)
            .into_iter()
            .chain(0..count.saturating_sub(1));
        for i in order {
            let Some(snapshot) = fleet.snapshots.get(i) else {
                continue;
            };
            let base = item_name(name, snapshot);
            let kind = snapshot.reference.kind();
            let Some(key) = keys.get(&snapshot.region).cloned() else {
                continue;
            };
            let copy_id = derived_id(snapshot.reference.id(), &format!("-{name}-share"), kind)?;
            let source_copy = SourceCopy::new(
                &fleet.source,
                snapshot.region.clone(),
                snapshot.reference.clone(),
                key.clone(),
                target_ids.clone(),
                copy_id,
                fleet.copy_tags,
            )
            .releasing(true);
            let flags = source_copy.flags();
            let copy = self.add_with(
                &format!("{base}-copy"),
                source_copy,
                checks
                    .get(&snapshot.region)
                    .into_iter()
                    .flatten()
                    .fold(Options::new().depends_on(&key), |o, c| o.depends_on(c)),
            )?;
            let mut targets = Vec::with_capacity(fleet.targets.len());
            let mut made = Vec::with_capacity(fleet.targets.len());
            // AWS copies one source's copies one after another (R19): alternate which target
            // goes first, so that the targets' quotas fill evenly.
            let rotated: Vec<&Account> = fleet
                .targets
                .iter()
                .cycle()
                .skip(i % fleet.targets.len().max(1))
                .take(fleet.targets.len())
                .collect();
            for target in rotated {
                let share = self.add_with(
                    &format!("{base}-share-{}", target.id()),
                    Share::new(
                        &fleet.source,
                        snapshot.region.clone(),
                        kind,
                        copy.clone(),
                        target.id(),
                    ),
                    Options::new().depends_on(&copy),
                )?;
                let resource = TargetCopy::new(
                    target,
                    snapshot.region.clone(),
                    kind,
                    share.clone(),
                    derived_id(snapshot.reference.id(), "", kind)?,
                    std::sync::Arc::clone(&target_key),
                    fleet.copy_tags,
                    None,
                );
                made.push(resource.will_make());
                let target_copy = self.add_with(
                    &format!("{base}-to-{}", target.id()),
                    resource,
                    Options::new().depends_on(&share).retain(),
                )?;
                targets.push((target.id(), share, target_copy));
            }
            // R25: the shares and the copy go as soon as every target holds its own copy.
            let release = self.add_with(
                &format!("{base}-release"),
                Release::new(
                    &fleet.source,
                    snapshot.region.clone(),
                    kind,
                    copy.clone(),
                    targets
                        .iter()
                        .map(|(account, share, _)| (*account, share.clone()))
                        .collect(),
                    targets.iter().map(|(_, _, c)| c.clone()).collect(),
                ),
                targets
                    .iter()
                    .fold(Options::new(), |o, (_, _, c)| o.depends_on(c)),
            )?;
            counted.push(QuotaItem {
                source: fleet.source.id(),
                region: snapshot.region.clone(),
                kind,
                copy: copy.clone(),
                flags,
                targets: targets
                    .iter()
                    .zip(made)
                    .map(|((account, _, c), made)| (*account, c.clone(), made))
                    .collect(),
            });
            items.push(FleetItem {
                source: snapshot.clone(),
                copy,
                targets,
                release,
            });
        }
        // Listed biggest first, as resolved.
        items.sort_by(|a, b| FleetSnapshot::biggest_first(&a.source, &b.source));
        // Set once, before any deploy: the check was added first, so that it is said first.
        cover(counted);
        Ok(FleetHandles {
            quota,
            keys,
            access,
            items,
        })
    }
}

/// A read throttled past the SDK's retries is made again with backoff (R20): a batch reads
/// many snapshots at once, and one throttled read should not stop it.
async fn read<T, F, Fut>(call: F) -> Result<T, crate::aws::AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, crate::aws::AwsError>>,
{
    let pauses = crate::engine::WaitConfig {
        initial_interval: std::time::Duration::from_millis(500),
        max_interval: std::time::Duration::from_secs(30),
        ..crate::engine::WaitConfig::default()
    };
    crate::engine::wait::again_while_throttled(
        "fleet",
        crate::engine::wait::Backoff::new(&pauses),
        crate::aws::AwsError::is_transient,
        call,
    )
    .await
}
