//! The JSON API and the desk's security, over HTTP against the daemon's
//! router on every backend: anonymous requests refused, pages and cursors,
//! actions with their audit trail, roles, CSRF, escaping, and sign-in
//! slowed then locked.

use crate::site::{ANNA, Browser, PASSWORD, Site, VIN1, VIN2, client, days_ago, sites};
use serde_json::{Value, json};

async fn api(
    site: &Site,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let c = client();
    let url = site.url(&format!("/api/v1{path}"));
    let mut r = match method {
        "GET" => c.get(url),
        _ => c.post(url),
    }
    .header("authorization", format!("Bearer {token}"));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
    (status, value)
}

/// Every item of a list, page by page after the cursors (each page no
/// longer than its `limit`).
async fn walk(site: &Site, path: &str) -> Vec<Value> {
    let limit: usize = path
        .split("limit=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, page) = api(
            site,
            &site.viewer,
            "GET",
            &format!("{path}&cursor={cursor}"),
            None,
        )
        .await;
        assert_eq!(s, 200, "{}: {path}: {page}", site.backend);
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit, "{}: {path}", site.backend);
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => return items,
        }
    }
}

/// The key of Jonas's welcome email (two days out, planned).
async fn welcome_key(site: &Site) -> String {
    let (status, page) = api(
        site,
        &site.viewer,
        "GET",
        "/queue?days=7&channel=email",
        None,
    )
    .await;
    assert_eq!(status, 200, "{}: {page}", site.backend);
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["vin"] == VIN2 && i["code"] == "onboarding-welcome")
        .unwrap_or_else(|| panic!("{}: no welcome email queued: {page}", site.backend))["key"]
        .as_str()
        .unwrap()
        .to_string()
}

/// An advisor's POST of `body` to `path`.
async fn advisor_posts(site: &Site, path: &str, body: Value) -> (u16, Value) {
    api(site, &site.advisor, "POST", path, Some(body)).await
}

/// The whole queue of the coming year, in one page, as a viewer sees it.
async fn whole_queue(site: &Site) -> (u16, Value) {
    api(site, &site.viewer, "GET", "/queue?days=366&limit=500", None).await
}

const PAGES: &[&str] = &[
    "/",
    "/today",
    "/queue",
    "/customers",
    "/customers/C1",
    "/overview",
    "/users",
    "/account",
    "/imports",
    "/imports/errors.csv",
    "/imports/1/errors.csv",
];
const PAGE_POSTS: &[&str] = &[
    "/signout",
    "/language",
    "/today/1/claim",
    "/today/1/unclaim",
    "/today/1/outcome",
    "/queue/hold",
    "/queue/release",
    "/queue/skip",
    "/queue/send-now",
    "/held/1/approve",
    "/held/1/discard",
    "/customers/C1/visit",
    "/customers/C1/opt-out",
    "/imports",
    "/users",
    "/users/remove",
    "/account/password",
];
const API_GETS: &[&str] = &[
    "/queue",
    "/calls",
    "/customers",
    "/customers/C1/timeline",
    "/held",
    "/overview",
    "/users",
];
const API_POSTS: &[&str] = &[
    "/calls/1/outcome",
    "/visits",
    "/opt-outs",
    "/touchpoints/K/hold",
    "/touchpoints/K/release",
    "/touchpoints/K/skip",
    "/touchpoints/K/send-now",
    "/messages/1/approve",
    "/messages/1/discard",
    "/imports/customers",
    "/users",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_are_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    for site in sites(dir.path()).await {
        let c = client();
        let b = &site.backend;
        for path in PAGES {
            let r = c.get(site.url(path)).send().await.unwrap();
            if *path == "/" {
                assert_eq!(r.status(), 303, "{b}: {path}");
                continue;
            }
            assert_eq!(r.status(), 303, "{b}: GET {path}");
            let to = r.headers()["location"].to_str().unwrap();
            assert!(to.starts_with("/signin?next="), "{b}: {path} -> {to}");
        }
        for path in PAGE_POSTS {
            let r = c
                .post(site.url(path))
                .form(&[("csrf", "x")])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 303, "{b}: POST {path}");
            assert!(
                r.headers()["location"]
                    .to_str()
                    .unwrap()
                    .starts_with("/signin"),
                "{b}: {path}"
            );
        }
        for (method, paths) in [("GET", API_GETS), ("POST", API_POSTS)] {
            for path in paths {
                for auth in [None, Some("Bearer tp_not-a-token"), Some("Basic YTpi")] {
                    let url = site.url(&format!("/api/v1{path}"));
                    let mut r = if method == "GET" {
                        c.get(url)
                    } else {
                        c.post(url).json(&json!({}))
                    };
                    if let Some(a) = auth {
                        r = r.header("authorization", a);
                    }
                    let r = r.send().await.unwrap();
                    assert_eq!(r.status(), 401, "{b}: {method} {path} {auth:?}");
                    assert_eq!(r.headers()["www-authenticate"], "Bearer");
                    let body: Value = r.json().await.unwrap();
                    assert_eq!(body["error"], "unauthorized", "{b}: {path}: {body}");
                    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
                }
            }
        }
        // What stays open: the health check and the OpenAPI document.
        assert_eq!(
            c.get(site.url("/healthz")).send().await.unwrap().status(),
            200
        );
        assert_eq!(
            c.get(site.url("/api/v1/openapi.json"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        // Every answer carries the policy that forbids scripts.
        let r = c.get(site.url("/signin")).send().await.unwrap();
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("script-src"),
            "{csp}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_pages_lists_and_acts_with_an_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    for site in sites(dir.path()).await {
        let b = site.backend.clone();
        let key = welcome_key(&site).await;

        // Hold, hold again (a conflict), release.
        let path = format!("/touchpoints/{key}/hold");
        let (s, held) = advisor_posts(&site, &path, json!({"reason": "owner on holiday"})).await;
        assert_eq!(s, 200, "{b}: {held}");
        assert_eq!(held["state"], "on_hold");
        assert_eq!(held["from"], "planned");
        let (s, again) = api(&site, &site.advisor, "POST", &path, None).await;
        assert_eq!(
            (s, again["error"].as_str()),
            (409, Some("conflict")),
            "{b}: {again}"
        );
        let (s, released) = api(
            &site,
            &site.advisor,
            "POST",
            &format!("/touchpoints/{key}/release"),
            None,
        )
        .await;
        assert_eq!(
            (s, released["state"].as_str()),
            (200, Some("planned")),
            "{b}: {released}"
        );
        let (s, missing) = api(
            &site,
            &site.advisor,
            "POST",
            "/touchpoints/NO:SUCH:0:1/hold",
            None,
        )
        .await;
        assert_eq!(
            (s, missing["error"].as_str()),
            (404, Some("not_found")),
            "{b}: {missing}"
        );

        // The queue, three per page, walked by the cursor: the whole list once, in order.
        let (_, whole) = whole_queue(&site).await;
        let whole: Vec<(String, String)> = whole["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["due_date"].as_str().unwrap().to_string(),
                    i["key"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert!(whole.len() > 6, "{b}: {whole:?}");
        assert!(
            whole.windows(2).all(|w| w[0] < w[1]),
            "{b}: soonest first, then by key"
        );
        let walked: Vec<(String, String)> = walk(&site, "/queue?days=366&limit=3")
            .await
            .iter()
            .map(|i| {
                (
                    i["due_date"].as_str().unwrap().to_string(),
                    i["key"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(walked, whole, "{b}");
        let (_, sms) = api(
            &site,
            &site.viewer,
            "GET",
            "/queue?days=366&channel=sms&limit=500",
            None,
        )
        .await;
        let sms = sms["items"].as_array().unwrap();
        assert!(
            !sms.is_empty() && sms.iter().all(|i| i["channel"] == "sms"),
            "{b}"
        );

        // Customers, one per page, walked by the cursor.
        let seen: Vec<Value> = walk(&site, "/customers?limit=1")
            .await
            .iter()
            .map(|c| c["customer_id"].clone())
            .collect();
        assert_eq!(seen, [json!("C1"), json!("C2")], "{b}");
        // A search's pages, too: both VINs start so.
        let found: Vec<Value> = walk(&site, "/customers?q=wvwzzz&limit=1")
            .await
            .iter()
            .map(|c| c["customer_id"].clone())
            .collect();
        assert_eq!(found, [json!("C1"), json!("C2")], "{b}");
        for (q, expect) in [
            ("anna", "C1"),
            (&VIN2[..8], "C2"),
            ("87654321", "C2"),
            ("0151 8765-4321", "C2"),
            ("anna berg", "C1"),
            ("Berg Anna", "C1"),
            ("jonas@EXAMPLE", "C2"),
        ] {
            let (_, page) = api(
                &site,
                &site.viewer,
                "GET",
                &format!("/customers?q={q}"),
                None,
            )
            .await;
            let ids: Vec<&str> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["customer_id"].as_str().unwrap())
                .collect();
            assert_eq!(ids, [expect], "{b}: q={q}: {page}");
        }
        for bad in [
            "/customers?limit=0",
            "/customers?limit=501",
            "/customers?cursor=%25%25",
            "/queue?days=0",
        ] {
            let (s, e) = api(&site, &site.viewer, "GET", bad, None).await;
            assert!(s == 422 || s == 400, "{b}: {bad}: {s} {e}");
            assert!(
                e["error"].is_string() && e["detail"].is_string(),
                "{b}: {bad}: {e}"
            );
        }

        // The call list, an outcome, and the same outcome again.
        let (_, calls) = api(&site, &site.viewer, "GET", "/calls", None).await;
        let call = calls["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["customer_id"] == "C2")
            .cloned()
            .unwrap_or_else(|| panic!("{b}: no call for Jonas: {calls}"));
        let id = call["id"].as_i64().unwrap();
        let path = format!("/calls/{id}/outcome");
        let (s, e) = advisor_posts(&site, &path, json!({"outcome": "maybe"})).await;
        assert_eq!((s, e["error"].as_str()), (422, Some("invalid")), "{b}: {e}");
        // A call back at a time that is none is refused; on a day, it waits for it.
        let (s, e) = advisor_posts(
            &site,
            &path,
            json!({"outcome": "call_back", "call_back_at": "later"}),
        )
        .await;
        assert_eq!(s, 422, "{b}: {e}");
        let tomorrow = (chrono::Utc::now().date_naive() + chrono::Duration::days(1)).to_string();
        let (s, back) = api(
            &site,
            &site.advisor,
            "POST",
            &path,
            Some(
                json!({"outcome": "call_back", "call_back_on": tomorrow, "call_back_at": "09:15"}),
            ),
        )
        .await;
        assert_eq!(
            (s, back["back_on"].as_str()),
            (200, Some(tomorrow.as_str())),
            "{b}: {back}"
        );
        let (_, calls) = api(&site, &site.viewer, "GET", "/calls", None).await;
        assert!(
            calls["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["id"] != id),
            "{b}: off the list until tomorrow"
        );
        let (s, done) = advisor_posts(
            &site,
            &path,
            json!({"outcome": "declined", "note": "sold the car"}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {done}");
        let (s, again) = advisor_posts(&site, &path, json!({"outcome": "declined"})).await;
        assert_eq!(s, 409, "{b}: {again}");

        // The timeline shows who did what.
        let (s, t) = api(&site, &site.viewer, "GET", "/customers/C2/timeline", None).await;
        assert_eq!(s, 200, "{b}: {t}");
        let actions: Vec<(&str, &str)> = t["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["actor"].as_str().unwrap(), a["action"].as_str().unwrap()))
            .collect();
        assert_eq!(
            actions,
            [
                ("token:advisor", "hold"),
                ("token:advisor", "release"),
                ("token:advisor", "call_outcome"),
                ("token:advisor", "call_outcome")
            ],
            "{b}: {t}"
        );
        assert_eq!(
            t["actions"][2]["after"],
            format!("call_back: call back on {tomorrow} at 09:15")
        );
        assert_eq!(t["actions"][3]["after"], "declined: sold the car");
        assert_eq!(t["actions"][0]["address"], "127.0.0.1");
        let (s, e) = api(&site, &site.viewer, "GET", "/customers/C9/timeline", None).await;
        assert_eq!((s, e["error"].as_str()), (404, Some("not_found")), "{b}");

        // A visit cancels the reminders it fulfils.
        let visit = days_ago(5);
        let (s, added) = advisor_posts(
            &site,
            "/visits",
            json!({"vin": VIN1, "date": visit, "odometer": 11000}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {added}");
        let cancelled = added["cancelled"].as_array().unwrap();
        assert!(
            cancelled.iter().any(|c| c["code"] == "service-sms"),
            "{b}: {added}"
        );
        let (s, e) = advisor_posts(
            &site,
            "/visits",
            json!({"vin": VIN1, "date": "2999-01-01", "odometer": 1}),
        )
        .await;
        assert_eq!(s, 422, "{b}: {e}");

        // An opt-out, then a bad channel.
        let (s, o) = advisor_posts(
            &site,
            "/opt-outs",
            json!({"customer_id": "C1", "channel": "sms"}),
        )
        .await;
        assert_eq!((s, o["opted_out"].as_bool()), (200, Some(true)), "{b}: {o}");
        let (s, _) = advisor_posts(
            &site,
            "/opt-outs",
            json!({"customer_id": "C1", "channel": "fax"}),
        )
        .await;
        assert_eq!(s, 422, "{b}");

        // A bad file: every bad row with its line, nothing imported.
        let bad = "customer_id,name,email,phone,timezone,birthday,consent_email_marketing,consent_sms_marketing,locale\r\n\
                   C3,Lea Wolf,lea@example.com,,UTC,,false,false,en\r\n\
                   C4,Max Roth,not-an-email,,UTC,,false,false,en\r\n";
        let r = client()
            .post(site.url("/api/v1/imports/customers?filename=dms-export.csv"))
            .header("authorization", format!("Bearer {}", site.advisor))
            .body(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{b}");
        let e: Value = r.json().await.unwrap();
        let problems = e["problems"].as_array().unwrap();
        assert_eq!(problems.len(), 1, "{b}: {e}");
        assert!(
            problems[0]
                .as_str()
                .unwrap()
                .starts_with("dms-export.csv:3: email:"),
            "{b}: {e}"
        );
        let (_, all) = api(&site, &site.viewer, "GET", "/customers", None).await;
        assert_eq!(
            all["items"].as_array().unwrap().len(),
            2,
            "{b}: nothing was imported"
        );
        // The Imports page keeps it with its problems, for anyone later.
        let desk = Browser::sign_in(&site, "viewer@dealer.example").await;
        let (_, html) = desk.get("/imports").await;
        assert!(
            html.contains("refused: 1 problem(s); nothing imported")
                && html.contains("dms-export.csv:3: email:"),
            "{b}: the history keeps the report"
        );
        let link = html
            .split("href=\"")
            .filter_map(|h| h.split('"').next())
            .find(|h| {
                h.starts_with("/imports/")
                    && h.ends_with("/errors.csv")
                    && h != &"/imports/errors.csv"
            })
            .unwrap_or_else(|| panic!("{b}: no download of the kept problems"));
        let (status, csv) = desk.get(link).await;
        assert_eq!(status, 200, "{b}");
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows[0], "file,line,column,reason", "{b}");
        assert!(rows[1].starts_with("dms-export.csv,3,email,"), "{b}: {csv}");
        assert_eq!(rows.len(), 2, "{b}: {csv}");
        let (status, _) = desk.get("/imports/999999/errors.csv").await;
        assert_eq!(status, 404, "{b}");
        let (s, _) = api(&site, &site.advisor, "POST", "/imports/contracts", None).await;
        assert_eq!(s, 404, "{b}");
        let (s, _) = api(&site, &site.advisor, "GET", "/no/such/route", None).await;
        assert_eq!(s, 404, "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_enforced_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    for site in sites(dir.path()).await {
        let b = site.backend.clone();
        let key = welcome_key(&site).await;
        for (path, body) in [
            (format!("/touchpoints/{key}/hold"), None),
            (
                format!("/touchpoints/{key}/skip"),
                Some(json!({"reason": "no"})),
            ),
            (format!("/touchpoints/{key}/send-now"), None),
            (
                "/opt-outs".to_string(),
                Some(json!({"customer_id": "C1", "channel": "email"})),
            ),
            (
                "/visits".to_string(),
                Some(json!({"vin": VIN1, "date": days_ago(1), "odometer": 9000})),
            ),
        ] {
            let (s, e) = api(&site, &site.viewer, "POST", &path, body).await;
            assert_eq!(
                (s, e["error"].as_str()),
                (403, Some("forbidden")),
                "{b}: viewer {path}: {e}"
            );
        }
        // Nothing changed.
        assert_eq!(welcome_key(&site).await, key);
        let (_, t) = api(&site, &site.viewer, "GET", "/customers/C2/timeline", None).await;
        assert_eq!(t["actions"], json!([]), "{b}");

        // Advisors neither approve held messages nor manage users.
        let (s, _) = api(&site, &site.advisor, "POST", "/messages/1/approve", None).await;
        assert_eq!(s, 403, "{b}");
        let (s, _) = api(&site, &site.advisor, "GET", "/users", None).await;
        assert_eq!(s, 403, "{b}");
        let (s, _) = api(
            &site,
            &site.advisor,
            "POST",
            "/users",
            Some(
                json!({"email": "x@dealer.example", "role": "admin", "password": "long enough pw"}),
            ),
        )
        .await;
        assert_eq!(s, 403, "{b}");
        let (s, users) = api(&site, &site.admin, "GET", "/users", None).await;
        assert_eq!(
            (s, users.as_array().unwrap().len()),
            (200, 3),
            "{b}: {users}"
        );
        let (s, added) = api(
            &site,
            &site.admin,
            "POST",
            "/users",
            Some(json!({"email": "lea@dealer.example", "role": "viewer"})),
        )
        .await;
        assert_eq!(s, 200, "{b}: {added}");
        assert_eq!(added["generated_password"].as_str().unwrap().len(), 20);
        // Admins approve: an unknown message is not found, not forbidden.
        let (s, _) = api(&site, &site.admin, "POST", "/messages/999/approve", None).await;
        assert_eq!(s, 404, "{b}");

        // At the desk: a viewer sees no action buttons, and a posted action is refused.
        let viewer = Browser::sign_in(&site, "viewer@dealer.example").await;
        let (_, queue) = viewer.get("/queue").await;
        assert!(!queue.contains("action=\"/queue/hold\""), "{b}");
        let r = viewer.post("/queue/hold", &[("key", &key)]).await;
        assert_eq!(r.status(), 303);
        let (_, after) = viewer.get("/queue").await;
        assert!(after.contains("Your role does not allow this."), "{b}");
        assert_eq!(welcome_key(&site).await, key);
        let (_, queue) = api(
            &site,
            &site.viewer,
            "GET",
            "/queue?days=7&state=on_hold",
            None,
        )
        .await;
        assert_eq!(queue["items"], json!([]), "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_a_name_is_shown_escaped_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    for site in sites(dir.path()).await {
        let b = site.backend.clone();
        let desk = Browser::sign_in(&site, "advisor@dealer.example").await;
        let escaped = "Anna &lt;script&gt;alert(1)&lt;&#x2f;script&gt; Berg";
        for path in [
            "/customers?q=anna",
            "/customers/C1",
            "/queue?days=60",
            "/today",
        ] {
            let (status, html) = desk.get(path).await;
            assert_eq!(status, 200, "{b}: {path}");
            assert!(
                !html.contains("<script"),
                "{b}: {path} holds a script element"
            );
            if path != "/today" {
                assert!(
                    html.contains(escaped),
                    "{b}: {path} does not show the name escaped"
                );
            }
        }
        let (_, t) = api(&site, &site.viewer, "GET", "/customers/C1/timeline", None).await;
        assert_eq!(t["name"], ANNA, "{b}: the API gives the name as it is");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_csrf_token_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for site in sites(dir.path()).await {
        let b = site.backend.clone();
        let key = welcome_key(&site).await;
        let desk = Browser::sign_in(&site, "advisor@dealer.example").await;
        for token in ["", "forged"] {
            let r = desk
                .post("/queue/hold", &[("key", &key), ("csrf", token)])
                .await;
            assert_eq!(r.status(), 403, "{b}: csrf={token:?}");
        }
        for (header, value) in [
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "cross-site"),
            ("origin", "null"),
        ] {
            let r = desk
                .client
                .post(site.url("/queue/hold"))
                .header("cookie", &desk.cookie)
                .header(header, value)
                .form(&[("key", key.as_str()), ("csrf", desk.csrf.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "{b}: {header}: {value}");
        }
        let (_, held) = api(
            &site,
            &site.viewer,
            "GET",
            "/queue?days=7&state=on_hold",
            None,
        )
        .await;
        assert_eq!(
            held["items"],
            json!([]),
            "{b}: a refused form changed something"
        );
        let (_, t) = api(&site, &site.viewer, "GET", "/customers/C2/timeline", None).await;
        assert_eq!(t["actions"], json!([]), "{b}");
        // With its token, from our own page, it works.
        let r = desk
            .client
            .post(site.url("/queue/hold"))
            .header("cookie", &desk.cookie)
            .header("origin", site.url(""))
            .header("sec-fetch-site", "same-origin")
            .form(&[("key", key.as_str()), ("csrf", desk.csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{b}");
        let (_, held) = api(
            &site,
            &site.viewer,
            "GET",
            "/queue?days=7&state=on_hold",
            None,
        )
        .await;
        assert_eq!(held["items"][0]["key"], key.as_str(), "{b}: {held}");
        // State never changes on GET.
        assert_eq!(
            desk.get(&format!("/queue/release?key={key}")).await.0,
            405,
            "{b}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_slowed_then_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    for site in sites(dir.path()).await {
        let b = site.backend.clone();
        let c = client();
        let page = c.get(site.url("/signin")).send().await.unwrap();
        let cookie = page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let csrf = crate::site::csrf_in(&page.text().await.unwrap());
        let attempt = |password: &'static str| {
            let (c, cookie, csrf, url) =
                (c.clone(), cookie.clone(), csrf.clone(), site.url("/signin"));
            async move {
                let started = std::time::Instant::now();
                let r = c
                    .post(url)
                    .header("cookie", cookie)
                    .form(&[
                        ("email", "advisor@dealer.example"),
                        ("password", password),
                        ("csrf", &csrf),
                    ])
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                (status, r.text().await.unwrap(), started.elapsed())
            }
        };
        for n in 1..=4 {
            let (status, html, took) = attempt("wrong password!").await;
            assert_eq!(status, 401, "{b}: attempt {n}");
            assert!(
                html.contains("Wrong email or password."),
                "{b}: attempt {n}"
            );
            // Each failure in a row waits longer: 250 ms times the count.
            assert!(
                took >= std::time::Duration::from_millis(250 * n),
                "{b}: attempt {n} took {took:?}"
            );
        }
        let (status, html, _) = attempt("wrong password!").await;
        assert_eq!(status, 401, "{b}");
        assert!(
            html.contains("locked until"),
            "{b}: the fifth failure locks"
        );
        let (status, html, _) = attempt(PASSWORD).await;
        assert_eq!(status, 401, "{b}: the right password while locked");
        assert!(html.contains("locked until"), "{b}");
        // An unknown address gets the same answer as a wrong password.
        let r = c
            .post(site.url("/signin"))
            .header("cookie", &cookie)
            .form(&[
                ("email", "nobody@dealer.example"),
                ("password", "whatever it is"),
                ("csrf", &csrf),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("Wrong email or password."));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let site = sites(dir.path()).await.remove(0);
    let doc: Value = client()
        .get(site.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    let paths = doc["paths"].as_object().unwrap();
    for path in API_GETS.iter().chain(API_POSTS) {
        let templated = path
            .replace("/1/", "/{id}/")
            .replace("/K/", "/{key}/")
            .replace("/C1/", "/{id}/")
            .replace("/imports/customers", "/imports/{kind}");
        assert!(
            paths.contains_key(&templated),
            "{templated} is not in the document"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_at_sign_out_and_when_the_password_changes() {
    let dir = tempfile::tempdir().unwrap();
    for site in sites(dir.path()).await {
        let b = site.backend.clone();
        let first = Browser::sign_in(&site, "advisor@dealer.example").await;
        let second = Browser::sign_in(&site, "advisor@dealer.example").await;
        assert_ne!(
            first.cookie, second.cookie,
            "{b}: each sign-in has its own session"
        );
        let r = first.post("/signout", &[]).await;
        assert_eq!(r.status(), 303, "{b}");
        assert_eq!(first.get("/today").await.0, 303, "{b}: signed out");
        assert_eq!(
            second.get("/today").await.0,
            200,
            "{b}: the other session goes on"
        );

        touchpoint::app::people::change_password(
            &site.db,
            "advisor@dealer.example",
            "another long password".into(),
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        assert_eq!(
            second.get("/today").await.0,
            303,
            "{b}: a password change ends the sessions"
        );
        assert_eq!(second.get("/today").await.0, 303, "{b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_stored_before_the_search_terms_existed_are_found() {
    use migration::MigratorTrait;
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![format!("sqlite://{}/old.db", dir.path().display())];
    if let Some(base) = crate::support::postgres_url() {
        let admin = touchpoint::store::connect(&base, 1).await.unwrap();
        let schema = format!(
            "t_terms_{}_{}",
            std::process::id(),
            crate::support::rand_suffix()
        );
        sea_orm::ConnectionTrait::execute_unprepared(&admin, &format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        urls.push(format!("{base}{sep}options=-c%20search_path%3D{schema}"));
    }
    for url in urls {
        let db = touchpoint::store::connect(&url, 2).await.unwrap();
        // The schema as the version before the desk's search made it.
        migration::Migrator::up(&db, Some(6)).await.unwrap();
        sea_orm::ConnectionTrait::execute_unprepared(
            &db,
            "INSERT INTO customers (customer_id, name, email, phone, timezone, consent_email_marketing, \
             consent_sms_marketing, opted_out_email, opted_out_sms, opted_out_call, updated_at) \
             VALUES ('C7', 'Greta Hoffmann', 'greta@example.de', '+4917612345678', 'UTC', false, false, \
             false, false, false, '2026-11-01T00:00:00Z')",
        )
        .await
        .unwrap();
        // The search terms, their prefix indexes, and what came after.
        assert_eq!(
            touchpoint::store::migrate(&db).await.unwrap(),
            migration::Migrator::migrations().len() - 6,
            "{url}"
        );
        for q in ["hoffmann", "Greta", "greta@example", "12345678"] {
            let page = touchpoint::app::customers::search(
                &db,
                q,
                &touchpoint::app::page::PageRequest::first(10),
            )
            .await
            .unwrap();
            let ids: Vec<&str> = page.items.iter().map(|c| c.customer_id.as_str()).collect();
            assert_eq!(ids, ["C7"], "{url}: q={q}");
        }
        if url.contains("search_path") {
            crate::support::drop_test_schema(&db, &url).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_speaks_the_browsers_language_then_the_users_choice() {
    let dir = tempfile::tempdir().unwrap();
    let site = sites(dir.path()).await.remove(0);
    let c = client();
    for (accept, word) in [
        ("ru-RU,ru;q=0.9,en;q=0.5", "Войти"),
        ("de-DE,en;q=0.5", "Sign in"),
        ("", "Sign in"),
    ] {
        let html = c
            .get(site.url("/signin"))
            .header("accept-language", accept)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(word), "{accept:?}: no {word}");
    }
    let desk = Browser::sign_in(&site, "advisor@dealer.example").await;
    assert!(desk.get("/today").await.1.contains(">Today<"));
    let r = desk.post("/language", &[("lang", "ru")]).await;
    assert_eq!(r.status(), 303);
    let (_, html) = desk.get("/today").await;
    assert!(
        html.contains(">Сегодня<") && html.contains("lang=\"ru\""),
        "the user's choice wins"
    );
    desk.post("/language", &[("lang", "en")]).await;
    assert!(desk.get("/today").await.1.contains(">Today<"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_previews_each_message_in_its_customers_words() {
    let dir = tempfile::tempdir().unwrap();
    for site in sites(dir.path()).await {
        let b = site.backend.clone();
        let (s, page) = whole_queue(&site).await;
        assert_eq!(s, 200, "{b}: {page}");
        let items = page["items"].as_array().unwrap();
        let mut sms_locales = Vec::new();
        for i in items {
            let p = &i["preview"];
            assert!(i.get("preview_error").is_none(), "{b}: {i}");
            let body = p["body"].as_str().unwrap_or_else(|| panic!("{b}: {i}"));
            assert!(!body.is_empty(), "{b}: {i}");
            let locale = p["locale"].as_str().unwrap();
            assert_eq!(
                locale,
                if i["vin"] == VIN2 { "ru" } else { "en" },
                "{b}: {i}"
            );
            if i["channel"] == "sms" {
                assert_eq!(p["subject"], "", "{b}: {i}");
                // UCS-2 when any character is outside GSM 03.38 (Cyrillic is).
                let cyrillic = body.chars().any(|c| ('А'..='я').contains(&c));
                let encoding = p["encoding"].as_str().unwrap();
                if cyrillic {
                    assert_eq!(encoding, "ucs-2", "{b}: {i}");
                    let units = body.encode_utf16().count() as u64;
                    let parts = if units <= 70 { 1 } else { units.div_ceil(67) };
                    assert_eq!(p["segments"].as_u64(), Some(parts), "{b}: {i}");
                }
                assert!(p["segments"].as_u64().unwrap() >= 1, "{b}: {i}");
                sms_locales.push((locale.to_string(), encoding.to_string()));
            } else {
                assert!(!p["subject"].as_str().unwrap().is_empty(), "{b}: {i}");
                assert!(p.get("segments").is_none(), "{b}: {i}");
            }
        }
        assert!(
            sms_locales.contains(&("ru".into(), "ucs-2".into())),
            "{b}: a Russian SMS is queued: {sms_locales:?}"
        );
        assert!(
            sms_locales.iter().any(|(l, _)| l == "en"),
            "{b}: an English SMS is queued: {sms_locales:?}"
        );
        let welcome = items
            .iter()
            .find(|i| i["vin"] == VIN2 && i["code"] == "onboarding-welcome")
            .unwrap();
        let body = welcome["preview"]["body"].as_str().unwrap();
        assert!(
            body.contains("Jonas Keller") && body.contains("Skoda Octavia"),
            "{b}: the preview carries the customer's own data: {body}"
        );

        // The Queue page shows the same preview.
        let desk = Browser::sign_in(&site, "viewer@dealer.example").await;
        let (status, html) = desk.get("/queue?days=366").await;
        assert_eq!(status, 200, "{b}");
        assert!(
            html.contains("Skoda Octavia"),
            "{b}: the page shows the text"
        );
        assert!(
            html.contains("SMS segments, ucs-2"),
            "{b}: the page shows an SMS's segments and encoding"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_counts_what_went_out_and_what_came_of_it() {
    let dir = tempfile::tempdir().unwrap();
    for site in sites(dir.path()).await {
        let b = site.backend.clone();
        let (s, before) = api(&site, &site.viewer, "GET", "/overview", None).await;
        assert_eq!(s, 200, "{b}: {before}");
        let weeks = before["weeks"].as_array().unwrap();
        assert_eq!(weeks.len(), 16, "{b}");
        // The current week is the twelfth: Jonas's onboarding call went out
        // today; Anna's and Jonas's emails are still to go.
        assert!(
            weeks[11]["sent"]["call"].as_i64().unwrap() >= 1,
            "{b}: {before}"
        );
        assert!(
            weeks[..11]
                .iter()
                .all(|w| w["sent"].as_object().unwrap().is_empty()),
            "{b}: nothing went out before this week: {before}"
        );
        let due: i64 = weeks[11..]
            .iter()
            .filter_map(|w| w["due"]["email"].as_i64())
            .sum();
        assert!(due >= 1, "{b}: {before}");
        assert_eq!(before["accuracy"]["visits"], 0, "{b}");
        assert!(
            before["call_outcomes"].as_object().unwrap().is_empty(),
            "{b}"
        );

        // A call booked, an SMS opt-out, a service visit a month early.
        let (_, calls) = api(&site, &site.viewer, "GET", "/calls", None).await;
        let id = calls["items"][0]["id"].as_i64().unwrap();
        let (s, e) = advisor_posts(
            &site,
            &format!("/calls/{id}/outcome"),
            json!({"outcome": "booked"}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {e}");
        let (s, e) = advisor_posts(
            &site,
            "/opt-outs",
            json!({"customer_id": "C1", "channel": "sms"}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {e}");
        let visit = days_ago(0);
        let (s, e) = advisor_posts(
            &site,
            "/visits",
            json!({"vin": VIN1, "date": visit, "odometer": 11000}),
        )
        .await;
        assert_eq!(s, 200, "{b}: {e}");

        let (s, o) = api(&site, &site.viewer, "GET", "/overview", None).await;
        assert_eq!(s, 200, "{b}: {o}");
        assert_eq!(o["call_outcomes"]["booked"], 1, "{b}: {o}");
        let sms = o["opt_outs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["channel"] == "sms")
            .unwrap();
        assert_eq!(
            (
                sms["opted_out"].as_i64(),
                sms["customers"].as_i64(),
                sms["recent"].as_i64()
            ),
            (Some(1), Some(2), Some(1)),
            "{b}: {o}"
        );
        let a = &o["accuracy"];
        // Anna's first service was predicted about a month out.
        assert_eq!(
            (
                a["visits"].as_i64(),
                a["early"].as_i64(),
                a["late"].as_i64()
            ),
            (Some(1), Some(1), Some(0)),
            "{b}: {o}"
        );
        let off = a["median_days"].as_i64().unwrap();
        assert!((-45..-14).contains(&off), "{b}: {o}");

        // The page shows the chart and the same counts.
        let desk = Browser::sign_in(&site, "viewer@dealer.example").await;
        let (status, html) = desk.get("/overview").await;
        assert_eq!(status, 200, "{b}");
        assert!(html.contains("<svg class=\"chart\""), "{b}: the chart");
        assert!(html.contains("class=\"c-call sent\""), "{b}: the call bar");
        assert!(html.contains("fulfilled by a visit"), "{b}: {html}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_is_counted_again_only_when_older_than_its_maximum_age() {
    let dir = tempfile::tempdir().unwrap();
    for (url, db, config) in crate::support::databases(dir.path()).await {
        let counted = touchpoint::app::overview::Counted::default();
        let config = std::sync::Arc::new(config);
        let now = chrono::Utc::now();
        let max = chrono::Duration::minutes(5);
        let first = counted
            .get(db.clone(), config.clone(), now, max)
            .await
            .unwrap();
        let soon = counted
            .get(
                db.clone(),
                config.clone(),
                now + chrono::Duration::minutes(4),
                max,
            )
            .await
            .unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &soon), "{url}: kept");
        let later = counted
            .get(
                db.clone(),
                config.clone(),
                now + chrono::Duration::minutes(6),
                max,
            )
            .await
            .unwrap();
        assert!(
            !std::sync::Arc::ptr_eq(&first, &later),
            "{url}: counted again"
        );
        assert_ne!(first.counted_at, later.counted_at, "{url}");

        // A client that gives up at once does not cancel the count it started.
        let counted = touchpoint::app::overview::Counted::default();
        let abandoned = tokio::time::timeout(
            std::time::Duration::from_nanos(1),
            counted.get(db.clone(), config.clone(), now, max),
        )
        .await;
        assert!(abandoned.is_err(), "{url}: given up before the count ended");
        let next = counted
            .get(
                db.clone(),
                config.clone(),
                now + chrono::Duration::minutes(1),
                max,
            )
            .await
            .unwrap();
        assert_eq!(
            next.counted_at, first.counted_at,
            "{url}: the abandoned count was kept"
        );
        // A request that began before the last count finished takes it.
        let earlier = counted
            .get(
                db.clone(),
                config.clone(),
                now - chrono::Duration::seconds(1),
                max,
            )
            .await
            .unwrap();
        assert_eq!(
            earlier.counted_at, first.counted_at,
            "{url}: not counted again"
        );
    }
}

/// The `<code>` text inside the element of `id` in `html`.
fn code_in(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let rest = &html[at..];
    let start = rest.find("<code>").unwrap() + 6;
    let end = rest.find("</code>").unwrap();
    rest[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_manage_users_and_everyone_changes_their_own_password() {
    let dir = tempfile::tempdir().unwrap();
    for site in sites(dir.path()).await {
        let b = site.backend.clone();
        let admin = Browser::sign_in(&site, "admin@dealer.example").await;
        let r = admin
            .post(
                "/users",
                &[
                    ("email", "Lea@Dealer.example"),
                    ("role", "advisor"),
                    ("password", ""),
                ],
            )
            .await;
        assert_eq!(r.status(), 200, "{b}");
        let html = r.text().await.unwrap();
        let generated = code_in(&html, "generated");
        assert!(generated.len() >= 16, "{b}: {generated}");
        let (_, again) = admin.get("/users").await;
        assert!(again.contains("lea@dealer.example"), "{b}: listed");
        assert!(
            !again.contains(&generated),
            "{b}: the password is shown once"
        );

        // Lea signs in with it; an advisor manages no one.
        let lea = Browser::sign_in_with(&site, "lea@dealer.example", &generated).await;
        assert_eq!(lea.get("/users").await.0, 403, "{b}");
        let r = lea
            .post(
                "/users",
                &[("email", "max@dealer.example"), ("role", "admin")],
            )
            .await;
        assert_eq!(r.status(), 303, "{b}");
        let users = touchpoint::app::people::users(&site.db, chrono::Utc::now())
            .await
            .unwrap();
        assert!(
            !users.iter().any(|u| u.email == "max@dealer.example"),
            "{b}"
        );

        // Her own password: the current one is checked, then her other
        // browser is signed out and this one stays.
        let other = Browser::sign_in_with(&site, "lea@dealer.example", &generated).await;
        let new = "a brand new password";
        lea.post(
            "/account/password",
            &[
                ("current", "not the password"),
                ("new", new),
                ("again", new),
            ],
        )
        .await;
        let (_, page) = lea.get("/account").await;
        assert!(page.contains("the current password is wrong"), "{b}");
        lea.post(
            "/account/password",
            &[
                ("current", &generated),
                ("new", new),
                ("again", "something else entirely"),
            ],
        )
        .await;
        let (_, page) = lea.get("/account").await;
        assert!(page.contains("differ"), "{b}");
        lea.post(
            "/account/password",
            &[("current", &generated), ("new", new), ("again", new)],
        )
        .await;
        let (_, page) = lea.get("/account").await;
        assert!(page.contains("Password changed."), "{b}");
        assert_eq!(
            other.get("/today").await.0,
            303,
            "{b}: the other browser is out"
        );
        assert_eq!(lea.get("/today").await.0, 200, "{b}: this one stays");
        let signed = touchpoint::app::people::sign_in(
            &site.db,
            "lea@dealer.example",
            &generated,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        assert!(
            !matches!(signed, touchpoint::app::people::SignIn::Welcome(_)),
            "{b}: the old password is gone"
        );
        Browser::sign_in_with(&site, "lea@dealer.example", new).await;

        // The administrator removes her, but not themself.
        admin
            .post("/users/remove", &[("email", "admin@dealer.example")])
            .await;
        let (_, page) = admin.get("/users").await;
        assert!(page.contains("you cannot remove yourself"), "{b}");
        let r = admin
            .post("/users/remove", &[("email", "lea@dealer.example")])
            .await;
        assert_eq!(r.status(), 303, "{b}");
        let users: Vec<String> = touchpoint::app::people::users(&site.db, chrono::Utc::now())
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.email)
            .collect();
        assert!(users.contains(&"admin@dealer.example".to_string()), "{b}");
        assert!(!users.contains(&"lea@dealer.example".to_string()), "{b}");
        assert_eq!(lea.get("/today").await.0, 303, "{b}: removed, signed out");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_list_comes_a_page_at_a_time_in_the_apis_order() {
    let dir = tempfile::tempdir().unwrap();
    for site in sites(dir.path()).await {
        let b = site.backend.clone();
        // Thirty more owners who bought yesterday: thirty more calls today.
        let bought = days_ago(1);
        let mut customers = String::from(
            "customer_id,name,email,phone,timezone,birthday,consent_email_marketing,consent_sms_marketing,locale\r\n",
        );
        let mut vehicles = String::from(
            "vin,customer_id,make,model,model_year,purchase_date,purchase_odometer_km,avg_monthly_km\r\n",
        );
        for i in 0..30 {
            customers.push_str(&format!(
                "P{i:02},Owner {i:02},,+4915112{i:06},UTC,,false,false,en\r\n"
            ));
            vehicles.push_str(&format!(
                "WVWZZZ1KZBW{i:06},P{i:02},Volkswagen,Polo,2025,{bought},0,\r\n"
            ));
        }
        let now = chrono::Utc::now();
        for (kind, body) in [
            (touchpoint::import::Kind::Customers, customers),
            (touchpoint::import::Kind::Vehicles, vehicles),
        ] {
            touchpoint::app::import_upload(
                &site.db,
                &site.config,
                kind,
                "dms.csv",
                body.as_bytes(),
                false,
                now,
            )
            .await
            .unwrap();
        }
        crate::support::pass(&site.db, &site.config, now).await;

        let desk = Browser::sign_in(&site, "advisor@dealer.example").await;
        let (_, first) = desk.get("/today").await;
        let ids = |html: &str| -> Vec<String> {
            html.split("id=\"call-")
                .skip(1)
                .map(|s| s.split('"').next().unwrap().to_string())
                .collect()
        };
        let page1 = ids(&first);
        assert_eq!(page1.len(), 25, "{b}");
        assert!(
            first.contains("<span class=\"count\">31</span>"),
            "{b}: all counted"
        );
        let at = first
            .find("/today?cursor=")
            .unwrap_or_else(|| panic!("{b}: no next page"));
        let link = first[at..].split('"').next().unwrap().replace("&amp;", "&");
        let (_, second) = desk.get(&link).await;
        let page2 = ids(&second);
        assert_eq!(page2.len(), 6, "{b}");
        assert!(!second.contains("/today?cursor="), "{b}: the last page");
        // The same calls, in the same order, as the API's list.
        let walked: Vec<String> = walk(&site, "/calls?limit=500")
            .await
            .iter()
            .map(|c| c["id"].to_string())
            .collect();
        let shown: Vec<String> = page1.into_iter().chain(page2).collect();
        assert_eq!(shown, walked, "{b}");
    }
}
