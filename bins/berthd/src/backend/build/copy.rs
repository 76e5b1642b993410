//! `COPY` and `ADD` of context files: a layer tar written on the blocking
//! pool, its content checksum in the step's text (the cache key).

use berth_api::ApiError;
use berth_oci::build::dockerfile::{Args, Instruction};
use berth_oci::build::{context_path, expand_sources, write_archive_layer, write_copy_layer};

use super::{oci_error, refused, Builder};

impl Builder {
    pub(super) async fn copy(&mut self, step: &Instruction) -> Result<(), ApiError> {
        let keyword = step.keyword.as_str();
        let mut chown = (0, 0);
        let mut chmod = None;
        let mut root = self.context.clone();
        for (flag, value) in &step.flags {
            match flag.as_str() {
                "from" if keyword == "COPY" => root = self.source_root(value)?,
                "chown" => chown = numeric_owner(value)?,
                "chmod" => {
                    chmod = Some(u32::from_str_radix(value, 8).map_err(|_| {
                        ApiError::invalid_parameter(format!("invalid chmod: {value}"))
                    })?)
                }
                _ => {
                    return Err(refused(format!(
                        "berth's builder does not support {keyword} --{flag}"
                    )))
                }
            }
        }
        let words: Vec<String> = match &step.args {
            Args::Exec(v) => v.iter().map(|w| self.expanded(w)).collect(),
            Args::Shell(s) => s.split_whitespace().map(|w| self.expanded(w)).collect(),
        };
        let Some((dest, sources)) = words.split_last().filter(|(_, s)| !s.is_empty()) else {
            return Err(ApiError::invalid_parameter(format!(
                "{keyword} requires at least two arguments, but only one was provided. Destination could not be determined."
            )));
        };
        let mut paths = Vec::new();
        for source in sources {
            if source.contains("://") {
                return Err(refused(format!(
                    "berth's builder does not {keyword} remote URLs ({source}): download it with RUN"
                )));
            }
            if source.contains('[') {
                return Err(refused(format!(
                    "berth's builder does not expand [...] classes in {keyword} ({source}): use * or ?"
                )));
            }
            if source.contains(['*', '?']) {
                paths.extend(expand_sources(&root, source).map_err(oci_error)?);
            } else {
                paths.push(context_path(&root, source).map_err(oci_error)?);
            }
        }
        if paths.len() > 1 && !dest.ends_with('/') {
            return Err(ApiError::invalid_parameter(format!(
                "When using {keyword} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        // ADD extracts a local tar (plain or gzip) into the destination.
        let extract = keyword == "ADD" && paths.iter().any(|p| is_archive(p));
        if extract && (chown != (0, 0) || chmod.is_some()) {
            return Err(refused(
                "berth's builder does not apply --chown or --chmod to an extracted archive"
                    .to_owned(),
            ));
        }
        if extract && paths.len() > 1 {
            return Err(refused(
                "berth's builder extracts one archive per ADD: give the archive alone".to_owned(),
            ));
        }
        let dest = if dest.starts_with('/') {
            dest.clone()
        } else {
            let base = self.config.working_dir.trim_end_matches('/');
            format!("{base}/{dest}")
        };
        // A destination that is a directory in the image is copied into.
        let dest = match &self.image {
            Some(id) if !dest.ends_with('/') && !dest.ends_with("/.") => {
                let there = self
                    .backend
                    .oci
                    .images()
                    .rootfs(id)
                    .join(dest.trim_start_matches('/'));
                let is_dir = std::fs::symlink_metadata(&there).is_ok_and(|m| m.is_dir());
                if is_dir {
                    format!("{dest}/")
                } else {
                    dest
                }
            }
            _ => dest,
        };
        let layer_file = self
            .backend
            .oci
            .images()
            .scratch_dir("copy-")
            .map_err(oci_error)?;
        let layer_path = layer_file.path().join("layer.tar");
        let (tar_path, copy_dest) = (layer_path.clone(), dest.clone());
        let written = tokio::task::spawn_blocking(move || match paths.as_slice() {
            [archive] if extract => write_archive_layer(archive, &copy_dest, &tar_path),
            _ => write_copy_layer(&paths, &copy_dest, chown, chmod, &tar_path),
        })
        .await
        .map_err(|e| ApiError::internal(format!("copy task failed: {e}")))?
        .map_err(oci_error)?;
        let created_by = format!(
            "/bin/sh -c #(nop) {keyword} {} in {dest} ",
            written.checksum
        );
        if self.use_cache(&created_by)? {
            return Ok(());
        }
        self.stage_step(created_by, Some(layer_path)).await
    }

    /// `COPY --from=`: a finished stage (by name or index) or an image;
    /// its files, read in its rootfs.
    fn source_root(&self, from: &str) -> Result<std::path::PathBuf, ApiError> {
        let images = self.backend.oci.images();
        let id = match self.finished_stage(from) {
            Some(Some(id)) => id.clone(),
            Some(None) => {
                return Err(ApiError::invalid_parameter(format!(
                    "COPY --from={from}: the stage has no files (FROM scratch)"
                )))
            }
            None => images.resolve(from).map_err(oci_error)?,
        };
        Ok(images.rootfs(&id))
    }
}

/// `--chown=UID[:GID]`; names would need the image's `/etc/passwd`.
fn numeric_owner(value: &str) -> Result<(u64, u64), ApiError> {
    let (user, group) = value.split_once(':').unwrap_or((value, value));
    match (user.parse(), group.parse()) {
        (Ok(u), Ok(g)) => Ok((u, g)),
        _ => Err(refused(format!(
            "berth's builder takes numeric --chown only (uid[:gid]), not {value}"
        ))),
    }
}

/// A tar or gzip file, which `ADD` extracts.
fn is_archive(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 262];
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let n = file.read(&mut head).unwrap_or(0);
    (n >= 2 && head[..2] == [0x1f, 0x8b]) || (n >= 262 && &head[257..262] == b"ustar")
}
