//! pcap capture files (the classic libpcap format, not pcapng).
//!
//! [`PcapWriter`] writes what the simulator (or a pcap tap) sends, so that a run can be opened in
//! Wireshark or tcpdump; [`PcapReader`] reads captures made elsewhere (for `synack diagram`, or as
//! golden input for tests); [`ip_payload`] strips the link-layer header of a captured frame.
//!
//! The format is the one described in `pcap-savefile(5)` and draft-ietf-opsawg-pcap: a 24-byte
//! global header (magic, version 2.4, time zone, accuracy, snap length, link type) followed by records
//! of a 16-byte header (seconds, microseconds or nanoseconds, captured length, original length) and
//! the captured bytes. The byte order of a file is the one its magic number is written in.
//!
//! Reading never panics on bad input: every problem is a [`PcapError`].

use std::fmt;
use std::io::{self, Read, Write};

/// Link type: BSD loopback, a 4-byte address family in the byte order of the capturing host.
pub const LINKTYPE_NULL: u32 = 0;
/// Link type: Ethernet II (IEEE 802.3), 14-byte header.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Link type: raw IP; the frame is an IPv4 or IPv6 datagram with no link header.
pub const LINKTYPE_RAW: u32 = 101;
/// Link type: OpenBSD loopback, a 4-byte address family in network byte order.
pub const LINKTYPE_LOOP: u32 = 108;
/// Link type: Linux "cooked" capture v1 (`tcpdump -i any` before libpcap 1.10), 16-byte header.
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// Link type: raw IPv4 (no link header, IPv4 only).
pub const LINKTYPE_IPV4: u32 = 228;
/// Link type: raw IPv6 (no link header, IPv6 only).
pub const LINKTYPE_IPV6: u32 = 229;
/// Link type: Linux "cooked" capture v2 (`tcpdump -i any` since libpcap 1.10), 20-byte header.
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

/// The snap length [`PcapWriter`] declares: the most bytes of one packet a record holds.
pub const SNAPLEN: u32 = 65535;

/// Magic number of a microsecond-resolution file, as read in the file's own byte order.
const MAGIC_MICROS: u32 = 0xA1B2_C3D4;
/// Magic number of a nanosecond-resolution file.
const MAGIC_NANOS: u32 = 0xA1B2_3C4D;
/// The first four bytes of a pcapng file (its Section Header Block type; a palindrome).
const PCAPNG_MAGIC: u32 = 0x0A0D_0D0A;
/// Records larger than this are refused even when the snap length allows them (garbage guard: a
/// damaged length field must not make the reader allocate gigabytes).
const MAX_RECORD: u32 = 16 << 20;
/// Record lengths up to this are accepted whatever the snap length says (libpcap's own maximum).
const LIBPCAP_MAX_SNAPLEN: u32 = 262_144;

/// What went wrong while reading a pcap file.
#[derive(Debug)]
pub enum PcapError {
    /// The underlying reader failed.
    Io(io::Error),
    /// The file ends before the 24-byte global header is complete.
    TruncatedHeader {
        /// How many bytes there were.
        len: usize,
    },
    /// The first four bytes are not a pcap magic number.
    BadMagic(u32),
    /// The file is pcapng, which this reader does not read.
    Pcapng,
    /// The file ends inside a record (header or data); usually a capture that was cut off.
    TruncatedRecord {
        /// Index of the record, counting from 0.
        index: u64,
    },
    /// A record claims to hold more bytes than any capture could.
    RecordTooLarge {
        /// Index of the record, counting from 0.
        index: u64,
        /// The captured length the record header claims.
        len: u32,
    },
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::Io(e) => write!(f, "read error: {e}"),
            PcapError::TruncatedHeader { len } => write!(
                f,
                "not a pcap file (only {len} bytes; the file header alone takes 24)"
            ),
            PcapError::BadMagic(m) => write!(f, "not a pcap file (bad magic 0x{m:08x})"),
            PcapError::Pcapng => f.write_str(
                "this is a pcapng file; only classic pcap is read: convert it with \
                 `editcap -F pcap in.pcapng out.pcap`",
            ),
            PcapError::TruncatedRecord { index } => {
                write!(f, "truncated record (record #{index} ends early)")
            }
            PcapError::RecordTooLarge { index, len } => write!(
                f,
                "corrupt record (record #{index} claims {len} captured bytes)"
            ),
        }
    }
}

impl std::error::Error for PcapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PcapError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for PcapError {
    fn from(e: io::Error) -> Self {
        PcapError::Io(e)
    }
}

/// Writes a pcap file: little-endian, microsecond timestamps, snap length [`SNAPLEN`].
///
/// ```
/// use synack_sim::pcap::{PcapWriter, LINKTYPE_RAW};
/// let mut w = PcapWriter::new(Vec::new(), LINKTYPE_RAW).unwrap();
/// w.write_packet(1_500_000, &[0x45, 0, 0, 20]).unwrap();
/// assert_eq!(w.into_inner().len(), 24 + 16 + 4);
/// ```
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the 24-byte global header for `linktype` (one of the `LINKTYPE_*` constants) to `out`.
    pub fn new(mut out: W, linktype: u32) -> io::Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes()); // version 2.4
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // bytes 8..16: time zone offset and timestamp accuracy, both 0.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&linktype.to_le_bytes());
        out.write_all(&header)?;
        Ok(Self { out })
    }

    /// Appends one record taken at `time_micros` microseconds (since the Unix epoch, or since the
    /// start of a simulation). Packets longer than [`SNAPLEN`] are cut to it, keeping their original
    /// length in the record header, as libpcap does.
    ///
    /// Fails with `InvalidInput` when the time does not fit the format's 32-bit seconds.
    pub fn write_packet(&mut self, time_micros: u64, bytes: &[u8]) -> io::Result<()> {
        let secs = u32::try_from(time_micros / 1_000_000).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "pcap timestamp beyond the year 2106",
            )
        })?;
        // The remainder is below 1_000_000, so it fits.
        let micros = (time_micros % 1_000_000) as u32;
        let orig_len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        let incl = &bytes[..bytes.len().min(SNAPLEN as usize)];
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&micros.to_le_bytes());
        header[8..12].copy_from_slice(&(incl.len() as u32).to_le_bytes());
        header[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(incl)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// The underlying writer, mutably (writing to it directly corrupts the file).
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// Gives the underlying writer back (without flushing it).
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One captured packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapRecord {
    /// Capture time in microseconds since the Unix epoch (or whatever origin the writer used);
    /// nanosecond files are rounded down to microseconds.
    pub time_micros: u64,
    /// The captured bytes (at most the snap length; see `orig_len`).
    pub data: Vec<u8>,
    /// The packet's length on the wire; larger than `data.len()` when the capture cut it short.
    pub orig_len: u32,
}

/// Reads a classic pcap file of either byte order, with microsecond or nanosecond timestamps.
///
/// Iterating yields `Result<PcapRecord, PcapError>`; after the first error the iterator ends.
///
/// ```
/// use synack_sim::pcap::{PcapReader, PcapWriter, LINKTYPE_RAW};
/// let mut w = PcapWriter::new(Vec::new(), LINKTYPE_RAW).unwrap();
/// w.write_packet(7, b"abc").unwrap();
/// let bytes = w.into_inner();
/// let mut r = PcapReader::new(&bytes[..]).unwrap();
/// assert_eq!(r.linktype(), LINKTYPE_RAW);
/// let rec = r.next_record().unwrap().unwrap();
/// assert_eq!((rec.time_micros, &rec.data[..]), (7, &b"abc"[..]));
/// assert!(r.next_record().unwrap().is_none());
/// ```
#[derive(Debug)]
pub struct PcapReader<R: Read> {
    input: R,
    big_endian: bool,
    nanos: bool,
    version: (u16, u16),
    snaplen: u32,
    network: u32,
    index: u64,
    done: bool,
}

impl<R: Read> PcapReader<R> {
    /// Reads and checks the global header.
    pub fn new(mut input: R) -> Result<Self, PcapError> {
        let mut header = [0u8; 24];
        let got = read_full(&mut input, &mut header)?;
        if got >= 4 {
            let magic_le = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            if magic_le == PCAPNG_MAGIC {
                return Err(PcapError::Pcapng);
            }
        }
        if got < 24 {
            return Err(PcapError::TruncatedHeader { len: got });
        }
        let magic_le = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let magic_be = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let (big_endian, nanos) = match (magic_le, magic_be) {
            (MAGIC_MICROS, _) => (false, false),
            (MAGIC_NANOS, _) => (false, true),
            (_, MAGIC_MICROS) => (true, false),
            (_, MAGIC_NANOS) => (true, true),
            _ => return Err(PcapError::BadMagic(magic_be)),
        };
        let u16_at = |i: usize| {
            let b = [header[i], header[i + 1]];
            if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let u32_at = |i: usize| {
            let b = [header[i], header[i + 1], header[i + 2], header[i + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        Ok(Self {
            version: (u16_at(4), u16_at(6)),
            snaplen: u32_at(16),
            network: u32_at(20),
            big_endian,
            nanos,
            input,
            index: 0,
            done: false,
        })
    }

    /// The link type of every record (the low 16 bits of the header's link-type field; the upper
    /// bits carry FCS information, see [`PcapReader::link_field`]).
    pub fn linktype(&self) -> u32 {
        self.network & 0xFFFF
    }

    /// The whole 32-bit link-type field of the global header.
    pub fn link_field(&self) -> u32 {
        self.network
    }

    /// The snap length the capture declares.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// The format version (major, minor); 2.4 in practice.
    pub fn version(&self) -> (u16, u16) {
        self.version
    }

    /// True when the file's timestamps have nanosecond resolution.
    pub fn is_nanosecond(&self) -> bool {
        self.nanos
    }

    /// True when the file is big-endian.
    pub fn is_big_endian(&self) -> bool {
        self.big_endian
    }

    /// The next record, `Ok(None)` at a clean end of file.
    pub fn next_record(&mut self) -> Result<Option<PcapRecord>, PcapError> {
        if self.done {
            return Ok(None);
        }
        let result = self.read_record();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    fn read_record(&mut self) -> Result<Option<PcapRecord>, PcapError> {
        let index = self.index;
        let mut header = [0u8; 16];
        match read_full(&mut self.input, &mut header)? {
            0 => return Ok(None),
            16 => {}
            _ => return Err(PcapError::TruncatedRecord { index }),
        }
        let field = |i: usize| {
            let b = [header[i], header[i + 1], header[i + 2], header[i + 3]];
            if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (secs, frac, incl_len, orig_len) = (field(0), field(4), field(8), field(12));
        let limit = LIBPCAP_MAX_SNAPLEN.max(self.snaplen.min(MAX_RECORD));
        if incl_len > limit {
            return Err(PcapError::RecordTooLarge {
                index,
                len: incl_len,
            });
        }
        let mut data = Vec::new();
        // `take` keeps a lying length field from allocating more than the file really holds.
        let got = (&mut self.input)
            .take(u64::from(incl_len))
            .read_to_end(&mut data)?;
        if got != incl_len as usize {
            return Err(PcapError::TruncatedRecord { index });
        }
        let micros = if self.nanos { frac / 1000 } else { frac };
        self.index += 1;
        Ok(Some(PcapRecord {
            time_micros: u64::from(secs) * 1_000_000 + u64::from(micros),
            data,
            orig_len,
        }))
    }
}

impl<R: Read> Iterator for PcapReader<R> {
    type Item = Result<PcapRecord, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88A8;

/// The IP datagram inside a captured frame of link type `linktype`, or `None` when the frame is
/// not IPv4/IPv6 (ARP, LLDP, ...), is too short, or the link type is not supported.
///
/// Supported: [`LINKTYPE_ETHERNET`] (with at most one 802.1Q/802.1ad VLAN tag),
/// [`LINKTYPE_LINUX_SLL`], [`LINKTYPE_LINUX_SLL2`], [`LINKTYPE_NULL`], [`LINKTYPE_LOOP`],
/// [`LINKTYPE_RAW`], [`LINKTYPE_IPV4`] and [`LINKTYPE_IPV6`].
///
/// Link-layer padding after the datagram (Ethernet pads frames to 60 bytes) is cut off using the
/// IP header's length field when that field is consistent with the frame; when the capture cut the
/// datagram short, the bytes there are are returned and the IP parser reports the truncation.
pub fn ip_payload(linktype: u32, frame: &[u8]) -> Option<&[u8]> {
    let ip = match linktype {
        LINKTYPE_ETHERNET => {
            let mut ethertype = be16(frame, 12)?;
            let mut start = 14;
            if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
                ethertype = be16(frame, 16)?;
                start = 18;
            }
            ip_by_ethertype(ethertype, frame.get(start..)?)?
        }
        LINKTYPE_LINUX_SLL => ip_by_ethertype(be16(frame, 14)?, frame.get(16..)?)?,
        LINKTYPE_LINUX_SLL2 => ip_by_ethertype(be16(frame, 0)?, frame.get(20..)?)?,
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            let family: [u8; 4] = frame.get(0..4)?.try_into().ok()?;
            let rest = frame.get(4..)?;
            // NULL is in the capturing host's byte order, LOOP in network order; some writers get
            // LOOP wrong, so accept both orders for both.
            let want = match (u32::from_le_bytes(family), u32::from_be_bytes(family)) {
                (2, _) | (_, 2) => 4,
                // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD and Darwin.
                (10 | 24 | 28 | 30, _) | (_, 10 | 24 | 28 | 30) => 6,
                _ => return None,
            };
            (ip_version(rest)? == want).then_some(rest)?
        }
        LINKTYPE_RAW => {
            ip_version(frame)?;
            frame
        }
        LINKTYPE_IPV4 => (ip_version(frame)? == 4).then_some(frame)?,
        LINKTYPE_IPV6 => (ip_version(frame)? == 6).then_some(frame)?,
        _ => return None,
    };
    Some(trim_padding(ip))
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// 4 or 6, from the version nibble; `None` for anything else (or an empty frame).
fn ip_version(ip: &[u8]) -> Option<u8> {
    match ip.first()? >> 4 {
        v @ (4 | 6) => Some(v),
        _ => None,
    }
}

fn ip_by_ethertype(ethertype: u16, rest: &[u8]) -> Option<&[u8]> {
    let want = match ethertype {
        ETHERTYPE_IPV4 => 4,
        ETHERTYPE_IPV6 => 6,
        _ => return None,
    };
    (ip_version(rest)? == want).then_some(rest)
}

/// Cuts trailing link-layer padding off a datagram whose length field says it is shorter.
fn trim_padding(ip: &[u8]) -> &[u8] {
    let len = match ip_version(ip) {
        Some(4) => be16(ip, 2).map(usize::from).filter(|&n| n >= 20),
        // A payload length of 0 may be a jumbogram (RFC 2675): leave those alone.
        Some(6) => be16(ip, 4).filter(|&n| n > 0).map(|n| 40 + usize::from(n)),
        _ => None,
    };
    match len {
        Some(n) if n <= ip.len() => &ip[..n],
        _ => ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = PcapWriter::new(Vec::new(), LINKTYPE_ETHERNET).unwrap();
        w.write_packet(0, &[1, 2, 3]).unwrap();
        w.write_packet(1_234_567, &[]).unwrap();
        w.write_packet(u64::from(u32::MAX) * 1_000_000 + 999_999, &[9; 100])
            .unwrap();
        w.into_inner()
    }

    #[test]
    fn header_layout() {
        let bytes = sample();
        assert_eq!(&bytes[0..4], &[0xD4, 0xC3, 0xB2, 0xA1]);
        assert_eq!(&bytes[4..8], &[2, 0, 4, 0]);
        assert_eq!(&bytes[16..20], &65535u32.to_le_bytes());
        assert_eq!(&bytes[20..24], &1u32.to_le_bytes());
        // first record: ts 0.0, incl 3, orig 3
        assert_eq!(
            &bytes[24..40],
            &[0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0]
        );
        assert_eq!(&bytes[40..43], &[1, 2, 3]);
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let r = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(r.linktype(), LINKTYPE_ETHERNET);
        assert_eq!(r.snaplen(), SNAPLEN);
        assert_eq!(r.version(), (2, 4));
        assert!(!r.is_nanosecond() && !r.is_big_endian());
        let records: Vec<PcapRecord> = r.map(Result::unwrap).collect();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].time_micros, 0);
        assert_eq!(records[0].data, vec![1, 2, 3]);
        assert_eq!(records[0].orig_len, 3);
        assert_eq!(records[1].time_micros, 1_234_567);
        assert!(records[1].data.is_empty());
        assert_eq!(
            records[2].time_micros,
            u64::from(u32::MAX) * 1_000_000 + 999_999
        );
        assert_eq!(records[2].data, vec![9; 100]);
    }

    #[test]
    fn writer_rejects_time_beyond_2106_and_cuts_at_snaplen() {
        let mut w = PcapWriter::new(Vec::new(), LINKTYPE_RAW).unwrap();
        let err = w
            .write_packet((u64::from(u32::MAX) + 1) * 1_000_000, &[])
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let big = vec![0x45u8; 70_000];
        w.write_packet(5, &big).unwrap();
        let bytes = w.into_inner();
        let rec = PcapReader::new(&bytes[..])
            .unwrap()
            .next_record()
            .unwrap()
            .unwrap();
        assert_eq!(rec.data.len(), 65535);
        assert_eq!(rec.orig_len, 70_000);
    }

    /// Builds a file by hand in either byte order and resolution.
    fn handmade(big_endian: bool, nanos: bool) -> Vec<u8> {
        let magic = if nanos { MAGIC_NANOS } else { MAGIC_MICROS };
        let put32 = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let put16 = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut f = Vec::new();
        f.extend_from_slice(&put32(magic));
        f.extend_from_slice(&put16(2));
        f.extend_from_slice(&put16(4));
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&put32(262_144));
        f.extend_from_slice(&put32(LINKTYPE_LINUX_SLL2));
        f.extend_from_slice(&put32(10));
        f.extend_from_slice(&put32(if nanos { 123_456_789 } else { 123_456 }));
        f.extend_from_slice(&put32(2));
        f.extend_from_slice(&put32(60));
        f.extend_from_slice(&[0xAA, 0xBB]);
        f
    }

    #[test]
    fn both_byte_orders_and_resolutions() {
        for big_endian in [false, true] {
            for nanos in [false, true] {
                let f = handmade(big_endian, nanos);
                let mut r = PcapReader::new(&f[..]).unwrap();
                assert_eq!(r.is_big_endian(), big_endian);
                assert_eq!(r.is_nanosecond(), nanos);
                assert_eq!(r.linktype(), LINKTYPE_LINUX_SLL2);
                assert_eq!(r.snaplen(), 262_144);
                let rec = r.next_record().unwrap().unwrap();
                assert_eq!(rec.time_micros, 10_123_456);
                assert_eq!(rec.data, vec![0xAA, 0xBB]);
                assert_eq!(rec.orig_len, 60);
                assert!(r.next_record().unwrap().is_none());
                assert!(r.next_record().unwrap().is_none());
            }
        }
    }

    #[test]
    fn bad_magic_and_pcapng() {
        let err = PcapReader::new(&b"GIF89a..................."[..]).unwrap_err();
        assert_eq!(err.to_string(), "not a pcap file (bad magic 0x47494638)");
        let mut ng = vec![0x0A, 0x0D, 0x0D, 0x0A, 0x1C, 0, 0, 0];
        ng.extend_from_slice(&[0x4D, 0x3C, 0x2B, 0x1A]);
        let err = PcapReader::new(&ng[..]).unwrap_err();
        assert!(matches!(err, PcapError::Pcapng));
        assert!(err.to_string().contains("editcap -F pcap"), "{err}");
    }

    #[test]
    fn truncated_files_never_panic() {
        let full = sample();
        for cut in 0..full.len() {
            let part = &full[..cut];
            match PcapReader::new(part) {
                Err(PcapError::TruncatedHeader { len }) => assert_eq!(len, cut),
                Err(e) => panic!("unexpected error at {cut}: {e}"),
                Ok(r) => {
                    let results: Vec<_> = r.collect();
                    let boundary = [24, 24 + 19, 24 + 19 + 16, full.len()].contains(&cut);
                    let last = results.last();
                    if boundary {
                        assert!(results.iter().all(Result::is_ok), "cut {cut}");
                    } else {
                        let err = last.unwrap().as_ref().unwrap_err();
                        assert!(matches!(err, PcapError::TruncatedRecord { .. }), "{err}");
                        assert!(err.to_string().starts_with("truncated record"));
                    }
                }
            }
        }
    }

    #[test]
    fn garbage_never_panics() {
        // A tiny deterministic generator: the same garbage every run.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let valid = sample();
        for round in 0..2000 {
            let mut f = valid.clone();
            let flips = 1 + (next() % 8) as usize;
            for _ in 0..flips {
                let i = (next() as usize) % f.len();
                f[i] = next() as u8;
            }
            if round % 3 == 0 {
                let len = (next() as usize) % (f.len() + 1);
                f.truncate(len);
            }
            if let Ok(r) = PcapReader::new(&f[..]) {
                let linktype = r.linktype();
                for rec in r.take(10).flatten() {
                    let _ = ip_payload(linktype, &rec.data);
                }
            }
        }
        for linktype in [0, 1, 101, 108, 113, 228, 229, 276, 9999] {
            for len in 0..64 {
                let frame: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                let _ = ip_payload(linktype, &frame);
            }
        }
    }

    #[test]
    fn huge_record_length_is_refused() {
        let mut f = sample();
        f.truncate(24);
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        let err = PcapReader::new(&f[..])
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(err, PcapError::RecordTooLarge { index: 0, .. }),
            "{err}"
        );
    }

    fn ipv4(total_len: u16) -> Vec<u8> {
        let mut ip = vec![0u8; usize::from(total_len)];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&total_len.to_be_bytes());
        ip
    }

    fn ipv6(payload_len: u16) -> Vec<u8> {
        let mut ip = vec![0u8; 40 + usize::from(payload_len)];
        ip[0] = 0x60;
        ip[4..6].copy_from_slice(&payload_len.to_be_bytes());
        ip
    }

    #[test]
    fn strips_link_headers() {
        let v4 = ipv4(40);
        let v6 = ipv6(20);

        // Ethernet, padded to 60 bytes: the padding goes.
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00]);
        eth.extend_from_slice(&v4);
        eth.resize(60, 0);
        assert_eq!(ip_payload(LINKTYPE_ETHERNET, &eth), Some(&v4[..]));

        // Ethernet with one VLAN tag, IPv6 inside.
        let mut vlan = vec![0u8; 12];
        vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x86, 0xDD]);
        vlan.extend_from_slice(&v6);
        assert_eq!(ip_payload(LINKTYPE_ETHERNET, &vlan), Some(&v6[..]));

        // ARP is not IP.
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0; 28]);
        assert_eq!(ip_payload(LINKTYPE_ETHERNET, &arp), None);

        // Ethertype says IPv4 but the version nibble says 6: refused.
        let mut liar = vec![0u8; 12];
        liar.extend_from_slice(&[0x08, 0x00]);
        liar.extend_from_slice(&v6);
        assert_eq!(ip_payload(LINKTYPE_ETHERNET, &liar), None);

        // SLL: 16 bytes, protocol at 14.
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x86, 0xDD]);
        sll.extend_from_slice(&v6);
        assert_eq!(ip_payload(LINKTYPE_LINUX_SLL, &sll), Some(&v6[..]));

        // SLL2: 20 bytes, protocol first.
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(&v4);
        assert_eq!(ip_payload(LINKTYPE_LINUX_SLL2, &sll2), Some(&v4[..]));

        // NULL (host order, here little-endian) and LOOP (network order).
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend_from_slice(&v4);
        assert_eq!(ip_payload(LINKTYPE_NULL, &null), Some(&v4[..]));
        let mut lo = 30u32.to_be_bytes().to_vec();
        lo.extend_from_slice(&v6);
        assert_eq!(ip_payload(LINKTYPE_LOOP, &lo), Some(&v6[..]));
        let mut unknown_family = 7u32.to_be_bytes().to_vec();
        unknown_family.extend_from_slice(&v6);
        assert_eq!(ip_payload(LINKTYPE_NULL, &unknown_family), None);

        // RAW and the version-specific raw types.
        assert_eq!(ip_payload(LINKTYPE_RAW, &v4), Some(&v4[..]));
        assert_eq!(ip_payload(LINKTYPE_RAW, &v6), Some(&v6[..]));
        assert_eq!(ip_payload(LINKTYPE_IPV4, &v6), None);
        assert_eq!(ip_payload(LINKTYPE_IPV6, &v6), Some(&v6[..]));
        assert_eq!(ip_payload(LINKTYPE_RAW, &[]), None);
        assert_eq!(ip_payload(LINKTYPE_RAW, &[0x55]), None);

        // A datagram the capture cut short is returned as it is.
        let cut = &v4[..30];
        assert_eq!(ip_payload(LINKTYPE_RAW, cut), Some(cut));

        // Too short for the link header, and an unknown link type.
        assert_eq!(ip_payload(LINKTYPE_ETHERNET, &[0; 13]), None);
        assert_eq!(ip_payload(LINKTYPE_LINUX_SLL2, &[0x08, 0x00]), None);
        assert_eq!(ip_payload(147, &v4), None);
    }
}
