//! The incident and rule endpoints of `homesoc up`, on the incidents that
//! the built-in rules open over the demo day.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{BIN, Server};

/// Runs `homesoc keys create` with a scope list and a role.
fn create_key(data_dir: &Path, scopes: &str, role: &str) -> String {
    let output = Command::new(BIN)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["keys", "create", "--name", role, "--scopes", scopes])
        .args(["--role", role])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, key: &str, path: &str, body: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn incidents_and_rules_over_json() {
    let folder = tempfile::tempdir().unwrap();
    let data = folder.path().join("demo");
    let server = Server::start(&data, &["--demo", "--no-tls"]);
    let reader = create_key(&data, "query", "reader");
    let analyst = create_key(&data, "query", "analyst");
    let admin = create_key(&data, "admin", "admin");
    let api = Api {
        http: reqwest::Client::new(),
        url: server.url.clone(),
    };

    // The scheduler's first tick opens the demo incidents.
    let deadline = Instant::now() + Duration::from_secs(90);
    let incidents = loop {
        let (status, body) = api.get(&reader, "/api/incidents").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let list = body.as_array().unwrap().clone();
        if !list.is_empty() || Instant::now() > deadline {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(!incidents.is_empty(), "no incident within 90 s");
    let number = incidents[0]["number"].as_i64().unwrap();
    assert_eq!(incidents[0]["status"], "New");

    let (status, incident) = api.get(&reader, &format!("/api/incidents/{number}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(incident["number"], number);
    let (status, body) = api.get(&reader, "/api/incidents/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = api.get(&reader, "/api/incidents?status=Open").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A reader may look but not change.
    let assign = format!("/api/incidents/{number}/assign");
    let (status, body) = api.post(&reader, &assign, r#"{"owner":"alice"}"#).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let (status, changed) = api.post(&analyst, &assign, r#"{"owner":"alice"}"#).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["owner"], "alice");
    assert!(
        changed["modifiedBy"].as_str().unwrap().starts_with("key:"),
        "{changed}"
    );

    let (status, body) = api
        .post(
            &analyst,
            &format!("/api/incidents/{number}/status"),
            r#"{"status":"Closed"}"#,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api.post(&analyst, &assign, "not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = api
        .post(
            &analyst,
            &format!("/api/incidents/{number}/frobnicate"),
            "{}",
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let close = json!({"classification": "TruePositive", "comment": "confirmed by the API test"});
    let (status, closed) = api
        .post(
            &analyst,
            &format!("/api/incidents/{number}/close"),
            &close.to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["status"], "Closed");
    assert_eq!(closed["classification"], "TruePositive");
    let (_, listed) = api.get(&reader, "/api/incidents?status=Closed").await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|incident| incident["number"] == number && incident["owner"] == "alice"),
        "{listed}"
    );

    // Rules: listed for readers, switched by admins only.
    let (status, rules) = api.get(&reader, "/api/rules").await;
    assert_eq!(status, StatusCode::OK);
    let rule = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["enabled"] == true)
        .expect("an enabled rule")
        .clone();
    let id = rule["id"].as_str().unwrap();
    let disable = format!("/api/rules/{id}/disable");
    let (status, body) = api.post(&analyst, &disable, "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = api.post(&admin, &disable, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"id": id, "enabled": false}));
    let (_, rules) = api.get(&reader, "/api/rules").await;
    let after = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|candidate| candidate["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(after["enabled"], false);
    let (status, body) = api
        .post(&admin, "/api/rules/no-such-rule/disable", "")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A user added while the server runs signs in with the printed
    // password; once removed, the session ends.
    let output = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["users", "add", "bob", "--role", "analyst"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let password = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let login = json!({"user": "bob", "password": password}).to_string();
    let (status, session) = api.post("", "/api/login", &login).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["role"], "analyst");
    let token = session["token"].as_str().unwrap().to_string();
    let (status, _) = api.get(&token, "/api/incidents").await;
    assert_eq!(status, StatusCode::OK);
    let wrong = json!({"user": "bob", "password": "not the password"}).to_string();
    let (status, _) = api.post("", "/api/login", &wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let removed = Command::new(BIN)
        .arg("--data-dir")
        .arg(&data)
        .args(["users", "remove", "bob"])
        .status()
        .unwrap();
    assert!(removed.success());
    let (status, _) = api.get(&token, "/api/incidents").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert!(server.terminate().success());
}
