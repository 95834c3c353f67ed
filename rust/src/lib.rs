//! pllm_accel: the gateway's native hot path.
//!
//! The core modules are plain Rust and are tested with `cargo test` without Python; all PyO3
//! code lives in [`py`], compiled only with the `python` feature (maturin turns it on).

pub mod cache;
pub mod http;
pub mod limits;
pub mod relay;
pub mod router;
pub mod sse;
pub mod stream;

#[cfg(feature = "python")]
mod py;
