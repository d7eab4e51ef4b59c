//! Plain `http://` off this machine. Every upstream request carries the app's secret or a token
//! made from it, every SCIM request the bearer token, every webhook delivery its signature over
//! people's data: sent unencrypted to another host, anyone on the path reads them. Such a URL is
//! refused unless the source or target table opts in with `allow_plain_http = true`, and that
//! opt-in is warned about at every start and every run.

use serde::Deserialize;
use url::{Host, Url};

/// `allow_plain_http` on a source or target table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(from = "bool")]
pub enum PlainHttp {
    /// The default: `http://` only to loopback.
    #[default]
    Refused,
    /// `allow_plain_http = true`: the operator accepts unencrypted traffic to another host.
    Allowed,
}

impl From<bool> for PlainHttp {
    fn from(allow: bool) -> Self {
        if allow {
            PlainHttp::Allowed
        } else {
            PlainHttp::Refused
        }
    }
}

/// Which end of a connector a URL belongs to, for the warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }
}

/// 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and `localhost`: traffic that never leaves the
/// machine. In URLs of schemes the URL standard does not know (`ldap://`), an IPv4 address is
/// not parsed as one and arrives as a domain: it is read as an address here.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(host)) => {
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        None => false,
    }
}

/// Whether requests to `url` travel unencrypted to another machine.
pub fn is_plain_remote(url: &Url) -> bool {
    url.scheme() == "http" && !is_loopback(url)
}

/// Refuses `key = url` when it is plain http to another machine and the table did not opt in.
/// The message names the host only: a URL may carry a secret in its path (Bitrix24 webhooks).
pub fn check(key: &str, url: &Url, plain: PlainHttp) -> Result<(), String> {
    if plain == PlainHttp::Refused && is_plain_remote(url) {
        return Err(format!(
            "{key} is plain http:// to {}, which is not loopback: the credentials sent with every \
             request would travel unencrypted. Use https://, or accept that with \
             allow_plain_http = true in this table (warned about at every start and run)",
            url.host_str().unwrap_or("an unnamed host")
        ));
    }
    Ok(())
}

/// The WARN an opted-in side gets at every start and run: `hosts` are the plain-http hosts it
/// talks to (a host hidden in a secret is named as such).
pub fn warn_allowed(connector: &str, side: Side, hosts: &[String]) {
    if hosts.is_empty() {
        return;
    }
    tracing::warn!(
        connector,
        side = side.as_str(),
        hosts = %hosts.join(", "),
        "This side talks plain http:// to a host other than loopback (allow_plain_http = true): its credentials and people's data travel unencrypted."
    );
}

/// The plain-http hosts among `urls` when the side opted in; none otherwise (a refused one never
/// got past validation).
pub fn allowed_hosts<'a>(plain: PlainHttp, urls: impl IntoIterator<Item = &'a Url>) -> Vec<String> {
    if plain == PlainHttp::Refused {
        return Vec::new();
    }
    urls.into_iter()
        .filter(|url| is_plain_remote(url))
        .map(|url| url.host_str().unwrap_or("an unnamed host").to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn loopback_is_127_slash_8_ipv6_one_and_localhost() {
        for text in [
            "http://127.0.0.1:8080/",
            "http://127.3.2.1/",
            "http://[::1]:9/",
            "http://[::ffff:127.0.0.1]/",
            "http://localhost/",
            "http://LOCALHOST:1/",
            "ldap://127.0.0.1:389",
            "ldap://127.0.0.2",
            "ldap://[::1]:389",
            "ldap://localhost",
        ] {
            assert!(is_loopback(&url(text)), "{text}");
            assert_eq!(check("api_base", &url(text), PlainHttp::Refused), Ok(()));
        }
        for text in [
            "http://10.0.0.1/",
            "http://128.0.0.1/",
            "http://[::2]/",
            "http://localhost.example.com/",
            "http://qyapi.weixin.qq.com/",
            "ldap://10.0.0.1:389",
            "ldap://127.0.0.1.example.com",
            "ldap://directory.example.com",
        ] {
            assert!(!is_loopback(&url(text)), "{text}");
        }
    }

    #[test]
    fn plain_http_to_another_host_is_refused_unless_allowed() {
        let remote = url("http://scim.example.com/scim/v2");
        let refused = check("base_url", &remote, PlainHttp::Refused).unwrap_err();
        assert!(
            refused.starts_with("base_url is plain http:// to scim.example.com"),
            "{refused}"
        );
        assert!(refused.contains("allow_plain_http = true"), "{refused}");
        assert_eq!(check("base_url", &remote, PlainHttp::Allowed), Ok(()));
        let tls = url("https://scim.example.com/scim/v2");
        assert_eq!(check("base_url", &tls, PlainHttp::Refused), Ok(()));
    }

    #[test]
    fn the_message_never_shows_the_path() {
        let hook = url("http://corp.bitrix24.com/rest/1/s3cr3tcode/");
        let refused = check("auth.url", &hook, PlainHttp::Refused).unwrap_err();
        assert!(!refused.contains("s3cr3tcode"), "{refused}");
    }

    #[test]
    fn the_key_reads_as_a_boolean() {
        #[derive(Deserialize)]
        struct Table {
            #[serde(default)]
            allow_plain_http: PlainHttp,
        }
        let parse = |text: &str| toml::from_str::<Table>(text).unwrap().allow_plain_http;
        assert_eq!(parse(""), PlainHttp::Refused);
        assert_eq!(parse("allow_plain_http = false"), PlainHttp::Refused);
        assert_eq!(parse("allow_plain_http = true"), PlainHttp::Allowed);
        assert!(toml::from_str::<Table>("allow_plain_http = \"yes\"").is_err());
    }
}
