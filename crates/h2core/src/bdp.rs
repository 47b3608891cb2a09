//! Bandwidth-delay-product estimation, the way grpc-go's `bdpEstimator` does
//! it: when data arrives and no BDP ping is out, send a PING and count the
//! DATA bytes that arrive until its ACK. That sample approximates how much the
//! network holds in one round trip; when it nears the current window and the
//! bandwidth is the best seen, the window grows to twice the sample.
//!
//! Unlike grpc-go, a sample starts only once the data received since the
//! last one adds up to an eighth of the window: a sample of less could not
//! grow the window, and with small RPCs one at a time a ping per response
//! cost the I/O thread a write, a wake-up and a read per RPC (a quarter of
//! its syscalls; bidi ping-pong ran 13% faster without it).

use std::time::{Duration, Instant};

/// Largest window the estimator will ask for (grpc-go's `bdpLimit`).
pub const BDP_LIMIT: u32 = 16 * 1024 * 1024;
const ALPHA: f64 = 0.9;
const BETA: f64 = 0.66;
const GAMMA: u32 = 2;

#[derive(Debug)]
pub struct BdpEstimator {
    bdp: u32,
    sample: u64,
    bw_max: f64,
    rtt: f64,
    ping_sent_at: Option<Instant>,
    /// Data received since the last sample, while no ping was out.
    unsampled: u64,
}

impl BdpEstimator {
    pub fn new(initial_window: u32) -> BdpEstimator {
        BdpEstimator {
            bdp: initial_window,
            sample: 0,
            bw_max: 0.0,
            rtt: 0.0,
            ping_sent_at: None,
            unsampled: 0,
        }
    }

    pub fn window(&self) -> u32 {
        self.bdp
    }

    /// Records received DATA bytes; returns true when a BDP ping should be
    /// sent now. `slot_free` is false while another ping (keepalive) is out:
    /// a sample only starts with a ping of its own.
    pub fn on_data(&mut self, bytes: u64, now: Instant, slot_free: bool) -> bool {
        if self.bdp >= BDP_LIMIT {
            return false;
        }
        if self.ping_sent_at.is_some() {
            self.sample += bytes;
            return false;
        }
        if bytes == 0 || !slot_free {
            return false;
        }
        self.unsampled += bytes;
        if self.unsampled < u64::from(self.bdp / 8) {
            return false;
        }
        self.unsampled = 0;
        self.sample += bytes;
        self.ping_sent_at = Some(now);
        true
    }

    /// Records the ping's ACK; returns the new window when it should grow.
    pub fn on_ack(&mut self, now: Instant) -> Option<u32> {
        let sent = self.ping_sent_at.take()?;
        let rtt_sample = now
            .duration_since(sent)
            .max(Duration::from_micros(1))
            .as_secs_f64();
        self.rtt = if self.rtt == 0.0 {
            rtt_sample
        } else {
            self.rtt + (rtt_sample - self.rtt) * ALPHA
        };
        let sample = std::mem::take(&mut self.sample);
        // A sample can be up to 1.5x the real BDP on a saturated link.
        let bw_current = sample as f64 / (self.rtt * 1.5);
        if bw_current > self.bw_max {
            self.bw_max = bw_current;
        }
        if sample as f64 >= BETA * f64::from(self.bdp)
            && bw_current >= self.bw_max
            && self.bdp < BDP_LIMIT
        {
            let grown = sample
                .saturating_mul(u64::from(GAMMA))
                .min(u64::from(BDP_LIMIT)) as u32;
            if grown > self.bdp {
                self.bdp = grown;
                return Some(grown);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_when_the_pipe_is_full() {
        let mut e = BdpEstimator::new(65_535);
        let t0 = Instant::now();
        assert!(e.on_data(16_384, t0, true));
        assert!(!e.on_data(50_000, t0, true));
        assert_eq!(e.on_ack(t0 + Duration::from_millis(1)), Some(2 * 66_384));
        assert_eq!(e.window(), 132_768);
    }

    #[test]
    fn stays_when_the_pipe_is_not_full() {
        let mut e = BdpEstimator::new(65_535);
        let t0 = Instant::now();
        assert!(e.on_data(10_000, t0, true));
        assert_eq!(e.on_ack(t0 + Duration::from_millis(1)), None);
        assert_eq!(e.window(), 65_535);
    }

    #[test]
    fn small_responses_start_a_sample_only_once_they_add_up() {
        let mut e = BdpEstimator::new(65_535);
        let t0 = Instant::now();
        // 30-byte responses one at a time: a ping per 8 KiB of them, not
        // one per response.
        let pings = (0..1_000).filter(|_| {
            e.on_data(30, t0, true) && {
                e.on_ack(t0);
                true
            }
        });
        assert_eq!(pings.count(), 1_000 * 30 / 8_191);
    }

    #[test]
    fn never_exceeds_the_limit() {
        let mut e = BdpEstimator::new(65_535);
        let mut t = Instant::now();
        for _ in 0..40 {
            e.on_data(u64::from(e.window()), t, true);
            t += Duration::from_millis(1);
            e.on_ack(t);
        }
        assert_eq!(e.window(), BDP_LIMIT);
        assert!(!e.on_data(1 << 20, t, true));
    }

    #[test]
    fn pings_only_after_data_that_follows_the_ack() {
        // grpc-go's server answers pings that come without data sent in
        // between with GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
        let mut e = BdpEstimator::new(65_535);
        let t0 = Instant::now();
        assert!(e.on_data(10_000, t0, true));
        assert!(!e.on_data(10_000, t0, true), "one ping at a time");
        e.on_ack(t0 + Duration::from_millis(1));
        assert!(!e.on_data(0, t0, true), "no ping without new data");
        assert!(e.on_data(10_000, t0, true));
    }

    #[test]
    fn no_sample_while_another_ping_holds_the_slot() {
        let mut e = BdpEstimator::new(65_535);
        let t0 = Instant::now();
        assert!(!e.on_data(60_000, t0, false));
        // The keepalive ACK is not a BDP sample.
        assert_eq!(e.on_ack(t0 + Duration::from_millis(1)), None);
        assert!(e.on_data(10_000, t0, true));
        assert_eq!(
            e.on_ack(t0 + Duration::from_millis(2)),
            None,
            "sample is 10,000 bytes"
        );
    }

    #[test]
    fn ack_without_ping_is_ignored() {
        let mut e = BdpEstimator::new(65_535);
        assert_eq!(e.on_ack(Instant::now()), None);
    }
}
