//! Field names: which ones carry a signal (where the subject belongs) and which hold
//! personal data. Names are matched after normalisation, so `Phone_Number`,
//! `phoneNumber`, `PHONE` and `phone-number` are one name.

use std::collections::HashMap;

use serde::Serialize;

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    // signals (also personal, except country and locale on their own)
    Country,
    Ip,
    Phone,
    Locale,
    /// An IANA time zone (`Europe/Berlin`), placed by tzdata's zone table.
    TimeZone,
    /// A telephone calling code (`+49`, `"1"`) beside a phone number written without it.
    CallingCode,
    // personal, no signal
    Email,
    Name,
    Address,
    DeviceId,
    DocumentNumber,
    /// A payment card number (personal; a card names no country).
    PaymentCard,
    Location,
    BirthDate,
    UserId,
    /// Explicitly not personal: not inspected as free text either.
    NotPersonal,
}

impl FieldKind {
    /// Whether a value of this kind is personal data on its own.
    pub fn is_personal(self) -> bool {
        !matches!(
            self,
            FieldKind::Country
                | FieldKind::Locale
                | FieldKind::TimeZone
                | FieldKind::CallingCode
                | FieldKind::NotPersonal
        )
    }
    /// Whether a field of this kind makes a nested object a subject of its own rather
    /// than a part of its parent's record.
    pub fn identifies(self) -> bool {
        matches!(self, FieldKind::Email | FieldKind::Phone | FieldKind::Name)
    }
    /// Whether the whole value (an object or array) under such a key is personal, e.g.
    /// `"address": {"street": ...}` or `"location": {"lat": ..}`.
    pub fn covers_containers(self) -> bool {
        matches!(
            self,
            FieldKind::Address
                | FieldKind::Location
                | FieldKind::DocumentNumber
                | FieldKind::BirthDate
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            FieldKind::Country => "country",
            FieldKind::Ip => "ip",
            FieldKind::Phone => "phone",
            FieldKind::Locale => "locale",
            FieldKind::TimeZone => "time_zone",
            FieldKind::CallingCode => "calling_code",
            FieldKind::Email => "email",
            FieldKind::Name => "name",
            FieldKind::Address => "address",
            FieldKind::DeviceId => "device_id",
            FieldKind::DocumentNumber => "document_number",
            FieldKind::PaymentCard => "payment_card",
            FieldKind::Location => "location",
            FieldKind::BirthDate => "birth_date",
            FieldKind::UserId => "user_id",
            FieldKind::NotPersonal => "not_personal",
        }
    }
}

/// Lower case, with `_`, `-`, `.`, spaces and other separators removed.
pub fn normalise_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if let Some(a) = imitated(c) {
            out.push(char::from(a.to_ascii_lowercase()));
        } else if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The ASCII letter or digit a non-ASCII character imitates (a Cyrillic `о`, a
/// full-width `ｃ`, a mathematical `𝐜`), by NFKC and Unicode's confusables
/// (`scripts/gen-confusables.py`): a key spelled with them is the key it imitates.
pub fn imitated(c: char) -> Option<u8> {
    if c.is_ascii() {
        return None;
    }
    let table = crate::tables::confusables::CONFUSABLES;
    table
        .binary_search_by_key(&u32::from(c), |(cp, _)| *cp)
        .ok()
        .map(|i| table[i].1)
}

/// The built-in field names (normalised). Good enough for unknown payloads; a policy
/// adds its own under `[detection]`.
pub const DEFAULTS: &[(FieldKind, &[&str])] = &[
    (
        FieldKind::Country,
        &[
            "country",
            "countrycode",
            "countryiso",
            "countryname",
            "nationality",
            "citizenship",
            "issuingcountry",
            "residencecountry",
            "countryofresidence",
            "billingcountry",
            "shippingcountry",
            "homecountry",
            "usercountry",
            "customercountry",
            "addresscountry",
            "registrationcountry",
            "signupcountry",
            "geocountry",
            "ipcountry",
            "passportcountry",
            "documentcountry",
            "issuingstate",
            "countryofbirth",
            "birthcountry",
            "countryofcitizenship",
            "nationalitycode",
            "gl",
        ],
    ),
    (
        FieldKind::Ip,
        &[
            "ip",
            "ipaddress",
            "ipaddr",
            "ipv4",
            "ipv6",
            "lastip",
            "lastloginip",
            "signupip",
            "clientip",
            "remoteip",
            "remoteaddr",
            "remoteaddress",
            "sourceip",
            "srcip",
            "userip",
            "loginip",
            "registrationip",
            "xforwardedfor",
            "forwardedfor",
            "clientaddress",
            "originip",
            "deviceip",
        ],
    ),
    (
        FieldKind::CallingCode,
        &[
            "callingcode",
            "countrycallingcode",
            "dialcode",
            "dialingcode",
            "countrydialcode",
            "phonecountrycode",
            "phonecode",
            "phoneprefix",
            "phonecc",
            "mobilecountrycode",
            "mobileprefix",
            "internationalprefix",
            "telcountrycode",
        ],
    ),
    (
        FieldKind::Phone,
        &[
            "phone",
            "phonenumber",
            "phoneno",
            "mobile",
            "mobilenumber",
            "mobilephone",
            "msisdn",
            "tel",
            "telephone",
            "telephonenumber",
            "cell",
            "cellphone",
            "cellnumber",
            "contactphone",
            "homephone",
            "workphone",
            "fax",
            "whatsapp",
            "smsnumber",
        ],
    ),
    (
        FieldKind::Locale,
        &[
            "locale",
            "language",
            "lang",
            "acceptlanguage",
            "preferredlanguage",
            "userlocale",
            "uilocale",
            "hl",
        ],
    ),
    (
        FieldKind::TimeZone,
        &[
            "timezone",
            "tz",
            "tzid",
            "tzname",
            "timezoneid",
            "timezonename",
            "ianatimezone",
            "olsontimezone",
            "zoneinfo",
            "usertimezone",
            "localtimezone",
        ],
    ),
    (
        FieldKind::Email,
        &[
            "email",
            "emailaddress",
            "mail",
            "useremail",
            "contactemail",
            "workemail",
            "personalemail",
            "emails",
        ],
    ),
    (
        FieldKind::Name,
        &[
            "name",
            "fullname",
            "firstname",
            "lastname",
            "givenname",
            "familyname",
            "surname",
            "displayname",
            "middlename",
            "maidenname",
            "nickname",
            "legalname",
            "realname",
        ],
    ),
    (
        FieldKind::Address,
        &[
            "address",
            "streetaddress",
            "street",
            "addressline1",
            "addressline2",
            "postalcode",
            "postcode",
            "zip",
            "zipcode",
            "homeaddress",
            "billingaddress",
            "shippingaddress",
            "mailingaddress",
            "postaladdress",
            "residentialaddress",
            "fulladdress",
            "addressline3",
        ],
    ),
    (
        FieldKind::DeviceId,
        &[
            "deviceid",
            "idfa",
            "idfv",
            "gaid",
            "adid",
            "advertisingid",
            "imei",
            "imsi",
            "macaddress",
            "udid",
            "androidid",
            "pushtoken",
            "devicetoken",
        ],
    ),
    (
        FieldKind::DocumentNumber,
        &[
            "identitydocument",
            "iddocument",
            "documentnumber",
            "passport",
            "passportnumber",
            "nationalid",
            "nationalidnumber",
            "ssn",
            "socialsecuritynumber",
            "taxid",
            "tin",
            "driverslicense",
            "driverlicense",
            "licensenumber",
            "idnumber",
            "idcard",
            "iban",
            "bankaccount",
            "bankaccountnumber",
            "nino",
            "nationalinsurancenumber",
            "nhsnumber",
            "nif",
            "nie",
            "dni",
            "pesel",
            "codicefiscale",
            "fiscalcode",
            "personnummer",
            "hetu",
            "personalidentitycode",
            "bsn",
            "steuerid",
            "taxnumber",
        ],
    ),
    (
        FieldKind::PaymentCard,
        &[
            "cardnumber",
            "cardno",
            "creditcard",
            "creditcardnumber",
            "ccnumber",
            "debitcard",
            "paymentcard",
            "pan",
        ],
    ),
    (
        FieldKind::Location,
        &[
            "location",
            "geo",
            "geolocation",
            "coordinates",
            "latlng",
            "latlon",
            "lat",
            "lon",
            "lng",
            "latitude",
            "longitude",
            "gps",
            "coords",
            "geopoint",
            "latlong",
            "lnglat",
            "lonlat",
            "gpscoordinates",
            "geocoordinates",
        ],
    ),
    (
        FieldKind::BirthDate,
        &["dob", "dateofbirth", "birthdate", "birthday"],
    ),
    (
        FieldKind::UserId,
        &[
            "userid",
            "customerid",
            "accountid",
            "memberid",
            "subscriberid",
            "username",
            "login",
            "uid",
            "openid",
            "unionid",
        ],
    ),
];

/// FxHash (rustc's hasher): one multiply per word. Field names are short and the table
/// is built from the policy, not from requests, so a keyed hash buys nothing here.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(K);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// A compiled name → kind table, keyed by normalised name bytes.
#[derive(Debug, Clone, Default)]
pub struct FieldTable {
    map: HashMap<Box<[u8]>, FieldKind, FxBuild>,
    /// Tells tables with different contents apart (caches of classified keys are kept
    /// per table): new for every table built or changed, shared by clones.
    id: u64,
}

fn next_table_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl FieldTable {
    pub fn with_defaults(use_defaults: bool) -> Self {
        let mut t = FieldTable::default();
        if use_defaults {
            for (kind, names) in DEFAULTS {
                for n in *names {
                    t.map.insert(n.as_bytes().into(), *kind);
                }
            }
        }
        t.id = next_table_id();
        t
    }
    pub fn insert(&mut self, name: &str, kind: FieldKind) {
        self.map
            .insert(normalise_key(name).into_bytes().into(), kind);
        self.id = next_table_id();
    }
    /// Every (normalised name, kind) pair, sorted: for comparing two policies' tables.
    pub fn entries(&self) -> Vec<(String, FieldKind)> {
        let mut v: Vec<(String, FieldKind)> = self
            .map
            .iter()
            .map(|(k, v)| (String::from_utf8_lossy(k).into_owned(), *v))
            .collect();
        v.sort();
        v
    }
    /// This table's identity (see the field).
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The kind of a raw (not yet normalised) key.
    pub fn classify(&self, key: &str) -> Option<FieldKind> {
        if key.len() > 64 {
            return None;
        }
        let mut buf = [0u8; 64];
        let mut n = 0;
        for b in key.bytes() {
            if b.is_ascii_alphanumeric() {
                buf[n] = b.to_ascii_lowercase();
                n += 1;
            } else if !b.is_ascii() {
                return self.lookup(normalise_key(key).as_bytes());
            }
        }
        self.lookup(&buf[..n])
    }

    /// A normalised name's kind: the name itself, or the name after header-style `x`s
    /// (`X-User-Email`) and words for whose data it is (`customer_phone`,
    /// `sender_country`): see [`ROLE_PREFIXES`].
    fn lookup(&self, name: &[u8]) -> Option<FieldKind> {
        self.get(name)
            .or_else(|| self.after_roles(name, 4))
            .or_else(|| self.plural(name))
    }

    /// A plural's kind (`nationalities`, `phone_numbers`, `ip_addresses`): the
    /// singular's, as a name of its own or after role words.
    fn plural(&self, name: &[u8]) -> Option<FieldKind> {
        let mut buf = [0u8; 64];
        let singular: &[u8] = if let Some(stem) = name.strip_suffix(b"ies") {
            let n = stem.len();
            buf.get_mut(..n)?.copy_from_slice(stem);
            *buf.get_mut(n)? = b'y';
            &buf[..=n]
        } else if let Some(stem) = name.strip_suffix(b"sses") {
            let n = stem.len();
            buf.get_mut(..n)?.copy_from_slice(stem);
            buf.get_mut(n..n + 2)?.copy_from_slice(b"ss");
            &buf[..n + 2]
        } else {
            name.strip_suffix(b"s").filter(|s| !s.ends_with(b"s"))?
        };
        if singular.is_empty() {
            return None;
        }
        self.get(singular).or_else(|| self.after_roles(singular, 4))
    }

    fn get(&self, name: &[u8]) -> Option<FieldKind> {
        self.map.get(name).copied()
    }

    /// The kind of `name` after up to `words` leading words of [`ROLE_PREFIXES`] or
    /// header-style `x`s (`X-User-Customer-Phone`).
    fn after_roles(&self, name: &[u8], words: usize) -> Option<FieldKind> {
        if words == 0 {
            return None;
        }
        ["x"].iter().chain(ROLE_PREFIXES).find_map(|role| {
            let rest = name
                .strip_prefix(role.as_bytes())
                .filter(|r| !r.is_empty())?;
            self.get(rest).or_else(|| self.after_roles(rest, words - 1))
        })
    }
}

/// `key`'s ASCII letters and digits, lowercased, written into `buf` (other characters
/// left out); `None` when they do not fit.
pub fn ascii_key<'b>(key: &str, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let mut n = 0;
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() {
            *buf.get_mut(n)? = b.to_ascii_lowercase();
            n += 1;
        }
    }
    buf.get(..n)
}

/// Whether `key`, a member of an object that is the value of a signal field of `kind`
/// (`"country": {"code": "DE", "name": "Germany"}`), names that object's value: then it
/// is read as a field of `kind`, whatever the key means elsewhere (`name`). Other members
/// (`calling_code`, `flag`, `currency`) are read as they would be anywhere.
pub fn names_the_value(kind: FieldKind, key: &str) -> bool {
    member_kind(kind, key) == Some(kind)
}

/// The kind a member of an object that is the value of a signal field of `kind` is read
/// as: `kind` where the key names the value ([`names_the_value`]); in a phone object, a
/// calling code (`{"country_code": "+49", "number": "30 1234567"}`); `None` for a member
/// read as it would be anywhere.
pub fn member_kind(kind: FieldKind, key: &str) -> Option<FieldKind> {
    let mut buf = [0u8; 24];
    let k = ascii_key(key, &mut buf)?;
    let calling: &[&[u8]] = &[
        b"countrycode",
        b"callingcode",
        b"dialcode",
        b"dialingcode",
        b"cc",
        b"code",
        b"prefix",
        b"countryprefix",
        b"country",
    ];
    if kind == FieldKind::Phone && calling.contains(&k) {
        return Some(FieldKind::CallingCode);
    }
    names_value_of(kind, k).then_some(kind)
}

fn names_value_of(kind: FieldKind, k: &[u8]) -> bool {
    let any: &[&[u8]] = &[b"value", b"code", b"name", b"label", b"text"];
    let of_kind: &[&[u8]] = match kind {
        FieldKind::Country => &[
            b"iso",
            b"isocode",
            b"iso2",
            b"iso3",
            b"alpha2",
            b"alpha3",
            b"cca2",
            b"cca3",
            b"ccn3",
            b"numeric",
            b"numericcode",
            b"common",
            b"official",
            b"shortname",
            b"longname",
            b"country",
            b"countrycode",
        ],
        FieldKind::Phone => &[
            b"number",
            b"e164",
            b"international",
            b"full",
            b"raw",
            b"formatted",
            b"phone",
            b"nationalnumber",
            b"national",
            b"subscribernumber",
            b"localnumber",
        ],
        FieldKind::Ip => &[b"address", b"ip", b"addr"],
        FieldKind::Locale => &[b"tag", b"locale", b"id"],
        FieldKind::TimeZone => &[b"id", b"zone", b"tz", b"iana", b"timezone"],
        // (`lat`, `lng`, `coordinates` are location fields anywhere)
        FieldKind::Location => &[
            b"x",
            b"y",
            b"point",
            b"position",
            b"coords",
            b"lat",
            b"lng",
            b"lon",
            b"long",
            b"latitude",
            b"longitude",
            b"coordinates",
        ],
        _ => return false,
    };
    any.contains(&k) || of_kind.contains(&k)
}

impl FieldTable {
    /// Whether `key` groups records by country (`by_country`, `perNationality`,
    /// `grouped_by_country`): the keys of the object under it are countries, each the
    /// context of the records under it.
    pub fn groups_by_country(&self, key: &str) -> bool {
        let mut buf = [0u8; 64];
        let Some(k) = ascii_key(key, &mut buf) else {
            return false;
        };
        ["groupedby", "groupby", "by", "per"].iter().any(|p| {
            k.strip_prefix(p.as_bytes()).is_some_and(|rest| {
                !rest.is_empty() && self.lookup(rest) == Some(FieldKind::Country)
            })
        })
    }
}

/// Words before a field name that say whose data the field holds, not what it is:
/// `customer_nationality` is a nationality, `X-User-IP` an IP address. A name the table
/// holds whole (`user_id`, `billing_country`, a policy's `not_personal`) keeps its own
/// kind; these are tried only when it does not.
pub const ROLE_PREFIXES: &[&str] = &[
    "user",
    "enduser",
    "customer",
    "client",
    "contact",
    "member",
    "subscriber",
    "account",
    "owner",
    "holder",
    "sender",
    "recipient",
    "receiver",
    "buyer",
    "seller",
    "payer",
    "payee",
    "patient",
    "employee",
    "applicant",
    "passenger",
    "traveler",
    "traveller",
    "guest",
    "person",
    "personal",
    "profile",
    "primary",
    "subject",
    "reporter",
    "complainant",
    "caller",
    "author",
    "real",
    "my",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_of_one_name() {
        let t = FieldTable::with_defaults(true);
        for k in [
            "Phone_Number",
            "phoneNumber",
            "PHONE",
            "phone-number",
            "phone number",
            "phone.number",
        ] {
            assert!(matches!(t.classify(k), Some(FieldKind::Phone)), "{k}");
        }
        assert_eq!(t.classify("last_login_ip"), Some(FieldKind::Ip));
        assert_eq!(t.classify("country_of_origin"), None);
        assert_eq!(t.classify("E-Mail"), Some(FieldKind::Email));
        assert_eq!(t.classify("build"), None);
    }

    #[test]
    fn grouping_keys() {
        let t = FieldTable::with_defaults(true);
        for k in [
            "by_country",
            "perNationality",
            "grouped_by_country",
            "byCountryCode",
        ] {
            assert!(t.groups_by_country(k), "{k}");
        }
        for k in ["country", "by", "bypass", "per_page", "by_plan"] {
            assert!(!t.groups_by_country(k), "{k}");
        }
    }

    #[test]
    fn lookalike_letters_are_the_letters_they_imitate() {
        let t = FieldTable::with_defaults(true);
        for k in [
            "c\u{043e}untry",                                           // Cyrillic о
            "\u{0441}ountry",                                           // Cyrillic с
            "\u{ff43}\u{ff4f}\u{ff55}\u{ff4e}\u{ff54}\u{ff52}\u{ff59}", // full-width
            "n\u{0430}tionality",                                       // Cyrillic а
            "\u{1d41c}ountry",                                          // mathematical bold c
            "NATI\u{039f}NALITY",                                       // Greek capital omicron
        ] {
            assert_eq!(t.classify(k), Some(FieldKind::Country), "{k}");
        }
        assert_eq!(t.classify("e\u{2010}mail"), Some(FieldKind::Email));
        assert_eq!(t.classify("\u{0435}mail"), Some(FieldKind::Email));
        assert_eq!(imitated('\u{ff10}'), Some(b'0'));
        assert_eq!(imitated('é'), None);
        assert_eq!(t.classify("страна"), None);
    }

    #[test]
    fn words_for_whose_data_it_is_keep_the_kind() {
        let t = FieldTable::with_defaults(true);
        for (k, kind) in [
            ("customer_nationality", FieldKind::Country),
            ("senderCountry", FieldKind::Country),
            ("X-User-Last-Login-IP", FieldKind::Ip),
            ("X-Client-IP", FieldKind::Ip),
            ("X-Real-IP", FieldKind::Ip),
            ("x-user-customer-phone", FieldKind::Phone),
            ("patientEmail", FieldKind::Email),
            ("user_time_zone", FieldKind::TimeZone),
        ] {
            assert_eq!(t.classify(k), Some(kind), "{k}");
        }
        // a name the table holds whole keeps its kind; a role alone is no field
        let mut t = t;
        t.insert("customer_note", FieldKind::NotPersonal);
        assert_eq!(t.classify("customer_note"), Some(FieldKind::NotPersonal));
        for (k, kind) in [
            ("nationalities", FieldKind::Country),
            ("citizenships", FieldKind::Country),
            ("phone_numbers", FieldKind::Phone),
            ("ip_addresses", FieldKind::Ip),
            ("customerEmails", FieldKind::Email),
        ] {
            assert_eq!(t.classify(k), Some(kind), "{k}");
        }
        for k in [
            "customer",
            "x",
            "xylophone",
            "user_agent",
            "server_country_list",
            "status",
        ] {
            assert_eq!(t.classify(k), None, "{k}");
        }
    }
}
