//! Users, API tokens, desk sessions and the audit log.

use super::entities::{api_token, audit, session, user};
use super::{Context, StoreError};
use crate::domain::{ApiToken, AuditEntry, Role, User};
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

fn role_of(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| StoreError {
        context: "reading a role".into(),
        source: DbErr::Custom(format!("unknown role '{text}'")),
    })
}

fn to_user(m: user::Model) -> Result<User, StoreError> {
    Ok(User {
        id: m.id,
        role: role_of(&m.role)?,
        email: m.email,
        password_hash: m.password_hash,
        locale: m.locale,
        failed_signins: m.failed_signins,
        locked_until: m.locked_until,
        created_at: m.created_at,
    })
}

fn to_token(m: api_token::Model) -> Result<ApiToken, StoreError> {
    Ok(ApiToken {
        role: role_of(&m.role)?,
        name: m.name,
        created_at: m.created_at,
        last_used_at: m.last_used_at,
    })
}

/// Adds a user; `false` when the email is taken (nothing changes).
pub async fn add_user<C: ConnectionTrait>(
    db: &C,
    email: &str,
    role: Role,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let what = "adding a user";
    let inserted = user::Entity::insert(user::ActiveModel {
        email: Set(email.into()),
        role: Set(role.as_str().into()),
        password_hash: Set(password_hash.into()),
        locale: Set(None),
        failed_signins: Set(0),
        locked_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(user::Column::Email)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .context(what)?;
    Ok(inserted == 1)
}

pub async fn user_by_email<C: ConnectionTrait>(
    db: &C,
    email: &str,
) -> Result<Option<User>, StoreError> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await
        .context("loading a user")?
        .map(to_user)
        .transpose()
}

pub async fn user_by_id<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<User>, StoreError> {
    user::Entity::find_by_id(id)
        .one(db)
        .await
        .context("loading a user")?
        .map(to_user)
        .transpose()
}

/// Every user, by email.
pub async fn users<C: ConnectionTrait>(db: &C) -> Result<Vec<User>, StoreError> {
    user::Entity::find()
        .order_by_asc(user::Column::Email)
        .all(db)
        .await
        .context("listing users")?
        .into_iter()
        .map(to_user)
        .collect()
}

/// Sets a user's password hash and ends their sessions but `keep` (the one
/// that changed it); `false` when there is no such user.
pub async fn set_password<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    password_hash: &str,
    keep: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let what = "changing a password";
    let changed = user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(user::Column::FailedSignins, Expr::value(0))
        .col_expr(
            user::Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await
        .context(what)?
        .rows_affected;
    let mut others = session::Entity::delete_many().filter(session::Column::UserId.eq(user_id));
    if let Some(keep) = keep {
        others = others.filter(session::Column::Id.ne(keep));
    }
    others.exec(db).await.context(what)?;
    Ok(changed == 1)
}

pub async fn set_locale<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    locale: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    user::Entity::update_many()
        .col_expr(
            user::Column::Locale,
            Expr::value(locale.map(str::to_string)),
        )
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await
        .context("setting a user's language")?;
    Ok(())
}

/// Removes a user and their sessions; `false` when there is none.
pub async fn remove_user<C: ConnectionTrait>(db: &C, email: &str) -> Result<bool, StoreError> {
    let what = "removing a user";
    let Some(found) = user_by_email(db, email).await? else {
        return Ok(false);
    };
    session::Entity::delete_many()
        .filter(session::Column::UserId.eq(found.id))
        .exec(db)
        .await
        .context(what)?;
    let gone = user::Entity::delete_by_id(found.id)
        .exec(db)
        .await
        .context(what)?;
    Ok(gone.rows_affected == 1)
}

/// Records a user's sign-in failures and lock, as decided by the caller.
pub async fn record_signin<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    failed_signins: i32,
    locked_until: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    user::Entity::update_many()
        .col_expr(user::Column::FailedSignins, Expr::value(failed_signins))
        .col_expr(user::Column::LockedUntil, Expr::value(locked_until))
        .filter(user::Column::Id.eq(user_id))
        .exec(db)
        .await
        .context("recording a sign-in")?;
    Ok(())
}

/// Adds a token by its hash; `false` when the name is taken.
pub async fn add_token<C: ConnectionTrait>(
    db: &C,
    name: &str,
    role: Role,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = api_token::Entity::insert(api_token::ActiveModel {
        name: Set(name.into()),
        role: Set(role.as_str().into()),
        token_hash: Set(token_hash.into()),
        created_at: Set(now),
        last_used_at: Set(None),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::column(api_token::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .context("adding a token")?;
    Ok(inserted == 1)
}

pub async fn remove_token<C: ConnectionTrait>(db: &C, name: &str) -> Result<bool, StoreError> {
    let gone = api_token::Entity::delete_many()
        .filter(api_token::Column::Name.eq(name))
        .exec(db)
        .await
        .context("removing a token")?;
    Ok(gone.rows_affected == 1)
}

pub async fn tokens<C: ConnectionTrait>(db: &C) -> Result<Vec<ApiToken>, StoreError> {
    api_token::Entity::find()
        .order_by_asc(api_token::Column::Name)
        .all(db)
        .await
        .context("listing tokens")?
        .into_iter()
        .map(to_token)
        .collect()
}

/// The token of this hash, marked used at `now`.
pub async fn use_token<C: ConnectionTrait>(
    db: &C,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<ApiToken>, StoreError> {
    let what = "checking a token";
    let Some(found) = api_token::Entity::find()
        .filter(api_token::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
        .context(what)?
    else {
        return Ok(None);
    };
    // At most once a minute: reads stay reads.
    if found
        .last_used_at
        .is_none_or(|at| now - at > chrono::Duration::minutes(1))
    {
        api_token::Entity::update_many()
            .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
            .filter(api_token::Column::Id.eq(found.id))
            .exec(db)
            .await
            .context(what)?;
    }
    to_token(found).map(Some)
}

/// A session's data, when it has not expired at `now`.
pub async fn session<C: ConnectionTrait>(
    db: &C,
    id_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
    Ok(session::Entity::find_by_id(id_hash.to_string())
        .one(db)
        .await
        .context("loading a session")?
        .filter(|s| s.expires_at > now)
        .map(|s| (s.data, s.expires_at)))
}

/// Stores a session (new or updated); `create` refuses an id in use.
pub async fn save_session<C: ConnectionTrait>(
    db: &C,
    id_hash: &str,
    user_id: Option<i64>,
    data: &str,
    expires_at: DateTime<Utc>,
    create: bool,
) -> Result<bool, StoreError> {
    let row = session::ActiveModel {
        id: Set(id_hash.into()),
        user_id: Set(user_id),
        data: Set(data.into()),
        expires_at: Set(expires_at),
    };
    let conflict = if create {
        OnConflict::column(session::Column::Id)
            .do_nothing()
            .to_owned()
    } else {
        OnConflict::column(session::Column::Id)
            .update_columns([
                session::Column::UserId,
                session::Column::Data,
                session::Column::ExpiresAt,
            ])
            .to_owned()
    };
    let n = session::Entity::insert(row)
        .on_conflict(conflict)
        .exec_without_returning(db)
        .await
        .context("saving a session")?;
    Ok(n == 1)
}

pub async fn delete_session<C: ConnectionTrait>(db: &C, id_hash: &str) -> Result<(), StoreError> {
    session::Entity::delete_by_id(id_hash.to_string())
        .exec(db)
        .await
        .context("ending a session")?;
    Ok(())
}

/// Removes the sessions that expired before `now`.
pub async fn delete_expired_sessions<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await
        .context("removing expired sessions")?
        .rows_affected)
}

/// Writes one entry of the audit log.
pub async fn audit<C: ConnectionTrait>(db: &C, entry: &AuditEntry) -> Result<(), StoreError> {
    audit::Entity::insert(audit::ActiveModel {
        at: Set(entry.at),
        actor: Set(entry.actor.clone()),
        address: Set(entry.address.clone()),
        action: Set(entry.action.clone()),
        subject: Set(entry.subject.clone()),
        customer_id: Set(entry.customer_id),
        before: Set(entry.before.clone()),
        after: Set(entry.after.clone()),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await
    .context("writing the audit log")?;
    Ok(())
}

/// What people did concerning one customer, oldest first.
pub async fn audit_of<C: ConnectionTrait>(
    db: &C,
    customer_id: i64,
) -> Result<Vec<AuditEntry>, StoreError> {
    Ok(audit::Entity::find()
        .filter(audit::Column::CustomerId.eq(customer_id))
        .order_by_asc(audit::Column::Id)
        .all(db)
        .await
        .context("reading the audit log")?
        .into_iter()
        .map(to_entry)
        .collect())
}

/// The last `limit` entries of one action, newest first.
pub async fn audit_by_action<C: ConnectionTrait>(
    db: &C,
    action: &str,
    limit: u64,
) -> Result<Vec<AuditEntry>, StoreError> {
    use sea_orm::QuerySelect;
    Ok(audit::Entity::find()
        .filter(audit::Column::Action.eq(action))
        .order_by_desc(audit::Column::Id)
        .limit(limit)
        .all(db)
        .await
        .context("reading the audit log")?
        .into_iter()
        .map(to_entry)
        .collect())
}

/// The audit entry numbered `id`.
pub async fn audit_entry<C: ConnectionTrait>(
    db: &C,
    id: i64,
) -> Result<Option<AuditEntry>, StoreError> {
    Ok(audit::Entity::find_by_id(id)
        .one(db)
        .await
        .context("reading the audit log")?
        .map(to_entry))
}

fn to_entry(m: audit::Model) -> AuditEntry {
    AuditEntry {
        id: m.id,
        at: m.at,
        actor: m.actor,
        address: m.address,
        action: m.action,
        subject: m.subject,
        customer_id: m.customer_id,
        before: m.before,
        after: m.after,
    }
}
