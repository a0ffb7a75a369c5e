//! The application layer: each use case once, over the store, the pure
//! decisions and the transports. The command line, the daemon and the HTTP
//! endpoints call these and nothing below them. A use case checks its
//! input, asks the pure decisions, and has the store carry out the result;
//! on bad input it changes nothing.

pub mod actions;
pub mod calls;
pub mod customers;
pub mod desk;
pub mod digest;
mod dispatch;
pub mod facts;
pub mod held;
mod import;
pub mod opt_outs;
pub mod overview;
pub mod page;
pub mod people;
mod planning;
pub mod sessions;
pub mod show;
pub mod simulate;
pub mod status;
pub mod timeline;
pub mod touchpoints;
pub mod visits;
pub mod watch;

pub use calls::{
    CLAIM_LAPSES, Call, OutcomeReport, call_list, claim, record_call_outcome, unclaim,
};
pub use dispatch::{Dispatcher, reconsider_deferred};
pub use import::{import_file, import_file_as, import_upload};
pub use planning::{PassReport, planning_pass};
pub use show::{NextService, PlanAnswer, QueueAnswer, next_service, queue, vehicle_plan};

use crate::backtest::BacktestError;
use crate::config::{Config, ConfigError};
use crate::import::ImportError;
use crate::store::{self, StoreError};
use sea_orm::DatabaseConnection;

/// A command's failure and its exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Exit 64: the command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// Exit 65: the input data is invalid.
    #[error("{0}")]
    Data(String),
    /// Exit 65: rows of a file are invalid, each as `FILE:LINE: column: reason`.
    #[error("{}", .0.join("\n"))]
    Rows(Vec<String>),
    /// Exit 65: what the input names does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Exit 65: what the input names is not in a state that allows it.
    #[error("{0}")]
    Conflict(String),
    /// Exit 1: the actor's role does not allow it.
    #[error("{0}")]
    Forbidden(String),
    /// Exit 78: the configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Exit 1: anything else.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Other(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 64,
            Failure::Data(_) | Failure::Rows(_) | Failure::NotFound(_) | Failure::Conflict(_) => 65,
            Failure::Config(_) => 78,
            Failure::Store(_) | Failure::Forbidden(_) | Failure::Other(_) => 1,
        }
    }
}

impl From<BacktestError> for Failure {
    fn from(e: BacktestError) -> Self {
        match e {
            BacktestError::Config(c) => Failure::Config(c),
            BacktestError::BadOption(_) => Failure::Usage(e.to_string()),
            BacktestError::Invalid(_) | BacktestError::Read { .. } => Failure::Data(e.to_string()),
        }
    }
}

impl From<ImportError> for Failure {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Store(s) => Failure::Store(s),
            ImportError::Invalid(rows) => Failure::Rows(rows),
            other => Failure::Data(other.to_string()),
        }
    }
}

/// What `dispatch` did: the planning pass, then the dispatch pass.
#[derive(serde::Serialize)]
pub struct PassOutput {
    pub planning: PassReport,
    pub dispatch: crate::dispatch::DispatchReport,
}

/// One planning and dispatch pass at `now`: what `dispatch` does once and
/// the daemon on every tick.
pub async fn pass(
    db: &DatabaseConnection,
    config: &Config,
    transports: &crate::dispatch::Transports,
    catalog: &crate::messages::Catalog,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PassOutput, Failure> {
    let planning = planning_pass(db, config, now).await?;
    let dispatch = Dispatcher::new(db, config, transports, catalog)
        .pass(now)
        .await?;
    let did = status::PassRecord {
        vehicles_planned: planning.vehicles_planned,
        sent: dispatch.sent.clone(),
        deferred: dispatch.deferred,
        suppressed: dispatch.suppressed,
        held: dispatch.held,
    };
    status::record_pass(db, &did, now).await?;
    Ok(PassOutput { planning, dispatch })
}

/// What a pass sends with, besides the database: the transports (their
/// emails carrying signed unsubscribe links), the links themselves (the
/// daemon's endpoints check them) and the message texts.
pub struct Senders {
    pub transports: crate::dispatch::Transports,
    pub links: crate::unsubscribe::Links,
    pub catalog: crate::messages::Catalog,
}

/// The configured transports, links and texts.
pub async fn senders(db: &DatabaseConnection, config: &Config) -> Result<Senders, Failure> {
    let links = unsubscribe_links(db, config).await?;
    let catalog = crate::messages::Catalog::builtin().map_err(|e| Failure::Other(e.to_string()))?;
    let transports =
        crate::dispatch::Transports::from_config(config)?.with_unsubscribe_links(links.clone());
    Ok(Senders {
        transports,
        links,
        catalog,
    })
}

/// What a test message through a configured transport came to.
#[derive(Debug, serde::Serialize)]
pub struct TestSent {
    pub channel: String,
    pub recipient: String,
    /// `smtp`, `sms-gateway` or `outbox` (no server configured: a file).
    pub transport: &'static str,
    /// `sent`, `transient` (worth another try), `permanent`, `opted_out` or
    /// `unreachable` (no connection, TLS or authentication failed).
    pub outcome: &'static str,
    /// The provider's id of the message, when it gave one.
    pub provider_ref: Option<String>,
    /// The provider's answer when it refused.
    pub reason: Option<String>,
}

/// Sends one test message to `recipient` on `channel` (email or SMS)
/// through the configured transport, as a pass would, outside any
/// database: `send-test-email`, `send-test-sms`. Bad input (65) for an
/// address or number that is none; an answer other than sent is a failure
/// (1) after the answer is known.
pub async fn send_test(
    config: &Config,
    channel: crate::domain::Channel,
    recipient: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<TestSent, Failure> {
    use crate::dispatch::{Outcome, Outgoing, Transport};
    use crate::domain::Channel;
    let recipient = match channel {
        Channel::Email => crate::domain::EmailAddress::parse(recipient)
            .map(|e| e.as_str().to_string())
            .map_err(|e| Failure::Data(format!("address: {}", e.0)))?,
        _ => {
            let region = crate::domain::parse_region(&config.settings.import.default_region).ok();
            crate::domain::PhoneNumber::parse(recipient, region)
                .map(|p| p.as_str().to_string())
                .map_err(|e| Failure::Data(format!("number: {}", e.0)))?
        }
    };
    let transports = crate::dispatch::Transports::from_config(config)?;
    let Some(transport) = transports.for_channel(channel) else {
        return Err(Failure::Usage(format!("no test for the {channel} channel")));
    };
    let dealer = &config.settings.dealer;
    let message = Outgoing {
        key: format!("test:{}", now.timestamp_micros()),
        channel,
        recipient: recipient.clone(),
        subject: format!("{}: a test message", dealer.name),
        body: format!(
            "A test message from touchpoint for {}, sent at {}. Nothing to do.",
            dealer.name,
            now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        unsubscribe_url: None,
    };
    let name = match transport {
        Transport::Smtp(_) => "smtp",
        Transport::Sms(_) => "sms-gateway",
        Transport::Outbox(_) | Transport::Capture => "outbox",
    };
    let answer = transport.send(&message).await;
    let (provider_ref, reason) = match &answer {
        Outcome::Sent { provider_ref } => (provider_ref.clone(), None),
        other => (None, Some(other.reason().to_string())),
    };
    let outcome = answer.kind();
    Ok(TestSent {
        channel: channel.as_str().to_string(),
        recipient,
        transport: name,
        outcome,
        provider_ref,
        reason,
    })
}

/// The plan template parses and every one of its messages has a text that
/// renders (`check-config`; otherwise a touchpoint whose text is missing
/// fails when it falls due).
pub fn check_texts(config: &Config) -> Result<(), Failure> {
    let template = config.plan_template()?;
    let catalog = crate::messages::Catalog::builtin().map_err(|e| Failure::Other(e.to_string()))?;
    catalog.check(&template).map_err(|e| {
        Failure::Config(crate::config::ConfigError::new(
            "plan.template",
            e.to_string(),
        ))
    })
}

/// Creates or brings the configured database's schema up to date; how many
/// migrations ran.
pub async fn migrate(config: &Config) -> Result<usize, Failure> {
    let db = store::connect(
        &config.database_url(),
        config.settings.database.max_connections,
    )
    .await?;
    Ok(store::migrate(&db).await?)
}

/// The name of the stored secret that signs unsubscribe links.
const UNSUBSCRIBE_SECRET: &str = "unsubscribe_secret";

/// The unsubscribe links: signed with `[http] secret`, or, when that is
/// empty, with the secret kept in the database (generated on first use).
pub async fn unsubscribe_links(
    db: &DatabaseConnection,
    config: &Config,
) -> Result<crate::unsubscribe::Links, Failure> {
    let http = &config.settings.http;
    let local = ["://127.", "://localhost", "://[::1]"]
        .iter()
        .any(|l| http.public_url.contains(l));
    if local && !config.settings.email.smtp_url.is_empty() {
        tracing::warn!(
            public_url = %http.public_url,
            "emails go out over SMTP with unsubscribe links to this machine's own address: set [http] public_url"
        );
    }
    let secret = if http.secret.is_empty() {
        let mut bytes = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
            .map_err(|_| Failure::Other("cannot draw a random secret".into()))?;
        let candidate =
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
        store::shared_setting(db, UNSUBSCRIBE_SECRET, &candidate, chrono::Utc::now()).await?
    } else {
        http.secret.clone()
    };
    Ok(crate::unsubscribe::Links::new(
        secret.as_bytes(),
        &http.public_url,
    ))
}

/// Whether the database answers (`/healthz`).
pub async fn ping(db: &DatabaseConnection) -> Result<(), Failure> {
    Ok(store::ping(db).await?)
}

/// Opens the configured database; it must be migrated.
pub async fn open(config: &Config) -> Result<DatabaseConnection, Failure> {
    let db = store::connect(
        &config.database_url(),
        config.settings.database.max_connections,
    )
    .await?;
    store::require_migrated(&db).await?;
    Ok(db)
}

/// Connections for the desk's and the API's reads beside `db`
/// (`store::connect_readers`): as many as `[database] max_connections`.
pub async fn open_readers(
    config: &Config,
    db: &DatabaseConnection,
) -> Result<DatabaseConnection, Failure> {
    let readers = config.settings.database.max_connections.clamp(1, 16);
    Ok(store::connect_readers(&config.database_url(), readers, db).await?)
}

/// Who acts, as recorded with the reason: a name, else `administrator`.
pub fn actor(by: Option<&str>) -> String {
    by.map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(crate::domain::states::opt_out_source::ADMINISTRATOR)
        .to_string()
}

/// The recorded reason of an action: "`done` by `by`", then ": `why`"
/// when given; a reason given empty is invalid.
fn reason(done: &str, by: &str, why: Option<&str>) -> Result<String, Failure> {
    match why.map(str::trim) {
        None => Ok(format!("{done} by {by}")),
        Some("") => Err(Failure::Data("the reason is empty".into())),
        Some(why) => Ok(format!("{done} by {by}: {why}")),
    }
}
