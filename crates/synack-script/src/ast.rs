//! The parsed form of a script (packetdrill `script.h`, `packet.h`, `tcp_options.h`): header
//! options, then events, each with a time and an action — a packet to inject (`<`) or expect
//! (`>`), a system call, a shell command or a code block.

/// How an event's time is given (packetdrill `enum event_time_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeType {
    /// `1.5`: seconds since the script started.
    Absolute,
    /// `+0.1`: seconds since the previous event.
    Relative,
    /// `*`: any time (outbound packets only).
    Any,
    /// `1~2`: a range of absolute times (outbound packets only).
    AbsoluteRange,
    /// `+1~+2`: a range of relative times (outbound packets only).
    RelativeRange,
}

/// A script: its options and its events.
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// `--name=value` header options, with their line.
    pub options: Vec<(String, Option<String>, u32)>,
    /// Events in script order.
    pub events: Vec<Event>,
    /// Backquoted commands outside events (init and cleanup), with their line.
    pub commands: Vec<(String, u32)>,
}

/// One line of the script.
#[derive(Clone, Debug)]
pub struct Event {
    /// The line of the event's time.
    pub line: u32,
    /// How the time is given.
    pub time_type: TimeType,
    /// Start time in microseconds (as written; relative times are resolved when run).
    pub time_usecs: i64,
    /// End of a time range in microseconds.
    pub time_end_usecs: Option<i64>,
    /// What happens.
    pub action: Action,
}

/// What an event does.
#[derive(Clone, Debug)]
pub enum Action {
    /// A TCP packet to inject or expect.
    Packet(PacketSpec),
    /// A system call.
    Syscall(SyscallSpec),
    /// A backquoted shell command (ignored: it configures Linux).
    Command(String),
    /// A `%{ ... }%` code block (unsupported).
    Code(String),
}

/// Packet direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `<`: injected into the engine.
    Inbound,
    /// `>`: expected from the engine.
    Outbound,
}

/// One TCP option as written in a script, kept in script order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOpt {
    /// `eol`
    Eol,
    /// `nop`
    Nop,
    /// `mss N`
    Mss(u16),
    /// `wscale N`
    WScale(u8),
    /// `sackOK`
    SackOk,
    /// `sack a:b c:d ...`
    Sack(Vec<(u32, u32)>),
    /// `TS val V ecr E`
    Timestamp {
        /// TSval.
        val: u32,
        /// TSecr.
        ecr: u32,
    },
    /// Any other option given as raw bytes (kind, length, data): `md5`, `FO`, `FOEXP`.
    Raw(Vec<u8>),
}

/// A TCP packet line (packetdrill `tcp_packet_spec`).
#[derive(Clone, Debug)]
pub struct PacketSpec {
    /// `<` or `>`.
    pub direction: Direction,
    /// Explicit `src>dst` ports, when given.
    pub ports: Option<(u16, u16)>,
    /// Flag characters as written (`S.`, `P.`, `F.`, `R`, `.`, `SEW`, ...).
    pub flags: String,
    /// Start sequence number.
    pub seq: u32,
    /// Payload length.
    pub len: u16,
    /// `ack N` (0 when absent).
    pub ack: u32,
    /// `win N`; `None` means "not checked" for outbound packets.
    pub win: Option<u16>,
    /// `urg N`.
    pub urg: u16,
    /// `<...>` options; `None` is the `<...>` wildcard.
    pub options: Option<Vec<TcpOpt>>,
}

/// A system call line (packetdrill `syscall_spec`).
#[derive(Clone, Debug)]
pub struct SyscallSpec {
    /// `...end`: the call blocks until this time (microseconds, as written).
    pub end_usecs: Option<i64>,
    /// Function name.
    pub name: String,
    /// Arguments.
    pub args: Vec<Expr>,
    /// Expected return value.
    pub result: Expr,
    /// Expected errno name (`= -1 EAGAIN (...)`).
    pub errno: Option<String>,
    /// The note in parentheses, if any.
    pub note: Option<String>,
}

/// A syscall argument or result expression (packetdrill `struct expression`).
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `...`: any value.
    Ellipsis,
    /// An integer.
    Int(i64),
    /// A symbol such as `SOCK_STREAM`.
    Word(String),
    /// A string; `true` when followed by `...` (a prefix).
    Str(String, bool),
    /// `a | b`
    Or(Box<Expr>, Box<Expr>),
    /// `name=value`, as in `{fd=4, events=POLLIN}`.
    Assign(String, Box<Expr>),
    /// `[a, b]`
    List(Vec<Expr>),
    /// `{a, b}`
    Struct(Vec<Expr>),
    /// `f(args)`, such as `htons(8080)` or `inet_addr("1.2.3.4")`.
    Call(String, Vec<Expr>),
}
