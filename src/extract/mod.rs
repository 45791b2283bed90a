//! Extraction: from a request body to records with their signals and personal fields.
//!
//! Content-type dispatch lives here; [`json`] parses without losing duplicate keys,
//! [`records`] finds the subjects in a document, [`text`] finds personal data in free
//! text, [`tag`] turns signals into countries. Everything is pure: bytes, a compiled
//! policy and a GeoIP handle in, [`Facts`] out. No value of a personal field is kept in
//! [`Facts`]: only pointers, kinds and countries.

pub mod decode;
pub mod embedded;
pub mod fields;
pub mod formats;
pub mod json;
pub mod multipart;
pub mod outside;
pub mod records;
pub mod select;
pub mod signals;
pub mod tag;
pub mod text;

use std::borrow::Cow;

use serde::Serialize;

use crate::country::Country;
use crate::geo::GeoLookup;
use crate::policy::Policy;
use crate::policy::compile::{Limits, Profile};
pub use fields::FieldKind;

/// Which kind of signal said which country.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// A country field (`country`, `country_code`, `nationality`, ...).
    CountryField,
    /// An IP address field, located with the GeoIP database.
    Ip,
    /// A phone number field, located by its numbering plan.
    Phone,
    /// A locale's region subtag (`de-DE`).
    Locale,
    /// An IP address found in free text.
    TextIp,
    /// A phone number found in free text.
    TextPhone,
    /// An IANA time zone (`Europe/Berlin`).
    TimeZone,
    /// An identity document or account number whose format is a country's (an IBAN's
    /// prefix, a National Insurance number, a PESEL...), in a field or in free text.
    Identifier,
    /// Coordinates (`"lat": 52.52` with `"lng": 13.40`, `"52.52,13.40"`, a GeoJSON
    /// `Point`), placed by the country-boundaries dataset.
    Location,
    /// A postal address whose last component names a country.
    Address,
    /// A telephone calling code (`+49`): its country, and the hint for the record's
    /// national phone numbers.
    CallingCode,
}

impl SignalKind {
    pub const ALL: &[SignalKind] = &[
        SignalKind::CountryField,
        SignalKind::Ip,
        SignalKind::Phone,
        SignalKind::Locale,
        SignalKind::TextIp,
        SignalKind::TextPhone,
        SignalKind::TimeZone,
        SignalKind::Identifier,
        SignalKind::Location,
        SignalKind::Address,
        SignalKind::CallingCode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::CountryField => "country_field",
            SignalKind::Ip => "ip",
            SignalKind::Phone => "phone",
            SignalKind::Locale => "locale",
            SignalKind::TextIp => "text_ip",
            SignalKind::TextPhone => "text_phone",
            SignalKind::TimeZone => "time_zone",
            SignalKind::Identifier => "identifier",
            SignalKind::Location => "location",
            SignalKind::Address => "address",
            SignalKind::CallingCode => "calling_code",
        }
    }
}

/// A JSON pointer. Most are short enough (24 bytes) to be held without an allocation.
pub type Pointer = compact_str::CompactString;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub kind: SignalKind,
    pub country: Country,
    /// JSON pointer of the value that said it.
    pub pointer: Pointer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonalField {
    pub kind: FieldKind,
    pub pointer: Pointer,
}

/// A signal customs could not resolve to a country: which kind, and where (never the
/// value). It makes the record's jurisdiction `unknown` (see [`tag`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreadable {
    pub kind: SignalKind,
    pub pointer: Pointer,
}

/// One subject's data inside the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// JSON pointer of the record (`""` is the whole body). A pointer into a JSON
    /// document embedded in a string is written `OUTER#INNER`, e.g. `/content#/text`.
    pub pointer: Pointer,
    pub personal: Vec<PersonalField>,
    pub evidence: Vec<Evidence>,
    /// Signals present that no reader could resolve (an unrecognised country name, a
    /// national phone number with no other hint, a public address the GeoIP database does
    /// not know, a locale whose region is not a country). Placeholders, private addresses
    /// and bare languages say nothing on purpose and are not here.
    pub unreadable: Vec<Unreadable>,
}

impl Record {
    pub fn is_personal(&self) -> bool {
        !self.personal.is_empty()
    }
    pub fn countries(&self) -> Vec<Country> {
        let mut v: Vec<Country> = self.evidence.iter().map(|e| e.country).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Everything extraction learned about a request body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Facts {
    pub records: Vec<Record>,
    pub body_bytes: usize,
    /// How the body was read: `json`, `ndjson`, `form`, `text` or `empty`.
    pub format: &'static str,
}

/// Why a body could not be inspected. Each is a named reason with a metric; none of
/// them is ever forwarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("the body is not valid JSON (line {line}, column {column})")]
    InvalidJson { line: usize, column: usize },
    #[error("the body nests deeper than the limit")]
    TooDeep,
    #[error("a document embedded in a string nests more than {0} levels of embedding")]
    EmbeddingTooDeep(usize),
    #[error("the body is not valid UTF-8 text")]
    InvalidUtf8,
    #[error("content type `{0}` cannot be inspected")]
    UnsupportedContentType(String),
    #[error("charset `{0}` cannot be read")]
    UnsupportedCharset(String),
    #[error("content encoding `{0}` cannot be decoded")]
    UnsupportedEncoding(String),
    #[error("the body is not valid `{0}` data")]
    InvalidEncoding(String),
    #[error("the decoded body exceeds the limit of {0} bytes")]
    DecodedTooLarge(usize),
    #[error("the multipart body is malformed")]
    InvalidMultipart,
    /// A structured text body (CSV, XML, YAML, GraphQL) that its reader rejects; the
    /// reason names the format (`invalid_xml`).
    #[error("the body is not a valid document of its format ({0})")]
    InvalidFormat(&'static str),
    #[error("an XML document type declaration is refused (no DTDs, no entity declarations)")]
    XmlDtd,
    #[error("the request exceeds the limit `{name}` ({max})")]
    Limit { name: &'static str, max: usize },
    #[error("a selector of profile `{0}` could not be applied")]
    Selector(String),
    /// A broken invariant of the inspector itself: refused, never forwarded.
    #[error("internal inspection error: {0}")]
    Internal(&'static str),
}

impl InspectError {
    /// The bounded reason label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            InspectError::InvalidJson { .. } => "invalid_json",
            InspectError::TooDeep => "nesting_too_deep",
            InspectError::EmbeddingTooDeep(_) => "embedding_too_deep",
            InspectError::InvalidUtf8 => "invalid_utf8",
            InspectError::UnsupportedContentType(_) => "unsupported_content_type",
            InspectError::UnsupportedCharset(_) => "unsupported_charset",
            InspectError::UnsupportedEncoding(_) => "unsupported_content_encoding",
            InspectError::InvalidEncoding(_) => "invalid_content_encoding",
            InspectError::DecodedTooLarge(_) => "decoded_too_large",
            InspectError::InvalidMultipart => "invalid_multipart",
            InspectError::InvalidFormat(reason) => reason,
            InspectError::XmlDtd => "xml_dtd_refused",
            InspectError::Limit {
                name: "max_records",
                ..
            } => "too_many_records",
            InspectError::Limit {
                name: "max_string_bytes",
                ..
            } => "string_too_long",
            InspectError::Limit {
                name: "max_form_fields",
                ..
            } => "too_many_form_fields",
            InspectError::Limit {
                name: "max_multipart_parts",
                ..
            } => "too_many_multipart_parts",
            InspectError::Limit {
                name: "yaml_alias_expansion",
                ..
            } => "yaml_alias_expansion",
            InspectError::Limit { .. } => "limit_exceeded",
            InspectError::Selector(_) => "selector_failed",
            InspectError::Internal(_) => "internal_error",
        }
    }
}

/// What extraction needs to know about the request besides its body.
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyMeta<'a> {
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub query: Option<&'a str>,
    /// The URL path (its segments are inspected, see [`outside`]).
    pub path: Option<&'a str>,
    pub headers: Option<&'a http::HeaderMap>,
    /// The largest body (decoded) that may be inspected.
    pub max_body_bytes: usize,
}

/// How many bytes inspecting a decoded body of `len` bytes may hold beyond the body: its
/// tree, which may take as many bytes as the text read so far or [`records::TREE_FLOOR`]
/// (a document whose tree would outgrow that is walked as a stream, in less), and never
/// more than 6 bytes a byte (12 bytes an element, each at least 2 bytes of text). On a
/// profile with selectors, which keep the tree whatever its size (or build serde_json's),
/// four times the body. The proxy reserves this much of its memory budget.
///
/// A body that is not plain JSON may hold one copy more (its UTF-8 transcoding, or the
/// JSON a structured reader writes, at most about its size): `len` more for any body
/// not labelled `application/json` or `*+json` without a charset.
pub fn tree_bytes(profile: &Profile, len: usize, content_type: Option<&str>) -> usize {
    let has_selectors = !profile.records.is_empty() || !profile.ignore.is_empty();
    let tree = if has_selectors {
        len.saturating_mul(4)
    } else {
        len.saturating_mul(6).min(len.max(records::TREE_FLOOR))
    };
    let plain_json = content_type.is_some_and(|ct| {
        let e = essence(ct).to_ascii_lowercase();
        (e == "application/json" || e.ends_with("+json")) && param(ct, "charset").is_none()
    });
    if plain_json {
        tree
    } else {
        tree.saturating_add(len)
    }
}

/// Extracts and tags every record in the request: its body (decoded), and the query
/// string, headers and cookies its profile names.
pub fn extract(
    policy: &Policy,
    profile: &Profile,
    geo: &dyn GeoLookup,
    meta: BodyMeta<'_>,
    body: &[u8],
) -> Result<Facts, InspectError> {
    let mut records = Vec::new();
    let (format, found) = extract_each(policy, profile, geo, meta, body, &mut |i, r| {
        records.push((i, r))
    })?;
    if records.len() != found {
        return Err(InspectError::Internal(
            "a record was lost between walk and tag",
        ));
    }
    records.sort_unstable_by_key(|(i, _)| *i);
    Ok(Facts {
        records: records.into_iter().map(|(_, r)| r).collect(),
        body_bytes: body.len(),
        format,
    })
}

/// Tags each record as the walk completes it and hands it to `each` with its index in
/// the order records were found (records close innermost first, so the indexes arrive
/// out of order). Returns how the body was read and how many records were found. A
/// request is decided this way without ever holding all its records: only the few still
/// open, and what `each` keeps.
pub fn extract_each(
    policy: &Policy,
    profile: &Profile,
    geo: &dyn GeoLookup,
    meta: BodyMeta<'_>,
    body: &[u8],
    each: &mut dyn FnMut(usize, Record),
) -> Result<(&'static str, usize), InspectError> {
    struct Tagging<'a, 'b> {
        geo: &'a dyn GeoLookup,
        placeholders: &'a signals::placeholder::Placeholders,
        each: &'b mut dyn FnMut(usize, Record),
    }
    impl records::RecordSink for Tagging<'_, '_> {
        fn record(&mut self, index: usize, raw: records::RawRecord) {
            (self.each)(index, tag::tag(raw, self.geo, self.placeholders));
        }
    }
    let mut tagging = Tagging {
        geo,
        placeholders: &policy.placeholders,
        each,
    };
    let limit = if meta.max_body_bytes == 0 {
        usize::MAX
    } else {
        meta.max_body_bytes
    };
    let decoded = decode::decode(meta.content_encoding, body, limit)?;
    let mut walker =
        records::Walker::new(&policy.fields, profile, policy.limits).with_sink(&mut tagging);
    let envelopes = envelopes(profile, meta);
    // A query string, header or cookie signal that identifies no one is the context of
    // the body's records (`?country=DE` beside a list of users).
    for (prefix, pairs) in &envelopes {
        walker.request_context(prefix, pairs);
    }
    let format = body_records(
        &mut walker,
        profile,
        meta.content_type,
        &decoded,
        policy.limits,
    )?;
    walker.end_request_context();
    for (prefix, pairs) in envelopes {
        walker.envelope(prefix, pairs)?;
    }
    let found = walker.found();
    walker.finish();
    Ok((format, found))
}

/// The name/value pairs outside the body that the profile inspects: the query string,
/// the named headers, the named cookies, each with its pointer prefix.
fn envelopes(profile: &Profile, meta: BodyMeta<'_>) -> Vec<(&'static str, Vec<(String, String)>)> {
    let mut out = Vec::new();
    if profile.query
        && let Some(q) = meta.query
        && !q.is_empty()
    {
        out.push((
            "?",
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ));
    }
    if profile.path
        && let Some(p) = meta.path
    {
        let segments = outside::path_segments(p);
        if !segments.is_empty() {
            out.push(("@path", segments));
        }
    }
    let Some(h) = meta.headers else {
        return out;
    };
    if profile.authorization {
        let credentials = outside::authorization(h);
        if !credentials.is_empty() {
            out.push(("@authorization", credentials));
        }
    }
    let mut fields = Vec::new();
    for name in &profile.headers {
        for v in h.get_all(name.as_str()) {
            fields.push((
                name.clone(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            ));
        }
    }
    if !fields.is_empty() {
        out.push(("@header", fields));
    }
    // The cookies the profile names, and (with `authorization`, as credentials) every
    // cookie that is a JSON Web Token: an ID token's claims are a person's.
    if !profile.cookies.is_empty() || profile.authorization {
        let all = profile.cookies.iter().any(|c| c == "*");
        let mut cookies = Vec::new();
        for v in h.get_all(http::header::COOKIE) {
            for pair in String::from_utf8_lossy(v.as_bytes()).split(';') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let (k, v) = (k.trim(), v.trim().trim_matches('"'));
                let named = all || profile.cookies.iter().any(|c| c == k);
                if named || (profile.authorization && embedded::jwt(v).is_some()) {
                    cookies.push((k.to_string(), v.to_string()));
                }
            }
        }
        if !cookies.is_empty() {
            out.push(("@cookie", cookies));
        }
    }
    out
}

/// Reads the body's records by its (declared or sniffed) type. A label never hides
/// what the body is:
/// - a body labelled as a lenient format (a form, CSV, YAML, GraphQL) whose bytes sniff
///   as another format is read both ways, and the records of both readings count (the
///   lenient reading of a JSON document is one key without a value, of CSV as YAML one
///   string; it still counts, so a body that means different things to different
///   readers is held to the stricter);
/// - prose (`text/*`) that sniffs as a structure is read as that structure, which scans
///   every value as prose too; only a structure that does not parse stays prose.
fn body_records(
    walker: &mut records::Walker<'_>,
    profile: &Profile,
    content_type: Option<&str>,
    body: &[u8],
    limits: Limits,
) -> Result<&'static str, InspectError> {
    // Read as UTF-8 whatever its charset; a UTF-8 byte-order mark is no part of the
    // document (RFC 8259 lets a parser skip it).
    let body = transcode(content_type.unwrap_or(""), body)?;
    let body: &[u8] = &body;
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let format = classify(content_type, body, profile)?;
    // (a YAML document may be one scalar, and a GraphQL document pass no literal: the
    // whole body as one string, whatever it is)
    let lenient = matches!(
        format,
        Format::Form
            | Format::Structured(
                formats::Structured::Csv(_)
                    | formats::Structured::Yaml
                    | formats::Structured::Graphql
            )
    );
    let name = read(walker, profile, format, body, limits)?;
    if lenient {
        let sniffed = classify(None, body, profile)?;
        if sniffed.name() != name && !matches!(sniffed, Format::Text | Format::Binary) {
            read(walker, profile, sniffed, body, limits)?;
        }
    }
    Ok(name)
}

/// Reads `body` as `format`, returning the format's name.
fn read(
    walker: &mut records::Walker<'_>,
    profile: &Profile,
    format: Format<'_>,
    body: &[u8],
    limits: Limits,
) -> Result<&'static str, InspectError> {
    let name = format.name();
    match format {
        Format::Empty | Format::Binary => {}
        Format::Json(None) => {
            if !json_string_body(walker, profile, body, limits)? {
                walker.document(body)?;
            }
        }
        Format::Json(Some(doc)) => {
            if !json_string_body(walker, profile, body, limits)? {
                walker.parsed_document(body, &doc)?;
            }
        }
        Format::Ndjson => lines(walker, profile, body, b'\n', limits)?,
        Format::Form => walker.form(body)?,
        Format::Multipart(boundary) => multipart_records(walker, profile, body, &boundary, limits)?,
        Format::Text => walker.text_body(utf8(body)?)?,
        Format::Structured(s) => structured(walker, profile, s, body, limits)?,
        Format::TextAnd(s) => match structured(walker, profile, s, body, limits) {
            // Sniffed, it was not that format after all: it is prose.
            Err(InspectError::InvalidFormat(_)) => {
                walker.text_body(utf8(body)?)?;
                return Ok("text");
            }
            r => r?,
        },
    }
    Ok(name)
}

fn utf8(body: &[u8]) -> Result<&str, InspectError> {
    std::str::from_utf8(body).map_err(|_| InspectError::InvalidUtf8)
}

/// NDJSON (lines end in LF or CRLF) and JSON text sequences (each text after an RS):
/// every non-blank text is a document, its records under `/i`.
fn lines(
    walker: &mut records::Walker<'_>,
    profile: &Profile,
    body: &[u8],
    sep: u8,
    limits: Limits,
) -> Result<(), InspectError> {
    for (i, line) in body.split(|b| *b == sep).enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        // (a line that is one string holding a body of its own: read as that body)
        let mut held = false;
        walker.with_prefix(&format!("/{i}"), |w| {
            held = json_string_body(w, profile, line, limits)?;
            Ok(())
        })?;
        if !held {
            walker.line(i, line)?;
        }
    }
    Ok(())
}

/// A JSON body that is one string holding a body of another format (a form, CSV,
/// XML...): read as that format, under `#`. False (nothing read) for any other JSON.
fn json_string_body(
    walker: &mut records::Walker<'_>,
    profile: &Profile,
    body: &[u8],
    limits: Limits,
) -> Result<bool, InspectError> {
    let t = body.trim_ascii_start();
    if !t.starts_with(b"\"") {
        return Ok(false);
    }
    let Ok(inner) = serde_json::from_slice::<String>(t) else {
        return Ok(false);
    };
    let inner = inner.as_bytes();
    match classify(None, inner, profile) {
        Ok(Format::Text | Format::Binary | Format::Empty) | Err(_) => Ok(false),
        Ok(format) => {
            walker.with_prefix("#", |w| read(w, profile, format, inner, limits).map(|_| ()))?;
            Ok(true)
        }
    }
}

fn multipart_records(
    walker: &mut records::Walker<'_>,
    profile: &Profile,
    body: &[u8],
    boundary: &str,
    limits: Limits,
) -> Result<(), InspectError> {
    let parts = multipart::parse(body, boundary, limits.max_multipart_parts)?;
    // Text fields of a form are one record, as a urlencoded form's are.
    let mut fields = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if let Some(field) = form_field(part)? {
            fields.push(field);
            continue;
        }
        let name = part.name.clone().unwrap_or_else(|| i.to_string());
        walker.with_prefix(&format!("/{}", records::escape(&name)), |w| {
            body_records(w, profile, part.content_type.as_deref(), &part.body, limits).map(|_| ())
        })?;
    }
    if !fields.is_empty() {
        walker.envelope("", fields)?;
    }
    Ok(())
}

/// A structured text body (see [`formats`]), read through its JSON.
fn structured(
    walker: &mut records::Walker<'_>,
    profile: &Profile,
    format: formats::Structured,
    body: &[u8],
    limits: Limits,
) -> Result<(), InspectError> {
    use formats::Structured as S;
    match format {
        S::Csv(d) => formats::csv::rows(body, d, &mut |i, row| walker.line(i, row)),
        S::JsonSeq => lines(walker, profile, body, 0x1e, limits),
        S::Xml => walker
            .written_document(formats::xml::to_json(utf8(body)?, limits.max_depth)?.as_bytes()),
        S::Yaml => formats::yaml::documents(utf8(body)?, limits.max_depth, &mut |i, doc| {
            walker.written_line(i, doc)
        }),
        // Its literals as fields; a document that passes none is prose.
        S::Graphql => {
            let text = utf8(body)?;
            match formats::graphql::to_json(text, limits.max_depth)? {
                Some(json) => {
                    walker.with_prefix("#graphql", |w| w.written_document(json.as_bytes()))
                }
                None => walker.text_body(text),
            }
        }
    }
}

enum Format<'a> {
    Empty,
    Binary,
    Multipart(String),
    Form,
    /// JSON; with the tree when sniffing already parsed it.
    Json(Option<json::Doc<'a>>),
    Ndjson,
    Text,
    Structured(formats::Structured),
    /// Prose that sniffs as a structured format: read as that, or as prose if it does
    /// not parse.
    TextAnd(formats::Structured),
}

impl Format<'_> {
    fn name(&self) -> &'static str {
        match self {
            Format::Empty => "empty",
            Format::Binary => "binary",
            Format::Multipart(_) => "multipart",
            Format::Form => "form",
            Format::Json(_) => "json",
            Format::Ndjson => "ndjson",
            Format::Text => "text",
            Format::Structured(s) | Format::TextAnd(s) => s.name(),
        }
    }
}

/// A multipart part that is a form's text field (a name, no file, plain text or no
/// type): its name and value.
fn form_field(part: &multipart::Part<'_>) -> Result<Option<(String, String)>, InspectError> {
    let (Some(name), false) = (&part.name, part.file) else {
        return Ok(None);
    };
    if let Some(ct) = &part.content_type {
        if !essence(ct).eq_ignore_ascii_case("text/plain") {
            return Ok(None);
        }
        let body = transcode(ct, &part.body)?;
        return Ok(std::str::from_utf8(&body)
            .ok()
            .map(|v| (name.clone(), v.to_string())));
    }
    Ok(std::str::from_utf8(&part.body)
        .ok()
        .map(|v| (name.clone(), v.to_string())))
}

/// A content type without its parameters.
fn essence(ct: &str) -> &str {
    ct.split(';').next().unwrap_or("").trim()
}

/// The value of parameter `name` of a content type.
fn param<'a>(ct: &'a str, name: &str) -> Option<&'a str> {
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"'))
    })
}

/// Refuses a body whose declared charset would make its bytes other text than UTF-8
/// reads: UTF-16, UTF-7, any multi-byte charset. A single-byte charset that agrees with
/// ASCII (ISO-8859-*, windows-125*) reads the same while the body is ASCII.
/// The body as UTF-8, for reading: a `charset` other than UTF-8 names one of the WHATWG
/// Encoding Standard's encodings (UTF-16LE/BE, ISO-8859-*, windows-125*, KOI8, Shift_JIS,
/// GBK, Big5, EUC-*...), whose byte-order mark is dropped; an unknown label (UTF-7,
/// UTF-32, a typo), the `replacement` encoding, or bytes that are not valid in the
/// named charset are refused (`unsupported_charset`). What is forwarded is the body as
/// it was sent.
fn transcode<'b>(content_type: &str, body: &'b [u8]) -> Result<Cow<'b, [u8]>, InspectError> {
    let Some(cs) = param(content_type, "charset") else {
        return Ok(Cow::Borrowed(body));
    };
    let refused = || InspectError::UnsupportedCharset(bounded(&cs.to_ascii_lowercase()));
    let enc = encoding_rs::Encoding::for_label(cs.trim().as_bytes()).ok_or_else(refused)?;
    if enc == encoding_rs::UTF_8 || (enc.is_ascii_compatible() && body.is_ascii()) {
        return Ok(Cow::Borrowed(body));
    }
    if enc == encoding_rs::REPLACEMENT {
        return Err(refused());
    }
    // Decoded into a buffer sized for the text (a UTF-16 body's half, else its size)
    // and grown a quarter at a time, never to the decoder's worst case (1.5 bytes a
    // UTF-16 byte).
    let guess = if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
        body.len() / 2
    } else {
        body.len()
    };
    let mut text = String::with_capacity(guess + 16);
    let mut decoder = enc.new_decoder_with_bom_removal();
    let mut src = body;
    loop {
        let (result, read) = decoder.decode_to_string_without_replacement(src, &mut text, true);
        src = &src[read..];
        match result {
            encoding_rs::DecoderResult::InputEmpty => break,
            encoding_rs::DecoderResult::OutputFull => text.reserve(text.len() / 4 + 64),
            encoding_rs::DecoderResult::Malformed(..) => return Err(refused()),
        }
    }
    Ok(Cow::Owned(text.into_bytes()))
}

fn bounded(s: &str) -> String {
    s.chars().take(64).collect()
}

/// `body` as JSON, with its tree unless the tree outgrows it; else, once the scan has
/// read it whole, without (the walk reads it again, as a stream).
fn sniff_json(body: &[u8]) -> Result<Format<'_>, json::JsonError> {
    match json::parse_within(body, records::TREE_FLOOR)? {
        Some(doc) => Ok(Format::Json(Some(doc))),
        None if json::scans(body) => Ok(Format::Json(None)),
        // Read to its end by serde_json: the error, or the few documents the scan leaves.
        None => json::parse(body).map(|doc| Format::Json(Some(doc))),
    }
}

/// Prose, and also a structured format when it sniffs as one.
fn text_format<'a>(body: &[u8]) -> Format<'a> {
    formats::sniff(body).map_or(Format::Text, Format::TextAnd)
}

fn classify<'a>(
    content_type: Option<&str>,
    body: &'a [u8],
    profile: &Profile,
) -> Result<Format<'a>, InspectError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Format::Empty);
    }
    let ct = content_type.unwrap_or("");
    let essence = essence(ct).to_ascii_lowercase();
    // (the structured formats' labels are none of the others below)
    if let Some(format) = formats::Structured::labelled(&essence, body) {
        return Ok(Format::Structured(format));
    }
    match essence.as_str() {
        "application/json" => return Ok(Format::Json(None)),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines"
        | "application/json-lines" => return Ok(Format::Ndjson),
        e if e.ends_with("+json") => return Ok(Format::Json(None)),
        "application/x-www-form-urlencoded" => return Ok(Format::Form),
        "multipart/form-data"
        | "multipart/mixed"
        | "multipart/related"
        | "multipart/alternative" => {
            // A label without its boundary: the body's first delimiter line names it.
            return multipart::boundary(ct)
                .or_else(|| multipart::sniff_boundary(body))
                .map(Format::Multipart)
                .ok_or(InspectError::InvalidMultipart);
        }
        // Prose may be any format under a `text/*` label: read as what it sniffs as; text
        // that is no other format (NULs and all) stays prose.
        e if e.starts_with("text/") => {
            return match sniffed(body, profile, &essence) {
                Ok(Format::Binary) | Err(InspectError::UnsupportedContentType(_)) => {
                    Ok(Format::Text)
                }
                r => r,
            };
        }
        _ => {}
    }
    sniffed(body, profile, &essence)
}

/// A body with a missing or other content type, as what it really is.
fn sniffed<'a>(
    body: &'a [u8],
    profile: &Profile,
    essence: &str,
) -> Result<Format<'a>, InspectError> {
    // JSON is JSON, lines of JSON are NDJSON, a form is a form, a multipart body is
    // multipart, UTF-8 is text.
    // Anything else cannot be inspected: the profile decides (default: refuse).
    match sniff_json(body) {
        Ok(json) => return Ok(json),
        Err(e @ (json::JsonError::TooDeep | json::JsonError::TooLarge)) => {
            return Err(records::from_json(e));
        }
        Err(_) => {}
    }
    if body.contains(&b'\n')
        && body
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(|l| l.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(l))
            .all(|l| json::scans(l) || json::parse(l).is_ok())
    {
        return Ok(Format::Ndjson);
    }
    if text::looks_like_form(body) {
        return Ok(Format::Form);
    }
    if let Some(b) = multipart::sniff_boundary(body) {
        return Ok(Format::Multipart(b));
    }
    if let Ok(text) = std::str::from_utf8(body)
        && !text.contains('\0')
    {
        return Ok(text_format(body));
    }
    if profile.forward_binary {
        return Ok(Format::Binary);
    }
    Err(InspectError::UnsupportedContentType(
        if essence.is_empty() {
            "(none)".into()
        } else {
            bounded(essence)
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_whatwg_charset_is_read_as_utf8_and_others_are_refused() {
        for (ct, body) in [
            ("application/json", &b"{}"[..]),
            ("text/plain; charset=UTF-8", "é".as_bytes()),
            ("text/plain; charset=\"utf8\"", b"x"),
            ("text/plain; charset=us-ascii", b"x"),
            (
                "application/x-www-form-urlencoded; charset=ISO-8859-1",
                b"a=b",
            ),
            ("text/csv; charset=windows-1252", b"a,b"),
        ] {
            assert!(matches!(transcode(ct, body), Ok(Cow::Borrowed(_))), "{ct}");
        }
        for (ct, body, want) in [
            (
                "application/json; charset=utf-16",
                &b"\xff\xfe{\0}\0"[..],
                "{}",
            ),
            ("application/json; charset=UTF-16BE", b"\0{\0}", "{}"),
            ("text/plain; charset=iso-8859-1", b"Am\xe9lia", "Amélia"),
            ("text/plain; charset=windows-1252", b"\x80 5", "€ 5"),
            ("text/plain; charset=shift_jis", b"\x82\xa0", "あ"),
        ] {
            let got = transcode(ct, body).unwrap();
            assert_eq!(std::str::from_utf8(&got).unwrap(), want, "{ct}");
        }
        for (ct, body) in [
            ("text/plain; charset=UTF-7", &b"a+AEA-b"[..]),
            ("text/plain; charset=utf-32", b"x\0\0\0"),
            ("text/plain; charset=", b"x"),
            ("text/plain; charset=iso-2022-kr", b"\x80"),
            ("text/plain; charset=shift_jis", b"\x82"),
        ] {
            assert_eq!(
                transcode(ct, body).map(|_| ()).map_err(|e| e.reason()),
                Err("unsupported_charset"),
                "{ct}"
            );
        }
    }
}
