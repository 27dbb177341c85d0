//! The metrics endpoint's side of HTTP/1.1 (RFC 9112), as little as a scraper needs:
//! one request head per connection, parsed from a bounded buffer, answered once, then
//! the connection is closed. Bodies are never read (GET and HEAD have none; anything
//! else is refused before one matters).
//!
//! [`parse`] takes any bytes: it never panics and never looks past [`MAX_REQUEST`].

use core::fmt::{self, Write};

/// The largest request head accepted (request line and headers); a scraper sends a
/// few hundred bytes. Longer heads are answered 431 and the connection closed.
pub const MAX_REQUEST: usize = 2048;

/// The one path served.
pub const METRICS_PATH: &str = "/metrics";

/// The content type of the Prometheus text format this endpoint serves.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An HTTP status the endpoint answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    HeaderTooLarge,
    VersionNotSupported,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::HeaderTooLarge => 431,
            Status::VersionNotSupported => 505,
        }
    }
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::HeaderTooLarge => "Request Header Fields Too Large",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }
}

/// A request method, as far as the endpoint cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// Any other valid method token.
    Other,
}

/// A parsed request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: Method,
    /// The request target (origin form, starting with `/`).
    pub target: &'a str,
}

/// What the bytes received so far amount to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// No complete head yet, and still within [`MAX_REQUEST`]: read more.
    Incomplete,
    Request(Request<'a>),
    /// Answer with this status and close.
    Invalid(Status),
}

/// What the endpoint does for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200 with the metrics; `head`: without the body (HEAD).
    Metrics { head: bool },
    /// An error status with a short text body.
    Error(Status),
}

/// Parses the request head at the start of `buf` (the bytes received so far).
pub fn parse(buf: &[u8]) -> Parsed<'_> {
    let window = &buf[..buf.len().min(MAX_REQUEST)];
    let Some(end) = head_end(window) else {
        return if buf.len() >= MAX_REQUEST {
            Parsed::Invalid(Status::HeaderTooLarge)
        } else {
            Parsed::Incomplete
        };
    };
    let Ok(head) = core::str::from_utf8(&window[..end]) else {
        return Parsed::Invalid(Status::BadRequest);
    };
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let Some(request_line) = lines.next() else {
        return Parsed::Invalid(Status::BadRequest);
    };
    let request = match request_line_of(request_line) {
        Ok(r) => r,
        Err(s) => return Parsed::Invalid(s),
    };
    for line in lines.filter(|l| !l.is_empty()) {
        let valid = line
            .split_once(':')
            .is_some_and(|(name, _)| !name.is_empty() && name.bytes().all(is_tchar));
        if !valid {
            return Parsed::Invalid(Status::BadRequest);
        }
    }
    Parsed::Request(request)
}

/// Where the head ends (the index of its blank line), if it is complete.
fn head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find(|&i| {
        let rest = &buf[i..];
        rest.starts_with(b"\r\n\r\n") || rest.starts_with(b"\n\n") || rest.starts_with(b"\n\r\n")
    })
}

fn request_line_of(line: &str) -> Result<Request<'_>, Status> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Status::BadRequest);
    };
    if method.is_empty() || !method.bytes().all(is_tchar) {
        return Err(Status::BadRequest);
    }
    if !target.starts_with('/') || !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Status::BadRequest);
    }
    match version {
        "HTTP/1.1" | "HTTP/1.0" => {}
        v if v.starts_with("HTTP/") => return Err(Status::VersionNotSupported),
        _ => return Err(Status::BadRequest),
    }
    let method = match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        _ => Method::Other,
    };
    Ok(Request { method, target })
}

/// RFC 9110 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The endpoint's answer to a parsed request: the metrics for GET or HEAD of
/// [`METRICS_PATH`] (a query string is ignored), 404 for any other path, 405 for
/// another method on it.
pub fn answer(req: &Request<'_>) -> Answer {
    let path = req.target.split('?').next().unwrap_or("");
    if path != METRICS_PATH {
        return Answer::Error(Status::NotFound);
    }
    match req.method {
        Method::Get => Answer::Metrics { head: false },
        Method::Head => Answer::Metrics { head: true },
        Method::Other => Answer::Error(Status::MethodNotAllowed),
    }
}

/// Writes a response head: status line, content type and length, `Connection: close`
/// (every answer ends the connection), and `Allow` with a 405.
pub fn write_head(
    w: &mut dyn Write,
    status: Status,
    content_type: &str,
    content_length: usize,
) -> fmt::Result {
    write!(
        w,
        "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\nContent-Length: {content_length}\r\nConnection: close\r\n",
        status.code(),
        status.reason()
    )?;
    if status == Status::MethodNotAllowed {
        w.write_str("Allow: GET, HEAD\r\n")?;
    }
    w.write_str("\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn req(method: Method, target: &str) -> Parsed<'_> {
        Parsed::Request(Request { method, target })
    }

    #[test]
    fn a_scrapers_request() {
        let r = b"GET /metrics HTTP/1.1\r\nHost: 10.1.0.1:9100\r\nUser-Agent: Prometheus/2.45\r\nAccept: text/plain\r\n\r\n";
        assert_eq!(parse(r), req(Method::Get, "/metrics"));
        // Bare newlines are tolerated (RFC 9112 section 2.2).
        assert_eq!(
            parse(b"HEAD /metrics HTTP/1.0\n\n"),
            req(Method::Head, "/metrics")
        );
    }

    #[test]
    fn partial_heads_wait_for_more() {
        let full = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        for n in 0..full.len() {
            assert_eq!(parse(&full[..n]), Parsed::Incomplete, "{n} bytes");
        }
    }

    #[test]
    fn oversized_heads_are_refused_at_the_bound() {
        let mut big = std::vec::Vec::from(&b"GET /metrics HTTP/1.1\r\nX: "[..]);
        big.resize(MAX_REQUEST - 1, b'a');
        assert_eq!(parse(&big), Parsed::Incomplete);
        big.push(b'a');
        assert_eq!(parse(&big), Parsed::Invalid(Status::HeaderTooLarge));
        // A head that ends just past the bound is still too large.
        big.extend_from_slice(b"\r\n\r\n");
        assert_eq!(parse(&big), Parsed::Invalid(Status::HeaderTooLarge));
    }

    #[test]
    fn malformed_heads_are_bad_requests() {
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /met rics HTTP/1.1\r\n\r\n",
            b"G(T /metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics FTP/1.1\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
            b"\r\n\r\n",
        ] {
            assert_eq!(parse(bad), Parsed::Invalid(Status::BadRequest), "{bad:?}");
        }
        assert_eq!(
            parse(b"GET /metrics HTTP/2.0\r\n\r\n"),
            Parsed::Invalid(Status::VersionNotSupported)
        );
    }

    #[test]
    fn only_get_and_head_of_the_metrics_path() {
        let a = |m, t| {
            answer(&Request {
                method: m,
                target: t,
            })
        };
        assert_eq!(a(Method::Get, "/metrics"), Answer::Metrics { head: false });
        assert_eq!(
            a(Method::Get, "/metrics?x=1"),
            Answer::Metrics { head: false }
        );
        assert_eq!(a(Method::Head, "/metrics"), Answer::Metrics { head: true });
        assert_eq!(a(Method::Get, "/"), Answer::Error(Status::NotFound));
        assert_eq!(
            a(Method::Get, "/metrics/x"),
            Answer::Error(Status::NotFound)
        );
        assert_eq!(
            a(Method::Other, "/metrics"),
            Answer::Error(Status::MethodNotAllowed)
        );
        let Parsed::Request(post) = parse(b"POST /metrics HTTP/1.1\r\n\r\n") else {
            panic!()
        };
        assert_eq!(answer(&post), Answer::Error(Status::MethodNotAllowed));
    }

    #[test]
    fn response_heads() {
        let mut s = String::new();
        write_head(&mut s, Status::Ok, CONTENT_TYPE, 12).unwrap();
        assert_eq!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
        );
        s.clear();
        write_head(&mut s, Status::MethodNotAllowed, "text/plain", 0).unwrap();
        assert!(s.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(s.contains("\r\nAllow: GET, HEAD\r\n"));
    }
}
