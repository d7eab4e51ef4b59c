//! Server-side rate limits as the platforms enforce them, with a speed-up factor so tests can run
//! a platform's limits in a fraction of the real time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How one limit counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// At most `requests` in each aligned window (DingTalk's 1 s, WeCom's and Feishu's minute).
    FixedWindow { requests: u32, window: Duration },
    /// A counter that grows by one per request and drains at `drain_per_second`; requests are
    /// refused while it is above `capacity` (Bitrix24).
    LeakyBucket {
        capacity: u32,
        drain_per_second: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    pub policy: Policy,
    /// Counted per endpoint path, or over all requests.
    pub per_endpoint: bool,
}

/// Fixed windows counted per endpoint: `(requests, window in seconds)` each, as WeCom and Feishu
/// document theirs.
pub fn per_endpoint_windows(limits: &[(u32, u64)]) -> Vec<Rule> {
    limits
        .iter()
        .map(|&(requests, secs)| Rule {
            policy: Policy::FixedWindow {
                requests,
                window: Duration::from_secs(secs),
            },
            per_endpoint: true,
        })
        .collect()
}

/// Decides, request by request, whether a limit is exceeded. Thread-safe.
#[derive(Debug)]
pub struct Enforcer {
    rules: Vec<Rule>,
    speedup: f64,
    started: Instant,
    state: Mutex<HashMap<(usize, String), Counter>>,
    rejections: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
enum Counter {
    Window { index: u64, count: u32 },
    Bucket { level: f64, at: Instant },
}

impl Enforcer {
    /// `speedup` > 1 shortens windows and speeds draining by that factor (10 → 10× faster).
    pub fn new(rules: Vec<Rule>, speedup: f64) -> Self {
        Enforcer {
            rules,
            speedup: if speedup > 0.0 { speedup } else { 1.0 },
            started: Instant::now(),
            state: Mutex::new(HashMap::new()),
            rejections: AtomicU64::new(0),
        }
    }

    pub fn unlimited() -> Self {
        Self::new(Vec::new(), 1.0)
    }

    /// Counts the request and says whether it is allowed; `Err` carries how long until it would be.
    pub fn check(&self, endpoint: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut refused: Option<Duration> = None;
        for (i, rule) in self.rules.iter().enumerate() {
            let key = (
                i,
                if rule.per_endpoint {
                    endpoint.to_owned()
                } else {
                    String::new()
                },
            );
            match rule.policy {
                Policy::FixedWindow { requests, window } => {
                    let window = window.div_f64(self.speedup).max(Duration::from_micros(1));
                    let elapsed = now.duration_since(self.started);
                    let index = (elapsed.as_nanos() / window.as_nanos()) as u64;
                    let counter = state
                        .entry(key)
                        .or_insert(Counter::Window { index, count: 0 });
                    if let Counter::Window {
                        index: current,
                        count,
                    } = counter
                    {
                        if *current != index {
                            *current = index;
                            *count = 0;
                        }
                        *count += 1;
                        if *count > requests {
                            let next = window.mul_f64((index + 1) as f64).saturating_sub(elapsed);
                            refused = Some(refused.map_or(next, |r| r.max(next)));
                        }
                    }
                }
                Policy::LeakyBucket {
                    capacity,
                    drain_per_second,
                } => {
                    let drain = drain_per_second * self.speedup;
                    let counter = state.entry(key).or_insert(Counter::Bucket {
                        level: 0.0,
                        at: now,
                    });
                    if let Counter::Bucket { level, at } = counter {
                        *level = (*level - now.duration_since(*at).as_secs_f64() * drain).max(0.0);
                        *at = now;
                        *level += 1.0;
                        if *level > capacity as f64 {
                            let wait = Duration::from_secs_f64(
                                (*level - capacity as f64) / drain.max(1e-9),
                            );
                            refused = Some(refused.map_or(wait, |r| r.max(wait)));
                        }
                    }
                }
            }
        }
        match refused {
            None => Ok(()),
            Some(wait) => {
                self.rejections.fetch_add(1, Ordering::Relaxed);
                Err(wait)
            }
        }
    }

    /// Requests refused so far.
    pub fn rejections(&self) -> u64 {
        self.rejections.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_window_refuses_the_excess() {
        let enforcer = Enforcer::new(
            vec![Rule {
                policy: Policy::FixedWindow {
                    requests: 3,
                    window: Duration::from_secs(3600),
                },
                per_endpoint: true,
            }],
            1.0,
        );
        assert!(enforcer.check("/a").is_ok());
        assert!(enforcer.check("/a").is_ok());
        assert!(enforcer.check("/a").is_ok());
        assert!(enforcer.check("/a").is_err());
        assert!(enforcer.check("/b").is_ok(), "per endpoint");
        assert_eq!(enforcer.rejections(), 1);
    }

    #[test]
    fn leaky_bucket_allows_a_burst_then_refuses() {
        let enforcer = Enforcer::new(
            vec![Rule {
                policy: Policy::LeakyBucket {
                    capacity: 50,
                    drain_per_second: 0.001,
                },
                per_endpoint: false,
            }],
            1.0,
        );
        for _ in 0..50 {
            assert!(enforcer.check("/x").is_ok());
        }
        assert!(enforcer.check("/y").is_err());
    }
}
