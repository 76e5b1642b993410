use super::*;

fn err(result: Result<PlannedMount>) -> String {
    match result {
        Ok(m) => panic!("accepted: {m:?}"),
        Err(e) => e.to_string(),
    }
}

fn no_path(_: &str) -> bool {
    false
}

#[test]
fn a_bind_with_an_absolute_source() {
    let m = parse_bind("/srv/data/:/data:ro,Z").unwrap();
    assert_eq!(m.volume, None);
    assert_eq!(m.mount.kind, MountKind::Bind);
    assert_eq!(m.mount.source, "/srv/data");
    assert_eq!(m.mount.destination, "/data");
    assert!(m.mount.read_only);
    assert_eq!(m.mount.mode, "ro,Z");
    assert_eq!(m.mount.propagation, "rprivate");
    assert!(m.mount.create_source);

    let m = parse_bind("/a:/b:cached,z").unwrap();
    assert_eq!(
        m.mount.mode, "cached,z",
        "accepted, without effect, as by Docker on Linux"
    );
    let m = parse_bind("/a:/b:rslave").unwrap();
    assert!(!m.mount.read_only);
    assert_eq!(m.mount.propagation, "rslave");
}

#[test]
fn a_named_volume_without_a_slash() {
    assert_eq!(
        parse_bind("cache:/c").unwrap().mount.mode,
        "z",
        "moby's default"
    );
    let m = parse_bind("cache:/var/cache:nocopy").unwrap();
    assert_eq!(m.mount.mode, "nocopy");
    assert_eq!(m.mount.kind, MountKind::Volume);
    assert!(!m.mount.copy_up);
    let need = m.volume.unwrap();
    assert_eq!(need.name.as_deref(), Some("cache"));
    assert!(need.labels.is_empty());
}

#[test]
fn bad_binds_get_dockers_words() {
    assert_eq!(err(parse_bind("/a")), "invalid volume specification: '/a'");
    assert_eq!(
        err(parse_bind("/a:/b:c:d")),
        "invalid volume specification: '/a:/b:c:d'"
    );
    assert_eq!(err(parse_bind("/a:/b:xx")), "invalid mode: xx");
    assert_eq!(
        err(parse_bind("/a:/b:rro")),
        "berth does not support mount mode rro yet"
    );
    assert_eq!(err(parse_bind("/a:/b:ro,rw")), "invalid mode: ro,rw");
    assert_eq!(err(parse_bind("/a:/b:nocopy")), "invalid mode: nocopy");
    assert_eq!(err(parse_bind("v1:/b:rshared")), "invalid mode: rshared");
    assert_eq!(
        err(parse_bind("/a:rel")),
        "invalid volume specification: '/a:rel': invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"
    );
    assert!(err(parse_bind("/a:/")).contains("destination can't be '/'"));
    assert!(
        err(parse_bind("a/b:/x")).contains("includes invalid characters for a local volume name")
    );
    assert!(err(parse_bind("x:/x")).contains("volume name is too short"));
}

fn request(kind: MountKind, source: &str, target: &str) -> MountRequest {
    MountRequest {
        kind,
        source: source.to_owned(),
        target: target.to_owned(),
        read_only: false,
        propagation: String::new(),
        no_copy: false,
        volume_labels: BTreeMap::new(),
        volume_driver: String::new(),
        volume_options: BTreeMap::new(),
        tmpfs_size: 0,
        tmpfs_mode: 0,
    }
}

#[test]
fn mount_requests_are_checked_as_moby_does() {
    assert_eq!(
        err(parse_mount_request(
            &request(MountKind::Bind, "/x", "/y"),
            &no_path
        )),
        "invalid mount config for type \"bind\": bind source path does not exist: /x"
    );
    assert_eq!(
        err(parse_mount_request(
            &request(MountKind::Bind, "", "/y"),
            &no_path
        )),
        "invalid mount config for type \"bind\": field Source must not be empty"
    );
    assert_eq!(
        err(parse_mount_request(
            &request(MountKind::Tmpfs, "x", "/y"),
            &no_path
        )),
        "invalid mount config for type \"tmpfs\": field Source must not be specified"
    );
    assert_eq!(
        err(parse_mount_request(
            &request(MountKind::Volume, "v1", ""),
            &no_path
        )),
        "invalid mount config for type \"volume\": field Target must not be empty"
    );
    let mut tmpfs_on_bind = request(MountKind::Bind, "/x", "/y");
    tmpfs_on_bind.tmpfs_size = 1;
    assert!(err(parse_mount_request(&tmpfs_on_bind, &|_| true)).contains("TmpfsOptions"));

    let m = parse_mount_request(&request(MountKind::Bind, "/x", "/y"), &|_| true).unwrap();
    assert!(!m.mount.create_source, "--mount never makes its source");

    let anonymous = parse_mount_request(&request(MountKind::Volume, "", "/y"), &no_path).unwrap();
    let need = anonymous.volume.unwrap();
    assert_eq!(need.name, None);
    assert!(need.labels.contains_key(ANONYMOUS_VOLUME_LABEL));

    let mut tmpfs = request(MountKind::Tmpfs, "", "/t");
    tmpfs.tmpfs_size = 64 << 20;
    tmpfs.tmpfs_mode = 0o1770;
    tmpfs.read_only = true;
    let m = parse_mount_request(&tmpfs, &no_path).unwrap();
    assert_eq!(m.mount.tmpfs_options, "ro,mode=1770,size=64m");
}

#[test]
fn local_driver_options() {
    let opts = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>()
    };
    check_local_options(&opts(&[
        ("type", "tmpfs"),
        ("device", "tmpfs"),
        ("o", "size=1m"),
    ]))
    .unwrap();
    assert_eq!(
        check_local_options(&opts(&[("size", "1m")]))
            .unwrap_err()
            .to_string(),
        "invalid option: \"size\""
    );
    assert_eq!(
        check_local_options(&opts(&[("type", "tmpfs")]))
            .unwrap_err()
            .to_string(),
        "missing required option: \"device\""
    );
}

#[test]
fn precedence_and_duplicates() {
    let from_mount = Mount {
        kind: MountKind::Volume,
        source: "/v/shared/_data".to_owned(),
        destination: "/shared".to_owned(),
        name: "shared".to_owned(),
        read_only: false,
        mode: String::new(),
        propagation: String::new(),
        tmpfs_options: String::new(),
        copy_up: true,
        create_source: false,
    };
    let storage = Storage {
        binds: vec!["/h:/data".to_owned()],
        tmpfs: BTreeMap::from([("/run".to_owned(), "size=1m".to_owned())]),
        volumes: vec!["/data".to_owned(), "/cache/x".to_owned()],
        ..Storage::default()
    };
    let planned = plan_mounts(&storage, &[(vec![from_mount], true)], &no_path).unwrap();
    let dests: Vec<&str> = planned
        .iter()
        .map(|p| p.mount.destination.as_str())
        .collect();
    assert_eq!(dests, ["/data", "/run", "/shared", "/cache/x"]);
    assert_eq!(
        planned[0].mount.kind,
        MountKind::Bind,
        "a bind beats an anonymous volume"
    );
    assert!(planned[2].mount.read_only, "volumes-from's :ro applies");
    assert!(planned[3].volume.as_ref().unwrap().name.is_none());

    let twice = Storage {
        binds: vec!["/h:/data".to_owned()],
        tmpfs: BTreeMap::from([("/data".to_owned(), String::new())]),
        ..Storage::default()
    };
    assert_eq!(
        plan_mounts(&twice, &[], &no_path).unwrap_err().to_string(),
        "Duplicate mount point: /data"
    );
    let relative_tmpfs = Storage {
        tmpfs: BTreeMap::from([("run".to_owned(), String::new())]),
        ..Storage::default()
    };
    assert_eq!(
        plan_mounts(&relative_tmpfs, &[], &no_path)
            .unwrap_err()
            .to_string(),
        "invalid mount path: 'run' mount path must be absolute"
    );
}

#[test]
fn volumes_from_modes() {
    assert_eq!(parse_volumes_from("db").unwrap(), ("db", false));
    assert_eq!(parse_volumes_from("db:ro").unwrap(), ("db", true));
    assert_eq!(parse_volumes_from("db:rw,z").unwrap(), ("db", false));
    assert_eq!(
        parse_volumes_from("db:rshared").unwrap_err().to_string(),
        "invalid mode: rshared"
    );
    assert_eq!(
        parse_volumes_from("").unwrap_err().to_string(),
        "volumes-from specification cannot be an empty string"
    );
    assert_eq!(
        parse_volumes_from("db:xx").unwrap_err().to_string(),
        "invalid mode: xx"
    );
}
