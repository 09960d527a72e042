/**
 * Property tests: random map / unmap sequences on every format, granule and depth agree with a
 * reference model on every walk (see property-harness.ts).
 */
import { describe, it } from 'vitest'
import { configs, runConfig } from './property-harness.js'

describe('random map / unmap sequences agree with a reference model', () => {
  for (const cfg of configs) {
    it(`${cfg.fmt.name} [0x${cfg.lo.toString(16)}, 0x${cfg.hi.toString(16)})`, () => {
      for (const seed of [1, 2, 3]) runConfig(cfg, seed * 7919 + cfg.fmt.levels, 150)
    })
  }
})
