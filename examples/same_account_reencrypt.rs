//! Re-encrypt a DB snapshot under a new customer managed key in the same account, keeping the original unless asked (on the built-in fake AWS by default).
//!
//! ```sh
//! cargo run --example same_account_reencrypt
//! cargo run --example same_account_reencrypt -- --delete-source
//! cargo run --example same_account_reencrypt -- --live --profile admin --account 111111111111 \
//!     --region ap-northeast-1 --snapshot orders-db-2026-11-23
//! ```
//!
//! Moving a snapshot off `alias/aws/rds` is the first step of any share (R1, R3); a new key
//! also serves key rotation. The copy is a full copy, so it takes time in proportion to the
//! snapshot's size (R21). Teardown keeps the key and the new copy: the copy needs its key.

#[path = "common/progress.rs"]
mod progress;

use std::{process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;
use snapshift::{
    aws::Account,
    engine::{Options, Stack, WaitConfig},
    ids::{AccountId, Region, SnapshotId, SnapshotRef},
    key::ShareableKey,
    migration::SnapshotMigration,
    resources::KeyResource,
};

/// Re-encrypt a DB snapshot under a new key.
#[derive(Debug, Parser)]
#[command(name = "same_account_reencrypt")]
pub struct Args {
    /// Run against AWS with --profile instead of the built-in fake.
    #[arg(long)]
    live: bool,
    /// The profile to use with --live.
    #[arg(long, requires = "live")]
    profile: Option<String>,
    /// The account.
    #[arg(long, default_value = "111111111111")]
    account: AccountId,
    /// The region.
    #[arg(long, default_value = "ap-northeast-1")]
    region: Region,
    /// The DB snapshot identifier.
    #[arg(long, default_value = "orders-db-2026-11-23")]
    snapshot: SnapshotId,
    /// Delete the original once the new copy is available.
    #[arg(long)]
    delete_source: bool,
    /// Where the state file goes (default: `.snapshift` with --live, a temporary directory on
    /// the fake).
    #[arg(long)]
    state_dir: Option<std::path::PathBuf>,
}

/// Runs the example; `main` only parses the arguments and reports errors.
pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let fake = if args.live {
        None
    } else {
        Some(snapshift::testing::FakeAws::start().await)
    };
    let (account, wait) = match &fake {
        None => {
            let account = match &args.profile {
                Some(p) => Account::from_profile(args.account, p).await,
                None => Account::from_env(args.account).await,
            };
            (account, WaitConfig::default())
        }
        Some(fake) => {
            println!(
                "running on the built-in fake AWS at {} (use --live for AWS)\n",
                fake.uri()
            );
            let mut seed = snapshift::testing::SeedSnapshot::db(
                args.account,
                &args.region,
                args.snapshot.as_str(),
                "orders-db",
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
            (fake.account(args.account).await, wait)
        }
    };
    let state_dir = match (&args.state_dir, args.live) {
        (Some(dir), _) => dir.clone(),
        (None, true) => ".snapshift".into(),
        (None, false) => {
            std::env::temp_dir().join(format!("snapshift-example-{}", std::process::id()))
        }
    };

    let mut stack = Stack::new("same-account-reencrypt")?
        .state_dir(state_dir)
        .wait(wait)
        .progress(Arc::new(progress::Bars::new()));
    let key = ShareableKey::new()
        .alias("orders-db-key")
        .build()
        .map_err(|e| snapshift::error::Error::key("key", e))?;
    // The re-encrypted snapshot needs its key for as long as it exists: keep the key (R8).
    let key = stack.add_with(
        "key",
        KeyResource::new(&account, args.region.clone(), key)?,
        Options::new().retain(),
    )?;
    let copy = stack.add_reencryption(
        "orders-db",
        SnapshotMigration::reencrypt(&account, SnapshotRef::db(args.snapshot.clone()))
            .region(args.region.clone())
            .with_key(&key)
            .delete_source(args.delete_source),
    )?;

    println!("{}", stack.preview().await?.render());
    stack.deploy().await?;
    if let Some(out) = stack.outputs(&copy)? {
        println!(
            "\nre-encrypted:\n  snapshot  {}\n  key       {}",
            out.arn,
            out.kms_key.unwrap_or_default()
        );
        if args.delete_source {
            println!("  original  {} deleted, as asked", args.snapshot);
        } else {
            println!("  original  {} kept", args.snapshot);
        }
    }
    let report = stack.teardown().await?;
    println!(
        "\nteardown: {} removed; kept (they need each other): {}",
        report.removed.len(),
        report.kept.join(", ")
    );
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
