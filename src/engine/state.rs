//! The local state file: what a stack has created, so that a deployment can resume and be
//! torn down later.
//!
//! One JSON file per stack, `<dir>/<stack>.json` (default directory `.snapshift`), with a
//! format version. Writes are atomic (temporary file, fsync, rename, fsync of the directory),
//! so a crash leaves either the old or the new state. While a deploy or teardown runs, each
//! change is appended to `<dir>/<stack>.journal` (one JSON line per changed resource, with a
//! sequence number, fsync'd) instead of rewriting the whole file, so a step of a large batch
//! costs the same as a step of a small one; once the journal outgrows the file, the file is
//! rewritten with everything and the journal removed. Reading applies the journal's entries
//! newer than the file; a last line cut short by a crash is ignored. When no deploy or
//! teardown runs, the file alone is the state. The file is indented for people to read, or,
//! for a stack of more than [`COMPACT_ABOVE`] resources, written on one line. A lock file `<stack>.lock`, held with an
//! OS file lock for as long as a deploy or teardown runs, keeps a second process out; the OS
//! releases it when the holder dies, so a crash never leaves a stale lock. The state never
//! holds credentials or secrets: only ids, ARNs, names and what the crate made.

use std::{
    collections::BTreeMap,
    fs::{self, File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::ids::{AccountId, Region};

/// Past this many resources, the state file is written on one line (see the module docs).
pub const COMPACT_ABOVE: usize = 100;

/// The state file format this release reads and writes (2: with a journal).
pub const STATE_VERSION: u32 = 2;

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
    /// Whether teardown leaves it in place, as the last deploy defined it.
    #[serde(default)]
    pub retain: bool,
    /// Why teardown must leave it in place whatever the definition says, set by the resource
    /// when what it made became the only copy of the user's data (a re-encrypted copy whose
    /// original was deleted). Once set, never cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
    /// Its outputs (ids, ARNs), readable through the stack's handles.
    #[serde(default)]
    pub outputs: JsonText,
    /// The resource's own record of what it created, step by step.
    #[serde(default)]
    pub data: JsonText,
}

/// A JSON value kept as compact text: a record's outputs or data. A batch holds thousands of
/// them, and the text takes a fraction of the memory of a [`serde_json::Value`]; clones share
/// the text, so a deploy's report and the state hold one copy. It is written and read as the
/// JSON value it holds, objects with their keys in order, as a [`serde_json::Value`] would be.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct JsonText(Option<Arc<str>>);

impl JsonText {
    /// JSON `null`: nothing recorded.
    pub const NULL: JsonText = JsonText(None);

    /// The JSON of `value`, objects with their keys in order.
    ///
    /// # Errors
    /// When `value` cannot be written as JSON (a map whose keys are not strings, say).
    pub fn new<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<JsonText> {
        serde_json::to_value(value).map(JsonText::from)
    }

    /// Whether it is JSON `null`.
    pub fn is_null(&self) -> bool {
        self.0.is_none()
    }

    /// The compact JSON text.
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("null")
    }

    /// Reads it as a `T`.
    ///
    /// # Errors
    /// When the JSON does not describe a `T`.
    pub fn parse<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.as_str())
    }

    /// The JSON value.
    pub fn to_value(&self) -> serde_json::Value {
        self.0
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(serde_json::Value::Null)
    }
}

impl From<serde_json::Value> for JsonText {
    fn from(value: serde_json::Value) -> JsonText {
        match value {
            serde_json::Value::Null => JsonText::NULL,
            value => JsonText(Some(value.to_string().into())),
        }
    }
}

impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JsonText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Through a value, so that an indented file indents it too.
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<JsonText, D::Error> {
        serde_json::Value::deserialize(deserializer).map(JsonText::from)
    }
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
    /// The last journal entry this file holds (entries up to it are already applied).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub journal: u64,
    /// What the stack did to AWS outside its resources (an on-demand backup, a copy, a
    /// restore from backup, a deleted recovery point), by idempotency token: a run again
    /// after a lost answer reuses the token instead of starting a second job, only what these
    /// made may be deleted through the stack, and teardown knows of it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub actions: BTreeMap<String, ActionRecord>,
}

/// One action of a stack outside its resources: a job of AWS Backup or a deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// `backup`, `copy`, `copy-back`, `restore` or `delete-recovery-point`.
    pub kind: String,
    /// What it acted on: the cluster's ARN (a backup), the recovery point's ARN (a copy, a
    /// deletion), or the recovery point's ARN and the new cluster's id (a restore).
    pub input: String,
    /// The account.
    pub account: AccountId,
    /// The region the call was made in.
    pub region: Region,
    /// The job's id, once AWS answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// What it made, once done: a recovery point's ARN (backup, copies) or a cluster's ARN
    /// (restore).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The vault that holds the result (backup, copies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<String>,
    /// Where it stands.
    pub status: ActionStatus,
}

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionStatus {
    /// Recorded before the call: AWS may or may not have started it.
    Started,
    /// Done: `result` holds what it made.
    Done,
    /// AWS said it failed; a new call starts a new job.
    Failed,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One line of the journal: a resource's record as it now is, or its removal.
#[derive(Debug, Serialize, Deserialize)]
struct JournalEntry {
    seq: u64,
    resource: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<ResourceRecord>,
}

impl StackState {
    /// An empty state for `stack`.
    pub fn new(stack: &str) -> StackState {
        StackState {
            version: STATE_VERSION,
            stack: stack.to_owned(),
            resources: BTreeMap::new(),
            journal: 0,
            actions: BTreeMap::new(),
        }
    }
}

/// The state files of a directory.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: PathBuf,
}

/// A state file written to its temporary name, not yet durable.
#[derive(Debug)]
struct Temporary {
    file: File,
    path: PathBuf,
    bytes: usize,
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

    /// Creates the state directory if it is missing, readable by its owner only (0700 on
    /// Unix): the state names accounts, keys and snapshots. An existing directory is left as
    /// it is.
    fn create_dir(&self) -> Result<(), StateError> {
        if self.dir.is_dir() {
            return Ok(());
        }
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.dir).map_err(Self::io(&self.dir))
    }

    /// Options that create a file readable and writable by its owner only (0600 on Unix).
    fn private() -> OpenOptions {
        let mut options = OpenOptions::new();
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
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
        let mut state: StackState =
            serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
        if state.stack != stack {
            return Err(corrupt(format!("it belongs to stack `{}`", state.stack)));
        }
        self.replay(&mut state)?;
        Ok(state)
    }

    /// The journal of `stack`.
    fn journal_path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.journal"))
    }

    /// Applies the journal's entries newer than the file.
    fn replay(&self, state: &mut StackState) -> Result<(), StateError> {
        let path = self.journal_path(&state.stack);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Self::io(&path)(e)),
        };
        // Every entry ends with a newline: what follows the last one is a write a crash cut
        // short, never acknowledged, and ignored.
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        for (number, line) in complete.lines().enumerate() {
            let entry: JournalEntry =
                serde_json::from_str(line).map_err(|e| StateError::Corrupt {
                    path: path.clone(),
                    problem: format!("line {}: {e}", number + 1),
                })?;
            if entry.seq <= state.journal {
                continue;
            }
            match entry.record {
                Some(record) => state.resources.insert(entry.resource, record),
                None => state.resources.remove(&entry.resource),
            };
            state.journal = entry.seq;
        }
        Ok(())
    }

    /// Writes the state atomically: temporary file, fsync, rename, fsync of the directory.
    /// The journal, if any, is removed: the file holds everything.
    pub fn save(&self, state: &StackState) -> Result<(), StateError> {
        let written = self.write_temporary(state)?;
        self.install(&state.stack, written)?;
        self.remove_journal(&state.stack)
    }

    fn remove_journal(&self, stack: &str) -> Result<(), StateError> {
        let path = self.journal_path(stack);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Self::io(&path)(e)),
        }
    }

    /// Appends entries (whole lines) to the journal of `stack`, durably.
    fn append(&self, stack: &str, lines: &str) -> Result<(), StateError> {
        let path = self.journal_path(stack);
        self.create_dir()?;
        let new = !path.exists();
        let mut file = Self::private()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(Self::io(&path))?;
        file.write_all(lines.as_bytes()).map_err(Self::io(&path))?;
        file.sync_data().map_err(Self::io(&path))?;
        if new {
            if let Ok(dir) = File::open(&self.dir) {
                // Makes the new file's name durable; not every platform can fsync a directory.
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }

    /// Writes the state file's text to a temporary file, streamed rather than built in
    /// memory: indented for people to read, or, past [`COMPACT_ABOVE`] resources (a fleet), on
    /// one line, which is half the size. The file is not durable yet: see
    /// [`install`](Self::install).
    fn write_temporary(&self, state: &StackState) -> Result<Temporary, StateError> {
        self.create_dir()?;
        let path = self
            .dir
            .join(format!(".{}.json.tmp-{}", state.stack, std::process::id()));
        let file = Self::private()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(Self::io(&path))?;
        let written = self.write_text(state, file, &path);
        if written.is_err() {
            // A failed write leaves no temporary file behind.
            let _ = fs::remove_file(&path);
        }
        written
    }

    fn write_text(
        &self,
        state: &StackState,
        file: File,
        path: &Path,
    ) -> Result<Temporary, StateError> {
        let mut out = io::BufWriter::with_capacity(64 * 1024, file);
        let written = if state.resources.len() > COMPACT_ABOVE {
            serde_json::to_writer(&mut out, state)
        } else {
            serde_json::to_writer_pretty(&mut out, state)
        };
        written.map_err(|e| {
            if e.is_io() {
                Self::io(path)(e.into())
            } else {
                StateError::Corrupt {
                    path: self.path(&state.stack),
                    problem: e.to_string(),
                }
            }
        })?;
        out.write_all(b"\n").map_err(Self::io(path))?;
        let file = out
            .into_inner()
            .map_err(|e| Self::io(path)(e.into_error()))?;
        let bytes = file.metadata().map_err(Self::io(path))?.len();
        Ok(Temporary {
            file,
            path: path.to_owned(),
            bytes: usize::try_from(bytes).unwrap_or(usize::MAX),
        })
    }

    /// Makes a temporary file written by [`write_temporary`](Self::write_temporary) the state
    /// file of `stack`, atomically: fsync, rename, fsync of the directory.
    fn install(&self, stack: &str, written: Temporary) -> Result<(), StateError> {
        let Temporary {
            file, path: tmp, ..
        } = written;
        let path = self.path(stack);
        let installed = file.sync_all().map_err(Self::io(&tmp)).and_then(|()| {
            drop(file);
            fs::rename(&tmp, &path).map_err(Self::io(&path))
        });
        if installed.is_err() {
            // A failed write leaves no temporary file behind.
            let _ = fs::remove_file(&tmp);
        }
        installed?;
        if let Ok(dir) = File::open(&self.dir) {
            // Makes the rename durable; not every platform can fsync a directory.
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Takes the lock of `stack` without waiting, writing who holds it into the lock file.
    pub fn lock(&self, stack: &str) -> Result<StackLock, StateError> {
        self.create_dir()?;
        let path = self.dir.join(format!("{stack}.lock"));
        let mut file = Self::private()
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

/// The state of a running deploy or teardown and the writes of its file (group commit): a
/// caller changes a resource's record, then [`commit`](LiveState::commit)s its name, which
/// returns once a write that holds the change is on disk. Changes made while a write is under
/// way share the next write, and a write appends only the records that changed to the
/// journal; the whole file is rewritten first, and again once the journal outgrows it.
#[derive(Debug)]
pub(crate) struct LiveState {
    store: StateStore,
    state: Arc<tokio::sync::Mutex<StackState>>,
    /// One write at a time, and what the writes need to know.
    writer: tokio::sync::Mutex<Writer>,
    /// Resources changed and not written yet.
    dirty: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Changes counted so far, and how many of them the last write holds.
    changed: AtomicU64,
    written: AtomicU64,
    /// Writes made, for tests.
    #[cfg(test)]
    writes: AtomicU64,
}

#[derive(Debug, Default)]
struct Writer {
    /// Whether the file has been rewritten since the state was loaded (a journal line cut
    /// short by a crash goes then).
    compacted: bool,
    /// The bytes of the journal, and of the file when it was last rewritten.
    journal_bytes: usize,
    file_bytes: usize,
}

impl LiveState {
    pub(crate) fn new(store: StateStore, mut state: StackState) -> LiveState {
        // Written from now on in this release's format: a release that reads only the file
        // (and would miss a journal left by a crash) refuses it instead.
        state.version = STATE_VERSION;
        LiveState {
            store,
            state: Arc::new(tokio::sync::Mutex::new(state)),
            writer: tokio::sync::Mutex::new(Writer::default()),
            dirty: std::sync::Mutex::default(),
            changed: AtomicU64::new(0),
            written: AtomicU64::new(0),
            #[cfg(test)]
            writes: AtomicU64::new(0),
        }
    }

    /// The state, to read or change (then [`commit`](Self::commit)).
    pub(crate) async fn lock(&self) -> tokio::sync::MutexGuard<'_, StackState> {
        self.state.lock().await
    }

    /// Rewrites the whole file if the journal holds anything, and removes the journal: when no
    /// deploy or teardown runs, the file alone is the state.
    pub(crate) async fn finish(&self) -> Result<(), StateError> {
        {
            let mut writer = self.writer.lock().await;
            let dirty = !self
                .dirty
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_empty();
            if writer.journal_bytes == 0 && !dirty {
                return Ok(());
            }
            // The next write rewrites the whole file.
            writer.compacted = false;
        }
        self.commit(std::iter::empty::<String>()).await
    }

    /// Returns once the changes made before the call to the records of `resources` are
    /// written durably.
    pub(crate) async fn commit<I>(&self, resources: I) -> Result<(), StateError>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(resources.into_iter().map(Into::into));
        let mine = self.changed.fetch_add(1, Ordering::SeqCst) + 1;
        let mut writer = self.writer.lock().await;
        if self.written.load(Ordering::SeqCst) >= mine {
            // A write that began after this change holds it.
            return Ok(());
        }
        let mut state = Arc::clone(&self.state).lock_owned().await;
        // Every change counted so far was made, and marked, before this lock was taken.
        let upto = self.changed.load(Ordering::SeqCst);
        let dirty = std::mem::take(
            &mut *self
                .dirty
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let full = !writer.compacted || writer.journal_bytes > writer.file_bytes.max(64 * 1024);
        let store = self.store.clone();
        let stack = state.stack.clone();
        let path = store.path(&stack);
        let written = if full {
            // The state is streamed to a temporary file while it is locked (no copy of its
            // text in memory), and the lock is released before the file is made durable.
            tokio::task::spawn_blocking(move || {
                let written = store.write_temporary(&state)?;
                drop(state);
                let bytes = written.bytes;
                store.install(&stack, written)?;
                store.remove_journal(&stack)?;
                Ok((true, bytes))
            })
            .await
        } else {
            let mut lines = String::new();
            for resource in dirty {
                state.journal += 1;
                let entry = JournalEntry {
                    seq: state.journal,
                    record: state.resources.get(&resource).cloned(),
                    resource,
                };
                let line = serde_json::to_string(&entry).map_err(|e| StateError::Corrupt {
                    path: self.store.journal_path(&state.stack),
                    problem: e.to_string(),
                })?;
                lines.push_str(&line);
                lines.push('\n');
            }
            drop(state);
            let bytes = lines.len();
            tokio::task::spawn_blocking(move || {
                store.append(&stack, &lines).map(|()| (false, bytes))
            })
            .await
        };
        let written = written
            .map_err(|e| StateError::Io {
                path,
                source: io::Error::other(e.to_string()),
            })
            .and_then(|result| result);
        let (file, bytes) = match written {
            Ok(done) => done,
            Err(e) => {
                // The changes taken for this write are not on disk: the next write rewrites
                // the whole file.
                writer.compacted = false;
                return Err(e);
            }
        };
        if file {
            writer.compacted = true;
            writer.file_bytes = bytes;
            writer.journal_bytes = 0;
        } else {
            writer.journal_bytes += bytes;
        }
        self.written.store(upto, Ordering::SeqCst);
        #[cfg(test)]
        self.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("snapshift-state-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn record(n: usize) -> ResourceRecord {
        ResourceRecord {
            kind: "kms-key".into(),
            account: "111111111111".parse().unwrap(),
            region: "us-east-1".parse().unwrap(),
            status: Status::Deployed,
            depends_on: vec![],
            retain: false,
            pinned: None,
            outputs: serde_json::json!({ "n": n }).into(),
            data: JsonText::NULL,
        }
    }

    // Many resources committing at once share writes, and each finds its change on disk when
    // its commit returns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits_share_writes_and_each_change_is_on_disk() {
        let store = StateStore::new(temp_dir("group-commit"));
        let live = Arc::new(LiveState::new(store.clone(), StackState::new("s1")));
        let tasks: Vec<_> = (0..200)
            .map(|n| {
                let live = Arc::clone(&live);
                let store = store.clone();
                tokio::spawn(async move {
                    live.lock()
                        .await
                        .resources
                        .insert(format!("r{n}"), record(n));
                    live.commit([format!("r{n}")]).await.unwrap();
                    let on_disk = store.load("s1").unwrap();
                    assert_eq!(on_disk.resources.get(&format!("r{n}")), Some(&record(n)));
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(store.load("s1").unwrap().resources.len(), 200);
        let writes = live.writes.load(Ordering::SeqCst);
        assert!(
            (1..200).contains(&writes),
            "{writes} writes for 200 commits"
        );
    }

    // After the first write rewrites the file, a change appends one journal line instead of
    // rewriting the file, and reading applies it.
    #[tokio::test]
    async fn changes_go_to_the_journal_and_reading_applies_them() {
        let dir = temp_dir("journal");
        let store = StateStore::new(&dir);
        let live = LiveState::new(store.clone(), StackState::new("s1"));
        live.lock().await.resources.insert("a".into(), record(1));
        live.commit(["a"]).await.unwrap();
        let file = fs::read_to_string(store.path("s1")).unwrap();
        for n in 2..=4 {
            live.lock()
                .await
                .resources
                .insert(format!("r{n}"), record(n));
            live.commit([format!("r{n}")]).await.unwrap();
        }
        live.lock().await.resources.remove("a");
        live.commit(["a"]).await.unwrap();
        assert_eq!(fs::read_to_string(store.path("s1")).unwrap(), file);
        let journal = fs::read_to_string(dir.join("s1.journal")).unwrap();
        assert_eq!(journal.lines().count(), 4, "{journal}");
        let loaded = store.load("s1").unwrap();
        assert_eq!(loaded.resources, live.lock().await.resources);
        assert_eq!(loaded.journal, 4);
    }

    // A crash in the middle of an append leaves a line without its newline: it was never
    // acknowledged and is ignored; the next write rewrites the file and removes the journal.
    #[tokio::test]
    async fn a_journal_line_cut_short_is_ignored_then_dropped() {
        let dir = temp_dir("torn");
        let store = StateStore::new(&dir);
        let live = LiveState::new(store.clone(), StackState::new("s1"));
        live.lock().await.resources.insert("a".into(), record(1));
        live.commit(["a"]).await.unwrap();
        live.lock().await.resources.insert("b".into(), record(2));
        live.commit(["b"]).await.unwrap();
        let mut journal = OpenOptions::new()
            .append(true)
            .open(dir.join("s1.journal"))
            .unwrap();
        journal
            .write_all(br#"{"seq":2,"resource":"c","rec"#)
            .unwrap();
        let loaded = store.load("s1").unwrap();
        assert_eq!(
            loaded.resources.keys().collect::<Vec<_>>(),
            ["a", "b"],
            "the cut line is not applied"
        );
        let live = LiveState::new(store.clone(), loaded);
        live.lock().await.resources.insert("d".into(), record(4));
        live.commit(["d"]).await.unwrap();
        assert!(!dir.join("s1.journal").exists());
        assert_eq!(
            store
                .load("s1")
                .unwrap()
                .resources
                .keys()
                .collect::<Vec<_>>(),
            ["a", "b", "d"]
        );
    }

    // A crash after the file was rewritten and before the journal was removed: the journal's
    // entries are already in the file and are not applied again (an old record would come
    // back otherwise).
    #[test]
    fn journal_entries_the_file_holds_are_not_applied_again() {
        let dir = temp_dir("stale-journal");
        let store = StateStore::new(&dir);
        let mut state = StackState::new("s1");
        state.resources.insert("a".into(), record(2));
        state.journal = 1;
        store.save(&state).unwrap();
        let old = JournalEntry {
            seq: 1,
            resource: "a".into(),
            record: Some(record(1)),
        };
        fs::write(
            dir.join("s1.journal"),
            format!("{}\n", serde_json::to_string(&old).unwrap()),
        )
        .unwrap();
        assert_eq!(store.load("s1").unwrap().resources["a"], record(2));
    }

    // A file of the previous format is written in this one once a run changes it, so that a
    // release that would not read the journal refuses the file instead of missing changes.
    #[tokio::test]
    async fn a_run_writes_the_current_format_version() {
        let dir = temp_dir("version");
        let store = StateStore::new(&dir);
        let mut old = StackState::new("s1");
        old.version = 1;
        store.save(&old).unwrap();
        let live = LiveState::new(store.clone(), store.load("s1").unwrap());
        live.lock().await.resources.insert("a".into(), record(1));
        live.commit(["a"]).await.unwrap();
        assert_eq!(store.load("s1").unwrap().version, STATE_VERSION);
    }

    // A line in the middle of the journal that cannot be read is corruption, reported, and
    // nothing is overwritten.
    #[test]
    fn an_unreadable_journal_line_is_reported() {
        let dir = temp_dir("bad-journal");
        let store = StateStore::new(&dir);
        store.save(&StackState::new("s1")).unwrap();
        fs::write(dir.join("s1.journal"), "not json\n{}\n").unwrap();
        let err = store.load("s1").unwrap_err();
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    // Outputs and data kept as text are written as the JSON values they hold: keys in order,
    // indented in a small stack's file and on one line in a fleet's, byte for byte as when the
    // record held them as values.
    #[test]
    fn json_text_is_written_as_the_value_it_holds() {
        #[derive(Serialize)]
        struct Outputs {
            zone: &'static str,
            arn: &'static str,
            size: u32,
        }
        // The record and the state as they were, with values.
        #[derive(Serialize)]
        struct ValueRecord<'a> {
            kind: &'a str,
            account: AccountId,
            region: &'a Region,
            status: Status,
            depends_on: &'a [String],
            retain: bool,
            outputs: serde_json::Value,
            data: serde_json::Value,
        }
        #[derive(Serialize)]
        struct ValueState<'a> {
            version: u32,
            stack: &'a str,
            resources: BTreeMap<String, ValueRecord<'a>>,
        }
        let outputs = Outputs {
            zone: "z",
            arn: "arn:aws:kms:us-east-1:111111111111:key/k",
            size: 5,
        };
        let text = JsonText::new(&outputs).unwrap();
        assert_eq!(
            text.as_str(),
            r#"{"arn":"arn:aws:kms:us-east-1:111111111111:key/k","size":5,"zone":"z"}"#
        );
        let data = serde_json::json!({"direct": true, "copy": null});
        for count in [1, COMPACT_ABOVE + 1] {
            let store = StateStore::new(temp_dir(&format!("json-text-{count}")));
            let mut state = StackState::new("s1");
            for n in 0..count {
                let mut r = record(n);
                r.outputs = text.clone();
                r.data = JsonText::new(&data).unwrap();
                state.resources.insert(format!("r{n}"), r);
            }
            let as_values = ValueState {
                version: STATE_VERSION,
                stack: "s1",
                resources: state
                    .resources
                    .iter()
                    .map(|(name, r)| {
                        let record = ValueRecord {
                            kind: &r.kind,
                            account: r.account,
                            region: &r.region,
                            status: r.status,
                            depends_on: &r.depends_on,
                            retain: r.retain,
                            outputs: serde_json::to_value(&outputs).unwrap(),
                            data: data.clone(),
                        };
                        (name.clone(), record)
                    })
                    .collect(),
            };
            let expected = if count > COMPACT_ABOVE {
                serde_json::to_string(&as_values).unwrap()
            } else {
                serde_json::to_string_pretty(&as_values).unwrap()
            };
            store.save(&state).unwrap();
            assert_eq!(
                fs::read_to_string(store.path("s1")).unwrap(),
                format!("{expected}\n")
            );
            assert_eq!(store.load("s1").unwrap(), state);
        }
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
                retain: true,
                pinned: Some("the only copy".into()),
                outputs: serde_json::json!({"key_id": "x"}).into(),
                data: JsonText::NULL,
            },
        );
        store.save(&state).unwrap();
        assert_eq!(store.load("s1").unwrap(), state);
    }

    // The state names accounts, keys and snapshots: its directory, file, journal and lock are
    // the owner's alone.
    #[cfg(unix)]
    #[tokio::test]
    async fn state_files_and_their_directory_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("private").join("nested");
        let store = StateStore::new(&dir);
        let _lock = store.lock("s1").unwrap();
        let live = LiveState::new(store.clone(), StackState::new("s1"));
        for n in 0..2 {
            live.lock()
                .await
                .resources
                .insert(format!("r{n}"), record(n));
            live.commit([format!("r{n}")]).await.unwrap();
        }
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700, "the state directory");
        assert_eq!(mode(&store.path("s1")), 0o600, "the state file");
        assert_eq!(mode(&dir.join("s1.journal")), 0o600, "the journal");
        assert_eq!(mode(&dir.join("s1.lock")), 0o600, "the lock file");
        live.finish().await.unwrap();
        assert_eq!(mode(&store.path("s1")), 0o600, "the state file rewritten");
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = temp_dir("failed-write");
        let store = StateStore::new(&dir);
        // A directory where the file should go: the rename fails.
        fs::create_dir_all(store.path("s1")).unwrap();
        let err = store.save(&StackState::new("s1")).unwrap_err();
        assert!(err.to_string().contains("s1.json"), "{err}");
        let left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["s1.json"], "no temporary file is left");
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
