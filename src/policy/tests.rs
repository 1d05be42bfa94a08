//! Round-trips of the seed policies and the validation rules, one check per boundary.

use expect_test::{expect, Expect};
use serde_json::Value;

use super::*;
use crate::ids::AccountId;

macro_rules! seed {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/seeds/",
            $name
        ))
    };
}

/// Parses `text` as `T`, serializes it back, and compares the two as JSON values.
fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(text: &str) -> T {
    let parsed: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("parse: {e}\n{text}"));
    let original: Value = serde_json::from_str(text).unwrap();
    let written = serde_json::to_value(&parsed).unwrap();
    assert_eq!(written, original, "round trip changed the policy");
    parsed
}

fn owner() -> AccountId {
    "111111111111".parse().unwrap()
}

#[test]
fn seed_policies_round_trip() {
    let key: PolicyDocument = round_trip(seed!("000-shareable-key-policy.json"));
    assert_eq!(key.statements().len(), 4);
    let managed: PolicyDocument = round_trip(seed!("001-aws-rds-managed-key-policy.json"));
    assert_eq!(managed.statements().len(), 2);
    let deny: Statement = round_trip(seed!("004-deny-except-admin-statement.json"));
    assert_eq!(deny.effect, Effect::Deny);
    assert!(deny.principal.as_ref().unwrap().is_wildcard());
    let operator: PolicyDocument = round_trip(seed!("004-snapshot-operator-policy.json"));
    assert_eq!(operator.statements()[0].action.as_ref().unwrap().len(), 15);
    let role: PolicyDocument = round_trip(seed!("003-backup-role-policy.json"));
    assert_eq!(role.version, None);
    assert_eq!(role.statements().len(), 5);
    let _: PolicyDocument = round_trip(seed!("003-backup-role-trust-policy.json"));
    let _: PolicyDocument = round_trip(seed!("003-primary-key-policy.json"));
}

#[test]
fn shapes_and_json_types_are_kept() {
    let text = r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":["*"],
        "Condition":{"Bool":{"aws:SecureTransport":false},"NumericLessThan":{"s3:max-keys":10}}}}"#;
    let doc: PolicyDocument = round_trip(text);
    assert!(matches!(doc.statement, OneOrMany::One(_)));
    assert!(matches!(
        doc.statements()[0].resource,
        Some(OneOrMany::Many(_))
    ));
}

#[test]
fn unknown_fields_and_bad_values_are_refused_with_the_reason() {
    let err = |text: &str| PolicyDocument::from_json(text).unwrap_err().to_string();
    expect![
        "unknown field `Extra`, expected one of `Version`, `Id`, `Statement` at line 1 column 23"
    ]
    .assert_eq(&err(r#"{"Statement":[],"Extra":1}"#));
    expect!["unknown variant `Permit`, expected `Allow` or `Deny` at line 1 column 48"]
        .assert_eq(&err(r#"{"Statement":[{"Effect":"Permit","Action":"*"}]}"#));
    expect![[r#"a Principal string can only be "*", found "everyone"; write {"AWS": "everyone"} at line 1 column 70"#]]
        .assert_eq(&err(r#"{"Statement":[{"Effect":"Allow","Principal":"everyone","Action":"*"}]}"#));
    expect!["unknown field `Actions`, expected one of `Sid`, `Effect`, `Principal`, `NotPrincipal`, `Action`, `NotAction`, `Resource`, `NotResource`, `Condition` at line 1 column 48"]
        .assert_eq(&err(r#"{"Statement":[{"Effect":"Allow","Actions":"*"}]}"#));
}

// R4: the customer managed key policies of the seeds pass the key-policy checks.
#[test]
fn r4_seed_key_policies_are_valid() {
    for text in [
        seed!("000-shareable-key-policy.json"),
        seed!("003-primary-key-policy.json"),
    ] {
        PolicyDocument::from_json(text)
            .unwrap()
            .validate_key_policy(owner())
            .unwrap();
    }
}

// R1, R4: the `aws/rds` managed key's wildcard principal is narrowed by kms:CallerAccount (no
// R4 wildcard error), but nobody in the account may change its policy: AWS owns it. That is
// why such a snapshot cannot be shared, and why snapshift never writes a policy like it.
#[test]
fn r1_managed_key_policy_is_narrowed_and_not_ours_to_change() {
    let managed = PolicyDocument::from_json(seed!("001-aws-rds-managed-key-policy.json")).unwrap();
    let owner: AccountId = "891377404752".parse().unwrap();
    assert_eq!(
        managed.validate_key_policy(owner),
        Err(PolicyError::Lockout { owner })
    );
    assert!(!crate::key::ShareableKey::policy_grants(
        &managed,
        "999999999999".parse().unwrap(),
        &"ap-northeast-1".parse().unwrap()
    ));
}

#[test]
fn seed_iam_policies_are_valid() {
    for text in [
        seed!("003-backup-role-policy.json"),
        seed!("004-snapshot-operator-policy.json"),
    ] {
        PolicyDocument::from_json(text)
            .unwrap()
            .validate_identity_policy()
            .unwrap();
    }
    PolicyDocument::from_json(seed!("003-backup-role-trust-policy.json"))
        .unwrap()
        .validate_trust_policy()
        .unwrap();
}

/// Validates `statements` (JSON array) as a key policy of 111111111111 and prints the outcome.
fn check_key_policy(statements: &str, expect: Expect) {
    let text = format!(r#"{{"Version":"2012-10-17","Statement":{statements}}}"#);
    let doc = PolicyDocument::from_json(&text).unwrap();
    let outcome = match doc.validate_key_policy(owner()) {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("{:?}: {e}", e.rule()),
    };
    expect.assert_eq(&outcome);
}

const ADMIN_ALL: &str = r#"{"Sid":"Admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/admin"},"Action":"kms:*","Resource":"*"}"#;
const ROOT_ALL: &str = r#"{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"kms:*","Resource":"*"}"#;

// R4: the policy of seeds/001's troubleshooting section: crypto actions to "*" only.
#[test]
fn r4_lockout_crypto_only_to_everyone() {
    check_key_policy(
        r#"[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":["*"]}]"#,
        expect![[
            r#"Some(R4): statement #1 allows kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey to every principal ("*") with no condition that narrows who (R4); name the principals or add a condition such as kms:CallerAccount or aws:PrincipalAccount"#
        ]],
    );
}

// R4: nobody keeps kms:PutKeyPolicy.
#[test]
fn r4_lockout_without_put_key_policy() {
    check_key_policy(
        r#"[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":["kms:Describe*","kms:Get*"],"Resource":"*"}]"#,
        expect!["Some(R4): the key policy would lock itself: no principal of account 111111111111 (its root, or a named user or role) is allowed kms:PutKeyPolicy without conditions and spared by every Deny (R4); KMS refuses such a policy with MalformedPolicyDocumentException"],
    );
    // Another account's root does not count: the owner would be locked out.
    check_key_policy(
        r#"[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"kms:*","Resource":"*"}]"#,
        expect!["Some(R4): the key policy would lock itself: no principal of account 111111111111 (its root, or a named user or role) is allowed kms:PutKeyPolicy without conditions and spared by every Deny (R4); KMS refuses such a policy with MalformedPolicyDocumentException"],
    );
    // A condition on the only grant of PutKeyPolicy may not hold for the caller.
    check_key_policy(
        r#"[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]"#,
        expect!["Some(R4): the key policy would lock itself: no principal of account 111111111111 (its root, or a named user or role) is allowed kms:PutKeyPolicy without conditions and spared by every Deny (R4); KMS refuses such a policy with MalformedPolicyDocumentException"],
    );
}

// R4: an unconditional Deny of everything to everyone takes the root's control away.
#[test]
fn r4_lockout_by_deny() {
    check_key_policy(
        &format!(r#"[{ROOT_ALL},{{"Effect":"Deny","Principal":"*","Action":"kms:Put*","Resource":"*"}}]"#),
        expect!["Some(R4): the key policy would lock itself: no principal of account 111111111111 (its root, or a named user or role) is allowed kms:PutKeyPolicy without conditions and spared by every Deny (R4); KMS refuses such a policy with MalformedPolicyDocumentException"],
    );
    // The same account written as a bare id, or a Deny to the root that also reaches a named
    // admin of the account: the same principal however it is written.
    check_key_policy(
        &format!(r#"[{ROOT_ALL},{{"Effect":"Deny","Principal":{{"AWS":"111111111111"}},"Action":"kms:*","Resource":"*"}}]"#),
        expect!["Some(R4): the key policy would lock itself: no principal of account 111111111111 (its root, or a named user or role) is allowed kms:PutKeyPolicy without conditions and spared by every Deny (R4); KMS refuses such a policy with MalformedPolicyDocumentException"],
    );
    check_key_policy(
        &format!(r#"[{ADMIN_ALL},{{"Effect":"Deny","Principal":{{"AWS":"arn:aws:iam::111111111111:root"}},"Action":"kms:*","Resource":"*"}}]"#),
        expect!["Some(R4): the key policy would lock itself: no principal of account 111111111111 (its root, or a named user or role) is allowed kms:PutKeyPolicy without conditions and spared by every Deny (R4); KMS refuses such a policy with MalformedPolicyDocumentException"],
    );
    // Deny to everyone but the admin: the admin keeps control, the root alone would not.
    let deny_all_but_admin = r#"{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111111111111:role/admin"},"Action":"kms:*","Resource":"*"}"#;
    check_key_policy(
        &format!("[{ADMIN_ALL},{deny_all_but_admin}]"),
        expect!["ok"],
    );
    check_key_policy(&format!("[{ROOT_ALL},{deny_all_but_admin}]"), expect!["Some(R4): the key policy would lock itself: no principal of account 111111111111 (its root, or a named user or role) is allowed kms:PutKeyPolicy without conditions and spared by every Deny (R4); KMS refuses such a policy with MalformedPolicyDocumentException"]);
}

// R4: the seeds/004 deny spares only its administrator; with an administrator in another
// account than the key's, nobody of the owner keeps control. With the administrator in the
// owner account and allowed, the policy keeps control.
#[test]
fn r4_lockout_by_conditional_deny() {
    let deny = seed!("004-deny-except-admin-statement.json");
    check_key_policy(&format!("[{ROOT_ALL},{deny}]"), expect!["Some(R4): the key policy would lock itself: no principal of account 111111111111 (its root, or a named user or role) is allowed kms:PutKeyPolicy without conditions and spared by every Deny (R4); KMS refuses such a policy with MalformedPolicyDocumentException"]);
    let deny_own = deny.replace("123456789012", "111111111111");
    let admin_user = r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:user/administrator"},"Action":"kms:*","Resource":"*"}"#;
    check_key_policy(
        &format!("[{ROOT_ALL},{admin_user},{deny_own}]"),
        expect!["ok"],
    );
    // A Deny whose condition says nothing about who is assumed to apply.
    check_key_policy(
        &format!(r#"[{ROOT_ALL},{{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{{"BoolIfExists":{{"aws:MultiFactorAuthPresent":"false"}}}}}}]"#),
        expect!["Some(R4): the key policy would lock itself: no principal of account 111111111111 (its root, or a named user or role) is allowed kms:PutKeyPolicy without conditions and spared by every Deny (R4); KMS refuses such a policy with MalformedPolicyDocumentException"],
    );
    // An exemption by account keeps the account's principals.
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{{"StringNotEquals":{{"kms:CallerAccount":"111111111111"}}}}}}]"#
        ),
        expect!["ok"],
    );
}

// R4: a named admin of the owner account is enough; so is NotAction that leaves PutKeyPolicy.
#[test]
fn r4_named_admin_keeps_control() {
    check_key_policy(
        r#"[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/admin"},"Action":["kms:Put*"],"Resource":"*"}]"#,
        expect!["ok"],
    );
    check_key_policy(
        r#"[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"NotAction":["kms:Decrypt"],"Resource":"*"}]"#,
        expect!["ok"],
    );
    check_key_policy(
        r#"[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"NotAction":["kms:Put*"],"Resource":"*"}]"#,
        expect!["Some(R4): the key policy would lock itself: no principal of account 111111111111 (its root, or a named user or role) is allowed kms:PutKeyPolicy without conditions and spared by every Deny (R4); KMS refuses such a policy with MalformedPolicyDocumentException"],
    );
}

// R4: a grant to "*" needs a condition that narrows who.
#[test]
fn r4_wildcard_grant_needs_narrowing_condition() {
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}]"#
        ),
        expect![[
            r#"Some(R4): statement #2 allows kms:Decrypt to every principal ("*") with no condition that narrows who (R4); name the principals or add a condition such as kms:CallerAccount or aws:PrincipalAccount"#
        ]],
    );
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEquals":{{"kms:ViaService":"rds.us-east-1.amazonaws.com"}}}}}}]"#
        ),
        expect![[
            r#"Some(R4): statement #2 allows kms:Decrypt to every principal ("*") with no condition that narrows who (R4); name the principals or add a condition such as kms:CallerAccount or aws:PrincipalAccount"#
        ]],
    );
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{{"StringNotEquals":{{"kms:CallerAccount":"222222222222"}}}}}}]"#
        ),
        expect![[
            r#"Some(R4): statement #2 allows kms:Decrypt to every principal ("*") with no condition that narrows who (R4); name the principals or add a condition such as kms:CallerAccount or aws:PrincipalAccount"#
        ]],
    );
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Allow","NotPrincipal":{{"AWS":"222222222222"}},"Action":"kms:Decrypt","Resource":"*"}}]"#
        ),
        expect![[
            r#"Some(R4): statement #2 allows kms:Decrypt to every principal ("*") with no condition that narrows who (R4); name the principals or add a condition such as kms:CallerAccount or aws:PrincipalAccount"#
        ]],
    );
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{{"StringEquals":{{"aws:PrincipalOrgID":"o-abc"}}}}}}]"#
        ),
        expect!["ok"],
    );
}

#[test]
fn malformed_principals_are_refused() {
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Sid":"Use","Effect":"Allow","Principal":{{"AWS":"99999999999a"}},"Action":"kms:Decrypt","Resource":"*"}}]"#
        ),
        expect![[
            r#"None: statement "Use": principal `99999999999a` is neither a 12-digit account id, an IAM principal ARN nor "*": must be exactly 12 digits"#
        ]],
    );
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::999999999999:root","arn:aws:iam::9999:root"]}},"Action":"kms:Decrypt","Resource":"*"}}]"#
        ),
        expect![[
            r#"None: statement #2: principal `arn:aws:iam::9999:root` is neither a 12-digit account id, an IAM principal ARN nor "*": account `9999`: must be exactly 12 digits"#
        ]],
    );
}

#[test]
fn duplicate_sids_and_empty_policies_are_refused() {
    check_key_policy(
        &format!("[{ROOT_ALL},{ROOT_ALL}]"),
        expect![[r#"None: two statements have the Sid "Root"; Sids must be unique"#]],
    );
    check_key_policy("[]", expect!["None: the policy has no statement"]);
    check_key_policy(
        r#"[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]"#,
        expect!["None: statement #1 has no Principal; a key policy names who it applies to"],
    );
    check_key_policy(
        r#"[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Resource":"*"}]"#,
        expect!["None: statement #1 must have exactly one of Action and NotAction"],
    );
    check_key_policy(
        r#"[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"kms:*"}]"#,
        expect!["None: statement #1 must have exactly one of Resource and NotResource"],
    );
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Allow","Principal":{{}},"Action":"kms:*","Resource":"*"}}]"#
        ),
        expect![
            "None: statement #2 has an empty Principal; AWS refuses a Principal that names nothing"
        ],
    );
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Allow","Principal":{{"AWS":[]}},"Action":"kms:*","Resource":"*"}}]"#
        ),
        expect![
            "None: statement #2 has an empty Principal; AWS refuses a Principal that names nothing"
        ],
    );
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Allow","Principal":{{"AWS":"111111111111"}},"Action":[],"Resource":"*"}}]"#
        ),
        expect!["None: statement #2 has an empty Action; AWS refuses a Action that names nothing"],
    );
    // A grant of PutKeyPolicy limited to another resource does not keep control of this key.
    check_key_policy(r#"[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"}]"#, expect!["Some(R4): the key policy would lock itself: no principal of account 111111111111 (its root, or a named user or role) is allowed kms:PutKeyPolicy without conditions and spared by every Deny (R4); KMS refuses such a policy with MalformedPolicyDocumentException"]);
}

#[test]
fn identity_and_trust_policy_rules() {
    let check = |text: &str, trust: bool, expect: Expect| {
        let doc = PolicyDocument::from_json(text).unwrap();
        let result = if trust {
            doc.validate_trust_policy()
        } else {
            doc.validate_identity_policy()
        };
        expect.assert_eq(&result.map_or_else(|e| e.to_string(), |()| "ok".into()));
    };
    check(
        r#"{"Statement":[{"Sid":"Has space","Effect":"Allow","Action":"rds:*","Resource":"*"}]}"#,
        false,
        expect![[r#"the Sid "Has space" may contain only letters and digits in an IAM policy"#]],
    );
    check(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"rds:*","Resource":"*"}]}"#, false, expect!["statement #1 has a Principal; an IAM identity policy applies to its holder and takes none"]);
    check(
        r#"{"Statement":[{"Effect":"Allow","Action":"rds:*"}]}"#,
        false,
        expect!["statement #1 must have exactly one of Resource and NotResource"],
    );
    check(
        r#"{"Version":"2020-01-01","Statement":[{"Effect":"Allow","Action":"rds:*","Resource":"*"}]}"#,
        false,
        expect![[r#"the policy version "2020-01-01" is not one AWS knows (use "2012-10-17")"#]],
    );
    check(
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#,
        true,
        expect![[
            r#"statement #1 allows sts:AssumeRole to every principal ("*") with no condition that narrows who (R4); name the principals or add a condition such as kms:CallerAccount or aws:PrincipalAccount"#
        ]],
    );
    check(
        r#"{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#,
        true,
        expect!["statement #1 has no Principal; a trust policy names who it applies to"],
    );
}

#[test]
fn action_patterns() {
    let cases = [
        ("kms:*", "kms:PutKeyPolicy", true),
        ("kms:Put*", "kms:PutKeyPolicy", true),
        ("KMS:putkeypolicy", "kms:PutKeyPolicy", true),
        ("*", "kms:PutKeyPolicy", true),
        ("kms:Pu?KeyPolicy", "kms:PutKeyPolicy", true),
        ("kms:Get*", "kms:PutKeyPolicy", false),
        ("kms:PutKeyPolicy2", "kms:PutKeyPolicy", false),
        ("rds:*", "kms:PutKeyPolicy", false),
        ("", "kms:PutKeyPolicy", false),
        ("kms:*Key*", "kms:PutKeyPolicy", true),
        ("kms:*Key", "kms:PutKeyPolicy", false),
        ("**", "", true),
    ];
    for (pattern, action, matches) in cases {
        assert_eq!(
            action_matches(pattern, action),
            matches,
            "{pattern} vs {action}"
        );
    }
}

// Patterns come from user JSON: a long run of stars must not make matching exponential.
#[test]
fn action_patterns_match_in_linear_time() {
    let pattern = format!("{}x", "*".repeat(5000));
    assert!(!action_matches(&pattern, &"k".repeat(5000)));
    assert!(action_matches(&pattern, &format!("{}x", "k".repeat(5000))));
}

// R2: key administration (kms:*, or any action of KEY_ADMINISTRATION) stays with principals
// of the key's own account: another account, a role of another account, "*" (unless a
// condition keeps it to the owner) and "every action but" are refused, naming the statement,
// the pattern, the action it covers and the principal; use by another account is fine.
#[test]
fn r2_key_administration_stays_in_the_owner_account() {
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Sid":"Partner","Effect":"Allow","Principal":{{"AWS":"999999999999"}},"Action":"kms:*","Resource":"*"}}]"#
        ),
        expect![[
            r#"Some(R2): statement "Partner" allows kms:* (key administration: it covers kms:PutKeyPolicy) to 999999999999, outside account 111111111111, which owns the key (R2); another account may only use the key: give it the cryptographic actions, and keep administration to principals of 111111111111"#
        ]],
    );
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::111111111111:role/admin","arn:aws:iam::999999999999:role/ops"]}},"Action":["kms:Describe*","kms:Get*"],"Resource":"*"}}]"#
        ),
        expect!["Some(R2): statement #2 allows kms:Get* (key administration: it covers kms:GetKeyPolicy) to arn:aws:iam::999999999999:role/ops, outside account 111111111111, which owns the key (R2); another account may only use the key: give it the cryptographic actions, and keep administration to principals of 111111111111"],
    );
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Allow","Principal":{{"AWS":"999999999999"}},"NotAction":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}}]"#
        ),
        expect![[
            r#"Some(R2): statement #2 allows every action but kms:Encrypt, kms:Decrypt (key administration: it covers kms:PutKeyPolicy) to 999999999999, outside account 111111111111, which owns the key (R2); another account may only use the key: give it the cryptographic actions, and keep administration to principals of 111111111111"#
        ]],
    );
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Allow","Principal":"*","Action":"kms:TagResource","Resource":"*","Condition":{{"StringEquals":{{"kms:CallerAccount":["111111111111","999999999999"]}}}}}}]"#
        ),
        expect![[
            r#"Some(R2): statement #2 allows kms:TagResource (key administration: it covers kms:TagResource) to *, outside account 111111111111, which owns the key (R2); another account may only use the key: give it the cryptographic actions, and keep administration to principals of 111111111111"#
        ]],
    );
    // "*" kept to the owner's account, a Deny, and R2's use by another account: fine.
    check_key_policy(
        &format!(
            r#"[{ROOT_ALL},{{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{{"StringEquals":{{"kms:CallerAccount":"111111111111"}}}}}},{{"Effect":"Deny","Principal":{{"AWS":"999999999999"}},"Action":"kms:*","Resource":"*","Condition":{{"Bool":{{"aws:SecureTransport":"false"}}}}}},{{"Effect":"Allow","Principal":{{"AWS":"999999999999"}},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey","kms:Describe*","kms:CreateGrant","kms:ListGrants","kms:RevokeGrant","kms:GetPublicKey"],"Resource":"*"}}]"#
        ),
        expect!["ok"],
    );
}

// R2: KEY_ADMINISTRATION is every key action the administrators' patterns (KEY_ADMIN) cover
// but the metadata and grant actions granted accounts use, plus the administrative actions
// those patterns miss; none of it is in the use statement's patterns.
#[test]
fn r2_key_administration_is_what_key_admin_covers_beyond_use() {
    // Every action KMS authorizes on a key (the key policy's resource).
    const KEY_ACTIONS: &[&str] = &[
        "kms:CancelKeyDeletion",
        "kms:CreateAlias",
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:DeleteAlias",
        "kms:DeleteImportedKeyMaterial",
        "kms:DeriveSharedSecret",
        "kms:DescribeKey",
        "kms:DisableKey",
        "kms:DisableKeyRotation",
        "kms:EnableKey",
        "kms:EnableKeyRotation",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyPair",
        "kms:GenerateDataKeyPairWithoutPlaintext",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:GenerateMac",
        "kms:GetKeyPolicy",
        "kms:GetKeyRotationStatus",
        "kms:GetParametersForImport",
        "kms:GetPublicKey",
        "kms:ImportKeyMaterial",
        "kms:ListGrants",
        "kms:ListKeyPolicies",
        "kms:ListKeyRotations",
        "kms:ListResourceTags",
        "kms:ListRetirableGrants",
        "kms:PutKeyPolicy",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:ReplicateKey",
        "kms:RetireGrant",
        "kms:RevokeGrant",
        "kms:RotateKeyOnDemand",
        "kms:ScheduleKeyDeletion",
        "kms:Sign",
        "kms:SynchronizeMultiRegionKey",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:UpdateAlias",
        "kms:UpdateKeyDescription",
        "kms:UpdatePrimaryRegion",
        "kms:Verify",
        "kms:VerifyMac",
    ];
    let covers =
        |patterns: &[&str], action: &str| patterns.iter().any(|p| action_matches(p, action));
    let used = [
        actions::KEY_DESCRIBE,
        actions::KEY_GRANTS,
        &["kms:GetPublicKey"],
    ]
    .concat();
    let beyond_patterns = [
        "kms:ImportKeyMaterial",
        "kms:ReplicateKey",
        "kms:RotateKeyOnDemand",
        "kms:SynchronizeMultiRegionKey",
    ];
    let mut expected: Vec<&str> = KEY_ACTIONS
        .iter()
        .copied()
        .filter(|a| covers(actions::KEY_ADMIN, a) && !used.contains(a))
        .chain(beyond_patterns)
        .collect();
    let mut listed = actions::KEY_ADMINISTRATION.to_vec();
    expected.sort_unstable();
    listed.sort_unstable();
    assert_eq!(listed, expected);
    for action in actions::KEY_ADMINISTRATION {
        assert!(!covers(actions::KEY_USE, action), "{action}");
    }
}

// R4 as KMS checks it: the principal making the request must keep kms:PutKeyPolicy, not just
// some principal of the account. The root statement covers every caller of the account; a
// policy that names only a role covers that role and its sessions, not the root or a user.
#[test]
fn r4_kms_checks_the_caller_not_just_the_account() {
    let check = |statements: &str, caller: &str| {
        let doc = PolicyDocument::from_json(&format!(
            r#"{{"Version":"2012-10-17","Statement":{statements}}}"#
        ))
        .unwrap();
        match doc.check_lockout_for(caller) {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("{:?}: {e}", e.rule()),
        }
    };
    let root = "arn:aws:iam::111111111111:root";
    let admin_session = "arn:aws:sts::111111111111:assumed-role/admin/deploy";
    let user = "arn:aws:iam::111111111111:user/alice";
    let admin_only = r#"[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/admin"},"Action":"kms:*","Resource":"*"}]"#;
    for caller in [root, admin_session, user] {
        assert_eq!(check(&format!("[{ROOT_ALL}]"), caller), "ok", "{caller}");
    }
    assert_eq!(check(admin_only, admin_session), "ok");
    expect!["Some(R4): the key policy would lock out its caller arn:aws:iam::111111111111:root: no statement without conditions allows it kms:PutKeyPolicy, or a Deny takes it away (R4); KMS checks the principal that makes CreateKey or PutKeyPolicy (not any principal of the account) and refuses with MalformedPolicyDocumentException. Name that principal, or its account root, in a statement that allows kms:PutKeyPolicy, or deploy as a principal the policy names"]
        .assert_eq(&check(admin_only, root));
    assert_ne!(check(admin_only, user), "ok");
    // The account-wide check passes the same policy: any principal of the account will do.
    let doc = PolicyDocument::from_json(&format!(
        r#"{{"Version":"2012-10-17","Statement":{admin_only}}}"#
    ))
    .unwrap();
    assert_eq!(doc.check_lockout(owner()), Ok(()));
    // A Deny that spares only the admin takes the root's control away.
    let deny_all_but_admin = r#"{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111111111111:role/admin"}}}"#;
    assert_ne!(
        check(&format!("[{ROOT_ALL},{deny_all_but_admin}]"), root),
        "ok"
    );
}
