//! GET over plain HTTP/1.1 with `ureq` (keep-alive: each fetch thread owns one [`Http`], whose
//! agent reuses its connection while the server allows it).
//!
//! Every failure becomes a [`FetchError`]: `NotFound` (404, which callers may accept, e.g. for
//! `summary` or `.commitmeta`) or a one-line reason without the URL (the caller names the object).

use std::io::{ErrorKind, Read};
use std::time::Duration;

/// Why a GET failed.
pub enum FetchError {
    /// HTTP 404.
    NotFound,
    /// Anything else, as a short lowercase phrase.
    Other(String),
    /// The sink of [`Http::get_stream`] refused the body; its reason.
    Rejected(String),
}

/// Bytes read from the socket at a time by [`Http::get_stream`].
const CHUNK: usize = 32 * 1024;

/// A keep-alive HTTP client for one remote base URL.
pub struct Http {
    base: String,
    agent: ureq::Agent,
}

impl Http {
    /// A client for `base` (`http://host[:port]/path`, without the trailing `/`).
    pub fn new(base: &str) -> Http {
        let config = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(15)))
            // A stalled server: no byte for this long ends the request.
            .timeout_per_read(Some(Duration::from_secs(60)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .http_status_as_error(true)
            .max_idle_connections_per_host(1)
            .user_agent("ramdisk-ostree/0.1")
            .build();
        Http {
            base: base.to_string(),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// GETs `base/path` and returns the whole body (at most `limit` bytes).
    pub fn get(&self, path: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
        let url = [self.base.as_str(), "/", path].concat();
        let resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| classify(e, false))?;
        resp.into_body()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| classify(e, true))
    }
}

impl Http {
    /// GETs `base/path` and hands the body to `sink` in pieces of at most 32 KiB as they arrive
    /// (at most `limit` bytes in all), so memory does not grow with the body. Returns the length.
    pub fn get_stream(
        &self,
        path: &str,
        limit: u64,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), String>,
    ) -> Result<u64, FetchError> {
        let url = [self.base.as_str(), "/", path].concat();
        let resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| classify(e, false))?;
        let mut reader = resp.into_body().into_with_config().limit(limit).reader();
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(classify(ureq::Error::from(e), true)),
            };
            total += n as u64;
            sink(buf.get(..n).unwrap_or_default()).map_err(FetchError::Rejected)?;
        }
    }
}

/// The one-line reason for a ureq error; `in_body`: the status line and headers had arrived.
fn classify(e: ureq::Error, in_body: bool) -> FetchError {
    let text = match e {
        ureq::Error::StatusCode(404) => return FetchError::NotFound,
        ureq::Error::StatusCode(code) => {
            let mut s = String::from("HTTP status ");
            crate::report::push_u64(&mut s, u64::from(code));
            return FetchError::Other(s);
        }
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => "connection refused",
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
                "connection reset by server"
            }
            ErrorKind::UnexpectedEof if in_body => {
                "server closed the connection early (truncated response)"
            }
            ErrorKind::UnexpectedEof => "server closed the connection without a response",
            ErrorKind::TimedOut | ErrorKind::WouldBlock => "timed out",
            ErrorKind::AddrNotAvailable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::HostUnreachable => "server unreachable",
            _ => return FetchError::Other(["I/O error: ", &io.to_string()].concat()),
        },
        ureq::Error::Timeout(_) => "timed out",
        ureq::Error::HostNotFound => "host not found",
        ureq::Error::ConnectionFailed => "connection failed",
        ureq::Error::BodyExceedsLimit(_) => "response too large",
        ureq::Error::Protocol(_) => "invalid HTTP response (connection dropped?)",
        other => return FetchError::Other(other.to_string()),
    };
    FetchError::Other(text.to_string())
}
