import { fail, type Device, type IommuDomain, type IommuUnit, type UserDataArray, type Viommu } from '@iommu-sim/core'
import {
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
  MOCK_NESTED_DOMAIN_IOTLB_ID_MAX,
  MOCK_NESTED_DOMAIN_IOTLB_NUM,
} from '../constants.js'
import { mockState } from '../device-state.js'
import type { MockPagingDomain } from './paging-domain.js'

/** struct iommu_hwpt_invalidate_selftest { u32 flags; u32 iotlb_id; } */
const INVALIDATE_ENTRY_SIZE = 8

/**
 * The mock's nested domain (`struct mock_iommu_domain_nested`): a 4-entry "IOTLB" that user
 * invalidations clear, stacked on a nest-parent paging domain. The mock has no stage-1 format,
 * so a DMA through it uses an identity stage 1 and the parent's table as stage 2.
 */
export class MockNestedDomain implements IommuDomain {
  readonly type = 'nested' as const
  readonly pgsizeBitmap = 0n
  readonly aperture = { start: 0n, end: 0n }
  readonly iotlb = new Uint32Array(MOCK_NESTED_DOMAIN_IOTLB_NUM)

  /** The hardware walks the parent's table (the mock has no stage-1 format). */
  get hwSlot(): number {
    return this.parent.hwSlot
  }

  constructor(
    readonly unit: IommuUnit,
    readonly parent: MockPagingDomain,
    iotlbValue: number,
    /** The vIOMMU it was allocated through, if any. */
    readonly viommu: Viommu | undefined,
  ) {
    this.iotlb.fill(iotlbValue)
  }

  attachDev(dev: Device): void {
    if (dev.iommu !== this.unit) throw fail('EINVAL', 'attach_dev', `domain of ${this.unit.name} cannot attach a device behind ${dev.iommu.name}`)
    const st = mockState(dev)
    // A vIOMMU-based nested domain needs the device's vDEVICE (ENOENT otherwise).
    const vdevId = this.viommu === undefined ? 0n : this.viommu.getVdevId(dev, 'attach_dev')
    st.rid = this
    st.viommu = this.viommu
    st.vdevId = vdevId
  }

  setDevPasid(dev: Device, pasid: number): void {
    if (dev.iommu !== this.unit) throw fail('EINVAL', 'set_dev_pasid', 'domain of another IOMMU')
    const st = mockState(dev)
    st.checkReservedPasid(pasid, false)
    st.setPasid(pasid, this)
  }

  /** mock_domain_cache_invalidate_user: entries copied one by one (per-entry struct rules). */
  cacheInvalidateUser(array: UserDataArray): void {
    const op = 'cache_invalidate_user'
    let i = 0
    try {
      if (array.type !== IOMMU_HWPT_INVALIDATE_DATA_SELFTEST) throw fail('EINVAL', op, `data type 0x${array.type.toString(16)} is not the selftest type`)
      for (; i < array.entryNum; i++) {
        const e = array.copyEntry(IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, i, INVALIDATE_ENTRY_SIZE, INVALIDATE_ENTRY_SIZE, op)
        const v = new DataView(e.buffer)
        const flags = v.getUint32(0, true)
        const id = v.getUint32(4, true)
        if ((flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL) !== 0) throw fail('EOPNOTSUPP', op, `unknown flags 0x${flags.toString(16)}`)
        if (id > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX) throw fail('EINVAL', op, `iotlb_id ${id} > ${MOCK_NESTED_DOMAIN_IOTLB_ID_MAX}`)
        if (flags & IOMMU_TEST_INVALIDATE_FLAG_ALL) this.iotlb.fill(0)
        else this.iotlb[id] = 0
      }
    } finally {
      array.entryNum = i
    }
  }

  free(): void {}
}
