//! Reading a streamed answer: server-sent events whose `data` is a chunk of JSON, until
//! `[DONE]`. Works on any stream of byte chunks, so tests feed it bytes split anywhere.

use std::error::Error;
use std::pin::pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::time::timeout;
use tracing::debug;

use super::response::Answer;
use super::{Endpoint, Sink, Stop, error};
use crate::provider::ProviderError;

/// Server-sent events decoded from bytes as they arrive. Each byte is scanned once, so
/// one huge event split over many reads costs what its size does (a parser that rescans
/// its buffer for every read is quadratic in it).
#[derive(Default)]
struct SseDecoder {
    buffer: Vec<u8>,
    /// How much of `buffer` is known to hold no line end.
    scanned: usize,
    event: PendingEvent,
}

/// The event being read.
#[derive(Default)]
struct PendingEvent {
    /// Its `data` lines, each followed by `\n`.
    data: String,
    has_data: bool,
}

impl SseDecoder {
    /// Feeds `chunk`; returns the `data` of each event it completed.
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<String>, std::str::Utf8Error> {
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        let mut at = self.scanned;
        while let Some(offset) = self.buffer[at..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        {
            let end = at + offset;
            let next = match self.buffer[end] {
                // A `\r` last: whether a `\n` follows is for the next read to say.
                b'\r' if end + 1 == self.buffer.len() => {
                    at = end;
                    break;
                }
                b'\r' if self.buffer[end + 1] == b'\n' => end + 2,
                _ => end + 1,
            };
            let line = std::str::from_utf8(&self.buffer[start..end])?;
            if let Some(event) = self.event.line(line) {
                events.push(event);
            }
            start = next;
            at = next;
        }
        if at < self.buffer.len() && self.buffer[at] != b'\r' {
            at = self.buffer.len();
        }
        self.buffer.drain(..start);
        self.scanned = at - start;
        Ok(events)
    }

    /// The event still being read when the stream ends, if it has data.
    fn finish(&mut self) -> Result<Option<String>, std::str::Utf8Error> {
        let rest = std::mem::take(&mut self.buffer);
        self.scanned = 0;
        let line = std::str::from_utf8(&rest)?;
        let completed = if line.is_empty() {
            None
        } else {
            self.event.line(line)
        };
        Ok(completed.or_else(|| self.event.line("")))
    }
}

impl PendingEvent {
    /// One line: a field, a comment, or the blank line that ends an event.
    fn line(&mut self, line: &str) -> Option<String> {
        if line.is_empty() {
            if !std::mem::take(&mut self.has_data) {
                return None;
            }
            let mut data = std::mem::take(&mut self.data);
            data.pop();
            return Some(data);
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        if field == "data" {
            self.data.push_str(value.strip_prefix(' ').unwrap_or(value));
            self.data.push('\n');
            self.has_data = true;
        }
        None
    }
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
    let mut body = pin!(body);
    let mut decoder = SseDecoder::default();
    let mut answer = Answer::new(endpoint, status);
    let mut done = false;
    let not_utf8 = |answer: &Answer, e: std::str::Utf8Error| -> Stop {
        answer
            .protocol(format!("the stream is not UTF-8: {e}"))
            .into()
    };
    'read: loop {
        let events = match timeout(idle_timeout, body.next()).await {
            Err(_) => {
                return Err(ProviderError::Timeout {
                    provider: endpoint.provider.clone(),
                    after: idle_timeout,
                }
                .into());
            }
            Ok(None) => match decoder.finish() {
                Ok(last) => {
                    let ended = last.into_iter().collect::<Vec<_>>();
                    if ended.is_empty() {
                        break 'read;
                    }
                    ended
                }
                Err(e) => return Err(not_utf8(&answer, e)),
            },
            Ok(Some(Err(e))) if answer.has_finished() => {
                // Only the closing chunks (usage, `[DONE]`) are lost: the answer stands.
                debug!(
                    provider = %endpoint.provider,
                    error = %error::chain(&e),
                    "connection lost after the answer finished"
                );
                break 'read;
            }
            Ok(Some(Err(e))) => {
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
            Ok(Some(Ok(chunk))) => match decoder.push(chunk.as_ref()) {
                Ok(events) => events,
                Err(e) => return Err(not_utf8(&answer, e)),
            },
        };
        for event in events {
            let data = event.trim();
            if data == "[DONE]" {
                done = true;
                break 'read;
            }
            for delta in answer.add_json(data)? {
                sink.send(delta).await?;
            }
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

#[cfg(test)]
mod decoder_tests {
    use super::SseDecoder;

    fn decode(chunks: &[&[u8]]) -> Vec<String> {
        let mut decoder = SseDecoder::default();
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(decoder.push(chunk).unwrap());
        }
        events.extend(decoder.finish().unwrap());
        events
    }

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let text =
            b"data: {\"a\":1}\n\n: keep-alive\n\ndata: x\r\ndata: y\r\n\r\nevent: e\ndata:z\n\n";
        let whole = decode(&[text]);
        assert_eq!(whole, ["{\"a\":1}", "x\ny", "z"]);
        for split in 1..text.len() {
            let (a, b) = text.split_at(split);
            assert_eq!(decode(&[a, b]), whole, "split at {split}");
        }
        assert_eq!(decode(&[b"data: last"]), ["last"]);
    }

    #[test]
    fn one_huge_event_in_small_reads_is_decoded_in_one_pass() {
        let payload = "x".repeat(8 << 20);
        let text = format!("data: {payload}\n\n");
        let chunks: Vec<&[u8]> = text.as_bytes().chunks(1024).collect();
        let mut decoder = SseDecoder::default();
        let mut events = Vec::new();
        for chunk in chunks {
            events.extend(decoder.push(chunk).unwrap());
        }
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].len(), payload.len());
    }
}
