//! `EventStreamParser`: the AWS event stream decoder of the `eventstream` relay, for Python
//! code that decodes a body itself (tests, benchmarks, in-process sources).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::sse::SseEvent;
use crate::sse::SseEvent as CoreEvent;
use crate::stream::eventstream::EventStreamDecoder;

/// Incremental AWS event stream decoder: `feed(bytes)` returns an `SseEvent` for each frame
/// it completes (named as the `eventstream` relay names them) and raises `ValueError` for a
/// malformed frame (a checksum that does not match, a length out of bounds).
#[pyclass(module = "pllm_accel._native")]
pub struct EventStreamParser {
    inner: EventStreamDecoder,
    parsed: Vec<CoreEvent>,
}

#[pymethods]
impl EventStreamParser {
    #[new]
    fn new() -> Self {
        Self {
            inner: EventStreamDecoder::new(),
            parsed: Vec::new(),
        }
    }

    fn feed<'py>(&mut self, py: Python<'py>, chunk: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let result = self.inner.feed_into(chunk, &mut self.parsed);
        let list = SseEvent::list(py, &self.parsed);
        self.parsed.clear();
        result.map_err(|e| PyValueError::new_err(e.to_string()))?;
        list
    }

    /// True when the bytes fed so far end inside a frame.
    fn has_pending(&self) -> bool {
        self.inner.has_pending()
    }
}
