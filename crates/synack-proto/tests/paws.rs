//! PAWS across long silences (RFC 7323 §5.5): after 24 days without a segment, the peer's
//! timestamp clock may have wrapped, so `TS.Recent` stops judging (Linux `TCP_PAWS_WRAP` in
//! `tcp_paws_check`). Spans far beyond what a packetdrill script may cover, so it is written
//! against the engine directly.

mod common;

use common::scripted::{build, drain, open, Peer, LOCAL};
use synack_proto::rng::Rng;
use synack_proto::time::Duration;
use synack_proto::{Config, Endpoint, Instant};
use synack_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// 100 bytes at `RCV.NXT` from the peer, stamped with `tsval`; returns the TSecr of the
/// endpoint's answer.
fn send_data(ep: &mut Endpoint, now: Instant, peer: &Peer, tsval: u32) -> Option<u32> {
    let info = ep.info(peer.handle).unwrap();
    let payload = [0x42u8; 100];
    let seg = TcpRepr {
        src_port: 80,
        dst_port: peer.local_port,
        seq: info.rcv_nxt,
        ack: info.snd_una,
        flags: TcpFlags::ACK | TcpFlags::PSH,
        window: 1000,
        urgent: 0,
        options: TcpOptions {
            timestamps: Some(Timestamps {
                tsval,
                tsecr: peer.last_seen_tsval,
            }),
            ..TcpOptions::default()
        },
        payload: &payload,
    };
    let _ = ep.handle_packet(now, &build(&seg));
    drain(ep).map(|ts| ts.tsecr)
}

#[test]
fn paws_forgets_ts_recent_after_24_days_of_silence() {
    let mut ep = Endpoint::new(Config::default(), 7);
    ep.add_address(LOCAL.parse().unwrap());
    let mut rng = Rng::new(7);
    let mut now = Instant::ZERO + Duration::from_secs(1);
    let peer = open(&mut ep, now, &mut rng);
    let recent = peer.tsval;
    let old = recent.wrapping_sub(1000);
    let rcv_nxt = ep.info(peer.handle).unwrap().rcv_nxt;

    // A day later, an older TSval is still an old duplicate: dropped, the answer echoes
    // TS.Recent.
    now += DAY;
    assert_eq!(send_data(&mut ep, now, &peer, old), Some(recent));
    assert_eq!(ep.info(peer.handle).unwrap().rcv_nxt, rcv_nxt);
    assert_eq!(ep.counters().paws_rejected, 1);

    // Twenty-four days after TS.Recent was recorded, it is forgotten: the data is taken and its
    // TSval becomes TS.Recent.
    now += DAY * 23;
    assert_eq!(send_data(&mut ep, now, &peer, old), Some(old));
    assert_eq!(
        ep.info(peer.handle).unwrap().rcv_nxt,
        rcv_nxt.wrapping_add(100)
    );
    let mut buf = [0u8; 200];
    assert_eq!(ep.recv(now, peer.handle, &mut buf).unwrap(), 100);
    assert_eq!(ep.counters().paws_rejected, 1);

    // From then on PAWS judges against the new TS.Recent.
    assert_eq!(
        send_data(&mut ep, now, &peer, old.wrapping_sub(10)),
        Some(old)
    );
    assert_eq!(ep.counters().paws_rejected, 2);
}
