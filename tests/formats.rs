//! Structured text read as structures: CSV, TSV, XML/SOAP, YAML, GraphQL and JSON text
//! sequences, labelled or sniffed, and bodies whose label and shape disagree. Each test
//! sends real HTTP through the proxy to recording upstreams and asserts what each one
//! received: a German subject goes to the EU CRM (never the US one), a US subject and
//! the must-not-block controls reach the US CRM byte for byte, and what a reader refuses
//! reaches no one.

mod common;

use common::*;
use http::StatusCode;

/// A German subject in every format, as (content type, body).
fn german() -> Vec<(&'static str, String)> {
    let csv = "email,country,plan\r\nlukas.weber@example.org,DE,premium\r\n";
    let xml = r#"<?xml version="1.0"?><contacts><contact id="c1"><email>lukas.weber@example.org</email><country>DE</country></contact></contacts>"#;
    let soap = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ns:CreateContact xmlns:ns="urn:crm"><ns:email>lukas.weber@example.org</ns:email><ns:nationality>deutsch</ns:nationality></ns:CreateContact></soapenv:Body></soapenv:Envelope>"#;
    let attrs = r#"<contact email="lukas.weber@example.org" country="DEU"/>"#;
    let props = r#"<contact><property name="email">lukas.weber@example.org</property><property name="country">DE</property></contact>"#;
    let yaml = "contacts:\n  - email: lukas.weber@example.org\n    country: Germany\n";
    let graphql = r#"mutation { createContact(input: {email: "lukas.weber@example.org", country: DE}) { id } }"#;
    let gql_json = serde_json::json!({"query": graphql, "variables": {}}).to_string();
    let seq = "\u{1e}{\"email\":\"lukas.weber@example.org\",\"country\":\"DE\"}\n";
    let ndjson = "\u{feff}{\"plan\":\"free\"}\r\n{\"email\":\"lukas.weber@example.org\",\"country\":\"DE\"}\r\n";
    let qp = "--qp\r\nContent-Disposition: form-data; name=\"contact\"\r\nContent-Type: application/json\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{\"email\":\"lukas.weber=40example.org\",\"coun=\r\ntry\":\"=44E\"}\r\n--qp--\r\n";
    let b64 = format!(
        "--b64\r\nContent-Disposition: form-data; name=\"contact\"; filename=\"c.csv\"\r\nContent-Type: text/csv\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b64--\r\n",
        {
            use base64::Engine as _;
            let e = base64::engine::general_purpose::STANDARD.encode(csv);
            e.as_bytes()
                .chunks(16)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("\r\n")
        }
    );
    let csv_in_json = serde_json::json!({"job": "import", "file": csv}).to_string();
    let yaml_in_json = serde_json::json!({"job": "import", "profile": yaml}).to_string();
    let gz_in_json = {
        use base64::Engine as _;
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(br#"{"email":"lukas.weber@example.org","country":"DE"}"#)
            .unwrap();
        let blob = base64::engine::general_purpose::STANDARD.encode(e.finish().unwrap());
        serde_json::json!({"job": "import", "blob": blob}).to_string()
    };
    let obfuscated = serde_json::json!({"country": "DE", "note": "write to lukas (dot) weber [at] example (dot) org"}).to_string();
    let encoded_form = serde_json::json!({"hook": "signup", "payload": "email%3Dlukas.weber%2540example.org%26country%3DDE"}).to_string();
    vec![
        ("text/csv", format!("sep=;\r\n{}", csv.replace(',', ";"))),
        ("application/json", gz_in_json),
        ("application/json", obfuscated),
        ("application/json", encoded_form),
        ("application/json", csv_in_json),
        ("application/json", yaml_in_json),
        ("multipart/form-data; boundary=qp", qp.into()),
        ("multipart/mixed; boundary=b64", b64),
        ("text/csv", csv.into()),
        ("text/csv; charset=utf-8", csv.replace(',', ";")),
        ("text/tab-separated-values", csv.replace(',', "\t")),
        ("application/xml", xml.into()),
        ("text/xml; charset=utf-8", soap.into()),
        ("application/soap+xml", soap.into()),
        ("application/xml", attrs.into()),
        ("application/xml", props.into()),
        ("application/yaml", yaml.into()),
        ("text/yaml", format!("---\n{yaml}...\n---\nplan: free\n")),
        ("application/graphql", graphql.into()),
        ("application/json", gql_json),
        ("application/json-seq", seq.into()),
        ("application/x-ndjson", ndjson.into()),
    ]
}

#[tokio::test]
async fn a_german_subject_in_every_structured_format_is_rerouted_to_the_eu() {
    let s = Setup::new().await;
    let mut sent = Vec::new();
    for (ct, body) in german() {
        // Labelled, sent as text/plain, and with no content type at all: the same record.
        for label in [Some(ct), Some("text/plain"), None] {
            let mut b = http::Request::post(s.proxy.url("/crm/v1/contacts"));
            if let Some(l) = label {
                b = b.header("content-type", l);
            }
            let req = b
                .body(http_body_util::Full::new(bytes::Bytes::from(body.clone())))
                .unwrap();
            let (status, _, resp) = send(&http1(), req).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{ct} as {label:?}: {}",
                String::from_utf8_lossy(&resp)
            );
            assert_eq!(s.crm_us.count(), 0, "{ct} as {label:?} reached the US CRM");
            sent.push(body.clone());
            let got = s.crm_eu.received();
            assert_eq!(got.len(), sent.len(), "{ct} as {label:?}");
            assert_eq!(
                got.last().unwrap().body,
                body.as_bytes(),
                "{ct} as {label:?}"
            );
        }
    }
}

#[tokio::test]
async fn us_subjects_and_the_must_not_block_controls_reach_the_us_crm_byte_for_byte() {
    let s = Setup::new().await;
    let jwt_part = |v: serde_json::Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let service_token = format!(
        "{}.{}.c2lnbmF0dXJl",
        jwt_part(serde_json::json!({"alg": "HS256", "typ": "JWT"})),
        jwt_part(
            serde_json::json!({"sub": "svc-billing", "scope": "invoices:write", "iss": "auth.internal", "exp": 1893456000})
        )
    );
    let controls: Vec<(&str, String)> = vec![
        ("text/csv", "country,signups\r\nDE,120\r\nFR,87\r\nUS,301\r\n".into()),
        (
            "application/xml",
            r#"<?xml version="1.0"?><release version="2.4.0"><date>2026-11-30</date><notes><item>Faster exports for Germany and France</item><item>Fixed a crash on login</item></notes></release>"#.into(),
        ),
        (
            "application/json",
            serde_json::json!({"query": "query Products($first: Int = 10) { products(first: $first, country: DE, category: \"books\") { id name price } }", "variables": {"first": 20}}).to_string(),
        ),
        ("application/graphql", "{ products(first: 10, region: EU) { id name } }".into()),
        ("application/yaml", "service: billing\nregions:\n  - DE\n  - US\nreplicas: 3\n".into()),
        (
            "application/json",
            serde_json::json!({"job": "invoice-sync", "token": service_token}).to_string(),
        ),
        (
            "text/csv",
            "email,country\r\nolivia.carter@example.org,US\r\n".into(),
        ),
        (
            "application/xml",
            "<user><email>olivia.carter@example.org</email><country>US</country></user>".into(),
        ),
    ];
    for (n, (ct, body)) in controls.iter().enumerate() {
        let (status, _, resp) = post(&s.proxy.url("/crm/v1/contacts"), ct, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{ct} {body}: {}",
            String::from_utf8_lossy(&resp)
        );
        let got = s.crm_us.received();
        assert_eq!(got.len(), n + 1, "{ct} {body}");
        assert_eq!(got[n].body, body.as_bytes(), "{ct} {body}");
    }
    assert_eq!(s.crm_eu.count(), 0);
}

#[tokio::test]
async fn what_a_reader_refuses_reaches_no_one_with_its_named_reason() {
    let s = Setup::new().await;
    let mut lol =
        String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (i, c) in ('b'..='i').enumerate() {
        let p = (b'a' + i as u8) as char;
        lol.push_str(&format!(
            "{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        ));
    }
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "application/xml",
            r#"<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]><c><email>lukas.weber@example.org</email><n>&x;</n></c>"#.into(),
            400,
            "xml_dtd_refused",
        ),
        (
            "text/xml",
            "<c><email>lukas.weber@example.org</email><country>DE</c>".into(),
            400,
            "invalid_xml",
        ),
        ("application/yaml", lol, 413, "yaml_alias_expansion"),
        (
            "application/yaml",
            "email: lukas.weber@example.org\ncountry: [DE\n".into(),
            400,
            "invalid_yaml",
        ),
        (
            "application/graphql",
            r#"mutation { c(input: {email: "lukas.weber@example.org", country: DE) }"#.into(),
            400,
            "invalid_graphql",
        ),
        ("text/csv", "email,country\r\n\u{0}\u{ff}".into(), 200, ""),
    ];
    let mut refused = 0;
    for (ct, body, status, reason) in &cases {
        if *status == 200 {
            continue;
        }
        let (got, headers, resp) = post(&s.proxy.url("/crm/v1/contacts"), ct, body.clone()).await;
        assert_eq!(
            got.as_u16(),
            *status,
            "{reason}: {}",
            String::from_utf8_lossy(&resp)
        );
        assert_eq!(headers["content-type"], "application/problem+json");
        let problem = json(&resp);
        assert_eq!(problem["reason"], *reason, "{problem}");
        assert!(
            !String::from_utf8_lossy(&resp).contains("lukas"),
            "{problem}"
        );
        refused += 1;
    }
    assert_eq!(s.total_received(), 0, "a refused body reached an upstream");
    let m = s.proxy.metrics().await;
    for (_, _, status, reason) in &cases {
        if *status != 200 {
            let series = format!("customs_inspection_failures_total{{reason=\"{reason}\"}}");
            assert!(metric(&m, &series) >= 1.0, "{series}");
        }
    }
    assert_eq!(refused, 5);
}

#[tokio::test]
async fn a_label_that_disagrees_with_the_body_never_hides_the_subject() {
    let s = Setup::new().await;
    let record = r#"{"email":"lukas.weber@example.org","country":"DE"}"#;
    let form = "email=lukas.weber%40example.org&country=DE";
    let multipart = "--b0undary\r\nContent-Disposition: form-data; name=\"profile\"\r\nContent-Type: application/json\r\n\r\n{\"email\":\"lukas.weber@example.org\",\"country\":\"DE\"}\r\n--b0undary--\r\n";
    // (label, body, rerouted): the readings that replace a degenerate one reroute; a CSV
    // label's reading counts beside the sniffed one, and a one-line document read as CSV
    // is a headerless row of data (an email with no signal: unknown), so those block.
    let cases: Vec<(&str, String, bool)> = vec![
        // A JSON document labelled as a form is one key without a value as a form.
        ("application/x-www-form-urlencoded", record.into(), true),
        // A form in a JSON string.
        (
            "application/json",
            serde_json::to_string(form).unwrap(),
            true,
        ),
        // A multipart body without its boundary parameter.
        ("multipart/form-data", multipart.into(), true),
        // JSON and XML labelled as CSV (the XML, one cell, is read as XML there).
        ("text/csv", record.into(), false),
        (
            "text/csv",
            "<c><email>lukas.weber@example.org</email><country>DE</country></c>".into(),
            true,
        ),
        // A form and YAML labelled as prose.
        ("text/plain", form.into(), true),
        (
            "text/plain; charset=utf-8",
            "email: lukas.weber@example.org\ncountry: DE\n".into(),
            true,
        ),
        // CSV labelled as a form.
        (
            "application/x-www-form-urlencoded",
            "email,country\nlukas.weber@example.org,DE\n".into(),
            true,
        ),
    ];
    let mut rerouted = 0;
    for (ct, body, reroutes) in &cases {
        let (status, _, resp) = post(&s.proxy.url("/crm/v1/contacts"), ct, body.clone()).await;
        let why = format!("{ct} {body}: {status} {}", String::from_utf8_lossy(&resp));
        assert_eq!(s.crm_us.count(), 0, "{why}");
        if *reroutes {
            assert_eq!(status, StatusCode::OK, "{why}");
            rerouted += 1;
            // Every reading found the German subject: rerouted, byte for byte.
            assert_eq!(s.crm_eu.count(), rerouted, "{why}");
            assert_eq!(
                s.crm_eu.received()[rerouted - 1].body,
                body.as_bytes(),
                "{why}"
            );
        } else {
            assert_eq!(status, StatusCode::FORBIDDEN, "{why}");
        }
    }
}

#[tokio::test]
async fn a_dtd_is_refused_however_the_xml_is_labelled_and_a_header_that_is_data_is_read() {
    let s = Setup::new().await;
    let dtd = r#"<!DOCTYPE c [<!ENTITY x "y">]><c><email>lukas.weber@example.org</email><last_login_ip>8.8.8.8</last_login_ip><country>DE</country></c>"#;
    let in_json = serde_json::json!({"email": "olivia.carter@example.org", "last_login_ip": "8.8.8.8", "payload": dtd}).to_string();
    for (ct, body) in [
        (Some("text/plain"), dtd.to_string()),
        (None, dtd.to_string()),
        (Some("application/json"), in_json),
    ] {
        let mut b = http::Request::post(s.proxy.url("/crm/v1/contacts"));
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        let req = b
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let (status, _, resp) = send(&http1(), req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{ct:?}");
        assert_eq!(json(&resp)["reason"], "xml_dtd_refused", "{ct:?}");
    }
    // A CSV file without a header row: its first row is data, read as a record (an email
    // with a US address and a German country it cannot name: not forwarded to the US).
    let (status, _, _) = post(
        &s.proxy.url("/crm/v1/contacts"),
        "text/csv",
        "lukas.weber@example.org,8.8.8.8,+49 30 1234567\r\n",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(s.total_received(), 0);
    // An HTML page is prose, its doctype no DTD to refuse.
    let page = "<!DOCTYPE html><html><body><p>Release 2.4 ships on Monday.</p></body></html>";
    let (status, _, _) = post(&s.proxy.url("/crm/v1/contacts"), "text/html", page).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.crm_us.received()[0].body, page.as_bytes());
}
