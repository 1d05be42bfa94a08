//! The fault matrix: each whole flow (migration, re-encryption, cross-region backup, fleet)
//! runs once in a world as unkind as AWS on a bad day, all at once: eventual consistency as
//! FakeAws models it by default (R26: new keys, aliases and policies unknown for a few calls,
//! replicas `Creating`, new roles refused by AWS Backup), 10 % of the calls throttled (R20),
//! 3 % answered with HTTP 500, and every list and describe in pages of 2. Each must finish in one deploy, with no
//! duplicate, and tear down. Each test prints how many calls the matrix failed, which the
//! clients and the stack retried.

use std::{path::PathBuf, time::Duration};

use snapshift::{
    aws::Account,
    backup::{Lifecycle, ProtectedCluster, StartWindow, Windows},
    cross_region::CrossRegionBackup,
    engine::{Options, Stack, WaitConfig},
    fleet::{FleetMigration, OutcomeStatus},
    ids::{AccountId, Region, SnapshotKind},
    key::ShareableKey,
    migration::{RestoreSpec, SnapshotMigration},
    resources::KeyResource,
    testing::{FakeAws, SeedSnapshot},
};

const A: &str = "111111111111";
const B: &str = "999999999999";

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn src() -> Region {
    "ap-northeast-1".parse().unwrap()
}

fn dst() -> Region {
    "ap-northeast-3".parse().unwrap()
}

struct World {
    fake: FakeAws,
    a: Account,
    b: Account,
    dir: PathBuf,
}

/// A fake with the whole matrix on.
async fn world(test: &str) -> World {
    let fake = FakeAws::start().await;
    fake.set_copy_time(Duration::from_millis(5));
    fake.set_backup_job_time(Duration::from_millis(10));
    let a = fake.account(id(A)).await;
    let b = fake.account(id(B)).await;
    let dir = std::env::temp_dir().join(format!("snapshift-matrix-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    World { fake, a, b, dir }
}

impl World {
    /// Turns the matrix on, once the world is seeded.
    fn unkind(&self) {
        self.fake.set_throttling(0.10);
        self.fake.set_internal_errors(0.03);
        self.fake.set_page_size(2);
    }

    fn stack(&self) -> Stack {
        Stack::new("matrix")
            .unwrap()
            .state_dir(&self.dir)
            .wait(WaitConfig::fast())
    }

    fn key(
        &self,
        stack: &mut Stack,
        grant: bool,
        retain: bool,
    ) -> snapshift::engine::Handle<KeyResource> {
        let mut key = ShareableKey::new().alias("matrix").deletion_window_days(7);
        if grant {
            key = key.grant_account(id(B));
        }
        let options = if retain {
            Options::new().retain()
        } else {
            Options::new()
        };
        stack
            .add_with(
                "key",
                KeyResource::new(&self.a, src(), key.build().unwrap()).unwrap(),
                options,
            )
            .unwrap()
    }

    /// Customer managed keys that are not pending deletion, in account A.
    fn live_keys(&self, region: &Region) -> usize {
        self.fake
            .keys(id(A), region)
            .iter()
            .filter(|k| !k.aws_managed && k.state == "Enabled")
            .count()
    }

    fn report(&self, flow: &str) {
        println!(
            "{flow}: {} calls throttled, {} answered with HTTP 500, {} answered as not yet consistent, all retried",
            self.fake.throttled(),
            self.fake.internal_errors(),
            self.fake.unsettled_answers()
        );
    }
}

#[tokio::test]
async fn migration_with_a_restore_finishes_in_one_deploy_under_the_matrix() {
    let w = world("migration").await;
    let source = w
        .fake
        .seed_snapshot(SeedSnapshot::cluster(
            id(A),
            &src(),
            "orders-1",
            "orders",
            Some("alias/aws/rds"),
        ))
        .unwrap();
    w.unkind();
    let mut stack = w.stack();
    let key = w.key(&mut stack, true, false);
    stack
        .add_migration(
            "orders",
            SnapshotMigration::new(&w.a, source.parse().unwrap())
                .via(&key)
                .to(&w.b)
                .restore(RestoreSpec::new("orders-restored").unwrap()),
        )
        .unwrap();
    stack.deploy().await.unwrap();
    assert_eq!(w.live_keys(&src()), 1, "one key");
    assert_eq!(
        w.fake.snapshots(id(A), &src()).len(),
        2,
        "source and one copy"
    );
    assert_eq!(w.fake.snapshots(id(B), &src()).len(), 1, "one target copy");
    assert_eq!(w.fake.databases(id(B), &src()).len(), 1, "one restore");
    stack.teardown().await.unwrap();
    assert_eq!(w.fake.snapshots(id(A), &src()).len(), 1);
    w.report("migration");
}

#[tokio::test]
async fn reencryption_finishes_in_one_deploy_under_the_matrix() {
    let w = world("reencrypt").await;
    let source = w
        .fake
        .seed_snapshot(SeedSnapshot::db(
            id(A),
            &src(),
            "db-1",
            "orders-db",
            Some("alias/aws/rds"),
        ))
        .unwrap();
    w.unkind();
    let mut stack = w.stack();
    let key = w.key(&mut stack, false, true);
    stack
        .add_reencryption(
            "db-1",
            SnapshotMigration::reencrypt(&w.a, source.parse().unwrap())
                .with_key(&key)
                .delete_source(true),
        )
        .unwrap();
    stack.deploy().await.unwrap();
    let ids: Vec<String> = w
        .fake
        .snapshots(id(A), &src())
        .into_iter()
        .filter(|s| s.kind == SnapshotKind::Db)
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, ["db-1-reencrypted"]);
    assert_eq!(w.live_keys(&src()), 1);
    stack.teardown().await.unwrap();
    assert_eq!(
        w.live_keys(&src()),
        1,
        "kept: the copy is encrypted under it"
    );
    w.report("re-encryption");
}

#[tokio::test]
async fn cross_region_backup_finishes_in_one_deploy_under_the_matrix() {
    let w = world("backup").await;
    w.fake
        .seed_cluster(id(A), &src(), "example-db", Some("alias/aws/rds"))
        .unwrap();
    w.unkind();
    let mut stack = w.stack();
    let handles = stack
        .add_cross_region_backup(
            "example-db-dr",
            &w.a,
            CrossRegionBackup::new(src(), dst())
                .cluster(ProtectedCluster::new(
                    "example-db".parse().unwrap(),
                    "example-db-subnet-group".parse().unwrap(),
                    "example-db-cluster-pg".parse().unwrap(),
                ))
                .schedule("cron(0 16 * * ? *)".parse().unwrap())
                .windows(Windows::new(StartWindow::minutes(60).unwrap(), 480).unwrap())
                .lifecycle(Lifecycle::delete_after(35).unwrap())
                .copy_lifecycle(Lifecycle::delete_after(35).unwrap()),
        )
        .unwrap();
    stack.deploy().await.unwrap();
    assert_eq!(w.live_keys(&src()), 1, "one primary key");
    assert_eq!(w.fake.backup_plans(id(A), &src()).len(), 1, "one plan");
    assert_eq!(w.fake.roles(id(A)).len(), 1, "one role");
    let point = stack
        .backup_now(&handles, &"example-db".parse().unwrap())
        .await
        .unwrap();
    let copy = stack.copy_to_destination(&handles, &point).await.unwrap();
    assert_eq!(w.fake.recovery_points(id(A), &src()).len(), 1, "one backup");
    assert_eq!(w.fake.recovery_points(id(A), &dst()).len(), 1, "one copy");
    for p in [&copy, &point] {
        stack.delete_recovery_point(&handles, p).await.unwrap();
    }
    stack.teardown().await.unwrap();
    w.report("cross-region backup");
}

#[tokio::test]
async fn a_fleet_finishes_in_one_deploy_under_the_matrix() {
    let w = world("fleet").await;
    let names: Vec<String> = (0..8).map(|i| format!("snap-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let mut seed = SeedSnapshot::cluster(
            id(A),
            &src(),
            name,
            &format!("db-{i}"),
            Some("alias/aws/rds"),
        );
        seed.size_gb = [30, 5, 12, 50, 8, 20, 3, 40][i];
        w.fake.seed_snapshot(seed).unwrap();
    }
    w.unkind();
    let fleet = FleetMigration::new(&w.a, src())
        .snapshots(names.iter().map(|n| {
            format!("arn:aws:rds:ap-northeast-1:{A}:cluster-snapshot:{n}")
                .parse()
                .unwrap()
        }))
        .to(&w.b)
        .resolve()
        .await
        .unwrap();
    let mut stack = w.stack();
    let handles = stack.add_fleet("mv", fleet).unwrap();
    let report = stack.deploy().await.unwrap();
    let outcomes = handles.outcomes(&report).unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o.status, OutcomeStatus::Done(_))),
        "{outcomes:?}"
    );
    assert_eq!(w.fake.snapshots(id(B), &src()).len(), 8, "one copy each");
    assert_eq!(w.live_keys(&src()), 1);
    stack.teardown().await.unwrap();
    w.report("fleet");
}
