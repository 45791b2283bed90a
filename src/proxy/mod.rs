//! The sidecar: accept loop and graceful drain (`server`), the request path (`pipeline`),
//! the upstream client (`upstream`), and the one mapping of outcomes to responses
//! (`respond`).

pub mod budget;
pub mod destination;
pub mod egress;
pub mod pipeline;
pub mod reload;
pub mod respond;
pub mod server;
pub mod tls;
pub mod upstream;

pub use pipeline::{Runtime, Shared};
