// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

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
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
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
              group: ['**/activities/**', '**/source/**', '**/stack/**', '**/workers/**', '**/api/**', '**/cli/**'],
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
