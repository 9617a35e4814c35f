//! Finding a Lotus node's API the way Lotus's CLI does (lotus-rpc §1): `--api`, else the
//! environment's `FULLNODE_API_INFO`, else the repo's `api` and `token` files (`--repo`, else
//! `LOTUS_PATH`, else `~/.lotus`). API info is `TOKEN:ADDR`, split at the first `:` unless the
//! text starts with `/` (a bare multiaddr) or the `:` begins `://` (a bare URL).
//!
//! The token is a [`Secret`]: it has no `Display`, and its `Debug` prints `<redacted>`, so no
//! log line or error message can carry it by accident.

use std::path::{Path, PathBuf};

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use thiserror::Error;

/// An API token. Never printed: `Debug` is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where the node's API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `ws://host:port/rpc/v1`.
    pub url: String,
    pub token: Option<Secret>,
    /// Where it was found, for messages (`--api`, `FULLNODE_API_INFO`, `/root/.lotus/api`).
    pub source: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EndpointError {
    #[error("{origin}: {text:?} is not a multiaddr or URL of an API endpoint ({reason})")]
    BadAddress { origin: String, text: String, reason: String },
    #[error("{origin}: {addr} is a TLS endpoint; lsync speaks plain ws:// only (Lotus serves plain HTTP; put the proxy's plain side in front, or tunnel)")]
    Tls { origin: String, addr: String },
    #[error("no Lotus API found: FULLNODE_API_INFO is not set and {api} does not exist (is the daemon running? Lotus deletes the file on a clean shutdown); give --api TOKEN:MULTIADDR or --repo DIR")]
    NoApiFile { api: PathBuf },
    #[error("reading {path}: {reason}")]
    Read { path: PathBuf, reason: String },
}

/// `/ip4/127.0.0.1/tcp/1234/http` → `ws://127.0.0.1:1234/rpc/v1`; URLs keep their path and
/// get `rpc/v1` unless they name an `/rpc/vN` already; `http(s)` becomes `ws(s)`.
pub fn api_url(addr: &str, source: &str) -> Result<String, EndpointError> {
    let bad = |reason: &str| EndpointError::BadAddress { origin: source.into(), text: addr.into(), reason: reason.into() };
    let addr = addr.trim();
    if addr.starts_with('/') {
        let ma: Multiaddr = addr.parse().map_err(|e: libp2p::multiaddr::Error| bad(&e.to_string()))?;
        let (mut host, mut port) = (None, None);
        for p in ma.iter() {
            match p {
                Protocol::Ip4(ip) => host = Some(ip.to_string()),
                Protocol::Ip6(ip) => host = Some(format!("[{ip}]")),
                Protocol::Dns(h) | Protocol::Dns4(h) | Protocol::Dns6(h) => host = Some(h.to_string()),
                Protocol::Tcp(p) => port = Some(p),
                Protocol::Tls | Protocol::Wss(_) | Protocol::Https => {
                    return Err(EndpointError::Tls { origin: source.into(), addr: addr.into() })
                }
                _ => {}
            }
        }
        let host = host.ok_or_else(|| bad("no host"))?;
        let port = port.ok_or_else(|| bad("no TCP port"))?;
        return Ok(format!("ws://{host}:{port}/rpc/v1"));
    }
    let (scheme, rest) = addr.split_once("://").ok_or_else(|| bad("neither a multiaddr nor a URL"))?;
    let scheme = match scheme {
        "ws" | "http" => "ws",
        "wss" | "https" => return Err(EndpointError::Tls { origin: source.into(), addr: addr.into() }),
        other => return Err(bad(&format!("unknown scheme {other}"))),
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err(bad("no host"));
    }
    let has_version = rest.rsplit('/').next().is_some_and(|last| last.starts_with('v') && rest.contains("/rpc/"));
    Ok(if has_version { format!("{scheme}://{rest}") } else { format!("{scheme}://{rest}/rpc/v1") })
}

/// Parse API info text (`TOKEN:ADDR`, a bare multiaddr or a bare URL).
pub fn parse_api_info(text: &str, source: &str) -> Result<Endpoint, EndpointError> {
    let text = text.trim();
    // Several endpoints (cluster mode): the first, as Lotus's single-endpoint commands do.
    let text = text.split(',').next().unwrap_or(text).trim();
    let (token, addr) = if text.starts_with('/') {
        (None, text)
    } else {
        match text.split_once(':') {
            Some((_, rest)) if rest.starts_with("//") => (None, text),
            Some((token, addr)) => (Some(Secret::new(token)), addr),
            None => (None, text),
        }
    };
    Ok(Endpoint { url: api_url(addr, source)?, token, source: source.into() })
}

fn read_trimmed(path: &Path) -> Result<Option<String>, EndpointError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EndpointError::Read { path: path.into(), reason: e.to_string() }),
    }
}

/// A Lotus repo's `api` (multiaddr) and `token` files.
pub fn from_repo(repo: &Path) -> Result<Endpoint, EndpointError> {
    let api = repo.join("api");
    let addr = read_trimmed(&api)?.ok_or(EndpointError::NoApiFile { api: api.clone() })?;
    let token = read_trimmed(&repo.join("token"))?.filter(|t| !t.is_empty()).map(Secret::new);
    Ok(Endpoint { url: api_url(&addr, &api.display().to_string())?, token, source: api.display().to_string() })
}

/// The repo Lotus's CLI would use: `--repo`, else `LOTUS_PATH`, else `~/.lotus`.
pub fn default_repo(repo: Option<&Path>) -> PathBuf {
    if let Some(r) = repo {
        return r.to_path_buf();
    }
    if let Some(p) = std::env::var_os("LOTUS_PATH").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".lotus")
}

/// Lotus's precedence: `--api` (with `--token-file` when it carries no token), then
/// `FULLNODE_API_INFO`, then the repo.
pub fn discover(api: Option<&str>, token_file: Option<&Path>, repo: Option<&Path>) -> Result<Endpoint, EndpointError> {
    let mut endpoint = if let Some(api) = api {
        parse_api_info(api, "--api")?
    } else if let Some(info) = std::env::var("FULLNODE_API_INFO").ok().filter(|v| !v.trim().is_empty()) {
        parse_api_info(&info, "FULLNODE_API_INFO")?
    } else {
        from_repo(&default_repo(repo))?
    };
    if let Some(path) = token_file {
        let token = read_trimmed(path)?.ok_or_else(|| EndpointError::Read { path: path.into(), reason: "no such file".into() })?;
        endpoint.token = Some(Secret::new(token));
    }
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_info_as_lotus_parses_it() {
        let e = parse_api_info("eyJhbGciOiJIUzI1NiJ9.e30.sig:/ip4/127.0.0.1/tcp/1234/http", "env").unwrap();
        assert_eq!(e.url, "ws://127.0.0.1:1234/rpc/v1");
        assert_eq!(e.token.as_ref().map(Secret::expose), Some("eyJhbGciOiJIUzI1NiJ9.e30.sig"));
        // v1.36: any opaque token.
        assert_eq!(parse_api_info("opaque:/dns/node.example/tcp/2345/http", "env").unwrap().url, "ws://node.example:2345/rpc/v1");
        // Bare multiaddr and bare URLs.
        let bare = parse_api_info("/ip6/::1/tcp/1234/http", "env").unwrap();
        assert_eq!((bare.url.as_str(), bare.token), ("ws://[::1]:1234/rpc/v1", None));
        assert_eq!(parse_api_info("http://127.0.0.1:1234", "env").unwrap().url, "ws://127.0.0.1:1234/rpc/v1");
        assert_eq!(parse_api_info("tok:ws://h:1/rpc/v0", "env").unwrap().url, "ws://h:1/rpc/v0");
        assert_eq!(parse_api_info("a:/ip4/1.2.3.4/tcp/1/http,b:/ip4/5.6.7.8/tcp/2/http", "env").unwrap().url, "ws://1.2.3.4:1/rpc/v1");
        assert!(matches!(parse_api_info("t:/ip4/1.2.3.4/tcp/1/tls/http", "env"), Err(EndpointError::Tls { .. })));
        assert!(matches!(parse_api_info("t:https://h", "env"), Err(EndpointError::Tls { .. })));
        assert!(matches!(parse_api_info("t:/ip4/1.2.3.4/http", "env"), Err(EndpointError::BadAddress { .. })));
    }

    #[test]
    fn the_token_never_prints() {
        let e = parse_api_info("s3cr3t-token:/ip4/127.0.0.1/tcp/1234/http", "--api").unwrap();
        let shown = format!("{e:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn a_repo_without_an_api_file_says_the_daemon_is_not_running() {
        let dir = std::env::temp_dir().join(format!("lsync-endpoint-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = from_repo(&dir).unwrap_err();
        assert!(e.to_string().contains("is the daemon running?"), "{e}");
        std::fs::write(dir.join("api"), "/ip4/127.0.0.1/tcp/1234/http\n").unwrap();
        std::fs::write(dir.join("token"), "tok\n").unwrap();
        let ok = from_repo(&dir).unwrap();
        assert_eq!((ok.url.as_str(), ok.token.as_ref().map(Secret::expose)), ("ws://127.0.0.1:1234/rpc/v1", Some("tok")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
