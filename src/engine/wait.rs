//! Waiting for slow AWS work (R5): progress events, polls planned from the copy speed (R21),
//! and slots that bound copies in flight per destination region (R19). The calls themselves
//! are paced per account and region in [`crate::aws`] (R20).

use crate::locked;
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::time::Instant;

use crate::ids::{AccountId, KeyArn, Region, SnapshotKind};

/// Something that happened while waiting, for a progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProgressEvent {
    /// Work started, e.g. a copy.
    Started {
        /// The resource.
        resource: String,
        /// What started.
        what: String,
    },
    /// AWS reported a percentage (often 0 until done: R5).
    Percent {
        /// The resource.
        resource: String,
        /// The percentage AWS reports.
        percent: i32,
        /// Time since the work started.
        elapsed: Duration,
    },
    /// Still waiting: the status AWS reports and the time so far. Never "stuck" (R5).
    Heartbeat {
        /// The resource.
        resource: String,
        /// The status AWS reports.
        status: String,
        /// Time since the work started.
        elapsed: Duration,
    },
    /// Waiting for room: the copy quota is full (R19) or AWS answered
    /// `SnapshotQuotaExceeded`.
    Queued {
        /// The resource.
        resource: String,
        /// Why.
        reason: String,
    },
    /// Something no longer needed was removed during the deploy: a share and an intermediate
    /// copy, released as soon as every target held its own copy (R25).
    Released {
        /// The resource that released it.
        resource: String,
        /// What was removed.
        what: String,
    },
    /// Done.
    Done {
        /// The resource.
        resource: String,
        /// How long it took.
        elapsed: Duration,
    },
}

/// Receives progress events. The library emits them; an example renders them as a progress
/// bar.
pub trait Progress: Send + Sync {
    /// One event.
    fn event(&self, event: &ProgressEvent);
}

/// The default: events go to `tracing` at info level.
#[derive(Debug, Default)]
pub struct TracingProgress;

impl Progress for TracingProgress {
    fn event(&self, event: &ProgressEvent) {
        tracing::info!(?event, "progress");
    }
}

/// How long and how often to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitConfig {
    /// The first pause between polls.
    pub initial_interval: Duration,
    /// The longest pause between polls (the pause doubles up to it).
    pub max_interval: Duration,
    /// Give up after this long (default 12 hours: copies of small snapshots have taken over
    /// an hour, R5).
    pub timeout: Duration,
    /// How often to emit a heartbeat.
    pub heartbeat: Duration,
    /// API calls per second per account and region, for every call the stack makes (R20; see
    /// [`Account::pace_calls`](crate::aws::Account::pace_calls)).
    pub calls_per_second: u32,
    /// Copies in flight per account and destination region (R19; AWS allows 20).
    pub copy_quota: usize,
    /// The copy speed assumed until one is measured, in MiB per second (R21): a copy is
    /// first checked when about its size divided by this speed has passed, then more often.
    pub copy_mib_per_second: u32,
    /// How long after a change of its own (a new key, alias, key policy, role or inline
    /// policy) snapshift makes again a call whose error AWS's eventual consistency explains
    /// (R26), pausing from `initial_interval` (at most a second) and doubling up to
    /// `max_interval`; zero makes no such call again. Default 5 minutes: AWS says changes
    /// usually propagate in seconds, sometimes minutes.
    pub consistency_window: Duration,
    /// Manual snapshots left free in a source account for other tools and people (R25): a
    /// fleet keeps at most `Max - Used - margin` intermediate copies alive at once there
    /// (`Max` and `Used` from `DescribeAccountAttributes`). Default 5.
    pub manual_snapshot_margin: u32,
    /// How many intermediate copies a source account may hold at once when its quota cannot
    /// be read (`DescribeAccountAttributes` denied or not answered; the preview says so, R25).
    /// Default 20, one per copy slot.
    pub manual_snapshot_fallback: u32,
}

impl Default for WaitConfig {
    fn default() -> WaitConfig {
        WaitConfig {
            initial_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(12 * 3600),
            heartbeat: Duration::from_secs(60),
            calls_per_second: 5,
            copy_quota: crate::rules::limits::DEFAULT_COPY_QUOTA,
            copy_mib_per_second: 35,
            consistency_window: Duration::from_secs(300),
            manual_snapshot_margin: 5,
            manual_snapshot_fallback: crate::rules::limits::DEFAULT_COPY_QUOTA as u32,
        }
    }
}

impl WaitConfig {
    /// Checks the settings before any wait uses them: intervals, timeout and heartbeat above
    /// zero, the initial interval at most the longest, and a call rate, copy quota and copy
    /// speed of at least one. The message names the field and its value.
    pub fn check(&self) -> std::result::Result<(), String> {
        let zero = [
            ("initial_interval", self.initial_interval),
            ("max_interval", self.max_interval),
            ("timeout", self.timeout),
            ("heartbeat", self.heartbeat),
        ]
        .into_iter()
        .find(|(_, d)| d.is_zero());
        if let Some((field, _)) = zero {
            return Err(format!("WaitConfig.{field} is 0: it must be above zero"));
        }
        if self.initial_interval > self.max_interval {
            return Err(format!(
                "WaitConfig.initial_interval {:?} is above max_interval {:?}: the first pause cannot be longer than the longest",
                self.initial_interval, self.max_interval
            ));
        }
        let counts = [
            ("calls_per_second", self.calls_per_second as usize),
            ("copy_quota", self.copy_quota),
            ("copy_mib_per_second", self.copy_mib_per_second as usize),
            (
                "manual_snapshot_fallback",
                self.manual_snapshot_fallback as usize,
            ),
        ];
        if let Some((field, _)) = counts.into_iter().find(|(_, n)| *n == 0) {
            return Err(format!("WaitConfig.{field} is 0: it must be at least 1"));
        }
        Ok(())
    }

    /// Short intervals for tests on the fake: 5 ms to 50 ms, a 60-second timeout, 2 seconds
    /// for changes to settle.
    pub fn fast() -> WaitConfig {
        WaitConfig {
            initial_interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(50),
            timeout: Duration::from_secs(60),
            heartbeat: Duration::from_millis(100),
            calls_per_second: 1000,
            copy_quota: crate::rules::limits::DEFAULT_COPY_QUOTA,
            copy_mib_per_second: 10_240,
            consistency_window: Duration::from_secs(2),
            ..WaitConfig::default()
        }
    }

    /// How the stack's accounts wait out eventual consistency after its changes (R26): from
    /// `initial_interval` (at most a second), doubling up to `max_interval`, for
    /// `consistency_window`.
    pub fn settling(&self) -> crate::aws::Settling {
        crate::aws::Settling {
            first_pause: self.initial_interval.min(Duration::from_secs(1)),
            longest_pause: self.max_interval,
            window: self.consistency_window,
        }
    }
}

/// The copy speeds measured in one account and region, the latest last, and whether the
/// latest long copies ended where their speed foresaw.
#[derive(Debug, Default)]
struct Speeds {
    speeds: std::collections::VecDeque<f64>,
    foreseen: std::collections::VecDeque<bool>,
}

impl Speeds {
    /// How many measurements are kept.
    const KEPT: usize = 21;
    /// How many of the latest long copies must have ended close to their foreseen end for
    /// the next ones to be polled closely.
    const FORESEEN: usize = 3;

    fn record(&mut self, speed: f64) {
        if self.speeds.len() == Self::KEPT {
            self.speeds.pop_front();
        }
        self.speeds.push_back(speed);
    }

    /// Notes whether a long copy ended within [`Backoff::NEAR_END_AGREED`] of the end its
    /// speed foresaw.
    fn judge(&mut self, foreseen: bool) {
        if self.foreseen.len() == Self::FORESEEN {
            self.foreseen.pop_front();
        }
        self.foreseen.push_back(foreseen);
    }

    /// The upper quartile of the latest measurements: above the small copies whose time is
    /// mostly fixed costs (planning from them would notice big copies late), below a lone
    /// fast reading that a coarse poll made look faster than it was (planning from it would
    /// poll for nothing).
    fn estimate(&self) -> Option<f64> {
        let mut sorted: Vec<f64> = self.speeds.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() * 3 / 4).copied()
    }

    /// Whether the latest [`FORESEEN`](Self::FORESEEN) long copies all ended close to where
    /// their speed foresaw, so that the next ones can be polled closely.
    fn agree(&self) -> bool {
        self.foreseen.len() == Self::FORESEEN && self.foreseen.iter().all(|hit| *hit)
    }
}

/// How long a copy should take (R21), and how sure that is (see
/// [`Runtime::expected_copy_time`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExpectedCopy {
    /// The time the copy should take.
    pub time: Duration,
    /// Whether it comes from copies measured in this run, not from the configured speed.
    pub measured: bool,
    /// Whether the run's latest long copies all ended close to where their speed foresaw,
    /// so that polls can stay close to the expected end.
    pub agreed: bool,
}

/// Shared waiting state of a stack: config, progress sink, copy slots, copy speeds.
pub struct Runtime {
    pub(crate) config: WaitConfig,
    pub(crate) progress: Arc<dyn Progress>,
    slots: Mutex<BTreeMap<(AccountId, Region), Arc<Slots>>>,
    sources: Sources,
    /// Measured copy speed per account and region, GiB per second.
    speeds: Mutex<BTreeMap<(AccountId, Region), Speeds>>,
    /// Told when a copy teaches a faster speed.
    learned: tokio::sync::Notify,
    /// The copies waiting on a guessed speed, by destination region: size in MiB and a
    /// sequence number.
    guessing: Mutex<BTreeMap<Region, std::collections::BTreeSet<(u64, u64)>>>,
    guess_seq: std::sync::atomic::AtomicU64,
    /// Keys described in this run, by the reference a snapshot names them with: their ARN
    /// and whether AWS manages them, which never change.
    keys: Mutex<BTreeMap<String, Arc<KeyFacts>>>,
    /// The manual-snapshot room of each source account, region and kind (R25).
    rooms: Mutex<BTreeMap<(AccountId, Region, SnapshotKind), Arc<Room>>>,
    /// How many resources are deploying (retries included): what can still give room back
    /// (R25).
    active: Arc<std::sync::atomic::AtomicUsize>,
    /// How many of them wait for manual-snapshot room.
    room_waiting: Arc<std::sync::atomic::AtomicUsize>,
    /// How many resources are ready to deploy but wait for a place among those running.
    ready: std::sync::atomic::AtomicUsize,
}

/// Counts one resource's deploy as under way until dropped (see [`Runtime::activity`]).
#[derive(Debug)]
pub(crate) struct Activity(Arc<std::sync::atomic::AtomicUsize>);

impl Activity {
    fn new(counter: &Arc<std::sync::atomic::AtomicUsize>) -> Activity {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Activity(Arc::clone(counter))
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// No room will come back: every copy holding the source's headroom belongs to a snapshot
/// that goes no further in this run (R25).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomStuck {
    /// How long the copy waited.
    pub waited: Duration,
}

/// The manual-snapshot room of one account, region and kind (R25): how many more
/// intermediate copies may be made before the account holds `Max - margin` manual snapshots.
/// Read once with `DescribeAccountAttributes` (or the configured fallback), then kept by
/// counting: a copy takes room before it is made, and gives it back when it is deleted (or
/// was never made).
#[derive(Debug, Default)]
struct Room {
    read: tokio::sync::OnceCell<()>,
    state: Mutex<RoomState>,
}

#[derive(Debug, Default)]
struct RoomState {
    /// Room left; below zero when the account is past its headroom.
    free: i64,
    /// Taken by copies not made yet.
    unmade: i64,
    /// The copies made in this run that hold room, by identifier, until their release.
    holding: std::collections::BTreeSet<String>,
    seq: u64,
    waiting: BTreeMap<(std::cmp::Reverse<u32>, u64), tokio::sync::oneshot::Sender<()>>,
}

impl Room {
    fn lock(&self) -> std::sync::MutexGuard<'_, RoomState> {
        locked(&self.state)
    }

    /// One more copy's room, handed to the first waiter still waiting.
    fn give(&self) {
        let mut state = self.lock();
        state.free += 1;
        while state.free > 0 {
            let Some((_, tx)) = state.waiting.pop_first() else {
                break;
            };
            if tx.send(()).is_ok() {
                state.free -= 1;
                state.unmade += 1;
            }
        }
    }
}

/// Room for one intermediate copy in a source account (R25), held from before the copy is
/// asked for. Given back when dropped, unless the copy was made ([`RoomPermit::made`], as
/// soon as AWS accepts the copy): its room then comes back when it is deleted
/// ([`Runtime::room_released`]).
#[derive(Debug)]
pub struct RoomPermit {
    room: Arc<Room>,
    made: bool,
}

impl RoomPermit {
    /// The copy `id` exists (AWS accepted it, or it was found): it holds the room until its
    /// release deletes it.
    pub fn made(mut self, id: &str) {
        self.made = true;
        let mut state = self.room.lock();
        state.unmade -= 1;
        state.holding.insert(id.to_owned());
    }
}

impl Drop for RoomPermit {
    fn drop(&mut self) {
        if !self.made {
            self.room.lock().unmade -= 1;
            self.room.give();
        }
    }
}

/// A key's ARN and whether AWS manages it, once a step has described it (see
/// [`Runtime::key_facts`]).
pub type KeyFacts = tokio::sync::OnceCell<(KeyArn, bool)>;

/// A copy waiting on a guessed speed (see [`Runtime::guessing`]); it stops counting when
/// dropped.
#[derive(Debug)]
pub struct Guess<'a> {
    runtime: &'a Runtime,
    region: Region,
    key: (u64, u64),
}

impl Guess<'_> {
    /// Whether this copy teaches the speed that other copies wait for: it is the smallest
    /// of those waiting on a guess in its region, and not the only one. Its polls should
    /// then be close together, so that the speed it teaches is exact (R21).
    pub fn teaches(&self) -> bool {
        let map = locked(&self.runtime.guessing);
        map.get(&self.region)
            .is_some_and(|set| set.len() > 1 && set.first() == Some(&self.key))
    }
}

impl Drop for Guess<'_> {
    fn drop(&mut self) {
        let mut map = locked(&self.runtime.guessing);
        if let Some(set) = map.get_mut(&self.region) {
            set.remove(&self.key);
            if set.is_empty() {
                map.remove(&self.region);
            }
        }
    }
}

/// The copy slots of one account and destination region: a semaphore whose waiters are
/// served by priority, and whose size AWS's refusals can lower (R19).
#[derive(Debug)]
struct Slots {
    state: Mutex<SlotState>,
}

#[derive(Debug)]
struct SlotState {
    quota: usize,
    free: usize,
    /// Slots to take back as they are released (the quota was lowered while all were used).
    owed: usize,
    seq: u64,
    waiting: BTreeMap<(std::cmp::Reverse<u32>, u64), tokio::sync::oneshot::Sender<()>>,
}

impl SlotState {
    /// Takes a slot without waiting: a free one, or else the next one given back.
    fn take_now_or_next(&mut self) {
        if self.free > 0 {
            self.free -= 1;
        } else {
            self.owed += 1;
        }
    }

    /// Takes a free slot if there is one and nobody waits for it.
    fn take_free(&mut self) -> bool {
        let free = self.free > 0 && self.waiting.is_empty();
        if free {
            self.free -= 1;
        }
        free
    }
}

impl Slots {
    fn new(quota: usize) -> Slots {
        Slots {
            state: Mutex::new(SlotState {
                quota,
                free: quota,
                owed: 0,
                seq: 0,
                waiting: BTreeMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        locked(&self.state)
    }

    /// A free slot now, if there is one and nobody waits for it.
    fn try_take(self: &Arc<Self>) -> Option<CopySlot> {
        self.lock().take_free().then(|| CopySlot {
            slots: Arc::clone(self),
        })
    }
}

/// The turn of one source snapshot: AWS copies one source's copies one after another (R19),
/// so one of them runs at a time, and the copies not yet started are counted.
#[derive(Debug, Default)]
struct SourceTurn {
    state: Mutex<TurnState>,
    freed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct TurnState {
    busy: bool,
    /// Copies of this source that asked for their turn and have not started.
    pending: u32,
}

impl SourceTurn {
    fn lock(&self) -> std::sync::MutexGuard<'_, TurnState> {
        locked(&self.state)
    }

    fn try_take(self: &Arc<Self>) -> Option<Turn> {
        let mut state = self.lock();
        if state.busy {
            None
        } else {
            state.busy = true;
            Some(Turn {
                source: Arc::clone(self),
            })
        }
    }

    async fn take(self: &Arc<Self>) -> Turn {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(turn) = self.try_take() {
                return turn;
            }
            freed.await;
        }
    }
}

/// A source's turn, given back when dropped.
#[derive(Debug)]
struct Turn {
    source: Arc<SourceTurn>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.source.lock().busy = false;
        self.source.freed.notify_waiters();
    }
}

/// Counts a copy as pending on its source until it starts or gives up.
struct Pending(Arc<SourceTurn>);

impl Pending {
    fn new(source: &Arc<SourceTurn>) -> Pending {
        source.lock().pending += 1;
        Pending(Arc::clone(source))
    }

    fn count(&self) -> u32 {
        self.0.lock().pending
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.pending = state.pending.saturating_sub(1);
    }
}

/// What a copy holds while it runs: its account's copy slot and its source's turn (R19).
#[derive(Debug)]
pub struct CopyTurn {
    _slot: CopySlot,
    turn: Turn,
    sources: Sources,
    source: String,
}

/// The turns of the sources with copies asking or running, by source.
type Sources = Arc<Mutex<BTreeMap<String, Arc<SourceTurn>>>>;

impl Drop for CopyTurn {
    fn drop(&mut self) {
        // The last copy of its source to run forgets the source, so that a batch keeps no
        // entry per snapshot once its copies are done.
        let mut map = locked(&self.sources);
        let unused = map.get(&self.source).is_some_and(|entry| {
            Arc::ptr_eq(entry, &self.turn.source)
                && Arc::strong_count(entry) == 2
                && entry.lock().pending == 0
        });
        if unused {
            map.remove(&self.source);
        }
    }
}

/// A copy slot (R19), given back when dropped.
#[derive(Debug)]
pub struct CopySlot {
    slots: Arc<Slots>,
}

impl Drop for CopySlot {
    fn drop(&mut self) {
        let mut state = self.slots.lock();
        if state.owed > 0 {
            state.owed -= 1;
            return;
        }
        // Hand the slot to the first waiter still waiting, by priority.
        while let Some((_, tx)) = state.waiting.pop_first() {
            if tx.send(()).is_ok() {
                return;
            }
        }
        state.free += 1;
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    pub(crate) fn new(config: WaitConfig, progress: Arc<dyn Progress>) -> Runtime {
        Runtime {
            config,
            progress,
            slots: Mutex::new(BTreeMap::new()),
            sources: Arc::default(),
            speeds: Mutex::new(BTreeMap::new()),
            learned: tokio::sync::Notify::new(),
            guessing: Mutex::new(BTreeMap::new()),
            guess_seq: std::sync::atomic::AtomicU64::new(0),
            keys: Mutex::new(BTreeMap::new()),
            rooms: Mutex::new(BTreeMap::new()),
            active: Arc::default(),
            room_waiting: Arc::default(),
            ready: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// How many resources are ready to deploy but wait for a place among those running (the
    /// stack says it as it schedules): room may still come back from them (R25).
    pub(crate) fn set_ready(&self, ready: usize) {
        self.ready.store(ready, std::sync::atomic::Ordering::SeqCst);
    }

    /// Counts a resource's deploy as under way until the guard is dropped: while one that
    /// does not wait for manual-snapshot room runs, room may still come back (R25).
    pub(crate) fn activity(&self) -> Activity {
        Activity::new(&self.active)
    }

    fn room(&self, account: AccountId, region: &Region, kind: SnapshotKind) -> Arc<Room> {
        Arc::clone(
            locked(&self.rooms)
                .entry((account, region.clone(), kind))
                .or_default(),
        )
    }

    /// Takes room for one intermediate copy of `kind` in `account` and `region` (R25), waiting
    /// while the copies alive there fill the headroom: `Max - Used - margin` as `read`
    /// (`DescribeAccountAttributes`) says at the first call of the run, or
    /// [`WaitConfig::manual_snapshot_fallback`] when it gives no answer. Among waiters, the
    /// highest `priority` (the copy's size) goes first, as for copy slots.
    pub async fn manual_room<F, Fut>(
        &self,
        account: AccountId,
        region: &Region,
        kind: SnapshotKind,
        read: F,
        resource: &str,
        priority: u32,
    ) -> Result<RoomPermit, RoomStuck>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Option<crate::aws::rds::ManualQuota>>,
    {
        let room = self.room(account, region, kind);
        let margin = u64::from(self.config.manual_snapshot_margin);
        let fallback = i64::from(self.config.manual_snapshot_fallback);
        room.read
            .get_or_init(|| async {
                let free = match read().await {
                    Some(quota) => crate::quota::headroom(quota, margin),
                    None => fallback,
                };
                room.lock().free += free;
            })
            .await;
        let waiter = {
            let mut state = room.lock();
            if state.free > 0 && state.waiting.is_empty() {
                state.free -= 1;
                state.unmade += 1;
                None
            } else {
                let (tx, rx) = tokio::sync::oneshot::channel();
                state.seq += 1;
                let key = (std::cmp::Reverse(priority), state.seq);
                state.waiting.insert(key, tx);
                Some(rx)
            }
        };
        if let Some(mut rx) = waiter {
            self.emit(ProgressEvent::Queued {
                resource: resource.to_owned(),
                reason: format!(
                    "the intermediate copies alive in {account} {region} fill its {} headroom: waiting for one to be released (R25)",
                    crate::quota::kind_noun(kind)
                ),
            });
            // Room comes back from a release or a copy that fails before it is made. When
            // every resource still deploying has waited for room, and none is ready to
            // start, for three looks in a row (a second apart at least), none will come: the
            // copies holding the headroom belong to snapshots that went no further (their
            // target copies failed), and waiting would never end.
            let _waiting = Activity::new(&self.room_waiting);
            let started = Instant::now();
            let mut idle = 0;
            loop {
                tokio::select! {
                    _ = &mut rx => break,
                    () = tokio::time::sleep(self.config.max_interval.max(Duration::from_secs(1))) => {
                        let active = self.active.load(std::sync::atomic::Ordering::SeqCst);
                        let waiting = self.room_waiting.load(std::sync::atomic::Ordering::SeqCst);
                        let ready = self.ready.load(std::sync::atomic::Ordering::SeqCst);
                        if active <= waiting && ready == 0 {
                            idle += 1;
                        } else {
                            idle = 0;
                        }
                        if idle >= 3 {
                            // Dropping the receiver makes a late hand-over pass it by.
                            return Err(RoomStuck {
                                waited: started.elapsed(),
                            });
                        }
                    }
                }
            }
        }
        Ok(RoomPermit { room, made: false })
    }

    /// The intermediate copy `id` of `kind` in `account` and `region` is gone: its room goes
    /// to the next copy waiting (R25), once per copy. A copy made in this run gives its room
    /// back whether this call deleted it or an earlier attempt whose answer was lost did; one
    /// made before the run only when `deleted_now` and the run has read that room (its first
    /// reading counted the copy).
    pub fn room_released(
        &self,
        account: AccountId,
        region: &Region,
        kind: SnapshotKind,
        id: &str,
        deleted_now: bool,
    ) {
        let room = locked(&self.rooms)
            .get(&(account, region.clone(), kind))
            .cloned();
        let Some(room) = room.filter(|r| r.read.initialized()) else {
            return;
        };
        let held = room.lock().holding.remove(id);
        if held || deleted_now {
            room.give();
        }
    }

    /// AWS refused a copy of `kind` in `account` and `region` for its manual-snapshot quota
    /// (R25): the room left is at most what `quota`, read just now, leaves beyond the margin
    /// and the copies about to be made. Nothing when this run keeps no room there (a target
    /// account, or a copy kept until teardown): a room read later starts from its own reading.
    pub fn room_refused(
        &self,
        account: AccountId,
        region: &Region,
        kind: SnapshotKind,
        quota: crate::aws::rds::ManualQuota,
    ) {
        let room = locked(&self.rooms)
            .get(&(account, region.clone(), kind))
            .cloned();
        let Some(room) = room.filter(|r| r.read.initialized()) else {
            return;
        };
        let margin = u64::from(self.config.manual_snapshot_margin);
        let mut state = room.lock();
        let left = crate::quota::headroom(quota, margin) - state.unmade;
        state.free = state.free.min(left);
    }

    /// Where this run keeps the ARN of the key a snapshot names as `key` and whether AWS
    /// manages it (R1): neither ever changes, so the first step to need them describes the
    /// key, the steps asking meanwhile wait for its answer, and later ones reuse it. A batch
    /// whose snapshots share a key describes it once, not twice per snapshot (R20).
    pub fn key_facts(&self, key: &str) -> Arc<KeyFacts> {
        Arc::clone(locked(&self.keys).entry(key.to_owned()).or_default())
    }

    /// Counts a copy of `gib` GiB into `region` as waiting on a guessed speed until the
    /// returned guard is dropped: the smallest of those, while others wait too, polls closely
    /// to teach them the speed ([`Guess::teaches`]).
    pub fn guessing(&self, region: &Region, gib: f64) -> Guess<'_> {
        let seq = self
            .guess_seq
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Whole MiB: sizes are whole GiB, so the order is exact.
        let key = ((gib.max(0.0) * 1024.0) as u64, seq);
        locked(&self.guessing)
            .entry(region.clone())
            .or_default()
            .insert(key);
        Guess {
            runtime: self,
            region: region.clone(),
            key,
        }
    }

    /// The wait configuration.
    pub fn config(&self) -> &WaitConfig {
        &self.config
    }

    /// Emits a progress event.
    pub fn emit(&self, event: ProgressEvent) {
        self.progress.event(&event);
    }

    fn slots(&self, account: AccountId, region: &Region) -> Arc<Slots> {
        let mut map = locked(&self.slots);
        Arc::clone(
            map.entry((account, region.clone()))
                .or_insert_with(|| Arc::new(Slots::new(self.config.copy_quota.max(1)))),
        )
    }

    /// Takes a copy slot of `account` in destination `region`, waiting while all are in use
    /// (R19); among waiters, the highest `priority` (a copy's size in GiB: the long poles of a
    /// batch first) gets the next free slot. The slot is released when dropped.
    pub async fn copy_slot(
        &self,
        account: AccountId,
        region: &Region,
        resource: &str,
        priority: u32,
    ) -> CopySlot {
        let slots = self.slots(account, region);
        let waiter = {
            let mut state = slots.lock();
            if state.take_free() {
                None
            } else {
                let (tx, rx) = tokio::sync::oneshot::channel();
                state.seq += 1;
                let key = (std::cmp::Reverse(priority), state.seq);
                state.waiting.insert(key, tx);
                Some((rx, state.quota))
            }
        };
        if let Some((rx, quota)) = waiter {
            self.emit(ProgressEvent::Queued {
                resource: resource.to_owned(),
                reason: format!("{quota} copies already in flight to {region} (R19)"),
            });
            // The sender is dropped only when it hands the slot over.
            let _ = rx.await;
        }
        CopySlot { slots }
    }

    /// AWS refused a copy with `SnapshotQuotaExceeded` although a slot was free: others
    /// (another tool, the console) copy too. Takes one slot away for the rest of the run,
    /// down to one, and returns the quota now used (R19).
    pub fn lower_copy_quota(&self, account: AccountId, region: &Region) -> usize {
        let slots = self.slots(account, region);
        let mut state = slots.lock();
        if state.quota > 1 {
            state.quota -= 1;
            state.take_now_or_next();
        }
        state.quota
    }

    /// Counts a copy found already running in `account` and destination `region` (started by
    /// an earlier run) until the returned slot is dropped, without waiting: it holds a place
    /// in AWS's quota whether or not one is free here, so when none is, the next slot given
    /// back is kept instead (R19).
    pub fn running_copy(&self, account: AccountId, region: &Region) -> CopySlot {
        let slots = self.slots(account, region);
        slots.lock().take_now_or_next();
        CopySlot { slots }
    }

    /// Takes what a copy of `source` into `account` and `region` needs to run: a copy slot
    /// there (R19) and the source's turn (AWS queues copies of one source one after another,
    /// and a queued copy would hold a slot while making no progress). A copy whose own account
    /// has no free slot lets a sibling with a free slot go first (a snapshot copied to two
    /// accounts goes first wherever there is room). Among copies waiting for a slot, the one
    /// with the most work left behind it goes first: its size times the copies of its source
    /// still to start (the long poles of a batch first).
    pub async fn copy_turn(
        &self,
        account: AccountId,
        region: &Region,
        source: &str,
        resource: &str,
        size_gb: u32,
    ) -> CopyTurn {
        let turns = {
            let mut map = locked(&self.sources);
            Arc::clone(map.entry(source.to_owned()).or_default())
        };
        let slots = self.slots(account, region);
        let pending = Pending::new(&turns);
        loop {
            let turn = turns.take().await;
            if let Some(slot) = slots.try_take() {
                return CopyTurn {
                    _slot: slot,
                    turn,
                    sources: Arc::clone(&self.sources),
                    source: source.to_owned(),
                };
            }
            drop(turn);
            let priority = size_gb.saturating_mul(pending.count().max(1));
            let slot = self.copy_slot(account, region, resource, priority).await;
            if let Some(turn) = turns.try_take() {
                return CopyTurn {
                    _slot: slot,
                    turn,
                    sources: Arc::clone(&self.sources),
                    source: source.to_owned(),
                };
            }
        }
    }

    /// How long a copy of `gib` GiB should take in `account` and `region` (R21), whether
    /// that comes from copies measured in this run or from the configured speed, and whether
    /// those copies' speeds agree closely.
    pub fn expected_copy_time(
        &self,
        account: AccountId,
        region: &Region,
        gib: f64,
    ) -> ExpectedCopy {
        // This account's copies, or else those of another account in the same region (the
        // copies run in the same place).
        let measured = {
            let speeds = locked(&self.speeds);
            let own = speeds.get(&(account, region.clone()));
            own.and_then(Speeds::estimate)
                .map(|speed| (speed, own.is_some_and(Speeds::agree)))
                .or_else(|| {
                    speeds
                        .iter()
                        .filter(|((_, r), _)| r == region)
                        .filter_map(|(_, speeds)| Some((speeds.estimate()?, speeds.agree())))
                        .reduce(|a, b| if b.0 > a.0 { b } else { a })
                })
        };
        let per_second = measured
            .map(|(speed, _)| speed)
            .unwrap_or(f64::from(self.config.copy_mib_per_second.max(1)) / 1024.0);
        ExpectedCopy {
            time: Duration::try_from_secs_f64(gib.max(1.0) / per_second)
                .unwrap_or(self.config.timeout),
            measured: measured.is_some(),
            agreed: measured.is_some_and(|(_, agreed)| agreed),
        }
    }

    /// Records a finished copy of `gib` GiB that ended between `after` and `before` (its last
    /// poll that saw it running and its first that saw it done, counted from its start), to
    /// plan the polls of the next ones from the upper quartile of the latest 21 speeds: above
    /// the small copies whose time is mostly fixed costs, below a lone fast reading that a
    /// coarse poll made look faster than it was. The middle of the two is recorded, so that
    /// the speed learnt is neither inflated by the poll delay nor by a slot wait.
    pub fn record_copy(
        &self,
        account: AccountId,
        region: &Region,
        gib: f64,
        after: Duration,
        before: Duration,
    ) {
        let elapsed = after + before.saturating_sub(after) / 2;
        self.learn(account, region, gib, elapsed, false);
    }

    /// Records a copy of `gib` GiB found done at its first poll, `elapsed` after it started:
    /// it took at most that long. That bound is learnt only when it proves the speed planned
    /// from too slow, so that later copies are not all noticed late (R21).
    pub fn record_copy_at_most(
        &self,
        account: AccountId,
        region: &Region,
        gib: f64,
        elapsed: Duration,
    ) {
        self.learn(account, region, gib, elapsed, true);
    }

    fn learn(&self, account: AccountId, region: &Region, gib: f64, elapsed: Duration, bound: bool) {
        let secs = elapsed.as_secs_f64();
        if secs <= 0.0 || gib <= 0.0 {
            return;
        }
        let speed = gib / secs;
        // A copy is long when its close polls would not be cut to the initial interval.
        let long = self.config.initial_interval.as_secs_f64() / Backoff::NEAR_END_STEP_AGREED;
        let faster = {
            let mut speeds = locked(&self.speeds);
            let entry = speeds.entry((account, region.clone())).or_default();
            let before = entry.estimate();
            if let (Some(before), false) = (before, bound) {
                let foreseen = gib / before;
                if foreseen >= long {
                    entry.judge((secs - foreseen).abs() <= Backoff::NEAR_END_AGREED * foreseen);
                }
            }
            if bound && before.is_some_and(|b| b >= speed) {
                return;
            }
            entry.record(speed);
            before.is_none_or(|b| entry.estimate().is_some_and(|now| now > b))
        };
        if faster {
            self.learned.notify_waiters();
        }
    }

    /// Completes when a copy of this run has taught a faster speed (see
    /// [`record_copy`](Self::record_copy)): a waiter planned on a guess re-plans then instead
    /// of at its next poll. Create it before reading [`expected_copy_time`](Self::expected_copy_time).
    pub fn speed_learned(&self) -> tokio::sync::futures::Notified<'_> {
        self.learned.notified()
    }
}

/// How many times a step is run again after throttling that outlasted the SDK's own retries
/// (R20).
pub(crate) const THROTTLED_RETRIES: u32 = 8;

/// Runs an idempotent step (a resource's preflight, deploy or teardown, a read) again while
/// AWS throttles it past the SDK's own retries (R20), pausing with `backoff`, up to
/// [`THROTTLED_RETRIES`] times.
pub(crate) async fn again_while_throttled<T, E, F, Fut>(
    what: &str,
    mut backoff: Backoff,
    is_throttled: fn(&E) -> bool,
    mut step: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut attempts = 0;
    loop {
        // The answer is gone before the pause: a waiting step does not carry it.
        match step().await {
            Err(e) if is_throttled(&e) && attempts < THROTTLED_RETRIES => {}
            other => return other,
        }
        attempts += 1;
        tracing::info!(%what, attempts, "throttled; running the step again");
        backoff.pause().await;
    }
}

/// Capped exponential backoff with heartbeats and a timeout.
#[derive(Debug)]
pub struct Backoff {
    interval: Duration,
    max: Duration,
    started: Instant,
    timeout: Duration,
    heartbeat: Duration,
    last_heartbeat: Instant,
    first: Option<Duration>,
    growth: f64,
    /// Until this much time has passed, the interval does not grow.
    steady: Duration,
}

impl Backoff {
    /// How close to a measured expected end polls start, as a fraction of the expectation:
    /// from that much before it until that much after it, polls are steady.
    const NEAR_END: f64 = 0.05;
    /// The pause between polls there, as a fraction of the expectation.
    const NEAR_END_STEP: f64 = 1.0 / 40.0;
    /// The same when the run's copies end where foreseen (see [`ExpectedCopy::agreed`]).
    const NEAR_END_AGREED: f64 = 0.025;
    /// The pause between polls then.
    const NEAR_END_STEP_AGREED: f64 = 1.0 / 120.0;

    /// A backoff from `config`, starting now.
    pub fn new(config: &WaitConfig) -> Backoff {
        let now = Instant::now();
        Backoff {
            interval: config.initial_interval,
            max: config.max_interval,
            started: now,
            timeout: config.timeout,
            heartbeat: config.heartbeat,
            last_heartbeat: now,
            first: None,
            growth: 2.0,
            steady: Duration::ZERO,
        }
    }

    /// When the wait started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether the timeout has passed.
    pub fn timed_out(&self) -> bool {
        self.elapsed() >= self.timeout
    }

    /// Whether a heartbeat is due (and marks it sent).
    pub fn heartbeat_due(&mut self) -> bool {
        if self.last_heartbeat.elapsed() >= self.heartbeat {
            self.last_heartbeat = Instant::now();
            true
        } else {
            false
        }
    }

    /// Sleeps for the current interval, then doubles it up to the cap.
    pub async fn pause(&mut self) {
        tokio::time::sleep(self.interval).await;
        self.interval = (self.interval * 2).min(self.max);
    }

    /// A backoff for work expected to take `expected` (a copy of known size, R21). With a
    /// measured expectation, the first pause lasts until 95 % of it has passed, and later
    /// ones last a fortieth of it (at most `max_interval`) until 105 % of it has passed, then
    /// grow by half each time: a copy is noticed soon after it ends (its slot idles until
    /// then), with a handful of polls whatever its length. When the run's latest long copies
    /// ended where foreseen ([`ExpectedCopy::agreed`]), the polls start at 97.5 % and come
    /// every 120th until 102.5 %: a copy is
    /// noticed three times sooner for one poll more. With a guessed one, pauses
    /// double from the initial interval up to an eighth of the guess, so a wrong guess costs
    /// a few polls, not a long wait.
    pub fn for_expected(config: &WaitConfig, expected: ExpectedCopy) -> Backoff {
        let mut backoff = Backoff::new(config);
        if expected.measured {
            backoff.replan(config, expected);
        } else {
            backoff.max = config.max_interval.max(expected.time / 8);
        }
        backoff
    }

    /// Makes the next pause a twelfth of the time waited so far (at least the initial
    /// interval, at most the cap): a copy that teaches the speed is then seen done at most
    /// a twelfth after it ended, and the speed it teaches is within 4 % (R21).
    pub fn close(&mut self, config: &WaitConfig) {
        // Not `clamp`, which panics on a bound pair out of order ([`WaitConfig::check`]
        // refuses such a config where it is given; this stays safe regardless).
        self.interval = (self.elapsed() / 12)
            .max(config.initial_interval)
            .min(config.max_interval);
    }

    /// Plans the rest of the wait from a measured expectation, counting the time already
    /// waited: a wait that began on a guessed speed switches as soon as a copy of the run has
    /// been measured (R21).
    pub fn replan(&mut self, config: &WaitConfig, expected: ExpectedCopy) {
        let (near, step) = if expected.agreed {
            (Self::NEAR_END_AGREED, Self::NEAR_END_STEP_AGREED)
        } else {
            (Self::NEAR_END, Self::NEAR_END_STEP)
        };
        let expected = expected.time;
        let lead = expected.mul_f64(near);
        self.first = Some(
            expected
                .saturating_sub(lead)
                .saturating_sub(self.elapsed())
                .max(config.initial_interval),
        );
        self.interval = expected
            .mul_f64(step)
            .max(config.initial_interval)
            .min(config.max_interval);
        self.max = config.max_interval;
        self.growth = 1.5;
        self.steady = expected + lead;
    }

    /// The next pause: the first of [`for_expected`](Self::for_expected), then the growing
    /// interval. A long pause is cut at each heartbeat, so that `on_heartbeat` can tell the
    /// user the work goes on.
    pub async fn pause_with(&mut self, mut on_heartbeat: impl FnMut(Duration)) {
        let total = match self.first.take() {
            Some(first) => first,
            None => {
                let now = self.interval;
                if self.elapsed() >= self.steady {
                    self.interval = self.interval.mul_f64(self.growth).min(self.max);
                }
                now
            }
        };
        let until = Instant::now() + total;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            tokio::time::sleep(left.min(self.heartbeat)).await;
            if self.heartbeat_due() {
                on_heartbeat(self.elapsed());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime with short waits and `quota` copy slots per account and region.
    fn with_quota(quota: usize) -> Runtime {
        Runtime::new(
            WaitConfig {
                copy_quota: quota,
                ..WaitConfig::fast()
            },
            Arc::new(TracingProgress),
        )
    }

    /// The account and region the tests copy into.
    fn here() -> (AccountId, Region) {
        (
            "111111111111".parse().unwrap(),
            "us-east-1".parse().unwrap(),
        )
    }

    // R19: slots bound copies in flight per account and destination region.
    #[tokio::test]
    async fn r19_copy_slots_bound_copies_in_flight() {
        let runtime = with_quota(2);
        let (account, region) = here();
        let a = runtime.copy_slot(account, &region, "a", 1).await;
        let _b = runtime.copy_slot(account, &region, "b", 1).await;
        let third = tokio::time::timeout(
            Duration::from_millis(50),
            runtime.copy_slot(account, &region, "c", 1),
        )
        .await;
        assert!(third.is_err(), "a third copy must wait");
        drop(a);
        tokio::time::timeout(
            Duration::from_millis(50),
            runtime.copy_slot(account, &region, "c", 1),
        )
        .await
        .unwrap();
        // Another region has its own slots.
        let other: Region = "us-west-2".parse().unwrap();
        tokio::time::timeout(
            Duration::from_millis(50),
            runtime.copy_slot(account, &other, "d", 1),
        )
        .await
        .unwrap();
    }

    // R19: copies of one source run one at a time, and a copy whose account is full lets its
    // sibling into an account with room go first instead of holding the source's turn.
    #[tokio::test(start_paused = true)]
    async fn r19_a_copy_into_a_full_account_lets_its_sibling_go_first() {
        let runtime = Arc::new(with_quota(1));
        let (b, c): (AccountId, AccountId) = (
            "222222222222".parse().unwrap(),
            "333333333333".parse().unwrap(),
        );
        let region: Region = "us-east-1".parse().unwrap();
        // B's only slot is taken by another snapshot's copy.
        let busy = runtime.copy_slot(b, &region, "other", 1).await;
        let into_b = {
            let (runtime, region) = (Arc::clone(&runtime), region.clone());
            tokio::spawn(async move { runtime.copy_turn(b, &region, "src", "to-b", 10).await })
        };
        tokio::task::yield_now().await;
        // The copy into C starts at once, though the copy into B asked first.
        let into_c = tokio::time::timeout(
            Duration::from_secs(1),
            runtime.copy_turn(c, &region, "src", "to-c", 10),
        )
        .await
        .expect("the copy into C does not wait for B's slot");
        // B's slot frees up: the copy into B still waits for the source's turn.
        drop(busy);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!into_b.is_finished(), "one copy of a source at a time");
        drop(into_c);
        tokio::time::timeout(Duration::from_secs(1), into_b)
            .await
            .expect("the copy into B starts once the copy into C is done")
            .unwrap();
        assert!(
            runtime.sources.lock().unwrap().is_empty(),
            "a source whose copies are done is forgotten"
        );
    }

    // R19: a copy found running (started by an earlier run) holds a slot at once, even past
    // the quota: AWS counts it, so the next slot given back is kept for it.
    #[tokio::test]
    async fn r19_a_copy_found_running_counts_against_the_quota() {
        let runtime = with_quota(2);
        let (account, region) = here();
        let started = runtime.copy_slot(account, &region, "a", 1).await;
        let found = runtime.running_copy(account, &region);
        let slots = runtime.slots(account, &region);
        assert_eq!(slots.lock().free, 0);
        let found_too = runtime.running_copy(account, &region);
        assert_eq!(
            slots.lock().owed,
            1,
            "three copies run against a quota of two"
        );
        drop(started);
        let (free, owed) = {
            let state = slots.lock();
            (state.free, state.owed)
        };
        assert_eq!((free, owed), (0, 0), "the slot given back is kept");
        drop((found, found_too));
        assert_eq!(slots.lock().free, 2);
    }

    // R21: of the copies waiting on a guessed speed in one region, the smallest teaches the
    // speed to the others, so it alone polls closely; a copy waiting alone does not.
    #[tokio::test(start_paused = true)]
    async fn r21_the_smallest_copy_on_a_guess_teaches_the_speed() {
        let runtime = Runtime::new(WaitConfig::default(), Arc::new(TracingProgress));
        let tokyo: Region = "ap-northeast-1".parse().unwrap();
        let ohio: Region = "us-east-2".parse().unwrap();
        let big = runtime.guessing(&tokyo, 500.0);
        assert!(!big.teaches(), "alone, nobody waits for its speed");
        let small = runtime.guessing(&tokyo, 8.0);
        let elsewhere = runtime.guessing(&ohio, 1.0);
        assert!(small.teaches());
        assert!(!big.teaches());
        assert!(
            !elsewhere.teaches(),
            "another region's copies are another matter"
        );
        drop(big);
        assert!(
            !small.teaches(),
            "once the others know the speed, it polls as usual"
        );
        drop((small, elsewhere));
        assert!(runtime.guessing.lock().unwrap().is_empty());

        // Its pauses are a twelfth of the time waited, between the initial interval and the cap.
        let config = WaitConfig::default();
        let guessed = ExpectedCopy {
            time: Duration::from_secs(1200),
            measured: false,
            agreed: false,
        };
        let mut backoff = Backoff::for_expected(&config, guessed);
        backoff.close(&config);
        assert_eq!(backoff.interval, config.initial_interval);
        tokio::time::advance(Duration::from_secs(240)).await;
        backoff.close(&config);
        assert_eq!(backoff.interval, Duration::from_secs(20));
        tokio::time::advance(Duration::from_secs(3600)).await;
        backoff.close(&config);
        assert_eq!(backoff.interval, config.max_interval);
    }

    // R21: a copy found done at its first poll proves a speed planned from too slow, and
    // raises it; a bound slower than what is known teaches nothing.
    #[test]
    fn r21_a_copy_done_at_its_first_poll_raises_a_speed_too_slow() {
        let runtime = Runtime::new(WaitConfig::fast(), Arc::new(TracingProgress));
        let (account, region) = here();
        let secs = |gib: f64| {
            runtime
                .expected_copy_time(account, &region, gib)
                .time
                .as_secs()
        };
        // 100 GiB between 190 s and 210 s: 200 s.
        runtime.record_copy(
            account,
            &region,
            100.0,
            Duration::from_secs(190),
            Duration::from_secs(210),
        );
        assert_eq!(secs(100.0), 200);
        runtime.record_copy_at_most(account, &region, 100.0, Duration::from_secs(300));
        assert_eq!(secs(100.0), 200, "a slower bound is no news");
        runtime.record_copy_at_most(account, &region, 100.0, Duration::from_secs(100));
        assert_eq!(
            secs(100.0),
            100,
            "done within 100 s: the speed was too slow"
        );
    }

    // R21: the first poll, planned from a measured speed, comes at 95 % of the expected time,
    // then polls come every fortieth of it until 105 %, then grow by half; when the run's
    // speeds agree, from 97.5 %, every 120th, until 102.5 %.
    #[tokio::test(start_paused = true)]
    async fn r21_polls_stay_close_around_the_expected_end() {
        let config = WaitConfig::default();
        let polls = |agreed: bool| async move {
            let time = Duration::from_secs(if agreed { 1200 } else { 1000 });
            let expected = ExpectedCopy {
                time,
                measured: true,
                agreed,
            };
            let mut backoff = Backoff::for_expected(&config, expected);
            let mut at = Vec::new();
            for _ in 0..9 {
                backoff.pause_with(|_| {}).await;
                at.push(backoff.elapsed().as_secs());
            }
            at
        };
        assert_eq!(
            polls(false).await,
            [950, 975, 1000, 1025, 1050, 1075, 1112, 1168, 1228]
        );
        assert_eq!(
            polls(true).await,
            [1170, 1180, 1190, 1200, 1210, 1220, 1230, 1240, 1255]
        );
    }

    // R21: copies are polled closely once the latest three long copies all ended within
    // 2.5 % of where their speed foresaw; one that ends elsewhere, or a short one, does not
    // count towards it.
    #[test]
    fn r21_close_polls_once_long_copies_end_where_foreseen() {
        let runtime = Runtime::new(WaitConfig::default(), Arc::new(TracingProgress));
        let (account, region) = here();
        let agreed = || runtime.expected_copy_time(account, &region, 100.0).agreed;
        let copy = |gib: f64, secs: f64| {
            let elapsed = Duration::from_secs_f64(secs);
            runtime.record_copy(account, &region, gib, elapsed, elapsed);
        };
        // 1 GiB a second, and copies of 600 GiB (long: 600 s against 120 x 5 s).
        copy(600.0, 600.0);
        for _ in 0..2 {
            copy(600.0, 610.0);
        }
        assert!(!agreed(), "two foreseen copies are too few");
        for _ in 0..5 {
            copy(10.0, 15.0);
        }
        assert!(!agreed(), "short copies do not count");
        copy(600.0, 600.0);
        assert!(agreed());
        copy(600.0, 700.0);
        assert!(!agreed(), "a copy far from its foreseen end");
    }

    // R19, R21: a free slot goes to the biggest waiting copy, the long pole of a batch; a
    // lowered quota takes a slot back as it is released.
    #[tokio::test]
    async fn r19_slots_go_to_the_biggest_copy_first_and_a_lowered_quota_holds() {
        let runtime = Arc::new(with_quota(2));
        let (account, region) = here();
        let first = runtime.copy_slot(account, &region, "first", 1).await;
        let second = runtime.copy_slot(account, &region, "second", 1).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for size in [5u32, 500, 50] {
            let (runtime, region, order) =
                (Arc::clone(&runtime), region.clone(), Arc::clone(&order));
            waiters.push(tokio::spawn(async move {
                let slot = runtime.copy_slot(account, &region, "w", size).await;
                order.lock().unwrap().push(size);
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(slot);
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // AWS refused one: the quota drops to 1, and the next release does not hand over.
        assert_eq!(runtime.lower_copy_quota(account, &region), 1);
        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(order.lock().unwrap().is_empty(), "the owed slot was kept");
        drop(second);
        for w in waiters {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [500, 50, 5]);
    }

    #[tokio::test]
    async fn backoff_doubles_up_to_the_cap_and_times_out() {
        let config = WaitConfig {
            initial_interval: Duration::from_millis(1),
            max_interval: Duration::from_millis(4),
            timeout: Duration::from_millis(30),
            ..WaitConfig::fast()
        };
        let mut backoff = Backoff::new(&config);
        for _ in 0..4 {
            backoff.pause().await;
        }
        assert_eq!(backoff.interval, Duration::from_millis(4));
        while !backoff.timed_out() {
            backoff.pause().await;
        }
        assert!(backoff.elapsed() >= Duration::from_millis(30));
    }
}
