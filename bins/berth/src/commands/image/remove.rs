//! `berth rmi` (docker/cli `cli/command/image/remove.go`).

use anyhow::anyhow;
use clap::Args;

use crate::api::{Api, Host};
use crate::exit::{check_args, Arity};

#[derive(Debug, Args)]
#[command(override_usage = "berth rmi [OPTIONS] IMAGE [IMAGE...]")]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,
}

pub async fn run(host: &Host, args: RmiArgs) -> anyhow::Result<()> {
    check_args(
        &args.images,
        Arity::AtLeast(1),
        "rmi",
        "rmi [OPTIONS] IMAGE [IMAGE...]",
    )?;
    let api = Api::connect(host).await?;
    let mut errors = Vec::new();
    // Only a not-found may be forgiven by --force.
    let mut fatal = false;
    for image in &args.images {
        match api.remove_image(image, args.force).await {
            Ok(deleted) => {
                for d in deleted {
                    match d["Deleted"].as_str().filter(|s| !s.is_empty()) {
                        Some(id) => println!("Deleted: {id}"),
                        None => {
                            println!("Untagged: {}", d["Untagged"].as_str().unwrap_or_default())
                        }
                    }
                }
            }
            Err(e) => {
                fatal |= !e.is_not_found();
                errors.push(e.to_string());
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    if !args.force || fatal {
        return Err(anyhow!(errors.join("\n")));
    }
    eprintln!("{}", errors.join("\n"));
    Ok(())
}
