//! MCP servers reached over streamable HTTP (`[mcp.NAME] url = …`): rmcp's transport
//! driven by conch's own reqwest client ([`ConchHttp`], rmcp's `StreamableHttpClient`
//! trait), so there is one HTTP stack in the binary (rmcp's backend is another reqwest
//! major version).
//!
//! The URL is checked as webfetch checks a hop: its host resolved once, private and
//! loopback addresses refused unless the user's own file allows them for this server,
//! and the client pinned to the addresses checked (no redirects followed), so a DNS
//! answer cannot move it afterwards. A 401 or 403 is answered with what to set: conch
//! sends a bearer token from a variable (`bearer_token_env`) and does not do OAuth.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{BoxStream, StreamExt};
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};
use rmcp::model::{ClientJsonRpcMessage, JsonRpcMessage, ServerJsonRpcMessage, Tool};
use rmcp::service::{RunningService, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::common::http_header::{
    EVENT_STREAM_MIME_TYPE, HEADER_LAST_EVENT_ID, HEADER_SESSION_ID, JSON_MIME_TYPE,
};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpClientTransportConfig, StreamableHttpError,
    StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use rmcp::{ClientHandler, RoleClient};
use sse_stream::{Sse, SseStream};
use tokio::sync::watch;

use crate::config::{McpHttpConfig, McpServerConfig};
use crate::host_api::http::{error_chain, is_public};

/// How long connecting to the server may take (each request; the handshake as a whole
/// is bounded by `startup_timeout_secs`, a call by `tool_timeout_secs`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a live connection is checked for having closed.
const CLOSED_POLL: Duration = Duration::from_millis(500);
/// Bytes of an error body kept for the message.
const ERROR_BODY_BYTES: usize = 2048;

/// A failure of the HTTP client, worded for the user and the model.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpFailure(String);

type HttpError = StreamableHttpError<HttpFailure>;

/// rmcp's HTTP client, built on conch's reqwest client for one server.
#[derive(Clone)]
pub struct ConchHttp {
    client: reqwest::Client,
    /// What to tell the user when the server refuses us (401/403).
    auth_fix: Arc<str>,
    /// The last failure the user can act on (refused, unreachable), for the handshake's
    /// message: rmcp wraps errors of its first request in its own words.
    last_failure: Arc<Mutex<Option<String>>>,
}

/// Connects to `config`'s HTTP server, runs the MCP handshake and lists its tools,
/// within the startup timeout. Returns the running client, its tools and a receiver
/// that turns `Some` when the connection has closed (so the next call reconnects).
pub(super) async fn connect<H: ClientHandler>(
    config: &McpServerConfig,
    http: &McpHttpConfig,
    handler: H,
) -> Result<
    (
        RunningService<RoleClient, H>,
        Vec<Tool>,
        watch::Receiver<Option<String>>,
    ),
    String,
> {
    let name = &config.name;
    let timeout = config.startup_timeout;
    let failed = |why: String| format!("MCP server `{name}` ({}): {why}", http.url);
    let client = tokio::time::timeout(timeout, ConchHttp::for_server(name, http))
        .await
        .map_err(|_| {
            failed(format!(
                "resolving its host took longer than {} s",
                timeout.as_secs()
            ))
        })?
        .map_err(failed)?;
    let failures = client.last_failure.clone();
    let transport = StreamableHttpClientTransport::with_client(
        client,
        StreamableHttpClientTransportConfig::with_uri(http.url.as_str()),
    );
    let handshake = async {
        let service = handler
            .serve(transport)
            .await
            .map_err(|e| format!("its MCP handshake failed: {e}"))?;
        let tools = service
            .list_all_tools()
            .await
            .map_err(|e| format!("listing its tools failed: {e}"))?;
        Ok::<_, String>((service, tools))
    };
    let recorded = || failures.lock().ok().and_then(|f| f.clone());
    let (service, tools) = match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return Err(failed(recorded().unwrap_or(e))),
        Err(_) => {
            return Err(failed(recorded().unwrap_or_else(|| {
                format!(
                    "it did not answer `initialize` and list its tools within {} s (startup_timeout_secs)",
                    timeout.as_secs()
                )
            })));
        }
    };
    let (closed_tx, closed_rx) = watch::channel(None);
    let peer = service.peer().clone();
    // rmcp offers no signal for a transport that ended; polling it is cheap, and the
    // task ends with the connection's last receiver.
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = closed_tx.closed() => return,
                () = tokio::time::sleep(CLOSED_POLL) => {}
            }
            if peer.is_transport_closed() {
                let _ = closed_tx.send(Some("its HTTP connection closed".into()));
                return;
            }
        }
    });
    Ok((service, tools, closed_rx))
}

impl ConchHttp {
    /// A client for `http`: its host resolved and checked, the client pinned to those
    /// addresses, its headers and bearer token on every request.
    async fn for_server(name: &str, http: &McpHttpConfig) -> Result<Self, String> {
        let url = Url::parse(&http.url).map_err(|e| format!("its url is not a URL: {e}"))?;
        let token = match &http.bearer_token_env {
            Some(var) => Some((var, http.bearer_token.as_ref().ok_or_else(|| {
                format!(
                    "bearer_token_env names {var}, which is not set; set {var} to the server's token"
                )
            })?)),
            None => None,
        };
        let (host, addrs) = check_destination(name, &url, http.allow_private).await?;
        let mut headers = HeaderMap::new();
        for (header, value) in &http.headers {
            let name = HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| format!("`{header}` is not an HTTP header name"))?;
            let mut value = HeaderValue::from_str(value.expose())
                .map_err(|_| format!("the value of header `{header}` cannot be sent"))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if let Some((var, token)) = token {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| format!("the token in {var} cannot be sent as a header"))?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("conch/", env!("CARGO_PKG_VERSION")))
            // A redirect would lead to a host that was not checked.
            .redirect(reqwest::redirect::Policy::none())
            .resolve_to_addrs(&host, &addrs)
            .default_headers(headers)
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        let auth_fix = match &http.bearer_token_env {
            Some(var) => format!(
                "the server refused the token in {var} (bearer_token_env); set {var} to a valid token"
            ),
            None => format!(
                "the server wants authorization; put a token in an environment variable and name it with \
                 `bearer_token_env = \"VAR\"` under [mcp.{name}] (conch sends it as a bearer token; OAuth is not supported)"
            ),
        };
        Ok(ConchHttp {
            client,
            auth_fix: auth_fix.into(),
            last_failure: Arc::default(),
        })
    }

    fn fail(&self, message: String) -> HttpError {
        if let Ok(mut last) = self.last_failure.lock() {
            *last = Some(message.clone());
        }
        StreamableHttpError::Client(HttpFailure(message))
    }

    /// A request that could not be sent or answered at all, said by its deepest cause
    /// (reqwest's own words repeat the URL and name its layers).
    fn unreachable(&self, uri: &str, error: &reqwest::Error) -> HttpError {
        let what = if error.is_connect() {
            "cannot connect to"
        } else if error.is_timeout() {
            "timed out reaching"
        } else {
            "the request failed to"
        };
        let mut cause: &dyn std::error::Error = error;
        while let Some(deeper) = cause.source() {
            cause = deeper;
        }
        self.fail(format!("{what} {uri}: {cause}"))
    }

    /// The request with rmcp's per-request headers (protocol version, session).
    fn request(
        &self,
        method: reqwest::Method,
        uri: &str,
        session_id: Option<&str>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> reqwest::RequestBuilder {
        let mut request = self.client.request(method, uri);
        for (name, value) in custom_headers {
            request = request.header(name, value);
        }
        if let Some(session) = session_id {
            request = request.header(HEADER_SESSION_ID, session);
        }
        request
    }

    /// The response if it is a success; a refusal, a redirect or a server error as an
    /// error.
    async fn refusal(&self, response: reqwest::Response) -> Result<reqwest::Response, HttpError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(self.fail(format!("HTTP {status}: {}", self.auth_fix)));
        }
        if status.is_redirection() {
            let to = response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("?")
                .to_string();
            return Err(self.fail(format!(
                "HTTP {status}: it redirects to {to}; conch does not follow redirects of an MCP server, put the final URL in url"
            )));
        }
        let body = read_prefix(response, ERROR_BODY_BYTES).await;
        Err(StreamableHttpError::UnexpectedServerResponse(
            format!("HTTP {status}: {}", String::from_utf8_lossy(&body).trim()).into(),
        ))
    }
}

impl StreamableHttpClient for ConchHttp {
    type Error = HttpFailure;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        let session_was_attached = session_id.is_some();
        let response = self
            .request(
                reqwest::Method::POST,
                &uri,
                session_id.as_deref(),
                custom_headers,
            )
            .header(
                header::ACCEPT,
                format!("{EVENT_STREAM_MIME_TYPE}, {JSON_MIME_TYPE}"),
            )
            .json(&message)
            .send()
            .await
            .map_err(|e| self.unreachable(&uri, &e))?;
        let status = response.status();
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && session_was_attached {
            return Err(StreamableHttpError::SessionExpired);
        }
        let content_type = content_type(&response);
        if !status.is_success() && is_media(content_type.as_deref(), JSON_MIME_TYPE) {
            // A JSON-RPC error sent with an error status is still the answer to the
            // request.
            let status_text = status.to_string();
            let body = read_limited(response, limits.max_json_response_size).await?;
            if let Ok(error @ JsonRpcMessage::Error(_)) =
                serde_json::from_slice::<ServerJsonRpcMessage>(&body)
            {
                return Ok(StreamableHttpPostResponse::Json(error, None));
            }
            if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                return Err(self.fail(format!("HTTP {status_text}: {}", self.auth_fix)));
            }
            return Err(StreamableHttpError::UnexpectedServerResponse(
                format!(
                    "HTTP {status_text}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_BYTES)]).trim()
                )
                .into(),
            ));
        }
        let response = self.refusal(response).await?;
        let session_id = response
            .headers()
            .get(HEADER_SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let awaits_no_response = !matches!(message, ClientJsonRpcMessage::Request(_));
        if is_media(content_type.as_deref(), EVENT_STREAM_MIME_TYPE) {
            return Ok(StreamableHttpPostResponse::Sse(
                sse_events(response, limits.max_sse_event_size),
                session_id,
            ));
        }
        if is_media(content_type.as_deref(), JSON_MIME_TYPE) {
            let body = read_limited(response, limits.max_json_response_size).await?;
            return match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
                Ok(parsed) => Ok(StreamableHttpPostResponse::Json(parsed, session_id)),
                Err(_) if awaits_no_response => Ok(StreamableHttpPostResponse::Accepted),
                Err(e) => Err(StreamableHttpError::UnexpectedServerResponse(
                    format!(
                        "its answer is not a JSON-RPC message ({e}): {}",
                        String::from_utf8_lossy(&body[..body.len().min(ERROR_BODY_BYTES)])
                    )
                    .into(),
                )),
            };
        }
        if awaits_no_response {
            // Some servers answer a notification with an empty 200.
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        Err(StreamableHttpError::UnexpectedContentType(content_type))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError> {
        let response = self
            .request(
                reqwest::Method::DELETE,
                &uri,
                Some(&session_id),
                custom_headers,
            )
            .send()
            .await
            .map_err(|e| self.unreachable(&uri, &e))?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(());
        }
        self.refusal(response).await.map(drop)
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default().max_sse_event_size,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        let mut request = self
            .request(
                reqwest::Method::GET,
                &uri,
                session_id.as_deref(),
                custom_headers,
            )
            .header(
                header::ACCEPT,
                format!("{EVENT_STREAM_MIME_TYPE}, {JSON_MIME_TYPE}"),
            );
        if let Some(id) = last_event_id {
            request = request.header(HEADER_LAST_EVENT_ID, id);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.unreachable(&uri, &e))?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        let response = self.refusal(response).await?;
        let content_type = content_type(&response);
        if !is_media(content_type.as_deref(), EVENT_STREAM_MIME_TYPE) {
            return Err(StreamableHttpError::UnexpectedContentType(content_type));
        }
        Ok(sse_events(response, max_sse_event_size))
    }
}

/// Checks the server's host as webfetch checks a hop, and resolves it: every address
/// must be public unless `allow_private`. Returns the host and the addresses to use.
async fn check_destination(
    server: &str,
    url: &Url,
    allow_private: bool,
) -> Result<(String, Vec<SocketAddr>), String> {
    let host = url
        .host_str()
        .ok_or("its url has no host")?
        .to_ascii_lowercase();
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().ok_or("its url has no port")?;
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve {bare}: {e}"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("{bare} resolves to no address"));
    }
    if !allow_private && let Some(private) = addrs.iter().find(|a| !is_public(a.ip())) {
        let what = if bare.parse::<IpAddr>().is_ok() {
            format!("{bare} is")
        } else {
            format!("{bare} resolves to {},", private.ip())
        };
        return Err(format!(
            "refused: {what} a private or local address; you can allow those for this server with \
             `allow_private = true` under [mcp.{server}] in your own conch.toml (a project's file cannot)"
        ));
    }
    Ok((bare, addrs))
}

fn content_type(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|ct| String::from_utf8_lossy(ct.as_bytes()).into_owned())
}

/// Whether a `Content-Type` value is `expected`, parameters aside.
fn is_media(content_type: Option<&str>, expected: &str) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(expected))
}

/// The whole body, refused beyond `limit` bytes.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| StreamableHttpError::Client(HttpFailure(error_chain(&e))))?
    {
        if body.len() + chunk.len() > limit {
            return Err(StreamableHttpError::ResponseBodyTooLarge { max_size: limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// At most the first `limit` bytes of the body (for an error message).
async fn read_prefix(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())])
            }
            _ => break,
        }
    }
    body
}

/// The response's server-sent events, each at most `max_event` bytes: a server cannot
/// make conch buffer an endless event.
fn sse_events(
    response: reqwest::Response,
    max_event: usize,
) -> BoxStream<'static, Result<Sse, SseError>> {
    let mut pending = 0usize;
    let bytes = response.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| HttpFailure(error_chain(&e)))?;
        // Bytes since the last blank line, the end of an event (a separator cut
        // between chunks only makes the count larger).
        pending = match find_last(&chunk, b"\n\n").or_else(|| find_last(&chunk, b"\r\n\r\n")) {
            Some(end) => chunk.len() - end,
            None => pending + chunk.len(),
        };
        if pending > max_event {
            return Err(HttpFailure(format!(
                "a server-sent event is larger than {max_event} bytes"
            )));
        }
        Ok(chunk)
    });
    SseStream::from_bytes_stream(bytes).boxed()
}

/// The index just past the last `needle` in `haystack`.
fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .rposition(|w| w == needle)
        .map(|i| i + needle.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, allow_private: bool) -> Result<(String, Vec<SocketAddr>), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(check_destination(
            "web",
            &Url::parse(url).unwrap(),
            allow_private,
        ))
    }

    #[test]
    fn loopback_and_private_hosts_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/mcp",
            "http://[::1]:9/mcp",
            "http://10.0.0.1/mcp",
            "http://localhost:9/mcp",
        ] {
            let err = check(url, false).unwrap_err();
            assert!(err.contains("private or local"), "{url}: {err}");
            assert!(err.contains("[mcp.web]"), "{url}: {err}");
        }
        let (host, addrs) = check("http://127.0.0.1:9/mcp", true).unwrap();
        assert_eq!(host, "127.0.0.1");
        assert_eq!(addrs, ["127.0.0.1:9".parse().unwrap()]);
    }

    #[test]
    fn media_types_compare_without_parameters() {
        assert!(is_media(
            Some("application/json; charset=utf-8"),
            JSON_MIME_TYPE
        ));
        assert!(is_media(Some("Text/Event-Stream"), EVENT_STREAM_MIME_TYPE));
        assert!(!is_media(Some("text/html"), JSON_MIME_TYPE));
        assert!(!is_media(None, JSON_MIME_TYPE));
    }
}
