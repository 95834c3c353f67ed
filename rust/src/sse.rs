//! Incremental Server-Sent Events parser (WHATWG HTML §9.2 "event stream interpretation").
//!
//! Sans-IO: bytes go in through [`SseParser::feed`] in whatever pieces the network delivered
//! them, complete events come out. Any split of a stream yields the same events, including a
//! split between the `\r` and `\n` of a CRLF line ending. Comments (`:` lines) and `retry:`
//! are consumed; multi-line `data:` fields are joined with `\n` as the spec requires.

use bytes::{Bytes, BytesMut};

/// One dispatched event. `event` is `None` when the stream did not name the event type
/// (the spec's default type, "message").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: Bytes,
    pub id: Option<String>,
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the current, not yet terminated line.
    line: BytesMut,
    /// The previous chunk ended in `\r`: a leading `\n` in the next chunk belongs to it.
    skip_lf: bool,
    /// Still at the very start of the stream, where one UTF-8 BOM is ignored.
    at_start: bool,
    data: BytesMut,
    has_data: bool,
    event: Option<String>,
    id: Option<String>,
    /// Any field seen since the last dispatch (to tell a truncated event at EOF).
    pending_fields: bool,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseParser {
    pub fn new() -> Self {
        Self {
            at_start: true,
            ..Self::default()
        }
    }

    /// Feeds the next piece of the stream and appends every event it completes to `out`.
    pub fn feed_into(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) {
        if self.at_start {
            // The BOM may itself be split across chunks: hold back a proper prefix of it.
            let have = self.line.len();
            let need = BOM.len() - have.min(BOM.len());
            let take = need.min(chunk.len());
            let mut probe = self.line.to_vec();
            probe.extend_from_slice(&chunk[..take]);
            if BOM.starts_with(&probe) {
                if probe.len() < BOM.len() {
                    self.line.extend_from_slice(&chunk[..take]);
                    return;
                }
                self.line.clear();
                chunk = &chunk[take..];
            } else {
                // Not a BOM: whatever was held back is ordinary line content.
                let held = std::mem::take(&mut self.line);
                self.at_start = false;
                self.feed_into(&held, out);
            }
            self.at_start = false;
        }
        if self.skip_lf && !chunk.is_empty() {
            self.skip_lf = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', chunk) {
            if self.line.is_empty() {
                self.process_line(&chunk[..pos], out);
            } else {
                self.line.extend_from_slice(&chunk[..pos]);
                let line = self.line.split().freeze();
                self.process_line(&line, out);
            }
            let was_cr = chunk[pos] == b'\r';
            chunk = &chunk[pos + 1..];
            if was_cr {
                match chunk.first() {
                    Some(b'\n') => chunk = &chunk[1..],
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
        }
        self.line.extend_from_slice(chunk);
    }

    /// Convenience wrapper around [`SseParser::feed_into`].
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        self.feed_into(chunk, &mut out);
        out
    }

    /// True when the stream stopped inside an event: an unterminated line or fields that were
    /// never dispatched by a blank line. The spec discards such an event; a gateway reports it.
    pub fn has_pending(&self) -> bool {
        !self.line.is_empty() || self.pending_fields
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.extend_from_slice(b"\n");
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
                self.pending_fields = true;
            }
            b"event" => {
                self.event = Some(String::from_utf8_lossy(value).into_owned());
                self.pending_fields = true;
            }
            b"id" => {
                if !value.contains(&0) {
                    self.id = Some(String::from_utf8_lossy(value).into_owned());
                }
                self.pending_fields = true;
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        self.pending_fields = false;
        let event = self.event.take();
        if !self.has_data {
            return;
        }
        self.has_data = false;
        out.push(SseEvent {
            event,
            data: self.data.split().freeze(),
            id: self.id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn data_of(events: &[SseEvent]) -> Vec<&[u8]> {
        events.iter().map(|e| e.data.as_ref()).collect()
    }

    #[test]
    fn openai_stream() {
        let mut p = SseParser::new();
        let ev = p.feed(b"data: {\"a\":1}\n\ndata: [DONE]\n\n");
        assert_eq!(data_of(&ev), vec![&b"{\"a\":1}"[..], b"[DONE]"]);
        assert!(!p.has_pending());
    }

    #[test]
    fn named_events_comments_and_crlf() {
        let mut p = SseParser::new();
        let ev = p.feed(b": ping\r\nevent: message_start\r\ndata: {}\r\n\r\nretry: 5\r\n\r\n");
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].event.as_deref(), Some("message_start"));
        assert_eq!(ev[0].data.as_ref(), b"{}");
    }

    #[test]
    fn multi_line_data_and_no_space() {
        let mut p = SseParser::new();
        let ev = p.feed(b"data:a\ndata:  b\ndata\n\n");
        assert_eq!(ev[0].data.as_ref(), b"a\n b\n");
    }

    #[test]
    fn cr_split_from_lf() {
        let mut p = SseParser::new();
        let mut ev = p.feed(b"data: x\r");
        ev.extend(p.feed(b"\n\r"));
        ev.extend(p.feed(b"\ndata: y\n\n"));
        assert_eq!(data_of(&ev), vec![&b"x"[..], b"y"]);
    }

    #[test]
    fn bom_split_and_event_without_data() {
        let mut p = SseParser::new();
        let mut ev = p.feed(b"\xEF\xBB");
        ev.extend(p.feed(b"\xBFevent: x\n\ndata: 1\n\n"));
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0].event, None,
            "event type resets after a data-less dispatch"
        );
    }

    #[test]
    fn truncated_event_is_pending() {
        let mut p = SseParser::new();
        assert!(p.feed(b"data: {\"partial\"").is_empty());
        assert!(p.has_pending());
        let mut q = SseParser::new();
        assert!(q.feed(b"data: x\n").is_empty());
        assert!(q.has_pending());
    }

    fn stream_strategy() -> impl Strategy<Value = Vec<u8>> {
        let line_end = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
        let field = prop_oneof![
            "[a-z{}\":, ]{0,12}".prop_map(|v| format!("data: {v}")),
            "[a-z{}\":,]{0,12}".prop_map(|v| format!("data:{v}")),
            "[a-z_]{1,8}".prop_map(|v| format!("event: {v}")),
            "[a-z ]{0,8}".prop_map(|v| format!(": {v}")),
            "[0-9]{1,4}".prop_map(|v| format!("id: {v}")),
            Just(String::new()),
        ];
        prop::collection::vec((field, line_end), 0..40).prop_map(|lines| {
            let mut s = String::new();
            for (l, e) in lines {
                s.push_str(&l);
                s.push_str(e);
            }
            s.into_bytes()
        })
    }

    proptest! {
        #[test]
        fn any_split_gives_same_events(
            stream in stream_strategy(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let whole = SseParser::new().feed(&stream);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            points.sort_unstable();
            let mut p = SseParser::new();
            let mut got = Vec::new();
            let mut start = 0;
            for at in points {
                p.feed_into(&stream[start..at], &mut got);
                start = at;
            }
            p.feed_into(&stream[start..], &mut got);
            prop_assert_eq!(got, whole);
        }

        #[test]
        fn byte_at_a_time_gives_same_events(stream in stream_strategy()) {
            let whole = SseParser::new().feed(&stream);
            let mut p = SseParser::new();
            let mut got = Vec::new();
            for b in &stream {
                p.feed_into(std::slice::from_ref(b), &mut got);
            }
            prop_assert_eq!(got, whole);
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..16),
        ) {
            let mut p = SseParser::new();
            for c in &chunks {
                let _ = p.feed(c);
            }
        }
    }
}
