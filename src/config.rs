//! Settings: built-in defaults → TOML file → environment
//! (`TOUCHPOINT__SECTION__KEY`) → command-line flags. Unknown keys are
//! rejected; every value is checked before anything runs.

use chrono_tz::Tz;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// The annotated default configuration, as shipped in `config/touchpoint.toml`.
pub const EXAMPLE: &str = include_str!("../config/touchpoint.toml");
/// The default 36-touchpoint plan template, as shipped in `config/plan.toml`.
pub use crate::plan::DEFAULT_PLAN;

/// A configuration that cannot be used: the key and the reason (exit 78).
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub database: Database,
    pub outbox: Outbox,
    pub http: Http,
    pub import: Import,
    pub prediction: Prediction,
    pub plan: PlanSettings,
    pub schedule: Schedule,
    /// Per make (and optionally model) schedules; the first match wins.
    pub schedules: Vec<ModelSchedule>,
    pub caps: Caps,
    pub quiet_hours: QuietHours,
    pub dealer: Dealer,
    pub email: Email,
    pub sms: Sms,
    pub dispatch: Dispatch,
    pub daemon: Daemon,
    pub calls: Calls,
    pub approval: Approval,
    pub digest: Digest,
    pub log: Log,
}

impl Settings {
    /// The settings with their secrets hidden: passwords in URLs, the
    /// link-signing secret and the SMS gateway's token (`check-config`).
    pub fn redacted(&self) -> Settings {
        let hide = |v: &str| hidden(v).to_string();
        let mut s = self.clone();
        s.database.url = redact_url(&s.database.url);
        s.email.smtp_url = redact_url(&s.email.smtp_url);
        s.sms.base_url = redact_url(&s.sms.base_url);
        s.http.secret = hide(&s.http.secret);
        s.sms.auth_token = hide(&s.sms.auth_token);
        s.sms.inbound_secret = hide(&s.sms.inbound_secret);
        s.http.metrics_token = hide(&s.http.metrics_token);
        s
    }

    /// When open calls come back, for `rules::call_effect`.
    pub fn call_returns(&self) -> crate::rules::Returns {
        crate::rules::Returns {
            no_answer_days: self.calls.no_answer_days,
            left_message_days: self.calls.left_message_days,
            busy_days: self.calls.busy_days,
        }
    }

    /// The planner's and the predictor's parameters.
    pub fn plan_params(&self) -> crate::plan::PlanParams {
        let md = |v: &str, fallback| parse_month_day(v).unwrap_or(fallback);
        crate::plan::PlanParams {
            predict: crate::predict::Params {
                default_monthly_km: self.prediction.default_monthly_km,
                min_span_days: self.prediction.min_span_days,
                half_life_days: self.prediction.half_life_days,
            },
            touchpoints_per_cycle: self.plan.touchpoints_per_cycle,
            cycle_months: self.plan.cycle_months,
            grace_days: self.plan.grace_days,
            warranty_months: self.plan.warranty_months,
            spring: md(&self.plan.spring, (4, 1)),
            autumn: md(&self.plan.autumn, (10, 15)),
            lead_per_uncertainty_day: self.prediction.lead_per_uncertainty_day,
            uncertainty_covered_days: self.prediction.uncertainty_covered_days,
            max_extra_lead_days: self.prediction.max_extra_lead_days,
        }
    }

    /// The dispatch rules' parameters.
    pub fn policy(&self) -> crate::rules::Policy {
        use crate::rules::Limit;
        let window = |w: &Window| crate::rules::Window {
            start: parse_hhmm(&w.start).unwrap_or(0),
            end: parse_hhmm(&w.end).unwrap_or(24 * 60),
            sundays: w.sundays,
        };
        crate::rules::Policy {
            message_limits: vec![
                Limit::days(self.caps.messages_per_7_days, 7),
                Limit::days(self.caps.messages_per_30_days, 30),
            ],
            call_limits: vec![Limit::days(self.caps.calls_per_14_days, 14)],
            email_hours: window(&self.quiet_hours.email),
            sms_hours: window(&self.quiet_hours.sms),
            call_hours: window(&self.quiet_hours.call),
            grace_days: self.plan.grace_days,
        }
    }
}

/// Who the messages come from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Dealer {
    pub name: String,
    pub phone: String,
    pub booking_url: String,
}

impl Default for Dealer {
    fn default() -> Self {
        Self {
            name: "Your service team".into(),
            phone: "+49 30 1234567".into(),
            booking_url: "https://dealer.example/service".into(),
        }
    }
}

/// Email transport; an empty `smtp_url` writes to the outbox folder.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Email {
    /// lettre's URL form: `smtp://user:pass@host:port?tls=required`.
    pub smtp_url: String,
    pub from: String,
    /// Seconds before an SMTP exchange is abandoned (and retried).
    pub timeout_secs: u64,
}

impl Default for Email {
    fn default() -> Self {
        Self {
            smtp_url: String::new(),
            from: "Service <service@dealer.example>".into(),
            timeout_secs: 30,
        }
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("smtp_url", &redact_url(&self.smtp_url))
            .field("from", &self.from)
            .field("timeout_secs", &self.timeout_secs)
            .finish()
    }
}

/// How a secret shows: `***`, or empty when it is not set.
fn hidden(secret: &str) -> &'static str {
    if secret.is_empty() { "" } else { "***" }
}

/// SMS gateway; an empty `provider` writes to the outbox folder.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Sms {
    /// "" (outbox folder), "twilio" or "http".
    pub provider: String,
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
    pub timeout_secs: u64,
    /// Requests per second at most (0: no limit).
    pub messages_per_second: u32,
    /// The generic `http` profile: `form` or `json` body, and its field names.
    pub format: String,
    pub field_to: String,
    pub field_from: String,
    pub field_body: String,
    /// The generic `http` provider's replies (`POST /sms/inbound`): the
    /// shared secret the gateway proves it knows. Empty: the endpoint is off.
    pub inbound_secret: String,
    /// `hmac`: an HMAC-SHA256 of the body in `inbound_signature_header`;
    /// `basic`: HTTP basic authentication as `inbound_user`.
    pub inbound_auth: String,
    pub inbound_signature_header: String,
    pub inbound_user: String,
}

impl Default for Sms {
    fn default() -> Self {
        Self {
            provider: String::new(),
            base_url: "https://api.twilio.com".into(),
            account_sid: String::new(),
            auth_token: String::new(),
            from: String::new(),
            timeout_secs: 15,
            messages_per_second: 10,
            format: "form".into(),
            field_to: "To".into(),
            field_from: "From".into(),
            field_body: "Body".into(),
            inbound_secret: String::new(),
            inbound_auth: "hmac".into(),
            inbound_signature_header: "X-Signature".into(),
            inbound_user: "touchpoint".into(),
        }
    }
}

impl fmt::Debug for Sms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sms")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &hidden(&self.auth_token))
            .field("from", &self.from)
            .field("inbound_auth", &self.inbound_auth)
            .field("inbound_secret", &hidden(&self.inbound_secret))
            .finish_non_exhaustive()
    }
}

/// `[log]`: how log lines are written to standard error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Log {
    /// `text`: one readable line per event; `json`: one JSON object per line.
    pub format: String,
}

impl Default for Log {
    fn default() -> Self {
        Self {
            format: "text".into(),
        }
    }
}

/// The dispatcher.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Dispatch {
    /// How long a send may take before its outcome counts as unknown.
    pub lease_secs: i64,
    /// Attempts at a transient failure before the message fails.
    pub max_attempts: i32,
    /// Sends in flight at once.
    pub concurrency: usize,
}

impl Default for Dispatch {
    fn default() -> Self {
        Self {
            lease_secs: 300,
            max_attempts: 8,
            concurrency: 4,
        }
    }
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Database {
    /// `sqlite://PATH` (relative to the config file's folder) or `postgres://…`.
    pub url: String,
    /// Pool size for PostgreSQL; SQLite always uses one writer.
    pub max_connections: u32,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Hides the password of `scheme://user:password@host`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Outbox {
    /// Where messages go while no SMTP server or SMS gateway is configured.
    pub dir: PathBuf,
}

#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Http {
    pub listen: String,
    /// Where the endpoints are reachable from outside: unsubscribe links
    /// in emails point here.
    pub public_url: String,
    /// Signs unsubscribe links; empty: one is generated once and kept in the
    /// database, so every instance on it agrees.
    pub secret: String,
    /// How old the Overview's figures may be, in seconds (0: computed on
    /// every request).
    pub overview_max_age_secs: i64,
    /// `GET /metrics` wants `Authorization: Bearer` this; empty: open.
    pub metrics_token: String,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("secret", &hidden(&self.secret))
            .field("overview_max_age_secs", &self.overview_max_age_secs)
            .field("metrics_token", &hidden(&self.metrics_token))
            .finish()
    }
}

/// When a call whose outcome leaves it open comes back onto the list, in
/// days after the owner's day it was recorded on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Calls {
    pub no_answer_days: i64,
    pub left_message_days: i64,
    pub busy_days: i64,
}

impl Default for Calls {
    fn default() -> Self {
        let r = crate::rules::Returns::default();
        Self {
            no_answer_days: r.no_answer_days,
            left_message_days: r.left_message_days,
            busy_days: r.busy_days,
        }
    }
}

/// `[approval]`: messages that wait for an administrator's approval
/// before they go out.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Approval {
    /// Plan codes (as `plan` and the queue show them) whose messages wait.
    pub codes: Vec<String>,
    /// Channels (`email`, `sms`) whose messages wait.
    pub channels: Vec<String>,
    /// How long a message waits for approval, in hours.
    pub wait_hours: i64,
    /// What happens when nobody approved it in time: `expire` (it is
    /// discarded, its touchpoints cancelled) or `send`.
    pub on_deadline: String,
}

impl Default for Approval {
    fn default() -> Self {
        Self {
            codes: Vec::new(),
            channels: Vec::new(),
            wait_hours: 48,
            on_deadline: "expire".into(),
        }
    }
}

/// `[digest]`: the morning email that `touchpoint run` sends the service
/// team: the day's calls, what goes out, what is held for review.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Digest {
    /// Who gets it (email addresses); none: no digest.
    pub to: Vec<String>,
    /// When, `HH:MM` in `time_zone`.
    pub at: String,
    /// The IANA time zone of `at`; empty: `[plan] default_timezone`.
    pub time_zone: String,
}

impl Default for Digest {
    fn default() -> Self {
        Self {
            to: Vec::new(),
            at: "07:30".into(),
            time_zone: String::new(),
        }
    }
}

/// `touchpoint run`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Daemon {
    /// When the planning and dispatch pass runs: a cron expression with a
    /// seconds field, in UTC.
    pub dispatch_cron: String,
}

impl Default for Daemon {
    fn default() -> Self {
        Self {
            dispatch_cron: "0 */5 * * * *".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DistanceUnit {
    Km,
    Miles,
}

impl DistanceUnit {
    /// Kilometres in one unit.
    pub fn km(self) -> f64 {
        match self {
            DistanceUnit::Km => 1.0,
            DistanceUnit::Miles => 1.609_344,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Import {
    /// Region (ISO 3166 alpha-2) in which national phone numbers are read.
    pub default_region: String,
    /// Unit of the odometer and mileage columns of import files.
    pub distance_unit: DistanceUnit,
    /// Rows written per database statement.
    pub batch_size: usize,
    /// The import folder `touchpoint run` imports DMS exports from
    /// (relative to the config file's folder); empty: off.
    pub watch_dir: PathBuf,
    /// Seconds between two looks into the import folder.
    pub watch_every_secs: u64,
    /// Seconds a file's size and modification time must stay the same
    /// before it is imported.
    pub watch_settle_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Prediction {
    /// Rate used when neither readings nor a declared rate are known.
    pub default_monthly_km: f64,
    /// Two readings must be at least this far apart to measure a rate.
    pub min_span_days: i64,
    /// Weight of a reading halves with every this many days of age.
    pub half_life_days: f64,
    /// Extra reminder lead per day of forecast uncertainty (0 turns it off).
    pub lead_per_uncertainty_day: f64,
    /// Days of forecast uncertainty that the reminders' own lead absorbs;
    /// only the uncertainty beyond them adds lead.
    pub uncertainty_covered_days: f64,
    /// The most extra lead the uncertainty may add.
    pub max_extra_lead_days: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PlanSettings {
    /// The plan template; empty uses the built-in default (`config/plan.toml`).
    pub template: PathBuf,
    /// Touchpoints in each cycle.
    pub touchpoints_per_cycle: usize,
    /// Length of a cycle in months.
    pub cycle_months: u32,
    /// A touchpoint more than this many days past when first planned is skipped.
    pub grace_days: i64,
    /// Warranty length from the purchase date, in months.
    pub warranty_months: u32,
    /// Tyre-change dates, `MM-DD`.
    pub spring: String,
    pub autumn: String,
    /// Time zone for customers whose own is not known.
    pub default_timezone: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    pub interval_km: u32,
    pub interval_months: u32,
    pub first_interval_km: Option<u32>,
    pub first_interval_months: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSchedule {
    pub make: String,
    #[serde(default)]
    pub model: Option<String>,
    pub interval_km: u32,
    pub interval_months: u32,
    #[serde(default)]
    pub first_interval_km: Option<u32>,
    #[serde(default)]
    pub first_interval_months: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Caps {
    /// Emails and SMS together, per person, in any rolling 7 × 24 h.
    pub messages_per_7_days: u32,
    /// Emails and SMS together, per person, in any rolling 30 × 24 h.
    pub messages_per_30_days: u32,
    /// Call tasks per person in any rolling 14 × 24 h.
    pub calls_per_14_days: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QuietHours {
    pub email: Window,
    pub sms: Window,
    pub call: Window,
}

/// The local hours in which a channel may be used.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Window {
    /// `HH:MM`, recipient's local time.
    pub start: String,
    /// `HH:MM`, recipient's local time (exclusive).
    pub end: String,
    pub sundays: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database: Database {
                url: "sqlite://touchpoint.db".into(),
                max_connections: 8,
            },
            outbox: Outbox {
                dir: PathBuf::from("outbox"),
            },
            http: Http {
                listen: "127.0.0.1:8080".into(),
                public_url: "http://127.0.0.1:8080".into(),
                secret: String::new(),
                overview_max_age_secs: 300,
                metrics_token: String::new(),
            },
            import: Import::default(),
            prediction: Prediction::default(),
            plan: PlanSettings::default(),
            schedule: Schedule::default(),
            schedules: Vec::new(),
            caps: Caps::default(),
            quiet_hours: QuietHours::default(),
            dealer: Dealer::default(),
            email: Email::default(),
            sms: Sms::default(),
            dispatch: Dispatch::default(),
            daemon: Daemon::default(),
            calls: Calls::default(),
            approval: Approval::default(),
            digest: Digest::default(),
            log: Log::default(),
        }
    }
}

impl Default for Database {
    fn default() -> Self {
        Settings::default().database
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Settings::default().outbox
    }
}

impl Default for Http {
    fn default() -> Self {
        Settings::default().http
    }
}

impl Default for Import {
    fn default() -> Self {
        Self {
            default_region: "DE".into(),
            distance_unit: DistanceUnit::Km,
            batch_size: 500,
            watch_dir: PathBuf::new(),
            watch_every_secs: 5,
            watch_settle_secs: 10,
        }
    }
}

impl Default for Prediction {
    fn default() -> Self {
        Self {
            default_monthly_km: 1250.0,
            min_span_days: 30,
            half_life_days: 120.0,
            lead_per_uncertainty_day: 1.0,
            uncertainty_covered_days: 20.0,
            max_extra_lead_days: 30,
        }
    }
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self {
            template: PathBuf::new(),
            touchpoints_per_cycle: 36,
            cycle_months: 36,
            grace_days: 7,
            warranty_months: 36,
            spring: "04-01".into(),
            autumn: "10-15".into(),
            default_timezone: "Europe/Berlin".into(),
        }
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            interval_km: 15_000,
            interval_months: 12,
            first_interval_km: None,
            first_interval_months: None,
        }
    }
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            messages_per_7_days: 1,
            messages_per_30_days: 4,
            calls_per_14_days: 1,
        }
    }
}

impl Default for QuietHours {
    fn default() -> Self {
        Self {
            email: Window {
                start: "00:00".into(),
                end: "24:00".into(),
                sundays: true,
            },
            sms: Window::default(),
            call: Window::default(),
        }
    }
}

impl Default for Window {
    fn default() -> Self {
        Self {
            start: "09:00".into(),
            end: "20:00".into(),
            sundays: false,
        }
    }
}

/// A loaded, checked configuration and where it came from.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    /// The folder relative paths are resolved against.
    pub base_dir: PathBuf,
    pub source: Option<PathBuf>,
}

impl Config {
    /// Loads `path` (which must exist when given) over the defaults, then the
    /// environment, and validates the result.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(path, &[])
    }

    /// Like [`Config::load`], with command-line overrides `section.key=value`
    /// applied last.
    pub fn load_with(
        path: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        Self::layered(path, Env::prefixed("TOUCHPOINT__").split("__"), overrides)
    }

    #[cfg(test)]
    fn load_with_env(path: Option<&Path>, env: Env) -> Result<Self, ConfigError> {
        Self::layered(path, env, &[])
    }

    fn layered(
        path: Option<&Path>,
        env: Env,
        overrides: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = path {
            if !path.is_file() {
                return Err(ConfigError::new(
                    path.display().to_string(),
                    "the configuration file does not exist",
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(AsWritten(env));
        for (key, value) in overrides {
            figment = figment.merge(Serialized::default(key, as_written(value)));
        }
        // Values from the environment and the command line are text; numbers
        // and booleans are read from it where a key wants one.
        let settings: Settings = figment.extract_lossy().map_err(from_figment)?;
        let base_dir = path
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let config = Self {
            settings,
            base_dir,
            source: path.map(Path::to_path_buf),
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks every value a command relies on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.settings;
        if !(s.database.url.starts_with("sqlite:") || s.database.url.starts_with("postgres")) {
            return Err(ConfigError::new(
                "database.url",
                "must start with sqlite:// or postgres://",
            ));
        }
        crate::domain::parse_region(&s.import.default_region)
            .map_err(|e| ConfigError::new("import.default_region", e.0))?;
        for (key, days) in [
            ("calls.no_answer_days", s.calls.no_answer_days),
            ("calls.left_message_days", s.calls.left_message_days),
            ("calls.busy_days", s.calls.busy_days),
        ] {
            if !(0..=365).contains(&days) {
                return Err(ConfigError::new(key, "must be between 0 and 365 days"));
            }
        }
        if !(0..=86_400).contains(&s.http.overview_max_age_secs) {
            return Err(ConfigError::new(
                "http.overview_max_age_secs",
                "must be between 0 and 86400",
            ));
        }
        let a = &s.approval;
        if !(1..=24 * 90).contains(&a.wait_hours) {
            return Err(ConfigError::new(
                "approval.wait_hours",
                "must be between 1 and 2160 (90 days)",
            ));
        }
        if !matches!(a.on_deadline.as_str(), "expire" | "send") {
            return Err(ConfigError::new(
                "approval.on_deadline",
                "must be \"expire\" or \"send\"",
            ));
        }
        for (i, c) in a.channels.iter().enumerate() {
            if !matches!(c.as_str(), "email" | "sms") {
                return Err(ConfigError::new(
                    format!("approval.channels[{i}]"),
                    format!("'{c}' is not email or sms (call tasks are reviewed by whoever calls)"),
                ));
            }
        }
        if !a.codes.is_empty() {
            let template = self.plan_template()?;
            for (i, code) in a.codes.iter().enumerate() {
                let key = || format!("approval.codes[{i}]");
                match template.entries.iter().find(|e| &e.code == code) {
                    None => {
                        return Err(ConfigError::new(
                            key(),
                            format!("'{code}' is not a code of the plan template"),
                        ));
                    }
                    Some(e) if e.channel == crate::domain::Channel::Call => {
                        return Err(ConfigError::new(
                            key(),
                            format!(
                                "'{code}' is a call (call tasks are reviewed by whoever calls)"
                            ),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        if s.import.batch_size == 0 {
            return Err(ConfigError::new("import.batch_size", "must be at least 1"));
        }
        if !(1..=3600).contains(&s.import.watch_every_secs) {
            return Err(ConfigError::new(
                "import.watch_every_secs",
                "must be between 1 and 3600",
            ));
        }
        if s.import.watch_settle_secs > 86_400 {
            return Err(ConfigError::new(
                "import.watch_settle_secs",
                "must be between 0 and 86400",
            ));
        }
        let p = &s.prediction;
        if !(p.default_monthly_km.is_finite() && p.default_monthly_km > 0.0) {
            return Err(ConfigError::new(
                "prediction.default_monthly_km",
                "must be a positive number",
            ));
        }
        if p.min_span_days < 1 {
            return Err(ConfigError::new(
                "prediction.min_span_days",
                "must be at least 1",
            ));
        }
        if !(p.half_life_days.is_finite() && p.half_life_days > 0.0) {
            return Err(ConfigError::new(
                "prediction.half_life_days",
                "must be positive",
            ));
        }
        if !(p.lead_per_uncertainty_day.is_finite() && p.lead_per_uncertainty_day >= 0.0) {
            return Err(ConfigError::new(
                "prediction.lead_per_uncertainty_day",
                "must be zero or positive",
            ));
        }
        if !(p.uncertainty_covered_days.is_finite() && p.uncertainty_covered_days >= 0.0) {
            return Err(ConfigError::new(
                "prediction.uncertainty_covered_days",
                "must be zero or positive",
            ));
        }
        if p.max_extra_lead_days < 0 {
            return Err(ConfigError::new(
                "prediction.max_extra_lead_days",
                "must be zero or positive",
            ));
        }
        let plan = &s.plan;
        if plan.touchpoints_per_cycle == 0 {
            return Err(ConfigError::new(
                "plan.touchpoints_per_cycle",
                "must be at least 1",
            ));
        }
        if plan.cycle_months == 0 {
            return Err(ConfigError::new("plan.cycle_months", "must be at least 1"));
        }
        if plan.grace_days < 0 {
            return Err(ConfigError::new(
                "plan.grace_days",
                "must be zero or positive",
            ));
        }
        parse_month_day(&plan.spring).map_err(|r| ConfigError::new("plan.spring", r))?;
        parse_month_day(&plan.autumn).map_err(|r| ConfigError::new("plan.autumn", r))?;
        crate::domain::parse_timezone(&plan.default_timezone)
            .map_err(|e| ConfigError::new("plan.default_timezone", e.0))?;
        check_schedule(
            "schedule",
            s.schedule.interval_km,
            s.schedule.interval_months,
            s.schedule.first_interval_km,
            s.schedule.first_interval_months,
        )?;
        for (i, m) in s.schedules.iter().enumerate() {
            if m.make.trim().is_empty() {
                return Err(ConfigError::new(format!("schedules[{i}].make"), "is empty"));
            }
            check_schedule(
                &format!("schedules[{i}]"),
                m.interval_km,
                m.interval_months,
                m.first_interval_km,
                m.first_interval_months,
            )?;
        }
        for (name, w) in [
            ("email", &s.quiet_hours.email),
            ("sms", &s.quiet_hours.sms),
            ("call", &s.quiet_hours.call),
        ] {
            let start = parse_hhmm(&w.start)
                .map_err(|r| ConfigError::new(format!("quiet_hours.{name}.start"), r))?;
            let end = parse_hhmm(&w.end)
                .map_err(|r| ConfigError::new(format!("quiet_hours.{name}.end"), r))?;
            if start >= end {
                return Err(ConfigError::new(
                    format!("quiet_hours.{name}.end"),
                    "must be later than start",
                ));
            }
        }
        if !matches!(s.sms.format.as_str(), "form" | "json") {
            return Err(ConfigError::new(
                "sms.format",
                "must be \"form\" or \"json\"",
            ));
        }
        if !matches!(s.sms.provider.as_str(), "" | "twilio" | "http") {
            return Err(ConfigError::new(
                "sms.provider",
                "must be empty (outbox folder), \"twilio\" or \"http\"",
            ));
        }
        if !s.sms.provider.is_empty() {
            if !(s.sms.base_url.starts_with("http://") || s.sms.base_url.starts_with("https://")) {
                return Err(ConfigError::new(
                    "sms.base_url",
                    "must be an http:// or https:// URL",
                ));
            }
            if s.sms.from.trim().is_empty() {
                return Err(ConfigError::new(
                    "sms.from",
                    "is required with an SMS provider",
                ));
            }
        }
        let digest = &s.digest;
        match parse_hhmm(&digest.at) {
            Ok(minutes) if minutes < 24 * 60 => {}
            Ok(_) => return Err(ConfigError::new("digest.at", "must be before 24:00")),
            Err(r) => return Err(ConfigError::new("digest.at", r)),
        }
        if !digest.time_zone.is_empty() {
            crate::domain::parse_timezone(&digest.time_zone)
                .map_err(|e| ConfigError::new("digest.time_zone", e.0))?;
        }
        for (i, to) in digest.to.iter().enumerate() {
            crate::domain::EmailAddress::parse(to)
                .map_err(|e| ConfigError::new(format!("digest.to[{i}]"), e.0))?;
        }
        if !matches!(s.log.format.as_str(), "text" | "json") {
            return Err(ConfigError::new(
                "log.format",
                "must be \"text\" or \"json\"",
            ));
        }
        if !matches!(s.sms.inbound_auth.as_str(), "hmac" | "basic") {
            return Err(ConfigError::new(
                "sms.inbound_auth",
                "must be \"hmac\" or \"basic\"",
            ));
        }
        if s.sms.inbound_auth == "hmac"
            && axum::http::HeaderName::from_bytes(s.sms.inbound_signature_header.as_bytes())
                .is_err()
        {
            return Err(ConfigError::new(
                "sms.inbound_signature_header",
                "is not an HTTP header name",
            ));
        }
        if s.sms.inbound_auth == "basic"
            && (s.sms.inbound_user.is_empty() || s.sms.inbound_user.contains(':'))
        {
            return Err(ConfigError::new(
                "sms.inbound_user",
                "must be a user name without ':'",
            ));
        }
        if s.sms.provider == "twilio"
            && (s.sms.account_sid.is_empty() || s.sms.auth_token.is_empty())
        {
            return Err(ConfigError::new(
                "sms.account_sid",
                "twilio needs account_sid and auth_token",
            ));
        }
        if s.email.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "email.from",
                "is not a mailbox such as \"Service <service@dealer.example>\"",
            ));
        }
        if !s.email.smtp_url.is_empty() {
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&s.email.smtp_url)
                .map_err(|e| ConfigError::new("email.smtp_url", e.to_string()))?;
        }
        if s.dispatch.lease_secs < 10 {
            return Err(ConfigError::new(
                "dispatch.lease_secs",
                "must be at least 10",
            ));
        }
        if s.dispatch.max_attempts < 1 {
            return Err(ConfigError::new(
                "dispatch.max_attempts",
                "must be at least 1",
            ));
        }
        if !(1..=64).contains(&s.dispatch.concurrency) {
            return Err(ConfigError::new(
                "dispatch.concurrency",
                "must be between 1 and 64",
            ));
        }
        if s.http.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::new(
                "http.listen",
                "is not an address such as 127.0.0.1:8080",
            ));
        }
        if !(s.http.public_url.starts_with("http://") || s.http.public_url.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "http.public_url",
                "must be an http:// or https:// URL",
            ));
        }
        if !s.http.secret.is_empty() && s.http.secret.len() < 16 {
            return Err(ConfigError::new(
                "http.secret",
                "must be at least 16 characters (or empty to generate one)",
            ));
        }
        self.plan_template()?;
        Ok(())
    }

    /// A path from the configuration, resolved against the config file's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// The database URL with a relative SQLite path resolved.
    pub fn database_url(&self) -> String {
        let url = &self.settings.database.url;
        match url.strip_prefix("sqlite://") {
            Some(rest) if !rest.starts_with('/') && !rest.starts_with(":memory:") => {
                format!("sqlite://{}", self.resolve(Path::new(rest)).display())
            }
            _ => url.clone(),
        }
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.resolve(&self.settings.outbox.dir)
    }

    /// The import folder, resolved; `None` when `[import] watch_dir` is
    /// empty (the folder is not watched).
    pub fn watch_dir(&self) -> Option<PathBuf> {
        let dir = &self.settings.import.watch_dir;
        (!dir.as_os_str().is_empty()).then(|| self.resolve(dir))
    }

    /// The plan template text: the configured file, or the built-in default.
    pub fn plan_template_text(&self) -> Result<String, ConfigError> {
        let template = &self.settings.plan.template;
        if template.as_os_str().is_empty() {
            return Ok(DEFAULT_PLAN.to_string());
        }
        let path = self.resolve(template);
        std::fs::read_to_string(&path).map_err(|e| {
            ConfigError::new(
                "plan.template",
                format!("cannot read {}: {e}", path.display()),
            )
        })
    }

    /// The parsed plan template.
    pub fn plan_template(&self) -> Result<crate::plan::Template, ConfigError> {
        let text = self.plan_template_text()?;
        crate::plan::Template::parse(&text)
            .map_err(|e| ConfigError::new("plan.template", e.to_string()))
    }

    /// The service schedule of a make and model.
    pub fn schedule_for(&self, make: &str, model: &str) -> crate::predict::Schedule {
        let s = &self.settings;
        let found = s.schedules.iter().find(|m| {
            m.make.eq_ignore_ascii_case(make)
                && m.model
                    .as_deref()
                    .is_none_or(|mm| mm.eq_ignore_ascii_case(model))
        });
        match found {
            Some(m) => crate::predict::Schedule {
                interval_km: m.interval_km,
                interval_months: m.interval_months,
                first_interval_km: m.first_interval_km,
                first_interval_months: m.first_interval_months,
            },
            None => crate::predict::Schedule {
                interval_km: s.schedule.interval_km,
                interval_months: s.schedule.interval_months,
                first_interval_km: s.schedule.first_interval_km,
                first_interval_months: s.schedule.first_interval_months,
            },
        }
    }

    /// The dispatch step's settings, with the message texts.
    pub fn rulebook<'a>(
        &self,
        catalog: &'a crate::messages::Catalog,
    ) -> crate::dispatch::Rulebook<'a> {
        let dealer = &self.settings.dealer;
        crate::dispatch::Rulebook {
            policy: self.settings.policy(),
            catalog,
            dealer: crate::dispatch::Dealer {
                name: dealer.name.clone(),
                phone: dealer.phone.clone(),
                booking_url: dealer.booking_url.clone(),
            },
            lease: chrono::Duration::seconds(self.settings.dispatch.lease_secs),
            default_tz: self.default_timezone(),
            approval: self.approval(),
        }
    }

    /// Which messages wait for approval, and for how long.
    pub fn approval(&self) -> crate::dispatch::Approval {
        let a = &self.settings.approval;
        crate::dispatch::Approval {
            codes: a.codes.clone(),
            channels: a
                .channels
                .iter()
                .map(|c| crate::domain::Channel::of_stored(c))
                .collect(),
            wait: chrono::Duration::hours(a.wait_hours),
            send_at_deadline: a.on_deadline == "send",
        }
    }

    /// When the digest goes out: `[digest] at` in `[digest] time_zone`
    /// (or the default time zone).
    pub fn digest_time(&self) -> (chrono::NaiveTime, Tz) {
        let d = &self.settings.digest;
        let at = parse_hhmm(&d.at)
            .ok()
            .and_then(|m| chrono::NaiveTime::from_hms_opt(m / 60, m % 60, 0))
            .unwrap_or(chrono::NaiveTime::MIN);
        let tz = crate::domain::parse_timezone(&d.time_zone).unwrap_or(self.default_timezone());
        (at, tz)
    }

    pub fn default_timezone(&self) -> Tz {
        crate::domain::parse_timezone(&self.settings.plan.default_timezone).unwrap_or(Tz::UTC)
    }
}

fn check_schedule(
    key: &str,
    km: u32,
    months: u32,
    first_km: Option<u32>,
    first_months: Option<u32>,
) -> Result<(), ConfigError> {
    if km == 0 {
        return Err(ConfigError::new(
            format!("{key}.interval_km"),
            "must be at least 1",
        ));
    }
    if months == 0 {
        return Err(ConfigError::new(
            format!("{key}.interval_months"),
            "must be at least 1",
        ));
    }
    if first_km == Some(0) {
        return Err(ConfigError::new(
            format!("{key}.first_interval_km"),
            "must be at least 1",
        ));
    }
    if first_months == Some(0) {
        return Err(ConfigError::new(
            format!("{key}.first_interval_months"),
            "must be at least 1",
        ));
    }
    Ok(())
}

/// `MM-DD` → (month, day); Feb 29 is refused (it is not in every year).
pub fn parse_month_day(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("'{s}' is not a date in MM-DD form");
    let (m, d) = s.split_once('-').ok_or_else(bad)?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    let d: u32 = d.parse().map_err(|_| bad())?;
    if chrono::NaiveDate::from_ymd_opt(2023, m, d).is_none() {
        return Err(bad());
    }
    Ok((m, d))
}

/// `HH:MM` → minutes after midnight; `24:00` is the end of the day.
pub fn parse_hhmm(s: &str) -> Result<u32, String> {
    let bad = || format!("'{s}' is not a time in HH:MM form");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// A value from the environment or the command line as the sysadmin wrote
/// it: text (`+14155550000`, `007`, `true` stay text until a key asks for a
/// number or a boolean), except a `[…]` list or `{…}` table, which is read
/// as structured data (e.g. `[[schedules]]` from one variable), and text in
/// TOML quotes (`"+14155550000"`, as `--set 'http.listen="…"'` has always
/// been written), which is the text inside them.
fn as_written(text: &str) -> Value {
    let parsed = || -> Value { text.parse().unwrap_or_else(|never| match never {}) };
    let trimmed = text.trim();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        return parsed();
    }
    let quoted = trimmed.len() >= 2 && trimmed.starts_with('"') && trimmed.ends_with('"');
    if quoted && let value @ Value::String(..) = parsed() {
        return value;
    }
    Value::from(text.to_string())
}

/// The environment provider with its values taken [`as_written`] (figment's
/// own parses `+14155550000` as a number and drops the plus).
struct AsWritten(Env);

impl Provider for AsWritten {
    fn metadata(&self) -> Metadata {
        self.0.metadata()
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut dict = Dict::new();
        for (key, value) in self.0.iter() {
            insert(&mut dict, key.as_str(), as_written(&value));
        }
        Ok(Profile::Default.collect(dict))
    }
}

/// Puts `value` at the dotted `key` path into `dict`, making the tables on
/// the way (a later value for the same key wins).
fn insert(dict: &mut Dict, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            dict.insert(key.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = dict
                .entry(head.to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if !matches!(entry, Value::Dict(..)) {
                *entry = Value::from(Dict::new());
            }
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            }
        }
    }
}

fn from_figment(e: figment::Error) -> ConfigError {
    let key = if e.path.is_empty() {
        "(top level)".to_string()
    } else {
        e.path.join(".")
    };
    let origin = e
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(src) => format!(" (from {src})"),
            None => format!(" (from {})", m.name),
        })
        .unwrap_or_default();
    ConfigError::new(key, format!("{}{origin}", e.kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("touchpoint.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn shipped_example_is_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), EXAMPLE);
        let loaded = Config::load_with_env(Some(&path), Env::prefixed("TP_TEST_NONE__")).unwrap();
        assert_eq!(loaded.settings, Settings::default());
    }

    /// Every `section.key` of a TOML table with its value; tables are walked
    /// into, arrays of tables are values like any other.
    fn leaves(prefix: &str, table: &toml::Table, out: &mut BTreeMap<String, toml::Value>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::Table(inner) => leaves(&path, inner, out),
                other => {
                    out.insert(path, other.clone());
                }
            }
        }
    }

    /// The shipped file on its own, with no defaults underneath: each default
    /// key is written in it with the default value, and it has no other key.
    /// Only what has no value by default is left to a comment (the optional
    /// first-service intervals, the empty list of per-make schedules).
    #[test]
    fn shipped_example_lists_every_default_key_with_its_value() {
        let file: toml::Table = toml::from_str(EXAMPLE).unwrap();
        let defaults = match toml::Value::try_from(Settings::default()).unwrap() {
            toml::Value::Table(t) => t,
            other => panic!("defaults serialize as {other:?}"),
        };
        let (mut in_file, mut by_default) = (BTreeMap::new(), BTreeMap::new());
        leaves("", &file, &mut in_file);
        leaves("", &defaults, &mut by_default);
        by_default.retain(|_, v| !matches!(v, toml::Value::Array(a) if a.is_empty()));
        let mut wrong = Vec::new();
        for (key, value) in &by_default {
            match in_file.get(key) {
                None => wrong.push(format!("{key}: missing from the file (default {value})")),
                Some(v) if v != value => {
                    wrong.push(format!("{key}: the file says {v}, the default is {value}"))
                }
                Some(_) => {}
            }
        }
        for key in in_file.keys().filter(|k| !by_default.contains_key(*k)) {
            wrong.push(format!("{key}: in the file but not a default"));
        }
        assert!(wrong.is_empty(), "config/touchpoint.toml: {wrong:#?}");
        assert!(by_default.len() > 50, "{} keys", by_default.len());
        // Read alone, it is the defaults too.
        assert_eq!(
            toml::from_str::<Settings>(EXAMPLE).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "[http]\nlisten = \"127.0.0.1:9\"\nlisen = 1\n");
        let err = Config::load_with_env(Some(&path), Env::prefixed("TP_TEST_NONE__")).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn environment_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "[http]\nlisten = \"127.0.0.1:9\"\n");
        figment::Jail::expect_with(|jail| {
            jail.set_env("TPT__HTTP__LISTEN", "0.0.0.0:1234");
            let c = Config::load_with_env(Some(&path), Env::prefixed("TPT__").split("__")).unwrap();
            assert_eq!(c.settings.http.listen, "0.0.0.0:1234");
            Ok(())
        });
    }

    #[test]
    fn invalid_values_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        for (text, key) in [
            (
                "[prediction]\ndefault_monthly_km = -3\n",
                "prediction.default_monthly_km",
            ),
            (
                "[import]\ndefault_region = \"XX\"\n",
                "import.default_region",
            ),
            ("[schedule]\ninterval_km = 0\n", "schedule.interval_km"),
            (
                "[quiet_hours.sms]\nstart = \"21:00\"\nend = \"20:00\"\n",
                "quiet_hours.sms.end",
            ),
            (
                "[prediction]\ndefault_monthly_km = \"lots\"\n",
                "prediction.default_monthly_km",
            ),
            (
                "[approval]\nchannels = [\"sms\", \"call\"]\n",
                "approval.channels[1]",
            ),
            (
                "[approval]\ncodes = [\"no-such-code\"]\n",
                "approval.codes[0]",
            ),
            (
                "[approval]\ncodes = [\"cycle-trade-in\", \"onboarding-call\"]\n",
                "approval.codes[1]",
            ),
            (
                "[approval]\non_deadline = \"later\"\n",
                "approval.on_deadline",
            ),
            ("[approval]\nwait_hours = 0\n", "approval.wait_hours"),
            (
                "[import]\nwatch_every_secs = 0\n",
                "import.watch_every_secs",
            ),
            (
                "[import]\nwatch_settle_secs = 90000\n",
                "import.watch_settle_secs",
            ),
            ("[digest]\nat = \"24:00\"\n", "digest.at"),
            ("[digest]\nat = \"7.30\"\n", "digest.at"),
            (
                "[digest]\ntime_zone = \"Europe/Hamburg\"\n",
                "digest.time_zone",
            ),
            (
                "[digest]\nto = [\"lead@dealer.example\", \"nobody\"]\n",
                "digest.to[1]",
            ),
        ] {
            let path = write(dir.path(), text);
            let err =
                Config::load_with_env(Some(&path), Env::prefixed("TP_TEST_NONE__")).unwrap_err();
            assert_eq!(err.key, key, "{text}: {err}");
        }
    }

    #[test]
    fn command_line_overrides_come_last() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "[plan]\ngrace_days = 3\n");
        let set = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let c = Config::layered(
            Some(&path),
            Env::prefixed("TP_TEST_NONE__"),
            &set("plan.grace_days", "10"),
        )
        .unwrap();
        assert_eq!(c.settings.plan.grace_days, 10);
        let c = Config::layered(
            Some(&path),
            Env::prefixed("TP_TEST_NONE__"),
            &set("http.listen", "0.0.0.0:81"),
        )
        .unwrap();
        assert_eq!(c.settings.http.listen, "0.0.0.0:81");
        let err = Config::layered(
            Some(&path),
            Env::prefixed("TP_TEST_NONE__"),
            &set("plan.grace", "1"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("grace"), "{err}");
    }

    /// Every text key of the settings, as dotted paths (lists excluded).
    fn text_keys() -> Vec<String> {
        fn walk(prefix: &str, value: &toml::Value, out: &mut Vec<String>) {
            match value {
                toml::Value::Table(t) => {
                    for (k, v) in t {
                        let path = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        walk(&path, v, out);
                    }
                }
                toml::Value::String(_) => out.push(prefix.to_string()),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(
            "",
            &toml::Value::try_from(Settings::default()).unwrap(),
            &mut out,
        );
        out
    }

    /// The text at a dotted path of loaded settings.
    fn text_at(settings: &Settings, key: &str) -> Option<String> {
        let mut value = toml::Value::try_from(settings).unwrap();
        for part in key.split('.') {
            value = value.get(part)?.clone();
        }
        value.as_str().map(str::to_string)
    }

    /// Loads the defaults with `key` set to `text` from the environment and,
    /// apart, from the command line; both must read it alike.
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn load_text(key: &str, text: &str) -> Result<Config, ConfigError> {
        let mut from_env = None;
        figment::Jail::expect_with(|jail| {
            jail.set_env(format!("TPS__{}", key.replace('.', "__")), text);
            from_env = Some(Config::layered(
                None,
                Env::prefixed("TPS__").split("__"),
                &[],
            ));
            Ok(())
        });
        let from_env = from_env.unwrap();
        let from_set = Config::layered(
            None,
            Env::prefixed("TP_TEST_NONE__"),
            &[(key.to_string(), text.to_string())],
        );
        // Alike but for where the value came from, which the error names.
        let reason = |e: &ConfigError| {
            let cut = e.reason.find(" (from ").unwrap_or(e.reason.len());
            (e.key.clone(), e.reason[..cut].to_string())
        };
        assert_eq!(
            from_env.as_ref().map(|c| &c.settings).map_err(reason),
            from_set.as_ref().map(|c| &c.settings).map_err(reason),
            "{key}"
        );
        from_env
    }

    #[test]
    fn every_text_key_takes_digits_as_written() {
        let keys = text_keys();
        assert!(keys.len() > 20, "{keys:?}");
        let mut taken = Vec::new();
        for key in &keys {
            for text in ["00123456789012345678", "+14155550000"] {
                match load_text(key, text) {
                    Ok(c) => {
                        assert_eq!(text_at(&c.settings, key).as_deref(), Some(text), "{key}");
                        taken.push(key.as_str());
                    }
                    // A key with a format of its own (a URL, a time zone, an
                    // hour) may refuse digits, for that reason, never as a
                    // number where text was wanted.
                    Err(e) => {
                        assert_eq!(e.key, *key, "{key}={text}: {e}");
                        assert!(!e.reason.contains("invalid type"), "{key}={text}: {e}");
                    }
                }
            }
        }
        for key in [
            "sms.from",
            "sms.account_sid",
            "sms.auth_token",
            "sms.field_to",
            "sms.field_from",
            "sms.field_body",
            "sms.inbound_secret",
            "sms.inbound_user",
            "http.secret",
            "http.metrics_token",
            "dealer.name",
            "dealer.phone",
            "outbox.dir",
        ] {
            assert!(taken.contains(&key), "{key} refused digits: {taken:?}");
        }
    }

    #[test]
    fn text_in_toml_quotes_is_the_text_inside() {
        let c = load_text("sms.from", "\"+14155550000\"").unwrap();
        assert_eq!(c.settings.sms.from, "+14155550000");
        let c = load_text("http.listen", "\"127.0.0.1:9\"").unwrap();
        assert_eq!(c.settings.http.listen, "127.0.0.1:9");
        // A quote inside the text is kept.
        let c = load_text("dealer.name", "Autohaus \"Nord\"").unwrap();
        assert_eq!(c.settings.dealer.name, "Autohaus \"Nord\"");
    }

    #[test]
    fn numbers_and_booleans_are_read_from_text_and_checked() {
        let c = load_text("caps.messages_per_7_days", "2").unwrap();
        assert_eq!(c.settings.caps.messages_per_7_days, 2);
        let c = load_text("quiet_hours.sms.sundays", "true").unwrap();
        assert!(c.settings.quiet_hours.sms.sundays);
        let e = load_text("caps.messages_per_7_days", "two").unwrap_err();
        assert_eq!(e.key, "caps.messages_per_7_days");
        let e = load_text("quiet_hours.sms.sundays", "maybe").unwrap_err();
        assert_eq!(e.key, "quiet_hours.sms.sundays");
        let e = load_text("schedule.interval_km", "0").unwrap_err();
        assert_eq!(e.key, "schedule.interval_km");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's own error type
    fn a_list_of_schedules_is_read_from_one_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "TPL__SCHEDULES",
                r#"[{make = "Skoda", interval_km = 30000, interval_months = 24}]"#,
            );
            let c = Config::layered(None, Env::prefixed("TPL__").split("__"), &[]).unwrap();
            assert_eq!(c.schedule_for("Skoda", "Fabia").interval_km, 30_000);
            Ok(())
        });
    }

    #[test]
    fn the_defaults_give_the_decisions_their_own_defaults() {
        let s = Settings::default();
        assert_eq!(s.plan_params(), crate::plan::PlanParams::default());
        assert_eq!(s.policy(), crate::rules::Policy::default());
    }

    #[test]
    fn model_schedules_match_make_then_model() {
        let mut c = Config::load_with_env(None, Env::prefixed("TP_TEST_NONE__")).unwrap();
        c.settings.schedules = vec![ModelSchedule {
            make: "Skoda".into(),
            model: Some("Octavia".into()),
            interval_km: 30_000,
            interval_months: 24,
            first_interval_km: None,
            first_interval_months: None,
        }];
        assert_eq!(c.schedule_for("SKODA", "octavia").interval_km, 30_000);
        assert_eq!(c.schedule_for("Skoda", "Fabia").interval_km, 15_000);
    }

    #[test]
    fn the_import_folder_is_off_by_default_and_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "");
        let c = Config::load_with_env(Some(&path), Env::prefixed("TP_TEST_NONE__")).unwrap();
        assert_eq!(c.watch_dir(), None);
        let path = write(dir.path(), "[import]\nwatch_dir = \"import\"\n");
        let c = Config::load_with_env(Some(&path), Env::prefixed("TP_TEST_NONE__")).unwrap();
        assert_eq!(c.watch_dir(), Some(dir.path().join("import")));
        let path = write(dir.path(), "[import]\nwatch_dir = \"/srv/dms\"\n");
        let c = Config::load_with_env(Some(&path), Env::prefixed("TP_TEST_NONE__")).unwrap();
        assert_eq!(c.watch_dir(), Some(PathBuf::from("/srv/dms")));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
