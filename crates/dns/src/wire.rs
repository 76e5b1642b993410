//! The DNS wire format as the resolver needs it. hickory-proto's decoders
//! validate what clients send (header, question, EDNS and any other record);
//! replies are written with its encoder into a buffer the caller reuses, the
//! answers' owner names being a pointer to the question, so answering a
//! berth name allocates nothing here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Header, HeaderCounts, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder, NameEncoding, Place,
};
use hickory_proto::ProtoError;

pub(crate) const HEADER_LEN: usize = 12;
/// Without EDNS a UDP message may not be longer (RFC 1035 4.2.1).
pub(crate) const CLASSIC_UDP_LIMIT: usize = 512;
/// The longest UDP message sent to a client or taken from an upstream; a
/// client that advertises more is held to it, since larger datagrams
/// fragment and EDNS clients fall back to TCP anyway.
pub(crate) const MAX_UDP_PAYLOAD: usize = 4096;
/// Over TCP the two-byte length prefix is the only limit.
pub(crate) const MAX_TCP_MESSAGE: usize = u16::MAX as usize;
/// What our OPT records advertise: DNS Flag Day 2020's size, which never
/// fragments.
const ADVERTISED_PAYLOAD: u16 = 1232;
/// Root name, type, class, TTL and an empty RDATA.
const OPT_RECORD_LEN: usize = 11;
/// A compression pointer to the question's name, right after the header.
const POINTER_TO_QUESTION: u16 = 0xC000 | HEADER_LEN as u16;

/// How a message reached us, which bounds the reply's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// A client's EDNS (RFC 6891) OPT record, as far as replies depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Edns {
    /// The UDP payload size the client can take (at least 512).
    pub(crate) payload: u16,
    pub(crate) version: u8,
}

/// A well-formed standard query with one question.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub(crate) metadata: Metadata,
    pub(crate) name: Name,
    pub(crate) qtype: RecordType,
    pub(crate) qclass: DNSClass,
    /// The question section as received, echoed verbatim in replies (so a
    /// client's 0x20 case randomisation comes back intact) and compared
    /// with upstream replies.
    pub(crate) question: &'a [u8],
    pub(crate) edns: Option<Edns>,
}

impl Request<'_> {
    /// The longest reply the client can take over `transport`.
    pub(crate) fn reply_limit(&self, transport: Transport) -> usize {
        match transport {
            Transport::Tcp => MAX_TCP_MESSAGE,
            Transport::Udp => self.edns.map_or(CLASSIC_UDP_LIMIT, |e| {
                usize::from(e.payload).clamp(CLASSIC_UDP_LIMIT, MAX_UDP_PAYLOAD)
            }),
        }
    }
}

/// Why a message is not a query to answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Shorter than a header, or a response: there is nobody to answer
    /// (replying to responses could make two servers loop).
    Ignore,
    /// The header parsed: answer it with this code (FORMERR, NOTIMP).
    Reply {
        metadata: Metadata,
        rcode: ResponseCode,
    },
}

/// Parses a query as miekg/dns (Docker's DNS library) accepts it: not a
/// response, opcode QUERY, exactly one question, at most one answer and one
/// authority record and two additional records, every record well formed.
pub(crate) fn parse_request(msg: &[u8]) -> Result<Request<'_>, Rejection> {
    let mut decoder = BinDecoder::new(msg);
    let header = Header::read(&mut decoder).map_err(|_| Rejection::Ignore)?;
    let metadata = header.metadata;
    if metadata.message_type == MessageType::Response {
        return Err(Rejection::Ignore);
    }
    let reject = |rcode| Rejection::Reply { metadata, rcode };
    if metadata.op_code != OpCode::Query {
        return Err(reject(ResponseCode::NotImp));
    }
    let HeaderCounts {
        queries,
        answers,
        authorities,
        additionals,
    } = header.counts;
    if queries != 1 || answers > 1 || authorities > 1 || additionals > 2 {
        return Err(reject(ResponseCode::FormErr));
    }
    let query = Query::read(&mut decoder).map_err(|_| reject(ResponseCode::FormErr))?;
    let question = &msg[HEADER_LEN..decoder.index()];
    let mut edns = None;
    for (count, additional) in [(answers, false), (authorities, false), (additionals, true)] {
        for _ in 0..count {
            let record = Record::read(&mut decoder).map_err(|_| reject(ResponseCode::FormErr))?;
            if record.record_type() == RecordType::OPT {
                // RFC 6891 6.1.1: one OPT at most, among the additional records.
                if !additional || edns.is_some() {
                    return Err(reject(ResponseCode::FormErr));
                }
                let [_extended_rcode, version, _, _] = record.ttl.to_be_bytes();
                edns = Some(Edns {
                    payload: u16::from(record.dns_class),
                    version,
                });
            }
        }
    }
    Ok(Request {
        metadata,
        name: query.name().clone(),
        qtype: query.query_type(),
        qclass: query.query_class(),
        question,
        edns,
    })
}

/// The encoder's size limit, which is a u16 because messages are.
fn size_limit(limit: usize) -> u16 {
    u16::try_from(limit).unwrap_or(u16::MAX)
}

/// Our replies' header flags: the request's id, opcode, RD and CD, and RA
/// set since we recurse for the client (Docker's `createRespMsg`).
fn reply_metadata(request: &Metadata, rcode: ResponseCode) -> Metadata {
    let mut metadata = Metadata::response_from_request(request);
    metadata.recursion_available = true;
    metadata.response_code = rcode;
    metadata
}

/// Writes a reply to `request` into a reused buffer: question echoed,
/// answers added while they fit the client's limit (beyond it the reply is
/// marked truncated, as Docker's `resp.Truncate` does), an OPT record when
/// the query had one (RFC 6891 6.1.1).
pub(crate) struct ReplyWriter<'b> {
    encoder: BinEncoder<'b>,
    header: Place<Header>,
    metadata: Metadata,
    answers: u16,
    opt: bool,
    limit: usize,
}

impl<'b> ReplyWriter<'b> {
    pub(crate) fn new(
        out: &'b mut Vec<u8>,
        request: &Request<'_>,
        limit: usize,
    ) -> Result<Self, ProtoError> {
        out.clear();
        let opt = request.edns.is_some();
        let mut encoder = BinEncoder::new(out);
        // Answers must leave room for the OPT record that ends the reply.
        encoder.set_max_size(size_limit(limit.saturating_sub(if opt {
            OPT_RECORD_LEN
        } else {
            0
        })));
        let header = encoder.place::<Header>()?;
        encoder.emit_vec(request.question)?;
        Ok(Self {
            encoder,
            header,
            metadata: reply_metadata(&request.metadata, ResponseCode::NoError),
            answers: 0,
            opt,
            limit,
        })
    }

    /// Adds an A or AAAA record for the question's name. False when it does
    /// not fit: the reply is then marked truncated and nothing more fits.
    pub(crate) fn push_address(&mut self, ip: IpAddr, ttl: u32) -> bool {
        match ip {
            IpAddr::V4(v4) => self.push(RecordType::A, ttl, &Rdata::Bytes(&v4.octets())),
            IpAddr::V6(v6) => self.push(RecordType::AAAA, ttl, &Rdata::Bytes(&v6.octets())),
        }
    }

    /// Adds a PTR record pointing at `target`; false as for `push_address`.
    pub(crate) fn push_ptr(&mut self, target: &Name, ttl: u32) -> bool {
        self.push(RecordType::PTR, ttl, &Rdata::Name(target))
    }

    /// Marks the reply truncated without any answer, for an upstream reply
    /// too long for the client's UDP limit: the client retries over TCP.
    pub(crate) fn mark_truncated(&mut self) {
        self.metadata.truncation = true;
    }

    fn push(&mut self, rtype: RecordType, ttl: u32, rdata: &Rdata<'_>) -> bool {
        if self.metadata.truncation {
            return false;
        }
        let start = self.encoder.offset();
        match emit_answer(&mut self.encoder, rtype, ttl, rdata) {
            Ok(()) => {
                self.answers += 1;
                true
            }
            Err(_) => {
                self.encoder.set_offset(start);
                self.encoder.trim();
                self.metadata.truncation = true;
                false
            }
        }
    }

    pub(crate) fn finish(mut self, rcode: ResponseCode) -> Result<(), ProtoError> {
        self.encoder.set_max_size(size_limit(self.limit));
        self.metadata.response_code = rcode;
        if self.opt {
            self.encoder.emit(0)?; // the root name
            RecordType::OPT.emit(&mut self.encoder)?;
            self.encoder.emit_u16(ADVERTISED_PAYLOAD)?;
            // TTL: extended rcode (its high bits), version 0, no flags.
            self.encoder.emit_u32(u32::from(rcode.high()) << 24)?;
            self.encoder.emit_u16(0)?;
        }
        let header = Header {
            metadata: self.metadata,
            counts: HeaderCounts {
                queries: 1,
                answers: self.answers,
                authorities: 0,
                additionals: u16::from(self.opt),
            },
        };
        self.encoder.emit_at(self.header, header)
    }
}

enum Rdata<'a> {
    Bytes(&'a [u8]),
    Name(&'a Name),
}

fn emit_answer(
    encoder: &mut BinEncoder<'_>,
    rtype: RecordType,
    ttl: u32,
    rdata: &Rdata<'_>,
) -> Result<(), ProtoError> {
    encoder.emit_u16(POINTER_TO_QUESTION)?;
    rtype.emit(encoder)?;
    DNSClass::IN.emit(encoder)?;
    encoder.emit_u32(ttl)?;
    let length = encoder.place::<u16>()?;
    match rdata {
        Rdata::Bytes(bytes) => encoder.emit_vec(bytes)?,
        // Uncompressed: the encoder then keeps no pointer table, and the
        // target rarely shares a suffix with the question anyway.
        Rdata::Name(name) => {
            name.emit(&mut encoder.with_name_encoding(NameEncoding::Uncompressed))?
        }
    }
    let written = u16::try_from(encoder.len_since_place(&length))
        .map_err(|_| ProtoError::from("record data longer than a message"))?;
    length.replace(encoder, written)
}

/// A reply with no question, for a query whose question did not parse.
pub(crate) fn write_header_only(
    out: &mut Vec<u8>,
    request: &Metadata,
    rcode: ResponseCode,
) -> Result<(), ProtoError> {
    out.clear();
    let mut encoder = BinEncoder::new(out);
    Header {
        metadata: reply_metadata(request, rcode),
        counts: HeaderCounts::default(),
    }
    .emit(&mut encoder)
}

/// A reply carrying only `rcode` (SERVFAIL, REFUSED, BADVERS, NOERROR).
pub(crate) fn write_rcode(
    out: &mut Vec<u8>,
    request: &Request<'_>,
    limit: usize,
    rcode: ResponseCode,
) -> Result<(), ProtoError> {
    ReplyWriter::new(out, request, limit)?.finish(rcode)
}

/// What a reply from an upstream server says, once it is known to answer
/// our query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UpstreamReply {
    pub(crate) rcode: ResponseCode,
    pub(crate) truncated: bool,
}

/// Checks that `reply` answers the query we sent with `id` and `question`:
/// anything else is a stray or spoofed datagram and is skipped. A reply
/// without a question is accepted only as an error (FORMERR and the like).
pub(crate) fn check_upstream_reply(
    reply: &[u8],
    id: u16,
    question: &[u8],
) -> Option<UpstreamReply> {
    let header = Header::read(&mut BinDecoder::new(reply)).ok()?;
    if header.id != id || header.message_type != MessageType::Response {
        return None;
    }
    match header.counts.queries {
        1 => {
            let echoed = reply.get(HEADER_LEN..HEADER_LEN + question.len())?;
            // Name case-insensitively (servers may normalise it), type and
            // class exactly.
            let (name, rest) = question.split_at(question.len().saturating_sub(4));
            let (echoed_name, echoed_rest) = echoed.split_at(name.len());
            if !echoed_name.eq_ignore_ascii_case(name) || echoed_rest != rest {
                return None;
            }
        }
        0 if header.response_code != ResponseCode::NoError => {}
        _ => return None,
    }
    Some(UpstreamReply {
        rcode: header.response_code,
        truncated: header.truncation,
    })
}

/// Sets a message's id (the first two bytes).
pub(crate) fn set_id(msg: &mut [u8], id: u16) {
    if let Some(bytes) = msg.get_mut(..2) {
        bytes.copy_from_slice(&id.to_be_bytes());
    }
}

/// Writes `name` as `NameLookup` takes it into `key`: lowercase labels
/// joined by dots, no trailing dot. False when it cannot be a berth name
/// (the root, or a label holding a dot, a backslash or a byte that is not
/// printable ASCII, which no container name, alias or hostname has): such a
/// name is forwarded as is.
pub(crate) fn lookup_key(name: &Name, key: &mut String) -> bool {
    key.clear();
    if name.is_root() {
        return false;
    }
    for (i, label) in name.iter().enumerate() {
        if i > 0 {
            key.push('.');
        }
        for &b in label {
            if !b.is_ascii_graphic() || b == b'.' || b == b'\\' {
                return false;
            }
            key.push(char::from(b.to_ascii_lowercase()));
        }
    }
    true
}

/// The address a reverse name (`4.3.2.1.in-addr.arpa.`, or 32 nibbles and
/// `ip6.arpa.`) stands for; `None` for anything else, partial reverse zones
/// included, which are then forwarded as Docker does.
pub(crate) fn reverse_address(name: &Name) -> Option<IpAddr> {
    let mut labels = name.iter();
    let arpa = labels.next_back()?;
    let zone = labels.next_back()?;
    if !arpa.eq_ignore_ascii_case(b"arpa") {
        return None;
    }
    if zone.eq_ignore_ascii_case(b"in-addr") {
        if labels.len() != 4 {
            return None;
        }
        let mut octets = [0u8; 4];
        // Labels run from the last octet to the first.
        for (octet, label) in octets.iter_mut().rev().zip(labels) {
            *octet = decimal_octet(label)?;
        }
        Some(IpAddr::V4(Ipv4Addr::from(octets)))
    } else if zone.eq_ignore_ascii_case(b"ip6") {
        if labels.len() != 32 {
            return None;
        }
        // Labels run from the lowest nibble to the highest.
        let mut bits = 0u128;
        for label in labels.rev() {
            let [digit] = label else { return None };
            bits = bits << 4 | u128::from(char::from(*digit).to_digit(16)?);
        }
        Some(IpAddr::V6(Ipv6Addr::from(bits)))
    } else {
        None
    }
}

/// `0`..`255` in decimal without leading zeros, as reverse names write
/// octets.
fn decimal_octet(label: &[u8]) -> Option<u8> {
    if label.is_empty() || label.len() > 3 || (label.len() > 1 && label[0] == b'0') {
        return None;
    }
    if !label.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(label).ok()?.parse().ok()
}

/// The name a PTR answer points at: the lookup's name made fully qualified
/// (Docker's `dns.Fqdn`). `None` if it is not a valid DNS name.
pub(crate) fn ptr_target(host: &str) -> Option<Name> {
    let name = if host.ends_with('.') {
        Name::from_ascii(host)
    } else {
        Name::from_ascii(format!("{host}."))
    };
    name.ok().filter(|n| !n.is_root())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns as HickoryEdns, Message};
    use hickory_proto::rr::RData;

    pub(crate) fn query_bytes(name: &str, qtype: RecordType, edns: Option<u16>) -> Vec<u8> {
        let mut msg = Message::query();
        msg.metadata.id = 0x1234;
        msg.metadata.recursion_desired = true;
        msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        if let Some(payload) = edns {
            let mut e = HickoryEdns::new();
            e.set_max_payload(payload);
            msg.set_edns(e);
        }
        msg.to_vec().unwrap()
    }

    #[test]
    fn parses_a_query_and_its_edns() {
        let bytes = query_bytes("Db.App.", RecordType::AAAA, Some(1400));
        let req = parse_request(&bytes).unwrap();
        assert_eq!(req.metadata.id, 0x1234);
        assert_eq!(req.qtype, RecordType::AAAA);
        assert_eq!(req.qclass, DNSClass::IN);
        assert_eq!(
            req.edns,
            Some(Edns {
                payload: 1400,
                version: 0
            })
        );
        assert_eq!(req.reply_limit(Transport::Udp), 1400);
        assert_eq!(req.reply_limit(Transport::Tcp), MAX_TCP_MESSAGE);
        // The question keeps the client's case.
        assert_eq!(&req.question[..4], b"\x02Db\x03");
    }

    #[test]
    fn udp_limit_is_512_without_edns_and_capped_with_it() {
        let plain = query_bytes("a.", RecordType::A, None);
        assert_eq!(
            parse_request(&plain).unwrap().reply_limit(Transport::Udp),
            512
        );
        let big = query_bytes("a.", RecordType::A, Some(65000));
        assert_eq!(
            parse_request(&big).unwrap().reply_limit(Transport::Udp),
            MAX_UDP_PAYLOAD
        );
    }

    #[test]
    fn rejects_like_miekg_dns() {
        assert_eq!(parse_request(&[0; 11]).unwrap_err(), Rejection::Ignore);

        let mut response = query_bytes("a.", RecordType::A, None);
        response[2] |= 0x80;
        assert_eq!(parse_request(&response).unwrap_err(), Rejection::Ignore);

        let mut notify = query_bytes("a.", RecordType::A, None);
        notify[2] |= 4 << 3;
        assert!(matches!(
            parse_request(&notify),
            Err(Rejection::Reply {
                rcode: ResponseCode::NotImp,
                ..
            })
        ));

        let mut two_questions = query_bytes("a.", RecordType::A, None);
        two_questions[5] = 2;
        assert!(matches!(
            parse_request(&two_questions),
            Err(Rejection::Reply {
                rcode: ResponseCode::FormErr,
                ..
            })
        ));

        let mut cut = query_bytes("abc.", RecordType::A, None);
        cut.truncate(15);
        assert!(matches!(
            parse_request(&cut),
            Err(Rejection::Reply {
                rcode: ResponseCode::FormErr,
                ..
            })
        ));
    }

    #[test]
    fn an_opt_outside_the_additional_section_is_formerr() {
        let mut bytes = query_bytes("a.", RecordType::A, Some(1232));
        // Move the OPT record's count from ARCOUNT to ANCOUNT.
        bytes[7] = 1;
        bytes[11] = 0;
        assert!(matches!(
            parse_request(&bytes),
            Err(Rejection::Reply {
                rcode: ResponseCode::FormErr,
                ..
            })
        ));
    }

    fn decode(bytes: &[u8]) -> Message {
        Message::from_vec(bytes).unwrap()
    }

    #[test]
    fn writes_answers_with_pointer_names_and_echoes_question() {
        let bytes = query_bytes("db.", RecordType::A, None);
        let req = parse_request(&bytes).unwrap();
        let mut out = Vec::new();
        let mut w = ReplyWriter::new(&mut out, &req, 512).unwrap();
        assert!(w.push_address("10.0.0.2".parse().unwrap(), 600));
        assert!(w.push_address("10.0.0.3".parse().unwrap(), 600));
        w.finish(ResponseCode::NoError).unwrap();

        let msg = decode(&out);
        assert_eq!(msg.metadata.id, 0x1234);
        assert_eq!(msg.metadata.message_type, MessageType::Response);
        assert!(msg.metadata.recursion_desired);
        assert!(msg.metadata.recursion_available);
        assert!(!msg.metadata.authoritative);
        assert_eq!(msg.queries[0].name().to_ascii(), "db.");
        let answers: Vec<_> = msg
            .answers
            .iter()
            .map(|r| (r.name.to_ascii(), r.ttl, r.data.clone()))
            .collect();
        assert_eq!(
            answers,
            vec![
                (
                    "db.".into(),
                    600,
                    RData::A("10.0.0.2".parse::<Ipv4Addr>().unwrap().into())
                ),
                (
                    "db.".into(),
                    600,
                    RData::A("10.0.0.3".parse::<Ipv4Addr>().unwrap().into())
                ),
            ]
        );
        // Owner names are two-byte pointers: header 12 + question 8 + 2*16.
        assert_eq!(out.len(), 12 + 8 + 2 * 16);
    }

    #[test]
    fn too_many_answers_truncate_at_the_limit() {
        let bytes = query_bytes("many.", RecordType::AAAA, None);
        let req = parse_request(&bytes).unwrap();
        let mut out = Vec::new();
        let mut w = ReplyWriter::new(&mut out, &req, 512).unwrap();
        let mut added = 0;
        for i in 0..100u16 {
            if !w.push_address(IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i)), 600) {
                break;
            }
            added += 1;
        }
        w.finish(ResponseCode::NoError).unwrap();
        assert!(out.len() <= 512);
        let msg = decode(&out);
        assert!(msg.metadata.truncation);
        assert_eq!(msg.answers.len(), added);
        // 12 + 10 question, 28 per AAAA record.
        assert_eq!(added, (512 - 22) / 28);
    }

    #[test]
    fn edns_queries_get_an_opt_record_and_badvers_its_extended_code() {
        let bytes = query_bytes("db.", RecordType::A, Some(4096));
        let req = parse_request(&bytes).unwrap();
        let mut out = Vec::new();
        write_rcode(&mut out, &req, 4096, ResponseCode::BADVERS).unwrap();
        let msg = decode(&out);
        // 16 is BADVERS for OPT (hickory names it BADSIG, same code).
        assert_eq!(u16::from(msg.metadata.response_code), 16);
        let edns = msg.edns.unwrap();
        assert_eq!(edns.max_payload(), ADVERTISED_PAYLOAD);
        assert_eq!(edns.version(), 0);
    }

    #[test]
    fn writes_ptr_answers() {
        let bytes = query_bytes("2.0.17.172.in-addr.arpa.", RecordType::PTR, None);
        let req = parse_request(&bytes).unwrap();
        let mut out = Vec::new();
        let mut w = ReplyWriter::new(&mut out, &req, 512).unwrap();
        assert!(w.push_ptr(&ptr_target("db.app").unwrap(), 600));
        w.finish(ResponseCode::NoError).unwrap();
        let msg = decode(&out);
        assert_eq!(msg.answers[0].name.to_ascii(), "2.0.17.172.in-addr.arpa.");
        assert_eq!(
            msg.answers[0].data,
            RData::PTR(hickory_proto::rr::rdata::PTR(
                Name::from_ascii("db.app.").unwrap()
            ))
        );
    }

    #[test]
    fn header_only_replies_keep_id_and_flags() {
        let bytes = query_bytes("db.", RecordType::A, None);
        let req = parse_request(&bytes).unwrap();
        let mut out = Vec::new();
        write_header_only(&mut out, &req.metadata, ResponseCode::FormErr).unwrap();
        assert_eq!(out.len(), HEADER_LEN);
        let msg = decode(&out);
        assert_eq!(msg.metadata.id, 0x1234);
        assert_eq!(msg.metadata.response_code, ResponseCode::FormErr);
        assert!(msg.queries.is_empty());
    }

    #[test]
    fn lookup_keys_are_lowercase_without_trailing_dot() {
        let mut key = String::new();
        assert!(lookup_key(&Name::from_ascii("Db.App.").unwrap(), &mut key));
        assert_eq!(key, "db.app");
        assert!(lookup_key(&Name::from_ascii("web_1").unwrap(), &mut key));
        assert_eq!(key, "web_1");
        assert!(!lookup_key(&Name::root(), &mut key));
        let odd = Name::from_labels(vec![b"a.b".as_slice()]).unwrap();
        assert!(!lookup_key(&odd, &mut key));
        let binary = Name::from_labels(vec![b"a\x00".as_slice()]).unwrap();
        assert!(!lookup_key(&binary, &mut key));
    }

    #[test]
    fn reverse_names_parse_to_addresses() {
        let parse = |s: &str| reverse_address(&Name::from_ascii(s).unwrap());
        assert_eq!(
            parse("4.3.2.1.in-addr.arpa."),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(
            parse("4.3.2.1.IN-ADDR.ARPA"),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(parse("3.2.1.in-addr.arpa."), None);
        assert_eq!(parse("5.4.3.2.1.in-addr.arpa."), None);
        assert_eq!(parse("04.3.2.1.in-addr.arpa."), None);
        assert_eq!(parse("256.3.2.1.in-addr.arpa."), None);
        assert_eq!(parse("in-addr.arpa."), None);
        assert_eq!(parse("example.com."), None);
        let v6: Ipv6Addr = "fd00::1:2".parse().unwrap();
        let nibbles: String = v6
            .octets()
            .iter()
            .rev()
            .map(|b| format!("{:x}.{:x}.", b & 0xf, b >> 4))
            .collect();
        assert_eq!(parse(&format!("{nibbles}ip6.arpa.")), Some(IpAddr::V6(v6)));
        assert_eq!(parse(&format!("{}ip6.arpa.", &nibbles[2..])), None);
        assert_eq!(
            parse(&format!("{}ip6.arpa.", nibbles.replace('f', "g"))),
            None
        );
    }

    #[test]
    fn upstream_replies_must_match_id_and_question() {
        let query = query_bytes("example.test.", RecordType::A, None);
        let req = parse_request(&query).unwrap();
        let mut reply = Vec::new();
        write_rcode(&mut reply, &req, 512, ResponseCode::NoError).unwrap();
        let question = req.question;
        assert_eq!(
            check_upstream_reply(&reply, 0x1234, question),
            Some(UpstreamReply {
                rcode: ResponseCode::NoError,
                truncated: false
            })
        );
        assert_eq!(check_upstream_reply(&reply, 0x1235, question), None);
        assert_eq!(
            check_upstream_reply(&query, 0x1234, question),
            None,
            "not a response"
        );
        // Case may differ; the name may not.
        reply[13] = b'E';
        assert!(check_upstream_reply(&reply, 0x1234, question).is_some());
        reply[14] = b'y';
        assert_eq!(check_upstream_reply(&reply, 0x1234, question), None);
        // No question: accepted only as an error.
        let mut formerr = Vec::new();
        write_header_only(&mut formerr, &req.metadata, ResponseCode::FormErr).unwrap();
        assert!(check_upstream_reply(&formerr, 0x1234, question).is_some());
        let mut empty = Vec::new();
        write_header_only(&mut empty, &req.metadata, ResponseCode::NoError).unwrap();
        assert_eq!(check_upstream_reply(&empty, 0x1234, question), None);
    }

    #[test]
    fn ids_are_set() {
        let mut msg = query_bytes("a.", RecordType::A, None);
        set_id(&mut msg, 0xbeef);
        assert_eq!(parse_request(&msg).unwrap().metadata.id, 0xbeef);
        let mut short = [1];
        set_id(&mut short, 7); // too short: left alone, no panic
        assert_eq!(short, [1]);
    }

    #[test]
    fn ptr_targets_are_fully_qualified() {
        assert_eq!(ptr_target("db").unwrap().to_ascii(), "db.");
        assert_eq!(ptr_target("db.app.").unwrap().to_ascii(), "db.app.");
        assert!(ptr_target("").is_none());
        assert!(ptr_target(&"x".repeat(64)).is_none());
    }

    /// Random and mutated bytes never panic the parser, and every reply it
    /// leads to parses back.
    #[test]
    fn fuzzed_input_never_panics() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let seeds = [
            query_bytes("db.app.", RecordType::A, Some(1232)),
            query_bytes("4.3.2.1.in-addr.arpa.", RecordType::PTR, None),
        ];
        let mut out = Vec::new();
        for round in 0..50_000 {
            let mut msg = if round % 2 == 0 {
                let len = (next() % 80) as usize;
                (0..len).map(|_| next() as u8).collect::<Vec<_>>()
            } else {
                let mut m = seeds[round % 4 / 2].clone();
                for _ in 0..(next() % 4 + 1) {
                    let i = (next() as usize) % m.len();
                    m[i] = next() as u8;
                }
                m.truncate((next() as usize) % (m.len() + 1));
                m
            };
            // Headers with plausible counts reach the deeper decoders.
            if round % 3 == 0 && msg.len() >= 12 {
                msg[2] &= 0x07;
                msg[4] = 0;
                msg[5] = 1;
            }
            match parse_request(&msg) {
                Ok(req) => {
                    write_rcode(
                        &mut out,
                        &req,
                        req.reply_limit(Transport::Udp),
                        ResponseCode::ServFail,
                    )
                    .unwrap();
                    decode(&out);
                    let _ = reverse_address(&req.name);
                    let _ = lookup_key(&req.name, &mut String::new());
                }
                Err(Rejection::Reply { metadata, rcode }) => {
                    write_header_only(&mut out, &metadata, rcode).unwrap();
                    decode(&out);
                }
                Err(Rejection::Ignore) => {}
            }
            let _ = check_upstream_reply(&msg, 0x1234, &seeds[0][12..]);
        }
    }
}
