//! Event sources and parsers that turn them into Sentinel-shaped rows.
//!
//! [`evtx`] reads Windows event log files into `SecurityEvent` and `Event`
//! batches. [`winlogbeat`] maps shipper documents to the same rows.
//! [`syslog`] receives syslog and CEF messages over the network into
//! `Syslog` and `CommonSecurityLog` rows, which go to a [`sink::RowSink`].

pub mod evtx;
pub mod sink;
pub mod syslog;
pub mod winlogbeat;

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Returns the SHA-256 of a file's content as 64 lower-case hex digits,
/// the import id of a file import. Reads the file in 64 KiB blocks.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut block)?;
        if read == 0 {
            break;
        }
        hasher.update(&block[..read]);
    }
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn sha256_of_known_content() {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        tmp.write_all(b"abc").unwrap();
        assert_eq!(
            sha256_file(tmp.path()).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sha256_of_missing_file_fails() {
        assert!(sha256_file(Path::new("/nonexistent/homesoc.evtx")).is_err());
    }
}
