//! Reading an import file: the header, then records in chunks, each with the
//! physical line it starts on.

use super::ImportError;
use csv::{ByteRecord, Reader, ReaderBuilder};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// The most columns a kind of file has.
pub const MAX_COLUMNS: usize = 9;

/// The columns of one kind of file: every required one must be present, the
/// optional ones may be.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
}

impl Layout {
    fn names(&self) -> impl Iterator<Item = &'static str> {
        self.required.iter().chain(self.optional).copied()
    }
}

/// Where each column of a layout is in the file (`None`: an absent optional column).
#[derive(Debug, Clone)]
pub struct Columns {
    positions: [Option<usize>; MAX_COLUMNS],
    width: usize,
}

impl Columns {
    /// Maps a header row to a layout; every problem is `(column, reason)`.
    pub fn from_header(
        header: &ByteRecord,
        layout: &Layout,
    ) -> Result<Self, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let mut positions = [None; MAX_COLUMNS];
        let expected = layout.names().collect::<Vec<_>>().join(", ");
        for (at, raw) in header.iter().enumerate() {
            let Ok(name) = std::str::from_utf8(raw) else {
                problems.push((
                    format!("column {}", at + 1),
                    "the name is not valid UTF-8".to_string(),
                ));
                continue;
            };
            let name = name.trim_start_matches('\u{feff}').trim();
            let lower = name.to_ascii_lowercase();
            match layout.names().position(|n| n == lower) {
                Some(i) if positions[i].is_some() => {
                    problems.push((name.to_string(), "the column appears twice".to_string()));
                }
                Some(i) => positions[i] = Some(at),
                None if name.is_empty() => problems.push((
                    format!("column {}", at + 1),
                    format!("has no name (expected columns: {expected})"),
                )),
                None => problems.push((
                    name.to_string(),
                    format!("unknown column (expected columns: {expected})"),
                )),
            }
        }
        for (i, name) in layout.required.iter().enumerate() {
            if positions[i].is_none() {
                problems.push((name.to_string(), "required column is missing".to_string()));
            }
        }
        if problems.is_empty() {
            Ok(Self {
                positions,
                width: header.len(),
            })
        } else {
            Err(problems)
        }
    }

    /// The fields of one record in layout order, or why the record is unusable.
    pub fn fields<'r>(&self, record: &'r ByteRecord) -> Result<Fields<'r>, String> {
        if record.len() != self.width {
            return Err(format!(
                "has {} fields, the header has {}",
                record.len(),
                self.width
            ));
        }
        let mut fields = Fields::default();
        for (i, position) in self.positions.iter().enumerate() {
            if let Some(at) = *position {
                let raw = record.get(at).unwrap_or_default();
                fields.values[i] = Some(std::str::from_utf8(raw).map_err(|_| ()));
            }
        }
        Ok(fields)
    }

    /// Whether the optional column `index` (in layout order) is in the file.
    pub fn has(&self, index: usize) -> bool {
        self.positions.get(index).is_some_and(Option::is_some)
    }
}

/// The fields of one record, in layout order.
#[derive(Debug, Clone, Default)]
pub struct Fields<'r> {
    /// `None`: the column is not in the file; `Err`: not valid UTF-8.
    values: [Option<Result<&'r str, ()>>; MAX_COLUMNS],
}

impl<'r> Fields<'r> {
    /// Fields given as text, in layout order (for tests and tools).
    pub fn from_strs(values: &[&'r str]) -> Self {
        let mut fields = Self::default();
        for (slot, v) in fields.values.iter_mut().zip(values) {
            *slot = Some(Ok(*v));
        }
        fields
    }

    /// The trimmed text of column `index`; an absent column reads as empty.
    pub fn get(&self, index: usize) -> Result<&'r str, crate::domain::Invalid> {
        match self.values.get(index).copied().flatten() {
            None => Ok(""),
            Some(Ok(s)) => Ok(s.trim()),
            Some(Err(())) => Err(crate::domain::Invalid::new("is not valid UTF-8")),
        }
    }

    /// Whether column `index` is in the file.
    pub fn present(&self, index: usize) -> bool {
        self.values.get(index).is_some_and(Option::is_some)
    }
}

/// One record and the physical line it starts on (the header is line 1).
pub struct Record {
    pub line: u64,
    pub record: ByteRecord,
}

/// An open import file, its header read.
pub struct Source {
    reader: Reader<BufReader<File>>,
    pub columns: Columns,
    path: String,
}

impl Source {
    /// Opens `path` and maps its header; header problems are reported like
    /// row problems, on line 1.
    pub fn open(path: &Path, shown: &str, layout: &Layout) -> Result<Self, ImportError> {
        let read_error = |source: std::io::Error| ImportError::Read {
            path: shown.to_string(),
            source,
        };
        let file = File::open(path).map_err(read_error)?;
        let mut reader = ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(BufReader::with_capacity(1 << 16, file));
        let header = reader
            .byte_headers()
            .map_err(|e| read_error(csv_to_io(e)))?
            .clone();
        if header.is_empty() || (header.len() == 1 && header.get(0).is_some_and(|h| h.is_empty())) {
            return Err(ImportError::Invalid(vec![format!(
                "{shown}:1: header: the file is empty; the first line must name the columns"
            )]));
        }
        let columns = Columns::from_header(&header, layout).map_err(|problems| {
            ImportError::Invalid(
                problems
                    .into_iter()
                    .map(|(column, reason)| format!("{shown}:1: {column}: {reason}"))
                    .collect(),
            )
        })?;
        Ok(Self {
            reader,
            columns,
            path: shown.to_string(),
        })
    }

    /// Reads up to `n` records; an empty chunk means the end of the file.
    pub fn read_chunk(&mut self, n: usize) -> Result<Vec<Record>, ImportError> {
        let mut chunk = Vec::with_capacity(n);
        while chunk.len() < n {
            let mut record = ByteRecord::new();
            let more =
                self.reader
                    .read_byte_record(&mut record)
                    .map_err(|e| ImportError::Read {
                        path: self.path.clone(),
                        source: csv_to_io(e),
                    })?;
            if !more {
                break;
            }
            let line = record.position().map_or(0, |p| p.line());
            chunk.push(Record { line, record });
        }
        Ok(chunk)
    }
}

fn csv_to_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUT: Layout = Layout {
        required: &["a", "b"],
        optional: &["c"],
    };

    fn header(names: &[&str]) -> ByteRecord {
        ByteRecord::from(names.to_vec())
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let cols = Columns::from_header(&header(&["\u{feff}B", " a "]), &LAYOUT).unwrap();
        let record = ByteRecord::from(vec!["x", "y"]);
        let fields = cols.fields(&record).unwrap();
        assert_eq!(fields.get(0).unwrap(), "y");
        assert_eq!(fields.get(1).unwrap(), "x");
        assert!(!fields.present(2));
        assert!(!cols.has(2));
    }

    #[test]
    fn unknown_missing_and_repeated_columns_are_named() {
        let problems = Columns::from_header(&header(&["a", "a", "colour"]), &LAYOUT).unwrap_err();
        let text: Vec<String> = problems.iter().map(|(c, r)| format!("{c}: {r}")).collect();
        assert!(
            text.iter()
                .any(|t| t.starts_with("a: the column appears twice")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with("colour: unknown column")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t == "b: required column is missing"),
            "{text:?}"
        );
    }

    #[test]
    fn a_record_of_the_wrong_width_is_refused() {
        let cols = Columns::from_header(&header(&["a", "b"]), &LAYOUT).unwrap();
        let err = cols.fields(&ByteRecord::from(vec!["1"])).unwrap_err();
        assert_eq!(err, "has 1 fields, the header has 2");
    }

    #[test]
    fn invalid_utf8_is_reported_per_field() {
        let cols = Columns::from_header(&header(&["a", "b"]), &LAYOUT).unwrap();
        let mut record = ByteRecord::new();
        record.push_field(b"ok");
        record.push_field(b"\xff");
        let fields = cols.fields(&record).unwrap();
        assert!(fields.get(0).is_ok());
        assert_eq!(fields.get(1).unwrap_err().0, "is not valid UTF-8");
    }
}
