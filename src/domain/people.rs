//! The people who use the desk and the API, and what their role lets them do.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a person may do. Checked on the server for every action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including users, tokens, settings and approving held messages.
    Admin,
    /// Calls, queue actions, visits, opt-outs and imports.
    Advisor,
    /// Reads only.
    Viewer,
}

/// One kind of action, for [`Role::may`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// See the call list, the queue, customers, the overview.
    Read,
    /// Record call outcomes, visits and opt-outs; hold, release, skip and
    /// send touchpoints now; import files.
    Act,
    /// Approve or discard messages held for review.
    Approve,
    /// Add and remove users and tokens.
    Manage,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Advisor, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Advisor => "advisor",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim())
    }

    pub fn may(self, what: Permission) -> bool {
        match what {
            Permission::Read => true,
            Permission::Act => matches!(self, Role::Admin | Role::Advisor),
            Permission::Approve | Permission::Manage => self == Role::Admin,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user of the desk.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub password_hash: String,
    /// `en` or `ru`; none: the browser's choice.
    pub locale: Option<String>,
    pub failed_signins: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// An API token as stored: its name and role, never the token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// One action a person took.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Its number in the log (0 before it is written).
    #[serde(skip)]
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The user's email, or `token:NAME`.
    pub actor: String,
    pub address: Option<String>,
    pub action: String,
    pub subject: String,
    #[serde(skip)]
    pub customer_id: Option<i64>,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_they_say() {
        for role in Role::ALL {
            assert!(role.may(Permission::Read));
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert!(!Role::Viewer.may(Permission::Act));
        assert!(Role::Advisor.may(Permission::Act));
        assert!(!Role::Advisor.may(Permission::Approve));
        assert!(!Role::Advisor.may(Permission::Manage));
        assert!(Role::Admin.may(Permission::Approve) && Role::Admin.may(Permission::Manage));
        assert_eq!(Role::parse("root"), None);
    }
}
