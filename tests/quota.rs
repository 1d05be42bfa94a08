//! The manual-snapshot quota (R25) against the fake AWS: a fleet keeps its intermediate copies
//! within the source's headroom and releases them as it goes, a target without room is refused
//! before any change, a full manual quota fails fast without touching the copy quota, and a
//! crash in the middle of a release resumes without an orphan.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use snapshift::{
    aws::Account,
    engine::{Action, Progress, ProgressEvent, Stack, WaitConfig},
    error::Error,
    fleet::{FleetMigration, OutcomeStatus},
    ids::{AccountId, Region, SnapshotKind, SnapshotRef},
    key::ShareableKey,
    migration::SnapshotMigration,
    resources::KeyResource,
    testing::{sdk_config_for, AwsFault, FakeAws, Fault, SeedSnapshot, VirtualClock},
};

const A: &str = "111111111111";
const B: &str = "222222222222";
const C: &str = "333333333333";
const CLUSTER: SnapshotKind = SnapshotKind::Cluster;

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn region() -> Region {
    "ap-northeast-1".parse().unwrap()
}

fn arn(snapshot: &str) -> SnapshotRef {
    format!("arn:aws:rds:ap-northeast-1:{A}:cluster-snapshot:{snapshot}")
        .parse()
        .unwrap()
}

/// Collects progress events.
#[derive(Default)]
struct Events(Mutex<Vec<ProgressEvent>>);

impl Progress for Events {
    fn event(&self, event: &ProgressEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Events {
    fn all(&self) -> Vec<ProgressEvent> {
        self.0.lock().unwrap().clone()
    }
}

struct World {
    fake: FakeAws,
    a: Account,
    b: Account,
    c: Account,
    dir: PathBuf,
}

async fn world(test: &str) -> World {
    let fake = FakeAws::start().await;
    fake.set_copy_time(Duration::from_millis(3));
    let a = fake.account(id(A)).await;
    let b = fake.account(id(B)).await;
    let c = fake.account(id(C)).await;
    world_with(test, fake, a, b, c)
}

/// A world on simulated time: call it in a paused runtime.
async fn world_on_virtual_clock(test: &str) -> World {
    let fake = FakeAws::start().await;
    fake.follow_request_clock();
    let clock = VirtualClock::start().latency(Duration::from_millis(200));
    let mut accounts = Vec::new();
    for account in [A, B, C] {
        let config = sdk_config_for(
            &fake.uri(),
            &fake.access_key(id(account)),
            Some(clock.clone()),
        )
        .await;
        accounts.push(Account::from_config(id(account), config));
    }
    let c = accounts.pop().unwrap();
    let b = accounts.pop().unwrap();
    let a = accounts.pop().unwrap();
    world_with(test, fake, a, b, c)
}

fn world_with(test: &str, fake: FakeAws, a: Account, b: Account, c: Account) -> World {
    let dir = std::env::temp_dir().join(format!("snapshift-quota-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    World { fake, a, b, c, dir }
}

impl World {
    /// `n` manual cluster snapshots in A of mixed sizes, named `snap-<i>`.
    fn seed_batch(&self, n: usize) {
        for i in 0..n {
            seed(
                self,
                i,
                [30, 5, 12, 50, 8, 20, 3, 40][i % 8],
                Some("alias/aws/rds"),
            );
        }
    }

    /// `n` unrelated manual cluster snapshots in `account`.
    fn fill(&self, account: &str, n: usize) {
        for i in 0..n {
            self.fake
                .seed_snapshot(SeedSnapshot::cluster(
                    id(account),
                    &region(),
                    &format!("other-{i}"),
                    "other",
                    None,
                ))
                .unwrap();
        }
    }

    async fn fleet(&self, n: usize, targets: &[&Account]) -> snapshift::fleet::ResolvedFleet {
        let mut fleet = FleetMigration::new(&self.a, region())
            .snapshots((0..n).map(|i| arn(&format!("snap-{i}"))));
        for t in targets {
            fleet = fleet.to(t);
        }
        fleet.resolve().await.unwrap()
    }

    fn stack(&self) -> Stack {
        self.stack_with(WaitConfig::fast())
    }

    fn stack_with(&self, wait: WaitConfig) -> Stack {
        Stack::new("quota").unwrap().state_dir(&self.dir).wait(wait)
    }

    fn count(&self, account: &str) -> usize {
        self.fake
            .manual_snapshot_count(id(account), &region(), CLUSTER)
    }

    fn peak(&self, account: &str) -> usize {
        self.fake
            .peak_manual_snapshots(id(account), &region(), CLUSTER)
    }

    /// The snapshift copies in A (intermediate copies): those copied from a source.
    fn intermediates(&self) -> Vec<snapshift::testing::FakeSnapshot> {
        self.fake
            .snapshots(id(A), &region())
            .into_iter()
            .filter(|s| s.copied_from.is_some())
            .collect()
    }
}

// R25, the acceptance case: 60 manual snapshots moved out of an account with the default quota
// of 100 need 120 manual snapshots if every intermediate copy is kept. Released as it goes,
// with at most Max - Used - margin (100 - 60 - 5 = 35) alive at once, the fleet finishes, every
// snapshot moved, and AWS never refuses a copy.
#[tokio::test]
async fn r25_a_fleet_of_60_into_a_source_quota_of_100_stays_within_its_headroom() {
    let w = world("sixty").await;
    w.seed_batch(60);
    let fleet = w.fleet(60, &[&w.b, &w.c]).await;
    let mut stack = w.stack();
    let handles = stack.add_fleet("sixty", fleet).unwrap();
    let report = stack.deploy().await.unwrap();
    let outcomes = handles.outcomes(&report).unwrap();
    assert_eq!(outcomes.len(), 120);
    assert!(outcomes
        .iter()
        .all(|o| matches!(o.status, OutcomeStatus::Done(_))));
    let peak = w.peak(A);
    assert!(
        peak <= 95,
        "A held {peak} manual cluster snapshots at once: past Max - margin"
    );
    assert!(
        peak - 60 <= 35,
        "{} intermediate copies alive at once",
        peak - 60
    );
    assert!(w.intermediates().is_empty(), "every copy released");
    assert_eq!(w.count(B), 60);
    assert_eq!(w.count(C), 60);
    let refused = w
        .fake
        .calls()
        .iter()
        .filter(|c| c.error.as_deref() == Some("SnapshotQuotaExceeded"))
        .count();
    assert_eq!(refused, 0, "AWS never had to refuse a copy");
    // Teardown has less to do: the key only (the shares and copies are gone).
    let down = stack.teardown().await.unwrap();
    assert!(
        down.removed
            .iter()
            .all(|(resource, _)| resource.contains("-key-")),
        "{:?}",
        down.removed
    );
    assert_eq!(w.count(B), 60, "the target copies are kept");
}

// R25: a target whose quota cannot hold the copies it will keep stops the deploy in preflight,
// before any mutating call, within seconds of simulated time, naming the account, region,
// kind, used, max, needed and the Service Quotas quota to raise. The preview says so first.
#[tokio::test(start_paused = true)]
async fn r25_a_target_without_room_is_refused_before_any_change() {
    let w = world_on_virtual_clock("no-room").await;
    w.seed_batch(5);
    w.fake
        .set_manual_snapshot_quota(id(B), &region(), CLUSTER, 3);
    w.fill(B, 1);
    let fleet = w.fleet(5, &[&w.b, &w.c]).await;
    let mut stack = w.stack();
    stack.add_fleet("full", fleet).unwrap();
    let plan = stack.preview().await.unwrap();
    let first = &plan.changes[0];
    assert_eq!(first.kind, "quota-check");
    assert!(first.reason.contains("would stop here"), "{first:?}");
    assert!(
        first
            .details
            .iter()
            .any(|d| d.starts_with("no room: account 222222222222")),
        "{:?}",
        first.details
    );
    w.fake.clear_log();
    let started = tokio::time::Instant::now();
    let err = stack.deploy().await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, Error::QuotaPreflight { .. }), "{err}");
    assert_eq!(err.rule(), Some(snapshift::rules::Rule::R25));
    let text = err.to_string();
    for part in [
        "account 222222222222 in ap-northeast-1 holds 1 of 3 manual DB cluster snapshots",
        "needs room for the 5 copies it will keep",
        "\"Manual DB cluster snapshots\" (service rds) by at least 3",
        "nothing was changed",
    ] {
        assert!(text.contains(part), "{part:?} not in {text}");
    }
    assert!(!text.contains("333333333333"), "C has room: {text}");
    assert_eq!(w.fake.mutating_calls(), Vec::new(), "no mutating call");
    assert!(
        elapsed < Duration::from_secs(5),
        "refused after {elapsed:?} of simulated time"
    );
}

// R25 against R19: the same code, SnapshotQuotaExceeded, means a full manual-snapshot quota
// when DescribeAccountAttributes says Used has reached Max. No waiting frees it: each copy
// into the full account fails at once (with keep_going, only its snapshot), naming the
// account and the counts, and the copy quota is not lowered.
#[tokio::test]
async fn r25_a_full_manual_quota_fails_fast_and_leaves_the_copy_quota() {
    let w = world("fail-fast").await;
    w.fake.set_copy_time(Duration::from_millis(40));
    w.seed_batch(2);
    // Room for both copies at preflight; another tool fills B right after it.
    w.fake
        .set_manual_snapshot_quota(id(B), &region(), CLUSTER, 2);
    let fleet = w.fleet(2, &[&w.b]).await;
    let events = Arc::new(Events::default());
    let mut stack = w.stack().progress(events.clone());
    let handles = stack.add_fleet("ff", fleet).unwrap();
    let deploy = stack.deploy();
    let fill = async {
        while w.fake.count("CreateKey") == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        w.fill(B, 2);
    };
    let (result, ()) = tokio::join!(deploy, fill);
    let Err(Error::Incomplete { report }) = result else {
        panic!("the deploy should end incomplete: {result:?}");
    };
    let outcomes = handles.outcomes(&report).unwrap();
    for outcome in &outcomes {
        let OutcomeStatus::Failed(resource, error) = &outcome.status else {
            panic!("{outcome}");
        };
        assert!(resource.ends_with(&format!("-to-{B}")), "{resource}");
        for part in [
            "account 222222222222 in ap-northeast-1 holds 2 of 2 manual DB cluster snapshots",
            "Manual DB cluster snapshots",
            "(R25)",
        ] {
            assert!(error.contains(part), "{part:?} not in {error}");
        }
    }
    // Refused once each: no retry, no back-pressure, the copy quota as it was.
    let refused = w
        .fake
        .calls()
        .iter()
        .filter(|c| c.error.as_deref() == Some("SnapshotQuotaExceeded"))
        .count();
    assert_eq!(refused, 2);
    let lowered = events.all().into_iter().any(
        |e| matches!(&e, ProgressEvent::Queued { reason, .. } if reason.contains("copy quota")),
    );
    assert!(!lowered, "the copy quota was lowered");
}

// R25 with R19: a refusal for copies in flight (the copy quota) while the manual quota has
// room is still back-pressure: the copy waits and succeeds.
#[tokio::test]
async fn r25_r19_a_copy_quota_refusal_with_room_is_back_pressure() {
    let w = world("back-pressure").await;
    w.seed_batch(2);
    w.fake.inject(
        "CopyDBClusterSnapshot",
        1,
        Fault::Error(AwsFault::new(
            "SnapshotQuotaExceeded",
            "Cannot copy the snapshot because the maximum number of snapshot copies in progress has been reached.",
        )),
    );
    let fleet = w.fleet(2, &[&w.b]).await;
    let events = Arc::new(Events::default());
    let mut stack = w.stack().progress(events.clone());
    let handles = stack.add_fleet("bp", fleet).unwrap();
    let report = stack.deploy().await.unwrap();
    assert!(handles
        .outcomes(&report)
        .unwrap()
        .iter()
        .all(|o| matches!(o.status, OutcomeStatus::Done(_))));
    assert!(events.all().into_iter().any(|e| {
        matches!(&e, ProgressEvent::Queued { reason, .. } if reason.contains("copy quota"))
    }));
}

// R25, R8: a crash after the release removed the shares and before it deleted the intermediate
// copy. The state recorded both steps: the next deploy deletes the copy (and shares nothing
// again), teardown then has only the key left; nothing is orphaned, the targets keep theirs.
#[tokio::test]
async fn r25_a_crash_between_unsharing_and_deleting_the_copy_resumes_without_an_orphan() {
    let w = world("crash-release").await;
    w.seed_batch(2);
    let fleet = w.fleet(2, &[&w.b, &w.c]).await;
    let mut stack = w.stack();
    stack.add_fleet("cr", fleet).unwrap();
    w.fake.inject(
        "DeleteDBClusterSnapshot",
        1,
        Fault::crash("InvalidDBClusterSnapshotStateFault"),
    );
    let Err(Error::Incomplete { report }) = stack.deploy().await else {
        panic!("the release should fail once");
    };
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    assert!(report.failed.keys().all(|r| r.ends_with("-release")));
    let left = w.intermediates();
    assert_eq!(left.len(), 1, "one intermediate copy left by the crash");
    assert!(
        left[0].shared_with.is_empty(),
        "its shares were removed before the crash"
    );
    w.fake.clear_log();
    let fleet = w.fleet(2, &[&w.b, &w.c]).await;
    let mut rerun = w.stack();
    rerun.add_fleet("cr", fleet).unwrap();
    rerun.deploy().await.unwrap();
    assert!(
        w.intermediates().is_empty(),
        "the resumed release deleted it"
    );
    let calls = w.fake.calls();
    for op in ["CopyDBClusterSnapshot", "ModifyDBClusterSnapshotAttribute"] {
        assert!(
            calls.iter().all(|c| c.operation != op),
            "the re-run made {op} again"
        );
    }
    assert_eq!((w.count(B), w.count(C)), (2, 2));
    rerun.teardown().await.unwrap();
    assert_eq!(w.count(A), 2, "the sources only");
    assert_eq!(
        (w.count(B), w.count(C)),
        (2, 2),
        "the target copies are kept"
    );
    assert!(w.fake.keys(id(A), &region())[0]
        .state
        .contains("PendingDeletion"));
}

// The same crash, then teardown instead of a deploy: the share and copy resources look again
// and remove what the release did not.
#[tokio::test]
async fn r25_teardown_after_a_crashed_release_leaves_no_orphan() {
    let w = world("crash-teardown").await;
    w.seed_batch(1);
    let fleet = w.fleet(1, &[&w.b]).await;
    let mut stack = w.stack();
    stack.add_fleet("ct", fleet).unwrap();
    // The share's removal went through, its answer was lost; then the delete failed.
    w.fake.inject(
        "ModifyDBClusterSnapshotAttribute",
        2,
        Fault::ErrorAfterApply(AwsFault::new("InternalFailure", "injected").status(400)),
    );
    assert!(stack.deploy().await.is_err());
    assert_eq!(w.intermediates().len(), 1);
    stack.teardown().await.unwrap();
    assert!(w.intermediates().is_empty(), "teardown deleted the copy");
    assert_eq!(w.count(B), 1, "the target copy is kept");
}

// R25: a single migration keeps its intermediate copy until teardown unless asked, and the
// preview says which; asked, the copy and the share go once the target holds its copy.
#[tokio::test]
async fn r25_a_single_migration_releases_only_when_asked_and_says_which() {
    for release in [false, true] {
        let w = world(&format!("single-{release}")).await;
        w.seed_batch(1);
        let mut stack = w.stack();
        let key = ShareableKey::new().grant_account(id(B)).build().unwrap();
        let key = stack
            .add("key", KeyResource::new(&w.a, region(), key).unwrap())
            .unwrap();
        let handles = stack
            .add_migration(
                "m",
                SnapshotMigration::new(&w.a, arn("snap-0"))
                    .via(&key)
                    .to(&w.b)
                    .release_as_you_go(release),
            )
            .unwrap();
        assert_eq!(handles.release.is_some(), release);
        let plan = stack.preview().await.unwrap();
        let copy = plan
            .changes
            .iter()
            .find(|c| c.resource == "m-copy")
            .unwrap();
        let said = copy.details.join(" ");
        if release {
            assert!(said.contains("released as it goes"), "{said}");
            let line = plan
                .changes
                .iter()
                .find(|c| c.resource == "m-release")
                .unwrap();
            assert_eq!(line.action, Action::Delete);
        } else {
            assert!(said.contains("kept until teardown"), "{said}");
            assert!(plan.changes.iter().all(|c| c.kind != "release"));
        }
        let quota = plan
            .changes
            .iter()
            .find(|c| c.kind == "quota-check")
            .unwrap();
        assert!(quota.details.iter().any(|d| d.starts_with("target")));
        stack.deploy().await.unwrap();
        assert_eq!(w.intermediates().is_empty(), release);
        stack.teardown().await.unwrap();
        assert!(w.intermediates().is_empty());
        assert_eq!(w.count(B), 1);
    }
}

// R25: when DescribeAccountAttributes is denied, the preview says so and the fleet keeps at
// most the configured fallback of intermediate copies alive.
#[tokio::test]
async fn r25_an_unreadable_quota_is_said_and_the_fallback_headroom_holds() {
    let w = world("fallback").await;
    w.seed_batch(8);
    w.fake.set_caller_policy(
        id(A),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:*","rds:*Snapshot*","rds:*Tags*","rds:DescribeDB*","tag:*","sts:*"],"Resource":"*"}]}"#,
    );
    let fleet = w.fleet(8, &[&w.b, &w.c]).await;
    let mut stack = w.stack_with(WaitConfig {
        manual_snapshot_fallback: 2,
        ..WaitConfig::fast()
    });
    let handles = stack.add_fleet("fb", fleet).unwrap();
    let plan = stack.preview().await.unwrap();
    let said = plan.changes[0].details.join("\n");
    assert!(
        said.contains("the quota cannot be read (")
            && said.contains("assuming room for 2 intermediate copies"),
        "{said}"
    );
    let report = stack.deploy().await.unwrap();
    assert!(handles
        .outcomes(&report)
        .unwrap()
        .iter()
        .all(|o| matches!(o.status, OutcomeStatus::Done(_))));
    assert!(w.peak(A) - 8 <= 2, "{} alive at once", w.peak(A) - 8);
}

// R25: when the copies holding the source's headroom belong to snapshots that go no further
// (their target copies failed: the target filled up after preflight), no room will come
// back. The copies waiting for it fail within moments, saying why, instead of waiting
// forever; the deploy ends, incomplete, and names each snapshot.
#[tokio::test]
async fn r25_copies_waiting_for_room_that_cannot_come_fail_instead_of_waiting_forever() {
    let w = world("stuck").await;
    w.fake.set_copy_time(Duration::from_millis(20));
    w.seed_batch(6);
    // Headroom 2 (13 - 6 - 5), one per copy slot.
    w.fake
        .set_manual_snapshot_quota(id(A), &region(), CLUSTER, 13);
    w.fake
        .set_manual_snapshot_quota(id(B), &region(), CLUSTER, 6);
    let fleet = w.fleet(6, &[&w.b]).await;
    let mut stack = w.stack_with(WaitConfig {
        copy_quota: 2,
        ..WaitConfig::fast()
    });
    let handles = stack.add_fleet("stuck", fleet).unwrap();
    let fill = async {
        while w.fake.count("CreateKey") == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        w.fill(B, 6);
    };
    let deploy = tokio::time::timeout(Duration::from_secs(30), stack.deploy());
    let (result, ()) = tokio::join!(deploy, fill);
    let Ok(Err(Error::Incomplete { report })) = result else {
        panic!("the deploy should end, incomplete: {result:?}");
    };
    let outcomes = handles.outcomes(&report).unwrap();
    let (full, stuck): (Vec<_>, Vec<_>) = outcomes
        .iter()
        .map(|o| match &o.status {
            OutcomeStatus::Failed(resource, error) => (resource.clone(), error.clone()),
            other => panic!("{other:?}"),
        })
        .partition(|(resource, _)| resource.ends_with(&format!("-to-{B}")));
    assert_eq!(full.len(), 2, "{full:?}");
    assert_eq!(stuck.len(), 4, "{stuck:?}");
    for (resource, error) in &stuck {
        assert!(resource.ends_with("-copy"), "{resource}");
        assert!(error.contains("none will come in this run"), "{error}");
    }
    assert!(w.peak(A) <= 8, "at most 2 intermediate copies alive");
}

fn seed(w: &World, i: usize, size: u32, key: Option<&str>) {
    let mut s = SeedSnapshot::cluster(
        id(A),
        &region(),
        &format!("snap-{i}"),
        &format!("db-{i}"),
        key,
    );
    s.size_gb = size;
    w.fake.seed_snapshot(s).unwrap();
}

fn statuses(
    handles: &snapshift::fleet::FleetHandles,
    report: &snapshift::engine::DeployReport,
) -> Vec<String> {
    handles
        .outcomes(report)
        .unwrap()
        .iter()
        .map(|o| o.to_string())
        .collect()
}

// Review, R25: room_refused subtracts `unmade` from a headroom read *now*, but a copy's permit stays
// "unmade" until the whole copy has finished (RoomPermit::made is called after ensure_copy,
// i.e. after wait_available). Copies in flight are then counted twice (in Used and in
// unmade): once the in-flight copy is released, the room never comes back, and a copy that
// AWS would accept fails with "none will come in this run".
#[tokio::test]
async fn r25_review_room_refused_counts_copies_in_flight_twice() {
    let w = world("rv-refused").await;
    w.fake.set_copy_time(Duration::from_millis(20));
    // Sizes 4x apart: of any two copies alive at once, the smaller one's whole chain (copy,
    // target copy, release) ends long before the bigger one's copy.
    for (i, size) in [1u32, 4, 16, 64].into_iter().enumerate() {
        seed(&w, i, size, Some("alias/aws/rds"));
    }
    // Headroom 2 with a margin of 0: Max 6, 4 sources.
    w.fake
        .set_manual_snapshot_quota(id(A), &region(), CLUSTER, 6);
    let fleet = w.fleet(4, &[&w.b]).await;
    let mut stack = w.stack_with(WaitConfig {
        copy_quota: 2,
        manual_snapshot_margin: 0,
        ..WaitConfig::fast()
    });
    let handles = stack.add_fleet("rf", fleet).unwrap();
    // Another tool takes one manual snapshot in A once the first two copies are in flight.
    let fill = async {
        while w.intermediates().len() < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        w.fill(A, 1);
    };
    let deploy = tokio::time::timeout(Duration::from_secs(60), stack.deploy());
    let (result, ()) = tokio::join!(deploy, fill);
    let report = match result.unwrap() {
        Ok(r) => r,
        Err(Error::Incomplete { report }) => *report,
        Err(e) => panic!("{e}"),
    };
    let said = statuses(&handles, &report);
    eprintln!("{said:#?}");
    eprintln!("A now holds {} of 6 manual cluster snapshots", w.count(A));
    // One copy was refused while A was full (R25, right at the time). The last one waited
    // for room: after both releases A holds 4 sources + 1 other = 5 of 6, so AWS would take it.
    let stuck: Vec<_> = said
        .iter()
        .filter(|s| s.contains("none will come in this run"))
        .collect();
    assert!(
        stuck.is_empty(),
        "a copy gave up on room that exists: {stuck:#?}"
    );
}

// Review, R25: the quota preflight counts one intermediate copy per snapshot whose copy resource
// is not deployed, even for snapshots shared as they are (no copy: an unencrypted manual
// snapshot, or one whose key grants every target). A source account that is full of the very
// snapshots being shared is refused, though the deploy makes nothing there.
#[tokio::test]
async fn r25_review_preflight_counts_intermediate_copies_for_direct_shares() {
    let w = world("rv-direct").await;
    for i in 0..10 {
        seed(&w, i, 1, None);
    }
    w.fake
        .set_manual_snapshot_quota(id(A), &region(), CLUSTER, 10);
    let fleet = w.fleet(10, &[&w.b]).await;
    let mut stack = w.stack();
    let handles = stack.add_fleet("direct", fleet).unwrap();
    let plan = stack.preview().await.unwrap();
    eprintln!(
        "{:#?}",
        plan.changes
            .iter()
            .map(|c| (&c.resource, &c.reason))
            .take(4)
            .collect::<Vec<_>>()
    );
    let report = stack.deploy().await;
    let report = match report {
        Ok(r) => r,
        Err(e) => panic!("the deploy makes no snapshot in A but was refused: {e}"),
    };
    assert!(handles
        .outcomes(&report)
        .unwrap()
        .iter()
        .all(|o| matches!(o.status, OutcomeStatus::Done(_))));
    assert_eq!(
        w.fake.count("CopyDBClusterSnapshot"),
        10,
        "only the target copies"
    );
}

// Review, R25: after a partial run whose target copy was made in AWS but whose resource did not
// finish (a lost answer), the quota preflight counts that copy twice: in Used (it exists) and
// as needed (its resource is not deployed). The re-run, which makes nothing new in the
// target, is refused.
#[tokio::test]
async fn r25_review_preflight_counts_an_existing_target_copy_twice_after_a_partial_run() {
    let w = world("rv-partial").await;
    w.seed_batch(2);
    w.fake
        .set_manual_snapshot_quota(id(B), &region(), CLUSTER, 2);
    let fleet = w.fleet(2, &[&w.b]).await;
    let mut stack = w.stack();
    stack.add_fleet("part", fleet).unwrap();
    // The third copy call is the first target copy: made, but its answer lost.
    w.fake.inject(
        "CopyDBClusterSnapshot",
        3,
        Fault::ErrorAfterApply(AwsFault::new("InternalFailure", "injected").status(400)),
    );
    let Err(Error::Incomplete { report }) = stack.deploy().await else {
        panic!("one target copy should fail");
    };
    eprintln!("failed: {:?}", report.failed);
    assert!(
        report
            .failed
            .keys()
            .all(|k| k.contains(&format!("-to-{B}"))),
        "{:?}",
        report.failed
    );
    assert_eq!(w.count(B), 2, "both target copies exist in B");
    let fleet = w.fleet(2, &[&w.b]).await;
    let mut rerun = w.stack();
    rerun.add_fleet("part", fleet).unwrap();
    match rerun.deploy().await {
        Ok(_) => {}
        Err(e) => panic!("the re-run needs no new snapshot in B, but: {e}"),
    }
    assert_eq!(w.count(B), 2);
}

// Review, R25: once a snapshot was released, its copy resource answers the deleted copy's outputs
// forever. A target added to the fleet later gets a share of a snapshot that no longer exists
// and never gets its copy; no re-run can fix it.
#[tokio::test]
async fn r25_review_a_target_added_after_the_release_gets_its_copy() {
    let w = world("rv-add-target").await;
    w.seed_batch(1);
    let fleet = w.fleet(1, &[&w.b]).await;
    let mut stack = w.stack();
    stack.add_fleet("add", fleet).unwrap();
    stack.deploy().await.unwrap();
    assert!(w.intermediates().is_empty(), "released");
    let fleet = w.fleet(1, &[&w.b, &w.c]).await;
    let mut again = w.stack();
    let handles = again.add_fleet("add", fleet).unwrap();
    let plan = again.preview().await.unwrap();
    for c in &plan.changes {
        eprintln!("{:?} {} {}", c.action, c.resource, c.reason);
    }
    let report = match again.deploy().await {
        Ok(r) => r,
        Err(Error::Incomplete { report }) => *report,
        Err(e) => panic!("{e}"),
    };
    let said = statuses(&handles, &report);
    eprintln!("{said:#?}");
    assert_eq!(w.count(C), 1, "C never got its copy");
}

// Review, R25: each migration's quota check counts only its own snapshot. Two migrations of one
// stack into a target with room for one copy both pass the preflight; the deploy then makes
// both intermediate copies and shares and one target copy is refused by AWS (R25) after the
// long source copy, which the preflight exists to prevent.
#[tokio::test]
async fn r25_review_preflight_of_two_migrations_into_one_target_is_not_summed() {
    let w = world("rv-two-migrations").await;
    w.seed_batch(2);
    w.fake
        .set_manual_snapshot_quota(id(B), &region(), CLUSTER, 1);
    let mut stack = w.stack();
    let key = ShareableKey::new().grant_account(id(B)).build().unwrap();
    let key = stack
        .add("key", KeyResource::new(&w.a, region(), key).unwrap())
        .unwrap();
    for i in 0..2 {
        stack
            .add_migration(
                &format!("m{i}"),
                SnapshotMigration::new(&w.a, arn(&format!("snap-{i}")))
                    .via(&key)
                    .to(&w.b),
            )
            .unwrap();
    }
    let result = stack.deploy().await;
    eprintln!("{result:?}");
    eprintln!("mutating calls: {}", w.fake.mutating_calls().len());
    assert!(
        matches!(result, Err(Error::QuotaPreflight { .. })),
        "B holds room for 1 copy, the stack keeps 2 there: the preflight should refuse"
    );
}

// Review, R25: a release whose DeleteDBClusterSnapshot went through but whose answer was lost, then
// made again by the stack (the SDK's attempts all answered 500): the re-run finds the copy
// gone and reports deleted = false, so room_released is never called and the room it held is
// lost for the run. With a headroom of 1 the next copy waits and then gives up.
#[tokio::test]
async fn r25_review_a_release_whose_delete_answer_was_lost_gives_its_room_back() {
    let w = world("rv-lost-delete").await;
    w.fake.set_copy_time(Duration::from_millis(10));
    seed(&w, 0, 1, Some("alias/aws/rds"));
    seed(&w, 1, 2, Some("alias/aws/rds"));
    // Headroom 1 with a margin of 0.
    w.fake
        .set_manual_snapshot_quota(id(A), &region(), CLUSTER, 3);
    w.fake.inject(
        "DeleteDBClusterSnapshot",
        1,
        Fault::ErrorAfterApply(AwsFault::new("InternalFailure", "injected").status(500)),
    );
    for n in 2..=5 {
        w.fake.inject(
            "DeleteDBClusterSnapshot",
            n,
            Fault::Error(AwsFault::new("InternalFailure", "injected").status(500)),
        );
    }
    let fleet = w.fleet(2, &[&w.b]).await;
    let mut stack = w.stack_with(WaitConfig {
        copy_quota: 1,
        manual_snapshot_margin: 0,
        ..WaitConfig::fast()
    });
    let handles = stack.add_fleet("lost", fleet).unwrap();
    let report = match tokio::time::timeout(Duration::from_secs(120), stack.deploy())
        .await
        .unwrap()
    {
        Ok(r) => r,
        Err(Error::Incomplete { report }) => *report,
        Err(e) => panic!("{e}"),
    };
    let said = statuses(&handles, &report);
    eprintln!("{said:#?}\nfailed: {:?}", report.failed);
    eprintln!("A holds {} of 3", w.count(A));
    for c in w
        .fake
        .calls()
        .iter()
        .filter(|c| c.operation.contains("Delete") || c.operation.contains("Copy"))
    {
        eprintln!("{:?} {:?}", c.operation, c.error);
    }
    assert!(
        said.iter().all(|s| s.starts_with("done")),
        "the first copy is gone, so the second has room"
    );
}

// Review, R25: the scheduler's own reading of the source's quota is not retried: one
// DescribeAccountAttributes throttled past the SDK's attempts (R20) makes the run assume the
// fallback headroom of 20, although the preflight read the real one (2) moments before. The
// fleet then keeps far more intermediate copies alive than Max - Used - margin.
#[tokio::test]
async fn r25_review_a_throttled_room_reading_falls_back_to_20() {
    let w = world("rv-throttled-read").await;
    w.fake.set_copy_time(Duration::from_millis(5));
    w.seed_batch(6);
    // Headroom 2: Max 13, 6 sources, margin 5.
    w.fake
        .set_manual_snapshot_quota(id(A), &region(), CLUSTER, 13);
    let fleet = w.fleet(6, &[&w.b]).await;
    let mut stack = w.stack_with(WaitConfig {
        copy_quota: 2,
        ..WaitConfig::fast()
    });
    let handles = stack.add_fleet("thr", fleet).unwrap();
    // The preflight reads A and B (2 calls); the scheduler's first reading is the third.
    for n in 3..=5 {
        w.fake.inject(
            "DescribeAccountAttributes",
            n,
            Fault::Error(AwsFault::new("Throttling", "Rate exceeded").status(400)),
        );
    }
    let report = match stack.deploy().await {
        Ok(r) => r,
        Err(Error::Incomplete { report }) => *report,
        Err(e) => panic!("{e}"),
    };
    let _ = statuses(&handles, &report);
    let errors: Vec<_> = w
        .fake
        .calls()
        .iter()
        .filter(|c| c.operation == "DescribeAccountAttributes")
        .map(|c| c.error.clone())
        .collect();
    eprintln!("DescribeAccountAttributes: {errors:?}");
    let peak = w.peak(A);
    assert!(
        peak <= 8,
        "A held {peak} manual cluster snapshots at once, past Max - margin = 8"
    );
}

// Review, R25: after a crash in the middle of the acceptance case (60 snapshots, Max 100, margin 5),
// the intermediate copies alive at the crash count in Used, and the preflight still asks for
// one more per copy slot: the re-run is refused, though every copy alive is released as its
// target copy lands (the run that crashed would have finished).
#[tokio::test]
async fn r25_review_a_crashed_fleet_of_60_is_refused_on_resume() {
    let w = world("rv-resume").await;
    w.seed_batch(60);
    let fleet = w.fleet(60, &[&w.b]).await;
    let mut stack = w.stack();
    stack.add_fleet("sixty", fleet).unwrap();
    let crash = async {
        while w.intermediates().len() < 25 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::select! {
        r = stack.deploy() => panic!("finished before the crash: {:?}", r.is_ok()),
        () = crash => {}
    }
    drop(stack);
    eprintln!(
        "at the crash: A holds {} ({} intermediate copies), B {}",
        w.count(A),
        w.intermediates().len(),
        w.count(B)
    );
    let fleet = w.fleet(60, &[&w.b]).await;
    let mut rerun = w.stack();
    let handles = rerun.add_fleet("sixty", fleet).unwrap();
    let report = match rerun.deploy().await {
        Ok(r) => r,
        Err(e) => panic!("the resumed deploy was refused: {e}"),
    };
    assert!(handles
        .outcomes(&report)
        .unwrap()
        .iter()
        .all(|o| matches!(o.status, OutcomeStatus::Done(_))));
    assert!(w.peak(A) <= 95);
}
