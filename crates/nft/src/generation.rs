//! The ruleset generation: a counter the kernel bumps on every nftables
//! commit in the namespace, by anyone (`NFT_MSG_GETGEN` over
//! `NETLINK_NETFILTER`). One request and one reply, whatever the size of
//! the ruleset: how the watchdog tells "nothing changed" cheaply.

use std::io;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWGEN: u16 = 15;
const NFT_MSG_GETGEN: u16 = 16;
const NFTA_GEN_ID: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLMSG_HDRLEN: usize = 16;
const NFGENMSG_LEN: usize = 4;
const NLA_TYPE_MASK: u16 = 0x3fff;

#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error("ask the kernel for the nftables ruleset generation: {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("the kernel's reply to NFT_MSG_GETGEN did not parse")]
    Malformed,
}

/// The current ruleset generation of the calling thread's namespace.
pub(crate) fn ruleset_generation() -> Result<u32, GenerationError> {
    let io = |op| move |source| GenerationError::Io { op, source };
    let mut socket = Socket::new(NETLINK_NETFILTER).map_err(io("open a netlink socket"))?;
    socket.bind_auto().map_err(io("bind the socket"))?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(io("connect the socket"))?;
    socket.send(&request(1), 0).map_err(io("send"))?;
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        socket.recv(&mut buf, 0).map_err(io("receive"))?;
        if let Some(generation) = parse_reply(&buf)? {
            return Ok(generation);
        }
    }
}

fn request(seq: u32) -> Vec<u8> {
    let len = NLMSG_HDRLEN + NFGENMSG_LEN;
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN).to_ne_bytes());
    msg.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    // nfgenmsg: AF_UNSPEC, version 0, resource id 0.
    msg.extend_from_slice(&[0, 0, 0, 0]);
    msg
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

/// The generation in a datagram, `None` if it holds no `NEWGEN` message;
/// an error message from the kernel is an error.
fn parse_reply(mut buf: &[u8]) -> Result<Option<u32>, GenerationError> {
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32_at(buf, 0).ok_or(GenerationError::Malformed)? as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(GenerationError::Malformed);
        }
        let kind = u16_at(buf, 4).ok_or(GenerationError::Malformed)?;
        let payload = &buf[NLMSG_HDRLEN..len];
        if kind == NLMSG_ERROR {
            let code = u32_at(payload, 0).ok_or(GenerationError::Malformed)? as i32;
            if code != 0 {
                return Err(GenerationError::Io {
                    op: "the kernel refused",
                    source: io::Error::from_raw_os_error(-code),
                });
            }
        } else if kind == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN {
            let mut attrs = payload.get(NFGENMSG_LEN..).unwrap_or(&[]);
            while attrs.len() >= 4 {
                let alen = u16_at(attrs, 0).ok_or(GenerationError::Malformed)? as usize;
                if alen < 4 || alen > attrs.len() {
                    return Err(GenerationError::Malformed);
                }
                let akind = u16_at(attrs, 2).ok_or(GenerationError::Malformed)? & NLA_TYPE_MASK;
                if akind == NFTA_GEN_ID {
                    let id = attrs.get(4..8).ok_or(GenerationError::Malformed)?;
                    return Ok(Some(u32::from_be_bytes([id[0], id[1], id[2], id[3]])));
                }
                attrs = attrs.get((alen + 3) & !3..).unwrap_or(&[]);
            }
            return Err(GenerationError::Malformed);
        }
        buf = buf.get((len + 3) & !3..).unwrap_or(&[]);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(generation: u32) -> Vec<u8> {
        let mut attrs = Vec::new();
        attrs.extend_from_slice(&8u16.to_ne_bytes());
        attrs.extend_from_slice(&NFTA_GEN_ID.to_ne_bytes());
        attrs.extend_from_slice(&generation.to_be_bytes());
        attrs.extend_from_slice(&8u16.to_ne_bytes());
        attrs.extend_from_slice(&2u16.to_ne_bytes());
        attrs.extend_from_slice(&4242u32.to_be_bytes());
        let len = NLMSG_HDRLEN + NFGENMSG_LEN + attrs.len();
        let mut msg = Vec::new();
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN).to_ne_bytes());
        msg.extend_from_slice(&[0; 10]);
        msg.extend_from_slice(&[0, 0, 0, 0]);
        msg.extend(attrs);
        msg
    }

    #[test]
    fn the_request_is_a_getgen_of_the_nftables_subsystem() {
        let msg = request(7);
        assert_eq!(msg.len(), 20);
        assert_eq!(u16_at(&msg, 4), Some(0x0a10));
        assert_eq!(u16_at(&msg, 6), Some(NLM_F_REQUEST));
        assert_eq!(u32_at(&msg, 8), Some(7));
    }

    #[test]
    fn the_generation_is_read_big_endian() {
        assert_eq!(parse_reply(&reply(0x0102_0304)).unwrap(), Some(0x0102_0304));
    }

    #[test]
    fn errors_and_garbage_are_errors_not_panics() {
        let mut error = Vec::new();
        error.extend_from_slice(&36u32.to_ne_bytes());
        error.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        error.extend_from_slice(&[0; 10]);
        error.extend_from_slice(&(-libc::EPERM).to_ne_bytes());
        error.extend_from_slice(&[0; 16]);
        assert!(parse_reply(&error).is_err());
        let whole = reply(5);
        for cut in 0..whole.len() {
            let _ = parse_reply(&whole[..cut]);
        }
        assert_eq!(parse_reply(&[]).unwrap(), None);
    }
}
