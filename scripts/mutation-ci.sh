#!/usr/bin/env bash
# CI's mutation run: Stryker in incremental mode over the lib/ files whose
# results are committed in test/mutation/incremental.json, with the test files
# that cover them. Only mutants whose code or covering tests changed since that
# file was written are run again; the rest keep their recorded result. The file
# is rewritten by the run: commit it with the change that moved it.
# A full run of every file with every test: npm run test:mutation.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build:faults >/dev/null
export SYSALLOC_MUTATION_TESTS=errors,arguments,argument-messages,accepting-boundaries,power-of-two
exec npx stryker run --incremental --concurrency 2 \
  --mutate lib/validate.ts "$@"
