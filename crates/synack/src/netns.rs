//! Private network namespaces, for tests that put synack and the kernel's TCP face to face
//! without touching the host's network.
//!
//! [`unshare`] moves the *calling thread* (only it: network namespaces are per thread) into a new,
//! empty namespace and brings its loopback up. Threads it spawns afterwards, sockets it opens and
//! TUN interfaces it creates live there; the namespace disappears with the last of them. [`run`]
//! does this on a fresh thread and returns what the closure returns.
//!
//! It needs `CAP_SYS_ADMIN` (root); without it [`unshare`] fails with `PermissionDenied`, which a
//! test can take as a reason to skip.

use std::io;

use crate::device::tun::set_link_up;

/// Moves the calling thread into a new network namespace and brings `lo` up.
pub fn unshare() -> io::Result<()> {
    crate::sys::unshare_net().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create a network namespace (unshare(CLONE_NEWNET)): {e}"),
        )
    })?;
    set_link_up("lo", true)
}

/// Runs `f` on a new thread inside a new network namespace (with `lo` up), and returns its
/// result. The namespace goes away when `f`'s thread and everything it left behind have gone.
pub fn run<T, F>(f: F) -> io::Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let t = std::thread::Builder::new()
        .name("synack-netns".into())
        .spawn(move || -> io::Result<T> {
            unshare()?;
            Ok(f())
        })?;
    match t.join() {
        Ok(r) => r,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
