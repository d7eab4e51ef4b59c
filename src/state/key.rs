//! The key that seals saved plans (`orgsync diff --save`): 32 random bytes in a file of the state
//! directory that only orgsync's user can read. A plan whose seal this key does not reproduce was
//! edited, or made for another installation, and is never applied.

use crate::snapshot::SnapshotError;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The key file's name inside the state directory.
pub const KEY_FILE: &str = "plan.key";
const KEY_LEN: usize = 32;

/// The plan-sealing key. Never printed: its Debug says only that it is a key.
#[derive(Clone)]
pub struct PlanKey([u8; KEY_LEN]);

impl std::fmt::Debug for PlanKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlanKey(..)")
    }
}

impl PlanKey {
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Reads the key of the state directory `dir`, making one on first use. Two processes making
    /// it at once cannot both win: the file is created with create-new, the loser reads the
    /// winner's key.
    pub(super) fn load_or_create(dir: &Path) -> Result<PlanKey, SnapshotError> {
        let path = dir.join(KEY_FILE);
        let error = |source| SnapshotError::Key {
            path: path.clone(),
            source,
        };
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut file) => {
                let mut key = [0u8; KEY_LEN];
                getrandom::fill(&mut key).map_err(|e| error(std::io::Error::other(e)))?;
                file.write_all(&key).map_err(error)?;
                file.sync_all().map_err(error)?;
                Ok(PlanKey(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mut file = std::fs::File::open(&path).map_err(error)?;
                let mode = file.metadata().map_err(error)?.permissions().mode();
                if mode & 0o077 != 0 {
                    // Readable by others: anyone could seal an edited plan with it.
                    return Err(error(std::io::Error::other(format!(
                        "the key file is readable by other users (mode {:o}); run `chmod 600 {}`",
                        mode & 0o777,
                        path.display()
                    ))));
                }
                let mut key = [0u8; KEY_LEN];
                let mut rest = Vec::new();
                file.read_exact(&mut key).map_err(error)?;
                file.read_to_end(&mut rest).map_err(error)?;
                if !rest.is_empty() {
                    return Err(error(std::io::Error::other(
                        "the key file is longer than a key",
                    )));
                }
                Ok(PlanKey(key))
            }
            Err(e) => Err(error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let made = PlanKey::load_or_create(dir.path()).unwrap();
        let read = PlanKey::load_or_create(dir.path()).unwrap();
        assert_eq!(made.bytes(), read.bytes());
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(format!("{made:?}"), "PlanKey(..)");
    }

    #[test]
    fn a_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        PlanKey::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = PlanKey::load_or_create(dir.path()).unwrap_err().to_string();
        assert!(error.contains("readable by other users"), "{error}");
    }
}
