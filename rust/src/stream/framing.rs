//! How a pump cuts a streamed body into events: SSE for every relay but one, the AWS event
//! stream framing for [`Relay::EventStream`].

use super::eventstream::{EventStreamDecoder, FrameError};
use super::Relay;
use crate::sse::{SseEvent, SseParser};

pub(super) enum Framing {
    Sse(SseParser),
    EventStream(EventStreamDecoder),
}

impl Framing {
    pub(super) fn for_relay(relay: &Relay) -> Self {
        match relay {
            Relay::EventStream => Framing::EventStream(EventStreamDecoder::new()),
            _ => Framing::Sse(SseParser::new()),
        }
    }

    /// Appends the events `chunk` completes; an SSE stream is never malformed (the parser
    /// takes any bytes), an event stream is when a frame fails its checks.
    pub(super) fn feed_into(
        &mut self,
        chunk: &[u8],
        out: &mut Vec<SseEvent>,
    ) -> Result<(), FrameError> {
        match self {
            Framing::Sse(parser) => {
                parser.feed_into(chunk, out);
                Ok(())
            }
            Framing::EventStream(decoder) => decoder.feed_into(chunk, out),
        }
    }

    /// True when the body so far ends inside an event (or frame).
    pub(super) fn has_pending(&self) -> bool {
        match self {
            Framing::Sse(parser) => parser.has_pending(),
            Framing::EventStream(decoder) => decoder.has_pending(),
        }
    }
}
