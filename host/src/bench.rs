//! `conch bench`: the numbers BENCHMARKS.md reports, measured on the machine at hand.
//!
//! Each benchmark runs the thing and its baseline in the same process and the same
//! run, and reports both, so a noisy machine shows up in both numbers alike.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::plugin::CallLimits;

/// Which benchmark, and how long to run it.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: Bench,
}

#[derive(Debug, clap::Subcommand)]
pub enum Bench {
    /// One sandboxed `read` of a small file (fresh instance per call) beside the same
    /// read done natively in-process.
    Read {
        #[arg(long, default_value_t = 2000)]
        iterations: usize,
    },
    /// Edits through the whole path (sandboxed call, diff, gate, undo journal, atomic
    /// commit): one line of a 10k-line file, and a 50-hunk patch across 10 files; beside
    /// the same change done natively (read, change in memory, temp file + rename).
    Edit {
        #[arg(long, default_value_t = 200)]
        iterations: usize,
    },
    /// `true` through the bash tool's whole path (gate, sandboxed plugin, host spawn
    /// under Landlock and seccomp) beside a bare spawn of `true`.
    Bash {
        #[arg(long, default_value_t = 300)]
        iterations: usize,
    },
    /// Wall time and peak RSS of `conch tools`, with a cold and a warm compile cache.
    Tools {
        #[arg(long, default_value_t = 30)]
        runs: usize,
    },
    /// The first call of each built-in plugin (loading its code, linking, its first
    /// instance), each in a fresh process with the engine already started (as the agent
    /// starts it while the first request is on its way), beside its later calls.
    FirstCall {
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Milliseconds between the start and the first call: the agent's first call
        /// comes after the model's first answer, and what a run starts in the background
        /// meanwhile (the engine, the sandbox probe) is done by then. 0 measures it all.
        #[arg(long, default_value_t = 0)]
        lead_ms: u64,
        /// Measure this one tool in this process and print the times (the child's part).
        #[arg(long, hide = true)]
        one: Option<String>,
    },
    /// One MCP tool call through conch's whole path (schema check, gate, the `mcp`
    /// plugin and its import, session record) beside the same call made straight through
    /// conch's MCP client, against a server started in the sandbox.
    McpCall {
        /// The server program (e.g. target/release/mcp_fixture).
        #[arg(long)]
        server: PathBuf,
        /// Its arguments.
        #[arg(long = "arg", allow_hyphen_values = true)]
        args: Vec<String>,
        /// The tool to call, and its arguments as JSON.
        #[arg(long, default_value = "echo")]
        tool: String,
        #[arg(long, default_value = r#"{"text":"hi"}"#)]
        input: String,
        #[arg(long, default_value_t = 500)]
        iterations: usize,
    },
    /// The `grep` tool over a directory, called in-process beside `rg -j1` and `grep -r`
    /// when installed; then `conch tool grep` as whole processes against `rg -j1` over the
    /// same files (wall and CPU time).
    Grep {
        /// The tree to search (e.g. the cargo registry sources).
        #[arg(long)]
        path: PathBuf,
        /// A regular expression to search for.
        #[arg(long, default_value = "fn [a-z_]+_with\\(")]
        pattern: String,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
}

/// Runs one benchmark and prints its report.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    match &args.which {
        Bench::Read { iterations } => bench_read(*iterations),
        Bench::Tools { runs } => bench_tools(*runs),
        Bench::FirstCall {
            runs,
            lead_ms,
            one: None,
        } => bench_first_call(*runs, *lead_ms),
        Bench::FirstCall {
            one: Some(tool),
            lead_ms,
            ..
        } => first_call_here(tool, *lead_ms),
        Bench::Edit { iterations } => bench_edit(*iterations),
        Bench::Bash { iterations } => bench_bash(*iterations),
        Bench::Grep {
            path,
            pattern,
            runs,
        } => bench_grep(path, pattern, *runs),
        Bench::McpCall {
            server,
            args,
            tool,
            input,
            iterations,
        } => bench_mcp_call(server, args, tool, input, *iterations),
    }
}

/// The session a benchmark's calls are recorded in: a real file in a temp dir.
struct BenchJournal(crate::session::SessionWriter);

impl crate::agent::Journal for BenchJournal {
    fn append(
        &mut self,
        entry: &crate::session::Entry,
    ) -> Result<(), crate::session::SessionError> {
        self.0.append(entry)
    }

    fn blob_dir(&mut self) -> Result<PathBuf, crate::session::SessionError> {
        Ok(self.0.blob_dir())
    }
}

fn bench_mcp_call(
    server: &Path,
    args: &[String],
    tool: &str,
    input: &str,
    iterations: usize,
) -> anyhow::Result<()> {
    use crate::host_api::McpCaller;
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join(".git"))?;
    let servers = start_bench_server(dir.path(), server, args, &[])?;
    let ctx = crate::workspace::context_for(dir.path())?;
    let registry = std::sync::Arc::new(crate::cli::registry(
        &crate::cli::PluginArgs { files: Vec::new() },
        None,
    )?);
    let warnings = registry.set_mcp(servers.clone());
    anyhow::ensure!(warnings.is_empty(), "{}", warnings.join("; "));
    let name = crate::mcp::naming::tool_name("bench", tool);
    anyhow::ensure!(
        registry.find(&name).is_some(),
        "the server has no tool `{tool}`"
    );
    let gate = crate::permission::Gate::new(
        crate::permission::Policy::default(),
        crate::permission::Flags {
            yes: true,
            ..Default::default()
        },
    );
    let store = crate::session::SessionStore::at(dir.path().join("sessions"));
    let mut journal =
        BenchJournal(store.create(crate::session::Header::tool_run(dir.path(), "bench"))?);
    let mut dispatcher = crate::agent::Dispatcher::new(
        crate::agent::ToolBox::new(registry),
        gate,
        ctx,
        CallLimits::default(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut through_conch = || -> anyhow::Result<()> {
        let call = crate::message::ToolCall {
            id: "bench".into(),
            name: name.clone(),
            arguments: input.to_string(),
        };
        let mut events: Vec<crate::agent::AgentEvent> = Vec::new();
        let mut io = crate::agent::TurnIo {
            events: &mut events,
            approver: None,
            interrupt: tokio_util::sync::CancellationToken::new(),
        };
        let outcome = runtime.block_on(dispatcher.dispatch(&call, &mut journal, &mut io))?;
        anyhow::ensure!(
            matches!(outcome, crate::agent::CallOutcome::Ran { .. }),
            "{outcome:?}"
        );
        Ok(())
    };
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let direct = || -> anyhow::Result<()> {
        servers
            .call_tool("bench", tool, input, &cancel)
            .map(drop)
            .map_err(|e| anyhow::anyhow!(e))
    };
    for _ in 0..20 {
        through_conch()?;
        direct()?;
    }
    // Interleaved, so that the machine's load falls on both alike.
    let mut conch = Vec::with_capacity(iterations);
    let mut client = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        through_conch()?;
        conch.push(started.elapsed());
        let started = Instant::now();
        direct()?;
        client.push(started.elapsed());
    }
    println!(
        "MCP `{tool}` of {}, {iterations} iterations",
        server.display()
    );
    report("through conch: schema, gate, plugin, record", &conch);
    report("straight through conch's MCP client", &client);
    let overhead = median(&conch).saturating_sub(median(&client));
    println!("conch's own part at p50: {overhead:.2?}");
    Ok(())
}

/// MCP server `bench`, the program `server` with `args` and `env`, started for the
/// project at `dir` (declared in its conch.toml) and listing its tools.
fn start_bench_server(
    dir: &Path,
    server: &Path,
    args: &[String],
    env: &[(&str, &str)],
) -> anyhow::Result<std::sync::Arc<crate::mcp::McpServers>> {
    let env: Vec<String> = env.iter().map(|(k, v)| format!("{k} = {v:?}")).collect();
    let text = format!(
        "[mcp.bench]\ncommand = {:?}\nargs = {args:?}\nenv = {{ {} }}\n",
        server.canonicalize()?.to_string_lossy(),
        env.join(", ")
    );
    std::fs::write(dir.join("conch.toml"), &text)?;
    let config = crate::config::load(Some(dir), crate::config::ProjectTrust::Granted)?;
    let servers = crate::mcp::McpServers::start(config.mcp_servers()?, dir, &config.sandbox())
        .map_err(|e| anyhow::anyhow!(e))?
        .context("no server")?;
    let (_, problems) = servers.wait_for_tools();
    anyhow::ensure!(problems.is_empty(), "{}", problems.join("; "));
    Ok(servers)
}

fn bench_read(iterations: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let text: String = (1..=40)
        .map(|i| format!("line {i} of a small file\n"))
        .collect();
    std::fs::write(dir.path().join("small.txt"), &text)?;
    let registry = crate::cli::registry(&crate::cli::PluginArgs { files: Vec::new() }, None)?;
    let ctx = crate::workspace::context_for(dir.path())?;
    let limits = CallLimits::default();
    let input = r#"{"path":"small.txt"}"#;
    // Compile once and warm up outside the measurement.
    for _ in 0..20 {
        registry.call("read", input, &ctx, &limits)?;
    }
    let sandboxed = sample(iterations, || {
        registry.call("read", input, &ctx, &limits).map(drop)
    })?;
    let path = ctx.cwd.join("small.txt");
    let native = sample(iterations, || {
        let text = std::fs::read_to_string(&path)?;
        let numbered: String = text
            .lines()
            .enumerate()
            .map(|(i, line)| format!("{:>6}\t{line}\n", i + 1))
            .collect();
        std::hint::black_box(numbered);
        Ok::<(), std::io::Error>(())
    })?;
    println!("read of a 40-line file, {iterations} iterations");
    report("sandboxed (fresh instance + call)", &sandboxed);
    report("native in-process", &native);
    Ok(())
}

fn bench_edit(iterations: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join(".git"))?;
    let big: String = (1..=10_000)
        .map(|i| format!("    let value_{i} = compute({i}, \"some text on line {i}\");\n"))
        .collect();
    std::fs::write(dir.path().join("big.rs"), &big)?;
    let small = |file: usize| -> String {
        (1..=1000)
            .map(|line| format!("file {file} line {line}\n"))
            .collect()
    };
    for file in 0..10 {
        std::fs::write(dir.path().join(format!("f{file}.txt")), small(file))?;
    }
    let patch = |forward: bool| -> String {
        let mut text = String::new();
        for file in 0..10 {
            text.push_str(&format!("--- a/f{file}.txt\n+++ b/f{file}.txt\n"));
            for hunk in 0..5 {
                let line = 100 + hunk * 200;
                let (old, new) = (
                    format!("file {file} line {line}"),
                    format!("FILE {file} LINE {line}"),
                );
                let (minus, plus) = if forward { (old, new) } else { (new, old) };
                text.push_str(&format!(
                    "@@ -{a},3 +{a},3 @@\n file {file} line {b}\n-{minus}\n+{plus}\n file {file} line {c}\n",
                    a = line - 1,
                    b = line - 1,
                    c = line + 1
                ));
            }
        }
        text
    };
    let registry = crate::cli::registry(&crate::cli::PluginArgs { files: Vec::new() }, None)?;
    let ctx = crate::workspace::context_for(dir.path())?;
    let limits = CallLimits::default();
    let blobs = dir.path().join(".blobs");
    let mut gate = crate::permission::Gate::new(
        crate::permission::Policy::default(),
        crate::permission::Flags {
            yes: true,
            ..Default::default()
        },
    );
    // Each phase's time, in the order the agent takes them: the sandboxed call (which
    // stages the change), the diff and the gate, the undo journal's digests, the commit
    // (which saves the pre-images for undo first).
    let mut through_conch = |tool: &str, input: &str| -> anyhow::Result<[Duration; 4]> {
        let started = Instant::now();
        let output = registry.call(tool, input, &ctx, &limits)?;
        let called = Instant::now();
        let changes = output.changes.context("the tool staged nothing")?;
        let requests: Vec<crate::permission::Request> = changes
            .paths()
            .into_iter()
            .map(|path| crate::permission::Request {
                tool: tool.into(),
                permission: crate::permission::PermissionKey::EDIT,
                key: Some(path),
            })
            .collect();
        gate.check_changes(&requests, &changes.diff(), None)
            .map_err(|denied| anyhow::anyhow!(denied.message))?;
        let gated = Instant::now();
        let record = crate::changeset::ChangeRecord::new(&changes, "bench", tool);
        let journaled = Instant::now();
        crate::changeset::commit_recorded(&changes, &record, &blobs)?;
        Ok([
            called - started,
            gated - called,
            journaled - gated,
            journaled.elapsed(),
        ])
    };
    let edit_input = |n: usize| {
        serde_json::json!({
            "path": "big.rs",
            "start_line": 5000,
            "new_text": format!("    let value_5000 = compute(5000, \"edited {n}\");"),
        })
        .to_string()
    };
    for n in 0..10 {
        through_conch("edit", &edit_input(n))?;
    }
    let path = ctx.cwd.join("big.rs");
    let native_edit = |n: usize| {
        let text = std::fs::read_to_string(&path)?;
        let mut lines: Vec<&str> = text.lines().collect();
        let edited = format!("    let value_5000 = compute(5000, \"native {n}\");");
        lines[4999] = &edited;
        let mut out = lines.join("\n");
        out.push('\n');
        let mut temp = tempfile::NamedTempFile::new_in(&ctx.cwd)?;
        std::io::Write::write_all(&mut temp, out.as_bytes())?;
        temp.persist(&path)?;
        Ok::<(), anyhow::Error>(())
    };
    // Interleaved, so that the machine's load falls on both alike.
    let (mut edits, mut native) = (Vec::new(), Vec::new());
    let mut edit_phases: [Vec<Duration>; 4] = Default::default();
    for n in 10..10 + iterations {
        let mut phases = [Duration::ZERO; 4];
        edits.extend(sample(1, || {
            phases = through_conch("edit", &edit_input(n))?;
            Ok::<(), anyhow::Error>(())
        })?);
        for (all, one) in edit_phases.iter_mut().zip(phases) {
            all.push(one);
        }
        native.extend(sample(1, || native_edit(n))?);
    }
    let mut forward = true;
    let mut patch_phases: [Vec<Duration>; 4] = Default::default();
    let patches = sample(iterations.div_ceil(4), || {
        let input = serde_json::json!({ "patch": patch(forward) }).to_string();
        forward = !forward;
        for (all, one) in patch_phases.iter_mut().zip(through_conch("patch", &input)?) {
            all.push(one);
        }
        Ok::<(), anyhow::Error>(())
    })?;
    let phases = |all: &[Vec<Duration>; 4]| {
        let [call, gate, digests, commit] = all.each_ref().map(|times| median(times));
        format!(
            "call {call:.2?} · diff+gate {gate:.2?} · digests {digests:.2?} · pre-images+commit {commit:.2?}"
        )
    };
    println!("edits through the whole path, {iterations} iterations");
    report("edit: 1 line of a 10k-line file", &edits);
    println!("{:<36} p50 by phase: {}", "", phases(&edit_phases));
    report("patch: 50 hunks across 10 files", &patches);
    println!("{:<36} p50 by phase: {}", "", phases(&patch_phases));
    report("native: read, replace line, rename", &native);
    println!(
        "{:<36} edit / native = {:.1}× (medians)",
        "",
        median(&edits).as_secs_f64() / median(&native).as_secs_f64().max(f64::EPSILON)
    );
    Ok(())
}

fn bench_bash(iterations: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join(".git"))?;
    let registry = crate::cli::registry(&crate::cli::PluginArgs { files: Vec::new() }, None)?;
    let ctx = crate::workspace::context_for(dir.path())?;
    let limits = CallLimits::default();
    let (spec, input) = match registry.find("bash") {
        Some((_, spec)) => (spec.clone(), serde_json::json!({ "command": "true" })),
        None => anyhow::bail!("no bash tool"),
    };
    let mut gate = crate::permission::Gate::new(
        crate::permission::Policy::default(),
        crate::permission::Flags {
            yes: true,
            ..Default::default()
        },
    );
    let text = input.to_string();
    let mut through_conch = || -> anyhow::Result<()> {
        gate.check(&spec.request(&input, &ctx), None)
            .map_err(|denied| anyhow::anyhow!(denied.message))?;
        let output = registry.call("bash", &text, &ctx, &limits)?;
        anyhow::ensure!(output.text.starts_with("exit 0"), "{}", output.text);
        Ok(())
    };
    for _ in 0..10 {
        through_conch()?;
    }
    // Interleaved, so that the machine's load falls on the three alike.
    let (mut sandboxed, mut alone, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..iterations {
        sandboxed.extend(sample(1, &mut through_conch)?);
        alone.extend(sample(1, || sandbox_alone(&ctx, &limits))?);
        bare.extend(sample(1, || Command::new("true").status().map(drop))?);
    }
    let namespaces = match crate::sandbox::namespaces() {
        crate::sandbox::Namespaces::Available(_)
            if crate::sandbox::warm_namespaces(limits.sandbox.mode) =>
        {
            "the tool in a warm namespace, the OS sandbox alone a bwrap per command"
        }
        crate::sandbox::Namespaces::Available(_) => "bwrap namespaces + conch-exec",
        crate::sandbox::Namespaces::Unavailable(_) => "conch-exec, no namespaces",
    };
    println!(
        "`true`, {iterations} iterations (sandbox {}, {namespaces})",
        limits.sandbox.mode.as_str()
    );
    report("bash tool: gate, plugin, confined spawn", &sandboxed);
    report("OS sandbox alone: `bash -c true`", &alone);
    report("bare spawn of `true`", &bare);
    let (tool, alone) = (median(&sandboxed), median(&alone));
    if tool >= alone {
        let over = tool - alone;
        println!("{:<36} tool - OS sandbox alone = {over:.3?} (medians)", "");
    } else {
        let ratio = alone.as_secs_f64() / tool.as_secs_f64();
        println!("{:<36} OS sandbox alone / tool = {ratio:.2}x (medians)", "");
    }
    Ok(())
}

/// The OS sandbox's own cost per command without a warm namespace: the process conch
/// spawns for `bash -c true` when a command gets its own bwrap (bwrap and conch-exec, or
/// conch-exec alone, as this machine allows), with a private temp dir as a command gets,
/// spawned and reaped; no plugin, no gate, no output capture. What every command paid
/// before warm namespaces, and what one still pays where there are none.
fn sandbox_alone(ctx: &crate::plugin::CallContext, limits: &CallLimits) -> anyhow::Result<()> {
    let temp = tempfile::Builder::new().prefix("conch-cmd-").tempdir()?;
    let program = ["/bin/bash".to_string(), "-c".into(), "true".into()];
    let mut command = crate::sandbox::confined_command(&crate::sandbox::Confined {
        program: &program,
        cwd: &ctx.cwd,
        roots: &ctx.roots,
        mode: limits.sandbox.mode,
        network: limits.sandbox.network,
        deny_read: &limits.sandbox.deny_read,
        private_dir: temp.path(),
        pass_env: &limits.sandbox.pass_env,
        env: &[],
    })
    .map_err(anyhow::Error::msg)?;
    let status = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "the sandboxed `true` failed: {status}");
    Ok(())
}

/// A cheap call of each built-in plugin: (tool, input). Errors count too (webfetch of a
/// closed local port, an unknown skill, diagnostics without a language server): the
/// plugin is loaded, instantiated and run. [`MCP_FIRST_CALL`] is the mcp plugin's.
const FIRST_CALLS: &[(&str, &str)] = &[
    ("read", r#"{"path":"small.txt"}"#),
    ("write", r#"{"path":"new.txt","content":"x\n"}"#),
    ("bash", r#"{"command":"true"}"#),
    ("webfetch", r#"{"url":"http://127.0.0.1:9/"}"#),
    ("todoread", "{}"),
    ("skill", r#"{"name":"none"}"#),
    ("lsp", r#"{"operation":"diagnostics","path":"small.txt"}"#),
    (MCP_FIRST_CALL, r#"{"path":"small.txt"}"#),
];
/// The mcp plugin's first call: `read` of `conch mcp serve`, this binary serving its
/// own tools as MCP server `bench`.
const MCP_FIRST_CALL: &str = "mcp";
/// Later calls measured after the first, per process.
const LATER_CALLS: usize = 20;

fn bench_first_call(runs: usize, lead_ms: u64) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the conch binary")?;
    println!(
        "first call of each built-in in a fresh process ({lead_ms} ms after the start), {runs} runs, beside the p50 of its next {LATER_CALLS} calls"
    );
    for (tool, _) in FIRST_CALLS {
        let mut first = Vec::new();
        let mut later = Vec::new();
        for _ in 0..runs {
            let output = Command::new(&exe)
                .args(["bench", "first-call", "--one", tool])
                .args(["--lead-ms", &lead_ms.to_string()])
                .stderr(std::process::Stdio::inherit())
                .output()
                .with_context(|| format!("running {}", exe.display()))?;
            anyhow::ensure!(output.status.success(), "measuring {tool} failed");
            let text = String::from_utf8_lossy(&output.stdout);
            let mut numbers = text
                .split_whitespace()
                .map(|n| n.parse::<u64>().map(Duration::from_nanos));
            match (numbers.next(), numbers.next()) {
                (Some(Ok(f)), Some(Ok(l))) => {
                    first.push(f);
                    later.push(l);
                }
                _ => anyhow::bail!("unexpected output measuring {tool}: {text}"),
            }
        }
        let extra: Vec<Duration> = first
            .iter()
            .zip(&later)
            .map(|(f, l)| f.saturating_sub(*l))
            .collect();
        println!(
            "{tool:<10} first p50 {:>10.3?}  later p50 {:>10.3?}  first - later p50 {:>10.3?}  max {:>10.3?}",
            median(&first),
            median(&later),
            median(&extra),
            percentile(&extra, 100)
        );
    }
    Ok(())
}

/// The child's part of [`bench_first_call`]: prints the first call's time and the p50
/// of the later ones, in nanoseconds.
fn first_call_here(tool: &str, lead_ms: u64) -> anyhow::Result<()> {
    let input = FIRST_CALLS
        .iter()
        .find(|(name, _)| *name == tool)
        .map(|(_, input)| *input)
        .with_context(|| format!("no first call for {tool}"))?;
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join(".git"))?;
    std::fs::write(dir.path().join("small.txt"), "one\ntwo\n")?;
    let registry = crate::cli::registry(&crate::cli::PluginArgs { files: Vec::new() }, None)?;
    // The server answers the same call once first, so that its own first call (in its
    // process) is not counted as the mcp plugin's.
    let (tool, _servers) = if tool == MCP_FIRST_CALL {
        use crate::host_api::McpCaller;
        let exe = std::env::current_exe().context("finding the conch binary")?;
        // It records its session in the one directory its sandbox lets it write.
        let data = crate::sandbox::child::private_dir("mcp", "bench").join("data");
        let servers = start_bench_server(
            dir.path(),
            &exe,
            &["mcp".into(), "serve".into()],
            &[("CONCH_DATA_DIR", &data.to_string_lossy())],
        )?;
        let cancel = std::sync::atomic::AtomicBool::new(false);
        servers
            .call_tool("bench", "read", input, &cancel)
            .map_err(|e| anyhow::anyhow!(e))?;
        let warnings = registry.set_mcp(servers.clone());
        anyhow::ensure!(warnings.is_empty(), "{}", warnings.join("; "));
        (
            crate::mcp::naming::tool_name("bench", "read"),
            Some(servers),
        )
    } else {
        (tool.to_string(), None)
    };
    // What `conch run` starts as it begins (see cli::chat).
    registry.start_engine()?;
    registry.warm_up();
    let limits = CallLimits::default();
    let ctx = crate::workspace::context_for(dir.path())?;
    crate::sandbox::probe_ahead(&limits.sandbox, &ctx.roots, &ctx.cwd);
    std::thread::sleep(Duration::from_millis(lead_ms));
    let call = || {
        let start = Instant::now();
        let _ = registry.call(&tool, input, &ctx, &limits);
        start.elapsed()
    };
    let first = call();
    let later: Vec<Duration> = (0..LATER_CALLS).map(|_| call()).collect();
    println!("{} {}", first.as_nanos(), median(&later).as_nanos());
    Ok(())
}

fn bench_tools(runs: usize) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the conch binary")?;
    let cache = tempfile::tempdir()?;
    // Warm: a cache that holds every built-in.
    fill_cache(&exe, &cache.path().join("warm"))?;
    let mut cold = Vec::with_capacity(runs);
    let mut warm = Vec::with_capacity(runs);
    let mut peak_rss_kb = 0;
    for i in 0..runs {
        // Cold: a cache dir nobody has written to.
        let fresh = cache.path().join(format!("cold-{i}"));
        for (cache_dir, times) in [(fresh, &mut cold), (cache.path().join("warm"), &mut warm)] {
            let mut cmd = Command::new(&exe);
            cmd.arg("tools").env("CONCH_CACHE_DIR", cache_dir);
            let (time, rss) = measure_command(&mut cmd)?;
            times.push(time);
            peak_rss_kb = peak_rss_kb.max(rss);
        }
    }
    println!("`conch tools`, {runs} runs each");
    report("cold compile cache", &cold);
    report("warm compile cache", &warm);
    println!("peak RSS of any run: {:.1} MB", peak_rss_kb as f64 / 1024.0);
    Ok(())
}

/// Fills a compile cache by calling a tool once.
fn fill_cache(exe: &Path, cache: &Path) -> anyhow::Result<()> {
    let status = Command::new(exe)
        .args(["tool", "listdir", "{}"])
        .env("CONCH_CACHE_DIR", cache)
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "filling the compile cache failed");
    Ok(())
}

fn bench_grep(path: &Path, pattern: &str, runs: usize) -> anyhow::Result<()> {
    let registry = crate::cli::registry(&crate::cli::PluginArgs { files: Vec::new() }, None)?;
    let ctx = crate::workspace::context_for(path)?;
    let limits = CallLimits {
        timeout: Duration::from_secs(600),
        ..CallLimits::default()
    };
    let input = serde_json::json!({"pattern": pattern, "limit": 5000}).to_string();
    registry.call("grep", &input, &ctx, &limits)?;
    let sandboxed = sample(runs, || {
        registry.call("grep", &input, &ctx, &limits).map(drop)
    })?;
    println!("grep {pattern:?} over {}, {runs} runs", path.display());
    report("conch grep (sandboxed)", &sandboxed);
    for (label, program, args) in [
        (
            "rg -j1",
            "rg",
            vec!["-j1", "-n", "--no-messages", pattern, "."],
        ),
        ("grep -rnE", "grep", vec!["-rnE", "-I", pattern, "."]),
    ] {
        let mut times = Vec::with_capacity(runs);
        for _ in 0..runs {
            match time_command(Command::new(program).args(&args).current_dir(&ctx.cwd)) {
                Ok(t) => times.push(t),
                Err(_) => break,
            }
        }
        if times.is_empty() {
            println!("{label:<36} not installed");
        } else {
            report(label, &times);
            let ratio = median(&sandboxed).as_secs_f64() / median(&times).as_secs_f64();
            println!("{:<36} conch/{label} = {ratio:.2}x (medians)", "");
        }
    }
    grep_whole_processes(&ctx.cwd, pattern, &input, runs)
}

/// `conch tool grep` as a whole process (start-up and exit included) against `rg -j1`
/// searching the same files (hidden ones, and .gitignore without a .git dir), runs
/// alternating; wall and CPU time.
fn grep_whole_processes(dir: &Path, pattern: &str, input: &str, runs: usize) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the conch binary")?;
    let rg_args = [
        "-j1",
        "-n",
        "--hidden",
        "--no-require-git",
        "--no-messages",
        pattern,
        ".",
    ];
    let (mut conch, mut rg) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for _ in 0..runs {
        let (wall, cpu) = cpu_command(
            Command::new(&exe)
                .args(["tool", "grep", input])
                .current_dir(dir),
        )?;
        conch.0.push(wall);
        conch.1.push(cpu);
        let Ok((wall, cpu)) = cpu_command(Command::new("rg").args(rg_args).current_dir(dir)) else {
            println!("whole processes: rg not installed");
            return Ok(());
        };
        rg.0.push(wall);
        rg.1.push(cpu);
    }
    println!("whole processes, alternating, {runs} runs each:");
    report("conch tool grep: wall", &conch.0);
    report("conch tool grep: CPU (user + sys)", &conch.1);
    report("rg -j1 --hidden --no-require-git: wall", &rg.0);
    report("rg -j1 --hidden --no-require-git: CPU", &rg.1);
    let ratio = |a: &[Duration], b: &[Duration]| median(a).as_secs_f64() / median(b).as_secs_f64();
    println!(
        "{:<36} conch/rg = {:.2}x wall, {:.2}x CPU (medians)",
        "",
        ratio(&conch.0, &rg.0),
        ratio(&conch.1, &rg.1)
    );
    Ok(())
}

/// Runs `f` `n` times, timing each run.
fn sample<E: Into<anyhow::Error>>(
    n: usize,
    mut f: impl FnMut() -> Result<(), E>,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        f().map_err(Into::into)?;
        times.push(start.elapsed());
    }
    Ok(times)
}

/// Runs a command to completion with its output discarded; returns its wall time.
fn time_command(cmd: &mut Command) -> anyhow::Result<Duration> {
    Ok(measure_command(cmd)?.0)
}

/// Runs a command to completion; returns its wall time and peak RSS in KiB.
fn measure_command(cmd: &mut Command) -> anyhow::Result<(Duration, i64)> {
    let (elapsed, usage) = run_with_rusage(cmd)?;
    Ok((elapsed, usage.ru_maxrss))
}

/// Runs a command to completion; returns its wall time and CPU time (user + system),
/// the part a busy machine stretches less.
fn cpu_command(cmd: &mut Command) -> anyhow::Result<(Duration, Duration)> {
    let (elapsed, usage) = run_with_rusage(cmd)?;
    let time = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Ok((elapsed, time(usage.ru_utime) + time(usage.ru_stime)))
}

/// Runs a command to completion with its output discarded; returns its wall time and
/// resource usage.
fn run_with_rusage(cmd: &mut Command) -> anyhow::Result<(Duration, libc::rusage)> {
    let start = Instant::now();
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    let (status, usage) = wait_with_rusage(child.id())?;
    let elapsed = start.elapsed();
    // grep exits 1 when nothing matched; only a kill counts as a failure.
    anyhow::ensure!(
        libc::WIFEXITED(status),
        "{:?} was killed",
        cmd.get_program()
    );
    Ok((elapsed, usage))
}

/// Waits for a child and returns its wait status and resource usage.
#[allow(unsafe_code)]
fn wait_with_rusage(pid: u32) -> anyhow::Result<(i32, libc::rusage)> {
    let pid = libc::pid_t::try_from(pid)?;
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: both pointers point to memory we own, sized for what wait4 writes; the
    // child has not been waited for (we never call std's wait on it).
    let rc = unsafe { libc::wait4(pid, &mut status, 0, usage.as_mut_ptr()) };
    anyhow::ensure!(
        rc == pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: wait4 succeeded, so it filled in the rusage struct.
    let usage = unsafe { usage.assume_init() };
    Ok((status, usage))
}

fn median(times: &[Duration]) -> Duration {
    percentile(times, 50)
}

fn percentile(times: &[Duration], p: usize) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted
        .get((sorted.len().saturating_sub(1)) * p / 100)
        .copied()
        .unwrap_or_default()
}

fn report(label: &str, times: &[Duration]) {
    println!(
        "{label:<36} p50 {:>10.3?}  p90 {:>10.3?}  p99 {:>10.3?}",
        percentile(times, 50),
        percentile(times, 90),
        percentile(times, 99)
    );
}
