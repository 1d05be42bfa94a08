//! The crate's promise, held against the fake AWS: nothing the user owns is lost or taken
//! over. Teardown undoes what the state recorded, not what an edited definition says; nothing
//! is adopted by name alone; no key is scheduled for deletion while something is encrypted
//! under it (R8); bad settings are refused before any call.

use std::{path::PathBuf, time::Duration};

use snapshift::{
    aws::Account,
    engine::{Action, Handle, Options, Stack, WaitConfig},
    error::Error,
    ids::{AccountId, Region, SnapshotKind, SnapshotRef},
    key::ShareableKey,
    migration::{RestoreSpec, SnapshotMigration},
    resources::KeyResource,
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
    let dir = std::env::temp_dir().join(format!("snapshift-safety-{test}-{}", std::process::id()));
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

    fn stack(&self, name: &str) -> Stack {
        Stack::new(name)
            .unwrap()
            .state_dir(&self.dir)
            .wait(WaitConfig::fast())
    }

    /// A key in account A, granted to B when `grant`, retained when `retain`.
    fn key(&self, stack: &mut Stack, grant: bool, retain: bool) -> Handle<KeyResource> {
        let mut key = ShareableKey::new().alias("safety").deletion_window_days(7);
        if grant {
            key = key.grant_account(id(B));
        }
        let resource = KeyResource::new(&self.a, region(), key.build().unwrap()).unwrap();
        let options = if retain {
            Options::new().retain()
        } else {
            Options::new()
        };
        stack.add_with("key", resource, options).unwrap()
    }

    fn snapshots(&self, account: &str) -> Vec<snapshift::testing::FakeSnapshot> {
        self.fake.snapshots(id(account), &region())
    }

    fn key_state(&self) -> String {
        self.fake.keys(id(A), &region())[0].state.clone()
    }
}

// Item 6 of the safety review: a wait config whose first pause is longer than its longest
// panicked mid-deploy (`Duration::clamp`), and a zero heartbeat spun. Both are refused where
// they are given, before any AWS call.
#[tokio::test]
async fn a_wait_config_that_cannot_work_is_refused_before_any_call() {
    let w = world("wait-config").await;
    let out_of_order = WaitConfig {
        initial_interval: Duration::from_secs(10),
        max_interval: Duration::from_secs(1),
        ..WaitConfig::fast()
    };
    let no_heartbeat = WaitConfig {
        heartbeat: Duration::ZERO,
        ..WaitConfig::fast()
    };
    for (config, field) in [
        (out_of_order, "initial_interval"),
        (no_heartbeat, "heartbeat"),
    ] {
        let mut stack = w.stack("wait").wait(config);
        w.key(&mut stack, false, false);
        for result in [
            stack.deploy().await.map(drop),
            stack.preview().await.map(drop),
            stack.teardown().await.map(drop),
        ] {
            let err = result.unwrap_err();
            assert!(matches!(err, Error::Definition { .. }), "{err}");
            assert!(err.to_string().contains(field), "{err}");
        }
        assert!(w.fake.calls().is_empty(), "no AWS call was made");
    }
}

/// Seeds a DB snapshot `db-1` under `alias/aws/rds` and adds its re-encryption.
fn reencryption(
    w: &World,
    stack: &mut Stack,
    edit: impl FnOnce(SnapshotMigration) -> SnapshotMigration,
) {
    let key = w.key(stack, false, false);
    let source: SnapshotRef = format!("arn:aws:rds:ap-northeast-1:{A}:snapshot:db-1")
        .parse()
        .unwrap();
    stack
        .add_reencryption(
            "db-1",
            edit(SnapshotMigration::reencrypt(&w.a, source).with_key(&key)),
        )
        .unwrap();
}

// R8 (safety review, item 1): what was done decides what is undone. A re-encryption deployed
// with delete_source(true) leaves its copy as the only one. Torn down from a definition edited
// to keep_target(false), or deployed again with it first, teardown keeps the copy (the state
// pinned it) and does not schedule the key it is encrypted under.
#[tokio::test]
async fn teardown_keeps_the_only_copy_whatever_an_edited_definition_says() {
    for redeploy_edited in [false, true] {
        let w = world(&format!("only-copy-{redeploy_edited}")).await;
        w.seed(SnapshotKind::Db, "db-1", Some("alias/aws/rds"));
        let mut stack = w.stack("reencrypt");
        reencryption(&w, &mut stack, |m| m.delete_source(true));
        stack.deploy().await.unwrap();
        let ids = |w: &World| -> Vec<String> { w.snapshots(A).into_iter().map(|s| s.id).collect() };
        assert_eq!(ids(&w), ["db-1-reencrypted"], "the original is gone");

        let mut edited = w.stack("reencrypt");
        reencryption(&w, &mut edited, |m| m.keep_target(false));
        if redeploy_edited {
            edited.deploy().await.unwrap();
        }
        let plan = edited.preview_teardown().await.unwrap();
        let copy = plan.changes.iter().find(|c| c.resource == "db-1").unwrap();
        assert_eq!(copy.action, Action::Keep, "{}", plan.render());
        let err = edited.teardown().await.unwrap_err();
        assert_eq!(err.rule(), Some(snapshift::rules::Rule::R8), "{err}");
        assert_eq!(ids(&w), ["db-1-reencrypted"], "the only copy is kept");
        assert_eq!(w.key_state(), "Enabled", "its key is not scheduled");
    }
}

// R3 (safety review, item 4): a re-encryption of another account's snapshot ARN would copy,
// and with delete_source delete, the own account's snapshot of the same name; a key of
// another account or region cannot encrypt the copy. Refused when added, before any call.
#[tokio::test]
async fn a_snapshot_or_key_of_another_account_or_region_is_refused_before_any_call() {
    let w = world("foreign-arn").await;
    w.seed(SnapshotKind::Db, "foo", Some("alias/aws/rds"));
    let mut stack = w.stack("reencrypt");
    let key = w.key(&mut stack, false, false);
    let theirs: SnapshotRef = format!("arn:aws:rds:ap-northeast-1:{B}:snapshot:foo")
        .parse()
        .unwrap();
    let err = stack
        .add_reencryption(
            "foo",
            SnapshotMigration::reencrypt(&w.a, theirs)
                .with_key(&key)
                .delete_source(true),
        )
        .unwrap_err();
    assert!(matches!(err, Error::Definition { .. }), "{err}");
    assert!(err.to_string().contains(B), "{err}");

    // A key of another region, for a re-encryption and for a migration.
    let other: Region = "us-east-1".parse().unwrap();
    let far = KeyResource::new(
        &w.a,
        other,
        ShareableKey::new().grant_account(id(B)).build().unwrap(),
    )
    .unwrap();
    let far = stack.add("far-key", far).unwrap();
    let ours: SnapshotRef = format!("arn:aws:rds:ap-northeast-1:{A}:snapshot:foo")
        .parse()
        .unwrap();
    let err = stack
        .add_reencryption(
            "foo",
            SnapshotMigration::reencrypt(&w.a, ours.clone()).with_key(&far),
        )
        .unwrap_err();
    assert!(err.to_string().contains("us-east-1"), "{err}");
    let err = stack
        .add_migration(
            "foo",
            SnapshotMigration::new(&w.a, ours.clone())
                .via(&far)
                .to(&w.b),
        )
        .unwrap_err();
    assert!(err.to_string().contains("us-east-1"), "{err}");

    // A key of another account.
    let mut other_stack = w.stack("reencrypt-b");
    let b_key = KeyResource::new(&w.b, region(), ShareableKey::new().build().unwrap()).unwrap();
    let b_key = other_stack.add("b-key", b_key).unwrap();
    let err = other_stack
        .add_reencryption(
            "foo",
            SnapshotMigration::reencrypt(&w.a, ours).with_key(&b_key),
        )
        .unwrap_err();
    assert!(err.to_string().contains(B), "{err}");
    assert!(w.fake.calls().is_empty(), "no AWS call was made");
}

/// A cluster snapshot `s1` under `alias/aws/rds` and a stack moving it to B with a restore
/// `orders-restored`.
fn restoring_stack(w: &World, keep_target: bool) -> Stack {
    let source = w.seed(SnapshotKind::Cluster, "s1", Some("alias/aws/rds"));
    let mut stack = w.stack("move");
    let key = w.key(&mut stack, true, false);
    stack
        .add_migration(
            "orders",
            SnapshotMigration::new(&w.a, source)
                .via(&key)
                .to(&w.b)
                .keep_target(keep_target)
                .restore(RestoreSpec::new("orders-restored").unwrap()),
        )
        .unwrap();
    stack
}

// R10 (safety review, item 3): a first restore failed, and someone made a cluster of that name
// meanwhile. The re-run stops, naming it, and neither restores over it nor turns on its
// managed password: nothing is adopted by name alone.
#[tokio::test]
async fn a_restore_never_adopts_a_database_someone_else_made() {
    let w = world("restore-adopt").await;
    let stack = restoring_stack(&w, true);
    w.fake.inject(
        "RestoreDBClusterFromSnapshot",
        1,
        Fault::crash("InternalFailure"),
    );
    stack.deploy().await.unwrap_err();
    w.fake
        .seed_cluster(id(B), &region(), "orders-restored", None)
        .unwrap();
    w.fake.clear_log();
    let err = stack.deploy().await.unwrap_err();
    assert!(matches!(err, Error::NotOurs { .. }), "{err}");
    assert!(err.to_string().contains("orders-restored"), "{err}");
    assert!(
        w.fake.mutating_calls().is_empty(),
        "nothing changed: {:?}",
        w.fake.mutating_calls()
    );
    let theirs = w
        .fake
        .databases(id(B), &region())
        .into_iter()
        .find(|d| d.id == "orders-restored")
        .unwrap();
    assert!(theirs.tags.is_empty(), "{theirs:?}");
}

// R10: a restore whose answer was lost finds its own database by its tags; once restored, a
// deploy again makes no mutating call and the plan says Unchanged.
#[tokio::test]
async fn a_restore_resumes_after_a_lost_answer_and_is_not_repeated() {
    let w = world("restore-resume").await;
    let stack = restoring_stack(&w, true);
    w.fake.inject(
        "RestoreDBClusterFromSnapshot",
        1,
        Fault::ErrorAfterApply(AwsFault::new("InternalFailure", "lost answer")),
    );
    stack.deploy().await.unwrap_err();
    stack.deploy().await.unwrap();
    let db = w
        .fake
        .databases(id(B), &region())
        .into_iter()
        .find(|d| d.id == "orders-restored")
        .unwrap();
    assert!(db.manage_master_user_password, "R10");
    w.fake.clear_log();
    let plan = stack.preview().await.unwrap();
    let restore = plan
        .changes
        .iter()
        .find(|c| c.resource == "orders-restore")
        .unwrap();
    assert_eq!(restore.action, Action::Unchanged, "{}", plan.render());
    stack.deploy().await.unwrap();
    assert!(
        w.fake.mutating_calls().is_empty(),
        "{:?}",
        w.fake.mutating_calls()
    );
}

// R7, R8 (safety review, item 7): with keep_target(false) and a restore, teardown stopped at
// `-target` forever, leaving the share, the copy and the key's grant. A restored database no
// longer needs its snapshot: teardown finishes and keeps the database.
#[tokio::test]
async fn keep_target_false_with_a_restore_tears_down_and_keeps_the_database() {
    let w = world("restore-no-target").await;
    let stack = restoring_stack(&w, false);
    stack.deploy().await.unwrap();
    let report = stack.teardown().await.unwrap();
    assert!(
        report.removed.iter().any(|(r, _)| r == "orders-target"),
        "{report:?}"
    );
    assert_eq!(w.key_state(), "PendingDeletion");
    assert!(
        w.snapshots(B).is_empty(),
        "the target copy was deleted as asked"
    );
    assert!(
        w.fake
            .databases(id(B), &region())
            .iter()
            .any(|d| d.id == "orders-restored"),
        "the restored database is kept"
    );
}

// R7, R8 (safety review, item 7): a target key of the same stack, named by a string, had no
// dependency edge. As `TargetKey::Stack` it is made first; teardown keeps the target copy and
// must not schedule the key it is encrypted under: the engine finds the copy and refuses.
#[tokio::test]
async fn a_stack_key_used_as_the_target_key_is_not_scheduled_under_the_kept_copy() {
    let w = world("target-key").await;
    let source = w.seed(SnapshotKind::Cluster, "s1", Some("alias/aws/rds"));
    let mut stack = w.stack("move");
    let target_key = ShareableKey::new()
        .alias("target-key")
        .deletion_window_days(7)
        .build()
        .unwrap();
    let target_key = stack
        .add(
            "target-key",
            KeyResource::new(&w.b, region(), target_key).unwrap(),
        )
        .unwrap();
    let key = w.key(&mut stack, true, false);
    stack
        .add_migration(
            "orders",
            SnapshotMigration::new(&w.a, source)
                .via(&key)
                .to(&w.b)
                .target_key(snapshift::migration::TargetKey::Stack(target_key)),
        )
        .unwrap();
    stack.deploy().await.unwrap();
    let err = stack.teardown().await.unwrap_err();
    let Error::KeyInUse {
        resource, users, ..
    } = &err
    else {
        panic!("expected KeyInUse, got {err}");
    };
    assert_eq!(resource, "target-key");
    assert!(
        users.iter().any(|u| u.contains("cluster-snapshot:s1")),
        "{err}"
    );
    assert_eq!(
        w.fake
            .keys(id(B), &region())
            .iter()
            .filter(|k| k.state == "PendingDeletion")
            .count(),
        0,
        "{err}"
    );
    assert_eq!(w.snapshots(B).len(), 1, "the target copy is kept");
}

// Safety review, item 7: a new key was found again only through ListKeys; without that
// permission it was never recorded, and so never scheduled for deletion. It is recorded from
// CreateKey's own answer first.
#[tokio::test]
async fn a_new_key_is_recorded_without_the_permission_to_list_keys() {
    let w = world("no-list-keys").await;
    for nth in 1..=5 {
        w.fake
            .inject("ListKeys", nth, Fault::crash("AccessDeniedException"));
    }
    let mut stack = w.stack("keys");
    w.key(&mut stack, false, false);
    stack.deploy().await.unwrap();
    assert_eq!(w.fake.keys(id(A), &region()).len(), 1);
    stack.teardown().await.unwrap();
    assert_eq!(
        w.key_state(),
        "PendingDeletion",
        "the key is known to teardown"
    );
}

// R27: a restore that ends in a state it does not leave (a subnet group or security group
// that does not fit, say) stops the wait at once, naming the state, instead of waiting out
// the timeout; nothing of the user's is touched.
#[tokio::test]
async fn r27_a_restore_in_a_terminal_state_stops_the_wait_at_once() {
    for state in [
        "incompatible-network",
        "incompatible-parameters",
        "inaccessible-encryption-credentials",
        "failed",
    ] {
        let w = world(&format!("terminal-{state}")).await;
        let stack = restoring_stack(&w, true);
        w.fake.fail_next_restore(state);
        let started = std::time::Instant::now();
        let err = stack.deploy().await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{state}: waited {:?}",
            started.elapsed()
        );
        let text = err.to_string();
        assert!(text.contains(state) && text.contains("R27"), "{text}");
        assert_eq!(
            w.fake.count("ModifyDBCluster"),
            0,
            "{state}: the database is not changed"
        );
    }
}

// R31: account B may use A's key only when A's key policy grants B (snapshift writes it) and
// B's own IAM lets its principal use the key. The second half is checked with B's credentials
// right after the key exists, before the hours-long copy starts: the deploy stops in seconds,
// naming the policy B needs, with no copy made.
#[tokio::test]
async fn r31_a_target_whose_own_iam_cannot_use_the_key_stops_before_the_copy() {
    let w = world("r31").await;
    w.fake.set_caller_policy(
        id(B),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds:*","Resource":"*"}]}"#,
    );
    let stack = {
        let source = w.seed(SnapshotKind::Cluster, "s1", Some("alias/aws/rds"));
        let mut stack = w.stack("move");
        let key = w.key(&mut stack, true, false);
        stack
            .add_migration(
                "orders",
                SnapshotMigration::new(&w.a, source).via(&key).to(&w.b),
            )
            .unwrap();
        stack
    };
    let err = stack.deploy().await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("orders-key-access") && text.contains("R31") && text.contains("kms:Decrypt"),
        "{text}"
    );
    assert_eq!(
        w.fake.count("CopyDBClusterSnapshot"),
        0,
        "no copy was started"
    );

    // Given the policy it needs, the same deploy goes through.
    w.fake.set_caller_policy(
        id(B),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["rds:*","kms:*"],"Resource":"*"}]}"#,
    );
    stack.deploy().await.unwrap();
    assert_eq!(w.snapshots(B).len(), 1);
}
