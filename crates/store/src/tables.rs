//! Table definitions (being written).
