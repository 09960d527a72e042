import { defineConfig } from 'vitest/config'

// The source condition lets tests import sibling packages from src/ with no build.
// It must be in ssr.resolve.conditions (vitest runs node tests in the SSR environment).
const conditions = ['@iommu-sim/source', 'module', 'node', 'development|production']

export function packageTestConfig() {
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions } },
    test: {
      include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
      // The JSON report is what .ci/run counts; the default reporter is for humans.
      reporters: ['default', 'json'],
      outputFile: { json: '.vitest-results.json' },
      testTimeout: 30_000,
      passWithNoTests: true,
    },
  })
}
