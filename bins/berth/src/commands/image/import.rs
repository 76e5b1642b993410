//! `berth import` (docker/cli `cli/command/image/import.go`): a tarball
//! from a file, stdin or a URL becomes an image. Beyond docker, a
//! directory is tarred here, on the client, as it streams.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use hyper::body::Bytes;
use tokio::sync::mpsc;

use super::progress::{print_progress, Progress};
use crate::api::raw::{Query, ReqBody};
use crate::api::{Api, Host};
use crate::exit::{check_args, Arity};
use berth_types::reference;

/// How much of the tarball is read (or written) at a time.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Args)]
#[command(override_usage = "berth import [OPTIONS] file|URL|-|DIR [REPOSITORY[:TAG]]")]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(
        allow_hyphen_values = true,
        short = 'c',
        long = "change",
        value_name = "list"
    )]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long, value_name = "string", allow_hyphen_values = true)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string", allow_hyphen_values = true)]
    platform: Option<String>,
    #[arg(value_name = "file|URL|-|DIR")]
    args: Vec<String>,
}

/// A reader streamed into the request body from a thread of its own (the
/// reads block).
fn stream_reader(mut reader: impl Read + Send + 'static) -> ReqBody {
    let (tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let chunk = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => Ok(Bytes::copy_from_slice(&buf[..n])),
                Err(e) => Err(e),
            };
            let failed = chunk.is_err();
            if tx.blocking_send(chunk).is_err() || failed {
                break;
            }
        }
    });
    ReqBody::Stream(rx)
}

/// The writing end of a streamed body.
struct ChannelWriter(mpsc::Sender<std::io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::other("the upload was closed"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `dir` as a tar stream of its contents (paths relative to it, owners,
/// modes and links kept), written as it is read.
fn stream_tar(dir: PathBuf) -> ReqBody {
    let (tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        let writer = std::io::BufWriter::with_capacity(CHUNK, ChannelWriter(tx.clone()));
        let mut builder = tar::Builder::new(writer);
        builder.follow_symlinks(false);
        let result = builder
            .append_dir_all(".", &dir)
            .and_then(|()| builder.into_inner())
            .and_then(|mut w| w.flush());
        if let Err(e) = result {
            // The request fails with the reason instead of a short image.
            let _ = tx.blocking_send(Err(e));
        }
    });
    ReqBody::Stream(rx)
}

/// Go's `*PathError` text for an open that failed: `open X: <errno text>`.
fn open_error(path: &str, e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    let lowered = match chars.next() {
        Some(first) => first.to_lowercase().collect::<String>() + chars.as_str(),
        None => String::new(),
    };
    format!("open {path}: {lowered}")
}

pub async fn run(host: &Host, args: ImportArgs) -> anyhow::Result<()> {
    check_args(
        &args.args,
        Arity::AtLeast(1),
        "import",
        "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
    )?;
    let source = args.args[0].as_str();
    let repo = args.args.get(1).map(String::as_str).unwrap_or_default();
    let url = source.starts_with("http://") || source.starts_with("https://");
    let dir = !url && source != "-" && Path::new(source).is_dir();
    // As docker: the file is opened before the name is checked.
    let file = if url || dir || source == "-" {
        None
    } else {
        Some(std::fs::File::open(source).map_err(|e| anyhow!(open_error(source, &e)))?)
    };
    if !repo.is_empty() {
        reference::parse_normalized(repo).map_err(|e| anyhow!(e))?;
    }
    let (from_src, body) = match file {
        Some(file) => ("-", stream_reader(file)),
        // The daemon fetches a URL itself.
        None if url => (source, ReqBody::Full(None)),
        None if dir => ("-", stream_tar(PathBuf::from(source))),
        None => ("-", stream_reader(std::io::stdin())),
    };
    let mut query = Query::new()
        .set("fromSrc", from_src)
        .non_empty("repo", repo)
        .non_empty("message", args.message.as_deref().unwrap_or_default())
        .non_empty("platform", args.platform.as_deref().unwrap_or_default());
    for change in &args.change {
        query = query.set("changes", change.clone());
    }
    let api = Api::connect(host).await?;
    let response = api.import_image(query, body).await?;
    print_progress(response, Progress::Stdout).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_errors_read_like_go() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            open_error("imp/nope.tar", &e),
            "open imp/nope.tar: no such file or directory"
        );
    }
}
