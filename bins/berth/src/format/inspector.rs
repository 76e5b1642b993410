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

    /// Renders the daemon's raw objects; returns stdout and the errors of
    /// objects the template failed on. Like docker, an empty result is
    /// `[]` (JSON modes) or a blank line (templates).
    pub fn render(&self, raws: &[String]) -> Result<(String, Vec<String>), String> {
        let array = || format!("[{}]", raws.join(","));
        let json_err = |e: serde_json::Error| format!("invalid JSON from the daemon: {e}");
        match self {
            Inspector::Indented if raws.is_empty() => Ok(("[]\n".to_string(), Vec::new())),
            Inspector::Compact if raws.is_empty() => Ok(("[]\n".to_string(), Vec::new())),
            Inspector::Indented => Ok((
                gojson::indent(&array(), "    ").map_err(json_err)? + "\n",
                Vec::new(),
            )),
            Inspector::Compact => Ok((
                gojson::compact(&array()).map_err(json_err)? + "\n",
                Vec::new(),
            )),
            Inspector::Template(t) => {
                let exec = Exec {
                    missing: Missing::Error,
                    escape_root_json: false,
                };
                let mut out = String::new();
                let mut errors = Vec::new();
                for raw in raws {
                    let value: Value = serde_json::from_str(raw).map_err(json_err)?;
                    match t.execute(&value, exec) {
                        Ok(text) => {
                            out.push_str(&text);
                            out.push('\n');
                        }
                        Err(e) => errors.push(format!("template parsing error: {e}")),
                    }
                }
                if out.is_empty() {
                    out.push('\n');
                }
                Ok((out, errors))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = r#"{"Name":"host","Id":"d9ed","IPAM":{"Driver":"default","Options":null,"Config":null},"Containers":{},"Labels":{}}"#;
    const NET10: &str = r#"{"Name":"net10","Labels":{"b":"2","a":"x<y&z"},"Extra":{"z":1,"a":[]}}"#;

    fn render(format: &str, raws: &[&str]) -> (String, Vec<String>) {
        let raws: Vec<String> = raws.iter().map(|s| s.to_string()).collect();
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
