//! The tables a query can read.

use std::collections::BTreeMap;

use crate::plan::Relation;

/// Supplies the tables of a workspace to the planner.
pub trait Catalog: Send + Sync {
    /// Names of every table, for suggestions and wildcard `union`.
    fn table_names(&self) -> Vec<String>;

    /// Returns a plan that scans the table with KQL-shaped columns, or
    /// `None` when no table has that exact name.
    fn table(&self, name: &str) -> Option<Relation>;
}

/// A catalog built up front from ready-made relations.
#[derive(Debug, Default, Clone)]
pub struct StaticCatalog {
    tables: BTreeMap<String, Relation>,
}

impl StaticCatalog {
    pub fn new() -> StaticCatalog {
        StaticCatalog::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, relation: Relation) {
        self.tables.insert(name.into(), relation);
    }
}

impl Catalog for StaticCatalog {
    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    fn table(&self, name: &str) -> Option<Relation> {
        self.tables.get(name).cloned()
    }
}
