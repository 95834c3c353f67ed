//! Criterion: one `acquire` + `release` charged to a key, its user and its team, the limiter's
//! work on every request; and the same over a million distinct keys, where lookups miss the
//! cache and idle keys are swept. Both again on a [`SharedLimiter`] (the entity state in a
//! mapped file, behind a cross-process lock): what `pllm serve --workers N` pays for sharing.
//! Run with `cargo bench --bench limiter`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use pllm_accel::limits::{Limiter, Limits, SharedLimiter};

const LIMITS: Limits = Limits {
    rpm: Some(u32::MAX),
    tpm: Some(u32::MAX),
    max_parallel: Some(1_000),
};

fn acquire_release(c: &mut Criterion) {
    let mut group = c.benchmark_group("limiter acquire+release");
    let mut l = Limiter::new();
    let claims = [
        ("key:sk-live-0123456789", LIMITS),
        ("user:alice@example.com", LIMITS),
        ("team:research", LIMITS),
    ];
    let mut now = 0u64;
    group.bench_function("key, user and team", |b| {
        b.iter(|| {
            now += 1;
            if let Ok(t) = l.acquire(black_box(&claims), 500, now) {
                l.release(t, 300, now);
            }
        })
    });

    let keys: Vec<String> = (0..1_000_000).map(|i| format!("key:{i:016x}")).collect();
    let mut l = Limiter::new();
    let mut i = 0usize;
    group.bench_function("a million keys, team shared", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            now += 1;
            let claims = [(keys[i].as_str(), LIMITS), ("team:research", LIMITS)];
            if let Ok(t) = l.acquire(black_box(&claims), 500, now) {
                l.release(t, 300, now);
            }
        })
    });

    // /dev/shm where there is one, as `pllm serve` uses: a tmpfs, never written back to disk.
    let dir = ["/dev/shm", "/tmp"]
        .into_iter()
        .map(std::path::Path::new)
        .find(|d| d.is_dir())
        .unwrap_or(std::path::Path::new("."));
    let path = dir.join(format!("pllm-bench-limits-{}", std::process::id()));
    let mut s = match SharedLimiter::open(&path, 0) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("no shared segment at {}: {e}", path.display());
            group.finish();
            return;
        }
    };
    group.bench_function("key, user and team, shared", |b| {
        b.iter(|| {
            now += 1;
            if let Ok(t) = s.acquire(black_box(&claims), 500, now) {
                s.release(t, 300, now);
            }
        })
    });
    group.bench_function("a million keys, team shared, shared", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            now += 1;
            let claims = [(keys[i].as_str(), LIMITS), ("team:research", LIMITS)];
            if let Ok(t) = s.acquire(black_box(&claims), 500, now) {
                s.release(t, 300, now);
            }
        })
    });
    drop(s);
    let _ = std::fs::remove_file(&path);
    group.finish();
}

criterion_group!(benches, acquire_release);
criterion_main!(benches);
