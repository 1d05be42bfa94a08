//! Table-driven tests of every identifier type, and round-trip properties.

use std::{fmt::Display, str::FromStr};

use expect_test::{expect, Expect};
use proptest::prelude::*;

use super::*;

/// Parses each line, printing `ok <display>` or `err <message>`, and compares with `expect`.
fn check<T: FromStr<Err = IdError> + Display>(inputs: &[&str], expect: Expect) {
    let mut out = String::new();
    for input in inputs {
        match input.parse::<T>() {
            Ok(v) => {
                // Display round-trips exactly for every accepted value.
                assert_eq!(v.to_string(), *input, "display of {input}");
                out.push_str(&format!("ok  {v}\n"));
            }
            Err(e) => {
                assert_eq!(e.value(), *input, "the error names the value");
                out.push_str(&format!("err {e}\n"));
            }
        }
    }
    expect.assert_eq(&out);
}

#[test]
fn account_ids() {
    check::<AccountId>(
        &[
            "111111111111",
            "012345678901",
            "12345",
            "99999999999a",
            "1111111111111",
            " 111111111111",
            "",
        ],
        expect![[r#"
            ok  111111111111
            ok  012345678901
            err invalid account id `12345`: must be exactly 12 digits
            err invalid account id `99999999999a`: must be exactly 12 digits
            err invalid account id `1111111111111`: must be exactly 12 digits
            err invalid account id ` 111111111111`: must be exactly 12 digits
            err invalid account id ``: must be exactly 12 digits
        "#]],
    );
}

#[test]
fn regions() {
    check::<Region>(
        &[
            "ap-northeast-1",
            "us-gov-west-1",
            "cn-north-1",
            "eusc-de-east-1",
            "us-isob-east-1",
            "us-east",
            "US-EAST-1",
            "us-east-123",
            "useast1",
        ],
        expect![[r#"
            ok  ap-northeast-1
            ok  us-gov-west-1
            ok  cn-north-1
            ok  eusc-de-east-1
            ok  us-isob-east-1
            err invalid region `us-east`: expected a region code such as `us-east-1` or `ap-northeast-3`
            err invalid region `US-EAST-1`: expected lowercase words and a number, such as `us-east-1` or `ap-northeast-3`
            err invalid region `us-east-123`: expected lowercase words and a number, such as `us-east-1` or `ap-northeast-3`
            err invalid region `useast1`: expected a region code such as `us-east-1` or `ap-northeast-3`
        "#]],
    );
}

#[test]
fn region_partitions() {
    let cases = [
        ("us-east-1", "aws"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-east-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
        ("eu-isoe-west-1", "aws-iso-e"),
        ("us-isof-south-1", "aws-iso-f"),
        ("eusc-de-east-1", "aws-eusc"),
    ];
    for (region, partition) in cases {
        let r: Region = region.parse().unwrap();
        assert_eq!(r.partition().as_str(), partition, "{region}");
    }
}

// R28: each partition's global region parses as a region of that partition.
#[test]
fn r28_global_regions_belong_to_their_partition() {
    for partition in [
        "aws",
        "aws-cn",
        "aws-us-gov",
        "aws-iso",
        "aws-iso-b",
        "aws-iso-e",
        "aws-iso-f",
        "aws-eusc",
    ] {
        let p: Partition = partition.parse().unwrap();
        let global = p.global_region();
        let parsed: Region = global.as_str().parse().unwrap();
        assert_eq!(parsed.partition(), p, "{global}");
    }
    assert_eq!(Partition::Aws.global_region().as_str(), "us-east-1");
}

#[test]
fn arns_are_checked_per_service() {
    check::<Arn>(
        &[
            "arn:aws:iam::111111111111:root",
            "arn:aws:iam::111111111111:role/admin",
            "arn:aws:iam::111111111111:role/path/to/admin",
            "arn:aws:sts::111111111111:assumed-role/admin/session-1",
            "arn:aws:kms:ap-northeast-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:ap-northeast-3:111111111111:key/mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:us-east-1:111111111111:alias/snapshot-share",
            "arn:aws:rds:ap-northeast-1:111111111111:cluster-snapshot:awsbackup:job-1a2b3c",
            "arn:aws:rds:ap-northeast-1:111111111111:snapshot:rds:mydb-2024-01-01-00-05",
            "arn:aws:rds:ap-northeast-1:111111111111:cluster:example-db",
            "arn:aws:backup:ap-northeast-3:111111111111:backup-vault:destination-backup-vault",
            "arn:aws-cn:kms:cn-north-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "not-an-arn",
            "arn:aws:s3:::bucket",
            "arn:aws:iam:us-east-1:111111111111:role/admin",
            "arn:aws:kms::111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:cn-north-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:12345:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:111111111111:key/not-a-key",
            "arn:aws:kms:us-east-1:111111111111:keys/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:rds:us-east-1:111111111111:snapshot:bad--id",
            "arn:aws:rds:us-east-1:111111111111:cluster:1cluster",
            "arn:aws:iam::111111111111:root/extra",
            "arn:aws:iam::111111111111:root/",
            "arn:aws:kms:us-east-1:111111111111:key/",
            "arn:aws:iam::111111111111:role/bad name",
            "arn:aws:backup:us-east-1:111111111111:backup-vault:x",
            "arn:aws:sts::111111111111:assumed-role/admin",
            "arn:foo:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ],
        expect![[r#"
            ok  arn:aws:iam::111111111111:root
            ok  arn:aws:iam::111111111111:role/admin
            ok  arn:aws:iam::111111111111:role/path/to/admin
            ok  arn:aws:sts::111111111111:assumed-role/admin/session-1
            ok  arn:aws:kms:ap-northeast-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
            ok  arn:aws:kms:ap-northeast-3:111111111111:key/mrk-1234abcd12ab34cd56ef1234567890ab
            ok  arn:aws:kms:us-east-1:111111111111:alias/snapshot-share
            ok  arn:aws:rds:ap-northeast-1:111111111111:cluster-snapshot:awsbackup:job-1a2b3c
            ok  arn:aws:rds:ap-northeast-1:111111111111:snapshot:rds:mydb-2024-01-01-00-05
            ok  arn:aws:rds:ap-northeast-1:111111111111:cluster:example-db
            ok  arn:aws:backup:ap-northeast-3:111111111111:backup-vault:destination-backup-vault
            ok  arn:aws-cn:kms:cn-north-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
            err invalid ARN `not-an-arn`: expected `arn:<partition>:<service>:<region>:<account>:<resource>`
            err invalid ARN `arn:aws:s3:::bucket`: `s3`: service is not one snapshift works with (iam, sts, kms, rds, backup)
            err invalid ARN `arn:aws:iam:us-east-1:111111111111:role/admin`: iam ARNs have no region, found `us-east-1`
            err invalid ARN `arn:aws:kms::111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab`: kms ARNs need a region
            err invalid ARN `arn:aws:kms:cn-north-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab`: region `cn-north-1` belongs to partition `aws-cn`, not `aws`
            err invalid ARN `arn:aws:kms:us-east-1:12345:key/1234abcd-12ab-34cd-56ef-1234567890ab`: account `12345`: must be exactly 12 digits
            err invalid ARN `arn:aws:kms:us-east-1:111111111111:key/not-a-key`: KMS key reference `not-a-key`: a key id is a UUID (8-4-4-4-12 hex digits) or `mrk-` and 32 hex digits
            err invalid ARN `arn:aws:kms:us-east-1:111111111111:keys/1234abcd-12ab-34cd-56ef-1234567890ab`: `keys` is not a kms resource type snapshift knows (key, alias)
            err invalid ARN `arn:aws:rds:us-east-1:111111111111:snapshot:bad--id`: snapshot identifier `bad--id`: must not contain two consecutive hyphens
            err invalid ARN `arn:aws:rds:us-east-1:111111111111:cluster:1cluster`: cluster identifier `1cluster`: must start with a letter
            err invalid ARN `arn:aws:iam::111111111111:root/extra`: `root` takes no resource id
            err invalid ARN `arn:aws:iam::111111111111:root/`: `root/` must be followed by a resource id
            err invalid ARN `arn:aws:kms:us-east-1:111111111111:key/`: `key/` must be followed by a resource id
            err invalid ARN `arn:aws:iam::111111111111:role/bad name`: IAM role name `bad name`: may contain only letters, digits and `_+=,.@-`, not ` `
            err invalid ARN `arn:aws:backup:us-east-1:111111111111:backup-vault:x`: backup vault name `x`: must be 2 to 50 characters long
            err invalid ARN `arn:aws:sts::111111111111:assumed-role/admin`: expected `assumed-role/<role>/<session>`
            err invalid ARN `arn:foo:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab`: unknown partition (expected aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f or aws-eusc)
        "#]],
    );
}

#[test]
fn principal_arns() {
    check::<PrincipalArn>(
        &[
            "arn:aws:iam::111111111111:root",
            "arn:aws:iam::111111111111:user/alice",
            "arn:aws:iam::111111111111:role/admin",
            "arn:aws:sts::111111111111:assumed-role/admin/alice",
            "arn:aws:iam::111111111111:policy/p",
            "arn:aws:kms:us-east-1:111111111111:alias/a",
            "not-an-arn",
        ],
        expect![[r#"
            ok  arn:aws:iam::111111111111:root
            ok  arn:aws:iam::111111111111:user/alice
            ok  arn:aws:iam::111111111111:role/admin
            ok  arn:aws:sts::111111111111:assumed-role/admin/alice
            err invalid ARN `arn:aws:iam::111111111111:policy/p`: a principal must be an IAM root, user or role, or an STS assumed-role ARN
            err invalid ARN `arn:aws:kms:us-east-1:111111111111:alias/a`: a principal must be an IAM root, user or role, or an STS assumed-role ARN
            err invalid ARN `not-an-arn`: expected `arn:<partition>:<service>:<region>:<account>:<resource>`
        "#]],
    );
}

#[test]
fn key_refs() {
    check::<KeyRef>(
        &[
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "mrk-1234abcd12ab34cd56ef1234567890ab",
            "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/aws/rds",
            "alias/snapshot-share",
            "arn:aws:kms:us-east-1:111111111111:alias/aws/backup",
            "1234abcd",
            "alias/",
            "alias/bad name",
            "arn:aws:rds:us-east-1:111111111111:cluster:db",
            "mrk-123",
        ],
        expect![[r#"
            ok  1234abcd-12ab-34cd-56ef-1234567890ab
            ok  mrk-1234abcd12ab34cd56ef1234567890ab
            ok  arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab
            ok  alias/aws/rds
            ok  alias/snapshot-share
            ok  arn:aws:kms:us-east-1:111111111111:alias/aws/backup
            err invalid KMS key reference `1234abcd`: expected a key id, a key ARN, an alias name (`alias/...`) or an alias ARN
            err invalid KMS key reference `alias/`: an alias name is `alias/` and a name, 256 characters at most in all
            err invalid KMS key reference `alias/bad name`: an alias name may contain only letters, digits, `/`, `_` and `-`, not ` `
            err invalid KMS key reference `arn:aws:rds:us-east-1:111111111111:cluster:db`: expected a KMS key or alias ARN
            err invalid KMS key reference `mrk-123`: expected a key id, a key ARN, an alias name (`alias/...`) or an alias ARN
        "#]],
    );
}

// R1: the AWS managed key is recognised locally by its reserved alias.
#[test]
fn r1_aws_managed_keys_are_detected() {
    let managed = [
        "alias/aws/rds",
        "alias/aws/backup",
        "arn:aws:kms:us-east-1:111111111111:alias/aws/rds",
    ];
    for k in managed {
        assert!(k.parse::<KeyRef>().unwrap().is_aws_managed(), "{k}");
    }
    let customer = [
        "alias/snapshot-share",
        "alias/awsome",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    ];
    for k in customer {
        assert!(!k.parse::<KeyRef>().unwrap().is_aws_managed(), "{k}");
    }
    assert_eq!(
        KeyRef::from(AliasName::aws_rds()).to_string(),
        "alias/aws/rds"
    );
}

#[test]
fn new_aliases_refuse_the_reserved_prefix() {
    assert_eq!(
        AliasName::for_new_alias("snapshot-share").unwrap().as_str(),
        "alias/snapshot-share"
    );
    assert_eq!(
        AliasName::for_new_alias("alias/a/b").unwrap().as_str(),
        "alias/a/b"
    );
    expect!["invalid KMS key reference `alias/aws/mine`: the prefix `alias/aws/` is reserved for AWS managed keys"]
        .assert_eq(&AliasName::for_new_alias("alias/aws/mine").unwrap_err().to_string());
    expect!["invalid KMS key reference `aws/mine`: the prefix `alias/aws/` is reserved for AWS managed keys"]
        .assert_eq(&AliasName::for_new_alias("aws/mine").unwrap_err().to_string());
}

#[test]
fn snapshot_ids() {
    check::<SnapshotId>(
        &[
            "example-db-copy-1",
            "a",
            "rds:example-db-2024-01-01-00-05",
            "awsbackup:job-0a1b2c3d-4e5f",
            "awsbackup:copyjob-0a1b2c3d",
            "not_valid--id",
            "bad--id",
            "1abc",
            "abc-",
            "",
            "has space",
            "rds:",
            "awsbackup:",
        ],
        expect![[r#"
            ok  example-db-copy-1
            ok  a
            ok  rds:example-db-2024-01-01-00-05
            ok  awsbackup:job-0a1b2c3d-4e5f
            ok  awsbackup:copyjob-0a1b2c3d
            err invalid snapshot identifier `not_valid--id`: may contain only letters, digits and hyphens, not `_`
            err invalid snapshot identifier `bad--id`: must not contain two consecutive hyphens
            err invalid snapshot identifier `1abc`: must start with a letter
            err invalid snapshot identifier `abc-`: must not end with a hyphen
            err invalid snapshot identifier ``: must be 1 to 255 characters long
            err invalid snapshot identifier `has space`: may contain only letters, digits and hyphens, not ` `
            err invalid snapshot identifier `rds:`: after `rds:`, must be 1 to 251 characters long
            err invalid snapshot identifier `awsbackup:`: after `awsbackup:`, expected a job name such as `job-<id>`
        "#]],
    );
    let long = "a".repeat(256);
    assert!(long.parse::<SnapshotId>().is_err());
    assert!(long[..255].parse::<SnapshotId>().is_ok());
}

// R3 (only manual snapshots can be shared), R16 (the names AWS Backup gives).
#[test]
fn r3_r16_snapshot_origins() {
    let origin = |s: &str| s.parse::<SnapshotId>().unwrap().origin();
    assert_eq!(origin("manual-1"), SnapshotOrigin::Manual);
    assert_eq!(origin("rds:db-2024-01-01-00-05"), SnapshotOrigin::Automated);
    assert_eq!(origin("awsbackup:job-1234"), SnapshotOrigin::AwsBackup);
    assert_eq!(origin("awsbackup:copyjob-1234"), SnapshotOrigin::AwsBackup);
    for kind in [SnapshotKind::Db, SnapshotKind::Cluster] {
        assert!(SnapshotId::for_new_snapshot("rds:mine", kind).is_err());
        assert!(SnapshotId::for_new_snapshot("awsbackup:job-1", kind).is_err());
        assert!(SnapshotId::for_new_snapshot("mine", kind).is_ok());
    }
    let long = "a".repeat(64);
    assert!(SnapshotId::for_new_snapshot(&long, SnapshotKind::Db).is_ok());
    expect!["invalid snapshot identifier `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`: a cluster snapshot identifier is at most 63 characters long"]
        .assert_eq(&SnapshotId::for_new_snapshot(&long, SnapshotKind::Cluster).unwrap_err().to_string());
}

#[test]
fn snapshot_refs() {
    check::<SnapshotRef>(
        &[
            "snapshot:example-db-copy-1",
            "cluster-snapshot:example-db-copy-1",
            "arn:aws:rds:ap-northeast-1:111111111111:cluster-snapshot:example-db-copy-1",
            "arn:aws:rds:ap-northeast-1:111111111111:snapshot:rds:db-2024-01-01-00-05",
            "example-db-copy-1",
            "snapshot:not_valid--id",
            "arn:aws:rds:ap-northeast-1:111111111111:cluster:example-db",
            "db:example",
        ],
        expect![[r#"
            ok  snapshot:example-db-copy-1
            ok  cluster-snapshot:example-db-copy-1
            ok  arn:aws:rds:ap-northeast-1:111111111111:cluster-snapshot:example-db-copy-1
            ok  arn:aws:rds:ap-northeast-1:111111111111:snapshot:rds:db-2024-01-01-00-05
            err invalid snapshot reference `example-db-copy-1`: write `snapshot:<id>` for a DB snapshot, `cluster-snapshot:<id>` for a cluster snapshot, or the snapshot's ARN
            err invalid snapshot reference `snapshot:not_valid--id`: snapshot identifier `not_valid--id` may contain only letters, digits and hyphens, not `_`
            err invalid snapshot reference `arn:aws:rds:ap-northeast-1:111111111111:cluster:example-db`: expected an RDS `snapshot` or `cluster-snapshot` ARN
            err invalid snapshot reference `db:example`: write `snapshot:<id>` for a DB snapshot, `cluster-snapshot:<id>` for a cluster snapshot, or the snapshot's ARN
        "#]],
    );
    let r: SnapshotRef = "arn:aws:rds:ap-northeast-1:111111111111:cluster-snapshot:c1"
        .parse()
        .unwrap();
    assert_eq!(r.kind(), SnapshotKind::Cluster);
    assert_eq!(r.account().unwrap().as_str(), "111111111111");
    assert_eq!(r.region().unwrap().as_str(), "ap-northeast-1");
    let bare = SnapshotRef::cluster("c1".parse().unwrap());
    assert_eq!(bare.arn(), None);
    let located = bare.located(
        "ap-northeast-1".parse().unwrap(),
        "111111111111".parse().unwrap(),
    );
    assert_eq!(located, r);
}

// RDS identifiers are stored in lowercase; so are ours, so that ARNs written into IAM
// policies (which compare case-sensitively) match what RDS reports.
#[test]
fn rds_identifiers_are_lowercased() {
    assert_eq!(
        "Example-DB".parse::<ClusterId>().unwrap().as_str(),
        "example-db"
    );
    assert_eq!("Snap-1".parse::<SnapshotId>().unwrap().as_str(), "snap-1");
    assert_eq!(
        "cluster-snapshot:Snap-1"
            .parse::<SnapshotRef>()
            .unwrap()
            .to_string(),
        "cluster-snapshot:snap-1"
    );
    assert_eq!(
        "Default.Aurora-MySQL8.0"
            .parse::<ParameterGroupName>()
            .unwrap()
            .as_str(),
        "default.aurora-mysql8.0"
    );
    // Names outside RDS keep their case.
    assert_eq!("Default".parse::<VaultName>().unwrap().as_str(), "Default");
}

#[test]
fn resource_names() {
    check::<ClusterId>(
        &["example-db", "a", "1db", "db--1", &"a".repeat(64)],
        expect![[r#"
        ok  example-db
        ok  a
        err invalid DB cluster identifier `1db`: must start with a letter
        err invalid DB cluster identifier `db--1`: must not contain two consecutive hyphens
        err invalid DB cluster identifier `aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa`: must be 1 to 63 characters long
    "#]],
    );
    check::<ParameterGroupName>(
        &[
            "example-db-cluster-pg",
            "default.aurora-mysql8.0",
            "default:mysql-8-0",
            "default.",
            "1pg",
        ],
        expect![[r#"
        ok  example-db-cluster-pg
        ok  default.aurora-mysql8.0
        ok  default:mysql-8-0
        err invalid parameter group name `default.`: must be 1 to 247 characters long
        err invalid parameter group name `1pg`: must start with a letter
    "#]],
    );
    check::<SubnetGroupName>(
        &["my subnets_1.a-b", "default", "bad/name"],
        expect![[r#"
        ok  my subnets_1.a-b
        err invalid DB subnet group name `default`: `default` is reserved
        err invalid DB subnet group name `bad/name`: may contain only letters, digits, periods, underscores, spaces and hyphens, not `/`
    "#]],
    );
    check::<VaultName>(
        &["source-backup-vault", "Default", "x", "bad vault"],
        expect![[r#"
        ok  source-backup-vault
        ok  Default
        err invalid backup vault name `x`: must be 2 to 50 characters long
        err invalid backup vault name `bad vault`: may contain only letters, digits, hyphens and underscores, not ` `
    "#]],
    );
    check::<RoleName>(
        &[
            "source-backup-role",
            "a+b=c,d.e@f-g",
            "bad/role",
            &"r".repeat(65),
        ],
        expect![[r#"
        ok  source-backup-role
        ok  a+b=c,d.e@f-g
        err invalid IAM role name `bad/role`: may contain only letters, digits and `_+=,.@-`, not `/`
        err invalid IAM role name `rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr`: must be 1 to 64 characters long
    "#]],
    );
}

#[test]
fn serde_uses_the_display_string() {
    let account: AccountId = serde_json::from_str("\"111111111111\"").unwrap();
    assert_eq!(serde_json::to_string(&account).unwrap(), "\"111111111111\"");
    let err = serde_json::from_str::<AccountId>("\"12345\"").unwrap_err();
    assert!(
        err.to_string()
            .contains("`12345`: must be exactly 12 digits"),
        "{err}"
    );
    let r: SnapshotRef = serde_json::from_str("\"cluster-snapshot:c1\"").unwrap();
    assert_eq!(serde_json::to_value(&r).unwrap(), "cluster-snapshot:c1");
}

// Round-trip properties: parse(display(x)) == x for generated valid values.

fn account_strategy() -> impl Strategy<Value = AccountId> {
    "[0-9]{12}".prop_map(|s| s.parse().unwrap())
}

fn region_strategy() -> impl Strategy<Value = Region> {
    (
        prop::sample::select(vec!["us", "eu", "ap", "cn", "us-gov", "eusc", "me"]),
        prop::sample::select(vec!["east", "west", "northeast", "south", "central"]),
        1u8..=15,
    )
        .prop_map(|(area, dir, n)| format!("{area}-{dir}-{n}").parse().unwrap())
}

fn snapshot_id_strategy() -> impl Strategy<Value = SnapshotId> {
    prop_oneof![
        "[a-zA-Z](-?[a-zA-Z0-9]){0,40}",
        "rds:[a-z](-?[a-z0-9]){0,20}",
        "awsbackup:(job|copyjob)-[0-9a-f]{8}(-[0-9a-f]{4}){3}",
    ]
    .prop_map(|s| s.parse().unwrap())
}

fn key_ref_strategy() -> impl Strategy<Value = KeyRef> {
    let uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
    let mrk = "mrk-[0-9a-f]{32}";
    let key_id = prop_oneof![uuid, mrk].prop_map(|s| s.parse::<KeyId>().unwrap());
    let alias =
        "alias/[a-zA-Z0-9_-][a-zA-Z0-9/_-]{0,30}".prop_map(|s| s.parse::<AliasName>().unwrap());
    prop_oneof![
        key_id.clone().prop_map(KeyRef::Id),
        (region_strategy(), account_strategy(), key_id)
            .prop_map(|(r, a, id)| KeyRef::Arn(KeyArn::new(&r, a, &id))),
        alias.clone().prop_map(KeyRef::Alias),
        (region_strategy(), account_strategy(), alias).prop_map(|(r, a, alias)| {
            format!("arn:{}:kms:{r}:{a}:{alias}", r.partition())
                .parse()
                .unwrap()
        }),
    ]
}

fn snapshot_ref_strategy() -> impl Strategy<Value = SnapshotRef> {
    (
        any::<bool>(),
        snapshot_id_strategy(),
        prop::option::of((region_strategy(), account_strategy())),
    )
        .prop_map(|(cluster, id, loc)| {
            let r = if cluster {
                SnapshotRef::cluster(id)
            } else {
                SnapshotRef::db(id)
            };
            match loc {
                Some((region, account)) => r.located(region, account),
                None => r,
            }
        })
}

fn round_trips<T: FromStr<Err = IdError> + Display + PartialEq + std::fmt::Debug>(x: &T) {
    let text = x.to_string();
    let back: T = text
        .parse()
        .unwrap_or_else(|e| panic!("{text} did not parse: {e}"));
    assert_eq!(&back, x);
}

proptest! {
    #[test]
    fn prop_account_round_trips(x in account_strategy()) { round_trips(&x) }

    #[test]
    fn prop_region_round_trips(x in region_strategy()) { round_trips(&x) }

    #[test]
    fn prop_snapshot_id_round_trips(x in snapshot_id_strategy()) { round_trips(&x) }

    #[test]
    fn prop_key_ref_round_trips(x in key_ref_strategy()) { round_trips(&x) }

    #[test]
    fn prop_snapshot_ref_round_trips(x in snapshot_ref_strategy()) { round_trips(&x) }

    #[test]
    fn prop_key_arn_round_trips(r in region_strategy(), a in account_strategy(), id in "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}") {
        let arn = KeyArn::new(&r, a, &id.parse().unwrap());
        round_trips(&arn);
        round_trips(arn.arn());
    }

    #[test]
    fn prop_garbage_never_panics(s in ".{0,80}") {
        let _ = s.parse::<Arn>();
        let _ = s.parse::<KeyRef>();
        let _ = s.parse::<SnapshotRef>();
        let _ = s.parse::<Region>();
    }
}
