//! `conch-exec [--write DIR]… [--no-landlock] [--network] -- PROGRAM ARGS…`: confines
//! itself (Landlock, the network filter), then execs the program. conch starts every
//! confined command through this small binary: it starts in a fraction of the time the
//! full `conch` binary takes, and conch itself never has to fork.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut writable = Vec::new();
    let (mut landlock, mut network) = (true, false);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--write" => match args.next() {
                Some(dir) => writable.push(PathBuf::from(dir)),
                None => return fail("--write needs a directory"),
            },
            "--no-landlock" => landlock = false,
            "--network" => network = true,
            "--" => break,
            other => return fail(&format!("unknown argument {other}")),
        }
    }
    let program: Vec<String> = args.collect();
    fail(&conch::sandbox::exec_step(
        writable, landlock, network, &program,
    ))
}

fn fail(message: &str) -> ExitCode {
    eprintln!("conch-exec: {message}");
    ExitCode::from(127)
}
