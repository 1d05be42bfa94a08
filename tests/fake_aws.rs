//! FakeAws as a model of AWS: each behaviour the crate relies on, checked through the real SDK.

use snapshift::{
    aws::{
        kms::{Kms, NewKey},
        sts, Account,
    },
    ids::{AccountId, Region},
    key::ShareableKey,
    testing::{Consistency, FakeAws},
};

const A: &str = "111111111111";
const B: &str = "999999999999";

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn region() -> Region {
    "ap-northeast-1".parse().unwrap()
}

fn sdk_kms(account: &Account) -> aws_sdk_kms::Client {
    let config = account
        .sdk_config()
        .to_builder()
        .region(aws_config::Region::new("ap-northeast-1"))
        .build();
    aws_sdk_kms::Client::new(&config)
}

const ROOT_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"}]}"#;

async fn create(
    account: &Account,
    policy: &str,
    multi_region: bool,
) -> snapshift::aws::kms::KeyInfo {
    Kms::new(account, &region())
        .create_key(&NewKey {
            policy,
            description: "test",
            multi_region,
            tags: &[],
        })
        .await
        .unwrap()
}

// R1: the AWS managed key exists on demand, is AWS managed, and its policy keeps it to its
// own account through RDS: another account cannot use it.
#[tokio::test]
async fn r1_aws_managed_key_is_made_on_demand_and_closed_to_other_accounts() {
    let fake = FakeAws::start().await;
    let (a, b) = (fake.account(id(A)).await, fake.account(id(B)).await);
    let managed = Kms::new(&a, &region())
        .describe_key("alias/aws/rds")
        .await
        .unwrap()
        .unwrap();
    assert!(managed.aws_managed);
    let policy = Kms::new(&a, &region())
        .key_policy(managed.arn.key_id())
        .await
        .unwrap();
    assert!(
        policy.contains("kms:ViaService") && policy.contains("kms:CallerAccount"),
        "{policy}"
    );
    let err = Kms::new(&b, &region())
        .describe_key(&managed.arn.to_string())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"), "{err}");
    // The same alias in another account is that account's own key.
    let theirs = Kms::new(&b, &region())
        .describe_key("alias/aws/rds")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(theirs.arn, managed.arn);
}

// R2: another account may use a key only by ARN and only as its policy allows; grants are
// for AWS resources only.
#[tokio::test]
async fn r2_cross_account_use_follows_the_key_policy() {
    let fake = FakeAws::start().await;
    // Not about R26: every change known at once.
    fake.set_consistency(Consistency::strong());
    let (a, b) = (fake.account(id(A)).await, fake.account(id(B)).await);
    let shared_policy = ShareableKey::new()
        .grant_account(id(B))
        .build()
        .unwrap()
        .key_policy(id(A))
        .unwrap()
        .to_json();
    let shared = create(&a, &shared_policy, false).await;
    let private = create(&a, ROOT_ONLY, false).await;
    let b_kms = Kms::new(&b, &region());
    assert!(b_kms
        .describe_key(&shared.arn.to_string())
        .await
        .unwrap()
        .is_some());
    let err = b_kms
        .describe_key(&private.arn.to_string())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    // By bare key id, B looks in its own account.
    assert!(b_kms
        .describe_key(shared.arn.key_id().as_str())
        .await
        .unwrap()
        .is_none());
    // A direct CreateGrant is not for an AWS resource: refused.
    let err = sdk_kms(&b)
        .create_grant()
        .key_id(shared.arn.to_string())
        .grantee_principal(format!("arn:aws:iam::{B}:root"))
        .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
        Some("AccessDeniedException")
    );
    // The owner may.
    let grant = sdk_kms(&a)
        .create_grant()
        .key_id(shared.arn.to_string())
        .grantee_principal(format!("arn:aws:iam::{B}:root"))
        .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
        .send()
        .await
        .unwrap();
    let grants = sdk_kms(&a)
        .list_grants()
        .key_id(shared.arn.key_id().as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(grants.grants()[0].grant_id(), grant.grant_id());
}

#[tokio::test]
async fn reserved_alias_prefix_and_existing_aliases_are_refused() {
    let fake = FakeAws::start().await;
    // Not about R26: every change known at once.
    fake.set_consistency(Consistency::strong());
    let a = fake.account(id(A)).await;
    let key = create(&a, ROOT_ONLY, false).await;
    let client = sdk_kms(&a);
    let err = client
        .create_alias()
        .alias_name("alias/aws/mine")
        .target_key_id(key.arn.key_id().as_str())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
        Some("NotAuthorizedException")
    );
    client
        .create_alias()
        .alias_name("alias/mine")
        .target_key_id(key.arn.key_id().as_str())
        .send()
        .await
        .unwrap();
    let err = client
        .create_alias()
        .alias_name("alias/mine")
        .target_key_id(key.arn.key_id().as_str())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
        Some("AlreadyExistsException")
    );
    let listed = client
        .list_aliases()
        .key_id(key.arn.key_id().as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(listed.aliases().len(), 1);
}

// R23: the waiting period is 7 to 30 days; a second schedule is harmless; cancel undoes it.
#[tokio::test]
async fn r23_deletion_window_and_cancel() {
    let fake = FakeAws::start().await;
    let a = fake.account(id(A)).await;
    let key = create(&a, ROOT_ONLY, false).await;
    let kms = Kms::new(&a, &region());
    for days in [6, 31] {
        let err = kms
            .schedule_key_deletion(key.arn.key_id(), days)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("ValidationException"), "{days}");
        assert_eq!(
            err.message(),
            Some("PendingWindowInDays must be between 7 and 30")
        );
    }
    assert!(kms
        .schedule_key_deletion(key.arn.key_id(), 7)
        .await
        .unwrap());
    assert!(
        !kms.schedule_key_deletion(key.arn.key_id(), 7)
            .await
            .unwrap(),
        "already pending: nothing to do"
    );
    sdk_kms(&a)
        .cancel_key_deletion()
        .key_id(key.arn.key_id().as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(fake.keys(id(A), &region())[0].state, "Disabled");
}

// R12: only a multi-region primary can be replicated, into another region, once.
#[tokio::test]
async fn r12_replicate_key_needs_a_multi_region_primary() {
    let fake = FakeAws::start().await;
    let a = fake.account(id(A)).await;
    let kms = Kms::new(&a, &region());
    let osaka: Region = "ap-northeast-3".parse().unwrap();
    let single = create(&a, ROOT_ONLY, false).await;
    let err = kms
        .replicate_key(single.arn.key_id(), &osaka, ROOT_ONLY, "", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("UnsupportedOperationException"));
    let multi = create(&a, ROOT_ONLY, true).await;
    assert!(multi.arn.key_id().is_multi_region());
    let err = kms
        .replicate_key(multi.arn.key_id(), &region(), ROOT_ONLY, "", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    let replica = kms
        .replicate_key(multi.arn.key_id(), &osaka, ROOT_ONLY, "", &[])
        .await
        .unwrap();
    assert_eq!(replica.arn.region(), &osaka);
    assert_eq!(replica.arn.key_id(), multi.arn.key_id());
    let err = kms
        .replicate_key(multi.arn.key_id(), &osaka, ROOT_ONLY, "", &[])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AlreadyExistsException"));
    // A replica is not a primary: it cannot be replicated further (AWS's code for both).
    let err = Kms::new(&a, &osaka)
        .replicate_key(
            multi.arn.key_id(),
            &"eu-west-1".parse().unwrap(),
            ROOT_ONLY,
            "",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("UnsupportedOperationException"), "{err}");
    assert!(
        err.message()
            .is_some_and(|m| m.contains("is not a multi-Region primary key")),
        "{err}"
    );
}

// R4 as KMS checks it: the principal making CreateKey or PutKeyPolicy must keep
// kms:PutKeyPolicy under the new policy ("BypassPolicyLockoutSafetyCheck" in the API
// reference), not just some principal of the account. The test accounts act as their root;
// `account_as` makes another principal the caller, and STS names it.
#[tokio::test]
async fn r4_kms_checks_the_caller_against_the_new_key_policy() {
    let fake = FakeAws::start().await;
    let root = fake.account(id(A)).await;
    let admin_arn = format!("arn:aws:iam::{A}:role/admin");
    let admin = fake.account_as(id(A), &admin_arn).await;
    let deployer = fake
        .account_as(id(A), &format!("arn:aws:iam::{A}:user/deployer"))
        .await;
    assert_eq!(
        sts::caller_identity(&root, &region()).await.unwrap().arn,
        format!("arn:aws:iam::{A}:root")
    );
    assert_eq!(
        sts::caller_identity(&admin, &region()).await.unwrap().arn,
        admin_arn
    );
    let admin_only = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{admin_arn}"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    fn new_key(policy: &str) -> NewKey<'_> {
        NewKey {
            policy,
            description: "test",
            multi_region: false,
            tags: &[],
        }
    }
    for caller in [&root, &deployer] {
        let err = Kms::new(caller, &region())
            .create_key(&new_key(&admin_only))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("MalformedPolicyDocumentException"));
        assert_eq!(
            err.message(),
            Some("The new key policy will not allow you to update the key policy in the future.")
        );
    }
    let key = Kms::new(&admin, &region())
        .create_key(&new_key(&admin_only))
        .await
        .unwrap();
    // The root statement keeps every principal of the account; the root may not hand the
    // key to the admin alone, the admin may.
    let kms = Kms::new(&root, &region());
    let theirs = kms.create_key(&new_key(ROOT_ONLY)).await.unwrap();
    let err = kms
        .put_key_policy(theirs.arn.key_id(), &admin_only)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("MalformedPolicyDocumentException"));
    Kms::new(&admin, &region())
        .put_key_policy(theirs.arn.key_id(), &admin_only)
        .await
        .unwrap();
    assert_eq!(fake.keys(id(A), &region()).len(), 2, "{key:?}");
}

// R22: tags with the reserved aws: prefix are refused.
#[tokio::test]
async fn r22_reserved_tag_prefix_is_refused() {
    let fake = FakeAws::start().await;
    let a = fake.account(id(A)).await;
    let err = Kms::new(&a, &region())
        .create_key(&NewKey {
            policy: ROOT_ONLY,
            description: "",
            multi_region: false,
            tags: &[("aws:owner".into(), "x".into())],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("TagException"));
}

#[tokio::test]
async fn assumed_roles_act_in_the_role_account() {
    let fake = FakeAws::start().await;
    let a = fake.account(id(A)).await;
    let b = Account::assume_role(
        id(B),
        &a,
        &format!("arn:aws:iam::{B}:role/migration"),
        "snapshift",
    )
    .await;
    let who = sts::caller_identity(&b, &region()).await.unwrap();
    assert_eq!(who.account, id(B));
}

// R28: IAM and STS are global services, but their clients need a region to find their
// endpoint, and a profile may name none. snapshift reaches them through the partition's
// global region (us-east-1 for aws), assumes roles from such an account, and names the
// region of every regional call itself; a regional client made from the configuration as it
// is gets the SDK's clear error, which snapshift never meets.
#[tokio::test]
async fn r28_an_account_without_a_region_reaches_iam_and_sts_through_the_global_region() {
    use snapshift::aws::iam::Iam;
    let fake = FakeAws::start().await;
    let a = fake.account_without_region(id(A)).await;
    assert!(a.sdk_config().region().is_none());
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"backup.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let arn = Iam::new(&a)
        .create_role("backup", trust, &[])
        .await
        .unwrap();
    assert_eq!(arn, format!("arn:aws:iam::{A}:role/backup"));
    assert!(Iam::new(&a).role("backup").await.unwrap().is_some());
    let iam_regions: Vec<String> = fake
        .calls()
        .iter()
        .filter(|c| c.service == "iam")
        .map(|c| c.region.clone())
        .collect();
    assert_eq!(iam_regions, ["us-east-1", "us-east-1"]);

    // A role assumed from it: STS in the global region of the role's partition.
    let b = Account::assume_role(
        id(B),
        &a,
        &format!("arn:aws:iam::{B}:role/migration"),
        "snapshift",
    )
    .await;
    let who = sts::caller_identity(&b, &region()).await.unwrap();
    assert_eq!(who.account, id(B));
    assert_eq!(
        who.arn,
        format!("arn:aws:sts::{B}:assumed-role/migration/snapshift")
    );
    assert!(Iam::new(&b).role("backup").await.unwrap().is_none());
    // Regional calls name their region.
    assert!(Kms::new(&b, &region())
        .describe_key("alias/aws/rds")
        .await
        .unwrap()
        .is_some());
    let assumed: Vec<String> = fake
        .calls()
        .iter()
        .filter(|c| c.operation == "AssumeRole")
        .map(|c| c.region.clone())
        .collect();
    assert_eq!(assumed, ["us-east-1"]);

    // The configuration as it is cannot reach a regional service: the SDK says why.
    let err = aws_sdk_kms::Client::new(a.sdk_config())
        .list_keys()
        .send()
        .await
        .unwrap_err();
    let text = format!("{}", aws_sdk_kms::error::DisplayErrorContext(&err));
    assert!(text.to_ascii_lowercase().contains("region"), "{text}");
}

#[tokio::test]
async fn aws_endpoint_url_from_the_environment_is_honoured() {
    let fake = FakeAws::start().await;
    let key = fake.access_key(id(A));
    // nextest runs each test in its own process, so the environment is this test's own.
    std::env::set_var("AWS_ENDPOINT_URL", fake.uri());
    std::env::set_var("AWS_ACCESS_KEY_ID", key);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "fake-secret");
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let account = Account::from_env(id(A)).await;
    assert_eq!(
        sts::caller_identity(&account, &region())
            .await
            .unwrap()
            .account,
        id(A)
    );
}

#[tokio::test]
async fn unknown_operations_and_credentials_get_clear_errors() {
    let fake = FakeAws::start().await;
    let a = fake.account(id(A)).await;
    let err = sdk_kms(&a)
        .enable_key_rotation()
        .key_id("x")
        .send()
        .await
        .unwrap_err();
    let message = aws_sdk_kms::error::ProvideErrorMetadata::message(&err)
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("FakeAws does not model kms:EnableKeyRotation"),
        "{message}"
    );
    let stranger = Account::from_config(
        id(A),
        fake.sdk_config(id(A))
            .await
            .to_builder()
            .credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(
                aws_sdk_kms::config::Credentials::new("AKIAUNKNOWN", "x", None, None, "test"),
            ))
            .build(),
    );
    let err = sts::caller_identity(&stranger, &region())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidClientTokenId"));
    // Every call is logged with its outcome.
    let calls = fake.calls();
    assert_eq!(
        calls.last().unwrap().error.as_deref(),
        Some("InvalidClientTokenId")
    );
    assert_eq!(calls.last().unwrap().status, 403);
    // KMS names the same problem its own way.
    let err = Kms::new(&stranger, &region())
        .describe_key("alias/aws/rds")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
}

// R26: KMS learns of a change only after a few calls that name the key or alias (the KMS
// developer guide, "AWS KMS eventual consistency"): a new key or alias answers
// NotFoundException, a changed key policy is read as it was, a new replica is Creating for a
// few describes and cannot be used meanwhile. Lists are not affected; strong consistency
// turns it off. Seen here through the raw SDK client, which does not retry any of it.
#[tokio::test]
async fn r26_kms_learns_of_changes_after_a_few_calls() {
    use aws_sdk_kms::error::ProvideErrorMetadata;
    let fake = FakeAws::start().await;
    let a = fake.account(id(A)).await;
    let client = sdk_kms(&a);
    let key = client
        .create_key()
        .policy(ROOT_ONLY)
        .multi_region(true)
        .send()
        .await
        .unwrap();
    let key_id = key.key_metadata().unwrap().key_id().to_owned();
    let listed = client.list_keys().send().await.unwrap();
    assert_eq!(listed.keys().len(), 1, "lists are not affected");
    for _ in 0..2 {
        let err = client
            .describe_key()
            .key_id(&key_id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("NotFoundException"));
        assert!(
            err.message().unwrap().ends_with("does not exist"),
            "{err:?}"
        );
    }
    client.describe_key().key_id(&key_id).send().await.unwrap();

    client
        .create_alias()
        .alias_name("alias/new")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    for _ in 0..2 {
        let err = client
            .describe_key()
            .key_id("alias/new")
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("NotFoundException"));
    }
    client
        .describe_key()
        .key_id("alias/new")
        .send()
        .await
        .unwrap();

    let changed = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"},{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"kms:Decrypt","Resource":"*"}]}"#;
    client
        .put_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .policy(changed)
        .send()
        .await
        .unwrap();
    let read = || async {
        client
            .get_key_policy()
            .key_id(&key_id)
            .policy_name("default")
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap()
            .to_owned()
    };
    assert_eq!(read().await, ROOT_ONLY);
    assert_eq!(read().await, ROOT_ONLY);
    assert_eq!(read().await, changed);

    // A replica is Creating for two describes, and cannot be used meanwhile.
    let osaka = {
        let config = a
            .sdk_config()
            .to_builder()
            .region(aws_config::Region::new("ap-northeast-3"))
            .build();
        aws_sdk_kms::Client::new(&config)
    };
    let replica = client
        .replicate_key()
        .key_id(&key_id)
        .replica_region("ap-northeast-3")
        .policy(ROOT_ONLY)
        .send()
        .await
        .unwrap();
    let replica_arn = replica
        .replica_key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    assert_eq!(
        replica.replica_key_metadata().unwrap().key_state(),
        Some(&aws_sdk_kms::types::KeyState::Creating)
    );
    let err = osaka
        .create_grant()
        .key_id(&replica_arn)
        .grantee_principal(format!("arn:aws:iam::{A}:root"))
        .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("KMSInvalidStateException"));
    let state = || async {
        osaka
            .describe_key()
            .key_id(&replica_arn)
            .send()
            .await
            .unwrap()
            .key_metadata()
            .unwrap()
            .key_state()
            .cloned()
    };
    use aws_sdk_kms::types::KeyState;
    assert_eq!(state().await, Some(KeyState::Creating));
    assert_eq!(state().await, Some(KeyState::Creating));
    assert_eq!(state().await, Some(KeyState::Enabled));
    assert_eq!(fake.unsettled_answers(), 4 + 2 + 2);

    // Strong consistency: known at once.
    fake.set_consistency(Consistency::strong());
    let key = client.create_key().policy(ROOT_ONLY).send().await.unwrap();
    client
        .describe_key()
        .key_id(key.key_metadata().unwrap().key_id())
        .send()
        .await
        .unwrap();
}
