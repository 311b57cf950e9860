// Type-aware lint (`npm run lint`; CI runs it from scripts/test): the rules
// that catch what the compiler does not — a promise nobody awaits or handles,
// an async callback where a void one is expected, a switch over a union that
// misses a case — plus the cheap part of typescript-eslint's type-checked set.
// Formatting is prettier's business, not this file's.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', 'native/**', 'node_modules/**', 'gpu/**', 'deploy/**', 'artifacts/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  {
    files: ['src/**/*.ts', 'sdk/src/**/*.ts', 'web/src/**/*.{ts,tsx}'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's describe() and it() return promises the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // An async function without await is how an interface that returns promises is met.
      '@typescript-eslint/require-await': 'off',
      // `{ id: _id, ...rest }` leaves a field out on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true, caughtErrors: 'none' }],
    },
  },
  {
    // Kysely's advice for migrations: they must not depend on today's table types.
    files: ['src/daemon/db/migrations.ts', 'src/daemon/db/migrations-from-0014.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Tests read replies as JSON and assert on their shape; typing each one would only repeat the schemas.
    files: ['src/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
