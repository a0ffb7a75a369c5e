//! The Overview: how the contact plan is doing, for the dealership's
//! service manager. Messages per week by channel (the last twelve weeks
//! that went out, the next four still due), why touchpoints did not go out,
//! the opt-out rate, the call outcomes, and how close the predictions came
//! to the visits that met them.

use super::Failure;
use super::facts::today_in;
use crate::config::Config;
use crate::domain::{Channel, TouchpointState};
use crate::store::overview as counts;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use std::collections::BTreeMap;

/// Weeks back (the current one included) and ahead.
pub const WEEKS_BACK: usize = 12;
pub const WEEKS_AHEAD: usize = 4;

/// One week's messages per channel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Week {
    /// Its Monday, in the dealer's time zone.
    pub start: NaiveDate,
    /// What went out (messages and call tasks), per channel.
    pub sent: BTreeMap<String, i64>,
    /// What is still to go out (planned, deferred or on hold), per channel.
    pub due: BTreeMap<String, i64>,
}

/// Why touchpoints did not go out, grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    OptedOut,
    NoConsent,
    NoAddress,
    Capped,
    Stale,
    FulfilledByVisit,
    NoVisit,
    Displaced,
    NotApplicable,
    SkippedByPerson,
    NotApproved,
    Other,
}

impl ReasonKind {
    /// Every kind, in order.
    pub const ALL: [ReasonKind; 12] = [
        ReasonKind::OptedOut,
        ReasonKind::NoConsent,
        ReasonKind::NoAddress,
        ReasonKind::Capped,
        ReasonKind::Stale,
        ReasonKind::FulfilledByVisit,
        ReasonKind::NoVisit,
        ReasonKind::Displaced,
        ReasonKind::NotApplicable,
        ReasonKind::SkippedByPerson,
        ReasonKind::NotApproved,
        ReasonKind::Other,
    ];

    /// Its name as the API and the metrics write it.
    pub fn as_label(self) -> &'static str {
        match self {
            ReasonKind::OptedOut => "opted_out",
            ReasonKind::NoConsent => "no_consent",
            ReasonKind::NoAddress => "no_address",
            ReasonKind::Capped => "capped",
            ReasonKind::Stale => "stale",
            ReasonKind::FulfilledByVisit => "fulfilled_by_visit",
            ReasonKind::NoVisit => "no_visit",
            ReasonKind::Displaced => "displaced",
            ReasonKind::NotApplicable => "not_applicable",
            ReasonKind::SkippedByPerson => "skipped_by_person",
            ReasonKind::NotApproved => "not_approved",
            ReasonKind::Other => "other",
        }
    }
}

/// The kind of a stored reason (the rules' and the plan's own words).
pub fn reason_kind(reason: Option<&str>) -> ReasonKind {
    let Some(r) = reason else {
        return ReasonKind::Other;
    };
    let starts = |p: &str| r.starts_with(p);
    if starts("the owner opted out of") {
        ReasonKind::OptedOut
    } else if starts("no marketing consent") {
        ReasonKind::NoConsent
    } else if starts("no email address on file") || starts("no phone number on file") {
        ReasonKind::NoAddress
    } else if starts("frequency cap") {
        ReasonKind::Capped
    } else if starts("not sent within") || starts("already more than") {
        ReasonKind::Stale
    } else if starts(crate::plan::FULFILLED_BY) {
        ReasonKind::FulfilledByVisit
    } else if r == crate::rules::NO_VISIT_REASON {
        ReasonKind::NoVisit
    } else if starts("displaced by") {
        ReasonKind::Displaced
    } else if starts("no birthday on file") || starts("the warranty does not end") {
        ReasonKind::NotApplicable
    } else if starts("skipped by") || starts("discarded by") {
        ReasonKind::SkippedByPerson
    } else if starts("not approved by") {
        ReasonKind::NotApproved
    } else {
        ReasonKind::Other
    }
}

/// How many touchpoints of the sixteen weeks did not (or will not) go out
/// for one kind of reason, per channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Suppressions {
    pub kind: ReasonKind,
    pub total: i64,
    pub by_channel: BTreeMap<String, i64>,
}

/// One channel's opt-outs.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct OptOutRate {
    pub channel: String,
    /// Customers opted out of it now.
    pub opted_out: i64,
    /// Of all customers.
    pub customers: i64,
    /// Opt-outs recorded in the last twelve weeks.
    pub recent: i64,
    /// Messages that went out on it in the same weeks.
    pub sent: i64,
    /// Recent opt-outs per 1,000 messages sent; none when nothing went out.
    pub per_thousand: Option<f64>,
}

/// How close the predictions came to the service visits that met them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Accuracy {
    /// Visits in the last year that fulfilled a planned service reminder.
    pub visits: usize,
    /// Visit day minus predicted day, the middle one (negative: early).
    pub median_days: Option<i64>,
    /// The middle of the absolute differences.
    pub median_abs_days: Option<i64>,
    pub within_14_days: usize,
    pub within_30_days: usize,
    /// Visits more than 14 days before the predicted day.
    pub early: usize,
    /// Visits more than 14 days after it.
    pub late: usize,
}

/// The Overview.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Overview {
    /// Today, in the dealer's time zone.
    pub today: NaiveDate,
    /// When the figures were counted (RFC 3339, UTC).
    pub counted_at: String,
    /// Twelve weeks back (the current one last of them), then four ahead.
    pub weeks: Vec<Week>,
    /// Of the touchpoints due in the sixteen weeks (those ahead already
    /// decided: a visit fulfilled them, a person skipped them), most first.
    pub suppressions: Vec<Suppressions>,
    pub opt_outs: Vec<OptOutRate>,
    /// Call outcomes recorded in the last twelve weeks, per outcome.
    pub call_outcomes: BTreeMap<String, i64>,
    pub accuracy: Accuracy,
}

/// The Monday of `day`'s week.
fn monday(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// The instant a day starts in `tz` (the first, around a DST change).
fn start_of(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = day.and_time(chrono::NaiveTime::MIN);
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// Summarises the differences (visit − predicted, in days).
pub fn accuracy(mut diffs: Vec<i64>) -> Accuracy {
    if diffs.is_empty() {
        return Accuracy::default();
    }
    diffs.sort_unstable();
    let mut abs: Vec<i64> = diffs.iter().map(|d| d.abs()).collect();
    abs.sort_unstable();
    let middle = |v: &[i64]| v[v.len() / 2];
    Accuracy {
        visits: diffs.len(),
        median_days: Some(middle(&diffs)),
        median_abs_days: Some(middle(&abs)),
        within_14_days: abs.iter().filter(|d| **d <= 14).count(),
        within_30_days: abs.iter().filter(|d| **d <= 30).count(),
        early: diffs.iter().filter(|d| **d < -14).count(),
        late: diffs.iter().filter(|d| **d > 14).count(),
    }
}

/// The Overview at `now`.
pub async fn overview(
    db: &DatabaseConnection,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Overview, Failure> {
    let tz = config.default_timezone();
    let today = today_in(tz, now);
    let this_week = monday(today);
    let week_start = |i: i64| this_week + Duration::weeks(i);
    let back = WEEKS_BACK as i64;
    let ahead = WEEKS_AHEAD as i64;
    let mut weeks: Vec<Week> = (-(back - 1)..=ahead)
        .map(|i| Week {
            start: week_start(i),
            ..Default::default()
        })
        .collect();

    // What went out: the twelve weeks through this one.
    let sent_bounds: Vec<DateTime<Utc>> = (-(back - 1)..=1)
        .map(|i| start_of(week_start(i), tz))
        .collect();
    for (week, channel, n) in counts::sent_by_week(db, &sent_bounds).await? {
        if let Some(w) = usize::try_from(week).ok().and_then(|i| weeks.get_mut(i)) {
            *w.sent.entry(channel).or_default() += n;
        }
    }
    // What is still due: this week (what is overdue within the grace window
    // with it) and the four ahead.
    let grace = config.settings.plan.grace_days;
    let mut due_bounds: Vec<NaiveDate> = (0..=ahead + 1).map(week_start).collect();
    due_bounds[0] = this_week - Duration::days(grace);
    for (week, channel, n) in counts::due_by_week(db, &due_bounds).await? {
        let i = usize::try_from(week).ok().map(|w| w + WEEKS_BACK - 1);
        if let Some(w) = i.and_then(|i| weeks.get_mut(i)) {
            *w.due.entry(channel).or_default() += n;
        }
    }

    let window_start = week_start(-(back - 1));
    let mut kinds: BTreeMap<ReasonKind, Suppressions> = BTreeMap::new();
    let not_out = [
        TouchpointState::Suppressed,
        TouchpointState::Skipped,
        TouchpointState::Cancelled,
    ];
    let horizon = week_start(ahead + 1) - Duration::days(1);
    for (channel, reason, n) in counts::reasons_between(db, &not_out, window_start, horizon).await?
    {
        let kind = reason_kind(reason.as_deref());
        let s = kinds.entry(kind).or_insert_with(|| Suppressions {
            kind,
            total: 0,
            by_channel: BTreeMap::new(),
        });
        s.total += n;
        *s.by_channel.entry(channel).or_default() += n;
    }
    let mut suppressions: Vec<Suppressions> = kinds.into_values().collect();
    suppressions.sort_by(|a, b| b.total.cmp(&a.total).then(a.kind.cmp(&b.kind)));

    let since = start_of(window_start, tz);
    let recent: BTreeMap<String, i64> = counts::opt_outs_since(db, since)
        .await?
        .into_iter()
        .collect();
    let now_out = counts::opted_out_now(db).await?;
    let opt_outs = [Channel::Email, Channel::Sms, Channel::Call]
        .iter()
        .map(|c| {
            let channel = c.as_str().to_string();
            let sent: i64 = weeks.iter().filter_map(|w| w.sent.get(&channel)).sum();
            let recent = recent.get(&channel).copied().unwrap_or(0);
            OptOutRate {
                opted_out: match c {
                    Channel::Email => now_out.email,
                    Channel::Sms => now_out.sms,
                    Channel::Call => now_out.call,
                },
                customers: now_out.customers,
                recent,
                sent,
                per_thousand: (sent > 0)
                    .then(|| (recent as f64 * 1000.0 / sent as f64 * 10.0).round() / 10.0),
                channel,
            }
        })
        .collect();

    let call_outcomes = counts::call_outcomes_since(db, since)
        .await?
        .into_iter()
        .collect();

    let year_ago = today - Duration::days(365);
    let diffs = counts::fulfilled_predictions(db, crate::plan::FULFILLED_BY, year_ago)
        .await?
        .into_iter()
        .filter_map(|(predicted, reason)| {
            let day = reason.strip_prefix(crate::plan::FULFILLED_BY)?.get(..10)?;
            let visit = crate::domain::parse_date(day).ok()?;
            (visit >= year_ago).then(|| (visit - predicted).num_days())
        })
        .collect();

    Ok(Overview {
        today,
        counted_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        weeks,
        suppressions,
        opt_outs,
        call_outcomes,
        accuracy: accuracy(diffs),
    })
}

/// The Overview as last counted, counted again when older than a maximum
/// age: one count at a time, the others wait for it. A count runs on its
/// own task, so that a client that gives up waiting does not cancel it.
#[derive(Debug, Default)]
pub struct Counted {
    last: std::sync::Arc<tokio::sync::Mutex<Option<LastCount>>>,
}

/// When the Overview was last counted, and what came of it.
type LastCount = (DateTime<Utc>, std::sync::Arc<Overview>);

impl Counted {
    /// The Overview at `now`, at most `max_age` old.
    pub async fn get(
        &self,
        db: DatabaseConnection,
        config: std::sync::Arc<Config>,
        now: DateTime<Utc>,
        max_age: Duration,
    ) -> Result<std::sync::Arc<Overview>, Failure> {
        let mut last = std::sync::Arc::clone(&self.last).lock_owned().await;
        // A count newer than the request (made while it waited) is fresh.
        if let Some((at, o)) = last.as_ref()
            && now - *at < max_age
        {
            return Ok(std::sync::Arc::clone(o));
        }
        let count = tokio::spawn(async move {
            let fresh = std::sync::Arc::new(overview(&db, &config, now).await?);
            *last = Some((now, std::sync::Arc::clone(&fresh)));
            Ok::<_, Failure>(fresh)
        });
        count
            .await
            .map_err(|e| Failure::Other(format!("counting the overview: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Refusal;

    #[test]
    fn labels_are_the_api_names() {
        for kind in ReasonKind::ALL {
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::from(kind.as_label())
            );
        }
    }

    #[test]
    fn the_rules_own_reasons_fall_into_their_kinds() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let cases: Vec<(String, ReasonKind)> = vec![
            (
                Refusal::OptedOut(Channel::Sms).to_string(),
                ReasonKind::OptedOut,
            ),
            (
                Refusal::NoMarketingConsent(Channel::Email).to_string(),
                ReasonKind::NoConsent,
            ),
            (
                Refusal::NoMarketingConsent(Channel::Call).to_string(),
                ReasonKind::NoConsent,
            ),
            (
                Refusal::NoAddress(Channel::Email).to_string(),
                ReasonKind::NoAddress,
            ),
            (
                Refusal::NoAddress(Channel::Sms).to_string(),
                ReasonKind::NoAddress,
            ),
            (
                crate::plan::Reason::FulfilledBy(d).to_string(),
                ReasonKind::FulfilledByVisit,
            ),
            (
                crate::plan::Reason::PastGrace { grace_days: 14 }.to_string(),
                ReasonKind::Stale,
            ),
            (
                crate::plan::Reason::Displaced { budget: 36 }.to_string(),
                ReasonKind::Displaced,
            ),
            (
                crate::plan::Reason::NoBirthday.to_string(),
                ReasonKind::NotApplicable,
            ),
            (
                crate::plan::Reason::NoWarrantyEnd.to_string(),
                ReasonKind::NotApplicable,
            ),
            (
                crate::rules::NO_VISIT_REASON.to_string(),
                ReasonKind::NoVisit,
            ),
            (
                "skipped by anna@dealer.example: abroad".into(),
                ReasonKind::SkippedByPerson,
            ),
            (
                "frequency cap: no room for the sms within 14 days of its date".into(),
                ReasonKind::Capped,
            ),
            (
                "not sent within 14 days of its date; never sent late".into(),
                ReasonKind::Stale,
            ),
            (
                match crate::dispatch::lapse(
                    &crate::dispatch::Approval {
                        codes: Vec::new(),
                        channels: vec![Channel::Sms],
                        wait: Duration::hours(48),
                        send_at_deadline: false,
                    },
                    &message_for_lapse(),
                    None,
                ) {
                    crate::dispatch::Lapse::Expire(r) | crate::dispatch::Lapse::Send(r) => r,
                },
                ReasonKind::NotApproved,
            ),
            ("something new".into(), ReasonKind::Other),
        ];
        for (reason, kind) in cases {
            assert_eq!(reason_kind(Some(&reason)), kind, "{reason}");
        }
        assert_eq!(reason_kind(None), ReasonKind::Other);
    }

    /// A message awaiting approval, as the store hands it back.
    fn message_for_lapse() -> crate::domain::Message {
        let at = chrono::Utc::now();
        crate::domain::Message {
            id: 1,
            key: "K".into(),
            customer_id: 1,
            channel: "sms".into(),
            recipient: "+4915112345678".into(),
            locale: "en".into(),
            subject: String::new(),
            body: "Hello".into(),
            state: "awaiting_approval".into(),
            reason: None,
            attempts: 0,
            next_attempt_at: Some(at),
            lease_until: None,
            provider_ref: None,
            segments: Some(1),
            created_at: at,
            sent_at: None,
            updated_at: at,
        }
    }

    #[test]
    fn accuracy_takes_the_middle_and_counts_early_and_late() {
        let a = accuracy(vec![-40, -10, 0, 5, 20, 31]);
        assert_eq!(a.visits, 6);
        assert_eq!(a.median_days, Some(5));
        assert_eq!(a.median_abs_days, Some(20));
        assert_eq!(a.within_14_days, 3);
        assert_eq!(a.within_30_days, 4);
        assert_eq!((a.early, a.late), (1, 2));
        assert_eq!(accuracy(Vec::new()), Accuracy::default());
    }

    #[test]
    fn weeks_start_on_monday() {
        let wed = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        assert_eq!(monday(wed), NaiveDate::from_ymd_opt(2026, 11, 30).unwrap());
        let mon = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert_eq!(monday(mon), mon);
    }
}
