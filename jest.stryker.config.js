// The jest configuration of the mutation run (stryker.config.js): the tests
// import the package ('..', '../dist/x'), which is dist/ in `npm test`; here
// they import lib/ itself, so every mutant Stryker writes into lib/ is what the
// tests run. Tests that only drive other processes (each loads dist/ or an
// installed copy, never the mutated sources) are left out: they cannot kill a
// mutant and would only cost time.
const base = require('./jest.config');

// SYSALLOC_MUTATION_TESTS=errors,arguments runs only those test files (a
// per-file run while developing: every test imports the whole package, so
// Stryker's related-test search cannot narrow them).
const only = process.env.SYSALLOC_MUTATION_TESTS;

module.exports = {
  ...base,
  ...(only ? { testMatch: only.split(',').map((name) => `<rootDir>/test/${name}.test.ts`) } : {}),
  resolver: '<rootDir>/test/mutation/resolver.js',
  testPathIgnorePatterns: [
    '/node_modules/',
    // Child processes, other runtimes, builds and packaging: none runs lib/ in the test's process.
    '/test/asan\\.test\\.ts$',
    '/test/runtime-suite\\.test\\.ts$',
    '/test/package\\.test\\.ts$',
    '/test/two-copies\\.test\\.ts$',
    '/test/readme\\.test\\.ts$',
    '/test/deopt\\.test\\.ts$',
    '/test/shim-libraries\\.test\\.ts$',
    '/test/header\\.test\\.ts$',
    // Its workers load dist/; it asserts a throughput that a loaded machine misses.
    '/test/worker-stress\\.test\\.ts$',
  ],
};
