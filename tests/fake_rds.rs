//! FakeAws's RDS model through the real SDK: the rules a migration meets.

use std::time::Duration;

use aws_sdk_rds::error::ProvideErrorMetadata;

use snapshift::{
    aws::{
        kms::{Kms, NewKey},
        rds::{CopyRequest, Rds},
        Account,
    },
    ids::{AccountId, Region, SnapshotKind},
    key::ShareableKey,
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

const CLUSTER: SnapshotKind = SnapshotKind::Cluster;

async fn shareable_key(account: &Account) -> String {
    let policy = ShareableKey::new()
        .grant_account(id(B))
        .build()
        .unwrap()
        .key_policy(id(A))
        .unwrap()
        .to_json();
    Kms::new(account, &region())
        .create_key(&NewKey {
            policy: &policy,
            description: "share",
            multi_region: false,
            tags: &[],
        })
        .await
        .unwrap()
        .arn
        .to_string()
}

async fn wait_available(rds: &Rds, reference: &str) {
    for _ in 0..200 {
        if rds
            .describe_snapshot(CLUSTER, reference)
            .await
            .unwrap()
            .unwrap()
            .is_available()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{reference} never became available");
}

// R1: a snapshot under alias/aws/rds cannot be shared: AWS's own code and message.
#[tokio::test]
async fn r1_sharing_a_default_key_snapshot_is_refused() {
    let fake = FakeAws::start().await;
    let a = fake.account(id(A)).await;
    fake.seed_snapshot(SeedSnapshot::cluster(
        id(A),
        &region(),
        "orders-1",
        "orders",
        Some("alias/aws/rds"),
    ))
    .unwrap();
    let err = Rds::new(&a, &region())
        .set_shared(CLUSTER, "orders-1", id(B), true)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert_eq!(err.message(), Some("Sharing snapshots encrypted with the default service key for RDS is currently not supported."));
}

// R3, R5, R6, R7: re-encrypting copy under the shareable key, shared, seen by the target as
// shared, copied there by ARN under the target's key; progress stays at 0 until done.
#[tokio::test]
async fn r3_r5_r6_r7_the_whole_path_by_hand() {
    let fake = FakeAws::start().await;
    fake.set_copy_time(Duration::from_millis(150));
    let (a, b) = (fake.account(id(A)).await, fake.account(id(B)).await);
    let source = fake
        .seed_snapshot(SeedSnapshot::cluster(
            id(A),
            &region(),
            "orders-1",
            "orders",
            Some("alias/aws/rds"),
        ))
        .unwrap();
    let key = shareable_key(&a).await;
    let rds_a = Rds::new(&a, &region());
    let copy = rds_a
        .copy_snapshot(
            CLUSTER,
            &CopyRequest {
                source: "orders-1",
                target: "orders-1-share",
                kms_key: Some(&key),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((copy.status.as_str(), copy.percent), ("creating", 0));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let midway = rds_a
        .describe_snapshot(CLUSTER, "orders-1-share")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(midway.percent, 0, "R5: no progress until done");
    wait_available(&rds_a, "orders-1-share").await;
    rds_a
        .set_shared(CLUSTER, "orders-1-share", id(B), true)
        .await
        .unwrap();
    assert_eq!(
        rds_a.shared_with(CLUSTER, "orders-1-share").await.unwrap(),
        [B]
    );

    let rds_b = Rds::new(&b, &region());
    let shared = rds_b
        .describe_snapshot(CLUSTER, &copy.arn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shared.snapshot_type, "shared");
    // R3: by identifier the target finds nothing; the ARN is needed.
    let err = rds_b
        .copy_snapshot(
            CLUSTER,
            &CopyRequest {
                source: "orders-1-share",
                target: "orders-1",
                kms_key: Some("alias/aws/rds"),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DBClusterSnapshotNotFoundFault"));
    let target = rds_b
        .copy_snapshot(
            CLUSTER,
            &CopyRequest {
                source: &copy.arn,
                target: "orders-1",
                kms_key: Some("alias/aws/rds"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    wait_available(&rds_b, "orders-1").await;
    let managed_b = Kms::new(&b, &region())
        .describe_key("alias/aws/rds")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        target.kms_key.as_deref(),
        Some(managed_b.arn.to_string().as_str()),
        "R7: under the target's key"
    );
    // The source is untouched.
    let original = fake
        .snapshots(id(A), &region())
        .into_iter()
        .find(|s| s.arn() == source)
        .unwrap();
    assert!(original.shared_with.is_empty());
}

// R7: once the source key is pending deletion, the shared snapshot cannot be copied.
#[tokio::test]
async fn r7_shared_snapshot_is_unusable_after_the_key_goes() {
    let fake = FakeAws::start().await;
    let (a, b) = (fake.account(id(A)).await, fake.account(id(B)).await);
    let key = shareable_key(&a).await;
    let arn = fake
        .seed_snapshot(SeedSnapshot::cluster(
            id(A),
            &region(),
            "s1",
            "c1",
            Some(&key),
        ))
        .unwrap();
    Rds::new(&a, &region())
        .set_shared(CLUSTER, "s1", id(B), true)
        .await
        .unwrap();
    Kms::new(&a, &region())
        .schedule_key_deletion(
            &key.parse::<snapshift::ids::KeyArn>()
                .unwrap()
                .key_id()
                .clone(),
            7,
        )
        .await
        .unwrap();
    let err = Rds::new(&b, &region())
        .copy_snapshot(
            CLUSTER,
            &CopyRequest {
                source: &arn,
                target: "s1",
                kms_key: Some("alias/aws/rds"),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("KMSKeyNotAccessibleFault"));
}

// R9: restoring needs the snapshot's key; a key that does not grant the target fails.
#[tokio::test]
async fn r9_restore_needs_the_key() {
    let request = snapshift::aws::rds::RestoreRequest {
        engine: "aurora-mysql",
        ..Default::default()
    };
    let fake = FakeAws::start().await;
    let (a, b) = (fake.account(id(A)).await, fake.account(id(B)).await);
    let private = Kms::new(&a, &region())
        .create_key(&NewKey {
            policy: &ShareableKey::new()
                .build()
                .unwrap()
                .key_policy(id(A))
                .unwrap()
                .to_json(),
            description: "",
            multi_region: false,
            tags: &[],
        })
        .await
        .unwrap()
        .arn
        .to_string();
    let arn = fake
        .seed_snapshot(SeedSnapshot::cluster(
            id(A),
            &region(),
            "s1",
            "c1",
            Some(&private),
        ))
        .unwrap();
    Rds::new(&a, &region())
        .set_shared(CLUSTER, "s1", id(B), true)
        .await
        .unwrap();
    let err = Rds::new(&b, &region())
        .restore(CLUSTER, &arn, "restored", &request)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("KMSKeyNotAccessibleFault"));
    // The owner restores fine.
    assert!(Rds::new(&a, &region())
        .restore(CLUSTER, "s1", "restored", &request)
        .await
        .unwrap());
}

// R6: at most 20 accounts.
#[tokio::test]
async fn r6_share_limit() {
    let fake = FakeAws::start().await;
    let a = fake.account(id(A)).await;
    fake.seed_snapshot(SeedSnapshot::cluster(id(A), &region(), "s1", "c1", None))
        .unwrap();
    let rds = Rds::new(&a, &region());
    for n in 1..=20u64 {
        rds.set_shared(
            CLUSTER,
            "s1",
            format!("{:012}", 200_000_000_000 + n).parse().unwrap(),
            true,
        )
        .await
        .unwrap();
    }
    let err = rds
        .set_shared(CLUSTER, "s1", id(B), true)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("SharedSnapshotQuotaExceeded"));
}

/// Account `account`'s RDS client in `region`, as `src/aws/` builds it.
async fn rds_client(fake: &FakeAws, account: &str, region: &Region) -> aws_sdk_rds::Client {
    let config = fake
        .sdk_config(id(account))
        .await
        .to_builder()
        .region(aws_config::Region::new(region.to_string()))
        .build();
    aws_sdk_rds::Client::new(&config)
}

// R3, R29: only a manual snapshot can be shared. AWS refuses an automated or AWS Backup
// snapshot's identifier with `InvalidParameterValue` (not `InvalidDBSnapshotState`), as the
// public record shows (aws/aws-cli issues 8296 and 5407); snapshift refuses it before any
// call, naming the snapshot and the rules. Copy it to a manual one first.
#[tokio::test]
async fn r3_r29_only_manual_snapshots_are_shared() {
    let fake = FakeAws::start().await;
    let a = fake.account(id(A)).await;
    let mut seed = SeedSnapshot::db(id(A), &region(), "rds:db1-2026-11-23-00-05", "db1", None);
    seed.snapshot_type = "automated".into();
    fake.seed_snapshot(seed).unwrap();
    let mut seed = SeedSnapshot::cluster(id(A), &region(), "awsbackup:job-1", "orders", None);
    seed.snapshot_type = "awsbackup".into();
    fake.seed_snapshot(seed).unwrap();

    // AWS's answer.
    let client = rds_client(&fake, A, &region()).await;
    let err = client
        .modify_db_snapshot_attribute()
        .db_snapshot_identifier("rds:db1-2026-11-23-00-05")
        .attribute_name("restore")
        .values_to_add(B)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert_eq!(err.message(), Some("The parameter DBSnapshotIdentifier is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens."));
    let err = client
        .modify_db_cluster_snapshot_attribute()
        .db_cluster_snapshot_identifier("awsbackup:job-1")
        .attribute_name("restore")
        .values_to_remove(B)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert_eq!(
        err.message(),
        Some("The parameter awsbackup:job-1 is not a valid identifier.")
    );

    // snapshift's: refused before any call, naming the snapshot and the rules.
    fake.clear_log();
    let rds = Rds::new(&a, &region());
    for (kind, snapshot) in [
        (SnapshotKind::Db, "rds:db1-2026-11-23-00-05"),
        (CLUSTER, "awsbackup:job-1"),
    ] {
        let err = rds
            .set_shared(kind, snapshot, id(B), true)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(snapshot) && message.contains("(R3, R29)"),
            "{message}"
        );
    }
    assert_eq!(fake.calls(), vec![]);
    assert!(fake
        .snapshots(id(A), &region())
        .iter()
        .all(|s| s.shared_with.is_empty()));
}

// R29: an automated (`rds:`) or AWS Backup (`awsbackup:`) snapshot is found by its identifier
// only with its `SnapshotType` (DescribeDBSnapshots and DescribeDBClusterSnapshots API
// reference); without a type, a listing has manual and automated snapshots, not AWS Backup's.
#[tokio::test]
async fn r29_typed_snapshots_are_described_with_their_type() {
    let fake = FakeAws::start().await;
    let mut seed = SeedSnapshot::db(id(A), &region(), "rds:db1-2026-11-23-00-05", "db1", None);
    seed.snapshot_type = "automated".into();
    fake.seed_snapshot(seed).unwrap();
    fake.seed_snapshot(SeedSnapshot::db(
        id(A),
        &region(),
        "db1-manual",
        "db1",
        None,
    ))
    .unwrap();
    let mut seed = SeedSnapshot::cluster(id(A), &region(), "awsbackup:job-1", "orders", None);
    seed.snapshot_type = "awsbackup".into();
    fake.seed_snapshot(seed).unwrap();
    let rds = rds_client(&fake, A, &region()).await;
    let db = |id: &str, snapshot_type: Option<&str>| {
        rds.describe_db_snapshots()
            .db_snapshot_identifier(id)
            .set_snapshot_type(snapshot_type.map(str::to_owned))
            .send()
    };
    let err = db("rds:db1-2026-11-23-00-05", None).await.unwrap_err();
    assert_eq!(err.code(), Some("DBSnapshotNotFound"));
    let err = db("rds:db1-2026-11-23-00-05", Some("manual"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("DBSnapshotNotFound"));
    let found = db("rds:db1-2026-11-23-00-05", Some("automated"))
        .await
        .unwrap();
    assert_eq!(found.db_snapshots()[0].snapshot_type(), Some("automated"));
    // A manual snapshot needs no type.
    assert_eq!(
        db("db1-manual", None).await.unwrap().db_snapshots().len(),
        1
    );
    let cluster = |snapshot_type: Option<&str>| {
        rds.describe_db_cluster_snapshots()
            .db_cluster_snapshot_identifier(format!(
                "arn:aws:rds:{}:{A}:cluster-snapshot:awsbackup:job-1",
                region()
            ))
            .set_snapshot_type(snapshot_type.map(str::to_owned))
            .send()
    };
    let err = cluster(None).await.unwrap_err();
    assert_eq!(err.code(), Some("DBClusterSnapshotNotFoundFault"));
    let found = cluster(Some("awsbackup")).await.unwrap();
    assert_eq!(found.db_cluster_snapshots().len(), 1);
    // Listings: manual and automated without a type; AWS Backup's only with theirs.
    let listed = rds.describe_db_snapshots().send().await.unwrap();
    let mut ids: Vec<&str> = listed
        .db_snapshots()
        .iter()
        .filter_map(|s| s.db_snapshot_identifier())
        .collect();
    ids.sort();
    assert_eq!(ids, ["db1-manual", "rds:db1-2026-11-23-00-05"]);
    let listed = rds.describe_db_cluster_snapshots().send().await.unwrap();
    assert!(listed.db_cluster_snapshots().is_empty());
    let listed = rds
        .describe_db_cluster_snapshots()
        .snapshot_type("awsbackup")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.db_cluster_snapshots().len(), 1);
}

// R29: snapshift's describe sends the type that an automated or AWS Backup identifier needs,
// by identifier and by ARN, and finds each; a manual one is found as before.
#[tokio::test]
async fn r29_the_client_describes_typed_snapshots_with_their_type() {
    let fake = FakeAws::start().await;
    let a = fake.account(id(A)).await;
    let mut seed = SeedSnapshot::db(id(A), &region(), "rds:db1-2026-11-23-00-05", "db1", None);
    seed.snapshot_type = "automated".into();
    let automated_arn = fake.seed_snapshot(seed).unwrap();
    let mut seed = SeedSnapshot::cluster(id(A), &region(), "awsbackup:job-1", "orders", None);
    seed.snapshot_type = "awsbackup".into();
    let backup_arn = fake.seed_snapshot(seed).unwrap();
    fake.seed_snapshot(SeedSnapshot::cluster(
        id(A),
        &region(),
        "orders-1",
        "orders",
        None,
    ))
    .unwrap();
    let rds = Rds::new(&a, &region());
    for (kind, reference, snapshot_type) in [
        (SnapshotKind::Db, "rds:db1-2026-11-23-00-05", "automated"),
        (SnapshotKind::Db, automated_arn.as_str(), "automated"),
        (CLUSTER, "awsbackup:job-1", "awsbackup"),
        (CLUSTER, backup_arn.as_str(), "awsbackup"),
        (CLUSTER, "orders-1", "manual"),
    ] {
        let found = rds.describe_snapshot(kind, reference).await.unwrap();
        assert_eq!(
            found.map(|s| s.snapshot_type).as_deref(),
            Some(snapshot_type),
            "{reference}"
        );
    }
    assert!(
        fake.calls().iter().all(|c| c.error.is_none()),
        "{:?}",
        fake.calls()
    );
}

// R7: a shared DB cluster snapshot is copied in its own region only: AWS copies a cluster
// snapshot across regions and across accounts in two steps, never one (Aurora user guide,
// "Copying a DB cluster snapshot across accounts"; CopyDBClusterSnapshot API reference).
// AWS answers `InvalidParameterValue`; snapshift refuses before any call.
#[tokio::test]
async fn r7_a_shared_cluster_snapshot_is_copied_only_in_its_region() {
    let fake = FakeAws::start().await;
    let (a, b) = (fake.account(id(A)).await, fake.account(id(B)).await);
    let key = shareable_key(&a).await;
    let arn = fake
        .seed_snapshot(SeedSnapshot::cluster(
            id(A),
            &region(),
            "orders-1",
            "orders",
            Some(&key),
        ))
        .unwrap();
    Rds::new(&a, &region())
        .set_shared(CLUSTER, "orders-1", id(B), true)
        .await
        .unwrap();
    let elsewhere: Region = "ap-northeast-3".parse().unwrap();

    // AWS's answer.
    let err = rds_client(&fake, B, &elsewhere)
        .await
        .copy_db_cluster_snapshot()
        .source_db_cluster_snapshot_identifier(&arn)
        .target_db_cluster_snapshot_identifier("orders-1")
        .kms_key_id("alias/aws/rds")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert!(
        err.message()
            .unwrap_or_default()
            .contains("only in its own region"),
        "{err:?}"
    );

    // snapshift's: refused before any call, naming the snapshot, its region and the rule.
    fake.clear_log();
    let request = CopyRequest {
        source: &arn,
        target: "orders-1",
        kms_key: Some("alias/aws/rds"),
        ..Default::default()
    };
    let err = Rds::new(&b, &elsewhere)
        .copy_snapshot(CLUSTER, &request)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&arn) && message.contains("ap-northeast-1") && message.contains("(R7)"),
        "{message}"
    );
    assert_eq!(fake.calls(), vec![]);
    assert!(fake.snapshots(id(B), &elsewhere).is_empty());
    // In its own region, the copy goes; and a copy of one's own snapshot from another region
    // is not concerned.
    let copy = Rds::new(&b, &region())
        .copy_snapshot(CLUSTER, &request)
        .await
        .unwrap();
    assert_eq!(copy.identifier, "orders-1");
    Rds::new(&a, &elsewhere)
        .copy_snapshot(
            CLUSTER,
            &CopyRequest {
                source: &arn,
                target: "orders-1-there",
                kms_key: Some("alias/aws/rds"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

// R19: past the in-flight quota, copies get SnapshotQuotaExceeded.
#[tokio::test]
async fn r19_copy_quota() {
    let fake = FakeAws::start().await;
    fake.set_copy_quota(2);
    fake.set_copy_time(Duration::from_secs(5));
    let a = fake.account(id(A)).await;
    fake.seed_snapshot(SeedSnapshot::cluster(id(A), &region(), "s1", "c1", None))
        .unwrap();
    let rds = Rds::new(&a, &region());
    for target in ["c-1", "c-2"] {
        rds.copy_snapshot(
            CLUSTER,
            &CopyRequest {
                source: "s1",
                target,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let err = rds
        .copy_snapshot(
            CLUSTER,
            &CopyRequest {
                source: "s1",
                target: "c-3",
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("SnapshotQuotaExceeded"));
}

// R25: the manual-snapshot quota, per kind, reported by DescribeAccountAttributes; a copy past
// it answers SnapshotQuotaExceeded with AWS's message; automated snapshots do not count, their
// copies do; the copy quota's refusal says something else.
#[tokio::test]
async fn r25_manual_snapshot_quota() {
    use snapshift::aws::rds::ManualQuota;
    let fake = FakeAws::start().await;
    let a = fake.account(id(A)).await;
    let rds = Rds::new(&a, &region());
    // Defaults: 100 of each kind, none used.
    assert_eq!(
        rds.manual_snapshot_quota(CLUSTER).await.unwrap(),
        Some(ManualQuota { used: 0, max: 100 })
    );
    fake.set_manual_snapshot_quota(id(A), &region(), CLUSTER, 3);
    fake.seed_snapshot(SeedSnapshot::cluster(id(A), &region(), "m1", "c1", None))
        .unwrap();
    let mut automated =
        SeedSnapshot::cluster(id(A), &region(), "rds:c1-2026-12-01-03-00", "c1", None);
    automated.snapshot_type = "automated".into();
    fake.seed_snapshot(automated).unwrap();
    // DB snapshots have their own quota.
    fake.seed_snapshot(SeedSnapshot::db(id(A), &region(), "d1", "i1", None))
        .unwrap();
    assert_eq!(
        rds.manual_snapshot_quota(CLUSTER).await.unwrap(),
        Some(ManualQuota { used: 1, max: 3 })
    );
    assert_eq!(
        rds.manual_snapshot_quota(SnapshotKind::Db).await.unwrap(),
        Some(ManualQuota { used: 1, max: 100 })
    );
    for target in ["copy-1", "copy-2"] {
        rds.copy_snapshot(
            CLUSTER,
            &CopyRequest {
                source: "rds:c1-2026-12-01-03-00",
                target,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    }
    let err = rds
        .copy_snapshot(
            CLUSTER,
            &CopyRequest {
                source: "m1",
                target: "copy-3",
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("SnapshotQuotaExceeded"));
    assert_eq!(
        err.message(),
        Some("Cannot create more than 3 manual snapshots")
    );
    assert_eq!(
        ManualQuota::max_in_message(err.message().unwrap_or_default()),
        Some(3)
    );
    assert_eq!(fake.manual_snapshot_count(id(A), &region(), CLUSTER), 3);
    assert_eq!(fake.peak_manual_snapshots(id(A), &region(), CLUSTER), 3);
    // The copy quota's refusal is not the manual quota's.
    assert_eq!(
        ManualQuota::max_in_message("Cannot copy the snapshot because the maximum number of snapshot copies in progress has been reached."),
        None
    );
    // A caller whose own policy does not allow it is refused.
    fake.set_caller_policy(
        id(A),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds:Describe*Snapshots","Resource":"*"}]}"#,
    );
    let denied = rds.manual_snapshot_quota(CLUSTER).await.unwrap_err();
    assert_eq!(denied.code(), Some("AccessDenied"));
}

// The fake on its callers' clock: in a paused runtime, a copy of 10 simulated minutes, polled
// every 30 simulated seconds, takes moments of real time and exactly its simulated time.
#[tokio::test(start_paused = true)]
async fn a_virtual_clock_runs_simulated_minutes_in_moments() {
    use snapshift::testing::{sdk_config_for, VirtualClock};
    let fake = FakeAws::start().await;
    fake.follow_request_clock();
    fake.set_copy_time(Duration::from_secs(60));
    let mut seed = SeedSnapshot::cluster(id(A), &region(), "big", "orders", None);
    seed.size_gb = 10;
    fake.seed_snapshot(seed).unwrap();
    let config = sdk_config_for(
        &fake.uri(),
        &fake.access_key(id(A)),
        Some(VirtualClock::start()),
    )
    .await;
    let account = Account::from_config(id(A), config);
    let rds = Rds::new(&account, &region());
    let real = std::time::Instant::now();
    let simulated = tokio::time::Instant::now();
    rds.copy_snapshot(
        CLUSTER,
        &CopyRequest {
            source: "big",
            target: "big-copy",
            ..CopyRequest::default()
        },
    )
    .await
    .unwrap();
    let mut polls = 0;
    while !rds
        .describe_snapshot(CLUSTER, "big-copy")
        .await
        .unwrap()
        .unwrap()
        .is_available()
    {
        polls += 1;
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    let took = simulated.elapsed();
    // The clock stands still while a request is on the wire: exactly the copy's time, and one
    // poll per 30 simulated seconds while it runs.
    assert_eq!(took, Duration::from_secs(600));
    assert_eq!(polls, 20);
    assert!(
        real.elapsed() < Duration::from_secs(10),
        "{:?}",
        real.elapsed()
    );
}

/// Seeds `count` cluster snapshots `orders-0`.. in account A.
fn seed_orders(fake: &FakeAws, count: usize) {
    for i in 0..count {
        fake.seed_snapshot(SeedSnapshot::cluster(
            id(A),
            &region(),
            &format!("orders-{i}"),
            "orders",
            Some("alias/aws/rds"),
        ))
        .unwrap();
    }
}

/// Describes `references` at once; each answer.
async fn describe_each(
    rds: &Rds,
    references: &[String],
) -> Vec<Result<Option<String>, snapshift::aws::AwsError>> {
    futures::future::join_all(references.iter().map(|r| rds.describe_snapshot(CLUSTER, r)))
        .await
        .into_iter()
        .map(|answer| answer.map(|found| found.map(|s| s.identifier)))
        .collect()
}

/// Describes `references` at once; each answer's identifier, or `None`.
async fn describe_all(rds: &Rds, references: &[String]) -> Vec<Option<String>> {
    describe_each(rds, references)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

/// Describes `orders-0` to `orders-4` at once, of which the first three exist, with the
/// first call answered by an error `code` (HTTP `status`); each answer, and the calls made.
async fn five_describes_first_call_failing(
    code: &str,
    status: u16,
) -> (Vec<Result<Option<String>, snapshift::aws::AwsError>>, usize) {
    let fake = FakeAws::start().await;
    let a = fake.account(id(A)).await;
    seed_orders(&fake, 3);
    let rds = Rds::new(&a, &region());
    fake.inject(
        "DescribeDBClusterSnapshots",
        1,
        Fault::Error(AwsFault::new(code, "injected").status(status)),
    );
    fake.clear_log();
    let references: Vec<String> = (0..5).map(|i| format!("orders-{i}")).collect();
    let answers = describe_each(&rds, &references).await;
    (answers, fake.count("DescribeDBClusterSnapshots"))
}

// R20: describes of one account and region that wait at the same time share calls, twenty
// identifiers a call (a `db-cluster-snapshot-id` filter), and each gets its own answer: its
// snapshot, or none. The same identifier asked twice rides on one slot of the batch.
#[tokio::test]
async fn r20_describes_waiting_together_share_calls_and_each_gets_its_own_answer() {
    let fake = FakeAws::start().await;
    // AWS's own page (100): this counts batches, not pages.
    fake.set_page_size(100);
    let a = fake.account(id(A)).await;
    seed_orders(&fake, 30);
    let rds = Rds::new(&a, &region());
    // 30 that exist, 14 that do not, and one asked twice: 44 distinct identifiers.
    let mut references: Vec<String> = (0..44).map(|i| format!("orders-{i}")).collect();
    references.push("orders-7".into());
    fake.clear_log();
    let answers = describe_all(&rds, &references).await;
    for (reference, answer) in references.iter().zip(&answers) {
        let exists = reference["orders-".len()..].parse::<usize>().unwrap() < 30;
        assert_eq!(answer.as_ref(), exists.then_some(reference), "{reference}");
    }
    assert_eq!(
        fake.count("DescribeDBClusterSnapshots"),
        3,
        "{:?}",
        fake.calls()
    );
    // Alone, a describe makes its own call.
    fake.clear_log();
    let one = rds.describe_snapshot(CLUSTER, "orders-3").await.unwrap();
    assert_eq!(one.map(|s| s.identifier).as_deref(), Some("orders-3"));
    assert_eq!(
        rds.describe_snapshot(CLUSTER, "orders-99").await.unwrap(),
        None
    );
    assert_eq!(fake.count("DescribeDBClusterSnapshots"), 2);
}

// R20: a shared describe that AWS refuses (a filter it does not take as sent) is made again
// one identifier at a time, so every describe still gets its answer.
#[tokio::test]
async fn r20_a_refused_shared_describe_is_made_one_by_one() {
    let (answers, calls) = five_describes_first_call_failing("InvalidParameterValue", 400).await;
    let answers: Vec<Option<String>> = answers.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        answers,
        vec![
            Some("orders-0".into()),
            Some("orders-1".into()),
            Some("orders-2".into()),
            None,
            None
        ]
    );
    assert_eq!(calls, 1 + 5);
}

// R20: any other error of a shared describe (here a denial) reaches every describe of the
// batch, as its own call's would have, and is not made again one by one.
#[tokio::test]
async fn r20_a_denied_shared_describe_reaches_every_describe_once() {
    let (answers, calls) = five_describes_first_call_failing("AccessDenied", 403).await;
    assert_eq!(answers.len(), 5);
    for answer in answers {
        assert_eq!(answer.unwrap_err().code(), Some("AccessDenied"));
    }
    assert_eq!(calls, 1);
}
