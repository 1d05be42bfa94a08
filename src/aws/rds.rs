//! RDS: DB and cluster snapshots (describe, copy, share, delete, tags), restores, and the
//! master password setting, as the engine needs them.

use aws_sdk_rds::types::Tag;

use super::{none_on, Account, AwsError};
use crate::ids::{AccountId, Region, SnapshotId, SnapshotKind, SnapshotOrigin};

/// A manual-snapshot quota of one account, region and kind, with its use (R25).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManualQuota {
    /// Manual snapshots of that kind held now.
    pub used: u64,
    /// The most that may be held.
    pub max: u64,
}

impl ManualQuota {
    /// The name `DescribeAccountAttributes` gives the quota of `kind`.
    pub fn attribute(kind: SnapshotKind) -> &'static str {
        match kind {
            SnapshotKind::Cluster => "ManualClusterSnapshots",
            SnapshotKind::Db => "ManualSnapshots",
        }
    }

    /// The quota's name in Service Quotas (service `rds`), where it is raised.
    pub fn service_quota(kind: SnapshotKind) -> &'static str {
        match kind {
            SnapshotKind::Cluster => "Manual DB cluster snapshots",
            SnapshotKind::Db => "Manual DB instance snapshots",
        }
    }

    /// How many more may be made.
    pub fn room(&self) -> u64 {
        self.max.saturating_sub(self.used)
    }

    /// The quota a `SnapshotQuotaExceeded` message names when the manual-snapshot quota,
    /// not the copy quota, refused the call: "Cannot create more than 100 manual snapshots"
    /// (R25; the copy quota's message names copies in progress, R19).
    pub fn max_in_message(message: &str) -> Option<u64> {
        let rest = message
            .to_ascii_lowercase()
            .split_once("cannot create more than ")?
            .1
            .to_owned();
        let (number, tail) = rest.split_once(' ')?;
        tail.starts_with("manual")
            .then(|| number.parse().ok())
            .flatten()
    }
}

/// What snapshift reads about a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// DB or cluster snapshot.
    pub kind: SnapshotKind,
    /// The identifier as the caller sees it (the ARN, for a snapshot shared with it).
    pub identifier: String,
    /// The ARN.
    pub arn: String,
    /// `available`, `creating`, `copying`, ...
    pub status: String,
    /// Progress as RDS reports it; 0 until done for many copies (R5).
    pub percent: i32,
    /// The key ARN, if encrypted.
    pub kms_key: Option<String>,
    /// `manual`, `automated`, `shared`, `awsbackup`, ...
    pub snapshot_type: String,
    /// The instance or cluster it was taken from.
    pub source: String,
    /// Size in GiB.
    pub allocated_gb: i32,
    /// The option group (DB snapshots, R22).
    pub option_group: Option<String>,
    /// The engine, e.g. `aurora-postgresql` (a restore uses the same).
    pub engine: String,
    /// When it was taken, in seconds since the epoch, if AWS says.
    pub created: Option<i64>,
}

impl SnapshotInfo {
    /// Whether the snapshot is ready to use.
    pub fn is_available(&self) -> bool {
        self.status == "available"
    }

    /// Whether the snapshot ended in a state it will not leave (`failed`, `error`,
    /// `incompatible-*`): waiting longer cannot help.
    pub fn has_failed(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "error")
            || self.status.starts_with("incompatible")
    }

    fn from_cluster(s: &aws_sdk_rds::types::DbClusterSnapshot) -> SnapshotInfo {
        SnapshotInfo {
            kind: SnapshotKind::Cluster,
            identifier: s
                .db_cluster_snapshot_identifier()
                .unwrap_or_default()
                .to_owned(),
            arn: s.db_cluster_snapshot_arn().unwrap_or_default().to_owned(),
            status: s.status().unwrap_or_default().to_owned(),
            percent: s.percent_progress().unwrap_or_default(),
            kms_key: s
                .kms_key_id()
                .filter(|_| s.storage_encrypted().unwrap_or(false))
                .map(str::to_owned),
            snapshot_type: s.snapshot_type().unwrap_or_default().to_owned(),
            source: s.db_cluster_identifier().unwrap_or_default().to_owned(),
            allocated_gb: s.allocated_storage().unwrap_or_default(),
            option_group: None,
            engine: s.engine().unwrap_or_default().to_owned(),
            created: s.snapshot_create_time().map(|t| t.secs()),
        }
    }

    fn from_db(s: &aws_sdk_rds::types::DbSnapshot) -> SnapshotInfo {
        SnapshotInfo {
            kind: SnapshotKind::Db,
            identifier: s.db_snapshot_identifier().unwrap_or_default().to_owned(),
            arn: s.db_snapshot_arn().unwrap_or_default().to_owned(),
            status: s.status().unwrap_or_default().to_owned(),
            percent: s.percent_progress().unwrap_or_default(),
            kms_key: s
                .kms_key_id()
                .filter(|_| s.encrypted().unwrap_or(false))
                .map(str::to_owned),
            snapshot_type: s.snapshot_type().unwrap_or_default().to_owned(),
            source: s.db_instance_identifier().unwrap_or_default().to_owned(),
            allocated_gb: s.allocated_storage().unwrap_or_default(),
            option_group: s.option_group_name().map(str::to_owned),
            engine: s.engine().unwrap_or_default().to_owned(),
            created: s.snapshot_create_time().map(|t| t.secs()),
        }
    }
}

/// What snapshift reads about a DB cluster or instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    /// Cluster (`SnapshotKind::Cluster`) or instance (`SnapshotKind::Db`).
    pub kind: SnapshotKind,
    /// The identifier.
    pub identifier: String,
    /// The ARN.
    pub arn: String,
    /// `available`, `creating`, `failed`, ...
    pub status: String,
    /// The key ARN, if encrypted.
    pub kms_key: Option<String>,
}

impl DatabaseInfo {
    fn from_cluster(c: &aws_sdk_rds::types::DbCluster) -> DatabaseInfo {
        DatabaseInfo {
            kind: SnapshotKind::Cluster,
            identifier: c.db_cluster_identifier().unwrap_or_default().to_owned(),
            arn: c.db_cluster_arn().unwrap_or_default().to_owned(),
            status: c.status().unwrap_or_default().to_owned(),
            kms_key: c
                .kms_key_id()
                .filter(|_| c.storage_encrypted().unwrap_or(false))
                .map(str::to_owned),
        }
    }

    fn from_instance(i: &aws_sdk_rds::types::DbInstance) -> DatabaseInfo {
        DatabaseInfo {
            kind: SnapshotKind::Db,
            identifier: i.db_instance_identifier().unwrap_or_default().to_owned(),
            arn: i.db_instance_arn().unwrap_or_default().to_owned(),
            status: i.db_instance_status().unwrap_or_default().to_owned(),
            kms_key: i
                .kms_key_id()
                .filter(|_| i.storage_encrypted().unwrap_or(false))
                .map(str::to_owned),
        }
    }
}

/// What a copy is made with.
#[derive(Debug, Clone, Default)]
pub struct CopyRequest<'a> {
    /// The source: identifier, or ARN (required for a shared snapshot, R3).
    pub source: &'a str,
    /// The new snapshot's identifier.
    pub target: &'a str,
    /// The key to re-encrypt with (R3, R7).
    pub kms_key: Option<&'a str>,
    /// Copy the source's tags.
    pub copy_tags: bool,
    /// Tags for the copy.
    pub tags: &'a [(String, String)],
    /// A target option group (DB snapshots across regions, R22).
    pub option_group: Option<&'a str>,
}

/// What a restore is made with.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest<'a> {
    /// The engine (clusters).
    pub engine: &'a str,
    /// The DB subnet group.
    pub subnet_group: Option<&'a str>,
    /// The instance class (instances).
    pub instance_class: Option<&'a str>,
    /// VPC security group ids.
    pub security_groups: &'a [String],
    /// Tags for the new database.
    pub tags: &'a [(String, String)],
}

/// RDS in one account and region.
#[derive(Debug, Clone)]
pub struct Rds {
    client: aws_sdk_rds::Client,
    account: AccountId,
    region: Region,
    pace: std::sync::Arc<super::Pace>,
    describes: std::sync::Arc<Describes>,
}

/// The most snapshot identifiers one shared describe names (a `db-snapshot-id` or
/// `db-cluster-snapshot-id` filter). AWS documents no limit on a filter's values; this stays
/// far below a page of answers (100), and a batch AWS refuses is described one by one.
pub(crate) const DESCRIBE_BATCH: usize = 20;

/// One describe's answer.
type Described = Result<Option<SnapshotInfo>, AwsError>;

/// The snapshot describes of one account and region waiting for a call (R20). The first
/// describe to arrive starts a task that waits for the pace's next turn; every describe that
/// arrives meanwhile rides on the same call, one `DescribeDBSnapshots` with a filter naming
/// up to [`DESCRIBE_BATCH`] identifiers. A preflight of a hundred snapshots then costs a
/// handful of calls instead of a hundred, and copies polled at the same moment share theirs.
/// A describe that finds no other waiting makes a single call by identifier, as a describe
/// of an ARN always does.
#[derive(Debug, Default)]
pub(crate) struct Describes {
    queues: std::sync::Mutex<DescribeQueues>,
}

#[derive(Debug, Default)]
struct DescribeQueues {
    db: DescribeQueue,
    cluster: DescribeQueue,
}

#[derive(Debug, Default)]
struct DescribeQueue {
    waiting: Vec<(String, Answer)>,
    /// A task is on its way to serve the waiting describes.
    served: bool,
}

impl DescribeQueues {
    fn of(&mut self, kind: SnapshotKind) -> &mut DescribeQueue {
        match kind {
            SnapshotKind::Db => &mut self.db,
            SnapshotKind::Cluster => &mut self.cluster,
        }
    }
}

/// A describe waiting for its answer.
type Answer = tokio::sync::oneshot::Sender<Described>;

/// The codes with which AWS refuses a request as sent: a shared describe refused so is made
/// again one identifier at a time.
const REFUSED_FILTER: &[&str] = &["InvalidParameterValue", "InvalidParameterCombination"];

/// Sends `answer` to every describe in `waiting`; one that stopped waiting needs none.
fn answer_all(waiting: Vec<Answer>, answer: &Described) {
    for each in waiting {
        let _ = each.send(answer.clone());
    }
}

/// A serve task's hold on its queue (see [`Rds::serve`]).
struct Serving {
    describes: std::sync::Arc<Describes>,
    kind: SnapshotKind,
    /// The task ended by finding the queue empty, under its lock.
    done: bool,
}

impl Drop for Serving {
    fn drop(&mut self) {
        if !self.done {
            let mut queues = crate::locked(&self.describes.queues);
            let queue = queues.of(self.kind);
            queue.waiting.clear();
            queue.served = false;
        }
    }
}

/// Whether `reference` can be named in a shared describe: a plain, lowercase identifier of
/// this account's snapshot (not an ARN, not an automated `rds:` or AWS Backup `awsbackup:`
/// snapshot, which AWS finds by identifier only with its type, R29, and which a listing
/// without a type leaves out).
fn batchable(reference: &str) -> bool {
    !reference.is_empty()
        && reference
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The `SnapshotType` that must go with `reference` (an identifier or an ARN) for AWS to
/// find it (R29): `automated` for an automated snapshot (`rds:<name>`), `awsbackup` for one
/// of AWS Backup (`awsbackup:<job>`, R16); none for a manual snapshot, which AWS finds by
/// identifier alone, or a shared one, which `IncludeShared` finds.
fn snapshot_type_of(reference: &str) -> Option<&'static str> {
    let id = match reference.strip_prefix("arn:") {
        // arn:<partition>:rds:<region>:<account>:<resource type>:<identifier>
        Some(arn) => arn.splitn(6, ':').nth(5).unwrap_or_default(),
        None => reference,
    };
    match id.parse::<SnapshotId>().map(|id| id.origin()) {
        Ok(SnapshotOrigin::Automated) => Some("automated"),
        Ok(SnapshotOrigin::AwsBackup) => Some("awsbackup"),
        Ok(SnapshotOrigin::Manual) | Err(_) => None,
    }
}

fn describe_op(kind: SnapshotKind) -> &'static str {
    match kind {
        SnapshotKind::Cluster => "DescribeDBClusterSnapshots",
        SnapshotKind::Db => "DescribeDBSnapshots",
    }
}

fn err<E, R>(op: &'static str) -> impl FnOnce(aws_sdk_rds::error::SdkError<E, R>) -> AwsError
where
    E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + super::RawResponse,
{
    move |e| AwsError::from_sdk("rds", op, e)
}

fn tags(pairs: &[(String, String)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The codes RDS answers for a snapshot that is not there (the two kinds differ).
const SNAPSHOT_NOT_FOUND: &[&str] = &["DBSnapshotNotFound", "DBClusterSnapshotNotFoundFault"];

/// The codes RDS answers for a cluster or instance that is not there.
const DATABASE_NOT_FOUND: &[&str] = &["DBClusterNotFoundFault", "DBInstanceNotFound"];

/// The codes RDS answers for a cluster or instance that exists already.
const DATABASE_EXISTS: &[&str] = &["DBClusterAlreadyExistsFault", "DBInstanceAlreadyExists"];

impl Rds {
    /// RDS of `account` in `region`.
    pub fn new(account: &Account, region: &Region) -> Rds {
        Rds {
            client: account.rds_client(region),
            account: account.id(),
            region: region.clone(),
            pace: account.pace(region.as_str()),
            describes: account.describes(region),
        }
    }

    /// The region this client talks to.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The region of `source` when it is the ARN of another account's snapshot in another
    /// region than this client's.
    fn shared_from_elsewhere(&self, source: &str) -> Option<Region> {
        let arn: crate::ids::Arn = source.parse().ok()?;
        let region = arn.region()?;
        (arn.account() != self.account && region != &self.region).then(|| region.clone())
    }

    /// One snapshot by identifier or ARN, including snapshots shared with this account;
    /// `None` when there is no such snapshot (or it is not shared with this account).
    /// Describes of plain identifiers in this account and region that wait for the same turn
    /// of the pace (R20) share one call: a snapshot-id filter naming up to 20 of them.
    pub async fn describe_snapshot(
        &self,
        kind: SnapshotKind,
        reference: &str,
    ) -> Result<Option<SnapshotInfo>, AwsError> {
        if !batchable(reference) {
            return super::paced(&self.pace, || self.describe_one(kind, reference)).await;
        }
        let (answer, answered) = tokio::sync::oneshot::channel();
        let serve = {
            let mut queues = crate::locked(&self.describes.queues);
            let queue = queues.of(kind);
            queue.waiting.push((reference.to_owned(), answer));
            !std::mem::replace(&mut queue.served, true)
        };
        if serve {
            // A task of its own, so that a caller that stops waiting strands no one.
            tokio::spawn(self.clone().serve(kind));
        }
        answered.await.unwrap_or_else(|_| {
            Err(AwsError::request(
                "rds",
                describe_op(kind),
                "the shared describe ended before its answer (its task stopped)".into(),
            ))
        })
    }

    /// Serves the waiting describes of `kind`, a batch per turn of the pace, until none wait.
    async fn serve(self, kind: SnapshotKind) {
        // Should this task end any other way than by finding the queue empty (a panic, or its
        // runtime dropped while it waits), the guard answers the waiting describes with an
        // error, by dropping them, and lets the next describe start a new task.
        let mut serving = Serving {
            describes: std::sync::Arc::clone(&self.describes),
            kind,
            done: false,
        };
        loop {
            self.pace.turn().await;
            let mut batch = {
                let mut queues = crate::locked(&self.describes.queues);
                let queue = queues.of(kind);
                let mut batch: Vec<(String, Vec<Answer>)> = Vec::new();
                let mut rest = Vec::new();
                // A caller that stopped waiting takes no place in the call.
                for (id, answer) in std::mem::take(&mut queue.waiting)
                    .into_iter()
                    .filter(|(_, answer)| !answer.is_closed())
                {
                    if let Some(i) = batch.iter().position(|(b, _)| *b == id) {
                        batch[i].1.push(answer);
                    } else if batch.len() < DESCRIBE_BATCH {
                        batch.push((id, vec![answer]));
                    } else {
                        rest.push((id, answer));
                    }
                }
                queue.waiting = rest;
                batch
            };
            let owned: Vec<String> = batch.iter().map(|(id, _)| id.clone()).collect();
            let ids: Vec<&str> = owned.iter().map(String::as_str).collect();
            let answers: Vec<Described> = match ids.as_slice() {
                [] => Vec::new(),
                [id] => vec![self.describe_one(kind, id).await],
                _ => match self.describe_many(kind, &ids).await {
                    Ok(found) => ids
                        .iter()
                        .map(|id| Ok(found.iter().find(|s| s.identifier == *id).cloned()))
                        .collect(),
                    // Refused as sent (a filter with more values than AWS takes): one by
                    // one, each answered as its call returns.
                    Err(e) if REFUSED_FILTER.iter().any(|code| e.is(code)) => {
                        for (id, waiting) in &mut batch {
                            let answer =
                                super::paced(&self.pace, || self.describe_one(kind, id)).await;
                            answer_all(std::mem::take(waiting), &answer);
                        }
                        Vec::new()
                    }
                    // Anything else (throttled past the SDK's retries, denied, no answer):
                    // every describe of the batch sees it, as it would have seen its own.
                    Err(e) => ids.iter().map(|_| Err(e.clone())).collect(),
                },
            };
            for ((_, waiting), answer) in batch.into_iter().zip(answers) {
                answer_all(waiting, &answer);
            }
            let mut queues = crate::locked(&self.describes.queues);
            let queue = queues.of(kind);
            if queue.waiting.is_empty() {
                queue.served = false;
                serving.done = true;
                return;
            }
        }
    }

    /// One snapshot by identifier or ARN, in one call (its turn of the pace taken), with the
    /// `SnapshotType` that AWS needs to find an automated or AWS Backup snapshot by its
    /// identifier (R29).
    async fn describe_one(&self, kind: SnapshotKind, reference: &str) -> Described {
        let snapshot_type = snapshot_type_of(reference).map(str::to_owned);
        let result = match kind {
            SnapshotKind::Cluster => Box::pin(
                self.client
                    .describe_db_cluster_snapshots()
                    .db_cluster_snapshot_identifier(reference)
                    .set_snapshot_type(snapshot_type)
                    .include_shared(true)
                    .send(),
            )
            .await
            .map(|o| {
                o.db_cluster_snapshots()
                    .first()
                    .map(SnapshotInfo::from_cluster)
            })
            .map_err(err("DescribeDBClusterSnapshots")),
            SnapshotKind::Db => Box::pin(
                self.client
                    .describe_db_snapshots()
                    .db_snapshot_identifier(reference)
                    .set_snapshot_type(snapshot_type)
                    .include_shared(true)
                    .send(),
            )
            .await
            .map(|o| o.db_snapshots().first().map(SnapshotInfo::from_db))
            .map_err(err("DescribeDBSnapshots")),
        };
        Ok(none_on(result, SNAPSHOT_NOT_FOUND)?.flatten())
    }

    /// This account's snapshots among `ids`, in one call per page (the first page's turn of
    /// the pace taken): those that do not exist are absent.
    async fn describe_many(
        &self,
        kind: SnapshotKind,
        ids: &[&str],
    ) -> Result<Vec<SnapshotInfo>, AwsError> {
        let filter = |name: &str| {
            aws_sdk_rds::types::Filter::builder()
                .name(name)
                .set_values(Some(ids.iter().map(|id| (*id).to_owned()).collect()))
                .build()
        };
        let mut all = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let next = match kind {
                SnapshotKind::Cluster => {
                    let out = Box::pin(
                        self.client
                            .describe_db_cluster_snapshots()
                            .filters(filter("db-cluster-snapshot-id"))
                            .set_marker(marker.clone())
                            .send(),
                    )
                    .await
                    .map_err(err("DescribeDBClusterSnapshots"))?;
                    all.extend(
                        out.db_cluster_snapshots()
                            .iter()
                            .map(SnapshotInfo::from_cluster),
                    );
                    out.marker().map(str::to_owned)
                }
                SnapshotKind::Db => {
                    let out = Box::pin(
                        self.client
                            .describe_db_snapshots()
                            .filters(filter("db-snapshot-id"))
                            .set_marker(marker.clone())
                            .send(),
                    )
                    .await
                    .map_err(err("DescribeDBSnapshots"))?;
                    all.extend(out.db_snapshots().iter().map(SnapshotInfo::from_db));
                    out.marker().map(str::to_owned)
                }
            };
            match next {
                Some(m) => {
                    marker = Some(m);
                    self.pace.turn().await;
                }
                None => return Ok(all),
            }
        }
    }

    /// The manual and automated snapshots of this account and region, of one cluster or
    /// instance (`source`) or of all; every page.
    pub async fn list_snapshots(
        &self,
        kind: SnapshotKind,
        source: Option<&str>,
    ) -> Result<Vec<SnapshotInfo>, AwsError> {
        let mut all = Vec::new();
        let mut marker = None;
        loop {
            let (page, next) = match kind {
                SnapshotKind::Cluster => {
                    let out = super::paced(&self.pace, || {
                        self.client
                            .describe_db_cluster_snapshots()
                            .set_db_cluster_identifier(source.map(str::to_owned))
                            .set_marker(marker)
                            .send()
                    })
                    .await
                    .map_err(err("DescribeDBClusterSnapshots"))?;
                    (
                        out.db_cluster_snapshots()
                            .iter()
                            .map(SnapshotInfo::from_cluster)
                            .collect::<Vec<_>>(),
                        out.marker().map(str::to_owned),
                    )
                }
                SnapshotKind::Db => {
                    let out = super::paced(&self.pace, || {
                        self.client
                            .describe_db_snapshots()
                            .set_db_instance_identifier(source.map(str::to_owned))
                            .set_marker(marker)
                            .send()
                    })
                    .await
                    .map_err(err("DescribeDBSnapshots"))?;
                    (
                        out.db_snapshots()
                            .iter()
                            .map(SnapshotInfo::from_db)
                            .collect::<Vec<_>>(),
                        out.marker().map(str::to_owned),
                    )
                }
            };
            all.extend(page);
            marker = next;
            if marker.is_none() {
                return Ok(all);
            }
        }
    }

    /// `CopyDBSnapshot` / `CopyDBClusterSnapshot`. A cluster snapshot shared by another
    /// account is copied in its own region only (R7): one from another region is refused
    /// before any call.
    pub async fn copy_snapshot(
        &self,
        kind: SnapshotKind,
        request: &CopyRequest<'_>,
    ) -> Result<SnapshotInfo, AwsError> {
        if kind == SnapshotKind::Cluster {
            if let Some(home) = self.shared_from_elsewhere(request.source) {
                return Err(AwsError::request(
                    "rds",
                    "CopyDBClusterSnapshot",
                    format!(
                        "{} is a cluster snapshot shared by another account in {home}: AWS copies a shared cluster snapshot only in its own region, not into {} (R7); copy it in {home} first",
                        request.source, self.region
                    ),
                ));
            }
        }
        match kind {
            SnapshotKind::Cluster => {
                let out = super::paced(&self.pace, || {
                    self.client
                        .copy_db_cluster_snapshot()
                        .source_db_cluster_snapshot_identifier(request.source)
                        .target_db_cluster_snapshot_identifier(request.target)
                        .set_kms_key_id(request.kms_key.map(str::to_owned))
                        .copy_tags(request.copy_tags)
                        .set_tags(Some(tags(request.tags)))
                        .send()
                })
                .await
                .map_err(err("CopyDBClusterSnapshot"))?;
                out.db_cluster_snapshot()
                    .map(SnapshotInfo::from_cluster)
                    .ok_or_else(|| {
                        AwsError::malformed(
                            "rds",
                            "CopyDBClusterSnapshot",
                            "no DBClusterSnapshot".into(),
                        )
                    })
            }
            SnapshotKind::Db => {
                let out = super::paced(&self.pace, || {
                    self.client
                        .copy_db_snapshot()
                        .source_db_snapshot_identifier(request.source)
                        .target_db_snapshot_identifier(request.target)
                        .set_kms_key_id(request.kms_key.map(str::to_owned))
                        .copy_tags(request.copy_tags)
                        .set_tags(Some(tags(request.tags)))
                        .set_option_group_name(request.option_group.map(str::to_owned))
                        .send()
                })
                .await
                .map_err(err("CopyDBSnapshot"))?;
                out.db_snapshot().map(SnapshotInfo::from_db).ok_or_else(|| {
                    AwsError::malformed("rds", "CopyDBSnapshot", "no DBSnapshot".into())
                })
            }
        }
    }

    /// The accounts a snapshot is shared with (its `restore` attribute, R6).
    pub async fn shared_with(&self, kind: SnapshotKind, id: &str) -> Result<Vec<String>, AwsError> {
        let values = match kind {
            SnapshotKind::Cluster => {
                let out = super::paced(&self.pace, || {
                    self.client
                        .describe_db_cluster_snapshot_attributes()
                        .db_cluster_snapshot_identifier(id)
                        .send()
                })
                .await
                .map_err(err("DescribeDBClusterSnapshotAttributes"))?;
                out.db_cluster_snapshot_attributes_result()
                    .map(|r| r.db_cluster_snapshot_attributes())
                    .unwrap_or_default()
                    .iter()
                    .filter(|a| a.attribute_name() == Some("restore"))
                    .flat_map(|a| a.attribute_values().iter().cloned())
                    .collect()
            }
            SnapshotKind::Db => {
                let out = super::paced(&self.pace, || {
                    self.client
                        .describe_db_snapshot_attributes()
                        .db_snapshot_identifier(id)
                        .send()
                })
                .await
                .map_err(err("DescribeDBSnapshotAttributes"))?;
                out.db_snapshot_attributes_result()
                    .map(|r| r.db_snapshot_attributes())
                    .unwrap_or_default()
                    .iter()
                    .filter(|a| a.attribute_name() == Some("restore"))
                    .flat_map(|a| a.attribute_values().iter().cloned())
                    .collect()
            }
        };
        Ok(values)
    }

    /// Shares (`add`) or unshares a snapshot with `account` (R6). Only a manual snapshot can
    /// be: an automated (`rds:`) or AWS Backup (`awsbackup:`) one is refused before any call
    /// (R3, R29).
    pub async fn set_shared(
        &self,
        kind: SnapshotKind,
        id: &str,
        account: AccountId,
        add: bool,
    ) -> Result<(), AwsError> {
        // R3, R29: AWS shares only manual snapshots, and refuses another's identifier.
        if let Some(snapshot_type) = snapshot_type_of(id) {
            let what = match snapshot_type {
                "automated" => "an automated",
                _ => "an AWS Backup",
            };
            return Err(AwsError::request(
                "rds",
                match kind {
                    SnapshotKind::Cluster => "ModifyDBClusterSnapshotAttribute",
                    SnapshotKind::Db => "ModifyDBSnapshotAttribute",
                },
                format!(
                    "{id} is {what} snapshot: only a manual snapshot can be shared (R3, R29); copy it to a manual one first"
                ),
            ));
        }
        let value = vec![account.to_string()];
        let (to_add, to_remove) = if add {
            (Some(value), None)
        } else {
            (None, Some(value))
        };
        match kind {
            SnapshotKind::Cluster => {
                super::paced(&self.pace, || {
                    self.client
                        .modify_db_cluster_snapshot_attribute()
                        .db_cluster_snapshot_identifier(id)
                        .attribute_name("restore")
                        .set_values_to_add(to_add)
                        .set_values_to_remove(to_remove)
                        .send()
                })
                .await
                .map_err(err("ModifyDBClusterSnapshotAttribute"))?;
            }
            SnapshotKind::Db => {
                super::paced(&self.pace, || {
                    self.client
                        .modify_db_snapshot_attribute()
                        .db_snapshot_identifier(id)
                        .attribute_name("restore")
                        .set_values_to_add(to_add)
                        .set_values_to_remove(to_remove)
                        .send()
                })
                .await
                .map_err(err("ModifyDBSnapshotAttribute"))?;
            }
        }
        Ok(())
    }

    /// Deletes a snapshot; `false` when it did not exist.
    pub async fn delete_snapshot(&self, kind: SnapshotKind, id: &str) -> Result<bool, AwsError> {
        let result = match kind {
            SnapshotKind::Cluster => super::paced(&self.pace, || {
                self.client
                    .delete_db_cluster_snapshot()
                    .db_cluster_snapshot_identifier(id)
                    .send()
            })
            .await
            .map(drop)
            .map_err(err("DeleteDBClusterSnapshot")),
            SnapshotKind::Db => super::paced(&self.pace, || {
                self.client
                    .delete_db_snapshot()
                    .db_snapshot_identifier(id)
                    .send()
            })
            .await
            .map(drop)
            .map_err(err("DeleteDBSnapshot")),
        };
        Ok(none_on(result, SNAPSHOT_NOT_FOUND)?.is_some())
    }

    /// The manual-snapshot quota of `kind` in this account and region, with its use (R25):
    /// `ManualSnapshots` or `ManualClusterSnapshots` of `DescribeAccountAttributes`. `None`
    /// when AWS lists no such quota (an endpoint that does not model it).
    pub async fn manual_snapshot_quota(
        &self,
        kind: SnapshotKind,
    ) -> Result<Option<ManualQuota>, AwsError> {
        let out = super::paced(&self.pace, || {
            self.client.describe_account_attributes().send()
        })
        .await
        .map_err(err("DescribeAccountAttributes"))?;
        let name = ManualQuota::attribute(kind);
        Ok(out
            .account_quotas()
            .iter()
            .find(|q| q.account_quota_name() == Some(name))
            .map(|q| ManualQuota {
                used: u64::try_from(q.used().unwrap_or(0)).unwrap_or(0),
                max: u64::try_from(q.max().unwrap_or(0)).unwrap_or(0),
            }))
    }

    /// The tags of a resource by ARN.
    pub async fn tags(&self, arn: &str) -> Result<Vec<(String, String)>, AwsError> {
        let out = super::paced(&self.pace, || {
            self.client
                .list_tags_for_resource()
                .resource_name(arn)
                .send()
        })
        .await
        .map_err(err("ListTagsForResource"))?;
        Ok(out
            .tag_list()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect())
    }

    /// Restores a cluster (`kind` cluster) or instance from a snapshot named by identifier or
    /// ARN (R9: needs the snapshot's key). Returns whether it was created now (`false` when
    /// it already existed).
    pub async fn restore(
        &self,
        kind: SnapshotKind,
        snapshot: &str,
        target: &str,
        spec: &RestoreRequest<'_>,
    ) -> Result<bool, AwsError> {
        let result = match kind {
            SnapshotKind::Cluster => super::paced(&self.pace, || {
                self.client
                    .restore_db_cluster_from_snapshot()
                    .snapshot_identifier(snapshot)
                    .db_cluster_identifier(target)
                    .engine(spec.engine)
                    .set_db_subnet_group_name(spec.subnet_group.map(str::to_owned))
                    .set_vpc_security_group_ids(
                        Some(spec.security_groups.to_vec()).filter(|g| !g.is_empty()),
                    )
                    .set_tags(Some(tags(spec.tags)))
                    .send()
            })
            .await
            .map(drop)
            .map_err(err("RestoreDBClusterFromSnapshot")),
            SnapshotKind::Db => super::paced(&self.pace, || {
                self.client
                    .restore_db_instance_from_db_snapshot()
                    .db_snapshot_identifier(snapshot)
                    .db_instance_identifier(target)
                    .set_db_subnet_group_name(spec.subnet_group.map(str::to_owned))
                    .set_db_instance_class(spec.instance_class.map(str::to_owned))
                    .set_vpc_security_group_ids(
                        Some(spec.security_groups.to_vec()).filter(|g| !g.is_empty()),
                    )
                    .set_tags(Some(tags(spec.tags)))
                    .send()
            })
            .await
            .map(drop)
            .map_err(err("RestoreDBInstanceFromDBSnapshot")),
        };
        Ok(none_on(result, DATABASE_EXISTS)?.is_some())
    }

    /// Adds (or overwrites) tags on a resource by ARN.
    pub async fn add_tags(&self, arn: &str, pairs: &[(String, String)]) -> Result<(), AwsError> {
        super::paced(&self.pace, || {
            self.client
                .add_tags_to_resource()
                .resource_name(arn)
                .set_tags(Some(tags(pairs)))
                .send()
        })
        .await
        .map_err(err("AddTagsToResource"))?;
        Ok(())
    }

    /// The status of a DB cluster (`kind` cluster) or instance; `None` when there is none.
    pub async fn database_status(
        &self,
        kind: SnapshotKind,
        id: &str,
    ) -> Result<Option<String>, AwsError> {
        Ok(self.database(kind, id).await?.map(|d| d.status))
    }

    /// A DB cluster (`kind` cluster) or instance; `None` when there is none.
    pub async fn database(
        &self,
        kind: SnapshotKind,
        id: &str,
    ) -> Result<Option<DatabaseInfo>, AwsError> {
        let result = match kind {
            SnapshotKind::Cluster => super::paced(&self.pace, || {
                self.client
                    .describe_db_clusters()
                    .db_cluster_identifier(id)
                    .send()
            })
            .await
            .map(|o| o.db_clusters().first().map(DatabaseInfo::from_cluster))
            .map_err(err("DescribeDBClusters")),
            SnapshotKind::Db => super::paced(&self.pace, || {
                self.client
                    .describe_db_instances()
                    .db_instance_identifier(id)
                    .send()
            })
            .await
            .map(|o| o.db_instances().first().map(DatabaseInfo::from_instance))
            .map_err(err("DescribeDBInstances")),
        };
        Ok(none_on(result, DATABASE_NOT_FOUND)?.flatten())
    }

    /// Every DB cluster (`kind` cluster) or instance of this account and region, page by page.
    pub async fn databases(&self, kind: SnapshotKind) -> Result<Vec<DatabaseInfo>, AwsError> {
        let mut all = Vec::new();
        let mut marker = None;
        loop {
            let (page, next) = match kind {
                SnapshotKind::Cluster => {
                    let out = super::paced(&self.pace, || {
                        self.client.describe_db_clusters().set_marker(marker).send()
                    })
                    .await
                    .map_err(err("DescribeDBClusters"))?;
                    (
                        out.db_clusters()
                            .iter()
                            .map(DatabaseInfo::from_cluster)
                            .collect::<Vec<_>>(),
                        out.marker().map(str::to_owned),
                    )
                }
                SnapshotKind::Db => {
                    let out = super::paced(&self.pace, || {
                        self.client
                            .describe_db_instances()
                            .set_marker(marker)
                            .send()
                    })
                    .await
                    .map_err(err("DescribeDBInstances"))?;
                    (
                        out.db_instances()
                            .iter()
                            .map(DatabaseInfo::from_instance)
                            .collect::<Vec<_>>(),
                        out.marker().map(str::to_owned),
                    )
                }
            };
            all.extend(page);
            marker = next;
            if marker.is_none() {
                return Ok(all);
            }
        }
    }

    /// Turns on RDS-managed master passwords for a cluster (R10).
    pub async fn manage_master_user_password(&self, cluster: &str) -> Result<(), AwsError> {
        super::paced(&self.pace, || {
            self.client
                .modify_db_cluster()
                .db_cluster_identifier(cluster)
                .manage_master_user_password(true)
                .apply_immediately(true)
                .send()
        })
        .await
        .map_err(err("ModifyDBCluster"))?;
        Ok(())
    }
}
