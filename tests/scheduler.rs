//! The copy scheduler against the fake AWS: the quota is never exceeded (the fake counts),
//! AWS's refusals lower it, and polls are planned from the snapshot's size (R19 to R21).

use std::{path::PathBuf, time::Duration};

use snapshift::{
    aws::Account,
    engine::{Handle, Stack, WaitConfig},
    ids::{AccountId, Region, SnapshotRef},
    key::ShareableKey,
    migration::SnapshotMigration,
    resources::KeyResource,
    testing::{sdk_config_for, FakeAws, SeedSnapshot, VirtualClock},
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
    let a = fake.account(id(A)).await;
    let b = fake.account(id(B)).await;
    world_with(test, fake, a, b)
}

/// A world on simulated time: call it in a paused runtime; copies of hours take moments.
async fn world_on_virtual_clock(test: &str) -> World {
    let fake = FakeAws::start().await;
    fake.follow_request_clock();
    let clock = VirtualClock::start().latency(Duration::from_millis(200));
    let account = |account: &str| {
        let (fake, clock) = (&fake, clock.clone());
        let account = id(account);
        async move {
            let config = sdk_config_for(&fake.uri(), &fake.access_key(account), Some(clock)).await;
            Account::from_config(account, config)
        }
    };
    let a = account(A).await;
    let b = account(B).await;
    world_with(test, fake, a, b)
}

fn world_with(test: &str, fake: FakeAws, a: Account, b: Account) -> World {
    let dir = std::env::temp_dir().join(format!("snapshift-sched-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    World { fake, a, b, dir }
}

impl World {
    /// A stack migrating `sizes.len()` cluster snapshots of those sizes (GiB) to B.
    fn batch(&self, sizes: &[u32], wait: WaitConfig) -> Stack {
        let mut stack = Stack::new("batch")
            .unwrap()
            .state_dir(&self.dir)
            .wait(wait)
            .concurrency(64);
        let key = ShareableKey::new().grant_account(id(B)).build().unwrap();
        let key: Handle<KeyResource> = stack
            .add("key", KeyResource::new(&self.a, region(), key).unwrap())
            .unwrap();
        for (i, size) in sizes.iter().enumerate() {
            let mut seed = SeedSnapshot::cluster(
                id(A),
                &region(),
                &format!("s{i}"),
                &format!("db{i}"),
                Some("alias/aws/rds"),
            );
            seed.size_gb = *size;
            let source: SnapshotRef = self.fake.seed_snapshot(seed).unwrap().parse().unwrap();
            stack
                .add_migration(
                    &format!("m{i}"),
                    SnapshotMigration::new(&self.a, source)
                        .via(&key)
                        .to(&self.b),
                )
                .unwrap();
        }
        stack
    }

    fn refusals(&self) -> usize {
        self.fake
            .calls()
            .iter()
            .filter(|c| c.error.as_deref() == Some("SnapshotQuotaExceeded"))
            .count()
    }
}

// R19: with a quota of 3, never more than 3 copies in flight in either account, and AWS never
// has to refuse one.
#[tokio::test]
async fn r19_the_quota_is_never_exceeded() {
    let w = world("quota").await;
    // Copies long enough (30 to 270 ms) that three overlap even on a loaded machine.
    w.fake.set_copy_time(Duration::from_millis(30));
    w.fake.set_copy_quota(3);
    let stack = w.batch(
        &[4, 8, 2, 6, 3, 5, 7, 1, 9],
        WaitConfig {
            copy_quota: 3,
            ..WaitConfig::fast()
        },
    );
    stack.deploy().await.unwrap();
    assert_eq!(w.fake.peak_copies_in_flight(id(A), &region()), 3);
    assert!(w.fake.peak_copies_in_flight(id(B), &region()) <= 3);
    assert_eq!(w.refusals(), 0);
}

// R19: when AWS refuses (others copy too), the scheduler keeps fewer copies in flight from
// then on, and every copy still completes.
#[tokio::test]
async fn r19_refusals_lower_the_quota_and_nothing_fails() {
    let w = world("lower").await;
    w.fake.set_copy_time(Duration::from_millis(5));
    w.fake.set_copy_quota(2);
    let stack = w.batch(
        &[3, 3, 3, 3, 3, 3, 3, 3],
        WaitConfig {
            copy_quota: 6,
            ..WaitConfig::fast()
        },
    );
    stack.deploy().await.unwrap();
    assert_eq!(w.fake.snapshots(id(B), &region()).len(), 8);
    let refusals = w.refusals();
    assert!(refusals > 0, "the fake's quota of 2 was hit");
    // Each refusal takes a slot away, so they stop once the quota matches AWS's.
    assert!(
        refusals <= 8,
        "{refusals} refusals: the quota was not lowered"
    );
}

// R5, R21: polls are planned from the size and the measured speed: a handful of Describe
// calls per copy, for short and for long copies alike, whether the first guess of the speed
// (35 MiB/s) is far too slow (seconds per GiB) or too fast (a minute per GiB). On simulated
// time, so that the count does not depend on the machine's load.
#[tokio::test(start_paused = true)]
async fn r21_describe_calls_per_copy_stay_few_whatever_the_copy_time() {
    for per_gib in [Duration::from_secs(2), Duration::from_secs(60)] {
        let sizes = [10u32, 20, 40, 5, 30, 15, 80, 25];
        let w = world_on_virtual_clock(&format!("polls-{}", per_gib.as_secs())).await;
        w.fake.set_copy_time(per_gib);
        let stack = w.batch(&sizes, WaitConfig::default());
        stack.deploy().await.unwrap();
        let copies = 2 * sizes.len();
        let describes = w.fake.count("DescribeDBClusterSnapshots");
        let per_copy = describes as f64 / copies as f64;
        eprintln!("{per_gib:?}/GiB: {per_copy:.1} describes per copy");
        assert!(
            per_copy <= 12.0,
            "{per_gib:?}/GiB: {describes} describes for {copies} copies ({per_copy:.1} each)"
        );
    }
}
