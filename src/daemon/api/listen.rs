//! Binding the admin API's listeners, with the checks that keep it local and private.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("admin socket {0} is in use by a running process (another orgsync?)")]
    SocketInUse(PathBuf),
    #[error("admin socket path {0} exists and is not a socket; remove it or set daemon.socket")]
    NotASocket(PathBuf),
    #[error("cannot create the admin socket {path}: {source}")]
    Socket { path: PathBuf, source: io::Error },
    #[error("daemon.tcp {0} is not a loopback address; the admin API is local only")]
    NotLoopback(std::net::SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Tcp {
        addr: std::net::SocketAddr,
        source: io::Error,
    },
}

/// Binds the Unix socket, then opens it to the group (0660): it is created at the umask set at
/// start-up (0077), so it is never wider than meant. A socket file left by a crashed daemon is replaced; one
/// that still answers is refused.
pub fn bind_unix(path: &Path) -> Result<tokio::net::UnixListener, ListenError> {
    let fail = |source| ListenError::Socket {
        path: path.to_owned(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(ListenError::NotASocket(path.to_owned()));
        }
        Ok(_) => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(ListenError::SocketInUse(path.to_owned()));
            }
            std::fs::remove_file(path).map_err(fail)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e)),
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(fail)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(fail)?;
    Ok(listener)
}

pub async fn bind_tcp(addr: std::net::SocketAddr) -> Result<tokio::net::TcpListener, ListenError> {
    if !addr.ip().is_loopback() {
        return Err(ListenError::NotLoopback(addr));
    }
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError::Tcp { addr, source })
}
