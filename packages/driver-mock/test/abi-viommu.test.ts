/**
 * The vIOMMU family and fault queues through the raw ABI, in the style of the selftests'
 * `iommufd_viommu` fixture: IOMMU_VIOMMU_ALLOC, IOMMU_VDEVICE_ALLOC, IOMMU_HWPT_ALLOC on a vIOMMU,
 * IOMMU_HWPT_INVALIDATE on a vIOMMU, IOMMU_VEVENTQ_ALLOC (+ read), IOMMU_HW_QUEUE_ALLOC,
 * IOMMU_FAULT_QUEUE_ALLOC (+ read/write), with the TEST_CMD ops that drive them
 * (TRIGGER_VEVENT, TRIGGER_IOPF, DEV_CHECK_CACHE). Reference iommufd-uapi.md §2.15–§2.21,
 * mock-driver.md §A.6.
 */
import { describe, expect, it } from 'vitest'
import * as C from '@iommu-sim/core'
import * as M from '../src/index.js'
import { Buf, err, PAGE_SIZE, selftest, type Selftest } from './abi-helpers.js'

const FIXED = C.IOMMU_IOAS_MAP_READABLE | C.IOMMU_IOAS_MAP_WRITEABLE | C.IOMMU_IOAS_MAP_FIXED_IOVA
const BASE = M.MOCK_APERTURE_START

function u32s(...v: number[]): Uint8Array {
  const b = new Uint8Array(v.length * 4)
  const d = new DataView(b.buffer)
  v.forEach((x, i) => d.setUint32(i * 4, x >>> 0, true))
  return b
}
function put(t: Selftest, bytes: Uint8Array): bigint {
  const va = t.proc.mmap(PAGE_SIZE)
  t.proc.memory.write(va, bytes)
  return va
}
function words(bytes: Uint8Array | number): number[] {
  if (typeof bytes === 'number') throw new Error(`read failed: ${bytes}`)
  return [...new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)]
}

function viommuAlloc(t: Selftest, a: { flags?: number; type: number; devId: number; hwptId: number; dataLen?: number; dataUptr?: bigint }, size = 40): { rc: number; id: number } {
  const b = new Buf(size, 40 - size)
  b.u32(4, a.flags ?? 0)
  b.u32(8, a.type)
  b.u32(12, a.devId)
  b.u32(16, a.hwptId)
  if (size > 24) {
    b.u32(24, a.dataLen ?? 0)
    b.u64(32, a.dataUptr ?? 0n)
  }
  const rc = t.ioctl(C.IOMMU_VIOMMU_ALLOC, b)
  return { rc, id: b.u32(20) }
}
function vdeviceAlloc(t: Selftest, viommuId: number, devId: number, virtId: bigint): { rc: number; id: number } {
  const b = new Buf(24)
  b.u32(4, viommuId)
  b.u32(8, devId)
  b.u64(16, virtId)
  const rc = t.ioctl(C.IOMMU_VDEVICE_ALLOC, b)
  return { rc, id: b.u32(12) }
}
function veventqAlloc(t: Selftest, viommuId: number, type: number, depth: number, flags = 0): { rc: number; id: number; fd: number } {
  const b = new Buf(32)
  b.u32(4, flags)
  b.u32(8, viommuId)
  b.u32(12, type)
  b.u32(16, depth)
  const rc = t.ioctl(C.IOMMU_VEVENTQ_ALLOC, b)
  return { rc, id: b.u32(20), fd: b.u32(24) }
}
function hwptAlloc(t: Selftest, devId: number, ptId: number, flags = 0, data?: { type: number; bytes: Uint8Array }, faultId = 0): { rc: number; id: number } {
  const b = new Buf(48)
  b.u32(4, flags)
  b.u32(8, devId)
  b.u32(12, ptId)
  if (data !== undefined) {
    b.u32(24, data.type)
    b.u32(28, data.bytes.length)
    b.u64(32, put(t, data.bytes))
  }
  b.u32(40, faultId)
  const rc = t.ioctl(C.IOMMU_HWPT_ALLOC, b)
  return { rc, id: b.u32(16) }
}

/** FIXTURE(iommufd_viommu): IOAS, mock device, nest-parent HWPT, selftest vIOMMU. */
function viommuFixture() {
  const t = selftest()
  const ioasId = t.ioasAlloc()
  const md = t.mockDomain(ioasId)
  expect(md.rc).toBe(0)
  const parent = hwptAlloc(t, md.idevId, ioasId, C.IOMMU_HWPT_ALLOC_NEST_PARENT)
  expect(parent.rc).toBe(0)
  const v = viommuAlloc(t, { type: M.IOMMU_VIOMMU_TYPE_SELFTEST, devId: md.idevId, hwptId: parent.id })
  expect(v.rc).toBe(0)
  return { ...t, ioasId, ...md, parentId: parent.id, viommuId: v.id }
}

describe('IOMMU_VIOMMU_ALLOC (§2.17)', () => {
  it('validation in the kernel order; the vIOMMU pins its parent', () => {
    const w = viommuFixture()
    const S = M.IOMMU_VIOMMU_TYPE_SELFTEST
    expect(viommuAlloc(w, { flags: 1, type: S, devId: w.idevId, hwptId: w.parentId }).rc).toBe(err('EOPNOTSUPP'))
    expect(viommuAlloc(w, { type: C.IOMMU_VIOMMU_TYPE_DEFAULT, devId: w.idevId, hwptId: w.parentId }).rc).toBe(err('EOPNOTSUPP'))
    expect(viommuAlloc(w, { type: S, devId: 99, hwptId: w.parentId }).rc).toBe(err('ENOENT'))
    expect(viommuAlloc(w, { type: 0x1234, devId: w.idevId, hwptId: w.parentId }).rc).toBe(err('EOPNOTSUPP'))
    expect(viommuAlloc(w, { type: S, devId: w.idevId, hwptId: 0 }).rc).toBe(err('ENOENT'))
    expect(viommuAlloc(w, { type: S, devId: w.idevId, hwptId: w.hwptId }).rc).toBe(err('EINVAL')) // not a nest parent
    expect(w.destroy(w.parentId)).toBe(err('EBUSY'))
    expect(w.destroy(w.viommuId)).toBe(0)
    expect(w.destroy(w.parentId)).toBe(0)
  })
  it('the 24-byte minimum struct works; selftest data loops in_data back and reports a 2-page mmap region', () => {
    const w = viommuFixture()
    expect(viommuAlloc(w, { type: M.IOMMU_VIOMMU_TYPE_SELFTEST, devId: w.idevId, hwptId: w.parentId }, 24).rc).toBe(0)
    const data = put(w, u32s(0xcafe, 0, 0, 0, 0, 0))
    const v = viommuAlloc(w, { type: M.IOMMU_VIOMMU_TYPE_SELFTEST, devId: w.idevId, hwptId: w.parentId, dataLen: 24, dataUptr: data })
    expect(v.rc).toBe(0)
    const out = new DataView(w.proc.memory.read(data, 24).buffer)
    expect(out.getUint32(4, true)).toBe(0xcafe)
    expect(out.getBigUint64(16, true)).toBe(BigInt(2 * PAGE_SIZE))
    const va = w.proc.mmap(2 * PAGE_SIZE, { fd: w.fd, offset: out.getBigUint64(8, true) })
    expect(new DataView(w.proc.memory.read(va, 4).buffer).getUint32(0, true)).toBe(0xcafe)
    expect(viommuAlloc(w, { type: M.IOMMU_VIOMMU_TYPE_SELFTEST, devId: w.idevId, hwptId: w.parentId, dataLen: 4, dataUptr: data }).rc).toBe(err('EINVAL'))
  })
})

describe('IOMMU_VDEVICE_ALLOC (§2.18) and vIOMMU invalidation (mock §A.6)', () => {
  it('one vDEVICE per device and per virt_id; invalidation by virt_id clears the device cache (DEV_CHECK_CACHE)', () => {
    const w = viommuFixture()
    expect(vdeviceAlloc(w, 99, w.idevId, 1n).rc).toBe(err('ENOENT'))
    expect(vdeviceAlloc(w, w.viommuId, 99, 1n).rc).toBe(err('ENOENT'))
    const vd = vdeviceAlloc(w, w.viommuId, w.idevId, 0x99n)
    expect(vd.rc).toBe(0)
    expect(vdeviceAlloc(w, w.viommuId, w.idevId, 0x98n).rc).toBe(err('EEXIST'))
    const checkCache = (index: number, value: number): number =>
      w.testCmd(M.IOMMU_TEST_OP_DEV_CHECK_CACHE, w.idevId, (b) => {
        b.u32(16, index)
        b.u32(20, value)
      }).rc
    for (let i = 0; i < 4; i++) expect(checkCache(i, M.IOMMU_TEST_DEV_CACHE_DEFAULT)).toBe(0)
    expect(checkCache(4, M.IOMMU_TEST_DEV_CACHE_DEFAULT)).toBe(err('EINVAL'))
    const entries = put(w, u32s(0, 0x99, 1, 0, 0x99, 3, 0, 0x42, 0))
    const b = new Buf(32)
    b.u32(4, w.viommuId)
    b.u64(8, entries)
    b.u32(16, M.IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST)
    b.u32(20, 12)
    b.u32(24, 3)
    expect(w.ioctl(C.IOMMU_HWPT_INVALIDATE, b)).toBe(err('EINVAL')) // the third entry names no vDEVICE
    expect(b.u32(24)).toBe(2)
    expect(checkCache(1, 0)).toBe(0)
    expect(checkCache(3, 0)).toBe(0)
    expect(checkCache(0, M.IOMMU_TEST_DEV_CACHE_DEFAULT)).toBe(0)
    expect(checkCache(0, 0)).toBe(err('EINVAL'))
    expect(w.testCmd(M.IOMMU_TEST_OP_DEV_CHECK_CACHE, 99).rc).toBe(err('ENOENT'))
    // Destroying the device (its selftest object) tombstones the vDEVICE id (§1.4.7).
    expect(w.destroy(w.stdevId)).toBe(0)
    expect(w.destroy(vd.id)).toBe(err('ENOENT'))
  })
})

describe('IOMMU_VEVENTQ_ALLOC (§2.20) with IOMMU_TEST_OP_TRIGGER_VEVENT', () => {
  it('events carry the virt_id; depth overflow leaves a LOST header; the fd reads whole events', () => {
    const w = viommuFixture()
    const trigger = (): number => w.testCmd(M.IOMMU_TEST_OP_TRIGGER_VEVENT, 0, (b) => b.u32(16, w.idevId)).rc
    expect(trigger()).toBe(err('ENOENT')) // not attached through the vIOMMU
    expect(w.testCmd(M.IOMMU_TEST_OP_TRIGGER_VEVENT, 0, (b) => b.u32(16, 99)).rc).toBe(err('ENOENT'))
    expect(vdeviceAlloc(w, w.viommuId, w.idevId, 0x77n).rc).toBe(0)
    const nested = hwptAlloc(w, w.idevId, w.viommuId, 0, { type: M.IOMMU_HWPT_DATA_SELFTEST, bytes: u32s(M.IOMMU_TEST_IOTLB_DEFAULT) })
    expect(nested.rc).toBe(0)
    expect(w.testCmd(M.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, w.stdevId, (b) => b.u32(16, nested.id)).rc).toBe(0)
    expect(trigger()).toBe(err('EOPNOTSUPP')) // no queue of the selftest type
    expect(veventqAlloc(w, w.viommuId, M.IOMMU_VEVENTQ_TYPE_SELFTEST, 0).rc).toBe(err('EINVAL'))
    expect(veventqAlloc(w, w.viommuId, C.IOMMU_VEVENTQ_TYPE_DEFAULT, 2).rc).toBe(err('EOPNOTSUPP'))
    expect(veventqAlloc(w, w.viommuId, M.IOMMU_VEVENTQ_TYPE_SELFTEST, 2, 1).rc).toBe(err('EOPNOTSUPP'))
    expect(veventqAlloc(w, 99, M.IOMMU_VEVENTQ_TYPE_SELFTEST, 2).rc).toBe(err('ENOENT'))
    const q = veventqAlloc(w, w.viommuId, M.IOMMU_VEVENTQ_TYPE_SELFTEST, 2)
    expect(q.rc).toBe(0)
    expect(veventqAlloc(w, w.viommuId, M.IOMMU_VEVENTQ_TYPE_SELFTEST, 2).rc).toBe(err('EEXIST'))
    for (let i = 0; i < 3; i++) expect(trigger()).toBe(0)
    expect(words(w.proc.read(q.fd, 64) as Uint8Array)).toEqual([0, 0, 0x77, 0, 1, 0x77, C.IOMMU_VEVENTQ_FLAG_LOST_EVENTS, 2])
    expect(trigger()).toBe(0)
    expect(words(w.proc.read(q.fd, 64) as Uint8Array)).toEqual([0, 3, 0x77])
    expect(w.destroy(q.id)).toBe(err('EBUSY')) // the fd holds it
    expect(w.proc.close(q.fd)).toBe(0)
    expect(w.destroy(q.id)).toBe(0)
  })
})

describe('IOMMU_HW_QUEUE_ALLOC (§2.21)', () => {
  function hwQueue(t: Selftest, viommuId: number, type: number, index: number, iova: bigint, length: bigint, flags = 0): { rc: number; id: number } {
    const b = new Buf(40)
    b.u32(4, flags)
    b.u32(8, viommuId)
    b.u32(12, type)
    b.u32(16, index)
    b.u64(24, iova)
    b.u64(32, length)
    const rc = t.ioctl(C.IOMMU_HW_QUEUE_ALLOC, b)
    return { rc, id: b.u32(20) }
  }
  it('validation, ascending indexes, and the pinned queue memory cannot be unmapped (EBUSY)', () => {
    const w = viommuFixture()
    const S = M.IOMMU_HW_QUEUE_TYPE_SELFTEST
    expect(w.testCmd(M.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, w.stdevId, (b) => b.u32(16, w.parentId)).rc).toBe(0)
    const buf = w.proc.mmap(0x8000)
    expect(w.map(w.ioasId, buf, 0x8000, FIXED, BASE).rc).toBe(0)
    expect(hwQueue(w, w.viommuId, S, 0, BASE, 0x1000n, 1).rc).toBe(err('EOPNOTSUPP'))
    expect(hwQueue(w, w.viommuId, C.IOMMU_HW_QUEUE_TYPE_DEFAULT, 0, BASE, 0x1000n).rc).toBe(err('EOPNOTSUPP'))
    expect(hwQueue(w, w.viommuId, S, 0, BASE, 0n).rc).toBe(err('EINVAL'))
    expect(hwQueue(w, w.viommuId, S, 0, 0xffff_ffff_ffff_f000n, 0x2000n).rc).toBe(err('EOVERFLOW'))
    expect(hwQueue(w, 99, S, 0, BASE, 0x1000n).rc).toBe(err('ENOENT'))
    expect(hwQueue(w, w.viommuId, S, 1, BASE, 0x1000n).rc).toBe(err('EIO'))
    const q0 = hwQueue(w, w.viommuId, S, 0, BASE, 0x1000n)
    expect(q0.rc).toBe(0)
    expect(w.unmap(w.ioasId, BASE, 0x8000).rc).toBe(err('EBUSY'))
    expect(w.destroy(q0.id)).toBe(0)
    expect(w.unmap(w.ioasId, BASE, 0x8000)).toEqual({ rc: 0, length: 0x8000n })
  })
})

describe('IOMMU_FAULT_QUEUE_ALLOC (§2.16) with IOMMU_TEST_OP_TRIGGER_IOPF', () => {
  it('a fault-capable HWPT queues the page request; read gives 40-byte records, write answers by cookie', () => {
    const t = selftest()
    const ioasId = t.ioasAlloc()
    const md = t.mockDomain(ioasId, M.MOCK_FLAGS_DEVICE_PASID)
    const fa = new Buf(16)
    fa.u32(4, 1)
    expect(t.ioctl(C.IOMMU_FAULT_QUEUE_ALLOC, fa)).toBe(err('EOPNOTSUPP'))
    fa.u32(4, 0)
    expect(t.ioctl(C.IOMMU_FAULT_QUEUE_ALLOC, fa)).toBe(0)
    const faultId = fa.u32(8)
    const faultFd = fa.u32(12)
    const h = hwptAlloc(t, md.idevId, ioasId, C.IOMMU_HWPT_FAULT_ID_VALID | C.IOMMU_HWPT_ALLOC_PASID, undefined, faultId)
    expect(h.rc).toBe(0)
    // A PASID attach needs a PASID-compatible RID domain (§3.4): move the RID off its auto HWPT.
    const rid = hwptAlloc(t, md.idevId, ioasId, C.IOMMU_HWPT_ALLOC_PASID)
    expect(t.testCmd(M.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, md.stdevId, (b) => b.u32(16, rid.id)).rc).toBe(0)
    expect(t.testCmd(M.IOMMU_TEST_OP_PASID_ATTACH, md.stdevId, (b) => {
      b.u32(16, 3)
      b.u32(20, h.id)
    }).rc).toBe(0)
    const iopf = (pasid: number): number =>
      t.testCmd(M.IOMMU_TEST_OP_TRIGGER_IOPF, 0, (b) => {
        b.u32(16, md.idevId)
        b.u32(20, pasid)
        b.u32(24, 0x11)
        b.u32(28, C.IOMMU_PGFAULT_PERM_READ)
        b.u64(32, 0xdead_b000n)
      }).rc
    expect(t.testCmd(M.IOMMU_TEST_OP_TRIGGER_IOPF, 0, (b) => b.u32(16, 99)).rc).toBe(err('ENOENT'))
    expect(iopf(0)).toBe(0) // the RID's HWPT has no fault queue: answered by the kernel, still 0
    expect(iopf(3)).toBe(0)
    expect(t.proc.read(faultFd, 39)).toBe(err('ESPIPE'))
    const rec = t.proc.read(faultFd, 80) as Uint8Array
    expect(rec.length).toBe(40)
    const v = new DataView(rec.buffer)
    expect(v.getUint32(0, true)).toBe(C.IOMMU_PGFAULT_FLAGS_PASID_VALID | C.IOMMU_PGFAULT_FLAGS_LAST_PAGE)
    expect([v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true), v.getUint32(16, true)]).toEqual([md.idevId, 3, 0x11, C.IOMMU_PGFAULT_PERM_READ])
    expect(v.getBigUint64(24, true)).toBe(0xdead_b000n)
    const cookie = v.getUint32(36, true)
    expect(t.proc.write(faultFd, u32s(cookie, C.IOMMUFD_PAGE_RESP_SUCCESS))).toBe(8)
    expect(t.proc.write(faultFd, u32s(cookie, C.IOMMUFD_PAGE_RESP_SUCCESS))).toBe(err('EINVAL'))
    expect(t.destroy(faultId)).toBe(err('EBUSY'))
  })
})
