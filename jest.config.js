/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  // module node16 leaves import() as it is written: the CEL library (ES modules only) is then
  // loaded by jest's own module loader, in the test file's environment.
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: { module: "node16", moduleResolution: "node16" } }] },
  testTimeout: 60000,
  // The browser and explorer tests need the built console; built once, and only when stale.
  globalSetup: '<rootDir>/test/support/console-build.ts',
  maxWorkers: 2,
};
