//! The backup role policy against the field report's (R15), and its checks.

use expect_test::expect;
use serde_json::Value;

use super::*;
use crate::{
    ids::ClusterId,
    policy::{action_matches, PolicyDocument},
    rules::Rule,
};

fn role() -> BackupRole {
    BackupRole::builder()
        .account("111111111111".parse().unwrap())
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

/// The statements without their Sids: the report's policy has none.
fn statements_without_sids(policy: &PolicyDocument) -> Value {
    let mut value = serde_json::to_value(policy).unwrap();
    for st in value["Statement"].as_array_mut().unwrap() {
        st.as_object_mut().unwrap().remove("Sid");
    }
    value["Statement"].take()
}

// R15: the same statements as seeds/003's hand-written least-privilege policy, in the same
// split (DeleteDBClusterSnapshot alone), with the kms:ResourceAliases condition; but where the
// report wrote `cluster:example-db*` (which also covers `example-db-billing`), the cluster and
// the one cluster a restore may create are named exactly.
#[test]
fn r15_role_policy_is_the_field_reports_with_clusters_named_exactly() {
    let policy = role().policy().unwrap();
    let seed: PolicyDocument = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seeds/003-backup-role-policy.json"
    )))
    .unwrap();
    let mut expected = statements_without_sids(&seed);
    let resources = expected[0]["Resource"].as_array_mut().unwrap();
    assert_eq!(
        resources.remove(0),
        "arn:aws:rds:ap-northeast-1:111111111111:cluster:example-db*"
    );
    resources.insert(
        0,
        "arn:aws:rds:ap-northeast-1:111111111111:cluster:example-db-restored".into(),
    );
    resources.insert(
        0,
        "arn:aws:rds:ap-northeast-1:111111111111:cluster:example-db".into(),
    );
    assert_eq!(statements_without_sids(&policy), expected);
    assert_eq!(policy.version.as_deref(), Some("2012-10-17"));
    let sids: Vec<_> = policy
        .statements()
        .iter()
        .map(|s| s.sid.clone().unwrap())
        .collect();
    assert_eq!(
        sids,
        [
            sid::RDS,
            sid::RDS_DELETE,
            sid::VAULTS,
            sid::KEYS,
            sid::MANAGED_KEYS
        ]
    );
    policy.validate_identity_policy().unwrap();
}

// R14: the trust policy lets backup.amazonaws.com assume the role, and only it, and only when
// it acts for the role's own account (aws:SourceAccount, against the confused deputy): the
// report's trust policy with that condition.
#[test]
fn r14_trust_policy_is_kept_to_the_account() {
    let trust = role().trust_policy().unwrap();
    trust.validate_trust_policy().unwrap();
    let seed: PolicyDocument = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seeds/003-backup-role-trust-policy.json"
    )))
    .unwrap();
    let mut expected = statements_without_sids(&seed);
    expected[0]["Condition"] =
        serde_json::json!({"StringEquals": {"aws:SourceAccount": "111111111111"}});
    assert_eq!(statements_without_sids(&trust), expected);
    expect![[r#"
        {
          "Version": "2012-10-17",
          "Statement": [
            {
              "Sid": "TrustAwsBackup",
              "Effect": "Allow",
              "Principal": {
                "Service": "backup.amazonaws.com"
              },
              "Action": "sts:AssumeRole",
              "Condition": {
                "StringEquals": {
                  "aws:SourceAccount": "111111111111"
                }
              }
            }
          ]
        }"#]]
    .assert_eq(&trust.to_json_pretty());
}

// R15: each protected cluster is named exactly, with the clusters a restore of it may create
// (its restore names, or `<cluster>-restored`): a cluster whose name merely starts with a
// protected one is not covered.
#[test]
fn r15_clusters_are_named_exactly_with_their_restore_names() {
    let mut role = role();
    role.more_clusters = vec![ProtectedCluster::new(
        "orders".parse().unwrap(),
        "orders-subnets".parse().unwrap(),
        "orders-pg".parse().unwrap(),
    )
    .restore_as("orders-dr".parse().unwrap())
    .restore_as("orders-dr".parse().unwrap())
    .restore_as("orders-2".parse().unwrap())];
    let policy = role.policy().unwrap();
    let rds = policy.statements()[0].resource.as_ref().unwrap();
    expect![[r#"
        [
          "arn:aws:rds:ap-northeast-1:111111111111:cluster:example-db",
          "arn:aws:rds:ap-northeast-1:111111111111:cluster:example-db-restored",
          "arn:aws:rds:ap-northeast-1:111111111111:subgrp:example-db-subnet-group",
          "arn:aws:rds:ap-northeast-1:111111111111:cluster-pg:example-db-cluster-pg",
          "arn:aws:rds:ap-northeast-1:111111111111:cluster:orders",
          "arn:aws:rds:ap-northeast-1:111111111111:cluster:orders-dr",
          "arn:aws:rds:ap-northeast-1:111111111111:cluster:orders-2",
          "arn:aws:rds:ap-northeast-1:111111111111:subgrp:orders-subnets",
          "arn:aws:rds:ap-northeast-1:111111111111:cluster-pg:orders-pg",
          "arn:aws:rds:ap-northeast-1:111111111111:cluster-snapshot:awsbackup:*",
          "arn:aws:rds:ap-northeast-3:111111111111:cluster-snapshot:awsbackup:*"
        ]"#]]
    .assert_eq(&serde_json::to_string_pretty(rds).unwrap());
    for other in ["example-db-billing", "orders-billing", "orders-dr2"] {
        let arn = format!("arn:aws:rds:ap-northeast-1:111111111111:cluster:{other}");
        assert!(
            !rds.iter().any(|pattern| action_matches(pattern, &arn)),
            "{other} must not be covered"
        );
    }
    assert_eq!(
        role.clusters()[1].restore_targets().unwrap(),
        ["orders", "orders-dr", "orders-2"].map(|c| c.parse::<ClusterId>().unwrap())
    );
}

// R15: a cluster whose default restore name would be too long must name its restores.
#[test]
fn r15_default_restore_name_must_be_a_cluster_identifier() {
    let mut long = role();
    long.cluster = "c".repeat(60).parse().unwrap();
    let err = long.policy().unwrap_err();
    assert_eq!(err.rule(), Some(Rule::R15));
    assert!(
        err.to_string()
            .ends_with("name the restores with ProtectedCluster::restore_as (R15)"),
        "{err}"
    );
    long.restore_names = vec!["short-restore".parse().unwrap()];
    assert!(long.policy().is_ok());
}

// R11 (keys in their vault's region), R18 (two regions), R23 (replicas in the same account).
#[test]
fn r11_r18_r23_parts_must_fit() {
    let mut same = role();
    same.destination_region = same.source_region.clone();
    let err = same.policy().unwrap_err();
    assert_eq!(err.rule(), Some(Rule::R18));
    assert_eq!(err.to_string(), "source and destination region are both ap-northeast-1; a cross-region backup needs two regions (R18)");

    let mut swapped = role();
    std::mem::swap(&mut swapped.primary_key, &mut swapped.replica_key);
    let err = swapped.policy().unwrap_err();
    assert_eq!(err.rule(), Some(Rule::R11));
    assert_eq!(
        err.to_string(),
        "the primary key arn:aws:kms:ap-northeast-3:111111111111:key/mrk-0123456789abcdef0123456789abcdef is in ap-northeast-3, but its vault is in ap-northeast-1; a vault's key must be in the vault's region (R11)"
    );

    let mut china = role();
    china.destination_region = "cn-north-1".parse().unwrap();
    assert!(matches!(
        china.policy(),
        Err(BackupRoleError::Partition { .. })
    ));

    let mut foreign = role();
    foreign.replica_key =
        "arn:aws:kms:ap-northeast-3:999999999999:key/mrk-0123456789abcdef0123456789abcdef"
            .parse()
            .unwrap();
    assert_eq!(foreign.policy().unwrap_err().rule(), Some(Rule::R23));
}
