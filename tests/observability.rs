//! The dashboard and alert rules use only metrics `/metrics` really exports, and every
//! inspection-failure reason the proxy can give is one the metrics know.

mod common;

use std::collections::BTreeSet;

use common::*;

fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("customs_") {
        let start = i + at;
        let mut end = start;
        while end < b.len()
            && (b[end].is_ascii_lowercase() || b[end] == b'_' || b[end].is_ascii_digit())
        {
            end += 1;
        }
        let prev_ok = start == 0 || !(b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
        if prev_ok {
            out.insert(text[start..end].to_string());
        }
        i = end;
    }
    out
}

#[tokio::test]
async fn dashboard_and_alerts_use_only_exported_metrics() {
    let s = Setup::new().await;
    // One request of each kind, so that unlabelled-until-used series exist too.
    post(
        &s.proxy.url("/crm/a"),
        "application/json",
        fixture("us-user.json"),
    )
    .await;
    post(
        &s.proxy.url("/chat/a"),
        "application/json",
        fixture("chat-message.json"),
    )
    .await;
    let exported = s.proxy.metrics().await;
    let samples: BTreeSet<String> = exported
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    let dashboard =
        std::fs::read_to_string(root().join("deploy/grafana/customs-dashboard.json")).unwrap();
    let _: serde_json::Value =
        serde_json::from_str(&dashboard).expect("the dashboard is valid JSON");
    let alerts =
        std::fs::read_to_string(root().join("deploy/prometheus/customs-alerts.yaml")).unwrap();
    let used: BTreeSet<String> = names_in(&dashboard)
        .into_iter()
        .chain(names_in(&alerts))
        .filter(|n| n != "customs_")
        .collect();
    assert!(used.len() >= 12, "{used:?}");
    let missing: Vec<&String> = used.iter().filter(|n| !samples.contains(*n)).collect();
    assert!(
        missing.is_empty(),
        "used by the dashboard or alerts but not exported: {missing:?}\nexported: {samples:?}"
    );
}

#[test]
fn every_refusal_reason_is_a_known_metric_label() {
    use customs::extract::InspectError;
    let errors = [
        InspectError::InvalidJson { line: 1, column: 1 },
        InspectError::TooDeep,
        InspectError::EmbeddingTooDeep(8),
        InspectError::InvalidUtf8,
        InspectError::UnsupportedContentType("x".into()),
        InspectError::UnsupportedEncoding("x".into()),
        InspectError::InvalidEncoding("gzip".into()),
        InspectError::DecodedTooLarge(1),
        InspectError::InvalidMultipart,
        InspectError::Limit {
            name: "max_records",
            max: 1,
        },
        InspectError::Limit {
            name: "max_string_bytes",
            max: 1,
        },
        InspectError::Limit {
            name: "max_form_fields",
            max: 1,
        },
        InspectError::Limit {
            name: "max_multipart_parts",
            max: 1,
        },
        InspectError::Selector("p".into()),
    ];
    for e in errors {
        assert!(
            customs::metrics::INSPECTION_REASONS.contains(&e.reason()),
            "{} is not initialised",
            e.reason()
        );
    }
}
