//! A stateful property test of the crate's promise, on the fake AWS. Random sequences of
//! deploy, teardown, definition edits (options toggled, a resource removed and added back),
//! injected faults (before or after a call takes effect) and changes made outside snapshift (a
//! foreign database or snapshot under a name snapshift will use, a recovery point deleted by
//! hand), over the migration, re-encryption, cross-region backup and fleet flows. After every
//! step: no snapshot or database that holds the user's data was deleted unless another copy
//! of it remains; nothing without this stack's tags was changed or deleted; no key is pending
//! deletion while anything is encrypted under it; and a deploy or teardown run again after a
//! fault either finishes or stops on a refusal that protects data, without duplicates.
//!
//! `SNAPSHIFT_MODEL_CASES` sets the number of sequences (default 64) and
//! `SNAPSHIFT_MODEL_SEED` the seed (fixed by default, so a run repeats); the test prints how
//! many sequences and steps it ran.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use proptest::prelude::*;
use snapshift::{
    aws::{backup::Backup, Account},
    backup::{Lifecycle, ProtectedCluster, StartWindow, Windows},
    cross_region::{BackupHandles, CrossRegionBackup},
    engine::{Options, Stack, WaitConfig},
    error::Error,
    fleet::FleetMigration,
    ids::{AccountId, Region},
    key::ShareableKey,
    migration::{RestoreSpec, SnapshotMigration},
    resources::KeyResource,
    testing::{AwsFault, FakeAws, Fault, SeedSnapshot},
};

const A: &str = "111111111111";
const B: &str = "999999999999";

fn id(s: &str) -> AccountId {
    s.parse().unwrap()
}

fn src() -> Region {
    "ap-northeast-1".parse().unwrap()
}

fn dst() -> Region {
    "ap-northeast-3".parse().unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Migration,
    Reencrypt,
    Backup,
    Fleet,
}

/// The definition's options a sequence toggles.
#[derive(Debug, Clone, Copy)]
struct Def {
    key_retained: bool,
    keep_target: bool,
    delete_source: bool,
    restore: bool,
    /// Whether the migration releases its share and intermediate copy as it goes (R25).
    release: bool,
    /// Whether the flow's resources (not the key) are in the definition.
    included: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Deploy,
    Teardown,
    /// Toggles one option of the definition (0 to 4).
    Edit(u8),
    /// A fault on the `nth` call of a mutating operation, before or after it takes effect,
    /// during a deploy (or a teardown); then the same run again without the fault.
    Fault {
        operation: usize,
        nth: usize,
        after: bool,
        teardown: bool,
    },
    /// Someone makes a database under the restore's name.
    ForeignDatabase,
    /// Someone makes a snapshot under the target copy's identifier.
    ForeignSnapshot,
    /// An on-demand backup and its copy (backup flow).
    BackupNow,
    /// A recovery point deleted by hand.
    DeletePointByHand,
}

const MUTATING: &[&str] = &[
    "CreateKey",
    "CreateAlias",
    "PutKeyPolicy",
    "ReplicateKey",
    "ScheduleKeyDeletion",
    "DeleteAlias",
    "CopyDBClusterSnapshot",
    "CopyDBSnapshot",
    "ModifyDBClusterSnapshotAttribute",
    "AddTagsToResource",
    "DeleteDBClusterSnapshot",
    "DeleteDBSnapshot",
    "RestoreDBClusterFromSnapshot",
    "ModifyDBCluster",
    "CreateBackupVault",
    "DeleteBackupVault",
    "CreateRole",
    "PutRolePolicy",
    "DeleteRole",
    "CreateBackupPlan",
    "CreateBackupSelection",
    "DeleteBackupPlan",
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Deploy),
        3 => Just(Op::Teardown),
        3 => (0u8..6).prop_map(Op::Edit),
        4 => (0..MUTATING.len(), 1usize..3, any::<bool>(), any::<bool>()).prop_map(
            |(operation, nth, after, teardown)| Op::Fault { operation, nth, after, teardown }
        ),
        1 => Just(Op::ForeignDatabase),
        1 => Just(Op::ForeignSnapshot),
        2 => Just(Op::BackupNow),
        1 => Just(Op::DeletePointByHand),
    ]
}

fn flow() -> impl Strategy<Value = Flow> {
    prop_oneof![
        Just(Flow::Migration),
        Just(Flow::Reencrypt),
        Just(Flow::Backup),
        Just(Flow::Fleet),
    ]
}

struct World {
    fake: FakeAws,
    a: Account,
    b: Account,
    dir: PathBuf,
    flow: Flow,
    /// Things made outside snapshift: (account, region, id) and their tags then.
    foreign_databases: BTreeMap<String, (Vec<(String, String)>, bool)>,
    foreign_snapshots: BTreeMap<String, Vec<(String, String)>>,
    /// A database snapshift restored, once seen: it must stay.
    restored_seen: bool,
}

static CASE: AtomicUsize = AtomicUsize::new(0);
static STEPS: AtomicUsize = AtomicUsize::new(0);

const FLEET: [&str; 3] = ["f-0", "f-1", "f-2"];

async fn world(flow: Flow) -> World {
    let fake = FakeAws::start().await;
    fake.set_copy_time(Duration::from_millis(2));
    fake.set_backup_job_time(Duration::from_millis(5));
    let a = fake.account(id(A)).await;
    let b = fake.account(id(B)).await;
    let case = CASE.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("snapshift-model-{case}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    match flow {
        Flow::Migration => {
            fake.seed_snapshot(SeedSnapshot::cluster(
                id(A),
                &src(),
                "s1",
                "orders",
                Some("alias/aws/rds"),
            ))
            .unwrap();
        }
        Flow::Reencrypt => {
            fake.seed_snapshot(SeedSnapshot::db(
                id(A),
                &src(),
                "db-1",
                "orders-db",
                Some("alias/aws/rds"),
            ))
            .unwrap();
        }
        Flow::Backup => {
            fake.seed_cluster(id(A), &src(), "example-db", Some("alias/aws/rds"))
                .unwrap();
        }
        Flow::Fleet => {
            for (i, s) in FLEET.iter().enumerate() {
                fake.seed_snapshot(SeedSnapshot::cluster(
                    id(A),
                    &src(),
                    s,
                    &format!("db-{i}"),
                    Some("alias/aws/rds"),
                ))
                .unwrap();
            }
        }
    }
    World {
        fake,
        a,
        b,
        dir,
        flow,
        foreign_databases: BTreeMap::new(),
        foreign_snapshots: BTreeMap::new(),
        restored_seen: false,
    }
}

fn backup_definition() -> CrossRegionBackup {
    CrossRegionBackup::new(src(), dst())
        .cluster(ProtectedCluster::new(
            "example-db".parse().unwrap(),
            "example-db-subnet-group".parse().unwrap(),
            "example-db-cluster-pg".parse().unwrap(),
        ))
        .schedule("cron(0 16 * * ? *)".parse().unwrap())
        .windows(Windows::new(StartWindow::minutes(60).unwrap(), 480).unwrap())
        .lifecycle(Lifecycle::delete_after(35).unwrap())
        .copy_lifecycle(Lifecycle::delete_after(35).unwrap())
}

/// The stack for the definition; `None` when the definition is refused as written (the edit
/// is then not made).
async fn build(w: &World, def: Def) -> Option<(Stack, Option<BackupHandles>)> {
    let mut stack = Stack::new("model")
        .unwrap()
        .state_dir(&w.dir)
        .wait(WaitConfig::fast());
    let key_options = || {
        if def.key_retained {
            Options::new().retain()
        } else {
            Options::new()
        }
    };
    let key = |grant: bool| {
        let mut key = ShareableKey::new().alias("model").deletion_window_days(7);
        if grant {
            key = key.grant_account(id(B));
        }
        KeyResource::new(&w.a, src(), key.build().unwrap()).unwrap()
    };
    match w.flow {
        Flow::Migration => {
            let key = stack.add_with("key", key(true), key_options()).unwrap();
            if def.included {
                let source = format!("arn:aws:rds:ap-northeast-1:{A}:cluster-snapshot:s1")
                    .parse()
                    .unwrap();
                let mut m = SnapshotMigration::new(&w.a, source)
                    .via(&key)
                    .to(&w.b)
                    .keep_target(def.keep_target)
                    .release_as_you_go(def.release);
                if def.restore {
                    m = m.restore(RestoreSpec::new("orders-restored").unwrap());
                }
                stack.add_migration("orders", m).ok()?;
            }
            Some((stack, None))
        }
        Flow::Reencrypt => {
            let key = stack.add_with("key", key(false), key_options()).unwrap();
            if def.included {
                let source = format!("arn:aws:rds:ap-northeast-1:{A}:snapshot:db-1")
                    .parse()
                    .unwrap();
                let m = SnapshotMigration::reencrypt(&w.a, source)
                    .with_key(&key)
                    .keep_target(def.keep_target)
                    .delete_source(def.delete_source);
                stack.add_reencryption("db-1", m).ok()?;
            }
            Some((stack, None))
        }
        Flow::Backup => {
            let handles = stack
                .add_cross_region_backup("example-db-dr", &w.a, backup_definition())
                .unwrap();
            Some((stack, Some(handles)))
        }
        Flow::Fleet => {
            let fleet = FleetMigration::new(&w.a, src())
                .snapshots(FLEET.iter().map(|s| {
                    format!("arn:aws:rds:ap-northeast-1:{A}:cluster-snapshot:{s}")
                        .parse()
                        .unwrap()
                }))
                .to(&w.b)
                .resolve()
                .await
                .ok()?;
            stack.add_fleet("mv", fleet).ok()?;
            Some((stack, None))
        }
    }
}

/// Whether an error is one the crate gives to protect data or to refuse what it did not make:
/// the refusals the promise asks for.
fn protective(e: &Error) -> bool {
    matches!(
        e,
        Error::StillNeeded { .. }
            | Error::KeyInUse { .. }
            | Error::VaultNotEmpty { .. }
            | Error::NotOurs { .. }
            | Error::Definition { .. }
            | Error::Incomplete { .. }
    )
}

fn key_id_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The invariants, checked after every step.
fn check(w: &mut World, step: &str) {
    let accounts = [id(A), id(B)];
    let regions = [src(), dst()];
    let mut snapshots = Vec::new();
    let mut databases = Vec::new();
    let mut points = Vec::new();
    let mut keys = Vec::new();
    for account in accounts {
        for region in &regions {
            snapshots.extend(w.fake.snapshots(account, region));
            databases.extend(w.fake.databases(account, region));
            points.extend(w.fake.recovery_points(account, region));
            keys.extend(w.fake.keys(account, region));
        }
    }
    let has = |id_: &str| snapshots.iter().any(|s| s.id == id_ && s.account == id(A));
    // The user's data: each source, or (re-encryption with delete_source) its one copy.
    match w.flow {
        Flow::Migration => assert!(has("s1"), "{step}: the source s1 was deleted"),
        Flow::Reencrypt => assert!(
            has("db-1") || has("db-1-reencrypted"),
            "{step}: db-1 and its re-encrypted copy are both gone"
        ),
        Flow::Fleet => {
            for s in FLEET {
                assert!(has(s), "{step}: the source {s} was deleted");
            }
        }
        Flow::Backup => assert!(
            databases.iter().any(|d| d.id == "example-db"),
            "{step}: the protected cluster was deleted"
        ),
    }
    if databases
        .iter()
        .any(|d| d.id == "orders-restored" && !d.tags.is_empty())
    {
        w.restored_seen = true;
    }
    if w.restored_seen {
        assert!(
            databases.iter().any(|d| d.id == "orders-restored"),
            "{step}: a restored database was deleted"
        );
    }
    // Nothing without this stack's tags was changed or deleted.
    for (name, (tags, managed)) in &w.foreign_databases {
        let now = databases.iter().find(|d| &d.id == name);
        assert_eq!(
            now.map(|d| (&d.tags, d.manage_master_user_password)),
            Some((tags, *managed)),
            "{step}: the foreign database {name} was changed or deleted"
        );
    }
    for (name, tags) in &w.foreign_snapshots {
        let now = snapshots
            .iter()
            .find(|s| &s.id == name && s.account == id(B));
        assert_eq!(
            now.map(|s| &s.tags),
            Some(tags),
            "{step}: the foreign snapshot {name} was changed"
        );
    }
    // No key pending deletion while anything is encrypted under it.
    for key in keys
        .iter()
        .filter(|k| k.state.starts_with("Pending") && !k.aws_managed)
    {
        let under = |arn: &Option<String>| arn.as_deref().is_some_and(|a| key_id_of(a) == key.id);
        let users: Vec<String> = snapshots
            .iter()
            .filter(|s| under(&s.kms_key))
            .map(|s| s.id.clone())
            .chain(
                databases
                    .iter()
                    .filter(|d| under(&d.kms_key))
                    .map(|d| d.id.clone()),
            )
            .chain(
                points
                    .iter()
                    .filter(|p| under(&p.key_arn))
                    .map(|p| p.arn.clone()),
            )
            .collect();
        assert!(
            users.is_empty(),
            "{step}: key {} is {} while {users:?} are encrypted under it",
            key.id,
            key.state
        );
    }
    // No duplicates: at most one live key per creation (its token) in each region. A key
    // retained at teardown and a new one made by a later deploy are two creations.
    let mut live: BTreeMap<(String, String), usize> = BTreeMap::new();
    for key in keys
        .iter()
        .filter(|k| k.state == "Enabled" && !k.aws_managed)
    {
        if let Some((_, token)) = key.tags.iter().find(|(k, _)| k == "snapshift:token") {
            *live
                .entry((key.region.to_string(), token.clone()))
                .or_default() += 1;
        }
    }
    for ((region, token), n) in live {
        assert!(
            n <= 1,
            "{step}: {n} live keys of one creation ({token}) in {region}"
        );
    }
}

fn def() -> impl Strategy<Value = Def> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(key_retained, keep_target, delete_source, restore, release)| Def {
                key_retained,
                keep_target,
                delete_source,
                restore,
                release,
                included: true,
            },
        )
}

async fn run(flow: Flow, mut def: Def, ops: Vec<Op>) {
    let mut w = world(flow).await;
    let mut made_points: Vec<snapshift::cross_region::RecoveryPointRef> = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        STEPS.fetch_add(1, Ordering::SeqCst);
        let step = format!("{flow:?} step {n} {op:?} (ops {ops:?}, def {def:?})");
        let Some((stack, handles)) = build(&w, def).await else {
            continue;
        };
        match op {
            Op::Deploy => {
                if let Err(e) = stack.deploy().await {
                    assert!(protective(&e), "{step}: deploy failed: {e}");
                }
            }
            Op::Teardown => {
                if let Err(e) = stack.teardown().await {
                    assert!(protective(&e), "{step}: teardown failed: {e}");
                }
            }
            Op::Edit(which) => {
                let mut edited = def;
                match which {
                    0 => edited.key_retained = !edited.key_retained,
                    1 => edited.keep_target = !edited.keep_target,
                    2 => edited.delete_source = !edited.delete_source,
                    3 => edited.restore = !edited.restore,
                    4 => edited.release = !edited.release,
                    _ => edited.included = !edited.included,
                }
                if build(&w, edited).await.is_some() {
                    def = edited;
                }
            }
            Op::Fault {
                operation,
                nth,
                after,
                teardown,
            } => {
                let code = AwsFault::new("InternalFailure", "injected fault");
                let fault = if *after {
                    Fault::ErrorAfterApply(code)
                } else {
                    Fault::Error(code)
                };
                w.fake.inject(MUTATING[*operation], *nth, fault);
                let first = if *teardown {
                    stack.teardown().await.map(drop)
                } else {
                    stack.deploy().await.map(drop)
                };
                let _ = first;
                w.fake.clear_faults();
                check(&mut w, &format!("{step}, faulted run"));
                // Run again without the fault: it finishes, or stops on a refusal that
                // protects data.
                let again = if *teardown {
                    stack.teardown().await.map(drop)
                } else {
                    stack.deploy().await.map(drop)
                };
                if let Err(e) = again {
                    assert!(
                        protective(&e),
                        "{step}: the run after the fault failed: {e}"
                    );
                }
            }
            Op::ForeignDatabase => {
                if w.fake
                    .seed_cluster(id(B), &src(), "orders-restored", None)
                    .is_ok()
                {
                    let seeded = w
                        .fake
                        .databases(id(B), &src())
                        .into_iter()
                        .find(|d| d.id == "orders-restored")
                        .map(|d| (d.tags, d.manage_master_user_password))
                        .unwrap();
                    w.foreign_databases.insert("orders-restored".into(), seeded);
                }
            }
            Op::ForeignSnapshot => {
                let name = match flow {
                    Flow::Fleet => "f-0",
                    _ => "s1",
                };
                let seed = SeedSnapshot::cluster(id(B), &src(), name, "theirs", None);
                if w.fake.seed_snapshot(seed).is_ok() {
                    w.foreign_snapshots.insert(name.into(), Vec::new());
                }
            }
            Op::BackupNow => {
                if let Some(handles) = &handles {
                    if let Ok(point) = stack
                        .backup_now(handles, &"example-db".parse().unwrap())
                        .await
                    {
                        made_points.push(point.clone());
                        if let Ok(copy) = stack.copy_to_destination(handles, &point).await {
                            made_points.push(copy);
                        }
                    }
                }
            }
            Op::DeletePointByHand => {
                if let Some(point) = made_points.pop() {
                    let _ = Backup::new(&w.a, &point.region)
                        .delete_recovery_point(&point.vault, &point.arn)
                        .await;
                }
            }
        }
        check(&mut w, &step);
    }
    let _ = &w.b;
}

#[test]
fn the_promise_holds_over_random_sequences_of_steps_faults_and_outside_changes() {
    let cases = std::env::var("SNAPSHIFT_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // A fixed seed by default, so that a run repeats; `SNAPSHIFT_MODEL_SEED=<u64>` explores
    // other sequences (the failing sequence is printed whole, steps and definition).
    let seed = std::env::var("SNAPSHIFT_MODEL_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_261_206_u64);
    let config = ProptestConfig {
        cases,
        max_shrink_iters: 64,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    };
    proptest!(config, |(flow in flow(), def in def(), ops in prop::collection::vec(op(), 3..12))| {
        runtime.block_on(run(flow, def, ops));
    });
    println!(
        "{} sequences, {} steps (seed {seed})",
        CASE.load(Ordering::SeqCst),
        STEPS.load(Ordering::SeqCst)
    );
}
