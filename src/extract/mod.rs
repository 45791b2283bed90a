//! Extraction: from a request body to records with their signals and personal fields.
//!
//! Content-type dispatch lives here; [`json`] parses without losing duplicate keys,
//! [`records`] finds the subjects in a document, [`text`] finds personal data in free
//! text, [`tag`] turns signals into countries. Everything is pure: bytes, a compiled
//! policy and a GeoIP handle in, [`Facts`] out. No value of a personal field is kept in
//! [`Facts`]: only pointers, kinds and countries.

pub mod fields;
pub mod json;
pub mod records;
pub mod tag;
pub mod text;

use serde::Serialize;

use crate::country::Country;
use crate::geo::GeoLookup;
use crate::policy::Policy;
use crate::policy::compile::Profile;
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
}

impl SignalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::CountryField => "country_field",
            SignalKind::Ip => "ip",
            SignalKind::Phone => "phone",
            SignalKind::Locale => "locale",
            SignalKind::TextIp => "text_ip",
            SignalKind::TextPhone => "text_phone",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub kind: SignalKind,
    pub country: Country,
    /// JSON pointer of the value that said it.
    pub pointer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonalField {
    pub kind: FieldKind,
    pub pointer: String,
}

/// One subject's data inside the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// JSON pointer of the record (`""` is the whole body). A pointer into a JSON
    /// document embedded in a string is written `OUTER#INNER`, e.g. `/content#/text`.
    pub pointer: String,
    pub personal: Vec<PersonalField>,
    pub evidence: Vec<Evidence>,
    /// Signals that were present but said nothing (a private IP, a national phone
    /// number with no other hint, an unrecognised country name).
    pub unresolved_signals: usize,
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
    #[error("the body nests deeper than 128 levels")]
    TooDeep,
    #[error("a JSON document embedded in a string nests more than {0} levels of embedding")]
    EmbeddingTooDeep(usize),
    #[error("the body is not valid UTF-8 text")]
    InvalidUtf8,
    #[error("content type `{0}` cannot be inspected")]
    UnsupportedContentType(String),
    #[error("content encoding `{0}` cannot be decoded")]
    UnsupportedEncoding(String),
    #[error("a selector of profile `{0}` could not be applied")]
    Selector(String),
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
            InspectError::UnsupportedEncoding(_) => "unsupported_content_encoding",
            InspectError::Selector(_) => "selector_failed",
        }
    }
}

/// What extraction needs to know about the request besides its body.
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyMeta<'a> {
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
}

/// Extracts and tags every record in `body`.
pub fn extract(
    policy: &Policy,
    profile: &Profile,
    geo: &dyn GeoLookup,
    meta: BodyMeta<'_>,
    body: &[u8],
) -> Result<Facts, InspectError> {
    if let Some(enc) = meta.content_encoding {
        let enc = enc.trim();
        if !enc.is_empty() && !enc.eq_ignore_ascii_case("identity") {
            return Err(InspectError::UnsupportedEncoding(bounded(enc)));
        }
    }
    let mut walker = records::Walker::new(&policy.fields, profile);
    let format = match classify(meta.content_type, body)? {
        Format::Empty => "empty",
        Format::Json => {
            walker.document(body)?;
            "json"
        }
        Format::Ndjson => {
            for (i, line) in body.split(|b| *b == b'\n').enumerate() {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.iter().all(|b| b.is_ascii_whitespace()) {
                    continue;
                }
                walker.line(i, line)?;
            }
            "ndjson"
        }
        Format::Form => {
            walker.form(body)?;
            "form"
        }
        Format::Text => {
            let text = std::str::from_utf8(body).map_err(|_| InspectError::InvalidUtf8)?;
            walker.text_body(text);
            "text"
        }
    };
    let records = walker
        .finish()
        .into_iter()
        .map(|r| tag::tag(r, geo))
        .collect();
    Ok(Facts {
        records,
        body_bytes: body.len(),
        format,
    })
}

enum Format {
    Empty,
    Form,
    Json,
    Ndjson,
    Text,
}

fn bounded(s: &str) -> String {
    s.chars().take(64).collect()
}

/// `k=v&k2=v2` with only the characters form encoding produces.
fn looks_like_form(body: &[u8]) -> bool {
    body.contains(&b'=')
        && body
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"%+=&-._*~;".contains(b))
        && body
            .split(|b| *b == b'&')
            .all(|pair| !pair.is_empty() && pair.contains(&b'='))
}

fn classify(content_type: Option<&str>, body: &[u8]) -> Result<Format, InspectError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Format::Empty);
    }
    let essence = content_type
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match essence.as_str() {
        "application/json" => return Ok(Format::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines"
        | "application/json-lines" => return Ok(Format::Ndjson),
        e if e.ends_with("+json") => return Ok(Format::Json),
        "application/x-www-form-urlencoded" => return Ok(Format::Form),
        e if e.starts_with("text/") => return Ok(Format::Text),
        _ => {}
    }
    // Missing or other content type: sniff. A body that parses as JSON is JSON, one
    // that parses line by line is NDJSON, valid UTF-8 is text; anything else is refused.
    if json::parse(body).is_ok() {
        return Ok(Format::Json);
    }
    if body.contains(&b'\n')
        && body
            .split(|b| *b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .all(|l| json::parse(l).is_ok())
    {
        return Ok(Format::Ndjson);
    }
    if looks_like_form(body) {
        return Ok(Format::Form);
    }
    if essence.is_empty() || essence == "application/octet-stream" {
        if std::str::from_utf8(body).is_ok() {
            return Ok(Format::Text);
        }
        return Err(InspectError::UnsupportedContentType(
            if essence.is_empty() {
                "(none)".into()
            } else {
                essence
            },
        ));
    }
    if std::str::from_utf8(body).is_ok() && !body.contains(&0) {
        return Ok(Format::Text);
    }
    Err(InspectError::UnsupportedContentType(bounded(&essence)))
}
