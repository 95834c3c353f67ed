//! The semantic response cache's vector index (see [`index`]).

pub mod index;

pub use index::{VectorIndex, VectorIndexError};
