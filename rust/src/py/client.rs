//! `HttpClient`: the upstream exchange exposed to asyncio.
//!
//! One `send` call is one Tokio task (the sends of one event-loop iteration are spawned
//! together, with one wake-up of the Tokio thread) that connects (or reuses a pooled
//! connection), sends, waits for the head and — for a non-streaming call or an error status — reads the whole body, then
//! resolves one asyncio future through the [`Bridge`]. A streaming body is then pumped by the
//! same task into a [`crate::stream::Stream`], which `UpstreamResponse` (in `response.rs`)
//! exposes to the loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use reqwest::header::HeaderValue;
use tokio::runtime::{Handle, Runtime};
use tokio::task::AbortHandle;

use super::bridge::{lock, Bridge, Completion};
use super::errors::to_py;
use super::response::UpstreamResponse;
use crate::http::{
    ClientConfig, RequestSpec, ResponseHead, Target as CoreTarget, UpstreamClient, UpstreamError,
};
use crate::stream::{pump, Relay, Stream};

#[pyclass(frozen, module = "pllm_accel._native")]
pub struct HttpClient {
    runtime: Mutex<Option<Runtime>>,
    handle: Handle,
    base_config: ClientConfig,
    /// One pooled client per distinct connect timeout (in ms): reqwest sets it per client.
    clients: Mutex<HashMap<u64, UpstreamClient>>,
    bridge: Arc<Bridge>,
    create_future: Arc<Py<PyAny>>,
    call_soon: Py<PyAny>,
    /// Sends queued during the current loop iteration, spawned together by `flush`.
    pending: Mutex<Vec<Job>>,
}

fn duration(seconds: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        PyValueError::new_err(format!("{what} must be a non-negative number of seconds"))
    })
}

#[pymethods]
impl HttpClient {
    #[new]
    #[pyo3(signature = (event_loop, *, pool_idle_timeout = 90.0, pool_max_idle_per_host = 1024, worker_threads = 1))]
    fn new(
        event_loop: &Bound<'_, PyAny>,
        pool_idle_timeout: f64,
        pool_max_idle_per_host: usize,
        worker_threads: usize,
    ) -> PyResult<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(worker_threads.max(1))
            .thread_name("pllm-upstream")
            .enable_all()
            .build()
            .map_err(|e| {
                PyValueError::new_err(format!("cannot start the upstream runtime: {e}"))
            })?;
        let base_config = ClientConfig {
            pool_idle_timeout: duration(pool_idle_timeout, "pool_idle_timeout")?,
            pool_max_idle_per_host,
            ..ClientConfig::default()
        };
        let bridge = Bridge::new()
            .map_err(|e| PyValueError::new_err(format!("cannot create the wake-up pipe: {e}")))?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Mutex::new(Some(runtime)),
            base_config,
            clients: Mutex::new(HashMap::new()),
            bridge,
            create_future: Arc::new(event_loop.getattr("create_future")?.unbind()),
            call_soon: event_loop.getattr("call_soon")?.unbind(),
            pending: Mutex::new(Vec::new()),
        })
    }

    /// The file descriptor the event loop must watch, calling `drain` when it is readable.
    fn wake_fd(&self) -> i32 {
        self.bridge.wake_fd()
    }

    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        self.bridge.drain(py)
    }

    /// Sends a request; the future resolves to an `UpstreamResponse` once the head has
    /// arrived. With `relay = "none"`, or when the status is not 2xx, the whole body is read
    /// first (`.body`). Otherwise the same task goes on to pump the body in the background,
    /// read with `poll`: `"openai"` / `"openai-strip-usage"` re-frame an OpenAI SSE stream
    /// into `out`, `"events"` parks every SSE event, `"eventstream"` every frame of an AWS
    /// event stream, and `"tap"` passes the bytes unchanged into `out` while parking the
    /// events named in `tap` (used by "tap" only).
    #[pyo3(signature = (target, body, *, request_id, connect_timeout, first_byte_timeout, chunk_timeout, max_body_bytes, relay = "none", tap = Vec::new(), traceparent = None),
        text_signature = "(self, /, target, body, *, request_id, connect_timeout, first_byte_timeout, chunk_timeout, max_body_bytes, relay='none', tap=(), traceparent=None)")]
    #[allow(clippy::too_many_arguments)]
    fn send<'py>(
        slf: &Bound<'py, Self>,
        target: &Target,
        body: &[u8],
        request_id: &str,
        connect_timeout: f64,
        first_byte_timeout: f64,
        chunk_timeout: f64,
        max_body_bytes: usize,
        relay: &str,
        tap: Vec<String>,
        traceparent: Option<&str>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let relay = Relay::parse(relay, tap).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let spec = RequestSpec {
            target: target.inner.clone(),
            // An id that is not a valid header value is simply not forwarded.
            request_id: HeaderValue::from_str(request_id).ok(),
            traceparent: traceparent.and_then(|t| HeaderValue::from_str(t).ok()),
            body: Bytes::copy_from_slice(body),
            first_byte_timeout: duration(first_byte_timeout, "first_byte_timeout")?,
            chunk_timeout: duration(chunk_timeout, "chunk_timeout")?,
        };
        let client = this.client_for(py, duration(connect_timeout, "connect_timeout")?)?;
        let fut = this.create_future.bind(py).call0()?;
        let abort = Arc::new(AbortSlot::default());
        let exchange = Exchange {
            future: fut.clone().unbind(),
            bridge: this.bridge.clone(),
            create_future: this.create_future.clone(),
            abort: abort.clone(),
        };
        let job = Job {
            exchange,
            client,
            spec,
            relay,
            max: max_body_bytes,
        };
        let first = {
            let mut pending = lock(&this.pending);
            pending.push(job);
            pending.len() == 1
        };
        if first {
            // One wake-up of the Tokio thread per loop iteration, not one per request: on a
            // busy core each cross-thread wake-up costs a context switch.
            this.call_soon.bind(py).call1((slf.getattr("flush")?,))?;
        }
        fut.call_method1("add_done_callback", (CancelOnDone { slot: abort },))?;
        Ok(fut)
    }

    /// Spawns every queued send in one task (scheduled by `send` with `loop.call_soon`).
    fn flush(&self) {
        let jobs = std::mem::take(&mut *lock(&self.pending));
        if jobs.is_empty() {
            return;
        }
        self.handle.spawn(async move {
            for job in jobs {
                let slot = job.exchange.abort.clone();
                let task = tokio::spawn(job.exchange.run(job.client, job.spec, job.relay, job.max));
                slot.set(task.abort_handle());
            }
        });
    }

    /// Stops the runtime's threads; pending requests are dropped (their sockets closed).
    fn close(&self) {
        if let Some(rt) = lock(&self.runtime).take() {
            rt.shutdown_background();
        }
    }
}

impl HttpClient {
    fn client_for(&self, py: Python<'_>, connect_timeout: Duration) -> PyResult<UpstreamClient> {
        let key = u64::try_from(connect_timeout.as_millis()).unwrap_or(u64::MAX);
        let mut clients = lock(&self.clients);
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let cfg = ClientConfig {
            connect_timeout,
            ..self.base_config.clone()
        };
        // reqwest reads proxy settings and TLS roots here, inside the runtime's context.
        let _guard = self.handle.enter();
        let client = UpstreamClient::new(&cfg).map_err(|e| to_py(py, e))?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

impl Drop for HttpClient {
    fn drop(&mut self) {
        if let Some(rt) = lock(&self.runtime).take() {
            rt.shutdown_background();
        }
    }
}

/// One upstream exchange, run as one Tokio task.
struct Exchange {
    future: Py<PyAny>,
    bridge: Arc<Bridge>,
    create_future: Arc<Py<PyAny>>,
    /// The task's own abort handle: cancels the exchange, or stops its pump.
    abort: Arc<AbortSlot>,
}

impl Exchange {
    async fn run(
        self,
        client: UpstreamClient,
        spec: RequestSpec,
        relay: Option<Relay>,
        max: usize,
    ) {
        let (head, body) = match client.send(spec).await {
            Ok(pair) => pair,
            Err(e) => return self.resolve(Err(e)),
        };
        let Some(relay) = relay.filter(|_| (200..300).contains(&head.status)) else {
            let full = body.read_all(max).await;
            return self.resolve(full.map(|bytes| (head, Some(bytes), None)));
        };
        let stream = Arc::new(Stream::default());
        self.resolve(Ok((head, None, Some(stream.clone()))));
        pump(body, stream, relay).await;
    }

    fn resolve(self, outcome: Result<Resolved, UpstreamError>) {
        let Exchange {
            future,
            bridge,
            create_future,
            abort,
        } = self;
        let waker = bridge.clone();
        bridge.complete(Completion {
            future,
            make: Box::new(move |py| {
                let (head, full, stream) = outcome.map_err(|e| to_py(py, e))?;
                let resp =
                    UpstreamResponse::new(py, head, full, stream, abort, waker, create_future);
                Ok(Py::new(py, resp)?.into_any())
            }),
        });
    }
}

type Resolved = (ResponseHead, Option<Bytes>, Option<Arc<Stream>>);

/// An upstream endpoint (method, URL, headers) validated once; pass it to `HttpClient.send`.
#[pyclass(frozen, module = "pllm_accel._native")]
pub struct Target {
    inner: Arc<CoreTarget>,
}

#[pymethods]
impl Target {
    #[new]
    fn new(
        py: Python<'_>,
        method: &str,
        url: &str,
        headers: Vec<(String, String)>,
    ) -> PyResult<Self> {
        let inner = CoreTarget::new(method, url, &headers).map_err(|e| to_py(py, e))?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }
}

/// Abort handle of an exchange task, which is spawned a little after `send` returns: an abort
/// that comes first is remembered and applied when the handle arrives.
#[derive(Default)]
pub struct AbortSlot {
    inner: Mutex<(Option<AbortHandle>, bool)>,
}

impl AbortSlot {
    fn set(&self, handle: AbortHandle) {
        let mut slot = lock(&self.inner);
        if slot.1 {
            handle.abort();
        }
        slot.0 = Some(handle);
    }

    pub fn abort(&self) {
        let mut slot = lock(&self.inner);
        slot.1 = true;
        if let Some(handle) = &slot.0 {
            handle.abort();
        }
    }
}

/// One queued `send`.
struct Job {
    exchange: Exchange,
    client: UpstreamClient,
    spec: RequestSpec,
    relay: Option<Relay>,
    max: usize,
}

/// Done-callback that aborts the Tokio task when its asyncio future is cancelled, so a client
/// that goes away before the response head also cancels the upstream request.
#[pyclass(frozen, module = "pllm_accel._native")]
pub struct CancelOnDone {
    slot: Arc<AbortSlot>,
}

#[pymethods]
impl CancelOnDone {
    fn __call__(&self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        if fut.call_method0("cancelled")?.is_truthy()? {
            self.slot.abort();
        }
        Ok(())
    }
}
