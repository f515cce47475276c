// jest resolver of the mutation run (jest.stryker.config.js): a test's import of
// the package ('..' from test/, i.e. dist/index.js, or '../dist/<name>') resolves
// to lib/ instead, so the tests run the sources Stryker mutated. Every other
// request resolves as jest would.
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const testDir = path.join(root, 'test');
const lib = path.join(root, 'lib');

module.exports = (request, options) => {
  if (options.basedir === testDir) {
    if (request === '..') return path.join(lib, 'index.ts');
    const m = /^\.\.\/dist\/([\w-]+)(?:\.js)?$/.exec(request);
    if (m) return path.join(lib, `${m[1]}.ts`);
  }
  return options.defaultResolver(request, options);
};
