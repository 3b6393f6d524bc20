import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.kaizen/**', 'dist/**', 'bin/**', 'scripts/**', '*.config.*'] },
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
            { group: ['node:*'], message: 'workflows/ may not use Node built-ins' },
            {
              group: ['fs', 'path', 'os', 'crypto', 'child_process', 'http', 'https', 'net', 'stream'],
              message: 'workflows/ may not use Node built-ins',
            },
            {
              group: ['minio', '@duckdb/*', '@tensorflow/*', 'fastify', 'autocannon', 'pino', 'prom-client', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'],
              message: 'workflows/ may not do I/O; call an activity',
            },
            { group: ['../src/*', '!../src/types', '!../src/errors', '!../src/duration'], message: 'workflows/ may import only pure modules from src/ (types, errors, duration)' },
            { group: ['../activities', '../activities/*'], allowTypeImports: true, message: 'import activities as types only' },
          ],
        },
      ],
    },
  },
);
