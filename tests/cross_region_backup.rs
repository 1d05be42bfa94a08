//! Cross-region backup against the fake AWS: deploy, an on-demand backup and its copy, the
//! R11 trap, teardown that stops at a vault with recovery points, the way back (R17), and a
//! fault at every step boundary.

use std::{path::PathBuf, time::Duration};

use snapshift::{
    aws::Account,
    backup::{Lifecycle, ProtectedCluster, StartWindow, Windows},
    cross_region::{BackupHandles, CrossRegionBackup, KeyStrategy, VaultChoice},
    engine::{Stack, WaitConfig},
    error::Error,
    ids::{AccountId, Region},
    rules::Rule,
    testing::{AwsFault, FakeAws, Fault},
};

const A: &str = "111111111111";

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
    dir: PathBuf,
}

async fn world(test: &str) -> World {
    let fake = FakeAws::start().await;
    fake.set_backup_job_time(Duration::from_millis(20));
    fake.seed_cluster(id(A), &src(), "example-db", Some("alias/aws/rds"))
        .unwrap();
    let a = fake.account(id(A)).await;
    let dir = std::env::temp_dir().join(format!("snapshift-xrb-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    World { fake, a, dir }
}

fn cluster() -> ProtectedCluster {
    ProtectedCluster::new(
        "example-db".parse().unwrap(),
        "example-db-subnet-group".parse().unwrap(),
        "example-db-cluster-pg".parse().unwrap(),
    )
}

fn definition() -> CrossRegionBackup {
    definition_of(cluster())
}

fn definition_of(cluster: ProtectedCluster) -> CrossRegionBackup {
    CrossRegionBackup::new(src(), dst())
        .cluster(cluster)
        .schedule("cron(0 16 * * ? *)".parse().unwrap())
        .windows(Windows::new(StartWindow::minutes(60).unwrap(), 480).unwrap())
        .lifecycle(Lifecycle::delete_after(35).unwrap())
        .copy_lifecycle(Lifecycle::delete_after(35).unwrap())
}

impl World {
    fn stack(&self, backup: CrossRegionBackup) -> (Stack, BackupHandles) {
        let mut stack = Stack::new("dr")
            .unwrap()
            .state_dir(&self.dir)
            .wait(WaitConfig::fast());
        let handles = stack
            .add_cross_region_backup("example-db-dr", &self.a, backup)
            .unwrap();
        (stack, handles)
    }

    fn replica_arn(&self, stack: &Stack, handles: &BackupHandles) -> String {
        let key = stack
            .outputs(handles.key.as_ref().unwrap())
            .unwrap()
            .unwrap();
        key.replicas
            .iter()
            .find(|r| r.region() == &dst())
            .unwrap()
            .to_string()
    }

    /// The stack of `backup`, deployed, and a backup of the protected cluster made now.
    async fn deployed_with_a_backup(
        &self,
        backup: CrossRegionBackup,
    ) -> (
        Stack,
        BackupHandles,
        snapshift::cross_region::RecoveryPointRef,
    ) {
        let (stack, handles) = self.stack(backup);
        stack.deploy().await.unwrap();
        let point = stack
            .backup_now(&handles, &"example-db".parse().unwrap())
            .await
            .unwrap();
        (stack, handles, point)
    }

    /// Whether the source region holds a cluster `cluster`.
    fn has_cluster(&self, cluster: &str) -> bool {
        self.fake
            .databases(id(A), &src())
            .iter()
            .any(|d| d.id == cluster)
    }

    fn counts(&self) -> (usize, usize, usize, usize, usize, usize) {
        (
            self.fake.keys(id(A), &src()).len(),
            self.fake.keys(id(A), &dst()).len(),
            // The `Default` vaults exist on demand, as in AWS; count the stack's.
            self.fake
                .vaults(id(A), &src())
                .iter()
                .chain(self.fake.vaults(id(A), &dst()).iter())
                .filter(|v| v.name != "Default")
                .count(),
            self.fake.roles(id(A)).len(),
            self.fake.backup_plans(id(A), &src()).len(),
            self.fake.backup_selections(id(A), &src()).len(),
        )
    }
}

// R11, R12, R16: deploy, back up now, copy: the copy is under the replica key, the destination
// vault's key, and AWS Backup's names.
#[tokio::test]
async fn r11_r16_backup_and_copy_land_under_the_replica_key() {
    let w = world("replica").await;
    let (stack, handles) = w.stack(definition());
    let preview = stack.preview().await.unwrap();
    assert!(
        preview.warnings.iter().all(|w| w.rule != Some(Rule::R11)),
        "no R11 warning for a vault under the replica: {:?}",
        preview.warnings
    );
    stack.deploy().await.unwrap();
    assert_eq!(w.counts(), (1, 1, 2, 1, 1, 1));

    let point = stack
        .backup_now(&handles, &"example-db".parse().unwrap())
        .await
        .unwrap();
    assert!(
        point.arn.starts_with(&format!(
            "arn:aws:rds:ap-northeast-1:{A}:cluster-snapshot:awsbackup:job-"
        )),
        "R16: {}",
        point.arn
    );
    let copy = stack.copy_to_destination(&handles, &point).await.unwrap();
    assert!(
        copy.arn.starts_with(&format!(
            "arn:aws:rds:ap-northeast-3:{A}:cluster-snapshot:awsbackup:copyjob-"
        )),
        "R16: {}",
        copy.arn
    );
    let replica = w.replica_arn(&stack, &handles);
    assert_eq!(copy.key_arn, replica, "R11: the destination vault's key");
    // The RDS snapshot itself is under that key too.
    let snapshot = w
        .fake
        .snapshots(id(A), &dst())
        .into_iter()
        .find(|s| copy.arn.ends_with(&s.id))
        .unwrap();
    assert_eq!(snapshot.kms_key.as_deref(), Some(replica.as_str()));
}

// R11: copies into the destination's Default vault land under alias/aws/rds of that region,
// and the preview said so, twice: the AWS managed key, and the replica that changes nothing.
#[tokio::test]
async fn r11_default_vault_gives_alias_aws_rds_and_preview_warns() {
    let w = world("default").await;
    let (stack, handles) =
        w.stack(definition().destination_vault(VaultChoice::Existing("Default".parse().unwrap())));
    let preview = stack.preview().await.unwrap();
    let r11: Vec<&str> = preview
        .warnings
        .iter()
        .filter(|w| w.rule == Some(Rule::R11))
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(r11.len(), 2, "{r11:?}");
    assert!(
        r11[0].contains("alias/aws/rds of ap-northeast-3"),
        "{}",
        r11[0]
    );
    assert!(
        r11[1].contains("a replica alone changes nothing"),
        "{}",
        r11[1]
    );
    assert!(preview.render().contains("alias/aws/rds"));

    stack.deploy().await.unwrap();
    let point = stack
        .backup_now(&handles, &"example-db".parse().unwrap())
        .await
        .unwrap();
    let copy = stack.copy_to_destination(&handles, &point).await.unwrap();
    let rds_key = w.fake.aliases(id(A), &dst())["alias/aws/rds"].clone();
    assert!(
        copy.key_arn.ends_with(&rds_key),
        "R11: {} is not alias/aws/rds ({rds_key})",
        copy.key_arn
    );
    assert_ne!(copy.key_arn, w.replica_arn(&stack, &handles));
}

// Teardown in order; a vault that holds a recovery point stops it there: nothing holding data
// is deleted, the keys and the role stay, and the error lists what remains. Once the point is
// gone, teardown finishes (replica before primary, R23).
#[tokio::test]
async fn r23_teardown_stops_at_a_vault_with_recovery_points_and_keeps_the_keys() {
    let w = world("teardown").await;
    let (stack, handles, point) = w.deployed_with_a_backup(definition()).await;
    let copy = stack.copy_to_destination(&handles, &point).await.unwrap();
    // The source point goes; the copy stays in the destination vault.
    assert!(stack.delete_recovery_point(&handles, &point).await.unwrap());
    w.fake.clear_log();

    let err = stack.teardown().await.unwrap_err();
    match &err {
        Error::VaultNotEmpty {
            vault,
            recovery_points,
            ..
        } => {
            assert_eq!(vault, "example-db-dr-destination");
            assert_eq!(recovery_points.len(), 1);
            assert!(
                recovery_points[0].contains(&copy.arn),
                "{recovery_points:?}"
            );
        }
        other => panic!("expected VaultNotEmpty, got {other}"),
    }
    assert!(err
        .to_string()
        .contains("nothing that holds data was deleted"));
    let deleted: Vec<String> = w
        .fake
        .mutating_calls()
        .iter()
        .filter(|c| c.error.is_none())
        .map(|c| c.operation.clone())
        .collect();
    assert_eq!(
        deleted,
        [
            "DeleteBackupSelection",
            "DeleteBackupPlan",
            "DeleteBackupVault"
        ],
        "selection, plan, then the (empty) source vault; the destination vault, role and keys stay"
    );
    assert_eq!(w.counts(), (1, 1, 1, 1, 0, 0));
    assert_eq!(w.fake.recovery_points(id(A), &dst()).len(), 1);
    let keys = w.fake.keys(id(A), &src());
    assert_eq!(keys[0].state, "Enabled", "the key the copy needs is kept");

    // The copy is deleted by its owner; teardown resumes and finishes in order.
    assert!(stack.delete_recovery_point(&handles, &copy).await.unwrap());
    w.fake.clear_log();
    stack.teardown().await.unwrap();
    let order: Vec<(String, String)> = w
        .fake
        .mutating_calls()
        .iter()
        .filter(|c| c.error.is_none())
        .map(|c| (c.operation.clone(), c.region.clone()))
        .collect();
    let ops: Vec<&str> = order.iter().map(|(o, _)| o.as_str()).collect();
    assert_eq!(
        ops,
        [
            "DeleteBackupVault",
            "DeleteRolePolicy",
            "DeleteRole",
            "DeleteAlias",
            "ScheduleKeyDeletion",
            "ScheduleKeyDeletion"
        ]
    );
    assert_eq!(order[4].1, "ap-northeast-3", "R23: the replica first");
    assert_eq!(order[5].1, "ap-northeast-1");
    assert_eq!(w.counts().2..=w.counts().5, 0..=0);
}

// R17: the way back: copy from the destination vault into the source vault, then restore:
// the cluster only, no instances, and the output says so.
#[tokio::test]
async fn r17_disaster_recovery_copies_back_and_restores_the_cluster_only() {
    let w = world("dr").await;
    let (stack, handles, point) = w.deployed_with_a_backup(definition()).await;
    let copy = stack.copy_to_destination(&handles, &point).await.unwrap();
    let back = stack.copy_back(&handles, &copy).await.unwrap();
    assert_eq!(back.region, src());
    assert_eq!(back.vault, "example-db-dr-source");
    let restored = stack
        .restore_from_backup(
            &handles,
            &back,
            &"example-db-restored".parse().unwrap(),
            "aurora-mysql",
        )
        .await
        .unwrap();
    assert!(restored.arn.ends_with(":cluster:example-db-restored"));
    assert!(restored.note.contains("no DB instances (R17)"));
    let db = w
        .fake
        .databases(id(A), &src())
        .into_iter()
        .find(|d| d.id == "example-db-restored")
        .unwrap();
    assert!(db.instances.is_empty(), "R17: no instances");
}

// R8, R23 (safety review, item 2): after the way back, the restored cluster is encrypted under
// the stack's key. Deleting the recovery points as the VaultNotEmpty error says, then tearing
// down, must not schedule the key or its replica: in 7 to 30 days the cluster would be
// unreadable. Teardown refuses, naming the cluster, and changes no key.
#[tokio::test]
async fn r8_no_key_is_scheduled_for_deletion_under_a_cluster_restored_from_backup() {
    let w = world("dr-key").await;
    let (stack, handles, point) = w.deployed_with_a_backup(definition()).await;
    let copy = stack.copy_to_destination(&handles, &point).await.unwrap();
    let back = stack.copy_back(&handles, &copy).await.unwrap();
    stack
        .restore_from_backup(
            &handles,
            &back,
            &"example-db-restored".parse().unwrap(),
            "aurora-mysql",
        )
        .await
        .unwrap();
    let err = stack.teardown().await.unwrap_err();
    assert!(matches!(err, Error::VaultNotEmpty { .. }), "{err}");
    for p in [&back, &copy, &point] {
        stack.delete_recovery_point(&handles, p).await.unwrap();
    }
    let err = stack.teardown().await.unwrap_err();
    let Error::KeyInUse { users, .. } = &err else {
        panic!("expected KeyInUse, got {err}");
    };
    assert_eq!(err.rule(), Some(Rule::R8));
    assert!(
        users
            .iter()
            .any(|u| u.contains(":cluster:example-db-restored")),
        "{err}"
    );
    for region in [src(), dst()] {
        for key in w.fake.keys(id(A), &region) {
            assert_ne!(key.state, "PendingDeletion", "{region}: {key:?}");
            assert_ne!(key.state, "PendingReplicaDeletion", "{region}: {key:?}");
        }
    }
    assert!(
        w.has_cluster("example-db-restored"),
        "the restored cluster is untouched"
    );
}

// Safety review, item 7: a vault is the stack's only by its tags, not by its record. Deleted
// outside snapshift and made again by someone else under the same name, it is refused by
// deploy and left in place by teardown.
#[tokio::test]
async fn a_vault_made_again_by_someone_else_under_its_name_is_not_taken_over() {
    let w = world("vault-retaken").await;
    let (stack, _) = w.stack(definition());
    stack.deploy().await.unwrap();
    let backup = snapshift::aws::backup::Backup::new(&w.a, &src());
    assert!(backup.delete_vault("example-db-dr-source").await.unwrap());
    backup
        .create_vault("example-db-dr-source", None, &[], "someone-else")
        .await
        .unwrap();
    let err = stack.deploy().await.unwrap_err();
    assert!(matches!(err, Error::NotOurs { .. }), "{err}");
    let report = stack.teardown().await.unwrap();
    assert!(
        report
            .removed
            .iter()
            .any(|(_, r)| r.contains("left in place")),
        "{report:?}"
    );
    assert!(
        w.fake
            .vaults(id(A), &src())
            .iter()
            .any(|v| v.name == "example-db-dr-source"),
        "their vault is left as it is"
    );
}

// Safety review, item 7: an on-demand backup whose answer was lost is not started twice: the
// state recorded its idempotency token before the call, and the re-run reuses it.
#[tokio::test]
async fn a_backup_job_whose_answer_was_lost_is_not_started_twice() {
    let w = world("lost-job").await;
    let (stack, handles) = w.stack(definition());
    stack.deploy().await.unwrap();
    w.fake.inject(
        "StartBackupJob",
        1,
        Fault::ErrorAfterApply(AwsFault::new("InternalFailure", "lost answer")),
    );
    let cluster = "example-db".parse().unwrap();
    stack.backup_now(&handles, &cluster).await.unwrap_err();
    let point = stack.backup_now(&handles, &cluster).await.unwrap();
    let points = w.fake.recovery_points(id(A), &src());
    assert_eq!(points.len(), 1, "one job, one recovery point: {points:?}");
    assert_eq!(points[0].arn, point.arn);
    // Done: the next call is a new backup.
    stack.backup_now(&handles, &cluster).await.unwrap();
    assert_eq!(w.fake.recovery_points(id(A), &src()).len(), 2);
}

// Safety review, item 7: delete_recovery_point deletes only what this stack's jobs made, as
// its state recorded them; a stack whose state did not make the point refuses and leaves it.
#[tokio::test]
async fn only_recovery_points_the_stacks_jobs_made_are_deleted() {
    let w = world("delete-point").await;
    let (stack, handles, point) = w.deployed_with_a_backup(definition()).await;
    let mut other = Stack::new("dr")
        .unwrap()
        .state_dir(w.dir.join("other"))
        .wait(WaitConfig::fast());
    let other_handles = other
        .add_cross_region_backup("example-db-dr", &w.a, definition())
        .unwrap();
    let err = other
        .delete_recovery_point(&other_handles, &point)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotOurs { .. }), "{err}");
    assert_eq!(
        w.fake.recovery_points(id(A), &src()).len(),
        1,
        "left as it is"
    );
    assert!(stack.delete_recovery_point(&handles, &point).await.unwrap());
    assert!(w.fake.recovery_points(id(A), &src()).is_empty());
}

// Safety review, items 3 and 7: a restore from backup never restores over, or adopts, a
// cluster of that name it did not make; a restore it made is found again, not repeated, and
// teardown names it as kept.
#[tokio::test]
async fn a_restore_from_backup_never_adopts_a_cluster_and_is_not_repeated() {
    let w = world("restore-adopt").await;
    // Two restore names the role covers: someone makes a cluster under the first.
    let protected = cluster()
        .restore_as("someone-elses".parse().unwrap())
        .restore_as("example-db-restored".parse().unwrap());
    let backup = CrossRegionBackup::new(src(), dst())
        .cluster(protected)
        .schedule("cron(0 16 * * ? *)".parse().unwrap());
    let (stack, handles, point) = w.deployed_with_a_backup(backup).await;
    w.fake
        .seed_cluster(id(A), &src(), "someone-elses", None)
        .unwrap();
    let err = stack
        .restore_from_backup(
            &handles,
            &point,
            &"someone-elses".parse().unwrap(),
            "aurora-mysql",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotOurs { .. }), "{err}");
    assert_eq!(w.fake.count("StartRestoreJob"), 0);
    let restored_id = "example-db-restored".parse().unwrap();
    let first = stack
        .restore_from_backup(&handles, &point, &restored_id, "aurora-mysql")
        .await
        .unwrap();
    let again = stack
        .restore_from_backup(&handles, &point, &restored_id, "aurora-mysql")
        .await
        .unwrap();
    assert_eq!(first.arn, again.arn);
    assert_eq!(w.fake.count("StartRestoreJob"), 1, "not repeated");
}

// R15, R17: the role's policy names both vaults (the way back needs the source vault) and the
// keys the stack made; a role without CopyIntoBackupVault on the destination fails the copy.
#[tokio::test]
async fn r15_the_role_policy_names_both_vaults_and_the_deployed_keys() {
    let w = world("role").await;
    let (stack, handles) = w.stack(definition());
    stack.deploy().await.unwrap();
    let role = &w.fake.roles(id(A))[0];
    let policy: serde_json::Value =
        serde_json::from_str(&role.policies["snapshift-backup"]).unwrap();
    let text = policy.to_string();
    assert!(text.contains(&format!(
        "arn:aws:backup:ap-northeast-1:{A}:backup-vault:example-db-dr-source"
    )));
    assert!(text.contains(&format!(
        "arn:aws:backup:ap-northeast-3:{A}:backup-vault:example-db-dr-destination"
    )));
    assert!(text.contains(&w.replica_arn(&stack, &handles)));
    assert!(!text.contains("mrk-00000000000000000000000000000000"));
    // R14: trusted by AWS Backup, acting for this account.
    assert!(role.trust_policy.contains("backup.amazonaws.com"));
    assert!(role
        .trust_policy
        .contains(&format!(r#""aws:SourceAccount":"{A}""#)));
}

// R14: the selection names the cluster by ARN, or a tag; by tag the preview says what the role
// covers.
#[tokio::test]
async fn r14_selection_by_arn_or_by_tag() {
    let w = world("selection").await;
    let (stack, _) = w.stack(definition());
    stack.deploy().await.unwrap();
    let selection = &w.fake.backup_selections(id(A), &src())[0];
    assert_eq!(
        selection.resources,
        [format!("arn:aws:rds:ap-northeast-1:{A}:cluster:example-db")]
    );
    assert!(selection.role_arn.ends_with(":role/example-db-dr-backup"));

    let w = world("selection-tag").await;
    let (stack, _) = w.stack(definition().select_by_tag("backup", "cross-region"));
    let preview = stack.preview().await.unwrap();
    assert!(preview
        .warnings
        .iter()
        .any(|w| w.rule == Some(Rule::R15) && w.message.contains("example-db")));
    stack.deploy().await.unwrap();
    let selection = &w.fake.backup_selections(id(A), &src())[0];
    assert!(selection.resources.is_empty());
    assert_eq!(
        selection.tags,
        [("backup".to_owned(), "cross-region".to_owned())]
    );
}

// R30: a selection by tag is resolved by AWS Backup as the role, which then needs
// `tag:GetResources`; a selection by ARN does not get it.
#[tokio::test]
async fn r30_a_selection_by_tag_gives_the_role_tag_get_resources() {
    for (by_tag, expected) in [(false, false), (true, true)] {
        let w = world(&format!("r30-{by_tag}")).await;
        let mut backup = definition();
        if by_tag {
            backup = backup.select_by_tag("backup", "cross-region");
        }
        let (stack, _) = w.stack(backup);
        stack.deploy().await.unwrap();
        let policy = w.fake.roles(id(A))[0].policies["snapshift-backup"].clone();
        assert_eq!(
            policy.contains("\"tag:GetResources\""),
            expected,
            "{policy}"
        );
    }
}

// R13, R24: bad settings are typed errors before any call; R18: two regions.
#[tokio::test]
async fn r13_r18_r24_bad_definitions_are_refused_before_any_call() {
    assert_eq!(
        StartWindow::minutes(59).unwrap_err().rule(),
        Rule::R13,
        "R13: at least 60 minutes"
    );
    assert_eq!(
        Lifecycle::new(Some(30), Some(100)).unwrap_err().rule(),
        Rule::R24
    );
    assert!("cron(0 16 * * * *)"
        .parse::<snapshift::backup::Schedule>()
        .is_err());
    let w = world("bad").await;
    let mut stack = Stack::new("bad").unwrap().state_dir(&w.dir);
    let err = stack
        .add_cross_region_backup(
            "same",
            &w.a,
            CrossRegionBackup::new(src(), src()).cluster(cluster()),
        )
        .unwrap_err();
    assert_eq!(err.rule(), Some(Rule::R18), "{err}");
    let err = stack
        .add_cross_region_backup("none", &w.a, CrossRegionBackup::new(src(), dst()))
        .unwrap_err();
    assert!(err.to_string().contains("protects no cluster"), "{err}");
    let err = stack
        .add_cross_region_backup(
            "keys",
            &w.a,
            definition().keys(KeyStrategy::Existing {
                source: format!(
                    "arn:aws:kms:ap-northeast-3:{A}:key/mrk-1234567890abcdef1234567890abcdef"
                )
                .parse()
                .unwrap(),
                destination: format!(
                    "arn:aws:kms:ap-northeast-3:{A}:key/mrk-5678567890abcdef1234567890abcdef"
                )
                .parse()
                .unwrap(),
            }),
        )
        .unwrap_err();
    assert_eq!(err.rule(), Some(Rule::R11), "{err}");
    assert!(w.fake.calls().is_empty(), "nothing was called");
}

// A fault at every step boundary of deploy (the call fails, or succeeds with its answer
// lost), then a re-run: everything exists once.
#[tokio::test]
async fn fault_at_every_deploy_step_then_rerun_completes_without_duplicates() {
    let steps = [
        "CreateKey",
        "CreateAlias",
        "ReplicateKey",
        "CreateRole",
        "PutRolePolicy",
        "CreateBackupVault",
        "CreateBackupPlan",
        "CreateBackupSelection",
    ];
    for (i, operation) in steps.iter().enumerate() {
        for (j, fault) in [
            Fault::crash("InjectedCrash"),
            Fault::ErrorAfterApply(AwsFault::new("InjectedCrash", "crash")),
        ]
        .into_iter()
        .enumerate()
        {
            for nth in 1..=2 {
                if nth == 2 && *operation != "CreateBackupVault" {
                    continue;
                }
                let w = world(&format!("fault-{i}-{j}-{nth}")).await;
                let (stack, _) = w.stack(definition());
                w.fake.inject(operation, nth, fault.clone());
                assert!(
                    stack.deploy().await.is_err(),
                    "{operation} #{nth} {fault:?}: the fault must surface"
                );
                stack
                    .deploy()
                    .await
                    .unwrap_or_else(|e| panic!("{operation} #{nth} {fault:?}: re-run: {e}"));
                assert_eq!(
                    w.counts(),
                    (1, 1, 2, 1, 1, 1),
                    "{operation} #{nth} {fault:?}: one of each"
                );
                stack
                    .teardown()
                    .await
                    .unwrap_or_else(|e| panic!("{operation} #{nth} {fault:?}: teardown: {e}"));
                assert_eq!(
                    w.counts().2..=w.counts().5,
                    0..=0,
                    "{operation} #{nth} {fault:?}: no orphans"
                );
            }
        }
    }
}

// A fault at every step of teardown, then a re-run finishes it.
#[tokio::test]
async fn fault_at_every_teardown_step_then_rerun_finishes() {
    let steps = [
        "DeleteBackupSelection",
        "DeleteBackupPlan",
        "DeleteBackupVault",
        "DeleteRolePolicy",
        "DeleteRole",
        "DeleteAlias",
        "ScheduleKeyDeletion",
    ];
    for (i, operation) in steps.iter().enumerate() {
        for (j, fault) in [
            Fault::crash("InjectedCrash"),
            Fault::ErrorAfterApply(AwsFault::new("InjectedCrash", "crash")),
        ]
        .into_iter()
        .enumerate()
        {
            let w = world(&format!("tfault-{i}-{j}")).await;
            let (stack, _) = w.stack(definition());
            stack.deploy().await.unwrap();
            w.fake.inject(operation, 1, fault.clone());
            let first = stack.teardown().await;
            // A lost answer to ScheduleKeyDeletion is noticed at once: the key reads back as
            // pending deletion, so that teardown goes on. Every other fault stops it.
            let absorbed = j == 1 && *operation == "ScheduleKeyDeletion";
            assert_eq!(
                first.is_err(),
                !absorbed,
                "{operation} {fault:?}: {first:?}"
            );
            stack
                .teardown()
                .await
                .unwrap_or_else(|e| panic!("{operation} {fault:?}: re-run: {e}"));
            assert_eq!(
                w.counts().2..=w.counts().5,
                0..=0,
                "{operation} {fault:?}: nothing left"
            );
            let pending = w
                .fake
                .keys(id(A), &src())
                .iter()
                .chain(w.fake.keys(id(A), &dst()).iter())
                .filter(|k| k.state.starts_with("Pending"))
                .count();
            assert_eq!(pending, 2, "{operation} {fault:?}: both keys scheduled");
        }
    }
}

// A second deploy changes nothing; a changed rule is an update in place.
#[tokio::test]
async fn redeploy_is_a_no_op_and_a_changed_rule_updates_the_plan() {
    let w = world("redeploy").await;
    let (stack, _) = w.stack(definition());
    stack.deploy().await.unwrap();
    w.fake.clear_log();
    stack.deploy().await.unwrap();
    assert_eq!(w.fake.mutating_calls(), vec![]);

    let (stack, _) = w.stack(definition().schedule("cron(0 18 * * ? *)".parse().unwrap()));
    let preview = stack.preview().await.unwrap();
    let plan_change = preview
        .changes
        .iter()
        .find(|c| c.resource == "example-db-dr-plan")
        .unwrap();
    assert_eq!(plan_change.action, snapshift::engine::Action::Update);
    w.fake.clear_log();
    stack.deploy().await.unwrap();
    let ops: Vec<String> = w
        .fake
        .mutating_calls()
        .iter()
        .map(|c| c.operation.clone())
        .collect();
    assert_eq!(ops, ["UpdateBackupPlan"]);
    assert_eq!(w.counts(), (1, 1, 2, 1, 1, 1));
}

// R28: from a profile without a region, the whole backup deploys and tears down: the role
// through IAM's global region, everything else in the regions the definition names.
#[tokio::test]
async fn r28_deploys_and_tears_down_from_an_account_without_a_region() {
    let mut w = world("no-region").await;
    w.a = w.fake.account_without_region(id(A)).await;
    let (stack, _) = w.stack(definition());
    stack.deploy().await.unwrap();
    assert_eq!(w.counts(), (1, 1, 2, 1, 1, 1));
    assert!(w
        .fake
        .calls()
        .iter()
        .filter(|c| c.service == "iam")
        .all(|c| c.region == "us-east-1"));
    stack.teardown().await.unwrap();
    assert_eq!(w.counts(), (1, 1, 0, 0, 0, 0));
}

// R32: a plan deleted outside snapshift (its selection first, as AWS requires) makes
// GetBackupSelection answer InvalidParameterValueException "Cannot find Backup plan", not
// ResourceNotFoundException: refresh reports the selection and the plan gone, and teardown
// finishes.
#[tokio::test]
async fn r32_a_plan_deleted_outside_snapshift_reads_as_gone() {
    use snapshift::aws::backup::Backup;
    let w = world("plan-gone").await;
    let (stack, handles) = w.stack(definition());
    stack.deploy().await.unwrap();
    let selection = stack.outputs(&handles.selection).unwrap().unwrap();
    let backup = Backup::new(&w.a, &src());
    assert!(backup
        .delete_selection(&selection.plan_id, &selection.selection_id)
        .await
        .unwrap());
    assert!(backup.delete_plan(&selection.plan_id).await.unwrap());
    // AWS's answer, as Terraform's provider and others read it.
    let raw = aws_sdk_backup::Client::new(
        &w.a.sdk_config()
            .to_builder()
            .region(aws_config::Region::new(src().to_string()))
            .build(),
    )
    .get_backup_selection()
    .backup_plan_id(&selection.plan_id)
    .selection_id(&selection.selection_id)
    .send()
    .await
    .unwrap_err();
    use aws_sdk_backup::error::ProvideErrorMetadata;
    assert_eq!(raw.code(), Some("InvalidParameterValueException"));
    assert!(
        raw.message()
            .is_some_and(|m| m.starts_with("Cannot find Backup plan")),
        "{raw:?}"
    );

    let drift = stack.refresh().await.unwrap();
    assert_eq!(
        drift.resources["example-db-dr-selection"],
        ["backup selection example-db-dr no longer exists"]
    );
    assert_eq!(
        drift.resources["example-db-dr-plan"],
        ["backup plan example-db-dr no longer exists"]
    );
    stack.teardown().await.unwrap();
    assert_eq!(w.counts().5, 0);
    assert_eq!(w.counts().4, 0);
}

// Existing keys: the vaults are made under them, the copy lands under the destination key
// (R11), and teardown never schedules their deletion (they are not the stack's).
#[tokio::test]
async fn r11_existing_keys_are_used_and_never_scheduled_for_deletion() {
    use snapshift::aws::kms::{Kms, NewKey};
    let w = world("existing-keys").await;
    let policy = snapshift::key::ShareableKey::new()
        .multi_region(true)
        .build()
        .unwrap()
        .key_policy(id(A))
        .unwrap()
        .to_json();
    let kms = Kms::new(&w.a, &src());
    let primary = kms
        .create_key(&NewKey {
            policy: &policy,
            description: "team key",
            multi_region: true,
            tags: &[],
        })
        .await
        .unwrap();
    let key_id: snapshift::ids::KeyId = primary
        .arn
        .to_string()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let replica = kms
        .replicate_key(&key_id, &dst(), &policy, "team key", &[])
        .await
        .unwrap();
    let (stack, handles) = w.stack(definition().keys(KeyStrategy::Existing {
        source: primary.arn.clone(),
        destination: replica.arn.clone(),
    }));
    assert!(handles.key.is_none());
    stack.deploy().await.unwrap();
    let point = stack
        .backup_now(&handles, &"example-db".parse().unwrap())
        .await
        .unwrap();
    let copy = stack.copy_to_destination(&handles, &point).await.unwrap();
    assert_eq!(copy.key_arn, replica.arn.to_string());
    for p in [&copy, &point] {
        stack.delete_recovery_point(&handles, p).await.unwrap();
    }
    w.fake.clear_log();
    stack.teardown().await.unwrap();
    assert_eq!(w.fake.count("ScheduleKeyDeletion"), 0);
    assert!(w
        .fake
        .keys(id(A), &src())
        .iter()
        .all(|k| k.state == "Enabled"));
}

// A vault of the same name that the stack did not make: preflight refuses, nothing changes.
#[tokio::test]
async fn a_foreign_vault_of_the_same_name_stops_deploy_before_any_change() {
    use snapshift::aws::backup::Backup;
    let w = world("foreign").await;
    Backup::new(&w.a, &dst())
        .create_vault("example-db-dr-destination", None, &[], "someone-else")
        .await
        .unwrap();
    let (stack, _) = w.stack(definition());
    w.fake.clear_log();
    let err = stack.deploy().await.unwrap_err();
    assert!(matches!(err, Error::NotOurs { .. }), "{err}");
    assert!(
        err.to_string().contains("example-db-dr-destination"),
        "{err}"
    );
    assert_eq!(w.fake.mutating_calls(), vec![]);
}

// R15, R17: the role names each cluster a restore may create, so a restore under another
// name, or of a point still in the destination region (the role's clusters and groups are in
// the source region), is refused before any call, saying what to do; a restore name given
// with restore_as is covered by the deployed role and restores there.
#[tokio::test]
async fn r15_restores_only_under_the_names_the_role_covers() {
    let w = world("restore-names").await;
    let backup = CrossRegionBackup::new(src(), dst())
        .cluster(cluster().restore_as("example-db-dr-test".parse().unwrap()))
        .schedule("cron(0 16 * * ? *)".parse().unwrap());
    let (stack, handles) = w.stack(backup);
    stack.deploy().await.unwrap();
    let role = &w.fake.roles(id(A))[0];
    let policy = role.policies["snapshift-backup"].clone();
    assert!(policy.contains(&format!(
        "\"arn:aws:rds:ap-northeast-1:{A}:cluster:example-db-dr-test\""
    )));
    assert!(!policy.contains("cluster:example-db*"), "{policy}");
    assert!(
        !policy.contains("example-db-restored"),
        "restore_as replaces the default"
    );
    let point = stack
        .backup_now(&handles, &"example-db".parse().unwrap())
        .await
        .unwrap();
    let copy = stack.copy_to_destination(&handles, &point).await.unwrap();
    w.fake.clear_log();
    let err = stack
        .restore_from_backup(
            &handles,
            &point,
            &"example-db-billing".parse().unwrap(),
            "aurora-mysql",
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "cluster example-db-billing is not a name the backup role may restore to: the role names each protected cluster and its restore names exactly (example-db, example-db-dr-test); add it with ProtectedCluster::restore_as and deploy (R15)"
        ),
        "{err}"
    );
    let err = stack
        .restore_from_backup(
            &handles,
            &copy,
            &"example-db-dr-test".parse().unwrap(),
            "aurora-mysql",
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("copy it back first with copy_back (R17)"),
        "{err}"
    );
    assert_eq!(w.fake.calls(), vec![], "refused before any call");
    let restored = stack
        .restore_from_backup(
            &handles,
            &point,
            &"example-db-dr-test".parse().unwrap(),
            "aurora-mysql",
        )
        .await
        .unwrap();
    assert!(restored.arn.ends_with(":cluster:example-db-dr-test"));
}

// R30: a restore job runs as the role in the recovery point's region. With a recovery site
// in the destination region (its subnet group, parameter group and security groups), the
// role names the restore there too, and a copy in the destination vault restores in place,
// without copying it back first.
#[tokio::test]
async fn r30_a_restore_runs_in_the_destination_region_with_that_regions_groups() {
    let w = world("r30-restore").await;
    let site = snapshift::backup::RecoverySite {
        subnet_group: "dr-subnets".parse().unwrap(),
        parameter_group: "dr-cluster-pg".parse().unwrap(),
        security_groups: vec!["sg-0123456789abcdef0".into()],
    };
    let (stack, handles, point) = w
        .deployed_with_a_backup(definition_of(cluster().restore_in_destination(site)))
        .await;
    let policy = w.fake.roles(id(A))[0].policies["snapshift-backup"].clone();
    for resource in [
        format!("arn:aws:rds:ap-northeast-3:{A}:cluster:example-db-restored"),
        format!("arn:aws:rds:ap-northeast-3:{A}:subgrp:dr-subnets"),
        format!("arn:aws:rds:ap-northeast-3:{A}:cluster-pg:dr-cluster-pg"),
    ] {
        assert!(policy.contains(&resource), "{resource} in {policy}");
    }
    let copy = stack.copy_to_destination(&handles, &point).await.unwrap();
    w.fake.clear_log();
    let restored = stack
        .restore_from_backup(
            &handles,
            &copy,
            &"example-db-restored".parse().unwrap(),
            "aurora-mysql",
        )
        .await
        .unwrap();
    assert_eq!(restored.region, dst());
    assert!(w
        .fake
        .databases(id(A), &dst())
        .iter()
        .any(|d| d.id == "example-db-restored"));
    let start = w
        .fake
        .calls()
        .into_iter()
        .find(|c| c.operation == "StartRestoreJob")
        .unwrap();
    assert_eq!(start.region, "ap-northeast-3", "{start:?}");
}

// R2, R11: the key the stack makes for the vaults, granted to another account, lets it use the
// key through AWS Backup as well as RDS, in both regions of the key.
#[tokio::test]
async fn r2_r11_a_vault_key_granted_to_another_account_serves_rds_and_aws_backup() {
    let w = world("vault-key-grant").await;
    let key = snapshift::key::ShareableKey::new()
        .alias("example-db-dr-backup")
        .multi_region(true)
        .replica_region(dst())
        .grant_account(id("999999999999"))
        .build()
        .unwrap();
    assert!(!key.backs_backup_vaults());
    let (stack, _) = w.stack(definition().keys(KeyStrategy::NewMultiRegion(Some(key))));
    stack.deploy().await.unwrap();
    for region in [src(), dst()] {
        let policy = &w.fake.keys(id(A), &region)[0].policy;
        for service in ["rds", "backup"] {
            for r in [src(), dst()] {
                assert!(
                    policy.contains(&format!("\"{service}.{r}.amazonaws.com\"")),
                    "{region}: {policy}"
                );
            }
        }
    }
}

impl World {
    /// The stack of `backup` with the fast waits and a settling window of `window` (R26).
    fn stack_settling(
        &self,
        backup: CrossRegionBackup,
        window: Duration,
    ) -> (Stack, BackupHandles) {
        let mut stack = Stack::new("dr")
            .unwrap()
            .state_dir(&self.dir)
            .wait(WaitConfig {
                consistency_window: window,
                ..WaitConfig::fast()
            });
        let handles = stack
            .add_cross_region_backup("example-db-dr", &self.a, backup)
            .unwrap();
        (stack, handles)
    }
}

// R26: right after CreateRole and PutRolePolicy, AWS Backup cannot use the role yet
// (CreateBackupSelection: "IAM Role ... cannot be assumed by AWS Backup"), and a new replica
// is Creating for a few seconds, unusable as a vault's key. One deploy goes through: the
// selection is made again until AWS Backup accepts the role, and the destination vault waits
// for its replica key to be Enabled.
#[tokio::test]
async fn r26_a_new_role_and_a_creating_replica_are_waited_for_in_one_deploy() {
    let w = world("settle").await;
    w.fake
        .set_consistency(snapshift::testing::Consistency::default());
    let (stack, handles) = w.stack(definition());
    stack.deploy().await.unwrap();
    assert_eq!(w.counts(), (1, 1, 2, 1, 1, 1));
    let refused = w
        .fake
        .calls()
        .iter()
        .filter(|c| {
            c.operation == "CreateBackupSelection"
                && c.error.as_deref() == Some("InvalidParameterValueException")
        })
        .count();
    assert_eq!(refused, 2, "AWS Backup refused the new role twice");
    assert_eq!(w.fake.count("CreateBackupSelection"), 3);
    let replica = w.replica_arn(&stack, &handles);
    let dst_keys = w.fake.keys(id(A), &dst());
    assert_eq!(dst_keys[0].state, "Enabled");
    let vault = stack.outputs(&handles.destination_vault).unwrap().unwrap();
    assert_eq!(vault.key_arn, replica);
    assert!(w.a.settle_retries() >= 4);
    // A backup and its copy work at once.
    let point = stack
        .backup_now(&handles, &"example-db".parse().unwrap())
        .await
        .unwrap();
    stack.copy_to_destination(&handles, &point).await.unwrap();
}

// R26: bounded: a role AWS Backup still refuses at the end of the settling window stops the
// deploy with AWS's error, saying what was waited for.
#[tokio::test]
async fn r26_a_role_aws_backup_never_accepts_fails_after_the_window() {
    let w = world("settle-role").await;
    w.fake.set_consistency(snapshift::testing::Consistency {
        iam_calls: 10_000,
        ..snapshift::testing::Consistency::default()
    });
    let (stack, _) = w.stack_settling(definition(), Duration::from_millis(300));
    let err = stack.deploy().await.unwrap_err();
    let aws = err.aws().unwrap();
    assert_eq!(aws.operation(), "CreateBackupSelection");
    assert!(
        aws.message()
            .is_some_and(|m| m.ends_with("cannot be assumed by AWS Backup")),
        "{err}"
    );
    let waited = aws.waited_for().unwrap();
    assert!(
        waited.contains("the inline policy snapshift-backup of role") && waited.contains("R26"),
        "{waited}"
    );
    assert_eq!(err.rule(), Some(Rule::R26));
    assert_eq!(w.fake.backup_selections(id(A), &src()).len(), 0);
}

// R26: a replica that is still Creating at the end of the settling window stops the vault
// before CreateBackupVault, naming the key and what was waited for.
#[tokio::test]
async fn r26_a_replica_that_stays_creating_stops_its_vault_saying_what_was_waited_for() {
    let w = world("settle-replica").await;
    w.fake.set_consistency(snapshift::testing::Consistency {
        replica_describes: 10_000,
        ..snapshift::testing::Consistency::default()
    });
    let (stack, _) = w.stack_settling(definition(), Duration::from_millis(300));
    let err = stack.deploy().await.unwrap_err();
    match &err {
        Error::Unsettled { resource, what, .. } => {
            assert_eq!(resource, "example-db-dr-destination-vault");
            assert!(what.contains("to leave the Creating state"), "{what}");
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("R26"), "{err}");
    assert_eq!(err.rule(), Some(Rule::R26));
    assert!(
        w.fake
            .vaults(id(A), &dst())
            .iter()
            .all(|v| v.name == "Default"),
        "no vault was made under a key that cannot encrypt yet"
    );
}
