//! Fail closed on every signal: a value in a signal field that customs cannot read makes
//! its record's jurisdiction `unknown` (so the example policy, `strictest`, blocks it),
//! never nothing. Placeholders are not signals. Generated, not listed: a US subject's
//! record that the example policy forwards to the US CRM, given one more signal field
//! whose value no reader resolves, is never forwarded; and a subject with a German signal
//! in any notation the readers know is rerouted to the EU CRM, never sent to the US one.

mod common;

use std::sync::OnceLock;

use common::*;
use customs::decide::Action;
use customs::engine::{RequestView, evaluate_request};
use customs::geo::MaxMindGeo;
use customs::policy::Policy;
use http::StatusCode;
use proptest::prelude::*;

fn engine() -> &'static (Policy, MaxMindGeo) {
    static E: OnceLock<(Policy, MaxMindGeo)> = OnceLock::new();
    E.get_or_init(|| {
        let src = example_policy(
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            "http://127.0.0.1:3",
        );
        let (p, _) = customs::policy::load(&src).unwrap();
        let g = MaxMindGeo::open(&root().join("geoip/geo-whois-asn-country.mmdb")).unwrap();
        (p, g)
    })
}

/// The decision for `body` sent to the US CRM, and the first verdict's evidence labels.
fn to_crm(body: &str) -> (Action, Vec<String>, Vec<String>) {
    let (policy, geo) = engine();
    let uri: http::Uri = "/crm/v1/contacts".parse().unwrap();
    let h = http::HeaderMap::new();
    let req = RequestView {
        absolute_authority: None,
        method: "POST",
        host: Some("localhost"),
        path: uri.path(),
        query: None,
        content_type: Some("application/json"),
        content_encoding: None,
        headers: Some(&h),
        body: body.as_bytes(),
    };
    let ev = evaluate_request(policy, geo, &req).unwrap();
    let v = &ev.decision.verdicts[0];
    let evidence = v.evidence_labels();
    let jurisdictions = v.jurisdictions.iter().map(|j| j.to_string()).collect();
    (ev.decision.action, evidence, jurisdictions)
}

fn us_record_with(field: &str, value: &str) -> String {
    serde_json::json!({
        "email": "olivia.carter@example.org",
        "last_login_ip": "8.8.8.8",
        field: value,
    })
    .to_string()
}

#[test]
fn a_us_record_alone_is_forwarded() {
    let (action, evidence, j) = to_crm(&us_record_with("note", "hello"));
    assert_eq!(
        (action, evidence, j),
        (Action::Allow, vec!["ip:US".into()], vec!["US".into()])
    );
}

#[test]
fn an_unreadable_signal_makes_the_record_unknown() {
    for (field, value, kind) in [
        ("nationality", "Deutschl4nd", "country_field"),
        ("country", "Q7", "country_field"),
        ("citizenship", "Kingdom of Nowhere", "country_field"),
        ("locale", "es-419", "locale"),
        ("locale", "en-XY", "locale"),
        ("locale", "not a locale", "locale"),
        ("phone", "not-a-number", "phone"),
        ("phone", "12345", "phone"),
        ("ip", "999.1.2.3", "ip"),
        ("ip", "8.8.8.8, garbage", "ip"),
    ] {
        let (action, evidence, j) = to_crm(&us_record_with(field, value));
        assert_eq!(action, Action::Block, "{field}={value:?}: {evidence:?}");
        assert!(
            evidence.contains(&format!("unreadable:{kind}")),
            "{field}={value:?}: {evidence:?}"
        );
        assert!(
            evidence.contains(&"ip:US".to_string()),
            "the readable one still counts"
        );
        assert_eq!(j, ["US", "unknown"], "{field}={value:?}");
    }
}

#[test]
fn placeholders_and_private_addresses_say_nothing() {
    for (field, value) in [
        ("nationality", "N/A"),
        ("country", "unknown"),
        ("country", "XX"),
        ("country", "-"),
        ("locale", "de"),
        ("locale", "zh-Hant"),
        ("ip", "10.1.2.3"),
        ("ip", "192.168.0.1, 8.8.4.4"),
    ] {
        let (action, evidence, _) = to_crm(&us_record_with(field, value));
        assert_eq!(action, Action::Allow, "{field}={value:?}: {evidence:?}");
        assert!(
            !evidence.iter().any(|e| e.starts_with("unreadable")),
            "{field}={value:?}: {evidence:?}"
        );
    }
}

/// A subject known only by an email and one signal.
fn record_with(field: &str, value: &str) -> String {
    serde_json::json!({"email": "lukas.weber@example.org", field: value}).to_string()
}

#[test]
fn every_address_of_a_list_counts() {
    // X-Forwarded-For style: a US proxy in front of a German client. US and EEA at once:
    // no region allows both, so blocked.
    let (action, evidence, j) = to_crm(&us_record_with(
        "x_forwarded_for",
        "85.214.132.117, 8.8.8.8",
    ));
    assert_eq!(action, Action::Block, "{evidence:?}");
    assert!(evidence.contains(&"ip:DE".to_string()), "{evidence:?}");
    assert_eq!(j, ["EEA", "US"]);
    for v in [
        "85.214.132.117:443",
        "[::ffff:85.214.132.117]:8443",
        "85.214.132.0/24",
        "8.8.8.8,85.214.132.117",
    ] {
        let (action, evidence, _) = to_crm(&record_with("ip", v));
        assert!(evidence.contains(&"ip:DE".to_string()), "{v}: {evidence:?}");
        assert_ne!(action, Action::Allow, "{v}: {evidence:?}");
    }
}

#[test]
fn posix_locales_and_a_byte_order_mark() {
    let (action, evidence, _) = to_crm(&record_with("locale", "de_DE.UTF-8"));
    assert_eq!(action, Action::Reroute, "{evidence:?}");
    assert_eq!(evidence, ["locale:DE"]);
    let bom = format!("\u{feff}{}", record_with("locale", "de-DE"));
    let (action, _, _) = to_crm(&bom);
    assert_eq!(action, Action::Reroute);
}

/// Values no reader resolves: random words and codes that are neither countries nor
/// placeholders. Each, in any signal field, keeps a US record from the US CRM.
fn unreadable_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{5,9}land",
        "[A-Z][0-9]",
        "[0-9]{4}",
        "[a-z]{2}-[0-9]{3}",
        "[A-Z]{2}[0-9]{2}[A-Z]{2}",
    ]
    .prop_filter("readable", |v| {
        customs::country::Country::parse_loose(v).is_none()
            && !customs::extract::signals::placeholder::Placeholders::default().holds(v)
    })
}

/// German in the notations the country reader knows (a new notation is one line here).
fn german() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("DE".to_string()),
        Just("de".to_string()),
        Just("DEU".to_string()),
        Just("deu".to_string()),
        Just("Germany".to_string()),
        Just(" germany ".to_string()),
        Just("GERMANY".to_string()),
        Just("Deutschland".to_string()),
        Just("276".to_string()),
        Just("\u{1F1E9}\u{1F1EA}".to_string()),
        prop::sample::select(
            GERMANY_IN_LANGUAGES
                .iter()
                .map(|(_, n)| n.to_string())
                .collect::<Vec<_>>()
        ),
    ]
}

/// Germany's name, and the nationality's adjective, in the languages of the built-in
/// groups that the signals issue names (CLDR's spellings: `scripts/gen-signal-tables.py`).
const GERMANY_IN_LANGUAGES: &[(&str, &str)] = &[
    ("de", "Deutschland"),
    ("de", "deutsch"),
    ("fr", "Allemagne"),
    ("fr", "allemande"),
    ("es", "Alemania"),
    ("es", "alemán"),
    ("it", "Germania"),
    ("it", "tedesca"),
    ("nl", "Duitsland"),
    ("nl", "Duits"),
    ("pl", "Niemcy"),
    ("pt", "Alemanha"),
    ("sv", "Tyskland"),
    ("da", "Tyskland"),
    // (Norwegian's adjective, which Danish and Swedish share)
    ("da", "tysk"),
    ("fi", "Saksa"),
    ("el", "Γερμανία"),
    ("cs", "Německo"),
    ("hu", "Németország"),
    ("ro", "Germania"),
    ("en", "German"),
];

#[test]
fn germany_is_read_in_the_languages_of_the_groups() {
    let mut missed = Vec::new();
    for (lang, name) in GERMANY_IN_LANGUAGES {
        let (action, evidence, _) = to_crm(&record_with("nationality", name));
        if action != Action::Reroute || evidence != ["country_field:DE"] {
            missed.push(format!("{lang} {name}: {action:?} {evidence:?}"));
        }
    }
    assert!(missed.is_empty(), "{missed:#?}");
    // Adjectives: i18n-nationality's eight languages, and in Polish, Portuguese, Czech,
    // Hungarian, Romanian and Greek the adjectives CLDR's language names are (or, in
    // Czech, are made from), in every gender: a German subject goes to the EU CRM.
    for adjective in [
        "niemiecka",
        "niemiecki",
        "niemieckie",
        "alemã",
        "alemão",
        "německá",
        "německý",
        "německé",
        "német",
        "germană",
        "german",
        "γερμανική",
        "Γερμανικός",
    ] {
        let (action, evidence, _) = to_crm(&record_with("nationality", adjective));
        assert_eq!(
            (action, evidence.clone()),
            (Action::Reroute, vec!["country_field:DE".to_string()]),
            "{adjective}"
        );
    }
    for (adjective, want) in [
        ("francuska", "FR"),
        ("portuguesa", "PT"),
        ("polaca", "PL"),
        ("česká", "CZ"),
        ("magyar", "HU"),
        ("română", "RO"),
        ("ελληνική", "GR"),
        ("hiszpańska", "ES"),
        ("włoska", "IT"),
    ] {
        let (_, evidence, _) = to_crm(&record_with("nationality", adjective));
        assert_eq!(evidence, [format!("country_field:{want}")], "{adjective}");
    }
    // A language of many countries names none: `angielska` (English) is unreadable.
    let (action, evidence, _) = to_crm(&us_record_with("nationality", "angielska"));
    assert_eq!(action, Action::Block, "{evidence:?}");
    assert!(evidence.contains(&"unreadable:country_field".to_string()));
}

/// Through the proxy, each new kind of signal moves a German subject's record to the EU
/// CRM: the US CRM receives nothing, the EU CRM the record as it was sent.
#[tokio::test]
async fn through_the_proxy_new_kinds_of_signal_reroute_to_the_eu() {
    let s = Setup::new().await;
    let cases = [
        ("time_zone", "Europe/Berlin"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("note", "refunds to IBAN DE89 3704 0044 0532 0130 00 please"),
        ("nationality", "Γερμανία"),
        ("citizenship", "allemande"),
        ("residence", "Németország"),
        ("nationality", "niemiecka"),
        ("citizenship", "γερμανική"),
        ("nationality", "germană"),
    ];
    for (n, (field, value)) in cases.iter().enumerate() {
        let body = record_with(field, value);
        let (status, _, b) = post(
            &s.proxy.url("/crm/v1/contacts"),
            "application/json",
            body.clone(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{field}: {}",
            String::from_utf8_lossy(&b)
        );
        assert_eq!(s.crm_us.count(), 0, "{field}");
        let got = s.crm_eu.received();
        assert_eq!(got.len(), n + 1, "{field}");
        assert_eq!(got[n].body, body.as_bytes(), "{field}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        rng_seed: proptest::test_runner::RngSeed::Fixed(20261202),
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_unreadable_signal_lets_a_record_through(
        field in prop::sample::select(vec!["nationality", "citizenship", "country", "issuing_country", "locale", "phone", "ip"]),
        value in unreadable_value(),
    ) {
        // (Digits in an IP field are an address in the legacy integer notation.)
        prop_assume!(field != "ip" || customs::geo::parse_ip(&value).is_none());
        let (action, evidence, _) = to_crm(&us_record_with(field, &value));
        prop_assert_eq!(action, Action::Block, "{}={:?}: {:?}", field, value, evidence);
    }

    #[test]
    fn a_german_signal_in_any_notation_keeps_a_record_from_the_us(
        field in prop::sample::select(vec!["nationality", "citizenship", "country", "issuing_country", "residence"]),
        value in german(),
    ) {
        let (action, evidence, _) = to_crm(&record_with(field, &value));
        prop_assert_eq!(action, Action::Reroute, "{}={:?}: {:?}", field, value, evidence);
    }
}

/// Through the proxy: the record with an unreadable nationality reaches no upstream.
#[tokio::test]
async fn through_the_proxy_an_unreadable_nationality_is_blocked_and_nothing_forwarded() {
    let s = Setup::new().await;
    let body = us_record_with("nationality", "Deutschl4nd");
    let (status, _, b) = post(&s.proxy.url("/crm/v1/contacts"), "application/json", body).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&b)
    );
    let v = json(&b);
    assert_eq!(v["rules"], serde_json::json!(["unknown"]));
    assert_eq!(s.total_received(), 0);
    let m = s.proxy.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"customs_unreadable_signals_total{kind="country_field"}"#
        ),
        1.0
    );
}

#[test]
fn numeric_codes_and_flags_name_countries() {
    for value in [
        serde_json::json!(276),
        serde_json::json!("276"),
        serde_json::json!("\u{1F1E9}\u{1F1EA}"),
    ] {
        let body = serde_json::json!({"email": "lukas.weber@example.org", "nationality": value})
            .to_string();
        let (action, evidence, _) = to_crm(&body);
        assert_eq!(action, Action::Reroute, "{value}: {evidence:?}");
        assert_eq!(evidence, ["country_field:DE"], "{value}");
    }
    // A number that is no country code, in a country field: unreadable, not dropped.
    let body = serde_json::json!({"email": "olivia.carter@example.org", "last_login_ip": "8.8.8.8", "country": 1.5})
        .to_string();
    let (action, evidence, _) = to_crm(&body);
    assert_eq!(action, Action::Block, "{evidence:?}");
    assert!(
        evidence.contains(&"unreadable:country_field".to_string()),
        "{evidence:?}"
    );
}

/// A phone field in a URI or with an extension is read as its number: a German number
/// keeps the record from the US CRM; a value with anything more is unreadable (blocked).
#[test]
fn phone_uris_and_extensions_are_signals() {
    for value in [
        "tel:+49-30-1234567",
        "sip:+49301234567@voip.example.net",
        "+49 30 1234567 ext. 22",
    ] {
        let (action, evidence, _) = to_crm(&record_with("phone", value));
        assert_eq!(action, Action::Reroute, "{value}: {evidence:?}");
    }
    let (action, evidence, _) =
        to_crm(&us_record_with("phone", "+1 415 555 0112 x +49 30 1234567"));
    assert_eq!(action, Action::Block, "{evidence:?}");
}

/// Identifiers whose format names a country are signals in fields and in prose: a NINO
/// says GB, an SSN US, a card nothing (personal, no country).
#[test]
fn identifiers_name_their_country_in_fields_and_prose() {
    for (field, value, want) in [
        ("nino", "AB 12 34 56 C", "identifier:GB"),
        ("note", "her NI number is AB 12 34 56 C", "identifier:GB"),
        ("ssn", "536-90-4399", "identifier:US"),
        ("note", "SSN 536-90-4399 on file", "identifier:US"),
    ] {
        let (action, evidence, _) = to_crm(&record_with(field, value));
        assert!(
            evidence.iter().any(|e| e == want),
            "{field}={value}: {action:?} {evidence:?}"
        );
    }
    let (action, evidence, _) = to_crm(&us_record_with("note", "card 4111 1111 1111 1111"));
    assert_eq!(
        (action, evidence),
        (Action::Allow, vec!["ip:US".to_string()])
    );
}

/// Record context through the proxy: a batch's `country`, JSON:API's `meta` and the
/// query string's `country` give the records below them their signal. German subjects
/// in them go to the EU CRM, byte for byte; a US subject under a German context is
/// blocked; the US CRM receives nothing.
#[tokio::test]
async fn through_the_proxy_a_context_gives_its_records_their_country() {
    let s = Setup::new().await;
    let user = r#"{"email":"lukas.weber@example.org"}"#;
    let rerouted = [
        ("", format!(r#"{{"users":[{user}],"country":"DE"}}"#)),
        (
            "",
            format!(
                r#"{{"data":[{{"type":"people","attributes":{user},"meta":{{"locale":"de-DE"}}}}]}}"#
            ),
        ),
        ("?country=DE", format!(r#"{{"users":[{user}]}}"#)),
        ("?tz=Europe%2FBerlin", user.to_string()),
    ];
    for (n, (query, body)) in rerouted.iter().enumerate() {
        let url = s.proxy.url(&format!("/crm/v1/contacts{query}"));
        let (status, _, b) = post(&url, "application/json", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{body}: {}",
            String::from_utf8_lossy(&b)
        );
        let got = s.crm_eu.received();
        assert_eq!(got.len(), n + 1, "{body}");
        assert_eq!(got[n].body, body.as_bytes(), "{body}");
        assert_eq!(got[n].path_and_query, format!("/crm/v1/contacts{query}"));
    }
    let us_user = r#"{"email":"olivia.carter@example.org","last_login_ip":"8.8.8.8"}"#;
    for (query, body) in [
        ("", format!(r#"{{"country":"DE","users":[{us_user}]}}"#)),
        ("?nationality=deutsch", format!(r#"[{us_user}]"#)),
    ] {
        let url = s.proxy.url(&format!("/crm/v1/contacts{query}"));
        let (status, _, _) = post(&url, "application/json", body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    assert_eq!(s.crm_us.count(), 0);
    assert_eq!(s.crm_eu.count(), rerouted.len());
}

/// A signal field holding an object names its value in members (`code`, `name`,
/// `number`...), and a plural field holds a list: each is read; an unreadable one is
/// unknown; the object's other members (`calling_code`) are not signals.
#[test]
fn signal_objects_and_lists_are_read() {
    for (field, value) in [
        ("country", r#"{"code": "DE", "name": "Germany"}"#),
        ("nationality", r#"{"iso2": "de"}"#),
        ("phone", r#"{"number": "+49 30 1234567", "type": "mobile"}"#),
        ("nationalities", r#"["US", "DE"]"#),
        ("countries", r#"[{"code": "DE"}]"#),
    ] {
        let mut record: serde_json::Value =
            serde_json::from_str(&us_record_with("note", "")).unwrap();
        record[field] = serde_json::from_str(value).unwrap();
        let (action, evidence, j) = to_crm(&record.to_string());
        assert_eq!(action, Action::Block, "{field}: {evidence:?}");
        assert!(j.contains(&"EEA".to_string()), "{field}: {evidence:?}");
    }
    let mut us: serde_json::Value = serde_json::from_str(&us_record_with("note", "")).unwrap();
    us["country"] =
        serde_json::json!({"name": "United States", "code": "US", "calling_code": "+1"});
    assert_eq!(to_crm(&us.to_string()).0, Action::Allow);
    us["country"] = serde_json::json!({"name": "Atlantis"});
    let (action, evidence, _) = to_crm(&us.to_string());
    assert_eq!(action, Action::Block);
    assert!(evidence.contains(&"unreadable:country_field".to_string()));
}

/// Identifiers through the proxy: a NINO or an NHS number in a US subject's record makes
/// it GB too (no region allows both: blocked, nothing forwarded); an SSN alone is US (the
/// US CRM receives the record byte for byte); a card names no country, so a German
/// subject's card still goes to the EU CRM with the rest.
#[tokio::test]
async fn through_the_proxy_identifiers_name_their_country() {
    let s = Setup::new().await;
    let url = s.proxy.url("/crm/v1/contacts");
    for body in [
        us_record_with("nino", "AB 12 34 56 C"),
        us_record_with("note", "NHS number 943 476 5919"),
        us_record_with("note", "her NI number is AB 12 34 56 C"),
    ] {
        let (status, _, _) = post(&url, "application/json", body.clone()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    assert_eq!(s.total_received(), 0);
    let ssn = record_with("ssn", "536-90-4399").replace("lukas.weber", "olivia.carter");
    let (status, _, _) = post(&url, "application/json", ssn.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let got = s.crm_us.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, ssn.as_bytes());
    let german = serde_json::json!({
        "email": "lukas.weber@example.org",
        "iban": "DE89 3704 0044 0532 0130 00",
        "card_number": "4111 1111 1111 1111",
    })
    .to_string();
    let (status, _, _) = post(&url, "application/json", german.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.crm_us.count(), 1, "the German subject went to the US CRM");
    let eu = s.crm_eu.received();
    assert_eq!(eu.len(), 1);
    assert_eq!(eu[0].body, german.as_bytes());
}

/// A US subject's record (email, US IP) with `extra` members added.
fn us_record_plus(extra: serde_json::Value) -> String {
    let mut v = serde_json::json!({
        "email": "olivia.carter@example.org",
        "last_login_ip": "8.8.8.8",
    });
    for (k, x) in extra.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string()
}

#[test]
fn coordinates_name_their_country_in_every_shape() {
    use serde_json::json;
    let berlin = [
        json!({"lat": 52.52, "lng": 13.405}),
        json!({"latitude": "52.52", "longitude": "13.405"}),
        json!({"location": {"lat": 52.52, "lon": 13.405}}),
        json!({"location": {"Latitude": "52,52", "Longitude": "13,405"}}),
        json!({"location": {"x": 13.405, "y": 52.52}}),
        json!({"geo": "52.52,13.405"}),
        json!({"gps": "52.52 13.405"}),
        json!({"coords": [52.52, 13.405]}),
        json!({"location": "geo:52.52,13.405;u=20"}),
        json!({"location": "POINT(13.405 52.52)"}),
        json!({"position": {"type": "Point", "coordinates": [13.405, 52.52]}}),
        json!({"geometry": {"type": "Point", "coordinates": [13.405, 52.52, 34.0]}}),
        json!({"location": "52°31'12\"N 13°24'18\"E"}),
        json!({"latitude": "52°31′N", "longitude": "13°24′E"}),
        json!({"lngLat": [13.405, 52.52]}),
        json!({"home": {"geo": {"lat": 52.52, "lng": 13.405}}}),
    ];
    for extra in berlin {
        let (action, evidence, j) = to_crm(&us_record_plus(extra.clone()));
        assert_eq!(action, Action::Block, "{extra}: {evidence:?}");
        assert!(
            evidence.contains(&"location:DE".to_string()),
            "{extra}: {evidence:?}"
        );
        assert!(j.contains(&"EEA".to_string()), "{extra}: {j:?}");
    }
    // The same shapes in New York keep a US subject American.
    for extra in [
        json!({"lat": 40.71, "lng": -74.0}),
        json!({"geo": "40.71,-74.0"}),
        json!({"geo": "-74.0,40.71"}),
        json!({"position": {"type": "Point", "coordinates": [-74.0, 40.71]}}),
        json!({"location": "40°42'46\"N 74°0'22\"W"}),
        json!({"coords": [-74.0, 40.71]}),
        json!({"location": "San Francisco, CA"}),
        json!({"location": "0,0"}),
        json!({"location": "N/A"}),
    ] {
        let (action, evidence, j) = to_crm(&us_record_plus(extra.clone()));
        assert_eq!(
            (action, j),
            (Action::Allow, vec!["US".to_string()]),
            "{extra}: {evidence:?}"
        );
    }
    // Half a coordinate, a point at sea, or a number that is no coordinate: unknown.
    for extra in [
        json!({"lat": 52.52}),
        json!({"location": {"lat": 52.52, "lng": "east"}}),
        json!({"geo": "55.0,3.0"}),
        json!({"location": "52.52"}),
        json!({"location": 52.52}),
        json!({"geo": "52.5N 13.4N"}),
        json!({"coordinates": [200.0, 95.0]}),
    ] {
        let (action, evidence, j) = to_crm(&us_record_plus(extra.clone()));
        assert_eq!(action, Action::Block, "{extra}: {evidence:?}");
        assert!(
            evidence.contains(&"unreadable:location".to_string()),
            "{extra}: {evidence:?}"
        );
        assert!(j.contains(&"unknown".to_string()), "{extra}: {j:?}");
    }
}

#[test]
fn coordinates_of_places_are_no_one_s() {
    // A list of shops: names and coordinates, nobody's personal data.
    let shops = r#"{"shops": [{"name": "Mitte", "lat": 52.52, "lng": 13.405},
        {"name": "Schwabing", "location": {"type": "Point", "coordinates": [11.58, 48.16]}}]}"#;
    let (policy, geo) = engine();
    let h = http::HeaderMap::new();
    let req = RequestView {
        absolute_authority: None,
        method: "POST",
        host: Some("localhost"),
        path: "/crm/v1/stores",
        query: None,
        content_type: Some("application/json"),
        content_encoding: None,
        headers: Some(&h),
        body: shops.as_bytes(),
    };
    let ev = evaluate_request(policy, geo, &req).unwrap();
    assert_eq!(ev.decision.action, Action::Allow);
    assert!(ev.decision.verdicts.iter().all(|v| v.personal.is_empty()));
    // A person beside the same coordinates is placed by them.
    let (action, evidence, _) = to_crm(&us_record_plus(
        serde_json::json!({"name": "Olivia Carter", "lat": 48.16, "lng": 11.58}),
    ));
    assert_eq!(action, Action::Block, "{evidence:?}");
    assert!(
        evidence.contains(&"location:DE".to_string()),
        "{evidence:?}"
    );
}

#[test]
fn an_address_s_last_component_names_its_country() {
    for (v, want) in [
        (
            "Unter den Linden 1, 10117 Berlin, Germany",
            Some("address:DE"),
        ),
        (
            "Unter den Linden 1\n10117 Berlin\nDeutschland",
            Some("address:DE"),
        ),
        ("12 rue de Rivoli, 75001 Paris, France", Some("address:FR")),
        ("1 Main St, San Francisco, CA 94105", Some("address:US")),
        ("1 Main St, Dover, DE 19901", Some("address:US")),
        ("Unter den Linden 1, 10117 Berlin", None),
    ] {
        let (action, evidence, _) = to_crm(&us_record_with("billing_address", v));
        match want {
            Some(label) => assert!(evidence.contains(&label.to_string()), "{v}: {evidence:?}"),
            None => assert_eq!(evidence, ["ip:US"], "{v}"),
        }
        let us = want.is_none_or(|l| l == "address:US");
        assert_eq!(action == Action::Allow, us, "{v}: {evidence:?}");
    }
}

/// A point well inside Germany (lat 49.5..53, lon 8..12) in a generated notation.
fn german_coordinates() -> impl Strategy<Value = serde_json::Value> {
    coordinates_in(49.5..53.0, 8.0..12.0)
}

/// A point well inside the contiguous United States, away from its borders.
fn us_coordinates() -> impl Strategy<Value = serde_json::Value> {
    coordinates_in(33.0..45.0, -110.0..-85.0)
}

/// A point in the box, in one of the notations customs reads.
fn coordinates_in(
    lat: std::ops::Range<f64>,
    lon: std::ops::Range<f64>,
) -> impl Strategy<Value = serde_json::Value> {
    use serde_json::json;
    (lat, lon, 0usize..10).prop_map(|(lat, lon, shape)| {
        let dms = |v: f64, pos: char, neg: char| {
            // In tenths of a second, so no part rounds up to 60.
            let t = (v.abs() * 36_000.0).round() as u64;
            let (d, m, s) = (t / 36_000, t / 600 % 60, t % 600);
            let (s, tenth) = (s / 10, s % 10);
            format!("{d}°{m}'{s}.{tenth}\"{}", if v >= 0.0 { pos } else { neg })
        };
        match shape {
            0 => json!({"lat": lat, "lng": lon}),
            1 => json!({"latitude": lat.to_string(), "longitude": lon.to_string()}),
            2 => json!({"location": {"lat": lat, "lon": lon}}),
            3 => json!({"geo": format!("{lat:.5},{lon:.5}")}),
            4 => json!({"gps": format!("{lat:.4} {lon:.4}")}),
            5 => json!({"geometry": {"type": "Point", "coordinates": [lon, lat]}}),
            6 => json!({"location": format!("POINT({lon} {lat})")}),
            7 => json!({"location": format!("{} {}", dms(lat, 'N', 'S'), dms(lon, 'E', 'W'))}),
            8 => json!({"location": {"x": lon, "y": lat}}),
            _ => json!({"location": format!("geo:{lat},{lon}")}),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        rng_seed: proptest::test_runner::RngSeed::Fixed(20261204),
        ..ProptestConfig::default()
    })]

    #[test]
    fn us_coordinates_keep_a_us_record_american(extra in us_coordinates()) {
        let (action, evidence, j) = to_crm(&us_record_plus(extra.clone()));
        prop_assert_eq!(action, Action::Allow, "{}: {:?}", extra, evidence);
        prop_assert_eq!(j, vec!["US".to_string()]);
        prop_assert!(evidence.contains(&"location:US".to_string()), "{}: {:?}", extra, evidence);
    }

    #[test]
    fn german_coordinates_keep_a_us_record_from_the_us(extra in german_coordinates()) {
        let (action, evidence, _) = to_crm(&us_record_plus(extra.clone()));
        prop_assert_eq!(action, Action::Block, "{}: {:?}", extra, evidence);
        prop_assert!(evidence.contains(&"location:DE".to_string()), "{}: {:?}", extra, evidence);
    }
}

#[tokio::test]
async fn through_the_proxy_coordinates_addresses_calling_codes_and_listed_contexts_reroute_to_the_eu()
 {
    let s = Setup::new().await;
    let bodies = [
        serde_json::json!({"email": "lukas.weber@example.org", "lat": 52.52, "lng": 13.405}),
        serde_json::json!({"email": "lukas.weber@example.org",
            "location": {"type": "Point", "coordinates": [13.405, 52.52]}}),
        serde_json::json!({"email": "lukas.weber@example.org",
            "address": "Unter den Linden 1, 10117 Berlin, Deutschland"}),
        serde_json::json!({"email": "lukas.weber@example.org",
            "phone": {"country_code": "+49", "number": "30 1234567"}}),
        serde_json::json!({"countries": ["DE"], "users": [{"email": "lukas.weber@example.org"}]}),
    ];
    for (n, body) in bodies.iter().enumerate() {
        let body = body.to_string();
        let (status, _, b) = post(
            &s.proxy.url("/crm/v1/contacts"),
            "application/json",
            body.clone(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{body}: {}",
            String::from_utf8_lossy(&b)
        );
        let got = s.crm_eu.received();
        assert_eq!(got.len(), n + 1, "{body}");
        assert_eq!(got[n].body, body.as_bytes(), "{body}");
    }
    assert_eq!(s.crm_us.count(), 0);
    // Half a coordinate beside a US address: unknown, refused, nothing forwarded.
    let body = us_record_plus(serde_json::json!({"lat": 52.52})).to_string();
    let (status, _, _) = post(&s.proxy.url("/crm/v1/contacts"), "application/json", body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(s.crm_us.count(), 0);
    assert_eq!(s.crm_eu.received().len(), bodies.len());
}

#[test]
fn a_calling_code_apart_from_its_number_is_read_with_it() {
    use serde_json::json;
    // A German number split in two: the calling code names the country, and the
    // national part is read with it.
    for extra in [
        json!({"phone": {"country_code": "+49", "number": "30 1234567"}}),
        json!({"phone": {"calling_code": "49", "number": "030 1234567"}}),
        json!({"phone": {"countryCode": 49, "nationalNumber": "301234567"}}),
        json!({"phone_country_code": "+49", "phone_number": "30 1234567"}),
        json!({"dial_code": "0049", "mobile": "151 12345678"}),
        json!({"country_code": "+49", "phone": "30 1234567"}),
    ] {
        let (action, evidence, j) = to_crm(&us_record_plus(extra.clone()));
        assert_eq!(action, Action::Block, "{extra}: {evidence:?}");
        assert!(
            evidence.iter().any(|e| e.ends_with(":DE")),
            "{extra}: {evidence:?}"
        );
        assert!(j.contains(&"EEA".to_string()), "{extra}: {j:?}");
    }
    // A US number split the same way stays American.
    for extra in [
        json!({"phone": {"country_code": "+1", "number": "415 555 0132"}}),
        json!({"phone_country_code": "1", "phone_number": "(415) 555-0132"}),
        json!({"country_code": "+1", "phone": "415-555-0132"}),
    ] {
        let (action, evidence, j) = to_crm(&us_record_plus(extra.clone()));
        assert_eq!(
            (action, j),
            (Action::Allow, vec!["US".to_string()]),
            "{extra}: {evidence:?}"
        );
    }
    // A code no plan assigns is unreadable.
    let (action, evidence, _) = to_crm(&us_record_plus(json!({"dial_code": "+999"})));
    assert_eq!(action, Action::Block, "{evidence:?}");
    assert!(
        evidence.contains(&"unreadable:calling_code".to_string()),
        "{evidence:?}"
    );
}

/// A German postal address: street, postal code and city, country, in any separator.
fn german_address() -> impl Strategy<Value = String> {
    let country = prop::sample::select(vec![
        "Germany",
        "GERMANY",
        "Deutschland",
        "Allemagne",
        "Alemania",
        "Germania",
        "Niemcy",
        "Německo",
        "Németország",
        "Γερμανία",
        "Tyskland",
        "DE",
        "DEU",
        "🇩🇪",
        "Federal Republic of Germany",
    ]);
    let sep = prop::sample::select(vec![", ", "\n", "\r\n", "; ", ",", " ,\n"]);
    (1u32..200, 10000u32..99999, country, sep).prop_map(|(no, plz, country, sep)| {
        format!("Hauptstraße {no}{sep}{plz} Berlin{sep}{country}")
    })
}

/// A US postal address ending in a state's code and ZIP, or a state's name.
fn us_address() -> impl Strategy<Value = String> {
    let state = prop::sample::select(vec![
        "CA",
        "DE",
        "GA",
        "IN",
        "PA",
        "CO",
        "AL",
        "AR",
        "ME",
        "MD",
        "NE",
        "SC",
        "TN",
        "VA",
        "California",
        "Georgia",
        "New York",
        "New Jersey",
    ]);
    (1u32..9999, 10000u32..99999, state, any::<bool>()).prop_map(|(no, zip, state, with_zip)| {
        if with_zip {
            format!("{no} Main St, Springfield, {state} {zip}")
        } else {
            format!("{no} Main St, Springfield, {state}")
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        rng_algorithm: proptest::test_runner::RngAlgorithm::ChaCha,
        rng_seed: proptest::test_runner::RngSeed::Fixed(20261204),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_german_address_keeps_a_us_record_from_the_us(address in german_address()) {
        let (action, evidence, _) = to_crm(&us_record_with("home_address", &address));
        prop_assert_eq!(action, Action::Block, "{:?}: {:?}", address, evidence);
        prop_assert!(evidence.contains(&"address:DE".to_string()), "{:?}: {:?}", address, evidence);
    }

    #[test]
    fn a_us_address_keeps_a_us_record_american(address in us_address()) {
        let (action, evidence, j) = to_crm(&us_record_with("billing_address", &address));
        prop_assert_eq!(action, Action::Allow, "{:?}: {:?}", address, evidence);
        prop_assert_eq!(j, vec!["US".to_string()]);
    }
}

fn b64url(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// A token whose payload carries `claims`.
fn jwt_with(claims: &str) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64url(r#"{"alg":"HS256","typ":"JWT"}"#),
        b64url(claims)
    )
}

#[test]
fn tokens_data_urls_and_html_references_are_read() {
    // A US subject's record carrying a German signal inside a token, a data: URL, or
    // behind HTML character references: kept from the US CRM.
    for (field, value) in [
        ("session", jwt_with(r#"{"sub":"u1","nationality":"DE"}"#)),
        (
            "id_token",
            jwt_with(r#"{"sub":"u1","locale":"de-DE","zoneinfo":"Europe/Berlin"}"#),
        ),
        (
            "attachment",
            "data:application/json;base64,eyJjb3VudHJ5IjoiREUifQ==".to_string(),
        ),
        (
            "attachment",
            "data:application/json,%7B%22country%22%3A%22DE%22%7D".to_string(),
        ),
        ("note", "call me on &#43;49 30 1234567 please".to_string()),
        (
            "note",
            "call me on &plus;49&nbsp;30&nbsp;1234567".to_string(),
        ),
    ] {
        let (action, evidence, _) = to_crm(&us_record_with(field, &value));
        assert_eq!(action, Action::Block, "{field}={value}: {evidence:?}");
        assert!(
            evidence.iter().any(|e| e.ends_with(":DE")),
            "{field}={value}: {evidence:?}"
        );
    }
    // A token or a data: URL without personal data is only that.
    let token = jwt_with(r#"{"iss":"https://auth.example.org","scope":"read","exp":1767225600}"#);
    let (action, evidence, _) = to_crm(&us_record_with("token", &token));
    assert_eq!(
        (action, evidence),
        (Action::Allow, vec!["ip:US".to_string()])
    );
}

#[tokio::test]
async fn through_the_proxy_an_email_in_html_references_or_a_token_is_personal_data() {
    let s = Setup::new().await;
    // An EU subject hidden from the chat route's readers: the email written with
    // character references, the nationality inside a token.
    for body in [
        serde_json::json!({"note": "lukas&#46;weber&#64;example&#46;org", "ip": "85.214.132.117"}),
        serde_json::json!({"auth": jwt_with(r#"{"email":"lukas.weber@example.org","nationality":"DE"}"#)}),
    ] {
        let (status, _, b) = post(
            &s.proxy.url("/crm/v1/contacts"),
            "application/json",
            body.to_string(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{body}: {}",
            String::from_utf8_lossy(&b)
        );
        assert_eq!(s.crm_us.count(), 0, "{body}");
    }
    assert_eq!(s.crm_eu.received().len(), 2);
}
