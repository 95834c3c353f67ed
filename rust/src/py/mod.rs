//! The only PyO3 code: adapts the pure core to the `pllm_accel._native` module.

mod bridge;
mod client;
mod errors;
mod limiter;
mod router;
mod sse;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<sse::SseParser>()?;
    m.add_class::<client::HttpClient>()?;
    m.add_class::<client::Target>()?;
    m.add_class::<router::Router>()?;
    m.add_class::<limiter::Limiter>()?;
    m.add_class::<client::UpstreamResponse>()?;
    m.add_class::<client::CancelOnDone>()?;
    errors::register(m)?;
    Ok(())
}
