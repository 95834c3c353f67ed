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

/// One parse per chunk: it validates the JSON and finds what the relay acts on.
#[derive(Deserialize)]
struct ChunkProbe {
    #[serde(default)]
    choices: Vec<serde::de::IgnoredAny>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
}

/// Why a relay stopped before `[DONE]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFault {
    /// An event that is not a JSON object: dropped, and the stream ends there.
    Malformed,
    /// The upstream reported an error inside the stream: relayed, and the stream ends there.
    InBandError,
}

impl StreamFault {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamFault::Malformed => "malformed",
            StreamFault::InBandError => "in_band_error",
        }
    }
}

#[derive(Debug, Default)]
pub struct OpenAiRelay {
    strip_usage_chunk: bool,
    pub saw_done: bool,
    pub usage: Option<Usage>,
    pub fault: Option<StreamFault>,
}

impl OpenAiRelay {
    pub fn new(strip_usage_chunk: bool) -> Self {
        Self {
            strip_usage_chunk,
            ..Self::default()
        }
    }

    /// Appends the frame for `ev` to `out` (or nothing, for a stripped usage chunk). Returns
    /// false when the stream must end here (see [`OpenAiRelay::fault`]).
    pub fn push(&mut self, ev: &SseEvent, out: &mut BytesMut) -> bool {
        let data = ev.data.as_ref();
        if data == b"[DONE]" {
            self.saw_done = true;
            out.extend_from_slice(b"data: [DONE]\n\n");
            return true;
        }
        let Ok(probe) = serde_json::from_slice::<ChunkProbe>(data) else {
            self.fault = Some(StreamFault::Malformed);
            return false;
        };
        if probe.error.is_some() {
            write_frame(ev, out);
            self.fault = Some(StreamFault::InBandError);
            return false;
        }
        if let Some(usage) = probe.usage {
            self.usage = Some(usage);
            if probe.choices.is_empty() && self.strip_usage_chunk {
                return true;
            }
        }
        write_frame(ev, out);
        true
    }
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
            if !r.push(&ev, &mut out) {
                break;
            }
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

    /// A malformed event ends the stream unsent; an in-band error is relayed and ends it.
    #[test]
    fn a_fault_ends_the_stream() {
        let cases: [(&[u8], &[u8], StreamFault); 2] = [
            (
                b"data: {\"choices\":[]}\n\ndata: {not json\n\ndata: {\"choices\":[]}\n\ndata: [DONE]\n\n",
                b"data: {\"choices\":[]}\n\n",
                StreamFault::Malformed,
            ),
            (
                b"data: {\"error\":{\"message\":\"boom\"}}\n\ndata: [DONE]\n\n",
                b"data: {\"error\":{\"message\":\"boom\"}}\n\n",
                StreamFault::InBandError,
            ),
        ];
        for (stream, sent, fault) in cases {
            let (r, out) = relay(stream, false);
            assert_eq!(out, sent, "{fault:?}");
            assert_eq!(r.fault, Some(fault));
            assert!(!r.saw_done, "{fault:?}");
        }
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
}
