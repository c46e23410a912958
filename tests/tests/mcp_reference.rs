//! A real MCP server from the package registry, not one written for these tests: the
//! reference filesystem server (`@modelcontextprotocol/server-filesystem`), installed by
//! this test with npm under target/mcp-reference on its first run and started by path
//! with the machine's node (not `npx`, which needs the network at every start and writes
//! to ~/.npm), confined by conch's sandbox like any stdio server. It skips, saying why,
//! only when node or npm is not installed.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use conch_tests::run;
use serde_json::json;

/// The package and the version the test was written against.
const PACKAGE: &str = "@modelcontextprotocol/server-filesystem@2026.8.31";

/// `program` found on PATH.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The server's entry point, installed on first use.
fn installed_server(npm: &Path) -> PathBuf {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    let target = target.canonicalize().unwrap_or(target);
    let prefix = conch_tests::server_install_dir(&target, "mcp-reference");
    let entry = prefix.join("node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    if entry.is_file() {
        return entry;
    }
    std::fs::create_dir_all(&prefix).unwrap();
    let prefix_arg = prefix.to_string_lossy().to_string();
    let cache_arg = prefix.join(".npm-cache").to_string_lossy().to_string();
    let out = run(Command::new(npm).args([
        "install",
        "--prefix",
        &prefix_arg,
        "--cache",
        &cache_arg,
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        PACKAGE,
    ]));
    assert_eq!(out.code, Some(0), "npm install {PACKAGE} failed: {out:?}");
    assert!(
        entry.is_file(),
        "{} is missing after npm install",
        entry.display()
    );
    entry
}

#[test]
fn the_reference_filesystem_server_lists_its_tools_and_reads_a_file_through_conch() {
    let (Some(node), Some(npm)) = (on_path("node"), on_path("npm")) else {
        eprintln!(
            "SKIPPED: node and npm are needed to install and run the reference MCP server ({PACKAGE}); install Node.js to run this test"
        );
        return;
    };
    let entry = installed_server(&npm);
    // The server serves one directory: `.`, its working directory, which conch makes
    // the workspace root.
    let config = format!(
        "[[permission.rules]]\ntool = \"mcp\"\npattern = \"ref/*\"\ndecision = \"allow\"\n\
         [mcp.ref]\ncommand = {node:?}\nargs = [{:?}, \".\"]\nstartup_timeout_secs = 30\n",
        entry.to_string_lossy()
    );
    let with_config = |mock: &MockLlm| {
        let project = Project::with_config(&mock.url(), &config);
        project.write("notes.txt", "hello from the reference server\n");
        project
    };
    let cache = tempfile::tempdir().unwrap();

    let mock = MockLlm::start(vec![]);
    let p = with_config(&mock);
    let out = run(p
        .conch(&["mcp", "tools", "ref"])
        .env("CONCH_CACHE_DIR", cache.path()));
    assert_eq!(out.code, Some(0), "{out:?}");
    for tool in ["mcp__ref__read_text_file", "mcp__ref__list_directory"] {
        assert!(out.stdout.contains(tool), "{tool} missing: {out:?}");
    }

    let mock = MockLlm::start(vec![
        Reply::tool_call(
            "mcp__ref__read_text_file",
            // Relative to the server's working directory, the workspace root.
            json!({"path": "notes.txt"}),
        ),
        Reply::text("read it"),
    ]);
    let p = with_config(&mock);
    let out = run(p
        .conch(&["run", "read the notes"])
        .env("CONCH_CACHE_DIR", cache.path()));
    assert_eq!(out.code, Some(0), "{out:?}");
    let result = mock.last_tool_result(1);
    assert!(
        result.contains("hello from the reference server"),
        "{result}"
    );
}
