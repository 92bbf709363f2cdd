/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  // module node16 leaves import() as it is written: the CEL library (ES modules only) is then
  // loaded by jest's own module loader, in the test file's environment.
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: { module: "node16", moduleResolution: "node16" } }] },
  testTimeout: 60000,
  // Made once before any test file: the built console (only when stale) and, on PGlite, the
  // migrated database every test app starts from.
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  maxWorkers: 2,
};
