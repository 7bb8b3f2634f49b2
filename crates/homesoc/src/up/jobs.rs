//! The background jobs `homesoc up` runs beside the server: the rule
//! scheduler, the threat-intelligence refresher and the delivery of
//! automation notifications.

use std::future::Future;
use std::pin::Pin;

use detect::{RunStatus, Scheduler, SchedulerOptions};
use intel::fetch::{FetchOptions, Fetcher};
use intel::{PullResult, RefreshOptions, Refresher};
use server::up::{BackgroundJob, JobContext, Shutdown};
use tracing::{error, info, warn};

use crate::intel::refresh::hunt_after_pulls;

/// Runs every enabled scheduled and NRT rule (the rules folder of the data
/// directory plus the built-in pack) on its schedule, as `homesoc rules
/// schedule --once` does at each tick.
pub struct RuleScheduler;

impl BackgroundJob for RuleScheduler {
    fn name(&self) -> &str {
        "rule scheduler"
    }

    fn run(
        self: Box<Self>,
        context: JobContext,
        mut shutdown: Shutdown,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            // Disabled rules are loaded too: the scheduler skips them at
            // each tick, so enabling one in the UI takes effect at once.
            let rules = match crate::rules::all_rules(&context.data_dir) {
                Ok(rules) => rules,
                Err(err) => {
                    warn!(error = %err, "the rule scheduler has no rules to run");
                    return;
                }
            };
            info!(rules = rules.len(), "loaded the rules");
            let scheduler = match Scheduler::open(
                context.engine.clone(),
                context.workspace.clone(),
                rules,
                SchedulerOptions {
                    incident_lock: Some(context.incident_writes.clone()),
                    ..SchedulerOptions::default()
                },
            )
            .await
            {
                Ok(scheduler) => scheduler,
                Err(err) => {
                    error!(error = %err, "cannot start the rule scheduler");
                    return;
                }
            };
            let metrics = context.metrics.clone();
            scheduler
                .run_forever(async move { shutdown.wait().await }, move |tick| {
                    for run in &tick.runs {
                        metrics.rule_runs.record(run.status != RunStatus::Failed);
                    }
                })
                .await;
        })
    }
}

/// Pulls each threat-intelligence feed of `feeds.json` on its interval,
/// then hunts the new indicators over stored events.
pub struct IntelRefresher;

impl BackgroundJob for IntelRefresher {
    fn name(&self) -> &str {
        "intel refresher"
    }

    fn run(
        self: Box<Self>,
        context: JobContext,
        mut shutdown: Shutdown,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let fetcher = match Fetcher::new(FetchOptions::default()) {
                Ok(fetcher) => fetcher,
                Err(err) => {
                    error!(error = %err, "cannot start the intel refresher");
                    return;
                }
            };
            let refresher = Refresher::new(
                context.workspace.clone(),
                fetcher,
                RefreshOptions::default(),
            );
            let hunt_context = context.clone();
            refresher
                .run_forever(async move { shutdown.wait().await }, move |reports| {
                    let context = hunt_context.clone();
                    async move {
                        for report in &reports {
                            context
                                .metrics
                                .intel_pulls
                                .record(report.result != PullResult::Failed);
                        }
                        retro_hunt(&context, &reports).await;
                    }
                })
                .await;
        })
    }
}

/// Hunts the indicators that `reports` added or updated over all stored
/// events, so that indicators pulled now raise alerts on earlier events.
pub(super) async fn retro_hunt(context: &JobContext, reports: &[intel::PullReport]) {
    let _incident_writes = context.incident_writes.lock().await;
    match hunt_after_pulls(&context.data_dir, context.workspace.clone(), reports).await {
        Ok(Some(hunt)) => info!(
            runs = hunt.runs.len(),
            alerts = hunt.alerts.len(),
            "retro-hunt after the feed pull"
        ),
        Ok(None) => {}
        Err(err) => error!(error = %err, "retro-hunt after the feed pull failed"),
    }
}

/// Sends the notifications that automation rules queue in the outbox,
/// retrying failures, so that no scheduler tick waits on the network.
pub struct NotificationDelivery;

impl BackgroundJob for NotificationDelivery {
    fn name(&self) -> &str {
        "notification delivery"
    }

    fn run(
        self: Box<Self>,
        context: JobContext,
        mut shutdown: Shutdown,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move {
            let deliverer = match detect::automation::Deliverer::open(context.workspace.clone()) {
                Ok(deliverer) => deliverer,
                Err(err) => {
                    error!(error = %err, "cannot start the notification delivery");
                    return;
                }
            };
            deliverer
                .run_forever(async move { shutdown.wait().await })
                .await;
        })
    }
}
