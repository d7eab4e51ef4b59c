//! Fault injection, call counting and access-token bookkeeping shared by the upstream emulators.
//!
//! Everything here is platform-neutral: an emulator decides which of its paths are "data calls",
//! asks [`FaultInjector::next_data_call`] what should go wrong with each, and maps the generic
//! [`Fault`] and [`TokenStatus`] values to its platform's error codes and HTTP shapes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Which faults an emulator injects. `Default` injects none.
///
/// "Every N" means the Nth, 2Nth, 3Nth, ... data call (every call except token requests) gets the
/// fault, counted from the moment these faults were set; with N > 1 the retry of a request that
/// just got a fault is spared (see [`FaultInjector::next_data_call`]). `Some(0)` behaves like `None`. When several
/// schedules hit the same call, one fault is injected, in this precedence: 5xx, malformed JSON,
/// rate limit, concurrency limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// After this many data calls with one token, that token stops working (reported as expired or
    /// invalid, as the platform does).
    pub token_expires_after_calls: Option<u64>,
    /// Answer with the platform's "too many calls" error.
    pub rate_limit_every: Option<u64>,
    /// Answer with the platform's "too many concurrent calls" error.
    pub concurrency_limit_every: Option<u64>,
    /// Answer HTTP 502 with an HTML body, as a gateway in front of the API would.
    pub http_5xx_every: Option<u64>,
    /// Answer HTTP 200 with the real JSON body cut short.
    pub malformed_json_every: Option<u64>,
    /// Sleep this long before answering every call, token requests included.
    pub delay: Duration,
    /// Announce this lifetime (seconds) in every token answer instead of the real one, which the
    /// token keeps: `u64::MAX` and `0` are the absurd values a broken upstream sends.
    pub announced_token_lifetime: Option<u64>,
}

/// A fault chosen for one data call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Http5xx,
    MalformedJson,
    RateLimit,
    ConcurrencyLimit,
}

impl Faults {
    /// The fault for the data call with this 1-based ordinal, if any.
    pub fn fault_for_call(&self, ordinal: u64) -> Option<Fault> {
        let hits = |every: Option<u64>| {
            every.is_some_and(|n| n > 0 && ordinal > 0 && ordinal.is_multiple_of(n))
        };
        if hits(self.http_5xx_every) {
            Some(Fault::Http5xx)
        } else if hits(self.malformed_json_every) {
            Some(Fault::MalformedJson)
        } else if hits(self.rate_limit_every) {
            Some(Fault::RateLimit)
        } else if hits(self.concurrency_limit_every) {
            Some(Fault::ConcurrencyLimit)
        } else {
            None
        }
    }

    /// One schedule per fault kind, each on its own, for suites that run a client through every
    /// kind: the transient faults hit every `every`th data call, the token dies after `every + 3`
    /// calls (enough room for a client with a few requests in flight to use a fresh one).
    pub fn each_kind(every: u64) -> Vec<(&'static str, Faults)> {
        let one = |set: fn(&mut Faults, u64), n: u64| {
            let mut faults = Faults::default();
            set(&mut faults, n);
            faults
        };
        vec![
            (
                "token expiry",
                one(|f, n| f.token_expires_after_calls = Some(n), every + 3),
            ),
            (
                "rate limit",
                one(|f, n| f.rate_limit_every = Some(n), every),
            ),
            (
                "concurrency limit",
                one(|f, n| f.concurrency_limit_every = Some(n), every),
            ),
            (
                "HTTP 5xx with an HTML page",
                one(|f, n| f.http_5xx_every = Some(n), every),
            ),
            (
                "truncated JSON",
                one(|f, n| f.malformed_json_every = Some(n), every),
            ),
        ]
    }

    /// Whether a transient schedule hits every single call (`Some(1)`): then no retry is spared.
    fn hits_every_call(&self) -> bool {
        [
            self.rate_limit_every,
            self.concurrency_limit_every,
            self.http_5xx_every,
            self.malformed_json_every,
        ]
        .contains(&Some(1))
    }

    /// The effective per-token call budget (`Some(0)` means no limit, like `None`).
    fn token_budget(&self) -> Option<u64> {
        self.token_expires_after_calls.filter(|&n| n > 0)
    }
}

/// Takes a lock even if a panicking thread poisoned it: the guarded data are plain counters and
/// maps that stay consistent between statements, and an emulator must keep answering.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The current faults, the data-call ordinal their schedules count from, and which requests just
/// got a fault.
#[derive(Debug, Default)]
pub struct FaultInjector {
    state: Mutex<Schedule>,
}

#[derive(Debug, Default)]
struct Schedule {
    faults: Faults,
    ordinal: u64,
    /// Requests (by a hash of what identifies them) whose last attempt got a fault: their next
    /// attempt is spared, so a schedule of "every N" (N > 1) leaves room for a retry even when
    /// several requests are in flight and their attempts interleave.
    faulted: HashSet<u64>,
    /// A fault the schedule chose for a spared retry, given to the next other request instead.
    deferred: Option<Fault>,
    hasher: RandomState,
}

impl FaultInjector {
    pub fn new(faults: Faults) -> Self {
        FaultInjector {
            state: Mutex::new(Schedule {
                faults,
                ..Schedule::default()
            }),
        }
    }

    /// Replaces the faults and restarts their schedules: the next data call is call 1.
    pub fn set(&self, faults: Faults) {
        let mut state = lock(&self.state);
        state.faults = faults;
        state.ordinal = 0;
        state.faulted.clear();
        state.deferred = None;
    }

    pub fn faults(&self) -> Faults {
        lock(&self.state).faults.clone()
    }

    /// The configured delay (applies to every call).
    pub fn delay(&self) -> Duration {
        lock(&self.state).faults.delay
    }

    /// Counts one data call and returns the fault it gets, if any. `request` identifies the
    /// request (path, query and body): the retry of a request that just got a fault is spared and
    /// the fault moves to the next other request, unless a schedule hits every call. Without
    /// this, two requests in flight whose attempts alternate would land one of them on every
    /// "every 2nd" slot until it gives up.
    pub fn next_data_call(&self, request: &[u8]) -> Option<Fault> {
        let mut state = lock(&self.state);
        state.ordinal += 1;
        let ordinal = state.ordinal;
        let scheduled = state.faults.fault_for_call(ordinal);
        let fault = match (state.deferred.take(), scheduled) {
            (Some(deferred), later) => {
                state.deferred = later;
                Some(deferred)
            }
            (None, scheduled) => scheduled,
        };
        let key = state.hasher.hash_one(request);
        if state.faulted.remove(&key) && !state.faults.hits_every_call() {
            state.deferred = state.deferred.or(fault);
            return None;
        }
        if fault.is_some() {
            state.faulted.insert(key);
        }
        fault
    }

    /// The lifetime a token answer announces for a token living `real` seconds: that, unless
    /// [`Faults::announced_token_lifetime`] says otherwise.
    pub fn announced_lifetime(&self, real: u64) -> u64 {
        lock(&self.state)
            .faults
            .announced_token_lifetime
            .unwrap_or(real)
    }

    /// After how many data calls a token dies, if that fault is on.
    pub fn token_budget(&self) -> Option<u64> {
        lock(&self.state).faults.token_budget()
    }
}

/// Per-path call counters. Every request is counted, token requests and unknown paths included.
#[derive(Debug, Default)]
pub struct CallLog {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl CallLog {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record(&self, path: &str) {
        let mut counts = lock(&self.counts);
        match counts.get_mut(path) {
            Some(count) => *count += 1,
            None => {
                counts.insert(path.to_owned(), 1);
            }
        }
    }

    /// Calls to this exact path (e.g. `/cgi-bin/user/list`), 0 if never called.
    pub fn calls(&self, path: &str) -> u64 {
        lock(&self.counts).get(path).copied().unwrap_or(0)
    }

    /// Calls over all paths.
    pub fn total(&self) -> u64 {
        lock(&self.counts).values().sum()
    }

    /// All counters, by path.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        lock(&self.counts).clone()
    }

    pub fn reset(&self) {
        lock(&self.counts).clear();
    }
}

/// What a presented access token is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Valid,
    /// Never issued here, forgotten, or revoked by [`TokenBook::revoke_all`].
    Unknown,
    /// Older than its time to live.
    Expired,
    /// Killed by [`Faults::token_expires_after_calls`]. `occurrence` numbers these deaths from 1 in
    /// the order they happened, so an emulator can vary its answer (WeCom says 42001 or 40014).
    CallBudgetExhausted {
        occurrence: u64,
    },
}

#[derive(Debug)]
struct TokenRecord {
    issued: Instant,
    ttl: Duration,
    uses: u64,
    exhausted: Option<u64>,
}

impl TokenRecord {
    fn usable(&self, now: Instant) -> bool {
        self.exhausted.is_none() && now.duration_since(self.issued) < self.ttl
    }
}

#[derive(Debug, Default)]
struct TokenBookState {
    records: HashMap<String, TokenRecord>,
    /// The token `issue` hands out again while it is usable (platforms return the same token
    /// until it expires).
    current: Option<String>,
    serial: u64,
    exhaustions: u64,
}

/// Access tokens issued by one emulator: lifetime, per-token call budget, revocation.
#[derive(Debug)]
pub struct TokenBook {
    prefix: &'static str,
    /// Random per book, so a token from an earlier emulator instance never validates here.
    salt: RandomState,
    state: Mutex<TokenBookState>,
}

/// Records kept at most; older ones are forgotten and then answer [`TokenStatus::Unknown`].
const MAX_TOKEN_RECORDS: usize = 1024;

/// A token that was just issued or handed out again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    /// Remaining lifetime, rounded up to whole seconds.
    pub expires_in: u64,
}

impl TokenBook {
    /// `prefix` starts every token, e.g. `"wc-tok-"`.
    pub fn new(prefix: &'static str) -> Self {
        TokenBook {
            prefix,
            salt: RandomState::new(),
            state: Mutex::new(TokenBookState::default()),
        }
    }

    /// Returns the current token while it is usable, else a fresh one living `ttl`.
    pub fn issue(&self, ttl: Duration) -> IssuedToken {
        self.issue_renewing(ttl, Duration::ZERO)
    }

    /// Like [`TokenBook::issue`], but a current token with less than `window` left is replaced by
    /// a fresh one while staying valid until its own expiry (Feishu's last 30 minutes).
    pub fn issue_renewing(&self, ttl: Duration, window: Duration) -> IssuedToken {
        let now = Instant::now();
        let mut state = lock(&self.state);
        if let Some(current) = &state.current
            && let Some(record) = state.records.get(current)
            && record.usable(now)
        {
            let left = record.ttl.saturating_sub(now.duration_since(record.issued));
            if left >= window {
                return IssuedToken {
                    token: current.clone(),
                    expires_in: ceil_secs(left),
                };
            }
        }
        state.serial += 1;
        let token = format!(
            "{}{:016x}{:04x}",
            self.prefix,
            self.salt.hash_one(state.serial),
            state.serial
        );
        if state.records.len() >= MAX_TOKEN_RECORDS
            && let Some(oldest) = state
                .records
                .iter()
                .min_by_key(|(_, r)| r.issued)
                .map(|(t, _)| t.clone())
        {
            state.records.remove(&oldest);
        }
        state.records.insert(
            token.clone(),
            TokenRecord {
                issued: now,
                ttl,
                uses: 0,
                exhausted: None,
            },
        );
        state.current = Some(token.clone());
        IssuedToken {
            token,
            expires_in: ceil_secs(ttl),
        }
    }

    /// Checks a token presented with a data call and, when it is valid, counts the call against its
    /// budget (`budget` = [`FaultInjector::token_budget`]). The call that exceeds the budget is the
    /// first to be refused.
    pub fn check_and_use(&self, token: &str, budget: Option<u64>) -> TokenStatus {
        let now = Instant::now();
        let mut state = lock(&self.state);
        let state = &mut *state;
        let Some(record) = state.records.get_mut(token) else {
            return TokenStatus::Unknown;
        };
        if let Some(occurrence) = record.exhausted {
            return TokenStatus::CallBudgetExhausted { occurrence };
        }
        if now.duration_since(record.issued) >= record.ttl {
            return TokenStatus::Expired;
        }
        record.uses += 1;
        if budget.is_some_and(|n| record.uses > n) {
            state.exhaustions += 1;
            record.exhausted = Some(state.exhaustions);
            return TokenStatus::CallBudgetExhausted {
                occurrence: state.exhaustions,
            };
        }
        TokenStatus::Valid
    }

    /// Restarts every token's call budget (used when faults change, so budgets count from then).
    pub fn reset_uses(&self) {
        for record in lock(&self.state).records.values_mut() {
            record.uses = 0;
        }
    }

    /// Invalidates every issued token; they answer [`TokenStatus::Unknown`] from now on.
    pub fn revoke_all(&self) {
        let mut state = lock(&self.state);
        state.records.clear();
        state.current = None;
    }
}

fn ceil_secs(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_n_hits_multiples_only() {
        let faults = Faults {
            rate_limit_every: Some(3),
            ..Faults::default()
        };
        let hits: Vec<u64> = (1..=10)
            .filter(|&n| faults.fault_for_call(n).is_some())
            .collect();
        assert_eq!(hits, vec![3, 6, 9]);
    }

    #[test]
    fn zero_and_none_mean_off() {
        let faults = Faults {
            http_5xx_every: Some(0),
            ..Faults::default()
        };
        assert!((0..100).all(|n| faults.fault_for_call(n).is_none()));
        assert!((0..100).all(|n| Faults::default().fault_for_call(n).is_none()));
    }

    #[test]
    fn coinciding_schedules_pick_the_first_field() {
        let faults = Faults {
            http_5xx_every: Some(4),
            malformed_json_every: Some(2),
            rate_limit_every: Some(1),
            concurrency_limit_every: Some(1),
            ..Faults::default()
        };
        assert_eq!(faults.fault_for_call(4), Some(Fault::Http5xx));
        assert_eq!(faults.fault_for_call(2), Some(Fault::MalformedJson));
        assert_eq!(faults.fault_for_call(1), Some(Fault::RateLimit));
    }

    #[test]
    fn injector_restarts_schedule_on_set() {
        let injector = FaultInjector::new(Faults {
            rate_limit_every: Some(2),
            ..Faults::default()
        });
        assert_eq!(injector.next_data_call(b"a"), None);
        injector.set(Faults {
            rate_limit_every: Some(2),
            ..Faults::default()
        });
        assert_eq!(injector.next_data_call(b"a"), None);
        assert_eq!(injector.next_data_call(b"b"), Some(Fault::RateLimit));
    }

    /// Two requests whose attempts alternate: without sparing, `b` would land on every even slot
    /// forever. Its retry is spared and the fault goes to the next other request.
    #[test]
    fn the_retry_of_a_faulted_request_is_spared_when_attempts_interleave() {
        let injector = FaultInjector::new(Faults {
            http_5xx_every: Some(2),
            ..Faults::default()
        });
        assert_eq!(injector.next_data_call(b"a1"), None);
        assert_eq!(injector.next_data_call(b"b"), Some(Fault::Http5xx));
        assert_eq!(injector.next_data_call(b"a2"), None);
        assert_eq!(injector.next_data_call(b"b"), None, "the retry is spared");
        assert_eq!(
            injector.next_data_call(b"a3"),
            Some(Fault::Http5xx),
            "the spared fault moves on"
        );
        assert_eq!(injector.next_data_call(b"a3"), None);
    }

    #[test]
    fn a_fault_on_every_call_spares_nothing() {
        let injector = FaultInjector::new(Faults {
            http_5xx_every: Some(1),
            ..Faults::default()
        });
        for _ in 0..3 {
            assert_eq!(injector.next_data_call(b"a"), Some(Fault::Http5xx));
        }
    }

    #[test]
    fn call_log_counts_per_path() {
        let log = CallLog::new();
        log.record("/a");
        log.record("/a");
        log.record("/b");
        assert_eq!(
            (
                log.calls("/a"),
                log.calls("/b"),
                log.calls("/c"),
                log.total()
            ),
            (2, 1, 0, 3)
        );
        log.reset();
        assert_eq!(log.total(), 0);
    }

    #[test]
    fn token_is_reused_until_unusable() {
        let book = TokenBook::new("t-");
        let first = book.issue(Duration::from_secs(60));
        assert!(first.token.starts_with("t-"));
        assert_eq!(first.expires_in, 60);
        assert_eq!(book.issue(Duration::from_secs(60)).token, first.token);
        book.revoke_all();
        assert_eq!(book.check_and_use(&first.token, None), TokenStatus::Unknown);
        assert_ne!(book.issue(Duration::from_secs(60)).token, first.token);
    }

    #[test]
    fn token_budget_exhaustion_is_numbered_and_sticky() {
        let book = TokenBook::new("t-");
        let one = book.issue(Duration::from_secs(60)).token;
        assert_eq!(book.check_and_use(&one, Some(2)), TokenStatus::Valid);
        assert_eq!(book.check_and_use(&one, Some(2)), TokenStatus::Valid);
        assert_eq!(
            book.check_and_use(&one, Some(2)),
            TokenStatus::CallBudgetExhausted { occurrence: 1 }
        );
        assert_eq!(
            book.check_and_use(&one, None),
            TokenStatus::CallBudgetExhausted { occurrence: 1 }
        );
        let two = book.issue(Duration::from_secs(60)).token;
        assert_ne!(one, two);
        assert_eq!(book.check_and_use(&two, Some(1)), TokenStatus::Valid);
        assert_eq!(
            book.check_and_use(&two, Some(1)),
            TokenStatus::CallBudgetExhausted { occurrence: 2 }
        );
    }

    #[test]
    fn renewal_window_mints_a_new_token_and_keeps_the_old_one() {
        let book = TokenBook::new("t-");
        let old = book.issue(Duration::from_secs(60)).token;
        let new = book.issue_renewing(Duration::from_secs(60), Duration::from_secs(120));
        assert_ne!(new.token, old, "less than the window left: a new token");
        assert_eq!(new.expires_in, 60);
        assert_eq!(book.check_and_use(&old, None), TokenStatus::Valid);
        assert_eq!(book.check_and_use(&new.token, None), TokenStatus::Valid);
        let same = book.issue_renewing(Duration::from_secs(60), Duration::from_secs(30));
        assert_eq!(
            same.token, new.token,
            "more than the window left: the same token"
        );
    }

    #[test]
    fn token_expires_by_ttl() {
        let book = TokenBook::new("t-");
        let token = book.issue(Duration::ZERO).token;
        assert_eq!(book.check_and_use(&token, None), TokenStatus::Expired);
        assert_ne!(book.issue(Duration::from_secs(1)).token, token);
    }
}
