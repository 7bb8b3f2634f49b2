//! The TLS certificate: the user's, or one generated on first run.

use std::path::{Path, PathBuf};

use crate::auth::write_private;
use crate::error::{ServerError, io_error};

/// Paths of a PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Returns the generated certificate's paths in `data_dir`, creating a
/// self-signed certificate for `localhost`, `127.0.0.1` and `::1` when
/// there is none. Returns whether it was created.
pub fn ensure_self_signed(data_dir: &Path) -> Result<(CertPaths, bool), ServerError> {
    let folder = data_dir.join("tls");
    let paths = CertPaths {
        cert: folder.join("cert.pem"),
        key: folder.join("key.pem"),
    };
    if paths.cert.exists() && paths.key.exists() {
        return Ok((paths, false));
    }
    std::fs::create_dir_all(&folder).map_err(|source| io_error(&folder, source))?;
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() {
            names.push(host.to_string());
        }
    }
    let generated = rcgen::generate_simple_self_signed(names)
        .map_err(|err| ServerError::Tls(format!("cannot generate a certificate: {err}")))?;
    write_private(&paths.key, generated.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&paths.cert, generated.cert.pem())
        .map_err(|source| io_error(&paths.cert, source))?;
    Ok((paths, true))
}
