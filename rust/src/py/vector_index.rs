//! `VectorIndex`: the semantic response cache's brute-force cosine index
//! ([`crate::cache::VectorIndex`]). A search over 100k vectors of 384 floats takes
//! milliseconds, so it runs with the GIL released.

use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::bridge::lock;
use crate::cache::{VectorIndex as Core, VectorIndexError};

fn value_error(e: VectorIndexError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Vectors of one dimension by integer id, each in a `group` (the hash of what must match
/// exactly); `search` returns the most similar of a group at or above a threshold.
#[pyclass(frozen, module = "pllm_accel._native")]
pub struct VectorIndex {
    inner: Mutex<Core>,
    dim: usize,
}

#[pymethods]
impl VectorIndex {
    #[new]
    fn new(dim: usize) -> PyResult<Self> {
        if dim == 0 {
            return Err(PyValueError::new_err("dim must be at least 1"));
        }
        Ok(Self {
            inner: Mutex::new(Core::new(dim)),
            dim,
        })
    }

    #[getter]
    fn dim(&self) -> usize {
        self.dim
    }

    /// Adds (or replaces) `id`'s vector; ValueError for a wrong length or a zero vector.
    fn add(&self, id: u64, group: u64, vector: Vec<f32>) -> PyResult<()> {
        lock(&self.inner)
            .add(id, group, &vector)
            .map_err(value_error)
    }

    /// Removes `id`; whether it was there.
    fn remove(&self, id: u64) -> bool {
        lock(&self.inner).remove(id)
    }

    /// `(id, similarity)` of the most similar vector of `group` with a cosine similarity of at
    /// least `threshold` to `query`, or None.
    fn search(
        &self,
        py: Python<'_>,
        group: u64,
        query: Vec<f32>,
        threshold: f32,
    ) -> PyResult<Option<(u64, f32)>> {
        py.detach(|| lock(&self.inner).search(group, &query, threshold))
            .map_err(value_error)
    }

    fn clear(&self) {
        lock(&self.inner).clear();
    }

    fn __len__(&self) -> usize {
        lock(&self.inner).len()
    }

    fn __contains__(&self, id: u64) -> bool {
        lock(&self.inner).contains(id)
    }
}
