//! The core's errors mapped to Python exceptions, in this one place.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyString};

use crate::http::UpstreamError as CoreError;
use crate::router::{NoPick, NoPickReason};

/// Declares each exception class, `Name(Base) "docstring";`, and `register`, which adds them
/// all to the module in that order.
macro_rules! exceptions {
    ($($name:ident($base:ty) $doc:literal;)+) => {
        $(create_exception!(_native, $name, $base, $doc);)+

        pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(m.add(stringify!($name), m.py().get_type::<$name>())?;)+
            Ok(())
        }
    };
}

exceptions! {
    UpstreamError(PyException) "Any failure to exchange with an upstream.";
    UpstreamConnectError(UpstreamError) "The connection could not be made.";
    UpstreamTimeoutError(UpstreamError)
        "A wait ran out; `phase` says which: 'connect', 'first_byte' or 'between_chunks'.";
    UpstreamProtocolError(UpstreamError) "The connection broke or spoke broken HTTP.";
    UpstreamBodyTooLarge(UpstreamError) "The response body exceeded the cap.";
    InvalidUpstreamRequest(UpstreamError) "The request could not be built.";
    NoDeploymentAvailable(PyException)
        "No deployment can take the request; `reason` says why ('unknown_group', 'ejected', \
         'saturated', 'exhausted') and `retry_after` in how many seconds one may.";
}

/// The Python exception for a core error. PyO3 cannot make an exception a pyclass on the
/// stable ABI we build for (`extends = PyException` needs the full C API), so the data an
/// exception carries is set as attributes on the instance; the stub declares them on the class.
pub fn to_py(py: Python<'_>, err: CoreError) -> PyErr {
    let msg = err.to_string();
    match err {
        CoreError::InvalidRequest(_) => InvalidUpstreamRequest::new_err(msg),
        CoreError::Connect(_) => UpstreamConnectError::new_err(msg),
        CoreError::Timeout(phase) => with_attrs(
            py,
            UpstreamTimeoutError::new_err(msg),
            &[("phase", PyString::new(py, phase.as_str()).into_any())],
        ),
        CoreError::Protocol(_) => UpstreamProtocolError::new_err(msg),
        CoreError::BodyTooLarge(_) => UpstreamBodyTooLarge::new_err(msg),
    }
}

/// `Router.pick` found no deployment for `group`.
pub fn no_pick(py: Python<'_>, group: &str, no: NoPick) -> PyErr {
    let reason = match no.reason {
        NoPickReason::UnknownGroup => "unknown_group",
        NoPickReason::Ejected => "ejected",
        NoPickReason::Saturated => "saturated",
        NoPickReason::Exhausted => "exhausted",
    };
    let retry_after = no.retry_after_ms as f64 / 1000.0;
    let err =
        NoDeploymentAvailable::new_err(format!("no deployment of {group:?} available ({reason})"));
    with_attrs(
        py,
        err,
        &[
            ("reason", PyString::new(py, reason).into_any()),
            ("retry_after", PyFloat::new(py, retry_after).into_any()),
        ],
    )
}

fn with_attrs<'py>(py: Python<'py>, err: PyErr, attrs: &[(&str, Bound<'py, PyAny>)]) -> PyErr {
    let value = err.value(py);
    for (name, attr) in attrs {
        // Cannot fail on an exception instance (it has a `__dict__`); should it, the exception
        // still goes out, without that attribute.
        let _ = value.setattr(*name, attr);
    }
    err
}
