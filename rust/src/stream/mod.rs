//! The pump of a streamed upstream body, without Python.
//!
//! A pump task ([`pump`]) reads the body chunk by chunk, turns each chunk into what the
//! consumer asked for ([`Relay`]) and parks the result in a [`Stream`] it shares with the
//! consumer. The consumer takes everything parked in one [`Stream::poll`] and registers a
//! waiter ([`Stream::wait`]) only when nothing is parked, so a busy stream costs it no
//! wake-ups at all. When the consumer falls behind, the pump stops reading at a high-water
//! mark ([`HighWater`]): the socket's receive window then fills and pushes back on the
//! upstream, instead of the gateway buffering a whole reply per slow client.
//!
//! The consumer in production is the asyncio loop, through the PyO3 layer (`py/response.rs`,
//! which only converts); in `cargo test` it is the test itself.

pub mod eventstream;
mod framing;
mod pump;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::{Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use crate::http::UpstreamError;
use crate::relay::{OpenAiRelay, StreamFault, Usage};
use crate::sse::SseEvent;

pub use pump::{pump, ChunkSource};

/// Called once by the pump when something new is parked or the stream ends (from a Tokio
/// thread: it must not block).
pub type Waiter = Box<dyn FnOnce() + Send>;

/// Parked events and bytes beyond which the pump stops reading until the consumer catches
/// up; either mark stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HighWater {
    pub events: usize,
    pub bytes: usize,
}

impl Default for HighWater {
    fn default() -> Self {
        Self {
            events: 512,
            bytes: 1 << 20,
        }
    }
}

/// What the pump makes of the body.
#[derive(Debug)]
pub enum Relay {
    /// Every parsed SSE event is parked as an event; nothing goes to `out`.
    Events,
    /// The chunks go to `out` unchanged, byte for byte; the parser runs on the side and parks
    /// only the events whose name is in the set, for the consumer to read (usage, errors)
    /// without parsing the stream again.
    Tap(Tap),
    /// An OpenAI SSE stream re-framed into `out`, with `[DONE]`, usage and faults noted.
    OpenAi(OpenAiRelay),
    /// An AWS event stream (`application/vnd.amazon.eventstream`, Bedrock's ConverseStream):
    /// every frame, its checksums verified, parked as an event (see [`eventstream`] for how
    /// frames are named); nothing goes to `out`. A malformed frame fails the stream.
    EventStream,
}

/// The event names a [`Relay::Tap`] parks. A handful at most, so a slice beats a hash set.
#[derive(Debug, Clone, Default)]
pub struct Tap {
    names: Box<[String]>,
}

impl Tap {
    pub fn new(names: Vec<String>) -> Self {
        Self {
            names: names.into_boxed_slice(),
        }
    }

    /// An unnamed event (the spec's default type, "message") never matches: the names are
    /// for streams that name their events, like Anthropic's.
    fn wants(&self, ev: &SseEvent) -> bool {
        ev.event
            .as_deref()
            .is_some_and(|name| self.names.iter().any(|n| n == name))
    }
}

/// A relay name that is not one of [`Relay::parse`]'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRelay(pub String);

impl fmt::Display for UnknownRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown relay {:?}", self.0)
    }
}

impl std::error::Error for UnknownRelay {}

impl Relay {
    /// The relay the Python API names; `None` for "none" (read the whole body instead of
    /// pumping it). `tap` is used by "tap" only.
    pub fn parse(name: &str, tap: Vec<String>) -> Result<Option<Self>, UnknownRelay> {
        Ok(Some(match name {
            "none" => return Ok(None),
            "events" => Relay::Events,
            "tap" => Relay::Tap(Tap::new(tap)),
            "openai" => Relay::OpenAi(OpenAiRelay::new(false)),
            "openai-strip-usage" => Relay::OpenAi(OpenAiRelay::new(true)),
            "eventstream" => Relay::EventStream,
            other => return Err(UnknownRelay(other.to_owned())),
        }))
    }
}

/// What one [`Stream::poll`] finds. Parked data always comes out before the end or the
/// failure is reported, so nothing the upstream sent is lost to an error that followed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    /// Everything parked since the last poll (either part may be empty, not both).
    Batch { out: Bytes, events: Vec<SseEvent> },
    /// Nothing parked yet: register a waiter.
    Pending,
    /// The body ended (or the relay stopped it) and everything was taken.
    End,
    /// The body failed and everything before the failure was taken. Reported again by
    /// every later poll.
    Failed(UpstreamError),
}

#[derive(Default)]
struct State {
    /// Bytes to send on as they are (tap and OpenAI relays).
    out: BytesMut,
    events: Vec<SseEvent>,
    finished: Option<Result<(), UpstreamError>>,
    truncated: bool,
    saw_done: bool,
    usage: Option<Usage>,
    fault: Option<StreamFault>,
    waiter: Option<Waiter>,
}

impl State {
    fn has_parked(&self) -> bool {
        !self.events.is_empty() || !self.out.is_empty()
    }
}

/// The state one pump shares with its consumer.
pub struct Stream {
    state: Mutex<State>,
    /// Signalled by every poll that takes something; the pump waits on it when full.
    room: Notify,
    high_water: HighWater,
}

impl Default for Stream {
    fn default() -> Self {
        Self::new(HighWater::default())
    }
}

impl Stream {
    pub fn new(high_water: HighWater) -> Self {
        Self {
            state: Mutex::new(State::default()),
            room: Notify::new(),
            high_water,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The critical sections only move values and cannot panic midway (panic = abort in
        // release anyway), so a poisoned lock still holds consistent data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_full(&self, st: &State) -> bool {
        st.events.len() >= self.high_water.events || st.out.len() >= self.high_water.bytes
    }

    /// Takes everything parked; see [`Poll`].
    pub fn poll(&self) -> Poll {
        let mut st = self.lock();
        if st.has_parked() {
            let out = st.out.split().freeze();
            let events = std::mem::take(&mut st.events);
            drop(st);
            // Unconditionally, not only when the pump is waiting: Notify stores the permit, so
            // a pump that found the stream full but has not started waiting yet still wakes.
            self.room.notify_one();
            return Poll::Batch { out, events };
        }
        match &st.finished {
            None => Poll::Pending,
            Some(Ok(())) => Poll::End,
            Some(Err(e)) => Poll::Failed(e.clone()),
        }
    }

    /// Registers `waiter` to be called once when `poll` has something new to say. When it
    /// already has, the waiter comes back unregistered (`Err`) for the caller to act on at
    /// once. A waiter registered over another one wakes that one (spuriously, so it polls
    /// and waits again) rather than leave it hanging.
    pub fn wait(&self, waiter: Waiter) -> Result<(), Waiter> {
        let mut st = self.lock();
        if st.has_parked() || st.finished.is_some() {
            return Err(waiter);
        }
        let displaced = st.waiter.replace(waiter);
        drop(st);
        if let Some(w) = displaced {
            w();
        }
        Ok(())
    }

    /// True when the body ended in the middle of an SSE event (or an event stream frame).
    pub fn truncated(&self) -> bool {
        self.lock().truncated
    }

    /// True once an OpenAI relay has passed `data: [DONE]`.
    pub fn saw_done(&self) -> bool {
        self.lock().saw_done
    }

    /// The usage an OpenAI relay saw on the stream, if any.
    pub fn usage(&self) -> Option<Usage> {
        self.lock().usage
    }

    /// Why an OpenAI relay ended the stream early, if it did.
    pub fn fault(&self) -> Option<StreamFault> {
        self.lock().fault
    }
}
