//! Hands results from Tokio threads to the asyncio loop without taking the GIL there.
//!
//! A Tokio task that finishes pushes a [`Completion`] onto a queue and, only if no wake-up is
//! already pending, writes one byte to a socket pair whose read end the asyncio loop watches
//! (`loop.add_reader`). The loop then drains every queued completion in one callback. Two
//! things follow: a Tokio thread never waits for the GIL (which a busy loop thread may hold for
//! a whole switch interval), and under load many completions share one wake-up.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::prelude::*;

/// Builds the Python result on the loop thread, where the GIL is held.
pub type MakeResult = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

pub struct Completion {
    pub future: Py<PyAny>,
    pub make: MakeResult,
}

pub struct Bridge {
    queue: Mutex<Vec<Completion>>,
    scheduled: AtomicBool,
    wake_writer: UnixStream,
    wake_reader: UnixStream,
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic cannot happen while these locks are held (panic = abort in release, and the
    // critical sections only move values), so a poisoned lock still holds consistent data.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Bridge {
    pub fn new() -> std::io::Result<Arc<Self>> {
        let (wake_reader, wake_writer) = UnixStream::pair()?;
        wake_reader.set_nonblocking(true)?;
        wake_writer.set_nonblocking(true)?;
        Ok(Arc::new(Self {
            queue: Mutex::new(Vec::new()),
            scheduled: AtomicBool::new(false),
            wake_writer,
            wake_reader,
        }))
    }

    pub fn wake_fd(&self) -> i32 {
        self.wake_reader.as_raw_fd()
    }

    /// Called from any thread, without the GIL.
    pub fn complete(&self, completion: Completion) {
        lock(&self.queue).push(completion);
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            // WouldBlock means the pipe already holds unread wake-ups: the loop will drain.
            let _ = (&self.wake_writer).write(&[1]);
        }
    }

    /// Called on the loop thread by the reader callback: resolves every queued future.
    pub fn drain(&self, py: Python<'_>) -> PyResult<()> {
        let mut sink = [0u8; 256];
        loop {
            match (&self.wake_reader).read(&mut sink) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        // Clear the flag before taking the queue: a completion pushed after the take sees the
        // flag down and writes a fresh wake-up.
        self.scheduled.store(false, Ordering::Release);
        let ready = std::mem::take(&mut *lock(&self.queue));
        for c in ready {
            let fut = c.future.bind(py);
            // A cancelled future (the client went away) takes no result.
            if fut.call_method0("done")?.is_truthy()? {
                continue;
            }
            match (c.make)(py) {
                Ok(value) => fut.call_method1("set_result", (value,))?,
                Err(err) => fut.call_method1("set_exception", (err.into_value(py),))?,
            };
        }
        Ok(())
    }
}
