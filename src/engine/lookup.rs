//! Finding people by what an operator knows of them (`orgsync explain QUERY`): an upstream id,
//! an e-mail address, a user name or a display name. No IO: the pull and the snapshot of one run.

use crate::daemon::types::PersonMatch;
use crate::model::{DepartmentId, Directory, Field, ProfileField, UserKey};
use crate::snapshot::Snapshot;
use std::collections::BTreeSet;

/// Everyone `query` names, by the first rule that finds anyone: the upstream id (exactly), then
/// an e-mail address (without case: the upstream's e-mail, its enterprise e-mail, or the
/// target's), then the target's userName (without case), then the display name (exactly).
/// People who left are found through the snapshot. In key order.
pub fn find_people(query: &str, directory: &Directory, snapshot: &Snapshot) -> Vec<PersonMatch> {
    let query = query.trim();
    if query.is_empty() {
        return Vec::new();
    }
    let folded = query.to_lowercase();
    let same = |value: Option<&str>| value.is_some_and(|v| v.to_lowercase() == folded);
    let everyone = || {
        directory
            .users
            .keys()
            .chain(snapshot.users.keys())
            .chain(directory.held.iter())
    };
    let key = UserKey::new(query);
    let by_key: BTreeSet<&UserKey> = everyone().filter(|k| **k == key).collect();
    let by_email = || -> BTreeSet<&UserKey> {
        let upstream = directory.users.values().filter(|u| {
            same(u.email.as_deref()) || same(u.profile.get(ProfileField::EnterpriseEmail))
        });
        let target = snapshot
            .users
            .iter()
            .filter(|(_, a)| same(a.attributes.get(Field::Email)))
            .map(|(k, _)| k);
        upstream.map(|u| &u.key).chain(target).collect()
    };
    let by_user_name = || -> BTreeSet<&UserKey> {
        snapshot
            .users
            .iter()
            .filter(|(_, a)| same(a.attributes.get(Field::UserName)))
            .map(|(k, _)| k)
            .collect()
    };
    let by_display_name = || -> BTreeSet<&UserKey> {
        let upstream = directory
            .users
            .values()
            .filter(|u| u.display_name == query)
            .map(|u| &u.key);
        // Someone the pull no longer has is known by the name the target has for them.
        let target = snapshot
            .users
            .iter()
            .filter(|(k, a)| {
                !directory.users.contains_key(*k)
                    && a.attributes.get(Field::DisplayName) == Some(query)
            })
            .map(|(k, _)| k);
        upstream.chain(target).collect()
    };
    let found = [by_key]
        .into_iter()
        .chain(std::iter::once_with(by_email))
        .chain(std::iter::once_with(by_user_name))
        .chain(std::iter::once_with(by_display_name))
        .find(|found| !found.is_empty())
        .unwrap_or_default();
    found
        .into_iter()
        .map(|key| person(key, directory, snapshot))
        .collect()
}

/// One person as a match lists them: name and e-mail from the pull, else from the target.
fn person(key: &UserKey, directory: &Directory, snapshot: &Snapshot) -> PersonMatch {
    let upstream = directory.users.get(key);
    let applied = snapshot.users.get(key).map(|a| &a.attributes);
    PersonMatch {
        key: key.to_string(),
        name: upstream
            .map(|u| u.display_name.to_string())
            .or_else(|| {
                applied
                    .and_then(|a| a.get(Field::DisplayName))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| key.to_string()),
        email: upstream
            .and_then(|u| u.email.as_deref())
            .or_else(|| applied.and_then(|a| a.get(Field::Email)))
            .map(str::to_owned),
        departments: upstream
            .map(|u| {
                u.departments
                    .iter()
                    .map(|d| department_path(d, directory))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The department's names from the top of the scope, ` / ` between them; a loop in the
/// parents (bad upstream data) ends where it closes.
fn department_path(id: &DepartmentId, directory: &Directory) -> String {
    let mut names = Vec::new();
    let mut current = Some(id);
    while let Some(department) = current.and_then(|id| directory.departments.get(id))
        && names.len() <= directory.departments.len()
    {
        names.push(department.name.as_str());
        current = department.parent.as_ref();
    }
    if names.is_empty() {
        return id.to_string();
    }
    names.reverse();
    names.join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attributes, Department, Profile, Status, TargetId, User};
    use crate::snapshot::AppliedUser;

    fn user(key: &str, name: &str, email: Option<&str>, department: &str) -> User {
        User {
            key: UserKey::new(key),
            display_name: name.into(),
            email: email.map(Into::into),
            mobile: None,
            title: None,
            employee_no: None,
            departments: vec![DepartmentId::new(department)],
            status: Status::Active,
            manager: None,
            profile: Profile::default(),
        }
    }

    fn org() -> (Directory, Snapshot) {
        let mut directory = Directory::default();
        for (id, name, parent) in [
            ("1", "总部", None),
            ("2", "销售部", Some("1")),
            ("3", "研发部", Some("1")),
        ] {
            directory.departments.insert(
                DepartmentId::new(id),
                Department {
                    id: DepartmentId::new(id),
                    name: name.into(),
                    parent: parent.map(DepartmentId::new),
                    heads: vec![],
                },
            );
        }
        let mut wang = user("wang", "王伟", Some("wang@example.cn"), "2");
        wang.profile =
            Profile::default().with(ProfileField::EnterpriseEmail, "Wei.Wang@corp.example");
        for u in [
            wang,
            user("wang2", "王伟", Some("wang2@example.cn"), "3"),
            user("lin", "林晓", Some("Lin.Xiao@Example.cn"), "2"),
        ] {
            directory.users.insert(u.key.clone(), u);
        }
        let mut snapshot = Snapshot::default();
        let mut gone = Attributes::new("zhao.left".to_owned(), "赵离".to_owned());
        gone.set(Field::Email, Some("zhao@example.cn".into()));
        snapshot.users.insert(
            UserKey::new("zhao"),
            AppliedUser {
                target_id: TargetId::new("t-zhao"),
                attributes: gone,
                active: true,
                manager: None,
                deactivated_at: None,
            },
        );
        (directory, snapshot)
    }

    fn keys(found: &[PersonMatch]) -> Vec<&str> {
        found.iter().map(|m| m.key.as_str()).collect()
    }

    #[test]
    fn an_id_wins_over_every_other_rule() {
        let (directory, snapshot) = org();
        assert_eq!(keys(&find_people("lin", &directory, &snapshot)), ["lin"]);
        assert_eq!(
            keys(&find_people(" zhao ", &directory, &snapshot)),
            ["zhao"]
        );
    }

    #[test]
    fn e_mail_without_case_from_either_field_or_the_target() {
        let (directory, snapshot) = org();
        assert_eq!(
            keys(&find_people("lin.xiao@example.CN", &directory, &snapshot)),
            ["lin"]
        );
        assert_eq!(
            keys(&find_people("wei.wang@corp.example", &directory, &snapshot)),
            ["wang"]
        );
        assert_eq!(
            keys(&find_people("ZHAO@example.cn", &directory, &snapshot)),
            ["zhao"]
        );
    }

    #[test]
    fn user_name_then_display_name() {
        let (directory, snapshot) = org();
        assert_eq!(
            keys(&find_people("Zhao.Left", &directory, &snapshot)),
            ["zhao"]
        );
        assert_eq!(keys(&find_people("赵离", &directory, &snapshot)), ["zhao"]);
        assert_eq!(keys(&find_people("林晓", &directory, &snapshot)), ["lin"]);
    }

    #[test]
    fn namesakes_are_all_listed_with_their_departments() {
        let (directory, snapshot) = org();
        let found = find_people("王伟", &directory, &snapshot);
        assert_eq!(keys(&found), ["wang", "wang2"]);
        assert_eq!(found[0].departments, ["总部 / 销售部"]);
        assert_eq!(found[1].departments, ["总部 / 研发部"]);
        assert_eq!(found[0].email.as_deref(), Some("wang@example.cn"));
    }

    #[test]
    fn nobody_and_blank_queries_find_nobody() {
        let (directory, snapshot) = org();
        assert!(find_people("nobody@example.cn", &directory, &snapshot).is_empty());
        assert!(find_people("  ", &directory, &snapshot).is_empty());
        // A display name is matched exactly, not as a part.
        assert!(find_people("王", &directory, &snapshot).is_empty());
    }
}
