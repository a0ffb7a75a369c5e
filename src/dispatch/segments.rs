//! SMS segments: GSM-7 when every character is in the GSM 03.38 alphabet
//! (160 characters, 153 per part when split; extension characters count
//! twice), UCS-2 otherwise (70, 67 per part). SMS cost is per segment.

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

/// The encoding of a text and how many segments it takes.
pub fn segments(text: &str) -> (Encoding, u32) {
    let mut septets = 0u32;
    for c in text.chars() {
        if GSM7_BASIC.contains(c) {
            septets += 1;
        } else if GSM7_EXTENSION.contains(c) {
            septets += 2;
        } else {
            // UCS-2 counts UTF-16 code units.
            let units: u32 = text.chars().map(|c| c.len_utf16() as u32).sum();
            return (Encoding::Ucs2, parts(units, 70, 67));
        }
    }
    (Encoding::Gsm7, parts(septets, 160, 153))
}

fn parts(units: u32, single: u32, per_part: u32) -> u32 {
    if units <= single {
        1
    } else {
        units.div_ceil(per_part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn boundaries() {
        assert_eq!(segments(""), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"a".repeat(160)), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"a".repeat(161)), (Encoding::Gsm7, 2));
        assert_eq!(segments(&"a".repeat(306)), (Encoding::Gsm7, 2));
        assert_eq!(segments(&"a".repeat(307)), (Encoding::Gsm7, 3));
        // The euro sign is an extension character: two septets.
        assert_eq!(segments(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(segments(&"€".repeat(81)), (Encoding::Gsm7, 2));
        assert_eq!(segments(&"я".repeat(70)), (Encoding::Ucs2, 1));
        assert_eq!(segments(&"я".repeat(71)), (Encoding::Ucs2, 2));
        // One Cyrillic letter turns the whole text to UCS-2.
        assert_eq!(
            segments(&format!("{}я", "a".repeat(100))),
            (Encoding::Ucs2, 2)
        );
    }

    proptest! {
        #[test]
        fn more_text_never_takes_fewer_segments(a in "\\PC{0,400}", b in "\\PC{0,40}") {
            let (_, n) = segments(&a);
            let (_, m) = segments(&format!("{a}{b}"));
            prop_assert!(n >= 1);
            prop_assert!(m >= n);
        }

        #[test]
        fn gsm_text_fits_its_segments(a in "[a-zA-Z0-9 .,!?]{0,1000}") {
            let (e, n) = segments(&a);
            prop_assert_eq!(e, Encoding::Gsm7);
            let len = a.chars().count() as u32;
            let capacity = if n == 1 { 160 } else { n * 153 };
            let previous = if n == 2 { 160 } else { (n - 1) * 153 };
            prop_assert!(len <= capacity);
            prop_assert!(n == 1 || len > previous);
        }
    }
}
