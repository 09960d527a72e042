/**
 * HWPT commands through the raw ABI on the mock (tools/testing/selftests/iommu/iommufd.c
 * `iommufd_ioas.hwpt_attach`, `get_hw_info`, `iommufd_dirty_tracking`, `nested_alloc`):
 * IOMMU_HWPT_ALLOC, IOMMU_GET_HW_INFO, IOMMU_HWPT_SET_DIRTY_TRACKING,
 * IOMMU_HWPT_GET_DIRTY_BITMAP, IOMMU_HWPT_INVALIDATE (nested HWPTs).
 * Expected values: reference/iommufd-uapi.md §2.11–§2.15, mock-driver.md §A.2, §A.4–§A.8.
 */
import { describe, expect, it } from 'vitest'
import * as C from '@iommu-sim/core'
import * as M from '../src/index.js'
import { Buf, err, MB, PAGE_SIZE, selftest, type Selftest } from './abi-helpers.js'

const FIXED = C.IOMMU_IOAS_MAP_READABLE | C.IOMMU_IOAS_MAP_WRITEABLE | C.IOMMU_IOAS_MAP_FIXED_IOVA
const BASE = M.MOCK_APERTURE_START

/** A user buffer holding `bytes` (the selftests pass driver structs by pointer). */
function userStruct(t: Selftest, bytes: Uint8Array): bigint {
  const va = t.proc.mmap(PAGE_SIZE)
  t.proc.memory.write(va, bytes)
  return va
}

function u32s(...v: number[]): Uint8Array {
  const b = new Uint8Array(v.length * 4)
  const d = new DataView(b.buffer)
  v.forEach((x, i) => d.setUint32(i * 4, x >>> 0, true))
  return b
}

interface HwptAllocArgs {
  flags?: number
  devId: number
  ptId: number
  dataType?: number
  dataLen?: number
  dataUptr?: bigint
  faultId?: number
  reserved?: number
}
function hwptAlloc(t: Selftest, a: HwptAllocArgs): { rc: number; id: number } {
  const b = new Buf(48)
  b.u32(4, a.flags ?? 0)
  b.u32(8, a.devId)
  b.u32(12, a.ptId)
  b.u32(20, a.reserved ?? 0)
  b.u32(24, a.dataType ?? 0)
  b.u32(28, a.dataLen ?? 0)
  b.u64(32, a.dataUptr ?? 0n)
  b.u32(40, a.faultId ?? 0)
  const rc = t.ioctl(C.IOMMU_HWPT_ALLOC, b)
  return { rc, id: b.u32(16) }
}

function world(devFlags?: number) {
  const t = selftest()
  const ioasId = t.ioasAlloc()
  const md = t.mockDomain(ioasId, devFlags)
  expect(md.rc).toBe(0)
  return { ...t, ioasId, ...md }
}

describe('IOMMU_HWPT_ALLOC (§2.11, mock §A.2)', () => {
  it('hwpt_attach: a manual paging HWPT; MOCK_DOMAIN_REPLACE moves the device onto it and back', () => {
    const w = world()
    const h = hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId })
    expect(h.rc).toBe(0)
    expect(h.id).toBe(w.hwptId + 1)
    const rep = w.testCmd(M.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, w.stdevId, (b) => b.u32(16, h.id))
    expect(rep.rc).toBe(0)
    expect(rep.b.u32(16)).toBe(h.id)
    expect(w.destroy(w.hwptId)).toBe(err('ENOENT')) // the auto HWPT went with its last device
    expect(w.destroy(h.id)).toBe(err('EBUSY'))
    const back = w.testCmd(M.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, w.stdevId, (b) => b.u32(16, w.ioasId))
    expect(back.rc).toBe(0)
    expect(w.destroy(h.id)).toBe(0)
  })

  it('validation order: __reserved, data_type/data_len, dev_id (ENOENT), pt_id (EINVAL, not ENOENT)', () => {
    const w = world()
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, reserved: 1 }).rc).toBe(err('EOPNOTSUPP'))
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, dataLen: 8 }).rc).toBe(err('EINVAL'))
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, dataType: M.IOMMU_HWPT_DATA_SELFTEST }).rc).toBe(err('EINVAL'))
    expect(hwptAlloc(w, { devId: w.ioasId, ptId: w.ioasId }).rc).toBe(err('ENOENT'))
    expect(hwptAlloc(w, { devId: w.idevId, ptId: 99 }).rc).toBe(err('EINVAL'))
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.idevId }).rc).toBe(err('EINVAL'))
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, flags: 1 << 7 }).rc).toBe(err('EOPNOTSUPP'))
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, flags: C.IOMMU_HWPT_FAULT_ID_VALID | C.IOMMU_HWPT_ALLOC_NEST_PARENT }).rc).toBe(err('EOPNOTSUPP'))
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, flags: C.IOMMU_HWPT_FAULT_ID_VALID, faultId: 99 }).rc).toBe(err('ENOENT'))
    expect(w.proc.iommufd(w.fd).snapshot().objects.map((o) => o.type)).toEqual(['IOAS', 'SELFTEST', 'DEVICE', 'HWPT_PAGING'])
  })

  it('driver data: struct iommu_hwpt_selftest selects the page-table format; bad type/length/pointer', () => {
    const w = world()
    const huge = userStruct(w, u32s(0, M.MOCK_IOMMUPT_HUGE))
    const h = hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, dataType: M.IOMMU_HWPT_DATA_SELFTEST, dataLen: 8, dataUptr: huge })
    expect(h.rc).toBe(0)
    const bad = userStruct(w, u32s(0, 7))
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, dataType: M.IOMMU_HWPT_DATA_SELFTEST, dataLen: 8, dataUptr: bad }).rc).toBe(err('EOPNOTSUPP'))
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, dataType: 0x77, dataLen: 8, dataUptr: huge }).rc).toBe(err('EOPNOTSUPP'))
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, dataType: M.IOMMU_HWPT_DATA_SELFTEST, dataLen: 3, dataUptr: huge }).rc).toBe(err('EINVAL'))
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, dataType: M.IOMMU_HWPT_DATA_SELFTEST, dataLen: 9, dataUptr: huge }).rc).toBe(err('EINVAL'))
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, dataType: M.IOMMU_HWPT_DATA_SELFTEST, dataLen: 8, dataUptr: 0x10n }).rc).toBe(err('EFAULT'))
    // The HUGE format maps 1 MiB leaves; IOVA_RANGES still reports PAGE_SIZE-or-less alignment.
    expect(w.destroy(h.id)).toBe(0)
  })

  it('dirty tracking on a NO_DIRTY device: EOPNOTSUPP at alloc; a dirty HWPT cannot attach it (EINVAL)', () => {
    const t = selftest()
    const ioasId = t.ioasAlloc()
    const nd = t.mockDomain(ioasId, M.MOCK_FLAGS_DEVICE_NO_DIRTY)
    expect(nd.rc).toBe(0)
    expect(hwptAlloc(t, { devId: nd.idevId, ptId: ioasId, flags: C.IOMMU_HWPT_ALLOC_DIRTY_TRACKING }).rc).toBe(err('EOPNOTSUPP'))
    const ok = t.mockDomain(ioasId)
    const dirty = hwptAlloc(t, { devId: ok.idevId, ptId: ioasId, flags: C.IOMMU_HWPT_ALLOC_DIRTY_TRACKING })
    expect(dirty.rc).toBe(0)
    expect(t.mockDomain(dirty.id, M.MOCK_FLAGS_DEVICE_NO_DIRTY).rc).toBe(err('EINVAL'))
    expect(t.mockDomain(ioasId, 1 << 5).rc).toBe(err('EINVAL')) // unknown dev_flags
  })
})

describe('IOMMU_GET_HW_INFO (§2.12, mock §A.7)', () => {
  function hwInfo(t: Selftest, devId: number, dataLen: number, uptr: bigint, flags = 0, inType = 0, reserved = 0) {
    const b = new Buf(40)
    b.u32(4, flags)
    b.u32(8, devId)
    b.u32(12, dataLen)
    b.u64(16, uptr)
    b.u32(24, inType)
    b.u8(29, reserved)
    const rc = t.ioctl(C.IOMMU_GET_HW_INFO, b)
    return { rc, dataLen: b.u32(12), type: b.u32(24), pasidLog2: b.u8(28), caps: b.u64(32) }
  }
  it('data_len is always rewritten to 8; min(user, 8) bytes copied, the rest of the user buffer zeroed', () => {
    const w = world()
    const buf = w.proc.mmap(PAGE_SIZE)
    w.proc.memory.write(buf, new Uint8Array(32).fill(0xff))
    const expectInfo = u32s(0, M.IOMMU_HW_INFO_SELFTEST_REGVAL)
    const full = hwInfo(w, w.idevId, 16, buf)
    expect(full).toMatchObject({ rc: 0, dataLen: 8, type: M.IOMMU_HW_INFO_TYPE_SELFTEST, pasidLog2: 0 })
    expect(full.caps).toBe(BigInt(C.IOMMU_HW_CAP_DIRTY_TRACKING | C.IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED))
    expect([...w.proc.memory.read(buf, 20)]).toEqual([...expectInfo, ...new Array(8).fill(0), 0xff, 0xff, 0xff, 0xff])
    w.proc.memory.write(buf, new Uint8Array(8).fill(0xee))
    expect(hwInfo(w, w.idevId, 4, buf).dataLen).toBe(8)
    expect([...w.proc.memory.read(buf, 8)]).toEqual([...expectInfo.subarray(0, 4), 0xee, 0xee, 0xee, 0xee])
    expect(hwInfo(w, w.idevId, 0, 0n)).toMatchObject({ rc: 0, dataLen: 8 })
  })
  it('errors: flags, __reserved, dev_id, input type, unmapped buffer', () => {
    const w = world()
    expect(hwInfo(w, w.idevId, 0, 0n, 2).rc).toBe(err('EOPNOTSUPP'))
    expect(hwInfo(w, w.idevId, 0, 0n, 0, 0, 1).rc).toBe(err('EOPNOTSUPP'))
    expect(hwInfo(w, 0, 0, 0n).rc).toBe(err('ENOENT'))
    expect(hwInfo(w, w.idevId, 0, 0n, C.IOMMU_HW_INFO_FLAG_INPUT_TYPE, 5).rc).toBe(err('EOPNOTSUPP'))
    expect(hwInfo(w, w.idevId, 0, 0n, C.IOMMU_HW_INFO_FLAG_INPUT_TYPE, M.IOMMU_HW_INFO_TYPE_SELFTEST).rc).toBe(0)
    expect(hwInfo(w, w.idevId, 0, 0n, 0, 5).rc).toBe(0) // ignored without the flag
    expect(hwInfo(w, w.idevId, 8, 0x10n).rc).toBe(err('EFAULT'))
  })
  it('a PASID-capable mock device reports out_max_pasid_log2 = MOCK_PASID_WIDTH; a NO_DIRTY one no DIRTY cap', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const p = t.mockDomain(ioas, M.MOCK_FLAGS_DEVICE_PASID)
    expect(hwInfo(t, p.idevId, 0, 0n).pasidLog2).toBe(M.MOCK_PASID_WIDTH)
    const nd = t.mockDomain(ioas, M.MOCK_FLAGS_DEVICE_NO_DIRTY)
    expect(hwInfo(t, nd.idevId, 0, 0n).caps & BigInt(C.IOMMU_HW_CAP_DIRTY_TRACKING)).toBe(0n)
  })
})

describe('dirty tracking (§2.13, §2.14, mock §A.8)', () => {
  function setDirty(t: Selftest, hwptId: number, flags: number): number {
    const b = new Buf(16)
    b.u32(4, flags)
    b.u32(8, hwptId)
    return t.ioctl(C.IOMMU_HWPT_SET_DIRTY_TRACKING, b)
  }
  function getBitmap(t: Selftest, hwptId: number, iova: bigint, length: bigint | number, pageSize: bigint | number, data: bigint, flags = 0, reserved = 0): number {
    const b = new Buf(48)
    b.u32(4, hwptId)
    b.u32(8, flags)
    b.u32(12, reserved)
    b.u64(16, iova)
    b.u64(24, length)
    b.u64(32, pageSize)
    b.u64(40, data)
    return t.ioctl(C.IOMMU_HWPT_GET_DIRTY_BITMAP, b)
  }
  function markDirty(t: Selftest, hwptId: number, iova: bigint, length: number, pageSize: number, bits: Uint8Array): { rc: number; n: bigint } {
    const uptr = userStruct(t, bits)
    const r = t.testCmd(M.IOMMU_TEST_OP_DIRTY, hwptId, (b) => {
      b.u64(24, iova)
      b.u64(32, length)
      b.u64(40, pageSize)
      b.u64(48, uptr)
    })
    return { rc: r.rc, n: r.b.u64(56) }
  }
  function dirtyWorld(pagetableType?: number) {
    const w = world()
    const data = pagetableType === undefined ? {} : { dataType: M.IOMMU_HWPT_DATA_SELFTEST, dataLen: 8, dataUptr: userStruct(w, u32s(0, pagetableType)) }
    const h = hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, flags: C.IOMMU_HWPT_ALLOC_DIRTY_TRACKING, ...data })
    expect(h.rc).toBe(0)
    const buf = w.proc.mmap(2 * MB)
    expect(w.map(w.ioasId, buf, 2 * MB, FIXED, BASE).rc).toBe(0)
    return { ...w, dirtyId: h.id, buf }
  }

  it('set tracking, mark pages with IOMMU_TEST_OP_DIRTY, read and clear them with GET_DIRTY_BITMAP', () => {
    const w = dirtyWorld()
    const bits = new Uint8Array(64)
    bits[0] = 0b1000_0101
    bits[3] = 0x80
    expect(markDirty(w, w.dirtyId, BASE, 512 * PAGE_SIZE, PAGE_SIZE, bits).rc).toBe(err('EINVAL')) // tracking off
    expect(setDirty(w, w.dirtyId, C.IOMMU_HWPT_DIRTY_TRACKING_ENABLE)).toBe(0)
    expect(setDirty(w, w.dirtyId, C.IOMMU_HWPT_DIRTY_TRACKING_ENABLE)).toBe(0) // idempotent
    // Marked at MOCK_PAGE_SIZE granularity: 2 KiB pages 0, 2, 7, 31.
    expect(markDirty(w, w.dirtyId, BASE, 512 * M.MOCK_PAGE_SIZE, M.MOCK_PAGE_SIZE, bits)).toEqual({ rc: 0, n: 4n })
    const bm = w.proc.mmap(PAGE_SIZE)
    expect(getBitmap(w, w.dirtyId, BASE, 512 * M.MOCK_PAGE_SIZE, M.MOCK_PAGE_SIZE, bm, C.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR)).toBe(0)
    expect([...w.proc.memory.read(bm, 4)]).toEqual([0b1000_0101, 0, 0, 0x80])
    // At 4 KiB a page is dirty when either half is: pages 0, 1, 3, 15. An unaligned bitmap pointer is fine.
    expect(getBitmap(w, w.dirtyId, BASE, 512 * M.MOCK_PAGE_SIZE, PAGE_SIZE, bm + 0x101n)).toBe(0)
    expect([...w.proc.memory.read(bm + 0x101n, 2)]).toEqual([0b0000_1011, 0x80])
    w.proc.memory.write(bm, new Uint8Array(8))
    expect(getBitmap(w, w.dirtyId, BASE, 512 * M.MOCK_PAGE_SIZE, M.MOCK_PAGE_SIZE, bm)).toBe(0)
    expect([...w.proc.memory.read(bm, 4)]).toEqual([0, 0, 0, 0]) // cleared by the previous read
    expect(setDirty(w, w.dirtyId, 0)).toBe(0)
  })

  it('the HUGE format dirties a whole 1 MiB entry (mock §A.2)', () => {
    const w = dirtyWorld(M.MOCK_IOMMUPT_HUGE)
    expect(setDirty(w, w.dirtyId, C.IOMMU_HWPT_DIRTY_TRACKING_ENABLE)).toBe(0)
    const bits = new Uint8Array(64)
    bits[0] = 1
    expect(markDirty(w, w.dirtyId, BASE, 512 * PAGE_SIZE, PAGE_SIZE, bits)).toEqual({ rc: 0, n: 1n })
    const bm = w.proc.mmap(PAGE_SIZE)
    expect(getBitmap(w, w.dirtyId, BASE, 512 * PAGE_SIZE, PAGE_SIZE, bm)).toBe(0)
    const got = w.proc.memory.read(bm, 64)
    expect([...got.subarray(0, 32)]).toEqual(new Array(32).fill(0xff)) // 256 pages of 4 KiB = 1 MiB
    expect([...got.subarray(32)]).toEqual(new Array(32).fill(0))
  })

  it('errors: flags, __reserved, non-dirty HWPT, alignment, page_size 0, unmapped bitmap', () => {
    const w = dirtyWorld()
    const bm = w.proc.mmap(PAGE_SIZE)
    expect(setDirty(w, w.dirtyId, 2)).toBe(err('EOPNOTSUPP'))
    expect(setDirty(w, w.hwptId, C.IOMMU_HWPT_DIRTY_TRACKING_ENABLE)).toBe(err('EOPNOTSUPP')) // auto HWPT: no dirty ops
    expect(setDirty(w, w.ioasId, C.IOMMU_HWPT_DIRTY_TRACKING_ENABLE)).toBe(err('ENOENT'))
    expect(getBitmap(w, w.dirtyId, BASE, PAGE_SIZE, PAGE_SIZE, bm, 2)).toBe(err('EOPNOTSUPP'))
    expect(getBitmap(w, w.dirtyId, BASE, PAGE_SIZE, PAGE_SIZE, bm, 0, 1)).toBe(err('EOPNOTSUPP'))
    expect(getBitmap(w, w.hwptId, BASE, PAGE_SIZE, PAGE_SIZE, bm)).toBe(err('EOPNOTSUPP'))
    expect(getBitmap(w, 99, BASE, PAGE_SIZE, PAGE_SIZE, bm)).toBe(err('ENOENT'))
    expect(getBitmap(w, w.dirtyId, BASE + 1n, PAGE_SIZE, PAGE_SIZE, bm)).toBe(err('EINVAL'))
    expect(getBitmap(w, w.dirtyId, BASE, PAGE_SIZE, 0, bm)).toBe(err('EINVAL'))
    expect(getBitmap(w, w.dirtyId, BASE + 0x800n, PAGE_SIZE, PAGE_SIZE, bm)).toBe(err('EINVAL')) // not page_size aligned
    expect(getBitmap(w, w.dirtyId, 0xffff_ffff_ffff_f000n, 0x2000, PAGE_SIZE, bm)).toBe(err('EOVERFLOW'))
    expect(getBitmap(w, w.dirtyId, BASE, PAGE_SIZE, PAGE_SIZE, 0x10n)).toBe(err('EFAULT'))
    const bits = new Uint8Array(8)
    expect(markDirty(w, w.dirtyId, BASE, 0, PAGE_SIZE, bits).rc).toBe(err('EINVAL'))
    expect(markDirty(w, w.hwptId, BASE, PAGE_SIZE, PAGE_SIZE, bits).rc).toBe(err('EINVAL')) // auto HWPT: tracking cannot be on
  })
})

describe('nested HWPTs and IOMMU_HWPT_INVALIDATE (§2.11 b, §2.15, mock §A.4, §A.5)', () => {
  function nestedWorld() {
    const w = world()
    const parent = hwptAlloc(w, { devId: w.idevId, ptId: w.ioasId, flags: C.IOMMU_HWPT_ALLOC_NEST_PARENT })
    expect(parent.rc).toBe(0)
    const data = userStruct(w, u32s(M.IOMMU_TEST_IOTLB_DEFAULT))
    const nested = hwptAlloc(w, { devId: w.idevId, ptId: parent.id, dataType: M.IOMMU_HWPT_DATA_SELFTEST, dataLen: 4, dataUptr: data })
    expect(nested.rc).toBe(0)
    return { ...w, parentId: parent.id, nestedId: nested.id, data }
  }
  function checkIotlb(t: Selftest, id: number, index: number, value: number): number {
    return t.testCmd(M.IOMMU_TEST_OP_MD_CHECK_IOTLB, id, (b) => {
      b.u32(16, index)
      b.u32(20, value)
    }).rc
  }
  function invalidate(t: Selftest, id: number, type: number, entryLen: number, entries: Uint8Array, entryNum: number): { rc: number; done: number } {
    const uptr = userStruct(t, entries.length > 0 ? entries : new Uint8Array(1))
    const b = new Buf(32)
    b.u32(4, id)
    b.u64(8, uptr)
    b.u32(16, type)
    b.u32(20, entryLen)
    b.u32(24, entryNum)
    const rc = t.ioctl(C.IOMMU_HWPT_INVALIDATE, b)
    return { rc, done: b.u32(24) }
  }

  it('nested_alloc: iotlb entries start at the given value; MD_CHECK_IOTLB compares them', () => {
    const w = nestedWorld()
    for (let i = 0; i < 4; i++) expect(checkIotlb(w, w.nestedId, i, M.IOMMU_TEST_IOTLB_DEFAULT)).toBe(0)
    expect(checkIotlb(w, w.nestedId, 4, M.IOMMU_TEST_IOTLB_DEFAULT)).toBe(err('EINVAL'))
    expect(checkIotlb(w, w.nestedId, 0, 0)).toBe(err('EINVAL'))
    expect(checkIotlb(w, w.parentId, 0, M.IOMMU_TEST_IOTLB_DEFAULT)).toBe(err('ENOENT')) // not HWPT_NESTED
    expect(w.destroy(w.parentId)).toBe(err('EBUSY'))
    // Nested allocation errors: auto parent (EINVAL), not a nest parent (EINVAL), no data (EOPNOTSUPP).
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.hwptId, dataType: M.IOMMU_HWPT_DATA_SELFTEST, dataLen: 4, dataUptr: w.data }).rc).toBe(err('EINVAL'))
    expect(hwptAlloc(w, { devId: w.idevId, ptId: w.parentId }).rc).toBe(err('EOPNOTSUPP'))
  })

  it('invalidation: entry_num reports the entries handled, errors stop at the failing entry (§A.5)', () => {
    const w = nestedWorld()
    const T = M.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST
    expect(invalidate(w, w.nestedId, T, 8, new Uint8Array(0), 0)).toEqual({ rc: 0, done: 0 }) // type probe
    expect(invalidate(w, w.nestedId, M.IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID, 8, new Uint8Array(0), 0)).toEqual({ rc: err('EINVAL'), done: 0 })
    expect(invalidate(w, w.nestedId, T, 8, u32s(0, 1, 0, 2), 2)).toEqual({ rc: 0, done: 2 })
    expect(checkIotlb(w, w.nestedId, 1, 0)).toBe(0)
    expect(checkIotlb(w, w.nestedId, 2, 0)).toBe(0)
    expect(checkIotlb(w, w.nestedId, 3, M.IOMMU_TEST_IOTLB_DEFAULT)).toBe(0)
    expect(invalidate(w, w.nestedId, T, 8, u32s(0, 0, 1 << 3, 0), 2)).toEqual({ rc: err('EOPNOTSUPP'), done: 1 })
    expect(invalidate(w, w.nestedId, T, 8, u32s(0, 4), 1)).toEqual({ rc: err('EINVAL'), done: 0 })
    expect(invalidate(w, w.nestedId, T, 7, u32s(0, 0), 1)).toEqual({ rc: err('EINVAL'), done: 0 })
    expect(invalidate(w, w.nestedId, T, 9, u32s(0, 0, 0), 1)).toEqual({ rc: err('EINVAL'), done: 0 })
    expect(invalidate(w, w.nestedId, T, 8, u32s(M.IOMMU_TEST_INVALIDATE_FLAG_ALL, 0), 1)).toEqual({ rc: 0, done: 1 })
    expect(checkIotlb(w, w.nestedId, 3, 0)).toBe(0)
  })

  it('a device attached to the nested HWPT (MOCK_DOMAIN_REPLACE), then back to the IOAS', () => {
    const w = nestedWorld()
    const r = w.testCmd(M.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, w.stdevId, (b) => b.u32(16, w.nestedId))
    expect(r.rc).toBe(0)
    expect(w.destroy(w.nestedId)).toBe(err('EBUSY'))
    expect(w.testCmd(M.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, w.stdevId, (b) => b.u32(16, w.ioasId)).rc).toBe(0)
    expect(w.destroy(w.nestedId)).toBe(0)
    expect(w.destroy(w.parentId)).toBe(0)
  })
})

