//! The fleet benchmark: N snapshots of mixed sizes to two accounts, through snapshift's
//! scheduler and through a naive baseline, on FakeAws, against the lower bound AWS's limits
//! allow (R19 to R21). Run it with `cargo xtask bench` (release) or, as a smoke run,
//! `cargo test --release --bench fleet -- --smoke`.
//!
//! The simulated world: copies run at 10 GiB a minute (a 500 GiB snapshot takes 50 minutes),
//! 20 copies in flight per account and region, copies of one source one after another.
//! - snapshift runs in real time on a shrunk time base (one simulated second is a fraction of
//!   a millisecond, chosen per N so that a run takes about 15 seconds).
//! - The baseline (sequential, one snapshot after another, a fixed 30-second poll as
//!   `aws rds wait` does) runs on a virtual clock (a paused tokio runtime that FakeAws
//!   follows), so simulated days take seconds.
//!
//! Each run is a child process, so that its peak memory is its own (FakeAws runs in the
//! parent).

use std::{
    process::Command,
    time::{Duration, Instant},
};

use snapshift::{
    aws::{
        kms::{Kms, NewKey},
        rds::{CopyRequest, Rds},
        Account,
    },
    engine::{Stack, WaitConfig},
    error::Error,
    fleet::{FleetMigration, OutcomeStatus},
    ids::{AccountId, Region, SnapshotKind},
    key::ShareableKey,
    testing::{sdk_config_for, FakeAws, SeedSnapshot, VirtualClock},
};

const A: &str = "111111111111";
const TARGETS: [&str; 2] = ["222222222222", "333333333333"];
const QUOTA: usize = 20;
/// Simulated seconds per GiB: 10 GiB a minute.
const SIM_SECS_PER_GIB: f64 = 6.0;
/// The naive baseline's poll.
const BASELINE_POLL: Duration = Duration::from_secs(30);

fn id(s: &str) -> AccountId {
    s.parse().expect("a valid account id")
}

fn region() -> Region {
    "ap-northeast-1".parse().expect("a valid region")
}

/// Sizes between 5 and 500 GiB, the same for every run of one N.
fn sizes(n: usize) -> Vec<u32> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            5 + (x % 496) as u32
        })
        .collect()
}

/// The lower bound in simulated seconds: no snapshot finishes before its copy and its two
/// target copies one after another (copies of one source are queued), and the source
/// account cannot copy faster than its quota allows, after which the last snapshot still
/// needs its target copies.
fn lower_bound(sizes: &[u32]) -> f64 {
    let t: Vec<f64> = sizes
        .iter()
        .map(|s| f64::from(*s) * SIM_SECS_PER_GIB)
        .collect();
    let max = t.iter().copied().fold(0.0, f64::max);
    let min = t.iter().copied().fold(f64::INFINITY, f64::min);
    let sum: f64 = t.iter().sum();
    let chain = (1.0 + TARGETS.len() as f64) * max;
    let load = sum / QUOTA as f64 + TARGETS.len() as f64 * min;
    chain.max(load)
}

/// Real milliseconds per simulated second for a run of about 15 seconds.
fn scale_ms(sizes: &[u32]) -> f64 {
    15_000.0 / lower_bound(sizes)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// What the parent tells a child.
struct Job {
    mode: String,
    uri: String,
    n: usize,
    scale_ms: f64,
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(mode) = arg(&args, "--child") {
        let job = Job {
            mode,
            uri: arg(&args, "--uri").unwrap_or_default(),
            n: arg(&args, "--n").and_then(|n| n.parse().ok()).unwrap_or(10),
            scale_ms: arg(&args, "--scale-ms")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1.0),
        };
        child(job);
        return;
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    let ns: Vec<usize> = match arg(&args, "--n") {
        Some(list) => list.split(',').filter_map(|n| n.parse().ok()).collect(),
        None if smoke => vec![10],
        None => vec![10, 100, 500],
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let mut rows = Vec::new();
    for n in &ns {
        rows.push(runtime.block_on(measure(*n, smoke)));
    }
    let table = render(&rows);
    println!("{table}");
    if let Some(path) = arg(&args, "--record") {
        std::fs::write(&path, performance_md(&table)).expect("docs/performance.md written");
        println!("recorded in {path}");
    }
    let failed: Vec<&Row> = rows.iter().filter(|r| !r.meets(smoke)).collect();
    if !failed.is_empty() {
        eprintln!(
            "targets missed for N = {:?}",
            failed.iter().map(|r| r.n).collect::<Vec<_>>()
        );
        std::process::exit(1);
    }
}

/// One N's figures.
#[derive(Debug, Default)]
struct Row {
    n: usize,
    lower_bound: f64,
    ours: f64,
    ours_throttled: f64,
    baseline: f64,
    calls_per_snapshot: f64,
    describes_per_copy: f64,
    throttled_seen: usize,
    failed: usize,
    peak_kib: u64,
}

impl Row {
    fn meets(&self, smoke: bool) -> bool {
        let makespan_ok = smoke || self.n < 100 || self.ours / self.lower_bound <= 1.10;
        let throttled_ok = smoke || self.n < 100 || self.ours_throttled / self.lower_bound <= 1.25;
        makespan_ok && throttled_ok && self.describes_per_copy <= 12.0 && self.failed == 0
    }
}

/// What a child reports: makespan in simulated seconds, snapshots not done, peak memory.
fn run_child(job: &Job) -> (f64, usize, u64) {
    let exe = std::env::current_exe().expect("the bench binary");
    let out = Command::new(exe)
        .args([
            "--child",
            &job.mode,
            "--uri",
            &job.uri,
            "--n",
            &job.n.to_string(),
            "--scale-ms",
            &job.scale_ms.to_string(),
        ])
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in String::from_utf8_lossy(&out.stderr).lines().filter(|l| {
        l.starts_with("failed: ") || l.starts_with("trace ") || l.contains("run failed")
    }) {
        eprintln!("N = {}, {}: {line}", job.n, job.mode);
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("result "))
        .unwrap_or_else(|| {
            panic!(
                "{} child for N = {} gave no result: {}",
                job.mode,
                job.n,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let mut parts = line.split_whitespace().skip(1);
    let mut next = || parts.next().unwrap_or("0").to_owned();
    (
        next().parse().unwrap_or(f64::NAN),
        next().parse().unwrap_or(usize::MAX),
        next().parse().unwrap_or(0),
    )
}

async fn fake_with(n: usize) -> FakeAws {
    let fake = FakeAws::start().await;
    for account in std::iter::once(A).chain(TARGETS) {
        fake.access_key(id(account));
    }
    for (i, size) in sizes(n).into_iter().enumerate() {
        let mut seed = SeedSnapshot::cluster(
            id(A),
            &region(),
            &format!("db-{i:04}-2026-11-23"),
            &format!("db-{i:04}"),
            Some("alias/aws/rds"),
        );
        seed.size_gb = size;
        fake.seed_snapshot(seed).expect("seeded");
    }
    fake.set_copy_quota(QUOTA);
    fake
}

async fn measure(n: usize, smoke: bool) -> Row {
    let sizes = sizes(n);
    let lower_bound = lower_bound(&sizes);
    let scale = scale_ms(&sizes) * if smoke { 0.2 } else { 1.0 };
    let per_gib = Duration::from_secs_f64(SIM_SECS_PER_GIB * scale / 1000.0);
    let mut row = Row {
        n,
        lower_bound,
        ..Row::default()
    };

    // snapshift, in real time on the shrunk time base.
    let fake = fake_with(n).await;
    fake.set_copy_time(per_gib);
    let job = |mode: &str, uri: String| Job {
        mode: mode.into(),
        uri,
        n,
        scale_ms: scale,
    };
    let (ours, failed, peak) = run_child(&job("ours", fake.uri()));
    let calls = fake.calls();
    let copies = (1 + TARGETS.len()) * n;
    row.ours = ours;
    row.failed = failed;
    row.peak_kib = peak;
    row.calls_per_snapshot = calls.len() as f64 / n as f64;
    row.describes_per_copy = calls
        .iter()
        .filter(|c| c.operation == "DescribeDBClusterSnapshots")
        .count() as f64
        / copies as f64;
    drop(fake);

    // The same under a fifth of the calls throttled (R20).
    if !smoke {
        let fake = fake_with(n).await;
        fake.set_copy_time(per_gib);
        fake.set_throttling(0.2);
        let (throttled, failed, _) = run_child(&job("ours", fake.uri()));
        row.ours_throttled = throttled;
        row.failed += failed;
        row.throttled_seen = fake.throttled();
    }

    // The naive baseline, on the virtual clock.
    let fake = fake_with(n).await;
    fake.follow_request_clock();
    fake.set_copy_time(Duration::from_secs_f64(SIM_SECS_PER_GIB));
    let (baseline, failed, _) = run_child(&job("baseline", fake.uri()));
    row.baseline = baseline;
    row.failed += failed;
    row
}

fn child(job: Job) {
    let result = match job.mode.as_str() {
        "baseline" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("a paused runtime")
            .block_on(baseline(&job)),
        _ => tokio::runtime::Runtime::new()
            .expect("a runtime")
            .block_on(ours(&job)),
    };
    let (makespan, not_done) = result.unwrap_or_else(|e| {
        eprintln!("{} run failed: {e}", job.mode);
        (f64::NAN, job.n)
    });
    println!("result {makespan} {not_done} {}", peak_rss_kib());
}

async fn account(uri: &str, account: &str, clock: Option<VirtualClock>) -> Account {
    let key = format!("AKIAFAKE{account}");
    Account::from_config(id(account), sdk_config_for(uri, &key, clock).await)
}

/// snapshift: one stack, the fleet to two accounts. Returns the makespan in simulated seconds
/// and how many snapshot-target pairs are not done.
async fn ours(job: &Job) -> Result<(f64, usize), Error> {
    let source = account(&job.uri, A, None).await;
    let mut targets = Vec::new();
    for t in TARGETS {
        targets.push(account(&job.uri, t, None).await);
    }
    let ms = |sim_secs: f64| Duration::from_secs_f64(sim_secs * job.scale_ms / 1000.0);
    let dir = std::env::temp_dir().join(format!("snapshift-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let started = Instant::now();
    let mut fleet = FleetMigration::new(&source, region()).snapshots((0..job.n).map(|i| {
        format!("arn:aws:rds:ap-northeast-1:{A}:cluster-snapshot:db-{i:04}-2026-11-23")
            .parse()
            .expect("an ARN")
    }));
    for t in &targets {
        fleet = fleet.to(t);
    }
    let fleet = fleet.resolve().await?;
    let mut stack = Stack::new("bench")?.state_dir(&dir).wait(WaitConfig {
        initial_interval: ms(30.0),
        max_interval: ms(600.0),
        timeout: Duration::from_secs(3600),
        heartbeat: Duration::from_secs(3600),
        calls_per_second: 200,
        copy_quota: QUOTA,
        // A first guess half the real speed (5 GiB a minute): measured copies take over.
        copy_mib_per_second: ((5.0 * 1024.0 / 60.0) / (job.scale_ms / 1000.0)) as u32,
    });
    if let Ok(filter) = std::env::var("BENCH_TRACE") {
        stack = stack.progress(std::sync::Arc::new(Trace {
            filter,
            start: started,
            scale_ms: job.scale_ms,
        }));
    }
    let handles = stack.add_fleet("bench", fleet)?;
    let report = match stack.deploy().await {
        Ok(report) => report,
        Err(Error::Incomplete { report }) => *report,
        Err(e) => return Err(e),
    };
    let makespan = started.elapsed().as_secs_f64() * 1000.0 / job.scale_ms;
    for (resource, error) in report.failed.iter().take(3) {
        eprintln!("failed: {resource}: {error}");
    }
    if !report.skipped.is_empty() {
        eprintln!(
            "failed: {} skipped, e.g. {:?}",
            report.skipped.len(),
            report.skipped.first()
        );
    }
    let not_done = handles
        .outcomes(&report)?
        .iter()
        .filter(|o| !matches!(o.status, OutcomeStatus::Done(_)))
        .count();
    let _ = std::fs::remove_dir_all(&dir);
    Ok((makespan, not_done))
}

/// Prints the progress events of the resources whose name contains `filter`, in simulated
/// minutes (`BENCH_TRACE=<filter>`), to see where a run's time goes.
struct Trace {
    filter: String,
    start: Instant,
    scale_ms: f64,
}

impl snapshift::engine::Progress for Trace {
    fn event(&self, event: &snapshift::engine::ProgressEvent) {
        let text = format!("{event:?}");
        if text.contains(&self.filter) {
            let minutes = self.start.elapsed().as_secs_f64() * 1000.0 / self.scale_ms / 60.0;
            eprintln!(
                "trace {minutes:7.1} min {}",
                text.chars().take(160).collect::<String>()
            );
        }
    }
}

/// The naive baseline: one snapshot after another; copy, poll every 30 seconds, share, copy
/// into each target, poll. Returns the makespan in simulated seconds.
async fn baseline(job: &Job) -> Result<(f64, usize), Error> {
    let clock = VirtualClock::start();
    let source = account(&job.uri, A, Some(clock.clone())).await;
    let mut targets = Vec::new();
    for t in TARGETS {
        targets.push(account(&job.uri, t, Some(clock.clone())).await);
    }
    let aws = |e: snapshift::aws::AwsError| Error::Aws {
        resource: "baseline".into(),
        source: Box::new(e),
    };
    let started = tokio::time::Instant::now();
    let mut key = ShareableKey::new();
    for t in TARGETS {
        key = key.grant_account(id(t));
    }
    let policy = key
        .build()
        .map_err(|e| Error::key("baseline", e))?
        .key_policy(id(A))
        .map_err(|e| Error::key("baseline", e))?
        .to_json();
    let key = Kms::new(&source, &region())
        .create_key(&NewKey {
            policy: &policy,
            description: "baseline",
            multi_region: false,
            tags: &[],
        })
        .await
        .map_err(aws)?
        .arn
        .to_string();
    let rds = Rds::new(&source, &region());
    let kind = SnapshotKind::Cluster;
    let wait = |rds: Rds, id: String| async move {
        loop {
            let info = rds.describe_snapshot(kind, &id).await.map_err(aws)?;
            if info.as_ref().is_some_and(|i| i.is_available()) {
                return Ok::<_, Error>(info);
            }
            tokio::time::sleep(BASELINE_POLL).await;
        }
    };
    for i in 0..job.n {
        let source_id = format!("db-{i:04}-2026-11-23");
        let copy_id = format!("{source_id}-share");
        rds.copy_snapshot(
            kind,
            &CopyRequest {
                source: &source_id,
                target: &copy_id,
                kms_key: Some(&key),
                ..CopyRequest::default()
            },
        )
        .await
        .map_err(aws)?;
        let copy = wait(rds.clone(), copy_id.clone())
            .await?
            .map(|c| c.arn)
            .unwrap_or_default();
        for t in &targets {
            rds.set_shared(kind, &copy_id, t.id(), true)
                .await
                .map_err(aws)?;
        }
        for t in &targets {
            let there = Rds::new(t, &region());
            there
                .copy_snapshot(
                    kind,
                    &CopyRequest {
                        source: &copy,
                        target: &source_id,
                        kms_key: Some("alias/aws/rds"),
                        ..CopyRequest::default()
                    },
                )
                .await
                .map_err(aws)?;
            wait(there, source_id.clone()).await?;
        }
    }
    Ok((started.elapsed().as_secs_f64(), 0))
}

fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "|   N | lower bound | snapshift | ratio | with 20 % throttled | ratio | baseline | baseline / snapshift | calls per snapshot | Describe per copy | throttled, retried | failed | peak memory |\n\
         |----:|------------:|----------:|------:|--------------------:|------:|---------:|---------------------:|-------------------:|------------------:|-------------------:|-------:|------------:|\n",
    );
    let h = |secs: f64| format!("{:.2} h", secs / 3600.0);
    for r in rows {
        let throttled = if r.ours_throttled > 0.0 {
            (
                h(r.ours_throttled),
                format!("{:.3}", r.ours_throttled / r.lower_bound),
            )
        } else {
            ("-".into(), "-".into())
        };
        out += &format!(
            "| {} | {} | {} | {:.3} | {} | {} | {} | {:.1}x | {:.1} | {:.1} | {} | {} | {} MiB |\n",
            r.n,
            h(r.lower_bound),
            h(r.ours),
            r.ours / r.lower_bound,
            throttled.0,
            throttled.1,
            h(r.baseline),
            r.baseline / r.ours,
            r.calls_per_snapshot,
            r.describes_per_copy,
            r.throttled_seen,
            r.failed,
            r.peak_kib / 1024,
        );
    }
    if let (Some(small), Some(large)) = (
        rows.iter().find(|r| r.n == 100),
        rows.iter().find(|r| r.n == 500),
    ) {
        let per = (large.peak_kib as f64 - small.peak_kib as f64) / 400.0;
        out +=
            &format!("\nPeak memory grows by {per:.1} KiB per snapshot from N = 100 to N = 500.\n");
    }
    out
}

fn performance_md(table: &str) -> String {
    format!(
        "# Performance\n\n\
         Measured by `cargo xtask bench --record` (`cargo bench --bench fleet`), which \
         moves N snapshots of mixed sizes (5 to 500 GiB) from one account to two, through \
         snapshift and through a naive baseline (one snapshot after another, polling every 30 \
         seconds as `aws rds wait` does), on FakeAws.\n\n\
         The simulated world: copies run at 10 GiB a minute, at most 20 in flight per account \
         and region (R19), copies of one source one after another. Times are simulated hours. \
         The lower bound: no snapshot is done before its copy and its two target copies, one \
         after another; and the source account cannot copy faster than its quota allows \
         (sum of copy times / 20), after which the last snapshot still needs its two target \
         copies. snapshift runs in real time on a shrunk time base; the baseline on a virtual \
         clock. Peak memory is the child process's (FakeAws runs in the parent).\n\n{table}"
    )
}
