//! Handles the application holds, and the events the endpoint reports.

use crate::error::Error;
use crate::state::State;
use crate::tuple::FourTuple;

/// Names one connection of an [`Endpoint`](crate::Endpoint). Stale handles (of a connection that
/// has been released) are detected by a generation counter and give [`Error::InvalidHandle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl ConnHandle {
    /// A number unique among the live connections of the endpoint (for logs).
    pub fn index(self) -> u32 {
        self.index
    }
}

/// Names one listening socket of an [`Endpoint`](crate::Endpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Something the application or the host may want to react to. Drain with
/// [`Endpoint::poll_event`](crate::Endpoint::poll_event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A connection (or a half-open SYN-queue entry, or a TIME-WAIT entry) changed state.
    StateChanged {
        /// The connection's 4-tuple, from this endpoint's point of view.
        tuple: FourTuple,
        /// The state before.
        from: State,
        /// The state after.
        to: State,
    },
    /// An active open completed: the connection is ESTABLISHED.
    Connected(ConnHandle),
    /// A listener's accept queue has a connection ready for `accept()`.
    Acceptable(ListenerHandle),
    /// Data, end of stream or an error can be read from the connection.
    Readable(ConnHandle),
    /// Send-buffer space became free.
    Writable(ConnHandle),
    /// The connection reached CLOSED. `error` is `None` after an orderly close, otherwise the reason
    /// (refused, reset, timed out). A handle the application still holds stays valid until it calls
    /// [`Endpoint::close`](crate::Endpoint::close) or [`Endpoint::abort`](crate::Endpoint::abort).
    Closed {
        /// The connection.
        handle: ConnHandle,
        /// Why, when it did not close in order.
        error: Option<Error>,
    },
}
