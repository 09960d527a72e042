import { describe, expect, it } from 'vitest'
import { runMockScenario } from '../src/scenario.js'

describe('demo scenario on the mock IOMMU', () => {
  it('the device writes by DMA, the process reads the same bytes, and DMA faults after unmap', () => {
    const r = runMockScenario()
    expect(r.readBack).toBe('hello from the device, by DMA')
    expect(r.faultedAfterUnmap).toBe(true)
    expect(r.lines.at(-1)).toBe('vmm: exited; objects left 0, pins left 0')
  })
})
