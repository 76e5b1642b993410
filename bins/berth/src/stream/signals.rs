//! Background tasks that follow a session: docker's signal proxy (signals
//! berth receives are sent on to the container) and TTY size monitor (the
//! container's TTY follows our window). Both stop when dropped.

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;

use super::terminal;
use crate::api::raw::Query;
use crate::api::Api;

/// The signals proxied, by the names the kill endpoint takes. docker
/// proxies every catchable signal; these are the ones a user sends. WINCH
/// is left to the size monitor.
const PROXIED: [(i32, &str); 9] = [
    (libc::SIGHUP, "HUP"),
    (libc::SIGINT, "INT"),
    (libc::SIGQUIT, "QUIT"),
    (libc::SIGUSR1, "USR1"),
    (libc::SIGUSR2, "USR2"),
    (libc::SIGTERM, "TERM"),
    (libc::SIGALRM, "ALRM"),
    (libc::SIGCONT, "CONT"),
    (libc::SIGTSTP, "TSTP"),
];

/// Tasks aborted on drop.
pub struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// docker's `ForwardAllSignals`: each signal becomes
/// `POST /containers/{id}/kill?signal=NAME`; failures are ignored, as
/// docker only logs them.
pub fn proxy_signals(api: &Api, id: &str) -> Tasks {
    let mut tasks = Vec::new();
    for (number, name) in PROXIED {
        let Ok(mut incoming) = signal(SignalKind::from_raw(number)) else {
            continue;
        };
        let api = api.clone();
        let id = id.to_string();
        tasks.push(tokio::spawn(async move {
            while incoming.recv().await.is_some() {
                let query = Query::new().set("signal", name);
                let _ = api.container_action(&id, "kill", query).await;
            }
        }));
    }
    Tasks(tasks)
}

/// docker's `MonitorTtySize`: resizes the container's (or exec's) TTY to
/// our window now — retrying a few times, as a just-started process may
/// not have its TTY yet — and on every SIGWINCH. `bump` first sends a size
/// one larger, as `docker attach` does so a full-screen program redraws.
pub fn monitor_tty_size(api: &Api, id: &str, exec: bool, bump: bool) -> Tasks {
    let api = api.clone();
    let id = id.to_string();
    let resize = move |api: Api, id: String, extra: u16| async move {
        let (h, w) = terminal::size();
        if h == 0 && w == 0 {
            return Ok(());
        }
        api.resize(&id, exec, h.saturating_add(extra), w.saturating_add(extra))
            .await
    };
    let task = tokio::spawn(async move {
        if bump {
            let _ = resize(api.clone(), id.clone(), 1).await;
        }
        let mut ok = resize(api.clone(), id.clone(), 0).await.is_ok();
        for retry in 1..=10u64 {
            if ok {
                break;
            }
            tokio::time::sleep(Duration::from_millis(retry * 10)).await;
            ok = resize(api.clone(), id.clone(), 0).await.is_ok();
        }
        if !ok {
            eprintln!("failed to resize tty, using default size");
        }
        let Ok(mut winch) = signal(SignalKind::window_change()) else {
            return;
        };
        while winch.recv().await.is_some() {
            let _ = resize(api.clone(), id.clone(), 0).await;
        }
    });
    Tasks(vec![task])
}
