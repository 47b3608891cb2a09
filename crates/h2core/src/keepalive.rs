//! Client keepalive (gRFC A8) with grpc-js's timing: a PING goes out
//! `time` after the previous one was answered (not after the last read, as
//! grpc-go does), only while calls are active unless pings without calls are
//! permitted; no answer within `timeout` and the connection is dead.
//!
//! The connection has one PING slot (h2's `PingPong`), shared with BDP
//! estimation: when the keepalive timer fires while a BDP ping is out, that
//! ping's ACK proves liveness just as well, so no second ping is needed.

use std::time::{Duration, Instant};

/// The keepalive settings of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepaliveOptions {
    /// `grpc.keepalive_time_ms`; `None` disables keepalive (grpc-js's client default).
    pub time: Option<Duration>,
    /// `grpc.keepalive_timeout_ms` (default 20 s).
    pub timeout: Duration,
    /// `grpc.keepalive_permit_without_calls`.
    pub permit_without_calls: bool,
}

impl Default for KeepaliveOptions {
    fn default() -> Self {
        KeepaliveOptions {
            time: None,
            timeout: Duration::from_secs(20),
            permit_without_calls: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No timer: no calls yet (or none when the last ACK came).
    Stopped,
    /// The next ping is due at this instant.
    Timer(Instant),
    /// The timer ran out while no call was active: ping when one starts.
    PingWhenActive,
    /// A ping is out; without its ACK by this instant the connection is dead.
    AwaitAck(Instant),
}

/// What the connection driver should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Nothing,
    /// Send a PING (unless one is already out: its ACK will do).
    SendPing,
    /// The peer did not answer in time: close the connection.
    TimedOut,
}

const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

#[derive(Debug)]
pub struct Keepalive {
    time: Duration,
    timeout: Duration,
    permit_without_calls: bool,
    state: State,
}

impl Keepalive {
    /// `None` when keepalive is disabled.
    pub fn new(opts: &KeepaliveOptions) -> Option<Keepalive> {
        let time = opts.time.filter(|t| !t.is_zero())?;
        // `Instant + Duration` panics on overflow; a century is "never" here,
        // and an embedder may pass anything (JS numbers up to 1e308 ms).
        Some(Keepalive {
            time: time.min(FOREVER),
            timeout: opts.timeout.min(FOREVER),
            permit_without_calls: opts.permit_without_calls,
            state: State::Stopped,
        })
    }

    /// Advances the timers; `active` says whether calls are running.
    pub fn poll(&mut self, now: Instant, active: bool) -> Action {
        let may_ping = active || self.permit_without_calls;
        match self.state {
            State::Stopped if may_ping => {
                self.state = State::Timer(now + self.time);
                Action::Nothing
            }
            State::PingWhenActive if may_ping => self.ping(now),
            State::Timer(at) if now >= at => {
                if may_ping {
                    self.ping(now)
                } else {
                    self.state = State::PingWhenActive;
                    Action::Nothing
                }
            }
            State::AwaitAck(at) if now >= at => Action::TimedOut,
            _ => Action::Nothing,
        }
    }

    fn ping(&mut self, now: Instant) -> Action {
        self.state = State::AwaitAck(now + self.timeout);
        Action::SendPing
    }

    /// Any PING ACK (keepalive's or BDP's) while waiting proves the peer alive.
    pub fn on_ack(&mut self, now: Instant, active: bool) {
        if let State::AwaitAck(_) = self.state {
            self.state = if active || self.permit_without_calls {
                State::Timer(now + self.time)
            } else {
                State::Stopped
            };
        }
    }

    /// When `poll` next has something to do, for the driver's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Timer(at) | State::AwaitAck(at) => Some(at),
            State::Stopped | State::PingWhenActive => None,
        }
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ka(time_ms: u64, timeout_ms: u64, permit: bool) -> Keepalive {
        Keepalive::new(&KeepaliveOptions {
            time: Some(Duration::from_millis(time_ms)),
            timeout: Duration::from_millis(timeout_ms),
            permit_without_calls: permit,
        })
        .unwrap()
    }

    #[test]
    fn huge_times_never_overflow_the_clock() {
        let mut k = Keepalive::new(&KeepaliveOptions {
            time: Some(Duration::MAX),
            timeout: Duration::MAX,
            permit_without_calls: true,
        })
        .unwrap();
        let now = Instant::now();
        assert_eq!(k.poll(now, true), Action::Nothing);
        k.state = State::Timer(now);
        assert_eq!(k.poll(now, true), Action::SendPing);
        k.on_ack(now, true);
        assert_eq!(k.poll(now, true), Action::Nothing);
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn disabled_by_default() {
        assert!(Keepalive::new(&KeepaliveOptions::default()).is_none());
        let zero = KeepaliveOptions {
            time: Some(Duration::ZERO),
            ..KeepaliveOptions::default()
        };
        assert!(Keepalive::new(&zero).is_none());
    }

    #[test]
    fn pings_every_time_after_the_ack_while_calls_run() {
        let t0 = Instant::now();
        let mut k = ka(100, 50, false);
        assert_eq!(k.poll(t0, false), Action::Nothing);
        assert_eq!(k.next_deadline(), None, "no timer without calls");
        assert_eq!(k.poll(t0, true), Action::Nothing);
        assert_eq!(k.next_deadline(), Some(t0 + ms(100)));
        assert_eq!(k.poll(t0 + ms(99), true), Action::Nothing);
        assert_eq!(k.poll(t0 + ms(100), true), Action::SendPing);
        assert_eq!(k.next_deadline(), Some(t0 + ms(150)));
        k.on_ack(t0 + ms(110), true);
        assert_eq!(k.next_deadline(), Some(t0 + ms(210)));
        assert_eq!(k.poll(t0 + ms(210), true), Action::SendPing);
    }

    #[test]
    fn no_ack_within_timeout_is_fatal() {
        let t0 = Instant::now();
        let mut k = ka(100, 50, true);
        k.poll(t0, false);
        assert_eq!(k.poll(t0 + ms(100), false), Action::SendPing);
        assert_eq!(k.poll(t0 + ms(149), false), Action::Nothing);
        assert_eq!(k.poll(t0 + ms(150), false), Action::TimedOut);
    }

    #[test]
    fn idle_connection_pings_when_a_call_starts() {
        let t0 = Instant::now();
        let mut k = ka(100, 50, false);
        k.poll(t0, true);
        // The call ended before the timer: no ping while idle...
        assert_eq!(k.poll(t0 + ms(100), false), Action::Nothing);
        assert_eq!(k.poll(t0 + ms(500), false), Action::Nothing);
        // ...but at once when the next call starts.
        assert_eq!(k.poll(t0 + ms(600), true), Action::SendPing);
    }

    #[test]
    fn ack_when_idle_stops_the_timer() {
        let t0 = Instant::now();
        let mut k = ka(100, 50, false);
        k.poll(t0, true);
        assert_eq!(k.poll(t0 + ms(100), true), Action::SendPing);
        k.on_ack(t0 + ms(101), false);
        assert_eq!(k.next_deadline(), None);
        assert_eq!(k.poll(t0 + ms(300), true), Action::Nothing);
        assert_eq!(k.next_deadline(), Some(t0 + ms(400)));
    }

    #[test]
    fn acks_outside_a_wait_change_nothing() {
        let t0 = Instant::now();
        let mut k = ka(100, 50, true);
        k.poll(t0, false);
        // A BDP ping's ACK while the timer runs does not push it back.
        k.on_ack(t0 + ms(50), true);
        assert_eq!(k.next_deadline(), Some(t0 + ms(100)));
    }
}
