//! The signal readers' shared rules. A value in a signal field either names a country,
//! says nothing on purpose (a placeholder, a private address, a bare language), or
//! cannot be read: the last makes the record's jurisdiction `unknown`, never nothing
//! ([`crate::extract::tag`] applies this to every kind).

pub mod address;
pub mod coords;
pub mod ids;
pub mod placeholder;
pub mod zone;
