import { defineConfig } from 'tsup'

export default defineConfig({
  // The DMA worker is an entry of its own, resolved next to the bundle at run time (toolchain.md §4.4).
  entry: { index: 'src/index.ts', 'workers/dma-worker': 'src/dma/worker.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts' } },
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  clean: true,
  splitting: false,
  shims: true,
})
