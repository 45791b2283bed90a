//! The evasion techniques again, one level down: not only is the request stopped, the
//! record is tagged with the right jurisdiction by the right kind of signal. Runs the
//! engine (the same function the proxy calls) on the example policy and bundled GeoIP.

mod common;

use std::io::Write;

use base64::Engine;
use customs::engine::{RequestView, evaluate_request};
use customs::geo::MaxMindGeo;

#[allow(clippy::too_many_arguments)]
fn check(
    name: &str,
    path: &str,
    ct: &str,
    ce: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
    want: &[&str],
    kind: &str,
) {
    let src = common::example_policy(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "http://127.0.0.1:3",
    );
    let (policy, _) = customs::policy::load(&src).unwrap();
    let geo = MaxMindGeo::open(&common::root().join("geoip/geo-whois-asn-country.mmdb")).unwrap();
    let mut h = http::HeaderMap::new();
    for (k, v) in headers {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    let uri: http::Uri = path.parse().unwrap();
    let req = RequestView {
        absolute_authority: None,
        method: "POST",
        host: Some("localhost"),
        path: uri.path(),
        query: uri.query(),
        content_type: Some(ct),
        content_encoding: ce,
        headers: Some(&h),
        body,
    };
    let ev =
        evaluate_request(&policy, &geo, &req).unwrap_or_else(|e| panic!("{name}: refused: {e}"));
    assert_eq!(
        ev.decision.jurisdictions, want,
        "{name}: {:#?}",
        ev.decision.verdicts
    );
    let evidence: Vec<String> = ev
        .decision
        .verdicts
        .iter()
        .flat_map(|v| v.evidence.iter().map(ToString::to_string))
        .collect();
    assert!(
        evidence.iter().any(|e| e.starts_with(kind)),
        "{name}: no `{kind}` evidence in {evidence:?}"
    );
}

const J: &str = "application/json";

#[test]
fn field_name_variants() {
    for k in [
        "Phone_Number",
        "phoneNumber",
        "PHONE",
        "phone-number",
        "Mobile Number",
    ] {
        let body = format!(r#"{{"{k}":"+44 20 7946 0321"}}"#);
        check(
            k,
            "/chat/x",
            J,
            None,
            &[],
            body.as_bytes(),
            &["UK"],
            "phone:GB",
        );
    }
}

#[test]
fn phone_notations() {
    check(
        "0044",
        "/chat/x",
        J,
        None,
        &[],
        br#"{"t":"call 0044 20 7946 0321"}"#,
        &["UK"],
        "text_phone:GB",
    );
    check(
        "nanp",
        "/chat/x",
        J,
        None,
        &[],
        br#"{"t":"call (212) 555-0147"}"#,
        &["US"],
        "text_phone:US",
    );
    check(
        "dots",
        "/chat/x",
        J,
        None,
        &[],
        br#"{"t":"call +44.20.7946.0321"}"#,
        &["UK"],
        "text_phone:GB",
    );
    check(
        "full-width",
        "/chat/x",
        J,
        None,
        &[],
        "{\"t\":\"＋４４ ２０ ７９４６ ０３２１\"}".as_bytes(),
        &["UK"],
        "text_phone:GB",
    );
    check(
        "arabic-indic",
        "/chat/x",
        J,
        None,
        &[],
        "{\"phone\":\"+٤٤ ٢٠ ٧٩٤٦ ٠٣٢١\"}".as_bytes(),
        &["UK"],
        "phone:GB",
    );
    check(
        "msisdn number",
        "/chat/x",
        J,
        None,
        &[],
        br#"{"msisdn":442079460321}"#,
        &["UK"],
        "phone:GB",
    );
    check(
        "escapes",
        "/chat/x",
        J,
        None,
        &[],
        br#"{"t":"call \u002b44 20 7946 0321"}"#,
        &["UK"],
        "text_phone:GB",
    );
    check(
        "national with locale",
        "/chat/x",
        J,
        None,
        &[],
        br#"{"phone":"020 7946 0321","locale":"en-GB"}"#,
        &["UK"],
        "phone:GB",
    );
}

#[test]
fn ip_notations() {
    for ip in [
        "::ffff:81.2.69.142",
        "1359103374",
        "0x5102458e",
        "[::ffff:5102:458e]",
        "81.2.69.142",
    ] {
        let body = format!(r#"{{"email":"a@example.org","ip":"{ip}"}}"#);
        check(
            ip,
            "/chat/x",
            J,
            None,
            &[],
            body.as_bytes(),
            &["UK"],
            "ip:GB",
        );
    }
    check(
        "mapped in text",
        "/chat/x",
        J,
        None,
        &[],
        br#"{"t":"from ::ffff:81.2.69.142"}"#,
        &["UK"],
        "text_ip:GB",
    );
}

#[test]
fn country_notations() {
    for c in ["GB", "gb", "GBR", "United Kingdom", "UK", "Great Britain"] {
        let body = format!(r#"{{"email":"a@example.org","country":"{c}"}}"#);
        check(
            c,
            "/chat/x",
            J,
            None,
            &[],
            body.as_bytes(),
            &["UK"],
            "country_field:GB",
        );
    }
}

#[test]
fn base64_duplicates_and_encodings() {
    let rec = br#"{"phone":"+44 20 7946 0321"}"#;
    let b64 = base64::engine::general_purpose::STANDARD.encode(rec);
    check(
        "base64",
        "/chat/x",
        J,
        None,
        &[],
        format!(r#"{{"p":"{b64}"}}"#).as_bytes(),
        &["UK"],
        "phone:GB",
    );
    let b64u =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("text me at +44 20 7946 0321 ok?");
    check(
        "base64url",
        "/chat/x",
        J,
        None,
        &[],
        format!(r#"{{"p":"{b64u}"}}"#).as_bytes(),
        &["UK"],
        "text_phone:GB",
    );
    check(
        "duplicate",
        "/chat/x",
        J,
        None,
        &[],
        br#"{"email":"a@example.org","country":"GB","country":"US"}"#,
        &["UK", "US"],
        "country_field:GB",
    );
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(rec).unwrap();
    check(
        "gzip",
        "/chat/x",
        J,
        Some("gzip"),
        &[],
        &e.finish().unwrap(),
        &["UK"],
        "phone:GB",
    );
}

#[test]
fn query_headers_cookies_multipart_forms() {
    check(
        "query",
        "/chat/x?phone=%2B44%2020%207946%200321",
        J,
        None,
        &[],
        b"",
        &["UK"],
        "phone:GB",
    );
    check(
        "header",
        "/chat/x",
        J,
        None,
        // `X-User-` is whose phone it is: the header is a phone field
        &[("x-user-phone", "+44 20 7946 0321")],
        b"{}",
        &["UK"],
        "phone:GB",
    );
    check(
        "cookie",
        "/chat/x",
        J,
        None,
        &[("cookie", "a=1; phone=+44 20 7946 0321")],
        b"{}",
        &["UK"],
        "phone:GB",
    );
    let mp = b"--B\r\nContent-Disposition: form-data; name=\"m\"\r\nContent-Type: application/json\r\n\r\n{\"phone\":\"+44 20 7946 0321\"}\r\n--B--\r\n";
    check(
        "multipart",
        "/chat/x",
        "multipart/form-data; boundary=B",
        None,
        &[],
        mp,
        &["UK"],
        "phone:GB",
    );
    check(
        "form",
        "/chat/x",
        "application/x-www-form-urlencoded",
        None,
        &[],
        b"a=1&phone=%2B44+20+7946+0321",
        &["UK"],
        "phone:GB",
    );
    check(
        "chat form fixture",
        "/chat/x",
        "application/x-www-form-urlencoded",
        None,
        &[],
        &common::fixture("chat-message.form"),
        // `text` holds a bare email: no signal, so `unknown`.
        &["US", "unknown"],
        "text_phone:US",
    );
}

/// A multipart form's text fields are one record, as a urlencoded form's are: the email
/// in one part and the phone in another belong to one subject (a file part, or a JSON
/// part, is a record of its own).
#[test]
fn multipart_text_fields_are_one_record() {
    let src = common::example_policy(
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
        "http://127.0.0.1:3",
    );
    let (policy, _) = customs::policy::load(&src).unwrap();
    let geo = MaxMindGeo::open(&common::root().join("geoip/geo-whois-asn-country.mmdb")).unwrap();
    let body = b"--B\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\namelia.hart@example.org\r\n--B\r\nContent-Disposition: form-data; name=\"phone\"\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n+44 20 7946 0321\r\n--B\r\nContent-Disposition: form-data; name=\"cv\"; filename=\"cv.txt\"\r\nContent-Type: text/plain\r\n\r\nwrite to ava.jones@example.com\r\n--B--\r\n";
    let h = http::HeaderMap::new();
    let req = RequestView {
        absolute_authority: None,
        method: "POST",
        host: Some("localhost"),
        path: "/crm/v1/contacts",
        query: None,
        content_type: Some("multipart/form-data; boundary=B"),
        content_encoding: None,
        headers: Some(&h),
        body,
    };
    let ev = evaluate_request(&policy, &geo, &req).unwrap();
    let records: Vec<(String, Vec<String>)> = ev
        .decision
        .verdicts
        .iter()
        .map(|v| {
            (
                v.pointer.to_string(),
                v.jurisdictions.iter().map(|j| j.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(
        records,
        [
            ("/cv".to_string(), vec!["unknown".to_string()]),
            ("".to_string(), vec!["UK".to_string()]),
        ]
    );
}
