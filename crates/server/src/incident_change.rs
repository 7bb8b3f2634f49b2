//! One change to an incident, made under the server's incident write lock,
//! shared by the web UI and the JSON API.

use detect::incident::{Incident, IncidentBook};
use detect::{DetectError, Detector};

use crate::app::AppState;

/// The reason a change to an incident was not made.
#[derive(Debug)]
pub enum ChangeFailure {
    /// No incident has this number.
    NotFound(i64),
    /// The change itself was rejected (for example an unknown
    /// classification); nothing was written.
    Refused(DetectError),
    /// The incident tables could not be read or written.
    Store(DetectError),
}

impl std::fmt::Display for ChangeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangeFailure::NotFound(number) => write!(f, "no incident number {number}"),
            ChangeFailure::Refused(err) | ChangeFailure::Store(err) => err.fmt(f),
        }
    }
}

/// Applies `change` to incident `number` and appends the incident's new
/// row, holding the incident write lock so that the rule scheduler and
/// retro-hunts cannot interleave. Returns what `change` returned and the
/// incident's state after the change.
pub async fn apply<T>(
    state: &AppState,
    number: i64,
    change: impl FnOnce(&mut IncidentBook) -> Result<T, DetectError>,
) -> Result<(T, Incident), ChangeFailure> {
    let _writes = state.incident_writes.lock().await;
    let mut detector = Detector::open(state.engine.clone(), state.workspace.clone())
        .await
        .map_err(ChangeFailure::Store)?;
    if detector.incidents().get(number).is_none() {
        return Err(ChangeFailure::NotFound(number));
    }
    let outcome = detector
        .change_incident(change)
        .map_err(ChangeFailure::Refused)?;
    detector.commit().await.map_err(ChangeFailure::Store)?;
    let incident = detector
        .incidents()
        .get(number)
        .cloned()
        .ok_or(ChangeFailure::NotFound(number))?;
    Ok((outcome, incident))
}
