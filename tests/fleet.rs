//! Fleet migration against the fake AWS: a batch to two accounts, a snapshot that fails on
//! its own (R22), a crash mid-batch, the selectors, the quota and throttling under load.

use std::{path::PathBuf, time::Duration};

use snapshift::{
    aws::Account,
    engine::{Stack, WaitConfig},
    error::Error,
    fleet::{FleetMigration, OutcomeStatus},
    ids::{AccountId, Region},
    testing::{FakeAws, Fault, SeedSnapshot},
};

const A: &str = "111111111111";
const B: &str = "222222222222";
const C: &str = "333333333333";

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn region() -> Region {
    "ap-northeast-1".parse().unwrap()
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
    let dir = std::env::temp_dir().join(format!("snapshift-fleet-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    World { fake, a, b, c, dir }
}

impl World {
    fn seed(&self, snapshot: &str, cluster: &str, size_gb: u32, tags: &[(&str, &str)]) {
        let mut seed =
            SeedSnapshot::cluster(id(A), &region(), snapshot, cluster, Some("alias/aws/rds"));
        seed.size_gb = size_gb;
        seed.tags = tags
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.fake.seed_snapshot(seed).unwrap();
    }

    fn seed_batch(&self, n: usize) {
        for i in 0..n {
            let size = [30, 5, 12, 50, 8, 20, 3, 40][i % 8];
            self.seed(&format!("snap-{i}"), &format!("db-{i}"), size, &[]);
        }
    }

    fn fleet(&self) -> FleetMigration {
        FleetMigration::new(&self.a, region())
            .to(&self.b)
            .to(&self.c)
    }

    fn stack(&self) -> Stack {
        Stack::new("fleet")
            .unwrap()
            .state_dir(&self.dir)
            .wait(WaitConfig::fast())
    }

    /// `n` seeded snapshots as one fleet in a stack whose copy quota is `quota` (the fake's
    /// too), ready to deploy.
    async fn batch(&self, n: usize, quota: usize) -> Stack {
        self.fake.set_copy_quota(quota);
        self.seed_batch(n);
        let fleet = self
            .fleet()
            .snapshots((0..n).map(|i| arn(&format!("snap-{i}"))))
            .resolve()
            .await
            .unwrap();
        let mut stack = self.stack().wait(WaitConfig {
            copy_quota: quota,
            ..WaitConfig::fast()
        });
        stack.add_fleet("move", fleet).unwrap();
        stack
    }

    fn count(&self, account: &str) -> usize {
        self.fake.snapshots(id(account), &region()).len()
    }
}

fn arn(snapshot: &str) -> snapshift::ids::SnapshotRef {
    format!("arn:aws:rds:ap-northeast-1:{A}:cluster-snapshot:{snapshot}")
        .parse()
        .unwrap()
}

// R22: one snapshot carries a reserved `aws:` tag, so its copy with CopyTags fails; the others
// reach both targets, and the outcomes say which is which.
#[tokio::test]
async fn r22_one_snapshot_fails_and_the_rest_reach_both_targets() {
    let w = world("r22").await;
    w.seed_batch(5);
    w.seed(
        "tagged",
        "db-x",
        7,
        &[("aws:cloudformation:stack-name", "old")],
    );
    let fleet = w
        .fleet()
        .snapshots((0..5).map(|i| arn(&format!("snap-{i}"))))
        .snapshot(arn("tagged"))
        .resolve()
        .await
        .unwrap();
    assert_eq!(fleet.snapshots().len(), 6);
    let sizes: Vec<u32> = fleet.snapshots().iter().map(|s| s.size_gb).collect();
    assert_eq!(sizes, [50, 30, 12, 8, 7, 5], "largest first");
    let mut stack = w.stack();
    let handles = stack.add_fleet("move", fleet).unwrap();
    let err = stack.deploy().await.unwrap_err();
    let Error::Incomplete { report } = &err else {
        panic!("expected Incomplete, got {err}");
    };
    let outcomes = handles.outcomes(report).unwrap();
    assert_eq!(outcomes.len(), 12);
    let done = outcomes
        .iter()
        .filter(|o| matches!(o.status, OutcomeStatus::Done(_)))
        .count();
    assert_eq!(done, 10);
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o.status, OutcomeStatus::Failed(..)))
        .collect();
    assert_eq!(failed.len(), 2, "{outcomes:#?}");
    for o in &failed {
        assert!(o.source.ends_with(":tagged"));
        assert!(o.to_string().contains("R22"), "{o}");
    }
    assert_eq!(w.count(B), 5);
    assert_eq!(w.count(C), 5);
}

// A snapshot not in place names the error that held it back, even when that is not its own
// step's: when the fleet's key cannot be made, every snapshot of its region says so, with the
// key resource and AWS's error, instead of a bare "not done".
#[tokio::test]
async fn a_snapshot_held_back_by_its_key_names_the_key_and_its_error() {
    let w = world("key-fails").await;
    w.seed_batch(3);
    let fleet = w
        .fleet()
        .snapshots((0..3).map(|i| arn(&format!("snap-{i}"))))
        .resolve()
        .await
        .unwrap();
    let mut stack = w.stack();
    let handles = stack.add_fleet("move", fleet).unwrap();
    w.fake
        .inject("CreateKey", 1, Fault::crash("InjectedKeyFailure"));
    let err = stack.deploy().await.unwrap_err();
    let Error::Incomplete { report } = &err else {
        panic!("expected Incomplete, got {err}");
    };
    let outcomes = handles.outcomes(report).unwrap();
    assert_eq!(outcomes.len(), 6);
    let key = handles.keys.values().next().unwrap().name().to_owned();
    for o in &outcomes {
        match &o.status {
            OutcomeStatus::HeldBack(resource, error) => {
                assert_eq!(resource, &key);
                assert!(error.contains("InjectedKeyFailure"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        assert!(o.to_string().contains("held back by"), "{o}");
        assert!(o.to_string().contains("InjectedKeyFailure"), "{o}");
    }
}

// A crash mid-batch (the process dies while copies run), then a re-run: it finishes only the
// remainder, with every copy made once.
#[tokio::test]
async fn a_rerun_after_a_crash_mid_batch_finishes_only_the_remainder() {
    let w = world("crash").await;
    w.fake.set_copy_time(Duration::from_millis(10));
    w.seed_batch(8);
    let resolve = || async {
        w.fleet()
            .snapshots((0..8).map(|i| arn(&format!("snap-{i}"))))
            .resolve()
            .await
            .unwrap()
    };
    let mut stack = w.stack();
    stack.add_fleet("move", resolve().await).unwrap();
    // The crash: the deploy is dropped mid-way, as a killed process would stop, once a few
    // copies were made (whatever the machine's speed).
    let copies_made = || {
        w.fake
            .calls()
            .iter()
            .filter(|c| c.operation == "CopyDBClusterSnapshot" && c.error.is_none())
            .count()
    };
    let cut = async {
        while copies_made() < 4 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::select! {
        result = stack.deploy() => panic!("the batch ended before the cut: {:?}", result.is_ok()),
        () = cut => {}
    }
    let before = w.count(B) + w.count(C);
    assert!(
        before < 16,
        "the crash came mid-batch ({before} target copies)"
    );
    // Let the copies AWS already started finish, as they would in AWS.
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Counted from the calls: an intermediate copy released before the crash is gone (R25).
    let made_before = w
        .fake
        .calls()
        .iter()
        .filter(|c| c.operation == "CopyDBClusterSnapshot" && c.error.is_none())
        .count();
    assert!(made_before > 0, "some copies were made before the crash");
    w.fake.clear_log();

    let mut stack = w.stack();
    let handles = stack.add_fleet("move", resolve().await).unwrap();
    let report = stack.deploy().await.unwrap();
    let outcomes = handles.outcomes(&report).unwrap();
    assert!(outcomes
        .iter()
        .all(|o| matches!(o.status, OutcomeStatus::Done(_))));
    assert_eq!(w.count(B), 8, "each target copy once");
    assert_eq!(w.count(C), 8);
    // R25: every intermediate copy was released as it went; the sources stay.
    assert_eq!(
        w.count(A),
        8,
        "the eight sources, and no intermediate copy left"
    );
    let copies = w
        .fake
        .calls()
        .iter()
        .filter(|c| c.operation == "CopyDBClusterSnapshot" && c.error.is_none())
        .count();
    assert_eq!(copies, 24 - made_before, "only the remainder was copied");
}

// The selectors: the newest snapshot of a cluster, and every manual snapshot with a tag, each
// once.
#[tokio::test]
async fn selectors_pick_the_newest_of_a_cluster_and_the_tagged_ones() {
    let w = world("select").await;
    w.seed("orders-2026-11-01", "orders", 5, &[]);
    w.seed("orders-2026-11-22", "orders", 5, &[]);
    w.seed("billing-2026-11-22", "billing", 5, &[("migrate", "yes")]);
    w.seed("audit-2026-11-22", "audit", 5, &[("migrate", "yes")]);
    w.seed("other-2026-11-22", "other", 5, &[("migrate", "no")]);
    let fleet = w
        .fleet()
        .latest_of_cluster("orders".parse().unwrap())
        .tagged("migrate", "yes")
        .latest_of_cluster("billing".parse().unwrap())
        .resolve()
        .await
        .unwrap();
    let mut picked: Vec<String> = fleet
        .snapshots()
        .iter()
        .map(|s| s.reference.id().to_string())
        .collect();
    picked.sort();
    assert_eq!(
        picked,
        [
            "audit-2026-11-22",
            "billing-2026-11-22",
            "orders-2026-11-22"
        ]
    );
    let err = w
        .fleet()
        .latest_of_cluster("missing".parse().unwrap())
        .resolve()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("missing has no available snapshot"),
        "{err}"
    );
    let err = FleetMigration::new(&w.a, region())
        .to(&w.a)
        .resolve()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is the source account"), "{err}");
}

// R1, R20: snapshots that share a key (here AWS's own) have it described once in a run, not
// once per snapshot in preflight and again in deploy: whether AWS manages a key never changes.
#[tokio::test]
async fn r1_r20_a_batch_describes_a_shared_source_key_once() {
    let mut described = Vec::new();
    for n in [1, 8] {
        let w = world(&format!("key-once-{n}")).await;
        let stack = w.batch(n, 20).await;
        w.fake.clear_log();
        stack.deploy().await.unwrap();
        assert_eq!(w.count(B), n);
        described.push(w.fake.count("DescribeKey"));
    }
    // The fleet's own key is looked up by alias as always; the source key, once.
    assert_eq!(
        described[1], described[0],
        "DescribeKey for 1 snapshot and for 8: {described:?}"
    );
}

// R19, R20: a copy whose tagging is throttled past the SDK's retries keeps its copy slot while
// the call is made again: AWS still counts the copy, so no other copy may take the slot, and
// AWS never answers that its quota is full.
#[tokio::test]
async fn r19_r20_a_copy_throttled_after_it_started_keeps_its_slot() {
    let w = world("keeps-slot").await;
    let stack = w.batch(2, 1).await;
    // The first copy's tags: more throttling than the SDK retries.
    for nth in 1..=8 {
        w.fake.inject(
            "AddTagsToResource",
            nth,
            snapshift::testing::Fault::throttling(),
        );
    }
    stack.deploy().await.unwrap();
    let tagged = w.fake.count("AddTagsToResource");
    assert!(
        tagged > 8,
        "the throttled tags were asked again: {tagged} calls"
    );
    let refused: Vec<_> = w
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.error.as_deref() == Some("SnapshotQuotaExceeded"))
        .collect();
    assert!(
        refused.is_empty(),
        "AWS refused {} copies: {refused:?}",
        refused.len()
    );
    assert_eq!(w.count(B), 2);
    assert_eq!(w.count(C), 2);
}

// R19, R20: a batch to two accounts under a fifth of the calls throttled, with a quota of 4:
// the quota is never exceeded in any account, no snapshot fails, nothing is copied twice.
#[tokio::test]
async fn r19_r20_quota_kept_and_throttling_retried_under_load() {
    let w = world("load").await;
    let stack = w.batch(16, 4).await;
    w.fake.set_throttling(0.2);
    stack.deploy().await.unwrap();
    for account in [A, B, C] {
        let peak = w.fake.peak_copies_in_flight(id(account), &region());
        assert!(peak <= 4, "{account}: {peak} copies in flight");
    }
    assert_eq!(w.count(B), 16);
    assert_eq!(w.count(C), 16);
    // The sources; every intermediate copy was released as it went (R25).
    assert_eq!(w.count(A), 16);
    assert!(w.fake.throttled() > 20, "throttled {}", w.fake.throttled());
}

// A batch holds thousands of outputs: a share's outputs are its copy's (it passes the
// snapshot on), and the report (whose texts are the state's) keeps one text for both, not a
// copy each.
#[tokio::test]
async fn a_share_keeps_its_copys_outputs_text_not_a_copy_of_it() {
    let w = world("shared-text").await;
    w.seed_batch(3);
    let fleet = w
        .fleet()
        .snapshots((0..3).map(|i| arn(&format!("snap-{i}"))))
        .resolve()
        .await
        .unwrap();
    let mut stack = w.stack();
    let handles = stack.add_fleet("move", fleet).unwrap();
    let report = stack.deploy().await.unwrap();
    for item in &handles.items {
        let copy = &report.outputs[item.copy.name()];
        assert!(!copy.is_null());
        for (_, share, target) in &item.targets {
            let outputs = &report.outputs[share.name()];
            assert_eq!(outputs, copy);
            assert!(
                std::ptr::eq(outputs.as_str(), copy.as_str()),
                "{} holds its own copy of {}'s outputs",
                share.name(),
                item.copy.name()
            );
            // A target copy's outputs differ (its own snapshot): its own text.
            assert_ne!(&report.outputs[target.name()], copy);
        }
    }
}

// Safety review, item 5: snapshift's own copies are never a fleet's source. The intermediate
// copy keeps its cluster's id, is newer, and (copy_tags) carries the selector's tag: the
// documented re-run resolves again and must find the same sources, not the copies.
#[tokio::test]
async fn a_rerun_resolves_the_same_sources_not_snapshifts_own_copies() {
    let w = world("own-copies").await;
    w.seed("snap-0", "db-0", 5, &[("team", "orders")]);
    let resolve = || async {
        let fleet = FleetMigration::new(&w.a, region())
            .latest_of_cluster("db-0".parse().unwrap())
            .tagged("team", "orders")
            .to(&w.b)
            .resolve()
            .await
            .unwrap();
        let arns: Vec<String> = fleet.snapshots().iter().map(|s| s.arn.clone()).collect();
        (fleet, arns)
    };
    let (fleet, first) = resolve().await;
    assert_eq!(first, [arn("snap-0").to_string()]);
    let mut stack = w.stack();
    stack.add_fleet("move", fleet).unwrap();
    // A crash just before the release deletes the intermediate copy (R25): it is still there.
    w.fake.inject(
        "DeleteDBClusterSnapshot",
        1,
        Fault::crash("InvalidDBClusterSnapshotStateFault"),
    );
    assert!(matches!(
        stack.deploy().await,
        Err(Error::Incomplete { .. })
    ));
    assert!(w.count(A) > 1, "the intermediate copy exists");
    let (fleet, again) = resolve().await;
    assert_eq!(again, first, "the re-run resolves the same sources");
    let mut rerun = w.stack();
    rerun.add_fleet("move", fleet).unwrap();
    rerun.deploy().await.unwrap();
    rerun.teardown().await.unwrap();
}
