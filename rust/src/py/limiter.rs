//! `Limiter`: per-key, per-user and per-group rpm, tpm and parallel limits for the gateway.

use std::sync::Mutex;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;

use super::bridge::lock;
use crate::limits::{Limiter as CoreLimiter, Ticket};

/// `(entity_id, rpm, tpm, max_parallel)`; the id is borrowed from the Python string.
type ClaimTuple = (PyBackedStr, Option<u32>, Option<u32>, Option<u32>);

#[derive(IntoPyObject)]
enum Acquired {
    Ticket(u64),
    Refused(Refusal),
}

/// Why `Limiter.acquire` refused: the entity and the limit that frees up last, and in how many
/// seconds it does. Returned, not raised: a refusal is an ordinary answer on the hot path.
#[pyclass(frozen, eq, module = "pllm_accel._native")]
#[derive(PartialEq)]
pub struct Refusal {
    #[pyo3(get)]
    entity: String,
    /// 'rpm', 'tpm' or 'parallel'.
    #[pyo3(get)]
    kind: &'static str,
    #[pyo3(get)]
    retry_after: f64,
}

#[pymethods]
impl Refusal {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        repr_fields!(py, "Refusal", self.entity, self.kind, self.retry_after)
    }
}

/// Admission control for requests charged to several entities at once (a key, its user, its
/// group): requests per minute, tokens per minute and requests in parallel, each optional.
///
/// Times are seconds on any monotonic scale; `now=None` reads the real monotonic clock.
/// Use one or the other on a given limiter, since the scales differ.
#[pyclass(frozen, module = "pllm_accel._native")]
pub struct Limiter {
    inner: Mutex<CoreLimiter>,
    epoch: Instant,
}

impl Limiter {
    fn micros(&self, now: Option<f64>) -> u64 {
        match now {
            // Saturates: a negative or NaN time reads as 0.
            Some(seconds) => (seconds * 1e6) as u64,
            None => u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX),
        }
    }
}

#[pymethods]
impl Limiter {
    #[new]
    fn new() -> Self {
        Self {
            inner: Mutex::new(CoreLimiter::new()),
            epoch: Instant::now(),
        }
    }

    /// Admits a request of `tokens` (estimated) against every entity or none: returns a ticket
    /// (an int > 0) to pass to `release`, or a `Refusal` naming the limit that frees up last.
    ///
    /// Each entity comes with its current limits, `None` meaning unlimited; an entity with no
    /// limit at all is not tracked. A refused request changes nothing.
    #[pyo3(signature = (entities, tokens, now = None))]
    fn acquire(&self, mut entities: Vec<ClaimTuple>, tokens: u64, now: Option<f64>) -> Acquired {
        let now = self.micros(now);
        let refused = match lock(&self.inner).acquire(&entities, tokens, now) {
            Ok(Ticket(id)) => return Acquired::Ticket(id),
            Err(refused) => refused,
        };
        let retry_after = refused.retry_after_secs();
        let entity = entities.swap_remove(refused.entity).0;
        Acquired::Refused(Refusal {
            entity: entity.to_string(),
            kind: refused.kind.as_str(),
            retry_after,
        })
    }

    /// Ends the request of `ticket`, which used `tokens_used` tokens: frees its parallel slots
    /// and refunds (or charges) the difference from its estimate. Returns False, doing nothing,
    /// for a ticket unknown or already released, so a second release is harmless.
    #[pyo3(signature = (ticket, tokens_used = 0, now = None))]
    fn release(&self, ticket: u64, tokens_used: u64, now: Option<f64>) -> bool {
        let now = self.micros(now);
        lock(&self.inner).release(Ticket(ticket), tokens_used, now)
    }

    /// Requests in flight charged to `entity`.
    fn in_flight(&self, entity: &str) -> u32 {
        lock(&self.inner).in_flight(entity)
    }

    /// Tickets not yet released.
    fn in_flight_total(&self) -> u64 {
        lock(&self.inner).in_flight_total()
    }

    /// Entities tracked (idle ones are forgotten as acquires go on).
    fn tracked(&self) -> usize {
        lock(&self.inner).len()
    }
}
