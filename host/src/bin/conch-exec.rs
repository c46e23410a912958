//! `conch-exec [--write DIR]… [--no-landlock] [--network] [--supervise] -- PROGRAM ARGS…`:
//! confines itself (Landlock, the network filter), then execs the program. conch starts
//! every confined command through this small binary: it starts in a fraction of the time
//! the full `conch` binary takes, and conch itself never has to fork. With `--supervise`
//! (no PID namespace) it forks first and stays as the command's subreaper, killing every
//! descendant when the command ends. `conch-exec --serve` is a warm namespace's server
//! (see the sandbox's `serve` module): it runs each command conch sends it.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut writable = Vec::new();
    let (mut landlock, mut network, mut supervise) = (true, false, false);
    let mut args = std::env::args().skip(1);
    if std::env::args().nth(1).as_deref() == Some("--serve") {
        return match conch::sandbox::serve() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--write" => match args.next() {
                Some(dir) => writable.push(PathBuf::from(dir)),
                None => return fail("--write needs a directory"),
            },
            "--no-landlock" => landlock = false,
            "--network" => network = true,
            "--supervise" => supervise = true,
            "--" => break,
            other => return fail(&format!("unknown argument {other}")),
        }
    }
    let program: Vec<String> = args.collect();
    let start = move || conch::sandbox::exec_step(writable, landlock, network, &program, None);
    if !supervise {
        return fail(&start());
    }
    match conch::sandbox::supervise(start) {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(&e),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("conch-exec: {message}");
    ExitCode::from(127)
}
