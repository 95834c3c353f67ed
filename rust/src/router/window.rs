//! Sliding one-minute window of requests and tokens, in one-second buckets, for `rpm`/`tpm`.
//!
//! Running totals are kept beside the buckets and buckets are expired as time moves on, so
//! reading the totals costs O(1) however often the router asks (once per deployment per pick).

const BUCKETS: usize = 60;
const BUCKET_MS: u64 = 1000;

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    requests: u64,
    tokens: i64,
}

#[derive(Debug, Clone)]
pub struct RateWindow {
    /// Boxed: the router scans every deployment of a group per pick, and keeping the rarely
    /// read buckets out of line keeps that scan inside the L1 cache.
    buckets: Box<[Bucket; BUCKETS]>,
    /// The second the newest bucket belongs to.
    current: u64,
    requests: u64,
    tokens: i64,
}

impl Default for RateWindow {
    fn default() -> Self {
        Self {
            buckets: Box::new([Bucket::default(); BUCKETS]),
            current: 0,
            requests: 0,
            tokens: 0,
        }
    }
}

impl RateWindow {
    /// Expires every bucket that left the window since the last call. Cheap when called
    /// often: at most one bucket per elapsed second.
    pub fn advance(&mut self, now_ms: u64) {
        let second = now_ms / BUCKET_MS;
        if second <= self.current {
            return;
        }
        let steps = (second - self.current).min(BUCKETS as u64);
        for s in 1..=steps {
            let b = &mut self.buckets[((self.current + s) % BUCKETS as u64) as usize];
            self.requests -= b.requests;
            self.tokens -= b.tokens;
            *b = Bucket::default();
        }
        self.current = second;
    }

    pub fn add(&mut self, now_ms: u64, requests: u64, tokens: i64) {
        self.advance(now_ms);
        let b = &mut self.buckets[(self.current % BUCKETS as u64) as usize];
        b.requests += requests;
        b.tokens += tokens;
        self.requests += requests;
        self.tokens += tokens;
    }

    /// The bucket of `second`, if it is still inside the window at `now_second`.
    fn live(&self, second: u64, now_second: u64) -> Option<&Bucket> {
        let in_window = second <= self.current && second + BUCKETS as u64 > now_second;
        in_window.then(|| &self.buckets[(second % BUCKETS as u64) as usize])
    }

    /// Requests and tokens in the last minute. Read-only: the buckets that left the window
    /// since the last `add` (usually none or one) are subtracted on the fly.
    pub fn totals(&self, now_ms: u64) -> (u64, u64) {
        let now_second = now_ms / BUCKET_MS;
        let (mut requests, mut tokens) = (self.requests, self.tokens);
        if now_second > self.current {
            let gone = (now_second - self.current).min(BUCKETS as u64);
            for age in 0..gone {
                // The oldest buckets: seconds current-59, current-58, … leave first.
                let second = (self.current + age + 1).wrapping_sub(BUCKETS as u64);
                let b = &self.buckets[(second % BUCKETS as u64) as usize];
                if second <= self.current && self.current - second < BUCKETS as u64 {
                    requests -= b.requests;
                    tokens -= b.tokens;
                }
            }
        }
        (requests, u64::try_from(tokens).unwrap_or(0))
    }

    /// Milliseconds until the oldest non-empty bucket leaves the window (capacity frees up).
    pub fn ms_until_oldest_expires(&self, now_ms: u64) -> u64 {
        let now_second = now_ms / BUCKET_MS;
        let first = self.current.saturating_sub(BUCKETS as u64 - 1);
        (first..=self.current)
            .find(|&second| {
                self.live(second, now_second)
                    .is_some_and(|b| b.requests > 0 || b.tokens > 0)
            })
            .map_or(BUCKET_MS, |second| {
                let expires = (second + BUCKETS as u64) * BUCKET_MS;
                expires.saturating_sub(now_ms).max(1)
            })
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
        w.add(90_000, 1, 1);
        assert_eq!(w.totals(500_000), (0, 0));
    }

    #[test]
    fn tells_when_the_oldest_request_expires() {
        let mut w = RateWindow::default();
        w.add(1_500, 1, 0);
        w.add(30_000, 1, 0);
        assert_eq!(w.ms_until_oldest_expires(30_000), 31_000);
        assert_eq!(w.ms_until_oldest_expires(61_000), 29_000);
    }

    #[test]
    fn settlement_can_lower_tokens() {
        let mut w = RateWindow::default();
        w.add(1_000, 1, 500);
        w.add(1_500, 0, -300);
        assert_eq!(w.totals(2_000), (1, 200));
    }
}
