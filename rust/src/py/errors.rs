//! The core's error enum mapped to Python exceptions, in this one place.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

use crate::http::UpstreamError as CoreError;

create_exception!(
    _native,
    UpstreamError,
    PyException,
    "Any failure to exchange with an upstream."
);
create_exception!(
    _native,
    UpstreamConnectError,
    UpstreamError,
    "The connection could not be made."
);
create_exception!(
    _native,
    UpstreamTimeoutError,
    UpstreamError,
    "A wait ran out; args are (message, phase) with phase one of 'connect', 'first_byte', 'between_chunks'."
);
create_exception!(
    _native,
    UpstreamProtocolError,
    UpstreamError,
    "The connection broke or spoke broken HTTP."
);
create_exception!(
    _native,
    UpstreamBodyTooLarge,
    UpstreamError,
    "The response body exceeded the cap."
);
create_exception!(
    _native,
    NoDeploymentAvailable,
    PyException,
    "No deployment can take the request; args are (message, reason, retry_after_seconds)."
);
create_exception!(
    _native,
    InvalidUpstreamRequest,
    UpstreamError,
    "The request could not be built."
);

pub fn to_py(err: CoreError) -> PyErr {
    let msg = err.to_string();
    match err {
        CoreError::InvalidRequest(_) => InvalidUpstreamRequest::new_err(msg),
        CoreError::Connect(_) => UpstreamConnectError::new_err(msg),
        CoreError::Timeout(phase) => UpstreamTimeoutError::new_err((msg, phase.as_str())),
        CoreError::Protocol(_) => UpstreamProtocolError::new_err(msg),
        CoreError::BodyTooLarge(_) => UpstreamBodyTooLarge::new_err(msg),
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("UpstreamError", py.get_type::<UpstreamError>())?;
    m.add(
        "UpstreamConnectError",
        py.get_type::<UpstreamConnectError>(),
    )?;
    m.add(
        "UpstreamTimeoutError",
        py.get_type::<UpstreamTimeoutError>(),
    )?;
    m.add(
        "UpstreamProtocolError",
        py.get_type::<UpstreamProtocolError>(),
    )?;
    m.add(
        "UpstreamBodyTooLarge",
        py.get_type::<UpstreamBodyTooLarge>(),
    )?;
    m.add(
        "InvalidUpstreamRequest",
        py.get_type::<InvalidUpstreamRequest>(),
    )?;
    m.add(
        "NoDeploymentAvailable",
        py.get_type::<NoDeploymentAvailable>(),
    )?;
    Ok(())
}
