//! TCP segments as the interpreter handles them (packetdrill `tcp_packet.c`,
//! `tcp_options_iterator.c`, `packet_to_string.c`): building the bytes of an injected packet from
//! its script line (options in exactly the script's order), reading the raw fields of a packet the
//! engine sent, and printing either in script syntax for error messages.

use core::net::IpAddr;

use synack_wire::{IpRepr, IPPROTO_TCP};

use crate::ast::{PacketSpec, TcpOpt};

/// TCP flag bits of header byte 13.
pub mod bits {
    /// FIN
    pub const FIN: u8 = 0x01;
    /// SYN
    pub const SYN: u8 = 0x02;
    /// RST
    pub const RST: u8 = 0x04;
    /// PSH
    pub const PSH: u8 = 0x08;
    /// ACK
    pub const ACK: u8 = 0x10;
    /// URG
    pub const URG: u8 = 0x20;
    /// ECE
    pub const ECE: u8 = 0x40;
    /// CWR
    pub const CWR: u8 = 0x80;
}

/// The wire length of one script option.
pub fn option_len(o: &TcpOpt) -> usize {
    match o {
        TcpOpt::Eol | TcpOpt::Nop => 1,
        TcpOpt::Mss(_) => 4,
        TcpOpt::WScale(_) => 3,
        TcpOpt::SackOk => 2,
        TcpOpt::Sack(b) => 2 + 8 * b.len(),
        TcpOpt::Timestamp { .. } => 10,
        TcpOpt::Raw(r) => r.len(),
    }
}

/// The bytes of a script's option list, in the script's order.
pub fn encode_options(opts: &[TcpOpt]) -> Vec<u8> {
    let mut out = Vec::new();
    for o in opts {
        match o {
            TcpOpt::Eol => out.push(0),
            TcpOpt::Nop => out.push(1),
            TcpOpt::Mss(v) => {
                out.extend([2, 4]);
                out.extend(v.to_be_bytes());
            }
            TcpOpt::WScale(s) => out.extend([3, 3, *s]),
            TcpOpt::SackOk => out.extend([4, 2]),
            TcpOpt::Sack(blocks) => {
                out.extend([5, (2 + 8 * blocks.len()) as u8]);
                for (l, r) in blocks {
                    out.extend(l.to_be_bytes());
                    out.extend(r.to_be_bytes());
                }
            }
            TcpOpt::Timestamp { val, ecr } => {
                out.extend([8, 10]);
                out.extend(val.to_be_bytes());
                out.extend(ecr.to_be_bytes());
            }
            TcpOpt::Raw(r) => out.extend(r),
        }
    }
    out
}

/// One option found in raw option bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawOpt {
    /// Kind byte.
    pub kind: u8,
    /// Offset of the kind byte within the option bytes.
    pub offset: usize,
    /// Total length (1 for EOL and NOP).
    pub len: usize,
}

/// Walks raw option bytes (packetdrill `tcp_options_iterator`): EOL ends the list.
pub fn iter_options(bytes: &[u8]) -> Result<Vec<RawOpt>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let kind = bytes[i];
        if kind == 0 || kind == 1 {
            out.push(RawOpt {
                kind,
                offset: i,
                len: 1,
            });
            i += 1;
            if kind == 0 {
                break;
            }
            continue;
        }
        let Some(&len) = bytes.get(i + 1) else {
            return Err(format!("TCP option {kind} has no length byte"));
        };
        let len = usize::from(len);
        if len < 2 || i + len > bytes.len() {
            return Err(format!("TCP option {kind} has a bad length {len}"));
        }
        out.push(RawOpt {
            kind,
            offset: i,
            len,
        });
        i += len;
    }
    Ok(out)
}

/// Where the timestamp option's TSval sits in option bytes, if present.
pub fn ts_offset(opts: &[u8]) -> Option<usize> {
    iter_options(opts)
        .ok()?
        .into_iter()
        .find(|o| o.kind == 8 && o.len == 10)
        .map(|o| o.offset + 2)
}

/// Reads a big-endian u32 at `at`.
pub fn get_u32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    for (k, x) in w.iter_mut().enumerate() {
        *x = b.get(at + k).copied().unwrap_or(0);
    }
    u32::from_be_bytes(w)
}

/// Writes a big-endian u32 at `at`.
pub fn put_u32(b: &mut [u8], at: usize, v: u32) {
    for (k, x) in v.to_be_bytes().into_iter().enumerate() {
        if let Some(d) = b.get_mut(at + k) {
            *d = x;
        }
    }
}

/// Adds `delta` to every SACK block edge in option bytes.
pub fn offset_sack_blocks(opts: &mut [u8], delta: u32) {
    let Ok(list) = iter_options(opts) else {
        return;
    };
    for o in list {
        if o.kind == 5 && o.len >= 10 && (o.len - 2) % 8 == 0 {
            let mut at = o.offset + 2;
            while at + 8 <= o.offset + o.len {
                let l = get_u32(opts, at).wrapping_add(delta);
                put_u32(opts, at, l);
                let r = get_u32(opts, at + 4).wrapping_add(delta);
                put_u32(opts, at + 4, r);
                at += 8;
            }
        }
    }
}

/// A TCP segment with every header field kept raw (what packetdrill compares).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flag byte (byte 13 of the header).
    pub flags: u8,
    /// The AE (formerly NS) bit.
    pub ae: bool,
    /// The three reserved bits.
    pub res1: u8,
    /// Window field.
    pub window: u16,
    /// Urgent pointer.
    pub urg: u16,
    /// Raw option bytes.
    pub options: Vec<u8>,
    /// Payload.
    pub payload: Vec<u8>,
}

impl Seg {
    /// True when the flag bit is set.
    pub fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }

    /// Parses a whole IP datagram carrying TCP (as the engine sends it).
    pub fn parse_datagram(bytes: &[u8]) -> Result<Seg, String> {
        let ip = synack_wire::parse_ip(bytes).map_err(|e| format!("bad IP datagram: {e}"))?;
        if ip.protocol != IPPROTO_TCP {
            return Err(format!("not TCP: IP protocol {}", ip.protocol));
        }
        let t = ip.payload;
        if t.len() < 20 {
            return Err("TCP header truncated".into());
        }
        let doff = usize::from(t[12] >> 4) * 4;
        if doff < 20 || doff > t.len() {
            return Err(format!("bad TCP data offset {doff}"));
        }
        Ok(Seg {
            src: ip.ip.src(),
            dst: ip.ip.dst(),
            src_port: u16::from_be_bytes([t[0], t[1]]),
            dst_port: u16::from_be_bytes([t[2], t[3]]),
            seq: get_u32(t, 4),
            ack: get_u32(t, 8),
            flags: t[13],
            ae: t[12] & 1 != 0,
            res1: (t[12] >> 1) & 0x7,
            window: u16::from_be_bytes([t[14], t[15]]),
            urg: u16::from_be_bytes([t[18], t[19]]),
            options: t[20..doff].to_vec(),
            payload: t[doff..].to_vec(),
        })
    }

    /// Builds the IP datagram (IP header with Linux's defaults, TCP checksum filled in).
    pub fn to_datagram(&self, ttl: u8) -> Result<Vec<u8>, String> {
        let hdr = 20 + self.options.len();
        let tcp_len = hdr + self.payload.len();
        let ip = IpRepr::new(self.src, self.dst, IPPROTO_TCP, tcp_len, ttl)
            .map_err(|e| format!("cannot build IP header: {e}"))?;
        let ip_len = ip.header_len();
        let mut buf = vec![0u8; ip_len + tcp_len];
        ip.emit(&mut buf);
        let t = &mut buf[ip_len..];
        t[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        t[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        put_u32(t, 4, self.seq);
        put_u32(t, 8, self.ack);
        t[12] = ((hdr / 4) as u8) << 4 | (self.res1 & 7) << 1 | u8::from(self.ae);
        t[13] = self.flags;
        t[14..16].copy_from_slice(&self.window.to_be_bytes());
        t[18..20].copy_from_slice(&self.urg.to_be_bytes());
        t[20..hdr].copy_from_slice(&self.options);
        t[hdr..].copy_from_slice(&self.payload);
        let mut sum =
            synack_wire::checksum::pseudo_header(self.src, self.dst, IPPROTO_TCP, tcp_len)
                .map_err(|e| format!("cannot checksum: {e}"))?;
        sum.add_bytes(t);
        let c = sum.finish();
        t[16..18].copy_from_slice(&c.to_be_bytes());
        Ok(buf)
    }

    /// The segment's length in sequence space.
    pub fn seq_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.has(bits::SYN)) + u32::from(self.has(bits::FIN))
    }

    /// The segment in script syntax: `S. 0:0(0) ack 1 win 65535 <mss 1460,...>`.
    pub fn to_script(&self) -> String {
        let mut s = flags_to_string(self.flags, self.ae);
        if s.is_empty() {
            s.push('-');
        }
        let len = self.payload.len() as u32;
        s.push_str(&format!(
            " {}:{}({})",
            self.seq,
            self.seq.wrapping_add(len),
            len
        ));
        if self.has(bits::ACK) {
            s.push_str(&format!(" ack {}", self.ack));
        }
        s.push_str(&format!(" win {}", self.window));
        if self.urg != 0 {
            s.push_str(&format!(" urg {}", self.urg));
        }
        if !self.options.is_empty() {
            s.push_str(&format!(" <{}>", options_to_string(&self.options)));
        }
        s
    }
}

/// Flag characters in packetdrill's order.
pub fn flags_to_string(flags: u8, ae: bool) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (bits::FIN, 'F'),
        (bits::SYN, 'S'),
        (bits::RST, 'R'),
        (bits::PSH, 'P'),
        (bits::ACK, '.'),
        (bits::ECE, 'E'),
        (bits::CWR, 'W'),
        (bits::URG, 'U'),
    ] {
        if flags & bit != 0 {
            s.push(c);
        }
    }
    if ae {
        s.push('A');
    }
    s
}

/// The flag byte and AE bit a script's flag string stands for (packetdrill `new_tcp_packet`).
pub fn flags_from_script(f: &str) -> (u8, bool) {
    let mut b = 0u8;
    let mut ae = false;
    let ace = f.chars().find_map(|c| c.to_digit(10));
    for c in f.chars() {
        match c {
            'F' => b |= bits::FIN,
            'S' => b |= bits::SYN,
            'R' => b |= bits::RST,
            'P' => b |= bits::PSH,
            '.' => b |= bits::ACK,
            'U' => b |= bits::URG,
            'E' if ace.is_none() => b |= bits::ECE,
            'W' if ace.is_none() => b |= bits::CWR,
            'A' if ace.is_none() => ae = true,
            _ => {}
        }
    }
    if let Some(a) = ace {
        if a & 1 != 0 {
            b |= bits::ECE;
        }
        if a & 2 != 0 {
            b |= bits::CWR;
        }
        ae = a & 4 != 0;
    }
    (b, ae)
}

/// Option bytes in script syntax (`mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7`).
pub fn options_to_string(opts: &[u8]) -> String {
    let list = match iter_options(opts) {
        Ok(l) => l,
        Err(e) => return format!("(bad options: {e})"),
    };
    let mut parts = Vec::new();
    for o in list {
        let d = &opts[o.offset..o.offset + o.len];
        parts.push(match (o.kind, o.len) {
            (0, _) => "eol".to_string(),
            (1, _) => "nop".to_string(),
            (2, 4) => format!("mss {}", u16::from_be_bytes([d[2], d[3]])),
            (3, 3) => format!("wscale {}", d[2]),
            (4, 2) => "sackOK".to_string(),
            (5, _) => {
                let mut s = "sack".to_string();
                let mut at = 2;
                while at + 8 <= o.len {
                    s.push_str(&format!(" {}:{}", get_u32(d, at), get_u32(d, at + 4)));
                    at += 8;
                }
                s
            }
            (8, 10) => format!("TS val {} ecr {}", get_u32(d, 2), get_u32(d, 6)),
            (k, _) => {
                let hex: String = d[2..].iter().map(|b| format!("{b:02x}")).collect();
                format!("opt{k} {hex}")
            }
        });
    }
    parts.join(",")
}

/// A script packet line in script syntax (for error messages).
pub fn spec_to_string(p: &PacketSpec) -> String {
    let mut s = if p.flags.is_empty() {
        "-".to_string()
    } else {
        p.flags.clone()
    };
    s.push_str(&format!(
        " {}:{}({})",
        p.seq,
        p.seq.wrapping_add(u32::from(p.len)),
        p.len
    ));
    if p.flags.contains('.') || p.ack != 0 {
        s.push_str(&format!(" ack {}", p.ack));
    }
    if let Some(w) = p.win {
        s.push_str(&format!(" win {w}"));
    }
    if p.urg != 0 {
        s.push_str(&format!(" urg {}", p.urg));
    }
    match &p.options {
        None => s.push_str(" <...>"),
        Some(o) if o.is_empty() => {}
        Some(o) => s.push_str(&format!(" <{}>", options_to_string(&encode_options(o)))),
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn options_round_trip_in_script_order() {
        let opts = vec![
            TcpOpt::Mss(1000),
            TcpOpt::SackOk,
            TcpOpt::Nop,
            TcpOpt::Nop,
            TcpOpt::Nop,
            TcpOpt::WScale(7),
        ];
        let b = encode_options(&opts);
        assert_eq!(b, vec![2, 4, 3, 232, 4, 2, 1, 1, 1, 3, 3, 7]);
        assert_eq!(
            options_to_string(&b),
            "mss 1000,sackOK,nop,nop,nop,wscale 7"
        );
    }

    #[test]
    fn datagram_round_trip_with_valid_checksum() {
        let seg = Seg {
            src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
            src_port: 40000,
            dst_port: 8080,
            seq: 7,
            ack: 9,
            flags: bits::SYN | bits::ACK,
            ae: false,
            res1: 0,
            window: 1000,
            urg: 0,
            options: encode_options(&[
                TcpOpt::Timestamp { val: 5, ecr: 6 },
                TcpOpt::Nop,
                TcpOpt::Nop,
            ]),
            payload: vec![0; 10],
        };
        let d = seg.to_datagram(64).unwrap();
        let ip = synack_wire::parse_ip(&d).unwrap();
        synack_wire::TcpRepr::parse(ip.payload, ip.ip.src(), ip.ip.dst(), true).unwrap();
        assert_eq!(Seg::parse_datagram(&d).unwrap(), seg);
        assert_eq!(
            seg.to_script(),
            "S. 7:17(10) ack 9 win 1000 <TS val 5 ecr 6,nop,nop>"
        );
    }

    #[test]
    fn flags_parse() {
        assert_eq!(flags_from_script("S."), (bits::SYN | bits::ACK, false));
        assert_eq!(
            flags_from_script("SEW"),
            (bits::SYN | bits::ECE | bits::CWR, false)
        );
        assert_eq!(flags_from_script(""), (0, false));
    }
}
