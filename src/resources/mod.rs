//! The resources a stack can deploy.

mod backup_plan;
mod backup_role;
mod key;
mod vault;

pub use backup_plan::{BackupPlanResource, BackupSelectionResource, PlanOutputs, SelectionOutputs};
pub use backup_role::{BackupRoleOutputs, BackupRoleResource, INLINE_POLICY};
pub use key::{KeyOutputs, KeyResource};
pub use vault::{VaultKey, VaultOutputs, VaultResource};

/// A token for AWS's `CreatorRequestId` / `IdempotencyToken`: the same for the SDK's retries
/// of one call, new for each call, at most 50 characters of `[A-Za-z0-9-]`. A re-run after a
/// crash does not depend on it: it finds what it made by its tags.
pub(crate) fn request_token(seed: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(seed.as_bytes());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(nanos);
    format!("snapshift-{:016x}", hasher.finish())
}
