//! A peer played by the test itself: it completes an active open from the endpoint by hand and
//! then writes whatever segments the test wants, in the connection's own sequence space.

use std::net::SocketAddr;

use synack_proto::rng::Rng;
use synack_proto::{ConnHandle, Endpoint, Instant, State};
use synack_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps};

pub const LOCAL: &str = "10.0.0.1";
pub const PEER: &str = "10.0.0.2";

/// The scripted peer's side of one connection.
pub struct Peer {
    pub handle: ConnHandle,
    pub local_port: u16,
    /// The peer's own timestamp clock.
    pub tsval: u32,
    /// The newest TSval the endpoint sent (what an honest peer echoes).
    pub last_seen_tsval: u32,
    /// Segments sent so far, replayed now and then.
    pub sent: Vec<Vec<u8>>,
}

pub fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

pub fn build(seg: &TcpRepr<'_>) -> Vec<u8> {
    synack_wire::build_tcp(ip(PEER), ip(LOCAL), 64, seg).unwrap()
}

/// Drains what the endpoint sends: every datagram must parse, with a valid checksum. Returns
/// the timestamps option of the last one that carried it, if any.
pub fn drain(ep: &mut Endpoint) -> Option<Timestamps> {
    let mut last = None;
    while let Some(out) = ep.poll_transmit() {
        let parsed = synack_wire::parse_ip(&out).expect("own output parses");
        let tcp = TcpRepr::parse(parsed.payload, parsed.ip.src(), parsed.ip.dst(), true)
            .expect("own output has a valid checksum");
        last = tcp.options.timestamps.or(last);
    }
    while ep.poll_event().is_some() {}
    last
}

/// Opens a connection to the scripted peer and completes the handshake by hand, offering
/// every option (the endpoint takes what its configuration allows).
pub fn open(ep: &mut Endpoint, now: Instant, rng: &mut Rng) -> Peer {
    let remote: SocketAddr = format!("{PEER}:80").parse().unwrap();
    let handle = ep.connect(now, remote, None).unwrap();
    let syn = ep.poll_transmit().expect("a SYN");
    let parsed = synack_wire::parse_ip(&syn).unwrap();
    let syn = TcpRepr::parse(parsed.payload, parsed.ip.src(), parsed.ip.dst(), true).unwrap();
    drain(ep);
    let tsval = rng.next_u32();
    let options = TcpOptions {
        mss: Some([1000, 536, 1460, 88][rng.below(4) as usize]),
        window_scale: Some([7, 0, 14][rng.below(3) as usize]),
        sack_permitted: true,
        timestamps: syn.options.timestamps.map(|ts| Timestamps {
            tsval,
            tsecr: ts.tsval,
        }),
        ..TcpOptions::default()
    };
    let synack = TcpRepr {
        src_port: 80,
        dst_port: syn.src_port,
        seq: rng.next_u32(),
        ack: syn.seq.wrapping_add(1),
        flags: TcpFlags::SYN | TcpFlags::ACK,
        window: 65535,
        urgent: 0,
        options,
        payload: &[],
    };
    ep.handle_packet(now, &build(&synack))
        .expect("the SYN-ACK is taken");
    let last = drain(ep).map_or(0, |ts| ts.tsval);
    assert_eq!(ep.state(handle).unwrap(), State::Established);
    Peer {
        handle,
        local_port: syn.src_port,
        tsval,
        last_seen_tsval: last,
        sent: Vec::new(),
    }
}
