//! The engine and the shareable key resource against the fake AWS: deploy, idempotence,
//! teardown, crash recovery at every step, throttling, identity and locking.

use std::{path::PathBuf, time::Duration};

use async_trait::async_trait;
use snapshift::{
    aws::Account,
    engine::{Action, Change, Context, Options, Resource, Stack, WaitConfig},
    error::Error,
    ids::{AccountId, Region},
    key::ShareableKey,
    policy::PolicyDocument,
    resources::KeyResource,
    testing::{AwsFault, Consistency, FakeAws, Fault},
};

const OWNER: &str = "111111111111";
const TARGET: &str = "999999999999";

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn region(s: &str) -> Region {
    s.parse().unwrap()
}

fn state_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("snapshift-it-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn share_key() -> ShareableKey {
    ShareableKey::new()
        .alias("snapshot-share")
        .admin(format!("arn:aws:iam::{OWNER}:role/admin").parse().unwrap())
        .grant_account(id(TARGET))
        .deletion_window_days(7)
        .build()
        .unwrap()
}

struct Setup {
    fake: FakeAws,
    account: Account,
    dir: PathBuf,
}

async fn setup(test: &str) -> Setup {
    let fake = FakeAws::start().await;
    let account = fake.account(id(OWNER)).await;
    Setup {
        fake,
        account,
        dir: state_dir(test),
    }
}

impl Setup {
    fn stack(&self, key: ShareableKey) -> (Stack, snapshift::engine::Handle<KeyResource>) {
        let mut stack = Stack::new("demo")
            .unwrap()
            .wait(WaitConfig::fast())
            .state_dir(&self.dir);
        let handle = stack
            .add(
                "share-key",
                KeyResource::new(&self.account, region("us-east-1"), key).unwrap(),
            )
            .unwrap();
        (stack, handle)
    }

    fn keys(&self, r: &str) -> Vec<snapshift::testing::FakeKey> {
        self.fake.keys(id(OWNER), &region(r))
    }
}

#[tokio::test]
async fn deploy_writes_state_and_a_second_deploy_changes_nothing() {
    let s = setup("idempotent").await;
    let (stack, key) = s.stack(share_key());
    let plan = stack.preview().await.unwrap();
    assert_eq!(plan.changes[0].action, Action::Create);
    assert!(plan.render().contains("+ create"), "{}", plan.render());
    stack.deploy().await.unwrap();
    assert!(stack.state_path().exists());
    let outputs = stack.outputs(&key).unwrap().unwrap();
    assert_eq!(outputs.alias.unwrap().as_str(), "alias/snapshot-share");
    assert_eq!(s.keys("us-east-1").len(), 1);
    assert_eq!(
        s.fake.aliases(id(OWNER), &region("us-east-1"))["alias/snapshot-share"],
        outputs.key_id.as_str()
    );
    // The key carries the R2 policy snapshift wrote.
    let live: PolicyDocument = PolicyDocument::from_json(&s.keys("us-east-1")[0].policy).unwrap();
    assert!(ShareableKey::policy_grants(
        &live,
        id(TARGET),
        &region("us-east-1")
    ));

    s.fake.clear_log();
    stack.deploy().await.unwrap();
    assert_eq!(
        s.fake.mutating_calls(),
        vec![],
        "a second deploy must not change anything"
    );
    assert_eq!(
        stack.preview().await.unwrap().changes[0].action,
        Action::Unchanged
    );
}

// R8, R23: teardown deletes the alias and schedules the key's deletion with the chosen window.
#[tokio::test]
async fn r23_teardown_schedules_deletion_with_the_window_and_empties_the_state() {
    let s = setup("teardown").await;
    let (stack, _) = s.stack(share_key());
    stack.deploy().await.unwrap();
    let plan = stack.preview_teardown().await.unwrap();
    assert_eq!(plan.changes[0].action, Action::Delete);
    let report = stack.teardown().await.unwrap();
    let keys = s.keys("us-east-1");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].state, "PendingDeletion");
    assert_eq!(keys[0].pending_window_days, Some(7));
    // The AWS managed aliases AWS makes on first use (the Default backup vault's) aside.
    let aliases = s.fake.aliases(id(OWNER), &region("us-east-1"));
    assert!(
        aliases.keys().all(|a| a.starts_with("alias/aws/")),
        "{aliases:?}"
    );
    assert_eq!(report.removed.len(), 2, "{report:?}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(stack.state_path()).unwrap()).unwrap();
    assert_eq!(state["resources"], serde_json::json!({}));
    // Teardown again: nothing to do, nothing called that changes anything.
    s.fake.clear_log();
    assert_eq!(stack.teardown().await.unwrap().removed, vec![]);
    assert_eq!(s.fake.mutating_calls(), vec![]);
}

// A crash after CreateKey and before CreateAlias, then a re-run: exactly one key.
#[tokio::test]
async fn crash_between_create_key_and_create_alias_then_rerun_makes_one_key() {
    let s = setup("crash-alias").await;
    let (stack, _) = s.stack(share_key());
    s.fake
        .inject("CreateAlias", 1, Fault::crash("InjectedCrash"));
    let err = stack.deploy().await.unwrap_err();
    assert_eq!(
        err.aws().and_then(|e| e.code()),
        Some("InjectedCrash"),
        "{err}"
    );
    assert_eq!(s.keys("us-east-1").len(), 1);
    stack.deploy().await.unwrap();
    assert_eq!(s.keys("us-east-1").len(), 1);
    assert_eq!(s.fake.aliases(id(OWNER), &region("us-east-1")).len(), 1);
}

// A CreateKey that took effect but whose answer was lost: the re-run finds the key by its
// token tag instead of making a second one.
#[tokio::test]
async fn lost_create_key_answer_is_recovered_by_tag() {
    let s = setup("lost-answer").await;
    let (stack, key) = s.stack(share_key());
    s.fake.inject(
        "CreateKey",
        1,
        Fault::ErrorAfterApply(AwsFault::new("InjectedCrash", "answer lost")),
    );
    stack.deploy().await.unwrap_err();
    assert_eq!(s.keys("us-east-1").len(), 1, "the call took effect");
    stack.deploy().await.unwrap();
    let keys = s.keys("us-east-1");
    assert_eq!(keys.len(), 1, "no second key");
    assert_eq!(
        stack.outputs(&key).unwrap().unwrap().key_id.as_str(),
        keys[0].id
    );
    assert_eq!(s.fake.count("CreateKey"), 1);
}

// R12, R23: a fault at every step boundary of a multi-region key, then a re-run: one primary,
// one replica, one alias, every time; teardown schedules the replica before the primary.
#[tokio::test]
async fn r12_r23_fault_at_every_step_then_rerun_completes_without_duplicates() {
    let steps = ["CreateKey", "CreateAlias", "ReplicateKey", "PutKeyPolicy"];
    for (i, step) in steps.iter().enumerate() {
        let s = setup(&format!("every-step-{i}")).await;
        let key = ShareableKey::new()
            .alias("backup-copies")
            .multi_region(true)
            .replica_region(region("ap-northeast-3"))
            .build()
            .unwrap();
        let mut stack = Stack::new("demo")
            .unwrap()
            .wait(WaitConfig::fast())
            .state_dir(&s.dir);
        stack
            .add(
                "key",
                KeyResource::new(&s.account, region("ap-northeast-1"), key).unwrap(),
            )
            .unwrap();
        if *step == "PutKeyPolicy" {
            // A policy changed outside snapshift is put back; crash on the way.
            stack.deploy().await.unwrap();
            let key_id = s.keys("ap-northeast-1")[0].id.parse().unwrap();
            let kms = snapshift::aws::kms::Kms::new(&s.account, &region("ap-northeast-1"));
            let other = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"kms:Decrypt","Resource":"*"}]}"#;
            // A change made long enough ago that KMS knows it (R26 is not the subject).
            s.fake.set_consistency(Consistency::strong());
            kms.put_key_policy(&key_id, other).await.unwrap();
            s.fake.set_consistency(Consistency::default());
            let drift = stack.refresh().await.unwrap();
            assert_eq!(
                drift.resources["key"],
                ["the key policy was changed outside snapshift"]
            );
            assert_eq!(
                stack.preview().await.unwrap().changes[0].action,
                Action::Update
            );
            s.fake
                .inject("PutKeyPolicy", 1, Fault::crash("InjectedCrash"));
        } else {
            s.fake.inject(
                step,
                1,
                Fault::ErrorAfterApply(AwsFault::new("InjectedCrash", "crash")),
            );
        }
        assert!(
            stack.deploy().await.is_err(),
            "{step}: the injected fault must surface"
        );
        stack
            .deploy()
            .await
            .unwrap_or_else(|e| panic!("{step}: re-run failed: {e}"));
        assert_eq!(s.keys("ap-northeast-1").len(), 1, "{step}: one primary");
        assert_eq!(s.keys("ap-northeast-3").len(), 1, "{step}: one replica");
        assert_eq!(
            s.fake.aliases(id(OWNER), &region("ap-northeast-1")).len(),
            1,
            "{step}: one alias"
        );
        assert!(
            !stack.refresh().await.unwrap().has_drift(),
            "{step}: in sync after the re-run"
        );

        s.fake.clear_log();
        stack.teardown().await.unwrap();
        let order: Vec<String> = s
            .fake
            .calls()
            .iter()
            .filter(|c| c.operation == "ScheduleKeyDeletion")
            .map(|c| c.region.clone())
            .collect();
        assert_eq!(
            order,
            ["ap-northeast-3", "ap-northeast-1"],
            "{step}: replica first (R23)"
        );
        assert_eq!(
            s.keys("ap-northeast-1")[0].state,
            "PendingReplicaDeletion",
            "{step}"
        );
        assert_eq!(
            s.keys("ap-northeast-3")[0].state,
            "PendingDeletion",
            "{step}"
        );
    }
}

// R4: a policy that would lock the account out is refused before any call.
#[tokio::test]
async fn r4_lockout_policy_is_refused_before_any_call() {
    let s = setup("lockout").await;
    let lockout = PolicyDocument::from_json(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"*"}]}"#,
    )
    .unwrap();
    let err = KeyResource::with_policy(&s.account, region("us-east-1"), share_key(), lockout)
        .unwrap_err();
    assert_eq!(err.rule(), Some(snapshift::rules::Rule::R4), "{err}");
    assert_eq!(s.fake.calls(), vec![]);
}

// R2: a key policy of your own that gives another account (or everyone) kms:* or key
// administration is refused before any call, naming the statement, the action and the
// principal; the same account's administrators, and use by the other account, are fine.
#[tokio::test]
async fn r2_key_administration_for_another_account_is_refused_before_any_call() {
    let s = setup("foreign-admin").await;
    let with = |extra: &str| {
        let policy = PolicyDocument::from_json(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OWNER}:root"}},"Action":"kms:*","Resource":"*"}},{extra}]}}"#
        ))
        .unwrap();
        KeyResource::with_policy(&s.account, region("us-east-1"), share_key(), policy)
    };
    let err = with(&format!(
        r#"{{"Sid":"Partner","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{TARGET}:root"}},"Action":"kms:*","Resource":"*"}}"#
    ))
    .unwrap_err();
    assert_eq!(err.rule(), Some(snapshift::rules::Rule::R2), "{err}");
    assert_eq!(
        err.to_string(),
        "kms-key: statement \"Partner\" allows kms:* (key administration: it covers kms:PutKeyPolicy) to arn:aws:iam::999999999999:root, outside account 111111111111, which owns the key (R2); another account may only use the key: give it the cryptographic actions, and keep administration to principals of 111111111111"
    );
    let err = with(
        r#"{"Effect":"Allow","Principal":"*","Action":["kms:Decrypt","kms:ScheduleKeyDeletion"],"Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc"}}}"#,
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "kms-key: statement #2 allows kms:ScheduleKeyDeletion (key administration: it covers kms:ScheduleKeyDeletion) to *, outside account 111111111111"
        ),
        "{err}"
    );
    assert!(with(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OWNER}:role/admin"}},"Action":"kms:Put*","Resource":"*"}},{{"Effect":"Allow","Principal":{{"AWS":"{TARGET}"}},"Action":["kms:Decrypt","kms:DescribeKey","kms:CreateGrant"],"Resource":"*"}}"#
    ))
    .is_ok());
    assert_eq!(s.fake.calls(), vec![]);
}

// R4: and KMS itself (the fake, as AWS) refuses it with its own error, should one get through.
#[tokio::test]
async fn r4_kms_refuses_a_lockout_policy_with_its_own_error() {
    let s = setup("lockout-kms").await;
    let kms = snapshift::aws::kms::Kms::new(&s.account, &region("us-east-1"));
    let err = kms
        .create_key(&snapshift::aws::kms::NewKey {
            policy: r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Decrypt","Resource":"*"}]}"#,
            description: "",
            multi_region: false,
            tags: &[],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("MalformedPolicyDocumentException"));
    assert_eq!(
        err.message(),
        Some("The new key policy will not allow you to update the key policy in the future.")
    );
    assert!(
        err.request_id().is_some_and(|id| id.starts_with("fake-")),
        "{err:?}"
    );
}

// R4 as KMS checks it: a policy of your own that keeps only a named administrator able to
// change it passes the account-wide check, but KMS refuses it from any other caller. The
// preflight asks STS who deploys and stops before any change, naming the caller; deployed as
// that administrator, it goes through.
#[tokio::test]
async fn r4_a_policy_that_locks_out_the_deploying_principal_is_refused_before_any_change() {
    let s = setup("lockout-caller").await;
    let admin_arn = format!("arn:aws:iam::{OWNER}:role/admin");
    let policy = PolicyDocument::from_json(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Admin","Effect":"Allow","Principal":{{"AWS":"{admin_arn}"}},"Action":"kms:*","Resource":"*"}}]}}"#
    ))
    .unwrap();
    let stack_as = |account: &Account| {
        let mut stack = Stack::new("demo")
            .unwrap()
            .wait(WaitConfig::fast())
            .state_dir(&s.dir);
        stack
            .add(
                "share-key",
                KeyResource::with_policy(account, region("us-east-1"), share_key(), policy.clone())
                    .unwrap(),
            )
            .unwrap();
        stack
    };
    let err = stack_as(&s.account).deploy().await.unwrap_err();
    assert_eq!(err.rule(), Some(snapshift::rules::Rule::R4), "{err}");
    assert!(
        err.to_string().contains(&format!(
            "would lock out its caller arn:aws:iam::{OWNER}:root"
        )),
        "{err}"
    );
    assert_eq!(s.fake.mutating_calls(), vec![]);
    let admin = s.fake.account_as(id(OWNER), &admin_arn).await;
    stack_as(&admin).deploy().await.unwrap();
    assert_eq!(s.keys("us-east-1").len(), 1);
}

// R20: throttling and HTTP 500 are retried by the SDK, and a stalled answer times out and is
// retried.
#[tokio::test]
async fn r20_throttling_errors_and_stalls_are_retried() {
    let s = setup("retries").await;
    let (stack, _) = s.stack(share_key());
    s.fake.inject("CreateKey", 1, Fault::throttling());
    s.fake.inject("CreateAlias", 1, Fault::internal_error());
    s.fake
        .inject("GetKeyPolicy", 1, Fault::Delay(Duration::from_secs(3)));
    stack.deploy().await.unwrap();
    assert_eq!(s.keys("us-east-1").len(), 1);
    assert_eq!(s.fake.count("CreateKey"), 2, "throttled once, then retried");
    assert_eq!(s.fake.count("CreateAlias"), 2, "500 once, then retried");
    assert!(
        s.fake.count("GetKeyPolicy") >= 2,
        "timed out once, then retried"
    );
}

#[tokio::test]
async fn credentials_of_the_wrong_account_are_refused_before_any_change() {
    let s = setup("wrong-account").await;
    let account = s
        .fake
        .account_with_credentials_of(id(OWNER), id("222222222222"))
        .await;
    let mut stack = Stack::new("demo")
        .unwrap()
        .wait(WaitConfig::fast())
        .state_dir(&s.dir);
    stack
        .add(
            "share-key",
            KeyResource::new(&account, region("us-east-1"), share_key()).unwrap(),
        )
        .unwrap();
    let err = stack.deploy().await.unwrap_err();
    assert!(matches!(err, Error::WrongAccount { .. }), "{err}");
    assert!(
        err.to_string().contains("belong to account 222222222222"),
        "{err}"
    );
    assert_eq!(s.fake.mutating_calls(), vec![]);
    assert!(stack.teardown().await.is_err());
}

#[tokio::test]
async fn two_concurrent_deploys_of_one_stack_one_wins_the_other_gets_the_lock_error() {
    let s = setup("concurrent").await;
    let (first, _) = s.stack(share_key());
    let (second, _) = s.stack(share_key());
    // Slow the first deploy down so that the two overlap.
    s.fake.inject(
        "GetCallerIdentity",
        1,
        Fault::Delay(Duration::from_millis(800)),
    );
    let (a, b) = tokio::join!(first.deploy(), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        second.deploy().await
    });
    a.unwrap();
    let err = b.unwrap_err();
    assert!(
        matches!(
            err,
            Error::State(snapshift::engine::state::StateError::Locked { .. })
        ),
        "{err}"
    );
    assert!(err.to_string().contains("is locked by process"), "{err}");
    assert_eq!(s.keys("us-east-1").len(), 1);
}

#[tokio::test]
async fn a_corrupt_state_file_is_refused_and_left_as_it_was() {
    let s = setup("corrupt").await;
    let (stack, _) = s.stack(share_key());
    std::fs::create_dir_all(&s.dir).unwrap();
    std::fs::write(
        stack.state_path(),
        "{\"version\": 1, \"stack\": \"demo\", \"resour",
    )
    .unwrap();
    let err = stack.deploy().await.unwrap_err();
    assert!(err.to_string().contains("is not valid"), "{err}");
    assert_eq!(
        std::fs::read_to_string(stack.state_path()).unwrap(),
        "{\"version\": 1, \"stack\": \"demo\", \"resour"
    );
    assert_eq!(s.fake.mutating_calls(), vec![]);
}

#[tokio::test]
async fn an_alias_that_names_another_key_is_not_taken_over() {
    let s = setup("not-ours").await;
    let kms = snapshift::aws::kms::Kms::new(&s.account, &region("us-east-1"));
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let theirs = kms
        .create_key(&snapshift::aws::kms::NewKey {
            policy,
            description: "someone else's",
            multi_region: false,
            tags: &[],
        })
        .await
        .unwrap();
    kms.create_alias(
        &"alias/snapshot-share".parse().unwrap(),
        theirs.arn.key_id(),
    )
    .await
    .unwrap();
    let (stack, _) = s.stack(share_key());
    let err = stack.deploy().await.unwrap_err();
    assert!(matches!(err, Error::NotOurs { .. }), "{err}");
    assert_eq!(
        s.fake.aliases(id(OWNER), &region("us-east-1"))["alias/snapshot-share"],
        theirs.arn.key_id().as_str()
    );
    // Teardown removes only what the stack made: its own key, not the alias or the other key.
    stack.teardown().await.unwrap();
    let keys = s.keys("us-east-1");
    let theirs_now = keys
        .iter()
        .find(|k| k.id == theirs.arn.key_id().as_str())
        .unwrap();
    assert_eq!(theirs_now.state, "Enabled");
    let aliases = s.fake.aliases(id(OWNER), &region("us-east-1"));
    assert_eq!(
        aliases
            .keys()
            .filter(|a| !a.starts_with("alias/aws/"))
            .count(),
        1,
        "{aliases:?}"
    );
}

/// A resource that depends on the key and, retained, says it still needs it.
struct NeedsKey {
    account: Account,
    region: Region,
}

#[async_trait]
impl Resource for NeedsKey {
    type Outputs = ();
    fn kind(&self) -> &'static str {
        "test-dependent"
    }
    fn account(&self) -> &Account {
        &self.account
    }
    fn region(&self) -> &Region {
        &self.region
    }
    async fn plan(&self, ctx: &Context) -> snapshift::error::Result<Change> {
        Ok(Change::new(
            ctx.name(),
            "test-dependent",
            Action::Create,
            "test",
        ))
    }
    async fn deploy(&self, _ctx: &Context) -> snapshift::error::Result<()> {
        Ok(())
    }
    async fn plan_teardown(&self, ctx: &Context) -> snapshift::error::Result<Change> {
        Ok(Change::new(
            ctx.name(),
            "test-dependent",
            Action::Delete,
            "test",
        ))
    }
    async fn teardown(&self, _ctx: &Context) -> snapshift::error::Result<Vec<String>> {
        Ok(vec![])
    }
    async fn refresh(&self, _ctx: &Context) -> snapshift::error::Result<Vec<String>> {
        Ok(vec![])
    }
}

// R8: the key is not scheduled for deletion while a resource of the stack still needs it.
#[tokio::test]
async fn r8_teardown_refuses_to_delete_a_key_something_still_needs() {
    let s = setup("r8").await;
    let mut stack = Stack::new("demo")
        .unwrap()
        .wait(WaitConfig::fast())
        .state_dir(&s.dir);
    let key = stack
        .add(
            "share-key",
            KeyResource::new(&s.account, region("us-east-1"), share_key()).unwrap(),
        )
        .unwrap();
    stack
        .add_with(
            "copy",
            NeedsKey {
                account: s.account.clone(),
                region: region("us-east-1"),
            },
            Options::new().depends_on(&key).retain(),
        )
        .unwrap();
    stack.deploy().await.unwrap();
    let err = stack.teardown().await.unwrap_err();
    assert_eq!(err.rule(), Some(snapshift::rules::Rule::R8), "{err}");
    assert!(
        err.to_string().contains("copy still depends on it"),
        "{err}"
    );
    assert_eq!(
        s.keys("us-east-1")[0].state,
        "Enabled",
        "the key must not be scheduled for deletion"
    );
}

// The deploy plan and JSON say what would happen.
#[tokio::test]
async fn preview_renders_a_table_and_json() {
    let s = setup("preview").await;
    let (stack, _) = s.stack(share_key());
    let plan = stack.preview().await.unwrap();
    let table = plan.render();
    assert!(
        table.contains("share-key  kms-key  R2: customer managed key granted to 999999999999"),
        "{table}"
    );
    assert!(
        table.contains("CreateAlias alias/snapshot-share"),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
    assert_eq!(json["changes"][0]["action"], "create");
    assert_eq!(s.fake.mutating_calls(), vec![], "preview changes nothing");
}

// A crash right after CreateKey took effect, then a teardown (not a re-deploy): the key is
// found by its token and scheduled for deletion, not orphaned.
#[tokio::test]
async fn teardown_after_a_lost_create_key_answer_finds_the_key() {
    let s = setup("teardown-after-crash").await;
    let (stack, _) = s.stack(share_key());
    s.fake.inject(
        "CreateKey",
        1,
        Fault::ErrorAfterApply(AwsFault::new("InjectedCrash", "answer lost")),
    );
    stack.deploy().await.unwrap_err();
    stack.teardown().await.unwrap();
    let keys = s.keys("us-east-1");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].state, "PendingDeletion", "no orphan key");
}

// The SDK retries a CreateKey whose first attempt took effect (its answer came too late):
// two keys exist; deploy keeps one and schedules the other, which is its own.
#[tokio::test]
async fn an_sdk_retry_that_made_a_second_key_is_cleaned_up() {
    let s = setup("sdk-retry").await;
    let (stack, key) = s.stack(share_key());
    s.fake
        .inject("CreateKey", 1, Fault::Delay(Duration::from_secs(3)));
    stack.deploy().await.unwrap();
    let keys = s.keys("us-east-1");
    assert_eq!(
        s.fake.count("CreateKey"),
        2,
        "the SDK retried after the attempt timeout"
    );
    assert_eq!(keys.len(), 2);
    let enabled: Vec<_> = keys.iter().filter(|k| k.state == "Enabled").collect();
    assert_eq!(enabled.len(), 1, "{keys:?}");
    assert_eq!(
        stack.outputs(&key).unwrap().unwrap().key_id.as_str(),
        enabled[0].id
    );
}

// R8, nothing lost: a state record without a definition stops teardown before any change.
#[tokio::test]
async fn r8_teardown_refuses_records_it_has_no_definition_for() {
    let s = setup("orphan-record").await;
    let (stack, _) = s.stack(share_key());
    stack.deploy().await.unwrap();
    let mut other = Stack::new("demo")
        .unwrap()
        .wait(WaitConfig::fast())
        .state_dir(&s.dir);
    other
        .add(
            "other-key",
            KeyResource::new(&s.account, region("us-east-1"), share_key()).unwrap(),
        )
        .unwrap();
    s.fake.clear_log();
    let err = other.teardown().await.unwrap_err();
    assert!(err.to_string().contains("`share-key`"), "{err}");
    assert_eq!(s.fake.mutating_calls(), vec![]);
    assert_eq!(s.keys("us-east-1")[0].state, "Enabled");
}

// A resource whose definition moved to another region is not recreated there, nor is its
// old key orphaned: both deploy and teardown stop and say so.
#[tokio::test]
async fn a_moved_resource_is_refused_not_duplicated() {
    let s = setup("moved").await;
    let (stack, _) = s.stack(share_key());
    stack.deploy().await.unwrap();
    let mut moved = Stack::new("demo")
        .unwrap()
        .wait(WaitConfig::fast())
        .state_dir(&s.dir);
    moved
        .add(
            "share-key",
            KeyResource::new(&s.account, region("us-west-2"), share_key()).unwrap(),
        )
        .unwrap();
    for result in [
        moved.deploy().await.map(drop),
        moved.teardown().await.map(drop),
    ] {
        let err = result.unwrap_err();
        assert!(
            err.to_string()
                .contains("the state records it as kms-key in 111111111111 us-east-1"),
            "{err}"
        );
    }
    assert!(s.keys("us-west-2").is_empty());
    assert_eq!(s.keys("us-east-1")[0].state, "Enabled");
}

// Nothing lost: an alias pointed elsewhere since deploy is left alone at teardown.
#[tokio::test]
async fn teardown_leaves_an_alias_that_now_names_another_key() {
    let s = setup("alias-moved").await;
    let (stack, _) = s.stack(share_key());
    stack.deploy().await.unwrap();
    let kms = snapshift::aws::kms::Kms::new(&s.account, &region("us-east-1"));
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"}]}"#;
    let theirs = kms
        .create_key(&snapshift::aws::kms::NewKey {
            policy,
            description: "",
            multi_region: false,
            tags: &[],
        })
        .await
        .unwrap();
    let alias: snapshift::ids::AliasName = "alias/snapshot-share".parse().unwrap();
    kms.delete_alias(&alias).await.unwrap();
    kms.create_alias(&alias, theirs.arn.key_id()).await.unwrap();
    stack.teardown().await.unwrap();
    assert_eq!(
        s.fake.aliases(id(OWNER), &region("us-east-1"))["alias/snapshot-share"],
        theirs.arn.key_id().as_str()
    );
}

// R26: right after CreateKey, KMS may not know the key, its alias or its replica yet
// (NotFoundException for the next calls that name them). One deploy goes through: the calls
// that name what it just made are made again, and only those; a second deploy changes
// nothing, and a teardown right after finds everything to remove.
#[tokio::test]
async fn r26_a_new_key_its_alias_and_replica_are_used_in_one_deploy() {
    let s = setup("settle").await;
    s.fake.set_consistency(Consistency::default());
    let key = ShareableKey::new()
        .alias("backup-copies")
        .multi_region(true)
        .replica_region(region("ap-northeast-3"))
        .build()
        .unwrap();
    let mut stack = Stack::new("demo")
        .unwrap()
        .wait(WaitConfig::fast())
        .state_dir(&s.dir);
    stack
        .add(
            "key",
            KeyResource::new(&s.account, region("ap-northeast-1"), key).unwrap(),
        )
        .unwrap();
    stack.deploy().await.unwrap();
    assert!(s.fake.unsettled_answers() > 0);
    assert_eq!(s.account.settle_retries(), s.fake.unsettled_answers());
    assert_eq!(s.fake.count("CreateKey"), 1);
    s.fake.clear_log();
    stack.deploy().await.unwrap();
    assert_eq!(s.fake.mutating_calls(), vec![]);
    stack.teardown().await.unwrap();
    assert!(!s
        .fake
        .aliases(id(OWNER), &region("ap-northeast-1"))
        .contains_key("alias/backup-copies"));
    for r in ["ap-northeast-1", "ap-northeast-3"] {
        assert!(
            s.keys(r).iter().all(|k| k.state.starts_with("Pending")),
            "{r}: {:?}",
            s.keys(r)
        );
    }
}

// R26: the retries are bounded: when KMS still does not know a new key at the end of the
// settling window, the deploy stops with AWS's error and says what it waited for. An error
// about something this account did not just change is not retried at all.
#[tokio::test]
async fn r26_a_key_kms_never_learns_of_fails_after_the_window_saying_what_was_waited_for() {
    let s = setup("settle-window").await;
    s.fake.set_consistency(Consistency {
        kms_calls: 10_000,
        ..Consistency::default()
    });
    let (stack, _) = s.stack(share_key());
    let stack = stack.wait(WaitConfig {
        consistency_window: Duration::from_millis(300),
        ..WaitConfig::fast()
    });
    let started = std::time::Instant::now();
    let err = stack.deploy().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "bounded");
    let aws = err.aws().unwrap();
    assert_eq!(aws.code(), Some("NotFoundException"), "{err}");
    let waited = aws.waited_for().unwrap();
    assert!(
        waited.contains("key arn:aws:kms:us-east-1:111111111111:key/")
            && waited.contains("was created")
            && waited.contains("R26"),
        "{waited}"
    );
    assert!(err.to_string().contains(waited), "{err}");

    // Not changed by this account: answered at once.
    s.fake.clear_log();
    let none = snapshift::aws::kms::Kms::new(&s.account, &region("us-east-1"))
        .describe_key("00000000-0000-4000-8000-000000000000")
        .await
        .unwrap();
    assert!(none.is_none());
    assert_eq!(s.fake.count("DescribeKey"), 1);
}

// R26: waiting is only for right after a change: once the settling window has passed, an
// alias deleted outside snapshift reads as gone at once, and refresh says so.
#[tokio::test]
async fn r26_after_the_window_not_found_means_gone() {
    let s = setup("settle-after").await;
    let (stack, _) = s.stack(share_key());
    let stack = stack.wait(WaitConfig {
        consistency_window: Duration::from_millis(100),
        ..WaitConfig::fast()
    });
    // KMS knows every change at once here: what matters is that snapshift made the alias.
    s.fake.set_consistency(Consistency::strong());
    stack.deploy().await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Someone else, with their own session, deletes the alias.
    let other = s.fake.account(id(OWNER)).await;
    assert!(snapshift::aws::kms::Kms::new(&other, &region("us-east-1"))
        .delete_alias(&"alias/snapshot-share".parse().unwrap())
        .await
        .unwrap());
    s.fake.clear_log();
    let drift = stack.refresh().await.unwrap();
    assert_eq!(
        drift.resources["share-key"],
        ["alias alias/snapshot-share no longer exists"]
    );
    assert_eq!(s.fake.count("DescribeKey"), 2, "no call made again");
}
