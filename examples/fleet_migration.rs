//! Move a fleet of encrypted cluster snapshots to two accounts at the speed AWS's quotas allow, one failure not stopping the rest (on the built-in fake AWS by default).
//!
//! ```sh
//! cargo run --example fleet_migration
//! cargo run --example fleet_migration -- --snapshots 40 --with-bad-snapshot
//! cargo run --example fleet_migration -- --snapshots 60 --manual-quota 100
//! cargo run --example fleet_migration -- --live --profile source-admin --account 111111111111 \
//!     --target 222222222222=target-a --target 333333333333=target-b \
//!     --region ap-northeast-1 --latest-of orders --latest-of billing --tagged migrate=2026-q4
//! ```
//!
//! One stack holds the shareable key and, per snapshot, the re-encrypting copy, a share and
//! a copy in each target. Copies run within AWS's quota per account and region (R19), copies
//! of one source one at a time, with one rate limiter per account and region (R20), and
//! polls planned from each snapshot's size (R21). The manual-snapshot quotas come first
//! (R25): the source and each target are read before any change, a target without room for
//! the copies it keeps stops the run there, and each intermediate copy is deleted with its
//! shares as soon as both targets hold their copy ("released" in the progress), so that at
//! most the source's headroom is alive at once. A snapshot that fails on its own (R22)
//! does not stop the others; each one not done names the error that held it back, the
//! example exits non-zero, and a run again retries only what is not done. New keys and roles
//! that AWS does not know yet for a few seconds are waited for (R26).

#[path = "common/progress.rs"]
mod progress;

use std::{process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;
use snapshift::{
    aws::Account,
    engine::{Stack, WaitConfig},
    error::Error,
    fleet::{FleetMigration, OutcomeStatus},
    ids::{AccountId, ClusterId, Region, SnapshotRef},
};

/// Move a fleet of snapshots.
#[derive(Debug, Parser)]
#[command(name = "fleet_migration")]
pub struct Args {
    /// Run against AWS with --profile instead of the built-in fake.
    #[arg(long)]
    live: bool,
    /// The source account's profile with --live.
    #[arg(long, requires = "live")]
    profile: Option<String>,
    /// The source account.
    #[arg(long, default_value = "111111111111")]
    account: AccountId,
    /// A target account and, with --live, its profile: `ACCOUNT=PROFILE` (repeat).
    #[arg(long = "target", default_values = ["222222222222", "333333333333"])]
    targets: Vec<String>,
    /// The region.
    #[arg(long, default_value = "ap-northeast-1")]
    region: Region,
    /// Move the newest snapshot of this cluster (repeat).
    #[arg(long = "latest-of")]
    latest_of: Vec<ClusterId>,
    /// Move every manual snapshot with this tag, `KEY=VALUE`.
    #[arg(long)]
    tagged: Option<String>,
    /// Move this snapshot, by ARN (repeat).
    #[arg(long = "snapshot")]
    snapshots: Vec<SnapshotRef>,
    /// On the fake: how many snapshots to seed (sizes 5 to 500 GiB).
    #[arg(long = "snapshots", default_value_t = 12, conflicts_with = "live")]
    seed: usize,
    /// On the fake: the source account's quota of manual cluster snapshots (default 100, as
    /// in AWS; R25).
    #[arg(long, conflicts_with = "live")]
    manual_quota: Option<usize>,
    /// On the fake: add a snapshot with a reserved `aws:` tag, which fails to copy (R22).
    #[arg(long, conflicts_with = "live")]
    with_bad_snapshot: bool,
    /// Leave everything deployed (no teardown).
    #[arg(long)]
    keep: bool,
    /// Where the state file goes (default: `.snapshift` with --live, a temporary directory on
    /// the fake).
    #[arg(long)]
    state_dir: Option<std::path::PathBuf>,
}

fn target_of(spec: &str) -> Result<(AccountId, Option<String>), Box<dyn std::error::Error>> {
    let (account, profile) = match spec.split_once('=') {
        Some((a, p)) => (a, Some(p.to_owned())),
        None => (spec, None),
    };
    Ok((account.parse()?, profile))
}

/// Runs the example; `main` only parses the arguments and reports errors.
pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let fake = if args.live {
        None
    } else {
        Some(snapshift::testing::FakeAws::start().await)
    };
    let mut fleet_refs = args.snapshots.clone();
    let (source, targets, wait) = match &fake {
        None => {
            let source = match &args.profile {
                Some(p) => Account::from_profile(args.account, p).await,
                None => Account::from_env(args.account).await,
            };
            let mut targets = Vec::new();
            for spec in &args.targets {
                let (id, profile) = target_of(spec)?;
                targets.push(match profile {
                    Some(p) => Account::from_profile(id, &p).await,
                    None => Account::from_env(id).await,
                });
            }
            (source, targets, WaitConfig::default())
        }
        Some(fake) => {
            println!(
                "running on the built-in fake AWS at {} (use --live for AWS)\n",
                fake.uri()
            );
            // 1 simulated GiB copies in 2 ms: a 500 GiB snapshot takes a second.
            fake.set_copy_time(Duration::from_millis(2));
            for i in 0..args.seed {
                let size = [500, 20, 120, 5, 260, 60, 35, 340, 10, 80][i % 10];
                let mut seed = snapshift::testing::SeedSnapshot::cluster(
                    args.account,
                    &args.region,
                    &format!("app-{i:03}-2026-11-23"),
                    &format!("app-{i:03}"),
                    Some("alias/aws/rds"),
                );
                seed.size_gb = size;
                fleet_refs.push(fake.seed_snapshot(seed)?.parse()?);
            }
            if args.with_bad_snapshot {
                let mut seed = snapshift::testing::SeedSnapshot::cluster(
                    args.account,
                    &args.region,
                    "legacy-2026-11-23",
                    "legacy",
                    Some("alias/aws/rds"),
                );
                seed.size_gb = 15;
                seed.tags = vec![("aws:cloudformation:stack-name".into(), "legacy".into())];
                fleet_refs.push(fake.seed_snapshot(seed)?.parse()?);
            }
            if let Some(max) = args.manual_quota {
                fake.set_manual_snapshot_quota(
                    args.account,
                    &args.region,
                    snapshift::ids::SnapshotKind::Cluster,
                    max,
                );
            }
            let mut targets = Vec::new();
            for spec in &args.targets {
                targets.push(fake.account(target_of(spec)?.0).await);
            }
            let wait = WaitConfig {
                initial_interval: Duration::from_millis(20),
                max_interval: Duration::from_millis(200),
                heartbeat: Duration::from_millis(1000),
                copy_mib_per_second: 512 * 1024,
                calls_per_second: 500,
                ..WaitConfig::default()
            };
            (fake.account(args.account).await, targets, wait)
        }
    };
    let state_dir = match (&args.state_dir, args.live) {
        (Some(dir), _) => dir.clone(),
        (None, true) => ".snapshift".into(),
        (None, false) => {
            std::env::temp_dir().join(format!("snapshift-example-{}", std::process::id()))
        }
    };

    let mut fleet = FleetMigration::new(&source, args.region.clone()).snapshots(fleet_refs);
    for cluster in &args.latest_of {
        fleet = fleet.latest_of_cluster(cluster.clone());
    }
    if let Some(tag) = &args.tagged {
        let (k, v) = tag.split_once('=').ok_or("--tagged takes KEY=VALUE")?;
        fleet = fleet.tagged(k, v);
    }
    for target in &targets {
        fleet = fleet.to(target);
    }
    let fleet = fleet.resolve().await?;
    let (count, total): (usize, u64) = (
        fleet.snapshots().len(),
        fleet.snapshots().iter().map(|s| u64::from(s.size_gb)).sum(),
    );

    let mut stack = Stack::new("fleet-migration")?
        .state_dir(state_dir)
        .wait(wait)
        .progress(Arc::new(progress::Bars::new()));
    let handles = stack.add_fleet("fleet", fleet)?;
    let preview = stack.preview().await?;
    // R25 first: the manual-snapshot quota of every account, and whether it has room.
    if let Some(quota) = preview.changes.iter().find(|c| c.kind == "quota-check") {
        println!("quotas: {}", quota.reason);
        for line in &quota.details {
            println!("  {line}");
        }
    }
    println!(
        "{count} snapshots, {total} GiB, to {} accounts",
        targets.len()
    );
    // The full table has a row per resource; its last line sums it up.
    println!(
        "plan: {}\n",
        preview.render().lines().last().unwrap_or_default()
    );

    let started = std::time::Instant::now();
    let report = match stack.deploy().await {
        Ok(report) => report,
        Err(Error::Incomplete { report }) => *report,
        Err(e) => return Err(e.into()),
    };
    println!("\nafter {:.1?}:", started.elapsed());
    let outcomes = handles.outcomes(&report)?;
    let done = outcomes
        .iter()
        .filter(|o| matches!(o.status, OutcomeStatus::Done(_)))
        .count();
    for outcome in outcomes
        .iter()
        .filter(|o| !matches!(o.status, OutcomeStatus::Done(_)))
    {
        println!("  {outcome}");
    }
    println!("  {done} of {} copies in place", outcomes.len());
    if let Some(fake) = &fake {
        let kind = snapshift::ids::SnapshotKind::Cluster;
        println!(
            "  the source held at most {} manual cluster snapshots at once (quota {}); {} now",
            fake.peak_manual_snapshots(args.account, &args.region, kind),
            args.manual_quota
                .unwrap_or(snapshift::testing::DEFAULT_MANUAL_SNAPSHOT_QUOTA),
            fake.manual_snapshot_count(args.account, &args.region, kind)
        );
    }
    if !report.is_complete() {
        println!("  run again to retry what is not done; what is done is not redone");
    }
    // A batch with anything not done is a failure for whoever runs it (a CI job, a script).
    let outcome = if done == outcomes.len() && report.is_complete() {
        Ok(())
    } else if done == outcomes.len() {
        // Every copy is in place; what failed is a release (R25) or a check.
        for (resource, error) in &report.failed {
            println!("  {resource}: {error}");
        }
        Err(format!(
            "every copy is in place, but {} step(s) failed (above); run again to finish them",
            report.failed.len()
        ))
    } else {
        Err(format!(
            "{} of {} copies are not in place (each says why above); run again to retry them",
            outcomes.len() - done,
            outcomes.len()
        ))
    };

    if args.keep {
        println!("\n--keep: left deployed; tear down later with the same definition");
        return Ok(outcome?);
    }
    let teardown = stack.teardown().await?;
    println!(
        "\nteardown: {} steps; the copies in the targets are kept ({} resources)",
        teardown.removed.len(),
        teardown.kept.len()
    );
    Ok(outcome?)
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
