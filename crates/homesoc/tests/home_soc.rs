//! Home-SOC queries over the imported corpus: user logons without system
//! noise, RDP logons, and the top failed logons by source address.

mod common;

use std::collections::BTreeMap;

use serde_json::Value;

use common::{cell_text, imported_corpus, query, samples};

/// Built-in and system account names that are noise in a logon review.
const NOISE_ACCOUNTS: &[&str] = &[
    "SYSTEM",
    "ANONYMOUS LOGON",
    "LOCAL SERVICE",
    "NETWORK SERVICE",
    "DWM-1",
    "DWM-2",
    "UMFD-0",
    "UMFD-1",
];

const USER_LOGONS: &str = r#"SecurityEvent
| where EventID == 4624
| where AccountType == "User" and not(TargetUserName endswith "$")
    and TargetUserName !in~ ("SYSTEM", "ANONYMOUS LOGON", "LOCAL SERVICE", "NETWORK SERVICE", "DWM-1", "DWM-2", "UMFD-0", "UMFD-1")
| project TimeGenerated, Computer, TargetUserName, TargetDomainName, LogonType, AccountType"#;

fn is_noise(user: &str) -> bool {
    user.ends_with('$')
        || NOISE_ACCOUNTS
            .iter()
            .any(|noise| noise.eq_ignore_ascii_case(user))
}

#[test]
fn user_logons_exclude_system_accounts() {
    let corpus = imported_corpus();
    let logons = query(corpus.data_dir(), USER_LOGONS);
    let user_column = logons.column("TargetUserName");
    let type_column = logons.column("AccountType");
    println!("user logons: {} rows", logons.rows.len());
    assert!(
        !logons.rows.is_empty(),
        "the corpus has successful user logons, but the query returned none"
    );

    for row in &logons.rows {
        let user = cell_text(&row[user_column]);
        assert!(
            !user.ends_with('$'),
            "machine account {user:?} was not filtered out"
        );
        assert!(
            !is_noise(&user),
            "system account {user:?} was not filtered out"
        );
        assert_eq!(
            cell_text(&row[type_column]),
            "User",
            "row for {user:?} has AccountType other than User"
        );
    }

    // The same filter, applied in Rust to per-account counts.
    let per_account = query(
        corpus.data_dir(),
        "SecurityEvent | where EventID == 4624 | summarize n = count() by TargetUserName, AccountType",
    );
    let user_column = per_account.column("TargetUserName");
    let type_column = per_account.column("AccountType");
    let count_column = per_account.column("n");
    let mut all_logons = 0;
    let mut user_logons = 0;
    for row in &per_account.rows {
        let count = row[count_column]
            .as_u64()
            .expect("count() should be a number");
        all_logons += count;
        let user = cell_text(&row[user_column]);
        if cell_text(&row[type_column]) == "User" && !is_noise(&user) {
            user_logons += count;
        }
    }
    println!("4624 rows: {all_logons}, of which user logons: {user_logons}");
    assert_eq!(
        logons.rows.len() as u64,
        user_logons,
        "the filtered query and the per-account counts filtered in Rust should agree"
    );
    assert!(
        all_logons > user_logons,
        "the corpus has system logons, so the filter should remove some rows"
    );
}

#[test]
fn rdp_logons_include_samples() {
    let corpus = imported_corpus();
    let rdp = query(
        corpus.data_dir(),
        "SecurityEvent | where EventID == 4624 and LogonType == 10 | project TimeGenerated, Computer, TargetUserName, LogonTypeName",
    );
    let time_column = rdp.column("TimeGenerated");
    let computer_column = rdp.column("Computer");
    let user_column = rdp.column("TargetUserName");
    let name_column = rdp.column("LogonTypeName");
    println!("RDP logons: {} rows", rdp.rows.len());
    for row in &rdp.rows {
        assert_eq!(
            cell_text(&row[name_column]),
            "10 - RemoteInteractive",
            "an RDP logon row has the wrong LogonTypeName"
        );
    }

    let rdp_samples: Vec<Value> = samples()
        .into_iter()
        .filter(|s| s["label"].as_str() == Some("4624 logon type 10 (RDP)"))
        .collect();
    assert!(
        !rdp_samples.is_empty(),
        "SAMPLES.jsonl should have RDP logon samples"
    );
    for sample in &rdp_samples {
        let time = sample["System"]["TimeCreated"]["SystemTime"]
            .as_str()
            .unwrap_or_default();
        let computer = sample["System"]["Computer"].as_str().unwrap_or_default();
        let user = sample["EventData"]
            .as_array()
            .and_then(|pairs| pairs.iter().find(|p| p[0] == "TargetUserName"))
            .map(|p| cell_text(&p[1]))
            .unwrap_or_default();
        let found = rdp.rows.iter().any(|row| {
            cell_text(&row[time_column]) == time
                && cell_text(&row[computer_column]) == computer
                && cell_text(&row[user_column]) == user
        });
        assert!(
            found,
            "the RDP query misses the sample logon of {user:?} on {computer} at {time}"
        );
    }
}

#[test]
fn failed_logons_top_ten() {
    let corpus = imported_corpus();
    let top = query(
        corpus.data_dir(),
        "SecurityEvent | where EventID == 4625 | summarize Failures = count() by IpAddress, TargetUserName | top 10 by Failures",
    );
    let names: Vec<&str> = top.columns.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["IpAddress", "TargetUserName", "Failures"],
        "the top 10 result has the wrong columns"
    );
    let failures: Vec<u64> = top
        .rows
        .iter()
        .map(|r| r[2].as_u64().expect("Failures should be a count"))
        .collect();
    assert!(
        failures.windows(2).all(|pair| pair[0] >= pair[1]),
        "top 10 should be sorted by Failures descending: {failures:?}"
    );

    // Independent count per (IpAddress, TargetUserName). JSON text keeps a
    // null cell apart from an empty string, as KQL grouping does.
    let raw = query(
        corpus.data_dir(),
        "SecurityEvent | where EventID == 4625 | project IpAddress, TargetUserName",
    );
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for row in &raw.rows {
        *counts
            .entry((row[0].to_string(), row[1].to_string()))
            .or_default() += 1;
    }
    let mut sorted: Vec<u64> = counts.values().copied().collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    // The corpus may have fewer than 10 address/user pairs, and then top
    // returns them all.
    let expected_rows = counts.len().min(10);
    assert_eq!(
        top.rows.len(),
        expected_rows,
        "top 10 should return {expected_rows} rows, one per address/user pair up to 10"
    );
    println!(
        "4625 rows: {}, address/user pairs: {}, top counts: {failures:?}",
        raw.rows.len(),
        counts.len()
    );
    assert!(
        counts.len() > 1,
        "the corpus should have several address/user pairs with failed logons"
    );
    assert_eq!(
        failures[0], sorted[0],
        "the top count should equal the maximum counted in Rust"
    );
    assert_eq!(
        failures,
        sorted[..expected_rows],
        "the 10 counts should be the 10 largest counted in Rust"
    );
    for row in &top.rows {
        let key = (row[0].to_string(), row[1].to_string());
        assert_eq!(
            counts.get(&key).copied(),
            row[2].as_u64(),
            "Failures for {key:?} differs from the count in Rust"
        );
    }
}
