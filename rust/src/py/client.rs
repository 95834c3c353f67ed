//! `HttpClient`: the upstream exchange exposed to asyncio.
//!
//! One `send` call is one Tokio task (the sends of one event-loop iteration are spawned
//! together, with one wake-up of the Tokio thread) that connects (or reuses a pooled
//! connection), sends, waits for the head and — for a non-streaming call or an error status — reads the whole body, then
//! resolves one asyncio future through the [`Bridge`]. A streaming body is read by a pump task
//! that parses SSE as bytes arrive and parks the events for the loop to `poll`; `wait` returns a
//! future only when nothing is parked, so a busy stream costs no wake-ups at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use reqwest::header::HeaderValue;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

use super::bridge::{lock, Bridge, Completion};
use super::errors::to_py;
use crate::http::{
    ClientConfig, RequestSpec, ResponseHead, Target as CoreTarget, UpstreamBody, UpstreamClient,
    UpstreamError,
};
use crate::relay::{OpenAiRelay, StreamFault, Usage};
use crate::sse::SseParser;

/// `(event name, data)` pairs handed to Python in one `poll`.
type EventBatch<'py> = Vec<(Option<String>, Bound<'py, PyBytes>)>;

/// Parked events (or framed bytes) beyond which the pump stops reading until the loop
/// catches up.
const HIGH_WATER_EVENTS: usize = 512;
const HIGH_WATER_BYTES: usize = 1 << 20;

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
    /// first (`.body`). Otherwise the same task goes on to pump the body in the background:
    /// `"openai"` / `"openai-strip-usage"` re-frame an OpenAI SSE stream (read with
    /// `poll_framed`), `"events"` parses SSE and `"raw"` passes chunks (read with `poll`).
    #[pyo3(signature = (target, body, *, request_id, connect_timeout, first_byte_timeout, chunk_timeout, max_body_bytes, relay = "none"))]
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
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let mode = Mode::parse(relay)?;
        let spec = RequestSpec {
            target: target.inner.clone(),
            // An id that is not a valid header value is simply not forwarded.
            request_id: HeaderValue::from_str(request_id).ok(),
            body: Bytes::copy_from_slice(body),
            first_byte_timeout: duration(first_byte_timeout, "first_byte_timeout")?,
            chunk_timeout: duration(chunk_timeout, "chunk_timeout")?,
        };
        let client = this.client_for(duration(connect_timeout, "connect_timeout")?)?;
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
            mode,
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
                let task = tokio::spawn(job.exchange.run(job.client, job.spec, job.mode, job.max));
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
    fn client_for(&self, connect_timeout: Duration) -> PyResult<UpstreamClient> {
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
        let client = UpstreamClient::new(&cfg).map_err(to_py)?;
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
    async fn run(self, client: UpstreamClient, spec: RequestSpec, mode: Option<Mode>, max: usize) {
        let (head, body) = match client.send(spec).await {
            Ok(pair) => pair,
            Err(e) => return self.resolve(Err(e)),
        };
        let Some(mode) = mode.filter(|_| (200..300).contains(&head.status)) else {
            let full = body.read_all(max).await;
            return self.resolve(full.map(|bytes| (head, Some(bytes), None)));
        };
        let shared = Arc::new(StreamShared::default());
        let bridge = self.bridge.clone();
        self.resolve(Ok((head, None, Some(shared.clone()))));
        pump(body, shared, bridge, mode).await;
    }

    fn resolve(self, outcome: Result<Resolved, UpstreamError>) {
        let Exchange {
            future,
            bridge,
            create_future,
            abort,
        } = self;
        bridge.complete(Completion {
            future,
            make: Box::new(move |py| {
                let (head, full, stream) = outcome.map_err(to_py)?;
                let resp = UpstreamResponse::new(py, head, full, stream, abort, create_future);
                Ok(Py::new(py, resp)?.into_any())
            }),
        });
    }
}

type Resolved = (ResponseHead, Option<Bytes>, Option<Arc<StreamShared>>);

/// An upstream endpoint (method, URL, headers) validated once; pass it to `HttpClient.send`.
#[pyclass(frozen, module = "pllm_accel._native")]
pub struct Target {
    inner: Arc<CoreTarget>,
}

#[pymethods]
impl Target {
    #[new]
    fn new(method: &str, url: &str, headers: Vec<(String, String)>) -> PyResult<Self> {
        let inner = CoreTarget::new(method, url, &headers).map_err(to_py)?;
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

    fn abort(&self) {
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
    mode: Option<Mode>,
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

#[derive(Default)]
struct StreamState {
    /// Events mode: parsed events for Python to handle one by one.
    events: Vec<(Option<String>, Bytes)>,
    /// OpenAI relay mode: frames ready to send as they are.
    framed: BytesMut,
    finished: Option<Result<(), UpstreamError>>,
    truncated: bool,
    saw_done: bool,
    usage: Option<Usage>,
    fault: Option<StreamFault>,
    waiter: Option<Py<PyAny>>,
}

impl StreamState {
    fn has_parked(&self) -> bool {
        !self.events.is_empty() || !self.framed.is_empty()
    }

    fn is_full(&self) -> bool {
        self.events.len() >= HIGH_WATER_EVENTS || self.framed.len() >= HIGH_WATER_BYTES
    }
}

/// What the pump does with each parsed event.
enum Mode {
    Raw,
    Events,
    OpenAi(OpenAiRelay),
}

impl Mode {
    /// `None` for "none": read the whole body instead of pumping it.
    fn parse(relay: &str) -> PyResult<Option<Self>> {
        Ok(match relay {
            "none" => None,
            "raw" => Some(Mode::Raw),
            "events" => Some(Mode::Events),
            "openai" => Some(Mode::OpenAi(OpenAiRelay::new(false))),
            "openai-strip-usage" => Some(Mode::OpenAi(OpenAiRelay::new(true))),
            other => return Err(PyValueError::new_err(format!("unknown relay {other:?}"))),
        })
    }
}

#[derive(Default)]
struct StreamShared {
    state: Mutex<StreamState>,
    room: Notify,
}

#[pyclass(frozen, module = "pllm_accel._native")]
pub struct UpstreamResponse {
    #[pyo3(get)]
    status: u16,
    /// Converted to Python only when asked for (error paths): a 2xx reply never needs them.
    head_headers: Vec<(String, String)>,
    #[pyo3(get)]
    body: Option<Py<PyBytes>>,
    stream: Option<Arc<StreamShared>>,
    /// The exchange task, which pumps a streamed body: aborting it closes the connection.
    pump: Option<Arc<AbortSlot>>,
    create_future: Arc<Py<PyAny>>,
}

impl UpstreamResponse {
    fn new(
        py: Python<'_>,
        head: ResponseHead,
        full: Option<Bytes>,
        stream: Option<Arc<StreamShared>>,
        pump: Arc<AbortSlot>,
        create_future: Arc<Py<PyAny>>,
    ) -> Self {
        Self {
            status: head.status,
            head_headers: head.headers,
            body: full.map(|b| PyBytes::new(py, &b).unbind()),
            pump: stream.is_some().then_some(pump),
            stream,
            create_future,
        }
    }

    fn shared(&self) -> PyResult<Arc<StreamShared>> {
        self.stream
            .clone()
            .ok_or_else(|| PyValueError::new_err("this response has no streamed body"))
    }
}

#[pymethods]
impl UpstreamResponse {
    /// Frames ready to send, `b""` when none yet (then await `wait()`), `None` at the end;
    /// raises the upstream error if the stream failed.
    fn poll_framed<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let shared = self.shared()?;
        let mut st = lock(&shared.state);
        if !st.framed.is_empty() {
            let out = PyBytes::new(py, &st.framed.split());
            drop(st);
            shared.room.notify_one();
            return Ok(Some(out));
        }
        match &st.finished {
            None => Ok(Some(PyBytes::new(py, b""))),
            Some(Ok(())) => Ok(None),
            Some(Err(e)) => Err(to_py(e.clone())),
        }
    }

    /// Response headers as `(name, value)` pairs, names lower-cased.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, &self.head_headers)
    }

    /// True once the relay has passed `data: [DONE]`.
    #[getter]
    fn saw_done(&self) -> PyResult<bool> {
        Ok(lock(&self.shared()?.state).saw_done)
    }

    /// Why an OpenAI relay ended early: 'malformed' (an event that was not JSON, not sent on)
    /// or 'in_band_error' (the upstream's error event, sent on); None otherwise.
    #[getter]
    fn fault(&self) -> PyResult<Option<&'static str>> {
        Ok(lock(&self.shared()?.state).fault.map(StreamFault::as_str))
    }

    /// `(prompt_tokens, completion_tokens, total_tokens)` seen on the stream, if any.
    #[getter]
    fn usage(&self) -> PyResult<Option<(u64, u64, u64)>> {
        let usage = lock(&self.shared()?.state).usage;
        Ok(usage.map(|u| (u.prompt_tokens, u.completion_tokens, u.total_tokens)))
    }

    /// Parked events (`"events"`/`"raw"` relays), `[]` when none yet (then await `wait()`),
    /// `None` at the end of the stream; raises the upstream error if the stream failed.
    fn poll<'py>(&self, py: Python<'py>) -> PyResult<Option<EventBatch<'py>>> {
        let shared = self.shared()?;
        let mut st = lock(&shared.state);
        if !st.events.is_empty() {
            let out = st
                .events
                .drain(..)
                .map(|(ev, data)| (ev, PyBytes::new(py, &data)))
                .collect();
            drop(st);
            shared.room.notify_one();
            return Ok(Some(out));
        }
        match &st.finished {
            None => Ok(Some(Vec::new())),
            Some(Ok(())) => Ok(None),
            Some(Err(e)) => Err(to_py(e.clone())),
        }
    }

    /// A future that resolves (to None) once `poll` has something new to say.
    fn wait<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let shared = self.shared()?;
        let fut = self.create_future.bind(py).call0()?;
        let mut st = lock(&shared.state);
        if st.has_parked() || st.finished.is_some() {
            drop(st);
            fut.call_method1("set_result", (py.None(),))?;
        } else {
            st.waiter = Some(fut.clone().unbind());
        }
        Ok(fut)
    }

    /// True when the stream ended in the middle of an SSE event.
    #[getter]
    fn truncated(&self) -> PyResult<bool> {
        Ok(lock(&self.shared()?.state).truncated)
    }

    /// Abandons the body: stops the pump and closes the upstream connection.
    fn close(&self) {
        if let Some(task) = &self.pump {
            task.abort();
        }
    }
}

impl Drop for UpstreamResponse {
    fn drop(&mut self) {
        if let Some(task) = &self.pump {
            task.abort();
        }
    }
}

async fn pump(
    mut body: UpstreamBody,
    shared: Arc<StreamShared>,
    bridge: Arc<Bridge>,
    mut mode: Mode,
) {
    let mut parser = SseParser::new();
    let mut parsed = Vec::new();
    loop {
        if lock(&shared.state).is_full() {
            // A stored permit from an earlier poll makes this return at once; no lost wake-up.
            shared.room.notified().await;
            continue;
        }
        let result = body.next_chunk().await;
        let mut st = lock(&shared.state);
        match result {
            Ok(Some(chunk)) => match &mut mode {
                Mode::Raw => st.events.push((None, chunk)),
                Mode::Events => {
                    parser.feed_into(&chunk, &mut parsed);
                    st.events
                        .extend(parsed.drain(..).map(|e| (e.event, e.data)));
                }
                Mode::OpenAi(relay) => {
                    parser.feed_into(&chunk, &mut parsed);
                    for ev in parsed.drain(..) {
                        if !relay.push(&ev, &mut st.framed) {
                            // Nothing after a fault is relayed; ending here closes upstream.
                            st.finished = Some(Ok(()));
                            break;
                        }
                    }
                    st.saw_done = relay.saw_done;
                    st.usage = relay.usage;
                    st.fault = relay.fault;
                }
            },
            Ok(None) => {
                st.truncated = parser.has_pending();
                st.finished = Some(Ok(()));
            }
            Err(e) => st.finished = Some(Err(e)),
        }
        let done = st.finished.is_some();
        let waiter = if done || st.has_parked() {
            st.waiter.take()
        } else {
            None
        };
        drop(st);
        if let Some(future) = waiter {
            bridge.complete(Completion {
                future,
                make: Box::new(|py| Ok(py.None())),
            });
        }
        if done {
            return;
        }
    }
}
