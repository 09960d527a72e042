/**
 * IOMMU_TEST_CMD ops of the mock (drivers/iommu/iommufd/selftest.c iommufd_test(); reference
 * mock-driver.md §A.1, §A.9, §A.10) through raw ioctls: MOCK_DOMAIN(_FLAGS), MOCK_DOMAIN_REPLACE,
 * ADD_RESERVED, MD_CHECK_MAP, MD_CHECK_REFS, CREATE_ACCESS, ACCESS_PAGES, ACCESS_RW,
 * DESTROY_ACCESS_PAGES, ACCESS_REPLACE_IOAS, SET_TEMP_MEMORY_LIMIT, PASID_ATTACH / REPLACE /
 * DETACH / CHECK_HWPT, and unknown ops. (DIRTY, MD_CHECK_IOTLB, DEV_CHECK_CACHE, TRIGGER_IOPF and
 * TRIGGER_VEVENT are exercised in abi-hwpt and abi-viommu.)
 */
import { describe, expect, it } from 'vitest'
import * as C from '@iommu-sim/core'
import * as M from '../src/index.js'
import { Buf, BUFFER_SIZE, err, PAGE_SIZE, selftest, type Selftest } from './abi-helpers.js'

const RW = C.IOMMU_IOAS_MAP_READABLE | C.IOMMU_IOAS_MAP_WRITEABLE
const FIXED = RW | C.IOMMU_IOAS_MAP_FIXED_IOVA
const BASE = M.MOCK_APERTURE_START
const U64_MAX = 0xffff_ffff_ffff_ffffn

function objectTypes(t: Selftest): string[] {
  return t.proc.iommufd(t.fd).snapshot().objects.map((o) => o.type)
}

describe('IOMMU_TEST_OP_MOCK_DOMAIN (mock §A.1)', () => {
  it('creates SELFTEST (id n), DEVICE (n+1), and attaches: the auto HWPT is n+2; a second device shares it', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const a = t.mockDomain(ioas)
    expect(a).toEqual({ rc: 0, stdevId: 2, idevId: 3, hwptId: 4 })
    const b = t.mockDomain(ioas)
    expect(b).toEqual({ rc: 0, stdevId: 5, idevId: 6, hwptId: 4 })
    expect(objectTypes(t)).toEqual(['IOAS', 'SELFTEST', 'DEVICE', 'HWPT_PAGING', 'SELFTEST', 'DEVICE'])
    expect(t.host.devices.length).toBe(2)
    // IOMMU_DESTROY of the selftest object detaches, unbinds and removes the mock device.
    expect(t.destroy(a.stdevId)).toBe(0)
    expect(t.host.devices.length).toBe(1)
    expect(t.destroy(a.idevId)).toBe(err('ENOENT'))
    expect(t.destroy(b.stdevId)).toBe(0)
    expect(objectTypes(t)).toEqual(['IOAS']) // the auto HWPT left with its last device
  })
  it('failures leave nothing behind: unknown id (ENOENT), unknown dev_flags (EINVAL), incompatible HWPT (EINVAL)', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    expect(t.mockDomain(99).rc).toBe(err('ENOENT'))
    expect(t.mockDomain(ioas, 1 << 1 /* the removed HUGE_IOVA flag */).rc).toBe(err('EINVAL'))
    expect(objectTypes(t)).toEqual(['IOAS'])
    expect(t.host.devices.length).toBe(0)
    // the reserved selftest id was given back
    expect(t.mockDomain(ioas)).toMatchObject({ rc: 0, stdevId: 2 })
  })
  it('MOCK_DOMAIN on a manual HWPT id attaches to it; closing the fd removes every mock device', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const a = t.mockDomain(ioas)
    const h = t.hwptAlloc(a.idevId, ioas)
    expect(t.mockDomain(h.id)).toMatchObject({ rc: 0, hwptId: h.id })
    expect(t.proc.close(t.fd)).toBe(0)
    expect(t.host.devices.length).toBe(0)
  })
  it('MOCK_DOMAIN_REPLACE: ENOENT for a non-selftest id or a missing pt; returns the HWPT actually attached', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const ioas2 = t.ioasAlloc()
    const a = t.mockDomain(ioas)
    const rep = (id: number, pt: number) => t.testCmd(M.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, id, (b) => b.u32(16, pt))
    expect(rep(a.idevId, ioas2).rc).toBe(err('ENOENT'))
    expect(rep(a.stdevId, 99).rc).toBe(err('ENOENT'))
    const r = rep(a.stdevId, ioas2)
    expect(r.rc).toBe(0)
    expect(r.b.u32(16)).toBe(a.hwptId + 1) // a new auto HWPT on ioas2
    expect(t.destroy(ioas)).toBe(0) // nothing on the old IOAS any more
  })
})

describe('ADD_RESERVED, MD_CHECK_MAP, MD_CHECK_REFS (mock §A.10)', () => {
  it('ADD_RESERVED: length 0 → EINVAL, wrap → EOVERFLOW, not an IOAS → ENOENT, over an area → EADDRINUSE', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const add = (id: number, start: bigint, length: bigint) =>
      t.testCmd(M.IOMMU_TEST_OP_ADD_RESERVED, id, (b) => {
        b.u64(16, start)
        b.u64(24, length)
      }).rc
    expect(add(ioas, BASE, 0n)).toBe(err('EINVAL'))
    expect(add(ioas, U64_MAX, 2n)).toBe(err('EOVERFLOW'))
    expect(add(99, BASE, 0x1000n)).toBe(err('ENOENT'))
    expect(t.map(ioas, t.buffer, PAGE_SIZE, FIXED, BASE).rc).toBe(0)
    expect(add(ioas, BASE, 0x1000n)).toBe(err('EADDRINUSE'))
    expect(add(ioas, BASE + 0x1000n, 0x1000n)).toBe(0)
    expect(t.map(ioas, t.buffer, PAGE_SIZE, FIXED, BASE + 0x1000n).rc).toBe(err('EINVAL')) // reserved
  })
  it('MD_CHECK_MAP compares the mock page table with the user pages', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const md = t.mockDomain(ioas)
    const m = t.map(ioas, t.buffer, BUFFER_SIZE, RW)
    expect(m.rc).toBe(0)
    const check = (id: number, iova: bigint, length: number, uptr: bigint) =>
      t.testCmd(M.IOMMU_TEST_OP_MD_CHECK_MAP, id, (b) => {
        b.u64(16, iova)
        b.u64(24, length)
        b.u64(32, uptr)
      }).rc
    expect(check(md.hwptId, m.iova, BUFFER_SIZE, t.buffer)).toBe(0)
    expect(check(md.hwptId, m.iova + 0x800n, M.MOCK_PAGE_SIZE, t.buffer + 0x800n)).toBe(0)
    expect(check(md.hwptId, m.iova, PAGE_SIZE, t.buffer + BigInt(PAGE_SIZE))).toBe(err('EINVAL')) // other pages
    expect(check(md.hwptId, m.iova + BigInt(BUFFER_SIZE), PAGE_SIZE, t.buffer)).toBe(err('EINVAL')) // not mapped
    expect(check(md.hwptId, m.iova + 1n, PAGE_SIZE, t.buffer)).toBe(err('EINVAL'))
    expect(check(md.hwptId, m.iova, PAGE_SIZE, 0x10_0000n)).toBe(err('EFAULT'))
    expect(check(ioas, m.iova, PAGE_SIZE, t.buffer)).toBe(err('ENOENT'))
  })
  it('MD_CHECK_REFS: the pin count of every page; one pin however many domains map it', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    expect(t.map(ioas, t.buffer, BUFFER_SIZE, FIXED, BASE).rc).toBe(0)
    expect(t.checkRefs(t.buffer, BUFFER_SIZE, 0)).toBe(0) // no domain yet: nothing pinned
    t.mockDomain(ioas)
    t.mockDomain(ioas)
    expect(t.checkRefs(t.buffer, BUFFER_SIZE, 1)).toBe(0)
    expect(t.checkRefs(t.buffer, PAGE_SIZE, 2)).toBe(err('EIO'))
    expect(t.checkRefs(t.buffer + 1n, PAGE_SIZE, 1)).toBe(err('EINVAL'))
    expect(t.checkRefs(t.buffer, 100, 1)).toBe(err('EINVAL'))
    expect(t.checkRefs(0x10_0000n, PAGE_SIZE, 0)).toBe(err('EFAULT'))
  })
})

describe('the in-kernel ACCESS: CREATE_ACCESS, ACCESS_PAGES, ACCESS_RW, DESTROY_ACCESS_PAGES, ACCESS_REPLACE_IOAS (§3.8)', () => {
  function createAccess(t: Selftest, ioas: number, flags = M.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES): { rc: number; fd: number } {
    const r = t.testCmd(M.IOMMU_TEST_OP_CREATE_ACCESS, ioas, (b) => b.u32(20, flags))
    return { rc: r.rc, fd: r.b.u32(16) }
  }
  function accessPages(t: Selftest, fd: number, iova: bigint, length: number, uptr: bigint, flags = 0): { rc: number; id: number } {
    const r = t.testCmd(M.IOMMU_TEST_OP_ACCESS_PAGES, fd, (b) => {
      b.u32(16, flags)
      b.u64(24, iova)
      b.u64(32, length)
      b.u64(40, uptr)
    })
    return { rc: r.rc, id: r.b.u32(20) }
  }
  function accessRw(t: Selftest, fd: number, iova: bigint, length: number, uptr: bigint, flags = 0): number {
    return t.testCmd(M.IOMMU_TEST_OP_ACCESS_RW, fd, (b) => {
      b.u64(16, iova)
      b.u64(24, length)
      b.u64(32, uptr)
      b.u32(40, flags)
    }).rc
  }
  function destroyPages(t: Selftest, fd: number, id: number): number {
    return t.testCmd(M.IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, fd, (b) => b.u32(16, id)).rc
  }

  it('CREATE_ACCESS returns an fd; the ACCESS object consumes an id and cannot be destroyed by IOMMU_DESTROY', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    expect(createAccess(t, ioas, 2).rc).toBe(err('EOPNOTSUPP'))
    expect(createAccess(t, 99).rc).toBe(err('ENOENT'))
    expect(objectTypes(t)).toEqual(['IOAS']) // the failed access was destroyed again
    const a = createAccess(t, ioas)
    expect(a.rc).toBe(0)
    expect(a.fd).toBe(t.fd + 1)
    expect(objectTypes(t)).toEqual(['IOAS', 'ACCESS'])
    expect(t.destroy(2)).toBe(err('EBUSY'))
    expect(t.destroy(ioas)).toBe(err('EBUSY')) // the access holds its IOAS
    expect(t.proc.close(a.fd)).toBe(0)
    expect(objectTypes(t)).toEqual(['IOAS'])
    expect(t.destroy(ioas)).toBe(0)
  })

  it('ACCESS_PAGES pins (checked against uptr), unmap asks the access to unpin, DESTROY_ACCESS_PAGES undoes a pin', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    expect(t.map(ioas, t.buffer, BUFFER_SIZE, FIXED, BASE).rc).toBe(0)
    const a = createAccess(t, ioas)
    const p0 = accessPages(t, a.fd, BASE, BUFFER_SIZE, t.buffer)
    expect(p0).toEqual({ rc: 0, id: 0 })
    expect(t.checkRefs(t.buffer, BUFFER_SIZE, 1)).toBe(0)
    const p1 = accessPages(t, a.fd, BASE + 0x2000n, 0x1800, t.buffer + 0x2000n, M.MOCK_FLAGS_ACCESS_WRITE)
    expect(p1).toEqual({ rc: 0, id: 1 })
    expect(t.checkRefs(t.buffer, BUFFER_SIZE, 1)).toBe(0) // a page is pinned once
    const other = t.proc.mmap(PAGE_SIZE)
    expect(accessPages(t, a.fd, BASE, PAGE_SIZE, other).rc).toBe(err('EBADE'))
    expect(accessPages(t, a.fd, BASE + 0x800n, PAGE_SIZE, 0n).rc).toBe(err('EINVAL')) // not page aligned
    expect(accessPages(t, a.fd, BASE + BigInt(BUFFER_SIZE), PAGE_SIZE, 0n).rc).toBe(err('ENOENT'))
    expect(accessPages(t, a.fd, BASE, 0, 0n).rc).toBe(err('EINVAL'))
    expect(accessPages(t, a.fd, BASE, 17 << 20, 0n).rc).toBe(err('ENOMEM'))
    expect(accessPages(t, a.fd, BASE, PAGE_SIZE, 0n, 1 << 3).rc).toBe(err('EOPNOTSUPP'))
    expect(accessPages(t, t.fd, BASE, PAGE_SIZE, 0n).rc).toBe(err('EBADFD'))
    expect(accessPages(t, 77, BASE, PAGE_SIZE, 0n).rc).toBe(err('EBADFD'))
    expect(destroyPages(t, a.fd, 7)).toBe(err('ENOENT'))
    expect(destroyPages(t, a.fd, p1.id)).toBe(0)
    expect(destroyPages(t, a.fd, p1.id)).toBe(err('ENOENT'))
    // UNMAP of a pinned area calls the access's unmap callback, which drops item 0.
    expect(t.unmap(ioas, BASE, BUFFER_SIZE)).toEqual({ rc: 0, length: BigInt(BUFFER_SIZE) })
    expect(destroyPages(t, a.fd, p0.id)).toBe(err('ENOENT'))
    expect(t.checkRefs(t.buffer, BUFFER_SIZE, 0)).toBe(0)
  })

  it('ACCESS_PAGES with MOCK_FLAGS_ACCESS_SYZ takes the IOVA as {nth area, offset}; without NEEDS_PIN_PAGES it is EOPNOTSUPP', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    expect(t.map(ioas, t.buffer, PAGE_SIZE, FIXED, BASE).rc).toBe(0)
    expect(t.map(ioas, t.buffer + 0x4000n, 0x4000, FIXED, BASE + 0x10_0000n).rc).toBe(0)
    const a = createAccess(t, ioas)
    const r = t.testCmd(M.IOMMU_TEST_OP_ACCESS_PAGES, a.fd, (b) => {
      b.u32(16, M.MOCK_FLAGS_ACCESS_SYZ)
      b.u64(24, (0x1000n << 32n) | 1n) // area 1, offset 0x1000
      b.u64(32, PAGE_SIZE)
      b.u64(40, t.buffer + 0x5000n)
    })
    expect(r.rc).toBe(0)
    expect(r.b.u64(24)).toBe(BASE + 0x10_1000n) // the converted IOVA is written back
    const noPin = createAccess(t, ioas, 0)
    expect(accessPages(t, noPin.fd, BASE, PAGE_SIZE, 0n).rc).toBe(err('EOPNOTSUPP'))
  })

  it('ACCESS_RW reads and writes through the IOAS, byte granular, across areas; EPERM on a read-only area', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    t.proc.memory.write(t.buffer, new Uint8Array(0x3000).map((_, i) => i & 0xff))
    expect(t.map(ioas, t.buffer, 0x1000, FIXED, BASE).rc).toBe(0)
    expect(t.map(ioas, t.buffer + 0x1000n, 0x1000, FIXED, BASE + 0x1000n).rc).toBe(0)
    expect(t.map(ioas, t.buffer + 0x2000n, 0x1000, C.IOMMU_IOAS_MAP_READABLE | C.IOMMU_IOAS_MAP_FIXED_IOVA, BASE + 0x2000n).rc).toBe(0)
    const a = createAccess(t, ioas, 0)
    const ubuf = t.proc.mmap(PAGE_SIZE)
    expect(accessRw(t, a.fd, BASE + 0xffen, 4, ubuf)).toBe(0)
    expect([...t.proc.memory.read(ubuf, 4)]).toEqual([0xfe, 0xff, 0x00, 0x01])
    t.proc.memory.write(ubuf, new Uint8Array([9, 8, 7]))
    expect(accessRw(t, a.fd, BASE + 0x10n, 3, ubuf, M.MOCK_ACCESS_RW_WRITE)).toBe(0)
    expect([...t.proc.memory.read(t.buffer + 0x10n, 3)]).toEqual([9, 8, 7])
    expect(accessRw(t, a.fd, BASE + 0x2000n, 3, ubuf, M.MOCK_ACCESS_RW_WRITE)).toBe(err('EPERM'))
    expect(accessRw(t, a.fd, BASE + 0x2ffen, 4, ubuf)).toBe(err('ENOENT')) // runs off the last area
    expect(accessRw(t, a.fd, BASE, 0, ubuf)).toBe(err('EINVAL'))
    expect(accessRw(t, a.fd, U64_MAX, 2, ubuf)).toBe(err('EOVERFLOW'))
    expect(accessRw(t, a.fd, BASE, 4, 0x10n)).toBe(err('EFAULT'))
    expect(accessRw(t, a.fd, BASE, 4, 0x10n, M.MOCK_ACCESS_RW_WRITE)).toBe(err('EFAULT'))
    expect(accessRw(t, a.fd, BASE, 4, ubuf, 1 << 1)).toBe(err('EOPNOTSUPP'))
    expect(accessRw(t, a.fd, BASE, 4, ubuf, M.MOCK_ACCESS_RW_SLOW_PATH)).toBe(0)
    expect(accessRw(t, a.fd, BASE, (16 << 20) + 1, ubuf)).toBe(err('ENOMEM'))
  })

  it('ACCESS_REPLACE_IOAS moves the access: its pins are dropped first; SET_TEMP_MEMORY_LIMIT bounds', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const ioas2 = t.ioasAlloc()
    expect(t.map(ioas, t.buffer, BUFFER_SIZE, FIXED, BASE).rc).toBe(0)
    const a = createAccess(t, ioas)
    expect(accessPages(t, a.fd, BASE, PAGE_SIZE, t.buffer).rc).toBe(0)
    expect(t.checkRefs(t.buffer, PAGE_SIZE, 1)).toBe(0)
    const replace = (id: number) => t.testCmd(M.IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, a.fd, (b) => b.u32(16, id)).rc
    expect(replace(99)).toBe(err('ENOENT'))
    expect(replace(ioas)).toBe(0) // same IOAS: nothing happens
    expect(t.checkRefs(t.buffer, PAGE_SIZE, 1)).toBe(0)
    expect(replace(ioas2)).toBe(0)
    expect(t.checkRefs(t.buffer, PAGE_SIZE, 0)).toBe(0)
    expect(t.destroy(ioas)).toBe(0)
    expect(t.destroy(ioas2)).toBe(err('EBUSY'))
    const limit = (n: number) => t.testCmd(M.IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 0, (b) => b.u32(16, n)).rc
    expect(limit(11)).toBe(err('EINVAL'))
    expect(limit(12)).toBe(0)
    expect(limit(65536)).toBe(0)
  })
})

describe('PASID ops (mock §A.9)', () => {
  function pasidWorld() {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const md = t.mockDomain(ioas, M.MOCK_FLAGS_DEVICE_PASID)
    expect(md.rc).toBe(0)
    const h1 = t.hwptAlloc(md.idevId, ioas, C.IOMMU_HWPT_ALLOC_PASID)
    const h2 = t.hwptAlloc(md.idevId, ioas, C.IOMMU_HWPT_ALLOC_PASID)
    // the RID must be on a PASID-compatible domain before PASIDs attach (§3.4)
    expect(t.testCmd(M.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, md.stdevId, (b) => b.u32(16, h1.id)).rc).toBe(0)
    const attach = (pasid: number, pt: number, replace = false) => {
      const r = t.testCmd(replace ? M.IOMMU_TEST_OP_PASID_REPLACE : M.IOMMU_TEST_OP_PASID_ATTACH, md.stdevId, (b) => {
        b.u32(16, pasid)
        b.u32(20, pt)
      })
      return { rc: r.rc, ptId: r.b.u32(20) }
    }
    const detach = (pasid: number) => t.testCmd(M.IOMMU_TEST_OP_PASID_DETACH, md.stdevId, (b) => b.u32(16, pasid)).rc
    const check = (pasid: number, hwpt: number) =>
      t.testCmd(M.IOMMU_TEST_OP_PASID_CHECK_HWPT, md.stdevId, (b) => {
        b.u32(16, pasid)
        b.u32(20, hwpt)
      }).rc
    return { ...t, ioas, ...md, h1: h1.id, h2: h2.id, attach, detach, check }
  }
  it('attach / check / replace / detach a PASID', () => {
    const w = pasidWorld()
    expect(w.check(100, 0)).toBe(0)
    expect(w.attach(100, w.h2)).toEqual({ rc: 0, ptId: w.h2 })
    expect(w.check(100, w.h2)).toBe(0)
    expect(w.check(100, 0)).toBe(err('EINVAL'))
    expect(w.check(100, w.h1)).toBe(err('EINVAL'))
    expect(w.check(100, w.ioas)).toBe(err('EINVAL')) // not an HWPT
    expect(w.check(100, 99)).toBe(err('ENOENT'))
    expect(w.attach(100, w.h1).rc).toBe(err('EBUSY')) // already attached: use replace
    expect(w.attach(100, w.h1, true)).toEqual({ rc: 0, ptId: w.h1 })
    expect(w.check(100, w.h1)).toBe(0)
    expect(w.detach(100)).toBe(0)
    expect(w.check(100, 0)).toBe(0)
    expect(w.detach(100)).toBe(0) // nothing attached: no-op
    expect(w.attach(100, w.ioas).rc).toBe(err('EINVAL')) // auto domains are not PASID-compatible
    expect(w.attach(100, w.h1, true).rc).toBe(err('EINVAL')) // replace needs an attachment
    expect(w.testCmd(M.IOMMU_TEST_OP_PASID_ATTACH, w.idevId, (b) => b.u32(20, w.h1)).rc).toBe(err('ENOENT'))
  })
  it('IOMMU_TEST_PASID_RESERVED: the second non-blocking attach fails once with ENOMEM, keeping the old domain', () => {
    const w = pasidWorld()
    const P = M.IOMMU_TEST_PASID_RESERVED
    expect(w.attach(P, w.h1).rc).toBe(0)
    expect(w.attach(P, w.h2, true).rc).toBe(err('ENOMEM'))
    expect(w.check(P, w.h1)).toBe(0)
    expect(w.attach(P, w.h2, true).rc).toBe(0)
    expect(w.check(P, w.h2)).toBe(0)
    expect(w.detach(P)).toBe(0)
  })
  it('IOMMU_TEST_PASID_RESERVED: attaching and detaching another PASID does not disarm it (only a blocking attach on 1024 does)', () => {
    const w = pasidWorld()
    const P = M.IOMMU_TEST_PASID_RESERVED
    expect(w.attach(P, w.h1).rc).toBe(0)
    expect(w.attach(7, w.h1).rc).toBe(0)
    expect(w.detach(7)).toBe(0)
    expect(w.attach(P, w.h2, true).rc).toBe(err('ENOMEM'))
    expect(w.detach(P)).toBe(0) // blocking: disarms
    expect(w.attach(P, w.h1).rc).toBe(0) // arms again
    expect(w.detach(P)).toBe(0)
  })
  it('a device without PASID support cannot attach a PASID (EINVAL)', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const md = t.mockDomain(ioas)
    const h = t.hwptAlloc(md.idevId, ioas, C.IOMMU_HWPT_ALLOC_PASID)
    expect(h.rc).toBe(0)
    expect(t.testCmd(M.IOMMU_TEST_OP_PASID_ATTACH, md.stdevId, (b) => {
      b.u32(16, 5)
      b.u32(20, h.id)
    }).rc).toBe(err('EINVAL'))
  })
})

describe('unknown ops', () => {
  it('op 0, ops past the table, and DMABUF_GET/REVOKE (no dma-buf in the model) are EOPNOTSUPP', () => {
    const t = selftest()
    for (const op of [0, 99, 0xffff_ffff, M.IOMMU_TEST_OP_DMABUF_GET, M.IOMMU_TEST_OP_DMABUF_REVOKE]) expect(t.testCmd(op, 0).rc).toBe(err('EOPNOTSUPP'))
  })
  it('the command struct is written back only on success', () => {
    const t = selftest()
    const b = new Buf(72)
    b.u32(4, M.IOMMU_TEST_OP_MOCK_DOMAIN)
    b.u32(8, 42)
    b.u32(16, 0xaaaa)
    expect(t.ioctl(C.IOMMU_TEST_CMD, b)).toBe(err('ENOENT'))
    expect(b.u32(16)).toBe(0xaaaa)
  })
})
