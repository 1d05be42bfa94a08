//! The resources a stack can deploy.

mod backup_role;
mod key;

pub use backup_role::{BackupRoleOutputs, BackupRoleResource, INLINE_POLICY};
pub use key::{KeyOutputs, KeyResource};
