//! `homesoc users`: the people who sign in to the web UI and the API with a
//! password. Only argon2id hashes are stored; a running `homesoc up` picks
//! up changes at the next request.

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde_json::json;
use server::auth::{AuthFile, Role, UserRecord, hash_secret, random_secret};

use crate::query::write_stdout;

/// Shortest password `--password-stdin` accepts.
const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user, or give an existing user a new password and role.
    /// Prints a generated password once unless --password-stdin is given.
    Add {
        /// The sign-in name, such as `alice`.
        name: String,
        /// The role: reader, analyst (works incidents) or admin.
        #[arg(long, default_value = "analyst")]
        role: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the users and their roles (never their passwords).
    List {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a user; their open sessions end at the next request.
    Remove { name: String },
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

pub async fn run(data_dir: &Path, command: UsersCommand) -> anyhow::Result<ExitCode> {
    // A user added to a folder that no server runs on cannot sign in, so
    // a missing folder is an error rather than a new, empty one.
    if !data_dir.is_dir() {
        bail!(
            "the data folder {} does not exist; give the folder that `homesoc up` runs on with --data-dir (the demo's is ./homesoc-demo), or start `homesoc --data-dir {} up` once to create it",
            data_dir.display(),
            data_dir.display()
        );
    }
    let mut file = AuthFile::load(data_dir)?;
    match command {
        UsersCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            if !valid_name(&name) {
                bail!("invalid user name `{name}`: use up to 64 letters, digits and . _ - @");
            }
            let Some(role) = Role::parse(&role) else {
                bail!("unknown role `{role}`: use reader, analyst or admin");
            };
            let (password, generated) = if password_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the password from standard input")?;
                let password = text.trim_end_matches(['\r', '\n']).to_string();
                if password.chars().count() < MIN_PASSWORD_CHARS {
                    bail!(
                        "the password is shorter than {MIN_PASSWORD_CHARS} characters; give a longer one or leave out --password-stdin to generate one"
                    );
                }
                (password, false)
            } else {
                (random_secret(18), true)
            };
            let record = UserRecord {
                name: name.clone(),
                role,
                hash: hash_secret(&password),
            };
            let replaced = match file.users.iter_mut().find(|user| user.name == name) {
                Some(existing) => {
                    *existing = record;
                    true
                }
                None => {
                    file.users.push(record);
                    false
                }
            };
            file.save(data_dir)?;
            let verb = if replaced { "updated" } else { "added" };
            let role_name = format!("{role:?}").to_lowercase();
            let folder = data_dir.display();
            if generated {
                eprintln!(
                    "{verb} user {name} ({role_name}) in {folder}; the password is shown only once:"
                );
                write_stdout(&format!("{password}\n"))?;
            } else {
                eprintln!("{verb} user {name} ({role_name}) in {folder}");
            }
        }
        UsersCommand::List { json: as_json } => {
            if as_json {
                let users: Vec<_> = file
                    .users
                    .iter()
                    .map(|user| json!({"name": user.name, "role": user.role}))
                    .collect();
                write_stdout(&format!("{}\n", serde_json::Value::Array(users)))?;
            } else {
                let mut text = format!("{:<24} {}\n", "NAME", "ROLE");
                for user in &file.users {
                    text.push_str(&format!(
                        "{:<24} {}\n",
                        user.name,
                        format!("{:?}", user.role).to_lowercase()
                    ));
                }
                write_stdout(&text)?;
            }
        }
        UsersCommand::Remove { name } => {
            let before = file.users.len();
            file.users.retain(|user| user.name != name);
            if file.users.len() == before {
                bail!("no user named {name}; see `homesoc users list`");
            }
            if !file.users.iter().any(|user| user.role == Role::Admin) {
                bail!(
                    "{name} is the last admin; add another admin with `homesoc users add NAME --role admin` first"
                );
            }
            file.save(data_dir)?;
            eprintln!("removed user {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
