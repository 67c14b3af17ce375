// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

/**
 * The "imports from" column of docs/architecture.md's folder table: each folder may import from itself and from
 * the folders listed here, nothing else (types included). bench/, test/ and scripts/ may import anything; nothing
 * may import them, nor cli/ (the composition roots) from outside it. workflows/ takes activities/, lake/ and
 * source/ as types only: the workflow block below holds it to that. test/unit/lint-boundaries.test.ts fails when
 * this table and the document's differ.
 */
const layers = {
  core: [],
  source: ['core'],
  lake: ['core'],
  stack: ['core'],
  governance: ['core', 'lake'],
  engine: ['core', 'lake', 'governance'],
  api: ['core', 'lake', 'governance', 'engine'],
  workflows: ['core', 'activities', 'lake', 'source'],
  stream: ['core', 'source', 'lake', 'governance', 'workflows'],
  activities: ['core', 'source', 'lake', 'stream', 'governance', 'workflows'],
  workers: ['core', 'stack', 'activities'],
  cli: [
    'core',
    'source',
    'lake',
    'stack',
    'governance',
    'engine',
    'api',
    'workflows',
    'stream',
    'activities',
    'workers',
  ],
};
const unlayered = ['bench', 'test', 'scripts'];

/** One zone per folder: everything it may not import, with the rule it breaks in the message. */
const boundaryZones = Object.entries(layers).map(([folder, allowed]) => ({
  target: `./${folder}`,
  from: [...Object.keys(layers), ...unlayered]
    .filter((other) => other !== folder && !allowed.includes(other))
    .map((other) => `./${other}`),
  message: `${folder}/ may import only ${allowed.length ? allowed.map((f) => `${f}/`).join(', ') : 'itself'} (docs/architecture.md, Folders).`,
}));

const nodeBuiltins = [
  'fs',
  'path',
  'os',
  'child_process',
  'net',
  'http',
  'https',
  'crypto',
  'stream',
  'worker_threads',
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.state/**',
      '.scratch/**',
      '.pg-cdc/**',
      'dist/**',
      'bin/**',
      'scripts/**/*.mjs',
      'eslint.config.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      // Sources import each other as `./x.js` (NodeNext); the files are `.ts`. Without this, import-x resolves
      // nothing and its rules pass silently.
      'import-x/resolver-next': [importX.createNodeResolver({ extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: boundaryZones }],
      eqeqeq: ['error', 'smart'],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox: no Node builtins, drivers or activity implementations.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [...nodeBuiltins, ...nodeBuiltins.map((m) => `node:${m}`), 'pg', '@duckdb/node-api', 'pino'].map(
            (name) => ({ name, message: 'Workflows must stay deterministic: do side effects in an activity.' }),
          ),
          patterns: [
            {
              group: ['**/activities/**', '**/source/**', '**/lake/**'],
              message: 'Workflows import I/O modules only as types: proxyActivities<Activities>() does the work.',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
