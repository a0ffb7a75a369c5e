//! The import folder's decisions, pure: what a file's name makes of it, and
//! which of the files a look into the folder found have settled and may be
//! imported now, in which order. No clock and no I/O: the caller says what
//! it saw and when, on a clock of its own that only goes forward.
//!
//! A file has settled when its size and modification time have stayed the
//! same, look after look, for the settle time. Files are imported customers
//! first, then vehicles, then visits, and within a kind by name; a file
//! waits while one before it in that order has not settled, so that a
//! vehicles file never goes in before the customers file beside it.

use super::Kind;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The kind a file of the folder holds, by its name: `customers*.csv`,
/// `vehicles*.csv` or `visits*.csv`, in any case; `None` for any other
/// name.
pub fn kind_of(name: &str) -> Option<Kind> {
    let lower = name.to_lowercase();
    if !lower.ends_with(".csv") {
        return None;
    }
    [Kind::Customers, Kind::Vehicles, Kind::Visits]
        .into_iter()
        .find(|k| lower.starts_with(k.as_str()))
}

/// Whether a name is one the folder passes over without a word: a name
/// starting with a dot, as copying tools write a file before they rename
/// it.
pub fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// The name a file gets in `processed/` or `failed/`: its own (`n` = 0)
/// or, when that is taken, stamped with `now` in UTC before its extension
/// (`customers-20260412T063000Z.csv`), then numbered (`…Z-2.csv`).
pub fn stamped_name(name: &str, now: DateTime<Utc>, n: u32) -> String {
    if n == 0 {
        return name.to_string();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    };
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    if n == 1 {
        format!("{stem}-{stamp}{ext}")
    } else {
        format!("{stem}-{stamp}-{n}{ext}")
    }
}

/// What a look into the folder saw of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub name: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

impl Sighting {
    fn signature(&self) -> Signature {
        Signature {
            size: self.size,
            modified: self.modified,
        }
    }
}

/// What tells one state of a file from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Signature {
    size: u64,
    modified: Option<SystemTime>,
}

/// What the folder's watcher remembers from one look to the next: each
/// file still there, as it was last seen and since when it has been so.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Memory {
    files: BTreeMap<String, Tracked>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tracked {
    signature: Signature,
    /// When the file was first seen as it is now.
    since: Duration,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A file to import once it has settled.
    Waiting,
    /// Handled as it is now (imported or refused, but still in the folder:
    /// it could not be moved); it waits only if it changes.
    Handled,
    /// A name that is not an import file's.
    Other,
}

/// What one look decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// The files to import now, in order.
    pub ready: Vec<(Kind, String)>,
    /// Import files seen for the first time (or changed after they were
    /// handled), in order.
    pub found: Vec<String>,
    /// Other names seen for the first time.
    pub other: Vec<String>,
}

impl Memory {
    /// Takes in what a look at `at` saw and decides what is ready: the
    /// files unchanged since a look at least `settle` before `at` (never a
    /// file on the look that first saw it as it is), in order, up to the
    /// first file that has not settled. Files no longer seen are
    /// forgotten. `at` never goes back.
    pub fn look(&mut self, seen: &[Sighting], at: Duration, settle: Duration) -> Decision {
        let mut decision = Decision::default();
        let mut files = BTreeMap::new();
        for s in seen {
            if is_hidden(&s.name) || files.contains_key(&s.name) {
                continue;
            }
            let signature = s.signature();
            let tracked = match self.files.get(&s.name) {
                Some(t) if t.signature == signature => *t,
                before => {
                    let state = if kind_of(&s.name).is_some() {
                        if before.is_none_or(|t| t.state == State::Handled) {
                            decision.found.push(s.name.clone());
                        }
                        State::Waiting
                    } else {
                        if before.is_none() {
                            decision.other.push(s.name.clone());
                        }
                        State::Other
                    };
                    Tracked {
                        signature,
                        since: at,
                        state,
                    }
                }
            };
            files.insert(s.name.clone(), tracked);
        }
        self.files = files;
        let mut waiting: Vec<(Kind, &String, &Tracked)> = self
            .files
            .iter()
            .filter(|(_, t)| t.state == State::Waiting)
            .filter_map(|(name, t)| kind_of(name).map(|k| (k, name, t)))
            .collect();
        waiting.sort_by_key(|(kind, name, _)| (order(*kind), *name));
        decision.ready = waiting
            .into_iter()
            .take_while(|(_, _, t)| t.since < at && at.saturating_sub(t.since) >= settle)
            .map(|(kind, name, _)| (kind, name.clone()))
            .collect();
        decision
            .found
            .sort_by(|a, b| (kind_of(a).map(order), a).cmp(&(kind_of(b).map(order), b)));
        decision
    }

    /// Records that the file named `name` was handled as it is now but
    /// stays in the folder: it is not ready again until it changes.
    pub fn handled(&mut self, name: &str) {
        if let Some(t) = self.files.get_mut(name) {
            t.state = State::Handled;
        }
    }

    /// Forgets the file named `name`, moved away: a file of that name on a
    /// later look is a new one.
    pub fn forget(&mut self, name: &str) {
        self.files.remove(name);
    }
}

/// Customers, then vehicles, then visits.
fn order(kind: Kind) -> u8 {
    match kind {
        Kind::Customers => 0,
        Kind::Vehicles => 1,
        Kind::Visits => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn file(name: &str, size: u64) -> Sighting {
        Sighting {
            name: name.into(),
            size,
            modified: Some(SystemTime::UNIX_EPOCH + secs(size)),
        }
    }

    #[test]
    fn names_give_the_kind_in_any_case() {
        assert_eq!(kind_of("customers.csv"), Some(Kind::Customers));
        assert_eq!(kind_of("Customers_2026-04-12.CSV"), Some(Kind::Customers));
        assert_eq!(kind_of("vehicles-week15.csv"), Some(Kind::Vehicles));
        assert_eq!(kind_of("visits.csv"), Some(Kind::Visits));
        assert_eq!(kind_of("customers.csv.part"), None);
        assert_eq!(kind_of("my-customers.csv"), None);
        assert_eq!(kind_of("notes.txt"), None);
        assert!(is_hidden(".customers.csv.Xa81"));
    }

    #[test]
    fn a_taken_name_is_stamped_in_utc_then_numbered() {
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 4, 12, 6, 30, 5).unwrap();
        assert_eq!(stamped_name("customers.csv", now, 0), "customers.csv");
        assert_eq!(
            stamped_name("customers.csv", now, 1),
            "customers-20260412T063005Z.csv"
        );
        assert_eq!(
            stamped_name("visits.2026.csv", now, 3),
            "visits.2026-20260412T063005Z-3.csv"
        );
        assert_eq!(stamped_name("noext", now, 1), "noext-20260412T063005Z");
    }

    #[test]
    fn a_file_waits_for_its_settle_time_and_restarts_it_when_it_grows() {
        let mut m = Memory::default();
        let d = m.look(&[file("customers.csv", 10)], secs(0), secs(10));
        assert_eq!(d.found, vec!["customers.csv"]);
        assert!(d.ready.is_empty());
        assert!(
            m.look(&[file("customers.csv", 10)], secs(5), secs(10))
                .ready
                .is_empty()
        );
        // Still being written: the wait starts again.
        let d = m.look(&[file("customers.csv", 20)], secs(9), secs(10));
        assert!(d.ready.is_empty() && d.found.is_empty());
        assert!(
            m.look(&[file("customers.csv", 20)], secs(18), secs(10))
                .ready
                .is_empty()
        );
        let d = m.look(&[file("customers.csv", 20)], secs(19), secs(10));
        assert_eq!(d.ready, vec![(Kind::Customers, "customers.csv".into())]);
        m.handled("customers.csv");
        assert!(
            m.look(&[file("customers.csv", 20)], secs(30), secs(10))
                .ready
                .is_empty()
        );
        // Gone, then back: a new file.
        m.look(&[], secs(31), secs(10));
        let d = m.look(&[file("customers.csv", 20)], secs(32), secs(10));
        assert_eq!(d.found, vec!["customers.csv"]);
    }

    #[test]
    fn vehicles_wait_for_the_customers_and_other_names_are_told_once() {
        let mut m = Memory::default();
        let both = |c| {
            [
                file("vehicles.csv", 5),
                file("customers.csv", c),
                file("notes.txt", 1),
            ]
        };
        let d = m.look(&both(1), secs(0), secs(1));
        assert_eq!(d.found, vec!["customers.csv", "vehicles.csv"]);
        assert_eq!(d.other, vec!["notes.txt"]);
        // The customers file grew: the vehicles file has settled but waits.
        let d = m.look(&both(2), secs(5), secs(1));
        assert!(d.ready.is_empty() && d.other.is_empty(), "{d:?}");
        let d = m.look(&both(2), secs(6), secs(1));
        assert_eq!(
            d.ready,
            vec![
                (Kind::Customers, "customers.csv".into()),
                (Kind::Vehicles, "vehicles.csv".into())
            ]
        );
    }

    const NAMES: [&str; 6] = [
        "customers-a.csv",
        "customers-b.csv",
        "vehicles.csv",
        "visits-1.csv",
        "notes.txt",
        ".customers.csv.tmp",
    ];

    /// A run of looks: the time since the one before, and each name's size
    /// then (0: not there).
    fn looks() -> impl Strategy<Value = Vec<(u64, Vec<u64>)>> {
        proptest::collection::vec(
            (
                0u64..6,
                proptest::collection::vec(prop_oneof![Just(0u64), 1u64..4], NAMES.len()),
            ),
            1..40,
        )
    }

    proptest! {
        /// What is ready has been seen unchanged, look after look, for at
        /// least the settle time, is an import file not handled as it is,
        /// comes in order, and nothing before it in that order is still
        /// settling; what has settled with nothing unsettled before it is
        /// ready; each other name is told once while it stays.
        #[test]
        fn only_settled_files_are_ready_in_order(looks in looks(), settle in 0u64..8, handle in any::<bool>()) {
            let settle = secs(settle);
            let mut m = Memory::default();
            let mut at = Duration::ZERO;
            // Per name: the looks (time, size) since it was last absent.
            let mut history: BTreeMap<&str, Vec<(Duration, u64)>> = BTreeMap::new();
            let mut handled: BTreeMap<&str, u64> = BTreeMap::new();
            let mut told: BTreeMap<&str, usize> = BTreeMap::new();
            for (step, sizes) in looks {
                at += secs(step);
                let mut seen = Vec::new();
                for (name, size) in NAMES.iter().zip(&sizes) {
                    if *size == 0 {
                        history.remove(name);
                        handled.remove(name);
                        told.remove(name);
                    } else {
                        let h = history.entry(name).or_default();
                        if h.last().is_some_and(|(_, s)| s != size) {
                            handled.remove(name);
                        }
                        h.push((at, *size));
                        seen.push(file(name, *size));
                    }
                }
                let d = m.look(&seen, at, settle);
                for name in &d.other {
                    *told.entry(NAMES.iter().find(|n| *n == name).unwrap()).or_default() += 1;
                }
                prop_assert!(told.values().all(|n| *n == 1), "{told:?}");
                prop_assert!(told.keys().all(|n| kind_of(n).is_none() && !is_hidden(n)));
                // Since when each file present has been as it is now.
                let since = |name: &str| -> Duration {
                    let h = &history[name];
                    let size = h.last().unwrap().1;
                    h.iter().rev().take_while(|(_, s)| *s == size).last().unwrap().0
                };
                let settled = |name: &str| {
                    let first = since(name);
                    first < at && at - first >= settle
                };
                let mut pending: Vec<&str> = history
                    .keys()
                    .copied()
                    .filter(|n| kind_of(n).is_some() && !is_hidden(n))
                    .filter(|n| handled.get(n) != history[n].last().map(|l| &l.1))
                    .collect();
                pending.sort_by_key(|n| (kind_of(n).map(order), *n));
                let expected: Vec<&str> = pending.iter().copied().take_while(|n| settled(n)).collect();
                let ready: Vec<&str> = d.ready.iter().map(|(_, n)| n.as_str()).collect();
                prop_assert_eq!(&ready, &expected);
                for (kind, name) in &d.ready {
                    prop_assert_eq!(Some(*kind), kind_of(name));
                    prop_assert!(settled(name));
                }
                if handle {
                    for (_, name) in &d.ready {
                        m.handled(name);
                        let name = NAMES.iter().find(|n| *n == name).unwrap();
                        handled.insert(name, history[name].last().unwrap().1);
                    }
                }
            }
        }

        /// A file is never ready on the look that first sees it as it is,
        /// and is found once, when it first comes.
        #[test]
        fn a_new_or_changed_file_is_never_ready_at_once(sizes in proptest::collection::vec(1u64..3, 1..20), settle in 0u64..3) {
            let mut m = Memory::default();
            let mut last = None;
            for (i, size) in sizes.into_iter().enumerate() {
                let d = m.look(&[file("visits.csv", size)], secs(i as u64 * 5), secs(settle));
                if last != Some(size) {
                    prop_assert!(d.ready.is_empty());
                }
                let found = if i == 0 { vec!["visits.csv".to_string()] } else { vec![] };
                prop_assert_eq!(d.found, found);
                last = Some(size);
            }
        }
    }
}
