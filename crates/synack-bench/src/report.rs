//! What the benchmarks share for their reports: byte counts in and out, and the few JSON
//! pieces of the `--json` lines (no serde: the lines are flat).

use std::fmt::Write as _;

/// Parses a byte count: `65536`, `64k`, `8M`, `1G` (powers of 1024). `flag` names the option
/// in the error message.
pub(crate) fn parse_bytes(flag: &str, text: &str) -> Result<u64, String> {
    let bad = || format!("{flag} must be a byte count such as 65536, 64k, 8M or 1G (got {text})");
    let t = text.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(end);
    let shift = match unit {
        "" | "B" => 0,
        "k" | "K" | "KiB" | "KB" | "kB" => 10,
        "m" | "M" | "MiB" | "MB" => 20,
        "g" | "G" | "GiB" | "GB" => 30,
        _ => return Err(bad()),
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    let bytes = (v * (1u64 << shift) as f64).round();
    if !bytes.is_finite() || bytes < 1.0 || bytes > (1u64 << 40) as f64 {
        return Err(format!(
            "{flag} must be between 1 and 1T bytes (got {text})"
        ));
    }
    Ok(bytes as u64)
}

/// A byte count in the largest binary unit it reaches: `256 MiB`.
pub(crate) fn fmt_bytes(n: u64) -> String {
    for (size, unit) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if n >= size {
            return format!("{} {unit}", json_f64(n as f64 / size as f64));
        }
    }
    format!("{n} B")
}

/// A number for JSON: at most four decimals, trailing zeros dropped, `null` if not finite.
pub(crate) fn json_f64(v: f64) -> String {
    if v.is_finite() {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s.is_empty() || s == "-" || s == "-0" {
            "0".into()
        } else {
            s.into()
        }
    } else {
        "null".into()
    }
}

/// A JSON array of numbers.
pub(crate) fn json_list(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| json_f64(*x)).collect();
    format!("[{}]", items.join(","))
}

/// A JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON array of strings.
pub(crate) fn json_str_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| json_str(s)).collect();
    format!("[{}]", items.join(","))
}
