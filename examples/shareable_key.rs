//! Deploy a shareable KMS key with its alias and policy, show its outputs, then tear it down (on the built-in fake AWS by default).
//!
//! ```sh
//! cargo run --example shareable_key                       # the fake AWS, no credentials
//! cargo run --example shareable_key -- --live --profile admin --account 111111111111 \
//!     --region ap-northeast-1 --grant 999999999999
//! ```
//!
//! It prints the plan, deploys, prints the key's outputs, prints the teardown plan, tears down
//! (the key is scheduled for deletion, never deleted at once: R23) and prints what was
//! removed. The state file goes to `--state-dir`: by default `.snapshift` with `--live`, and a
//! fresh temporary directory on the fake, so that a fake run never touches a live state file.

use std::process::ExitCode;

use clap::Parser;
use snapshift::{
    aws::Account,
    engine::{Stack, WaitConfig},
    ids::{AccountId, PrincipalArn, Region},
    key::ShareableKey,
    resources::KeyResource,
};

/// Deploy and tear down a shareable KMS key.
#[derive(Debug, Parser)]
#[command(name = "shareable_key")]
pub struct Args {
    /// Run against AWS with --profile instead of the built-in fake.
    #[arg(long)]
    live: bool,
    /// The named profile to use with --live.
    #[arg(long, requires = "live")]
    profile: Option<String>,
    /// The account that owns the key (checked against the credentials before any change).
    #[arg(long, default_value = "111111111111")]
    account: AccountId,
    /// The key's region.
    #[arg(long, default_value = "ap-northeast-1")]
    region: Region,
    /// An account that may use the key (repeatable).
    #[arg(long = "grant", default_value = "999999999999")]
    grants: Vec<AccountId>,
    /// An IAM user or role of the owner account that administers the key (repeatable).
    #[arg(long = "admin")]
    admins: Vec<PrincipalArn>,
    /// The key's alias.
    #[arg(long, default_value = "snapshift-example-share")]
    alias: String,
    /// Days the key waits in PendingDeletion after teardown (7 to 30).
    #[arg(long, default_value_t = 7)]
    deletion_window: u32,
    /// Where the state file goes (default: `.snapshift` with --live, a temporary directory on
    /// the fake).
    #[arg(long)]
    state_dir: Option<std::path::PathBuf>,
    /// Deploy only; keep the key (tear it down later with --teardown-only).
    #[arg(long, conflicts_with = "teardown_only")]
    keep: bool,
    /// Tear down a key deployed earlier with --keep.
    #[arg(long)]
    teardown_only: bool,
}

/// Runs the example; `main` only parses the arguments and reports errors.
pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // The fake lives as long as this function: keep it bound.
    let (_fake, account) = if args.live {
        let account = match &args.profile {
            Some(profile) => Account::from_profile(args.account, profile).await,
            None => Account::from_env(args.account).await,
        };
        (None, account)
    } else {
        let fake = snapshift::testing::FakeAws::start().await;
        let account = fake.account(args.account).await;
        println!(
            "running on the built-in fake AWS at {} (use --live for AWS)\n",
            fake.uri()
        );
        (Some(fake), account)
    };

    let mut key = ShareableKey::new()
        .alias(&args.alias)
        .deletion_window_days(args.deletion_window);
    for admin in args.admins {
        key = key.admin(admin);
    }
    for grant in args.grants {
        key = key.grant_account(grant);
    }
    let key = key.build()?;

    let state_dir = match (&args.state_dir, args.live) {
        (Some(dir), _) => dir.clone(),
        (None, true) => ".snapshift".into(),
        (None, false) => {
            std::env::temp_dir().join(format!("snapshift-example-{}", std::process::id()))
        }
    };
    // On the fake, short pauses; against AWS, the defaults (R5, R26).
    let wait = if args.live {
        WaitConfig::default()
    } else {
        WaitConfig::fast()
    };
    let mut stack = Stack::new("shareable-key-example")?
        .state_dir(state_dir)
        .wait(wait);
    let handle = stack.add("share-key", KeyResource::new(&account, args.region, key)?)?;

    if !args.teardown_only {
        println!("{}", stack.preview().await?.render());
        stack.deploy().await?;
        if let Some(outputs) = stack.outputs(&handle)? {
            println!("deployed:");
            println!("  key id   {}", outputs.key_id);
            println!("  key ARN  {}", outputs.key_arn);
            if let Some(alias) = outputs.alias {
                println!("  alias    {alias}");
            }
            println!("  state    {}\n", stack.state_path().display());
        }
        if args.keep {
            return Ok(());
        }
    }

    println!("{}", stack.preview_teardown().await?.render());
    let report = stack.teardown().await?;
    println!("torn down:");
    for (resource, what) in &report.removed {
        println!("  {resource}: {what}");
    }
    for resource in &report.kept {
        println!("  {resource}: kept (retained)");
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
