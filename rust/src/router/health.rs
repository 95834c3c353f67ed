//! Health of one deployment: a 0–100 score from its recent outcomes and latency.
//!
//! ```text
//! score = 100 × success × latency × streak            (0 while the circuit is open)
//!   success = EWMA of outcomes (1 success, 0 failure), α = 0.1, starting at 1
//!   latency = 1 while recent ≤ 1.5 × baseline + 50 ms, else (1.5 × baseline + 50 ms) / recent,
//!             at least 0.1, where recent is an EWMA of total latency (α = 0.3) and baseline a
//!             slow EWMA of the same (α = 0.02): a deployment is judged against its own normal
//!             speed, not against others, and ordinary jitter costs nothing
//!   streak  = max(0, 1 − 0.15 × consecutive failures)
//! ```

const SUCCESS_ALPHA: f64 = 0.1;
const RECENT_ALPHA: f64 = 0.3;
const BASELINE_ALPHA: f64 = 0.02;
const TTFT_ALPHA: f64 = 0.3;
const LATENCY_TOLERANCE: f64 = 1.5;
const LATENCY_SLACK_MS: f64 = 50.0;

#[derive(Debug, Clone)]
pub struct Health {
    success: f64,
    recent_ms: Option<f64>,
    baseline_ms: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub last_sample_ms: Option<u64>,
    pub consecutive_failures: u32,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            success: 1.0,
            recent_ms: None,
            baseline_ms: None,
            ttft_ms: None,
            last_sample_ms: None,
            consecutive_failures: 0,
        }
    }
}

fn ewma(old: Option<f64>, sample: f64, alpha: f64) -> f64 {
    old.map_or(sample, |o| o + alpha * (sample - o))
}

impl Health {
    pub fn record_success(&mut self, now_ms: u64, latency_ms: f64, ttft_ms: f64) {
        self.success = ewma(Some(self.success), 1.0, SUCCESS_ALPHA);
        self.recent_ms = Some(ewma(self.recent_ms, latency_ms, RECENT_ALPHA));
        self.baseline_ms = Some(ewma(self.baseline_ms, latency_ms, BASELINE_ALPHA));
        self.ttft_ms = Some(ewma(self.ttft_ms, ttft_ms, TTFT_ALPHA));
        self.last_sample_ms = Some(now_ms);
        self.consecutive_failures = 0;
    }

    pub fn record_failure(&mut self, now_ms: u64) {
        self.success = ewma(Some(self.success), 0.0, SUCCESS_ALPHA);
        self.last_sample_ms = Some(now_ms);
        self.consecutive_failures += 1;
    }

    pub fn score(&self, circuit_open: bool) -> f64 {
        if circuit_open {
            return 0.0;
        }
        let latency = match (self.recent_ms, self.baseline_ms) {
            (Some(recent), Some(baseline)) => {
                let tolerated = LATENCY_TOLERANCE * baseline + LATENCY_SLACK_MS;
                if recent > tolerated {
                    (tolerated / recent).max(0.1)
                } else {
                    1.0
                }
            }
            _ => 1.0,
        };
        let streak = (1.0 - 0.15 * f64::from(self.consecutive_failures)).max(0.0);
        (100.0 * self.success * latency * streak).clamp(0.0, 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_is_100_and_failures_pull_it_down() {
        let mut h = Health::default();
        h.record_success(0, 100.0, 50.0);
        assert!((h.score(false) - 100.0).abs() < 1e-9);
        h.record_failure(1);
        h.record_failure(2);
        let s = h.score(false);
        assert!(s < 70.0 && s > 50.0, "{s}");
        assert_eq!(h.score(true), 0.0);
        h.record_success(3, 100.0, 50.0);
        assert_eq!(h.consecutive_failures, 0);
    }

    #[test]
    fn slower_than_its_own_baseline_lowers_the_score() {
        let mut h = Health::default();
        for t in 0..50 {
            h.record_success(t, 100.0, 10.0);
        }
        for t in 50..60 {
            h.record_success(t, 1000.0, 10.0);
        }
        let s = h.score(false);
        assert!((10.0..60.0).contains(&s), "{s}");
    }
}
