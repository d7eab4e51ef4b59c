//! The emulator's shared state: the org rendered as Bitrix24 rows, tokens, faults, limits, logs.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use serde_json::value::{RawValue, to_raw_value};
use serde_json::{Value, json};

use super::wire::ApiError;
use super::{Bitrix24Config, PagingQuirk, PortalError, ids};
use crate::faults::{CallLog, FaultInjector, TokenBook, TokenStatus};
use crate::fixture::{Org, Status, User};
use crate::rate_limit::{Enforcer, Policy, Rule};

pub(super) struct Shared {
    pub config: Bitrix24Config,
    /// `http://127.0.0.1:PORT`.
    origin: String,
    /// Swapped whole on update, so a request works on one consistent org without holding the lock.
    directory: RwLock<Arc<Directory>>,
    /// HTTP requests by REST method name (`batch`, `user.get`, …) and `oauth/token`.
    pub calls: CallLog,
    /// Commands run inside batches, by method name.
    pub batched: CallLog,
    /// Every list page asked for, as (method, `start` as given), in arrival order.
    pub pages: Mutex<Vec<(String, Option<i64>)>>,
    pub faults: FaultInjector,
    pub tokens: TokenBook,
    /// Every access token ever issued, so a revoked one answers `expired_token`, not "unknown".
    issued: Mutex<HashSet<String>>,
    pub refresh: Mutex<RefreshTokens>,
    /// Random per emulator, so rotated refresh tokens cannot be guessed across instances.
    salt: RandomState,
    pub limits: Enforcer,
    pub quirk: Mutex<PagingQuirk>,
    pub portal_error: Mutex<Option<PortalError>>,
}

/// The refresh tokens the OAuth server accepts.
pub(super) struct RefreshTokens {
    pub valid: HashSet<String>,
    pub newest: String,
    pub serial: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(org: Org, config: Bitrix24Config, origin: String) -> Self {
        // The documented cloud limit: +1 per request, draining 2/s, refused above 50.
        let limits = if config.enforce_rate_limits {
            Enforcer::new(
                vec![Rule {
                    policy: Policy::LeakyBucket {
                        capacity: 50,
                        drain_per_second: 2.0,
                    },
                    per_endpoint: false,
                }],
                config.rate_limit_speedup,
            )
        } else {
            Enforcer::unlimited()
        };
        let refresh = RefreshTokens {
            valid: HashSet::from([config.refresh_token.clone()]),
            newest: config.refresh_token.clone(),
            serial: 0,
        };
        Shared {
            origin,
            directory: RwLock::new(Arc::new(Directory::new(org, user_fields(&config)))),
            calls: CallLog::new(),
            batched: CallLog::new(),
            pages: Mutex::new(Vec::new()),
            faults: FaultInjector::default(),
            tokens: TokenBook::new("b24-at-"),
            issued: Mutex::new(HashSet::new()),
            refresh: Mutex::new(refresh),
            salt: RandomState::new(),
            limits,
            quirk: Mutex::new(PagingQuirk::None),
            portal_error: Mutex::new(None),
            config,
        }
    }

    pub fn directory(&self) -> Arc<Directory> {
        self.directory
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn update_org(&self, change: impl FnOnce(&mut Org)) {
        let mut org = self.directory().org.clone();
        change(&mut org);
        let directory = Arc::new(Directory::new(org, user_fields(&self.config)));
        *self
            .directory
            .write()
            .unwrap_or_else(PoisonError::into_inner) = directory;
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn quirk(&self) -> PagingQuirk {
        *lock(&self.quirk)
    }

    pub fn portal_error(&self) -> Option<PortalError> {
        *lock(&self.portal_error)
    }

    pub fn record_page(&self, method: &str, start: Option<i64>) {
        lock(&self.pages).push((method.to_owned(), start));
    }

    /// Issues an access token (the current one while it is usable).
    pub fn issue_access_token(&self) -> crate::faults::IssuedToken {
        let issued = self.tokens.issue(self.config.access_token_ttl);
        lock(&self.issued).insert(issued.token.clone());
        issued
    }

    /// Checks an OAuth `auth` parameter and charges the call to the token.
    pub fn authorize(&self, token: Option<&str>) -> Result<(), ApiError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::NO_AUTH_FOUND)?;
        match self.tokens.check_and_use(token, self.faults.token_budget()) {
            TokenStatus::Valid => Ok(()),
            TokenStatus::Expired | TokenStatus::CallBudgetExhausted { .. } => {
                Err(ApiError::EXPIRED_TOKEN)
            }
            TokenStatus::Unknown if lock(&self.issued).contains(token) => {
                Err(ApiError::EXPIRED_TOKEN)
            }
            TokenStatus::Unknown => Err(ApiError::NO_AUTH_FOUND),
        }
    }

    /// Trades a refresh token for a new access token; rotates the refresh token when configured.
    pub fn refresh(
        &self,
        presented: &str,
    ) -> Result<(crate::faults::IssuedToken, String), ApiError> {
        let mut refresh = lock(&self.refresh);
        if !refresh.valid.contains(presented) {
            return Err(ApiError::INVALID_GRANT);
        }
        let next = if self.config.rotate_refresh_tokens {
            refresh.serial += 1;
            let rotated = format!(
                "b24-rt-{:016x}{:04x}",
                self.salt.hash_one(refresh.serial),
                refresh.serial
            );
            refresh.valid.remove(presented);
            refresh.valid.insert(rotated.clone());
            refresh.newest = rotated.clone();
            rotated
        } else {
            presented.to_owned()
        };
        drop(refresh);
        Ok((self.issue_access_token(), next))
    }

    pub fn newest_refresh_token(&self) -> String {
        lock(&self.refresh).newest.clone()
    }

    pub fn revoke_access_tokens(&self) {
        self.tokens.revoke_all();
    }
}

/// An org rendered once as Bitrix24 rows, each list in `ID` order (the API's default sort). Rows
/// are kept as JSON text: a page is its rows joined, not a tree cloned and serialized per request.
pub(super) struct Directory {
    pub org: Org,
    pub ids: HashMap<String, u64>,
    pub users: Vec<Box<RawValue>>,
    /// Each user row's `CONFIRM_CODE` (same order as `users`): set for invitees who have not
    /// accepted, never shown in a row.
    pub confirm_codes: Vec<Option<String>>,
    pub departments: Vec<Box<RawValue>>,
}

/// Whether the portal's own custom fields (`UF_USR_*`) are shown: only with the scope
/// `user.userfield`, which "expands the list of available fields in the reading methods".
fn user_fields(config: &Bitrix24Config) -> bool {
    config.scopes.iter().any(|s| s == "user.userfield")
}

impl Directory {
    /// `user_fields`: the `UF_USR_*` custom fields are served (see [`user_fields`]).
    pub fn new(org: Org, user_fields: bool) -> Self {
        if let Err(error) = org.validate() {
            tracing::warn!(%error, "Bitrix24 emulator serving an inconsistent org");
        }
        let ids = ids::assign(&org);
        let mut users: Vec<(u64, Value, Option<String>)> = Vec::with_capacity(org.users.len());
        let mut seen = HashSet::new();
        for user in &org.users {
            if seen.insert(user.id.as_str()) {
                let id = ids[&user.id];
                // Bitrix24 sets an 8-character random code at invitation; any stable text will do.
                let code = (user.status == Status::NotActivated).then(|| format!("c{id:07x}"));
                users.push((id, user_row(user, id, user_fields), code));
            }
        }
        users.sort_by_key(|(id, _, _)| *id);
        let mut departments: Vec<(i64, Value)> = Vec::with_capacity(org.departments.len());
        let mut seen = HashSet::new();
        for dept in &org.departments {
            if !seen.insert(dept.id) {
                continue;
            }
            let mut row =
                json!({ "ID": dept.id.to_string(), "NAME": dept.name, "SORT": dept.order });
            if let Some(parent) = dept.parent {
                row["PARENT"] = Value::String(parent.to_string());
            }
            // One head per department in Bitrix24: the fixture's first leader.
            if let Some(head) = dept.leaders.first().and_then(|l| ids.get(l)) {
                row["UF_HEAD"] = Value::String(head.to_string());
            }
            departments.push((dept.id, row));
        }
        departments.sort_by_key(|(id, _)| *id);
        let render = |row: Value| to_raw_value(&row).expect("a JSON value serializes");
        Directory {
            org,
            ids,
            confirm_codes: users.iter().map(|(_, _, code)| code.clone()).collect(),
            users: users.into_iter().map(|(_, row, _)| render(row)).collect(),
            departments: departments
                .into_iter()
                .map(|(_, row)| render(row))
                .collect(),
        }
    }
}

/// A `user.get` row. The fixture's `name` is split at its first space into `NAME` and
/// `LAST_NAME`; `manager` is not exposed (Bitrix24 has no such field).
fn user_row(user: &User, id: u64, user_fields: bool) -> Value {
    let (first, last) = user
        .name
        .split_once(' ')
        .unwrap_or((user.name.as_str(), ""));
    let active = matches!(user.status, Status::Active | Status::NotActivated);
    // An invited user who never registered has never logged in and is `ACTIVE`; the confirm
    // code that marks the invitation is kept apart (`Directory::confirm_codes`), never shown.
    let last_login = match user.status {
        Status::NotActivated => Value::Null,
        _ => Value::String("2024-05-02T08:11:00+02:00".into()),
    };
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let profile = &user.profile;
    let mut row = json!({
        "ID": id.to_string(),
        "XML_ID": text(&user.employee_no),
        "ACTIVE": active,
        "NAME": first,
        "LAST_NAME": last,
        "SECOND_NAME": "",
        "EMAIL": text(&user.email),
        "LAST_LOGIN": last_login,
        "DATE_REGISTER": "2023-01-09T00:00:00+01:00",
        "IS_ONLINE": "N",
        "WORK_POSITION": text(&user.title),
        "PERSONAL_MOBILE": text(&user.mobile),
        "WORK_PHONE": text(&profile.telephone),
        "WORK_CITY": text(&profile.work_place),
        "PERSONAL_GENDER": match profile.gender.as_deref() {
            Some("male") => "M",
            Some("female") => "F",
            _ => "",
        },
        "PERSONAL_PHOTO": text(&profile.avatar),
        // Date fields come as ISO 8601 at the portal's midnight (here Moscow's, +03:00).
        "UF_EMPLOYMENT_DATE": profile
            .hire_date
            .as_deref()
            .map_or_else(String::new, |day| format!("{day}T00:00:00+03:00")),
        "UF_PHONE_INNER": "",
        "USER_TYPE": if user.extranet { "extranet" } else { "employee" },
    });
    // Custom fields by their `UF_` names, as text; the portal's own (`UF_USR_*`) only with the
    // `user.userfield` scope.
    for (name, value) in &user.custom {
        if name.starts_with("UF_") && (user_fields || !name.starts_with("UF_USR_")) {
            row[name.as_str()] = Value::String(value.clone());
        }
    }
    // Extranet users belong to no intranet department: the field is absent for them.
    if !user.extranet {
        let main = user.main_department.or(user.departments.first().copied());
        let mut departments: Vec<i64> = main.into_iter().collect();
        for &dept in &user.departments {
            if !departments.contains(&dept) {
                departments.push(dept);
            }
        }
        row["UF_DEPARTMENT"] = json!(departments);
    }
    row
}
