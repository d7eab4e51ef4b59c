//! A focused pull on WeCom: `user/get` for each person asked for and each direct leader their
//! records name, then `department/get` from their departments up to the top of the app's
//! visible range. WeCom itself decides the range: a person or department outside it answers
//! 60011 (or 60021/50002), one that does not exist 60111 (60123/60003 for departments).

use super::{DEPARTMENT_GET, USER_GET, WecomPuller, convert, skippable, wire};
use crate::model::{DepartmentId, Scope, UserKey};
use crate::pullers::focus;
use crate::pullers::{Focused, Platform, PullError};
use std::collections::BTreeSet;
use std::time::Instant;

impl WecomPuller {
    pub(super) async fn focused(&self, keys: &[UserKey]) -> Result<Focused, PullError> {
        let started = Instant::now();
        // Counts left by a pull that failed half-way belong to no report.
        let _ = self.client.calls.take(std::time::Duration::ZERO);
        let people = focus::people(
            keys,
            self.concurrency,
            |userid| self.user(userid),
            |user: &wire::User| {
                user.direct_leader
                    .iter()
                    .find(|l| !l.trim().is_empty())
                    .cloned()
            },
        )
        .await?;
        self.client.calls.progress().people(people.records.len());
        let start: Vec<String> = people
            .records
            .iter()
            .flat_map(|u| u.main_department.iter().chain(&u.department))
            .cloned()
            .collect();
        let departments = focus::departments(
            start,
            self.concurrency,
            |id| self.department(id),
            |department: &wire::Department| department.parentid.clone().filter(|p| p != "0"),
        )
        .await?;
        // The departments whose parent could not be read are the tops of the visible range.
        let ids: BTreeSet<&str> = departments.iter().map(|d| d.id.as_str()).collect();
        let roots: Vec<DepartmentId> = departments
            .iter()
            .filter(|d| {
                d.parentid
                    .as_deref()
                    .is_some_and(|p| p != "0" && !ids.contains(p))
            })
            .map(|d| DepartmentId::new(d.id.as_str()))
            .collect();
        let scope = Scope {
            departments: roots,
            users: Vec::new(),
        };
        let directory =
            convert::directory(departments, Vec::new(), people.records, scope, Vec::new());
        let stats = self.client.calls.take(started.elapsed());
        Ok(focus::finish(
            Platform::Wecom,
            keys.len(),
            directory,
            stats,
            people.not_found,
        ))
    }

    /// One person; `None` when WeCom says they do not exist or are outside the visible range.
    async fn user(&self, userid: String) -> Result<Option<wire::User>, PullError> {
        match self
            .client
            .get::<wire::User>(USER_GET, &[("userid", userid.as_str())])
            .await
        {
            Ok(user) => Ok(Some(user)),
            Err(error) if skippable(&error).is_some() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// One department; `None` when it is gone or outside the visible range.
    pub(super) async fn department(
        &self,
        id: String,
    ) -> Result<Option<wire::Department>, PullError> {
        match self
            .client
            .get::<wire::DepartmentGet>(DEPARTMENT_GET, &[("id", id.as_str())])
            .await
        {
            Ok(got) => Ok(Some(got.department)),
            Err(error) if skippable(&error).is_some() => Ok(None),
            Err(error) => Err(error),
        }
    }
}
