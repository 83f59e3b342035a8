#!/bin/sh
# Writes tests/fixtures/schema/v<N>.db for each schema version of
# src/store/migrations.rs that has no fixture yet: the version's own
# migrations (steps 1..N) plus a few rows of synthetic store data
# (src/store/schema_fixtures.rs). Existing fixtures are never rewritten:
# they stand for files that version wrote. Run it after adding a migration
# and commit the new file; tests/it/upgrades.rs then checks it upgrades.
set -eu
cd "$(dirname "$0")/.."
cargo test --lib store::schema_fixtures::tests::write_missing_schema_fixtures -- --ignored --exact --nocapture
