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
    }
}
