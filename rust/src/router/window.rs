//! Sliding one-minute window of requests and tokens, in one-second buckets, for `rpm`/`tpm`.

const BUCKETS: usize = 60;
const BUCKET_MS: u64 = 1000;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    second: u64,
    requests: u64,
    tokens: i64,
}

#[derive(Debug, Clone)]
pub struct RateWindow {
    buckets: [Bucket; BUCKETS],
}

impl Default for RateWindow {
    fn default() -> Self {
        Self {
            buckets: [Bucket::default(); BUCKETS],
        }
    }
}

impl RateWindow {
    fn bucket(&mut self, now_ms: u64) -> &mut Bucket {
        let second = now_ms / BUCKET_MS + 1; // +1: second 0 marks an unused bucket
        let b = &mut self.buckets[(second % BUCKETS as u64) as usize];
        if b.second != second {
            *b = Bucket {
                second,
                ..Bucket::default()
            };
        }
        b
    }

    pub fn add(&mut self, now_ms: u64, requests: u64, tokens: i64) {
        let b = self.bucket(now_ms);
        b.requests += requests;
        b.tokens += tokens;
    }

    fn live(&self, now_ms: u64) -> impl Iterator<Item = &Bucket> {
        let current = now_ms / BUCKET_MS + 1;
        self.buckets
            .iter()
            .filter(move |b| b.second != 0 && b.second + (BUCKETS as u64) > current)
    }

    /// Requests and tokens in the last minute.
    pub fn totals(&self, now_ms: u64) -> (u64, u64) {
        let (r, t) = self
            .live(now_ms)
            .fold((0u64, 0i64), |(r, t), b| (r + b.requests, t + b.tokens));
        (r, u64::try_from(t).unwrap_or(0))
    }

    /// Milliseconds until the oldest live bucket leaves the window (when capacity frees up).
    pub fn ms_until_oldest_expires(&self, now_ms: u64) -> u64 {
        self.live(now_ms)
            .filter(|b| b.requests > 0 || b.tokens > 0)
            .map(|b| (b.second - 1 + BUCKETS as u64) * BUCKET_MS)
            .min()
            .map_or(BUCKET_MS, |expires| expires.saturating_sub(now_ms).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_last_minute_only() {
        let mut w = RateWindow::default();
        w.add(0, 1, 100);
        w.add(30_000, 2, 50);
        assert_eq!(w.totals(30_000), (3, 150));
        assert_eq!(w.totals(59_999), (3, 150));
        assert_eq!(w.totals(60_000), (2, 50));
        assert_eq!(w.totals(90_000), (0, 0));
        assert_eq!(w.ms_until_oldest_expires(30_000), 30_000);
    }

    #[test]
    fn settlement_can_lower_tokens() {
        let mut w = RateWindow::default();
        w.add(1_000, 1, 500);
        w.add(1_500, 0, -300);
        assert_eq!(w.totals(2_000), (1, 200));
    }
}
