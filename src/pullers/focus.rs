//! What every platform's focused pull (`Puller::pull_people`) does alike: read the people asked
//! for one by one, then the direct managers their records name, then climb from their
//! departments to the top of what the app may read. Each platform supplies its single reads;
//! a read answering `None` means "does not exist or is outside the app's scope".

use super::{Coverage, Focused, Platform, PullError, PullStats, Pulled};
use crate::model::{Directory, UserKey};
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::BTreeSet;
use std::future::Future;
use tracing::info;

/// People read by a focused pull.
#[derive(Debug)]
pub(crate) struct People<T> {
    /// Everyone read: the people asked for first (in the order asked), then their managers.
    pub records: Vec<T>,
    /// People asked for that the upstream does not answer for.
    pub not_found: BTreeSet<UserKey>,
}

/// Reads each of `keys` once, then each manager `manager_of` names that was not read already.
/// A manager that cannot be read is left out (the planner's scope rule then skips the link).
pub(crate) async fn people<T, Read, Fut>(
    keys: &[UserKey],
    concurrency: usize,
    read: Read,
    manager_of: impl Fn(&T) -> Option<String>,
) -> Result<People<T>, PullError>
where
    Read: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<T>, PullError>>,
{
    let mut asked: BTreeSet<&str> = BTreeSet::new();
    let wanted: Vec<String> = keys
        .iter()
        .map(UserKey::as_str)
        .filter(|key| !key.trim().is_empty() && asked.insert(key))
        .map(str::to_owned)
        .collect();
    let answers = read_all(wanted, concurrency, &read).await?;
    let mut records = Vec::new();
    let mut not_found = BTreeSet::new();
    for (key, answer) in answers {
        match answer {
            Some(record) => records.push(record),
            None => {
                not_found.insert(UserKey::new(key));
            }
        }
    }
    let mut queued = BTreeSet::new();
    let managers: Vec<String> = records
        .iter()
        .filter_map(&manager_of)
        .filter(|m| !m.trim().is_empty() && !asked.contains(m.as_str()))
        .filter(|m| queued.insert(m.clone()))
        .collect();
    let managers = read_all(managers, concurrency, &read).await?;
    records.extend(managers.into_iter().filter_map(|(_, record)| record));
    Ok(People { records, not_found })
}

/// The departments `start` names and every department above them, level by level, each read
/// once. The climb stops at a department that cannot be read (above the app's scope, or gone)
/// and at the top of the tree.
pub(crate) async fn departments<D, Read, Fut>(
    start: impl IntoIterator<Item = String>,
    concurrency: usize,
    read: Read,
    parent_of: impl Fn(&D) -> Option<String>,
) -> Result<Vec<D>, PullError>
where
    Read: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<D>, PullError>>,
{
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut level: Vec<String> = start
        .into_iter()
        .filter(|id| !id.trim().is_empty() && seen.insert(id.clone()))
        .collect();
    let mut found = Vec::new();
    while !level.is_empty() {
        let answers = read_all(std::mem::take(&mut level), concurrency, &read).await?;
        for department in answers.into_iter().filter_map(|(_, d)| d) {
            if let Some(parent) = parent_of(&department)
                && seen.insert(parent.clone())
            {
                level.push(parent);
            }
            found.push(department);
        }
    }
    Ok(found)
}

/// A focused pull's result, logged alike on every platform.
pub(crate) fn finish(
    platform: Platform,
    asked: usize,
    directory: Directory,
    stats: PullStats,
    not_found: BTreeSet<UserKey>,
) -> Focused {
    info!(
        %platform,
        asked,
        users = directory.users.len(),
        not_found = not_found.len(),
        departments = directory.departments.len(),
        calls = stats.total_calls(),
        retries = stats.retries,
        "Pulled the people asked for."
    );
    Focused {
        pulled: Pulled { directory, stats },
        coverage: Coverage::Partial { not_found },
    }
}

/// One read per id, `concurrency` at a time, answers in the order asked.
async fn read_all<T, Read, Fut>(
    ids: Vec<String>,
    concurrency: usize,
    read: &Read,
) -> Result<Vec<(String, Option<T>)>, PullError>
where
    Read: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<T>, PullError>>,
{
    stream::iter(ids)
        .map(|id| async move {
            let answer = read(id.clone()).await?;
            Ok::<_, PullError>((id, answer))
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn block_on<F: Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn asked_people_then_their_readable_managers_each_once() {
        // person → manager; "gone" cannot be read.
        let org: BTreeMap<&str, Option<&str>> = BTreeMap::from([
            ("a", Some("boss")),
            ("b", Some("boss")),
            ("c", Some("gone")),
            ("boss", Some("ceo")),
            ("ceo", None),
        ]);
        let read = |id: String| {
            let found = org.get(id.as_str()).map(|m| (id.clone(), *m));
            async move { Ok(found) }
        };
        let keys: Vec<UserKey> = ["a", "b", "a", "c", "nobody", "ceo", " "]
            .into_iter()
            .map(UserKey::new)
            .collect();
        let people = block_on(people(&keys, 2, read, |(_, m)| m.map(str::to_owned))).unwrap();
        let ids: Vec<&str> = people.records.iter().map(|(id, _)| id.as_str()).collect();
        // The managers' own managers are not read; "ceo" was asked, so not read twice.
        assert_eq!(ids, ["a", "b", "c", "ceo", "boss"]);
        assert_eq!(people.not_found, BTreeSet::from([UserKey::new("nobody")]));
    }

    #[test]
    fn the_climb_stops_at_unreadable_departments_and_reads_each_once() {
        // id → parent; 1 is above the scope (unreadable).
        let tree: BTreeMap<&str, Option<&str>> = BTreeMap::from([
            ("2", Some("1")),
            ("3", Some("2")),
            ("4", Some("3")),
            ("5", Some("2")),
            ("9", None),
        ]);
        let reads = std::sync::Mutex::new(Vec::new());
        let read = |id: String| {
            reads.lock().unwrap().push(id.clone());
            let found = tree.get(id.as_str()).map(|p| (id.clone(), *p));
            async move { Ok(found) }
        };
        let start = ["4", "5", "4", "9"].map(str::to_owned);
        let found = block_on(departments(start, 3, read, |(_, p)| p.map(str::to_owned))).unwrap();
        let ids: BTreeSet<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, BTreeSet::from(["2", "3", "4", "5", "9"]));
        let mut reads = reads.into_inner().unwrap();
        reads.sort();
        assert_eq!(reads, ["1", "2", "3", "4", "5", "9"]);
    }

    #[test]
    fn a_failed_read_fails_the_whole_focused_pull() {
        let read = |id: String| async move {
            match id.as_str() {
                "bad" => Err(PullError::Setup {
                    detail: "boom".into(),
                }),
                _ => Ok(Some(id)),
            }
        };
        let keys = [UserKey::new("ok"), UserKey::new("bad")];
        assert!(block_on(people(&keys, 1, read, |_| None)).is_err());
    }
}
