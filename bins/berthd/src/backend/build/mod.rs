//! `docker build` with the classic builder (moby `builder/dockerfile`):
//! the context unpacked on the image store's file system, the Dockerfile
//! read by `berth_oci::build::dockerfile`, and each step made into an image
//! on the previous one. `RUN` runs in a berth container on the default
//! bridge and is committed as `docker commit` does; `COPY`/`ADD` make a
//! layer of context files; the rest change the config only (an
//! empty-layer history entry). Before each step the cache is asked for an
//! image with the same parent, step and config (`ImageStore::find_child`);
//! a `COPY`'s step text carries its content checksum, and a `RUN`'s the
//! build args it saw, as dockerd's history does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use berth_api::{
    ApiError, Backend, BuildMessage, BuildStream, ImageBuildOptions, ImagePullOptions, RequestBody,
};
use berth_core::image::ImageRecordKind;
use berth_core::ports::StagedImage;
use berth_oci::build::dockerfile::{self, expand, Args, Instruction};
use berth_oci::build::{context_path, unpack_context};
use berth_oci::image::{apply_changes, ChildImage, ImageConfig, ImageId, NewLayer};
use berth_oci::RepoTag;
use futures::channel::mpsc;
use futures::StreamExt;
use tokio_util::io::SyncIoBridge;

use super::{api_error, oci_error, DaemonBackend};

mod copy;
mod run;

/// Build args usable without an `ARG` (dockerd's `builtinAllowedBuildArgs`).
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

type Sender = mpsc::UnboundedSender<Result<BuildMessage, ApiError>>;

/// Unpacks the context and reads the Dockerfile (failures are plain error
/// responses), then runs the steps in a task of its own, streaming.
pub async fn build(
    backend: DaemonBackend,
    options: ImageBuildOptions,
    context: RequestBody,
) -> Result<BuildStream, ApiError> {
    let dir = backend
        .oci
        .images()
        .scratch_dir("build-")
        .map_err(oci_error)?;
    let context_dir = dir.path().to_path_buf();
    let reader = SyncIoBridge::new(context);
    let dockerfile = options.dockerfile.clone();
    let instructions = tokio::task::spawn_blocking(move || {
        unpack_context(reader, &context_dir).map_err(oci_error)?;
        let path = context_path(&context_dir, &dockerfile).map_err(oci_error)?;
        let text = std::fs::read_to_string(&path).map_err(|_| {
            ApiError::invalid_parameter(format!("Cannot locate specified Dockerfile: {dockerfile}"))
        })?;
        dockerfile::parse(&text)
            .map_err(|e| ApiError::invalid_parameter(format!("dockerfile parse error: {e}")))
    })
    .await
    .map_err(|e| ApiError::internal(format!("build task failed: {e}")))??;
    // Checked once the context is read (see unpack_context).
    let tags = options
        .tags
        .iter()
        .map(|t| RepoTag::parse(t).map_err(oci_error))
        .collect::<Result<Vec<_>, _>>()?;
    let (tx, rx) = mpsc::unbounded();
    let mut builder = Builder {
        context: dir.path().to_path_buf(),
        backend,
        tx: tx.clone(),
        options,
        image: None,
        stage: None,
        stages: Vec::new(),
        config: ImageConfig::default(),
        shell: vec!["/bin/sh".into(), "-c".into()],
        global_args: BTreeMap::new(),
        args: BTreeMap::new(),
        used_args: BTreeSet::new(),
        cmd_set: false,
        author: String::new(),
    };
    tokio::spawn(async move {
        // The context goes when the build ends.
        let _dir = dir;
        if let Err(e) = builder.run(&instructions, &tags).await {
            let _ = tx.unbounded_send(Err(e));
        }
    });
    Ok(Box::pin(rx))
}

struct Builder {
    backend: DaemonBackend,
    tx: Sender,
    options: ImageBuildOptions,
    context: PathBuf,
    /// The image so far (`None`: scratch, or no `FROM` yet).
    image: Option<ImageId>,
    /// The stage's name (`AS name`, or ""), once its `FROM` is seen.
    stage: Option<String>,
    /// The finished stages' names and images.
    stages: Vec<(String, Option<ImageId>)>,
    config: ImageConfig,
    shell: Vec<String>,
    /// `ARG`s before the `FROM`: usable in it, and declared again after.
    global_args: BTreeMap<String, Option<String>>,
    /// `ARG`s of the stage, with their values.
    args: BTreeMap<String, Option<String>>,
    used_args: BTreeSet<String>,
    cmd_set: bool,
    author: String,
}

pub(super) fn refused(what: String) -> ApiError {
    ApiError::not_implemented(what)
}

impl Builder {
    fn say(&self, text: String) {
        if !self.options.quiet {
            let _ = self.tx.unbounded_send(Ok(BuildMessage::Stream(text)));
        }
    }

    async fn run(&mut self, steps: &[Instruction], tags: &[RepoTag]) -> Result<(), ApiError> {
        for (i, step) in steps.iter().enumerate() {
            self.say(format!(
                "Step {}/{} : {}\n",
                i + 1,
                steps.len(),
                step.original
            ));
            match step.keyword.as_str() {
                "FROM" => {
                    if let Some(stage) = &self.stage {
                        if !self.options.target.is_empty()
                            && stage.eq_ignore_ascii_case(&self.options.target)
                        {
                            break;
                        }
                        self.finish_stage();
                    }
                    self.from(step).await?
                }
                "ARG" => self.arg(step).await?,
                _ if self.stage.is_none() => {
                    return Err(ApiError::invalid_parameter(
                        "Please provide a source image with `from` prior to commit",
                    ))
                }
                "RUN" => self.run_step(step).await?,
                "COPY" | "ADD" => self.copy(step).await?,
                "ONBUILD" => {
                    return Err(refused(
                        "berth's builder does not keep ONBUILD triggers".to_owned(),
                    ))
                }
                "SHELL" => {
                    let Args::Exec(shell) = &step.args else {
                        return Err(ApiError::invalid_parameter(
                            "SHELL requires the arguments to be in JSON form",
                        ));
                    };
                    self.shell = shell.clone();
                    self.commit_metadata(format!("SHELL {}", step.args.text()))
                        .await?;
                }
                "MAINTAINER" => {
                    self.author = step.args.text();
                    self.commit_metadata(format!("MAINTAINER {}", self.author))
                        .await?;
                }
                _ => self.metadata(step).await?,
            }
        }
        let target = &self.options.target;
        if !target.is_empty()
            && !self
                .stage
                .as_ref()
                .is_some_and(|s| s.eq_ignore_ascii_case(target))
        {
            return Err(ApiError::invalid_parameter(format!(
                "failed to reach build target {target} in Dockerfile"
            )));
        }
        let Some(image) = self.image.clone() else {
            return Err(ApiError::invalid_parameter(
                "No image was generated. Is your Dockerfile empty?",
            ));
        };
        let unused: Vec<&String> = self
            .options
            .build_args
            .keys()
            .filter(|k| !self.used_args.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            self.say(format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                names.join(" ")
            ));
        }
        let _ = self
            .tx
            .unbounded_send(Ok(BuildMessage::Aux(image.to_string())));
        self.say(format!("Successfully built {}\n", image.short()));
        if self.options.quiet {
            // `-q` prints what the stream says: the id alone.
            let _ = self
                .tx
                .unbounded_send(Ok(BuildMessage::Stream(format!("{image}\n"))));
        }
        for tag in tags {
            let size = self
                .backend
                .oci
                .images()
                .inspect(image.hex())
                .map_err(oci_error)?
                .size;
            self.record(&image, size, Some(tag.to_string())).await?;
            self.say(format!("Successfully tagged {tag}\n"));
        }
        Ok(())
    }

    /// The value of a variable in an instruction: the stage's env, then its
    /// build args.
    fn lookup(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.config
            .env
            .iter()
            .flatten()
            .find_map(|e| e.strip_prefix(&prefix).map(str::to_owned))
            .or_else(|| self.args.get(name).cloned().flatten())
    }

    fn expanded(&self, text: &str) -> String {
        expand(text, '\\', &|n| self.lookup(n))
    }

    /// Ends the stage: its image is kept for `COPY --from` and `FROM`,
    /// and the next stage starts afresh (global args stay).
    fn finish_stage(&mut self) {
        let name = self.stage.take().unwrap_or_default();
        self.stages.push((name, self.image.take()));
        self.config = ImageConfig::default();
        self.shell = vec!["/bin/sh".into(), "-c".into()];
        self.args.clear();
        self.cmd_set = false;
    }

    /// A finished stage by name or index (`COPY --from=0`).
    fn finished_stage(&self, name: &str) -> Option<&Option<ImageId>> {
        self.stages
            .iter()
            .enumerate()
            .find(|(i, (stage, _))| {
                (!stage.is_empty() && stage.eq_ignore_ascii_case(name)) || i.to_string() == name
            })
            .map(|(_, (_, image))| image)
    }

    async fn from(&mut self, step: &Instruction) -> Result<(), ApiError> {
        if let Some((flag, _)) = step.flags.first() {
            return Err(refused(format!(
                "berth's builder does not support FROM --{flag}"
            )));
        }
        let globals = self.global_args.clone();
        let text = expand(&step.args.text(), '\\', &|n| {
            globals.get(n).cloned().flatten()
        });
        let words: Vec<&str> = text.split_whitespace().collect();
        let (name, stage) = match words.as_slice() {
            [name] => (*name, String::new()),
            [name, kw, stage] if kw.eq_ignore_ascii_case("as") => (*name, stage.to_string()),
            _ => {
                return Err(ApiError::invalid_parameter(format!(
                    "FROM requires either one or three arguments: {text}"
                )))
            }
        };
        self.stage = Some(stage);
        if name == "scratch" {
            self.say(" ---> \n".to_owned());
            return Ok(());
        }
        if let Some(base) = self.finished_stage(name).cloned() {
            if let Some(id) = &base {
                let image = self
                    .backend
                    .oci
                    .images()
                    .inspect(id.hex())
                    .map_err(oci_error)?;
                self.config = image.config;
                self.say(format!(" ---> {}\n", id.short()));
            }
            self.image = base;
            return Ok(());
        }
        let images = self.backend.oci.images();
        let image = match images.inspect(name) {
            Ok(image) => image,
            Err(_) => {
                self.pull(name).await?;
                images.inspect(name).map_err(oci_error)?
            }
        };
        self.config = image.config.clone();
        self.cmd_set = false;
        self.say(format!(" ---> {}\n", image.id.short()));
        self.image = Some(image.id);
        Ok(())
    }

    /// A `FROM` image that is not here is pulled, as dockerd does.
    async fn pull(&self, name: &str) -> Result<(), ApiError> {
        let options = ImagePullOptions {
            image: name.to_owned(),
            tag: None,
            platform: None,
            registry_auth: None,
        };
        let mut messages = self.backend.image_pull(options).await?;
        while let Some(message) = messages.next().await {
            let message = message?;
            let id = message.id.map(|i| format!("{i}: ")).unwrap_or_default();
            self.say(format!("{id}{}\n", message.status));
        }
        Ok(())
    }

    async fn arg(&mut self, step: &Instruction) -> Result<(), ApiError> {
        let text = step.args.text();
        let (name, default) = match text.split_once('=') {
            Some((n, d)) => (n.trim().to_owned(), Some(self.expanded(d.trim()))),
            None => (text.trim().to_owned(), None),
        };
        if name.is_empty() {
            return Err(ApiError::invalid_parameter(
                "ARG requires exactly one argument",
            ));
        }
        let given = self.options.build_args.get(&name).cloned().flatten();
        if self.stage.is_none() {
            self.global_args.insert(name, given.or(default));
            return Ok(());
        }
        let value = given
            .or(default)
            .or_else(|| self.global_args.get(&name).cloned().flatten());
        self.used_args.insert(name.clone());
        self.args.insert(name, value);
        self.commit_metadata(format!("ARG {text}")).await
    }

    async fn metadata(&mut self, step: &Instruction) -> Result<(), ApiError> {
        let keyword = step.keyword.as_str();
        let text = match keyword {
            "CMD" | "ENTRYPOINT" => {
                let argv = match &step.args {
                    Args::Exec(v) => v.clone(),
                    Args::Shell(s) => self.shell.iter().cloned().chain([s.clone()]).collect(),
                };
                if keyword == "CMD" {
                    self.config.cmd = Some(argv);
                    self.cmd_set = true;
                } else {
                    self.config.entrypoint = Some(argv);
                    if !self.cmd_set {
                        self.config.cmd = None;
                    }
                }
                return self
                    .commit_metadata(format!("{keyword} {}", json_or_text(&step.args)))
                    .await;
            }
            // Its command is run by the shell of the probe, as written.
            "HEALTHCHECK" => step.args.text(),
            _ => self.expanded(&step.args.text()),
        };
        let line = format!("{keyword} {text}");
        apply_changes(&mut self.config, std::slice::from_ref(&line)).map_err(oci_error)?;
        self.commit_metadata(line).await
    }

    fn child(&self, created_by: String) -> ChildImage {
        ChildImage {
            config: self.config.clone(),
            author: self.author.clone(),
            created_by,
            ..ChildImage::default()
        }
    }

    /// Uses the cached image of this step, if there is one.
    fn use_cache(&mut self, created_by: &str) -> Result<bool, ApiError> {
        if self.options.no_cache {
            return Ok(false);
        }
        let found = self
            .backend
            .oci
            .images()
            .find_child(self.image.as_ref(), created_by, &self.config)
            .map_err(oci_error)?;
        let Some(id) = found else { return Ok(false) };
        self.say(" ---> Using cache\n".to_owned());
        self.say(format!(" ---> {}\n", id.short()));
        self.image = Some(id);
        Ok(true)
    }

    /// A step that changes the config only.
    async fn commit_metadata(&mut self, text: String) -> Result<(), ApiError> {
        let created_by = format!("/bin/sh -c #(nop)  {text}");
        if self.use_cache(&created_by)? {
            return Ok(());
        }
        self.stage_step(created_by, None).await
    }

    /// Makes the step's image on the current one, with the layer tar at
    /// `layer` (none: the config alone), records it and goes on from it.
    async fn stage_step(
        &mut self,
        created_by: String,
        layer: Option<std::path::PathBuf>,
    ) -> Result<(), ApiError> {
        let parent = self.image.clone();
        let child = self.child(created_by);
        let staged = self
            .backend
            .oci
            .blocking(move |_, images| {
                let layer = layer.as_deref().map_or(NewLayer::Empty, NewLayer::Tar);
                images.stage_child(parent.as_ref(), layer, child)
            })
            .await
            .map_err(oci_error)?;
        self.record(&staged.id, staged.size, None).await?;
        self.say(format!(" ---> {}\n", staged.id.short()));
        self.image = Some(staged.id);
        Ok(())
    }

    async fn record(&self, id: &ImageId, size: u64, tag: Option<String>) -> Result<(), ApiError> {
        let staged = StagedImage {
            id: id.to_string(),
            tag,
            size,
            repo_digest: None,
        };
        self.backend
            .engine
            .record_staged_image(staged, ImageRecordKind::Tag)
            .await
            .map(drop)
            .map_err(api_error)
    }
}

/// `CMD`/`ENTRYPOINT` as dockerd's history writes them: JSON.
fn json_or_text(args: &Args) -> String {
    match args {
        Args::Exec(v) => serde_json::to_string(v).unwrap_or_default(),
        Args::Shell(s) => format!("[\"/bin/sh\" \"-c\" {s:?}]"),
    }
}
