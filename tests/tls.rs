//! TLS both ways, with certificates made by the test (rcgen): an https upstream trusted
//! through a CA bundle, mutual TLS accepted and refused, and TLS on the listener with its
//! certificate reloaded when the files change.

mod common;

use std::convert::Infallible;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::*;
use customs::geo::MaxMindGeo;
use customs::metrics::Metrics;
use customs::proxy::tls::ServerTls;
use customs::proxy::{Runtime, Shared, server, upstream};
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;

struct Pki {
    dir: tempfile::TempDir,
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new() -> Self {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Pki { dir, ca }
    }
    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
    /// Issues a leaf for localhost/127.0.0.1 and writes NAME.pem and NAME.key.
    fn leaf(&self, name: &str, usage: ExtendedKeyUsagePurpose) -> Vec<u8> {
        let mut p =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.ca).unwrap();
        std::fs::write(self.path(&format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(self.path(&format!("{name}.key")), key.serialize_pem()).unwrap();
        cert.der().to_vec()
    }
    fn roots(&self) -> rustls::RootCertStore {
        let mut r = rustls::RootCertStore::empty();
        r.add(CertificateDer::from_pem_file(self.path("ca.pem")).unwrap())
            .unwrap();
        r
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An https upstream on 127.0.0.1:0 that records the bodies it receives. With
/// `require_client_cert`, it accepts only clients with a certificate from the test CA.
async fn tls_upstream(pki: &Pki, require_client_cert: bool) -> (u16, Arc<Mutex<Vec<Bytes>>>) {
    pki.leaf("upstream", ExtendedKeyUsagePurpose::ServerAuth);
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(pki.path("upstream.pem"))
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
    let key = PrivateKeyDer::from_pem_file(pki.path("upstream.key")).unwrap();
    let b = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let b = if require_client_cert {
        let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(pki.roots()),
            provider(),
        )
        .build()
        .unwrap();
        b.with_client_cert_verifier(v)
    } else {
        b.with_no_client_auth()
    };
    let mut cfg = b.with_single_cert(certs, key).unwrap();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<Bytes>>> = Arc::default();
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, g) = (acceptor.clone(), g.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(s).await else {
                    return;
                };
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let g = g.clone();
                    async move {
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        g.lock().unwrap().push(body);
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                            b"ok from tls upstream",
                        ))))
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    (port, got)
}

/// The proxy in front of `crm_us` (https), with an optional CA bundle and client pair.
async fn proxy_to(
    crm_us: &str,
    ca: Option<&Path>,
    client: Option<(&Path, &Path)>,
    tls: Option<Arc<ServerTls>>,
) -> std::net::SocketAddr {
    let src = example_policy(crm_us, "http://127.0.0.1:9", "http://127.0.0.1:9");
    let (policy, _) = customs::policy::load(&src).unwrap();
    let geo = MaxMindGeo::open(&root().join("geoip/geo-whois-asn-country.mmdb")).unwrap();
    let c = upstream::build_with(
        policy.server.connect_timeout,
        ca,
        client,
        customs::proxy::destination::PinningResolver::system(),
    )
    .unwrap();
    let shared = Arc::new(Shared::new(
        Runtime {
            policy,
            geo: Arc::new(geo),
        },
        c,
        Arc::new(Metrics::new().unwrap()),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.map(|t| t.acceptor().unwrap());
    tokio::spawn(server::serve_with_drain(
        listener,
        shared,
        std::future::pending(),
        std::time::Duration::from_secs(1),
        acceptor,
    ));
    addr
}

#[tokio::test]
async fn https_upstream_trusted_through_a_ca_bundle() {
    let pki = Pki::new();
    let (port, got) = tls_upstream(&pki, false).await;
    let url = format!("https://localhost:{port}");
    let with_ca = proxy_to(&url, Some(&pki.path("ca.pem")), None, None).await;
    let body = fixture("us-user.json");
    let (status, _, resp) = post(
        &format!("http://{with_ca}/crm/v1/contacts"),
        "application/json",
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{resp:?}");
    assert_eq!(resp, "ok from tls upstream");
    assert_eq!(got.lock().unwrap().as_slice(), &[Bytes::from(body.clone())]);
    // Without the test CA, the upstream's certificate is not trusted: 502, nothing sent.
    let without = proxy_to(&url, None, None, None).await;
    let (status, _, resp) = post(
        &format!("http://{without}/crm/v1/contacts"),
        "application/json",
        body,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(json(&resp)["reason"], "upstream_unreachable");
    assert_eq!(got.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn mutual_tls_accepted_and_refused() {
    let pki = Pki::new();
    pki.leaf("client", ExtendedKeyUsagePurpose::ClientAuth);
    let (port, got) = tls_upstream(&pki, true).await;
    let url = format!("https://localhost:{port}");
    let ca = pki.path("ca.pem");
    let (cc, ck) = (pki.path("client.pem"), pki.path("client.key"));
    let with_cert = proxy_to(&url, Some(&ca), Some((&cc, &ck)), None).await;
    let (status, _, _) = post(
        &format!("http://{with_cert}/crm/a"),
        "application/json",
        fixture("us-user.json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got.lock().unwrap().len(), 1);
    let without_cert = proxy_to(&url, Some(&ca), None, None).await;
    let (status, _, _) = post(
        &format!("http://{without_cert}/crm/a"),
        "application/json",
        fixture("us-user.json"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        got.lock().unwrap().len(),
        1,
        "the upstream refused the client without a certificate"
    );
}

async fn peer_leaf(addr: std::net::SocketAddr, pki: &Pki) -> Vec<u8> {
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(pki.roots())
        .with_no_client_auth();
    let c = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = c
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn tls_listener_serves_and_reloads_its_certificate() {
    let pki = Pki::new();
    let first = pki.leaf("listener", ExtendedKeyUsagePurpose::ServerAuth);
    let upstream = Upstream::start("crm-us").await;
    let tls = ServerTls::load(&pki.path("listener.pem"), &pki.path("listener.key")).unwrap();
    let addr = proxy_to(&upstream.url(), None, None, Some(tls.clone())).await;

    // An https client that trusts the test CA.
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(pki.roots())
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(cfg)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https);
    let req = http::Request::post(format!("https://localhost:{}/crm/v1/contacts", addr.port()))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(fixture("us-user.json"))))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(upstream.count(), 1);
    assert_eq!(peer_leaf(addr, &pki).await, first);

    // New files: new connections get the new certificate.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = pki.leaf("listener", ExtendedKeyUsagePurpose::ServerAuth);
    assert_ne!(first, second);
    assert_eq!(tls.reload_if_changed(), Ok(true));
    assert_eq!(peer_leaf(addr, &pki).await, second);
    // A broken key keeps the certificate in use.
    std::fs::write(pki.path("listener.key"), "not a key").unwrap();
    assert!(tls.reload_if_changed().is_err());
    assert_eq!(peer_leaf(addr, &pki).await, second);
}
