// Mutation testing of the TypeScript facade (npm run test:mutation; docs/design.md
// "Mutation testing"). Stryker mutates lib/ in a sandbox copy of the project and
// runs jest there with jest.stryker.config.js, which points the tests' '..' at
// lib/ (not dist/), so each mutant is what the tests load.
// scripts/mutation-run.js names each per-file run (SYSALLOC_MUTATION_NAME): its
// reports then go to reports/mutation/<name>.json and .html.
const name = process.env.SYSALLOC_MUTATION_NAME || 'mutation';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
module.exports = {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: {
    projectType: 'custom',
    configFile: 'jest.stryker.config.js',
    enableFindRelatedTests: true,
  },
  // gc() in the tests (test/helpers.ts settle()), as `npm test` gives it.
  testRunnerNodeArgs: ['--expose-gc'],
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: ['lib/**/*.ts'],
  coverageAnalysis: 'perTest',
  // The machine is shared: one jest and one checker at a time.
  concurrency: 1,
  timeoutMS: 60000,
  timeoutFactor: 2,
  // Leave the sandbox out of what jest and tsc see, and skip what is rebuilt or large.
  ignorePatterns: [
    '.asan', '.windows', '.runtimes', '.prebuild', '.arm64', '.readme-examples',
    'bench/node_modules', 'bench/results', 'demo/.work', 'test/.odirect', 'test/consumers/sqlite',
    'reports', 'build/Release/obj.target', 'build/Release/.deps',
  ],
  incremental: false,
  // One incremental file per lib/ file (scripts/mutation-run.js passes it).
  incrementalFile: `test/mutation/incremental/${name}.json`,
  reporters: ['progress', 'clear-text', 'json', 'html'],
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  thresholds: { high: 95, low: 90, break: null },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
