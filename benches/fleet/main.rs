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
//!
//! Two scenarios. The first is a world without manual quota: its sources are manual
//! snapshots, and every account may hold 100,000 manual cluster snapshots. The second runs
//! under real manual-snapshot quotas (R25, `measure_quota`): the source account holds at
//! most 100, three of them unrelated snapshots already there, each target 1,000, and the
//! sources are automated snapshots (which do not count; their intermediate copies do).

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
/// The manual cluster snapshot quota of every account in the world without manual quota:
/// more than its runs ever hold (R25).
const NO_MANUAL_QUOTA: usize = 100_000;
/// Under real quotas (R25): the source account's manual cluster snapshot quota (AWS's
/// default), the unrelated manual snapshots it already holds, and each target's quota.
const SOURCE_MANUAL_MAX: usize = 100;
const SOURCE_MANUAL_USED: usize = 3;
const TARGET_MANUAL_MAX: usize = 1_000;

mod lp;

/// Which world a run is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    /// Manual sources, no manual quota in reach.
    Free,
    /// Automated sources, the source account's manual quota 100 with 3 used (R25).
    Quota,
}

impl Scenario {
    /// The identifier of source snapshot `i`.
    fn source_id(self, i: usize) -> String {
        match self {
            Scenario::Free => format!("db-{i:04}-2026-11-23"),
            Scenario::Quota => format!("rds:db-{i:04}-2026-11-23-03-00"),
        }
    }
}

/// The intermediate copies snapshift keeps alive at once in the source account under real
/// quotas: `Max - Used - margin` (R25).
fn headroom() -> usize {
    SOURCE_MANUAL_MAX - SOURCE_MANUAL_USED - WaitConfig::default().manual_snapshot_margin as usize
}

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
    let linear = lp::bound(&copy_times(sizes), QUOTA as f64, None, combinatorial);
    (linear.unwrap_or(combinatorial), linear)
}

/// The headroom bound in simulated seconds, under real quotas (R25): an intermediate copy is
/// alive from the start of its source copy until both its target copies are done, which is
/// at least its three copies' time (they never overlap), and at most `headroom` are alive at
/// once, so no run ends before `3 sum(t) / headroom`.
fn headroom_bound(sizes: &[u32], headroom: usize) -> f64 {
    let sum: f64 = copy_times(sizes).iter().sum();
    (1.0 + TARGETS.len() as f64) * sum / headroom as f64
}

/// The lower bound under real quotas, from the bound of the world without manual quota
/// (`lower`: every constraint behind it holds under quotas too; its linear relaxation
/// without the headroom rows proves no more than with them, and `--bounds` shows that it
/// proves as much) and the headroom bound. Returns the bound and which one it is.
fn quota_bound(lower: f64, lower_binding: &'static str, headroom: f64) -> (f64, &'static str) {
    if headroom > lower {
        (headroom, "headroom")
    } else {
        (lower, lower_binding)
    }
}

/// Which of the bounds of the world without manual quota is its lower bound: the simplest
/// one that reaches it within a second (the bisections' precision).
fn binding(sizes: &[u32], lower: f64, linear: Option<f64>) -> &'static str {
    if linear.is_some() {
        "linear"
    } else if lower > energetic_bound(sizes) + 1.0 {
        "idle"
    } else if lower > simple_bound(sizes) + 1.0 {
        "energetic"
    } else {
        "simple"
    }
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
    // `--only free` or `--only quota` runs one scenario.
    let only = arg(&args, "--only");
    let (free, quota) = match only.as_deref() {
        Some("free") => (true, false),
        Some("quota") => (false, true),
        _ => (true, true),
    };
    let ns: Vec<usize> = match arg(&args, "--n") {
        Some(list) => list.split(',').filter_map(|n| n.parse().ok()).collect(),
        None if smoke => vec![10],
        None => vec![10, 100, 500],
    };
    if bounds_only {
        print_bounds(&ns);
        return;
    }
    // Under real quotas: N = 100 and 500 (N = 10 in a smoke run, where it takes a second).
    let quota_ns: Vec<usize> = if quota {
        ns.iter().copied().filter(|n| smoke || *n >= 100).collect()
    } else {
        Vec::new()
    };
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    // The bounds take up to two minutes (the linear relaxation): they are computed in one
    // thread from the start, while the runs go on the other core (the runs' times are
    // simulated, so it does not change them). Both scenarios move the same sizes for one N,
    // so one bound serves both.
    let bounds = {
        let ns = ns.clone();
        std::thread::spawn(move || {
            ns.iter()
                .map(|n| lower_bound(&sizes(*n)))
                .collect::<Vec<_>>()
        })
    };
    let mut rows = Vec::new();
    if free {
        for n in &ns {
            rows.push(runtime.block_on(measure(*n, smoke)));
        }
    }
    let mut quota_rows = Vec::new();
    for n in &quota_ns {
        quota_rows.push(runtime.block_on(measure_quota(*n)));
    }
    let bounds = bounds.join().expect("the bounds' thread");
    for (n, (lower, linear)) in ns.iter().zip(bounds) {
        if let Some(row) = rows.iter_mut().find(|r| r.n == *n) {
            (row.lower_bound, row.linear_bound) = (lower, linear);
        }
        if let Some(row) = quota_rows.iter_mut().find(|r| r.n == *n) {
            let sizes = sizes(*n);
            row.headroom_bound = headroom_bound(&sizes, row.headroom);
            row.free_bound = lower;
            (row.lower_bound, row.binding) =
                quota_bound(lower, binding(&sizes, lower, linear), row.headroom_bound);
        }
    }
    let table = render(&rows);
    let quota_table = render_quota(&quota_rows);
    if !rows.is_empty() {
        println!("{table}");
    }
    if !quota_rows.is_empty() {
        println!("Under real manual-snapshot quotas (R25):\n\n{quota_table}");
    }
    if let Some(path) = arg(&args, "--record") {
        // The measured part is rewritten; what follows it (its own `## ` sections) is kept.
        let kept = std::fs::read_to_string(&path)
            .ok()
            .and_then(|old| kept_sections(&old))
            .unwrap_or_default();
        std::fs::write(&path, performance_md(&table, &quota_table) + &kept)
            .expect("docs/performance.md written");
        println!("recorded in {path}");
    }
    let failed: Vec<usize> = rows
        .iter()
        .filter(|r| !r.meets(smoke))
        .map(|r| r.n)
        .collect();
    let quota_failed: Vec<usize> = quota_rows
        .iter()
        .filter(|r| !r.meets(smoke))
        .map(|r| r.n)
        .collect();
    if !failed.is_empty() || !quota_failed.is_empty() {
        eprintln!("targets missed for N = {failed:?}, under real quotas for N = {quota_failed:?}");
        std::process::exit(1);
    }
}

/// `--bounds`: every bound for each N, and under real quotas the headroom bound and the
/// linear relaxation with the headroom rows, next to the one without them that the
/// benchmark uses for both scenarios.
fn print_bounds(ns: &[usize]) {
    let headroom = headroom();
    for n in ns {
        let sizes = sizes(*n);
        let started = Instant::now();
        let combinatorial = combinatorial_bound(&sizes);
        let (lower, linear) = lower_bound(&sizes);
        println!(
            "N = {n}: simple {:.3} h, energetic {:.3} h, idle {:.3} h, linear {}, \
             lower {:.3} h ({}, {:.2} s to compute)",
            simple_bound(&sizes) / 3600.0,
            energetic_bound(&sizes) / 3600.0,
            combinatorial / 3600.0,
            linear.map_or("-".into(), |l| format!("{:.3} h", l / 3600.0)),
            lower / 3600.0,
            binding(&sizes, lower, linear),
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let by_headroom = headroom_bound(&sizes, headroom);
        let with_rows = lp::bound(
            &copy_times(&sizes),
            QUOTA as f64,
            Some(headroom as f64),
            combinatorial.max(by_headroom),
        );
        let (quota_lower, quota_binding) =
            quota_bound(lower, binding(&sizes, lower, linear), by_headroom);
        let full = with_rows.map_or(quota_lower, |l| l.max(quota_lower));
        println!(
            "N = {n}, under real quotas (headroom {headroom}): headroom {:.3} h, \
             linear with the headroom rows {}, lower {:.3} h ({quota_binding}); \
             with the headroom rows' relaxation {:.3} h, {} ({:.2} s to compute)",
            by_headroom / 3600.0,
            with_rows.map_or("-".into(), |l| format!("{:.3} h", l / 3600.0)),
            quota_lower / 3600.0,
            full / 3600.0,
            // The solver's answers move by a few seconds with rows that do not bind.
            if full <= quota_lower * 1.0005 {
                "no more than the bound the benchmark uses"
            } else {
                "MORE: the benchmark should solve the relaxation with the headroom rows"
            },
            started.elapsed().as_secs_f64()
        );
    }
}

/// What `--record` keeps of `docs/performance.md`: everything from its first `## ` section
/// that the benchmark does not write.
fn kept_sections(old: &str) -> Option<String> {
    old.match_indices("\n## ")
        .map(|(at, _)| at)
        .find(|&at| !old[at + 1..].starts_with(QUOTA_HEADING))
        .map(|at| old[at..].to_string())
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

/// One N's figures under real manual-snapshot quotas (R25).
#[derive(Debug, Default)]
struct QuotaRow {
    n: usize,
    /// The intermediate copies snapshift may keep alive at once, `Max - Used - margin`.
    headroom: usize,
    /// Filled in when the bounds' thread is done: the lower bound, which of the bounds it
    /// is, the bound of the world without manual quota, and the headroom bound.
    lower_bound: f64,
    binding: &'static str,
    free_bound: f64,
    headroom_bound: f64,
    ours: f64,
    failed: usize,
    /// The most manual cluster snapshots held at once in the source account (the seeded
    /// ones included) and in each target account.
    peak_source: usize,
    peak_targets: Vec<usize>,
    /// `DescribeAccountAttributes` calls the run made.
    account_attributes: usize,
    real_secs: f64,
}

impl QuotaRow {
    /// The most intermediate copies alive at once: the source account's manual snapshots
    /// but the unrelated ones it held before.
    fn peak_intermediates(&self) -> usize {
        self.peak_source.saturating_sub(SOURCE_MANUAL_USED)
    }

    fn meets(&self, smoke: bool) -> bool {
        // A run shorter than the bound would prove the bound wrong; the headroom bound
        // assumes at most `headroom` intermediate copies alive at once.
        let bound_holds = self.ours >= self.lower_bound;
        let makespan_ok = smoke || self.n < 100 || self.ours / self.lower_bound <= 1.10;
        bound_holds
            && makespan_ok
            && self.failed == 0
            && self.peak_source <= SOURCE_MANUAL_MAX
            && self.peak_intermediates() <= self.headroom
            && self.peak_targets.iter().all(|p| *p <= TARGET_MANUAL_MAX)
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

async fn fake_with(n: usize, scenario: Scenario) -> FakeAws {
    let fake = FakeAws::start().await;
    let kind = SnapshotKind::Cluster;
    for account in std::iter::once(A).chain(TARGETS) {
        fake.access_key(id(account));
        // R25: the world without manual quota holds 500 manual sources and their copies in
        // quotas far above them; under real quotas, the source account has AWS's default.
        let max = match (scenario, account == A) {
            (Scenario::Free, _) => NO_MANUAL_QUOTA,
            (Scenario::Quota, true) => SOURCE_MANUAL_MAX,
            (Scenario::Quota, false) => TARGET_MANUAL_MAX,
        };
        fake.set_manual_snapshot_quota(id(account), &region(), kind, max);
    }
    if scenario == Scenario::Quota {
        // Manual snapshots of the source account's own, which the fleet does not move.
        for i in 0..SOURCE_MANUAL_USED {
            let seed = SeedSnapshot::cluster(
                id(A),
                &region(),
                &format!("app-{i}-before-upgrade"),
                &format!("app-{i}"),
                Some("alias/aws/rds"),
            );
            fake.seed_snapshot(seed).expect("seeded");
        }
    }
    for (i, size) in sizes(n).into_iter().enumerate() {
        let mut seed = SeedSnapshot::cluster(
            id(A),
            &region(),
            &scenario.source_id(i),
            &format!("db-{i:04}"),
            Some("alias/aws/rds"),
        );
        if scenario == Scenario::Quota {
            seed.snapshot_type = "automated".into();
        }
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
        let fake = fake_with(n, Scenario::Free).await;
        fake.follow_request_clock();
        fake.set_copy_time(Duration::from_secs_f64(SIM_SECS_PER_GIB));
        fake.set_throttling(throttling);
        fake
    };

    // snapshift.
    let aws = fake(0.0).await;
    let ours = run_child(&job("ours", aws.uri()));
    let calls = aws.calls();
    print_calls(n, "ours", &aws);
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

/// The fleet under real manual-snapshot quotas (R25): automated sources, the source
/// account's quota 100 with 3 used, each target's 1,000; no throttling and no baseline.
async fn measure_quota(n: usize) -> QuotaRow {
    let aws = fake_with(n, Scenario::Quota).await;
    aws.follow_request_clock();
    aws.set_copy_time(Duration::from_secs_f64(SIM_SECS_PER_GIB));
    let run = run_child(&Job {
        mode: "quota".into(),
        uri: aws.uri(),
        n,
    });
    print_calls(n, "quota", &aws);
    let kind = SnapshotKind::Cluster;
    let peak = |account: &str| aws.peak_manual_snapshots(id(account), &region(), kind);
    QuotaRow {
        n,
        headroom: headroom(),
        ours: run.makespan,
        failed: run.not_done,
        peak_source: peak(A),
        peak_targets: TARGETS.iter().map(|t| peak(t)).collect(),
        account_attributes: aws.count("DescribeAccountAttributes"),
        real_secs: run.real_secs,
        ..QuotaRow::default()
    }
}

/// With `BENCH_CALLS` set, prints the calls a run made per operation, per snapshot, to see
/// where they go.
fn print_calls(n: usize, mode: &str, aws: &FakeAws) {
    if std::env::var_os("BENCH_CALLS").is_none() {
        return;
    }
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for call in aws.calls() {
        *counts.entry(call.operation).or_default() += 1;
    }
    for (operation, count) in counts {
        eprintln!(
            "N = {n}, {mode}: {operation} {:.2} per snapshot",
            count as f64 / n as f64
        );
    }
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
        "quota" => runtime.block_on(ours(&job, Scenario::Quota)),
        _ => runtime.block_on(ours(&job, Scenario::Free)),
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
async fn ours(job: &Job, scenario: Scenario) -> Result<(f64, usize), Error> {
    let clock = VirtualClock::start().latency(LATENCY);
    let (source, targets) = accounts(&job.uri, &clock).await;
    let dir = std::env::temp_dir().join(format!("snapshift-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let started = tokio::time::Instant::now();
    let mut fleet = FleetMigration::new(&source, region()).snapshots((0..job.n).map(|i| {
        format!(
            "arn:aws:rds:ap-northeast-1:{A}:cluster-snapshot:{}",
            scenario.source_id(i)
        )
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

/// Prints the progress events whose text contains `filter` (a resource's name, an event's
/// kind such as `Queued`; `a|b` for either), in simulated minutes (`BENCH_TRACE=<filter>`),
/// to see where a run's time goes.
struct Trace {
    filter: String,
    start: tokio::time::Instant,
}

impl snapshift::engine::Progress for Trace {
    fn event(&self, event: &snapshift::engine::ProgressEvent) {
        let text = format!("{event:?}");
        if self.filter.split('|').any(|f| text.contains(f)) {
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
        let source_id = Scenario::Free.source_id(i);
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

fn render_quota(rows: &[QuotaRow]) -> String {
    let mut out = format!(
        "|   N | lower bound | binding bound | headroom bound | snapshift | ratio | failed | intermediate copies alive at peak | peak manual, source (quota {SOURCE_MANUAL_MAX}) |{} DescribeAccountAttributes | real time |\n\
         |----:|------------:|:--------------|---------------:|----------:|------:|-------:|----------------------------------:|-----------------------------:|{}--------------------------:|----------:|\n",
        TARGETS
            .iter()
            .map(|t| format!(" peak manual, {t} (quota {}) |", thousands(TARGET_MANUAL_MAX)))
            .collect::<String>(),
        TARGETS
            .iter()
            .map(|_| "----------------------------------------:|")
            .collect::<String>(),
    );
    let h = |secs: f64| format!("{:.2} h", secs / 3600.0);
    for r in rows {
        out += &format!(
            "| {} | {} | {} | {} | {} | {:.3} | {} | {} of {} | {} |{} {} | {:.1} s |\n",
            r.n,
            h(r.lower_bound),
            r.binding,
            h(r.headroom_bound),
            h(r.ours),
            r.ours / r.lower_bound,
            r.failed,
            r.peak_intermediates(),
            r.headroom,
            r.peak_source,
            r.peak_targets
                .iter()
                .map(|p| format!(" {p} |"))
                .collect::<String>(),
            r.account_attributes,
            r.real_secs,
        );
    }
    out
}

/// `n` with a comma between thousands, as the prose writes numbers.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The heading of the section `--record` writes after the table of the world without
/// manual quota.
const QUOTA_HEADING: &str = "## Under real manual-snapshot quotas";

fn performance_md(table: &str, quota_table: &str) -> String {
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
         process's (FakeAws runs in the parent).\n\n\
         This is a world without manual quota: its sources are manual snapshots, 500 of them \
         at N = 500 with as many intermediate copies, so every account may hold 100,000 \
         manual cluster snapshots (R25).\n\n{table}\n\
         {QUOTA_HEADING}\n\n\
         The same fleets under AWS's manual-snapshot quota (R25): the source account holds \
         at most {SOURCE_MANUAL_MAX} manual cluster snapshots, {SOURCE_MANUAL_USED} of them \
         unrelated snapshots already there, and each target account {target_max}. \
         The N sources are automated snapshots (`rds:` names), which do not count, but \
         their intermediate copies do, so N = 500 fits only if the fleet releases as it \
         goes: snapshift deletes a snapshot's share and intermediate copy as soon as both its \
         target copies are available, and keeps at most H = Max - Used - margin = \
         {SOURCE_MANUAL_MAX} - {SOURCE_MANUAL_USED} - {margin} = {headroom} intermediate \
         copies alive at once (Used read with `DescribeAccountAttributes` at the start, the \
         margin `WaitConfig::manual_snapshot_margin`). The same sizes, copy speed and copy \
         quota as above, no throttling; the source account's peak counts its \
         {SOURCE_MANUAL_USED} unrelated snapshots, the intermediate copies are the rest, and \
         the benchmark fails if a snapshot is not done, if the source account ever holds more \
         than {SOURCE_MANUAL_MAX} or more than H intermediate copies, or if the makespan is \
         over 1.10 of the lower bound at N = 100 and 500.\n\n\
         The headroom bound: an intermediate copy counts from the moment its copy is \
         requested until it is deleted, so it is alive from the start of its source copy \
         until both its target copies are done; its three copies never overlap (its target \
         copies follow its source copy, and AWS runs copies of one source one after \
         another), so it is alive at least 3t, and no run of snapshift has more than H alive \
         at once. The intermediate copies' lifetimes, at least 3 x (sum of copy times) \
         together, must fit in H x T, so no run ends before 3 x (sum of copy times) / H. The \
         linear relaxation takes the same argument interval by interval: at any moment each \
         alive intermediate copy has at most one of its copies running and nothing runs for \
         a snapshot whose intermediate copy is not alive, so in each interval all snapshots' \
         copies together do at most H x its length; every run of snapshift obeys that row, \
         and every row of the relaxation above holds under quotas too (the same sizes, copy \
         quota and order of each snapshot's copies). The lower bound here is the largest of \
         the lower bound above, the headroom bound, and the relaxation with the headroom \
         rows.\n\n\
         At H = {headroom} the headroom does not bind. The copy quota already keeps the copies \
         running at once to 20 per account, 60 in all, below {headroom}: the headroom rows \
         follow from the quota rows whenever the relaxation's least lambda is below \
         {headroom}/60 - 1, and above it both prove the end infeasible, so the relaxation \
         with the headroom rows proves infeasible exactly the ends it proves infeasible \
         without them (`cargo bench --bench fleet -- --bounds` solves both and compares), and the headroom bound, which \
         weighs each copy 3/{headroom} against the source account's 1/20, is about two \
         thirds of the source account's load (sum of copy times / 20). The benchmark therefore reuses the lower bound above \
         (a relaxation with fewer rows proves no more, so it stays a bound), and names the \
         bound that binds. The same holds at the headroom AWS itself enforces, Max - Used = \
         {physical}, which bounds every run whatever margin it keeps. The headroom could bind only below 60 \
         intermediate copies, in a source account within about 65 of its quota.\n\n{quota_table}",
        margin = WaitConfig::default().manual_snapshot_margin,
        headroom = headroom(),
        physical = SOURCE_MANUAL_MAX - SOURCE_MANUAL_USED,
        target_max = thousands(TARGET_MANUAL_MAX),
    )
}
