//! Keeping the prompt inside the context window: first prune the bulk of old tool
//! outputs, then have the model summarise older turns. The system prompt, the first
//! request and recent turns stay as they are, and an assistant's tool calls are never
//! separated from their results.

use crate::message::Message;

/// Tool results in this many of the latest assistant tool-call blocks are never pruned.
const KEEP_RECENT_BLOCKS: usize = 3;
/// Tool results shorter than this are left alone: pruning them gains little.
const PRUNE_MIN_CHARS: usize = 400;

/// What an image costs in the prompt, roughly: providers count tiles of the scaled
/// picture (hundreds to a couple of thousand tokens), not its bytes.
const IMAGE_TOKENS: u64 = 1000;

/// A summary of older turns is rarely shorter than this many tokens: summarising fewer
/// makes the conversation larger, not smaller (and costs a request).
const SUMMARY_TOKENS: u64 = 256;

/// Whether compacting `messages` now could make them smaller: large old tool outputs to
/// prune, or older turns long enough that a summary would be shorter than they are.
pub fn can_shrink(messages: &[Message]) -> bool {
    let mut pruned = messages.to_vec();
    prune_tool_outputs(&mut pruned)
        || plan(messages, 0).is_some_and(|p| estimate_tokens(&p.middle) > SUMMARY_TOKENS)
}

/// A rough token count: ~4 characters a token, plus a little per message.
pub fn estimate_tokens(messages: &[Message]) -> u64 {
    messages
        .iter()
        .map(|m| {
            let calls: usize = m
                .tool_calls()
                .iter()
                .map(|c| c.name.len() + c.arguments.len() + 16)
                .sum();
            ((m.text().len() + calls) / 4 + 4) as u64 + m.images().len() as u64 * IMAGE_TOKENS
        })
        .sum()
}

/// Replaces the text of large tool results outside the latest blocks with a short note,
/// and their images with a line saying what they were. Returns whether anything changed.
pub fn prune_tool_outputs(messages: &mut [Message]) -> bool {
    let recent_start = messages
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, m)| !m.tool_calls().is_empty())
        .nth(KEEP_RECENT_BLOCKS - 1)
        .map_or(0, |(i, _)| i);
    let mut changed = false;
    for message in &mut messages[..recent_start] {
        if let Message::Tool {
            content, images, ..
        } = message
            && !images.is_empty()
        {
            for image in images.drain(..) {
                content.push_str(&format!(
                    "\n{} (pruned to save context; read it again if you need it)",
                    image.notice()
                ));
            }
            changed = true;
        }
        if let Message::Tool { content, .. } = message
            && content.len() >= PRUNE_MIN_CHARS
        {
            let lines = content.lines().count();
            *content = format!(
                "[output pruned to save context: {lines} lines, {} bytes; call the tool again if you need it]",
                content.len()
            );
            changed = true;
        }
    }
    changed
}

/// How a conversation splits for summarising.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// System prompt(s) and the first request: kept.
    pub head: Vec<Message>,
    /// Older turns: summarised.
    pub middle: Vec<Message>,
    /// Recent turns: kept; starts at a user or assistant message, never inside a block.
    pub tail: Vec<Message>,
}

/// Splits `messages` so the tail fits in `tail_budget` tokens where it can (it holds at
/// least the last block). `None` when there is nothing old enough to summarise.
pub fn plan(messages: &[Message], tail_budget: u64) -> Option<Plan> {
    let systems = messages
        .iter()
        .take_while(|m| matches!(m, Message::System { .. }))
        .count();
    let head_len = match messages.get(systems) {
        Some(Message::User { .. }) => systems + 1,
        _ => systems,
    };
    let boundaries: Vec<usize> = (head_len..messages.len())
        .filter(|&i| !matches!(messages[i], Message::Tool { .. }))
        .collect();
    let last = *boundaries.last()?;
    let tail_start = boundaries
        .iter()
        .copied()
        .find(|&i| estimate_tokens(&messages[i..]) <= tail_budget)
        .unwrap_or(last);
    if tail_start <= head_len {
        return None;
    }
    Some(Plan {
        head: messages[..head_len].to_vec(),
        middle: messages[head_len..tail_start].to_vec(),
        tail: messages[tail_start..].to_vec(),
    })
}

/// The request that asks the model to summarise `middle`.
pub fn summary_request(middle: &[Message]) -> Vec<Message> {
    let mut transcript = String::new();
    for message in middle {
        let (who, text) = match message {
            Message::System { content } => ("system", content.as_str()),
            Message::User { content, .. } => ("user", content.as_str()),
            Message::Assistant { content, .. } => ("assistant", content.as_deref().unwrap_or("")),
            Message::Tool { content, .. } => ("tool result", content.as_str()),
        };
        if !text.is_empty() {
            transcript.push_str(&format!("[{who}]\n{text}\n\n"));
        }
        for image in message.images() {
            transcript.push_str(&format!("[{who}] {}\n\n", image.notice()));
        }
        for call in message.tool_calls() {
            transcript.push_str(&format!("[tool call] {} {}\n\n", call.name, call.arguments));
        }
    }
    vec![
        Message::system(
            "You summarise part of a coding session so the work can go on without it. \
             Keep: what the user asked, decisions made, files read or changed (with paths), \
             commands run and their outcome, errors met, and what remains to do. \
             Be factual and brief; use short bullet points.",
        ),
        Message::user(format!(
            "Summarise this part of the session:\n\n{}",
            transcript.trim_end()
        )),
    ]
}

/// The compacted conversation: head, the summary, then the tail.
pub fn assemble(plan: Plan, summary: &str) -> Vec<Message> {
    let mut messages = plan.head;
    messages.push(Message::user(format!(
        "[Summary of the earlier part of this session, written to save context]\n{}",
        summary.trim()
    )));
    messages.extend(plan.tail);
    messages
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ToolCall;
    use crate::session::repair;

    fn block(id: &str, output: &str) -> [Message; 2] {
        [
            Message::Assistant {
                content: None,
                reasoning_content: None,
                tool_calls: vec![ToolCall {
                    id: id.into(),
                    name: "read".into(),
                    arguments: "{}".into(),
                }],
            },
            Message::tool_result(id, output),
        ]
    }

    fn conversation(blocks: usize, output: &str) -> Vec<Message> {
        let mut messages = vec![Message::system("sys"), Message::user("first request")];
        for i in 0..blocks {
            messages.extend(block(&format!("c{i}"), output));
        }
        messages
    }

    #[test]
    fn pruning_spares_recent_blocks_and_short_outputs() {
        let big = "x\n".repeat(500);
        let mut messages = conversation(5, &big);
        messages.push(Message::tool_result("short", "ok"));
        assert!(prune_tool_outputs(&mut messages));
        let pruned: Vec<bool> = messages
            .iter()
            .filter(|m| matches!(m, Message::Tool { .. }))
            .map(|m| m.text().starts_with("[output pruned"))
            .collect();
        assert_eq!(pruned, [true, true, false, false, false, false]);
        assert!(!prune_tool_outputs(&mut messages), "nothing more to prune");
    }

    #[test]
    fn old_images_are_pruned_to_a_line_and_recent_ones_kept() {
        let png = crate::image::Image::from_bytes(b"\x89PNG\r\n\x1a\n").unwrap();
        let mut messages = conversation(0, "");
        for i in 0..4 {
            let [call, result] = block(&format!("c{i}"), "a.png: image/png image");
            messages.push(call);
            messages.push(result.with_images(vec![png.clone()]));
        }
        let before = estimate_tokens(&messages);
        assert!(before >= 4 * IMAGE_TOKENS, "images count: {before}");
        assert!(prune_tool_outputs(&mut messages));
        let kept: Vec<usize> = messages.iter().map(|m| m.images().len()).collect();
        assert_eq!(kept, [0, 0, 0, 0, 0, 1, 0, 1, 0, 1]);
        assert!(
            messages[3]
                .text()
                .contains("[image: image/png, 8 bytes] (pruned"),
            "{}",
            messages[3].text()
        );
        assert!(estimate_tokens(&messages) < before);
        let summary = summary_request(&messages);
        assert!(
            summary[1]
                .text()
                .contains("[tool result] [image: image/png")
        );
    }

    #[test]
    fn only_a_conversation_a_summary_would_shorten_can_shrink() {
        // Two short turns: a summary would be longer than what it replaces.
        let short = conversation(2, "ok");
        assert!(!can_shrink(&short));
        // Large outputs outside the recent blocks can be pruned.
        let bulky = conversation(6, &"x".repeat(2000));
        assert!(can_shrink(&bulky));
        // Many short turns are worth a summary.
        assert!(can_shrink(&conversation(60, "a short result line")));
    }

    #[test]
    fn the_plan_never_splits_a_block_and_keeps_head_and_tail() {
        let messages = conversation(10, &"y".repeat(400));
        for budget in [0, 50, 200, 400, 100_000] {
            let Some(plan) = plan(&messages, budget) else {
                assert_eq!(budget, 100_000, "everything fits: nothing to summarise");
                continue;
            };
            assert_eq!(plan.head, messages[..2]);
            assert!(!plan.tail.is_empty());
            assert!(!matches!(plan.tail[0], Message::Tool { .. }));
            assert!(matches!(plan.middle.last(), Some(Message::Tool { .. })));
            let compacted = assemble(plan, "summary");
            assert_eq!(
                repair(&compacted),
                compacted,
                "budget {budget}: a block was split"
            );
        }
    }
}
