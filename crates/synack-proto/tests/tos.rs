//! The TOS byte (IPv6 Traffic Class) of a connection's datagrams: set before the SYN with
//! `connect_with`, on a listener for its SYN+ACKs and the connections it accepts, and changed on
//! a live connection; the ECN bits always zero (synack does not negotiate ECN).

use synack_proto::{Config, ConnectOptions, Endpoint, Instant};

/// The TOS byte of an IPv4 datagram or the Traffic Class of an IPv6 one.
fn tos(d: &[u8]) -> u8 {
    match d[0] >> 4 {
        4 => d[1],
        _ => (d[0] << 4) | (d[1] >> 4),
    }
}

/// Hands every datagram `from` has to `to`, returning their TOS bytes.
fn deliver(now: Instant, from: &mut Endpoint, to: &mut Endpoint) -> Vec<u8> {
    let mut seen = Vec::new();
    while let Some(d) = from.poll_transmit() {
        seen.push(tos(&d));
        let _ = to.handle_datagram(now, d);
    }
    seen
}

fn check(client_ip: &str, server_ip: &str, server: &str) {
    let mut a = Endpoint::new(Config::default(), 1);
    a.add_address(client_ip.parse().unwrap());
    let mut b = Endpoint::new(Config::default(), 2);
    b.add_address(server_ip.parse().unwrap());
    let now = Instant::from_millis(1);
    let l = b.listen(server.parse().unwrap(), 8).unwrap();
    b.set_listener_tos(l, 0x48).unwrap();
    let options = ConnectOptions {
        tos: 0x2b,
        ..ConnectOptions::default()
    };
    let c = a
        .connect_with(now, server.parse().unwrap(), options)
        .unwrap();
    // The SYN carries the DSCP asked for, the ECN bits cleared.
    assert_eq!(deliver(now, &mut a, &mut b), [0x28]);
    // The SYN+ACK carries the listener's.
    assert_eq!(deliver(now, &mut b, &mut a), [0x48]);
    assert_eq!(deliver(now, &mut a, &mut b), [0x28]);
    let s = b.accept(l).unwrap();
    assert_eq!(
        b.info(s).unwrap().tos,
        0x48,
        "the accepted connection inherits it"
    );
    assert_eq!(a.info(c).unwrap().tos, 0x28);
    b.send(now, s, b"hello").unwrap();
    assert_eq!(deliver(now, &mut b, &mut a), [0x48]);
    // The client's (quick) ACK of it.
    assert_eq!(deliver(now, &mut a, &mut b), [0x28]);
    // Changed on a live connection: the next datagram has the new value.
    a.set_tos(c, 0xb8).unwrap();
    a.send(now, c, b"world").unwrap();
    assert_eq!(deliver(now, &mut a, &mut b), [0xb8]);
}

#[test]
fn tos_of_syn_synack_accepted_and_changed_connections_ipv4() {
    check("10.0.0.1", "10.0.0.2", "10.0.0.2:80");
}

#[test]
fn traffic_class_of_syn_synack_accepted_and_changed_connections_ipv6() {
    check("fd00::1", "fd00::2", "[fd00::2]:80");
}
