use std::collections::BTreeSet;
use std::path::PathBuf;

use berth_api::ErrorKind;
use serde_json::{json, Value};

use super::*;

/// The API specification berth follows (a copy of Docker's, kept in the
/// repository so a clone anywhere can run this test), or where
/// `BERTH_API_SPEC` says.
fn spec_path() -> PathBuf {
    std::env::var_os("BERTH_API_SPEC").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/docker-api/v1.50.yaml"),
        PathBuf::from,
    )
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The lines of `definitions.<name>`.
fn definition<'a>(spec: &'a str, name: &str) -> Vec<&'a str> {
    let header = format!("  {name}:");
    let mut lines = spec.lines().skip_while(|l| *l != "definitions:");
    assert!(
        lines.any(|l| l == header),
        "no definition {name} in the spec"
    );
    lines
        .take_while(|l| l.trim().is_empty() || indent(l) > 2)
        .collect()
}

/// The property names of a definition, with those of the definitions it
/// takes in by `allOf`.
fn properties(spec: &str, name: &str) -> BTreeSet<String> {
    let block = definition(spec, name);
    let mut out = BTreeSet::new();
    for line in &block {
        if let Some(reference) = line.trim().strip_prefix("- $ref: \"#/definitions/") {
            out.extend(properties(spec, reference.trim_end_matches('"')));
        }
    }
    let (start, depth) = block
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == "properties:")
        .map(|(i, l)| (i, indent(l)))
        .min_by_key(|&(_, depth)| depth)
        .expect("a definition with properties");
    for line in &block[start + 1..] {
        if line.trim().is_empty() || line.trim().starts_with('#') {
            continue;
        }
        if indent(line) <= depth {
            break;
        }
        if indent(line) == depth + 2 {
            let key = line.trim().strip_suffix(':').expect("a property name");
            out.insert(key.to_owned());
        }
    }
    out
}

fn table() -> Vec<Field> {
    let mut fields = config_fields(&ContainerCreateBody::default());
    fields.extend(host_config_fields(&HostConfig::default()));
    fields.extend(endpoint_fields(&EndpointSettings::default()));
    fields
}

fn table_paths(prefix: &str) -> BTreeSet<String> {
    table()
        .iter()
        .filter_map(|f| match prefix {
            "" => (!f.path.contains('.')).then(|| f.path.to_owned()),
            _ => f.path.strip_prefix(prefix).map(str::to_owned),
        })
        .collect()
}

#[test]
fn every_field_of_the_spec_has_a_verdict() {
    let path = spec_path();
    let Ok(spec) = std::fs::read_to_string(&path) else {
        // The lists below are the vendored copy; the spec checks them
        // wherever it is present (always in CI, beside the repository).
        eprintln!("{} not found: spec comparison skipped", path.display());
        return;
    };
    assert_eq!(table_paths(""), properties(&spec, "ContainerConfig"));
    let host: BTreeSet<String> = table_paths("HostConfig.")
        .into_iter()
        .filter(|p| !p.contains('.'))
        .collect();
    assert_eq!(host, properties(&spec, "HostConfig"));
    let mut endpoint = properties(&spec, "EndpointSettings");
    endpoint.remove("IPAMConfig");
    endpoint.extend(
        properties(&spec, "EndpointIPAMConfig")
            .into_iter()
            .map(|p| format!("IPAMConfig.{p}")),
    );
    assert_eq!(table_paths("EndpointSettings."), endpoint);
}

/// A create body that sets `path` to something berth does not apply.
fn sample(path: &str) -> Value {
    let host =
        |field: &str, value: Value| json!({"Image": "busybox", "HostConfig": {field: value}});
    let endpoint = |field: &str, value: Value| json!({"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"n": {field: value}}}});
    let devices = json!([{"Path": "/dev/sda", "Rate": 1}]);
    match path {
        "Healthcheck" => json!({"Healthcheck": {"Test": ["CMD", "true"]}}),
        "ArgsEscaped" | "NetworkDisabled" => json!({path: true}),
        "Volumes" => json!({"Volumes": {"/data": {}}}),
        "OnBuild" => json!({"OnBuild": ["RUN true"]}),
        "StopSignal" => json!({"StopSignal": "SIGINT"}),
        "StopTimeout" => json!({"StopTimeout": 3}),
        "Shell" => json!({"Shell": ["/bin/bash", "-c"]}),
        "HostConfig.BlkioWeightDevice" => host(
            "BlkioWeightDevice",
            json!([{"Path": "/dev/sda", "Weight": 10}]),
        ),
        "HostConfig.BlkioDeviceReadBps"
        | "HostConfig.BlkioDeviceWriteBps"
        | "HostConfig.BlkioDeviceReadIOps"
        | "HostConfig.BlkioDeviceWriteIOps" => host(&path["HostConfig.".len()..], devices),
        "HostConfig.CgroupParent" => host("CgroupParent", json!("/mine")),
        "HostConfig.DeviceCgroupRules" => host("DeviceCgroupRules", json!(["c 1:3 mr"])),
        "HostConfig.DeviceRequests" => host("DeviceRequests", json!([{"Count": -1}])),
        "HostConfig.MemorySwappiness" => host("MemorySwappiness", json!(10)),
        "HostConfig.Init" | "HostConfig.Privileged" => {
            host(&path["HostConfig.".len()..], json!(true))
        }
        "HostConfig.ReadonlyRootfs" => host("ReadonlyRootfs", json!(true)),
        "HostConfig.Binds" => host("Binds", json!(["/x:/x"])),
        "HostConfig.LogConfig" => host("LogConfig", json!({"Type": "syslog"})),
        "HostConfig.LogConfig.Config" => host(
            "LogConfig",
            json!({"Type": "json-file", "Config": {"max-size": "1m"}}),
        ),
        "HostConfig.RestartPolicy" => host("RestartPolicy", json!({"Name": "always"})),
        "HostConfig.VolumeDriver" => host("VolumeDriver", json!("local")),
        "HostConfig.VolumesFrom" => host("VolumesFrom", json!(["other"])),
        "HostConfig.Mounts" => host("Mounts", json!([{"Type": "tmpfs", "Target": "/t"}])),
        "HostConfig.Annotations" => host("Annotations", json!({"a": "b"})),
        "HostConfig.CapAdd" => host("CapAdd", json!(["NET_ADMIN"])),
        "HostConfig.CapDrop" => host("CapDrop", json!(["NET_RAW"])),
        "HostConfig.CgroupnsMode" => host("CgroupnsMode", json!("private")),
        "HostConfig.GroupAdd" => host("GroupAdd", json!(["10"])),
        "HostConfig.IpcMode" => host("IpcMode", json!("host")),
        "HostConfig.Cgroup" => host("Cgroup", json!("container:x")),
        "HostConfig.Links" => host("Links", json!(["other:alias"])),
        "HostConfig.PidMode" => host("PidMode", json!("host")),
        "HostConfig.SecurityOpt" => host("SecurityOpt", json!(["no-new-privileges"])),
        "HostConfig.StorageOpt" => host("StorageOpt", json!({"size": "1G"})),
        "HostConfig.Tmpfs" => host("Tmpfs", json!({"/run": ""})),
        "HostConfig.UTSMode" => host("UTSMode", json!("host")),
        "HostConfig.UsernsMode" => host("UsernsMode", json!("private")),
        "HostConfig.Runtime" => host("Runtime", json!("crun")),
        "HostConfig.MaskedPaths" | "HostConfig.ReadonlyPaths" => {
            host(&path["HostConfig.".len()..], json!([]))
        }
        "EndpointSettings.IPAMConfig.LinkLocalIPs" => {
            endpoint("IPAMConfig", json!({"LinkLocalIPs": ["169.254.0.5"]}))
        }
        "EndpointSettings.Links" => endpoint("Links", json!(["other:alias"])),
        "EndpointSettings.DriverOpts" => endpoint("DriverOpts", json!({"a": "b"})),
        "EndpointSettings.GwPriority" => endpoint("GwPriority", json!(5)),
        // The numbers: any but 0.
        _ => match path.strip_prefix("HostConfig.") {
            Some(field) => host(field, json!(7)),
            None => panic!("no sample value for {path}"),
        },
    }
}

fn refused_in(body: &ContainerCreateBody) -> Vec<&'static str> {
    let mut fields = config_fields(body);
    fields.extend(host_config_fields(
        body.host_config.as_ref().unwrap_or(&HostConfig::default()),
    ));
    for endpoint in body
        .networking_config
        .iter()
        .flat_map(|n| n.endpoints_config.iter().flat_map(HashMap::values))
    {
        fields.extend(endpoint_fields(endpoint));
    }
    fields
        .into_iter()
        .filter(|f| matches!(f.verdict, Verdict::Refused { set: true, .. }))
        .map(|f| f.path)
        .collect()
}

#[test]
fn every_refused_field_is_refused_by_name_when_set() {
    let mut checked = 0;
    for field in table() {
        let Verdict::Refused { flag, .. } = field.verdict else {
            continue;
        };
        let mut body = sample(field.path);
        body["Image"] = json!("busybox");
        let body: ContainerCreateBody = serde_json::from_value(body.clone())
            .unwrap_or_else(|e| panic!("{}: {e}: {body}", field.path));
        assert_eq!(refused_in(&body), [field.path], "sets only its own field");
        let err = check_create(&body).expect_err(field.path);
        assert_eq!(err.kind, ErrorKind::InvalidParameter, "{}", field.path);
        assert!(err.message.contains(field.path), "{}", err.message);
        assert!(err.message.contains(flag), "{}", err.message);
        assert!(err.message.starts_with("berth does not support"));
        checked += 1;
    }
    assert!(checked > 20, "only {checked} refused fields");
}

#[test]
fn refusals_name_the_docker_flag() {
    let body: ContainerCreateBody =
        serde_json::from_value(json!({"HostConfig": {"CpuRealtimePeriod": 1000}})).unwrap();
    assert_eq!(
        check_create(&body).unwrap_err().message,
        "berth does not support --cpu-rt-period (HostConfig.CpuRealtimePeriod) yet"
    );
    let body: ContainerCreateBody = serde_json::from_value(json!({"Shell": ["sh"]})).unwrap();
    assert_eq!(
        check_create(&body).unwrap_err().message,
        "berth does not support Shell yet"
    );
}

/// What the docker CLI 28.2 sends (captured with a socket recorder) for
/// `docker run -d -p 8080:80 --rm busybox sleep 1`, with the terminal size
/// `-it` adds and the endpoint that `--network-alias`, `--ip` and
/// `--mac-address` make.
const DOCKER_CLI_RUN: &str = r#"{"AttachStderr": false, "AttachStdin": false, "AttachStdout": false, "Cmd": ["sleep", "1"], "Domainname": "", "Entrypoint": null, "Env": null, "ExposedPorts": {"80/tcp": {}}, "HostConfig": {"AutoRemove": true, "Binds": null, "BlkioDeviceReadBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteBps": [], "BlkioDeviceWriteIOps": [], "BlkioWeight": 0, "BlkioWeightDevice": [], "CapAdd": null, "CapDrop": null, "Cgroup": "", "CgroupParent": "", "CgroupnsMode": "", "ConsoleSize": [30, 100], "ContainerIDFile": "", "CpuCount": 0, "CpuPercent": 0, "CpuPeriod": 0, "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpuShares": 0, "CpusetCpus": "", "CpusetMems": "", "DeviceCgroupRules": null, "DeviceRequests": null, "Devices": [], "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": null, "GroupAdd": null, "IOMaximumBandwidth": 0, "IOMaximumIOps": 0, "IpcMode": "", "Isolation": "", "Links": null, "LogConfig": {"Config": {}, "Type": ""}, "MaskedPaths": null, "Memory": 0, "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": -1, "NanoCpus": 0, "NetworkMode": "default", "OomKillDisable": false, "OomScoreAdj": 0, "PidMode": "", "PidsLimit": 0, "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, "Privileged": false, "PublishAllPorts": false, "ReadonlyPaths": null, "ReadonlyRootfs": false, "RestartPolicy": {"MaximumRetryCount": 0, "Name": "no"}, "SecurityOpt": null, "ShmSize": 0, "UTSMode": "", "Ulimits": [], "UsernsMode": "", "VolumeDriver": "", "VolumesFrom": null}, "Hostname": "", "Image": "busybox", "Labels": {}, "NetworkingConfig": {"EndpointsConfig": {"default": {"Aliases": ["al"], "DNSNames": null, "DriverOpts": null, "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "GwPriority": 0, "IPAMConfig": {"IPv4Address": "10.1.0.5"}, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "Links": null, "MacAddress": "02:42:00:00:00:01", "NetworkID": ""}}}, "OnBuild": null, "OpenStdin": false, "StdinOnce": false, "Tty": false, "User": "", "Volumes": {}, "WorkingDir": ""}"#;

#[test]
fn what_the_docker_cli_sends_by_default_is_accepted() {
    let body: ContainerCreateBody = serde_json::from_str(DOCKER_CLI_RUN).unwrap();
    assert_eq!(refused_in(&body), Vec::<&str>::new());
    check_create(&body).unwrap();
    // And the defaults spelled out.
    let body: ContainerCreateBody = serde_json::from_value(json!({
        "Healthcheck": {"Test": ["NONE"]},
        "StopSignal": "SIGTERM",
        "StopTimeout": 10,
        "HostConfig": {
            "MemorySwap": -1, "ShmSize": 67108864, "CgroupnsMode": "host",
            "IpcMode": "private", "UsernsMode": "host", "Runtime": "runc",
            "LogConfig": {"Type": "json-file"}, "RestartPolicy": {"Name": ""}
        }
    }))
    .unwrap();
    assert_eq!(refused_in(&body), Vec::<&str>::new());
}
