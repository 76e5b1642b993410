//! `docker events` end to end with the real docker CLI: the actions and
//! attributes dockerd gives containers, networks, volumes and images, the
//! `--since`/`--until` window, filters, a live stream, `health_status`, and
//! `docker stats` with no names (which follows the event stream).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_testkit::sandbox::{busybox_tarball, Sandbox};

/// Now as a Unix timestamp with nanoseconds, the form `--since` and
/// `--until` take.
fn now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// `docker events` over a past window, one line per event: type, action
/// and the object's name (its id if it has none).
fn past_events(sb: &Sandbox, since: &str, args: &[&str]) -> Vec<String> {
    let until = now();
    let mut all = vec![
        "events",
        "--since",
        since,
        "--until",
        &until,
        "--format",
        "{{.Type}} {{.Action}} {{or .Actor.Attributes.name .Actor.ID}}",
    ];
    all.extend_from_slice(args);
    sb.docker(&all).ok().lines().map(str::to_owned).collect()
}

/// Those of `lines` that start with `prefix`, in order.
fn starting<'a>(lines: &'a [String], prefix: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter(|l| l.starts_with(prefix))
        .map(String::as_str)
        .collect()
}

/// A live `docker events` whose lines arrive on a channel.
struct Follow {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follow {
    fn start(sb: &Sandbox, args: &[&str]) -> Follow {
        let mut all = vec!["events", "--format", "{{.Type}} {{.Action}}"];
        all.extend_from_slice(args);
        let mut child = sb
            .docker_command(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    return;
                }
            }
        });
        Follow { child, lines }
    }

    /// The lines up to and including `want`; fails if it does not come.
    #[track_caller]
    fn until(&self, want: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    let done = line == want;
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(e) => panic!("no {want:?} ({e}); saw {seen:?}"),
            }
        }
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_container_life_tells_dockers_actions_in_order() {
    let sb = Sandbox::with_busybox();
    let since = now();
    sb.docker(&["volume", "create", "data"]).ok();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "--label",
        "tier=front",
        "-v",
        "data:/data",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    sb.docker(&["exec", "web", "true"]).ok();
    sb.docker(&["pause", "web"]).ok();
    sb.docker(&["unpause", "web"]).ok();
    sb.docker(&["rename", "web", "site"]).ok();
    sb.docker(&["stop", "-t", "0", "site"]).ok();
    sb.docker(&["rm", "site"]).ok();
    sb.docker(&["volume", "rm", "data"]).ok();
    sb.docker(&["network", "create", "n1"]).ok();
    sb.docker(&["network", "rm", "n1"]).ok();

    let lines = past_events(&sb, &since, &[]);
    let container = starting(&lines, "container ");
    assert_eq!(
        container,
        [
            "container create web",
            "container start web",
            "container exec_create: true  web",
            "container exec_start: true  web",
            "container exec_die web",
            "container pause web",
            "container unpause web",
            "container rename site",
            // `-t 0`: the stop signal, then at once SIGKILL (PID 1 ignores
            // SIGTERM here), as dockerd tells both.
            "container kill site",
            "container kill site",
            "container die site",
            "container stop site",
            "container destroy site",
        ],
        "{lines:#?}"
    );
    assert_eq!(
        starting(&lines, "network "),
        [
            "network connect bridge",
            "network disconnect bridge",
            "network create n1",
            "network destroy n1",
        ],
        "{lines:#?}"
    );
    assert_eq!(
        starting(&lines, "volume "),
        [
            "volume create data",
            "volume mount data",
            "volume unmount data",
            "volume destroy data"
        ],
        "{lines:#?}"
    );
    // The connect comes before the start, the disconnect before the die.
    let at = |l: &str| lines.iter().position(|x| x == l).unwrap();
    assert!(at("network connect bridge") < at("container start web"));
    assert!(at("network disconnect bridge") < at("container die site"));

    // Attributes as dockerd gives them.
    let json = sb
        .docker(&[
            "events",
            "--since",
            &since,
            "--until",
            &now(),
            "--filter",
            "event=die",
            "--format",
            "{{json .}}",
        ])
        .ok();
    let die: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let attributes = &die["Actor"]["Attributes"];
    assert_eq!(attributes["exitCode"], "137", "{die}");
    assert_eq!(attributes["image"], "busybox");
    assert_eq!(attributes["tier"], "front");
    assert_eq!(die["status"], "die");
    assert_eq!(die["from"], "busybox");
    assert_eq!(die["scope"], "local");
    let kill = sb
        .docker(&[
            "events",
            "--since",
            &since,
            "--until",
            &now(),
            "--filter",
            "event=kill",
            "--format",
            "{{.Actor.Attributes.signal}}",
        ])
        .ok();
    assert_eq!(kill.lines().collect::<Vec<_>>(), ["15", "9"]);
}

#[test]
fn filters_narrow_the_stream_as_dockerd() {
    let sb = Sandbox::with_busybox();
    let since = now();
    sb.docker(&["run", "--name", "aa", "--label", "k=1", "busybox", "true"])
        .ok();
    sb.docker(&["run", "--name", "bb", "busybox", "true"]).ok();
    sb.docker(&["network", "create", "n2"]).ok();

    let only_a = past_events(&sb, &since, &["--filter", "container=aa"]);
    assert!(!only_a.is_empty());
    assert!(only_a.iter().all(|l| l.ends_with(" aa")), "{only_a:#?}");
    let networks = past_events(&sb, &since, &["--filter", "type=network"]);
    assert!(networks.iter().all(|l| l.starts_with("network ")));
    assert!(networks.contains(&"network create n2".to_owned()));
    let labelled = past_events(&sb, &since, &["--filter", "label=k=1"]);
    assert!(!labelled.is_empty());
    assert!(labelled.iter().all(|l| l.ends_with(" aa")), "{labelled:#?}");
    let starts = past_events(
        &sb,
        &since,
        &["--filter", "event=start", "--filter", "image=busybox"],
    );
    assert_eq!(starts, ["container start aa", "container start bb"]);

    // The CLI checks its own flags; the daemon's answer to a bad one:
    let (status, body) = sb.http("GET", "/v1.50/events?since=x1y", None);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid value for 'since'"), "{body}");
}

#[test]
fn a_live_stream_follows_new_events_and_health() {
    let sb = Sandbox::with_busybox();
    // `--since` now: what happens before the CLI has connected comes from
    // the kept events, the rest live, so nothing is missed either way.
    let since = now();
    let follow = Follow::start(&sb, &["--since", &since, "--filter", "type=container"]);
    sb.docker(&["create", "--name", "probe", "busybox", "true"])
        .ok();
    follow.until("container create");
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "checked",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "1d",
    ])
    .ok();
    let seen = follow.until("container health_status: healthy");
    assert!(seen.contains(&"container start".to_owned()), "{seen:?}");
    assert!(
        seen.iter().all(|l| l.starts_with("container ")),
        "network events passed the type filter: {seen:?}"
    );
    sb.docker(&["kill", "checked"]).ok();
    follow.until("container die");
}

#[test]
fn image_events_tell_import_tag_untag_and_delete() {
    let sb = Sandbox::with_busybox();
    let since = now();
    let tar = busybox_tarball();
    sb.docker(&["import", tar.to_str().unwrap(), "spare:1"])
        .ok();
    sb.docker(&["rmi", "spare:1"]).ok();
    let lines = past_events(&sb, &since, &["--filter", "type=image"]);
    let actions: Vec<&str> = lines.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(actions, ["tag", "import", "untag", "delete"], "{lines:#?}");
    assert!(lines[0].ends_with(" spare:1"), "{lines:#?}");
}

#[test]
fn stats_with_no_names_lists_the_running_containers() {
    let sb = Sandbox::with_busybox();
    sb.docker(&["run", "-d", "--name", "s1", "busybox", "sleep", "1d"])
        .ok();
    sb.docker(&["run", "-d", "--name", "s2", "busybox", "sleep", "1d"])
        .ok();
    let out = sb
        .docker(&["stats", "--no-stream", "--format", "{{.Name}}"])
        .ok();
    let mut names: Vec<&str> = out.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["s1", "s2"], "{out}");
}
