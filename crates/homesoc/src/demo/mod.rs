//! `homesoc up --demo`: a demo workspace with one realistic day of a
//! Windows honeypot exposed over RDP ([`events`]), a local threat-intel
//! feed that lists two of the attacking addresses with confidence 100, and
//! an admin user whose password is kept in the demo folder, so that a
//! newcomer sees real incidents within a minute of start.

pub mod events;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use intel::fetch::{FetchOptions, Fetcher};
use intel::{FeedConfig, FeedFormat, FeedsFile, PullResult};
use server::auth::{AuthFile, Role, UserRecord, hash_secret, random_secret, write_private};
use store::Workspace;
use store::tables::{EVENT, SECURITY_EVENT};

/// The demo's folder when `--data-dir` is not given.
pub const DEFAULT_DEMO_DIR: &str = "./homesoc-demo";

/// The file in the demo folder that records the generated day.
const MARKER_FILE: &str = "demo.json";

/// The file in the demo folder that keeps the demo admin's password.
pub const PASSWORD_FILE: &str = "demo-admin-password.txt";

/// The demo feed's name, its indicators' `SourceSystem`.
pub const FEED_NAME: &str = "Demo honeypot attackers";

/// The outcome of [`prepare`], for the start message.
pub struct DemoSetup {
    /// Rows written now; 0 when the folder held a demo day already.
    pub rows: usize,
    /// When the existing demo day was generated, RFC 3339, if it was not
    /// generated now.
    pub existing_since: Option<String>,
    pub password_file: PathBuf,
    pub password: String,
}

/// Fills `data_dir` with the demo day generated from `seed` (unless it
/// holds one already), adds and pulls the demo feed, and creates the demo
/// admin. Runs before the server starts, holding the workspace's write
/// lock.
pub async fn prepare(data_dir: &Path, seed: u64) -> anyhow::Result<DemoSetup> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the demo folder {}", data_dir.display()))?;
    let workspace = Workspace::open(data_dir)?;
    let _lock = workspace.lock_for_writing()?;
    let root = workspace.root().to_path_buf();

    let marker = root.join(MARKER_FILE);
    let (rows, existing_since) = match std::fs::read_to_string(&marker) {
        Ok(text) => {
            let recorded: serde_json::Value = serde_json::from_str(&text).with_context(|| {
                format!(
                    "invalid demo marker {}; delete the demo folder to start over",
                    marker.display()
                )
            })?;
            let since = recorded["generated"].as_str().unwrap_or("").to_string();
            (0, Some(since))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let rows = write_events(&workspace, seed).await?;
            let generated = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let record = serde_json::json!({ "seed": seed, "generated": generated, "rows": rows });
            std::fs::write(&marker, format!("{record}\n"))
                .with_context(|| format!("cannot write {}", marker.display()))?;
            (rows, None)
        }
        Err(err) => {
            return Err(err).with_context(|| format!("cannot read {}", marker.display()));
        }
    };

    add_and_pull_feed(&workspace).await?;
    let (password_file, password) = ensure_demo_admin(&root)?;
    Ok(DemoSetup {
        rows,
        existing_since,
        password_file,
        password,
    })
}

async fn write_events(workspace: &Workspace, seed: u64) -> anyhow::Result<usize> {
    let now = chrono::Utc::now();
    // The anchor is the start minute, so the attack sits in the hour
    // before the scheduler's first run.
    let anchor = engine::time::ticks_from_datetime(now) / 600_000_000 * 600_000_000;
    let import_id = format!("demo-seed-{seed}-{anchor}");
    let mut generated = events::generate(seed, anchor, &import_id, anchor);
    let security_event = generated.security_event.finish();
    let event = generated.event.finish();
    let rows = security_event.num_rows() + event.num_rows();

    let mut import = workspace.begin_import(&import_id, "homesoc up --demo");
    tokio::task::block_in_place(|| -> Result<(), store::StoreError> {
        import.write(&SECURITY_EVENT, security_event)?;
        import.write(&EVENT, event)?;
        Ok(())
    })?;
    import.commit().await?;
    tracing::info!(rows, seed, "wrote the demo day");
    Ok(rows)
}

/// Writes the demo feed's file (two of the attacking addresses), adds the
/// feed with confidence 100 when it is missing, and pulls it.
async fn add_and_pull_feed(workspace: &Workspace) -> anyhow::Result<()> {
    let root = workspace.root();
    let feed_file = intel::config::intel_folder(root).join("demo-attackers.txt");
    std::fs::create_dir_all(intel::config::intel_folder(root))?;
    let listed = [events::ATTACKERS[0], events::SUCCESSFUL_ATTACKER];
    let text = format!("{}\n", listed.join("\n"));
    std::fs::write(&feed_file, text)
        .with_context(|| format!("cannot write {}", feed_file.display()))?;

    let mut feeds = FeedsFile::load(root)?;
    if feeds.feed(FEED_NAME).is_none() {
        let mut feed = FeedConfig::new(
            FEED_NAME,
            &feed_file.display().to_string(),
            FeedFormat::Freetext,
        );
        feed.provider = "homesoc demo".to_string();
        feed.confidence = Some(100.0);
        feeds.add(feed)?;
        feeds.save(root)?;
    }
    let feed = feeds
        .feed(FEED_NAME)
        .cloned()
        .context("the demo feed is missing from the feed list")?;
    let fetcher = Fetcher::new(FetchOptions::default())?;
    let report = intel::pull_feed(workspace, &fetcher, &feeds, &feed).await?;
    if report.result == PullResult::Failed {
        anyhow::bail!(
            "pulling the demo feed from {} failed: {}",
            feed.url,
            report.error.unwrap_or_default()
        );
    }
    Ok(())
}

/// Creates the admin user with a random password kept in the demo folder
/// (readable by the owner only), or reads the kept password.
fn ensure_demo_admin(root: &Path) -> anyhow::Result<(PathBuf, String)> {
    let password_file = root.join(PASSWORD_FILE);
    let mut auth = AuthFile::load(root)?;
    if !auth.users.is_empty() {
        let password = std::fs::read_to_string(&password_file).with_context(|| {
            format!(
                "the demo folder has users but no {}; delete {} to start a fresh demo",
                password_file.display(),
                root.display()
            )
        })?;
        return Ok((password_file, password.trim().to_string()));
    }
    let password = random_secret(18);
    auth.users.push(UserRecord {
        name: "admin".to_string(),
        role: Role::Admin,
        hash: hash_secret(&password),
    });
    write_private(&password_file, format!("{password}\n").as_bytes())?;
    auth.save(root)?;
    Ok((password_file, password))
}
