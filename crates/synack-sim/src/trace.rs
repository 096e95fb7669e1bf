//! The record of a simulation: every packet with its fate, every state change, every application
//! action, in time order.
//!
//! A packet is recorded once, when it enters the link (its send time), together with what the link
//! did to it ([`Fate`]): delivered and when, lost and why, corrupted, duplicated. The raw bytes and
//! times are kept so that a capture (pcap) or a sequence diagram can be produced from the trace.

use core::fmt;

use synack_proto::{ConnHandle, DropReason, Error, FourTuple, Instant, State};

use crate::packet::PacketInfo;
use crate::HostId;

/// Numbers the packets of one simulation, from 1, in send order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketId(pub u64);

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Why a packet did not arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LossReason {
    /// Random loss on the link ([`LinkConfig::loss`](crate::LinkConfig::loss)).
    Random,
    /// Dropped by a scripted fault ([`Sim::drop_nth`](crate::Sim::drop_nth),
    /// [`Sim::drop_matching`](crate::Sim::drop_matching)).
    Scripted,
    /// Tail-dropped at a full link queue.
    QueueFull,
    /// Larger than the link's MTU.
    Mtu,
    /// No host owns the destination address, or no link leads there.
    NoRoute,
}

impl LossReason {
    /// A short description: "random loss", "scripted drop", "queue full", "exceeds MTU",
    /// "no route".
    pub const fn as_str(self) -> &'static str {
        match self {
            LossReason::Random => "random loss",
            LossReason::Scripted => "scripted drop",
            LossReason::QueueFull => "queue full",
            LossReason::Mtu => "exceeds MTU",
            LossReason::NoRoute => "no route",
        }
    }
}

impl fmt::Display for LossReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the link did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fate {
    /// Arrived intact at `at`.
    Delivered {
        /// Arrival time.
        at: Instant,
    },
    /// Never arrived.
    Lost(LossReason),
    /// Arrived at `at` with bit `bit` flipped (counted from the start of the datagram, most
    /// significant bit of each byte first; see [`flip_bit`](crate::flip_bit)).
    Corrupted {
        /// Arrival time.
        at: Instant,
        /// The flipped bit.
        bit: usize,
    },
    /// Arrived intact twice: at `at` and again at `copy_at`.
    Duplicated {
        /// Arrival of the first copy.
        at: Instant,
        /// Arrival of the second copy.
        copy_at: Instant,
    },
}

impl Fate {
    /// When the (first copy of the) packet arrived; `None` when lost.
    pub fn arrival(&self) -> Option<Instant> {
        match *self {
            Fate::Delivered { at } | Fate::Corrupted { at, .. } | Fate::Duplicated { at, .. } => {
                Some(at)
            }
            Fate::Lost(_) => None,
        }
    }

    /// True when the packet arrived intact at least once.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Fate::Delivered { .. } | Fate::Duplicated { .. })
    }

    /// The reason when lost.
    pub fn loss(&self) -> Option<LossReason> {
        match self {
            Fate::Lost(r) => Some(*r),
            _ => None,
        }
    }
}

impl fmt::Display for Fate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fate::Delivered { at } => write!(f, "delivered at {at}"),
            Fate::Lost(r) => write!(f, "lost: {r}"),
            Fate::Corrupted { at, bit } => write!(f, "corrupted (bit {bit}) at {at}"),
            Fate::Duplicated { at, copy_at } => {
                write!(f, "delivered at {at}, duplicate at {copy_at}")
            }
        }
    }
}

/// One entry of the [`Trace`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// When it happened (for packets: when they were sent).
    pub time: Instant,
    /// What happened.
    pub kind: TraceKind,
}

/// What a [`TraceEvent`] records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceKind {
    /// A packet entered a link (or failed to).
    Packet {
        /// Its number.
        id: PacketId,
        /// The sending host.
        from: HostId,
        /// The host owning the destination address, if any.
        to: Option<HostId>,
        /// Its parsed summary and raw bytes.
        info: PacketInfo,
        /// What the link did with it.
        fate: Fate,
        /// True for a packet crafted by the test ([`Sim::inject`](crate::Sim::inject)).
        injected: bool,
    },
    /// A connection, half-open entry or TIME-WAIT entry of `host` changed state (the endpoint's
    /// `Event::StateChanged`).
    StateChange {
        /// Whose endpoint.
        host: HostId,
        /// The 4-tuple, from `host`'s point of view.
        tuple: FourTuple,
        /// State before.
        from: State,
        /// State after.
        to: State,
    },
    /// Something the application did or saw, e.g. `connect(10.0.0.2:80)`, `close()`, or a note
    /// from [`Sim::note`](crate::Sim::note).
    AppEvent {
        /// Which host's application.
        host: HostId,
        /// Free text.
        text: String,
    },
    /// A crafted packet was injected; the [`TraceKind::Packet`] with the same id follows.
    Injected {
        /// The packet's number.
        id: PacketId,
        /// The host it pretends to come from.
        from: HostId,
    },
    /// A packet arrived at `host` and its endpoint dropped it (bad checksum, not acceptable in
    /// the connection's state, ...): what `Endpoint::handle_packet` returned.
    Rejected {
        /// The receiving host.
        host: HostId,
        /// The packet's number.
        id: PacketId,
        /// Why the endpoint dropped it.
        reason: DropReason,
    },
    /// A connection of `host` reached CLOSED (the endpoint's `Event::Closed`).
    ConnClosed {
        /// Whose endpoint.
        host: HostId,
        /// The connection.
        conn: ConnHandle,
        /// `None` after an orderly close, otherwise why (refused, reset, timed out).
        error: Option<Error>,
    },
}

/// A borrowed view of one [`TraceKind::Packet`] entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketRecord<'a> {
    /// Send time.
    pub time: Instant,
    /// Its number.
    pub id: PacketId,
    /// The sender.
    pub from: HostId,
    /// The destination host, if any.
    pub to: Option<HostId>,
    /// Its summary and bytes.
    pub info: &'a PacketInfo,
    /// What the link did with it.
    pub fate: Fate,
    /// True when injected by the test.
    pub injected: bool,
}

impl PacketRecord<'_> {
    /// The bytes that reached the receiver: those sent, with the flipped bit of a corrupted
    /// packet applied; `None` when the packet was lost.
    pub fn received_bytes(&self) -> Option<Vec<u8>> {
        match self.fate {
            Fate::Lost(_) => None,
            Fate::Corrupted { bit, .. } => {
                let mut bytes = self.info.bytes.clone();
                crate::packet::flip_bit(&mut bytes, bit);
                Some(bytes)
            }
            Fate::Delivered { .. } | Fate::Duplicated { .. } => Some(self.info.bytes.clone()),
        }
    }
}

/// Everything that happened in a simulation, in time order. See the [module documentation](self).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    events: Vec<TraceEvent>,
    names: Vec<String>,
}

impl Trace {
    pub(crate) fn push(&mut self, time: Instant, kind: TraceKind) {
        self.events.push(TraceEvent { time, kind });
    }

    pub(crate) fn add_host_name(&mut self, name: &str) {
        self.names.push(name.to_string());
    }

    /// Every event, in time order.
    pub fn events(&self) -> &[TraceEvent] {
        &self.events
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Forgets every event recorded so far (host names are kept).
    pub fn clear(&mut self) {
        self.events.clear();
    }

    /// The name a host was given in [`Sim::add_host`](crate::Sim::add_host) (`"?"` if unknown).
    pub fn host_name(&self, host: HostId) -> &str {
        self.names.get(host.0).map_or("?", String::as_str)
    }

    /// Every packet, in send order.
    pub fn packets(&self) -> impl Iterator<Item = PacketRecord<'_>> + '_ {
        self.events.iter().filter_map(|e| match &e.kind {
            TraceKind::Packet {
                id,
                from,
                to,
                info,
                fate,
                injected,
            } => Some(PacketRecord {
                time: e.time,
                id: *id,
                from: *from,
                to: *to,
                info,
                fate: *fate,
                injected: *injected,
            }),
            _ => None,
        })
    }

    /// The packets sent from host `a` to host `b` (whatever became of them), in send order.
    pub fn packets_between(&self, a: HostId, b: HostId) -> Vec<PacketRecord<'_>> {
        self.packets()
            .filter(|p| p.from == a && p.to == Some(b))
            .collect()
    }

    /// The packet with number `id`.
    pub fn packet(&self, id: PacketId) -> Option<PacketRecord<'_>> {
        self.packets().find(|p| p.id == id)
    }

    /// The states `tuple` went through on `host`: the first change's `from`, then every `to`.
    /// E.g. `[CLOSED, SYN-SENT, ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, CLOSED]` for an
    /// active opener that closes first. Empty when the tuple never changed state there.
    pub fn states_of(&self, host: HostId, tuple: FourTuple) -> Vec<State> {
        let mut states = Vec::new();
        for (_, t, from, to) in self.state_changes(host) {
            if t != tuple {
                continue;
            }
            if states.is_empty() {
                states.push(from);
            }
            states.push(to);
        }
        states
    }

    /// Every state change of `host`: (time, tuple, from, to).
    pub fn state_changes(&self, host: HostId) -> Vec<(Instant, FourTuple, State, State)> {
        self.events
            .iter()
            .filter_map(|e| match e.kind {
                TraceKind::StateChange {
                    host: h,
                    tuple,
                    from,
                    to,
                } if h == host => Some((e.time, tuple, from, to)),
                _ => None,
            })
            .collect()
    }

    /// The 4-tuples `host` has seen state changes for, in order of first appearance.
    pub fn tuples_of(&self, host: HostId) -> Vec<FourTuple> {
        let mut tuples: Vec<FourTuple> = Vec::new();
        for (_, t, _, _) in self.state_changes(host) {
            if !tuples.contains(&t) {
                tuples.push(t);
            }
        }
        tuples
    }

    /// The application notes of `host`, in order.
    pub fn notes(&self, host: HostId) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                TraceKind::AppEvent { host: h, text } if *h == host => Some(text.as_str()),
                _ => None,
            })
            .collect()
    }

    /// One event as a line of text (as the `Display` implementation writes it).
    pub fn describe(&self, event: &TraceEvent) -> String {
        let name = |h: HostId| self.host_name(h).to_string();
        let body = match &event.kind {
            TraceKind::Packet {
                id,
                from,
                to,
                info,
                fate,
                injected,
            } => format!(
                "{} -> {} {id}{} {info} : {fate}",
                name(*from),
                to.map_or_else(|| "?".to_string(), name),
                if *injected { " (injected)" } else { "" },
            ),
            TraceKind::StateChange {
                host,
                tuple,
                from,
                to,
            } => format!("{} {tuple} {from} -> {to}", name(*host)),
            TraceKind::AppEvent { host, text } => format!("{} app: {text}", name(*host)),
            TraceKind::Injected { id, from } => format!("{} inject {id}", name(*from)),
            TraceKind::Rejected { host, id, reason } => {
                format!("{} dropped {id}: {reason}", name(*host))
            }
            TraceKind::ConnClosed { host, conn, error } => match error {
                None => format!("{} conn {} closed", name(*host), conn.index()),
                Some(e) => format!("{} conn {} closed: {e}", name(*host), conn.index()),
            },
        };
        format!("{} {body}", event.time)
    }
}

/// One line per event, e.g.
/// `0.010000s client -> server #1 10.0.0.1:40000 > 10.0.0.2:80 SYN seq=... : delivered at ...`.
impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.events {
            writeln!(f, "{}", self.describe(e))?;
        }
        Ok(())
    }
}
