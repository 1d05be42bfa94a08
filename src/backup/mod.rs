//! AWS Backup, pure half: the least-privilege backup role (R15), validated backup rule
//! settings (R13, R24), and the plan and selection definitions (R13, R14).

mod plan;
mod role;
mod rule;

pub use plan::{
    lifecycle_days_json, lifecycle_json, CopyDefinition, PlanDefinition, SelectionDefinition,
    Selector,
};
pub use role::{
    sid, BackupRole, BackupRoleError, ProtectedCluster, RecoverySite, BACKUP_SERVICE_PRINCIPAL,
    DEFAULT_RESTORE_SUFFIX,
};
pub use rule::{Lifecycle, RuleError, Schedule, StartWindow, Windows};

#[cfg(test)]
mod tests;
