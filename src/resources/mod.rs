//! The resources a stack can deploy.

mod key;

pub use key::{KeyOutputs, KeyResource};
