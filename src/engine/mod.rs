//! The engine: resources with plan, deploy, teardown and refresh; stacks that run them in
//! dependency order over a local state file.

mod guard;
pub mod plan;
pub mod resource;
mod stack;
pub mod state;
pub mod wait;

pub use plan::{Action, Change, Plan, Warning};
pub use resource::{Context, KeyDeletion, Resource};
pub use stack::{DeployReport, DriftReport, Handle, Options, Stack, TeardownReport};
pub use wait::{Progress, ProgressEvent, WaitConfig};
