//! Reading HTTP/1.1 requests off a socket for the tests' mock servers, byte by byte
//! (httparse for the head), so each mock keeps full control of what it writes back.

use std::io::{self, Read};
use std::net::TcpStream;

/// A request off the wire.
pub struct Incoming {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Reads one request; `None` when the client closed the connection. Bodies need a
/// `Content-Length` (chunked request bodies end the connection).
pub fn read_request(stream: &mut TcpStream, unread: &mut Vec<u8>) -> io::Result<Option<Incoming>> {
    let (head_len, method, path, headers) = loop {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut head = httparse::Request::new(&mut slots);
        if let httparse::Status::Complete(len) = head.parse(unread).map_err(invalid_data)? {
            let headers: Vec<(String, String)> = head
                .headers
                .iter()
                .map(|h| {
                    let value = String::from_utf8_lossy(h.value).into_owned();
                    (h.name.to_ascii_lowercase(), value)
                })
                .collect();
            let method = head.method.unwrap_or_default().to_owned();
            let path = head.path.unwrap_or_default().to_owned();
            break (len, method, path, headers);
        }
        if !read_more(stream, unread)? {
            return Ok(None);
        }
    };
    if header(&headers, "transfer-encoding").is_some() {
        return Err(invalid_data("the mock needs Content-Length request bodies"));
    }
    let body_len = match header(&headers, "content-length") {
        Some(value) => value.trim().parse::<usize>().map_err(invalid_data)?,
        None => 0,
    };
    let end = head_len + body_len;
    while unread.len() < end {
        if !read_more(stream, unread)? {
            return Ok(None);
        }
    }
    let body = unread[head_len..end].to_vec();
    unread.drain(..end);
    Ok(Some(Incoming {
        method,
        path,
        headers,
        body,
    }))
}

/// Appends what the socket has; false at end of stream.
fn read_more(stream: &mut TcpStream, unread: &mut Vec<u8>) -> io::Result<bool> {
    let mut buf = [0; 8192];
    let n = stream.read(&mut buf)?;
    unread.extend_from_slice(&buf[..n]);
    Ok(n > 0)
}

pub fn invalid_data(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
