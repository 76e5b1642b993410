//! docker's `formatter.Context` for listings (`network ls`, `ps`,
//! `images`): the format chosen by the command, one template execution
//! per row, and for table formats a header row and tabwriter alignment.

use serde_json::Value;

use super::tabwriter;
use super::template::{Exec, Missing, Template};

/// docker's `Context.preFormat`: strip `table`, expand `json`, trim
/// spaces, and turn the two-character sequences `\t` and `\n` into tabs
/// and newlines.
fn pre_format(format: &str) -> String {
    let body = if let Some(rest) = format.strip_prefix("table") {
        rest
    } else if format == "json" {
        "{{json .}}"
    } else {
        format
    };
    body.trim_matches(' ')
        .replace("\\t", "\t")
        .replace("\\n", "\n")
}

/// Renders `rows` (each the object docker's row context exposes, whose Go
/// type `row_type` names in errors) with the selected `format`; `header`
/// maps each field to its column title.
pub fn render(
    format: &str,
    rows: &[Value],
    row_type: &str,
    header: &Value,
) -> Result<String, String> {
    let template = Template::parse(&pre_format(format))?;
    let exec = Exec {
        missing: Missing::Struct(row_type),
        escape_root_json: true,
    };
    let mut body = String::new();
    for row in rows {
        body.push_str(&template.execute(row, exec)?);
        body.push('\n');
    }
    if !format.starts_with("table") {
        return Ok(body);
    }
    let header_exec = Exec {
        missing: Missing::Header,
        escape_root_json: false,
    };
    let header = template.execute(header, header_exec)?;
    // docker's tabwriter: min width 10, padding 3.
    Ok(tabwriter::align(&format!("{header}\n{body}"), 10, 3))
}

/// docker's check of a `--format` before it lists anything (`ps`): the
/// template must parse, and run against an empty row.
pub fn validate(format: &str, empty_row: &Value, row_type: &str) -> Result<(), String> {
    let template = Template::parse(format).map_err(|e| format!("failed to parse template: {e}"))?;
    let exec = Exec {
        missing: Missing::Struct(row_type),
        escape_root_json: true,
    };
    template
        .execute(empty_row, exec)
        .map(drop)
        .map_err(|e| format!("failed to execute template: {e}"))
}
