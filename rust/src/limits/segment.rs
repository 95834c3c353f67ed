//! The operating-system calls the shared limiter needs, and the only unsafe code in the crate:
//! a file mapped `MAP_SHARED` and seen as a slice of `AtomicU64`, the absolute
//! `CLOCK_MONOTONIC` time, and whether a process id is still alive.
//!
//! Every byte of the mapping can be written by another process at any moment, so Rust may
//! only ever see it through atomics: handing out `&[AtomicU64]` (never `&mut`, never plain
//! integers) is what keeps everything built on top safe code. What stays outside Rust's
//! guarantees is the file itself: another process truncating it would make an access fault
//! (SIGBUS). Only pllm's own workers open it, and they never shrink it.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

/// A file of `len` 64-bit words mapped shared, read and written only through atomics.
#[derive(Debug)]
pub struct Segment {
    words: NonNull<AtomicU64>,
    len: usize,
}

// SAFETY: the mapping is only reached as `&[AtomicU64]`, which is Sync and Send; the pointer is
// valid until `Drop` unmaps it, whichever thread that happens on.
unsafe impl Send for Segment {}
unsafe impl Sync for Segment {}

impl Segment {
    /// Opens (creating it if missing, mode 0600) the file at `path`, grows an empty one to
    /// `len` words, and maps it. A file of another nonzero size is refused rather than resized:
    /// it belongs to another layout or to something else entirely.
    pub fn open(path: &Path, len: usize) -> io::Result<Segment> {
        let bytes = len
            .checked_mul(8)
            .filter(|&b| b > 0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad segment size"))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        let size = file.metadata()?.len();
        if size == 0 {
            // Several processes may race here: each sets the same size, and growing a file
            // reads as zeros, which is the empty table, so the order does not matter.
            file.set_len(bytes as u64)?;
        } else if size != bytes as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is {size} bytes, not the {bytes} of a limits segment",
                    path.display()
                ),
            ));
        }
        map(&file, bytes).map(|words| Segment { words, len })
    }

    pub fn words(&self) -> &[AtomicU64] {
        // SAFETY: `words` points at `len` words mapped readable and writable, page aligned
        // (so aligned for AtomicU64), and mapped until `self` drops; atomics tolerate the
        // concurrent writes of other processes.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr(), self.len) }
    }
}

fn map(file: &File, bytes: usize) -> io::Result<NonNull<AtomicU64>> {
    // SAFETY: a fresh shared mapping of an open file descriptor at an address the kernel
    // picks; the result is checked before use. The mapping outlives the descriptor, which
    // may close when `file` drops.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    NonNull::new(ptr.cast::<AtomicU64>()).ok_or_else(|| io::Error::other("mmap returned null"))
}

impl Drop for Segment {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the region `map` mapped; no reference into it outlives
        // `self`, since `words` borrows `self`.
        unsafe {
            libc::munmap(self.words.as_ptr().cast(), self.len * 8);
        }
    }
}

/// `CLOCK_MONOTONIC` in microseconds: one scale for every process of the host, unlike
/// `Instant`, whose origin is private to each process.
pub fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux, and
    // on an impossible failure `ts` stays 0, a time in the past.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000).saturating_add(nanos / 1_000)
}

/// True only when no process `pid` exists any more (ESRCH); a process that exists but
/// belongs to someone else (EPERM) is alive.
pub fn process_gone(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that `pid` could be signalled; nothing is delivered.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == -1 && io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}
