//! OpenAI-compatible chat completions over HTTP, streamed as server-sent events.
//!
//! One request is one task: POST `{base_url}/chat/completions`, turn a failed status
//! into a [`ProviderError`], then read the answer — as SSE chunks, or as one JSON
//! `chat.completion` when the server ignores `stream: true` — and send it on as
//! [`ProviderEvent`]s. The parts that need no network live in the submodules so they
//! can be tested by feeding them bytes.

mod error;
mod request;
mod response;
mod sse;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tracing::debug;

use super::{ChatRequest, EventStream, Provider, ProviderError, ProviderEvent};
use crate::config::ResolvedProvider;

/// How many events may wait in the channel before the task waits for the agent.
const CHANNEL_CAPACITY: usize = 64;
/// How long connecting may take; reading is bounded by the idle timeout instead.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an error response is read: enough for any error message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A provider speaking the OpenAI chat completions API (OpenAI, DeepSeek, OpenRouter,
/// Ollama, vLLM, llama.cpp…).
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    client: reqwest::Client,
    endpoint: Arc<Endpoint>,
    max_output_tokens: Option<u64>,
    /// Whether the model is sent images (`vision`).
    vision: bool,
    idle_timeout: Duration,
}

/// Who a request goes to, as error messages name it.
#[derive(Debug)]
struct Endpoint {
    provider: String,
    model: String,
    /// The chat completions URL.
    url: String,
    /// The URL that lists the models (`GET {base_url}/models`).
    models_url: String,
}

impl OpenAiProvider {
    /// A provider for `config`. A response silent for longer than `idle_timeout`
    /// (before its headers or between chunks) fails with [`ProviderError::Timeout`].
    /// Fails when a configured header or the API key cannot be sent as a header.
    pub fn new(config: &ResolvedProvider, idle_timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("conch/", env!("CARGO_PKG_VERSION")))
            .default_headers(default_headers(config)?)
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(OpenAiProvider {
            client,
            endpoint: Arc::new(Endpoint {
                provider: config.name.clone(),
                model: config.model.clone(),
                url: format!("{}/chat/completions", config.base_url),
                models_url: format!("{}/models", config.base_url),
            }),
            max_output_tokens: config.max_output_tokens,
            vision: config.vision,
            idle_timeout,
        })
    }
}

impl OpenAiProvider {
    /// The ids of the models the server offers (`GET {base_url}/models`, answered as
    /// `{"data": [{"id": …}, …]}`), sorted. A failed status is classified as a chat
    /// request's would be (a bad key says so).
    pub async fn models(&self) -> Result<Vec<String>, ProviderError> {
        let endpoint = &*self.endpoint;
        let network = |e: reqwest::Error| ProviderError::Network {
            provider: endpoint.provider.clone(),
            url: endpoint.models_url.clone(),
            detail: error::chain(&e.without_url()),
        };
        let sent = self
            .client
            .get(&endpoint.models_url)
            .header(header::ACCEPT, "application/json")
            .send();
        let mut response = timeout(self.idle_timeout, sent)
            .await
            .map_err(|_| self.timed_out())?
            .map_err(network)?;
        let status = response.status();
        let limit = if status.is_success() {
            usize::MAX
        } else {
            MAX_ERROR_BODY
        };
        let body = self.read_body(&mut response, limit).await?;
        let text = String::from_utf8_lossy(&body);
        if !status.is_success() {
            // Errors name the URL asked, which here is the model list's.
            let asked = Endpoint {
                url: endpoint.models_url.clone(),
                provider: endpoint.provider.clone(),
                model: endpoint.model.clone(),
                models_url: endpoint.models_url.clone(),
            };
            return Err(error::classify_response(
                &asked,
                status.as_u16(),
                &text,
                None,
            ));
        }
        let list: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ProviderError::Protocol {
                provider: endpoint.provider.clone(),
                detail: format!("the model list is not JSON ({e}): {}", error::clip(&text)),
            })?;
        let Some(entries) = list.get("data").and_then(serde_json::Value::as_array) else {
            return Err(ProviderError::Protocol {
                provider: endpoint.provider.clone(),
                detail: format!("the model list has no `data` array: {}", error::clip(&text)),
            });
        };
        let mut ids: Vec<String> = entries
            .iter()
            .filter_map(|m| m.get("id")?.as_str().map(str::to_string))
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// `Authorization: Bearer KEY` when there is a key, then the configured headers (which
/// win, so a provider that wants its key elsewhere can have it).
fn default_headers(config: &ResolvedProvider) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    if let Some(key) = &config.api_key {
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                let name = &config.name;
                anyhow::anyhow!(
                    "the API key of provider `{name}` cannot be sent in an HTTP header (a line break in it?)"
                )
            })?;
        value.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, value);
    }
    for (name, value) in &config.headers {
        let header_name = HeaderName::from_bytes(name.as_bytes()).with_context(|| {
            format!(
                "`providers.{}.headers`: `{name}` is not a valid HTTP header name",
                config.name
            )
        })?;
        let mut header_value = HeaderValue::from_str(value).with_context(|| {
            format!(
                "`providers.{}.headers.{name}`: the value cannot be sent in an HTTP header",
                config.name
            )
        })?;
        header_value.set_sensitive(true);
        headers.insert(header_name, header_value);
    }
    Ok(headers)
}

impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.endpoint.provider
    }

    fn model(&self) -> &str {
        &self.endpoint.model
    }

    fn accepts_images(&self) -> bool {
        self.vision
    }

    fn stream(&self, request: ChatRequest) -> EventStream {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let provider = self.clone();
        tokio::spawn(async move {
            let sink = Sink(tx);
            // Waiting on `closed` too drops the connection as soon as the agent lets go,
            // even while nothing arrives.
            tokio::select! {
                () = sink.0.closed() => {
                    debug!(provider = %provider.endpoint.provider, "request cancelled");
                }
                outcome = provider.answer(&request, &sink) => sink.deliver(outcome).await,
            }
        });
        rx
    }
}

impl OpenAiProvider {
    /// Sends the request and passes the answer to `sink`, ending with its `Finish`.
    async fn answer(&self, request: &ChatRequest, sink: &Sink) -> Result<(), Stop> {
        let endpoint = &*self.endpoint;
        let body = request::body(
            &endpoint.model,
            request,
            self.max_output_tokens,
            self.vision,
        );
        let body = serde_json::to_vec(&body).map_err(|e| ProviderError::Protocol {
            provider: endpoint.provider.clone(),
            detail: format!("cannot encode the request: {e}"),
        })?;
        debug!(
            provider = %endpoint.provider,
            model = %endpoint.model,
            url = %endpoint.url,
            messages = request.messages.len(),
            tools = request.tools.len(),
            bytes = body.len(),
            "sending chat request"
        );
        let sent = self
            .client
            .post(&endpoint.url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "text/event-stream, application/json")
            .body(body)
            .send();
        let mut response = timeout(self.idle_timeout, sent)
            .await
            .map_err(|_| self.timed_out())?
            .map_err(|e| network(endpoint, e))?;

        let status = response.status();
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        debug!(
            provider = %endpoint.provider,
            status = status.as_u16(),
            is_json,
            "response started"
        );

        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(error::parse_retry_after);
            // An unreadable error body still leaves the status to go by.
            let text = self
                .read_body(&mut response, MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&text).into_owned();
            return Err(
                error::classify_response(endpoint, status.as_u16(), &text, retry_after).into(),
            );
        }
        if is_json {
            let body = self.read_body(&mut response, usize::MAX).await?;
            for event in response::parse_completion(endpoint, status.as_u16(), &body)? {
                sink.send(event).await?;
            }
            return Ok(());
        }
        sse::read_stream(
            endpoint,
            status.as_u16(),
            self.idle_timeout,
            response.bytes_stream(),
            sink,
        )
        .await
    }

    /// Reads a whole body (up to `limit` bytes), each chunk within the idle timeout.
    async fn read_body(
        &self,
        response: &mut reqwest::Response,
        limit: usize,
    ) -> Result<Vec<u8>, ProviderError> {
        let mut body = Vec::new();
        while body.len() < limit {
            let chunk = timeout(self.idle_timeout, response.chunk())
                .await
                .map_err(|_| self.timed_out())?
                .map_err(|e| network(&self.endpoint, e))?;
            match chunk {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok(body)
    }

    fn timed_out(&self) -> ProviderError {
        ProviderError::Timeout {
            provider: self.endpoint.provider.clone(),
            after: self.idle_timeout,
        }
    }
}

/// A failure to send or to read, with the cause chain (the URL is named once, by the
/// error's message).
fn network(endpoint: &Endpoint, err: reqwest::Error) -> ProviderError {
    ProviderError::Network {
        provider: endpoint.provider.clone(),
        url: endpoint.url.clone(),
        detail: error::chain(&err.without_url()),
    }
}

/// Why an answer stopped before its `Finish`.
#[derive(Debug)]
enum Stop {
    /// The request failed; the error goes to the agent.
    Failed(ProviderError),
    /// The agent dropped the receiver; nobody is listening.
    Cancelled,
}

impl From<ProviderError> for Stop {
    fn from(err: ProviderError) -> Self {
        Stop::Failed(err)
    }
}

/// The sending end of the channel to the agent.
struct Sink(mpsc::Sender<Result<ProviderEvent, ProviderError>>);

impl Sink {
    async fn send(&self, event: ProviderEvent) -> Result<(), Stop> {
        self.0.send(Ok(event)).await.map_err(|_| Stop::Cancelled)
    }

    /// Ends the stream: a good answer has already sent its `Finish`; a failed one sends
    /// its error.
    async fn deliver(&self, outcome: Result<(), Stop>) {
        match outcome {
            Ok(()) => {}
            Err(Stop::Failed(err)) => {
                debug!(error = %err, "chat request failed");
                // A closed channel means the agent stopped listening: nothing to tell.
                let _ = self.0.send(Err(err)).await;
            }
            Err(Stop::Cancelled) => debug!("request cancelled"),
        }
    }
}
