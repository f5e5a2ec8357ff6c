#!/usr/bin/env bash
# Installs Azurite (Microsoft's Azure Storage emulator, npm `azurite`, pinned) once, for the Azure Blob
# position store's tests; later runs find it in place and need no network. Prints the azurite-blob path.
#   scripts/install_azurite.sh      # -> /opt/replicator-azurite/3.37.0/node_modules/.bin/azurite-blob
# Folder: $REPLICATOR_AZURITE_DIR (default /opt/replicator-azurite). REPLICATOR_OFFLINE_ONLY=1: fail instead of installing.
set -euo pipefail
VERSION=3.37.0
ROOT=${REPLICATOR_AZURITE_DIR:-/opt/replicator-azurite}
dir="$ROOT/$VERSION"
bin="$dir/node_modules/.bin/azurite-blob"
if [[ ! -x $bin ]]; then
  [[ -z ${REPLICATOR_OFFLINE_ONLY:-} ]] || exit 1
  command -v npm >/dev/null || { echo "install_azurite.sh: npm is needed for Azurite" >&2; exit 1; }
  echo "installing Azurite $VERSION from npm into $dir" >&2
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --prefer-offline --loglevel=error "azurite@$VERSION" >&2
  chmod -R a+rX "$ROOT"
fi
"$bin" --version >/dev/null || { echo "install_azurite.sh: $bin does not run" >&2; exit 1; }
echo "$bin"
