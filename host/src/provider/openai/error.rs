//! Reading what went wrong: an error response (status, `Retry-After`, body) or an
//! `error` object inside a stream, turned into a [`ProviderError`].

use std::time::Duration;

use serde_json::Value;

use super::Endpoint;
use crate::provider::ProviderError;

/// How much of a server's error message is kept.
const DETAIL_CHARS: usize = 500;

/// The parts of an OpenAI-style error object that tell errors apart:
/// `{"message", "type", "code"}`, where `code` is a string or an HTTP status.
#[derive(Debug, Default)]
pub(super) struct ApiError {
    message: Option<String>,
    kind: Option<String>,
    code: Option<String>,
    status: Option<u16>,
}

impl ApiError {
    /// Reads an error object, or a bare string (`{"error": "model not found"}`).
    pub(super) fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::String(message) => Some(ApiError {
                message: Some(message.clone()),
                ..ApiError::default()
            }),
            Value::Object(fields) => {
                let text = |key| fields.get(key).and_then(Value::as_str).map(str::to_owned);
                let code = fields.get("code");
                Some(ApiError {
                    message: text("message"),
                    kind: text("type"),
                    code: code.and_then(Value::as_str).map(str::to_owned),
                    status: code
                        .and_then(Value::as_u64)
                        .and_then(|c| u16::try_from(c).ok()),
                })
            }
            _ => None,
        }
    }

    /// Finds the error in a response body: `{"error": …}` (OpenAI and most others), or
    /// the body itself when it carries a message (vLLM's `{"object": "error", "message"}`).
    fn from_body(body: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(body).ok()?;
        match value.get("error") {
            Some(error) => Self::from_value(error),
            None if value.get("message").is_some() => Self::from_value(&value),
            None => None,
        }
    }

    /// Whether the code or type is one of `codes`.
    fn has_code(&self, codes: &[&str]) -> bool {
        [&self.code, &self.kind]
            .into_iter()
            .flatten()
            .any(|c| codes.contains(&c.as_str()))
    }

    /// Whether the message contains one of `phrases` (given in lower case), ignoring case.
    fn says(&self, phrases: &[&str]) -> bool {
        self.message.as_deref().is_some_and(|m| {
            let m = m.to_lowercase();
            phrases.iter().any(|p| m.contains(p))
        })
    }

    fn is_unknown_model(&self) -> bool {
        self.has_code(&["model_not_found"])
            || (self.says(&["model"])
                && self.says(&[
                    "not exist",
                    "not found",
                    "not a valid model",
                    "unknown model",
                ]))
    }

    fn is_context_overflow(&self) -> bool {
        self.has_code(&["context_length_exceeded"])
            || self.says(&[
                "context length",
                "context_length",
                "maximum context",
                "context window",
                "too many tokens",
                "prompt is too long",
            ])
    }

    /// The server's words, or `fallback` (the raw body) when it gave none.
    fn detail(&self, fallback: &str) -> String {
        clip(self.message.as_deref().unwrap_or(fallback))
    }
}

/// The error for a response that came back with a failure `status`.
pub(super) fn classify_response(
    endpoint: &Endpoint,
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
) -> ProviderError {
    let error = ApiError::from_body(body);
    let detail = match &error {
        Some(error) => error.detail(body),
        None => clip(body),
    };
    classify(endpoint, status, error.as_ref(), detail, retry_after)
}

/// The error for an `error` object that arrived inside a successful (`status`) response.
/// Its numeric `code`, when it has one, stands for the status; otherwise it is told
/// apart by its code and message, and taken for a server failure (retryable) when
/// nothing says more.
pub(super) fn classify_in_answer(
    endpoint: &Endpoint,
    status: u16,
    error: &ApiError,
) -> ProviderError {
    let detail = format!("error inside the answer: {}", error.detail("no details"));
    if let Some(status) = error.status.filter(|s| (400..=599).contains(s)) {
        return classify(endpoint, status, Some(error), detail, None);
    }
    if error.is_unknown_model() {
        unknown_model(endpoint, detail)
    } else if error.is_context_overflow() {
        ProviderError::ContextOverflow { detail }
    } else if error.has_code(&["rate_limit_exceeded", "rate_limit_error"]) {
        ProviderError::RateLimited {
            provider: endpoint.provider.clone(),
            retry_after: None,
            detail,
        }
    } else {
        ProviderError::Server {
            provider: endpoint.provider.clone(),
            status,
            retry_after: None,
            detail,
        }
    }
}

/// The error for a failure `status`, told apart further by the error object.
fn classify(
    endpoint: &Endpoint,
    status: u16,
    error: Option<&ApiError>,
    detail: String,
    retry_after: Option<Duration>,
) -> ProviderError {
    let provider = endpoint.provider.clone();
    match status {
        401 | 403 => ProviderError::Auth {
            provider,
            status,
            detail,
        },
        400..=499 if error.is_some_and(ApiError::is_unknown_model) => {
            unknown_model(endpoint, detail)
        }
        404 if !endpoint.model.is_empty()
            && error.is_some_and(|e| e.says(&[&endpoint.model.to_lowercase()])) =>
        {
            unknown_model(endpoint, detail)
        }
        // Any other 404 is a page the server does not have: the URL is wrong.
        404 => ProviderError::Rejected {
            provider,
            status,
            detail: format!(
                "{detail} (nothing at {}; check base_url, which usually ends in /v1)",
                endpoint.url
            ),
        },
        400 | 413 | 422 if error.is_some_and(ApiError::is_context_overflow) => {
            ProviderError::ContextOverflow { detail }
        }
        // An empty account is not a passing limit: waiting would not help.
        429 if error.is_some_and(|e| e.has_code(&["insufficient_quota"])) => {
            ProviderError::Rejected {
                provider,
                status,
                detail,
            }
        }
        429 => ProviderError::RateLimited {
            provider,
            retry_after,
            detail,
        },
        500..=599 => ProviderError::Server {
            provider,
            status,
            retry_after,
            detail,
        },
        _ => ProviderError::Rejected {
            provider,
            status,
            detail,
        },
    }
}

fn unknown_model(endpoint: &Endpoint, detail: String) -> ProviderError {
    ProviderError::UnknownModel {
        provider: endpoint.provider.clone(),
        model: endpoint.model.clone(),
        detail,
    }
}

/// `Retry-After` in seconds, whole or decimal. (The HTTP-date form is not worth a date
/// parser: the agent's own backoff covers it.)
pub(super) fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: f64 = value.trim().parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// A server's text made fit for one line of a message: whitespace runs (an HTML page's
/// line breaks) become one space, and it is cut after [`DETAIL_CHARS`] characters.
pub(super) fn clip(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return "no details".into();
    }
    match text.char_indices().nth(DETAIL_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// An error and its causes, `outer: inner: …`.
pub(super) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their source in their own message.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
