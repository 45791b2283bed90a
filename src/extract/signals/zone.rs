//! IANA time zones: `Europe/Berlin` is Germany's, by tzdata's `zone.tab` (one country
//! per zone, the one whose clocks it names) and every older name CLDR lists for it
//! (`Asia/Calcutta`, `US/Eastern`). A zone that is no place (`UTC`, `Etc/GMT+1`, an
//! offset such as `+01:00`) says nothing; any other value is unreadable.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::country::Country;

/// What a time zone field says.
pub enum Zone {
    Country(Country),
    /// UTC, an offset or an `Etc/` zone: a time, not a place.
    NoPlace,
    Unreadable,
}

static ZONES: LazyLock<HashMap<String, Country>> = LazyLock::new(|| {
    crate::tables::zones::ZONES
        .iter()
        .filter_map(|(name, cc)| Some((name.to_ascii_lowercase(), Country::from_alpha2(cc)?)))
        .collect()
});

pub fn read(value: &str) -> Zone {
    let v = crate::trim(value);
    let lower = v.to_ascii_lowercase();
    if let Some(c) = ZONES.get(&lower) {
        return Zone::Country(*c);
    }
    if no_place(&lower) {
        Zone::NoPlace
    } else {
        Zone::Unreadable
    }
}

/// `UTC`, `GMT`, `Z`, `Etc/…`, `UTC+2`, `GMT-05:00`, `+01:00`, `-0500`.
fn no_place(v: &str) -> bool {
    let rest = ["etc/", "zulu", "utc", "gmt", "ut", "z"]
        .iter()
        .find_map(|p| v.strip_prefix(p))
        .unwrap_or(v);
    if v.starts_with("etc/") {
        return true;
    }
    if rest.is_empty() {
        return v != rest;
    }
    let Some(offset) = rest.strip_prefix(['+', '-']) else {
        return false;
    };
    let digits: Vec<u8> = offset.bytes().filter(|b| *b != b':').collect();
    (1..=4).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(v: &str) -> String {
        match read(v) {
            Zone::Country(c) => c.to_string(),
            Zone::NoPlace => "-".into(),
            Zone::Unreadable => "?".into(),
        }
    }

    #[test]
    fn zones() {
        for (v, want) in [
            ("Europe/Berlin", "DE"),
            ("europe/berlin", "DE"),
            (" Europe/Paris ", "FR"),
            ("America/New_York", "US"),
            ("US/Eastern", "US"),
            ("Asia/Calcutta", "IN"),
            ("Europe/Kiev", "UA"),
            ("Europe/Mariehamn", "AX"),
            ("UTC", "-"),
            ("Etc/GMT+1", "-"),
            ("GMT-05:00", "-"),
            ("+01:00", "-"),
            ("Z", "-"),
            ("Europe/Atlantis", "?"),
            ("Berlin", "?"),
            ("W. Europe Standard Time", "?"),
            ("+1:00:00:00", "?"),
        ] {
            assert_eq!(said(v), want, "{v}");
        }
    }
}
