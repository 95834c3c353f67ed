//! `Limiter`: per-key, per-user and per-group rpm, tpm and parallel limits for the gateway,
//! kept per process or, with `shared=`, in a file every worker process of the host maps.
//!
//! The GIL stays held: a call is a few hundred nanoseconds of work (local or shared), less
//! than detaching and re-attaching costs.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;

use super::bridge::lock;
use crate::limits::{monotonic_us, Limiter as CoreLimiter, SharedLimiter, Ticket, WORKERS};

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
///
/// `shared`: a file path (created if missing) that several processes open, each with its own
/// `worker` index (0 to 63): they then decide against the same entities, on the host's
/// `CLOCK_MONOTONIC`. Tickets stay with the process that took them.
#[pyclass(frozen, module = "pllm_accel._native")]
pub struct Limiter {
    inner: Inner,
}

enum Inner {
    Local {
        limiter: Mutex<CoreLimiter>,
        epoch: Instant,
    },
    Shared(Mutex<SharedLimiter>),
}

impl Limiter {
    fn micros(&self, now: Option<f64>) -> u64 {
        match (now, &self.inner) {
            // Saturates: a negative or NaN time reads as 0.
            (Some(seconds), _) => (seconds * 1e6) as u64,
            (None, Inner::Local { epoch, .. }) => {
                u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
            }
            (None, Inner::Shared(_)) => monotonic_us(),
        }
    }
}

fn check_worker(worker: usize) -> PyResult<()> {
    if worker < WORKERS {
        Ok(())
    } else {
        Err(PyValueError::new_err(format!(
            "worker must be below {WORKERS}, not {worker}"
        )))
    }
}

#[pymethods]
impl Limiter {
    #[new]
    #[pyo3(signature = (shared = None, worker = 0))]
    fn new(shared: Option<PathBuf>, worker: usize) -> PyResult<Self> {
        check_worker(worker)?;
        let inner = match shared {
            None => Inner::Local {
                limiter: Mutex::new(CoreLimiter::new()),
                epoch: Instant::now(),
            },
            Some(path) => Inner::Shared(Mutex::new(SharedLimiter::open(&path, worker)?)),
        };
        Ok(Self { inner })
    }

    /// Admits a request of `tokens` (estimated) against every entity or none: returns a ticket
    /// (an int > 0) to pass to `release`, or a `Refusal` naming the limit that frees up last.
    ///
    /// Each entity comes with its current limits, `None` meaning unlimited; an entity with no
    /// limit at all is not tracked. A refused request changes nothing.
    #[pyo3(signature = (entities, tokens, now = None))]
    fn acquire(&self, mut entities: Vec<ClaimTuple>, tokens: u64, now: Option<f64>) -> Acquired {
        let now = self.micros(now);
        let acquired = match &self.inner {
            Inner::Local { limiter, .. } => lock(limiter).acquire(&entities, tokens, now),
            Inner::Shared(limiter) => lock(limiter).acquire(&entities, tokens, now),
        };
        let refused = match acquired {
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
        match &self.inner {
            Inner::Local { limiter, .. } => lock(limiter).release(Ticket(ticket), tokens_used, now),
            Inner::Shared(limiter) => lock(limiter).release(Ticket(ticket), tokens_used, now),
        }
    }

    /// Requests in flight charged to `entity` (by every process, when shared).
    fn in_flight(&self, entity: &str) -> u32 {
        match &self.inner {
            Inner::Local { limiter, .. } => lock(limiter).in_flight(entity),
            Inner::Shared(limiter) => lock(limiter).in_flight(entity),
        }
    }

    /// Tickets of this limiter not yet released.
    fn in_flight_total(&self) -> u64 {
        match &self.inner {
            Inner::Local { limiter, .. } => lock(limiter).in_flight_total(),
            Inner::Shared(limiter) => lock(limiter).in_flight_total(),
        }
    }

    /// Entities tracked (idle ones are forgotten as acquires go on; when shared, slots in use
    /// by every process, an idle one until it is reused).
    fn tracked(&self) -> usize {
        match &self.inner {
            Inner::Local { limiter, .. } => lock(limiter).len(),
            Inner::Shared(limiter) => lock(limiter).len(),
        }
    }

    /// Gives back the parallel slots that worker index `worker` holds on the shared entities
    /// (its process died, taking its tickets along) and returns how many; 0 when not shared.
    fn forget_worker(&self, worker: usize) -> PyResult<u64> {
        check_worker(worker)?;
        Ok(match &self.inner {
            Inner::Local { .. } => 0,
            Inner::Shared(limiter) => lock(limiter).forget_worker(worker),
        })
    }
}
