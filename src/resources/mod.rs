//! The resources a stack can deploy.

mod backup_plan;
mod backup_role;
mod key;
mod vault;

pub use backup_plan::{BackupPlanResource, BackupSelectionResource, PlanOutputs, SelectionOutputs};
pub use backup_role::{BackupRoleOutputs, BackupRoleResource, INLINE_POLICY};
pub use key::{KeyOutputs, KeyResource};
pub use vault::{VaultKey, VaultOutputs, VaultResource};

/// A token unique to this call: the time, the process and a counter. The key's creation tag
/// uses it as it is.
pub(crate) fn new_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!(
        "{nanos:x}-{:x}-{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A token for AWS's `CreatorRequestId` / `IdempotencyToken`: the same for the SDK's retries
/// of one call, new for each call, at most 45 characters of `[0-9a-z-]` (AWS allows 50). A
/// re-run after a crash does not depend on it: it finds what it made by its tags.
pub(crate) fn request_token() -> String {
    format!("sf-{}", new_token())
}
