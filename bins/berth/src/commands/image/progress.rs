//! The JSON message streams of image operations (import, pull, push), shown
//! as docker shows them when its output is not a terminal.

use anyhow::anyhow;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;

/// docker's `jsonmessage.DisplayJSONMessagesStream` for output that is not
/// a terminal: status lines (with their id), streams as they are, progress
/// bars left out; an error message ends it.
fn display(line: &str) -> Result<String, String> {
    let Ok(m) = serde_json::from_str::<Value>(line) else {
        return Ok(String::new());
    };
    let text = |k: &str| m[k].as_str().unwrap_or_default().to_string();
    if let Some(message) = m["errorDetail"]["message"].as_str() {
        return Err(message.to_string());
    }
    if !text("error").is_empty() {
        return Err(text("error"));
    }
    let progress = &m["progressDetail"];
    let current = progress["current"].as_i64().unwrap_or(0);
    let total = progress["total"].as_i64().unwrap_or(0);
    if current > 0 || total > 0 {
        return Ok(String::new());
    }
    let mut out = String::new();
    if !text("id").is_empty() {
        out.push_str(&format!("{}: ", text("id")));
    }
    if !text("from").is_empty() {
        out.push_str(&format!("(from {}) ", text("from")));
    }
    if !text("progress").is_empty() {
        out.push_str(&format!("{} {}", text("status"), text("progress")));
    } else if !text("stream").is_empty() {
        out.push_str(&text("stream"));
    } else {
        out.push_str(&format!("{}\n", text("status")));
    }
    Ok(out)
}

/// Where the lines of a progress stream go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Stdout,
    /// As docker's `run` shows the pull of a missing image.
    Stderr,
    Quiet,
}

/// Prints the stream as it comes; an error message in it is the error.
pub async fn print_progress(mut response: Incoming, to: Progress) -> anyhow::Result<()> {
    let mut pending = Vec::new();
    let show = |line: &[u8]| -> anyhow::Result<()> {
        let text = display(&String::from_utf8_lossy(line)).map_err(|e| anyhow!(e))?;
        match to {
            Progress::Stdout => print!("{text}"),
            Progress::Stderr => eprint!("{text}"),
            Progress::Quiet => {}
        }
        Ok(())
    };
    while let Some(frame) = response.frame().await {
        let frame = frame.map_err(|e| anyhow!("error during connect: {e}"))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        pending.extend_from_slice(data);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            show(&line)?;
        }
    }
    show(&pending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_display_like_docker() {
        assert_eq!(
            display(r#"{"status":"sha256:abc"}"#),
            Ok("sha256:abc\n".to_string())
        );
        assert_eq!(
            display(
                r#"{"status":"Importing","progressDetail":{"current":10,"total":100},"progress":"[=>  ]"}"#
            ),
            Ok(String::new())
        );
        assert_eq!(
            display(r#"{"id":"x","status":"Done"}"#),
            Ok("x: Done\n".to_string())
        );
        assert_eq!(
            display(
                r#"{"errorDetail":{"message":"invalid reference format"},"error":"invalid reference format"}"#
            ),
            Err("invalid reference format".to_string())
        );
        assert_eq!(display(""), Ok(String::new()));
    }
}
