#!/usr/bin/env bash
# Refreshes geoip/geo-whois-asn-country.mmdb from the npm registry package
# @ip-location-db/geo-whois-asn-country-mmdb and prints the database's build date.
# Needs npm and python3 (to read the build date from the file's metadata).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent @ip-location-db/geo-whois-asn-country-mmdb >/dev/null
tar xzf ./*.tgz
version="$(python3 -c 'import json;print(json.load(open("package/package.json"))["version"])')"
install -m 0644 package/geo-whois-asn-country.mmdb "$here/geo-whois-asn-country.mmdb"
install -m 0644 package/NRO_LICENSE "$here/NRO_LICENSE"
python3 - "$here/geo-whois-asn-country.mmdb" "$version" <<'PY'
import sys, datetime
data = open(sys.argv[1], "rb").read()
marker = b"\xab\xcd\xefMaxMind.com"
meta = data[data.rindex(marker) + len(marker):]
key = b"build_epoch"
i = meta.index(key) + len(key)
ctrl = meta[i]; i += 1
size = ctrl & 0x1f
if ctrl >> 5 == 0:  # extended type: uint64 is type 9
    i += 1
epoch = int.from_bytes(meta[i:i + size], "big")
print(f"geo-whois-asn-country-mmdb {sys.argv[2]}: built {datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
PY
