use std::fmt;

/// Which wait ran out. Each maps to a 504 with its own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    Connect,
    FirstByte,
    BetweenChunks,
}

impl TimeoutPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutPhase::Connect => "connect",
            TimeoutPhase::FirstByte => "first_byte",
            TimeoutPhase::BetweenChunks => "between_chunks",
        }
    }
}

/// Every way an upstream exchange can fail. Messages never include request headers or bodies,
/// so they are safe to log and to show to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// The request could not be built (bad URL, bad header name or value).
    InvalidRequest(String),
    /// The connection could not be made (refused, DNS, TLS handshake).
    Connect(String),
    Timeout(TimeoutPhase),
    /// The connection broke or the peer spoke broken HTTP after it was made.
    Protocol(String),
    /// The body was larger than the caller allowed.
    BodyTooLarge(usize),
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamError::InvalidRequest(m) => write!(f, "invalid upstream request: {m}"),
            UpstreamError::Connect(m) => write!(f, "upstream unreachable: {m}"),
            UpstreamError::Timeout(p) => write!(f, "upstream timed out ({} timeout)", p.as_str()),
            UpstreamError::Protocol(m) => write!(f, "upstream connection failed: {m}"),
            UpstreamError::BodyTooLarge(n) => write!(f, "upstream body larger than {n} bytes"),
        }
    }
}

impl std::error::Error for UpstreamError {}

/// Flattens a reqwest error chain into one line, without the URL (which may carry a key in
/// its query string, as some providers allow).
pub(crate) fn describe(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut msg = err.to_string();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&err);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
