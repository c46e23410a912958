//! The skill plugin: the `skill` tool. The host gives it read-only views of exactly two
//! directories, the project's skills and the user's (capability `skills`, at
//! `/skills/project` and `/skills/user`); it finds the skill by the name its front
//! matter declares (or its folder's name) and returns the file. The project's skill wins
//! when both have one of the same name, as in the system prompt's list.

use std::path::{Component, Path, PathBuf};

use conch_plugin::{CallContext, Tool, ToolError, ToolOutput};
use schemars::JsonSchema;
use serde::Deserialize;

/// The guest paths the host preopens, project first.
const SKILL_DIRS: [&str; 2] = ["/skills/project", "/skills/user"];
/// A skill file longer than this is cut with a notice.
const MAX_FILE_BYTES: usize = 64 * 1024;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SkillInput {
    /// The skill's name as listed
    #[schemars(length(min = 1))]
    name: String,
    /// A file in the skill's folder, relative to it (default SKILL.md)
    #[schemars(length(min = 1))]
    file: Option<String>,
}

/// One skill folder and the name it goes by.
struct Found {
    name: String,
    dir: PathBuf,
}

/// The `skill` tool.
struct Skill;

impl Tool for Skill {
    const NAME: &'static str = "skill";
    const DESCRIPTION: &'static str = "Load a skill: task instructions listed under Skills \
        in the system prompt. Returns its SKILL.md; with `file`, another file of the skill's \
        folder that SKILL.md refers to.";
    const PERMISSION: &'static str = "skill";
    const KEY_ARG: Option<&'static str> = Some("name");
    type Input = SkillInput;

    fn run(input: SkillInput, _ctx: &CallContext) -> Result<ToolOutput, ToolError> {
        let skills = all_skills();
        let Some(skill) = skills.iter().find(|s| s.name == input.name) else {
            let names: Vec<&str> = skills.iter().map(|s| s.name.as_str()).collect();
            return Err(ToolError::NotFound(if names.is_empty() {
                format!(
                    "there is no skill `{}`: no skills are installed",
                    input.name
                )
            } else {
                format!(
                    "there is no skill `{}`; the skills are: {}",
                    input.name,
                    names.join(", ")
                )
            }));
        };
        let file = input.file.as_deref().unwrap_or("SKILL.md");
        let relative = Path::new(file);
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(ToolError::InvalidInput(format!(
                "`{file}` must be a path inside the skill's folder, like `reference.md`"
            )));
        }
        let bytes = std::fs::read(skill.dir.join(relative)).map_err(|e| {
            ToolError::NotFound(format!("skill `{}` has no file `{file}`: {e}", skill.name))
        })?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let text = if input.file.is_none() {
            body(&text).to_string()
        } else {
            text
        };
        let (text, _) = conch_plugin::output::cap(
            text,
            MAX_FILE_BYTES,
            "[… the rest of the file is not shown]",
        );
        Ok(ToolOutput::text(format!(
            "Skill `{}` ({file}):\n\n{}",
            skill.name,
            text.trim_end()
        )))
    }
}

conch_plugin::plugin!(Skill);

/// Every skill folder with a SKILL.md, project ones first, by name.
fn all_skills() -> Vec<Found> {
    let mut found: Vec<Found> = Vec::new();
    for base in SKILL_DIRS {
        let Ok(entries) = std::fs::read_dir(base) else {
            continue;
        };
        let mut here: Vec<Found> = entries
            .filter_map(|entry| {
                let dir = entry.ok()?.path();
                let text = std::fs::read_to_string(dir.join("SKILL.md")).ok()?;
                let name = front_matter_name(&text)
                    .or_else(|| Some(dir.file_name()?.to_string_lossy().into_owned()))?;
                Some(Found { name, dir })
            })
            .collect();
        here.sort_by(|a, b| a.name.cmp(&b.name));
        for skill in here {
            if !found.iter().any(|f| f.name == skill.name) {
                found.push(skill);
            }
        }
    }
    found
}

/// `name:` of the `---` front matter, as the host reads it for the prompt.
fn front_matter_name(text: &str) -> Option<String> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some("---") {
        return None;
    }
    lines.take_while(|l| l.trim() != "---").find_map(|line| {
        let (key, value) = line.split_once(':')?;
        let value = value.trim().trim_matches(['"', '\'']).trim();
        (key.trim() == "name" && !value.is_empty()).then(|| value.to_string())
    })
}

/// The text after the front matter (all of it when there is none).
fn body(text: &str) -> &str {
    let Some(rest) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return text;
    };
    match rest.find("\n---") {
        Some(end) => {
            let after = &rest[end + 4..];
            after.trim_start_matches(['\r', '\n'])
        }
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_tools_are_derived_from_the_code() {
        conch_plugin::manifest::check_manifest(env!("CARGO_MANIFEST_DIR"), ConchPlugin::specs());
    }

    #[test]
    fn the_body_follows_the_front_matter() {
        let text = "---\nname: x\ndescription: y\n---\n# Steps\n1. go\n";
        assert_eq!(body(text), "# Steps\n1. go\n");
        assert_eq!(front_matter_name(text), Some("x".into()));
        assert_eq!(body("# Just a body\n"), "# Just a body\n");
    }
}
