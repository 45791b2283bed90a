//! Tagging: a record's signals become countries (with the kind of signal that said
//! each), and the values are dropped. A national-notation phone number is read with the
//! country the record's other signals point to.
//!
//! Every signal ends in one of three ways: a country (evidence); nothing on purpose (a
//! placeholder such as `N/A`, a private or reserved address, a bare language such as
//! `de`); or unreadable (anything else: an unrecognised country name, a public address
//! the database does not know, a national phone number nothing places, a locale whose
//! region is no country). An unreadable signal is kept, by kind and pointer, and makes
//! the record's jurisdiction `unknown`: a notation nobody thought of fails closed.

use super::records::{RawRecord, RawSignal};
use super::signals::coords::{self, Place, Role};
use super::signals::placeholder::Placeholders;
use super::signals::zone::{self, Zone};
use super::signals::{address, ids};
use super::{Evidence, FieldKind, Record, SignalKind, Unreadable};
use crate::country::Country;
use crate::geo::{self, GeoLookup};

/// What one signal said.
enum Said {
    Country(Country),
    /// Nothing, on purpose.
    Nothing,
    Unreadable,
}

pub fn tag(raw: RawRecord, geo: &dyn GeoLookup, placeholders: &Placeholders) -> Record {
    let mut evidence = Vec::with_capacity(raw.signals.len());
    let mut unreadable = Vec::new();
    let is_phone = |k: SignalKind| matches!(k, SignalKind::Phone | SignalKind::TextPhone);
    // Phones last: they are read with the country the other signals give. Each reader
    // runs first; only a value it cannot read is asked whether it is a placeholder (the
    // usual value never is).
    for s in &raw.signals {
        if is_phone(s.kind) {
            continue;
        }
        match s.kind {
            // Read below, paired by parent.
            SignalKind::Location => {}
            // An address that names no country says nothing (see `address`).
            SignalKind::Address => {
                let said = address::read(&s.value).map_or(Said::Nothing, Said::Country);
                keep(&mut evidence, &mut unreadable, s.kind, said, &s.pointer);
            }
            SignalKind::CountryField => {
                let said = unless_placeholder(country_field(&s.value), &s.value, placeholders);
                keep(&mut evidence, &mut unreadable, s.kind, said, &s.pointer);
            }
            SignalKind::Locale => {
                let said = unless_placeholder(locale(&s.value), &s.value, placeholders);
                keep(&mut evidence, &mut unreadable, s.kind, said, &s.pointer);
            }
            // A calling code (`+49`), or a country written where one is expected
            // (`{"country_code": "DE", "number": ...}` in a phone object).
            SignalKind::CallingCode => {
                let said = match geo::calling_code_country(&s.value)
                    .or_else(|| Country::parse_loose(&s.value))
                {
                    Some(c) => Said::Country(c),
                    None => unless_placeholder(Said::Unreadable, &s.value, placeholders),
                };
                keep(&mut evidence, &mut unreadable, s.kind, said, &s.pointer);
            }
            SignalKind::TimeZone => {
                let said = unless_placeholder(time_zone(&s.value), &s.value, placeholders);
                keep(&mut evidence, &mut unreadable, s.kind, said, &s.pointer);
            }
            // Only identifiers whose format names a country become signals.
            SignalKind::Identifier => {
                let said = match ids::read(&s.value).and_then(|i| i.country) {
                    Some(c) => Said::Country(c),
                    None => Said::Unreadable,
                };
                keep(&mut evidence, &mut unreadable, s.kind, said, &s.pointer);
            }
            // A list of addresses (`X-Forwarded-For: client, proxy`): every one counts.
            _ if !s.value.bytes().any(|b| b == b',' || b == b' ' || b == b';') => {
                let said = unless_placeholder(ip(&s.value, geo), &s.value, placeholders);
                keep(&mut evidence, &mut unreadable, s.kind, said, &s.pointer);
            }
            _ => {
                for one in s.value.split([',', ' ', ';']).filter(|a| !a.is_empty()) {
                    let said = unless_placeholder(ip(one, geo), one, placeholders);
                    keep(&mut evidence, &mut unreadable, s.kind, said, &s.pointer);
                }
            }
        }
    }
    if raw.signals.iter().any(|s| s.kind == SignalKind::Location) {
        locations(&raw.signals, &mut evidence, &mut unreadable, placeholders);
    }
    // The hint for national numbers: a calling code first (the number's own prefix,
    // written apart), then a declared country, a locale, an IP.
    let hint = [
        SignalKind::CallingCode,
        SignalKind::CountryField,
        SignalKind::Locale,
        SignalKind::Ip,
        SignalKind::TextIp,
    ]
    .iter()
    .find_map(|k| {
        evidence
            .iter()
            .find(|e: &&Evidence| e.kind == *k)
            .map(|e| e.country)
    });
    for s in raw.signals.iter().filter(|s| is_phone(s.kind)) {
        let said = match phone(&s.value, s.kind, hint) {
            Some(c) => Said::Country(c),
            None => unless_placeholder(Said::Unreadable, &s.value, placeholders),
        };
        keep(&mut evidence, &mut unreadable, s.kind, said, &s.pointer);
    }
    // Coordinates and a name alone are a place's (a list of shops), not a person's.
    let personal = if raw
        .personal
        .iter()
        .all(|p| matches!(p.kind, FieldKind::Location | FieldKind::Name))
    {
        Vec::new()
    } else {
        raw.personal
    };
    Record {
        pointer: raw.pointer,
        personal,
        evidence,
        unreadable,
    }
}

/// The record's coordinates: a string holding both numbers is placed alone; a number
/// under `lat`, `lng` or an array index is paired with the other number under the same
/// parent (see [`coords`]). A number without its pair, or a value that is no coordinate,
/// is unreadable; a value that is a place's name (`"location": "Berlin, Germany"`) is
/// read as an address.
fn locations(
    signals: &[RawSignal],
    evidence: &mut Vec<Evidence>,
    unreadable: &mut Vec<Unreadable>,
    placeholders: &Placeholders,
) {
    // (parent pointer, role, number, the signal)
    let mut parts: Vec<(&str, Role, f64, &RawSignal)> = Vec::new();
    for s in signals.iter().filter(|s| s.kind == SignalKind::Location) {
        let (parent, token) = split_pointer(&s.pointer);
        let role = coords::role(token);
        // A number under `lat` or `lng` (`52.52`, or `52,52` with a decimal comma).
        if let Some(r @ (Role::Lat | Role::Lon)) = role
            && let Some(n) = coords::one_number(&s.value)
        {
            parts.push((parent, r, n, s));
        } else if let Some(places) = coords::place_text(&s.value, coords::order_of(token)) {
            for p in places {
                keep_place(evidence, unreadable, p, &s.pointer);
            }
        } else if let (Some(n), Some(role)) = (coords::number(s.value.trim()), role) {
            parts.push((parent, role, n, s));
        } else if !coords::looks_like_coordinates(&s.value) {
            let said = address::read(&s.value).map_or(Said::Nothing, Said::Country);
            keep(evidence, unreadable, s.kind, said, &s.pointer);
        } else {
            let said = unless_placeholder(Said::Unreadable, &s.value, placeholders);
            keep(evidence, unreadable, s.kind, said, &s.pointer);
        }
    }
    let mut paired = vec![false; parts.len()];
    for i in 0..parts.len() {
        if paired[i] {
            continue;
        }
        let (parent, role, a, s) = parts[i];
        let other = |want: Role| {
            (i + 1..parts.len()).find(|&j| !paired[j] && parts[j].0 == parent && parts[j].1 == want)
        };
        let found = match role {
            Role::Lat => {
                other(Role::Lon).map(|j| (j, [coords::locate(a, parts[j].2), Place::Nowhere]))
            }
            Role::Lon => {
                other(Role::Lat).map(|j| (j, [coords::locate(parts[j].2, a), Place::Nowhere]))
            }
            Role::Index(0) => other(Role::Index(1))
                .map(|j| (j, coords::place_pair(a, parts[j].2, array_order(parent)))),
            Role::Index(1) => other(Role::Index(0))
                .map(|j| (j, coords::place_pair(parts[j].2, a, array_order(parent)))),
            // An altitude (the third number) is no part of the place.
            Role::Index(_) => {
                paired[i] = true;
                continue;
            }
        };
        paired[i] = true;
        match found {
            Some((j, places)) => {
                paired[j] = true;
                for p in places {
                    keep_place(evidence, unreadable, p, &s.pointer);
                }
            }
            None => keep_place(evidence, unreadable, Place::Unreadable, &s.pointer),
        }
    }
}

/// The order an array's numbers are in, by the nearest key above it that is not an
/// index (`/geometry/coordinates`, `/route/coordinates/3`).
fn array_order(parent: &str) -> coords::Order {
    parent
        .rsplit('/')
        .find(|t| !t.is_empty() && !t.bytes().all(|b| b.is_ascii_digit()))
        .map_or(coords::Order::Either, coords::order_of)
}

/// A JSON pointer's parent and last token (`/a/b` → `/a`, `b`).
fn split_pointer(p: &str) -> (&str, &str) {
    match p.rfind('/') {
        Some(i) => (&p[..i], &p[i + 1..]),
        None => ("", p),
    }
}

fn keep_place(
    evidence: &mut Vec<Evidence>,
    unreadable: &mut Vec<Unreadable>,
    place: Place,
    pointer: &super::Pointer,
) {
    let said = match place {
        Place::Country(c) => Said::Country(c),
        Place::Nowhere => Said::Nothing,
        Place::Unreadable => Said::Unreadable,
    };
    keep(evidence, unreadable, SignalKind::Location, said, pointer);
}

/// An unreadable value that is a placeholder says nothing instead.
fn unless_placeholder(said: Said, value: &str, placeholders: &Placeholders) -> Said {
    match said {
        Said::Unreadable if placeholders.holds(value) => Said::Nothing,
        other => other,
    }
}

fn keep(
    evidence: &mut Vec<Evidence>,
    unreadable: &mut Vec<Unreadable>,
    kind: SignalKind,
    said: Said,
    pointer: &super::Pointer,
) {
    match said {
        Said::Country(country) => evidence.push(Evidence {
            kind,
            country,
            pointer: pointer.clone(),
        }),
        Said::Nothing => {}
        Said::Unreadable => unreadable.push(Unreadable {
            kind,
            pointer: pointer.clone(),
        }),
    }
}

fn country_field(v: &str) -> Said {
    // (`"country_code": "+49"` beside a phone number is a calling code)
    let calling = || {
        crate::trim(v)
            .starts_with('+')
            .then(|| geo::calling_code_country(v))
            .flatten()
    };
    match Country::parse_loose(v).or_else(calling) {
        Some(c) => Said::Country(c),
        None => Said::Unreadable,
    }
}

fn time_zone(v: &str) -> Said {
    match zone::read(v) {
        Zone::Country(c) => Said::Country(c),
        Zone::NoPlace => Said::Nothing,
        Zone::Unreadable => Said::Unreadable,
    }
}

/// A locale: its region, nothing for a bare language (`de`, `zh-Hant`, `*`), else
/// unreadable (a region that is no country: `es-419`, `en-XX`; a value that is no tag).
fn locale(v: &str) -> Said {
    if let Some(c) = locale_country(v) {
        return Said::Country(c);
    }
    if bare_language(v) {
        Said::Nothing
    } else {
        Said::Unreadable
    }
}

/// `de`, `deu`, `zh-Hant`, `*`, or a list of such (`de, en;q=0.8`): languages only.
fn bare_language(v: &str) -> bool {
    v.split(',').all(|part| {
        let tag = part.split(';').next().unwrap_or("").trim();
        let mut subtags = tag.split(['-', '_']);
        let lang = subtags.next().unwrap_or("");
        let lang_ok = lang == "*"
            || ((2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_alphabetic()));
        lang_ok && subtags.all(|s| s.len() == 4 && s.bytes().all(|b| b.is_ascii_alphabetic()))
    })
}

/// An address: its country; nothing for a private, loopback or reserved one (it is not
/// where the subject is); unreadable when it is no address or a public one the database
/// does not place.
fn ip(v: &str, geo: &dyn GeoLookup) -> Said {
    match geo::parse_ip(v) {
        None => Said::Unreadable,
        Some(a) if !geo::is_public(a) => Said::Nothing,
        Some(a) => match geo.country_of(a) {
            Some(c) => Said::Country(c),
            None => Said::Unreadable,
        },
    }
}

/// A phone number's country, read with `hint` for national notations.
fn phone(v: &str, kind: SignalKind, hint: Option<Country>) -> Option<Country> {
    // MSISDNs are often E.164 without the `+`: a long bare number with no national
    // reading is tried as international.
    geo::phone_country(v, hint).or_else(|| {
        let digits = v.trim();
        (kind == SignalKind::Phone
            && digits.len() >= 11
            && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| geo::phone_country(&format!("+{digits}"), None))
        .flatten()
    })
}

/// The region of a locale or Accept-Language value: `de-DE` → DE, `en_GB` → GB,
/// `zh-Hant-TW` → TW, `en-GB,en;q=0.9` → GB. A bare language (`de`) says nothing.
pub fn locale_country(v: &str) -> Option<Country> {
    // Most values are one tag (`en-US`): no list to split.
    if !v.bytes().any(|b| b == b',' || b == b';') {
        return tag_region(crate::trim(v));
    }
    v.split(',')
        .find_map(|part| tag_region(part.split(';').next().unwrap_or("").trim()))
}

/// The first two-letter subtag after the language that is a country.
fn tag_region(tag: &str) -> Option<Country> {
    // A POSIX locale's codeset and modifier (`de_DE.UTF-8`, `de_DE@euro`) are no subtags.
    let tag = match tag.bytes().position(|b| b == b'.' || b == b'@') {
        Some(end) => &tag[..end],
        None => tag,
    };
    // The subtags after the first, found by byte (`split` with a set of separators
    // cost ~10x as much, for every locale of every record).
    let sep = |b: &u8| *b == b'-' || *b == b'_';
    let first = tag.bytes().position(|b| sep(&b))?;
    let mut at = first + 1;
    while at <= tag.len() {
        let len = tag.as_bytes()[at..]
            .iter()
            .position(sep)
            .unwrap_or(tag.len() - at);
        if len == 2
            && let Some(c) = tag.get(at..at + 2).and_then(Country::from_alpha2)
        {
            return Some(c);
        }
        at += len + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales() {
        assert_eq!(locale_country("de-DE").unwrap().as_str(), "DE");
        assert_eq!(locale_country("en_GB").unwrap().as_str(), "GB");
        assert_eq!(locale_country("zh-Hant-TW").unwrap().as_str(), "TW");
        assert_eq!(locale_country("en-GB,en;q=0.9").unwrap().as_str(), "GB");
        assert_eq!(locale_country("de"), None);
        assert_eq!(locale_country("es-419"), None);
        // Every position and separator, and what is not a region.
        assert_eq!(locale_country("sr_Latn_RS").unwrap().as_str(), "RS");
        assert_eq!(locale_country(" fr-CA ;q=0.8").unwrap().as_str(), "CA");
        assert_eq!(locale_country("de;q=1,pt-BR").unwrap().as_str(), "BR");
        // POSIX locales, and BCP 47 with extensions.
        assert_eq!(locale_country("de_DE.UTF-8").unwrap().as_str(), "DE");
        assert_eq!(locale_country("fr_FR@euro").unwrap().as_str(), "FR");
        assert_eq!(locale_country("de-DE-u-co-phonebk").unwrap().as_str(), "DE");
        assert_eq!(locale_country("en-GB-x-private").unwrap().as_str(), "GB");
        for none in [
            "", "-", "_", "en-", "en--", "-GB-", "GB", "en-GBR", "en-G", "x-ZZ",
        ] {
            let got = locale_country(none).map(|c| c.to_string());
            let want = (none == "-GB-").then(|| "GB".to_string());
            assert_eq!(got, want, "{none:?}");
        }
    }

    /// The byte-wise reader answers as the `split`-based one it replaced, on locales and
    /// on arbitrary text.
    #[test]
    fn locales_as_before() {
        fn by_split(v: &str) -> Option<Country> {
            for part in v.split(',') {
                let tag = part.split(';').next().unwrap_or("").trim();
                let tag = tag.split(['.', '@']).next().unwrap_or("");
                for sub in tag.split(['-', '_']).skip(1) {
                    if sub.len() == 2
                        && let Some(c) = Country::from_alpha2(sub)
                    {
                        return Some(c);
                    }
                }
            }
            None
        }
        use proptest::prelude::*;
        proptest!(ProptestConfig::with_cases(2000), |(v in "([a-zA-Z]{0,3}[-_,; ]{0,2}){0,6}|\\PC{0,12}")| {
            prop_assert_eq!(locale_country(&v), by_split(&v), "{:?}", v);
        });
    }
}
