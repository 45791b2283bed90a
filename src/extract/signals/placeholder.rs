//! Placeholders: values a signal field holds when there is nothing to say (`""`, `N/A`,
//! `unknown`, `-`, `XX`...). They are not signals, so they are neither a country nor
//! unreadable. Anything else a reader cannot resolve is unreadable. The built-in list is
//! below; a policy adds its own under `[detection] placeholders`.

/// The built-in placeholders, compared after trimming, case-insensitively. `XX`, `ZZ` and
/// `AA` are ISO 3166's user-assigned codes (never a country); `-`, `?` and the words are
/// what forms and exports write for "not given". (`NA` alone is Namibia, not here.)
pub const DEFAULTS: &[&str] = &[
    "",
    "-",
    "--",
    "---",
    "—",
    "–",
    "?",
    "??",
    "*",
    ".",
    "n/a",
    "na",
    "n.a.",
    "n.a",
    "none",
    "null",
    "nil",
    "nan",
    "undefined",
    "unknown",
    "unk",
    "not set",
    "notset",
    "not available",
    "not applicable",
    "not specified",
    "unspecified",
    "not provided",
    "withheld",
    "redacted",
    "xx",
    "zz",
    "xxx",
    "zzz",
    "aa",
];

/// A policy's placeholders: the built-in ones and its own, lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholders {
    extra: Vec<String>,
    defaults: bool,
}

impl Default for Placeholders {
    fn default() -> Self {
        Placeholders {
            extra: Vec::new(),
            defaults: true,
        }
    }
}

impl Placeholders {
    pub fn new(defaults: bool, extra: impl IntoIterator<Item = String>) -> Self {
        Placeholders {
            extra: extra.into_iter().map(|s| s.trim().to_lowercase()).collect(),
            defaults,
        }
    }

    /// Whether `value` is a placeholder, not a signal.
    pub fn holds(&self, value: &str) -> bool {
        let t = crate::trim(value);
        if t.len() > 16 {
            return false;
        }
        let is = |p: &str| p.eq_ignore_ascii_case(t) || (!t.is_ascii() && p == t.to_lowercase());
        (self.defaults && DEFAULTS.iter().any(|p| is(p))) || self.extra.iter().any(|p| is(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_not_signals() {
        let p = Placeholders::default();
        for v in [
            "", " ", "N/A", "n/a", "Unknown", " - ", "XX", "zz", "null", "—",
        ] {
            assert!(p.holds(v), "{v:?}");
        }
        for v in [
            "DE",
            "Germany",
            "de-DE",
            "8.8.8.8",
            "+44 20 7946 0321",
            "unknownland",
        ] {
            assert!(!p.holds(v), "{v:?}");
        }
        let custom = Placeholders::new(false, ["Sin dato".to_string()]);
        assert!(custom.holds("sin dato"));
        assert!(!custom.holds("N/A"), "the built-in list can be left out");
    }
}
