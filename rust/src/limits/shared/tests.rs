use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;

use proptest::prelude::*;

use super::super::{Kind, Limiter, Limits};
use super::*;

const SEC: u64 = 1_000_000;

/// A path in the temp dir, unique to this test, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(name: &str) -> Self {
        use std::sync::atomic::AtomicUsize;
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Relaxed);
        let path =
            std::env::temp_dir().join(format!("pllm-limits-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Self(path)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn lim(rpm: Option<u32>, tpm: Option<u32>, max_parallel: Option<u32>) -> Limits {
    Limits {
        rpm,
        tpm,
        max_parallel,
    }
}

fn open(path: &TempPath, worker: usize, capacity: usize) -> SharedLimiter {
    SharedLimiter::open_with(&path.0, worker, capacity).unwrap()
}

#[test]
fn two_handles_share_one_rpm() {
    let path = TempPath::new("rpm");
    let mut a = open(&path, 0, 1024);
    let mut b = open(&path, 1, 1024);
    let claims = [("key:k", lim(Some(30), None, None))];
    let admitted = (0..100)
        .filter(|i| {
            let handle = if i % 2 == 0 { &mut a } else { &mut b };
            handle.acquire(&claims, 0, 0).is_ok()
        })
        .count();
    assert_eq!(admitted, 30);
    let refused = b.acquire(&claims, 0, 0).unwrap_err();
    assert_eq!((refused.kind, refused.retry_after_us), (Kind::Rpm, 2 * SEC));
    assert_eq!(a.in_flight("key:k"), 30);
    assert_eq!((a.in_flight_total(), b.in_flight_total()), (15, 15));
    assert_eq!(a.len(), 1);
}

#[test]
fn parallel_slots_are_shared_and_a_dead_workers_come_back() {
    let path = TempPath::new("parallel");
    let mut a = open(&path, 0, 1024);
    let mut b = open(&path, 3, 1024);
    let claims = [("user:u", lim(None, None, Some(3)))];
    let held = a.acquire(&claims, 0, 0).unwrap();
    a.acquire(&claims, 0, 0).unwrap();
    b.acquire(&claims, 0, 0).unwrap();
    let refused = b.acquire(&claims, 0, 0).unwrap_err();
    assert_eq!(refused.kind, Kind::Parallel);
    // Worker 0 dies with two requests in flight: a survivor gives them back.
    assert_eq!(b.forget_worker(0), 2);
    assert_eq!(b.in_flight("user:u"), 1);
    assert_eq!(b.forget_worker(0), 0);
    b.acquire(&claims, 0, 0).unwrap();
    b.acquire(&claims, 0, 0).unwrap();
    assert!(b.acquire(&claims, 0, 0).is_err());
    // Had worker 0 not been dead after all, its release takes nothing it no longer holds.
    assert!(a.release(held, 0, 0));
    assert_eq!(b.in_flight("user:u"), 3);
    assert_eq!(b.forget_worker(WORKERS), 0);
}

#[test]
fn a_full_window_reuses_idle_slots_and_admits_uncharged_when_none_is() {
    let path = TempPath::new("full");
    let mut l = open(&path, 0, 4);
    let busy = lim(None, None, Some(1));
    let tickets: Vec<Ticket> = (0..4)
        .map(|i| l.acquire(&[(format!("k{i}"), busy)], 0, 0).unwrap())
        .collect();
    assert_eq!(l.len(), 4);
    // No slot for a fifth: admitted, not tracked, counted.
    let fifth = [("k4", busy)];
    assert!(l.acquire(&fifth, 0, 0).is_ok());
    assert!(l.acquire(&fifth, 0, 0).is_ok());
    assert_eq!((l.overflows(), l.in_flight("k4")), (2, 0));
    // Once one entity is idle its slot goes to the newcomer, which is limited again.
    assert!(l.release(tickets[2], 0, 0));
    l.acquire(&fifth, 0, 0).unwrap();
    assert!(l.acquire(&fifth, 0, 0).is_err());
    assert_eq!((l.in_flight("k4"), l.in_flight("k2"), l.len()), (1, 0, 4));
}

#[test]
fn a_lock_left_by_a_dead_process_is_taken_over() {
    let path = TempPath::new("takeover");
    let mut l = open(&path, 0, 16);
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = u64::from(child.id());
    child.wait().unwrap();
    l.header(H_LOCK).store(dead, Relaxed);
    let started = Instant::now();
    assert!(l.acquire(&[("k", lim(Some(1), None, None))], 0, 0).is_ok());
    assert!(started.elapsed() >= STALE_AFTER);
    assert_eq!(l.takeovers(), 1);
    assert_eq!(l.header(H_LOCK).load(Relaxed), 0);
}

#[test]
fn a_file_of_another_layout_is_refused() {
    let path = TempPath::new("layout");
    drop(open(&path, 0, 16));
    assert!(SharedLimiter::open_with(&path.0, 0, 32).is_err());
    let other = TempPath::new("other");
    std::fs::write(&other.0, b"not a segment").unwrap();
    assert!(SharedLimiter::open_with(&other.0, 0, 16).is_err());
    let zeros = TempPath::new("magic");
    let len = (HEADER_WORDS + 16 * SLOT_WORDS) * 8;
    let mut bytes = vec![0u8; len];
    bytes[0] = 1;
    std::fs::write(&zeros.0, bytes).unwrap();
    assert!(SharedLimiter::open_with(&zeros.0, 0, 16).is_err());
    assert!(SharedLimiter::open_with(&path.0, WORKERS, 16).is_err());
    assert!(SharedLimiter::open_with(&path.0, 0, 12).is_err());
}

#[test]
fn limits_round_trip_through_a_slot() {
    for limit in [None, Some(0), Some(1), Some(u32::MAX)] {
        assert_eq!(decode(encode(limit)), limit);
    }
    let path = TempPath::new("slot");
    let l = open(&path, 0, 16);
    let entity = Entity {
        limits: lim(Some(u32::MAX), None, Some(0)),
        rpm_debt: u128::MAX - 5,
        tpm_debt: 1 << 70,
        last_us: u64::MAX,
        in_flight: u32::MAX,
    };
    l.store(3, &entity);
    assert_eq!(l.load(3), entity);
}

#[test]
fn the_clock_is_one_monotonic_scale() {
    let a = super::super::monotonic_us();
    let b = super::super::monotonic_us();
    assert!(a > 0 && b >= a);
}

fn limits_strategy() -> impl Strategy<Value = Limits> {
    (
        prop::option::of(0u32..8),
        prop::option::of(0u32..500),
        prop::option::of(0u32..4),
    )
        .prop_map(|(rpm, tpm, max_parallel)| lim(rpm, tpm, max_parallel))
}

#[derive(Debug, Clone)]
enum Op {
    /// Which handle, the claims as indexes into the ids (repeats allowed), estimated tokens.
    Acquire(bool, Vec<usize>, u64),
    /// Which open ticket, tokens used.
    Release(usize, u64),
    Wait(u64),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), prop::collection::vec(0usize..5, 0..4), 0u64..300)
            .prop_map(|(h, c, t)| Op::Acquire(h, c, t)),
        3 => (any::<usize>(), 0u64..600).prop_map(|(i, u)| Op::Release(i, u)),
        1 => (0u64..30 * SEC).prop_map(Op::Wait),
    ]
}

const IDS: [&str; 5] = ["key", "user", "team", "org", "key"];

proptest! {
    #[test]
    fn two_shared_handles_decide_exactly_as_one_local_limiter(
        limits in prop::collection::vec(limits_strategy(), 5),
        ops in prop::collection::vec(op_strategy(), 1..150),
    ) {
        let path = TempPath::new("prop");
        let mut handles = [open(&path, 0, 256), open(&path, 1, 256)];
        let mut local = Limiter::new();
        let mut now = 0u64;
        // Open tickets: the local one, which handle holds the shared one, and it.
        let mut open_tickets: Vec<(Ticket, usize, Ticket)> = Vec::new();
        for op in ops {
            match op {
                Op::Wait(us) => now += us,
                Op::Acquire(second, chosen, tokens) => {
                    let claims: Vec<(&str, Limits)> =
                        chosen.iter().map(|&i| (IDS[i], limits[i])).collect();
                    let h = usize::from(second);
                    match (local.acquire(&claims, tokens, now), handles[h].acquire(&claims, tokens, now)) {
                        (Ok(l), Ok(s)) => open_tickets.push((l, h, s)),
                        (Err(l), Err(s)) => prop_assert_eq!(l, s),
                        (l, s) => prop_assert!(false, "local {:?}, shared {:?}", l, s),
                    }
                }
                Op::Release(which, used) => {
                    if !open_tickets.is_empty() {
                        let (l, h, s) = open_tickets.swap_remove(which % open_tickets.len());
                        prop_assert!(local.release(l, used, now));
                        prop_assert!(handles[h].release(s, used, now));
                        prop_assert!(!handles[h].release(s, used, now));
                    }
                }
            }
            for id in IDS {
                prop_assert_eq!(local.in_flight(id), handles[0].in_flight(id));
            }
            let shared_total = handles[0].in_flight_total() + handles[1].in_flight_total();
            prop_assert_eq!(local.in_flight_total(), shared_total);
        }
        prop_assert_eq!(handles[0].overflows(), 0);
    }
}
