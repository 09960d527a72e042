import type { Device, IommuDomain } from '@iommu-sim/core'
import { abortSte } from '../ste.js'
import { smmuMaster, type Smmuv3IommuUnit } from '../unit.js'

/** The blocked domain: an abort STE (V=1, Config=0): DMA is terminated without an event. */
export class Smmuv3BlockedDomain implements IommuDomain {
  readonly type = 'blocked' as const
  readonly pgsizeBitmap = 0n
  readonly aperture = { start: 0n, end: 0n }
  constructor(readonly unit: Smmuv3IommuUnit) {}

  attachDev(dev: Device): void {
    const master = smmuMaster(dev)
    master.vmaster = undefined
    master.domain = this
    this.unit.installSte(master, abortSte())
  }

  free(): void {}
}
