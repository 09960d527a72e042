import {
  DmaFault,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_DATA_NONE,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_NO_PASID,
  Iommufd,
  fail,
  type Viommu,
  type ViommuOps,
  type Device,
  type HostServices,
  type IommuCap,
  type IommuDomain,
  type IommuUnit,
  type ResvRegion,
  type Translation,
  type UserData,
  type SelftestCall,
} from '@iommu-sim/core'
import * as M from './constants.js'
import { MockDeviceState, mockState } from './device-state.js'
import { MockBlockedDomain } from './domains/blocked-domain.js'
import { MockPagingDomain } from './domains/paging-domain.js'
import { MOCK_HW_BLOCKED, MOCK_HW_PERMISSION_FAULT, MOCK_HW_TRANSLATION_FAULT, MockHardware } from './hardware/mock-hardware.js'
import { WalkResult } from '@iommu-sim/hw-models'
import { MockNestedDomain } from './domains/nested-domain.js'
import { allocMockNested, initMockViommu, mockViommuOps } from './viommu.js'
import { MockSelftest } from './selftest/ops.js'

const PAGING_FLAGS = IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_NEST_PARENT | IOMMU_HWPT_ALLOC_PASID

/** HUGE-format IOVA space: the page table's own range, capped at 2^53 by JS number precision. */
const HUGE_APERTURE_END = (1n << 53n) - 1n
/** IOVAs the model translates as JS numbers (hot path); anything above faults. */
const MAX_SAFE_IOVA = 1n << 53n

/** One instance of the selftest mock IOMMU (drivers/iommu/iommufd/selftest.c). */
export class MockIommuUnit implements IommuUnit {
  readonly driverName = 'mock'
  readonly blockedDomain: MockBlockedDomain
  private readonly viommuOps: ViommuOps

  constructor(
    readonly name: string,
    private readonly host: HostServices,
  ) {
    this.blockedDomain = new MockBlockedDomain(this)
    this.viommuOps = mockViommuOps(() => host.memory, host.pageSize)
  }

  probeDevice(dev: Device): void {
    if ((dev.flags & ~M.MOCK_DEVICE_FLAGS) !== 0) {
      throw fail('EINVAL', 'probe_device', `unknown mock device flags 0x${dev.flags.toString(16)}`)
    }
    dev.driverData = new MockDeviceState(this.blockedDomain, (pasid, domain) => {
      this.hw.setDevice(dev.id, pasid, (domain as { hwSlot?: number } | undefined)?.hwSlot ?? -1)
    })
  }

  capable(dev: Device, cap: IommuCap): boolean {
    switch (cap) {
      case 'CACHE_COHERENCY':
        return true
      case 'DIRTY_TRACKING':
        return (dev.flags & M.MOCK_FLAGS_DEVICE_NO_DIRTY) === 0
      default:
        return false
    }
  }

  hwInfo(_dev: Device, type: number): { type: number; data: Uint8Array } {
    if (type !== IOMMU_HW_INFO_TYPE_DEFAULT && type !== M.IOMMU_HW_INFO_TYPE_SELFTEST) {
      throw fail('EOPNOTSUPP', 'hw_info', `hw info type 0x${type.toString(16)} not supported`)
    }
    const data = new Uint8Array(M.IOMMU_TEST_HW_INFO_SIZE)
    new DataView(data.buffer).setUint32(4, M.IOMMU_HW_INFO_SELFTEST_REGVAL, true) // flags = 0, test_reg
    return { type: M.IOMMU_HW_INFO_TYPE_SELFTEST, data }
  }

  maxPasidLog2(dev: Device): number {
    if ((dev.flags & M.MOCK_FLAGS_DEVICE_PASID) !== 0) return M.MOCK_PASID_WIDTH
    return dev.pasidBits
  }

  domainAllocPagingFlags(dev: Device, flags: number, userData: UserData | undefined): IommuDomain {
    const op = 'domain_alloc_paging_flags'
    const dirty = (flags & IOMMU_HWPT_ALLOC_DIRTY_TRACKING) !== 0
    if ((flags & ~PAGING_FLAGS) !== 0 || (dirty && (dev.flags & M.MOCK_FLAGS_DEVICE_NO_DIRTY) !== 0)) {
      throw fail('EOPNOTSUPP', op, `unsupported flags 0x${flags.toString(16)}`)
    }
    let pagetableType = M.MOCK_IOMMUPT_DEFAULT
    if (userData !== undefined) {
      if (userData.type !== M.IOMMU_HWPT_DATA_SELFTEST && userData.type !== IOMMU_HWPT_DATA_NONE) {
        throw fail('EOPNOTSUPP', op, `data type 0x${userData.type.toString(16)} not supported`)
      }
      const cfg = userData.copyStruct(M.IOMMU_HWPT_DATA_SELFTEST, M.IOMMU_HWPT_SELFTEST_SIZE, M.IOMMU_HWPT_SELFTEST_MIN, op)
      pagetableType = new DataView(cfg.buffer).getUint32(4, true)
    }
    if (pagetableType === M.MOCK_IOMMUPT_DEFAULT) {
      // The default format stores only 2 KiB leaves and its aperture is forced to the mock range.
      return new MockPagingDomain(
        this,
        this.host.memory,
        {
          pgsizeBitmap: BigInt(M.MOCK_PAGE_SIZE),
          aperture: { start: M.MOCK_APERTURE_START, end: M.MOCK_APERTURE_LAST },
          levels: 3,
          dirtyTracking: dirty,
        },
        this.hw,
      )
    }
    if (pagetableType === M.MOCK_IOMMUPT_HUGE) {
      if (this.host.pageSize !== 4096) throw fail('EOPNOTSUPP', op, 'the HUGE mock format needs a 4 KiB host page size')
      // Only 1 MiB leaves, plus PAGE_SIZE so iommufd accepts the domain.
      return new MockPagingDomain(
        this,
        this.host.memory,
        {
          pgsizeBitmap: BigInt(M.MOCK_HUGE_PAGE_SIZE) | BigInt(this.host.pageSize),
          aperture: { start: 0n, end: HUGE_APERTURE_END },
          levels: 5,
          dirtyTracking: dirty,
        },
        this.hw,
      )
    }
    throw fail('EOPNOTSUPP', op, `pagetable_type ${pagetableType} not supported`)
  }

  domainAllocNested(_dev: Device, parent: IommuDomain, flags: number, userData: UserData): IommuDomain {
    const op = 'domain_alloc_nested'
    if ((flags & ~IOMMU_HWPT_ALLOC_PASID) !== 0) throw fail('EOPNOTSUPP', op, `unsupported flags 0x${flags.toString(16)}`)
    return allocMockNested(this, parent, userData, undefined, op)
  }

  getViommuSize(_dev: Device, type: number): number {
    return type === M.IOMMU_VIOMMU_TYPE_SELFTEST ? 256 : 0
  }

  viommuInit(viommu: Viommu, parent: IommuDomain, userData: UserData | undefined): void {
    initMockViommu(viommu, parent, userData, this.host.memory, this.host.pageSize, this.viommuOps)
  }


  /** IOMMU_TEST_OP_TRIGGER_IOPF: a one-request page-request group (LAST_PAGE) from `dev`. */
  triggerIopf(dev: Device, pasid: number, grpid: number, perm: number, addr: bigint): void {
    const owner = dev.dmaOwner
    if (!(owner instanceof Iommufd)) throw fail('ENODEV', 'IOMMU_TEST_OP_TRIGGER_IOPF', 'device is not bound')
    owner.reportPageRequest(dev, pasid === IOMMU_NO_PASID ? undefined : pasid, { grpid, perm, addr, last: true })
  }

  getResvRegions(dev: Device): readonly ResvRegion[] {
    return dev.resvRegions
  }

  private selftestState: MockSelftest | undefined

  /** IOMMU_TEST_CMD: the kernel's selftest ops on this mock instance (selftest/ops.ts). */
  selftest(call: SelftestCall): number {
    this.selftestState ??= new MockSelftest(this)
    return this.selftestState.run(call)
  }

  /** The unit's hardware: device and domain tables in shared memory (created on first use). */
  get hw(): MockHardware {
    this.hardware ??= new MockHardware(this.host.memory)
    return this.hardware
  }

  private hardware: MockHardware | undefined

  /** The mock is engine-capable: its tables are shared, its walk runs on any thread. */
  get dmaModel(): MockHardware {
    return this.hw
  }

  /** A DMA through the unit: the same hardware walk the DMA engine runs. */
  translate(dev: Device, pasid: number | undefined, iova: bigint, write: boolean, out: Translation): void {
    const r = this.walkResult
    const rc = iova < MAX_SAFE_IOVA ? this.hw.translate(dev.id, pasid ?? -1, Number(iova), write, r) : MOCK_HW_TRANSLATION_FAULT
    if (rc === 0) {
      const size = 2 ** r.sizeLg2
      out.pa = r.oa
      out.length = size - (Number(iova) % size)
      return
    }
    const st = mockState(dev)
    const domain = pasid === undefined ? st.rid : st.pasid(pasid)
    const reason = rc === MOCK_HW_BLOCKED ? 'blocked' : rc === MOCK_HW_PERMISSION_FAULT ? 'permission' : 'translation'
    throw new DmaFault({ reason, iova, deviceId: dev.id, pasid, write, ...(domain instanceof MockNestedDomain ? { stage: 2 as const } : {}) })
  }

  private readonly walkResult = new WalkResult()
}
