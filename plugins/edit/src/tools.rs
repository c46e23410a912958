//! The edit plugin's tools — `write`, `edit`, `multiedit`, `replace`, `patch` — as thin
//! entry points: read the file through the host, compute the new bytes with this crate,
//! stage them through the host's `workspace` import. Nothing is on disk until the host
//! has shown the diff, had it approved and committed it.

use conch_plugin::bindings::conch::tool::workspace;
use conch_plugin::{CallContext, Tool, ToolError, ToolOutput};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::{EditError, FileChange, LineEdit, LineRange};

conch_plugin::plugin!(Write, Edit, Multiedit, Replace, Patch);

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteInput {
    /// File path, relative to the working directory or absolute inside the workspace
    path: String,
    /// The whole new content of the file
    content: String,
}

/// The `write` tool.
pub struct Write;

impl Tool for Write {
    const NAME: &'static str = "write";
    const DESCRIPTION: &'static str = "Create a file, or replace the whole content of one \
        (parent directories are created). Prefer edit, replace or patch for changes to an \
        existing file; overwriting one requires having read it in this session.";
    const PERMISSION: &'static str = "edit";
    const KEY_ARG: Option<&'static str> = Some("path");
    type Input = WriteInput;

    fn run(input: WriteInput, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let WriteInput { path, content } = input;
        let change = match read(&path)? {
            Some(old) => FileChange::Update {
                path,
                old,
                new: content.into_bytes(),
            },
            None => FileChange::Create {
                path,
                content: content.into_bytes(),
            },
        };
        staged(&[change], String::new())
    }
}

/// One edit: start_line (and end_line) to replace lines, or insert_after to insert.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RangeInput {
    /// First line to replace
    #[schemars(range(min = 1))]
    start_line: Option<usize>,
    /// Last line to replace (default: start_line)
    #[schemars(range(min = 1))]
    end_line: Option<usize>,
    /// Insert after this line instead of replacing (0 = before the first line)
    insert_after: Option<usize>,
    /// The new lines (without line numbers)
    new_text: String,
    /// The current text of the replaced lines; the edit is refused if it differs
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

/// `path` and one range. Unknown fields are refused by the schema (the host validates
/// against it), since serde cannot deny them beside a flattened struct.
#[derive(Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct EditInput {
    /// File to change
    path: String,
    #[serde(flatten)]
    range: RangeInput,
}

/// The `edit` tool.
pub struct Edit;

impl Tool for Edit {
    const NAME: &'static str = "edit";
    const DESCRIPTION: &'static str = "Replace lines start_line..end_line (1-based, \
        inclusive, as numbered by read) with new_text, or insert new_text after line \
        insert_after (0 = at the top). Empty new_text deletes the lines. Give `expected` (the \
        current text of those lines) to be safe against stale line numbers. Line endings, BOM \
        and final newline are kept.";
    const PERMISSION: &'static str = "edit";
    const KEY_ARG: Option<&'static str> = Some("path");
    type Input = EditInput;

    fn run(input: EditInput, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let EditInput { path, range } = input;
        let old = existing(&path)?;
        let new = crate::edit(&old, &range.into_edit()?).map_err(tool_error)?;
        staged(&[FileChange::Update { path, old, new }], String::new())
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MultieditInput {
    /// File to change
    path: String,
    /// The edits; line numbers refer to the file before the call
    #[schemars(length(min = 1))]
    edits: Vec<RangeInput>,
}

/// The `multiedit` tool.
pub struct Multiedit;

impl Tool for Multiedit {
    const NAME: &'static str = "multiedit";
    const DESCRIPTION: &'static str = "Several line-range edits to one file in one atomic \
        change. Line numbers refer to the file before the call; ranges may not overlap. Each \
        edit is like `edit`'s: start_line/end_line or insert_after, new_text, optional \
        expected.";
    const PERMISSION: &'static str = "edit";
    const KEY_ARG: Option<&'static str> = Some("path");
    type Input = MultieditInput;

    fn run(input: MultieditInput, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let MultieditInput { path, edits } = input;
        let edits = edits
            .into_iter()
            .map(RangeInput::into_edit)
            .collect::<Result<Vec<_>, _>>()?;
        let old = existing(&path)?;
        let new = crate::multiedit(&old, &edits).map_err(tool_error)?;
        staged(&[FileChange::Update { path, old, new }], String::new())
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceInput {
    /// File to change
    path: String,
    /// The text to find
    #[schemars(length(min = 1))]
    old_string: String,
    /// The text to put in its place
    new_string: String,
    /// Replace every occurrence (default false)
    #[serde(default)]
    replace_all: bool,
}

/// The `replace` tool.
pub struct Replace;

impl Tool for Replace {
    const NAME: &'static str = "replace";
    const DESCRIPTION: &'static str = "Replace old_string with new_string in a file. Exact \
        match first, then ignoring indentation and trailing whitespace, then treating curly \
        quotes and dashes as ASCII. old_string must match exactly one place unless replace_all; \
        when nothing matches, the error shows the closest lines. Do not include line numbers \
        from read in old_string.";
    const PERMISSION: &'static str = "edit";
    const KEY_ARG: Option<&'static str> = Some("path");
    type Input = ReplaceInput;

    /// Stages the change; the details say how `old_string` was found.
    fn run(input: ReplaceInput, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let ReplaceInput {
            path,
            old_string,
            new_string,
            replace_all,
        } = input;
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
        let change = FileChange::Update {
            path,
            old,
            new: replaced.bytes,
        };
        staged(&[change], details)
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchInput {
    /// The whole patch text
    patch: String,
}

/// The `patch` tool. Its hunks' context lines are its freshness check, so the agent's
/// read-before-change check is off for it.
pub struct Patch;

impl Tool for Patch {
    const NAME: &'static str = "patch";
    const DESCRIPTION: &'static str = "Apply a patch: a unified diff (git style; several \
        files, new files from /dev/null, deletions, renames) or the `*** Begin Patch` format \
        (*** Add File / *** Update File / *** Delete File / *** Move to, @@ context lines). \
        Hunks are located near their stated line, tolerating shifted lines and whitespace; if \
        any hunk fails, nothing is changed and the error shows where it failed.";
    const PERMISSION: &'static str = "edit";
    const STALE_CHECK: bool = false;
    type Input = PatchInput;

    /// Stages the changes; the details say where each hunk was placed.
    fn run(input: PatchInput, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let outcome = crate::apply_patch(&input.patch, |path| read(path).map_err(message))
            .map_err(tool_error)?;
        let hunks: Vec<String> = outcome.hunks.iter().map(|h| h.describe()).collect();
        staged(&outcome.changes, hunks.join("\n"))
    }
}

/// Stages the changes; the output is `details`, after which the host shows the diff and
/// puts the +/- summary before them.
fn staged(changes: &[FileChange], details: String) -> Result<ToolOutput, ToolError> {
    stage(changes)?;
    Ok(ToolOutput::text(details))
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

/// The message alone (the error's `Display` is its debug form).
fn message(e: ToolError) -> String {
    match e {
        ToolError::InvalidInput(m)
        | ToolError::OutsideWorkspace(m)
        | ToolError::NotFound(m)
        | ToolError::Denied(m)
        | ToolError::UnknownTool(m)
        | ToolError::Failed(m) => m,
    }
}

fn tool_error(e: EditError) -> ToolError {
    match e {
        EditError::NotFound(m) => ToolError::NotFound(m),
        EditError::NotText(m) | EditError::InvalidInput(m) => ToolError::InvalidInput(m),
        EditError::Read(m) => ToolError::Failed(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_tools_are_derived_from_the_code() {
        conch_plugin::manifest::check_manifest(env!("CARGO_MANIFEST_DIR"), ConchPlugin::specs());
    }
}
