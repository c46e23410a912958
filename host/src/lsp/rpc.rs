//! JSON-RPC 2.0 over `Content-Length` framing, as the language-server protocol uses it:
//! requests matched to their responses by id, each bounded by a timeout (then
//! `$/cancelRequest`), notifications handed to a callback, and the few requests a server
//! sends its client answered with an empty result.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// The largest message accepted: a server's answer is capped like a tool's output.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Why a request got no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RpcError {
    #[error("the server closed its connection")]
    Closed,
    #[error("no answer within {} s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("the server answered with error {code}: {message}")]
    Server { code: i64, message: String },
}

type Pending = Arc<Mutex<HashMap<i64, oneshot::Sender<Result<Value, RpcError>>>>>;

/// The client's end of a connection; cheap to share.
pub struct Rpc {
    outgoing: mpsc::UnboundedSender<Value>,
    pending: Pending,
    next_id: AtomicI64,
}

impl Rpc {
    /// Starts the reader and writer tasks on the current runtime. Every notification
    /// goes to `on_notification` (on the reader task: keep it short); `closed` fires when
    /// the server's output ends.
    pub fn connect(
        reader: impl AsyncRead + Send + Unpin + 'static,
        writer: impl AsyncWrite + Send + Unpin + 'static,
        on_notification: impl Fn(&str, Value) + Send + 'static,
    ) -> (Rpc, oneshot::Receiver<()>) {
        let (outgoing, queue) = mpsc::unbounded_channel();
        let pending: Pending = Arc::new(Mutex::new(HashMap::new()));
        let (closed_tx, closed) = oneshot::channel();
        tokio::spawn(write_loop(writer, queue));
        tokio::spawn({
            let pending = pending.clone();
            let outgoing = outgoing.clone();
            async move {
                read_loop(reader, &pending, &outgoing, on_notification).await;
                let waiting: Vec<_> = match pending.lock() {
                    Ok(mut map) => map.drain().collect(),
                    Err(_) => Vec::new(),
                };
                for (_, sender) in waiting {
                    let _ = sender.send(Err(RpcError::Closed));
                }
                let _ = closed_tx.send(());
            }
        });
        let rpc = Rpc {
            outgoing,
            pending,
            next_id: AtomicI64::new(1),
        };
        (rpc, closed)
    }

    /// Sends request `method` and waits at most `timeout` for its result; a request that
    /// times out (or whose future is dropped) is cancelled with `$/cancelRequest`.
    pub async fn request(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = self.pending.lock() {
            pending.insert(id, tx);
        }
        let guard = CancelOnDrop { rpc: self, id };
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        if self.outgoing.send(message).is_err() {
            return Err(RpcError::Closed);
        }
        let outcome = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(RpcError::Closed),
            Err(_) => Err(RpcError::Timeout(timeout)),
        };
        if !matches!(outcome, Err(RpcError::Timeout(_))) {
            std::mem::forget(guard);
        }
        outcome
    }

    /// Sends notification `method`; `Err` when the connection is gone.
    pub fn notify(&self, method: &str, params: Value) -> Result<(), RpcError> {
        self.outgoing
            .send(json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .map_err(|_| RpcError::Closed)
    }
}

/// Cancels a request that was given up on (timed out, or its future dropped).
struct CancelOnDrop<'a> {
    rpc: &'a Rpc,
    id: i64,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        let was_pending = match self.rpc.pending.lock() {
            Ok(mut pending) => pending.remove(&self.id).is_some(),
            Err(_) => false,
        };
        if was_pending {
            let _ = self.rpc.notify("$/cancelRequest", json!({"id": self.id}));
        }
    }
}

/// `message` with its `Content-Length` header.
pub fn frame(message: &Value) -> Vec<u8> {
    let body = message.to_string();
    let mut framed = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    framed.extend_from_slice(body.as_bytes());
    framed
}

/// Reads one framed message; `Ok(None)` at the end of the stream.
pub async fn read_message(
    reader: &mut (impl tokio::io::AsyncBufRead + Unpin),
) -> std::io::Result<Option<Value>> {
    let mut length = None;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            if length.is_some() {
                break;
            }
            // Stray blank lines between messages are skipped.
            continue;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let length = length.unwrap_or(0);
    if length > MAX_MESSAGE_BYTES {
        return Err(std::io::Error::other(format!(
            "a message of {length} bytes is over the limit"
        )));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| std::io::Error::other(format!("a message is not JSON: {e}")))
}

async fn write_loop(
    mut writer: impl AsyncWrite + Send + Unpin,
    mut queue: mpsc::UnboundedReceiver<Value>,
) {
    while let Some(message) = queue.recv().await {
        if writer.write_all(&frame(&message)).await.is_err() || writer.flush().await.is_err() {
            return;
        }
    }
}

async fn read_loop(
    reader: impl AsyncRead + Unpin,
    pending: &Pending,
    outgoing: &mpsc::UnboundedSender<Value>,
    on_notification: impl Fn(&str, Value),
) {
    let mut reader = BufReader::new(reader);
    loop {
        let message = match read_message(&mut reader).await {
            Ok(Some(message)) => message,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "language server sent an unreadable message");
                return;
            }
        };
        let method = message.get("method").and_then(Value::as_str);
        let id = message.get("id").cloned();
        match (method, id) {
            (Some(method), Some(id)) => {
                let _ = outgoing.send(answer_server_request(method, id, &message));
            }
            (Some(method), None) => {
                let params = message.get("params").cloned().unwrap_or(Value::Null);
                on_notification(method, params);
            }
            (None, Some(id)) => {
                let Some(id) = id.as_i64() else { continue };
                let sender = pending.lock().ok().and_then(|mut p| p.remove(&id));
                let Some(sender) = sender else { continue };
                let result = match message.get("error") {
                    Some(error) => Err(RpcError::Server {
                        code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                        message: error
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    }),
                    None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
                };
                let _ = sender.send(result);
            }
            (None, None) => {}
        }
    }
}

/// The answer to a request from the server: conch has no settings to give and accepts
/// progress tokens and registrations; anything else is not supported.
fn answer_server_request(method: &str, id: Value, message: &Value) -> Value {
    let result = match method {
        "workspace/configuration" => {
            let items = message
                .pointer("/params/items")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            Some(Value::Array(vec![Value::Null; items]))
        }
        "window/workDoneProgress/create"
        | "client/registerCapability"
        | "client/unregisterCapability"
        | "workspace/diagnostic/refresh"
        | "workspace/semanticTokens/refresh"
        | "workspace/inlayHint/refresh"
        | "workspace/codeLens/refresh" => Some(Value::Null),
        "workspace/workspaceFolders" => Some(Value::Null),
        _ => None,
    };
    match result {
        Some(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        None => json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {"code": -32601, "message": format!("conch does not support `{method}`")}
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server end that answers `echo` with its params, `fail` with an error, and never
    /// answers `hang`; it sends a notification first and a request of its own.
    async fn serve(stream: tokio::io::DuplexStream) {
        let (read, mut write) = tokio::io::split(stream);
        let mut read = BufReader::new(read);
        write
            .write_all(&frame(
                &json!({"jsonrpc": "2.0", "method": "hello", "params": [1]}),
            ))
            .await
            .unwrap();
        write
            .write_all(&frame(&json!({"jsonrpc": "2.0", "id": "s1", "method": "workspace/configuration", "params": {"items": [{}, {}]}})))
            .await
            .unwrap();
        while let Ok(Some(message)) = read_message(&mut read).await {
            let method = message["method"].as_str().unwrap_or("");
            let id = message["id"].clone();
            let reply = match method {
                "echo" => json!({"jsonrpc": "2.0", "id": id, "result": message["params"]}),
                "fail" => {
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": "no"}})
                }
                "" => {
                    // The answer to our configuration request, echoed as a notification.
                    json!({"jsonrpc": "2.0", "method": "answered", "params": message})
                }
                "$/cancelRequest" => {
                    json!({"jsonrpc": "2.0", "method": "cancelled", "params": message["params"]})
                }
                "close" => return,
                _ => continue,
            };
            write.write_all(&frame(&reply)).await.unwrap();
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn requests_get_their_answers_and_notifications_reach_the_callback() {
        let (client, server) = tokio::io::duplex(1 << 16);
        tokio::spawn(serve(server));
        let (read, write) = tokio::io::split(client);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (rpc, closed) = Rpc::connect(read, write, {
            let seen = seen.clone();
            move |method, params| seen.lock().unwrap().push((method.to_string(), params))
        });
        let second = Duration::from_secs(5);
        assert_eq!(
            rpc.request("echo", json!({"a": 1}), second).await,
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            rpc.request("fail", Value::Null, second).await,
            Err(RpcError::Server {
                code: -32000,
                message: "no".into()
            })
        );
        let short = Duration::from_millis(50);
        assert_eq!(
            rpc.request("hang", Value::Null, short).await,
            Err(RpcError::Timeout(short))
        );
        // Ordered after the cancellation on the same pipe.
        rpc.request("echo", Value::Null, second).await.unwrap();
        let close = rpc.request("close", Value::Null, second).await;
        assert_eq!(close, Err(RpcError::Closed));
        closed.await.unwrap();
        let seen = seen.lock().unwrap();
        let methods: Vec<&str> = seen.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(methods, ["hello", "answered", "cancelled"], "{seen:?}");
        assert_eq!(seen[1].1["result"], json!([null, null]));
        assert_eq!(seen[2].1["id"], 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn framing_reads_split_and_back_to_back_messages() {
        let mut bytes = frame(&json!({"x": "é"}));
        bytes.extend(b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n");
        bytes.extend(frame(&json!([1, 2])));
        let mut reader = BufReader::new(&bytes[..]);
        assert_eq!(
            read_message(&mut reader).await.unwrap(),
            Some(json!({"x": "é"}))
        );
        assert_eq!(
            read_message(&mut reader).await.unwrap(),
            Some(json!([1, 2]))
        );
        assert_eq!(read_message(&mut reader).await.unwrap(), None);
    }
}
