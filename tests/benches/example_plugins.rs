//! The example plugins in Rust, Python and JavaScript: `conch plugin install` (which
//! compiles the component into the cache), the first `conch tool` call after it (the
//! compiled artifact is loaded), and a call that has to compile because the plugin's
//! cache entry is gone (as after a conch upgrade or a wiped cache). See BENCHMARKS.md.
//!
//! Each run starts from a fresh config dir and a fresh compile cache holding only the
//! built-in plugins (every `conch tool` loads them too, so a cold cache would add their
//! compilation to the first call); each call is a whole `conch tool` process, as a user
//! or a script would run it. A built-in tool's call is the baseline: what every call
//! costs before the plugin's own loading. The examples are built first (not timed):
//! their build scripts install their toolchains on first use.
//!
//! `cargo build --release && cargo bench -p conch-tests --bench example_plugins [-- --runs N]`
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use conch_tests::conch_bin;
use conch_tests::mock::MockLlm;
use conch_tests::project::Project;

/// One example: how it is built, and one call of its tool.
struct Example {
    language: &'static str,
    tool: &'static str,
    input: &'static str,
    plugin: PathBuf,
}

fn main() {
    let runs = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let examples = [
        Example {
            language: "Rust",
            tool: "sortlines",
            input: r#"{"text": "pear\napple\nfig"}"#,
            plugin: build_rust(),
        },
        Example {
            language: "Python",
            tool: "wordcount",
            input: r#"{"text": "one two two"}"#,
            plugin: build_script("python-plugin"),
        },
        Example {
            language: "JavaScript",
            tool: "case",
            input: r#"{"text": "hello world", "to": "snake"}"#,
            plugin: build_script("js-plugin"),
        },
    ];
    println!("{runs} runs each, a fresh config dir and compile cache per run; median (min–max)");
    let mut baseline = Vec::new();
    for example in &examples {
        let size = std::fs::metadata(&example.plugin).unwrap().len();
        let mut install = Vec::new();
        let mut first = Vec::new();
        let mut uncached = Vec::new();
        for _ in 0..runs {
            let project = Project::new(&MockLlm::start(vec![]).url());
            let cache = tempfile::tempdir().unwrap();
            let conch = |args: &[&str]| {
                let mut command = project.conch(args);
                command.env("CONCH_CACHE_DIR", cache.path());
                command
            };
            // The built-ins compiled into the fresh cache, then the baseline: a built-in's
            // call with them cached.
            time(conch(&["tool", "listdir", "{}"]));
            baseline.push(time(conch(&["tool", "listdir", "{}"])));
            let plugin = example.plugin.to_str().unwrap();
            let before = entries(cache.path());
            install.push(time(conch(&["plugin", "install", "--yes", plugin])));
            first.push(time(conch(&["tool", example.tool, example.input])));
            for entry in entries(cache.path()).difference(&before) {
                std::fs::remove_file(entry).unwrap();
            }
            uncached.push(time(conch(&["tool", example.tool, example.input])));
        }
        println!(
            "{} ({}, {:.1} MB):",
            example.language,
            example.tool,
            size as f64 / 1e6
        );
        report("conch plugin install (compiles)", &mut install);
        report("first call after install", &mut first);
        report("a call with its cache entry gone", &mut uncached);
    }
    println!("baseline:");
    report("a built-in tool (listdir), warm cache", &mut baseline);
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The compiled components in a cache dir.
fn entries(cache: &Path) -> std::collections::BTreeSet<PathBuf> {
    std::fs::read_dir(cache.join("components"))
        .map(|dir| dir.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// `conch plugin build examples/rust-plugin`.
fn build_rust() -> PathBuf {
    let dir = root().join("examples/rust-plugin");
    let status = Command::new(conch_bin())
        .args(["plugin", "build"])
        .arg(&dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "building {} failed", dir.display());
    dir.join("target/sortlines.wasm")
}

/// `examples/NAME/build.sh`; the plugin is the last line it prints.
fn build_script(example: &str) -> PathBuf {
    let script = root().join("examples").join(example).join("build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("CONCH", conch_bin())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "{} failed", script.display());
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end())
}

/// The wall time of one run of `command`, which must succeed.
fn time(mut command: Command) -> Duration {
    let started = Instant::now();
    let out = command.stdin(Stdio::null()).output().unwrap();
    let elapsed = started.elapsed();
    assert!(out.status.success(), "{command:?}: {out:?}");
    elapsed
}

fn report(label: &str, times: &mut [Duration]) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let shown = |d: Duration| {
        if ms(d) >= 1000.0 {
            format!("{:.1} s", ms(d) / 1000.0)
        } else {
            format!("{:.0} ms", ms(d))
        }
    };
    println!(
        "  {label:<38} {:>8} ({}–{})",
        shown(times[times.len() / 2]),
        shown(times[0]),
        shown(times[times.len() - 1])
    );
}
