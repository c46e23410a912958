//! What conch and the warm namespace's server (`conch-exec --serve`, see `serve`) say to
//! each other: a command request as one JSON message on a `SOCK_SEQPACKET` socket, with
//! the command's stdin, stdout, stderr and its status connection passed beside it
//! (`SCM_RIGHTS`). On the status connection the command's supervisor says it has taken
//! the command (`STARTED`) and, when it has ended, sends its wait status (4 bytes); conch
//! sends one byte to stop it (`TERM`, `KILL`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What the server sends once, when it is up: the namespaces work.
pub const READY: &[u8] = b"ready";
/// A command's supervisor to conch: it has the command. A server that died with the
/// request unread never says it, and conch runs the command another way.
pub const STARTED: u8 = b'S';
/// Conch to a command's supervisor: send TERM to the command's process group.
pub const TERM: u8 = b'T';
/// Conch to a command's supervisor: kill every process of the command now.
pub const KILL: u8 = b'K';
/// The most a request may take (the command line, its environment); a larger one is
/// refused by the socket and the command gets its own bwrap instead.
pub const MOST_REQUEST_BYTES: usize = 192 * 1024;
/// The descriptors that come with a request, in this order.
pub const REQUEST_FDS: usize = 4;

/// One command for the server to run.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// The program and its arguments.
    pub program: Vec<String>,
    pub cwd: PathBuf,
    /// Its whole environment but TMPDIR, which the supervisor sets to the command's own
    /// temp dir unless this sets it.
    pub env: Vec<(String, String)>,
    /// Where it may write beside its temp dir (Landlock).
    pub writable: Vec<PathBuf>,
    pub network: bool,
}

/// A pair of connected Unix sockets of `kind` (`SOCK_SEQPACKET`, `SOCK_STREAM`), both
/// close-on-exec.
#[allow(unsafe_code)]
pub fn socket_pair(kind: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: socketpair writes two descriptors into `fds`, a local array of two.
    let result = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned both descriptors to us; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A pipe, (read end, write end), both close-on-exec.
#[allow(unsafe_code)]
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`, a local array of two.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned both descriptors to us; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends `bytes` as one message on `socket`, with `fds` passed beside it.
#[allow(unsafe_code)]
pub fn send(socket: BorrowedFd<'_>, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let fd_bytes = std::mem::size_of_val(raw.as_slice());
    let fd_bytes_u32 = u32::try_from(fd_bytes).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes_u32) } as usize;
    // u64s keep the control buffer aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    if !raw.is_empty() {
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = space as _;
        // SAFETY: the header points at `control`, which holds CMSG_SPACE(fd_bytes)
        // bytes, so the first cmsghdr and its data (fd_bytes) fit in it.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&header);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes_u32) as _;
            std::ptr::copy_nonoverlapping(
                raw.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                fd_bytes,
            );
        }
    }
    loop {
        // SAFETY: the header, the iovec and the control buffer live across the call;
        // the kernel only reads them. MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE.
        let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &header, libc::MSG_NOSIGNAL) };
        if sent >= 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

/// Receives one message (at most `most` bytes) and the descriptors passed with it (made
/// close-on-exec); `None` when the peer has closed. A message cut short is an error.
#[allow(unsafe_code)]
pub fn receive(socket: BorrowedFd<'_>, most: usize) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut bytes = vec![0u8; most];
    let fd_bytes = u32::try_from(REQUEST_FDS * std::mem::size_of::<RawFd>())
        .map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: bytes.as_mut_ptr().cast(),
        iov_len: bytes.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = space as _;
    let received = loop {
        // SAFETY: the header points at `bytes` and `control`, which live across the
        // call and are as large as the header says.
        let received =
            unsafe { libc::recvmsg(socket.as_raw_fd(), &mut header, libc::MSG_CMSG_CLOEXEC) };
        if received >= 0 {
            break received as usize;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    };
    let mut fds = Vec::new();
    // SAFETY: the kernel filled `control` up to msg_controllen; CMSG_FIRSTHDR/NXTHDR
    // stay inside it, and each SCM_RIGHTS entry's data holds the descriptors it says,
    // now ours.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&header);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let len = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&header, cmsg);
        }
    }
    if header.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
        return Err(io::Error::other("a message too large for the server"));
    }
    if received == 0 && fds.is_empty() {
        return Ok(None);
    }
    bytes.truncate(received);
    Ok(Some((bytes, fds)))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn a_message_and_its_descriptors_arrive_together() {
        let (ours, theirs) = socket_pair(libc::SOCK_SEQPACKET).unwrap();
        let (read_end, write_end) = pipe().unwrap();
        send(ours.as_fd(), b"hello", &[write_end.as_fd()]).unwrap();
        drop(write_end);
        let (bytes, fds) = receive(theirs.as_fd(), 64).unwrap().unwrap();
        assert_eq!(bytes, b"hello");
        assert_eq!(fds.len(), 1);
        let mut passed = std::fs::File::from(fds.into_iter().next().unwrap());
        passed.write_all(b"through").unwrap();
        drop(passed);
        let mut text = String::new();
        std::fs::File::from(read_end)
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "through");
        drop(ours);
        assert!(receive(theirs.as_fd(), 64).unwrap().is_none());
    }

    #[test]
    fn a_message_larger_than_asked_for_is_refused() {
        let (ours, theirs) = socket_pair(libc::SOCK_SEQPACKET).unwrap();
        send(ours.as_fd(), &[b'x'; 100], &[]).unwrap();
        assert!(receive(theirs.as_fd(), 10).is_err());
    }
}
