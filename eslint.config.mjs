import tseslint from 'typescript-eslint';

/** What code that runs inside a workflow may not import (workflows/ and src/policy/). */
const deterministic = [
  { group: ['node:*'], message: 'workflow code may not use Node built-ins' },
  {
    group: ['fs', 'path', 'os', 'crypto', 'child_process', 'http', 'https', 'net', 'stream'],
    message: 'workflow code may not use Node built-ins',
  },
  {
    group: ['minio', '@duckdb/*', '@tensorflow/*', 'fastify', 'autocannon', 'pino', 'prom-client', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'],
    message: 'workflow code may not do I/O; call an activity',
  },
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.kaizen/**', 'dist/**', 'bin/**', 'src/**/*.mjs', 'scripts/**', '*.config.*'] },
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // workflows must stay deterministic: no Node built-ins, no I/O libraries, activities as types only
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...deterministic,
            { group: ['../src/*', '!../src/types', '!../src/errors', '!../src/duration', '!../src/policy'], message: 'workflows/ may import only pure modules from src/ (types, errors, duration, policy/)' },
            { group: ['../activities', '../activities/*'], allowTypeImports: true, message: 'import activities as types only' },
          ],
        },
      ],
    },
  },
  {
    // src/policy/ is what workflows run: the same rules, and it imports only pure modules itself
    files: ['src/policy/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...deterministic,
            { regex: '^\\.\\./(?!types$|errors$|duration$|\\.\\./activities$)', message: 'src/policy/ may import only types, errors, duration and policy/ itself' },
            { group: ['../../activities', '../../activities/*'], allowTypeImports: true, message: 'import activities as types only' },
          ],
        },
      ],
    },
  },
);
