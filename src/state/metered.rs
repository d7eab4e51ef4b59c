//! Calls to metered endpoints — those an upstream counts against a monthly quota (DingTalk's HR
//! roster) — per connector and calendar month: one tree, key `connector \0 month \0 endpoint`,
//! value the count as 8 big-endian bytes.

use super::{StateDb, storage};
use crate::snapshot::SnapshotError;
use std::collections::BTreeMap;

const METERED_TREE: &str = "metered_calls";

fn key(connector: &str, month: &str, endpoint: &str) -> Vec<u8> {
    [connector, month, endpoint].join("\0").into_bytes()
}

fn count(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map_or(0, u64::from_be_bytes)
}

impl StateDb {
    /// Adds `calls` to the month's counts and returns the new totals (each add is atomic, so
    /// two processes never lose a count; only one holds the database anyway).
    pub(super) fn add_metered_calls(
        &self,
        connector: &str,
        month: &str,
        calls: &BTreeMap<String, u64>,
    ) -> Result<BTreeMap<String, u64>, SnapshotError> {
        let tree = self.db.open_tree(METERED_TREE).map_err(storage)?;
        let mut totals = BTreeMap::new();
        for (endpoint, &n) in calls {
            let total = tree
                .update_and_fetch(key(connector, month, endpoint), |old| {
                    Some(count(old).saturating_add(n).to_be_bytes().to_vec())
                })
                .map_err(storage)?;
            totals.insert(endpoint.clone(), count(total.as_deref()));
        }
        self.db.flush().map_err(storage)?;
        Ok(totals)
    }

    /// The month's count of calls to `endpoint` by `connector` (0 when none were counted).
    pub fn metered_calls(
        &self,
        connector: &str,
        month: &str,
        endpoint: &str,
    ) -> Result<u64, SnapshotError> {
        let tree = self.db.open_tree(METERED_TREE).map_err(storage)?;
        let value = tree.get(key(connector, month, endpoint)).map_err(storage)?;
        Ok(count(value.as_deref()))
    }
}

#[cfg(test)]
mod tests {
    use crate::snapshot::SnapshotStore;
    use std::collections::BTreeMap;

    #[test]
    fn counts_add_up_per_connector_and_month_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let roster = "/topapi/smartwork/hrm/employee/v2/list";
        let calls = BTreeMap::from([(roster.to_owned(), 100)]);
        {
            let db = super::StateDb::open(dir.path()).unwrap();
            let totals = db.count_metered_calls("hq", "2026-12", &calls).unwrap();
            assert_eq!(totals[roster], 100);
            let totals = db.count_metered_calls("hq", "2026-12", &calls).unwrap();
            assert_eq!(totals[roster], 200);
            db.count_metered_calls("branch", "2026-12", &calls).unwrap();
            db.count_metered_calls("hq", "2027-01", &calls).unwrap();
        }
        let db = super::StateDb::open(dir.path()).unwrap();
        assert_eq!(db.metered_calls("hq", "2026-12", roster).unwrap(), 200);
        assert_eq!(db.metered_calls("branch", "2026-12", roster).unwrap(), 100);
        assert_eq!(db.metered_calls("hq", "2027-01", roster).unwrap(), 100);
        assert_eq!(db.metered_calls("hq", "2026-11", roster).unwrap(), 0);
    }
}
