//! Delivery of the notifications that automation rules queued, for the
//! commands that change incidents and exit (`homesoc up` runs the delivery
//! worker instead).

use detect::automation::Deliverer;
use store::Workspace;

/// Delivers every queued notification, waiting for retries, and reports
/// failures on standard error. The caller has taken the workspace's write
/// lock. With the default retry delays, a receiver that is down delays the
/// command by about 31 seconds.
pub async fn deliver_queued(workspace: &Workspace) -> anyhow::Result<()> {
    // This command's own commits are done, so what is staged was left by a
    // crash.
    detect::automation::outbox::recover_staged(workspace).await?;
    let deliverer = Deliverer::open(workspace.clone())?;
    let summary = deliverer.deliver_all().await?;
    if summary.failed > 0 {
        eprintln!(
            "{} notifications failed after every retry; see HomesocAutomationRuns and {}",
            summary.failed,
            detect::automation::outbox::FAILED_FOLDER
        );
    }
    Ok(())
}
