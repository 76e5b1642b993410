//! Our replies: the question echoed, answers whose owner name points at it,
//! truncation at the client's limit, and an OPT record for EDNS queries.

use std::net::IpAddr;

use hickory_proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding, Place};
use hickory_proto::ProtoError;

use super::{Request, HEADER_LEN};

/// What our OPT records advertise: DNS Flag Day 2020's size, which never
/// fragments.
const ADVERTISED_PAYLOAD: u16 = 1232;
/// Root name, type, class, TTL and an empty RDATA.
const OPT_RECORD_LEN: usize = 11;
/// A compression pointer to the question's name, right after the header.
const POINTER_TO_QUESTION: u16 = 0xC000 | HEADER_LEN as u16;

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

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use hickory_proto::op::MessageType;
    use hickory_proto::rr::RData;

    use super::super::tests::{decode, query_bytes};
    use super::super::{parse_request, ptr_target};
    use super::*;

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
}
