//! The permission gate: whether a tool call may run, decided from the tool's permission
//! key (`read`, `edit`, `bash`, …), rules on its key argument, and command-line flags.
//!
//! This module knows nothing about plugins being run or where rules come from: the
//! config supplies a [`Policy`], the command line a [`Flags`], and the caller asks a
//! [`Gate`] about each [`Request`]. When the answer is "ask" and nobody can be asked
//! (no terminal), the call is denied with a message saying how to allow it.

pub mod declared;
mod gate;
mod key;
mod rule;
pub mod shell;

pub use gate::{
    AgentRestriction, Allowed, Approval, Approver, DecidedBy, Denied, Flags, Gate, Policy, Request,
    Source, ToolSet, Verdict, builtin_default, workspace_path,
};
pub use key::{InvalidKey, PermissionKey};
pub use rule::{CommandSubject, Decision, PermissionRule, wildcard_match};
