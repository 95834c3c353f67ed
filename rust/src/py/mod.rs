//! The only PyO3 code: adapts the pure core to the `pllm_accel._native` module.

/// `Name(field=value, ...)` with each field's value as Python's `repr` writes it, for the
/// `__repr__` of the small result classes: `repr_fields!(py, "Name", self.a, self.b)`.
macro_rules! repr_fields {
    ($py:expr, $name:literal, $($this:ident.$field:ident),+ $(,)?) => {
        $crate::py::join_repr(
            $name,
            &[$((
                stringify!($field),
                pyo3::IntoPyObjectExt::into_bound_py_any(&$this.$field, $py)?,
            )),+],
        )
    };
}

mod bridge;
mod client;
mod errors;
mod eventstream;
mod limiter;
mod response;
mod router;
mod sse;
mod vector_index;

use pyo3::prelude::*;

/// What `repr_fields!` writes, from the names and the values.
fn join_repr(name: &str, fields: &[(&str, Bound<'_, PyAny>)]) -> PyResult<String> {
    let mut parts = Vec::with_capacity(fields.len());
    for (field, value) in fields {
        parts.push(format!("{field}={}", value.repr()?));
    }
    Ok(format!("{name}({})", parts.join(", ")))
}

/// Adds each pyclass to the module under its Python name.
macro_rules! add_classes {
    ($m:expr; $($class:ty),+ $(,)?) => {
        $($m.add_class::<$class>()?;)+
    };
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    add_classes!(m;
        sse::SseParser,
        sse::SseEvent,
        eventstream::EventStreamParser,
        client::HttpClient,
        client::Target,
        router::Router,
        router::DeploymentHealth,
        limiter::Limiter,
        limiter::Refusal,
        response::UpstreamResponse,
        response::StreamBatch,
        response::StreamUsage,
        client::CancelOnDone,
        vector_index::VectorIndex,
    );
    errors::register(m)?;
    Ok(())
}
