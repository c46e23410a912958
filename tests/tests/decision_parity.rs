//! `conch tool` and `conch run` decide the same call the same way, for every tool, rule
//! set and flag: both read the one configuration and ask the one gate.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use conch_tests::{json_lines, run};
use serde_json::{Value, json};

/// The user's config beside the provider: rules for each case.
const CONFIGS: [&str; 5] = [
    "",
    "[[permission.rules]]\ntool = \"read\"\npattern = \"notes.txt\"\ndecision = \"deny\"\n",
    "[permission]\nedit = \"allow\"\n",
    "[[permission.rules]]\ntool = \"bash\"\npattern = \"echo *\"\ndecision = \"allow\"\n",
    "[permission]\nbash = \"allow\"\n[[permission.rules]]\ntool = \"bash\"\npattern = \"rm *\"\ndecision = \"deny\"\n",
];

const FLAGS: [&[&str]; 4] = [&[], &["--yes"], &["--allow-edit"], &["--no-bash"]];

fn calls() -> [(&'static str, Value); 5] {
    [
        ("read", json!({"path": "notes.txt"})),
        ("write", json!({"path": "new.txt", "content": "x\n"})),
        ("bash", json!({"command": "echo hi"})),
        ("bash", json!({"command": "echo hi; rm -f gone.txt"})),
        ("bash", json!({"command": "/bin/rm -f gone.txt"})),
    ]
}

/// A project with `config` in the user's file (over the mock provider at `url`).
fn project(url: &str, config: &str) -> Project {
    let project = Project::with_config(url, config);
    project.write("notes.txt", "notes\n");
    project
}

/// Whether `conch tool` let the call run.
fn tool_allows(project: &Project, name: &str, input: &Value, flags: &[&str]) -> bool {
    let input = input.to_string();
    let out = run(project.conch(&["tool", name, &input]).args(flags));
    !out.stderr.contains("denied")
}

/// Whether the agent's gate let the call run, from the `permission` event of `conch run`.
fn run_allows(config: &str, name: &str, input: &Value, flags: &[&str]) -> bool {
    let mock = MockLlm::start(vec![
        Reply::tool_call(name, input.clone()),
        Reply::text("ok"),
    ]);
    let project = project(&mock.url(), config);
    let out = run(project
        .conch(&["run", "--format", "json", "do it"])
        .args(flags));
    let events = json_lines(&out.stdout);
    let permission = events
        .iter()
        .find(|e| e["type"] == "permission")
        .unwrap_or_else(|| panic!("no permission event: {out:?}"));
    permission["allowed"] == true
}

#[test]
fn tool_and_run_give_the_same_decision_for_every_tool_rule_and_flag() {
    let mut differences = Vec::new();
    let mut allowed_somewhere = 0;
    for config in CONFIGS {
        for flags in FLAGS {
            for (name, input) in calls() {
                let direct = tool_allows(
                    &project("http://127.0.0.1:9/v1", config),
                    name,
                    &input,
                    flags,
                );
                let agent = run_allows(config, name, &input, flags);
                allowed_somewhere += usize::from(direct);
                if direct != agent {
                    differences.push(format!(
                        "{name} {input} with {flags:?} and {config:?}: tool {direct}, run {agent}"
                    ));
                }
            }
        }
    }
    assert!(differences.is_empty(), "{differences:#?}");
    // Both answers occur: the table decides something.
    assert!(allowed_somewhere > 0 && allowed_somewhere < CONFIGS.len() * FLAGS.len() * 5);
}
