//! `UpstreamResponse` and the small results it hands to Python; the stream itself (pump,
//! parking, backpressure) is [`crate::stream`], which this file only converts.

use std::sync::Arc;

use bytes::Bytes;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use super::bridge::{Bridge, Completion};
use super::client::AbortSlot;
use super::errors::to_py;
use super::sse::SseEvent;
use crate::http::ResponseHead;
use crate::relay::{StreamFault, Usage};
use crate::stream::{Poll, Stream, Waiter};

/// What one `UpstreamResponse.poll` took: `out` to send on as it is, and the parked events.
/// False when both are empty (nothing parked yet).
///
/// A poll happens for every chunk a stream brings and again before every wait, so a batch
/// costs as little as it can: the empty one is made once and shared, and no events is the
/// empty tuple (a singleton), not a fresh list.
#[pyclass(frozen, freelist = 64, module = "pllm_accel._native")]
pub struct StreamBatch {
    out: Py<PyBytes>,
    events: Py<PyTuple>,
    parked: bool,
}

/// The batch every poll that finds nothing parked returns.
static EMPTY: PyOnceLock<Py<StreamBatch>> = PyOnceLock::new();

impl StreamBatch {
    fn new(py: Python<'_>, out: &Bytes, events: &[crate::sse::SseEvent]) -> PyResult<Py<Self>> {
        let batch = Self {
            out: PyBytes::new(py, out).unbind(),
            events: SseEvent::tuple(py, events)?.unbind(),
            parked: !out.is_empty() || !events.is_empty(),
        };
        Py::new(py, batch)
    }

    fn empty(py: Python<'_>) -> PyResult<Py<Self>> {
        EMPTY
            .get_or_try_init(py, || Self::new(py, &Bytes::new(), &[]))
            .map(|batch| batch.clone_ref(py))
    }
}

#[pymethods]
impl StreamBatch {
    #[getter]
    fn out(&self, py: Python<'_>) -> Py<PyBytes> {
        self.out.clone_ref(py)
    }

    #[getter]
    fn events(&self, py: Python<'_>) -> Py<PyTuple> {
        self.events.clone_ref(py)
    }

    fn __bool__(&self) -> bool {
        self.parked
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        repr_fields!(py, "StreamBatch", self.out, self.events)
    }
}

/// The token counts an OpenAI relay saw on the stream.
#[pyclass(frozen, eq, hash, module = "pllm_accel._native")]
#[derive(PartialEq, Eq, Hash)]
pub struct StreamUsage {
    #[pyo3(get)]
    prompt_tokens: u64,
    #[pyo3(get)]
    completion_tokens: u64,
    #[pyo3(get)]
    total_tokens: u64,
}

impl From<Usage> for StreamUsage {
    fn from(u: Usage) -> Self {
        Self {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total_tokens,
        }
    }
}

#[pymethods]
impl StreamUsage {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        repr_fields!(
            py,
            "StreamUsage",
            self.prompt_tokens,
            self.completion_tokens,
            self.total_tokens
        )
    }
}

#[pyclass(frozen, module = "pllm_accel._native")]
pub struct UpstreamResponse {
    #[pyo3(get)]
    status: u16,
    /// Converted to Python only when asked for (error paths): a 2xx reply never needs them.
    head_headers: Vec<(String, String)>,
    #[pyo3(get)]
    body: Option<Py<PyBytes>>,
    stream: Option<Arc<Stream>>,
    /// The exchange task, which pumps a streamed body: aborting it closes the connection.
    pump: Option<Arc<AbortSlot>>,
    bridge: Arc<Bridge>,
    create_future: Arc<Py<PyAny>>,
}

impl UpstreamResponse {
    pub fn new(
        py: Python<'_>,
        head: ResponseHead,
        full: Option<Bytes>,
        stream: Option<Arc<Stream>>,
        pump: Arc<AbortSlot>,
        bridge: Arc<Bridge>,
        create_future: Arc<Py<PyAny>>,
    ) -> Self {
        Self {
            status: head.status,
            head_headers: head.headers,
            body: full.map(|b| PyBytes::new(py, &b).unbind()),
            pump: stream.is_some().then_some(pump),
            stream,
            bridge,
            create_future,
        }
    }

    fn stream(&self) -> PyResult<&Stream> {
        self.stream
            .as_deref()
            .ok_or_else(|| PyValueError::new_err("this response has no streamed body"))
    }
}

#[pymethods]
impl UpstreamResponse {
    /// Everything parked, as one batch: an empty (false) batch when nothing is parked yet (then
    /// await `wait()`), `None` at the end of the stream; raises the upstream error once the
    /// stream failed and everything before the failure was taken.
    fn poll(&self, py: Python<'_>) -> PyResult<Option<Py<StreamBatch>>> {
        match self.stream()?.poll() {
            Poll::Batch { out, events } => StreamBatch::new(py, &out, &events).map(Some),
            Poll::Pending => StreamBatch::empty(py).map(Some),
            Poll::End => Ok(None),
            Poll::Failed(e) => Err(to_py(py, e)),
        }
    }

    /// A future that resolves (to None) once `poll` has something new to say.
    fn wait<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream()?;
        let fut = self.create_future.bind(py).call0()?;
        let bridge = self.bridge.clone();
        let future = fut.clone().unbind();
        // Called by the pump on a Tokio thread, which must not wait for the GIL: the bridge
        // resolves the future on the loop thread.
        let waiter: Waiter = Box::new(move || {
            bridge.complete(Completion {
                future,
                make: Box::new(|py| Ok(py.None())),
            })
        });
        if stream.wait(waiter).is_err() {
            fut.call_method1("set_result", (py.None(),))?;
        }
        Ok(fut)
    }

    /// Response headers by lower-cased name; a repeated header's values are joined with
    /// ", " (RFC 9110 §5.3), so one lookup reads any of them.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let headers = PyDict::new(py);
        for (name, value) in &self.head_headers {
            match headers.get_item(name)? {
                Some(seen) => {
                    let joined = format!("{}, {value}", seen.extract::<&str>()?);
                    headers.set_item(name, joined)?;
                }
                None => headers.set_item(name, value)?,
            }
        }
        Ok(headers)
    }

    /// True when the stream ended in the middle of an SSE event.
    #[getter]
    fn truncated(&self) -> PyResult<bool> {
        Ok(self.stream()?.truncated())
    }

    /// True once an OpenAI relay has passed `data: [DONE]`.
    #[getter]
    fn saw_done(&self) -> PyResult<bool> {
        Ok(self.stream()?.saw_done())
    }

    /// Why an OpenAI relay ended early: 'malformed' (an event that was not JSON, not sent on)
    /// or 'in_band_error' (the upstream's error event, sent on); None otherwise.
    #[getter]
    fn fault(&self) -> PyResult<Option<&'static str>> {
        Ok(self.stream()?.fault().map(StreamFault::as_str))
    }

    /// The usage an OpenAI relay saw on the stream, if any.
    #[getter]
    fn usage(&self) -> PyResult<Option<StreamUsage>> {
        Ok(self.stream()?.usage().map(StreamUsage::from))
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
