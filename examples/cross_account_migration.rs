//! Move an Aurora cluster snapshot encrypted with alias/aws/rds to another account and re-key it there, then tear down the scaffolding (on the built-in fake AWS by default).
//!
//! ```sh
//! cargo run --example cross_account_migration                 # the fake AWS, no credentials
//! cargo run --example cross_account_migration -- --restore    # and restore a cluster from it
//! cargo run --example cross_account_migration -- --live \
//!     --source-profile sandbox-1 --source-account 111111111111 \
//!     --target-profile sandbox-2 --target-account 999999999999 \
//!     --region ap-northeast-1 --source-snapshot example-db-2026-11-23
//! ```
//!
//! The flow of the field report this crate started from: the snapshot cannot be shared as it
//! is (R1), so it is copied under a shareable key (R2, R3), shared (R6), copied in the target
//! under the target's own key (R7), optionally restored (R9, R10); teardown removes the share,
//! the intermediate copy and schedules the key's deletion (R8), and keeps the target copy.

#[path = "common/progress.rs"]
mod progress;

use std::{process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;
use snapshift::{
    aws::Account,
    engine::{Stack, WaitConfig},
    ids::{AccountId, Region, SnapshotId, SnapshotRef},
    key::ShareableKey,
    migration::{RestoreSpec, SnapshotMigration},
    resources::KeyResource,
};

/// A snapshot by ARN, or by cluster snapshot identifier.
fn snapshot_arg(s: &str) -> Result<SnapshotRef, String> {
    if s.starts_with("arn:") || s.contains(':') && !s.starts_with("rds:") {
        return s
            .parse()
            .map_err(|e: snapshift::ids::IdError| e.to_string());
    }
    s.parse::<SnapshotId>()
        .map(SnapshotRef::cluster)
        .map_err(|e| e.to_string())
}

/// Move an encrypted Aurora cluster snapshot to another account.
#[derive(Debug, Parser)]
#[command(name = "cross_account_migration")]
pub struct Args {
    /// Run against AWS with the profiles below instead of the built-in fake.
    #[arg(long)]
    live: bool,
    /// The profile of the source account (--live).
    #[arg(long, requires = "live")]
    source_profile: Option<String>,
    /// The profile of the target account (--live).
    #[arg(long, requires = "live")]
    target_profile: Option<String>,
    /// The account that owns the snapshot.
    #[arg(long, default_value = "111111111111")]
    source_account: AccountId,
    /// The account to move it to.
    #[arg(long, default_value = "999999999999")]
    target_account: AccountId,
    /// The region of the snapshot.
    #[arg(long, default_value = "ap-northeast-1")]
    region: Region,
    /// The cluster snapshot: its identifier or ARN.
    #[arg(long, default_value = "example-db-2026-11-23", value_parser = snapshot_arg)]
    source_snapshot: SnapshotRef,
    /// Also restore a cluster in the target account from the moved snapshot.
    #[arg(long)]
    restore: bool,
    /// Where the state file goes (default: `.snapshift` with --live, a temporary directory on
    /// the fake).
    #[arg(long)]
    state_dir: Option<std::path::PathBuf>,
    /// Deploy only; keep everything for a later teardown.
    #[arg(long)]
    keep: bool,
}

/// An account reached with a named profile, or the default credential chain.
async fn live_account(id: AccountId, profile: Option<&str>) -> Account {
    match profile {
        Some(p) => Account::from_profile(id, p).await,
        None => Account::from_env(id).await,
    }
}

/// Runs the example; `main` only parses the arguments and reports errors.
pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let fake = if args.live {
        None
    } else {
        Some(snapshift::testing::FakeAws::start().await)
    };
    let (source, target, wait) = match &fake {
        None => (
            live_account(args.source_account, args.source_profile.as_deref()).await,
            live_account(args.target_account, args.target_profile.as_deref()).await,
            WaitConfig::default(),
        ),
        Some(fake) => {
            println!(
                "running on the built-in fake AWS at {} (use --live for AWS)\n",
                fake.uri()
            );
            // The field report's snapshot: an Aurora cluster snapshot under alias/aws/rds.
            let mut seed = snapshift::testing::SeedSnapshot::cluster(
                args.source_account,
                &args.region,
                args.source_snapshot.id().as_str(),
                "example-db",
                Some("alias/aws/rds"),
            );
            seed.size_gb = 4;
            fake.seed_snapshot(seed)?;
            fake.set_copy_time(Duration::from_millis(250));
            let wait = WaitConfig {
                initial_interval: Duration::from_millis(50),
                max_interval: Duration::from_millis(250),
                heartbeat: Duration::from_millis(500),
                ..WaitConfig::default()
            };
            (
                fake.account(args.source_account).await,
                fake.account(args.target_account).await,
                wait,
            )
        }
    };
    let state_dir = match (&args.state_dir, args.live) {
        (Some(dir), _) => dir.clone(),
        (None, true) => ".snapshift".into(),
        (None, false) => {
            std::env::temp_dir().join(format!("snapshift-example-{}", std::process::id()))
        }
    };

    let mut stack = Stack::new("cross-account-migration")?
        .state_dir(state_dir)
        .wait(wait)
        .progress(Arc::new(progress::Bars::new()));
    let key = ShareableKey::new()
        .alias("snapshift-migration")
        .grant_account(args.target_account)
        .deletion_window_days(7)
        .build()
        .map_err(|e| snapshift::error::Error::key("share-key", e))?;
    let key = stack.add(
        "share-key",
        KeyResource::new(&source, args.region.clone(), key)?,
    )?;
    let mut migration = SnapshotMigration::new(&source, args.source_snapshot.clone())
        .region(args.region.clone())
        .via(&key)
        .to(&target);
    if args.restore {
        migration = migration.restore(RestoreSpec::new("example-db-restored")?);
    }
    let handles = stack.add_migration("example-db", migration)?;

    let preview = stack.preview().await?;
    // R25 first: whether the source and the target have room for the copies.
    if let Some(quota) = preview.changes.iter().find(|c| c.kind == "quota-check") {
        println!("quotas: {}", quota.reason);
        for line in &quota.details {
            println!("  {line}");
        }
        println!();
    }
    println!("{}", preview.render());
    stack.deploy().await?;
    println!();
    if let Some(out) = stack.outputs(&handles.target)? {
        println!("moved:");
        println!("  snapshot  {}", out.arn);
        println!(
            "  key       {}",
            out.kms_key.unwrap_or_else(|| "(unencrypted)".into())
        );
    }
    if let Some(restore) = &handles.restore {
        if let Some(out) = stack.outputs(restore)? {
            println!(
                "  restored  {} (through RDS: the cluster as asked)",
                out.identifier
            );
            for note in out.notes {
                println!("  note      {note}");
            }
        }
    }
    println!();
    if args.keep {
        return Ok(());
    }
    println!("{}", stack.preview_teardown().await?.render());
    let report = stack.teardown().await?;
    println!("torn down:");
    for (resource, what) in &report.removed {
        println!("  {resource}: {what}");
    }
    for resource in &report.kept {
        println!("  {resource}: kept");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
