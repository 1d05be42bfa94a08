//! The fake AWS Backup (restJson1): vaults, plans, selections, recovery points, and backup,
//! copy and restore jobs for Aurora clusters, per account and region.
//!
//! # What it models, rule by rule
//! - **Vaults**: as AWS does (and its reference does not say), `DescribeBackupVault` and
//!   `ListRecoveryPointsByBackupVault` of a vault that does not exist answer
//!   `AccessDeniedException` (HTTP 403), not `ResourceNotFoundException`.
//!   `CreateBackupVault` (names of 2 to 50 letters, digits, `-` and `_`; the key
//!   must be a key ARN of the vault's own account and region, and not a replica still
//!   `Creating`, R26; without one, the AWS managed
//!   `alias/aws/backup` key, made on demand), `DescribeBackupVault`, `ListBackupVaults`,
//!   `DeleteBackupVault` (refused while the vault holds recovery points) and `ListTags`. The
//!   `Default` vault exists on demand in every account and region under `alias/aws/backup`
//!   (R11).
//! - **Plans** (`CreateBackupPlan`, `GetBackupPlan`, `UpdateBackupPlan`, `DeleteBackupPlan`,
//!   `ListBackupPlans`): a rule's `ScheduleExpression` must be a six-field `cron(...)`
//!   (UTC), `StartWindowMinutes` at least 60 and `CompletionWindowMinutes` longer than the
//!   start window (default 480; R13); `DeleteAfterDays` is 1 to 36500 and at least
//!   `MoveToColdStorageAfterDays` + 90, in the rule and in each copy action (R24); the
//!   target vault and every copy action's destination vault must already exist (R13). A plan
//!   is refused deletion while selections remain. `GetBackupPlan` answers with the rules as
//!   AWS does: `RuleId` and the default windows filled in.
//! - **Selections** (`CreateBackupSelection`, `GetBackupSelection`, `DeleteBackupSelection`,
//!   `ListBackupSelections`): the role must be an IAM role of the account whose trust policy
//!   lets `backup.amazonaws.com` call `sts:AssumeRole`, and `Resources` or `ListOfTags` must
//!   name something (R14). A role just created, or whose trust or inline policy just changed,
//!   is refused for the next calls that name it (R26; see [`super::Consistency`]).
//!   `GetBackupSelection` of a plan that does not exist (deleted outside
//!   the tool) answers `InvalidParameterValueException` `Cannot find Backup plan with ID
//!   <id>`, as AWS does, not `ResourceNotFoundException` (R32).
//! - **Jobs**, each done after the job time ([`super::FakeAws::set_backup_job_time`],
//!   default 50 ms; `RUNNING` until then). `StartBackupJob` of an Aurora cluster makes a
//!   recovery point that is the RDS cluster snapshot
//!   `arn:aws:rds:<region>:<account>:cluster-snapshot:awsbackup:job-<id>` (R16), under the
//!   cluster's own key whatever the vault's key (R11); it shows in RDS (snapshot type
//!   `awsbackup`) once the job is done. `StartCopyJob` copies a recovery point into a vault
//!   of another region as `...:awsbackup:copyjob-<id>` (R16), under the destination vault's
//!   key; when that is the AWS managed `alias/aws/backup` key, the copy lands under
//!   `alias/aws/rds` of the destination region (R11). The copy job fails (no recovery point)
//!   when the role's inline policies do not allow `backup:CopyIntoBackupVault` on the
//!   destination vault or, for a customer managed destination key, `kms:CreateGrant`,
//!   `kms:GenerateDataKey` and `kms:Decrypt` on that key (Allow statements with `*`
//!   wildcards; conditions are not evaluated). `StartRestoreJob` creates only the cluster, no
//!   DB instances (R17), under the recovery point's key, and fails when a cluster of that
//!   name exists. Jobs started again with the same `IdempotencyToken` answer with the first
//!   job.
//! - **Recovery points**: `ListRecoveryPointsByBackupVault`, `DescribeRecoveryPoint`,
//!   `DeleteRecoveryPoint` (which removes its RDS snapshot too; refused with
//!   `InvalidResourceStateException` while its job runs).
//! - A repeated `CreatorRequestId` returns the plan (or selection) it created when the
//!   request is the same, as the API reference says, and is refused with
//!   `AlreadyExistsException` (with `Arn` and `CreatorRequestId`) when it differs.
//!
//! # Error codes
//! Taken from AWS: `InvalidRequestException` "Backup vault cannot be deleted because it
//! contains recovery points." and "Related backup plan selections must be deleted prior to
//! backup plan deletion"; the lifecycle messages "Error in rule `<name>` : Invalid lifecycle.
//! DeleteAfterDays cannot be less than 90 days apart from MoveToColdStorageAfterDays" and
//! "... cannot be less than 1 or more than 36500 days" (`InvalidParameterValueException`);
//! HTTP status 400 for every client error, `ResourceNotFoundException` included, as the API
//! reference lists. Chosen where AWS documents nothing: `InvalidParameterValueException`
//! (with the same "Error in rule `<name>` : " prefix) for a bad schedule, window, missing
//! target or destination vault, vault name or vault key, an untrusted or missing role, an
//! empty selection, or a resource that is not an Aurora cluster of the caller's account and
//! region; `ResourceNotFoundException` for a missing vault, plan, selection, recovery point or
//! job; `InvalidRequestException` for copying or restoring a recovery point that is not
//! `COMPLETED`.
//!
//! # What it does not model
//! Not modelled: resources other than Aurora clusters, scheduled runs of plans (only on-demand
//! jobs run), vault access policies and locks, cross-account copies, old plan versions,
//! `TagResource`, and key access of restores (R9 is modelled by RDS restores).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use super::{
    kms, page, rds, unknown,
    wire::{AwsFault, Params},
    Caller, FakeDatabase, FakeSnapshot, SeedSnapshot, World,
};
use crate::{
    ids::{AccountId, Region, SnapshotKind},
    policy::{action_matches, Effect, PolicyDocument, Principal},
    rules::limits,
};

/// The service principal a backup role must trust (R14).
const BACKUP_PRINCIPAL: &str = "backup.amazonaws.com";

/// The vault AWS Backup makes in every account and region.
const DEFAULT_VAULT: &str = "Default";

/// The longest window AWS Backup takes: 100 years in minutes.
const MAX_WINDOW_MINUTES: i64 = 52_560_000;

/// A backup vault as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeVault {
    /// The owning account.
    pub account: AccountId,
    /// The region.
    pub region: Region,
    /// The vault name.
    pub name: String,
    /// The ARN of the key that encrypts what is copied into it (R11).
    pub key_arn: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// The `CreatorRequestId` it was created with, if any.
    pub creator_request_id: Option<String>,
    created: f64,
}

impl FakeVault {
    /// The vault ARN, `arn:aws:backup:<region>:<account>:backup-vault:<name>`.
    pub fn arn(&self) -> String {
        vault_arn(self.account, &self.region, &self.name)
    }
}

/// A backup plan as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeBackupPlan {
    /// The owning account.
    pub account: AccountId,
    /// The region.
    pub region: Region,
    /// The plan id.
    pub id: String,
    /// `BackupPlanName`.
    pub name: String,
    /// The current version id.
    pub version_id: String,
    /// The rules as AWS answers them: the rules given, with `RuleId` and the default windows
    /// filled in.
    pub rules: Value,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// The `CreatorRequestId` it was created with, if any.
    pub creator_request_id: Option<String>,
    input: Value,
    created: f64,
}

impl FakeBackupPlan {
    /// The plan ARN, `arn:aws:backup:<region>:<account>:backup-plan:<id>`.
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:backup:{}:{}:backup-plan:{}",
            self.region.partition(),
            self.region,
            self.account,
            self.id
        )
    }
}

/// A backup selection as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeBackupSelection {
    /// The owning account.
    pub account: AccountId,
    /// The region.
    pub region: Region,
    /// The plan it belongs to.
    pub plan_id: String,
    /// The selection id.
    pub id: String,
    /// `SelectionName`.
    pub name: String,
    /// The role AWS Backup assumes (R14).
    pub role_arn: String,
    /// The resources it names by ARN.
    pub resources: Vec<String>,
    /// The tags it selects by (`ListOfTags`: condition key and value).
    pub tags: Vec<(String, String)>,
    /// The selection as given (`BackupSelection`).
    pub selection: Value,
    /// The `CreatorRequestId` it was created with, if any.
    pub creator_request_id: Option<String>,
    created: f64,
}

/// A recovery point as the fake holds it. For Aurora it is an RDS cluster snapshot: its ARN
/// is the snapshot's (R16).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeRecoveryPoint {
    /// The recovery point ARN (the cluster snapshot's ARN).
    pub arn: String,
    /// The owning account.
    pub account: AccountId,
    /// The region.
    pub region: Region,
    /// The vault that holds it.
    pub vault: String,
    /// The ARN of the key that encrypts it (R11); `None` for an unencrypted cluster.
    pub key_arn: Option<String>,
    /// The cluster it was taken from.
    pub resource_arn: String,
    /// For a copy, the vault it was copied from.
    pub source_vault_arn: Option<String>,
    /// The role of the job that made it.
    pub iam_role_arn: String,
    /// The lifecycle it was given (`null` for none).
    pub lifecycle: Value,
    completed_at: Option<f64>,
    created: f64,
}

impl FakeRecoveryPoint {
    /// `CREATING` while the job that makes it runs, then `COMPLETED`.
    pub fn status(&self) -> &'static str {
        if self.completed_at.is_some() {
            "COMPLETED"
        } else {
            "CREATING"
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobKind {
    Backup,
    Copy,
    Restore,
}

/// A backup, copy or restore job. Its effects (the RDS snapshot, the restored cluster) happen
/// when it is settled, after its job time.
#[derive(Debug, Clone)]
struct Job {
    kind: JobKind,
    token: Option<String>,
    iam_role_arn: String,
    /// The cluster backed up, copied or restored from.
    resource_arn: String,
    /// Backup: the vault; copy: the destination vault; restore: the recovery point's vault.
    vault_arn: String,
    /// Copy: the source vault.
    source_vault_arn: Option<String>,
    /// Copy and restore: the recovery point read.
    source_recovery_point: Option<String>,
    /// Backup and copy: the recovery point made (none for a copy that fails).
    recovery_point: Option<String>,
    key_arn: Option<String>,
    /// The RDS snapshot the recovery point becomes.
    snapshot: Option<FakeSnapshot>,
    /// Restore: the cluster to create.
    cluster: Option<FakeDatabase>,
    failure: Option<String>,
    ready_at: Instant,
    completed_at: Option<f64>,
    created: f64,
}

impl Job {
    fn state(&self) -> &'static str {
        match (self.completed_at, &self.failure) {
            (None, _) => "RUNNING",
            (Some(_), Some(_)) => "FAILED",
            (Some(_), None) => "COMPLETED",
        }
    }

    fn percent(&self) -> &'static str {
        if self.completed_at.is_some() {
            "100.0"
        } else {
            "0.0"
        }
    }
}

type Addr = (AccountId, Region, String);

pub(crate) struct Backup {
    pub vaults: BTreeMap<Addr, FakeVault>,
    pub plans: BTreeMap<Addr, FakeBackupPlan>,
    pub selections: BTreeMap<Addr, FakeBackupSelection>,
    /// By ARN.
    pub recovery_points: BTreeMap<String, FakeRecoveryPoint>,
    jobs: BTreeMap<Addr, Job>,
    pub job_time: Duration,
}

impl Default for Backup {
    fn default() -> Backup {
        Backup {
            vaults: BTreeMap::new(),
            plans: BTreeMap::new(),
            selections: BTreeMap::new(),
            recovery_points: BTreeMap::new(),
            jobs: BTreeMap::new(),
            job_time: Duration::from_millis(50),
        }
    }
}

/// The AWS Backup operation a restJson1 request names, from its method and decoded path
/// segments; `None` for a route the fake does not know.
pub(crate) fn route(method: &str, path: &[String]) -> Option<&'static str> {
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    Some(match (method, segments.as_slice()) {
        ("GET", ["backup-vaults"]) => "ListBackupVaults",
        ("PUT", ["backup-vaults", _]) => "CreateBackupVault",
        ("GET", ["backup-vaults", _]) => "DescribeBackupVault",
        ("DELETE", ["backup-vaults", _]) => "DeleteBackupVault",
        ("GET", ["backup-vaults", _, "recovery-points"]) => "ListRecoveryPointsByBackupVault",
        ("GET", ["backup-vaults", _, "recovery-points", _]) => "DescribeRecoveryPoint",
        ("DELETE", ["backup-vaults", _, "recovery-points", _]) => "DeleteRecoveryPoint",
        ("GET", ["tags", _]) => "ListTags",
        ("PUT", ["backup", "plans"]) => "CreateBackupPlan",
        ("GET", ["backup", "plans"]) => "ListBackupPlans",
        ("GET", ["backup", "plans", _]) => "GetBackupPlan",
        ("POST", ["backup", "plans", _]) => "UpdateBackupPlan",
        ("DELETE", ["backup", "plans", _]) => "DeleteBackupPlan",
        ("PUT", ["backup", "plans", _, "selections"]) => "CreateBackupSelection",
        ("GET", ["backup", "plans", _, "selections"]) => "ListBackupSelections",
        ("GET", ["backup", "plans", _, "selections", _]) => "GetBackupSelection",
        ("DELETE", ["backup", "plans", _, "selections", _]) => "DeleteBackupSelection",
        ("PUT", ["backup-jobs"]) => "StartBackupJob",
        ("GET", ["backup-jobs", _]) => "DescribeBackupJob",
        ("PUT", ["copy-jobs"]) => "StartCopyJob",
        ("GET", ["copy-jobs", _]) => "DescribeCopyJob",
        ("PUT", ["restore-jobs"]) => "StartRestoreJob",
        ("GET", ["restore-jobs", _]) => "DescribeRestoreJob",
        _ => return None,
    })
}

/// Finishes the jobs whose time has come: their recovery points complete and show in RDS,
/// their restored clusters appear. Called before every request and every read of the state.
pub(crate) fn settle(world: &mut World) {
    let now = Instant::now();
    let due: Vec<Addr> = world
        .backup
        .jobs
        .iter()
        .filter(|(_, job)| job.completed_at.is_none() && job.ready_at <= now)
        .map(|(addr, _)| addr.clone())
        .collect();
    for addr in due {
        let Some(job) = world.backup.jobs.get(&addr).cloned() else {
            continue;
        };
        let done = World::now();
        let mut failure = job.failure.clone();
        if failure.is_none() {
            if let Some(snapshot) = job.snapshot {
                world.rds.add_snapshot(snapshot);
            }
            if let Some(arn) = &job.recovery_point {
                if let Some(point) = world.backup.recovery_points.get_mut(arn) {
                    point.completed_at = Some(done);
                }
            }
            if let Some(cluster) = job.cluster {
                let key = (
                    cluster.account,
                    cluster.region.clone(),
                    cluster.kind,
                    cluster.id.clone(),
                );
                if world.rds.databases.contains_key(&key) {
                    failure = Some(cluster_exists(&cluster.id));
                } else {
                    world.rds.add_database(cluster);
                }
            }
        }
        if let Some(job) = world.backup.jobs.get_mut(&addr) {
            job.completed_at = Some(done);
            job.failure = failure;
        }
    }
}

fn cluster_exists(id: &str) -> String {
    format!("DB cluster {id} already exists (DBClusterAlreadyExistsFault); restore under another DBClusterIdentifier")
}

fn vault_arn(account: AccountId, region: &Region, name: &str) -> String {
    format!(
        "arn:{}:backup:{region}:{account}:backup-vault:{name}",
        region.partition()
    )
}

/// The ARN of a cluster, as RDS writes it.
pub(crate) fn cluster_arn(db: &FakeDatabase) -> String {
    format!(
        "arn:{}:rds:{}:{}:cluster:{}",
        db.region.partition(),
        db.region,
        db.account,
        db.id
    )
}

fn not_found(message: impl Into<String>) -> AwsFault {
    AwsFault::new("ResourceNotFoundException", message)
}

fn invalid(message: impl Into<String>) -> AwsFault {
    AwsFault::new("InvalidParameterValueException", message)
}

fn missing(field: &str) -> AwsFault {
    AwsFault::new(
        "MissingParameterValueException",
        format!("{field} is required"),
    )
}

fn uuid(world: &mut World) -> String {
    let hex = world.fresh_hex();
    let part = |from: usize, to: usize| hex.get(from..to).unwrap_or_default().to_owned();
    format!(
        "{}-{}-{}-{}-{}",
        part(0, 8),
        part(8, 12),
        part(12, 16),
        part(16, 20),
        part(20, 32)
    )
}

/// Whether `name` is 1..=`max` characters of letters, digits and `extra`.
fn well_formed(name: &str, min: usize, max: usize, extra: &str) -> bool {
    (min..=max).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

/// Case-sensitive match of an IAM resource pattern: `*` any run, `?` any one character.
fn glob(pattern: &str, value: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), value.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&c) = s.get(si) {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&q) if q == b'?' || q == c => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((star_pi, star_si)) => {
                    star = Some((star_pi, star_si + 1));
                    pi = star_pi + 1;
                    si = star_si + 1;
                }
                None => return false,
            },
        }
    }
    p.get(pi..).unwrap_or_default().iter().all(|&c| c == b'*')
}

/// The inline policies of role `role_arn` of `account`, by name; none when there is no such
/// role.
fn role_policies(world: &World, account: AccountId, role_arn: &str) -> BTreeMap<String, String> {
    let name = role_arn.rsplit('/').next().unwrap_or_default();
    world
        .iam
        .roles
        .get(&(account, name.to_owned()))
        .map(|r| r.policies.clone())
        .unwrap_or_default()
}

/// Whether the role's inline policies allow `action` on `resource`: Allow statements only,
/// `Action` and `Resource` with `*` wildcards; conditions are not evaluated.
pub(crate) fn role_allows(
    policies: &BTreeMap<String, String>,
    action: &str,
    resource: &str,
) -> bool {
    policies
        .values()
        .filter_map(|doc| PolicyDocument::from_json(doc).ok())
        .any(|doc| {
            doc.statements().iter().any(|st| {
                st.effect == Effect::Allow
                    && st
                        .action
                        .as_ref()
                        .is_some_and(|a| a.iter().any(|p| action_matches(p, action)))
                    && st
                        .resource
                        .as_ref()
                        .is_some_and(|r| r.iter().any(|p| glob(p, resource)))
            })
        })
}

/// R14: `role_arn` must be a role of the caller's account that `backup.amazonaws.com` may
/// assume.
fn check_role(world: &World, caller: &Caller, role_arn: &str) -> Result<(), AwsFault> {
    let parsed = role_arn
        .strip_prefix("arn:")
        .map(|rest| rest.splitn(5, ':').collect::<Vec<_>>());
    let (account, name) = match parsed.as_deref() {
        Some([_, "iam", "", account, resource]) if resource.starts_with("role/") => (
            account.parse::<AccountId>().ok(),
            resource.rsplit('/').next().unwrap_or_default(),
        ),
        _ => (None, ""),
    };
    let Some(account) = account else {
        return Err(invalid(format!("{role_arn} is not an IAM role ARN")));
    };
    if account != caller.account {
        return Err(invalid(format!(
            "IAM Role {role_arn} belongs to account {account}, not {} (R14)",
            caller.account
        )));
    }
    let role = world
        .iam
        .roles
        .get(&(account, name.to_owned()))
        .ok_or_else(|| invalid(format!("IAM Role {role_arn} does not exist (R14)")))?;
    let trusted = PolicyDocument::from_json(&role.trust_policy).is_ok_and(|doc| {
        doc.statements().iter().any(|st| {
            st.effect == Effect::Allow
                && st
                    .action
                    .as_ref()
                    .is_some_and(|a| a.iter().any(|p| action_matches(p, "sts:AssumeRole")))
                && st.principal.as_ref().is_some_and(|p| match p {
                    Principal::Any(_) => true,
                    Principal::Map(m) => m
                        .service
                        .as_ref()
                        .is_some_and(|s| s.iter().any(|v| v == BACKUP_PRINCIPAL)),
                })
        })
    });
    if !trusted {
        return Err(invalid(format!(
            "IAM Role {role_arn} cannot be assumed by AWS Backup: its trust policy does not let {BACKUP_PRINCIPAL} call sts:AssumeRole (R14)"
        )));
    }
    Ok(())
}

/// R26: AWS Backup cannot use a role IAM has only just made or changed: the messages
/// Terraform's AWS provider retries (its issue 9297 and PR 12017), `IAM Role <arn> cannot be
/// assumed by AWS Backup` after the role or its trust changed, and, for a selection by tag,
/// `IAM Role <arn> is not authorized to call tag:GetResources` after its inline policy
/// changed. A selection by ARN does not need the role's permissions to be created.
fn role_usable_yet(
    world: &mut World,
    caller: &Caller,
    role_arn: &str,
    by_tag: bool,
) -> Result<(), AwsFault> {
    let name = role_arn.rsplit('/').next().unwrap_or_default().to_owned();
    let key = (caller.account, name);
    let Some((left, change)) = world.iam.unsettled.get_mut(&key) else {
        return Ok(());
    };
    let change = *change;
    if change == super::iam::RoleChange::Policy && !by_tag {
        return Ok(());
    }
    *left -= 1;
    if *left == 0 {
        world.iam.unsettled.remove(&key);
    }
    world.unsettled_answers += 1;
    Err(invalid(match change {
        super::iam::RoleChange::Trust => {
            format!("IAM Role {role_arn} cannot be assumed by AWS Backup")
        }
        super::iam::RoleChange::Policy => {
            format!("IAM Role {role_arn} is not authorized to call tag:GetResources")
        }
    }))
}

/// R24: a lifecycle's day counts; `prefix` names the rule (`Error in rule <name> : `).
fn check_lifecycle(lifecycle: Option<&Value>, prefix: &str) -> Result<(), AwsFault> {
    let Some(lifecycle) = lifecycle.filter(|l| !l.is_null()) else {
        return Ok(());
    };
    let days = |field: &str| lifecycle.get(field).and_then(Value::as_i64);
    let cold = days("MoveToColdStorageAfterDays");
    let delete = days("DeleteAfterDays");
    if let Some(d) = delete {
        if !(1..=36_500).contains(&d) {
            return Err(invalid(format!(
                "{prefix}Invalid lifecycle. DeleteAfterDays cannot be less than 1 or more than 36500 days"
            )));
        }
    }
    if let (Some(c), Some(d)) = (cold, delete) {
        if d < c.saturating_add(i64::from(limits::MIN_COLD_STORAGE_DAYS)) {
            return Err(invalid(format!(
                "{prefix}Invalid lifecycle. DeleteAfterDays cannot be less than 90 days apart from MoveToColdStorageAfterDays"
            )));
        }
    }
    Ok(())
}

/// Reads `arn:<partition>:backup:<region>:<account>:backup-vault:<name>`.
fn parse_vault_arn(arn: &str) -> Option<Addr> {
    let parts: Vec<&str> = arn.strip_prefix("arn:")?.splitn(6, ':').collect();
    let [_, "backup", region, account, "backup-vault", name] = parts.as_slice() else {
        return None;
    };
    Some((
        account.parse().ok()?,
        region.parse().ok()?,
        (*name).to_owned(),
    ))
}

/// The vault at `addr`; the `Default` vault is made on demand under `alias/aws/backup`.
fn find_vault(world: &mut World, addr: &Addr) -> Result<FakeVault, AwsFault> {
    if addr.2 == DEFAULT_VAULT && !world.backup.vaults.contains_key(addr) {
        let caller = Caller {
            account: addr.0,
            region: addr.1.clone(),
        };
        let key_arn = kms::resolve_arn(world, &caller, "alias/aws/backup")?;
        world.backup.vaults.insert(
            addr.clone(),
            FakeVault {
                account: addr.0,
                region: addr.1.clone(),
                name: DEFAULT_VAULT.into(),
                key_arn,
                tags: BTreeMap::new(),
                creator_request_id: None,
                created: World::now(),
            },
        );
    }
    world.backup.vaults.get(addr).cloned().ok_or_else(|| {
        not_found(format!(
            "Backup vault {} does not exist in account {} and region {}",
            addr.2, addr.0, addr.1
        ))
    })
}

/// AWS answers `AccessDeniedException` (HTTP 403), not `ResourceNotFoundException`, when
/// `DescribeBackupVault` or `ListRecoveryPointsByBackupVault` name a vault that does not exist.
fn denied_if_missing(fault: AwsFault) -> AwsFault {
    if fault.code == "ResourceNotFoundException" {
        AwsFault::new(
            "AccessDeniedException",
            "Insufficient privileges to perform this action.",
        )
        .status(403)
    } else {
        fault
    }
}

fn own_vault(world: &mut World, caller: &Caller, name: &str) -> Result<FakeVault, AwsFault> {
    find_vault(
        world,
        &(caller.account, caller.region.clone(), name.to_owned()),
    )
}

fn tag_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn segment(params: &Params, i: usize) -> String {
    params.segment(i).unwrap_or_default().to_owned()
}

fn point_json(p: &FakeRecoveryPoint) -> Value {
    let mut v = json!({
        "RecoveryPointArn": p.arn,
        "BackupVaultName": p.vault,
        "BackupVaultArn": vault_arn(p.account, &p.region, &p.vault),
        "ResourceArn": p.resource_arn,
        "ResourceName": p.resource_arn.rsplit(':').next().unwrap_or_default(),
        "ResourceType": "Aurora",
        "Status": p.status(),
        "IamRoleArn": p.iam_role_arn,
        "CreationDate": p.created,
        "IsEncrypted": p.key_arn.is_some(),
        "StorageClass": "WARM",
    });
    if let Some(key) = &p.key_arn {
        v["EncryptionKeyArn"] = json!(key);
    }
    if let Some(source) = &p.source_vault_arn {
        v["SourceBackupVaultArn"] = json!(source);
    }
    if let Some(done) = p.completed_at {
        v["CompletionDate"] = json!(done);
    }
    if !p.lifecycle.is_null() {
        v["Lifecycle"] = p.lifecycle.clone();
    }
    v
}

fn vault_json(world: &World, v: &FakeVault) -> Value {
    let points = world
        .backup
        .recovery_points
        .values()
        .filter(|p| p.account == v.account && p.region == v.region && p.vault == v.name)
        .count();
    let mut out = json!({
        "BackupVaultName": v.name,
        "BackupVaultArn": v.arn(),
        "EncryptionKeyArn": v.key_arn,
        "NumberOfRecoveryPoints": points,
        "CreationDate": v.created,
        "VaultType": "BACKUP_VAULT",
        "Locked": false,
    });
    if let Some(id) = &v.creator_request_id {
        out["CreatorRequestId"] = json!(id);
    }
    out
}

/// Checks one rule (R13, R24) and returns it as AWS stores it.
fn check_rule(world: &mut World, caller: &Caller, rule: &Value) -> Result<Value, AwsFault> {
    let name = rule
        .get("RuleName")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("RuleName"))?
        .to_owned();
    if !well_formed(&name, 1, 50, "-_.") {
        return Err(invalid(format!(
            "Invalid rule name {name}: 1 to 50 letters, digits and -_. characters"
        )));
    }
    let prefix = format!("Error in rule {name} : ");
    let in_rule = |message: String| invalid(format!("{prefix}{message}"));
    let target = rule
        .get("TargetBackupVaultName")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("TargetBackupVaultName"))?;
    own_vault(world, caller, target).map_err(|_| {
        in_rule(format!(
            "Backup vault {target} does not exist in {}; create the vault before the plan (R13)",
            caller.region
        ))
    })?;
    if let Some(schedule) = rule.get("ScheduleExpression").and_then(Value::as_str) {
        let fields = schedule
            .strip_prefix("cron(")
            .and_then(|rest| rest.strip_suffix(')'))
            .map(|inner| inner.split_whitespace().count());
        if fields != Some(6) {
            return Err(in_rule(format!(
                "Invalid schedule expression {schedule}: expected cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>), in UTC (R13)"
            )));
        }
    }
    let minutes = |field: &str| rule.get(field).and_then(Value::as_i64);
    let start = minutes("StartWindowMinutes");
    if let Some(start) = start {
        if !(i64::from(limits::MIN_START_WINDOW_MINUTES)..=MAX_WINDOW_MINUTES).contains(&start) {
            return Err(in_rule(format!(
                "Invalid StartWindowMinutes {start}: the start window must be at least 60 minutes (R13)"
            )));
        }
    }
    let start = start.unwrap_or(i64::from(limits::DEFAULT_START_WINDOW_MINUTES));
    if let Some(completion) = minutes("CompletionWindowMinutes") {
        if completion <= start || completion > MAX_WINDOW_MINUTES {
            return Err(in_rule(format!(
                "Invalid CompletionWindowMinutes {completion}: the completion window must be longer than the start window of {start} minutes (R13)"
            )));
        }
    }
    check_lifecycle(rule.get("Lifecycle"), &prefix)?;
    for action in rule
        .get("CopyActions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let destination = action
            .get("DestinationBackupVaultArn")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("DestinationBackupVaultArn"))?;
        let addr = parse_vault_arn(destination).ok_or_else(|| {
            in_rule(format!(
                "{destination} is not a backup vault ARN (arn:aws:backup:<region>:<account>:backup-vault:<name>)"
            ))
        })?;
        find_vault(world, &addr).map_err(|_| {
            in_rule(format!(
                "Destination backup vault {destination} does not exist; create it before the plan that copies into it (R13)"
            ))
        })?;
        check_lifecycle(action.get("Lifecycle"), &prefix)?;
    }
    let mut stored = rule.clone();
    stored["RuleId"] = json!(uuid(world));
    stored["StartWindowMinutes"] = json!(start);
    if stored.get("CompletionWindowMinutes").is_none() {
        stored["CompletionWindowMinutes"] = json!(limits::DEFAULT_COMPLETION_WINDOW_MINUTES);
    }
    if stored.get("ScheduleExpressionTimezone").is_none() {
        stored["ScheduleExpressionTimezone"] = json!("Etc/UTC");
    }
    Ok(stored)
}

/// Reads and checks `BackupPlan`: its name and its rules as AWS stores them.
fn read_plan(
    world: &mut World,
    caller: &Caller,
    params: &Params,
) -> Result<(String, Value), AwsFault> {
    let plan = params
        .json()
        .get("BackupPlan")
        .ok_or_else(|| missing("BackupPlan"))?;
    let name = plan
        .get("BackupPlanName")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("BackupPlanName"))?
        .to_owned();
    if !well_formed(&name, 1, 50, "-_.") {
        return Err(invalid(format!(
            "Invalid backup plan name {name}: 1 to 50 letters, digits and -_. characters"
        )));
    }
    let rules = plan
        .get("Rules")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| missing("Rules"))?;
    let rules = rules
        .iter()
        .map(|r| check_rule(world, caller, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name, Value::Array(rules)))
}

/// The address of a plan, selection or job of the caller's account and region.
fn local(caller: &Caller, id: &str) -> Addr {
    (caller.account, caller.region.clone(), id.to_owned())
}

fn find_plan(world: &World, caller: &Caller, id: &str) -> Result<FakeBackupPlan, AwsFault> {
    world
        .backup
        .plans
        .get(&local(caller, id))
        .cloned()
        .ok_or_else(|| not_found(format!("Backup plan {id} does not exist")))
}

fn plan_summary(p: &FakeBackupPlan) -> Value {
    let mut v = json!({
        "BackupPlanId": p.id,
        "BackupPlanArn": p.arn(),
        "BackupPlanName": p.name,
        "VersionId": p.version_id,
        "CreationDate": p.created,
    });
    if let Some(id) = &p.creator_request_id {
        v["CreatorRequestId"] = json!(id);
    }
    v
}

fn selection_summary(s: &FakeBackupSelection) -> Value {
    let mut v = json!({
        "SelectionId": s.id,
        "SelectionName": s.name,
        "BackupPlanId": s.plan_id,
        "IamRoleArn": s.role_arn,
        "CreationDate": s.created,
    });
    if let Some(id) = &s.creator_request_id {
        v["CreatorRequestId"] = json!(id);
    }
    v
}

/// A job started before with the same idempotency token, if any.
fn same_token(world: &World, caller: &Caller, kind: JobKind, token: Option<&str>) -> Option<Addr> {
    let token = token?;
    world
        .backup
        .jobs
        .iter()
        .find(|((account, region, _), job)| {
            *account == caller.account
                && region == &caller.region
                && job.kind == kind
                && job.token.as_deref() == Some(token)
        })
        .map(|(addr, _)| addr.clone())
}

fn find_job(world: &World, caller: &Caller, kind: JobKind, id: &str) -> Result<Job, AwsFault> {
    world
        .backup
        .jobs
        .get(&local(caller, id))
        .filter(|job| job.kind == kind)
        .cloned()
        .ok_or_else(|| not_found(format!("Job {id} does not exist")))
}

fn start_backup_answer(id: &str, job: &Job) -> Value {
    json!({
        "BackupJobId": id,
        "RecoveryPointArn": job.recovery_point,
        "CreationDate": job.created,
        "IsParent": false,
    })
}

/// The snapshot AWS Backup makes for a recovery point: an `awsbackup:` cluster snapshot.
#[allow(clippy::too_many_arguments)]
fn backup_snapshot(
    account: AccountId,
    region: &Region,
    id: &str,
    source: &str,
    engine: &str,
    size_gb: u32,
    key_arn: Option<String>,
    copied_from: Option<String>,
) -> FakeSnapshot {
    let seed = SeedSnapshot {
        kind: SnapshotKind::Cluster,
        account,
        region: region.clone(),
        id: id.to_owned(),
        source: source.to_owned(),
        key: None,
        snapshot_type: "awsbackup".into(),
        size_gb,
        option_group: None,
        tags: Vec::new(),
    };
    let mut snapshot = rds::from_seed(&seed, key_arn);
    snapshot.engine = engine.to_owned();
    snapshot.copied_from = copied_from;
    snapshot
}

/// A list answer with `NextToken` when more remain.
fn with_token(mut body: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        body["NextToken"] = json!(next);
    }
    body
}

pub(crate) fn handle(
    world: &mut World,
    caller: &Caller,
    operation: &str,
    params: &Params,
) -> Result<Value, AwsFault> {
    match operation {
        "CreateBackupVault" => create_vault(world, caller, params),
        "DescribeBackupVault" => {
            let vault = own_vault(world, caller, &segment(params, 1)).map_err(denied_if_missing)?;
            Ok(vault_json(world, &vault))
        }
        "ListBackupVaults" => {
            // The Default vault is there whether or not anyone used it yet.
            own_vault(world, caller, DEFAULT_VAULT)?;
            let vaults = world
                .backup
                .vaults
                .values()
                .filter(|v| v.account == caller.account && v.region == caller.region)
                .map(|v| (v.name.clone(), vault_json(world, v)));
            let (list, next) = page::backup_page(vaults, params, world.page_size())?;
            Ok(with_token(json!({ "BackupVaultList": list }), next))
        }
        "DeleteBackupVault" => {
            let vault = own_vault(world, caller, &segment(params, 1))?;
            let holds_points = world.backup.recovery_points.values().any(|p| {
                p.account == vault.account && p.region == vault.region && p.vault == vault.name
            });
            if holds_points {
                return Err(AwsFault::new(
                    "InvalidRequestException",
                    "Backup vault cannot be deleted because it contains recovery points.",
                ));
            }
            world
                .backup
                .vaults
                .remove(&(vault.account, vault.region, vault.name));
            Ok(json!({}))
        }
        "ListTags" => {
            let arn = segment(params, 1);
            let tags = world
                .backup
                .vaults
                .values()
                .find(|v| v.arn() == arn)
                .map(|v| (v.account, v.region.clone(), v.tags.clone()))
                .or_else(|| {
                    world
                        .backup
                        .plans
                        .values()
                        .find(|p| p.arn() == arn)
                        .map(|p| (p.account, p.region.clone(), p.tags.clone()))
                })
                .filter(|(account, region, _)| {
                    *account == caller.account && region == &caller.region
                })
                .map(|(_, _, tags)| tags)
                .ok_or_else(|| not_found(format!("Resource {arn} does not exist")))?;
            let (page, next) = page::backup_page(
                tags.into_iter().map(|(k, v)| (k.clone(), (k, v))),
                params,
                world.page_size(),
            )?;
            let tags: serde_json::Map<String, Value> =
                page.into_iter().map(|(k, v)| (k, json!(v))).collect();
            Ok(with_token(json!({ "Tags": tags }), next))
        }
        "CreateBackupPlan" => create_plan(world, caller, params),
        "GetBackupPlan" => {
            let plan = find_plan(world, caller, &segment(params, 2))?;
            if let Some(version) = params.query("versionId") {
                if version != plan.version_id {
                    return Err(not_found(format!(
                        "Version {version} of backup plan {} does not exist",
                        plan.id
                    )));
                }
            }
            let mut out = plan_summary(&plan);
            out["BackupPlan"] = json!({"BackupPlanName": plan.name, "Rules": plan.rules});
            Ok(out)
        }
        "UpdateBackupPlan" => {
            let id = segment(params, 2);
            find_plan(world, caller, &id)?;
            let (name, rules) = read_plan(world, caller, params)?;
            let version_id = world.fresh_hex();
            let input = params.json().get("BackupPlan").cloned().unwrap_or_default();
            let plan = world
                .backup
                .plans
                .get_mut(&local(caller, &id))
                .ok_or_else(|| not_found(format!("Backup plan {id} does not exist")))?;
            plan.name = name;
            plan.rules = rules;
            plan.input = input;
            plan.version_id = version_id;
            Ok(json!({
                "BackupPlanId": plan.id,
                "BackupPlanArn": plan.arn(),
                "CreationDate": plan.created,
                "VersionId": plan.version_id,
            }))
        }
        "DeleteBackupPlan" => {
            let plan = find_plan(world, caller, &segment(params, 2))?;
            let has_selections = world.backup.selections.values().any(|s| {
                s.account == caller.account && s.region == caller.region && s.plan_id == plan.id
            });
            if has_selections {
                return Err(AwsFault::new(
                    "InvalidRequestException",
                    "Related backup plan selections must be deleted prior to backup plan deletion",
                ));
            }
            world.backup.plans.remove(&local(caller, &plan.id));
            Ok(json!({
                "BackupPlanId": plan.id,
                "BackupPlanArn": plan.arn(),
                "DeletionDate": World::now(),
                "VersionId": plan.version_id,
            }))
        }
        "ListBackupPlans" => {
            let plans = world
                .backup
                .plans
                .values()
                .filter(|p| p.account == caller.account && p.region == caller.region)
                .map(|p| (p.id.clone(), plan_summary(p)));
            let (list, next) = page::backup_page(plans, params, world.page_size())?;
            Ok(with_token(json!({ "BackupPlansList": list }), next))
        }
        "CreateBackupSelection" => create_selection(world, caller, params),
        "GetBackupSelection" => {
            // R32: AWS names a missing plan here with `InvalidParameterValueException`, not
            // `ResourceNotFoundException` (the message Terraform's provider and others match).
            let plan_id = segment(params, 2);
            let plan = find_plan(world, caller, &plan_id)
                .map_err(|_| invalid(format!("Cannot find Backup plan with ID {plan_id}")))?;
            let s = find_selection(world, caller, &plan.id, &segment(params, 4))?;
            let mut out = json!({
                "BackupSelection": s.selection,
                "SelectionId": s.id,
                "BackupPlanId": s.plan_id,
                "CreationDate": s.created,
            });
            if let Some(id) = &s.creator_request_id {
                out["CreatorRequestId"] = json!(id);
            }
            Ok(out)
        }
        "DeleteBackupSelection" => {
            let plan = find_plan(world, caller, &segment(params, 2))?;
            let s = find_selection(world, caller, &plan.id, &segment(params, 4))?;
            world.backup.selections.remove(&local(caller, &s.id));
            Ok(json!({}))
        }
        "ListBackupSelections" => {
            let plan = find_plan(world, caller, &segment(params, 2))?;
            let selections = world
                .backup
                .selections
                .values()
                .filter(|s| {
                    s.account == caller.account && s.region == caller.region && s.plan_id == plan.id
                })
                .map(|s| (s.id.clone(), selection_summary(s)));
            let (list, next) = page::backup_page(selections, params, world.page_size())?;
            Ok(with_token(json!({ "BackupSelectionsList": list }), next))
        }
        "ListRecoveryPointsByBackupVault" => {
            let vault = own_vault(world, caller, &segment(params, 1)).map_err(denied_if_missing)?;
            let resource = params.query("resourceArn");
            let points = world
                .backup
                .recovery_points
                .values()
                .filter(|p| {
                    p.account == vault.account && p.region == vault.region && p.vault == vault.name
                })
                .filter(|p| resource.is_none_or(|r| p.resource_arn == r))
                .map(|p| (p.arn.clone(), point_json(p)));
            let (list, next) = page::backup_page(points, params, world.page_size())?;
            Ok(with_token(json!({ "RecoveryPoints": list }), next))
        }
        "DescribeRecoveryPoint" => {
            let point = find_point(world, caller, params)?;
            Ok(point_json(&point))
        }
        "DeleteRecoveryPoint" => {
            let point = find_point(world, caller, params)?;
            if point.completed_at.is_none() {
                return Err(AwsFault::new(
                    "InvalidResourceStateException",
                    format!("AWS Backup is still creating recovery point {}; try again once its job is done", point.arn),
                ));
            }
            world.backup.recovery_points.remove(&point.arn);
            world.rds.snapshots.retain(|_, s| s.arn() != point.arn);
            Ok(json!({}))
        }
        "StartBackupJob" => start_backup(world, caller, params),
        "DescribeBackupJob" => {
            let id = segment(params, 1);
            let job = find_job(world, caller, JobKind::Backup, &id)?;
            let vault_name = job.vault_arn.rsplit(':').next().unwrap_or_default();
            let mut out = json!({
                "AccountId": caller.account.to_string(),
                "BackupJobId": id,
                "BackupVaultName": vault_name,
                "BackupVaultArn": job.vault_arn,
                "RecoveryPointArn": job.recovery_point,
                "ResourceArn": job.resource_arn,
                "ResourceName": job.resource_arn.rsplit(':').next().unwrap_or_default(),
                "ResourceType": "Aurora",
                "IamRoleArn": job.iam_role_arn,
                "CreationDate": job.created,
                "State": job.state(),
                "PercentDone": job.percent(),
                "IsEncrypted": job.key_arn.is_some(),
                "BackupType": "SNAPSHOT",
            });
            if let Some(key) = &job.key_arn {
                out["EncryptionKeyArn"] = json!(key);
            }
            if let Some(done) = job.completed_at {
                out["CompletionDate"] = json!(done);
            }
            if let Some(why) = &job.failure {
                out["StatusMessage"] = json!(why);
            }
            Ok(out)
        }
        "StartCopyJob" => start_copy(world, caller, params),
        "DescribeCopyJob" => {
            let id = segment(params, 1);
            let job = find_job(world, caller, JobKind::Copy, &id)?;
            let mut copy = json!({
                "AccountId": caller.account.to_string(),
                "CopyJobId": id,
                "SourceBackupVaultArn": job.source_vault_arn,
                "SourceRecoveryPointArn": job.source_recovery_point,
                "DestinationBackupVaultArn": job.vault_arn,
                "ResourceArn": job.resource_arn,
                "ResourceName": job.resource_arn.rsplit(':').next().unwrap_or_default(),
                "ResourceType": "Aurora",
                "IamRoleArn": job.iam_role_arn,
                "CreationDate": job.created,
                "State": job.state(),
            });
            if let Some(point) = &job.recovery_point {
                copy["DestinationRecoveryPointArn"] = json!(point);
            }
            if let Some(key) = &job.key_arn {
                copy["DestinationEncryptionKeyArn"] = json!(key);
            }
            if let Some(done) = job.completed_at {
                copy["CompletionDate"] = json!(done);
            }
            if let Some(why) = &job.failure {
                copy["StatusMessage"] = json!(why);
            }
            Ok(json!({ "CopyJob": copy }))
        }
        "StartRestoreJob" => start_restore(world, caller, params),
        "DescribeRestoreJob" => {
            let id = segment(params, 1);
            let job = find_job(world, caller, JobKind::Restore, &id)?;
            let mut out = json!({
                "AccountId": caller.account.to_string(),
                "RestoreJobId": id,
                "RecoveryPointArn": job.source_recovery_point,
                "BackupVaultArn": job.vault_arn,
                "SourceResourceArn": job.resource_arn,
                "ResourceType": "Aurora",
                "IamRoleArn": job.iam_role_arn,
                "CreationDate": job.created,
                "Status": job.state(),
                "PercentDone": job.percent(),
            });
            if let Some(done) = job.completed_at {
                out["CompletionDate"] = json!(done);
            }
            match (&job.failure, &job.cluster) {
                (Some(why), _) => out["StatusMessage"] = json!(why),
                (None, Some(cluster)) if job.completed_at.is_some() => {
                    out["CreatedResourceArn"] = json!(cluster_arn(cluster));
                }
                _ => {}
            }
            Ok(out)
        }
        other => Err(unknown("backup", other)),
    }
}

fn create_vault(world: &mut World, caller: &Caller, params: &Params) -> Result<Value, AwsFault> {
    let name = segment(params, 1);
    if !well_formed(&name, 2, 50, "-_") {
        return Err(invalid(format!(
            "Invalid backup vault name {name}: 2 to 50 letters, digits, hyphens and underscores"
        )));
    }
    if let Ok(existing) = own_vault(world, caller, &name) {
        return Err(AwsFault::new(
            "AlreadyExistsException",
            format!("Backup vault with name {name} already exists"),
        )
        .detail("Arn", existing.arn()));
    }
    let key_arn = match params.str("EncryptionKeyArn") {
        None => kms::resolve_arn(world, caller, "alias/aws/backup")?,
        Some(key) => {
            let parts: Vec<&str> = key
                .strip_prefix("arn:")
                .map(|rest| rest.splitn(5, ':').collect())
                .unwrap_or_default();
            let own_key = matches!(
                parts.as_slice(),
                [_, "kms", region, account, resource]
                    if *region == caller.region.as_str()
                        && *account == caller.account.as_str()
                        && resource.starts_with("key/")
            );
            if !own_key {
                return Err(invalid(format!(
                    "EncryptionKeyArn {key} is not the ARN of a KMS key of account {} in {}; a vault's key must be in the vault's account and region (R11)",
                    caller.account, caller.region
                )));
            }
            let arn = kms::resolve_arn(world, caller, &key)
                .map_err(|_| invalid(format!("KMS key {key} does not exist")))?;
            // R12, R26: a replica still `Creating` cannot encrypt yet.
            if kms::state_of(world, caller, &arn).as_deref() == Some("Creating") {
                return Err(invalid(format!(
                    "KMS key {arn} is not enabled: its state is Creating"
                )));
            }
            arn
        }
    };
    let vault = FakeVault {
        account: caller.account,
        region: caller.region.clone(),
        name: name.clone(),
        key_arn,
        tags: tag_map(params.json().get("BackupVaultTags")),
        creator_request_id: params.str("CreatorRequestId"),
        created: World::now(),
    };
    let out = json!({
        "BackupVaultName": vault.name,
        "BackupVaultArn": vault.arn(),
        "CreationDate": vault.created,
    });
    world
        .backup
        .vaults
        .insert((caller.account, caller.region.clone(), name), vault);
    Ok(out)
}

fn create_plan(world: &mut World, caller: &Caller, params: &Params) -> Result<Value, AwsFault> {
    let input = params.json().get("BackupPlan").cloned().unwrap_or_default();
    let request_id = params.str("CreatorRequestId");
    if let Some(request_id) = &request_id {
        let earlier = world
            .backup
            .plans
            .values()
            .find(|p| {
                p.account == caller.account
                    && p.region == caller.region
                    && p.creator_request_id.as_ref() == Some(request_id)
            })
            .cloned();
        if let Some(plan) = earlier {
            if plan.input == input {
                // The API reference: a CreatorRequestId that matches a plan returns that plan.
                return Ok(json!({
                    "BackupPlanId": plan.id,
                    "BackupPlanArn": plan.arn(),
                    "CreationDate": plan.created,
                    "VersionId": plan.version_id,
                }));
            }
            return Err(AwsFault::new(
                "AlreadyExistsException",
                format!("A backup plan was already created with CreatorRequestId {request_id}"),
            )
            .detail("Arn", plan.arn())
            .detail("CreatorRequestId", request_id.clone()));
        }
    }
    let (name, rules) = read_plan(world, caller, params)?;
    let id = uuid(world);
    let plan = FakeBackupPlan {
        account: caller.account,
        region: caller.region.clone(),
        id: id.clone(),
        name,
        version_id: world.fresh_hex(),
        rules,
        tags: tag_map(params.json().get("BackupPlanTags")),
        creator_request_id: request_id,
        input,
        created: World::now(),
    };
    let out = json!({
        "BackupPlanId": plan.id,
        "BackupPlanArn": plan.arn(),
        "CreationDate": plan.created,
        "VersionId": plan.version_id,
    });
    world.backup.plans.insert(local(caller, &id), plan);
    Ok(out)
}

fn find_selection(
    world: &World,
    caller: &Caller,
    plan_id: &str,
    id: &str,
) -> Result<FakeBackupSelection, AwsFault> {
    world
        .backup
        .selections
        .get(&local(caller, id))
        .filter(|s| s.plan_id == plan_id)
        .cloned()
        .ok_or_else(|| {
            not_found(format!(
                "Backup selection {id} of backup plan {plan_id} does not exist"
            ))
        })
}

fn create_selection(
    world: &mut World,
    caller: &Caller,
    params: &Params,
) -> Result<Value, AwsFault> {
    let plan = find_plan(world, caller, &segment(params, 2))?;
    let selection = params
        .json()
        .get("BackupSelection")
        .cloned()
        .ok_or_else(|| missing("BackupSelection"))?;
    let request_id = params.str("CreatorRequestId");
    if let Some(request_id) = &request_id {
        let earlier = world
            .backup
            .selections
            .values()
            .find(|s| {
                s.account == caller.account
                    && s.region == caller.region
                    && s.plan_id == plan.id
                    && s.creator_request_id.as_ref() == Some(request_id)
            })
            .cloned();
        if let Some(s) = earlier {
            if s.selection == selection {
                return Ok(json!({
                    "SelectionId": s.id,
                    "BackupPlanId": s.plan_id,
                    "CreationDate": s.created,
                }));
            }
            return Err(AwsFault::new(
                "AlreadyExistsException",
                format!(
                    "A backup selection was already created with CreatorRequestId {request_id}"
                ),
            )
            .detail("Arn", plan.arn())
            .detail("CreatorRequestId", request_id.clone()));
        }
    }
    let name = selection
        .get("SelectionName")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("SelectionName"))?
        .to_owned();
    if !well_formed(&name, 1, 50, "-_.") {
        return Err(invalid(format!(
            "Invalid selection name {name}: 1 to 50 letters, digits and -_. characters"
        )));
    }
    let role = selection
        .get("IamRoleArn")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("IamRoleArn"))?
        .to_owned();
    check_role(world, caller, &role)?;
    let by_tag = selection
        .get("ListOfTags")
        .and_then(Value::as_array)
        .is_some_and(|t| !t.is_empty());
    role_usable_yet(world, caller, &role, by_tag)?;
    let list = |field: &str| {
        selection
            .get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let resources: Vec<String> = list("Resources")
        .iter()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    let tags: Vec<(String, String)> = list("ListOfTags")
        .iter()
        .filter_map(|c| {
            let field = |name: &str| c.get(name).and_then(Value::as_str).map(str::to_owned);
            Some((field("ConditionKey")?, field("ConditionValue")?))
        })
        .collect();
    if resources.is_empty() && tags.is_empty() {
        return Err(invalid(format!(
            "Backup selection {name} selects nothing: give Resources (ARNs) or ListOfTags (R14)"
        )));
    }
    // R30: AWS Backup resolves a selection by tag as the role, with `tag:GetResources`. AWS
    // finds out at the first scheduled backup; the fake, which runs no schedule, refuses the
    // selection at once, so that a role without it cannot pass a test.
    if !tags.is_empty()
        && !role_allows(
            &role_policies(world, caller.account, &role),
            "tag:GetResources",
            "*",
        )
    {
        return Err(invalid(format!(
            "IAM Role {role} lacks tag:GetResources, which AWS Backup needs to find the resources of a selection by tags (R30)"
        )));
    }
    let id = uuid(world);
    let s = FakeBackupSelection {
        account: caller.account,
        region: caller.region.clone(),
        plan_id: plan.id.clone(),
        id: id.clone(),
        name,
        role_arn: role,
        resources,
        tags,
        selection,
        creator_request_id: request_id,
        created: World::now(),
    };
    let out = json!({
        "SelectionId": s.id,
        "BackupPlanId": s.plan_id,
        "CreationDate": s.created,
    });
    world.backup.selections.insert(local(caller, &id), s);
    Ok(out)
}

/// The recovery point named by the path (`/backup-vaults/<vault>/recovery-points/<arn>`).
fn find_point(
    world: &mut World,
    caller: &Caller,
    params: &Params,
) -> Result<FakeRecoveryPoint, AwsFault> {
    let vault = own_vault(world, caller, &segment(params, 1))?;
    let arn = segment(params, 3);
    world
        .backup
        .recovery_points
        .get(&arn)
        .filter(|p| p.account == vault.account && p.region == vault.region && p.vault == vault.name)
        .cloned()
        .ok_or_else(|| {
            not_found(format!(
                "Recovery point {arn} does not exist in backup vault {}",
                vault.name
            ))
        })
}

fn required(params: &Params, field: &str) -> Result<String, AwsFault> {
    params.str(field).ok_or_else(|| missing(field))
}

fn start_backup(world: &mut World, caller: &Caller, params: &Params) -> Result<Value, AwsFault> {
    let token = params.str("IdempotencyToken");
    if let Some(addr) = same_token(world, caller, JobKind::Backup, token.as_deref()) {
        if let Some(job) = world.backup.jobs.get(&addr) {
            return Ok(start_backup_answer(&addr.2, job));
        }
    }
    let vault = own_vault(world, caller, &required(params, "BackupVaultName")?)?;
    let resource = required(params, "ResourceArn")?;
    let role = required(params, "IamRoleArn")?;
    check_role(world, caller, &role)?;
    check_lifecycle(params.json().get("Lifecycle"), "")?;
    let cluster = world
        .rds
        .databases
        .values()
        .find(|d| {
            d.kind == SnapshotKind::Cluster
                && d.account == caller.account
                && d.region == caller.region
                && cluster_arn(d) == resource
        })
        .cloned()
        .ok_or_else(|| {
            invalid(format!(
                "{resource} is not an Aurora DB cluster of account {} in {}",
                caller.account, caller.region
            ))
        })?;
    let id = uuid(world);
    // R11: an Aurora backup stays under the cluster's own key, whatever the vault's key.
    let snapshot = backup_snapshot(
        caller.account,
        &caller.region,
        &format!("awsbackup:job-{id}"),
        &cluster.id,
        &cluster.engine,
        1,
        cluster.kms_key.clone(),
        None,
    );
    let point_arn = snapshot.arn();
    let now = World::now();
    world.backup.recovery_points.insert(
        point_arn.clone(),
        FakeRecoveryPoint {
            arn: point_arn.clone(),
            account: caller.account,
            region: caller.region.clone(),
            vault: vault.name.clone(),
            key_arn: cluster.kms_key.clone(),
            resource_arn: resource.clone(),
            source_vault_arn: None,
            iam_role_arn: role.clone(),
            lifecycle: params.json().get("Lifecycle").cloned().unwrap_or_default(),
            completed_at: None,
            created: now,
        },
    );
    let job = Job {
        kind: JobKind::Backup,
        token,
        iam_role_arn: role,
        resource_arn: resource,
        vault_arn: vault.arn(),
        source_vault_arn: None,
        source_recovery_point: None,
        recovery_point: Some(point_arn),
        key_arn: cluster.kms_key,
        snapshot: Some(snapshot),
        cluster: None,
        failure: None,
        ready_at: Instant::now() + world.backup.job_time,
        completed_at: None,
        created: now,
    };
    let out = start_backup_answer(&id, &job);
    world.backup.jobs.insert(local(caller, &id), job);
    Ok(out)
}

/// What the copy job's role lacks to copy into `vault` under `key_arn`, if anything: R11,
/// R15.
fn copy_permissions_missing(
    world: &World,
    role_arn: &str,
    vault: &FakeVault,
    key_arn: Option<&str>,
    key_is_managed: bool,
) -> Option<String> {
    let policies = role_policies(world, vault.account, role_arn);
    let mut missing = Vec::new();
    if !role_allows(&policies, "backup:CopyIntoBackupVault", &vault.arn()) {
        missing.push(format!("backup:CopyIntoBackupVault on {}", vault.arn()));
    }
    if let (Some(key), false) = (key_arn, key_is_managed) {
        let actions: Vec<&str> = ["kms:CreateGrant", "kms:GenerateDataKey", "kms:Decrypt"]
            .into_iter()
            .filter(|action| !role_allows(&policies, action, key))
            .collect();
        if !actions.is_empty() {
            missing.push(format!("{} on {key}", actions.join(", ")));
        }
    }
    (!missing.is_empty()).then(|| {
        format!(
            "Insufficient privileges to perform this action: role {role_arn} is not allowed {} (R15)",
            missing.join("; ")
        )
    })
}

/// R15, R30: a restore job runs as the role in the recovery point's region: the role's inline
/// policies must allow `rds:RestoreDBClusterFromSnapshot` on the new cluster there. The job
/// fails otherwise, with the reason.
fn restore_denied(
    world: &World,
    role_arn: &str,
    caller: &Caller,
    cluster_id: &str,
) -> Option<String> {
    let policies = role_policies(world, caller.account, role_arn);
    let cluster = format!(
        "arn:{}:rds:{}:{}:cluster:{cluster_id}",
        caller.region.partition(),
        caller.region,
        caller.account
    );
    (!role_allows(&policies, "rds:RestoreDBClusterFromSnapshot", &cluster)).then(|| {
        format!(
            "Insufficient privileges to perform this action: role {role_arn} is not allowed rds:RestoreDBClusterFromSnapshot on {cluster} (R15, R30)"
        )
    })
}

fn start_copy(world: &mut World, caller: &Caller, params: &Params) -> Result<Value, AwsFault> {
    let token = params.str("IdempotencyToken");
    if let Some(addr) = same_token(world, caller, JobKind::Copy, token.as_deref()) {
        if let Some(job) = world.backup.jobs.get(&addr) {
            return Ok(
                json!({"CopyJobId": addr.2, "CreationDate": job.created, "IsParent": false}),
            );
        }
    }
    let source_vault = own_vault(world, caller, &required(params, "SourceBackupVaultName")?)?;
    let point_arn = required(params, "RecoveryPointArn")?;
    let point = world
        .backup
        .recovery_points
        .get(&point_arn)
        .filter(|p| {
            p.account == source_vault.account
                && p.region == source_vault.region
                && p.vault == source_vault.name
        })
        .cloned()
        .ok_or_else(|| {
            not_found(format!(
                "Recovery point {point_arn} does not exist in backup vault {}",
                source_vault.name
            ))
        })?;
    let destination_arn = required(params, "DestinationBackupVaultArn")?;
    let destination_addr = parse_vault_arn(&destination_arn)
        .ok_or_else(|| invalid(format!("{destination_arn} is not a backup vault ARN")))?;
    if destination_addr.0 != caller.account {
        return Err(invalid(format!(
            "{destination_arn} belongs to another account; FakeAws does not model cross-account copies"
        )));
    }
    let destination = find_vault(world, &destination_addr)
        .map_err(|_| not_found(format!("Backup vault {destination_arn} does not exist")))?;
    let role = required(params, "IamRoleArn")?;
    check_role(world, caller, &role)?;
    check_lifecycle(params.json().get("Lifecycle"), "")?;
    if point.completed_at.is_none() {
        return Err(AwsFault::new(
            "InvalidRequestException",
            format!("Recovery point {point_arn} is not COMPLETED yet"),
        ));
    }
    // R11: the copy takes the destination vault's key; under the AWS managed
    // alias/aws/backup key, an RDS snapshot copy lands under alias/aws/rds of that region.
    let destination_caller = Caller {
        account: destination.account,
        region: destination.region.clone(),
    };
    let vault_key_managed = world
        .kms
        .all_keys()
        .any(|k| k.arn() == destination.key_arn && k.aws_managed);
    let key_arn = match (&point.key_arn, vault_key_managed) {
        (None, _) => None,
        (Some(_), true) => Some(kms::resolve_arn(
            world,
            &destination_caller,
            "alias/aws/rds",
        )?),
        (Some(_), false) => Some(destination.key_arn.clone()),
    };
    let failure = copy_permissions_missing(
        world,
        &role,
        &destination,
        key_arn.as_deref(),
        vault_key_managed,
    );
    let id = uuid(world);
    let now = World::now();
    let (source, engine, size_gb) = world
        .rds
        .snapshots
        .values()
        .find(|s| s.arn() == point.arn)
        .map(|s| (s.source.clone(), s.engine.clone(), s.allocated_gb))
        .unwrap_or_else(|| {
            let cluster = point.resource_arn.rsplit(':').next().unwrap_or_default();
            (cluster.to_owned(), "aurora-mysql".to_owned(), 1)
        });
    let (recovery_point, snapshot) = if failure.is_none() {
        let snapshot = backup_snapshot(
            destination.account,
            &destination.region,
            &format!("awsbackup:copyjob-{id}"),
            &source,
            &engine,
            size_gb,
            key_arn.clone(),
            Some(point.arn.clone()),
        );
        let arn = snapshot.arn();
        world.backup.recovery_points.insert(
            arn.clone(),
            FakeRecoveryPoint {
                arn: arn.clone(),
                account: destination.account,
                region: destination.region.clone(),
                vault: destination.name.clone(),
                key_arn: key_arn.clone(),
                resource_arn: point.resource_arn.clone(),
                source_vault_arn: Some(source_vault.arn()),
                iam_role_arn: role.clone(),
                lifecycle: params.json().get("Lifecycle").cloned().unwrap_or_default(),
                completed_at: None,
                created: now,
            },
        );
        (Some(arn), Some(snapshot))
    } else {
        (None, None)
    };
    let job = Job {
        kind: JobKind::Copy,
        token,
        iam_role_arn: role,
        resource_arn: point.resource_arn.clone(),
        vault_arn: destination.arn(),
        source_vault_arn: Some(source_vault.arn()),
        source_recovery_point: Some(point.arn.clone()),
        recovery_point,
        key_arn,
        snapshot,
        cluster: None,
        failure,
        ready_at: Instant::now() + world.backup.job_time,
        completed_at: None,
        created: now,
    };
    world.backup.jobs.insert(local(caller, &id), job);
    Ok(json!({"CopyJobId": id, "CreationDate": now, "IsParent": false}))
}

fn start_restore(world: &mut World, caller: &Caller, params: &Params) -> Result<Value, AwsFault> {
    let token = params.str("IdempotencyToken");
    if let Some(addr) = same_token(world, caller, JobKind::Restore, token.as_deref()) {
        return Ok(json!({ "RestoreJobId": addr.2 }));
    }
    let point_arn = required(params, "RecoveryPointArn")?;
    let point = world
        .backup
        .recovery_points
        .get(&point_arn)
        .filter(|p| p.account == caller.account && p.region == caller.region)
        .cloned()
        .ok_or_else(|| not_found(format!("Recovery point {point_arn} does not exist")))?;
    let role = required(params, "IamRoleArn")?;
    check_role(world, caller, &role)?;
    let metadata = params.json().get("Metadata").cloned();
    // Restore metadata keys are not case sensitive (AWS Backup developer guide, "Restore
    // testing inferred metadata"); GetRecoveryPointRestoreMetadata gives them in camelCase
    // (`dbClusterIdentifier`, `engine`, `dbSubnetGroupName`, `vpcSecurityGroupIds`).
    let field = |name: &str| {
        metadata
            .as_ref()
            .and_then(Value::as_object)
            .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .and_then(|(_, v)| v.as_str())
            .map(str::to_owned)
    };
    let cluster_id = field("DBClusterIdentifier")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            invalid("Metadata must name the DBClusterIdentifier of the cluster to restore")
        })?
        .to_ascii_lowercase();
    if point.completed_at.is_none() {
        return Err(AwsFault::new(
            "InvalidRequestException",
            format!("Recovery point {point_arn} is not COMPLETED yet"),
        ));
    }
    let engine = field("Engine")
        .or_else(|| {
            world
                .rds
                .snapshots
                .values()
                .find(|s| s.arn() == point.arn)
                .map(|s| s.engine.clone())
        })
        .unwrap_or_else(|| "aurora-mysql".into());
    // R17: AWS Backup restores the cluster only, without DB instances.
    let cluster = FakeDatabase {
        kind: SnapshotKind::Cluster,
        account: caller.account,
        region: caller.region.clone(),
        id: cluster_id.clone(),
        engine,
        kms_key: point.key_arn.clone(),
        restored_from: Some(point.arn.clone()),
        manage_master_user_password: false,
        instances: Vec::new(),
        tags: Vec::new(),
        status: "available".into(),
    };
    let exists = world.rds.databases.contains_key(&(
        caller.account,
        caller.region.clone(),
        SnapshotKind::Cluster,
        cluster_id.clone(),
    ));
    let denied = restore_denied(world, &role, caller, &cluster_id);
    let id = uuid(world);
    let now = World::now();
    let job = Job {
        kind: JobKind::Restore,
        token,
        iam_role_arn: role,
        resource_arn: point.resource_arn.clone(),
        vault_arn: vault_arn(point.account, &point.region, &point.vault),
        source_vault_arn: None,
        source_recovery_point: Some(point.arn.clone()),
        recovery_point: None,
        key_arn: point.key_arn.clone(),
        snapshot: None,
        cluster: Some(cluster),
        failure: exists.then(|| cluster_exists(&cluster_id)).or(denied),
        ready_at: Instant::now() + world.backup.job_time,
        completed_at: None,
        created: now,
    };
    world.backup.jobs.insert(local(caller, &id), job);
    Ok(json!({ "RestoreJobId": id }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_iam_resources() {
        let vault = "arn:aws:backup:ap-northeast-3:111111111111:backup-vault:dst";
        assert!(glob("*", vault));
        assert!(glob("arn:aws:backup:*:111111111111:backup-vault:*", vault));
        assert!(glob(vault, vault));
        assert!(!glob(
            "arn:aws:backup:*:111111111111:backup-vault:src",
            vault
        ));
        assert!(!glob("ARN:aws:backup:*", vault));
        assert!(glob("arn:aws:backup:ap-northeast-?:*", vault));
    }

    #[test]
    fn routes_name_the_operations() {
        let path = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            route("PUT", &path(&["backup", "plans", "x", "selections"])),
            Some("CreateBackupSelection")
        );
        assert_eq!(
            route("GET", &path(&["tags", "arn:aws:backup:x"])),
            Some("ListTags")
        );
        assert_eq!(route("PATCH", &path(&["backup-vaults", "v"])), None);
    }
}
