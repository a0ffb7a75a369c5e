//! The odometer history of one vehicle must make sense: no visit before the
//! purchase, and ordered by date, no reading below an earlier one (the
//! purchase odometer counts as the first reading). Pure: the caller brings the
//! stored readings and the file's.

use chrono::NaiveDate;

/// A reading from the import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileReading {
    pub line: u64,
    pub date: NaiveDate,
    pub odometer_km: i64,
}

/// A stored reading that the file does not replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredReading {
    pub date: NaiveDate,
    pub odometer_km: i64,
}

/// Why a reading of a VIN that is not stored is refused.
pub fn unknown_vehicle(vin: &str) -> String {
    format!("'{vin}' is not a known vehicle (import vehicles first)")
}

/// A problem of one file reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    pub column: &'static str,
    pub reason: String,
}

#[derive(Debug, Clone, Copy)]
enum Origin {
    Stored,
    Line(u64),
}

impl Origin {
    fn describe(self) -> String {
        match self {
            Origin::Stored => "in the database".to_string(),
            Origin::Line(line) => format!("line {line}"),
        }
    }
}

/// Checks the file's readings of one vehicle against its purchase and its
/// stored readings; returns one problem per bad file reading.
pub fn check(
    purchase_date: NaiveDate,
    purchase_odometer_km: i64,
    stored: &[StoredReading],
    file: &[FileReading],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut points: Vec<(NaiveDate, i64, Origin)> = Vec::with_capacity(stored.len() + file.len());
    points.extend(
        stored
            .iter()
            .map(|r| (r.date, r.odometer_km, Origin::Stored)),
    );
    for r in file {
        if r.date < purchase_date {
            problems.push(Problem {
                line: r.line,
                column: "date",
                reason: format!("{} is before the purchase on {purchase_date}", r.date),
            });
        } else if r.odometer_km < purchase_odometer_km {
            problems.push(Problem {
                line: r.line,
                column: "odometer_km",
                reason: format!(
                    "{} km is less than the {purchase_odometer_km} km at the purchase on {purchase_date}",
                    r.odometer_km
                ),
            });
        } else {
            points.push((r.date, r.odometer_km, Origin::Line(r.line)));
        }
    }
    points.sort_by_key(|&(date, km, _)| (date, km));

    // Forwards: no reading below the highest one of an earlier day.
    let mut earlier_max: Option<(i64, NaiveDate, Origin)> = None;
    let mut flagged = Vec::new();
    let mut i = 0;
    while i < points.len() {
        let day = points[i].0;
        let end = points[i..]
            .iter()
            .position(|p| p.0 != day)
            .map_or(points.len(), |n| i + n);
        for &(date, km, origin) in &points[i..end] {
            let Origin::Line(line) = origin else { continue };
            if let Some((max_km, max_date, max_origin)) = earlier_max
                && km < max_km
            {
                flagged.push(line);
                problems.push(Problem {
                    line,
                    column: "odometer_km",
                    reason: format!(
                        "{km} km on {date} is less than the {max_km} km recorded on {max_date} ({})",
                        max_origin.describe()
                    ),
                });
            }
        }
        // Points are sorted by km within the day: the last one is the day's highest.
        let (_, km, origin) = points[end - 1];
        if earlier_max.is_none_or(|(max_km, _, _)| km > max_km) {
            earlier_max = Some((km, day, origin));
        }
        i = end;
    }

    // Backwards: no file reading above a stored reading of a later day.
    let mut later_min: Option<(i64, NaiveDate)> = None;
    let mut j = points.len();
    while j > 0 {
        let day = points[j - 1].0;
        let start = points[..j]
            .iter()
            .rposition(|p| p.0 != day)
            .map_or(0, |n| n + 1);
        for &(date, km, origin) in &points[start..j] {
            let Origin::Line(line) = origin else { continue };
            if flagged.contains(&line) {
                continue;
            }
            if let Some((min_km, min_date)) = later_min
                && km > min_km
            {
                problems.push(Problem {
                    line,
                    column: "odometer_km",
                    reason: format!(
                        "{km} km on {date} is more than the {min_km} km recorded later, on {min_date} (in the database)"
                    ),
                });
            }
        }
        for &(date, km, origin) in &points[start..j] {
            if matches!(origin, Origin::Stored) && later_min.is_none_or(|(min_km, _)| km < min_km) {
                later_min = Some((km, date));
            }
        }
        j = start;
    }
    problems.sort_by_key(|p| p.line);
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn file(line: u64, date: &str, km: i64) -> FileReading {
        FileReading {
            line,
            date: d(date),
            odometer_km: km,
        }
    }

    fn stored(date: &str, km: i64) -> StoredReading {
        StoredReading {
            date: d(date),
            odometer_km: km,
        }
    }

    #[test]
    fn a_rising_history_in_any_file_order_is_fine() {
        let rows = [
            file(4, "2025-06-01", 20_000),
            file(2, "2024-06-01", 10_000),
            file(3, "2024-06-01", 10_500),
        ];
        assert!(check(d("2024-01-01"), 0, &[stored("2025-01-01", 15_000)], &rows).is_empty());
    }

    #[test]
    fn a_visit_before_the_purchase_is_refused() {
        let problems = check(d("2024-01-01"), 0, &[], &[file(2, "2023-12-31", 100)]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].column, "date");
        assert_eq!(
            problems[0].reason,
            "2023-12-31 is before the purchase on 2024-01-01"
        );
    }

    #[test]
    fn a_reading_below_the_purchase_odometer_is_refused() {
        let problems = check(
            d("2024-01-01"),
            30_000,
            &[],
            &[file(2, "2024-03-01", 29_000)],
        );
        assert_eq!(problems[0].column, "odometer_km");
        assert!(
            problems[0]
                .reason
                .contains("less than the 30000 km at the purchase"),
            "{problems:?}"
        );
    }

    #[test]
    fn backwards_within_the_file_blames_the_later_row_and_names_the_earlier() {
        let rows = [file(2, "2024-06-01", 20_000), file(3, "2024-09-01", 15_000)];
        let problems = check(d("2024-01-01"), 0, &[], &rows);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].line, 3);
        assert_eq!(
            problems[0].reason,
            "15000 km on 2024-09-01 is less than the 20000 km recorded on 2024-06-01 (line 2)"
        );
    }

    #[test]
    fn backwards_against_an_earlier_stored_reading() {
        let problems = check(
            d("2024-01-01"),
            0,
            &[stored("2024-06-01", 20_000)],
            &[file(2, "2024-09-01", 15_000)],
        );
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].reason.ends_with("(in the database)"),
            "{problems:?}"
        );
    }

    #[test]
    fn above_a_later_stored_reading() {
        let problems = check(
            d("2024-01-01"),
            0,
            &[stored("2024-09-01", 15_000)],
            &[file(5, "2024-06-01", 20_000)],
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 5);
        assert_eq!(
            problems[0].reason,
            "20000 km on 2024-06-01 is more than the 15000 km recorded later, on 2024-09-01 (in the database)"
        );
    }

    #[test]
    fn readings_of_the_same_day_may_differ() {
        let rows = [file(2, "2024-06-01", 20_100), file(3, "2024-06-01", 20_000)];
        assert!(check(d("2024-01-01"), 0, &[stored("2024-06-01", 19_000)], &rows).is_empty());
    }
}
