export * from './schema.js';
export { parseConfig, loadConfig, type ParseConfigOptions } from './load.js';
export { substituteString, substituteTree, type SubstitutionProblem } from './substitute.js';
export { didYouMean, editDistance, suggest } from './suggest.js';
export { formatPath } from './issues.js';
export { memoryBudget, flushMaxBytesFor, MIB, type DuckDBShare, type MemoryBudget } from './memory.js';
