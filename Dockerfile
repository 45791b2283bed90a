# customs: a data-residency enforcement proxy.
#   docker build -t customs .
#   docker run --rm -p 8080:8080 -p 9090:9090 customs
# The runtime image is distroless (no shell), runs as the non-root user 65532, and holds
# only the binary, the example policy and the bundled GeoIP database.

FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, for layer caching.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src benches examples \
 && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && echo 'fn main() {}' > benches/engine.rs && echo 'fn main() {}' > examples/sink.rs \
 && cargo build --release --locked --bin customs || true
COPY src src
COPY config config
COPY geoip geoip
COPY tests/fixtures tests/fixtures
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin customs \
 && strip target/release/customs

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/customs /usr/local/bin/customs
COPY --from=build /src/config/policy.toml /etc/customs/policy.toml
COPY --from=build /src/geoip/geo-whois-asn-country.mmdb /usr/share/customs/geo-whois-asn-country.mmdb
COPY --from=build /src/geoip/NOTICE /usr/share/customs/NOTICE
USER 65532:65532
EXPOSE 8080 9090
ENV CUSTOMS_GEOIP=/usr/share/customs/geo-whois-asn-country.mmdb \
    CUSTOMS_LISTEN=0.0.0.0:8080 \
    CUSTOMS_ADMIN_LISTEN=0.0.0.0:9090
ENTRYPOINT ["/usr/local/bin/customs", "run", "--config", "/etc/customs/policy.toml"]
