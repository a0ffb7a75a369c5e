use crate::domain::{Category, Channel};
use serde::Deserialize;
use std::collections::HashSet;

/// What a touchpoint's date is counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The purchase date (for later cycles, the cycle's start).
    Purchase,
    /// Each predicted service's due date.
    ServiceDue,
    /// Each service visit (the due date while it is still predicted).
    ServiceDone,
    /// The owner's birthday, every year of the cycle.
    Birthday,
    /// The end of the warranty.
    WarrantyEnd,
    /// The tyre-change season (`season = "spring"` or `"autumn"`), every year.
    Season,
    /// The day after the cycle's last day.
    CycleEnd,
}

impl Anchor {
    pub fn as_str(self) -> &'static str {
        match self {
            Anchor::Purchase => "purchase",
            Anchor::ServiceDue => "service_due",
            Anchor::ServiceDone => "service_done",
            Anchor::Birthday => "birthday",
            Anchor::WarrantyEnd => "warranty_end",
            Anchor::Season => "season",
            Anchor::CycleEnd => "cycle_end",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Season {
    Spring,
    Autumn,
}

/// One touchpoint of the template.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub code: String,
    pub channel: Channel,
    pub category: Category,
    pub anchor: Anchor,
    #[serde(default)]
    pub offset_days: i64,
    #[serde(default)]
    pub offset_months: i32,
    /// Higher wins when the cycle's budget is short.
    pub priority: i32,
    /// The message template to render.
    pub message: String,
    /// For recurring anchors (birthday, season): only the n-th of the cycle.
    #[serde(default)]
    pub nth: Option<u32>,
    #[serde(default)]
    pub season: Option<Season>,
    /// Only fills the cycle up to its budget; never listed as displaced.
    #[serde(default)]
    pub reserve: bool,
    /// Service reminders move earlier as the forecast grows uncertain.
    #[serde(default)]
    pub adaptive_lead: bool,
}

/// The default 36-touchpoint plan template, as shipped in `config/plan.toml`.
pub const DEFAULT_PLAN: &str = include_str!("../../config/plan.toml");

/// The plan template (`config/plan.toml`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    #[serde(rename = "touchpoint")]
    pub entries: Vec<Entry>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("touchpoint '{code}': {reason}")]
    Entry { code: String, reason: String },
}

impl Template {
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let template: Template = toml::from_str(text)?;
        let mut codes = HashSet::new();
        for e in &template.entries {
            let bad = |reason: &str| TemplateError::Entry {
                code: e.code.clone(),
                reason: reason.to_string(),
            };
            if e.code.is_empty()
                || !e
                    .code
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(bad("code must be letters, digits, '-' or '_'"));
            }
            if !codes.insert(e.code.as_str()) {
                return Err(bad("code is used twice"));
            }
            if (e.anchor == Anchor::Season) != e.season.is_some() {
                return Err(bad(
                    "season is required with anchor = \"season\" and only there",
                ));
            }
            if e.nth == Some(0) {
                return Err(bad("nth counts from 1"));
            }
            if e.nth.is_some() && !matches!(e.anchor, Anchor::Birthday | Anchor::Season) {
                return Err(bad("nth is only for the birthday and season anchors"));
            }
            if e.adaptive_lead && e.anchor != Anchor::ServiceDue {
                return Err(bad("adaptive_lead is only for the service_due anchor"));
            }
            if e.offset_days.abs() > 3660 || e.offset_months.abs() > 120 {
                return Err(bad("offset is more than ten years"));
            }
            if e.message.trim().is_empty() {
                return Err(bad("message is empty"));
            }
        }
        Ok(template)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_template_parses() {
        let t = Template::parse(DEFAULT_PLAN).unwrap();
        assert!(t.entries.len() >= 30);
    }

    #[test]
    fn duplicate_codes_are_rejected() {
        let one = "[[touchpoint]]\ncode='a'\nchannel='sms'\ncategory='service'\nanchor='purchase'\npriority=1\nmessage='m'\n";
        let err = Template::parse(&format!("{one}{one}")).unwrap_err();
        assert!(err.to_string().contains("used twice"), "{err}");
    }

    #[test]
    fn unknown_channel_is_rejected() {
        let text = "[[touchpoint]]\ncode='a'\nchannel='fax'\ncategory='service'\nanchor='purchase'\npriority=1\nmessage='m'\n";
        assert!(
            Template::parse(text)
                .unwrap_err()
                .to_string()
                .contains("fax")
        );
    }
}
