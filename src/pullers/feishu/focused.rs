//! A focused pull on Feishu: `GET users/:user_id` for each person asked for and each leader
//! their records name, then `GET departments/:department_id` from their departments up to the
//! top of the contact scope (or the root, which is no department of its own). Feishu decides
//! the scope: an id outside it answers 41050 / 40004 / 40014, an unknown one 41012.

use super::{DEPARTMENT, FeishuPuller, USER, convert, not_visible, wire};
use crate::model::{DepartmentId, Scope, UserKey};
use crate::pullers::focus;
use crate::pullers::{Focused, Platform, PullError};
use convert::{ROOT, Read};
use std::collections::BTreeSet;
use std::time::Instant;

impl FeishuPuller {
    pub(super) async fn focused(&self, keys: &[UserKey]) -> Result<Focused, PullError> {
        let started = Instant::now();
        // Counts left by a pull that failed half-way belong to no report.
        let _ = self.client.calls.take(std::time::Duration::ZERO);
        let people = focus::people(
            keys,
            self.concurrency,
            |id| self.user(id),
            |user: &wire::User| user.leader_user_id.clone(),
        )
        .await?;
        self.client.calls.progress().people(people.records.len());
        let start: Vec<String> = people
            .records
            .iter()
            .flat_map(|u| {
                let primary = u.orders.iter().filter_map(|o| o.department_id.clone());
                primary.chain(u.department_ids.iter().cloned())
            })
            .map(|id| id.trim().to_owned())
            .filter(|id| id != ROOT)
            .collect();
        let kind = self.ids.department;
        let departments = focus::departments(
            start,
            self.concurrency,
            |id| self.department(id),
            |department: &wire::Department| {
                let parent = department.parent_department_id.as_deref()?.trim();
                (!parent.is_empty() && parent != ROOT).then(|| parent.to_owned())
            },
        )
        .await?;
        // The departments whose parent could not be read are the tops of the contact scope.
        let ids: BTreeSet<&str> = departments.iter().filter_map(|d| d.id(kind)).collect();
        let roots: Vec<DepartmentId> = departments
            .iter()
            .filter(|d| {
                d.parent_department_id
                    .as_deref()
                    .map(str::trim)
                    .is_some_and(|p| !p.is_empty() && p != ROOT && !ids.contains(p))
            })
            .filter_map(|d| d.id(kind).map(DepartmentId::new))
            .collect();
        let read = Read {
            scope: Scope {
                departments: roots,
                users: Vec::new(),
            },
            departments,
            members: Vec::new(),
            individuals: people.records,
        };
        let directory = convert::directory(read, self.ids);
        let stats = self.client.calls.take(started.elapsed());
        Ok(focus::finish(
            Platform::Feishu,
            keys.len(),
            directory,
            stats,
            people.not_found,
        ))
    }

    /// One person; `None` when Feishu says they are unknown or outside the contact scope.
    async fn user(&self, id: String) -> Result<Option<wire::User>, PullError> {
        match self.client.get::<wire::UserGet>(USER, Some(&id), &[]).await {
            Ok(found) => Ok(Some(found.user)),
            Err(error) if not_visible(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// One department; `None` when it is gone or outside the contact scope.
    async fn department(&self, id: String) -> Result<Option<wire::Department>, PullError> {
        match self
            .client
            .get::<wire::DepartmentGet>(DEPARTMENT, Some(&id), &[])
            .await
        {
            Ok(found) => Ok(Some(found.department)),
            Err(error) if not_visible(&error) => Ok(None),
            Err(error) => Err(error),
        }
    }
}
