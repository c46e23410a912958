//! The built-in plugins, packaged by `host/build.rs` and carried inside the binary.

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
