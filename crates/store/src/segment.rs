//! Immutable sorted fingerprint segments: the on-disk form of `blocked_cis` (design.md §4).
//!
//! A segment file holds strictly increasing 128-bit KI fingerprints as fixed-width 16-byte
//! records between a header and an xxh3-64 checksum of everything before it:
//!
//! ```text
//! "ZNAKSEG1" | count u64 LE | seq u64 LE | id u64 LE | count × u128 LE | xxh3_64 LE
//! ```
//!
//! Files are written to `<name>.tmp`, fsynced, renamed into place and the directory fsynced, so a
//! segment is either whole or absent. Lookups binary-search an in-memory index of every block's
//! first key (1/256 of the data) and read one 4 KiB block with `pread`: no mmap, so the data stays
//! in the page cache and out of the module's RSS.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3;

use crate::disk::FullDiskSwitch;
use crate::error::StoreError;

const MAGIC: &[u8; 8] = b"ZNAKSEG1";
const HEADER: u64 = 32;
const RECORD: u64 = 16;
const TRAILER: u64 = 8;
/// Records per index block (one 4 KiB read).
const BLOCK: usize = 256;
/// Segments up to this many keys are also kept in memory (≤ 64 KiB each): the small, recent
/// segments of incremental pulls are probed on every lookup and should cost no read.
const RESIDENT_MAX: usize = 4096;

/// One open, verified segment.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Unique file id (names the file).
    pub(crate) id: u64,
    /// Visibility sequence: a tombstone of sequence `t` hides the key in segments with `seq <= t`.
    pub(crate) seq: u64,
    pub(crate) len: u64,
    pub(crate) checksum: u64,
    path: PathBuf,
    file: File,
    /// First key of every block of [`BLOCK`] records.
    fences: Vec<u128>,
    /// Every key, for small segments.
    resident: Option<Vec<u128>>,
}

/// Collects keys while there are at most [`RESIDENT_MAX`] of them.
struct Resident(Option<Vec<u128>>);

impl Resident {
    fn new() -> Resident {
        Resident(Some(Vec::new()))
    }

    fn push(&mut self, key: u128) {
        if let Some(keys) = &mut self.0 {
            if keys.len() < RESIDENT_MAX {
                keys.push(key);
            } else {
                self.0 = None;
            }
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The file name of segment `id`.
pub(crate) fn file_name(id: u64) -> String {
    format!("{id:016x}.seg")
}

/// The id of a segment file name, if it is one.
pub(crate) fn id_of(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

impl Segment {
    /// Writes the keys `next` yields (strictly increasing) as segment `id` in `dir`, durably,
    /// and opens it. The count goes into the header after the body is written, so a merge can
    /// stream its output without knowing its length. A failed write leaves no file behind, so a
    /// full disk gets its space back at once.
    pub(crate) fn write(
        dir: &Path,
        id: u64,
        seq: u64,
        next: impl FnMut() -> Result<Option<u128>, StoreError>,
        full_disk: Option<&FullDiskSwitch>,
    ) -> Result<Segment, StoreError> {
        let tmp = dir.join(format!("{}.tmp", file_name(id)));
        let written = Segment::write_tmp(dir, &tmp, id, seq, next, full_disk);
        if written.is_err() {
            // Best effort: an orphan left here is deleted at the next open anyway.
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    fn write_tmp(
        dir: &Path,
        tmp: &Path,
        id: u64,
        seq: u64,
        mut next: impl FnMut() -> Result<Option<u128>, StoreError>,
        full_disk: Option<&FullDiskSwitch>,
    ) -> Result<Segment, StoreError> {
        let path = dir.join(file_name(id));
        let tmp = tmp.to_path_buf();
        let file = File::create(&tmp).map_err(io(&tmp))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&[0u8; HEADER as usize]).map_err(io(&tmp))?;
        let mut body = Xxh3::new();
        let mut fences = Vec::new();
        let mut resident = Resident::new();
        let mut len = 0u64;
        let mut previous: Option<u128> = None;
        while let Some(key) = next()? {
            if previous.is_some_and(|p| p >= key) {
                return Err(StoreError::Io {
                    path: tmp,
                    source: std::io::Error::other("segment keys are not strictly increasing"),
                });
            }
            previous = Some(key);
            if len.is_multiple_of(BLOCK as u64) {
                fences.push(key);
            }
            resident.push(key);
            let bytes = key.to_le_bytes();
            body.update(&bytes);
            out.write_all(&bytes).map_err(io(&tmp))?;
            len += 1;
        }
        let header = header(len, seq, id);
        let checksum = checksum(&header, body.digest());
        out.write_all(&checksum.to_le_bytes()).map_err(io(&tmp))?;
        let file = out.into_inner().map_err(|err| io(&tmp)(err.into_error()))?;
        if let Some(switch) = full_disk {
            switch.check(&tmp).map_err(io(&tmp))?;
        }
        file.write_all_at(&header, 0).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(dir)?;
        let file = File::open(&path).map_err(io(&path))?;
        Ok(Segment {
            id,
            seq,
            len,
            checksum,
            path,
            file,
            fences,
            resident: resident.0,
        })
    }

    /// Opens segment `id` in `dir`, reading it whole to verify size, checksum and order.
    /// `Ok(Err(reason))` means the file is damaged.
    pub(crate) fn open(dir: &Path, id: u64) -> Result<Result<Segment, String>, StoreError> {
        let path = dir.join(file_name(id));
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err(format!("segment {} is missing", path.display())));
            }
            Err(err) => return Err(io(&path)(err)),
        };
        let size = file.metadata().map_err(io(&path))?.len();
        let damaged = |what: &str| Ok(Err(format!("segment {}: {what}", path.display())));
        if size < HEADER + TRAILER || !(size - HEADER - TRAILER).is_multiple_of(RECORD) {
            return damaged("wrong size");
        }
        let mut reader = BufReader::with_capacity(1 << 20, &file);
        let mut header = [0u8; HEADER as usize];
        reader.read_exact(&mut header).map_err(io(&path))?;
        let len = u64::from_le_bytes(header[8..16].try_into().unwrap_or_default());
        let seq = u64::from_le_bytes(header[16..24].try_into().unwrap_or_default());
        let stored_id = u64::from_le_bytes(header[24..32].try_into().unwrap_or_default());
        if &header[..8] != MAGIC || stored_id != id || len != (size - HEADER - TRAILER) / RECORD {
            return damaged("header does not match");
        }
        let mut hasher = Xxh3::new();
        let mut fences = Vec::with_capacity(len as usize / BLOCK + 1);
        let mut resident = Resident::new();
        let mut previous: Option<u128> = None;
        let mut chunk = vec![0u8; BLOCK * RECORD as usize];
        let mut left = len;
        let mut index = 0u64;
        while left > 0 {
            let records = left.min(BLOCK as u64) as usize;
            let bytes = &mut chunk[..records * RECORD as usize];
            reader.read_exact(bytes).map_err(io(&path))?;
            hasher.update(bytes);
            for record in bytes.chunks_exact(RECORD as usize) {
                let key = u128::from_le_bytes(record.try_into().unwrap_or_default());
                if previous.is_some_and(|p| p >= key) {
                    return damaged("keys out of order");
                }
                if index.is_multiple_of(BLOCK as u64) {
                    fences.push(key);
                }
                resident.push(key);
                previous = Some(key);
                index += 1;
            }
            left -= records as u64;
        }
        let mut trailer = [0u8; TRAILER as usize];
        reader.read_exact(&mut trailer).map_err(io(&path))?;
        let checksum = u64::from_le_bytes(trailer);
        if self::checksum(&header, hasher.digest()) != checksum {
            return damaged("checksum mismatch");
        }
        drop(reader);
        Ok(Ok(Segment {
            id,
            seq,
            len,
            checksum,
            path,
            file,
            fences,
            resident: resident.0,
        }))
    }

    /// Whether the segment holds `key`: one in-memory binary search and one block read.
    pub(crate) fn contains(&self, key: u128) -> Result<bool, StoreError> {
        if let Some(keys) = &self.resident {
            return Ok(keys.binary_search(&key).is_ok());
        }
        let block = self.fences.partition_point(|&fence| fence <= key);
        if block == 0 {
            return Ok(false);
        }
        let block = block - 1;
        if self.fences[block] == key {
            return Ok(true);
        }
        let first = (block * BLOCK) as u64;
        let records = (self.len - first).min(BLOCK as u64) as usize;
        let mut buffer = [0u8; BLOCK * RECORD as usize];
        let bytes = &mut buffer[..records * RECORD as usize];
        self.file
            .read_exact_at(bytes, HEADER + first * RECORD)
            .map_err(io(&self.path))?;
        let key_at = |i: usize| {
            let at = i * RECORD as usize;
            u128::from_le_bytes(
                bytes[at..at + RECORD as usize]
                    .try_into()
                    .unwrap_or_default(),
            )
        };
        let (mut low, mut high) = (0, records);
        while low < high {
            let mid = (low + high) / 2;
            match key_at(mid).cmp(&key) {
                std::cmp::Ordering::Equal => return Ok(true),
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
            }
        }
        Ok(false)
    }

    /// A sequential reader of every key, in order (for merges and snapshots).
    pub(crate) fn keys(&self) -> Result<SegmentKeys, StoreError> {
        let file = File::open(&self.path).map_err(io(&self.path))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut header = [0u8; HEADER as usize];
        reader.read_exact(&mut header).map_err(io(&self.path))?;
        Ok(SegmentKeys {
            reader,
            left: self.len,
            path: self.path.clone(),
        })
    }

    /// Deletes the file (after the manifest stopped naming it). Open readers keep their handle.
    pub(crate) fn remove_file(&self) {
        if let Err(err) = std::fs::remove_file(&self.path) {
            // A leftover is deleted as an orphan at the next open.
            let _ = err;
        }
    }
}

/// Keys of a segment read sequentially.
pub(crate) struct SegmentKeys {
    reader: BufReader<File>,
    left: u64,
    path: PathBuf,
}

impl SegmentKeys {
    /// The next key, or `None` at the end.
    pub(crate) fn next_key(&mut self) -> Result<Option<u128>, StoreError> {
        if self.left == 0 {
            return Ok(None);
        }
        let mut record = [0u8; RECORD as usize];
        self.reader
            .read_exact(&mut record)
            .map_err(io(&self.path))?;
        self.left -= 1;
        Ok(Some(u128::from_le_bytes(record)))
    }
}

fn header(len: u64, seq: u64, id: u64) -> [u8; HEADER as usize] {
    let mut header = [0u8; HEADER as usize];
    header[..8].copy_from_slice(MAGIC);
    header[8..16].copy_from_slice(&len.to_le_bytes());
    header[16..24].copy_from_slice(&seq.to_le_bytes());
    header[24..32].copy_from_slice(&id.to_le_bytes());
    header
}

/// The trailer: xxh3-64 over the header and the body's own xxh3-64.
fn checksum(header: &[u8; HEADER as usize], body: u64) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(header);
    hasher.update(&body.to_le_bytes());
    hasher.digest()
}

/// Feeds a segment writer from a slice of sorted keys.
pub(crate) fn from_slice(keys: &[u128]) -> impl FnMut() -> Result<Option<u128>, StoreError> + '_ {
    let mut keys = keys.iter();
    move || Ok(keys.next().copied())
}

/// Makes a rename or unlink in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_segment_finds_every_key_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<u128> = (0..1000u128).map(|k| k * 7 + 3).collect();
        let segment = Segment::write(dir.path(), 5, 4, from_slice(&keys), None).unwrap();
        for k in 0..7100u128 {
            assert_eq!(segment.contains(k).unwrap(), k % 7 == 3 && k < 7000, "{k}");
        }
        let reopened = Segment::open(dir.path(), 5).unwrap().unwrap();
        assert_eq!(reopened.checksum, segment.checksum);
        assert_eq!((reopened.seq, reopened.len), (4, 1000));
        let mut reader = reopened.keys().unwrap();
        let mut read = Vec::new();
        while let Some(k) = reader.next_key().unwrap() {
            read.push(k);
        }
        assert_eq!(read, keys);
    }

    #[test]
    fn a_large_segment_is_read_from_the_file_and_agrees_with_a_small_one() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<u128> = (0..(RESIDENT_MAX as u128 * 3)).map(|k| k * 5 + 1).collect();
        let large = Segment::write(dir.path(), 1, 1, from_slice(&keys), None).unwrap();
        assert!(large.resident.is_none());
        let small = Segment::write(dir.path(), 2, 2, from_slice(&keys[..100]), None).unwrap();
        assert!(small.resident.is_some());
        for k in 0..600u128 {
            assert_eq!(large.contains(k).unwrap(), k % 5 == 1, "{k}");
            assert_eq!(small.contains(k).unwrap(), k % 5 == 1 && k < 500, "{k}");
        }
        let last = *keys.last().unwrap();
        assert!(large.contains(last).unwrap());
        assert!(!large.contains(last + 1).unwrap());
        let reopened = Segment::open(dir.path(), 1).unwrap().unwrap();
        assert!(reopened.resident.is_none() && reopened.contains(last).unwrap());
    }

    #[test]
    fn every_single_bit_flip_is_detected_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<u128> = (0..8u128).map(|k| k << 64 | k).collect();
        Segment::write(dir.path(), 1, 1, from_slice(&keys), None).unwrap();
        let path = dir.path().join(file_name(1));
        let original = std::fs::read(&path).unwrap();
        for byte in 0..original.len() {
            for bit in 0..8 {
                let mut flipped = original.clone();
                flipped[byte] ^= 1 << bit;
                std::fs::write(&path, &flipped).unwrap();
                let opened = Segment::open(dir.path(), 1).unwrap();
                assert!(
                    opened.is_err(),
                    "flip of bit {bit} in byte {byte} went unnoticed"
                );
            }
        }
        std::fs::write(&path, &original[..original.len() - 1]).unwrap();
        assert!(Segment::open(dir.path(), 1).unwrap().is_err());
    }

    #[test]
    fn unordered_keys_are_refused_at_write() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Segment::write(dir.path(), 1, 1, from_slice(&[3, 2]), None).is_err());
        assert!(Segment::write(dir.path(), 2, 2, from_slice(&[3, 3]), None).is_err());
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(id_of(&file_name(0xabc)), Some(0xabc));
        assert_eq!(id_of("0000000000000abc.seg.tmp"), None);
        assert_eq!(id_of("lists.redb"), None);
    }
}
