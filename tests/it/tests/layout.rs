//! The layering rules of DESIGN.md ("Layout"), checked from `cargo metadata`:
//! imports point down only, and only berthd names the concrete adapters.
//! Runs without root; a new dependency that breaks a rule fails CI here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Crates that reach the OS: never in the pure crates.
const OS_CRATES: &[&str] = &[
    "nix",
    "libc",
    "rtnetlink",
    "netlink-packet-route",
    "netlink-packet-core",
    "netlink-sys",
    "rusqlite",
    "hyper",
    "hyper-util",
    "bollard",
    "bollard-stubs",
];

/// Each workspace crate with the berth crates it may depend on (normal
/// dependencies; dev-dependencies are the tests' business).
fn allowed_berth_deps() -> BTreeMap<&'static str, &'static [&'static str]> {
    const PURE_BELOW: &[&str] = &["berth-core", "berth-types", "berth-ipam"];
    BTreeMap::from([
        ("berth-types", &[][..]),
        ("berth-ipam", &[][..]),
        ("berth-core", &["berth-types", "berth-ipam"][..]),
        // Adapters: core's ports and the pure crates, never each other.
        ("berth-netlink", PURE_BELOW),
        ("berth-nft", PURE_BELOW),
        ("berth-dns", PURE_BELOW),
        ("berth-store", PURE_BELOW),
        ("berth-oci", PURE_BELOW),
        ("berth-cluster", PURE_BELOW),
        // The API knows the wire, not the model.
        ("berth-api", &["berth-types"][..]),
        // The sandbox-host harness drives everything through processes,
        // the kernel and the socket.
        ("berth-sandbox", &[][..]),
        (
            "berth-testkit",
            &["berth-core", "berth-types", "berth-ipam", "berth-sandbox"][..],
        ),
        // The composition root names everything.
        (
            "berthd",
            &[
                "berth-types",
                "berth-ipam",
                "berth-core",
                "berth-netlink",
                "berth-nft",
                "berth-dns",
                "berth-store",
                "berth-oci",
                "berth-api",
                "berth-cluster",
            ][..],
        ),
        // The CLI is a client of the API; it shares only validated values
        // (image references) with the daemon.
        ("berth", &["berth-types"][..]),
        // The shim is the OCI adapter's other half.
        ("berth-shim", &["berth-oci"][..]),
        // The benchmark drives binaries through their socket.
        ("berth-bench", &["berth-sandbox"][..]),
        ("berth-it", &[][..]),
    ])
}

fn metadata() -> Value {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(&workspace)
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

/// Every workspace package with its normal (non-dev, non-build) dependencies.
fn normal_deps(meta: &Value) -> BTreeMap<String, BTreeSet<String>> {
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

#[test]
fn imports_point_down_only() {
    let deps = normal_deps(&metadata());
    let allowed = allowed_berth_deps();
    let mut broken = Vec::new();
    for (package, used) in &deps {
        let Some(may) = allowed.get(package.as_str()) else {
            broken.push(format!(
                "{package}: a new workspace crate; give it its place in this test and DESIGN.md"
            ));
            continue;
        };
        for dep in used.iter().filter(|d| d.starts_with("berth")) {
            if !may.contains(&dep.as_str()) {
                broken.push(format!("{package} depends on {dep}"));
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

#[test]
fn pure_crates_do_not_reach_the_os() {
    let deps = normal_deps(&metadata());
    for package in ["berth-types", "berth-ipam", "berth-core"] {
        let os: Vec<&String> = deps[package]
            .iter()
            .filter(|d| OS_CRATES.contains(&d.as_str()) || d.starts_with("netlink-"))
            .collect();
        assert!(os.is_empty(), "{package} depends on {os:?}");
    }
}

#[test]
fn pure_crates_and_the_api_forbid_unsafe() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for krate in ["types", "ipam", "core", "api"] {
        let lib = root.join("crates").join(krate).join("src/lib.rs");
        let text = std::fs::read_to_string(&lib).unwrap();
        assert!(
            text.lines().any(|l| l.trim() == "#![forbid(unsafe_code)]"),
            "{} lacks #![forbid(unsafe_code)]",
            lib.display()
        );
    }
}
