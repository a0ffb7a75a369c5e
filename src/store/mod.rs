//! The database: sea-orm entities and the queries the commands need. The only
//! place that knows SQL.

mod calls;
pub mod dispatch;
pub mod entities;
mod facts;
pub mod import;
pub mod operator;
pub mod overview;
pub mod people;
mod plans;
pub mod status;

pub use calls::*;
pub use facts::*;
pub use plans::*;

use crate::domain::VisitKind;
use crate::predict::Reading;
use entities::{customer, reading, vehicle};
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use std::time::Duration;

/// A database failure, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("database error while {context}: {source}")]
pub struct StoreError {
    pub context: String,
    #[source]
    pub source: DbErr,
}

/// Adds what was being done to a database error.
pub trait Context<T> {
    fn context(self, what: &str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, DbErr> {
    fn context(self, what: &str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError {
            context: what.to_string(),
            source,
        })
    }
}

/// A stored state text as its state: an unknown text is a database error
/// (the columns are text; only the states' own texts are written to them).
pub fn stored_state<T>(text: &str) -> Result<T, StoreError>
where
    T: std::str::FromStr<Err = crate::domain::UnknownState>,
{
    text.parse()
        .map_err(|e: crate::domain::UnknownState| StoreError {
            context: format!("reading a {} state", e.what),
            source: DbErr::Custom(e.to_string()),
        })
}

/// Page cache of a SQLite connection, KiB (SQLite's default is 2 MiB).
pub(crate) const SQLITE_CACHE_KIB: u32 = 32 * 1024;

/// Opens the database. SQLite gets one connection (one writer), a busy
/// timeout set before WAL, and foreign keys on; PostgreSQL gets a pool.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, StoreError> {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // The one connection is kept for the life of the process: an
        // in-memory database (`sqlite::memory:`)
        // lives exactly as long as its connection.
        opts.max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .busy_timeout(Duration::from_secs(30))
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .pragma("cache_size", format!("-{SQLITE_CACHE_KIB}"))
                    // Batched statements vary in their number of parameters:
                    // keep more of them prepared.
                    .statement_cache_capacity(1024)
            });
    } else {
        opts.max_connections(max_connections.max(1));
    }
    Database::connect(opts)
        .await
        .context(&format!("connecting to {}", crate::config::redact_url(url)))
}

/// Connections that only read, for the desk and the API: on a SQLite file,
/// a pool of `readers` read-only connections beside the one writer (WAL
/// lets them read while it writes), so that pages do not queue behind each
/// other or behind a pass; elsewhere (PostgreSQL, an in-memory database),
/// `db` itself.
pub async fn connect_readers(
    url: &str,
    readers: u32,
    db: &DatabaseConnection,
) -> Result<DatabaseConnection, StoreError> {
    if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(db.clone());
    }
    let mut opts = ConnectOptions::new(url.to_string());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .max_connections(readers.max(1))
        .min_connections(1)
        .map_sqlx_sqlite_opts(|o| {
            o.read_only(true)
                .busy_timeout(Duration::from_secs(30))
                .pragma("cache_size", format!("-{}", SQLITE_CACHE_KIB / 4))
                .statement_cache_capacity(256)
        });
    Database::connect(opts)
        .await
        .context(&format!("connecting to {}", crate::config::redact_url(url)))
}

/// A private in-memory SQLite database (what `simulate` works on).
///
/// - 16 KiB pages: an in-memory database lives wholly in SQLite's page
///   cache, and a commit after a b-tree rebalance scans that cache's whole
///   hash table, so fewer, larger pages make commits cheaper.
/// - No rollback journal: its user discards the database on any error, so
///   there is never anything to roll back to, and journaling would copy
///   every page a transaction touches.
pub async fn connect_in_memory() -> Result<DatabaseConnection, StoreError> {
    let mut opts = ConnectOptions::new("sqlite::memory:");
    opts.sqlx_logging(false)
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .map_sqlx_sqlite_opts(|o| {
            o.page_size(16 * 1024)
                .journal_mode(SqliteJournalMode::Off)
                .foreign_keys(true)
                .statement_cache_capacity(1024)
        });
    Database::connect(opts)
        .await
        .context("creating an in-memory database")
}

/// Applies pending migrations; returns how many ran.
pub async fn migrate(db: &DatabaseConnection) -> Result<usize, StoreError> {
    let pending = Migrator::get_pending_migrations(db)
        .await
        .context("reading the migration status")?
        .len();
    Migrator::up(db, None)
        .await
        .context("applying migrations")?;
    Ok(pending)
}

/// Whether the database answers.
pub async fn ping(db: &DatabaseConnection) -> Result<(), StoreError> {
    db.ping().await.context("reaching the database")
}

/// Fails when migrations are pending, so that commands never run on an old schema.
pub async fn require_migrated(db: &DatabaseConnection) -> Result<(), StoreError> {
    let pending = Migrator::get_pending_migrations(db)
        .await
        .context("reading the migration status")?;
    if pending.is_empty() {
        Ok(())
    } else {
        Err(StoreError {
            context: "checking the schema".into(),
            source: DbErr::Custom(format!(
                "{} migration(s) pending: run `touchpoint migrate`",
                pending.len()
            )),
        })
    }
}

pub fn backend(db: &DatabaseConnection) -> DbBackend {
    db.get_database_backend()
}

/// Rows as the records the rest of the program sees.
pub(crate) fn records<M, R: From<M>>(rows: Vec<M>) -> Vec<R> {
    rows.into_iter().map(R::from).collect()
}

/// A row, when found, as its record.
pub(crate) fn record<M, R: From<M>>(row: Option<M>) -> Option<R> {
    row.map(R::from)
}

/// A vehicle with its owner and readings (sorted by date).
#[derive(Debug, Clone)]
pub struct VehicleRecord {
    pub vehicle: crate::domain::Vehicle,
    pub customer: crate::domain::Customer,
    pub readings: Vec<Reading>,
}

/// Loads one vehicle by VIN.
pub async fn vehicle_by_vin<C: ConnectionTrait>(
    db: &C,
    vin: &str,
) -> Result<Option<VehicleRecord>, StoreError> {
    let found = vehicle::Entity::find()
        .filter(vehicle::Column::Vin.eq(vin))
        .find_also_related(customer::Entity)
        .one(db)
        .await
        .context("loading the vehicle")?;
    let Some((vehicle, Some(customer))) = found else {
        return Ok(None);
    };
    let readings = reading::Entity::find()
        .filter(reading::Column::VehicleId.eq(vehicle.id))
        .order_by_asc(reading::Column::Date)
        .order_by_asc(reading::Column::OdometerKm)
        .all(db)
        .await
        .context("loading the readings")?
        .into_iter()
        .filter_map(to_reading)
        .collect();
    Ok(Some(VehicleRecord {
        vehicle: vehicle.into(),
        customer: customer.into(),
        readings,
    }))
}

pub fn to_reading(r: reading::Model) -> Option<Reading> {
    Some(Reading {
        date: r.date,
        odometer_km: r.odometer_km,
        kind: VisitKind::parse(&r.kind).ok()?,
    })
}

/// Records an opt-out (or, with `opted_out = false`, an opt-in) of a person
/// for a channel, effective at once: an SMS opt-out covers calls too, a call
/// opt-out covers calls alone.
pub async fn record_opt_out<C: ConnectionTrait>(
    db: &C,
    customer_id: i64,
    channel: crate::domain::Channel,
    source: &str,
    opted_out: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    use entities::opt_out;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, sea_query::Expr};
    let column = match channel {
        crate::domain::Channel::Email => customer::Column::OptedOutEmail,
        crate::domain::Channel::Sms => customer::Column::OptedOutSms,
        crate::domain::Channel::Call => customer::Column::OptedOutCall,
    };
    customer::Entity::update_many()
        .col_expr(column, Expr::value(opted_out))
        .col_expr(customer::Column::UpdatedAt, Expr::value(now))
        .filter(customer::Column::Id.eq(customer_id))
        .exec(db)
        .await
        .context("recording an opt-out")?;
    opt_out::ActiveModel {
        customer_id: Set(customer_id),
        channel: Set(channel.as_str().into()),
        source: Set(source.into()),
        opted_out: Set(opted_out),
        at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .context("logging an opt-out")?;
    if opted_out {
        suppress_queued(db, customer_id, channel, now).await?;
    }
    Ok(())
}

/// An opt-out stops what is already queued too: the person's messages on
/// the channel that wait for a retry are suppressed with their touchpoints,
/// and an SMS or call opt-out takes the person's open calls off the call list.
async fn suppress_queued<C: ConnectionTrait>(
    db: &C,
    customer_id: i64,
    channel: crate::domain::Channel,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), StoreError> {
    use crate::domain::{CallTaskState, MessageState, TouchpointState};
    use entities::{call_task, message, touchpoint};
    use sea_orm::{QuerySelect, sea_query::Expr};
    let channels: &[&str] = match channel {
        crate::domain::Channel::Email => &["email"],
        crate::domain::Channel::Sms => &["sms", "call"],
        crate::domain::Channel::Call => &["call"],
    };
    let reason = format!("the recipient opted out of {}", channel.as_str());
    if channel != crate::domain::Channel::Email {
        call_task::Entity::update_many()
            .col_expr(
                call_task::Column::State,
                Expr::value(CallTaskState::Cancelled.as_str()),
            )
            .col_expr(call_task::Column::Note, Expr::value(reason.clone()))
            .col_expr(call_task::Column::OutcomeAt, Expr::value(now))
            .filter(call_task::Column::CustomerId.eq(customer_id))
            .filter(call_task::Column::State.eq(CallTaskState::Open.as_str()))
            .exec(db)
            .await
            .context("cancelling open calls")?;
    }
    let queued: Vec<i64> = message::Entity::find()
        .select_only()
        .column(message::Column::Id)
        .filter(message::Column::CustomerId.eq(customer_id))
        .filter(message::Column::Channel.is_in(channels.iter().copied()))
        .filter(message::Column::State.eq(MessageState::Retry.as_str()))
        .into_tuple()
        .all(db)
        .await
        .context("finding queued messages")?;
    if queued.is_empty() {
        return Ok(());
    }
    message::Entity::update_many()
        .col_expr(
            message::Column::State,
            Expr::value(MessageState::Suppressed.as_str()),
        )
        .col_expr(message::Column::Reason, Expr::value(reason.clone()))
        .col_expr(
            message::Column::NextAttemptAt,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(message::Column::UpdatedAt, Expr::value(now))
        .filter(message::Column::Id.is_in(queued.clone()))
        .filter(message::Column::State.eq(MessageState::Retry.as_str()))
        .exec(db)
        .await
        .context("suppressing queued messages")?;
    touchpoint::Entity::update_many()
        .col_expr(
            touchpoint::Column::State,
            Expr::value(TouchpointState::Suppressed.as_str()),
        )
        .col_expr(touchpoint::Column::Reason, Expr::value(reason))
        .col_expr(touchpoint::Column::UpdatedAt, Expr::value(now))
        .filter(touchpoint::Column::MessageId.is_in(queued))
        .exec(db)
        .await
        .context("suppressing queued touchpoints")?;
    Ok(())
}

/// A customer by database id.
pub async fn customer<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<crate::domain::Customer>, StoreError> {
    customer::Entity::find_by_id(id)
        .one(db)
        .await
        .context("loading a customer")
        .map(record)
}

/// Rows of `E` by id, a few hundred ids a statement.
async fn by_id<E: EntityTrait, R: From<E::Model>, C: ConnectionTrait>(
    db: &C,
    column: E::Column,
    ids: &[i64],
    id_of: impl Fn(&E::Model) -> i64,
    what: &str,
) -> Result<std::collections::HashMap<i64, R>, StoreError> {
    let mut found = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        for row in E::find()
            .filter(column.is_in(chunk.iter().copied()))
            .all(db)
            .await
            .context(what)?
        {
            found.insert(id_of(&row), R::from(row));
        }
    }
    Ok(found)
}

/// The vehicles of the given ids, by id.
pub async fn vehicles_by_id<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, crate::domain::Vehicle>, StoreError> {
    by_id::<vehicle::Entity, _, _>(db, vehicle::Column::Id, ids, |v| v.id, "loading vehicles").await
}

/// The customers of the given ids, by id.
pub async fn customers_by_id<C: ConnectionTrait>(
    db: &C,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, crate::domain::Customer>, StoreError> {
    by_id::<customer::Entity, _, _>(db, customer::Column::Id, ids, |c| c.id, "loading customers")
        .await
}

/// The customers reachable at a phone number (E.164), oldest first.
pub async fn customers_by_phone<C: ConnectionTrait>(
    db: &C,
    phone: &str,
) -> Result<Vec<crate::domain::Customer>, StoreError> {
    customer::Entity::find()
        .filter(customer::Column::Phone.eq(phone))
        .order_by_asc(customer::Column::Id)
        .all(db)
        .await
        .context("finding customers by phone")
        .map(records)
}

/// Starts a transaction.
pub async fn begin(db: &DatabaseConnection, what: &str) -> Result<DatabaseTransaction, StoreError> {
    db.begin().await.context(what)
}

/// Starts a transaction that reads, then writes what it decided: on SQLite
/// it takes the write lock at the start (`BEGIN IMMEDIATE`), so that a
/// writer elsewhere cannot make its first write fail; an overlapping one
/// waits within the busy timeout.
pub async fn begin_writing(
    db: &DatabaseConnection,
    what: &str,
) -> Result<DatabaseTransaction, StoreError> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    db.begin_with_options(options).await.context(what)
}

/// Commits a transaction.
pub async fn commit(txn: DatabaseTransaction, what: &str) -> Result<(), StoreError> {
    txn.commit().await.context(what)
}

/// The PostgreSQL advisory lock that one planner holds at a time: this
/// class, and the schema's name hashed (advisory locks are per database, and
/// installations may share one in schemas of their own).
const PLANNING_LOCK: i32 = 0x7470_6c6e; // "tpln"

/// Starts the transaction in which one page of planning reads and writes,
/// holding the planning lock, so that planners that overlap (a manual pass next
/// to the daemon, several instances on one database) never plan
/// the same vehicle twice. On SQLite that is the write lock, taken at the
/// start (`BEGIN IMMEDIATE`): an overlapping planner waits for the page
/// (within the busy timeout) and then reads what it left. On PostgreSQL it
/// is a transaction-level advisory lock of the schema; `None` when another planner holds
/// it: planning is busy, and the caller dispatches what is already planned.
/// The lock ends with the transaction, also when the process dies.
pub async fn begin_planning(
    db: &DatabaseConnection,
) -> Result<Option<DatabaseTransaction>, StoreError> {
    let what = "starting a planning transaction";
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let txn = db.begin().await.context(what)?;
            let row = txn
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_try_advisory_xact_lock($1, hashtext(current_schema())) AS locked",
                    [PLANNING_LOCK.into()],
                ))
                .await
                .context("taking the planning lock")?;
            let locked = match row {
                Some(row) => row
                    .try_get::<bool>("", "locked")
                    .context("taking the planning lock")?,
                None => false,
            };
            if locked {
                Ok(Some(txn))
            } else {
                txn.rollback().await.context(what)?;
                Ok(None)
            }
        }
        _ => {
            let options = TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            };
            Ok(Some(db.begin_with_options(options).await.context(what)?))
        }
    }
}

/// The shared setting `name`. When it is not stored yet, `candidate` is
/// stored; when several instances race, the first insert wins and every one
/// reads that value back.
pub async fn shared_setting<C: ConnectionTrait>(
    db: &C,
    name: &str,
    candidate: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<String, StoreError> {
    use entities::setting;
    use sea_orm::ActiveValue::Set;
    setting::Entity::insert(setting::ActiveModel {
        name: Set(name.into()),
        value: Set(candidate.into()),
        created_at: Set(now),
    })
    .on_conflict_do_nothing_on([setting::Column::Name])
    .exec(db)
    .await
    .context("storing a shared setting")?;
    setting::Entity::find_by_id(name.to_string())
        .one(db)
        .await
        .context("reading a shared setting")?
        .map(|s| s.value)
        .ok_or_else(|| StoreError {
            context: "reading a shared setting".into(),
            source: DbErr::RecordNotFound(name.into()),
        })
}
