//! The control socket's clients: accepting them, their requests (stdin,
//! attach, wait, resize, status, start) and the frames queued to them.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

use berth_oci::shim::proto::{self, ShimStatus};

use super::{Res, Server};
use crate::log;

/// A client that falls this far behind is dropped rather than letting
/// output pile up in the shim.
const MAX_CLIENT_BACKLOG: usize = 4 << 20;

pub(super) struct Client {
    pub(super) stream: UnixStream,
    pub(super) inbuf: Vec<u8>,
    pub(super) outbuf: Vec<u8>,
    /// `ATTACH` flags; 0 when not attached.
    pub(super) attach: u8,
    pub(super) waiting: bool,
    pub(super) read_closed: bool,
    pub(super) dead: bool,
}

impl Server {
    pub(super) fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    self.clients.push(Client {
                        stream,
                        inbuf: Vec::new(),
                        outbuf: Vec::new(),
                        attach: 0,
                        waiting: false,
                        read_closed: false,
                        dead: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    log!("accept: {e}");
                    break;
                }
            }
        }
    }

    pub(super) fn read_client(&mut self, i: usize) {
        let mut chunk = [0u8; 8192];
        loop {
            let c = &mut self.clients[i];
            match c.stream.read(&mut chunk) {
                Ok(0) => {
                    // Half-closed: it may still read what it attached to.
                    c.read_closed = true;
                    break;
                }
                Ok(n) => c.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.dead = true;
                    break;
                }
            }
        }
        loop {
            let frame = proto::take_frame(&mut self.clients[i].inbuf);
            match frame {
                Ok(Some((kind, payload))) => self.handle(i, kind, payload),
                Ok(None) => break,
                Err(e) => {
                    log!("client: {e}");
                    self.clients[i].dead = true;
                    break;
                }
            }
        }
        let c = &mut self.clients[i];
        // Nothing more will be asked, and nothing is owed.
        if c.read_closed && c.attach == 0 && !c.waiting && c.outbuf.is_empty() {
            c.dead = true;
        }
    }

    fn handle(&mut self, i: usize, kind: u8, payload: Vec<u8>) {
        match kind {
            proto::STDIN => {
                if self.cfg.stdin && !self.stdin_close {
                    self.stdin_buf.extend_from_slice(&payload);
                }
            }
            proto::STDIN_CLOSE => self.stdin_close = true,
            proto::ATTACH => {
                let flags = payload.first().copied().unwrap_or(0);
                self.clients[i].attach = flags & (proto::ATTACH_STDOUT | proto::ATTACH_STDERR);
                // Attaching to nothing still waits for the exit.
                self.clients[i].waiting = true;
            }
            proto::WAIT => self.clients[i].waiting = true,
            proto::RESIZE => {
                let reply = if payload.len() != 4 {
                    Err("bad resize request".to_owned())
                } else if !self.cfg.tty {
                    Err("the process has no tty".to_owned())
                } else {
                    let w = u16::from_be_bytes([payload[0], payload[1]]);
                    let h = u16::from_be_bytes([payload[2], payload[3]]);
                    self.winsize = Some((w, h));
                    self.apply_winsize(w, h)
                };
                self.reply(i, reply.map(|()| Vec::new()));
            }
            proto::STATUS => {
                let status = ShimStatus {
                    state: self.state,
                    pid: self.pid.map_or(0, |p| p.as_raw() as u32),
                    shim_pid: std::process::id(),
                    tty: self.cfg.tty,
                    stdin: self.cfg.stdin,
                };
                let body = serde_json::to_vec(&status).map_err(|e| e.to_string());
                self.reply(i, body);
            }
            proto::START => {
                let r = self.start();
                self.reply(i, r.map(|pid| pid.to_string().into_bytes()));
            }
            other => {
                self.reply(i, Err(format!("unknown request kind {other:#x}")));
                self.clients[i].read_closed = true;
            }
        }
    }

    fn reply(&mut self, i: usize, r: Res<Vec<u8>>) {
        let c = &mut self.clients[i];
        match r {
            Ok(body) => queue(c, proto::OK, &body),
            Err(e) => queue(c, proto::ERROR, e.as_bytes()),
        }
        flush_client(c);
    }
}

pub(super) fn queue(c: &mut Client, kind: u8, data: &[u8]) {
    if c.dead {
        return;
    }
    c.outbuf.extend_from_slice(&proto::header(kind, data.len()));
    c.outbuf.extend_from_slice(data);
    if c.outbuf.len() > MAX_CLIENT_BACKLOG {
        log!("dropping a client that does not keep up");
        c.dead = true;
    }
}

pub(super) fn flush_client(c: &mut Client) {
    while !c.outbuf.is_empty() && !c.dead {
        match c.stream.write(&c.outbuf) {
            Ok(n) => {
                c.outbuf.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => c.dead = true,
        }
    }
    if c.outbuf.is_empty() && c.read_closed && c.attach == 0 && !c.waiting {
        c.dead = true;
    }
}
