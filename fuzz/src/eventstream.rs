//! Properties of the AWS event stream decoder (`pllm_accel::stream::eventstream`, Bedrock's
//! ConverseStream framing), checked on every input by [`check_eventstream`]:
//!
//! - read as a byte stream, the input gives the same events, the same error (if any) and the
//!   same `has_pending` whatever the split into chunks, never panics, and after an error every
//!   later feed reports that error;
//! - read as the parts of frames (the input cut at 0xFF bytes), the frames AWS's own encoder
//!   writes decode back to exactly those events, however they are split; and the same stream
//!   with any one byte changed is an error, never different events.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use pllm_accel::sse::SseEvent;
use pllm_accel::stream::eventstream::{EventStreamDecoder, FrameError};

use crate::{cuts, fnv1a};

type Outcome = (Vec<SseEvent>, Result<(), FrameError>, bool);

fn decode_in_pieces(stream: &[u8], points: &[usize]) -> Outcome {
    let mut decoder = EventStreamDecoder::new();
    let mut events = Vec::new();
    let mut start = 0;
    let mut result = Ok(());
    for &end in points.iter().chain(std::iter::once(&stream.len())) {
        result = decoder.feed_into(&stream[start..end], &mut events);
        start = end;
        if result.is_err() {
            break;
        }
    }
    if let Err(e) = &result {
        // Nothing is read after an error, and the error stays.
        assert_eq!(decoder.feed(b"more").as_ref().err(), Some(e));
    }
    let pending = decoder.has_pending();
    (events, result, pending)
}

fn frame(event_type: &str, payload: &[u8]) -> Vec<u8> {
    let header = |name: &'static str, value: &str| {
        Header::new(name, HeaderValue::String(value.to_owned().into()))
    };
    let message = Message::new(Bytes::copy_from_slice(payload))
        .add_header(header(":event-type", event_type))
        .add_header(header(":message-type", "event"));
    let mut out = Vec::new();
    let written = write_message_to(&message, &mut out);
    assert!(
        written.is_ok(),
        "the encoder refused a message: {written:?}"
    );
    out
}

pub fn check_eventstream(input: &[u8]) {
    let seed = fnv1a(input);

    let whole = decode_in_pieces(input, &[]);
    let split = decode_in_pieces(input, &cuts(seed, input.len()));
    assert_eq!(whole.0, split.0, "a split changed the events");
    assert_eq!(whole.1, split.1, "a split changed the error");
    if whole.1.is_ok() {
        assert_eq!(whole.2, split.2, "a split changed has_pending");
    }

    let parts: Vec<&[u8]> = input.split(|&b| b == 0xFF).take(32).collect();
    let stream: Vec<u8> = parts
        .iter()
        .enumerate()
        .flat_map(|(i, part)| frame(&format!("e{i}"), part))
        .collect();
    let expected: Vec<SseEvent> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| SseEvent {
            event: Some(format!("e{i}")),
            data: Bytes::copy_from_slice(part),
            id: None,
        })
        .collect();
    let (events, result, pending) = decode_in_pieces(&stream, &cuts(seed >> 3, stream.len()));
    assert_eq!(result, Ok(()));
    assert_eq!(
        events, expected,
        "frames did not decode to what was encoded"
    );
    assert!(!pending);

    let mut corrupt = stream;
    let at = (seed % corrupt.len() as u64) as usize;
    corrupt[at] ^= 1 + (seed >> 8) as u8 % 255;
    let (events, result, _) = decode_in_pieces(&corrupt, &[]);
    assert!(
        result.is_err(),
        "byte {at} changed and the stream still decoded"
    );
    assert!(events.len() <= expected.len() && events[..] == expected[..events.len()]);
}
