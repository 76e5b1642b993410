//! Clients' queries: which ones are answered, and what of them replies
//! depend on (the question as sent, the EDNS payload size).

use hickory_proto::op::{Header, HeaderCounts, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::{Transport, CLASSIC_UDP_LIMIT, HEADER_LEN, MAX_TCP_MESSAGE, MAX_UDP_PAYLOAD};

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

#[cfg(test)]
mod tests {
    use super::super::tests::query_bytes;
    use super::*;

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
}
