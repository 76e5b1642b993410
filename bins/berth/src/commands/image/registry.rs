//! `berth pull`, `berth push` and `berth tag` (docker/cli
//! `cli/command/image/{pull,push,tag}.go`). berth's CLI sends no registry
//! credentials: the daemon pulls and pushes anonymously, or with what a
//! docker CLI logged in and sends itself.

use anyhow::anyhow;
use clap::Args;

use super::progress::{print_progress, Progress};
use crate::api::raw::Query;
use crate::api::{Api, Host};
use berth_types::reference::{self, ImageRef};

#[derive(Debug, Args)]
#[command(override_usage = "berth pull [OPTIONS] NAME[:TAG|@DIGEST]")]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long)]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string", allow_hyphen_values = true)]
    platform: Option<String>,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    name: String,
}

#[derive(Debug, Args)]
#[command(override_usage = "berth push [OPTIONS] NAME[:TAG]")]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long)]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    quiet: bool,
    #[arg(value_name = "NAME[:TAG]")]
    name: String,
}

#[derive(Debug, Args)]
#[command(override_usage = "berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")]
pub struct TagArgs {
    source: String,
    target: String,
}

fn parse(name: &str) -> anyhow::Result<ImageRef> {
    reference::parse_normalized(name).map_err(|e| anyhow!(e))
}

/// `POST /images/create?fromImage=NAME&tag=TAG|DIGEST`, then the full
/// reference, as docker prints it.
pub async fn pull(host: &Host, args: PullArgs) -> anyhow::Result<()> {
    if args.all_tags {
        return Err(anyhow!("berth does not pull --all-tags"));
    }
    let image = parse(&args.name)?.with_default_tag();
    let api = Api::connect(host).await?;
    let to = if args.quiet {
        Progress::Quiet
    } else {
        Progress::Stdout
    };
    pull_image(&api, &image, args.platform.as_deref(), to).await?;
    println!("{image}");
    Ok(())
}

/// Pulls `image` (a tag or a digest), showing the daemon's progress `to`.
pub async fn pull_image(
    api: &Api,
    image: &ImageRef,
    platform: Option<&str>,
    to: Progress,
) -> anyhow::Result<()> {
    let tag = image
        .digest
        .clone()
        .or(image.tag.clone())
        .unwrap_or_default();
    let query = Query::new()
        .set("fromImage", image.familiar_name())
        .set("tag", tag)
        .non_empty("platform", platform.unwrap_or_default());
    let response = api.pull_image(query).await?;
    print_progress(response, to).await
}

/// `POST /images/{name}/push?tag=TAG`.
pub async fn push(host: &Host, args: PushArgs) -> anyhow::Result<()> {
    if args.all_tags {
        return Err(anyhow!("berth does not push --all-tags"));
    }
    let image = parse(&args.name)?;
    if image.digest.is_some() {
        return Err(anyhow!("invalid reference format: push takes NAME[:TAG]"));
    }
    let image = image.with_default_tag();
    let query = Query::new().set("tag", image.tag.clone().unwrap_or_default());
    let api = Api::connect(host).await?;
    let response = api.push_image(&image.familiar_name(), query).await?;
    let to = if args.quiet {
        Progress::Quiet
    } else {
        Progress::Stdout
    };
    print_progress(response, to).await
}

/// `POST /images/{source}/tag?repo=REPO&tag=TAG`.
pub async fn tag(host: &Host, args: TagArgs) -> anyhow::Result<()> {
    let target = parse(&args.target)?;
    if target.digest.is_some() {
        return Err(anyhow!("refusing to create a tag with a digest reference"));
    }
    let target = target.with_default_tag();
    let query = Query::new()
        .set("repo", target.familiar_name())
        .set("tag", target.tag.clone().unwrap_or_default());
    let api = Api::connect(host).await?;
    api.tag_image(&args.source, query).await?;
    Ok(())
}
