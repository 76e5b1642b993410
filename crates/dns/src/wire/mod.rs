//! The DNS wire format as the resolver needs it. hickory-proto's decoders
//! validate what clients send (header, question, EDNS and any other record);
//! replies are written with its encoder into a buffer the caller reuses, the
//! answers' owner names being a pointer to the question, so answering a
//! berth name allocates nothing here.
//!
//! `request` parses clients' queries, `reply` writes our answers, `upstream`
//! checks what forwarded queries bring back, `names` turns question names
//! into lookup keys and addresses.

mod names;
mod reply;
mod request;
mod upstream;

pub(crate) use names::{lookup_key, ptr_target, reverse_address};
pub(crate) use reply::{write_header_only, write_rcode, ReplyWriter};
pub(crate) use request::{parse_request, Rejection, Request};
pub(crate) use upstream::{check_upstream_reply, set_id};

pub(crate) const HEADER_LEN: usize = 12;
/// Without EDNS a UDP message may not be longer (RFC 1035 4.2.1).
pub(crate) const CLASSIC_UDP_LIMIT: usize = 512;
/// The longest UDP message sent to a client or taken from an upstream; a
/// client that advertises more is held to it, since larger datagrams
/// fragment and EDNS clients fall back to TCP anyway.
pub(crate) const MAX_UDP_PAYLOAD: usize = 4096;
/// Over TCP the two-byte length prefix is the only limit.
pub(crate) const MAX_TCP_MESSAGE: usize = u16::MAX as usize;

/// How a message reached us, which bounds the reply's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hickory_proto::op::{Edns as HickoryEdns, Message, Query, ResponseCode};
    use hickory_proto::rr::{Name, RecordType};

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

    pub(crate) fn decode(bytes: &[u8]) -> Message {
        Message::from_vec(bytes).unwrap()
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
