//! The built binary on `config/policy.toml` with the payload shapes in
//! `tests/fixtures/`: decisions, exit codes and the JSON output that CI scripts read.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn customs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_customs"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

fn explain(url: &str, fixture: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let body = format!("tests/fixtures/{fixture}");
    let mut args = vec![
        "explain",
        "--config",
        "config/policy.toml",
        "--url",
        url,
        "--body",
        &body,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = customs(&args);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), v)
}

const CHAT: &str = "http://localhost/chat/im/v1/messages";
const CRM: &str = "http://localhost/crm/v1/contacts";

#[test]
fn gb_complainant_in_a_chat_message_string_is_blocked() {
    let (code, v) = explain(CHAT, "chat-message.json", &[]);
    assert_eq!(code, 2);
    assert_eq!(v["action"], "block");
    assert_eq!(v["destination_region"], "cn");
    assert_eq!(v["rules"], serde_json::json!(["UK"]));
    let rec = &v["verdicts"][0];
    assert_eq!(rec["pointer"], "/content");
    assert_eq!(rec["jurisdictions"], serde_json::json!(["UK"]));
    let ev: Vec<&str> = rec["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        ev.contains(&"text_phone:GB") && ev.contains(&"text_ip:GB"),
        "{ev:?}"
    );
}

#[test]
fn aggregate_statistics_pass_to_any_route() {
    for url in [CHAT, CRM] {
        let (code, v) = explain(url, "aggregate-stats.json", &[]);
        assert_eq!(code, 0, "{url}");
        assert_eq!(v["action"], "allow");
        assert_eq!(v["personal_records"], 0);
    }
}

#[test]
fn eea_record_to_crm_is_rerouted_to_crm_eu() {
    for fixture in ["eea-user.json", "support-ticket.json"] {
        let (code, v) = explain(CRM, fixture, &[]);
        assert_eq!(code, 0, "{fixture}");
        assert_eq!(v["action"], "reroute", "{fixture}");
        assert_eq!(v["upstream"], "crm-us");
        assert_eq!(v["target"], "crm-eu");
        assert_eq!(v["jurisdictions"], serde_json::json!(["EEA"]));
    }
}

#[test]
fn support_ticket_national_phone_is_read_with_the_locale() {
    let (_, v) = explain(CRM, "support-ticket.json", &[]);
    let ev: Vec<&str> = v["verdicts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(ev, ["locale:DE", "phone:DE"]);
}

#[test]
fn us_record_to_crm_is_allowed() {
    let (code, v) = explain(CRM, "us-user.json", &[]);
    assert_eq!(code, 0);
    assert_eq!(v["action"], "allow");
    assert_eq!(v["target"], "crm-us");
    assert_eq!(v["jurisdictions"], serde_json::json!(["US"]));
}

#[test]
fn unknown_jurisdiction_follows_the_unknown_setting() {
    let (code, v) = explain(CRM, "unknown-subject.json", &[]);
    assert_eq!(code, 2);
    assert_eq!(v["action"], "block");
    assert_eq!(v["rules"], serde_json::json!(["unknown"]));
    // The same record under a policy that allows unknown data passes.
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(root().join("config/policy.toml")).unwrap();
    let src = src
        .replace("treat_as = \"strictest\"", "treat_as = \"allow\"")
        .replace("../geoip/", &format!("{}/geoip/", root().display()));
    let p = dir.path().join("allow.toml");
    std::fs::write(&p, src).unwrap();
    let out = customs(&[
        "explain",
        "--config",
        p.to_str().unwrap(),
        "--url",
        CRM,
        "--body",
        "tests/fixtures/unknown-subject.json",
        "--format",
        "json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["action"], "allow");
}

#[test]
fn mixed_batch_cannot_be_rerouted_and_is_blocked() {
    let (code, v) = explain(CRM, "batch-users.json", &[]);
    assert_eq!(code, 2);
    assert_eq!(v["action"], "block");
    assert_eq!(v["records"], 6);
    let j: Vec<&str> = v["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        j,
        [
            "/users/0", "/users/1", "/users/2", "/users/3", "/users/4", "/users/5"
        ]
    );
    // Canada is in no jurisdiction of this policy: its subject follows `[unassigned]`
    // (strictest), so it may go nowhere.
    assert_eq!(v["verdicts"][4]["countries"], serde_json::json!(["CA"]));
    assert_eq!(v["verdicts"][4]["outcome"], "violation");
    assert_eq!(v["verdicts"][4]["rules"], serde_json::json!(["unassigned"]));
    assert_eq!(
        v["verdicts"][4]["jurisdictions"],
        serde_json::json!(["unassigned"])
    );
    assert_eq!(v["verdicts"][5]["outcome"], "violation");
}

#[test]
fn moderation_report_has_two_subjects() {
    let (code, v) = explain(CRM, "moderation-report.json", &[]);
    assert_eq!(code, 2);
    assert_eq!(v["verdicts"][0]["pointer"], "/reporter");
    assert_eq!(v["verdicts"][0]["jurisdictions"], serde_json::json!(["UK"]));
    assert_eq!(v["verdicts"][1]["pointer"], "/reported_user");
    assert_eq!(v["verdicts"][1]["jurisdictions"], serde_json::json!(["US"]));
}

#[test]
fn ndjson_export_is_read_line_by_line() {
    let (_, v) = explain(
        CRM,
        "crm-export.ndjson",
        &["-H", "Content-Type: application/x-ndjson"],
    );
    let c: Vec<String> = v["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["countries"].to_string())
        .collect();
    assert_eq!(
        c,
        [
            r#"["US"]"#,
            r#"["DE"]"#,
            r#"["FR"]"#,
            r#"["GB"]"#,
            r#"["BR"]"#,
            r#"["CA","US"]"#
        ]
    );
}

#[test]
fn no_route_is_refused() {
    let (code, v) = explain("http://localhost/elsewhere", "us-user.json", &[]);
    assert_eq!(code, 2);
    assert_eq!(v["action"], "block");
    assert_eq!(v["reasons"], serde_json::json!(["no_route"]));
    assert_eq!(v["status"], 404);
}

#[test]
fn human_output_names_the_rule_and_the_evidence_but_no_value() {
    let out = customs(&[
        "explain",
        "--config",
        "config/policy.toml",
        "--url",
        CHAT,
        "--body",
        "tests/fixtures/chat-message.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.starts_with("decision: BLOCK"), "{s}");
    assert!(
        s.contains("UK: personal data of UK subjects may go to `eu`, `uk`"),
        "{s}"
    );
    assert!(s.contains("text_phone:GB"), "{s}");
    for value in [
        "amelia",
        "7946 0321",
        "2079460321",
        "81.2.69.142",
        "Amelia Hart",
    ] {
        assert!(
            !s.contains(value),
            "explain printed a personal value `{value}`:\n{s}"
        );
    }
}

#[test]
fn check_valid_and_invalid() {
    let out = customs(&["check", "--config", "config/policy.toml"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("ok: policy `config/policy.toml` is valid")
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let src = std::fs::read_to_string(root().join("config/policy.toml")).unwrap();
    std::fs::write(
        &bad,
        src.replace("allowed_regions = [\"eu\"]", "allowed_regions = [\"euu\"]"),
    )
    .unwrap();
    let out = customs(&["check", "--config", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: unknown region `euu` in jurisdiction `EEA`"),
        "{err}"
    );
    assert!(err.contains("= help: did you mean `eu`?"), "{err}");
    // The caret sits under the value, whatever the gutter's width.
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.ends_with("allowed_regions = [\"euu\"]"))
        .unwrap_or_else(|| panic!("{err}"));
    let value_col = lines[at].find("\"euu\"").unwrap();
    assert_eq!(lines[at + 1].find("^^^^^"), Some(value_col), "{err}");

    let out = customs(&[
        "check",
        "--config",
        bad.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["diagnostics"][0]["kind"], "unknown_region");
    assert!(v["diagnostics"][0]["line"].as_u64().unwrap() > 1);

    let out = customs(&[
        "explain",
        "--config",
        bad.to_str().unwrap(),
        "--url",
        CRM,
        "--body",
        "tests/fixtures/us-user.json",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let out = customs(&["check", "--config", "no/such/file.toml"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn fixtures_exist_in_the_repository() {
    // Tests must not read ../shared: every fixture used here is committed.
    for f in [
        "chat-message.json",
        "aggregate-stats.json",
        "batch-users.json",
        "support-ticket.json",
        "moderation-report.json",
        "crm-export.ndjson",
    ] {
        assert!(
            Path::new(&root().join("tests/fixtures").join(f)).exists(),
            "{f}"
        );
    }
}

#[test]
fn policy_test_cases_pass_and_a_wrong_expectation_fails_with_a_diff() {
    let out = customs(&["test", "--config", "config/policy.toml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.trim_end().ends_with("12 passed, 0 failed"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("wrong.toml");
    std::fs::write(
        &cases,
        format!(
            r#"[[case]]
name = "expects the wrong thing"
request.url = "http://localhost/crm/v1/contacts"
request.headers = {{ "content-type" = "application/json" }}
request.body_file = "{}"
expect.action = "allow"
expect.rules = ["US"]
expect.records = [{{ pointer = "/user", jurisdictions = ["US"] }}]
"#,
            root().join("tests/fixtures/eea-user.json").display()
        ),
    )
    .unwrap();
    let out = customs(&[
        "test",
        "--config",
        "config/policy.toml",
        cases.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("FAIL  wrong.toml: expects the wrong thing"),
        "{stdout}"
    );
    assert!(
        stdout.contains("action: expected allow, got reroute"),
        "{stdout}"
    );
    assert!(
        stdout.contains("rules: expected [US], got [EEA]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("record `/user` jurisdictions: expected [US], got [EEA]"),
        "{stdout}"
    );
    assert!(
        stdout.trim_end().ends_with("0 passed, 1 failed"),
        "{stdout}"
    );

    std::fs::write(&cases, "[[case]]\nname = 1\n").unwrap();
    let out = customs(&[
        "test",
        "--config",
        "config/policy.toml",
        cases.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
}

/// `check` says what the rules cover; `check --against RUNNING NEW` names every change
/// and marks the ones that weaken the policy, in text and JSON; an empty file is invalid.
#[test]
fn check_reports_coverage_and_what_a_new_policy_changes() {
    let out = customs(&["check", "config/policy.toml"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("coverage: EEA 37 countries, UK 1 country, US 1 country; 210 other countries follow `[unassigned] treat_as = \"strictest\"`"),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.toml");
    let src = std::fs::read_to_string(root().join("config/policy.toml")).unwrap();
    let weaker = src.replacen(
        "allowed_regions = [\"eu\"]\non_violation = \"reroute\"",
        "allowed_regions = [\"eu\"]\non_violation = \"shadow\"",
        1,
    );
    assert_ne!(weaker, src);
    std::fs::write(&new, &weaker).unwrap();
    let new_path = new.to_str().unwrap();
    let out = customs(&["check", "--against", "config/policy.toml", new_path]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("1 change, 1 weakening:\n  jurisdiction `EEA`: on violation `reroute` (enforce) → `shadow` (enforce) [weakens: enforcement_relaxed]"),
        "{text}"
    );
    let out = customs(&[
        "check",
        "--against",
        "config/policy.toml",
        new_path,
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["weakening"], 1);
    assert_eq!(v["changes"][0]["weakens"], "enforcement_relaxed");
    assert_eq!(v["coverage"]["unassigned"], 210);
    std::fs::write(&new, "").unwrap();
    let out = customs(&["check", new_path]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the policy has no jurisdictions: it would protect nobody"),
        "{err}"
    );
}

/// A batch's `country` is the context of its users: `explain` says which ancestor (and
/// which query parameter) gave the record its signal.
#[test]
fn explain_names_the_context_a_record_inherited() {
    let (code, v) = explain(&format!("{CRM}?gl=fr"), "batch-with-country.json", &[]);
    assert_eq!(code, 2, "{v:#}");
    assert_eq!(v["action"], "block");
    let user = v["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pointer"] == "/users/0")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(
        user["context"],
        serde_json::json!(["/country", "?/gl"]),
        "{v:#}"
    );
    let ev: Vec<&str> = user["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(ev, ["country_field:DE", "country_field:FR", "ip:US"]);
}
