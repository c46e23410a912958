//! One warm namespace per run: the commands of a `conch run` share one bwrap, and each
//! is still its own — nothing it starts outlives it, it cannot write another's temp dir,
//! it cannot kill the server or a later command — and when the server goes, the next
//! command gets its own bwrap, confined as before.
//!
//! Where this machine can have no warm namespaces (no user namespaces, or Landlock
//! without signal scoping), these tests have nothing to test.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed setup step is a failed test

use std::path::Path;

use conch_tests::mock::{MockLlm, Reply};
use conch_tests::project::Project;
use conch_tests::{conch, run};
use serde_json::{Value, json};

/// Whether this machine can have warm namespaces: namespaces, and Landlock's signal
/// scoping (`conch sandbox --check` says both, with or without warm namespaces).
fn warm_here() -> bool {
    let out = run(&mut conch(&["sandbox", "--check"]));
    let lines: Vec<&str> = out.stdout.lines().collect();
    let namespaces = lines.iter().any(|l| l.starts_with("namespaces: yes"));
    let signals = lines
        .iter()
        .any(|l| l.starts_with("landlock scopes:") && l.contains("signals"));
    if !(namespaces && signals) {
        eprintln!("no warm namespaces on this machine:\n{}", out.stdout);
    }
    namespaces && signals
}

/// A `conch run --yes` of `calls` (bash inputs), then "done"; the result of each call.
fn run_calls(calls: &[Value]) -> (Project, Vec<String>) {
    let mut script: Vec<Reply> = calls
        .iter()
        .map(|input| Reply::tool_call("bash", input.clone()))
        .collect();
    script.push(Reply::text("done"));
    let mock = MockLlm::start(script);
    let project = Project::new(&mock.url());
    let out = run(&mut project.conch(&["run", "--yes", "run the commands"]));
    assert_eq!(out.code, Some(0), "{out:?}");
    let results = (1..=calls.len())
        .map(|i| mock.last_tool_result(i))
        .collect();
    (project, results)
}

fn bash(command: &str) -> Value {
    json!({ "command": command })
}

/// The namespace links (`user:[…]`, `pid:[…]`) a command printed.
fn namespaces_in(result: &str) -> Vec<&str> {
    result
        .split_whitespace()
        .filter(|word| word.starts_with("user:[") || word.starts_with("pid:["))
        .collect()
}

/// A command line that cannot be anyone else's: `sleep MARKER`.
fn marker(n: u32) -> String {
    format!("{n}.{}", std::process::id())
}

/// Prints the namespace, then every command line in it.
const LIST_PROCESSES: &str = "readlink /proc/self/ns/pid; \
     for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done";

#[test]
fn two_commands_of_a_run_share_one_namespace() {
    if !warm_here() {
        return;
    }
    let ns = "readlink /proc/self/ns/user /proc/self/ns/pid";
    let (_project, results) = run_calls(&[bash(ns), bash(ns)]);
    let first = namespaces_in(&results[0]);
    assert_eq!(first.len(), 2, "{}", results[0]);
    assert_eq!(first, namespaces_in(&results[1]), "{results:?}");
}

#[test]
fn a_detached_process_is_gone_when_its_command_returns() {
    if !warm_here() {
        return;
    }
    let seconds = marker(3701);
    let (_project, results) = run_calls(&[
        bash(&format!(
            "setsid sleep {seconds} & readlink /proc/self/ns/pid; echo started"
        )),
        bash(LIST_PROCESSES),
    ]);
    assert!(results[0].contains("started"), "{}", results[0]);
    let first = namespaces_in(&results[0]);
    assert_eq!(first, namespaces_in(&results[1]), "{results:?}");
    assert!(
        !results[1].contains(&format!("sleep {seconds}")),
        "the detached sleep outlived its command: {}",
        results[1]
    );
}

#[test]
fn a_command_cannot_write_into_another_commands_temp_dir() {
    if !warm_here() {
        return;
    }
    let (_project, results) = run_calls(&[
        bash(
            "readlink /proc/self/ns/user; echo $TMPDIR > first-tmp; \
             touch $TMPDIR/mine && echo wrote-own; \
             touch /tmp/planted 2>/dev/null && echo planted-file; \
             mkdir /tmp/conch-cmd-planted 2>/dev/null && echo planted-dir",
        ),
        bash(
            "readlink /proc/self/ns/user; first=$(cat first-tmp); echo tmp=$TMPDIR; \
             test -e $first && echo first-left; \
             mkdir -p $first 2>/dev/null && echo recreated; \
             touch $first/x 2>/dev/null && echo wrote-other; \
             touch $TMPDIR/mine && echo wrote-own; ls /tmp",
        ),
    ]);
    assert_eq!(
        namespaces_in(&results[0]),
        namespaces_in(&results[1]),
        "{results:?}"
    );
    assert!(results[0].contains("wrote-own"), "{}", results[0]);
    assert!(results[1].contains("wrote-own"), "{}", results[1]);
    for said in ["planted-file", "planted-dir"] {
        assert!(!results[0].contains(said), "{}", results[0]);
    }
    for said in ["first-left", "recreated", "wrote-other", "planted"] {
        assert!(!results[1].contains(said), "{}", results[1]);
    }
    // Only the second command's own temp dir is left in /tmp.
    assert_eq!(
        results[1].matches("conch-cmd-").count(),
        2,
        "its TMPDIR and its entry in /tmp: {}",
        results[1]
    );
}

#[test]
fn a_command_cannot_kill_the_server_or_a_later_command() {
    if !warm_here() {
        return;
    }
    let (project, results) = run_calls(&[
        bash(
            "readlink /proc/self/ns/user; kill -9 -1; kill -9 1; \
             for p in /proc/[0-9]*; do [ ${p#/proc/} = $$ ] || kill -9 ${p#/proc/}; done; \
             echo tried",
        ),
        bash("readlink /proc/self/ns/user; touch ../escaped 2>/dev/null && echo escaped; echo ran"),
    ]);
    // Its supervisor survived it too, and reported its status.
    assert!(results[0].starts_with("exit 0 "), "{}", results[0]);
    assert!(results[0].contains("tried"), "{}", results[0]);
    assert!(results[1].contains("ran"), "{}", results[1]);
    assert_eq!(
        namespaces_in(&results[0]),
        namespaces_in(&results[1]),
        "the server did not survive: {results:?}"
    );
    assert!(!results[1].contains("escaped"), "{}", results[1]);
    assert!(!project.path().parent().unwrap().join("escaped").exists());
}

#[test]
fn a_command_cannot_read_or_trace_the_server_its_supervisor_or_another_process() {
    if !warm_here() {
        return;
    }
    // Builtins only (no subshell of its own to find): for every other process in the
    // namespace, try its environment, its open descriptors (the server's hold the
    // control socket) and its memory.
    let (_, results) = run_calls(&[bash(
        "for p in /proc/[0-9]*; do n=${p#/proc/}; [ $n = $$ ] && continue; \
           echo seen $n; \
           read -r x < $p/environ 2>/dev/null && echo read-environ $n; \
           for f in $p/fd/*; do [ -e \"$f\" ] && echo open-fd $n; break; done; \
           read -r x < $p/mem 2>/dev/null && echo read-mem $n; \
         done; echo tried",
    )]);
    let result = &results[0];
    assert!(result.contains("tried"), "{result}");
    // bwrap's init, the server and this command's supervisor at least.
    assert!(result.matches("seen ").count() >= 3, "{result}");
    for reached in ["read-environ", "open-fd", "read-mem"] {
        assert!(!result.contains(reached), "{result}");
    }
}

#[test]
fn the_deadline_kills_the_whole_tree() {
    if !warm_here() {
        return;
    }
    let seconds = marker(3702);
    let (_project, results) = run_calls(&[
        json!({
            "command": format!("setsid sleep {seconds} & readlink /proc/self/ns/pid; sleep 30"),
            "timeout_secs": 1,
        }),
        bash(LIST_PROCESSES),
    ]);
    assert!(results[0].contains("timed out"), "{}", results[0]);
    assert_eq!(
        namespaces_in(&results[0]),
        namespaces_in(&results[1]),
        "{results:?}"
    );
    assert!(
        !results[1].contains(&format!("sleep {seconds}")),
        "the detached sleep outlived the deadline: {}",
        results[1]
    );
}

/// Whether any process (zombies aside) is left in the PID namespace `namespace`
/// (`pid:[…]`).
fn namespace_alive(namespace: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        let path = entry.path();
        let in_namespace = std::fs::read_link(path.join("ns/pid"))
            .is_ok_and(|ns| ns.to_string_lossy() == namespace);
        let zombie = std::fs::read_to_string(path.join("stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        });
        in_namespace && !zombie
    })
}

#[test]
fn ctrl_c_kills_the_whole_tree_and_the_namespace_ends_with_the_run() {
    if !warm_here() {
        return;
    }
    let seconds = marker(3703);
    let mock = MockLlm::start(vec![
        Reply::tool_call(
            "bash",
            json!({"command": format!(
                "setsid sleep {seconds} & echo $! $(readlink /proc/self/ns/pid) > bg.pid; sleep 60"
            )}),
        ),
        Reply::text("never reached"),
    ]);
    let project = Project::new(&mock.url());
    let child = conch_tests::spawn_piped(&mut project.conch(&["run", "--yes", "wait a long time"]));
    let pid_file = project.path().join("bg.pid");
    conch_tests::wait_for_pid(&pid_file);
    assert!(conch_tests::running(&pid_file));
    conch_tests::interrupt_and_check_gone(child, &pid_file);
    let text = std::fs::read_to_string(&pid_file).unwrap();
    let namespace = text.split_whitespace().nth(1).unwrap();
    assert!(
        !namespace_alive(namespace),
        "the warm namespace outlived its run"
    );
}

/// The pid (on this side) of the server in PID namespace `namespace`.
fn server_in(namespace: &str) -> Option<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find_map(|entry| {
            let path = entry.path();
            let in_namespace = std::fs::read_link(path.join("ns/pid"))
                .is_ok_and(|ns| ns.to_string_lossy() == namespace);
            let serving = std::fs::read(path.join("cmdline"))
                .is_ok_and(|cmdline| cmdline.ends_with(b"--serve\0"));
            (in_namespace && serving)
                .then(|| entry.file_name().to_string_lossy().parse().ok())
                .flatten()
        })
}

#[test]
fn a_dead_server_leaves_the_next_command_its_own_confined_bwrap() {
    if !warm_here() {
        return;
    }
    let mock = MockLlm::start(vec![
        Reply::tool_call(
            "bash",
            bash("readlink /proc/self/ns/pid > first-ns; sleep 30"),
        ),
        Reply::tool_call(
            "bash",
            bash(
                "readlink /proc/self/ns/pid; touch ../escaped 2>/dev/null && echo escaped; echo ran",
            ),
        ),
        Reply::text("done"),
    ]);
    let project = Project::new(&mock.url());
    let mut child =
        conch_tests::spawn_piped(&mut project.conch(&["run", "--yes", "run the commands"]));
    let ns_file = project.path().join("first-ns");
    conch_tests::wait_for_pid(&ns_file);
    let first = std::fs::read_to_string(&ns_file)
        .unwrap()
        .trim()
        .to_string();
    let Some(server) = server_in(&first) else {
        let _ = child.kill();
        panic!("no server in the first command's namespace {first}");
    };
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &server.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = conch_tests::wait_or_fail(&mut child, "conch run");
    assert!(status.success(), "{status:?}");
    let second = mock.last_tool_result(2);
    assert!(second.contains("ran"), "{second}");
    assert!(!second.contains("escaped"), "{second}");
    assert!(!second.contains(&first), "{second}");
    assert!(
        !Path::new(&project.path())
            .parent()
            .unwrap()
            .join("escaped")
            .exists()
    );
}

#[test]
fn a_protected_file_replaced_during_a_run_stays_read_only() {
    if !warm_here() {
        return;
    }
    let mock = MockLlm::start(vec![
        Reply::tool_call(
            "bash",
            bash("echo 1 > ready; while [ ! -e go ]; do sleep 0.05; done; echo waited"),
        ),
        Reply::tool_call(
            "bash",
            bash("echo injected >> .git/config 2>/dev/null && echo wrote-config; echo ran"),
        ),
        Reply::text("done"),
    ]);
    let project = Project::new(&mock.url());
    project.write(".git/config", "[core]\n");
    let mut child =
        conch_tests::spawn_piped(&mut project.conch(&["run", "--yes", "run the commands"]));
    conch_tests::wait_for_pid(&project.path().join("ready"));
    // As git itself writes it: a new file renamed over the old one.
    let config = project.path().join(".git/config");
    std::fs::write(
        project.path().join(".git/config.lock"),
        "[core]\n\tbare = false\n",
    )
    .unwrap();
    std::fs::rename(project.path().join(".git/config.lock"), &config).unwrap();
    std::fs::write(project.path().join("go"), "").unwrap();
    let status = conch_tests::wait_or_fail(&mut child, "conch run");
    assert!(status.success(), "{status:?}");
    let second = mock.last_tool_result(2);
    assert!(second.contains("ran"), "{second}");
    assert!(!second.contains("wrote-config"), "{second}");
    assert!(
        !std::fs::read_to_string(&config)
            .unwrap()
            .contains("injected")
    );
}
