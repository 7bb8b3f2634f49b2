//! Column lists of Sentinel tables that homesoc does not fill yet.
//!
//! Published rules read these tables, and in Sentinel every reference table
//! exists, empty until a connector sends data. The catalog exposes them as
//! empty relations, so a rule over them plans and returns no rows instead
//! of failing on an unknown table name. Tables that homesoc fills are in
//! [`crate::tables`] and are not repeated here.
//!
//! Names, KQL types and order are copied from the Azure Monitor Logs table
//! reference (MicrosoftDocs/azure-reference-other, the 2024 include files
//! under `azure-monitor-ref/tables/includes/`), like [`crate::tables`].

use kql::KqlType;

use crate::schema::{ColumnDef, TableDef};

const fn col(name: &'static str, ty: KqlType) -> ColumnDef {
    ColumnDef { name, ty }
}

/// `Heartbeat`, 31 columns.
pub static HEARTBEAT: TableDef = TableDef {
    name: "Heartbeat",
    columns: &[
        col("_BilledSize", KqlType::Real),
        col("Category", KqlType::String),
        col("Computer", KqlType::String),
        col("ComputerEnvironment", KqlType::String),
        col("ComputerIP", KqlType::String),
        col("ComputerPrivateIPs", KqlType::Dynamic),
        col("_IsBillable", KqlType::String),
        col("IsGatewayInstalled", KqlType::Bool),
        col("ManagementGroupName", KqlType::String),
        col("OSMajorVersion", KqlType::String),
        col("OSMinorVersion", KqlType::String),
        col("OSName", KqlType::String),
        col("OSType", KqlType::String),
        col("RemoteIPCountry", KqlType::String),
        col("RemoteIPLatitude", KqlType::Real),
        col("RemoteIPLongitude", KqlType::Real),
        col("Resource", KqlType::String),
        col("ResourceGroup", KqlType::String),
        col("ResourceId", KqlType::String),
        col("_ResourceId", KqlType::String),
        col("ResourceProvider", KqlType::String),
        col("ResourceType", KqlType::String),
        col("SCAgentChannel", KqlType::String),
        col("Solutions", KqlType::String),
        col("SourceSystem", KqlType::String),
        col("SubscriptionId", KqlType::String),
        col("_SubscriptionId", KqlType::String),
        col("TimeGenerated", KqlType::Datetime),
        col("Type", KqlType::String),
        col("Version", KqlType::String),
        col("VMUUID", KqlType::String),
    ],
};

/// Every table defined here, in a fixed order.
pub static REFERENCE_TABLES: [&TableDef; 1] = [&HEARTBEAT];
