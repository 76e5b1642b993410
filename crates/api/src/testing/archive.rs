//! `cp`, `export` and `diff` in the stub: every container holds only an
//! empty root directory and has no changes.

use bollard_stubs::models::FilesystemChange;
use futures::stream;

use super::{lock, StubBackend};
use crate::{ApiError, ByteStream, ContainerPathStat, ExtractOptions, RequestBody};

impl StubBackend {
    pub(super) fn stub_stat_path(
        &self,
        id_or_name: &str,
        path: &str,
    ) -> Result<ContainerPathStat, ApiError> {
        let engine = lock(&self.engine);
        let c = engine.find(id_or_name)?;
        if path.trim_matches('/').is_empty() {
            return Ok(ContainerPathStat {
                name: "/".to_owned(),
                size: 4096,
                mode: (1 << 31) | 0o755,
                mtime: "2026-01-01T00:00:00Z".to_owned(),
                link_target: String::new(),
            });
        }
        Err(ApiError::not_found(format!(
            "Could not find the file {path} in container {}",
            c.name
        )))
    }

    pub(super) fn stub_archive(
        &self,
        id_or_name: &str,
        path: &str,
    ) -> Result<(ContainerPathStat, ByteStream), ApiError> {
        let stat = self.stub_stat_path(id_or_name, path)?;
        Ok((stat, Box::pin(stream::empty())))
    }

    pub(super) fn stub_extract(
        &self,
        id_or_name: &str,
        path: &str,
        _options: ExtractOptions,
        _tarball: RequestBody,
    ) -> Result<(), ApiError> {
        self.stub_stat_path(id_or_name, path).map(drop)
    }

    pub(super) fn stub_export(&self, id_or_name: &str) -> Result<ByteStream, ApiError> {
        lock(&self.engine).find(id_or_name)?;
        Ok(Box::pin(stream::empty()))
    }

    pub(super) fn stub_changes(&self, id_or_name: &str) -> Result<Vec<FilesystemChange>, ApiError> {
        lock(&self.engine).find(id_or_name)?;
        Ok(Vec::new())
    }
}
