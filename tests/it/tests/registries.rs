//! Registries that want more than a plain loopback pull: basic auth over
//! TLS from the client's credentials, `docker login` (POST /auth) checked
//! against a TLS + htpasswd registry whose CA is in berthd's `certs.d`,
//! insecure-registries for it without the CA, and `registry-mirrors`
//! serving Docker Hub names.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::fs;

use berth_testkit::sandbox::Sandbox;
use serde_json::json;

fn daemon() -> Sandbox {
    let mut sb = Sandbox::new();
    sb.start_daemon(&[]);
    sb
}

/// The docker CLI's config with `user:password` for the test registry: the
/// CLI sends it as X-Registry-Auth with each pull.
fn login(sb: &Sandbox, password: &str) {
    let dir = sb.dir().join("docker-config");
    fs::create_dir_all(&dir).unwrap();
    let auth = sb.sh(&format!("printf 'me:{password}' | base64 -w0")).ok();
    fs::write(
        dir.join("config.json"),
        json!({"auths": {"127.0.0.1:5000": {"auth": auth}}}).to_string(),
    )
    .unwrap();
}

#[test]
fn basic_auth_over_tls_from_the_clients_credentials() {
    let sb = daemon();
    let registry = sb.start_registry_with_auth();
    sb.push_motd_image(&registry, "busybox", "authenticated\n");

    let err = sb.docker(&["pull", "127.0.0.1:5000/busybox"]).err();
    assert!(
        err.contains("pull access denied for 127.0.0.1:5000/busybox"),
        "{err}"
    );
    login(&sb, "wrong");
    let err = sb.docker(&["pull", "127.0.0.1:5000/busybox"]).err();
    assert!(
        err.contains("pull access denied for 127.0.0.1:5000/busybox"),
        "{err}"
    );
    assert_eq!(sb.docker(&["images", "-q"]).ok(), "");

    login(&sb, "secret");
    sb.docker(&["pull", "127.0.0.1:5000/busybox"]).ok();
    assert_eq!(
        sb.docker(&["run", "--rm", "127.0.0.1:5000/busybox"]).ok(),
        "authenticated\n"
    );
    sb.docker(&["tag", "127.0.0.1:5000/busybox", "127.0.0.1:5000/mine:v1"])
        .ok();
    let out = sb.docker(&["push", "127.0.0.1:5000/mine:v1"]).ok();
    assert!(out.contains("v1: digest: sha256:"), "{out}");
}

#[test]
fn login_against_a_tls_registry_trusted_through_certs_d() {
    let mut sb = daemon();
    sb.sh("ip addr add 10.99.0.2/32 dev lo").ok();
    let registry = sb.start_registry_with_auth_at("10.99.0.2:5001");
    sb.push_motd_image(&registry, "busybox", "tls\n");
    let login =
        |password: &str| sb.docker(&["login", "-u", "me", "-p", password, "10.99.0.2:5001"]);

    // Neither trusted nor insecure: the certificate is refused.
    let err = login("secret").err();
    assert!(err.contains("Get \"https://10.99.0.2:5001/v2/\""), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // The CA in certs.d beside daemon.json, Docker's layout.
    let trusted = sb.dir().join("certs.d/10.99.0.2:5001");
    fs::create_dir_all(&trusted).unwrap();
    fs::copy(registry.ca(), trusted.join("ca.crt")).unwrap();
    let err = login("wrong").err();
    assert!(
        err.contains(
            "login attempt to https://10.99.0.2:5001/v2/ failed with status: 401 Unauthorized"
        ),
        "{err}"
    );
    let err = sb.docker(&["pull", "10.99.0.2:5001/busybox"]).err();
    assert!(
        err.contains("pull access denied for 10.99.0.2:5001/busybox"),
        "{err}"
    );
    // The daemon's answer itself, as any client gets it.
    let (status, body) = sb.http(
        "POST",
        "/v1.50/auth",
        Some(r#"{"username":"me","password":"wrong","serveraddress":"10.99.0.2:5001"}"#),
    );
    assert_eq!(status, 401, "{body}");
    let (status, body) = sb.http(
        "POST",
        "/v1.50/auth",
        Some(r#"{"username":"me","password":"secret","serveraddress":"10.99.0.2:5001"}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""Status":"Login Succeeded""#), "{body}");
    assert!(login("secret").ok().contains("Login Succeeded"));

    // The CLI sends the stored login with each pull and push.
    sb.docker(&["pull", "10.99.0.2:5001/busybox"]).ok();
    assert_eq!(
        sb.docker(&["run", "--rm", "10.99.0.2:5001/busybox"]).ok(),
        "tls\n"
    );
    sb.docker(&["tag", "10.99.0.2:5001/busybox", "10.99.0.2:5001/mine:v1"])
        .ok();
    let out = sb.docker(&["push", "10.99.0.2:5001/mine:v1"]).ok();
    assert!(out.contains("v1: digest: sha256:"), "{out}");

    // Without the CA, an insecure-registries entry takes the certificate
    // unverified.
    sb.docker(&["rmi", "10.99.0.2:5001/busybox", "10.99.0.2:5001/mine:v1"])
        .ok();
    fs::remove_dir_all(sb.dir().join("certs.d")).unwrap();
    sb.stop_daemon();
    sb.write_daemon_json(r#"{"insecure-registries": ["10.99.0.2:5001"]}"#);
    sb.restart_daemon();
    sb.docker(&["pull", "10.99.0.2:5001/mine:v1"]).ok();
    assert_eq!(
        sb.docker(&["run", "--rm", "10.99.0.2:5001/mine:v1"]).ok(),
        "tls\n"
    );
}

#[test]
fn docker_hub_images_come_from_a_registry_mirror() {
    let mut sb = Sandbox::new();
    let registry = sb.start_registry();
    let id = sb.push_motd_image(&registry, "library/busybox", "mirrored\n");
    sb.write_daemon_json(r#"{"registry-mirrors": ["http://127.0.0.1:5000"]}"#);
    sb.start_daemon(&[]);

    let out = sb.docker(&["pull", "busybox"]).ok();
    assert!(
        out.contains("latest: Pulling from library/busybox"),
        "{out}"
    );
    let image = sb.inspect("busybox");
    assert_eq!(image["Id"], id);
    assert_eq!(image["RepoTags"], json!(["busybox:latest"]));
    assert!(
        image["RepoDigests"][0]
            .as_str()
            .unwrap()
            .starts_with("busybox@sha256:"),
        "{image}"
    );
    assert_eq!(sb.docker(&["run", "--rm", "busybox"]).ok(), "mirrored\n");

    // Not on the mirror: the origin is asked next (and cannot be reached
    // from the sandbox).
    let err = sb.docker(&["pull", "alpine"]).err();
    assert!(err.contains("docker.io/v2/"), "{err}");
}
