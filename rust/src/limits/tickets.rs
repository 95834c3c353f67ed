//! Outstanding tickets: a slab of slots reused through a free list, so after warm-up opening
//! and closing a ticket allocates nothing (a slot keeps its member list's capacity).
//!
//! A ticket id is `generation << 32 | slot`. The generation moves on each time a slot is
//! closed, so a stale id (released twice, or made up) no longer matches and closing it is a
//! no-op; generations start at 1, so every id is > 0.

/// One entity a ticket holds a place on; `tpm` says whether tokens were reserved on it.
/// `key` is the entity's id hash in a shared table, where a slot can change hands (0 in the
/// local limiter, whose slots cannot while a ticket holds them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub entity: u32,
    pub tpm: bool,
    pub key: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    generation: u32,
    live: bool,
    tokens: u64,
    members: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tickets {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: u64,
}

impl Tickets {
    /// Opens a ticket reserving `tokens`; returns its id and its (empty) member list to fill.
    pub fn open(&mut self, tokens: u64) -> (u64, &mut Vec<Member>) {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                // Each slot stands for a request in flight: 2^32 of them cannot fit in memory.
                let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(Slot {
                    generation: 1,
                    live: false,
                    tokens: 0,
                    members: Vec::new(),
                });
                index
            }
        };
        self.live += 1;
        let slot = &mut self.slots[index as usize];
        slot.live = true;
        slot.tokens = tokens;
        let id = u64::from(slot.generation) << 32 | u64::from(index);
        (id, &mut slot.members)
    }

    /// Closes ticket `id`, calling `settle(reserved_tokens, member)` for each of its members;
    /// false (and nothing called) when `id` is not an open ticket.
    pub fn close(&mut self, id: u64, mut settle: impl FnMut(u64, Member)) -> bool {
        let generation = (id >> 32) as u32;
        let index = (id & u64::from(u32::MAX)) as u32;
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return false;
        };
        if !slot.live || slot.generation != generation {
            return false;
        }
        for &member in &slot.members {
            settle(slot.tokens, member);
        }
        slot.members.clear();
        slot.live = false;
        slot.tokens = 0;
        slot.generation = slot.generation.checked_add(1).unwrap_or(1);
        self.free.push(index);
        self.live -= 1;
        true
    }

    /// How many tickets are open.
    pub fn live(&self) -> u64 {
        self.live
    }

    /// Renumbers the entities open tickets point at (after the entity slab was compacted).
    pub fn remap(&mut self, new_index: impl Fn(u32) -> u32) {
        for slot in self.slots.iter_mut().filter(|s| s.live) {
            for member in &mut slot.members {
                member.entity = new_index(member.entity);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_and_a_closed_id_stays_closed() {
        let mut t = Tickets::default();
        let (a, members) = t.open(7);
        members.push(Member {
            entity: 3,
            tpm: true,
            key: 0,
        });
        assert!(a > 0);
        let mut seen = Vec::new();
        assert!(t.close(a, |tokens, m| seen.push((tokens, m.entity))));
        assert_eq!(seen, [(7, 3)]);
        assert!(!t.close(a, |_, _| unreachable!()));
        // The slot is reused under a new id; the old one still does nothing.
        let (b, _) = t.open(0);
        assert_ne!(a, b);
        assert!(!t.close(a, |_, _| unreachable!()));
        assert_eq!(t.live(), 1);
        assert!(!t.close(0, |_, _| unreachable!()));
        assert!(!t.close(u64::MAX, |_, _| unreachable!()));
        assert!(t.close(b, |_, _| unreachable!()));
        assert_eq!(t.live(), 0);
    }
}
