import { describe, expect, it } from 'vitest'
import { runMigrationScenario } from '../src/migration-scenario.js'

describe('demo: pre-copy migration with SMMUv3 dirty tracking', () => {
  it('reports exactly the pages the device wrote each round (PASID traffic excluded), converges, and leaves nothing behind', () => {
    const r = runMigrationScenario()
    expect(r.dirtyPerRound).toEqual([[3, 17, 42, 43, 200, 511], [17, 42], [42], []])
    expect(r.leftovers).toEqual({ objects: 0, pins: 0 })
  })
})
