//! The fleet benchmark: N snapshots of mixed sizes to two accounts, through snapshift's
//! scheduler and through a naive baseline, on FakeAws, against the lower bound AWS's limits
//! allow (R19 to R21). Run it with `cargo xtask bench` (release) or, as a smoke run,
//! `cargo test --release --bench fleet -- --smoke`.
//!
//! The simulated world: copies run at 10 GiB a minute (a 500 GiB snapshot takes 50 minutes),
//! 20 copies in flight per account and region, copies of one source one after another.
//! - Both runs, snapshift and the baseline (sequential, one snapshot after another, a fixed
//!   30-second poll as `aws rds wait` does), run on a virtual clock: a paused tokio runtime
//!   whose time FakeAws follows, held still while a request is on the wire, plus a modelled
//!   round trip of 200 ms per call (`testing::VirtualClock`). Simulated days take seconds, and
//!   the figures do not depend on the machine; the real time each run took is printed too.
//!
//! Each run is a child process, so that its peak memory is its own (FakeAws runs in the
//! parent). The lower bound is explained in `lower_bound` and in `docs/performance.md`.

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
/// The modelled round trip of one API call.
const LATENCY: Duration = Duration::from_millis(200);

mod lp;

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

/// The simple lower bound in simulated seconds: no snapshot finishes before its copy and its
/// two target copies one after another (copies of one source are queued), and the source
/// account cannot copy faster than its quota allows, after which the last snapshot still
/// needs its target copies.
fn simple_bound(sizes: &[u32]) -> f64 {
    let t = copy_times(sizes);
    let max = t.iter().copied().fold(0.0, f64::max);
    let min = t.iter().copied().fold(f64::INFINITY, f64::min);
    let sum: f64 = t.iter().sum();
    let chain = (1.0 + TARGETS.len() as f64) * max;
    let load = sum / QUOTA as f64 + TARGETS.len() as f64 * min;
    chain.max(load)
}

fn copy_times(sizes: &[u32]) -> Vec<f64> {
    sizes
        .iter()
        .map(|s| f64::from(*s) * SIM_SECS_PER_GIB)
        .collect()
}

/// The combinatorial bound in simulated seconds: the largest of the energetic bound and the
/// two idle bounds.
fn combinatorial_bound(sizes: &[u32]) -> f64 {
    let t = copy_times(sizes);
    let energetic = energetic_bound(sizes);
    let targets = TARGETS.len() as f64;
    let by_targets = idle_bound(&t, energetic, targets, targets * QUOTA as f64, target_idle);
    let by_source = idle_bound(&t, energetic, 1.0, QUOTA as f64, source_idle);
    by_targets.max(by_source)
}

/// The lower bound in simulated seconds: the combinatorial bound, raised by the linear
/// relaxation (`lp.rs`) where that proves more, and what the relaxation proved.
fn lower_bound(sizes: &[u32]) -> (f64, Option<f64>) {
    let combinatorial = combinatorial_bound(sizes);
    let linear = lp::bound(&copy_times(sizes), QUOTA as f64, combinatorial);
    (linear.unwrap_or(combinatorial), linear)
}

/// How much a run that ends by `end` must idle, in slot-seconds, within the first `w`
/// seconds, averaged over them (`w <= end`), in the two target accounts together.
///
/// Each account finishes its share of the work no earlier than (work + idle) / 20, so the
/// idle a run cannot avoid lengthens it. A target account can only copy a snapshot whose
/// source copy is done, and the source account's 20 slots are all it has: at any moment,
/// what a target account has done or is doing is at most what the source account has
/// finished, which is at most 20 x (time so far) minus the part of the copies the source
/// account is in the middle of. So each target account's idle so far is at least the
/// source's copies' elapsed part plus the remainder of its own copies in flight, plus, for
/// the account that waits for a copy running in the other one (copies of one source go one
/// after another), that copy's whole size. Every such term is a copy's elapsed or remaining
/// time while it runs, so its integral over the run is fixed by the size; within `[0, w]`
/// it is least when the copy runs as late as `end` allows (source copy by `end - 2t`,
/// first target copy by `end - t`, second by `end`). The idle so far is never less than
/// its average, and it only grows.
fn target_idle(t: &[f64], end: f64, w: f64) -> f64 {
    // Both target accounts count the source copy's elapsed part.
    windowed(t, end, w, |x, [source, first, second]| {
        source * source
            + (2.0 * x * first - first * first / 2.0)
            + (x * second - second * second / 2.0)
    })
}

/// The average over `[0, w]` of `term` summed over the snapshots: `term(t, parts)` is one
/// snapshot's integral given how much of each of its three copies, run back to back as late
/// as `end` allows (the last ending at `end`), falls within `[0, w]`.
fn windowed(t: &[f64], end: f64, w: f64, term: fn(f64, [f64; 3]) -> f64) -> f64 {
    let part = |start: f64, x: f64| (w - start).clamp(0.0, x);
    let integral: f64 = t
        .iter()
        .map(|&x| {
            let parts = [
                part(end - 3.0 * x, x),
                part(end - 2.0 * x, x),
                part(end - x, x),
            ];
            term(x, parts)
        })
        .sum();
    integral / w
}

/// The same for the source account, in the last `w` seconds of a run that ends by `end`:
/// seen backwards in time, the source account can only copy a snapshot once both of its
/// target copies are done, and the target accounts' 40 slots are all they have, so the
/// source account idles at least the remainder of its copies in flight plus half of what
/// the target accounts have spent on snapshots whose two target copies are not both done.
fn source_idle(t: &[f64], end: f64, w: f64) -> f64 {
    windowed(t, end, w, |x, [last, other, copy]| {
        last * last / 4.0 + (x * other + other * other / 2.0) / 2.0 + (x * copy - copy * copy / 2.0)
    })
}

/// Raises `known` (a lower bound already proven) by the idle bound: a run that ends by
/// `end` does each account's work `sum(t)` in 20 slots around its idle, so in the two
/// target accounts together `40 end >= 2 sum(t) + target idle` and in the source account
/// `20 end >= sum(t) + source idle`. For each window `w` no longer than what is already
/// proven, the condition only gets easier as `end` grows, so bisection finds the least
/// `end` meeting it, which every run must reach; the largest over the windows is proven,
/// which allows longer windows, until nothing rises by more than a second.
fn idle_bound(
    t: &[f64],
    known: f64,
    accounts: f64,
    slots: f64,
    idle: fn(&[f64], f64, f64) -> f64,
) -> f64 {
    const WINDOWS: usize = 200;
    let sum: f64 = t.iter().sum();
    let holds = |end: f64, w: f64| slots * end >= accounts * sum + idle(t, end, w) - 1e-6;
    let mut proven = known;
    for _ in 0..100 {
        let mut raised = proven;
        for k in 1..=WINDOWS {
            let w = proven * k as f64 / WINDOWS as f64;
            if holds(proven, w) {
                continue;
            }
            let (mut low, mut high) = (proven, 2.0 * proven);
            while !holds(high, w) {
                low = high;
                high *= 2.0;
            }
            while high - low > 0.5 {
                let mid = (low + high) / 2.0;
                if holds(mid, w) {
                    high = mid;
                } else {
                    low = mid;
                }
            }
            // `low` fails, so every run ends later.
            raised = raised.max(low);
        }
        if raised <= proven + 1.0 {
            return raised;
        }
        proven = raised;
    }
    proven
}

/// The energetic bound in simulated seconds: the simple bound, raised by energetic reasoning
/// where that proves more. A run that ends by `T` must, in the source account, finish each
/// snapshot's copy by `T - 2t` (its two target copies follow it, one after another), so in
/// any interval `[0, b]` the source's 20 slots must do at least `t - max(0, T - 2t - b)` of
/// each copy; and in the target accounts (40 slots, each snapshot's two copies one after the
/// other and not before `t`), any interval `[a, T]` must hold at least
/// `2t - max(0, a - t)` of each snapshot's target copies. The smallest `T` that overloads no
/// such interval is a lower bound.
fn energetic_bound(sizes: &[u32]) -> f64 {
    let t = copy_times(sizes);
    let targets = TARGETS.len() as f64;
    let fits = |end: f64| -> bool {
        // Source account, intervals [0, b]: the slack is piecewise linear in b, so its
        // least values lie at the breakpoints, each copy's deadline and latest start.
        let deadline = |x: f64| end - targets * x;
        let source_ok = t
            .iter()
            .flat_map(|&x| [deadline(x), deadline(x) - x])
            .all(|b| {
                if b <= 0.0 {
                    return false;
                }
                let need: f64 = t
                    .iter()
                    .map(|&x| (x - (deadline(x) - b).max(0.0)).max(0.0))
                    .sum();
                need <= QUOTA as f64 * b + 1e-6
            });
        // Target accounts, intervals [a, T]: breakpoints at each release and at the release
        // plus both copies.
        let target_ok = t
            .iter()
            .flat_map(|&x| [x, (1.0 + targets) * x])
            .filter(|&a| a < end)
            .all(|a| {
                let need: f64 = t
                    .iter()
                    .map(|&x| (targets * x - (a - x).max(0.0)).max(0.0))
                    .sum();
                need <= targets * QUOTA as f64 * (end - a) + 1e-6
            });
        source_ok && target_ok
    };
    let simple = simple_bound(sizes);
    if fits(simple) {
        return simple;
    }
    let (mut low, mut high) = (simple, 2.0 * simple);
    while high - low > 1.0 {
        let mid = (low + high) / 2.0;
        if fits(mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    high
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
        };
        child(job);
        return;
    }
    let smoke = args.iter().any(|a| a == "--smoke");
    let bounds_only = args.iter().any(|a| a == "--bounds");
    let ns: Vec<usize> = match arg(&args, "--n") {
        Some(list) => list.split(',').filter_map(|n| n.parse().ok()).collect(),
        None if smoke => vec![10],
        None => vec![10, 100, 500],
    };
    if bounds_only {
        for n in &ns {
            let sizes = sizes(*n);
            let started = Instant::now();
            let combinatorial = combinatorial_bound(&sizes);
            let (lower, linear) = lower_bound(&sizes);
            println!(
                "N = {n}: simple {:.3} h, energetic {:.3} h, idle {:.3} h, linear {}, \
                 lower {:.3} h ({:.2} s to compute)",
                simple_bound(&sizes) / 3600.0,
                energetic_bound(&sizes) / 3600.0,
                combinatorial / 3600.0,
                linear.map_or("-".into(), |l| format!("{:.3} h", l / 3600.0)),
                lower / 3600.0,
                started.elapsed().as_secs_f64()
            );
        }
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    // The bounds take up to two minutes (the linear relaxation): they are computed in one
    // thread from the start, while the runs go on the other core (the runs' times are
    // simulated, so it does not change them).
    let bounds = {
        let ns = ns.clone();
        std::thread::spawn(move || {
            ns.iter()
                .map(|n| lower_bound(&sizes(*n)))
                .collect::<Vec<_>>()
        })
    };
    let mut rows = Vec::new();
    for n in &ns {
        rows.push(runtime.block_on(measure(*n, smoke)));
    }
    let bounds = bounds.join().expect("the bounds' thread");
    for (row, (lower, linear)) in rows.iter_mut().zip(bounds) {
        (row.lower_bound, row.linear_bound) = (lower, linear);
    }
    let table = render(&rows);
    println!("{table}");
    if let Some(path) = arg(&args, "--record") {
        // The measured part is rewritten; what follows it (its own `## ` sections) is kept.
        let kept = std::fs::read_to_string(&path)
            .ok()
            .and_then(|old| old.find("\n## ").map(|at| old[at..].to_string()))
            .unwrap_or_default();
        std::fs::write(&path, performance_md(&table) + &kept).expect("docs/performance.md written");
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
    /// Filled in when the bounds' thread is done.
    lower_bound: f64,
    linear_bound: Option<f64>,
    energetic_bound: f64,
    simple_bound: f64,
    ours: f64,
    ours_throttled: f64,
    baseline: f64,
    calls_per_snapshot: f64,
    describes_per_copy: f64,
    throttled_seen: usize,
    failed: usize,
    peak_kib: u64,
    /// Real seconds the snapshift run took.
    real_secs: f64,
}

impl Row {
    fn meets(&self, smoke: bool) -> bool {
        // A run shorter than the bound would prove the bound wrong.
        let bound_holds = self.ours >= self.lower_bound
            && (self.ours_throttled == 0.0 || self.ours_throttled >= self.lower_bound);
        let makespan_ok = smoke || self.n < 100 || self.ours / self.lower_bound <= 1.10;
        let throttled_ok = smoke || self.n < 100 || self.ours_throttled / self.lower_bound <= 1.25;
        bound_holds
            && makespan_ok
            && throttled_ok
            && self.describes_per_copy <= 12.0
            && self.failed == 0
    }
}

/// What a child reports.
struct ChildResult {
    /// Simulated seconds.
    makespan: f64,
    /// Snapshot-target pairs not done.
    not_done: usize,
    /// The child's peak resident memory.
    peak_kib: u64,
    /// The real time the run took.
    real_secs: f64,
}

fn run_child(job: &Job) -> ChildResult {
    let exe = std::env::current_exe().expect("the bench binary");
    let out = Command::new(exe)
        .args([
            "--child",
            &job.mode,
            "--uri",
            &job.uri,
            "--n",
            &job.n.to_string(),
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
    ChildResult {
        makespan: next().parse().unwrap_or(f64::NAN),
        not_done: next().parse().unwrap_or(usize::MAX),
        peak_kib: next().parse().unwrap_or(0),
        real_secs: next().parse().unwrap_or(f64::NAN),
    }
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
    // Pages of AWS's own size (RDS's default `MaxRecords`), not the fake's small default:
    // the figures count calls as AWS would answer them.
    fake.set_page_size(100);
    fake
}

async fn measure(n: usize, smoke: bool) -> Row {
    let sizes = sizes(n);
    let mut row = Row {
        n,
        energetic_bound: energetic_bound(&sizes),
        simple_bound: simple_bound(&sizes),
        ..Row::default()
    };
    let job = |mode: &str, uri: String| Job {
        mode: mode.into(),
        uri,
        n,
    };
    let fake = |throttling: f64| async move {
        let fake = fake_with(n).await;
        fake.follow_request_clock();
        fake.set_copy_time(Duration::from_secs_f64(SIM_SECS_PER_GIB));
        fake.set_throttling(throttling);
        fake
    };

    // snapshift.
    let aws = fake(0.0).await;
    let ours = run_child(&job("ours", aws.uri()));
    let calls = aws.calls();
    let copies = (1 + TARGETS.len()) * n;
    row.ours = ours.makespan;
    row.failed = ours.not_done;
    row.peak_kib = ours.peak_kib;
    row.real_secs = ours.real_secs;
    row.calls_per_snapshot = calls.len() as f64 / n as f64;
    row.describes_per_copy = calls
        .iter()
        .filter(|c| c.operation == "DescribeDBClusterSnapshots")
        .count() as f64
        / copies as f64;
    drop(aws);

    // The same under a fifth of the calls throttled (R20).
    if !smoke {
        let aws = fake(0.2).await;
        let throttled = run_child(&job("ours", aws.uri()));
        row.ours_throttled = throttled.makespan;
        row.failed += throttled.not_done;
        row.throttled_seen = aws.throttled();
    }

    // The naive baseline.
    let aws = fake(0.0).await;
    let baseline = run_child(&job("baseline", aws.uri()));
    row.baseline = baseline.makespan;
    row.failed += baseline.not_done;
    row
}

fn child(job: Job) {
    let real = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a paused runtime");
    let result = match job.mode.as_str() {
        "baseline" => runtime.block_on(baseline(&job)),
        _ => runtime.block_on(ours(&job)),
    };
    let (makespan, not_done) = result.unwrap_or_else(|e| {
        eprintln!("{} run failed: {e}", job.mode);
        (f64::NAN, job.n)
    });
    println!(
        "result {makespan} {not_done} {} {}",
        peak_rss_kib(),
        real.elapsed().as_secs_f64()
    );
}

async fn account(uri: &str, account: &str, clock: &VirtualClock) -> Account {
    let key = format!("AKIAFAKE{account}");
    Account::from_config(
        id(account),
        sdk_config_for(uri, &key, Some(clock.clone())).await,
    )
}

/// The source account and the target accounts, on `clock`.
async fn accounts(uri: &str, clock: &VirtualClock) -> (Account, Vec<Account>) {
    let source = account(uri, A, clock).await;
    let mut targets = Vec::new();
    for t in TARGETS {
        targets.push(account(uri, t, clock).await);
    }
    (source, targets)
}

/// snapshift: one stack, the fleet to two accounts. Returns the makespan in simulated seconds
/// and how many snapshot-target pairs are not done.
async fn ours(job: &Job) -> Result<(f64, usize), Error> {
    let clock = VirtualClock::start().latency(LATENCY);
    let (source, targets) = accounts(&job.uri, &clock).await;
    let dir = std::env::temp_dir().join(format!("snapshift-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let started = tokio::time::Instant::now();
    let mut fleet = FleetMigration::new(&source, region()).snapshots((0..job.n).map(|i| {
        format!("arn:aws:rds:ap-northeast-1:{A}:cluster-snapshot:db-{i:04}-2026-11-23")
            .parse()
            .expect("an ARN")
    }));
    for t in &targets {
        fleet = fleet.to(t);
    }
    let fleet = fleet.resolve().await?;
    // The defaults, but for a run of many hours: no give-up before two days, a heartbeat an
    // hour.
    let mut stack = Stack::new("bench")?.state_dir(&dir).wait(WaitConfig {
        timeout: Duration::from_secs(48 * 3600),
        heartbeat: Duration::from_secs(3600),
        ..WaitConfig::default()
    });
    if let Ok(filter) = std::env::var("BENCH_TRACE") {
        stack = stack.progress(std::sync::Arc::new(Trace {
            filter,
            start: started,
        }));
    }
    let handles = stack.add_fleet("bench", fleet)?;
    let report = match stack.deploy().await {
        Ok(report) => report,
        Err(Error::Incomplete { report }) => *report,
        Err(e) => return Err(e),
    };
    let makespan = started.elapsed().as_secs_f64();
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
    start: tokio::time::Instant,
}

impl snapshift::engine::Progress for Trace {
    fn event(&self, event: &snapshift::engine::ProgressEvent) {
        let text = format!("{event:?}");
        if text.contains(&self.filter) {
            let minutes = self.start.elapsed().as_secs_f64() / 60.0;
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
    let clock = VirtualClock::start().latency(LATENCY);
    let (source, targets) = accounts(&job.uri, &clock).await;
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
        "|   N | lower bound | linear bound | energetic bound | simple bound | snapshift | ratio | with 20 % throttled | ratio | baseline | baseline / snapshift | calls per snapshot | Describe per copy | throttled, retried | failed | peak memory | real time |\n\
         |----:|------------:|-------------:|----------------:|-------------:|----------:|------:|--------------------:|------:|---------:|---------------------:|-------------------:|------------------:|-------------------:|-------:|------------:|----------:|\n",
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
            "| {} | {} | {} | {} | {} | {} | {:.3} | {} | {} | {} | {:.1}x | {:.1} | {:.1} | {} | {} | {} MiB | {:.1} s |\n",
            r.n,
            h(r.lower_bound),
            r.linear_bound.map_or("-".into(), h),
            h(r.energetic_bound),
            h(r.simple_bound),
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
            r.real_secs,
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
         and region (R19), copies of one source one after another, every call a 200 ms round \
         trip. Both runs are on a virtual clock (a paused tokio runtime that FakeAws follows, \
         held still while a request is on the wire), so times are simulated hours whatever the \
         machine; the real time of the snapshift run is the last column.\n\n\
         The simple bound: no snapshot is done before its copy and its two target copies, one \
         after another, and the source account cannot copy faster than its quota allows (sum \
         of copy times / 20), after which the last snapshot still needs its two target copies. \
         The energetic bound raises it by energetic reasoning where that proves more: a run \
         that ends by T must finish each source copy by T - 2t (its two target copies \
         follow), so every interval [0, b] must fit the part of those copies that cannot come \
         after b in the source account's 20 slots; likewise every interval [a, T] in the \
         target accounts' 40 slots. The lower bound raises that by the idle bound: each \
         account finishes its work no sooner than (work + idle) / 20, and a target account \
         cannot have done or be doing more than the source account has finished, which is at \
         most 20 x (time so far) minus the source's copies in progress, so by any time it has \
         idled at least what the source has in progress plus what is left of its own copies \
         in flight, plus the whole of a copy that the other target account runs and it must \
         run next. Those terms are copies' elapsed or remaining times, whose integral over a \
         run is fixed by the sizes, so their average over the first w of the run (each copy as \
         late as T allows) is idle no run avoids; backwards in time the same holds for the \
         source account at the end. The lower bound is the largest of those and the linear \
         bound: cut the run into 80 equal intervals and let each snapshot's copies do part of \
         their work in each, and its source copy end in several intervals at once (a fraction \
         in each); a run ending by T must still give each account at most 20 x an interval's \
         work per interval, each snapshot's copies at most one interval's together, its \
         target copies nothing before its source copy ends and its source copy nothing after; \
         if no such fractional schedule exists (a linear program, solved with clarabel), every \
         run ends after T (`benches/fleet/lp.rs`; sizes are merged into at most 100 classes, \
         rounded down, so it proves nothing at N = 500, where the idle bound is stronger). \
         The ratios are to the lower bound, and the benchmark \
         fails if a run ends before it (the bound would be wrong). Peak memory is the child \
         process's (FakeAws runs in the parent).\n\n{table}"
    )
}
