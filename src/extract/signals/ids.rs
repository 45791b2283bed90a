//! Identity documents and account numbers whose format has a check digit: personal data
//! wherever they appear, and (all but payment cards) a signal of the country whose
//! format they are. Each reader checks the whole format and its check digit, so a
//! random string of the right length passes one time in 10 to 97, and the readers that
//! are digits only are taken from free text only where their national grouping
//! (`123-45-6789`) or a naming word (`PESEL`) says what they are.
//!
//! | kind | country | check | in free text |
//! | --- | --- | --- | --- |
//! | IBAN | its prefix | the country's BBAN shape and length, mod 97 | anywhere |
//! | payment card | none (personal only) | issuer prefix, length 13–19, Luhn | 13–19 digits, whole or in groups |
//! | UK National Insurance number | GB | prefix letters, 6 digits, suffix A–D | anywhere |
//! | UK NHS number | GB | mod 11 | `ddd ddd dddd` / `ddd-ddd-dddd`, or near "NHS" |
//! | US Social Security number | US | area, group and serial ranges | `ddd-dd-dddd` / `ddd dd dddd`, or near "SSN" |
//! | Spanish DNI/NIF, NIE | ES | check letter (mod 23) | anywhere |
//! | Italian codice fiscale | IT | check letter | anywhere |
//! | Polish PESEL | PL | weights 1-3-7-9, birth date | near "PESEL" |
//! | Finnish henkilötunnus | FI | check character (mod 31), date | anywhere |
//! | Swedish personnummer | SE | Luhn, date | with its `-`/`+`, or near "personnummer" |

use crate::country::Country;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    Iban,
    Card,
    UkNino,
    UkNhs,
    UsSsn,
    EsNif,
    EsNie,
    ItFiscalCode,
    PlPesel,
    FiPersonalCode,
    SePersonnummer,
}

impl IdKind {
    pub const ALL: &[IdKind] = &[
        IdKind::Iban,
        IdKind::Card,
        IdKind::UkNino,
        IdKind::UkNhs,
        IdKind::UsSsn,
        IdKind::EsNif,
        IdKind::EsNie,
        IdKind::ItFiscalCode,
        IdKind::PlPesel,
        IdKind::FiPersonalCode,
        IdKind::SePersonnummer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::Iban => "iban",
            IdKind::Card => "card",
            IdKind::UkNino => "uk_nino",
            IdKind::UkNhs => "uk_nhs",
            IdKind::UsSsn => "us_ssn",
            IdKind::EsNif => "es_nif",
            IdKind::EsNie => "es_nie",
            IdKind::ItFiscalCode => "it_fiscal_code",
            IdKind::PlPesel => "pl_pesel",
            IdKind::FiPersonalCode => "fi_personal_identity_code",
            IdKind::SePersonnummer => "se_personnummer",
        }
    }

    /// The country whose format this is (`None` for payment cards, issued everywhere).
    fn country(self) -> Option<&'static str> {
        match self {
            IdKind::Iban | IdKind::Card => None,
            IdKind::UkNino | IdKind::UkNhs => Some("GB"),
            IdKind::UsSsn => Some("US"),
            IdKind::EsNif | IdKind::EsNie => Some("ES"),
            IdKind::ItFiscalCode => Some("IT"),
            IdKind::PlPesel => Some("PL"),
            IdKind::FiPersonalCode => Some("FI"),
            IdKind::SePersonnummer => Some("SE"),
        }
    }

    /// Digits only: read from free text only in the national grouping or near a
    /// naming word, as a stray number of the right length often passes the check.
    fn needs_context(self) -> bool {
        matches!(
            self,
            IdKind::UkNhs | IdKind::UsSsn | IdKind::PlPesel | IdKind::SePersonnummer
        )
    }

    /// Words that, before a bare number, say which kind it is.
    fn naming_words(self) -> &'static [&'static str] {
        match self {
            IdKind::UkNhs => &["nhs"],
            IdKind::UsSsn => &["ssn", "social security", "ss#", "ss #"],
            IdKind::PlPesel => &["pesel"],
            IdKind::SePersonnummer => &["personnummer", "personnr", "personal identity number"],
            _ => &[],
        }
    }
}

/// One identifier: its kind, and the country its format names (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id {
    pub kind: IdKind,
    pub country: Option<Country>,
}

fn id(kind: IdKind, country: Option<Country>) -> Id {
    Id { kind, country }
}

/// The identifier a whole field value is, if it is one (a field named for it, such as
/// `iban` or `ssn`, may hold the bare form).
pub fn read(value: &str) -> Option<Id> {
    let mut buf = [0; COMPACT_MAX];
    let compact = compact(value, &mut buf)?;
    classify(compact, value, true)
}

/// Every identifier in free text.
pub fn scan(text: &str) -> Vec<(Id, std::ops::Range<usize>)> {
    let (digits, letters) = text.bytes().fold((0, 0), |(d, l), b| {
        (
            d + usize::from(b.is_ascii_digit()),
            l + usize::from(b.is_ascii_alphabetic()),
        )
    });
    scan_counted(text, digits, letters > 0)
}

/// As [`scan`], told how many ASCII digits `text` holds and whether it holds an ASCII
/// letter (the text reader has counted them).
pub fn scan_counted(text: &str, digits: usize, letters: bool) -> Vec<(Id, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    // Every identifier has six digits or more, and one of digits alone has nine or more
    // (see [`plausible`]): dates and counters are not tokenised.
    if digits < 6 || (!letters && digits < 9) {
        return out;
    }
    // A short text's tokens on the stack; a long one's on the heap.
    let mut small = [Token::default(); 64];
    let n = tokens_into(text, &mut small);
    if n <= small.len() {
        scan_tokens(text, &small[..n], &mut out);
    } else {
        let mut large = vec![Token::default(); n];
        tokens_into(text, &mut large);
        scan_tokens(text, &large, &mut out);
    }
    out
}

/// A run of ASCII letters and digits in the text, and how many digits it holds.
#[derive(Debug, Clone, Copy, Default)]
struct Token {
    start: usize,
    end: usize,
    digits: usize,
}

impl Token {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

fn scan_tokens(text: &str, tokens: &[Token], out: &mut Vec<(Id, std::ops::Range<usize>)>) {
    let lower_text = std::cell::OnceCell::new();
    let mut buf = [0; COMPACT_MAX];
    let mut i = 0;
    while i < tokens.len() {
        // A run of joined tokens with fewer than six digits holds no identifier: skip it.
        let mut run_end = i + 1;
        let mut run_digits = tokens[i].digits;
        while run_end < tokens.len()
            && joinable(text, tokens[run_end - 1].end, tokens[run_end].start)
        {
            run_digits += tokens[run_end].digits;
            run_end += 1;
        }
        if run_digits < 6 {
            i = run_end;
            continue;
        }
        let mut best = None;
        // Longest first: an IBAN's groups, a card's four groups, then shorter spans.
        let mut j = i;
        let mut len = 0;
        while j < run_end {
            len += tokens[j].len();
            if len > 34 {
                break;
            }
            j += 1;
        }
        let mut digits: usize = tokens[i..j].iter().map(|t| t.digits).sum();
        let mut alnum: usize = tokens[i..j].iter().map(Token::len).sum();
        for end in (i + 1..=j).rev() {
            if end < j {
                digits -= tokens[end].digits;
                alnum -= tokens[end].len();
            }
            // Every identifier has at least six digits among at least eight characters
            // (a National Insurance number), and a length and letters some format has.
            if digits < 6 || alnum < 8 || !plausible_shape(alnum, digits) {
                continue;
            }
            let span = tokens[i].start..tokens[end - 1].end;
            let raw = &text[span.clone()];
            let Some(compact) = compact(raw, &mut buf).filter(|c| plausible(c, digits)) else {
                continue;
            };
            // (only digits-only kinds are taken on a naming word's say-so)
            let digits_only = digits == compact.len();
            let found = classify(compact, raw, false).or_else(|| {
                digits_only.then_some(())?;
                with_context(compact, raw, || {
                    &lower_text.get_or_init(|| text.to_ascii_lowercase())[..span.start]
                })
            });
            // A National Insurance number without its suffix letter, followed by one
            // more character (`AB 12 34 56 H`): a wrong suffix, no number.
            let cut_short = |f: &Id| {
                f.kind == IdKind::UkNino
                    && compact.len() == 8
                    && tokens.get(end).is_some_and(|t| {
                        t.len() == 1 && joinable(text, tokens[end - 1].end, t.start)
                    })
            };
            if let Some(found) = found.filter(|f| !cut_short(f)) {
                best = Some((found, span, end));
                break;
            }
        }
        match best {
            Some((found, span, end)) => {
                out.push((found, span));
                i = end;
            }
            None => i += 1,
        }
    }
}

/// A bare digits-only identifier, taken from text when a naming word comes shortly
/// before it ("PESEL: 44051401359").
fn with_context<'t>(compact: &str, raw: &str, before: impl FnOnce() -> &'t str) -> Option<Id> {
    let found = classify(compact, raw, true)?;
    if !found.kind.needs_context() {
        return None;
    }
    let before = before();
    // (40 bytes back, moved forward to a character's start: the text may be any UTF-8)
    let mut from = before.len().saturating_sub(40);
    while !before.is_char_boundary(from) {
        from += 1;
    }
    let window = &before[from..];
    found
        .kind
        .naming_words()
        .iter()
        .any(|w| window.contains(w))
        .then_some(found)
}

/// Runs of ASCII letters and digits, by byte offset, and how many digits each holds,
/// written into `into` as far as it goes; returns how many there are. A word of five
/// letters or more is no part of any identifier (an IBAN's letter groups have four, a
/// codice fiscale's letters are one token with its digits): it is left out, so the
/// tokens either side of it are not joinable.
fn tokens_into(text: &str, into: &mut [Token]) -> usize {
    // 1: an ASCII letter, 2: a digit, 0: anything else
    const CLASS: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut i = 0;
        while i < 256 {
            let c = i as u8;
            t[i] = if c.is_ascii_alphabetic() {
                1
            } else if c.is_ascii_digit() {
                2
            } else {
                0
            };
            i += 1;
        }
        t
    };
    let b = text.as_bytes();
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        if CLASS[b[i] as usize] == 0 {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits = 0;
        while let Some(&c) = b.get(i) {
            let class = CLASS[c as usize];
            if class == 0 {
                break;
            }
            digits += usize::from(class == 2);
            i += 1;
        }
        // A token glued to other letters (`é`, `ß`) is part of a word.
        let glued = |at: Option<&u8>| at.is_some_and(|c| *c >= 0x80);
        let glued_before = start > 0 && glued(b.get(start - 1));
        let word = digits == 0 && i - start >= 5;
        if !(glued(b.get(i)) || glued_before || word) {
            if let Some(t) = into.get_mut(n) {
                *t = Token {
                    start,
                    end: i,
                    digits,
                };
            }
            n += 1;
        }
    }
    n
}

/// Whether two tokens may be parts of one identifier: one space, dash or dot between.
fn joinable(text: &str, end: usize, start: usize) -> bool {
    start == end + 1 && matches!(text.as_bytes()[end], b' ' | b'-' | b'.')
}

const COMPACT_MAX: usize = 48;

/// Letters and digits, upper case, written into `buf`; `None` if the value holds
/// anything but those and single spaces, dashes, `+` (a Swedish century sign) or dots.
fn compact<'b>(value: &str, buf: &'b mut [u8; COMPACT_MAX]) -> Option<&'b str> {
    let v = crate::trim(value);
    if v.len() > COMPACT_MAX || v.is_empty() {
        return None;
    }
    let mut n = 0;
    for b in v.bytes() {
        match b {
            b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => {
                buf[n] = b.to_ascii_uppercase();
                n += 1;
            }
            b' ' | b'-' | b'.' | b'+' => {}
            _ => return None,
        }
    }
    std::str::from_utf8(&buf[..n])
        .ok()
        .filter(|c| !c.is_empty())
}

/// Whether a span of `alnum` letters and digits, `digits` of them digits, has the
/// length and letters of some identifier (as [`plausible`], before compacting it).
fn plausible_shape(alnum: usize, digits: usize) -> bool {
    let letters = alnum - digits;
    (letters == 0 && (9..=19).contains(&alnum))
        // NINO, DNI/NIF, NIE
        || ((8..=9).contains(&alnum) && (1..=3).contains(&letters))
        // henkilötunnus: nine digits, a check character and maybe a century letter
        || ((10..=11).contains(&alnum) && (1..=2).contains(&letters))
        || alnum == 16
        || (alnum >= 15 && letters >= 2)
}

/// Whether a compacted span with `digits` digits has the length and letters of some
/// identifier [`classify`] knows ([`plausible_shape`]), an IBAN's two letters and two
/// digits leading when it is that long and lettered. Spans of prose are not tried.
fn plausible(compact: &str, digits: usize) -> bool {
    let c = compact.as_bytes();
    let letters = c.len() - digits;
    let iban_like = c.len() >= 15
        && c[..2].iter().all(u8::is_ascii_alphabetic)
        && c[2..4].iter().all(u8::is_ascii_digit);
    plausible_shape(c.len(), digits) && (c.len() < 15 || letters < 2 || c.len() == 16 || iban_like)
}

/// Which identifier `compact` is. `bare`: a field's value, where a digits-only format
/// needs no grouping; in text, `raw` must show the grouping.
fn classify(compact: &str, raw: &str, bare: bool) -> Option<Id> {
    let c = compact.as_bytes();
    let digits = c.iter().all(u8::is_ascii_digit);
    let country = |k: IdKind| k.country().and_then(Country::from_alpha2);
    if c.len() >= 15
        && c[0].is_ascii_alphabetic()
        && c[1].is_ascii_alphabetic()
        && iban_written(raw)
        && let Some(cc) = iban(compact)
    {
        return Some(id(IdKind::Iban, Country::from_alpha2(cc)));
    }
    if digits {
        if (13..=19).contains(&c.len()) && card(c) && (bare || card_grouping(raw)) {
            return Some(id(IdKind::Card, None));
        }
        let found = match c.len() {
            9 if ssn(c) && (bare || grouped(raw, &[3, 2, 4])) => Some(IdKind::UsSsn),
            // (a 12-digit personnummer carries its century: no grouping needed)
            12 if personnummer(c, raw) => Some(IdKind::SePersonnummer),
            10 if nhs(c) && (bare || grouped(raw, &[3, 3, 4])) => Some(IdKind::UkNhs),
            10 if personnummer(c, raw) && (bare || raw.contains(['-', '+'])) => {
                Some(IdKind::SePersonnummer)
            }
            11 if pesel(c) && bare => Some(IdKind::PlPesel),
            _ => None,
        };
        return found.map(|k| id(k, country(k)));
    }
    let found = match c.len() {
        8 | 9 if nino(c) && (bare || nino_grouping(raw)) => Some(IdKind::UkNino),
        // (an old DNI has seven digits: the number is the same with a leading zero)
        8 if c[..7].iter().all(u8::is_ascii_digit) && nif(format!("0{compact}").as_bytes()) => {
            Some(IdKind::EsNif)
        }
        9 if nif(c) => Some(IdKind::EsNif),
        9 if nie(c) => Some(IdKind::EsNie),
        10 | 11 if hetu(raw) => Some(IdKind::FiPersonalCode),
        16 if fiscal_code(c) => Some(IdKind::ItFiscalCode),
        _ => None,
    };
    found.map(|k| id(k, country(k)))
}

/// The country of a valid IBAN: its BBAN has the shape the country's registry entry
/// gives (`src/tables/iban.rs`, from Presidio) and the whole number is 1 mod 97.
fn iban(c: &str) -> Option<&'static str> {
    let b = c.as_bytes();
    if !b[2].is_ascii_digit() || !b[3].is_ascii_digit() {
        return None;
    }
    let tables = crate::tables::iban::BBAN;
    let at = tables
        .binary_search_by(|(cc, _)| cc.as_bytes().cmp(&b[..2]))
        .ok()?;
    let (cc, shape) = tables[at];
    if shape.len() != b.len() - 4 {
        return None;
    }
    let fits = shape.bytes().zip(&b[4..]).all(|(s, x)| match s {
        b'n' => x.is_ascii_digit(),
        b'a' => x.is_ascii_uppercase(),
        _ => x.is_ascii_alphanumeric(),
    });
    if !fits {
        return None;
    }
    // Mod 97 of the number read from the BBAN, then the country and check digits, with
    // letters as 10..35, one digit at a time.
    let mut rem = 0u32;
    for &x in b[4..].iter().chain(&b[..4]) {
        let v = if x.is_ascii_digit() {
            u32::from(x - b'0')
        } else {
            u32::from(x - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    (rem == 1).then_some(cc)
}

fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, x)| {
            let v = u32::from(x - b'0');
            if i % 2 == 1 {
                let w = v * 2;
                if w > 9 { w - 9 } else { w }
            } else {
                v
            }
        })
        .sum();
    sum % 10 == 0
}

/// A payment card: an issuer's prefix (2–6: Mastercard, Amex, Diners, JCB, Visa,
/// Discover, UnionPay, Maestro; 1 with 15 digits: UATP), 13–19 digits, Luhn.
fn card(d: &[u8]) -> bool {
    (matches!(d[0], b'2'..=b'6') || (d[0] == b'1' && d.len() == 15))
        && luhn(d)
        && !d.iter().all(|x| *x == d[0])
}

/// In text a card is written whole or in groups of four (Amex: 4-6-5).
fn card_grouping(raw: &str) -> bool {
    let groups: Vec<usize> = raw.split([' ', '-']).map(str::len).collect();
    groups.len() == 1
        || groups[..groups.len() - 1].iter().all(|g| *g == 4)
        || groups == [4, 6, 5]
        || groups == [4, 6, 4]
}

/// `raw` is the digits in exactly these groups, with one kind of separator.
fn grouped(raw: &str, sizes: &[usize]) -> bool {
    let raw = crate::trim(raw);
    [' ', '-', '.'].iter().any(|sep| {
        let parts: Vec<&str> = raw.split(*sep).collect();
        parts.len() == sizes.len() && parts.iter().zip(sizes).all(|(p, n)| p.len() == *n)
    })
}

/// A day that exists (a two-digit year: 29 February in years divisible by four).
fn real_date(day: u32, month: u32, year: u32) -> bool {
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

fn num(d: &[u8]) -> u32 {
    d.iter().fold(0, |n, x| n * 10 + u32::from(x - b'0'))
}

/// Area 001–899 but 666, group 01–99, serial 0001–9999; not one digit repeated, not
/// the sequence or the numbers printed on sample cards.
fn ssn(d: &[u8]) -> bool {
    let (area, group, serial) = (num(&d[..3]), num(&d[3..5]), num(&d[5..]));
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && !d.iter().all(|x| *x == d[0])
        && d != b"123456789"
        && d != b"078051120"
        && d != b"219099999"
}

/// NHS: the tenth digit is 11 minus the weighted sum (10..2) mod 11; 10 is never valid.
fn nhs(d: &[u8]) -> bool {
    let sum: u32 = d[..9]
        .iter()
        .enumerate()
        .map(|(i, x)| u32::from(x - b'0') * (10 - i as u32))
        .sum();
    let check = 11 - sum % 11;
    let check = if check == 11 { 0 } else { check };
    check != 10 && check == u32::from(d[9] - b'0') && !d.iter().all(|x| *x == d[0])
}

/// PESEL: weights 1,3,7,9 repeated; the month carries the century (+20, +40, ...).
fn pesel(d: &[u8]) -> bool {
    const W: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let sum: u32 = d[..10]
        .iter()
        .zip(W)
        .map(|(x, w)| u32::from(x - b'0') * w)
        .sum();
    let (year, month, day) = (num(&d[..2]), num(&d[2..4]) % 20, num(&d[4..6]));
    (10 - sum % 10) % 10 == u32::from(d[10] - b'0') && real_date(day, month, year)
}

/// Personnummer: YYMMDD-NNNC or YYYYMMDDNNNC; Luhn over the ten digits from YY; a day
/// may be +60 (samordningsnummer).
fn personnummer(d: &[u8], raw: &str) -> bool {
    let ten = if d.len() == 12 {
        if !matches!(&d[..2], b"18" | b"19" | b"20") {
            return false;
        }
        &d[2..]
    } else {
        d
    };
    let (year, month) = (num(&ten[..2]), num(&ten[2..4]));
    let day = num(&ten[4..6]) % 60;
    let sep_ok = {
        let r = crate::trim(raw);
        !r.contains(' ') && r.matches(['-', '+']).count() <= 1
    };
    sep_ok && real_date(day, month, year) && luhn(ten)
}

/// National Insurance number: two prefix letters (not D, F, I, Q, U, V; the second not
/// O; not BG, GB, KN, NK, NT, TN, ZZ), six digits, a suffix A–D (often left off).
fn nino(c: &[u8]) -> bool {
    let shape = c[0].is_ascii_uppercase()
        && c[1].is_ascii_uppercase()
        && c[2..8].iter().all(u8::is_ascii_digit);
    if !shape {
        return false;
    }
    if c.len() == 9 && !matches!(c[8], b'A'..=b'D') {
        return false;
    }
    let bad = |x: u8| b"DFIQUV".contains(&x);
    !bad(c[0])
        && !bad(c[1])
        && c[1] != b'O'
        && !matches!(
            &c[..2],
            b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ"
        )
}

/// How a National Insurance number is written in text: spaces only, the digits whole
/// or in pairs (`AB123456C`, `AB 12 34 56 C`, `AB 123456C`). Lower case only in the two
/// shapes no word makes (one token; the pairs): `on 123456` is no number.
fn nino_grouping(raw: &str) -> bool {
    let r = crate::trim(raw);
    if r.contains(['-', '.', '+']) {
        return false;
    }
    let digits_part = r[2..].trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let groups: Vec<usize> = digits_part.split_whitespace().map(str::len).collect();
    let single = !r.contains(' ');
    let pairs = groups == [2, 2, 2];
    let capitals = !r.bytes().any(|b| b.is_ascii_lowercase());
    single || pairs || (capitals && groups == [6])
}

/// In text an IBAN starts with its country and check digits together (`DE89 …`), and
/// its letters are all capitals or all small (`LV80 bANK …` is no IBAN).
fn iban_written(raw: &str) -> bool {
    let r = crate::trim(raw).as_bytes();
    let lead = r.len() >= 4 && r[..4].iter().all(u8::is_ascii_alphanumeric);
    let upper = r.iter().any(u8::is_ascii_uppercase);
    let lower = r.iter().any(u8::is_ascii_lowercase);
    lead && !(upper && lower)
}

const NIF_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// DNI/NIF: eight digits and the letter of their value mod 23.
fn nif(c: &[u8]) -> bool {
    c[..8].iter().all(u8::is_ascii_digit) && NIF_LETTERS[(num(&c[..8]) % 23) as usize] == c[8]
}

/// NIE: X, Y or Z (0, 1, 2), seven digits, the letter as for a NIF.
fn nie(c: &[u8]) -> bool {
    let lead = match c[0] {
        b'X' => 0,
        b'Y' => 1,
        b'Z' => 2,
        _ => return false,
    };
    c[1..8].iter().all(u8::is_ascii_digit)
        && NIF_LETTERS[((lead * 10_000_000 + num(&c[1..8])) % 23) as usize] == c[8]
}

/// Henkilötunnus: DDMMYY, a century sign (`+`, `-`, `A`–`F`, `U`–`Y`), NNN, and the
/// check character of DDMMYYNNN mod 31.
fn hetu(raw: &str) -> bool {
    const CHECK: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
    let r = crate::trim(raw).as_bytes();
    if r.len() != 11
        || !r[..6].iter().all(u8::is_ascii_digit)
        || !r[7..10].iter().all(u8::is_ascii_digit)
        || !b"+-ABCDEFUVWXYabcdefuvwxy".contains(&r[6])
    {
        return false;
    }
    let (day, month, year) = (num(&r[..2]), num(&r[2..4]), num(&r[4..6]));
    let n = num(&r[..6]) as u64 * 1000 + u64::from(num(&r[7..10]));
    real_date(day, month, year) && CHECK[(n % 31) as usize] == r[10].to_ascii_uppercase()
}

/// Codice fiscale: six letters, the birth year, month letter, day (+40 for women) and
/// place, each digit possibly replaced by a letter (omocodia), then the check letter.
fn fiscal_code(c: &[u8]) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    const OMOCODIA: &[u8] = b"LMNPQRSTUV";
    let digit_or_omocode = |x: u8| x.is_ascii_digit() || OMOCODIA.contains(&x);
    let shape = c[..6].iter().all(u8::is_ascii_uppercase)
        && digit_or_omocode(c[6])
        && digit_or_omocode(c[7])
        && b"ABCDEHLMPRST".contains(&c[8])
        && digit_or_omocode(c[9])
        && digit_or_omocode(c[10])
        && c[11].is_ascii_uppercase()
        && c[12..15].iter().all(|x| digit_or_omocode(*x))
        && c[15].is_ascii_uppercase();
    if !shape {
        return false;
    }
    let value = |x: u8| -> usize {
        if x.is_ascii_digit() {
            (x - b'0') as usize
        } else {
            (x - b'A') as usize
        }
    };
    let sum: u32 = c[..15]
        .iter()
        .enumerate()
        .map(|(i, x)| {
            if i % 2 == 0 {
                ODD[value(*x)]
            } else {
                value(*x) as u32
            }
        })
        .sum();
    c[15] == b'A' + (sum % 26) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(v: &str) -> Option<&'static str> {
        read(v).map(|i| i.kind.as_str())
    }

    #[test]
    fn a_naming_window_that_starts_inside_a_character_is_read() {
        // (found by the inspect fuzzer: 40 bytes back fell inside a three-byte character)
        for pad in 0..4 {
            let text = format!("{}{} PESEL 44051401359", "€".repeat(20), "x".repeat(pad));
            let found = scan_counted(&text, 11, true);
            assert_eq!(found.len(), 1, "{text}");
        }
    }

    #[test]
    fn each_format_and_its_check() {
        for (v, want) in [
            ("DE89 3704 0044 0532 0130 00", "iban"),
            ("de89370400440532013000", "iban"),
            ("GB82 WEST 1234 5698 7654 32", "iban"),
            ("4111 1111 1111 1111", "card"),
            ("378282246310005", "card"),
            ("AB 12 34 56 C", "uk_nino"),
            ("943 476 5919", "uk_nhs"),
            ("536-90-4399", "us_ssn"),
            ("12345678Z", "es_nif"),
            ("X1234567L", "es_nie"),
            ("RSSMRA85T10A562S", "it_fiscal_code"),
            ("44051401359", "pl_pesel"),
            ("131052-308T", "fi_personal_identity_code"),
            ("811218-9876", "se_personnummer"),
        ] {
            assert_eq!(kind(v), Some(want), "{v}");
        }
        for v in [
            "DE89 3704 0044 0532 0130 01",
            "4111 1111 1111 1112",
            "DA 12 34 56 C",
            "943 476 5918",
            "000-12-3456",
            "666-12-3456",
            "12345678A",
            "RSSMRA85T10A562T",
            "44051401358",
            "131052-308U",
            "811218-9875",
        ] {
            assert_eq!(kind(v), None, "{v}");
        }
    }

    #[test]
    fn countries() {
        let c = |v: &str| read(v).and_then(|i| i.country).map(|c| c.to_string());
        assert_eq!(c("DE89370400440532013000").as_deref(), Some("DE"));
        assert_eq!(c("AB123456C").as_deref(), Some("GB"));
        assert_eq!(c("536-90-4399").as_deref(), Some("US"));
        assert_eq!(c("4111111111111111"), None);
    }

    #[test]
    fn free_text_needs_the_grouping_for_bare_digits() {
        let kinds =
            |t: &str| -> Vec<&str> { scan(t).iter().map(|(i, _)| i.kind.as_str()).collect() };
        assert_eq!(kinds("my SSN is 536-90-4399 ok"), ["us_ssn"]);
        assert_eq!(kinds("order 536904399 shipped"), Vec::<&str>::new());
        assert_eq!(kinds("SSN: 536904399"), ["us_ssn"]);
        assert_eq!(kinds("pay to DE89 3704 0044 0532 0130 00 today"), ["iban"]);
        assert_eq!(kinds("PESEL 44051401359"), ["pl_pesel"]);
        assert_eq!(kinds("ticket 44051401359"), Vec::<&str>::new());
        assert_eq!(kinds("card 4111-1111-1111-1111, exp 12/29"), ["card"]);
        assert_eq!(
            kinds("deployed at 2026-12-02T18:35:00Z build 20261202"),
            Vec::<&str>::new()
        );
    }
}
