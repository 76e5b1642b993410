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

    // dockerd's container event.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1;
    let events = sb
        .docker(&[
            "events",
            "--since",
            "0",
            "--until",
            &now.to_string(),
            "--filter",
            "event=commit",
            "--format",
            "{{.Actor.Attributes.name}} {{.Actor.Attributes.comment}}",
        ])
        .ok();
    assert_eq!(events, "src a test commit\n");

    // The base is a parent now: by id refused, as dockerd does.
    let err = sb.docker(&["rmi", &base]).err();
    assert!(err.contains("image has dependent child images"), "{err}");

    let err = sb.docker(&["commit", "nosuch"]).err();
    assert!(err.contains("No such container: nosuch"), "{err}");
    let err = sb.docker(&["commit", "-c", "RUN true", "src"]).err();
    assert!(err.contains("run is not a valid change command"), "{err}");
    let err = sb.docker(&["history", "nosuch"]).err();
    assert!(err.contains("No such image: nosuch"), "{err}");
    sb.docker(&["rm", "-f", "src"]).ok();
}

/// Writes a build context: `files` as (name, content).
fn context(sb: &Sandbox, name: &str, files: &[(&str, &str)]) -> String {
    let dir = sb.dir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, content) in files {
        std::fs::write(dir.join(file), content).unwrap();
    }
    dir.to_str().unwrap().to_owned()
}

fn cached_steps(output: &str) -> usize {
    output.matches(" ---> Using cache").count()
}

#[test]
fn build_runs_caches_and_follows_the_context() {
    let sb = Sandbox::with_busybox();
    let ctx = context(
        &sb,
        "app",
        &[
            (
                "Dockerfile",
                "# a comment\nFROM busybox\nARG GREETING=hello\nWORKDIR /app\nCOPY . .\nRUN echo \"$GREETING from $(cat msg.txt)\" \\\n    > out.txt\nCMD [\"cat\", \"/app/out.txt\"]\n",
            ),
            ("msg.txt", "one"),
            ("secret.txt", "do not send"),
            (".dockerignore", "secret.txt\n"),
        ],
    );
    let out = sb
        .docker(&["build", "-t", "app:v1", "-t", "app:also", &ctx])
        .ok();
    assert!(out.contains("Step 1/6 : FROM busybox"), "{out}");
    assert!(out.contains("Step 5/6 : RUN echo"), "{out}");
    assert!(out.contains("Successfully built "), "{out}");
    assert!(out.contains("Successfully tagged app:v1"), "{out}");
    assert!(out.contains("Successfully tagged app:also"), "{out}");
    assert_eq!(cached_steps(&out), 0, "{out}");
    assert_eq!(
        sb.docker(&["run", "--rm", "app:v1"]).ok(),
        "hello from one\n"
    );
    let files = sb.docker(&["run", "--rm", "app:v1", "ls", "/app"]).ok();
    assert!(
        files.contains("msg.txt") && !files.contains("secret.txt"),
        "{files}"
    );
    // No intermediate container is left; intermediate images show with -a.
    assert_eq!(sb.docker(&["ps", "-aq"]).ok(), "");
    let listed = sb.docker(&["images", "--format", "{{.Repository}}"]).ok();
    assert!(!listed.contains("<none>"), "{listed}");
    let all = sb.docker(&["images", "-a", "-q"]).ok();
    assert_eq!(all.lines().count(), 7, "{all}");

    // Unchanged: every step after FROM from the cache, the same image.
    let id = sb.inspect("app:v1")["Id"].clone();
    let again = sb.docker(&["build", "-t", "app:v1", &ctx]).ok();
    assert_eq!(cached_steps(&again), 5, "{again}");
    assert_eq!(sb.inspect("app:v1")["Id"], id);
    let history = sb
        .docker(&["history", "--format", "{{.CreatedBy}}", "app:v1"])
        .ok();
    assert_eq!(history.lines().count(), 6, "{history}");

    // A changed file: the cache holds up to the COPY.
    std::fs::write(format!("{ctx}/msg.txt"), "two").unwrap();
    let changed = sb.docker(&["build", "-q", "-t", "app:v2", &ctx]).ok();
    assert!(changed.trim().starts_with("sha256:"), "{changed}");
    let changed = sb.docker(&["build", "-t", "app:v2", &ctx]).ok();
    assert_eq!(cached_steps(&changed), 5, "{changed}");
    assert_eq!(
        sb.docker(&["run", "--rm", "app:v2"]).ok(),
        "hello from two\n"
    );
    std::fs::write(format!("{ctx}/msg.txt"), "three").unwrap();
    let changed = sb.docker(&["build", "-t", "app:v3", &ctx]).ok();
    assert_eq!(cached_steps(&changed), 2, "{changed}");

    // A build arg reaches RUN (and changes its cache key).
    let arg = sb
        .docker(&["build", "--build-arg", "GREETING=hi", "-t", "app:hi", &ctx])
        .ok();
    // ARG, WORKDIR and COPY from the cache; RUN's key names the arg.
    assert_eq!(cached_steps(&arg), 3, "{arg}");
    assert_eq!(
        sb.docker(&["run", "--rm", "app:hi"]).ok(),
        "hi from three\n"
    );
}

#[test]
fn a_failing_run_stops_the_build_and_run_has_the_network() {
    let sb = Sandbox::with_busybox();
    let ctx = context(&sb, "fails", &[("Dockerfile", "FROM busybox\nRUN false\n")]);
    let err = sb.docker(&["build", &ctx]).err();
    assert!(
        err.contains("The command '/bin/sh -c false' returned a non-zero code: 1"),
        "{err}"
    );
    assert_eq!(sb.docker(&["ps", "-aq"]).ok(), "");

    let bridge = sb
        .docker(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            "bridge",
        ])
        .ok();
    let ctx = context(
        &sb,
        "net",
        &[(
            "Dockerfile",
            "FROM busybox\nARG GW\nRUN ping -c 1 -W 5 $GW\n",
        )],
    );
    let out = sb
        .docker(&[
            "build",
            "--build-arg",
            &format!("GW={}", bridge.trim()),
            &ctx,
        ])
        .ok();
    assert!(out.contains("1 packets received"), "{out}");

    // ADD extracts a local archive; COPY copies it as it is.
    let ctx = context(
        &sb,
        "add",
        &[(
            "Dockerfile",
            "FROM busybox\nADD files.tar /opt/\nCOPY files.* d?r/* /copied/\nCMD [\"sh\", \"-c\", \"cat /opt/dir/f; ls /copied\"]\n",
        )],
    );
    std::fs::create_dir_all(format!("{ctx}/dir")).unwrap();
    std::fs::write(format!("{ctx}/dir/f"), "extracted\n").unwrap();
    let tar = std::process::Command::new("tar")
        .args(["-cf", "files.tar", "dir"])
        .current_dir(&ctx)
        .status();
    assert!(tar.unwrap().success());
    sb.docker(&["build", "-q", "-t", "added", &ctx]).ok();
    assert_eq!(
        sb.docker(&["run", "--rm", "added"]).ok(),
        "extracted\nf\nfiles.tar\n"
    );

    // A file copied to `.` lands in the WORKDIR; to a directory the
    // image has, into it.
    let ctx = context(
        &sb,
        "dot",
        &[
            ("one.txt", "one\n"),
            (
                "Dockerfile",
                "FROM busybox\nWORKDIR /w\nCOPY one.txt .\nCOPY one.txt /etc\nCMD [\"cat\", \"/w/one.txt\", \"/etc/one.txt\"]\n",
            ),
        ],
    );
    sb.docker(&["build", "-q", "-t", "dotted", &ctx]).ok();
    assert_eq!(sb.docker(&["run", "--rm", "dotted"]).ok(), "one\none\n");

    let ctx = context(&sb, "bad", &[("Dockerfile", "FROM busybox\nFOO bar\n")]);
    let err = sb.docker(&["build", &ctx]).err();
    assert!(err.contains("unknown instruction: foo"), "{err}");
    let err = sb.docker(&["build", "--memory", "64m", &ctx]).err();
    assert!(
        err.contains("does not support the build option memory="),
        "{err}"
    );
    let err = sb.docker(&["build", "-t", "Bad:Tag", &ctx]).err();
    assert!(err.contains("invalid reference format"), "{err}");
    let ctx = context(
        &sb,
        "url",
        &[("Dockerfile", "FROM busybox\nADD http://example.com/x /x\n")],
    );
    let err = sb.docker(&["build", &ctx]).err();
    assert!(err.contains("does not ADD remote URLs"), "{err}");
}

#[test]
fn multi_stage_copies_from_a_stage_and_target_stops_at_one() {
    let sb = Sandbox::with_busybox();
    let ctx = context(
        &sb,
        "stages",
        &[(
            "Dockerfile",
            "ARG BASE=busybox\nFROM $BASE AS builder\nRUN echo made in a stage > /artifact\nFROM busybox\nCOPY --from=builder /artifact /final\nCOPY --from=0 /artifact /again\nCMD [\"cat\", \"/final\", \"/again\"]\n",
        )],
    );
    sb.docker(&["build", "-t", "staged", &ctx]).ok();
    assert_eq!(
        sb.docker(&["run", "--rm", "staged"]).ok(),
        "made in a stage\nmade in a stage\n"
    );
    let err = sb
        .docker(&["run", "--rm", "staged", "ls", "/artifact"])
        .err();
    assert!(err.contains("No such file"), "{err}");
    sb.docker(&["build", "--target", "builder", "-t", "first", &ctx])
        .ok();
    assert_eq!(
        sb.docker(&["run", "--rm", "first", "cat", "/artifact"])
            .ok(),
        "made in a stage\n"
    );
    let err = sb.docker(&["build", "--target", "nope", &ctx]).err();
    assert!(
        err.contains("failed to reach build target nope in Dockerfile"),
        "{err}"
    );
}

#[test]
fn docker_compose_builds_a_service_and_runs_it() {
    let sb = Sandbox::with_busybox();
    let dir = sb.dir().join("proj");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM busybox\nENV WHO=compose\nRUN echo \"built by $WHO\" > /built\nCMD [\"cat\", \"/built\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("docker-compose.yml"),
        "version: '3'\nservices:\n  web:\n    build: .\n    image: proj-web:latest\n",
    )
    .unwrap();
    let compose = |args: &[&str]| {
        let out = std::process::Command::new("docker-compose")
            .args(["-p", "proj"])
            .args(args)
            .current_dir(&dir)
            .env("DOCKER_HOST", sb.host_arg())
            .output()
            .expect("docker-compose (Debian's docker-compose package)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "docker-compose {args:?}: {text}");
        text
    };
    let built = compose(&["build"]);
    assert!(
        built.contains("Successfully tagged proj-web:latest"),
        "{built}"
    );
    compose(&["up"]);
    let logs = sb.docker(&["logs", "proj_web_1"]).ok();
    assert_eq!(logs, "built by compose\n");
    compose(&["down"]);
}
