//! Golden tests of the rendered scripts (pure, no root). The expected texts
//! are in `tests/golden/`; `BERTH_UPDATE_GOLDEN=1 cargo test -p berth-nft`
//! rewrites them, and the diff is then reviewed like code. The privileged
//! tests load every one of these scripts into a real kernel.

// Test code: a failed step must panic.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod scenarios;

use berth_core::container::Proto;
use berth_core::ports::FirewallChange;
use berth_nft::{render_change, render_full, FwConfig, RenderError};
use scenarios::{golden_path, network, port, Scenario};

fn check_golden(name: &str, actual: &str) {
    let path = golden_path(name);
    if std::env::var_os("BERTH_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (BERTH_UPDATE_GOLDEN=1 writes it)", path.display()));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from {} at line {}:\n expected: {:?}\n   actual: {:?}\n(BERTH_UPDATE_GOLDEN=1 rewrites it)",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first),
        );
    }
}

#[test]
fn every_scenario_matches_its_golden_file() {
    for Scenario { name, script } in scenarios::all() {
        check_golden(name, &script);
    }
}

/// Lines of `script` that are rules: inside a chain, not its header.
fn rule_lines(script: &str) -> Vec<&str> {
    let mut in_chain = false;
    let mut rules = Vec::new();
    for line in script.lines() {
        let t = line.trim();
        if t.starts_with("chain ") {
            in_chain = true;
        } else if t == "}" {
            in_chain = false;
        } else if in_chain && !t.starts_with("type ") && !t.starts_with("comment ") && !t.is_empty()
        {
            rules.push(t);
        }
    }
    rules
}

#[test]
fn every_chain_set_and_rule_says_what_it_is_for() {
    let script = render_full(&scenarios::ipv6_state(), &FwConfig::default()).unwrap();
    let rules = rule_lines(&script);
    assert!(rules.len() > 20, "{rules:?}");
    for rule in rules {
        assert!(rule.contains(" comment \""), "rule without comment: {rule}");
    }
    let mut blocks = 0;
    let lines: Vec<&str> = script.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("chain ") || line.starts_with("set ") || line.starts_with("map ") {
            blocks += 1;
            let body = &lines[i + 1..];
            let end = body.iter().position(|l| *l == "}").unwrap();
            assert!(
                body[..end].iter().any(|l| l.starts_with("comment \"")),
                "no comment in {line}"
            );
        }
    }
    // 13 sets and maps each; 10 chains in ip, 9 in ip6 (no raw-prerouting).
    assert_eq!(blocks, 2 * 13 + 10 + 9);
    // nft refuses comments over 128 characters.
    for comment in script.split("comment \"").skip(1) {
        let text = comment.split('"').next().unwrap();
        assert!(
            text.len() <= 128,
            "comment too long ({}): {text}",
            text.len()
        );
    }
}

#[test]
fn a_thousand_port_identical_range_is_one_element() {
    let script = render_full(&scenarios::range_state(), &FwConfig::default()).unwrap();
    let elements: Vec<&str> = script.lines().filter(|l| l.contains("8000-8999")).collect();
    assert_eq!(
        elements,
        [
            "\ttcp . 8000-8999 : 172.18.0.2",
            "\ttcp . 8000-8999 . 172.18.0.2 . 8000-8999",
        ]
    );
}

#[test]
fn a_shifted_range_is_one_element_per_port_in_one_command() {
    let mut p = port(Proto::Udp, None, (8000, 8002), "172.18.0.2", (80, 82));
    p.host_ip = Some("192.0.2.7".parse().unwrap());
    let change = FirewallChange {
        add_ports: vec![p],
        ..FirewallChange::default()
    };
    let script = render_change(&change, &FwConfig::default()).unwrap();
    assert_eq!(
        script,
        "add element ip berth dnat-addr {\n\
         \t192.0.2.7 . udp . 8000 : 172.18.0.2 . 80,\n\
         \t192.0.2.7 . udp . 8001 : 172.18.0.2 . 81,\n\
         \t192.0.2.7 . udp . 8002 : 172.18.0.2 . 82\n\
         }\n\
         add element ip berth published-addr {\n\
         \t192.0.2.7 . udp . 8000 . 172.18.0.2 . 80,\n\
         \t192.0.2.7 . udp . 8001 . 172.18.0.2 . 81,\n\
         \t192.0.2.7 . udp . 8002 . 172.18.0.2 . 82\n\
         }\n"
    );
}

#[test]
fn change_cost_does_not_depend_on_existing_state() {
    // A change script names only its own elements: the same port gives the
    // same script whatever else is published (the renderer never sees it).
    let one = port(Proto::Tcp, None, (8080, 8080), "172.18.0.2", (80, 80));
    let change = FirewallChange {
        add_ports: vec![one],
        ..FirewallChange::default()
    };
    let script = render_change(&change, &FwConfig::default()).unwrap();
    assert_eq!(script.lines().count(), 6, "{script}");
}

#[test]
fn empty_change_renders_nothing() {
    let script = render_change(&FirewallChange::default(), &FwConfig::default()).unwrap();
    assert_eq!(script, "");
}

#[test]
fn duplicates_are_rendered_once() {
    let p = port(Proto::Tcp, None, (8080, 8080), "172.18.0.2", (80, 80));
    let change = FirewallChange {
        remove_ports: vec![p.clone(), p],
        ..FirewallChange::default()
    };
    let script = render_change(&change, &FwConfig::default()).unwrap();
    assert_eq!(script.matches("tcp . 8080").count(), 2, "{script}");
}

#[test]
fn another_table_name_is_used_everywhere() {
    let config = FwConfig::new("berth_test").unwrap();
    let script = render_full(&scenarios::user_network_state(), &config).unwrap();
    for family in ["ip", "ip6"] {
        assert!(!script.contains(&format!("{family} berth ")), "{script}");
        assert!(!script.contains(&format!("{family} berth\n")), "{script}");
    }
    assert!(script.contains("table ip berth_test {"));
    assert!(script.contains("table ip6 berth_test {"));
}

#[test]
fn unwritable_facts_are_refused_not_skipped() {
    let config = FwConfig::default();
    let mut state = scenarios::user_network_state();
    state.networks[1].bridge = berth_types::IfName::parse("br\"x").unwrap();
    assert!(matches!(
        render_full(&state, &config),
        Err(RenderError::UnquotableName(_))
    ));

    let mut mixed = port(Proto::Tcp, None, (8080, 8080), "fd00:18::2", (80, 80));
    mixed.host_ip = Some("127.0.0.1".parse().unwrap());
    let change = FirewallChange {
        add_ports: vec![mixed],
        ..FirewallChange::default()
    };
    let e = render_change(&change, &config).unwrap_err();
    assert!(matches!(e, RenderError::MixedFamilies { .. }), "{e}");

    let uneven = port(Proto::Tcp, None, (8000, 8010), "172.18.0.2", (80, 81));
    let change = FirewallChange {
        add_ports: vec![uneven],
        ..FirewallChange::default()
    };
    let e = render_change(&change, &config).unwrap_err();
    assert!(matches!(e, RenderError::Ranges { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "published ports tcp 8000-8010:80-81: the host and container ports are not ranges of the same length"
    );
}

#[test]
fn gateway_style_subnets_are_written_as_networks() {
    let mut state = scenarios::new_daemon_state();
    state.networks = vec![network("berth0", &["172.17.0.1/16"], |_| {})];
    let script = render_full(&state, &FwConfig::default()).unwrap();
    assert!(script.contains("\t172.17.0.0/16 . \"berth0\""), "{script}");
    assert!(!script.contains("172.17.0.1/16"), "{script}");
}
