//! The real `dig` (Debian's dnsutils) against the resolver on 127.0.0.1:
//! proof that a standard client accepts what we send, UDP and TCP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

mod common;

use std::net::SocketAddr;

use berth_dns::{Config, Resolver, Upstreams};

use common::*;

/// `dig +short` output lines, or `None` when dig is not installed.
async fn dig(server: SocketAddr, args: &[&str]) -> Option<Vec<String>> {
    let port = server.port().to_string();
    let output = tokio::process::Command::new("dig")
        .args(["@127.0.0.1", "-p", &port, "+time=5", "+tries=1", "+short"])
        .args(args)
        .output()
        .await;
    let output = match output {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("running dig: {e}"),
    };
    assert!(output.status.success(), "dig {args:?} failed: {output:?}");
    Some(
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

/// The full `dig` output, to check status lines.
async fn dig_full(server: SocketAddr, args: &[&str]) -> String {
    let port = server.port().to_string();
    let output = tokio::process::Command::new("dig")
        .args(["@127.0.0.1", "-p", &port, "+time=5", "+tries=1"])
        .args(args)
        .output()
        .await
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn dig_resolves_berth_names_and_forwards_the_rest() {
    let upstream = FakeUpstream::start(Behaviour::Normal).await;
    let resolver = Resolver::new(lookup(), Config::default());
    let served = serve(
        &resolver,
        container(1),
        Upstreams::Host(vec![upstream.addr]),
    );

    let Some(a) = dig(served.udp, &["db", "A"]).await else {
        eprintln!(
            "\n\n!!!!!!!! `dig` NOT FOUND: the real-client DNS check did not run. \
             Install Debian's `dnsutils` (apt-get install dnsutils). !!!!!!!!\n\n"
        );
        return;
    };
    assert_eq!(a, vec!["172.18.0.2"]);

    assert_eq!(
        dig(served.udp, &["+tcp", "DB.", "AAAA"]).await.unwrap(),
        vec!["fd00::2"]
    );
    assert_eq!(
        dig(served.udp, &["+tcp", "example.test"]).await.unwrap(),
        vec![EXAMPLE_V4]
    );
    // About 2.5 kB: over UDP with dig's 1232-byte EDNS size it gets TC, and
    // dig asks again over TCP by itself.
    let big = dig(served.udp, &["big.example.test", "TXT"]).await.unwrap();
    assert_eq!(big.len(), BIG_RECORDS);

    assert_eq!(
        dig(served.udp, &["-x", "172.18.0.3"]).await.unwrap(),
        vec!["web."]
    );
    assert_eq!(
        dig(served.udp, &["example.test"]).await.unwrap(),
        vec![EXAMPLE_V4]
    );
    assert_eq!(
        dig(served.udp, &["+noedns", "example.test", "AAAA"])
            .await
            .unwrap(),
        vec!["2001:db8::10"]
    );

    let empty = dig_full(served.udp, &["web", "AAAA"]).await;
    assert!(empty.contains("status: NOERROR"), "{empty}");
    assert!(empty.contains("ANSWER: 0"), "{empty}");
    assert!(!empty.contains("WARNING"), "{empty}");
    let missing = dig_full(served.udp, &["nothing.example.test"]).await;
    assert!(missing.contains("status: NXDOMAIN"), "{missing}");
    let local = dig_full(served.udp, &["db"]).await;
    assert!(local.contains("flags: qr rd ra;"), "{local}");
    assert!(local.contains("db.\t\t\t600\tIN\tA\t172.18.0.2"), "{local}");
}
