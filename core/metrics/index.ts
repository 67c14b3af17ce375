export * from './registry.js';
export * from './families.js';
