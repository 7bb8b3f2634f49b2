//! The `homesoc` program's commands, as a library so that integration
//! tests can load a workspace's catalog and run queries in process.

pub mod catalog;
pub mod import;
pub mod query;
pub mod windows_event;
