import type { Device, IommuDomain, IommuUnit } from '@iommu-sim/core'
import { mockState } from '../device-state.js'

/** The static blocking domain (the mock's default and blocked domain): every DMA faults. */
export class MockBlockedDomain implements IommuDomain {
  readonly type = 'blocked' as const
  readonly pgsizeBitmap = 0n
  readonly aperture = { start: 0n, end: 0n }
  /** Slot in the hardware's domain table: −1 = block. */
  readonly hwSlot = -1

  constructor(readonly unit: IommuUnit) {}

  attachDev(dev: Device): void {
    const st = mockState(dev)
    st.rid = this
    st.viommu = undefined
    st.vdevId = 0n
  }

  setDevPasid(dev: Device, pasid: number): void {
    const st = mockState(dev)
    st.checkReservedPasid(pasid, true)
    st.deletePasid(pasid)
  }

  free(): void {}
}
