//! On-demand jobs of a deployed cross-region backup: a backup now, its copy to the destination
//! region, and the disaster-recovery path back (a copy into the source vault, R17, then a
//! restore that brings back the cluster only, R17). Jobs are waited for with the stack's
//! progress events and rate limiter, as snapshot copies are (R5, R20).

use super::BackupHandles;
use crate::{
    aws::{
        backup::{Backup, CopyJobRequest, JobState},
        rds::Rds,
        AwsError,
    },
    engine::{
        state::{ActionRecord, ActionStatus, StackLock, StackState},
        ProgressEvent, Stack,
    },
    error::{Error, Result},
    ids::{ClusterId, Region, SnapshotKind},
    resources::{request_token, BackupRoleOutputs, VaultOutputs},
};

/// A recovery point a job made: where it is and the key that encrypts it (R11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryPointRef {
    /// Its ARN: for Aurora, a cluster snapshot named `awsbackup:job-...` or
    /// `awsbackup:copyjob-...` (R16).
    pub arn: String,
    /// The vault that holds it.
    pub vault: String,
    /// The vault's region.
    pub region: Region,
    /// The key that encrypts it: the cluster's key in the source region, the destination
    /// vault's key for a copy (R11).
    pub key_arn: String,
}

/// A cluster restored through AWS Backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredCluster {
    /// The cluster's ARN.
    pub arn: String,
    /// Its region.
    pub region: Region,
    /// What the restore did not bring back: AWS Backup restores the cluster only, with no DB
    /// instances (R17).
    pub note: String,
}

fn job_error(what: &str, message: String) -> Error {
    Error::Conflict {
        resource: what.to_owned(),
        problem: message,
    }
}

#[derive(Clone, Copy)]
enum JobKind {
    Backup,
    Copy,
    Restore,
}

/// What a recorded action is: its kind, what it acts on, and where it runs.
struct Action<'a> {
    kind: &'static str,
    input: String,
    account: crate::ids::AccountId,
    region: &'a Region,
}

/// The recorded actions of kinds that make recovery points.
const MAKES_POINTS: [&str; 3] = ["backup", "copy", "copy-back"];

impl Stack {
    /// Changes the recorded actions under the stack's lock (held by the caller).
    fn update_actions(
        &self,
        _lock: &StackLock,
        change: impl FnOnce(&mut StackState),
    ) -> Result<()> {
        let store = self.store();
        let mut state = store.load(self.name())?;
        change(&mut state);
        store.save(&state)?;
        Ok(())
    }

    /// The token of `action` if an earlier call of it did not end (its answer was lost, or
    /// the wait stopped): the same job, found again by AWS through its idempotency token.
    /// Otherwise a new token, recorded before the call. With the job's id, when AWS gave one.
    fn begin_action(
        &self,
        lock: &StackLock,
        action: &Action<'_>,
    ) -> Result<(String, Option<String>)> {
        let state = self.store().load(self.name())?;
        if let Some((token, record)) = state.actions.iter().find(|(_, r)| {
            r.kind == action.kind && r.input == action.input && r.status == ActionStatus::Started
        }) {
            return Ok((token.clone(), record.job.clone()));
        }
        let token = request_token();
        self.update_actions(lock, |s| {
            s.actions.insert(
                token.clone(),
                ActionRecord {
                    kind: action.kind.to_owned(),
                    input: action.input.clone(),
                    account: action.account,
                    region: action.region.clone(),
                    job: None,
                    result: None,
                    vault: None,
                    status: ActionStatus::Started,
                },
            );
        })?;
        Ok((token, None))
    }

    /// Runs a recorded job once: the call with the action's token (skipped when the job's id
    /// is recorded), the id recorded, the wait, and the outcome recorded. A job AWS says
    /// failed is recorded as failed; a wait that stops early leaves the action started, and
    /// the next call of the same action waits for the same job.
    #[allow(clippy::too_many_arguments)]
    async fn run_recorded<F, Fut>(
        &self,
        lock: &StackLock,
        action: &Action<'_>,
        backup: &Backup,
        label: &str,
        kind: JobKind,
        vault: Option<&str>,
        start: F,
    ) -> Result<String>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<String, AwsError>>,
    {
        let (token, job) = self.begin_action(lock, action)?;
        let id = match job {
            Some(id) => id,
            None => {
                let id = start(token.clone()).await.map_err(Error::aws_in(label))?;
                self.update_actions(lock, |s| {
                    if let Some(r) = s.actions.get_mut(&token) {
                        r.job = Some(id.clone());
                    }
                })?;
                id
            }
        };
        // A wait that stops early leaves the action started (the `?`).
        let outcome = self.wait_job(backup, label, kind, &id).await?;
        self.update_actions(lock, |s| {
            if let Some(r) = s.actions.get_mut(&token) {
                match &outcome {
                    Ok(arn) => {
                        r.result = Some(arn.clone());
                        r.vault = vault.map(str::to_owned);
                        r.status = ActionStatus::Done;
                    }
                    Err(_) => r.status = ActionStatus::Failed,
                }
            }
        })?;
        outcome
    }

    async fn deployed<R: crate::engine::Resource>(
        &self,
        handle: &crate::engine::Handle<R>,
    ) -> Result<R::Outputs> {
        self.outputs(handle)?.ok_or_else(|| Error::Conflict {
            resource: handle.name().to_owned(),
            problem: "not deployed: run deploy first".into(),
        })
    }

    /// Waits for a job: what it made when it completed, or the error of a job AWS says
    /// failed; an `Err` when the wait itself stopped (the job may still run in AWS).
    async fn wait_job(
        &self,
        backup: &Backup,
        label: &str,
        kind: JobKind,
        id: &str,
    ) -> Result<std::result::Result<String, Error>> {
        let runtime = self.runtime();
        let mut backoff = crate::engine::wait::Backoff::new(runtime.config());
        runtime.emit(ProgressEvent::Started {
            resource: label.to_owned(),
            what: format!("job {id}"),
        });
        let mut last_percent = None;
        loop {
            let state = match kind {
                JobKind::Backup => backup.backup_job(id).await,
                JobKind::Copy => backup.copy_job(id).await,
                JobKind::Restore => backup.restore_job(id).await,
            }
            .map_err(Error::aws_in(label))?;
            match state {
                JobState::Completed { arn } => {
                    runtime.emit(ProgressEvent::Done {
                        resource: label.to_owned(),
                        elapsed: backoff.elapsed(),
                    });
                    return Ok(Ok(arn));
                }
                JobState::Failed { state, message } => {
                    return Ok(Err(job_error(
                        label,
                        format!("AWS Backup job {id} is {state}: {message}"),
                    )))
                }
                JobState::Running { state, percent } => {
                    if let Some(p) = percent.filter(|p| Some(*p) != last_percent) {
                        last_percent = Some(p);
                        runtime.emit(ProgressEvent::Percent {
                            resource: label.to_owned(),
                            percent: p,
                            elapsed: backoff.elapsed(),
                        });
                    }
                    if backoff.heartbeat_due() {
                        runtime.emit(ProgressEvent::Heartbeat {
                            resource: label.to_owned(),
                            status: state.clone(),
                            elapsed: backoff.elapsed(),
                        });
                    }
                    if backoff.timed_out() {
                        return Err(job_error(
                            label,
                            format!(
                                "AWS Backup job {id} is still {state} after {:?}; it goes on in AWS",
                                backoff.elapsed()
                            ),
                        ));
                    }
                }
            }
            backoff.pause().await;
        }
    }

    async fn point(
        &self,
        backup: &Backup,
        label: &str,
        vault: &str,
        arn: &str,
    ) -> Result<RecoveryPointRef> {
        let point = backup
            .recovery_point(vault, arn)
            .await
            .map_err(Error::aws_in(label))?
            .ok_or_else(|| {
                job_error(
                    label,
                    format!("recovery point {arn} is not in vault {vault}"),
                )
            })?;
        Ok(RecoveryPointRef {
            arn: point.arn,
            vault: vault.to_owned(),
            region: backup.region().clone(),
            key_arn: point.key_arn,
        })
    }

    /// Backs `cluster` up now into the source vault (`StartBackupJob`) and waits for it. The
    /// recovery point is a cluster snapshot `awsbackup:job-...` (R16) under the cluster's own
    /// key (R11).
    pub async fn backup_now(
        &self,
        handles: &BackupHandles,
        cluster: &ClusterId,
    ) -> Result<RecoveryPointRef> {
        let label = format!("{}-backup-job", handles.name);
        if !handles.clusters.iter().any(|c| &c.cluster == cluster) {
            return Err(job_error(
                &label,
                format!("cluster {cluster} is not one this backup protects; its role would be refused (R15)"),
            ));
        }
        let vault: VaultOutputs = self.deployed(&handles.source_vault).await?;
        let role: BackupRoleOutputs = self.deployed(&handles.role).await?;
        let region = &handles.source_region;
        let backup = Backup::new(&handles.account, region);
        let resource = format!(
            "arn:{}:rds:{region}:{}:cluster:{cluster}",
            region.partition(),
            handles.account.id()
        );
        let lock = self.store().lock(self.name())?;
        let action = Action {
            kind: "backup",
            input: resource.clone(),
            account: handles.account.id(),
            region,
        };
        let arn = self
            .run_recorded(
                &lock,
                &action,
                &backup,
                &label,
                JobKind::Backup,
                Some(&vault.name),
                {
                    let (backup, vault, resource, role) =
                        (&backup, &vault.name, &resource, &role.arn);
                    move |token| async move {
                        backup
                            .start_backup_job(vault, resource, role, &handles.lifecycle, &token)
                            .await
                            .map(|job| job.id)
                    }
                },
            )
            .await?;
        self.point(&backup, &label, &vault.name, &arn).await
    }

    /// Copies a recovery point of the source vault to the destination vault (`StartCopyJob`)
    /// and waits. The copy is `awsbackup:copyjob-...` (R16) under the destination vault's key
    /// (R11). The backup plan does this on its schedule; this is the on-demand run.
    pub async fn copy_to_destination(
        &self,
        handles: &BackupHandles,
        point: &RecoveryPointRef,
    ) -> Result<RecoveryPointRef> {
        let from: VaultOutputs = self.deployed(&handles.source_vault).await?;
        let to: VaultOutputs = self.deployed(&handles.destination_vault).await?;
        let label = format!("{}-copy-job", handles.name);
        self.copy_job(
            handles,
            &label,
            point,
            (&from, &handles.source_region),
            (&to, &handles.destination_region),
            &handles.copy_lifecycle,
        )
        .await
    }

    /// Disaster recovery, step one: copies a recovery point of the destination vault back
    /// into the source vault (`StartCopyJob` from the destination region). The role needs
    /// `backup:CopyIntoBackupVault` on the source vault too, which its policy has (R17).
    pub async fn copy_back(
        &self,
        handles: &BackupHandles,
        point: &RecoveryPointRef,
    ) -> Result<RecoveryPointRef> {
        let from: VaultOutputs = self.deployed(&handles.destination_vault).await?;
        let to: VaultOutputs = self.deployed(&handles.source_vault).await?;
        let label = format!("{}-copy-back-job", handles.name);
        self.copy_job(
            handles,
            &label,
            point,
            (&from, &handles.destination_region),
            (&to, &handles.source_region),
            &handles.lifecycle,
        )
        .await
    }

    async fn copy_job(
        &self,
        handles: &BackupHandles,
        label: &str,
        point: &RecoveryPointRef,
        (from, from_region): (&VaultOutputs, &Region),
        (to, to_region): (&VaultOutputs, &Region),
        lifecycle: &crate::backup::Lifecycle,
    ) -> Result<RecoveryPointRef> {
        if point.vault != from.name || &point.region != from_region {
            return Err(job_error(
                label,
                format!(
                    "recovery point {} is in vault {} ({}), not in {} ({from_region})",
                    point.arn, point.vault, point.region, from.name
                ),
            ));
        }
        let role: BackupRoleOutputs = self.deployed(&handles.role).await?;
        let backup = Backup::new(&handles.account, from_region);
        let lock = self.store().lock(self.name())?;
        let action = Action {
            kind: if to_region == &handles.source_region {
                "copy-back"
            } else {
                "copy"
            },
            input: point.arn.clone(),
            account: handles.account.id(),
            region: from_region,
        };
        let arn = self
            .run_recorded(
                &lock,
                &action,
                &backup,
                label,
                JobKind::Copy,
                Some(&to.name),
                {
                    let (backup, role) = (&backup, &role.arn);
                    move |token| async move {
                        backup
                            .start_copy_job(&CopyJobRequest {
                                recovery_point: &point.arn,
                                source_vault: &from.name,
                                destination_vault_arn: &to.arn,
                                role_arn: role,
                                lifecycle,
                                idempotency_token: &token,
                            })
                            .await
                    }
                },
            )
            .await?;
        let there = Backup::new(&handles.account, to_region);
        self.point(&there, label, &to.name, &arn).await
    }

    /// Disaster recovery, step two: restores a recovery point as cluster `cluster_id`
    /// (`StartRestoreJob`) in the point's region and waits: in the source region (a backup,
    /// or a copy brought back with [`copy_back`](Self::copy_back)) with the protected
    /// cluster's subnet group and security groups, or in the destination region with those of
    /// its [`RecoverySite`](crate::backup::RecoverySite) (R30). Through AWS Backup only the
    /// cluster comes back, with no DB instances (R17): add an instance before connecting.
    /// `engine` is the cluster's engine (`aurora-mysql`, `aurora-postgresql`).
    ///
    /// The role names each cluster a restore may create, in each region it may run in (R15,
    /// R30): `cluster_id` must be a protected cluster or one of its restore names
    /// ([`ProtectedCluster::restore_targets`](crate::backup::ProtectedCluster::restore_targets)),
    /// and a point in the destination region needs the cluster's recovery site there;
    /// anything else is refused before any call. The restore is recorded in the state: a run
    /// after a lost answer finds the same job, and a cluster of that name the stack did not
    /// restore is never restored over or adopted.
    pub async fn restore_from_backup(
        &self,
        handles: &BackupHandles,
        point: &RecoveryPointRef,
        cluster_id: &ClusterId,
        engine: &str,
    ) -> Result<RestoredCluster> {
        let label = format!("{}-restore-job", handles.name);
        if point.region != handles.source_region && point.region != handles.destination_region {
            return Err(job_error(
                &label,
                format!(
                    "the recovery point {} is in {}, neither the source region {} nor the destination region {} of this backup",
                    point.arn, point.region, handles.source_region, handles.destination_region
                ),
            ));
        }
        let mut protected = None;
        for c in &handles.clusters {
            let targets = c.restore_targets().map_err(|source| Error::BackupRole {
                resource: label.clone(),
                source: Box::new(source),
            })?;
            if targets.contains(cluster_id) {
                protected = Some(c);
                break;
            }
        }
        let Some(protected) = protected else {
            return Err(job_error(
                &label,
                format!(
                    "cluster {cluster_id} is not a name the backup role may restore to: the role names each protected cluster and its restore names exactly ({}); add it with ProtectedCluster::restore_as and deploy (R15)",
                    handles
                        .clusters
                        .iter()
                        .flat_map(|c| c.restore_targets().unwrap_or_default())
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        // R30: the job runs as the role in the point's region, with that region's subnet
        // group and security groups, which the role names.
        let (subnet_group, security_groups) = if point.region == handles.source_region {
            (
                protected.subnet_group.clone(),
                protected.security_groups.clone(),
            )
        } else {
            match &protected.recovery_site {
                Some(site) => (site.subnet_group.clone(), site.security_groups.clone()),
                None => {
                    return Err(job_error(
                        &label,
                        format!(
                            "the recovery point {} is in the destination region {}, where the role may not restore {}: name that region's subnet group and parameter group with ProtectedCluster::restore_in_destination and deploy (R30), or copy it back first with copy_back (R17)",
                            point.arn, point.region, protected.cluster
                        ),
                    ))
                }
            }
        };
        let role: BackupRoleOutputs = self.deployed(&handles.role).await?;
        let lock = self.store().lock(self.name())?;
        let action = Action {
            kind: "restore",
            input: format!("{} as {cluster_id}", point.arn),
            account: handles.account.id(),
            region: &point.region,
        };
        // A cluster of that name is never restored over or adopted: it must be the one an
        // earlier call of this same restore made.
        let recorded = self
            .store()
            .load(self.name())?
            .actions
            .values()
            .find(|r| {
                r.kind == action.kind && r.input == action.input && r.status != ActionStatus::Failed
            })
            .cloned();
        let existing = Rds::new(&handles.account, &point.region)
            .database(SnapshotKind::Cluster, cluster_id.as_str())
            .await
            .map_err(Error::aws_in(&label))?;
        let arn = match (existing, recorded) {
            (Some(db), Some(r)) if r.status == ActionStatus::Done => r.result.unwrap_or(db.arn),
            (Some(_), None) => {
                return Err(Error::NotOurs {
                    resource: label,
                    what: format!(
                        "cluster {cluster_id} in {} {}",
                        handles.account.id(),
                        point.region
                    ),
                })
            }
            _ => {
                // The keys as GetRecoveryPointRestoreMetadata gives them for Aurora (AWS
                // Backup reads them case-insensitively).
                let mut metadata = vec![
                    ("dbClusterIdentifier".to_owned(), cluster_id.to_string()),
                    ("engine".to_owned(), engine.to_owned()),
                    ("dbSubnetGroupName".to_owned(), subnet_group.to_string()),
                ];
                if !security_groups.is_empty() {
                    // A JSON list in a string, as GetRecoveryPointRestoreMetadata gives it.
                    metadata.push((
                        "vpcSecurityGroupIds".to_owned(),
                        serde_json::Value::from(security_groups.clone()).to_string(),
                    ));
                }
                let backup = Backup::new(&handles.account, &point.region);
                self.run_recorded(&lock, &action, &backup, &label, JobKind::Restore, None, {
                    let (backup, role, metadata) = (&backup, &role.arn, &metadata);
                    move |token| async move {
                        backup
                            .start_restore_job(&point.arn, role, metadata, &token)
                            .await
                    }
                })
                .await?
            }
        };
        Ok(RestoredCluster {
            note: format!(
                "AWS Backup restored the cluster {cluster_id} only: it has no DB instances (R17). Add one (CreateDBInstance with --db-cluster-identifier {cluster_id}) before connecting; a restore through RDS would create the instances you ask for"
            ),
            arn,
            region: point.region.clone(),
        })
    }

    /// The recovery points a vault of the backup holds (for example, what keeps teardown
    /// from deleting it).
    pub async fn recovery_points(
        &self,
        handles: &BackupHandles,
        destination: bool,
    ) -> Result<Vec<RecoveryPointRef>> {
        let (handle, region) = if destination {
            (&handles.destination_vault, &handles.destination_region)
        } else {
            (&handles.source_vault, &handles.source_region)
        };
        let vault: VaultOutputs = self.deployed(handle).await?;
        let backup = Backup::new(&handles.account, region);
        let points = backup
            .recovery_points(&vault.name)
            .await
            .map_err(Error::aws_in(handle.name()))?;
        Ok(points
            .into_iter()
            .map(|p| RecoveryPointRef {
                arn: p.arn,
                vault: vault.name.clone(),
                region: region.clone(),
                key_arn: p.key_arn,
            })
            .collect())
    }

    /// Deletes a recovery point this stack's own jobs made (`backup_now`, `copy_to_destination`,
    /// `copy_back`, as the state recorded them), so that its vault can be torn down. Any other
    /// point, the ones the backup plan made on its schedule among them, is refused
    /// ([`Error::NotOurs`]) and left as it is: those are yours to keep or delete. `false` when
    /// it was already gone.
    pub async fn delete_recovery_point(
        &self,
        handles: &BackupHandles,
        point: &RecoveryPointRef,
    ) -> Result<bool> {
        let label = format!("{}-delete-recovery-point", handles.name);
        let lock = self.store().lock(self.name())?;
        let state = self.store().load(self.name())?;
        let made = state.actions.values().any(|r| {
            MAKES_POINTS.contains(&r.kind.as_str())
                && r.status == ActionStatus::Done
                && r.result.as_deref() == Some(point.arn.as_str())
                && r.vault.as_deref() == Some(point.vault.as_str())
        });
        if !made {
            return Err(Error::NotOurs {
                resource: label,
                what: format!(
                    "recovery point {} in vault {} ({})",
                    point.arn, point.vault, point.region
                ),
            });
        }
        let action = Action {
            kind: "delete-recovery-point",
            input: point.arn.clone(),
            account: handles.account.id(),
            region: &point.region,
        };
        let (token, _) = self.begin_action(&lock, &action)?;
        let backup = Backup::new(&handles.account, &point.region);
        let deleted = backup
            .delete_recovery_point(&point.vault, &point.arn)
            .await
            .map_err(Error::aws_in(&label))?;
        self.update_actions(&lock, |s| {
            if let Some(r) = s.actions.get_mut(&token) {
                r.status = ActionStatus::Done;
            }
        })?;
        Ok(deleted)
    }
}
