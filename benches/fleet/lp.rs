//! The time-indexed linear relaxation of the fleet's schedule: a lower bound on its makespan
//! that no combinatorial argument of `main.rs` reaches when a few long chains dominate.
//!
//! The run `[0, T]` is cut into `K` equal intervals. For each snapshot of copy time `t`, the
//! relaxation chooses how much of its source copy, and of each of its two target copies, is
//! done in each interval, and in which intervals its source copy ends (a fraction of the
//! snapshot per interval; in a real run, all of it in one). Every run that ends by `T` gives
//! such a choice that meets the constraints below, so if none exists, every run ends after
//! `T`:
//!
//! - each copy's work adds up to `t`, and the endings add up to one;
//! - one snapshot's three copies never run at once (its target copies follow its source
//!   copy, and each other), so together they do at most an interval's length in each;
//! - a source copy ending in interval `k'` leaves at most `min(t, e_k - s_k')` of each target
//!   copy, and `min(2t, e_k - s_k')` of both, done by the end `e_k` of interval `k`;
//! - a source copy ending in interval `k'` after `k` has done at least `t - (e_k' - e_k)` by
//!   `e_k`;
//! - a source copy ends no later than `T - 2t` (its target copies follow) and no sooner than
//!   `t`;
//! - each account's copies in flight (R19) do at most 20 x the interval's length in each;
//! - under a manual-snapshot quota (R25) with a headroom of `H` intermediate copies alive at
//!   once, all snapshots' copies together do at most `H` x the interval's length in each: an
//!   intermediate copy is alive from the start of its source copy until both its target
//!   copies are done, and its three copies never run at once, so each alive intermediate
//!   does at most one copy's work at a time.
//!
//! The quota rows are relaxed by a factor `1 + lambda`, and the least `lambda` is found: a least
//! `lambda` clearly above zero proves that no run ends by `T`. A secant search on `T` keeps
//! to the infeasible side (see [`bound`]). The rows are written with cumulative variables
//! (work done and endings so far, and their running sum), so that each has a handful of
//! entries and the solver's factorization stays sparse: written directly, the rows of
//! interval `k` sum over every earlier interval, and at 45 intervals one solve took minutes.
//! Checked against that direct form at 30 intervals: the same `lambda` at every end tried.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus, ZeroConeT,
};

/// The most distinct copy times the relaxation keeps (see [`classes`]).
const CLASSES: usize = 100;
/// Intervals the run is cut into.
const INTERVALS: usize = 80;
/// A least `lambda` above this proves the interval schedule infeasible: ten times the
/// solver's feasibility tolerance at reduced accuracy (1e-4), which it may report after
/// stalling near the limit (`AlmostSolved`).
const PROOF: f64 = 1e-3;

/// A sparse matrix built row by row.
#[derive(Default)]
struct Rows {
    entries: Vec<(usize, usize, f64)>,
    rhs: Vec<f64>,
}

impl Rows {
    fn push(&mut self, coefficients: impl IntoIterator<Item = (usize, f64)>, rhs: f64) {
        let row = self.rhs.len();
        self.entries.extend(
            coefficients
                .into_iter()
                .filter(|(_, v)| *v != 0.0)
                .map(|(c, v)| (row, c, v)),
        );
        self.rhs.push(rhs);
    }
}

/// The least factor `1 + lambda` by which the accounts' quota must grow for the relaxation
/// of a run ending by `end` to be feasible, for `jobs` of copy times `t` (seconds), each
/// with a multiplicity (identical sizes are merged, which keeps the relaxation valid: the
/// sum of their choices meets the merged constraints), with at most `headroom` intermediate
/// copies alive at once if given (that row is not relaxed). `None` if the solver gave no
/// answer.
fn least_lambda(jobs: &[(f64, f64)], end: f64, quota: f64, headroom: Option<f64>) -> Option<f64> {
    let k_len = INTERVALS;
    // Times in units of `end`, so the coefficients are of the order of one.
    let h = 1.0 / k_len as f64;
    // Cumulative variables, so that every row has a handful of entries: per job, by the end
    // of interval k, the fraction of its source copies ended (X_k) and the sum of those
    // fractions so far (W_k, which weighs an ending by how long ago it was), and the work
    // of each copy done (A_k, B_k, C_k). X and W run past the last interval, where X stays
    // whole, for the source work rows that look ahead.
    let ahead = k_len + k_len / 2 + 2;
    let per_job = 2 * ahead + 3 * k_len;
    let lambda = 0;
    let columns = 1 + jobs.len() * per_job;
    let base = |j: usize| 1 + j * per_job;
    let mut eq = Rows::default();
    let mut le = Rows::default();
    for (j, &(t, m)) in jobs.iter().enumerate() {
        let t = t / end;
        let big_x = |k: usize| base(j) + k;
        let big_w = |k: usize| base(j) + ahead + k;
        let work = |kind: usize, k: usize| base(j) + 2 * ahead + kind * k_len + k;
        // X: non-decreasing from 0 to m; the copy ends no sooner than t and no later than
        // T - 2t, so X is 0 before the first interval ending after t and m from the one
        // holding T - 2t.
        let first = (0..k_len).find(|&k| (k + 1) as f64 * h >= t - 1e-9)?;
        let last = (0..k_len)
            .rev()
            .find(|&k| k as f64 * h <= 1.0 - 2.0 * t + 1e-9)?;
        for k in 0..ahead {
            if k < first {
                eq.push([(big_x(k), 1.0)], 0.0);
            } else if k >= last {
                eq.push([(big_x(k), 1.0)], m);
            }
            let previous = k.checked_sub(1);
            le.push(
                [(big_x(k), -1.0)]
                    .into_iter()
                    .chain(previous.map(|p| (big_x(p), 1.0))),
                0.0,
            );
            // W_k = W_{k-1} + X_k.
            eq.push(
                [(big_w(k), 1.0), (big_x(k), -1.0)]
                    .into_iter()
                    .chain(previous.map(|p| (big_w(p), -1.0))),
                0.0,
            );
        }
        let delta = |kind: usize, k: usize| {
            [(work(kind, k), 1.0)]
                .into_iter()
                .chain(k.checked_sub(1).map(|p| (work(kind, p), -1.0)))
        };
        // sum over endings kk <= k of min(span, (k - kk + 1) h) x_kk, as entries to
        // subtract: h W_k - h W_k' - h (q - 1 - r) X_k', where r = span / h, q = floor(r) + 1
        // and k' = k - q + 1.
        let done_after_end = |k: usize, span: f64| {
            let r = span / h;
            let q = r.floor() as usize + 1;
            let back = (k + 1).checked_sub(q);
            [(big_w(k), -h)].into_iter().chain(
                back.into_iter()
                    .flat_map(move |kp| [(big_w(kp), h), (big_x(kp), h * (q as f64 - 1.0 - r))]),
            )
        };
        for kind in 0..3 {
            eq.push([(work(kind, k_len - 1), 1.0)], m * t);
        }
        // How many later intervals a source copy ending there leaves work before e_k.
        let u = ((t / h).ceil() as usize).saturating_sub(1);
        for k in 0..k_len {
            for kind in 0..3 {
                // Work only grows.
                le.push(delta(kind, k).map(|(c, v)| (c, -v)), 0.0);
            }
            // One snapshot's copies one after another.
            le.push((0..3).flat_map(|kind| delta(kind, k)), m * h);
            // Target work done by e_k after the source copy's end.
            le.push(
                [(work(1, k), 1.0), (work(2, k), 1.0)]
                    .into_iter()
                    .chain(done_after_end(k, 2.0 * t)),
                0.0,
            );
            for kind in [1, 2] {
                le.push(
                    [(work(kind, k), 1.0)]
                        .into_iter()
                        .chain(done_after_end(k, t)),
                    0.0,
                );
            }
            // Source work done by e_k, given where the copy ends: t X_k, plus, for an end
            // j intervals later (1 <= j <= u), t - j h of it: by parts,
            // (t - u h) X_{k+u} - (t - h) X_k + h (W_{k+u-1} - W_k).
            let mut row = vec![(work(0, k), -1.0), (big_x(k), t)];
            if u > 0 {
                row.extend([
                    (big_x(k + u), t - u as f64 * h),
                    (big_x(k), -(t - h)),
                    (big_w(k + u - 1), h),
                    (big_w(k), -h),
                ]);
            }
            le.push(row, 0.0);
        }
    }
    // Each account's quota, relaxed by lambda.
    for k in 0..k_len {
        for kind in 0..3 {
            le.push(
                (0..jobs.len())
                    .flat_map(|j| {
                        let col = |k: usize| base(j) + 2 * ahead + kind * k_len + k;
                        [(col(k), 1.0)]
                            .into_iter()
                            .chain(k.checked_sub(1).map(move |p| (col(p), -1.0)))
                    })
                    .chain([(lambda, -quota * h)]),
                quota * h,
            );
        }
    }
    // The headroom: all copies together, at most `headroom` at once.
    if let Some(headroom) = headroom {
        for k in 0..k_len {
            le.push(
                (0..jobs.len()).flat_map(|j| {
                    (0..3).flat_map(move |kind| {
                        let col = |k: usize| base(j) + 2 * ahead + kind * k_len + k;
                        [(col(k), 1.0)]
                            .into_iter()
                            .chain(k.checked_sub(1).map(move |p| (col(p), -1.0)))
                    })
                }),
                headroom * h,
            );
        }
    }
    le.push([(lambda, -1.0)], 0.0);

    let rows = eq.rhs.len() + le.rhs.len();
    let zero_rows = eq.rhs.len();
    let mut entries: Vec<(usize, usize, f64)> = eq.entries;
    entries.extend(
        le.entries
            .into_iter()
            .map(|(r, c, v)| (r + zero_rows, c, v)),
    );
    entries.sort_by_key(|&(r, c, _)| (c, r));
    // A variable named twice in a row counts once, with the sum of its coefficients.
    entries.dedup_by(|later, kept| {
        let same = later.0 == kept.0 && later.1 == kept.1;
        if same {
            kept.2 += later.2;
        }
        same
    });
    let mut colptr = vec![0usize; columns + 1];
    for &(_, c, _) in &entries {
        colptr[c + 1] += 1;
    }
    for i in 0..columns {
        colptr[i + 1] += colptr[i];
    }
    let matrix = CscMatrix::new(
        rows,
        columns,
        colptr,
        entries.iter().map(|e| e.0).collect(),
        entries.iter().map(|e| e.2).collect(),
    );
    let mut rhs = eq.rhs;
    rhs.extend(le.rhs);
    let mut objective = vec![0.0; columns];
    objective[lambda] = 1.0;
    // lambda is needed to about PROOF, not to the solver's default 1e-8.
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .tol_gap_abs(1e-6)
        .tol_gap_rel(1e-6)
        .tol_feas(1e-6)
        .build()
        .ok()?;
    let quadratic = CscMatrix::zeros((columns, columns));
    let cones = [ZeroConeT(zero_rows), NonnegativeConeT(rows - zero_rows)];
    let mut solver =
        DefaultSolver::new(&quadratic, &objective, &matrix, &rhs, &cones, settings).ok()?;
    solver.solve();
    match solver.solution.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => Some(solver.solution.x[lambda]),
        // Infeasible even with any quota: the source copy has nowhere to end.
        SolverStatus::PrimalInfeasible => Some(f64::INFINITY),
        _ => None,
    }
}

/// The copy times merged into at most [`CLASSES`] classes of equal width, each with its
/// count, each rounded down to its smallest member: shorter copies make a run no longer,
/// and the sum of a class's choices meets the merged constraints, so the relaxation stays
/// valid, and its size no longer grows with the fleet. Up to [`CLASSES`] distinct times,
/// nothing is rounded.
fn classes(t: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted = t.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) else {
        return Vec::new();
    };
    let class = |x: f64| -> usize {
        if sorted.len() <= CLASSES || max <= min {
            sorted.partition_point(|&y| y < x)
        } else {
            (((x - min) / (max - min) * CLASSES as f64) as usize).min(CLASSES - 1)
        }
    };
    let mut merged: std::collections::BTreeMap<usize, (f64, f64)> = Default::default();
    for &x in t {
        let entry = merged.entry(class(x)).or_insert((x, 0.0));
        entry.0 = entry.0.min(x);
        entry.1 += 1.0;
    }
    merged.into_values().collect()
}

/// The linear relaxation's bound in seconds, for copy times `t`, `quota` copies per account
/// and, if given, at most `headroom` intermediate copies alive at once (R25), searched above
/// `known` (a bound already proven): the largest end found infeasible, or `None` when the
/// relaxation proves nothing more.
///
/// The least `lambda` falls as the end grows, and it is convex in practice, so a secant
/// through two infeasible ends, aimed a little above the proof threshold, lands on an end
/// that is still infeasible and close to the limit: a handful of solves instead of a
/// bisection's dozen. An end found feasible is only an upper limit for the next guesses.
pub fn bound(t: &[f64], quota: f64, headroom: Option<f64>, known: f64) -> Option<f64> {
    const SOLVES: usize = 8;
    const AIM: f64 = 2.0 * PROOF;
    let jobs = classes(t);
    // An end that no quota makes feasible (the headroom row is not relaxed) still proves
    // it; the secant takes it as a `lambda` of one, a step of a third.
    let lambda = |end: f64| {
        let l = least_lambda(&jobs, end, quota, headroom).unwrap_or(0.0);
        if l.is_infinite() {
            1.0
        } else {
            l
        }
    };
    let mut best = (known, lambda(known));
    if best.1 <= PROOF {
        return None;
    }
    let mut previous: Option<(f64, f64)> = None;
    let mut feasible = f64::INFINITY;
    for _ in 1..SOLVES {
        let (end, l) = best;
        let guess = match previous {
            Some((p_end, p_l)) if p_l > l => end + (l - AIM) * (end - p_end) / (p_l - l),
            _ => end * (1.0 + l / 3.0),
        };
        // Stay below an end already found feasible.
        let guess = guess.min((end + feasible) / 2.0);
        if guess - end < 1.0 {
            break;
        }
        let l_guess = lambda(guess);
        if l_guess > PROOF {
            previous = Some(best);
            best = (guess, l_guess);
            if l_guess < 2.0 * AIM {
                break;
            }
        } else {
            feasible = guess;
        }
    }
    Some(best.0)
}
