//! The org fixture: one platform-neutral description of a company that every upstream emulator serves.
//!
//! The format is documented in `emulators/README.md`. Fixtures are JSON; ids follow the platforms:
//! department ids are integers with `1` as the root, user ids are strings.
//!
//! Besides the serde types (a contract shared with the connector's tests) this module offers loading,
//! [`Org::validate`] and the scope rules every platform shares: a scoped department brings its whole
//! subtree, a scoped user brings only that person.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A whole company as the upstream IM platform holds it, plus what the connector's app may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Org {
    /// Departments; exactly one has `parent: null` and it must have id 1 (the root).
    pub departments: Vec<Department>,
    pub users: Vec<User>,
    /// What the connector's app is authorized to see. Defaults to the whole org.
    #[serde(default)]
    pub scope: Scope,
    /// Whether the app receives sensitive fields (email, mobile). WeCom apps created after
    /// 2022-06-20 do not.
    #[serde(default = "default_true")]
    pub sensitive_fields: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub id: i64,
    /// `None` only for the root.
    #[serde(default)]
    pub parent: Option<i64>,
    pub name: String,
    #[serde(default)]
    pub name_en: Option<String>,
    #[serde(default)]
    pub order: i64,
    /// User ids of the department heads (not a direct-manager link).
    #[serde(default)]
    pub leaders: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub employee_no: Option<String>,
    /// Departments the person belongs to; the first is the main one unless `main_department` says otherwise.
    pub departments: Vec<i64>,
    #[serde(default)]
    pub main_department: Option<i64>,
    /// The direct manager's user id, as HR set it (may point outside the app's scope).
    #[serde(default)]
    pub manager: Option<String>,
    #[serde(default)]
    pub status: Status,
    /// Bitrix24 extranet (external) user.
    #[serde(default)]
    pub extranet: bool,
    /// Standard fields only some platforms have; each emulator serves the ones its platform
    /// returns, in the platform's own form (README of the emulators: "Profile fields").
    #[serde(default, skip_serializing_if = "Profile::is_empty")]
    pub profile: Profile,
    /// Custom fields by name (WeCom extattr, DingTalk extension, Feishu custom_attrs by id,
    /// Bitrix24 UF_*), each served in its platform's form.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, String>,
}

/// A person's standard fields beyond the ones every platform has, platform-neutral: dates as
/// `YYYY-MM-DD`, gender `male` / `female`, employee type `regular`, `intern`, `outsourced`,
/// `contractor` or `consultant`. Emulators convert them to their platform's form.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    pub english_name: Option<String>,
    pub enterprise_email: Option<String>,
    pub telephone: Option<String>,
    pub employee_type: Option<String>,
    pub gender: Option<String>,
    pub work_place: Option<String>,
    pub hire_date: Option<String>,
    pub avatar: Option<String>,
}

impl Profile {
    pub fn is_empty(&self) -> bool {
        *self == Profile::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Active,
    Disabled,
    NotActivated,
    Resigned,
}

/// The app's authorized scope: departments (with their whole subtrees) plus individually listed users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default)]
    pub departments: Vec<i64>,
    #[serde(default)]
    pub users: Vec<String>,
}

impl Default for Scope {
    fn default() -> Self {
        Scope {
            departments: vec![1],
            users: Vec::new(),
        }
    }
}

/// Why a fixture could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot read fixture {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("fixture is not valid JSON for the org format: {0}")]
    Json(#[from] serde_json::Error),
    #[error("fixture is inconsistent: {0}")]
    Invalid(#[from] ValidationError),
}

/// The first inconsistency [`Org::validate`] found; every variant names the offending id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("there is no root department (id 1 with parent null)")]
    MissingRoot,
    #[error("department 1 is the root and must have parent null, not {parent}")]
    RootHasParent { parent: i64 },
    #[error("department {id} has parent null, but only department 1 may be the root")]
    ExtraRoot { id: i64 },
    #[error("department id {id} appears more than once")]
    DuplicateDepartment { id: i64 },
    #[error("department {id} has parent {parent}, which does not exist")]
    UnknownParent { id: i64, parent: i64 },
    #[error("department {id} is its own ancestor (parent cycle)")]
    ParentCycle { id: i64 },
    #[error("department {id} lists leader {user:?}, who does not exist")]
    UnknownLeader { id: i64, user: String },
    #[error("user id {id:?} appears more than once")]
    DuplicateUser { id: String },
    #[error("user {id:?} belongs to department {department}, which does not exist")]
    UnknownUserDepartment { id: String, department: i64 },
    #[error("user {id:?} has main department {department}, which is not one of its departments")]
    MainDepartmentNotMember { id: String, department: i64 },
    #[error("user {id:?} has manager {manager:?}, who does not exist")]
    UnknownManager { id: String, manager: String },
    #[error("scope lists department {id}, which does not exist")]
    UnknownScopeDepartment { id: i64 },
    #[error("scope lists user {id:?}, who does not exist")]
    UnknownScopeUser { id: String },
}

impl Org {
    /// Parses and validates a fixture.
    pub fn from_json(json: &str) -> Result<Org, FixtureError> {
        let org: Org = serde_json::from_str(json)?;
        org.validate()?;
        Ok(org)
    }

    /// Reads, parses and validates a fixture file.
    pub fn load(path: impl AsRef<Path>) -> Result<Org, FixtureError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|source| FixtureError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Org::from_json(&json)
    }

    /// The fixture as indented JSON (the format [`Org::from_json`] reads).
    pub fn to_json_pretty(&self) -> String {
        // Serializing plain structs with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks referential integrity: one root (id 1, parent null), unique ids, existing parents without
    /// cycles, and existing departments, leaders, managers and scope entries. Emulators serve invalid
    /// orgs without panicking, but what they answer is then unspecified.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut parents: HashMap<i64, Option<i64>> = HashMap::with_capacity(self.departments.len());
        for department in &self.departments {
            if parents.insert(department.id, department.parent).is_some() {
                return Err(ValidationError::DuplicateDepartment { id: department.id });
            }
        }
        match parents.get(&1) {
            None => return Err(ValidationError::MissingRoot),
            Some(Some(parent)) => return Err(ValidationError::RootHasParent { parent: *parent }),
            Some(None) => {}
        }
        for department in &self.departments {
            match department.parent {
                None if department.id != 1 => {
                    return Err(ValidationError::ExtraRoot { id: department.id });
                }
                Some(parent) if !parents.contains_key(&parent) => {
                    return Err(ValidationError::UnknownParent {
                        id: department.id,
                        parent,
                    });
                }
                _ => {}
            }
        }
        // Every department must reach the root; a walk longer than the department count is a cycle.
        let mut reaches_root: HashSet<i64> = HashSet::from([1]);
        for department in &self.departments {
            let mut path = Vec::new();
            let mut current = department.id;
            while !reaches_root.contains(&current) {
                if path.len() > self.departments.len() {
                    return Err(ValidationError::ParentCycle { id: department.id });
                }
                path.push(current);
                match parents.get(&current).copied().flatten() {
                    Some(parent) => current = parent,
                    None => return Err(ValidationError::ParentCycle { id: department.id }),
                }
            }
            reaches_root.extend(path);
        }

        let mut users: HashSet<&str> = HashSet::with_capacity(self.users.len());
        for user in &self.users {
            if !users.insert(user.id.as_str()) {
                return Err(ValidationError::DuplicateUser {
                    id: user.id.clone(),
                });
            }
        }
        for department in &self.departments {
            if let Some(user) = department
                .leaders
                .iter()
                .find(|u| !users.contains(u.as_str()))
            {
                return Err(ValidationError::UnknownLeader {
                    id: department.id,
                    user: user.clone(),
                });
            }
        }
        for user in &self.users {
            if let Some(&department) = user.departments.iter().find(|d| !parents.contains_key(d)) {
                return Err(ValidationError::UnknownUserDepartment {
                    id: user.id.clone(),
                    department,
                });
            }
            if let Some(main) = user.main_department
                && !user.departments.contains(&main)
            {
                return Err(ValidationError::MainDepartmentNotMember {
                    id: user.id.clone(),
                    department: main,
                });
            }
            if let Some(manager) = &user.manager
                && !users.contains(manager.as_str())
            {
                return Err(ValidationError::UnknownManager {
                    id: user.id.clone(),
                    manager: manager.clone(),
                });
            }
        }
        if let Some(&id) = self
            .scope
            .departments
            .iter()
            .find(|d| !parents.contains_key(d))
        {
            return Err(ValidationError::UnknownScopeDepartment { id });
        }
        if let Some(id) = self
            .scope
            .users
            .iter()
            .find(|u| !users.contains(u.as_str()))
        {
            return Err(ValidationError::UnknownScopeUser { id: id.clone() });
        }
        Ok(())
    }

    /// The department with this id.
    pub fn department(&self, id: i64) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }

    /// The user with this id (exact match).
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// Child department ids per parent id, in fixture order.
    pub fn children(&self) -> BTreeMap<i64, Vec<i64>> {
        let mut children: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for department in &self.departments {
            if let Some(parent) = department.parent {
                children.entry(parent).or_default().push(department.id);
            }
        }
        children
    }

    /// Departments the app may see: every scoped department that exists, plus all its descendants.
    pub fn visible_department_ids(&self) -> BTreeSet<i64> {
        let children = self.children();
        let known: HashSet<i64> = self.departments.iter().map(|d| d.id).collect();
        let mut visible = BTreeSet::new();
        let mut stack: Vec<i64> = self
            .scope
            .departments
            .iter()
            .copied()
            .filter(|d| known.contains(d))
            .collect();
        // `insert` returning false stops re-walking shared subtrees, and parent cycles.
        while let Some(id) = stack.pop() {
            if visible.insert(id) {
                stack.extend(children.get(&id).into_iter().flatten().copied());
            }
        }
        visible
    }

    /// Whether the app may see this person: listed in `scope.users`, or member of a visible department.
    ///
    /// Recomputes the visible departments on every call; use [`Org::visibility`] for many users.
    pub fn is_user_visible(&self, user: &User) -> bool {
        self.visibility().is_user_visible(user)
    }

    /// The app's visible range, computed once for repeated lookups.
    pub fn visibility(&self) -> Visibility {
        Visibility {
            departments: self.visible_department_ids(),
            users: self.scope.users.iter().cloned().collect(),
        }
    }
}

/// The app's visible range resolved against one org (see [`Org::visibility`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Visibility {
    /// Scoped departments and all their descendants.
    pub departments: BTreeSet<i64>,
    /// Individually scoped user ids.
    pub users: HashSet<String>,
}

impl Visibility {
    pub fn is_department_visible(&self, id: i64) -> bool {
        self.departments.contains(&id)
    }

    pub fn is_user_visible(&self, user: &User) -> bool {
        self.users.contains(&user.id)
            || user
                .departments
                .iter()
                .any(|d| self.departments.contains(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn department(id: i64, parent: Option<i64>) -> Department {
        Department {
            id,
            parent,
            name: format!("d{id}"),
            name_en: None,
            order: 0,
            leaders: Vec::new(),
        }
    }

    fn user(id: &str, departments: &[i64]) -> User {
        User {
            id: id.to_string(),
            name: id.to_string(),
            email: None,
            mobile: None,
            title: None,
            employee_no: None,
            departments: departments.to_vec(),
            main_department: None,
            manager: None,
            status: Status::Active,
            extranet: false,
            profile: Default::default(),
            custom: Default::default(),
        }
    }

    /// 1 ─ 2 ─ 3, 1 ─ 4; a in 3, b in 4, c in 4.
    fn sample() -> Org {
        Org {
            departments: vec![
                department(1, None),
                department(2, Some(1)),
                department(3, Some(2)),
                department(4, Some(1)),
            ],
            users: vec![user("a", &[3]), user("b", &[4]), user("c", &[4])],
            scope: Scope {
                departments: vec![2],
                users: vec!["c".into()],
            },
            sensitive_fields: true,
        }
    }

    #[test]
    fn valid_sample_passes_and_round_trips() {
        let org = sample();
        assert_eq!(org.validate(), Ok(()));
        let back = Org::from_json(&org.to_json_pretty()).unwrap();
        assert_eq!(back, org);
    }

    #[test]
    fn minimal_json_uses_defaults() {
        let org = Org::from_json(
            r#"{"departments":[{"id":1,"name":"公司"}],"users":[{"id":"u1","name":"张三","departments":[1]}]}"#,
        )
        .unwrap();
        assert_eq!(
            org.scope,
            Scope {
                departments: vec![1],
                users: vec![]
            }
        );
        assert!(org.sensitive_fields);
        assert_eq!(org.users[0].status, Status::Active);
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = Org::from_json(r#"{"departments":[],"users":[],"extra":1}"#).unwrap_err();
        assert!(matches!(err, FixtureError::Json(_)), "{err}");
    }

    #[test]
    fn validation_names_the_offending_id() {
        type Breaker = Box<dyn Fn(&mut Org)>;
        let cases: Vec<(Breaker, ValidationError)> = vec![
            (
                Box::new(|o: &mut Org| {
                    o.departments.remove(0);
                }),
                ValidationError::MissingRoot,
            ),
            (
                Box::new(|o: &mut Org| o.departments[0].parent = Some(4)),
                ValidationError::RootHasParent { parent: 4 },
            ),
            (
                Box::new(|o: &mut Org| o.departments[2].parent = None),
                ValidationError::ExtraRoot { id: 3 },
            ),
            (
                Box::new(|o: &mut Org| o.departments.push(department(2, Some(1)))),
                ValidationError::DuplicateDepartment { id: 2 },
            ),
            (
                Box::new(|o: &mut Org| o.departments[3].parent = Some(9)),
                ValidationError::UnknownParent { id: 4, parent: 9 },
            ),
            (
                Box::new(|o: &mut Org| o.departments[1].parent = Some(3)),
                ValidationError::ParentCycle { id: 2 },
            ),
            (
                Box::new(|o: &mut Org| o.departments[1].leaders = vec!["zz".into()]),
                ValidationError::UnknownLeader {
                    id: 2,
                    user: "zz".into(),
                },
            ),
            (
                Box::new(|o: &mut Org| o.users.push(user("a", &[1]))),
                ValidationError::DuplicateUser { id: "a".into() },
            ),
            (
                Box::new(|o: &mut Org| o.users[1].departments.push(7)),
                ValidationError::UnknownUserDepartment {
                    id: "b".into(),
                    department: 7,
                },
            ),
            (
                Box::new(|o: &mut Org| o.users[0].main_department = Some(4)),
                ValidationError::MainDepartmentNotMember {
                    id: "a".into(),
                    department: 4,
                },
            ),
            (
                Box::new(|o: &mut Org| o.users[0].manager = Some("ghost".into())),
                ValidationError::UnknownManager {
                    id: "a".into(),
                    manager: "ghost".into(),
                },
            ),
            (
                Box::new(|o: &mut Org| o.scope.departments.push(8)),
                ValidationError::UnknownScopeDepartment { id: 8 },
            ),
            (
                Box::new(|o: &mut Org| o.scope.users.push("ghost".into())),
                ValidationError::UnknownScopeUser { id: "ghost".into() },
            ),
        ];
        for (break_it, expected) in cases {
            let mut org = sample();
            break_it(&mut org);
            assert_eq!(org.validate(), Err(expected.clone()), "{expected}");
        }
    }

    #[test]
    fn scope_covers_subtrees_and_listed_users() {
        let org = sample();
        assert_eq!(org.visible_department_ids(), BTreeSet::from([2, 3]));
        let [a, b, c] = [&org.users[0], &org.users[1], &org.users[2]];
        assert!(org.is_user_visible(a), "member of a scoped subtree");
        assert!(!org.is_user_visible(b), "department 4 is outside the scope");
        assert!(org.is_user_visible(c), "listed individually");
    }

    #[test]
    fn default_scope_sees_everything() {
        let org = Org {
            scope: Scope::default(),
            ..sample()
        };
        assert_eq!(org.visible_department_ids(), BTreeSet::from([1, 2, 3, 4]));
        assert!(org.users.iter().all(|u| org.is_user_visible(u)));
    }

    #[test]
    fn load_reports_missing_file() {
        let err = Org::load("/nonexistent/org.json").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/org.json"), "{err}");
    }
}
