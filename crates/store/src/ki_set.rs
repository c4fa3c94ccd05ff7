//! `blocked_cis` as immutable sorted fingerprint segments plus tombstones (design.md §4): a
//! plain B-tree of 10^8 random 16-byte keys costs ~70 B per key and rewrites most of its leaves
//! on every large transaction; sorted segments cost 16 B per key and are written once.
//!
//! * Segment files live in `blocked_cis.segments/`; the manifest (which files make up the list)
//!   and the tombstones live in `lists.redb` and change in the same transaction as the batch's
//!   checkpoint. A file is written and fsynced before the transaction that names it commits, so
//!   a crash leaves at most an orphan file, deleted at the next open.
//! * Each batch gets a sequence number `s`; its additions become a new segment of sequence `s`,
//!   its removals tombstones of sequence `s`. A key is present when a segment newer than its
//!   tombstone holds it.
//! * During the first pull additions are written blind (no lookup per key) and the doc count is
//!   provisional (a re-sent document counts twice); the batch that completes the pull merges
//!   everything into one segment and sets the exact count. Afterwards every change is looked up
//!   first and the count is exact at every commit.
//! * Segments of similar size are merged (the newest two when the older is at most twice the
//!   newer), so there are O(log n) of them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use crate::disk::FullDiskSwitch;
use crate::error::{InFile, StoreError};
use crate::handle::Handle;
use crate::lists::{FILE, META};
use crate::meta;
use crate::segment::{self, Segment, SegmentKeys};

/// Segment id → (sequence, key count, checksum).
pub(crate) const KI_SEGMENTS: TableDefinition<u64, (u64, u64, u64)> =
    TableDefinition::new("blocked_cis_segments");
/// Fingerprint → sequence of its removal.
pub(crate) const KI_TOMBSTONES: TableDefinition<u128, u64> =
    TableDefinition::new("blocked_cis_tombstones");
/// The last sequence number / segment id handed out.
const COUNTER: &str = "blocked_cis/counter";
/// The segment directory, next to `lists.redb`.
pub(crate) const DIR: &str = "blocked_cis.segments";
/// More segments than this are merged into one.
const MAX_SEGMENTS: usize = 24;

/// The open segments of the list.
#[derive(Debug)]
pub(crate) struct KiSet {
    dir: PathBuf,
    /// Every segment a committed (or committing) manifest may name, by id.
    open: Mutex<BTreeMap<u64, Arc<Segment>>>,
    /// Test double of a full disk, if one is installed.
    full_disk: Option<FullDiskSwitch>,
}

/// Files a transaction created and dropped; settled after it commits or fails.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    added: Vec<u64>,
    removed: Vec<u64>,
}

/// What a batch did to `blocked_cis`.
#[derive(Debug, Default)]
pub(crate) struct KiChanged {
    pub(crate) content: bool,
    pub(crate) count_delta: i64,
    /// The exact count, when a full merge established it.
    pub(crate) exact_count: Option<u64>,
}

impl KiSet {
    /// Opens the segments the manifest names, verifying each file whole, and deletes orphans.
    /// `Ok(Err(reason))` means the list is damaged (a file missing, altered or not matching).
    pub(crate) fn open(
        dir: &Path,
        handle: &Handle,
        full_disk: Option<FullDiskSwitch>,
    ) -> Result<Result<KiSet, String>, StoreError> {
        let dir = dir.join(DIR);
        std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
            path: dir.clone(),
            source,
        })?;
        let manifest = {
            let txn = handle.read()?;
            let table = txn.open_table(KI_SEGMENTS).in_file(FILE)?;
            let mut manifest = Vec::new();
            for entry in table.iter().in_file(FILE)? {
                let (id, value) = entry.in_file(FILE)?;
                manifest.push((id.value(), value.value()));
            }
            manifest
        };
        let mut open = BTreeMap::new();
        for (id, (seq, len, checksum)) in manifest {
            let segment = match Segment::open(&dir, id)? {
                Ok(segment) => segment,
                Err(reason) => return Ok(Err(reason)),
            };
            if (segment.seq, segment.len, segment.checksum) != (seq, len, checksum) {
                return Ok(Err(format!(
                    "segment {id:016x} does not match the manifest"
                )));
            }
            open.insert(id, Arc::new(segment));
        }
        remove_orphans(&dir, &open)?;
        Ok(Ok(KiSet {
            dir,
            open: Mutex::new(open),
            full_disk,
        }))
    }

    fn open_segments(&self) -> MutexGuard<'_, BTreeMap<u64, Arc<Segment>>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The segments `ids` names, newest sequence first; `None` if one was dropped meanwhile.
    fn segments(&self, ids: &[u64]) -> Option<Vec<Arc<Segment>>> {
        let open = self.open_segments();
        let mut segments = ids
            .iter()
            .map(|id| open.get(id).cloned())
            .collect::<Option<Vec<_>>>()?;
        segments.sort_by_key(|segment| Reverse(segment.seq));
        Some(segments)
    }

    /// Whether `key` is in the list, as of one committed transaction.
    pub(crate) fn contains(&self, handle: &Handle, key: u128) -> Result<bool, StoreError> {
        // A merge may drop a segment between reading the manifest and taking the file: rare,
        // and the next committed manifest no longer names it.
        for _ in 0..64 {
            let txn = handle.read()?;
            let ids = manifest_ids(&txn.open_table(KI_SEGMENTS).in_file(FILE)?)?;
            let Some(segments) = self.segments(&ids) else {
                continue;
            };
            let tombstone = txn
                .open_table(KI_TOMBSTONES)
                .in_file(FILE)?
                .get(key)
                .in_file(FILE)?
                .map_or(0, |guard| guard.value());
            return visible(&segments, tombstone, key);
        }
        Err(StoreError::Io {
            path: self.dir.clone(),
            source: std::io::Error::other("segments keep changing under a lookup"),
        })
    }

    /// Every key in the list (tests and tools).
    pub(crate) fn keys(&self, handle: &Handle) -> Result<Vec<u128>, StoreError> {
        for _ in 0..64 {
            let txn = handle.read()?;
            let ids = manifest_ids(&txn.open_table(KI_SEGMENTS).in_file(FILE)?)?;
            let Some(segments) = self.segments(&ids) else {
                continue;
            };
            let tombstones = txn.open_table(KI_TOMBSTONES).in_file(FILE)?;
            let mut newest: BTreeMap<u128, u64> = BTreeMap::new();
            for segment in &segments {
                let mut keys = segment.keys()?;
                while let Some(key) = keys.next_key()? {
                    let seq = newest.entry(key).or_default();
                    *seq = (*seq).max(segment.seq);
                }
            }
            let mut keys = Vec::new();
            for (key, seq) in newest {
                let tombstone = tombstones
                    .get(key)
                    .in_file(FILE)?
                    .map_or(0, |guard| guard.value());
                if seq > tombstone {
                    keys.push(key);
                }
            }
            return Ok(keys);
        }
        Err(StoreError::Io {
            path: self.dir.clone(),
            source: std::io::Error::other("segments keep changing under a scan"),
        })
    }

    /// Applies net changes (`key → added?`, sorted by key, one per key) inside `txn`.
    /// `first_pull`: the list has not completed its first pull (blind additions);
    /// `completes_pull`: this batch completes it (merge everything, exact count).
    pub(crate) fn apply(
        &self,
        txn: &WriteTransaction,
        net: &[(u128, bool)],
        first_pull: bool,
        completes_pull: bool,
        pending: &mut Pending,
    ) -> Result<KiChanged, StoreError> {
        let mut changed = KiChanged::default();
        let mut current = self.current(txn)?;
        let seq = next_counter(txn)?;
        let mut run = Vec::new();
        {
            let mut tombstones = txn.open_table(KI_TOMBSTONES).in_file(FILE)?;
            for &(key, add) in net {
                let tombstone = tombstones
                    .get(key)
                    .in_file(FILE)?
                    .map_or(0, |guard| guard.value());
                let was = if add && first_pull {
                    false
                } else {
                    visible(&current, tombstone, key)?
                };
                if add && !was {
                    run.push(key);
                    changed.count_delta += 1;
                } else if !add && was {
                    tombstones.insert(key, seq).in_file(FILE)?;
                    changed.count_delta -= 1;
                }
                changed.content |= add != was;
            }
        }
        if !run.is_empty() {
            let segment = self.write(txn, seq, seq, segment::from_slice(&run), pending)?;
            current.insert(0, segment);
        }
        if completes_pull {
            changed.exact_count = Some(self.merge(txn, current, true, pending)?);
            return Ok(changed);
        }
        loop {
            current.sort_by_key(|segment| segment.seq);
            let n = current.len();
            if n > MAX_SEGMENTS {
                changed.exact_count = Some(self.merge(txn, current, true, pending)?);
                break;
            }
            if n < 2 || current[n - 2].len > 2 * current[n - 1].len {
                break;
            }
            let newest = current.split_off(n - 2);
            self.merge(txn, newest, false, pending)?;
            current = self.current(txn)?;
        }
        Ok(changed)
    }

    /// Empties the list inside `txn`. Returns whether it held segments.
    pub(crate) fn clear(
        &self,
        txn: &WriteTransaction,
        pending: &mut Pending,
    ) -> Result<bool, StoreError> {
        let ids = manifest_ids(&txn.open_table(KI_SEGMENTS).in_file(FILE)?)?;
        txn.delete_table(KI_SEGMENTS).in_file(FILE)?;
        txn.delete_table(KI_TOMBSTONES).in_file(FILE)?;
        txn.open_table(KI_SEGMENTS).in_file(FILE)?;
        txn.open_table(KI_TOMBSTONES).in_file(FILE)?;
        pending.removed.extend(&ids);
        Ok(!ids.is_empty())
    }

    /// After the transaction: forget and delete dropped files (committed) or the new ones
    /// (failed).
    pub(crate) fn settle(&self, pending: Pending, committed: bool) {
        let gone = if committed {
            pending.removed
        } else {
            pending.added
        };
        let mut open = self.open_segments();
        for id in gone {
            if let Some(segment) = open.remove(&id) {
                segment.remove_file();
            }
        }
    }

    /// The segments the transaction's manifest names, newest first.
    fn current(&self, txn: &WriteTransaction) -> Result<Vec<Arc<Segment>>, StoreError> {
        let ids = manifest_ids(&txn.open_table(KI_SEGMENTS).in_file(FILE)?)?;
        self.segments(&ids).ok_or_else(|| StoreError::Io {
            path: self.dir.clone(),
            source: std::io::Error::other("the manifest names a segment that is not open"),
        })
    }

    /// Writes a segment, opens it for readers and names it in the manifest.
    fn write(
        &self,
        txn: &WriteTransaction,
        id: u64,
        seq: u64,
        next: impl FnMut() -> Result<Option<u128>, StoreError>,
        pending: &mut Pending,
    ) -> Result<Arc<Segment>, StoreError> {
        let segment = Arc::new(Segment::write(
            &self.dir,
            id,
            seq,
            next,
            self.full_disk.as_ref(),
        )?);
        pending.added.push(id);
        self.open_segments().insert(id, segment.clone());
        txn.open_table(KI_SEGMENTS)
            .in_file(FILE)?
            .insert(id, (seq, segment.len, segment.checksum))
            .in_file(FILE)?;
        Ok(segment)
    }

    /// Merges `inputs` into one segment. A full merge (every segment) also drops the
    /// tombstones. Returns the merged segment's length.
    fn merge(
        &self,
        txn: &WriteTransaction,
        inputs: Vec<Arc<Segment>>,
        full: bool,
        pending: &mut Pending,
    ) -> Result<u64, StoreError> {
        let seq = inputs.iter().map(|segment| segment.seq).max().unwrap_or(0);
        let len = if inputs.is_empty() {
            0
        } else {
            let id = next_counter(txn)?;
            let merged = {
                let tombstones = txn.open_table(KI_TOMBSTONES).in_file(FILE)?;
                let mut stream = Merge::new(&inputs, &tombstones)?;
                self.write(txn, id, seq, || stream.next_key(), pending)?
            };
            merged.len
        };
        {
            let mut manifest = txn.open_table(KI_SEGMENTS).in_file(FILE)?;
            for segment in &inputs {
                manifest.remove(segment.id).in_file(FILE)?;
                pending.removed.push(segment.id);
            }
        }
        if full {
            txn.delete_table(KI_TOMBSTONES).in_file(FILE)?;
            txn.open_table(KI_TOMBSTONES).in_file(FILE)?;
        }
        Ok(len)
    }
}

/// Whether `key` is present given the segments (newest first) and its tombstone's sequence.
fn visible(segments: &[Arc<Segment>], tombstone: u64, key: u128) -> Result<bool, StoreError> {
    for segment in segments {
        if segment.seq <= tombstone {
            break;
        }
        if segment.contains(key)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn manifest_ids(table: &impl ReadableTable<u64, (u64, u64, u64)>) -> Result<Vec<u64>, StoreError> {
    let mut ids = Vec::new();
    for entry in table.iter().in_file(FILE)? {
        ids.push(entry.in_file(FILE)?.0.value());
    }
    Ok(ids)
}

fn next_counter(txn: &WriteTransaction) -> Result<u64, StoreError> {
    let mut table = txn.open_table(META).in_file(FILE)?;
    let next = meta::get_u64(&table, FILE, COUNTER)?.unwrap_or(0) + 1;
    meta::put_u64(&mut table, FILE, COUNTER, next)?;
    Ok(next)
}

/// Deletes files in the segment directory that the manifest does not name: segments of a
/// transaction that never committed, inputs of a merge that did, half-written `.tmp` files.
fn remove_orphans(dir: &Path, open: &BTreeMap<u64, Arc<Segment>>) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let named = name
            .to_str()
            .and_then(segment::id_of)
            .is_some_and(|id| open.contains_key(&id));
        if !named && entry.file_type().map_err(io)?.is_file() {
            std::fs::remove_file(entry.path()).map_err(io)?;
        }
    }
    Ok(())
}

/// A k-way merge of segments: each key once, dropped when its newest copy is not newer than
/// its tombstone.
struct Merge<'t> {
    readers: Vec<(SegmentKeys, u64)>,
    heap: BinaryHeap<Reverse<(u128, usize)>>,
    tombstones: std::iter::Peekable<redb::Range<'t, u128, u64>>,
}

impl<'t> Merge<'t> {
    fn new(
        inputs: &[Arc<Segment>],
        table: &'t impl ReadableTable<u128, u64>,
    ) -> Result<Self, StoreError> {
        let mut readers = Vec::with_capacity(inputs.len());
        let mut heap = BinaryHeap::with_capacity(inputs.len());
        for (index, segment) in inputs.iter().enumerate() {
            let mut keys = segment.keys()?;
            if let Some(key) = keys.next_key()? {
                heap.push(Reverse((key, index)));
            }
            readers.push((keys, segment.seq));
        }
        Ok(Merge {
            readers,
            heap,
            tombstones: table.range::<u128>(..).in_file(FILE)?.peekable(),
        })
    }

    fn next_key(&mut self) -> Result<Option<u128>, StoreError> {
        while let Some(Reverse((key, index))) = self.heap.pop() {
            let mut newest = self.advance(index)?;
            while let Some(&Reverse((same, other))) = self.heap.peek() {
                if same != key {
                    break;
                }
                self.heap.pop();
                newest = newest.max(self.advance(other)?);
            }
            if newest > self.tombstone(key)? {
                return Ok(Some(key));
            }
        }
        Ok(None)
    }

    /// Moves reader `index` on; returns its sequence.
    fn advance(&mut self, index: usize) -> Result<u64, StoreError> {
        let (keys, seq) = &mut self.readers[index];
        if let Some(next) = keys.next_key()? {
            self.heap.push(Reverse((next, index)));
        }
        Ok(*seq)
    }

    fn tombstone(&mut self, key: u128) -> Result<u64, StoreError> {
        loop {
            let Some(entry) = self.tombstones.peek() else {
                return Ok(0);
            };
            let (at, seq) = match entry {
                Ok((at, seq)) => (at.value(), seq.value()),
                Err(_) => {
                    let Some(Err(err)) = self.tombstones.next() else {
                        return Ok(0);
                    };
                    return Err(err).in_file(FILE);
                }
            };
            if at > key {
                return Ok(0);
            }
            self.tombstones.next();
            if at == key {
                return Ok(seq);
            }
        }
    }
}
