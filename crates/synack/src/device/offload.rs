//! TCP segmentation offload (TSO) between synack and a Linux TUN interface, both ways.
//!
//! With `IFF_VNET_HDR`, every datagram that crosses a TUN descriptor carries a 10-byte
//! `struct virtio_net_hdr` in front (`include/uapi/linux/virtio_net.h`). On the way into the
//! kernel that header can describe a large TCP packet as a train of segments (`gso_size` bytes
//! of payload each) whose checksum the kernel completes (`VIRTIO_NET_HDR_F_NEEDS_CSUM`): the
//! kernel delivers it to its own TCP whole, as GRO would have merged it, or cuts it back into
//! the same segments when it forwards it. A burst of full-sized segments then costs one `write`
//! instead of one per segment.
//!
//! [`TsoBatch`] builds such packets from the segments the engine emits: consecutive segments of
//! one connection, in sequence, with identical headers but for the sequence number, lengths and
//! checksums, every one but the last a full `gso_size`, and only the last with PSH (synack sets
//! PSH where Linux's own TSO packets end, so its trains break where Linux's would). Anything
//! else (a SYN, a FIN, a pure ACK, a retransmission out of sequence, another connection, IP
//! options, fragments) is written as it is, with an empty header. What the kernel's TCP then
//! sees is what it would have seen had the segments arrived one by one and been merged by GRO.
//!
//! The other way, [`received`] takes what a read returned: a TSO packet of the kernel's goes to
//! [`GsoSplit`], which cuts it back into the segments it stands for before the engine sees
//! them, and a checksum the kernel left partial is completed.

use synack_wire::checksum::{self, Checksum};

/// Length of `struct virtio_net_hdr` (no `num_buffers`: the default `TUNSETVNETHDRSZ`).
pub const VNET_HDR_LEN: usize = 10;

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` holds only the
/// pseudo-header sum; the kernel completes it.
const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
const GSO_TCPV6: u8 = 4;
/// `VIRTIO_NET_HDR_GSO_ECN`: the packet's first segment carries CWR.
const GSO_ECN: u8 = 0x80;

/// TCP flag bits as they sit in byte 13 of the header.
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;
const CWR: u8 = 0x80;

/// The most segments one packet carries (Linux's `GSO_MAX_SEGS` is 65535; the IP length limit
/// binds first for any MSS above 1000 bytes).
const MAX_SEGS: usize = 64;

/// The largest IP packet (IPv4 total length, or IPv6 header plus payload length) a train may
/// grow to.
const MAX_PACKET: usize = 65535;

/// Where the parts of a TCP datagram are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    v6: bool,
    /// IP header length (20 or 40: no options, no extension headers).
    ip_len: usize,
    /// IP plus TCP header length.
    hdr_len: usize,
    seq: u32,
    flags: u8,
}

impl Layout {
    fn payload(&self, datagram: &[u8]) -> usize {
        datagram.len() - self.hdr_len
    }
}

/// The layout of `d` when it is a TCP datagram that may join a train: IPv4 without options or
/// fragmentation, or IPv6 with TCP as the first next header, its length fields matching `d`.
fn layout(d: &[u8]) -> Option<Layout> {
    let (v6, ip_len) = match d.first()? >> 4 {
        4 => {
            if d.len() < 20 || d[0] & 0x0f != 5 || d[9] != 6 {
                return None;
            }
            let total = usize::from(u16::from_be_bytes([d[2], d[3]]));
            // More-fragments or a fragment offset: not a whole datagram.
            let frag = u16::from_be_bytes([d[6], d[7]]) & 0x3fff;
            if total != d.len() || frag != 0 {
                return None;
            }
            (false, 20)
        }
        6 => {
            if d.len() < 40 || d[6] != 6 {
                return None;
            }
            let payload = usize::from(u16::from_be_bytes([d[4], d[5]]));
            if payload + 40 != d.len() {
                return None;
            }
            (true, 40)
        }
        _ => return None,
    };
    let tcp = d.get(ip_len..)?;
    if tcp.len() < 20 {
        return None;
    }
    let tcp_hdr = usize::from(tcp[12] >> 4) * 4;
    if tcp_hdr < 20 || tcp_hdr > tcp.len() {
        return None;
    }
    Some(Layout {
        v6,
        ip_len,
        hdr_len: ip_len + tcp_hdr,
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        flags: tcp[13],
    })
}

/// True when the headers of `a` and `b` (both of layout `l`) agree in every field a train keeps
/// from its first segment: everything but the IP length, identification and checksum, and the
/// TCP sequence number, flags and checksum.
fn same_headers(l: &Layout, a: &[u8], b: &[u8]) -> bool {
    let (ip_a, ip_b) = (&a[..l.ip_len], &b[..l.ip_len]);
    let ip_same = if l.v6 {
        ip_a[..4] == ip_b[..4] && ip_a[6..] == ip_b[6..]
    } else {
        ip_a[..2] == ip_b[..2] && ip_a[6..10] == ip_b[6..10] && ip_a[12..] == ip_b[12..]
    };
    let (t_a, t_b) = (&a[l.ip_len..l.hdr_len], &b[l.ip_len..l.hdr_len]);
    ip_same
        && t_a[..4] == t_b[..4]
        && t_a[8..13] == t_b[8..13]
        && t_a[14..16] == t_b[14..16]
        && t_a[18..] == t_b[18..]
}

/// A train of TCP segments being gathered into one offloaded packet, virtio-net header first.
#[derive(Debug, Default)]
pub struct TsoBatch {
    /// The header, then the first segment's IP and TCP headers, then every segment's payload.
    buf: Vec<u8>,
    /// The first segment's layout (`None` when it is not a TCP datagram that can lead a train).
    first: Option<Layout>,
    segs: usize,
    /// Payload bytes of the first segment: every segment but the last carries exactly this.
    gso_size: usize,
    /// The sequence number the next segment must start at.
    next_seq: u32,
    /// The last segment added may be followed: full-sized, and flags exactly ACK.
    open: bool,
}

impl TsoBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `datagram` to the train, or starts one with it when the batch is empty. False when
    /// it cannot follow what is gathered: the caller writes [`TsoBatch::finish`] out, clears
    /// the batch, and adds the datagram again.
    pub fn push(&mut self, datagram: &[u8]) -> bool {
        if self.segs == 0 {
            self.start(datagram);
            return true;
        }
        let (Some(first), Some(l)) = (self.first.filter(|_| self.open), layout(datagram)) else {
            return false;
        };
        let payload = l.payload(datagram);
        let fits = self.segs < MAX_SEGS
            && l.v6 == first.v6
            && l.hdr_len == first.hdr_len
            && l.seq == self.next_seq
            && payload > 0
            && payload <= self.gso_size
            && (l.flags == ACK || l.flags == ACK | PSH)
            && self.buf.len() - VNET_HDR_LEN + payload <= MAX_PACKET
            && same_headers(&l, &self.buf[VNET_HDR_LEN..], datagram);
        if !fits {
            return false;
        }
        self.buf.extend_from_slice(&datagram[l.hdr_len..]);
        // The packet's flags are its last segment's: the kernel clears PSH on all the others.
        self.buf[VNET_HDR_LEN + first.ip_len + 13] = l.flags;
        self.segs += 1;
        self.next_seq = l.seq.wrapping_add(payload as u32);
        self.open = l.flags == ACK && payload == self.gso_size;
        true
    }

    fn start(&mut self, datagram: &[u8]) {
        self.buf.clear();
        self.buf.resize(VNET_HDR_LEN, 0);
        self.buf.extend_from_slice(datagram);
        self.segs = 1;
        self.first = layout(datagram);
        // Anything else goes out on its own.
        self.open = false;
        if let Some(l) = self.first {
            let payload = l.payload(datagram);
            self.gso_size = payload;
            self.next_seq = l.seq.wrapping_add(payload as u32);
            self.open = l.flags == ACK && payload > 0;
        }
    }

    /// The bytes to write to the TUN descriptor: the virtio-net header and the packet. A lone
    /// datagram goes as it came, after an empty header; a train becomes one packet whose IP
    /// length and header checksum cover it all and whose TCP checksum field holds the
    /// pseudo-header sum for the kernel to complete. `None` when the batch is empty.
    pub fn finish(&mut self) -> Option<&[u8]> {
        if self.segs == 0 {
            return None;
        }
        self.buf[..VNET_HDR_LEN].fill(0);
        if self.segs > 1 {
            let l = self.first?;
            let total = self.buf.len() - VNET_HDR_LEN;
            let ip = &mut self.buf[VNET_HDR_LEN..];
            let pseudo = set_ip_length(ip, &l, total)?;
            let at = l.ip_len + 16;
            ip[at..at + 2].copy_from_slice(&pseudo.sum().to_be_bytes());
            let h = &mut self.buf[..VNET_HDR_LEN];
            h[0] = F_NEEDS_CSUM;
            h[1] = if l.v6 { GSO_TCPV6 } else { GSO_TCPV4 };
            h[2..4].copy_from_slice(&(l.hdr_len as u16).to_ne_bytes());
            h[4..6].copy_from_slice(&(self.gso_size as u16).to_ne_bytes());
            h[6..8].copy_from_slice(&(l.ip_len as u16).to_ne_bytes());
            h[8..10].copy_from_slice(&16u16.to_ne_bytes());
        }
        Some(&self.buf)
    }

    /// Empties the batch (its buffer is kept for the next train).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.segs = 0;
    }
}

/// Sets the length field of the IP header at the start of `packet` (of layout `l`) for a
/// packet of `len` bytes, recomputes the IPv4 header checksum, and returns the TCP pseudo-header
/// sum for that length.
fn set_ip_length(packet: &mut [u8], l: &Layout, len: usize) -> Option<Checksum> {
    let tcp_len = len - l.ip_len;
    if l.v6 {
        packet[4..6].copy_from_slice(&(tcp_len as u16).to_be_bytes());
        let src: [u8; 16] = packet[8..24].try_into().ok()?;
        let dst: [u8; 16] = packet[24..40].try_into().ok()?;
        Some(checksum::pseudo_header_ipv6(
            src.into(),
            dst.into(),
            6,
            tcp_len as u32,
        ))
    } else {
        packet[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        packet[10..12].fill(0);
        let c = checksum::checksum(&packet[..20]);
        packet[10..12].copy_from_slice(&c.to_be_bytes());
        let src: [u8; 4] = packet[12..16].try_into().ok()?;
        let dst: [u8; 4] = packet[16..20].try_into().ok()?;
        Some(checksum::pseudo_header_ipv4(
            src.into(),
            dst.into(),
            6,
            tcp_len as u16,
        ))
    }
}

/// A TSO packet read from the TUN (the kernel may hand synack up to 64 KiB of one connection at
/// once when told the device segments: `TUNSETOFFLOAD` with `TUN_F_TSO4 | TUN_F_TSO6`), cut back
/// into the segments it stands for, one per [`GsoSplit::next_into`], as the kernel's own
/// `tcp_gso_segment` would cut it: the headers copied, the sequence number advanced, PSH and FIN
/// kept for the last segment and CWR for the first, IPv4 identification counting up, every
/// length and checksum computed afresh.
#[derive(Debug, Default)]
pub struct GsoSplit {
    packet: Vec<u8>,
    layout: Option<Layout>,
    gso_size: usize,
    /// Offset of the next segment's payload in `packet`.
    next: usize,
    index: u16,
}

impl GsoSplit {
    /// Nothing waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes `packet` (IP header first) to be cut into segments of `gso_size` payload bytes.
    /// False, leaving nothing to split, when it is not a TCP packet that can be cut so.
    pub fn load(&mut self, packet: &[u8], gso_size: usize) -> bool {
        self.layout = None;
        let Some(l) = layout(packet) else {
            return false;
        };
        if gso_size == 0 || l.payload(packet) == 0 {
            return false;
        }
        self.packet.clear();
        self.packet.extend_from_slice(packet);
        self.layout = Some(l);
        self.gso_size = gso_size;
        self.next = l.hdr_len;
        self.index = 0;
        true
    }

    /// Writes the next segment into `out` and returns its length; `None` when none is left (or
    /// `out` is too short for it, which drops the rest).
    pub fn next_into(&mut self, out: &mut [u8]) -> Option<usize> {
        let l = self.layout?;
        if self.next >= self.packet.len() {
            self.layout = None;
            return None;
        }
        let end = (self.next + self.gso_size).min(self.packet.len());
        let last = end == self.packet.len();
        let len = l.hdr_len + (end - self.next);
        if out.len() < len {
            self.layout = None;
            return None;
        }
        out[..l.hdr_len].copy_from_slice(&self.packet[..l.hdr_len]);
        out[l.hdr_len..len].copy_from_slice(&self.packet[self.next..end]);
        if !l.v6 {
            let id = u16::from_be_bytes([out[4], out[5]]).wrapping_add(self.index);
            out[4..6].copy_from_slice(&id.to_be_bytes());
        }
        let pseudo = set_ip_length(out, &l, len)?;
        let t = l.ip_len;
        let seq = l.seq.wrapping_add((self.next - l.hdr_len) as u32);
        out[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
        if !last {
            out[t + 13] &= !(PSH | FIN);
        }
        if self.index > 0 {
            out[t + 13] &= !CWR;
        }
        out[t + 16..t + 18].fill(0);
        let mut sum = pseudo;
        let c = sum.add_bytes(&out[t..len]).finish();
        out[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
        self.next = end;
        self.index = self.index.wrapping_add(1);
        Some(len)
    }
}

/// What a read from the TUN hands the engine: `buf[..n]` holds the datagram that came after the
/// virtio-net header `hdr`. A TSO packet is loaded into `split` and its first segment written
/// over it (the driver takes the others from [`GsoSplit::next_into`] before it reads again); a
/// checksum the kernel left partial is completed. Returns the length of what is now in `buf`.
pub fn received(hdr: &[u8; VNET_HDR_LEN], buf: &mut [u8], n: usize, split: &mut GsoSplit) -> usize {
    let n = n.min(buf.len());
    let gso_size = usize::from(u16::from_ne_bytes([hdr[4], hdr[5]]));
    // The ECN bit (0x80) may ride on either TCP type.
    let tcp_gso = matches!(hdr[1] & !GSO_ECN, GSO_TCPV4 | GSO_TCPV6);
    if tcp_gso && split.load(&buf[..n], gso_size) {
        // A segment is never longer than the packet it came in, so it fits.
        return split.next_into(buf).unwrap_or(0);
    }
    if hdr[0] & F_NEEDS_CSUM != 0 {
        let start = usize::from(u16::from_ne_bytes([hdr[6], hdr[7]]));
        let offset = usize::from(u16::from_ne_bytes([hdr[8], hdr[9]]));
        complete_checksum(&mut buf[..n], start, offset);
    }
    n
}

/// Completes a checksum the kernel left partial (`VIRTIO_NET_HDR_F_NEEDS_CSUM` on a datagram
/// read from the TUN): the 16-bit field at `start + offset` holds the pseudo-header sum, and
/// the checksum covers everything from `start` on. False when the offsets do not fit.
pub fn complete_checksum(datagram: &mut [u8], start: usize, offset: usize) -> bool {
    let at = start + offset;
    if start > datagram.len() || at + 2 > datagram.len() {
        return false;
    }
    let c = checksum::checksum(&datagram[start..]);
    datagram[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SRC4: [u8; 4] = [10, 9, 0, 2];
    const DST4: [u8; 4] = [10, 9, 0, 1];

    /// A TCP datagram with 12 bytes of options (NOP, NOP, timestamps), checksums filled in.
    fn tcp(v6: bool, id: u16, seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut t = vec![0u8; 32];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&7777u32.to_be_bytes());
        t[12] = 8 << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&502u16.to_be_bytes());
        t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 5]);
        t.extend_from_slice(payload);
        let mut d = if v6 {
            let mut ip = vec![0u8; 40];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&(t.len() as u16).to_be_bytes());
            ip[6] = 6;
            ip[7] = 64;
            ip[8..24].copy_from_slice(&v6_addr(2).octets());
            ip[24..40].copy_from_slice(&v6_addr(1).octets());
            ip
        } else {
            let mut ip = vec![0u8; 20];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&((20 + t.len()) as u16).to_be_bytes());
            ip[4..6].copy_from_slice(&id.to_be_bytes());
            ip[6] = 0x40;
            ip[8] = 64;
            ip[9] = 6;
            ip[12..16].copy_from_slice(&SRC4);
            ip[16..20].copy_from_slice(&DST4);
            let c = checksum::checksum(&ip);
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            ip
        };
        let ip_len = d.len();
        d.extend_from_slice(&t);
        let tcp_len = d.len() - ip_len;
        let mut sum = if v6 {
            checksum::pseudo_header_ipv6(v6_addr(2), v6_addr(1), 6, tcp_len as u32)
        } else {
            checksum::pseudo_header_ipv4(SRC4.into(), DST4.into(), 6, tcp_len as u16)
        };
        let c = sum.add_bytes(&d[ip_len..]).finish();
        d[ip_len + 16..ip_len + 18].copy_from_slice(&c.to_be_bytes());
        d
    }

    fn v6_addr(last: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last)
    }

    fn bytes(n: usize, from: u8) -> Vec<u8> {
        (0..n).map(|i| from.wrapping_add(i as u8)).collect()
    }

    /// What the kernel does with a TSO packet it forwards (`tcp_gso_segment`): one segment of
    /// `gso_size` per step, the headers copied, PSH and FIN only on the last, IPv4
    /// identification counting up, every length and checksum recomputed.
    fn segment(packet: &[u8]) -> Vec<Vec<u8>> {
        let (h, p) = packet.split_at(VNET_HDR_LEN);
        assert_eq!(h[0], F_NEEDS_CSUM);
        let v6 = h[1] == GSO_TCPV6;
        let hdr_len = usize::from(u16::from_ne_bytes([h[2], h[3]]));
        let gso = usize::from(u16::from_ne_bytes([h[4], h[5]]));
        let ip_len = usize::from(u16::from_ne_bytes([h[6], h[7]]));
        assert_eq!(u16::from_ne_bytes([h[8], h[9]]), 16);
        let seq0 = u32::from_be_bytes(p[ip_len + 4..ip_len + 8].try_into().unwrap());
        let id0 = u16::from_be_bytes([p[4], p[5]]);
        let chunks: Vec<&[u8]> = p[hdr_len..].chunks(gso).collect();
        let n = chunks.len();
        let mut out = Vec::new();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut t = p[ip_len..hdr_len].to_vec();
            t[4..8].copy_from_slice(&(seq0 + (i * gso) as u32).to_be_bytes());
            if i + 1 < n {
                t[13] &= !(PSH | 0x01);
            }
            out.push(tcp(
                v6,
                id0 + i as u16,
                seq0 + (i * gso) as u32,
                t[13],
                chunk,
            ));
        }
        out
    }

    fn gather(datagrams: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut batch = TsoBatch::new();
        let mut written = Vec::new();
        for d in datagrams {
            if !batch.push(d) {
                written.push(batch.finish().unwrap().to_vec());
                batch.clear();
                assert!(batch.push(d));
            }
        }
        if let Some(b) = batch.finish() {
            written.push(b.to_vec());
        }
        written
    }

    #[test]
    fn a_burst_becomes_one_packet_that_segments_back_into_it() {
        for v6 in [false, true] {
            let segs: Vec<Vec<u8>> = (0..4u16)
                .map(|i| {
                    let len = if i == 3 { 700 } else { 1448 };
                    let flags = if i == 3 { ACK | PSH } else { ACK };
                    tcp(
                        v6,
                        100 + i,
                        1000 + u32::from(i) * 1448,
                        flags,
                        &bytes(len, i as u8),
                    )
                })
                .collect();
            let written = gather(&segs);
            assert_eq!(written.len(), 1, "v6 {v6}");
            let packet = &written[0];
            let ip_len = if v6 { 40 } else { 20 };
            assert_eq!(packet[1], if v6 { GSO_TCPV6 } else { GSO_TCPV4 });
            assert_eq!(
                u16::from_ne_bytes([packet[2], packet[3]]) as usize,
                ip_len + 32
            );
            assert_eq!(u16::from_ne_bytes([packet[4], packet[5]]), 1448);
            assert_eq!(packet.len() - VNET_HDR_LEN, ip_len + 32 + 3 * 1448 + 700);
            if !v6 {
                assert!(checksum::verify(&packet[VNET_HDR_LEN..VNET_HDR_LEN + 20]));
            }
            // Completing the checksum as the kernel would gives a valid whole packet.
            let mut whole = packet[VNET_HDR_LEN..].to_vec();
            assert!(complete_checksum(&mut whole, ip_len, 16));
            let tcp_len = whole.len() - ip_len;
            let mut sum = if v6 {
                checksum::pseudo_header_ipv6(v6_addr(2), v6_addr(1), 6, tcp_len as u32)
            } else {
                checksum::pseudo_header_ipv4(SRC4.into(), DST4.into(), 6, tcp_len as u16)
            };
            assert_eq!(sum.add_bytes(&whole[ip_len..]).sum(), 0xffff);
            assert!(segment(packet) == segs, "v6 {v6}");
        }
    }

    #[test]
    fn trains_break_where_the_segments_differ() {
        let p = |seq: u32, flags: u8, len: usize| tcp(false, 1, seq, flags, &bytes(len, 3));
        let mut other_port = p(1000 + 1448, ACK, 1448);
        other_port[20] ^= 1;
        let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
            (
                "a sequence gap",
                vec![p(1000, ACK, 1448), p(1000 + 2 * 1448, ACK, 1448)],
            ),
            (
                "PSH ends a train",
                vec![p(1000, ACK | PSH, 1448), p(2448, ACK, 1448)],
            ),
            (
                "a longer segment",
                vec![p(1000, ACK, 1000), p(2000, ACK, 1448)],
            ),
            ("a pure ACK", vec![p(1000, ACK, 0), p(1000, ACK, 0)]),
            ("a FIN", vec![p(1000, ACK, 1448), p(2448, ACK | 0x01, 100)]),
            ("another connection", vec![p(1000, ACK, 1448), other_port]),
        ];
        for (what, segs) in cases {
            let written = gather(&segs);
            assert_eq!(written.len(), 2, "{what}");
            for (w, s) in written.iter().zip(&segs) {
                // Each goes out as it came, behind an empty header.
                assert_eq!(&w[..VNET_HDR_LEN], &[0; VNET_HDR_LEN], "{what}");
                assert!(w[VNET_HDR_LEN..] == s[..], "{what}");
            }
        }
        // A segment shorter than the first ends the train it joins.
        let segs = [
            tcp(false, 1, 1000, ACK, &bytes(1448, 3)),
            tcp(false, 2, 2448, ACK, &bytes(1000, 3)),
            tcp(false, 3, 3448, ACK, &bytes(1448, 3)),
        ];
        let written = gather(&segs);
        assert_eq!(written.len(), 2);
        assert!(segment(&written[0]) == segs[..2]);
        assert!(written[1][VNET_HDR_LEN..] == segs[2][..]);
        // Different timestamps: the options must match.
        let a = p(1000, ACK, 1448);
        let mut b = p(2448, ACK, 1448);
        b[20 + 27] ^= 1;
        assert_eq!(gather(&[a, b]).len(), 2);
        // Not TCP, or not IP at all.
        let mut udp = p(1000, ACK, 100);
        udp[9] = 17;
        assert_eq!(gather(&[udp.clone(), udp]).len(), 2);
        assert_eq!(gather(&[vec![0u8; 3], vec![0u8; 3]]).len(), 2);
    }

    #[test]
    fn a_train_stops_at_the_ip_length_limit() {
        let segs: Vec<Vec<u8>> = (0..60u32)
            .map(|i| tcp(false, 1 + i as u16, 1 + i * 1448, ACK, &bytes(1448, 0)))
            .collect();
        let written = gather(&segs);
        // (65535 - 52) / 1448 = 45 segments fit in the first packet.
        assert_eq!(written.len(), 2);
        assert_eq!(written[0].len() - VNET_HDR_LEN, 52 + 45 * 1448);
        assert_eq!(segment(&written[0]).len(), 45);
        assert!(segment(&written[1]) == segs[45..]);
    }

    #[test]
    fn a_tso_packet_read_splits_into_the_segments_it_merged() {
        for v6 in [false, true] {
            let segs: Vec<Vec<u8>> = (0..5u16)
                .map(|i| {
                    let len = if i == 4 { 10 } else { 1200 };
                    let flags = if i == 4 { ACK | PSH | FIN } else { ACK };
                    let seq = (u32::MAX - 1500).wrapping_add(u32::from(i) * 1200);
                    tcp(v6, 7 + i, seq, flags, &bytes(len, 9))
                })
                .collect();
            let mut batch = TsoBatch::new();
            for d in &segs[..4] {
                assert!(batch.push(d));
            }
            // A FIN never joins a train: make the packet by hand from the first four and it.
            let mut packet = batch.finish().unwrap()[VNET_HDR_LEN..].to_vec();
            let hdr = if v6 { 72 } else { 52 };
            packet.extend_from_slice(&segs[4][hdr..]);
            let total = packet.len();
            if v6 {
                packet[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
            } else {
                packet[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            }
            packet[hdr - 32 + 13] = ACK | PSH | FIN;
            let mut split = GsoSplit::new();
            assert!(split.load(&packet, 1200));
            let mut out = vec![0u8; 2000];
            let mut got = Vec::new();
            while let Some(n) = split.next_into(&mut out) {
                got.push(out[..n].to_vec());
            }
            assert!(got == segs, "v6 {v6}");
            assert_eq!(split.next_into(&mut out), None);
        }
        let mut split = GsoSplit::new();
        assert!(!split.load(&[0x45, 0, 0], 1000));
        assert!(!split.load(&tcp(false, 1, 1, ACK, &[]), 1000));
        assert!(!split.load(&tcp(false, 1, 1, ACK, &bytes(10, 0)), 0));
        let mut out = [0u8; 100];
        assert_eq!(split.next_into(&mut out), None);
    }

    #[test]
    fn a_read_hands_over_segments_with_whole_checksums() {
        let segs: Vec<Vec<u8>> = (0..3u16)
            .map(|i| {
                tcp(
                    false,
                    40 + i,
                    5000 + u32::from(i) * 1000,
                    ACK,
                    &bytes(1000, 1),
                )
            })
            .collect();
        let mut batch = TsoBatch::new();
        for d in &segs {
            assert!(batch.push(d));
        }
        let written = batch.finish().unwrap().to_vec();
        let hdr: [u8; VNET_HDR_LEN] = written[..VNET_HDR_LEN].try_into().unwrap();
        let mut buf = vec![0u8; 65535];
        let n = written.len() - VNET_HDR_LEN;
        buf[..n].copy_from_slice(&written[VNET_HDR_LEN..]);
        let mut split = GsoSplit::new();
        let first = received(&hdr, &mut buf, n, &mut split);
        let mut got = vec![buf[..first].to_vec()];
        while let Some(len) = split.next_into(&mut buf) {
            got.push(buf[..len].to_vec());
        }
        assert!(got == segs);
        // Without GSO, a partial checksum is completed in place.
        let whole = tcp(false, 1, 1, ACK | PSH, &bytes(33, 0));
        let mut partial = whole.clone();
        let pseudo = checksum::pseudo_header_ipv4(SRC4.into(), DST4.into(), 6, 32 + 33);
        partial[36..38].copy_from_slice(&pseudo.sum().to_be_bytes());
        let mut hdr = [0u8; VNET_HDR_LEN];
        hdr[0] = F_NEEDS_CSUM;
        hdr[6..8].copy_from_slice(&20u16.to_ne_bytes());
        hdr[8..10].copy_from_slice(&16u16.to_ne_bytes());
        let len = partial.len();
        assert_eq!(received(&hdr, &mut partial, len, &mut split), len);
        assert!(partial == whole);
    }

    #[test]
    fn complete_checksum_rejects_offsets_past_the_end() {
        let mut d = tcp(false, 1, 1, ACK, &bytes(10, 0));
        let len = d.len();
        assert!(!complete_checksum(&mut d, len, 16));
        assert!(!complete_checksum(&mut d, len - 17, 16));
        assert!(complete_checksum(&mut d, 20, 16));
        let mut sum = checksum::pseudo_header_ipv4(SRC4.into(), DST4.into(), 6, (len - 20) as u16);
        // Completing a checksum that was already whole sums the field in as well.
        assert_ne!(sum.add_bytes(&d[20..]).sum(), 0xffff);
        let _ = Ipv4Addr::LOCALHOST;
    }
}
