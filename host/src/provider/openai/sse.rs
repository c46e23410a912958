//! Reading a streamed answer: server-sent events whose `data` is a chunk of JSON, until
//! `[DONE]`. Works on any stream of byte chunks, so tests feed it bytes split anywhere.

use std::error::Error;
use std::pin::pin;
use std::time::Duration;

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt, stream};
use tokio::time::timeout;
use tracing::debug;

use super::response::Answer;
use super::{Endpoint, Sink, Stop, error};
use crate::provider::ProviderError;

/// What the byte stream below the SSE parser can fail with.
#[derive(Debug)]
enum ReadError<E> {
    Body(E),
    /// Nothing arrived for the idle timeout.
    Silent,
}

/// Reads the SSE `body` of a successful (`status`) response into `sink`, ending with
/// `Finish`. Silence longer than `idle_timeout` (comments count as activity) fails with
/// [`ProviderError::Timeout`]; a stream that ends before the model said it finished
/// fails with [`ProviderError::Protocol`] and lets out no tool call.
pub(super) async fn read_stream<S, B, E>(
    endpoint: &Endpoint,
    status: u16,
    idle_timeout: Duration,
    body: S,
    sink: &Sink,
) -> Result<(), Stop>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: Error,
{
    let body = stream::unfold(Box::pin(body), move |mut body| async move {
        match timeout(idle_timeout, body.next()).await {
            Ok(Some(chunk)) => Some((chunk.map_err(ReadError::Body), body)),
            Ok(None) => None,
            Err(_) => Some((Err(ReadError::Silent), body)),
        }
    });
    let mut events = pin!(body.eventsource());
    let mut answer = Answer::new(endpoint, status);
    let mut done = false;
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => event,
            Err(EventStreamError::Transport(ReadError::Silent)) => {
                return Err(ProviderError::Timeout {
                    provider: endpoint.provider.clone(),
                    after: idle_timeout,
                }
                .into());
            }
            Err(EventStreamError::Transport(ReadError::Body(e))) if answer.has_finished() => {
                // Only the closing chunks (usage, `[DONE]`) are lost: the answer stands.
                debug!(
                    provider = %endpoint.provider,
                    error = %error::chain(&e),
                    "connection lost after the answer finished"
                );
                break;
            }
            Err(EventStreamError::Transport(ReadError::Body(e))) => {
                return Err(ProviderError::Network {
                    provider: endpoint.provider.clone(),
                    url: endpoint.url.clone(),
                    detail: format!(
                        "the connection broke during the answer: {}",
                        error::chain(&e)
                    ),
                }
                .into());
            }
            Err(EventStreamError::Utf8(e)) => {
                return Err(answer
                    .protocol(format!("the stream is not UTF-8: {e}"))
                    .into());
            }
            Err(EventStreamError::Parser(e)) => {
                return Err(answer
                    .protocol(format!("the stream is not server-sent events: {e}"))
                    .into());
            }
        };
        let data = event.data.trim();
        if data == "[DONE]" {
            done = true;
            break;
        }
        for delta in answer.add_json(data)? {
            sink.send(delta).await?;
        }
    }
    if !done && !answer.has_finished() {
        return Err(answer
            .protocol("the stream ended before the answer was complete")
            .into());
    }
    for event in answer.finish()? {
        sink.send(event).await?;
    }
    Ok(())
}
