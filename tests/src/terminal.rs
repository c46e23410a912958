//! A program on a pseudo-terminal, typed into as a person would: a line at a time, each
//! after the screen has shown what it waits for.

#![allow(clippy::expect_used)]

use std::io::Write;

use crate::project::Project;

/// `conch ARGS` on a pseudo-terminal typed into line by line: the repl's line editor
/// reads ahead and drops what it read when its line is done, so each line waits for
/// its prompt.
pub struct Terminal {
    child: std::process::Child,
    pub stdin: std::process::ChildStdin,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Terminal {
    pub fn start(project: &Project, args: &str) -> Terminal {
        Self::start_with(project, args, &[])
    }

    /// [`Terminal::start`] with `env` added.
    pub fn start_with(project: &Project, args: &str, env: &[(&str, &str)]) -> Terminal {
        let mut child = project.on_terminal_child(args, env);
        let stdin = child.stdin.take().expect("the terminal's input is piped");
        let mut stdout = child.stdout.take().expect("the terminal's output is piped");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = seen.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Terminal {
            child,
            stdin,
            seen,
            reader,
        }
    }

    /// All the screen has shown so far.
    pub fn screen(&self) -> String {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits (up to 30 s) until the screen has shown `text` `times` times.
    pub fn wait_for(&self, text: &str, times: usize) {
        let started = std::time::Instant::now();
        while self.screen().matches(text).count() < times {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "never saw {text:?} {times} times: {:?}",
                self.screen()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn type_line(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\r").as_bytes())
            .expect("type into the terminal");
        self.stdin.flush().expect("type into the terminal");
    }

    /// Waits for the end; the exit code and all that was shown.
    pub fn finish(self) -> (Option<i32>, String) {
        let Terminal {
            mut child,
            stdin,
            seen,
            reader,
        } = self;
        drop(stdin);
        let status = crate::wait_or_fail(&mut child, "the repl");
        reader.join().expect("the terminal's reader ends");
        let seen = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        (status.code(), seen)
    }
}
