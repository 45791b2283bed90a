//! The policy: TOML text → [`raw`] (serde mirror) → [`validate`] (every diagnostic, with
//! line:column) → [`compile`] (runtime form). No file I/O here: callers pass the text.

pub mod compile;
pub mod diag;
pub mod diff;
pub mod raw;
pub mod validate;

pub use compile::Policy;
pub use diag::{Diagnostic, Severity};
pub use validate::{hash, load};
