//! `top`: the host's `ps` with the client's arguments, narrowed to the
//! container's processes, as dockerd does (moby `daemon/top_unix.go`).

use std::process::Command;

use berth_api::ApiError;
use bollard_stubs::models::ContainerTopResponse;

/// Runs `ps ARGS -q PIDS` (or, for options `-q` does not go with, `ps
/// ARGS`) on a blocking thread and keeps the container's rows.
pub async fn container_top(
    ps_args: String,
    pids: Vec<u32>,
) -> Result<ContainerTopResponse, ApiError> {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = ps_args.split(' ').collect();
        let only = format!(
            "-q{}",
            pids.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        );
        let narrowed = Command::new("ps").args(&args).arg(&only).output();
        let output = match narrowed {
            Ok(out) if out.status.success() => out,
            _ => {
                let out = Command::new("ps")
                    .args(&args)
                    .output()
                    .map_err(|e| ApiError::internal(format!("ps: {e}")))?;
                if !out.status.success() {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    let why = stderr.lines().next().unwrap_or("ps failed");
                    return Err(ApiError::internal(format!("ps: {why}")));
                }
                out
            }
        };
        parse_ps(&String::from_utf8_lossy(&output.stdout), &pids)
    })
    .await
    .map_err(|e| ApiError::internal(format!("ps: {e}")))?
}

/// moby's `parsePSOutput`: the titles from the first line, then the rows
/// whose PID is the container's (and the thread rows, PID `-`, under
/// them); a row's extra fields join its last column.
fn parse_ps(output: &str, pids: &[u32]) -> Result<ContainerTopResponse, ApiError> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let pid_index = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| ApiError::internal("Couldn't find PID field in ps output"))?;
    let mut processes = Vec::new();
    let mut under_ours = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_index) else {
            continue;
        };
        if *pid == "-" {
            if under_ours {
                processes.push(row(&fields, titles.len()));
            }
            continue;
        }
        let pid: u32 = pid
            .parse()
            .map_err(|e| ApiError::internal(format!("Unexpected pid '{pid}': {e}")))?;
        under_ours = pids.contains(&pid);
        if under_ours {
            processes.push(row(&fields, titles.len()));
        }
    }
    Ok(ContainerTopResponse {
        titles: Some(titles),
        processes: Some(processes),
    })
}

fn row(fields: &[&str], columns: usize) -> Vec<String> {
    let split = columns.saturating_sub(1).min(fields.len());
    let mut row: Vec<String> = fields[..split].iter().map(|f| (*f).to_owned()).collect();
    row.push(fields[split..].join(" "));
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_of_the_containers_pids_with_the_command_joined() {
        let out = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                   root           1       0  0 10:00 ?        00:00:01 /sbin/init\n\
                   root        4242    4200  0 10:01 ?        00:00:00 sleep 1d\n\
                   root        4243    4242  0 10:01 ?        00:00:00 sh -c echo hi\n";
        let top = parse_ps(out, &[4242, 4243]).unwrap();
        assert_eq!(top.titles.unwrap().len(), 8);
        let rows = top.processes.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][1], "4242");
        assert_eq!(rows[0][7], "sleep 1d");
        assert_eq!(rows[1][7], "sh -c echo hi");
    }

    #[test]
    fn thread_rows_follow_their_process_and_no_pid_column_is_an_error() {
        let out = "PID TTY STAT TIME COMMAND\n7 ? Ss 0:00 sleep\n- - Ssl 0:00 -\n9 ? S 0:00 other\n- - S 0:00 -\n";
        let rows = parse_ps(out, &[7]).unwrap().processes.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1][0], "-");
        let err = parse_ps("USER COMMAND\nroot x\n", &[7]).unwrap_err();
        assert!(err.message.contains("Couldn't find PID field"));
    }
}
