//! One set-associative cache of line addresses with true LRU replacement.
//!
//! A set is a small vector ordered most recently used first; a lookup scans
//! it (8 or 16 ways) and moves the hit to the front. Lines are addresses
//! divided by the line size; the set is the line's low bits.

use core::fmt;

/// Size, associativity and line size of a cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Capacity in bytes.
    pub size: u64,
    /// Ways per set.
    pub ways: u32,
    /// Line size in bytes.
    pub line: u64,
}

/// Why a geometry cannot be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeometryError(pub String);

impl fmt::Display for GeometryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GeometryError {}

impl Geometry {
    /// Parses `SIZE:WAYS` (SIZE in bytes or with a `K`/`M` suffix) for
    /// lines of `line` bytes, and checks it ([`Geometry::sets`]).
    ///
    /// # Errors
    /// A message naming the malformed part.
    pub fn parse(value: &str, line: u64) -> Result<Self, GeometryError> {
        let (size, ways) = value
            .split_once(':')
            .ok_or_else(|| GeometryError(format!("`{value}`: expected SIZE:WAYS, e.g. 32K:8")))?;
        let (digits, mult) = match size.as_bytes().last() {
            Some(b'K' | b'k') => (&size[..size.len() - 1], 1u64 << 10),
            Some(b'M' | b'm') => (&size[..size.len() - 1], 1 << 20),
            _ => (size, 1),
        };
        let size: u64 = digits
            .parse()
            .map_err(|_| GeometryError(format!("size `{size}` is not a number")))?;
        let ways: u32 = ways
            .parse()
            .map_err(|_| GeometryError(format!("ways `{ways}` is not a number")))?;
        let g = Self {
            size: size.saturating_mul(mult),
            ways,
            line,
        };
        g.sets()?;
        Ok(g)
    }

    /// The number of sets, after checking that size, ways and line size are
    /// powers of two that divide evenly.
    ///
    /// # Errors
    /// A message naming the bad parameter.
    pub fn sets(&self) -> Result<u64, GeometryError> {
        if !self.line.is_power_of_two() || self.line < 8 {
            return Err(GeometryError(format!(
                "line size {} is not a power of two >= 8",
                self.line
            )));
        }
        if self.ways == 0 || self.ways > 64 {
            return Err(GeometryError(format!("{} ways: need 1..=64", self.ways)));
        }
        let per_set = self.line * u64::from(self.ways);
        if self.size == 0
            || !self.size.is_multiple_of(per_set)
            || !(self.size / per_set).is_power_of_two()
        {
            return Err(GeometryError(format!(
                "size {} is not a power-of-two number of {}-way sets of {}-byte lines",
                self.size, self.ways, self.line
            )));
        }
        Ok(self.size / per_set)
    }
}

/// A set-associative cache holding line numbers.
#[derive(Clone, Debug)]
pub struct Cache {
    ways: usize,
    set_mask: u64,
    /// `sets * ways` slots; set `s` is `slots[s*ways .. s*ways + len[s]]`,
    /// most recently used first.
    slots: Vec<u64>,
    len: Vec<u8>,
}

impl Cache {
    /// An empty cache.
    ///
    /// # Errors
    /// When the geometry is not buildable ([`Geometry::sets`]).
    pub fn new(g: Geometry) -> Result<Self, GeometryError> {
        let sets = g.sets()?;
        let ways = g.ways as usize;
        Ok(Self {
            ways,
            set_mask: sets - 1,
            slots: vec![0; sets as usize * ways],
            len: vec![0; sets as usize],
        })
    }

    fn set_of(&self, line: u64) -> usize {
        (line & self.set_mask) as usize
    }

    /// Whether `line` is present; a hit becomes the set's most recent line.
    pub fn touch(&mut self, line: u64) -> bool {
        let s = self.set_of(line);
        let base = s * self.ways;
        let n = usize::from(self.len[s]);
        let set = &mut self.slots[base..base + n];
        match set.iter().position(|&l| l == line) {
            Some(i) => {
                set[..=i].rotate_right(1);
                true
            }
            None => false,
        }
    }

    /// Whether `line` is present, without changing the order.
    #[must_use]
    pub fn contains(&self, line: u64) -> bool {
        let s = self.set_of(line);
        let base = s * self.ways;
        self.slots[base..base + usize::from(self.len[s])].contains(&line)
    }

    /// Inserts `line` (not present) as the set's most recent; returns the
    /// least recently used line it evicted from a full set.
    pub fn insert(&mut self, line: u64) -> Option<u64> {
        debug_assert!(!self.contains(line), "inserting a present line");
        let s = self.set_of(line);
        let base = s * self.ways;
        let n = usize::from(self.len[s]);
        if n < self.ways {
            let set = &mut self.slots[base..=base + n];
            set[n] = line;
            set.rotate_right(1);
            self.len[s] += 1;
            None
        } else {
            let set = &mut self.slots[base..base + n];
            let victim = set[n - 1];
            set[n - 1] = line;
            set.rotate_right(1);
            Some(victim)
        }
    }

    /// Removes `line` if present; returns whether it was.
    pub fn remove(&mut self, line: u64) -> bool {
        let s = self.set_of(line);
        let base = s * self.ways;
        let n = usize::from(self.len[s]);
        let set = &mut self.slots[base..base + n];
        match set.iter().position(|&l| l == line) {
            Some(i) => {
                set[i..].rotate_left(1);
                self.len[s] -= 1;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Cache {
        // 2 sets of 2 ways of 64-byte lines.
        Cache::new(Geometry {
            size: 256,
            ways: 2,
            line: 64,
        })
        .unwrap()
    }

    #[test]
    fn bad_geometries_are_refused_with_a_reason() {
        for g in [
            Geometry {
                size: 256,
                ways: 2,
                line: 48,
            },
            Geometry {
                size: 256,
                ways: 0,
                line: 64,
            },
            Geometry {
                size: 300,
                ways: 2,
                line: 64,
            },
            Geometry {
                size: 384,
                ways: 2,
                line: 64,
            },
            Geometry {
                size: 0,
                ways: 2,
                line: 64,
            },
        ] {
            assert!(Cache::new(g).is_err(), "{g:?}");
        }
    }

    #[test]
    fn geometries_parse_with_suffixes_and_are_checked() {
        let g = Geometry::parse("32K:8", 64).unwrap();
        assert_eq!((g.size, g.ways, g.line), (32 << 10, 8, 64));
        assert_eq!(Geometry::parse("8M:16", 64).unwrap().size, 8 << 20);
        assert_eq!(Geometry::parse("4096:4", 64).unwrap().size, 4096);
        for bad in ["32K", "xK:8", "32K:x", "33K:8", "32K:0"] {
            assert!(Geometry::parse(bad, 64).is_err(), "{bad}");
        }
    }

    #[test]
    fn lru_evicts_the_least_recently_used_line_of_the_set() {
        let mut c = tiny();
        // Lines 0, 2, 4 map to set 0.
        assert_eq!(c.insert(0), None);
        assert_eq!(c.insert(2), None);
        assert!(c.touch(0)); // 0 is now most recent
        assert_eq!(c.insert(4), Some(2));
        assert!(c.contains(0) && c.contains(4) && !c.contains(2));
        // Set 1 is untouched by set 0's traffic.
        assert_eq!(c.insert(1), None);
        assert!(c.contains(1));
    }

    #[test]
    fn removal_frees_a_way() {
        let mut c = tiny();
        c.insert(0);
        c.insert(2);
        assert!(c.remove(0));
        assert!(!c.remove(0));
        assert_eq!(c.insert(4), None);
        assert!(c.contains(2) && c.contains(4));
    }
}
