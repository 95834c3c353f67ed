//! The only PyO3 code: adapts the pure core to the `pllm_accel._native` module.

mod bridge;
mod client;
mod errors;
mod limiter;
mod response;
mod router;
mod sse;

use pyo3::prelude::*;

/// `Name(field=value, ...)` with each value as Python's `repr` writes it, for the `__repr__`
/// of the small result classes.
fn repr_fields(name: &str, fields: &[(&str, Bound<'_, PyAny>)]) -> PyResult<String> {
    let mut parts = Vec::with_capacity(fields.len());
    for (field, value) in fields {
        parts.push(format!("{field}={}", value.repr()?));
    }
    Ok(format!("{name}({})", parts.join(", ")))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<sse::SseParser>()?;
    m.add_class::<sse::SseEvent>()?;
    m.add_class::<client::HttpClient>()?;
    m.add_class::<client::Target>()?;
    m.add_class::<router::Router>()?;
    m.add_class::<router::DeploymentHealth>()?;
    m.add_class::<limiter::Limiter>()?;
    m.add_class::<limiter::Refusal>()?;
    m.add_class::<response::UpstreamResponse>()?;
    m.add_class::<response::StreamBatch>()?;
    m.add_class::<response::StreamUsage>()?;
    m.add_class::<client::CancelOnDone>()?;
    errors::register(m)?;
    Ok(())
}
