//! A throwaway OpenLDAP slapd per test: its own slapd.conf, database and port in a temp dir,
//! started in the foreground, killed on drop. `scripts/test` installs slapd (Debian's package).

use ldap3::{Ldap, LdapConnAsync, Mod, Scope, SearchEntry};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const SUFFIX: &str = "dc=example,dc=com";
pub const ADMIN: &str = "cn=admin,dc=example,dc=com";
pub const PASSWORD: &str = "secret";
pub const PEOPLE: &str = "ou=people,dc=example,dc=com";
pub const DISABLED: &str = "ou=disabled,dc=example,dc=com";
pub const GROUPS: &str = "ou=groups,dc=example,dc=com";

pub struct Slapd {
    dir: TempDir,
    port: u16,
    /// The ldaps:// port of a server started with TLS.
    tls_port: Option<u16>,
    child: Option<Child>,
}

/// One person entry as a plain search returns it; attribute names lowercased.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub dn: String,
    pub attrs: BTreeMap<String, Vec<String>>,
}

impl Entry {
    pub fn get(&self, attribute: &str) -> Option<&str> {
        self.values(attribute).first().map(String::as_str)
    }

    pub fn values(&self, attribute: &str) -> &[String] {
        self.attrs
            .get(&attribute.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }
}

fn binary() -> PathBuf {
    let path = PathBuf::from(
        std::env::var("ORGSYNC_SLAPD").unwrap_or_else(|_| "/usr/sbin/slapd".to_owned()),
    );
    assert!(
        path.exists(),
        "OpenLDAP slapd is not installed (looked for {}): run scripts/test, which installs \
         Debian's slapd and ldap-utils and sets ORGSYNC_SLAPD",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Slapd {
    /// Starts a server with the base entries (`dc=example,dc=com`, `ou=people`, `ou=disabled`,
    /// `ou=groups`). With `refint`, the refint overlay keeps `manager`, `member`,
    /// `uniqueMember` and `owner` DNs right on renames and deletions.
    pub async fn start(refint: bool) -> Slapd {
        Slapd::start_with(refint, false).await
    }

    /// Also serves ldaps:// and StartTLS, with a certificate for 127.0.0.1 signed by a CA made
    /// for this server ([`Slapd::ca_file`]), which no system trusts.
    pub async fn start_tls() -> Slapd {
        Slapd::start_with(false, true).await
    }

    async fn start_with(refint: bool, tls: bool) -> Slapd {
        let binary = binary();
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir_all(dir.path().join("db")).unwrap();
        if tls {
            make_certificates(dir.path());
        }
        std::fs::write(dir.path().join("slapd.conf"), config(&dir, refint, tls)).unwrap();
        let mut slapd = Slapd {
            dir,
            port: 0,
            tls_port: None,
            child: None,
        };
        // Another process may take the port between choosing and binding it: try a few.
        for _ in 0..5 {
            slapd.port = free_port();
            slapd.tls_port = tls.then(free_port);
            if slapd.launch(&binary).await {
                slapd.seed().await;
                return slapd;
            }
        }
        panic!("slapd did not start; its log:\n{}", slapd.log());
    }

    async fn launch(&mut self, binary: &PathBuf) -> bool {
        let log = std::fs::File::create(self.dir.path().join("slapd.log")).unwrap();
        let child = Command::new(binary)
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(self.listeners())
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("slapd starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && child.try_wait().ok().flatten().is_some()
            {
                self.child = None;
                return false;
            }
            if self.answers().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill();
        false
    }

    async fn answers(&self) -> bool {
        let Ok((conn, mut ldap)) = LdapConnAsync::new(&self.url()).await else {
            return false;
        };
        ldap3::drive!(conn);
        let ok = ldap
            .search("", Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .is_ok_and(|r| r.success().is_ok());
        let _ = ldap.unbind().await;
        ok
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// The ldaps:// URL of a server started with [`Slapd::start_tls`].
    pub fn tls_url(&self) -> String {
        format!(
            "ldaps://127.0.0.1:{}",
            self.tls_port.expect("started with TLS")
        )
    }

    /// The PEM file of the CA that signed a TLS server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn listeners(&self) -> String {
        match self.tls_port {
            Some(_) => format!("{}/ {}/", self.url(), self.tls_url()),
            None => format!("{}/", self.url()),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    /// SIGKILL, as a crash or a pulled cable would end it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the same server again (same port, same database).
    pub async fn restart(&mut self) {
        self.kill();
        let binary = binary();
        for _ in 0..20 {
            if self.launch(&binary).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("slapd did not restart; its log:\n{}", self.log());
    }

    /// A handle bound as the root DN.
    pub async fn admin(&self) -> Ldap {
        let (conn, mut ldap) = LdapConnAsync::new(&self.url()).await.expect("connects");
        ldap3::drive!(conn);
        ldap.simple_bind(ADMIN, PASSWORD)
            .await
            .unwrap()
            .success()
            .expect("the root DN binds");
        ldap
    }

    async fn seed(&self) {
        let mut ldap = self.admin().await;
        let set = |values: &[&str]| values.iter().map(|v| v.to_string()).collect::<HashSet<_>>();
        ldap.add(
            SUFFIX,
            vec![
                (
                    "objectClass".to_string(),
                    set(&["top", "dcObject", "organization"]),
                ),
                ("dc".to_string(), set(&["example"])),
                ("o".to_string(), set(&["Example"])),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
        for ou in [PEOPLE, DISABLED, GROUPS] {
            self.add_ou(&mut ldap, ou).await;
        }
    }

    pub async fn add_ou(&self, ldap: &mut Ldap, dn: &str) {
        let name = dn.split(',').next().unwrap().trim_start_matches("ou=");
        ldap.add(
            dn,
            vec![
                (
                    "objectClass".to_string(),
                    HashSet::from(["top".to_string(), "organizationalUnit".to_string()]),
                ),
                ("ou".to_string(), HashSet::from([name.to_string()])),
            ],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    }

    /// Every person entry under the suffix, by DN, with operational timestamps.
    pub async fn people(&self) -> Vec<Entry> {
        self.entries("(objectClass=inetOrgPerson)").await
    }

    /// Every group entry (either class) under the suffix, by DN, with operational timestamps.
    pub async fn groups(&self) -> Vec<Entry> {
        self.entries("(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))")
            .await
    }

    /// The entries under the suffix matching `filter`, by DN, with operational timestamps.
    pub async fn entries(&self, filter: &str) -> Vec<Entry> {
        let mut ldap = self.admin().await;
        let (entries, _) = ldap
            .search(
                SUFFIX,
                Scope::Subtree,
                filter,
                vec!["*", "modifyTimestamp", "entryCSN"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        let mut people: Vec<Entry> = entries
            .into_iter()
            .map(SearchEntry::construct)
            .map(|e| Entry {
                dn: e.dn,
                attrs: e
                    .attrs
                    .into_iter()
                    .map(|(a, mut v)| {
                        v.sort();
                        (a.to_ascii_lowercase(), v)
                    })
                    .collect(),
            })
            .collect();
        people.sort_by(|a, b| a.dn.cmp(&b.dn));
        people
    }

    /// Completed write operations (add, modify, modrdn, delete) since the server started, from
    /// the monitor database.
    pub async fn writes(&self) -> u64 {
        let (conn, mut ldap) = LdapConnAsync::new(&self.url()).await.unwrap();
        ldap3::drive!(conn);
        let (entries, _) = ldap
            .search(
                "cn=Operations,cn=Monitor",
                Scope::OneLevel,
                "(objectClass=*)",
                vec!["monitorOpCompleted"],
            )
            .await
            .unwrap()
            .success()
            .unwrap();
        entries
            .into_iter()
            .map(SearchEntry::construct)
            .filter(|e| {
                ["cn=Add,", "cn=Modify,", "cn=Modrdn,", "cn=Delete,"]
                    .iter()
                    .any(|p| e.dn.starts_with(p))
            })
            .map(|e| {
                e.attrs["monitorOpCompleted"][0]
                    .parse::<u64>()
                    .expect("a counter")
            })
            .sum()
    }

    /// [`Slapd::writes`] once it stops moving: the refint overlay rewrites references to a
    /// renamed or deleted entry in a thread of its own after the operation has been answered,
    /// and those modifies are counted when they finish. Reads until two reads 200 ms apart agree
    /// (at most a few seconds).
    pub async fn writes_settled(&self) -> u64 {
        let mut last = self.writes().await;
        for _ in 0..25 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let now = self.writes().await;
            if now == last {
                return now;
            }
            last = now;
        }
        last
    }

    /// Changes an entry behind orgsync's back.
    pub async fn modify(&self, dn: &str, mods: Vec<Mod<String>>) {
        let mut ldap = self.admin().await;
        ldap.modify(dn, mods).await.unwrap().success().unwrap();
    }

    pub async fn delete(&self, dn: &str) {
        let mut ldap = self.admin().await;
        ldap.delete(dn).await.unwrap().success().unwrap();
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A CA and a server certificate for 127.0.0.1 it signed, with the openssl command line (which
/// scripts/test installs with slapd).
fn make_certificates(dir: &Path) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = IP:127.0.0.1, DNS:localhost\nbasicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [&[&str]; 3] = [
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
            &["-subj", "/CN=orgsync test CA"],
            &["-addext", "basicConstraints=critical,CA:TRUE"],
            &["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ]
        .concat(),
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command line is installed (scripts/test installs it)");
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn config(dir: &TempDir, refint: bool, tls: bool) -> String {
    let path = dir.path().display();
    let tls = if tls {
        format!(
            "TLSCACertificateFile {path}/ca.pem\nTLSCertificateFile {path}/server.pem\n\
             TLSCertificateKeyFile {path}/server.key\n"
        )
    } else {
        String::new()
    };
    let (module, overlay) = if refint {
        (
            "moduleload refint\n",
            "overlay refint\nrefint_attributes manager member uniqueMember owner\n",
        )
    } else {
        ("", "")
    };
    format!(
        "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {path}/slapd.pid
{tls}sizelimit unlimited
modulepath /usr/lib/ldap
moduleload back_mdb
{module}database mdb
maxsize 104857600
suffix \"{SUFFIX}\"
rootdn \"{ADMIN}\"
rootpw {PASSWORD}
directory {path}/db
index objectClass eq
index uid,cn,mail,employeeNumber eq
index manager eq
index member,uniqueMember,owner,businessCategory eq
{overlay}database monitor
"
    )
}
