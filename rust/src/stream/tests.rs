//! The pump against scripted bodies, with the test as the consumer (no Python, no sockets).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use tokio::sync::{mpsc, oneshot};

use super::*;
use crate::http::TimeoutPhase;
use crate::sse::SseParser;

type Item = Result<Bytes, UpstreamError>;

/// A body that yields what the test sends, and ends when the test drops the sender.
struct Script {
    rx: mpsc::UnboundedReceiver<Item>,
    pulled: Arc<AtomicUsize>,
}

impl ChunkSource for Script {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        let item = self.rx.recv().await;
        if item.is_some() {
            self.pulled.fetch_add(1, Ordering::SeqCst);
        }
        item.transpose()
    }
}

struct Run {
    stream: Arc<Stream>,
    /// Chunks (and errors) the pump has read so far.
    pulled: Arc<AtomicUsize>,
    gate: Option<mpsc::UnboundedSender<Item>>,
}

impl Run {
    /// Spawns a pump over a body the test feeds through `send` and ends with `end`.
    fn gated(relay: Relay, high_water: HighWater) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let pulled = Arc::new(AtomicUsize::new(0));
        let stream = Arc::new(Stream::new(high_water));
        let source = Script {
            rx,
            pulled: pulled.clone(),
        };
        tokio::spawn(pump(source, stream.clone(), relay));
        Self {
            stream,
            pulled,
            gate: Some(tx),
        }
    }

    /// A pump over a body that is all there from the start.
    fn scripted(relay: Relay, items: Vec<Item>) -> Self {
        let mut run = Self::gated(relay, HighWater::default());
        for item in items {
            run.send(item);
        }
        run.end();
        run
    }

    fn send(&self, item: Item) {
        if let Some(gate) = &self.gate {
            gate.send(item).unwrap();
        }
    }

    fn send_bytes(&self, chunk: &'static [u8]) {
        self.send(Ok(Bytes::from_static(chunk)));
    }

    fn end(&mut self) {
        self.gate = None;
    }

    fn pulled(&self) -> usize {
        self.pulled.load(Ordering::SeqCst)
    }

    /// The next thing `poll` says that is not `Pending`, waiting as a consumer would.
    async fn next(&self) -> Poll {
        loop {
            match self.stream.poll() {
                Poll::Pending => {}
                other => return other,
            }
            let (tx, rx) = oneshot::channel();
            let waiter: Waiter = Box::new(move || {
                let _ = tx.send(());
            });
            if self.stream.wait(waiter).is_ok() {
                tokio::time::timeout(Duration::from_secs(5), rx)
                    .await
                    .expect("the pump never called the waiter")
                    .expect("the waiter was dropped uncalled");
            }
        }
    }

    /// Everything until the end: `out` joined, the events, and how the stream ended.
    async fn drain(&self) -> (Vec<u8>, Vec<SseEvent>, Result<(), UpstreamError>) {
        let (mut out, mut events) = (Vec::new(), Vec::new());
        loop {
            match self.next().await {
                Poll::Batch { out: o, events: e } => {
                    assert!(!o.is_empty() || !e.is_empty(), "an empty batch");
                    out.extend_from_slice(&o);
                    events.extend(e);
                }
                Poll::End => return (out, events, Ok(())),
                Poll::Failed(err) => return (out, events, Err(err)),
                Poll::Pending => unreachable!(),
            }
        }
    }
}

/// Lets the pump (on this current-thread runtime) run until it blocks.
async fn settle() {
    for _ in 0..64 {
        tokio::task::yield_now().await;
    }
}

fn relay(name: &str) -> Relay {
    Relay::parse(name, Vec::new()).unwrap().unwrap()
}

fn chunks(pieces: &[&'static [u8]]) -> Vec<Item> {
    pieces.iter().map(|p| Ok(Bytes::from_static(p))).collect()
}

fn ev(event: Option<&str>, data: &'static [u8]) -> SseEvent {
    SseEvent {
        event: event.map(str::to_owned),
        data: Bytes::from_static(data),
        id: None,
    }
}

const OPENAI: &[u8] = b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
    data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n\
    data: [DONE]\n\n";

const ANTHROPIC: &[u8] = b"event: message_start\r\ndata: {\"usage\":{\"input_tokens\":3}}\r\n\r\n\
    : keep-alive\r\n\r\n\
    event: ping\r\ndata: {}\r\n\r\n\
    event: content_block_delta\r\ndata: {\"delta\":{\"text\":\"hi\"}}\r\n\r\n\
    event: message_delta\r\ndata: {\"usage\":{\"output_tokens\":1}}\r\n\r\n\
    data: {\"unnamed\":true}\r\n\r\n\
    event: message_stop\r\ndata: {}\r\n\r\n";

fn split3(s: &'static [u8]) -> Vec<Item> {
    let (a, rest) = s.split_at(s.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    chunks(&[a, b, c])
}

#[test]
fn relays_are_named_as_the_python_api_names_them() {
    assert!(Relay::parse("none", Vec::new()).unwrap().is_none());
    assert!(matches!(relay("events"), Relay::Events));
    assert!(matches!(relay("tap"), Relay::Tap(_)));
    assert!(matches!(relay("openai"), Relay::OpenAi(_)));
    assert!(matches!(relay("openai-strip-usage"), Relay::OpenAi(_)));
    assert!(matches!(relay("eventstream"), Relay::EventStream));
    let err = Relay::parse("raw", Vec::new()).unwrap_err();
    assert_eq!(err.to_string(), "unknown relay \"raw\"");
}

#[tokio::test]
async fn events_relay_parks_every_event_and_no_bytes() {
    let run = Run::scripted(relay("events"), split3(b"data: a\n\nevent: x\ndata: b\n\n"));
    let (out, events, end) = run.drain().await;
    assert!(out.is_empty());
    assert_eq!(events, vec![ev(None, b"a"), ev(Some("x"), b"b")]);
    assert_eq!(end, Ok(()));
    assert!(!run.stream.truncated());
}

#[tokio::test]
async fn openai_relay_reframes_and_keeps_the_usage_chunk() {
    let run = Run::scripted(relay("openai"), split3(OPENAI));
    let (out, events, end) = run.drain().await;
    assert_eq!(out, OPENAI);
    assert!(events.is_empty());
    assert_eq!(end, Ok(()));
    assert!(run.stream.saw_done());
    assert_eq!(run.stream.usage().map(|u| u.total_tokens), Some(4));
    assert_eq!(run.stream.fault(), None);
}

#[tokio::test]
async fn openai_relay_strips_the_usage_chunk_but_keeps_the_usage() {
    let run = Run::scripted(relay("openai-strip-usage"), split3(OPENAI));
    let (out, _, _) = run.drain().await;
    let text = String::from_utf8(out).unwrap();
    assert!(!text.contains("prompt_tokens"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!(run.stream.usage().map(|u| u.prompt_tokens), Some(3));
}

#[tokio::test]
async fn tap_relay_passes_bytes_exactly_and_parks_only_the_named_events() {
    let names = ["message_start", "message_delta", "message_stop", "error"];
    let tap = Relay::parse("tap", names.map(str::to_owned).to_vec())
        .unwrap()
        .unwrap();
    let run = Run::scripted(tap, split3(ANTHROPIC));
    let (out, events, end) = run.drain().await;
    assert_eq!(out, ANTHROPIC, "byte-exact, CRLF and comments included");
    assert_eq!(
        events,
        vec![
            ev(Some("message_start"), b"{\"usage\":{\"input_tokens\":3}}"),
            ev(Some("message_delta"), b"{\"usage\":{\"output_tokens\":1}}"),
            ev(Some("message_stop"), b"{}"),
        ]
    );
    assert_eq!(end, Ok(()));
    assert!(!run.stream.truncated());
}

#[tokio::test]
async fn an_empty_tap_set_only_passes_bytes() {
    let run = Run::scripted(relay("tap"), split3(ANTHROPIC));
    let (out, events, _) = run.drain().await;
    assert_eq!(out, ANTHROPIC);
    assert!(events.is_empty());
}

#[tokio::test]
async fn eof_in_the_middle_of_an_event_is_truncated() {
    for name in ["events", "tap", "openai"] {
        let run = Run::scripted(relay(name), chunks(&[b"data: {}\n\ndata: {\"cut"]));
        let (_, _, end) = run.drain().await;
        assert_eq!(end, Ok(()), "{name}");
        assert!(run.stream.truncated(), "{name}");
        assert!(!run.stream.saw_done(), "{name}");
    }
}

#[tokio::test]
async fn an_upstream_error_comes_after_the_data_before_it() {
    let timeout = UpstreamError::Timeout(TimeoutPhase::BetweenChunks);
    let mut items = chunks(&[b"data: a\n\n", b"data: b\n\n"]);
    items.push(Err(timeout.clone()));
    let run = Run::scripted(relay("events"), items);
    settle().await;
    match run.stream.poll() {
        Poll::Batch { events, .. } => assert_eq!(events, vec![ev(None, b"a"), ev(None, b"b")]),
        other => panic!("expected the data first, got {other:?}"),
    }
    assert_eq!(run.stream.poll(), Poll::Failed(timeout.clone()));
    assert_eq!(run.stream.poll(), Poll::Failed(timeout), "and again");
}

#[tokio::test]
async fn a_malformed_openai_event_stops_the_stream_without_reading_on() {
    let run = Run::gated(relay("openai"), HighWater::default());
    run.send_bytes(b"data: {\"choices\":[]}\n\ndata: {not json\n\n");
    run.send_bytes(b"data: [DONE]\n\n");
    // The gate stays open: the relay, not the body, ends this stream.
    let (out, _, end) = run.drain().await;
    assert_eq!(out, b"data: {\"choices\":[]}\n\n");
    assert_eq!(end, Ok(()));
    assert_eq!(run.stream.fault(), Some(StreamFault::Malformed));
    assert!(!run.stream.saw_done() && !run.stream.truncated());
    settle().await;
    assert_eq!(run.pulled(), 1, "nothing read after the fault");
}

#[tokio::test]
async fn an_in_band_openai_error_is_relayed_and_ends_the_stream() {
    let run = Run::gated(relay("openai"), HighWater::default());
    run.send_bytes(b"data: {\"error\":{\"message\":\"boom\"}}\n\ndata: [DONE]\n\n");
    let (out, _, end) = run.drain().await;
    assert_eq!(out, b"data: {\"error\":{\"message\":\"boom\"}}\n\n");
    assert_eq!(end, Ok(()));
    assert_eq!(run.stream.fault(), Some(StreamFault::InBandError));
    assert!(!run.stream.saw_done());
}

#[tokio::test]
async fn the_pump_stops_at_the_byte_high_water_mark_and_resumes_after_a_poll() {
    let high = HighWater {
        events: 100,
        bytes: 8,
    };
    let run = Run::gated(relay("tap"), high);
    run.send_bytes(b"0000");
    settle().await;
    // Taking data while the pump is not waiting stores a Notify permit: the pump must treat it
    // as stale once full, not as room.
    assert!(matches!(run.stream.poll(), Poll::Batch { .. }));
    for _ in 0..5 {
        run.send_bytes(b"1234");
    }
    settle().await;
    assert_eq!(
        run.pulled(),
        3,
        "two chunks fill the 8 bytes, then it stops"
    );
    match run.stream.poll() {
        Poll::Batch { out, .. } => assert_eq!(out.as_ref(), b"12341234"),
        other => panic!("{other:?}"),
    }
    settle().await;
    assert_eq!(run.pulled(), 5);
    assert!(matches!(run.stream.poll(), Poll::Batch { .. }));
    settle().await;
    assert_eq!(run.pulled(), 6);
}

#[tokio::test]
async fn the_pump_stops_at_the_event_high_water_mark() {
    let high = HighWater {
        events: 2,
        bytes: 1 << 20,
    };
    let mut run = Run::gated(relay("events"), high);
    for _ in 0..5 {
        run.send_bytes(b"data: x\n\n");
    }
    run.end();
    settle().await;
    assert_eq!(run.pulled(), 2);
    let (_, events, end) = run.drain().await;
    assert_eq!((events.len(), end), (5, Ok(())));
}

#[tokio::test]
async fn a_waiter_is_called_once_on_new_data_and_once_on_the_end() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counting = || -> Waiter {
        let calls = calls.clone();
        Box::new(move || {
            calls.fetch_add(1, Ordering::SeqCst);
        })
    };
    let count = || calls.load(Ordering::SeqCst);
    let mut run = Run::gated(relay("events"), HighWater::default());
    assert!(run.stream.wait(counting()).is_ok());
    run.send_bytes(b"data: par");
    settle().await;
    assert_eq!(count(), 0, "half an event parks nothing");
    run.send_bytes(b"tial\n\n");
    settle().await;
    assert_eq!(count(), 1);
    run.send_bytes(b"data: more\n\n");
    settle().await;
    assert_eq!(count(), 1, "one call per registration");
    assert!(
        run.stream.wait(counting()).is_err(),
        "data is parked: no need to wait"
    );
    assert!(matches!(run.stream.poll(), Poll::Batch { .. }));
    assert!(run.stream.wait(counting()).is_ok());
    run.end();
    settle().await;
    assert_eq!(count(), 2, "the end wakes it");
    assert_eq!(run.stream.poll(), Poll::End);
    assert!(
        run.stream.wait(counting()).is_err(),
        "ended: no need to wait"
    );
    assert_eq!(count(), 2);
}

#[tokio::test]
async fn a_displaced_waiter_is_woken_not_dropped() {
    let calls = Arc::new(AtomicUsize::new(0));
    let run = Run::gated(relay("events"), HighWater::default());
    for _ in 0..2 {
        let calls = calls.clone();
        let waiter: Waiter = Box::new(move || {
            calls.fetch_add(1, Ordering::SeqCst);
        });
        assert!(run.stream.wait(waiter).is_ok());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Everything a relay made of one body fed in the given chunks.
fn relay_in_chunks(name: &str, tap: &[&str], pieces: Vec<Bytes>) -> (Vec<u8>, Vec<SseEvent>, bool) {
    let relay = Relay::parse(name, tap.iter().map(|s| s.to_string()).collect())
        .unwrap()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let run = Run::scripted(relay, pieces.into_iter().map(Ok).collect());
        let (out, events, end) = run.drain().await;
        assert_eq!(end, Ok(()));
        (out, events, run.stream.truncated())
    })
}

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        Just(None),
        Just(Some("message_start")),
        Just(Some("ping")),
        Just(Some("error")),
    ];
    let data = prop_oneof![
        Just("{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}"),
        Just("{\"choices\":[],\"usage\":{\"total_tokens\":4}}"),
        Just("{\"error\":{\"message\":\"boom\"}}"),
        Just("{not json"),
        Just("[DONE]"),
    ];
    let end = prop_oneof![Just("\n"), Just("\r\n")];
    let frame = (name, data, end, any::<bool>()).prop_map(|(name, data, end, comment)| {
        let mut f = String::new();
        if comment {
            f.push_str(&format!(": ping{end}"));
        }
        if let Some(n) = name {
            f.push_str(&format!("event: {n}{end}"));
        }
        f.push_str(&format!("data: {data}{end}{end}"));
        f
    });
    (prop::collection::vec(frame, 0..12), "[a-z: ]{0,6}")
        .prop_map(|(frames, tail)| (frames.concat() + &tail).into_bytes())
}

fn cut(body: &[u8], at: &[prop::sample::Index]) -> Vec<Bytes> {
    let mut points: Vec<usize> = at.iter().map(|i| i.index(body.len() + 1)).collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for p in points.into_iter().chain([body.len()]) {
        pieces.push(Bytes::copy_from_slice(&body[start..p]));
        start = p;
    }
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_chunking_gives_the_same_result(
        body in body_strategy(),
        at in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let whole = vec![Bytes::copy_from_slice(&body)];
        for (name, tap) in [
            ("events", &[][..]),
            ("tap", &["message_start", "error"][..]),
            ("openai", &[][..]),
            ("openai-strip-usage", &[][..]),
        ] {
            let split = relay_in_chunks(name, tap, cut(&body, &at));
            prop_assert_eq!(&split, &relay_in_chunks(name, tap, whole.clone()), "{}", name);
            if name == "tap" {
                prop_assert_eq!(&split.0, &body);
            }
            if name == "events" {
                let mut parser = SseParser::new();
                prop_assert_eq!(&split.1, &parser.feed(&body));
                prop_assert_eq!(split.2, parser.has_pending());
            }
        }
    }
}

fn owned(pieces: Vec<Vec<u8>>) -> Vec<Item> {
    pieces.into_iter().map(|p| Ok(Bytes::from(p))).collect()
}

#[tokio::test]
async fn eventstream_relay_parks_every_frame_and_no_bytes() {
    use super::eventstream::tests::converse_stream;
    let body = converse_stream();
    let (a, b) = body.split_at(body.len() / 2 + 3);
    let run = Run::scripted(relay("eventstream"), owned(vec![a.to_vec(), b.to_vec()]));
    let (out, events, end) = run.drain().await;
    assert!(out.is_empty());
    assert_eq!(events.len(), 7);
    assert_eq!(events[0].event.as_deref(), Some("messageStart"));
    assert_eq!(events[6].event.as_deref(), Some("metadata"));
    assert_eq!(end, Ok(()));
    assert!(!run.stream.truncated());

    let cut = Run::scripted(relay("eventstream"), owned(vec![a.to_vec()]));
    let (_, _, end) = cut.drain().await;
    assert_eq!(end, Ok(()));
    assert!(cut.stream.truncated(), "a frame cut short");
}

#[tokio::test]
async fn a_corrupt_eventstream_frame_fails_the_stream_after_the_frames_before_it() {
    use super::eventstream::tests::event_frame;
    let mut bad = event_frame("contentBlockDelta", r#"{"delta":{"text":"x"}}"#);
    let at = bad.len() - 6;
    bad[at] ^= 0x20;
    let good = event_frame("messageStart", r#"{"role":"assistant"}"#);
    let run = Run::gated(relay("eventstream"), HighWater::default());
    run.send(Ok(Bytes::from([good, bad].concat())));
    run.send(Ok(Bytes::from(event_frame("messageStop", "{}"))));
    // The gate stays open: the malformed frame, not the body, ends this stream.
    let (_, events, end) = run.drain().await;
    assert_eq!(events.len(), 1);
    match end {
        Err(UpstreamError::Protocol(m)) => {
            assert!(
                m.starts_with("malformed event stream: message checksum"),
                "{m}"
            )
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
    settle().await;
    assert_eq!(run.pulled(), 1, "nothing read after the malformed frame");
}
