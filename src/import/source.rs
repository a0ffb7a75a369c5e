//! Reading an import file: the header, then records in chunks, each with the
//! physical line it starts on.

use super::ImportError;
use csv::{ByteRecord, Reader, ReaderBuilder};
use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
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

/// One record and the physical line it starts on, as an editor numbers the
/// lines (the header is line 1; LF, CRLF or CR line endings).
pub struct Record {
    pub line: u64,
    pub record: ByteRecord,
}

/// A reader that notes where the line breaks are as the bytes pass through
/// (`\r\n`, `\n` or a lone `\r`, as an editor counts them), so that a
/// record's byte offset can be told as the line an editor shows.
pub(crate) struct LineBreaks<R> {
    inner: R,
    /// Bytes passed through so far.
    offset: u64,
    /// The start and end offsets of the breaks not yet passed by a query.
    ahead: VecDeque<(u64, u64)>,
    /// Breaks already passed by a query.
    behind: u64,
    /// A `\r` at the end of the last read: a break whose end depends on
    /// the next byte.
    pending_cr: Option<u64>,
}

impl<R: Read> LineBreaks<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            ahead: VecDeque::new(),
            behind: 0,
            pending_cr: None,
        }
    }

    /// The line (1-based) of the first byte at or after `at` that is not
    /// part of a line break: the CSV reader reports a record from the end of
    /// the previous record's terminator, which may be the `\n` of a `\r\n`
    /// or blank lines before it. Queries come in increasing order.
    pub(crate) fn line_at(&mut self, at: u64) -> u64 {
        let mut at = at;
        while let Some(&(start, end)) = self.ahead.front() {
            if end <= at {
                self.behind += 1;
                self.ahead.pop_front();
            } else if start <= at {
                // `at` lies in a break: the record starts after it.
                at = end;
            } else {
                break;
            }
        }
        self.behind + 1
    }

    fn note(&mut self, bytes: &[u8]) {
        let base = self.offset;
        let mut i = 0;
        if let Some(cr) = self.pending_cr.take() {
            if bytes.first() == Some(&b'\n') {
                self.ahead.push_back((cr, cr + 2));
                i = 1;
            } else {
                self.ahead.push_back((cr, cr + 1));
            }
        }
        while let Some(found) = memchr::memchr2(b'\r', b'\n', &bytes[i..]) {
            let at = i + found;
            let start = base + at as u64;
            if bytes[at] == b'\n' {
                self.ahead.push_back((start, start + 1));
                i = at + 1;
            } else if at + 1 == bytes.len() {
                self.pending_cr = Some(start);
                i = at + 1;
            } else if bytes[at + 1] == b'\n' {
                self.ahead.push_back((start, start + 2));
                i = at + 2;
            } else {
                self.ahead.push_back((start, start + 1));
                i = at + 1;
            }
        }
        self.offset += bytes.len() as u64;
    }
}

impl<R: Read> Read for LineBreaks<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            if let Some(cr) = self.pending_cr.take() {
                self.ahead.push_back((cr, cr + 1));
            }
        } else {
            self.note(&buf[..n]);
        }
        Ok(n)
    }
}

/// An open import file, its header read.
pub struct Source {
    reader: Reader<LineBreaks<File>>,
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
            .from_reader(LineBreaks::new(file));
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

    /// The file as the user named it.
    pub fn shown(&self) -> &str {
        &self.path
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
            let at = record.position().map_or(0, |p| p.byte());
            let line = self.reader.get_mut().line_at(at);
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

#[cfg(test)]
mod line_tests {
    use super::*;
    use proptest::prelude::*;

    const LAYOUT: Layout = Layout {
        required: &["a", "b"],
        optional: &[],
    };

    /// The line of each record of `text`, read in chunks of `chunk` bytes.
    fn lines(text: &[u8]) -> Vec<u64> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, text).unwrap();
        let mut source = Source::open(&path, "f.csv", &LAYOUT).unwrap();
        let mut out = Vec::new();
        loop {
            let chunk = source.read_chunk(2).unwrap();
            if chunk.is_empty() {
                break out;
            }
            out.extend(chunk.iter().map(|r| r.line));
        }
    }

    #[test]
    fn lines_are_the_ones_an_editor_shows() {
        for (text, want) in [
            ("a,b\n1,2\n3,4\n", vec![2, 3]),
            ("a,b\r\n1,2\r\n3,4\r\n", vec![2, 3]),
            ("a,b\r\n1,2\r\n3,4", vec![2, 3]),
            ("\u{feff}a,b\r\n1,2\r\n3,4\r\n", vec![2, 3]),
            ("a,b\r\n1,\"x\r\ny\"\r\n3,4\r\n", vec![2, 4]),
            ("a,b\n1,\"x\n\ny\"\n3,4\n", vec![2, 5]),
            ("a,b\r\n\r\n1,2\r\n\r\n\r\n3,4\r\n", vec![3, 6]),
            ("a,b\n\n1,2\n3,4\n", vec![3, 4]),
            ("a,b\r1,2\r3,4\r", vec![2, 3]),
            ("a,b\r\n,2\r\n\"\r\n3\",4\r\n", vec![2, 3]),
        ] {
            assert_eq!(lines(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn a_crlf_across_the_read_buffer_counts_once() {
        // The reader's buffer is 64 KiB: put a CRLF on either side of its end.
        for pad in (1 << 16) - 8..(1 << 16) + 2 {
            let mut text = b"a,b\r\n".to_vec();
            text.extend(std::iter::repeat_n(b'x', pad));
            text.extend(b",1\r\n2,3\r\n4,5\r\n");
            assert_eq!(lines(&text), vec![2, 3, 4], "pad {pad}");
        }
    }

    proptest! {
        /// Whatever the line endings, and with quoted fields spanning lines,
        /// each record is on the line where its text starts.
        #[test]
        fn every_ending_gives_the_same_lines(
            rows in proptest::collection::vec((0usize..3, 0usize..2, 0usize..3), 1..30),
            ending in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
        ) {
            let mut text = format!("a,b{ending}");
            let mut line = 2;
            let mut want = Vec::new();
            for (breaks_inside, blank_before, value) in rows {
                for _ in 0..blank_before {
                    text.push_str(ending);
                    line += 1;
                }
                want.push(line);
                let inside = (0..breaks_inside).map(|_| ending).collect::<String>();
                text.push_str(&format!("{value},\"x{inside}y\"{ending}"));
                line += 1 + breaks_inside as u64;
            }
            prop_assert_eq!(lines(text.as_bytes()), want);
        }
    }
}
