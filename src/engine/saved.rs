//! Reviewed plans: `orgsync diff --save plan.json` writes the plan an admin reviews;
//! `orgsync apply plan.json` applies exactly that plan, or refuses if the snapshot has moved since.
//!
//! A plan file is sealed: an HMAC-SHA256, under the state directory's plan key, of the exact bytes
//! of its content. Apply checks the seal before it reads anything, so a hand-edited step, snapshot
//! or count never reaches the target, and it recomputes the deletion guard from the sealed content
//! under the policy in force, never from a verdict in the file.

use crate::plan::{Plan, Pulled};
use crate::report::Report;
use crate::snapshot::Snapshot;
use crate::state::PlanKey;
use hmac::{Hmac, KeyInit, Mac};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// Plan files of this orgsync. `orgsync-plan/1` files (unsealed) are refused.
pub const FORMAT: &str = "orgsync-plan/2";

/// What a reviewed plan holds. Every field is sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub connector: String,
    pub created_at: Timestamp,
    /// Digest of the stored snapshot the plan was computed against.
    pub snapshot_digest: String,
    /// When the plan was made against the target's accounts (first sync, `--full`), the snapshot
    /// rebuilt from them, installed before applying.
    pub rebuilt_snapshot: Option<Snapshot>,
    /// How many people the pull returned: the deletion guard's empty-pull rule needs it.
    pub pulled: Pulled,
    pub plan: Plan,
    /// The dry-run report shown when the plan was made; the apply's report starts from it.
    pub report: Report,
}

/// A plan whose seal this state directory's key reproduced: the only kind apply takes.
#[derive(Debug)]
pub struct VerifiedPlan(SavedPlan);

impl VerifiedPlan {
    pub fn plan(&self) -> &SavedPlan {
        &self.0
    }

    pub fn into_inner(self) -> SavedPlan {
        self.0
    }
}

/// The file: its format, the seal, and the content exactly as sealed.
#[derive(Serialize, Deserialize)]
struct PlanFile<'a> {
    format: &'a str,
    seal: String,
    #[serde(borrow)]
    content: &'a RawValue,
}

/// Only what is needed to find the connector before the seal can be checked.
#[derive(Deserialize)]
struct Header {
    connector: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error("not an orgsync plan file: {0}")]
    NotAPlan(String),
    #[error(
        "the plan was saved by an older orgsync (format {0}) and carries no seal; make a new plan \
         with `orgsync diff NAME --save FILE`"
    )]
    OldFormat(String),
    #[error("the plan has format {0}; this orgsync reads {FORMAT}")]
    UnknownFormat(String),
    #[error(
        "the plan's seal does not match: it was changed after it was saved, or saved with another \
         state directory; nothing was applied. Make a new plan with `orgsync diff {connector} \
         --save FILE` and review it again"
    )]
    BadSeal { connector: String },
    #[error("cannot encode the plan: {0}")]
    Encode(String),
}

type HmacSha256 = Hmac<Sha256>;

impl SavedPlan {
    /// The plan file's bytes, sealed with `key`.
    pub fn seal(&self, key: &PlanKey) -> Result<Vec<u8>, PlanFileError> {
        let content =
            serde_json::to_string_pretty(self).map_err(|e| PlanFileError::Encode(e.to_string()))?;
        let content =
            RawValue::from_string(content).map_err(|e| PlanFileError::Encode(e.to_string()))?;
        let file = PlanFile {
            format: FORMAT,
            seal: crate::hex::encode(&mac(key, content.get().as_bytes()).finalize().into_bytes()),
            content: &content,
        };
        serde_json::to_vec_pretty(&file).map_err(|e| PlanFileError::Encode(e.to_string()))
    }
}

/// The connector a plan file names, read before its seal can be checked (the seal's key lives
/// in that connector's state directory). Nothing else of an unverified file is read.
pub fn plan_connector(bytes: &[u8]) -> Result<String, PlanFileError> {
    let file = parse(bytes)?;
    serde_json::from_str::<Header>(file.content.get())
        .map(|h| h.connector)
        .map_err(|e| PlanFileError::NotAPlan(e.to_string()))
}

/// Checks the seal of a plan file with `key`, then reads it.
pub fn verify_plan(bytes: &[u8], key: &PlanKey) -> Result<VerifiedPlan, PlanFileError> {
    let file = parse(bytes)?;
    let seal = crate::hex::decode(&file.seal).ok_or_else(|| PlanFileError::BadSeal {
        connector: plan_connector(bytes).unwrap_or_else(|_| "NAME".into()),
    })?;
    // verify_slice compares in constant time.
    if mac(key, file.content.get().as_bytes())
        .verify_slice(&seal)
        .is_err()
    {
        return Err(PlanFileError::BadSeal {
            connector: plan_connector(bytes).unwrap_or_else(|_| "NAME".into()),
        });
    }
    serde_json::from_str(file.content.get())
        .map(VerifiedPlan)
        .map_err(|e| PlanFileError::NotAPlan(e.to_string()))
}

fn parse(bytes: &[u8]) -> Result<PlanFile<'_>, PlanFileError> {
    #[derive(Deserialize)]
    struct Format<'a> {
        format: Option<&'a str>,
    }
    let format = serde_json::from_slice::<Format>(bytes)
        .map_err(|e| PlanFileError::NotAPlan(e.to_string()))?
        .format;
    match format {
        Some(FORMAT) => {}
        Some("orgsync-plan/1") => return Err(PlanFileError::OldFormat("orgsync-plan/1".into())),
        Some(other) => return Err(PlanFileError::UnknownFormat(other.to_owned())),
        None => return Err(PlanFileError::NotAPlan("it has no \"format\"".into())),
    }
    serde_json::from_slice(bytes).map_err(|e| PlanFileError::NotAPlan(e.to_string()))
}

fn mac(key: &PlanKey, content: &[u8]) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key.bytes())
        .expect("HMAC takes a key of any length");
    mac.update(content);
    mac
}

/// A stable fingerprint of a snapshot: SHA-256 of its canonical JSON (maps are ordered),
/// streamed into the hash rather than built as one buffer, plus the number of people.
pub fn snapshot_digest(snapshot: &Snapshot) -> String {
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut hashing = Hashing(Sha256::new());
    // Writing into a hash cannot fail, and a snapshot always serializes (string keys only).
    let _ = serde_json::to_writer(&mut hashing, snapshot);
    format!(
        "sha256:{}-{}",
        crate::hex::encode(&hashing.0.finalize()),
        snapshot.users.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PlanKey {
        let dir = tempfile::tempdir().unwrap();
        crate::state::StateDb::open(dir.path())
            .unwrap()
            .plan_key()
            .unwrap()
    }

    fn saved() -> SavedPlan {
        SavedPlan {
            connector: "hq".into(),
            created_at: Timestamp::UNIX_EPOCH,
            snapshot_digest: snapshot_digest(&Snapshot::default()),
            rebuilt_snapshot: None,
            pulled: Pulled { people: 3, held: 0 },
            plan: Plan::default(),
            report: crate::report::fixture::sample(),
        }
    }

    #[test]
    fn a_sealed_plan_verifies_and_reads_back_the_same() {
        let key = key();
        let bytes = saved().seal(&key).unwrap();
        assert_eq!(plan_connector(&bytes).unwrap(), "hq");
        assert_eq!(verify_plan(&bytes, &key).unwrap().into_inner(), saved());
    }

    #[test]
    fn any_edit_or_another_key_breaks_the_seal() {
        let key = key();
        let bytes = saved().seal(&key).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let edited = text.replacen("\"people\": 3", "\"people\": 4", 1);
        assert_ne!(edited, text, "the edit must hit");
        assert!(matches!(
            verify_plan(edited.as_bytes(), &key),
            Err(PlanFileError::BadSeal { .. })
        ));
        assert!(matches!(
            verify_plan(&bytes, &self::key()),
            Err(PlanFileError::BadSeal { .. })
        ));
    }

    #[test]
    fn old_and_foreign_files_are_named() {
        let key = key();
        let old = br#"{"format":"orgsync-plan/1","connector":"hq"}"#;
        assert!(matches!(
            verify_plan(old, &key),
            Err(PlanFileError::OldFormat(_))
        ));
        assert!(matches!(
            verify_plan(b"[1,2]", &key),
            Err(PlanFileError::NotAPlan(_))
        ));
    }

    #[test]
    fn the_digest_is_sha256_and_changes_with_the_snapshot() {
        let empty = snapshot_digest(&Snapshot::default());
        assert!(empty.starts_with("sha256:"), "{empty}");
        assert_eq!(empty.len(), "sha256:".len() + 64 + "-0".len());
        // SHA-256 of `{"users":{}}`, the empty snapshot's JSON.
        let json = serde_json::to_vec(&Snapshot::default()).unwrap();
        assert_eq!(
            empty,
            format!("sha256:{}-0", crate::hex::encode(&Sha256::digest(&json)))
        );
    }
}
