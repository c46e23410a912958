//! The `lsp` tool's operations: a request built from a path, a 1-based line and a
//! character column or a symbol on that line; the server's answer as places; and those
//! places as `path:line:col` lines with their source text — capped, outside-workspace
//! places without text, places a `read` rule denies left out.

use std::path::{Path, PathBuf};

use lsp_types::ServerCapabilities;
use serde_json::{Value, json};

use super::connection::{Connection, Wait, language_id};
use super::position::{Encoding, path_of, symbol_column, uri_of};

/// At most this many places are listed.
pub const MAX_PLACES: usize = 50;

/// What the tool can ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Definition,
    References,
    Hover,
    DocumentSymbols,
    WorkspaceSymbols,
    Implementation,
    IncomingCalls,
    OutgoingCalls,
    Diagnostics,
}

impl Operation {
    pub const ALL: [(&'static str, Operation); 9] = [
        ("definition", Operation::Definition),
        ("references", Operation::References),
        ("hover", Operation::Hover),
        ("document_symbols", Operation::DocumentSymbols),
        ("workspace_symbols", Operation::WorkspaceSymbols),
        ("implementation", Operation::Implementation),
        ("incoming_calls", Operation::IncomingCalls),
        ("outgoing_calls", Operation::OutgoingCalls),
        ("diagnostics", Operation::Diagnostics),
    ];

    pub fn parse(name: &str) -> Option<Operation> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, op)| *op)
    }

    /// Whether it needs a place in the file (line and column or symbol).
    pub fn needs_position(self) -> bool {
        !matches!(
            self,
            Operation::DocumentSymbols | Operation::WorkspaceSymbols | Operation::Diagnostics
        )
    }
}

/// One query.
#[derive(Debug, Clone)]
pub struct Request {
    pub operation: Operation,
    /// Absolute; for `workspace_symbols`, a file of the language to search.
    pub path: PathBuf,
    /// 1-based.
    pub line: Option<u32>,
    /// 1-based, in characters.
    pub column: Option<u32>,
    /// A name on `line`, instead of `column`.
    pub symbol: Option<String>,
    /// Which occurrence of `symbol` on the line (1-based; default the first).
    pub occurrence: Option<u32>,
    /// For `workspace_symbols`.
    pub query: Option<String>,
}

/// A place the server named.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub path: PathBuf,
    /// 0-based, as the server counts.
    pub line: u32,
    /// 0-based, in the server's encoding.
    pub character: u32,
    /// What is there (a symbol's name and kind, a diagnostic's message), if anything.
    pub label: Option<String>,
}

/// A server's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Places {
        places: Vec<Place>,
        encoding: Encoding,
        /// Said when there is none.
        none: String,
    },
    Text(String),
}

impl Answer {
    /// Whether it names no place.
    pub fn is_empty(&self) -> bool {
        matches!(self, Answer::Places { places, .. } if places.is_empty())
    }
}

/// Runs `request` against a live server.
pub async fn run(connection: &Connection, request: Request) -> Result<Answer, String> {
    let path = &request.path;
    let language = language_id(path);
    let (version, _) = connection.sync(path, &language)?;
    let encoding = connection.encoding;
    let document = json!({"uri": uri_of(path)});
    let places = |places: Vec<Place>, none: &str| Answer::Places {
        places,
        encoding,
        none: none.to_string(),
    };
    let position = if request.operation.needs_position() {
        Some(position_of(connection, &request)?)
    } else {
        None
    };
    let at = || json!({"textDocument": document, "position": position});
    match request.operation {
        Operation::Definition | Operation::Implementation => {
            let method = if request.operation == Operation::Definition {
                "textDocument/definition"
            } else {
                "textDocument/implementation"
            };
            let answer = connection.request(method, at()).await?;
            Ok(places(locations(&answer), "no definition found there"))
        }
        Operation::References => {
            let mut params = at();
            params["context"] = json!({"includeDeclaration": true});
            let answer = connection
                .request("textDocument/references", params)
                .await?;
            Ok(places(locations(&answer), "no references found"))
        }
        Operation::Hover => {
            let answer = connection.request("textDocument/hover", at()).await?;
            let text = hover_text(&answer);
            Ok(Answer::Text(if text.trim().is_empty() {
                "no information there".into()
            } else {
                text
            }))
        }
        Operation::DocumentSymbols => {
            let answer = connection
                .request(
                    "textDocument/documentSymbol",
                    json!({"textDocument": document}),
                )
                .await?;
            let mut found = Vec::new();
            symbols(&answer, Some(path), None, &mut found);
            Ok(places(found, "no symbols in this file"))
        }
        Operation::WorkspaceSymbols => {
            workspace_symbols(connection, request.query.as_deref().unwrap_or_default()).await
        }
        Operation::IncomingCalls | Operation::OutgoingCalls => {
            let items = connection
                .request("textDocument/prepareCallHierarchy", at())
                .await?;
            let Some(item) = items.as_array().and_then(|a| a.first()).cloned() else {
                return Ok(places(Vec::new(), "no function or method there"));
            };
            let (method, key) = if request.operation == Operation::IncomingCalls {
                ("callHierarchy/incomingCalls", "from")
            } else {
                ("callHierarchy/outgoingCalls", "to")
            };
            let answer = connection.request(method, json!({"item": item})).await?;
            let found = answer
                .as_array()
                .map(|calls| {
                    calls
                        .iter()
                        .filter_map(|call| {
                            let item = call.get(key)?;
                            let mut place =
                                place_of(item.get("uri")?, item.pointer("/selectionRange/start")?)?;
                            place.label =
                                item.get("name").and_then(Value::as_str).map(str::to_string);
                            Some(place)
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(places(found, "no calls found"))
        }
        Operation::Diagnostics => {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
            let items = match connection.wait_diagnostics(path, version, deadline).await {
                Wait::Ready(items) => items,
                Wait::NotReady => match connection.diagnostics_of(path) {
                    Some(p) => p.items,
                    None => {
                        return Ok(Answer::Text(
                            "diagnostics not ready after 3 s (the language server has not reported on this file yet)".into(),
                        ));
                    }
                },
            };
            let found = items
                .iter()
                .map(|d| Place {
                    path: path.clone(),
                    line: d.range.start.line,
                    character: d.range.start.character,
                    label: Some(format!("{}: {}", severity(d), first_line(&d.message))),
                })
                .collect();
            Ok(places(found, "no diagnostics"))
        }
    }
}

/// The symbols of the server's workspace matching `text`.
pub async fn workspace_symbols(connection: &Connection, text: &str) -> Result<Answer, String> {
    let answer = connection
        .request("workspace/symbol", json!({"query": text}))
        .await?;
    let mut found = Vec::new();
    symbols(&answer, None, None, &mut found);
    Ok(Answer::Places {
        places: found,
        encoding: connection.encoding,
        none: "no symbol matches".into(),
    })
}

/// Whether the server declared it answers `operation` (diagnostics: every server can
/// publish them).
pub fn supports(capabilities: &ServerCapabilities, operation: Operation) -> bool {
    use lsp_types::{
        CallHierarchyServerCapability as Calls, HoverProviderCapability as Hover,
        ImplementationProviderCapability as Implementation, OneOf,
    };
    fn one_of<T>(declared: &Option<OneOf<bool, T>>) -> bool {
        matches!(declared, Some(OneOf::Left(true) | OneOf::Right(_)))
    }
    match operation {
        Operation::Definition => one_of(&capabilities.definition_provider),
        Operation::References => one_of(&capabilities.references_provider),
        Operation::Hover => matches!(
            capabilities.hover_provider,
            Some(Hover::Simple(true) | Hover::Options(_))
        ),
        Operation::DocumentSymbols => one_of(&capabilities.document_symbol_provider),
        Operation::WorkspaceSymbols => one_of(&capabilities.workspace_symbol_provider),
        Operation::Implementation => matches!(
            capabilities.implementation_provider,
            Some(Implementation::Simple(true) | Implementation::Options(_))
        ),
        Operation::IncomingCalls | Operation::OutgoingCalls => matches!(
            capabilities.call_hierarchy_provider,
            Some(Calls::Simple(true) | Calls::Options(_))
        ),
        Operation::Diagnostics => true,
    }
}

/// The protocol position of the request's place.
fn position_of(connection: &Connection, request: &Request) -> Result<Value, String> {
    let path = &request.path;
    let line_no = request
        .line
        .filter(|l| *l >= 1)
        .ok_or("give `line` (1-based) and `column` or `symbol`")?;
    let text = connection.text_of(path).unwrap_or_default();
    let line = text
        .lines()
        .nth(line_no as usize - 1)
        .ok_or_else(|| format!("{} has no line {line_no}", path.display()))?;
    let column = match (&request.symbol, request.column) {
        (Some(symbol), _) => {
            let occurrence = request.occurrence.unwrap_or(1) as usize;
            symbol_column(line, symbol, occurrence).ok_or_else(|| {
                let which = if occurrence > 1 {
                    format!("occurrence {occurrence} of `{symbol}`")
                } else {
                    format!("`{symbol}`")
                };
                format!(
                    "{which} is not on line {line_no} of {}, which reads: {}",
                    path.display(),
                    line.trim()
                )
            })?
        }
        (None, Some(column)) if column >= 1 => column,
        _ => return Err("give `column` (1-based, in characters) or `symbol`".into()),
    };
    Ok(json!({"line": line_no - 1, "character": connection.encoding.offset(line, column)}))
}

fn place_of(uri: &Value, start: &Value) -> Option<Place> {
    Some(Place {
        path: path_of(uri.as_str()?)?,
        line: start.get("line")?.as_u64()? as u32,
        character: start.get("character")?.as_u64()? as u32,
        label: None,
    })
}

/// `Location`, `Location[]` or `LocationLink[]` as places.
fn locations(answer: &Value) -> Vec<Place> {
    let one = |item: &Value| {
        if let Some(uri) = item.get("targetUri") {
            place_of(uri, item.pointer("/targetSelectionRange/start")?)
        } else {
            place_of(item.get("uri")?, item.pointer("/range/start")?)
        }
    };
    match answer {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        Value::Object(_) => one(answer).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// `DocumentSymbol[]` (nested, in the file `path`) or `SymbolInformation[]`/
/// `WorkspaceSymbol[]` as places.
fn symbols(answer: &Value, path: Option<&Path>, container: Option<&str>, out: &mut Vec<Place>) {
    let Some(items) = answer.as_array() else {
        return;
    };
    for item in items {
        let name = item.get("name").and_then(Value::as_str).unwrap_or("?");
        let kind = item
            .get("kind")
            .and_then(|k| serde_json::from_value::<lsp_types::SymbolKind>(k.clone()).ok())
            .map_or_else(String::new, |k| format!("{k:?}").to_lowercase());
        let label = match container.or(item.get("containerName").and_then(Value::as_str)) {
            Some(parent) if !parent.is_empty() => format!("{kind} {parent}::{name}"),
            _ => format!("{kind} {name}"),
        };
        let place = if let Some(location) = item.get("location") {
            let start = location
                .pointer("/range/start")
                .cloned()
                .unwrap_or(json!({"line": 0, "character": 0}));
            location.get("uri").and_then(|uri| place_of(uri, &start))
        } else {
            let uri = path.map(|path| Value::String(uri_of(path)));
            item.pointer("/selectionRange/start")
                .zip(uri)
                .and_then(|(start, uri)| place_of(&uri, start))
        };
        if let Some(mut place) = place {
            place.label = Some(label.trim().to_string());
            out.push(place);
        }
        if let Some(children) = item.get("children") {
            symbols(children, path, Some(name), out);
        }
    }
}

fn hover_text(answer: &Value) -> String {
    let contents = answer.get("contents").unwrap_or(&Value::Null);
    let piece = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    };
    match contents {
        Value::Array(parts) => parts.iter().map(piece).collect::<Vec<_>>().join("\n"),
        other => piece(other),
    }
}

fn severity(d: &lsp_types::Diagnostic) -> &'static str {
    use lsp_types::DiagnosticSeverity as S;
    match d.severity {
        Some(S::WARNING) => "warning",
        Some(S::INFORMATION) => "info",
        Some(S::HINT) => "hint",
        _ => "error",
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// How a place may be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// With its source line.
    Shown,
    /// Outside the workspace: only where.
    WithoutText,
    /// A `read` rule denies it: left out.
    Hidden,
}

/// The answer as text for the model: `path:line:col` (1-based, in characters) and the
/// source line, at most [`MAX_PLACES`] places; `visibility` says how each path may be
/// shown.
pub fn render(
    answer: &Answer,
    workspace: &Path,
    visibility: &dyn Fn(&Path) -> Visibility,
) -> String {
    let (places, encoding, none) = match answer {
        Answer::Text(text) => return text.clone(),
        Answer::Places {
            places,
            encoding,
            none,
        } => (places, *encoding, none),
    };
    let mut lines = Vec::new();
    let mut hidden = 0;
    let mut shown = 0;
    let mut texts: std::collections::HashMap<PathBuf, Option<String>> =
        std::collections::HashMap::new();
    for place in places {
        let how = visibility(&place.path);
        if how == Visibility::Hidden {
            hidden += 1;
            continue;
        }
        shown += 1;
        if shown > MAX_PLACES {
            continue;
        }
        let name = place
            .path
            .strip_prefix(workspace)
            .unwrap_or(&place.path)
            .display()
            .to_string();
        let label = place
            .label
            .as_ref()
            .map_or_else(String::new, |l| format!(" {l}"));
        if how == Visibility::WithoutText {
            lines.push(format!(
                "{name}:{}:{}{label} (outside the workspace)",
                place.line + 1,
                place.character + 1
            ));
            continue;
        }
        let text = texts.entry(place.path.clone()).or_insert_with(|| {
            std::fs::read(&place.path)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        });
        let source = text
            .as_deref()
            .and_then(|t| t.lines().nth(place.line as usize));
        let column = source.map_or(place.character + 1, |line| {
            encoding.column(line, place.character)
        });
        let code = source.map_or_else(String::new, |line| format!(" | {}", line.trim()));
        lines.push(format!("{name}:{}:{column}{label}{code}", place.line + 1));
    }
    if shown > MAX_PLACES {
        lines.push(format!(
            "… {} more not shown (the first {MAX_PLACES} of {shown})",
            shown - MAX_PLACES
        ));
    }
    if hidden > 0 {
        lines.push(format!("({hidden} in files a read rule denies left out)"));
    }
    if lines.is_empty() {
        none.clone()
    } else {
        lines.join("\n")
    }
}
