//! Postal addresses: the country an address's last component names.
//!
//! An address written on one line or several (`Unter den Linden 1, 10117 Berlin,
//! Germany`; `…\n10117 Berlin\nDeutschland`) ends with its country when it names one.
//! The last component (after the last comma, semicolon or line break), without the words
//! holding digits (postal codes), is read as a country field is: a name in any language
//! of the table, an alpha-3 or alpha-2 code, a flag. A US address ends with a state
//! (`San Francisco, CA 94105`, `Atlanta, Georgia`): a state's code or name is read as the
//! United States first, before a country with the same code (`CA` is California, not
//! Canada; `DE` Delaware, not Germany; `Georgia` the state, not the country), unless
//! the address is written the European way, its postal code before the city and no ZIP
//! after the code (`10117 Berlin, DE` is Germany). An address
//! whose last component names no country (`10117 Berlin`) says nothing: most addresses
//! do not name their country, and that is not an unreadable signal.

use crate::country::Country;

/// The codes and names of the US states, the District of Columbia and the inhabited
/// territories that USPS addresses end with.
const US_STATES: &[(&str, &str)] = &[
    ("AL", "alabama"),
    ("AK", "alaska"),
    ("AZ", "arizona"),
    ("AR", "arkansas"),
    ("CA", "california"),
    ("CO", "colorado"),
    ("CT", "connecticut"),
    ("DE", "delaware"),
    ("DC", "districtofcolumbia"),
    ("FL", "florida"),
    ("GA", "georgia"),
    ("HI", "hawaii"),
    ("ID", "idaho"),
    ("IL", "illinois"),
    ("IN", "indiana"),
    ("IA", "iowa"),
    ("KS", "kansas"),
    ("KY", "kentucky"),
    ("LA", "louisiana"),
    ("ME", "maine"),
    ("MD", "maryland"),
    ("MA", "massachusetts"),
    ("MI", "michigan"),
    ("MN", "minnesota"),
    ("MS", "mississippi"),
    ("MO", "missouri"),
    ("MT", "montana"),
    ("NE", "nebraska"),
    ("NV", "nevada"),
    ("NH", "newhampshire"),
    ("NJ", "newjersey"),
    ("NM", "newmexico"),
    ("NY", "newyork"),
    ("NC", "northcarolina"),
    ("ND", "northdakota"),
    ("OH", "ohio"),
    ("OK", "oklahoma"),
    ("OR", "oregon"),
    ("PA", "pennsylvania"),
    ("RI", "rhodeisland"),
    ("SC", "southcarolina"),
    ("SD", "southdakota"),
    ("TN", "tennessee"),
    ("TX", "texas"),
    ("UT", "utah"),
    ("VT", "vermont"),
    ("VA", "virginia"),
    ("WA", "washington"),
    ("WV", "westvirginia"),
    ("WI", "wisconsin"),
    ("WY", "wyoming"),
];

/// The country an address names, if its last component names one.
pub fn read(v: &str) -> Option<Country> {
    let mut parts = v
        .rsplit([',', ';', '\n', '\r'])
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let last = parts.next()?;
    let before = parts.next().unwrap_or("");
    // The words without digits: `CA 94105` → `CA`, `10117 Berlin` → `Berlin`.
    let mut words = [""; 8];
    let mut n = 0;
    for w in last
        .split_whitespace()
        .filter(|w| !w.bytes().any(|b| b.is_ascii_digit()))
    {
        *words.get_mut(n)? = w.trim_matches(|c: char| c == '.' || c == '(' || c == ')');
        n += 1;
    }
    let words = &words[..n];
    if words.is_empty() {
        return None;
    }
    if us_state(words) {
        // A code that is a state's and a country's (`DE`, `CA`): the country when the
        // address is written the European way, postal code before the city
        // (`10117 Berlin, DE`) and no ZIP after the code; else the state.
        let zip = last.bytes().any(|b| b.is_ascii_digit());
        let european = before.bytes().next().is_some_and(|b| b.is_ascii_digit());
        if let [code] = words
            && !zip
            && european
            && let Some(c) = Country::from_alpha2(code)
        {
            return Some(c);
        }
        return Country::from_alpha2("US");
    }
    // The whole component, then without its leading words: a formal name ends with
    // the short one (`Federal Republic of Germany`, `Bundesrepublik Deutschland`).
    (0..words.len()).find_map(|from| Country::parse_loose(&words[from..].join(" ")))
}

fn us_state(words: &[&str]) -> bool {
    if let [code] = words
        && code.len() == 2
        && code.bytes().all(|b| b.is_ascii_uppercase())
    {
        return US_STATES.iter().any(|(c, _)| c == code);
    }
    let mut buf = [0u8; 32];
    let mut n = 0;
    for b in words.iter().flat_map(|w| w.bytes()) {
        if b.is_ascii_alphabetic() {
            let Some(slot) = buf.get_mut(n) else {
                return false;
            };
            *slot = b.to_ascii_lowercase();
            n += 1;
        }
    }
    let key = &buf[..n];
    US_STATES.iter().any(|(_, name)| name.as_bytes() == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(v: &str) -> Option<String> {
        read(v).map(|c| c.to_string())
    }

    #[test]
    fn the_last_component_names_the_country() {
        for (v, want) in [
            ("Unter den Linden 1, 10117 Berlin, Germany", "DE"),
            ("Unter den Linden 1\n10117 Berlin\nDeutschland", "DE"),
            ("12 rue de Rivoli, 75001 Paris, France", "FR"),
            ("Via del Corso 1, 00186 Roma, Italia", "IT"),
            ("Kungsgatan 1; 111 43 Stockholm; Sverige", "SE"),
            ("1 Main St, Springfield, USA", "US"),
            ("1 Main St, San Francisco, CA 94105", "US"),
            ("1 Main St, Dover, DE 19901", "US"),
            ("1 Main St, Dover, DE", "US"),
            ("Hauptstraße 1, 10117 Berlin, DE", "DE"),
            ("Hauptstraße 1\n10117 Berlin\nDE", "DE"),
            ("Peachtree St, Atlanta, Georgia", "US"),
            ("350 Fifth Avenue, New York, NY 10118, United States", "US"),
            ("10 Downing St, London SW1A 2AA, United Kingdom", "GB"),
            ("Calle Mayor 1, 28013 Madrid, ES", "ES"),
            ("Prinsengracht 1, Amsterdam, 🇳🇱", "NL"),
            ("Mannerheimintie 1, Helsinki, FIN", "FI"),
            (
                "Hauptstraße 1, 10117 Berlin, Federal Republic of Germany",
                "DE",
            ),
            (
                "Hauptstraße 1, 10117 Berlin, Bundesrepublik Deutschland",
                "DE",
            ),
            ("Port Moresby, Papua New Guinea", "PG"),
            ("Santa Fe, New Mexico", "US"),
        ] {
            assert_eq!(of(v).as_deref(), Some(want), "{v}");
        }
        for none in [
            "Unter den Linden 1, 10117 Berlin",
            "10117",
            "",
            ",,",
            "Hauptstraße 5",
            "Toronto, ON",
        ] {
            assert_eq!(of(none), None, "{none}");
        }
    }
}
