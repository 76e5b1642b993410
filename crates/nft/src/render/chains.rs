//! The fixed structure of a table: its chains and rules, and the skeleton
//! (set declarations and chains) a full render writes.

use std::fmt::Write as _;

use super::sets::Set;
use super::Family;

/// A base chain's hook.
struct Hook {
    type_: &'static str,
    hook: &'static str,
    priority: &'static str,
}

struct Chain {
    name: &'static str,
    hook: Option<Hook>,
    comment: &'static str,
    /// Rule text (matches, `counter`, verdict) and what the rule is for.
    rules: Vec<(String, &'static str)>,
}

impl Family {
    /// The fixed chains of this family's table.
    fn chains(self) -> Vec<Chain> {
        let ip = self.table_family();
        let v4 = self == Family::V4;
        // `ct original proto-dst` has no fixed type until nft knows the
        // protocol, so each rule names the protocols that have ports; the
        // original tuple ties the accept to the exact mapping that DNATed
        // the connection, so removing one of two mappings to the same
        // container port leaves the other one working.
        let published_addr = format!(
            "meta l4proto {{ tcp, udp, sctp }} ct status dnat ct original {ip} daddr . meta l4proto . ct original proto-dst . {ip} daddr . th dport @published-addr counter accept"
        );
        let published_any = format!(
            "meta l4proto {{ tcp, udp, sctp }} ct status dnat meta l4proto . ct original proto-dst . {ip} daddr . th dport @published-any counter accept"
        );

        let mut raw_rules = Vec::new();
        if v4 {
            // IPv6 needs no such rule: the kernel never accepts ::1 from
            // the wire, and there is no route_localnet for IPv6.
            raw_rules.push((
                "iifname != \"lo\" ip daddr 127.0.0.0/8 counter drop".to_owned(),
                "DROP REMOTE LOOPBACK: 127.0.0.0/8 is for the host itself, even on bridges with route_localnet=1",
            ));
        }
        let prerouting_rule = if v4 {
            (
                "fib daddr type local counter jump dnat-published".to_owned(),
                "only traffic to one of the host's own addresses can hit a published port",
            )
        } else {
            // A container could not answer a link-local client of another
            // link (Docker skips these too).
            (
                "ip6 saddr != fe80::/10 fib daddr type local counter jump dnat-published".to_owned(),
                "only traffic to one of the host's own addresses, from a routable address, can hit a published port",
            )
        };
        let output_rule = if v4 {
            (
                "fib daddr type local counter jump dnat-published".to_owned(),
                "the host reaching a published port at one of its own addresses, 127.0.0.1 included",
            )
        } else {
            // Replies to ::1 cannot come back from a bridge (IPv6 has no
            // route_localnet): without DNAT, connecting fails at once
            // instead of hanging.
            (
                "ip6 daddr != ::1 fib daddr type local counter jump dnat-published".to_owned(),
                "the host reaching a published port at one of its own addresses (::1 cannot reach a container)",
            )
        };
        let mut postrouting_rules = vec![
            (
                format!("{ip} saddr . iifname @masq-subnets {ip} saddr . oifname != @masq-subnets counter masquerade"),
                "MASQUERADE: a container's traffic leaving its network by any other interface",
            ),
            (
                format!("ct status dnat {ip} saddr . oifname @subnet-bridges counter masquerade"),
                "MASQUERADE HAIRPIN: a container reaching a published port of its own network through a host address",
            ),
        ];
        if v4 {
            postrouting_rules.push((
                "oifname @bridges ip saddr 127.0.0.0/8 counter masquerade".to_owned(),
                "MASQUERADE FROM LOOPBACK: the host reaching a published port at 127.0.0.1",
            ));
        }
        // After connection tracking, so that replies to a container's own
        // connections still come in where nothing masquerades them
        // (enable_ip_masquerade=false, --ip-masq=false); before DNAT, so
        // the address is the one the packet was sent to.
        let direct_access = (
            format!("ct state {{ new, invalid, untracked }} {ip} daddr @subnets {ip} daddr . iifname != @subnet-bridges fib daddr type != local counter drop"),
            "DROP DIRECT ACCESS: connections to container addresses come from their own bridge or the host; others use published ports",
        );

        let mut chains = Vec::new();
        if !raw_rules.is_empty() {
            chains.push(Chain {
                name: "raw-prerouting",
                hook: Some(Hook {
                    type_: "filter",
                    hook: "prerouting",
                    priority: "raw",
                }),
                comment: "drops decided before connection tracking and NAT",
                rules: raw_rules,
            });
        }
        chains.extend([
            Chain {
                name: "filter-prerouting",
                hook: Some(Hook {
                    type_: "filter",
                    hook: "prerouting",
                    priority: "mangle",
                }),
                comment: "drops decided on connection state, before NAT",
                rules: vec![direct_access],
            },
            Chain {
                name: "nat-prerouting",
                hook: Some(Hook {
                    type_: "nat",
                    hook: "prerouting",
                    priority: "dstnat",
                }),
                comment: "published ports, for traffic from other hosts and from containers",
                rules: vec![prerouting_rule],
            },
            Chain {
                name: "nat-output",
                hook: Some(Hook {
                    type_: "nat",
                    hook: "output",
                    // The value of `dstnat`, which nft 1.0.6 accepts by
                    // name only on the prerouting hook.
                    priority: "-100",
                }),
                comment: "published ports, for connections the host itself opens",
                rules: vec![output_rule],
            },
            Chain {
                name: "dnat-published",
                hook: None,
                comment: "DNAT to published ports: one map lookup each, however many ports are published",
                rules: vec![
                    (
                        format!("counter dnat to {ip} daddr . meta l4proto . th dport map @dnat-addr"),
                        "ports published on this host address",
                    ),
                    (
                        format!("counter dnat to {ip} daddr . meta l4proto . th dport map @dnat-addr-keep-port"),
                        "port ranges published on this host address, container port = host port",
                    ),
                    (
                        "counter dnat to meta l4proto . th dport map @dnat-any".to_owned(),
                        "ports published on every host address",
                    ),
                    (
                        "counter dnat to meta l4proto . th dport map @dnat-any-keep-port".to_owned(),
                        "port ranges published on every host address, container port = host port",
                    ),
                ],
            },
            Chain {
                name: "filter-forward",
                hook: Some(Hook {
                    type_: "filter",
                    hook: "forward",
                    priority: "filter",
                }),
                comment: "forwarding into, out of and within berth bridges; other traffic passes untouched",
                rules: vec![
                    (
                        "ct state established,related counter accept".to_owned(),
                        "replies and related flows of connections already allowed",
                    ),
                    (
                        "iifname . oifname @same-bridge counter goto forward-same-bridge".to_owned(),
                        "traffic that stays on one bridge (hairpin NAT; bridged traffic under br_netfilter)",
                    ),
                    (
                        "oifname @bridges counter goto forward-into-bridge".to_owned(),
                        "traffic into a berth bridge from elsewhere",
                    ),
                    (
                        "iifname @bridges counter goto forward-out-of-bridge".to_owned(),
                        "traffic out of a berth bridge to elsewhere",
                    ),
                ],
            },
            Chain {
                name: "forward-same-bridge",
                hook: None,
                comment: "traffic between containers of one network",
                rules: vec![
                    (
                        published_addr.clone(),
                        "PUBLISHED PORT: a container reaching a neighbour's port published on one host address",
                    ),
                    (
                        published_any.clone(),
                        "PUBLISHED PORT: a container reaching a neighbour's port published on every host address",
                    ),
                    (
                        "oifname @no-icc counter drop".to_owned(),
                        "ICC DISABLED: enable_icc=false, containers may not talk to each other",
                    ),
                    ("counter accept".to_owned(), "ICC"),
                ],
            },
            Chain {
                name: "forward-into-bridge",
                hook: None,
                comment: "traffic entering a berth bridge from another interface",
                rules: vec![
                    (
                        "oifname @internal counter drop".to_owned(),
                        "INTERNAL NETWORK INGRESS: nothing enters an internal network",
                    ),
                    (
                        "iifname @internal counter drop".to_owned(),
                        "INTERNAL NETWORK EGRESS: nothing leaves an internal network",
                    ),
                    (published_addr, "PUBLISHED PORT: published on one host address"),
                    (published_any, "PUBLISHED PORT: published on every host address"),
                    (
                        "iifname @bridges counter drop".to_owned(),
                        "ISOLATION: no traffic between two different berth networks",
                    ),
                    (
                        "counter drop".to_owned(),
                        "UNPUBLISHED PORT DROP: only published ports are reachable from outside",
                    ),
                ],
            },
            Chain {
                name: "forward-out-of-bridge",
                hook: None,
                comment: "traffic leaving a berth bridge for another interface",
                rules: vec![
                    (
                        "iifname @internal counter drop".to_owned(),
                        "INTERNAL NETWORK EGRESS: nothing leaves an internal network",
                    ),
                    ("counter accept".to_owned(), "OUTGOING"),
                ],
            },
            Chain {
                name: "nat-postrouting",
                hook: Some(Hook {
                    type_: "nat",
                    hook: "postrouting",
                    priority: "srcnat",
                }),
                comment: "source NAT of containers' outbound traffic and of NATed traffic that could not find its way back",
                rules: postrouting_rules,
            },
        ]);
        chains
    }
}

pub(super) fn render_structure(family: Family, table: &str, out: &mut String) {
    let f = family.table_family();
    let _ = writeln!(out, "table {f} {table} {{");
    let _ = writeln!(
        out,
        "\tcomment \"berth container networks: published ports, NAT, isolation. Owned by berthd, rebuilt from its state\""
    );
    for set in Set::ALL {
        let decl = set.decl();
        let _ = writeln!(out, "\n\t{} {} {{", decl.kind, set.name());
        let _ = writeln!(
            out,
            "\t\ttype {}",
            decl.type_.replace("ADDR", family.addr_type())
        );
        if decl.interval {
            out.push_str("\t\tflags interval\n");
        }
        let _ = writeln!(out, "\t\tcomment \"{}\"\n\t}}", decl.comment);
    }
    for chain in family.chains() {
        let _ = writeln!(out, "\n\tchain {} {{", chain.name);
        if let Some(hook) = &chain.hook {
            // The policy stays accept: berth decides only about its own
            // traffic, and an accept here does not override other tables.
            let _ = writeln!(
                out,
                "\t\ttype {} hook {} priority {}; policy accept;",
                hook.type_, hook.hook, hook.priority
            );
        }
        let _ = writeln!(out, "\t\tcomment \"{}\"", chain.comment);
        for (rule, comment) in &chain.rules {
            let _ = writeln!(out, "\t\t{rule} comment \"{comment}\"");
        }
        out.push_str("\t}\n");
    }
    out.push_str("}\n");
}
