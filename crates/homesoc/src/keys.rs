//! `homesoc keys`: API keys for shippers and scripts. Only hashes are
//! stored; a running `homesoc up` picks up changes at the next request.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use serde_json::json;
use server::auth::{AuthFile, Role, Scope};

use crate::query::write_stdout;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it once.
    Create {
        /// A name that says who uses the key, such as `winlogbeat-dc01`.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: ingest, query, admin.
        #[arg(long, default_value = "ingest")]
        scopes: String,
        /// Role for incident work: reader, analyst or admin.
        #[arg(long, default_value = "reader")]
        role: String,
    },
    /// List the keys (never their secrets).
    List {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id.
    Revoke {
        /// The key id that `homesoc keys list` shows.
        id: String,
    },
}

pub async fn run(data_dir: &Path, command: KeysCommand) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(data_dir)?;
    let mut file = AuthFile::load(data_dir)?;
    match command {
        KeysCommand::Create { name, scopes, role } => {
            let mut parsed = Vec::new();
            for scope in scopes.split(',').filter(|s| !s.trim().is_empty()) {
                match Scope::parse(scope) {
                    Some(scope) => parsed.push(scope),
                    None => bail!(
                        "unknown scope `{scope}`: use ingest, query or admin, separated by commas"
                    ),
                }
            }
            if parsed.is_empty() {
                bail!("give at least one scope: ingest, query or admin");
            }
            let Some(role) = Role::parse(&role) else {
                bail!("unknown role `{role}`: use reader, analyst or admin");
            };
            let (key, record) = file.create_key(&name, parsed, role);
            file.save(data_dir)?;
            eprintln!(
                "created key {} ({}); it is shown only once:",
                record.id, record.name
            );
            write_stdout(&format!("{key}\n"))?;
        }
        KeysCommand::List { json: as_json } => {
            let keys: Vec<_> = file
                .keys
                .iter()
                .map(|k| {
                    json!({"id": k.id, "name": k.name, "scopes": k.scopes, "role": k.role,
                           "created": k.created, "revoked": k.revoked})
                })
                .collect();
            if as_json {
                write_stdout(&format!("{}\n", serde_json::Value::Array(keys)))?;
            } else {
                let mut text = format!(
                    "{:<10} {:<24} {:<20} {:<8} {:<22} {}\n",
                    "ID", "NAME", "SCOPES", "ROLE", "CREATED", "REVOKED"
                );
                for k in &file.keys {
                    let scopes: Vec<String> = k
                        .scopes
                        .iter()
                        .map(|s| format!("{s:?}").to_lowercase())
                        .collect();
                    text.push_str(&format!(
                        "{:<10} {:<24} {:<20} {:<8} {:<22} {}\n",
                        k.id,
                        k.name,
                        scopes.join(","),
                        format!("{:?}", k.role).to_lowercase(),
                        k.created,
                        k.revoked.as_deref().unwrap_or("-")
                    ));
                }
                write_stdout(&text)?;
            }
        }
        KeysCommand::Revoke { id } => {
            file.revoke_key(&id)?;
            file.save(data_dir)?;
            eprintln!("revoked key {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
