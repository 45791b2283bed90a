//! Generated data tables. `scripts/gen-signal-tables.py` writes them from public
//! sources (Unicode CLDR, i18n-nationality, tzdata), `scripts/gen-confusables.py` the
//! confusables (Unicode's data and NFKC); nothing here is typed by hand, and each file
//! names its sources and versions.

#[rustfmt::skip]
pub mod names;
#[rustfmt::skip]
pub mod zones;
#[rustfmt::skip]
pub mod iban;
#[rustfmt::skip]
pub mod confusables;
