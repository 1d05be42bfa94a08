//! Amazon Resource Names, checked per service.

use std::{fmt, str::FromStr};

use super::{
    key::KeyId, names, rds_identifier_problem, snapshot::SnapshotId, string_serde, AccountId,
    IdError, IdKind, Partition, Region,
};

/// The AWS services whose ARNs snapshift works with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// `iam`: users, roles, the account root. Global: no region in the ARN.
    Iam,
    /// `sts`: assumed-role sessions. Global: no region in the ARN.
    Sts,
    /// `kms`: keys and aliases.
    Kms,
    /// `rds`: instances, clusters, snapshots, subnet and parameter groups.
    Rds,
    /// `backup`: vaults, plans and recovery points.
    Backup,
}

impl Service {
    /// The service namespace as it appears in ARNs and policy actions.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Iam => "iam",
            Service::Sts => "sts",
            Service::Kms => "kms",
            Service::Rds => "rds",
            Service::Backup => "backup",
        }
    }

    fn is_global(self) -> bool {
        matches!(self, Service::Iam | Service::Sts)
    }

    /// The character between resource type and resource id (`key/...`, `cluster:...`).
    fn separator(self) -> char {
        match self {
            Service::Rds | Service::Backup => ':',
            Service::Iam | Service::Sts | Service::Kms => '/',
        }
    }

    /// The resource types this crate accepts for the service.
    fn resource_types(self) -> &'static [&'static str] {
        match self {
            Service::Iam => &["root", "user", "role", "policy", "group"],
            Service::Sts => &["assumed-role", "federated-user"],
            Service::Kms => &["key", "alias"],
            Service::Rds => &[
                "db",
                "cluster",
                "snapshot",
                "cluster-snapshot",
                "subgrp",
                "pg",
                "cluster-pg",
                "og",
                "secgrp",
                "es",
                "ri",
                "cluster-endpoint",
                "db-proxy",
                "target-group",
                "auto-backup",
            ],
            Service::Backup => &["backup-vault", "backup-plan", "recovery-point"],
        }
    }
}

impl FromStr for Service {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        match s {
            "iam" => Ok(Service::Iam),
            "sts" => Ok(Service::Sts),
            "kms" => Ok(Service::Kms),
            "rds" => Ok(Service::Rds),
            "backup" => Ok(Service::Backup),
            _ => Err(IdError::new(
                IdKind::Arn,
                s,
                "service is not one snapshift works with (iam, sts, kms, rds, backup)",
            )),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An Amazon Resource Name: `arn:<partition>:<service>:<region>:<account>:<resource>`.
///
/// Checked per service: IAM and STS ARNs have no region, KMS, RDS and Backup ARNs must have one
/// in the ARN's partition; the resource type must be one the service has, and the resource id
/// of keys, snapshots, clusters and vaults must follow that resource's own rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Arn {
    partition: Partition,
    service: Service,
    region: Option<Region>,
    account: AccountId,
    resource_type: String,
    resource_id: String,
}

impl Arn {
    /// Builds and checks an ARN from its parts (`resource_id` is empty for `root`).
    pub fn new(
        service: Service,
        region: Option<&Region>,
        partition: Partition,
        account: AccountId,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<Arn, IdError> {
        let text = match region {
            Some(r) => format_arn(
                partition,
                service,
                r.as_str(),
                account,
                resource_type,
                resource_id,
            ),
            None => format_arn(partition, service, "", account, resource_type, resource_id),
        };
        text.parse()
    }

    /// Assembles an ARN from parts the caller has already validated.
    pub(crate) fn from_checked_parts(
        partition: Partition,
        service: Service,
        region: Option<Region>,
        account: AccountId,
        resource_type: &str,
        resource_id: &str,
    ) -> Arn {
        Arn {
            partition,
            service,
            region,
            account,
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
        }
    }

    /// The partition (`aws`, `aws-cn`, ...).
    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// The service.
    pub fn service(&self) -> Service {
        self.service
    }

    /// The region; `None` for the global services IAM and STS.
    pub fn region(&self) -> Option<&Region> {
        self.region.as_ref()
    }

    /// The account that owns the resource.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The resource type, e.g. `key`, `cluster-snapshot`, `role`, `root`.
    pub fn resource_type(&self) -> &str {
        &self.resource_type
    }

    /// The resource id after the type, e.g. the key id or the snapshot identifier; empty for
    /// `root`.
    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }
}

fn format_arn(
    partition: Partition,
    service: Service,
    region: &str,
    account: AccountId,
    resource_type: &str,
    resource_id: &str,
) -> String {
    if resource_id.is_empty() {
        format!("arn:{partition}:{service}:{region}:{account}:{resource_type}")
    } else {
        let sep = service.separator();
        format!("arn:{partition}:{service}:{region}:{account}:{resource_type}{sep}{resource_id}")
    }
}

impl FromStr for Arn {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = |problem: String| IdError::new(IdKind::Arn, s, problem);
        let mut fields = s.splitn(6, ':');
        let (
            Some("arn"),
            Some(partition),
            Some(service),
            Some(region),
            Some(account),
            Some(resource),
        ) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        )
        else {
            return Err(bad(
                "expected `arn:<partition>:<service>:<region>:<account>:<resource>`".into(),
            ));
        };
        let partition: Partition = partition
            .parse()
            .map_err(|e: IdError| bad(e.problem().into()))?;
        let service: Service = service
            .parse()
            .map_err(|e: IdError| bad(format!("`{}`: {}", e.value(), e.problem())))?;
        let region = if service.is_global() {
            if !region.is_empty() {
                return Err(bad(format!(
                    "{service} ARNs have no region, found `{region}`"
                )));
            }
            None
        } else {
            let r: Region = region.parse().map_err(|e: IdError| {
                if region.is_empty() {
                    bad(format!("{service} ARNs need a region"))
                } else {
                    bad(format!("region `{region}`: {}", e.problem()))
                }
            })?;
            if r.partition() != partition {
                return Err(bad(format!(
                    "region `{r}` belongs to partition `{}`, not `{partition}`",
                    r.partition()
                )));
            }
            Some(r)
        };
        let account: AccountId = account
            .parse()
            .map_err(|e: IdError| bad(format!("account `{}`: {}", e.value(), e.problem())))?;
        let (resource_type, resource_id) = match resource.split_once(service.separator()) {
            Some((t, "")) => {
                return Err(bad(format!(
                    "`{t}{}` must be followed by a resource id",
                    service.separator()
                )))
            }
            Some((t, id)) => (t, id),
            None => (resource, ""),
        };
        if !service.resource_types().contains(&resource_type) {
            return Err(bad(format!(
                "`{resource_type}` is not a {service} resource type snapshift knows ({})",
                service.resource_types().join(", ")
            )));
        }
        check_resource_id(service, resource_type, resource_id).map_err(bad)?;
        Ok(Arn {
            partition,
            service,
            region,
            account,
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
        })
    }
}

/// Checks the resource id against the rules of its resource type.
fn check_resource_id(service: Service, kind: &str, id: &str) -> Result<(), String> {
    let nested = |e: IdError| format!("{} `{}`: {}", e.kind(), e.value(), e.problem());
    match (service, kind) {
        (Service::Iam, "root") if id.is_empty() => Ok(()),
        (Service::Iam, "root") => Err("`root` takes no resource id".into()),
        (_, _) if id.is_empty() => Err(format!("`{kind}` needs a resource id")),
        (Service::Iam, "role" | "user") => {
            // `path/name`: the name is the last segment.
            let name = id.rsplit('/').next().unwrap_or(id);
            names::RoleName::check(name).map_err(nested)
        }
        (Service::Sts, "assumed-role") => match id.split_once('/') {
            Some((role, session)) if !session.is_empty() => {
                names::RoleName::check(role).map_err(nested)
            }
            _ => Err("expected `assumed-role/<role>/<session>`".into()),
        },
        (Service::Kms, "key") => id.parse::<KeyId>().map(drop).map_err(nested),
        (Service::Kms, "alias") => super::key::check_alias_name(&format!("alias/{id}"))
            .map_err(|p| format!("alias `{id}`: {p}")),
        (Service::Rds, "snapshot" | "cluster-snapshot") => {
            id.parse::<SnapshotId>().map(drop).map_err(nested)
        }
        (Service::Rds, "db" | "cluster") => match rds_identifier_problem(id, 63) {
            None => Ok(()),
            Some(p) => Err(format!("{kind} identifier `{id}`: {p}")),
        },
        (Service::Backup, "backup-vault") => names::VaultName::check(id).map_err(nested),
        _ => Ok(()),
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let region = self.region.as_ref().map_or("", Region::as_str);
        f.write_str(&format_arn(
            self.partition,
            self.service,
            region,
            self.account,
            &self.resource_type,
            &self.resource_id,
        ))
    }
}

/// An IAM principal named in a policy: an account root, an IAM user or role, or an STS
/// assumed-role session.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrincipalArn(Arn);

impl PrincipalArn {
    /// The principal's ARN.
    pub fn arn(&self) -> &Arn {
        &self.0
    }

    /// The account the principal belongs to.
    pub fn account(&self) -> AccountId {
        self.0.account
    }

    /// Whether this is the account root (`arn:aws:iam::<account>:root`).
    pub fn is_root(&self) -> bool {
        self.0.resource_type == "root"
    }

    /// The root principal of `account`.
    pub fn root(partition: Partition, account: AccountId) -> PrincipalArn {
        PrincipalArn(Arn {
            partition,
            service: Service::Iam,
            region: None,
            account,
            resource_type: "root".into(),
            resource_id: String::new(),
        })
    }
}

impl FromStr for PrincipalArn {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let arn: Arn = s.parse()?;
        match (arn.service, arn.resource_type.as_str()) {
            (Service::Iam, "root" | "user" | "role") | (Service::Sts, "assumed-role") => {
                Ok(PrincipalArn(arn))
            }
            _ => Err(IdError::new(
                IdKind::Arn,
                s,
                "a principal must be an IAM root, user or role, or an STS assumed-role ARN",
            )),
        }
    }
}

impl fmt::Display for PrincipalArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<PrincipalArn> for Arn {
    fn from(p: PrincipalArn) -> Arn {
        p.0
    }
}

string_serde!(Arn, PrincipalArn, Service);
