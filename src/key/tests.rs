//! The shareable key's policy against the field report's, and the builder's checks.

use expect_test::expect;
use serde_json::Value;

use super::*;
use crate::policy::action_matches;

fn account(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn seed_policy() -> Value {
    serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seeds/000-shareable-key-policy.json"
    )))
    .unwrap()
}

// R2: the policy equals the one of seeds/000, made by hand in the console.
#[test]
fn r2_cross_account_policy_equals_the_field_report() {
    let key = ShareableKey::new()
        .admin(
            "arn:aws:iam::111111111111:role/cm-ohmura.yasutaka"
                .parse()
                .unwrap(),
        )
        .admin("arn:aws:iam::111111111111:role/hogehoge".parse().unwrap())
        .grant_account(account("999999999999"))
        .build()
        .unwrap();
    let policy = key.key_policy(account("111111111111")).unwrap();
    assert_eq!(serde_json::to_value(&policy).unwrap(), seed_policy());
}

// R2: administrators manage, granted accounts use, grants only for AWS resources.
#[test]
fn r2_statements_split_administration_from_use() {
    let key = ShareableKey::new()
        .admin("arn:aws:iam::111111111111:role/admin".parse().unwrap())
        .grant_account(account("999999999999"))
        .grant_account(account("222222222222"))
        .build()
        .unwrap();
    let policy = key.key_policy(account("111111111111")).unwrap();
    let by_sid = |sid: &str| {
        policy
            .statements()
            .iter()
            .find(|s| s.sid.as_deref() == Some(sid))
            .unwrap()
    };
    let admin = by_sid(sid::ADMINS);
    for crypto in [
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:ReEncryptFrom",
        "kms:GenerateDataKey",
    ] {
        assert!(
            !admin
                .action
                .as_ref()
                .unwrap()
                .iter()
                .any(|a| action_matches(a, crypto)),
            "admins must not get {crypto}"
        );
    }
    assert!(admin
        .action
        .as_ref()
        .unwrap()
        .iter()
        .any(|a| action_matches(a, "kms:PutKeyPolicy")));
    let grants = by_sid(sid::GRANTS);
    assert_eq!(
        serde_json::to_value(&grants.condition).unwrap(),
        serde_json::json!({"Bool": {"kms:GrantIsForAWSResource": "true"}})
    );
    assert_eq!(
        by_sid(sid::USE).principal.as_ref().unwrap().aws_values(),
        [
            "arn:aws:iam::222222222222:root",
            "arn:aws:iam::999999999999:root"
        ]
    );
    assert!(ShareableKey::policy_grants(
        &policy,
        account("999999999999")
    ));
    assert!(!ShareableKey::policy_grants(
        &policy,
        account("333333333333")
    ));
}

// R2: with no granted account the policy is the same-account one.
#[test]
fn r2_same_account_policy() {
    let key = ShareableKey::new().alias("reencrypt").build().unwrap();
    let policy = key.key_policy(account("111111111111")).unwrap();
    expect![[r#"
        {
          "Version": "2012-10-17",
          "Id": "key-consolepolicy-3",
          "Statement": [
            {
              "Sid": "Enable IAM User Permissions",
              "Effect": "Allow",
              "Principal": {
                "AWS": "arn:aws:iam::111111111111:root"
              },
              "Action": "kms:*",
              "Resource": "*"
            }
          ]
        }"#]]
    .assert_eq(&policy.to_json_pretty());
    assert!(!ShareableKey::policy_grants(
        &policy,
        account("999999999999")
    ));
}

#[test]
fn partitions_other_than_aws() {
    let key = ShareableKey::new()
        .grant_account(account("999999999999"))
        .build()
        .unwrap();
    let policy = key
        .key_policy_in(Partition::AwsCn, account("111111111111"))
        .unwrap();
    assert_eq!(
        policy.statements()[1]
            .principal
            .as_ref()
            .unwrap()
            .aws_values(),
        ["arn:aws-cn:iam::999999999999:root"]
    );
}

#[test]
fn owner_mistakes_are_refused() {
    let key = ShareableKey::new()
        .grant_account(account("111111111111"))
        .build()
        .unwrap();
    expect!["account 111111111111 owns the key; grant_account is for other accounts (R2)"]
        .assert_eq(
            &key.key_policy(account("111111111111"))
                .unwrap_err()
                .to_string(),
        );
    let key = ShareableKey::new()
        .admin("arn:aws:iam::222222222222:role/admin".parse().unwrap())
        .build()
        .unwrap();
    let err = key.key_policy(account("111111111111")).unwrap_err();
    expect!["key administrator arn:aws:iam::222222222222:role/admin is not in account 111111111111, which owns the key (R2)"]
        .assert_eq(&err.to_string());
    assert_eq!(err.rule(), Some(Rule::R2));
}

// R12: replicas need a multi-region key, one per region.
#[test]
fn r12_replicas_need_multi_region() {
    let osaka: Region = "ap-northeast-3".parse().unwrap();
    let err = ShareableKey::new()
        .replica_region(osaka.clone())
        .build()
        .unwrap_err();
    expect!["replica region ap-northeast-3 needs a multi-region key; MultiRegion can only be set when the key is created (R12)"]
        .assert_eq(&err.to_string());
    assert_eq!(err.rule(), Some(Rule::R12));
    let err = ShareableKey::new()
        .multi_region(true)
        .replica_region(osaka.clone())
        .replica_region(osaka.clone())
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        KeyError::DuplicateReplica {
            region: osaka.clone()
        }
    );
    let key = ShareableKey::new()
        .multi_region(true)
        .replica_region(osaka.clone())
        .build()
        .unwrap();
    assert!(key.is_multi_region());
    assert_eq!(key.replica_regions(), [osaka]);
}

// R23: deletion window 7 to 30 days, default 30.
#[test]
fn r23_deletion_window() {
    assert_eq!(
        ShareableKey::new().build().unwrap().deletion_window().get(),
        30
    );
    assert_eq!(
        ShareableKey::new()
            .deletion_window_days(7)
            .build()
            .unwrap()
            .deletion_window()
            .get(),
        7
    );
    for days in [0, 6, 31, 365] {
        let err = ShareableKey::new()
            .deletion_window_days(days)
            .build()
            .unwrap_err();
        assert_eq!(err, KeyError::DeletionWindow { days });
        assert_eq!(err.rule(), Some(Rule::R23));
    }
    expect!["a key deletion window of 6 days is outside 7 to 30 days (R23)"]
        .assert_eq(&DeletionWindow::days(6).unwrap_err().to_string());
    assert!(serde_json::from_str::<DeletionWindow>("31").is_err());
}

#[test]
fn alias_description_and_tags_are_checked() {
    let err = ShareableKey::new().alias("aws/rds").build().unwrap_err();
    expect!["key alias: invalid KMS key reference `aws/rds`: the prefix `alias/aws/` is reserved for AWS managed keys"]
        .assert_eq(&err.to_string());
    assert!(ShareableKey::new().alias("has space").build().is_err());
    assert_eq!(
        ShareableKey::new()
            .alias("snapshot-share")
            .build()
            .unwrap()
            .alias()
            .unwrap()
            .as_str(),
        "alias/snapshot-share"
    );
    assert!(matches!(
        ShareableKey::new().description("d".repeat(8193)).build(),
        Err(KeyError::Description { len: 8193 })
    ));
    let err = ShareableKey::new()
        .tag("aws:owner", "me")
        .build()
        .unwrap_err();
    assert_eq!(err.rule(), Some(Rule::R22));
    let key = ShareableKey::new().tag("team", "data").build().unwrap();
    assert_eq!(key.tags().iter().collect::<Vec<_>>(), [("team", "data")]);
}

// R2, R4: whatever the admins and granted accounts, the policy names each admin in the admin
// statement only, each granted account in both use statements and nowhere else, keeps the
// owner's root with kms:* (R4), and lets every granted account, and no other, use the key.
#[test]
fn r2_r4_policy_structure_for_any_input() {
    use proptest::prelude::*;
    let strategy = (
        prop::collection::btree_set("[a-z][a-z0-9-]{0,10}", 0..4),
        prop::collection::btree_set("[2-9][0-9]{11}", 0..5),
    );
    proptest!(|((admins, grants) in strategy)| {
        let owner = account("111111111111");
        let mut builder = ShareableKey::new();
        let admin_arns: Vec<String> = admins.iter().map(|a| format!("arn:aws:iam::111111111111:role/{a}")).collect();
        for a in &admin_arns {
            builder = builder.admin(a.parse().unwrap());
        }
        for g in &grants {
            builder = builder.grant_account(g.parse().unwrap());
        }
        let policy = builder.build().unwrap().key_policy(owner).unwrap();
        let principals = |sid: &str| -> Vec<String> {
            policy.statements().iter().find(|s| s.sid.as_deref() == Some(sid))
                .map(|s| s.principal.as_ref().unwrap().aws_values().to_vec()).unwrap_or_default()
        };
        prop_assert_eq!(principals(sid::ROOT), vec!["arn:aws:iam::111111111111:root".to_owned()]);
        prop_assert_eq!(principals(sid::ADMINS), admin_arns.clone());
        let roots: Vec<String> = grants.iter().map(|g| format!("arn:aws:iam::{g}:root")).collect();
        prop_assert_eq!(principals(sid::USE), roots.clone());
        prop_assert_eq!(principals(sid::GRANTS), roots);
        for g in &grants {
            prop_assert!(ShareableKey::policy_grants(&policy, g.parse().unwrap()));
        }
        prop_assert!(!ShareableKey::policy_grants(&policy, account("100000000000")));
    });
}

// R2: sharing directly needs certainty that the target can use the key; anything less and
// the caller re-encrypts under its own key.
#[test]
fn r2_policy_grants_is_conservative() {
    let grants = |statements: &str| {
        let policy =
            PolicyDocument::from_json(&format!(r#"{{"Statement":{statements}}}"#)).unwrap();
        ShareableKey::policy_grants(&policy, account("999999999999"))
    };
    let all = r#""Action":"kms:*","Resource":"*""#;
    assert!(grants(&format!(
        r#"[{{"Effect":"Allow","Principal":{{"AWS":"999999999999"}},{all}}}]"#
    )));
    assert!(grants(&format!(
        r#"[{{"Effect":"Allow","Principal":"*",{all},"Condition":{{"StringEquals":{{"kms:CallerAccount":"999999999999"}}}}}}]"#
    )));
    // Narrowed to another account, conditioned on something else, or denied: no.
    assert!(!grants(&format!(
        r#"[{{"Effect":"Allow","Principal":"*",{all},"Condition":{{"StringEquals":{{"kms:CallerAccount":"888888888888"}}}}}}]"#
    )));
    assert!(!grants(&format!(
        r#"[{{"Effect":"Allow","Principal":{{"AWS":"999999999999"}},{all},"Condition":{{"Bool":{{"aws:MultiFactorAuthPresent":"true"}}}}}}]"#
    )));
    assert!(!grants(&format!(
        r#"[{{"Effect":"Allow","Principal":{{"AWS":"999999999999"}},{all}}},{{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}]"#
    )));
    // A role of the account is not the account.
    assert!(!grants(&format!(
        r#"[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::999999999999:role/x"}},{all}}}]"#
    )));
    // Only some of the actions.
    assert!(!grants(
        r#"[{"Effect":"Allow","Principal":{"AWS":"999999999999"},"Action":["kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]"#
    ));
}

#[test]
fn serde_round_trip() {
    let key = ShareableKey::new()
        .alias("snapshot-share")
        .grant_account(account("999999999999"))
        .multi_region(true)
        .replica_region("ap-northeast-3".parse().unwrap())
        .deletion_window_days(7)
        .build()
        .unwrap();
    let json = serde_json::to_string(&key).unwrap();
    let back: ShareableKey = serde_json::from_str(&json).unwrap();
    assert_eq!(back, key);
    // Deserializing runs the builder's checks (R12, R23, the reserved alias prefix).
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["multi_region"] = false.into();
    assert!(serde_json::from_value::<ShareableKey>(value.clone())
        .unwrap_err()
        .to_string()
        .contains("(R12)"));
    value["multi_region"] = true.into();
    value["deletion_window"] = 3.into();
    assert!(serde_json::from_value::<ShareableKey>(value.clone())
        .unwrap_err()
        .to_string()
        .contains("(R23)"));
    value["deletion_window"] = 7.into();
    value["alias"] = "alias/aws/rds".into();
    assert!(serde_json::from_value::<ShareableKey>(value)
        .unwrap_err()
        .to_string()
        .contains("reserved"));
}
