//! Incremental decoder of the AWS event stream framing (`application/vnd.amazon.eventstream`),
//! the binary framing of Bedrock's ConverseStream.
//!
//! A frame is a 12-byte prelude (total length, headers length, a CRC32 of the first eight
//! bytes), the headers, the payload and a CRC32 of everything before it. Frames are cut out
//! of the bytes as they arrive, in whatever pieces the network delivered them; each complete
//! frame is read, both checksums verified, by `aws-smithy-eventstream` (AWS's own
//! implementation). The prelude's checksum is verified here as soon as its 12 bytes are in,
//! so a corrupt length is an error at once, never a wait for bytes that will not come.
//!
//! Each frame becomes an [`SseEvent`] for the same consumer as an SSE stream's events:
//!
//! - an event (`:message-type: event`) is named by its `:event-type`, its payload the data;
//! - an exception (`:message-type: exception`) is named `exception:<:exception-type>` (e.g.
//!   `exception:throttlingException`), its payload (`{"message": ...}`) the data;
//! - an error (`:message-type: error`) is named `error:<:error-code>`, the data
//!   `{"message": <:error-message>}`.

use std::fmt;

use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::Message;
use bytes::{Buf, BytesMut};

use crate::sse::SseEvent;

/// Prelude: total length, headers length, prelude CRC (each a big-endian u32).
const PRELUDE: usize = 12;
/// The message CRC that ends a frame.
const TRAILER: usize = 4;
/// The longest frame accepted: AWS caps an event stream message at 16 MiB.
const MAX_FRAME: usize = 16 << 20;

/// A byte stream that is not a well-formed event stream (a checksum that does not match, a
/// length out of bounds, a header that cannot be read). The stream cannot go on after one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed event stream: {}", self.0)
    }
}

impl std::error::Error for FrameError {}

#[derive(Debug, Default)]
pub struct EventStreamDecoder {
    /// Bytes of frames not yet complete.
    buf: BytesMut,
    /// The length of the frame at the head of `buf`, once its prelude is checked.
    frame_len: Option<usize>,
    /// Set by the first error and reported by every later feed: nothing after it is read.
    failed: Option<FrameError>,
}

impl EventStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece of the stream and appends an event for every frame it completes
    /// to `out`. The frames before a malformed one are appended before its error is returned.
    pub fn feed_into(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.buf.extend_from_slice(chunk);
        self.drain(out)
            .inspect_err(|e| self.failed = Some(e.clone()))
    }

    fn drain(&mut self, out: &mut Vec<SseEvent>) -> Result<(), FrameError> {
        loop {
            let len = match self.frame_len {
                Some(len) => len,
                None if self.buf.len() >= PRELUDE => {
                    let len = frame_len(&self.buf[..PRELUDE])?;
                    self.frame_len = Some(len);
                    len
                }
                None => return Ok(()),
            };
            if self.buf.len() < len {
                return Ok(());
            }
            let frame = self.buf.split_to(len).freeze();
            self.frame_len = None;
            let message = read_message_from(frame).map_err(|e| FrameError(e.to_string()))?;
            if let Some(ev) = to_event(&message) {
                out.push(ev);
            }
        }
    }

    /// Convenience wrapper around [`EventStreamDecoder::feed_into`].
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, FrameError> {
        let mut out = Vec::new();
        self.feed_into(chunk, &mut out).map(|()| out)
    }

    /// True when the bytes fed so far end inside a frame.
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }
}

/// The total length of the frame whose prelude this is, its checksum and bounds checked.
fn frame_len(mut prelude: &[u8]) -> Result<usize, FrameError> {
    let expected = crc32fast::hash(&prelude[..8]);
    let total = prelude.get_u32() as usize;
    let headers = prelude.get_u32() as usize;
    let crc = prelude.get_u32();
    if crc != expected {
        return Err(FrameError(format!(
            "prelude checksum 0x{crc:X} didn't match expected checksum 0x{expected:X}"
        )));
    }
    if total > MAX_FRAME || total < PRELUDE + TRAILER + headers {
        return Err(FrameError(format!(
            "invalid frame length {total} (headers {headers})"
        )));
    }
    Ok(total)
}

fn string_header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

/// The event a frame is for its consumer (see the module doc); None for a message type
/// the framing does not define.
fn to_event(message: &Message) -> Option<SseEvent> {
    let (event, data) = match string_header(message, ":message-type").unwrap_or("event") {
        "event" => (
            string_header(message, ":event-type").map(str::to_owned),
            message.payload().clone(),
        ),
        "exception" => {
            let kind = string_header(message, ":exception-type").unwrap_or("unknown");
            (Some(format!("exception:{kind}")), message.payload().clone())
        }
        "error" => {
            let code = string_header(message, ":error-code").unwrap_or("unknown");
            let text = string_header(message, ":error-message").unwrap_or_default();
            let body = serde_json::json!({ "message": text }).to_string();
            (Some(format!("error:{code}")), body.into_bytes().into())
        }
        _ => return None,
    };
    Some(SseEvent {
        event,
        data,
        id: None,
    })
}

#[cfg(test)]
#[path = "eventstream_tests.rs"]
pub(crate) mod tests;
