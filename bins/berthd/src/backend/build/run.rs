//! `RUN`: the step's command in a container of the image so far, its
//! output streamed to the client, its changes committed as a layer.

use berth_api::{ApiError, Backend, LogsOptions, RemoveOptions, WaitCondition};
use berth_oci::build::dockerfile::{Args, Instruction};
use berth_oci::image::{ImageId, NewLayer};
use bollard_stubs::models::ContainerCreateBody;
use futures::StreamExt;

use super::super::archive::INIT_PATHS;
use super::{oci_error, refused, Builder, PREDEFINED_ARGS};

impl Builder {
    /// The build args a `RUN` sees, as `K=V`: the stage's with a value and
    /// the predefined ones given.
    fn run_args(&self) -> Vec<String> {
        let mut env: Vec<String> = self
            .args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();
        for name in PREDEFINED_ARGS {
            if let Some(Some(v)) = self.options.build_args.get(*name) {
                env.push(format!("{name}={v}"));
            }
        }
        env
    }

    pub(super) async fn run_step(&mut self, step: &Instruction) -> Result<(), ApiError> {
        if let Some((flag, _)) = step.flags.first() {
            return Err(refused(format!(
                "berth's builder does not support RUN --{flag}"
            )));
        }
        let Some(parent) = self.image.clone() else {
            return Err(refused(
                "berth's builder cannot RUN on an empty image (FROM scratch)".to_owned(),
            ));
        };
        let argv = match &step.args {
            Args::Exec(v) => v.clone(),
            Args::Shell(s) => self.shell.iter().cloned().chain([s.clone()]).collect(),
        };
        let command = argv.join(" ");
        let args = self.run_args();
        let created_by = if args.is_empty() {
            command.clone()
        } else {
            format!("|{} {} {command}", args.len(), args.join(" "))
        };
        if self.use_cache(&created_by)? {
            return Ok(());
        }
        let mut env = self.config.env.clone().unwrap_or_default();
        env.extend(args);
        let body = ContainerCreateBody {
            image: Some(parent.to_string()),
            cmd: Some(argv),
            entrypoint: Some(Vec::new()),
            env: Some(env),
            working_dir: Some(self.config.working_dir.clone()),
            user: Some(self.config.user.clone()),
            ..Default::default()
        };
        let id = self.backend.container_create(None, body).await?.id;
        let short = id.chars().take(12).collect::<String>();
        self.say(format!(" ---> Running in {short}\n"));
        let outcome = self.run_container(&id, &command, parent, created_by).await;
        if self.options.remove || self.options.force_remove || outcome.is_err() {
            let removal = RemoveOptions {
                force: true,
                ..RemoveOptions::default()
            };
            self.backend.container_remove(id.clone(), removal).await?;
            self.say(format!("Removing intermediate container {short}\n"));
        }
        let image = outcome?;
        self.say(format!(" ---> {}\n", image.short()));
        self.image = Some(image);
        Ok(())
    }

    /// Starts the step's container, streams its output, and commits it if
    /// it exits 0.
    async fn run_container(
        &self,
        id: &str,
        command: &str,
        parent: ImageId,
        created_by: String,
    ) -> Result<ImageId, ApiError> {
        let exited = self
            .backend
            .container_wait(id.to_owned(), WaitCondition::NextExit)
            .await?;
        self.backend.container_start(id.to_owned()).await?;
        let logs = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            ..LogsOptions::default()
        };
        let mut output = self
            .backend
            .container_logs(id.to_owned(), logs)
            .await?
            .messages;
        while let Some(Ok(message)) = output.next().await {
            self.say(String::from_utf8_lossy(&message.line).into_owned());
        }
        let code = exited.await.status_code;
        if code != 0 {
            return Err(ApiError::invalid_parameter(format!(
                "The command '{command}' returned a non-zero code: {code}"
            )));
        }
        let c = self.backend.container(id)?;
        let upper = self.backend.oci.runtime().layout().upper_dir(&c.id);
        let child = self.child(created_by);
        let staged = self
            .backend
            .oci
            .blocking(move |_, images| {
                let layer = NewLayer::Changes {
                    upper: &upper,
                    skip: INIT_PATHS,
                };
                images.stage_child(Some(&parent), layer, child)
            })
            .await
            .map_err(oci_error)?;
        self.record(&staged.id, staged.size, None).await?;
        Ok(staged.id)
    }
}
