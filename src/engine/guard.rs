//! What is still encrypted under a key, looked up before teardown schedules its deletion (R8,
//! R23): snapshots, clusters and instances, backup vaults and their recovery points, in every
//! account the stack knows, in the key's home region and its replicas' regions.

use crate::{
    aws::{backup::Backup, rds::Rds, Account, AwsError},
    ids::{AccountId, KeyId, Region, SnapshotKind},
};

/// Whether `arn` names the key `key_id` of `account` (in any region: a multi-region key and
/// its replicas share their id, R12).
fn names_key(arn: &str, account: AccountId, key_id: &KeyId) -> bool {
    arn.strip_prefix("arn:")
        .and_then(|rest| rest.split_once(":kms:"))
        .and_then(|(_, rest)| rest.split_once(':'))
        .is_some_and(|(_, rest)| rest == format!("{account}:key/{key_id}"))
}

/// A snapshot or database that is going away (deleted by this stack's teardown a moment ago,
/// or by someone else): it does not keep the key.
fn going(status: &str) -> bool {
    let status = status.to_ascii_lowercase();
    status == "deleting" || status == "deleted"
}

/// Everything encrypted under key `key_id` of `owner` that `accounts` can see in `regions`,
/// each as `what arn (account region)`: every page of `DescribeDBClusterSnapshots`,
/// `DescribeDBSnapshots`, `DescribeDBClusters`, `DescribeDBInstances`, `ListBackupVaults` and
/// `ListRecoveryPointsByBackupVault`. Read-only.
pub(crate) async fn encrypted_under(
    accounts: &[&Account],
    regions: &[Region],
    owner: AccountId,
    key_id: &KeyId,
) -> Result<Vec<String>, AwsError> {
    let mut users = Vec::new();
    for account in accounts {
        for region in regions {
            let place = format!("({} {region})", account.id());
            let rds = Rds::new(account, region);
            for kind in [SnapshotKind::Cluster, SnapshotKind::Db] {
                let what = match kind {
                    SnapshotKind::Cluster => "cluster snapshot",
                    SnapshotKind::Db => "DB snapshot",
                };
                for s in rds.list_snapshots(kind, None).await? {
                    if !going(&s.status)
                        && s.kms_key
                            .as_deref()
                            .is_some_and(|k| names_key(k, owner, key_id))
                    {
                        users.push(format!("{what} {} {place}", s.arn));
                    }
                }
                let what = match kind {
                    SnapshotKind::Cluster => "cluster",
                    SnapshotKind::Db => "DB instance",
                };
                for d in rds.databases(kind).await? {
                    if !going(&d.status)
                        && d.kms_key
                            .as_deref()
                            .is_some_and(|k| names_key(k, owner, key_id))
                    {
                        users.push(format!("{what} {} {place}", d.arn));
                    }
                }
            }
            let backup = Backup::new(account, region);
            for name in backup.vault_names().await? {
                let Some(vault) = backup.vault(&name).await? else {
                    continue;
                };
                if names_key(&vault.key_arn, owner, key_id) {
                    users.push(format!("backup vault {} {place}", vault.arn));
                }
                for point in backup.recovery_points(&name).await? {
                    if !going(&point.status) && names_key(&point.key_arn, owner, key_id) {
                        users.push(format!(
                            "recovery point {} in vault {name} {place}",
                            point.arn
                        ));
                    }
                }
            }
        }
    }
    users.sort();
    users.dedup();
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_named_by_its_arn_in_any_region_of_its_own_account_only() {
        let owner: AccountId = "111111111111".parse().unwrap();
        let id: KeyId = "mrk-0123456789abcdef0123456789abcdef".parse().unwrap();
        for (arn, expected) in [
            (
                "arn:aws:kms:us-east-1:111111111111:key/mrk-0123456789abcdef0123456789abcdef",
                true,
            ),
            (
                "arn:aws:kms:eu-west-1:111111111111:key/mrk-0123456789abcdef0123456789abcdef",
                true,
            ),
            (
                "arn:aws-cn:kms:cn-north-1:111111111111:key/mrk-0123456789abcdef0123456789abcdef",
                true,
            ),
            (
                "arn:aws:kms:us-east-1:222222222222:key/mrk-0123456789abcdef0123456789abcdef",
                false,
            ),
            (
                "arn:aws:kms:us-east-1:111111111111:key/mrk-0123456789abcdef0123456789abcdef0",
                false,
            ),
            (
                "arn:aws:kms:us-east-1:111111111111:alias/mrk-0123456789abcdef0123456789abcdef",
                false,
            ),
            ("", false),
        ] {
            assert_eq!(names_key(arn, owner, &id), expected, "{arn}");
        }
    }
}
