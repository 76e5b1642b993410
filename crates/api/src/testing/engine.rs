//! The fake engine's state: containers, execs and images, and how a
//! reference finds them.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bollard_stubs::models::{ContainerCreateBody, ExecConfig};
use bytes::Bytes;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::BUSYBOX_ID;
use crate::{ApiError, LogMessage, OutputStream};

/// A fake container's lifecycle, watched by waits and attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct State {
    pub(super) running: bool,
    pub(super) started: bool,
    pub(super) exit_code: i64,
    /// How many times it exited: `next-exit` waits for this to grow.
    pub(super) exits: u64,
    pub(super) removed: bool,
}

/// What a fake process writes; `End` after its last output.
#[derive(Debug, Clone)]
pub(super) enum Output {
    Data(OutputStream, Bytes),
    End,
}

pub(super) struct FakeContainer {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) config: ContainerCreateBody,
    pub(super) created: i64,
    pub(super) state: watch::Sender<State>,
    pub(super) output: broadcast::Sender<Output>,
    pub(super) logs: Arc<Mutex<Vec<LogMessage>>>,
    /// Input for the process; `None` is the end of stdin.
    pub(super) stdin: mpsc::UnboundedSender<Option<Bytes>>,
    pub(super) stdin_receiver: Option<mpsc::UnboundedReceiver<Option<Bytes>>>,
    /// Ends a running `sleep` with the given exit code.
    pub(super) stop: Option<oneshot::Sender<i64>>,
    pub(super) networks: BTreeSet<String>,
}

impl FakeContainer {
    pub(super) fn tty(&self) -> bool {
        self.config.tty == Some(true)
    }

    pub(super) fn cmd(&self) -> Vec<String> {
        self.config.cmd.clone().unwrap_or_default()
    }

    pub(super) fn success_code(&self) -> i64 {
        success_code(self.config.env.as_deref())
    }

    pub(super) fn auto_remove(&self) -> bool {
        self.config
            .host_config
            .as_ref()
            .and_then(|h| h.auto_remove)
            .unwrap_or(false)
    }
}

pub(super) fn success_code(env: Option<&[String]>) -> i64 {
    env.unwrap_or_default()
        .iter()
        .find_map(|entry| entry.strip_prefix("EXIT="))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

pub(super) struct FakeExec {
    pub(super) container: String,
    pub(super) config: ExecConfig,
    pub(super) running: bool,
    pub(super) exit_code: Option<i64>,
}

pub(super) struct FakeImage {
    pub(super) id: String,
    pub(super) tags: Vec<String>,
}

pub(super) struct Engine {
    pub(super) containers: Vec<FakeContainer>,
    pub(super) execs: HashMap<String, FakeExec>,
    pub(super) images: Vec<FakeImage>,
    pub(super) next: u64,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            containers: Vec::new(),
            execs: HashMap::new(),
            images: vec![FakeImage {
                id: BUSYBOX_ID.to_owned(),
                tags: vec!["busybox:latest".to_owned()],
            }],
            next: 0,
        }
    }
}

/// When the stub's `counter`-th thing was made: every stub keeps the same
/// time, so two stubs fed alike answer alike, timestamps included.
pub(super) fn created_at(counter: u64) -> i64 {
    1_700_000_000 + i64::try_from(counter).unwrap_or(i64::MAX - 1_700_000_000)
}

/// The time of every log line of a container made at `created`.
pub(super) fn log_time(created: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(created).unwrap_or(0))
}

/// The id of the `counter`-th thing the stub makes (containers, execs and
/// images count together): 64 hex digits whose first 12 differ between
/// counters.
pub fn new_id(counter: u64) -> String {
    let mix = |salt: u64| {
        (counter.wrapping_add(salt))
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29)
    };
    format!(
        "{:016x}{:016x}{:016x}{:016x}",
        mix(1),
        mix(2),
        mix(3),
        mix(4)
    )
}

fn no_such_container(reference: &str) -> ApiError {
    ApiError::not_found(format!("No such container: {reference}"))
}

/// `busybox` is `busybox:latest`.
pub(super) fn normalise_image(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || name.starts_with("sha256:") {
        name.to_owned()
    } else {
        format!("{name}:latest")
    }
}

impl Engine {
    pub(super) fn find(&self, reference: &str) -> Result<&FakeContainer, ApiError> {
        let index = self.index_of(reference)?;
        Ok(&self.containers[index])
    }

    pub(super) fn find_mut(&mut self, reference: &str) -> Result<&mut FakeContainer, ApiError> {
        let index = self.index_of(reference)?;
        Ok(&mut self.containers[index])
    }

    fn index_of(&self, reference: &str) -> Result<usize, ApiError> {
        let name = reference.strip_prefix('/').unwrap_or(reference);
        if let Some(index) = self
            .containers
            .iter()
            .position(|c| c.id == reference || c.name == name)
        {
            return Ok(index);
        }
        let matches: Vec<usize> = (0..self.containers.len())
            .filter(|&i| !reference.is_empty() && self.containers[i].id.starts_with(reference))
            .collect();
        match matches.as_slice() {
            [only] => Ok(*only),
            _ => Err(no_such_container(reference)),
        }
    }

    pub(super) fn image(&self, name: &str) -> Option<&FakeImage> {
        let tag = normalise_image(name);
        self.images.iter().find(|image| {
            image.tags.contains(&tag)
                || image.id == name
                || image.id["sha256:".len()..].starts_with(name)
        })
    }

    pub(super) fn remove_container(&mut self, reference: &str) {
        if let Ok(index) = self.index_of(reference) {
            let container = self.containers.remove(index);
            container.state.send_modify(|state| state.removed = true);
        }
    }
}
