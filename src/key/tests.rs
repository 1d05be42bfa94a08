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

fn tokyo() -> Region {
    "ap-northeast-1".parse().unwrap()
}

fn by_sid<'a>(policy: &'a PolicyDocument, sid: &str) -> &'a Statement {
    policy
        .statements()
        .iter()
        .find(|s| s.sid.as_deref() == Some(sid))
        .unwrap_or_else(|| panic!("no statement {sid}"))
}

// R2: the policy of seeds/000, made by hand in the console, narrowed: the same root and
// administrator statements, the same actions for the granted account, but its use and grants
// go through RDS in the key's region, by that account only, and DescribeKey, harmless
// metadata, stands in a statement of its own narrowed to the account alone.
#[test]
fn r2_cross_account_policy_is_the_field_reports_narrowed_to_rds() {
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
    let policy = key
        .key_policy_in_region(&tokyo(), account("111111111111"))
        .unwrap();
    let seed: PolicyDocument = serde_json::from_value(seed_policy()).unwrap();
    let value = |st: &Statement| serde_json::to_value(st).unwrap();
    assert_eq!(
        value(by_sid(&policy, sid::ROOT)),
        value(&seed.statements()[0])
    );
    assert_eq!(
        value(by_sid(&policy, sid::ADMINS)),
        value(&seed.statements()[1])
    );
    let actions = |st: &Statement| st.action.as_ref().unwrap().as_slice().to_vec();
    let mut granted = actions(by_sid(&policy, sid::USE));
    granted.extend(actions(by_sid(&policy, sid::DESCRIBE)));
    granted.sort();
    let mut seed_use = actions(&seed.statements()[2]);
    seed_use.sort();
    assert_eq!(granted, seed_use);
    assert_eq!(
        actions(by_sid(&policy, sid::GRANTS)),
        actions(&seed.statements()[3])
    );
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
            },
            {
              "Sid": "Allow access for Key Administrators",
              "Effect": "Allow",
              "Principal": {
                "AWS": [
                  "arn:aws:iam::111111111111:role/cm-ohmura.yasutaka",
                  "arn:aws:iam::111111111111:role/hogehoge"
                ]
              },
              "Action": [
                "kms:Create*",
                "kms:Describe*",
                "kms:Enable*",
                "kms:List*",
                "kms:Put*",
                "kms:Update*",
                "kms:Revoke*",
                "kms:Disable*",
                "kms:Get*",
                "kms:Delete*",
                "kms:TagResource",
                "kms:UntagResource",
                "kms:ScheduleKeyDeletion",
                "kms:CancelKeyDeletion"
              ],
              "Resource": "*"
            },
            {
              "Sid": "Allow use of the key",
              "Effect": "Allow",
              "Principal": {
                "AWS": "arn:aws:iam::999999999999:root"
              },
              "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncrypt*",
                "kms:GenerateDataKey*"
              ],
              "Resource": "*",
              "Condition": {
                "StringEquals": {
                  "kms:CallerAccount": "999999999999",
                  "kms:ViaService": "rds.ap-northeast-1.amazonaws.com"
                }
              }
            },
            {
              "Sid": "Allow attachment of persistent resources",
              "Effect": "Allow",
              "Principal": {
                "AWS": "arn:aws:iam::999999999999:root"
              },
              "Action": [
                "kms:CreateGrant",
                "kms:ListGrants",
                "kms:RevokeGrant"
              ],
              "Resource": "*",
              "Condition": {
                "Bool": {
                  "kms:GrantIsForAWSResource": "true"
                },
                "StringEquals": {
                  "kms:CallerAccount": "999999999999",
                  "kms:ViaService": "rds.ap-northeast-1.amazonaws.com"
                }
              }
            },
            {
              "Sid": "Allow granted accounts to describe the key",
              "Effect": "Allow",
              "Principal": {
                "AWS": "arn:aws:iam::999999999999:root"
              },
              "Action": "kms:DescribeKey",
              "Resource": "*",
              "Condition": {
                "StringEquals": {
                  "kms:CallerAccount": "999999999999"
                }
              }
            }
          ]
        }"#]]
    .assert_eq(&policy.to_json_pretty());
    assert!(ShareableKey::policy_grants(
        &policy,
        account("999999999999"),
        &tokyo()
    ));
    // RDS of another region cannot use a Tokyo key: not a grant there.
    assert!(!ShareableKey::policy_grants(
        &policy,
        account("999999999999"),
        &"us-east-1".parse().unwrap()
    ));
}

// R2, R11, R12: a multi-region key of AWS Backup vaults granted to two accounts: its use goes
// through RDS or AWS Backup in the home region and in each replica region, by those two
// accounts; the replicas carry the same policy.
#[test]
fn r2_r11_r12_use_through_rds_and_backup_in_every_region_of_the_key() {
    let key = ShareableKey::new()
        .multi_region(true)
        .replica_region("ap-northeast-3".parse().unwrap())
        .backup_vaults(true)
        .grant_account(account("999999999999"))
        .grant_account(account("222222222222"))
        .build()
        .unwrap();
    assert!(key.backs_backup_vaults());
    let policy = key
        .key_policy_in_region(&tokyo(), account("111111111111"))
        .unwrap();
    let conditions = |sid: &str| serde_json::to_string(&by_sid(&policy, sid).condition).unwrap();
    expect![[r#"{"StringEquals":{"kms:CallerAccount":["222222222222","999999999999"],"kms:ViaService":["rds.ap-northeast-1.amazonaws.com","rds.ap-northeast-3.amazonaws.com","backup.ap-northeast-1.amazonaws.com","backup.ap-northeast-3.amazonaws.com"]}}"#]]
        .assert_eq(&conditions(sid::USE));
    expect![[r#"{"Bool":{"kms:GrantIsForAWSResource":"true"},"StringEquals":{"kms:CallerAccount":["222222222222","999999999999"],"kms:ViaService":["rds.ap-northeast-1.amazonaws.com","rds.ap-northeast-3.amazonaws.com","backup.ap-northeast-1.amazonaws.com","backup.ap-northeast-3.amazonaws.com"]}}"#]]
        .assert_eq(&conditions(sid::GRANTS));
    expect![[r#"{"StringEquals":{"kms:CallerAccount":["222222222222","999999999999"]}}"#]]
        .assert_eq(&conditions(sid::DESCRIBE));
    for region in ["ap-northeast-1", "ap-northeast-3"] {
        for granted in ["999999999999", "222222222222"] {
            assert!(ShareableKey::policy_grants(
                &policy,
                account(granted),
                &region.parse().unwrap()
            ));
        }
    }
    // Without a home region, any region of the partition.
    let anywhere = key.key_policy(account("111111111111")).unwrap();
    expect![[r#"{"StringEquals":{"kms:CallerAccount":["222222222222","999999999999"]},"StringLike":{"kms:ViaService":["rds.*.amazonaws.com","backup.*.amazonaws.com"]}}"#]]
        .assert_eq(&serde_json::to_string(&by_sid(&anywhere, sid::USE).condition).unwrap());
}

// R12: the home region cannot also be a replica region, and replicas stay in its partition.
#[test]
fn r12_home_region_and_replicas_must_fit() {
    let key = ShareableKey::new()
        .multi_region(true)
        .replica_region(tokyo())
        .build()
        .unwrap();
    let err = key
        .key_policy_in_region(&tokyo(), account("111111111111"))
        .unwrap_err();
    assert_eq!(err, KeyError::DuplicateReplica { region: tokyo() });
    let key = ShareableKey::new()
        .multi_region(true)
        .replica_region("cn-north-1".parse().unwrap())
        .build()
        .unwrap();
    let err = key
        .key_policy_in_region(&tokyo(), account("111111111111"))
        .unwrap_err();
    expect!["replica region cn-north-1 is not in the partition of the key's home region ap-northeast-1; a replica stays in its key's partition and account (R12)"]
        .assert_eq(&err.to_string());
    assert_eq!(err.rule(), Some(Rule::R12));
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
    let policy = key
        .key_policy_in_region(&tokyo(), account("111111111111"))
        .unwrap();
    let by_sid = |sid: &str| by_sid(&policy, sid);
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
        serde_json::to_value(&grants.condition).unwrap()["Bool"],
        serde_json::json!({"kms:GrantIsForAWSResource": "true"})
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
        account("999999999999"),
        &tokyo()
    ));
    assert!(!ShareableKey::policy_grants(
        &policy,
        account("333333333333"),
        &tokyo()
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
        account("999999999999"),
        &tokyo()
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
// statement only, each granted account in the three use statements and nowhere else, keeps
// the owner's root with kms:* (R4), and lets every granted account, and no other, use the key
// through RDS in the key's region.
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
        let policy = builder.build().unwrap().key_policy_in_region(&tokyo(), owner).unwrap();
        let principals = |sid: &str| -> Vec<String> {
            policy.statements().iter().find(|s| s.sid.as_deref() == Some(sid))
                .map(|s| s.principal.as_ref().unwrap().aws_values().to_vec()).unwrap_or_default()
        };
        prop_assert_eq!(principals(sid::ROOT), vec!["arn:aws:iam::111111111111:root".to_owned()]);
        prop_assert_eq!(principals(sid::ADMINS), admin_arns.clone());
        let roots: Vec<String> = grants.iter().map(|g| format!("arn:aws:iam::{g}:root")).collect();
        prop_assert_eq!(principals(sid::USE), roots.clone());
        prop_assert_eq!(principals(sid::GRANTS), roots.clone());
        prop_assert_eq!(principals(sid::DESCRIBE), roots);
        for g in &grants {
            prop_assert!(ShareableKey::policy_grants(&policy, g.parse().unwrap(), &tokyo()));
            // Through RDS of the key's region only.
            prop_assert!(!ShareableKey::policy_grants(&policy, g.parse().unwrap(), &"eu-west-1".parse().unwrap()));
        }
        prop_assert!(!ShareableKey::policy_grants(&policy, account("100000000000"), &tokyo()));
    });
}

// R2: sharing directly needs certainty that the target can use the key; anything less and
// the caller re-encrypts under its own key.
#[test]
fn r2_policy_grants_is_conservative() {
    let grants = |statements: &str| {
        let policy =
            PolicyDocument::from_json(&format!(r#"{{"Statement":{statements}}}"#)).unwrap();
        ShareableKey::policy_grants(&policy, account("999999999999"), &tokyo())
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
    // Narrowed to RDS of the key's region and to the account: yes; to RDS of another region,
    // to another service, or with the grant condition on the cryptographic actions: no.
    let narrowed = |via: &str| {
        format!(
            r#"[{{"Effect":"Allow","Principal":{{"AWS":"999999999999"}},{all},"Condition":{{"StringEquals":{{"kms:CallerAccount":["222222222222","999999999999"],"kms:ViaService":{via}}}}}}}]"#
        )
    };
    assert!(grants(&narrowed(r#"["rds.ap-northeast-1.amazonaws.com"]"#)));
    assert!(grants(&narrowed(
        r#"["rds.ap-northeast-3.amazonaws.com","rds.ap-northeast-1.amazonaws.com"]"#
    )));
    assert!(!grants(&narrowed(r#""rds.us-east-1.amazonaws.com""#)));
    assert!(!grants(&narrowed(r#""ec2.ap-northeast-1.amazonaws.com""#)));
    assert!(grants(&format!(
        r#"[{{"Effect":"Allow","Principal":"*",{all},"Condition":{{"StringEquals":{{"kms:CallerAccount":"999999999999"}},"StringLike":{{"kms:ViaService":"rds.*.amazonaws.com"}}}}}}]"#
    )));
    assert!(!grants(&format!(
        r#"[{{"Effect":"Allow","Principal":"*",{all},"Condition":{{"StringLike":{{"kms:ViaService":"rds.*.amazonaws.com"}}}}}}]"#
    )));
    assert!(!grants(&format!(
        r#"[{{"Effect":"Allow","Principal":{{"AWS":"999999999999"}},{all},"Condition":{{"Bool":{{"kms:GrantIsForAWSResource":"true"}}}}}}]"#
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
        .backup_vaults(true)
        .build()
        .unwrap();
    let json = serde_json::to_string(&key).unwrap();
    let back: ShareableKey = serde_json::from_str(&json).unwrap();
    assert_eq!(back, key);
    // A key saved before `backup_vaults` existed reads as not backing vaults.
    let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
    old.as_object_mut().unwrap().remove("backup_vaults");
    assert!(!serde_json::from_value::<ShareableKey>(old)
        .unwrap()
        .backs_backup_vaults());
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
