//! The fake RDS: DB instances and clusters, their snapshots, copies that take time and show
//! 0 % until done (R5) within an in-flight quota (R19), sharing (R1, R6), and restores that
//! need the snapshot's key (R7, R9).

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use super::{
    kms, page, unknown,
    wire::{el, form_list, form_tags, AwsFault, Params},
    Caller, World,
};
use crate::ids::{AccountId, Region, SnapshotKind};

/// A DB snapshot or cluster snapshot as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeSnapshot {
    /// DB or cluster snapshot.
    pub kind: SnapshotKind,
    /// The owning account.
    pub account: AccountId,
    /// The region.
    pub region: Region,
    /// The identifier.
    pub id: String,
    /// The instance or cluster it was taken from.
    pub source: String,
    /// The engine.
    pub engine: String,
    /// The ARN of the key that encrypts it, if encrypted.
    pub kms_key: Option<String>,
    /// `manual`, `automated` or `awsbackup`.
    pub snapshot_type: String,
    /// The accounts it is shared with (R6).
    pub shared_with: BTreeSet<AccountId>,
    /// Its tags.
    pub tags: Vec<(String, String)>,
    /// Size in GiB.
    pub allocated_gb: u32,
    /// The option group (DB snapshots), R22.
    pub option_group: Option<String>,
    /// The snapshot it was copied from, if any.
    pub copied_from: Option<String>,
    ready_at: Option<Instant>,
    created: f64,
}

impl FakeSnapshot {
    /// The snapshot's ARN.
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:rds:{}:{}:{}:{}",
            self.region.partition(),
            self.region,
            self.account,
            self.kind.resource_type(),
            self.id
        )
    }

    /// `creating` until a copy finishes, then `available`.
    pub fn status(&self) -> &'static str {
        match self.ready_at {
            Some(t) if super::now() < t => "creating",
            _ => "available",
        }
    }

    fn percent(&self) -> u32 {
        // R5: AWS reports 0 until the copy is done, then 100.
        if self.status() == "available" {
            100
        } else {
            0
        }
    }
}

/// A DB cluster or instance as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeDatabase {
    /// Cluster or instance.
    pub kind: SnapshotKind,
    /// The owning account.
    pub account: AccountId,
    /// The region.
    pub region: Region,
    /// The identifier.
    pub id: String,
    /// The engine.
    pub engine: String,
    /// The key ARN, if encrypted.
    pub kms_key: Option<String>,
    /// The snapshot it was restored from, if any.
    pub restored_from: Option<String>,
    /// Whether RDS manages the master password in Secrets Manager (R10).
    pub manage_master_user_password: bool,
    /// DB instances of a cluster (a restore through RDS makes what you ask for, R17).
    pub instances: Vec<String>,
    /// Its tags (a restore through RDS sets those of its `Tags`).
    pub tags: Vec<(String, String)>,
    /// `available`, or a state a test puts it in (R27).
    pub status: String,
}

impl FakeDatabase {
    /// Its ARN: `arn:<partition>:rds:<region>:<account>:cluster:<id>` or `...:db:<id>`.
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:rds:{}:{}:{}:{}",
            self.region.partition(),
            self.region,
            self.account,
            if self.kind == SnapshotKind::Cluster {
                "cluster"
            } else {
                "db"
            },
            self.id
        )
    }
}

type Addr = (AccountId, Region, SnapshotKind, String);

pub(crate) struct Rds {
    pub snapshots: BTreeMap<Addr, FakeSnapshot>,
    pub databases: BTreeMap<Addr, FakeDatabase>,
    pub copy_time: Duration,
    pub copy_quota: usize,
    /// The most copies seen in flight at once, per account and destination region (R19).
    pub peak_in_flight: BTreeMap<(AccountId, Region), usize>,
    /// The manual-snapshot quota per account, region and kind, where a test set one (R25;
    /// [`DEFAULT_MANUAL_SNAPSHOT_QUOTA`] otherwise).
    pub manual_quota: BTreeMap<(AccountId, Region, SnapshotKind), usize>,
    /// The most manual snapshots held at once, per account, region and kind (R25).
    pub peak_manual: BTreeMap<(AccountId, Region, SnapshotKind), usize>,
}

/// AWS's default quota of manual DB snapshots, and of manual DB cluster snapshots, per account
/// and region (R25; RDS user guide, "Quotas in Amazon RDS": "Manual DB instance snapshots",
/// "Manual DB cluster snapshots", 100 each).
pub const DEFAULT_MANUAL_SNAPSHOT_QUOTA: usize = 100;

impl Rds {
    /// The manual snapshots of `kind` that `account` holds in `region` (R25): automated and
    /// AWS Backup snapshots do not count, and a shared snapshot counts for its owner only.
    pub fn manual_count(&self, account: AccountId, region: &Region, kind: SnapshotKind) -> usize {
        self.snapshots
            .values()
            .filter(|s| {
                s.account == account
                    && s.region == *region
                    && s.kind == kind
                    && s.snapshot_type == "manual"
            })
            .count()
    }

    /// The manual-snapshot quota of `account` in `region` for `kind` (R25).
    pub fn manual_max(&self, account: AccountId, region: &Region, kind: SnapshotKind) -> usize {
        self.manual_quota
            .get(&(account, region.clone(), kind))
            .copied()
            .unwrap_or(DEFAULT_MANUAL_SNAPSHOT_QUOTA)
    }

    /// R25: refuses a new manual snapshot past the quota, with AWS's code and message
    /// ("Cannot create more than 100 manual snapshots", the same code as the copy quota of
    /// R19: <https://github.com/pbudzon/aws-maintenance/issues/12>).
    fn check_manual_room(
        &self,
        account: AccountId,
        region: &Region,
        kind: SnapshotKind,
    ) -> Result<(), AwsFault> {
        let max = self.manual_max(account, region, kind);
        if self.manual_count(account, region, kind) >= max {
            return Err(AwsFault::new(
                "SnapshotQuotaExceeded",
                format!("Cannot create more than {max} manual snapshots"),
            ));
        }
        Ok(())
    }

    /// Records the manual count after a snapshot was added (R25).
    pub fn note_manual(&mut self, account: AccountId, region: &Region, kind: SnapshotKind) {
        let now = self.manual_count(account, region, kind);
        let peak = self
            .peak_manual
            .entry((account, region.clone(), kind))
            .or_insert(0);
        *peak = (*peak).max(now);
    }
}

impl Default for Rds {
    fn default() -> Rds {
        Rds {
            snapshots: BTreeMap::new(),
            databases: BTreeMap::new(),
            copy_time: Duration::from_millis(200),
            copy_quota: crate::rules::limits::DEFAULT_COPY_QUOTA,
            peak_in_flight: BTreeMap::new(),
            manual_quota: BTreeMap::new(),
            peak_manual: BTreeMap::new(),
        }
    }
}

fn iso8601(epoch: f64) -> String {
    let secs = epoch.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = super::wire::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn tags_xml(tags: &[(String, String)]) -> String {
    let inner: String = tags
        .iter()
        .map(|(k, v)| format!("<Tag>{}{}</Tag>", el("Key", k), el("Value", v)))
        .collect();
    format!("<TagList>{inner}</TagList>")
}

fn snapshot_xml(s: &FakeSnapshot, caller: AccountId) -> String {
    // The owner sees the identifier; an account it is shared with sees the ARN (R6).
    let id = if s.account == caller {
        s.id.clone()
    } else {
        s.arn()
    };
    let snapshot_type = if s.account == caller {
        s.snapshot_type.as_str()
    } else {
        "shared"
    };
    let mut x = String::new();
    match s.kind {
        SnapshotKind::Cluster => {
            x += &el("DBClusterSnapshotIdentifier", &id);
            x += &el("DBClusterIdentifier", &s.source);
            x += &el("DBClusterSnapshotArn", s.arn());
            x += &el("StorageEncrypted", s.kms_key.is_some());
            if let Some(from) = &s.copied_from {
                x += &el("SourceDBClusterSnapshotArn", from);
            }
        }
        SnapshotKind::Db => {
            x += &el("DBSnapshotIdentifier", &id);
            x += &el("DBInstanceIdentifier", &s.source);
            x += &el("DBSnapshotArn", s.arn());
            x += &el("Encrypted", s.kms_key.is_some());
            if let Some(og) = &s.option_group {
                x += &el("OptionGroupName", og);
            }
            if let Some(from) = &s.copied_from {
                x += &el("SourceDBSnapshotIdentifier", from);
            }
        }
    }
    x += &el("SnapshotCreateTime", iso8601(s.created));
    x += &el("Engine", &s.engine);
    x += &el("AllocatedStorage", s.allocated_gb);
    x += &el("Status", s.status());
    x += &el("PercentProgress", s.percent());
    x += &el("SnapshotType", snapshot_type);
    if let Some(key) = &s.kms_key {
        x += &el("KmsKeyId", key);
    }
    x += &tags_xml(&s.tags);
    let member = match s.kind {
        SnapshotKind::Cluster => "DBClusterSnapshot",
        SnapshotKind::Db => "DBSnapshot",
    };
    format!("<{member}>{x}</{member}>")
}

fn not_found(kind: SnapshotKind, id: &str) -> AwsFault {
    match kind {
        SnapshotKind::Cluster => AwsFault::new(
            "DBClusterSnapshotNotFoundFault",
            format!("DBClusterSnapshot {id} not found."),
        )
        .status(404),
        SnapshotKind::Db => {
            AwsFault::new("DBSnapshotNotFound", format!("DBSnapshot {id} not found.")).status(404)
        }
    }
}

/// Finds a snapshot by identifier (caller's account and region) or ARN; another account's
/// snapshot is visible only when shared with the caller.
fn find(
    world: &World,
    caller: &Caller,
    kind: SnapshotKind,
    reference: &str,
) -> Result<Addr, AwsFault> {
    let addr = match reference.strip_prefix("arn:") {
        Some(arn) => {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            let [_, "rds", region, account, resource_type, id] = parts.as_slice() else {
                return Err(not_found(kind, reference));
            };
            if *resource_type != kind.resource_type() {
                return Err(not_found(kind, reference));
            }
            let account: AccountId = account.parse().map_err(|_| not_found(kind, reference))?;
            let region: Region = region.parse().map_err(|_| not_found(kind, reference))?;
            (account, region, kind, (*id).to_owned())
        }
        None => (
            caller.account,
            caller.region.clone(),
            kind,
            reference.to_ascii_lowercase(),
        ),
    };
    let snapshot = world
        .rds
        .snapshots
        .get(&addr)
        .ok_or_else(|| not_found(kind, reference))?;
    if snapshot.account != caller.account && !snapshot.shared_with.contains(&caller.account) {
        return Err(not_found(kind, reference));
    }
    Ok(addr)
}

/// R7, R9: whether RDS, acting for `account`, may use the key `key_arn`.
fn key_usable(world: &World, account: AccountId, region: &Region, key_arn: &str) -> bool {
    let Some(key) = key_by_arn(world, key_arn) else {
        return false;
    };
    if key.state != "Enabled" {
        return false;
    }
    // R31: across accounts, the key's policy and the caller's own policy must both allow.
    key.account == account
        || ["kms:Decrypt", "kms:CreateGrant"].iter().all(|action| {
            kms::key_allows(&key.policy, account, region, action, Some("rds"))
                && world.caller_allows(account, action, &key.arn())
        })
}

fn key_by_arn<'a>(world: &'a World, arn: &str) -> Option<&'a kms::FakeKey> {
    world.kms.all_keys().find(|k| k.arn() == arn)
}

fn kind_of(operation: &str) -> SnapshotKind {
    if operation.contains("Cluster") {
        SnapshotKind::Cluster
    } else {
        SnapshotKind::Db
    }
}

fn id_param(kind: SnapshotKind) -> &'static str {
    match kind {
        SnapshotKind::Cluster => "DBClusterSnapshotIdentifier",
        SnapshotKind::Db => "DBSnapshotIdentifier",
    }
}

pub(crate) fn handle(
    world: &mut World,
    caller: &Caller,
    operation: &str,
    params: &Params,
) -> Result<String, AwsFault> {
    match operation {
        "DescribeDBSnapshots" | "DescribeDBClusterSnapshots" => {
            let kind = kind_of(operation);
            let filter_id = params.str(id_param(kind));
            let source_param = match kind {
                SnapshotKind::Cluster => "DBClusterIdentifier",
                SnapshotKind::Db => "DBInstanceIdentifier",
            };
            let source = params.str(source_param).map(|s| s.to_ascii_lowercase());
            let snapshot_type = params.str("SnapshotType");
            let include_shared = params.str("IncludeShared").as_deref() == Some("true")
                || snapshot_type.as_deref() == Some("shared");
            if let Some(id) = &filter_id {
                let addr = find(world, caller, kind, id)?;
                let s = &world.rds.snapshots[&addr];
                // R29: an automated or AWS Backup snapshot is found by its identifier only
                // with its `SnapshotType`; any other type named leaves it out too.
                let own = s.account == caller.account;
                let typed = match snapshot_type.as_deref() {
                    None => !own || s.snapshot_type == "manual",
                    Some("shared") => !own,
                    Some(t) => own && s.snapshot_type == t,
                };
                if !typed {
                    return Err(not_found(kind, id));
                }
                let list = snapshot_xml(s, caller.account);
                return Ok(format!("<{0}s>{list}</{0}s>", member(kind)));
            }
            // `Filters`: the snapshot-id filter narrows the listing to the identifiers named
            // (none found is an empty list, not an error); any other filter is refused.
            let id_filter = match kind {
                SnapshotKind::Cluster => "db-cluster-snapshot-id",
                SnapshotKind::Db => "db-snapshot-id",
            };
            let mut named: Option<BTreeSet<String>> = None;
            for i in 1.. {
                let Some(name) = params.str(&format!("Filters.Filter.{i}.Name")) else {
                    break;
                };
                if name != id_filter {
                    return Err(AwsFault::new(
                        "InvalidParameterValue",
                        format!("Unrecognized filter name: {name}"),
                    ));
                }
                let values = (1..).map_while(|v| {
                    params
                        .str(&format!("Filters.Filter.{i}.Values.Value.{v}"))
                        .map(|id| id.to_ascii_lowercase())
                });
                named.get_or_insert_with(BTreeSet::new).extend(values);
            }
            let asked = max_records(params)?;
            let size = world.page_size();
            let marker = params.str("Marker");
            let found = world
                .rds
                .snapshots
                .values()
                .filter(|s| s.kind == kind && s.region == caller.region)
                .filter(|s| {
                    let own = s.account == caller.account;
                    let shared = include_shared && s.shared_with.contains(&caller.account);
                    match snapshot_type.as_deref() {
                        Some("shared") => shared && !own,
                        Some(t) => own && s.snapshot_type == t,
                        // Without a type, AWS lists manual and automated snapshots (and
                        // shared ones when asked): not AWS Backup's (R29).
                        None => (own && s.snapshot_type != "awsbackup") || shared,
                    }
                })
                .filter(|s| source.as_ref().is_none_or(|src| &s.source == src))
                .filter(|s| named.as_ref().is_none_or(|ids| ids.contains(&s.id)))
                .map(|s| (s.arn(), s));
            let page = page::page(found, marker.as_deref(), asked, RDS_PAGE, size)
                .map_err(|_| bad_marker())?;
            let list: String = page
                .items
                .iter()
                .map(|s| snapshot_xml(s, caller.account))
                .collect();
            Ok(format!(
                "<{0}s>{list}</{0}s>{1}",
                member(kind),
                marker_xml(page.next)
            ))
        }
        "CreateDBSnapshot" | "CreateDBClusterSnapshot" => {
            let kind = kind_of(operation);
            let id = params
                .str(id_param(kind))
                .unwrap_or_default()
                .to_ascii_lowercase();
            let source_param = match kind {
                SnapshotKind::Cluster => "DBClusterIdentifier",
                SnapshotKind::Db => "DBInstanceIdentifier",
            };
            let source = params
                .str(source_param)
                .unwrap_or_default()
                .to_ascii_lowercase();
            // R9: taking a snapshot does not need access to the database's key.
            let db = world
                .rds
                .databases
                .get(&(caller.account, caller.region.clone(), kind, source.clone()))
                .cloned()
                .ok_or_else(|| match kind {
                    SnapshotKind::Cluster => AwsFault::new(
                        "DBClusterNotFoundFault",
                        format!("DBCluster {source} not found."),
                    )
                    .status(404),
                    SnapshotKind::Db => AwsFault::new(
                        "DBInstanceNotFound",
                        format!("DBInstance {source} not found."),
                    )
                    .status(404),
                })?;
            let addr = (caller.account, caller.region.clone(), kind, id.clone());
            if world.rds.snapshots.contains_key(&addr) {
                return Err(already_exists(kind, &id));
            }
            world
                .rds
                .check_manual_room(caller.account, &caller.region, kind)?;
            let snapshot = FakeSnapshot {
                kind,
                account: caller.account,
                region: caller.region.clone(),
                id,
                source,
                engine: db.engine.clone(),
                kms_key: db.kms_key.clone(),
                snapshot_type: "manual".into(),
                shared_with: BTreeSet::new(),
                tags: form_tags(params, "Tags.Tag"),
                allocated_gb: 1,
                option_group: None,
                copied_from: None,
                ready_at: None,
                created: World::now(),
            };
            let xml = snapshot_xml(&snapshot, caller.account);
            world.rds.snapshots.insert(addr, snapshot);
            world.rds.note_manual(caller.account, &caller.region, kind);
            Ok(xml)
        }
        "CopyDBSnapshot" | "CopyDBClusterSnapshot" => {
            copy(world, caller, kind_of(operation), params)
        }
        "ModifyDBSnapshotAttribute" | "ModifyDBClusterSnapshotAttribute" => {
            let kind = kind_of(operation);
            let id = params.str(id_param(kind)).unwrap_or_default();
            let addr = find(world, caller, kind, &id)?;
            if addr.0 != caller.account {
                return Err(not_found(kind, &id));
            }
            if params.str("AttributeName").as_deref() != Some("restore") {
                return Err(AwsFault::new(
                    "InvalidParameterValue",
                    "AttributeName must be restore",
                ));
            }
            let add = form_list(params, "ValuesToAdd.AttributeValue");
            let remove = form_list(params, "ValuesToRemove.AttributeValue");
            let snapshot = world.rds.snapshots[&addr].clone();
            // R3, R29: only a manual snapshot has attributes to change; AWS refuses the
            // identifier of any other as invalid.
            if snapshot.snapshot_type != "manual" {
                return Err(not_shareable(kind, &snapshot));
            }
            if !add.is_empty() {
                // R1: the AWS managed key's policy keeps it to its own account.
                let managed = snapshot
                    .kms_key
                    .as_deref()
                    .and_then(|k| key_by_arn(world, k))
                    .is_some_and(|k| k.aws_managed);
                if managed {
                    return Err(AwsFault::new(
                        "InvalidParameterValue",
                        "Sharing snapshots encrypted with the default service key for RDS is currently not supported.",
                    ));
                }
            }
            let mut shared = snapshot.shared_with.clone();
            for value in &add {
                let account: AccountId = value.parse().map_err(|_| {
                    AwsFault::new(
                        "InvalidParameterValue",
                        format!("{value} is not a valid account id"),
                    )
                })?;
                shared.insert(account);
            }
            for value in &remove {
                if let Ok(account) = value.parse::<AccountId>() {
                    shared.remove(&account);
                }
            }
            if shared.len() > crate::rules::limits::MAX_SHARED_ACCOUNTS {
                return Err(AwsFault::new(
                    "SharedSnapshotQuotaExceeded",
                    "You have exceeded the maximum number of accounts you can share a snapshot with (20).",
                ));
            }
            if let Some(s) = world.rds.snapshots.get_mut(&addr) {
                s.shared_with = shared;
            }
            Ok(attributes_xml(world, kind, &addr))
        }
        "DescribeAccountAttributes" => {
            // The caller's own IAM may deny it (R25: snapshift then falls back to a
            // configured headroom).
            if !world.caller_allows(caller.account, "rds:DescribeAccountAttributes", "*") {
                return Err(AwsFault::new(
                    "AccessDenied",
                    format!(
                        "User: arn:aws:iam::{}:root is not authorized to perform: rds:DescribeAccountAttributes",
                        caller.account
                    ),
                )
                .status(403));
            }
            // R25: the manual snapshot quotas with their use, among AWS's other quotas
            // (<https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_AccountQuota.html>).
            let mut x = String::from("<AccountQuotas>");
            for (name, kind) in [
                ("ManualSnapshots", SnapshotKind::Db),
                ("ManualClusterSnapshots", SnapshotKind::Cluster),
            ] {
                x += "<AccountQuota>";
                x += &el("AccountQuotaName", name);
                x += &el(
                    "Used",
                    world.rds.manual_count(caller.account, &caller.region, kind),
                );
                x += &el(
                    "Max",
                    world.rds.manual_max(caller.account, &caller.region, kind),
                );
                x += "</AccountQuota>";
            }
            x += "<AccountQuota>";
            x += &el("AccountQuotaName", "DBInstances");
            x += &el(
                "Used",
                world
                    .rds
                    .databases
                    .values()
                    .filter(|d| {
                        d.account == caller.account
                            && d.region == caller.region
                            && d.kind == SnapshotKind::Db
                    })
                    .count(),
            );
            x += &el("Max", "40");
            x += "</AccountQuota></AccountQuotas>";
            Ok(x)
        }
        "DescribeDBSnapshotAttributes" | "DescribeDBClusterSnapshotAttributes" => {
            let kind = kind_of(operation);
            let addr = find(
                world,
                caller,
                kind,
                &params.str(id_param(kind)).unwrap_or_default(),
            )?;
            Ok(attributes_xml(world, kind, &addr))
        }
        "DeleteDBSnapshot" | "DeleteDBClusterSnapshot" => {
            let kind = kind_of(operation);
            let id = params.str(id_param(kind)).unwrap_or_default();
            let addr = find(world, caller, kind, &id)?;
            if addr.0 != caller.account {
                return Err(not_found(kind, &id));
            }
            let snapshot = &world.rds.snapshots[&addr];
            if snapshot.snapshot_type != "manual" {
                return Err(invalid_state(kind, "only manual snapshots can be deleted"));
            }
            if snapshot.status() != "available" {
                return Err(invalid_state(kind, "the snapshot is not available"));
            }
            let xml = snapshot_xml(snapshot, caller.account);
            world.rds.snapshots.remove(&addr);
            Ok(xml)
        }
        "RestoreDBClusterFromSnapshot" | "RestoreDBInstanceFromDBSnapshot" => {
            restore(world, caller, operation, params)
        }
        "DescribeDBClusters" | "DescribeDBInstances" => {
            let kind = if operation == "DescribeDBClusters" {
                SnapshotKind::Cluster
            } else {
                SnapshotKind::Db
            };
            let (param, member_name) = match kind {
                SnapshotKind::Cluster => ("DBClusterIdentifier", "DBCluster"),
                SnapshotKind::Db => ("DBInstanceIdentifier", "DBInstance"),
            };
            let wanted = params.str(param).map(|s| s.to_ascii_lowercase());
            let dbs: Vec<&FakeDatabase> = world
                .rds
                .databases
                .values()
                .filter(|d| {
                    d.kind == kind && d.account == caller.account && d.region == caller.region
                })
                .filter(|d| wanted.as_ref().is_none_or(|w| &d.id == w))
                .collect();
            if wanted.is_some() && dbs.is_empty() {
                return Err(match kind {
                    SnapshotKind::Cluster => {
                        AwsFault::new("DBClusterNotFoundFault", "DBCluster not found.").status(404)
                    }
                    SnapshotKind::Db => {
                        AwsFault::new("DBInstanceNotFound", "DBInstance not found.").status(404)
                    }
                });
            }
            let page = page::page(
                dbs.into_iter().map(|d| (d.arn(), d)),
                params.str("Marker").as_deref(),
                max_records(params)?,
                RDS_PAGE,
                world.page_size(),
            )
            .map_err(|_| bad_marker())?;
            let list: String = page
                .items
                .iter()
                .map(|d| database_xml(d, member_name))
                .collect();
            Ok(format!(
                "<{member_name}s>{list}</{member_name}s>{}",
                marker_xml(page.next)
            ))
        }
        "ModifyDBCluster" => {
            let id = params
                .str("DBClusterIdentifier")
                .unwrap_or_default()
                .to_ascii_lowercase();
            let addr = (
                caller.account,
                caller.region.clone(),
                SnapshotKind::Cluster,
                id.clone(),
            );
            let db = world.rds.databases.get_mut(&addr).ok_or_else(|| {
                AwsFault::new(
                    "DBClusterNotFoundFault",
                    format!("DBCluster {id} not found."),
                )
                .status(404)
            })?;
            if let Some(v) = params.str("ManageMasterUserPassword") {
                db.manage_master_user_password = v == "true";
            }
            Ok(database_xml(db, "DBCluster"))
        }
        "AddTagsToResource" => {
            let arn = params.str("ResourceName").unwrap_or_default();
            let tags = form_tags(params, "Tags.Tag");
            if let Some(bad) = tags
                .iter()
                .find(|(k, _)| k.to_ascii_lowercase().starts_with("aws:"))
            {
                return Err(AwsFault::new(
                    "InvalidParameterValue",
                    format!("tag key {} uses the reserved prefix aws: (R22)", bad.0),
                ));
            }
            let rds = &mut world.rds;
            let existing = match rds
                .snapshots
                .values_mut()
                .find(|s| s.arn() == arn && s.account == caller.account)
            {
                Some(s) => &mut s.tags,
                None => rds
                    .databases
                    .values_mut()
                    .find(|d| d.arn() == arn && d.account == caller.account)
                    .map(|d| &mut d.tags)
                    .ok_or_else(|| {
                        AwsFault::new("InvalidParameterValue", format!("no resource {arn}"))
                    })?,
            };
            for (k, v) in tags {
                existing.retain(|(e, _)| e != &k);
                existing.push((k, v));
            }
            Ok(String::new())
        }
        "ListTagsForResource" => {
            let arn = params.str("ResourceName").unwrap_or_default();
            let snapshot = world
                .rds
                .snapshots
                .values()
                .find(|s| s.arn() == arn && s.account == caller.account)
                .map(|s| &s.tags);
            let database = || {
                world
                    .rds
                    .databases
                    .values()
                    .find(|d| d.arn() == arn && d.account == caller.account)
                    .map(|d| &d.tags)
            };
            let tags = snapshot.or_else(database).ok_or_else(|| {
                AwsFault::new("InvalidParameterValue", format!("no resource {arn}"))
            })?;
            Ok(tags_xml(tags))
        }
        other => Err(unknown("rds", other)),
    }
}

/// The most records an RDS `Describe*` answers when the caller asks for no `MaxRecords`
/// (AWS's default, and its maximum).
const RDS_PAGE: usize = 100;

/// `MaxRecords`, which RDS takes from 20 to 100.
fn max_records(params: &Params) -> Result<Option<usize>, AwsFault> {
    let Some(value) = params.str("MaxRecords") else {
        return Ok(None);
    };
    match value.parse::<usize>() {
        Ok(n) if (20..=RDS_PAGE).contains(&n) => Ok(Some(n)),
        _ => Err(AwsFault::new(
            "InvalidParameterValue",
            format!("Invalid value {value} for MaxRecords. Must be between 20 and 100"),
        )),
    }
}

/// The `Marker` element of a describe that has more to give, if it has.
fn marker_xml(next: Option<String>) -> String {
    next.map(|m| el("Marker", m)).unwrap_or_default()
}

fn bad_marker() -> AwsFault {
    AwsFault::new(
        "InvalidParameterValue",
        "The parameter Marker is not a marker this service gave.",
    )
}

fn member(kind: SnapshotKind) -> &'static str {
    match kind {
        SnapshotKind::Cluster => "DBClusterSnapshot",
        SnapshotKind::Db => "DBSnapshot",
    }
}

fn already_exists(kind: SnapshotKind, id: &str) -> AwsFault {
    match kind {
        SnapshotKind::Cluster => AwsFault::new("DBClusterSnapshotAlreadyExistsFault", format!("Cannot create the snapshot because a snapshot with the identifier {id} already exists.")),
        SnapshotKind::Db => AwsFault::new("DBSnapshotAlreadyExists", format!("Cannot create the snapshot because a snapshot with the identifier {id} already exists.")),
    }
}

fn invalid_state(kind: SnapshotKind, why: &str) -> AwsFault {
    match kind {
        SnapshotKind::Cluster => {
            AwsFault::new("InvalidDBClusterSnapshotStateFault", why.to_owned())
        }
        SnapshotKind::Db => AwsFault::new("InvalidDBSnapshotState", why.to_owned()),
    }
}

/// AWS's answer to `Modify*SnapshotAttribute` of a snapshot that is not manual: its
/// identifier is not one a user can name there (`rds:` and `awsbackup:` have a colon).
fn not_shareable(kind: SnapshotKind, snapshot: &FakeSnapshot) -> AwsFault {
    let message = if snapshot.id.starts_with("awsbackup:") {
        format!("The parameter {} is not a valid identifier.", snapshot.id)
    } else {
        format!(
            "The parameter {} is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.",
            id_param(kind)
        )
    };
    AwsFault::new("InvalidParameterValue", message)
}

fn attributes_xml(world: &World, kind: SnapshotKind, addr: &Addr) -> String {
    let s = &world.rds.snapshots[addr];
    let values: String = s
        .shared_with
        .iter()
        .map(|a| el("AttributeValue", a))
        .collect();
    let (result, id_el, list, item) = match kind {
        SnapshotKind::Cluster => (
            "DBClusterSnapshotAttributesResult",
            "DBClusterSnapshotIdentifier",
            "DBClusterSnapshotAttributes",
            "DBClusterSnapshotAttribute",
        ),
        SnapshotKind::Db => (
            "DBSnapshotAttributesResult",
            "DBSnapshotIdentifier",
            "DBSnapshotAttributes",
            "DBSnapshotAttribute",
        ),
    };
    format!(
        "<{result}>{}<{list}><{item}><AttributeName>restore</AttributeName><AttributeValues>{values}</AttributeValues></{item}></{list}></{result}>",
        el(id_el, &s.id)
    )
}

fn database_xml(d: &FakeDatabase, member_name: &str) -> String {
    let mut x = match d.kind {
        SnapshotKind::Cluster => {
            let members: String = d
                .instances
                .iter()
                .map(|i| {
                    format!(
                        "<DBClusterMember>{}</DBClusterMember>",
                        el("DBInstanceIdentifier", i)
                    )
                })
                .collect();
            el("DBClusterIdentifier", &d.id)
                + &format!("<DBClusterMembers>{members}</DBClusterMembers>")
                + &el("StorageEncrypted", d.kms_key.is_some())
        }
        SnapshotKind::Db => {
            el("DBInstanceIdentifier", &d.id) + &el("StorageEncrypted", d.kms_key.is_some())
        }
    };
    x += &el("Engine", &d.engine);
    // Clusters report `Status`, instances `DBInstanceStatus`.
    let arn = d.arn();
    match d.kind {
        SnapshotKind::Cluster => {
            x += &el("Status", &d.status);
            x += &el("DBClusterArn", arn);
        }
        SnapshotKind::Db => {
            x += &el("DBInstanceStatus", &d.status);
            x += &el("DBInstanceArn", arn);
        }
    }
    if let Some(k) = &d.kms_key {
        x += &el("KmsKeyId", k);
    }
    if d.manage_master_user_password {
        x += "<MasterUserSecret><SecretStatus>active</SecretStatus></MasterUserSecret>";
    }
    format!("<{member_name}>{x}</{member_name}>")
}

/// Resolves a target key as RDS does: id, alias or ARN in the caller's account and region.
fn target_key(world: &mut World, caller: &Caller, reference: &str) -> Result<String, AwsFault> {
    kms::resolve_arn(world, caller, reference).map_err(|_| {
        AwsFault::new("KMSKeyNotAccessibleFault", format!("The specified KMS key {reference} does not exist, is not enabled or you do not have permissions to access it."))
    })
}

fn copy(
    world: &mut World,
    caller: &Caller,
    kind: SnapshotKind,
    params: &Params,
) -> Result<String, AwsFault> {
    let (source_param, target_param) = match kind {
        SnapshotKind::Cluster => (
            "SourceDBClusterSnapshotIdentifier",
            "TargetDBClusterSnapshotIdentifier",
        ),
        SnapshotKind::Db => ("SourceDBSnapshotIdentifier", "TargetDBSnapshotIdentifier"),
    };
    let source_ref = params.str(source_param).unwrap_or_default();
    let target = params
        .str(target_param)
        .unwrap_or_default()
        .to_ascii_lowercase();
    // A copy from another region names the source by ARN and reads it there.
    let source_region = source_ref
        .strip_prefix("arn:")
        .and_then(|a| a.split(':').nth(2))
        .and_then(|r| r.parse::<Region>().ok())
        .unwrap_or_else(|| caller.region.clone());
    let source_caller = Caller {
        account: caller.account,
        region: source_region.clone(),
    };
    let source_addr = find(world, &source_caller, kind, &source_ref)?;
    let source = world.rds.snapshots[&source_addr].clone();
    if source.status() != "available" {
        return Err(invalid_state(kind, "the source snapshot is not available"));
    }
    let cross_account = source.account != caller.account;
    if cross_account && !source_ref.starts_with("arn:") {
        return Err(AwsFault::new(
            "InvalidParameterValue",
            "a shared snapshot must be named by its ARN (R3)",
        ));
    }
    // A shared cluster snapshot is copied in its own region only: AWS copies a DB cluster
    // snapshot across regions and across accounts in two steps, never one (R7).
    if cross_account && kind == SnapshotKind::Cluster && source_region != caller.region {
        return Err(AwsFault::new(
            "InvalidParameterValue",
            format!(
                "The shared DB cluster snapshot {source_ref} is in {source_region}: a shared DB cluster snapshot can be copied only in its own region ({source_region}), not into {}.",
                caller.region
            ),
        ));
    }
    let target_addr = (caller.account, caller.region.clone(), kind, target.clone());
    if world.rds.snapshots.contains_key(&target_addr) {
        return Err(already_exists(kind, &target));
    }
    // R19: copies in flight to this region and account.
    let in_flight = world
        .rds
        .snapshots
        .values()
        .filter(|s| {
            s.account == caller.account && s.region == caller.region && s.status() == "creating"
        })
        .count();
    if in_flight >= world.rds.copy_quota {
        return Err(AwsFault::new("SnapshotQuotaExceeded", "Cannot copy the snapshot because the maximum number of snapshot copies in progress has been reached."));
    }
    // R25: a copy is a new manual snapshot, whatever its source.
    world
        .rds
        .check_manual_room(caller.account, &caller.region, kind)?;
    let kms_key = match (&source.kms_key, params.str("KmsKeyId")) {
        // A DB snapshot copy can encrypt an unencrypted source; a cluster snapshot copy
        // cannot.
        (None, Some(k)) if kind == SnapshotKind::Db => Some(target_key(world, caller, &k)?),
        (None, Some(_)) => {
            return Err(AwsFault::new(
                "InvalidParameterValue",
                "KmsKeyId can only be given for an encrypted cluster snapshot",
            ))
        }
        (None, None) => None,
        (Some(source_key), requested) => {
            // R7, R9: reading the source needs its key.
            if !key_usable(world, caller.account, &source_region, source_key) {
                return Err(AwsFault::new(
                    "KMSKeyNotAccessibleFault",
                    format!("The source snapshot's KMS key {source_key} is not accessible to account {}.", caller.account),
                ));
            }
            match requested {
                Some(k) => Some(target_key(world, caller, &k)?),
                None if cross_account || source_region != caller.region => {
                    return Err(AwsFault::new("InvalidParameterValue", "KmsKeyId is required to copy an encrypted snapshot from another account or region"))
                }
                None => Some(source_key.clone()),
            }
        }
    };
    if let Some(k) = &kms_key {
        if !key_usable(world, caller.account, &caller.region, k) {
            return Err(AwsFault::new(
                "KMSKeyNotAccessibleFault",
                format!("The KMS key {k} is not accessible."),
            ));
        }
    }
    let mut tags = if params.str("CopyTags").as_deref() == Some("true") {
        source.tags.clone()
    } else {
        Vec::new()
    };
    // One value per key; the tags given with the copy win over copied ones.
    for (k, v) in form_tags(params, "Tags.Tag") {
        tags.retain(|(existing, _)| existing != &k);
        tags.push((k, v));
    }
    if let Some(bad) = tags
        .iter()
        .find(|(k, _)| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(AwsFault::new(
            "InvalidParameterValue",
            format!("tag key {} uses the reserved prefix aws: (R22)", bad.0),
        ));
    }
    if kind == SnapshotKind::Db
        && source.option_group.is_some()
        && source_region != caller.region
        && params.str("OptionGroupName").is_none()
    {
        return Err(AwsFault::new("InvalidParameterCombination", "The snapshot requires a target option group with the same option settings as the source option group."));
    }
    // R21: a re-encrypting copy is a full copy: its time grows with the size.
    let duration = world.rds.copy_time * source.allocated_gb.max(1);
    // R19: copies of one source are queued one after another; a queued copy shows 0 %.
    let source_arn = source.arn();
    let now = super::now();
    let queue_end = world
        .rds
        .snapshots
        .values()
        .filter(|s| s.copied_from.as_deref() == Some(source_arn.as_str()))
        .filter_map(|s| s.ready_at)
        .filter(|t| *t > now)
        .max()
        .unwrap_or(now);
    let copy = FakeSnapshot {
        kind,
        account: caller.account,
        region: caller.region.clone(),
        id: target,
        source: source.source.clone(),
        engine: source.engine.clone(),
        kms_key,
        snapshot_type: "manual".into(),
        shared_with: BTreeSet::new(),
        tags,
        allocated_gb: source.allocated_gb,
        option_group: params
            .str("OptionGroupName")
            .or(source.option_group.clone()),
        copied_from: Some(source.arn()),
        ready_at: Some(queue_end + duration),
        created: World::now(),
    };
    let xml = snapshot_xml(&copy, caller.account);
    world.rds.snapshots.insert(target_addr, copy);
    world.rds.note_manual(caller.account, &caller.region, kind);
    let peak = world
        .rds
        .peak_in_flight
        .entry((caller.account, caller.region.clone()))
        .or_insert(0);
    *peak = (*peak).max(in_flight + 1);
    Ok(xml)
}

fn restore(
    world: &mut World,
    caller: &Caller,
    operation: &str,
    params: &Params,
) -> Result<String, AwsFault> {
    let (kind, snapshot_param, id_param, member_name) =
        if operation == "RestoreDBClusterFromSnapshot" {
            (
                SnapshotKind::Cluster,
                "SnapshotIdentifier",
                "DBClusterIdentifier",
                "DBCluster",
            )
        } else {
            (
                SnapshotKind::Db,
                "DBSnapshotIdentifier",
                "DBInstanceIdentifier",
                "DBInstance",
            )
        };
    let snapshot_ref = params.str(snapshot_param).unwrap_or_default();
    let addr = find(world, caller, kind, &snapshot_ref)?;
    let snapshot = world.rds.snapshots[&addr].clone();
    if snapshot.status() != "available" {
        return Err(invalid_state(kind, "the snapshot is not available"));
    }
    // R9: restoring needs the snapshot's key.
    if let Some(key) = &snapshot.kms_key {
        if !key_usable(world, caller.account, &caller.region, key) {
            return Err(AwsFault::new(
                "KMSKeyNotAccessibleFault",
                format!(
                    "The KMS key {key} of the snapshot is not accessible to account {}.",
                    caller.account
                ),
            ));
        }
    }
    let id = params
        .str(id_param)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let db_addr = (caller.account, caller.region.clone(), kind, id.clone());
    if world.rds.databases.contains_key(&db_addr) {
        return Err(match kind {
            SnapshotKind::Cluster => AwsFault::new(
                "DBClusterAlreadyExistsFault",
                format!("DB cluster {id} already exists"),
            ),
            SnapshotKind::Db => AwsFault::new(
                "DBInstanceAlreadyExists",
                format!("DB instance {id} already exists"),
            ),
        });
    }
    let kms_key = match params.str("KmsKeyId") {
        Some(k) => Some(target_key(world, caller, &k)?),
        None => snapshot.kms_key.clone(),
    };
    let db = FakeDatabase {
        kind,
        account: caller.account,
        region: caller.region.clone(),
        id,
        engine: params.str("Engine").unwrap_or(snapshot.engine.clone()),
        kms_key,
        restored_from: Some(snapshot.arn()),
        manage_master_user_password: false,
        instances: Vec::new(),
        tags: form_tags(params, "Tags.Tag"),
        // R27: a restore a test made fail ends in a state it does not leave.
        status: world
            .next_restore_state
            .take()
            .unwrap_or_else(|| "available".into()),
    };
    let xml = database_xml(&db, member_name);
    world.rds.databases.insert(db_addr, db);
    Ok(xml)
}

impl Rds {
    pub fn add_database(&mut self, db: FakeDatabase) {
        self.databases
            .insert((db.account, db.region.clone(), db.kind, db.id.clone()), db);
    }

    pub fn add_snapshot(&mut self, s: FakeSnapshot) {
        self.snapshots
            .insert((s.account, s.region.clone(), s.kind, s.id.clone()), s);
    }
}

/// The snapshot a test seeds, under `kms_key` (already resolved to an ARN).
pub(crate) fn from_seed(seed: &super::SeedSnapshot, kms_key: Option<String>) -> FakeSnapshot {
    FakeSnapshot {
        kind: seed.kind,
        account: seed.account,
        region: seed.region.clone(),
        id: seed.id.to_ascii_lowercase(),
        source: seed.source.to_ascii_lowercase(),
        engine: match seed.kind {
            SnapshotKind::Cluster => "aurora-mysql".into(),
            SnapshotKind::Db => "mysql".into(),
        },
        kms_key,
        snapshot_type: seed.snapshot_type.clone(),
        shared_with: BTreeSet::new(),
        tags: seed.tags.clone(),
        allocated_gb: seed.size_gb,
        option_group: seed.option_group.clone(),
        copied_from: None,
        ready_at: None,
        created: World::now(),
    }
}
