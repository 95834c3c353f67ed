//! Per-minute token buckets kept as debt: how far below full a bucket is, in fixed point.
//!
//! One token is [`UNITS`] units and a bucket of `limit` per minute refills `limit` units per
//! microsecond, so refilling is exact integer arithmetic: no drift however often it runs, and
//! a Python reference model can reproduce every decision bit for bit. Keeping the debt rather
//! than the level makes "full" 0 whatever the limit, so changing a limit keeps what was spent
//! in the last minute, and an evicted entity is indistinguishable from a fresh one.
//!
//! `u128` because a debt is `tokens * UNITS` and `tokens` is any `u64`: exact with no
//! overflow to reason about, at a cost that does not show next to the hash lookups.

/// Microseconds per minute: what one token is worth in units.
pub const UNITS: u128 = 60_000_000;

/// What a zero limit tells callers to wait. It never refills, so this is only a hint to come
/// back once an admin may have raised it.
pub const BLOCKED_WAIT_US: u64 = 60_000_000;

/// The debt after `elapsed_us` of refilling; with no limit there is no bucket, hence no debt.
pub fn refill(debt: u128, limit: Option<u32>, elapsed_us: u64) -> u128 {
    match limit {
        Some(limit) => debt.saturating_sub(u128::from(limit) * u128::from(elapsed_us)),
        None => 0,
    }
}

/// Microseconds until a bucket of `limit` per minute holding `debt` can admit `need` tokens
/// (0 when it can now), while it refills at `rate` per minute.
///
/// The rate is the limit in force since the bucket was last charged: a refused request does
/// not install its new limit, so until one is admitted the bucket goes on refilling at the old
/// rate, and the wait is exact only if it counts with that one.
///
/// A request asks for at most the whole bucket, so one bigger than the per-minute budget still
/// passes once the bucket is full (and leaves it in debt).
pub fn wait_us(debt: u128, limit: u32, need: u64, rate: Option<u32>) -> u64 {
    if limit == 0 {
        return BLOCKED_WAIT_US;
    }
    let need = u128::from(need.min(u64::from(limit)));
    let allowed = (u128::from(limit) - need) * UNITS;
    if debt <= allowed {
        return 0;
    }
    // No rate means no debt, so a positive excess always comes with a rate.
    let rate = match rate {
        Some(rate) if rate > 0 => u128::from(rate),
        _ => return BLOCKED_WAIT_US,
    };
    u64::try_from((debt - allowed).div_ceil(rate)).unwrap_or(u64::MAX)
}

/// `tokens` in units.
pub fn units(tokens: u64) -> u128 {
    u128::from(tokens) * UNITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_limit_units_per_microsecond_and_never_below_zero() {
        assert_eq!(refill(units(10), Some(60), 1_000_000), units(9));
        assert_eq!(refill(units(1), Some(60), 10_000_000), 0);
        assert_eq!(refill(units(5), None, 0), 0);
    }

    #[test]
    fn waits_exactly_until_the_bucket_has_enough() {
        // rpm 60, empty: one request refills in exactly one second.
        assert_eq!(wait_us(units(60), 60, 1, Some(60)), 1_000_000);
        assert_eq!(wait_us(units(59), 60, 1, Some(60)), 0);
        // 1 per minute, half refilled: 30 s to go.
        assert_eq!(wait_us(units(1) / 2, 1, 1, Some(1)), 30_000_000);
        // Needing more than the bucket holds means needing a full bucket.
        assert_eq!(wait_us(0, 100, 1_000, Some(100)), 0);
        assert_eq!(wait_us(1, 100, 1_000, Some(100)), 1);
        assert_eq!(wait_us(0, 0, 0, None), BLOCKED_WAIT_US);
        // Lowered from 120 to 60 with 60 spent: one token short, refilling at 120 per minute.
        assert_eq!(wait_us(units(60), 60, 1, Some(120)), 500_000);
    }
}
