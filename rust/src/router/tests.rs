use proptest::prelude::*;

use super::clock::ManualClock;
use super::strategy::Strategy;
use super::*;

fn specs(n: usize) -> Vec<DeploymentSpec> {
    vec![DeploymentSpec::default(); n]
}

/// One deployment per value, each the default but for what `set` gives it.
fn specs_with<T: Copy>(values: &[T], set: fn(&mut DeploymentSpec, T)) -> Vec<DeploymentSpec> {
    values
        .iter()
        .map(|&v| {
            let mut d = DeploymentSpec::default();
            set(&mut d, v);
            d
        })
        .collect()
}

/// A router over one group "g", on a clock the test moves, that never explores.
fn router(strategy: Strategy, deployments: Vec<DeploymentSpec>) -> (Router, ManualClock) {
    router_exploring(strategy, deployments, 0.0)
}

fn router_exploring(
    strategy: Strategy,
    deployments: Vec<DeploymentSpec>,
    exploration: f64,
) -> (Router, ManualClock) {
    let clock = ManualClock::default();
    let groups = vec![GroupSpec {
        name: "g".into(),
        strategy,
        deployments,
    }];
    let r = Router::new(
        groups,
        BreakerConfig::default(),
        exploration,
        Box::new(clock.clone()),
    );
    (r, clock)
}

fn pick_done(r: &mut Router) -> usize {
    let i = r.pick("g", &[], 0).unwrap();
    r.report(i, Outcome::Success, 10.0, 5.0, 0, 0);
    i
}

fn counts(r: &mut Router, picks: usize, n: usize) -> Vec<usize> {
    let mut c = vec![0; n];
    for _ in 0..picks {
        c[pick_done(r)] += 1;
    }
    c
}

#[test]
fn round_robin_cycles_in_order() {
    let (mut r, _) = router(Strategy::RoundRobin, specs(3));
    let seq: Vec<usize> = (0..6).map(|_| pick_done(&mut r)).collect();
    assert_eq!(seq, vec![0, 1, 2, 0, 1, 2]);
}

#[test]
fn excluded_deployments_are_skipped_and_exhaustion_reported() {
    let (mut r, _) = router(Strategy::RoundRobin, specs(2));
    assert_eq!(r.pick("g", &[0], 0), Ok(1));
    let err = r.pick("g", &[0, 1], 0).unwrap_err();
    assert_eq!(err.reason, NoPickReason::Exhausted);
    assert_eq!(
        r.pick("nope", &[], 0).unwrap_err().reason,
        NoPickReason::UnknownGroup
    );
}

#[test]
fn least_busy_prefers_fewest_in_flight() {
    let (mut r, _) = router(Strategy::LeastBusy, specs(3));
    let a = r.pick("g", &[], 0).unwrap();
    let b = r.pick("g", &[], 0).unwrap();
    let c = r.pick("g", &[], 0).unwrap();
    assert_eq!(
        {
            let mut v = vec![a, b, c];
            v.sort_unstable();
            v
        },
        vec![0, 1, 2]
    );
    r.report(b, Outcome::Success, 1.0, 1.0, 0, 0);
    assert_eq!(r.pick("g", &[], 0), Ok(b));
}

#[test]
fn priority_uses_lower_tiers_only_as_failover() {
    let d = specs_with(&[1, 10, 10], |d, priority| d.priority = priority);
    let (mut r, _) = router(Strategy::Priority, d);
    let c = counts(&mut r, 10, 3);
    assert_eq!(c, vec![0, 5, 5]);
    assert_eq!(r.pick("g", &[1, 2], 0), Ok(0));
}

#[test]
fn latency_based_prefers_the_fastest_and_retries_stale_ones() {
    let (mut r, clock) = router(Strategy::LatencyBased, specs(2));
    let a = r.pick("g", &[], 0).unwrap();
    r.report(a, Outcome::Success, 100.0, 80.0, 0, 0);
    let b = r.pick("g", &[], 0).unwrap();
    assert_ne!(a, b, "an unmeasured deployment is tried first");
    r.report(b, Outcome::Success, 30.0, 20.0, 0, 0);
    for _ in 0..5 {
        assert_eq!(pick_done_with(&mut r, 30.0), b);
    }
    clock.advance(31_000);
    // b's sample is stale now too after a's; both unknown: round-robin between them.
    let next = r.pick("g", &[], 0).unwrap();
    r.report(next, Outcome::Success, 30.0, 20.0, 0, 0);
}

fn pick_done_with(r: &mut Router, ttft: f64) -> usize {
    let i = r.pick("g", &[], 0).unwrap();
    r.report(i, Outcome::Success, ttft, ttft, 0, 0);
    i
}

#[test]
fn latency_based_explores() {
    let (mut r, _) = router_exploring(Strategy::LatencyBased, specs(2), 0.2);
    let i = r.pick("g", &[], 0).unwrap();
    r.report(i, Outcome::Success, 500.0, 500.0, 0, 0);
    let j = r.pick("g", &[], 0).unwrap();
    r.report(j, Outcome::Success, 5.0, 5.0, 0, 0);
    let slow_picks = (0..500)
        .filter(|_| pick_done_with(&mut r, 5.0) == i)
        .count();
    assert!(slow_picks > 20 && slow_picks < 200, "{slow_picks}");
}

#[test]
fn usage_based_prefers_the_least_used_share_of_limits() {
    let d = specs_with(&[10, 100], |d, rpm| d.rpm = Some(rpm));
    let (mut r, _) = router(Strategy::UsageBased, d);
    let c = counts(&mut r, 22, 2);
    // 2 of 10 (20 %) vs 20 of 100 (20 %): both end at the same share.
    assert_eq!(c, vec![2, 20]);
}

#[test]
fn rpm_saturation_skips_then_reports_when_to_return() {
    let d = specs_with(&[2, 1], |d, rpm| d.rpm = Some(rpm));
    let (mut r, clock) = router(Strategy::RoundRobin, d);
    assert_eq!(counts(&mut r, 3, 2), vec![2, 1]);
    let err = r.pick("g", &[], 0).unwrap_err();
    assert_eq!(err.reason, NoPickReason::Saturated);
    assert_eq!(err.retry_after_ms, 60_000);
    clock.advance(60_000);
    assert!(r.pick("g", &[], 0).is_ok());
}

#[test]
fn tpm_is_reserved_at_pick_and_settled_at_report() {
    let d = specs_with(&[1000], |d, tpm| d.tpm = Some(tpm));
    let (mut r, _) = router(Strategy::RoundRobin, d);
    let i = r.pick("g", &[], 800).unwrap();
    assert!(r.pick("g", &[], 300).is_err(), "800 reserved + 300 > 1000");
    r.report(i, Outcome::Success, 1.0, 1.0, 100, 800);
    assert!(r.pick("g", &[], 300).is_ok(), "settled to 100");
}

#[test]
fn max_in_flight_saturates() {
    let d = specs_with(&[1], |d, max| d.max_in_flight = Some(max));
    let (mut r, _) = router(Strategy::RoundRobin, d);
    let i = r.pick("g", &[], 0).unwrap();
    assert_eq!(
        r.pick("g", &[], 0).unwrap_err().reason,
        NoPickReason::Saturated
    );
    r.report(i, Outcome::Neutral, 0.0, 0.0, 0, 0);
    assert!(r.pick("g", &[], 0).is_ok());
}

#[test]
fn failures_eject_until_the_cool_off_then_a_probe_closes_it() {
    let (mut r, clock) = router(Strategy::RoundRobin, specs(1));
    for _ in 0..5 {
        let i = r.pick("g", &[], 0).unwrap();
        r.report(i, Outcome::Failure, 1.0, 1.0, 0, 0);
    }
    assert_eq!(r.ejections_total, 1);
    let err = r.pick("g", &[], 0).unwrap_err();
    assert_eq!(err.reason, NoPickReason::Ejected);
    assert_eq!(err.retry_after_ms, 5_000);
    assert_eq!(r.health()[0].state, "open");
    assert_eq!(r.health()[0].score, 0.0);
    clock.advance(5_000);
    let probe = r.pick("g", &[], 0).unwrap();
    assert!(r.pick("g", &[], 0).is_err(), "one probe at a time");
    r.report(probe, Outcome::Success, 1.0, 1.0, 0, 0);
    let probe = r.pick("g", &[], 0).unwrap();
    r.report(probe, Outcome::Success, 1.0, 1.0, 0, 0);
    assert_eq!(r.health()[0].state, "closed");
}

#[test]
fn rate_limited_cools_down_without_ejection() {
    let (mut r, clock) = router(Strategy::RoundRobin, specs(2));
    let i = r.pick("g", &[], 0).unwrap();
    r.report(
        i,
        Outcome::RateLimited {
            retry_after_ms: 2_000,
        },
        1.0,
        1.0,
        0,
        0,
    );
    for _ in 0..3 {
        assert_ne!(pick_done(&mut r), i);
    }
    assert_eq!(r.health()[i].state, "cooling_down");
    assert!((r.health()[i].score - 100.0).abs() < 1e-9);
    clock.advance(2_000);
    assert!(counts(&mut r, 2, 2).iter().all(|&c| c == 1));
}

#[test]
fn never_ejects_more_than_the_allowed_share() {
    let (mut r, _) = router(Strategy::RoundRobin, specs(4));
    for _ in 0..40 {
        if let Ok(got) = r.pick("g", &[], 0) {
            r.report(got, Outcome::Failure, 1.0, 1.0, 0, 0);
        }
    }
    let open = r.health().iter().filter(|h| h.state == "open").count();
    assert_eq!(open, 2, "50 % of 4");
    assert!(r.pick("g", &[], 0).is_ok());
}

fn eligible(r: &mut Router, exclude: &[usize], tokens: u64) -> Vec<usize> {
    let now = r.clock.now_ms();
    let cfg = r.breaker;
    let members = r.groups[0].members.clone();
    members
        .into_iter()
        .filter(|i| !exclude.contains(i))
        .filter(|&i| {
            let d = &mut r.deps[i];
            d.breaker.tick(now, &cfg);
            !d.breaker.blocks()
                && d.cooldown_until_ms <= now
                && d.saturated_for(now, tokens).is_none()
        })
        .collect()
}

fn strategy_of(n: u8) -> Strategy {
    [
        Strategy::RoundRobin,
        Strategy::LeastBusy,
        Strategy::Weighted,
        Strategy::Priority,
        Strategy::LatencyBased,
        Strategy::UsageBased,
    ][usize::from(n % 6)]
}

proptest! {
    #[test]
    fn no_strategy_picks_an_ejected_cooling_or_saturated_deployment(
        strategy in 0u8..6,
        limits in prop::collection::vec((prop::option::of(1u64..5), prop::option::of(1u32..3), 0i64..3), 1..6),
        steps in prop::collection::vec((0u8..5, 0u64..3000, 0usize..6), 1..200),
    ) {
        let deployments = limits
            .iter()
            .map(|&(rpm, max_in_flight, priority)| DeploymentSpec { rpm, max_in_flight, priority, ..DeploymentSpec::default() })
            .collect();
        let (mut r, clock) = router(strategy_of(strategy), deployments);
        let mut open: Vec<usize> = Vec::new();
        for (action, advance, which) in steps {
            clock.advance(advance);
            if action < 2 || open.is_empty() {
                let exclude: Vec<usize> = if which % 3 == 0 { vec![which % limits.len()] } else { vec![] };
                let allowed = eligible(&mut r, &exclude, 0);
                match r.pick("g", &exclude, 0) {
                    Ok(i) => {
                        prop_assert!(allowed.contains(&i), "picked {} not in {:?}", i, allowed);
                        open.push(i);
                    }
                    Err(e) => {
                        prop_assert!(allowed.is_empty(), "{:?} with {:?} eligible", e, allowed);
                        prop_assert!(e.reason == NoPickReason::Exhausted || e.retry_after_ms > 0);
                    }
                }
            } else {
                let i = open.swap_remove(which % open.len());
                let outcome = match action {
                    2 => Outcome::Success,
                    3 => Outcome::Failure,
                    _ => Outcome::RateLimited { retry_after_ms: advance },
                };
                r.report(i, outcome, 10.0, 5.0, 0, 0);
            }
        }
    }

    #[test]
    fn weighted_is_exact_over_every_full_window(weights in prop::collection::vec(1u32..6, 1..6), rounds in 1usize..5) {
        let deployments = specs_with(&weights, |d, w| d.weight = f64::from(w));
        let (mut r, _) = router(Strategy::Weighted, deployments);
        let total: usize = weights.iter().map(|&w| w as usize).sum();
        let c = counts(&mut r, total * rounds, weights.len());
        let expected: Vec<usize> = weights.iter().map(|&w| w as usize * rounds).collect();
        prop_assert_eq!(c, expected);
    }
}

/// One client request with retries: attempts until a deployment succeeds (deployments in
/// `failing` always fail), as the Python engine does. Returns the attempt count per deployment.
fn serve_with_retries(r: &mut Router, failing: &[usize], attempts: &mut [usize]) {
    let mut tried = Vec::new();
    while let Ok(i) = r.pick("g", &tried, 0) {
        attempts[i] += 1;
        if failing.contains(&i) {
            r.report(i, Outcome::Failure, 10.0, 5.0, 0, 0);
            tried.push(i);
        } else {
            r.report(i, Outcome::Success, 10.0, 5.0, 0, 0);
            return;
        }
    }
}

#[test]
fn a_run_of_failures_gets_only_probes_while_a_healthy_peer_exists() {
    // The case: one good, one always-500 and one hanging deployment; the ejection cap
    // (50 % of 3: one) keeps at least one failing deployment in rotation.
    for strategy in [
        Strategy::RoundRobin,
        Strategy::Weighted,
        Strategy::LeastBusy,
        Strategy::LatencyBased,
        Strategy::UsageBased,
        Strategy::Priority,
    ] {
        let (mut r, clock) = router(strategy, specs(3));
        let mut attempts = vec![0; 3];
        for _ in 0..40 {
            serve_with_retries(&mut r, &[1, 2], &mut attempts);
            clock.advance(50); // 40 requests over 2 s: two probe slots per deployment
        }
        assert_eq!(
            attempts[0], 40,
            "{strategy:?}: every request served by the good one"
        );
        let run = BreakerConfig::default().consecutive_failures as usize;
        for bad in [1, 2] {
            // Up to the run that makes it suspect (or ejects it), then one probe a second.
            assert!(attempts[bad] <= run + 2, "{strategy:?}: {attempts:?}");
        }
        // The cap ejected one of them; the other stayed in rotation, on probes only.
        let open = r.health().iter().filter(|h| h.state == "open").count();
        assert_eq!(open, 1, "{strategy:?}");
    }
}

#[test]
fn a_suspect_comes_back_when_its_probe_succeeds() {
    // Two of three failing: the cap ejects one, the other stays in rotation as a suspect.
    let (mut r, clock) = router(Strategy::RoundRobin, specs(3));
    let mut attempts = vec![0; 3];
    for _ in 0..20 {
        serve_with_retries(&mut r, &[1, 2], &mut attempts);
    }
    let suspect = r
        .health()
        .iter()
        .find(|h| h.deployment != 0 && h.state == "closed")
        .map(|h| h.deployment)
        .unwrap();
    clock.advance(PROBE_INTERVAL_MS);
    let mut attempts = vec![0; 3];
    for _ in 0..10 {
        serve_with_retries(&mut r, &[], &mut attempts);
    }
    assert!(attempts[suspect] >= 4, "back in the rotation: {attempts:?}");
}

#[test]
fn suspects_still_serve_when_nothing_else_can() {
    let (mut r, _) = router(Strategy::RoundRobin, specs(2));
    let mut attempts = vec![0; 2];
    for _ in 0..6 {
        serve_with_retries(&mut r, &[0, 1], &mut attempts);
    }
    // Both failing and suspect: each request still tries them (until the breaker opens).
    assert!(attempts.iter().sum::<usize>() >= 6, "{attempts:?}");
}

/// A reload that keeps deployment 0, drops 1 and adds a new one as index 2.
fn reloaded(r: &mut Router) {
    let spec = DeploymentSpec::default();
    r.reconfigure(vec![(
        "g\0".to_string() + "1",
        Strategy::RoundRobin,
        vec![(0, spec.clone()), (2, spec)],
    )])
    .unwrap();
}

#[test]
fn reconfigure_keeps_the_state_of_a_kept_deployment() {
    let (mut r, _clock) = router(Strategy::RoundRobin, specs(2));
    let i = r.pick("g", &[1], 0).unwrap();
    assert_eq!(i, 0);
    r.report(0, Outcome::Failure, 10.0, 5.0, 0, 0);
    let held = r.pick("g", &[1], 0).unwrap(); // in flight across the reload
    reloaded(&mut r);
    assert_eq!(r.deployment_count(), 3);
    let h = r.health();
    assert_eq!(h[0].consecutive_failures, 1);
    assert_eq!(h[0].in_flight, 1);
    assert_eq!(h[0].group, "g");
    // The attempt begun before the reload ends on the same deployment.
    r.report(held, Outcome::Success, 10.0, 5.0, 0, 0);
    assert_eq!(r.health()[0].in_flight, 0);
    assert_eq!(r.health()[0].consecutive_failures, 0);
}

#[test]
fn reconfigure_picks_only_the_new_members_under_the_new_name() {
    let (mut r, _clock) = router(Strategy::RoundRobin, specs(2));
    reloaded(&mut r);
    let picked: Vec<usize> = (0..4)
        .map(|_| {
            let i = r.pick("g\u{0}1", &[], 0).unwrap();
            r.report(i, Outcome::Success, 1.0, 1.0, 0, 0);
            i
        })
        .collect();
    assert_eq!(picked, vec![0, 2, 0, 2]);
    // The old generation still picks among its own members for requests begun under it.
    let old = r.pick("g", &[], 0).unwrap();
    assert!(old == 0 || old == 1);
}

#[test]
fn reconfigure_refuses_an_index_that_skips_ahead() {
    let (mut r, _clock) = router(Strategy::RoundRobin, specs(1));
    let bad = r.reconfigure(vec![(
        "g\u{0}1".into(),
        Strategy::RoundRobin,
        vec![(5, DeploymentSpec::default())],
    )]);
    assert!(bad.is_err());
}

#[test]
fn ejections_and_cool_downs_are_events_and_holds_keep_a_deployment_out() {
    let (mut r, clock) = router(Strategy::RoundRobin, specs(2));
    r.report(
        0,
        Outcome::RateLimited {
            retry_after_ms: 2_000,
        },
        1.0,
        1.0,
        0,
        0,
    );
    for _ in 0..5 {
        r.report(1, Outcome::Failure, 1.0, 1.0, 0, 0);
    }
    let events = r.take_events();
    assert_eq!(events[0], (0, HeldBy::CoolingDown, 2_000));
    assert_eq!(events[1].0, 1);
    assert_eq!(events[1].1, HeldBy::Ejected);
    assert!(r.take_events().is_empty());
    // A fresh router told of the hold keeps the deployment out for its length.
    let (mut other, other_clock) = router(Strategy::RoundRobin, specs(2));
    other.hold(0, 1_000);
    for _ in 0..4 {
        assert_eq!(pick_done(&mut other), 1);
    }
    other_clock.advance(1_001);
    let picked: Vec<usize> = (0..2).map(|_| pick_done(&mut other)).collect();
    assert!(picked.contains(&0));
    assert!(
        other.take_events().is_empty(),
        "a hold is not an event of its own"
    );
    let _ = clock;
}
