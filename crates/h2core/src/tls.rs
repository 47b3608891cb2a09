//! TLS for secure channels: rustls with the `ring` provider, ALPN `h2`,
//! custom or system roots, client certificates (mTLS), and the three
//! verification modes grpc-js users can ask for (full, chain only when JS
//! checks the name itself with `checkServerIdentity`, none).

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, Error, RootCertStore};
use rustls::{SignatureScheme, SupportedProtocolVersion};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::dial::Socket;

/// How much of the server's certificate native code checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Chain to a trusted root and the name (grpc-js default).
    Full,
    /// Chain only: the embedder checks the name (grpc-js `checkServerIdentity`
    /// replaces Node's hostname check, not the chain check).
    ChainOnly,
    /// Nothing (`verifyOptions.rejectUnauthorized: false`). Handshake
    /// signatures are still checked so the peer holds the certificate's key.
    None,
}

/// TLS settings of one connection, from `credentials.createSsl`.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM bundle of trusted roots; `None` uses the system's.
    pub root_certs: Option<String>,
    /// PEM client private key (PKCS#8, PKCS#1 RSA or SEC1), with `cert_chain`.
    pub private_key: Option<String>,
    /// PEM client certificate chain, leaf first.
    pub cert_chain: Option<String>,
    /// SNI and verification name: `grpc.ssl_target_name_override` or the
    /// authority's host. IP literals are verified against IP SANs and sent
    /// without SNI.
    pub server_name: String,
    pub verify: Verify,
    /// Report the peer's leaf certificate (DER) so the embedder can check it.
    pub want_peer_certificate: bool,
}

impl fmt::Debug for TlsOptions {
    // The private key stays out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsOptions")
            .field("custom_roots", &self.root_certs.is_some())
            .field("client_cert", &self.cert_chain.is_some())
            .field("server_name", &self.server_name)
            .field("verify", &self.verify)
            .finish()
    }
}

const TLS_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The system's roots, loaded once per process (reading them costs
/// milliseconds; every secure connection without custom roots needs them).
fn system_roots() -> Result<Arc<RootCertStore>, String> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default();
                return Err(format!(
                    "no system root certificates could be loaded{why}; pass rootCerts to \
                     credentials.createSsl or set SSL_CERT_FILE"
                ));
            }
            Ok(Arc::new(store))
        })
        .clone()
}

/// Parses every certificate in a PEM bundle; `what` names it in errors.
pub fn parse_certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        certs.push(item.map_err(|e| format!("invalid PEM in {what}: {e}"))?);
    }
    if certs.is_empty() {
        return Err(format!("no PEM certificate found in {what}"));
    }
    Ok(certs)
}

/// Parses a PEM private key in any of the forms OpenSSL writes.
pub fn parse_private_key(pem: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            "no PEM private key (PKCS#8, RSA or EC) found in privateKey".to_owned()
        }
        e => format!("invalid PEM in privateKey: {e}"),
    })
}

fn root_store(opts: &TlsOptions) -> Result<Arc<RootCertStore>, String> {
    match &opts.root_certs {
        None => system_roots(),
        Some(pem) => {
            let mut store = RootCertStore::empty();
            for cert in parse_certs(pem, "rootCerts")? {
                store
                    .add(cert)
                    .map_err(|e| format!("unusable certificate in rootCerts: {e}"))?;
            }
            Ok(Arc::new(store))
        }
    }
}

/// What shapes a client configuration (the server name is per handshake).
#[derive(PartialEq, Eq)]
struct ConfigKey {
    root_certs: Option<String>,
    private_key: Option<String>,
    cert_chain: Option<String>,
    verify: Verify,
}

/// Configurations kept for reuse, most recently used last.
const CACHED_CONFIGS: usize = 32;

/// The rustls configuration for these options, shared by every connection
/// made with the same credentials: building one parses the roots and the
/// client key each time, and its session store is what lets a reconnect
/// resume the TLS session (an abbreviated handshake) instead of starting a
/// new one. Kept (strongly, up to [`CACHED_CONFIGS`]) across the times no
/// connection uses it, which is exactly when a reconnect needs it.
pub fn shared_client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, String> {
    static CACHE: Mutex<VecDeque<(ConfigKey, Arc<ClientConfig>)>> = Mutex::new(VecDeque::new());
    let key = ConfigKey {
        root_certs: opts.root_certs.clone(),
        private_key: opts.private_key.clone(),
        cert_chain: opts.cert_chain.clone(),
        verify: opts.verify,
    };
    let lock = || CACHE.lock().unwrap_or_else(|e| e.into_inner());
    {
        let mut cache = lock();
        let hit = cache.iter().position(|(k, _)| *k == key);
        if let Some(entry) = hit.and_then(|i| cache.remove(i)) {
            let config = entry.1.clone();
            cache.push_back(entry);
            return Ok(config);
        }
    }
    // Built outside the lock: parsing roots takes milliseconds.
    let config = client_config(opts)?;
    let mut cache = lock();
    if !cache.iter().any(|(k, _)| *k == key) {
        cache.push_back((key, config.clone()));
        if cache.len() > CACHED_CONFIGS {
            cache.pop_front();
        }
    }
    Ok(config)
}

/// Builds the rustls client configuration for these options.
pub fn client_config(opts: &TlsOptions) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(TLS_VERSIONS)
        .map_err(|e| format!("TLS configuration failed: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match opts.verify {
        Verify::None => Arc::new(AcceptAny(provider)),
        mode => {
            let webpki = WebPkiServerVerifier::builder_with_provider(root_store(opts)?, provider)
                .build()
                .map_err(|e| format!("TLS configuration failed: {e}"))?;
            if mode == Verify::ChainOnly {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&opts.private_key, &opts.cert_chain) {
        (Some(key), Some(chain)) => builder
            .with_client_auth_cert(parse_certs(chain, "certChain")?, parse_private_key(key)?)
            .map_err(|e| format!("unusable client certificate or key: {e}"))?,
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(
                "a client private key and certificate chain must be given together".to_owned(),
            )
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

const NO_H2: &str = "the server did not select HTTP/2 (ALPN \"h2\"); it may not speak gRPC \
                     over TLS on this port";

/// Runs the TLS handshake over `socket` and checks that the server selected
/// HTTP/2. Returns the stream and, when asked for, the peer's leaf certificate.
pub async fn handshake(
    socket: Socket,
    opts: &TlsOptions,
) -> Result<(TlsStream<Socket>, Option<Vec<u8>>), String> {
    let config = shared_client_config(opts)?;
    let name = ServerName::try_from(opts.server_name.clone())
        .map_err(|_| format!("invalid TLS server name {:?}", opts.server_name))?;
    let tls = TlsConnector::from(config)
        .connect(name, socket)
        .await
        .map_err(|e| {
            let alpn_refused = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<Error>())
                .is_some_and(|inner| {
                    matches!(
                        inner,
                        Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)
                    )
                });
            if alpn_refused {
                format!("TLS handshake failed: {NO_H2}: {e}")
            } else {
                format!("TLS handshake failed: {e}")
            }
        })?;
    let session = tls.get_ref().1;
    if session.alpn_protocol() != Some(b"h2".as_slice()) {
        return Err(format!("TLS handshake failed: {NO_H2}"));
    }
    let peer = if opts.want_peer_certificate {
        session
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.as_ref().to_vec())
    } else {
        None
    };
    Ok((tls, peer))
}

/// Verifies the chain but accepts any name: the embedder's
/// `checkServerIdentity` decides about the name.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Accepts any certificate (`rejectUnauthorized: false`).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> TlsOptions {
        TlsOptions {
            root_certs: None,
            private_key: None,
            cert_chain: None,
            server_name: "localhost".into(),
            verify: Verify::Full,
            want_peer_certificate: false,
        }
    }

    #[test]
    fn empty_root_bundle_is_named() {
        let err = parse_certs("not a certificate", "rootCerts").unwrap_err();
        assert_eq!(err, "no PEM certificate found in rootCerts");
        let o = TlsOptions {
            root_certs: Some(String::new()),
            ..opts()
        };
        assert!(client_config(&o)
            .unwrap_err()
            .contains("no PEM certificate found in rootCerts"));
    }

    #[test]
    fn corrupt_pem_body_is_an_error() {
        let pem = "-----BEGIN CERTIFICATE-----\n!!!notbase64!!!\n-----END CERTIFICATE-----\n";
        let err = parse_certs(pem, "rootCerts").unwrap_err();
        assert!(err.starts_with("invalid PEM in rootCerts"), "{err}");
    }

    #[test]
    fn missing_private_key_is_named() {
        let err =
            parse_private_key("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .unwrap_err();
        assert!(err.contains("no PEM private key"), "{err}");
    }

    #[test]
    fn key_without_chain_is_refused() {
        let o = TlsOptions {
            private_key: Some("x".into()),
            verify: Verify::None,
            ..opts()
        };
        assert!(client_config(&o).unwrap_err().contains("together"));
    }

    #[test]
    fn accept_any_needs_no_roots() {
        let o = TlsOptions {
            verify: Verify::None,
            ..opts()
        };
        let config = client_config(&o).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
    }

    #[test]
    fn debug_hides_the_key() {
        let o = TlsOptions {
            private_key: Some("SECRET".into()),
            ..opts()
        };
        assert!(!format!("{o:?}").contains("SECRET"));
    }
}
