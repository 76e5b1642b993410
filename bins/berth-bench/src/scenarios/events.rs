//! `docker events` delivery: one subscriber on `GET /events` (container
//! `kill` events only), and a harmless signal (`SIGWINCH`, which `sleep`
//! ignores) sent to a running container each round. Two rows: from sending
//! the kill to its event arriving, and from the event's own timestamp (when
//! the daemon logged it) to its arrival.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use super::{check_interrupted, ms, say, Params, Recorder, NET, SLEEP};
use crate::daemon::Daemon;

/// Longest an event may take before the round counts as lost.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn events(d: &Daemon, p: &Params, rec: &mut Recorder) -> Result<()> {
    say(d, &format!("events: kill to its event x{}", p.run_n));
    let id = d.run("events-target", NET, &[], SLEEP)?;
    let mut feed = subscribe(d)?;
    let mut to_event = Vec::new();
    let mut delivery = Vec::new();
    for _ in 0..p.run_n {
        check_interrupted()?;
        let t = Instant::now();
        d.api
            .post(
                &format!("/containers/{id}/kill?signal=SIGWINCH"),
                &Value::Null,
            )?
            .ok("kill -s WINCH")?;
        let event = next_event(&mut feed)?;
        to_event.push(ms(t));
        let arrived = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as f64;
        let logged = event["timeNano"]
            .as_f64()
            .ok_or_else(|| anyhow!("an event without timeNano: {event}"))?;
        delivery.push((arrived - logged) / 1e6);
    }
    rec.add(
        "events.kill_to_event",
        "events: kill sent to its event received",
        "ms",
        &to_event,
    );
    rec.add(
        "events.delivery",
        "events: logged to received",
        "ms",
        &delivery,
    );
    d.rm_force(&id)
}

/// An open `GET /events` stream, its head read.
fn subscribe(d: &Daemon) -> Result<BufReader<UnixStream>> {
    let socket = d.api.socket();
    let mut stream =
        UnixStream::connect(socket).with_context(|| format!("connect to {}", socket.display()))?;
    stream.set_read_timeout(Some(EVENT_TIMEOUT))?;
    let filters = r#"{"type":["container"],"event":["kill"]}"#;
    let query: String = url_escape(filters);
    write!(
        stream,
        "GET /events?filters={query} HTTP/1.0\r\nHost: localhost\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.contains(" 200 ") {
        bail!("GET /events answered {line:?}");
    }
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            return Ok(reader);
        }
    }
}

/// The next event on the stream.
fn next_event(feed: &mut BufReader<UnixStream>) -> Result<Value> {
    let mut line = String::new();
    loop {
        line.clear();
        if feed.read_line(&mut line)? == 0 {
            bail!("the event stream ended");
        }
        if !line.trim().is_empty() {
            return Ok(serde_json::from_str(line.trim())?);
        }
    }
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
