use super::*;

const NESTED: u16 = 0x8000;

fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(align4(out.len()), 0);
    out
}

fn tuple(src: IpAddr, dst: IpAddr, proto: u8, dport: u16) -> Vec<u8> {
    let addr = |kind4, kind6, ip: IpAddr| match ip {
        IpAddr::V4(v4) => attr(kind4, &v4.octets()),
        IpAddr::V6(v6) => attr(kind6, &v6.octets()),
    };
    let mut ip = addr(CTA_IP_V4_SRC, CTA_IP_V6_SRC, src);
    ip.extend(addr(CTA_IP_V4_DST, CTA_IP_V6_DST, dst));
    let mut l4 = attr(CTA_PROTO_NUM, &[proto]);
    l4.extend(attr(2, &1234u16.to_be_bytes()));
    l4.extend(attr(CTA_PROTO_DST_PORT, &dport.to_be_bytes()));
    let mut t = attr(CTA_TUPLE_IP | NESTED, &ip);
    t.extend(attr(CTA_TUPLE_PROTO | NESTED, &l4));
    t
}

/// An entry as the kernel dumps it: a UDP flow from `client` to a
/// published port, DNATed to `container`.
fn dumped(client: &str, host: &str, container: &str, port: u16) -> (Vec<u8>, Vec<u8>) {
    let (client, host, container) = (
        client.parse().unwrap(),
        host.parse().unwrap(),
        container.parse().unwrap(),
    );
    let orig = attr(
        CTA_TUPLE_ORIG | NESTED,
        &tuple(client, host, libc::IPPROTO_UDP as u8, port),
    );
    let id = attr(CTA_ID | 0x4000, &7u32.to_be_bytes());
    let mut payload = vec![libc::AF_INET as u8, 0, 0, 0];
    payload.extend(&orig);
    payload.extend(attr(
        CTA_TUPLE_REPLY | NESTED,
        &tuple(container, client, libc::IPPROTO_UDP as u8, 1234),
    ));
    payload.extend(attr(3 | 0x4000, &0x188u32.to_be_bytes()));
    payload.extend(&id);
    let mut key = orig;
    key.extend(id);
    (payload, key)
}

#[test]
fn an_entry_is_parsed_and_keeps_what_names_it() {
    let (payload, key) = dumped("10.200.0.2", "10.200.0.1", "172.17.0.2", 5353);
    let entry = parse_entry(&payload).unwrap();
    assert_eq!(entry.orig_src, Some("10.200.0.2".parse().unwrap()));
    assert_eq!(entry.orig_dst, Some("10.200.0.1".parse().unwrap()));
    assert_eq!(entry.reply_src, Some("172.17.0.2".parse().unwrap()));
    assert_eq!(entry.reply_dst, Some("10.200.0.2".parse().unwrap()));
    assert_eq!(entry.proto, Some(17));
    assert_eq!(entry.family, libc::AF_INET as u8);
    assert_eq!(entry.orig_dst_port, Some(5353));
    assert_eq!(entry.key, key, "original tuple and id, nothing else");
}

#[test]
fn ipv6_tuples_are_parsed() {
    let t = tuple(
        "fd00::2".parse().unwrap(),
        "fd00::3".parse().unwrap(),
        58,
        0,
    );
    let mut payload = vec![libc::AF_INET6 as u8, 0, 0, 0];
    payload.extend(attr(CTA_TUPLE_ORIG | NESTED, &t));
    let entry = parse_entry(&payload).unwrap();
    assert_eq!(entry.orig_src, Some("fd00::2".parse().unwrap()));
    assert_eq!(entry.orig_dst, Some("fd00::3".parse().unwrap()));
    assert_eq!(entry.proto, Some(58));
    assert_eq!(entry.family, libc::AF_INET6 as u8, "deleted as IPv6");
}

#[test]
fn filters_match_any_end_or_the_original_destination_port() {
    let (payload, _) = dumped("10.200.0.2", "10.200.0.1", "172.17.0.2", 5353);
    let entry = parse_entry(&payload).unwrap();
    let addr = |s: &str| FlowMatch::Address(s.parse().unwrap());
    assert!(entry.matches(&[addr("172.17.0.2")]), "the DNAT target");
    assert!(entry.matches(&[addr("10.200.0.2")]));
    assert!(!entry.matches(&[addr("172.17.0.3")]));
    let udp = |ports| FlowMatch::DestPort {
        proto: Proto::Udp,
        ports,
    };
    assert!(entry.matches(&[udp((5353, 5353))]));
    assert!(entry.matches(&[udp((5000, 6000))]));
    assert!(!entry.matches(&[udp((1234, 1234))]), "source port only");
    assert!(!entry.matches(&[FlowMatch::DestPort {
        proto: Proto::Tcp,
        ports: (5353, 5353)
    }]));
    assert!(!entry.matches(&[]));
}

#[test]
fn a_delete_request_carries_the_tuple_as_dumped() {
    let (payload, key) = dumped("10.200.0.2", "10.200.0.1", "172.17.0.2", 5353);
    let entry = parse_entry(&payload).unwrap();
    let msg = request(
        IPCTNL_MSG_CT_DELETE,
        NLM_F_REQUEST | NLM_F_ACK,
        entry.family,
        9,
        &entry.key,
    );
    let parsed = messages(&msg).unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].kind, 0x0102, "ctnetlink subsystem, delete");
    assert_eq!(parsed[0].seq, 9);
    assert_eq!(parsed[0].payload[..4], [libc::AF_INET as u8, 0, 0, 0]);
    assert_eq!(&parsed[0].payload[4..], &key[..]);
    assert_eq!(u16_at(&msg, 6), Some(NLM_F_REQUEST | NLM_F_ACK));
}

#[test]
fn a_dump_request_asks_for_one_family() {
    let msg = request(IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, 10, 1, &[]);
    assert_eq!(msg.len(), 20);
    assert_eq!(u16_at(&msg, 4), Some(0x0101));
    assert_eq!(msg[16], 10);
}

#[test]
fn families_follow_the_addresses_and_ports_take_both() {
    let v4 = FlowMatch::Address("10.0.0.2".parse().unwrap());
    let v6 = FlowMatch::Address("fd00::2".parse().unwrap());
    let (inet, inet6) = (libc::AF_INET as u8, libc::AF_INET6 as u8);
    assert_eq!(families(&[v4]), vec![inet]);
    assert_eq!(families(&[v6]), vec![inet6]);
    let both = libc::AF_UNSPEC as u8;
    assert_eq!(families(&[v4, v6]), vec![both], "one dump for both");
    let port = FlowMatch::DestPort {
        proto: Proto::Udp,
        ports: (53, 53),
    };
    assert_eq!(families(&[port]), vec![both]);
    assert_eq!(families(&[]), Vec::<u8>::new());
}

#[test]
fn truncated_messages_are_errors_not_panics() {
    let (payload, _) = dumped("10.200.0.2", "10.200.0.1", "172.17.0.2", 5353);
    for cut in 0..payload.len() {
        let _ = parse_entry(&payload[..cut]);
    }
    let msg = request(IPCTNL_MSG_CT_GET, NLM_F_REQUEST, 2, 1, &payload[4..]);
    for cut in 0..msg.len() {
        let _ = messages(&msg[..cut]);
    }
    assert!(messages(&[0xff; 20]).is_err());
}

#[test]
fn acknowledgements_and_errors_are_read() {
    assert_eq!(error_code(&0i32.to_ne_bytes()).unwrap(), 0);
    assert_eq!(
        error_code(&(-libc::ENOENT).to_ne_bytes()).unwrap(),
        libc::ENOENT
    );
}

#[test]
fn the_entry_count_is_read_from_the_statistics_reply() {
    let mut payload = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    payload.extend(attr(CTA_STATS_GLOBAL_ENTRIES, &3u32.to_be_bytes()));
    payload.extend(attr(2, &262_144u32.to_be_bytes()));
    assert_eq!(parse_entry_count(&payload).unwrap(), Some(3));
    // A reply without the count says nothing.
    let bare = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    assert_eq!(parse_entry_count(&bare).unwrap(), None);
    // A count cut short is refused, not read as zero.
    let mut short = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    short.extend(attr(CTA_STATS_GLOBAL_ENTRIES, &[0, 0]));
    assert!(parse_entry_count(&short).is_err());
}

/// Root only: the count is the namespace's own, and a namespace with no
/// entries reports none (so a pass there skips its dump).
#[cfg(feature = "privileged")]
#[test]
fn the_entry_count_is_the_namespaces_own() {
    berth_sandbox::netns::on_fresh_netns_thread("conntrack-count", || {
        let mut conntrack = Conntrack::open().unwrap();
        assert_eq!(conntrack.entry_count().unwrap(), Some(0));
        let status = std::process::Command::new("conntrack")
            .args(["-I", "-p", "udp", "-s", "10.9.0.2", "-d", "10.9.0.3"])
            .args(["--sport", "1000", "--dport", "53", "-t", "60"])
            .output()
            .expect("run conntrack (is the conntrack package installed?)");
        assert!(status.status.success(), "{status:?}");
        assert_eq!(conntrack.entry_count().unwrap(), Some(1));
        let flows = [FlowMatch::Address("10.9.0.3".parse().unwrap())];
        assert_eq!(conntrack.forget(&flows).unwrap(), 1);
        assert_eq!(conntrack.entry_count().unwrap(), Some(0));
    });
}
