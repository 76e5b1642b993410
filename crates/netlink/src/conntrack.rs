//! Deleting connection-tracking entries over ctnetlink (`NETLINK_NETFILTER`,
//! subsystem `CTNETLINK`), in-process: one dump of the table per address
//! family, then one delete per matching entry, as vishvananda/netlink's
//! `ConntrackDeleteFilters` does for Docker.
//!
//! The kernel filters neither dumps by address on every kernel berth runs
//! on nor deletes by anything but the exact tuple, so the cost is one pass
//! over the family's entries; on a host with few flows that is one or two
//! datagrams.
//!
//! Messages are built and parsed here (no maintained crate covers
//! ctnetlink); the socket is `netlink-sys`'s. Layout (linux/netfilter/
//! nfnetlink_conntrack.h): `nlmsghdr`, `nfgenmsg`, then attributes; an
//! entry's tuples are nested `CTA_TUPLE_IP` / `CTA_TUPLE_PROTO` attributes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use berth_core::container::Proto;
use berth_core::ports::FlowMatch;
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use crate::error::NetlinkError;

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_GET: u16 = 1;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
const IPCTNL_MSG_CT_GET_STATS: u16 = 5;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;

const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;
/// Attribute type bits (without NLA_F_NESTED / NLA_F_NET_BYTEORDER).
const NLA_TYPE_MASK: u16 = 0x3fff;

const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_IP_V6_SRC: u16 = 3;
const CTA_IP_V6_DST: u16 = 4;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_STATS_GLOBAL_ENTRIES: u16 = 1;

/// Large enough for any datagram of a dump (the kernel fills at most 32 KiB).
const RECV_BUFFER: usize = 64 * 1024;

/// The facts of one entry that filters look at, plus the attributes that
/// name it in a delete request (copied as the kernel sent them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The entry's address family, as its `nfgenmsg` says.
    pub family: u8,
    pub orig_src: Option<IpAddr>,
    pub orig_dst: Option<IpAddr>,
    pub reply_src: Option<IpAddr>,
    pub reply_dst: Option<IpAddr>,
    pub proto: Option<u8>,
    pub orig_dst_port: Option<u16>,
    /// `CTA_TUPLE_ORIG`, `CTA_ZONE` and `CTA_ID`, whole (header included).
    pub key: Vec<u8>,
}

impl Entry {
    fn matches(&self, flows: &[FlowMatch]) -> bool {
        flows.iter().any(|flow| match *flow {
            FlowMatch::Address(ip) => {
                [self.orig_src, self.orig_dst, self.reply_src, self.reply_dst].contains(&Some(ip))
            }
            FlowMatch::DestPort { proto, ports } => {
                self.proto == Some(proto_number(proto))
                    && self
                        .orig_dst_port
                        .is_some_and(|p| ports.0 <= p && p <= ports.1)
            }
        })
    }
}

fn proto_number(proto: Proto) -> u8 {
    match proto {
        Proto::Tcp => libc::IPPROTO_TCP as u8,
        Proto::Udp => libc::IPPROTO_UDP as u8,
        Proto::Sctp => libc::IPPROTO_SCTP as u8,
    }
}

/// The address families to dump for `flows`: an address's own, and both
/// for a port (published on every local address of either family). Both
/// are one dump of `AF_UNSPEC`: the kernel walks its whole table (every
/// namespace's buckets) per dump, whatever the family.
fn families(flows: &[FlowMatch]) -> Vec<u8> {
    let mut v4 = false;
    let mut v6 = false;
    for flow in flows {
        match flow {
            FlowMatch::Address(IpAddr::V4(_)) => v4 = true,
            FlowMatch::Address(IpAddr::V6(_)) => v6 = true,
            FlowMatch::DestPort { .. } => (v4, v6) = (true, true),
        }
    }
    match (v4, v6) {
        (true, true) => vec![libc::AF_UNSPEC as u8],
        (true, false) => vec![libc::AF_INET as u8],
        (false, true) => vec![libc::AF_INET6 as u8],
        (false, false) => Vec::new(),
    }
}

/// A ctnetlink socket, bound to the network namespace it was opened in
/// (whichever thread uses it later), with its request counter.
#[derive(Debug)]
pub(crate) struct Conntrack {
    socket: Socket,
    seq: u32,
}

impl Conntrack {
    /// Opens the socket in the calling thread's network namespace.
    pub(crate) fn open() -> Result<Conntrack, NetlinkError> {
        let mut socket =
            Socket::new(NETLINK_NETFILTER).map_err(|source| NetlinkError::Conntrack {
                op: "open a netfilter netlink socket",
                source,
            })?;
        socket
            .bind_auto()
            .map_err(|source| NetlinkError::Conntrack {
                op: "bind the netfilter netlink socket",
                source,
            })?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|source| NetlinkError::Conntrack {
                op: "connect the netfilter netlink socket",
                source,
            })?;
        Ok(Conntrack { socket, seq: 0 })
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Deletes the entries of the socket's namespace that any of `flows`
    /// matches; returns how many. Blocking (a few system calls per
    /// datagram): call it off the async workers.
    pub(crate) fn forget(&mut self, flows: &[FlowMatch]) -> Result<usize, NetlinkError> {
        // A dump walks every bucket of the kernel's table, whatever this
        // namespace holds (4 ms for 262,144 buckets): a namespace that
        // tracks nothing, as on a host with no traffic, has nothing to
        // delete.
        if !flows.is_empty() && self.entry_count()? == Some(0) {
            return Ok(0);
        }
        let mut deleted = 0;
        for family in families(flows) {
            let seq = self.next_seq();
            let doomed: Vec<Entry> = dump(&self.socket, family, seq)?
                .into_iter()
                .filter(|e| e.matches(flows))
                .collect();
            for entry in doomed {
                let seq = self.next_seq();
                if delete(&self.socket, seq, &entry)? {
                    deleted += 1;
                }
            }
        }
        Ok(deleted)
    }

    /// How many entries the namespace's table holds (a counter the kernel
    /// keeps: no walk); `None` if the kernel does not say.
    fn entry_count(&mut self) -> Result<Option<u32>, NetlinkError> {
        let seq = self.next_seq();
        let request = request(
            IPCTNL_MSG_CT_GET_STATS,
            NLM_F_REQUEST,
            libc::AF_UNSPEC as u8,
            seq,
            &[],
        );
        send(&self.socket, &request, "ask for the conntrack table's size")?;
        let mut buf = Vec::with_capacity(RECV_BUFFER);
        loop {
            buf.clear();
            self.socket
                .recv(&mut buf, 0)
                .map_err(|source| NetlinkError::Conntrack {
                    op: "read the conntrack table's size",
                    source,
                })?;
            if let Some(msg) = messages(&buf)?.into_iter().find(|m| m.seq == seq) {
                // An error: no such request on this kernel, count unknown.
                return match msg.kind {
                    NLMSG_ERROR => Ok(None),
                    _ => parse_entry_count(msg.payload),
                };
            }
        }
    }
}

/// `CTA_STATS_GLOBAL_ENTRIES` of an `IPCTNL_MSG_CT_GET_STATS` reply
/// (payload after the netlink header).
pub(crate) fn parse_entry_count(payload: &[u8]) -> Result<Option<u32>, NetlinkError> {
    let attrs = payload
        .get(NFGENMSG_LEN..)
        .ok_or_else(|| malformed("conntrack statistics"))?;
    for (kind, value, _) in attributes(attrs)? {
        if kind == CTA_STATS_GLOBAL_ENTRIES {
            let count = value
                .get(..4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .ok_or_else(|| malformed("conntrack entry count"))?;
            // Network byte order.
            return Ok(Some(u32::from_be_bytes(count)));
        }
    }
    Ok(None)
}

fn dump(socket: &Socket, family: u8, seq: u32) -> Result<Vec<Entry>, NetlinkError> {
    let request = request(
        IPCTNL_MSG_CT_GET,
        NLM_F_REQUEST | NLM_F_DUMP,
        family,
        seq,
        &[],
    );
    send(socket, &request, "ask for the conntrack table")?;
    let mut entries = Vec::new();
    let mut buf = Vec::with_capacity(RECV_BUFFER);
    loop {
        buf.clear();
        let n = socket
            .recv(&mut buf, 0)
            .map_err(|source| NetlinkError::Conntrack {
                op: "read the conntrack table",
                source,
            })?;
        if n > buf.len() {
            return Err(NetlinkError::ConntrackMessage(
                "a datagram of the conntrack dump was truncated".to_owned(),
            ));
        }
        // Replies to an earlier request cut short by an error may still be
        // queued: only this one's count.
        for msg in messages(&buf)?.into_iter().filter(|m| m.seq == seq) {
            match msg.kind {
                NLMSG_DONE => return Ok(entries),
                NLMSG_ERROR => match error_code(msg.payload)? {
                    0 => {}
                    // No conntrack for this family in the kernel: no entries.
                    libc::EAFNOSUPPORT | libc::EOPNOTSUPP => return Ok(entries),
                    errno => {
                        return Err(NetlinkError::Conntrack {
                            op: "dump the conntrack table",
                            source: std::io::Error::from_raw_os_error(errno),
                        })
                    }
                },
                _ => entries.push(parse_entry(msg.payload)?),
            }
        }
    }
}

/// Deletes one entry; false if it was gone already (it expired, or the
/// kernel freed it meanwhile).
fn delete(socket: &Socket, seq: u32, entry: &Entry) -> Result<bool, NetlinkError> {
    let request = request(
        IPCTNL_MSG_CT_DELETE,
        NLM_F_REQUEST | NLM_F_ACK,
        entry.family,
        seq,
        &entry.key,
    );
    send(socket, &request, "delete a conntrack entry")?;
    let mut buf = Vec::with_capacity(RECV_BUFFER);
    loop {
        buf.clear();
        socket
            .recv(&mut buf, 0)
            .map_err(|source| NetlinkError::Conntrack {
                op: "read the reply to a conntrack delete",
                source,
            })?;
        for msg in messages(&buf)? {
            if msg.kind != NLMSG_ERROR || msg.seq != seq {
                continue;
            }
            return match error_code(msg.payload)? {
                0 => Ok(true),
                libc::ENOENT => Ok(false),
                errno => Err(NetlinkError::Conntrack {
                    op: "delete a conntrack entry",
                    source: std::io::Error::from_raw_os_error(errno),
                }),
            };
        }
    }
}

fn send(socket: &Socket, request: &[u8], op: &'static str) -> Result<(), NetlinkError> {
    socket
        .send(request, 0)
        .map(drop)
        .map_err(|source| NetlinkError::Conntrack { op, source })
}

/// One ctnetlink request: header, `nfgenmsg` (version 0, resource 0), and
/// `attributes` (already encoded).
pub(crate) fn request(kind: u16, flags: u16, family: u8, seq: u32, attributes: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + NFGENMSG_LEN + attributes.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&((NFNL_SUBSYS_CTNETLINK << 8) | kind).to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&[family, 0, 0, 0]);
    msg.extend_from_slice(attributes);
    msg
}

/// A netlink message of a datagram: its type, sequence number and payload
/// (after the header).
#[derive(Debug)]
struct Message<'a> {
    kind: u16,
    seq: u32,
    payload: &'a [u8],
}

fn malformed(what: &str) -> NetlinkError {
    NetlinkError::ConntrackMessage(format!("malformed netlink message: {what}"))
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn messages(mut buf: &[u8]) -> Result<Vec<Message<'_>>, NetlinkError> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32_at(buf, 0).ok_or_else(|| malformed("header"))? as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(malformed("length"));
        }
        out.push(Message {
            kind: u16_at(buf, 4).ok_or_else(|| malformed("header"))?,
            seq: u32_at(buf, 8).ok_or_else(|| malformed("header"))?,
            payload: &buf[NLMSG_HDRLEN..len],
        });
        buf = buf.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

/// The errno of an `NLMSG_ERROR` payload (0 for an acknowledgement).
fn error_code(payload: &[u8]) -> Result<i32, NetlinkError> {
    let code = u32_at(payload, 0).ok_or_else(|| malformed("error message"))? as i32;
    Ok(-code)
}

/// An attribute: its type without flags, its payload, and the whole
/// attribute with its header.
type Attribute<'a> = (u16, &'a [u8], &'a [u8]);

/// The attributes in `buf`.
fn attributes(mut buf: &[u8]) -> Result<Vec<Attribute<'_>>, NetlinkError> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = u16_at(buf, 0).ok_or_else(|| malformed("attribute"))? as usize;
        if len < 4 || len > buf.len() {
            return Err(malformed("attribute length"));
        }
        let kind = u16_at(buf, 2).ok_or_else(|| malformed("attribute"))? & NLA_TYPE_MASK;
        out.push((kind, &buf[4..len], &buf[..len]));
        buf = buf.get(align4(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

/// Source, destination, protocol number and destination port of a tuple.
type Tuple = (Option<IpAddr>, Option<IpAddr>, Option<u8>, Option<u16>);

fn parse_tuple(buf: &[u8]) -> Result<Tuple, NetlinkError> {
    let (mut src, mut dst, mut proto, mut port) = (None, None, None, None);
    for (kind, payload, _) in attributes(buf)? {
        match kind {
            CTA_TUPLE_IP => {
                for (kind, addr, _) in attributes(payload)? {
                    let ip = match addr.len() {
                        4 => <[u8; 4]>::try_from(addr)
                            .ok()
                            .map(|o| IpAddr::V4(Ipv4Addr::from(o))),
                        16 => <[u8; 16]>::try_from(addr)
                            .ok()
                            .map(|o| IpAddr::V6(Ipv6Addr::from(o))),
                        _ => None,
                    };
                    match kind {
                        CTA_IP_V4_SRC | CTA_IP_V6_SRC => src = ip,
                        CTA_IP_V4_DST | CTA_IP_V6_DST => dst = ip,
                        _ => {}
                    }
                }
            }
            CTA_TUPLE_PROTO => {
                for (kind, value, _) in attributes(payload)? {
                    match kind {
                        CTA_PROTO_NUM => proto = value.first().copied(),
                        // Network byte order.
                        CTA_PROTO_DST_PORT => {
                            port = value.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok((src, dst, proto, port))
}

/// An `IPCTNL_MSG_CT_NEW` message of a dump (payload after the netlink
/// header).
pub(crate) fn parse_entry(payload: &[u8]) -> Result<Entry, NetlinkError> {
    let attrs = payload
        .get(NFGENMSG_LEN..)
        .ok_or_else(|| malformed("conntrack entry"))?;
    let mut entry = Entry {
        family: payload[0],
        orig_src: None,
        orig_dst: None,
        reply_src: None,
        reply_dst: None,
        proto: None,
        orig_dst_port: None,
        key: Vec::new(),
    };
    for (kind, value, whole) in attributes(attrs)? {
        match kind {
            CTA_TUPLE_ORIG => {
                let (src, dst, proto, port) = parse_tuple(value)?;
                (entry.orig_src, entry.orig_dst) = (src, dst);
                (entry.proto, entry.orig_dst_port) = (proto, port);
                push_attribute(&mut entry.key, whole);
            }
            CTA_TUPLE_REPLY => {
                let (src, dst, _, _) = parse_tuple(value)?;
                (entry.reply_src, entry.reply_dst) = (src, dst);
            }
            CTA_ZONE | CTA_ID => push_attribute(&mut entry.key, whole),
            _ => {}
        }
    }
    Ok(entry)
}

/// Appends an encoded attribute, padded to 4 bytes.
fn push_attribute(out: &mut Vec<u8>, whole: &[u8]) {
    out.extend_from_slice(whole);
    out.resize(align4(out.len()), 0);
}

#[cfg(test)]
mod tests;
