//! The feed refresher: pulls each enabled feed again when its pull
//! interval has passed, so that indicators stay current without a user
//! running `homesoc intel pull`.
//!
//! A feed's interval is `pull_interval_minutes` in `feeds.json`, or
//! [`RefreshOptions::default_interval`]. When a feed was last pulled is
//! read from its pull state (`intel/state/`), so a restart does not pull
//! every feed at once. A server starts [`Refresher::run_forever`] and
//! passes a callback that runs the retro-hunt when a pull added or
//! reactivated indicators.

use std::future::Future;
use std::time::Duration;

use store::Workspace;
use tracing::{error, info, warn};

use crate::config::FeedsFile;
use crate::error::IntelError;
use crate::fetch::Fetcher;
use crate::indicator::now_ticks;
use crate::pull::{PullReport, pull_feed};
use crate::state::FeedState;

const TICKS_PER_MINUTE: i64 = 600_000_000;

/// Settings of a [`Refresher`].
#[derive(Debug, Clone)]
pub struct RefreshOptions {
    /// How often [`Refresher::run_forever`] looks for due feeds.
    pub tick: Duration,
    /// The pull interval of a feed without `pull_interval_minutes`.
    pub default_interval: Duration,
}

impl Default for RefreshOptions {
    fn default() -> RefreshOptions {
        RefreshOptions {
            tick: Duration::from_secs(60),
            default_interval: Duration::from_secs(3600),
        }
    }
}

/// Pulls the enabled feeds of a workspace on their intervals.
pub struct Refresher {
    workspace: Workspace,
    fetcher: Fetcher,
    options: RefreshOptions,
}

impl Refresher {
    /// Creates a refresher. The feed list is read again at every tick, so
    /// feeds added, changed or disabled meanwhile take effect.
    pub fn new(workspace: Workspace, fetcher: Fetcher, options: RefreshOptions) -> Refresher {
        Refresher {
            workspace,
            fetcher,
            options,
        }
    }

    /// Pulls every enabled feed that was never pulled, or whose last pull
    /// started at least its interval before `now_ticks`, and returns the
    /// pull reports. A feed whose pull fails has a report with the error
    /// (and is pulled again after its interval). The caller holds the
    /// workspace's write lock.
    ///
    /// Errors are those of reading the feed list and pull states and of
    /// writing to the workspace.
    pub async fn run_due_once(&mut self, now_ticks: i64) -> Result<Vec<PullReport>, IntelError> {
        let root = self.workspace.root().to_path_buf();
        let feeds = FeedsFile::load(&root)?;
        let mut reports = Vec::new();
        for feed in feeds.feeds.iter().filter(|feed| feed.enabled) {
            let interval_ticks = match feed.pull_interval_minutes {
                Some(minutes) => minutes as i64 * TICKS_PER_MINUTE,
                None => self.options.default_interval.as_nanos() as i64 / 100,
            };
            let state = FeedState::load(&root, &feed.name)?;
            let last_pull_ticks = state
                .last_pull
                .as_ref()
                .and_then(|report| chrono::DateTime::parse_from_rfc3339(&report.time).ok())
                .map(|time| time.timestamp() * 10_000_000);
            let due = last_pull_ticks.is_none_or(|last| now_ticks >= last + interval_ticks);
            if !due {
                continue;
            }
            let report = pull_feed(&self.workspace, &self.fetcher, &feeds, feed).await?;
            if let Some(err) = &report.error {
                warn!(feed = %feed.name, error = %err, "scheduled feed pull failed");
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// Runs [`Refresher::run_due_once`] every [`RefreshOptions::tick`]
    /// with the current time until `shutdown` completes, and passes the
    /// reports of each tick that pulled something to `after_pulls` (for
    /// example to start a retro-hunt when `added` or `updated` is not
    /// zero). A tick that fails is logged and retried at the next tick.
    pub async fn run_forever<F, Fut>(
        mut self,
        shutdown: impl Future<Output = ()>,
        mut after_pulls: F,
    ) where
        F: FnMut(Vec<PullReport>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut interval = tokio::time::interval(self.options.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        info!(
            tick_seconds = self.options.tick.as_secs(),
            "feed refresher started"
        );
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = interval.tick() => {
                    let now = now_ticks();
                    match self.run_due_once(now).await {
                        Ok(reports) if reports.is_empty() => {}
                        Ok(reports) => after_pulls(reports).await,
                        Err(err) => error!(error = %err, "feed refresher tick failed"),
                    }
                }
            }
        }
        info!("feed refresher stopped");
    }
}
