//! The metamorphic evasion suite. A US subject's record (an email and a US signal) that
//! also carries a German signal is blocked by the example policy: no region is allowed by
//! both the US and the EEA jurisdiction. Every transformation of that request (another
//! notation of the German signal, another placement of the record, another encoding of
//! the body, and their combinations) must be blocked too, or refused by name: never
//! forwarded. A transformation the readers miss leaves the record looking US-only, and it
//! would be forwarded to the US CRM; that is the failure this suite hunts.
//!
//! Generated, not listed: a notation is one line in `NOTATIONS`, a placement one arm of
//! `Placement`, an encoding one arm of `Encoding`. proptest draws the combinations with a
//! fixed seed; recall is printed per class, and a failing combination is shrunk to the
//! simplest one before the test fails. 5,000 requests go through the engine, 200 (and
//! their controls) through the real proxy over loopback sockets, where what each
//! recording upstream received is searched for the subject under every decoding.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::OnceLock;

use base64::Engine as _;
use common::*;
use customs::decide::Action;
use customs::engine::{RequestView, evaluate_request};
use customs::geo::MaxMindGeo;
use customs::policy::Policy;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed, TestRng, TestRunner};
use serde_json::{Map, Value, json};

const SUBJECT_EMAIL: &str = "lukas.weber@example.org";
const CONTROL_EMAIL: &str = "olivia.carter@example.org";

/// The German signal, one notation per line: (class, field, value as a JSON literal).
/// Every class must keep the US subject's record from the US CRM.
const NOTATIONS: &[(&str, &str, &str)] = &[
    ("alpha2", "nationality", r#""DE""#),
    ("alpha2", "country", r#""de""#),
    ("alpha2", "countryCode", r#"" De ""#),
    ("alpha3", "nationality", r#""DEU""#),
    ("alpha3", "issuing_country", r#""deu""#),
    ("numeric", "country", "276"),
    ("numeric", "country_code", r#""276""#),
    ("name_en", "country", r#""Germany""#),
    ("name_en", "citizenship", r#""GERMANY""#),
    ("name_en", "residence", r#""Federal Republic of Germany""#),
    ("name_local", "country", r#""Deutschland""#),
    ("name_local", "country", r#""Allemagne""#),
    ("name_local", "country", r#""Alemania""#),
    ("name_local", "country", r#""Germania""#),
    ("name_local", "country", r#""Duitsland""#),
    ("name_local", "country", r#""Niemcy""#),
    ("name_local", "country", r#""Alemanha""#),
    ("name_local", "country", r#""Tyskland""#),
    ("name_local", "country", r#""Saksa""#),
    ("name_local", "country", r#""Γερμανία""#),
    ("name_local", "country", r#""Německo""#),
    ("name_local", "country", r#""Németország""#),
    ("adjective", "nationality", r#""German""#),
    ("adjective", "nationality", r#""deutsch""#),
    ("adjective", "nationality", r#""allemande""#),
    ("adjective", "nationality", r#""alemán""#),
    ("adjective", "nationality", r#""tedesca""#),
    ("adjective", "nationality", r#""Duits""#),
    ("adjective", "nationality", r#""tysk""#),
    ("adjective", "nationality", r#""niemiecka""#),
    ("adjective", "citizenship", r#""alemã""#),
    ("adjective", "nationality", r#""německá""#),
    ("adjective", "nationality", r#""német""#),
    ("adjective", "nationality", r#""germană""#),
    ("adjective", "nationality", r#""γερμανική""#),
    ("flag", "country", r#""🇩🇪""#),
    ("time_zone", "time_zone", r#""Europe/Berlin""#),
    ("time_zone", "tz", r#""Europe/Busingen""#),
    ("locale", "locale", r#""de-DE""#),
    ("locale", "locale", r#""de_DE.UTF-8""#),
    ("locale", "language", r#""de-DE-u-co-phonebk""#),
    ("phone", "phone", r#""+49 30 1234567""#),
    ("phone", "mobile", r#""+49 (0)30 123-4567""#),
    ("phone", "phone", r#""tel:+49-30-1234567""#),
    ("phone", "phone", r#""+49 30 1234567 ext. 12""#),
    ("phone", "phone_number", r#""004930 1234567""#),
    ("ip", "ip", r#""85.214.132.117""#),
    ("ip", "client_ip", r#""85.214.132.117:443""#),
    ("ip", "ip_address", r#""::ffff:85.214.132.117""#),
    ("ip", "x_forwarded_for", r#""85.214.132.117, 10.0.0.1""#),
    ("calling_code", "dial_code", r#""+49""#),
    (
        "calling_code",
        "phone",
        r#"{"country_code": "+49", "number": "30 1234567"}"#,
    ),
    ("calling_code", "phone_country_code", "49"),
    ("coordinates", "geo", r#""52.52,13.405""#),
    ("coordinates", "gps", r#""52°31'12\"N 13°24'18\"E""#),
    ("coordinates", "location", r#""POINT(13.405 52.52)""#),
    (
        "coordinates",
        "location",
        r#"{"lat": 52.52, "lng": 13.405}"#,
    ),
    (
        "coordinates",
        "position",
        r#"{"type": "Point", "coordinates": [13.405, 52.52]}"#,
    ),
    (
        "address",
        "address",
        r#""Unter den Linden 1, 10117 Berlin, Germany""#,
    ),
    (
        "address",
        "billing_address",
        r#""Unter den Linden 1\n10117 Berlin\nDeutschland""#,
    ),
    ("iban", "iban", r#""DE89 3704 0044 0532 0130 00""#),
    ("iban", "account", r#""DE89370400440532013000""#),
    (
        "prose_phone",
        "note",
        r#""please call me back on +49 30 1234567 tomorrow""#,
    ),
    (
        "prose_iban",
        "note",
        r#""refund to DE89 3704 0044 0532 0130 00 please""#,
    ),
    (
        "value_object",
        "country",
        r#"{"code": "DE", "name": "Germany"}"#,
    ),
    (
        "value_object",
        "nationality",
        r#"{"iso2": "DE", "flag": "x"}"#,
    ),
    (
        "value_object",
        "phone",
        r#"{"number": "+49 30 1234567", "type": "mobile"}"#,
    ),
    (
        "value_object",
        "timezone",
        r#"{"id": "Europe/Berlin", "offset": 60}"#,
    ),
    ("list", "nationalities", r#"["US", "DE"]"#),
    ("list", "countries", r#"[{"code": "DE"}]"#),
    ("list", "phone_numbers", r#"["+49 30 1234567"]"#),
    (
        "key_value",
        "custom_fields",
        r#"[{"key": "nationality", "value": "DE"}]"#,
    ),
    (
        "key_value",
        "attributes",
        r#"[{"value": "Europe/Berlin", "name": "time_zone"}]"#,
    ),
    (
        "key_value",
        "extra",
        r#"[{"type": "phone", "value": "+49 30 1234567"}]"#,
    ),
    ("unreadable", "nationality", r#""Deutschl4nd""#),
    ("unreadable", "country", r#""Q7""#),
    ("unreadable", "phone", r#""+49 30 12""#),
    ("unreadable", "locale", r#""de-QQ""#),
    ("unreadable", "ip", r#""85.214.999.117""#),
];

/// How the German signal's field name is written, one style per line: every style of a
/// known name is that name.
/// A field name's style: its name, and how it writes a `snake_case` name.
type Style = (&'static str, fn(&str) -> String);

const FIELD_STYLES: &[Style] = &[
    ("as_is", |f| f.to_string()),
    ("camelCase", |f| camel(f, false)),
    ("PascalCase", |f| camel(f, true)),
    ("UPPER_SNAKE", |f| f.to_uppercase()),
    ("kebab-case", |f| f.replace('_', "-")),
    ("spaced words", |f| f.replace('_', " ")),
    ("customer_ prefix", |f| format!("customer_{f}")),
    ("userPrefix", |f| format!("user{}", camel(f, true))),
    ("Sender prefix", |f| format!("Sender{}", camel(f, true))),
    ("X-User- header style", |f| {
        format!("X-User-{}", f.replace('_', "-"))
    }),
    ("Cyrillic lookalikes", |f| {
        f.chars()
            .map(|c| match c {
                'o' => '\u{043e}',
                'a' => '\u{0430}',
                'e' => '\u{0435}',
                'c' => '\u{0441}',
                'p' => '\u{0440}',
                c => c,
            })
            .collect()
    }),
    ("full-width", |f| {
        f.chars()
            .map(|c| match c {
                '!'..='~' => char::from_u32(u32::from(c) - 0x21 + 0xFF01).unwrap_or(c),
                c => c,
            })
            .collect()
    }),
];

fn camel(f: &str, upper_first: bool) -> String {
    let mut out = String::new();
    for (i, w) in f.split('_').enumerate() {
        let mut c = w.chars();
        if let Some(first) = c.next() {
            if i > 0 || upper_first {
                out.extend(first.to_uppercase());
            } else {
                out.push(first);
            }
            out.push_str(c.as_str());
        }
    }
    out
}

/// The US signal every base record carries, one per line: (field, value).
const US_SIGNALS: &[(&str, &str)] = &[
    ("last_login_ip", "8.8.8.8"),
    ("phone_home", "+1 415 555 0132"),
    ("billing_country", "US"),
];

/// The record: a subject's email, a US signal and the German one.
#[derive(Debug, Clone)]
struct Subject {
    email: &'static str,
    us: (&'static str, &'static str),
    /// The German signal: its line in `NOTATIONS`.
    german: Option<usize>,
    /// How its field name is written: its line in `FIELD_STYLES`.
    style: usize,
}

impl Subject {
    fn record(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("email".into(), json!(self.email));
        m.insert(self.us.0.into(), json!(self.us.1));
        if let Some(i) = self.german {
            let (_, field, value) = NOTATIONS[i];
            m.insert(
                (FIELD_STYLES[self.style].1)(field),
                serde_json::from_str(value).unwrap(),
            );
        }
        m
    }
    /// The record without its German signal, and the signal's field and value apart.
    fn split(&self) -> (Map<String, Value>, Option<(String, Value)>) {
        let mut m = self.record();
        let german = self.german.map(|i| {
            let field = (FIELD_STYLES[self.style].1)(NOTATIONS[i].1);
            let v = m.remove(&field).unwrap_or(Value::Null);
            (field, v)
        });
        (m, german)
    }

    /// Whether the German signal is in a field the readers know by name (not in one
    /// whose value is read as free text, `note`), so it can be a container's: a scalar,
    /// a list or a value object.
    fn in_a_signal_field(&self) -> bool {
        static TABLE: OnceLock<customs::extract::fields::FieldTable> = OnceLock::new();
        let table = TABLE.get_or_init(|| customs::extract::fields::FieldTable::with_defaults(true));
        self.german
            .is_none_or(|i| table.classify(NOTATIONS[i].1).is_some())
    }

    /// Whether the German signal is a country field's (so a grouping key can be it).
    fn names_a_country(&self) -> bool {
        static TABLE: OnceLock<customs::extract::fields::FieldTable> = OnceLock::new();
        let table = TABLE.get_or_init(|| customs::extract::fields::FieldTable::with_defaults(true));
        self.german.is_none_or(|i| {
            table.classify(NOTATIONS[i].1) == Some(customs::extract::fields::FieldKind::Country)
        })
    }

    fn class(&self) -> &'static str {
        self.german.map_or("control", |i| NOTATIONS[i].0)
    }
    /// The record's fields as strings, for forms, queries, headers and cookies.
    fn fields(&self) -> Vec<(String, String)> {
        self.record()
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                v => (k, v.to_string()),
            })
            .collect()
    }
}

/// A US-only neighbour, for placements that put the subject among others.
fn neighbour() -> Value {
    json!({"email": "ava.jones@example.com", "last_login_ip": "8.8.4.4"})
}

/// Where the record goes in the request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Placement {
    JsonTop,
    JsonNested,
    JsonArrayAmongOthers,
    JsonInString,
    JsonInStringTwice,
    Base64Standard,
    Base64UrlNoPad,
    Base64Wrapped,
    /// The record as a JSON Web Token's payload.
    Jwt,
    /// The record in a `data:` URL (base64, or percent-encoded).
    DataUrlBase64,
    DataUrlPercent,
    Ndjson,
    NdjsonCrlf,
    Form,
    MultipartFields,
    MultipartJsonPart,
    Query,
    Headers,
    Cookies,
    /// The German signal on the batch around the records (before them, or after).
    ContextBefore,
    ContextAfter,
    /// JSON:API: the signal in `meta` beside the record's `attributes`.
    JsonApiMeta,
    /// The signal in the query string, the record in the body.
    QueryContext,
    /// The signal in a header, the record in the body.
    HeaderContext,
    /// The records grouped under their country: `{"by_country": {"DE": [...]}}`.
    GroupedByCountry,
    /// Structured text: the record as a CSV row (comma, semicolon, tab), labelled or not.
    Csv,
    CsvSemicolon,
    Tsv,
    CsvUnlabelled,
    /// Spreadsheet exports: an Excel `sep=;` line, a title line above the header.
    CsvExcelSep,
    CsvPreamble,
    /// The record as XML elements, as attributes, in a SOAP envelope, in a JSON string.
    Xml,
    XmlAttributes,
    Soap,
    XmlInJsonString,
    /// The record as a YAML mapping (labelled, and sent as prose).
    Yaml,
    YamlAsText,
    /// The record as a GraphQL mutation's inline input, as a body and as a JSON `query`.
    GraphqlBody,
    GraphqlInJson,
    /// RFC 7464 JSON text sequence; NDJSON with a byte-order mark on each CRLF line.
    JsonSeq,
    NdjsonBoms,
    /// Label and body disagree: JSON labelled as a form, a form in one JSON string, a
    /// multipart body labelled without its boundary.
    JsonLabelledForm,
    FormInJsonString,
    /// A form as a JSON field's value (a webhook's payload), and percent-encoded whole.
    FormInJsonField,
    FormEncodedInJsonField,
    /// The record in base64 broken into runs of ten, as some clients space it.
    Base64NarrowSpaced,
    /// The record gzipped, then base64, in a JSON field.
    Base64Gzip,
    /// The subject's email in a note instead of an email field: as written, in
    /// full-width letters, with a bracketed `at` and `dot`.
    EmailInNote,
    EmailInNoteFullWidth,
    EmailInNoteBracketed,
    MultipartNoBoundary,
    /// A multipart part in a transfer encoding: quoted-printable, base64.
    MultipartQuotedPrintable,
    MultipartBase64,
}

const PLACEMENTS: &[Placement] = &[
    Placement::JsonTop,
    Placement::JsonNested,
    Placement::JsonArrayAmongOthers,
    Placement::JsonInString,
    Placement::JsonInStringTwice,
    Placement::Base64Standard,
    Placement::Base64UrlNoPad,
    Placement::Base64Wrapped,
    Placement::Jwt,
    Placement::DataUrlBase64,
    Placement::DataUrlPercent,
    Placement::Ndjson,
    Placement::NdjsonCrlf,
    Placement::Form,
    Placement::MultipartFields,
    Placement::MultipartJsonPart,
    Placement::Query,
    Placement::Headers,
    Placement::Cookies,
    Placement::ContextBefore,
    Placement::ContextAfter,
    Placement::JsonApiMeta,
    Placement::QueryContext,
    Placement::HeaderContext,
    Placement::GroupedByCountry,
    Placement::Csv,
    Placement::CsvSemicolon,
    Placement::Tsv,
    Placement::CsvUnlabelled,
    Placement::CsvExcelSep,
    Placement::CsvPreamble,
    Placement::Xml,
    Placement::XmlAttributes,
    Placement::Soap,
    Placement::XmlInJsonString,
    Placement::Yaml,
    Placement::YamlAsText,
    Placement::GraphqlBody,
    Placement::GraphqlInJson,
    Placement::JsonSeq,
    Placement::NdjsonBoms,
    Placement::JsonLabelledForm,
    Placement::FormInJsonString,
    Placement::FormInJsonField,
    Placement::FormEncodedInJsonField,
    Placement::Base64NarrowSpaced,
    Placement::Base64Gzip,
    Placement::EmailInNote,
    Placement::EmailInNoteFullWidth,
    Placement::EmailInNoteBracketed,
    Placement::MultipartNoBoundary,
    Placement::MultipartQuotedPrintable,
    Placement::MultipartBase64,
];

impl Placement {
    /// Whether the placement writes field names as XML or GraphQL names, which not every
    /// field style is (`spaced words`; Cyrillic in GraphQL).
    fn names_fit(self, names: &[String]) -> bool {
        use Placement::*;
        let xml = |n: &String| {
            n.chars()
                .next()
                .is_some_and(|c| c.is_alphabetic() || c == '_')
                && n.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c))
        };
        let graphql = |n: &String| {
            n.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        match self {
            Xml | XmlAttributes | Soap | XmlInJsonString => names.iter().all(xml),
            GraphqlBody | GraphqlInJson => names.iter().all(graphql),
            _ => true,
        }
    }

    fn is_context(self) -> bool {
        use Placement::*;
        matches!(
            self,
            ContextBefore
                | ContextAfter
                | JsonApiMeta
                | QueryContext
                | HeaderContext
                | GroupedByCountry
        )
    }
}

/// How the body is encoded on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    Identity,
    /// JSON bodies: every non-ASCII or letter character of a string as `\uXXXX`.
    UnicodeEscapes,
    CharsetUtf8,
    ByteOrderMark,
    Gzip,
    Deflate,
    Brotli,
    Zstd,
    GzipThenBrotli,
    /// UTF-16 with its charset named: customs does not read it yet, so it must refuse.
    Utf16,
}

const ENCODINGS: &[Encoding] = &[
    Encoding::Identity,
    Encoding::UnicodeEscapes,
    Encoding::CharsetUtf8,
    Encoding::ByteOrderMark,
    Encoding::Gzip,
    Encoding::Deflate,
    Encoding::Brotli,
    Encoding::Zstd,
    Encoding::GzipThenBrotli,
    Encoding::Utf16,
];

#[derive(Debug, Clone)]
struct Case {
    subject: Subject,
    placement: Placement,
    encoding: Encoding,
}

/// A request as the client sends it.
#[derive(Debug, Clone, Default)]
struct Wire {
    query: Option<String>,
    headers: Vec<(String, String)>,
    content_type: Option<String>,
    content_encoding: Option<String>,
    body: Vec<u8>,
}

const BOUNDARY: &str = "metamorphic-7MA4YWxkTrZu0gW";

fn form(fields: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

fn multipart(parts: &[(String, &str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, ct, body) in parts {
        write!(
            out,
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n"
        )
        .unwrap();
        if !ct.is_empty() {
            write!(out, "Content-Type: {ct}\r\n").unwrap();
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    write!(out, "--{BOUNDARY}--\r\n").unwrap();
    out
}

/// `\uXXXX` for every character of every string that is a letter or not ASCII.
fn escaped_json(v: &Value) -> String {
    fn string(s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            if c.is_alphabetic() || !c.is_ascii() {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            } else {
                let lit = serde_json::to_string(&c.to_string()).unwrap();
                out.push_str(&lit[1..lit.len() - 1]);
            }
        }
        out.push('"');
    }
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => string(s, out),
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    walk(x, out);
                }
                out.push(']');
            }
            Value::Object(m) => {
                out.push('{');
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    string(k, out);
                    out.push(':');
                    walk(x, out);
                }
                out.push('}');
            }
            v => out.push_str(&v.to_string()),
        }
    }
    let mut out = String::new();
    walk(v, &mut out);
    out
}

/// A JSON value as a GraphQL input literal (object keys are names, not strings).
fn graphql_literal(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let fields: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}: {}", graphql_literal(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(graphql_literal).collect();
            format!("[{}]", items.join(", "))
        }
        v => v.to_string(),
    }
}

/// The fields as a CSV (or TSV) of a header row and one row, every field quoted.
fn csv_of(fields: &[(String, String)], d: char) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let row = |f: &dyn Fn(&(String, String)) -> String| {
        fields
            .iter()
            .map(f)
            .collect::<Vec<_>>()
            .join(&d.to_string())
    };
    format!("{}\r\n{}\r\n", row(&|(k, _)| q(k)), row(&|(_, v)| q(v)))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

/// The fields as XML elements.
fn xml_of(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("<{k}>{}</{k}>", xml_escape(v)))
        .collect()
}

fn wrapped_base64(b: &[u8]) -> String {
    let s = base64::engine::general_purpose::STANDARD.encode(b);
    s.as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

impl Case {
    /// Whether the encoding applies to the placement (headers and the query have no body
    /// to encode; `\u` escapes exist only in JSON).
    fn fits(placement: Placement, encoding: Encoding) -> bool {
        use Placement::*;
        match placement {
            Query | Headers | Cookies => encoding == Encoding::Identity,
            QueryContext | HeaderContext => encoding != Encoding::Utf16,
            Form | MultipartFields | MultipartJsonPart => encoding != Encoding::UnicodeEscapes,
            Csv
            | CsvSemicolon
            | Tsv
            | CsvUnlabelled
            | Xml
            | XmlAttributes
            | Soap
            | Yaml
            | YamlAsText
            | GraphqlBody
            | MultipartNoBoundary
            | MultipartQuotedPrintable
            | MultipartBase64
            | FormInJsonString => encoding != Encoding::UnicodeEscapes,
            _ => true,
        }
    }

    fn json_body(&self, v: &Value) -> String {
        if self.encoding == Encoding::UnicodeEscapes {
            escaped_json(v)
        } else {
            v.to_string()
        }
    }

    fn wire(&self) -> Wire {
        use Placement::*;
        let record = Value::Object(self.subject.record());
        let text = record.to_string();
        let mut w = Wire::default();
        let json = |w: &mut Wire, body: String| {
            w.content_type = Some("application/json".into());
            w.body = body.into_bytes();
        };
        match self.placement {
            JsonTop => json(&mut w, self.json_body(&record)),
            JsonNested => json(
                &mut w,
                self.json_body(&json!({"data": {"type": "contact", "attributes": record}})),
            ),
            JsonArrayAmongOthers => json(
                &mut w,
                self.json_body(&json!({"contacts": [neighbour(), record, neighbour()]})),
            ),
            JsonInString => json(
                &mut w,
                self.json_body(&json!({"event": "signup", "payload": text})),
            ),
            JsonInStringTwice => json(
                &mut w,
                self.json_body(
                    &json!({"event": "sync", "envelope": json!({"inner": text}).to_string()}),
                ),
            ),
            Base64Standard => json(
                &mut w,
                self.json_body(&json!({
                    "event": "import",
                    "blob": base64::engine::general_purpose::STANDARD.encode(&text),
                })),
            ),
            Base64UrlNoPad => json(
                &mut w,
                self.json_body(&json!({
                    "event": "import",
                    "blob": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&text),
                })),
            ),
            Base64Wrapped => json(
                &mut w,
                self.json_body(
                    &json!({"event": "import", "blob": wrapped_base64(text.as_bytes())}),
                ),
            ),
            Jwt => json(
                &mut w,
                self.json_body(&json!({
                    "event": "login",
                    "id_token": format!(
                        "{}.{}.c2lnbmF0dXJl",
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&text),
                    ),
                })),
            ),
            DataUrlBase64 => json(
                &mut w,
                self.json_body(&json!({
                    "event": "import",
                    "file": format!(
                        "data:application/json;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(&text)
                    ),
                })),
            ),
            DataUrlPercent => json(
                &mut w,
                self.json_body(&json!({
                    "event": "import",
                    "file": format!(
                        "data:application/json,{}",
                        form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20")
                    ),
                })),
            ),
            Ndjson | NdjsonCrlf => {
                let eol = if self.placement == Ndjson {
                    "\n"
                } else {
                    "\r\n"
                };
                let lines = [neighbour(), record, neighbour()];
                let body: Vec<String> = lines.iter().map(|l| self.json_body(l)).collect();
                w.content_type = Some("application/x-ndjson".into());
                w.body = (body.join(eol) + eol).into_bytes();
            }
            Form => {
                w.content_type = Some("application/x-www-form-urlencoded".into());
                w.body = form(&self.subject.fields()).into_bytes();
            }
            MultipartFields => {
                let parts: Vec<_> = self
                    .subject
                    .fields()
                    .into_iter()
                    .map(|(k, v)| (k, "", v.into_bytes()))
                    .collect();
                w.content_type = Some(format!("multipart/form-data; boundary={BOUNDARY}"));
                w.body = multipart(&parts);
            }
            MultipartJsonPart => {
                let parts = [
                    ("title".to_string(), "", b"contact import".to_vec()),
                    ("contact".to_string(), "application/json", text.into_bytes()),
                ];
                w.content_type = Some(format!("multipart/form-data; boundary={BOUNDARY}"));
                w.body = multipart(&parts);
            }
            Query => w.query = Some(form(&self.subject.fields())),
            Headers => {
                for (k, v) in self.subject.fields() {
                    let name = k.replace(['_', ' '], "-").to_lowercase();
                    w.headers.push((format!("x-user-{name}"), v));
                }
            }
            Cookies => {
                let jar: Vec<String> = self
                    .subject
                    .fields()
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                w.headers.push(("cookie".into(), jar.join("; ")));
            }
            ContextBefore | ContextAfter | JsonApiMeta | QueryContext | HeaderContext
            | GroupedByCountry => self.context_wire(&mut w),
            _ => self.structured_wire(&mut w, &record),
        }
        self.encode(&mut w);
        w
    }

    /// The record in a structured text format, or under a label its body disagrees with.
    fn structured_wire(&self, w: &mut Wire, record: &Value) {
        use Placement::*;
        let fields = self.subject.fields();
        let text = record.to_string();
        let (ct, body): (Option<&str>, String) = match self.placement {
            Csv => (Some("text/csv"), csv_of(&fields, ',')),
            CsvSemicolon => (Some("text/csv"), csv_of(&fields, ';')),
            Tsv => (Some("text/tab-separated-values"), csv_of(&fields, '\t')),
            CsvUnlabelled => (None, csv_of(&fields, ',')),
            CsvExcelSep => (Some("text/csv"), format!("sep=;\r\n{}", csv_of(&fields, ';'))),
            CsvPreamble => (
                Some("text/csv"),
                format!("Contacts export 2026-12-04\r\n\r\n{}", csv_of(&fields, ',')),
            ),
            Xml => (Some("application/xml"), format!("<?xml version=\"1.0\"?><contacts>{}</contacts>", xml_of(&fields))),
            XmlAttributes => {
                let attrs: String = fields
                    .iter()
                    .map(|(k, v)| format!(" {k}=\"{}\"", xml_escape(v)))
                    .collect();
                (Some("application/xml"), format!("<contacts><contact{attrs}/></contacts>"))
            }
            Soap => (
                Some("text/xml"),
                format!(
                    "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><c:Create xmlns:c=\"urn:crm\">{}</c:Create></s:Body></s:Envelope>",
                    xml_of(&fields).replace('<', "<c:").replace("<c:/", "</c:")
                ),
            ),
            XmlInJsonString => (
                Some("application/json"),
                json!({"event": "import", "payload": format!("<contact>{}</contact>", xml_of(&fields))}).to_string(),
            ),
            Yaml | YamlAsText => {
                let mut y = String::from("contacts:\n");
                for (i, (k, v)) in record.as_object().unwrap().iter().enumerate() {
                    let dash = if i == 0 { "- " } else { "  " };
                    y.push_str(&format!("  {dash}{}: {v}\n", Value::String(k.clone())));
                }
                let ct = if self.placement == Yaml { "application/yaml" } else { "text/plain" };
                (Some(ct), y)
            }
            GraphqlBody | GraphqlInJson => {
                let input: Vec<String> = record
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", graphql_literal(v)))
                    .collect();
                let q = format!("mutation {{ createContact(input: {{{}}}) {{ id }} }}", input.join(", "));
                if self.placement == GraphqlBody {
                    (Some("application/graphql"), q)
                } else {
                    (Some("application/json"), json!({"query": q, "variables": {}}).to_string())
                }
            }
            JsonSeq => (
                Some("application/json-seq"),
                format!("\u{1e}{}\n\u{1e}{}\n", neighbour(), self.json_body(record)),
            ),
            NdjsonBoms => (
                Some("application/x-ndjson"),
                format!("\u{feff}{}\r\n\u{feff}{}\r\n", neighbour(), self.json_body(record)),
            ),
            JsonLabelledForm => (Some("application/x-www-form-urlencoded"), self.json_body(record)),
            FormInJsonString => (Some("application/json"), Value::String(form(&fields)).to_string()),
            FormInJsonField => (
                Some("application/json"),
                self.json_body(&json!({"event": "webhook", "payload": form(&fields)})),
            ),
            FormEncodedInJsonField => (
                Some("application/json"),
                self.json_body(&json!({
                    "event": "webhook",
                    "payload": form_urlencoded::byte_serialize(form(&fields).as_bytes()).collect::<String>(),
                })),
            ),
            EmailInNote | EmailInNoteFullWidth | EmailInNoteBracketed => {
                let mut m = record.as_object().unwrap().clone();
                let email = m.remove("email").and_then(|e| e.as_str().map(str::to_string)).unwrap();
                let written = match self.placement {
                    EmailInNote => email,
                    EmailInNoteFullWidth => email
                        .chars()
                        .map(|c| char::from_u32(c as u32 + 0xFEE0).filter(|_| c.is_ascii_graphic()).unwrap_or(c))
                        .collect(),
                    _ => email.replace('@', " [at] ").replace('.', " (dot) "),
                };
                m.insert("message".into(), json!(format!("please reach me at {written}, thanks")));
                (Some("application/json"), self.json_body(&Value::Object(m)))
            }
            Base64Gzip => (
                Some("application/json"),
                self.json_body(&json!({
                    "event": "import",
                    "blob": base64::engine::general_purpose::STANDARD.encode(gz(text.as_bytes())),
                })),
            ),
            Base64NarrowSpaced => {
                let b = base64::engine::general_purpose::STANDARD.encode(&text);
                let spaced: Vec<&str> = b.as_bytes().chunks(10).map(|c| std::str::from_utf8(c).unwrap()).collect();
                (
                    Some("application/json"),
                    self.json_body(&json!({"event": "import", "blob": spaced.join(" ")})),
                )
            }
            MultipartNoBoundary => {
                let parts = [("contact".to_string(), "application/json", text.into_bytes())];
                (Some("multipart/form-data"), String::from_utf8(multipart(&parts)).unwrap())
            }
            MultipartQuotedPrintable | MultipartBase64 => {
                let (cte, coded) = if self.placement == MultipartQuotedPrintable {
                    ("quoted-printable", quoted_printable::encode_to_str(text.as_bytes()))
                } else {
                    ("base64", wrapped_base64(text.as_bytes()))
                };
                let body = format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"contact\"\r\nContent-Type: application/json\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{coded}\r\n--{BOUNDARY}--\r\n"
                );
                (Some("multipart/mixed; boundary=metamorphic-7MA4YWxkTrZu0gW"), body)
            }
            _ => unreachable!("not a structured placement"),
        };
        w.content_type = ct.map(str::to_string);
        w.body = body.into_bytes();
    }

    /// The record in the body, its German signal on a container or outside the body.
    fn context_wire(&self, w: &mut Wire) {
        use Placement::*;
        let (record, german) = self.subject.split();
        let record = Value::Object(record);
        let (field, value) = german.unwrap_or_else(|| ("note".into(), json!("")));
        let body = match self.placement {
            ContextBefore => {
                let mut m = Map::new();
                m.insert(field.clone(), value.clone());
                m.insert("users".into(), json!([neighbour(), record]));
                Value::Object(m)
            }
            ContextAfter => {
                let mut m = Map::new();
                m.insert("users".into(), json!([record, neighbour()]));
                m.insert(field.clone(), value.clone());
                Value::Object(m)
            }
            JsonApiMeta => {
                let mut meta = Map::new();
                meta.insert(field.clone(), value.clone());
                json!({"data": [{"type": "contacts", "attributes": record, "meta": meta}]})
            }
            GroupedByCountry => {
                let mut groups = Map::new();
                let key = match &value {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                groups.insert(key, json!([record, neighbour()]));
                json!({"report": "contacts", "by_country": groups})
            }
            _ => json!({"users": [record]}),
        };
        let text = match value {
            Value::String(s) => s,
            v => v.to_string(),
        };
        match self.placement {
            QueryContext => w.query = Some(form(&[(field, text)])),
            HeaderContext => {
                let name = field.replace(['_', ' '], "-").to_lowercase();
                w.headers.push((format!("x-user-{name}"), text));
            }
            _ => {}
        }
        w.content_type = Some("application/json".into());
        w.body = self.json_body(&body).into_bytes();
    }

    fn encode(&self, w: &mut Wire) {
        use Encoding::*;
        let ct = w.content_type.clone().unwrap_or_default();
        match self.encoding {
            Identity | UnicodeEscapes => {}
            CharsetUtf8 => w.content_type = Some(format!("{ct}; charset=utf-8")),
            ByteOrderMark => {
                w.body.splice(0..0, *b"\xEF\xBB\xBF");
            }
            Gzip => coded(w, "gzip", gz(&w.body)),
            Deflate => coded(w, "deflate", zlib(&w.body)),
            Brotli => coded(w, "br", br(&w.body)),
            Zstd => coded(w, "zstd", zstd(&w.body)),
            GzipThenBrotli => coded(w, "gzip, br", br(&gz(&w.body))),
            Utf16 => {
                let text = String::from_utf8(w.body.clone()).unwrap();
                let mut b = vec![0xFF, 0xFE];
                for u in text.encode_utf16() {
                    b.extend_from_slice(&u.to_le_bytes());
                }
                w.body = b;
                w.content_type = Some(format!("{ct}; charset=utf-16"));
            }
        }
        fn coded(w: &mut Wire, coding: &str, body: Vec<u8>) {
            w.content_encoding = Some(coding.into());
            w.body = body;
        }
    }
}

// ---------------------------------------------------------------- generators

fn subject() -> impl Strategy<Value = Subject> {
    (
        0..NOTATIONS.len(),
        prop::sample::select(US_SIGNALS),
        // as written, most of the time: the other styles are a class of their own
        prop_oneof![3 => Just(0), 1 => 0..FIELD_STYLES.len()],
    )
        .prop_map(|(i, us, style)| Subject {
            email: SUBJECT_EMAIL,
            us,
            german: Some(i),
            style,
        })
}

/// A placement, then an encoding that fits it.
fn case() -> impl Strategy<Value = Case> {
    (subject(), prop::sample::select(PLACEMENTS))
        .prop_filter("a context holds signal fields", |(s, p)| {
            !p.is_context() || s.in_a_signal_field()
        })
        .prop_filter("a group is named by a country", |(s, p)| {
            *p != Placement::GroupedByCountry || s.names_a_country()
        })
        .prop_filter("header names are ASCII", |(s, p)| {
            let ascii = s
                .german
                .is_none_or(|i| (FIELD_STYLES[s.style].1)(NOTATIONS[i].1).is_ascii());
            ascii || !matches!(p, Placement::Headers | Placement::HeaderContext)
        })
        .prop_filter("header values hold no line break", |(s, p)| {
            let one_line = s.german.is_none_or(|i| !NOTATIONS[i].2.contains("\\n"));
            one_line
                || !matches!(
                    p,
                    Placement::Headers | Placement::HeaderContext | Placement::Cookies
                )
        })
        .prop_filter(
            "an email in prose is the record's when a field holds the rest",
            |(s, p)| {
                // (a phone written as prose beside an email in prose are two records of their
                // own, the email's without a signal: its control would be blocked)
                !matches!(
                    p,
                    Placement::EmailInNote
                        | Placement::EmailInNoteFullWidth
                        | Placement::EmailInNoteBracketed
                ) || s.us.0 != "phone_home"
            },
        )
        .prop_filter("the format can write the field names", |(s, p)| {
            let names: Vec<String> = s.fields().into_iter().map(|(k, _)| k).collect();
            p.names_fit(&names)
        })
        .prop_flat_map(|(subject, placement)| {
            let fitting: Vec<Encoding> = ENCODINGS
                .iter()
                .copied()
                .filter(|e| Case::fits(placement, *e))
                .collect();
            prop::sample::select(fitting).prop_map(move |encoding| Case {
                subject: subject.clone(),
                placement,
                encoding,
            })
        })
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(20261204),
        max_shrink_iters: 2000,
        ..Config::default()
    }
}

/// `n` cases drawn with the suite's fixed seed (and a `salt` to draw another `n`).
fn draw(n: usize, salt: u8) -> Vec<Case> {
    let mut seed = [7u8; 32];
    seed[0] = salt;
    let mut runner = TestRunner::new_with_rng(
        config(n as u32),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    let strategy = case();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

// ---------------------------------------------------------------- the engine

/// What the metamorphic suite adds to the example policy: the default profile also reads
/// the `x-user-*` headers the suite writes, and every cookie.
fn profile_section() -> String {
    let mut headers: Vec<String> = NOTATIONS
        .iter()
        .map(|n| n.1)
        .chain(US_SIGNALS.iter().map(|s| s.0))
        .chain(["email"])
        .flat_map(|f| FIELD_STYLES.iter().map(move |(_, style)| style(f)))
        .filter(|f| f.is_ascii())
        .map(|f| format!("\"x-user-{}\"", f.replace(['_', ' '], "-").to_lowercase()))
        .collect();
    headers.sort();
    headers.dedup();
    format!(
        "\n[profiles.default]\nheaders = [{}]\ncookies = [\"*\"]\n",
        headers.join(", ")
    )
}

fn engine() -> &'static (Policy, MaxMindGeo) {
    static E: OnceLock<(Policy, MaxMindGeo)> = OnceLock::new();
    E.get_or_init(|| {
        let src = example_policy(
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            "http://127.0.0.1:3",
        ) + &profile_section();
        let (p, _) = customs::policy::load(&src).unwrap();
        let g = MaxMindGeo::open(&root().join("geoip/geo-whois-asn-country.mmdb")).unwrap();
        (p, g)
    })
}

/// What the engine makes of a request to the US CRM: its action, or the refusal's name.
fn decide(w: &Wire) -> Result<Action, String> {
    let (policy, geo) = engine();
    let mut h = http::HeaderMap::new();
    for (k, v) in &w.headers {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
        );
    }
    let req = RequestView {
        absolute_authority: None,
        method: "POST",
        host: Some("localhost"),
        path: "/crm/v1/contacts",
        query: w.query.as_deref(),
        content_type: w.content_type.as_deref(),
        content_encoding: w.content_encoding.as_deref(),
        headers: Some(&h),
        body: &w.body,
    };
    match evaluate_request(policy, geo, &req) {
        Ok(ev) => Ok(ev.decision.action),
        Err(r) => Err(format!("{r:?}")),
    }
}

/// Whether the engine kept the subject from the US CRM: blocked, or refused by name.
fn kept_back(c: &Case) -> Result<(), String> {
    match decide(&c.wire()) {
        Ok(Action::Block) | Err(_) => Ok(()),
        Ok(a) => Err(format!("{a:?}")),
    }
}

#[derive(Default)]
struct Tally(BTreeMap<String, (usize, usize)>);

impl Tally {
    fn add(&mut self, class: String, kept: bool) {
        let e = self.0.entry(class).or_default();
        e.1 += 1;
        if kept {
            e.0 += 1;
        }
    }
    fn print(&self, title: &str) {
        println!("{title}");
        for (class, (kept, all)) in &self.0 {
            println!("  {class:<32} {kept:>5}/{all:<5}");
        }
    }
}

#[test]
fn the_plain_forms_are_blocked_and_the_controls_forwarded() {
    for (i, n) in NOTATIONS.iter().enumerate() {
        for us in US_SIGNALS {
            let plain = Case {
                subject: Subject {
                    email: SUBJECT_EMAIL,
                    us: *us,
                    german: Some(i),
                    style: 0,
                },
                placement: Placement::JsonTop,
                encoding: Encoding::Identity,
            };
            assert_eq!(
                decide(&plain.wire()),
                Ok(Action::Block),
                "{n:?} with {us:?}"
            );
            let control = Case {
                subject: Subject {
                    german: None,
                    ..plain.subject.clone()
                },
                ..plain
            };
            assert_eq!(decide(&control.wire()), Ok(Action::Allow), "{us:?}");
        }
    }
}

/// Every placement and encoding of a US-only record is still forwarded: the suite's
/// transformations do not block by accident, so a kept-back subject is kept back for its
/// German signal.
#[test]
fn controls_in_every_placement_are_forwarded() {
    for &placement in PLACEMENTS {
        for &encoding in ENCODINGS {
            if !Case::fits(placement, encoding) {
                continue;
            }
            let c = Case {
                subject: Subject {
                    email: CONTROL_EMAIL,
                    us: US_SIGNALS[0],
                    german: None,
                    style: 0,
                },
                placement,
                encoding,
            };
            match decide(&c.wire()) {
                // (UTF-16 is read under its charset, as every WHATWG charset is)
                Ok(Action::Allow) => {}
                other => panic!("{placement:?} {encoding:?}: {other:?}"),
            }
        }
    }
}

/// Label and body disagree, both ways: every placement's body (each shape customs
/// reads) sent under every label, the subject is blocked or refused by name, never
/// forwarded.
#[test]
fn every_label_on_every_body_shape_keeps_the_subject_back() {
    const LABELS: &[Option<&str>] = &[
        None,
        Some("application/json"),
        Some("application/x-ndjson"),
        Some("application/json-seq"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data"),
        Some("multipart/form-data; boundary=metamorphic-7MA4YWxkTrZu0gW"),
        Some("text/plain"),
        Some("text/html"),
        Some("text/csv"),
        Some("text/tab-separated-values"),
        Some("application/xml"),
        Some("application/yaml"),
        Some("application/graphql"),
        Some("application/octet-stream"),
    ];
    let notations = [0, 7, 10];
    let mut pairs = 0;
    let mut through = Vec::new();
    for &placement in PLACEMENTS {
        if matches!(
            placement,
            Placement::Query | Placement::Headers | Placement::Cookies
        ) || placement.is_context()
        {
            continue;
        }
        for &n in &notations {
            let c = Case {
                subject: Subject {
                    email: SUBJECT_EMAIL,
                    us: US_SIGNALS[0],
                    german: Some(n),
                    style: 0,
                },
                placement,
                encoding: Encoding::Identity,
            };
            let wire = c.wire();
            for &label in LABELS {
                let relabelled = Wire {
                    content_type: label.map(str::to_string),
                    ..wire.clone()
                };
                pairs += 1;
                if let Ok(a) = decide(&relabelled)
                    && a != Action::Block
                {
                    through.push(format!(
                        "{placement:?} as {label:?} ({}): {a:?}",
                        NOTATIONS[n].2
                    ));
                }
            }
        }
    }
    println!("{pairs} label/body pairs, {} forwarded", through.len());
    assert!(through.is_empty(), "{through:#?}");
}

#[test]
fn no_transformation_lets_the_subject_reach_the_us() {
    let cases = draw(5000, 1);
    let mut by = [Tally::default(), Tally::default(), Tally::default()];
    let mut missed = 0;
    let mut through = std::collections::BTreeSet::new();
    for c in &cases {
        let kept = kept_back(c).is_ok();
        missed += usize::from(!kept);
        if !kept {
            let n = c.subject.german.map(|i| NOTATIONS[i]);
            through.insert(format!(
                "{:?} {:?} {n:?} {:?} field style `{}`",
                c.placement, c.encoding, c.subject.us, FIELD_STYLES[c.subject.style].0
            ));
        }
        by[0].add(c.subject.class().to_string(), kept);
        by[0].add(format!("field {}", FIELD_STYLES[c.subject.style].0), kept);
        by[1].add(format!("{:?}", c.placement), kept);
        by[2].add(format!("{:?}", c.encoding), kept);
    }
    by[0].print("recall by notation (kept back / drawn):");
    by[1].print("recall by placement:");
    by[2].print("recall by encoding:");
    println!("{} requests, {missed} reached the US CRM", cases.len());
    for t in &through {
        println!("  through: {t}");
    }
    if missed > 0 {
        // Shrink to the simplest combination that gets through, and fail with it.
        let mut runner = TestRunner::new(config(5000));
        let result = runner.run(&case(), |c| {
            kept_back(&c).map_err(|a| TestCaseError::fail(format!("{a:?} for {:?}", c.wire())))
        });
        panic!(
            "{missed} of {} reached the US CRM; simplest: {result:?}",
            cases.len()
        );
    }
}

// ---------------------------------------------------------------- the proxy

/// Every text the recording upstream could read in what it received: the query and
/// headers, the body under its content codings, and inside that every form value, JSON
/// string (NDJSON lines too), string of JSON in a string, and base64 in either alphabet.
fn readings(r: &Recorded) -> Vec<String> {
    let mut out = vec![r.path_and_query.clone()];
    if let Some((_, q)) = r.path_and_query.split_once('?') {
        out.extend(form_urlencoded::parse(q.as_bytes()).map(|(k, v)| format!("{k}={v}")));
    }
    for (_, v) in &r.headers {
        out.push(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    let mut body = r.body.to_vec();
    if let Some(ce) = r.headers.get("content-encoding") {
        for coding in ce.to_str().unwrap().rsplit(',').map(str::trim) {
            body = undo(coding, &body);
        }
    }
    if body.starts_with(&[0xFF, 0xFE]) {
        let units: Vec<u16> = body[2..]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]))
            .collect();
        // (read on as the text it is, JSON, base64 and all)
        body = String::from_utf16_lossy(&units).into_bytes();
    }
    let text = String::from_utf8_lossy(&body).into_owned();
    out.extend(form_urlencoded::parse(text.as_bytes()).map(|(k, v)| format!("{k}={v}")));
    // Multipart parts in a transfer encoding: quoted-printable, and base64 lines.
    if let Ok(qp) = quoted_printable::decode(text.as_bytes(), quoted_printable::ParseMode::Robust) {
        out.push(String::from_utf8_lossy(&qp).into_owned());
    }
    let b64: String = text
        .lines()
        .filter(|l| {
            l.len() >= 4
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        })
        .collect();
    if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(&b64) {
        out.push(String::from_utf8_lossy(&b).into_owned());
    }
    for line in text.lines().chain([text.as_str()]) {
        let line = line.trim_start_matches(['\u{feff}', '\u{1e}']);
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            strings(&v, &mut out);
        }
    }
    out.push(text);
    out
}

fn undo(coding: &str, b: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    match coding {
        "gzip" => {
            flate2::read::GzDecoder::new(b)
                .read_to_end(&mut out)
                .unwrap();
        }
        "deflate" => {
            flate2::read::ZlibDecoder::new(b)
                .read_to_end(&mut out)
                .unwrap();
        }
        "br" => {
            brotli::BrotliDecompress(&mut &b[..], &mut out).unwrap();
        }
        "zstd" => out = zstd::stream::decode_all(b).unwrap(),
        _ => out = b.to_vec(),
    }
    out
}

/// Every string in `v`, and what each carries as JSON or base64, recursively.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            out.push(s.clone());
            if let Ok(inner) = serde_json::from_str::<Value>(s) {
                strings(&inner, out);
            }
            // What a token's parts and a data: URL carry.
            let pieces: Vec<String> = if let Some(rest) = s.strip_prefix("data:")
                && let Some((meta, data)) = rest.split_once(',')
            {
                if meta.ends_with(";base64") {
                    vec![data.to_string()]
                } else {
                    vec![
                        form_urlencoded::parse(format!("x={data}").as_bytes())
                            .map(|(_, v)| v.into_owned())
                            .collect(),
                    ]
                }
            } else if s.starts_with("eyJ") {
                s.split('.').map(str::to_string).collect()
            } else {
                vec![]
            };
            for p in pieces {
                if p != *s {
                    strings(&Value::String(p), out);
                }
            }
            let compact: String = s.split_ascii_whitespace().collect();
            for e in [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ] {
                if let Ok(b) = e.decode(&compact)
                    && let Ok(t) = String::from_utf8(if b.starts_with(&[0x1f, 0x8b]) {
                        undo("gzip", &b)
                    } else {
                        b
                    })
                    && !t.is_empty()
                    && t.len() < s.len()
                {
                    strings(&Value::String(t), out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out);
        }),
        _ => {}
    }
}

/// `t` as a reader of it takes an address written in full-width letters or with a
/// bracketed `at` and `dot`.
fn plain_address(t: &str) -> String {
    let folded: String = t
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap(),
            c => c,
        })
        .collect();
    folded.replace(" [at] ", "@").replace(" (dot) ", ".")
}

fn holds(r: &Recorded, needle: &str) -> bool {
    let mut all = readings(r);
    let plain: Vec<String> = all.iter().map(|t| plain_address(t)).collect();
    all.extend(plain);
    // and every reading percent-decoded as a form (a form inside a JSON string)
    all.iter().any(|t| {
        t.contains(needle)
            || form_urlencoded::parse(t.as_bytes())
                .any(|(k, v)| k.contains(needle) || v.contains(needle))
    })
}

async fn through(s: &Setup, client: &TestClient, c: &Case) -> http::StatusCode {
    let w = c.wire();
    let url = match &w.query {
        Some(q) => s.proxy.url(&format!("/crm/v1/contacts?{q}")),
        None => s.proxy.url("/crm/v1/contacts"),
    };
    let mut b = http::Request::post(url);
    for (k, v) in &w.headers {
        b = b.header(
            k.as_str(),
            http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
        );
    }
    if let Some(ct) = &w.content_type {
        b = b.header("content-type", ct.as_str());
    }
    if let Some(ce) = &w.content_encoding {
        b = b.header("content-encoding", ce.as_str());
    }
    let body = http_body_util::Full::new(bytes::Bytes::from(w.body));
    send(client, b.body(body).unwrap()).await.0
}

/// 200 drawn transformations through the real proxy, each followed by a US-only control
/// in the same placement and encoding. The subject reaches no upstream in any reading of
/// what the upstreams received; each control reaches the US CRM, and the same search
/// finds its email there (so the search reads every placement and encoding).
#[tokio::test]
async fn through_the_proxy_no_transformation_delivers_the_subject() {
    let s = Setup::with(|src| src + &profile_section()).await;
    let client = http1();
    let mut by = Tally::default();
    let cases = draw(200, 2);
    for (n, c) in cases.iter().enumerate() {
        let status = through(&s, &client, c).await;
        assert!(status == 403 || status.is_client_error(), "{c:?}: {status}");
        by.add(format!("{:?}", c.placement), s.total_received() == n);
        assert_eq!(s.total_received(), n, "{c:?} was forwarded");
        let control = Case {
            subject: Subject {
                email: CONTROL_EMAIL,
                german: None,
                ..c.subject.clone()
            },
            ..c.clone()
        };
        let status = through(&s, &client, &control).await;
        assert_eq!(status, 200, "control of {c:?}");
        let got = s.crm_us.received();
        assert_eq!(got.len(), n + 1, "control of {c:?}");
        assert!(
            holds(&got[n], CONTROL_EMAIL),
            "the search cannot read {:?} {:?}",
            c.placement,
            c.encoding
        );
    }
    by.print("through the proxy, kept back by placement:");
    for r in s.crm_us.received().iter().chain(&s.crm_eu.received()) {
        assert!(!holds(r, SUBJECT_EMAIL), "the subject reached an upstream");
    }
    assert_eq!(s.crm_eu.count() + s.chat.count(), 0);
}
