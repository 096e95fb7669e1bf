//! A small built-in application layer, so that scenario tests read as a story.
//!
//! The `app_*` methods of [`Sim`] play the application on a host: they call the endpoint, note
//! what they did in the trace (`connect(10.0.0.2:80)`, `accept() -> ...`, `close()`, `read EOF`),
//! and keep working on their own as the simulation runs — every flush of a host (after each packet
//! or timer it handles) gives them a turn:
//!
//! - [`Sim::app_send_all`] queues bytes and keeps writing them as the send buffer frees;
//! - a connection with `auto_read` (the default for connections made by [`Sim::app_connect`] and
//!   accepted by [`Sim::app_serve`]) is read as soon as data arrives, into a buffer that
//!   [`Sim::app_received`] shows and [`Sim::app_read_all`] takes;
//! - [`Sim::app_close`] and [`Sim::app_shutdown`] wait until the queued bytes are all written;
//! - `close_on_eof` closes a connection once its peer's FIN has been read (the passive closer of
//!   the four-way close);
//! - `linger` makes a close wait, as `close()` with `SO_LINGER` does, until everything written
//!   (FIN included) is acknowledged, so that the connection never goes on alone — as an orphan,
//!   with Linux's shorter retry limit — while data is still in flight;
//! - a listener given to [`Sim::app_serve`] or [`Sim::app_auto_accept`] accepts every connection
//!   as soon as it is ready.
//!
//! ```
//! use synack_proto::{Config, Instant};
//! use synack_sim::{LinkConfig, Sim, AppOptions};
//! use std::time::Duration;
//!
//! let mut sim = Sim::new(1);
//! let c = sim.add_host("client", "10.0.0.1".parse().unwrap(), Config::default());
//! let s = sim.add_host("server", "10.0.0.2".parse().unwrap(), Config::default());
//! sim.link(c, s, LinkConfig::with_delay(Duration::from_millis(10)));
//! sim.app_serve(s, "10.0.0.2:80".parse().unwrap(), 16, AppOptions::default().close_on_eof(true))
//!     .unwrap();
//! let conn = sim.app_connect(c, "10.0.0.2:80".parse().unwrap()).unwrap();
//! sim.app_send_all(c, conn, b"hello");
//! sim.app_close(c, conn);
//! assert!(sim.run_until_idle(Instant::from_secs(120)));
//! let served = sim.app_accepted(s)[0];
//! assert_eq!(sim.app_received(s, served), b"hello");
//! assert!(sim.app_eof(s, served));
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;

use synack_proto::{ConnHandle, Error, FourTuple, ListenerHandle, State};

use crate::sim::{HostId, Sim};

/// How the built-in application treats a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppOptions {
    /// Read everything as soon as it arrives (into [`Sim::app_received`]). Turn off to let the
    /// receive buffer fill (flow-control scenarios) or to read through the endpoint yourself.
    pub auto_read: bool,
    /// Close the connection once end of stream has been read and the queued bytes are written.
    pub close_on_eof: bool,
    /// Hold a close back until everything written, FIN included, is acknowledged (or the
    /// connection has failed), as `close()` blocks with `SO_LINGER`: the socket is not orphaned
    /// while its data is in flight.
    pub linger: bool,
}

impl Default for AppOptions {
    /// Reads as data arrives; does not close on end of stream.
    fn default() -> Self {
        Self {
            auto_read: true,
            close_on_eof: false,
            linger: false,
        }
    }
}

impl AppOptions {
    /// Sets `auto_read`.
    #[must_use]
    pub fn auto_read(mut self, on: bool) -> Self {
        self.auto_read = on;
        self
    }

    /// Sets `close_on_eof`.
    #[must_use]
    pub fn close_on_eof(mut self, on: bool) -> Self {
        self.close_on_eof = on;
        self
    }

    /// Sets `linger`.
    #[must_use]
    pub fn linger(mut self, on: bool) -> Self {
        self.linger = on;
        self
    }
}

/// What to do once the queued bytes are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AfterSend {
    Close,
    Shutdown,
}

#[derive(Debug, Default)]
pub(crate) struct ConnApp {
    tuple: Option<FourTuple>,
    out: Vec<u8>,
    out_off: usize,
    after_send: Option<AfterSend>,
    auto_read: bool,
    close_on_eof: bool,
    linger: bool,
    received: Vec<u8>,
    eof: bool,
    error: Option<Error>,
    released: bool,
    written: u64,
    /// Opened by `app_connect` and not yet ESTABLISHED: writes and closes wait, as after a
    /// blocking `connect()`.
    connecting: bool,
}

impl ConnApp {
    fn new(tuple: Option<FourTuple>, opts: AppOptions) -> Self {
        Self {
            tuple,
            auto_read: opts.auto_read,
            close_on_eof: opts.close_on_eof,
            linger: opts.linger,
            ..Self::default()
        }
    }

    fn unsent(&self) -> usize {
        self.out.len() - self.out_off
    }
}

#[derive(Debug, Default)]
pub(crate) struct HostApp {
    conns: BTreeMap<ConnHandle, ConnApp>,
    auto_accept: Vec<(ListenerHandle, AppOptions)>,
    accepted: Vec<ConnHandle>,
}

const READ_CHUNK: usize = 64 * 1024;

impl Sim {
    fn app_mut(&mut self, host: HostId) -> Option<&mut HostApp> {
        self.hosts.get_mut(host.0).map(|h| &mut h.app)
    }

    fn conn_app(&self, host: HostId, conn: ConnHandle) -> Option<&ConnApp> {
        self.hosts.get(host.0)?.app.conns.get(&conn)
    }

    /// The entry of `conn`, created (with auto-read off) if the application never saw it.
    fn conn_app_mut(&mut self, host: HostId, conn: ConnHandle) -> Option<&mut ConnApp> {
        let h = self.hosts.get_mut(host.0)?;
        let tuple = h.endpoint.tuple(conn).ok();
        Some(
            h.app
                .conns
                .entry(conn)
                .or_insert_with(|| ConnApp::new(tuple, AppOptions::default().auto_read(false))),
        )
    }

    /// `listen()` on `host`, noted in the trace.
    ///
    /// # Errors
    /// Those of [`synack_proto::Endpoint::listen`].
    pub fn app_listen(
        &mut self,
        host: HostId,
        addr: SocketAddr,
        backlog: u32,
    ) -> Result<ListenerHandle, Error> {
        self.note(host, &format!("listen({addr}, backlog {backlog})"));
        let r = self.endpoint(host).listen(addr, backlog);
        if let Err(e) = r {
            self.note(host, &format!("listen() failed: {e}"));
        }
        r
    }

    /// From now on, accept every connection of listener `l` as soon as it is ready, and treat it
    /// with `opts`. Accepted connections are listed by [`Sim::app_accepted`].
    pub fn app_auto_accept(&mut self, host: HostId, l: ListenerHandle, opts: AppOptions) {
        if let Some(app) = self.app_mut(host) {
            app.auto_accept.push((l, opts));
        }
        self.flush(host);
    }

    /// [`Sim::app_listen`] and [`Sim::app_auto_accept`] together: a server.
    ///
    /// # Errors
    /// Those of [`synack_proto::Endpoint::listen`].
    pub fn app_serve(
        &mut self,
        host: HostId,
        addr: SocketAddr,
        backlog: u32,
        opts: AppOptions,
    ) -> Result<ListenerHandle, Error> {
        let l = self.app_listen(host, addr, backlog)?;
        self.app_auto_accept(host, l, opts);
        Ok(l)
    }

    /// `accept()` once on listener `l` (for tests that accept by hand), noted in the trace; the
    /// connection is then treated with `opts`.
    ///
    /// # Errors
    /// [`Error::WouldBlock`] when the accept queue is empty, [`Error::InvalidHandle`].
    pub fn app_accept(
        &mut self,
        host: HostId,
        l: ListenerHandle,
        opts: AppOptions,
    ) -> Result<ConnHandle, Error> {
        let r = self.endpoint(host).accept(l);
        if let Ok(conn) = r {
            let tuple = self.endpoint_ref(host).tuple(conn).ok();
            self.register_accepted(host, conn, tuple, opts);
            self.flush(host);
        }
        r
    }

    fn register_accepted(
        &mut self,
        host: HostId,
        conn: ConnHandle,
        tuple: Option<FourTuple>,
        opts: AppOptions,
    ) {
        let text = match tuple {
            Some(t) => format!("accept() -> {}", t.remote),
            None => "accept()".to_string(),
        };
        self.note(host, &text);
        if let Some(app) = self.app_mut(host) {
            app.accepted.push(conn);
            app.conns.insert(conn, ConnApp::new(tuple, opts));
        }
    }

    /// The connections the application accepted on `host`, in order.
    pub fn app_accepted(&self, host: HostId) -> Vec<ConnHandle> {
        self.hosts
            .get(host.0)
            .map(|h| h.app.accepted.clone())
            .unwrap_or_default()
    }

    /// `connect()` from `host` to `remote` (the endpoint picks the local address and port), noted
    /// in the trace; the connection is read as data arrives ([`AppOptions::default`]).
    ///
    /// # Errors
    /// Those of [`synack_proto::Endpoint::connect`].
    pub fn app_connect(&mut self, host: HostId, remote: SocketAddr) -> Result<ConnHandle, Error> {
        self.app_connect_with(host, remote, None, AppOptions::default())
    }

    /// `connect()` with a chosen local address/port and options.
    ///
    /// # Errors
    /// Those of [`synack_proto::Endpoint::connect`].
    pub fn app_connect_with(
        &mut self,
        host: HostId,
        remote: SocketAddr,
        local: Option<SocketAddr>,
        opts: AppOptions,
    ) -> Result<ConnHandle, Error> {
        self.note(host, &format!("connect({remote})"));
        let now = self.now();
        let r = self.endpoint(host).connect(now, remote, local);
        match r {
            Ok(conn) => {
                let tuple = self.endpoint_ref(host).tuple(conn).ok();
                if let Some(app) = self.app_mut(host) {
                    let mut entry = ConnApp::new(tuple, opts);
                    entry.connecting = true;
                    app.conns.insert(conn, entry);
                }
            }
            Err(e) => self.note(host, &format!("connect() failed: {e}")),
        }
        self.flush(host);
        r
    }

    /// Changes how the application treats `conn`.
    pub fn app_set_options(&mut self, host: HostId, conn: ConnHandle, opts: AppOptions) {
        if let Some(app) = self.conn_app_mut(host, conn) {
            app.auto_read = opts.auto_read;
            app.close_on_eof = opts.close_on_eof;
            app.linger = opts.linger;
        }
        self.flush(host);
    }

    /// Queues `data` to be written on `conn`; it is written as the send buffer frees, in order,
    /// without the test having to loop. Check [`Sim::app_unsent`] for what is still queued.
    pub fn app_send_all(&mut self, host: HostId, conn: ConnHandle, data: &[u8]) {
        if let Some(app) = self.conn_app_mut(host, conn) {
            app.out.extend_from_slice(data);
        }
        self.flush(host);
    }

    /// Bytes queued by [`Sim::app_send_all`] not yet accepted by the endpoint.
    pub fn app_unsent(&self, host: HostId, conn: ConnHandle) -> usize {
        self.conn_app(host, conn).map_or(0, ConnApp::unsent)
    }

    /// Bytes of [`Sim::app_send_all`] the endpoint has accepted so far.
    pub fn app_written(&self, host: HostId, conn: ConnHandle) -> u64 {
        self.conn_app(host, conn).map_or(0, |a| a.written)
    }

    /// `close()` once every queued byte is written (at once if none is), noted in the trace. The
    /// handle is released by the endpoint then; the sim keeps its received bytes and tuple.
    pub fn app_close(&mut self, host: HostId, conn: ConnHandle) {
        if let Some(app) = self.conn_app_mut(host, conn) {
            app.after_send = Some(AfterSend::Close);
        }
        self.flush(host);
    }

    /// `shutdown(SHUT_WR)` once every queued byte is written, noted in the trace: a FIN follows the
    /// data; reading continues.
    pub fn app_shutdown(&mut self, host: HostId, conn: ConnHandle) {
        if let Some(app) = self.conn_app_mut(host, conn) {
            app.after_send = Some(AfterSend::Shutdown);
        }
        self.flush(host);
    }

    /// Aborts `conn` at once (RST), dropping any queued bytes, noted in the trace.
    pub fn app_abort(&mut self, host: HostId, conn: ConnHandle) {
        self.note(host, "abort()");
        let now = self.now();
        let r = self.endpoint(host).abort(now, conn);
        if let Err(e) = r {
            self.note(host, &format!("abort() failed: {e}"));
        }
        if let Some(app) = self.conn_app_mut(host, conn) {
            app.released = true;
            app.out.clear();
            app.out_off = 0;
            app.after_send = None;
        }
        self.flush(host);
    }

    /// The bytes read so far on `conn` and not yet taken by [`Sim::app_read_all`].
    pub fn app_received(&self, host: HostId, conn: ConnHandle) -> &[u8] {
        self.conn_app(host, conn)
            .map_or(&[], |a| a.received.as_slice())
    }

    /// Reads everything readable on `conn` now and returns it, with what auto-read had gathered
    /// before; the application's buffer is emptied.
    pub fn app_read_all(&mut self, host: HostId, conn: ConnHandle) -> Vec<u8> {
        if let Some(app) = self.conn_app_mut(host, conn) {
            let auto = app.auto_read;
            app.auto_read = true;
            let _ = self.app_read(host, conn);
            if let Some(app) = self.conn_app_mut(host, conn) {
                app.auto_read = auto;
            }
        }
        let data = self
            .conn_app_mut(host, conn)
            .map(|a| std::mem::take(&mut a.received))
            .unwrap_or_default();
        self.flush(host);
        data
    }

    /// True once the application has read end of stream (or an error) on `conn`.
    pub fn app_eof(&self, host: HostId, conn: ConnHandle) -> bool {
        self.conn_app(host, conn).is_some_and(|a| a.eof)
    }

    /// The first error the application saw on `conn` (from `send` or `recv`: refused, reset,
    /// timed out, ...).
    pub fn app_error(&self, host: HostId, conn: ConnHandle) -> Option<Error> {
        self.conn_app(host, conn).and_then(|a| a.error)
    }

    /// The 4-tuple of `conn` as known when the application opened or accepted it (still
    /// available after the handle is released).
    pub fn app_tuple(&self, host: HostId, conn: ConnHandle) -> Option<FourTuple> {
        self.conn_app(host, conn)
            .and_then(|a| a.tuple)
            .or_else(|| self.endpoint_ref(host).tuple(conn).ok())
    }

    /// One turn of the application on `host`; true when it did anything.
    pub(crate) fn app_pass(&mut self, host: HostId) -> bool {
        let Some(h) = self.hosts.get(host.0) else {
            return false;
        };
        let mut progress = false;
        // Accept.
        let listeners = h.app.auto_accept.clone();
        for (l, opts) in listeners {
            while let Ok(conn) = self.endpoint(host).accept(l) {
                progress = true;
                let tuple = self.endpoint_ref(host).tuple(conn).ok();
                self.register_accepted(host, conn, tuple, opts);
            }
        }
        let conns: Vec<ConnHandle> = self
            .hosts
            .get(host.0)
            .map(|h| {
                h.app
                    .conns
                    .iter()
                    .filter(|(_, a)| !a.released)
                    .map(|(c, _)| *c)
                    .collect()
            })
            .unwrap_or_default();
        for conn in conns {
            if self.app_connecting(host, conn) {
                continue;
            }
            progress |= self.app_write(host, conn);
            progress |= self.app_read(host, conn);
            progress |= self.app_finish(host, conn);
        }
        progress
    }

    /// True while a connection opened by `app_connect` is still in its handshake. When the
    /// handshake ends, notes how (`connect() done`, or the error) and returns false.
    fn app_connecting(&mut self, host: HostId, conn: ConnHandle) -> bool {
        let now = self.now();
        let Some(h) = self.hosts.get_mut(host.0) else {
            return false;
        };
        let Some(app) = h.app.conns.get_mut(&conn) else {
            return false;
        };
        if !app.connecting {
            return false;
        }
        let text = match h.endpoint.state(conn) {
            Ok(State::SynSent | State::SynReceived) => return true,
            Ok(State::Closed) => {
                let mut byte = [0u8; 1];
                let e = match h.endpoint.recv(now, conn, &mut byte) {
                    Err(e) => e,
                    Ok(_) => Error::ConnectionAborted,
                };
                app.error.get_or_insert(e);
                app.eof = true;
                app.out.clear();
                app.out_off = 0;
                format!("connect() failed: {e}")
            }
            Ok(_) => "connect() done".to_string(),
            Err(e) => format!("connect() failed: {e}"),
        };
        app.connecting = false;
        self.note(host, &text);
        false
    }

    /// Writes queued bytes while the send buffer takes them.
    fn app_write(&mut self, host: HostId, conn: ConnHandle) -> bool {
        let now = self.now();
        let Some(h) = self.hosts.get_mut(host.0) else {
            return false;
        };
        let Some(app) = h.app.conns.get_mut(&conn) else {
            return false;
        };
        let mut progress = false;
        let mut failed = None;
        while app.unsent() > 0 {
            match h.endpoint.send(now, conn, &app.out[app.out_off..]) {
                Ok(0) | Err(Error::WouldBlock) => break,
                Ok(n) => {
                    app.out_off += n;
                    app.written += n as u64;
                    progress = true;
                }
                Err(e) => {
                    app.error.get_or_insert(e);
                    app.out.clear();
                    app.out_off = 0;
                    app.after_send = None;
                    failed = Some(e);
                    progress = true;
                    break;
                }
            }
        }
        if app.unsent() == 0 && !app.out.is_empty() {
            app.out.clear();
            app.out_off = 0;
        }
        if let Some(e) = failed {
            self.note(host, &format!("send() failed: {e}"));
        }
        progress
    }

    /// Reads everything readable when auto-read is on.
    fn app_read(&mut self, host: HostId, conn: ConnHandle) -> bool {
        let now = self.now();
        let Some(h) = self.hosts.get_mut(host.0) else {
            return false;
        };
        let Some(app) = h.app.conns.get_mut(&conn) else {
            return false;
        };
        if !app.auto_read || app.eof || app.released {
            return false;
        }
        let mut progress = false;
        let mut note = None;
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            match h.endpoint.recv(now, conn, &mut buf) {
                Ok(0) => {
                    app.eof = true;
                    note = Some("read EOF".to_string());
                    progress = true;
                    break;
                }
                Ok(n) => {
                    app.received.extend_from_slice(&buf[..n.min(buf.len())]);
                    progress = true;
                }
                Err(Error::WouldBlock) => break,
                Err(e) => {
                    app.error.get_or_insert(e);
                    app.eof = true;
                    note = Some(format!("recv() failed: {e}"));
                    progress = true;
                    break;
                }
            }
        }
        if let Some(text) = note {
            self.note(host, &text);
        }
        progress
    }

    /// Closes or shuts down once the queue is written, as asked.
    fn app_finish(&mut self, host: HostId, conn: ConnHandle) -> bool {
        let now = self.now();
        let Some(h) = self.hosts.get_mut(host.0) else {
            return false;
        };
        let Some(app) = h.app.conns.get_mut(&conn) else {
            return false;
        };
        if app.released || app.unsent() > 0 {
            return false;
        }
        let action = match app.after_send {
            Some(a) => a,
            None if app.close_on_eof && app.eof => AfterSend::Close,
            None => return false,
        };
        if action == AfterSend::Close && app.linger {
            // SO_LINGER: wait while written data or the FIN is unacknowledged and the
            // connection is alive.
            let waiting = h.endpoint.info(conn).is_ok_and(|i| {
                i.state != State::Closed && (i.send_buffered > 0 || i.snd_una != i.snd_nxt)
            });
            if waiting {
                return false;
            }
        }
        app.after_send = None;
        let (text, result) = match action {
            AfterSend::Close => {
                app.released = true;
                app.close_on_eof = false;
                ("close()", h.endpoint.close(now, conn))
            }
            AfterSend::Shutdown => ("shutdown(SHUT_WR)", h.endpoint.shutdown(now, conn)),
        };
        self.note(host, text);
        if let Err(e) = result {
            self.note(host, &format!("{text} failed: {e}"));
        }
        true
    }
}
