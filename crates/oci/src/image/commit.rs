//! New images on top of existing ones: `docker commit` (a container's
//! changes over its image as one more layer) and the builder's steps (a
//! layer of files, or none for a metadata-only step). The layer is written
//! as Docker's layer tar (deletions as `.wh.NAME`, an opaque directory as
//! `.wh..wh..opq`), kept in the blob store like a pulled one, and applied
//! onto a hard-linked copy of the parent's rootfs; the config is the parent's with the
//! new config, one more history entry, one more diff id and a `parent`
//! link (what the build cache follows).

use std::fs;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::config::{go_arch, History, ImageConfig, ImageDocument, RootFs};
use super::unpack::{apply_layer, hex};
use super::{ImageId, ImageStore, RepoTag, Staged};
use crate::archive::{changes, ChangeKind};
use crate::error::{Error, Result};
use crate::fsutil::link_tree;
use crate::time::format_rfc3339_nano;

/// Where a child image's new layer comes from.
pub enum NewLayer<'a> {
    /// A container's overlay upper directory over the parent's rootfs;
    /// `skip` lists the paths runc makes as mount points.
    Changes {
        upper: &'a Path,
        skip: &'a [&'a str],
    },
    /// A layer tar already written (the builder's `COPY`); it moves into
    /// the blob store.
    Tar(&'a Path),
    /// A metadata-only step: an empty-layer history entry.
    Empty,
}

/// What the new image records besides its layer.
#[derive(Debug, Clone, Default)]
pub struct ChildImage {
    /// The whole runnable config of the new image.
    pub config: ImageConfig,
    pub author: String,
    pub comment: String,
    /// The history's `created_by` (`/bin/sh -c #(nop) CMD ["sh"]`).
    pub created_by: String,
    pub tag: Option<RepoTag>,
}

impl ImageStore {
    /// Stages an image made of `parent` (none: `FROM scratch`) and `layer`,
    /// unlisted until [`ImageStore::record`].
    pub fn stage_child(
        &self,
        parent: Option<&ImageId>,
        layer: NewLayer<'_>,
        child: ChildImage,
    ) -> Result<Staged> {
        let (mut doc, parent_size, parent_manifest) = match parent {
            Some(id) => {
                let image = self.inspect(id.hex())?;
                let dir = self.dir.join(id.hex());
                let path = dir.join("config.json");
                let bytes = fs::read(&path).map_err(Error::io("read", &path))?;
                let doc: ImageDocument =
                    serde_json::from_slice(&bytes).map_err(|e| Error::CorruptStore {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                let manifest = self.pushable(id)?.map(|(_, m)| m);
                (doc, image.size, manifest)
            }
            None => (scratch(), 0, None),
        };
        let (tmp, rootfs) = self.stage_dir("commit-")?;
        let layer_file = tmp.path().join("layer.tar");
        let layer_path = match layer {
            NewLayer::Changes { upper, skip } => {
                // Against the container's own lowerdir.
                let lower = parent.map_or_else(|| rootfs.clone(), |id| self.rootfs(id));
                write_changes_layer(upper, &lower, skip, &layer_file)?;
                Some(layer_file.as_path())
            }
            NewLayer::Tar(path) => Some(path),
            NewLayer::Empty => None,
        };
        if let Some(id) = parent {
            link_tree(&self.rootfs(id), &rootfs)?;
        }
        let mut size = parent_size;
        let mut descriptor = None;
        // The new blob is named by no manifest until the image directory
        // is in place: keep the sweep off it till then.
        let mut pin = self.pin_blobs([]);
        if let Some(path) = layer_path {
            let file = fs::File::open(path).map_err(Error::io("open", path))?;
            let unpacked = apply_layer(BufReader::new(file), &rootfs)?;
            size += unpacked.size;
            doc.rootfs.diff_ids.push(unpacked.diff_id);
            descriptor = Some(self.keep_blob(path, &mut pin)?);
        }
        let created = format_rfc3339_nano(SystemTime::now());
        doc.history.push(History {
            created: created.clone(),
            author: child.author.clone(),
            created_by: child.created_by,
            comment: child.comment.clone(),
            empty_layer: descriptor.is_none(),
        });
        doc.config = child.config;
        doc.created = created;
        doc.comment = child.comment;
        doc.author = child.author;
        doc.parent = parent.map(ToString::to_string).unwrap_or_default();
        let bytes = serde_json::to_vec(&doc).map_err(|e| Error::Archive(e.to_string()))?;
        let hex = hex(&Sha256::digest(&bytes));
        let config_path = tmp.path().join("config.json");
        fs::write(&config_path, &bytes).map_err(Error::io("write", &config_path))?;
        // A manifest when every layer is a blob here (what save and push
        // need); an imported parent's files are not.
        let manifest = match (parent, parent_manifest) {
            (None, _) => Some(serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "layers": [],
            })),
            (Some(_), Some(m)) => Some(
                serde_json::from_slice::<serde_json::Value>(&m)
                    .map_err(|e| Error::Archive(format!("stored manifest: {e}")))?,
            ),
            (Some(_), None) => None,
        };
        if let Some(mut manifest) = manifest {
            manifest["config"] = serde_json::json!({
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": bytes.len(),
                "digest": format!("sha256:{hex}"),
            });
            if let (Some(d), Some(layers)) = (descriptor, manifest["layers"].as_array_mut()) {
                layers.push(d);
            }
            let path = tmp.path().join(super::layered::MANIFEST);
            let out = serde_json::to_vec(&manifest).map_err(|e| Error::Archive(e.to_string()))?;
            fs::write(&path, out).map_err(Error::io("write", &path))?;
        }
        // A layer the blob store had already is left behind by keep_blob.
        if layer_file.exists() {
            fs::remove_file(&layer_file).map_err(Error::io("remove", &layer_file))?;
        }
        self.place_image_dir(tmp, &hex)?;
        Ok(Staged {
            id: ImageId::from_hex(hex),
            size,
            tag: child.tag,
            repo_digest: None,
        })
    }
}

impl ImageStore {
    /// The build cache: a listed image made on `parent` by the step
    /// `created_by` (whose text carries a `COPY`'s content checksum) with
    /// `config`, as the classic builder's cache finds one.
    pub fn find_child(
        &self,
        parent: Option<&ImageId>,
        created_by: &str,
        config: &ImageConfig,
    ) -> Result<Option<ImageId>> {
        let parent = parent.map(ToString::to_string).unwrap_or_default();
        let hexes: Vec<String> = self.lock().images.keys().cloned().collect();
        for hex in hexes {
            let id = ImageId::from_hex(hex);
            let Ok(doc) = self.document(&id) else {
                continue;
            };
            if doc.parent == parent
                && doc.config == *config
                && doc
                    .history
                    .last()
                    .is_some_and(|h| h.created_by == created_by)
            {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }
}

fn scratch() -> ImageDocument {
    ImageDocument {
        architecture: go_arch().to_owned(),
        comment: String::new(),
        config: ImageConfig::default(),
        created: String::new(),
        author: String::new(),
        history: Vec::new(),
        os: "linux".to_owned(),
        parent: String::new(),
        rootfs: RootFs {
            kind: "layers".to_owned(),
            diff_ids: Vec::new(),
        },
    }
}

/// The changes `upper` makes over `lower` as a layer tar at `out`.
fn write_changes_layer(upper: &Path, lower: &Path, skip: &[&str], out: &Path) -> Result<()> {
    let found = changes(upper, lower, skip).map_err(|e| Error::Archive(e.to_string()))?;
    let file = fs::File::create(out).map_err(Error::io("create", out))?;
    let mut tar = tar::Builder::new(BufWriter::new(file));
    tar.follow_symlinks(false);
    let io_err = |e: std::io::Error| Error::Archive(format!("write layer {}: {e}", out.display()));
    for change in found {
        let rel = change.path.trim_start_matches('/');
        let host = upper.join(rel);
        let is_dir = fs::symlink_metadata(&host).is_ok_and(|m| m.is_dir());
        match change.kind {
            ChangeKind::Deleted if is_dir => {
                // An opaque directory: itself, and the marker hiding what
                // the layers below put in it.
                tar.append_path_with_name(&host, rel).map_err(io_err)?;
                append_marker(&mut tar, &format!("{rel}/.wh..wh..opq")).map_err(io_err)?;
            }
            ChangeKind::Deleted => {
                let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
                let marker = if dir.is_empty() {
                    format!(".wh.{name}")
                } else {
                    format!("{dir}/.wh.{name}")
                };
                append_marker(&mut tar, &marker).map_err(io_err)?;
            }
            ChangeKind::Added | ChangeKind::Modified => {
                tar.append_path_with_name(&host, rel).map_err(io_err)?;
            }
        }
    }
    let mut writer = tar.into_inner().map_err(io_err)?;
    writer.flush().map_err(io_err)
}

/// An empty regular file: a whiteout or the opaque marker.
fn append_marker<W: Write>(tar: &mut tar::Builder<W>, name: &str) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o600);
    header.set_size(0);
    header.set_mtime(0);
    tar.append_data(&mut header, name, std::io::empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::tests::tarball;
    use crate::image::{ImportOptions, ImportSource};

    #[test]
    fn children_add_layers_history_and_parent_links() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path().join("images")).unwrap();
        let data = tarball(&[("etc/motd", b"hi"), ("bin/sh", b"#!")]);
        let base = store
            .import(ImportSource::Tar(&mut &data[..]), &ImportOptions::default())
            .unwrap();
        // A container's upper directory: one file changed, one added.
        let upper = dir.path().join("upper");
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/motd"), b"changed").unwrap();
        fs::write(upper.join("new"), b"12345").unwrap();
        fs::write(upper.join(".dockerenv"), b"").unwrap();
        let child = ChildImage {
            config: ImageConfig {
                cmd: Some(vec!["cat".into(), "/new".into()]),
                ..ImageConfig::default()
            },
            created_by: "sh -c echo".into(),
            comment: "made".into(),
            tag: Some(RepoTag::parse("made:v1").unwrap()),
            ..ChildImage::default()
        };
        let layer = NewLayer::Changes {
            upper: &upper,
            skip: &["/.dockerenv"],
        };
        let staged = store.stage_child(Some(&base.id), layer, child).unwrap();
        let made = store.record(&staged).unwrap();
        assert_eq!(made.layers.len(), 2);
        assert_eq!(
            made.config.cmd.as_deref(),
            Some(&["cat".into(), "/new".into()][..])
        );
        assert_eq!(fs::read(made.rootfs.join("etc/motd")).unwrap(), b"changed");
        assert_eq!(fs::read(made.rootfs.join("bin/sh")).unwrap(), b"#!");
        assert!(!made.rootfs.join(".dockerenv").exists());
        // The base is untouched.
        assert_eq!(fs::read(base.rootfs.join("etc/motd")).unwrap(), b"hi");

        // A metadata-only step on top.
        let meta = ChildImage {
            created_by: "/bin/sh -c #(nop)  ENV A=1".into(),
            ..ChildImage::default()
        };
        let staged = store
            .stage_child(Some(&made.id), NewLayer::Empty, meta)
            .unwrap();
        let top = store.record(&staged).unwrap();
        assert_eq!(top.layers, made.layers);

        let history = store.history(top.id.hex()).unwrap();
        let lines: Vec<_> = history
            .iter()
            .map(|h| (h.id.clone(), h.created_by.as_str(), h.size, h.tags.clone()))
            .collect();
        assert_eq!(
            lines,
            [
                (
                    Some(top.id.clone()),
                    "/bin/sh -c #(nop)  ENV A=1",
                    0,
                    vec![]
                ),
                (
                    Some(made.id.clone()),
                    "sh -c echo",
                    12,
                    vec!["made:v1".to_owned()]
                ),
                (Some(base.id.clone()), "", 4, vec![]),
            ]
        );
        assert_eq!(history[1].comment, "made");

        // A parent stays while a child does: by id refused, by its last
        // name only untagged.
        let err = store.plan_remove(made.id.hex(), true).unwrap_err();
        assert!(
            err.to_string().contains("image has dependent child images"),
            "{err}"
        );
        let plan = store.plan_remove("made:v1", false).unwrap();
        assert!(!plan.delete);

        // The cache finds a child by parent, step and config only.
        let key = "/bin/sh -c #(nop)  ENV A=1";
        let found = store.find_child(Some(&made.id), key, &ImageConfig::default());
        assert_eq!(found.unwrap(), Some(top.id.clone()));
        assert_eq!(
            store
                .find_child(Some(&base.id), key, &ImageConfig::default())
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .find_child(Some(&made.id), "other", &ImageConfig::default())
                .unwrap(),
            None
        );
        let other = ImageConfig {
            user: "x".into(),
            ..ImageConfig::default()
        };
        assert_eq!(store.find_child(Some(&made.id), key, &other).unwrap(), None);
    }

    #[test]
    fn a_scratch_child_is_its_layer_and_can_be_saved() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path().join("images")).unwrap();
        let layer = dir.path().join("layer.tar");
        fs::write(&layer, tarball(&[("hello", b"world")])).unwrap();
        let staged = store
            .stage_child(None, NewLayer::Tar(&layer), ChildImage::default())
            .unwrap();
        let image = store.record(&staged).unwrap();
        assert_eq!((image.size, image.layers.len()), (5, 1));
        assert_eq!(fs::read(image.rootfs.join("hello")).unwrap(), b"world");
        assert!(store.plan_save(&[image.id.to_string()]).is_ok());
        assert_eq!(store.history(image.id.hex()).unwrap()[0].size, 5);
    }
}
