//! A program on a pseudo-terminal, typed into as a person would: a line at a time, each
//! after the screen has shown what it waits for; the terminal answers the queries the
//! program writes (where the cursor is, whether it has the kitty keyboard protocol) as
//! the terminal it plays does.

#![allow(clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use crate::project::Project;

/// What the pseudo-terminal plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plays {
    /// A terminal with the kitty keyboard protocol: it answers the cursor query, the
    /// protocol's query (`ESC[?u`) and the device attributes query after it.
    Kitty,
    /// A terminal without it: it answers the cursor query and the device attributes.
    Plain,
    /// A terminal that answers nothing.
    Mute,
}

impl Plays {
    /// What the terminal writes back for each query it answers.
    fn answers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Plays::Kitty => &[("\x1b[6n", "\x1b[1;1R"), ("\x1b[?u", "\x1b[?0u\x1b[?62c")],
            Plays::Plain => &[("\x1b[6n", "\x1b[1;1R"), ("\x1b[?u", "\x1b[?62c")],
            Plays::Mute => &[],
        }
    }
}

/// `conch ARGS` on a pseudo-terminal typed into line by line: the repl's line editor
/// reads ahead and drops what it read when its line is done, so each line waits for
/// its prompt.
pub struct Terminal {
    child: std::process::Child,
    keyboard: Arc<Mutex<Option<std::process::ChildStdin>>>,
    seen: Arc<Mutex<String>>,
    reader: std::thread::JoinHandle<()>,
}

impl Terminal {
    /// A plain terminal (no kitty keyboard protocol) running `conch ARGS`.
    pub fn start(project: &Project, args: &str) -> Terminal {
        Self::playing(project, args, &[], Plays::Plain)
    }

    /// [`Terminal::start`] with `env` added.
    pub fn start_with(project: &Project, args: &str, env: &[(&str, &str)]) -> Terminal {
        Self::playing(project, args, env, Plays::Plain)
    }

    /// `conch ARGS` with `env` added on a terminal that plays `plays`.
    pub fn playing(project: &Project, args: &str, env: &[(&str, &str)], plays: Plays) -> Terminal {
        let mut child = project.on_terminal_child(args, env);
        let keyboard = Arc::new(Mutex::new(child.stdin.take()));
        let mut stdout = child.stdout.take().expect("the terminal's output is piped");
        let seen = Arc::new(Mutex::new(String::new()));
        let sink = seen.clone();
        let answering = keyboard.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            let mut answered = vec![0; plays.answers().len()];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                if n == 0 {
                    break;
                }
                let mut seen = sink.lock().unwrap_or_else(PoisonError::into_inner);
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                for ((query, answer), done) in plays.answers().iter().zip(&mut answered) {
                    let asked = seen.matches(query).count();
                    let mut keyboard = answering.lock().unwrap_or_else(PoisonError::into_inner);
                    for _ in *done..asked {
                        if let Some(keyboard) = keyboard.as_mut() {
                            let _ = keyboard.write_all(answer.as_bytes());
                            let _ = keyboard.flush();
                        }
                    }
                    *done = asked;
                }
            }
        });
        Terminal {
            child,
            keyboard,
            seen,
            reader,
        }
    }

    /// All the screen has shown so far.
    pub fn screen(&self) -> String {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
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

    /// Types `keys` as they are: the bytes the terminal sends for them.
    pub fn type_keys(&mut self, keys: &str) {
        let mut keyboard = self.keyboard.lock().unwrap_or_else(PoisonError::into_inner);
        let keyboard = keyboard.as_mut().expect("the keyboard is still there");
        keyboard
            .write_all(keys.as_bytes())
            .expect("type into the terminal");
        keyboard.flush().expect("type into the terminal");
    }

    /// Types `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        self.type_keys(&format!("{line}\r"));
    }

    /// Waits for the end; the exit code and all that was shown.
    pub fn finish(self) -> (Option<i32>, String) {
        let Terminal {
            mut child,
            keyboard,
            seen,
            reader,
        } = self;
        // The terminal goes on answering until the program ends; what is typed ends
        // only then.
        let status = crate::wait_or_fail(&mut child, "the program on the terminal");
        drop(
            keyboard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        reader.join().expect("the terminal's reader ends");
        let seen = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
        (status.code(), seen)
    }
}
