//! One throwaway Samba Active Directory domain controller per test binary (Samba listens on the
//! standard ports, so two cannot run at once): provisioned by scripts/samba-dc into a temp
//! directory on first use, shared by the binary's tests (each in its own OU). Samba runs with
//! `-i` and a pipe as stdin, which it watches: when the test process ends, however it ends, the
//! pipe closes and Samba exits; the shell around it then removes the directory.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const BASE: &str = "DC=orgsync,DC=test";
pub const ADMIN: &str = "CN=Administrator,CN=Users,DC=orgsync,DC=test";

pub struct Samba {
    pub dir: PathBuf,
    pub password: String,
    _child: Mutex<Child>,
    _stdin: Mutex<ChildStdin>,
}

impl Samba {
    pub fn ca(&self) -> PathBuf {
        self.dir.join("tls/ca.pem")
    }

    pub fn url(&self) -> &'static str {
        "ldaps://127.0.0.1:636"
    }

    /// `ldapsearch` (the real tool) over LDAPS with the CA: the entries under `base`, as LDIF.
    pub fn ldapsearch(&self, base: &str, filter: &str, attributes: &[&str]) -> String {
        let output = Command::new("ldapsearch")
            .env("LDAPTLS_CACERT", self.ca())
            .args([
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-H",
                self.url(),
                "-D",
                ADMIN,
                "-w",
            ])
            .arg(&self.password)
            .args(["-b", base, filter])
            .args(attributes)
            .output()
            .expect("ldapsearch runs (ldap-utils)");
        assert!(
            output.status.success(),
            "ldapsearch -b {base} {filter}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `ldapmodify` with this LDIF.
    pub fn ldapmodify(&self, ldif: &str) {
        use std::io::Write;
        let mut child = Command::new("ldapmodify")
            .env("LDAPTLS_CACERT", self.ca())
            .args(["-H", self.url(), "-D", ADMIN, "-w"])
            .arg(&self.password)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ldapmodify runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "ldapmodify: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Creates an OU under the base for one test, empty. `People` and `Groups` are taken:
    /// scripts/samba-dc makes them for config/demo-ad.toml.
    pub fn fresh_ou(&self, name: &str) -> String {
        let dn = format!("OU={name},{BASE}");
        self.ldapmodify(&format!(
            "dn: {dn}\nchangetype: add\nobjectClass: organizationalUnit\nou: {name}\n"
        ));
        dn
    }
}

/// The domain controller, started on first use; None (with a message) where it cannot run
/// outside CI. In CI (CI=true) a missing Samba or a non-root user fails the test.
pub fn samba() -> Option<&'static Samba> {
    static SAMBA: OnceLock<Option<Samba>> = OnceLock::new();
    SAMBA.get_or_init(start).as_ref()
}

fn skip(reason: &str) -> Option<Samba> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!ci, "the Active Directory tests need Samba in CI: {reason}");
    eprintln!("SKIPPED: the Active Directory tests need {reason} (scripts/test installs Samba)");
    None
}

fn start() -> Option<Samba> {
    if !nix_is_root() {
        return skip("root (Samba's DC binds ports below 1024)");
    }
    if !std::path::Path::new("/usr/sbin/samba").exists()
        || Command::new("samba-tool")
            .arg("--version")
            .output()
            .is_err()
    {
        return skip("Debian's samba, samba-ad-dc and samba-ad-provision packages");
    }
    let dir = std::env::temp_dir().join(format!("orgsync-samba-{}", std::process::id()));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/samba-dc");
    let prepared = Command::new(&script)
        .arg("prepare")
        .arg(&dir)
        .output()
        .expect("scripts/samba-dc runs");
    assert!(
        prepared.status.success(),
        "scripts/samba-dc prepare: {}{}",
        String::from_utf8_lossy(&prepared.stdout),
        String::from_utf8_lossy(&prepared.stderr)
    );
    let password = std::fs::read_to_string(dir.join("adminpass"))
        .unwrap()
        .trim()
        .to_owned();
    // No other DC may hold the ports (a previous binary's Samba exits within a second).
    wait_port_free();
    let conf = dir.join("etc/smb.conf");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#"samba -i -M single -s "$1" >"$2/samba.log" 2>&1; rm -rf "$2""#)
        .arg("sh")
        .arg(&conf)
        .arg(&dir)
        .stdin(Stdio::piped())
        .spawn()
        .expect("samba starts");
    let stdin = child.stdin.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect("127.0.0.1:636").is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut log = String::new();
            let _ =
                std::fs::File::open(dir.join("samba.log")).map(|mut f| f.read_to_string(&mut log));
            panic!("samba exited ({status}) before listening: {log}");
        }
        assert!(
            Instant::now() < deadline,
            "samba did not listen on 636 in 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Some(Samba {
        dir,
        password,
        _child: Mutex::new(child),
        _stdin: Mutex::new(stdin),
    })
}

fn wait_port_free() {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect("127.0.0.1:636").is_ok() {
        assert!(
            Instant::now() < deadline,
            "something else holds 127.0.0.1:636 (a Samba DC left running by scripts/samba-dc, or \
             slapd?): stop it, the tests start a DC of their own"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
