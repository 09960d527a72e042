import type { HostServices, IommuDriver } from '@iommu-sim/core'
import { MockIommuUnit } from './unit.js'

export interface MockDriverOptions {
  /** Number of mock IOMMU instances (default 1). */
  readonly instances?: number
}

/** The kernel selftest mock IOMMU as an iommu-sim driver. Pass it to `createHost({ drivers })`. */
export function mockDriver(options: MockDriverOptions = {}): IommuDriver {
  const instances = options.instances ?? 1
  if (!Number.isInteger(instances) || instances < 1) throw new RangeError(`mockDriver: instances must be ≥ 1, got ${instances}`)
  return {
    name: 'mock',
    coreApi: 1,
    createUnits(host: HostServices) {
      return Array.from({ length: instances }, (_, i) => new MockIommuUnit(`mock${i}`, host))
    },
  }
}
