//! Tagging: a record's signals become countries (with the kind of signal that said
//! each), and the values are dropped. A national-notation phone number is read with the
//! country the record's other signals point to.

use super::records::RawRecord;
use super::{Evidence, Record, SignalKind};
use crate::country::Country;
use crate::geo::{self, GeoLookup};

pub fn tag(raw: RawRecord, geo: &dyn GeoLookup) -> Record {
    let mut evidence = Vec::with_capacity(raw.signals.len());
    let mut unresolved = 0;
    let is_phone = |k: SignalKind| matches!(k, SignalKind::Phone | SignalKind::TextPhone);
    // Phones last: they are read with the country the other signals give.
    for s in &raw.signals {
        let country = match s.kind {
            SignalKind::CountryField => Country::parse_loose(&s.value),
            SignalKind::Locale => locale_country(&s.value),
            SignalKind::Ip | SignalKind::TextIp => {
                geo::parse_ip(&s.value).and_then(|ip| geo.country_of(ip))
            }
            SignalKind::Phone | SignalKind::TextPhone => continue,
        };
        match country {
            Some(country) => evidence.push(Evidence {
                kind: s.kind,
                country,
                pointer: s.pointer.clone(),
            }),
            None => unresolved += 1,
        }
    }
    // The hint for national numbers: a declared country first, then a locale, then an IP.
    let hint = [
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
        // MSISDNs are often E.164 without the `+`: a long bare number with no national
        // reading is tried as international.
        let answer = geo::phone_country(&s.value, hint).or_else(|| {
            let digits = s.value.trim();
            (s.kind == SignalKind::Phone
                && digits.len() >= 11
                && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| geo::phone_country(&format!("+{digits}"), None))
            .flatten()
        });
        match answer {
            Some(country) => evidence.push(Evidence {
                kind: s.kind,
                country,
                pointer: s.pointer.clone(),
            }),
            None => unresolved += 1,
        }
    }
    Record {
        pointer: raw.pointer,
        personal: raw.personal,
        evidence,
        unresolved_signals: unresolved,
    }
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
