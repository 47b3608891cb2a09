//! TLS connections against a real rustls + h2 server on loopback: the
//! handshake, ALPN, verification modes, client certificates and the
//! PeerCertificate event. Certificates are made with the openssl CLI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use h2core::{Address, ConnEvent, ConnectOptions, Event, TlsOptions, Transport, Verify, Wake};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::time::{timeout_at, Instant};

struct NotifyWake(Arc<Notify>);

impl Wake for NotifyWake {
    fn wake(&self) {
        self.0.notify_one();
    }
}

struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn pem(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).expect("read generated PEM")
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed (scripts/ensure-system-deps.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn leaf(dir: &Path, name: &str, san: &str, usage: &str) {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &format!("{name}.key"),
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            &format!("/CN={name}"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("subjectAltName={san}\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n"),
    )
    .expect("write ext file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate.
fn make_pki(tag: &str) -> Pki {
    let dir = std::env::temp_dir().join(format!("h2core-tls-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    openssl(
        &dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ca.key",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-sha256",
            "-days",
            "2",
            "-subj",
            &format!("/CN=h2core test ca {tag}"),
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    leaf(&dir, "server", "DNS:localhost,IP:127.0.0.1", "serverAuth");
    leaf(&dir, "client", "DNS:client.example", "clientAuth");
    Pki { dir }
}

/// How each TLS handshake the server completed went, in order.
type Handshakes = Arc<std::sync::Mutex<Vec<Option<rustls::HandshakeKind>>>>;

/// A TLS + h2 server that accepts connections and keeps them open.
async fn start_server(pki: &Pki, alpn: &[&[u8]], client_ca: bool) -> u16 {
    start_logging_server(pki, alpn, client_ca).await.0
}

/// [`start_server`], also logging each handshake's kind (full or resumed).
async fn start_logging_server(pki: &Pki, alpn: &[&[u8]], client_ca: bool) -> (u16, Handshakes) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(pki.pem("server.pem").as_bytes())
            .collect::<Result<_, _>>()
            .expect("server chain");
    let key = PrivateKeyDer::from_pem_slice(pki.pem("server.key").as_bytes()).expect("server key");
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = if client_ca {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(pki.pem("ca.pem").as_bytes()) {
            roots.add(c.expect("ca")).expect("add ca");
        }
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_single_cert(chain, key).expect("server config");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handshakes = Handshakes::default();
    let log = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                log.lock()
                    .expect("log")
                    .push(tls.get_ref().1.handshake_kind());
                let Ok(mut conn) = h2::server::handshake(tls).await else {
                    return;
                };
                while let Some(Ok(_)) = conn.accept().await {}
            });
        }
    });
    (port, handshakes)
}

fn options(port: u16, tls: TlsOptions) -> ConnectOptions {
    let mut o = ConnectOptions::new(
        Address::Tcp {
            host: "127.0.0.1".into(),
            port,
        },
        format!("localhost:{port}"),
    );
    o.connect_timeout = Duration::from_secs(10);
    o.tls = Some(tls);
    o
}

fn tls(pki: &Pki, name: &str) -> TlsOptions {
    TlsOptions {
        root_certs: Some(pki.pem("ca.pem")),
        private_key: None,
        cert_chain: None,
        server_name: name.into(),
        verify: Verify::Full,
        want_peer_certificate: false,
    }
}

/// Connects and returns the connection's events up to Ready or Closed.
async fn connect(opts: ConnectOptions) -> Vec<ConnEvent> {
    let notify = Arc::new(Notify::new());
    let t = Transport::new(Box::new(NotifyWake(notify.clone())));
    let id = t.connect(opts);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        for e in t.drain(Vec::new()) {
            if let Event::Connection { conn, event } = e {
                assert_eq!(conn, id);
                let last = matches!(event, ConnEvent::Ready | ConnEvent::Closed { .. });
                seen.push(event);
                if last {
                    t.close_connection(id);
                    return seen;
                }
            }
        }
        if timeout_at(deadline, notify.notified()).await.is_err() {
            panic!("no Ready or Closed within 20 s; saw {seen:?}");
        }
    }
}

fn closed_reason(events: &[ConnEvent]) -> String {
    match events.last() {
        Some(ConnEvent::Closed { reason }) => reason.clone(),
        other => panic!("expected Closed, got {other:?}"),
    }
}

#[tokio::test]
async fn tls_handshake_reaches_ready() {
    let pki = make_pki("ready");
    let port = start_server(&pki, &[b"h2"], false).await;
    let events = connect(options(port, tls(&pki, "localhost"))).await;
    assert_eq!(events, vec![ConnEvent::Ready]);
    // IP literals are verified against IP SANs.
    let events = connect(options(port, tls(&pki, "127.0.0.1"))).await;
    assert_eq!(events, vec![ConnEvent::Ready]);
}

#[tokio::test]
async fn wrong_name_fails_unless_only_the_chain_is_checked() {
    let pki = make_pki("name");
    let port = start_server(&pki, &[b"h2"], false).await;
    let reason = closed_reason(&connect(options(port, tls(&pki, "other.example"))).await);
    assert!(
        reason.starts_with("TLS handshake failed: invalid peer certificate")
            && reason.contains("other.example"),
        "{reason}"
    );
    let chain_only = TlsOptions {
        verify: Verify::ChainOnly,
        want_peer_certificate: true,
        ..tls(&pki, "other.example")
    };
    let events = connect(options(port, chain_only)).await;
    let server_der = CertificateDer::from_pem_slice(pki.pem("server.pem").as_bytes()).expect("pem");
    assert_eq!(
        events,
        vec![
            ConnEvent::PeerCertificate {
                der: Bytes::copy_from_slice(server_der.as_ref())
            },
            ConnEvent::Ready
        ]
    );
}

#[tokio::test]
async fn unknown_ca_fails_unless_verification_is_off() {
    let pki = make_pki("ca");
    let other = make_pki("ca-other");
    let port = start_server(&pki, &[b"h2"], false).await;
    let reason = closed_reason(&connect(options(port, tls(&other, "localhost"))).await);
    assert!(reason.contains("UnknownIssuer"), "{reason}");
    let off = TlsOptions {
        verify: Verify::None,
        ..tls(&other, "localhost")
    };
    assert_eq!(connect(options(port, off)).await, vec![ConnEvent::Ready]);
}

#[tokio::test]
async fn server_without_h2_alpn_is_refused() {
    let pki = make_pki("alpn");
    let port = start_server(&pki, &[], false).await;
    let reason = closed_reason(&connect(options(port, tls(&pki, "localhost"))).await);
    assert!(reason.contains("did not select HTTP/2"), "{reason}");
}

#[tokio::test]
async fn client_certificates_for_mutual_tls() {
    let pki = make_pki("mtls");
    let port = start_server(&pki, &[b"h2"], true).await;
    let with_cert = TlsOptions {
        private_key: Some(pki.pem("client.key")),
        cert_chain: Some(pki.pem("client.pem")),
        ..tls(&pki, "localhost")
    };
    assert_eq!(
        connect(options(port, with_cert)).await,
        vec![ConnEvent::Ready]
    );
    // Without one the server aborts the handshake (TLS 1.3: after the
    // client's Finished, so the failure may surface as a closed connection).
    let events = connect(options(port, tls(&pki, "localhost"))).await;
    assert!(
        matches!(events.last(), Some(ConnEvent::Closed { .. })),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_reconnect_resumes_the_tls_session() {
    // One rustls configuration per set of credentials, kept across
    // connections: its session store lets the next handshake resume.
    let pki = make_pki("resume");
    let (port, handshakes) = start_logging_server(&pki, &[b"h2"], false).await;
    let leaf = CertificateDer::pem_slice_iter(pki.pem("server.pem").as_bytes())
        .next()
        .expect("a leaf")
        .expect("PEM");
    for _ in 0..3 {
        // A resumed session still reports the server's certificate (for
        // checkServerIdentity): rustls keeps it with the session.
        let mut opts = tls(&pki, "localhost");
        opts.want_peer_certificate = true;
        let events = connect(options(port, opts)).await;
        assert_eq!(
            events,
            vec![
                ConnEvent::PeerCertificate {
                    der: Bytes::copy_from_slice(leaf.as_ref())
                },
                ConnEvent::Ready
            ]
        );
    }
    // Different credentials (here: client certificates) are another
    // configuration: a full handshake again.
    let mut with_cert = tls(&pki, "localhost");
    with_cert.private_key = Some(pki.pem("client.key"));
    with_cert.cert_chain = Some(pki.pem("client.pem"));
    assert_eq!(
        connect(options(port, with_cert)).await,
        vec![ConnEvent::Ready]
    );
    use rustls::HandshakeKind::{Full, Resumed};
    assert_eq!(
        *handshakes.lock().expect("log"),
        vec![Some(Full), Some(Resumed), Some(Resumed), Some(Full)]
    );
}
