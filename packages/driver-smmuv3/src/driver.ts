import type { HostServices, IommuDriver } from '@iommu-sim/core'
import type { Smmuv3Options } from '@iommu-sim/hw-models'
import { Smmuv3IommuUnit } from './unit.js'

export interface Smmuv3DriverOptions {
  /** Number of SMMUv3 instances (default 1). */
  readonly instances?: number
  /** Hardware configuration of every instance (ID registers, IOTLB). */
  readonly hardware?: Smmuv3Options
}

/** The ARM SMMUv3 driver (arm-smmu-v3 + arm-smmu-v3-iommufd). Pass it to `createHost({ drivers })`. */
export function smmuv3Driver(options: Smmuv3DriverOptions = {}): IommuDriver {
  const instances = options.instances ?? 1
  if (!Number.isInteger(instances) || instances < 1) throw new RangeError(`smmuv3Driver: instances must be ≥ 1, got ${instances}`)
  return {
    name: 'arm-smmu-v3',
    coreApi: 1,
    createUnits(host: HostServices) {
      return Array.from({ length: instances }, (_, i) => new Smmuv3IommuUnit(`smmu${i}`, host, options.hardware ?? {}))
    },
  }
}
