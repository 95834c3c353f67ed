use proptest::prelude::*;

use super::bucket::UNITS;
use super::*;

const SEC: u64 = 1_000_000;

fn lim(rpm: Option<u32>, tpm: Option<u32>, max_parallel: Option<u32>) -> Limits {
    Limits {
        rpm,
        tpm,
        max_parallel,
    }
}

fn one(id: &str, limits: Limits) -> [(&str, Limits); 1] {
    [(id, limits)]
}

#[test]
fn a_fresh_entity_admits_its_rpm_at_once_then_limit_per_minute() {
    let mut l = Limiter::new();
    let claims = one("k", lim(Some(6), None, None));
    for _ in 0..6 {
        assert!(l.acquire(&claims, 0, 0).is_ok());
    }
    let refused = l.acquire(&claims, 0, 0).unwrap_err();
    assert_eq!(refused.kind, Kind::Rpm);
    assert_eq!(refused.entity, 0);
    assert_eq!(refused.retry_after_us, 10 * SEC);
    assert_eq!(refused.retry_after_secs(), 10.0);
    assert_eq!(
        l.acquire(&claims, 0, 10 * SEC - 1)
            .unwrap_err()
            .retry_after_us,
        1
    );
    assert!(l.acquire(&claims, 0, 10 * SEC).is_ok());
    assert!(l.acquire(&claims, 0, 10 * SEC).is_err());
}

#[test]
fn tpm_admits_a_request_bigger_than_the_bucket_when_full_and_keeps_the_debt() {
    let mut l = Limiter::new();
    let claims = one("k", lim(None, Some(600), None));
    let t = l.acquire(&claims, 1_200, 0).unwrap();
    assert!(l.release(t, 1_200, 0));
    // 1200 tokens owed on a 600/min bucket: full again after two minutes.
    let refused = l.acquire(&claims, 1, 0).unwrap_err();
    assert_eq!(refused.kind, Kind::Tpm);
    assert_eq!(refused.retry_after_us, 60 * SEC + 100_000);
    assert!(l.acquire(&claims, 1, 60 * SEC + 100_000).is_ok());
}

#[test]
fn release_refunds_what_was_not_used_and_charges_what_was_used_beyond() {
    let mut l = Limiter::new();
    let claims = one("k", lim(None, Some(100), None));
    let t = l.acquire(&claims, 100, 0).unwrap();
    assert!(l.acquire(&claims, 1, 0).is_err());
    assert!(l.release(t, 40, 0));
    // 60 refunded: a 60-token request fits, a 61-token one does not.
    assert!(l.acquire(&claims, 61, 0).is_err());
    let t = l.acquire(&claims, 60, 0).unwrap();
    // Used 30 more than reserved: 30 tokens of debt, 18 s at 100/min.
    assert!(l.release(t, 90, 0));
    assert_eq!(
        l.acquire(&claims, 1, 0).unwrap_err().retry_after_us,
        18_600_000
    );
}

#[test]
fn a_refund_never_fills_the_bucket_past_its_capacity() {
    let mut l = Limiter::new();
    let claims = one("k", lim(None, Some(100), None));
    let t = l.acquire(&claims, 100, 0).unwrap();
    assert!(l.release(t, 0, 120 * SEC));
    let t = l.acquire(&claims, 100, 120 * SEC).unwrap();
    assert!(l.acquire(&claims, 1, 120 * SEC).is_err());
    assert!(l.release(t, 100, 120 * SEC));
}

#[test]
fn parallel_slots_come_back_on_release() {
    let mut l = Limiter::new();
    let claims = one("k", lim(None, None, Some(2)));
    let a = l.acquire(&claims, 0, 0).unwrap();
    let b = l.acquire(&claims, 0, 0).unwrap();
    let refused = l.acquire(&claims, 0, 0).unwrap_err();
    assert_eq!(
        (refused.kind, refused.retry_after_us),
        (Kind::Parallel, SEC)
    );
    assert_eq!(l.in_flight("k"), 2);
    assert!(l.release(a, 0, 0));
    assert!(!l.release(a, 0, 0));
    assert_eq!(l.in_flight("k"), 1);
    assert!(l.acquire(&claims, 0, 0).is_ok());
    assert!(l.release(b, 0, 0));
    assert_eq!(l.in_flight_total(), 1);
}

#[test]
fn a_refusal_by_one_entity_charges_none() {
    let mut l = Limiter::new();
    let key = ("key", lim(Some(10), Some(1_000), Some(5)));
    let user = ("user", lim(None, None, Some(1)));
    let held = l.acquire(&[user], 0, 0).unwrap();
    let before = l.clone();
    let refused = l.acquire(&[key, user], 10, 0).unwrap_err();
    assert_eq!((refused.entity, refused.kind), (1, Kind::Parallel));
    assert_eq!(l, before);
    assert_eq!(l.in_flight("key"), 0);
    assert!(l.release(held, 0, 0));
    assert!(l.acquire(&[key, user], 10, 0).is_ok());
    assert_eq!((l.in_flight("key"), l.in_flight("user")), (1, 1));
}

#[test]
fn the_refusal_reported_is_the_one_that_frees_up_last() {
    let mut l = Limiter::new();
    let a = ("a", lim(Some(60), None, Some(1)));
    let b = ("b", lim(Some(1), None, None));
    l.acquire(&[a, b], 0, 0).unwrap();
    // a: parallel (1 s); b: rpm (60 s).
    let refused = l.acquire(&[a, b], 0, 0).unwrap_err();
    assert_eq!((refused.entity, refused.kind), (1, Kind::Rpm));
    assert_eq!(refused.retry_after_us, 60 * SEC);
    // On a tie the first wins: parallel before rpm, and then the first entity listed.
    let c = ("c", lim(Some(60), None, Some(60)));
    for _ in 0..60 {
        l.acquire(&[c], 0, 0).unwrap();
    }
    let refused = l.acquire(&[c], 0, 0).unwrap_err();
    assert_eq!(
        (refused.kind, refused.retry_after_us),
        (Kind::Parallel, SEC)
    );
    let d = ("d", lim(Some(1), None, None));
    l.acquire(&[d], 0, 0).unwrap();
    let refused = l.acquire(&[b, d], 0, 0).unwrap_err();
    assert_eq!((refused.entity, refused.kind), (0, Kind::Rpm));
}

#[test]
fn unlimited_entities_are_not_tracked_but_their_tickets_count() {
    let mut l = Limiter::new();
    let t = l.acquire(&[("free", Limits::default())], 0, 0).unwrap();
    assert!(t.0 > 0);
    assert_eq!(
        (l.len(), l.in_flight("free"), l.in_flight_total()),
        (0, 0, 1)
    );
    let none: [(&str, Limits); 0] = [];
    let u = l.acquire(&none, 0, 0).unwrap();
    assert_eq!(l.in_flight_total(), 2);
    assert!(l.release(t, 5, 0) && l.release(u, 0, 0));
    assert_eq!(l.in_flight_total(), 0);
}

#[test]
fn an_id_listed_twice_is_charged_once() {
    let mut l = Limiter::new();
    let k = ("k", lim(None, None, Some(1)));
    let t = l.acquire(&[k, k], 0, 0).unwrap();
    assert_eq!(l.in_flight("k"), 1);
    assert!(l.acquire(&[k, k], 0, 0).is_err());
    assert!(l.release(t, 0, 0));
    assert_eq!(l.in_flight("k"), 0);
    assert!(l.acquire(&[k, k], 0, 0).is_ok());
    assert_eq!(l.in_flight("k"), 1);
}

#[test]
fn a_zero_limit_blocks_everything() {
    let mut l = Limiter::new();
    for (limits, kind) in [
        (lim(Some(0), None, None), Kind::Rpm),
        (lim(None, Some(0), None), Kind::Tpm),
        (lim(None, None, Some(0)), Kind::Parallel),
    ] {
        let refused = l.acquire(&one("k", limits), 0, 0).unwrap_err();
        assert_eq!(refused.kind, kind);
        assert!(refused.retry_after_us > 0);
    }
    assert!(l.is_empty());
}

#[test]
fn a_changed_limit_keeps_what_was_spent() {
    let mut l = Limiter::new();
    for _ in 0..10 {
        l.acquire(&one("k", lim(Some(10), None, None)), 0, 0)
            .unwrap();
    }
    // Raised to 15: five more at once; spent 15 in the last minute, so lowered to 12 it waits
    // for 4 to refill, at 15 per minute until a request is admitted under the new limit.
    for _ in 0..5 {
        l.acquire(&one("k", lim(Some(15), None, None)), 0, 0)
            .unwrap();
    }
    let lowered = one("k", lim(Some(12), None, None));
    let refused = l.acquire(&lowered, 0, 0).unwrap_err();
    assert_eq!(refused.retry_after_us, 4 * 60 * SEC / 15);
    assert!(l.acquire(&lowered, 0, 16 * SEC).is_ok());
    // Now at 12 per minute: 5 s per request.
    assert_eq!(
        l.acquire(&lowered, 0, 16 * SEC).unwrap_err().retry_after_us,
        5 * SEC
    );
}

#[test]
fn a_tpm_limit_removed_in_flight_is_not_settled() {
    let mut l = Limiter::new();
    let t = l
        .acquire(&one("k", lim(None, Some(100), None)), 100, 0)
        .unwrap();
    l.acquire(&one("k", lim(None, None, Some(9))), 0, 0)
        .unwrap();
    assert!(l.release(t, 500, 0));
    // No tpm debt came back with the limit.
    assert!(l
        .acquire(&one("k", lim(None, Some(100), None)), 100, 0)
        .is_ok());
}

#[test]
fn time_running_backwards_refills_nothing() {
    let mut l = Limiter::new();
    let claims = one("k", lim(Some(1), None, None));
    l.acquire(&claims, 0, 100 * SEC).unwrap();
    assert!(l.acquire(&claims, 0, 0).is_err());
    assert!(l.acquire(&claims, 0, 160 * SEC).is_ok());
}

#[test]
fn idle_entities_are_forgotten_and_busy_ones_kept() {
    let mut l = Limiter::new();
    let busy = l
        .acquire(&one("busy", lim(None, None, Some(1))), 0, 0)
        .unwrap();
    let spent = l
        .acquire(&one("spent", lim(Some(60), None, None)), 0, 0)
        .unwrap();
    assert!(l.release(spent, 0, 0));
    assert_eq!(l.sweep(0), 0);
    assert_eq!(l.sweep(SEC), 1);
    assert_eq!(l.len(), 1);
    assert!(l.release(busy, 0, SEC));
    assert_eq!(l.sweep(SEC), 1);
    assert!(l.is_empty());
}

#[test]
fn a_stream_of_one_off_ids_stays_bounded() {
    let mut l = Limiter::new();
    for i in 0..20_000u64 {
        let id = format!("one-off-{i}");
        // Each refills within 60 µs, so is idle by the next one.
        let now = i * 100;
        let t = l
            .acquire(&one(&id, lim(Some(1_000_000), None, None)), 0, now)
            .unwrap();
        assert!(l.release(t, 0, now));
        assert!(l.len() <= SWEEP_EVERY + 2, "{} tracked", l.len());
    }
    assert!(l.entities.len() <= SWEEP_EVERY + 2);
}

#[test]
fn tickets_survive_compaction() {
    let mut l = Limiter::new();
    for i in 0..3_000 {
        let id = format!("burst-{i}");
        let t = l
            .acquire(&one(&id, lim(Some(1), None, None)), 0, 0)
            .unwrap();
        assert!(l.release(t, 0, 0));
    }
    let held_limits = lim(None, Some(1_000), Some(1));
    let held = l.acquire(&one("held", held_limits), 3_000, 0).unwrap();
    assert_eq!(l.sweep(60 * SEC), 3_000);
    assert!(l.entities.len() <= 2, "{} slots kept", l.entities.len());
    assert_eq!(l.in_flight("held"), 1);
    assert!(l.release(held, 0, 60 * SEC));
    assert_eq!(l.in_flight("held"), 0);
    // 2000 tokens were still owed at 60 s: only the refund onto the moved entity clears them.
    assert!(l
        .acquire(&one("held", held_limits), 1_000, 60 * SEC)
        .is_ok());
}

/// An entity's fixed limits in a generated scenario.
fn limits_strategy() -> impl Strategy<Value = Limits> {
    (
        prop::option::of(0u32..8),
        prop::option::of(0u32..500),
        prop::option::of(0u32..4),
    )
        .prop_map(|(rpm, tpm, max_parallel)| lim(rpm, tpm, max_parallel))
}

#[derive(Debug, Clone)]
enum Op {
    /// Bitmask of the entities to claim, estimated tokens.
    Acquire(u8, u64),
    /// Which open ticket, tokens used.
    Release(usize, u64),
    Wait(u64),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..16, 0u64..300).prop_map(|(m, t)| Op::Acquire(m, t)),
        3 => (any::<usize>(), 0u64..600).prop_map(|(i, u)| Op::Release(i, u)),
        1 => (0u64..30 * SEC).prop_map(Op::Wait),
    ]
}

const IDS: [&str; 4] = ["key", "user", "team", "org"];

proptest! {
    #[test]
    fn invariants_hold_over_any_sequence(
        limits in prop::collection::vec(limits_strategy(), 4),
        ops in prop::collection::vec(op_strategy(), 1..150),
    ) {
        let mut l = Limiter::new();
        let mut now = 0u64;
        // Open tickets with the entities they claimed.
        let mut open: Vec<(Ticket, Vec<usize>)> = Vec::new();
        for op in ops {
            match op {
                Op::Wait(us) => now += us,
                Op::Acquire(mask, tokens) => {
                    let chosen: Vec<usize> = (0..4).filter(|i| mask & (1 << i) != 0).collect();
                    let claims: Vec<(&str, Limits)> = chosen.iter().map(|&i| (IDS[i], limits[i])).collect();
                    let before = l.clone();
                    match l.acquire(&claims, tokens, now) {
                        Ok(t) => {
                            prop_assert!(t.0 > 0);
                            prop_assert!(open.iter().all(|(o, _)| *o != t));
                            open.push((t, chosen));
                        }
                        Err(r) => {
                            prop_assert_eq!(&l, &before, "a refusal changed the state");
                            prop_assert!(r.entity < claims.len());
                            prop_assert!(r.retry_after_us > 0);
                        }
                    }
                }
                Op::Release(which, used) => {
                    if open.is_empty() {
                        prop_assert!(!l.release(Ticket(1 << 32), used, now));
                    } else {
                        let (t, _) = open.swap_remove(which % open.len());
                        prop_assert!(l.release(t, used, now));
                        prop_assert!(!l.release(t, used, now));
                    }
                }
            }
            prop_assert_eq!(l.in_flight_total(), open.len() as u64);
            for (i, id) in IDS.iter().enumerate() {
                let holding = open.iter().filter(|(_, c)| c.contains(&i)).count() as u32;
                let tracked = if limits[i] == Limits::default() { 0 } else { holding };
                prop_assert_eq!(l.in_flight(id), tracked);
                if let Some(max) = limits[i].max_parallel {
                    prop_assert!(l.in_flight(id) <= max);
                }
            }
        }
        for (t, _) in open.drain(..) {
            prop_assert!(l.release(t, 0, now));
        }
        prop_assert_eq!(l.in_flight_total(), 0);
        for id in IDS {
            prop_assert_eq!(l.in_flight(id), 0);
        }
        // Debts are bounded, so long enough after, every entity is idle and forgotten.
        l.sweep(now + 1_000_000 * 60 * SEC);
        prop_assert!(l.is_empty());
    }

    #[test]
    fn rpm_admits_at_most_the_limit_plus_the_refill_in_any_interval(
        rpm in 1u32..30,
        gaps in prop::collection::vec(0u64..5 * SEC, 1..300),
    ) {
        let mut l = Limiter::new();
        let claims = one("k", lim(Some(rpm), None, None));
        let mut now = 0u64;
        let mut admitted = Vec::new();
        for gap in gaps {
            now += gap;
            if l.acquire(&claims, 0, now).is_ok() {
                admitted.push(now);
            }
        }
        for (i, &start) in admitted.iter().enumerate() {
            for (j, &end) in admitted.iter().enumerate().skip(i) {
                let refill = u128::from(rpm) * u128::from(end - start) / UNITS;
                let bound = u128::from(rpm) + refill;
                prop_assert!((j - i + 1) as u128 <= bound,
                    "{} admitted in [{}, {}] with rpm {}", j - i + 1, start, end, rpm);
            }
        }
    }

    #[test]
    fn retry_after_is_exact_even_under_changed_limits(
        rpm in prop::option::of(1u32..100),
        tpm in prop::option::of(1u32..10_000),
        new_rpm in prop::option::of(1u32..100),
        new_tpm in prop::option::of(1u32..10_000),
        spend in prop::collection::vec((0u64..20_000, 0u64..SEC), 1..40),
        tokens in 0u64..20_000,
    ) {
        let mut l = Limiter::new();
        let claims = one("k", lim(rpm, tpm, None));
        let mut now = 0u64;
        for (t, gap) in spend {
            now += gap;
            let _ = l.acquire(&claims, t, now);
        }
        let claims = one("k", lim(new_rpm, new_tpm, None));
        if let Err(r) = l.acquire(&claims, tokens, now) {
            prop_assert!(l.acquire(&claims, tokens, now + r.retry_after_us - 1).is_err());
            prop_assert!(l.acquire(&claims, tokens, now + r.retry_after_us).is_ok());
        }
    }
}
