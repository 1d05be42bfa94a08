//! How the stack schedules resources: each starts as soon as its own dependencies are done
//! (pipelining), and with `keep_going` a failure stops only its dependents.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use async_trait::async_trait;
use snapshift::{
    aws::Account,
    engine::{Action, Change, Context, DeployReport, Options, Resource, Stack},
    error::{Error, Result},
    ids::Region,
    testing::FakeAws,
};

type Log = Arc<Mutex<Vec<(String, &'static str, Instant)>>>;

/// A resource that takes `delay` to deploy, fails while `fail` is set, and records in its
/// state whether it was made, so that a re-run does not make it again.
struct Step {
    account: Account,
    region: Region,
    delay: Duration,
    fail: Arc<AtomicBool>,
    /// Whether its preflight refuses it.
    refuse: bool,
    log: Log,
}

#[async_trait]
impl Resource for Step {
    type Outputs = u32;

    fn kind(&self) -> &'static str {
        "step"
    }

    fn account(&self) -> &Account {
        &self.account
    }

    fn region(&self) -> &Region {
        &self.region
    }

    async fn preflight(&self, ctx: &Context) -> Result<()> {
        if self.refuse {
            return Err(Error::Conflict {
                resource: ctx.name().to_owned(),
                problem: "refused in preflight".into(),
            });
        }
        Ok(())
    }

    async fn plan(&self, ctx: &Context) -> Result<Change> {
        Ok(Change::new(ctx.name(), "step", Action::Create, "a step"))
    }

    async fn deploy(&self, ctx: &Context) -> Result<u32> {
        if ctx.load::<bool>().await? == Some(true) {
            return Ok(1);
        }
        let name = ctx.name().to_owned();
        self.log
            .lock()
            .unwrap()
            .push((name.clone(), "start", Instant::now()));
        tokio::time::sleep(self.delay).await;
        if self.fail.load(Ordering::SeqCst) {
            return Err(Error::Conflict {
                resource: name,
                problem: "injected failure".into(),
            });
        }
        ctx.save(&true).await?;
        self.log
            .lock()
            .unwrap()
            .push((name, "made", Instant::now()));
        Ok(1)
    }

    async fn plan_teardown(&self, ctx: &Context) -> Result<Change> {
        Ok(Change::new(ctx.name(), "step", Action::Delete, "a step"))
    }

    async fn teardown(&self, _ctx: &Context) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn refresh(&self, _ctx: &Context) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

struct World {
    _fake: FakeAws,
    account: Account,
    log: Log,
    dir: std::path::PathBuf,
}

async fn world(test: &str) -> World {
    let fake = FakeAws::start().await;
    let account = fake.account("111111111111".parse().unwrap()).await;
    let dir = std::env::temp_dir().join(format!("snapshift-flow-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    World {
        _fake: fake,
        account,
        log: Arc::default(),
        dir,
    }
}

impl World {
    fn step(&self, millis: u64, fail: &Arc<AtomicBool>) -> Step {
        Step {
            account: self.account.clone(),
            region: "ap-northeast-1".parse().unwrap(),
            delay: Duration::from_millis(millis),
            fail: Arc::clone(fail),
            refuse: false,
            log: Arc::clone(&self.log),
        }
    }

    /// A step whose preflight refuses it.
    fn refused(&self) -> Step {
        Step {
            refuse: true,
            ..self.step(10, &Arc::new(AtomicBool::new(false)))
        }
    }

    /// The stack every test here deploys, over this world's state directory.
    fn stack(&self) -> Stack {
        Stack::new("flow").unwrap().state_dir(&self.dir)
    }

    fn at(&self, name: &str, what: &str) -> Option<Instant> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .find(|(n, w, _)| n == name && *w == what)
            .map(|(_, _, t)| *t)
    }

    fn made(&self) -> Vec<String> {
        let mut made: Vec<String> = self
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, w, _)| *w == "made")
            .map(|(n, _, _)| n.clone())
            .collect();
        made.sort();
        made
    }
}

/// The report of a deploy that did not finish.
fn incomplete(err: &Error) -> &DeployReport {
    match err {
        Error::Incomplete { report } => report,
        _ => panic!("expected Incomplete, got {err}"),
    }
}

// A dependent starts when its own dependency is done, not when the slowest resource of the
// same depth is: the share of a small snapshot does not wait for a big snapshot's copy.
#[tokio::test]
async fn a_dependent_starts_as_soon_as_its_own_dependency_is_done() {
    let w = world("pipeline").await;
    let ok = Arc::new(AtomicBool::new(false));
    let mut stack = w.stack();
    let slow = stack.add("slow-copy", w.step(400, &ok)).unwrap();
    let fast = stack.add("fast-copy", w.step(10, &ok)).unwrap();
    stack
        .add_with(
            "slow-share",
            w.step(10, &ok),
            Options::new().depends_on(&slow),
        )
        .unwrap();
    stack
        .add_with(
            "fast-share",
            w.step(10, &ok),
            Options::new().depends_on(&fast),
        )
        .unwrap();
    let report = stack.deploy().await.unwrap();
    assert_eq!(report.outputs.len(), 4);
    let fast_share = w.at("fast-share", "start").unwrap();
    let slow_done = w.at("slow-copy", "made").unwrap();
    assert!(
        fast_share < slow_done,
        "the fast share started {:?} before the slow copy was done",
        slow_done - fast_share
    );
}

// With keep_going, a failure stops only what depends on it; the report lists each outcome;
// a re-run makes only what is not done.
#[tokio::test]
async fn keep_going_isolates_a_failure_and_a_rerun_finishes_only_the_rest() {
    let w = world("keep-going").await;
    let ok = Arc::new(AtomicBool::new(false));
    let broken = Arc::new(AtomicBool::new(true));
    let mut stack = w.stack().keep_going(true);
    let bad = stack.add("bad-copy", w.step(10, &broken)).unwrap();
    stack
        .add_with(
            "bad-share",
            w.step(10, &ok),
            Options::new().depends_on(&bad),
        )
        .unwrap();
    let good = stack.add("good-copy", w.step(50, &ok)).unwrap();
    stack
        .add_with(
            "good-share",
            w.step(10, &ok),
            Options::new().depends_on(&good),
        )
        .unwrap();
    let err = stack.deploy().await.unwrap_err();
    let report = incomplete(&err);
    assert_eq!(
        report.outputs.keys().collect::<Vec<_>>(),
        ["good-copy", "good-share"]
    );
    assert_eq!(report.failed.keys().collect::<Vec<_>>(), ["bad-copy"]);
    assert!(report.failed["bad-copy"].contains("injected failure"));
    assert_eq!(report.skipped, ["bad-share"]);
    assert!(err
        .to_string()
        .contains("2 resource(s) deployed, 1 failed, 1 skipped"));
    assert_eq!(w.made(), ["good-copy", "good-share"]);

    broken.store(false, Ordering::SeqCst);
    w.log.lock().unwrap().clear();
    let report = stack.deploy().await.unwrap();
    assert!(report.is_complete());
    assert_eq!(
        w.made(),
        ["bad-copy", "bad-share"],
        "only the remainder is made"
    );
}

// With keep_going, a resource its preflight refuses is not made, nor anything that depends on
// it, directly or not; the rest deploys. A dependency named twice is waited for once.
#[tokio::test]
async fn keep_going_skips_what_a_refused_preflight_holds_back_and_deploys_the_rest() {
    let w = world("keep-going-preflight").await;
    let ok = Arc::new(AtomicBool::new(false));
    let mut stack = w.stack().keep_going(true);
    let copy = stack.add("ok-copy", w.step(10, &ok)).unwrap();
    let refused = stack.add("refused-copy", w.refused()).unwrap();
    stack
        .add_with(
            "ok-share",
            w.step(10, &ok),
            Options::new().depends_on(&copy).depends_on(&copy),
        )
        .unwrap();
    let share = stack
        .add_with(
            "refused-share",
            w.step(10, &ok),
            Options::new().depends_on(&refused),
        )
        .unwrap();
    stack
        .add_with(
            "refused-restore",
            w.step(10, &ok),
            Options::new().depends_on(&share),
        )
        .unwrap();
    let err = stack.deploy().await.unwrap_err();
    let report = incomplete(&err);
    assert_eq!(
        report.outputs.keys().collect::<Vec<_>>(),
        ["ok-copy", "ok-share"]
    );
    assert_eq!(report.failed.keys().collect::<Vec<_>>(), ["refused-copy"]);
    assert!(report.failed["refused-copy"].contains("refused in preflight"));
    assert_eq!(report.skipped, ["refused-share", "refused-restore"]);
    assert_eq!(w.made(), ["ok-copy", "ok-share"]);
}

// Without keep_going, the first failure stops new work: nothing else starts after it.
#[tokio::test]
async fn without_keep_going_a_failure_stops_new_work() {
    let w = world("stop").await;
    let ok = Arc::new(AtomicBool::new(false));
    let broken = Arc::new(AtomicBool::new(true));
    let mut stack = w.stack().concurrency(1);
    stack.add("bad", w.step(10, &broken)).unwrap();
    stack.add("later", w.step(10, &ok)).unwrap();
    let err = stack.deploy().await.unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert!(
        w.at("later", "start").is_none(),
        "nothing starts after a failure"
    );
}
