//! `Router`: deployment selection, health and circuit breaking for the Python retry loop.

use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::bridge::lock;
use super::errors::NoDeploymentAvailable;
use crate::router::breaker::BreakerConfig;
use crate::router::clock::SystemClock;
use crate::router::strategy::Strategy;
use crate::router::{DeploymentSpec, GroupSpec, NoPickReason, Outcome, Router as CoreRouter};

/// `(weight, priority, rpm, tpm, max_in_flight)` of one deployment.
type DeploymentTuple = (f64, i64, Option<u64>, Option<u64>, Option<u32>);
/// `(deployment, group, score, state, in_flight, consecutive_failures, ejections, ttft_ms)`.
type HealthTuple = (usize, String, f64, &'static str, u32, u32, u32, Option<f64>);

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
            let strategy = Strategy::parse(&strategy).ok_or_else(|| {
                PyValueError::new_err(format!("unknown routing strategy {strategy:?}"))
            })?;
            let deployments = deployments
                .into_iter()
                .map(
                    |(weight, priority, rpm, tpm, max_in_flight)| DeploymentSpec {
                        weight,
                        priority,
                        rpm,
                        tpm,
                        max_in_flight,
                    },
                )
                .collect();
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

    /// The deployment to try next; raises `NoDeploymentAvailable(message, reason,
    /// retry_after_seconds)` with reason one of 'unknown_group', 'ejected', 'saturated',
    /// 'exhausted'.
    fn pick(&self, group: &str, exclude: Vec<usize>, tokens: u64) -> PyResult<usize> {
        lock(&self.inner)
            .pick(group, &exclude, tokens)
            .map_err(|no| {
                let reason = match no.reason {
                    NoPickReason::UnknownGroup => "unknown_group",
                    NoPickReason::Ejected => "ejected",
                    NoPickReason::Saturated => "saturated",
                    NoPickReason::Exhausted => "exhausted",
                };
                let retry_after = no.retry_after_ms as f64 / 1000.0;
                NoDeploymentAvailable::new_err((
                    format!("no deployment of {group:?} available ({reason})"),
                    reason,
                    retry_after,
                ))
            })
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

    /// One tuple per deployment, in order: `(deployment, group, score, state, in_flight,
    /// consecutive_failures, ejections, ttft_ms)`.
    fn health(&self) -> Vec<HealthTuple> {
        lock(&self.inner)
            .health()
            .into_iter()
            .map(|h| {
                (
                    h.deployment,
                    h.group,
                    h.score,
                    h.state,
                    h.in_flight,
                    h.consecutive_failures,
                    h.ejections,
                    h.ttft_ms,
                )
            })
            .collect()
    }

    #[getter]
    fn ejections_total(&self) -> u64 {
        lock(&self.inner).ejections_total
    }
}
