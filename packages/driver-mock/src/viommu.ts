/**
 * The mock's vIOMMU (IOMMU_VIOMMU_TYPE_SELFTEST): loopback data and a 2-page mmap region,
 * nested domains, per-device cache invalidation, and up to two HW queues that depend on their
 * predecessor (drivers/iommu/iommufd/selftest.c, reference mock-driver.md §A.6).
 */
import { IOMMU_HWPT_ALLOC_PASID, fail, type Device, type HwQueue, type IommuDomain, type UserData, type UserDataArray, type Viommu, type ViommuOps } from '@iommu-sim/core'
import type { PhysicalMemory } from '@iommu-sim/hw-models'
import {
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_SELFTEST_MIN,
  IOMMU_HWPT_SELFTEST_SIZE,
  IOMMU_HW_QUEUE_TYPE_SELFTEST,
  IOMMU_TEST_HW_QUEUE_MAX,
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
  IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
  IOMMU_VIOMMU_TYPE_SELFTEST,
  MOCK_DEV_CACHE_ID_MAX,
} from './constants.js'
import { mockState } from './device-state.js'
import { MockNestedDomain } from './domains/nested-domain.js'
import { MockPagingDomain } from './domains/paging-domain.js'

/** struct iommu_viommu_selftest { u32 in_data; u32 out_data; u64 out_mmap_offset; u64 out_mmap_length; } */
export const IOMMU_VIOMMU_SELFTEST_SIZE = 24
const VIOMMU_SELFTEST_MIN = 8
/** struct iommu_viommu_invalidate_selftest { u32 flags; u32 vdev_id; u32 cache_id; } */
const VIOMMU_INVALIDATE_ENTRY_SIZE = 12

/** Driver state of one mock vIOMMU (`struct mock_viommu`). */
export class MockViommuState {
  /** Physical address of the 2 zeroed pages exposed by mmap, if user data was given. */
  pagePa = -1
  mmapOffset = 0n
  readonly hwQueues: (HwQueue | undefined)[] = new Array(IOMMU_TEST_HW_QUEUE_MAX).fill(undefined)
  constructor(readonly parent: MockPagingDomain) {}
}

export function mockViommuState(viommu: Viommu): MockViommuState {
  const s = viommu.driverData
  if (!(s instanceof MockViommuState)) throw new Error(`vIOMMU ${viommu.id} is not a mock vIOMMU`)
  return s
}

/** Copies the selftest HWPT data and makes a nested domain (`__mock_domain_alloc_nested`). */
export function allocMockNested(unit: MockNestedDomain['unit'], parent: IommuDomain, userData: UserData, viommu: Viommu | undefined, op: string): MockNestedDomain {
  if (userData.type !== IOMMU_HWPT_DATA_SELFTEST) throw fail('EOPNOTSUPP', op, `data type 0x${userData.type.toString(16)} not supported`)
  const cfg = userData.copyStruct(IOMMU_HWPT_DATA_SELFTEST, IOMMU_HWPT_SELFTEST_SIZE, IOMMU_HWPT_SELFTEST_MIN, op)
  if (!(parent instanceof MockPagingDomain)) throw fail('EINVAL', op, 'parent is not a mock paging domain')
  return new MockNestedDomain(unit, parent, new DataView(cfg.buffer).getUint32(0, true), viommu)
}

export function mockViommuOps(memory: () => PhysicalMemory, pageSize: number): ViommuOps {
  return {
    destroy(viommu) {
      const st = mockViommuState(viommu)
      if (st.pagePa >= 0) {
        viommu.destroyMmap(st.mmapOffset)
        memory().freeFrames(st.pagePa, (2 * pageSize) / 4096)
        st.pagePa = -1
      }
    },

    allocDomainNested(viommu, flags, userData) {
      const op = 'alloc_domain_nested'
      if ((flags & ~IOMMU_HWPT_ALLOC_PASID) !== 0) throw fail('EOPNOTSUPP', op, `unsupported flags 0x${flags.toString(16)}`)
      return allocMockNested(viommu.unit, viommu.hwpt.domain, userData, viommu, op)
    },

    /** mock_viommu_cache_invalidate: the whole array is copied up front (full-array helper). */
    cacheInvalidate(viommu, array: UserDataArray) {
      const op = 'cache_invalidate'
      if (array.entryNum === 0 && array.type === IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST) return
      let done = 0
      try {
        const entries = array.copyAll(IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, VIOMMU_INVALIDATE_ENTRY_SIZE, op)
        for (const e of entries) {
          const v = new DataView(e.buffer)
          const flags = v.getUint32(0, true)
          const vdevId = v.getUint32(4, true)
          const cacheId = v.getUint32(8, true)
          if ((flags & ~IOMMU_TEST_INVALIDATE_FLAG_ALL) !== 0) throw fail('EOPNOTSUPP', op, `unknown flags 0x${flags.toString(16)}`)
          if (cacheId > MOCK_DEV_CACHE_ID_MAX) throw fail('EINVAL', op, `cache_id ${cacheId} > ${MOCK_DEV_CACHE_ID_MAX}`)
          const dev = viommu.findDev(BigInt(vdevId))
          if (dev === undefined) throw fail('EINVAL', op, `no vDEVICE with virt_id ${vdevId}`)
          const cache = mockState(dev).cache
          if (flags & IOMMU_TEST_INVALIDATE_FLAG_ALL) cache.fill(0)
          else cache[cacheId] = 0
          done++
        }
      } finally {
        array.entryNum = done
      }
    },

    getHwQueueSize(_viommu, type) {
      return type === IOMMU_HW_QUEUE_TYPE_SELFTEST ? 64 : 0
    },

    /** mock_hw_queue_init_phys: ascending indexes, each depending on its predecessor. */
    hwQueueInitPhys(queue, index, basePa) {
      const op = 'hw_queue_init_phys'
      const st = mockViommuState(queue.viommu)
      if (index >= IOMMU_TEST_HW_QUEUE_MAX) throw fail('EINVAL', op, `index ${index} ≥ ${IOMMU_TEST_HW_QUEUE_MAX}`)
      if (st.hwQueues[index] !== undefined) throw fail('EEXIST', op, `queue ${index} exists`)
      const prev = index > 0 ? st.hwQueues[index - 1] : undefined
      if (index > 0 && prev === undefined) throw fail('EIO', op, `queue ${index - 1} must exist first`)
      // The core's translation of base_addr must agree with the parent domain's own.
      if (BigInt(basePa) !== st.parent.iovaToPhys(queue.baseAddr)) throw fail('EFAULT', op, 'base physical address does not match the stage-2 translation')
      if (prev !== undefined) queue.depend(prev)
      st.hwQueues[index] = queue
      queue.destroyHook = (q) => {
        st.hwQueues[index] = undefined
        if (prev !== undefined) q.undepend(prev)
      }
    },
  }
}

/** mock_viommu_init: optional loopback data and a 2-page region userspace can mmap. */
export function initMockViommu(viommu: Viommu, parent: IommuDomain, userData: UserData | undefined, memory: PhysicalMemory, pageSize: number, ops: ViommuOps): void {
  const op = 'viommu_init'
  if (!(parent instanceof MockPagingDomain)) throw fail('EINVAL', op, 'parent is not a mock paging domain')
  const st = new MockViommuState(parent)
  if (userData !== undefined) {
    const data = userData.copyStruct(IOMMU_VIOMMU_TYPE_SELFTEST, IOMMU_VIOMMU_SELFTEST_SIZE, VIOMMU_SELFTEST_MIN, op)
    const v = new DataView(data.buffer)
    const inData = v.getUint32(0, true)
    const pa = memory.allocFrames((2 * pageSize) / 4096, pageSize / 4096)
    memory.write32(pa, inData)
    let offset: bigint
    try {
      offset = viommu.allocMmap(pa, 2 * pageSize)
    } catch (e) {
      memory.freeFrames(pa, (2 * pageSize) / 4096)
      throw e
    }
    st.pagePa = pa
    st.mmapOffset = offset
    v.setUint32(4, inData, true) // out_data = in_data
    v.setBigUint64(8, offset, true)
    v.setBigUint64(16, BigInt(2 * pageSize), true)
    viommu.driverData = st
    viommu.ops = ops
    try {
      userData.copyToUser(IOMMU_VIOMMU_TYPE_SELFTEST, data, VIOMMU_SELFTEST_MIN, op)
    } catch (e) {
      ops.destroy?.(viommu)
      viommu.ops = undefined
      throw e
    }
    return
  }
  viommu.driverData = st
  viommu.ops = ops
}

/** IOMMU_TEST_OP_TRIGGER_VEVENT: a selftest event carrying the device's virt_id (ENOENT when not on a vIOMMU). */
export function mockTriggerVevent(dev: Device): void {
  const st = mockState(dev)
  if (st.viommu === undefined || st.vdevId === 0n) throw fail('ENOENT', 'IOMMU_TEST_OP_TRIGGER_VEVENT', 'device is not attached through a vIOMMU')
  const event = new Uint8Array(4)
  new DataView(event.buffer).setUint32(0, Number(st.vdevId & 0xffff_ffffn), true)
  st.viommu.reportEvent(0xbeefbeef, event)
}
