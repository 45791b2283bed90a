//! Where the data really goes. A declared region is a claim; an address is a fact. For
//! an upstream in `verify` mode, its host name is resolved, every address is located
//! with the loaded GeoIP database, and any address outside the declared region blocks
//! the transfer (`destination_region_mismatch`). In `locate` mode the region is taken
//! from the addresses. The client then connects only to the addresses that were
//! checked (they are pinned in its resolver), so a DNS change between check and
//! connect cannot move traffic. Resolutions are cached until their DNS TTL runs out
//! (names are resolved with `hickory-resolver`, which reports TTLs, from the system's
//! resolver configuration and hosts file); answers without a TTL (the hosts file, a test
//! table, the `getaddrinfo` fallback) are kept for `server.dns_cache_seconds`.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::connect::dns::Name;

use crate::country::Country;
use crate::geo::GeoLookup;
use crate::policy::Policy;
use crate::policy::compile::{DestinationMode, RegionId, UpstreamId};

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Addresses, and until when they may be used (the record's TTL), if known.
pub type Answer = (Vec<IpAddr>, Option<Instant>);

/// Name resolution, injectable: production uses DNS; tests give a table.
pub trait Lookup: Send + Sync {
    fn lookup(&self, host: String) -> BoxFuture<io::Result<Answer>>;
}

/// `getaddrinfo`, through tokio (no TTLs): the fallback when no DNS configuration can
/// be read.
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(&self, host: String) -> BoxFuture<io::Result<Answer>> {
        Box::pin(async move {
            let ips = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect();
            Ok((ips, None))
        })
    }
}

/// DNS through `hickory-resolver` with the system configuration (`/etc/resolv.conf`,
/// the hosts file), reporting each answer's TTL.
pub struct DnsLookup {
    resolver: hickory_resolver::TokioResolver,
}

impl DnsLookup {
    pub fn from_system() -> Option<Self> {
        let resolver = hickory_resolver::TokioResolver::builder_tokio()
            .ok()?
            .build()
            .ok()?;
        Some(DnsLookup { resolver })
    }
}

impl Lookup for DnsLookup {
    fn lookup(&self, host: String) -> BoxFuture<io::Result<Answer>> {
        let r = self.resolver.clone();
        Box::pin(async move {
            let ans = r
                .lookup_ip(host.as_str())
                .await
                .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e.to_string()))?;
            Ok((ans.iter().collect(), Some(ans.valid_until())))
        })
    }
}

/// The client's resolver: pinned (checked) addresses first, else the lookup.
#[derive(Clone)]
pub struct PinningResolver {
    pins: Arc<RwLock<HashMap<String, Vec<IpAddr>>>>,
    lookup: Arc<dyn Lookup>,
}

impl PinningResolver {
    pub fn new(lookup: Arc<dyn Lookup>) -> Self {
        PinningResolver {
            pins: Arc::default(),
            lookup,
        }
    }
    /// DNS with TTLs from the system configuration, else `getaddrinfo`.
    pub fn system() -> Self {
        match DnsLookup::from_system() {
            Some(d) => Self::new(Arc::new(d)),
            None => Self::new(Arc::new(SystemLookup)),
        }
    }
    fn pin(&self, host: &str, addrs: Vec<IpAddr>) {
        if let Ok(mut p) = self.pins.write() {
            p.insert(host.to_ascii_lowercase(), addrs);
        }
    }
}

impl tower_service::Service<Name> for PinningResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = BoxFuture<io::Result<Self::Response>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let host = name.as_str().to_ascii_lowercase();
        let pinned = self.pins.read().ok().and_then(|p| p.get(&host).cloned());
        let lookup = self.lookup.clone();
        Box::pin(async move {
            let ips = match pinned {
                Some(ips) => ips,
                None => lookup.lookup(host).await?.0,
            };
            Ok(ips
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect::<Vec<_>>()
                .into_iter())
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestinationError {
    /// An address of the upstream lies outside its region (or, for `locate`, the
    /// addresses do not fall in one region).
    Mismatch { countries: Vec<Country> },
    /// An address has no country in the database: it cannot be verified.
    Unlocated,
    /// The host name did not resolve.
    Unresolvable,
}

impl DestinationError {
    pub fn reason(&self) -> &'static str {
        match self {
            DestinationError::Mismatch { .. } => "destination_region_mismatch",
            DestinationError::Unlocated => "destination_unlocated",
            DestinationError::Unresolvable => "destination_unresolvable",
        }
    }
}

pub struct Destinations {
    resolver: PinningResolver,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, Vec<IpAddr>)>>,
}

impl Destinations {
    pub fn new(resolver: PinningResolver, ttl: Duration) -> Self {
        Destinations {
            resolver,
            ttl,
            cache: Mutex::default(),
        }
    }

    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, DestinationError> {
        if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let key = host.to_ascii_lowercase();
        if let Some((until, ips)) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned())
            && Instant::now() < until
        {
            return Ok(ips);
        }
        let (ips, valid_until) = self
            .resolver
            .lookup
            .lookup(key.clone())
            .await
            .map_err(|_| DestinationError::Unresolvable)?;
        if ips.is_empty() {
            return Err(DestinationError::Unresolvable);
        }
        let until = valid_until.unwrap_or_else(|| Instant::now() + self.ttl);
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, (until, ips.clone()));
        }
        Ok(ips)
    }

    /// Connects to `host` only at these (checked) addresses from now on.
    pub fn pin(&self, host: &str, addrs: Vec<IpAddr>) {
        if host.parse::<IpAddr>().is_err() {
            self.resolver.pin(host, addrs);
        }
    }

    /// The addresses of `host` and the country of each (`None` where the database has
    /// none), for tunnel decisions.
    pub async fn locate_host(
        &self,
        geo: &dyn GeoLookup,
        host: &str,
    ) -> Result<Vec<(IpAddr, Option<Country>)>, DestinationError> {
        let ips = self.addresses(host).await?;
        Ok(ips
            .into_iter()
            .map(|ip| (ip, geo.country_of_address(ip)))
            .collect())
    }

    /// The region data sent to `upstream` really goes to. `trust`: the declared one.
    /// `verify`: the declared one, if every address lies in it. `locate`: the one region
    /// holding every address. The checked addresses are pinned for the connection.
    pub async fn region_of(
        &self,
        policy: &Policy,
        geo: &dyn GeoLookup,
        upstream: UpstreamId,
    ) -> Result<RegionId, DestinationError> {
        let Some(up) = policy.upstreams.get(upstream) else {
            return Err(DestinationError::Unresolvable);
        };
        if up.destination == DestinationMode::Trust {
            return Ok(up.region);
        }
        let host = up.url.host().unwrap_or("").to_string();
        let ips = self.addresses(&host).await?;
        let mut countries = Vec::with_capacity(ips.len());
        for ip in &ips {
            match geo.country_of_address(*ip) {
                Some(c) => countries.push(c),
                None => return Err(DestinationError::Unlocated),
            }
        }
        countries.sort();
        countries.dedup();
        let region = match up.destination {
            DestinationMode::Verify => {
                let r = policy
                    .regions
                    .get(up.region)
                    .ok_or(DestinationError::Unlocated)?;
                if !countries.iter().all(|c| r.countries.contains_country(*c)) {
                    return Err(DestinationError::Mismatch { countries });
                }
                up.region
            }
            _ => {
                // locate: the region holding every address, if exactly one does
                let holding: Vec<RegionId> = (0..policy.regions.len())
                    .filter(|r| {
                        countries
                            .iter()
                            .all(|c| policy.regions[*r].countries.contains_country(*c))
                    })
                    .collect();
                match holding.as_slice() {
                    [one] => *one,
                    _ => return Err(DestinationError::Mismatch { countries }),
                }
            }
        };
        if host.parse::<IpAddr>().is_err() {
            self.resolver.pin(&host, ips);
        }
        Ok(region)
    }
}

/// A lookup from a fixed table, for tests and for operators who pin upstreams by hand.
pub struct StaticLookup {
    answers: Mutex<HashMap<String, Vec<Vec<IpAddr>>>>,
}

impl StaticLookup {
    /// `answers[host]` is the sequence of answers successive lookups get (the last one
    /// repeats), so a test can make DNS change between check and connect.
    pub fn new(answers: HashMap<String, Vec<Vec<IpAddr>>>) -> Self {
        StaticLookup {
            answers: Mutex::new(answers),
        }
    }
}

impl Lookup for StaticLookup {
    fn lookup(&self, host: String) -> BoxFuture<io::Result<Answer>> {
        let ans = self.answers.lock().ok().and_then(|mut m| {
            let seq = m.get_mut(&host)?;
            if seq.len() > 1 {
                Some(seq.remove(0))
            } else {
                seq.first().cloned()
            }
        });
        Box::pin(async move {
            ans.map(|a| (a, None))
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers with a TTL of `ttl`, counting lookups.
    struct Ttl {
        ttl: Option<Duration>,
        calls: Arc<AtomicUsize>,
    }

    impl Lookup for Ttl {
        fn lookup(&self, _host: String) -> BoxFuture<io::Result<Answer>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let until = self.ttl.map(|t| Instant::now() + t);
            Box::pin(async move { Ok((vec!["127.0.0.3".parse().unwrap()], until)) })
        }
    }

    #[tokio::test]
    async fn resolutions_are_cached_for_their_ttl() {
        let calls = Arc::new(AtomicUsize::new(0));
        let d = Destinations::new(
            PinningResolver::new(Arc::new(Ttl {
                ttl: Some(Duration::from_millis(80)),
                calls: calls.clone(),
            })),
            Duration::from_secs(3600),
        );
        d.addresses("a.test").await.unwrap();
        d.addresses("a.test").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "within the TTL: cached");
        tokio::time::sleep(Duration::from_millis(120)).await;
        d.addresses("a.test").await.unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "the record's TTL, not the fallback, expired it"
        );
        // Without a TTL, the configured time applies.
        let calls = Arc::new(AtomicUsize::new(0));
        let d = Destinations::new(
            PinningResolver::new(Arc::new(Ttl {
                ttl: None,
                calls: calls.clone(),
            })),
            Duration::from_millis(50),
        );
        d.addresses("b.test").await.unwrap();
        tokio::time::sleep(Duration::from_millis(80)).await;
        d.addresses("b.test").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_system_resolver_reads_the_hosts_file() {
        let r = PinningResolver::system();
        let (ips, _) = r.lookup.lookup("localhost".into()).await.unwrap();
        assert!(ips.iter().any(|ip| ip.is_loopback()), "{ips:?}");
    }
}
