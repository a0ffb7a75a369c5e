use super::*;
use crate::domain::VisitKind;
use crate::predict::{Reading, Schedule};
use proptest::prelude::*;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn template() -> Template {
    Template::parse(crate::plan::DEFAULT_PLAN).unwrap()
}

fn vehicle<'a>(
    purchase: NaiveDate,
    readings: &'a [Reading],
    declared: Option<f64>,
    birthday: Option<NaiveDate>,
) -> VehicleFacts<'a> {
    VehicleFacts {
        facts: Facts {
            purchase_date: purchase,
            purchase_odometer_km: 0,
            readings,
            declared_monthly_km: declared,
            schedule: Schedule::default(),
        },
        birthday,
    }
}

fn count(plan: &Plan<'_>, prefix: &str) -> usize {
    plan.touchpoints
        .iter()
        .filter(|t| t.code().starts_with(prefix))
        .count()
}

#[test]
fn typical_owner_gets_exactly_36_in_each_cycle_and_nothing_displaced() {
    let t = template();
    let params = PlanParams::default();
    let v = vehicle(d("2025-05-20"), &[], None, Some(d("1980-07-04")));
    for cycle in 0..3 {
        let (start, _) = cycle_bounds(d("2025-05-20"), cycle, 36);
        let plan = build(&t, &v, &params, cycle, start);
        assert_eq!(plan.touchpoints.len(), 36, "cycle {cycle}");
        assert!(
            plan.displaced.is_empty(),
            "cycle {cycle}: {:?}",
            plan.displaced
        );
        assert!(
            plan.touchpoints
                .iter()
                .all(|t| t.date >= plan.cycle_start && t.date <= plan.cycle_end)
        );
        assert_eq!(count(&plan, "onboarding-"), 5);
        assert_eq!(count(&plan, "birthday-"), 3);
        assert_eq!(count(&plan, "tyres-"), 6);
        assert_eq!(count(&plan, "cycle-"), 3);
    }
    let plan = build(&t, &v, &params, 0, d("2025-05-20"));
    // Services at 12 and 24 months in full, the 36-month one's reminders.
    assert_eq!(count(&plan, "service-email"), 3);
    assert_eq!(count(&plan, "service-winback"), 2);
    assert!(
        plan.touchpoints.iter().all(|t| t.state == State::Planned),
        "{:#?}",
        plan.touchpoints
    );
}

#[test]
fn first_service_email_is_30_days_before_due() {
    let t = template();
    let v = vehicle(d("2025-05-20"), &[], None, None);
    let plan = build(&t, &v, &PlanParams::default(), 0, d("2025-05-20"));
    let first = plan
        .touchpoints
        .iter()
        .find(|t| t.code() == "service-email")
        .unwrap();
    assert_eq!(first.date, d("2026-04-20"));
    assert_eq!(first.occurrence, 1);
    assert_eq!(first.dedup_key("VIN", 0), "VIN:service-email:0:1");
}

#[test]
fn high_mileage_owner_displaces_lowest_priority_and_lists_it() {
    let t = template();
    let v = vehicle(d("2025-05-20"), &[], Some(2200.0), Some(d("1980-07-04")));
    let plan = build(&t, &v, &PlanParams::default(), 0, d("2025-05-20"));
    assert_eq!(plan.touchpoints.len(), 36);
    assert!(!plan.displaced.is_empty());
    let lowest_kept = plan
        .touchpoints
        .iter()
        .map(|t| t.entry.priority)
        .min()
        .unwrap();
    for x in &plan.displaced {
        assert!(x.entry.priority <= lowest_kept);
        assert_eq!(x.entry.category, Category::Marketing);
        assert!(matches!(x.reason, Some(Reason::Displaced { budget: 36 })));
    }
    assert!(count(&plan, "service-email") > 3);
}

#[test]
fn unknown_birthday_is_skipped_on_the_purchase_anniversaries() {
    let t = template();
    let v = vehicle(d("2025-05-20"), &[], None, None);
    let plan = build(&t, &v, &PlanParams::default(), 0, d("2025-05-20"));
    let birthdays: Vec<_> = plan
        .touchpoints
        .iter()
        .filter(|t| t.code().starts_with("birthday"))
        .collect();
    assert_eq!(birthdays.len(), 3);
    let dates: Vec<_> = birthdays.iter().map(|t| t.date).collect();
    assert_eq!(
        dates,
        vec![d("2025-05-20"), d("2026-05-20"), d("2027-05-20")]
    );
    assert!(
        birthdays
            .iter()
            .all(|t| t.state == State::Skipped && t.reason == Some(Reason::NoBirthday))
    );
}

#[test]
fn mid_cycle_import_skips_what_is_past_grace() {
    let t = template();
    let v = vehicle(d("2024-01-10"), &[], None, Some(d("1990-02-01")));
    let as_of = d("2025-06-01");
    let plan = build(&t, &v, &PlanParams::default(), 0, as_of);
    assert_eq!(plan.touchpoints.len(), 36);
    for tp in &plan.touchpoints {
        if tp.date < d("2025-05-25") {
            assert_eq!(tp.state, State::Skipped, "{}", tp.code());
        } else {
            assert_ne!(
                tp.reason,
                Some(Reason::PastGrace { grace_days: 7 }),
                "{}",
                tp.code()
            );
        }
    }
    // Within the grace window: still planned.
    let plan = build(&t, &v, &PlanParams::default(), 0, d("2024-01-16"));
    let welcome = plan
        .touchpoints
        .iter()
        .find(|t| t.code() == "onboarding-welcome")
        .unwrap();
    assert_eq!(welcome.state, State::Planned);
}

#[test]
fn a_recorded_visit_cancels_what_it_fulfils_and_replans() {
    let t = template();
    let visit = [Reading {
        date: d("2026-01-20"),
        odometer_km: 14_000,
        kind: VisitKind::Service,
    }];
    let v = vehicle(d("2025-03-01"), &visit, None, None);
    let plan = build(&t, &v, &PlanParams::default(), 0, d("2026-01-21"));
    let first: Vec<_> = plan
        .touchpoints
        .iter()
        .filter(|t| t.occurrence == 1 && t.code().starts_with("service-"))
        .collect();
    let winback = first
        .iter()
        .find(|t| t.code() == "service-winback")
        .unwrap();
    assert_eq!(winback.state, State::Cancelled);
    assert_eq!(winback.reason, Some(Reason::FulfilledBy(d("2026-01-20"))));
    // The visit came before every reminder of its service: all are cancelled.
    for code in [
        "service-email",
        "service-call",
        "service-sms",
        "service-winback",
    ] {
        let t = first.iter().find(|t| t.code() == code).unwrap();
        assert_eq!(
            (t.state, t.reason),
            (State::Cancelled, Some(Reason::FulfilledBy(d("2026-01-20")))),
            "{code}"
        );
    }
    let thanks = first.iter().find(|t| t.code() == "service-thanks").unwrap();
    assert_eq!(thanks.date, d("2026-01-22"));
    assert!(!thanks.awaits_visit, "the visit is recorded");
    let predicted_thanks = plan
        .touchpoints
        .iter()
        .find(|t| t.code() == "service-thanks" && t.occurrence == 2)
        .unwrap();
    assert!(
        predicted_thanks.awaits_visit,
        "the second service is only predicted"
    );
    assert_eq!(thanks.state, State::Planned);
    // The next service is planned from the visit.
    let second = plan
        .touchpoints
        .iter()
        .find(|t| t.code() == "service-email" && t.occurrence == 2)
        .unwrap();
    assert!(
        second.date > d("2026-11-01") && second.date < d("2027-01-01"),
        "{}",
        second.date
    );
    // 14,000 km in the 325 days since the purchase: the next 15,000 km take
    // 348 days from the visit, before its 12 months are up.
    assert_eq!(second.service_due, Some(d("2027-01-03")));
    let sms = plan
        .touchpoints
        .iter()
        .find(|t| t.code() == "service-sms" && t.occurrence == 2)
        .unwrap();
    assert_eq!(sms.date, d("2026-12-31"));
}

#[test]
fn cycles_tile_the_calendar() {
    let p = d("2024-02-29");
    let (s0, e0) = cycle_bounds(p, 0, 36);
    let (s1, e1) = cycle_bounds(p, 1, 36);
    assert_eq!((s0, e0), (p, d("2027-02-27")));
    assert_eq!(s1, d("2027-02-28"));
    assert_eq!(e1, d("2030-02-27"));
    assert_eq!(cycle_of(p, d("2027-02-27"), 36), 0);
    assert_eq!(cycle_of(p, d("2027-02-28"), 36), 1);
    assert_eq!(cycle_of(p, d("2020-01-01"), 36), 0);
}

fn arb_date() -> impl Strategy<Value = NaiveDate> {
    (0i64..12_000).prop_map(|n| d("2000-01-01") + chrono::Duration::days(n))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_owner_gets_exactly_36_inside_the_cycle(
        purchase in arb_date(), rate in 200.0f64..8000.0, cycle in 0u32..3,
        birthday in proptest::option::of(arb_date()), as_of_days in 0i64..1200,
    ) {
        let t = template();
        let v = vehicle(purchase, &[], Some(rate), birthday);
        let (start, end) = cycle_bounds(purchase, cycle, 36);
        let as_of = add_days(start, as_of_days).min(end);
        let plan = build(&t, &v, &PlanParams::default(), cycle, as_of);
        prop_assert_eq!(plan.touchpoints.len(), 36);
        for tp in &plan.touchpoints {
            prop_assert!(tp.date >= start && tp.date <= end);
        }
        let mut keys: Vec<_> = plan.touchpoints.iter().chain(&plan.displaced).map(|t| t.dedup_key("V", cycle)).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        prop_assert_eq!(keys.len(), n, "dedup keys are unique");
        if let Some(min_kept) = plan.touchpoints.iter().filter(|t| !t.entry.reserve).map(|t| t.entry.priority).min() {
            for x in &plan.displaced {
                prop_assert!(x.entry.priority <= min_kept);
            }
        }
        if rate <= 1250.0 {
            prop_assert!(plan.displaced.is_empty());
        }
    }

    #[test]
    fn cycle_of_agrees_with_bounds(purchase in arb_date(), later in 0i64..8000) {
        let date = add_days(purchase, later);
        let k = cycle_of(purchase, date, 36);
        let (s, e) = cycle_bounds(purchase, k, 36);
        prop_assert!(s <= date && date <= e);
    }

    #[test]
    fn plans_are_deterministic(purchase in arb_date(), rate in 200.0f64..5000.0) {
        let t = template();
        let v = vehicle(purchase, &[], Some(rate), None);
        let a = build(&t, &v, &PlanParams::default(), 0, purchase);
        let b = build(&t, &v, &PlanParams::default(), 0, purchase);
        prop_assert_eq!(a, b);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Owners who come late, early or not at all still get exactly 36 per
    /// cycle: the reserves fill what the services leave.
    #[test]
    fn irregular_service_histories_still_get_36(
        purchase in arb_date(),
        gaps in proptest::collection::vec(150i64..900, 0..6),
        rate in 300.0f64..2500.0,
        as_of_days in 0i64..2100,
        birthday in proptest::option::of(arb_date()),
    ) {
        let t = template();
        let mut readings = Vec::new();
        let mut day = 0;
        for gap in gaps {
            day += gap;
            readings.push(Reading {
                date: add_days(purchase, day),
                odometer_km: (day as f64 * rate / 30.4375) as i64,
                kind: VisitKind::Service,
            });
        }
        let as_of = add_days(purchase, as_of_days);
        let v = vehicle(purchase, &readings, Some(rate), birthday);
        let cycle = cycle_of(purchase, as_of, 36);
        let plan = build(&t, &v, &PlanParams::default(), cycle, as_of);
        prop_assert_eq!(plan.touchpoints.len(), 36, "cycle {} as of {}: {:?}", cycle, as_of,
            plan.touchpoints.iter().map(|t| t.code()).collect::<Vec<_>>());
    }
}

/// A driver's odometer history: fast or slow (300–5000 km a month), each
/// stretch between two visits at its own pace (the driver's ± up to 60%),
/// the visits at irregular intervals, some of them services; and a day,
/// after the latest visit, on which the plan is made.
#[derive(Debug, Clone)]
struct NoisyHistory {
    purchase: NaiveDate,
    readings: Vec<Reading>,
    as_of: NaiveDate,
}

fn arb_noisy_history() -> impl Strategy<Value = NoisyHistory> {
    (
        arb_date(),
        300.0f64..5000.0,
        proptest::collection::vec((10i64..200, -0.6f64..0.6, 0u8..4), 2..14),
        0i64..400,
    )
        .prop_map(|(purchase, rate, visits, after)| {
            let (mut day, mut km) = (0i64, 0.0f64);
            let readings: Vec<Reading> = visits
                .into_iter()
                .map(|(gap, noise, kind)| {
                    day += gap;
                    km += gap as f64 * rate / 30.4375 * (1.0 + noise);
                    Reading {
                        date: add_days(purchase, day),
                        odometer_km: km.round() as i64,
                        kind: [
                            VisitKind::Service,
                            VisitKind::Reading,
                            VisitKind::Repair,
                            VisitKind::Inspection,
                        ][usize::from(kind)],
                    }
                })
                .collect();
            NoisyHistory {
                purchase,
                readings,
                as_of: add_days(purchase, day + after),
            }
        })
}

impl NoisyHistory {
    fn plan<'t>(&self, t: &'t Template) -> Plan<'t> {
        let v = vehicle(self.purchase, &self.readings, None, None);
        let cycle = cycle_of(self.purchase, self.as_of, 36);
        build(t, &v, &PlanParams::default(), cycle, self.as_of)
    }
}

/// Per service still only predicted (by its due date): the days between the
/// due date and its planned touchpoint `code`.
fn leads(plan: &Plan<'_>, code: &str) -> std::collections::BTreeMap<NaiveDate, i64> {
    plan.touchpoints
        .iter()
        .chain(&plan.displaced)
        .filter(|t| t.code() == code && t.state == State::Planned)
        .filter_map(|t| Some((t.service_due?, (t.service_due? - t.date).num_days())))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Measured, noisy driving: still exactly 36, every one inside the
    /// cycle, each occurrence once; the adaptive reminders at most
    /// `max_extra_lead_days` earlier than the template's lead, the others on it.
    #[test]
    fn noisy_drivers_get_36_inside_the_cycle_with_unique_keys(h in arb_noisy_history()) {
        let t = template();
        let plan = h.plan(&t);
        prop_assert_eq!(plan.touchpoints.len(), 36, "{:?}", h);
        for tp in &plan.touchpoints {
            prop_assert!(
                plan.cycle_start <= tp.date && tp.date <= plan.cycle_end,
                "{} on {} outside {}..={}", tp.code(), tp.date, plan.cycle_start, plan.cycle_end
            );
        }
        let mut keys: Vec<_> = plan.touchpoints.iter().chain(&plan.displaced)
            .map(|t| t.dedup_key("V", plan.cycle)).collect();
        let n = keys.len();
        keys.sort();
        keys.dedup();
        prop_assert_eq!(keys.len(), n, "dedup keys are unique");
        for &lead in leads(&plan, "service-email").values() {
            prop_assert!((30..=60).contains(&lead), "service-email {} days ahead", lead);
        }
        for &lead in leads(&plan, "service-call").values() {
            prop_assert!((14..=44).contains(&lead), "service-call {} days ahead", lead);
        }
        for &lead in leads(&plan, "service-sms").values() {
            prop_assert_eq!(lead, 3, "service-sms is not adaptive");
        }
    }
}

/// Over many noisy histories the adaptive lead really happens: the first
/// reminder often comes earlier than 30 days before the due date, sometimes
/// by the whole 30 extra days, sometimes by less; and never for a declared
/// rate, whatever the driving.
#[test]
fn noisy_histories_move_the_adaptive_reminders_earlier() {
    use proptest::strategy::ValueTree;
    let t = template();
    let strategy = arb_noisy_history();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut plans, mut earlier, mut capped, mut graded) = (0, 0, 0, 0);
    for _ in 0..400 {
        let h = strategy.new_tree(&mut runner).unwrap().current();
        let plan = h.plan(&t);
        let email = leads(&plan, "service-email");
        if email.is_empty() {
            continue;
        }
        plans += 1;
        if email.values().any(|&l| l > 30) {
            earlier += 1;
        }
        capped += usize::from(email.values().any(|&l| l == 60));
        graded += usize::from(email.values().any(|&l| l > 30 && l < 60));
        // A service's reminders move together: the call as far as the email.
        for (due, call) in leads(&plan, "service-call") {
            if let Some(email) = email.get(&due) {
                assert_eq!(email - 30, call - 14, "service due {due}: {h:?}");
            }
        }
        // Declared by the owner: the template's lead, however the car is driven.
        let declared = vehicle(h.purchase, &[], Some(1500.0), None);
        let plain = build(&t, &declared, &PlanParams::default(), plan.cycle, h.as_of);
        assert!(leads(&plain, "service-email").values().all(|&l| l == 30));
    }
    assert!(plans > 300, "{plans} plans with a predicted service");
    assert!(earlier * 2 > plans, "{earlier} of {plans} earlier");
    assert!(capped > 0 && graded > 0, "{capped} capped, {graded} graded");
}
