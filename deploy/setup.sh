#!/usr/bin/env bash
# Installs what `make run`, `make test` and `make bench` need on a fresh machine, and nothing twice:
# uv (from PyPI), the locked Python environment, a JDK and Maven (Debian packages) for the Kafka broker,
# PostgreSQL's server binaries (Debian's postgresql-15), Prometheus and promtool (Debian's prometheus),
# and the Kafka jars (Maven Central, cached).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  say "need root to run: $*"; exit 1; fi; }

apt_ready=0
apt_install() {
  if ! command -v apt-get >/dev/null; then say "missing $* and no apt-get: install it by hand"; exit 1; fi
  if [ "$apt_ready" = 0 ]; then as_root apt-get update -qq >/dev/null; apt_ready=1; fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v uv >/dev/null && ! python3 -m uv --version >/dev/null 2>&1; then
  say "installing uv"
  python3 -m pip install --quiet --disable-pip-version-check uv
fi
command -v java >/dev/null || apt_install openjdk-17-jre-headless
command -v mvn >/dev/null || apt_install maven
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql-15
# Prometheus and promtool (the alert rules' tests, `make run`'s Prometheus); only the binaries are used
command -v promtool >/dev/null && command -v prometheus >/dev/null || apt_install --no-install-recommends prometheus

UV="uv"; command -v uv >/dev/null || UV="python3 -m uv"
$UV sync --frozen --quiet
$UV run --frozen python -c "from bankstream_devstack.kafka import resolve_jars; resolve_jars()"
