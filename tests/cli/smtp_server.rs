//! A real SMTP server for the email tests, started by the test itself: it
//! listens on a free port of 127.0.0.1 and runs on a thread and a tokio
//! runtime of its own, so that neither a test's runtime nor a test blocking
//! its thread (the crash test sleeps between kills) holds it up. It lives as
//! long as its handle, across every client that comes and goes (or is
//! killed), and stops on drop.
//!
//! It speaks RFC 5321 as a plain relay would: the 220 greeting, EHLO (a
//! multi-line 250) or HELO, MAIL FROM, RCPT TO, DATA (354, a dot-terminated
//! body, dot-unstuffed), RSET, NOOP and QUIT, any number of messages per
//! connection and any number of connections at once. Recipients starting
//! with `busy` get 451 (transient), `nobody` 550 (permanent); mail to a
//! recipient starting with `slow` is accepted 20 ms after the end of its
//! DATA, as by a relay across a network (stored first: a client that goes
//! away in those 20 ms has delivered it without knowing).

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// How long a `slow` recipient's relay takes to accept a message.
const SLOW: std::time::Duration = std::time::Duration::from_millis(20);

/// Longest command line accepted (RFC 5321 §4.5.3.1.4: 512 with CRLF; a
/// few more for the MAIL parameters of extensions).
const MAX_COMMAND: usize = 1024;

const EHLO: &str = "250-localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n";

/// A server on a thread and a tokio runtime of its own, serving a listener
/// of 127.0.0.1; dropping it stops it and closes every connection it has
/// open, as a server that goes down does.
pub struct Background {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Binds `port` of 127.0.0.1 (0: a free one) and runs `serve` on it;
    /// the port.
    pub fn serve<F, Fut>(port: u16, serve: F) -> (Self, u16)
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                tokio::select! {
                    _ = stopped => {}
                    _ = serve(listener) => {}
                }
            });
            // Dropping the runtime closes every open connection.
        });
        let server = Self {
            stop: Some(stop),
            thread: Some(thread),
        };
        (server, port)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The running server; stopped on drop.
pub struct SmtpServer {
    pub port: u16,
    mail: Arc<Mutex<Vec<String>>>,
    _server: Background,
}

impl SmtpServer {
    pub fn start() -> Self {
        Self::start_on(0)
    }

    /// A server on `port` of 127.0.0.1 (0: a free one): a server that was
    /// stopped comes back on the port its clients know.
    pub fn start_on(port: u16) -> Self {
        let mail = Arc::new(Mutex::new(Vec::new()));
        let store = mail.clone();
        let (server, port) = Background::serve(port, |listener| async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    // Out of descriptors, say: wait, then go on.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let store = store.clone();
                tokio::spawn(async move {
                    // A client that goes away mid-session (killed, as
                    // the crash test does) is no concern of the server.
                    let _ = Session::new(socket, store).run().await;
                });
            }
        });
        Self {
            port,
            mail,
            _server: server,
        }
    }

    /// The delivered messages, as received after the dot-unstuffing (lines
    /// end in CRLF), in the order they were accepted.
    pub fn delivered(&self) -> Vec<String> {
        self.mail.lock().unwrap().clone()
    }
}

/// One client connection.
struct Session {
    stream: BufReader<TcpStream>,
    store: Arc<Mutex<Vec<String>>>,
    /// The client has said HELO or EHLO.
    greeted: bool,
    /// The reverse path of the mail transaction under way.
    from: Option<String>,
    /// Its accepted recipients.
    to: Vec<String>,
}

/// What a command line asks for.
enum Step {
    Reply(&'static str),
    Data,
    Quit,
}

impl Session {
    fn new(socket: TcpStream, store: Arc<Mutex<Vec<String>>>) -> Self {
        Self {
            stream: BufReader::new(socket),
            store,
            greeted: false,
            from: None,
            to: Vec::new(),
        }
    }

    async fn reply(&mut self, text: &str) -> std::io::Result<()> {
        self.stream.get_mut().write_all(text.as_bytes()).await
    }

    /// One line up to and with its LF; `None` at the end of the stream.
    async fn line(&mut self, buf: &mut Vec<u8>) -> std::io::Result<Option<()>> {
        buf.clear();
        Ok((self.stream.read_until(b'\n', buf).await? > 0).then_some(()))
    }

    async fn run(mut self) -> std::io::Result<()> {
        self.stream.get_ref().set_nodelay(true)?;
        self.reply("220 localhost ESMTP touchpoint test server\r\n")
            .await?;
        let mut line = Vec::with_capacity(256);
        while self.line(&mut line).await?.is_some() {
            let step = if line.len() > MAX_COMMAND {
                Step::Reply("500 5.5.2 Line too long\r\n")
            } else {
                let text = String::from_utf8_lossy(&line);
                self.command(text.trim_end_matches(['\r', '\n']))
            };
            match step {
                Step::Reply(text) => self.reply(text).await?,
                Step::Quit => return self.reply("221 2.0.0 Bye\r\n").await,
                Step::Data => {
                    self.reply("354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let Some(message) = self.data().await? else {
                        return Ok(());
                    };
                    if self.to.iter().any(|r| r.starts_with("slow")) {
                        tokio::time::sleep(SLOW).await;
                    }
                    self.store.lock().unwrap().push(message);
                    self.reset();
                    self.reply("250 2.0.0 OK: queued\r\n").await?;
                }
            }
        }
        Ok(())
    }

    /// Ends the mail transaction under way, if any.
    fn reset(&mut self) {
        self.from = None;
        self.to.clear();
    }

    fn command(&mut self, line: &str) -> Step {
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let arg = arg.trim();
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if arg.is_empty() => Step::Reply("501 5.5.4 Syntax: EHLO hostname\r\n"),
            "EHLO" => {
                self.greeted = true;
                self.reset();
                Step::Reply(EHLO)
            }
            "HELO" => {
                self.greeted = true;
                self.reset();
                Step::Reply("250 localhost\r\n")
            }
            "MAIL" if !self.greeted => Step::Reply("503 5.5.1 Error: send HELO first\r\n"),
            "MAIL" if self.from.is_some() => {
                Step::Reply("503 5.5.1 Error: nested MAIL command\r\n")
            }
            "MAIL" => match path(arg, "FROM:") {
                Some(from) => {
                    self.from = Some(from);
                    Step::Reply("250 2.1.0 OK\r\n")
                }
                None => Step::Reply("501 5.5.4 Syntax: MAIL FROM:<address>\r\n"),
            },
            "RCPT" if self.from.is_none() => Step::Reply("503 5.5.1 Error: need MAIL command\r\n"),
            "RCPT" => match path(arg, "TO:") {
                Some(to) if to.starts_with("busy") => {
                    Step::Reply("451 4.3.0 Mailbox busy, try again later\r\n")
                }
                Some(to) if to.starts_with("nobody") => {
                    Step::Reply("550 5.1.1 No such user here\r\n")
                }
                Some(to) if !to.is_empty() => {
                    self.to.push(to);
                    Step::Reply("250 2.1.5 OK\r\n")
                }
                _ => Step::Reply("501 5.5.4 Syntax: RCPT TO:<address>\r\n"),
            },
            "DATA" if !arg.is_empty() => Step::Reply("501 5.5.4 Syntax: DATA\r\n"),
            "DATA" if self.to.is_empty() => Step::Reply("503 5.5.1 Error: need RCPT command\r\n"),
            "DATA" => Step::Data,
            "RSET" => {
                self.reset();
                Step::Reply("250 2.0.0 OK\r\n")
            }
            "NOOP" => Step::Reply("250 2.0.0 OK\r\n"),
            "QUIT" => Step::Quit,
            "VRFY" | "EXPN" | "HELP" | "ETRN" | "TURN" | "AUTH" | "STARTTLS" => {
                Step::Reply("502 5.5.1 Error: command not implemented\r\n")
            }
            _ => Step::Reply("500 5.5.2 Error: command not recognized\r\n"),
        }
    }

    /// The message up to the line holding a lone dot, dot-unstuffed; `None`
    /// if the client went away first.
    async fn data(&mut self) -> std::io::Result<Option<String>> {
        let mut message = Vec::new();
        let mut line = Vec::with_capacity(1024);
        loop {
            if self.line(&mut line).await?.is_none() {
                return Ok(None);
            }
            if line == b".\r\n" || line == b".\n" {
                return Ok(Some(String::from_utf8_lossy(&message).into_owned()));
            }
            let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
            message.extend_from_slice(unstuffed);
        }
    }
}

/// The address of `FROM:<address> [parameters]` (or `TO:`); `None` if the
/// argument is not of that form. The null reverse path `<>` is the empty
/// address.
fn path(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start().strip_prefix('<')?;
    let (address, _parameters) = rest.split_once('>')?;
    Some(address.to_string())
}
