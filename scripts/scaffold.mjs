// One-off scaffold helper kept for adding packages consistently: writes the per-package boilerplate.
import { mkdirSync, writeFileSync, existsSync } from 'node:fs'
const [dir, name, description, depsJson = '{}', peersJson = '{}'] = process.argv.slice(2)
const deps = JSON.parse(depsJson), peers = JSON.parse(peersJson)
mkdirSync(`${dir}/src`, { recursive: true }); mkdirSync(`${dir}/test`, { recursive: true })
const devDeps = Object.fromEntries(Object.keys(peers).map((k) => [k, '^0.1.0']))
const pkg = {
  name, version: '0.1.0', description, license: 'MIT', type: 'module', sideEffects: false,
  exports: {
    '.': {
      '@iommu-sim/source': './src/index.ts',
      import: { types: './dist/index.d.ts', default: './dist/index.js' },
      require: { types: './dist/index.d.cts', default: './dist/index.cjs' },
    },
    './package.json': './package.json',
  },
  main: './dist/index.cjs', module: './dist/index.js', types: './dist/index.d.ts',
  files: ['dist'], engines: { node: '>=20.19' },
  scripts: { build: 'tsup', typecheck: 'tsc --noEmit -p tsconfig.json', test: 'vitest run' },
  ...(Object.keys(deps).length ? { dependencies: deps } : {}),
  ...(Object.keys(peers).length ? { peerDependencies: peers, devDependencies: devDeps } : {}),
}
writeFileSync(`${dir}/package.json`, JSON.stringify(pkg, null, 2) + '\n')
writeFileSync(`${dir}/tsconfig.json`, JSON.stringify({ extends: '../../tsconfig.base.json', include: ['src', 'test', '*.ts'] }, null, 2) + '\n')
writeFileSync(`${dir}/tsup.config.ts`, `import { defineConfig } from 'tsup'

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  splitting: false,
  shims: true,
})
`)
writeFileSync(`${dir}/vitest.config.ts`, `import { packageTestConfig } from '../../vitest.shared.js'

export default packageTestConfig()
`)
if (!existsSync(`${dir}/src/index.ts`)) writeFileSync(`${dir}/src/index.ts`, '')
