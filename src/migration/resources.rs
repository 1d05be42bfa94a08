//! The resources of a migration: the re-encrypting copy in the source account, the share, the
//! copy in the target account, the restore, and the same-account re-encryption.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{copy_reason, RestoreSpec};
use crate::{
    aws::{
        kms::Kms,
        rds::{CopyRequest, ManualQuota, Rds, RestoreRequest, SnapshotInfo},
        Account, AwsError,
    },
    engine::{
        wait::{again_while_throttled, Backoff, ExpectedCopy, RoomPermit},
        Action, Change, Context, Handle, ProgressEvent, Resource,
    },
    error::{Error, Result},
    ids::{AccountId, Region, SnapshotId, SnapshotKind, SnapshotRef},
    key::ShareableKey,
    policy::PolicyDocument,
    quota::{QuotaRole, QuotaShortfall},
    resources::KeyResource,
    rules::Rule,
    share::ShareList,
};

/// The copy operation of a snapshot kind, as plans name it.
fn copy_op(kind: SnapshotKind) -> &'static str {
    match kind {
        SnapshotKind::Cluster => "CopyDBClusterSnapshot",
        SnapshotKind::Db => "CopyDBSnapshot",
    }
}

/// The share operation of a snapshot kind, as plans name it.
fn share_op(kind: SnapshotKind) -> &'static str {
    match kind {
        SnapshotKind::Cluster => "ModifyDBClusterSnapshotAttribute",
        SnapshotKind::Db => "ModifyDBSnapshotAttribute",
    }
}

/// What a snapshot resource gives the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotOutputs {
    /// DB or cluster snapshot.
    pub kind: SnapshotKind,
    /// Its identifier in its own account.
    pub identifier: String,
    /// Its ARN (what another account names it by, R3).
    pub arn: String,
    /// The key that encrypts it, if any.
    pub kms_key: Option<String>,
    /// Whether snapshift made it (`false`: the source itself, shared directly).
    pub created: bool,
    /// The engine, which a restore uses.
    #[serde(default)]
    pub engine: String,
    /// Its size in GiB (copies of bigger snapshots are started first, R21).
    #[serde(default)]
    pub allocated_gb: u32,
}

impl SnapshotOutputs {
    fn from_info(info: &SnapshotInfo, identifier: &str, created: bool) -> SnapshotOutputs {
        SnapshotOutputs {
            kind: info.kind,
            identifier: identifier.to_owned(),
            arn: info.arn.clone(),
            kms_key: info.kms_key.clone(),
            created,
            engine: info.engine.clone(),
            allocated_gb: u32::try_from(info.allocated_gb).unwrap_or(0),
        }
    }
}

fn aws(ctx: &Context) -> impl FnOnce(AwsError) -> Error + '_ {
    Error::aws_in(ctx.name())
}

fn conflict(ctx: &Context, problem: String) -> Error {
    Error::Conflict {
        resource: ctx.name().to_owned(),
        problem,
    }
}

/// Whether a snapshot carries this resource's tags, i.e. this stack made it.
async fn is_ours(ctx: &Context, rds: &Rds, arn: &str) -> Result<bool> {
    let tags = rds.tags(arn).await.map_err(aws(ctx))?;
    Ok(ctx.owns(&tags))
}

/// Deletes snapshot `id` if it exists and carries this resource's tags (waiting for a copy in
/// flight to finish first; a failed one goes at once). A snapshot another stack made is left
/// in place and said so. Returns what was done.
async fn delete_own_copy(
    ctx: &Context,
    rds: &Rds,
    account: AccountId,
    kind: SnapshotKind,
    id: &str,
    label: &str,
) -> Result<Vec<String>> {
    delete_copy_of(ctx, ctx.name(), rds, account, kind, id, label)
        .await
        .map(|(lines, _)| lines)
}

/// [`delete_own_copy`] of a snapshot that `owner`, a resource of this stack, made; also
/// whether it was deleted now.
async fn delete_copy_of(
    ctx: &Context,
    owner: &str,
    rds: &Rds,
    account: AccountId,
    kind: SnapshotKind,
    id: &str,
    label: &str,
) -> Result<(Vec<String>, bool)> {
    let Some(info) = rds.describe_snapshot(kind, id).await.map_err(aws(ctx))? else {
        return Ok((Vec::new(), false));
    };
    let tags = rds.tags(&info.arn).await.map_err(aws(ctx))?;
    if !ctx.owns_as(owner, &tags) {
        return Ok((
            vec![format!(
                "{label} {id} left in place: this stack did not make it"
            )],
            false,
        ));
    }
    if !info.is_available() && !info.has_failed() {
        Box::pin(wait_available(ctx, rds, account, kind, id, None, false)).await?;
    }
    rds.delete_snapshot(kind, id).await.map_err(aws(ctx))?;
    Ok((vec![format!("{label} {id} deleted")], true))
}

/// The drift of a snapshot that should exist: a line when it does not.
async fn missing_snapshot(
    ctx: &Context,
    rds: &Rds,
    kind: SnapshotKind,
    id: &str,
) -> Result<Vec<String>> {
    Ok(
        match rds.describe_snapshot(kind, id).await.map_err(aws(ctx))? {
            None => vec![format!("{id} no longer exists in {}", rds.region())],
            Some(_) => Vec::new(),
        },
    )
}

/// Polls a snapshot until it is available (R5): capped exponential backoff, the account's
/// shared rate limiter (R20), percent and heartbeat events, and a long timeout. A status of
/// 0 % for hours is normal, not a failure; a status that cannot end well (`failed`,
/// `incompatible-*`) is.
async fn wait_available(
    ctx: &Context,
    rds: &Rds,
    account: AccountId,
    kind: SnapshotKind,
    reference: &str,
    size_gb: Option<f64>,
    learn: bool,
) -> Result<SnapshotInfo> {
    let runtime = ctx.runtime();
    let expected = size_gb.map(|gib| runtime.expected_copy_time(account, rds.region(), gib));
    let mut measured = expected.is_some_and(|expected| expected.measured);
    let mut backoff = match expected {
        Some(expected) => Backoff::for_expected(runtime.config(), expected),
        None => Backoff::new(runtime.config()),
    };
    let mut last_percent = None;
    let mut last_not_ready: Option<tokio::time::Instant> = None;
    // While planned on a guess, the copy counts among those that wait for a speed (R21).
    let mut guess = match (size_gb, measured, learn) {
        (Some(gib), false, true) => Some(runtime.guessing(rds.region(), gib)),
        _ => None,
    };
    loop {
        let asked = tokio::time::Instant::now();
        let info = match rds.describe_snapshot(kind, reference).await {
            Ok(info) => info,
            // A poll is a read: throttled, or a server error, past the SDK's retries, it is
            // asked again shortly, and the wait goes on as planned (R20).
            Err(e) if e.is_transient() && !backoff.timed_out() => {
                tokio::time::sleep(runtime.config().initial_interval).await;
                continue;
            }
            Err(e) => return Err(aws(ctx)(e)),
        }
        .ok_or_else(|| {
            conflict(
                ctx,
                format!("snapshot {reference} disappeared while snapshift waited for it"),
            )
        })?;
        if info.is_available() {
            runtime.emit(ProgressEvent::Done {
                resource: ctx.name().to_owned(),
                elapsed: backoff.elapsed(),
            });
            // The copy ended between the last poll that saw it running and this one (R21).
            match (size_gb, last_not_ready, learn) {
                (Some(gib), Some(before), true) => {
                    runtime.record_copy(
                        account,
                        rds.region(),
                        gib,
                        before.saturating_duration_since(backoff.started()),
                        asked.saturating_duration_since(backoff.started()),
                    );
                }
                // Done at the first poll: it took at most this long, which tells when the
                // speed planned from was too slow.
                (Some(gib), None, true) => {
                    runtime.record_copy_at_most(account, rds.region(), gib, backoff.elapsed());
                }
                _ => {}
            }
            return Ok(info);
        }
        last_not_ready = Some(asked);
        if info.has_failed() {
            return Err(conflict(
                ctx,
                format!("snapshot {reference} is {}: it will not become available; tear down to delete it, then deploy again", info.status),
            ));
        }
        // A copy found running (a re-run, or a throttled step run again): plan from what is
        // left of it, not from its whole size.
        if let (None, false, Some(gib), 1..=99) = (last_percent, learn, size_gb, info.percent) {
            let whole = runtime.expected_copy_time(account, rds.region(), gib);
            let left = whole.time.mul_f64(f64::from(100 - info.percent) / 100.0);
            let time = backoff.elapsed() + left;
            backoff.replan(runtime.config(), ExpectedCopy { time, ..whole });
        }
        if last_percent != Some(info.percent) {
            last_percent = Some(info.percent);
            runtime.emit(ProgressEvent::Percent {
                resource: ctx.name().to_owned(),
                percent: info.percent,
                elapsed: backoff.elapsed(),
            });
        }
        if backoff.heartbeat_due() {
            runtime.emit(ProgressEvent::Heartbeat {
                resource: ctx.name().to_owned(),
                status: info.status.clone(),
                elapsed: backoff.elapsed(),
            });
        }
        if backoff.timed_out() {
            return Err(conflict(
                ctx,
                format!(
                    "snapshot {reference} is still {} after {:?}; the copy goes on in AWS: deploy again to keep waiting (R5)",
                    info.status,
                    backoff.elapsed()
                ),
            ));
        }
        // Made before the speed is read, so that a speed taught in between is not missed.
        let learned = runtime.speed_learned();
        // A copy of this run finished meanwhile: plan the rest from its speed.
        if let (Some(gib), false) = (size_gb, measured) {
            let expected = runtime.expected_copy_time(account, rds.region(), gib);
            if expected.measured {
                measured = true;
                guess = None;
                backoff.replan(runtime.config(), expected);
            }
        }
        // The smallest copy that many others wait on polls closely, so that the speed it
        // teaches is exact: planned from a speed a fifth too slow, a batch's first big copies
        // would each be noticed minutes late (R21).
        if guess.as_ref().is_some_and(|guess| guess.teaches()) {
            backoff.close(runtime.config());
        }
        let (resource, status) = (ctx.name().to_owned(), info.status.clone());
        let pause = backoff.pause_with(|elapsed| {
            runtime.emit(ProgressEvent::Heartbeat {
                resource: resource.clone(),
                status: status.clone(),
                elapsed,
            })
        });
        match (size_gb, measured) {
            // Planned on a guess: a copy that teaches the speed ends the pause, to re-plan.
            (Some(gib), false) => {
                tokio::select! {
                    () = pause => {}
                    () = learned => {
                        let expected = runtime.expected_copy_time(account, rds.region(), gib);
                        measured = true;
                        guess = None;
                        backoff.replan(runtime.config(), expected);
                    }
                }
            }
            _ => pause.await,
        }
    }
}

/// Starts a copy while holding a copy slot and its source's turn (R19); the new copy as AWS's answer describes it when
/// this call made it, `None` when a snapshot of that identifier already existed (a retried
/// call that went through, or someone else's: the caller checks). `SnapshotQuotaExceeded` is
/// back-pressure (R19) only while the account's manual-snapshot quota has room: the slot is
/// given back, the quota lowered once (others copy too), and the copy waits for a slot again.
/// When the manual-snapshot quota is full (R25), no waiting frees it: the copy fails at once
/// with [`Error::ManualSnapshotQuota`], and the copy quota is left as it was.
/// Returns the slot and turn, to hold while the copy runs.
#[allow(clippy::too_many_arguments)]
async fn start_copy(
    ctx: &Context,
    rds: &Rds,
    account: AccountId,
    kind: SnapshotKind,
    request: &CopyRequest<'_>,
    size_gb: u32,
    role: QuotaRole,
    mut room: Option<RoomPermit>,
) -> Result<(Option<SnapshotInfo>, crate::engine::wait::CopyTurn)> {
    let runtime = ctx.runtime();
    let mut backoff = Backoff::new(runtime.config());
    let mut lowered = false;
    loop {
        // Bigger copies first: they are the long poles of a batch (R21).
        let slot = runtime
            .copy_turn(account, rds.region(), request.source, ctx.name(), size_gb)
            .await;
        // The call on the heap, and its answer gone before any pause: the copies waiting for
        // a slot carry neither.
        match Box::pin(rds.copy_snapshot(kind, request)).await {
            Ok(info) => {
                // The copy exists from here on, and counts against the quota (R25).
                if let Some(room) = room.take() {
                    room.made(request.target);
                }
                runtime.emit(ProgressEvent::Started {
                    resource: ctx.name().to_owned(),
                    what: format!("copy of {} to {}", request.source, request.target),
                });
                return Ok((Some(info), slot));
            }
            Err(e) if e.is("SnapshotQuotaExceeded") => {
                drop(slot);
                if let Some(quota) = Box::pin(manual_quota_full(rds, kind, &e)).await {
                    runtime.room_refused(account, rds.region(), kind, quota);
                    return Err(Error::ManualSnapshotQuota {
                        resource: ctx.name().to_owned(),
                        shortfall: QuotaShortfall {
                            account,
                            region: rds.region().clone(),
                            kind,
                            role,
                            used: quota.used,
                            max: quota.max,
                            needed: 1,
                            margin: 0,
                        },
                    });
                }
                if backoff.timed_out() {
                    return Err(aws(ctx)(e));
                }
            }
            Err(e)
                if e.is("DBSnapshotAlreadyExists")
                    || e.is("DBClusterSnapshotAlreadyExistsFault") =>
            {
                if let Some(room) = room.take() {
                    room.made(request.target);
                }
                return Ok((None, slot));
            }
            Err(e) => return Err(aws(ctx)(e)),
        }
        // AWS's copy quota is full: the slot went back, and the copy waits for one again.
        if !lowered {
            lowered = true;
            let quota = runtime.lower_copy_quota(account, rds.region());
            runtime.emit(ProgressEvent::Queued {
                resource: ctx.name().to_owned(),
                reason: format!(
                    "AWS's copy quota for {account} in {} is full (R19): snapshift now keeps at most {quota} copies in flight there",
                    rds.region()
                ),
            });
        }
        backoff.pause().await;
    }
}

/// After `SnapshotQuotaExceeded`: the manual-snapshot quota (R25), when it is what refused,
/// rather than the copy quota (R19). Read with `DescribeAccountAttributes` (full when `Used`
/// has reached `Max`); when that cannot be read, from AWS's message ("Cannot create more than
/// 100 manual snapshots", taken as full).
async fn manual_quota_full(
    rds: &Rds,
    kind: SnapshotKind,
    refusal: &AwsError,
) -> Option<ManualQuota> {
    match rds.manual_snapshot_quota(kind).await {
        Ok(Some(quota)) => (quota.used >= quota.max).then_some(quota),
        _ => ManualQuota::max_in_message(refusal.message().unwrap_or_default())
            .map(|max| ManualQuota { used: max, max }),
    }
}

/// Finds `target` and checks it is this resource's own, or copies it; then waits for it. The
/// stack's tags are put on a new copy again after it starts, so that tags copied from the
/// source (`copy_tags`) cannot mask whose it is.
///
/// Most of a batch's copies spend hours here waiting for their turn or a slot: the steps
/// before and after are on the heap, so that the waiting copies carry only the wait.
#[allow(clippy::too_many_arguments)]
async fn ensure_copy(
    ctx: &Context,
    rds: &Rds,
    account: AccountId,
    kind: SnapshotKind,
    request: CopyRequest<'_>,
    size_gb: u32,
    look_first: bool,
    role: QuotaRole,
    room: Option<RoomPermit>,
) -> Result<SnapshotInfo> {
    if look_first {
        if let Some(info) = Box::pin(existing_copy(ctx, rds, account, kind, request.target)).await?
        {
            if let Some(room) = room {
                room.made(request.target);
            }
            return Ok(info);
        }
    }
    let tags = ctx.tags();
    let request = CopyRequest {
        tags: &tags,
        ..request.clone()
    };
    // One copy of a source at a time (AWS queues the others, R19), and a quota slot only
    // while a copy can make progress.
    let (made, _slot) = start_copy(ctx, rds, account, kind, &request, size_gb, role, room).await?;
    Box::pin(follow_copy(ctx, rds, account, kind, &request, made)).await
}

/// The copy `target` if it exists, once available, after checking it is this resource's own;
/// `None` when it does not exist.
async fn existing_copy(
    ctx: &Context,
    rds: &Rds,
    account: AccountId,
    kind: SnapshotKind,
    target: &str,
) -> Result<Option<SnapshotInfo>> {
    let Some(existing) = rds
        .describe_snapshot(kind, target)
        .await
        .map_err(aws(ctx))?
    else {
        return Ok(None);
    };
    if !is_ours(ctx, rds, &existing.arn).await? {
        return Err(not_ours(ctx, target));
    }
    let gib = f64::from(existing.allocated_gb.max(1));
    // A copy found running counts against AWS's quota (R19) whether or not a slot is free
    // here, so it holds one while it runs: a copy started by an earlier run, or by this one
    // before a crash.
    let _slot =
        (!existing.is_available()).then(|| ctx.runtime().running_copy(account, rds.region()));
    // Its start is unknown, so it teaches nothing about speed.
    wait_available(ctx, rds, account, kind, target, Some(gib), false)
        .await
        .map(Some)
}

/// After [`start_copy`]: tags the copy this call made (`made`), or checks that the one that
/// already existed is this resource's own; then waits for it.
async fn follow_copy(
    ctx: &Context,
    rds: &Rds,
    account: AccountId,
    kind: SnapshotKind,
    request: &CopyRequest<'_>,
    made: Option<SnapshotInfo>,
) -> Result<SnapshotInfo> {
    let made_now = made.is_some();
    // The copy runs in AWS from here on and holds its slot (R19): a call throttled past the
    // SDK's retries is made again here, not by running the step again, which would let the
    // slot go while the copy still counts against AWS's quota.
    let started = again_while_throttled(
        ctx.name(),
        Backoff::new(ctx.runtime().config()),
        Error::is_transient,
        || claim_copy(ctx, rds, kind, request, made.clone()),
    )
    .await?;
    let gib = f64::from(started.allocated_gb.max(1));
    wait_available(ctx, rds, account, kind, request.target, Some(gib), made_now).await
}

/// Tags the copy this call made (`made`, as AWS's answer describes it), or reads the one that
/// already existed and checks it is this resource's own.
async fn claim_copy(
    ctx: &Context,
    rds: &Rds,
    kind: SnapshotKind,
    request: &CopyRequest<'_>,
    made: Option<SnapshotInfo>,
) -> Result<SnapshotInfo> {
    if let Some(info) = made {
        rds.add_tags(&info.arn, request.tags)
            .await
            .map_err(aws(ctx))?;
        return Ok(info);
    }
    let existing = rds
        .describe_snapshot(kind, request.target)
        .await
        .map_err(aws(ctx))?
        .ok_or_else(|| {
            conflict(
                ctx,
                format!(
                    "snapshot {} vanished right after its copy started",
                    request.target
                ),
            )
        })?;
    if !is_ours(ctx, rds, &existing.arn).await? {
        return Err(not_ours(ctx, request.target));
    }
    Ok(existing)
}

/// The error for a snapshot `target` that exists and that this resource did not make.
fn not_ours(ctx: &Context, target: &str) -> Error {
    Error::NotOurs {
        resource: ctx.name().to_owned(),
        what: format!("snapshot {target}"),
    }
}

/// Why the source cannot be shared as it is, if it cannot.
async fn copy_needed(
    ctx: &Context,
    account: &Account,
    region: &Region,
    info: &SnapshotInfo,
    targets: &[AccountId],
) -> Result<Option<Rule>> {
    if info.snapshot_type != "manual" {
        return Ok(Some(Rule::R3));
    }
    let Some(key) = &info.kms_key else {
        return Ok(None);
    };
    let kms = Kms::new(account, region);
    // Whether AWS manages a key never changes: a batch describes each key once (R20).
    let facts = ctx.runtime().key_facts(key);
    let (arn, aws_managed) = facts
        .get_or_try_init(|| async {
            let info = kms
                .describe_key(key)
                .await
                .map_err(aws(ctx))?
                .ok_or_else(|| conflict(ctx, format!("the source's key {key} does not exist")))?;
            Ok::<_, Error>((info.arn, info.aws_managed))
        })
        .await?
        .clone();
    if aws_managed {
        return Ok(Some(Rule::R1));
    }
    if targets.is_empty() {
        return Ok(Some(Rule::R2));
    }
    let policy = kms.key_policy(arn.key_id()).await.map_err(aws(ctx))?;
    // Shared as it is only when its key grants every target (R2).
    let grants = PolicyDocument::from_json(&policy).is_ok_and(|p| {
        targets
            .iter()
            .all(|t| ShareableKey::policy_grants(&p, *t, region))
    });
    Ok(if grants { None } else { Some(Rule::R2) })
}

/// The record of a snapshot resource.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct CopyRecord {
    /// The copy this resource made (or is making), once it asked for it.
    copy: Option<String>,
    /// Whether the source was shared directly (no copy).
    direct: bool,
    /// Set by the release (before it deletes the copy) once every target held its own copy:
    /// the outputs the copy had. Deploy then answers them without looking (R25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    released: Option<SnapshotOutputs>,
}

/// The source account's side: the source itself when it can be shared as it is, otherwise a
/// re-encrypting copy under the shareable key (R1, R2, R3).
#[derive(Debug, Clone)]
pub struct SourceCopy {
    account: Account,
    region: Region,
    source: SnapshotRef,
    key: Handle<KeyResource>,
    targets: Vec<AccountId>,
    copy_id: SnapshotId,
    copy_tags: bool,
    /// Whether a release resource deletes the copy once every target holds its own (R25).
    release: bool,
    /// Set by preflight when the copy's identifier was free: deploy then copies without
    /// looking again (a copy made meanwhile answers "already exists", which deploy handles).
    free_at_preflight: Arc<AtomicBool>,
    /// What preflight found for the quota check (R25).
    flags: Arc<CopyFlags>,
}

/// What a copy's preflight found, for the quota check (R25).
#[derive(Debug, Default)]
pub(crate) struct CopyFlags {
    /// This deploy will make a copy that does not exist yet.
    pub(crate) will_make: AtomicBool,
    /// This stack's copy exists and will be released (it is in the quota's `Used`).
    pub(crate) alive: AtomicBool,
}

impl SourceCopy {
    /// The same copy, released as it goes: a [`Release`] deletes it once every target holds
    /// its own copy, and until then it takes room in the source's manual-snapshot headroom
    /// (R25).
    pub(crate) fn releasing(mut self, release: bool) -> SourceCopy {
        self.release = release;
        self
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        account: &Account,
        region: Region,
        source: SnapshotRef,
        key: Handle<KeyResource>,
        targets: Vec<AccountId>,
        copy_id: SnapshotId,
        copy_tags: bool,
    ) -> SourceCopy {
        SourceCopy {
            account: account.clone(),
            region,
            source,
            key,
            targets,
            copy_id,
            copy_tags,
            release: false,
            free_at_preflight: Arc::default(),
            flags: Arc::default(),
        }
    }

    fn rds(&self) -> Rds {
        Rds::new(&self.account, &self.region)
    }

    fn source_ref(&self) -> String {
        self.source.id().to_string()
    }

    /// What preflight found, for the quota check (R25).
    pub(crate) fn flags(&self) -> Arc<CopyFlags> {
        Arc::clone(&self.flags)
    }

    /// Room for this copy in the source's manual-snapshot headroom (R25), read once per run
    /// (a throttled reading is made again; one that is refused falls back to the configured
    /// headroom, as the preview said).
    async fn room(&self, ctx: &Context, rds: &Rds, size: u32) -> Result<RoomPermit> {
        let kind = self.source.kind();
        let read = || async {
            again_while_throttled(
                ctx.name(),
                Backoff::new(ctx.runtime().config()),
                AwsError::is_transient,
                || rds.manual_snapshot_quota(kind),
            )
            .await
            .ok()
            .flatten()
        };
        ctx.runtime()
            .manual_room(self.account.id(), &self.region, kind, read, ctx.name(), size)
            .await
            .map_err(|stuck| {
                conflict(
                    ctx,
                    format!(
                        "waited {:.1?} for room in the manual-snapshot headroom of {} in {} (R25), and none will come in this run: every intermediate copy alive there belongs to a snapshot whose target copies failed, so none is released. Nothing was copied for this snapshot; fix what failed and deploy again (the copies made are kept and finished), or raise the quota",
                        stuck.waited,
                        self.account.id(),
                        self.region
                    ),
                )
            })
    }

    async fn source_info(&self, ctx: &Context) -> Result<SnapshotInfo> {
        let info = self
            .rds()
            .describe_snapshot(self.source.kind(), &self.source_ref())
            .await
            .map_err(aws(ctx))?;
        info.ok_or_else(|| {
            conflict(
                ctx,
                format!(
                    "the source snapshot {} does not exist in {} {}",
                    self.source,
                    self.account.id(),
                    self.region
                ),
            )
        })
    }
}

#[async_trait]
impl Resource for SourceCopy {
    type Outputs = SnapshotOutputs;

    fn kind(&self) -> &'static str {
        match self.source.kind() {
            SnapshotKind::Cluster => "cluster-snapshot-copy",
            SnapshotKind::Db => "db-snapshot-copy",
        }
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn preflight(&self, ctx: &Context) -> Result<()> {
        let record: CopyRecord = ctx.load().await?.unwrap_or_default();
        if record.released.is_some() || record.direct {
            return Ok(());
        }
        if let Some(copy) = &record.copy {
            // Asked for before: it exists (and counts in the quota until released), or the
            // run stopped before AWS took it.
            let exists = self
                .rds()
                .describe_snapshot(self.source.kind(), copy)
                .await
                .map_err(aws(ctx))?
                .is_some();
            self.flags.alive.store(exists, Ordering::SeqCst);
            self.flags.will_make.store(!exists, Ordering::SeqCst);
            return Ok(());
        }
        let info = self.source_info(ctx).await?;
        if !info.is_available() {
            return Err(conflict(
                ctx,
                format!(
                    "the source snapshot {} is {}, not available",
                    self.source, info.status
                ),
            ));
        }
        let rds = self.rds();
        match copy_needed(ctx, &self.account, &self.region, &info, &self.targets).await? {
            // R6: a direct share must fit in the 20-account share list.
            None => {
                if !self.targets.is_empty() {
                    let shared = rds
                        .shared_with(self.source.kind(), &self.source_ref())
                        .await
                        .map_err(aws(ctx))?;
                    let mut list =
                        ShareList::from_accounts(shared.iter().filter_map(|a| a.parse().ok()))
                            .map_err(|e| conflict(ctx, e.to_string()))?;
                    for target in &self.targets {
                        list.add(*target)
                            .map_err(|e| conflict(ctx, e.to_string()))?;
                    }
                }
            }
            // The copy's identifier must be free, or this stack's own.
            Some(_) => match rds
                .describe_snapshot(self.source.kind(), self.copy_id.as_str())
                .await
                .map_err(aws(ctx))?
            {
                Some(existing) => {
                    self.free_at_preflight.store(false, Ordering::SeqCst);
                    if !is_ours(ctx, &rds, &existing.arn).await? {
                        return Err(Error::NotOurs {
                            resource: ctx.name().to_owned(),
                            what: format!("snapshot {}", self.copy_id),
                        });
                    }
                    self.flags.alive.store(true, Ordering::SeqCst);
                }
                None => {
                    self.free_at_preflight.store(true, Ordering::SeqCst);
                    self.flags.will_make.store(true, Ordering::SeqCst);
                }
            },
        }
        Ok(())
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        let record: CopyRecord = ctx.load().await?.unwrap_or_default();
        if let Some(released) = &record.released {
            return Ok(Change::new(
                ctx.name(),
                self.kind(),
                Action::Unchanged,
                format!(
                    "copy {} was deleted as it went, once every target held its own copy",
                    released.identifier
                ),
            )
            .rule(Rule::R25));
        }
        if let Some(copy) = &record.copy {
            let exists = self
                .rds()
                .describe_snapshot(self.source.kind(), copy)
                .await
                .map_err(aws(ctx))?;
            if exists.is_some() {
                return Ok(Change::new(
                    ctx.name(),
                    self.kind(),
                    Action::Unchanged,
                    format!("copy {copy} exists"),
                ));
            }
        }
        let info = self.source_info(ctx).await?;
        Ok(
            match copy_needed(ctx, &self.account, &self.region, &info, &self.targets).await? {
                Some(rule) => {
                    Change::new(ctx.name(), self.kind(), Action::Create, copy_reason(rule))
                        .rule(rule)
                        .detail(format!(
                    "{} {} to {}, then AddTagsToResource (a full copy: time grows with size, R21)",
                    copy_op(self.source.kind()),
                    self.source,
                    self.copy_id
                ))
                        .detail(if self.release {
                            "released as it goes: deleted with its shares once every target holds its own copy, and made only while the source's manual-snapshot headroom has room (R25)"
                        } else {
                            "kept until teardown (counts against the source's manual-snapshot quota meanwhile, R25; release_as_you_go(true) deletes it once the target holds its copy)"
                        })
                }
                None => Change::new(
                    ctx.name(),
                    self.kind(),
                    Action::Unchanged,
                    "the source can be shared as it is: no copy",
                )
                .rule(Rule::R2),
            },
        )
    }

    async fn deploy(&self, ctx: &Context) -> Result<SnapshotOutputs> {
        let mut record: CopyRecord = ctx.load().await?.unwrap_or_default();
        // Released as it went (R25): what was done decides, never copied again.
        if let Some(outputs) = record.released {
            return Ok(outputs);
        }
        let rds = self.rds();
        let kind = self.source.kind();
        // The decision is made once and kept: a later change of the source key's policy must
        // not turn a direct share into a copy (or back) halfway.
        if record.direct {
            let source = self.source_info(ctx).await?;
            return Ok(SnapshotOutputs::from_info(
                &source,
                &self.source_ref(),
                false,
            ));
        }
        if let Some(copy) = &record.copy {
            // Resuming: the copy may exist already; the source is needed only to start it.
            if rds
                .describe_snapshot(kind, copy)
                .await
                .map_err(aws(ctx))?
                .is_some()
            {
                let request = CopyRequest {
                    source: &self.source_ref(),
                    target: copy,
                    ..Default::default()
                };
                let info = ensure_copy(
                    ctx,
                    &rds,
                    self.account.id(),
                    kind,
                    request,
                    0,
                    true,
                    QuotaRole::Source,
                    None,
                )
                .await?;
                return Ok(SnapshotOutputs::from_info(&info, copy, true));
            }
        }
        let source = self.source_info(ctx).await?;
        if record.copy.is_none() {
            if copy_needed(ctx, &self.account, &self.region, &source, &self.targets)
                .await?
                .is_none()
            {
                record.direct = true;
                ctx.save(&record).await?;
                return Ok(SnapshotOutputs::from_info(
                    &source,
                    &self.source_ref(),
                    false,
                ));
            }
            record.copy = Some(self.copy_id.to_string());
            ctx.save(&record).await?;
        }
        // Re-encrypt under the shareable key; an unencrypted automated snapshot is just
        // copied to a manual one (R3).
        let key_arn = match &source.kms_key {
            Some(_) => Some(ctx.outputs(&self.key).await?.key_arn.to_string()),
            None => None,
        };
        let request = CopyRequest {
            source: &self.source_ref(),
            target: self.copy_id.as_str(),
            kms_key: key_arn.as_deref(),
            copy_tags: self.copy_tags,
            tags: &[],
            option_group: None,
        };
        let size = u32::try_from(source.allocated_gb).unwrap_or(0);
        // Copied at once when preflight found the identifier free (one look per copy saved);
        // a deploy run again (after throttling) looks first.
        let look_first = !self.free_at_preflight.swap(false, Ordering::SeqCst);
        // R25: a copy released as it goes waits for room in the source account's
        // manual-snapshot headroom, as it waits for a copy slot.
        let room = match self.release {
            true => Some(self.room(ctx, &rds, size).await?),
            false => None,
        };
        let made = ensure_copy(
            ctx,
            &rds,
            self.account.id(),
            kind,
            request,
            size,
            look_first,
            QuotaRole::Source,
            room,
        )
        .await;
        let info = made?;
        Ok(SnapshotOutputs::from_info(
            &info,
            self.copy_id.as_str(),
            true,
        ))
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        let record: CopyRecord = ctx.load().await?.unwrap_or_default();
        if let Some(released) = &record.released {
            return Ok(Change::new(
                ctx.name(),
                self.kind(),
                Action::Unchanged,
                format!(
                    "the intermediate copy {} was deleted at deploy (released as it went; looked for again)",
                    released.identifier
                ),
            ));
        }
        Ok(match record.copy {
            Some(copy) => Change::new(
                ctx.name(),
                self.kind(),
                Action::Delete,
                format!("delete the intermediate copy {copy}"),
            )
            .rule(Rule::R8),
            None => Change::new(
                ctx.name(),
                self.kind(),
                Action::Unchanged,
                "no copy was made; the source is never changed",
            ),
        })
    }

    async fn teardown(&self, ctx: &Context) -> Result<Vec<String>> {
        let record: CopyRecord = ctx.load().await?.unwrap_or_default();
        match record.copy {
            Some(copy) => {
                delete_own_copy(
                    ctx,
                    &self.rds(),
                    self.account.id(),
                    self.source.kind(),
                    &copy,
                    "intermediate copy",
                )
                .await
            }
            None => Ok(Vec::new()),
        }
    }

    async fn refresh(&self, ctx: &Context) -> Result<Vec<String>> {
        let record: CopyRecord = ctx.load().await?.unwrap_or_default();
        if record.released.is_some() {
            return Ok(Vec::new());
        }
        match record.copy {
            Some(copy) => missing_snapshot(ctx, &self.rds(), self.source.kind(), &copy).await,
            None => Ok(Vec::new()),
        }
    }
}

/// The record of a share.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ShareRecord {
    /// The snapshot shared.
    snapshot: Option<String>,
    /// Whether this resource added the account (and so may remove it).
    added: bool,
    /// Set by the release (before it removes the share) once the target held its own copy:
    /// deploy then shares nothing again (R25).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    released: bool,
}

/// The share of the (copied) snapshot with the target account (R6).
#[derive(Debug, Clone)]
pub struct Share {
    account: Account,
    region: Region,
    kind: SnapshotKind,
    snapshot: Handle<SourceCopy>,
    target: AccountId,
}

impl Share {
    pub(crate) fn new(
        account: &Account,
        region: Region,
        kind: SnapshotKind,
        snapshot: Handle<SourceCopy>,
        target: AccountId,
    ) -> Share {
        Share {
            account: account.clone(),
            region,
            kind,
            snapshot,
            target,
        }
    }
}

#[async_trait]
impl Resource for Share {
    type Outputs = SnapshotOutputs;

    fn kind(&self) -> &'static str {
        "snapshot-share"
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn preflight(&self, ctx: &Context) -> Result<()> {
        let record: ShareRecord = ctx.load().await?.unwrap_or_default();
        if record.released || record.snapshot.is_some() {
            return Ok(());
        }
        // A target added after the intermediate copy was released (R25): the copy is needed
        // again, so its record forgets the release and its deploy copies again (and the
        // release deletes it again once every target holds its copy).
        let copy: Option<CopyRecord> = ctx.load_of(self.snapshot.name()).await?;
        if copy.is_some_and(|c| c.released.is_some()) {
            ctx.update_record_of(self.snapshot.name(), |r: &mut CopyRecord| {
                r.released = None;
                r.copy = None;
            })
            .await?;
        }
        Ok(())
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        let record: ShareRecord = ctx.load().await?.unwrap_or_default();
        Ok(if record.released {
            Change::new(
                ctx.name(),
                "snapshot-share",
                Action::Unchanged,
                format!("removed as it went, once {} held its own copy", self.target),
            )
            .rule(Rule::R25)
        } else if record.snapshot.is_some() {
            Change::new(
                ctx.name(),
                "snapshot-share",
                Action::Unchanged,
                format!("shared with {}", self.target),
            )
        } else {
            Change::new(
                ctx.name(),
                "snapshot-share",
                Action::Create,
                format!("share with {} (restore attribute)", self.target),
            )
            .rule(Rule::R6)
            .detail(format!("{} restore +{}", share_op(self.kind), self.target))
        })
    }

    async fn deploy(&self, ctx: &Context) -> Result<SnapshotOutputs> {
        let snapshot = ctx.outputs(&self.snapshot).await?;
        let mut record: ShareRecord = ctx.load().await?.unwrap_or_default();
        // Released as it went (R25): never shared again.
        if record.released {
            return Ok(snapshot);
        }
        let rds = Rds::new(&self.account, &self.region);
        let shared = rds
            .shared_with(self.kind, &snapshot.identifier)
            .await
            .map_err(aws(ctx))?;
        let mut list = ShareList::from_accounts(shared.iter().filter_map(|a| a.parse().ok()))
            .map_err(|e| conflict(ctx, e.to_string()))?;
        if !list.contains(self.target) {
            list.add(self.target)
                .map_err(|e| conflict(ctx, e.to_string()))?;
            record.snapshot = Some(snapshot.identifier.clone());
            record.added = true;
            ctx.save(&record).await?;
            rds.set_shared(self.kind, &snapshot.identifier, self.target, true)
                .await
                .map_err(aws(ctx))?;
        } else if record.snapshot.is_none() {
            // Shared before this stack: leave it as it was at teardown.
            record.snapshot = Some(snapshot.identifier.clone());
            ctx.save(&record).await?;
        }
        Ok(snapshot)
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        let record: ShareRecord = ctx.load().await?.unwrap_or_default();
        if record.released {
            return Ok(Change::new(
                ctx.name(),
                "snapshot-share",
                Action::Unchanged,
                "removed at deploy (released as it went; looked for again)",
            ));
        }
        Ok(match (record.snapshot, record.added) {
            (Some(s), true) => Change::new(
                ctx.name(),
                "snapshot-share",
                Action::Delete,
                format!("unshare {s} from {}", self.target),
            )
            .rule(Rule::R8),
            _ => Change::new(
                ctx.name(),
                "snapshot-share",
                Action::Unchanged,
                "the share was not made by this stack",
            ),
        })
    }

    async fn teardown(&self, ctx: &Context) -> Result<Vec<String>> {
        let record: ShareRecord = ctx.load().await?.unwrap_or_default();
        let (Some(snapshot), true) = (record.snapshot, record.added) else {
            return Ok(Vec::new());
        };
        let rds = Rds::new(&self.account, &self.region);
        if rds
            .describe_snapshot(self.kind, &snapshot)
            .await
            .map_err(aws(ctx))?
            .is_none()
        {
            return Ok(Vec::new());
        }
        rds.set_shared(self.kind, &snapshot, self.target, false)
            .await
            .map_err(aws(ctx))?;
        Ok(vec![format!(
            "share of {snapshot} with {} removed",
            self.target
        )])
    }

    async fn refresh(&self, ctx: &Context) -> Result<Vec<String>> {
        let record: ShareRecord = ctx.load().await?.unwrap_or_default();
        let Some(snapshot) = record.snapshot.filter(|_| !record.released) else {
            return Ok(Vec::new());
        };
        let shared = Rds::new(&self.account, &self.region)
            .shared_with(self.kind, &snapshot)
            .await
            .map_err(aws(ctx))?;
        Ok(if shared.iter().any(|a| a == self.target.as_str()) {
            Vec::new()
        } else {
            vec![format!(
                "{snapshot} is no longer shared with {}",
                self.target
            )]
        })
    }
}

/// What a release did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseOutputs {
    /// How many things were removed: shares and the intermediate copy (each is said in a
    /// [`ProgressEvent::Released`] as it goes; a batch keeps no text per snapshot).
    pub removed: u32,
}

/// The record of a release.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ReleaseRecord {
    /// Every share removed and the copy deleted.
    done: bool,
    /// How many things were removed.
    #[serde(default)]
    removed: u32,
}

/// Release as you go (R25): once every target holds its own available copy of a snapshot,
/// removes the shares this stack added and deletes the intermediate copy, during the deploy,
/// in R8's order (the target copies first, then the shares, then the copy; the shareable key
/// only at teardown). Each step is written in the record of the share or the copy before it
/// is made in AWS, so their own deploy never shares or copies again, and a crash between two
/// steps is finished by the next deploy or by teardown. Makes nothing.
#[derive(Debug, Clone)]
pub struct Release {
    account: Account,
    region: Region,
    kind: SnapshotKind,
    copy: Handle<SourceCopy>,
    /// Each share with the account it shares with.
    shares: Vec<(AccountId, Handle<Share>)>,
    targets: Vec<Handle<TargetCopy>>,
}

impl Release {
    pub(crate) fn new(
        account: &Account,
        region: Region,
        kind: SnapshotKind,
        copy: Handle<SourceCopy>,
        shares: Vec<(AccountId, Handle<Share>)>,
        targets: Vec<Handle<TargetCopy>>,
    ) -> Release {
        Release {
            account: account.clone(),
            region,
            kind,
            copy,
            shares,
            targets,
        }
    }
}

#[async_trait]
impl Resource for Release {
    type Outputs = ReleaseOutputs;

    fn kind(&self) -> &'static str {
        "release"
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        let record: ReleaseRecord = ctx.load().await?.unwrap_or_default();
        Ok(if record.done {
            Change::new(
                ctx.name(),
                self.kind(),
                Action::Unchanged,
                "released at deploy",
            )
        } else {
            Change::new(
                ctx.name(),
                self.kind(),
                Action::Delete,
                format!(
                    "once {} hold their own copies: remove the shares and delete the intermediate copy, during the deploy (release as you go)",
                    if self.targets.len() == 1 { "the target".to_owned() } else { format!("all {} targets", self.targets.len()) }
                ),
            )
            .rule(Rule::R25)
            .detail("frees room in the source's manual-snapshot quota for the next copies; the shareable key is scheduled for deletion only at teardown (R8)")
        })
    }

    async fn deploy(&self, ctx: &Context) -> Result<ReleaseOutputs> {
        let mut record: ReleaseRecord = ctx.load().await?.unwrap_or_default();
        // Done, unless the copy was made again since (a target added later).
        let copy_record: Option<CopyRecord> = ctx.load_of(self.copy.name()).await?;
        let copied_again = copy_record.is_some_and(|c| c.copy.is_some() && c.released.is_none());
        if record.done && !copied_again {
            return Ok(ReleaseOutputs {
                removed: record.removed,
            });
        }
        // R8: every target holds its own available copy (a target copy is deployed only once
        // it is available).
        for target in &self.targets {
            ctx.outputs(target).await?;
        }
        let copy = ctx.outputs(&self.copy).await?;
        let rds = Rds::new(&self.account, &self.region);
        let mut removed = 0u32;
        // Written first: the shares' own deploys never share again, and their teardowns
        // still remove a share if the calls below never happen.
        let mut shared: Vec<(AccountId, String)> = Vec::new();
        for (target, share) in &self.shares {
            ctx.update_record_of(share.name(), |r: &mut ShareRecord| {
                r.released = true;
                if let (true, Some(snapshot)) = (r.added, &r.snapshot) {
                    shared.push((*target, snapshot.clone()));
                }
            })
            .await?;
        }
        // One look per snapshot shared (the shares of one snapshot are on the same one).
        let snapshots: std::collections::BTreeSet<&str> =
            shared.iter().map(|(_, s)| s.as_str()).collect();
        for snapshot in snapshots {
            // The snapshot may be gone already (deleted by a run that crashed after it).
            if rds
                .describe_snapshot(self.kind, snapshot)
                .await
                .map_err(aws(ctx))?
                .is_none()
            {
                continue;
            }
            let accounts = rds
                .shared_with(self.kind, snapshot)
                .await
                .map_err(aws(ctx))?;
            for (target, _) in shared.iter().filter(|(_, s)| s == snapshot) {
                if accounts.iter().any(|a| a == target.as_str()) {
                    rds.set_shared(self.kind, snapshot, *target, false)
                        .await
                        .map_err(aws(ctx))?;
                }
                ctx.runtime().emit(ProgressEvent::Released {
                    resource: ctx.name().to_owned(),
                    what: format!("share of {snapshot} with {target} removed"),
                });
                removed += 1;
            }
        }
        if copy.created {
            let outputs = copy.clone();
            ctx.update_record_of(self.copy.name(), |r: &mut CopyRecord| {
                r.released = Some(outputs);
            })
            .await?;
            let (lines, deleted) = delete_copy_of(
                ctx,
                self.copy.name(),
                &rds,
                self.account.id(),
                self.kind,
                &copy.identifier,
                "intermediate copy",
            )
            .await?;
            ctx.runtime().room_released(
                self.account.id(),
                &self.region,
                self.kind,
                &copy.identifier,
                deleted,
            );
            for line in &lines {
                ctx.runtime().emit(ProgressEvent::Released {
                    resource: ctx.name().to_owned(),
                    what: line.clone(),
                });
            }
            removed += u32::try_from(lines.len()).unwrap_or(u32::MAX);
        }
        record.done = true;
        record.removed = removed;
        ctx.save(&record).await?;
        Ok(ReleaseOutputs {
            removed: record.removed,
        })
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        Ok(Change::new(
            ctx.name(),
            self.kind(),
            Action::Unchanged,
            "a release: nothing of its own to remove (the share and copy resources look again)",
        ))
    }

    async fn teardown(&self, _ctx: &Context) -> Result<Vec<String>> {
        // What a release did not finish, the share's and the copy's teardowns do: they read
        // their records and look in AWS.
        Ok(Vec::new())
    }

    async fn refresh(&self, _ctx: &Context) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn still_needs(&self, _ctx: &Context, _dependency: &str) -> Result<bool> {
        Ok(false)
    }
}

/// One snapshot a quota check counts: its copy in the source and its copies in the targets,
/// with what their preflights found.
#[derive(Debug, Clone)]
pub(crate) struct QuotaItem {
    pub(crate) source: AccountId,
    pub(crate) region: Region,
    pub(crate) kind: SnapshotKind,
    pub(crate) copy: Handle<SourceCopy>,
    pub(crate) flags: Arc<CopyFlags>,
    pub(crate) targets: Vec<(AccountId, Handle<TargetCopy>, Arc<AtomicBool>)>,
}

/// Every snapshot a stack's migrations and fleets copy: each quota check adds up all of them
/// for the accounts it reads (R25).
pub(crate) type QuotaRegistry = Arc<std::sync::Mutex<Vec<QuotaItem>>>;

/// An account, region and kind of snapshot, as source or target.
type QuotaKey = (AccountId, Region, SnapshotKind, QuotaRole);

/// What a quota check found: a line per account, region and kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaOutputs {
    /// What was read and what it allows, as the preview shows it.
    pub lines: Vec<String>,
}

/// The quota preflight (R25): before the first change, once every other preflight has said
/// what it will make, reads the manual-snapshot quota of the source and of every target
/// (`DescribeAccountAttributes`) and stops the deploy, with nothing changed, when a target
/// cannot hold every copy it will keep (counting every migration and fleet of the stack) or
/// the source cannot hold one intermediate copy per copy slot beyond its margin (its own
/// intermediate copies alive, which will be released, not counted). Its plan line is what a
/// user sees first. A quota that cannot be read (denied, not listed) is said, and the deploy
/// goes on with [`WaitConfig::manual_snapshot_fallback`](crate::engine::WaitConfig). Makes
/// nothing.
#[derive(Debug, Clone)]
pub struct QuotaCheck {
    source: Account,
    region: Region,
    targets: Vec<Account>,
    /// Every snapshot of the stack.
    registry: QuotaRegistry,
    /// The accounts, regions and kinds this check reads: those of its own snapshots.
    own: Arc<std::sync::OnceLock<std::collections::BTreeSet<QuotaKey>>>,
    /// Whether the intermediate copies are released as they go (or kept until teardown).
    releasing: bool,
    /// The lines of the last assessment, which deploy answers.
    lines: Arc<std::sync::Mutex<Vec<String>>>,
}

impl QuotaCheck {
    /// A check of `source` and `targets`; its snapshots are given once they are in the stack
    /// ([`QuotaCheck::cover`]), so that the check comes first in the plan.
    pub(crate) fn new(
        source: &Account,
        region: Region,
        targets: &[Account],
        releasing: bool,
        registry: QuotaRegistry,
    ) -> QuotaCheck {
        QuotaCheck {
            source: source.clone(),
            region,
            targets: targets.to_vec(),
            registry,
            own: Arc::default(),
            releasing,
            lines: Arc::default(),
        }
    }

    /// Where the check's own snapshots are given, once they are in the stack: they join the
    /// stack's registry, and the check reads their accounts.
    pub(crate) fn cover(&self) -> impl FnOnce(Vec<QuotaItem>) {
        let (own, registry) = (Arc::clone(&self.own), Arc::clone(&self.registry));
        move |items: Vec<QuotaItem>| {
            let mut keys = std::collections::BTreeSet::new();
            for item in &items {
                keys.insert((
                    item.source,
                    item.region.clone(),
                    item.kind,
                    QuotaRole::Source,
                ));
                for (target, _, _) in &item.targets {
                    keys.insert((*target, item.region.clone(), item.kind, QuotaRole::Target));
                }
            }
            let _ = own.set(keys);
            crate::locked(&registry).extend(items);
        }
    }

    fn account(&self, id: AccountId) -> &Account {
        self.targets
            .iter()
            .find(|t| t.id() == id)
            .unwrap_or(&self.source)
    }

    /// Per account, region and kind: the copies this deploy will make there, and this stack's
    /// intermediate copies alive there. `exact`: from what the preflights found; otherwise
    /// (a preview) from the state.
    async fn counts(
        &self,
        ctx: &Context,
        exact: bool,
    ) -> Result<std::collections::BTreeMap<QuotaKey, (u64, u64)>> {
        let items = crate::locked(&self.registry).clone();
        let mut counts: std::collections::BTreeMap<QuotaKey, (u64, u64)> =
            std::collections::BTreeMap::new();
        for item in &items {
            let (make, alive) = if exact {
                (
                    item.flags.will_make.load(Ordering::SeqCst),
                    item.flags.alive.load(Ordering::SeqCst),
                )
            } else {
                let record: Option<CopyRecord> = ctx.load_of(item.copy.name()).await?;
                let deployed = ctx.is_deployed(item.copy.name()).await;
                (
                    !deployed
                        && record
                            .as_ref()
                            .is_none_or(|r| r.copy.is_none() && !r.direct),
                    record.is_some_and(|r| r.copy.is_some() && r.released.is_none()),
                )
            };
            let key = (
                item.source,
                item.region.clone(),
                item.kind,
                QuotaRole::Source,
            );
            let entry = counts.entry(key).or_default();
            entry.0 += u64::from(make);
            entry.1 += u64::from(alive);
            for (target, copy, will_make) in &item.targets {
                let make = if exact {
                    will_make.load(Ordering::SeqCst)
                } else {
                    !ctx.is_deployed(copy.name()).await
                };
                counts
                    .entry((*target, item.region.clone(), item.kind, QuotaRole::Target))
                    .or_default()
                    .0 += u64::from(make);
            }
        }
        Ok(counts)
    }

    /// What each of this check's accounts needs, what its quota says, and the preview's
    /// lines.
    async fn assess(
        &self,
        ctx: &Context,
        exact: bool,
    ) -> Result<(Vec<String>, Vec<crate::quota::QuotaShortfall>)> {
        use crate::quota::{line, shortfall, QuotaNeed, Reading};
        let counts = self.counts(ctx, exact).await?;
        let config = ctx.runtime().config();
        let margin = u64::from(config.manual_snapshot_margin);
        let fallback = u64::from(config.manual_snapshot_fallback);
        let slots = u64::try_from(config.copy_quota).unwrap_or(u64::MAX);
        let own = self.own.get().cloned().unwrap_or_default();
        let mut lines = Vec::new();
        let mut shortfalls = Vec::new();
        for key in own {
            let (count, alive) = counts.get(&key).copied().unwrap_or_default();
            let (account, region, kind, role) = key;
            let needed = match role {
                // One intermediate copy per copy slot, or fewer when fewer remain.
                QuotaRole::Source => count.min(slots),
                QuotaRole::Target => count,
            };
            let need = QuotaNeed {
                account,
                region: region.clone(),
                kind,
                role,
                needed,
            };
            let reading = match Rds::new(self.account(account), &region)
                .manual_snapshot_quota(kind)
                .await
            {
                // This stack's intermediate copies alive are released as they go: they do
                // not count against the room the next ones need.
                Ok(Some(quota)) if self.releasing => Reading::Read(ManualQuota {
                    used: quota.used.saturating_sub(alive),
                    ..quota
                }),
                Ok(Some(quota)) => Reading::Read(quota),
                Ok(None) => Reading::Unavailable(format!(
                    "DescribeAccountAttributes lists no {}",
                    ManualQuota::attribute(kind)
                )),
                Err(e) if e.is_transient() => return Err(aws(ctx)(e)),
                Err(e) => Reading::Unavailable(e.to_string()),
            };
            let mut said = line(&need, &reading, margin, fallback, self.releasing);
            if role == QuotaRole::Source && alive > 0 && self.releasing {
                said += &format!(
                    " (not counting this stack's {alive} intermediate copies alive, released as they go)"
                );
            }
            lines.push(said);
            shortfalls.extend(shortfall(&need, &reading, margin));
        }
        Ok((lines, shortfalls))
    }
}

#[async_trait]
impl Resource for QuotaCheck {
    type Outputs = QuotaOutputs;

    fn kind(&self) -> &'static str {
        "quota-check"
    }

    fn account(&self) -> &Account {
        &self.source
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn preflight_after(&self, ctx: &Context) -> Result<()> {
        let (lines, shortfalls) = self.assess(ctx, true).await?;
        *crate::locked(&self.lines) = lines;
        if shortfalls.is_empty() {
            Ok(())
        } else {
            Err(Error::QuotaPreflight {
                stack: ctx.stack().to_owned(),
                shortfalls,
            })
        }
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        let (lines, shortfalls) = self.assess(ctx, false).await?;
        let reason = if shortfalls.is_empty() {
            "manual-snapshot quotas read: room for this deploy, checked again before its first change".to_owned()
        } else {
            format!(
                "the deploy would stop here, before its first change: {} without room",
                shortfalls.len()
            )
        };
        let change =
            Change::new(ctx.name(), self.kind(), Action::Unchanged, reason).rule(Rule::R25);
        let change = lines.into_iter().fold(change, Change::detail);
        Ok(shortfalls
            .iter()
            .fold(change, |c, s| c.detail(format!("no room: {s}"))))
    }

    async fn deploy(&self, _ctx: &Context) -> Result<QuotaOutputs> {
        Ok(QuotaOutputs {
            lines: crate::locked(&self.lines).clone(),
        })
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        Ok(Change::new(
            ctx.name(),
            self.kind(),
            Action::Unchanged,
            "a check: nothing to remove",
        ))
    }

    async fn teardown(&self, _ctx: &Context) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn refresh(&self, _ctx: &Context) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn still_needs(&self, _ctx: &Context, _dependency: &str) -> Result<bool> {
        Ok(false)
    }
}

/// What a key access check found: the key the target account can use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAccessOutputs {
    /// The key's ARN, as the target account described it.
    pub key_arn: String,
}

/// A read-only check, after the shareable key exists and before the long copy starts, that
/// the target account can use the key (R31): its key policy must grant the account, which
/// snapshift writes, and the target account's own IAM policies must let its principal use
/// the key, which only the target account can tell. `DescribeKey` of the key's ARN with the
/// target account's credentials answers in seconds what the copy in the target would
/// otherwise find out hours later (`KMSKeyNotAccessibleFault`). It makes nothing, and
/// teardown has nothing to undo.
#[derive(Debug, Clone)]
pub struct KeyAccess {
    account: Account,
    region: Region,
    key: Handle<KeyResource>,
}

impl KeyAccess {
    pub(crate) fn new(target: &Account, region: Region, key: Handle<KeyResource>) -> KeyAccess {
        KeyAccess {
            account: target.clone(),
            region,
            key,
        }
    }
}

/// The actions a target account's IAM policy must allow on the source key for an RDS copy
/// of a snapshot under it (R31; the RDS user guide's example policy for copying a shared
/// encrypted snapshot).
const TARGET_KEY_ACTIONS: &str = "kms:Decrypt, kms:DescribeKey, kms:CreateGrant, kms:Encrypt, kms:ReEncrypt*, kms:GenerateDataKey*";

#[async_trait]
impl Resource for KeyAccess {
    type Outputs = KeyAccessOutputs;

    fn kind(&self) -> &'static str {
        "key-access-check"
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        Ok(Change::new(
            ctx.name(),
            self.kind(),
            Action::Unchanged,
            format!(
                "check that {} may use the shareable key (DescribeKey as {}), before the copy",
                self.account.id(),
                self.account.id()
            ),
        )
        .rule(Rule::R31))
    }

    async fn deploy(&self, ctx: &Context) -> Result<KeyAccessOutputs> {
        let key = ctx.outputs(&self.key).await?;
        let arn = key.key_arn.to_string();
        let kms = Kms::new(&self.account, &self.region);
        // A key made a moment ago may be unknown for a few calls (R26): asked again, briefly.
        let mut backoff = Backoff::new(ctx.runtime().config());
        let mut attempts = 0;
        loop {
            attempts += 1;
            let problem = match kms.describe_key(&arn).await {
                Ok(Some(info)) => {
                    return Ok(KeyAccessOutputs {
                        key_arn: info.arn.to_string(),
                    })
                }
                Ok(None) if attempts < 6 => None,
                Ok(None) => Some("KMS does not know the key (NotFoundException)".to_owned()),
                Err(e) if e.is_access_denied() => Some(format!("AWS denied it: {e}")),
                Err(e) => return Err(aws(ctx)(e)),
            };
            if let Some(problem) = problem {
                return Err(conflict(
                    ctx,
                    format!(
                        "account {} cannot use the shareable key {arn} ({problem}). Its key policy grants the account; the account's own IAM policy must also allow the principal snapshift runs as there {TARGET_KEY_ACTIONS} on {arn} (R31). Nothing was copied yet",
                        self.account.id()
                    ),
                ));
            }
            backoff.pause().await;
        }
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        Ok(Change::new(
            ctx.name(),
            self.kind(),
            Action::Unchanged,
            "a check: nothing to remove",
        ))
    }

    async fn teardown(&self, _ctx: &Context) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn refresh(&self, _ctx: &Context) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn still_needs(&self, _ctx: &Context, _dependency: &str) -> Result<bool> {
        Ok(false)
    }
}

/// The final snapshot in the target account: a copy from the shared snapshot's ARN under the
/// target's key, which cuts the tie to the source key (R7).
#[derive(Debug, Clone)]
pub struct TargetCopy {
    account: Account,
    region: Region,
    kind: SnapshotKind,
    shared: Handle<Share>,
    id: SnapshotId,
    /// The target key's ARN or alias, shared by a batch's copies into one account (for a
    /// key of the stack, how plans name it).
    key: Arc<str>,
    /// The key, when it is a key resource of the same stack: its ARN is read at deploy.
    key_of_stack: Option<Handle<KeyResource>>,
    copy_tags: bool,
    option_group: Option<crate::ids::OptionGroupName>,
    /// Set by preflight when the copy's identifier was free: deploy then copies without
    /// looking again (a copy made meanwhile answers "already exists", which deploy handles).
    free_at_preflight: Arc<AtomicBool>,
}

impl TargetCopy {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        account: &Account,
        region: Region,
        kind: SnapshotKind,
        shared: Handle<Share>,
        id: SnapshotId,
        key: impl Into<Arc<str>>,
        copy_tags: bool,
        option_group: Option<crate::ids::OptionGroupName>,
    ) -> TargetCopy {
        TargetCopy {
            account: account.clone(),
            region,
            kind,
            shared,
            id,
            key: key.into(),
            key_of_stack: None,
            copy_tags,
            option_group,
            free_at_preflight: Arc::default(),
        }
    }

    /// The target key is this key resource of the stack (made by the same deploy, before
    /// the copy).
    /// Set by preflight when the copy does not exist yet: this deploy will make it (R25).
    pub(crate) fn will_make(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.free_at_preflight)
    }

    pub(crate) fn key_of_stack(mut self, key: Option<Handle<KeyResource>>) -> TargetCopy {
        self.key_of_stack = key;
        self
    }

    fn rds(&self) -> Rds {
        Rds::new(&self.account, &self.region)
    }
}

#[async_trait]
impl Resource for TargetCopy {
    type Outputs = SnapshotOutputs;

    fn kind(&self) -> &'static str {
        "target-snapshot-copy"
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn preflight(&self, ctx: &Context) -> Result<()> {
        // The identifier must be free in the target, or be this stack's own copy.
        let rds = self.rds();
        match rds
            .describe_snapshot(self.kind, self.id.as_str())
            .await
            .map_err(aws(ctx))?
        {
            Some(info) => {
                self.free_at_preflight.store(false, Ordering::SeqCst);
                if !is_ours(ctx, &rds, &info.arn).await? {
                    return Err(Error::NotOurs {
                        resource: ctx.name().to_owned(),
                        what: format!("snapshot {} in account {}", self.id, self.account.id()),
                    });
                }
            }
            None => self.free_at_preflight.store(true, Ordering::SeqCst),
        }
        // The target key must exist and be usable by the target account (a key of the stack
        // is made by this deploy, before the copy).
        if &*self.key != "alias/aws/rds" && self.key_of_stack.is_none() {
            let key = Kms::new(&self.account, &self.region)
                .describe_key(&self.key)
                .await
                .map_err(aws(ctx))?;
            if key.is_none_or(|k| k.state.is_deleting()) {
                return Err(conflict(
                    ctx,
                    format!(
                        "the target key {} does not exist in {} or is pending deletion (R7)",
                        self.key,
                        self.account.id()
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        Ok(match self.rds().describe_snapshot(self.kind, self.id.as_str()).await.map_err(aws(ctx))? {
            Some(_) => Change::new(ctx.name(), self.kind(), Action::Unchanged, format!("{} exists in {}", self.id, self.account.id())),
            None => Change::new(ctx.name(), self.kind(), Action::Create, format!("copy the shared snapshot into {} under {} to cut the tie to the source key", self.account.id(), self.key))
                .rule(Rule::R7)
                .detail(format!(
                    "{} from the shared ARN to {}, then AddTagsToResource (kept at teardown)",
                    copy_op(self.kind),
                    self.id
                )),
        })
    }

    async fn deploy(&self, ctx: &Context) -> Result<SnapshotOutputs> {
        let shared = ctx.outputs(&self.shared).await?;
        let key: Arc<str> = match &self.key_of_stack {
            Some(handle) => ctx.outputs(handle).await?.key_arn.to_string().into(),
            None => Arc::clone(&self.key),
        };
        let info = ensure_copy(
            ctx,
            &self.rds(),
            self.account.id(),
            self.kind,
            CopyRequest {
                source: &shared.arn,
                target: self.id.as_str(),
                kms_key: shared.kms_key.as_ref().map(|_| &*key),
                copy_tags: self.copy_tags,
                tags: &[],
                option_group: self.option_group.as_ref().map(|g| g.as_str()),
            },
            shared.allocated_gb,
            // Copied at once when preflight found the identifier free; a deploy run again
            // (after throttling) looks first.
            !self.free_at_preflight.swap(false, Ordering::SeqCst),
            QuotaRole::Target,
            None,
        )
        .await?;
        Ok(SnapshotOutputs::from_info(&info, self.id.as_str(), true))
    }

    async fn still_needs(&self, ctx: &Context, _dependency: &str) -> Result<bool> {
        // R7: the share and the source key are needed only while a copy of this stack's is on
        // its way. Once it is available, or if none was ever made, the source side may go.
        let rds = self.rds();
        match rds
            .describe_snapshot(self.kind, self.id.as_str())
            .await
            .map_err(aws(ctx))?
        {
            Some(info) if !info.is_available() && !info.has_failed() => {
                is_ours(ctx, &rds, &info.arn).await
            }
            _ => Ok(false),
        }
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        Ok(Change::new(
            ctx.name(),
            self.kind(),
            Action::Delete,
            format!("delete {} in {}", self.id, self.account.id()),
        ))
    }

    async fn teardown(&self, ctx: &Context) -> Result<Vec<String>> {
        delete_own_copy(
            ctx,
            &self.rds(),
            self.account.id(),
            self.kind,
            self.id.as_str(),
            "target copy",
        )
        .await
    }

    async fn refresh(&self, ctx: &Context) -> Result<Vec<String>> {
        missing_snapshot(ctx, &self.rds(), self.kind, self.id.as_str()).await
    }
}

/// What a restore gives: the database and what to know about it (R10, R17).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreOutputs {
    /// The new cluster's or instance's identifier.
    pub identifier: String,
    /// Notes for the user, e.g. about the master password (R10).
    pub notes: Vec<String>,
}

/// A cluster or instance restored in the target account from the final snapshot (R9, R10).
/// Teardown never deletes it.
#[derive(Debug, Clone)]
pub struct Restore {
    account: Account,
    region: Region,
    kind: SnapshotKind,
    from: Handle<TargetCopy>,
    spec: RestoreSpec,
}

impl Restore {
    pub(crate) fn new(
        account: &Account,
        region: Region,
        kind: SnapshotKind,
        from: Handle<TargetCopy>,
        spec: RestoreSpec,
    ) -> Restore {
        Restore {
            account: account.clone(),
            region,
            kind,
            from,
            spec,
        }
    }
}

/// The record of a restore.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RestoreRecord {
    /// The database this resource asked RDS to restore (saved before the call).
    #[serde(default)]
    restoring: Option<String>,
    /// Whether it became available.
    #[serde(default)]
    restored: bool,
    /// Whether RDS-managed master passwords were turned on (R10).
    #[serde(default)]
    password_managed: bool,
}

/// A database state that does not end on its own (R27).
fn is_terminal_database_state(status: &str) -> bool {
    matches!(
        status,
        "failed"
            | "incompatible-restore"
            | "incompatible-network"
            | "incompatible-parameters"
            | "incompatible-option-group"
            | "incompatible-credentials"
            | "inaccessible-encryption-credentials"
            | "inaccessible-encryption-credentials-recoverable"
    )
}

impl Restore {
    fn rds(&self) -> Rds {
        Rds::new(&self.account, &self.region)
    }

    /// The database of the restore's identifier, if it exists and carries this resource's
    /// tags; an error naming it when it exists and does not ([`Error::NotOurs`]): snapshift
    /// never restores over, changes or adopts a database it did not make.
    async fn existing(&self, ctx: &Context) -> Result<Option<crate::aws::rds::DatabaseInfo>> {
        let rds = self.rds();
        let Some(db) = rds
            .database(self.kind, &self.spec.identifier)
            .await
            .map_err(aws(ctx))?
        else {
            return Ok(None);
        };
        if !is_ours(ctx, &rds, &db.arn).await? {
            return Err(Error::NotOurs {
                resource: ctx.name().to_owned(),
                what: format!(
                    "database {} in account {} {}",
                    self.spec.identifier,
                    self.account.id(),
                    self.region
                ),
            });
        }
        Ok(Some(db))
    }
}

#[async_trait]
impl Resource for Restore {
    type Outputs = RestoreOutputs;

    fn kind(&self) -> &'static str {
        match self.kind {
            SnapshotKind::Cluster => "db-cluster-restore",
            SnapshotKind::Db => "db-instance-restore",
        }
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn preflight(&self, ctx: &Context) -> Result<()> {
        // The identifier must be free in the target, or name this stack's own database (by
        // its tags: a record alone does not make a database ours, someone may have made one
        // of that name after a failed attempt).
        self.existing(ctx).await.map(drop)
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        let record: RestoreRecord = ctx.load().await?.unwrap_or_default();
        if record.restored {
            if let Some(db) = self
                .rds()
                .database(self.kind, &self.spec.identifier)
                .await
                .map_err(aws(ctx))?
            {
                if is_ours(ctx, &self.rds(), &db.arn).await? {
                    return Ok(Change::new(
                        ctx.name(),
                        self.kind(),
                        Action::Unchanged,
                        format!("{} was restored by this stack", self.spec.identifier),
                    ));
                }
            }
        }
        let mut change = Change::new(
            ctx.name(),
            self.kind(),
            Action::Create,
            format!(
                "restore {} from the final snapshot (a restore needs the snapshot's key)",
                self.spec.identifier
            ),
        )
        .rule(Rule::R9)
        .detail(match self.kind {
            SnapshotKind::Cluster => {
                "RestoreDBClusterFromSnapshot (the cluster only: add instances as you need, R17)"
            }
            SnapshotKind::Db => "RestoreDBInstanceFromDBSnapshot",
        });
        if self.spec.manage_master_user_password && self.kind == SnapshotKind::Cluster {
            change = change.detail(
                "ModifyDBCluster ManageMasterUserPassword: the source's secret is not carried over (R10)",
            );
        }
        Ok(change)
    }

    async fn deploy(&self, ctx: &Context) -> Result<RestoreOutputs> {
        let mut record: RestoreRecord = ctx.load().await?.unwrap_or_default();
        let rds = self.rds();
        if self.existing(ctx).await?.is_none() {
            let from = ctx.outputs(&self.from).await?;
            // The snapshot's own engine (aurora-postgresql, mysql, ...).
            let engine = if from.engine.is_empty() {
                match self.kind {
                    SnapshotKind::Cluster => "aurora-mysql".to_owned(),
                    SnapshotKind::Db => "mysql".to_owned(),
                }
            } else {
                from.engine.clone()
            };
            // The intent is saved first; the database carries this stack's tags from its
            // creation, which is what makes it ours on a re-run.
            record.restoring = Some(self.spec.identifier.clone());
            record.restored = false;
            record.password_managed = false;
            ctx.save(&record).await?;
            let tags = ctx.tags();
            let request = RestoreRequest {
                engine: &engine,
                subnet_group: self.spec.subnet_group.as_ref().map(|g| g.as_str()),
                instance_class: self.spec.instance_class.as_deref(),
                security_groups: &self.spec.security_groups,
                tags: &tags,
            };
            let created = rds
                .restore(self.kind, &from.identifier, &self.spec.identifier, &request)
                .await
                .map_err(aws(ctx))?;
            // Made meanwhile by someone else (or by a retried call of ours): ours only by
            // its tags.
            if !created {
                self.existing(ctx).await?;
            }
        }
        // Wait for the database before changing it: RDS refuses changes while it is creating.
        // A state it does not leave on its own stops the wait at once (R27).
        let mut backoff = Backoff::new(ctx.runtime().config());
        loop {
            let status = rds
                .database_status(self.kind, &self.spec.identifier)
                .await
                .map_err(aws(ctx))?;
            match status.as_deref() {
                Some("available") => break,
                Some(s) if is_terminal_database_state(s) => {
                    return Err(conflict(
                        ctx,
                        format!(
                            "database {} is {s}: it will not become available on its own (R27); check the subnet group, security groups, parameters and the snapshot's key, delete the database, then deploy again",
                            self.spec.identifier
                        ),
                    ))
                }
                _ => {}
            }
            if backoff.timed_out() {
                return Err(conflict(
                    ctx,
                    format!(
                        "database {} is {} after {:?}; deploy again to keep waiting",
                        self.spec.identifier,
                        status.unwrap_or_else(|| "not visible".into()),
                        backoff.elapsed()
                    ),
                ));
            }
            backoff.pause().await;
        }
        if !record.restored {
            record.restoring = Some(self.spec.identifier.clone());
            record.restored = true;
            ctx.save(&record).await?;
        }
        let mut notes = vec![
            "the restored database keeps the source's master password; its Secrets Manager secret was not carried over (R10)".to_owned(),
        ];
        if self.spec.manage_master_user_password && self.kind == SnapshotKind::Cluster {
            if !record.password_managed {
                rds.manage_master_user_password(&self.spec.identifier)
                    .await
                    .map_err(aws(ctx))?;
                record.password_managed = true;
                ctx.save(&record).await?;
            }
            notes.push("ManageMasterUserPassword is on: RDS now keeps the password in Secrets Manager (R10)".into());
        }
        if self.kind == SnapshotKind::Cluster {
            notes.push(
                "a cluster restored from a snapshot has no DB instances until you add them".into(),
            );
        }
        Ok(RestoreOutputs {
            identifier: self.spec.identifier.clone(),
            notes,
        })
    }

    async fn still_needs(&self, ctx: &Context, _dependency: &str) -> Result<bool> {
        // A restored database holds its own data: it no longer needs the snapshot it came
        // from (its key is kept by the key check at teardown, R8).
        let record: RestoreRecord = ctx.load().await?.unwrap_or_default();
        Ok(!record.restored)
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        Ok(Change::new(
            ctx.name(),
            self.kind(),
            Action::Keep,
            "a restored database is never deleted by teardown",
        ))
    }

    async fn teardown(&self, _ctx: &Context) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn refresh(&self, _ctx: &Context) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// A same-account re-encryption: a copy under a new key; the original is deleted only when
/// asked.
#[derive(Debug, Clone)]
pub struct ReencryptCopy {
    account: Account,
    region: Region,
    source: SnapshotRef,
    key: Handle<KeyResource>,
    id: SnapshotId,
    copy_tags: bool,
    delete_source: bool,
}

impl ReencryptCopy {
    pub(crate) fn new(
        account: &Account,
        region: Region,
        source: SnapshotRef,
        key: Handle<KeyResource>,
        id: SnapshotId,
        copy_tags: bool,
        delete_source: bool,
    ) -> ReencryptCopy {
        ReencryptCopy {
            account: account.clone(),
            region,
            source,
            key,
            id,
            copy_tags,
            delete_source,
        }
    }

    fn rds(&self) -> Rds {
        Rds::new(&self.account, &self.region)
    }

    /// Whether the re-encrypted copy exists and carries this resource's tags.
    async fn own_copy_exists(&self, ctx: &Context) -> Result<bool> {
        let rds = self.rds();
        match rds
            .describe_snapshot(self.source.kind(), self.id.as_str())
            .await
            .map_err(aws(ctx))?
        {
            Some(copy) => is_ours(ctx, &rds, &copy.arn).await,
            None => Ok(false),
        }
    }
}

/// The record of a re-encryption.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ReencryptRecord {
    /// Set before the original is deleted (asked for), so that a re-run after a crash knows
    /// why it is gone.
    deleting_source: bool,
    source_deleted: bool,
}

#[async_trait]
impl Resource for ReencryptCopy {
    type Outputs = SnapshotOutputs;

    fn kind(&self) -> &'static str {
        "snapshot-reencryption"
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn preflight(&self, ctx: &Context) -> Result<()> {
        let record: ReencryptRecord = ctx.load().await?.unwrap_or_default();
        if record.deleting_source || record.source_deleted {
            return Ok(());
        }
        let rds = self.rds();
        let kind = self.source.kind();
        let info = rds
            .describe_snapshot(kind, self.source.id().as_str())
            .await
            .map_err(aws(ctx))?;
        let info = match info {
            // Gone (deleted by this re-encryption in an earlier deploy whose record a teardown
            // dropped, or by someone else): its own copy, found by its tags, is the result.
            None if self.own_copy_exists(ctx).await? => return Ok(()),
            None => {
                return Err(conflict(
                    ctx,
                    format!("the source snapshot {} does not exist", self.source),
                ))
            }
            Some(i) if !i.is_available() => {
                return Err(conflict(
                    ctx,
                    format!(
                        "the source snapshot {} is {}, not available",
                        self.source, i.status
                    ),
                ))
            }
            Some(i) if self.delete_source && i.snapshot_type != "manual" => {
                return Err(conflict(
                    ctx,
                    format!(
                        "delete_source: {} is {}; only manual snapshots are deleted",
                        self.source, i.snapshot_type
                    ),
                ))
            }
            Some(i) => i,
        };
        if info.kms_key.is_none() && kind == SnapshotKind::Cluster {
            return Err(conflict(
                ctx,
                format!("{} is not encrypted, and RDS cannot encrypt a cluster snapshot by copying it; restore it into an encrypted cluster instead", self.source),
            ));
        }
        if let Some(existing) = rds
            .describe_snapshot(kind, self.id.as_str())
            .await
            .map_err(aws(ctx))?
        {
            if !is_ours(ctx, &rds, &existing.arn).await? {
                return Err(Error::NotOurs {
                    resource: ctx.name().to_owned(),
                    what: format!("snapshot {}", self.id),
                });
            }
        }
        Ok(())
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        Ok(
            match self
                .rds()
                .describe_snapshot(self.source.kind(), self.id.as_str())
                .await
                .map_err(aws(ctx))?
            {
                Some(_) => Change::new(
                    ctx.name(),
                    self.kind(),
                    Action::Unchanged,
                    format!("{} exists", self.id),
                ),
                None => {
                    let mut c = Change::new(
                        ctx.name(),
                        self.kind(),
                        Action::Create,
                        format!("copy {} to {} under the new key", self.source, self.id),
                    )
                    .rule(Rule::R3)
                    .detail(format!(
                        "{}, then AddTagsToResource (a full copy: its time grows with the snapshot's size, R21)",
                        copy_op(self.source.kind())
                    ));
                    if self.delete_source {
                        c = c.detail(format!(
                            "then {} of the original {} (asked for)",
                            match self.source.kind() {
                                SnapshotKind::Cluster => "DeleteDBClusterSnapshot",
                                SnapshotKind::Db => "DeleteDBSnapshot",
                            },
                            self.source
                        ));
                    }
                    c
                }
            },
        )
    }

    async fn deploy(&self, ctx: &Context) -> Result<SnapshotOutputs> {
        let key = ctx.outputs(&self.key).await?;
        let rds = self.rds();
        let key_arn = key.key_arn.to_string();
        let info = ensure_copy(
            ctx,
            &rds,
            self.account.id(),
            self.source.kind(),
            CopyRequest {
                source: self.source.id().as_str(),
                target: self.id.as_str(),
                kms_key: Some(&key_arn),
                copy_tags: self.copy_tags,
                tags: &[],
                option_group: None,
            },
            0,
            true,
            QuotaRole::Target,
            None,
        )
        .await?;
        let mut record: ReencryptRecord = ctx.load().await?.unwrap_or_default();
        if !self.delete_source && !record.source_deleted {
            // An original gone for any reason leaves the copy the only one: teardown keeps it.
            let original = rds
                .describe_snapshot(self.source.kind(), self.source.id().as_str())
                .await
                .map_err(aws(ctx))?;
            if original.is_none() {
                ctx.pin(&format!(
                    "the original {} no longer exists: {} is the only copy",
                    self.source, self.id
                ))
                .await?;
            }
        }
        if self.delete_source && !record.source_deleted {
            record.deleting_source = true;
            ctx.save(&record).await?;
            // From here on the copy is the only one: teardown keeps it whatever the
            // definition says later.
            ctx.pin(&format!(
                "the original {} was deleted at deploy (delete_source): {} is the only copy",
                self.source, self.id
            ))
            .await?;
            rds.delete_snapshot(self.source.kind(), self.source.id().as_str())
                .await
                .map_err(aws(ctx))?;
            record.source_deleted = true;
            ctx.save(&record).await?;
        }
        Ok(SnapshotOutputs::from_info(&info, self.id.as_str(), true))
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        Ok(Change::new(
            ctx.name(),
            self.kind(),
            Action::Delete,
            format!("delete {}", self.id),
        ))
    }

    async fn teardown(&self, ctx: &Context) -> Result<Vec<String>> {
        // A state written before pinning existed: the record alone says the original is gone.
        let record: ReencryptRecord = ctx.load().await?.unwrap_or_default();
        if record.deleting_source || record.source_deleted {
            return Ok(vec![format!(
                "re-encrypted copy {} kept: the original {} was deleted at deploy, this is the only copy",
                self.id, self.source
            )]);
        }
        delete_own_copy(
            ctx,
            &self.rds(),
            self.account.id(),
            self.source.kind(),
            self.id.as_str(),
            "re-encrypted copy",
        )
        .await
    }

    async fn refresh(&self, ctx: &Context) -> Result<Vec<String>> {
        missing_snapshot(ctx, &self.rds(), self.source.kind(), self.id.as_str()).await
    }
}
