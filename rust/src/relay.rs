//! Relay of an OpenAI-format SSE stream, event by event, entirely in Rust.
//!
//! Each parsed event is written back out as an SSE frame into one buffer, so the Python side
//! sends one `bytes` per batch and touches no event. On the way the relay notes `[DONE]`,
//! captures `usage` (from the extra chunk `stream_options.include_usage` adds, or from any chunk
//! that carries it) and, when the client did not ask for that extra chunk, leaves it out.

use bytes::BytesMut;
use serde::Deserialize;

use crate::sse::SseEvent;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
}

#[derive(Deserialize)]
struct ChunkProbe {
    #[serde(default)]
    choices: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Debug, Default)]
pub struct OpenAiRelay {
    strip_usage_chunk: bool,
    pub saw_done: bool,
    pub usage: Option<Usage>,
}

impl OpenAiRelay {
    pub fn new(strip_usage_chunk: bool) -> Self {
        Self {
            strip_usage_chunk,
            ..Self::default()
        }
    }

    /// Appends the frame for `ev` to `out` (or nothing, for a stripped usage chunk).
    pub fn push(&mut self, ev: &SseEvent, out: &mut BytesMut) {
        let data = ev.data.as_ref();
        if data == b"[DONE]" {
            self.saw_done = true;
            out.extend_from_slice(b"data: [DONE]\n\n");
            return;
        }
        if carries_usage_object(data) {
            if let Ok(probe) = serde_json::from_slice::<ChunkProbe>(data) {
                if let Some(usage) = probe.usage {
                    self.usage = Some(usage);
                    if probe.choices.is_empty() && self.strip_usage_chunk {
                        return;
                    }
                }
            }
        }
        write_frame(ev, out);
    }
}

/// `"usage"` followed by an object (not `null`): only then is a chunk worth decoding.
fn carries_usage_object(data: &[u8]) -> bool {
    let Some(at) = memchr::memmem::find(data, b"\"usage\"") else {
        return false;
    };
    data[at + 7..]
        .iter()
        .find(|b| !matches!(b, b' ' | b':' | b'\t' | b'\r' | b'\n'))
        .is_some_and(|b| *b == b'{')
}

/// Writes one SSE frame; a multi-line payload becomes several `data:` lines.
pub fn write_frame(ev: &SseEvent, out: &mut BytesMut) {
    if let Some(name) = &ev.event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\n");
    }
    for line in ev.data.split(|b| *b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.extend_from_slice(b"\n");
    }
    out.extend_from_slice(b"\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::SseParser;

    fn relay(stream: &[u8], strip: bool) -> (OpenAiRelay, Vec<u8>) {
        let mut r = OpenAiRelay::new(strip);
        let mut out = BytesMut::new();
        for ev in SseParser::new().feed(stream) {
            r.push(&ev, &mut out);
        }
        (r, out.to_vec())
    }

    const STREAM: &[u8] = b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
        data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\n\
        data: [DONE]\n\n";

    #[test]
    fn keeps_everything_when_the_client_asked_for_usage() {
        let (r, out) = relay(STREAM, false);
        assert_eq!(out, STREAM);
        assert!(r.saw_done);
        assert_eq!(
            r.usage,
            Some(Usage {
                prompt_tokens: 3,
                completion_tokens: 1,
                total_tokens: 4
            })
        );
    }

    #[test]
    fn strips_the_usage_chunk_but_keeps_the_usage() {
        let (r, out) = relay(STREAM, true);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains("prompt_tokens"));
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert_eq!(r.usage.map(|u| u.total_tokens), Some(4));
    }

    #[test]
    fn usage_on_a_content_chunk_is_captured_and_kept() {
        let s = b"data: {\"choices\":[{\"delta\":{}}],\"usage\" : {\"prompt_tokens\":1}}\n\n";
        let (r, out) = relay(s, true);
        assert_eq!(out, s);
        assert_eq!(r.usage.map(|u| u.prompt_tokens), Some(1));
        assert!(!r.saw_done);
    }

    #[test]
    fn frames_named_and_multi_line_events() {
        let mut out = BytesMut::new();
        let ev = SseEvent {
            event: Some("error".into()),
            data: bytes::Bytes::from_static(b"a\nb"),
            id: None,
        };
        write_frame(&ev, &mut out);
        assert_eq!(out.as_ref(), b"event: error\ndata: a\ndata: b\n\n");
    }

    #[test]
    fn usage_detection_needs_an_object() {
        assert!(carries_usage_object(b"{\"usage\": {}}"));
        assert!(!carries_usage_object(b"{\"usage\":null}"));
        assert!(!carries_usage_object(b"{\"x\":\"usage\"}"));
        assert!(!carries_usage_object(b"\"usage\""));
    }
}
