//! The web UI in a real browser: `homesoc up --demo` on a free loopback
//! port, driven by Debian's chromium through playwright-core
//! (`tests/ui/browser.mjs`). Screenshots of each page go to
//! `<target dir>/ui-screenshots/`.
//!
//! Needs `chromium` on the PATH and `npm ci` run in `tests/ui`; `.ci/run`
//! does both. Outside CI a missing piece skips the test with a note; with
//! CI=true it fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::Server;

fn browser_ready(script_dir: &Path) -> bool {
    let chromium = Command::new("chromium")
        .arg("--version")
        .output()
        .map(|output| output.status.success())
        .unwrap_or(false);
    let playwright = script_dir
        .join("node_modules")
        .join("playwright-core")
        .exists();
    if chromium && playwright {
        return true;
    }
    let message = format!(
        "the browser test needs Debian's chromium (found: {chromium}) and playwright-core (run `npm ci` in {}; found: {playwright}); .ci/run installs both",
        script_dir.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("skipped: {message}");
    false
}

fn screenshot_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target tmp folder has a parent")
        .to_path_buf();
    target.join("ui-screenshots")
}

#[test]
fn demo_ui_in_chromium() {
    let script_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("ui");
    if !browser_ready(&script_dir) {
        return;
    }
    let folder = tempfile::tempdir().unwrap();
    let data_dir = folder.path().join("demo");
    let server = Server::start(&data_dir, &["--demo", "--no-tls"]);
    let password = std::fs::read_to_string(data_dir.join(homesoc::demo::PASSWORD_FILE))
        .expect("the demo keeps the admin password in its folder");
    assert!(
        server.stdout_text().contains(password.trim()),
        "the start message shows the demo password: {}",
        server.stdout_text()
    );
    // The UI's address is printed right after the listening line.
    let ui_line = format!("web UI: {}/ui", server.url);
    for _ in 0..50 {
        if server.stdout_text().contains(&ui_line) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        server.stdout_text().contains(&ui_line),
        "the start message shows the UI's URL: {}",
        server.stdout_text()
    );

    // A reader, to check what the UI refuses to that role. The server
    // rereads its users file, so the user can be added while it runs.
    let reader_password = "reader-password-for-the-ui-test";
    let mut add_reader = Command::new(env!("CARGO_BIN_EXE_homesoc"))
        .args(["--data-dir"])
        .arg(&data_dir)
        .args([
            "users",
            "add",
            "viewer",
            "--role",
            "reader",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("homesoc users add runs");
    {
        use std::io::Write as _;
        let mut stdin = add_reader.stdin.take().unwrap();
        writeln!(stdin, "{reader_password}").unwrap();
    }
    assert!(add_reader.wait().unwrap().success(), "users add viewer");

    // A disabled feed with the demo's second attacker, which the intel
    // refresher never pulls: only the UI's "Pull now" and the retro-hunt
    // after it can raise its alert.
    let feed_file = folder.path().join("second-attackers.txt");
    std::fs::write(&feed_file, "198.51.100.77\n").unwrap();
    let add_feed = Command::new(env!("CARGO_BIN_EXE_homesoc"))
        .arg("--data-dir")
        .arg(&data_dir)
        .args([
            "intel",
            "feeds",
            "add",
            "--name",
            "second-feed",
            "--format",
            "freetext",
        ])
        .args(["--confidence", "100", "--disabled", "--url"])
        .arg(&feed_file)
        .output()
        .expect("homesoc intel feeds add runs");
    assert!(
        add_feed.status.success(),
        "intel feeds add: {}",
        String::from_utf8_lossy(&add_feed.stderr)
    );

    // Screenshots of an earlier run would pass for this run's.
    let screenshots = screenshot_dir();
    let _ = std::fs::remove_dir_all(&screenshots);
    std::fs::create_dir_all(&screenshots).unwrap();
    let profile = folder.path().join("chromium-profile");
    let output = Command::new("node")
        .arg(script_dir.join("browser.mjs"))
        .current_dir(&script_dir)
        .env("HOMESOC_URL", &server.url)
        .env("HOMESOC_PASSWORD", password.trim())
        .env("READER_USER", "viewer")
        .env("READER_PASSWORD", reader_password)
        .env("SCREENSHOT_DIR", &screenshots)
        .env("CHROMIUM_PROFILE", &profile)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.stderr_text()
    );
    for page in [
        "login",
        "overview",
        "incidents",
        "incident",
        "logs",
        "logs-error",
        "rules",
        "rule",
        "intel",
        "reader-incident",
    ] {
        let file = screenshots.join(format!("{page}.png"));
        assert!(file.exists(), "missing screenshot {}", file.display());
    }
    server.terminate();
}
