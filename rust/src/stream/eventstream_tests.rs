//! The event stream decoder against frames written by AWS's own encoder
//! (`aws_smithy_eventstream::frame::write_message_to`).

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use proptest::prelude::*;

use super::*;

fn string(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_owned().into()))
}

fn encode(message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    write_message_to(message, &mut out).unwrap();
    out
}

/// One Bedrock event frame, as ConverseStream sends it.
pub(crate) fn event_frame(event_type: &str, payload: &str) -> Vec<u8> {
    encode(
        &Message::new(Bytes::from(payload.to_owned()))
            .add_header(string(":event-type", event_type))
            .add_header(string(":content-type", "application/json"))
            .add_header(string(":message-type", "event")),
    )
}

/// One exception frame (`:message-type: exception`).
pub(crate) fn exception_frame(kind: &str, message: &str) -> Vec<u8> {
    encode(
        &Message::new(Bytes::from(format!("{{\"message\":\"{message}\"}}")))
            .add_header(string(":exception-type", kind))
            .add_header(string(":content-type", "application/json"))
            .add_header(string(":message-type", "exception")),
    )
}

fn ev(event: &str, data: &str) -> SseEvent {
    SseEvent {
        event: Some(event.to_owned()),
        data: Bytes::from(data.to_owned()),
        id: None,
    }
}

/// A ConverseStream answer: text, a tool call, the stop and the metadata.
pub(crate) fn converse_stream() -> Vec<u8> {
    [
        event_frame("messageStart", r#"{"role":"assistant","p":"abcd"}"#),
        event_frame(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"ab"}"#,
        ),
        event_frame("contentBlockStop", r#"{"contentBlockIndex":0}"#),
        event_frame(
            "contentBlockStart",
            r#"{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"t1","name":"f"}}}"#,
        ),
        event_frame(
            "contentBlockDelta",
            r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a\":1}"}}}"#,
        ),
        event_frame("messageStop", r#"{"stopReason":"tool_use"}"#),
        event_frame(
            "metadata",
            r#"{"usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5},"metrics":{"latencyMs":9}}"#,
        ),
    ]
    .concat()
}

#[test]
fn frames_become_events_named_by_their_event_type() {
    let mut d = EventStreamDecoder::new();
    let events = d.feed(&converse_stream()).unwrap();
    let names: Vec<_> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockStop",
            "contentBlockStart",
            "contentBlockDelta",
            "messageStop",
            "metadata"
        ]
    );
    assert_eq!(
        events[1],
        ev(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"ab"}"#
        )
    );
    assert!(!d.has_pending());
}

#[test]
fn exceptions_and_errors_are_named_apart_from_events() {
    let error = encode(
        &Message::new(Bytes::new())
            .add_header(string(":message-type", "error"))
            .add_header(string(":error-code", "InternalFailure"))
            .add_header(string(":error-message", "it \"broke\"")),
    );
    let unknown = encode(&Message::new(Bytes::new()).add_header(string(":message-type", "odd")));
    let body = [
        exception_frame("throttlingException", "Too many requests"),
        unknown,
        error,
    ]
    .concat();
    let events = EventStreamDecoder::new().feed(&body).unwrap();
    assert_eq!(
        events,
        [
            ev(
                "exception:throttlingException",
                r#"{"message":"Too many requests"}"#
            ),
            ev("error:InternalFailure", r#"{"message":"it \"broke\""}"#),
        ]
    );
}

#[test]
fn a_frame_cut_anywhere_waits_for_the_rest() {
    let frame = event_frame("messageStop", r#"{"stopReason":"end_turn"}"#);
    for cut in 1..frame.len() {
        let mut d = EventStreamDecoder::new();
        assert!(d.feed(&frame[..cut]).unwrap().is_empty());
        assert!(d.has_pending(), "cut at {cut}");
        assert_eq!(d.feed(&frame[cut..]).unwrap().len(), 1);
        assert!(!d.has_pending());
    }
}

#[test]
fn a_corrupt_message_checksum_is_a_clear_error_after_the_frames_before_it() {
    let good = event_frame("messageStart", r#"{"role":"assistant"}"#);
    let mut bad = event_frame("contentBlockDelta", r#"{"delta":{"text":"x"}}"#);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let mut d = EventStreamDecoder::new();
    let mut out = Vec::new();
    let err = d.feed_into(&[good, bad].concat(), &mut out).unwrap_err();
    assert_eq!(out.len(), 1);
    assert!(err
        .to_string()
        .starts_with("malformed event stream: message checksum"));
    // Nothing is read past it.
    let more = event_frame("messageStop", "{}");
    assert_eq!(d.feed(&more), Err(err));
}

#[test]
fn a_corrupt_prelude_fails_as_soon_as_the_prelude_is_in() {
    let mut frame = event_frame("messageStart", "{}");
    frame[2] ^= 0x40; // the total length: now far more than will ever come
    let err = EventStreamDecoder::new()
        .feed(&frame[..PRELUDE])
        .unwrap_err();
    assert!(err.to_string().contains("prelude checksum"), "{err}");
}

#[test]
fn lengths_out_of_bounds_are_refused() {
    for (total, headers) in [(8u32, 0u32), (20, 9), (MAX_FRAME as u32 + 1, 0)] {
        let mut prelude = Vec::new();
        prelude.extend_from_slice(&total.to_be_bytes());
        prelude.extend_from_slice(&headers.to_be_bytes());
        let crc = crc32fast::hash(&prelude);
        prelude.extend_from_slice(&crc.to_be_bytes());
        let err = EventStreamDecoder::new().feed(&prelude).unwrap_err();
        assert!(err.to_string().contains("invalid frame length"), "{err}");
    }
}

fn cut(body: &[u8], at: &[prop::sample::Index]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = at.iter().map(|i| i.index(body.len() + 1)).collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for p in points.into_iter().chain([body.len()]) {
        pieces.push(body[start..p].to_vec());
        start = p;
    }
    pieces
}

fn decode_in(pieces: &[Vec<u8>]) -> (Vec<SseEvent>, Result<(), FrameError>) {
    let mut d = EventStreamDecoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(e) = d.feed_into(piece, &mut out) {
            return (out, Err(e));
        }
    }
    (out, Ok(()))
}

fn frames() -> impl Strategy<Value = Vec<u8>> {
    let frame = prop_oneof![
        ("[a-zA-Z]{1,20}", "[ -~]{0,200}").prop_map(|(t, p)| event_frame(&t, &p)),
        ("[a-z]{1,12}Exception", "[a-z ]{0,40}").prop_map(|(k, m)| exception_frame(&k, &m)),
    ];
    prop::collection::vec(frame, 1..8).prop_map(|f| f.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_chunking_gives_the_same_frames(
        body in frames(),
        at in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
    ) {
        let (whole, end) = decode_in(std::slice::from_ref(&body));
        prop_assert_eq!(end, Ok(()));
        let (split, end) = decode_in(&cut(&body, &at));
        prop_assert_eq!(end, Ok(()));
        prop_assert_eq!(split, whole);
    }

    #[test]
    fn a_flipped_bit_anywhere_is_an_error_in_any_chunking(
        body in frames(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
        at in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
    ) {
        let mut bad = body.clone();
        let i = flip.index(bad.len());
        bad[i] ^= 1 << bit;
        let (good, _) = decode_in(&[body]);
        let (events, end) = decode_in(&cut(&bad, &at));
        // The prelude's checksum is checked before its length is trusted, the message's
        // before anything is read: always an error, and never an event unlike what was sent.
        prop_assert!(end.is_err());
        prop_assert!(events.len() < good.len());
        prop_assert_eq!(&events[..], &good[..events.len()]);
    }
}
