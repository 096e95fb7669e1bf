//! Counters in the style of `netstat -s` / `/proc/net/snmp` (RFC 4022 MIB names where one exists,
//! Linux `LINUX_MIB_*` names otherwise).

/// Monotonic event counts of one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Connections that went SYN-SENT from CLOSED (`tcpActiveOpens`).
    pub active_opens: u64,
    /// Connections that went SYN-RECEIVED from LISTEN (`tcpPassiveOpens`).
    pub passive_opens: u64,
    /// Failed connection attempts (`tcpAttemptFails`).
    pub attempt_fails: u64,
    /// Resets of ESTABLISHED or CLOSE-WAIT connections (`tcpEstabResets`).
    pub estab_resets: u64,
    /// Segments received, including those in error (`tcpInSegs`).
    pub in_segs: u64,
    /// Segments sent, excluding retransmissions (`tcpOutSegs`).
    pub out_segs: u64,
    /// Segments retransmitted (`tcpRetransSegs`).
    pub retrans_segs: u64,
    /// Segments received in error: bad checksum, bad header (`tcpInErrs`).
    pub in_errs: u64,
    /// Of those, bad checksums (`InCsumErrors`).
    pub in_csum_errors: u64,
    /// RST segments sent (`tcpOutRsts`).
    pub out_rsts: u64,
    /// IP packets that could not be parsed (truncated, bad header, fragments, bad extension headers).
    pub ip_in_hdr_errors: u64,
    /// IP packets for an address that is not ours (`ipInAddrErrors`).
    pub ip_in_addr_errors: u64,
    /// IP packets carrying a protocol other than TCP that the engine does not handle
    /// (`ipInUnknownProtos`).
    pub ip_in_unknown_protos: u64,
    /// Segments dropped for any reason after parsing (Linux `TCPDrop`-like aggregate).
    pub dropped_segs: u64,
    /// SYNs dropped because a listener's accept queue was full (`ListenOverflows`).
    pub listen_overflows: u64,
    /// SYNs dropped because the listener could not take them (`ListenDrops`).
    pub listen_drops: u64,
    /// SYN cookies sent (`SyncookiesSent`).
    pub syncookies_sent: u64,
    /// Valid SYN cookies received (`SyncookiesRecv`).
    pub syncookies_recv: u64,
    /// Invalid SYN cookies received (`SyncookiesFailed`).
    pub syncookies_failed: u64,
    /// Connections that entered TIME-WAIT (`TW`).
    pub time_waits: u64,
    /// TIME-WAIT entries reused by a new SYN from the peer or taken over by `connect`
    /// (`TWRecycled`).
    pub time_wait_recycled: u64,
    /// Half-open entries dropped after SYN+ACK retries ran out.
    pub synack_timeouts: u64,
    /// Connections aborted on timeout (`TCPAbortOnTimeout`).
    pub abort_on_timeout: u64,
    /// Connections aborted because the application closed with unread data (`TCPAbortOnClose`).
    pub abort_on_close: u64,
    /// Orphaned FIN-WAIT-2 connections reclaimed after `fin_timeout`.
    pub fin_wait2_timeouts: u64,
    /// Out-of-order segments queued (`TCPOFOQueue`).
    pub ofo_queue: u64,
    /// Out-of-order segments dropped because the queue's budget was spent (`TCPOFODrop`).
    pub ofo_drop: u64,
    /// Times held out-of-order data was dropped to make room for data nearer the hole
    /// (`OfoPruned`).
    pub ofo_pruned: u64,
    /// ACKs for out-of-order data that SACK compression folded into a later one
    /// (`TCPAckCompressed`).
    pub ack_compressed: u64,
    /// Duplicate data segments received (`TCPPureAcks`-like; `DelayedACKLost` in Linux).
    pub duplicate_data: u64,
    /// Segments that failed the RFC 9293 §3.10.7.4 acceptability test.
    pub out_of_window: u64,
    /// Of those, segments that started or ended beyond the right edge of the window and were
    /// dropped whole (`BeyondWindow`, Linux 6.17 and later).
    pub beyond_window: u64,
    /// In-order data dropped because the window was closed (`TCPZeroWindowDrop`).
    pub zero_window_drops: u64,
    /// RSTs ignored because their sequence number was not acceptable (RFC 5961 §3).
    pub rst_ignored: u64,
    /// Challenge ACKs sent (RFC 5961; `TCPChallengeACK`).
    pub challenge_acks: u64,
    /// Retransmission timeouts that fired (`TCPTimeouts`).
    pub timeouts: u64,
    /// Fast recoveries entered (`TCPSackRecovery` + `TCPRenoRecovery`).
    pub fast_recoveries: u64,
    /// ACKs on which loss detection found newly lost segments.
    pub lost_segments_detected: u64,
    /// D-SACK blocks received (`TCPDSACKRecv`).
    pub dsacks_received: u64,
    /// D-SACK blocks sent (`TCPDSACKOldSent`).
    pub dsacks_sent: u64,
    /// Recoveries found spurious and undone (`TCPFullUndo` + `TCPDSACKUndo`).
    pub spurious_recoveries_undone: u64,
    /// Retransmission timeouts F-RTO found spurious (`TCPSpuriousRTOs`); each is also counted in
    /// `spurious_recoveries_undone`.
    pub spurious_rtos: u64,
    /// Of `spurious_recoveries_undone`, those that undid a retransmission timeout, by F-RTO,
    /// Eifel or D-SACK (`TCPLossUndo` + `TCPSpuriousRTOs`). A timeout can be spurious under loss
    /// alone, when the ACKs that would have stopped it were lost.
    pub rto_recoveries_undone: u64,
    /// Keepalive probes sent (`TCPKeepAlive`).
    pub keepalive_probes: u64,
    /// Segments dropped by PAWS (`PAWSEstabRejected`).
    pub paws_rejected: u64,
    /// Bare ACKs dropped by PAWS without an answer, overtaken by newer segments (`PAWSOldAck`).
    pub paws_old_acks: u64,
    /// Third segments of a handshake whose TSecr echoed no TSval of our SYN+ACKs, dropped with
    /// an ACK (`TSEcrRejected`, Linux 6.15 and later).
    pub tsecr_rejected: u64,
    /// ACKs not sent in reply to out-of-window or PAWS-rejected segments, held back by
    /// `Config::invalid_ratelimit` (`TCPACKSkippedSeq`, `TCPACKSkippedPAWS`,
    /// `TCPACKSkippedTimeWait`).
    pub oow_acks_skipped: u64,
    /// Tail loss probes sent (`TCPLossProbes`).
    pub loss_probes: u64,
    /// ICMP and ICMPv6 messages received (`IcmpInMsgs`).
    pub icmp_in_msgs: u64,
    /// ICMP messages with a bad checksum or header (`IcmpInErrors`).
    pub icmp_in_errors: u64,
    /// Echo requests received (`IcmpInEchos`).
    pub icmp_in_echos: u64,
    /// Echo replies sent (`IcmpOutEchoReps`).
    pub icmp_out_echo_reps: u64,
    /// Destination-unreachable messages received (`IcmpInDestUnreachs`).
    pub icmp_in_dest_unreachs: u64,
    /// Time-exceeded messages received (`IcmpInTimeExcds`).
    pub icmp_in_time_excds: u64,
    /// Fragmentation-needed / packet-too-big messages that lowered a path MTU.
    pub pmtu_updates: u64,
    /// ICMP errors ignored: for no connection of ours, or failing the RFC 5927 checks
    /// (`OutOfWindowIcmps`).
    pub icmp_ignored: u64,
}
