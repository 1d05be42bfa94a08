//! The backup role policy against the field report's (R15), and its checks.

use serde_json::Value;

use super::*;
use crate::{policy::PolicyDocument, rules::Rule};

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
// split (DeleteDBClusterSnapshot alone), with the kms:ResourceAliases condition.
#[test]
fn r15_role_policy_equals_the_field_report() {
    let policy = role().policy().unwrap();
    let seed: PolicyDocument = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seeds/003-backup-role-policy.json"
    )))
    .unwrap();
    assert_eq!(
        statements_without_sids(&policy),
        statements_without_sids(&seed)
    );
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

// R14: the trust policy lets backup.amazonaws.com assume the role, and only it.
#[test]
fn r14_trust_policy() {
    let trust = BackupRole::trust_policy();
    trust.validate_trust_policy().unwrap();
    let seed: PolicyDocument = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/seeds/003-backup-role-trust-policy.json"
    )))
    .unwrap();
    assert_eq!(
        statements_without_sids(&trust),
        statements_without_sids(&seed)
    );
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
