//! docker's inspector (`cli/command/inspect/inspector.go`): prints the
//! daemon's raw objects as an indented or compact JSON array, or through
//! a `--format` template. Shared by every `inspect` command.

use serde_json::Value;

use super::gojson;
use super::template::{Exec, Missing, Template};
use crate::exit::Exit;

/// The three output modes of docker's inspector.
pub enum Inspector {
    /// No `--format`: a JSON array indented by four spaces.
    Indented,
    /// `--format json`: the array on one line.
    Compact,
    Template(Template),
}

impl Inspector {
    /// A template that does not parse ends the command with status 64
    /// before any request, as in docker.
    pub fn new(format: &str) -> Result<Inspector, Exit> {
        match format {
            "" => Ok(Inspector::Indented),
            "json" => Ok(Inspector::Compact),
            t => Template::parse(t)
                .map(Inspector::Template)
                .map_err(|e| Exit::status(64, format!("template parsing error: {e}"))),
        }
    }

    /// Renders what the daemon returned for each reference, in order: a
    /// raw object, or the error to report for it. Returns stdout and every
    /// error (fetch and template alike) in reference order. Like docker,
    /// an empty result is `[]` (JSON modes) or a blank line (templates).
    pub fn render(
        &self,
        results: &[Result<String, String>],
    ) -> Result<(String, Vec<String>), String> {
        let json_err = |e: serde_json::Error| format!("invalid JSON from the daemon: {e}");
        let mut errors = Vec::new();
        let mut raws = Vec::new();
        let mut out = String::new();
        for result in results {
            let raw = match result {
                Ok(raw) => raw,
                Err(e) => {
                    errors.push(e.clone());
                    continue;
                }
            };
            let Inspector::Template(t) = self else {
                raws.push(raw.as_str());
                continue;
            };
            let exec = Exec {
                missing: Missing::Error,
                escape_root_json: false,
            };
            let value: Value = serde_json::from_str(raw).map_err(json_err)?;
            match t.execute(&value, exec) {
                Ok(text) => {
                    out.push_str(&text);
                    out.push('\n');
                }
                Err(e) => errors.push(format!("template parsing error: {e}")),
            }
        }
        let array = format!("[{}]", raws.join(","));
        match self {
            Inspector::Indented if raws.is_empty() => out.push_str("[]\n"),
            Inspector::Compact if raws.is_empty() => out.push_str("[]\n"),
            Inspector::Indented => out = gojson::indent(&array, "    ").map_err(json_err)? + "\n",
            Inspector::Compact => out = gojson::compact(&array).map_err(json_err)? + "\n",
            Inspector::Template(_) if out.is_empty() => out.push('\n'),
            Inspector::Template(_) => {}
        }
        Ok((out, errors))
    }

    /// Prints the rendering; the errors end the command with status 1.
    pub fn print(&self, results: &[Result<String, String>]) -> anyhow::Result<()> {
        let (out, errors) = self.render(results).map_err(anyhow::Error::msg)?;
        print!("{out}");
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Exit::status(1, errors.join("\n")).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = r#"{"Name":"host","Id":"d9ed","IPAM":{"Driver":"default","Options":null,"Config":null},"Containers":{},"Labels":{}}"#;
    const NET10: &str = r#"{"Name":"net10","Labels":{"b":"2","a":"x<y&z"},"Extra":{"z":1,"a":[]}}"#;

    fn render(format: &str, raws: &[&str]) -> (String, Vec<String>) {
        let raws: Vec<Result<String, String>> = raws.iter().map(|s| Ok(s.to_string())).collect();
        Inspector::new(format)
            .ok()
            .and_then(|i| i.render(&raws).ok())
            .unwrap_or_default()
    }

    #[test]
    fn indented_array_like_docker() {
        let (out, errs) = render("", &[HOST, NET10]);
        assert!(errs.is_empty());
        assert_eq!(
            out,
            "[\n    {\n        \"Name\": \"host\",\n        \"Id\": \"d9ed\",\n        \"IPAM\": {\n            \
             \"Driver\": \"default\",\n            \"Options\": null,\n            \"Config\": null\n        },\n        \
             \"Containers\": {},\n        \"Labels\": {}\n    },\n    {\n        \"Name\": \"net10\",\n        \
             \"Labels\": {\n            \"b\": \"2\",\n            \"a\": \"x<y&z\"\n        },\n        \
             \"Extra\": {\n            \"z\": 1,\n            \"a\": []\n        }\n    }\n]\n"
        );
        assert_eq!(render("", &[]).0, "[]\n");
        assert_eq!(render("json", &[]).0, "[]\n");
    }

    #[test]
    fn compact_keeps_daemon_bytes() {
        assert_eq!(
            render("json", &[HOST, NET10]).0,
            format!("[{HOST},{NET10}]\n")
        );
    }

    #[test]
    fn errors_keep_reference_order() {
        let results = vec![
            Ok(HOST.to_string()),
            Err("Error: No such object: nope".to_string()),
            Ok(NET10.to_string()),
        ];
        let out = Inspector::new("{{.Name}} {{.IPAM.Driver}}")
            .ok()
            .and_then(|i| i.render(&results).ok())
            .unwrap_or_default();
        assert_eq!(out.0, "host default\n");
        assert_eq!(
            out.1,
            vec![
                "Error: No such object: nope".to_string(),
                r#"template parsing error: template: :1:17: executing "" at <.IPAM.Driver>: map has no entry for key "IPAM""#.to_string()
            ]
        );
    }

    #[test]
    fn templates_and_their_errors() {
        // docker: `-f '{{.Name}} {{.IPAM.Driver}} {{json .Labels}} {{.Labels}}'`.
        let (out, errs) = render("{{.Name}} {{json .Labels}} {{.Labels}}", &[NET10, HOST]);
        assert_eq!(
            out,
            "net10 {\"a\":\"x<y&z\",\"b\":\"2\"} map[a:x<y&z b:2]\nhost {} map[]\n"
        );
        assert!(errs.is_empty());
        // docker: a failing template prints a blank line, then the error.
        let (out, errs) = render("{{.Nope}}", &[HOST]);
        assert_eq!(out, "\n");
        assert_eq!(
            errs,
            vec![r#"template parsing error: template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope""#.to_string()]
        );
        let bad = Inspector::new("{{.Name").err();
        assert!(
            matches!(bad, Some(Exit::Status { code: 64, ref message }) if message == "template parsing error: template: :1: unclosed action")
        );
    }
}
