//! `berth images` (docker/cli `cli/command/image/list.go` and
//! `cli/command/formatter/image.go` as of docker 28.2).

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use clap::Args;
use serde_json::{json, Map, Value};

use crate::api::raw::Query;
use crate::api::{Api, Host};
use crate::exit::{check_args, Arity};
use crate::format::{gotime, list, truncate_id, units};
use crate::opts::{self, FilterArg};
use berth_types::reference;

// docker's default shows `N/A` for an image without a creation time, which
// a Unix time never is; berth's templates have no `if`.
const DEFAULT_TABLE: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DEFAULT_TABLE_DIGEST: &str =
    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const QUIET: &str = "{{.ID}}";
const RAW: &str = "repository: {{ .Repository }}\ntag: {{.Tag}}\nimage_id: {{.ID}}\n\
created_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n";
const RAW_DIGEST: &str = "repository: {{ .Repository }}\ntag: {{.Tag}}\ndigest: {{.Digest}}\n\
image_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n";
const RAW_QUIET: &str = "image_id: {{.ID}}";

/// The Go type docker's template errors name for a row.
const ROW_TYPE: &str = "*formatter.imageContext";

#[derive(Debug, Args)]
#[command(override_usage = "berth images [OPTIONS] [REPOSITORY[:TAG]]")]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output based on conditions provided
    #[arg(allow_hyphen_values = true, short = 'f', long = "filter", value_name = "filter", value_parser = opts::parse_filter)]
    filter: Vec<FilterArg>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'
    #[arg(long, value_name = "string", allow_hyphen_values = true)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    args: Vec<String>,
}

pub async fn run(host: &Host, args: ImagesArgs) -> anyhow::Result<()> {
    check_args(
        &args.args,
        Arity::AtMost(1),
        "images",
        "images [OPTIONS] [REPOSITORY[:TAG]]",
    )?;
    let mut filter = args.filter.clone();
    if let Some(name) = args.args.first() {
        filter.push(opts::parse_filter(&format!("reference={name}")).map_err(|e| anyhow!(e))?);
    }
    let mut query = Query::new().flag("all", args.all);
    if let Some(filters) = opts::filters_json(&filter) {
        query = query.set("filters", filters);
    }
    let api = Api::connect(host).await?;
    let images = api.list_images(query).await?;
    let source = match args.format.as_deref() {
        None | Some("") => "table",
        Some(format) => format,
    };
    let format = select_format(source, args.quiet, args.digests);
    let with_digests = args.digests || format.contains("{{.Digest}}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let rows: Vec<Value> = images
        .iter()
        .flat_map(|image| entries(image, with_digests, args.digests))
        .map(|e| row_value(&e, !args.no_trunc, now))
        .collect();
    let out = list::render(&format, &rows, ROW_TYPE, &header_value())
        .map_err(|e| anyhow!("template parsing error: {e}"))?;
    print!("{out}");
    Ok(())
}

/// docker's `NewImageFormat`.
fn select_format(source: &str, quiet: bool, digest: bool) -> String {
    match (source, quiet, digest) {
        ("table", true, _) => QUIET.to_string(),
        ("table", false, true) => DEFAULT_TABLE_DIGEST.to_string(),
        ("table", false, false) => DEFAULT_TABLE.to_string(),
        ("raw", true, _) => RAW_QUIET.to_string(),
        ("raw", false, true) => RAW_DIGEST.to_string(),
        ("raw", false, false) => RAW.to_string(),
        (custom, _, true) if custom.starts_with("table") && !custom.contains("{{.Digest}}") => {
            format!("{custom}\t{{{{.Digest}}}}")
        }
        (custom, _, _) => custom.to_string(),
    }
}

/// docker's `SubHeaderContext` for images.
fn header_value() -> Value {
    json!({
        "ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS", "VirtualSize": "SIZE", "SharedSize": "SHARED SIZE",
        "UniqueSize": "UNIQUE SIZE",
    })
}

/// One row of the listing: an image under one repository, tag and digest.
struct Entry<'a> {
    image: &'a Value,
    repo: String,
    tag: String,
    digest: String,
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// docker's `imageFormat`: a dangling image is one `<none>` row; else a
/// row per tag of each repository (per digest too when digests show),
/// then one per repository known only by digest.
fn entries(image: &Value, with_digests: bool, show_digests: bool) -> Vec<Entry<'_>> {
    let tags = strings(&image["RepoTags"]);
    let digests = strings(&image["RepoDigests"]);
    let dangling = (tags.is_empty() && digests.is_empty())
        || (tags == ["<none>:<none>"] && digests == ["<none>@<none>"]);
    let entry = |repo: &str, tag: &str, digest: &str| Entry {
        image,
        repo: repo.to_string(),
        tag: tag.to_string(),
        digest: digest.to_string(),
    };
    if dangling {
        return vec![entry("<none>", "<none>", "<none>")];
    }
    // Repositories in the order first seen (docker: Go map order).
    let mut repo_tags: Vec<(String, Vec<String>)> = Vec::new();
    for r in tags {
        if let Ok(named) = reference::parse_normalized(r) {
            if let Some(tag) = &named.tag {
                let name = named.familiar_name();
                match repo_tags.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, list)) => list.push(tag.clone()),
                    None => repo_tags.push((name, vec![tag.clone()])),
                }
            }
        }
    }
    let mut repo_digests: Vec<(String, Vec<String>)> = Vec::new();
    for r in digests {
        if let Ok(named) = reference::parse_normalized(r) {
            if let Some(digest) = &named.digest {
                let name = named.familiar_name();
                match repo_digests.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, list)) => list.push(digest.clone()),
                    None => repo_digests.push((name, vec![digest.clone()])),
                }
            }
        }
    }
    let mut out = Vec::new();
    for (repo, tags) in &repo_tags {
        let digests = match repo_digests.iter().position(|(n, _)| n == repo) {
            Some(i) => repo_digests.remove(i).1,
            None => Vec::new(),
        };
        for tag in tags {
            if digests.is_empty() || !with_digests {
                out.push(entry(repo, tag, "<none>"));
            } else {
                out.extend(digests.iter().map(|d| entry(repo, tag, d)));
            }
        }
    }
    for (repo, digests) in &repo_digests {
        if show_digests {
            out.extend(digests.iter().map(|d| entry(repo, "<none>", d)));
        } else {
            out.push(entry(repo, "<none>", ""));
        }
    }
    out
}

/// The row as the template sees it: docker's `imageContext` methods.
fn row_value(e: &Entry<'_>, trunc: bool, now: f64) -> Value {
    let i = e.image;
    let id = i["Id"].as_str().unwrap_or_default();
    let created = i["Created"].as_i64().unwrap_or(0);
    let size = i["Size"].as_i64().unwrap_or(0);
    let shared = i["SharedSize"].as_i64().unwrap_or(0);
    let containers = i["Containers"].as_i64().unwrap_or(0);
    let na_or = |n: i64, f: &dyn Fn(i64) -> String| {
        if n == -1 {
            "N/A".to_string()
        } else {
            f(n)
        }
    };
    let mut m = Map::new();
    m.insert(
        "Containers".into(),
        na_or(containers, &|n| n.to_string()).into(),
    );
    m.insert("CreatedAt".into(), gotime::unix_local(created).into());
    m.insert(
        "CreatedSince".into(),
        format!("{} ago", units::human_duration(now - created as f64)).into(),
    );
    m.insert("Digest".into(), e.digest.clone().into());
    m.insert(
        "ID".into(),
        (if trunc { truncate_id(id) } else { id }).into(),
    );
    m.insert("Repository".into(), e.repo.clone().into());
    m.insert(
        "SharedSize".into(),
        na_or(shared, &|n| units::human_size(n as f64, 4)).into(),
    );
    m.insert("Size".into(), units::human_size(size as f64, 3).into());
    m.insert("Tag".into(), e.tag.clone().into());
    let unique = if size == -1 || shared == -1 {
        "N/A".to_string()
    } else {
        units::human_size((size - shared) as f64, 4)
    };
    m.insert("UniqueSize".into(), unique.into());
    m.insert(
        "VirtualSize".into(),
        units::human_size(size as f64, 4).into(),
    );
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: f64 = 1_800_000_000.0;

    /// The fixtures docker 28.2.2's `images` rendered (`tests/cli/fake.rs`).
    fn images() -> Vec<Value> {
        vec![
            json!({"Id": "sha256:65ad0d468eb1c558bf7f4e64e790f586e9eb23b3d0f5d9bb2f7d9a1f3c5c2a11",
                   "RepoTags": ["busybox:latest"], "RepoDigests": [],
                   "Created": 1_800_000_000 - 21 * 86400, "Size": 4261550, "SharedSize": -1,
                   "Containers": -1}),
            json!({"Id": "sha256:0c0c0c0c0c0c1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d",
                   "RepoTags": ["app:v1", "app:v2"], "RepoDigests": [],
                   "Created": 1_800_000_000 - 3 * 3600, "Size": 123456789, "SharedSize": -1,
                   "Containers": -1}),
            json!({"Id": "sha256:dadadadadada3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e3e",
                   "RepoTags": [], "RepoDigests": [], "Created": 1_800_000_000 - 90 * 86400,
                   "Size": 999, "SharedSize": -1, "Containers": -1}),
        ]
    }

    fn render(format: &str, quiet: bool) -> String {
        let images = images();
        let format = select_format(format, quiet, false);
        let rows: Vec<Value> = images
            .iter()
            .flat_map(|i| entries(i, false, false))
            .map(|e| row_value(&e, true, NOW))
            .collect();
        list::render(&format, &rows, ROW_TYPE, &header_value()).unwrap_or_else(|e| e)
    }

    #[test]
    fn default_table_is_dockers() {
        assert_eq!(
            render("table", false),
            "REPOSITORY   TAG       IMAGE ID       CREATED        SIZE\n\
             busybox      latest    65ad0d468eb1   3 weeks ago    4.26MB\n\
             app          v1        0c0c0c0c0c0c   3 hours ago    123MB\n\
             app          v2        0c0c0c0c0c0c   3 hours ago    123MB\n\
             <none>       <none>    dadadadadada   3 months ago   999B\n"
        );
        assert_eq!(
            render("table", true),
            "65ad0d468eb1\n0c0c0c0c0c0c\n0c0c0c0c0c0c\ndadadadadada\n"
        );
    }

    #[test]
    fn json_rows_are_dockers() {
        let out = render("{{json .}}", false);
        let created = gotime::unix_local(1_800_000_000 - 21 * 86400);
        assert_eq!(
            out.lines().next(),
            Some(format!("{{\"Containers\":\"N/A\",\"CreatedAt\":\"{created}\",\"CreatedSince\":\"3 weeks ago\",\"Digest\":\"\\u003cnone\\u003e\",\"ID\":\"65ad0d468eb1\",\"Repository\":\"busybox\",\"SharedSize\":\"N/A\",\"Size\":\"4.26MB\",\"Tag\":\"latest\",\"UniqueSize\":\"N/A\",\"VirtualSize\":\"4.262MB\"}}").as_str())
        );
    }

    #[test]
    fn digests_and_familiar_names() {
        let image = json!({"Id": "sha256:ab", "RepoTags": ["docker.io/library/x:1", "localhost:5000/y:2"],
                           "RepoDigests": ["x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                                           "z@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]});
        let rows: Vec<(String, String, String)> = entries(&image, true, true)
            .into_iter()
            .map(|e| (e.repo, e.tag, e.digest))
            .collect();
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            rows,
            vec![
                ("x".into(), "1".into(), d.into()),
                ("localhost:5000/y".into(), "2".into(), "<none>".into()),
                ("z".into(), "<none>".into(), d.into()),
            ]
        );
    }
}
