//! Where a signal points: IP address → country (MaxMind DB via `maxminddb`) and phone
//! number → country (by numbering plan, via `phonenumber`).
//!
//! [`GeoLookup`] is a trait so that tests and later fixtures can supply their own
//! databases; production uses [`MaxMindGeo`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use serde::Deserialize;

use crate::country::Country;

/// Looks up the country an address is registered to.
pub trait GeoLookup: Send + Sync {
    /// The country of a public address; `None` for private, loopback and reserved
    /// addresses (they are not evidence of anything) and for addresses the database
    /// does not know.
    fn country_of(&self, ip: IpAddr) -> Option<Country>;
    /// When the database was built (seconds since the Unix epoch), if known.
    fn build_epoch(&self) -> Option<u64>;
    /// The country of any address the database knows, private ranges included: for
    /// locating destinations (a real database has no entries for private ranges; a test
    /// fixture may place loopback addresses in countries).
    fn country_of_address(&self, ip: IpAddr) -> Option<Country> {
        self.country_of(ip)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("cannot read GeoIP database `{path}`: {source}")]
    Open {
        path: String,
        #[source]
        source: maxminddb::MaxMindDbError,
    },
    #[error("GeoIP database `{path}` has no country data: it answered nothing for 8.8.8.8")]
    NoCountryData { path: String },
}

/// A MaxMind DB file (`.mmdb`) held in memory. Accepts both the flat schema of the
/// ip-location-db files (`country_code`) and MaxMind's GeoIP2/GeoLite2 Country schema
/// (`country.iso_code`, falling back to `registered_country.iso_code`).
pub struct MaxMindGeo {
    reader: maxminddb::Reader<Vec<u8>>,
    /// Tells this database's answers apart from another's in the per-thread cache (a
    /// reload opens a new database; its answers may differ).
    id: u64,
}

/// Ids for [`MaxMindGeo`] instances.
static NEXT_GEO_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Entries in each thread's cache of recent answers: a lookup walks the database's
/// search tree and decodes a record (hundreds of nanoseconds); the same addresses
/// recur (batches, retries, one user's requests).
const IP_CACHE_SLOTS: usize = 512;

type IpCacheSlot = Option<(u64, IpAddr, Option<Country>)>;

thread_local! {
    static IP_CACHE: std::cell::RefCell<Vec<IpCacheSlot>> =
        std::cell::RefCell::new(vec![None; IP_CACHE_SLOTS]);
}

fn ip_slot(ip: IpAddr) -> usize {
    let bits: u64 = match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => {
            let b = u128::from(v6);
            (b as u64) ^ ((b >> 64) as u64)
        }
    };
    (bits.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 55) as usize % IP_CACHE_SLOTS
}

#[derive(Deserialize)]
struct IsoCode<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct CountryRecord<'a> {
    #[serde(borrow)]
    country_code: Option<&'a str>,
    #[serde(borrow)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow)]
    registered_country: Option<IsoCode<'a>>,
}

impl MaxMindGeo {
    pub fn open(path: &Path) -> Result<Self, GeoError> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|source| GeoError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let geo = MaxMindGeo::with_reader(reader);
        // A database of some other kind (ASN, ISP) would silently answer nothing: refuse it.
        if geo
            .lookup_raw(IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)))
            .is_none()
        {
            return Err(GeoError::NoCountryData {
                path: path.display().to_string(),
            });
        }
        Ok(geo)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GeoError> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(|source| GeoError::Open {
            path: "<memory>".into(),
            source,
        })?;
        Ok(MaxMindGeo::with_reader(reader))
    }

    fn with_reader(reader: maxminddb::Reader<Vec<u8>>) -> Self {
        MaxMindGeo {
            reader,
            id: NEXT_GEO_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    fn lookup_raw(&self, ip: IpAddr) -> Option<Country> {
        let slot = ip_slot(ip);
        let cached = IP_CACHE.with(|c| match c.borrow().get(slot) {
            Some(Some((id, addr, answer))) if *id == self.id && *addr == ip => Some(*answer),
            _ => None,
        });
        if let Some(answer) = cached {
            return answer;
        }
        let answer = self.lookup_uncached(ip);
        IP_CACHE.with(|c| {
            if let Some(entry) = c.borrow_mut().get_mut(slot) {
                *entry = Some((self.id, ip, answer));
            }
        });
        answer
    }

    fn lookup_uncached(&self, ip: IpAddr) -> Option<Country> {
        let res = self.reader.lookup(ip).ok()?;
        let rec: CountryRecord<'_> = res.decode().ok()??;
        let code = rec
            .country_code
            .or_else(|| rec.country.and_then(|c| c.iso_code))
            .or_else(|| rec.registered_country.and_then(|c| c.iso_code))?;
        Country::from_alpha2(code)
    }
}

impl GeoLookup for MaxMindGeo {
    fn country_of(&self, ip: IpAddr) -> Option<Country> {
        let ip = canonical_ip(ip);
        if !is_public(ip) {
            return None;
        }
        self.lookup_raw(ip)
    }

    fn build_epoch(&self) -> Option<u64> {
        Some(self.reader.metadata().build_epoch)
    }

    fn country_of_address(&self, ip: IpAddr) -> Option<Country> {
        self.lookup_raw(canonical_ip(ip))
    }
}

/// Rewrites an address to the form a country database is keyed by: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible, NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`)
/// IPv6 addresses become the IPv4 address they carry.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            // NAT64 well-known prefix 64:ff9b::/96
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return IpAddr::V4(embedded_v4(s[6], s[7]));
            }
            // 6to4 2002:AABB:CCDD::/48 carries AA.BB.CC.DD
            if s[0] == 0x2002 {
                return IpAddr::V4(embedded_v4(s[1], s[2]));
            }
            // Deprecated IPv4-compatible ::a.b.c.d (but not :: or ::1)
            if s[..6] == [0, 0, 0, 0, 0, 0] && (s[6] != 0 || s[7] > 1) {
                return IpAddr::V4(embedded_v4(s[6], s[7]));
            }
            ip
        }
    }
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
}

/// Whether an address is globally routable: private, loopback, link-local, shared,
/// documentation, benchmarking, multicast and reserved ranges are not.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10 shared address space
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24 IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15 benchmarking
        || o[0] >= 240) // 240.0.0.0/4 reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
        || (s[0] & 0xe000) != 0x2000) // outside global unicast 2000::/3
}

/// Parses an IP address the way a destination would accept it: dotted quad, IPv6,
/// bracketed IPv6, IPv6 with a zone id, and the legacy IPv4 forms `inet_aton` accepts
/// (`134744072`, `0x8080808`, `010.010.010.010`, `8.8.2056`), which a client library may
/// still resolve to the same host.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let t = s.trim();
    // `[v6]:port` and `[v6]`
    let t = match t.strip_prefix('[').and_then(|x| x.split_once(']')) {
        Some((inner, rest)) if rest.is_empty() || port(rest.strip_prefix(':')?) => inner,
        Some(_) => return None,
        None => t,
    };
    // a network written as CIDR: its address
    let t = t.split_once('/').map_or(t, |(a, bits)| {
        if bits.bytes().all(|b| b.is_ascii_digit()) && !bits.is_empty() {
            a
        } else {
            t
        }
    });
    let t = t.split('%').next().unwrap_or(t);
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Some(canonical_ip(ip));
    }
    // `a.b.c.d:port`
    if let Some((a, p)) = t.rsplit_once(':')
        && !a.contains(':')
        && port(p)
        && let Ok(ip) = a.parse::<Ipv4Addr>()
    {
        return Some(IpAddr::V4(ip));
    }
    parse_ipv4_loose(t).map(IpAddr::V4)
}

fn port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

fn parse_ipv4_loose(t: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = t.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(4);
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X"))
        {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if digits.is_empty() || digits.len() > 10 {
            return None;
        }
        nums.push(u64::from_str_radix(digits, radix).ok()?);
    }
    let (last, init) = nums.split_last()?;
    if init.iter().any(|n| *n > 255) {
        return None;
    }
    let bits_left = 8 * (4 - init.len() as u32);
    if *last >= 1u64 << bits_left {
        return None;
    }
    let mut v: u64 = 0;
    for (i, n) in init.iter().enumerate() {
        v |= n << (24 - 8 * i as u32);
    }
    v |= last;
    Some(Ipv4Addr::from(v as u32))
}

/// The country of a phone number by its numbering plan. International notations
/// (`+44 …`, `0044 …`) are read on their own; a national notation (`030 901820`) needs
/// `default` (another signal of the same record). `None` when the number is not a
/// plausible number of any country.
pub fn phone_country(raw: &str, default: Option<Country>) -> Option<Country> {
    let normalised = PhoneDigits::of(raw)?;
    // Parsing with libphonenumber's metadata costs microseconds; the same numbers recur
    // (batches, retries), so answers are cached per thread by normalised number.
    let slot = phone_slot(&normalised, default);
    let cached = PHONE_CACHE.with(|c| match c.borrow().get(slot) {
        Some(Some((n, d, answer))) if *n == normalised && *d == default => Some(*answer),
        _ => None,
    });
    if let Some(answer) = cached {
        return answer;
    }
    let answer = phone_country_uncached(normalised.as_str(), default);
    PHONE_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_empty() {
            c.resize(PHONE_CACHE_SLOTS, None);
        }
        if let Some(s) = c.get_mut(slot) {
            *s = Some((normalised, default, answer));
        }
    });
    answer
}

/// A national number that `country`'s numbering plan holds valid (no fallback for
/// fictional ranges: free text names many numbers that are no phones), as E.164.
/// The country a telephone calling code belongs to (`+49`, `0049`, `49`, `+1`): the
/// numbering plan's main country for a shared code (`1` → US, `44` → GB, `7` → RU).
/// `None` for anything that is no assigned code.
pub fn calling_code_country(v: &str) -> Option<Country> {
    let t = v.trim();
    let t = t
        .strip_prefix('+')
        .or_else(|| t.strip_prefix("00"))
        .unwrap_or(t);
    let t = t.trim_start_matches('(').trim_end_matches(')').trim();
    if t.is_empty() || t.len() > 3 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = t.parse().ok()?;
    let regions = phonenumber::metadata::DATABASE.region(&code)?;
    regions.iter().find_map(|r| Country::from_alpha2(r))
}

pub fn valid_national_phone(raw: &str, country: Country) -> Option<String> {
    let normalised = PhoneDigits::of(raw)?;
    if normalised.as_str().starts_with('+') {
        return None;
    }
    let region = country.as_str().parse::<phonenumber::country::Id>().ok()?;
    let number = phonenumber::parse(Some(region), normalised.as_str()).ok()?;
    let id = number.country().id()?;
    (phonenumber::is_valid(&number) && id.as_ref() == country.as_str())
        .then(|| number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Loads the numbering-plan metadata (lazily built on first use, which takes a while in
/// debug builds) so that the first request does not pay for it.
pub fn warm_up() {
    let _ = phone_country_uncached("+442079460321", None);
}

/// Slots in each thread's cache of phone answers (26 bytes each, ~104 KiB, allocated at the thread's
/// first phone number). Direct-mapped, like the address cache: a number is hashed once
/// without a key and compared with one slot. A collision only evicts: there are no
/// chains to lengthen, so numbers chosen to collide cost what new numbers cost (a
/// parse), never more, and a keyed hash (SipHash: ~3% of an inspection) buys nothing.
const PHONE_CACHE_SLOTS: usize = 4096;

/// The normalised number held inline (a lookup allocates nothing), the default country
/// it was read with, and the answer.
type PhoneSlot = Option<(PhoneDigits, Option<Country>, Option<Country>)>;

thread_local! {
    static PHONE_CACHE: std::cell::RefCell<Vec<PhoneSlot>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

fn phone_slot(n: &PhoneDigits, default: Option<Country>) -> usize {
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&n.buf[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let d = default.map_or(0, |c| {
        let b = c.as_str().as_bytes();
        u64::from(b.first().copied().unwrap_or(0)) << 8 | u64::from(b.get(1).copied().unwrap_or(0))
    });
    let tail = u64::from(n.buf[16]) | u64::from(n.buf[17]) << 8 | u64::from(n.len) << 16;
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let h = (word(0).wrapping_mul(K).rotate_left(31) ^ word(8))
        .wrapping_mul(K)
        .rotate_left(31)
        ^ (tail | d << 24);
    (h.wrapping_mul(K) >> 52) as usize % PHONE_CACHE_SLOTS
}

/// A normalised phone number: an optional `+`, then 6 to 17 ASCII digits, held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
struct PhoneDigits {
    buf: [u8; 18],
    len: u8,
}

/// The number a phone value writes, without what surrounds it in common notations: a
/// `tel:` (RFC 3966), `sip:`/`sips:` (RFC 3261: the user part) or `callto:` scheme, an
/// `;ext=` parameter, and an extension written after the number (`x123`, `ext. 123`,
/// `#123`). Anything else after the number (other URI parameters, a second number after
/// `x`) leaves the value unreadable: `None`, never a shorter reading.
fn phone_core(v: &str) -> Option<&str> {
    let mut v = v;
    // (A number starts with a digit, `+` or `(`: only a value starting with a letter can
    // carry a scheme.)
    if v.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && let Some((scheme, rest)) = ["tel:", "sips:", "sip:", "callto:"]
            .iter()
            .find_map(|p| strip_prefix_ignore_case(v, p).map(|rest| (p, rest)))
    {
        v = rest;
        if scheme.starts_with("sip") {
            // The user part; the host says nothing about the subject.
            v = v.split_once('@').map_or(v, |(user, _)| user);
        }
        // URI parameters: an extension only.
        if let Some((number, params)) = v.split_once(';') {
            if !strip_prefix_ignore_case(params, "ext=").is_some_and(is_extension) {
                return None;
            }
            v = number;
        }
    }
    // An extension after the number: `x`, `ext`, `ext.`, `#` and digits only.
    let Some(at) = v
        .bytes()
        .position(|c| matches!(c.to_ascii_lowercase(), b'x' | b'#' | b'e'))
    else {
        return Some(v);
    };
    let ext = ["ext.", "ext", "x", "#"]
        .iter()
        .find_map(|m| strip_prefix_ignore_case(&v[at..], m))?;
    is_extension(ext).then_some(&v[..at])
}

/// `s` without `prefix`, compared ignoring ASCII case.
fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.as_bytes().get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix.as_bytes())
        .then(|| &s[prefix.len()..])
}

/// An extension: one to six digits, spaces around them allowed.
fn is_extension(s: &str) -> bool {
    let s = s.trim();
    (1..=6).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

impl PhoneDigits {
    /// `raw` normalised (see [`normalise_phone`]), written byte by byte.
    fn of(raw: &str) -> Option<Self> {
        let mut digits = [0u8; 17];
        let mut n = 0;
        let mut plus = false;
        for ch in phone_core(crate::trim(raw))?.chars() {
            if let Some(d) = unicode_digit(ch) {
                // More than 17 digits: not a phone number.
                *digits.get_mut(n)? = d as u8;
                n += 1;
            } else if ch == '+' || ch == '＋' {
                if n > 0 || plus {
                    return None;
                }
                plus = true;
            } else if matches!(
                ch,
                ' ' | '\u{a0}' | '-' | '.' | '/' | '(' | ')' | '\u{2010}'..='\u{2015}' | '\u{3000}'
            ) {
                continue;
            } else {
                return None;
            }
        }
        if n < 6 {
            return None;
        }
        let digits = &digits[..n];
        // `00` is the international prefix: a `+` in its place.
        let (plus, digits) = match digits {
            [b'0', b'0', rest @ ..] if !plus => (true, rest),
            _ => (plus, digits),
        };
        let mut buf = [0u8; 18];
        let at = usize::from(plus);
        buf[0] = b'+';
        buf.get_mut(at..at + digits.len())?.copy_from_slice(digits);
        Some(PhoneDigits {
            buf,
            len: (at + digits.len()) as u8,
        })
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
}

fn phone_country_uncached(normalised: &str, default: Option<Country>) -> Option<Country> {
    let region = default.and_then(|c| c.as_str().parse::<phonenumber::country::Id>().ok());
    let international = normalised.starts_with('+');
    if !international && region.is_none() {
        return None;
    }
    let number = phonenumber::parse(if international { None } else { region }, normalised).ok()?;
    let id = number.country().id()?;
    let country = Country::from_alpha2(id.as_ref())?;
    if phonenumber::is_valid(&number) {
        return Some(country);
    }
    // Numbers in ranges reserved for fiction (US 555-01xx, UK drama ranges) do not
    // validate, but their numbering plan still says where the subject is: accept a
    // number of plausible length whose country the plan resolves.
    let national_digits = number.national().to_string().len();
    if (6..=14).contains(&national_digits) {
        Some(country)
    } else {
        None
    }
}

/// Folds the notations people write phone numbers in to `+digits` or `digits`:
/// Unicode decimal digits (full-width `０-９`, Arabic-Indic, ...) become ASCII, a leading
/// `00` international prefix becomes `+`, and separators (spaces, dots, dashes,
/// slashes, parentheses) go. `None` for a string that is not a phone number at all.
pub fn normalise_phone(raw: &str) -> Option<String> {
    PhoneDigits::of(raw).map(|d| d.as_str().to_owned())
}

/// An ASCII digit for any Unicode decimal digit (general category Nd).
pub fn unicode_digit(ch: char) -> Option<char> {
    if ch.is_ascii_digit() {
        return Some(ch);
    }
    if !ch.is_numeric() {
        return None;
    }
    // Decimal digit blocks are runs of ten starting at a code point ending in 0 (mod 16
    // for most scripts): find the zero of this block.
    const ZEROS: &[u32] = &[
        0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6,
        0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0,
        0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0,
        0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450,
        0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6,
        0x1E950,
    ];
    let c = ch as u32;
    ZEROS
        .iter()
        .find(|z| c >= **z && c < **z + 10)
        .and_then(|z| char::from_digit(c - z, 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Option<Country> {
        Country::from_alpha2(s)
    }

    #[test]
    fn phone_uris_and_extensions_are_read_as_their_number() {
        for v in [
            "tel:+49-30-1234567",
            "TEL:+49 30 1234567",
            "sip:+49301234567@voip.example.net",
            "sips:+49301234567@voip.example.net;transport=tls",
            "callto:+49301234567",
            "tel:+49-30-1234567;ext=22",
            "+49 30 1234567 x22",
            "+49 30 1234567 ext. 22",
            "+49 30 1234567 EXT 22",
            "+49 30 1234567#22",
        ] {
            assert_eq!(normalise_phone(v).as_deref(), Some("+49301234567"), "{v}");
        }
        // What is not a number and an extension stays unreadable, never a shorter reading.
        for v in [
            "tel:+14155550112;phone-context=+49",
            "tel:+14155550112;ext=22;isub=1",
            "+1 415 555 0112 x +49 30 1234567",
            "+1 415 555 0112 ext 4930123456789",
            "+1 415 555 0112 e 22",
            "mailto:+14155550112",
        ] {
            assert_eq!(normalise_phone(v), None, "{v}");
        }
    }

    #[test]
    fn canonicalises_embedded_v4() {
        let v4: IpAddr = "81.2.69.142".parse().unwrap();
        for s in [
            "::ffff:81.2.69.142",
            "64:ff9b::5102:458e",
            "2002:5102:458e::1",
            "::81.2.69.142",
        ] {
            assert_eq!(canonical_ip(s.parse().unwrap()), v4, "{s}");
        }
        assert_eq!(
            parse_ip("[::ffff:8.8.8.8]"),
            Some("8.8.8.8".parse().unwrap())
        );
        // With a port, as CIDR, with a zone.
        for (s, want) in [
            ("8.8.8.8:443", "8.8.8.8"),
            (
                "[2a00:1450:4001:80b::200e]:8443",
                "2a00:1450:4001:80b::200e",
            ),
            ("81.2.69.0/24", "81.2.69.0"),
            ("2a00:1450::/32", "2a00:1450::"),
            ("fe80::1%eth0", "fe80::1"),
        ] {
            assert_eq!(parse_ip(s), Some(want.parse().unwrap()), "{s}");
        }
        for s in ["[::1]x", "8.8.8.8:", "8.8.8.8:123456", "not an ip"] {
            assert_eq!(parse_ip(s), None, "{s}");
        }
        assert_eq!(
            canonical_ip("::1".parse().unwrap()),
            "::1".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn private_and_reserved_are_not_public() {
        for s in [
            "10.1.2.3",
            "192.168.0.1",
            "127.0.0.1",
            "100.64.1.1",
            "169.254.1.1",
            "0.1.2.3",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "ff02::1",
        ] {
            assert!(!is_public(s.parse().unwrap()), "{s}");
        }
        for s in [
            "8.8.8.8",
            "81.2.69.142",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(s.parse().unwrap()), "{s}");
        }
    }

    #[test]
    fn phone_notations() {
        for (raw, want) in [
            ("+44 20 7946 0321", Some("+442079460321")),
            ("0044 20 7946 0321", Some("+442079460321")),
            ("00 44 20 7946 0321", Some("+442079460321")),
            ("(212) 555-0147", Some("2125550147")),
            ("＋４４ ２０ ７９４６ ０３２１", Some("+442079460321")),
            ("٠٣٠ ٩٠١٨٢٠", Some("030901820")),
            ("+00 44 12 34", Some("+00441234")),
            ("12345678901234567", Some("12345678901234567")), // 17 digits
            ("1234567890123456789", None),                    // 19 digits
            ("order-4415", None),
            ("12", None),
            ("+1 2 + 3", None),
        ] {
            assert_eq!(normalise_phone(raw).as_deref(), want, "{raw:?}");
        }
    }

    /// The inline, byte-wise normaliser answers as the `String`-building one it replaced.
    #[test]
    fn phone_normalisation_as_before() {
        // (both read the number without its scheme and extension, `phone_core`)
        fn by_string(raw: &str) -> Option<String> {
            let raw = phone_core(crate::trim(raw))?;
            let mut out = String::with_capacity(raw.len());
            let mut plus = false;
            for ch in raw.trim().chars() {
                if let Some(d) = unicode_digit(ch) {
                    out.push(d);
                } else if ch == '+' || ch == '＋' {
                    if !out.is_empty() || plus {
                        return None;
                    }
                    plus = true;
                } else if matches!(
                    ch,
                    ' ' | '\u{a0}' | '-' | '.' | '/' | '(' | ')' | '\u{2010}'
                        ..='\u{2015}' | '\u{3000}'
                ) {
                    continue;
                } else {
                    return None;
                }
            }
            if out.len() < 6 || out.len() > 17 {
                return None;
            }
            if plus {
                out.insert(0, '+');
            } else if out.starts_with("00") {
                out.replace_range(..2, "+");
            }
            Some(out)
        }
        use proptest::prelude::*;
        // Mostly number-shaped (an optional plus, zeros, digits of three scripts and
        // separators), sometimes anything from the same alphabet with a stray letter.
        let numberish = "[ ]?[+＋]?[0０٠]{0,3}[0-9０-９٠-٩ ()./\u{a0}\u{2012}-]{2,22}[ ]?";
        let strategy = prop_oneof![3 => numberish, 1 => "[ +＋0-9０-９٠-٩()./\u{a0}x-]{0,24}"];
        let config = ProptestConfig {
            cases: 3000,
            failure_persistence: None,
            rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
            rng_seed: proptest::test_runner::RngSeed::Fixed(20261204),
            ..ProptestConfig::default()
        };
        proptest!(config, |(raw in strategy)| {
            prop_assert_eq!(normalise_phone(&raw), by_string(&raw), "{:?}", raw);
        });
        // the extension case that a random seed found: the number without it
        assert_eq!(normalise_phone("٠０0000x0"), by_string("٠０0000x0"));
    }

    /// The cache answers only for the whole key: numbers sharing a slot evict each other
    /// and are re-read, and a national number is cached per default country.
    #[test]
    fn phone_cache_compares_the_whole_key() {
        let uncached = |raw: &str, d: Option<Country>| {
            phone_country_uncached(PhoneDigits::of(raw).unwrap().as_str(), d)
        };
        // Two numbers of different countries in the same slot.
        let first = "+44 20 7946 0321";
        let slot = phone_slot(&PhoneDigits::of(first).unwrap(), None);
        let second = (0..1_000_000u32)
            .map(|i| format!("+1 212 {i:07}"))
            .find(|n| phone_slot(&PhoneDigits::of(n).unwrap(), None) == slot)
            .expect("no number shares the slot");
        assert_ne!(uncached(first, None), uncached(&second, None));
        for _ in 0..3 {
            assert_eq!(phone_country(first, None), uncached(first, None));
            assert_eq!(phone_country(&second, None), uncached(&second, None));
        }
        // The same national digits under two defaults.
        for _ in 0..3 {
            assert_eq!(phone_country("030 901820", c("DE")), c("DE"));
            assert_eq!(phone_country("030 901820", None), None);
        }
    }

    #[test]
    fn phone_countries() {
        assert_eq!(phone_country("+44 20 7946 0321", None), c("GB"));
        assert_eq!(phone_country("+4930901820", None), c("DE"));
        assert_eq!(phone_country("+1 212 555 0183", None), c("US"));
        assert_eq!(phone_country("+1 416 555 0199", None), c("CA"));
        assert_eq!(phone_country("+33 1 09 75 83 51", None), c("FR"));
        assert_eq!(phone_country("+55 11 5555-0101", None), c("BR"));
        assert_eq!(phone_country("030 901820", c("DE")), c("DE"));
        assert_eq!(phone_country("030 901820", None), None);
        assert_eq!(phone_country("(212) 555-0147", c("US")), c("US"));
        assert_eq!(phone_country("not a phone", None), None);
    }

    #[test]
    fn geoip2_country_schema_answers() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geoip2-country-test.mmdb");
        let geo = MaxMindGeo::open(&path).unwrap();
        assert_eq!(geo.database_type(), "GeoIP2-Country");
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(geo.country_of(ip("81.2.69.142")), c("GB"));
        assert_eq!(geo.country_of(ip("::ffff:81.2.69.142")), c("GB"));
        assert_eq!(geo.country_of(ip("85.214.132.117")), c("DE"));
        assert_eq!(geo.country_of(ip("2a00:1450:4001:80b::200e")), c("IE"));
        assert_eq!(
            geo.country_of(ip("1.1.1.1")),
            c("AU"),
            "falls back to registered_country"
        );
        assert_eq!(geo.country_of(ip("9.9.9.9")), None);
        assert_eq!(geo.country_of(ip("10.0.0.1")), None);
    }

    #[test]
    fn cached_answers_belong_to_their_database() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let bundled = MaxMindGeo::open(&root.join("geoip/geo-whois-asn-country.mmdb")).unwrap();
        let fixture =
            MaxMindGeo::open(&root.join("tests/fixtures/geoip2-country-test.mmdb")).unwrap();
        let ip = "9.9.9.9".parse::<IpAddr>().unwrap();
        let answer = bundled.country_of(ip);
        assert!(answer.is_some());
        // The same thread, the same address, another database (as after a reload).
        assert_eq!(fixture.country_of(ip), None);
        assert_eq!(bundled.country_of(ip), answer);
        assert_eq!(bundled.country_of(ip), bundled.lookup_uncached(ip));
        // Many addresses through the cache give the database's own answers.
        for i in 0..2000u32 {
            let a = IpAddr::V4(Ipv4Addr::from(0x0800_0000u32.wrapping_add(i * 7919)));
            assert_eq!(
                bundled.country_of_address(a),
                bundled.lookup_uncached(a),
                "{a}"
            );
        }
    }

    #[test]
    fn a_database_without_countries_is_refused() {
        let dir = std::env::temp_dir().join(format!("customs-geo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("garbage.mmdb");
        std::fs::write(&p, b"not a database").unwrap();
        assert!(MaxMindGeo::open(&p).is_err());
        assert!(MaxMindGeo::open(&dir.join("missing.mmdb")).is_err());
    }

    #[test]
    fn bundled_database_answers() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("geoip/geo-whois-asn-country.mmdb");
        let geo = MaxMindGeo::open(&path).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(geo.country_of(ip("8.8.8.8")), c("US"));
        assert_eq!(geo.country_of(ip("81.2.69.142")), c("GB"));
        assert_eq!(geo.country_of(ip("85.214.132.117")), c("DE"));
        assert_eq!(geo.country_of(ip("::ffff:81.2.69.142")), c("GB"));
        assert_eq!(geo.country_of(ip("10.0.0.1")), None);
        assert_eq!(geo.country_of(ip("127.0.0.1")), None);
        assert!(geo.build_epoch().unwrap() > 1_700_000_000);
    }
}
