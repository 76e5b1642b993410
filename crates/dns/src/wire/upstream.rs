//! Replies from upstream servers: whether one answers the query we
//! forwarded, and the id rewriting that forwarding needs.

use hickory_proto::op::{Header, MessageType, ResponseCode};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::HEADER_LEN;

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

#[cfg(test)]
mod tests {
    use hickory_proto::rr::RecordType;

    use super::super::tests::query_bytes;
    use super::super::{parse_request, write_header_only, write_rcode};
    use super::*;

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
}
