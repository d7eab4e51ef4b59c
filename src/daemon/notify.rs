//! systemd's readiness protocol (sd_notify): one datagram per state change to `$NOTIFY_SOCKET`.
//! Hand-written: it is a single `sendto`, and libsystemd is not linked.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;
use tracing::{debug, warn};

/// Where to tell systemd about the service's state; does nothing when not started by systemd.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    socket: Option<NotifyAddr>,
}

#[derive(Debug, Clone)]
enum NotifyAddr {
    Path(PathBuf),
    /// `@name`: a Linux abstract socket.
    Abstract(Vec<u8>),
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET`.
    pub fn from_env() -> Self {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|value| {
            let bytes = value.as_encoded_bytes();
            match bytes.first() {
                Some(b'@') => Some(NotifyAddr::Abstract(bytes[1..].to_vec())),
                Some(b'/') => Some(NotifyAddr::Path(PathBuf::from(value))),
                _ => None,
            }
        });
        Notifier { socket }
    }

    pub fn is_enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// Sends `state` (newline-separated `KEY=value` lines). Failures are logged, never fatal:
    /// systemd not listening must not stop a sync.
    pub fn notify(&self, state: &str) {
        let Some(addr) = &self.socket else { return };
        // Non-blocking: a full queue drops the message rather than stalling the runtime.
        let sent = UnixDatagram::unbound().and_then(|socket| {
            socket.set_nonblocking(true)?;
            Ok(socket)
        });
        let sent = sent.and_then(|socket| match addr {
            NotifyAddr::Path(path) => socket.send_to(state.as_bytes(), path),
            NotifyAddr::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                socket.send_to_addr(state.as_bytes(), &addr)
            }
        });
        match sent {
            Ok(_) => debug!(state, "Told systemd."),
            Err(e) => warn!(error = %e, "Cannot notify systemd."),
        }
    }

    /// `STATUS=` takes one line.
    pub fn status(&self, text: &str) {
        self.notify(&format!("STATUS={}", text.replace('\n', " ")));
    }
}

/// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, when it is set for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams_to_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier {
            socket: Some(NotifyAddr::Path(path)),
        };
        notifier.notify("READY=1");
        notifier.status("last run hq-1: applied\nsecond line");
        let mut buf = [0u8; 256];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STATUS=last run hq-1: applied second line");
    }

    #[test]
    fn sends_datagrams_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("orgsync-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let notifier = Notifier {
            socket: Some(NotifyAddr::Abstract(name.into_bytes())),
        };
        notifier.notify("WATCHDOG=1");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"WATCHDOG=1");
    }

    #[test]
    fn without_notify_socket_nothing_is_sent() {
        let notifier = Notifier::default();
        assert!(!notifier.is_enabled());
        notifier.notify("READY=1");
    }
}
