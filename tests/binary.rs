//! The built binary as users run it: `customs demo` with the README's curl examples, and
//! `customs run` with its decision log captured and searched for personal values.

mod common;

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use common::{Upstream, example_policy, free_port, root, start_binary, terminate};

fn sh(cmd: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(root())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn readme_quick_start_examples_do_what_the_readme_says() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let block = readme
        .split("<!-- readme-test:begin -->")
        .nth(1)
        .and_then(|s| s.split("<!-- readme-test:end -->").next())
        .expect("README has a readme-test block");
    let curls: Vec<&str> = block.lines().filter(|l| l.starts_with("curl ")).collect();
    assert_eq!(curls.len(), 4, "{curls:?}");

    // The demo on free ports, so the test can run beside anything else.
    let (u1, u2, u3) = (free_port(), free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let policy = example_policy(
        &format!("http://127.0.0.1:{u1}"),
        &format!("http://127.0.0.1:{u2}"),
        &format!("http://127.0.0.1:{u3}"),
    );
    let cfg = dir.path().join("policy.toml");
    std::fs::write(&cfg, policy).unwrap();
    let (mut child, listen, admin) = start_binary("demo", &cfg, &[], false);
    std::thread::sleep(Duration::from_millis(800)); // the demo's own three requests
    let run = |c: &str| {
        sh(&c
            .replace("127.0.0.1:8080", &listen)
            .replace("127.0.0.1:9090", &admin))
    };

    let forwarded = run(curls[0]);
    assert!(
        forwarded.contains(r#""upstream":"crm-us""#)
            && forwarded.contains(r#""customs_jurisdictions":"US""#),
        "{forwarded}"
    );
    let blocked = run(curls[1]);
    let v: serde_json::Value = serde_json::from_str(&blocked).unwrap();
    assert_eq!(v["status"], 403);
    assert_eq!(v["rules"], serde_json::json!(["UK"]));
    assert_eq!(v["destination_region"], "cn");
    assert_eq!(v["violating_records"], serde_json::json!(["/content"]));
    let rerouted = run(curls[2]);
    assert!(rerouted.starts_with("HTTP/1.1 200 OK"), "{rerouted}");
    assert!(
        rerouted.contains("customs-rerouted-to: crm-eu"),
        "{rerouted}"
    );
    assert!(rerouted.contains(r#""upstream":"crm-eu""#), "{rerouted}");
    let metrics = run(curls[3]);
    for line in [
        r#"customs_requests_total{action="allow",reason="in_region",route="crm"} 2"#,
        r#"customs_requests_total{action="block",reason="no_in_region_alternative",route="chat"} 2"#,
        r#"customs_requests_total{action="reroute",reason="rerouted_in_region",route="crm"} 2"#,
    ] {
        assert!(metrics.contains(line), "missing `{line}` in:\n{metrics}");
        assert!(block.contains(line.trim()), "README does not show `{line}`");
    }
    let status = terminate(&mut child);
    assert!(status.success(), "{status}");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("200 FORWARDED to \"crm-us\""), "{err}");
    assert!(
        err.contains("403 BLOCKED: rule UK forbids region `cn`"),
        "{err}"
    );
    assert!(err.contains("200 REROUTED to `crm-eu`"), "{err}");
}

/// Every personal value in the fixtures, in the notations they were written in and as
/// bare digits.
fn personal_values() -> Vec<String> {
    let mut v: Vec<String> = [
        "Amelia Hart",
        "Olivia Carter",
        "Lukas Weber",
        "Chloé Martin",
        "Harry Evans",
        "Ana Souza",
        "Liam Tremblay",
        "Sven Lindqvist",
        "Dana Brooks",
        "Mark Ellison",
        "Jonas Becker",
        "anonymous",
        "@example.org",
        "example.org",
        "8.8.8.8",
        "8.8.4.4",
        "81.2.69.142",
        "85.214.132.117",
        "89.160.20.112",
        "193.252.117.20",
        "200.160.2.3",
        "Musterstraße",
        "X12345678",
        "F3A1C2D4",
        "51.5072",
        "London",
        "Berlin",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for phone in [
        "+44 20 7946 0321",
        "+4930901820",
        "+1 416 555 0199",
        "+1 212 555 0183",
        "+1 415 555 0112",
        "+49 30 901820",
        "+33 1 09 75 83 51",
        "+44 20 7946 0555",
        "+55 11 5555-0101",
        "030 901820",
        "(212) 555-0147",
    ] {
        v.push(phone.to_string());
        let digits: String = phone.chars().filter(|c| c.is_ascii_digit()).collect();
        v.push(digits.clone());
        v.push(digits[digits.len() - 7..].to_string());
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decision_log_holds_no_personal_value() {
    let crm_us = Upstream::start("crm-us").await;
    let crm_eu = Upstream::start("crm-eu").await;
    let chat = Upstream::start("chat").await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("policy.toml");
    std::fs::write(
        &cfg,
        example_policy(&crm_us.url(), &crm_eu.url(), &chat.url()),
    )
    .unwrap();
    let cfg2 = cfg.clone();
    let (child, listen, _admin) =
        tokio::task::spawn_blocking(move || start_binary("run", &cfg2, &[], true))
            .await
            .unwrap();

    let fixtures = [
        "chat-message.json",
        "chat-message.form",
        "moderation-report.json",
        "crm-export.ndjson",
        "support-ticket.json",
        "batch-users.json",
        "aggregate-stats.json",
        "us-user.json",
        "eea-user.json",
        "unknown-subject.json",
    ];
    let mut ids = Vec::new();
    for f in fixtures {
        for path in ["/crm/v1/import", "/chat/im/v1/messages"] {
            let ct = if f.ends_with(".ndjson") {
                "application/x-ndjson"
            } else if f.ends_with(".form") {
                "application/x-www-form-urlencoded"
            } else {
                "application/json"
            };
            let (status, headers, body) =
                common::post(&format!("http://{listen}{path}"), ct, common::fixture(f)).await;
            let text = String::from_utf8_lossy(&body).into_owned();
            if status.as_u16() >= 400 {
                for v in personal_values() {
                    assert!(
                        !text.contains(&v),
                        "the {status} response for {f} leaks `{v}`: {text}"
                    );
                }
            }
            ids.push(headers["x-request-id"].to_str().unwrap().to_string());
        }
    }
    let mut child = child;
    let status = tokio::task::spawn_blocking(move || {
        let s = terminate(&mut child);
        let mut out = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        (s, out)
    })
    .await
    .unwrap();
    let (exit, log) = status;
    assert!(exit.success(), "{exit}");
    let mut decisions = Vec::new();
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        if v["target"] == "customs::decision" {
            decisions.push(v);
        }
    }
    assert_eq!(
        decisions.len(),
        ids.len(),
        "one decision line per request:\n{log}"
    );
    // Each field as written: the chat message to the chat service (ids[1]) is blocked,
    // the US user to the CRM (ids[14]) allowed to its US upstream.
    let line = |id: &str| {
        decisions
            .iter()
            .find(|v| v["request_id"] == id)
            .unwrap_or_else(|| panic!("no decision line for {id}"))
    };
    let blocked = line(&ids[1]);
    for (k, want) in [
        ("method", "POST"),
        ("route", "chat"),
        ("upstream", "chat"),
        ("forwarded_to", ""),
        ("action", "block"),
        ("would", ""),
        ("rules", "UK"),
        ("jurisdictions", "UK"),
        ("destination_region", "cn"),
        ("violating_pointers", r#"["/content"]"#),
        ("reasons", "no_in_region_alternative"),
        ("level", "INFO"),
        ("message", "decision"),
    ] {
        assert_eq!(blocked[k], want, "{k} in {blocked}");
    }
    assert_eq!(blocked["violating_records"], 1, "{blocked}");
    let allowed = line(&ids[14]);
    for (k, want) in [
        ("route", "crm"),
        ("upstream", "crm-us"),
        ("forwarded_to", "crm-us"),
        ("action", "allow"),
        ("rules", "US"),
        ("jurisdictions", "US"),
        ("reasons", "in_region"),
        ("destination_region", "us"),
        ("violating_pointers", "[]"),
    ] {
        assert_eq!(allowed[k], want, "{k} in {allowed}");
    }
    for id in &ids {
        assert!(log.contains(id.as_str()), "no log line for request {id}");
    }
    for v in personal_values() {
        assert!(
            !log.contains(&v),
            "the decision log contains the personal value `{v}`"
        );
    }
    // The log does carry what an SRE needs.
    assert!(
        log.contains(r#""action":"block""#)
            && log.contains(r#""violating_pointers":"[\"/content\"]""#),
        "{log}"
    );
}

#[test]
fn settings_layer_flags_over_environment_over_file() {
    // `customs run --help` shows every setting with its environment variable.
    let out = Command::new(env!("CARGO_BIN_EXE_customs"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "CUSTOMS_CONFIG",
        "CUSTOMS_LISTEN",
        "CUSTOMS_ADMIN_LISTEN",
        "CUSTOMS_GEOIP",
        "CUSTOMS_MAX_BODY_BYTES",
        "CUSTOMS_RELOAD_POLL_SECONDS",
        "CUSTOMS_SHUTDOWN_DELAY_MS",
        "CUSTOMS_TLS_CERT",
    ] {
        assert!(
            help.contains(var),
            "`run --help` does not show {var}:\n{help}"
        );
    }
    assert!(help.contains("policy's `server.listen`"), "{help}");
    // The environment overrides the file; a flag overrides the environment.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("policy.toml");
    std::fs::write(
        &cfg,
        example_policy(
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            "http://127.0.0.1:3",
        ),
    )
    .unwrap();
    let (env_admin, flag_admin) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_customs"))
        .args(["run", "--admin-listen", &flag_admin])
        .env("CUSTOMS_CONFIG", &cfg)
        .env("CUSTOMS_LISTEN", &listen)
        .env("CUSTOMS_ADMIN_LISTEN", &env_admin)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_ready(&flag_admin, &mut child).unwrap();
    assert!(
        std::net::TcpStream::connect(&listen).is_ok(),
        "CUSTOMS_LISTEN was not used"
    );
    assert!(
        std::net::TcpStream::connect(&env_admin).is_err(),
        "the flag did not override CUSTOMS_ADMIN_LISTEN"
    );
    assert!(terminate(&mut child).success());
}
