//! FakeAws's AWS Backup model through the real `aws_sdk_backup` client: vaults, plans,
//! selections, and backup, copy and restore jobs of an Aurora cluster across two regions.

use std::time::Duration;

use aws_sdk_backup::{
    error::ProvideErrorMetadata,
    types::{
        BackupJobState, BackupPlanInput, BackupRuleInput, BackupSelection, CopyAction,
        CopyJobState, Lifecycle, RestoreJobStatus,
    },
    Client,
};
use snapshift::{
    aws::{
        iam::Iam,
        kms::{Kms, NewKey},
    },
    ids::{AccountId, Region},
    testing::{AwsFault, Consistency, FakeAws, Fault},
};

const A: &str = "111111111111";
const SRC: &str = "ap-northeast-1";
const DST: &str = "ap-northeast-3";

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn region(r: &str) -> Region {
    r.parse().unwrap()
}

/// An AWS Backup client of account A in `r`, built as `src/aws/` builds its clients.
async fn backup(fake: &FakeAws, r: &str) -> Client {
    let config = fake
        .sdk_config(id(A))
        .await
        .to_builder()
        .region(aws_config::Region::new(r.to_owned()))
        .build();
    Client::new(&config)
}

const TRUST_BACKUP: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
const TRUST_EC2: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// A role of account A with `trust` and, if given, the inline policy `policy`.
async fn role(fake: &FakeAws, name: &str, trust: &str, policy: Option<&str>) -> String {
    let iam = Iam::new(&fake.account(id(A)).await);
    let arn = iam.create_role(name, trust, &[]).await.unwrap();
    if let Some(policy) = policy {
        iam.put_role_policy(name, "backup", policy).await.unwrap();
    }
    arn
}

/// The inline policy a copy job needs: `CopyIntoBackupVault` on the vaults of account A,
/// and the key actions on `key`.
fn copy_policy(key: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Action":["backup:DescribeBackupVault","backup:CopyIntoBackupVault"],"Resource":["arn:aws:backup:*:{A}:backup-vault:*"]}},
            {{"Effect":"Allow","Action":["kms:Decrypt","kms:GenerateDataKey*","kms:CreateGrant"],"Resource":["{key}"]}}]}}"#
    )
}

/// A customer managed key of account A in `r`; multi-region when asked.
async fn key(fake: &FakeAws, r: &str, multi_region: bool) -> snapshift::aws::kms::KeyInfo {
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    Kms::new(&fake.account(id(A)).await, &region(r))
        .create_key(&NewKey {
            policy: &policy,
            description: "vault key",
            multi_region,
            tags: &[],
        })
        .await
        .unwrap()
}

/// The ARN of the key an alias of account A in `r` points at.
fn alias_arn(fake: &FakeAws, r: &str, alias: &str) -> String {
    let key_id = fake
        .aliases(id(A), &region(r))
        .get(alias)
        .cloned()
        .unwrap_or_else(|| panic!("{alias} does not exist in {r}"));
    format!("arn:aws:kms:{r}:{A}:key/{key_id}")
}

async fn create_vault(client: &Client, name: &str, key: Option<&str>) -> String {
    client
        .create_backup_vault()
        .backup_vault_name(name)
        .set_encryption_key_arn(key.map(str::to_owned))
        .send()
        .await
        .unwrap()
        .backup_vault_arn()
        .unwrap()
        .to_owned()
}

/// Starts a backup of `cluster_arn` into `vault` and waits until it is done.
async fn backed_up(client: &Client, vault: &str, cluster_arn: &str, role: &str) -> String {
    let job = client
        .start_backup_job()
        .backup_vault_name(vault)
        .resource_arn(cluster_arn)
        .iam_role_arn(role)
        .send()
        .await
        .unwrap();
    let job_id = job.backup_job_id().unwrap();
    for _ in 0..300 {
        let d = client
            .describe_backup_job()
            .backup_job_id(job_id)
            .send()
            .await
            .unwrap();
        if d.state() == Some(&BackupJobState::Completed) {
            return d.recovery_point_arn().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("backup job {job_id} never completed");
}

/// Waits until copy job `job_id` is done; its final state and description.
async fn copy_done(client: &Client, job_id: &str) -> aws_sdk_backup::types::CopyJob {
    for _ in 0..300 {
        let job = client
            .describe_copy_job()
            .copy_job_id(job_id)
            .send()
            .await
            .unwrap()
            .copy_job()
            .cloned()
            .unwrap();
        if job.state() != Some(&CopyJobState::Running) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("copy job {job_id} never finished");
}

/// A one-rule plan into `vault` with a start window, a lifecycle and copy actions.
fn plan(
    vault: &str,
    schedule: &str,
    start_window: Option<i64>,
    lifecycle: Option<Lifecycle>,
    copy_to: &[&str],
) -> BackupPlanInput {
    let mut rule = BackupRuleInput::builder()
        .rule_name("daily")
        .target_backup_vault_name(vault)
        .schedule_expression(schedule)
        .set_start_window_minutes(start_window)
        .set_lifecycle(lifecycle);
    for destination in copy_to {
        rule = rule.copy_actions(
            CopyAction::builder()
                .destination_backup_vault_arn(*destination)
                .build()
                .unwrap(),
        );
    }
    BackupPlanInput::builder()
        .backup_plan_name("aurora-dr")
        .rules(rule.build().unwrap())
        .build()
        .unwrap()
}

// R11: a vault without a key gets the AWS managed alias/aws/backup key of its region; a key
// of another region is refused; names, duplicates, tags and the Default vault.
#[tokio::test]
async fn r11_vaults_and_their_keys() {
    let fake = FakeAws::start().await;
    let src = backup(&fake, SRC).await;
    let arn = src
        .create_backup_vault()
        .backup_vault_name("primary")
        .backup_vault_tags("team", "db")
        .creator_request_id("req-1")
        .send()
        .await
        .unwrap()
        .backup_vault_arn()
        .unwrap()
        .to_owned();
    assert_eq!(
        arn,
        format!("arn:aws:backup:{SRC}:{A}:backup-vault:primary")
    );
    let vault = src
        .describe_backup_vault()
        .backup_vault_name("primary")
        .send()
        .await
        .unwrap();
    assert_eq!(
        vault.encryption_key_arn(),
        Some(alias_arn(&fake, SRC, "alias/aws/backup").as_str())
    );
    assert_eq!(vault.number_of_recovery_points(), 0);
    assert_eq!(vault.creator_request_id(), Some("req-1"));
    // The ARN travels percent-encoded in the path.
    let tags = src.list_tags().resource_arn(&arn).send().await.unwrap();
    assert_eq!(
        tags.tags().unwrap().get("team").map(String::as_str),
        Some("db")
    );

    let err = src
        .create_backup_vault()
        .backup_vault_name("primary")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AlreadyExistsException"));
    let err = src
        .create_backup_vault()
        .backup_vault_name("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    let elsewhere = key(&fake, DST, false).await;
    let err = src
        .create_backup_vault()
        .backup_vault_name("wrong-key")
        .encryption_key_arn(elsewhere.arn.to_string())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    assert!(err.message().unwrap().contains("R11"), "{err:?}");

    // The Default vault exists without being created, under alias/aws/backup.
    let default = src
        .describe_backup_vault()
        .backup_vault_name("Default")
        .send()
        .await
        .unwrap();
    assert_eq!(
        default.encryption_key_arn(),
        Some(alias_arn(&fake, SRC, "alias/aws/backup").as_str())
    );
    let names: Vec<String> = fake
        .vaults(id(A), &region(SRC))
        .into_iter()
        .map(|v| v.name)
        .collect();
    assert_eq!(names, ["Default", "primary"]);
}

// A Backup error reaches the caller with AWS's code and message (restJson1: the
// x-amzn-errortype header and a {"Code", "Message"} body). As AWS does, reading a vault that
// does not exist is AccessDeniedException; deleting it or its tags is ResourceNotFoundException.
#[tokio::test]
async fn a_missing_vault_is_access_denied_to_read_and_not_found_to_delete() {
    let fake = FakeAws::start().await;
    let src = backup(&fake, SRC).await;
    let err = src
        .describe_backup_vault()
        .backup_vault_name("nowhere")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert_eq!(
        err.message(),
        Some("Insufficient privileges to perform this action.")
    );
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    let err = src
        .delete_backup_vault()
        .backup_vault_name("nowhere")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    let err = src
        .list_tags()
        .resource_arn(format!("arn:aws:backup:{SRC}:{A}:backup-vault:nowhere"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(fake.count("DescribeBackupVault"), 1);
    assert_eq!(fake.count("ListTags"), 1);
}

// R13, R24: AWS Backup's checks of a plan's rules, with its code.
#[tokio::test]
async fn r13_r24_plan_rules_are_checked() {
    let fake = FakeAws::start().await;
    let src = backup(&fake, SRC).await;
    create_vault(&src, "primary", None).await;
    let cron = "cron(0 5 ? * * *)";
    let refused = |p: BackupPlanInput| {
        let src = src.clone();
        async move {
            let err = src
                .create_backup_plan()
                .backup_plan(p)
                .send()
                .await
                .unwrap_err();
            assert_eq!(
                err.code(),
                Some("InvalidParameterValueException"),
                "{err:?}"
            );
            err.message().unwrap().to_owned()
        }
    };
    // R13: the start window is at least 60 minutes.
    let message = refused(plan("primary", cron, Some(59), None, &[])).await;
    assert!(message.starts_with("Error in rule daily : "), "{message}");
    assert!(message.contains("60 minutes"), "{message}");
    // R13: cron in six fields, not rate().
    let message = refused(plan("primary", "rate(1 day)", None, None, &[])).await;
    assert!(message.contains("rate(1 day)"), "{message}");
    refused(plan("primary", "cron(0 5 * * ?)", None, None, &[])).await;
    // R24: deletion at least 90 days after the move to cold storage, AWS's message.
    let lifecycle = Lifecycle::builder()
        .move_to_cold_storage_after_days(30)
        .delete_after_days(100)
        .build();
    let message = refused(plan("primary", cron, None, Some(lifecycle), &[])).await;
    assert_eq!(
        message,
        "Error in rule daily : Invalid lifecycle. DeleteAfterDays cannot be less than 90 days apart from MoveToColdStorageAfterDays"
    );
    // R13: the target vault and the copy destination must exist first.
    refused(plan("missing", cron, None, None, &[])).await;
    let destination = format!("arn:aws:backup:{DST}:{A}:backup-vault:dr");
    let message = refused(plan("primary", cron, None, None, &[&destination])).await;
    assert!(message.contains(&destination), "{message}");
    assert!(fake.backup_plans(id(A), &region(SRC)).is_empty());

    // Once the destination vault exists, the same plan is accepted.
    create_vault(&backup(&fake, DST).await, "dr", None).await;
    let lifecycle = Lifecycle::builder()
        .move_to_cold_storage_after_days(30)
        .delete_after_days(120)
        .build();
    let input = plan("primary", cron, Some(60), Some(lifecycle), &[&destination]);
    let created = src
        .create_backup_plan()
        .backup_plan(input.clone())
        .creator_request_id("plan-1")
        .backup_plan_tags("team", "db")
        .send()
        .await
        .unwrap();
    let plan_id = created.backup_plan_id().unwrap();
    assert_eq!(
        created.backup_plan_arn(),
        Some(format!("arn:aws:backup:{SRC}:{A}:backup-plan:{plan_id}").as_str())
    );
    let got = src
        .get_backup_plan()
        .backup_plan_id(plan_id)
        .send()
        .await
        .unwrap();
    let rule = &got.backup_plan().unwrap().rules()[0];
    assert_eq!(rule.start_window_minutes(), Some(60));
    assert_eq!(rule.completion_window_minutes(), Some(10080));
    assert!(rule.rule_id().is_some());
    assert_eq!(
        rule.copy_actions()[0].destination_backup_vault_arn(),
        destination
    );
    assert_eq!(got.creator_request_id(), Some("plan-1"));
    let tags = src
        .list_tags()
        .resource_arn(created.backup_plan_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().unwrap().len(), 1);

    // The same CreatorRequestId with the same plan returns that plan; with another plan it
    // is refused, naming the plan.
    let again = src
        .create_backup_plan()
        .backup_plan(input)
        .creator_request_id("plan-1")
        .send()
        .await
        .unwrap();
    assert_eq!(again.backup_plan_id(), Some(plan_id));
    let err = src
        .create_backup_plan()
        .backup_plan(plan("primary", cron, None, None, &[]))
        .creator_request_id("plan-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AlreadyExistsException"));
    let service = err.into_service_error();
    let exists = match &service {
        aws_sdk_backup::operation::create_backup_plan::CreateBackupPlanError::AlreadyExistsException(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(exists.arn(), created.backup_plan_arn());
    assert_eq!(exists.creator_request_id(), Some("plan-1"));

    // An update is checked the same way and makes a new version.
    let err = src
        .update_backup_plan()
        .backup_plan_id(plan_id)
        .backup_plan(plan("primary", cron, Some(30), None, &[]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    let updated = src
        .update_backup_plan()
        .backup_plan_id(plan_id)
        .backup_plan(plan("primary", cron, Some(120), None, &[]))
        .send()
        .await
        .unwrap();
    assert_ne!(updated.version_id(), created.version_id());
    let listed = src.list_backup_plans().send().await.unwrap();
    assert_eq!(listed.backup_plans_list().len(), 1);
    assert_eq!(
        listed.backup_plans_list()[0].version_id(),
        updated.version_id()
    );
    let plans = fake.backup_plans(id(A), &region(SRC));
    assert_eq!(plans[0].rules[0]["StartWindowMinutes"], 120);
}

// R14: a selection's role must trust backup.amazonaws.com; a plan with selections cannot be
// deleted.
#[tokio::test]
async fn r14_selection_role_must_trust_aws_backup() {
    let fake = FakeAws::start().await;
    // Not about R26: every change known at once.
    fake.set_consistency(Consistency::strong());
    let src = backup(&fake, SRC).await;
    create_vault(&src, "primary", None).await;
    let cluster = fake
        .seed_cluster(id(A), &region(SRC), "orders", Some("alias/aws/rds"))
        .unwrap();
    let plan_id = src
        .create_backup_plan()
        .backup_plan(plan("primary", "cron(0 5 ? * * *)", None, None, &[]))
        .send()
        .await
        .unwrap()
        .backup_plan_id()
        .unwrap()
        .to_owned();
    let untrusted = role(&fake, "ec2-role", TRUST_EC2, None).await;
    let selection = |role: &str| {
        BackupSelection::builder()
            .selection_name("orders")
            .iam_role_arn(role)
            .resources(&cluster)
            .build()
            .unwrap()
    };
    let err = src
        .create_backup_selection()
        .backup_plan_id(&plan_id)
        .backup_selection(selection(&untrusted))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    assert!(err.message().unwrap().contains(&untrusted), "{err:?}");
    let err = src
        .create_backup_selection()
        .backup_plan_id(&plan_id)
        .backup_selection(selection(&format!("arn:aws:iam::{A}:role/nobody")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValueException"));
    let trusted = role(&fake, "backup-role", TRUST_BACKUP, None).await;
    let empty = BackupSelection::builder()
        .selection_name("nothing")
        .iam_role_arn(&trusted)
        .build()
        .unwrap();
    let err = src
        .create_backup_selection()
        .backup_plan_id(&plan_id)
        .backup_selection(empty)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidParameterValueException"));

    let created = src
        .create_backup_selection()
        .backup_plan_id(&plan_id)
        .backup_selection(selection(&trusted))
        .send()
        .await
        .unwrap();
    let selection_id = created.selection_id().unwrap();
    let got = src
        .get_backup_selection()
        .backup_plan_id(&plan_id)
        .selection_id(selection_id)
        .send()
        .await
        .unwrap();
    assert_eq!(got.backup_selection().unwrap().resources(), [cluster]);
    let listed = src
        .list_backup_selections()
        .backup_plan_id(&plan_id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.backup_selections_list().len(), 1);
    assert_eq!(fake.backup_selections(id(A), &region(SRC)).len(), 1);

    let err = src
        .delete_backup_plan()
        .backup_plan_id(&plan_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidRequestException"));
    assert_eq!(
        err.message(),
        Some("Related backup plan selections must be deleted prior to backup plan deletion")
    );
    src.delete_backup_selection()
        .backup_plan_id(&plan_id)
        .selection_id(selection_id)
        .send()
        .await
        .unwrap();
    let deleted = src
        .delete_backup_plan()
        .backup_plan_id(&plan_id)
        .send()
        .await
        .unwrap();
    assert!(deleted.deletion_date().is_some());
    let err = src
        .get_backup_plan()
        .backup_plan_id(&plan_id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

// R16, R11: a backup is the RDS cluster snapshot `awsbackup:job-<id>` under the cluster's own
// key, whatever the vault's key; a vault holding it cannot be deleted.
#[tokio::test]
async fn r16_r11_backup_job_makes_an_awsbackup_snapshot_under_the_cluster_key() {
    let fake = FakeAws::start().await;
    let src = backup(&fake, SRC).await;
    let cluster_key = key(&fake, SRC, false).await.arn.to_string();
    let cluster = fake
        .seed_cluster(id(A), &region(SRC), "orders", Some(&cluster_key))
        .unwrap();
    assert_eq!(cluster, format!("arn:aws:rds:{SRC}:{A}:cluster:orders"));
    create_vault(&src, "primary", None).await;
    let role = role(&fake, "backup-role", TRUST_BACKUP, None).await;

    let job = src
        .start_backup_job()
        .backup_vault_name("primary")
        .resource_arn(&cluster)
        .iam_role_arn(&role)
        .idempotency_token("backup-1")
        .send()
        .await
        .unwrap();
    let job_id = job.backup_job_id().unwrap();
    let point = job.recovery_point_arn().unwrap();
    assert_eq!(
        point,
        format!("arn:aws:rds:{SRC}:{A}:cluster-snapshot:awsbackup:job-{job_id}")
    );
    // The same idempotency token answers with the same job.
    let again = src
        .start_backup_job()
        .backup_vault_name("primary")
        .resource_arn(&cluster)
        .iam_role_arn(&role)
        .idempotency_token("backup-1")
        .send()
        .await
        .unwrap();
    assert_eq!(again.backup_job_id(), Some(job_id));
    let running = src
        .describe_backup_job()
        .backup_job_id(job_id)
        .send()
        .await
        .unwrap();
    assert_eq!(running.state(), Some(&BackupJobState::Running));
    assert!(fake.snapshots(id(A), &region(SRC)).is_empty());

    for _ in 0..300 {
        let done = src
            .describe_backup_job()
            .backup_job_id(job_id)
            .send()
            .await
            .unwrap();
        if done.state() == Some(&BackupJobState::Completed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let described = src
        .describe_recovery_point()
        .backup_vault_name("primary")
        .recovery_point_arn(point)
        .send()
        .await
        .unwrap();
    // R11: under the cluster's key, not the vault's alias/aws/backup.
    assert_eq!(described.encryption_key_arn(), Some(cluster_key.as_str()));
    assert_eq!(described.resource_arn(), Some(cluster.as_str()));
    assert_eq!(
        described.status(),
        Some(&aws_sdk_backup::types::RecoveryPointStatus::Completed)
    );
    let points = fake.recovery_points(id(A), &region(SRC));
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].vault, "primary");
    assert_eq!(points[0].key_arn.as_deref(), Some(cluster_key.as_str()));
    assert_eq!(points[0].status(), "COMPLETED");

    // The snapshot is in RDS too, as an `awsbackup` cluster snapshot.
    let rds_config = fake
        .sdk_config(id(A))
        .await
        .to_builder()
        .region(aws_config::Region::new(SRC))
        .build();
    let rds = aws_sdk_rds::Client::new(&rds_config);
    let snapshots = rds
        .describe_db_cluster_snapshots()
        .snapshot_type("awsbackup")
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = snapshots
        .db_cluster_snapshots()
        .iter()
        .filter_map(|s| s.db_cluster_snapshot_arn())
        .collect();
    assert!(arns.contains(&point), "{arns:?}");
    assert!(fake
        .snapshots(id(A), &region(SRC))
        .iter()
        .any(|s| s.arn() == point && s.snapshot_type == "awsbackup"));

    let err = src
        .delete_backup_vault()
        .backup_vault_name("primary")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidRequestException"));
    assert_eq!(
        err.message(),
        Some("Backup vault cannot be deleted because it contains recovery points.")
    );
    for p in fake.recovery_points(id(A), &region(SRC)) {
        src.delete_recovery_point()
            .backup_vault_name("primary")
            .recovery_point_arn(&p.arn)
            .send()
            .await
            .unwrap();
    }
    assert!(fake.snapshots(id(A), &region(SRC)).is_empty());
    src.delete_backup_vault()
        .backup_vault_name("primary")
        .send()
        .await
        .unwrap();
}

// R11, R12, R16: a copy into a vault under a customer managed key (the replica of a
// multi-region key) is `awsbackup:copyjob-<id>` in the destination region under that key.
#[tokio::test]
async fn r11_copy_into_a_customer_key_vault_uses_the_vault_key() {
    let fake = FakeAws::start().await;
    // Not about R26: every change known at once.
    fake.set_consistency(Consistency::strong());
    let (src, dst) = (backup(&fake, SRC).await, backup(&fake, DST).await);
    let primary = key(&fake, SRC, true).await;
    let replica = Kms::new(&fake.account(id(A)).await, &region(SRC))
        .replicate_key(
            primary.arn.key_id(),
            &region(DST),
            &format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{A}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#
            ),
            "replica",
            &[],
        )
        .await
        .unwrap()
        .arn
        .to_string();
    let cluster = fake
        .seed_cluster(
            id(A),
            &region(SRC),
            "orders",
            Some(&primary.arn.to_string()),
        )
        .unwrap();
    let source_vault = create_vault(&src, "primary", Some(&primary.arn.to_string())).await;
    let destination = create_vault(&dst, "dr", Some(&replica)).await;
    let role = role(
        &fake,
        "backup-role",
        TRUST_BACKUP,
        Some(&copy_policy(&replica)),
    )
    .await;
    let point = backed_up(&src, "primary", &cluster, &role).await;

    let copy = src
        .start_copy_job()
        .recovery_point_arn(&point)
        .source_backup_vault_name("primary")
        .destination_backup_vault_arn(&destination)
        .iam_role_arn(&role)
        .send()
        .await
        .unwrap();
    let copy_id = copy.copy_job_id().unwrap();
    let job = copy_done(&src, copy_id).await;
    assert_eq!(job.state(), Some(&CopyJobState::Completed), "{job:?}");
    let copied = format!("arn:aws:rds:{DST}:{A}:cluster-snapshot:awsbackup:copyjob-{copy_id}");
    assert_eq!(job.destination_recovery_point_arn(), Some(copied.as_str()));
    assert_eq!(job.source_backup_vault_arn(), Some(source_vault.as_str()));
    assert_eq!(job.resource_arn(), Some(cluster.as_str()));

    let in_dst = dst
        .list_recovery_points_by_backup_vault()
        .backup_vault_name("dr")
        .send()
        .await
        .unwrap();
    let p = &in_dst.recovery_points()[0];
    assert_eq!(p.recovery_point_arn(), Some(copied.as_str()));
    assert_eq!(p.encryption_key_arn(), Some(replica.as_str()));
    assert_eq!(p.source_backup_vault_arn(), Some(source_vault.as_str()));
    let snapshot = fake
        .snapshots(id(A), &region(DST))
        .into_iter()
        .find(|s| s.arn() == copied)
        .unwrap();
    assert_eq!(snapshot.kms_key.as_deref(), Some(replica.as_str()));
    assert_eq!(snapshot.snapshot_type, "awsbackup");
    assert_eq!(snapshot.copied_from.as_deref(), Some(point.as_str()));
}

// R11: a copy into the Default vault (alias/aws/backup) lands under alias/aws/rds of the
// destination region: the multi-region replica key alone changes nothing.
#[tokio::test]
async fn r11_copy_into_the_default_vault_lands_under_aws_rds() {
    let fake = FakeAws::start().await;
    let src = backup(&fake, SRC).await;
    let primary = key(&fake, SRC, true).await.arn.to_string();
    let cluster = fake
        .seed_cluster(id(A), &region(SRC), "orders", Some(&primary))
        .unwrap();
    create_vault(&src, "primary", Some(&primary)).await;
    let role = role(
        &fake,
        "backup-role",
        TRUST_BACKUP,
        Some(&copy_policy(&primary)),
    )
    .await;
    let point = backed_up(&src, "primary", &cluster, &role).await;
    let copy_id = src
        .start_copy_job()
        .recovery_point_arn(&point)
        .source_backup_vault_name("primary")
        .destination_backup_vault_arn(format!("arn:aws:backup:{DST}:{A}:backup-vault:Default"))
        .iam_role_arn(&role)
        .send()
        .await
        .unwrap()
        .copy_job_id()
        .unwrap()
        .to_owned();
    let job = copy_done(&src, &copy_id).await;
    assert_eq!(job.state(), Some(&CopyJobState::Completed), "{job:?}");
    let aws_rds = alias_arn(&fake, DST, "alias/aws/rds");
    let points = fake.recovery_points(id(A), &region(DST));
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].vault, "Default");
    assert_eq!(points[0].key_arn.as_deref(), Some(aws_rds.as_str()));
    assert_ne!(
        Some(alias_arn(&fake, DST, "alias/aws/backup").as_str()),
        points[0].key_arn.as_deref()
    );
    let snapshot = fake
        .snapshots(id(A), &region(DST))
        .into_iter()
        .find(|s| s.arn() == points[0].arn)
        .unwrap();
    assert_eq!(snapshot.kms_key.as_deref(), Some(aws_rds.as_str()));
}

// R15: a copy job whose role may not CopyIntoBackupVault fails, says why, and makes nothing;
// a missing destination vault is refused up front.
#[tokio::test]
async fn r15_copy_job_fails_without_copy_into_backup_vault() {
    let fake = FakeAws::start().await;
    let (src, dst) = (backup(&fake, SRC).await, backup(&fake, DST).await);
    let cluster = fake
        .seed_cluster(id(A), &region(SRC), "orders", Some("alias/aws/rds"))
        .unwrap();
    create_vault(&src, "primary", None).await;
    let destination_key = key(&fake, DST, false).await.arn.to_string();
    let destination = create_vault(&dst, "dr", Some(&destination_key)).await;
    let kms_only = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"{destination_key}"}}]}}"#
    );
    let role = role(&fake, "backup-role", TRUST_BACKUP, Some(&kms_only)).await;
    let point = backed_up(&src, "primary", &cluster, &role).await;

    let err = src
        .start_copy_job()
        .recovery_point_arn(&point)
        .source_backup_vault_name("primary")
        .destination_backup_vault_arn(format!("arn:aws:backup:{DST}:{A}:backup-vault:nowhere"))
        .iam_role_arn(&role)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));

    let copy_id = src
        .start_copy_job()
        .recovery_point_arn(&point)
        .source_backup_vault_name("primary")
        .destination_backup_vault_arn(&destination)
        .iam_role_arn(&role)
        .send()
        .await
        .unwrap()
        .copy_job_id()
        .unwrap()
        .to_owned();
    let job = copy_done(&src, &copy_id).await;
    assert_eq!(job.state(), Some(&CopyJobState::Failed));
    let message = job.status_message().unwrap();
    assert!(message.contains("backup:CopyIntoBackupVault"), "{message}");
    assert!(message.contains(&destination), "{message}");
    assert!(job.destination_recovery_point_arn().is_none());

    // CopyIntoBackupVault on the source vault only, or without the destination key's
    // actions: failed too, naming what is missing.
    let source_only = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"backup:CopyIntoBackupVault","Resource":"arn:aws:backup:{SRC}:{A}:backup-vault:primary"}},{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}"#
    );
    let vaults_only = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"backup:*","Resource":"arn:aws:backup:*:{A}:backup-vault:*"}},{{"Effect":"Allow","Action":"kms:Decrypt","Resource":"{destination_key}"}}]}}"#
    );
    for (name, policy, wanted) in [
        ("source-only", source_only, "backup:CopyIntoBackupVault"),
        (
            "vaults-only",
            vaults_only,
            "kms:CreateGrant, kms:GenerateDataKey",
        ),
    ] {
        let weak_role = self::role(&fake, name, TRUST_BACKUP, Some(&policy)).await;
        let copy_id = src
            .start_copy_job()
            .recovery_point_arn(&point)
            .source_backup_vault_name("primary")
            .destination_backup_vault_arn(&destination)
            .iam_role_arn(&weak_role)
            .send()
            .await
            .unwrap()
            .copy_job_id()
            .unwrap()
            .to_owned();
        let job = copy_done(&src, &copy_id).await;
        assert_eq!(job.state(), Some(&CopyJobState::Failed), "{name}");
        let message = job.status_message().unwrap();
        assert!(message.contains(wanted), "{name}: {message}");
    }
    assert!(fake.recovery_points(id(A), &region(DST)).is_empty());
    assert!(fake.snapshots(id(A), &region(DST)).is_empty());
}

// R17: a restore through AWS Backup makes the cluster only, no DB instances, under the
// recovery point's key; restoring onto an existing cluster fails the job.
#[tokio::test]
async fn r17_restore_job_creates_a_cluster_without_instances() {
    let fake = FakeAws::start().await;
    let src = backup(&fake, SRC).await;
    let cluster_key = key(&fake, SRC, false).await.arn.to_string();
    let cluster = fake
        .seed_cluster(id(A), &region(SRC), "orders", Some(&cluster_key))
        .unwrap();
    create_vault(&src, "primary", None).await;
    // R30: the job restores as the role, which must allow the restore on the new cluster.
    let may_restore = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"rds:RestoreDBClusterFromSnapshot","Resource":["arn:aws:rds:{SRC}:{A}:cluster:orders-restored","arn:aws:rds:{SRC}:{A}:cluster:orders"]}}]}}"#
    );
    let role = role(&fake, "backup-role", TRUST_BACKUP, Some(&may_restore)).await;
    let point = backed_up(&src, "primary", &cluster, &role).await;

    let restore = |target: &'static str| {
        let (src, point, role) = (src.clone(), point.clone(), role.clone());
        async move {
            let job_id = src
                .start_restore_job()
                .recovery_point_arn(&point)
                .iam_role_arn(&role)
                .resource_type("Aurora")
                // Keys are read case-insensitively, as AWS Backup documents.
                .metadata("dbClusterIdentifier", target)
                .metadata("Engine", "aurora-mysql")
                .send()
                .await
                .unwrap()
                .restore_job_id()
                .unwrap()
                .to_owned();
            for _ in 0..300 {
                let job = src
                    .describe_restore_job()
                    .restore_job_id(&job_id)
                    .send()
                    .await
                    .unwrap();
                if job.status() != Some(&RestoreJobStatus::Running) {
                    return job;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("restore job {job_id} never finished");
        }
    };
    let job = restore("orders-restored").await;
    assert_eq!(job.status(), Some(&RestoreJobStatus::Completed), "{job:?}");
    let restored_arn = format!("arn:aws:rds:{SRC}:{A}:cluster:orders-restored");
    assert_eq!(job.created_resource_arn(), Some(restored_arn.as_str()));
    let databases = fake.databases(id(A), &region(SRC));
    let source = databases.iter().find(|d| d.id == "orders").unwrap();
    assert_eq!(source.instances, ["orders-instance-1"]);
    let restored = databases
        .iter()
        .find(|d| d.id == "orders-restored")
        .unwrap();
    assert!(restored.instances.is_empty());
    assert_eq!(restored.kms_key.as_deref(), Some(cluster_key.as_str()));
    assert_eq!(restored.restored_from.as_deref(), Some(point.as_str()));

    let job = restore("orders").await;
    assert_eq!(job.status(), Some(&RestoreJobStatus::Failed));
    assert!(job.status_message().unwrap().contains("orders"), "{job:?}");
    assert!(job.created_resource_arn().is_none());

    // R30: a cluster the role does not name fails the job, saying why.
    let job = restore("orders-elsewhere").await;
    assert_eq!(job.status(), Some(&RestoreJobStatus::Failed));
    assert!(
        job.status_message()
            .unwrap()
            .contains("rds:RestoreDBClusterFromSnapshot"),
        "{job:?}"
    );
    assert!(!fake
        .databases(id(A), &region(SRC))
        .iter()
        .any(|d| d.id == "orders-elsewhere"));

    let err = src
        .describe_restore_job()
        .restore_job_id("no-such-job")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

// Faults injected into Backup operations: an error surfaces with its code, a lost answer
// leaves the change made, throttling is retried by the SDK.
#[tokio::test]
async fn injected_faults_reach_backup_callers() {
    let fake = FakeAws::start().await;
    let src = backup(&fake, SRC).await;
    fake.inject("CreateBackupVault", 1, Fault::crash("InjectedCrash"));
    let err = src
        .create_backup_vault()
        .backup_vault_name("primary")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InjectedCrash"));
    assert!(fake.vaults(id(A), &region(SRC)).is_empty());

    fake.inject(
        "CreateBackupVault",
        1,
        Fault::ErrorAfterApply(AwsFault::new("InjectedCrash", "answer lost")),
    );
    let err = src
        .create_backup_vault()
        .backup_vault_name("primary")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InjectedCrash"));
    assert_eq!(err.message(), Some("answer lost"));
    assert_eq!(fake.vaults(id(A), &region(SRC)).len(), 1);

    fake.inject("DescribeBackupVault", 1, Fault::throttling());
    src.describe_backup_vault()
        .backup_vault_name("primary")
        .send()
        .await
        .unwrap();
    assert_eq!(fake.count("DescribeBackupVault"), 2);
    assert_eq!(fake.count("CreateBackupVault"), 2);
    let calls = fake.calls();
    assert!(calls
        .iter()
        .all(|c| c.service == "backup" && c.region == SRC));
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.error.as_deref() == Some("ThrottlingException"))
            .count(),
        1
    );
}

// R26: AWS Backup cannot use a role that IAM has only just made for the next few calls
// ("IAM Role ... cannot be assumed by AWS Backup", Terraform's AWS provider issue 9297), nor
// an inline policy just changed for a selection by tag ("... is not authorized to call
// tag:GetResources", its PR 12017); a selection by ARN does not need the role's permissions.
#[tokio::test]
async fn r26_aws_backup_cannot_use_a_new_role_for_a_few_calls() {
    let fake = FakeAws::start().await;
    let src = backup(&fake, SRC).await;
    create_vault(&src, "primary", None).await;
    let cluster = fake
        .seed_cluster(id(A), &region(SRC), "orders", Some("alias/aws/rds"))
        .unwrap();
    let plan_id = src
        .create_backup_plan()
        .backup_plan(plan("primary", "cron(0 5 ? * * *)", None, None, &[]))
        .send()
        .await
        .unwrap()
        .backup_plan_id()
        .unwrap()
        .to_owned();
    let role_arn = role(&fake, "backup-role", TRUST_BACKUP, None).await;
    let create = |name: &str, by_tag: bool| {
        let mut selection = BackupSelection::builder()
            .selection_name(name)
            .iam_role_arn(&role_arn);
        selection = if by_tag {
            selection.list_of_tags(
                aws_sdk_backup::types::Condition::builder()
                    .condition_type(aws_sdk_backup::types::ConditionType::Stringequals)
                    .condition_key("backup")
                    .condition_value("daily")
                    .build()
                    .unwrap(),
            )
        } else {
            selection.resources(&cluster)
        };
        src.create_backup_selection()
            .backup_plan_id(&plan_id)
            .backup_selection(selection.build().unwrap())
            .send()
    };
    let refused = |err: &aws_sdk_backup::error::SdkError<_, _>| {
        (
            err.code().map(str::to_owned),
            err.message().map(str::to_owned),
        )
    };
    for _ in 0..2 {
        let err = create("orders", false).await.unwrap_err();
        assert_eq!(
            refused(&err),
            (
                Some("InvalidParameterValueException".into()),
                Some(format!(
                    "IAM Role {role_arn} cannot be assumed by AWS Backup"
                ))
            )
        );
    }
    create("orders", false).await.unwrap();
    // An inline policy changed: a selection by tag waits for it, one by ARN does not.
    Iam::new(&fake.account(id(A)).await)
        .put_role_policy("backup-role", "tags", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"tag:GetResources","Resource":"*"}]}"#)
        .await
        .unwrap();
    create("by-arn", false).await.unwrap();
    let err = create("by-tag", true).await.unwrap_err();
    assert_eq!(
        refused(&err).1,
        Some(format!(
            "IAM Role {role_arn} is not authorized to call tag:GetResources"
        ))
    );
    create("by-tag", true).await.unwrap_err();
    create("by-tag", true).await.unwrap();
    assert_eq!(fake.unsettled_answers(), 4);
}
