//! The limiter of [`super::Limiter`] with its entity state in a file every worker process of
//! a host maps, so that `pllm serve --workers 4` still admits a key's rpm, not four times it.
//!
//! Every decision goes through the same [`Entity`] methods as the local limiter, on an entity
//! loaded from its slot and stored back, so both decide exactly alike on the same calls (until
//! the table is full, below). Tickets stay per process, as in the local limiter: a ticket
//! remembers the slots it charged, and only its process can release it.
//!
//! # Layout
//!
//! All 64-bit words, read and written through atomics ([`Segment`]): a header of
//! [`HEADER_WORDS`] (magic, version, capacity, lock word, counters), then `capacity` slots of
//! [`SLOT_WORDS`] (256 bytes, four cache lines). A slot holds the 64-bit hash of its entity id
//! (0: never used), the entity's limits, its two `u128` debts, `last_us`, `in_flight`, and
//! per-worker `u16` counts of what each worker index holds in flight there, so that
//! [`SharedLimiter::forget_worker`] can give back the parallel slots of a dead worker.
//!
//! # Ids are hashes
//!
//! Slots store a 64-bit hash (SipHash-1-3 of std's `DefaultHasher`, the same in every
//! process running this build), not the id. Two ids with one hash would share limits; among
//! `n` live entities the chance that any two do is about `n² / 2⁶⁵`: 1.2·10⁻¹⁰ for a full
//! table of 65,536. Ids are the gateway's own (key, user and group ids), not chosen by clients.
//!
//! # A full table
//!
//! An entity lives within [`PROBE`] slots of its hash's home slot (linear probing). Slots are
//! never emptied, so a lookup stops at the first empty one; a new entity takes the first empty
//! slot of its window or else an idle one (nothing in flight, buckets full), which forgetting
//! changes no decision about. When the window holds neither, the request is admitted without
//! charging that entity, and [`SharedLimiter::overflows`] counts it: refusing everything
//! because 65,536 entities are busy at once would be worse than not limiting a few.
//!
//! # The lock
//!
//! One word holds the pid of the process in the critical section (0: none), taken by
//! compare-and-swap, with a short spin then `yield_now`. A process killed inside would block
//! the others forever, so a waiter that has waited [`STALE_AFTER`] checks whether the holder
//! still exists and takes the lock over when it does not (a dead holder may have left one
//! slot half written: a bounded error on one entity, not a stuck gateway).

use std::hash::{Hash, Hasher};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
use std::time::{Duration, Instant};

use super::segment::{process_gone, Segment};
use super::tickets::{Member, Tickets};
use super::{Claim, Entity, Found, Limits, Refusal, Ticket};

/// Slots in a table made by [`SharedLimiter::open`]: 16 MiB of file, touched only where used.
pub const CAPACITY: usize = 65_536;
/// How far from its home slot an entity may live.
pub const PROBE: usize = 64;
/// Worker indexes with their own in-flight counts: 0 to `WORKERS - 1`.
pub const WORKERS: usize = 64;
/// How long a waiter trusts the lock holder before checking that it is alive.
pub const STALE_AFTER: Duration = Duration::from_millis(50);

/// "PLLMLIM\x01": a pllm limits segment; written last by its creator, once the rest is set.
const MAGIC: u64 = 0x504C_4C4D_4C49_4D01;
/// The creator's mark while it writes the header.
const CREATING: u64 = u64::MAX;
const VERSION: u64 = 1;

const HEADER_WORDS: usize = 8;
const H_MAGIC: usize = 0;
const H_VERSION: usize = 1;
const H_CAPACITY: usize = 2;
const H_LOCK: usize = 3;
const H_TRACKED: usize = 4;
const H_OVERFLOWS: usize = 5;
const H_TAKEOVERS: usize = 6;

const SLOT_WORDS: usize = 32;
const S_HASH: usize = 0;
const S_RPM: usize = 1;
const S_TPM: usize = 2;
const S_PARALLEL: usize = 3;
const S_RPM_DEBT: usize = 4; // and 5: low word first
const S_TPM_DEBT: usize = 6; // and 7
const S_LAST_US: usize = 8;
const S_IN_FLIGHT: usize = 9;
/// Four u16 worker counts per word, `WORKERS / 4` words.
const S_WORKERS: usize = 10;

/// The 64-bit hash a slot stores for `id`, never 0 (the empty slot's).
pub fn hash_id(id: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    id.hash(&mut h);
    h.finish().max(1)
}

/// Several handles (in one process or many) opened on one file share every entity.
#[derive(Debug)]
pub struct SharedLimiter {
    segment: Segment,
    capacity: usize,
    worker: usize,
    pid: u64,
    tickets: Tickets,
    /// Per-call scratch: each claim's place and hash; empty between calls.
    found: Vec<(Found, u64)>,
}

enum Probe {
    Found(usize),
    /// Not there; this slot (empty, or idle and reusable) can take it.
    Vacant(usize),
    Full,
}

impl SharedLimiter {
    /// Opens `path` (created if missing) with [`CAPACITY`] slots, as worker `worker`.
    pub fn open(path: &Path, worker: usize) -> io::Result<Self> {
        Self::open_with(path, worker, CAPACITY)
    }

    /// `open` with `capacity` slots (a power of two); every handle on a file must agree.
    pub fn open_with(path: &Path, worker: usize, capacity: usize) -> io::Result<Self> {
        let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
        if worker >= WORKERS {
            return Err(invalid(format!("worker {worker} is not below {WORKERS}")));
        }
        if !capacity.is_power_of_two() {
            return Err(invalid(format!(
                "capacity {capacity} is not a power of two"
            )));
        }
        let segment = Segment::open(path, HEADER_WORDS + capacity * SLOT_WORDS)?;
        let header = &segment.words()[..HEADER_WORDS];
        match header[H_MAGIC].compare_exchange(0, CREATING, Acquire, Acquire) {
            Ok(_) => {
                header[H_VERSION].store(VERSION, Relaxed);
                header[H_CAPACITY].store(capacity as u64, Relaxed);
                header[H_MAGIC].store(MAGIC, Release);
            }
            Err(_) => wait_for_creator(&header[H_MAGIC], path)?,
        }
        let (version, stored) = (
            header[H_VERSION].load(Relaxed),
            header[H_CAPACITY].load(Relaxed),
        );
        if version != VERSION || stored != capacity as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: version {version} with {stored} slots, this build wants version \
                     {VERSION} with {capacity}",
                    path.display()
                ),
            ));
        }
        Ok(Self {
            segment,
            capacity,
            worker,
            pid: u64::from(std::process::id()),
            tickets: Tickets::default(),
            found: Vec::new(),
        })
    }

    fn header(&self, word: usize) -> &AtomicU64 {
        &self.segment.words()[word]
    }

    fn slot(&self, s: usize) -> &[AtomicU64] {
        let start = HEADER_WORDS + s * SLOT_WORDS;
        &self.segment.words()[start..start + SLOT_WORDS]
    }

    /// Admits one request of `tokens` against every claim or none, as
    /// [`super::Limiter::acquire`] does, on the entities every handle shares.
    pub fn acquire<C: Claim>(
        &mut self,
        claims: &[C],
        tokens: u64,
        now_us: u64,
    ) -> Result<Ticket, Refusal> {
        let mut found = std::mem::take(&mut self.found);
        let _lock = lock(&self.segment, self.pid);
        let mut worst: Option<Refusal> = None;
        for (i, claim) in claims.iter().enumerate() {
            let limits = claim.limits();
            let (this, hash) = if limits.unlimited() {
                (Found::Skip, 0)
            } else {
                let hash = hash_id(claim.id());
                if found.iter().any(|&(f, h)| f != Found::Skip && h == hash) {
                    (Found::Skip, hash)
                } else if let Probe::Found(s) = self.probe(hash, now_us) {
                    (Found::At(s as u32), hash)
                } else {
                    (Found::New, hash)
                }
            };
            found.push((this, hash));
            let refusal = match this {
                Found::Skip => None,
                Found::New => Entity::fresh(now_us).refusal(&limits, tokens, now_us),
                Found::At(s) => self.load(s as usize).refusal(&limits, tokens, now_us),
            };
            worst = Refusal::longest(worst, i, refusal);
        }
        if let Some(refusal) = worst {
            found.clear();
            self.found = found;
            return Err(refusal);
        }

        let mut tickets = std::mem::take(&mut self.tickets);
        let (id, members) = tickets.open(tokens);
        for (claim, (this, hash)) in claims.iter().zip(found.drain(..)) {
            let s = match this {
                Found::Skip => continue,
                // Still this entity's unless an earlier claim of this call took it while idle.
                Found::At(s) if self.slot(s as usize)[S_HASH].load(Relaxed) == hash => s as usize,
                Found::At(_) | Found::New => match self.probe(hash, now_us) {
                    Probe::Found(s) => s,
                    Probe::Vacant(s) => self.take(s, hash, now_us),
                    Probe::Full => {
                        self.header(H_OVERFLOWS).fetch_add(1, Relaxed);
                        continue;
                    }
                },
            };
            let mut entity = self.load(s);
            let tpm = entity.charge(claim.limits(), tokens, now_us);
            self.store(s, &entity);
            self.add_worker_count(s, self.worker, 1);
            members.push(Member {
                entity: s as u32,
                tpm,
                key: hash,
            });
        }
        self.found = found;
        self.tickets = tickets;
        Ok(Ticket(id))
    }

    /// Ends the request of `ticket` as [`super::Limiter::release`] does.
    pub fn release(&mut self, ticket: Ticket, tokens_used: u64, now_us: u64) -> bool {
        let lock = lock(&self.segment, self.pid);
        let mut tickets = std::mem::take(&mut self.tickets);
        let closed = tickets.close(ticket.0, |reserved, member| {
            let s = member.entity as usize;
            // Gone only if forget_worker already gave this worker's slots back.
            if self.slot(s)[S_HASH].load(Relaxed) != member.key {
                return;
            }
            let mut entity = self.load(s);
            let counted = self.add_worker_count(s, self.worker, -1);
            let in_flight = entity.in_flight;
            entity.settle(member.tpm, reserved, tokens_used, now_us);
            if !counted {
                // forget_worker took this request's parallel slot back already.
                entity.in_flight = in_flight;
            }
            self.store(s, &entity);
        });
        drop(lock);
        self.tickets = tickets;
        closed
    }

    /// Requests in flight charged to `id`, by every handle on the file.
    pub fn in_flight(&self, id: &str) -> u32 {
        let _lock = lock(&self.segment, self.pid);
        match self.find(hash_id(id)) {
            Some(s) => self.load(s).in_flight,
            None => 0,
        }
    }

    /// This handle's tickets not yet released.
    pub fn in_flight_total(&self) -> u64 {
        self.tickets.live()
    }

    /// Slots in use, by every handle on the file; an idle entity counts until its slot is
    /// reused.
    pub fn len(&self) -> usize {
        usize::try_from(self.header(H_TRACKED).load(Relaxed)).unwrap_or(usize::MAX)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Requests admitted without charging an entity that found no slot (a full window).
    pub fn overflows(&self) -> u64 {
        self.header(H_OVERFLOWS).load(Relaxed)
    }

    /// Times a waiter took the lock over from a holder that no longer existed.
    pub fn takeovers(&self) -> u64 {
        self.header(H_TAKEOVERS).load(Relaxed)
    }

    /// Gives back every parallel slot worker index `worker` holds (of a process that died:
    /// its tickets died with it), and returns how many. Its token reservations stay charged,
    /// since the requests were under way and may well have used them.
    pub fn forget_worker(&self, worker: usize) -> u64 {
        if worker >= WORKERS {
            return 0;
        }
        let _lock = lock(&self.segment, self.pid);
        let (word, shift) = (S_WORKERS + worker / 4, (worker % 4) * 16);
        let mut given_back = 0u64;
        for s in 0..self.capacity {
            let slot = self.slot(s);
            if slot[S_HASH].load(Relaxed) == 0 {
                continue;
            }
            let counts = slot[word].load(Relaxed);
            let held = (counts >> shift) & 0xFFFF;
            if held == 0 {
                continue;
            }
            slot[word].store(counts & !(0xFFFF << shift), Relaxed);
            let in_flight = slot[S_IN_FLIGHT].load(Relaxed);
            slot[S_IN_FLIGHT].store(in_flight.saturating_sub(held), Relaxed);
            given_back += held;
        }
        given_back
    }

    /// Moves worker `w`'s count at slot `s` by `delta` (±1); false when a decrement found it
    /// at 0. Counts saturate at 65,535 requests of one worker on one entity.
    fn add_worker_count(&self, s: usize, w: usize, delta: i8) -> bool {
        let word = &self.slot(s)[S_WORKERS + w / 4];
        let shift = (w % 4) * 16;
        let counts = word.load(Relaxed);
        let held = (counts >> shift) & 0xFFFF;
        let new = if delta > 0 {
            (held + 1).min(0xFFFF)
        } else if held > 0 {
            held - 1
        } else {
            return false;
        };
        word.store((counts & !(0xFFFF << shift)) | (new << shift), Relaxed);
        true
    }

    /// `hash`'s slot, or where it can go: the first empty slot of its window, else an idle one.
    fn probe(&self, hash: u64, now_us: u64) -> Probe {
        match self.scan(hash) {
            Ok(s) => Probe::Found(s),
            Err(Some(empty)) => Probe::Vacant(empty),
            Err(None) => self
                .window(hash)
                .find(|&s| {
                    self.slot(s)[S_IN_FLIGHT].load(Relaxed) == 0 && self.load(s).idle(now_us)
                })
                .map_or(Probe::Full, Probe::Vacant),
        }
    }

    /// `hash`'s slot, or else the empty slot that ends its window early (slots are never
    /// emptied, so it cannot be further on).
    fn scan(&self, hash: u64) -> Result<usize, Option<usize>> {
        for s in self.window(hash) {
            match self.slot(s)[S_HASH].load(Relaxed) {
                h if h == hash => return Ok(s),
                0 => return Err(Some(s)),
                _ => {}
            }
        }
        Err(None)
    }

    fn window(&self, hash: u64) -> impl Iterator<Item = usize> {
        let mask = self.capacity - 1;
        let home = hash as usize & mask;
        (0..PROBE.min(self.capacity)).map(move |i| (home + i) & mask)
    }

    fn find(&self, hash: u64) -> Option<usize> {
        self.scan(hash).ok()
    }

    /// Makes slot `s` (empty or idle) a fresh entity of `hash`.
    fn take(&self, s: usize, hash: u64, now_us: u64) -> usize {
        let slot = self.slot(s);
        if slot[S_HASH].load(Relaxed) == 0 {
            self.header(H_TRACKED).fetch_add(1, Relaxed);
        }
        self.store(s, &Entity::fresh(now_us));
        for word in &slot[S_WORKERS..S_WORKERS + WORKERS / 4] {
            word.store(0, Relaxed);
        }
        // Last, so that a holder killed halfway leaves an entity under its old id, not a
        // half-made one under the new.
        slot[S_HASH].store(hash, Relaxed);
        s
    }

    fn load(&self, s: usize) -> Entity {
        let slot = self.slot(s);
        let word = |w: usize| slot[w].load(Relaxed);
        let wide = |w: usize| u128::from(word(w)) | u128::from(word(w + 1)) << 64;
        Entity {
            limits: Limits {
                rpm: decode(word(S_RPM)),
                tpm: decode(word(S_TPM)),
                max_parallel: decode(word(S_PARALLEL)),
            },
            rpm_debt: wide(S_RPM_DEBT),
            tpm_debt: wide(S_TPM_DEBT),
            last_us: word(S_LAST_US),
            in_flight: u32::try_from(word(S_IN_FLIGHT)).unwrap_or(u32::MAX),
        }
    }

    fn store(&self, s: usize, e: &Entity) {
        let slot = self.slot(s);
        let set = |w: usize, v: u64| slot[w].store(v, Relaxed);
        set(S_RPM, encode(e.limits.rpm));
        set(S_TPM, encode(e.limits.tpm));
        set(S_PARALLEL, encode(e.limits.max_parallel));
        set(S_RPM_DEBT, e.rpm_debt as u64);
        set(S_RPM_DEBT + 1, (e.rpm_debt >> 64) as u64);
        set(S_TPM_DEBT, e.tpm_debt as u64);
        set(S_TPM_DEBT + 1, (e.tpm_debt >> 64) as u64);
        set(S_LAST_US, e.last_us);
        set(S_IN_FLIGHT, u64::from(e.in_flight));
    }
}

/// Takes the segment's lock for process `pid`; see the module documentation.
fn lock(segment: &Segment, pid: u64) -> LockGuard<'_> {
    let word = &segment.words()[H_LOCK];
    let mut spins = 0u32;
    let mut waiting_since: Option<Instant> = None;
    loop {
        // Reading before trying keeps waiters from bouncing the cache line between cores.
        let holder = word.load(Relaxed);
        if holder == 0 {
            if word.compare_exchange_weak(0, pid, Acquire, Relaxed).is_ok() {
                return LockGuard { word };
            }
            continue;
        }
        spins += 1;
        if spins < 100 {
            std::hint::spin_loop();
            continue;
        }
        std::thread::yield_now();
        let since = *waiting_since.get_or_insert_with(Instant::now);
        if since.elapsed() < STALE_AFTER {
            continue;
        }
        waiting_since = Some(Instant::now());
        let gone = u32::try_from(holder).is_ok_and(process_gone);
        if gone && word.compare_exchange(holder, pid, Acquire, Relaxed).is_ok() {
            segment.words()[H_TAKEOVERS].fetch_add(1, Relaxed);
            return LockGuard { word };
        }
    }
}

/// The critical section's end: stores 0, publishing every write made under the lock.
struct LockGuard<'a> {
    word: &'a AtomicU64,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        self.word.store(0, Release);
    }
}

/// Waits (a second at most) for the process creating the header to finish it.
fn wait_for_creator(magic: &AtomicU64, path: &Path) -> io::Result<()> {
    let start = Instant::now();
    loop {
        match magic.load(Acquire) {
            MAGIC => return Ok(()),
            CREATING if start.elapsed() < Duration::from_secs(1) => std::thread::yield_now(),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} is not a pllm limits segment ({other:#x})",
                        path.display()
                    ),
                ))
            }
        }
    }
}

/// `Some(v)` as `1 << 32 | v`, `None` as 0.
fn encode(limit: Option<u32>) -> u64 {
    limit.map_or(0, |v| 1 << 32 | u64::from(v))
}

fn decode(word: u64) -> Option<u32> {
    (word >> 32 != 0).then_some(word as u32)
}

#[cfg(test)]
mod tests;
