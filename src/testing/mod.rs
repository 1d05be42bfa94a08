//! `FakeAws`: a stateful fake of the AWS APIs snapshift uses, on a local wiremock server, for
//! the examples and for your own tests (cargo feature `testing`).
//!
//! One server serves several accounts and regions: each account gets its own access key id
//! ([`FakeAws::account`]), and the region is read from the SigV4 credential scope of each
//! request, as AWS does. It answers in AWS's wire formats (awsJson1.1 for KMS, restJson1 for
//! AWS Backup, awsQuery XML for STS, IAM and RDS) with AWS's error codes, so the real SDK
//! clients, retries and error handling run against it unchanged.
//!
//! # What it models, rule by rule
//! - **KMS** keys, aliases, replicas, policies, grants and tags per account and region.
//!   `alias/aws/rds` and `alias/aws/backup` exist on demand as AWS managed keys (R1, R11).
//!   `CreateKey` and `PutKeyPolicy` refuse a policy that would lock the caller's account out,
//!   with AWS's `MalformedPolicyDocumentException` and message (R4). `ScheduleKeyDeletion`
//!   takes 7 to 30 days (`ValidationException` otherwise) and a multi-region primary waits in
//!   `PendingReplicaDeletion` while replicas remain (R23). `ReplicateKey` needs a multi-region
//!   primary and puts the replica in the same account (R12, R23). The reserved `alias/aws/`
//!   prefix is refused. Another account may use a key only by ARN and only when the key
//!   policy allows that account the action (`AccessDeniedException` otherwise, R2).
//! - **RDS** DB and cluster snapshots: `Describe*` (with `SnapshotType=shared` and
//!   `IncludeShared`), `Create*`, `Copy*` (re-encrypting with `KmsKeyId`, from a shared ARN,
//!   from another region), snapshot attributes (`restore`), `Delete*`, restores, and tags.
//!   A copy takes a configurable time per GiB with `PercentProgress` at 0 until done (R5,
//!   R21), within a configurable in-flight quota per account and region
//!   (`SnapshotQuotaExceeded`, R19). Sharing a snapshot under `alias/aws/rds` fails with AWS's
//!   error and message (R1); only manual snapshots can be shared (R3); at most 20 accounts
//!   (`SharedSnapshotQuotaExceeded`, R6). Copying or restoring from another account's
//!   snapshot needs its key's policy to allow that account, and fails with
//!   `KMSKeyNotAccessibleFault` once the key is pending deletion (R7, R9); taking a snapshot
//!   needs no key access (R9). A shared snapshot must be named by its ARN (R3). Clusters
//!   and instances are listed and described page by page with their key, status and tags
//!   (a restore carries the tags of its `Tags`, as in AWS; `ListTagsForResource` and
//!   `AddTagsToResource` take their ARNs), so a test can make a database under a name
//!   snapshift will use ([`FakeAws::seed_cluster`]) and see that it is neither restored
//!   over nor changed.
//! - **R25, the manual-snapshot quota**: each account holds at most 100 manual DB snapshots
//!   and 100 manual DB cluster snapshots per region unless a test sets another
//!   ([`FakeAws::set_manual_snapshot_quota`]; RDS user guide, "Quotas in Amazon RDS").
//!   `DescribeAccountAttributes` reports `ManualSnapshots` and `ManualClusterSnapshots` with
//!   `Used` and `Max` (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_AccountQuota.html>),
//!   and is refused when the caller's own policy ([`FakeAws::set_caller_policy`]) does not
//!   allow `rds:DescribeAccountAttributes`. A copy or a new snapshot past the quota answers
//!   `SnapshotQuotaExceeded` "Cannot create more than 100 manual snapshots", the code of the
//!   copy quota (R19) with AWS's own message (<https://github.com/pbudzon/aws-maintenance/issues/12>).
//!   Automated and AWS Backup snapshots do not count; an automated snapshot's copy does.
//! - **Pagination** of every list and describe snapshift uses, a page of at most
//!   [`DEFAULT_PAGE_SIZE`] (3) items unless a test sets another ([`FakeAws::set_page_size`]),
//!   and at most the operation's own page: RDS `DescribeDBSnapshots`,
//!   `DescribeDBClusterSnapshots`, `DescribeDBClusters` and `DescribeDBInstances` answer
//!   `MaxRecords` (20 to 100, default 100) with a `Marker`
//!   (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBSnapshots.html>);
//!   KMS `ListKeys`, `ListAliases`, `ListGrants` and `ListResourceTags` answer `Limit` with
//!   `Truncated` and `NextMarker`
//!   (<https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html>); AWS Backup
//!   `ListBackupVaults`, `ListTags`, `ListBackupPlans`, `ListBackupSelections` and
//!   `ListRecoveryPointsByBackupVault` answer `maxResults` with a `NextToken`
//!   (<https://docs.aws.amazon.com/aws-backup/latest/devguide/API_ListBackupVaults.html>).
//!   A marker names the last item given, so a deletion between pages skips nothing; a marker
//!   the fake did not give is refused. (snapshift calls no IAM list.)
//! - **R29, snapshot types**: `DescribeDBSnapshots` / `DescribeDBClusterSnapshots` find an
//!   automated (`rds:`) or AWS Backup (`awsbackup:`) snapshot by its identifier or ARN only
//!   with its `SnapshotType` (`automated`, `awsbackup`); without it (or with another type)
//!   they answer the operation's not-found fault, the only error their API reference lists
//!   for an identifier. A listing without a type has the manual and automated snapshots
//!   (and shared ones with `IncludeShared`), not AWS Backup's
//!   (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DescribeDBClusterSnapshots.html>).
//! - **R3, R29, sharing**: `Modify*SnapshotAttribute` of a snapshot that is not manual
//!   answers `InvalidParameterValue` ("The parameter DBSnapshotIdentifier is not a valid
//!   identifier. ..."), as AWS does for `rds:` and `awsbackup:` identifiers
//!   (<https://github.com/aws/aws-cli/issues/8296>, <https://github.com/aws/aws-cli/issues/5407>).
//! - **R7, shared cluster snapshots**: `CopyDBClusterSnapshot` of a cluster snapshot shared by
//!   another account works in that snapshot's region only; from another region it answers
//!   `InvalidParameterValue` (AWS documents the rule, not the code: "You can only copy DB
//!   cluster snapshots across accounts in the same AWS Region",
//!   <https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_CopyDBClusterSnapshot.CrossAccount.html>).
//! - **IAM** roles with trust policies, inline policies and tags; `DeleteRole` is refused
//!   with `DeleteConflict` while inline policies remain, as AWS does.
//! - **AWS Backup** vaults, plans, selections, recovery points, and backup, copy and restore
//!   jobs of Aurora clusters that finish after a configurable job time
//!   ([`FakeAws::set_backup_job_time`]). A backup is an RDS cluster snapshot named
//!   `awsbackup:job-<id>` under the cluster's own key; a copy is `awsbackup:copyjob-<id>` in
//!   the destination region under the destination vault's key, and under `alias/aws/rds` of
//!   that region when the vault uses the AWS managed `alias/aws/backup` key, as the `Default`
//!   vault does (R11, R16). A copy job fails when the role's inline policies do not allow
//!   `backup:CopyIntoBackupVault` on the destination vault and, for a customer managed key,
//!   `kms:CreateGrant`, `kms:GenerateDataKey` and `kms:Decrypt` on it. Plan rules need a
//!   six-field cron schedule, a start window of at least 60 minutes, a longer completion
//!   window and existing target and destination vaults (R13), and lifecycles that delete at
//!   least 90 days after the move to cold storage (R24). A selection's role must trust
//!   `backup.amazonaws.com` (R14). A restore makes the cluster without DB instances (R17).
//!   Vaults holding recovery points and plans holding selections refuse deletion with AWS's
//!   messages.
//! - **STS** `GetCallerIdentity` answers with the account of the access key; `AssumeRole`
//!   hands out credentials of the role's account.
//! - **Callers** act as their account's root unless a test says otherwise
//!   ([`FakeAws::account_as`]; an assumed role acts as its session, which a key policy naming
//!   the role covers); STS names the caller. `CreateKey`, `PutKeyPolicy` and `ReplicateKey`
//!   refuse a policy that would not let *the caller* call `PutKeyPolicy` again, with AWS's
//!   `MalformedPolicyDocumentException` (R4; the KMS API reference on
//!   `BypassPolicyLockoutSafetyCheck`: "the key policy must allow the calling principal to
//!   make a subsequent PutKeyPolicy request"). `ReplicateKey` of a single-region key or of a
//!   replica answers `UnsupportedOperationException` "... is not a multi-Region primary key"
//!   (R12).
//! - **Accounts without a region**: [`FakeAws::account_without_region`] gives an SDK
//!   configuration that names none, as a profile without `region` does; IAM and STS must then
//!   be reached through the partition's global region (R28; the SDKs' endpoint rules answer
//!   "Missing Region" otherwise).
//! - **Eventual consistency** (R26), on by default, in fixed call counts so that runs repeat
//!   ([`Consistency`], [`FakeAws::set_consistency`]; [`FakeAws::unsettled_answers`] counts
//!   what it changed): a new KMS key or alias answers `NotFoundException` to the next calls
//!   that name it, and a changed key policy is read as it was (the KMS developer guide, "AWS
//!   KMS eventual consistency": "You might get unexpected errors, such as a
//!   NotFoundException or an InvalidStateException"); lists are not affected.
//! - **New replicas** (R12, R26) are `Creating` for the next `DescribeKey` calls, then
//!   `Enabled`; meanwhile `CreateGrant` answers `KMSInvalidStateException` and
//!   `CreateBackupVault` refuses the key (the KMS developer guide, "Create multi-Region
//!   replica keys": "While the key state is Creating, you can manage key, but you cannot yet
//!   use it"; the code AWS Backup answers is not documented: `InvalidParameterValueException`
//!   is chosen).
//! - **New roles** (R26): for the next `CreateBackupSelection` calls that name a role just
//!   created or whose trust policy changed, AWS Backup answers
//!   `InvalidParameterValueException` `IAM Role <arn> cannot be assumed by AWS Backup`; after
//!   an inline policy change, a selection by tag gets `IAM Role <arn> is not authorized to
//!   call tag:GetResources` (the messages of Terraform's AWS provider issue 9297 and PR
//!   12017, which retries them).
//! - **R32**: `GetBackupSelection` of a plan deleted outside the tool answers
//!   `InvalidParameterValueException` "Cannot find Backup plan with ID ...", not
//!   `ResourceNotFoundException` (as Terraform's AWS provider reads it, its PR 13945).
//!
//! - **R31, the caller's own IAM.** Callers act as administrators of their own account
//!   unless a test gives the account an identity policy ([`FakeAws::set_caller_policy`]);
//!   then using another account's key needs that policy to allow the action on the key as
//!   well as the key policy to allow the account (RDS user guide, "Sharing a DB snapshot",
//!   cross-account copies of encrypted snapshots), or KMS answers `AccessDeniedException`
//!   and RDS `KMSKeyNotAccessibleFault`. Allow statements with wildcards; conditions of
//!   identity policies are not evaluated.
//! - **R27, terminal states.** [`FakeAws::fail_next_restore`] ends the next RDS restore in a
//!   state it does not leave (`incompatible-network`, `failed`, ...), as RDS reports a
//!   restore whose network, parameters or key do not fit (RDS user guide, "Viewing Amazon
//!   RDS DB instance status").
//!
//! # What it does not model
//! IAM identity policies of callers beyond [`FakeAws::set_caller_policy`] (AWS Backup copy
//! jobs, restore jobs and selections by tag read the inline policies of their role: a
//! selection by tag needs `tag:GetResources`, which AWS finds out at the first scheduled
//! backup and the fake, running no schedule, at `CreateBackupSelection`, R30), key
//! rotation, cryptographic
//! operations, grant constraints. Eventual consistency (R26) is modelled only as listed
//! above: not in lists, not for grants (nothing in the fake names a grant once made: no
//! `RetireGrant`, `RevokeGrant` or grant tokens), not for RDS or AWS Backup using a key, nor
//! for a role used by a backup, copy or restore job.
//!
//! # Throttling
//! [`FakeAws::set_throttling`] answers a share of the calls with AWS's throttling error, as an
//! account over its API rate gets (R20); which calls is decided by their order, so a run
//! repeats; [`FakeAws::set_internal_errors`] likewise answers a share with HTTP 500, which
//! the SDK retries. [`FakeAws::set_rds_rate`] puts RDS behind a token bucket per account and region,
//! as AWS does. [`FakeAws::throttled`] counts both. Copies of one source are queued one after
//! another (R19), and [`FakeAws::peak_copies_in_flight`] tells the most copies that were in
//! flight at once.
//!
//! # Faults and the request log
//! [`FakeAws::inject`] makes the n-th next call of an operation fail with a chosen AWS error
//! (throttling, HTTP 500, any code), stall past the client's timeout, or take effect and then
//! fail (a lost response); [`FakeAws::clear_faults`] drops those not yet fired.
//! [`FakeAws::calls`] lists every call with its account, region and
//! outcome, so tests can count calls per operation.

mod backup;
mod clock;
mod iam;
mod kms;
mod page;
mod rds;
mod sts;
pub(crate) mod wire;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use aws_config::SdkConfig;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub use clock::{sdk_config_for, VirtualClock};
pub use wire::AwsFault;

use crate::{
    aws::Account,
    ids::{AccountId, Region},
};

/// A fault to inject into one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this error; nothing happens.
    Error(AwsFault),
    /// Do the call, then answer with this error: the caller never learns it succeeded.
    ErrorAfterApply(AwsFault),
    /// Do the call, but answer only after this delay (past the client's attempt timeout, the
    /// client gives up and retries).
    Delay(Duration),
}

impl Fault {
    /// `ThrottlingException` ("Rate exceeded"), which the SDK retries (R20).
    pub fn throttling() -> Fault {
        Fault::Error(AwsFault::new("ThrottlingException", "Rate exceeded"))
    }

    /// An HTTP 500 internal error, which the SDK retries.
    pub fn internal_error() -> Fault {
        Fault::Error(AwsFault::new("InternalFailure", "injected internal error").status(500))
    }

    /// A non-retryable error with `code` before the call takes effect: a crash just before
    /// this step. (A crash just after it is `Fault::ErrorAfterApply`.)
    pub fn crash(code: &str) -> Fault {
        Fault::Error(AwsFault::new(code, "injected fault"))
    }
}

/// One call the fake answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The account of the caller's access key, if known.
    pub account: Option<AccountId>,
    /// The region of the request.
    pub region: String,
    /// The service (`kms`, `sts`, ...).
    pub service: String,
    /// The operation, e.g. `CreateKey`.
    pub operation: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The error code answered, if any.
    pub error: Option<String>,
}

impl Call {
    /// Whether the operation can change something (not `Describe*`, `Get*`, `List*`).
    pub fn is_mutating(&self) -> bool {
        !["Describe", "Get", "List"]
            .iter()
            .any(|p| self.operation.starts_with(p))
    }
}

struct Injected {
    operation: String,
    at: usize,
    fault: Fault,
}

/// How AWS's eventual consistency shows in the fake (R26): changes are known only after a
/// fixed number of calls, so runs repeat. On by default ([`Consistency::default`]);
/// [`Consistency::strong`] turns it off. Set with [`FakeAws::set_consistency`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Consistency {
    /// How many KMS calls naming a new key or alias answer `NotFoundException`, and how many
    /// read a changed key policy as it was, before KMS knows the change (default 2). Lists
    /// (`ListKeys`, `ListAliases`, `ListResourceTags`, `ListGrants`) are not affected.
    pub kms_calls: u32,
    /// How many `DescribeKey` calls show a new multi-region replica `Creating` before it is
    /// `Enabled` (default 2); until then it cannot be used (`CreateGrant` answers
    /// `KMSInvalidStateException`, `CreateBackupVault` refuses it).
    pub replica_describes: u32,
    /// How many `CreateBackupSelection` calls naming a role that was just created, or whose
    /// trust or inline policy just changed, AWS Backup refuses before it can use the role
    /// (default 2).
    pub iam_calls: u32,
}

impl Default for Consistency {
    fn default() -> Consistency {
        Consistency {
            kms_calls: 2,
            replica_describes: 2,
            iam_calls: 2,
        }
    }
}

impl Consistency {
    /// Every change known at once: the fake as it was before it modelled R26.
    pub fn strong() -> Consistency {
        Consistency {
            kms_calls: 0,
            replica_describes: 0,
            iam_calls: 0,
        }
    }
}

/// The fake's state: accounts, services, faults and the log.
#[derive(Default)]
pub(crate) struct World {
    pub access_keys: BTreeMap<String, AccountId>,
    /// The principal of each access key that is not its account's root (an IAM user or role,
    /// or an assumed-role session), as STS would name it.
    pub principals: BTreeMap<String, String>,
    /// The principal of the request being answered, if not its account's root.
    pub caller_principal: Option<String>,
    /// How eventual consistency shows (R26).
    pub consistency: Consistency,
    /// How many answers eventual consistency changed: an unknown key or alias, a policy from
    /// before its change, a replica still `Creating`, a role AWS Backup cannot use yet.
    pub unsettled_answers: usize,
    pub kms: kms::Kms,
    pub rds: rds::Rds,
    pub iam: iam::Iam,
    pub backup: backup::Backup,
    counts: BTreeMap<String, usize>,
    faults: Vec<Injected>,
    log: Vec<Call>,
    pub serial: u64,
    /// The share of calls answered with a throttling error (0 to 1), R20.
    throttle_ratio: f64,
    /// When set, the fake's clock is the signing time of each request (`x-amz-date`), counted
    /// from this pair: a real instant and the same moment in seconds since the epoch.
    request_clock: Option<(std::time::Instant, i64)>,
    /// The latest request time seen, in milliseconds since the epoch: the fake's clock never
    /// goes back, though callers' clocks differ by their clock-skew corrections.
    request_clock_latest: i64,
    /// How many calls were throttled by `throttle_ratio` or the RDS token bucket.
    throttled: usize,
    /// RDS calls per second and burst per account and region (R20), if limited.
    rds_rate: Option<(f64, u32)>,
    /// The RDS token buckets: tokens left and when they were counted.
    buckets: BTreeMap<(AccountId, String), (f64, std::time::Instant)>,
    /// The state the next RDS restore ends in instead of `available` (R27).
    pub next_restore_state: Option<String>,
    /// The share of calls answered with an HTTP 500 before they take effect (0 to 1).
    error_ratio: f64,
    /// How many calls `error_ratio` failed.
    errored: usize,
    /// The identity policy of each account's callers, where a test gave one; the others act
    /// as administrators of their account (R31).
    caller_policies: BTreeMap<AccountId, String>,
    /// The most items a list or describe answers at once ([`FakeAws::set_page_size`]);
    /// `None` for [`DEFAULT_PAGE_SIZE`].
    page_size: Option<usize>,
}

impl World {
    /// The most items a list or describe answers at once.
    pub fn page_size(&self) -> usize {
        self.page_size.unwrap_or(DEFAULT_PAGE_SIZE)
    }

    /// Whether the identity policy of `account`'s callers allows `action` on `resource`:
    /// always, unless a test gave the account a policy ([`FakeAws::set_caller_policy`]).
    /// Allow statements with `*` wildcards; conditions are not evaluated (R31).
    pub(crate) fn caller_allows(&self, account: AccountId, action: &str, resource: &str) -> bool {
        match self.caller_policies.get(&account) {
            None => true,
            Some(policy) => backup::role_allows(
                &BTreeMap::from([("caller".to_owned(), policy.clone())]),
                action,
                resource,
            ),
        }
    }

    /// 32 hex digits, unique in this fake, that look like AWS's random ids.
    pub fn fresh_hex(&mut self) -> String {
        self.serial += 1;
        let s = self.serial.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        format!(
            "{:016x}{:016x}",
            splitmix(s),
            splitmix(s ^ 0x5555_5555_5555_5555)
        )
    }

    /// Now, in seconds since the epoch, for timestamps.
    pub fn now() -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default()
    }
}

/// How many items a list or describe of the fake answers at once unless a test says otherwise
/// ([`FakeAws::set_page_size`]): small, so that every marker and next-token loop of a caller
/// turns.
pub const DEFAULT_PAGE_SIZE: usize = 3;

/// The header in which a [`VirtualClock`]'s client sends its simulated time, in milliseconds
/// since the epoch; a fake that follows its callers' clock reads it before the signing time.
pub(crate) const CLOCK_HEADER: &str = "x-snapshift-fake-clock";

thread_local! {
    /// The time of the request being answered, when the fake follows its callers' clock.
    static REQUEST_NOW: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// Now, for the fake's copies and jobs: the time of the request being answered when the fake
/// follows its callers' clock ([`FakeAws::follow_request_clock`]), real time otherwise.
pub(crate) fn now() -> std::time::Instant {
    REQUEST_NOW
        .with(std::cell::Cell::get)
        .unwrap_or_else(std::time::Instant::now)
}

/// Seconds since the epoch of an `x-amz-date` value (`20261123T140931Z`).
fn amz_date_secs(value: &str) -> Option<i64> {
    let digits = |r: std::ops::Range<usize>| value.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hh, mm, ss) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// An HTTP date (`Mon, 23 Nov 2026 14:27:44 GMT`) of seconds since the epoch.
fn http_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = wire::civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS
        .get(usize::try_from(days.rem_euclid(7)).unwrap_or(0))
        .copied()
        .unwrap_or("Thu");
    let month = MONTHS
        .get(usize::try_from(m - 1).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{weekday}, {d:02} {month} {y} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// splitmix64: spreads a counter over 64 bits; a bijection, so ids made from it stay unique.
fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a handler knows about the caller.
pub(crate) struct Caller {
    pub account: AccountId,
    pub region: Region,
}

impl Caller {
    /// The caller's ARN as STS names it: the account root unless its access key belongs to
    /// another principal ([`FakeAws::account_as`], an assumed role).
    pub fn arn(&self, world: &World) -> String {
        world.caller_principal.clone().unwrap_or_else(|| {
            format!("arn:{}:iam::{}:root", self.region.partition(), self.account)
        })
    }
}

/// The fake AWS. Dropping it stops the server.
pub struct FakeAws {
    server: MockServer,
    world: Arc<Mutex<World>>,
}

impl std::fmt::Debug for FakeAws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeAws")
            .field("uri", &self.server.uri())
            .finish_non_exhaustive()
    }
}

impl FakeAws {
    /// Starts a fake on a free local port.
    pub async fn start() -> FakeAws {
        let server = MockServer::start().await;
        let world = Arc::new(Mutex::new(World::default()));
        Mock::given(wiremock::matchers::any())
            .respond_with(Responder {
                world: Arc::clone(&world),
            })
            .mount(&server)
            .await;
        FakeAws { server, world }
    }

    /// The server's base URL.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The state, with the backup jobs whose time has come finished.
    fn world(&self) -> MutexGuard<'_, World> {
        let mut world = self
            .world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        backup::settle(&mut world);
        world
    }

    /// The access key id of `account` (registered on first use).
    pub fn access_key(&self, account: AccountId) -> String {
        let key = format!("AKIAFAKE{account}");
        self.world().access_keys.insert(key.clone(), account);
        key
    }

    /// An SDK configuration that reaches the fake with `account`'s credentials: endpoint,
    /// static credentials, region `us-east-1` (clients set their own), short retry backoff
    /// and a 2-second attempt timeout so that fault tests run fast.
    pub async fn sdk_config(&self, account: AccountId) -> SdkConfig {
        sdk_config_for(&self.uri(), &self.access_key(account), None).await
    }

    /// `account` on the fake, with its own credentials. It waits out eventual consistency
    /// (R26) as [`WaitConfig::fast`](crate::engine::WaitConfig::fast) says until a stack
    /// sets its own.
    pub async fn account(&self, account: AccountId) -> Account {
        fast(Account::from_config(
            account,
            self.sdk_config(account).await,
        ))
    }

    /// `account` on the fake, acting as `principal` (an IAM user or role ARN of that account,
    /// e.g. `arn:aws:iam::111111111111:role/deployer`) instead of the account root: STS names
    /// it, and KMS checks key policies against it (R4).
    pub async fn account_as(&self, account: AccountId, principal: &str) -> Account {
        let key = format!("AKIAFAKE{account}P{}", self.world().fresh_hex());
        {
            let mut world = self.world();
            world.access_keys.insert(key.clone(), account);
            world.principals.insert(key.clone(), principal.to_owned());
        }
        fast(Account::from_config(
            account,
            sdk_config_for(&self.uri(), &key, None).await,
        ))
    }

    /// `account` on the fake with an SDK configuration that names no region, as a profile
    /// without `region` gives (R28): snapshift must reach IAM and STS through the global
    /// region of the partition, and name the region of every regional call itself.
    pub async fn account_without_region(&self, account: AccountId) -> Account {
        let mut config = self.sdk_config(account).await.into_builder();
        config.set_region(None);
        fast(Account::from_config(account, config.build()))
    }

    /// An account declared as `declared` whose credentials belong to `actual`: for testing
    /// the identity check.
    pub async fn account_with_credentials_of(
        &self,
        declared: AccountId,
        actual: AccountId,
    ) -> Account {
        fast(Account::from_config(
            declared,
            self.sdk_config(actual).await,
        ))
    }

    /// Injects `fault` into the `nth` next call (1 = the very next) of `operation`.
    pub fn inject(&self, operation: &str, nth: usize, fault: Fault) {
        let mut world = self.world();
        let at = world.counts.get(operation).copied().unwrap_or(0) + nth.max(1);
        world.faults.push(Injected {
            operation: operation.to_owned(),
            at,
            fault,
        });
    }

    /// Makes the next `RestoreDBClusterFromSnapshot` or `RestoreDBInstanceFromDBSnapshot`
    /// end in `state` (`failed`, `incompatible-network`, `incompatible-parameters`,
    /// `incompatible-restore`, `inaccessible-encryption-credentials`, ...), a state the
    /// database does not leave on its own, as RDS reports restores whose network,
    /// parameters or key do not fit (R27; RDS user guide, "Viewing DB instance status").
    pub fn fail_next_restore(&self, state: &str) {
        self.world().next_restore_state = Some(state.to_owned());
    }

    /// Gives the callers of `account` the identity policy `policy` (JSON) instead of an
    /// administrator's: using another account's key then needs this policy to allow the
    /// action on the key as well as the key's policy to allow the account (R31; RDS user
    /// guide, "Sharing a DB snapshot": "the IAM policy of the principal in the target
    /// account must also allow ..."). KMS calls on the key answer `AccessDeniedException`,
    /// and RDS copies and restores from a snapshot under it `KMSKeyNotAccessibleFault`.
    pub fn set_caller_policy(&self, account: AccountId, policy: &str) {
        self.world()
            .caller_policies
            .insert(account, policy.to_owned());
    }

    /// How AWS's eventual consistency shows from now on (R26): see [`Consistency`]. On by
    /// default; [`Consistency::strong`] turns it off.
    pub fn set_consistency(&self, consistency: Consistency) {
        self.world().consistency = consistency;
    }

    /// How many answers eventual consistency changed so far (R26): an unknown key or alias, a
    /// key policy from before its change, a replica still `Creating`, a role AWS Backup
    /// cannot use yet. A client that handles them makes each of those calls again.
    pub fn unsettled_answers(&self) -> usize {
        self.world().unsettled_answers
    }

    /// Drops every injected fault that has not fired yet.
    pub fn clear_faults(&self) {
        self.world().faults.clear();
    }

    /// Answers a share `ratio` (0 to 1) of the calls to KMS, RDS, IAM and AWS Backup with a
    /// throttling error (`ThrottlingException`, or `Throttling` for the query protocols), as
    /// AWS does when an account's API rate is exceeded (R20). Which calls are throttled is
    /// decided by their order, so a run repeats.
    pub fn set_throttling(&self, ratio: f64) {
        self.world().throttle_ratio = ratio.clamp(0.0, 1.0);
    }

    /// Makes the fake's clock the time of each request instead of real time: copies and jobs
    /// then finish on the callers' clock. With [`VirtualClock`] as their time source in a
    /// paused tokio runtime, a run of simulated hours takes seconds (a benchmark's baseline,
    /// say). A [`VirtualClock`]'s client sends its time to the millisecond; any other
    /// caller's time is its signing time, in whole seconds. The clock never goes back: a
    /// request sent before the latest one seen happens at the latest one's time (a snapshot
    /// seen available must stay so).
    pub fn follow_request_clock(&self) {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        self.world().request_clock = Some((
            std::time::Instant::now(),
            i64::try_from(secs).unwrap_or(i64::MAX),
        ));
    }

    /// Answers a share `ratio` (0 to 1) of the calls to KMS, RDS, IAM and AWS Backup with an
    /// HTTP 500 (`InternalFailure`, `InternalError` for the query protocols) before they take
    /// effect, as AWS does now and then; the SDK retries them. Which calls is decided by their
    /// order, so a run repeats.
    pub fn set_internal_errors(&self, ratio: f64) {
        self.world().error_ratio = ratio.clamp(0.0, 1.0);
    }

    /// How many calls `set_internal_errors` has failed.
    pub fn internal_errors(&self) -> usize {
        self.world().errored
    }

    /// Answers every list and describe with at most `items` items a page (at least 1; default
    /// [`DEFAULT_PAGE_SIZE`]), with a marker or next token for the rest, as AWS does past its
    /// own page sizes (which still apply: 100 for RDS's `MaxRecords`, for example). A test of
    /// a caller's loops keeps the small default; a benchmark that models AWS's call counts
    /// sets AWS's own size (100).
    pub fn set_page_size(&self, items: usize) {
        self.world().page_size = Some(items.max(1));
    }

    /// How many calls `set_throttling` has throttled.
    pub fn throttled(&self) -> usize {
        self.world().throttled
    }

    /// Every call answered so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.world().log.clone()
    }

    /// How many calls of `operation` were answered (retries included).
    pub fn count(&self, operation: &str) -> usize {
        self.world()
            .log
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    /// The calls that can change something, in order.
    pub fn mutating_calls(&self) -> Vec<Call> {
        self.world()
            .log
            .iter()
            .filter(|c| c.is_mutating())
            .cloned()
            .collect()
    }

    /// Forgets the request log (not the state).
    pub fn clear_log(&self) {
        self.world().log.clear();
    }

    /// The customer managed keys of `account` in `region`.
    pub fn keys(&self, account: AccountId, region: &Region) -> Vec<FakeKey> {
        self.world().kms.customer_keys(account, region)
    }

    /// Seeds a snapshot (and its database, if missing). Returns the snapshot's ARN.
    pub fn seed_snapshot(&self, seed: SeedSnapshot) -> Result<String, AwsFault> {
        let mut world = self.world();
        let caller = Caller {
            account: seed.account,
            region: seed.region.clone(),
        };
        let kms_key = match &seed.key {
            Some(k) => Some(kms::resolve_arn(&mut world, &caller, k)?),
            None => None,
        };
        let db = FakeDatabase {
            kind: seed.kind,
            account: seed.account,
            region: seed.region.clone(),
            id: seed.source.to_ascii_lowercase(),
            engine: match seed.kind {
                crate::ids::SnapshotKind::Cluster => "aurora-mysql".into(),
                crate::ids::SnapshotKind::Db => "mysql".into(),
            },
            kms_key: kms_key.clone(),
            restored_from: None,
            manage_master_user_password: true,
            instances: Vec::new(),
            tags: Vec::new(),
            status: "available".into(),
        };
        let key = (db.account, db.region.clone(), db.kind, db.id.clone());
        if !world.rds.databases.contains_key(&key) {
            world.rds.add_database(db);
        }
        let snapshot = rds::from_seed(&seed, kms_key);
        let arn = snapshot.arn();
        world.rds.add_snapshot(snapshot);
        world.rds.note_manual(seed.account, &seed.region, seed.kind);
        Ok(arn)
    }

    /// How long a snapshot copy takes per GiB (default 200 ms); `PercentProgress` stays at 0
    /// until then (R5, R21).
    pub fn set_copy_time(&self, per_gib: Duration) {
        self.world().rds.copy_time = per_gib;
    }

    /// How many copies may be in flight per account and destination region before
    /// `SnapshotQuotaExceeded` (default 20, R19).
    pub fn set_copy_quota(&self, quota: usize) {
        self.world().rds.copy_quota = quota;
    }

    /// Sets the quota of manual snapshots of `kind` (`ManualSnapshots` for DB snapshots,
    /// `ManualClusterSnapshots` for cluster snapshots) that `account` may hold in `region`
    /// (default [`DEFAULT_MANUAL_SNAPSHOT_QUOTA`], 100, R25). Seeded snapshots may
    /// exceed it; a copy or a new snapshot past it answers `SnapshotQuotaExceeded`.
    pub fn set_manual_snapshot_quota(
        &self,
        account: AccountId,
        region: &Region,
        kind: crate::ids::SnapshotKind,
        max: usize,
    ) {
        self.world()
            .rds
            .manual_quota
            .insert((account, region.clone(), kind), max);
    }

    /// How many manual snapshots of `kind` `account` holds in `region` now (R25: automated
    /// and AWS Backup snapshots do not count).
    pub fn manual_snapshot_count(
        &self,
        account: AccountId,
        region: &Region,
        kind: crate::ids::SnapshotKind,
    ) -> usize {
        self.world().rds.manual_count(account, region, kind)
    }

    /// The most manual snapshots of `kind` that `account` held at once in `region` since the
    /// fake started (R25).
    pub fn peak_manual_snapshots(
        &self,
        account: AccountId,
        region: &Region,
        kind: crate::ids::SnapshotKind,
    ) -> usize {
        self.world()
            .rds
            .peak_manual
            .get(&(account, region.clone(), kind))
            .copied()
            .unwrap_or(0)
    }

    /// The most snapshot copies that were in flight at once to `account` in `region` (R19):
    /// with snapshift's scheduler, never more than the quota.
    pub fn peak_copies_in_flight(&self, account: AccountId, region: &Region) -> usize {
        self.world()
            .rds
            .peak_in_flight
            .get(&(account, region.clone()))
            .copied()
            .unwrap_or(0)
    }

    /// RDS's token bucket (R20): each account and region may make `per_second` RDS calls a
    /// second, in bursts of up to `burst`; past it, `Throttling` ("Rate exceeded"). `None`
    /// turns it off (the default).
    pub fn set_rds_rate(&self, rate: Option<(f64, u32)>) {
        let mut world = self.world();
        world.rds_rate = rate;
        world.buckets.clear();
    }

    /// The snapshots of `account` in `region`.
    pub fn snapshots(&self, account: AccountId, region: &Region) -> Vec<FakeSnapshot> {
        self.world()
            .rds
            .snapshots
            .values()
            .filter(|s| s.account == account && &s.region == region)
            .cloned()
            .collect()
    }

    /// The DB clusters and instances of `account` in `region`.
    pub fn databases(&self, account: AccountId, region: &Region) -> Vec<FakeDatabase> {
        self.world()
            .rds
            .databases
            .values()
            .filter(|d| d.account == account && &d.region == region)
            .cloned()
            .collect()
    }

    /// The IAM roles of `account`.
    pub fn roles(&self, account: AccountId) -> Vec<FakeRole> {
        self.world()
            .iam
            .roles
            .values()
            .filter(|r| r.account == account)
            .cloned()
            .collect()
    }

    /// The alias names of `account` in `region` and the key ids they point at.
    pub fn aliases(&self, account: AccountId, region: &Region) -> BTreeMap<String, String> {
        self.world().kms.aliases(account, region)
    }

    /// How long an AWS Backup job (backup, copy or restore) takes (default 50 ms); until
    /// then it is `RUNNING`, its recovery point `CREATING`.
    pub fn set_backup_job_time(&self, time: Duration) {
        self.world().backup.job_time = time;
    }

    /// The backup vaults of `account` in `region` (the `Default` vault once something used
    /// it).
    pub fn vaults(&self, account: AccountId, region: &Region) -> Vec<FakeVault> {
        self.world()
            .backup
            .vaults
            .values()
            .filter(|v| v.account == account && &v.region == region)
            .cloned()
            .collect()
    }

    /// The AWS Backup recovery points of `account` in `region`, in every vault.
    pub fn recovery_points(&self, account: AccountId, region: &Region) -> Vec<FakeRecoveryPoint> {
        self.world()
            .backup
            .recovery_points
            .values()
            .filter(|p| p.account == account && &p.region == region)
            .cloned()
            .collect()
    }

    /// The backup plans of `account` in `region`.
    pub fn backup_plans(&self, account: AccountId, region: &Region) -> Vec<FakeBackupPlan> {
        self.world()
            .backup
            .plans
            .values()
            .filter(|p| p.account == account && &p.region == region)
            .cloned()
            .collect()
    }

    /// The backup selections of `account` in `region`, of every plan.
    pub fn backup_selections(
        &self,
        account: AccountId,
        region: &Region,
    ) -> Vec<FakeBackupSelection> {
        self.world()
            .backup
            .selections
            .values()
            .filter(|s| s.account == account && &s.region == region)
            .cloned()
            .collect()
    }

    /// Seeds an Aurora cluster `cluster_id` (engine `aurora-mysql`, one DB instance
    /// `<cluster_id>-instance-1`) under `key` (id, alias or ARN in its account; `None` for an
    /// unencrypted cluster), without a snapshot. Returns the cluster ARN, which
    /// `StartBackupJob` takes. An existing cluster of that name is refused with
    /// `DBClusterAlreadyExistsFault`.
    pub fn seed_cluster(
        &self,
        account: AccountId,
        region: &Region,
        cluster_id: &str,
        key: Option<&str>,
    ) -> Result<String, AwsFault> {
        let mut world = self.world();
        let caller = Caller {
            account,
            region: region.clone(),
        };
        let kms_key = match key {
            Some(k) => Some(kms::resolve_arn(&mut world, &caller, k)?),
            None => None,
        };
        let id = cluster_id.to_ascii_lowercase();
        let kind = crate::ids::SnapshotKind::Cluster;
        if world
            .rds
            .databases
            .contains_key(&(account, region.clone(), kind, id.clone()))
        {
            return Err(AwsFault::new(
                "DBClusterAlreadyExistsFault",
                format!("DB cluster {id} already exists"),
            ));
        }
        let db = FakeDatabase {
            kind,
            account,
            region: region.clone(),
            id: id.clone(),
            engine: "aurora-mysql".into(),
            kms_key,
            restored_from: None,
            manage_master_user_password: true,
            instances: vec![format!("{id}-instance-1")],
            tags: Vec::new(),
            status: "available".into(),
        };
        let arn = backup::cluster_arn(&db);
        world.rds.add_database(db);
        Ok(arn)
    }
}

pub use backup::{FakeBackupPlan, FakeBackupSelection, FakeRecoveryPoint, FakeVault};
pub use iam::FakeRole;
pub use kms::FakeKey;
pub use rds::{FakeDatabase, FakeSnapshot, DEFAULT_MANUAL_SNAPSHOT_QUOTA};

const RDS_NAMESPACE: &str = "http://rds.amazonaws.com/doc/2014-10-31/";

/// A snapshot to seed the fake with: [`FakeAws::seed_snapshot`].
#[derive(Debug, Clone)]
pub struct SeedSnapshot {
    /// DB or cluster snapshot.
    pub kind: crate::ids::SnapshotKind,
    /// The owning account.
    pub account: AccountId,
    /// The region.
    pub region: Region,
    /// The snapshot identifier.
    pub id: String,
    /// The instance or cluster it was taken from (made too if missing).
    pub source: String,
    /// The key that encrypts it, as an id, alias or ARN in its account (`alias/aws/rds` for
    /// the AWS managed key); `None` for an unencrypted snapshot.
    pub key: Option<String>,
    /// `manual` or `automated`.
    pub snapshot_type: String,
    /// Size in GiB: a copy takes the copy time per GiB (R21).
    pub size_gb: u32,
    /// The option group of a DB snapshot (R22).
    pub option_group: Option<String>,
    /// Its tags (a reserved `aws:` key makes a copy with `CopyTags` fail, R22).
    pub tags: Vec<(String, String)>,
}

impl SeedSnapshot {
    /// A manual cluster snapshot of `cluster` in `account` and `region`, under `key`, 1 GiB.
    pub fn cluster(
        account: AccountId,
        region: &Region,
        id: &str,
        cluster: &str,
        key: Option<&str>,
    ) -> SeedSnapshot {
        SeedSnapshot {
            kind: crate::ids::SnapshotKind::Cluster,
            account,
            region: region.clone(),
            id: id.into(),
            source: cluster.into(),
            key: key.map(str::to_owned),
            snapshot_type: "manual".into(),
            size_gb: 1,
            option_group: None,
            tags: Vec::new(),
        }
    }

    /// A manual DB snapshot of `instance`, under `key`, 1 GiB.
    pub fn db(
        account: AccountId,
        region: &Region,
        id: &str,
        instance: &str,
        key: Option<&str>,
    ) -> SeedSnapshot {
        SeedSnapshot {
            kind: crate::ids::SnapshotKind::Db,
            source: instance.into(),
            ..SeedSnapshot::cluster(account, region, id, "", key)
        }
    }
}

struct Responder {
    world: Arc<Mutex<World>>,
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut world = self
            .world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let latest = world.request_clock_latest;
        let signed = world.request_clock.and_then(|(base, base_secs)| {
            let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
            let millis = header(CLOCK_HEADER)
                .and_then(|v| v.parse::<i64>().ok())
                .or_else(|| {
                    header("x-amz-date")
                        .and_then(amz_date_secs)
                        .map(|secs| secs * 1000)
                })?
                .max(latest);
            let offset = u64::try_from(millis - base_secs * 1000).unwrap_or(0);
            Some((base + Duration::from_millis(offset), millis))
        });
        if let Some((_, millis)) = signed {
            world.request_clock_latest = millis;
        }
        let request_now = signed.map(|(now, _)| now);
        REQUEST_NOW.with(|n| n.set(request_now));
        backup::settle(&mut world);
        world.serial += 1;
        let request_id = format!(
            "fake-{:08x}-0000-4000-8000-{:012x}",
            world.serial, world.serial
        );
        let (reply, call, delay) = handle(&mut world, request, &request_id);
        REQUEST_NOW.with(|n| n.set(None));
        world.log.push(call);
        let mut template = ResponseTemplate::new(reply.status)
            .insert_header("content-type", reply.content_type)
            .insert_header("x-amzn-requestid", request_id.as_str())
            .set_body_string(reply.body);
        // On the callers' clock, the answer's Date is the request's time too: the SDK
        // corrects its clock by the server's Date (clock skew), which would pull it back to
        // real time.
        if let Some((_, millis)) = signed {
            template = template.insert_header("date", http_date(millis / 1000).as_str());
        }
        if let Some(code) = reply.error_code {
            template = template.insert_header("x-amzn-errortype", code.as_str());
        }
        if let Some(delay) = delay {
            template = template.set_delay(delay);
        }
        template
    }
}

fn handle(
    world: &mut World,
    request: &Request,
    request_id: &str,
) -> (wire::Reply, Call, Option<Duration>) {
    let incoming = match wire::parse(request) {
        Ok(incoming) => incoming,
        Err(fault) => {
            let call = Call {
                account: None,
                region: String::new(),
                service: String::new(),
                operation: String::new(),
                status: fault.status,
                error: Some(fault.code.clone()),
            };
            return (wire::json_error(&fault), call, None);
        }
    };
    let count = world.counts.entry(incoming.operation.clone()).or_insert(0);
    *count += 1;
    let n = *count;
    let mut injected = world
        .faults
        .iter()
        .position(|f| f.operation == incoming.operation && f.at == n)
        .map(|i| world.faults.remove(i).fault);
    // R20: RDS's token bucket per account and region.
    if let (None, Some((rate, burst)), Some(account), "rds") = (
        &injected,
        world.rds_rate,
        incoming
            .access_key
            .as_ref()
            .and_then(|k| world.access_keys.get(k).copied()),
        incoming.service.as_str(),
    ) {
        let now = now();
        let bucket = world
            .buckets
            .entry((account, incoming.region.clone()))
            .or_insert((f64::from(burst), now));
        bucket.0 =
            (bucket.0 + now.duration_since(bucket.1).as_secs_f64() * rate).min(f64::from(burst));
        bucket.1 = now;
        if bucket.0 >= 1.0 {
            bucket.0 -= 1.0;
        } else {
            world.throttled += 1;
            injected = Some(Fault::Error(AwsFault::new("Throttling", "Rate exceeded")));
        }
    }
    // R20: a share of the calls throttled, decided by the call's serial (repeatable runs).
    if injected.is_none() && world.throttle_ratio > 0.0 && incoming.service != "sts" {
        let draw = (splitmix(world.serial) >> 11) as f64 / (1u64 << 53) as f64;
        if draw < world.throttle_ratio {
            world.throttled += 1;
            // awsQuery services (RDS, IAM) say `Throttling`; the JSON ones `ThrottlingException`.
            let code = match incoming.service.as_str() {
                "kms" | "backup" => "ThrottlingException",
                _ => "Throttling",
            };
            injected = Some(Fault::Error(AwsFault::new(code, "Rate exceeded")));
        }
    }
    // A share of the calls fail with HTTP 500, drawn apart from the throttling draw.
    if injected.is_none() && world.error_ratio > 0.0 && incoming.service != "sts" {
        let draw =
            (splitmix(world.serial ^ 0xa5a5_a5a5_a5a5_a5a5) >> 11) as f64 / (1u64 << 53) as f64;
        if draw < world.error_ratio {
            world.errored += 1;
            let code = match incoming.service.as_str() {
                "kms" | "backup" => "InternalFailure",
                _ => "InternalError",
            };
            injected = Some(Fault::Error(
                AwsFault::new(code, "We encountered an internal error. Please try again.")
                    .status(500),
            ));
        }
    }
    let account = incoming
        .access_key
        .as_ref()
        .and_then(|k| world.access_keys.get(k).copied());
    world.caller_principal = incoming
        .access_key
        .as_ref()
        .and_then(|k| world.principals.get(k).cloned());
    let error_reply = |fault: &AwsFault| match incoming.service.as_str() {
        "kms" => wire::json_error(fault),
        "backup" => wire::rest_error(fault),
        _ => wire::query_error(fault, request_id),
    };
    let mut delay = None;
    let reply = match (&injected, account, incoming.region.parse::<Region>()) {
        (Some(Fault::Error(fault)), _, _) => error_reply(fault),
        (_, None, _) => {
            // The JSON services and the query services name the same problem differently.
            let code = if matches!(incoming.service.as_str(), "kms" | "backup") {
                "UnrecognizedClientException"
            } else {
                "InvalidClientTokenId"
            };
            error_reply(
                &AwsFault::new(
                    code,
                    "The security token included in the request is invalid.",
                )
                .status(403),
            )
        }
        (_, _, Err(_)) => error_reply(
            &AwsFault::new(
                "InvalidClientTokenId",
                format!("unknown region `{}`", incoming.region),
            )
            .status(403),
        ),
        (_, Some(account), Ok(region)) => {
            let caller = Caller { account, region };
            let result = match incoming.service.as_str() {
                "kms" => kms::handle(world, &caller, &incoming.operation, &incoming.params)
                    .map(wire::json_reply),
                "sts" => sts::handle(world, &caller, &incoming.operation, &incoming.params).map(
                    |inner| {
                        wire::query_reply(&incoming.operation, sts::NAMESPACE, &inner, request_id)
                    },
                ),
                "iam" => iam::handle(world, &caller, &incoming.operation, &incoming.params).map(
                    |inner| {
                        wire::query_reply(&incoming.operation, iam::NAMESPACE, &inner, request_id)
                    },
                ),
                "backup" => backup::handle(world, &caller, &incoming.operation, &incoming.params)
                    .map(wire::rest_reply),
                "rds" => rds::handle(world, &caller, &incoming.operation, &incoming.params).map(
                    |inner| {
                        wire::query_reply(&incoming.operation, RDS_NAMESPACE, &inner, request_id)
                    },
                ),
                other => Err(unknown(other, &incoming.operation)),
            };
            match (result, &injected) {
                // The call happened (or failed on its own); either way the answer is lost.
                (_, Some(Fault::ErrorAfterApply(fault))) => error_reply(fault),
                (Ok(reply), Some(Fault::Delay(d))) => {
                    delay = Some(*d);
                    reply
                }
                (Ok(reply), _) => reply,
                (Err(fault), _) => error_reply(&fault),
            }
        }
    };
    let call = Call {
        account,
        region: incoming.region.clone(),
        service: incoming.service.clone(),
        operation: incoming.operation.clone(),
        status: reply.status,
        error: reply.error_code.clone(),
    };
    (reply, call, delay)
}

/// A test account settles as fast as [`WaitConfig::fast`](crate::engine::WaitConfig::fast)
/// says (R26), until a stack sets its own.
fn fast(account: Account) -> Account {
    account.settle_with(crate::engine::WaitConfig::fast().settling());
    account
}

/// The answer to an operation the fake does not model: a clear error naming it.
pub(crate) fn unknown(service: &str, operation: &str) -> AwsFault {
    AwsFault::new(
        "UnknownOperationException",
        format!("FakeAws does not model {service}:{operation}; see snapshift::testing for what it models"),
    )
}

#[cfg(test)]
mod clock_tests {
    use super::{amz_date_secs, http_date};

    // The fake's clock on its callers' time: the signing time read, and the answer's Date.
    #[test]
    fn request_times_read_and_written() {
        let secs = amz_date_secs("20261123T142744Z").unwrap();
        assert_eq!(secs, 1_795_444_064);
        assert_eq!(http_date(secs), "Mon, 23 Nov 2026 14:27:44 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(amz_date_secs("2026-11-23"), None);
    }
}
