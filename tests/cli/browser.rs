//! The desk driven in real headless Chromium through chromedriver: sign in,
//! record a call outcome, hold and release a touchpoint, record a visit and
//! see its reminders cancelled, upload a bad CSV and read its errors. The
//! tests skip, saying so, when no chromedriver is on the PATH. With
//! TOUCHPOINT_SCREENSHOTS=DIR each page is also saved there as PNG, at
//! tablet and desktop widths.

use crate::site::{PASSWORD, Site, VIN1, days_ago, sites};
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Option<Driver> {
    let path = std::env::var_os("PATH")?;
    let found = std::env::split_paths(&path).any(|d| d.join("chromedriver").is_file());
    if !found {
        eprintln!(
            "{}: skipped: no chromedriver on the PATH (Debian: apt-get install chromium chromium-driver)",
            std::thread::current().name().unwrap_or("browser test")
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Dropped, it is stopped and waited for, whatever happens next.
    let driver = Driver { child, port };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(driver);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("chromedriver did not start");
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
        "--lang=en-US",
    ];
    if std::env::var_os("TOUCHPOINT_BROWSER_RU").is_some() {
        args.push("--lang=ru");
    }
    let mut chrome = serde_json::json!({ "args": args });
    if std::path::Path::new("/usr/bin/chromium").exists() {
        chrome["binary"] = "/usr/bin/chromium".into();
    }
    caps.insert("goog:chromeOptions".into(), chrome);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap()
}

/// Saves the page at tablet and desktop widths when TOUCHPOINT_SCREENSHOTS is set.
async fn screenshot(c: &Client, name: &str) {
    let Some(dir) = std::env::var_os("TOUCHPOINT_SCREENSHOTS") else {
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    for (width, height) in [(820, 1180), (1280, 1000)] {
        c.set_window_size(width, height).await.unwrap();
        let png = c.screenshot().await.unwrap();
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{name}-{width}.png")),
            png,
        )
        .unwrap();
    }
    c.set_window_size(1280, 1000).await.unwrap();
}

async fn text_of(c: &Client) -> String {
    text(c, Locator::Css("body")).await
}

/// The text of the first element `at` finds.
async fn text(c: &Client, at: Locator<'_>) -> String {
    c.find(at).await.unwrap().text().await.unwrap()
}

/// Clicks the first element `at` finds (a page loads after a form's button).
async fn click(c: &Client, at: Locator<'_>) {
    c.find(at).await.unwrap().click().await.unwrap();
}

/// Types `keys` into the first element `at` finds.
async fn type_into(c: &Client, at: Locator<'_>, keys: &str) {
    c.find(at).await.unwrap().send_keys(keys).await.unwrap();
}

/// Waits for the page that shows `at`, and gives that element's text (the
/// page before may have shown it too and be replaced meanwhile: then once
/// more, on the page that came).
async fn shown(c: &Client, at: Locator<'_>) -> String {
    for _ in 0..20 {
        let found = c.wait().for_element(at).await.unwrap();
        if let Ok(t) = found.text().await {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{at:?}: never shown for long enough to read");
}

/// Waits until the browser is at a URL holding `part`.
async fn arrived(c: &Client, part: &str) {
    for _ in 0..50 {
        if c.current_url().await.unwrap().as_str().contains(part) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the browser never came to a URL with {part}");
}

async fn sign_in(c: &Client, site: &Site, email: &str) {
    c.goto(&site.url("/today")).await.unwrap();
    // Not signed in: the desk sends the browser to sign in first.
    assert!(c.current_url().await.unwrap().path().starts_with("/signin"));
    screenshot(c, "signin").await;
    type_into(c, Locator::Css("input[name=email]"), email).await;
    type_into(c, Locator::Css("input[name=password]"), "not the password").await;
    click(c, Locator::Id("sign-in")).await;
    shown(c, Locator::Css(".flash.error")).await;
    assert!(text_of(c).await.contains("Wrong email or password."));
    type_into(c, Locator::Css("input[name=password]"), PASSWORD).await;
    click(c, Locator::Id("sign-in")).await;
    shown(c, Locator::Css("nav a[aria-current]")).await;
    assert_eq!(c.current_url().await.unwrap().path(), "/today");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_works_in_a_real_browser() {
    let Some(driver) = chromedriver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let site = sites(dir.path()).await.remove(0);
    let c = browser(&driver).await;
    let result = std::panic::AssertUnwindSafe(walk(&c, &site));
    let outcome = futures_util::FutureExt::catch_unwind(result).await;
    let _ = c.close().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn walk(c: &Client, site: &Site) {
    // Sign in (a wrong password first).
    sign_in(c, site, "advisor@dealer.example").await;

    // Today: Jonas's onboarding call; claim it, then record the outcome.
    let body = text_of(c).await;
    assert!(body.contains("Jonas Keller"), "{body}");
    screenshot(c, "today").await;
    let card = "//li[contains(@class,'card')][.//h2[contains(.,'Jonas Keller')]]";
    click(
        c,
        Locator::XPath(&format!("{card}//button[contains(@class,'claim')]")),
    )
    .await;
    shown(c, Locator::Css(".flash.ok")).await;
    type_into(
        c,
        Locator::XPath(&format!("{card}//input[@name='note']")),
        "comes in Friday",
    )
    .await;
    click(
        c,
        Locator::XPath(&format!("{card}//button[contains(@class,'o-booked')]")),
    )
    .await;
    let flash = shown(c, Locator::Css(".flash.ok")).await;
    assert!(flash.contains("booked"), "{flash}");
    assert!(
        !text_of(c).await.contains("Jonas Keller"),
        "the booked call left the list"
    );

    // Queue: hold the welcome email, then release it.
    c.goto(&site.url("/queue?days=7")).await.unwrap();
    let row = "//tr[contains(@data-key,'onboarding-welcome')]";
    let state = format!("{row}//span[contains(@class,'state')]");
    click(
        c,
        Locator::XPath(&format!("{row}//button[contains(@class,'hold')]")),
    )
    .await;
    shown(c, Locator::Css(".flash.ok")).await;
    assert_eq!(text(c, Locator::XPath(&state)).await, "on_hold");
    screenshot(c, "queue").await;
    click(
        c,
        Locator::XPath(&format!("{row}//button[contains(@class,'release')]")),
    )
    .await;
    shown(c, Locator::Css(".flash.ok")).await;
    assert_eq!(text(c, Locator::XPath(&state)).await, "planned");
    // Its preview opens in place: the text Jonas will get, in Russian.
    click(c, Locator::XPath(&format!("{row}//details/summary"))).await;
    let preview = shown(
        c,
        Locator::XPath(&format!("{row}//details//p[@class='body']")),
    )
    .await;
    assert!(
        preview.contains("Jonas Keller") && preview.contains("Skoda Octavia"),
        "{preview}"
    );
    screenshot(c, "queue-preview").await;

    // Customers: find Anna, record a service visit, see her reminders cancelled.
    c.goto(&site.url("/customers")).await.unwrap();
    type_into(c, Locator::Css("input[name=q]"), &VIN1[..10]).await;
    click(c, Locator::Css(".filters button")).await;
    arrived(c, "q=").await;
    shown(c, Locator::Css("table.list")).await;
    screenshot(c, "customers").await;
    click(c, Locator::XPath("//table//a[contains(.,'Anna')]")).await;
    shown(c, Locator::Css("form.visit")).await;
    let visit = days_ago(5);
    // A date input takes the digits in the browser's order (en-US: month, day, year).
    let (y, rest) = visit.split_once('-').unwrap();
    let (m, d) = rest.split_once('-').unwrap();
    type_into(
        c,
        Locator::Css("form.visit input[name=date]"),
        &format!("{m}{d}{y}"),
    )
    .await;
    type_into(c, Locator::Css("form.visit input[name=odometer]"), "11000").await;
    click(c, Locator::Css("form.visit button.primary")).await;
    let flash = shown(c, Locator::Css(".flash")).await;
    assert!(flash.contains(&visit), "{flash}");
    let cancelled = text(
        c,
        Locator::XPath("//li[contains(@data-key,'service-sms')][contains(@class,'s-cancelled')]"),
    )
    .await;
    assert!(
        cancelled.contains(&format!("fulfilled by the service visit on {visit}")),
        "{cancelled}"
    );
    assert!(
        text_of(c).await.contains("advisor@dealer.example visit"),
        "the timeline shows who acted"
    );
    screenshot(c, "customer").await;

    // Overview: the chart, the call booked this morning, the visit's reminders.
    click(c, Locator::XPath("//nav/a[@href='/overview']")).await;
    shown(c, Locator::Css("svg.chart rect.c-call")).await;
    let outcomes = text(c, Locator::Id("call-outcomes")).await;
    assert!(outcomes.contains("Booked"), "{outcomes}");
    let not_sent = text(c, Locator::Id("suppressions")).await;
    assert!(not_sent.contains("fulfilled by a visit"), "{not_sent}");
    let accuracy = text(c, Locator::Id("accuracy")).await;
    assert!(accuracy.contains("Visits"), "{accuracy}");
    screenshot(c, "overview").await;
    click(c, Locator::XPath("//a[@href='/account']")).await;
    shown(c, Locator::Id("password")).await;
    screenshot(c, "account").await;

    // Imports: a bad file, its line-numbered errors.
    let file = tempfile::Builder::new()
        .prefix("customers-")
        .suffix(".csv")
        .tempfile()
        .unwrap();
    std::fs::write(
        file.path(),
        "customer_id,name,email,phone,timezone,birthday,consent_email_marketing,consent_sms_marketing,locale\r\n\
         C3,Lea Wolf,lea@example.com,,UTC,,false,false,en\r\n\
         C4,Max Roth,not-an-email,,UTC,,maybe,false,en\r\n",
    )
    .unwrap();
    c.goto(&site.url("/imports")).await.unwrap();
    type_into(
        c,
        Locator::Css("input[type=file]"),
        file.path().to_str().unwrap(),
    )
    .await;
    click(c, Locator::Id("upload")).await;
    let problems = shown(c, Locator::Id("problems")).await;
    let name = file.path().file_name().unwrap().to_str().unwrap();
    assert!(
        problems.contains(&format!("{name}:3: email:")),
        "{problems}"
    );
    assert!(
        problems.contains(&format!("{name}:3: consent_email_marketing:")),
        "{problems}"
    );
    assert!(
        text_of(c)
            .await
            .contains("refused: 2 problem(s); nothing imported"),
        "the history keeps it"
    );
    screenshot(c, "imports").await;
}
