import type { Device, IommuDomain } from '@iommu-sim/core'
import { smmuMaster, type Smmuv3IommuUnit } from '../unit.js'

/**
 * The blocked domain: an abort STE (V=1, Config=0), so DMA is terminated without an event; while
 * PASIDs are attached, the CD-table STE with S1DSS = terminate. On a PASID it clears that CD.
 */
export class Smmuv3BlockedDomain implements IommuDomain {
  readonly type = 'blocked' as const
  readonly pgsizeBitmap = 0n
  readonly aperture = { start: 0n, end: 0n }
  constructor(readonly unit: Smmuv3IommuUnit) {}

  attachDev(dev: Device): void {
    const master = smmuMaster(dev)
    master.vmaster = undefined
    master.domain = this
    this.unit.installBlocked(master)
  }

  setDevPasid(dev: Device, pasid: number): void {
    this.unit.removePasid(smmuMaster(dev), pasid)
  }

  free(): void {}
}
