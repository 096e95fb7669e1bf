//! The network namespace's TCP sysctls, read as the kernel the shared object stands in for reads
//! them.
//!
//! Where `/proc/sys` can be read, the settings start from the sysctls of the calling thread's
//! network namespace (the table below) rather than from the built-in defaults, so a script
//! meets the configuration the kernel would have given it. Explicit `--so_flags` keys come
//! next and win over those. Last, packetdrill runs a script's shell commands
//! (`` `sysctl -q net.ipv4.tcp_rmem=...` ``, packetdrill's `defaults.sh`, `set_sysctls.py`) for
//! real, after the shared object has started and before the script's first event, and Linux
//! reads the new values when the script's sockets are made. So when the script opens its first
//! socket the sysctls are read again, and each one whose value has changed since the stack
//! started wins over the flags too. A script that sets `tcp_rmem` to a 32 MiB maximum gets
//! window scale 10 as on Linux, and one that sets `tcp_min_tso_segs=10` gets ten-segment GSO
//! packets.
//!
//! | file under `/proc/sys/` | flag it stands for |
//! |---|---|
//! | `net/ipv4/tcp_rmem`, `net/ipv4/tcp_wmem` | `tcp_rmem`, `tcp_wmem` |
//! | `net/core/rmem_max`, `net/core/wmem_max` | `rmem_max`, `wmem_max` |
//! | `net/ipv4/tcp_timestamps` (1 or 2: on), `tcp_sack`, `tcp_window_scaling` | the same |
//! | `net/ipv4/tcp_syn_retries`, `tcp_synack_retries`, `tcp_syn_linear_timeouts` | the same |
//! | `net/ipv4/tcp_retries2`, `tcp_orphan_retries` | the same |
//! | `net/ipv4/tcp_congestion_control` (`cubic` or `reno`; others are not followed) | `congestion_control` |
//! | `net/ipv4/tcp_early_retrans` (3 or 4: tail loss probes on) | `tlp` |
//! | `net/ipv4/tcp_frto`, `tcp_syncookies` (1 or 2: on) | the same |
//! | `net/ipv4/tcp_slow_start_after_idle`, `tcp_tw_reuse`, `tcp_min_tso_segs` | the same |
//! | `net/ipv4/tcp_comp_sack_nr`, `tcp_comp_sack_delay_ns` | the same |
//!
//! The flag `sysctls=0` turns all this off: the built-in defaults (`defaults.sh`'s values) and
//! the flags alone decide, whatever the namespace says (the repository's tests run so, to be
//! independent of the machine). The engine's configuration is fixed once it starts (at its
//! first `listen`, `connect` or packet), so a sysctl changed later has no effect.

use std::path::{Path, PathBuf};

use crate::flags::Settings;

/// The sysctls followed: the file under `/proc/sys/` and the `--so_flags` key it overrides.
const FOLLOWED: &[(&str, &str)] = &[
    ("net/ipv4/tcp_rmem", "tcp_rmem"),
    ("net/ipv4/tcp_wmem", "tcp_wmem"),
    ("net/core/rmem_max", "rmem_max"),
    ("net/core/wmem_max", "wmem_max"),
    ("net/ipv4/tcp_timestamps", "tcp_timestamps"),
    ("net/ipv4/tcp_sack", "tcp_sack"),
    ("net/ipv4/tcp_window_scaling", "tcp_window_scaling"),
    ("net/ipv4/tcp_syn_retries", "tcp_syn_retries"),
    ("net/ipv4/tcp_synack_retries", "tcp_synack_retries"),
    (
        "net/ipv4/tcp_syn_linear_timeouts",
        "tcp_syn_linear_timeouts",
    ),
    ("net/ipv4/tcp_retries2", "tcp_retries2"),
    ("net/ipv4/tcp_orphan_retries", "tcp_orphan_retries"),
    ("net/ipv4/tcp_congestion_control", "tcp_congestion_control"),
    ("net/ipv4/tcp_early_retrans", "tlp"),
    ("net/ipv4/tcp_frto", "tcp_frto"),
    ("net/ipv4/tcp_syncookies", "tcp_syncookies"),
    (
        "net/ipv4/tcp_slow_start_after_idle",
        "tcp_slow_start_after_idle",
    ),
    ("net/ipv4/tcp_tw_reuse", "tcp_tw_reuse"),
    ("net/ipv4/tcp_min_tso_segs", "tcp_min_tso_segs"),
    ("net/ipv4/tcp_comp_sack_nr", "tcp_comp_sack_nr"),
    ("net/ipv4/tcp_comp_sack_delay_ns", "tcp_comp_sack_delay_ns"),
];

/// The values of the followed sysctls when the stack started, and where to read them.
#[derive(Clone, Debug)]
pub struct Sysctls {
    /// The directory that stands for `/proc/sys`.
    root: PathBuf,
    /// One entry per [`FOLLOWED`] file: its text at the snapshot (`None`: unreadable).
    baseline: Vec<Option<String>>,
}

impl Sysctls {
    /// A snapshot of the followed sysctls of the calling thread's network namespace.
    pub fn snapshot() -> Sysctls {
        Sysctls::snapshot_at(Path::new("/proc/sys"))
    }

    /// A snapshot of the followed sysctls under `root` (a stand-in for `/proc/sys`, in tests).
    pub fn snapshot_at(root: &Path) -> Sysctls {
        let baseline = FOLLOWED.iter().map(|(f, _)| read(root, f)).collect();
        Sysctls {
            root: root.to_path_buf(),
            baseline,
        }
    }

    /// The settings: the built-in defaults, overridden by the followed sysctls as they are now,
    /// then by `flags` (the `--so_flags` text), then by every followed sysctl whose value has
    /// changed since the snapshot. Keys of `flags` that do not parse are passed over here (the
    /// caller reports them).
    pub fn settings(&self, flags: &str) -> Settings {
        let items = self.items();
        let now = items.iter().map(|(item, _)| item.as_str());
        let changed = items
            .iter()
            .filter(|(_, c)| *c)
            .map(|(item, _)| item.as_str());
        let text: Vec<&str> = now.chain([flags]).chain(changed).collect();
        Settings::parse(&text.join(" ")).0
    }

    /// `key=value` items, in the `--so_flags` syntax, for every followed sysctl whose value
    /// differs from the snapshot now (and can be read and stood for).
    pub fn changed(&self) -> Vec<String> {
        self.items()
            .into_iter()
            .filter_map(|(item, changed)| changed.then_some(item))
            .collect()
    }

    /// `key=value` items for the followed sysctls that can be read now and stood for, each
    /// with whether its value differs from the snapshot's. Each file is read once.
    fn items(&self) -> Vec<(String, bool)> {
        FOLLOWED
            .iter()
            .zip(&self.baseline)
            .filter_map(|((file, key), old)| {
                let now = read(&self.root, file)?;
                let changed = old.as_deref() != Some(now.as_str());
                flag_value(key, &now).map(|v| (format!("{key}={v}"), changed))
            })
            .collect()
    }
}

/// The words of `root/file`, one space between them, if it can be read.
fn read(root: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(root.join(file))
        .ok()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A sysctl's text as the value of flag `key`: lists joined with commas, and the values Linux
/// reads as "on" in several ways mapped to `1`.
fn flag_value(key: &str, text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match (key, words.as_slice()) {
        ("tcp_rmem" | "tcp_wmem", [a, b, c]) => Some(format!("{a},{b},{c}")),
        ("tcp_timestamps" | "tcp_syncookies", [v]) => {
            Some(if *v == "0" { "0" } else { "1" }.to_string())
        }
        // tcp_early_retrans: 3 and 4 enable tail loss probes; 0 to 2 do not.
        ("tlp", [v]) => Some(if matches!(*v, "3" | "4") { "1" } else { "0" }.to_string()),
        ("tcp_congestion_control", [v]) => matches!(*v, "cubic" | "reno").then(|| v.to_string()),
        (_, [v]) => Some((*v).to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, file: &str, text: &str) {
        let p = root.join(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn only_values_changed_since_the_snapshot_override() {
        let dir = std::env::temp_dir().join(format!("synack-pd-sysctl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&dir, "net/ipv4/tcp_rmem", "4096\t131072\t6291456\n");
        write(&dir, "net/ipv4/tcp_sack", "1\n");
        write(&dir, "net/ipv4/tcp_early_retrans", "3\n");
        write(&dir, "net/ipv4/tcp_timestamps", "1\n");
        let s = Sysctls::snapshot_at(&dir);
        assert!(s.changed().is_empty(), "{:?}", s.changed());

        write(&dir, "net/ipv4/tcp_rmem", "4096\t131072\t33554432\n");
        write(&dir, "net/ipv4/tcp_early_retrans", "0\n");
        write(&dir, "net/ipv4/tcp_timestamps", "2\n");
        // A file that appears after the snapshot counts as changed.
        write(&dir, "net/ipv4/tcp_min_tso_segs", "10\n");
        let mut c = s.changed();
        c.sort();
        assert_eq!(
            c,
            [
                "tcp_min_tso_segs=10",
                "tcp_rmem=4096,131072,33554432",
                "tcp_timestamps=1",
                "tlp=0"
            ]
        );

        // Back to the snapshot's value: no longer a change.
        write(&dir, "net/ipv4/tcp_rmem", "4096\t131072\t6291456\n");
        assert!(!s.changed().iter().any(|i| i.starts_with("tcp_rmem")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn flags_win_over_the_namespace_and_changes_win_over_flags() {
        let dir = std::env::temp_dir().join(format!("synack-pd-sysctl2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(&dir, "net/ipv4/tcp_rmem", "4096 131072 33554432\n");
        write(&dir, "net/ipv4/tcp_wmem", "4096 16384 4194304\n");
        write(&dir, "net/ipv4/tcp_sack", "1\n");
        write(&dir, "net/ipv4/tcp_congestion_control", "bbr\n");
        let s = Sysctls::snapshot_at(&dir);
        // The namespace's values replace the built-in defaults...
        let st = s.settings("");
        assert_eq!((st.rcvbuf, st.rcvbuf_max), (131_072, 33_554_432));
        assert_eq!(st.engine_config().window_scale_shift(), 10);
        assert_eq!(st.sndbuf, 16_384);
        // ... an algorithm the engine does not have leaves the default ...
        assert_eq!(
            st.congestion_control,
            Settings::default().congestion_control
        );
        // ... and flags win over them.
        let st = s.settings("tcp_rmem=4096,540000,15728640 sack=0");
        assert_eq!(st.engine_config().window_scale_shift(), 8);
        assert!(!st.sack);
        // A sysctl the script changes wins over the flags.
        write(&dir, "net/ipv4/tcp_sack", "1 \n");
        write(&dir, "net/ipv4/tcp_rmem", "4096 32768 65536\n");
        let st = s.settings("tcp_rmem=4096,540000,15728640 sack=0");
        assert_eq!((st.rcvbuf, st.rcvbuf_max), (32_768, 65_536));
        assert!(!st.sack, "the same value written again is no change");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn values_map_to_flags() {
        assert_eq!(flag_value("tcp_syncookies", "2").as_deref(), Some("1"));
        assert_eq!(flag_value("tlp", "4").as_deref(), Some("1"));
        assert_eq!(flag_value("tcp_wmem", "1 2").as_deref(), None);
        assert_eq!(
            flag_value("tcp_congestion_control", "reno").as_deref(),
            Some("reno")
        );
    }
}
