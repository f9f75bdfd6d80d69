//! A second, lighter way to a standalone Redis for `get`, `set`, `delete`
//! and `cas`: one pipelined connection whose socket the JS thread itself
//! drives (the binding watches it with Node's event loop; see
//! [`LocalIo`]). Such a call is written and answered on the JS thread,
//! with no hop to the runtime's threads and back (measured in
//! docs/architecture.md, "Redis: a connection the JS thread drives").
//!
//! The `redis` crate's multiplexed connection stays for everything else
//! (`cas`, `list`, a Cluster, TLS), and for any call while this connection
//! is being made, after it failed, or on another thread: this one is an
//! addition, never the only way. It is made in the background (a thread of
//! its own, blocking, within the connect timeout: TCP or Unix socket, then
//! `AUTH` and `SELECT` as the URL says), and handed to the thread that asked
//! for it; only that thread reads, writes or closes it.

use crate::error::{Error, ErrorKind, Result};
use crate::exec::{LocalIo, RawSocket, Watch};
use crate::net::response_timeout::{self, Limit};
use redis::ConnectionAddr;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
#[cfg(unix)]
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// After a failed attempt, the next waits this long (calls meanwhile take
/// the multiplexed connection, which reports the failure).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Commands wait to be written together up to this many bytes.
const WRITE_BATCH: usize = 64 * 1024;

/// The read buffer's usual size.
const READ_CHUNK: usize = 64 * 1024;

/// A reply of Redis (RESP2), as far as `GET`, `SET`, `DEL`, `EVALSHA` (of
/// a script that returns a number), `AUTH` and `SELECT` answer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Reply {
    Status(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    /// An error reply: Redis's own text, code first.
    Error(String),
}

/// A command as RESP: an array of bulk strings, the name first.
pub(super) fn command(name: &str, args: &[&[u8]]) -> Vec<u8> {
    use std::io::Write;
    let size = args.iter().map(|a| a.len() + 16).sum::<usize>() + name.len() + 32;
    let mut out = Vec::with_capacity(size);
    // Writing into a Vec cannot fail.
    let _ = write!(out, "*{}\r\n", args.len() + 1);
    for arg in std::iter::once(name.as_bytes()).chain(args.iter().copied()) {
        let _ = write!(out, "${}\r\n", arg.len());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The first reply in `input`, and how many bytes it took; `Ok(None)` when
/// it is not all there yet.
fn parse(input: &[u8]) -> std::result::Result<Option<(Reply, usize)>, String> {
    let Some(end) = input.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = &input[1..end];
    let text = || String::from_utf8_lossy(line).into_owned();
    let number = || {
        std::str::from_utf8(line)
            .ok()
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or_else(|| format!("not a number: {:?}", text()))
    };
    let reply = match input.first() {
        Some(b'+') => Reply::Status(text()),
        Some(b'-') => Reply::Error(text()),
        Some(b':') => Reply::Int(number()?),
        Some(b'$') => match number()? {
            -1 => Reply::Bulk(None),
            len if len >= 0 => {
                let start = end + 2;
                let stop = start + len as usize;
                if input.len() < stop + 2 {
                    return Ok(None);
                }
                if &input[stop..stop + 2] != b"\r\n" {
                    return Err("a bulk string without its end".into());
                }
                return Ok(Some((
                    Reply::Bulk(Some(input[start..stop].to_vec())),
                    stop + 2,
                )));
            }
            len => return Err(format!("a bulk string of length {len}")),
        },
        other => return Err(format!("an unexpected reply type {other:?}")),
    };
    Ok(Some((reply, end + 2)))
}

/// Where and as whom to connect, from the URL.
pub(super) struct Address {
    to: To,
    username: Option<String>,
    password: Option<String>,
    db: i64,
}

enum To {
    Tcp(String, u16),
    #[cfg(unix)]
    Unix(PathBuf),
}

impl Address {
    /// The address of a plain `redis://` or Unix socket URL; `None` for
    /// TLS, which stays with the `redis` crate.
    pub(super) fn of(client: &redis::Client) -> Option<Address> {
        let info = client.get_connection_info();
        let to = match info.addr() {
            ConnectionAddr::Tcp(host, port) => To::Tcp(host.clone(), *port),
            #[cfg(unix)]
            ConnectionAddr::Unix(path) => To::Unix(path.clone()),
            _ => return None,
        };
        let settings = info.redis_settings();
        Some(Address {
            to,
            username: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
            db: settings.db(),
        })
    }
}

enum Socket {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Socket {
    fn fd(&self) -> RawSocket {
        #[cfg(unix)]
        use std::os::fd::AsRawFd as _;
        #[cfg(windows)]
        use std::os::windows::io::AsRawSocket as _;
        match self {
            #[cfg(unix)]
            Socket::Tcp(s) => s.as_raw_fd(),
            #[cfg(windows)]
            Socket::Tcp(s) => s.as_raw_socket(),
            #[cfg(unix)]
            Socket::Unix(s) => s.as_raw_fd(),
        }
    }

    fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s
                .set_read_timeout(timeout)
                .and(s.set_write_timeout(timeout)),
            #[cfg(unix)]
            Socket::Unix(s) => s
                .set_read_timeout(timeout)
                .and(s.set_write_timeout(timeout)),
        }
    }

    fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.set_nonblocking(true),
            #[cfg(unix)]
            Socket::Unix(s) => s.set_nonblocking(true),
        }
    }

    /// Connects and authenticates, blocking, all within `limit`.
    fn open(address: &Address, limit: Duration) -> std::result::Result<Socket, String> {
        let deadline = Instant::now() + limit;
        let left = || {
            deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| "no connection within the connect timeout".to_owned())
        };
        let mut socket = match &address.to {
            To::Tcp(host, port) => {
                let mut last = format!("{host} has no address");
                let mut found = None;
                for addr in (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(|e| e.to_string())?
                {
                    match TcpStream::connect_timeout(&addr, left()?) {
                        Ok(stream) => {
                            found = Some(stream);
                            break;
                        }
                        Err(e) => last = e.to_string(),
                    }
                }
                let stream = found.ok_or(last)?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                Socket::Tcp(stream)
            }
            #[cfg(unix)]
            To::Unix(path) => Socket::Unix(UnixStream::connect(path).map_err(|e| e.to_string())?),
        };
        let mut handshake: Vec<Vec<u8>> = Vec::new();
        if let Some(password) = &address.password {
            let mut args: Vec<&[u8]> = Vec::new();
            if let Some(user) = &address.username {
                args.push(user.as_bytes());
            }
            args.push(password.as_bytes());
            handshake.push(command("AUTH", &args));
        }
        if address.db != 0 {
            handshake.push(command("SELECT", &[address.db.to_string().as_bytes()]));
        }
        for request in handshake {
            socket
                .set_timeout(Some(left()?))
                .map_err(|e| e.to_string())?;
            socket.write_all(&request).map_err(|e| e.to_string())?;
            let mut input = Vec::new();
            let reply = loop {
                if let Some((reply, _)) = parse(&input)? {
                    break reply;
                }
                let mut buf = [0; 512];
                match socket.read(&mut buf) {
                    Ok(0) => return Err("the server closed the connection".into()),
                    Ok(n) => input.extend_from_slice(&buf[..n]),
                    Err(e) => return Err(e.to_string()),
                }
            };
            if let Reply::Error(message) = reply {
                return Err(message);
            }
        }
        socket.set_nonblocking().map_err(|e| e.to_string())?;
        Ok(socket)
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Socket::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Socket::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Answer = oneshot::Sender<Result<Reply>>;

/// A connection handed to its thread.
struct Conn {
    socket: Socket,
    owner: ThreadId,
    /// Takes new commands; false once it failed or the store closed.
    open: bool,
    /// Whether an event loop watches the socket: then only
    /// [`LocalIo::release`] closes it.
    watched: bool,
    out: Vec<u8>,
    written: usize,
    /// What was read: `input[..filled]`; the rest is room, zeroed once.
    input: Vec<u8>,
    filled: usize,
    /// The callers waiting, in the order of their commands, with when
    /// each was sent.
    waiting: VecDeque<(Answer, Instant)>,
}

enum Link {
    /// None yet, or the last one failed or was let go; the next attempt
    /// not before `retry_at`.
    Down {
        retry_at: Option<Instant>,
    },
    Connecting,
    Up(Conn),
}

struct State {
    closed: bool,
    link: Link,
}

/// The connection of one store, made lazily and again after a failure.
pub(super) struct Pipe {
    address: Address,
    place: String,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
    state: Mutex<State>,
}

impl Pipe {
    pub(super) fn new(
        address: Address,
        place: String,
        connect_timeout: Duration,
        response_timeout: Option<Duration>,
    ) -> Pipe {
        Pipe {
            address,
            place,
            connect_timeout,
            response_timeout,
            state: Mutex::new(State {
                closed: false,
                link: Link::Down { retry_at: None },
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this thread can send now; if there is no connection, starts
    /// making one for this thread (and says no).
    pub(super) fn usable_here(self: &Arc<Self>) -> bool {
        let here = std::thread::current().id();
        let mut state = self.state();
        if state.closed {
            return false;
        }
        match &state.link {
            Link::Up(conn) => conn.open && conn.owner == here,
            Link::Connecting => false,
            Link::Down { retry_at } => {
                if retry_at.is_some_and(|at| Instant::now() < at) {
                    return false;
                }
                state.link = Link::Connecting;
                let pipe = self.clone();
                let spawned = std::thread::Builder::new()
                    .name("fedikv-redis-connect".into())
                    .spawn(move || pipe.connect(here));
                if spawned.is_err() {
                    state.link = Link::Down {
                        retry_at: Some(Instant::now() + RETRY_AFTER),
                    };
                }
                false
            }
        }
    }

    fn connect(&self, owner: ThreadId) {
        let outcome = Socket::open(&self.address, self.connect_timeout);
        let mut state = self.state();
        state.link = match outcome {
            Ok(socket) if !state.closed => Link::Up(Conn {
                socket,
                owner,
                open: true,
                watched: false,
                out: Vec::new(),
                written: 0,
                input: vec![0; READ_CHUNK],
                filled: 0,
                waiting: VecDeque::new(),
            }),
            // Closed meanwhile: the socket is dropped here, never watched.
            Ok(_) => Link::Down { retry_at: None },
            Err(_) => Link::Down {
                retry_at: Some(Instant::now() + RETRY_AFTER),
            },
        };
    }

    /// Sends `command` if this thread can; the answer comes when the event
    /// loop reads it. `None`: use the other connection.
    pub(super) fn send(&self, command: &[u8]) -> Option<oneshot::Receiver<Result<Reply>>> {
        let mut state = self.state();
        let Link::Up(conn) = &mut state.link else {
            return None;
        };
        if !conn.open || conn.owner != std::thread::current().id() {
            return None;
        }
        let (answer, reply) = oneshot::channel();
        // With answers awaited, the event loop is about to read them and
        // then write what piled up meanwhile (`ready`), in one system call
        // for many commands; alone, the command goes at once.
        let alone = conn.waiting.is_empty();
        conn.out.extend_from_slice(command);
        conn.waiting.push_back((answer, Instant::now()));
        if !alone && conn.out.len() < WRITE_BATCH {
            return Some(reply);
        }
        if let Err(e) = flush(conn) {
            let error = self.lost(&e.to_string());
            self.fail(&mut state, error);
        }
        Some(reply)
    }

    fn lost(&self, why: &str) -> Error {
        Error::new(
            ErrorKind::Connection,
            format!(
                "Redis: the connection to {} was lost: {why} (the next operation reconnects)",
                self.place
            ),
        )
    }

    /// Fails every waiting caller with `error`; the connection takes no
    /// more commands, and goes once the event loop lets go of it.
    fn fail(&self, state: &mut State, error: Error) {
        if let Link::Up(conn) = &mut state.link {
            conn.open = false;
            for (answer, _) in conn.waiting.drain(..) {
                let _ = answer.send(Err(error.clone()));
            }
            if !conn.watched {
                state.link = Link::Down { retry_at: None };
            }
        }
    }

    /// Reads what came, and answers the callers whose replies are complete.
    fn read(&self, conn: &mut Conn) -> std::result::Result<(), String> {
        loop {
            if conn.filled == conn.input.len() {
                // A reply longer than the buffer: it grows (zeroed once).
                conn.input.resize(conn.input.len() * 2, 0);
            }
            let room = conn.input.len() - conn.filled;
            match conn.socket.read(&mut conn.input[conn.filled..]) {
                Ok(0) => return Err("the server closed the connection".into()),
                Ok(n) => {
                    conn.filled += n;
                    // Less than there was room for: all there is for now
                    // (the event loop says when more comes).
                    if n < room {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
        let mut taken = 0;
        while let Some((reply, size)) = parse(&conn.input[taken..conn.filled])? {
            taken += size;
            let Some((answer, _)) = conn.waiting.pop_front() else {
                return Err("a reply to no command".into());
            };
            let _ = answer.send(Ok(reply));
        }
        conn.input.copy_within(taken..conn.filled, 0);
        conn.filled -= taken;
        if conn.filled == 0 && conn.input.len() > 4 * READ_CHUNK {
            // After a long reply, back to the usual size.
            conn.input = vec![0; READ_CHUNK];
        }
        Ok(())
    }
}

/// Writes what is pending until done or the socket would block.
fn flush(conn: &mut Conn) -> io::Result<()> {
    while conn.written < conn.out.len() {
        match conn.socket.write(&conn.out[conn.written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => conn.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    conn.out.clear();
    conn.written = 0;
    Ok(())
}

impl LocalIo for Pipe {
    fn watch(&self) -> Option<Watch> {
        let mut state = self.state();
        let Link::Up(conn) = &mut state.link else {
            return None;
        };
        if conn.owner != std::thread::current().id() {
            return None;
        }
        conn.watched = true;
        let oldest = conn.waiting.front().map(|(_, since)| *since);
        Some(Watch {
            fd: conn.socket.fd(),
            write: conn.written < conn.out.len(),
            busy: oldest.is_some(),
            deadline: oldest
                .zip(self.response_timeout)
                .map(|(since, limit)| (since + limit).saturating_duration_since(Instant::now())),
            done: !conn.open && conn.waiting.is_empty(),
        })
    }

    fn ready(&self, readable: bool, writable: bool) {
        let mut state = self.state();
        let closed = state.closed;
        let Link::Up(conn) = &mut state.link else {
            return;
        };
        if conn.owner != std::thread::current().id() {
            return;
        }
        let mut outcome = Ok(());
        if writable {
            outcome = flush(conn).map_err(|e| e.to_string());
        }
        if readable && outcome.is_ok() {
            outcome = self.read(conn);
        }
        if let Err(why) = outcome {
            let error = self.lost(&why);
            self.fail(&mut state, error);
        } else if closed && conn.waiting.is_empty() {
            conn.open = false;
        }
    }

    fn expire(&self) {
        let mut state = self.state();
        let Link::Up(conn) = &mut state.link else {
            return;
        };
        let overdue = match (conn.waiting.front(), self.response_timeout) {
            (Some((_, since)), Some(limit)) => since.elapsed() >= limit,
            _ => false,
        };
        if overdue {
            let error = response_timeout::no_answer(
                "Redis",
                &self.place,
                Limit::Response(self.response_timeout),
            );
            self.fail(&mut state, error);
        }
    }

    fn release(&self, fd: RawSocket) {
        let mut state = self.state();
        if let Link::Up(conn) = &mut state.link {
            if conn.socket.fd() == fd {
                // Whoever still waits would wait forever.
                let error = self.lost("the store let go of it");
                self.fail(&mut state, error);
                state.link = Link::Down { retry_at: None };
            }
        }
    }

    fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        if let Link::Up(conn) = &mut state.link {
            if conn.waiting.is_empty() {
                conn.open = false;
                if !conn.watched {
                    state.link = Link::Down { retry_at: None };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_replies_whole_and_in_pieces() {
        let input = b"+OK\r\n:12\r\n$-1\r\n$5\r\nhe\r\no\r\n-ERR no\r\n";
        let mut replies = Vec::new();
        let mut at = 0;
        while let Some((reply, size)) = parse(&input[at..]).unwrap() {
            replies.push(reply);
            at += size;
        }
        assert_eq!(at, input.len());
        assert_eq!(
            replies,
            [
                Reply::Status("OK".into()),
                Reply::Int(12),
                Reply::Bulk(None),
                Reply::Bulk(Some(b"he\r\no".to_vec())),
                Reply::Error("ERR no".into()),
            ]
        );
        // Every cut short of the whole is "not yet".
        for end in 0..(b"$5\r\nhe\r\no\r\n".len()) {
            assert_eq!(parse(&b"$5\r\nhe\r\no\r\n"[..end]).unwrap(), None);
        }
        assert!(parse(b"*1\r\n").is_err());
        assert!(parse(b"$2\r\nabcd\r\n").is_err());
        assert!(parse(b":x\r\n").is_err());
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(
            command("SET", &[b"k", b"{\"a\":1}"]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$7\r\n{\"a\":1}\r\n"
        );
    }
}
