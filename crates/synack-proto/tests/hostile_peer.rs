//! A hostile peer inside the window: a connection with data in flight both ways, fed segments
//! whose fields are aimed at the live sequence space rather than drawn at random (which lands
//! almost everything outside the window, as `robustness.rs` does). ACKs anywhere around
//! `SND.UNA..SND.NXT`, SACK blocks that overlap, reverse, reach past `SND.NXT` or sit below the
//! ACK (the CVE-2019-11477 family of SACK abuse), data before, at and far past `RCV.NXT`,
//! shrinking and zero windows, stale and future timestamps, stray SYN, FIN, URG and RST bits,
//! replays, and long silences that let every timer fire.
//!
//! Tests run with overflow checks on, so an unchecked sequence or byte-count subtraction panics
//! here. After every segment the sender's bookkeeping must stay inside the sequence space it
//! has used (RFC 9293 §3.4: `SND.UNA <= SND.NXT`; RFC 6675's scoreboard: SACKed and lost bytes
//! within the data in flight), whatever it answers must parse with a valid checksum, and at the
//! end a fresh connection from the same endpoint still carries data.

mod common;

use synack_proto::rng::Rng;
use synack_proto::time::Duration;
use synack_proto::{Config, ConnHandle, Endpoint, Instant, State};
use synack_wire::{SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpRepr, Timestamps};

use common::scripted::{build, drain, ip, open, Peer, LOCAL};

/// `base` moved by a signed offset in sequence space.
fn at(base: u32, off: i64) -> u32 {
    base.wrapping_add(off as u32)
}

fn signed(rng: &mut Rng, below: u64, above: u64) -> i64 {
    rng.below(below + above + 1) as i64 - below as i64
}

/// One hostile segment aimed at the connection's live sequence space.
fn hostile_segment(rng: &mut Rng, ep: &Endpoint, peer: &mut Peer) -> Vec<u8> {
    if !peer.sent.is_empty() && rng.chance(0.05) {
        let i = rng.below(peer.sent.len() as u64) as usize;
        return peer.sent[i].clone();
    }
    let info = ep.info(peer.handle).unwrap();
    let (una, nxt, rcv) = (info.snd_una, info.snd_nxt, info.rcv_nxt);
    let flight = u64::from(nxt.wrapping_sub(una));
    let ack = match rng.below(10) {
        0..=2 => una,
        3..=6 => at(una, rng.below(flight + 1) as i64),
        7 => at(una, -(rng.below(5000) as i64)),
        8 => at(nxt, rng.below(5000) as i64),
        _ => rng.next_u32(),
    };
    let mut options = TcpOptions::default();
    if rng.chance(0.9) {
        let tsval = match rng.below(40) {
            // A clock jump forward, which the peer keeps (a random TSval now and then would
            // leave every later honest one behind it, rejected by PAWS).
            0 => {
                peer.tsval = peer.tsval.wrapping_add(rng.below(1 << 30) as u32);
                peer.tsval
            }
            1 => peer.tsval.wrapping_sub(1 + rng.below(1 << 20) as u32),
            _ => {
                peer.tsval = peer.tsval.wrapping_add(rng.below(10) as u32);
                peer.tsval
            }
        };
        let tsecr = if rng.chance(0.8) {
            peer.last_seen_tsval
        } else {
            rng.next_u32()
        };
        options.timestamps = Some(Timestamps { tsval, tsecr });
    }
    if rng.chance(0.6) {
        let mut blocks = SackBlocks::new();
        for _ in 0..=rng.below(4) {
            let left = match rng.below(6) {
                // Aligned to the segments in flight.
                0 | 1 => at(una, (rng.below(flight / 1000 + 2) * 1000) as i64),
                // Below the ACK: a D-SACK, or garbage.
                2 => at(ack, -(rng.below(4000) as i64)),
                3 => rng.next_u32(),
                _ => at(una, signed(rng, 3000, flight + 3000)),
            };
            let right = match rng.below(5) {
                0 => at(left, -(rng.below(2000) as i64)),
                1 => at(nxt, rng.below(3000) as i64),
                _ => at(left, rng.below(6000) as i64),
            };
            blocks.push(SackBlock { left, right });
        }
        options.sack = blocks;
    }
    let payload_len = if rng.chance(0.4) {
        match rng.below(4) {
            0 => 1000,
            // Larger than any MSS the endpoint announced.
            1 => 1 + rng.below(3000) as usize,
            _ => 1 + rng.below(1000) as usize,
        }
    } else {
        0
    };
    let payload: Vec<u8> = (0..payload_len).map(|_| rng.next_u32() as u8).collect();
    let seq = match rng.below(10) {
        0..=5 => rcv,
        6 => at(rcv, -(rng.below(3000) as i64)),
        7 | 8 => at(rcv, 1 + rng.below(60_000) as i64),
        _ => rng.next_u32(),
    };
    let mut flags = TcpFlags::ACK;
    if rng.chance(0.02) {
        flags = TcpFlags::NONE;
    }
    for (p, f) in [
        (0.3, TcpFlags::PSH),
        (0.03, TcpFlags::FIN),
        (0.02, TcpFlags::URG),
        (0.01, TcpFlags::SYN),
        (0.003, TcpFlags::RST),
        (0.02, TcpFlags::ECE),
        (0.02, TcpFlags::CWR),
    ] {
        if rng.chance(p) {
            flags |= f;
        }
    }
    let window = match rng.below(10) {
        0 => 0,
        1 | 2 => rng.next_u32() as u16,
        3 => 1,
        _ => 65535,
    };
    let seg = TcpRepr {
        src_port: 80,
        dst_port: peer.local_port,
        seq,
        ack,
        flags,
        window,
        urgent: if flags.contains(TcpFlags::URG) {
            rng.next_u32() as u16
        } else {
            0
        },
        options,
        payload: &payload,
    };
    let bytes = build(&seg);
    if peer.sent.len() < 256 {
        peer.sent.push(bytes.clone());
    }
    bytes
}

/// The sender's bookkeeping stays within the sequence space it has used.
fn check_invariants(ep: &Endpoint, h: ConnHandle) {
    let Ok(info) = ep.info(h) else { return };
    let flight = info.snd_nxt.wrapping_sub(info.snd_una);
    assert!(
        flight <= 64 << 20,
        "SND.UNA {} passed SND.NXT {}",
        info.snd_una,
        info.snd_nxt
    );
    assert!(info.sacked_bytes <= flight, "{info:?}");
    assert!(info.lost_bytes <= flight, "{info:?}");
    assert!(
        info.sacked_segs + info.lost_segs <= info.unacked_segs + info.sacked_segs.min(1),
        "{info:?}"
    );
    assert!(info.cwnd > 0, "{info:?}");
}

fn storm(config: Config, seed: u64, rounds: u32) {
    // SYNACK_HOSTILE_SEED and SYNACK_HOSTILE_ROUNDS widen the search by hand (nine million
    // segments over eight seeds found nothing when this test was written).
    let seed = std::env::var("SYNACK_HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(seed, |s| s ^ seed);
    let rounds = std::env::var("SYNACK_HOSTILE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(rounds);
    let mut ep = Endpoint::new(config, seed);
    ep.add_address(ip(LOCAL));
    let mut rng = Rng::new(seed);
    let mut now = Instant::ZERO + Duration::from_secs(1);
    let mut peer = open(&mut ep, now, &mut rng);
    let mut reopened = 0u32;
    let mut sent_by_app = 0u64;
    let chunk = vec![0x5au8; 20_000];
    let mut buf = vec![0u8; 65536];
    for round in 0..rounds {
        let state = ep.state(peer.handle);
        if !matches!(
            state,
            Ok(State::Established | State::CloseWait | State::FinWait1 | State::FinWait2)
        ) {
            let _ = ep.abort(now, peer.handle);
            drain(&mut ep);
            peer = open(&mut ep, now, &mut rng);
            reopened += 1;
        }
        // The application keeps the send buffer full and reads what arrives.
        if let Ok(n) = ep.send(now, peer.handle, &chunk) {
            sent_by_app += n as u64;
        }
        let _ = ep.recv(now, peer.handle, &mut buf);
        if let Some(ts) = drain(&mut ep) {
            peer.last_seen_tsval = ts.tsval;
        }
        let segment = hostile_segment(&mut rng, &ep, &mut peer);
        let _ = ep.handle_packet(now, &segment);
        if let Some(ts) = drain(&mut ep) {
            peer.last_seen_tsval = ts.tsval;
        }
        check_invariants(&ep, peer.handle);
        now += match rng.below(100) {
            0 => Duration::from_millis(200 + rng.below(3000)),
            1..=40 => Duration::ZERO,
            _ => Duration::from_micros(rng.below(50_000)),
        };
        if round % 8 == 0 || ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
            drain(&mut ep);
            check_invariants(&ep, peer.handle);
        }
    }
    // The storm reached the machinery it is aimed at, not just the drop paths.
    let c = ep.counters();
    assert!(sent_by_app > 0, "the application queued data");
    assert!(c.fast_recoveries > 0 && c.timeouts > 0, "{c:?}");
    assert!(
        c.ofo_queue > 0 && c.duplicate_data > 0 && c.challenge_acks > 0,
        "{c:?}"
    );
    if ep.config().sack {
        assert!(c.dsacks_received > 0 && c.dsacks_sent > 0, "{c:?}");
    }
    if ep.config().timestamps {
        assert!(c.paws_rejected > 0, "{c:?}");
    }
    // Whatever the storm did, the endpoint still opens connections and sends on them.
    let _ = ep.abort(now, peer.handle);
    drain(&mut ep);
    let fresh = open(&mut ep, now, &mut rng);
    assert_eq!(ep.send(now, fresh.handle, b"still alive").unwrap(), 11);
    let mut carried = false;
    while let Some(out) = ep.poll_transmit() {
        let parsed = synack_wire::parse_ip(&out).unwrap();
        let tcp = TcpRepr::parse(parsed.payload, parsed.ip.src(), parsed.ip.dst(), true).unwrap();
        carried |= tcp.payload == b"still alive";
    }
    assert!(
        carried,
        "a fresh connection sends after {reopened} reopenings"
    );
}

#[test]
fn hostile_in_window_segments_with_sack_and_timestamps() {
    storm(Config::default(), 0x4057_11e5, 40_000);
}

#[test]
fn hostile_in_window_segments_without_sack() {
    let config = Config {
        sack: false,
        ..Config::default()
    };
    storm(config, 0x4057_11e6, 40_000);
}

#[test]
fn hostile_in_window_segments_without_timestamps() {
    let config = Config {
        timestamps: false,
        ..Config::default()
    };
    storm(config, 0x4057_11e7, 40_000);
}

#[test]
fn hostile_in_window_segments_with_newreno_and_nothing_negotiated() {
    let config = Config {
        sack: false,
        timestamps: false,
        window_scaling: false,
        congestion_control: synack_proto::cc::Algorithm::NewReno,
        ..Config::default()
    };
    storm(config, 0x4057_11e8, 40_000);
}

/// A peer that sends one byte at every other position of the window, ahead of a hole, would
/// make the receiver hold tens of thousands of tiny pieces. Each piece is charged its overhead
/// against twice the buffer (as Linux charges truesize): the queue stops growing long before the
/// window is full, the excess is dropped and counted, and the connection still takes the data
/// that fills the hole.
#[test]
fn a_flood_of_tiny_out_of_order_segments_is_bounded() {
    let config = Config {
        timestamps: false,
        ..Config::default()
    };
    let budget = 2 * config.recv_buffer;
    let mut ep = Endpoint::new(config, 7);
    ep.add_address(ip(LOCAL));
    let now = Instant::from_millis(1);
    let mut rng = Rng::new(7);
    let peer = open(&mut ep, now, &mut rng);
    let info = ep.info(peer.handle).unwrap();
    let (rcv, una) = (info.rcv_nxt, info.snd_una);
    let segment = |seq: u32, payload: &[u8]| {
        build(&TcpRepr {
            src_port: 80,
            dst_port: peer.local_port,
            seq,
            ack: una,
            flags: TcpFlags::ACK,
            window: 65535,
            urgent: 0,
            options: TcpOptions::default(),
            payload,
        })
    };
    let window = info.rcv_wnd;
    let mut sent = 0u32;
    for off in (2..window).step_by(2) {
        let _ = ep.handle_packet(now, &segment(rcv.wrapping_add(off), b"x"));
        drain(&mut ep);
        sent += 1;
    }
    let held = ep.info(peer.handle).unwrap().out_of_order;
    let c = ep.counters();
    assert!(sent > 10_000, "{sent} segments");
    assert!(held <= budget / 256, "{held} bytes held");
    assert!(held > 100, "{held} bytes held");
    assert!(c.ofo_drop > 0, "{c:?}");
    // The hole fills: the byte before the first held one is taken, and the two come in order.
    ep.handle_packet(now, &segment(rcv, b"ab")).unwrap();
    drain(&mut ep);
    let mut buf = [0u8; 8];
    let n = ep.recv(now, peer.handle, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"abx");
}
