//! One running language server for one root: the `initialize` handshake (position
//! encoding negotiated), the documents it was shown with their versions (synced from disk
//! before every use, so a change made by a command is seen by its mtime and contents), the
//! diagnostics it published or is asked for per version, and its work-done progress (a
//! server reporting progress is still indexing).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lsp_types::{Diagnostic, ServerCapabilities};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use super::position::{Encoding, path_of, uri_of};
use super::rpc::{Rpc, RpcError};
use crate::sandbox::child::StderrTail;

/// How long `initialize` may take (a large workspace takes a while to load).
pub const INITIALIZE_TIMEOUT: Duration = Duration::from_secs(45);
/// How long any other request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A server's process as the manager started it.
pub struct Launched {
    pub input: Box<dyn AsyncWrite + Send + Unpin>,
    pub output: Box<dyn AsyncRead + Send + Unpin>,
    /// `Some(how)` once it exited.
    pub exited: watch::Receiver<Option<String>>,
    pub stderr: StderrTail,
    /// Its process group, for the TERM at exit (`None` when not a child process).
    pub group: Option<u32>,
}

/// Diagnostics as last published (or pulled) for one file.
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The document version they are for, when the server said.
    pub version: Option<i32>,
    /// When they arrived, counted in publications (see [`Connection::wait_diagnostics`]).
    pub seq: u64,
    pub items: Vec<Diagnostic>,
}

/// What the notifications handler updates.
#[derive(Default)]
struct Shared {
    diagnostics: Mutex<HashMap<PathBuf, Published>>,
    /// Work-done progress tokens begun and not yet ended.
    progress: Mutex<HashSet<String>>,
}

/// A document as the server was last shown it.
struct Document {
    version: i32,
    text: String,
    /// The publication count when this version was sent: a publication without a version
    /// that arrives later is taken as being for it.
    sent_at: u64,
}

/// What a diagnostics wait came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    /// Diagnostics for the version waited for.
    Ready(Vec<Diagnostic>),
    /// None arrived for it in time.
    NotReady,
}

/// A live server.
pub struct Connection {
    rpc: Rpc,
    pub encoding: Encoding,
    pub capabilities: ServerCapabilities,
    shared: Arc<Shared>,
    /// Publications so far; waiters watch it.
    published: watch::Receiver<u64>,
    documents: Mutex<HashMap<PathBuf, Document>>,
    pub exited: watch::Receiver<Option<String>>,
    pub stderr: StderrTail,
    pub group: Option<u32>,
}

impl Connection {
    /// Runs the handshake with a launched server for `root`; bounded by
    /// [`INITIALIZE_TIMEOUT`] and by the server's exit.
    pub async fn initialize(
        launched: Launched,
        root: &Path,
        init_options: Option<Value>,
        initialize_timeout: Duration,
    ) -> Result<Connection, String> {
        let shared = Arc::new(Shared::default());
        let (publish_tx, published) = watch::channel(0u64);
        let handler = {
            let shared = shared.clone();
            move |method: &str, params: Value| on_notification(&shared, &publish_tx, method, params)
        };
        let (rpc, _closed) = Rpc::connect(launched.output, launched.input, handler);
        let root_uri = uri_of(root);
        let name = root
            .file_name()
            .map_or_else(|| "root".into(), |n| n.to_string_lossy().into_owned());
        let params = json!({
            "processId": std::process::id(),
            "clientInfo": {"name": "conch", "version": env!("CARGO_PKG_VERSION")},
            "rootUri": root_uri,
            "rootPath": root,
            "workspaceFolders": [{"uri": root_uri, "name": name}],
            "initializationOptions": init_options,
            "capabilities": client_capabilities(),
        });
        let mut exited = launched.exited.clone();
        let answer = tokio::select! {
            answer = rpc.request("initialize", params, initialize_timeout) => answer,
            how = exited.wait_for(Option::is_some) => {
                let how = how.map(|h| h.clone().unwrap_or_default()).unwrap_or_default();
                return Err(with_stderr(format!("it exited while starting ({how})"), &launched.stderr.text()));
            }
        };
        let result = match answer {
            Ok(result) => result,
            Err(RpcError::Timeout(_)) => {
                return Err(with_stderr(
                    format!(
                        "it did not answer `initialize` within {} s",
                        initialize_timeout.as_secs()
                    ),
                    &launched.stderr.text(),
                ));
            }
            Err(e) => {
                return Err(with_stderr(
                    format!("`initialize` failed: {e}"),
                    &launched.stderr.text(),
                ));
            }
        };
        let capabilities: ServerCapabilities =
            serde_json::from_value(result.get("capabilities").cloned().unwrap_or(json!({})))
                .map_err(|e| format!("its capabilities cannot be read: {e}"))?;
        let encoding = Encoding::from_announced(
            capabilities
                .position_encoding
                .as_ref()
                .map(|kind| kind.as_str()),
        );
        rpc.notify("initialized", json!({}))
            .map_err(|e| format!("it closed after `initialize`: {e}"))?;
        Ok(Connection {
            rpc,
            encoding,
            capabilities,
            shared,
            published,
            documents: Mutex::new(HashMap::new()),
            exited: launched.exited,
            stderr: launched.stderr,
            group: launched.group,
        })
    }

    /// Whether the server process is gone.
    pub fn has_exited(&self) -> bool {
        self.exited.borrow().is_some()
    }

    /// Whether it reports work in progress (indexing, loading the workspace).
    pub fn busy(&self) -> bool {
        self.shared.progress.lock().is_ok_and(|p| !p.is_empty())
    }

    /// Sends a request bounded by [`REQUEST_TIMEOUT`]; errors are for the model.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, String> {
        self.rpc
            .request(method, params, REQUEST_TIMEOUT)
            .await
            .map_err(|e| match e {
                RpcError::Timeout(_) if self.busy() => format!(
                    "`{method}` got no answer within {} s: the server is still indexing, try again shortly",
                    REQUEST_TIMEOUT.as_secs()
                ),
                e => format!("`{method}`: {e}"),
            })
    }

    /// Shows the server `path` as it is on disk now: opened the first time, changed (a
    /// new version, then saved) when its text differs. The version it has now, and
    /// whether this call changed it.
    pub fn sync(&self, path: &Path, language: &str) -> Result<(i32, bool), String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        self.show(path, language, text)
    }

    /// Shows the server `text` as the contents of `path` (see [`Self::sync`]).
    pub fn show(&self, path: &Path, language: &str, text: String) -> Result<(i32, bool), String> {
        let uri = uri_of(path);
        let seq = *self.published.borrow();
        let mut documents = self
            .documents
            .lock()
            .map_err(|_| "the document table is unusable".to_string())?;
        let closed = |e: RpcError| format!("the server is gone: {e}");
        match documents.get_mut(path) {
            Some(doc) if doc.text == text => Ok((doc.version, false)),
            Some(doc) => {
                doc.version += 1;
                doc.sent_at = seq;
                self.rpc
                    .notify(
                        "textDocument/didChange",
                        json!({
                            "textDocument": {"uri": uri, "version": doc.version},
                            "contentChanges": [{"text": text}],
                        }),
                    )
                    .map_err(closed)?;
                self.rpc
                    .notify(
                        "textDocument/didSave",
                        json!({"textDocument": {"uri": uri}}),
                    )
                    .map_err(closed)?;
                doc.text = text;
                Ok((doc.version, true))
            }
            None => {
                self.rpc
                    .notify(
                        "textDocument/didOpen",
                        json!({"textDocument": {
                            "uri": uri, "languageId": language, "version": 1, "text": text,
                        }}),
                    )
                    .map_err(closed)?;
                documents.insert(
                    path.to_path_buf(),
                    Document {
                        version: 1,
                        text,
                        sent_at: seq,
                    },
                );
                Ok((1, true))
            }
        }
    }

    /// The text of `path` as the server was last shown it.
    pub fn text_of(&self, path: &Path) -> Option<String> {
        self.documents
            .lock()
            .ok()
            .and_then(|docs| docs.get(path).map(|d| d.text.clone()))
    }

    /// Whether the server pulls diagnostics on request (`textDocument/diagnostic`).
    pub fn pulls_diagnostics(&self) -> bool {
        self.capabilities.diagnostic_provider.is_some()
    }

    /// The diagnostics of `path` for `version`, waiting until `deadline`: pulled when the
    /// server supports it, else the next publication for that version (one for an older
    /// version is stale and ignored; one without a version counts when it came after the
    /// version was sent).
    pub async fn wait_diagnostics(&self, path: &Path, version: i32, deadline: Instant) -> Wait {
        let left = deadline.saturating_duration_since(Instant::now());
        if self.pulls_diagnostics() {
            let params = json!({"textDocument": {"uri": uri_of(path)}});
            let answer = self
                .rpc
                .request("textDocument/diagnostic", params, left)
                .await;
            if let Ok(report) = answer {
                let items: Option<Vec<Diagnostic>> = report
                    .get("items")
                    .cloned()
                    .and_then(|items| serde_json::from_value(items).ok());
                let items = match items {
                    Some(items) => items,
                    // `unchanged`: the last report still holds.
                    None => self
                        .diagnostics_of(path)
                        .map(|p| p.items)
                        .unwrap_or_default(),
                };
                self.record(path, Some(version), items.clone());
                return Wait::Ready(items);
            }
            return Wait::NotReady;
        }
        let sent_at = self
            .documents
            .lock()
            .ok()
            .and_then(|docs| docs.get(path).map(|d| d.sent_at))
            .unwrap_or(0);
        let mut published = self.published.clone();
        let waited = tokio::time::timeout(left, async {
            loop {
                if let Some(p) = self.diagnostics_of(path) {
                    let fresh = match p.version {
                        Some(v) => v == version,
                        None => p.seq > sent_at,
                    };
                    if fresh {
                        return p.items;
                    }
                }
                if published.changed().await.is_err() {
                    // The server is gone; the wait runs out.
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        match waited {
            Ok(items) => Wait::Ready(items),
            Err(_) => Wait::NotReady,
        }
    }

    /// What was last published for `path`.
    pub fn diagnostics_of(&self, path: &Path) -> Option<Published> {
        self.shared
            .diagnostics
            .lock()
            .ok()
            .and_then(|d| d.get(path).cloned())
    }

    /// Every file's last diagnostics.
    pub fn all_diagnostics(&self) -> HashMap<PathBuf, Published> {
        self.shared
            .diagnostics
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }

    fn record(&self, path: &Path, version: Option<i32>, items: Vec<Diagnostic>) {
        let seq = *self.published.borrow();
        if let Ok(mut diagnostics) = self.shared.diagnostics.lock() {
            diagnostics.insert(
                path.to_path_buf(),
                Published {
                    version,
                    seq,
                    items,
                },
            );
        }
    }

    /// Asks it to shut down (briefly; the sandbox ends it anyway).
    pub async fn shutdown(&self) {
        let _ = self
            .rpc
            .request("shutdown", Value::Null, Duration::from_secs(1))
            .await;
        let _ = self.rpc.notify("exit", Value::Null);
    }
}

fn on_notification(shared: &Shared, published: &watch::Sender<u64>, method: &str, params: Value) {
    match method {
        "textDocument/publishDiagnostics" => {
            let Ok(params) = serde_json::from_value::<lsp_types::PublishDiagnosticsParams>(params)
            else {
                return;
            };
            let Some(path) = path_of(params.uri.as_str()) else {
                return;
            };
            let seq = *published.borrow() + 1;
            if let Ok(mut diagnostics) = shared.diagnostics.lock() {
                diagnostics.insert(
                    path,
                    Published {
                        version: params.version,
                        seq,
                        items: params.diagnostics,
                    },
                );
            }
            published.send_replace(seq);
        }
        "$/progress" => {
            let token = match params.get("token") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => return,
            };
            let kind = params
                .pointer("/value/kind")
                .and_then(Value::as_str)
                .unwrap_or("");
            if let Ok(mut progress) = shared.progress.lock() {
                match kind {
                    "begin" => {
                        progress.insert(token);
                    }
                    "end" => {
                        progress.remove(&token);
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// What conch can do as a client, so servers answer in forms it reads.
fn client_capabilities() -> Value {
    json!({
        "general": {"positionEncodings": ["utf-16", "utf-8", "utf-32"]},
        "window": {"workDoneProgress": true},
        "workspace": {"configuration": true, "workspaceFolders": true},
        "textDocument": {
            "synchronization": {"didSave": true, "dynamicRegistration": false},
            "publishDiagnostics": {"versionSupport": true, "relatedInformation": false},
            "diagnostic": {"dynamicRegistration": false},
            "definition": {"linkSupport": true},
            "implementation": {"linkSupport": true},
            "references": {},
            "hover": {"contentFormat": ["plaintext", "markdown"]},
            "documentSymbol": {"hierarchicalDocumentSymbolSupport": true},
            "callHierarchy": {},
        },
    })
}

/// `message`, and the server's stderr tail under it when it wrote any.
pub fn with_stderr(message: String, tail: &str) -> String {
    if tail.is_empty() {
        message
    } else {
        format!("{message}; its stderr ends with:\n{tail}")
    }
}

/// The protocol's language id for a file, by its extension.
pub fn language_id(path: &Path) -> String {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    match ext {
        "rs" => "rust",
        "py" | "pyi" => "python",
        "ts" | "mts" | "cts" => "typescript",
        "tsx" => "typescriptreact",
        "js" | "mjs" | "cjs" => "javascript",
        "jsx" => "javascriptreact",
        "go" => "go",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx" => "cpp",
        other => other,
    }
    .to_string()
}
