//! phonenumber's validity check (`phonenumber::is_valid`), mirrored over the
//! same metadata without its global lock.
//!
//! phonenumber matches every pattern through one process-wide
//! `Mutex<LruCache>` of 100 compiled regexes, hashing the pattern text on
//! each use and holding the lock while matching: checks run one at a time and
//! regions with many patterns keep recompiling them. This module compiles the
//! patterns of a region once, on first use, into plain `regex::Regex` values
//! that threads share freely. The decision is the library's, step by step
//! (`validator::is_valid_with`, `source_for`, `number_type`,
//! `Descriptor::is_match`); a test compares the two on many numbers.

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};
use regex::{Regex, RegexBuilder};
use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock};

/// A descriptor: its possible lengths and its pattern, anchored at the start
/// (the library accepts a match that starts at the first digit).
struct Desc {
    possible_length: Vec<u16>,
    pattern: Regex,
}

impl Desc {
    fn new(d: &Descriptor) -> Option<Self> {
        Some(Self {
            possible_length: d.possible_length().to_vec(),
            pattern: anchored(d.national_number().as_str())?,
        })
    }

    fn is_match(&self, national: &str) -> bool {
        (self.possible_length.is_empty()
            || self
                .possible_length
                .contains(&u16::try_from(national.len()).unwrap_or(u16::MAX)))
            && self.pattern.is_match(national)
    }
}

/// The compiled patterns of one region's metadata.
struct Rules {
    leading_digits: Option<Regex>,
    general: Desc,
    /// Premium rate, toll free, shared cost, VoIP, personal, pager, UAN,
    /// voicemail, fixed line, mobile: any match makes the type known.
    types: Vec<Desc>,
}

impl Rules {
    fn new(meta: &Metadata) -> Option<Self> {
        let d = meta.descriptors();
        let types = [
            d.premium_rate(),
            d.toll_free(),
            d.shared_cost(),
            d.voip(),
            d.personal_number(),
            d.pager(),
            d.uan(),
            d.voicemail(),
            d.fixed_line(),
            d.mobile(),
        ]
        .into_iter()
        .flatten()
        .map(Desc::new)
        .collect::<Option<Vec<_>>>()?;
        Some(Self {
            leading_digits: match meta.leading_digits() {
                Some(p) => Some(anchored(p.as_str())?),
                None => None,
            },
            general: Desc::new(d.general())?,
            types,
        })
    }

    /// `number_type(meta, national) != Type::Unknown`.
    fn type_known(&self, national: &str) -> bool {
        self.general.is_match(national) && self.types.iter().any(|t| t.is_match(national))
    }
}

/// `^(?:pattern)` with the library's options (whitespace in patterns is ignored).
fn anchored(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(&format!("^(?:\n{pattern}\n)"))
        .ignore_whitespace(true)
        .build()
        .ok()
}

/// Metadata key: region id and country code (the non-geographic `001`
/// entries share an id).
type Key = (String, u16);

/// One slot per metadata entry, compiled on first use.
static RULES: LazyLock<HashMap<Key, OnceLock<Option<Rules>>>> = LazyLock::new(|| {
    keep_library_patterns();
    // Country codes have at most three digits; `by_code` also yields the
    // non-geographic entries, which `iter` (by region id) folds into one.
    (1..1000u16)
        .filter_map(|code| DATABASE.by_code(&code))
        .flatten()
        .chain(DATABASE.iter())
        .map(|m| ((m.id().to_string(), m.country_code()), OnceLock::new()))
        .collect()
});

/// Parsing still goes through the library's cache of 100 regexes; numbers
/// of regions with many patterns evict each other's and recompile them.
/// Once enlarged, every pattern is compiled once.
fn keep_library_patterns() {
    const MORE_THAN_ALL_PATTERNS: usize = 20_000;
    if let Ok(mut cache) = DATABASE.cache().lock()
        && cache.capacity() < MORE_THAN_ALL_PATTERNS
    {
        cache.set_capacity(MORE_THAN_ALL_PATTERNS);
    }
}

fn rules(meta: &Metadata) -> Option<&'static Rules> {
    RULES
        .get(&(meta.id().to_string(), meta.country_code()))?
        .get_or_init(|| Rules::new(meta))
        .as_ref()
}

/// Whether `number` is valid, exactly as `phonenumber::is_valid` decides;
/// `None` when a pattern could not be compiled here (ask the library then).
pub fn is_valid(number: &phonenumber::PhoneNumber) -> Option<bool> {
    let code = number.country().code();
    let national = number.national().to_string();
    let Some(regions) = DATABASE.region(&code) else {
        return Some(false);
    };
    let meta = if let [only] = regions.as_slice() {
        if *only == "001" {
            DATABASE.by_code(&code).and_then(|m| m.into_iter().next())
        } else if only.parse::<phonenumber::country::Id>().is_ok() {
            DATABASE.by_id(*only)
        } else {
            None
        }
    } else {
        let mut found = None;
        for region in regions {
            let Some(meta) = DATABASE.by_id(region) else {
                continue;
            };
            let r = rules(meta)?;
            let chosen = match &r.leading_digits {
                Some(leading) => leading.is_match(&national),
                None => r.type_known(&national),
            };
            if chosen {
                found = region
                    .parse::<phonenumber::country::Id>()
                    .ok()
                    .map(|_| meta);
                break;
            }
        }
        found
    };
    match meta {
        Some(meta) => Some(rules(meta)?.type_known(&national)),
        None => Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::country;

    /// Numbers of many shapes and regions: the mirror must agree with the library on each.
    #[test]
    fn agrees_with_the_library() {
        let regions = [
            country::DE,
            country::US,
            country::AT,
            country::CH,
            country::IT,
            country::GB,
        ];
        let mut numbers: Vec<String> = [
            "+4915112345678",
            "+49 30 1234567",
            "+1 415 555 2671",
            "+1 2530000",
            "+1 6502530000",
            "+1 8005550199",
            "+1 2425551234",
            "+1 8765551234",
            "+39 0236618300",
            "+44 7912345678",
            "+800 12345678",
            "+979 123456789",
            "+64 21387835",
            "+43 664 1234567",
            "+41 79 123 45 67",
            "+7 912 345 67 89",
            "+7 7172 123456",
            "0151 23456789",
            "030 1234567",
            "0170 9876543",
            "089 123",
            "0800 1234567",
            "12",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // A sweep over prefixes and lengths of several countries.
        for (cc, lens) in [
            ("49", 6..13),
            ("1", 9..12),
            ("43", 6..13),
            ("44", 8..12),
            ("7", 9..12),
        ] {
            for first in 0..10 {
                for len in lens.clone() {
                    let digits: String = (0..len)
                        .map(|i| char::from(b'0' + ((first + i * 7) % 10) as u8))
                        .collect();
                    numbers.push(format!("+{cc}{digits}"));
                }
            }
        }
        let (mut valid, mut invalid) = (0, 0);
        for region in regions {
            for s in &numbers {
                let Ok(number) = phonenumber::parse(Some(region), s) else {
                    continue;
                };
                let expected = phonenumber::is_valid(&number);
                assert_eq!(is_valid(&number), Some(expected), "{s} in {region:?}");
                if expected { valid += 1 } else { invalid += 1 }
            }
        }
        assert!(
            valid > 50 && invalid > 50,
            "{valid} valid, {invalid} invalid: too few of a kind"
        );
    }
}
