//! Property: a record with personal data, serialised in any valid way (key order,
//! whitespace, escapes, field-name spelling, nesting, JSON embedded in a string, form
//! encoding, content-encodings, content types), is always tagged with the same
//! jurisdictions and always meets the same decision.

mod common;

use std::io::Write;
use std::sync::OnceLock;

use customs::decide::Action;
use customs::engine::{RequestView, evaluate_request};
use customs::geo::MaxMindGeo;
use customs::policy::Policy;
use proptest::prelude::*;

struct Subject {
    jurisdictions: &'static [&'static str],
    fields: &'static [(&'static [&'static str], &'static str)],
    chat: Action,
    crm: Action,
}

const SUBJECTS: &[Subject] = &[
    Subject {
        jurisdictions: &["UK"],
        fields: &[
            (&["name", "full_name", "displayName"], "Amelia Hart"),
            (&["email", "Email", "e-mail"], "amelia.hart@example.org"),
            (
                &["phone", "phone_number", "phoneNumber", "PHONE", "mobile"],
                "+44 20 7946 0321",
            ),
            (&["ip", "ip_address", "lastLoginIp"], "81.2.69.142"),
        ],
        chat: Action::Block,
        crm: Action::Reroute,
    },
    Subject {
        jurisdictions: &["US"],
        fields: &[
            (&["email", "emailAddress"], "mark.ellison@example.org"),
            (&["phone", "Phone_Number", "msisdn"], "+1 212 555 0183"),
            (&["ip", "signup_ip", "client-ip"], "8.8.8.8"),
        ],
        chat: Action::Block,
        crm: Action::Allow,
    },
    Subject {
        jurisdictions: &["EEA"],
        fields: &[
            (&["name", "surname"], "Lukas Weber"),
            (&["phone", "tel", "telephone"], "+49 30 901820"),
            (&["ip", "remote_addr"], "85.214.132.117"),
            (&["locale", "lang"], "de-DE"),
        ],
        chat: Action::Block,
        crm: Action::Reroute,
    },
    Subject {
        jurisdictions: &["US", "EEA"],
        fields: &[
            (&["email"], "dual@example.org"),
            (&["nationality", "country", "countryCode"], "US"),
            (&["ip", "last_ip"], "85.214.132.117"),
        ],
        chat: Action::Block,
        crm: Action::Block,
    },
];

fn setup() -> &'static (Policy, MaxMindGeo) {
    static S: OnceLock<(Policy, MaxMindGeo)> = OnceLock::new();
    S.get_or_init(|| {
        let src = common::example_policy(
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            "http://127.0.0.1:3",
        );
        let (p, _) = customs::policy::load(&src).unwrap();
        (
            p,
            MaxMindGeo::open(&common::root().join("geoip/geo-whois-asn-country.mmdb")).unwrap(),
        )
    })
}

/// A tiny deterministic generator driven by the proptest seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn ws(r: &mut Rng) -> &'static str {
    [" ", "", "\n", "\t ", "  \r\n"][r.pick(5)]
}

/// A JSON string literal with some characters as `\u` escapes.
fn lit(s: &str, r: &mut Rng) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if r.pick(4) == 0 && (c as u32) < 0x10000 {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else if c == '"' || c == '\\' {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

fn record_json(sub: &Subject, r: &mut Rng) -> String {
    let mut fields: Vec<(String, String)> = sub
        .fields
        .iter()
        .map(|(names, v)| (names[r.pick(names.len())].to_string(), v.to_string()))
        .collect();
    fields.push(("id".into(), format!("u-{}", r.pick(1000))));
    for i in (1..fields.len()).rev() {
        fields.swap(i, r.pick(i + 1));
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}{}:{}{}", lit(k, r), ws(r), ws(r), lit(v, r)))
        .collect();
    format!(
        "{{{}{}{}}}",
        ws(r),
        body.join(&format!(",{}", ws(r))),
        ws(r)
    )
}

fn wrap(rec: String, r: &mut Rng) -> (String, &'static str) {
    match r.pick(6) {
        0 => (rec, "json"),
        1 => (
            format!("{{\"data\":{{\"items\":[{rec}]}},\"meta\":{{\"n\":1}}}}"),
            "json",
        ),
        2 => (format!("[{rec}]"), "json"),
        3 => (
            serde_json::to_string(&serde_json::json!({"msg_type": "text", "content": rec}))
                .unwrap(),
            "json",
        ),
        // one record per line: NDJSON has no newlines inside a document
        4 => (format!("{}\n", rec.replace(['\n', '\r'], " ")), "ndjson"),
        _ => (
            form_urlencoded::Serializer::new(String::new())
                .append_pair("channel", "C1")
                .append_pair("payload", &rec)
                .finish(),
            "form",
        ),
    }
}

fn encode(body: &[u8], r: &mut Rng) -> (Vec<u8>, Option<&'static str>) {
    match r.pick(5) {
        0 => (body.to_vec(), None),
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body).unwrap();
            (e.finish().unwrap(), Some("gzip"))
        }
        2 => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body).unwrap();
            (e.finish().unwrap(), Some("deflate"))
        }
        3 => {
            let mut out = Vec::new();
            brotli::BrotliCompress(&mut &body[..], &mut out, &Default::default()).unwrap();
            (out, Some("br"))
        }
        _ => (zstd::stream::encode_all(body, 1).unwrap(), Some("zstd")),
    }
}

fn content_type(kind: &str, r: &mut Rng) -> Option<&'static str> {
    match (kind, r.pick(3)) {
        ("json", 0) => Some("application/json"),
        ("json", 1) => Some("text/plain"),
        ("ndjson", 0) => Some("application/x-ndjson"),
        ("form", 0 | 1) => Some("application/x-www-form-urlencoded"),
        (_, 2) => None,
        _ => Some("application/octet-stream"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn same_record_same_tags_same_decision(subject in 0..SUBJECTS.len(), seed in any::<u64>(), to_chat in any::<bool>()) {
        let (policy, geo) = setup();
        let sub = &SUBJECTS[subject];
        let mut r = Rng(seed);
        let rec = record_json(sub, &mut r);
        let (text, kind) = wrap(rec, &mut r);
        let ct = content_type(kind, &mut r);
        let (body, ce) = encode(text.as_bytes(), &mut r);
        let path = if to_chat { "/chat/im/v1/messages" } else { "/crm/v1/contacts" };
        let req = RequestView { absolute_authority: None, method: "POST", host: Some("localhost"), path, query: None, content_type: ct, content_encoding: ce, headers: None, body: &body };
        let ev = evaluate_request(policy, geo, &req).map_err(|e| TestCaseError::fail(format!("refused: {e}\n{text}")))?;
        let mut want: Vec<&str> = sub.jurisdictions.to_vec();
        want.sort();
        let mut got: Vec<&str> = ev.decision.jurisdictions.iter().map(String::as_str).collect();
        got.sort();
        prop_assert_eq!(got, want, "body ({:?}, {:?}):\n{}", ct, ce, text);
        prop_assert_eq!(ev.decision.personal_records, 1, "{}", text);
        let expected = if to_chat { sub.chat } else { sub.crm };
        prop_assert_eq!(ev.decision.action, expected, "{}", text);
    }
}
