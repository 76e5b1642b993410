//! The wire's mount and volume fields (`HostConfig.Binds`, `Mounts`,
//! `Tmpfs`, `ReadonlyRootfs`, `VolumesFrom`, `Config.Volumes`) to and from
//! core's [`Storage`], and volumes to Docker's shape.

use std::collections::{BTreeMap, HashMap};

use berth_api::ApiError;
use berth_core::container::{Mount, MountKind, MountRequest, Storage};
use berth_core::volume::Volume;
use bollard_stubs::models::{
    ContainerConfig, ContainerCreateBody, HostConfig, Mount as WireMount, MountBindOptions,
    MountBindOptionsPropagationEnum, MountPoint, MountTmpfsOptions, MountType, MountVolumeOptions,
    MountVolumeOptionsDriverConfig, Volume as WireVolume, VolumeScopeEnum,
};

fn refused(what: &str) -> ApiError {
    ApiError::invalid_parameter(format!("berth does not support {what} yet"))
}

/// The `--mount` options berth does not apply, refused by name (the
/// field-by-field check of `fields.rs` judges `HostConfig.Mounts` whole).
pub fn check(host: &HostConfig) -> Result<(), ApiError> {
    for m in host.mounts.iter().flatten() {
        // `Consistency` is for Docker Desktop's file sharing: Docker on
        // Linux takes any value and does nothing with it, as berth.
        let WireMount {
            target: _,
            source: _,
            typ,
            read_only: _,
            consistency: _,
            bind_options,
            volume_options,
            image_options,
            tmpfs_options,
        } = m;
        match typ {
            None | Some(MountType::BIND | MountType::VOLUME | MountType::TMPFS) => {}
            Some(other) => return Err(refused(&format!("--mount type={other}"))),
        }
        if image_options.is_some() {
            return Err(refused("--mount image options"));
        }
        if let Some(MountBindOptions {
            propagation: _,
            non_recursive,
            create_mountpoint,
            read_only_non_recursive,
            read_only_force_recursive,
        }) = bind_options
        {
            for (set, name) in [
                (non_recursive, "bind-nonrecursive"),
                (create_mountpoint, "bind-create-src"),
                (read_only_non_recursive, "readonly=non-recursive"),
                (read_only_force_recursive, "readonly=recursive"),
            ] {
                if *set == Some(true) {
                    return Err(refused(&format!("--mount {name}")));
                }
            }
        }
        if volume_options
            .as_ref()
            .and_then(|v| v.subpath.as_deref())
            .is_some_and(|s| !s.is_empty())
        {
            return Err(refused("--mount volume-subpath"));
        }
        if tmpfs_options
            .as_ref()
            .and_then(|t| t.options.as_ref())
            .is_some_and(|o| !o.is_empty())
        {
            return Err(refused("--mount tmpfs-option"));
        }
    }
    Ok(())
}

fn sorted(map: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

fn mount_request(m: &WireMount) -> MountRequest {
    let kind = match m.typ {
        Some(MountType::VOLUME) => MountKind::Volume,
        Some(MountType::TMPFS) => MountKind::Tmpfs,
        _ => MountKind::Bind,
    };
    let volume = m.volume_options.as_ref();
    let driver = volume.and_then(|v| v.driver_config.as_ref());
    let tmpfs = m.tmpfs_options.as_ref();
    MountRequest {
        kind,
        source: m.source.clone().unwrap_or_default(),
        target: m.target.clone().unwrap_or_default(),
        read_only: m.read_only.unwrap_or(false),
        propagation: m
            .bind_options
            .as_ref()
            .and_then(|b| b.propagation)
            .map(|p| p.to_string())
            .unwrap_or_default(),
        no_copy: volume.and_then(|v| v.no_copy).unwrap_or(false),
        volume_labels: sorted(volume.and_then(|v| v.labels.as_ref())),
        volume_driver: driver.and_then(|d| d.name.clone()).unwrap_or_default(),
        volume_options: sorted(driver.and_then(|d| d.options.as_ref())),
        tmpfs_size: tmpfs.and_then(|t| t.size_bytes).unwrap_or(0),
        tmpfs_mode: tmpfs
            .and_then(|t| t.mode)
            .and_then(|m| u32::try_from(m).ok())
            .unwrap_or(0),
    }
}

/// What a create request asks for the container's filesystem.
pub fn requested(body: &ContainerCreateBody, host: &HostConfig) -> Storage {
    Storage {
        binds: host.binds.clone().unwrap_or_default(),
        mount_requests: host.mounts.iter().flatten().map(mount_request).collect(),
        tmpfs: sorted(host.tmpfs.as_ref()),
        readonly_rootfs: host.readonly_rootfs.unwrap_or(false),
        volumes_from: host.volumes_from.clone().unwrap_or_default(),
        volumes: body.volumes.clone().unwrap_or_default(),
        mounts: Vec::new(),
    }
}

fn wire_mount(m: &MountRequest) -> WireMount {
    let map = |m: &BTreeMap<String, String>| {
        (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    };
    let (typ, bind_options, volume_options, tmpfs_options) = match m.kind {
        MountKind::Bind => (
            MountType::BIND,
            (!m.propagation.is_empty()).then(|| MountBindOptions {
                propagation: m
                    .propagation
                    .parse::<MountBindOptionsPropagationEnum>()
                    .ok(),
                ..Default::default()
            }),
            None,
            None,
        ),
        MountKind::Volume => {
            let driver = (!m.volume_driver.is_empty() || !m.volume_options.is_empty()).then(|| {
                MountVolumeOptionsDriverConfig {
                    name: (!m.volume_driver.is_empty()).then(|| m.volume_driver.clone()),
                    options: map(&m.volume_options),
                }
            });
            let set = m.no_copy || !m.volume_labels.is_empty() || driver.is_some();
            (
                MountType::VOLUME,
                None,
                set.then(|| MountVolumeOptions {
                    no_copy: m.no_copy.then_some(true),
                    labels: map(&m.volume_labels),
                    driver_config: driver,
                    subpath: None,
                }),
                None,
            )
        }
        MountKind::Tmpfs => (
            MountType::TMPFS,
            None,
            None,
            (m.tmpfs_size != 0 || m.tmpfs_mode != 0).then(|| MountTmpfsOptions {
                size_bytes: (m.tmpfs_size != 0).then_some(m.tmpfs_size),
                mode: (m.tmpfs_mode != 0).then_some(i64::from(m.tmpfs_mode)),
                options: None,
            }),
        ),
    };
    WireMount {
        target: Some(m.target.clone()),
        source: Some(m.source.clone()),
        typ: Some(typ),
        read_only: m.read_only.then_some(true),
        consistency: None,
        bind_options,
        volume_options,
        image_options: None,
        tmpfs_options,
    }
}

/// The inspect fields that show what was asked (`HostConfig.Binds`,
/// `Mounts`, `Tmpfs`, `ReadonlyRootfs`, `VolumesFrom`, `Config.Volumes`),
/// `null` where nothing was, as Docker shows them.
pub fn show(storage: &Storage, host: &mut HostConfig, config: &mut ContainerConfig) {
    let some = |list: &Vec<String>| (!list.is_empty()).then(|| list.clone());
    host.binds = some(&storage.binds);
    host.mounts = (!storage.mount_requests.is_empty())
        .then(|| storage.mount_requests.iter().map(wire_mount).collect());
    host.tmpfs = (!storage.tmpfs.is_empty()).then(|| {
        storage
            .tmpfs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    host.readonly_rootfs = Some(storage.readonly_rootfs);
    host.volumes_from = some(&storage.volumes_from);
    config.volumes = some(&storage.volumes);
}

/// Inspect's `Mounts`: the container's binds, volumes and `--mount`
/// tmpfs (Docker lists `--tmpfs` ones only in `HostConfig.Tmpfs`).
pub fn mount_points(storage: &Storage) -> Vec<MountPoint> {
    storage
        .mounts
        .iter()
        .filter(|m| !(m.kind == MountKind::Tmpfs && storage.tmpfs.contains_key(&m.destination)))
        .map(mount_point)
        .collect()
}

fn mount_point(m: &Mount) -> MountPoint {
    let volume = m.kind == MountKind::Volume;
    MountPoint {
        typ: Some(m.kind.as_str().to_owned()),
        name: volume.then(|| m.name.clone()),
        source: Some(m.source.clone()),
        destination: Some(m.destination.clone()),
        driver: volume.then(|| berth_core::volume::LOCAL_DRIVER.to_owned()),
        mode: Some(m.mode.clone()),
        rw: Some(!m.read_only),
        propagation: Some(m.propagation.clone()),
    }
}

/// A volume as `GET /volumes/{name}` shows it.
pub fn volume_to_wire(v: &Volume) -> WireVolume {
    let map = |m: &BTreeMap<String, String>| -> HashMap<String, String> {
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    WireVolume {
        name: v.name.clone(),
        driver: v.driver.clone(),
        mountpoint: v.mountpoint.clone(),
        // Docker's volumes carry their time to the second.
        created_at: Some(humantime::format_rfc3339_seconds(v.created).to_string()),
        status: None,
        labels: map(&v.labels),
        scope: Some(VolumeScopeEnum::LOCAL),
        cluster_volume: None,
        options: map(&v.options),
        usage_data: None,
    }
}
