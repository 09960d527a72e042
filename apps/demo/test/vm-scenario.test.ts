import { describe, expect, it } from 'vitest'
import { runVmScenario } from '../src/vm-scenario.js'

describe('demo: a VM with two vSMMUs on two SMMUv3 units', () => {
  it('both devices DMA through guest stage 1 + shared stage 2; an invalidated guest unmap faults and comes back as a vEVENT with the vSID; nothing is left', () => {
    const r = runVmScenario()
    expect(r.reads).toEqual(['hello nic', 'hello nvme'])
    expect(r.events).toEqual([[0x20, 0x10]])
    expect(r.leftovers).toEqual({ objects: 0, pins: 0 })
  })
})
