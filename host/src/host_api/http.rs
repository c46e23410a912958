//! `conch:tool/http`: the host fetches a URL for a plugin. Only the URL the gate
//! approved for the call (the tool's key argument) may be fetched; every hop, the first
//! and each redirect, must pass the plugin's declared hosts, the configured host lists and resolve to public
//! addresses only (unless private ones are allowed), and the connection goes to exactly
//! the addresses that were checked, so a DNS answer cannot change in between.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::Url;

use wasmtime::component::{HasSelf, Linker};
use wasmtime_wasi::WasiCtxBuilder;

use super::bindings::conch::tool::http::{self as wit, Host, Request, Response};
use super::{CallState, Grant, HostCapability, ToolError};
use crate::permission::declared::{self, host_matches};

/// Body bytes kept at most, whatever the plugin asks.
pub const MAX_BODY_BYTES: u64 = 10 << 20;
/// A fetch's time when the plugin does not say, and the most it may ask for.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);
/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 10;
/// Request headers a plugin may not set.
const CONTROLLED_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "proxy-authorization",
];

/// Which hosts a plugin may reach (`[webfetch]` in conch.toml).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpPolicy {
    /// When not empty, only these hosts (`example.com`, or `*.example.com` for its
    /// subdomains) may be fetched.
    pub allow_hosts: Vec<String>,
    /// Never fetched, whatever `allow_hosts` says.
    pub deny_hosts: Vec<String>,
    /// Loopback, private, link-local and other non-public addresses may be reached.
    pub allow_private: bool,
}

/// What a call with the `http` capability may fetch.
#[derive(Debug, Clone)]
pub struct HttpAccess {
    /// The URL the gate approved (the tool's key argument).
    pub approved: Option<String>,
    /// The hosts the plugin declares it fetches from, if it narrowed them (see `plugin::reach`).
    pub hosts: Option<Vec<String>>,
    pub policy: HttpPolicy,
}

/// Where a fetch may go: the user's host lists, and the plugin's own declaration.
struct Destinations<'a> {
    policy: &'a HttpPolicy,
    plugin: &'a str,
    declared: Option<&'a [String]>,
}

/// The `http` capability.
pub struct Http;

impl HostCapability for Http {
    const NAME: &'static str = "http";
    const MEANING: &'static str = "fetch URLs through the host (approved as `webfetch`)";
    const INTERFACES: &'static [&'static str] = &["http"];
    type Access = HttpAccess;

    fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
        wit::add_to_linker::<CallState, HasSelf<CallState>>(linker, |state| state)
    }

    fn grant(grant: &Grant<'_>, _: &mut WasiCtxBuilder) -> Result<Option<HttpAccess>, ToolError> {
        Ok(Some(HttpAccess {
            approved: grant.approved.map(str::to_string),
            hosts: grant.hosts.map(<[String]>::to_vec),
            policy: grant.limits.http.clone(),
        }))
    }
}

impl Host for CallState {
    fn fetch(&mut self, req: Request) -> Result<Response, String> {
        let access = self
            .granted
            .http
            .as_ref()
            .ok_or("this plugin has no http capability")?;
        if access.approved.as_deref() != Some(req.url.as_str()) {
            return Err(match &access.approved {
                Some(approved) => {
                    format!(
                        "refused: only the approved URL `{approved}` may be fetched in this call"
                    )
                }
                None => "refused: no URL was approved for this call".into(),
            });
        }
        let destinations = Destinations {
            policy: &access.policy,
            plugin: &self.plugin,
            declared: access.hosts.as_deref(),
        };
        self.clock.excluding(|| fetch(&destinations, req))
    }
}

/// Runs the fetch on a runtime of its own: host imports are synchronous, and the call
/// runs on a blocking thread.
fn fetch(destinations: &Destinations<'_>, req: Request) -> Result<Response, String> {
    let timeout = req
        .timeout_ms
        .map_or(DEFAULT_TIMEOUT, |ms| Duration::from_millis(ms.into()))
        .min(MAX_TIMEOUT);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
    let url = req.url.clone();
    runtime.block_on(async {
        tokio::time::timeout(timeout, follow(destinations, req))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "fetching {url} timed out after {} s",
                    timeout.as_secs_f32()
                ))
            })
    })
}

/// Sends the request, following redirects itself so each hop is checked.
async fn follow(destinations: &Destinations<'_>, req: Request) -> Result<Response, String> {
    let cap = req.max_bytes.unwrap_or(MAX_BODY_BYTES).min(MAX_BODY_BYTES);
    let mut url = Url::parse(&req.url).map_err(|e| format!("`{}` is not a URL: {e}", req.url))?;
    let mut method = reqwest::Method::from_bytes(req.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("`{}` is not an HTTP method", req.method))?;
    let mut body = req.body;
    for _ in 0..=MAX_REDIRECTS {
        let (host, addrs) = check_destination(destinations, &url).await?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve_to_addrs(&host, &addrs)
            .user_agent(concat!("conch/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
        let mut request = client.request(method.clone(), url.clone());
        for (name, value) in &req.headers {
            // The host decides where the request goes and how it is framed.
            if CONTROLLED_HEADERS
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
            {
                continue;
            }
            request = request.header(name, value);
        }
        if let Some(bytes) = &body {
            request = request.body(bytes.clone());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| format!("fetching {url} failed: {}", error_chain(&e)))?;
        let status = response.status();
        if status.is_redirection()
            && let Some(location) = response.headers().get(reqwest::header::LOCATION)
        {
            let location = location
                .to_str()
                .map_err(|_| format!("{url} redirected to a location that is not text"))?;
            url = url.join(location).map_err(|e| {
                format!("{url} redirected to `{location}`, which is not a URL: {e}")
            })?;
            // 307 and 308 repeat the request as it was; the others become a GET.
            if !matches!(status.as_u16(), 307 | 308) {
                method = reqwest::Method::GET;
                body = None;
            }
            continue;
        }
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut bytes = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("reading {url} failed: {}", error_chain(&e)))?
        {
            let room = usize::try_from(cap).unwrap_or(usize::MAX) - bytes.len();
            if chunk.len() > room {
                bytes.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(Response {
            status: status.as_u16(),
            final_url: url.to_string(),
            headers,
            body: bytes,
            truncated,
        });
    }
    Err(format!(
        "{} redirected more than {MAX_REDIRECTS} times; giving up",
        req.url
    ))
}

/// Checks a hop against the plugin's declared hosts and the user's host lists, and
/// resolves it (within the fetch's timeout); every address must be public unless the
/// policy allows private ones. Returns the host and the addresses to use.
async fn check_destination(
    destinations: &Destinations<'_>,
    url: &Url,
) -> Result<(String, Vec<SocketAddr>), String> {
    let policy = destinations.policy;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{url}: only http and https URLs can be fetched"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("{url} has no host"))?
        .to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Some(declared) = destinations.declared {
        declared::check_host(destinations.plugin, declared, bare)?;
    }
    if policy.deny_hosts.iter().any(|p| host_matches(p, bare)) {
        return Err(format!(
            "{bare} is in [webfetch] deny_hosts of conch.toml; the user does not want it fetched"
        ));
    }
    if !policy.allow_hosts.is_empty() && !policy.allow_hosts.iter().any(|p| host_matches(p, bare)) {
        return Err(format!(
            "{bare} is not in [webfetch] allow_hosts of conch.toml; the user can add it there"
        ));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("{url} has no port"))?;
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| format!("cannot resolve {bare}: {e}"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{bare} resolves to no address"));
    }
    if !policy.allow_private
        && let Some(private) = addrs.iter().find(|a| !is_public(a.ip()))
    {
        let what = if bare.parse::<IpAddr>().is_ok() {
            format!("{bare} is")
        } else {
            format!("{bare} resolves to {},", private.ip())
        };
        return Err(format!(
            "refused: {what} a private or local address; the user can allow those with \
             `allow_private = true` under [webfetch] in conch.toml"
        ));
    }
    Ok((bare.to_string(), addrs))
}

/// Whether `ip` is a global address: not loopback, private, link-local, shared (CGNAT),
/// documentation, multicast, unspecified or reserved, in IPv4 or IPv6 (mapped included).
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d, so also
            // `[::127.0.0.1]`) addresses reach the IPv4 address inside.
            if segments[..6].iter().all(|&s| s == 0) || v6.to_ipv4_mapped().is_some() {
                if v6.is_loopback() || v6.is_unspecified() {
                    return false;
                }
                if let Some(v4) = v6.to_ipv4() {
                    return is_public(IpAddr::V4(v4));
                }
            }
            let [first, second, third, ..] = segments;
            // 6to4 (2002::/16) carries an IPv4 address in its next 32 bits.
            if first == 0x2002 {
                let [a, b] = second.to_be_bytes();
                let [c, d] = third.to_be_bytes();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || first == 0x2001 && second == 0x0db8
                // Teredo tunnels to an address the host cannot check.
                || first == 0x2001 && second == 0
                // NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48).
                || first == 0x0064 && second == 0xff9b)
        }
    }
}

/// The error and its causes on one line (reqwest's own message hides the cause).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_global_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    /// [`check_destination`] on a runtime of its own, for a plugin declaring no hosts.
    fn check(policy: &HttpPolicy, url: &str) -> Result<(String, Vec<SocketAddr>), String> {
        check_declared(policy, None, url)
    }

    fn check_declared(
        policy: &HttpPolicy,
        declared: Option<&[String]>,
        url: &str,
    ) -> Result<(String, Vec<SocketAddr>), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let destinations = Destinations {
            policy,
            plugin: "p",
            declared,
        };
        runtime.block_on(check_destination(&destinations, &Url::parse(url).unwrap()))
    }

    #[test]
    fn a_plugins_declared_hosts_and_the_users_lists_both_apply() {
        let local = HttpPolicy {
            allow_private: true,
            deny_hosts: vec!["127.0.0.2".into()],
            ..HttpPolicy::default()
        };
        let declared = ["127.0.0.1".to_string(), "127.0.0.2".to_string()];
        assert!(check_declared(&local, Some(&declared), "http://127.0.0.1:9/").is_ok());
        assert!(
            check_declared(&local, Some(&declared), "http://localhost:9/")
                .unwrap_err()
                .contains("declares that it fetches only from `127.0.0.1`, `127.0.0.2`")
        );
        assert!(
            check_declared(&local, Some(&declared), "http://127.0.0.2:9/")
                .unwrap_err()
                .contains("deny_hosts"),
            "declared, but the user's deny list still wins"
        );
    }

    #[test]
    fn ipv4_inside_ipv6_is_judged_by_the_ipv4_address() {
        for private in [
            "::127.0.0.1",
            "::ffff:10.0.0.1",
            "::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::",
            "2001:0:4136:e378::1",
            "64:ff9b::7f00:1",
            "fec0::1",
        ] {
            let ip: IpAddr = private.parse().unwrap();
            assert!(!is_public(ip), "{private}");
        }
        for public in ["2606:4700::1111", "::ffff:1.1.1.1", "2002:0101:0101::1"] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(is_public(ip), "{public}");
        }
        let open = HttpPolicy::default();
        assert!(check(&open, "http://[::127.0.0.1]/").is_err());
    }

    #[test]
    fn lists_and_private_addresses_are_checked_per_hop() {
        let open = HttpPolicy::default();
        assert!(
            check(&open, "http://127.0.0.1:8080/")
                .unwrap_err()
                .contains("allow_private")
        );
        assert!(
            check(&open, "http://[::1]/")
                .unwrap_err()
                .contains("private")
        );
        let local = HttpPolicy {
            allow_private: true,
            deny_hosts: vec!["localhost".into()],
            ..HttpPolicy::default()
        };
        assert!(check(&local, "http://127.0.0.1:8080/").is_ok());
        assert!(
            check(&local, "http://localhost/")
                .unwrap_err()
                .contains("deny_hosts")
        );
        let only = HttpPolicy {
            allow_hosts: vec!["*.example.com".into()],
            allow_private: true,
            ..HttpPolicy::default()
        };
        assert!(
            check(&only, "http://127.0.0.1/")
                .unwrap_err()
                .contains("allow_hosts")
        );
        assert!(
            check(&open, "file:///etc/passwd")
                .unwrap_err()
                .contains("only http")
        );
    }
}
