//! The local state file: what a stack has created, so that a deployment can resume and be
//! torn down later.
//!
//! One JSON file per stack, `<dir>/<stack>.json` (default directory `.snapshift`), with a
//! format version. Writes are atomic (temporary file, fsync, rename, fsync of the directory),
//! so a crash leaves either the old or the new state. A lock file `<stack>.lock`, held with an
//! OS file lock for as long as a deploy or teardown runs, keeps a second process out; the OS
//! releases it when the holder dies, so a crash never leaves a stale lock. The state never
//! holds credentials or secrets: only ids, ARNs, names and what the crate made.

use std::{
    collections::BTreeMap,
    fs::{self, File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, Region};

/// The state file format this release reads and writes.
pub const STATE_VERSION: u32 = 1;

/// A state file problem: nothing was overwritten.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Another process is deploying or tearing down the same stack.
    #[error("stack `{stack}` is locked by {holder}; wait for it to finish (the lock is released when that process ends)")]
    Locked {
        /// The stack.
        stack: String,
        /// Who holds the lock, as it wrote itself into the lock file.
        holder: String,
    },
    /// The file is not a state file this release can read; it was left as it is.
    #[error("state file {path} is not valid ({problem}); it was left untouched: move it aside or restore it from a backup")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The file was written by a newer release; it was left as it is.
    #[error("state file {path} has format version {found}, newer than the {STATE_VERSION} this release reads; it was left untouched: upgrade snapshift")]
    NewerVersion {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
    /// Reading or writing failed.
    #[error("state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Where a resource's deployment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Deploy started and has not finished: some parts may exist.
    Creating,
    /// Deployed.
    Deployed,
    /// Teardown started and has not finished.
    Deleting,
}

/// What the state says about one resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    /// The resource kind, e.g. `kms-key`.
    pub kind: String,
    /// The account it lives in.
    pub account: AccountId,
    /// Its region.
    pub region: Region,
    /// Where its deployment stands.
    pub status: Status,
    /// The logical names of the resources it depends on.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Whether teardown leaves it in place.
    #[serde(default)]
    pub retain: bool,
    /// Its outputs (ids, ARNs), readable through the stack's handles.
    #[serde(default)]
    pub outputs: serde_json::Value,
    /// The resource's own record of what it created, step by step.
    #[serde(default)]
    pub data: serde_json::Value,
}

/// The whole state of one stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackState {
    /// The format version.
    pub version: u32,
    /// The stack's name.
    pub stack: String,
    /// Resources by logical name.
    pub resources: BTreeMap<String, ResourceRecord>,
}

impl StackState {
    /// An empty state for `stack`.
    pub fn new(stack: &str) -> StackState {
        StackState {
            version: STATE_VERSION,
            stack: stack.to_owned(),
            resources: BTreeMap::new(),
        }
    }
}

/// The state files of a directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

/// A held stack lock; released on drop.
#[derive(Debug)]
pub struct StackLock {
    _file: File,
}

impl StateStore {
    /// State files in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> StateStore {
        StateStore { dir: dir.into() }
    }

    /// The state file of `stack`.
    pub fn path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.json"))
    }

    fn io(path: &Path) -> impl FnOnce(io::Error) -> StateError + '_ {
        move |source| StateError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// Reads the state of `stack`; an absent file is an empty state.
    pub fn load(&self, stack: &str) -> Result<StackState, StateError> {
        let path = self.path(stack);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(StackState::new(stack)),
            Err(e) => return Err(Self::io(&path)(e)),
        };
        let corrupt = |problem: String| StateError::Corrupt {
            path: path.clone(),
            problem,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        let version = value
            .get("version")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| corrupt("no format version".into()))?;
        let version = u32::try_from(version).unwrap_or(u32::MAX);
        if version > STATE_VERSION {
            return Err(StateError::NewerVersion {
                path,
                found: version,
            });
        }
        let state: StackState =
            serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
        if state.stack != stack {
            return Err(corrupt(format!("it belongs to stack `{}`", state.stack)));
        }
        Ok(state)
    }

    /// Writes the state atomically: temporary file, fsync, rename, fsync of the directory.
    pub fn save(&self, state: &StackState) -> Result<(), StateError> {
        let path = self.path(&state.stack);
        fs::create_dir_all(&self.dir).map_err(Self::io(&self.dir))?;
        let tmp = self
            .dir
            .join(format!(".{}.json.tmp-{}", state.stack, std::process::id()));
        let text = serde_json::to_string_pretty(state).map_err(|e| StateError::Corrupt {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        let mut file = File::create(&tmp).map_err(Self::io(&tmp))?;
        file.write_all(text.as_bytes()).map_err(Self::io(&tmp))?;
        file.write_all(b"\n").map_err(Self::io(&tmp))?;
        file.sync_all().map_err(Self::io(&tmp))?;
        drop(file);
        fs::rename(&tmp, &path).map_err(Self::io(&path))?;
        if let Ok(dir) = File::open(&self.dir) {
            // Makes the rename durable; not every platform can fsync a directory.
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Takes the lock of `stack` without waiting, writing who holds it into the lock file.
    pub fn lock(&self, stack: &str) -> Result<StackLock, StateError> {
        fs::create_dir_all(&self.dir).map_err(Self::io(&self.dir))?;
        let path = self.dir.join(format!("{stack}.lock"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(Self::io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&path).unwrap_or_default();
                let holder = if holder.trim().is_empty() {
                    "another process".to_owned()
                } else {
                    holder.trim().to_owned()
                };
                return Err(StateError::Locked {
                    stack: stack.to_owned(),
                    holder,
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(Self::io(&path)(e)),
        }
        let holder = format!(
            "process {} on {} since {} (unix time)",
            std::process::id(),
            hostname(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default()
        );
        file.set_len(0).map_err(Self::io(&path))?;
        file.write_all(holder.as_bytes()).map_err(Self::io(&path))?;
        Ok(StackLock { _file: file })
    }
}

fn hostname() -> String {
    fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("snapshift-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn absent_file_is_empty_state_and_saves_round_trip() {
        let store = StateStore::new(temp_dir("roundtrip"));
        let mut state = store.load("s1").unwrap();
        assert_eq!(state, StackState::new("s1"));
        state.resources.insert(
            "key".into(),
            ResourceRecord {
                kind: "kms-key".into(),
                account: "111111111111".parse().unwrap(),
                region: "us-east-1".parse().unwrap(),
                status: Status::Deployed,
                depends_on: vec![],
                retain: false,
                outputs: serde_json::json!({"key_id": "x"}),
                data: serde_json::Value::Null,
            },
        );
        store.save(&state).unwrap();
        assert_eq!(store.load("s1").unwrap(), state);
    }

    #[test]
    fn corrupt_and_newer_files_are_refused_and_left_as_they_are() {
        let dir = temp_dir("corrupt");
        let store = StateStore::new(&dir);
        fs::create_dir_all(&dir).unwrap();
        for (text, expected) in [
            ("{not json", "is not valid"),
            (r#"{"stack":"s"}"#, "no format version"),
            (
                r#"{"version":1,"stack":"other","resources":{}}"#,
                "belongs to stack `other`",
            ),
            (
                r#"{"version":99,"stack":"s","resources":{}}"#,
                "format version 99, newer",
            ),
        ] {
            fs::write(store.path("s"), text).unwrap();
            let err = store.load("s").unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert_eq!(
                fs::read_to_string(store.path("s")).unwrap(),
                text,
                "the file must stay as it was"
            );
        }
    }

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_until_the_first_is_dropped() {
        let store = StateStore::new(temp_dir("lock"));
        let first = store.lock("s").unwrap();
        let err = store.lock("s").unwrap_err().to_string();
        assert!(
            err.contains(&format!("process {}", std::process::id())),
            "{err}"
        );
        assert!(err.starts_with("stack `s` is locked by"), "{err}");
        drop(first);
        store.lock("s").unwrap();
    }
}
