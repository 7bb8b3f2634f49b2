//! The `homesoc` program's commands, as a library so that integration
//! tests can run them in process.

pub mod automation;
pub mod demo;
pub mod hunt;
pub mod import;
pub mod incidents;
pub mod intel;
pub mod keys;
pub mod query;
pub mod rules;
pub mod up;
pub mod users;
