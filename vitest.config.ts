import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'lessons/**/*.test.ts', 'tests/oracle/**/*.test.ts', 'tests/unit/**/*.test.ts'],
    environment: 'node',
    setupFiles: ['tests/setup-fast-check.ts', 'tests/setup-i18n.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
