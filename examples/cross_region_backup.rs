//! Back up an Aurora cluster with AWS Backup and copy it to another region under a key you choose, with the way back for disaster recovery (on the built-in fake AWS by default).
//!
//! ```sh
//! cargo run --example cross_region_backup
//! cargo run --example cross_region_backup -- --dr-restore
//! cargo run --example cross_region_backup -- --destination-default-vault   # the R11 trap
//! cargo run --example cross_region_backup -- --live --profile admin --account 111111111111 \
//!     --cluster example-db --subnet-group example-db-subnet-group \
//!     --parameter-group example-db-cluster-pg --run-backup-now
//! ```
//!
//! Aurora has no RDS cross-region automated backups, so the copy goes through AWS Backup
//! (R18). The copy's key is the destination vault's key, never the rule's (R11): the stack
//! makes a multi-region key, puts its replica under the destination vault, and the role AWS
//! Backup assumes gets only what it needs (R15). Teardown deletes a vault only once it is
//! empty; this example deletes the recovery points it made itself, and nothing else.

#[path = "common/progress.rs"]
mod progress;

use std::{process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;
use snapshift::{
    aws::Account,
    backup::{Lifecycle, ProtectedCluster, StartWindow, Windows},
    cross_region::{CrossRegionBackup, RecoveryPointRef, VaultChoice},
    engine::{Stack, WaitConfig},
    error::Error,
    ids::{AccountId, ClusterId, ParameterGroupName, Region, SubnetGroupName},
};

/// Cross-region backup of an Aurora cluster.
#[derive(Debug, Parser)]
#[command(name = "cross_region_backup")]
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
    /// The cluster's region.
    #[arg(long, default_value = "ap-northeast-1")]
    source_region: Region,
    /// The region the copies go to.
    #[arg(long, default_value = "ap-northeast-3")]
    destination_region: Region,
    /// The Aurora cluster.
    #[arg(long, default_value = "example-db")]
    cluster: ClusterId,
    /// Its DB subnet group.
    #[arg(long, default_value = "example-db-subnet-group")]
    subnet_group: SubnetGroupName,
    /// Its DB cluster parameter group.
    #[arg(long, default_value = "example-db-cluster-pg")]
    parameter_group: ParameterGroupName,
    /// Copy into the destination region's `Default` vault instead of a new vault under the
    /// replica key: the copies then land under `alias/aws/rds` (R11).
    #[arg(long)]
    destination_default_vault: bool,
    /// With --live: run an on-demand backup and its copy now (always done on the fake).
    #[arg(long)]
    run_backup_now: bool,
    /// Copy the recovery point back to the source region and restore it as a new cluster
    /// (R17: the cluster only, no instances).
    #[arg(long)]
    dr_restore: bool,
    /// Leave everything deployed (no teardown).
    #[arg(long)]
    keep: bool,
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
            fake.seed_cluster(
                args.account,
                &args.source_region,
                args.cluster.as_str(),
                Some("alias/aws/rds"),
            )?;
            fake.set_backup_job_time(Duration::from_millis(300));
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

    let mut stack = Stack::new("cross-region-backup")?
        .state_dir(state_dir)
        .wait(wait)
        .progress(Arc::new(progress::Bars::new()));
    // seeds/003: every day at 01:00 JST (16:00 UTC), an hour to start, 8 hours to finish,
    // 35 days in both regions.
    let mut backup =
        CrossRegionBackup::new(args.source_region.clone(), args.destination_region.clone())
            .cluster(ProtectedCluster::new(
                args.cluster.clone(),
                args.subnet_group.clone(),
                args.parameter_group.clone(),
            ))
            .schedule("cron(0 16 * * ? *)".parse()?)
            .windows(Windows::new(StartWindow::minutes(60)?, 480)?)
            .lifecycle(Lifecycle::delete_after(35)?)
            .copy_lifecycle(Lifecycle::delete_after(35)?);
    if args.destination_default_vault {
        backup = backup.destination_vault(VaultChoice::Existing("Default".parse()?));
    }
    let handles = stack.add_cross_region_backup("example-db-dr", &account, backup)?;

    let preview = stack.preview().await?;
    println!("{}", preview.render());
    stack.deploy().await?;
    println!("\ndeployed: key and replica, vaults, role, plan and selection");

    let mut made: Vec<RecoveryPointRef> = Vec::new();
    if fake.is_some() || args.run_backup_now || args.dr_restore {
        let point = stack.backup_now(&handles, &args.cluster).await?;
        println!("\nbackup:  {}\n  key    {}", point.arn, point.key_arn);
        made.push(point.clone());
        let copy = stack.copy_to_destination(&handles, &point).await?;
        println!(
            "copy in {}:  {}\n  key    {}",
            copy.region, copy.arn, copy.key_arn
        );
        if let Some(key) = &handles.key {
            let replica = stack
                .outputs(key)?
                .and_then(|k| {
                    k.replicas
                        .into_iter()
                        .find(|r| r.region() == &args.destination_region)
                })
                .map(|r| r.to_string());
            if replica.as_deref() == Some(copy.key_arn.as_str()) {
                println!("  the copy is under the replica key, the destination vault's key (R11)");
            } else {
                println!(
                    "  the copy is NOT under the replica key: the destination vault decides (R11)"
                );
            }
        }
        made.push(copy.clone());
        if args.dr_restore {
            let back = stack.copy_back(&handles, &copy).await?;
            println!("\ndisaster recovery:\n  copied back  {}", back.arn);
            made.push(back.clone());
            let restored_id: ClusterId = format!("{}-restored", args.cluster).parse()?;
            let restored = stack
                .restore_from_backup(&handles, &back, &restored_id, "aurora-mysql")
                .await?;
            println!(
                "  restored     {}\n  note         {}",
                restored.arn, restored.note
            );
        }
    }

    if args.keep {
        println!("\n--keep: left deployed; tear down later with the same definition");
        return Ok(());
    }
    let mut outcome = stack.teardown().await;
    if let Err(e @ Error::VaultNotEmpty { .. }) = &outcome {
        println!("\nteardown stopped: {e}");
        for point in made.iter().rev() {
            if stack.delete_recovery_point(&handles, point).await? {
                println!("  deleted {} (made by this example)", point.arn);
            }
        }
        outcome = stack.teardown().await;
        if let Ok(report) = &outcome {
            println!("teardown, again: {} steps", report.removed.len());
        }
    } else if let Ok(report) = &outcome {
        println!("\nteardown: {} steps", report.removed.len());
    }
    match outcome {
        Ok(_) => Ok(()),
        // R8: a database restored from a recovery point is encrypted under the key (or its
        // replica): the key stays, and the stack keeps its record, until the database is gone.
        Err(e @ Error::KeyInUse { .. }) => {
            println!("\nteardown kept the key: {e}");
            println!("  the restored cluster is yours: delete it when you no longer need it, then tear down again");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
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
