//! Making a message list one an API accepts: every assistant tool call answered by one
//! tool message right after it, and no tool message answering nothing.

use std::collections::HashSet;

use crate::message::{Message, ToolCall};

/// What a call that never returned is answered with, so the model knows.
pub const INTERRUPTED_RESULT: &str = "error: this call did not run to the end (the run was interrupted); run it again if it is still needed";

/// `messages` with orphan tool messages dropped, duplicate results dropped, and a
/// result added for each call that has none.
pub fn repair(messages: &[Message]) -> Vec<Message> {
    let mut out = Vec::with_capacity(messages.len());
    let mut i = 0;
    while i < messages.len() {
        let message = &messages[i];
        i += 1;
        match message {
            Message::Tool { tool_call_id, .. } => {
                tracing::warn!(
                    call = %tool_call_id,
                    "dropping a tool result that answers no call"
                );
            }
            Message::Assistant { tool_calls, .. } if !tool_calls.is_empty() => {
                out.push(message.clone());
                let expected: HashSet<&str> = tool_calls.iter().map(|c| c.id.as_str()).collect();
                let mut answered = HashSet::new();
                while let Some(Message::Tool { tool_call_id, .. }) = messages.get(i) {
                    if expected.contains(tool_call_id.as_str())
                        && answered.insert(tool_call_id.as_str())
                    {
                        out.push(messages[i].clone());
                    } else {
                        tracing::warn!(call = %tool_call_id, "dropping an unexpected tool result");
                    }
                    i += 1;
                }
                for call in tool_calls {
                    if !answered.contains(call.id.as_str()) {
                        out.push(Message::tool_result(&call.id, INTERRUPTED_RESULT));
                    }
                }
            }
            _ => out.push(message.clone()),
        }
    }
    out
}

/// The calls of the last assistant message that have no result yet: what a crash left
/// undone. Empty when the conversation does not end in an assistant's tool calls.
pub fn pending_calls(messages: &[Message]) -> Vec<ToolCall> {
    let answered: HashSet<&str> = messages
        .iter()
        .rev()
        .map_while(|m| match m {
            Message::Tool { tool_call_id, .. } => Some(tool_call_id.as_str()),
            _ => None,
        })
        .collect();
    let Some(last) = messages
        .iter()
        .rev()
        .find(|m| !matches!(m, Message::Tool { .. }))
    else {
        return Vec::new();
    };
    last.tool_calls()
        .iter()
        .filter(|call| !answered.contains(call.id.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "read".into(),
            arguments: "{}".into(),
        }
    }

    fn assistant(ids: &[&str]) -> Message {
        Message::Assistant {
            content: None,
            reasoning_content: None,
            tool_calls: ids.iter().map(|id| call(id)).collect(),
        }
    }

    #[test]
    fn orphan_results_are_dropped_and_missing_ones_added() {
        let messages = vec![
            Message::user("go"),
            Message::tool_result("ghost", "x"),
            assistant(&["a", "b"]),
            Message::tool_result("b", "B"),
            Message::tool_result("b", "again"),
            Message::user("next"),
        ];
        let repaired = repair(&messages);
        assert_eq!(
            repaired,
            vec![
                Message::user("go"),
                assistant(&["a", "b"]),
                Message::tool_result("b", "B"),
                Message::tool_result("a", INTERRUPTED_RESULT),
                Message::user("next"),
            ]
        );
        assert_eq!(repair(&repaired), repaired, "repair is idempotent");
    }

    #[test]
    fn pending_calls_are_the_unanswered_calls_at_the_end() {
        let mut messages = vec![Message::user("go"), assistant(&["a", "b"])];
        assert_eq!(pending_calls(&messages), vec![call("a"), call("b")]);
        messages.push(Message::tool_result("a", "A"));
        assert_eq!(pending_calls(&messages), vec![call("b")]);
        messages.push(Message::tool_result("b", "B"));
        assert!(pending_calls(&messages).is_empty());
        assert!(pending_calls(&[Message::user("x")]).is_empty());
    }
}
