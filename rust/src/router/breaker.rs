//! Circuit breaker of one deployment, in the manner of Envoy's outlier detection.
//!
//! Closed → Open after `consecutive_failures` failures in a row, or when the failure rate over
//! the last `window_ms` reaches `failure_rate` with at least `min_requests` outcomes. Open lasts
//! `base_ejection_ms × n` for the n-th ejection, capped at `max_ejection_ms`; then Half-open
//! lets one probe through at a time, and `half_open_successes` successes close it (a failure
//! re-opens it, longer). The ejection count decays back to zero after a full
//! `max_ejection_ms` closed without failures. Whether an ejection may happen at all (the share
//! of the group already out) is the router's call, passed in as `may_eject`.

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    pub consecutive_failures: u32,
    pub failure_rate: f64,
    pub min_requests: u32,
    pub window_ms: u64,
    pub base_ejection_ms: u64,
    pub max_ejection_ms: u64,
    pub half_open_successes: u32,
    pub max_ejected_percent: f64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: 0.5,
            min_requests: 10,
            window_ms: 30_000,
            base_ejection_ms: 5_000,
            max_ejection_ms: 300_000,
            half_open_successes: 2,
            max_ejected_percent: 50.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open { until_ms: u64 },
    HalfOpen { successes: u32, probing: bool },
}

#[derive(Debug, Clone)]
pub struct Breaker {
    pub state: State,
    pub ejections: u32,
    closed_since_ms: u64,
    /// (time, failed) of recent outcomes, oldest first, for the failure-rate rule.
    recent: std::collections::VecDeque<(u64, bool)>,
}

impl Default for Breaker {
    fn default() -> Self {
        Self {
            state: State::Closed,
            ejections: 0,
            closed_since_ms: 0,
            recent: std::collections::VecDeque::new(),
        }
    }
}

impl Breaker {
    /// Moves Open to Half-open once its time is up. Call before reading the state.
    pub fn tick(&mut self, now_ms: u64, cfg: &BreakerConfig) {
        match self.state {
            State::Open { until_ms } if now_ms >= until_ms => {
                self.state = State::HalfOpen {
                    successes: 0,
                    probing: false,
                };
            }
            State::Closed
                if self.ejections > 0
                    && now_ms.saturating_sub(self.closed_since_ms) >= cfg.max_ejection_ms =>
            {
                self.ejections = 0;
            }
            _ => {}
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// Out of the rotation: open, or half-open with its one probe already in flight.
    pub fn blocks(&self) -> bool {
        matches!(
            self.state,
            State::Open { .. } | State::HalfOpen { probing: true, .. }
        )
    }

    pub fn counts_as_ejected(&self) -> bool {
        !matches!(self.state, State::Closed)
    }

    pub fn on_pick(&mut self) {
        if let State::HalfOpen { successes, .. } = self.state {
            self.state = State::HalfOpen {
                successes,
                probing: true,
            };
        }
    }

    /// A pick that ended without a verdict (client error, cancellation): free the probe slot.
    pub fn on_neutral(&mut self) {
        if let State::HalfOpen { successes, .. } = self.state {
            self.state = State::HalfOpen {
                successes,
                probing: false,
            };
        }
    }

    fn remember(&mut self, now_ms: u64, failed: bool, cfg: &BreakerConfig) {
        self.recent.push_back((now_ms, failed));
        while let Some(&(t, _)) = self.recent.front() {
            if now_ms.saturating_sub(t) > cfg.window_ms || self.recent.len() > 10_000 {
                self.recent.pop_front();
            } else {
                break;
            }
        }
    }

    pub fn on_success(&mut self, now_ms: u64, cfg: &BreakerConfig) {
        self.remember(now_ms, false, cfg);
        if let State::HalfOpen { successes, .. } = self.state {
            if successes + 1 >= cfg.half_open_successes {
                self.close(now_ms);
            } else {
                self.state = State::HalfOpen {
                    successes: successes + 1,
                    probing: false,
                };
            }
        }
    }

    /// Returns true when this failure ejected the deployment.
    pub fn on_failure(
        &mut self,
        now_ms: u64,
        consecutive: u32,
        may_eject: bool,
        cfg: &BreakerConfig,
    ) -> bool {
        self.remember(now_ms, true, cfg);
        let trip = match self.state {
            State::HalfOpen { .. } => true,
            State::Closed => consecutive >= cfg.consecutive_failures || self.rate_tripped(cfg),
            State::Open { .. } => false,
        };
        if !trip || !(may_eject || matches!(self.state, State::HalfOpen { .. })) {
            return false;
        }
        self.ejections += 1;
        let ms = cfg
            .base_ejection_ms
            .saturating_mul(u64::from(self.ejections))
            .min(cfg.max_ejection_ms);
        self.state = State::Open {
            until_ms: now_ms + ms,
        };
        true
    }

    fn rate_tripped(&self, cfg: &BreakerConfig) -> bool {
        let total = self.recent.len();
        if total < cfg.min_requests as usize || total == 0 {
            return false;
        }
        let failed = self.recent.iter().filter(|(_, f)| *f).count();
        failed as f64 / total as f64 >= cfg.failure_rate
    }

    fn close(&mut self, now_ms: u64) {
        self.state = State::Closed;
        self.closed_since_ms = now_ms;
        self.recent.clear();
    }

    pub fn ms_until_half_open(&self, now_ms: u64) -> Option<u64> {
        match self.state {
            State::Open { until_ms } => Some(until_ms.saturating_sub(now_ms).max(1)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_consecutive_failures_and_grows_ejection() {
        let cfg = BreakerConfig::default();
        let mut b = Breaker::default();
        for n in 1..5 {
            assert!(!b.on_failure(0, n, true, &cfg));
        }
        assert!(b.on_failure(0, 5, true, &cfg));
        assert_eq!(b.state, State::Open { until_ms: 5_000 });
        b.tick(4_999, &cfg);
        assert!(b.is_open());
        b.tick(5_000, &cfg);
        assert_eq!(
            b.state,
            State::HalfOpen {
                successes: 0,
                probing: false
            }
        );
        b.on_pick();
        assert!(b.blocks());
        // The probe fails: open again, for twice as long.
        assert!(b.on_failure(5_000, 6, false, &cfg));
        assert_eq!(b.state, State::Open { until_ms: 15_000 });
        b.tick(15_000, &cfg);
        for _ in 0..2 {
            b.on_pick();
            b.on_success(15_000, &cfg);
        }
        assert_eq!(b.state, State::Closed);
        b.tick(15_000 + cfg.max_ejection_ms, &cfg);
        assert_eq!(b.ejections, 0);
    }

    #[test]
    fn failure_rate_trips_without_a_streak() {
        let cfg = BreakerConfig::default();
        let mut b = Breaker::default();
        let mut tripped = false;
        for i in 0..20u64 {
            if i % 2 == 0 {
                b.on_success(i, &cfg);
            } else {
                tripped |= b.on_failure(i, 1, true, &cfg);
            }
        }
        assert!(tripped);
    }

    #[test]
    fn ejection_can_be_refused() {
        let cfg = BreakerConfig::default();
        let mut b = Breaker::default();
        assert!(!b.on_failure(0, 9, false, &cfg));
        assert_eq!(b.state, State::Closed);
    }
}
