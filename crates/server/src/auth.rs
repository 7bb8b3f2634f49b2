//! Who may call the server: the admin password, API keys with scopes, login
//! sessions, and the throttle on failed attempts.
//!
//! Secrets are stored only as argon2id hashes in `auth.json` in the data
//! folder (mode 0600). A key is `hsk_<id>_<secret>`: the id finds the
//! record, the hash checks the whole key. Verifying a hash costs tens of
//! milliseconds by design, so a verified credential is remembered by its
//! SHA-256 for the life of the process, until the file changes (a revoked
//! key stops working at its next request).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{ServerError, io_error};

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Send events.
    Ingest,
    /// Run queries and read incidents and rules.
    Query,
    /// Everything, including changes to incidents.
    Admin,
}

impl Scope {
    /// Parses `ingest`, `query` or `admin`.
    pub fn parse(text: &str) -> Option<Scope> {
        match text.trim() {
            "ingest" => Some(Scope::Ingest),
            "query" => Some(Scope::Query),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

/// The role of a user or key: what it may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads events, incidents and rules.
    Reader,
    /// A reader who also works incidents.
    Analyst,
    /// Everything.
    Admin,
}

impl Role {
    /// Parses `reader`, `analyst` or `admin`.
    pub fn parse(text: &str) -> Option<Role> {
        match text.trim() {
            "reader" => Some(Role::Reader),
            "analyst" => Some(Role::Analyst),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user name or `key:<id>`, for logs.
    pub name: String,
    pub scopes: Vec<Scope>,
    pub role: Role,
}

impl Principal {
    /// True when the caller has `scope` or the admin scope.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope) || self.scopes.contains(&Scope::Admin)
    }
}

/// A stored API key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub role: Role,
    /// argon2id PHC string of the whole key.
    pub hash: String,
    pub created: String,
    #[serde(default)]
    pub revoked: Option<String>,
}

/// A user who logs in with a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub name: String,
    pub role: Role,
    /// argon2id PHC string of the password.
    pub hash: String,
}

/// The contents of `auth.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuthFile {
    #[serde(default)]
    pub users: Vec<UserRecord>,
    #[serde(default)]
    pub keys: Vec<KeyRecord>,
}

/// The auth file's name in the data folder.
pub const AUTH_FILE: &str = "auth.json";

/// Returns a new random secret: `bytes` random bytes, base64url.
pub fn random_secret(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buffer)
}

/// Hashes a secret with argon2id and a random salt.
pub fn hash_secret(secret: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).expect("16 bytes are a valid salt");
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any input")
        .to_string()
}

fn verify_secret(secret: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

impl AuthFile {
    /// Reads the auth file in `data_dir`; a missing file is empty.
    pub fn load(data_dir: &Path) -> Result<AuthFile, ServerError> {
        let path = data_dir.join(AUTH_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| ServerError::AuthFile {
                path,
                reason: err.to_string(),
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(AuthFile::default()),
            Err(err) => Err(io_error(&path, err)),
        }
    }

    /// Writes the auth file atomically, readable by the owner only.
    pub fn save(&self, data_dir: &Path) -> Result<(), ServerError> {
        let path = data_dir.join(AUTH_FILE);
        let temporary = data_dir.join(format!("{AUTH_FILE}.tmp"));
        let text = serde_json::to_vec_pretty(self).expect("the auth file always serializes");
        write_private(&temporary, &text)?;
        std::fs::rename(&temporary, &path).map_err(|source| io_error(&path, source))
    }

    /// Adds a key and returns it; the secret is shown only now.
    pub fn create_key(
        &mut self,
        name: &str,
        scopes: Vec<Scope>,
        role: Role,
    ) -> (String, KeyRecord) {
        let id = random_secret(6).replace(['-', '_'], "x");
        let key = format!("hsk_{id}_{}", random_secret(32));
        let record = KeyRecord {
            id,
            name: name.to_string(),
            scopes,
            role,
            hash: hash_secret(&key),
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            revoked: None,
        };
        self.keys.push(record.clone());
        (key, record)
    }

    /// Marks key `id` revoked.
    pub fn revoke_key(&mut self, id: &str) -> Result<(), ServerError> {
        let key = self
            .keys
            .iter_mut()
            .find(|k| k.id == id)
            .ok_or_else(|| ServerError::UnknownKey(id.to_string()))?;
        if key.revoked.is_none() {
            key.revoked =
                Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        Ok(())
    }
}

/// Writes a file that only its owner can read.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(true).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|source| io_error(path, source))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| io_error(path, source))
}

/// Failed attempts allowed before a name or address is locked out.
const FREE_FAILURES: u32 = 5;

/// The longest lockout.
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// How long login sessions last.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Default)]
struct Attempts {
    failures: u32,
    locked_until: Option<Instant>,
}

/// Why a credential was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credential was sent.
    Missing,
    /// The credential is wrong, revoked or expired.
    Invalid,
    /// Too many failures; retry after this long.
    Throttled(Duration),
}

/// The server's view of the auth file, with caches and the throttle.
pub struct Authenticator {
    data_dir: PathBuf,
    state: Mutex<AuthState>,
}

struct AuthState {
    file: AuthFile,
    modified: Option<SystemTime>,
    /// SHA-256 of a verified credential to the principal it proved.
    verified: HashMap<[u8; 32], Principal>,
    sessions: HashMap<[u8; 32], (Principal, Instant)>,
    attempts: HashMap<String, Attempts>,
}

impl Authenticator {
    /// Loads the auth file in `data_dir`.
    pub fn new(data_dir: &Path) -> Result<Authenticator, ServerError> {
        let file = AuthFile::load(data_dir)?;
        Ok(Authenticator {
            data_dir: data_dir.to_path_buf(),
            state: Mutex::new(AuthState {
                file,
                modified: modified(&data_dir.join(AUTH_FILE)),
                verified: HashMap::new(),
                sessions: HashMap::new(),
                attempts: HashMap::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Rereads the auth file when it changed, dropping the caches.
    fn refresh(&self, state: &mut AuthState) {
        let now_modified = modified(&self.data_dir.join(AUTH_FILE));
        if now_modified == state.modified {
            return;
        }
        match AuthFile::load(&self.data_dir) {
            Ok(file) => {
                // Sessions of users who were removed or given another role
                // end here.
                state.sessions.retain(|_, (principal, _)| {
                    file.users
                        .iter()
                        .any(|user| user.name == principal.name && user.role == principal.role)
                });
                state.file = file;
                state.modified = now_modified;
                state.verified.clear();
                tracing::info!("reloaded the auth file");
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot reload the auth file; keeping the previous one")
            }
        }
    }

    /// Checks an `Authorization` header value from `address`.
    pub fn authenticate(
        &self,
        header: Option<&str>,
        address: IpAddr,
    ) -> Result<Principal, AuthFailure> {
        let header = header.ok_or(AuthFailure::Missing)?;
        let (scheme, value) = header.trim().split_once(' ').ok_or(AuthFailure::Invalid)?;
        let value = value.trim();
        let digest: [u8; 32] = Sha256::digest(header.trim().as_bytes()).into();
        {
            let mut state = self.lock();
            self.refresh(&mut state);
            if let Some(principal) = state.verified.get(&digest) {
                return Ok(principal.clone());
            }
            let session: [u8; 32] = Sha256::digest(value.as_bytes()).into();
            if let Some((principal, expires)) = state.sessions.get(&session)
                && *expires > Instant::now()
            {
                return Ok(principal.clone());
            }
            throttled(&mut state, &address.to_string())?;
        }

        let proved = match scheme.to_ascii_lowercase().as_str() {
            "bearer" => self.check_key(value),
            "apikey" => {
                let decoded = decode_base64(value).unwrap_or_else(|| value.to_string());
                // Elasticsearch clients send base64 of `id:key`.
                let key = decoded
                    .rsplit_once(':')
                    .map_or(decoded.as_str(), |(_, k)| k);
                self.check_key(key)
            }
            "basic" => {
                let decoded = decode_base64(value).ok_or(AuthFailure::Invalid)?;
                let (user, password) = decoded.split_once(':').ok_or(AuthFailure::Invalid)?;
                if password.starts_with("hsk_") {
                    self.check_key(password)
                } else {
                    self.check_password(user, password, address)
                }
            }
            _ => None,
        };
        let mut state = self.lock();
        match proved {
            Some(principal) => {
                state.attempts.remove(&address.to_string());
                state.verified.insert(digest, principal.clone());
                Ok(principal)
            }
            None => {
                record_failure(&mut state, &address.to_string());
                Err(AuthFailure::Invalid)
            }
        }
    }

    fn check_key(&self, key: &str) -> Option<Principal> {
        let id = key.strip_prefix("hsk_")?.split_once('_')?.0;
        let record = {
            let state = self.lock();
            state
                .file
                .keys
                .iter()
                .find(|k| k.id == id && k.revoked.is_none())?
                .clone()
        };
        verify_secret(key, &record.hash).then(|| Principal {
            name: format!("key:{}", record.id),
            scopes: record.scopes.clone(),
            role: record.role,
        })
    }

    fn check_password(&self, user: &str, password: &str, address: IpAddr) -> Option<Principal> {
        let record = {
            let mut state = self.lock();
            if throttled(&mut state, &format!("user:{user}")).is_err() {
                return None;
            }
            state.file.users.iter().find(|u| u.name == user)?.clone()
        };
        if verify_secret(password, &record.hash) {
            self.lock().attempts.remove(&format!("user:{user}"));
            Some(user_principal(&record))
        } else {
            tracing::warn!(user = %user, address = %address, "failed login");
            record_failure(&mut self.lock(), &format!("user:{user}"));
            None
        }
    }

    /// Checks a user's password and opens a session. Returns the session
    /// token, or why the login failed.
    pub fn login(
        &self,
        user: &str,
        password: &str,
        address: IpAddr,
    ) -> Result<(String, Principal), AuthFailure> {
        {
            let mut state = self.lock();
            self.refresh(&mut state);
            throttled(&mut state, &format!("user:{user}"))?;
            throttled(&mut state, &address.to_string())?;
        }
        match self.check_password(user, password, address) {
            Some(principal) => {
                let token = format!("hss_{}", random_secret(32));
                let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
                let mut state = self.lock();
                let now = Instant::now();
                state.sessions.retain(|_, (_, expires)| *expires > now);
                state
                    .sessions
                    .insert(digest, (principal.clone(), now + SESSION_LIFETIME));
                Ok((token, principal))
            }
            None => {
                record_failure(&mut self.lock(), &address.to_string());
                Err(AuthFailure::Invalid)
            }
        }
    }
}

impl Authenticator {
    /// Returns the principal of a live login session token, or `None` for
    /// an unknown or expired token. Unlike [`Authenticator::authenticate`]
    /// it checks no key or password, so a stale browser cookie counts as
    /// no failure.
    pub fn session(&self, token: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut state = self.lock();
        self.refresh(&mut state);
        let (principal, expires) = state.sessions.get(&digest)?;
        (*expires > Instant::now()).then(|| principal.clone())
    }

    /// Ends a login session; later requests with its token are refused.
    pub fn logout(&self, token: &str) {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.lock().sessions.remove(&digest);
    }
}

fn user_principal(record: &UserRecord) -> Principal {
    let scopes = match record.role {
        Role::Admin => vec![Scope::Admin],
        Role::Analyst | Role::Reader => vec![Scope::Query],
    };
    Principal {
        name: record.name.clone(),
        scopes,
        role: record.role,
    }
}

fn throttled(state: &mut AuthState, subject: &str) -> Result<(), AuthFailure> {
    if let Some(attempts) = state.attempts.get(subject)
        && let Some(until) = attempts.locked_until
    {
        let now = Instant::now();
        if until > now {
            return Err(AuthFailure::Throttled(until - now));
        }
    }
    Ok(())
}

fn record_failure(state: &mut AuthState, subject: &str) {
    let attempts = state.attempts.entry(subject.to_string()).or_default();
    attempts.failures += 1;
    if attempts.failures >= FREE_FAILURES {
        let doublings = (attempts.failures - FREE_FAILURES).min(10);
        let lockout = Duration::from_secs(1 << doublings).min(MAX_LOCKOUT);
        attempts.locked_until = Some(Instant::now() + lockout);
    }
}

fn decode_base64(text: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_verify_until_revoked_and_failures_lock_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = AuthFile::default();
        let (key, record) = file.create_key("shipper", vec![Scope::Ingest], Role::Reader);
        file.save(dir.path()).unwrap();
        let auth = Authenticator::new(dir.path()).unwrap();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let principal = auth
            .authenticate(Some(&format!("Bearer {key}")), local)
            .unwrap();
        assert!(principal.allows(Scope::Ingest));
        assert!(!principal.allows(Scope::Query));

        // A revoked key stops working although it was cached.
        std::thread::sleep(Duration::from_millis(20));
        file.revoke_key(&record.id).unwrap();
        file.save(dir.path()).unwrap();
        let refused = auth.authenticate(Some(&format!("Bearer {key}")), local);
        assert_eq!(refused, Err(AuthFailure::Invalid));

        for _ in 0..FREE_FAILURES {
            let _ = auth.authenticate(Some("Bearer hsk_nope_nope"), local);
        }
        assert!(matches!(
            auth.authenticate(Some("Bearer hsk_nope_nope"), local),
            Err(AuthFailure::Throttled(_))
        ));
    }
}
