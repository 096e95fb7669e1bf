//! The grammar of packetdrill's script language (packetdrill `parser.y`), as a recursive-descent
//! parser over the tokens of [`crate::lexer`].
//!
//! Implemented: header options; init and cleanup commands; events with times `0`, `+0.1`, `*`,
//! `a~b`, `+a~+b`; TCP packet lines (`<`/`>`, optional `src>dst` ports, flags, `start:end(len)`,
//! `ack`, `win`, `urg`, options `nop`, `eol`, `mss`, `wscale`, `sackOK`, `sack a:b ...`,
//! `TS val V ecr E`, `md5`, `FO`, `FOEXP`, and the `<...>` wildcard); system calls with blocking
//! end times `...T`, arguments (integers, symbols, strings, `[lists]`, `{structs}`, `f(args)`,
//! `a|b`, `name=value`, `...`), results with `ERRNO (note)`; backquoted commands; `%{ }%` code.
//!
//! Not implemented (a clear parse error names the line): UDP and ICMP packets, IP-level
//! annotations (`[ect0]`, `(tos ...)`, `ttl`, `flowlabel`), encapsulation (`ipv4 a > b:`, GRE,
//! MPLS) and fuzzing annotations.

use crate::ast::*;
use crate::lexer::{tokenize, Tok, Token};
use crate::ParseError;

/// Parses a whole script.
pub fn parse(text: &str) -> Result<Script, ParseError> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        toks: tokens,
        pos: 0,
        last_line: 1,
    };
    p.script()
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    last_line: u32,
}

type PResult<T> = Result<T, ParseError>;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|t| &t.tok)
    }

    fn line(&self) -> u32 {
        self.toks
            .get(self.pos)
            .map(|t| t.line)
            .unwrap_or(self.last_line)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos)?.clone();
        self.last_line = t.line;
        self.pos += 1;
        Some(t.tok)
    }

    fn err<T>(&self, message: impl Into<String>) -> PResult<T> {
        Err(ParseError {
            line: self.line(),
            message: message.into(),
        })
    }

    fn unexpected<T>(&self, wanted: &str) -> PResult<T> {
        match self.peek() {
            Some(t) => self.err(format!(
                "parse error at '{}': expected {wanted}",
                t.describe()
            )),
            None => self.err(format!("unexpected end of script: expected {wanted}")),
        }
    }

    fn is_punct(&self, c: char) -> bool {
        self.peek() == Some(&Tok::Punct(c))
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn expect_punct(&mut self, c: char) -> PResult<()> {
        if self.is_punct(c) {
            self.pos += 1;
            Ok(())
        } else {
            self.unexpected(&format!("'{c}'"))
        }
    }

    fn expect_word(&mut self, w: &str) -> PResult<()> {
        if self.is_word(w) {
            self.pos += 1;
            Ok(())
        } else {
            self.unexpected(&format!("'{w}'"))
        }
    }

    fn integer(&mut self, what: &str) -> PResult<i64> {
        match self.peek() {
            Some(Tok::Int(v)) | Some(Tok::Hex(v)) => {
                let v = *v;
                self.pos += 1;
                Ok(v)
            }
            _ => self.unexpected(what),
        }
    }

    fn bounded(&mut self, what: &str, max: i64) -> PResult<i64> {
        let line = self.line();
        let v = self.integer(what)?;
        if !(0..=max).contains(&v) {
            return Err(ParseError {
                line,
                message: format!("{what} out of range: {v}"),
            });
        }
        Ok(v)
    }

    fn script(&mut self) -> PResult<Script> {
        let mut script = Script::default();
        while let Some(Tok::Opt(name, value)) = self.peek() {
            let (name, value) = (name.clone(), value.clone());
            script.options.push((name, value, self.line()));
            self.pos += 1;
        }
        while self.peek().is_some() {
            if let Some(Tok::BackQuoted(cmd)) = self.peek() {
                let cmd = cmd.clone();
                script.commands.push((cmd, self.line()));
                self.pos += 1;
                continue;
            }
            if let Some(Tok::Opt(name, _)) = self.peek() {
                let name = name.clone();
                return self.err(format!("option --{name} must come before the first event"));
            }
            let ev = self.event()?;
            script.events.push(ev);
        }
        Ok(script)
    }

    /// A time in microseconds: an integer or a float number of seconds.
    fn time(&mut self) -> PResult<i64> {
        let line = self.line();
        match self.peek().cloned() {
            Some(Tok::Int(v)) => {
                self.pos += 1;
                if v < 0 {
                    return Err(ParseError {
                        line,
                        message: "negative time".into(),
                    });
                }
                v.checked_mul(1_000_000).ok_or(ParseError {
                    line,
                    message: "time too large".into(),
                })
            }
            Some(Tok::Float(s)) => {
                self.pos += 1;
                float_secs_to_usecs(&s).ok_or(ParseError {
                    line,
                    message: format!("bad time: {s}"),
                })
            }
            _ => self.unexpected("a time"),
        }
    }

    fn event(&mut self) -> PResult<Event> {
        let line = self.line();
        let (time_type, time_usecs, time_end_usecs) = if self.is_punct('*') {
            self.pos += 1;
            (TimeType::Any, 0, None)
        } else if self.is_punct('+') {
            self.pos += 1;
            let t = self.time()?;
            if self.is_punct('~') {
                self.pos += 1;
                self.expect_punct('+')?;
                let e = self.time()?;
                (TimeType::RelativeRange, t, Some(e))
            } else {
                (TimeType::Relative, t, None)
            }
        } else if matches!(self.peek(), Some(Tok::Int(_)) | Some(Tok::Float(_))) {
            let t = self.time()?;
            if self.is_punct('~') {
                self.pos += 1;
                let e = self.time()?;
                (TimeType::AbsoluteRange, t, Some(e))
            } else {
                (TimeType::Absolute, t, None)
            }
        } else {
            return self.unexpected("an event time (0, +0.1, *, a~b)");
        };
        if let Some(end) = time_end_usecs {
            if end < time_usecs {
                return Err(ParseError {
                    line,
                    message: "semantic error: time range is backwards".into(),
                });
            }
        }
        let action = match self.peek().cloned() {
            Some(Tok::Punct('<')) | Some(Tok::Punct('>')) => Action::Packet(self.packet()?),
            Some(Tok::BackQuoted(cmd)) => {
                self.pos += 1;
                Action::Command(cmd)
            }
            Some(Tok::Code(code)) => {
                self.pos += 1;
                Action::Code(code)
            }
            Some(Tok::Ellipsis) | Some(Tok::Word(_)) => Action::Syscall(self.syscall()?),
            _ => return self.unexpected("a packet, a system call, a command or a code block"),
        };
        let outbound = matches!(&action, Action::Packet(p) if p.direction == Direction::Outbound);
        if time_type == TimeType::Any && !outbound {
            return Err(ParseError {
                line,
                message: "semantic error: event time <star> can only be used with outbound packets"
                    .into(),
            });
        }
        if matches!(time_type, TimeType::AbsoluteRange | TimeType::RelativeRange) && !outbound {
            return Err(ParseError {
                line,
                message: "semantic error: event time range can only be used with outbound packets"
                    .into(),
            });
        }
        Ok(Event {
            line,
            time_type,
            time_usecs,
            time_end_usecs,
            action,
        })
    }

    fn packet(&mut self) -> PResult<PacketSpec> {
        let direction = match self.next() {
            Some(Tok::Punct('<')) => Direction::Inbound,
            _ => Direction::Outbound,
        };
        if self.is_punct('[') || self.is_punct('(') {
            return self
                .err("IP-level annotations ([ect0], (tos ...), ttl, flowlabel) are not supported");
        }
        for w in ["udp", "icmp", "ipv4", "ipv6", "gre", "GREv0", "mpls"] {
            if self.is_word(w) {
                return self.err(format!(
                    "'{w}' packets are not supported: only TCP packet lines are"
                ));
            }
        }
        let mut ports = None;
        if matches!(self.peek(), Some(Tok::Int(_))) && self.peek_at(1) == Some(&Tok::Punct('>')) {
            let src = self.bounded("src port", 0xffff)? as u16;
            self.expect_punct('>')?;
            let dst = self.bounded("dst port", 0xffff)? as u16;
            ports = Some((src, dst));
        }
        // Flags.
        let flags = match self.peek().cloned() {
            Some(Tok::Punct('.')) => {
                self.pos += 1;
                ".".to_string()
            }
            Some(Tok::Punct('-')) => {
                self.pos += 1;
                String::new()
            }
            Some(Tok::Float(f)) if f.starts_with('.') => {
                self.pos += 1;
                f
            }
            Some(Tok::Word(w)) => {
                self.pos += 1;
                let mut f = w;
                if self.is_punct('.') {
                    self.pos += 1;
                    f.push('.');
                } else if let Some(Tok::Float(x)) = self.peek().cloned() {
                    if x.starts_with('.') {
                        self.pos += 1;
                        f.push_str(&x);
                    }
                }
                f
            }
            _ => return self.unexpected("TCP flags (S, S., ., P., F., R, R., -)"),
        };
        for c in flags.chars() {
            if !".FSRPEWAU01234567".contains(c) {
                return self.err(format!("Invalid TCP flag: '{c}'"));
            }
        }
        let line = self.line();
        let start = self.bounded("TCP start sequence number", u32::MAX as i64)?;
        self.expect_punct(':')?;
        let end = self.bounded("TCP end sequence number", u32::MAX as i64)?;
        self.expect_punct('(')?;
        let len = self.bounded("TCP payload size", 0xffff)?;
        self.expect_punct(')')?;
        if end != start + len {
            return Err(ParseError {
                line,
                message: "semantic error: inconsistent TCP sequence numbers and payload size"
                    .into(),
            });
        }
        let mut ack = 0;
        if self.is_word("ack") {
            self.pos += 1;
            ack = self.bounded("TCP ack sequence number", u32::MAX as i64)? as u32;
        }
        let mut win = None;
        if self.is_word("win") {
            self.pos += 1;
            win = Some(self.bounded("TCP window value", 0xffff)? as u16);
        }
        let mut urg = 0;
        if self.is_word("urg") {
            self.pos += 1;
            urg = self.bounded("urg_ptr value", 0xffff)? as u16;
        }
        let mut options = Some(Vec::new());
        if self.is_punct('<') {
            self.pos += 1;
            if matches!(self.peek(), Some(Tok::Ellipsis)) {
                self.pos += 1;
                options = None;
            } else {
                let mut list = Vec::new();
                loop {
                    list.push(self.tcp_option()?);
                    if self.is_punct(',') {
                        self.pos += 1;
                        continue;
                    }
                    break;
                }
                options = Some(list);
            }
            self.expect_punct('>')?;
        }
        if self.is_punct('{') {
            return self.err("fuzzing annotations {mut ...} are not supported");
        }
        if direction == Direction::Inbound && win.is_none() {
            return self.err("semantic error: window must be specified for inbound packets");
        }
        if direction == Direction::Inbound && options.is_none() {
            return self.err(
                "semantic error: <...> for TCP options can only be used with outbound packets",
            );
        }
        if let Some(list) = &options {
            let bytes: usize = list.iter().map(crate::packet::option_len).sum();
            if bytes % 4 != 0 {
                return self.err(format!(
                    "semantic error: TCP options are not padded correctly to ensure TCP header \
                     is a multiple of 4 bytes: {} excess bytes",
                    bytes % 4
                ));
            }
            if bytes > 40 {
                return self.err("semantic error: TCP option list too long");
            }
        }
        Ok(PacketSpec {
            direction,
            ports,
            flags,
            seq: start as u32,
            len: len as u16,
            ack,
            win,
            urg,
            options,
        })
    }

    fn hex_blob(&mut self) -> Option<String> {
        match self.peek().cloned() {
            Some(Tok::Word(w)) => {
                self.pos += 1;
                Some(w)
            }
            Some(Tok::Int(v)) => {
                self.pos += 1;
                Some(v.to_string())
            }
            _ => None,
        }
    }

    fn tcp_option(&mut self) -> PResult<TcpOpt> {
        let line = self.line();
        let Some(Tok::Word(w)) = self.peek().cloned() else {
            return self.unexpected("a TCP option");
        };
        self.pos += 1;
        let hex = |s: &str, line: u32| -> PResult<Vec<u8>> {
            if s.len() % 2 != 0 {
                return Err(ParseError {
                    line,
                    message: "hex string has an odd number of digits".into(),
                });
            }
            (0..s.len())
                .step_by(2)
                .map(|i| {
                    u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| ParseError {
                        line,
                        message: format!("'{s}' is not a valid hex string"),
                    })
                })
                .collect()
        };
        Ok(match w.as_str() {
            "nop" => TcpOpt::Nop,
            "eol" => TcpOpt::Eol,
            "mss" => TcpOpt::Mss(self.bounded("mss value", 0xffff)? as u16),
            "wscale" => TcpOpt::WScale(self.bounded("window scale shift count", 0xff)? as u8),
            "sackOK" => TcpOpt::SackOk,
            "sack" => {
                let mut blocks = Vec::new();
                while matches!(self.peek(), Some(Tok::Int(_))) {
                    let l = self.bounded("TCP SACK left sequence number", u32::MAX as i64)?;
                    self.expect_punct(':')?;
                    let r = self.bounded("TCP SACK right sequence number", u32::MAX as i64)?;
                    blocks.push((l as u32, r as u32));
                }
                if blocks.is_empty() {
                    return self.unexpected("a SACK block a:b");
                }
                if blocks.len() > 4 {
                    return self.err("too many SACK blocks (at most 4)");
                }
                TcpOpt::Sack(blocks)
            }
            "TS" => {
                self.expect_word("val")?;
                let val = self.bounded("ts val", u32::MAX as i64)? as u32;
                self.expect_word("ecr")?;
                let ecr = self.bounded("ecr val", u32::MAX as i64)? as u32;
                TcpOpt::Timestamp { val, ecr }
            }
            "md5" => {
                let blob = self.hex_blob().unwrap_or_default();
                let digest = hex(&blob, line)?;
                if digest.len() > 16 {
                    return Err(ParseError {
                        line,
                        message: "TCP MD5 digest longer than 16 bytes".into(),
                    });
                }
                let mut raw = vec![19, 18];
                raw.extend(digest);
                raw.resize(18, 0);
                TcpOpt::Raw(raw)
            }
            "FO" | "FOEXP" => {
                let blob = if matches!(self.peek(), Some(Tok::Word(_)) | Some(Tok::Int(_))) {
                    self.hex_blob().unwrap_or_default()
                } else {
                    String::new()
                };
                let cookie = hex(&blob, line)?;
                if cookie.len() > 16 {
                    return Err(ParseError {
                        line,
                        message: "TCP fast open cookie too long".into(),
                    });
                }
                let raw = if w == "FO" {
                    let mut r = vec![34, (2 + cookie.len()) as u8];
                    r.extend(cookie);
                    r
                } else {
                    let mut r = vec![254, (4 + cookie.len()) as u8, 0xf9, 0x89];
                    r.extend(cookie);
                    r
                };
                TcpOpt::Raw(raw)
            }
            other => {
                return Err(ParseError {
                    line,
                    message: format!("parse error at '{other}': unknown TCP option"),
                })
            }
        })
    }

    fn syscall(&mut self) -> PResult<SyscallSpec> {
        let mut end_usecs = None;
        if matches!(self.peek(), Some(Tok::Ellipsis)) {
            self.pos += 1;
            end_usecs = Some(self.time()?);
        }
        let Some(Tok::Word(name)) = self.peek().cloned() else {
            return self.unexpected("a system call name");
        };
        self.pos += 1;
        self.expect_punct('(')?;
        let args = self.expr_list_until(')')?;
        self.expect_punct(')')?;
        self.expect_punct('=')?;
        let result = self.expr()?;
        let mut errno = None;
        let mut note = None;
        if let Some(Tok::Word(w)) = self.peek().cloned() {
            self.pos += 1;
            errno = Some(w);
            if !self.is_punct('(') {
                return self.unexpected("'(' and an error description after the errno name");
            }
        }
        if self.is_punct('(') {
            note = Some(self.note()?);
        }
        Ok(SyscallSpec {
            end_usecs,
            name,
            args,
            result,
            errno,
            note,
        })
    }

    /// `( words ... )`: free text up to the matching parenthesis.
    fn note(&mut self) -> PResult<String> {
        self.expect_punct('(')?;
        let mut words = Vec::new();
        let mut depth = 0;
        loop {
            match self.next() {
                None => return self.err("unterminated note: missing ')'"),
                Some(Tok::Punct(')')) if depth == 0 => break,
                Some(Tok::Punct(')')) => {
                    depth -= 1;
                    words.push(")".to_string());
                }
                Some(Tok::Punct('(')) => {
                    depth += 1;
                    words.push("(".to_string());
                }
                Some(t) => words.push(t.describe()),
            }
        }
        Ok(words.join(" "))
    }

    fn expr_list_until(&mut self, close: char) -> PResult<Vec<Expr>> {
        let mut list = Vec::new();
        if self.is_punct(close) {
            return Ok(list);
        }
        loop {
            list.push(self.expr()?);
            if self.is_punct(',') {
                self.pos += 1;
                continue;
            }
            break;
        }
        Ok(list)
    }

    fn expr(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        while self.is_punct('|') {
            self.pos += 1;
            let rhs = self.primary()?;
            e = Expr::Or(Box::new(e), Box::new(rhs));
        }
        Ok(e)
    }

    fn primary(&mut self) -> PResult<Expr> {
        match self.peek().cloned() {
            Some(Tok::Ellipsis) => {
                self.pos += 1;
                Ok(Expr::Ellipsis)
            }
            Some(Tok::Int(v)) | Some(Tok::Hex(v)) => {
                self.pos += 1;
                Ok(Expr::Int(v))
            }
            Some(Tok::Str(s)) => {
                self.pos += 1;
                let mut s = s;
                while let Some(Tok::Str(more)) = self.peek().cloned() {
                    self.pos += 1;
                    s.push_str(&more);
                }
                let mut prefix = false;
                if matches!(self.peek(), Some(Tok::Ellipsis)) {
                    self.pos += 1;
                    prefix = true;
                }
                Ok(Expr::Str(s, prefix))
            }
            Some(Tok::Punct('[')) => {
                self.pos += 1;
                let list = self.expr_list_until(']')?;
                self.expect_punct(']')?;
                Ok(Expr::List(list))
            }
            Some(Tok::Punct('{')) => {
                self.pos += 1;
                let list = self.expr_list_until('}')?;
                self.expect_punct('}')?;
                Ok(Expr::Struct(list))
            }
            Some(Tok::Word(w)) => {
                self.pos += 1;
                let mut e = Expr::Word(w.clone());
                if self.is_punct('(') {
                    self.pos += 1;
                    let args = self.expr_list_until(')')?;
                    self.expect_punct(')')?;
                    e = Expr::Call(w.clone(), args);
                }
                if self.is_punct('=') {
                    self.pos += 1;
                    let v = self.expr()?;
                    return Ok(Expr::Assign(w, Box::new(v)));
                }
                Ok(e)
            }
            _ => self.unexpected("an expression"),
        }
    }
}

/// Converts a decimal number of seconds ("0.1", ".25", "-1.5") to microseconds exactly.
fn float_secs_to_usecs(s: &str) -> Option<i64> {
    if s.starts_with('-') {
        return None;
    }
    let (int_part, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = if int_part.is_empty() {
        0
    } else {
        int_part.parse().ok()?
    };
    let mut frac_digits: String = frac.chars().take(6).collect();
    while frac_digits.len() < 6 {
        frac_digits.push('0');
    }
    let micros: i64 = frac_digits.parse().ok()?;
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_handshake() {
        let s = parse(
            "--tolerance_usecs=10000\n\
             0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
             +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
             +0 bind(3, ..., ...) = 0\n\
             +0 listen(3, 1) = 0\n\
             +0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n\
             +0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 7>\n\
             +.1 < . 1:1(0) ack 1 win 257\n\
             +0...0.2 accept(3, ..., ...) = 4\n\
             * > P. 1:1001(1000) ack 1 <...>\n\
             +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n\
             `cleanup`\n",
        )
        .unwrap();
        assert_eq!(s.options.len(), 1);
        assert_eq!(s.events.len(), 10);
        assert_eq!(s.commands.len(), 1);
        let Action::Packet(p) = &s.events[4].action else {
            panic!()
        };
        assert_eq!(p.direction, Direction::Inbound);
        assert_eq!(p.flags, "S");
        assert_eq!(p.win, Some(32792));
        assert_eq!(p.options.as_ref().unwrap().len(), 6);
        let Action::Packet(p) = &s.events[5].action else {
            panic!()
        };
        assert_eq!(p.flags, "S.");
        assert_eq!(p.ack, 1);
        assert_eq!(p.win, None);
        assert_eq!(s.events[6].time_type, TimeType::Relative);
        assert_eq!(s.events[6].time_usecs, 100_000);
        let Action::Syscall(c) = &s.events[7].action else {
            panic!()
        };
        assert_eq!(c.end_usecs, Some(200_000));
        assert_eq!(c.name, "accept");
        assert_eq!(s.events[8].time_type, TimeType::Any);
        let Action::Packet(p) = &s.events[8].action else {
            panic!()
        };
        assert!(p.options.is_none());
        let Action::Syscall(c) = &s.events[9].action else {
            panic!()
        };
        assert_eq!(c.result, Expr::Int(-1));
        assert_eq!(c.errno.as_deref(), Some("EINPROGRESS"));
        assert_eq!(c.note.as_deref(), Some("Operation now in progress"));
    }

    #[test]
    fn parses_ranges_sack_ts_and_structs() {
        let s = parse(
            "0 < . 1:1(0) ack 1 win 257 <nop,nop,TS val 100 ecr 200,nop,nop,sack 1001:2001 3001:4001>\n\
             1~2 > . 1:1(0) ack 1\n\
             +1~+2 > F. 1:1(0) ack 1\n\
             +0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n\
             +0 poll([{fd=4, events=POLLIN|POLLOUT, revents=POLLOUT}], 1, 0) = 1\n",
        )
        .unwrap();
        let Action::Packet(p) = &s.events[0].action else {
            panic!()
        };
        let o = p.options.as_ref().unwrap();
        assert_eq!(o[2], TcpOpt::Timestamp { val: 100, ecr: 200 });
        assert_eq!(o[5], TcpOpt::Sack(vec![(1001, 2001), (3001, 4001)]));
        assert_eq!(s.events[1].time_type, TimeType::AbsoluteRange);
        assert_eq!(s.events[1].time_end_usecs, Some(2_000_000));
        assert_eq!(s.events[2].time_type, TimeType::RelativeRange);
        let Action::Syscall(c) = &s.events[3].action else {
            panic!()
        };
        assert_eq!(
            c.args[3],
            Expr::Struct(vec![
                Expr::Assign("onoff".into(), Box::new(Expr::Int(1))),
                Expr::Assign("linger".into(), Box::new(Expr::Int(0)))
            ])
        );
    }

    #[test]
    fn errors_carry_line_numbers() {
        let e = parse("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(0)\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("window must be specified"), "{e}");
        let e = parse("0 socket(\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = parse("\n\n0 > S 0:10(0)\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("inconsistent"), "{e}");
        let e = parse("0 > S 0:0(0) <mss 1460,nop>\n").unwrap_err();
        assert!(e.message.contains("padded"), "{e}");
        let e = parse("0 < S 0:0(0) win 100 <...>\n").unwrap_err();
        assert!(e.message.contains("<...>"), "{e}");
        let e = parse("* write(3, ..., 10) = 10\n").unwrap_err();
        assert!(e.message.contains("star"), "{e}");
        let e = parse("0 > Z 0:0(0)\n").unwrap_err();
        assert!(e.message.contains("Invalid TCP flag"), "{e}");
        let e = parse("2~1 > S 0:0(0)\n").unwrap_err();
        assert!(e.message.contains("backwards"), "{e}");
    }

    #[test]
    fn times_convert_exactly() {
        assert_eq!(float_secs_to_usecs("0.1"), Some(100_000));
        assert_eq!(float_secs_to_usecs(".25"), Some(250_000));
        assert_eq!(float_secs_to_usecs("4.1"), Some(4_100_000));
        assert_eq!(float_secs_to_usecs("1.0000009"), Some(1_000_000));
    }
}
