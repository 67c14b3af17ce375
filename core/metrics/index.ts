export * from './registry.js';
export * from './families.js';
export * from './lake.js';
export * from './governance.js';
