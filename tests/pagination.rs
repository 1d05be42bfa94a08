//! Every list and describe loop of `snapshift::aws` turns: FakeAws answers a page at a time
//! (pages of 2 here), as AWS does past its page sizes, and each loop reads every page.

use aws_sdk_backup::types::{BackupPlanInput, BackupRuleInput, BackupSelection};
use snapshift::{
    aws::{
        backup::Backup,
        kms::{Kms, NewKey},
        rds::Rds,
        Account,
    },
    ids::{AccountId, KeyId, Region, SnapshotKind},
    testing::{FakeAws, SeedSnapshot},
};

const A: &str = "111111111111";
const PAGE: usize = 2;

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn region() -> Region {
    "ap-northeast-1".parse().unwrap()
}

/// A fake that answers `PAGE` items at a time, and account A on it.
async fn paged() -> (FakeAws, Account) {
    let fake = FakeAws::start().await;
    fake.set_page_size(PAGE);
    // These tests call the SDK directly to count pages: AWS's eventual consistency (R26),
    // which snapshift's own clients handle, is not what they measure.
    fake.set_consistency(snapshift::testing::Consistency::strong());
    let a = fake.account(id(A)).await;
    (fake, a)
}

/// The calls a loop over `items` items makes: one per page, and one for an empty list.
fn pages(items: usize) -> usize {
    items.div_ceil(PAGE).max(1)
}

// Item 11: RDS's `Describe*` answer `MaxRecords` at a time with a `Marker`: listing every
// snapshot (of all sources and of one), every cluster and instance, and the shared describe
// of many identifiers (a snapshot-id filter) each read every page.
#[tokio::test]
async fn rds_describes_read_every_page() {
    let (fake, a) = paged().await;
    for i in 0..7 {
        let source = if i < 4 { "orders" } else { "billing" };
        fake.seed_snapshot(SeedSnapshot::cluster(
            id(A),
            &region(),
            &format!("{source}-{i}"),
            source,
            None,
        ))
        .unwrap();
        fake.seed_snapshot(SeedSnapshot::db(
            id(A),
            &region(),
            &format!("db-{i}"),
            &format!("instance-{}", i % 5),
            None,
        ))
        .unwrap();
    }
    for i in 0..3 {
        fake.seed_cluster(id(A), &region(), &format!("cluster-{i}"), None)
            .unwrap();
    }
    let rds = Rds::new(&a, &region());
    fake.clear_log();

    let clusters = rds
        .list_snapshots(SnapshotKind::Cluster, None)
        .await
        .unwrap();
    assert_eq!(clusters.len(), 7);
    assert_eq!(fake.count("DescribeDBClusterSnapshots"), pages(7));
    let orders = rds
        .list_snapshots(SnapshotKind::Cluster, Some("orders"))
        .await
        .unwrap();
    assert_eq!(orders.len(), 4);
    let dbs = rds.list_snapshots(SnapshotKind::Db, None).await.unwrap();
    assert_eq!(dbs.len(), 7);
    assert_eq!(fake.count("DescribeDBSnapshots"), pages(7));

    fake.clear_log();
    let databases = rds.databases(SnapshotKind::Cluster).await.unwrap();
    // orders, billing and the three seeded clusters.
    assert_eq!(databases.len(), 5);
    assert_eq!(fake.count("DescribeDBClusters"), pages(5));
    let instances = rds.databases(SnapshotKind::Db).await.unwrap();
    assert_eq!(instances.len(), 5);
    assert_eq!(fake.count("DescribeDBInstances"), pages(5));

    // Describes that wait together share one filtered call, page by page (R20).
    fake.clear_log();
    let references: Vec<String> = (0..7).map(|i| format!("db-{i}")).collect();
    let found = futures::future::join_all(
        references
            .iter()
            .map(|r| rds.describe_snapshot(SnapshotKind::Db, r)),
    )
    .await;
    for (reference, found) in references.iter().zip(found) {
        let found = found.unwrap().map(|s| s.identifier);
        assert_eq!(found.as_ref(), Some(reference));
    }
    assert_eq!(fake.count("DescribeDBSnapshots"), pages(7));
}

// Item 11: KMS's `ListKeys` and `ListResourceTags` answer `Limit` at a time with `Truncated`
// and `NextMarker`: the search for a key by its tags reads every key and every tag.
#[tokio::test]
async fn kms_lists_read_every_page() {
    let (fake, a) = paged().await;
    let kms = Kms::new(&a, &region());
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let tags: Vec<(String, String)> = (0..5)
        .map(|i| (format!("tag-{i}"), format!("value-{i}")))
        .collect();
    let mut keys = Vec::new();
    for i in 0..5 {
        let key = kms
            .create_key(&NewKey {
                policy: &policy,
                description: "paged",
                multi_region: false,
                tags: if i == 3 { &tags } else { &[] },
            })
            .await
            .unwrap();
        keys.push(key.arn.key_id().clone());
    }
    fake.clear_log();
    let read = kms.tags(&keys[3]).await.unwrap();
    assert_eq!(read.len(), 5);
    assert!(tags.iter().all(|t| read.contains(t)));
    assert_eq!(fake.count("ListResourceTags"), pages(5));

    fake.clear_log();
    let wanted = [tags[4].clone()];
    let found: Vec<KeyId> = kms.keys_tagged(&wanted).await.unwrap();
    assert_eq!(found, [keys[3].clone()]);
    assert_eq!(fake.count("ListKeys"), pages(5));
    // The tags of each key: one page for each untagged key, three for the tagged one.
    assert_eq!(fake.count("ListResourceTags"), 4 + pages(5));
}

// Item 11: AWS Backup's lists answer `maxResults` at a time with a `NextToken`: vaults, a
// vault's tags, plans, a plan's selections and a vault's recovery points are each read whole.
#[tokio::test]
async fn backup_lists_read_every_page() {
    let (fake, a) = paged().await;
    let backup = Backup::new(&a, &region());
    let tags: Vec<(String, String)> = (0..5)
        .map(|i| (format!("tag-{i}"), format!("value-{i}")))
        .collect();
    for i in 0..4 {
        backup
            .create_vault(&format!("vault-{i}"), None, &tags, &format!("request-{i}"))
            .await
            .unwrap();
    }
    let config = fake
        .sdk_config(id(A))
        .await
        .to_builder()
        .region(aws_config::Region::new(region().to_string()))
        .build();
    let client = aws_sdk_backup::Client::new(&config);
    let mut plan_ids = Vec::new();
    for i in 0..5 {
        let rule = BackupRuleInput::builder()
            .rule_name("daily")
            .target_backup_vault_name("vault-0")
            .schedule_expression("cron(0 5 ? * * *)")
            .build()
            .unwrap();
        let plan = BackupPlanInput::builder()
            .backup_plan_name(format!("plan-{i}"))
            .rules(rule)
            .build()
            .unwrap();
        let out = client
            .create_backup_plan()
            .backup_plan(plan)
            .send()
            .await
            .unwrap();
        plan_ids.push(out.backup_plan_id().unwrap().to_owned());
    }
    let role = snapshift::aws::iam::Iam::new(&a)
        .create_role(
            "backup-role",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
            &[],
        )
        .await
        .unwrap();
    let cluster = fake.seed_cluster(id(A), &region(), "orders", None).unwrap();
    for i in 0..5 {
        client
            .create_backup_selection()
            .backup_plan_id(&plan_ids[0])
            .backup_selection(
                BackupSelection::builder()
                    .selection_name(format!("selection-{i}"))
                    .iam_role_arn(&role)
                    .resources(&cluster)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        client
            .start_backup_job()
            .backup_vault_name("vault-1")
            .resource_arn(&cluster)
            .iam_role_arn(&role)
            .idempotency_token(format!("backup-{i}"))
            .send()
            .await
            .unwrap();
    }
    fake.clear_log();

    let mut vaults = backup.vault_names().await.unwrap();
    vaults.sort();
    // The Default vault is listed too.
    assert_eq!(
        vaults,
        ["Default", "vault-0", "vault-1", "vault-2", "vault-3"]
    );
    assert_eq!(fake.count("ListBackupVaults"), pages(5));

    let vault = backup.vault("vault-2").await.unwrap().unwrap();
    fake.clear_log();
    let mut read = backup.tags(&vault.arn).await.unwrap();
    read.sort();
    assert_eq!(read, tags);
    assert_eq!(fake.count("ListTags"), pages(5));

    let plans = backup.plans().await.unwrap();
    assert_eq!(plans.len(), 5);
    assert_eq!(fake.count("ListBackupPlans"), pages(5));

    let selections = backup.selections(&plan_ids[0]).await.unwrap();
    assert_eq!(selections.len(), 5);
    assert_eq!(fake.count("ListBackupSelections"), pages(5));
    assert!(backup.selections(&plan_ids[1]).await.unwrap().is_empty());

    let points = backup.recovery_points("vault-1").await.unwrap();
    assert_eq!(points.len(), 5);
    assert_eq!(fake.count("ListRecoveryPointsByBackupVault"), pages(5));
}
