//! The words a person is found by at the desk: each word of the name,
//! lower-cased; the whole email address, lower-cased; and the phone's
//! digits reversed behind `#`, so that the number's end (what people type,
//! in whatever format) is a prefix. Shared by the migration that fills them
//! and the store that keeps them.

/// The search terms of a person, each once.
pub fn customer_terms(name: &str, email: Option<&str>, phone: Option<&str>) -> Vec<String> {
    let mut terms: Vec<String> = words(name).collect();
    if let Some(email) = email.map(str::trim).filter(|e| !e.is_empty()) {
        terms.push(email.to_lowercase());
    }
    if let Some(phone) = phone {
        let digits: String = phone.chars().filter(char::is_ascii_digit).rev().collect();
        if !digits.is_empty() {
            terms.push(format!("#{digits}"));
        }
    }
    terms.sort_unstable();
    terms.dedup();
    terms
}

/// The words of a text, lower-cased: runs of letters and digits.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}
