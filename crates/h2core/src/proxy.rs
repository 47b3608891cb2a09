//! HTTP CONNECT tunnels through a proxy (grpc-js `http_proxy.ts`): the
//! socket is connected to the proxy, asks it for a tunnel to the real target,
//! and from then on carries TLS or h2c to that target. JS decides whether a
//! proxy is used; this module only runs the exchange.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::dial::Socket;

/// A tunnel request: where to, and the `Proxy-Authorization` value if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyOptions {
    /// `host:port` of the real server, as the CONNECT request target.
    pub target: String,
    /// Full header value, e.g. `Basic dXNlcjpwYXNz`.
    pub auth_header: Option<String>,
}

/// A proxy's response head larger than this is refused rather than buffered.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// The CONNECT request bytes. Rejects values that would split the request.
pub fn connect_request(opts: &ProxyOptions) -> Result<Vec<u8>, String> {
    let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
    if opts.target.is_empty() || bad(&opts.target) || opts.target.contains(' ') {
        return Err(format!("invalid proxy CONNECT target {:?}", opts.target));
    }
    let mut req = format!("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n", opts.target);
    if let Some(auth) = &opts.auth_header {
        if bad(auth) {
            return Err("invalid Proxy-Authorization value".to_owned());
        }
        req.push_str("Proxy-Authorization: ");
        req.push_str(auth);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    Ok(req.into_bytes())
}

/// Checks a proxy's response head (status line and headers, up to and
/// including the blank line): any 2xx opens the tunnel.
pub fn parse_connect_response(head: &[u8]) -> Result<(), String> {
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or_else(|| "malformed response from proxy: no status line".to_owned())?;
    let line = std::str::from_utf8(&head[..line_end])
        .map_err(|_| "malformed response from proxy: status line is not text".to_owned())?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    let reason = parts.next().unwrap_or("").trim();
    if !version.starts_with("HTTP/1.") {
        return Err(format!(
            "malformed response from proxy: {:?}",
            truncate(line)
        ));
    }
    let status: u16 = match code.parse() {
        Ok(c) if (100..600).contains(&c) && code.len() == 3 => c,
        _ => {
            return Err(format!(
                "malformed response from proxy: bad status in {:?}",
                truncate(line)
            ))
        }
    };
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(
            format!("proxy refused the tunnel with status {status} {reason}")
                .trim_end()
                .to_owned(),
        )
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Sends CONNECT on `socket` (connected to the proxy) and waits for a 2xx.
/// The head is read a byte at a time so that nothing the target sends right
/// after it is consumed here: those bytes belong to TLS or h2.
pub async fn tunnel(socket: &mut Socket, opts: &ProxyOptions, proxy: &str) -> Result<(), String> {
    let req = connect_request(opts)?;
    let fail = |e: std::io::Error| format!("proxy {proxy}: CONNECT to {} failed: {e}", opts.target);
    socket.write_all(&req).await.map_err(fail)?;
    socket.flush().await.map_err(fail)?;
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    loop {
        let n = socket.read(&mut byte).await.map_err(fail)?;
        if n == 0 {
            return Err(format!(
                "proxy {proxy} closed the connection before answering CONNECT to {}",
                opts.target
            ));
        }
        head.push(byte[0]);
        if head.ends_with(b"\r\n\r\n") {
            break;
        }
        if head.len() > MAX_RESPONSE_HEAD {
            return Err(format!(
                "proxy {proxy}: response to CONNECT is larger than {MAX_RESPONSE_HEAD} bytes"
            ));
        }
    }
    parse_connect_response(&head)
        .map_err(|e| format!("proxy {proxy}: CONNECT to {} failed: {e}", opts.target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_carries_target_and_auth() {
        let req = connect_request(&ProxyOptions {
            target: "example.com:443".into(),
            auth_header: Some("Basic dTpw".into()),
        })
        .unwrap();
        assert_eq!(
            String::from_utf8(req).unwrap(),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\
             Proxy-Authorization: Basic dTpw\r\n\r\n"
        );
    }

    #[test]
    fn request_refuses_header_injection() {
        assert!(connect_request(&ProxyOptions {
            target: "a:1\r\nX: y".into(),
            auth_header: None
        })
        .is_err());
        assert!(connect_request(&ProxyOptions {
            target: "a:1".into(),
            auth_header: Some("Basic x\r\nEvil: 1".into())
        })
        .is_err());
    }

    #[test]
    fn accepts_2xx() {
        assert!(parse_connect_response(b"HTTP/1.1 200 Connection established\r\n\r\n").is_ok());
        assert!(parse_connect_response(b"HTTP/1.0 200\r\nVia: x\r\n\r\n").is_ok());
    }

    #[test]
    fn refusals_name_the_status() {
        let err = parse_connect_response(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            .unwrap_err();
        assert_eq!(
            err,
            "proxy refused the tunnel with status 407 Proxy Authentication Required"
        );
    }

    #[test]
    fn malformed_responses_fail_cleanly() {
        for bad in [
            &b""[..],
            b"garbage",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 \xff\xfe\r\n\r\n",
        ] {
            let err = parse_connect_response(bad).unwrap_err();
            assert!(err.starts_with("malformed response from proxy"), "{err}");
        }
    }

    #[tokio::test]
    async fn tunnel_reads_only_the_head() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let mut got = Vec::new();
            while !got.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            // The tunnel's first bytes arrive in the same segment as the head.
            s.write_all(b"HTTP/1.1 200 OK\r\n\r\nTUNNEL").await.unwrap();
            got
        });
        let addr = crate::dial::Address::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        let mut socket = crate::dial::dial(&addr, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let opts = ProxyOptions {
            target: "backend:50051".into(),
            auth_header: None,
        };
        tunnel(&mut socket, &opts, "test").await.unwrap();
        let mut rest = [0u8; 6];
        socket.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"TUNNEL");
        let req = server.await.unwrap();
        assert!(req.starts_with(b"CONNECT backend:50051 HTTP/1.1\r\n"));
    }

    #[tokio::test]
    async fn proxy_hanging_up_is_an_error() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            // Read the request first: closing with unread data would be a reset.
            let mut buf = vec![0u8; 1024];
            let mut got = Vec::new();
            while !got.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 20").await.unwrap();
        });
        let addr = crate::dial::Address::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        let mut socket = crate::dial::dial(&addr, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let opts = ProxyOptions {
            target: "backend:1".into(),
            auth_header: None,
        };
        let err = tunnel(&mut socket, &opts, "test").await.unwrap_err();
        assert!(err.contains("closed the connection"), "{err}");
    }
}
