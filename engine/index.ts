/** The governed query engine: what the front doors (MCP, REST, the query CLI) call. */
export * from './types.js';
export { createQueryEngine, type CreateQueryEngineOptions } from './engine.js';
export { FILTER_SYNTAX, parseWhere } from './structured.js';
