//! ICMP and ICMPv6 at the endpoint: echo requests are answered (RFC 792, RFC 4443 §4.2), and
//! errors that quote one of our TCP segments reach its connection — unreachable as a soft or hard
//! error (RFC 1122 §4.2.3.9, with Linux's choices), fragmentation-needed and packet-too-big as a
//! lower path MTU (RFC 1191, RFC 8201). An error is believed only if the segment it quotes could
//! be one we have in flight (RFC 5927 §4.1: its sequence number lies in SND.UNA..SND.NXT).

use core::net::{IpAddr, SocketAddr};

use synack_wire::{Icmpv4Repr, Icmpv6Repr, IpPacket, QuotedTcpHeader, IPPROTO_ICMP, IPPROTO_TCP};

use super::{DropReason, Endpoint, Owner};
use crate::error::Error;
use crate::seq::SeqNum;
use crate::time::Instant;
use crate::tuple::FourTuple;

/// What an ICMP error means for a connection.
enum IcmpError {
    /// Path MTU lowered to this many bytes.
    PacketTooBig(u32),
    /// Unreachable or time exceeded: the error to report, and whether it aborts an established
    /// connection.
    Unreachable(Error, bool),
}

/// ICMPv4 destination-unreachable codes (RFC 792, RFC 1122 §3.2.2.1) as Linux maps them
/// (`icmp_err_convert`): hard errors abort even an established connection.
fn v4_unreachable(code: u8) -> (Error, bool) {
    match code {
        0 | 6 | 9 | 11 => (Error::NetworkUnreachable, false),
        2 => (Error::ConnectionRefused, true), // protocol unreachable
        3 => (Error::ConnectionRefused, true), // port unreachable
        _ => (Error::HostUnreachable, false),
    }
}

/// ICMPv6 destination-unreachable codes (RFC 4443 §3.1) as Linux maps them (`icmpv6_err_convert`).
fn v6_unreachable(code: u8) -> (Error, bool) {
    match code {
        0 => (Error::NetworkUnreachable, false),
        4 => (Error::ConnectionRefused, true), // port unreachable
        _ => (Error::HostUnreachable, false),
    }
}

impl Endpoint {
    /// Handles an ICMP or ICMPv6 datagram addressed to us.
    pub(super) fn handle_icmp(
        &mut self,
        now: Instant,
        ip: &IpPacket<'_>,
    ) -> Result<(), DropReason> {
        self.counters.icmp_in_msgs += 1;
        let (src, dst) = (ip.ip.src(), ip.ip.dst());
        match (ip.protocol, src, dst) {
            (IPPROTO_ICMP, IpAddr::V4(s), IpAddr::V4(d)) => {
                let msg = Icmpv4Repr::parse(ip.payload, true).map_err(|e| {
                    self.counters.icmp_in_errors += 1;
                    DropReason::Icmp(e)
                })?;
                match msg {
                    Icmpv4Repr::EchoRequest {
                        ident,
                        seq_no,
                        data,
                    } => {
                        self.counters.icmp_in_echos += 1;
                        let reply = Icmpv4Repr::EchoReply {
                            ident,
                            seq_no,
                            data,
                        };
                        if let Ok(bytes) = synack_wire::build_icmpv4(d, s, self.config.ttl, &reply)
                        {
                            self.counters.icmp_out_echo_reps += 1;
                            self.tx.push(bytes);
                        }
                        Ok(())
                    }
                    Icmpv4Repr::DstUnreachable { code, data } => {
                        self.counters.icmp_in_dest_unreachs += 1;
                        let (e, hard) = v4_unreachable(code);
                        self.icmp_error(now, data, IcmpError::Unreachable(e, hard))
                    }
                    Icmpv4Repr::FragNeeded { next_hop_mtu, data } => {
                        self.counters.icmp_in_dest_unreachs += 1;
                        self.icmp_error(now, data, IcmpError::PacketTooBig(u32::from(next_hop_mtu)))
                    }
                    Icmpv4Repr::TimeExceeded { data, .. } => {
                        self.counters.icmp_in_time_excds += 1;
                        self.icmp_error(
                            now,
                            data,
                            IcmpError::Unreachable(Error::HostUnreachable, false),
                        )
                    }
                    _ => {
                        self.counters.icmp_ignored += 1;
                        Err(DropReason::IcmpIgnored)
                    }
                }
            }
            (synack_wire::IPPROTO_ICMPV6, IpAddr::V6(s), IpAddr::V6(d)) => {
                let msg = Icmpv6Repr::parse(ip.payload, s, d, true).map_err(|e| {
                    self.counters.icmp_in_errors += 1;
                    DropReason::Icmp(e)
                })?;
                match msg {
                    Icmpv6Repr::EchoRequest {
                        ident,
                        seq_no,
                        data,
                    } => {
                        self.counters.icmp_in_echos += 1;
                        let reply = Icmpv6Repr::EchoReply {
                            ident,
                            seq_no,
                            data,
                        };
                        if let Ok(bytes) = synack_wire::build_icmpv6(d, s, self.config.ttl, &reply)
                        {
                            self.counters.icmp_out_echo_reps += 1;
                            self.tx.push(bytes);
                        }
                        Ok(())
                    }
                    Icmpv6Repr::DstUnreachable { code, data } => {
                        self.counters.icmp_in_dest_unreachs += 1;
                        let (e, hard) = v6_unreachable(code);
                        self.icmp_error(now, data, IcmpError::Unreachable(e, hard))
                    }
                    Icmpv6Repr::PacketTooBig { mtu, data } => {
                        self.icmp_error(now, data, IcmpError::PacketTooBig(mtu))
                    }
                    Icmpv6Repr::TimeExceeded { data, .. } => {
                        self.counters.icmp_in_time_excds += 1;
                        self.icmp_error(
                            now,
                            data,
                            IcmpError::Unreachable(Error::HostUnreachable, false),
                        )
                    }
                    _ => {
                        self.counters.icmp_ignored += 1;
                        Err(DropReason::IcmpIgnored)
                    }
                }
            }
            _ => {
                self.counters.icmp_ignored += 1;
                Err(DropReason::IcmpIgnored)
            }
        }
    }

    /// Delivers an ICMP error to the connection whose segment `quoted` holds, after checking that
    /// the quote is plausible (RFC 5927 §4.1).
    fn icmp_error(
        &mut self,
        now: Instant,
        quoted: &[u8],
        what: IcmpError,
    ) -> Result<(), DropReason> {
        let ignored = |ep: &mut Endpoint| {
            ep.counters.icmp_ignored += 1;
            Err(DropReason::IcmpIgnored)
        };
        let Ok(inner) = synack_wire::parse_ip_quoted(quoted) else {
            return ignored(self);
        };
        if inner.protocol != IPPROTO_TCP || !self.addrs.contains(&inner.ip.src()) {
            return ignored(self);
        }
        let Ok(tcp) = QuotedTcpHeader::parse(inner.payload) else {
            return ignored(self);
        };
        let tuple = FourTuple {
            local: SocketAddr::new(inner.ip.src(), tcp.src_port),
            remote: SocketAddr::new(inner.ip.dst(), tcp.dst_port),
        };
        let seq = SeqNum(tcp.seq);
        match self.by_tuple.get(&tuple).copied() {
            Some(Owner::Conn(i)) => {
                let plausible = self.conns.get(i).is_some_and(|c| {
                    let una = if c.state == crate::State::SynSent {
                        c.iss
                    } else {
                        c.snd_una
                    };
                    seq >= una && seq <= c.snd_nxt
                });
                if !plausible {
                    return ignored(self);
                }
                self.with_conn(now, i, |c, ctx| match what {
                    IcmpError::PacketTooBig(mtu) => {
                        if c.on_path_mtu(ctx, mtu) {
                            ctx.counters.pmtu_updates += 1;
                        }
                    }
                    IcmpError::Unreachable(e, hard) => c.on_icmp_error(ctx, e, hard),
                });
                self.after_conn(now, i);
                Ok(())
            }
            Some(Owner::HalfOpen(i)) => {
                // Only our SYN+ACK can be quoted; a hard error ends the half-open entry.
                let matches = self.half_open.get(i).is_some_and(|h| h.iss == seq);
                if !matches {
                    return ignored(self);
                }
                if let IcmpError::Unreachable(_, true) = what {
                    self.drop_half_open(i, true);
                }
                Ok(())
            }
            _ => ignored(self),
        }
    }
}
