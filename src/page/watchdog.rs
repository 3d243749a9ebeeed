//! When the page gives up on its worker and starts another. The worker answers a ping as soon
//! as its event loop is free; on the CPU path a model step blocks that loop for up to a minute
//! (a lane-step took 40–62 s in this project's browser measurements), so how long a ping may
//! go unanswered depends on whether the page has asked for work. Only an unanswered ping counts:
//! a background tab's timers may fire once a minute, and the gap between pings is no silence.
//! Restarts are limited, so a worker that fails at every start (e.g. out of memory while
//! loading) is not restarted forever.

/// What happened to a lost worker.
#[derive(Clone, Debug, PartialEq)]
pub struct Restart {
    /// Why the worker counted as lost, in words.
    pub reason: String,
    /// Set when the new worker runs on the CPU because the lost one ran on WebGPU.
    pub cpu_fallback: bool,
    /// No new worker: it failed too often (or could not start); the page must be reloaded.
    pub given_up: bool,
}

impl Restart {
    /// The page's notice (`had_lanes`: a training session was lost with the worker).
    pub fn words(&self, had_lanes: bool) -> String {
        if self.given_up {
            return format!("The worker stopped ({}) and failed again after restarts: reload the page.", self.reason);
        }
        let mut words = format!("The worker stopped ({}); a new one started and reloads the models from the cache.", self.reason);
        if self.cpu_fallback {
            words.push_str(" It runs on the CPU from now on.");
        }
        if had_lanes {
            words.push_str(" The training lanes were lost: set them up again.");
        }
        words
    }
}

/// How often the page pings the worker.
pub const PING_EVERY_MS: u32 = 5_000;
/// Silence allowed from a worker with nothing to do: it answers a ping within milliseconds.
pub const IDLE_SILENCE_MS: f64 = 20_000.0;
/// Silence allowed while the worker starts, loads a model, analyses, generates or trains.
pub const BUSY_SILENCE_MS: f64 = 600_000.0;
/// At most this many restarts within [`RESTART_WINDOW_MS`].
pub const MAX_RESTARTS: usize = 3;
pub const RESTART_WINDOW_MS: f64 = 300_000.0;

/// The page's view of its worker's health (times in ms from any fixed origin).
#[derive(Clone, Debug, PartialEq)]
pub struct Watchdog {
    /// When the oldest unanswered ping was sent.
    pinged: Option<f64>,
    ready: bool,
    busy: bool,
    restarts: Vec<f64>,
}

impl Default for Watchdog {
    fn default() -> Self {
        Self::new()
    }
}

impl Watchdog {
    /// A worker just started, not ready yet.
    pub fn new() -> Self {
        Self { pinged: None, ready: false, busy: false, restarts: Vec::new() }
    }

    /// A ping went out at `now` (the oldest unanswered one counts).
    pub fn pinged(&mut self, now: f64) {
        self.pinged.get_or_insert(now);
    }

    /// The worker posted something (any event proves it alive); `ready` once it said so.
    pub fn heard(&mut self, ready: bool) {
        self.pinged = None;
        self.ready |= ready;
    }

    /// Whether the worker said it is ready (requests that need it wait until then).
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// Whether the page waits on work it asked for.
    pub fn set_busy(&mut self, busy: bool) {
        self.busy = busy;
    }

    /// The silence allowed now: long while the worker starts or works, short when idle.
    pub fn allowed_silence(&self) -> f64 {
        if self.busy || !self.ready { BUSY_SILENCE_MS } else { IDLE_SILENCE_MS }
    }

    /// Why the worker counts as lost at `now`, if it does: a ping unanswered for too long.
    pub fn lost(&self, now: f64) -> Option<String> {
        let silent = now - self.pinged?;
        (silent > self.allowed_silence()).then(|| format!("it did not answer for {:.0} s", silent / 1000.0))
    }

    /// Records a restart at `now` (the new worker is not ready yet); `false`, recording
    /// nothing, when [`MAX_RESTARTS`] already happened within [`RESTART_WINDOW_MS`].
    pub fn restart(&mut self, now: f64) -> bool {
        self.restarts.retain(|&t| now - t < RESTART_WINDOW_MS);
        if self.restarts.len() >= MAX_RESTARTS {
            return false;
        }
        self.restarts.push(now);
        self.pinged = None;
        self.ready = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_ready_worker_is_lost_when_a_ping_goes_unanswered_too_long() {
        let mut w = Watchdog::new();
        w.heard(true);
        assert_eq!(w.lost(1e9), None, "no ping out: no silence, however long between pings");
        w.pinged(1_000.0);
        w.pinged(6_000.0);
        assert_eq!(w.lost(1_000.0 + IDLE_SILENCE_MS), None);
        assert_eq!(w.lost(1_000.0 + IDLE_SILENCE_MS + 1.0).as_deref(), Some("it did not answer for 20 s"), "from the oldest ping");
        w.heard(false);
        assert_eq!(w.lost(1e9), None, "any event answers, and readiness stays");
        assert_eq!(w.allowed_silence(), IDLE_SILENCE_MS);
    }

    #[test]
    fn a_starting_or_busy_worker_gets_the_long_silence() {
        let mut w = Watchdog::new();
        w.pinged(0.0);
        assert_eq!(w.lost(IDLE_SILENCE_MS * 2.0), None, "not ready yet: loading the wasm and the device");
        assert!(w.lost(BUSY_SILENCE_MS + 1.0).is_some());
        w.heard(true);
        w.set_busy(true);
        w.pinged(0.0);
        assert_eq!(w.lost(BUSY_SILENCE_MS), None, "a CPU training step blocks the worker");
        assert!(w.lost(BUSY_SILENCE_MS + 1.0).is_some());
        w.set_busy(false);
        assert!(w.lost(IDLE_SILENCE_MS + 1.0).is_some());
    }

    #[test]
    fn restarts_are_limited_within_the_window() {
        let mut w = Watchdog::new();
        w.heard(true);
        w.pinged(0.0);
        for k in 0..MAX_RESTARTS {
            assert!(w.restart(1_000.0 * k as f64));
        }
        assert_eq!((w.allowed_silence(), w.lost(1e9)), (BUSY_SILENCE_MS, None), "a restarted worker starts afresh");
        assert!(!w.restart(5_000.0), "a worker that keeps failing is not restarted forever");
        assert!(w.restart(RESTART_WINDOW_MS + 1.0), "the window moves on");
    }
}
