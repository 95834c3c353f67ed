//! Deployment selection with health scoring and circuit breaking.
//!
//! A [`Router`] owns the state every request touches: per deployment its in-flight count,
//! one-minute request/token window, health, circuit breaker and 429 cool-down. Python calls
//! [`Router::pick`] once per attempt and [`Router::report`] once when the attempt ends; both
//! take and return primitives. Saturated, cooling and ejected deployments are skipped, never
//! errored; when none is left, [`NoPick`] says why and when to come back.

pub mod breaker;
pub mod clock;
pub mod health;
pub mod strategy;
pub mod window;

use std::collections::HashMap;

use breaker::{Breaker, BreakerConfig};
use clock::Clock;
use health::Health;
use strategy::Strategy;
use window::RateWindow;

#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentSpec {
    pub weight: f64,
    pub priority: i64,
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub max_in_flight: Option<u32>,
}

impl Default for DeploymentSpec {
    fn default() -> Self {
        Self {
            weight: 1.0,
            priority: 0,
            rpm: None,
            tpm: None,
            max_in_flight: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct GroupSpec {
    pub name: String,
    pub strategy: Strategy,
    pub deployments: Vec<DeploymentSpec>,
}

/// A reloaded group: its name, strategy and members as `(deployment index, spec)`.
pub type GroupLayout = (String, Strategy, Vec<(usize, DeploymentSpec)>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// 5xx, timeout, connection failure, a broken stream: counts against health.
    Failure,
    /// The upstream said 429: cool down for this long, without a health penalty.
    RateLimited {
        retry_after_ms: u64,
    },
    /// No verdict on the deployment (the client's bad request, a cancelled request).
    Neutral,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPickReason {
    UnknownGroup,
    /// Every deployment not yet tried is ejected by its circuit breaker.
    Ejected,
    /// Every deployment not yet tried is at its rpm/tpm/in-flight limit or cooling down.
    Saturated,
    /// Every deployment has been tried for this request.
    Exhausted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoPick {
    pub reason: NoPickReason,
    pub retry_after_ms: u64,
}

pub struct DepState {
    pub spec: DeploymentSpec,
    group: usize,
    pub in_flight: u32,
    window: RateWindow,
    pub health: Health,
    pub breaker: Breaker,
    swrr: f64,
    cooldown_until_ms: u64,
    /// 0 while nothing holds the deployment back; otherwise when it may be picked again
    /// (circuit open until, 429 cool-down until, or `u64::MAX` while its half-open probe runs).
    /// Lets a pick skip the breaker and cool-down logic for every healthy member.
    gate_ms: u64,
    /// Has an rpm, tpm or in-flight limit, so a pick must look at its window.
    limited: bool,
    /// While the deployment is suspect (a run of failures), when it may get its next probe.
    next_probe_ms: u64,
}

/// A deployment with the run of failures that opens a breaker (`consecutive_failures`,
/// LiteLLM's `allowed_fails`) is suspect, ejected or not: when `max_ejected_percent` keeps it
/// in rotation, it still gets only probes (one per `PROBE_INTERVAL_MS`) while a healthy peer
/// can take the request, whatever the strategy.
pub const PROBE_INTERVAL_MS: u64 = 1000;

impl DepState {
    fn fresh(group: usize, spec: DeploymentSpec) -> Self {
        Self {
            group,
            in_flight: 0,
            window: RateWindow::default(),
            health: Health::default(),
            breaker: Breaker::default(),
            swrr: 0.0,
            cooldown_until_ms: 0,
            gate_ms: 0,
            limited: spec.rpm.is_some() || spec.tpm.is_some() || spec.max_in_flight.is_some(),
            next_probe_ms: 0,
            spec,
        }
    }

    fn suspect(&self, cfg: &BreakerConfig) -> bool {
        self.health.consecutive_failures >= cfg.consecutive_failures.max(1)
    }

    /// Brings the breaker and the gate up to date; true when the deployment may be picked.
    fn refresh_gate(&mut self, now_ms: u64, cfg: &BreakerConfig) -> bool {
        self.breaker.tick(now_ms, cfg);
        let breaker = match self.breaker.state {
            breaker::State::Open { until_ms } => until_ms,
            breaker::State::HalfOpen { probing: true, .. } => u64::MAX,
            breaker::State::Closed | breaker::State::HalfOpen { .. } => 0,
        };
        let cooling = if self.cooldown_until_ms > now_ms {
            self.cooldown_until_ms
        } else {
            0
        };
        self.gate_ms = breaker.max(cooling);
        self.gate_ms <= now_ms
    }

    fn saturated_for(&mut self, now_ms: u64, tokens: u64) -> Option<u64> {
        // Keep the window current: a member that is rarely picked would otherwise make every
        // read subtract its expired seconds again.
        self.window.advance(now_ms);
        if self.spec.max_in_flight.is_some_and(|m| self.in_flight >= m) {
            return Some(100);
        }
        let (requests, used) = self.window.totals(now_ms);
        let over_rpm = self.spec.rpm.is_some_and(|rpm| requests + 1 > rpm);
        // A request bigger than the whole budget is still let through when nothing else runs.
        let over_tpm = self
            .spec
            .tpm
            .is_some_and(|tpm| used > 0 && used + tokens > tpm);
        (over_rpm || over_tpm).then(|| self.window.ms_until_oldest_expires(now_ms))
    }

    /// Share of the tightest of its limits used in the last minute (0 without limits).
    pub fn utilisation(&self, now_ms: u64) -> f64 {
        let (requests, tokens) = self.window.totals(now_ms);
        let r = self
            .spec
            .rpm
            .map_or(0.0, |l| requests as f64 / l.max(1) as f64);
        let t = self
            .spec
            .tpm
            .map_or(0.0, |l| tokens as f64 / l.max(1) as f64);
        r.max(t)
    }
}

pub struct GroupState {
    pub name: String,
    strategy: Strategy,
    pub members: Vec<usize>,
    cursor: usize,
}

/// What one deployment looks like from outside, for metrics and the health view.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthView {
    pub deployment: usize,
    pub group: String,
    pub score: f64,
    pub state: &'static str,
    pub in_flight: u32,
    pub consecutive_failures: u32,
    pub ejections: u32,
    pub ttft_ms: Option<f64>,
}

pub struct Router {
    deps: Vec<DepState>,
    groups: Vec<GroupState>,
    by_name: HashMap<String, usize>,
    breaker: BreakerConfig,
    exploration: f64,
    rng: u64,
    clock: Box<dyn Clock>,
    /// Reused by every pick, so a pick allocates nothing.
    scratch: Vec<usize>,
    events: Vec<(usize, HeldBy, u64)>,
    pub ejections_total: u64,
}

/// A group's name without the generation suffix a reload gives it (`name\0generation`).
fn display_name(key: &str) -> &str {
    key.split('\0').next().unwrap_or(key)
}

/// Why a deployment is held back, as [`Router::take_events`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldBy {
    Ejected,
    CoolingDown,
}

impl HeldBy {
    pub fn as_str(self) -> &'static str {
        match self {
            HeldBy::Ejected => "ejected",
            HeldBy::CoolingDown => "cooling",
        }
    }
}

/// Events kept for [`Router::take_events`]; with nobody taking them, the oldest go.
const MAX_EVENTS: usize = 1024;
/// Longest hold taken from elsewhere: the longest ejection the breaker gives.
const MAX_HOLD_MS: u64 = 300_000;

/// Longest 429 cool-down honoured; a provider asking for more is tried again sooner.
const MAX_COOLDOWN_MS: u64 = 60_000;

impl Router {
    pub fn new(
        groups: Vec<GroupSpec>,
        breaker: BreakerConfig,
        exploration: f64,
        clock: Box<dyn Clock>,
    ) -> Self {
        let mut deps = Vec::new();
        let mut states = Vec::new();
        let mut by_name = HashMap::new();
        for (gi, g) in groups.into_iter().enumerate() {
            let mut members = Vec::new();
            for spec in g.deployments {
                members.push(deps.len());
                deps.push(DepState::fresh(gi, spec));
            }
            by_name.insert(g.name.clone(), gi);
            states.push(GroupState {
                name: g.name,
                strategy: g.strategy,
                members,
                cursor: 0,
            });
        }
        Self {
            deps,
            groups: states,
            by_name,
            breaker,
            exploration,
            rng: 0x9E37_79B9_7F4A_7C15,
            clock,
            scratch: Vec::new(),
            events: Vec::new(),
            ejections_total: 0,
        }
    }

    pub fn deployment_count(&self) -> usize {
        self.deps.len()
    }

    /// Installs a new set of groups (a reloaded config) without losing what the router
    /// learnt. Each member names its deployment index: an existing index keeps its state
    /// (health, circuit, latency, rpm/tpm window, in flight) under the new spec, the next
    /// free index starts a fresh deployment. Indices are never reused, so an attempt begun
    /// before the reload reports to the deployment it was picked from, and a deployment the
    /// new groups leave out keeps taking those reports (it drains) without being picked again.
    ///
    /// The new groups are added beside the old ones, which stay pickable by their names
    /// for requests that began under them: callers give each generation its own names.
    pub fn reconfigure(&mut self, groups: Vec<GroupLayout>) -> Result<(), String> {
        for (name, strategy, members) in groups {
            let gi = self.groups.len();
            let mut indices = Vec::with_capacity(members.len());
            for (index, spec) in members {
                if index < self.deps.len() {
                    let d = &mut self.deps[index];
                    d.limited =
                        spec.rpm.is_some() || spec.tpm.is_some() || spec.max_in_flight.is_some();
                    d.spec = spec;
                    d.group = gi;
                } else if index == self.deps.len() {
                    self.deps.push(DepState::fresh(gi, spec));
                } else {
                    return Err(format!(
                        "deployment index {index} skips ahead of the {} known",
                        self.deps.len()
                    ));
                }
                indices.push(index);
            }
            if indices.is_empty() {
                return Err(format!("group {name:?} has no deployment"));
            }
            // Candidates are gathered in member order, which round-robin relies on.
            indices.sort_unstable();
            indices.dedup();
            self.by_name.insert(name.clone(), gi);
            self.groups.push(GroupState {
                name,
                strategy,
                members: indices,
                cursor: 0,
            });
        }
        Ok(())
    }

    fn next_random(&mut self) -> f64 {
        // xorshift64*: deterministic, so tests and benchmarks repeat.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Chooses a deployment of `group` for one attempt, skipping `exclude` (already tried).
    pub fn pick(&mut self, group: &str, exclude: &[usize], tokens: u64) -> Result<usize, NoPick> {
        let now = self.clock.now_ms();
        let Some(&gi) = self.by_name.get(group) else {
            return Err(NoPick {
                reason: NoPickReason::UnknownGroup,
                retry_after_ms: 0,
            });
        };
        let mut candidates = std::mem::take(&mut self.scratch);
        candidates.clear();
        // The common case costs a couple of comparisons per member; anything unusual (a gate
        // set, a limit) takes the longer look.
        for &i in &self.groups[gi].members {
            let d = &mut self.deps[i];
            if d.gate_ms != 0 && !d.refresh_gate(now, &self.breaker) {
                continue;
            }
            if d.limited && d.saturated_for(now, tokens).is_some() {
                continue;
            }
            if !exclude.is_empty() && exclude.contains(&i) {
                continue;
            }
            candidates.push(i);
        }
        if candidates.is_empty() {
            self.scratch = candidates;
            return Err(self.no_pick(gi, exclude, tokens, now));
        }
        let idx = match self.probe_or_spare(&mut candidates, now) {
            Some(probe) => probe,
            None => {
                let strategy = self.groups[gi].strategy;
                let explore =
                    strategy == Strategy::LatencyBased && self.next_random() < self.exploration;
                strategy::choose(
                    strategy,
                    &candidates,
                    &mut self.deps,
                    &mut self.groups[gi],
                    now,
                    explore,
                )
            }
        };
        self.scratch = candidates;
        let d = &mut self.deps[idx];
        d.in_flight += 1;
        d.window
            .add(now, 1, i64::try_from(tokens).unwrap_or(i64::MAX));
        d.breaker.on_pick();
        d.refresh_gate(now, &self.breaker);
        Ok(idx)
    }

    /// Keeps suspect candidates out of the strategy's choice while a healthy one is there:
    /// returns a suspect whose probe is due (to be sent), else drops the suspects from
    /// `candidates`. With no healthy candidate the suspects stay: a failing deployment is
    /// better than none.
    fn probe_or_spare(&mut self, candidates: &mut Vec<usize>, now: u64) -> Option<usize> {
        let cfg = &self.breaker;
        let deps = &mut self.deps;
        let suspects = candidates.iter().filter(|&&i| deps[i].suspect(cfg)).count();
        if suspects == 0 || suspects == candidates.len() {
            return None;
        }
        if let Some(&due) = candidates
            .iter()
            .find(|&&i| deps[i].suspect(cfg) && deps[i].next_probe_ms <= now)
        {
            deps[due].next_probe_ms = now + PROBE_INTERVAL_MS;
            return Some(due);
        }
        candidates.retain(|&i| !deps[i].suspect(cfg));
        None
    }

    /// Why nothing of group `gi` can be picked, and when to come back.
    fn no_pick(&mut self, gi: usize, exclude: &[usize], tokens: u64, now: u64) -> NoPick {
        let mut remaining = 0usize;
        let mut ejected = 0usize;
        let mut retry_after = u64::MAX;
        for &i in &self.groups[gi].members {
            if exclude.contains(&i) {
                continue;
            }
            remaining += 1;
            let d = &mut self.deps[i];
            d.refresh_gate(now, &self.breaker);
            if d.breaker.blocks() {
                ejected += 1;
                retry_after = retry_after.min(d.breaker.ms_until_half_open(now).unwrap_or(1000));
            } else if d.cooldown_until_ms > now {
                retry_after = retry_after.min(d.cooldown_until_ms - now);
            } else if let Some(wait) = d.saturated_for(now, tokens) {
                retry_after = retry_after.min(wait);
            }
        }
        let reason = if remaining == 0 {
            NoPickReason::Exhausted
        } else if ejected == remaining {
            NoPickReason::Ejected
        } else {
            NoPickReason::Saturated
        };
        NoPick {
            reason,
            retry_after_ms: if retry_after == u64::MAX {
                0
            } else {
                retry_after
            },
        }
    }

    /// Ends an attempt started by `pick`. `tokens_used` settles the token estimate `pick` took.
    pub fn report(
        &mut self,
        idx: usize,
        outcome: Outcome,
        latency_ms: f64,
        ttft_ms: f64,
        tokens_used: u64,
        tokens_estimated: u64,
    ) {
        let now = self.clock.now_ms();
        let Some(gi) = self.deps.get(idx).map(|d| d.group) else {
            return;
        };
        let d = &mut self.deps[idx];
        d.in_flight = d.in_flight.saturating_sub(1);
        let delta = i64::try_from(tokens_used).unwrap_or(i64::MAX)
            - i64::try_from(tokens_estimated).unwrap_or(i64::MAX);
        d.window.add(now, 0, delta);
        match outcome {
            Outcome::Success => {
                d.health.record_success(now, latency_ms, ttft_ms);
                d.breaker.on_success(now, &self.breaker);
            }
            Outcome::Failure => {
                d.health.record_failure(now);
                if d.suspect(&self.breaker) {
                    // Its next probe a full interval after its latest failure.
                    d.next_probe_ms = now + PROBE_INTERVAL_MS;
                }
                let consecutive = d.health.consecutive_failures;
                let may_eject = self.may_eject(gi);
                let d = &mut self.deps[idx];
                if d.breaker
                    .on_failure(now, consecutive, may_eject, &self.breaker)
                {
                    self.ejections_total += 1;
                    let ms = d.breaker.ms_until_half_open(now).unwrap_or(0);
                    self.record(idx, HeldBy::Ejected, ms);
                }
            }
            Outcome::RateLimited { retry_after_ms } => {
                let ms = retry_after_ms.clamp(1, MAX_COOLDOWN_MS);
                d.cooldown_until_ms = now + ms;
                d.breaker.on_neutral();
                self.record(idx, HeldBy::CoolingDown, ms);
            }
            Outcome::Neutral => d.breaker.on_neutral(),
        }
        self.deps[idx].refresh_gate(now, &self.breaker);
    }

    fn record(&mut self, idx: usize, kind: HeldBy, ms: u64) {
        if self.events.len() >= MAX_EVENTS {
            self.events.remove(0);
        }
        self.events.push((idx, kind, ms));
    }

    /// The ejections and 429 cool-downs since the last call, as `(deployment, why, for how
    /// many ms)`: what other workers and instances should hear of.
    pub fn take_events(&mut self) -> Vec<(usize, HeldBy, u64)> {
        std::mem::take(&mut self.events)
    }

    /// Keeps deployment `idx` out of picks for `ms` (at most [`MAX_HOLD_MS`]) because another
    /// worker or instance ejected it or was told to back off: it then takes only the
    /// requests no healthy peer can, as a cooling-down deployment does. Not an event itself.
    pub fn hold(&mut self, idx: usize, ms: u64) {
        let now = self.clock.now_ms();
        let breaker = &self.breaker;
        if let Some(d) = self.deps.get_mut(idx) {
            d.cooldown_until_ms = d.cooldown_until_ms.max(now + ms.min(MAX_HOLD_MS));
            d.refresh_gate(now, breaker);
        }
    }

    /// Whether one more deployment of group `gi` may be ejected: never more than
    /// `max_ejected_percent` of the group, but always at least one (as Envoy does).
    fn may_eject(&self, gi: usize) -> bool {
        let members = &self.groups[gi].members;
        let out = members
            .iter()
            .filter(|&&i| self.deps[i].breaker.counts_as_ejected())
            .count();
        let share = members.len() as f64 * self.breaker.max_ejected_percent / 100.0;
        out < (share.floor() as usize).max(1)
    }

    pub fn health(&mut self) -> Vec<HealthView> {
        let now = self.clock.now_ms();
        let mut out = Vec::with_capacity(self.deps.len());
        for (i, d) in self.deps.iter_mut().enumerate() {
            d.breaker.tick(now, &self.breaker);
            let state = match d.breaker.state {
                breaker::State::Closed if d.cooldown_until_ms > now => "cooling_down",
                breaker::State::Closed => "closed",
                breaker::State::Open { .. } => "open",
                breaker::State::HalfOpen { .. } => "half_open",
            };
            out.push(HealthView {
                deployment: i,
                group: display_name(&self.groups[d.group].name).to_owned(),
                score: d.health.score(d.breaker.is_open()),
                state,
                in_flight: d.in_flight,
                consecutive_failures: d.health.consecutive_failures,
                ejections: d.breaker.ejections,
                ttft_ms: d.health.ttft_ms,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests;
