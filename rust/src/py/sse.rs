//! `SseParser` and the `SseEvent` it (and a streamed `UpstreamResponse`) hands to Python.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::sse::{SseEvent as CoreEvent, SseParser as CoreParser};

/// One SSE event: its name (`None` when the stream did not name it, the spec's "message")
/// and its data, `data:` lines joined with `\n`.
///
/// The fields are Python objects made once, when the event crosses over, so reading them
/// copies nothing. A stream makes one per event: a free list spares most allocations.
#[pyclass(frozen, freelist = 512, module = "pllm_accel._native")]
pub struct SseEvent {
    event: Option<Py<PyString>>,
    data: Py<PyBytes>,
}

impl SseEvent {
    fn from_core(py: Python<'_>, ev: &CoreEvent) -> Self {
        Self {
            event: ev.event.as_deref().map(|e| PyString::new(py, e).unbind()),
            data: PyBytes::new(py, &ev.data).unbind(),
        }
    }

    /// The events as a Python tuple, in order (the empty tuple is a shared singleton).
    pub fn tuple<'py>(py: Python<'py>, events: &[CoreEvent]) -> PyResult<Bound<'py, PyTuple>> {
        if events.is_empty() {
            return Ok(PyTuple::empty(py));
        }
        let items = events
            .iter()
            .map(|ev| Bound::new(py, Self::from_core(py, ev)))
            .collect::<PyResult<Vec<_>>>()?;
        PyTuple::new(py, items)
    }

    /// The events as a Python list, in order.
    pub fn list<'py>(py: Python<'py>, events: &[CoreEvent]) -> PyResult<Bound<'py, PyList>> {
        let items = events
            .iter()
            .map(|ev| Bound::new(py, Self::from_core(py, ev)))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    fn as_tuple<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let event = self.event.as_ref().map(|e| e.bind(py));
        PyTuple::new(
            py,
            [
                event.into_pyobject(py)?,
                self.data.bind(py).as_any().clone(),
            ],
        )
    }
}

#[pymethods]
impl SseEvent {
    /// For Python code that makes events itself (tests, in-process sources).
    #[new]
    fn new(event: Option<Bound<'_, PyString>>, data: Bound<'_, PyBytes>) -> Self {
        Self {
            event: event.map(Bound::unbind),
            data: data.unbind(),
        }
    }

    #[getter]
    fn event(&self, py: Python<'_>) -> Option<Py<PyString>> {
        self.event.as_ref().map(|e| e.clone_ref(py))
    }

    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyBytes> {
        self.data.clone_ref(py)
    }

    /// Equal to another event with the same name and data. (A non-event argument makes PyO3
    /// answer `NotImplemented`.)
    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, SseEvent>) -> PyResult<bool> {
        self.as_tuple(py)?.eq(other.get().as_tuple(py)?)
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        self.as_tuple(py)?.hash()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        repr_fields!(py, "SseEvent", self.event, self.data)
    }
}

/// Incremental SSE parser: `feed(bytes)` returns the events it completes.
#[pyclass(module = "pllm_accel._native")]
pub struct SseParser {
    inner: CoreParser,
    /// Reused across feeds: the parser appends, the list conversion drains.
    parsed: Vec<CoreEvent>,
}

#[pymethods]
impl SseParser {
    #[new]
    fn new() -> Self {
        Self {
            inner: CoreParser::new(),
            parsed: Vec::new(),
        }
    }

    fn feed<'py>(&mut self, py: Python<'py>, chunk: &[u8]) -> PyResult<Bound<'py, PyList>> {
        self.inner.feed_into(chunk, &mut self.parsed);
        let list = SseEvent::list(py, &self.parsed);
        self.parsed.clear();
        list
    }

    /// True when the bytes fed so far end inside an event.
    fn has_pending(&self) -> bool {
        self.inner.has_pending()
    }
}
