//! Exact bytes of the option layouts Linux's `tcp_options_write()` produces.

use std::net::{IpAddr, Ipv4Addr};

use synack_wire::{SackBlock, SackBlocks, TcpFlags, TcpOptions, TcpRepr, Timestamps};

const SRC: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 50, 0, 1));
const DST: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 50, 0, 2));

fn ts(tsval: u32, tsecr: u32) -> Option<Timestamps> {
    Some(Timestamps { tsval, tsecr })
}

fn sack(blocks: &[(u32, u32)]) -> SackBlocks {
    let mut s = SackBlocks::new();
    for &(left, right) in blocks {
        s.push(SackBlock { left, right });
    }
    s
}

/// Emits a segment with `options` and returns its option bytes, checking the Data Offset.
fn option_bytes(flags: TcpFlags, options: TcpOptions) -> Vec<u8> {
    let repr = TcpRepr {
        options,
        ..TcpRepr::new(40000, 80, 1, 0, flags, 64240)
    };
    let mut buf = [0u8; 60];
    let n = repr.emit(&mut buf, SRC, DST);
    assert_eq!(n, repr.header_len());
    assert_eq!(usize::from(buf[12] >> 4) * 4, n, "data offset");
    assert_eq!(n % 4, 0);
    // And it parses back (without the SACK blocks that did not fit).
    let mut want = repr;
    want.options.sack.truncate(options.max_sack_blocks());
    assert_eq!(TcpRepr::parse(&buf[..n], SRC, DST, true).unwrap(), want);
    buf[20..n].to_vec()
}

#[test]
fn syn_with_everything() {
    // mss 1460, sackOK, TS val=1 ecr=0, nop, wscale 7.
    let bytes = option_bytes(
        TcpFlags::SYN,
        TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: ts(1, 0),
            sack: SackBlocks::new(),
        },
    );
    assert_eq!(
        bytes,
        [
            0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
            0x00, 0x00, 0x01, 0x03, 0x03, 0x07
        ]
    );
}

#[test]
fn syn_without_timestamps() {
    // mss, nop, nop, sackOK, nop, wscale.
    let bytes = option_bytes(
        TcpFlags::SYN | TcpFlags::ACK,
        TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            ..TcpOptions::default()
        },
    );
    assert_eq!(bytes, [2, 4, 5, 180, 1, 1, 4, 2, 1, 3, 3, 7]);
}

#[test]
fn syn_with_timestamps_without_sack_permitted() {
    // mss, nop, nop, TS, nop, wscale.
    let bytes = option_bytes(
        TcpFlags::SYN,
        TcpOptions {
            mss: Some(1440),
            window_scale: Some(10),
            timestamps: ts(0xc62c_1fe9, 0),
            ..TcpOptions::default()
        },
    );
    assert_eq!(
        bytes,
        [2, 4, 5, 160, 1, 1, 8, 10, 0xc6, 0x2c, 0x1f, 0xe9, 0, 0, 0, 0, 1, 3, 3, 10]
    );
}

#[test]
fn syn_subsets() {
    let mss = |mss| TcpOptions {
        mss: Some(mss),
        ..TcpOptions::default()
    };
    // MSS alone (Linux with sack, timestamps and window scaling all off).
    assert_eq!(option_bytes(TcpFlags::SYN, mss(536)), [2, 4, 2, 24]);
    // MSS and window scale.
    let o = TcpOptions {
        window_scale: Some(0),
        ..mss(1460)
    };
    assert_eq!(option_bytes(TcpFlags::SYN, o), [2, 4, 5, 180, 1, 3, 3, 0]);
    // MSS and SACK-permitted.
    let o = TcpOptions {
        sack_permitted: true,
        ..mss(1460)
    };
    assert_eq!(option_bytes(TcpFlags::SYN, o), [2, 4, 5, 180, 1, 1, 4, 2]);
    // MSS, SACK-permitted and timestamps, no window scale.
    let o = TcpOptions {
        sack_permitted: true,
        timestamps: ts(7, 0),
        ..mss(1460)
    };
    assert_eq!(
        option_bytes(TcpFlags::SYN, o),
        [2, 4, 5, 180, 4, 2, 8, 10, 0, 0, 0, 7, 0, 0, 0, 0]
    );
    // No options at all.
    assert_eq!(option_bytes(TcpFlags::SYN, TcpOptions::default()), []);
}

#[test]
fn established_timestamps() {
    // nop, nop, TS.
    let bytes = option_bytes(
        TcpFlags::ACK,
        TcpOptions {
            timestamps: ts(0x0e6e_0778, 0xc62c_1fea),
            ..TcpOptions::default()
        },
    );
    assert_eq!(
        bytes,
        [1, 1, 8, 10, 0x0e, 0x6e, 0x07, 0x78, 0xc6, 0x2c, 0x1f, 0xea]
    );
}

#[test]
fn established_timestamps_and_sack() {
    // nop, nop, TS, nop, nop, SACK with three blocks: 12 + 4 + 24 = 40 bytes, the maximum.
    let bytes = option_bytes(
        TcpFlags::ACK,
        TcpOptions {
            timestamps: ts(1, 2),
            sack: sack(&[(10, 20), (30, 40), (50, 60), (70, 80)]),
            ..TcpOptions::default()
        },
    );
    let mut want = vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 5, 26];
    for v in [10u32, 20, 30, 40, 50, 60] {
        want.extend_from_slice(&v.to_be_bytes());
    }
    assert_eq!(
        bytes, want,
        "the fourth block does not fit beside timestamps"
    );
}

#[test]
fn established_sack_without_timestamps() {
    // nop, nop, SACK with four blocks: 4 + 32 = 36 bytes.
    let bytes = option_bytes(
        TcpFlags::ACK,
        TcpOptions {
            sack: sack(&[(1, 2), (3, 4), (5, 6), (7, 8)]),
            ..TcpOptions::default()
        },
    );
    let mut want = vec![1, 1, 5, 34];
    for v in 1u32..=8 {
        want.extend_from_slice(&v.to_be_bytes());
    }
    assert_eq!(bytes, want);
}

#[test]
fn whole_syn_header() {
    // The SYN of the ipv4 capture: 10.50.0.1:48980 -> 10.50.0.2:8080, seq 0x2a1b7658,
    // window 64240, checksum 0xd337.
    let repr = TcpRepr {
        options: TcpOptions {
            mss: Some(1460),
            window_scale: Some(10),
            sack_permitted: true,
            timestamps: ts(0xc62c_1fe9, 0),
            sack: SackBlocks::new(),
        },
        ..TcpRepr::new(0xbf54, 0x1f90, 0x2a1b_7658, 0, TcpFlags::SYN, 0xfaf0)
    };
    let mut buf = [0u8; 40];
    assert_eq!(repr.emit(&mut buf, SRC, DST), 40);
    let want = [
        0xbf, 0x54, 0x1f, 0x90, 0x2a, 0x1b, 0x76, 0x58, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa,
        0xf0, 0xd3, 0x37, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0xc6, 0x2c,
        0x1f, 0xe9, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x0a,
    ];
    assert_eq!(buf, want);
}
