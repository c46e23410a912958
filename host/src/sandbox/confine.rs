//! Confining a command on Linux: Landlock (read anywhere, write only where allowed; where
//! the kernel has them, no signals to and no abstract Unix sockets of processes outside,
//! no Unix socket paths outside the writable places) and a seccomp filter that refuses
//! network sockets (anything but Unix sockets), applied by the process that then execs
//! the command.

use std::path::PathBuf;
use std::sync::OnceLock;

use landlock::{
    ABI, Access, AccessFs, Compatible, Ruleset, RulesetAttr, RulesetCreated, RulesetCreatedAttr,
    Scope, path_beneath_rules,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// The Landlock ABI this code asks for; older kernels get what they support (scopes need
/// 6, confining Unix socket paths 9).
const LANDLOCK_ABI: ABI = ABI::V9;

/// What a child may do.
pub struct Confinement {
    /// With Landlock: the only places it may write (it may read everywhere). `None`: no
    /// file system confinement.
    pub writable: Option<Vec<PathBuf>>,
    /// Whether it may open network sockets.
    pub network: bool,
}

/// Whether this kernel enforces Landlock (checked once).
pub fn landlock_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        // Creating a real ruleset is the honest probe: it fails without kernel support.
        Ruleset::default()
            .set_compatibility(landlock::CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(ABI::V1))
            .and_then(Ruleset::create)
            .is_ok()
    })
}

/// The Landlock ABI this kernel offers; 0 without Landlock.
#[allow(unsafe_code)]
pub fn landlock_abi() -> i64 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute, size 0 and the VERSION flag the syscall reads and
    // writes no memory; it returns the ABI version or -1.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    abi.max(0)
}

/// Confines the calling process (single-threaded, about to exec the command) as
/// `confinement` says. Runs in `conch sandbox-exec`, the small step between conch and
/// the command: doing it there lets conch start commands with `posix_spawn` instead of
/// forking its own large address space.
pub fn confine_self(confinement: &Confinement) -> Result<(), String> {
    if let Some(writable) = &confinement.writable {
        landlock_ruleset(writable)
            .and_then(RulesetCreated::restrict_self)
            .map_err(|e| format!("cannot enter the Landlock sandbox: {e}"))?;
    }
    seccompiler::apply_filter(&syscall_filter(confinement.network)?)
        .map_err(|e| format!("cannot install the seccomp filter: {e}"))?;
    Ok(())
}

/// Read and execute anywhere; write (and connect to Unix sockets) only beneath
/// `writable`; signal and reach abstract sockets only within the command's own tree.
fn landlock_ruleset(writable: &[PathBuf]) -> Result<RulesetCreated, landlock::RulesetError> {
    let all = AccessFs::from_all(LANDLOCK_ABI);
    let read = AccessFs::from_read(LANDLOCK_ABI);
    Ruleset::default()
        .handle_access(all)?
        .scope(Scope::Signal | Scope::AbstractUnixSocket)?
        .create()?
        .add_rules(path_beneath_rules(["/"], read))?
        .add_rules(path_beneath_rules(writable, all))
}

/// Pushing input into a terminal (`TIOCSTI`, `TIOCLINUX`) fails with EACCES: a command
/// shares conch's session, so its controlling terminal is the user's shell. (A new
/// session, as `bwrap --new-session` makes, would also do, but `setsid` costs ~10 ms
/// here: the kernel creates a scheduler autogroup for it.) Without network, `socket()`
/// for anything but `AF_UNIX` fails too, and so does `io_uring_setup` (it could open
/// sockets behind the filter's back). The ioctl request is compared on its low 32 bits,
/// which is what the kernel reads.
fn syscall_filter(network: bool) -> Result<BpfProgram, String> {
    let rule = |arg: u8, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
            .and_then(|condition| SeccompRule::new(vec![condition]))
            .map_err(|e| format!("cannot build the seccomp filter: {e}"))
    };
    // The request type is `c_ulong` with glibc and `c_int` with musl.
    #[allow(clippy::unnecessary_cast)]
    let (sti, linux) = (libc::TIOCSTI as u64, libc::TIOCLINUX as u64);
    let mut rules = vec![(
        libc::SYS_ioctl,
        vec![
            rule(1, SeccompCmpOp::Eq, sti)?,
            rule(1, SeccompCmpOp::Eq, linux)?,
        ],
    )];
    if !network {
        rules.push((
            libc::SYS_socket,
            vec![rule(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?],
        ));
        rules.push((libc::SYS_io_uring_setup, vec![]));
    }
    let rules = rules.into_iter().collect();
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| format!("no seccomp filter for this architecture: {e}"))?;
    SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EACCES as u32),
        arch,
    )
    .and_then(BpfProgram::try_from)
    .map_err(|e| format!("cannot build the seccomp filter: {e}"))
}
