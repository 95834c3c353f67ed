use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::sse::SseParser as CoreParser;

/// Incremental SSE parser: `feed(bytes)` returns the `(event, data)` pairs it completes.
#[pyclass(module = "pllm_accel._native")]
pub struct SseParser {
    inner: CoreParser,
}

#[pymethods]
impl SseParser {
    #[new]
    fn new() -> Self {
        Self {
            inner: CoreParser::new(),
        }
    }

    fn feed<'py>(
        &mut self,
        py: Python<'py>,
        chunk: &[u8],
    ) -> Vec<(Option<String>, Bound<'py, PyBytes>)> {
        self.inner
            .feed(chunk)
            .into_iter()
            .map(|e| (e.event, PyBytes::new(py, &e.data)))
            .collect()
    }

    /// True when the bytes fed so far end inside an event.
    fn has_pending(&self) -> bool {
        self.inner.has_pending()
    }
}
