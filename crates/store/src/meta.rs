//! Small typed values in a `&str → &[u8]` meta table (numbers little-endian, text UTF-8).

use redb::{ReadableTable, Table, TableDefinition};

use crate::error::{InFile, StoreError};

pub(crate) type MetaTable = TableDefinition<'static, &'static str, &'static [u8]>;

pub(crate) fn get_bytes(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    file: &'static str,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(table
        .get(key)
        .in_file(file)?
        .map(|value| value.value().to_vec()))
}

pub(crate) fn get_u64(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    file: &'static str,
    key: &str,
) -> Result<Option<u64>, StoreError> {
    match get_bytes(table, file, key)? {
        None => Ok(None),
        Some(bytes) => match <[u8; 8]>::try_from(bytes.as_slice()) {
            Ok(array) => Ok(Some(u64::from_le_bytes(array))),
            Err(_) => Err(malformed(file, key)),
        },
    }
}

pub(crate) fn get_text(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    file: &'static str,
    key: &str,
) -> Result<Option<String>, StoreError> {
    match get_bytes(table, file, key)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| malformed(file, key)),
    }
}

pub(crate) fn put_u64(
    table: &mut Table<&'static str, &'static [u8]>,
    file: &'static str,
    key: &str,
    value: u64,
) -> Result<(), StoreError> {
    table
        .insert(key, value.to_le_bytes().as_slice())
        .in_file(file)?;
    Ok(())
}

pub(crate) fn put_text(
    table: &mut Table<&'static str, &'static [u8]>,
    file: &'static str,
    key: &str,
    value: &str,
) -> Result<(), StoreError> {
    table.insert(key, value.as_bytes()).in_file(file)?;
    Ok(())
}

pub(crate) fn remove(
    table: &mut Table<&'static str, &'static [u8]>,
    file: &'static str,
    key: &str,
) -> Result<(), StoreError> {
    table.remove(key).in_file(file)?;
    Ok(())
}

fn malformed(file: &'static str, key: &str) -> StoreError {
    StoreError::Malformed {
        file,
        key: key.to_owned(),
    }
}
