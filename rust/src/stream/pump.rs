//! The pump loop: one per streamed body, run as (the tail of) the exchange's Tokio task.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;

use super::framing::Framing;
use super::{Relay, State, Stream};
use crate::http::{UpstreamBody, UpstreamError};
use crate::sse::SseEvent;

/// Where a pump reads the body: the upstream connection in production, a script in tests.
pub trait ChunkSource: Send {
    /// The next piece of the body as it arrived, `None` at its end.
    fn next_chunk(&mut self) -> impl Future<Output = Result<Option<Bytes>, UpstreamError>> + Send;
}

impl ChunkSource for UpstreamBody {
    fn next_chunk(&mut self) -> impl Future<Output = Result<Option<Bytes>, UpstreamError>> + Send {
        UpstreamBody::next_chunk(self)
    }
}

/// Reads `body` into `stream` until the body ends or fails, or the relay stops it; returning
/// drops the body, which closes the upstream connection. Aborting the task that runs it
/// is how the consumer abandons a stream.
pub async fn pump<S: ChunkSource>(mut body: S, stream: Arc<Stream>, mut relay: Relay) {
    let mut parser = Framing::for_relay(&relay);
    let mut parsed = Vec::new();
    loop {
        if stream.is_full(&stream.lock()) {
            // A permit stored by a poll since the check makes this return at once, so a poll
            // between the check and this wait is not lost; a stale permit only costs one
            // more turn of the loop.
            stream.room.notified().await;
            continue;
        }
        let result = body.next_chunk().await;
        let mut malformed = None;
        if let Ok(Some(chunk)) = &result {
            // Outside the lock: the consumer's poll need not wait for the parser.
            malformed = parser.feed_into(chunk, &mut parsed).err();
        }
        let mut st = stream.lock();
        match result {
            Ok(Some(chunk)) => {
                park(&mut st, &mut relay, chunk, &mut parsed);
                if let Some(e) = malformed {
                    // After the frames before it: the stream cannot be read past it.
                    st.finished = Some(Err(UpstreamError::Protocol(e.to_string())));
                }
            }
            Ok(None) => {
                st.truncated = parser.has_pending();
                st.finished = Some(Ok(()));
            }
            Err(e) => st.finished = Some(Err(e)),
        }
        let done = st.finished.is_some();
        let waiter = if done || st.has_parked() {
            st.waiter.take()
        } else {
            None
        };
        drop(st);
        if let Some(wake) = waiter {
            wake();
        }
        if done {
            return;
        }
    }
}

/// Parks what one chunk (already parsed into `parsed`) gives under `relay`.
fn park(st: &mut State, relay: &mut Relay, chunk: Bytes, parsed: &mut Vec<SseEvent>) {
    match relay {
        Relay::Events | Relay::EventStream => st.events.append(parsed),
        Relay::Tap(tap) => {
            st.out.extend_from_slice(&chunk);
            st.events
                .extend(parsed.drain(..).filter(|ev| tap.wants(ev)));
        }
        Relay::OpenAi(openai) => {
            for ev in parsed.drain(..) {
                if !openai.push(&ev, &mut st.out) {
                    // Nothing after a fault is relayed: the stream ends here, and returning
                    // from the pump closes the upstream connection.
                    st.finished = Some(Ok(()));
                    break;
                }
            }
            st.saw_done = openai.saw_done;
            st.usage = openai.usage;
            st.fault = openai.fault;
        }
    }
}
