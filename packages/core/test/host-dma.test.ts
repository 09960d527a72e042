import { describe, expect, it } from 'vitest'
import { createHost, type IommuDomain, type IommuDriver, type IommuUnit } from '../src/index.js'

/** A unit with no hardware model: only what host.dma looks at is real. */
function modellessDriver(): IommuDriver {
  return {
    name: 'modelless',
    coreApi: 1,
    createUnits() {
      const blocked = { type: 'blocked', pgsizeBitmap: 0n, aperture: { start: 0n, end: 0n }, attachDev() {}, free() {} } as unknown as IommuDomain
      const unit = {
        name: 'modelless0',
        driverName: 'modelless',
        blockedDomain: blocked,
        probeDevice() {},
        capable: () => true,
        maxPasidLog2: () => 0,
        domainAllocPagingFlags() {
          throw new Error('not used')
        },
        getResvRegions: () => [],
        translate() {
          throw new Error('not used')
        },
      } satisfies IommuUnit
      return [unit]
    },
  }
}

describe('host.dma', () => {
  it('is created on first use, and refuses a device whose IOMMU has no hardware model (EOPNOTSUPP)', () => {
    const host = createHost({ drivers: [modellessDriver()], memory: { bytes: 1 << 20 } })
    const dev = host.addDevice({ iommu: host.iommus[0]!, id: 1 })
    expect(() => host.dma.device(dev)).toThrow(/EOPNOTSUPP/)
    expect(host.dma.engine.units.length).toBe(0)
  })
})
