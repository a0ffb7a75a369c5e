//! The command line (docs/commands.md): `touchpoint [--config PATH] COMMAND`.

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "touchpoint",
    version,
    about = "Keeps every vehicle owner in touch with the dealer's service department"
)]
pub struct Cli {
    /// Configuration file [default: $TOUCHPOINT_CONFIG, then ./config/touchpoint.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Override one configuration key, after the file and the environment (repeatable)
    #[arg(long = "set", global = true, value_name = "SECTION.KEY=VALUE", value_parser = parse_override)]
    pub set: Vec<(String, String)>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write DIR/touchpoint.toml (database DIR/touchpoint.db, outbox DIR/outbox) and create the database
    Init { dir: PathBuf },
    /// Apply pending database migrations
    Migrate,
    /// Validate and load a CSV export (all or nothing)
    Import {
        kind: ImportKind,
        file: PathBuf,
        /// Validate only; change nothing
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        out: Output,
    },
    /// The prediction of a vehicle's next service
    NextService {
        vin: String,
        #[command(flatten)]
        when: AsOf,
        #[command(flatten)]
        out: Output,
    },
    /// A vehicle's touchpoints for the current cycle with dates and states
    Plan {
        vin: String,
        #[command(flatten)]
        when: AsOf,
        #[command(flatten)]
        out: Output,
    },
    /// What is due in the next N days, per channel
    Queue {
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=366))]
        days: u32,
        #[command(flatten)]
        when: AsOf,
        #[command(flatten)]
        out: Output,
    },
    /// One planning and dispatch pass now, then exit
    Dispatch {
        #[command(flatten)]
        out: Output,
    },
    /// The daemon: HTTP endpoints and a planning and dispatch pass on a schedule
    Run,
    /// Validate the configuration, the plan template and the message texts, and print the effective configuration with its secrets hidden
    CheckConfig {
        #[command(flatten)]
        out: Output,
    },
    /// Send one test email through the configured transport and print its answer
    SendTestEmail {
        address: String,
        #[command(flatten)]
        out: Output,
    },
    /// Send one test SMS through the configured gateway and print its answer
    SendTestSms {
        number: String,
        #[command(flatten)]
        out: Output,
    },
    /// What the database says: the last pass, what waits, the schema
    Status {
        #[command(flatten)]
        out: Output,
    },
    /// The call list: open call tasks that are due, oldest first
    Calls {
        #[command(flatten)]
        out: Output,
    },
    /// Record the outcome of a call task
    CallOutcome {
        /// The task's number (from `calls`)
        id: i64,
        outcome: CallOutcome,
        /// A note for the record
        #[arg(long)]
        note: Option<String>,
        /// With call-back: the day to call again (YYYY-MM-DD) [default: today]
        #[arg(long, value_name = "DATE", value_parser = parse_as_of)]
        on: Option<NaiveDate>,
        /// With call-back: the time the owner asked for (HH:MM), kept in the note
        #[arg(long, value_name = "HH:MM")]
        at: Option<String>,
    },
    #[command(flatten)]
    Operator(Operator),
    /// The desk's users: add, change a password, remove, list
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// API tokens for scripts and other systems (`Authorization: Bearer`)
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Planning and dispatch over a period on a virtual clock, sending nothing
    Simulate {
        /// First day (YYYY-MM-DD, UTC midnight)
        #[arg(long, value_name = "DATE", value_parser = parse_as_of)]
        from: NaiveDate,
        /// Day after the last (excluded)
        #[arg(long, value_name = "DATE", value_parser = parse_as_of)]
        to: NaiveDate,
        /// Write the JSON lines here instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Prediction accuracy on a dealer's history (touches no database)
    Backtest {
        #[arg(long, value_name = "FILE")]
        vehicles: PathBuf,
        #[arg(long, value_name = "FILE")]
        visits: PathBuf,
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        interval_km: Option<u32>,
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        interval_months: Option<u32>,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CallOutcome {
    /// Reached and booked: the service's remaining reminders stop
    Booked,
    /// Reached and declined
    Declined,
    /// No answer: the task comes back ([calls] no_answer_days, 2)
    NoAnswer,
    /// Left a message: the task comes back ([calls] left_message_days, 3)
    LeftMessage,
    /// Busy: the task comes back ([calls] busy_days, 1)
    Busy,
    /// The owner asked to be called back: the task comes back on --on
    CallBack,
    /// Wrong number: no more SMS or calls to it
    WrongNumber,
    /// The owner asked not to be called: no more calls
    DoNotCall,
}

/// The operator's commands (docs/commands.md, "The operator commands").
#[derive(Debug, Subcommand)]
pub enum Operator {
    /// Record a visit or an odometer reading by hand, and re-plan the vehicle
    Visit {
        #[command(subcommand)]
        action: VisitAction,
    },
    /// Opt a person out of a channel (or back in with --undo); what is queued on it stops
    OptOut {
        /// The dealer's customer id
        customer_id: String,
        channel: ChannelArg,
        /// Opt back in
        #[arg(long)]
        undo: bool,
        #[command(flatten)]
        out: Output,
    },
    /// Hold a planned touchpoint: it is not sent until released
    Hold {
        /// The touchpoint's dedup key (VIN:code:cycle:occurrence, from `plan` or `queue`)
        key: String,
        /// Why, for the record
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        by: By,
        #[command(flatten)]
        out: Output,
    },
    /// Release a held touchpoint back to planned
    Release {
        key: String,
        #[command(flatten)]
        out: Output,
    },
    /// Skip a planned or held touchpoint, with the reason
    Skip {
        key: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        by: By,
        #[command(flatten)]
        out: Output,
    },
    /// Send a planned, deferred or held touchpoint as soon as the rules allow
    /// (consent, opt-outs, quiet hours and caps still hold)
    SendNow {
        key: String,
        #[command(flatten)]
        by: By,
        #[command(flatten)]
        out: Output,
    },
    /// Messages held for review: interrupted sends whose outcome is unknown
    Held {
        #[command(flatten)]
        out: Output,
    },
    /// Let a held message go out on the next pass (once)
    Approve {
        /// The message's number (from `held`)
        id: i64,
        #[command(flatten)]
        by: By,
        #[command(flatten)]
        out: Output,
    },
    /// Discard a held message: it and its touchpoints end, with the reason
    Discard {
        /// The message's number (from `held`)
        id: i64,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        by: By,
        #[command(flatten)]
        out: Output,
    },
    /// Every touchpoint of every vehicle of a person, oldest first
    Timeline {
        /// The dealer's customer id
        customer_id: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum VisitAction {
    /// Record a visit or reading, checked as an import row is
    Add {
        vin: String,
        /// The day of the visit (YYYY-MM-DD, not in the future)
        #[arg(long, value_name = "DATE")]
        date: String,
        /// The odometer, in the configured distance unit
        #[arg(long, value_name = "KM", allow_hyphen_values = true)]
        odometer: String,
        /// service, repair, inspection or reading
        #[arg(long, default_value = "service")]
        kind: String,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add a user; the password is read from standard input, or generated
    /// and printed once when standard input is a terminal or empty
    Add {
        email: String,
        #[arg(long)]
        role: RoleArg,
    },
    /// Set a user's password (read from standard input, or generated and
    /// printed once); the user's sessions end
    Passwd { email: String },
    /// Remove a user; their sessions end
    Remove { email: String },
    /// Every user with their role
    List {
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Add a token: printed once, alone on standard output; only its hash is kept
    Add {
        name: String,
        #[arg(long)]
        role: RoleArg,
    },
    /// Remove a token: requests carrying it are refused from now on
    Remove { name: String },
    /// Every token's name, role and last use (never the token)
    List {
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Everything, including users, tokens and approving held messages
    Admin,
    /// Calls, queue actions, visits, opt-outs and imports
    Advisor,
    /// Reads only
    Viewer,
}

impl RoleArg {
    pub fn role(self) -> crate::domain::Role {
        match self {
            RoleArg::Admin => crate::domain::Role::Admin,
            RoleArg::Advisor => crate::domain::Role::Advisor,
            RoleArg::Viewer => crate::domain::Role::Viewer,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChannelArg {
    Email,
    /// SMS; an SMS opt-out stops calls too
    Sms,
    /// Calls alone
    Call,
}

impl ChannelArg {
    pub fn channel(self) -> crate::domain::Channel {
        match self {
            ChannelArg::Email => crate::domain::Channel::Email,
            ChannelArg::Sms => crate::domain::Channel::Sms,
            ChannelArg::Call => crate::domain::Channel::Call,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct By {
    /// Who acts, recorded with the reason [default: administrator]
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportKind {
    Customers,
    Vehicles,
    Visits,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct Output {
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct AsOf {
    /// Answer as of this day (YYYY-MM-DD) instead of today; later facts are ignored
    #[arg(long, value_name = "DATE", value_parser = parse_as_of)]
    pub as_of: Option<NaiveDate>,
}

fn parse_as_of(s: &str) -> Result<NaiveDate, String> {
    crate::domain::parse_date(s).map_err(|e| e.0)
}

fn parse_override(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not SECTION.KEY=VALUE")),
    }
}
