//! Per-principal rate limits: requests per minute, tokens per minute and parallel requests,
//! for any number of entities (keys, users, groups) charged together.
//!
//! [`Limiter::acquire`] admits a request against every entity it names or against none, and
//! hands back a [`Ticket`]; [`Limiter::release`] gives the parallel slot back and settles the
//! token reservation with what the request really used. rpm and tpm are token buckets of the
//! limit's size refilling continuously at limit/60 per second (see [`bucket`]); the limits come
//! with every call, so an admin's change applies to the next request.
//!
//! Time is a parameter (microseconds on any monotonic scale), which keeps the core a pure
//! function of its calls: tests drive it with made-up times, the binding with a real clock.
//!
//! [`SharedLimiter`] makes the same decisions on entity state kept in a file that every
//! worker process of a host maps (see `shared.rs`); [`monotonic_us`] is the clock they share.

mod bucket;
mod segment;
mod shared;
mod tickets;

use std::collections::HashMap;

pub use segment::monotonic_us;
pub use shared::{SharedLimiter, CAPACITY, WORKERS};
use tickets::{Member, Tickets};

/// An entity's limits, per minute for rpm and tpm; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub rpm: Option<u32>,
    pub tpm: Option<u32>,
    pub max_parallel: Option<u32>,
}

impl Limits {
    fn unlimited(&self) -> bool {
        self.rpm.is_none() && self.tpm.is_none() && self.max_parallel.is_none()
    }
}

/// One entity a request is charged to: its id and its current limits.
pub trait Claim {
    fn id(&self) -> &str;
    fn limits(&self) -> Limits;
}

impl<K: AsRef<str>> Claim for (K, Limits) {
    fn id(&self) -> &str {
        self.0.as_ref()
    }
    fn limits(&self) -> Limits {
        self.1
    }
}

/// `(id, rpm, tpm, max_parallel)`, the shape the Python binding receives.
impl<K: AsRef<str>> Claim for (K, Option<u32>, Option<u32>, Option<u32>) {
    fn id(&self) -> &str {
        self.0.as_ref()
    }
    fn limits(&self) -> Limits {
        Limits {
            rpm: self.1,
            tpm: self.2,
            max_parallel: self.3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Rpm,
    Tpm,
    Parallel,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rpm => "rpm",
            Kind::Tpm => "tpm",
            Kind::Parallel => "parallel",
        }
    }
}

/// Why a request was not admitted: `entity` indexes the claims passed to `acquire`.
///
/// When several limits refuse, this is the one that frees up last (the earliest listed on a
/// tie), since the request cannot pass before then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub entity: usize,
    pub kind: Kind,
    pub retry_after_us: u64,
}

impl Refusal {
    /// The refusal that frees up last: `worst` so far, or entity `entity`'s `refusal` when
    /// it waits longer (the earliest listed wins a tie).
    fn longest(worst: Option<Self>, entity: usize, refusal: Option<(Kind, u64)>) -> Option<Self> {
        match refusal {
            Some((kind, wait)) if !matches!(worst, Some(w) if w.retry_after_us >= wait) => {
                Some(Self {
                    entity,
                    kind,
                    retry_after_us: wait,
                })
            }
            _ => worst,
        }
    }

    pub fn retry_after_secs(&self) -> f64 {
        self.retry_after_us as f64 / 1e6
    }
}

/// A parallel slot is freed by another request ending, which cannot be predicted: this is
/// only a polite interval to retry at.
const PARALLEL_RETRY_US: u64 = 1_000_000;

/// Proof of an admitted request, to hand back to [`Limiter::release`]; the id is > 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(pub u64);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entity {
    /// The limits of the latest admitted request; debts refill at these rates.
    limits: Limits,
    /// Bucket debts in [`bucket::UNITS`] as of `last_us`; 0 whenever the limit is `None`.
    rpm_debt: u128,
    tpm_debt: u128,
    last_us: u64,
    in_flight: u32,
}

impl Entity {
    fn fresh(now_us: u64) -> Self {
        Self {
            limits: Limits::default(),
            rpm_debt: 0,
            tpm_debt: 0,
            last_us: now_us,
            in_flight: 0,
        }
    }

    /// `(rpm_debt, tpm_debt)` at `now_us`. Time running backwards counts as none passing.
    fn debts_at(&self, now_us: u64) -> (u128, u128) {
        let elapsed = now_us.saturating_sub(self.last_us);
        (
            bucket::refill(self.rpm_debt, self.limits.rpm, elapsed),
            bucket::refill(self.tpm_debt, self.limits.tpm, elapsed),
        )
    }

    fn advance(&mut self, now_us: u64) {
        (self.rpm_debt, self.tpm_debt) = self.debts_at(now_us);
        self.last_us = self.last_us.max(now_us);
    }

    /// The limit that refuses one more request under `limits`, with its wait; the longest wait
    /// wins, the first of parallel, rpm, tpm on a tie.
    fn refusal(&self, limits: &Limits, tokens: u64, now_us: u64) -> Option<(Kind, u64)> {
        let (rpm_debt, tpm_debt) = self.debts_at(now_us);
        let parallel = limits
            .max_parallel
            .filter(|&max| self.in_flight >= max)
            .map(|_| (Kind::Parallel, PARALLEL_RETRY_US));
        let rpm = limits.rpm.map(|limit| {
            (
                Kind::Rpm,
                bucket::wait_us(rpm_debt, limit, 1, self.limits.rpm),
            )
        });
        let tpm = limits.tpm.map(|limit| {
            let wait = bucket::wait_us(tpm_debt, limit, tokens, self.limits.tpm);
            (Kind::Tpm, wait)
        });
        [parallel, rpm, tpm]
            .into_iter()
            .flatten()
            .filter(|&(_, wait)| wait > 0)
            .fold(None, |worst, this| match worst {
                Some((_, longest)) if longest >= this.1 => worst,
                _ => Some(this),
            })
    }

    /// Takes a request under `limits` (already checked); true when tokens were reserved.
    fn charge(&mut self, limits: Limits, tokens: u64, now_us: u64) -> bool {
        self.advance(now_us);
        self.limits = limits;
        self.rpm_debt = match limits.rpm {
            Some(_) => self.rpm_debt.saturating_add(bucket::UNITS),
            None => 0,
        };
        self.tpm_debt = match limits.tpm {
            Some(_) => self.tpm_debt.saturating_add(bucket::units(tokens)),
            None => 0,
        };
        self.in_flight = self.in_flight.saturating_add(1);
        limits.tpm.is_some()
    }

    /// Ends one request that reserved `reserved` tokens here (if `tpm`) and used `used`.
    fn settle(&mut self, member_tpm: bool, reserved: u64, used: u64, now_us: u64) {
        self.advance(now_us);
        self.in_flight = self.in_flight.saturating_sub(1);
        // A tpm limit removed since the reservation took its debt with it: nothing to settle.
        if member_tpm && self.limits.tpm.is_some() {
            self.tpm_debt = if used <= reserved {
                self.tpm_debt.saturating_sub(bucket::units(reserved - used))
            } else {
                self.tpm_debt.saturating_add(bucket::units(used - reserved))
            };
        }
    }

    /// Nothing in flight and buckets full: forgetting it changes no future decision.
    fn idle(&self, now_us: u64) -> bool {
        self.in_flight == 0 && self.debts_at(now_us) == (0, 0)
    }
}

/// Where `acquire` found each claim between checking and charging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// No limit at all, or the same id listed earlier in the same call (charged once).
    Skip,
    New,
    At(u32),
}

/// Acquires between sweeps at the least. After a sweep that kept `n` entities the next one
/// comes `max(this, n)` acquires later: the cost per acquire stays constant and the entities
/// tracked stay within about twice the busy ones.
const SWEEP_EVERY: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limiter {
    entities: Vec<Entity>,
    /// Slots of `entities` no id points at, reused before the slab grows.
    vacant: Vec<u32>,
    index: HashMap<Box<str>, u32>,
    tickets: Tickets,
    acquires_until_sweep: usize,
    /// Per-call scratch, kept to reuse its allocation; always empty between calls.
    found: Vec<Found>,
}

impl Limiter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Admits one request of `tokens` (estimated) against every claim, or against none.
    ///
    /// An entity with no limit at all is not tracked (nor counted in flight); an id listed
    /// twice is charged once, under its first limits. The limits of an admitted request are
    /// stored as the entity's; a refused request changes nothing at all.
    pub fn acquire<C: Claim>(
        &mut self,
        claims: &[C],
        tokens: u64,
        now_us: u64,
    ) -> Result<Ticket, Refusal> {
        let mut found = std::mem::take(&mut self.found);
        let mut worst: Option<Refusal> = None;
        for (i, claim) in claims.iter().enumerate() {
            let limits = claim.limits();
            let this = if limits.unlimited() {
                Found::Skip
            } else {
                self.find(claim.id(), &claims[..i], &found)
            };
            found.push(this);
            let refusal = match this {
                Found::Skip => None,
                Found::New => Entity::fresh(now_us).refusal(&limits, tokens, now_us),
                Found::At(e) => self.entities[e as usize].refusal(&limits, tokens, now_us),
            };
            worst = Refusal::longest(worst, i, refusal);
        }
        if let Some(refusal) = worst {
            found.clear();
            self.found = found;
            return Err(refusal);
        }

        let (id, members) = self.tickets.open(tokens);
        for (claim, this) in claims.iter().zip(found.drain(..)) {
            let e = match this {
                Found::Skip => continue,
                Found::At(e) => e,
                Found::New => {
                    let e = match self.vacant.pop() {
                        Some(e) => {
                            self.entities[e as usize] = Entity::fresh(now_us);
                            e
                        }
                        None => {
                            self.entities.push(Entity::fresh(now_us));
                            // As many entities as u32 counts cannot fit in memory.
                            u32::try_from(self.entities.len() - 1).unwrap_or(u32::MAX)
                        }
                    };
                    self.index.insert(claim.id().into(), e);
                    e
                }
            };
            let tpm = self.entities[e as usize].charge(claim.limits(), tokens, now_us);
            members.push(Member {
                entity: e,
                tpm,
                key: 0,
            });
        }
        self.found = found;

        match self.acquires_until_sweep.checked_sub(1) {
            Some(left) => self.acquires_until_sweep = left,
            None => {
                self.sweep(now_us);
            }
        }
        Ok(Ticket(id))
    }

    /// `id`'s slot, unless an earlier claim of this call already named it.
    fn find<C: Claim>(&self, id: &str, earlier: &[C], found: &[Found]) -> Found {
        match self.index.get(id) {
            Some(&e) if found.contains(&Found::At(e)) => Found::Skip,
            Some(&e) => Found::At(e),
            None => {
                let listed = earlier
                    .iter()
                    .zip(found)
                    .any(|(c, &f)| f == Found::New && c.id() == id);
                if listed {
                    Found::Skip
                } else {
                    Found::New
                }
            }
        }
    }

    /// Ends the request of `ticket`, which used `tokens_used` tokens: frees its parallel slots
    /// and settles its token reservation (refunds what it did not use, never past a full
    /// bucket, or charges what it used beyond). False, and nothing done, when the ticket is
    /// unknown or already released.
    pub fn release(&mut self, ticket: Ticket, tokens_used: u64, now_us: u64) -> bool {
        let entities = &mut self.entities;
        self.tickets.close(ticket.0, |reserved, member| {
            entities[member.entity as usize].settle(member.tpm, reserved, tokens_used, now_us);
        })
    }

    /// Requests in flight charged to `id` (0 when it is not tracked).
    pub fn in_flight(&self, id: &str) -> u32 {
        self.index
            .get(id)
            .map_or(0, |&e| self.entities[e as usize].in_flight)
    }

    /// Tickets not yet released, tickets of unlimited requests included.
    pub fn in_flight_total(&self) -> u64 {
        self.tickets.live()
    }

    /// Entities tracked now.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Forgets every idle entity (nothing in flight, buckets full) and returns how many.
    /// `acquire` calls it now and then; forgetting changes no decision, since a fresh entity
    /// is exactly an idle one.
    pub fn sweep(&mut self, now_us: u64) -> usize {
        let before = self.index.len();
        let (entities, vacant) = (&self.entities, &mut self.vacant);
        self.index.retain(|_, &mut e| {
            let idle = entities[e as usize].idle(now_us);
            if idle {
                vacant.push(e);
            }
            !idle
        });
        let kept = self.index.len();
        self.acquires_until_sweep = SWEEP_EVERY.max(kept);
        // After a burst of one-off ids, give the memory back rather than keep the peak.
        if self.entities.len() > 2 * kept + SWEEP_EVERY {
            self.compact();
        }
        if self.index.capacity() > 4 * kept + SWEEP_EVERY {
            self.index.shrink_to(2 * kept);
        }
        before - kept
    }

    /// Moves the tracked entities to the front of a right-sized slab.
    fn compact(&mut self) {
        let mut old = std::mem::take(&mut self.entities);
        let mut new_index = vec![u32::MAX; old.len()];
        let mut entities = Vec::with_capacity(self.index.len() * 2);
        for e in self.index.values_mut() {
            let moved = u32::try_from(entities.len()).unwrap_or(u32::MAX);
            entities.push(std::mem::replace(&mut old[*e as usize], Entity::fresh(0)));
            new_index[*e as usize] = moved;
            *e = moved;
        }
        self.tickets.remap(|e| new_index[e as usize]);
        self.entities = entities;
        self.vacant.clear();
    }
}

#[cfg(test)]
mod tests;
