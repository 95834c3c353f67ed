//! `Router`: deployment selection, health and circuit breaking for the Python retry loop.

use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::bridge::lock;
use super::errors::no_pick;
use crate::router::breaker::BreakerConfig;
use crate::router::clock::SystemClock;
use crate::router::strategy::Strategy;
use crate::router::{DeploymentSpec, GroupSpec, HealthView, Outcome, Router as CoreRouter};

/// `(weight, priority, rpm, tpm, max_in_flight)` of one deployment.
type DeploymentTuple = (f64, i64, Option<u64>, Option<u64>, Option<u32>);
/// `(name, strategy, [(index, deployment tuple)])` of one reloaded group.
type IndexedGroup = (String, String, Vec<(usize, DeploymentTuple)>);

/// One deployment as `Router.health` sees it, for metrics and the admin view.
#[pyclass(frozen, module = "pllm_accel._native")]
pub struct DeploymentHealth {
    #[pyo3(get)]
    deployment: usize,
    #[pyo3(get)]
    group: String,
    /// 0 to 100; failures, latency and an open breaker pull it down.
    #[pyo3(get)]
    score: f64,
    /// 'closed', 'cooling_down' (closed, but resting after a 429), 'open' or 'half_open'.
    #[pyo3(get)]
    state: &'static str,
    #[pyo3(get)]
    in_flight: u32,
    #[pyo3(get)]
    consecutive_failures: u32,
    #[pyo3(get)]
    ejections: u32,
    /// Smoothed time to first token, once one was reported.
    #[pyo3(get)]
    ttft_ms: Option<f64>,
}

impl From<HealthView> for DeploymentHealth {
    fn from(h: HealthView) -> Self {
        Self {
            deployment: h.deployment,
            group: h.group,
            score: h.score,
            state: h.state,
            in_flight: h.in_flight,
            consecutive_failures: h.consecutive_failures,
            ejections: h.ejections,
            ttft_ms: h.ttft_ms,
        }
    }
}

#[pymethods]
impl DeploymentHealth {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        repr_fields!(
            py,
            "DeploymentHealth",
            self.deployment,
            self.group,
            self.score,
            self.state,
            self.in_flight,
            self.consecutive_failures,
            self.ejections,
            self.ttft_ms
        )
    }
}

fn parse_strategy(name: &str) -> PyResult<Strategy> {
    Strategy::parse(name)
        .ok_or_else(|| PyValueError::new_err(format!("unknown routing strategy {name:?}")))
}

fn spec_of((weight, priority, rpm, tpm, max_in_flight): DeploymentTuple) -> DeploymentSpec {
    DeploymentSpec {
        weight,
        priority,
        rpm,
        tpm,
        max_in_flight,
    }
}

fn ms(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1000.0) as u64
}

#[pyclass(frozen, module = "pllm_accel._native")]
pub struct Router {
    inner: Mutex<CoreRouter>,
}

#[pymethods]
impl Router {
    /// `groups`: `(name, strategy, [deployment tuples])`; deployments are numbered in order
    /// across all groups, starting at 0.
    #[new]
    #[pyo3(signature = (groups, *, consecutive_failures = 5, failure_rate = 0.5, min_requests = 10, failure_window = 30.0, base_ejection = 5.0, max_ejection = 300.0, half_open_successes = 2, max_ejected_percent = 50.0, exploration = 0.05))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        groups: Vec<(String, String, Vec<DeploymentTuple>)>,
        consecutive_failures: u32,
        failure_rate: f64,
        min_requests: u32,
        failure_window: f64,
        base_ejection: f64,
        max_ejection: f64,
        half_open_successes: u32,
        max_ejected_percent: f64,
        exploration: f64,
    ) -> PyResult<Self> {
        let mut specs = Vec::with_capacity(groups.len());
        for (name, strategy, deployments) in groups {
            let strategy = parse_strategy(&strategy)?;
            let deployments = deployments.into_iter().map(spec_of).collect();
            specs.push(GroupSpec {
                name,
                strategy,
                deployments,
            });
        }
        let breaker = BreakerConfig {
            consecutive_failures: consecutive_failures.max(1),
            failure_rate,
            min_requests,
            window_ms: ms(failure_window),
            base_ejection_ms: ms(base_ejection),
            max_ejection_ms: ms(max_ejection),
            half_open_successes: half_open_successes.max(1),
            max_ejected_percent,
        };
        let router = CoreRouter::new(
            specs,
            breaker,
            exploration,
            Box::new(SystemClock::default()),
        );
        Ok(Self {
            inner: Mutex::new(router),
        })
    }

    /// Adds a reloaded config's groups, `(name, strategy, [(index, deployment tuple)])`: an
    /// index already known keeps that deployment's state, the next free one starts a new one
    /// (see the core router's `reconfigure`).
    fn reconfigure(&self, groups: Vec<IndexedGroup>) -> PyResult<()> {
        let mut layout = Vec::with_capacity(groups.len());
        for (name, strategy, members) in groups {
            let strategy = parse_strategy(&strategy)?;
            let members = members
                .into_iter()
                .map(|(index, tuple)| (index, spec_of(tuple)))
                .collect();
            layout.push((name, strategy, members));
        }
        lock(&self.inner)
            .reconfigure(layout)
            .map_err(PyValueError::new_err)
    }

    /// The deployment to try next; raises `NoDeploymentAvailable` (with its `reason` and
    /// `retry_after`) when none can take the request.
    fn pick(
        &self,
        py: Python<'_>,
        group: &str,
        exclude: Vec<usize>,
        tokens: u64,
    ) -> PyResult<usize> {
        let picked = lock(&self.inner).pick(group, &exclude, tokens);
        picked.map_err(|no| no_pick(py, group, no))
    }

    /// Ends an attempt: `outcome` is 'success', 'failure', 'rate_limited' or 'neutral'.
    #[pyo3(signature = (deployment, outcome, latency_ms = 0.0, ttft_ms = 0.0, tokens_used = 0, tokens_estimated = 0, retry_after = 0.0))]
    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        deployment: usize,
        outcome: &str,
        latency_ms: f64,
        ttft_ms: f64,
        tokens_used: u64,
        tokens_estimated: u64,
        retry_after: f64,
    ) -> PyResult<()> {
        let outcome = match outcome {
            "success" => Outcome::Success,
            "failure" => Outcome::Failure,
            "rate_limited" => Outcome::RateLimited {
                retry_after_ms: ms(retry_after),
            },
            "neutral" => Outcome::Neutral,
            other => return Err(PyValueError::new_err(format!("unknown outcome {other:?}"))),
        };
        lock(&self.inner).report(
            deployment,
            outcome,
            latency_ms,
            ttft_ms,
            tokens_used,
            tokens_estimated,
        );
        Ok(())
    }

    /// Ejections and 429 cool-downs since the last call: `(deployment, 'ejected' or
    /// 'cooling', seconds it lasts)`.
    fn take_events(&self) -> Vec<(usize, &'static str, f64)> {
        let events = lock(&self.inner).take_events();
        events
            .into_iter()
            .map(|(i, kind, ms)| (i, kind.as_str(), ms as f64 / 1000.0))
            .collect()
    }

    /// Keeps `deployment` out of picks for `seconds` (another worker or instance ejected it).
    fn hold(&self, deployment: usize, seconds: f64) {
        lock(&self.inner).hold(deployment, ms(seconds));
    }

    /// One entry per deployment, in order.
    fn health(&self) -> Vec<DeploymentHealth> {
        let views = lock(&self.inner).health();
        views.into_iter().map(DeploymentHealth::from).collect()
    }

    #[getter]
    fn ejections_total(&self) -> u64 {
        lock(&self.inner).ejections_total
    }
}
