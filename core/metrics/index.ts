export * from './registry.js';
export * from './families.js';
export * from './lake.js';
