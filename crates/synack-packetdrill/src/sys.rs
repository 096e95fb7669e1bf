//! Operating-system descriptors that stand for the stack's sockets.
//!
//! packetdrill treats the numbers the shared object returns as file descriptors of its own
//! process: at the end of a script it calls the real `close(2)` on every socket the script left
//! open, and dies if that fails. So each socket of this stack is backed by a real descriptor (an
//! unbound `AF_UNIX` datagram socket, close-on-exec) whose number is the socket's number. The
//! stack closes it when the script closes the socket; at [`Reserved::release`] it closes only a
//! descriptor that is still the one it opened (packetdrill may have closed it already, and the
//! number may since name something else).

use crate::errno::Errno;

/// A descriptor number reserved from the operating system.
#[derive(Debug)]
pub(crate) struct Reserved {
    fd: i32,
    identity: Option<(u64, u64)>,
}

/// Device and inode of an open descriptor, or `None` when it is not open.
fn identity(fd: i32) -> Option<(u64, u64)> {
    // SAFETY: `struct stat` is plain integers, for which all-zero bytes are a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable `struct stat`; fstat writes at most that many bytes and
    // reads nothing else of ours. A closed or foreign `fd` only makes it fail.
    let r = unsafe { libc::fstat(fd, &mut st) };
    (r == 0).then_some((st.st_dev as u64, st.st_ino as u64))
}

impl Reserved {
    /// Opens a new descriptor.
    pub(crate) fn new() -> Result<Reserved, Errno> {
        // SAFETY: a plain system call with constant arguments; it returns -1 or a new descriptor
        // that this `Reserved` then owns.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            let e = std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EMFILE);
            return Err(Errno(e));
        }
        Ok(Reserved {
            fd,
            identity: identity(fd),
        })
    }

    /// The descriptor number.
    pub(crate) fn fd(&self) -> i32 {
        self.fd
    }

    /// Closes the descriptor (the script closed the socket through the stack).
    pub(crate) fn close(self) {
        // SAFETY: `fd` was opened by `new` and, as the script closed the socket through us, has
        // not been closed by anyone else; closing it ends our ownership.
        unsafe {
            libc::close(self.fd);
        }
    }

    /// Closes the descriptor if it still is the one `new` opened.
    pub(crate) fn release(self) {
        if self.identity.is_some() && identity(self.fd) == self.identity {
            self.close();
        }
    }
}
