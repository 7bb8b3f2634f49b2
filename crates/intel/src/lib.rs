//! Threat intelligence for homesoc: indicators from MISP feeds (the MISP
//! feed format, CSV and freetext, as listed in MISP's default feed list),
//! STIX 2.1 bundles and TAXII 2.1 collections, stored as versions in the
//! Sentinel-shaped `ThreatIntelligenceIndicator` table and matched against
//! stored events.
//!
//! Each pull records its outcome in `HomesocIntelPulls`, so that a feed that
//! fails or yields nothing says so in a table KQL can read. Feed settings
//! and per-feed pull state live in the workspace's `intel/` folder.

pub mod config;
pub mod error;
pub mod fetch;
pub mod indicator;
pub mod mapping;
pub mod matching;
pub mod misp;
pub mod pull;
pub mod refresh;
pub mod state;
pub mod stix;
pub mod stix_rows;
pub mod stored;
pub mod taxii;
pub mod text;
pub mod write;

pub use config::{FeedConfig, FeedFormat, FeedsFile};
pub use error::IntelError;
pub use indicator::{Indicator, Validity};
pub use pull::{PullReport, PullResult, pull_feed};
pub use refresh::{RefreshOptions, Refresher};
