//! `docker commit`, `docker history` (and `docker build`) end to end with
//! the real docker CLI on a real berthd in a sandbox host.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use berth_testkit::sandbox::Sandbox;

#[test]
fn commit_with_changes_runs_and_history_shows_the_layer() {
    let sb = Sandbox::with_busybox();
    sb.docker(&[
        "run",
        "-d",
        "--name",
        "src",
        "busybox",
        "sh",
        "-c",
        "echo made > /made.txt && rm /etc/group && sleep 1d",
    ])
    .ok();
    // The file is there before committing (the run is detached).
    for _ in 0..100 {
        if sb.docker(&["exec", "src", "cat", "/made.txt"]).status == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let id = sb
        .docker(&[
            "commit",
            "-c",
            "CMD [\"cat\", \"/made.txt\"]",
            "-c",
            "ENV COMMITTED=yes",
            "-m",
            "a test commit",
            "-a",
            "berth tests",
            "src",
            "made:v1",
        ])
        .ok();
    assert!(id.trim().starts_with("sha256:"), "{id}");
    // Paused during the commit, running again after.
    assert_eq!(sb.inspect("src")["State"]["Status"], "running");

    assert_eq!(sb.docker(&["run", "--rm", "made:v1"]).ok(), "made\n");
    let env = sb
        .docker(&["run", "--rm", "made:v1", "sh", "-c", "echo $COMMITTED"])
        .ok();
    assert_eq!(env, "yes\n");
    // The deletion is in the layer as a whiteout.
    let err = sb
        .docker(&["run", "--rm", "made:v1", "ls", "/etc/group"])
        .err();
    assert!(err.contains("No such file"), "{err}");
    let image = sb.inspect("made:v1");
    assert_eq!(image["Comment"], "a test commit");
    assert_eq!(image["Author"], "berth tests");
    assert_eq!(image["RootFS"]["Layers"].as_array().unwrap().len(), 2);

    let history = sb
        .docker(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.ID}}|{{.CreatedBy}}|{{.Comment}}",
            "made:v1",
        ])
        .ok();
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 2, "{history}");
    assert!(
        lines[0].starts_with(&format!("{}|sh -c echo made", id.trim())),
        "{history}"
    );
    assert!(lines[0].ends_with("|a test commit"), "{history}");
    let base = sb.inspect("busybox")["Id"].as_str().unwrap().to_owned();
    assert!(lines[1].starts_with(&base), "{history}");
    let sizes = sb
        .docker(&["history", "--format", "{{.Size}}", "made:v1"])
        .ok();
    assert!(sizes.lines().all(|s| s != "0B"), "{sizes}");

    let err = sb.docker(&["commit", "nosuch"]).err();
    assert!(err.contains("No such container: nosuch"), "{err}");
    let err = sb.docker(&["commit", "-c", "RUN true", "src"]).err();
    assert!(err.contains("run is not a valid change command"), "{err}");
    let err = sb.docker(&["history", "nosuch"]).err();
    assert!(err.contains("No such image: nosuch"), "{err}");
    sb.docker(&["rm", "-f", "src"]).ok();
}
