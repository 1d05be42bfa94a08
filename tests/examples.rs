//! The example binaries, run in-process on the command lines their docs show.

// Each example carries its own copy of `examples/common/progress.rs`, as a user copying one
// example would; here they meet in one crate.
#![allow(clippy::duplicate_mod)]

#[allow(dead_code)]
#[path = "../examples/key_policy.rs"]
mod key_policy;

#[allow(dead_code)]
#[path = "../examples/shareable_key.rs"]
mod shareable_key;

#[allow(dead_code)]
#[path = "../examples/cross_account_migration.rs"]
mod cross_account_migration;

#[allow(dead_code)]
#[path = "../examples/same_account_reencrypt.rs"]
mod same_account_reencrypt;

#[allow(dead_code)]
#[path = "../examples/cross_region_backup.rs"]
mod cross_region_backup;

#[allow(dead_code)]
#[path = "../examples/fleet_migration.rs"]
mod fleet_migration;

use serde_json::Value;

fn key_policy(args: &[&str]) -> Result<String, (u8, String)> {
    key_policy::run(std::iter::once("key_policy").chain(args.iter().copied()))
}

// R2: the example prints the policy of the cross-account docs page (seeds/000's policy,
// narrowed to RDS in the key's region and to the granted account); without `--region`, the
// use goes through RDS of any region.
#[test]
fn r2_key_policy_example_prints_the_documented_policy() {
    let args = [
        "--owner",
        "111111111111",
        "--grant",
        "999999999999",
        "--admin",
        "arn:aws:iam::111111111111:role/KeyAdmin",
    ];
    let out = key_policy(&[&args[..], &["--region", "ap-northeast-1"]].concat()).unwrap();
    assert_eq!(out, include_str!("../docs/key-policies/cross-account.json"));
    let printed: Value = serde_json::from_str(&key_policy(&args).unwrap()).unwrap();
    assert_eq!(
        printed["Statement"][2]["Condition"]["StringLike"]["kms:ViaService"],
        "rds.*.amazonaws.com"
    );
}

#[test]
fn key_policy_example_refuses_bad_input_with_exit_code_2() {
    let cases: [(&[&str], &str); 5] = [
        (&["--owner", "12345"], "invalid account id `12345`: must be exactly 12 digits"),
        (
            &["--owner", "111111111111", "--grant", "99999999999a"],
            "invalid account id `99999999999a`: must be exactly 12 digits",
        ),
        (
            &["--owner", "111111111111", "--admin", "not-an-arn"],
            "invalid ARN `not-an-arn`: expected `arn:<partition>:<service>:<region>:<account>:<resource>`",
        ),
        (
            &["--owner", "111111111111", "--grant", "111111111111"],
            "account 111111111111 owns the key; grant_account is for other accounts (R2)",
        ),
        (
            &["--owner", "111111111111", "--replica-region", "ap-northeast-3"],
            "replica region ap-northeast-3 needs a multi-region key; MultiRegion can only be set when the key is created (R12)",
        ),
    ];
    for (args, message) in cases {
        let (code, stderr) = key_policy(args).unwrap_err();
        assert_eq!(code, 2, "{args:?}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn key_policy_example_help_is_not_an_error() {
    let (code, text) = key_policy(&["--help"]).unwrap_err();
    assert_eq!(code, 0);
    assert!(text.contains("--owner <OWNER>"), "{text}");
}

// The shareable_key example runs its whole flow on the fake: plan, deploy, teardown.
#[tokio::test]
async fn shareable_key_example_runs_on_the_fake() {
    use clap::Parser;
    let dir = std::env::temp_dir().join(format!("snapshift-example-test-{}", std::process::id()));
    let args = shareable_key::Args::parse_from([
        "shareable_key",
        "--state-dir",
        dir.to_str().unwrap(),
        "--deletion-window",
        "10",
    ]);
    shareable_key::run(args).await.unwrap();
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("shareable-key-example.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        state["resources"],
        serde_json::json!({}),
        "teardown empties the state"
    );
    let bad =
        shareable_key::Args::try_parse_from(["shareable_key", "--account", "12345"]).unwrap_err();
    assert!(
        bad.to_string().contains("invalid account id `12345`"),
        "{bad}"
    );
}

fn temp_state(name: &str) -> String {
    std::env::temp_dir()
        .join(format!("snapshift-example-{name}-{}", std::process::id()))
        .to_string_lossy()
        .into_owned()
}

// R1..R10: the field report's migration runs end to end on the fake, with a restore.
#[tokio::test]
async fn cross_account_migration_example_runs_on_the_fake() {
    use clap::Parser;
    let dir = temp_state("migration");
    let args = cross_account_migration::Args::parse_from([
        "cross_account_migration",
        "--restore",
        "--state-dir",
        &dir,
    ]);
    cross_account_migration::run(args).await.unwrap();
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{dir}/cross-account-migration.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(state["resources"], serde_json::json!({}));
    let bad = cross_account_migration::Args::try_parse_from([
        "cross_account_migration",
        "--source-snapshot",
        "not_valid--id",
    ])
    .unwrap_err();
    assert_eq!(bad.exit_code(), 2);
    assert!(
        bad.to_string()
            .contains("invalid snapshot identifier `not_valid--id`"),
        "{bad}"
    );
}

#[tokio::test]
async fn same_account_reencrypt_example_runs_on_the_fake() {
    use clap::Parser;
    let dir = temp_state("reencrypt");
    let args = same_account_reencrypt::Args::parse_from([
        "same_account_reencrypt",
        "--delete-source",
        "--state-dir",
        &dir,
    ]);
    same_account_reencrypt::run(args).await.unwrap();
}

// R11, R17: the cross-region example runs its whole story on the fake: deploy, backup, copy,
// the way back, and a teardown that stops at a vault with recovery points, then finishes.
#[tokio::test]
async fn cross_region_backup_example_runs_on_the_fake() {
    use clap::Parser;
    for (i, extra) in [&["--dr-restore"][..], &["--destination-default-vault"][..]]
        .iter()
        .enumerate()
    {
        let dir = temp_state(&format!("cross-region-{i}"));
        let mut argv = vec!["cross_region_backup", "--state-dir", &dir];
        argv.extend(extra.iter().copied());
        cross_region_backup::run(cross_region_backup::Args::parse_from(argv))
            .await
            .unwrap();
    }
}

// R22, R26: the fleet example moves its batch to two accounts in one run, on a fake that
// does not know its new key for a few calls; with a snapshot that has a reserved tag, that
// one fails alone, teardown keeps the copies in the targets, and the example fails, saying
// how many copies are not in place.
#[tokio::test]
async fn fleet_migration_example_runs_on_the_fake() {
    use clap::Parser;
    let dir = temp_state("fleet");
    let args = fleet_migration::Args::parse_from([
        "fleet_migration",
        "--snapshots",
        "6",
        "--state-dir",
        &dir,
    ]);
    fleet_migration::run(args).await.unwrap();
    // R25: 30 manual snapshots out of an account whose quota is 60: at most 25 intermediate
    // copies alive at once, each released as it goes.
    let dir = temp_state("fleet-quota");
    let args = fleet_migration::Args::parse_from([
        "fleet_migration",
        "--snapshots",
        "30",
        "--manual-quota",
        "60",
        "--state-dir",
        &dir,
    ]);
    fleet_migration::run(args).await.unwrap();
    // A source without room for one intermediate copy per copy slot stops before any change.
    let dir = temp_state("fleet-no-room");
    let args = fleet_migration::Args::parse_from([
        "fleet_migration",
        "--snapshots",
        "30",
        "--manual-quota",
        "40",
        "--state-dir",
        &dir,
    ]);
    let err = fleet_migration::run(args).await.unwrap_err().to_string();
    assert!(
        err.contains(
            "holds 30 of 40 manual DB cluster snapshots and needs room for 20 intermediate copies"
        ),
        "{err}"
    );
    let dir = temp_state("fleet-bad");
    let args = fleet_migration::Args::parse_from([
        "fleet_migration",
        "--snapshots",
        "6",
        "--with-bad-snapshot",
        "--state-dir",
        &dir,
    ]);
    let err = fleet_migration::run(args).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "2 of 14 copies are not in place (each says why above); run again to retry them"
    );
}
