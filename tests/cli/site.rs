//! A desk site for the API, security and browser tests: two owners (one
//! whose name holds markup, one written to in Russian), the first planning
//! and dispatch pass made, three users and three tokens, and the daemon's
//! router served on a free port.

use chrono::{Duration, Utc};
use sea_orm::DatabaseConnection;
use std::net::SocketAddr;
use touchpoint::app::{self, people};
use touchpoint::config::Config;
use touchpoint::domain::Role;
use touchpoint::http::{AppState, router};

/// Anna's car: eleven months in, its first service a month away.
pub const VIN1: &str = "WVWZZZ1KZAW000101";
/// Jonas's car: bought yesterday, its onboarding call due today.
pub const VIN2: &str = "WVWZZZ3CZPE000102";
pub const ANNA: &str = "Anna <script>alert(1)</script> Berg";
pub const PASSWORD: &str = "correct horse battery";

pub struct Site {
    pub db: DatabaseConnection,
    pub addr: SocketAddr,
    pub admin: String,
    pub advisor: String,
    pub viewer: String,
    pub backend: String,
    pub config: Config,
}

pub fn days_ago(n: i64) -> String {
    (Utc::now().date_naive() - Duration::days(n)).to_string()
}

/// Calls and SMS at any hour: the tests run whenever they run.
pub const ANY_HOUR: &str = "[plan]\ndefault_timezone = \"UTC\"\n\
    [quiet_hours.sms]\nstart = \"00:00\"\nend = \"24:00\"\nsundays = true\n\
    [quiet_hours.call]\nstart = \"00:00\"\nend = \"24:00\"\nsundays = true\n";

impl Site {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The site on `db`, configured by `config`.
    pub async fn new(backend: &str, db: DatabaseConnection, config: Config) -> Site {
        let now = Utc::now();
        let customers = format!(
            "customer_id,name,email,phone,timezone,birthday,consent_email_marketing,consent_sms_marketing,locale\r\n\
             C1,\"{ANNA}\",anna@example.com,+4915112345678,UTC,,false,false,en\r\n\
             C2,Jonas Keller,jonas@example.com,+4915187654321,UTC,,false,false,ru\r\n"
        );
        let vehicles = format!(
            "vin,customer_id,make,model,model_year,purchase_date,purchase_odometer_km,avg_monthly_km\r\n\
             {VIN1},C1,Volkswagen,Golf,2024,{},0,1000\r\n\
             {VIN2},C2,Skoda,Octavia,2025,{},0,\r\n",
            days_ago(335),
            days_ago(1)
        );
        for (kind, name, body) in [
            (
                touchpoint::import::Kind::Customers,
                "customers.csv",
                customers,
            ),
            (touchpoint::import::Kind::Vehicles, "vehicles.csv", vehicles),
        ] {
            app::import_upload(&db, &config, kind, name, body.as_bytes(), false, now)
                .await
                .unwrap();
        }
        crate::support::pass(&db, &config, now).await;
        for (email, role) in [
            ("admin@dealer.example", Role::Admin),
            ("advisor@dealer.example", Role::Advisor),
            ("viewer@dealer.example", Role::Viewer),
        ] {
            people::add_user(&db, email, role, Some(PASSWORD.into()), now)
                .await
                .unwrap();
        }
        let admin = people::add_token(&db, "admin", Role::Admin, now)
            .await
            .unwrap();
        let advisor = people::add_token(&db, "advisor", Role::Advisor, now)
            .await
            .unwrap();
        let viewer = people::add_token(&db, "viewer", Role::Viewer, now)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let links = app::unsubscribe_links(&db, &config).await.unwrap();
        let state = AppState::new(db.clone(), &config, links);
        tokio::spawn(async move {
            axum::serve(
                listener,
                router(state).into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap()
        });
        Site {
            db,
            addr,
            admin,
            advisor,
            viewer,
            backend: backend.to_string(),
            config,
        }
    }
}

/// A site on every backend under test (SQLite; PostgreSQL when set).
pub async fn sites(dir: &std::path::Path) -> Vec<Site> {
    let mut out = Vec::new();
    for (url, db, _) in crate::support::databases(dir).await {
        let path = dir.join(format!("site-{}.toml", out.len()));
        std::fs::write(
            &path,
            format!(
                "[database]\nurl = \"{url}\"\n[outbox]\ndir = \"{}/outbox-{}\"\n\
                 [http]\noverview_max_age_secs = 0\n{ANY_HOUR}",
                dir.display(),
                out.len()
            ),
        )
        .unwrap();
        let config = Config::load(Some(&path)).unwrap();
        let backend = if url.starts_with("sqlite") {
            "sqlite"
        } else {
            "postgres"
        };
        out.push(Site::new(backend, db, config).await);
    }
    out
}

/// A plain HTTP client that follows no redirects.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A browser-like session: its cookie and the page's CSRF token.
pub struct Browser {
    pub client: reqwest::Client,
    pub cookie: String,
    pub csrf: String,
    pub base: String,
}

/// The session cookie a response sets, if any.
fn set_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("touchpoint_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
}

/// The value of the first `name="csrf"` field of a page.
pub fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

impl Browser {
    /// Signs in as `email` with the site's password; panics unless it works.
    pub async fn sign_in(site: &Site, email: &str) -> Browser {
        Browser::sign_in_with(site, email, PASSWORD).await
    }

    /// Signs in as `email` with `password`; panics unless it works.
    pub async fn sign_in_with(site: &Site, email: &str, password: &str) -> Browser {
        let client = client();
        let page = client.get(site.url("/signin")).send().await.unwrap();
        let cookie = set_cookie(&page).expect("a session cookie");
        let html = page.text().await.unwrap();
        let csrf = csrf_in(&html);
        let r = client
            .post(site.url("/signin"))
            .header("cookie", &cookie)
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/today"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{}: sign-in of {email}", site.backend);
        let before = cookie;
        let cookie = set_cookie(&r).expect("a new session id at sign-in");
        // The id handed out before signing in is worthless after it.
        assert_ne!(
            cookie, before,
            "{}: the session id is renewed at sign-in",
            site.backend
        );
        let stale = client
            .get(site.url("/today"))
            .header("cookie", &before)
            .send()
            .await
            .unwrap();
        assert_eq!(
            stale.status(),
            303,
            "{}: the old id is not signed in",
            site.backend
        );
        let mut b = Browser {
            client,
            cookie,
            csrf: String::new(),
            base: site.url(""),
        };
        let today = b.get("/today").await;
        assert_eq!(today.0, 200, "{}", site.backend);
        b.csrf = csrf_in(&today.1);
        b
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Posts a form (the CSRF token added unless `fields` has one).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if !fields.iter().any(|(k, _)| *k == "csrf") {
            form.push(("csrf", &self.csrf));
        }
        self.client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap()
    }
}
