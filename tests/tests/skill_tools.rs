//! Skills end to end: SKILL.md files of the project and of the user's config dir are
//! listed in the system prompt, the `skill` tool loads one (or a file beside it), and
//! nothing outside the two skill directories can be read through it.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use conch_tests::{Run, run};
use serde_json::json;

fn run_in(project: &Project, args: &[&str]) -> Run {
    run(&mut project.conch(args))
}

/// The user's config dir of `project` (CONCH_CONFIG_DIR of its runs).
fn user_skills(project: &Project) -> std::path::PathBuf {
    project.path().parent().unwrap().join("config/skills")
}

fn write_skill(dir: &std::path::Path, folder: &str, text: &str) {
    std::fs::create_dir_all(dir.join(folder)).unwrap();
    std::fs::write(dir.join(folder).join("SKILL.md"), text).unwrap();
}

fn with_skills(url: &str) -> Project {
    let project = Project::new(url);
    project.write(
        ".conch/skills/release/SKILL.md",
        "---\nname: release\ndescription: How to cut a release of this project\n---\n# Releasing\n1. Bump the version.\n2. Tag it.\n",
    );
    project.write(
        ".conch/skills/release/checklist.md",
        "- changelog updated\n",
    );
    write_skill(
        &user_skills(&project),
        "code-review",
        "---\ndescription: \"The user's review checklist\"\n---\nLook for missing tests first.\n",
    );
    project
}

#[test]
fn skills_are_listed_in_the_system_prompt_and_loaded_on_demand() {
    let mock = MockLlm::start(vec![
        Reply::tool_call("skill", json!({"name": "release"})),
        Reply::tool_call("skill", json!({"name": "code-review"})),
        Reply::tool_call("skill", json!({"name": "release", "file": "checklist.md"})),
        Reply::text("released"),
    ]);
    let project = with_skills(&mock.url());
    let out = run_in(&project, &["run", "cut a release"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let requests = mock.requests();
    let system = requests[0].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(system.contains("# Skills"), "{system}");
    assert!(
        system.contains("- release: How to cut a release of this project"),
        "{system}"
    );
    assert!(
        system.contains("- code-review: The user's review checklist"),
        "{system}"
    );
    let results: Vec<String> = requests[3].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect();
    assert!(
        results[0].contains("1. Bump the version."),
        "{}",
        results[0]
    );
    assert!(!results[0].contains("description:"), "{}", results[0]);
    assert!(
        results[1].contains("Look for missing tests first."),
        "{}",
        results[1]
    );
    assert!(results[2].contains("changelog updated"), "{}", results[2]);
}

#[test]
fn without_skills_the_prompt_has_no_skills_section() {
    let mock = MockLlm::start(vec![Reply::text("hi")]);
    let project = Project::new(&mock.url());
    let out = run_in(&project, &["run", "hello"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let system = mock.requests()[0].body["messages"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!system.contains("# Skills"), "{system}");
}

#[test]
fn an_unknown_skill_lists_the_ones_there_are() {
    let project = with_skills("http://127.0.0.1:9/v1");
    let out = run_in(&project, &["tool", "skill", r#"{"name": "deploy"}"#]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("release") && out.stderr.contains("code-review"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_skill_cannot_reach_outside_the_skill_directories() {
    let project = with_skills("http://127.0.0.1:9/v1");
    project.write("secret.txt", "the project's secret");
    let up = run_in(
        &project,
        &[
            "tool",
            "skill",
            r#"{"name": "release", "file": "../../../secret.txt"}"#,
        ],
    );
    assert_eq!(up.code, Some(1), "{up:?}");
    assert!(!up.stdout.contains("secret"), "{up:?}");
    // A link in a skill folder that leads out is not followed.
    std::os::unix::fs::symlink(
        project.path().join("secret.txt"),
        project.path().join(".conch/skills/release/leak.md"),
    )
    .unwrap();
    let linked = run_in(
        &project,
        &["tool", "skill", r#"{"name": "release", "file": "leak.md"}"#],
    );
    assert_eq!(linked.code, Some(1), "{linked:?}");
    assert!(!linked.stdout.contains("secret"), "{linked:?}");
}

#[test]
fn the_skill_builtin_is_decompressed_at_its_first_call_and_not_at_start() {
    // The skill built-in's artifact is carried compressed and every built-in's component
    // too: listing the tools reads only their manifests, and the first call decompresses
    // the artifact, never the component (needed only to compile it).
    let project = with_skills("http://127.0.0.1:9/v1");
    let decompressions = |out: &Run| -> Vec<String> {
        out.stderr
            .lines()
            .filter(|l| l.contains("decompressing"))
            .map(str::to_string)
            .collect()
    };
    let listed = run(project.conch(&["tools"]).env("CONCH_LOG", "conch=debug"));
    assert_eq!(listed.code, Some(0), "{listed:?}");
    assert!(listed.stdout.contains("skill"), "{listed:?}");
    assert_eq!(decompressions(&listed), Vec::<String>::new());

    let called = run(project
        .conch(&["tool", "skill", r#"{"name": "release"}"#])
        .env("CONCH_LOG", "conch=debug"));
    assert_eq!(called.code, Some(0), "{called:?}");
    assert!(called.stdout.contains("Bump the version"), "{called:?}");
    let decompressed = decompressions(&called);
    assert_eq!(decompressed.len(), 1, "{decompressed:?}");
    assert!(
        decompressed[0].contains("plugin=\"skill\"") && decompressed[0].contains("its artifact"),
        "{decompressed:?}"
    );
}
