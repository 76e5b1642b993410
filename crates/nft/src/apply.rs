//! The applier: each rendered script goes to one `nft -f -` process, which
//! the kernel commits as one transaction (all of it, or none of it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use berth_core::ports::{Firewall, FirewallChange, FirewallState, PortError};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tracing::{debug, error, warn};

use crate::config::FwConfig;
use crate::generation::{ruleset_generation, GenerationError};
use crate::render::{render_change, render_full, RenderError};

/// The nft binary, found through `PATH` (Debian's `nftables` package puts it
/// in `/usr/sbin`).
const NFT: &str = "nft";

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("render the {what}: {source}")]
    Render {
        what: &'static str,
        #[source]
        source: RenderError,
    },
    #[error("run `nft {args}` for the {what}: {source}{}", nft_hint(source))]
    Io {
        what: &'static str,
        args: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Generation(GenerationError),
    #[error("nft refused the {what} ({status}), nothing was changed: {}", stderr.trim_end())]
    Refused {
        what: &'static str,
        status: ExitStatus,
        stderr: String,
    },
}

fn nft_hint(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::NotFound {
        " (is the nftables package installed?)"
    } else {
        ""
    }
}

/// berth's tables in the kernel, driven through the `nft` command.
///
/// Never reads the kernel to decide what to write (the state comes from the
/// store); the reads, in [`Firewall::drift`], only tell whether someone else
/// changed what berth wrote.
#[derive(Clone, Debug, Default)]
pub struct NftFirewall {
    config: FwConfig,
    watch: Arc<Mutex<Watch>>,
}

/// What berth knows of its tables since it last wrote them.
#[derive(Debug, Default)]
struct Watch {
    /// berth has written its tables at least once.
    wrote: bool,
    /// The ruleset generation berth's last write produced; `None` if berth
    /// could not tell its commit apart from someone else's.
    generation: Option<u32>,
    /// berth's tables as listed (without counters) while the ruleset was
    /// still at `generation`: what a later listing is compared with.
    /// `None` until the watchdog has read them back after a write.
    baseline: Option<String>,
    /// Checks that found the generation still berth's since its last
    /// write: berth's tables are read back only at the second, so a burst
    /// of writes (container starts) costs no listing, which takes 0.2 s of
    /// CPU with 10,000 published ports.
    quiet_checks: u32,
}

impl NftFirewall {
    pub fn new(config: FwConfig) -> Self {
        Self {
            config,
            watch: Arc::default(),
        }
    }

    fn watch(&self) -> MutexGuard<'_, Watch> {
        // The watch holds no invariant a panic could break halfway.
        self.watch.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one of berth's own transactions and records the generation it
    /// produced: the one after the generation before, or else someone
    /// else committed in between and berth cannot vouch for what it sees.
    async fn run_tracked(&self, what: &'static str, script: &str) -> Result<(), NftError> {
        let before = ruleset_generation();
        self.run_script(what, script).await?;
        let after = ruleset_generation();
        let mut watch = self.watch();
        watch.wrote = true;
        watch.baseline = None;
        watch.quiet_checks = 0;
        watch.generation = match (before, after) {
            (Ok(before), Ok(after)) if after == next_generation(before) => Some(after),
            (Err(e), _) | (_, Err(e)) => {
                warn!(error = %e, "ruleset generation unknown: the next check reloads berth's tables");
                None
            }
            _ => None,
        };
        Ok(())
    }

    /// Counts a check that found no commit since berth's last write; true
    /// from the second on.
    fn quiet_since_write(&self) -> bool {
        let mut watch = self.watch();
        watch.quiet_checks = watch.quiet_checks.saturating_add(1);
        watch.quiet_checks >= 2
    }

    /// berth's two tables as `nft list` prints them, without the rules'
    /// packet counters (which change with traffic, not with the ruleset).
    async fn listing(&self) -> Result<String, NftError> {
        let table = self.config.table();
        let ip = self.list_table("ip", table);
        let ip6 = self.list_table("ip6", table);
        let (ip, ip6) = tokio::join!(ip, ip6);
        Ok(format!("{}{}", ip?, ip6?))
    }

    async fn list_table(&self, family: &str, table: &str) -> Result<String, NftError> {
        let what = "listing of berth's tables";
        let output = Command::new(NFT)
            .args(["list", "table", family, table])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|source| NftError::Io {
                what,
                args: "list table",
                source,
            })?;
        if !output.status.success() {
            return Err(NftError::Refused {
                what,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(without_counters(&String::from_utf8_lossy(&output.stdout)))
    }

    /// See [`Firewall::drift`]. One netlink round trip when the ruleset's
    /// generation is the one berth's last write left; a listing of berth's
    /// tables otherwise (and once after each of berth's writes, to learn
    /// what they look like). Safe beside berth's own writes: a write during
    /// a check can only make it report drift that is not there (the caller
    /// confirms before repairing), never hide drift.
    async fn check_drift(&self) -> Result<Option<String>, NftError> {
        let now = ruleset_generation().map_err(NftError::Generation)?;
        let (wrote, expected, baseline) = {
            let watch = self.watch();
            (watch.wrote, watch.generation, watch.baseline.clone())
        };
        if !wrote {
            return Ok(None);
        }
        if expected == Some(now) {
            if baseline.is_none() && self.quiet_since_write() {
                let listing = self.listing().await?;
                // Kept only if nothing was committed while nft listed (a
                // check may run beside berth's own writes).
                let mut watch = self.watch();
                if watch.generation == Some(now) && ruleset_generation().ok() == Some(now) {
                    watch.baseline = Some(listing);
                    debug!(
                        generation = now,
                        "berth's tables read back for drift checks"
                    );
                }
            }
            return Ok(None);
        }
        // Someone else committed (to any table): are berth's still as berth
        // left them?
        let drift = match (baseline, self.listing().await) {
            (Some(before), Ok(listing)) if before == listing => None,
            (Some(before), Ok(listing)) => Some(describe_drift(&before, &listing)),
            (_, Err(NftError::Refused { stderr, .. })) => Some(format!(
                "berth's tables cannot be listed: {}",
                stderr.lines().next().unwrap_or("").trim()
            )),
            (_, Err(e)) => return Err(e),
            (None, Ok(_)) => Some(
                "the ruleset changed before berth had read its tables back after writing them"
                    .to_owned(),
            ),
        };
        if drift.is_none() {
            // Unless berth wrote meanwhile, which recorded its own.
            let mut watch = self.watch();
            if watch.generation == expected {
                watch.generation = Some(now);
            }
        }
        Ok(drift)
    }

    /// Pipes `script` to `nft -f -`. On refusal the script is logged with
    /// line numbers, since nft's messages point at lines of it.
    async fn run_script(&self, what: &'static str, script: &str) -> Result<(), NftError> {
        let io_err = |source| NftError::Io {
            what,
            args: "-f -",
            source,
        };
        let started = Instant::now();
        let mut child = Command::new(NFT)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(io_err)?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| io_err(io::Error::other("nft's stdin is not a pipe")))?;
        // Write while reading nft's output, so neither side can block the
        // other on a full pipe.
        let write = async move {
            stdin.write_all(script.as_bytes()).await?;
            stdin.shutdown().await
        };
        let (written, output) = tokio::join!(write, child.wait_with_output());
        let output = output.map_err(io_err)?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            error!(
                what,
                status = %output.status,
                stderr = %stderr.trim_end(),
                script = %numbered(script),
                "nft refused berth's script"
            );
            return Err(NftError::Refused {
                what,
                status: output.status,
                stderr,
            });
        }
        // nft succeeded, so it read the whole script; a write error now
        // would be a broken pipe after the fact, still worth reporting.
        written.map_err(io_err)?;
        debug!(
            what,
            lines = script.lines().count(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "nft script applied"
        );
        Ok(())
    }

    async fn apply_state(&self, state: &FirewallState) -> Result<(), NftError> {
        let what = "full state of berth's tables";
        let script =
            render_full(state, &self.config).map_err(|source| NftError::Render { what, source })?;
        self.run_tracked(what, &script).await
    }

    async fn apply_change(&self, change: &FirewallChange) -> Result<(), NftError> {
        let what = "change of berth's set elements";
        let script = render_change(change, &self.config)
            .map_err(|source| NftError::Render { what, source })?;
        if script.is_empty() {
            return Ok(());
        }
        self.run_tracked(what, &script).await
    }
}

/// The generation after `generation`: the kernel skips 0 when it wraps.
fn next_generation(generation: u32) -> u32 {
    match generation.wrapping_add(1) {
        0 => 1,
        next => next,
    }
}

/// `listing` with each "counter packets N bytes M" made "counter".
fn without_counters(listing: &str) -> String {
    let mut out = String::with_capacity(listing.len());
    for line in listing.lines() {
        let mut words = line.split(' ').peekable();
        let mut first = true;
        while let Some(word) = words.next() {
            if !first {
                out.push(' ');
            }
            first = false;
            out.push_str(word);
            if word.ends_with("counter") && words.peek() == Some(&"packets") {
                // Skip "packets N bytes M".
                for _ in 0..4 {
                    words.next();
                }
            }
        }
        out.push('\n');
    }
    out
}

/// What differs between two listings, in a few words: lines gone and lines
/// new (a rule, a set's element line, a whole table), the first few quoted.
fn describe_drift(before: &str, now: &str) -> String {
    let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
    for line in before.lines().map(str::trim).filter(|l| !l.is_empty()) {
        *counts.entry(line).or_default() += 1;
    }
    for line in now.lines().map(str::trim).filter(|l| !l.is_empty()) {
        *counts.entry(line).or_default() -= 1;
    }
    let gone: Vec<&str> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(l, _)| *l)
        .collect();
    let new: Vec<&str> = counts
        .iter()
        .filter(|(_, n)| **n < 0)
        .map(|(l, _)| *l)
        .collect();
    let quote = |lines: &[&str]| {
        let shown: Vec<String> = lines.iter().take(3).map(|l| format!("`{l}`")).collect();
        let more = if lines.len() > 3 { ", …" } else { "" };
        format!("{}{more}", shown.join(", "))
    };
    match (gone.is_empty(), new.is_empty()) {
        (true, true) => "the order of lines in berth's tables changed".to_owned(),
        (false, true) => format!("{} lines gone: {}", gone.len(), quote(&gone)),
        (true, false) => format!("{} lines added: {}", new.len(), quote(&new)),
        (false, false) => format!(
            "{} lines gone: {}; {} lines added: {}",
            gone.len(),
            quote(&gone),
            new.len(),
            quote(&new)
        ),
    }
}

/// `script` with line numbers, as nft's error positions count them.
fn numbered(script: &str) -> String {
    let mut out = String::with_capacity(script.len() + script.len() / 8);
    for (i, line) in script.lines().enumerate() {
        let _ = writeln!(out, "{:>6}  {line}", i + 1);
    }
    out
}

impl Firewall for NftFirewall {
    async fn apply(&self, state: &FirewallState) -> Result<(), PortError> {
        Ok(self.apply_state(state).await?)
    }

    async fn update(&self, change: &FirewallChange) -> Result<(), PortError> {
        Ok(self.apply_change(change).await?)
    }

    async fn drift(&self) -> Result<Option<String>, PortError> {
        Ok(self.check_drift().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_lines_start_at_one() {
        assert_eq!(numbered("a\nb\n"), "     1  a\n     2  b\n");
    }

    #[test]
    fn counters_are_left_out_of_listings() {
        let listing = "\t\tiifname != \"lo\" ip daddr 127.0.0.0/8 counter packets 12 bytes 720 drop\n\t\tcounter packets 0 bytes 0 accept\n\t}\n";
        assert_eq!(
            without_counters(listing),
            "\t\tiifname != \"lo\" ip daddr 127.0.0.0/8 counter drop\n\t\tcounter accept\n\t}\n"
        );
    }

    #[test]
    fn drift_names_the_lines_gone_and_added() {
        let before = "table ip berth {\n\telements = { 8080 }\n\tcounter accept\n}\n";
        assert_eq!(
            describe_drift(before, "table ip berth {\n}\n"),
            "2 lines gone: `counter accept`, `elements = { 8080 }`"
        );
        assert_eq!(
            describe_drift(before, &format!("{before}table ip6 x {{\n}}\n")),
            "2 lines added: `table ip6 x {`, `}`"
        );
        assert!(describe_drift(before, "").starts_with("4 lines gone: "));
    }

    #[test]
    fn generations_wrap_past_zero() {
        assert_eq!(next_generation(7), 8);
        assert_eq!(next_generation(u32::MAX), 1);
    }

    #[test]
    fn missing_nft_says_what_to_install() {
        let e = NftError::Io {
            what: "full state of berth's tables",
            args: "-f -",
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert!(
            e.to_string().contains("is the nftables package installed?"),
            "{e}"
        );
    }
}
