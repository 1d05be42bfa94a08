//! AWS Backup, pure half: the least-privilege backup role (R15) and validated backup rule
//! settings (R13, R24).

mod role;
mod rule;

pub use role::{sid, BackupRole, BackupRoleError, BACKUP_SERVICE_PRINCIPAL};
pub use rule::{Lifecycle, RuleError, Schedule, StartWindow, Windows};

#[cfg(test)]
mod tests;
