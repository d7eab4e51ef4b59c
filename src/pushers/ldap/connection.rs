//! One bound LDAP connection shared by every worker (ldap3 multiplexes operations over it),
//! opened on first use and opened again after it drops.

use super::config::LdapTargetConfig;
use crate::config::{RetryConfig, Secret};
use crate::pushers::PushError;
use backon::Retryable;
use ldap3::adapters::PagedResults;
use ldap3::result::LdapError;
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapResult, Scope, SearchEntry};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

pub(super) struct Connection {
    url: String,
    settings: LdapConnSettings,
    bind_dn: String,
    password: Secret,
    timeout: Duration,
    retry: RetryConfig,
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    ldap: Option<Ldap>,
    /// Bumped per connection, so a worker that saw a connection fail drops that one and not
    /// a newer one another worker opened meanwhile.
    generation: u64,
}

/// Why an operation did not succeed.
#[derive(Debug)]
pub(super) enum OpError {
    /// The server answered with a result code; the caller decides what it means for its
    /// operation (68 on add, 32 on delete are not failures).
    Code(LdapResult),
    /// No answer: connecting, binding or the connection failed. Already a complete error.
    Failed(PushError),
}

impl OpError {
    pub fn code(&self) -> Option<u32> {
        match self {
            OpError::Code(result) => Some(result.rc),
            OpError::Failed(PushError::Directory { code, .. }) => Some(*code),
            OpError::Failed(_) => None,
        }
    }

    /// The error for the log: the result code, without the entry or the server's text, which
    /// quote people's values.
    pub fn for_log(&self) -> String {
        match self {
            OpError::Code(result) => {
                format!(
                    "LDAP {} {}",
                    result.rc,
                    crate::pushers::ldap_result_name(result.rc)
                )
            }
            OpError::Failed(error) => error.for_log(),
        }
    }

    /// A complete error naming the operation and the entry.
    pub fn into_push(self, operation: &str, dn: &str) -> PushError {
        match self {
            OpError::Code(result) => {
                let mut detail = format!("{operation} {dn}");
                if !result.text.is_empty() {
                    detail.push_str(": ");
                    detail.push_str(&result.text);
                }
                PushError::Directory {
                    code: result.rc,
                    detail,
                }
            }
            OpError::Failed(error) => error,
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            OpError::Code(result) => matches!(result.rc, 51 | 52),
            OpError::Failed(error) => error.is_retryable(),
        }
    }
}

/// A TLS client that trusts exactly the CA certificates in `path` (and verifies as always).
fn tls_config(path: &Path) -> Result<Arc<rustls::ClientConfig>, PushError> {
    let setup = |detail: String| PushError::Setup {
        detail: format!("tls_ca_file {}: {detail}", path.display()),
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| setup(e.to_string()))? {
        let cert = cert.map_err(|e| setup(e.to_string()))?;
        roots.add(cert).map_err(|e| setup(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(setup("holds no PEM certificate".into()));
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

impl Connection {
    pub(super) fn new(config: &LdapTargetConfig, password: Secret) -> Result<Self, PushError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(config.timeout.0.min(Duration::from_secs(10)))
            .set_starttls(config.starttls)
            .set_no_tls_verify(!config.tls_verify);
        if let Some(path) = &config.tls_ca_file {
            settings = settings.set_config(tls_config(path)?);
        }
        Ok(Connection {
            url: config.url.to_string(),
            settings,
            bind_dn: config.bind_dn.clone(),
            password,
            timeout: config.timeout.0,
            retry: config.retry.clone(),
            slot: Mutex::new(Slot::default()),
        })
    }

    /// A handle on the bound connection, opening and binding one if there is none.
    /// Returns the connection's generation and whether this call opened it.
    async fn handle(&self) -> Result<(u64, bool, Ldap), PushError> {
        let mut slot = self.slot.lock().await;
        let generation = slot.generation;
        if let Some(ldap) = slot.ldap.as_mut()
            && !ldap.is_closed()
        {
            return Ok((generation, false, ldap.clone()));
        }
        let ldap = self.open().await?;
        slot.generation += 1;
        slot.ldap = Some(ldap.clone());
        Ok((slot.generation, true, ldap))
    }

    async fn open(&self) -> Result<Ldap, PushError> {
        let (conn, mut ldap) = LdapConnAsync::with_settings(self.settings.clone(), &self.url)
            .await
            .map_err(|e| PushError::Transport {
                detail: format!("cannot connect to {}: {}", self.url, describe(&e)),
                retryable: matches!(e, LdapError::Timeout { .. }),
            })?;
        let url = self.url.clone();
        tokio::spawn(async move {
            if let Err(error) = conn.drive().await {
                debug!(%url, error = %describe(&error), "The LDAP connection ended.");
            }
        });
        let bound = ldap
            .with_timeout(self.timeout)
            .simple_bind(&self.bind_dn, self.password.expose())
            .await
            .and_then(LdapResult::success);
        match bound {
            Ok(_) => {
                info!(url = %self.url, bind_dn = %self.bind_dn, "Connected to the LDAP server.");
                Ok(ldap)
            }
            // The password is never part of the message: only the DN and the server's words.
            Err(LdapError::LdapResult { result }) => Err(PushError::Directory {
                code: result.rc,
                detail: match result.rc {
                    49 => format!(
                        "the LDAP server at {} refused to bind as {}: wrong bind_dn or \
                         bind_password",
                        self.url, self.bind_dn
                    ),
                    _ => format!(
                        "the LDAP server at {} refused to bind as {}: {}",
                        self.url, self.bind_dn, result.text
                    ),
                },
            }),
            Err(error) => Err(PushError::Transport {
                detail: format!(
                    "binding to {} as {} failed: {}",
                    self.url,
                    self.bind_dn,
                    describe(&error)
                ),
                retryable: matches!(error, LdapError::Timeout { .. }),
            }),
        }
    }

    async fn forget(&self, generation: u64) {
        let mut slot = self.slot.lock().await;
        if slot.generation == generation {
            slot.ldap = None;
        }
    }

    /// Runs `op` on the shared connection (with the configured timeout), retrying while the
    /// server is busy or unavailable or the operation times out. A connection found dead is
    /// replaced and the operation tried once more on the new one: a server or firewall may
    /// close a connection that sat idle between runs. Operations are idempotent by design
    /// (the callers treat 68 on add and 32 on delete accordingly), so a repeat is safe.
    pub(super) async fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T, OpError>
    where
        F: Fn(Ldap) -> Fut,
        Fut: Future<Output = Result<T, LdapError>>,
    {
        let attempt = || self.attempt(what, &op);
        attempt
            .retry(self.retry.backoff())
            .when(OpError::is_retryable)
            .notify(|error: &OpError, delay: Duration| {
                warn!(operation = what, error = %error.for_log(), delay_ms = delay.as_millis() as u64, "The LDAP operation failed; retrying.");
            })
            .await
    }

    async fn attempt<T, F, Fut>(&self, what: &str, op: &F) -> Result<T, OpError>
    where
        F: Fn(Ldap) -> Fut,
        Fut: Future<Output = Result<T, LdapError>>,
    {
        let (generation, fresh, ldap) = self.handle().await.map_err(OpError::Failed)?;
        match self.call(what, op, ldap).await {
            Err(Lost(error)) => {
                self.forget(generation).await;
                if fresh {
                    return Err(OpError::Failed(self.lost(what, &error)));
                }
                debug!(operation = what, error = %describe(&error), "The LDAP connection was lost; reconnecting once.");
                let (generation, _, ldap) = self.handle().await.map_err(OpError::Failed)?;
                match self.call(what, op, ldap).await {
                    Err(Lost(error)) => {
                        self.forget(generation).await;
                        Err(OpError::Failed(self.lost(what, &error)))
                    }
                    Ok(result) => result,
                }
            }
            Ok(result) => result,
        }
    }

    /// Outer error: the connection is gone. Inner result: what the server said.
    async fn call<T, F, Fut>(
        &self,
        what: &str,
        op: &F,
        mut ldap: Ldap,
    ) -> Result<Result<T, OpError>, Lost>
    where
        F: Fn(Ldap) -> Fut,
        Fut: Future<Output = Result<T, LdapError>>,
    {
        ldap.with_timeout(self.timeout);
        match op(ldap).await {
            Ok(value) => Ok(Ok(value)),
            Err(LdapError::LdapResult { result }) => Ok(Err(OpError::Code(result))),
            Err(
                error @ (LdapError::Io { .. }
                | LdapError::OpSend { .. }
                | LdapError::ResultRecv { .. }
                | LdapError::EndOfStream),
            ) => Err(Lost(error)),
            Err(LdapError::Timeout { .. }) => Ok(Err(OpError::Failed(PushError::Transport {
                detail: format!(
                    "{what}: no answer from {} within {} ms",
                    self.url,
                    self.timeout.as_millis()
                ),
                retryable: true,
            }))),
            Err(error) => Ok(Err(OpError::Failed(PushError::Transport {
                detail: format!("{what}: {}", describe(&error)),
                retryable: false,
            }))),
        }
    }

    fn lost(&self, what: &str, error: &LdapError) -> PushError {
        PushError::Transport {
            detail: format!(
                "{what}: the connection to {} was lost ({}); the next operation reconnects",
                self.url,
                describe(error)
            ),
            retryable: false,
        }
    }

    /// Entries matching `filter` under `base`, in pages when the server supports the paged
    /// results control (it is sent as non-critical, so a server without it answers in one go).
    pub(super) async fn search(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attributes: &[String],
        page_size: i32,
    ) -> Result<Vec<SearchEntry>, OpError> {
        let what = format!("search {base}");
        self.run(&what, |mut ldap| {
            let attributes = attributes.to_vec();
            async move {
                let mut stream = ldap
                    .streaming_search_with(
                        PagedResults::new(page_size),
                        base,
                        scope,
                        filter,
                        attributes,
                    )
                    .await?;
                let mut entries = Vec::new();
                while let Some(entry) = stream.next().await? {
                    entries.push(SearchEntry::construct(entry));
                }
                stream.finish().await.success()?;
                Ok(entries)
            }
        })
        .await
    }
}

struct Lost(LdapError);

/// ldap3's error text, with the I/O cause spelled out.
fn describe(error: &LdapError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    if text.contains("invalid peer certificate") {
        // The usual cause is a directory with an internal CA; say where to put it.
        text.push_str(
            " (the server's certificate is not trusted for this name: set tls_ca_file to the \
             PEM of the CA that signed it)",
        );
    }
    text
}
