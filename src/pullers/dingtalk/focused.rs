//! A focused pull on DingTalk: `user/get` for each person asked for and each manager their
//! records name (`manager_userid`), `department/get` from their departments up to the top of
//! the authorized scope, and `user/list` of each of those departments, so each person and
//! department head is read exactly as a whole pull reads them (a listed person's item, with
//! the HR roster or `user/get` for what items lack; heads from the items' `leader` flag).
//! DingTalk decides the scope: a person outside it answers 50002, a department 50004; unknown
//! ones 60121 / 33012 and 60003 / 40009.

use super::{DingtalkPuller, ROSTER_BATCH, convert, wire};
use crate::model::{Problem, UserKey};
use crate::pullers::focus;
use crate::pullers::{Focused, Platform, PullError};
use futures_util::{StreamExt, TryStreamExt, stream};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;
use tracing::warn;
use wire::Record;

impl DingtalkPuller {
    pub(super) async fn focused(&self, keys: &[UserKey]) -> Result<Focused, PullError> {
        let started = Instant::now();
        // Counts left by a pull that failed half-way belong to no report.
        let _ = self.client.calls.take(std::time::Duration::ZERO);
        let people = focus::people(
            keys,
            self.concurrency,
            |userid| async move { Ok(self.user(userid).await?.1) },
            |record: &Record| match record {
                Record::Read(user) => user.manager_userid.clone().flatten(),
                Record::Unreadable { .. } => None,
            },
        )
        .await?;
        self.client.calls.progress().people(people.records.len());
        let start: Vec<String> = people
            .records
            .iter()
            .flat_map(|r| match r {
                Record::Read(user) => user
                    .main_dept
                    .iter()
                    .chain(&user.dept_id_list)
                    .copied()
                    .collect(),
                Record::Unreadable { .. } => Vec::new(),
            })
            .filter(|&id| id > 0)
            .map(|id| id.to_string())
            .collect();
        let departments = focus::departments(
            start,
            self.concurrency,
            |id| async move {
                match id.parse::<i64>() {
                    Ok(dept_id) => self.department(dept_id, false).await,
                    Err(_) => Ok(None),
                }
            },
            |department: &wire::Department| {
                department
                    .parent_id
                    .filter(|&p| p > 0)
                    .map(|p| p.to_string())
            },
        )
        .await?;
        // The departments' own listings: heads (the `leader` flag) and the items of the people read.
        let ids: Vec<i64> = departments.iter().map(|d| d.dept_id).collect();
        let listings: Vec<(i64, Vec<Record>)> = stream::iter(ids)
            .map(|id| self.members(id, false))
            .buffered(self.concurrency)
            .try_collect()
            .await?;
        let read: BTreeMap<String, Record> = people
            .records
            .into_iter()
            .filter_map(|r| Some((r.userid()?.to_owned(), r)))
            .collect();
        let mut raw = convert::Raw {
            departments,
            ..convert::Raw::default()
        };
        let mut listed: BTreeMap<String, &Record> = BTreeMap::new();
        for (id, records) in &listings {
            let mine: Vec<Record> = records
                .iter()
                .filter(|r| r.userid().is_some_and(|u| read.contains_key(u)))
                .cloned()
                .collect();
            for record in records {
                if let Some(userid) = record.userid() {
                    listed.entry(userid.to_owned()).or_insert(record);
                }
            }
            raw.members.push((*id, mine));
        }
        raw.members.sort_by_key(|(id, _)| *id);
        self.complete(&read, &listed, &mut raw).await?;
        // Tops of the scope: departments whose parent could not be read.
        let ids: BTreeSet<i64> = raw.departments.iter().map(|d| d.dept_id).collect();
        let roots = raw
            .departments
            .iter()
            .filter(|d| d.parent_id.is_some_and(|p| p > 0 && !ids.contains(&p)))
            .map(|d| d.dept_id)
            .collect();
        raw.scope = Some(wire::OrgScopes {
            authed_dept: roots,
            authed_user: Vec::new(),
        });
        let details = raw.details.clone();
        let mut directory = convert::directory(raw);
        // Heads as the whole pull finds them: from every item of the departments' listings.
        convert::add_heads(&mut directory, &listings, &details);
        let stats = self.client.calls.take(started.elapsed());
        Ok(focus::finish(
            Platform::Dingtalk,
            keys.len(),
            directory,
            stats,
            people.not_found,
        ))
    }

    /// What a whole pull would take each person's record from: their `user/list` item with the
    /// roster's answer when the roster is used and answers, else their `user/get` record when
    /// the item lacks `manager_userid` or no listing shows them.
    async fn complete(
        &self,
        read: &BTreeMap<String, Record>,
        listed: &BTreeMap<String, &Record>,
        raw: &mut convert::Raw,
    ) -> Result<(), PullError> {
        let lacks_manager = |userid: &str| matches!(listed.get(userid), Some(Record::Read(u)) if u.manager_userid.is_none());
        let mut by_roster: Vec<String> = Vec::new();
        for userid in read.keys() {
            if self.roster.is_some() && lacks_manager(userid) && !userid.contains(',') {
                by_roster.push(userid.clone());
            }
        }
        for batch in by_roster.chunks(ROSTER_BATCH) {
            let (_, answer) = self.roster(batch.to_vec()).await;
            match answer {
                Ok(entries) => raw.roster.extend(entries),
                Err(error) => {
                    let reason = super::roster_refusal(&error).ok_or(error)?;
                    warn!(
                        reason = reason.as_str(),
                        "DingTalk's HR roster cannot be used; reading managers with user/get."
                    );
                    raw.problems.push(Problem::RosterFallback { reason });
                    break;
                }
            }
        }
        for (userid, record) in read {
            let from_roster = raw.roster.contains_key(userid);
            let unlisted = !listed.contains_key(userid);
            if unlisted || (lacks_manager(userid) && !from_roster) {
                raw.details.insert(userid.clone(), Some(record.clone()));
            }
        }
        Ok(())
    }
}
