//! Reading feed content from `http(s)://` URLs, `file://` URLs and local
//! paths.
//!
//! HTTP requests have a connect and a total timeout, are retried with
//! exponential backoff on connection failures, timeouts, 429 and 5xx
//! answers, and send the validators of the previous answer
//! (`If-None-Match`, `If-Modified-Since`) so that an unchanged resource
//! costs a 304.
//!
//! A feed can name a CA file and a client certificate, and
//! [`Fetcher::for_feed`] builds a client with them. TLS failures are
//! reported with the setting that fixes them.
//!
//! HTTP requests send `Accept-Encoding: gzip`, and a response with
//! `Content-Encoding: gzip` is decompressed. Content that is itself gzip
//! data (a `.gz` file, served over HTTP or read from disk) is decompressed
//! too, recognised by the gzip magic bytes rather than by the file name.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, ETAG, HeaderMap, HeaderName, HeaderValue, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, LAST_MODIFIED,
};
use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::config::FeedConfig;
use crate::error::IntelError;

/// The HTTP validators of a previous answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// A user name and password for HTTP basic authentication. `Debug` leaves
/// the password out.
#[derive(Clone)]
pub struct BasicCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("BasicCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// The result of a fetch.
#[derive(Debug)]
pub enum Fetched {
    /// The content, with the validators to send next time.
    Content {
        body: Vec<u8>,
        validators: Validators,
    },
    /// The server answered 304: the content is the one fetched before.
    NotModified,
}

/// Timeouts and retries of HTTP requests.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Attempts after the first one.
    pub retries: u32,
    /// The wait before the first retry; each further retry waits twice as
    /// long.
    pub backoff: Duration,
}

impl Default for FetchOptions {
    fn default() -> FetchOptions {
        FetchOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            retries: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Fetches feed content.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    options: FetchOptions,
}

impl Fetcher {
    pub fn new(options: FetchOptions) -> Result<Fetcher, IntelError> {
        let client = client_builder(&options)
            .build()
            .map_err(|err| IntelError::Internal(format!("cannot build the HTTP client: {err}")))?;
        Ok(Fetcher { client, options })
    }

    /// Returns the fetcher to use for `feed`. Without TLS settings that is a
    /// clone of this one. When the feed sets a CA file or a client
    /// certificate, its client trusts that CA in addition to the system's
    /// and sends that certificate. The files are read on each call, so
    /// replaced certificates take effect at the next pull.
    ///
    /// Fails with [`IntelError::InvalidConfig`] naming the file when a file
    /// cannot be read or holds no usable PEM content.
    pub fn for_feed(&self, feed: &FeedConfig) -> Result<Fetcher, IntelError> {
        if !feed.has_tls_settings() {
            return Ok(self.clone());
        }
        let mut builder = client_builder(&self.options);
        if let Some(path) = &feed.ca_file {
            builder = builder.tls_certs_merge(read_ca_file(path)?);
        }
        if let Some(path) = &feed.client_cert_file {
            builder = builder.identity(read_identity(path, feed.client_key_file.as_deref())?);
        }
        let client = builder.build().map_err(|err| {
            IntelError::InvalidConfig(format!(
                "cannot use the TLS settings of feed {:?}: {}",
                feed.name,
                error_chain(&err)
            ))
        })?;
        Ok(Fetcher {
            client,
            options: self.options.clone(),
        })
    }

    /// Fetches `location`. `headers` are extra `Name: value` lines for HTTP;
    /// `validators` are sent as conditional request headers.
    pub async fn fetch(
        &self,
        location: &str,
        headers: &[String],
        validators: Option<&Validators>,
    ) -> Result<Fetched, IntelError> {
        if location.starts_with("http://") || location.starts_with("https://") {
            return self.fetch_http(location, headers, validators).await;
        }
        let path = local_path(location)?;
        let body = tokio::fs::read(&path)
            .await
            .map_err(|err| IntelError::Fetch {
                location: location.to_string(),
                reason: err.to_string(),
            })?;
        Ok(Fetched::Content {
            body: gunzip_if_gzip(location, body)?,
            validators: Validators::default(),
        })
    }

    /// Fetches `location` like [`Fetcher::fetch`], but returns `None` when
    /// the resource does not exist: an HTTP 404 or a missing local file.
    pub async fn fetch_optional(
        &self,
        location: &str,
        headers: &[String],
        validators: Option<&Validators>,
    ) -> Result<Option<Fetched>, IntelError> {
        let is_http = location.starts_with("http://") || location.starts_with("https://");
        if !is_http && !local_path(location)?.exists() {
            return Ok(None);
        }
        match self.fetch(location, headers, validators).await {
            Err(IntelError::HttpStatus { status: 404, .. }) => Ok(None),
            other => other.map(Some),
        }
    }

    async fn fetch_http(
        &self,
        location: &str,
        headers: &[String],
        validators: Option<&Validators>,
    ) -> Result<Fetched, IntelError> {
        let mut request_headers = HeaderMap::new();
        request_headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json, text/plain, text/*"),
        );
        request_headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        for line in headers {
            let (name, value) = line.split_once(':').ok_or_else(|| {
                IntelError::InvalidConfig(format!(
                    "header line of {location} has no ':'; write it as 'Name: value'"
                ))
            })?;
            let name = HeaderName::try_from(name.trim()).map_err(|err| {
                IntelError::InvalidConfig(format!("header name {:?}: {err}", name.trim()))
            })?;
            let mut value = HeaderValue::try_from(value.trim()).map_err(|err| {
                IntelError::InvalidConfig(format!("value of header {name}: {err}"))
            })?;
            // Keeps API keys out of debug output.
            value.set_sensitive(true);
            request_headers.insert(name, value);
        }
        if let Some(validators) = validators {
            if let Some(etag) = validators
                .etag
                .as_deref()
                .and_then(|v| HeaderValue::try_from(v).ok())
            {
                request_headers.insert(IF_NONE_MATCH, etag);
            }
            if let Some(date) = validators
                .last_modified
                .as_deref()
                .and_then(|v| HeaderValue::try_from(v).ok())
            {
                request_headers.insert(IF_MODIFIED_SINCE, date);
            }
        }

        let response = self
            .send(location, || {
                self.client.get(location).headers(request_headers.clone())
            })
            .await?;
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        read_body(location, response).await
    }

    /// POSTs a JSON body with the API key in `Authorization`, as MISP's REST
    /// API expects, and returns the answer's body. Retries like `fetch`.
    pub async fn post_json(
        &self,
        location: &str,
        api_key: &str,
        body: &serde_json::Value,
    ) -> Result<Vec<u8>, IntelError> {
        let mut authorization = HeaderValue::try_from(api_key).map_err(|_| {
            IntelError::InvalidConfig(
                "the API key contains characters not allowed in an HTTP header".into(),
            )
        })?;
        // Keeps the key out of debug output.
        authorization.set_sensitive(true);
        let json = reqwest::header::HeaderValue::from_static("application/json");
        let response = self
            .send(location, || {
                self.client
                    .post(location)
                    .header(reqwest::header::AUTHORIZATION, authorization.clone())
                    .header(reqwest::header::ACCEPT, json.clone())
                    .header(reqwest::header::CONTENT_TYPE, json.clone())
                    .header(ACCEPT_ENCODING, HeaderValue::from_static("gzip"))
                    .body(body.to_string())
            })
            .await?;
        match read_body(location, response).await? {
            Fetched::Content { body, .. } => Ok(body),
            Fetched::NotModified => Err(IntelError::Internal(
                "read_body returned NotModified".into(),
            )),
        }
    }

    /// GETs `location` with an `Accept` header and, when `credentials` is
    /// set, HTTP basic authentication. Returns the body and the response
    /// headers. Retries like `fetch`, and rejects HTML like it.
    pub async fn get_with_headers(
        &self,
        location: &str,
        accept: &'static str,
        credentials: Option<&BasicCredentials>,
    ) -> Result<(Vec<u8>, HeaderMap), IntelError> {
        let response = self
            .send(location, || {
                let request = self
                    .client
                    .get(location)
                    .header(reqwest::header::ACCEPT, HeaderValue::from_static(accept))
                    .header(ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
                match credentials {
                    // reqwest marks the Authorization header sensitive.
                    Some(credentials) => {
                        request.basic_auth(&credentials.user, Some(&credentials.password))
                    }
                    None => request,
                }
            })
            .await?;
        let headers = response.headers().clone();
        match read_body(location, response).await? {
            Fetched::Content { body, .. } => Ok((body, headers)),
            Fetched::NotModified => Err(IntelError::InvalidContent {
                what: "HTTP response",
                location: location.to_string(),
                reason: "the server answered 304 to an unconditional request".into(),
            }),
        }
    }

    /// Sends the request that `request` builds, retrying with backoff on
    /// connection failures, timeouts, 429 and 5xx. Returns a 200 or 304
    /// response.
    async fn send(
        &self,
        location: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, IntelError> {
        let mut attempt = 0u32;
        loop {
            let retryable_error = match request().send().await {
                Ok(response)
                    if response.status() == StatusCode::OK
                        || response.status() == StatusCode::NOT_MODIFIED =>
                {
                    return Ok(response);
                }
                Ok(response) => {
                    let status = response.status();
                    let error = IntelError::HttpStatus {
                        location: location.to_string(),
                        status: status.as_u16(),
                    };
                    if !(status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS) {
                        return Err(error);
                    }
                    error
                }
                // A TLS failure repeats on every attempt, so it is not
                // retried.
                Err(err) => match tls_fix(&err) {
                    Some(fix) => {
                        return Err(IntelError::Tls {
                            location: location.to_string(),
                            reason: error_chain(&err),
                            fix,
                        });
                    }
                    None => IntelError::Fetch {
                        location: location.to_string(),
                        reason: error_chain(&err),
                    },
                },
            };
            if attempt >= self.options.retries {
                return Err(retryable_error);
            }
            let wait = self.options.backoff * 2u32.saturating_pow(attempt);
            attempt += 1;
            warn!(url = location, attempt, wait_ms = wait.as_millis() as u64, error = %retryable_error, "retrying feed request");
            tokio::time::sleep(wait).await;
        }
    }
}

async fn read_body(location: &str, response: reqwest::Response) -> Result<Fetched, IntelError> {
    let header_text = |name| {
        response
            .headers()
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
            .map(str::to_string)
    };
    let validators = Validators {
        etag: header_text(ETAG),
        last_modified: header_text(LAST_MODIFIED),
    };
    let is_html = header_text(reqwest::header::CONTENT_TYPE)
        .is_some_and(|content_type| content_type.to_ascii_lowercase().starts_with("text/html"));
    let encoding = header_text(CONTENT_ENCODING).map(|value| value.trim().to_ascii_lowercase());
    let body = response.bytes().await.map_err(|err| IntelError::Fetch {
        location: location.to_string(),
        reason: error_chain(&err),
    })?;
    let body = match encoding.as_deref() {
        None | Some("" | "identity") => body.to_vec(),
        Some("gzip" | "x-gzip") => gunzip(location, &body)?,
        Some(other) => {
            return Err(IntelError::InvalidContent {
                what: "HTTP response",
                location: location.to_string(),
                reason: format!(
                    "Content-Encoding {other:?} is not supported; homesoc asks for gzip or no encoding, so check proxies between it and the server"
                ),
            });
        }
    };
    // A `.gz` file served as is (`application/gzip`) is gzip data too.
    let body = gunzip_if_gzip(location, body)?;
    if is_html || looks_like_html(&body) {
        return Err(IntelError::HtmlPage {
            location: location.to_string(),
        });
    }
    debug!(url = location, bytes = body.len(), "fetched");
    Ok(Fetched::Content { body, validators })
}

/// The largest decompressed size of gzip content, so that a small hostile
/// file cannot fill the memory.
pub const MAX_DECOMPRESSED_BYTES: u64 = 4 << 30;

/// The first two bytes of every gzip member (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Decompresses `body` when it starts with the gzip magic bytes and returns
/// it unchanged otherwise. Text and JSON feeds never start with these bytes,
/// because 0x8b cannot follow 0x1f in UTF-8 text.
pub fn gunzip_if_gzip(location: &str, body: Vec<u8>) -> Result<Vec<u8>, IntelError> {
    if body.starts_with(&GZIP_MAGIC) {
        gunzip(location, &body)
    } else {
        Ok(body)
    }
}

/// Decompresses gzip data, every member of it (as `gzip -d` does). Fails on
/// corrupt or truncated data and on content larger than
/// [`MAX_DECOMPRESSED_BYTES`].
pub fn gunzip(location: &str, compressed: &[u8]) -> Result<Vec<u8>, IntelError> {
    let invalid = |reason: String| IntelError::InvalidContent {
        what: "gzip content",
        location: location.to_string(),
        reason,
    };
    let mut body = Vec::new();
    flate2::read::MultiGzDecoder::new(compressed)
        .take(MAX_DECOMPRESSED_BYTES + 1)
        .read_to_end(&mut body)
        .map_err(|err| {
            invalid(format!(
                "cannot decompress: {err}; the file is corrupt or truncated, so download it again or check the server"
            ))
        })?;
    if body.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(invalid(format!(
            "decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes"
        )));
    }
    debug!(
        url = location,
        compressed = compressed.len(),
        bytes = body.len(),
        "decompressed gzip"
    );
    Ok(body)
}

/// Whether content starts like an HTML document.
pub fn looks_like_html(body: &[u8]) -> bool {
    let start: String = String::from_utf8_lossy(&body[..body.len().min(512)])
        .trim_start()
        .chars()
        .take(14)
        .collect::<String>()
        .to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html")
}

fn client_builder(options: &FetchOptions) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .user_agent(concat!("homesoc/", env!("CARGO_PKG_VERSION")))
}

/// Reads the CA certificates of a PEM file.
fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, IntelError> {
    let bytes = std::fs::read(path).map_err(|err| {
        IntelError::InvalidConfig(format!("cannot read CA file {}: {err}", path.display()))
    })?;
    let certificates = reqwest::Certificate::from_pem_bundle(&bytes).map_err(|err| {
        IntelError::InvalidConfig(format!(
            "CA file {} is not valid PEM: {}",
            path.display(),
            error_chain(&err)
        ))
    })?;
    if certificates.is_empty() {
        return Err(IntelError::InvalidConfig(format!(
            "CA file {} contains no PEM certificate (-----BEGIN CERTIFICATE-----); convert a DER file with `openssl x509 -inform der -in FILE -out FILE.pem`",
            path.display()
        )));
    }
    Ok(certificates)
}

/// Reads a client certificate and its private key from PEM files. The key
/// is read from `key_path`, or from the certificate file when `None`.
fn read_identity(
    cert_path: &Path,
    key_path: Option<&Path>,
) -> Result<reqwest::Identity, IntelError> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path).map_err(|err| {
            IntelError::InvalidConfig(format!("cannot read {what} {}: {err}", path.display()))
        })
    };
    let mut pem = read(cert_path, "client certificate file")?;
    if let Some(key_path) = key_path {
        pem.push(b'\n');
        pem.extend(read(key_path, "client key file")?);
    }
    let files = match key_path {
        Some(key_path) => format!("{} and {}", cert_path.display(), key_path.display()),
        None => cert_path.display().to_string(),
    };
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(IntelError::InvalidConfig(format!(
            "{files} contain no PEM certificate (-----BEGIN CERTIFICATE-----); give the client certificate in PEM format"
        )));
    }
    reqwest::Identity::from_pem(&pem).map_err(|err| {
        IntelError::InvalidConfig(format!(
            "cannot use the client certificate in {files}: {}; give a PEM certificate and its unencrypted PEM private key",
            error_chain(&err)
        ))
    })
}

/// Returns what to do about a TLS failure, or `None` when `err` is not one.
fn tls_fix(err: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    use rustls::{AlertDescription, CertificateError, Error as TlsError};

    let mut cause = Some(err);
    while let Some(current) = cause {
        if let Some(tls_error) = as_tls_error(current) {
            return Some(match tls_error {
                TlsError::InvalidCertificate(
                    CertificateError::UnknownIssuer | CertificateError::BadSignature,
                ) => {
                    "the server's certificate is not signed by a CA this host trusts; if the server uses a private or self-signed CA, give its certificate in PEM format with --ca-file (\"ca_file\" in feeds.json)"
                }
                TlsError::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                ) => {
                    "the server's certificate is not issued for this host name; use the host name that the certificate names in the feed URL"
                }
                TlsError::InvalidCertificate(
                    CertificateError::Expired
                    | CertificateError::ExpiredContext { .. }
                    | CertificateError::NotValidYet
                    | CertificateError::NotValidYetContext { .. },
                ) => {
                    "the server's certificate is outside its validity period; check the clocks of both hosts, or renew the certificate"
                }
                TlsError::AlertReceived(
                    AlertDescription::CertificateRequired
                    | AlertDescription::HandshakeFailure
                    | AlertDescription::BadCertificate
                    | AlertDescription::UnknownCA
                    | AlertDescription::CertificateUnknown
                    | AlertDescription::AccessDenied,
                ) => {
                    "the server rejected the handshake, as servers that require a client certificate do; give one with --client-cert and --client-key (\"client_cert_file\" and \"client_key_file\" in feeds.json), signed by a CA the server trusts"
                }
                TlsError::InvalidMessage(_) => {
                    "the server does not speak TLS on this port; check whether the URL should start with http://"
                }
                _ => {
                    "check the server's TLS setup; --ca-file sets extra trusted CAs and --client-cert a client certificate"
                }
            });
        }
        cause = current.source();
    }
    None
}

/// Returns the rustls error that `error` is or wraps, through any number of
/// I/O errors. hyper-rustls wraps the I/O error of tokio-rustls in another
/// one, and an I/O error's `source()` skips the error it wraps, so the
/// wrapped errors are looked into directly.
fn as_tls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(tls_error) = error.downcast_ref::<rustls::Error>() {
        return Some(tls_error);
    }
    if let Some(io_error) = error.downcast_ref::<std::io::Error>() {
        return io_error.get_ref().and_then(|inner| as_tls_error(inner));
    }
    None
}

/// Returns the error and its sources, joined, since reqwest's top-level
/// message omits the cause (refused, timed out, certificate invalid).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Converts a `file://` URL or a plain path to a path.
fn local_path(location: &str) -> Result<PathBuf, IntelError> {
    if location.starts_with("file://") {
        let url = url::Url::parse(location).map_err(|err| IntelError::Fetch {
            location: location.to_string(),
            reason: err.to_string(),
        })?;
        return url.to_file_path().map_err(|()| IntelError::Fetch {
            location: location.to_string(),
            reason: "not a local file URL".into(),
        });
    }
    if location.contains("://") {
        return Err(IntelError::Fetch {
            location: location.to_string(),
            reason: "unsupported URL scheme; use http, https, file or a local path".into(),
        });
    }
    Ok(PathBuf::from(location))
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_content_is_decompressed() {
        let text = b"# comment\n203.0.113.7\n".repeat(100);
        assert_eq!(gunzip_if_gzip("f.gz", gzip(&text)).unwrap(), text);
    }

    #[test]
    fn gzip_members_are_concatenated() {
        let mut two = gzip(b"198.51.100.1\n");
        two.extend(gzip(b"198.51.100.2\n"));
        assert_eq!(
            gunzip_if_gzip("f.gz", two).unwrap(),
            b"198.51.100.1\n198.51.100.2\n"
        );
    }

    #[test]
    fn plain_content_is_unchanged() {
        let text = b"{\"a\": 1}".to_vec();
        assert_eq!(gunzip_if_gzip("f.json", text.clone()).unwrap(), text);
        assert_eq!(gunzip_if_gzip("empty", Vec::new()).unwrap(), b"");
    }

    #[test]
    fn corrupt_gzip_fails() {
        let compressed = gzip(&b"203.0.113.7\n".repeat(1000));
        let truncated = compressed[..compressed.len() / 2].to_vec();
        let error = gunzip_if_gzip("f.gz", truncated).unwrap_err().to_string();
        assert!(error.contains("invalid gzip content from f.gz"), "{error}");

        let mut damaged = compressed;
        let middle = damaged.len() / 2;
        damaged[middle] ^= 0xff;
        let error = gunzip_if_gzip("f.gz", damaged).unwrap_err().to_string();
        assert!(error.contains("cannot decompress"), "{error}");

        let error = gunzip("f", b"not gzip at all").unwrap_err().to_string();
        assert!(error.contains("cannot decompress"), "{error}");
    }
}
