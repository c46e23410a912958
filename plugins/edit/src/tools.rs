//! The edit plugin's tools — `write`, `edit`, `multiedit`, `replace`, `patch` — as thin
//! entry points: read the file through the host, compute the new bytes with this crate,
//! stage them through the host's `workspace` import. Nothing is on disk until the host
//! has shown the diff, had it approved and committed it.

use conch_plugin::bindings::conch::tool::workspace;
use conch_plugin::{CallContext, Guest, ToolError, ToolOutput, parse_input};
use serde::Deserialize;

use crate::{EditError, FileChange, LineEdit, LineRange};

/// The tools this plugin exports, as named in its manifest.
const TOOLS: [&str; 5] = ["write", "edit", "multiedit", "replace", "patch"];

struct Edit;

impl Guest for Edit {
    fn invoke(tool: String, input: String, _ctx: CallContext) -> Result<ToolOutput, ToolError> {
        let (changes, details) = match tool.as_str() {
            "write" => (write(&input)?, String::new()),
            "edit" => (edit(&input)?, String::new()),
            "multiedit" => (multiedit(&input)?, String::new()),
            "replace" => replace(&input)?,
            "patch" => patch(&input)?,
            other => {
                return Err(ToolError::UnknownTool(format!(
                    "the edit plugin has no tool `{other}`; its tools are {}",
                    TOOLS.join(", ")
                )));
            }
        };
        stage(&changes)?;
        // The host shows the diff and puts the +/- summary before these details.
        Ok(ToolOutput::text(details))
    }
}

conch_plugin::export_plugin!(Edit);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteInput {
    path: String,
    content: String,
}

fn write(input: &str) -> Result<Vec<FileChange>, ToolError> {
    let WriteInput { path, content } = parse_input("write", input)?;
    Ok(vec![match read(&path)? {
        Some(old) => FileChange::Update {
            path,
            old,
            new: content.into_bytes(),
        },
        None => FileChange::Create {
            path,
            content: content.into_bytes(),
        },
    }])
}

/// One line-range edit as the model writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeInput {
    start_line: Option<usize>,
    end_line: Option<usize>,
    insert_after: Option<usize>,
    new_text: String,
    expected: Option<String>,
}

impl RangeInput {
    fn into_edit(self) -> Result<LineEdit, ToolError> {
        let range = match (self.start_line, self.end_line, self.insert_after) {
            (Some(start), Some(end), None) => LineRange::Lines { start, end },
            (Some(start), None, None) => LineRange::Lines { start, end: start },
            (None, None, Some(after)) => LineRange::InsertAfter(after),
            _ => {
                return Err(ToolError::InvalidInput(
                    "give either start_line (and end_line) to replace lines, or insert_after to insert; not both".into(),
                ));
            }
        };
        Ok(LineEdit {
            range,
            new_text: self.new_text,
            expected: self.expected,
        })
    }
}

#[derive(Deserialize)]
struct EditInput {
    path: String,
    #[serde(flatten)]
    range: RangeInput,
}

fn edit(input: &str) -> Result<Vec<FileChange>, ToolError> {
    let EditInput { path, range } = parse_input("edit", input)?;
    let old = existing(&path)?;
    let new = crate::edit(&old, &range.into_edit()?).map_err(tool_error)?;
    Ok(vec![FileChange::Update { path, old, new }])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MultieditInput {
    path: String,
    edits: Vec<RangeInput>,
}

fn multiedit(input: &str) -> Result<Vec<FileChange>, ToolError> {
    let MultieditInput { path, edits } = parse_input("multiedit", input)?;
    let edits = edits
        .into_iter()
        .map(RangeInput::into_edit)
        .collect::<Result<Vec<_>, _>>()?;
    let old = existing(&path)?;
    let new = crate::multiedit(&old, &edits).map_err(tool_error)?;
    Ok(vec![FileChange::Update { path, old, new }])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplaceInput {
    path: String,
    old_string: String,
    new_string: String,
    #[serde(default)]
    replace_all: bool,
}

/// The change, and how `old_string` was found.
fn replace(input: &str) -> Result<(Vec<FileChange>, String), ToolError> {
    let ReplaceInput {
        path,
        old_string,
        new_string,
        replace_all,
    } = parse_input("replace", input)?;
    let old = existing(&path)?;
    let replaced =
        crate::replace(&old, &old_string, &new_string, replace_all).map_err(tool_error)?;
    let lines: Vec<String> = replaced.lines.iter().map(usize::to_string).collect();
    let details = format!(
        "matched {} at line{} {}",
        replaced.matched.describe(),
        if lines.len() == 1 { "" } else { "s" },
        lines.join(", ")
    );
    Ok((
        vec![FileChange::Update {
            path,
            old,
            new: replaced.bytes,
        }],
        details,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchInput {
    patch: String,
}

/// The changes, and where each hunk was placed.
fn patch(input: &str) -> Result<(Vec<FileChange>, String), ToolError> {
    let PatchInput { patch } = parse_input("patch", input)?;
    let outcome = crate::apply_patch(&patch, |path| read(path).map_err(|e| e.to_string()))
        .map_err(tool_error)?;
    let hunks: Vec<String> = outcome.hunks.iter().map(|h| h.describe()).collect();
    Ok((outcome.changes, hunks.join("\n")))
}

/// Stages each change through the host, in order.
fn stage(changes: &[FileChange]) -> Result<(), ToolError> {
    for change in changes {
        let staged = match change {
            FileChange::Create { path, content } => workspace::write_file(path, content),
            FileChange::Update { path, new, .. } => workspace::write_file(path, new),
            FileChange::Delete { path, .. } => workspace::remove(path),
            FileChange::Rename {
                from, to, old, new, ..
            } => workspace::rename(from, to).and_then(|()| {
                if old == new {
                    Ok(())
                } else {
                    workspace::write_file(to, new)
                }
            }),
        };
        staged.map_err(ToolError::Failed)?;
    }
    Ok(())
}

/// A file's bytes through the host (staged changes of this call first), or `None` when
/// there is no such file.
fn read(path: &str) -> Result<Option<Vec<u8>>, ToolError> {
    match workspace::read_file(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.ends_with("no such file") => Ok(None),
        Err(e) if e.contains("outside the workspace") => Err(ToolError::OutsideWorkspace(e)),
        Err(e) => Err(ToolError::Failed(e)),
    }
}

/// A file that must exist for the tool to change it.
fn existing(path: &str) -> Result<Vec<u8>, ToolError> {
    read(path)?.ok_or_else(|| {
        ToolError::NotFound(format!(
            "{path} does not exist; use `write` to create a file"
        ))
    })
}

fn tool_error(e: EditError) -> ToolError {
    match e {
        EditError::NotFound(m) => ToolError::NotFound(m),
        EditError::NotText(m) | EditError::InvalidInput(m) => ToolError::InvalidInput(m),
        EditError::Read(m) => ToolError::Failed(m),
    }
}
