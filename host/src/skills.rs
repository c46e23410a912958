//! Skills: `SKILL.md` files of instructions the model loads when a task calls for them,
//! from the project (`.conch/skills/NAME/SKILL.md` under the workspace root) and the
//! user (`skills/NAME/SKILL.md` in the config dir). The system prompt lists their names
//! and descriptions; the `skill` plugin reads one on demand through read-only preopens
//! of exactly these two directories (capability `skills`), at fixed guest paths.

use std::path::{Path, PathBuf};

/// Where a plugin with the `skills` capability sees the project's and the user's skills.
pub const GUEST_PROJECT: &str = "/skills/project";
pub const GUEST_USER: &str = "/skills/user";
/// Skills listed in the prompt at most.
const MAX_LISTED: usize = 100;
/// A description is cut to this many characters in the prompt.
const MAX_DESCRIPTION_CHARS: usize = 200;

/// A skill as the prompt lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skill {
    pub name: String,
    pub description: String,
}

/// The skill directories that exist for a workspace `root`, with their guest paths:
/// the project's first (it wins over a user skill of the same name).
pub fn dirs(root: &Path, config_dir: Option<&Path>) -> Vec<(PathBuf, &'static str)> {
    let project = Some(root.join(".conch").join("skills"));
    let user = config_dir.map(|dir| dir.join("skills"));
    [(project, GUEST_PROJECT), (user, GUEST_USER)]
        .into_iter()
        .filter_map(|(dir, guest)| Some((dir.filter(|d| d.is_dir())?, guest)))
        .collect()
}

/// The skills under `dirs`, by name; a name already found is skipped.
pub fn discover(dirs: &[(PathBuf, &'static str)]) -> Vec<Skill> {
    let mut skills: Vec<Skill> = Vec::new();
    for (dir, _) in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<Skill> = entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let bytes = crate::workspace::read_regular(&entry.path().join("SKILL.md")).ok()?;
                let text = String::from_utf8(bytes).ok()?;
                let folder = entry.file_name().to_string_lossy().into_owned();
                let (name, description) = front_matter(&text);
                Some(Skill {
                    name: name.unwrap_or(folder),
                    description: description
                        .unwrap_or_default()
                        .chars()
                        .take(MAX_DESCRIPTION_CHARS)
                        .collect(),
                })
            })
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        for skill in found {
            if !skills.iter().any(|s| s.name == skill.name) {
                skills.push(skill);
            }
        }
    }
    skills.truncate(MAX_LISTED);
    skills
}

/// `name:` and `description:` of a `---` front matter block, read leniently: lines it
/// cannot read (a multi-line YAML value) and empty values are skipped.
pub fn front_matter(text: &str) -> (Option<String>, Option<String>) {
    let (mut name, mut description) = (None, None);
    for field in crate::front_matter::read(text).fields {
        if field.value.is_empty() {
            continue;
        }
        match field.key {
            "name" => name = Some(field.value),
            "description" => description = Some(field.value),
            _ => {}
        }
    }
    (name, description)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_gives_name_and_description() {
        let text =
            "---\nname: release\ndescription: \"How to cut a release\"\nother: x\n---\n# Body\n";
        assert_eq!(
            front_matter(text),
            (Some("release".into()), Some("How to cut a release".into()))
        );
        assert_eq!(front_matter("# No front matter\n"), (None, None));
    }

    #[test]
    fn project_skills_hide_user_skills_of_the_same_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let config = dir.path().join("config");
        for (base, name, description) in [
            (root.join(".conch/skills"), "deploy", "project deploy"),
            (config.join("skills"), "deploy", "user deploy"),
            (config.join("skills"), "review", "user review"),
        ] {
            std::fs::create_dir_all(base.join(name)).unwrap();
            std::fs::write(
                base.join(name).join("SKILL.md"),
                format!("---\ndescription: {description}\n---\nbody\n"),
            )
            .unwrap();
        }
        let skills = discover(&dirs(&root, Some(&config)));
        let listed: Vec<(&str, &str)> = skills
            .iter()
            .map(|s| (s.name.as_str(), s.description.as_str()))
            .collect();
        assert_eq!(
            listed,
            [("deploy", "project deploy"), ("review", "user review")]
        );
    }
}
