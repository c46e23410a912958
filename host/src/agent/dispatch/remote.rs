//! A provider's own tools (an agent CLI's): conch does not run them, but every use is
//! decided by conch's gate as its own tools' calls are (and recorded as a permission
//! entry), the use and its result are recorded in the session, and an edit conch
//! approved is journaled so `conch undo` can put it back.
//!
//! conch learns what such an edit did only from the disk: the file as it was when the
//! edit was approved (saved for undo before the CLI is told yes), and as it is when the
//! CLI reports the tool's result.

use std::collections::HashMap;

use super::{AgentEvent, Dispatcher, Journal, TurnIo, record_decision};
use crate::changeset::{Changeset, FileChange, WorkspacePath};
use crate::message::ToolCall;
use crate::permission::{DecidedBy, PermissionKey, Request, workspace_path};
use crate::provider::{PermissionAsk, RemoteTool};
use crate::session::{Entry, SessionError};

/// Edits conch approved whose results have not arrived yet, by tool use id.
#[derive(Debug, Default)]
pub struct PendingEdits(HashMap<String, PendingEdit>);

/// One approved edit: the tool, the file it will change and that file's contents at
/// approval (`None`: it did not exist).
#[derive(Debug)]
struct PendingEdit {
    tool: String,
    path: WorkspacePath,
    before: Option<Vec<u8>>,
}

impl Dispatcher {
    /// Answers a provider's question about one of its own tools with the gate's decision
    /// (asking the user as for conch's own tools, denying when headless), and records it.
    pub fn answer_remote_ask(
        &mut self,
        ask: &PermissionAsk,
        edits: &mut PendingEdits,
        session: &mut dyn Journal,
        io: &mut TurnIo<'_>,
    ) -> Result<(), SessionError> {
        let terms = &ask.terms;
        let key = terms
            .key
            .as_deref()
            .map(|key| match self.ctx.roots.first() {
                Some(root) if terms.key_is_path => workspace_path(key, &self.ctx.cwd, root),
                _ => key.to_string(),
            });
        let request = Request {
            tool: ask.tool.clone(),
            permission: terms.permission.clone(),
            key,
        };
        // An edit is asked about as conch's own are, with its diff (as far as the input
        // tells it), and a change to conch's configuration in the project needs a person
        // every time.
        let target = match terms.key.as_deref() {
            Some(path) if request.permission == PermissionKey::EDIT => self.edit_target(path),
            _ => None,
        };
        let mut decision = if request.permission == PermissionKey::EDIT {
            let preview = target
                .as_ref()
                .and_then(|(path, before)| {
                    let after = proposed(&ask.tool, &ask.input, before.as_deref())?;
                    Some(
                        self.one_file_change(path, before.clone(), Some(after))
                            .diff(),
                    )
                })
                .unwrap_or_default();
            self.gate.check_changeset(
                std::slice::from_ref(&request),
                &preview,
                crate::changeset::path::is_protected,
                io.approver.as_deref_mut(),
            )
        } else {
            self.gate.check(&request, io.approver.as_deref_mut())
        };
        let mut pending = None;
        if let (Ok(allowed), Some((path, before))) = (&decision, target) {
            let by = allowed.by;
            match self.save_pre_image(&ask.id, &ask.tool, &path, before.clone(), session) {
                Ok(()) => {
                    pending = Some(PendingEdit {
                        tool: ask.tool.clone(),
                        path,
                        before,
                    });
                }
                Err(message) => decision = Err(crate::permission::Denied { message, by }),
            }
        }
        let call = ToolCall {
            id: ask.id.clone(),
            name: ask.tool.clone(),
            arguments: ask.input.to_string(),
        };
        record_decision(&call, request.key.clone(), &decision, session, io)?;
        match decision {
            Ok(_) => {
                if let Some(edit) = pending {
                    edits.0.insert(ask.id.clone(), edit);
                }
                ask.answer(Ok(()));
            }
            Err(denied) => {
                if denied.by == DecidedBy::Interrupted {
                    io.interrupt.cancel();
                }
                ask.answer(Err(denied.message));
            }
        }
        Ok(())
    }

    /// The file an edit of the provider's will change (given as the provider wrote its
    /// path) and its contents now (`None`: it does not exist). `None` when conch cannot
    /// journal that path: outside the workspace, or not a file it can read (a directory,
    /// no permission: the tool fails the same way, and there is nothing to undo).
    fn edit_target(&self, path: &str) -> Option<(WorkspacePath, Option<Vec<u8>>)> {
        let path = self.rules.resolve(path).ok()?;
        match std::fs::read(self.rules.absolute(&path)) {
            Ok(bytes) => Some((path, Some(bytes))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some((path, None)),
            Err(_) => None,
        }
    }

    /// Saves the pre-image of an approved edit for undo; `Err` (for the model) when it
    /// cannot be saved, so the edit must not run.
    fn save_pre_image(
        &self,
        id: &str,
        tool: &str,
        path: &WorkspacePath,
        before: Option<Vec<u8>>,
        session: &mut dyn Journal,
    ) -> Result<(), String> {
        let change = self.one_file_change(path, before, None);
        session
            .blob_dir()
            .map_err(|e| e.to_string())
            .and_then(|dir| {
                crate::changeset::record(&change, id, tool, &dir).map_err(|e| e.to_string())
            })
            .map(|_| ())
            .map_err(|e| {
            format!(
                "error: cannot save the copy needed to undo this change ({e}); nothing was written"
            )
        })
    }

    /// Records a provider's tool use or result (showing it when `show`); an approved
    /// edit's result journals what it changed.
    pub fn note_remote_tool(
        &mut self,
        activity: RemoteTool,
        edits: &mut PendingEdits,
        session: &mut dyn Journal,
        io: &mut TurnIo<'_>,
        show: bool,
    ) -> Result<(), SessionError> {
        match activity {
            RemoteTool::Use { id, name, input } => {
                session.append(&Entry::RemoteToolUse {
                    id: id.clone(),
                    name: name.clone(),
                    input: input.clone(),
                })?;
                if show {
                    io.events
                        .emit(&AgentEvent::RemoteToolUse { id, name, input });
                }
            }
            RemoteTool::Result {
                id,
                output,
                is_error,
            } => {
                session.append(&Entry::RemoteToolResult {
                    id: id.clone(),
                    output: output.clone(),
                    is_error,
                })?;
                let edit = edits.0.remove(&id);
                if show {
                    io.events.emit(&AgentEvent::RemoteToolResult {
                        id: id.clone(),
                        output,
                        is_error,
                    });
                }
                if let Some(edit) = edit.filter(|_| !is_error) {
                    self.journal_remote_edit(&id, edit, session, io)?;
                }
            }
        }
        Ok(())
    }

    /// Records what an approved edit changed (its pre-image was saved at approval), so
    /// `conch undo` can restore it.
    fn journal_remote_edit(
        &mut self,
        id: &str,
        edit: PendingEdit,
        session: &mut dyn Journal,
        io: &mut TurnIo<'_>,
    ) -> Result<(), SessionError> {
        let after = match std::fs::read(self.rules.absolute(&edit.path)) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                tracing::warn!(path = %edit.path.relative.display(), "cannot read what the provider's edit wrote: {e}");
                return Ok(());
            }
        };
        if after == edit.before {
            return Ok(());
        }
        let changes = self.one_file_change(&edit.path, edit.before, after);
        let saved = session
            .blob_dir()
            .map_err(|e| e.to_string())
            .and_then(|dir| {
                crate::changeset::record(&changes, id, &edit.tool, &dir).map_err(|e| e.to_string())
            });
        match saved {
            Ok(record) => {
                self.files.note_written(&record);
                session.append(&Entry::Changeset(record))?;
                io.events.emit(&AgentEvent::Changes {
                    id: id.to_string(),
                    diff: changes.diff(),
                });
            }
            Err(e) => {
                session.append(&Entry::Error {
                    message: format!(
                        "the change `{}` made cannot be undone: saving it failed: {e}",
                        edit.tool
                    ),
                })?;
            }
        }
        Ok(())
    }

    /// A changeset of one file in this agent's workspace.
    fn one_file_change(
        &self,
        path: &WorkspacePath,
        before: Option<Vec<u8>>,
        after: Option<Vec<u8>>,
    ) -> Changeset {
        Changeset {
            rules: self.rules.clone(),
            files: vec![FileChange {
                path: path.clone(),
                display: self.rules.display(path),
                before,
                after,
                mode_from: None,
            }],
            created_dirs: Vec::new(),
            removed_dirs: Vec::new(),
        }
    }
}

/// What the provider's edit tool `tool` will make of a file whose contents are
/// `before`, as its input says, for the diff a person is shown; `None` when the input
/// does not tell (the tool would fail, or it is not one of Claude Code's edit tools).
fn proposed(tool: &str, input: &serde_json::Value, before: Option<&[u8]>) -> Option<Vec<u8>> {
    match tool {
        "Write" => Some(input["content"].as_str()?.as_bytes().to_vec()),
        "Edit" => replaced(before?, std::slice::from_ref(input)),
        "MultiEdit" => replaced(before?, input["edits"].as_array()?),
        _ => None,
    }
}

/// `before` with each edit's `old_string` replaced by its `new_string` in turn (every
/// occurrence with `replace_all`), as Claude Code's Edit and MultiEdit do.
fn replaced(before: &[u8], edits: &[serde_json::Value]) -> Option<Vec<u8>> {
    let mut text = std::str::from_utf8(before).ok()?.to_string();
    for edit in edits {
        let old = edit["old_string"].as_str()?;
        let new = edit["new_string"].as_str()?;
        if old.is_empty() || !text.contains(old) {
            return None;
        }
        text = if edit["replace_all"] == true {
            text.replace(old, new)
        } else {
            text.replacen(old, new, 1)
        };
    }
    Some(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_diff_shown_for_an_edit_is_what_its_input_will_make() {
        let before = b"a b a\n".as_slice();
        let edit = |input| proposed("Edit", &input, Some(before)).map(String::from_utf8);
        assert_eq!(
            edit(json!({"old_string": "a", "new_string": "c"})),
            Some(Ok("c b a\n".into()))
        );
        assert_eq!(
            edit(json!({"old_string": "a", "new_string": "c", "replace_all": true})),
            Some(Ok("c b c\n".into()))
        );
        assert_eq!(edit(json!({"old_string": "z", "new_string": "c"})), None);
        let multi = json!({"edits": [
            {"old_string": "b", "new_string": "x"},
            {"old_string": "x a", "new_string": "y"},
        ]});
        assert_eq!(
            proposed("MultiEdit", &multi, Some(before)),
            Some(b"a y\n".to_vec())
        );
        assert_eq!(
            proposed("Write", &json!({"content": "new"}), None),
            Some(b"new".to_vec())
        );
        assert_eq!(proposed("NotebookEdit", &json!({}), Some(before)), None);
    }
}
