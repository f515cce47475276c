#!/usr/bin/env bash
# CI's mutation run: Stryker in incremental mode over every lib/ file listed in
# test/mutation/files.json (each has a committed baseline in
# test/mutation/incremental/), each with the test files that cover it. Only
# mutants whose code or covering tests changed since its file was written are
# run again; the rest keep their recorded result. The files are rewritten by
# the run: commit them with the change that moved them.
# A full run of every file with every test: npm run test:mutation.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build:faults >/dev/null
exec node scripts/mutation-run.js --concurrency 2 "$@"
