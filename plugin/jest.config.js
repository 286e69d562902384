// Component tests (jsdom). ESM-only dependencies of @grafana/* are transformed by @swc/jest.
const esModules = ['d3', 'd3-[a-z-]+', 'internmap', 'ol', 'react-colorful', 'uuid', 'rxjs', 'yaml', '@grafana/schema', '@grafana/react-data-grid', 'marked', 'ansicolor', 'react-calendar', 'get-user-locale', 'memoize', 'mimic-function', '@wojtekmaj/date-utils', 'earcut', 'pbf', 'quick-lru', 'quickselect', 'rbush', 'uwrap', 'flatted'].join('|');

module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/src'],
  testMatch: ['**/__tests__/**/*.test.{ts,tsx}'],
  setupFilesAfterEnv: ['<rootDir>/jest.setup.js'],
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript', tsx: true }, transform: { react: { runtime: 'classic' } } } }],
    '^.+\\.mjs$': ['@swc/jest', { jsc: { parser: { syntax: 'ecmascript' } }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esModules})/)`],
  moduleNameMapper: {
    '\\.(css|scss|sass)$': '<rootDir>/jest.style-mock.js',
    '\\.(svg|png|jpe?g|gif)$': '<rootDir>/jest.style-mock.js',
  },
  testTimeout: 30000,
};
