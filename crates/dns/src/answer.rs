//! Answering from berth's own names, as Docker's resolver does
//! (moby `daemon/libnetwork/resolver.go`, `serveDNS` and its handlers): A
//! and AAAA from the asking container's view of names, PTR for their
//! addresses, MX as "this name exists", everything else forwarded.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use berth_core::ports::NameLookup;
use berth_types::ContainerId;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_proto::ProtoError;
use tracing::debug;

use crate::wire::{self, Rejection, ReplyWriter, Request, Transport};

/// What to do with one received message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The reply is in [`Scratch::out`].
    Reply,
    /// Not a berth name: ask the upstream servers.
    Forward,
    /// Nothing to send back (not a query, or unanswerable).
    Drop,
}

/// Buffers one serving task reuses from query to query.
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) out: Vec<u8>,
    key: String,
}

/// The part of the resolver that needs no I/O.
pub(crate) struct Answerer {
    lookup: Arc<dyn NameLookup>,
    ttl: u32,
}

impl Answerer {
    pub(crate) fn new(lookup: Arc<dyn NameLookup>, ttl: u32) -> Self {
        Self { lookup, ttl }
    }

    /// Answers `msg` from `asker` if it is about a berth name. `rotation`
    /// turns multi-address answers round; `forwarding` says whether
    /// anything may be forwarded (when not, SERVFAIL, as Docker answers
    /// when no upstream may be asked).
    pub(crate) fn answer(
        &self,
        asker: &ContainerId,
        msg: &[u8],
        transport: Transport,
        rotation: &AtomicUsize,
        forwarding: bool,
        scratch: &mut Scratch,
    ) -> Outcome {
        let request = match wire::parse_request(msg) {
            Ok(request) => request,
            Err(Rejection::Ignore) => return Outcome::Drop,
            Err(Rejection::Reply { metadata, rcode }) => {
                return written(wire::write_header_only(&mut scratch.out, &metadata, rcode));
            }
        };
        let limit = request.reply_limit(transport);
        if request.edns.is_some_and(|e| e.version > 0) {
            return written(wire::write_rcode(
                &mut scratch.out,
                &request,
                limit,
                ResponseCode::BADVERS,
            ));
        }
        match self.local(asker, &request, limit, rotation, scratch) {
            Some(result) => written(result),
            None if forwarding => Outcome::Forward,
            None => written(wire::write_rcode(
                &mut scratch.out,
                &request,
                limit,
                ResponseCode::ServFail,
            )),
        }
    }

    /// The reply from berth's names, or `None` if the query is not theirs.
    fn local(
        &self,
        asker: &ContainerId,
        request: &Request<'_>,
        limit: usize,
        rotation: &AtomicUsize,
        scratch: &mut Scratch,
    ) -> Option<Result<(), ProtoError>> {
        if request.qclass != DNSClass::IN {
            return None;
        }
        match request.qtype {
            RecordType::A | RecordType::AAAA => {
                if !wire::lookup_key(&request.name, &mut scratch.key) {
                    return None;
                }
                let addresses = self.lookup.resolve(asker, &scratch.key)?;
                Some(self.write_addresses(request, limit, &addresses, rotation, &mut scratch.out))
            }
            // A known name: NOERROR without records, so mail clients fall
            // back to the name's own address ("implicit MX", RFC 5321 5.1),
            // as Docker's handleMXQuery does.
            RecordType::MX => {
                if !wire::lookup_key(&request.name, &mut scratch.key) {
                    return None;
                }
                self.lookup.resolve(asker, &scratch.key)?;
                Some(wire::write_rcode(
                    &mut scratch.out,
                    request,
                    limit,
                    ResponseCode::NoError,
                ))
            }
            RecordType::PTR => {
                let ip = wire::reverse_address(&request.name)?;
                let host = self.lookup.reverse(asker, ip)?;
                let Some(target) = wire::ptr_target(&host) else {
                    debug!(%ip, host, "berth name is not a valid DNS name; forwarding the PTR query");
                    return None;
                };
                let mut writer = match ReplyWriter::new(&mut scratch.out, request, limit) {
                    Ok(writer) => writer,
                    Err(e) => return Some(Err(e)),
                };
                writer.push_ptr(&target, self.ttl);
                Some(writer.finish(ResponseCode::NoError))
            }
            _ => None,
        }
    }

    /// A or AAAA records for the addresses of the asked family. A name
    /// berth knows that has none of that family gets NOERROR and no
    /// records, never a forward (Docker's "ipv6Miss"): the name is ours.
    /// Several addresses start one further on at each query, so clients
    /// that take the first spread over them.
    fn write_addresses(
        &self,
        request: &Request<'_>,
        limit: usize,
        addresses: &[IpAddr],
        rotation: &AtomicUsize,
        out: &mut Vec<u8>,
    ) -> Result<(), ProtoError> {
        let want_v4 = request.qtype == RecordType::A;
        let matching = addresses.iter().filter(move |ip| ip.is_ipv4() == want_v4);
        let count = matching.clone().count();
        let start = if count > 1 {
            rotation.fetch_add(1, Ordering::Relaxed) % count
        } else {
            0
        };
        let mut writer = ReplyWriter::new(out, request, limit)?;
        for ip in matching.clone().skip(start).chain(matching.take(start)) {
            if !writer.push_address(*ip, self.ttl) {
                break;
            }
        }
        writer.finish(ResponseCode::NoError)
    }
}

fn written(result: Result<(), ProtoError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Reply,
        Err(e) => {
            // Cannot happen with the limits used; the client retries.
            debug!(error = %e, "cannot encode DNS reply; dropping the query");
            Outcome::Drop
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::net::Ipv6Addr;

    use hickory_proto::op::{Edns, Message, MessageType, Query};
    use hickory_proto::rr::{Name, RData};

    /// Names per asker, with the lookup's contract: case-insensitive,
    /// `None` for names it does not know.
    #[derive(Default)]
    pub(crate) struct FakeLookup {
        names: HashMap<(String, String), Vec<IpAddr>>,
        reverse: HashMap<(String, IpAddr), String>,
    }

    impl FakeLookup {
        pub(crate) fn with(mut self, asker: &ContainerId, name: &str, ips: &[&str]) -> Self {
            let ips: Vec<IpAddr> = ips.iter().map(|s| s.parse().unwrap()).collect();
            // The first name given an address is its canonical one.
            for ip in &ips {
                self.reverse
                    .entry((asker.to_string(), *ip))
                    .or_insert_with(|| name.to_owned());
            }
            self.names
                .insert((asker.to_string(), name.to_lowercase()), ips);
            self
        }
    }

    impl NameLookup for FakeLookup {
        fn resolve(&self, asker: &ContainerId, name: &str) -> Option<Vec<IpAddr>> {
            self.names
                .get(&(asker.to_string(), name.to_lowercase()))
                .cloned()
        }
        fn reverse(&self, asker: &ContainerId, ip: IpAddr) -> Option<String> {
            self.reverse.get(&(asker.to_string(), ip)).cloned()
        }
    }

    pub(crate) fn container(n: u8) -> ContainerId {
        ContainerId::from_bytes([n; 32])
    }

    fn answerer() -> Answerer {
        let web = container(1);
        let other = container(2);
        let lookup = FakeLookup::default()
            .with(&web, "db", &["172.18.0.2"])
            .with(&web, "DB-Alias", &["172.18.0.2"])
            .with(&web, "dual", &["172.18.0.5", "fd00::5"])
            .with(
                &web,
                "pool",
                &["172.18.0.10", "172.18.0.11", "fd00::10", "172.18.0.12"],
            )
            .with(&other, "cache", &["172.19.0.2"]);
        Answerer::new(Arc::new(lookup), 600)
    }

    fn query(name: &str, qtype: RecordType) -> Vec<u8> {
        let mut msg = Message::query();
        msg.metadata.id = 77;
        msg.metadata.recursion_desired = true;
        msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        msg.to_vec().unwrap()
    }

    fn ask(a: &Answerer, asker: &ContainerId, msg: &[u8]) -> (Outcome, Option<Message>) {
        let mut scratch = Scratch::default();
        let rotation = AtomicUsize::new(0);
        let outcome = a.answer(asker, msg, Transport::Udp, &rotation, true, &mut scratch);
        let reply = (outcome == Outcome::Reply).then(|| Message::from_vec(&scratch.out).unwrap());
        (outcome, reply)
    }

    fn addresses(msg: &Message) -> Vec<IpAddr> {
        msg.answers
            .iter()
            .map(|r| match &r.data {
                RData::A(a) => IpAddr::V4(a.0),
                RData::AAAA(a) => IpAddr::V6(a.0),
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    #[test]
    fn answers_a_records_with_ttl_600() {
        let (outcome, reply) = ask(&answerer(), &container(1), &query("db.", RecordType::A));
        assert_eq!(outcome, Outcome::Reply);
        let reply = reply.unwrap();
        assert_eq!(reply.metadata.id, 77);
        assert_eq!(reply.metadata.message_type, MessageType::Response);
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert_eq!(
            addresses(&reply),
            vec!["172.18.0.2".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(reply.answers[0].ttl, 600);
        assert_eq!(reply.answers[0].name.to_ascii(), "db.");
    }

    #[test]
    fn names_are_case_insensitive_and_aliases_resolve() {
        let a = answerer();
        let (_, reply) = ask(&a, &container(1), &query("dB.", RecordType::A));
        assert_eq!(addresses(&reply.unwrap()).len(), 1);
        let (_, reply) = ask(&a, &container(1), &query("db-alias", RecordType::A));
        let reply = reply.unwrap();
        assert_eq!(
            addresses(&reply),
            vec!["172.18.0.2".parse::<IpAddr>().unwrap()]
        );
        // The question comes back as asked.
        assert_eq!(reply.queries[0].name().to_ascii(), "db-alias.");
    }

    #[test]
    fn names_are_scoped_to_the_asker() {
        let a = answerer();
        assert_eq!(
            ask(&a, &container(2), &query("db.", RecordType::A)).0,
            Outcome::Forward
        );
        assert_eq!(
            ask(&a, &container(1), &query("cache.", RecordType::A)).0,
            Outcome::Forward
        );
        assert_eq!(
            ask(&a, &container(3), &query("db.", RecordType::A)).0,
            Outcome::Forward
        );
    }

    #[test]
    fn families_are_filtered_and_the_other_family_is_empty_not_forwarded() {
        let a = answerer();
        let (_, reply) = ask(&a, &container(1), &query("dual.", RecordType::AAAA));
        assert_eq!(
            addresses(&reply.unwrap()),
            vec![IpAddr::V6("fd00::5".parse::<Ipv6Addr>().unwrap())]
        );
        let (outcome, reply) = ask(&a, &container(1), &query("db.", RecordType::AAAA));
        assert_eq!(outcome, Outcome::Reply);
        let reply = reply.unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.answers.is_empty());
    }

    #[test]
    fn several_addresses_rotate_per_query() {
        let a = answerer();
        let asker = container(1);
        let rotation = AtomicUsize::new(0);
        let mut scratch = Scratch::default();
        let msg = query("pool.", RecordType::A);
        let mut firsts = Vec::new();
        for _ in 0..3 {
            a.answer(&asker, &msg, Transport::Udp, &rotation, true, &mut scratch);
            let ips = addresses(&Message::from_vec(&scratch.out).unwrap());
            assert_eq!(ips.len(), 3);
            assert!(ips.iter().all(IpAddr::is_ipv4));
            firsts.push(ips[0]);
            // Always all of them, in the same cyclic order.
            let mut sorted = ips.clone();
            sorted.sort();
            assert_eq!(
                sorted,
                ["172.18.0.10", "172.18.0.11", "172.18.0.12"].map(|s| s.parse::<IpAddr>().unwrap())
            );
        }
        assert_eq!(
            firsts,
            ["172.18.0.10", "172.18.0.11", "172.18.0.12"].map(|s| s.parse::<IpAddr>().unwrap())
        );
    }

    #[test]
    fn ptr_answers_the_lookups_name_as_fqdn() {
        let a = answerer();
        let (_, reply) = ask(
            &a,
            &container(1),
            &query("2.0.18.172.in-addr.arpa.", RecordType::PTR),
        );
        let reply = reply.unwrap();
        assert_eq!(reply.answers.len(), 1);
        assert_eq!(reply.answers[0].ttl, 600);
        match &reply.answers[0].data {
            RData::PTR(ptr) => assert_eq!(ptr.0.to_ascii(), "db."),
            other => panic!("unexpected {other:?}"),
        }
        let nibbles = "5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
        let (_, reply) = ask(&a, &container(1), &query(nibbles, RecordType::PTR));
        match &reply.unwrap().answers[0].data {
            RData::PTR(ptr) => assert_eq!(ptr.0.to_ascii(), "dual."),
            other => panic!("unexpected {other:?}"),
        }
        // Unknown or foreign addresses go upstream.
        assert_eq!(
            ask(
                &a,
                &container(1),
                &query("9.9.9.9.in-addr.arpa.", RecordType::PTR)
            )
            .0,
            Outcome::Forward
        );
        assert_eq!(
            ask(
                &a,
                &container(2),
                &query("2.0.18.172.in-addr.arpa.", RecordType::PTR)
            )
            .0,
            Outcome::Forward
        );
    }

    #[test]
    fn mx_for_a_known_name_is_empty_noerror() {
        let a = answerer();
        let (_, reply) = ask(&a, &container(1), &query("db.", RecordType::MX));
        let reply = reply.unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert!(reply.answers.is_empty());
        assert_eq!(
            ask(&a, &container(1), &query("example.com.", RecordType::MX)).0,
            Outcome::Forward
        );
    }

    #[test]
    fn other_types_and_classes_are_forwarded() {
        let a = answerer();
        assert_eq!(
            ask(&a, &container(1), &query("db.", RecordType::TXT)).0,
            Outcome::Forward
        );
        assert_eq!(
            ask(&a, &container(1), &query("example.com.", RecordType::A)).0,
            Outcome::Forward
        );
        let mut msg = Message::query();
        let mut q = Query::query(Name::from_ascii("db.").unwrap(), RecordType::A);
        q.set_query_class(DNSClass::CH);
        msg.add_query(q);
        assert_eq!(
            ask(&a, &container(1), &msg.to_vec().unwrap()).0,
            Outcome::Forward
        );
    }

    #[test]
    fn without_upstreams_unknown_names_get_servfail() {
        let a = answerer();
        let mut scratch = Scratch::default();
        let outcome = a.answer(
            &container(1),
            &query("example.com.", RecordType::A),
            Transport::Udp,
            &AtomicUsize::new(0),
            false,
            &mut scratch,
        );
        assert_eq!(outcome, Outcome::Reply);
        let reply = Message::from_vec(&scratch.out).unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
        assert_eq!(reply.queries.len(), 1);
    }

    #[test]
    fn malformed_queries_get_formerr_or_nothing() {
        let a = answerer();
        let mut msg = query("db.", RecordType::A);
        msg.truncate(16);
        let (outcome, reply) = ask(&a, &container(1), &msg);
        assert_eq!(outcome, Outcome::Reply);
        let reply = reply.unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
        assert_eq!(reply.metadata.id, 77);
        assert_eq!(ask(&a, &container(1), &[1, 2, 3]).0, Outcome::Drop);
    }

    #[test]
    fn edns_versions_above_zero_get_badvers() {
        let mut msg = Message::query();
        msg.add_query(Query::query(
            Name::from_ascii("db.").unwrap(),
            RecordType::A,
        ));
        let mut edns = Edns::new();
        edns.set_version(1);
        msg.set_edns(edns);
        let (_, reply) = ask(&answerer(), &container(1), &msg.to_vec().unwrap());
        // 16 is BADVERS for OPT (hickory names it BADSIG, same code).
        assert_eq!(u16::from(reply.unwrap().metadata.response_code), 16);
    }

    #[test]
    fn tcp_answers_are_not_truncated_at_512() {
        let asker = container(1);
        let ips: Vec<String> = (0..100)
            .map(|i| format!("10.1.{}.{}", i / 250, i % 250 + 1))
            .collect();
        let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
        let a = Answerer::new(
            Arc::new(FakeLookup::default().with(&asker, "many", &ips)),
            600,
        );
        let msg = query("many.", RecordType::A);
        let mut scratch = Scratch::default();
        let rotation = AtomicUsize::new(0);
        a.answer(&asker, &msg, Transport::Udp, &rotation, true, &mut scratch);
        let udp = Message::from_vec(&scratch.out).unwrap();
        assert!(udp.metadata.truncation);
        assert!(scratch.out.len() <= 512);
        a.answer(&asker, &msg, Transport::Tcp, &rotation, true, &mut scratch);
        let tcp = Message::from_vec(&scratch.out).unwrap();
        assert!(!tcp.metadata.truncation);
        assert_eq!(tcp.answers.len(), 100);
    }
}
