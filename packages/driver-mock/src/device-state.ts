import { fail, type Device, type IommuDomain, type Viommu } from '@iommu-sim/core'
import { IOMMU_TEST_DEV_CACHE_DEFAULT, IOMMU_TEST_PASID_RESERVED, MOCK_DEV_CACHE_NUM } from './constants.js'

/** What the mock IOMMU keeps per device (`struct mock_dev` + its translation state). */
export class MockDeviceState {
  /** `cache[MOCK_DEV_CACHE_NUM]`, changed only by vIOMMU cache invalidation. */
  readonly cache = new Uint32Array(MOCK_DEV_CACHE_NUM).fill(IOMMU_TEST_DEV_CACHE_DEFAULT)
  /** Domain the RID is attached to (the blocked domain when detached). */
  private ridDomain: IommuDomain
  /** PASID → domain. */
  private readonly pasidDomains = new Map<number, IommuDomain>()
  /** IOMMU_TEST_PASID_RESERVED: one-shot failure armed by the first attach. */
  private reservedPasidArmed = false
  /** The vIOMMU of the nested domain the RID is attached to, and the device's virt_id on it. */
  viommu: Viommu | undefined
  vdevId = 0n

  constructor(
    blocked: IommuDomain,
    /** Programs the unit's device table (the hardware) for (RID or PASID) → domain. */
    private readonly program: (pasid: number | undefined, domain: IommuDomain | undefined) => void,
  ) {
    this.ridDomain = blocked
  }

  get rid(): IommuDomain {
    return this.ridDomain
  }

  set rid(domain: IommuDomain) {
    this.ridDomain = domain
    this.program(undefined, domain)
  }

  /**
   * The selftest's fault injection on PASID 1024, shared by every mock domain's set_dev_pasid
   * (selftest.c mock_domain_set_dev_pasid_nop): a blocking attach disarms it; otherwise the first
   * attach arms it and the next one fails with ENOMEM (and disarms it). Other PASIDs are untouched.
   */
  checkReservedPasid(pasid: number, blocking: boolean): void {
    if (pasid !== IOMMU_TEST_PASID_RESERVED) return
    if (blocking) {
      this.reservedPasidArmed = false
    } else if (this.reservedPasidArmed) {
      this.reservedPasidArmed = false
      throw fail('ENOMEM', 'set_dev_pasid', `PASID ${pasid} injected failure`)
    } else {
      this.reservedPasidArmed = true
    }
  }

  pasid(pasid: number): IommuDomain | undefined {
    return this.pasidDomains.get(pasid)
  }

  setPasid(pasid: number, domain: IommuDomain): void {
    this.pasidDomains.set(pasid, domain)
    this.program(pasid, domain)
  }

  deletePasid(pasid: number): void {
    this.pasidDomains.delete(pasid)
    this.program(pasid, undefined)
  }
}

export function mockState(dev: Device): MockDeviceState {
  const s = dev.driverData
  if (!(s instanceof MockDeviceState)) throw new Error(`device 0x${dev.id.toString(16)} is not behind a mock IOMMU`)
  return s
}
