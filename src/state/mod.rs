//! The state directory: one [`StateDb`] owns the database file lock, the snapshots, the run
//! history and the key that seals saved plans. It is the only module that names sled, so the
//! rest of orgsync never depends on how state is stored.

mod events;
mod history;
mod key;
mod metered;
mod notify;
mod owner;
mod pending;
mod snapshots;
#[cfg(test)]
mod tests;

pub use events::Acceptance;
pub use history::History;
pub use key::{KEY_FILE, PlanKey};
pub use owner::Owner;
pub use pending::PendingPlan;

use crate::snapshot::SnapshotError;
use std::fs::{DirBuilder, Permissions};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The on-disk layout version. Bump it, with a migration in [`StateDb::migrate`], whenever the
/// layout changes. 1: people's snapshots and run history. 2: groups and their memberships
/// (`groups/NAME` trees).
const FORMAT_VERSION: u32 = 3;
const META_TREE: &str = "meta";
const FORMAT_KEY: &str = "format_version";
/// The database inside the state directory.
const DB_DIR: &str = "state.sled";

/// The state directory, opened: sled's exclusive file lock is held for as long as a clone lives,
/// so a second process on the same directory gets [`SnapshotError::Locked`].
#[derive(Debug, Clone)]
pub struct StateDb {
    db: sled::Db,
    dir: PathBuf,
    path: PathBuf,
}

impl StateDb {
    /// Opens (or creates) the state database under `dir`. The directory and the database are
    /// private to orgsync's user (0700): they hold names, e-mail addresses and the plan key.
    pub fn open(dir: &Path) -> Result<Self, SnapshotError> {
        let path = dir.join(DB_DIR);
        let open_error = |source| SnapshotError::Open {
            path: dir.to_owned(),
            source,
        };
        create_private_dir(dir, Holds::Anything).map_err(open_error)?;
        // Made here rather than by sled, so it never exists at the process umask.
        create_private_dir(&path, Holds::OursOnly).map_err(open_error)?;
        let db = open_sled(dir, &path)?;
        let state = StateDb {
            db,
            dir: dir.to_owned(),
            path,
        };
        state.check_format()?;
        // Ours now: say who holds the lock, for the next process that finds it taken.
        if let Err(e) = Owner::current().write(dir) {
            tracing::debug!(error = %e, "Cannot note this process as the state directory's owner.");
        }
        Ok(state)
    }

    /// The state directory this database lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The run history, keeping at most `keep` runs per connector.
    pub fn history(&self, keep: usize) -> Result<History, crate::history::HistoryError> {
        History::open(&self.db, keep)
    }

    /// The key that seals saved plans, made on first use.
    pub fn plan_key(&self) -> Result<PlanKey, SnapshotError> {
        PlanKey::load_or_create(&self.dir)
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<(), SnapshotError> {
        self.db.flush().map(|_| ()).map_err(storage)
    }

    fn check_format(&self) -> Result<(), SnapshotError> {
        let meta = self.db.open_tree(META_TREE).map_err(storage)?;
        match meta.get(FORMAT_KEY).map_err(storage)? {
            None => {
                meta.insert(FORMAT_KEY, FORMAT_VERSION.to_string().as_bytes())
                    .map_err(storage)?;
                self.db.flush().map_err(storage)?;
                Ok(())
            }
            Some(found) => {
                let found = String::from_utf8_lossy(&found).into_owned();
                match found.parse::<u32>() {
                    Ok(version) if version == FORMAT_VERSION => Ok(()),
                    Ok(version) if version < FORMAT_VERSION => self.migrate(version, &meta),
                    _ => Err(SnapshotError::UnsupportedFormat {
                        path: self.path.clone(),
                        found,
                        expected: FORMAT_VERSION,
                    }),
                }
            }
        }
    }

    /// Brings a database written by an older orgsync to this format, one version at a time,
    /// each step durable before the next: an interrupted migration resumes where it stopped.
    fn migrate(&self, mut version: u32, meta: &sled::Tree) -> Result<(), SnapshotError> {
        while version < FORMAT_VERSION {
            // 1 → 2 adds the group trees, made empty on first use: nothing to convert.
            // 2 → 3: a person's attributes may hold mapped attributes under their target names
            // (`[target.attributes]`). Format-2 entries read as they are; the version is raised
            // so an older orgsync refuses the directory as a whole instead of failing on the
            // first person with a mapped attribute.
            version += 1;
            meta.insert(FORMAT_KEY, version.to_string().as_bytes())
                .map_err(storage)?;
            self.db.flush().map_err(storage)?;
            tracing::info!(path = %self.path.display(), version, "The state database was migrated to a newer format.");
        }
        Ok(())
    }
}

/// Creates `dir` (and missing parents) as 0700. An existing directory that others can enter
/// (made by an older orgsync at the umask, or by systemd's default `StateDirectoryMode`) is
/// narrowed to 0700 where we may; where we may not, a warning says what to run. A directory
/// that also holds files that are not orgsync's (`state_dir = "/tmp"`, `"/var/lib"`, a home
/// directory, by mistake) is never changed: narrowing it would lock out its other users (and
/// drop `/tmp`'s sticky bit). A warning asks for a directory of orgsync's own instead; orgsync's
/// own files in it are private anyway.
fn create_private_dir(dir: &Path, holds: Holds) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 == 0 {
        return Ok(());
    }
    if holds == Holds::Anything
        && let Some(other) = foreign_entry(dir)
    {
        tracing::warn!(
            path = %dir.display(),
            mode = format!("{:o}", mode & 0o7777),
            other = %crate::terminal::visible(&other),
            "The state directory holds files that are not orgsync's and other users can enter it; its mode is left as it is. Set state_dir to a directory of orgsync's own (e.g. /var/lib/orgsync)."
        );
        return Ok(());
    }
    if let Err(e) = std::fs::set_permissions(dir, Permissions::from_mode(mode & 0o700)) {
        tracing::warn!(
            path = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            error = %e,
            "The state directory can be read by other users and cannot be made private; run `chmod 700` on it."
        );
    }
    Ok(())
}

/// What a directory may hold besides orgsync's files.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holds {
    /// The state directory: whatever the operator named, so possibly a shared one.
    Anything,
    /// The database directory inside it: only ever the database's files.
    OursOnly,
}

/// The name of an entry of `dir` that orgsync does not make there, if there is one.
/// A directory that cannot be listed is not taken for orgsync's own either.
fn foreign_entry(dir: &Path) -> Option<String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return Some(format!("(cannot list it: {e})")),
    };
    for entry in entries {
        let name = match entry {
            Ok(entry) => entry.file_name().to_string_lossy().into_owned(),
            Err(e) => return Some(format!("(cannot list it: {e})")),
        };
        let ours = name == DB_DIR
            || name == KEY_FILE
            || name == owner::OWNER_FILE
            || name
                .strip_prefix(owner::OWNER_FILE)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|pid| pid.bytes().all(|b| b.is_ascii_digit()));
        if !ours {
            return Some(name);
        }
    }
    None
}

/// How long a reopen in the same process waits for sled to let go of the file lock.
const SAME_PROCESS_RELEASE: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens sled's database. sled releases its file lock only when the last of its internal
/// handles goes, which can be a moment after the last `StateDb` clone was dropped (its flusher
/// and deferred frees run on other threads). So when the holder is this very process — a state
/// directory closed and opened again, as tests and tools built on the library do — the open is
/// tried again for a short while; a lock held by another process fails at once.
fn open_sled(dir: &Path, path: &Path) -> Result<sled::Db, SnapshotError> {
    let started = std::time::Instant::now();
    loop {
        match sled::Config::new().path(path).open() {
            Ok(db) => return Ok(db),
            Err(e) => match sled_open_error(dir, path, e) {
                SnapshotError::Locked {
                    owner: Some(owner), ..
                } if owner.pid == std::process::id()
                    && started.elapsed() < SAME_PROCESS_RELEASE =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => return Err(other),
            },
        }
    }
}

fn storage(error: sled::Error) -> SnapshotError {
    SnapshotError::Storage(error.to_string())
}

fn sled_open_error(dir: &Path, path: &Path, error: sled::Error) -> SnapshotError {
    match error {
        sled::Error::Io(io)
            if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") =>
        {
            // Named as the admin configured it: the state directory, not sled's folder in it.
            SnapshotError::Locked {
                path: dir.to_owned(),
                owner: Owner::read(dir),
            }
        }
        sled::Error::Io(source) => SnapshotError::Open {
            path: path.to_owned(),
            source,
        },
        // Corruption, or a layout sled cannot read: not a passing storage failure.
        other => SnapshotError::Unreadable {
            path: path.to_owned(),
            detail: other.to_string(),
        },
    }
}
