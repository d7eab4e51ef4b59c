//! Logins: a role's token exchanged for a session kept in memory (random id, role, expiry, its
//! own CSRF token), and the rate limit on login attempts. The id reaches the browser only in an
//! HttpOnly, SameSite=Strict cookie.

use crate::config::Secret;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "orgsync_session";

/// What a login may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sees every page.
    Viewer,
    /// Also starts runs, syncs people, approves and dismisses plans.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }
}

/// One login.
#[derive(Debug, Clone)]
pub struct Session {
    pub role: Role,
    /// Carried by every POST of this session (hidden field or header), compared with this.
    pub csrf: String,
    expires: Instant,
}

/// The role tokens, kept as SHA-256 digests: compared in constant time, never printed.
pub struct RoleTokens {
    viewer: Option<[u8; 32]>,
    operator: Option<[u8; 32]>,
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl RoleTokens {
    pub fn new(viewer: Option<&Secret>, operator: Option<&Secret>) -> Self {
        RoleTokens {
            viewer: viewer.map(|s| digest(s.expose())),
            operator: operator.map(|s| digest(s.expose())),
        }
    }

    /// The role whose token this is. Both digests are always compared, so the time taken does
    /// not tell which (or whether any) matched.
    pub fn role_of(&self, presented: &str) -> Option<Role> {
        let presented = digest(presented);
        let operator = self
            .operator
            .is_some_and(|d| constant_time_eq(&d, &presented));
        let viewer = self
            .viewer
            .is_some_and(|d| constant_time_eq(&d, &presented));
        if operator {
            Some(Role::Operator)
        } else if viewer {
            Some(Role::Viewer)
        } else {
            None
        }
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// 32 random bytes as hex: session ids and CSRF tokens.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(crate::hex::encode(&bytes))
}

/// Live sessions, by id.
pub struct Sessions {
    ttl: Duration,
    live: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Sessions {
            ttl,
            live: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session for `role`; its id for the cookie.
    pub fn open(&self, role: Role, now: Instant) -> Result<(String, Session), getrandom::Error> {
        let id = random_token()?;
        let session = Session {
            role,
            csrf: random_token()?,
            expires: now + self.ttl,
        };
        let mut live = self.lock();
        // Expired sessions go whenever one is opened, so the map stays as small as the logins.
        live.retain(|_, s| s.expires > now);
        live.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The session `id` names, unless it expired (then it is forgotten).
    pub fn get(&self, id: &str, now: Instant) -> Option<Session> {
        let mut live = self.lock();
        match live.get(id) {
            Some(session) if session.expires > now => Some(session.clone()),
            Some(_) => {
                live.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// At most `max` failed logins in any `window`: guessing a token is slow, and a flood of wrong
/// tokens costs nothing but a 429. Counted for the whole console: behind a reverse proxy every
/// client has the proxy's address.
pub struct LoginLimit {
    max: usize,
    window: Duration,
    failures: Mutex<VecDeque<Instant>>,
}

impl LoginLimit {
    pub fn new(max: usize, window: Duration) -> Self {
        LoginLimit {
            max,
            window,
            failures: Mutex::new(VecDeque::new()),
        }
    }

    /// Whether an attempt may be judged now; if not, how long until one may.
    pub fn check(&self, now: Instant) -> Result<(), Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        while failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            failures.pop_front();
        }
        match failures.front() {
            Some(oldest) if failures.len() >= self.max => {
                Err(self.window.saturating_sub(now.duration_since(*oldest)))
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.push_back(now);
        while failures.len() > self.max {
            failures.pop_front();
        }
    }
}

/// The session id in a `Cookie` header, if any.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE && !value.is_empty()).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lasts_its_ttl_and_keeps_its_role() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let (id, opened) = sessions.open(Role::Viewer, t0).unwrap();
        assert_eq!(id.len(), 64);
        let got = sessions.get(&id, t0 + Duration::from_secs(59)).unwrap();
        assert_eq!(got.role, Role::Viewer);
        assert_eq!(got.csrf, opened.csrf);
        assert_ne!(got.csrf, id);
        assert!(sessions.get(&id, t0 + Duration::from_secs(60)).is_none());
        // Once expired it is gone, even if asked about earlier again.
        assert!(sessions.get(&id, t0).is_none());
        assert!(sessions.get("not-a-session", t0).is_none());
    }

    #[test]
    fn logout_ends_only_that_session() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let (a, _) = sessions.open(Role::Operator, t0).unwrap();
        let (b, _) = sessions.open(Role::Operator, t0).unwrap();
        assert_ne!(a, b);
        sessions.close(&a);
        assert!(sessions.get(&a, t0).is_none());
        assert_eq!(sessions.get(&b, t0).unwrap().role, Role::Operator);
    }

    #[test]
    fn each_token_gives_its_role_and_nothing_else_logs_in() {
        let tokens = RoleTokens::new(Some(&Secret::new("look")), Some(&Secret::new("touch")));
        assert_eq!(tokens.role_of("look"), Some(Role::Viewer));
        assert_eq!(tokens.role_of("touch"), Some(Role::Operator));
        assert_eq!(tokens.role_of("touch "), None);
        assert_eq!(tokens.role_of(""), None);
        let viewers_only = RoleTokens::new(Some(&Secret::new("look")), None);
        assert_eq!(viewers_only.role_of("touch"), None);
        assert_eq!(viewers_only.role_of(""), None);
    }

    #[test]
    fn failed_logins_are_limited_per_window() {
        let limit = LoginLimit::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limit.check(t0).is_ok());
            limit.failed(t0);
        }
        let wait = limit.check(t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(40));
        assert!(limit.check(t0 + Duration::from_secs(60)).is_ok());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        assert_eq!(
            from_cookie_header("a=1; orgsync_session=abc; b=2"),
            Some("abc")
        );
        assert_eq!(from_cookie_header("orgsync_sessionx=abc"), None);
        assert_eq!(from_cookie_header("orgsync_session="), None);
    }
}
