//! Message texts per locale (`config/templates/LOCALE.toml`), rendered with
//! minijinja. A message has a subject (emails, call tasks) and a body.

use crate::plan::Template;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

const BUILTIN: [(&str, &str); 2] = [
    ("en", include_str!("../config/templates/en.toml")),
    ("ru", include_str!("../config/templates/ru.toml")),
];

/// The locale used when a customer's own has no texts.
pub const FALLBACK_LOCALE: &str = "en";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Text {
    subject: String,
    body: String,
}

/// What a message may say.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Context {
    pub name: String,
    /// "VW Golf", or "VW Golf and Skoda Octavia" for a merged message.
    pub cars: String,
    pub vins: String,
    pub due_date: String,
    pub dealer_name: String,
    pub dealer_phone: String,
    pub booking_url: String,
}

/// A rendered message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub locale: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MessageError {
    #[error("templates/{locale}.toml: {reason}")]
    Catalog { locale: String, reason: String },
    #[error("message '{0}' has no text in locale '{FALLBACK_LOCALE}'")]
    Missing(String),
    #[error("message '{message}' ({locale}): {reason}")]
    Render {
        message: String,
        locale: String,
        reason: String,
    },
}

/// All message texts, compiled.
pub struct Catalog {
    env: minijinja::Environment<'static>,
    names: HashMap<String, HashSet<String>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("locales", &self.names.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Catalog {
    /// The shipped texts (English and Russian).
    pub fn builtin() -> Result<Self, MessageError> {
        Self::from_sources(BUILTIN.iter().map(|(l, s)| (l.to_string(), s.to_string())))
    }

    /// Texts from `(locale, TOML)` pairs.
    pub fn from_sources(
        sources: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, MessageError> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let mut names: HashMap<String, HashSet<String>> = HashMap::new();
        for (locale, source) in sources {
            let bad = |reason: String| MessageError::Catalog {
                locale: locale.clone(),
                reason,
            };
            let texts: BTreeMap<String, Text> =
                toml::from_str(&source).map_err(|e| bad(e.to_string()))?;
            for (message, text) in texts {
                for (part, src) in [("subject", text.subject), ("body", text.body)] {
                    env.add_template_owned(format!("{locale}/{message}/{part}"), src)
                        .map_err(|e| bad(format!("{message}.{part}: {e}")))?;
                }
                names.entry(locale.clone()).or_default().insert(message);
            }
        }
        Ok(Self { env, names })
    }

    /// Every message of the plan template has a text in the fallback locale,
    /// and every text renders.
    pub fn check(&self, template: &Template) -> Result<(), MessageError> {
        let probe = Context {
            name: "Anna".into(),
            cars: "VW Golf".into(),
            vins: "WVWZZZ1JZXW000001".into(),
            due_date: "2026-01-01".into(),
            dealer_name: "Dealer".into(),
            dealer_phone: "+49301234567".into(),
            booking_url: "https://example.com".into(),
        };
        for entry in &template.entries {
            if !self.has(FALLBACK_LOCALE, &entry.message) {
                return Err(MessageError::Missing(entry.message.clone()));
            }
            for locale in self.names.keys() {
                if self.has(locale, &entry.message) {
                    self.render(&entry.message, Some(locale), &probe)?;
                }
            }
        }
        Ok(())
    }

    fn has(&self, locale: &str, message: &str) -> bool {
        self.names.get(locale).is_some_and(|m| m.contains(message))
    }

    /// Renders `message` in `locale` (its language part, `ru-RU` → `ru`),
    /// falling back to English.
    pub fn render(
        &self,
        message: &str,
        locale: Option<&str>,
        ctx: &Context,
    ) -> Result<Rendered, MessageError> {
        let wanted = locale
            .map(|l| l.split(['-', '_']).next().unwrap_or(l).to_ascii_lowercase())
            .filter(|l| self.has(l, message));
        let locale = match wanted {
            Some(l) => l,
            None if self.has(FALLBACK_LOCALE, message) => FALLBACK_LOCALE.to_string(),
            None => return Err(MessageError::Missing(message.to_string())),
        };
        let part = |p: &str| -> Result<String, MessageError> {
            let err = |e: minijinja::Error| MessageError::Render {
                message: message.to_string(),
                locale: locale.clone(),
                reason: e.to_string(),
            };
            self.env
                .get_template(&format!("{locale}/{message}/{p}"))
                .map_err(err)?
                .render(ctx)
                .map_err(err)
        };
        Ok(Rendered {
            subject: part("subject")?,
            body: part("body")?,
            locale: locale.clone(),
        })
    }
}

/// "VW Golf", "VW Golf and Skoda Octavia", "A, B and C".
pub fn join_cars(cars: &[String]) -> String {
    match cars {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            name: "Anna".into(),
            cars: "VW Golf".into(),
            vins: "WVWZZZ1JZXW000001".into(),
            due_date: "2026-05-20".into(),
            dealer_name: "Autohaus Nord".into(),
            dealer_phone: "+49301234567".into(),
            booking_url: "https://autohaus.example/book".into(),
        }
    }

    #[test]
    fn every_message_of_the_default_plan_renders_in_english_and_russian() {
        let catalog = Catalog::builtin().unwrap();
        let template = Template::parse(crate::config::DEFAULT_PLAN).unwrap();
        catalog.check(&template).unwrap();
        for entry in &template.entries {
            for locale in ["en", "ru"] {
                let r = catalog
                    .render(&entry.message, Some(locale), &ctx())
                    .unwrap();
                assert_eq!(r.locale, locale, "{} has no {locale} text", entry.message);
                assert!(!r.subject.is_empty() && !r.body.is_empty());
                assert!(!r.body.contains("{{"), "{}", r.body);
            }
        }
    }

    #[test]
    fn unknown_locale_falls_back_to_english_and_region_is_ignored() {
        let catalog = Catalog::builtin().unwrap();
        assert_eq!(
            catalog
                .render("birthday", Some("fr"), &ctx())
                .unwrap()
                .locale,
            "en"
        );
        assert_eq!(
            catalog
                .render("birthday", Some("ru-RU"), &ctx())
                .unwrap()
                .locale,
            "ru"
        );
        assert_eq!(
            catalog.render("birthday", None, &ctx()).unwrap().locale,
            "en"
        );
        let r = catalog
            .render("service_reminder", Some("en"), &ctx())
            .unwrap();
        assert_eq!(r.subject, "VW Golf: service due on 2026-05-20");
    }

    #[test]
    fn unknown_variables_and_missing_messages_are_errors() {
        let catalog = Catalog::from_sources([(
            "en".to_string(),
            "[m]\nsubject = \"x\"\nbody = \"{{ nme }}\"\n".to_string(),
        )])
        .unwrap();
        assert!(matches!(
            catalog.render("m", None, &ctx()),
            Err(MessageError::Render { .. })
        ));
        assert!(matches!(
            catalog.render("other", None, &ctx()),
            Err(MessageError::Missing(_))
        ));
    }

    #[test]
    fn cars_join_naturally() {
        assert_eq!(join_cars(&["VW Golf".into()]), "VW Golf");
        assert_eq!(
            join_cars(&["A".into(), "B".into(), "C".into()]),
            "A, B and C"
        );
    }
}
