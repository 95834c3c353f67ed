//! A brute-force cosine-similarity index, partitioned by an exact-match key.
//!
//! The semantic cache matches a request's last user turn by meaning, but everything else
//! (model, parameters, the earlier conversation) must be equal: that part is hashed into a
//! `group`, and a search only looks at the vectors of the query's group. Vectors are
//! normalised when added, so cosine similarity is a dot product; each group keeps its vectors
//! in one contiguous row-major `Vec<f32>`, scanned with eight independent accumulators (which
//! the compiler turns into SIMD). Removal swaps the last row into the hole: O(dim).

use std::collections::HashMap;
use std::fmt;

/// Why an operation was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum VectorIndexError {
    /// The vector's length is not the index's dimension.
    Dimension { expected: usize, got: usize },
    /// A zero (or non-finite) vector has no direction to compare.
    NotNormalisable,
}

impl fmt::Display for VectorIndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dimension { expected, got } => {
                write!(
                    f,
                    "vector of dimension {got}, the index holds dimension {expected}"
                )
            }
            Self::NotNormalisable => write!(f, "a zero or non-finite vector cannot be indexed"),
        }
    }
}

impl std::error::Error for VectorIndexError {}

#[derive(Default)]
struct Group {
    ids: Vec<u64>,
    rows: Vec<f32>,
}

/// Vectors by id, each in one group.
pub struct VectorIndex {
    dim: usize,
    groups: HashMap<u64, Group>,
    // id -> (group, row in that group)
    where_: HashMap<u64, (u64, usize)>,
}

/// The dot product of two equal-length slices, eight lanes at a time.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

fn normalised(v: &[f32]) -> Option<Vec<f32>> {
    let norm = dot(v, v).sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return None;
    }
    Some(v.iter().map(|x| x / norm).collect())
}

impl VectorIndex {
    pub fn new(dim: usize) -> Self {
        Self {
            dim,
            groups: HashMap::new(),
            where_: HashMap::new(),
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.where_.len()
    }

    pub fn is_empty(&self) -> bool {
        self.where_.is_empty()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.where_.contains_key(&id)
    }

    fn check(&self, v: &[f32]) -> Result<Vec<f32>, VectorIndexError> {
        if v.len() != self.dim {
            return Err(VectorIndexError::Dimension {
                expected: self.dim,
                got: v.len(),
            });
        }
        normalised(v).ok_or(VectorIndexError::NotNormalisable)
    }

    /// Adds (or replaces) the vector of `id` in `group`.
    pub fn add(&mut self, id: u64, group: u64, v: &[f32]) -> Result<(), VectorIndexError> {
        let unit = self.check(v)?;
        self.remove(id);
        let g = self.groups.entry(group).or_default();
        g.ids.push(id);
        g.rows.extend_from_slice(&unit);
        self.where_.insert(id, (group, g.ids.len() - 1));
        Ok(())
    }

    /// Removes `id`; whether it was there.
    pub fn remove(&mut self, id: u64) -> bool {
        let Some((group, row)) = self.where_.remove(&id) else {
            return false;
        };
        let Some(g) = self.groups.get_mut(&group) else {
            return true;
        };
        let last = g.ids.len() - 1;
        if row != last {
            let moved = g.ids[last];
            g.ids.swap(row, last);
            let (head, tail) = g.rows.split_at_mut(last * self.dim);
            head[row * self.dim..(row + 1) * self.dim].copy_from_slice(&tail[..self.dim]);
            self.where_.insert(moved, (group, row));
        }
        g.ids.pop();
        g.rows.truncate(last * self.dim);
        if g.ids.is_empty() {
            self.groups.remove(&group);
        }
        true
    }

    /// The most similar vector of `group` whose cosine similarity to `query` is at least
    /// `threshold`: `(id, similarity)`, or None.
    pub fn search(
        &self,
        group: u64,
        query: &[f32],
        threshold: f32,
    ) -> Result<Option<(u64, f32)>, VectorIndexError> {
        let unit = self.check(query)?;
        let Some(g) = self.groups.get(&group) else {
            return Ok(None);
        };
        let mut best: Option<(u64, f32)> = None;
        for (i, row) in g.rows.chunks_exact(self.dim).enumerate() {
            let s = dot(row, &unit);
            if s >= threshold && best.is_none_or(|(_, b)| s > b) {
                best = Some((g.ids[i], s));
            }
        }
        Ok(best)
    }

    pub fn clear(&mut self) {
        self.groups.clear();
        self.where_.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt())
    }

    #[test]
    fn finds_the_nearest_above_the_threshold_in_its_group() {
        let mut index = VectorIndex::new(3);
        index.add(1, 7, &[1.0, 0.0, 0.0]).expect("add");
        index.add(2, 7, &[0.6, 0.8, 0.0]).expect("add");
        index.add(3, 8, &[1.0, 0.0, 0.0]).expect("add");
        let (id, s) = index
            .search(7, &[0.9, 0.1, 0.0], 0.5)
            .expect("search")
            .expect("hit");
        assert_eq!(id, 1);
        assert!(s > 0.99);
        assert_eq!(
            index.search(7, &[0.0, 0.0, 1.0], 0.5).expect("search"),
            None
        );
        assert_eq!(
            index.search(9, &[1.0, 0.0, 0.0], 0.0).expect("search"),
            None
        );
        assert!(index.remove(1));
        assert!(!index.remove(1));
        let (id, _) = index
            .search(7, &[0.9, 0.1, 0.0], 0.5)
            .expect("search")
            .expect("hit");
        assert_eq!(id, 2);
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn refuses_bad_vectors() {
        let mut index = VectorIndex::new(2);
        assert_eq!(
            index.add(1, 0, &[1.0]),
            Err(VectorIndexError::Dimension {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            index.add(1, 0, &[0.0, 0.0]),
            Err(VectorIndexError::NotNormalisable)
        );
        assert_eq!(
            index.search(0, &[f32::NAN, 1.0], 0.0),
            Err(VectorIndexError::NotNormalisable)
        );
        assert!(index.is_empty());
    }

    proptest! {
        /// The index answers what a linear scan with exact cosine answers, through any
        /// sequence of adds and removes.
        #[test]
        fn matches_a_linear_scan(
            ops in prop::collection::vec(
                (0u64..24, 0u64..3, prop::collection::vec(-1.0f32..1.0, 5), any::<bool>()),
                1..80,
            ),
            query in prop::collection::vec(-1.0f32..1.0, 5),
            group in 0u64..3,
            threshold in -1.0f32..1.0,
        ) {
            let mut index = VectorIndex::new(5);
            let mut model: HashMap<u64, (u64, Vec<f32>)> = HashMap::new();
            for (id, g, v, remove) in ops {
                if remove {
                    prop_assert_eq!(index.remove(id), model.remove(&id).is_some());
                } else if index.add(id, g, &v).is_ok() {
                    model.insert(id, (g, v));
                }
            }
            prop_assert_eq!(index.len(), model.len());
            let Ok(found) = index.search(group, &query, threshold) else {
                return Ok(());
            };
            let best = model
                .iter()
                .filter(|(_, (g, _))| *g == group)
                .map(|(id, (_, v))| (*id, cosine(v, &query)))
                .filter(|(_, s)| *s >= threshold - 1e-4)
                .fold(None::<(u64, f32)>, |b, (id, s)| match b {
                    Some((_, bs)) if bs >= s => b,
                    _ => Some((id, s)),
                });
            match (found, best) {
                (None, None) => {}
                (Some((_, s)), Some((_, bs))) => prop_assert!((s - bs).abs() < 1e-4),
                (None, Some((_, bs))) => prop_assert!(bs < threshold + 1e-4),
                (Some((_, s)), None) => prop_assert!(false, "found {s} where none is"),
            }
        }
    }
}
