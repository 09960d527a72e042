/**
 * Nested translation and the vIOMMU object family on the mock driver, through the typed API
 * (reference iommufd-uapi.md §1.4.4–§1.4.10, §2.11 b/c, §2.15–§2.22; mock-driver.md §A.4–§A.6).
 */
import { describe, expect, it } from 'vitest'
import {
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HWPT_FAULT_ID_VALID,
  IOMMU_PGFAULT_FLAGS_LAST_PAGE,
  IOMMU_PGFAULT_FLAGS_PASID_VALID,
  IOMMU_PGFAULT_PERM_READ,
  IOMMU_VEVENTQ_FLAG_LOST_EVENTS,
  IommufdError,
  type Iommufd,
} from '@iommu-sim/core'
import {
  IOMMU_HWPT_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST,
  IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID,
  IOMMU_HW_QUEUE_TYPE_SELFTEST,
  IOMMU_TEST_DEV_CACHE_DEFAULT,
  IOMMU_TEST_INVALIDATE_FLAG_ALL,
  IOMMU_TEST_IOTLB_DEFAULT,
  IOMMU_VEVENTQ_TYPE_SELFTEST,
  IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST,
  IOMMU_VIOMMU_TYPE_SELFTEST,
  MOCK_FLAGS_DEVICE_PASID,
  MockIommuUnit,
  MockNestedDomain,
  mockState,
  mockTriggerVevent,
} from '../src/index.js'
import { errOf, fixture } from './support/fixture.js'

const u32s = (...v: number[]): Uint8Array => {
  const b = new Uint8Array(v.length * 4)
  const d = new DataView(b.buffer)
  v.forEach((x, i) => d.setUint32(i * 4, x >>> 0, true))
  return b
}
const selftest = (iotlb = IOMMU_TEST_IOTLB_DEFAULT) => ({ dataType: IOMMU_HWPT_DATA_SELFTEST, data: u32s(iotlb, 0) })

/** Invalidation returning [errno code or 'ok', entry_num written back]. */
function invalidate(ictx: Iommufd, hwptId: number, dataType: number, entryLen: number, entries: Uint8Array, entryNum?: number): [string, number] {
  try {
    const r = ictx.hwptInvalidate({ hwptId, dataType, entryLen, entryNum: entryNum ?? entries.length / entryLen, data: entries })
    return ['ok', r.entryNum]
  } catch (e) {
    if (!IommufdError.is(e)) throw e
    return [e.code, e.details?.['entryNum'] as number]
  }
}

function parentWorld() {
  const f = fixture()
  const ioasId = f.ictx.ioasAlloc().outIoasId
  const dev = f.addDevice()
  const b = f.bind(dev)
  const parent = f.ictx.hwptAlloc({ devId: b.devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT }).outHwptId
  return { ...f, ioasId, dev, ...b, parent }
}

function viommuWorld() {
  const w = parentWorld()
  const viommuId = w.ictx.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_SELFTEST, devId: w.devId, hwptId: w.parent }).outViommuId
  return { ...w, viommuId }
}

describe('HWPT_NESTED on a nest parent (legacy path, §2.11 b, mock §A.4)', () => {
  it('allocates a nested domain whose four IOTLB entries hold the given value, and it pins its parent', () => {
    const w = parentWorld()
    const { outHwptId } = w.ictx.hwptAlloc({ devId: w.devId, ptId: w.parent, ...selftest(0x1234) })
    const hwpt = w.ictx.objects.get(outHwptId, 'HWPT_NESTED', 't') as unknown as { domain: MockNestedDomain }
    expect([...hwpt.domain.iotlb]).toEqual([0x1234, 0x1234, 0x1234, 0x1234])
    expect(errOf(() => w.ictx.destroy(w.parent))).toBe('EBUSY')
    w.ictx.destroy(outHwptId)
    w.ictx.destroy(w.parent)
  })
  it('refuses a parent that is automatic or not a nest parent (EINVAL), and bad flags or data (EOPNOTSUPP / EINVAL)', () => {
    const w = parentWorld()
    const auto = w.vf.attach(w.ioasId)
    const plain = w.ictx.hwptAlloc({ devId: w.devId, ptId: w.ioasId }).outHwptId
    const before = w.ictx.snapshot()
    expect(errOf(() => w.ictx.hwptAlloc({ devId: w.devId, ptId: auto, ...selftest() }))).toBe('EINVAL')
    expect(errOf(() => w.ictx.hwptAlloc({ devId: w.devId, ptId: plain, ...selftest() }))).toBe('EINVAL')
    expect(errOf(() => w.ictx.hwptAlloc({ devId: w.devId, ptId: w.parent }))).toBe('EOPNOTSUPP') // no data
    expect(errOf(() => w.ictx.hwptAlloc({ devId: w.devId, ptId: w.parent, flags: IOMMU_HWPT_ALLOC_NEST_PARENT, ...selftest() }))).toBe('EOPNOTSUPP')
    expect(errOf(() => w.ictx.hwptAlloc({ devId: w.devId, ptId: w.parent, dataType: 0x77, data: u32s(1, 0) }))).toBe('EOPNOTSUPP')
    expect(errOf(() => w.ictx.hwptAlloc({ devId: w.devId, ptId: w.parent, dataType: IOMMU_HWPT_DATA_SELFTEST, data: new Uint8Array(3) }))).toBe('EINVAL')
    expect(errOf(() => w.ictx.hwptAlloc({ devId: w.devId, ptId: w.parent, dataType: IOMMU_HWPT_DATA_SELFTEST, data: new Uint8Array(12) }))).toBe('EINVAL')
    expect(w.ictx.snapshot()).toEqual(before)
  })
  it('a device attaches to the nested HWPT; DMA goes through the parent stage 2; reserved regions apply to the parent IOAS', () => {
    const w = parentWorld()
    const nested = w.ictx.hwptAlloc({ devId: w.devId, ptId: w.parent, ...selftest() }).outHwptId
    const other = w.addDevice({ resvRegions: [{ start: 0x4000_0000n, length: 0x1000n, type: 'msi' }] })
    const ob = w.bind(other)
    expect(ob.vf.attach(nested)).toBe(nested)
    expect(w.ictx.ioasIovaRanges({ ioasId: w.ioasId }).numIovas).toBe(2)
    const buf = w.proc.mmap(0x1000)
    w.proc.memory.write(buf, new Uint8Array([0x42]))
    const { iova } = w.ictx.ioasMap({ ioasId: w.ioasId, userVa: buf, length: 0x1000 })
    expect(other.dmaRead(iova, 1)[0]).toBe(0x42)
    expect(errOf(() => w.ictx.destroy(nested))).toBe('EBUSY')
    ob.vf.detach()
    w.ictx.destroy(nested)
  })
})

describe('IOMMU_HWPT_INVALIDATE on a nested HWPT (§2.15, mock §A.5)', () => {
  function nestedWorld() {
    const w = parentWorld()
    const nested = w.ictx.hwptAlloc({ devId: w.devId, ptId: w.parent, ...selftest() }).outHwptId
    const domain = (w.ictx.objects.get(nested, 'HWPT_NESTED', 't') as unknown as { domain: MockNestedDomain }).domain
    return { ...w, nested, iotlb: domain.iotlb }
  }
  it('clears the named entries in order and reports all of them handled', () => {
    const w = nestedWorld()
    expect(invalidate(w.ictx, w.nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 8, u32s(0, 1, 0, 3))).toEqual(['ok', 2])
    expect([...w.iotlb]).toEqual([IOMMU_TEST_IOTLB_DEFAULT, 0, IOMMU_TEST_IOTLB_DEFAULT, 0])
    expect(invalidate(w.ictx, w.nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 8, u32s(IOMMU_TEST_INVALIDATE_FLAG_ALL, 3))).toEqual(['ok', 1])
    expect([...w.iotlb]).toEqual([0, 0, 0, 0])
  })
  it('stops at a bad entry in the middle: entry_num = its index, earlier entries stay applied', () => {
    const w = nestedWorld()
    expect(invalidate(w.ictx, w.nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 8, u32s(0, 0, 0, 4, 0, 1))).toEqual(['EINVAL', 1])
    expect([...w.iotlb]).toEqual([0, IOMMU_TEST_IOTLB_DEFAULT, IOMMU_TEST_IOTLB_DEFAULT, IOMMU_TEST_IOTLB_DEFAULT])
    expect(invalidate(w.ictx, w.nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 8, u32s(0, 1, 0, 2, 0x80, 3))).toEqual(['EOPNOTSUPP', 2])
  })
  it('wrong data type → EINVAL with entry_num 0, even for zero entries; zero entries of the right type succeed', () => {
    const w = nestedWorld()
    expect(invalidate(w.ictx, w.nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID, 8, u32s(0, 0))).toEqual(['EINVAL', 0])
    expect(invalidate(w.ictx, w.nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID, 8, new Uint8Array(0), 0)).toEqual(['EINVAL', 0])
    expect(invalidate(w.ictx, w.nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 8, new Uint8Array(0), 0)).toEqual(['ok', 0])
  })
  it('per-entry copy: entry_len smaller or larger than 8 → EINVAL at entry 0', () => {
    const w = nestedWorld()
    expect(invalidate(w.ictx, w.nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 4, u32s(0, 0))).toEqual(['EINVAL', 0])
    expect(invalidate(w.ictx, w.nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 12, u32s(0, 0, 0))).toEqual(['EINVAL', 0])
  })
  it('core checks: entries without entry_len → EINVAL; paging HWPT or IOAS → EINVAL; unknown id → ENOENT', () => {
    const w = nestedWorld()
    expect(invalidate(w.ictx, w.nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 0, new Uint8Array(0), 1)).toEqual(['EINVAL', 0])
    expect(invalidate(w.ictx, w.parent, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 8, u32s(0, 0))).toEqual(['EINVAL', 0])
    expect(invalidate(w.ictx, w.ioasId, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 8, u32s(0, 0))).toEqual(['EINVAL', 0])
    expect(invalidate(w.ictx, 999, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 8, u32s(0, 0))).toEqual(['ENOENT', 0])
  })
})

describe('IOMMU_VIOMMU_ALLOC (§2.17, mock §A.6)', () => {
  it('validation in the kernel order', () => {
    const w = parentWorld()
    const plain = w.ictx.hwptAlloc({ devId: w.devId, ptId: w.ioasId }).outHwptId
    const before = w.ictx.snapshot()
    expect(errOf(() => w.ictx.viommuAlloc({ flags: 1, type: IOMMU_VIOMMU_TYPE_SELFTEST, devId: w.devId, hwptId: w.parent }))).toBe('EOPNOTSUPP')
    expect(errOf(() => w.ictx.viommuAlloc({ type: 0, devId: w.devId, hwptId: w.parent }))).toBe('EOPNOTSUPP')
    expect(errOf(() => w.ictx.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_SELFTEST, devId: 99, hwptId: w.parent }))).toBe('ENOENT')
    expect(errOf(() => w.ictx.viommuAlloc({ type: 0x1234, devId: w.devId, hwptId: w.parent }))).toBe('EOPNOTSUPP')
    expect(errOf(() => w.ictx.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_SELFTEST, devId: w.devId, hwptId: 0 }))).toBe('ENOENT')
    expect(errOf(() => w.ictx.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_SELFTEST, devId: w.devId, hwptId: plain }))).toBe('EINVAL')
    expect(w.ictx.snapshot()).toEqual(before)
  })
  it('the selftest data loops back and registers a 2-page region mmap-able only at its exact offset and length', () => {
    const w = parentWorld()
    const data = new Uint8Array(24)
    new DataView(data.buffer).setUint32(0, 0xcafe, true)
    const { outViommuId } = w.ictx.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_SELFTEST, devId: w.devId, hwptId: w.parent, data })
    const v = new DataView(data.buffer)
    expect(v.getUint32(4, true)).toBe(0xcafe)
    const offset = v.getBigUint64(8, true)
    const length = Number(v.getBigUint64(16, true))
    expect(length).toBe(2 * 4096)
    const iommufdFd = w.proc.files.fds.find((fd) => w.proc.files.get(fd)?.kind === 'iommufd')!
    expect(errOf(() => w.proc.mmap(length, { fd: iommufdFd, offset: offset + 4096n }))).toBe('ENXIO')
    expect(errOf(() => w.proc.mmap(4096, { fd: iommufdFd, offset }))).toBe('ENXIO')
    expect(errOf(() => w.proc.mmap(length, { fd: iommufdFd, offset, exec: true }))).toBe('EPERM')
    const va = w.proc.mmap(length, { fd: iommufdFd, offset })
    expect(new DataView(w.proc.memory.read(va, 4).buffer).getUint32(0, true)).toBe(0xcafe)
    expect(errOf(() => w.ictx.destroy(outViommuId))).toBe('EBUSY')
    w.proc.munmap(va, length)
    w.ictx.destroy(outViommuId)
    expect(errOf(() => w.proc.mmap(length, { fd: iommufdFd, offset }))).toBe('ENXIO')
  })
  it('the vIOMMU pins its nest parent', () => {
    const w = viommuWorld()
    expect(errOf(() => w.ictx.destroy(w.parent))).toBe('EBUSY')
    w.ictx.destroy(w.viommuId)
    w.ictx.destroy(w.parent)
  })
})

describe('IOMMU_VDEVICE_ALLOC (§2.18)', () => {
  it('one vDEVICE per device and one per virt_id on a vIOMMU (EEXIST); bad ids (ENOENT); another unit (EINVAL)', () => {
    const f = fixture({ units: 2 })
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const a = f.bind(f.addDevice())
    const b = f.bind(f.addDevice())
    const far = f.bind(f.addDevice({ unit: 1 }))
    const parent = f.ictx.hwptAlloc({ devId: a.devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT }).outHwptId
    const viommuId = f.ictx.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_SELFTEST, devId: a.devId, hwptId: parent }).outViommuId
    f.ictx.vdeviceAlloc({ viommuId, devId: a.devId, virtId: 0x99 })
    expect(errOf(() => f.ictx.vdeviceAlloc({ viommuId, devId: a.devId, virtId: 0x98 }))).toBe('EEXIST')
    expect(errOf(() => f.ictx.vdeviceAlloc({ viommuId, devId: b.devId, virtId: 0x99 }))).toBe('EEXIST')
    expect(errOf(() => f.ictx.vdeviceAlloc({ viommuId: 77, devId: b.devId, virtId: 1 }))).toBe('ENOENT')
    expect(errOf(() => f.ictx.vdeviceAlloc({ viommuId, devId: 77, virtId: 1 }))).toBe('ENOENT')
    expect(errOf(() => f.ictx.vdeviceAlloc({ viommuId, devId: far.devId, virtId: 1 }))).toBe('EINVAL')
    expect(f.ictx.vdeviceAlloc({ viommuId, devId: b.devId, virtId: 0x98 }).outVdeviceId).toBeGreaterThan(0)
    expect(errOf(() => f.ictx.destroy(viommuId))).toBe('EBUSY')
  })
  it('unbinding the device destroys its vDEVICE and leaves a tombstone: DESTROY → ENOENT, the id is not reused until close', () => {
    const w = viommuWorld()
    const other = w.bind(w.addDevice())
    const { outVdeviceId } = w.ictx.vdeviceAlloc({ viommuId: w.viommuId, devId: other.devId, virtId: 5 })
    w.proc.close(other.fd)
    expect(errOf(() => w.ictx.destroy(outVdeviceId))).toBe('ENOENT')
    expect(w.ictx.objects.isTombstone(outVdeviceId)).toBe(true)
    const next = w.ictx.ioasAlloc().outIoasId
    expect(next).not.toBe(outVdeviceId)
    w.ictx.destroy(w.viommuId) // the vIOMMU is free again
  })
})

describe('nested HWPT on a vIOMMU, vIOMMU invalidation and events (§2.11 c, mock §A.6)', () => {
  it('the device must be behind the vIOMMU (EINVAL) and needs a vDEVICE to attach (ENOENT)', () => {
    const f = fixture({ units: 2 })
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const a = f.bind(f.addDevice())
    const far = f.bind(f.addDevice({ unit: 1 }))
    const parent = f.ictx.hwptAlloc({ devId: a.devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT }).outHwptId
    const viommuId = f.ictx.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_SELFTEST, devId: a.devId, hwptId: parent }).outViommuId
    expect(errOf(() => f.ictx.hwptAlloc({ devId: far.devId, ptId: viommuId, ...selftest() }))).toBe('EINVAL')
    expect(errOf(() => f.ictx.hwptAlloc({ devId: a.devId, ptId: viommuId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT, ...selftest() }))).toBe('EOPNOTSUPP')
    const nested = f.ictx.hwptAlloc({ devId: a.devId, ptId: viommuId, ...selftest() }).outHwptId
    expect(errOf(() => a.vf.attach(nested))).toBe('ENOENT')
    f.ictx.vdeviceAlloc({ viommuId, devId: a.devId, virtId: 0x42 })
    expect(a.vf.attach(nested)).toBe(nested)
    expect(errOf(() => f.ictx.destroy(viommuId))).toBe('EBUSY')
  })
  it('vIOMMU invalidation clears device caches by virt_id; full-array copy rules; bad entries report their index', () => {
    const w = viommuWorld()
    const b = w.bind(w.addDevice())
    w.ictx.vdeviceAlloc({ viommuId: w.viommuId, devId: w.devId, virtId: 1 })
    w.ictx.vdeviceAlloc({ viommuId: w.viommuId, devId: b.devId, virtId: 2 })
    const c1 = mockState(w.dev).cache
    const c2 = mockState(b.vf.device).cache
    const T = IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST
    expect(invalidate(w.ictx, w.viommuId, T, 12, u32s(0, 1, 2, IOMMU_TEST_INVALIDATE_FLAG_ALL, 2, 0))).toEqual(['ok', 2])
    expect([...c1]).toEqual([IOMMU_TEST_DEV_CACHE_DEFAULT, IOMMU_TEST_DEV_CACHE_DEFAULT, 0, IOMMU_TEST_DEV_CACHE_DEFAULT])
    expect([...c2]).toEqual([0, 0, 0, 0])
    expect(invalidate(w.ictx, w.viommuId, T, 12, u32s(0, 1, 0, 0, 9, 1))).toEqual(['EINVAL', 1]) // unknown vdev_id
    expect(invalidate(w.ictx, w.viommuId, T, 12, u32s(0, 1, 4))).toEqual(['EINVAL', 0]) // cache_id > 3
    expect(invalidate(w.ictx, w.viommuId, T, 12, u32s(2, 1, 0))).toEqual(['EOPNOTSUPP', 0])
    expect(invalidate(w.ictx, w.viommuId, T, 1, new Uint8Array(1))).toEqual(['EINVAL', 0]) // zero-extended → vdev_id 0
    expect(invalidate(w.ictx, w.viommuId, T, 16, u32s(0, 1, 1, 0))).toEqual(['ok', 1]) // longer entry with a zero tail
    expect(invalidate(w.ictx, w.viommuId, T, 16, u32s(0, 1, 1, 7))).toEqual(['E2BIG', 0])
    expect(invalidate(w.ictx, w.viommuId, T + 1, 12, u32s(0, 1, 1))).toEqual(['EINVAL', 0])
    expect(invalidate(w.ictx, w.viommuId, T, 12, new Uint8Array(0), 0)).toEqual(['ok', 0])
  })
  it('TRIGGER_VEVENT reaches the vEVENTQ fd with header and virt_id; overflow leaves a LOST header; draining recovers', () => {
    const w = viommuWorld()
    expect(errOf(() => mockTriggerVevent(w.dev))).toBe('ENOENT') // not attached through the vIOMMU
    w.ictx.vdeviceAlloc({ viommuId: w.viommuId, devId: w.devId, virtId: 0x77 })
    const nested = w.ictx.hwptAlloc({ devId: w.devId, ptId: w.viommuId, ...selftest() }).outHwptId
    w.vf.attach(nested)
    expect(errOf(() => mockTriggerVevent(w.dev))).toBe('EOPNOTSUPP') // no queue of that type
    expect(errOf(() => w.ictx.veventqAlloc({ viommuId: w.viommuId, type: IOMMU_VEVENTQ_TYPE_SELFTEST, veventqDepth: 0 }))).toBe('EINVAL')
    expect(errOf(() => w.ictx.veventqAlloc({ viommuId: w.viommuId, type: 0, veventqDepth: 2 }))).toBe('EOPNOTSUPP')
    const { outVeventqId, outVeventqFd } = w.ictx.veventqAlloc({ viommuId: w.viommuId, type: IOMMU_VEVENTQ_TYPE_SELFTEST, veventqDepth: 2 })
    expect(errOf(() => w.ictx.veventqAlloc({ viommuId: w.viommuId, type: IOMMU_VEVENTQ_TYPE_SELFTEST, veventqDepth: 2 }))).toBe('EEXIST')
    mockTriggerVevent(w.dev)
    const one = w.proc.read(outVeventqFd, 64) as Uint8Array
    expect([...new Uint32Array(one.buffer)]).toEqual([0, 0, 0x77])
    mockTriggerVevent(w.dev)
    mockTriggerVevent(w.dev)
    mockTriggerVevent(w.dev)
    const all = new Uint32Array((w.proc.read(outVeventqFd, 64) as Uint8Array).buffer)
    expect([...all]).toEqual([0, 1, 0x77, 0, 2, 0x77, IOMMU_VEVENTQ_FLAG_LOST_EVENTS, 3])
    mockTriggerVevent(w.dev)
    expect([...new Uint32Array((w.proc.read(outVeventqFd, 64) as Uint8Array).buffer)]).toEqual([0, 4, 0x77])
    expect((w.proc.read(outVeventqFd, 64) as Uint8Array).length).toBe(0)
    // a read buffer too small for the next event reads nothing
    mockTriggerVevent(w.dev)
    expect((w.proc.read(outVeventqFd, 8) as Uint8Array).length).toBe(0)
    expect(errOf(() => w.ictx.destroy(outVeventqId))).toBe('EBUSY') // fd open
    w.proc.close(outVeventqFd)
    w.ictx.destroy(outVeventqId)
  })
})

describe('FAULT queues and I/O page faults (§2.16)', () => {
  it('a fault-capable HWPT delivers groups through the fd; responses answer them; detach answers the rest INVALID', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const dev = f.addDevice({ flags: MOCK_FLAGS_DEVICE_PASID })
    const { vf, devId } = f.bind(dev)
    expect(errOf(() => f.ictx.faultQueueAlloc({ flags: 1 }))).toBe('EOPNOTSUPP')
    const { outFaultId, outFaultFd } = f.ictx.faultQueueAlloc()
    const { outHwptId } = f.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID, faultId: outFaultId })
    expect(errOf(() => f.ictx.destroy(outFaultId))).toBe('EBUSY')
    vf.attach(outHwptId, 3)
    const unit = f.host.iommus[0] as MockIommuUnit
    unit.triggerIopf(dev, 3, 0x10, IOMMU_PGFAULT_PERM_READ, 0x1234_5000n)
    expect(f.proc.read(outFaultFd, 41)).toBe(-29) // ESPIPE: not a multiple of the record size
    expect((f.proc.read(outFaultFd, 0) as Uint8Array).length).toBe(0)
    const rec = f.proc.read(outFaultFd, 80) as Uint8Array
    expect(rec.length).toBe(40)
    const v = new DataView(rec.buffer)
    expect(v.getUint32(0, true)).toBe(IOMMU_PGFAULT_FLAGS_PASID_VALID | IOMMU_PGFAULT_FLAGS_LAST_PAGE)
    expect(v.getUint32(4, true)).toBe(devId)
    expect(v.getUint32(8, true)).toBe(3)
    expect(v.getUint32(12, true)).toBe(0x10)
    expect(v.getBigUint64(24, true)).toBe(0x1234_5000n)
    const cookie = v.getUint32(36, true)
    expect(cookie).toBe(1)
    expect(f.proc.write(outFaultFd, u32s(cookie + 5, 0))).toBe(-22)
    expect(f.proc.write(outFaultFd, u32s(cookie, 7))).toBe(-22)
    expect(f.proc.write(outFaultFd, new Uint8Array(5))).toBe(-29)
    expect(f.proc.write(outFaultFd, u32s(cookie, 0))).toBe(8)
    expect(f.proc.write(outFaultFd, u32s(cookie, 0))).toBe(-22) // already answered
    unit.triggerIopf(dev, 3, 0x11, IOMMU_PGFAULT_PERM_READ, 0x1000n)
    const queue = f.ictx.objects.get(outFaultId, 'FAULT', 't') as unknown as { pending: number }
    expect(queue.pending).toBe(1)
    vf.detach(3)
    expect(queue.pending).toBe(0)
  })
})

describe('HW queues (§2.21, mock §A.6)', () => {
  function queueWorld() {
    const w = viommuWorld()
    w.vf.attach(w.parent)
    const buf = w.proc.mmap(0x8000)
    const { iova } = w.ictx.ioasMap({ ioasId: w.ioasId, userVa: buf, length: 0x8000 })
    return { ...w, buf, iova }
  }
  const alloc = (w: ReturnType<typeof queueWorld>, index: number, base: bigint, length = 0x1000) =>
    w.ictx.hwQueueAlloc({ viommuId: w.viommuId, type: IOMMU_HW_QUEUE_TYPE_SELFTEST, index, nestingParentIova: base, length })
  it('core validation, then the mock ordering rules (EINVAL, EEXIST, EIO); the internal access takes the next id', () => {
    const w = queueWorld()
    const before = w.ictx.snapshot()
    expect(errOf(() => w.ictx.hwQueueAlloc({ viommuId: w.viommuId, type: 0, index: 0, nestingParentIova: w.iova, length: 0x1000 }))).toBe('EOPNOTSUPP')
    expect(errOf(() => alloc(w, 0, w.iova, 0))).toBe('EINVAL')
    expect(errOf(() => alloc(w, 0, 0xffff_ffff_ffff_f000n, 0x2000))).toBe('EOVERFLOW')
    expect(errOf(() => w.ictx.hwQueueAlloc({ viommuId: w.viommuId, type: 0x55, index: 0, nestingParentIova: w.iova, length: 0x1000 }))).toBe('EOPNOTSUPP')
    expect(errOf(() => alloc(w, 0, 0x7000_0000n))).toBe('ENOENT') // not mapped
    expect(errOf(() => alloc(w, 1, w.iova))).toBe('EIO')
    expect(errOf(() => alloc(w, 2, w.iova))).toBe('EINVAL')
    expect(w.ictx.snapshot()).toEqual(before) // the failed allocations left nothing behind
    const q0 = alloc(w, 0, w.iova).outHwQueueId
    expect(w.ictx.objects.get(q0 + 1, 'ACCESS', 't').type).toBe('ACCESS')
    expect(errOf(() => alloc(w, 0, w.iova + 0x1000n))).toBe('EEXIST')
    const q1 = alloc(w, 1, w.iova + 0x2000n).outHwQueueId
    expect(errOf(() => w.ictx.destroy(q0))).toBe('EBUSY') // queue 1 depends on queue 0
    expect(errOf(() => w.ictx.destroy(q0 + 1))).toBe('EBUSY') // the internal access
    w.ictx.destroy(q1)
    w.ictx.destroy(q0)
  })
  it('pinned queue memory cannot be unmapped (EBUSY) until the queue is destroyed', () => {
    const w = queueWorld()
    const q = alloc(w, 0, w.iova).outHwQueueId
    const pins = w.host.frames.totalPins()
    expect(errOf(() => w.ictx.ioasUnmap({ ioasId: w.ioasId, iova: w.iova, length: 0x8000 }))).toBe('EBUSY')
    expect(errOf(() => w.ictx.destroy(w.viommuId))).toBe('EBUSY')
    w.ictx.destroy(q)
    expect(w.host.frames.totalPins()).toBe(pins) // pages are pinned once per pages object, whoever uses them
    expect(w.ictx.ioasUnmap({ ioasId: w.ioasId, iova: w.iova, length: 0x8000 }).length).toBe(0x8000n)
  })
})

describe('destroy ordering across the object graph and the full VMM flow', () => {
  it('IOAS → nest parent → vIOMMU → vDEVICE → nested HWPT → attach → invalidate → event → read → legal teardown, nothing leaked', () => {
    const f = fixture()
    const free0 = f.host.memory.freeFrameCount
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const dev = f.addDevice()
    const { vf, devId, fd } = f.bind(dev)
    const guestRam = f.proc.mmap(0x10000)
    f.proc.memory.write(guestRam + 0x3000n, new TextEncoder().encode('guest data'))
    const parent = f.ictx.hwptAlloc({ devId, ptId: ioasId, flags: IOMMU_HWPT_ALLOC_NEST_PARENT }).outHwptId
    const { iova: gpa } = f.ictx.ioasMap({ ioasId, userVa: guestRam, length: 0x10000 })
    const viommuId = f.ictx.viommuAlloc({ type: IOMMU_VIOMMU_TYPE_SELFTEST, devId, hwptId: parent }).outViommuId
    const vdevId = f.ictx.vdeviceAlloc({ viommuId, devId, virtId: 0x100 }).outVdeviceId
    const nested = f.ictx.hwptAlloc({ devId, ptId: viommuId, ...selftest() }).outHwptId
    const { outVeventqId, outVeventqFd } = f.ictx.veventqAlloc({ viommuId, type: IOMMU_VEVENTQ_TYPE_SELFTEST, veventqDepth: 4 })
    expect(vf.attach(nested)).toBe(nested)
    expect(new TextDecoder().decode(dev.dmaRead(gpa + 0x3000n, 10))).toBe('guest data')
    expect(invalidate(f.ictx, nested, IOMMU_HWPT_INVALIDATE_DATA_SELFTEST, 8, u32s(IOMMU_TEST_INVALIDATE_FLAG_ALL, 0))).toEqual(['ok', 1])
    expect(invalidate(f.ictx, viommuId, IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST, 12, u32s(IOMMU_TEST_INVALIDATE_FLAG_ALL, 0x100, 0))).toEqual(['ok', 1])
    mockTriggerVevent(dev)
    expect([...new Uint32Array((f.proc.read(outVeventqFd, 12) as Uint8Array).buffer)]).toEqual([0, 0, 0x100])
    // Every object in the graph is held by what sits above it.
    for (const id of [ioasId, parent, viommuId, nested]) expect(errOf(() => f.ictx.destroy(id))).toBe('EBUSY')
    // A legal order: leaves first.
    vf.detach()
    f.ictx.destroy(nested)
    f.proc.close(outVeventqFd)
    f.ictx.destroy(outVeventqId)
    f.ictx.destroy(vdevId)
    f.ictx.destroy(viommuId)
    f.ictx.destroy(parent)
    f.ictx.destroy(ioasId)
    f.proc.close(fd)
    expect(f.ictx.snapshot().objects).toEqual([])
    expect(f.host.frames.totalPins()).toBe(0)
    f.proc.exit()
    expect(f.host.memory.freeFrameCount).toBe(free0)
  })
  it('process exit with the whole graph alive tears everything down (context close destroys leaves first)', () => {
    const w = viommuWorld()
    w.ictx.vdeviceAlloc({ viommuId: w.viommuId, devId: w.devId, virtId: 9 })
    const nested = w.ictx.hwptAlloc({ devId: w.devId, ptId: w.viommuId, ...selftest() }).outHwptId
    w.vf.attach(nested)
    w.ictx.veventqAlloc({ viommuId: w.viommuId, type: IOMMU_VEVENTQ_TYPE_SELFTEST, veventqDepth: 2 })
    w.ictx.faultQueueAlloc()
    w.ictx.ioasMap({ ioasId: w.ioasId, userVa: w.proc.mmap(0x4000), length: 0x4000 })
    w.proc.exit()
    expect(w.ictx.isClosed).toBe(true)
    expect(w.ictx.snapshot().objects).toEqual([])
    expect(w.host.frames.totalPins()).toBe(0)
  })
})
