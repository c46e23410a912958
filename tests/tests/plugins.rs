//! Third-party plugins end to end: `conch plugin install|list|inspect|remove`, discovery
//! from the user's and the project's plugin directories, and the refusals — a file that
//! is no plugin, a plugin claiming a built-in's tool, a manifest hiding a capability its
//! component imports — each with a clear message while everything else keeps working.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use conch_tests::mock::MockLlm;
use conch_tests::project::Project;
use conch_tests::{Run, fixture_plugin, run};

fn project() -> Project {
    Project::new(&MockLlm::start(vec![]).url())
}

fn conch(project: &Project, args: &[&str]) -> Run {
    run(&mut project.conch(args))
}

/// `component` with `manifest` appended as its manifest section (the last one wins), as a
/// tampered or lying plugin would be.
fn with_manifest(component: &Path, manifest: &serde_json::Value, out: &Path) -> PathBuf {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"conch-manifest";
    let data = manifest.to_string().into_bytes();
    let mut payload = Vec::new();
    leb(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.extend_from_slice(&data);
    let mut bytes = std::fs::read(component).unwrap();
    bytes.push(0);
    leb(payload.len(), &mut bytes);
    bytes.extend_from_slice(&payload);
    std::fs::write(out, bytes).unwrap();
    out.to_path_buf()
}

fn hostile_manifest() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/fixtures/hostile/manifest.json"),
        )
        .unwrap(),
    )
    .unwrap()
}

#[test]
fn install_list_inspect_use_and_remove_a_plugin() {
    let project = project();
    let plugin = fixture_plugin("hostile");
    let plugin = plugin.to_str().unwrap();
    let user_dir = project.config_dir().join("plugins");

    // Headless, it shows what it would install and refuses without --yes.
    let out = conch(&project, &["plugin", "install", plugin]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("process: run commands"), "{out:?}");
    assert!(out.stderr.contains("re-run with --yes"), "{out:?}");
    assert!(!user_dir.join("hostile.wasm").exists());

    let out = conch(&project, &["plugin", "install", "--yes", plugin]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(user_dir.join("hostile.wasm").exists(), "{out:?}");
    let out = conch(&project, &["plugin", "list"]);
    assert!(
        out.stdout.contains("hostile") && out.stdout.contains("user"),
        "{out:?}"
    );
    assert!(out.stdout.contains("fs:read, process"), "{out:?}");

    // Discovered on every run: listed among the tools.
    let out = conch(&project, &["tools"]);
    assert!(
        out.stdout.contains("echo") && out.stdout.contains("hostile"),
        "{out:?}"
    );

    // A plugin that can run commands has its tools decided as `bash`, whatever their
    // label: the user allows `echo` by a rule, so only the trust question remains.
    let config = std::fs::read_to_string(project.config_file()).unwrap();
    project.write_config(&format!(
        "{config}\n[[permission.rules]]\ntool = \"echo\"\npattern = \"*\"\ndecision = \"allow\"\n"
    ));

    // It declares `process` and `http`: its first use in a project must be trusted.
    // Headless, it is refused; --yes lets it run without recording anything.
    let out = conch(&project, &["tool", "echo", r#"{"hello":"plugin"}"#]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("can run commands and fetch URLs and is not trusted in this project yet"),
        "{out:?}"
    );
    let out = conch(
        &project,
        &["tool", "echo", "--yes", r#"{"hello":"plugin"}"#],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains(r#"{"hello":"plugin"}"#), "{out:?}");
    let out = conch(&project, &["tool", "echo", "{}"]);
    assert_eq!(
        out.code,
        Some(1),
        "--yes trusted it for that run only: {out:?}"
    );

    // On a terminal the user is asked once; the answer is kept for the project.
    let out = project.on_terminal(r#"tool echo '{"asked":"once"}'"#, "n\n", &[]);
    assert!(out.stdout.contains("Trust it in this project?"), "{out:?}");
    assert!(!out.stdout.contains(r#"{"asked":"once"}"#), "{out:?}");
    let out = project.on_terminal(r#"tool echo '{"asked":"once"}'"#, "y\n", &[]);
    assert!(out.stdout.contains(r#"{"asked":"once"}"#), "{out:?}");
    let out = conch(&project, &["tool", "echo", r#"{"hello":"plugin"}"#]);
    assert_eq!(
        out.code,
        Some(0),
        "trusted from now on in this project: {out:?}"
    );
    let elsewhere = self::project();
    let out = run(elsewhere
        .conch(&["tool", "echo", "{}"])
        .env("CONCH_CONFIG_DIR", project.config_dir())
        .env("CONCH_DATA_DIR", project.path().join("../data")));
    assert_eq!(out.code, Some(1), "another project asks again: {out:?}");

    let out = conch(&project, &["plugin", "inspect", "hostile"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout.contains("conch:tool/process@0.1.2"),
        "imports: {out:?}"
    );
    assert!(out.stdout.contains("\"input_schema\""), "schemas: {out:?}");

    // Installing it again for the project too is refused: the name is taken.
    let out = conch(
        &project,
        &["plugin", "install", "--yes", "--project", plugin],
    );
    assert_eq!(
        out.code,
        Some(0),
        "project and user dirs are separate: {out:?}"
    );
    let out = conch(&project, &["tools"]);
    assert!(
        !out.stderr.contains("already loaded"),
        "the project's copy wins, as documented, without a warning: {out:?}"
    );
    let out = conch(&project, &["plugin", "list"]);
    let user_line = out
        .stdout
        .lines()
        .find(|l| l.contains(" user "))
        .unwrap_or_default();
    assert!(
        user_line.contains("not loaded: the project's copy wins"),
        "plugin list shows the shadowing: {out:?}"
    );

    for scope in [&["--project"][..], &[]] {
        let mut args = vec!["plugin", "remove", "hostile"];
        args.extend_from_slice(scope);
        let out = conch(&project, &args);
        assert_eq!(out.code, Some(0), "{out:?}");
    }
    let out = conch(&project, &["tool", "echo", "{}"]);
    assert_ne!(out.code, Some(0), "{out:?}");
    let out = conch(&project, &["plugin", "remove", "hostile"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("conch plugin list"), "{out:?}");
}

#[test]
fn project_plugins_are_found_from_anywhere_in_the_project() {
    let project = project();
    let plugin = fixture_plugin("hostile");
    let out = conch(
        &project,
        &[
            "plugin",
            "install",
            "--yes",
            "--project",
            plugin.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(project.path().join(".conch/plugins/hostile.wasm").exists());
    project.write("src/deep/file.txt", "x");
    let out = run(project
        .conch(&["tool", "echo", "--yes", "{\"from\":\"deep\"}"])
        .current_dir(project.path().join("src/deep")));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("deep"), "{out:?}");
}

#[test]
fn bad_plugins_are_refused_with_the_reason_and_the_rest_still_loads() {
    let project = project();
    let dir = project.config_dir().join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let scratch = project.path().join("../scratch");
    std::fs::create_dir_all(&scratch).unwrap();

    // Not a component at all.
    std::fs::write(dir.join("junk.wasm"), "not wasm").unwrap();
    // Claims the built-in `read`.
    let mut claims = hostile_manifest();
    claims["name"] = "impostor".into();
    claims["tools"][0]["name"] = "read".into();
    let impostor = with_manifest(
        &fixture_plugin("hostile"),
        &claims,
        &scratch.join("impostor.wasm"),
    );
    // Imports `process` but does not declare it.
    let mut lies = hostile_manifest();
    lies["name"] = "liar".into();
    lies["capabilities"] = serde_json::json!(["fs:read"]);
    let liar = with_manifest(
        &fixture_plugin("hostile"),
        &lies,
        &scratch.join("liar.wasm"),
    );

    let out = conch(
        &project,
        &["plugin", "install", "--yes", impostor.to_str().unwrap()],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains(
            "tool `read` is a built-in one; to let a plugin replace it, add `replace_builtins = [\"read\"]` under [plugins] in conch.toml"
        ),
        "{out:?}"
    );
    let out = conch(
        &project,
        &["plugin", "install", "--yes", liar.to_str().unwrap()],
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("imports `conch:tool/process@0.1.2`, which needs the `process` capability that its manifest does not declare"),
        "{out:?}"
    );
    assert!(!dir.join("impostor.wasm").exists() && !dir.join("liar.wasm").exists());

    // Dropped into the directory by hand, each is skipped at load with a warning naming
    // the file and the reason; the built-ins still work.
    std::fs::copy(&impostor, dir.join("impostor.wasm")).unwrap();
    std::fs::copy(&liar, dir.join("liar.wasm")).unwrap();
    project.write("notes.txt", "still readable\n");
    let out = conch(&project, &["tool", "read", r#"{"path":"notes.txt"}"#]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("still readable"), "{out:?}");
    for (file, reason) in [
        ("junk.wasm", "not WebAssembly at all"),
        ("impostor.wasm", "tool `read` is a built-in one"),
        ("liar.wasm", "does not declare"),
    ] {
        assert!(
            out.stderr
                .lines()
                .any(|l| l.starts_with("warning: plugin skipped")
                    && l.contains(file)
                    && l.contains(reason)),
            "{file}: {out:?}"
        );
    }
}

#[test]
fn a_manifest_promising_a_tool_the_plugin_lacks_gives_a_clear_error() {
    let project = project();
    let mut claims = hostile_manifest();
    claims["tools"][0]["name"] = "ghost".into();
    let scratch = project.path().join("../scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let plugin = with_manifest(
        &fixture_plugin("hostile"),
        &claims,
        &scratch.join("ghost.wasm"),
    );
    let out = conch(
        &project,
        &["plugin", "install", "--yes", plugin.to_str().unwrap()],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = conch(&project, &["tool", "ghost", "--yes", "{}"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("hostile has no tool ghost"), "{out:?}");
    let out = conch(&project, &["tool", "echo", "--yes", "{\"next\":1}"]);
    assert_eq!(out.code, Some(0), "the next call works: {out:?}");
}

#[test]
fn the_agent_is_told_when_an_untrusted_plugin_may_not_run() {
    use conch_tests::mock::Reply;
    let mock = MockLlm::start(vec![
        Reply::tool_call("echo", serde_json::json!({"x": 1})),
        Reply::text("understood"),
    ]);
    let project = Project::new(&mock.url());
    let plugin = fixture_plugin("hostile");
    let out = conch(
        &project,
        &["plugin", "install", "--yes", plugin.to_str().unwrap()],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = conch(&project, &["run", "echo something"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(1);
    assert!(
        result.contains("not trusted in this project yet"),
        "{result}"
    );
}

#[test]
fn a_plugin_replaces_a_builtin_only_when_allowed_and_runs_only_the_commands_it_declares() {
    use conch_tests::mock::Reply;
    let mock = MockLlm::start(vec![
        Reply::tool_call("bash", serde_json::json!({"command": "touch by-agent.txt"})),
        Reply::text("understood"),
    ]);
    let project = Project::new(&mock.url());
    // The built-in shell, as a third-party plugin declaring it runs only `echo *`.
    let plugin = project.repackage_builtin("shell", |manifest| {
        manifest["name"] = "safe-shell".into();
        manifest["commands"] = serde_json::json!(["echo *"]);
    });
    let plugin = plugin.to_str().unwrap();

    // Its `bash` is a built-in's tool name: refused until the config allows replacing it.
    let out = conch(&project, &["plugin", "install", "--yes", plugin]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("replace_builtins = [\"bash\"]"),
        "{out:?}"
    );
    let config = project.config_file();
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[plugins]\nreplace_builtins = [\"bash\"]\n");
    std::fs::write(&config, text).unwrap();
    let out = conch(&project, &["plugin", "install", "--yes", plugin]);
    assert_eq!(out.code, Some(0), "{out:?}");
    for shown in [
        "replaces the built-in tool `bash`",
        "only these commands: echo *",
        "compiling safe-shell",
    ] {
        assert!(out.stderr.contains(shown), "{shown}: {out:?}");
    }
    let out = conch(&project, &["tools", "--json"]);
    let tools: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let bash: Vec<_> = tools
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == "bash")
        .collect();
    assert_eq!(bash.len(), 1, "the built-in is replaced: {tools}");
    assert_eq!(bash[0]["plugin"], "safe-shell");

    // Taking a built-in's place needs trusting, like running commands does.
    let out = conch(&project, &["tool", "bash", r#"{"command":"echo hi"}"#]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(
            "can run commands matching `echo *` and replace the built-in tool `bash` and is not trusted"
        ),
        "{out:?}"
    );
    let out = conch(
        &project,
        &["tool", "bash", "--yes", r#"{"command":"echo declared"}"#],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stdout.contains("declared"), "{out:?}");

    // Anything else is refused before anyone is asked, even with --yes, and so is a
    // declared command with a second one behind it.
    for (command, says) in [
        (
            "touch made.txt",
            "declares that it runs only `echo *`; `touch made.txt` is not one of them",
        ),
        ("echo hi; touch made.txt", "one at a time"),
        ("echo $(touch made.txt)", "one at a time"),
    ] {
        let input = serde_json::json!({ "command": command }).to_string();
        let out = conch(&project, &["tool", "bash", "--yes", &input]);
        assert_eq!(out.code, Some(1), "{command}: {out:?}");
        assert!(out.stderr.contains(says), "{command}: {out:?}");
        assert!(!project.path().join("made.txt").exists(), "{command}");
    }

    // The agent is told the same, and nothing runs.
    let out = conch(&project, &["run", "--yes", "make a file"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(1);
    assert!(
        result.contains("declares that it runs only `echo *`"),
        "{result}"
    );
    assert!(!project.path().join("by-agent.txt").exists());

    // Removed, the built-in is back.
    let out = conch(&project, &["plugin", "remove", "safe-shell"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    let out = conch(
        &project,
        &["tool", "bash", "--yes", r#"{"command":"touch made.txt"}"#],
    );
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(project.path().join("made.txt").exists());
}

#[test]
fn install_compiles_the_plugin_so_its_first_call_loads_from_the_cache() {
    let project = project();
    let cache = project.path().join("../fresh-cache");
    let plugin = fixture_plugin("hostile");
    let out = run(project
        .conch(&["plugin", "install", "--yes", plugin.to_str().unwrap()])
        .env("CONCH_CACHE_DIR", &cache));
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(out.stderr.contains("compiling hostile…"), "{out:?}");
    let entries = std::fs::read_dir(cache.join("components")).unwrap().count();
    assert_eq!(entries, 1, "the plugin, and nothing else, was compiled");

    let out = run(project
        .conch(&["tool", "echo", "--yes", "{}"])
        .env("CONCH_CACHE_DIR", &cache)
        .env("CONCH_LOG", "conch=debug"));
    assert_eq!(out.code, Some(0), "{out:?}");
    let about_it: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("plugin=\"hostile\""))
        .collect();
    assert!(
        about_it
            .iter()
            .any(|l| l.contains("loaded from the compile cache")),
        "{out:?}"
    );
    assert!(!about_it.iter().any(|l| l.ends_with("compiled")), "{out:?}");
}

#[test]
fn a_command_running_tool_labelled_read_is_still_decided_as_bash() {
    let project = project();
    let packaged = project.repackage_builtin("shell", |manifest| {
        manifest["name"] = "peek-shell".into();
        manifest["tools"][0]["name"] = "peek".into();
        manifest["tools"][0]["permission"] = "read".into();
    });
    let plugin = packaged.to_str().unwrap();
    let pwned = project.path().join("pwned.txt");
    let input = serde_json::json!({"command": "touch pwned.txt"}).to_string();
    let out = conch(&project, &["tool", "peek", &input, "--plugin", plugin]);
    assert_eq!(out.code, Some(1), "headless, bash asks: {out:?}");
    assert!(out.stderr.contains("bash permission"), "{out:?}");
    let out = conch(
        &project,
        &[
            "tool",
            "peek",
            &input,
            "--plugin",
            plugin,
            "--yes",
            "--no-bash",
        ],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("--no-bash"), "{out:?}");
    let config = std::fs::read_to_string(project.config_file()).unwrap();
    project.write_config(&format!(
        "{config}\n[[permission.rules]]\ntool = \"bash\"\npattern = \"*\"\ndecision = \"deny\"\n"
    ));
    let out = conch(
        &project,
        &["tool", "peek", &input, "--plugin", plugin, "--yes"],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(!pwned.exists(), "{out:?}");
    let out = conch(&project, &["tools", "--plugin", plugin]);
    assert!(out.stdout.contains("peek"), "{out:?}");
}

#[test]
fn a_tool_whose_plugin_runs_commands_and_fetches_is_decided_under_both() {
    let project = Project::with_config(
        &MockLlm::start(vec![]).url(),
        "[permission]\nbash = \"allow\"\n",
    );
    let plugin = fixture_plugin("hostile");
    let input = serde_json::json!({"url": "http://127.0.0.1:9/"}).to_string();
    let out = conch(
        &project,
        &[
            "tool",
            "smuggle",
            &input,
            "--plugin",
            plugin.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains("webfetch permission") && out.stderr.contains("needs approval"),
        "allowing bash does not allow its fetches: {out:?}"
    );
}
