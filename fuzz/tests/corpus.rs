//! The stable, short form of the fuzz runs (`make test`): for each target, every seed in
//! `seeds/<target>/`, then mutations of them from a fixed seed, through all of the target's
//! properties. The number of mutated inputs per target is `PLLM_FUZZ_ITERATIONS` (default
//! 200,000: a few seconds).

use std::path::Path;

use pllm_fuzz::mutate::{mutate, Rng};
use pllm_fuzz::{check_eventstream, check_sse};

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.map(|e| e.path()).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())))
        .collect()
}

fn run(target: &str, check: fn(&[u8]), rng_seed: u64) {
    let seeds = seeds(target);
    assert!(seeds.len() >= 10, "the {target} seed corpus is missing");
    for seed in &seeds {
        check(seed);
    }
    let iterations: usize = std::env::var("PLLM_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mut rng = Rng::new(rng_seed);
    for i in 0..iterations {
        let base = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base, other);
        let result = std::panic::catch_unwind(|| check(&input));
        assert!(
            result.is_ok(),
            "{target}: iteration {i} failed on input {input:?}"
        );
    }
}

#[test]
fn sse() {
    run("sse", check_sse, 0x5EED_F022);
}

#[test]
fn eventstream() {
    run("eventstream", check_eventstream, 0xA55E_ED02);
}
