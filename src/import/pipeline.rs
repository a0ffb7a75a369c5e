//! Reads and checks an import file chunk by chunk on blocking threads, one
//! chunk ahead of the caller, so that checking (phone numbers are the slow
//! part) overlaps with the database work. Each chunk is checked in parallel.

use super::ImportError;
use super::rows::{Checked, RowError, Rules};
use super::source::{Columns, Fields, Record, Source};
use tokio::task::JoinHandle;

/// A row validator.
pub type Check<T> = fn(&Fields<'_>, &Rules) -> Checked<T>;

/// A checked record: its line, the hash of its key (for the uniqueness
/// check, computed here on the checking threads) and the row or its problems.
pub struct CheckedRecord<T> {
    pub line: u64,
    pub key_hash: Option<u128>,
    pub checked: Checked<T>,
}

type Chunk<T> = (Source, Vec<CheckedRecord<T>>);

/// Checked chunks of a file, in file order.
pub struct Chunks<T> {
    pending: Option<JoinHandle<Result<Chunk<T>, ImportError>>>,
    check: Check<T>,
    rules: Rules,
    size: usize,
}

impl<T: Send + 'static> Chunks<T> {
    /// Starts reading and checking the first chunk.
    pub fn start(source: Source, check: Check<T>, rules: Rules, size: usize) -> Self {
        let mut chunks = Self {
            pending: None,
            check,
            rules,
            size: size.max(1),
        };
        chunks.spawn(source);
        chunks
    }

    fn spawn(&mut self, mut source: Source) {
        let (check, rules, size) = (self.check, self.rules, self.size);
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let records = source.read_chunk(size)?;
            let checked = check_all(&records, &source.columns, check, &rules);
            Ok((source, checked))
        }));
    }

    /// The next checked chunk, `None` at the end of the file.
    pub async fn next(&mut self) -> Result<Option<Vec<CheckedRecord<T>>>, ImportError> {
        let Some(handle) = self.pending.take() else {
            return Ok(None);
        };
        let (source, checked) = match handle.await {
            Ok(result) => result?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => {
                return Err(ImportError::Read {
                    path: String::new(),
                    source: std::io::Error::other(format!("reading was cancelled: {e}")),
                });
            }
        };
        if checked.is_empty() {
            return Ok(None);
        }
        self.spawn(source);
        Ok(Some(checked))
    }
}

/// Checks records on every core, keeping their order.
fn check_all<T: Send>(
    records: &[Record],
    columns: &Columns,
    check: Check<T>,
    rules: &Rules,
) -> Vec<CheckedRecord<T>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 || records.len() < 256 {
        return check_part(records, columns, check, rules);
    }
    let per_thread = records.len().div_ceil(threads);
    let mut parts = records.chunks(per_thread);
    let first = parts.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let others: Vec<_> = parts
            .map(|part| scope.spawn(move || check_part(part, columns, check, rules)))
            .collect();
        let mut all = check_part(first, columns, check, rules);
        for handle in others {
            match handle.join() {
                Ok(part) => all.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    })
}

fn check_part<T>(
    records: &[Record],
    columns: &Columns,
    check: Check<T>,
    rules: &Rules,
) -> Vec<CheckedRecord<T>> {
    records
        .iter()
        .map(|r| {
            let checked = match columns.fields(&r.record) {
                Ok(fields) => check(&fields, rules),
                Err(reason) => Checked {
                    key: None,
                    row: Err(vec![RowError {
                        column: "row",
                        reason,
                    }]),
                },
            };
            CheckedRecord {
                line: r.line,
                key_hash: checked.key.as_deref().map(super::key_hash),
                checked,
            }
        })
        .collect()
}
