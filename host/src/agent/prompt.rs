//! The system prompt: who the agent is, its tools and workspace, the skills it can load,
//! how permissions work, and the project's own rules (AGENTS.md files, CLAUDE.md where
//! there is none).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::plugin::CallContext;
use crate::provider::ToolDefinition;

/// Rule files, in order of preference within one directory.
const RULE_FILES: [&str; 2] = ["AGENTS.md", "CLAUDE.md"];
/// How much of one rule file is included.
const RULE_FILE_BYTES: usize = 32 * 1024;

/// The system prompt for a run in `ctx`, with `global_dir` (the user config dir) as
/// the place of the user's own AGENTS.md.
pub fn system_prompt(
    ctx: &CallContext,
    tools: &[ToolDefinition],
    global_dir: Option<&Path>,
) -> String {
    let root = ctx.roots.first().unwrap_or(&ctx.cwd);
    let mut out = String::from(
        "You are conch, a coding agent working in the user's project. Use the tools to look \
         at the code before you answer, make the changes the user asks for, and check them. \
         Be concise: say what you did and what you found, not what you are about to do.\n",
    );
    let _ = write!(
        out,
        "\n# Workspace\nWorking directory: {}\nWorkspace root: {}\nTool paths are relative to \
         the working directory, or absolute inside the workspace root; nothing outside the \
         root can be reached.\n",
        ctx.cwd.display(),
        root.display()
    );
    if !tools.is_empty() {
        out.push_str("\n# Tools\n");
    }
    for tool in tools {
        let first_line = tool.description.lines().next().unwrap_or("");
        let _ = writeln!(out, "- {}: {first_line}", tool.name);
    }
    if tools.iter().any(|tool| tool.name == "skill") {
        let skills = crate::skills::discover(&crate::skills::dirs(root, global_dir));
        if !skills.is_empty() {
            out.push_str(
                "\n# Skills\nInstructions for particular tasks. When a task matches one, load it \
                 with the `skill` tool (by name) before you start, and follow it.\n",
            );
        }
        for skill in skills {
            let _ = writeln!(out, "- {}: {}", skill.name, skill.description);
        }
    }
    out.push_str(
        "\n# Permissions\nReading is allowed. Edits and commands may need the user's \
         approval; when a call is denied, the result says why and how the user can allow \
         it. Do not retry a denied call; tell the user what you need instead.\n",
    );
    for (path, text) in rule_files(&ctx.cwd, root, global_dir) {
        let _ = write!(
            out,
            "\n# Rules from {}\n{}\n",
            path.display(),
            text.trim_end()
        );
    }
    out
}

/// The rule files that apply in `cwd`: the user's global one, then one per directory
/// from `root` down to `cwd` (AGENTS.md, or CLAUDE.md where there is no AGENTS.md).
fn rule_files(cwd: &Path, root: &Path, global_dir: Option<&Path>) -> Vec<(PathBuf, String)> {
    let mut dirs: Vec<&Path> = cwd
        .ancestors()
        .take_while(|dir| dir.starts_with(root))
        .collect();
    dirs.reverse();
    let global = global_dir
        .into_iter()
        .filter_map(|dir| read_rules(&dir.join(RULE_FILES[0])));
    let project = dirs.into_iter().filter_map(|dir| {
        RULE_FILES
            .iter()
            .find_map(|name| read_rules(&dir.join(name)))
    });
    global.chain(project).collect()
}

fn read_rules(path: &Path) -> Option<(PathBuf, String)> {
    let bytes = crate::workspace::read_regular(path).ok()?;
    let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(RULE_FILE_BYTES)]).into_owned();
    if bytes.len() > RULE_FILE_BYTES {
        let _ = write!(
            text,
            "\n[… {} more bytes not included]",
            bytes.len() - RULE_FILE_BYTES
        );
    }
    Some((path.to_path_buf(), text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_come_from_root_down_to_cwd_with_claude_md_as_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let sub = root.join("crates/app");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::create_dir_all(dir.path().join("global")).unwrap();
        std::fs::write(dir.path().join("AGENTS.md"), "above the root").unwrap();
        std::fs::write(dir.path().join("global/AGENTS.md"), "global rule").unwrap();
        std::fs::write(root.join("AGENTS.md"), "root rule").unwrap();
        std::fs::write(root.join("CLAUDE.md"), "ignored: AGENTS.md wins").unwrap();
        std::fs::write(root.join("crates/CLAUDE.md"), "crates rule").unwrap();
        std::fs::write(sub.join("AGENTS.md"), "app rule").unwrap();
        let ctx = CallContext {
            cwd: sub.clone(),
            roots: vec![root],
            ..CallContext::default()
        };
        let prompt = system_prompt(&ctx, &[], Some(&dir.path().join("global")));
        let order: Vec<usize> = ["global rule", "root rule", "crates rule", "app rule"]
            .iter()
            .map(|rule| {
                prompt
                    .find(rule)
                    .unwrap_or_else(|| panic!("{rule} missing"))
            })
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{prompt}");
        assert!(!prompt.contains("above the root"));
        assert!(!prompt.contains("ignored"));
    }
}
