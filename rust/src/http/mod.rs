//! Upstream HTTP exchange on a Tokio runtime: pooled keep-alive connections (reqwest/hyper,
//! rustls with webpki roots, `HTTPS_PROXY`/`NO_PROXY` from the environment) and three separate
//! timeouts — connect, first byte (response head), and idle time between body chunks. There is
//! deliberately no total timeout: a long stream that keeps producing is never cut.

mod client;
mod error;

pub use client::{ClientConfig, RequestSpec, ResponseHead, Target, UpstreamBody, UpstreamClient};
pub use error::{TimeoutPhase, UpstreamError};
