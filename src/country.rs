//! ISO 3166-1 countries: parsing in the notations records use, built-in groups, and a
//! compact bitset for the policy's runtime form.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use isocountry::CountryCode;

/// An ISO 3166-1 alpha-2 country code, always upper case and always a real code.
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Country([u8; 2]);

impl Country {
    /// Parses an exact alpha-2 code (case-insensitive). `None` for anything that is not
    /// an assigned ISO 3166-1 code.
    pub fn from_alpha2(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 2 || !b[0].is_ascii_alphabetic() || !b[1].is_ascii_alphabetic() {
            return None;
        }
        let up = [b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()];
        let idx = index_of(up);
        if VALID.contains(idx) {
            Some(Country(up))
        } else {
            None
        }
    }

    /// Parses what a country field may hold: alpha-2, alpha-3, ISO numeric, a flag, a
    /// name in any of CLDR's languages the table holds, or a nationality adjective
    /// (`"DE"`, `"deu"`, `"276"`, `"Germany"`, `"Deutschland"`, `"Allemagne"`, `"deutsch"`,
    /// `"française"`, `"United Kingdom"`, `"UK"`).
    pub fn parse_loose(s: &str) -> Option<Self> {
        let t = crate::trim(s);
        if t.is_empty() || t.len() > 64 {
            return None;
        }
        if let Some(c) = Country::from_alpha2(t) {
            return Some(c);
        }
        if t.len() == 3
            && let Ok(cc) = CountryCode::for_alpha3_caseless(t)
        {
            return Country::from_alpha2(cc.alpha2());
        }
        // ISO 3166-1 numeric (`276`, `040`, `4`: a JSON number loses its zeros).
        if t.len() <= 3
            && t.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = t.parse::<u32>()
            && let Ok(cc) = CountryCode::for_id(n)
        {
            return Country::from_alpha2(cc.alpha2());
        }
        if let Some(c) = Country::from_flag(t) {
            return Some(c);
        }
        NAMES.get(&normalise_name(t)).copied()
    }

    /// The country a name or nationality written as `words` names (`["United",
    /// "States"]`, `["deutsch"]`), by the same table as [`Country::parse_loose`]. Made
    /// for scanning prose: ASCII words are normalised on the stack, nothing allocated.
    pub fn from_name_words(words: &[&str]) -> Option<Self> {
        let mut buf = [0u8; 64];
        let mut n = 0;
        for w in words {
            for b in w.bytes() {
                if !b.is_ascii() {
                    return NAMES.get(&normalise_name(&words.concat())).copied();
                }
                if b.is_ascii_alphanumeric() {
                    *buf.get_mut(n)? = b.to_ascii_lowercase();
                    n += 1;
                }
            }
        }
        let key = buf.get(..n)?;
        if !NAME_FILTER.may_hold(key) {
            return None;
        }
        NAMES.get(std::str::from_utf8(key).ok()?).copied()
    }

    /// As [`Country::from_name_words`], for a [`NameKey`] built from `words`: a key
    /// the name filter turns away is no name, without normalising `words` again.
    pub fn from_name_key(key: NameKey, words: &[&str]) -> Option<Self> {
        if key.len == 0 || key.len > 64 || !NAME_FILTER.may_hold_hash(key.hash) {
            return None;
        }
        Self::from_name_words(words)
    }

    /// A flag emoji: two regional indicator symbols (U+1F1E6..U+1F1FF) spelling an
    /// alpha-2 code (`🇩🇪` → DE).
    pub fn from_flag(s: &str) -> Option<Self> {
        let mut letters = s.chars().map(|c| {
            let c = c as u32;
            (0x1F1E6..=0x1F1FF)
                .contains(&c)
                .then(|| char::from(b'A' + (c - 0x1F1E6) as u8))
        });
        let (Some(Some(a)), Some(Some(b)), None) = (letters.next(), letters.next(), letters.next())
        else {
            return None;
        };
        Country::from_alpha2(&format!("{a}{b}"))
    }

    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII upper-case letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    pub(crate) fn index(self) -> usize {
        index_of(self.0)
    }

    pub(crate) fn from_index(i: usize) -> Self {
        Country([b'A' + (i / 26) as u8, b'A' + (i % 26) as u8])
    }

    /// Every assigned alpha-2 code, for "did you mean" hints.
    pub fn all() -> impl Iterator<Item = Country> {
        VALID.iter()
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Country {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

fn index_of(up: [u8; 2]) -> usize {
    (up[0] - b'A') as usize * 26 + (up[1] - b'A') as usize
}

const SLOTS: usize = 26 * 26;
const WORDS: usize = SLOTS.div_ceil(64);

/// A set of countries as a 676-bit bitset: membership is one shift and one mask.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CountrySet([u64; WORDS]);

impl CountrySet {
    pub const fn new() -> Self {
        CountrySet([0; WORDS])
    }
    pub fn insert(&mut self, c: Country) -> bool {
        let i = c.index();
        let had = self.0[i / 64] & (1 << (i % 64)) != 0;
        self.0[i / 64] |= 1 << (i % 64);
        !had
    }
    pub fn contains_country(&self, c: Country) -> bool {
        self.contains(c.index())
    }
    fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }
    pub fn intersection(&self, other: &CountrySet) -> CountrySet {
        let mut out = CountrySet::new();
        for (i, w) in out.0.iter_mut().enumerate() {
            *w = self.0[i] & other.0[i];
        }
        out
    }
    pub fn union_with(&mut self, other: &CountrySet) {
        for (i, w) in self.0.iter_mut().enumerate() {
            *w |= other.0[i];
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = Country> + '_ {
        (0..SLOTS)
            .filter(|i| self.contains(*i))
            .map(Country::from_index)
    }
}

impl fmt::Debug for CountrySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Country> for CountrySet {
    fn from_iter<T: IntoIterator<Item = Country>>(iter: T) -> Self {
        let mut s = CountrySet::new();
        for c in iter {
            s.insert(c);
        }
        s
    }
}

static VALID: LazyLock<CountrySet> = LazyLock::new(|| {
    let mut s = CountrySet::new();
    for cc in CountryCode::iter() {
        let b = cc.alpha2().as_bytes();
        if b.len() == 2 && b[0].is_ascii_uppercase() && b[1].is_ascii_uppercase() {
            let i = index_of([b[0], b[1]]);
            s.0[i / 64] |= 1 << (i % 64);
        }
    }
    s
});

/// The name filter's hash of ASCII words as [`Country::from_name_words`] normalises
/// them, built a word at a time: a two-word name's key is its first word's, extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameKey {
    hash: u64,
    len: usize,
}

impl NameKey {
    pub const EMPTY: NameKey = NameKey {
        hash: NameFilter::BASIS,
        len: 0,
    };

    /// This key extended with one lowercase ASCII letter or a digit.
    pub fn push_lower(self, b: u8) -> NameKey {
        NameKey {
            hash: NameFilter::step(self.hash, b),
            len: self.len + 1,
        }
    }

    /// This key extended with `word`'s letters and digits, lowercased; `None` when
    /// `word` is not ASCII (then only [`Country::from_name_words`] reads it).
    pub fn then(self, word: &str) -> Option<NameKey> {
        let mut k = self;
        for b in word.bytes() {
            if !b.is_ascii() {
                return None;
            }
            if b.is_ascii_alphanumeric() {
                k.hash = NameFilter::step(k.hash, b.to_ascii_lowercase());
                k.len += 1;
            }
        }
        Some(k)
    }
}

/// A Bloom filter over the ASCII names in [`NAMES`] (two bits of a 64-bit FNV-1a hash
/// in 2^18): prose words are turned away before hashing with SipHash, wrongly let
/// through about one time in a hundred, and a name is never turned away.
struct NameFilter(Box<[u64]>);

impl NameFilter {
    const BITS: u32 = 18;

    const BASIS: u64 = 0xcbf2_9ce4_8422_2325;

    fn step(h: u64, b: u8) -> u64 {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }

    fn hash(key: &[u8]) -> u64 {
        key.iter().fold(Self::BASIS, |h, b| Self::step(h, *b))
    }

    fn slots(h: u64) -> [usize; 2] {
        let mask = (1u64 << Self::BITS) - 1;
        [(h & mask) as usize, ((h >> 32) & mask) as usize]
    }

    fn may_hold(&self, key: &[u8]) -> bool {
        self.may_hold_hash(Self::hash(key))
    }

    fn may_hold_hash(&self, h: u64) -> bool {
        Self::slots(h)
            .iter()
            .all(|i| self.0[i / 64] & (1 << (i % 64)) != 0)
    }
}

static NAME_FILTER: LazyLock<NameFilter> = LazyLock::new(|| {
    let mut bits = vec![0u64; (1 << NameFilter::BITS) / 64].into_boxed_slice();
    for key in NAMES.keys().filter(|k| k.is_ascii()) {
        for i in NameFilter::slots(NameFilter::hash(key.as_bytes())) {
            bits[i / 64] |= 1 << (i % 64);
        }
    }
    NameFilter(bits)
});

fn normalise_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(|c| c.to_lowercase())
        .collect()
}

/// Common English names beside the ISO short names (which are often formal:
/// "United Kingdom of Great Britain and Northern Ireland").
const ALIASES: &[(&str, &str)] = &[
    ("UK", "GB"),
    ("United Kingdom", "GB"),
    ("Great Britain", "GB"),
    ("Britain", "GB"),
    ("England", "GB"),
    ("Scotland", "GB"),
    ("Wales", "GB"),
    ("Northern Ireland", "GB"),
    ("USA", "US"),
    ("United States", "US"),
    ("America", "US"),
    ("U.S.", "US"),
    ("U.S.A.", "US"),
    ("Russia", "RU"),
    ("South Korea", "KR"),
    ("Korea", "KR"),
    ("North Korea", "KP"),
    ("Iran", "IR"),
    ("Syria", "SY"),
    ("Vietnam", "VN"),
    ("Taiwan", "TW"),
    ("Bolivia", "BO"),
    ("Venezuela", "VE"),
    ("Tanzania", "TZ"),
    ("Moldova", "MD"),
    ("Laos", "LA"),
    ("Czech Republic", "CZ"),
    ("Holland", "NL"),
    ("The Netherlands", "NL"),
    ("Ivory Coast", "CI"),
    ("Macedonia", "MK"),
    ("Turkey", "TR"),
    ("Brunei", "BN"),
    ("Micronesia", "FM"),
    ("Palestine", "PS"),
    ("Vatican", "VA"),
    ("Deutschland", "DE"),
    ("España", "ES"),
    ("Italia", "IT"),
    ("Sverige", "SE"),
    ("Österreich", "AT"),
    ("Schweiz", "CH"),
    ("Nederland", "NL"),
    ("Polska", "PL"),
];

static NAMES: LazyLock<HashMap<String, Country>> = LazyLock::new(|| {
    let mut m = HashMap::with_capacity(crate::tables::names::NAMES.len() + 300);
    // Names and nationality adjectives in the languages of the built-in groups and
    // others (generated from CLDR; ambiguous names are not in it), then the ISO names
    // and the aliases below, which win where they differ.
    for (name, code) in crate::tables::names::NAMES {
        if let Some(c) = Country::from_alpha2(code) {
            m.insert((*name).to_string(), c);
        }
    }
    for cc in CountryCode::iter() {
        let Some(c) = Country::from_alpha2(cc.alpha2()) else {
            continue;
        };
        let name = cc.name();
        m.insert(normalise_name(name), c);
        // "Bolivia (Plurinational State of)" -> "Bolivia"; "Taiwan, Province of China" -> "Taiwan"
        if let Some(short) = name.split([',', '(']).next() {
            m.entry(normalise_name(short)).or_insert(c);
        }
    }
    for (alias, code) in ALIASES {
        if let Some(c) = Country::from_alpha2(code) {
            m.insert(normalise_name(alias), c);
        }
    }
    m
});

/// The 27 member states of the European Union.
pub const EU_MEMBERS: &[&str] = &[
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
];

/// Parts of member states inside the Union (GDPR Art. 3 applies; TFEU Art. 349 and 355)
/// that ISO 3166-1 gives codes of their own: Åland (Finland; Protocol 2 of its accession
/// treaty exempts it from tax rules, not from data protection), and the outermost regions
/// French Guiana, Guadeloupe, Martinique, Réunion, Mayotte and Saint-Martin. (The other
/// outermost regions, the Azores, Madeira and the Canary Islands, have no code of their
/// own: they are `PT` and `ES`.) Overseas countries and territories (TFEU Annex II:
/// Greenland, New Caledonia, French Polynesia, Saint Pierre and Miquelon, Saint
/// Barthélemy, Wallis and Futuna, the French Southern Territories, Aruba, Curaçao, Sint
/// Maarten, the Caribbean Netherlands) and the Faroe Islands are outside the Union, and so
/// outside this group; so are Svalbard and Jan Mayen, to which the EEA Agreement does not
/// apply. The README's table lists each decision with its source.
pub const EU_TERRITORIES: &[&str] = &["AX", "GF", "GP", "MQ", "RE", "YT", "MF"];

/// The European Economic Area: the EU plus Iceland, Liechtenstein and Norway.
pub const EEA_EXTRA: &[&str] = &["IS", "LI", "NO"];

/// Built-in country groups a policy may `include` by name.
pub fn builtin_set(name: &str) -> Option<CountrySet> {
    let eu = EU_MEMBERS.iter().chain(EU_TERRITORIES);
    let codes: Vec<&str> = match name {
        "EU" => eu.copied().collect(),
        "EEA" => eu.chain(EEA_EXTRA).copied().collect(),
        _ => return None,
    };
    Some(
        codes
            .iter()
            .filter_map(|c| Country::from_alpha2(c))
            .collect(),
    )
}

pub const BUILTIN_SETS: &[&str] = &["EU", "EEA"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_words_find_every_name_the_name_filter_passes() {
        // The filter turns words away before hashing: it must never turn a name away.
        // (Non-ASCII words take the allocating path, which the filter does not guard;
        // names over 64 bytes are longer than the window prose is read in.)
        for (key, c) in NAMES.iter().filter(|(k, _)| k.is_ascii() && k.len() <= 64) {
            assert_eq!(Country::from_name_words(&[key]), Some(*c), "{key}");
        }
        let de = Country::from_alpha2("DE");
        assert_eq!(Country::from_name_words(&["Deutschland"]), de);
        assert_eq!(
            Country::from_name_words(&["Österreich"]),
            Country::from_alpha2("AT")
        );
        assert_eq!(
            Country::from_name_words(&["United", "States"]),
            Country::from_alpha2("US")
        );
        for word in ["account", "standing", "ticket", "since", "good"] {
            assert_eq!(Country::from_name_words(&[word]), None, "{word}");
        }
    }

    #[test]
    fn parses_codes_and_names() {
        let de = Country::from_alpha2("DE").unwrap();
        assert_eq!(Country::from_alpha2("de"), Some(de));
        assert_eq!(Country::parse_loose("DEU"), Some(de));
        assert_eq!(Country::parse_loose("Germany"), Some(de));
        assert_eq!(Country::parse_loose(" germany "), Some(de));
        assert_eq!(
            Country::parse_loose("United Kingdom").unwrap().as_str(),
            "GB"
        );
        assert_eq!(Country::parse_loose("UK").unwrap().as_str(), "GB");
        assert_eq!(
            Country::parse_loose("United States of America")
                .unwrap()
                .as_str(),
            "US"
        );
        assert_eq!(Country::parse_loose("Bolivia").unwrap().as_str(), "BO");
        // Numeric codes, with or without their zeros, and flags.
        assert_eq!(Country::parse_loose("276"), Some(de));
        assert_eq!(Country::parse_loose("040").unwrap().as_str(), "AT");
        assert_eq!(Country::parse_loose("40").unwrap().as_str(), "AT");
        assert_eq!(Country::parse_loose("826").unwrap().as_str(), "GB");
        assert_eq!(Country::parse_loose("\u{1F1E9}\u{1F1EA}"), Some(de));
        assert_eq!(
            Country::parse_loose("\u{1F1EC}\u{1F1E7}").unwrap().as_str(),
            "GB"
        );
        assert_eq!(Country::parse_loose("999"), None);
        assert_eq!(
            Country::parse_loose("\u{1F1FD}\u{1F1FD}"),
            None,
            "XX is no country"
        );
        assert_eq!(Country::from_alpha2("ZZ"), None);
        assert_eq!(Country::parse_loose("N/A"), None);
        assert_eq!(Country::parse_loose(""), None);
    }

    #[test]
    fn builtin_sets() {
        let eea = builtin_set("EEA").unwrap();
        let eu = builtin_set("EU").unwrap();
        // The 27 member states and their 7 territories with codes of their own.
        assert_eq!(eu.len(), 34);
        assert_eq!(eea.len(), 37);
        for inside in ["AX", "GF", "GP", "MQ", "RE", "YT", "MF"] {
            assert!(
                eu.contains_country(Country::from_alpha2(inside).unwrap()),
                "{inside}"
            );
        }
        for outside in [
            "GL", "FO", "NC", "PF", "PM", "BL", "WF", "TF", "AW", "CW", "SX", "BQ", "SJ", "GI",
            "JE", "GG", "IM",
        ] {
            assert!(
                !eea.contains_country(Country::from_alpha2(outside).unwrap()),
                "{outside}"
            );
        }
        assert!(eea.contains_country(Country::from_alpha2("NO").unwrap()));
        assert!(!eu.contains_country(Country::from_alpha2("NO").unwrap()));
        assert!(!eea.contains_country(Country::from_alpha2("GB").unwrap()));
        assert!(builtin_set("XX").is_none());
    }

    #[test]
    fn bitset_roundtrip() {
        let s: CountrySet = ["US", "DE", "ZW", "AD"]
            .iter()
            .filter_map(|c| Country::from_alpha2(c))
            .collect();
        let v: Vec<String> = s.iter().map(|c| c.to_string()).collect();
        assert_eq!(v, ["AD", "DE", "US", "ZW"]);
    }
}
