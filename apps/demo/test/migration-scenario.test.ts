import { describe, expect, it } from 'vitest'
import { runMigrationScenario } from '../src/migration-scenario.js'

describe('demo: pre-copy migration with SMMUv3 dirty tracking', () => {
  it('reports exactly the pages the device wrote each round (PASID traffic excluded), converges, and leaves nothing behind', () => {
    const r = runMigrationScenario()
    expect(r.dirtyPerRound).toEqual([6, 2, 1, 0])
    expect(r.leftovers).toEqual({ objects: 0, pins: 0 })
  })
})
