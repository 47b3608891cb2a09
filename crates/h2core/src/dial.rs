//! Dialing: TCP (with TCP_NODELAY, since gRPC messages are latency-bound and
//! h2 already coalesces writes) and unix-domain sockets, and the `Stream`
//! the HTTP/2 handshake runs over: the plain socket or TLS on top of it
//! (possibly through an HTTP CONNECT tunnel, see `proxy.rs`).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Where to connect. Resolution happens above (the TypeScript resolvers): the
/// host here is an IP literal or a name the OS resolver can look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Tcp { host: String, port: u16 },
    Unix { path: String },
}

impl Address {
    /// Parses the forms the channel layer hands down: `host:port`,
    /// `[v6]:port` and `unix:/path` (or `unix:relative`).
    pub fn parse(s: &str) -> Result<Address, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(format!("Invalid unix socket address {s:?}: empty path"));
            }
            return Ok(Address::Unix {
                path: path.to_owned(),
            });
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, rest) = rest
                .split_once(']')
                .ok_or_else(|| format!("Invalid address {s:?}: missing ']'"))?;
            let port = rest
                .strip_prefix(':')
                .ok_or_else(|| format!("Invalid address {s:?}: missing port"))?;
            (host, port)
        } else {
            s.rsplit_once(':')
                .ok_or_else(|| format!("Invalid address {s:?}: expected host:port"))?
        };
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("Invalid address {s:?}: bad port {port:?}"))?;
        if host.is_empty() {
            return Err(format!("Invalid address {s:?}: empty host"));
        }
        Ok(Address::Tcp {
            host: host.to_owned(),
            port,
        })
    }
}

/// An established byte stream to the server.
pub enum Socket {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

/// What the HTTP/2 connection reads and writes: one type for every transport,
/// so the handshake and the frame sniffer are written once.
pub enum Stream {
    Plain(Socket),
    Tls(Box<TlsStream<Socket>>),
}

/// Forwards the tokio I/O traits to whichever variant is live.
macro_rules! delegate_io {
    ($ty:ty { $($variant:path),+ }) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $($variant(s) => Pin::new(s).poll_read(cx, buf),)+
                }
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $($variant(s) => Pin::new(s).poll_write(cx, buf),)+
                }
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $($variant(s) => Pin::new(s).poll_write_vectored(cx, bufs),)+
                }
            }

            fn is_write_vectored(&self) -> bool {
                match self {
                    $($variant(s) => s.is_write_vectored(),)+
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $($variant(s) => Pin::new(s).poll_flush(cx),)+
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $($variant(s) => Pin::new(s).poll_shutdown(cx),)+
                }
            }
        }
    };
}

#[cfg(unix)]
delegate_io!(Socket { Socket::Tcp, Socket::Unix });
#[cfg(not(unix))]
delegate_io!(Socket { Socket::Tcp });
delegate_io!(Stream { Stream::Plain, Stream::Tls });

/// Connects within `timeout`. The error text is shown to users in UNAVAILABLE
/// statuses, so it names the address.
pub async fn dial(addr: &Address, timeout: Duration) -> io::Result<Socket> {
    let fut = async {
        match addr {
            Address::Tcp { host, port } => {
                let s = TcpStream::connect((host.as_str(), *port)).await?;
                s.set_nodelay(true)?;
                Ok(Socket::Tcp(s))
            }
            #[cfg(unix)]
            Address::Unix { path } => {
                Ok(Socket::Unix(tokio::net::UnixStream::connect(path).await?))
            }
            #[cfg(not(unix))]
            Address::Unix { .. } => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "unix-domain sockets are not supported on this platform",
            )),
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r.map_err(|e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("connect to {} failed: {e}", display(addr)),
            )
        }),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "connect to {} timed out after {} ms",
                display(addr),
                timeout.as_millis()
            ),
        )),
    }
}

pub fn display(addr: &Address) -> String {
    match addr {
        Address::Tcp { host, port } if host.contains(':') => format!("[{host}]:{port}"),
        Address::Tcp { host, port } => format!("{host}:{port}"),
        Address::Unix { path } => format!("unix:{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        assert_eq!(
            Address::parse("127.0.0.1:50051"),
            Ok(Address::Tcp {
                host: "127.0.0.1".into(),
                port: 50051
            })
        );
        assert_eq!(
            Address::parse("[::1]:443"),
            Ok(Address::Tcp {
                host: "::1".into(),
                port: 443
            })
        );
        assert_eq!(
            Address::parse("unix:/tmp/s.sock"),
            Ok(Address::Unix {
                path: "/tmp/s.sock".into()
            })
        );
        assert_eq!(
            Address::parse("unix:///tmp/s.sock"),
            Ok(Address::Unix {
                path: "/tmp/s.sock".into()
            })
        );
        assert!(Address::parse("localhost").is_err());
        assert!(Address::parse("host:99999").is_err());
        assert!(Address::parse(":80").is_err());
        assert!(Address::parse("unix:").is_err());
    }

    #[tokio::test]
    async fn refused_connection_names_the_address() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let addr = Address::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        let err = dial(&addr, Duration::from_secs(5)).await.err().unwrap();
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }

    /// `unix-abstract:name` targets reach the dialer as a path with a leading
    /// NUL, the way Linux names abstract sockets.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn dials_abstract_unix_sockets() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("h2grpc-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
        let target = Address::Unix {
            path: format!("\0{name}"),
        };
        let socket = dial(&target, Duration::from_secs(5)).await;
        assert!(socket.is_ok(), "{:?}", socket.err());
        assert!(listener.accept().is_ok());
    }
}
