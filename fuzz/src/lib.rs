//! Properties of pllm's stream parsing that hold for every byte string, checked by the fuzz
//! targets (libFuzzer, `make fuzz`) and by `cargo test` on a seed corpus with mutations
//! (`make test`): SSE here, the AWS event stream in [`eventstream`].
//!
//! An upstream sends the gateway any bytes it likes, in any pieces the network makes of them.
//! For each input, [`check_sse`] asserts that [`SseParser`]:
//! - never panics, and gives the same events whatever the split into chunks;
//! - agrees with [`reference_events`], a line-at-a-time reading of the WHATWG event-stream
//!   rules written for clarity, not speed;
//! - reports a truncated stream exactly when the reference has an event or line left over;
//!
//! and that what the relay writes ([`write_frame`], [`OpenAiRelay`]) parses back to the events
//! it was given.

pub mod eventstream;
pub mod mutate;

pub use eventstream::check_eventstream;

use bytes::BytesMut;
use pllm_accel::relay::{write_frame, OpenAiRelay};
use pllm_accel::sse::{SseEvent, SseParser};

/// One event as the reference sees it: (event name, data, last event id).
pub type Event = (Option<String>, Vec<u8>, Option<String>);

/// The events of a whole stream per the WHATWG rules, and whether it ended mid-event.
pub fn reference_events(stream: &[u8]) -> (Vec<Event>, bool) {
    let stream = stream.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(stream);
    let mut events = Vec::new();
    let (mut data, mut has_data, mut event, mut id) = (Vec::new(), false, None, None);
    let mut pending = false;
    let mut rest = stream;
    // A line ends at CRLF, LF or CR; what follows the last end is not a line yet.
    while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
        let line = &rest[..end];
        let after = if rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n') {
            end + 2
        } else {
            end + 1
        };
        rest = &rest[after..];
        if line.is_empty() {
            pending = false;
            let name = event.take();
            if has_data {
                events.push((name, std::mem::take(&mut data), id.clone()));
                has_data = false;
            }
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if has_data {
                    data.push(b'\n');
                }
                data.extend_from_slice(value);
                has_data = true;
                pending = true;
            }
            b"event" => {
                event = Some(String::from_utf8_lossy(value).into_owned());
                pending = true;
            }
            b"id" => {
                if !value.contains(&0) {
                    id = Some(String::from_utf8_lossy(value).into_owned());
                }
                pending = true;
            }
            _ => {}
        }
    }
    // Fields not yet dispatched by a blank line, or a line not yet ended.
    (events, pending || !rest.is_empty())
}

fn as_tuple(ev: &SseEvent) -> Event {
    (ev.event.clone(), ev.data.to_vec(), ev.id.clone())
}

/// Cut points in `0..=len`, drawn from `seed` (a few, sorted, repeats allowed).
pub(crate) fn cuts(seed: u64, len: usize) -> Vec<usize> {
    let mut state = seed | 1;
    let count = (seed % 9) as usize;
    let mut points: Vec<usize> = (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % (len as u64 + 1)) as usize
        })
        .collect();
    points.sort_unstable();
    points
}

/// Parses `stream` fed in the pieces `points` cut it into.
fn parse_in_pieces(stream: &[u8], points: &[usize]) -> (Vec<SseEvent>, bool) {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    let mut start = 0;
    for &at in points {
        parser.feed_into(&stream[start..at], &mut out);
        start = at;
    }
    parser.feed_into(&stream[start..], &mut out);
    (out, parser.has_pending())
}

/// FNV-1a: the input itself chooses where it is split, so seeds stay plain SSE text.
pub(crate) fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// All the properties, for one stream.
pub fn check_sse(stream: &[u8]) {
    let seed = fnv1a(stream);

    let (whole, whole_pending) = parse_in_pieces(stream, &[]);
    let (split, split_pending) = parse_in_pieces(stream, &cuts(seed, stream.len()));
    assert_eq!(whole, split, "a split changed the events");
    assert_eq!(whole_pending, split_pending, "a split changed has_pending");

    let (expected, expected_pending) = reference_events(stream);
    let got: Vec<Event> = whole.iter().map(as_tuple).collect();
    assert_eq!(got, expected, "the parser and the reference disagree");
    assert_eq!(
        whole_pending, expected_pending,
        "has_pending disagrees with the reference"
    );

    // Re-framing: every event written out parses back to itself (ids are not written).
    let mut framed = BytesMut::new();
    for ev in &whole {
        write_frame(ev, &mut framed);
    }
    let (again, again_pending) = parse_in_pieces(&framed, &[]);
    assert!(!again_pending, "a written frame was left unfinished");
    let names_and_data = |evs: &[SseEvent]| -> Vec<(Option<String>, Vec<u8>)> {
        evs.iter()
            .map(|e| (e.event.clone(), e.data.to_vec()))
            .collect()
    };
    assert_eq!(names_and_data(&again), names_and_data(&whole));

    // The OpenAI relay: whatever it passes on is well framed and ends where it says.
    for strip in [false, true] {
        let mut relay = OpenAiRelay::new(strip);
        let mut out = BytesMut::new();
        let mut stopped = false;
        for ev in &whole {
            if !relay.push(ev, &mut out) {
                stopped = true;
                break;
            }
        }
        assert_eq!(
            stopped,
            relay.fault.is_some(),
            "a stop without a fault, or the reverse"
        );
        let (relayed, relayed_pending) = parse_in_pieces(&out, &[]);
        assert!(!relayed_pending, "the relay wrote an unfinished frame");
        assert!(relayed.len() <= whole.len(), "the relay invented events");
    }
}
