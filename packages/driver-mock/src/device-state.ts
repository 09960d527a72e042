import type { Device, IommuDomain, Viommu } from '@iommu-sim/core'
import { IOMMU_TEST_DEV_CACHE_DEFAULT, MOCK_DEV_CACHE_NUM } from './constants.js'

/** What the mock IOMMU keeps per device (`struct mock_dev` + its translation state). */
export class MockDeviceState {
  /** `cache[MOCK_DEV_CACHE_NUM]`, changed only by vIOMMU cache invalidation. */
  readonly cache = new Uint32Array(MOCK_DEV_CACHE_NUM).fill(IOMMU_TEST_DEV_CACHE_DEFAULT)
  /** Domain the RID is attached to (the blocked domain when detached). */
  rid: IommuDomain
  /** PASID → domain. */
  readonly pasids = new Map<number, IommuDomain>()
  /** IOMMU_TEST_PASID_RESERVED: one-shot failure armed by the first attach. */
  reservedPasidArmed = false
  /** The vIOMMU of the nested domain the RID is attached to, and the device's virt_id on it. */
  viommu: Viommu | undefined
  vdevId = 0n

  constructor(blocked: IommuDomain) {
    this.rid = blocked
  }
}

export function mockState(dev: Device): MockDeviceState {
  const s = dev.driverData
  if (!(s instanceof MockDeviceState)) throw new Error(`device 0x${dev.id.toString(16)} is not behind a mock IOMMU`)
  return s
}
