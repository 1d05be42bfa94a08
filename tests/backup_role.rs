//! The AWS Backup role deployed to the fake IAM: R14 trust, R15 inline policy, teardown order,
//! idempotence, crash recovery, and roles that are not ours.

use snapshift::{
    backup::BackupRole,
    engine::{Stack, WaitConfig},
    error::Error,
    ids::AccountId,
    policy::PolicyDocument,
    resources::{BackupRoleResource, INLINE_POLICY},
    testing::{AwsFault, FakeAws, Fault},
};

const A: &str = "111111111111";

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn role() -> BackupRole {
    BackupRole::builder()
        .account(id(A))
        .source_region("ap-northeast-1".parse().unwrap())
        .destination_region("ap-northeast-3".parse().unwrap())
        .cluster("example-db".parse().unwrap())
        .subnet_group("example-db-subnet-group".parse().unwrap())
        .parameter_group("example-db-cluster-pg".parse().unwrap())
        .source_vault("source-backup-vault".parse().unwrap())
        .destination_vault("destination-backup-vault".parse().unwrap())
        .primary_key(
            "arn:aws:kms:ap-northeast-1:111111111111:key/mrk-0123456789abcdef0123456789abcdef"
                .parse()
                .unwrap(),
        )
        .replica_key(
            "arn:aws:kms:ap-northeast-3:111111111111:key/mrk-0123456789abcdef0123456789abcdef"
                .parse()
                .unwrap(),
        )
        .build()
}

async fn stack(fake: &FakeAws, test: &str) -> Stack {
    let dir = std::env::temp_dir().join(format!(
        "snapshift-backup-role-{test}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let account = fake.account(id(A)).await;
    let mut stack = Stack::new("backup")
        .unwrap()
        .wait(WaitConfig::fast())
        .state_dir(dir);
    stack
        .add(
            "backup-role",
            BackupRoleResource::new(&account, "source-backup-role".parse().unwrap(), &role())
                .unwrap(),
        )
        .unwrap();
    stack
}

// R14, R15: the role trusts backup.amazonaws.com and carries the least-privilege policy;
// a second deploy changes nothing; teardown removes the inline policy, then the role.
#[tokio::test]
async fn r14_r15_role_deploys_idempotently_and_tears_down_policy_first() {
    let fake = FakeAws::start().await;
    let stack = stack(&fake, "flow").await;
    stack.deploy().await.unwrap();
    let roles = fake.roles(id(A));
    assert_eq!(roles.len(), 1);
    let trust = PolicyDocument::from_json(&roles[0].trust_policy).unwrap();
    assert_eq!(trust, role().trust_policy().unwrap());
    let inline = PolicyDocument::from_json(&roles[0].policies[INLINE_POLICY]).unwrap();
    assert_eq!(inline, role().policy().unwrap());

    fake.clear_log();
    stack.deploy().await.unwrap();
    assert_eq!(fake.mutating_calls(), vec![]);

    fake.clear_log();
    stack.teardown().await.unwrap();
    let order: Vec<String> = fake
        .mutating_calls()
        .iter()
        .map(|c| c.operation.clone())
        .collect();
    assert_eq!(order, ["DeleteRolePolicy", "DeleteRole"]);
    assert!(fake.roles(id(A)).is_empty());
}

// R14, R15: a trust policy changed outside snapshift (here: trusting AWS Backup for any
// account, the confused deputy's opening) is reported by refresh and by the preview, and put
// back by deploy with UpdateAssumeRolePolicy, as a changed inline policy is with
// PutRolePolicy; then nothing differs.
#[tokio::test]
async fn r14_r15_drifted_trust_and_inline_policies_are_reported_and_put_back() {
    let fake = FakeAws::start().await;
    let stack = stack(&fake, "drift").await;
    stack.deploy().await.unwrap();
    let iam = snapshift::aws::iam::Iam::new(&fake.account(id(A)).await);
    let open_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.update_assume_role_policy("source-backup-role", open_trust)
        .await
        .unwrap();
    let drift = stack.refresh().await.unwrap();
    assert_eq!(
        drift.resources["backup-role"],
        ["the trust policy of source-backup-role was changed outside snapshift"]
    );
    let plan = stack.preview().await.unwrap();
    assert_eq!(plan.changes[0].action, snapshift::engine::Action::Update);
    assert_eq!(
        plan.changes[0].details,
        ["UpdateAssumeRolePolicy source-backup-role (trusted by backup.amazonaws.com for account 111111111111 only, R14)"]
    );
    iam.put_role_policy(
        "source-backup-role",
        INLINE_POLICY,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"rds:*","Resource":"*"}]}"#,
    )
    .await
    .unwrap();
    assert_eq!(
        stack.refresh().await.unwrap().resources["backup-role"],
        [
            "the trust policy of source-backup-role was changed outside snapshift",
            "the inline policy of source-backup-role was changed outside snapshift"
        ]
    );
    assert_eq!(
        stack.preview().await.unwrap().changes[0].reason,
        "the trust policy and the inline policy differ from the definition"
    );

    fake.clear_log();
    stack.deploy().await.unwrap();
    let calls: Vec<String> = fake
        .mutating_calls()
        .iter()
        .map(|c| c.operation.clone())
        .collect();
    assert_eq!(calls, ["UpdateAssumeRolePolicy", "PutRolePolicy"]);
    let live = &fake.roles(id(A))[0];
    assert_eq!(
        PolicyDocument::from_json(&live.trust_policy).unwrap(),
        role().trust_policy().unwrap()
    );
    assert!(stack.refresh().await.unwrap().resources["backup-role"].is_empty());
    fake.clear_log();
    stack.deploy().await.unwrap();
    assert_eq!(fake.mutating_calls(), vec![]);
}

// IAM refuses to delete a role that still has inline policies (the fake as AWS).
#[tokio::test]
async fn delete_role_is_refused_while_inline_policies_remain() {
    let fake = FakeAws::start().await;
    let stack = stack(&fake, "conflict").await;
    stack.deploy().await.unwrap();
    let iam = snapshift::aws::iam::Iam::new(&fake.account(id(A)).await);
    let err = iam.delete_role("source-backup-role").await.unwrap_err();
    assert_eq!(err.code(), Some("DeleteConflict"));
    assert_eq!(err.status(), Some(409));
}

// A crash right after CreateRole took effect: the re-run adopts the role by its tags.
#[tokio::test]
async fn crash_after_create_role_then_rerun_makes_one_role() {
    let fake = FakeAws::start().await;
    let stack = stack(&fake, "crash").await;
    fake.inject(
        "CreateRole",
        1,
        Fault::ErrorAfterApply(AwsFault::new("InjectedCrash", "crash")),
    );
    stack.deploy().await.unwrap_err();
    stack.deploy().await.unwrap();
    assert_eq!(fake.roles(id(A)).len(), 1);
    assert_eq!(fake.count("CreateRole"), 1);
}

// A role of that name that this stack did not make is refused before any change, and left
// alone.
#[tokio::test]
async fn a_role_that_is_not_ours_is_refused() {
    let fake = FakeAws::start().await;
    let iam = snapshift::aws::iam::Iam::new(&fake.account(id(A)).await);
    iam.create_role(
        "source-backup-role",
        &role().trust_policy().unwrap().to_json(),
        &[],
    )
    .await
    .unwrap();
    let stack = stack(&fake, "not-ours").await;
    fake.clear_log();
    let err = stack.deploy().await.unwrap_err();
    assert!(matches!(err, Error::NotOurs { .. }), "{err}");
    assert_eq!(fake.mutating_calls(), vec![]);
}

// R18: a backup role within one region is refused when the resource is made, before any call.
#[tokio::test]
async fn r18_same_region_role_is_refused_before_any_call() {
    let fake = FakeAws::start().await;
    let account = fake.account(id(A)).await;
    let mut same = role();
    same.destination_region = same.source_region.clone();
    let err = BackupRoleResource::new(&account, "r".parse().unwrap(), &same).unwrap_err();
    assert_eq!(err.rule(), Some(snapshift::rules::Rule::R18), "{err}");
    assert_eq!(fake.calls(), vec![]);
}
