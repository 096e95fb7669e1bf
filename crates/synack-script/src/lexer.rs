//! The lexical scanner of packetdrill's script language (packetdrill `lexer.l`).
//!
//! Implemented: `//` and `/* */` comments, `--name[=value]` header options, decimal, hexadecimal
//! and floating-point numbers (a leading `-` belongs to the number), words, `"strings"`,
//! `` `backquoted commands` ``, `%{ code }%` blocks, dotted IPv4 addresses, the `...` ellipsis
//! and single punctuation characters. Every token carries the line it starts on.
//!
//! Where flex would pick the longest match, the scanner does the same by hand: `0...0.2` is the
//! integer `0`, an ellipsis and the float `0.2`; `1:1001(1000)` is integer, `:`, integer, ...

use crate::ParseError;

/// One token of a script.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A decimal integer (possibly negative).
    Int(i64),
    /// A hexadecimal integer `0x...`.
    Hex(i64),
    /// A floating-point number, kept as its text so that times convert exactly.
    Float(String),
    /// A word: letters, digits and `_` (keywords such as `ack` or `mss` are words too).
    Word(String),
    /// A double-quoted string, escapes resolved.
    Str(String),
    /// A backquoted shell command, without the quotes.
    BackQuoted(String),
    /// A `%{ ... }%` code block, without the delimiters.
    Code(String),
    /// A header option `--name`, with its `=value` when one follows.
    Opt(String, Option<String>),
    /// A dotted IPv4 address.
    Ipv4(String),
    /// `...`
    Ellipsis,
    /// Any other single character.
    Punct(char),
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Int(v) => v.to_string(),
            Tok::Hex(v) => format!("{v:#x}"),
            Tok::Float(s) | Tok::Word(s) | Tok::Ipv4(s) => s.clone(),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::BackQuoted(s) => format!("`{s}`"),
            Tok::Code(_) => "%{ ... }%".to_string(),
            Tok::Opt(n, _) => format!("--{n}"),
            Tok::Ellipsis => "...".to_string(),
            Tok::Punct(c) => c.to_string(),
        }
    }
}

/// A token and the line it starts on (1-based).
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Line number, counting from 1.
    pub line: u32,
}

/// Splits a script into tokens.
pub fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let b = text.as_bytes();
    let mut i = 0usize;
    let mut line = 1u32;
    let mut out = Vec::new();
    let err = |line: u32, message: String| ParseError { line, message };
    while i < b.len() {
        let c = b[i];
        if c == b'\n' {
            line += 1;
            i += 1;
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start_line = line;
        // Comments.
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut j = i + 2;
            loop {
                if j + 1 >= b.len() {
                    return Err(err(start_line, "unterminated /* comment".into()));
                }
                if b[j] == b'*' && b[j + 1] == b'/' {
                    break;
                }
                if b[j] == b'\n' {
                    line += 1;
                }
                j += 1;
            }
            i = j + 2;
            continue;
        }
        // Code blocks %{ ... }%.
        if c == b'%' && b.get(i + 1) == Some(&b'{') {
            let mut j = i + 2;
            loop {
                if j + 1 >= b.len() {
                    return Err(err(start_line, "unterminated %{ code block".into()));
                }
                if b[j] == b'}' && b[j + 1] == b'%' {
                    break;
                }
                if b[j] == b'\n' {
                    line += 1;
                }
                j += 1;
            }
            let body = text[i + 2..j].trim_matches(|c| c == ' ' || c == '\t');
            out.push(Token {
                tok: Tok::Code(body.to_string()),
                line: start_line,
            });
            i = j + 2;
            continue;
        }
        // Options --name[=value]: the value runs to the next whitespace.
        if c == b'-'
            && b.get(i + 1) == Some(&b'-')
            && b.get(i + 2).is_some_and(|c| is_word_byte(*c))
        {
            let mut j = i + 2;
            while j < b.len() && is_word_byte(b[j]) {
                j += 1;
            }
            let name = text[i + 2..j].to_string();
            let mut value = None;
            if b.get(j) == Some(&b'=') {
                let mut k = j + 1;
                while k < b.len() && !b[k].is_ascii_whitespace() {
                    k += 1;
                }
                let v = &text[j + 1..k];
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                value = Some(v.to_string());
                j = k;
            }
            out.push(Token {
                tok: Tok::Opt(name, value),
                line: start_line,
            });
            i = j;
            continue;
        }
        // Strings and backquoted commands.
        if c == b'"' || c == b'`' {
            let mut j = i + 1;
            let mut s = String::new();
            loop {
                let Some(&d) = b.get(j) else {
                    let what = if c == b'"' {
                        "string"
                    } else {
                        "backquoted command"
                    };
                    return Err(err(start_line, format!("unterminated {what}")));
                };
                if d == c {
                    break;
                }
                if d == b'\n' {
                    line += 1;
                }
                if d == b'\\' && j + 1 < b.len() {
                    let e = b[j + 1];
                    if c == b'"' {
                        match e {
                            b'n' => s.push('\n'),
                            b't' => s.push('\t'),
                            b'0' => s.push('\0'),
                            _ => s.push(e as char),
                        }
                    } else {
                        s.push('\\');
                        s.push(e as char);
                    }
                    if e == b'\n' {
                        line += 1;
                    }
                    j += 2;
                    continue;
                }
                // Keep multi-byte characters intact.
                let ch_len = utf8_len(d);
                s.push_str(text.get(j..j + ch_len).unwrap_or("?"));
                j += ch_len;
            }
            let tok = if c == b'"' {
                Tok::Str(s)
            } else {
                Tok::BackQuoted(s)
            };
            out.push(Token {
                tok,
                line: start_line,
            });
            i = j + 1;
            continue;
        }
        // The ellipsis.
        if c == b'.' && b.get(i + 1) == Some(&b'.') && b.get(i + 2) == Some(&b'.') {
            out.push(Token {
                tok: Tok::Ellipsis,
                line: start_line,
            });
            i += 3;
            continue;
        }
        // Numbers (with an optional leading '-'), dotted IPv4 addresses, words.
        let neg = c == b'-';
        let num_start = if neg { i + 1 } else { i };
        let starts_number = b.get(num_start).is_some_and(|d| d.is_ascii_digit())
            || (b.get(num_start) == Some(&b'.')
                && b.get(num_start + 1).is_some_and(|d| d.is_ascii_digit()));
        if starts_number {
            // Longest of: IPv4 address, hex, float, integer, word.
            if !neg {
                if let Some(end) = match_ipv4(b, i) {
                    out.push(Token {
                        tok: Tok::Ipv4(text[i..end].to_string()),
                        line: start_line,
                    });
                    i = end;
                    continue;
                }
            }
            let mut j = num_start;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let int_end = j;
            // Hex: 0x...
            if !neg
                && int_end == num_start + 1
                && b[num_start] == b'0'
                && matches!(b.get(j), Some(b'x') | Some(b'X'))
                && b.get(j + 1).is_some_and(|d| d.is_ascii_hexdigit())
            {
                let mut k = j + 1;
                while k < b.len() && b[k].is_ascii_hexdigit() {
                    k += 1;
                }
                // A longer word wins (flex longest match).
                let mut w = k;
                while w < b.len() && is_word_byte(b[w]) {
                    w += 1;
                }
                if w > k {
                    out.push(Token {
                        tok: Tok::Word(text[i..w].to_string()),
                        line: start_line,
                    });
                    i = w;
                    continue;
                }
                let v = i64::from_str_radix(&text[j + 1..k], 16).map_err(|_| {
                    err(start_line, format!("hex number too large: {}", &text[i..k]))
                })?;
                out.push(Token {
                    tok: Tok::Hex(v),
                    line: start_line,
                });
                i = k;
                continue;
            }
            // Float: [0-9]*[.][0-9]+
            if b.get(j) == Some(&b'.') && b.get(j + 1).is_some_and(|d| d.is_ascii_digit()) {
                let mut k = j + 1;
                while k < b.len() && b[k].is_ascii_digit() {
                    k += 1;
                }
                out.push(Token {
                    tok: Tok::Float(text[i..k].to_string()),
                    line: start_line,
                });
                i = k;
                continue;
            }
            // A word that starts with digits (e.g. a hex blob) is longer than the integer.
            if !neg && j < b.len() && is_word_byte(b[j]) {
                let mut w = j;
                while w < b.len() && is_word_byte(b[w]) {
                    w += 1;
                }
                out.push(Token {
                    tok: Tok::Word(text[i..w].to_string()),
                    line: start_line,
                });
                i = w;
                continue;
            }
            let v: i64 = text[i..int_end].parse().map_err(|_| {
                err(
                    start_line,
                    format!("number too large: {}", &text[i..int_end]),
                )
            })?;
            out.push(Token {
                tok: Tok::Int(v),
                line: start_line,
            });
            i = int_end;
            continue;
        }
        if is_word_byte(c) {
            let mut j = i;
            while j < b.len() && is_word_byte(b[j]) {
                j += 1;
            }
            out.push(Token {
                tok: Tok::Word(text[i..j].to_string()),
                line: start_line,
            });
            i = j;
            continue;
        }
        let ch_len = utf8_len(c);
        let ch = text[i..].chars().next().unwrap_or('?');
        out.push(Token {
            tok: Tok::Punct(ch),
            line: start_line,
        });
        i += ch_len;
    }
    Ok(out)
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

/// The end of a dotted IPv4 address starting at `i`, if one starts there.
fn match_ipv4(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for part in 0..4 {
        let s = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        if j == s {
            return None;
        }
        if part < 3 {
            if b.get(j) != Some(&b'.') {
                return None;
            }
            j += 1;
        }
    }
    Some(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn blocking_time_splits_into_int_ellipsis_float() {
        assert_eq!(
            toks("+0...0.2"),
            vec![
                Tok::Punct('+'),
                Tok::Int(0),
                Tok::Ellipsis,
                Tok::Float("0.2".into())
            ]
        );
    }

    #[test]
    fn relative_float_before_ellipsis() {
        assert_eq!(
            toks("+.1...0.200"),
            vec![
                Tok::Punct('+'),
                Tok::Float(".1".into()),
                Tok::Ellipsis,
                Tok::Float("0.200".into())
            ]
        );
    }

    #[test]
    fn sequence_ranges_and_flags() {
        assert_eq!(
            toks("P. 1:1001(1000)"),
            vec![
                Tok::Word("P".into()),
                Tok::Punct('.'),
                Tok::Int(1),
                Tok::Punct(':'),
                Tok::Int(1001),
                Tok::Punct('('),
                Tok::Int(1000),
                Tok::Punct(')')
            ]
        );
        assert_eq!(toks("+.1"), vec![Tok::Punct('+'), Tok::Float(".1".into())]);
    }

    #[test]
    fn comments_and_lines() {
        let t = tokenize("// a\n/* b\n c */ x\n-1 0x10 192.0.2.1 --mss=1000").unwrap();
        assert_eq!(t[0].tok, Tok::Word("x".into()));
        assert_eq!(t[0].line, 3);
        assert_eq!(t[1].tok, Tok::Int(-1));
        assert_eq!(t[1].line, 4);
        assert_eq!(t[2].tok, Tok::Hex(16));
        assert_eq!(t[3].tok, Tok::Ipv4("192.0.2.1".into()));
        assert_eq!(t[4].tok, Tok::Opt("mss".into(), Some("1000".into())));
    }

    #[test]
    fn strings_commands_code() {
        assert_eq!(
            toks("\"a\\\"b\" `ls -l` %{ print(1) }%"),
            vec![
                Tok::Str("a\"b".into()),
                Tok::BackQuoted("ls -l".into()),
                Tok::Code("print(1)".into())
            ]
        );
        assert!(tokenize("\"abc").is_err());
        assert!(tokenize("/* abc").is_err());
    }
}
