//! The one place orgsync builds an HTTP client for the network (pullers, SCIM and webhook
//! targets, notification channels): the same timeouts and User-Agent everywhere, and the redirect
//! rule each caller needs.

use std::time::Duration;

/// Whether a client follows redirects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirects {
    /// Up to reqwest's default of 10 (reads, and SCIM, whose servers may move).
    Follow,
    /// A redirected POST turns into a GET or loses its body: a receiver's URL must be final.
    Refuse,
}

/// A client whose whole request times out after `timeout`, and whose connect does after
/// `timeout` or 10 s, whichever is shorter. The error is the reason alone, without a URL.
pub fn build(timeout: Duration, redirects: Redirects) -> Result<reqwest::Client, String> {
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("orgsync/", env!("CARGO_PKG_VERSION")));
    let builder = match redirects {
        Redirects::Follow => builder,
        Redirects::Refuse => builder.redirect(reqwest::redirect::Policy::none()),
    };
    builder.build().map_err(|e| e.without_url().to_string())
}
