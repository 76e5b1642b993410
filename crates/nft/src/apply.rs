//! The applier: each rendered script goes to one `nft -f -` process, which
//! the kernel commits as one transaction (all of it, or none of it).

use std::fmt::Write as _;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::time::Instant;

use berth_core::ports::{Firewall, FirewallChange, FirewallState, PortError};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use tracing::{debug, error};

use crate::config::FwConfig;
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
/// store); the one read, [`Firewall::present`], only asks whether the
/// tables still exist.
#[derive(Clone, Debug, Default)]
pub struct NftFirewall {
    config: FwConfig,
}

impl NftFirewall {
    pub fn new(config: FwConfig) -> Self {
        Self { config }
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
        self.run_script(what, &script).await
    }

    async fn apply_change(&self, change: &FirewallChange) -> Result<(), NftError> {
        let what = "change of berth's set elements";
        let script = render_change(change, &self.config)
            .map_err(|source| NftError::Render { what, source })?;
        if script.is_empty() {
            return Ok(());
        }
        self.run_script(what, &script).await
    }

    /// Whether both of berth's tables exist. `nft list tables` prints names
    /// only, so the check costs the same with 10 or 10,000 elements.
    async fn tables_present(&self) -> Result<bool, NftError> {
        let what = "check of berth's tables";
        let output = Command::new(NFT)
            .args(["list", "tables"])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|source| NftError::Io {
                what,
                args: "list tables",
                source,
            })?;
        if !output.status.success() {
            return Err(NftError::Refused {
                what,
                status: output.status,
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        let listed = String::from_utf8_lossy(&output.stdout);
        let table = self.config.table();
        let has = |family: &str| {
            listed
                .lines()
                .any(|l| l.trim() == format!("table {family} {table}"))
        };
        Ok(has("ip") && has("ip6"))
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

    async fn present(&self) -> Result<bool, PortError> {
        Ok(self.tables_present().await?)
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
