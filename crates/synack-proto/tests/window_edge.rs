//! Data at the right edge of the receive window, as Linux 6.17 and later judges it
//! (`tcp_sequence`): a segment that ends beyond the window is dropped whole while earlier data
//! waits to be read, and taken whole once nothing does. Driven against the engine directly, so
//! the counters can be read.

mod common;

use common::scripted::{build, drain, open, Peer};
use synack_proto::rng::Rng;
use synack_proto::time::Duration;
use synack_proto::{Config, Endpoint, Instant};
use synack_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps};

/// `len` bytes from the peer starting `offset` bytes past `RCV.NXT`, byte `i` of the stream
/// being `i as u8` counted from `base` (the stream offset of `RCV.NXT`).
fn send(ep: &mut Endpoint, now: Instant, peer: &Peer, base: u64, offset: u32, len: usize) {
    let info = ep.info(peer.handle).unwrap();
    let payload: Vec<u8> = (0..len)
        .map(|i| (base + u64::from(offset) + i as u64) as u8)
        .collect();
    let seg = TcpRepr {
        src_port: 80,
        dst_port: peer.local_port,
        seq: info.rcv_nxt.wrapping_add(offset),
        ack: info.snd_una,
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window: 1000,
        urgent: 0,
        options: TcpOptions {
            timestamps: info.timestamps.then_some(Timestamps {
                tsval: peer.tsval,
                tsecr: peer.last_seen_tsval,
            }),
            ..TcpOptions::default()
        },
        payload: &payload,
    };
    let _ = ep.handle_packet(now, &build(&seg));
    drain(ep);
}

fn read_all(ep: &mut Endpoint, now: Instant, peer: &Peer, base: u64) -> usize {
    let mut buf = vec![0u8; 1 << 17];
    let n = ep.recv(now, peer.handle, &mut buf).unwrap();
    for (i, b) in buf[..n].iter().enumerate() {
        assert_eq!(*b, (base + i as u64) as u8, "byte {i} of the read");
    }
    drain(ep);
    n
}

#[test]
fn data_beyond_the_window_is_dropped_whole_unless_nothing_waits_to_be_read() {
    for seed in 1..=20u64 {
        let config = Config {
            recv_buffer: 16 * 1024,
            max_recv_buffer: 16 * 1024,
            ..Config::default()
        };
        let mut ep = Endpoint::new(config, seed);
        ep.add_address(common::scripted::LOCAL.parse().unwrap());
        let mut rng = Rng::new(seed);
        let now = Instant::ZERO + Duration::from_secs(1);
        let peer = open(&mut ep, now, &mut rng);
        let mut base = 0u64;

        // 1000 bytes wait unread.
        send(&mut ep, now, &peer, base, 0, 1000);
        let info = ep.info(peer.handle).unwrap();
        assert_eq!(info.rcv_nxt, info.irs.wrapping_add(1001), "seed {seed}");
        base += 1000;
        let wnd = info.rcv_wnd;
        assert!(wnd > 1000, "seed {seed}: window {wnd}");

        // In order, one byte past the window: dropped whole, nothing of it taken.
        send(&mut ep, now, &peer, base, 0, wnd as usize + 1);
        // Out of order, past the window: dropped.
        send(&mut ep, now, &peer, base, 100, wnd as usize);
        // Starting beyond the window: dropped.
        send(&mut ep, now, &peer, base, wnd + 1, 100);
        let c = ep.counters().clone();
        assert_eq!(c.beyond_window, 3, "seed {seed}");
        assert_eq!(ep.info(peer.handle).unwrap().rcv_nxt, info.rcv_nxt);
        assert_eq!(read_all(&mut ep, now, &peer, 0), 1000, "seed {seed}");

        // Nothing waits to be read: a segment of twice the window, from the left edge, is taken
        // whole, and the out-of-window counters do not move.
        let wnd = ep.info(peer.handle).unwrap().rcv_wnd;
        let len = 2 * wnd as usize + rng.below(1000) as usize;
        send(&mut ep, now, &peer, base, 0, len);
        let after = ep.info(peer.handle).unwrap();
        assert_eq!(
            after.rcv_nxt,
            info.rcv_nxt.wrapping_add(len as u32),
            "seed {seed}"
        );
        assert_eq!(ep.counters().beyond_window, 3, "seed {seed}");
        assert_eq!(ep.counters().out_of_window, c.out_of_window, "seed {seed}");
        // Its data waits to be read, and the window it ran past is closed: in-order data is
        // dropped again.
        send(&mut ep, now, &peer, base + len as u64, 0, 10);
        assert_eq!(ep.counters().beyond_window, 4, "seed {seed}");
        assert_eq!(read_all(&mut ep, now, &peer, base), len, "seed {seed}");
    }
}

/// Data and a FIN on a SYN+ACK are dropped, as Linux drops them (the ACK covers the SYN only),
/// and counted as a dropped segment, not as a drop at a closed window.
#[test]
fn data_and_fin_on_a_synack_are_dropped_not_taken() {
    use synack_proto::State;
    let mut ep = Endpoint::new(Config::default(), 7);
    ep.add_address(common::scripted::LOCAL.parse().unwrap());
    let now = Instant::ZERO;
    let remote = format!("{}:80", common::scripted::PEER).parse().unwrap();
    let handle = ep.connect(now, remote, None).unwrap();
    let syn = ep.poll_transmit().expect("a SYN");
    let parsed = synack_wire::parse_ip(&syn).unwrap();
    let syn = TcpRepr::parse(parsed.payload, parsed.ip.src(), parsed.ip.dst(), true).unwrap();
    drain(&mut ep);
    let synack = TcpRepr {
        src_port: 80,
        dst_port: syn.src_port,
        seq: 5000,
        ack: syn.seq.wrapping_add(1),
        flags: TcpFlags::SYN | TcpFlags::ACK | TcpFlags::FIN,
        window: 65535,
        urgent: 0,
        options: TcpOptions {
            mss: Some(1000),
            ..TcpOptions::default()
        },
        payload: b"early data",
    };
    let before = ep.counters().clone();
    let _ = ep.handle_packet(now, &build(&synack));
    let ack = ep.poll_transmit().expect("an ACK");
    let parsed = synack_wire::parse_ip(&ack).unwrap();
    let ack = TcpRepr::parse(parsed.payload, parsed.ip.src(), parsed.ip.dst(), true).unwrap();
    assert_eq!(ack.ack, 5001, "the ACK covers the SYN only");
    let info = ep.info(handle).unwrap();
    assert_eq!(info.state, State::Established, "the FIN was not taken");
    assert_eq!(info.recv_buffered, 0);
    let after = ep.counters();
    assert_eq!(after.dropped_segs, before.dropped_segs + 1);
    assert_eq!(after.zero_window_drops, before.zero_window_drops);
}
