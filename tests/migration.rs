//! Snapshot migration against the fake AWS: the whole flow for DB and cluster snapshots, each
//! rule by name, a fault at every step boundary, and teardown's guarantees.

use std::{path::PathBuf, time::Duration};

use snapshift::{
    aws::Account,
    engine::{Action, Handle, Stack, WaitConfig},
    error::Error,
    ids::{AccountId, Region, SnapshotKind, SnapshotRef},
    key::ShareableKey,
    migration::{MigrationHandles, RestoreSpec, SnapshotMigration},
    resources::KeyResource,
    rules::Rule,
    testing::{AwsFault, FakeAws, Fault, SeedSnapshot},
};

const A: &str = "111111111111";
const B: &str = "999999999999";

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
    dir: PathBuf,
}

async fn world(test: &str) -> World {
    let fake = FakeAws::start().await;
    fake.set_copy_time(Duration::from_millis(30));
    let a = fake.account(id(A)).await;
    let b = fake.account(id(B)).await;
    let dir =
        std::env::temp_dir().join(format!("snapshift-migration-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    World { fake, a, b, dir }
}

impl World {
    fn seed(&self, kind: SnapshotKind, id_: &str, key: Option<&str>) -> SnapshotRef {
        let seed = match kind {
            SnapshotKind::Cluster => SeedSnapshot::cluster(id(A), &region(), id_, "orders", key),
            SnapshotKind::Db => SeedSnapshot::db(id(A), &region(), id_, "orders-db", key),
        };
        self.fake.seed_snapshot(seed).unwrap().parse().unwrap()
    }

    fn stack(&self) -> (Stack, Handle<KeyResource>) {
        let mut stack = Stack::new("move")
            .unwrap()
            .state_dir(&self.dir)
            .wait(WaitConfig::fast());
        let key = ShareableKey::new()
            .alias("snapshot-share")
            .grant_account(id(B))
            .deletion_window_days(7)
            .build()
            .unwrap();
        let key = stack
            .add(
                "share-key",
                KeyResource::new(&self.a, region(), key).unwrap(),
            )
            .unwrap();
        (stack, key)
    }

    fn migration(&self, source: SnapshotRef, key: &Handle<KeyResource>) -> SnapshotMigration {
        SnapshotMigration::new(&self.a, source).via(key).to(&self.b)
    }

    fn snapshots(&self, account: &str) -> Vec<snapshift::testing::FakeSnapshot> {
        self.fake.snapshots(id(account), &region())
    }
}

/// The whole flow and teardown; returns the handles for further checks.
async fn whole_flow(w: &World, kind: SnapshotKind) -> (Stack, MigrationHandles) {
    let source = w.seed(kind, "orders-2026-11-23", Some("alias/aws/rds"));
    let (mut stack, key) = w.stack();
    let handles = stack
        .add_migration("orders", w.migration(source.clone(), &key))
        .unwrap();
    let plan = stack.preview().await.unwrap();
    let copy = plan
        .changes
        .iter()
        .find(|c| c.resource == "orders-copy")
        .unwrap();
    assert_eq!(
        (copy.action, copy.rule),
        (Action::Create, Some(Rule::R1)),
        "{}",
        plan.render()
    );
    stack.deploy().await.unwrap();

    let target = stack.outputs(&handles.target).unwrap().unwrap();
    let managed_b = snapshift::aws::kms::Kms::new(&w.b, &region())
        .describe_key("alias/aws/rds")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        target.kms_key.as_deref(),
        Some(managed_b.arn.to_string().as_str()),
        "R7: under the target's own key"
    );
    assert_eq!(w.snapshots(A).len(), 2, "source and the intermediate copy");
    assert_eq!(w.snapshots(B).len(), 1);

    let report = stack.teardown().await.unwrap();
    let removed: Vec<&str> = report
        .removed
        .iter()
        .map(|(_, what)| what.as_str())
        .collect();
    assert!(
        removed.iter().any(|r| r.starts_with("share of")),
        "{removed:?}"
    );
    assert!(
        removed.iter().any(|r| r.starts_with("intermediate copy")),
        "{removed:?}"
    );
    assert!(
        removed
            .iter()
            .any(|r| r.contains("scheduled for deletion in 7 days")),
        "{removed:?}"
    );
    assert_eq!(report.kept, ["orders-target"]);
    // R8: in that order: unshare, delete the copy, then the key.
    let order: Vec<String> = report.removed.iter().map(|(r, _)| r.clone()).collect();
    assert_eq!(order.first().map(String::as_str), Some("orders-share"));
    assert_eq!(order.last().map(String::as_str), Some("share-key"));

    let source_now = w.snapshots(A);
    assert_eq!(
        source_now.len(),
        1,
        "only the source is left in the source account"
    );
    assert_eq!(
        source_now[0].arn(),
        source.to_string(),
        "the source is untouched"
    );
    assert!(source_now[0].shared_with.is_empty());
    assert_eq!(w.snapshots(B).len(), 1, "the target copy is kept");
    assert_eq!(w.fake.keys(id(A), &region())[0].state, "PendingDeletion");
    (stack, handles)
}

// R1, R3, R6, R7, R8: a cluster snapshot under alias/aws/rds moved and re-keyed.
#[tokio::test]
async fn r1_r3_r6_r7_r8_cluster_snapshot_whole_flow() {
    let w = world("cluster").await;
    whole_flow(&w, SnapshotKind::Cluster).await;
}

// The same for a DB snapshot.
#[tokio::test]
async fn r1_r3_r6_r7_r8_db_snapshot_whole_flow() {
    let w = world("db").await;
    whole_flow(&w, SnapshotKind::Db).await;
}

// R2: a source under a key that already grants the target is shared directly, also when the
// grant is narrowed as snapshift writes it (through RDS in the key's region, by the target
// account: the target's copy goes through RDS there); teardown removes only the share it
// added.
#[tokio::test]
async fn r2_key_that_grants_the_target_is_shared_directly() {
    let w = world("direct").await;
    let policy = ShareableKey::new()
        .grant_account(id(B))
        .build()
        .unwrap()
        .key_policy_in_region(&region(), id(A))
        .unwrap()
        .to_json();
    assert!(policy.contains("kms:ViaService"), "{policy}");
    let key = snapshift::aws::kms::Kms::new(&w.a, &region())
        .create_key(&snapshift::aws::kms::NewKey {
            policy: &policy,
            description: "theirs",
            multi_region: false,
            tags: &[],
        })
        .await
        .unwrap();
    let source = w.seed(
        SnapshotKind::Cluster,
        "granted-1",
        Some(&key.arn.to_string()),
    );
    let (mut stack, share_key) = w.stack();
    stack
        .add_migration("orders", w.migration(source, &share_key))
        .unwrap();
    let plan = stack.preview().await.unwrap();
    assert_eq!(
        plan.changes
            .iter()
            .find(|c| c.resource == "orders-copy")
            .unwrap()
            .action,
        Action::Unchanged,
        "{}",
        plan.render()
    );
    stack.deploy().await.unwrap();
    assert_eq!(w.snapshots(A).len(), 1, "no copy");
    assert_eq!(
        w.fake.count("CopyDBClusterSnapshot"),
        1,
        "only the target's copy"
    );
    stack.teardown().await.unwrap();
    assert!(
        w.snapshots(A)[0].shared_with.is_empty(),
        "the share it added is removed"
    );
}

// R2: a key that does not grant the target is refused when the migration is added.
#[tokio::test]
async fn r2_a_key_that_does_not_grant_the_target_is_refused_before_any_call() {
    let w = world("not-granted").await;
    let source = w.seed(SnapshotKind::Cluster, "s1", Some("alias/aws/rds"));
    let mut stack = Stack::new("move")
        .unwrap()
        .wait(WaitConfig::fast())
        .state_dir(&w.dir);
    let key = stack
        .add(
            "share-key",
            KeyResource::new(&w.a, region(), ShareableKey::new().build().unwrap()).unwrap(),
        )
        .unwrap();
    let err = stack
        .add_migration("orders", w.migration(source, &key))
        .unwrap_err();
    assert_eq!(err.rule(), Some(Rule::R2), "{err}");
    assert_eq!(w.fake.calls(), vec![]);
}

// R3: an automated snapshot is copied to a manual one before it is shared.
#[tokio::test]
async fn r3_automated_snapshot_is_copied_first() {
    let w = world("automated").await;
    let mut seed = SeedSnapshot::cluster(
        id(A),
        &region(),
        "rds:orders-2026-11-23-03-00",
        "orders",
        None,
    );
    seed.snapshot_type = "automated".into();
    let source: SnapshotRef = w.fake.seed_snapshot(seed).unwrap().parse().unwrap();
    let (mut stack, key) = w.stack();
    stack
        .add_migration("orders", w.migration(source, &key))
        .unwrap();
    let plan = stack.preview().await.unwrap();
    assert_eq!(
        plan.changes
            .iter()
            .find(|c| c.resource == "orders-copy")
            .unwrap()
            .rule,
        Some(Rule::R3)
    );
    stack.deploy().await.unwrap();
    assert_eq!(w.snapshots(B).len(), 1);
    assert_eq!(w.snapshots(B)[0].id, "orders-2026-11-23-03-00");
}

// R5, R7, R8: a teardown before the target copy is available removes nothing the target
// still needs (the share, the key) and says why; once the copy is done, teardown goes on.
#[tokio::test]
async fn r7_r8_teardown_before_the_target_copy_is_available_keeps_what_it_needs() {
    let w = world("early-teardown").await;
    // A source under a key that grants the target: shared directly, so only the target's
    // copy is slow, and its wait times out (R5: the copy goes on in AWS).
    let policy = ShareableKey::new()
        .grant_account(id(B))
        .build()
        .unwrap()
        .key_policy(id(A))
        .unwrap()
        .to_json();
    let source_key = snapshift::aws::kms::Kms::new(&w.a, &region())
        .create_key(&snapshift::aws::kms::NewKey {
            policy: &policy,
            description: "granted",
            multi_region: false,
            tags: &[],
        })
        .await
        .unwrap();
    let source = w.seed(
        SnapshotKind::Cluster,
        "s1",
        Some(&source_key.arn.to_string()),
    );
    w.fake.set_copy_time(Duration::from_millis(800));
    let (stack, key) = w.stack();
    let mut stack = stack.wait(WaitConfig {
        timeout: Duration::from_millis(200),
        ..WaitConfig::fast()
    });
    stack
        .add_migration("orders", w.migration(source, &key))
        .unwrap();
    let err = stack.deploy().await.unwrap_err();
    assert!(err.to_string().contains("still creating"), "{err}");
    let err = stack.teardown().await.unwrap_err();
    assert_eq!(err.rule(), Some(Rule::R8), "{err}");
    assert!(
        err.to_string()
            .contains("orders-target still depends on it"),
        "{err}"
    );
    assert_eq!(
        w.snapshots(A)[0].shared_with.len(),
        1,
        "the share stays while the target copy needs it"
    );
    assert_eq!(
        w.fake
            .keys(id(A), &region())
            .iter()
            .filter(|k| k.state == "Enabled")
            .count(),
        2,
        "no key is scheduled for deletion"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    stack.deploy().await.unwrap();
    stack.teardown().await.unwrap();
    assert!(w.snapshots(A)[0].shared_with.is_empty());
    assert_eq!(w.snapshots(B).len(), 1, "the target copy is kept");
}

// R9, R10: a restore in the target account from the final snapshot, with the managed
// password turned on and the user told.
#[tokio::test]
async fn r9_r10_restore_in_the_target() {
    let w = world("restore").await;
    let source = w.seed(SnapshotKind::Cluster, "s1", Some("alias/aws/rds"));
    let (mut stack, key) = w.stack();
    let handles = stack
        .add_migration(
            "orders",
            w.migration(source, &key)
                .restore(RestoreSpec::new("orders-restored").unwrap()),
        )
        .unwrap();
    stack.deploy().await.unwrap();
    let restored = stack
        .outputs(handles.restore.as_ref().unwrap())
        .unwrap()
        .unwrap();
    assert!(
        restored.notes.iter().any(|n| n.contains("(R10)")),
        "{restored:?}"
    );
    let dbs = w.fake.databases(id(B), &region());
    let db = dbs.iter().find(|d| d.id == "orders-restored").unwrap();
    assert!(db.manage_master_user_password);
    stack.teardown().await.unwrap();
    assert!(
        w.fake
            .databases(id(B), &region())
            .iter()
            .any(|d| d.id == "orders-restored"),
        "a restored database is never deleted"
    );
}

// R19: SnapshotQuotaExceeded is back-pressure: the copies wait and all complete.
#[tokio::test]
async fn r19_quota_exceeded_is_back_pressure_not_failure() {
    let w = world("quota").await;
    w.fake.set_copy_quota(1);
    let (mut stack, key) = w.stack();
    for n in 1..=3 {
        let source = w.seed(
            SnapshotKind::Cluster,
            &format!("s{n}"),
            Some("alias/aws/rds"),
        );
        stack
            .add_migration(&format!("m{n}"), w.migration(source, &key))
            .unwrap();
    }
    stack.deploy().await.unwrap();
    assert_eq!(w.snapshots(B).len(), 3);
    let refused = w
        .fake
        .calls()
        .iter()
        .filter(|c| c.error.as_deref() == Some("SnapshotQuotaExceeded"))
        .count();
    assert!(refused > 0, "the fake's quota was hit and waited out");
}

// R19: with snapshift's own quota at 1, AWS's quota is never hit.
#[tokio::test]
async fn r19_own_copy_slots_keep_below_the_aws_quota() {
    let w = world("slots").await;
    w.fake.set_copy_quota(1);
    let (stack, key) = w.stack();
    let mut stack = stack.wait(WaitConfig {
        copy_quota: 1,
        ..WaitConfig::fast()
    });
    for n in 1..=3 {
        let source = w.seed(
            SnapshotKind::Cluster,
            &format!("s{n}"),
            Some("alias/aws/rds"),
        );
        stack
            .add_migration(&format!("m{n}"), w.migration(source, &key))
            .unwrap();
    }
    stack.deploy().await.unwrap();
    assert_eq!(w.snapshots(B).len(), 3);
    assert!(!w
        .fake
        .calls()
        .iter()
        .any(|c| c.error.as_deref() == Some("SnapshotQuotaExceeded")));
}

// A fault at every step boundary, then a re-run: no duplicate copies, no orphans.
#[tokio::test]
async fn fault_at_every_step_then_rerun_completes_without_duplicates() {
    let steps: [(&str, usize); 6] = [
        ("CreateKey", 1),
        ("CreateAlias", 1),
        ("CopyDBClusterSnapshot", 1),
        ("ModifyDBClusterSnapshotAttribute", 1),
        ("CopyDBClusterSnapshot", 2),
        ("DescribeDBClusterSnapshots", 3),
    ];
    for (i, (operation, nth)) in steps.iter().enumerate() {
        let w = world(&format!("fault-{i}")).await;
        let source = w.seed(SnapshotKind::Cluster, "s1", Some("alias/aws/rds"));
        let (mut stack, key) = w.stack();
        stack
            .add_migration("orders", w.migration(source, &key))
            .unwrap();
        w.fake.inject(
            operation,
            *nth,
            Fault::ErrorAfterApply(AwsFault::new("InjectedCrash", "crash")),
        );
        let first = stack.deploy().await;
        assert!(
            first.is_err(),
            "{operation} #{nth}: the fault must surface; calls: {:?}",
            w.fake
                .calls()
                .iter()
                .map(|c| (&c.operation, &c.error))
                .collect::<Vec<_>>()
        );
        stack
            .deploy()
            .await
            .unwrap_or_else(|e| panic!("{operation} #{nth}: re-run failed: {e}"));
        assert_eq!(
            w.fake.keys(id(A), &region()).len(),
            1,
            "{operation} #{nth}: one key"
        );
        assert_eq!(
            w.snapshots(A).len(),
            2,
            "{operation} #{nth}: source + one copy"
        );
        assert_eq!(
            w.snapshots(B).len(),
            1,
            "{operation} #{nth}: one target copy"
        );
        stack
            .teardown()
            .await
            .unwrap_or_else(|e| panic!("{operation} #{nth}: teardown failed: {e}"));
        assert_eq!(
            w.snapshots(A).len(),
            1,
            "{operation} #{nth}: no orphan copy"
        );
        assert!(
            w.snapshots(A)[0].shared_with.is_empty(),
            "{operation} #{nth}: no leftover share"
        );
    }
}

// Preflight: problems found before any change, with nothing changed.
#[tokio::test]
async fn preflight_refuses_before_any_change() {
    let w = world("preflight").await;
    let (mut stack, key) = w.stack();
    let missing: SnapshotRef = format!("arn:aws:rds:ap-northeast-1:{A}:cluster-snapshot:missing")
        .parse()
        .unwrap();
    stack
        .add_migration("orders", w.migration(missing, &key))
        .unwrap();
    let err = stack.deploy().await.unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert_eq!(w.fake.mutating_calls(), vec![]);

    // The target identifier is taken by a snapshot this stack did not make.
    let w = world("preflight-taken").await;
    let source = w.seed(SnapshotKind::Cluster, "s1", Some("alias/aws/rds"));
    w.fake
        .seed_snapshot(SeedSnapshot::cluster(id(B), &region(), "s1", "other", None))
        .unwrap();
    let (mut stack, key) = w.stack();
    stack
        .add_migration("orders", w.migration(source, &key))
        .unwrap();
    let err = stack.deploy().await.unwrap_err();
    assert!(matches!(err, Error::NotOurs { .. }), "{err}");
    assert_eq!(w.fake.mutating_calls(), vec![]);

    // Same account as target.
    let w = world("preflight-same").await;
    let source = w.seed(SnapshotKind::Cluster, "s1", None);
    let (mut stack, key) = w.stack();
    let err = stack
        .add_migration(
            "orders",
            SnapshotMigration::new(&w.a, source).via(&key).to(&w.a),
        )
        .unwrap_err();
    assert!(err.to_string().contains("is the source account"), "{err}");
}

// R6: a direct share that would pass 20 accounts is refused before any change.
#[tokio::test]
async fn r6_direct_share_past_20_accounts_is_refused_in_preflight() {
    let w = world("share-limit").await;
    let source = w.seed(SnapshotKind::Cluster, "s1", None);
    let rds = snapshift::aws::rds::Rds::new(&w.a, &region());
    for n in 1..=20u64 {
        rds.set_shared(
            SnapshotKind::Cluster,
            "s1",
            format!("{:012}", 300_000_000_000 + n).parse().unwrap(),
            true,
        )
        .await
        .unwrap();
    }
    w.fake.clear_log();
    let (mut stack, key) = w.stack();
    stack
        .add_migration("orders", w.migration(source, &key))
        .unwrap();
    let err = stack.deploy().await.unwrap_err();
    assert!(err.to_string().contains("at most 20 (R6)"), "{err}");
    assert_eq!(w.fake.mutating_calls(), vec![]);
}

// Same-account re-encryption: a copy under the new key; the original stays unless asked.
#[tokio::test]
async fn same_account_reencryption() {
    for delete_source in [false, true] {
        let w = world(&format!("reencrypt-{delete_source}")).await;
        let source = w.seed(SnapshotKind::Db, "db-1", Some("alias/aws/rds"));
        let mut stack = Stack::new("reencrypt")
            .unwrap()
            .state_dir(&w.dir)
            .wait(WaitConfig::fast());
        let key = ShareableKey::new().alias("reencrypt").build().unwrap();
        let key = stack
            .add_with(
                "key",
                KeyResource::new(&w.a, region(), key).unwrap(),
                snapshift::engine::Options::new().retain(),
            )
            .unwrap();
        let copy = stack
            .add_reencryption(
                "db-1",
                SnapshotMigration::reencrypt(&w.a, source)
                    .with_key(&key)
                    .delete_source(delete_source),
            )
            .unwrap();
        stack.deploy().await.unwrap();
        let out = stack.outputs(&copy).unwrap().unwrap();
        let key_arn = stack.outputs(&key).unwrap().unwrap().key_arn.to_string();
        assert_eq!(out.kms_key.as_deref(), Some(key_arn.as_str()));
        assert_eq!(
            w.snapshots(A).iter().any(|s| s.id == "db-1"),
            !delete_source
        );
        let report = stack.teardown().await.unwrap();
        assert_eq!(
            report.kept.len(),
            2,
            "the key and the re-encrypted copy are kept"
        );
        assert_eq!(w.fake.keys(id(A), &region())[0].state, "Enabled");
    }
}

/// Collects progress events.
#[derive(Default)]
struct Events(std::sync::Mutex<Vec<snapshift::engine::ProgressEvent>>);

impl snapshift::engine::Progress for Events {
    fn event(&self, event: &snapshift::engine::ProgressEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

// R5: a copy reports 0 % until done; waiting shows elapsed time and heartbeats, and ends with
// Done, not a failure.
#[tokio::test]
async fn r5_waiting_reports_elapsed_time_and_heartbeats_not_stuck() {
    use snapshift::engine::ProgressEvent;
    let w = world("progress").await;
    w.fake.set_copy_time(Duration::from_millis(400));
    let source = w.seed(SnapshotKind::Cluster, "s1", Some("alias/aws/rds"));
    let events = std::sync::Arc::new(Events::default());
    let (stack, key) = w.stack();
    let mut stack = stack
        .wait(WaitConfig {
            heartbeat: Duration::from_millis(100),
            ..WaitConfig::fast()
        })
        .progress(events.clone());
    stack
        .add_migration("orders", w.migration(source, &key))
        .unwrap();
    stack.deploy().await.unwrap();
    let events = events.0.lock().unwrap();
    let of = |resource: &str| {
        events.iter().filter(|e| matches!(e,
        ProgressEvent::Started { resource: r, .. } | ProgressEvent::Percent { resource: r, .. } |
        ProgressEvent::Heartbeat { resource: r, .. } | ProgressEvent::Done { resource: r, .. } if r == resource)).collect::<Vec<_>>()
    };
    for resource in ["orders-copy", "orders-target"] {
        let e = of(resource);
        assert!(
            matches!(e.first(), Some(ProgressEvent::Started { .. })),
            "{resource}: {e:?}"
        );
        assert!(
            e.iter()
                .any(|e| matches!(e, ProgressEvent::Percent { percent: 0, .. })),
            "{resource}: 0 % while copying"
        );
        assert!(
            e.iter().any(
                |e| matches!(e, ProgressEvent::Heartbeat { status, .. } if status == "creating")
            ),
            "{resource}: heartbeats"
        );
        assert!(
            matches!(e.last(), Some(ProgressEvent::Done { elapsed, .. }) if *elapsed >= Duration::from_millis(350)),
            "{resource}: {e:?}"
        );
    }
}

// R21: a re-encrypting copy is a full copy: its time grows with the snapshot's size.
#[tokio::test]
async fn r21_copy_time_grows_with_size() {
    let w = world("sizes").await;
    w.fake.set_copy_time(Duration::from_millis(50));
    let mut times = Vec::new();
    // 50 ms against a second: far apart enough that a loaded machine does not blur them.
    for size in [1, 20] {
        let mut seed = SeedSnapshot::cluster(
            id(A),
            &region(),
            &format!("s{size}"),
            "orders",
            Some("alias/aws/rds"),
        );
        seed.size_gb = size;
        let source: SnapshotRef = w.fake.seed_snapshot(seed).unwrap().parse().unwrap();
        let mut stack = Stack::new(&format!("reencrypt-{size}"))
            .unwrap()
            .state_dir(&w.dir)
            .wait(WaitConfig::fast());
        let key = stack
            .add_with(
                "key",
                KeyResource::new(&w.a, region(), ShareableKey::new().build().unwrap()).unwrap(),
                snapshift::engine::Options::new().retain(),
            )
            .unwrap();
        stack
            .add_reencryption(
                "copy",
                SnapshotMigration::reencrypt(&w.a, source).with_key(&key),
            )
            .unwrap();
        let started = std::time::Instant::now();
        stack.deploy().await.unwrap();
        times.push(started.elapsed());
    }
    assert!(
        times[1] > times[0] + Duration::from_millis(500),
        "{times:?}"
    );
}

// Against any endpoint the deploy makes only the changes its plan shows: every mutating call
// is named in the plan.
#[tokio::test]
async fn deploy_makes_only_the_calls_the_plan_shows() {
    for kind in [SnapshotKind::Cluster, SnapshotKind::Db] {
        let w = world(&format!("plan-calls-{kind:?}")).await;
        let source = w.seed(kind, "s1", Some("alias/aws/rds"));
        let (mut stack, key) = w.stack();
        let restore = RestoreSpec::new("restored").unwrap();
        stack
            .add_migration("orders", w.migration(source, &key).restore(restore))
            .unwrap();
        let plan = stack.preview().await.unwrap().render();
        w.fake.clear_log();
        stack.deploy().await.unwrap();
        let calls = w.fake.mutating_calls();
        assert!(calls.len() >= 5, "{calls:?}");
        // Whole words: `ModifyDBCluster` must not pass by being part of another name.
        let words: std::collections::BTreeSet<&str> =
            plan.split(|c: char| !c.is_ascii_alphanumeric()).collect();
        for call in calls {
            assert!(
                words.contains(call.operation.as_str()),
                "{kind:?}: {} is not in the plan:\n{plan}",
                call.operation
            );
        }
    }
}

// R7, R8: if the target copy was never made, nothing needs the share or the key: teardown
// cleans the source side completely.
#[tokio::test]
async fn r8_teardown_after_a_target_copy_that_never_started_cleans_up() {
    let w = world("never-started").await;
    let source = w.seed(SnapshotKind::Cluster, "s1", Some("alias/aws/rds"));
    let (mut stack, key) = w.stack();
    stack
        .add_migration("orders", w.migration(source, &key))
        .unwrap();
    // The second copy is the target's: it fails before it takes effect.
    w.fake
        .inject("CopyDBClusterSnapshot", 2, Fault::crash("InjectedCrash"));
    stack.deploy().await.unwrap_err();
    assert!(w.snapshots(B).is_empty());
    stack.teardown().await.unwrap();
    assert_eq!(w.snapshots(A).len(), 1, "the intermediate copy is gone");
    assert!(w.snapshots(A)[0].shared_with.is_empty());
    assert_eq!(w.fake.keys(id(A), &region())[0].state, "PendingDeletion");
}

// Two migrations of one source to two accounts use two intermediate copies and do not get in
// each other's way.
#[tokio::test]
async fn one_source_to_two_targets() {
    let w = world("two-targets").await;
    const C: &str = "888888888888";
    let c = w.fake.account(id(C)).await;
    let source = w.seed(SnapshotKind::Cluster, "s1", Some("alias/aws/rds"));
    let mut stack = Stack::new("move")
        .unwrap()
        .state_dir(&w.dir)
        .wait(WaitConfig::fast());
    let key = ShareableKey::new()
        .grant_account(id(B))
        .grant_account(id(C))
        .build()
        .unwrap();
    let key = stack
        .add("share-key", KeyResource::new(&w.a, region(), key).unwrap())
        .unwrap();
    stack
        .add_migration(
            "to-b",
            SnapshotMigration::new(&w.a, source.clone())
                .via(&key)
                .to(&w.b),
        )
        .unwrap();
    stack
        .add_migration(
            "to-c",
            SnapshotMigration::new(&w.a, source).via(&key).to(&c),
        )
        .unwrap();
    stack.deploy().await.unwrap();
    assert_eq!(
        w.snapshots(A).len(),
        3,
        "the source and one copy per target"
    );
    assert_eq!(w.snapshots(B).len(), 1);
    assert_eq!(w.fake.snapshots(id(C), &region()).len(), 1);
    stack.teardown().await.unwrap();
    assert_eq!(w.snapshots(A).len(), 1);
}

// Mistakes refused when the migration is added, before any call.
#[tokio::test]
async fn definition_mistakes_are_refused_before_any_call() {
    let w = world("definition").await;
    let (mut stack, key) = w.stack();
    let source: SnapshotRef = format!("arn:aws:rds:ap-northeast-1:{A}:cluster-snapshot:s1")
        .parse()
        .unwrap();
    let err = stack
        .add_migration(
            "orders",
            w.migration(source.clone(), &key)
                .region("us-east-1".parse().unwrap()),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("is in ap-northeast-1, not in us-east-1"),
        "{err}"
    );
    // Deleting the original and not keeping the copy would lose the data.
    let err = stack
        .add_reencryption(
            "reencrypt",
            SnapshotMigration::reencrypt(&w.a, source)
                .with_key(&key)
                .delete_source(true)
                .keep_target(false),
        )
        .unwrap_err();
    assert!(err.to_string().contains("would lose the data"), "{err}");
    assert_eq!(w.fake.calls(), vec![]);
}

// R20: with a fifth of the calls throttled, every migration of a batch still completes: the
// SDK retries, and a deploy throttled past its retries runs again (it is idempotent).
#[tokio::test]
async fn r20_throttling_under_load_is_retried_without_failures() {
    let w = world("throttled").await;
    let (stack, key) = w.stack();
    let mut stack = stack.concurrency(16);
    for i in 0..6 {
        let source = w.seed(
            SnapshotKind::Cluster,
            &format!("s{i}"),
            Some("alias/aws/rds"),
        );
        stack
            .add_migration(&format!("m{i}"), w.migration(source, &key))
            .unwrap();
    }
    w.fake.set_throttling(0.2);
    stack.deploy().await.unwrap();
    assert_eq!(w.snapshots(B).len(), 6, "every target copy made, once");
    assert_eq!(w.snapshots(A).len(), 12, "six sources and six copies");
    assert!(w.fake.throttled() > 10, "throttled {}", w.fake.throttled());
    stack.teardown().await.unwrap();
    assert_eq!(w.snapshots(A).len(), 6, "no orphan copy");
}
