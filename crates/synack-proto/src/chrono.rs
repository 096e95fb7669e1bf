//! What limited a sender, timed: the busy, receive-window-limited and send-buffer-limited times
//! Linux reports in `tcp_info` (`tcpi_busy_time`, `tcpi_rwnd_limited`, `tcpi_sndbuf_limited`;
//! Linux `tcp_chrono_start`, `tcp_chrono_stop`, `tcp_get_info_chrono_stats`).
//!
//! No RFC specifies these figures; they tell an application whether a slow transfer waited on
//! the network, on the receiver's window (RFC 9293 §3.8.6) or on its own send buffer. One kind
//! is timed at a time: when several hold, the time goes to the most specific (the highest
//! [`SendChrono`]).

use crate::time::{Duration, Instant};

/// Why a connection was sending, in rising priority (Linux `enum tcp_chrono`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SendChrono {
    /// Data queued or in flight (`TCP_CHRONO_BUSY`).
    Busy,
    /// Data waiting for the peer's receive window (`TCP_CHRONO_RWND_LIMITED`).
    RwndLimited,
    /// Everything queued was sent and the application was out of send buffer
    /// (`TCP_CHRONO_SNDBUF_LIMITED`).
    SndbufLimited,
}

impl SendChrono {
    fn index(self) -> usize {
        match self {
            SendChrono::Busy => 0,
            SendChrono::RwndLimited => 1,
            SendChrono::SndbufLimited => 2,
        }
    }
}

/// The time a connection spent sending, by what limited it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendTimes {
    /// Finished periods, indexed by [`SendChrono::index`].
    done: [Duration; 3],
    /// The kind being timed now, and since when.
    running: Option<(SendChrono, Instant)>,
}

impl SendTimes {
    /// Ends the running period and starts timing `to` (nothing, for `None`).
    fn switch(&mut self, now: Instant, to: Option<SendChrono>) {
        if let Some((kind, since)) = self.running {
            self.done[kind.index()] += now.saturating_duration_since(since);
        }
        self.running = to.map(|k| (k, now));
    }

    /// `kind` holds from `now` (Linux `tcp_chrono_start`): it takes over the timing unless a
    /// higher kind is being timed.
    pub(crate) fn start(&mut self, now: Instant, kind: SendChrono) {
        if self.running.is_none_or(|(k, _)| kind > k) {
            self.switch(now, Some(kind));
        }
    }

    /// `kind` ended at `now` (Linux `tcp_chrono_stop`): with nothing queued or in flight the
    /// timing stops; otherwise, if `kind` was being timed, the time goes to [`SendChrono::Busy`].
    pub(crate) fn stop(&mut self, now: Instant, kind: SendChrono, idle: bool) {
        if idle {
            self.switch(now, None);
        } else if self.running.is_some_and(|(k, _)| k == kind) {
            self.switch(now, Some(SendChrono::Busy));
        }
    }

    /// The kind being timed now, if any.
    pub fn running(&self) -> Option<SendChrono> {
        self.running.map(|(k, _)| k)
    }

    /// Time spent with `kind` the limit, up to `now` (the running period included).
    pub fn time(&self, now: Instant, kind: SendChrono) -> Duration {
        let running = match self.running {
            Some((k, since)) if k == kind => now.saturating_duration_since(since),
            _ => Duration::ZERO,
        };
        self.done[kind.index()] + running
    }

    /// Time spent sending at all, up to `now` (`tcpi_busy_time`: the three kinds together).
    pub fn busy(&self, now: Instant) -> Duration {
        [
            SendChrono::Busy,
            SendChrono::RwndLimited,
            SendChrono::SndbufLimited,
        ]
        .into_iter()
        .map(|k| self.time(now, k))
        .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Instant {
        Instant::from_micros(v * 1000)
    }

    #[test]
    fn the_highest_kind_takes_the_time_and_a_stop_falls_back_to_busy() {
        let mut t = SendTimes::default();
        t.start(ms(0), SendChrono::Busy);
        t.start(ms(10), SendChrono::RwndLimited);
        // A lower kind does not take over.
        t.start(ms(20), SendChrono::Busy);
        assert_eq!(t.running(), Some(SendChrono::RwndLimited));
        // Stopping a kind that is not being timed changes nothing.
        t.stop(ms(30), SendChrono::SndbufLimited, false);
        assert_eq!(t.running(), Some(SendChrono::RwndLimited));
        t.stop(ms(40), SendChrono::RwndLimited, false);
        assert_eq!(t.running(), Some(SendChrono::Busy));
        assert_eq!(t.time(ms(50), SendChrono::Busy), Duration::from_millis(20));
        assert_eq!(
            t.time(ms(50), SendChrono::RwndLimited),
            Duration::from_millis(30)
        );
        assert_eq!(t.busy(ms(50)), Duration::from_millis(50));
        // Idle: the clock stops, whatever kind was stopped.
        t.stop(ms(60), SendChrono::Busy, true);
        assert_eq!(t.running(), None);
        assert_eq!(t.busy(ms(500)), Duration::from_millis(60));
        t.start(ms(600), SendChrono::SndbufLimited);
        assert_eq!(
            t.time(ms(625), SendChrono::SndbufLimited),
            Duration::from_millis(25)
        );
        assert_eq!(t.busy(ms(625)), Duration::from_millis(85));
    }
}
