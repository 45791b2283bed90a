//! Free-text detectors: emails, phone numbers in international notation, and public IP
//! addresses inside arbitrary strings (chat messages, notes, ticket bodies). Each hit is
//! personal data and, for phones and IPs, a signal. Values never leave this module
//! except as the `&str` slices handed to the tagger.

use std::net::IpAddr;

use crate::geo;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextHitKind {
    Email,
    Phone,
    Ip,
    /// An identity document, account or card number ([`super::signals::ids`]).
    Id(super::signals::ids::IdKind),
    /// Not personal data itself: the whole text is a form (`email=..&country=DE`), or
    /// is once percent-decoded; the value is the form, whose fields the walker reads as
    /// a form's ([`looks_like_form`]).
    Form,
    /// Not personal data itself: the text is lines of CSV or YAML (a file passed as a
    /// string), which the walker reads as that format.
    Lines,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextHit {
    pub kind: TextHitKind,
    /// The normalised value (digits for phones, canonical address for IPs).
    pub value: String,
}

/// Finds every email, international phone number and public IP address in `text`.
pub fn scan(text: &str) -> Vec<TextHit> {
    scan_with(text, true)
}

/// As [`scan`]; with `ipv4 = false`, dotted quads are not taken for addresses (a value
/// under a `version` or `build` key: `4.2.1.0` is a version there). Percent-encoded text, which hides `@` and `+`, is read decoded too.
pub fn scan_with(text: &str, ipv4: bool) -> Vec<TextHit> {
    let mut hits = Vec::new();
    let first = scan_into(text, ipv4, &mut hits);
    // (most strings hold none of `%`, `=`, `&` or a line break: done)
    if first & (PERCENT | EQUALS | AMPERSAND | NEWLINE) != 0 {
        encoded(text, ipv4, first, &mut hits);
    }
    // Full-width forms (`ｌｕｋａｓ＠ｅｘａｍｐｌｅ．ｏｒｇ`) and a bracketed `at` or
    // `dot` (`lukas [at] example (dot) org`) write an address so no `@` is seen.
    if first & (NON_ASCII | PAREN | BRACKET) != 0
        && let Some(plain) = deobfuscated(text)
    {
        scan_into(&plain, ipv4, &mut hits);
    }
    hits
}

/// `text` with full-width ASCII folded to ASCII (as NFKC folds it) and `(at)`, `[at]`,
/// `{at}`, `<at>` (and `dot`, any case, spaces inside or around) written as `@` and `.`;
/// `None` when there is nothing to undo.
#[inline(never)]
fn deobfuscated(text: &str) -> Option<String> {
    let folded: String = text
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect();
    let mut out = String::with_capacity(folded.len());
    let mut rest = folded.as_str();
    let mut changed = folded != text;
    while let Some(i) = rest.find(['(', '[', '{', '<']) {
        let close = match rest.as_bytes()[i] {
            b'(' => ')',
            b'[' => ']',
            b'{' => '}',
            _ => '>',
        };
        let inner_end = rest[i + 1..].find(close).map(|j| i + 1 + j);
        let word = inner_end.map(|e| rest[i + 1..e].trim().to_ascii_lowercase());
        let sub = match word.as_deref() {
            Some("at") => Some('@'),
            Some("dot") => Some('.'),
            _ => None,
        };
        match (sub, inner_end) {
            (Some(c), Some(e)) => {
                out.push_str(rest[..i].trim_end());
                out.push(c);
                rest = rest[e + 1..].trim_start();
                changed = true;
            }
            _ => {
                out.push_str(&rest[..=i]);
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// What a text holding `%`, `=`, `&` or a line break may hide: percent-encoding undone
/// as often as it was done (three times at most: `%2540` is an `@` encoded twice), a
/// form (`email=..&country=DE`, perhaps percent-encoded whole), HTML character
/// references (`&#64;`, `&commat;`, `&#x2B;` hide `@` and `+`), lines of CSV or YAML.
#[inline(never)]
fn encoded(text: &str, ipv4: bool, first: u16, hits: &mut Vec<TextHit>) {
    let mut form =
        (first & EQUALS != 0 && looks_like_form(text.as_bytes())).then(|| text.to_string());
    let mut classes = first;
    let mut current = std::borrow::Cow::Borrowed(text);
    for _ in 0..3 {
        if classes & PERCENT == 0 {
            break;
        }
        let decoded = percent_decode(&current);
        if decoded == *current {
            break;
        }
        classes = scan_into(&decoded, ipv4, hits);
        if form.is_none() && classes & EQUALS != 0 && looks_like_form(decoded.as_bytes()) {
            form = Some(decoded.clone());
        }
        current = std::borrow::Cow::Owned(decoded);
    }
    if let Some(value) = form {
        hits.push(TextHit {
            kind: TextHitKind::Form,
            value,
        });
    }
    if first & AMPERSAND != 0
        && let std::borrow::Cow::Owned(decoded) = html_escape::decode_html_entities(text)
    {
        scan_into(&decoded, ipv4, hits);
    }
    if first & NEWLINE != 0
        && matches!(
            super::formats::sniff(text.as_bytes()),
            Some(super::formats::Structured::Csv(_) | super::formats::Structured::Yaml)
        )
    {
        hits.push(TextHit {
            kind: TextHitKind::Lines,
            value: String::new(),
        });
    }
}

/// [`scan_with`] on the text as it is; which of `%`, `&` and `=` it holds (found by the
/// one pass over its bytes that every string takes).
fn scan_into(text: &str, ipv4: bool, hits: &mut Vec<TextHit>) -> u16 {
    // A timestamp, and nothing else, hides nothing (the most common string with digits).
    if is_timestamp(text.as_bytes()) {
        return 0;
    }
    // One pass over the bytes says which detectors can possibly match; most strings
    // (names, timestamps, ids, enum values) need none of them.
    let shape = Shape::of(text.as_bytes());
    if shape.has(AT) {
        emails(text, hits);
    }
    if shape.has(NON_ASCII) || (shape.has(DIGIT) && shape.has(PLUS | PAREN | DOUBLE_ZERO)) {
        phones(text, hits);
    }
    if shape.digits >= 7 && shape.has(LETTER) {
        national_phones(text, hits);
    }
    if ipv4 && shape.has(DIGIT) && shape.has(DOT) {
        ipv4s(text, hits);
    }
    // Written out, an IPv6 address has seven colons (six before a dotted-quad tail)
    // unless it compresses zeros with `::`: times like `21:14:03` need no parsing.
    if shape.colons >= 6 || shape.has(DOUBLE_COLON) {
        ipv6s(text, hits);
    }
    if shape.has(DIGIT) {
        for (id, span) in super::signals::ids::scan_counted(text, shape.digits, shape.has(LETTER)) {
            hits.push(TextHit {
                kind: TextHitKind::Id(id.kind),
                value: text[span].to_string(),
            });
        }
    }
    shape.classes & (PERCENT | AMPERSAND | EQUALS | NEWLINE | NON_ASCII | PAREN | BRACKET)
}

/// An RFC 3339 / ISO 8601 date and time, whole: `2026-11-20T21:14:03Z`, with a space
/// for the `T`, fractional seconds, and a `Z` or `±hh:mm` offset (or none).
fn is_timestamp(b: &[u8]) -> bool {
    fn digits(b: &[u8], pattern: &[u8]) -> bool {
        b.len() >= pattern.len()
            && pattern.iter().zip(b).all(|(p, c)| {
                if *p == b'd' {
                    c.is_ascii_digit()
                } else {
                    p == c
                }
            })
    }
    if b.len() < 19 || !digits(b, b"dddd-dd-dd") || !matches!(b[10], b'T' | b't' | b' ') {
        return false;
    }
    if !digits(&b[11..], b"dd:dd:dd") {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 || n > 9 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        [] | [b'Z' | b'z'] => true,
        [b'+' | b'-', offset @ ..] => {
            digits(offset, b"dd:dd") && offset.len() == 5
                || digits(offset, b"dddd") && offset.len() == 4
        }
        _ => false,
    }
}

const AT: u16 = 1;
const DIGIT: u16 = 2;
const DOT: u16 = 4;
const PLUS: u16 = 8;
const PAREN: u16 = 16;
const NON_ASCII: u16 = 32;
const DOUBLE_ZERO: u16 = 64;
const COLON: u16 = 128;
const ZERO: u16 = 256;
const DOUBLE_COLON: u16 = 512;
const LETTER: u16 = 1024;
const PERCENT: u16 = 2048;
const AMPERSAND: u16 = 4096;
const EQUALS: u16 = 8192;
const NEWLINE: u16 = 16384;
const BRACKET: u16 = 32768;

/// The byte classes a detector needs, for every byte value.
const CLASS: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = if c == b'@' {
            AT
        } else if c == b'0' {
            DIGIT | ZERO
        } else if c.is_ascii_digit() {
            DIGIT
        } else if c == b'.' {
            DOT
        } else if c == b'+' {
            PLUS
        } else if c == b'(' {
            PAREN
        } else if c == b':' {
            COLON
        } else if c == b'%' {
            PERCENT
        } else if c == b'&' {
            AMPERSAND
        } else if c == b'=' {
            EQUALS
        } else if c == b'\n' {
            NEWLINE
        } else if c == b'[' || c == b'{' || c == b'<' {
            BRACKET
        } else if c >= 0x80 {
            NON_ASCII
        } else if c.is_ascii_alphabetic() {
            LETTER
        } else {
            0
        };
        i += 1;
    }
    t
};

/// Which classes of byte a string contains, and how many colons.
struct Shape {
    classes: u16,
    colons: usize,
    digits: usize,
}

impl Shape {
    fn of(b: &[u8]) -> Shape {
        // One table lookup per byte; the rarer questions only when they can matter.
        let mut classes = b.iter().fold(0u16, |acc, &c| acc | CLASS[c as usize]);
        let colons = if classes & COLON != 0 {
            b.iter().filter(|&&c| c == b':').count()
        } else {
            0
        };
        let digits = if classes & DIGIT != 0 {
            b.iter().filter(|c| c.is_ascii_digit()).count()
        } else {
            0
        };
        if classes & ZERO != 0 && b.windows(2).any(|w| w == b"00") {
            classes |= DOUBLE_ZERO;
        }
        if colons >= 2 && b.windows(2).any(|w| w == b"::") {
            classes |= DOUBLE_COLON;
        }
        Shape {
            classes,
            colons,
            digits,
        }
    }

    fn has(&self, any_of: u16) -> bool {
        self.classes & any_of != 0
    }
}

fn is_local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

fn is_domain_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'.'
}

fn emails(text: &str, hits: &mut Vec<TextHit>) {
    let b = text.as_bytes();
    for at in memchr::memchr_iter(b'@', b) {
        let mut s = at;
        while s > 0 && is_local_char(b[s - 1]) {
            s -= 1;
        }
        let mut e = at + 1;
        while e < b.len() && is_domain_char(b[e]) {
            e += 1;
        }
        // trailing dots / dashes are punctuation, not domain
        while e > at + 1 && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        if s == at || e <= at + 1 {
            continue;
        }
        let domain = &text[at + 1..e];
        let Some((_, tld)) = domain.rsplit_once('.') else {
            continue;
        };
        if tld.len() < 2 || !tld.bytes().all(|c| c.is_ascii_alphabetic()) || domain.starts_with('.')
        {
            continue;
        }
        hits.push(TextHit {
            kind: TextHitKind::Email,
            value: text[s..e].to_ascii_lowercase(),
        });
    }
}

fn is_phone_sep(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{a0}' | '-' | '.' | '/' | '(' | ')' | '\u{2010}'..='\u{2015}' | '\u{3000}'
    )
}

fn phones(text: &str, hits: &mut Vec<TextHit>) {
    // Every notation detected starts with `+`, `00` or `(`, or uses non-ASCII digits
    // (the caller checks for those before calling).
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (_, c) = chars[i];
        let prev = if i > 0 { Some(chars[i - 1].1) } else { None };
        let boundary =
            prev.is_none_or(|p| !p.is_alphanumeric() && p != '+' && p != '-' && p != '.');
        let starts_plus = (c == '+' || c == '＋') && boundary;
        // `00` inside a longer run of digit groups (an IBAN's or an account number's
        // `… 0040 0440 …`) is not an international prefix.
        let inside_digits = chars[..i]
            .iter()
            .rev()
            .find(|(_, p)| !matches!(p, ' ' | '\u{a0}'))
            .is_some_and(|(_, p)| geo::unicode_digit(*p).is_some());
        let starts_00 = boundary
            && !inside_digits
            && geo::unicode_digit(c) == Some('0')
            && chars.get(i + 1).and_then(|x| geo::unicode_digit(x.1)) == Some('0')
            && chars
                .get(i + 2)
                .and_then(|x| geo::unicode_digit(x.1))
                .is_some_and(|d| d != '0');
        let starts_nanp = c == '(' && boundary && nanp_at(&chars, i);
        if !(starts_plus || starts_00 || starts_nanp) {
            i += 1;
            continue;
        }
        // Collect the run: the lead, then digits and single separators.
        let start = i;
        let mut j = i + 1;
        let mut digits = usize::from(geo::unicode_digit(c).is_some());
        let mut last_digit_end = if digits > 0 { j } else { start };
        let mut seps_in_row = 0;
        while j < chars.len() && j - start < 32 {
            let ch = chars[j].1;
            if geo::unicode_digit(ch).is_some() {
                digits += 1;
                seps_in_row = 0;
                last_digit_end = j + 1;
            } else if is_phone_sep(ch) && seps_in_row < 2 {
                seps_in_row += 1;
            } else {
                break;
            }
            j += 1;
        }
        // A phone number does not run straight into letters or more digits.
        let next = chars.get(last_digit_end).map(|x| x.1);
        let glued = next.is_some_and(|n| n.is_alphanumeric() && geo::unicode_digit(n).is_none());
        let from = chars[start].0;
        let to = chars.get(last_digit_end).map(|x| x.0).unwrap_or(text.len());
        // `00` and a calling code in one unbroken run of digits is as often an order
        // number or the rest of an IBAN: a phone only after a word saying so.
        let unbroken_00 = starts_00 && text[from..to].bytes().all(|c| c.is_ascii_digit());
        if (7..=15).contains(&digits)
            && !glued
            && (!unbroken_00 || a_phone_word_before(&text[..from]))
        {
            let raw = &text[from..to];
            let country = if starts_nanp {
                crate::country::Country::from_alpha2("US")
                    .and_then(|us| geo::phone_country(raw, Some(us)))
            } else {
                geo::phone_country(raw, None)
            };
            if country.is_some()
                && let Some(norm) = geo::normalise_phone(raw)
            {
                let norm = if starts_nanp && !norm.starts_with('+') {
                    format!("+1{norm}")
                } else {
                    norm
                };
                hits.push(TextHit {
                    kind: TextHitKind::Phone,
                    value: norm,
                });
            }
            i = last_digit_end.max(i + 1);
        } else {
            i += 1;
        }
    }
}

/// Words that, shortly before a number, say it is a phone number (in the languages of
/// the built-in groups and English).
const PHONE_WORDS: &[&str] = &[
    "phone",
    "tel",
    "telephone",
    "mobile",
    "cell",
    "call",
    "ring",
    "text",
    "sms",
    "whatsapp",
    "signal",
    "fax",
    "number",
    "contact",
    "reach",
    "dial",
    "telefon",
    "telefoon",
    "handy",
    "nummer",
    "rufnummer",
    "mobil",
    "numero",
    "número",
    "telefono",
    "teléfono",
    "móvil",
    "movil",
    "cellulare",
    "téléphone",
    "portable",
    "numer",
    "komórka",
    "telemóvel",
    "telefonszám",
    "puhelin",
    "matkapuhelin",
    "τηλέφωνο",
    "κινητό",
];

fn a_phone_word_before(before: &str) -> bool {
    let mut from = before.len().saturating_sub(40);
    while !before.is_char_boundary(from) {
        from += 1;
    }
    before[from..]
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .any(|w| PHONE_WORDS.iter().any(|p| w.to_lowercase() == *p))
}

/// `(212) 555-0147` or `(212)555-0147`: a North American number written the North
/// American way.
fn nanp_at(chars: &[(usize, char)], i: usize) -> bool {
    nanp_pattern(chars, i, "(ddd) ddd-dddd") || nanp_pattern(chars, i, "(ddd)ddd-dddd")
}

fn nanp_pattern(chars: &[(usize, char)], i: usize, pat: &str) -> bool {
    let mut k = i;
    for p in pat.chars() {
        let Some((_, c)) = chars.get(k) else {
            return false;
        };
        let ok = match p {
            'd' => c.is_ascii_digit(),
            ' ' => *c == ' ' || *c == '\u{a0}',
            other => *c == other,
        };
        if !ok {
            return false;
        }
        k += 1;
    }
    chars.get(k).is_none_or(|(_, c)| !c.is_alphanumeric())
}

/// National numbers where the text names their country shortly before: "my Japanese
/// number is 090-1234-5678", "US: 415-555-0132", "UK mobile 07700 900123". The country
/// is a name or nationality word (any language the country table holds) or a code in
/// capitals, within 40 bytes before the number; the number must be valid in that
/// country's numbering plan (not merely of plausible length).
fn national_phones(text: &str, hits: &mut Vec<TextHit>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // to the next digit or parenthesis: most bytes of prose are neither
        match b[i..].iter().position(|c| c.is_ascii_digit() || *c == b'(') {
            Some(k) => i += k,
            None => break,
        }
        let boundary = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b"+-.".contains(&b[i - 1]));
        if !boundary {
            i += 1;
            continue;
        }
        // The run: digits and single phone separators.
        let mut j = i;
        let mut digits = 0;
        let mut end = i;
        while j < b.len() && j - i < 24 {
            if b[j].is_ascii_digit() {
                digits += 1;
                end = j + 1;
            } else if !(b" -./()".contains(&b[j]) && j > i && b[j - 1] != b[j]) && b[j] != b'(' {
                break;
            }
            j += 1;
        }
        let glued = b.get(end).is_some_and(|c| c.is_ascii_alphanumeric());
        if (7..=15).contains(&digits)
            && !glued
            && b[i..end].iter().any(|c| !c.is_ascii_digit() || digits >= 9)
        {
            let raw = &text[i..end];
            let found = countries_named_before(&text[..i])
                .into_iter()
                .find_map(|c| geo::valid_national_phone(raw, c));
            if let Some(e164) = found {
                hits.push(TextHit {
                    kind: TextHitKind::Phone,
                    value: e164,
                });
            }
            i = end.max(i + 1);
        } else {
            i = j.max(i + 1);
        }
    }
}

/// The countries that the words shortly before a position name, nearest first: a name
/// or nationality (`Japanese`, `Germany`, `United States`), or a code in capitals
/// (`US`, `DEU`); two-letter words in small letters (`at`, `is`) are words.
fn countries_named_before(before: &str) -> Vec<crate::country::Country> {
    use crate::country::{Country, NameKey};
    let mut from = before.len().saturating_sub(40);
    while !before.is_char_boundary(from) {
        from += 1;
    }
    let window = &before[from..];
    if window.is_ascii() {
        return ascii_countries_named(window);
    }
    // At most 20 words fit in 40 bytes: on the stack.
    let mut words = [""; 20];
    let mut n = 0;
    for w in window.split(|c: char| !c.is_alphabetic()) {
        if !w.is_empty() && n < words.len() {
            words[n] = w;
            n += 1;
        }
    }
    let words = &words[..n];
    let mut out = Vec::new();
    for (k, w) in words.iter().enumerate().rev() {
        let code_like = w.len() <= 3;
        if code_like && !w.bytes().all(|c| c.is_ascii_uppercase()) {
            continue;
        }
        // two words first (`United States`)
        let pair = (k > 0)
            .then(|| Country::from_name_words(&[words[k - 1], w]))
            .flatten();
        let found = pair.or_else(|| {
            if code_like {
                Country::parse_loose(w)
            } else {
                match NameKey::EMPTY.then(w) {
                    Some(key) => Country::from_name_key(key, &[w]),
                    None => Country::from_name_words(&[w]),
                }
            }
        });
        if let Some(c) = found
            && !out.contains(&c)
        {
            out.push(c);
        }
    }
    out
}

/// [`countries_named_before`] for an ASCII window: its words found, and each hashed
/// alone and after the word before it, in one pass over the bytes.
fn ascii_countries_named(window: &str) -> Vec<crate::country::Country> {
    use crate::country::{Country, NameKey};
    let b = window.as_bytes();
    // (start, end, the word's key, the key of the word before and this one)
    let mut words = [(0usize, 0usize, NameKey::EMPTY, NameKey::EMPTY); 20];
    let mut n = 0;
    let mut i = 0;
    while i < b.len() && n < words.len() {
        if !b[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let start = i;
        let mut alone = NameKey::EMPTY;
        let mut pair = if n > 0 {
            words[n - 1].2
        } else {
            NameKey::EMPTY
        };
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_alphabetic()) {
            let lower = c | 0x20;
            alone = alone.push_lower(lower);
            pair = pair.push_lower(lower);
            i += 1;
        }
        words[n] = (start, i, alone, pair);
        n += 1;
    }
    let mut out = Vec::new();
    for k in (0..n).rev() {
        let (start, end, alone, pair) = words[k];
        let w = &window[start..end];
        let code_like = w.len() <= 3;
        if code_like && !w.bytes().all(|c| c.is_ascii_uppercase()) {
            continue;
        }
        let found = (k > 0)
            .then(|| {
                let (s0, e0, ..) = words[k - 1];
                Country::from_name_key(pair, &[&window[s0..e0], w])
            })
            .flatten()
            .or_else(|| {
                if code_like {
                    Country::parse_loose(w)
                } else {
                    Country::from_name_key(alone, &[w])
                }
            });
        if let Some(c) = found
            && !out.contains(&c)
        {
            out.push(c);
        }
    }
    out
}

fn ipv4s(text: &str, hits: &mut Vec<TextHit>) {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit()
            || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
            j += 1;
        }
        let mut tok = &text[i..j];
        // sentence punctuation
        while tok.ends_with('.') {
            tok = &tok[..tok.len() - 1];
        }
        let dots = tok.bytes().filter(|c| *c == b'.').count();
        let versionish = i > 0 && matches!(b[i - 1], b'v' | b'V');
        let glued = j < b.len() && b[j].is_ascii_alphabetic();
        if dots == 3
            && !versionish
            && !glued
            && let Ok(ip) = tok.parse::<std::net::Ipv4Addr>()
            && geo::is_public(IpAddr::V4(ip))
            && !a_version_by_its_words(&text[..i], ip)
        {
            hits.push(TextHit {
                kind: TextHitKind::Ip,
                value: ip.to_string(),
            });
        }
        i = j.max(i + 1);
    }
}

/// Words that, shortly before a dotted quad, say it is a version (`deployed 5.4.0.1`,
/// `<version>5.4.0.1</version>`, `build 38.4.1.0`).
const VERSION_WORDS: &[&str] = &[
    "version",
    "ver",
    "release",
    "released",
    "build",
    "deploy",
    "deployed",
    "deploying",
    "upgrade",
    "upgraded",
    "upgrading",
    "update",
    "updated",
    "firmware",
    "sdk",
    "patch",
    "rolled",
    "rollout",
    "tag",
    "tagged",
    "image",
    "package",
    "bump",
    "bumped",
];

/// A dotted quad is a version, not an address, when a version word is one of the three
/// words before it and every part is below 100 (versions count up slowly; addresses
/// take any octet): `deployed 5.4.0.1 to eu-west-1`. An address with an octet of 100 or
/// more is read whatever the words say.
fn a_version_by_its_words(before: &str, ip: std::net::Ipv4Addr) -> bool {
    if ip.octets().iter().any(|o| *o >= 100) {
        return false;
    }
    let mut from = before.len().saturating_sub(40);
    while !before.is_char_boundary(from) {
        from += 1;
    }
    before[from..]
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
        .rev()
        .take(3)
        .any(|w| VERSION_WORDS.iter().any(|v| w.eq_ignore_ascii_case(v)))
}

fn ipv6s(text: &str, hits: &mut Vec<TextHit>) {
    for tok in text.split(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.')) {
        let tok = tok.trim_matches('.');
        if tok.bytes().filter(|c| *c == b':').count() < 2 || tok.len() < 3 {
            continue;
        }
        if let Ok(ip) = tok.parse::<std::net::Ipv6Addr>() {
            let ip = geo::canonical_ip(IpAddr::V6(ip));
            if geo::is_public(ip) {
                hits.push(TextHit {
                    kind: TextHitKind::Ip,
                    value: ip.to_string(),
                });
            }
        }
    }
}

/// Percent-decoding (`+` stays `+`), lossy for invalid UTF-8.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// `k=v&k2=v2` with only the characters form encoding produces.
pub fn looks_like_form(body: &[u8]) -> bool {
    body.contains(&b'=')
        && body
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"%+=&-._*~;".contains(b))
        && body
            .split(|b| *b == b'&')
            .all(|pair| !pair.is_empty() && pair.contains(&b'='))
}

#[cfg(test)]
mod tests {
    #[test]
    fn full_width_and_bracketed_addresses_are_addresses() {
        for text in [
            "mail ｌｕｋａｓ＠ｅｘａｍｐｌｅ．ｏｒｇ please",
            "lukas [at] example [dot] org",
            "lukas(AT)example(DOT)org",
            "lukas { at } example < dot > org",
        ] {
            let hits = scan(text);
            assert!(
                hits.iter()
                    .any(|h| h.kind == TextHitKind::Email && h.value == "lukas@example.org"),
                "{text}: {hits:?}"
            );
        }
        // Brackets that hold no `at` or `dot` say nothing.
        assert_eq!(deobfuscated("call (212) 555-0147 [ext] <b>"), None);
        assert!(scan("meet at the cafe (downtown)").is_empty());
    }

    use super::*;

    fn kinds(s: &str) -> Vec<(TextHitKind, String)> {
        scan(s).into_iter().map(|h| (h.kind, h.value)).collect()
    }

    #[test]
    fn an_unbroken_run_with_00_is_a_phone_only_after_a_phone_word() {
        for t in ["order 0034567890124 shipped", "ref 004915112345678"] {
            assert_eq!(kinds(t), vec![], "{t}");
        }
        for t in [
            "call me on 004915112345678",
            "meine Nummer: 004915112345678",
            "0049 151 12345678",
            "+4915112345678",
        ] {
            assert!(
                kinds(t).iter().any(|(k, _)| *k == TextHitKind::Phone),
                "{t}: {:?}",
                kinds(t)
            );
        }
    }

    #[test]
    fn version_numbers_in_prose_are_not_addresses() {
        for t in [
            "deployed 5.4.0.1 to eu-west-1",
            "<version>5.4.0.1</version>",
            "upgraded the SDK to 38.4.1.0 today",
            "Release: 81.2.6.14",
        ] {
            assert_eq!(kinds(t), vec![], "{t}");
        }
        // public addresses in prose still are, and an octet of 100 or more is no version
        for t in [
            "login from 5.4.0.1 failed",
            "deployed from 81.2.69.142",
            "version 85.214.132.117",
        ] {
            assert!(
                kinds(t).iter().any(|(k, _)| *k == TextHitKind::Ip),
                "{t}: {:?}",
                kinds(t)
            );
        }
    }

    #[test]
    fn a_whole_timestamp_hides_nothing() {
        for t in [
            "2026-11-20T21:14:03Z",
            "2026-11-20 21:14:03",
            "2026-11-20T21:14:03.123456+01:00",
            "2026-11-20T21:14:03-0500",
        ] {
            assert!(is_timestamp(t.as_bytes()), "{t}");
        }
        for t in [
            "2026-11-20T21:14:03Z +49 30 1234567",
            "2026-11-20T21:14:03+49 30 1234567",
            "2026-11-20T21:14:03.+0100",
            "2026-11-20",
            "+49 30 12345678901",
        ] {
            assert!(!is_timestamp(t.as_bytes()), "{t}");
        }
        assert!(!kinds("2026-11-20T21:14:03Z DE89 3704 0044 0532 0130 00").is_empty());
    }

    #[test]
    fn finds_the_chat_message_facts() {
        let s = "complainant Amelia Hart (amelia.hart@example.org, +44 20 7946 0321) reported a livestream at 21:14. Her IP 81.2.69.142, location London, device iPhone14,2.";
        let k = kinds(s);
        assert!(
            k.contains(&(TextHitKind::Email, "amelia.hart@example.org".into())),
            "{k:?}"
        );
        assert!(
            k.contains(&(TextHitKind::Phone, "+442079460321".into())),
            "{k:?}"
        );
        assert!(
            k.contains(&(TextHitKind::Ip, "81.2.69.142".into())),
            "{k:?}"
        );
        assert_eq!(k.len(), 3, "{k:?}");
    }

    #[test]
    fn notations() {
        assert_eq!(kinds("call 0044 20 7946 0321 now")[0].1, "+442079460321");
        assert_eq!(
            kinds("called from (212) 555-0147, account")[0].1,
            "+12125550147"
        );
        assert_eq!(
            kinds("tel ＋４４ ２０ ７９４６ ０３２１")[0].1,
            "+442079460321"
        );
        assert_eq!(
            kinds("v6 2a00:1450:4001:80b::200e here")[0],
            (TextHitKind::Ip, "2a00:1450:4001:80b::200e".into())
        );
        assert_eq!(
            kinds("mapped ::ffff:8.8.4.4.")[0],
            (TextHitKind::Ip, "8.8.4.4".into())
        );
    }

    #[test]
    fn every_written_form_of_an_ipv6_address_is_found() {
        for (text, want) in [
            (
                "at 2a00:1450:4001:80b:0:0:0:200e now",
                "2a00:1450:4001:80b::200e",
            ),
            (
                "at 2a00:1450:4001:80b::200e now",
                "2a00:1450:4001:80b::200e",
            ),
            (
                "at 2a00:1450:4001:80b:0:0:8.8.8.8 now",
                "2a00:1450:4001:80b::808:808",
            ),
            ("at ::ffff:81.2.69.142 now", "81.2.69.142"),
        ] {
            let k = kinds(text);
            assert!(
                k.contains(&(TextHitKind::Ip, want.to_string())),
                "{text}: {k:?}"
            );
        }
        assert!(kinds("created 2026-11-20T21:14:03Z, 10:30:00-10:45:00").is_empty());
    }

    #[test]
    fn controls_are_not_personal() {
        for s in [
            "order-4415-2290-1187",
            "version 10.2.3.4 of v1.2.3.4",
            "build 38.4.1",
            "at 21:14:03 on 2026-11-20",
            "internal host 10.0.0.7 and 192.168.1.1",
            "ratio 3.14159 and 1.2.3",
            "a@b",
            "SKU 4415229011870001",
        ] {
            assert!(kinds(s).is_empty(), "{s}: {:?}", kinds(s));
        }
        // The rest of an IBAN is not a Romanian phone number: the whole is an IBAN.
        let iban = super::super::signals::ids::IdKind::Iban;
        assert_eq!(
            kinds("IBAN DK50 0040 0440 1162 43 on file"),
            [(TextHitKind::Id(iban), "DK50 0040 0440 1162 43".to_string())]
        );
    }
}
