//! gRPC status codes and the mappings PROTOCOL-HTTP2 and grpc-go define from
//! HTTP status, RST_STREAM reasons and h2 errors.

use h2::Reason;

/// A gRPC status code (the numeric values are fixed by the gRPC spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Code {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl Code {
    /// Parses a `grpc-status` value. The spec only defines 0..=16; anything
    /// else, or a value that is not a plain decimal, is a lying server.
    pub fn from_header(value: &[u8]) -> Option<Code> {
        if value.is_empty() || value.len() > 2 || !value.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = value.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        Code::from_u32(n)
    }

    pub fn from_u32(n: u32) -> Option<Code> {
        use Code::*;
        Some(match n {
            0 => Ok,
            1 => Cancelled,
            2 => Unknown,
            3 => InvalidArgument,
            4 => DeadlineExceeded,
            5 => NotFound,
            6 => AlreadyExists,
            7 => PermissionDenied,
            8 => ResourceExhausted,
            9 => FailedPrecondition,
            10 => Aborted,
            11 => OutOfRange,
            12 => Unimplemented,
            13 => Internal,
            14 => Unavailable,
            15 => DataLoss,
            16 => Unauthenticated,
            _ => return None,
        })
    }
}

/// A call's final status, before trailing metadata is attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub message: String,
}

impl Status {
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
        }
    }
}

/// Maps a non-200 HTTP status (no `grpc-status` present) to a gRPC code, as
/// in "HTTP to gRPC Status Code Mapping" of the gRPC docs.
pub fn code_from_http_status(http: u16) -> Code {
    match http {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// Maps a RST_STREAM (or GOAWAY) error code received from the server to a
/// gRPC code, per PROTOCOL-HTTP2 "Errors".
pub fn code_from_reason(reason: Reason) -> Code {
    match reason {
        Reason::REFUSED_STREAM => Code::Unavailable,
        Reason::CANCEL => Code::Cancelled,
        Reason::ENHANCE_YOUR_CALM => Code::ResourceExhausted,
        Reason::INADEQUATE_SECURITY => Code::PermissionDenied,
        _ => Code::Internal,
    }
}

/// Turns an h2 error seen on a stream into the status the call ends with.
/// The status of a call whose request h2 could not send at all (no stream
/// slot ever came, or opening the stream failed: the connection is closing
/// or gone). Its server never saw it, so it says "Stream refused", which
/// the JS side retries transparently once (gRFC A6), as it does a refused
/// stream: a wait-for-ready call started just as its connection died
/// should reach the next connection, not fail.
pub fn not_sent_status(err: &h2::Error) -> Status {
    let cause = status_from_h2_error(err);
    if cause.message.starts_with("Stream refused") {
        return cause;
    }
    Status::new(
        Code::Unavailable,
        format!(
            "Stream refused: the request could not be sent ({})",
            cause.message
        ),
    )
}

pub fn status_from_h2_error(err: &h2::Error) -> Status {
    if err.is_io() {
        return Status::new(
            Code::Unavailable,
            format!(
                "Connection lost: {}",
                err.get_io()
                    .map_or_else(|| err.to_string(), |e| e.to_string())
            ),
        );
    }
    if err.is_go_away() {
        // h2 puts the server's GOAWAY on a stream only when the stream was
        // above its last-stream-id or never left the client: the server's
        // application never saw it, so it may be replayed (gRFC A6 transparent
        // retry; the JS side keys on the "Stream refused" prefix).
        if err.is_remote() {
            return Status::new(
                Code::Unavailable,
                format!(
                    "Stream refused: connection closed by GOAWAY ({})",
                    describe_reason(err.reason())
                ),
            );
        }
        // h2 itself sent this GOAWAY because the server broke a protocol rule
        // (a frame flood, a bad frame): say so, with h2's own account, so it
        // does not read as a server decision.
        if err.is_library() {
            return Status::new(
                Code::Unavailable,
                format!("Connection closed by the client's HTTP/2 layer: {err}"),
            );
        }
        // The connection is going (or has gone) away under this stream: the
        // RPC never reached, or lost, its server, so a retry elsewhere may work.
        return Status::new(
            Code::Unavailable,
            format!(
                "Connection closed by GOAWAY ({})",
                describe_reason(err.reason())
            ),
        );
    }
    if err.is_reset() && err.is_remote() {
        let reason = err.reason().unwrap_or(Reason::INTERNAL_ERROR);
        return Status::new(
            code_from_reason(reason),
            format!(
                "Stream reset by server with code {}",
                describe_reason(Some(reason))
            ),
        );
    }
    match err.reason() {
        Some(Reason::REFUSED_STREAM) => Status::new(Code::Unavailable, "Stream refused"),
        Some(reason) => Status::new(
            Code::Internal,
            format!("HTTP/2 protocol error: {}", describe_reason(Some(reason))),
        ),
        None => Status::new(Code::Internal, format!("HTTP/2 error: {err}")),
    }
}

fn describe_reason(reason: Option<Reason>) -> String {
    match reason {
        Some(r) => format!("{r:?} ({})", u32::from(r)),
        None => "no reason".to_owned(),
    }
}

/// Decodes a `grpc-message` value: percent-encoded UTF-8 per PROTOCOL-HTTP2.
/// Malformed escapes are kept literally and invalid UTF-8 is replaced, since
/// a message is for humans and must never fail the call.
pub fn percent_decode(value: &[u8]) -> String {
    if !value.contains(&b'%') {
        return String::from_utf8_lossy(value).into_owned();
    }
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        if b == b'%' && i + 2 < value.len() {
            if let (Some(h), Some(l)) = (hex(value[i + 1]), hex(value[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a status message the way PROTOCOL-HTTP2 asks a sender to:
/// everything outside printable ASCII (0x20..=0x7E) and `%` itself.
pub fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_that_was_never_sent_reads_as_refused() {
        // What the JS side retries transparently (isRefusedStream).
        let s = not_sent_status(&h2::Error::from(Reason::INTERNAL_ERROR));
        assert_eq!(s.code, Code::Unavailable);
        assert!(s.message.starts_with("Stream refused: "), "{}", s.message);
        // An already refused one keeps its own words.
        let refused = not_sent_status(&h2::Error::from(Reason::REFUSED_STREAM));
        assert_eq!(refused.message, "Stream refused");
    }

    #[test]
    fn parses_grpc_status() {
        assert_eq!(Code::from_header(b"0"), Some(Code::Ok));
        assert_eq!(Code::from_header(b"14"), Some(Code::Unavailable));
        assert_eq!(Code::from_header(b"16"), Some(Code::Unauthenticated));
        assert_eq!(Code::from_header(b"17"), None);
        assert_eq!(Code::from_header(b""), None);
        assert_eq!(Code::from_header(b"-1"), None);
        assert_eq!(Code::from_header(b"007"), None);
        assert_eq!(Code::from_header(b"1 "), None);
    }

    #[test]
    fn maps_http_status() {
        assert_eq!(code_from_http_status(400), Code::Internal);
        assert_eq!(code_from_http_status(401), Code::Unauthenticated);
        assert_eq!(code_from_http_status(403), Code::PermissionDenied);
        assert_eq!(code_from_http_status(404), Code::Unimplemented);
        for s in [429, 502, 503, 504] {
            assert_eq!(code_from_http_status(s), Code::Unavailable);
        }
        assert_eq!(code_from_http_status(500), Code::Unknown);
        assert_eq!(code_from_http_status(302), Code::Unknown);
    }

    #[test]
    fn maps_rst_stream_reasons() {
        assert_eq!(code_from_reason(Reason::REFUSED_STREAM), Code::Unavailable);
        assert_eq!(code_from_reason(Reason::CANCEL), Code::Cancelled);
        assert_eq!(
            code_from_reason(Reason::ENHANCE_YOUR_CALM),
            Code::ResourceExhausted
        );
        assert_eq!(code_from_reason(Reason::PROTOCOL_ERROR), Code::Internal);
        assert_eq!(code_from_reason(Reason::NO_ERROR), Code::Internal);
        assert_eq!(code_from_reason(Reason::FLOW_CONTROL_ERROR), Code::Internal);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode(b"plain"), "plain");
        assert_eq!(percent_decode(b"a%20b"), "a b");
        assert_eq!(percent_decode(b"%C3%BCn%C3%AF"), "ünï");
        assert_eq!(percent_decode(b"100%"), "100%");
        assert_eq!(percent_decode(b"%4"), "%4");
        assert_eq!(percent_decode(b"%zz%41"), "%zzA");
        assert_eq!(percent_decode(b"%FF"), "\u{FFFD}");
    }

    #[test]
    fn percent_round_trip() {
        let s = "ünïcödé %41 \t\n 日本";
        let enc = percent_encode(s);
        assert!(enc.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        assert_eq!(percent_decode(enc.as_bytes()), s);
    }
}
