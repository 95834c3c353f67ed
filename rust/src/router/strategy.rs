//! The six selection strategies. Each chooses among `candidates`: deployments of one group
//! that are not excluded, not ejected, not cooling down and not saturated.

use super::{DepState, GroupState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    RoundRobin,
    LeastBusy,
    Weighted,
    Priority,
    LatencyBased,
    UsageBased,
}

impl Strategy {
    /// pllm's names, plus LiteLLM's `routing_strategy` values as aliases.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "round-robin" | "round_robin" => Strategy::RoundRobin,
            "least-busy" | "least_busy" => Strategy::LeastBusy,
            "weighted" | "simple-shuffle" => Strategy::Weighted,
            "priority" | "order" => Strategy::Priority,
            "latency-based" | "latency-based-routing" | "latency" => Strategy::LatencyBased,
            "usage-based"
            | "usage-based-routing"
            | "usage-based-routing-v2"
            | "cost-based-routing" => Strategy::UsageBased,
            _ => return None,
        })
    }
}

/// Picks one of `candidates` (never empty).
pub fn choose(
    strategy: Strategy,
    candidates: &[usize],
    deps: &mut [DepState],
    group: &mut GroupState,
    now_ms: u64,
    explore: bool,
) -> usize {
    match strategy {
        Strategy::RoundRobin => round_robin(candidates, group),
        Strategy::LeastBusy => {
            round_robin_least(candidates, group, |i| f64::from(deps[i].in_flight))
        }
        Strategy::Weighted => smooth_weighted(candidates, deps),
        Strategy::Priority => {
            let top = candidates
                .iter()
                .map(|&i| deps[i].spec.priority)
                .max()
                .unwrap_or(0);
            let tier: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|&i| deps[i].spec.priority == top)
                .collect();
            smooth_weighted(&tier, deps)
        }
        Strategy::LatencyBased => {
            if explore {
                return round_robin(candidates, group);
            }
            // No recent sample counts as fastest, so new and recovered deployments get tried.
            let key = |i: usize| match (deps[i].health.ttft_ms, deps[i].health.last_sample_ms) {
                (Some(t), Some(at)) if now_ms.saturating_sub(at) < STALE_MS => t,
                _ => f64::NEG_INFINITY,
            };
            round_robin_least(candidates, group, key)
        }
        Strategy::UsageBased => {
            round_robin_least(candidates, group, |i| deps[i].utilisation(now_ms))
        }
    }
}

/// A latency sample older than this no longer describes the deployment.
const STALE_MS: u64 = 30_000;

/// The next candidate at or after the group's cursor (a deployment index), wrapping round.
/// A group's members are in ascending index order and candidates come in member order, so
/// one pass finds it.
fn round_robin(candidates: &[usize], group: &mut GroupState) -> usize {
    let chosen = candidates
        .iter()
        .copied()
        .find(|&c| c >= group.cursor)
        .unwrap_or(candidates[0]);
    group.cursor = chosen + 1;
    chosen
}

/// Round-robin among the candidates whose `key` is least.
fn round_robin_least(
    candidates: &[usize],
    group: &mut GroupState,
    key: impl Fn(usize) -> f64,
) -> usize {
    let least = candidates
        .iter()
        .copied()
        .map(&key)
        .fold(f64::INFINITY, f64::min);
    let tied: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&i| key(i) <= least)
        .collect();
    round_robin(&tied, group)
}

/// nginx's smooth weighted round-robin: exact proportions over every window of
/// `sum(weights)` picks, with the picks of each deployment spread out, not bunched.
fn smooth_weighted(candidates: &[usize], deps: &mut [DepState]) -> usize {
    let total: f64 = candidates.iter().map(|&i| deps[i].spec.weight).sum();
    let mut best = candidates[0];
    for &i in candidates {
        deps[i].swrr += deps[i].spec.weight;
        if deps[i].swrr > deps[best].swrr {
            best = i;
        }
    }
    deps[best].swrr -= total;
    best
}
