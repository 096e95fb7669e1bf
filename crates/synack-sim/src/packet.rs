//! Parsed summaries of the packets the simulator carries, and helpers to craft segments.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack_proto::Instant;
use synack_wire::{TcpFlags, TcpOptions, TcpRepr};

use crate::HostId;

/// A summary of one IP datagram as it entered a link: who sent it, where it goes, and its TCP
/// header fields. Built for every packet (scripted-fault predicates see it, the trace keeps it).
///
/// Parsing is lenient: the TCP checksum is not verified (a crafted packet may carry a bad one on
/// purpose), and a datagram that is not TCP, or not even IP, still gets a summary with
/// [`PacketInfo::is_tcp`] false, zero ports and fields, and its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketInfo {
    /// When the packet entered the link (its send time).
    pub time: Instant,
    /// The sending host.
    pub from: HostId,
    /// The host owning the destination address, if any.
    pub to: Option<HostId>,
    /// Source address and port (port 0 when not TCP).
    pub src: SocketAddr,
    /// Destination address and port (port 0 when not TCP).
    pub dst: SocketAddr,
    /// The IP upper-layer protocol number (6 for TCP; 0 when the IP header did not parse).
    pub protocol: u8,
    /// True when the bytes parsed as IP carrying a well-formed TCP header.
    pub is_tcp: bool,
    /// TCP control bits.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (as on the wire, even without ACK).
    pub ack: u32,
    /// Window field, unscaled, as on the wire.
    pub window: u16,
    /// TCP payload length in bytes.
    pub payload_len: usize,
    /// TCP options.
    pub options: TcpOptions,
    /// The whole IP datagram as the sender produced it (before any corruption on the link).
    pub bytes: Vec<u8>,
    /// Offset of the TCP payload within `bytes`.
    payload_offset: usize,
}

impl PacketInfo {
    /// Summarises `bytes`, sent by `from` towards `to` at `time`.
    pub fn parse(time: Instant, from: HostId, to: Option<HostId>, bytes: Vec<u8>) -> Self {
        let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
        let mut info = PacketInfo {
            time,
            from,
            to,
            src: unspecified,
            dst: unspecified,
            protocol: 0,
            is_tcp: false,
            flags: TcpFlags::NONE,
            seq: 0,
            ack: 0,
            window: 0,
            payload_len: 0,
            options: TcpOptions::default(),
            bytes: Vec::new(),
            payload_offset: 0,
        };
        if let Ok(ip) = synack_wire::parse_ip(&bytes) {
            let (src, dst) = (ip.ip.src(), ip.ip.dst());
            info.src = SocketAddr::new(src, 0);
            info.dst = SocketAddr::new(dst, 0);
            info.protocol = ip.protocol;
            if ip.protocol == synack_wire::IPPROTO_TCP {
                if let Ok(tcp) = TcpRepr::parse(ip.payload, src, dst, false) {
                    info.src.set_port(tcp.src_port);
                    info.dst.set_port(tcp.dst_port);
                    info.is_tcp = true;
                    info.flags = tcp.flags;
                    info.seq = tcp.seq;
                    info.ack = tcp.ack;
                    info.window = tcp.window;
                    info.payload_len = tcp.payload.len();
                    info.options = tcp.options;
                    // Both slices point into `bytes`: the payload ends where the IP payload does.
                    let ip_end = offset_in(&bytes, ip.payload).map(|o| o + ip.payload.len());
                    info.payload_offset = ip_end
                        .and_then(|end| end.checked_sub(tcp.payload.len()))
                        .unwrap_or(0);
                }
            }
        }
        info.bytes = bytes;
        info
    }

    /// The TCP payload (empty when not TCP).
    pub fn payload(&self) -> &[u8] {
        if !self.is_tcp {
            return &[];
        }
        self.bytes
            .get(self.payload_offset..self.payload_offset + self.payload_len)
            .unwrap_or(&[])
    }

    /// Sequence space the segment occupies: payload plus one each for SYN and FIN.
    pub fn seq_len(&self) -> u32 {
        self.payload_len as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }

    /// True for a segment with exactly these flags set (e.g. `TcpFlags::SYN | TcpFlags::ACK`).
    pub fn has_flags(&self, flags: TcpFlags) -> bool {
        self.flags == flags
    }

    /// True for an ACK without SYN, FIN, RST or payload.
    pub fn is_pure_ack(&self) -> bool {
        self.is_tcp
            && self.flags.ack()
            && !self
                .flags
                .intersects(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST)
            && self.payload_len == 0
    }
}

fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let start = outer.as_ptr() as usize;
    let p = inner.as_ptr() as usize;
    (p >= start && p + inner.len() <= start + outer.len()).then(|| p - start)
}

/// One line in the style of tcpdump: `10.0.0.1:40000 > 10.0.0.2:80 SYN seq=1 ack=0 win=64240
/// len=0 <mss 1460,sackOK,TS 0:0,wscale 7>`.
impl fmt::Display for PacketInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.is_tcp {
            return write!(
                f,
                "{} > {} proto={} len={}",
                self.src.ip(),
                self.dst.ip(),
                self.protocol,
                self.bytes.len()
            );
        }
        write!(
            f,
            "{} > {} {} seq={} ack={} win={} len={}",
            self.src, self.dst, self.flags, self.seq, self.ack, self.window, self.payload_len
        )?;
        let o = &self.options;
        let mut parts: Vec<String> = Vec::new();
        if let Some(mss) = o.mss {
            parts.push(format!("mss {mss}"));
        }
        if o.sack_permitted {
            parts.push("sackOK".into());
        }
        if let Some(ts) = o.timestamps {
            parts.push(format!("TS {}:{}", ts.tsval, ts.tsecr));
        }
        if let Some(ws) = o.window_scale {
            parts.push(format!("wscale {ws}"));
        }
        if !o.sack.is_empty() {
            let blocks: Vec<String> = o
                .sack
                .as_slice()
                .iter()
                .map(|b| format!("{}-{}", b.left, b.right))
                .collect();
            parts.push(format!("sack {}", blocks.join(" ")));
        }
        if !parts.is_empty() {
            write!(f, " <{}>", parts.join(","))?;
        }
        Ok(())
    }
}

/// Builds an IP datagram carrying one TCP segment from `src` to `dst` (TTL 64, correct checksums),
/// for [`Sim::inject`](crate::Sim::inject) and for tests.
///
/// # Errors
/// Those of [`synack_wire::build_tcp`]: `src` and `dst` of different families, or a datagram too
/// large for the IP length field.
#[allow(clippy::too_many_arguments)]
pub fn craft_tcp(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    window: u16,
    options: TcpOptions,
    payload: &[u8],
) -> Result<Vec<u8>, synack_wire::Error> {
    let tcp = TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq,
        ack,
        flags,
        window,
        urgent: 0,
        options,
        payload,
    };
    synack_wire::build_tcp(src.ip(), dst.ip(), 64, &tcp)
}

/// Flips bit `bit` (counted from the start of the datagram, most significant bit of each byte
/// first) of `bytes`; does nothing when out of range.
pub fn flip_bit(bytes: &mut [u8], bit: usize) {
    if let Some(b) = bytes.get_mut(bit / 8) {
        *b ^= 0x80 >> (bit % 8);
    }
}

/// Length of the IP header (IPv4 IHL, or 40 for IPv6) at the start of `bytes`, clamped to its
/// length; 0 when the version is neither.
pub(crate) fn ip_header_len(bytes: &[u8]) -> usize {
    let len = match bytes.first() {
        Some(b) if b >> 4 == 4 => usize::from(b & 0x0f) * 4,
        Some(b) if b >> 4 == 6 => 40,
        _ => 0,
    };
    len.min(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_crafted_segment() {
        let src: SocketAddr = "10.0.0.1:1234".parse().unwrap();
        let dst: SocketAddr = "10.0.0.2:80".parse().unwrap();
        let bytes = craft_tcp(
            src,
            dst,
            100,
            7,
            TcpFlags::PSH | TcpFlags::ACK,
            500,
            TcpOptions::default(),
            b"hello",
        )
        .unwrap();
        let info = PacketInfo::parse(Instant::ZERO, HostId(0), Some(HostId(1)), bytes);
        assert!(info.is_tcp);
        assert_eq!((info.src, info.dst), (src, dst));
        assert_eq!((info.seq, info.ack, info.window), (100, 7, 500));
        assert_eq!(info.payload(), b"hello");
        assert_eq!(info.seq_len(), 5);
        assert_eq!(
            info.to_string(),
            "10.0.0.1:1234 > 10.0.0.2:80 PSH+ACK seq=100 ack=7 win=500 len=5"
        );
    }

    #[test]
    fn garbage_gets_a_summary() {
        let info = PacketInfo::parse(Instant::ZERO, HostId(0), None, vec![0x45, 1, 2]);
        assert!(!info.is_tcp);
        assert_eq!(info.payload(), b"");
        let info = PacketInfo::parse(Instant::ZERO, HostId(0), None, Vec::new());
        assert_eq!(info.bytes.len(), 0);
    }

    #[test]
    fn flip_and_header_len() {
        let mut b = vec![0x45u8, 0, 0];
        assert_eq!(ip_header_len(&b), 3);
        flip_bit(&mut b, 8);
        assert_eq!(b[1], 0x80);
        flip_bit(&mut b, 1000);
    }
}
