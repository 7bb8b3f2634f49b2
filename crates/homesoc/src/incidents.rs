//! `homesoc incidents`: list, show and work incidents. Every change appends
//! a new `SecurityIncident` row attributed to `--user`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use detect::Detector;
use detect::incident::{Incident, IncidentStatus, incident_json};
use detect::rule::Severity;
use engine::Engine;
use engine::time::format_datetime_iso;
use serde_json::Value;
use store::Workspace;

use crate::query::write_stdout;

#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// List incidents, newest first.
    List {
        /// Only incidents with this status: New, Active or Closed.
        #[arg(long)]
        status: Option<String>,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one incident with its comments.
    Show {
        number: i64,
        /// Print the incident as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Assign an incident to a user.
    Assign { number: i64, owner: String },
    /// Add a comment to an incident.
    Comment { number: i64, text: String },
    /// Set an incident's status to New or Active.
    Status { number: i64, status: String },
    /// Change an incident's severity: Informational, Low, Medium or High.
    Severity { number: i64, severity: String },
    /// Add a tag to an incident.
    Tag { number: i64, tag: String },
    /// Close an incident with a classification and a comment.
    Close {
        number: i64,
        /// TruePositive, BenignPositive, FalsePositive or Undetermined.
        #[arg(long)]
        classification: String,
        /// The reason for closing, kept with the classification.
        #[arg(long)]
        comment: String,
    },
}

pub async fn run(
    data_dir: &Path,
    user: &str,
    command: IncidentsCommand,
) -> anyhow::Result<ExitCode> {
    let now = engine::time::ticks_from_datetime(chrono::Utc::now());
    match command {
        IncidentsCommand::List { status, json } => list(data_dir, status.as_deref(), json).await,
        IncidentsCommand::Show { number, json } => show(data_dir, number, json).await,
        IncidentsCommand::Assign { number, owner } => {
            change(data_dir, |book| {
                book.assign(number, &owner, user, now).map(|_| number)
            })
            .await
        }
        IncidentsCommand::Comment { number, text } => {
            change(data_dir, |book| {
                book.comment(number, &text, user, now).map(|_| number)
            })
            .await
        }
        IncidentsCommand::Status { number, status } => {
            let status = IncidentStatus::parse(&status).with_context(|| {
                format!(
                    "invalid status `{status}`: use New or Active (close with `incidents close`)"
                )
            })?;
            change(data_dir, |book| {
                book.set_status(number, status, user, now).map(|_| number)
            })
            .await
        }
        IncidentsCommand::Severity { number, severity } => {
            let severity = Severity::parse(&severity).with_context(|| {
                format!("invalid severity `{severity}`: use Informational, Low, Medium or High")
            })?;
            change(data_dir, |book| {
                book.set_severity(number, severity, user, now)
                    .map(|_| number)
            })
            .await
        }
        IncidentsCommand::Tag { number, tag } => {
            change(data_dir, |book| {
                book.tag(number, &tag, user, now).map(|_| number)
            })
            .await
        }
        IncidentsCommand::Close {
            number,
            classification,
            comment,
        } => {
            change(data_dir, |book| {
                book.close(number, &classification, &comment, user, now)
                    .map(|_| number)
            })
            .await
        }
    }
}

async fn read_detector(data_dir: &Path) -> anyhow::Result<Detector> {
    let workspace = Workspace::open_for_reading(data_dir)?;
    Ok(Detector::open(Engine::new(), workspace).await?)
}

async fn change(
    data_dir: &Path,
    apply: impl FnOnce(&mut detect::incident::IncidentBook) -> Result<i64, detect::DetectError>,
) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::open(data_dir)?;
    let _lock = workspace.lock_for_writing()?;
    let mut detector = Detector::open(Engine::new(), workspace.clone()).await?;
    let number = detector.change_incident(apply)?;
    detector.commit().await?;
    crate::automation::deliver_queued(&workspace).await?;
    let incident = detector
        .incidents()
        .get(number)
        .context("the changed incident is missing")?;
    write_stdout(&format!("{}\n", summary_line(incident)))?;
    Ok(ExitCode::SUCCESS)
}

fn summary_line(incident: &Incident) -> String {
    format!(
        "{:>5}  {:<7} {:<13} {:<20} {}",
        incident.number,
        incident.status.as_str(),
        incident.severity.as_str(),
        incident.owner.as_deref().unwrap_or("-"),
        incident.title
    )
}

async fn list(
    data_dir: &Path,
    status: Option<&str>,
    json_output: bool,
) -> anyhow::Result<ExitCode> {
    let status = match status {
        Some(text) => Some(
            IncidentStatus::parse(text)
                .with_context(|| format!("invalid --status `{text}`: use New, Active or Closed"))?,
        ),
        None => None,
    };
    let detector = read_detector(data_dir).await?;
    let mut incidents: Vec<&Incident> = detector
        .incidents()
        .incidents()
        .filter(|incident| status.is_none_or(|status| incident.status == status))
        .collect();
    incidents.reverse();

    if json_output {
        let items: Vec<Value> = incidents
            .iter()
            .map(|incident| incident_json(incident))
            .collect();
        write_stdout(&format!("{}\n", Value::Array(items)))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "{:>5}  {:<7} {:<13} {:<20} {}\n",
        "#", "STATUS", "SEVERITY", "OWNER", "TITLE"
    );
    for incident in &incidents {
        text.push_str(&summary_line(incident));
        text.push('\n');
    }
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

async fn show(data_dir: &Path, number: i64, json_output: bool) -> anyhow::Result<ExitCode> {
    let detector = read_detector(data_dir).await?;
    let Some(incident) = detector.incidents().get(number) else {
        bail!("no incident number {number}; list incidents with `homesoc incidents list`");
    };
    if json_output {
        write_stdout(&format!("{}\n", incident_json(incident)))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "Incident {}: {}\nStatus: {}   Severity: {}   Owner: {}\n",
        incident.number,
        incident.title,
        incident.status.as_str(),
        incident.severity.as_str(),
        incident.owner.as_deref().unwrap_or("-")
    );
    if let Some(classification) = &incident.classification {
        text.push_str(&format!(
            "Classification: {classification}: {}\n",
            incident
                .classification_comment
                .as_deref()
                .unwrap_or_default()
        ));
    }
    text.push_str(&format!(
        "Created: {}   Activity: {} to {}\nAlerts: {}\nRules: {}\nTactics: {}\nTags: {}\n",
        format_datetime_iso(incident.created_ticks),
        format_datetime_iso(incident.first_activity_ticks),
        format_datetime_iso(incident.last_activity_ticks),
        incident.alert_ids.join(", "),
        incident.rule_ids.join(", "),
        incident.tactics.join(", "),
        incident.labels.join(", "),
    ));
    if !incident.description.is_empty() {
        text.push_str(&format!("\n{}\n", incident.description.trim_end()));
    }
    for comment in &incident.comments {
        text.push_str(&format!(
            "\n{} {}: {}",
            format_datetime_iso(comment.created_ticks),
            comment.author,
            comment.message
        ));
    }
    text.push('\n');
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}
