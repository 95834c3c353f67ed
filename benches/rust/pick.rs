//! Criterion: one `pick` + `report` among 100 (and 10) deployments, per strategy, every
//! deployment with rpm and tpm limits.
//! Run with `cargo bench --bench pick` (or `make bench-rust`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use pllm_accel::router::breaker::BreakerConfig;
use pllm_accel::router::clock::SystemClock;
use pllm_accel::router::strategy::Strategy;
use pllm_accel::router::{DeploymentSpec, GroupSpec, Outcome, Router};

fn router(strategy: Strategy, size: i32) -> Router {
    let deployments = (0..size)
        .map(|i| DeploymentSpec {
            weight: f64::from(i % 5 + 1),
            priority: i64::from(i % 3),
            rpm: Some(1_000_000),
            tpm: Some(1_000_000_000),
            max_in_flight: None,
        })
        .collect();
    let groups = vec![GroupSpec {
        name: "gpt-4o".into(),
        strategy,
        deployments,
    }];
    Router::new(
        groups,
        BreakerConfig::default(),
        0.05,
        Box::new(SystemClock::default()),
    )
}

fn pick_among_100(c: &mut Criterion) {
    let strategies = [
        ("round-robin", Strategy::RoundRobin),
        ("least-busy", Strategy::LeastBusy),
        ("weighted", Strategy::Weighted),
        ("priority", Strategy::Priority),
        ("latency-based", Strategy::LatencyBased),
        ("usage-based", Strategy::UsageBased),
    ];
    for size in [100, 10] {
        let mut group = c.benchmark_group(format!("pick+report among {size} deployments"));
        for (name, strategy) in strategies {
            let mut r = router(strategy, size);
            group.bench_function(name, |b| {
                b.iter(|| {
                    let i = r.pick(black_box("gpt-4o"), &[], 100).unwrap_or(0);
                    r.report(i, Outcome::Success, 120.0, 40.0, 90, 100);
                })
            });
        }
        group.finish();
    }
}

/// `pick` alone (the attempt never reported), the number the routing issue's target is about.
fn pick_only(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick alone among 100 deployments");
    for (name, strategy) in [
        ("round-robin", Strategy::RoundRobin),
        ("weighted", Strategy::Weighted),
        ("latency-based", Strategy::LatencyBased),
    ] {
        let mut r = router(strategy, 100);
        group.bench_function(name, |b| {
            b.iter(|| r.pick(black_box("gpt-4o"), &[], 100).unwrap_or(0))
        });
    }
    group.finish();
}

criterion_group!(benches, pick_among_100, pick_only);
criterion_main!(benches);
