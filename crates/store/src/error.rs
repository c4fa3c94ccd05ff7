//! The store's errors. One umbrella enum: callers (the sync engine, the API) mostly need to know
//! whether the store is still usable, which [`StoreError::is_fatal`] answers.

use std::path::PathBuf;

use crate::disk::is_out_of_space;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The embedded database reported an error.
    #[error("{file}: {source}")]
    Database {
        /// Which store file (`lists.redb` or `local.redb`).
        file: &'static str,
        #[source]
        source: redb::Error,
    },
    /// A file-system operation around the database failed (creating the directory, quarantine).
    #[error("{path}: {source}")]
    Io {
        /// The path the operation was about.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An earlier write failed with an I/O error; the handle refuses further writes rather than
    /// writing half. Restart the module to recover.
    #[error("{0}: an earlier write failed; the store refuses further writes until restarted")]
    Poisoned(&'static str),
    /// The file is being reopened after a full disk and cannot be used just now; retried.
    #[error("{0}: reopening after a full disk; try again")]
    Unavailable(&'static str),
    /// The local file (sold DB and module identity) is damaged. It is never dropped silently:
    /// the operator must restore it from a backup or move it aside by hand.
    #[error(
        "{path}: the sold database is damaged ({reason}); restore it from a backup or move it aside to start with an empty one"
    )]
    LocalDamaged {
        /// The damaged file.
        path: PathBuf,
        /// What the integrity check said.
        reason: String,
    },
    /// Another process holds the store open.
    #[error("{0}: the store is already open in another process")]
    AlreadyOpen(PathBuf),
    /// A stored value does not decode; the file was written by something else.
    #[error("{file}: stored value for {key} is malformed")]
    Malformed {
        /// Which store file.
        file: &'static str,
        /// The meta key whose value does not decode.
        key: String,
    },
    /// A change does not fit the list it was applied to (a caller bug, reported, never applied).
    #[error("a {key} key cannot be stored in {db}")]
    KeyMismatch {
        /// The list.
        db: &'static str,
        /// The kind of key given.
        key: &'static str,
    },
}

impl StoreError {
    /// True when the store cannot be used any more by this process (the module reports `failure`).
    /// A full disk is not: nothing of the failed write was kept, and it is retried.
    pub fn is_fatal(&self) -> bool {
        if self.is_out_of_space() {
            return false;
        }
        matches!(
            self,
            StoreError::Poisoned(_) | StoreError::LocalDamaged { .. } | StoreError::Io { .. }
        ) || matches!(self, StoreError::Database { source, .. } if is_io(source))
    }
}

impl StoreError {
    /// True when a write failed for lack of disk space (ENOSPC, EDQUOT, EFBIG) or the file is
    /// being reopened after that: transient, the write may be retried when space returns.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Io { source, .. } => is_out_of_space(source),
            StoreError::Database {
                source: redb::Error::Io(source),
                ..
            } => is_out_of_space(source),
            _ => false,
        }
    }
}

/// Whether a redb error means the file (or the device under it) failed.
pub(crate) fn is_io(err: &redb::Error) -> bool {
    matches!(
        err,
        redb::Error::Io(_) | redb::Error::PreviousIo | redb::Error::Corrupted(_)
    )
}

pub(crate) trait InFile<T> {
    /// Attach the file name to a redb error.
    fn in_file(self, file: &'static str) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> InFile<T> for Result<T, E> {
    fn in_file(self, file: &'static str) -> Result<T, StoreError> {
        self.map_err(|err| StoreError::Database {
            file,
            source: err.into(),
        })
    }
}
