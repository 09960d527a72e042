/**
 * IOAS commands through the raw ABI, in the style of tools/testing/selftests/iommu/iommufd.c's
 * `iommufd_ioas` fixture (variants: no domain / one mock domain): IOMMU_DESTROY, IOAS_ALLOC,
 * ALLOW_IOVAS, IOVA_RANGES, MAP, MAP_FILE, COPY, UNMAP, OPTION, VFIO_IOAS, IOAS_CHANGE_PROCESS.
 * Expected values follow reference/iommufd-uapi.md §2.1–§2.10, §2.19 and mock-driver.md §A.2.
 */
import { describe, expect, it } from 'vitest'
import * as C from '@iommu-sim/core'
import { createHost } from '@iommu-sim/core'
import * as M from '../src/index.js'
import { mockDriver } from '../src/index.js'
import { Buf, BUFFER_SIZE, err, PAGE_SIZE, selftest, type Selftest } from './abi-helpers.js'

const U64_MAX = 0xffff_ffff_ffff_ffffn
const RW = C.IOMMU_IOAS_MAP_READABLE | C.IOMMU_IOAS_MAP_WRITEABLE
const FIXED = RW | C.IOMMU_IOAS_MAP_FIXED_IOVA
const BASE = M.MOCK_APERTURE_START

interface Fixture extends Selftest {
  ioasId: number
  stdevId: number
  hwptId: number
  idevId: number
}

/** FIXTURE(iommufd_ioas): an IOAS, and with `domains` = 1 a mock domain attached to it. */
function ioasFixture(domains: 0 | 1): Fixture {
  const t = selftest()
  const ioasId = t.ioasAlloc()
  let md = { stdevId: 0, hwptId: 0, idevId: 0 }
  if (domains === 1) {
    const r = t.mockDomain(ioasId)
    expect(r.rc).toBe(0)
    md = r
  }
  return { ...t, ioasId, ...md }
}

/** FIXTURE_TEARDOWN: close the fd, then no page of the buffer may stay pinned. */
function teardown(t: Selftest): void {
  expect(t.proc.close(t.fd)).toBe(0)
  const fd = t.proc.open('/dev/iommu')
  const t2 = { ...t, fd, ioctl: (r: number, b: Buf) => t.proc.ioctl(fd, r, b.bytes) }
  expect(t.checkRefs.call(t2, t.buffer, BUFFER_SIZE, 0)).toBe(0)
  expect(t.host.frames.totalPins()).toBe(0)
}

function ranges(t: Selftest, ioasId: number, capacity: number): { rc: number; num: number; align: bigint; list: [bigint, bigint][] } {
  const arr = t.proc.mmap(PAGE_SIZE)
  const b = new Buf(32)
  b.u32(4, ioasId)
  b.u32(8, capacity)
  b.u64(16, arr)
  const rc = t.ioctl(C.IOMMU_IOAS_IOVA_RANGES, b)
  const num = b.u32(8)
  const raw = t.proc.memory.read(arr, Math.min(num, capacity) * 16)
  const dv = new DataView(raw.buffer)
  const list: [bigint, bigint][] = []
  for (let i = 0; i < Math.min(num, capacity); i++) list.push([dv.getBigUint64(i * 16, true), dv.getBigUint64(i * 16 + 8, true)])
  return { rc, num, align: b.u64(24), list }
}

function allow(t: Selftest, ioasId: number, list: readonly [bigint, bigint][], reserved = 0): number {
  const arr = t.proc.mmap(PAGE_SIZE)
  const bytes = new Uint8Array(Math.max(16, list.length * 16))
  const dv = new DataView(bytes.buffer)
  list.forEach(([s, l], i) => {
    dv.setBigUint64(i * 16, s, true)
    dv.setBigUint64(i * 16 + 8, l, true)
  })
  t.proc.memory.write(arr, bytes)
  const b = new Buf(24)
  b.u32(4, ioasId)
  b.u32(8, list.length)
  b.u32(12, reserved)
  b.u64(16, arr)
  return t.ioctl(C.IOMMU_IOAS_ALLOW_IOVAS, b)
}

function addReserved(t: Selftest, ioasId: number, start: bigint, length: bigint): number {
  return t.testCmd(M.IOMMU_TEST_OP_ADD_RESERVED, ioasId, (b) => {
    b.u64(16, start)
    b.u64(24, length)
  }).rc
}

function option(t: Selftest, optionId: number, op: number, objectId: number, val64 = 0n, reserved = 0): { rc: number; val64: bigint } {
  const b = new Buf(24)
  b.u32(4, optionId)
  b.u16(8, op)
  b.u16(10, reserved)
  b.u32(12, objectId)
  b.u64(16, val64)
  const rc = t.ioctl(C.IOMMU_OPTION, b)
  return { rc, val64: b.u64(16) }
}

function copy(t: Selftest, flags: number, dst: number, src: number, length: bigint | number, dstIova: bigint | number, srcIova: bigint | number): { rc: number; dstIova: bigint } {
  const b = new Buf(40)
  b.u32(4, flags)
  b.u32(8, dst)
  b.u32(12, src)
  b.u64(16, length)
  b.u64(24, dstIova)
  b.u64(32, srcIova)
  const rc = t.ioctl(C.IOMMU_IOAS_COPY, b)
  return { rc, dstIova: b.u64(24) }
}

for (const domains of [0, 1] as const) {
  describe(`iommufd_ioas (${domains === 0 ? 'no_domain' : 'mock_domain'})`, () => {
    it('ioas_destroy: an IOAS with a device HWPT on it is busy (EBUSY), a bare one is freed', () => {
      const t = ioasFixture(domains)
      if (domains === 1) {
        expect(t.destroy(t.ioasId)).toBe(err('EBUSY'))
        expect(t.destroy(t.idevId)).toBe(err('EBUSY')) // the DEVICE is held by its binding
        expect(t.destroy(t.hwptId)).toBe(err('EBUSY')) // the auto HWPT is attached
        expect(t.destroy(t.stdevId)).toBe(0)
      }
      expect(t.destroy(t.ioasId)).toBe(0)
      expect(t.destroy(t.ioasId)).toBe(err('ENOENT'))
      expect(t.destroy(0)).toBe(err('ENOENT'))
      teardown(t)
    })

    it('ioas_area_destroy: an IOAS with mapped areas can be destroyed; its pins go', () => {
      const t = ioasFixture(domains)
      for (let i = 0; i < 4; i++) expect(t.map(t.ioasId, t.buffer + BigInt(i * PAGE_SIZE), PAGE_SIZE, FIXED, BASE + BigInt(i * 2 * PAGE_SIZE)).rc).toBe(0)
      expect(t.checkRefs(t.buffer, PAGE_SIZE, domains)).toBe(0)
      if (domains === 1) expect(t.destroy(t.stdevId)).toBe(0)
      expect(t.destroy(t.ioasId)).toBe(0)
      expect(t.checkRefs(t.buffer, 4 * PAGE_SIZE, 0)).toBe(0)
      teardown(t)
    })

    it('area: fixed maps, EEXIST over an area, exact unmaps, ENOENT once gone', () => {
      const t = ioasFixture(domains)
      for (let i = 0; i < 16; i++) {
        expect(t.map(t.ioasId, t.buffer, PAGE_SIZE, FIXED, BASE + BigInt(i * PAGE_SIZE)).rc).toBe(0)
      }
      expect(t.map(t.ioasId, t.buffer, PAGE_SIZE, FIXED, BASE + BigInt(5 * PAGE_SIZE)).rc).toBe(err('EEXIST'))
      for (let i = 0; i < 16; i++) expect(t.unmap(t.ioasId, BASE + BigInt(i * PAGE_SIZE), PAGE_SIZE)).toEqual({ rc: 0, length: BigInt(PAGE_SIZE) })
      expect(t.unmap(t.ioasId, BASE, PAGE_SIZE).rc).toBe(err('ENOENT'))
      teardown(t)
    })

    it('unmap: areas only partly covered stop the walk with ENOENT after earlier areas went (non-atomic, §2.8)', () => {
      const t = ioasFixture(domains)
      expect(t.map(t.ioasId, t.buffer, 0x1000, FIXED, BASE + 0x1000n).rc).toBe(0)
      expect(t.map(t.ioasId, t.buffer + 0x1000n, 0x2000, FIXED, BASE + 0x3000n).rc).toBe(0)
      expect(t.unmap(t.ioasId, BASE + 0x2000n, 0x1000).rc).toBe(err('ENOENT'))
      const u = t.unmap(t.ioasId, BASE + 0x1000n, 0x3000)
      expect(u.rc).toBe(err('ENOENT'))
      expect(u.length).toBe(0x3000n) // not written back on failure
      expect(t.unmap(t.ioasId, BASE, 0x6000)).toEqual({ rc: 0, length: 0x2000n })
      teardown(t)
    })

    it('unmap_all (iova 0, length U64_MAX) succeeds even when empty; other bad ranges', () => {
      const t = ioasFixture(domains)
      expect(t.unmap(t.ioasId, 0, U64_MAX)).toEqual({ rc: 0, length: 0n })
      expect(t.map(t.ioasId, t.buffer, BUFFER_SIZE, FIXED, BASE).rc).toBe(0)
      expect(t.map(t.ioasId, t.buffer, PAGE_SIZE, FIXED, BASE + 0x100_0000n).rc).toBe(0)
      expect(t.unmap(t.ioasId, 0, U64_MAX)).toEqual({ rc: 0, length: BigInt(BUFFER_SIZE + PAGE_SIZE) })
      expect(t.unmap(t.ioasId, BASE, 0).rc).toBe(err('EINVAL'))
      expect(t.unmap(t.ioasId, U64_MAX, 1).rc).toBe(err('EOVERFLOW'))
      expect(t.unmap(t.ioasId, 2n, U64_MAX - 1n).rc).toBe(err('ENOENT')) // last = U64_MAX: no wrap
      expect(t.unmap(t.ioasId, 3n, U64_MAX - 1n).rc).toBe(err('EOVERFLOW'))
      expect(t.unmap(99, 0, U64_MAX).rc).toBe(err('ENOENT'))
      teardown(t)
    })

    it('map: the kernel order of validation errors (§2.5)', () => {
      const t = ioasFixture(domains)
      const m = (flags: number, userVa: bigint, length: bigint | number, iova: bigint | number = BASE, ioas = t.ioasId): number => t.map(ioas, userVa, length, flags, iova).rc
      expect(m(1 << 3, t.buffer, PAGE_SIZE)).toBe(err('EOPNOTSUPP'))
      const r = new Buf(40)
      r.u32(4, RW)
      r.u32(8, t.ioasId)
      r.u32(12, 1)
      r.u64(16, t.buffer)
      r.u64(24, PAGE_SIZE)
      expect(t.ioctl(C.IOMMU_IOAS_MAP, r)).toBe(err('EOPNOTSUPP')) // __reserved
      expect(m(FIXED, t.buffer, PAGE_SIZE, U64_MAX)).toBe(err('EOVERFLOW'))
      expect(m(FIXED, t.buffer, U64_MAX)).toBe(err('EOVERFLOW'))
      expect(m(C.IOMMU_IOAS_MAP_FIXED_IOVA, t.buffer, PAGE_SIZE)).toBe(err('EINVAL'))
      expect(m(FIXED, t.buffer, PAGE_SIZE, BASE, 99)).toBe(err('ENOENT'))
      expect(m(FIXED, U64_MAX - 0xfffn, 0x2000)).toBe(err('EOVERFLOW'))
      expect(m(FIXED, t.buffer, 0)).toBe(err('EINVAL'))
      if (domains === 1) {
        expect(m(FIXED, t.buffer, PAGE_SIZE, BASE + 1n)).toBe(err('EINVAL')) // not MOCK_PAGE_SIZE aligned
        expect(m(FIXED, t.buffer, 100)).toBe(err('EINVAL')) // length not aligned
        expect(m(FIXED, t.buffer, PAGE_SIZE, 0x1000n)).toBe(err('EINVAL')) // below the aperture: reserved
        expect(m(FIXED, t.buffer + 1n, PAGE_SIZE)).toBe(err('EINVAL')) // page offset not aligned
      }
      // write-only is allowed
      expect(m(C.IOMMU_IOAS_MAP_WRITEABLE | C.IOMMU_IOAS_MAP_FIXED_IOVA, t.buffer, PAGE_SIZE)).toBe(0)
      teardown(t)
    })

    it('map of unmapped user memory: EFAULT with a domain; lazily accepted without one until a domain attaches', () => {
      const t = ioasFixture(domains)
      const hole = t.proc.mmap(0x10000)
      t.proc.munmap(hole, 0x10000)
      const r = t.map(t.ioasId, hole, 0x10000, FIXED, BASE)
      if (domains === 1) {
        expect(r.rc).toBe(err('EFAULT'))
      } else {
        expect(r.rc).toBe(0)
        expect(t.mockDomain(t.ioasId).rc).toBe(err('EFAULT')) // the pin happens at attach (fork_gone)
        expect(t.proc.iommufd(t.fd).snapshot().objects.map((o) => o.type)).toEqual(['IOAS'])
      }
      teardown(t)
    })

    it('area_auto_iova: automatic IOVAs are aligned, inside the usable ranges, and never overlap', () => {
      const t = ioasFixture(domains)
      const got: bigint[] = []
      for (let i = 0; i < 16; i++) {
        const length = BigInt((i % 4) + 1) * BigInt(PAGE_SIZE)
        const r = t.map(t.ioasId, t.buffer, length, RW)
        expect(r.rc).toBe(0)
        expect(r.iova % BigInt(PAGE_SIZE)).toBe(0n)
        if (domains === 1) expect(r.iova >= BASE && r.iova + length - 1n <= M.MOCK_APERTURE_LAST).toBe(true)
        else expect(r.iova).toBeGreaterThan(0n)
        for (const g of got) expect(g).not.toBe(r.iova)
        got.push(r.iova)
      }
      for (const [i, iova] of got.entries()) expect(t.unmap(t.ioasId, iova, BigInt((i % 4) + 1) * BigInt(PAGE_SIZE)).rc).toBe(0)
      teardown(t)
    })

    it('area_allowed: ALLOW_IOVAS restricts automatic IOVA; its rules (§2.4)', () => {
      const t = ioasFixture(domains)
      const lo = BASE + 0x40_0000n
      const hi = lo + 0x10_0000n - 1n
      expect(allow(t, t.ioasId, [[lo, hi]])).toBe(0)
      for (let i = 0; i < 4; i++) {
        const r = t.map(t.ioasId, t.buffer, PAGE_SIZE, RW)
        expect(r.rc).toBe(0)
        expect(r.iova >= lo && r.iova <= hi).toBe(true)
      }
      expect(allow(t, t.ioasId, [[lo, lo]])).toBe(err('EINVAL')) // start == last
      expect(allow(t, t.ioasId, [[hi, lo]])).toBe(err('EINVAL'))
      expect(allow(t, t.ioasId, [[lo, hi], [hi, hi + 0x1000n]])).toBe(err('EINVAL')) // overlap
      expect(allow(t, t.ioasId, [[lo, hi]], 1)).toBe(err('EOPNOTSUPP'))
      expect(allow(t, 99, [[lo, hi]])).toBe(err('ENOENT'))
      // A reservation over an allowed range cannot be added, and vice versa (EADDRINUSE).
      expect(addReserved(t, t.ioasId, lo, 0x1000n)).toBe(err('EADDRINUSE'))
      expect(addReserved(t, t.ioasId, hi + 1n, 0x1000n)).toBe(0)
      expect(allow(t, t.ioasId, [[hi, hi + 0x1000n]])).toBe(err('EADDRINUSE'))
      // An unreadable array is EFAULT; num_iovas 0 clears the list.
      const b = new Buf(24)
      b.u32(4, t.ioasId)
      b.u32(8, 2)
      b.u64(16, 0x10n)
      expect(t.ioctl(C.IOMMU_IOAS_ALLOW_IOVAS, b)).toBe(err('EFAULT'))
      // Ranges are read and checked one at a time: a bad range before an unreadable one is EINVAL.
      const edge = t.proc.mmap(PAGE_SIZE) + BigInt(PAGE_SIZE - 16) // the next page is unmapped
      const one = new Uint8Array(16)
      const dv = new DataView(one.buffer)
      dv.setBigUint64(0, lo + 5n, true)
      dv.setBigUint64(8, lo, true)
      t.proc.memory.write(edge, one)
      b.u64(16, edge)
      expect(t.ioctl(C.IOMMU_IOAS_ALLOW_IOVAS, b)).toBe(err('EINVAL'))
      dv.setBigUint64(8, hi, true)
      t.proc.memory.write(edge, one)
      expect(t.ioctl(C.IOMMU_IOAS_ALLOW_IOVAS, b)).toBe(err('EFAULT'))
      expect(allow(t, t.ioasId, [])).toBe(0)
      teardown(t)
    })

    it('iova_ranges: the holes of the reserved set, EMSGSIZE with the count, EFAULT on a bad array', () => {
      const t = ioasFixture(domains)
      const r = ranges(t, t.ioasId, 4)
      expect(r.rc).toBe(0)
      if (domains === 1) {
        expect(r.list).toEqual([[BASE, M.MOCK_APERTURE_LAST]])
        expect(r.align).toBe(BigInt(M.MOCK_PAGE_SIZE))
      } else {
        expect(r.list).toEqual([[0n, U64_MAX]])
        expect(r.align).toBe(1n)
      }
      expect(addReserved(t, t.ioasId, BASE + 0x10_0000n, 0x1000n)).toBe(0)
      const two = ranges(t, t.ioasId, 1)
      expect(two.rc).toBe(err('EMSGSIZE'))
      expect(two.num).toBe(2)
      expect(two.list).toEqual([[domains === 1 ? BASE : 0n, BASE + 0x10_0000n - 1n]])
      const b = new Buf(32)
      b.u32(4, t.ioasId)
      b.u32(8, 3) // room for more than the 2 ranges, so a write-back would change it
      b.u64(16, 0x10n)
      expect(t.ioctl(C.IOMMU_IOAS_IOVA_RANGES, b)).toBe(err('EFAULT'))
      expect(b.u32(8)).toBe(3) // not written back
      b.u32(12, 1)
      expect(t.ioctl(C.IOMMU_IOAS_IOVA_RANGES, b)).toBe(err('EOPNOTSUPP'))
      teardown(t)
    })

    it('copy_area: COPY to another IOAS (auto and fixed); the source must be fully mapped (§2.7)', () => {
      const t = ioasFixture(domains)
      const dst = t.ioasAlloc()
      expect(t.map(t.ioasId, t.buffer, BUFFER_SIZE, FIXED, BASE).rc).toBe(0)
      const auto = copy(t, RW, dst, t.ioasId, PAGE_SIZE, 0, BASE)
      expect(auto.rc).toBe(0)
      expect(copy(t, FIXED, dst, t.ioasId, PAGE_SIZE, BASE, BASE + 0x1000n)).toEqual({ rc: 0, dstIova: BASE })
      expect(copy(t, FIXED, dst, t.ioasId, PAGE_SIZE, BASE, BASE).rc).toBe(err('EEXIST'))
      expect(copy(t, FIXED, dst, t.ioasId, PAGE_SIZE, BASE + 0x10_0000n, BASE + BigInt(BUFFER_SIZE)).rc).toBe(err('ENOENT'))
      expect(copy(t, 1 << 5, dst, t.ioasId, PAGE_SIZE, 0, BASE).rc).toBe(err('EOPNOTSUPP'))
      expect(copy(t, FIXED, dst, t.ioasId, U64_MAX, 0, BASE).rc).toBe(err('EOVERFLOW'))
      expect(copy(t, C.IOMMU_IOAS_MAP_FIXED_IOVA, dst, t.ioasId, PAGE_SIZE, 0, BASE).rc).toBe(err('EINVAL'))
      expect(copy(t, RW, dst, 99, PAGE_SIZE, 0, BASE).rc).toBe(err('ENOENT'))
      expect(copy(t, RW, 99, t.ioasId, PAGE_SIZE, 0, BASE).rc).toBe(err('ENOENT'))
      expect(t.unmap(dst, 0, U64_MAX)).toEqual({ rc: 0, length: 2n * BigInt(PAGE_SIZE) })
      // Selftest build: MOCK_FLAGS_ACCESS_SYZ makes src_iova {nth area, offset} (ioas.c → selftest.c).
      const syz = new Buf(40)
      syz.u32(4, FIXED | M.MOCK_FLAGS_ACCESS_SYZ)
      syz.u32(8, dst)
      syz.u32(12, t.ioasId)
      syz.u64(16, PAGE_SIZE)
      syz.u64(24, BASE)
      syz.u64(32, 0x2000n << 32n) // area 0, offset 0x2000
      expect(t.ioctl(C.IOMMU_IOAS_COPY, syz)).toBe(0)
      expect([syz.u32(4), syz.u64(32)]).toEqual([FIXED, BASE + 0x2000n])
      teardown(t)
    })

    it('option HUGE_PAGES (§2.9): GET 1 by default; SET 0 refused with a domain and an area', () => {
      const t = ioasFixture(domains)
      expect(option(t, C.IOMMU_OPTION_HUGE_PAGES, C.IOMMU_OPTION_OP_GET, t.ioasId)).toEqual({ rc: 0, val64: 1n })
      expect(t.map(t.ioasId, t.buffer, BUFFER_SIZE, FIXED, BASE).rc).toBe(0)
      expect(option(t, C.IOMMU_OPTION_HUGE_PAGES, C.IOMMU_OPTION_OP_SET, t.ioasId, 0n).rc).toBe(domains === 1 ? err('EINVAL') : 0)
      expect(option(t, C.IOMMU_OPTION_HUGE_PAGES, C.IOMMU_OPTION_OP_GET, t.ioasId).val64).toBe(domains === 1 ? 1n : 0n)
      expect(option(t, C.IOMMU_OPTION_HUGE_PAGES, C.IOMMU_OPTION_OP_SET, t.ioasId, 2n).rc).toBe(err('EINVAL'))
      expect(option(t, C.IOMMU_OPTION_HUGE_PAGES, C.IOMMU_OPTION_OP_SET, t.ioasId, 1n)).toEqual({ rc: 0, val64: 1n })
      expect(option(t, C.IOMMU_OPTION_HUGE_PAGES, 7, t.ioasId).rc).toBe(err('EOPNOTSUPP'))
      // ioas.c iommufd_ioas_option looks the IOAS up before it checks op
      expect(option(t, C.IOMMU_OPTION_HUGE_PAGES, 7, 99).rc).toBe(err('ENOENT'))
      teardown(t)
    })
  })
}

describe('IOMMU_OPTION RLIMIT_MODE (§2.9)', () => {
  it('GET 0, SET only on an empty context, 0/1 only, object_id 0, __reserved 0, unknown option', () => {
    const t = selftest()
    expect(option(t, C.IOMMU_OPTION_RLIMIT_MODE, C.IOMMU_OPTION_OP_GET, 0)).toEqual({ rc: 0, val64: 0n })
    expect(option(t, C.IOMMU_OPTION_RLIMIT_MODE, C.IOMMU_OPTION_OP_SET, 0, 2n).rc).toBe(err('EINVAL'))
    expect(option(t, C.IOMMU_OPTION_RLIMIT_MODE, C.IOMMU_OPTION_OP_SET, 0, 1n)).toEqual({ rc: 0, val64: 1n })
    expect(option(t, C.IOMMU_OPTION_RLIMIT_MODE, C.IOMMU_OPTION_OP_GET, 0).val64).toBe(1n)
    expect(option(t, C.IOMMU_OPTION_RLIMIT_MODE, C.IOMMU_OPTION_OP_GET, 1).rc).toBe(err('EOPNOTSUPP'))
    expect(option(t, C.IOMMU_OPTION_RLIMIT_MODE, 3, 0).rc).toBe(err('EOPNOTSUPP'))
    expect(option(t, C.IOMMU_OPTION_RLIMIT_MODE, C.IOMMU_OPTION_OP_GET, 0, 0n, 1).rc).toBe(err('EOPNOTSUPP'))
    expect(option(t, 2, C.IOMMU_OPTION_OP_GET, 0).rc).toBe(err('EOPNOTSUPP'))
    t.ioasAlloc()
    expect(option(t, C.IOMMU_OPTION_RLIMIT_MODE, C.IOMMU_OPTION_OP_SET, 0, 0n).rc).toBe(err('EBUSY'))
  })
  it('an unprivileged process cannot change it: EPERM (CAP_SYS_RESOURCE)', () => {
    const host = createHost({ drivers: [mockDriver()] })
    const proc = host.createProcess({ privileged: false })
    const fd = proc.open('/dev/iommu')
    const b = new Buf(24)
    b.u32(4, C.IOMMU_OPTION_RLIMIT_MODE)
    b.u16(8, C.IOMMU_OPTION_OP_SET)
    b.u64(16, 1)
    expect(proc.ioctl(fd, C.IOMMU_OPTION, b.bytes)).toBe(err('EPERM'))
  })
})

describe('IOMMU_VFIO_IOAS (§2.10)', () => {
  it('GET without a compat IOAS is ENODEV; SET / GET / CLEAR; destroying it clears the selection', () => {
    const t = selftest()
    const v = (op: number, ioasId = 0, reserved = 0): { rc: number; id: number } => {
      const b = new Buf(12)
      b.u32(4, ioasId)
      b.u16(8, op)
      b.u16(10, reserved)
      const rc = t.ioctl(C.IOMMU_VFIO_IOAS, b)
      return { rc, id: b.u32(4) }
    }
    expect(v(C.IOMMU_VFIO_IOAS_GET).rc).toBe(err('ENODEV'))
    const ioas = t.ioasAlloc()
    expect(v(C.IOMMU_VFIO_IOAS_SET, 99).rc).toBe(err('ENOENT'))
    expect(v(C.IOMMU_VFIO_IOAS_SET, ioas).rc).toBe(0)
    expect(v(C.IOMMU_VFIO_IOAS_GET)).toEqual({ rc: 0, id: ioas })
    expect(v(C.IOMMU_VFIO_IOAS_CLEAR).rc).toBe(0)
    expect(v(C.IOMMU_VFIO_IOAS_GET).rc).toBe(err('ENODEV'))
    expect(v(C.IOMMU_VFIO_IOAS_SET, ioas).rc).toBe(0)
    expect(t.destroy(ioas)).toBe(0)
    expect(v(C.IOMMU_VFIO_IOAS_GET).rc).toBe(err('ENODEV'))
    expect(v(3).rc).toBe(err('EOPNOTSUPP'))
    expect(v(C.IOMMU_VFIO_IOAS_GET, 0, 1).rc).toBe(err('EOPNOTSUPP'))
  })
})

describe('IOMMU_IOAS_CHANGE_PROCESS (§2.19) and IOMMU_IOAS_MAP_FILE (§2.6)', () => {
  it('CHANGE_PROCESS: __reserved → EOPNOTSUPP; only file-backed areas may move: a user-VA area is EINVAL', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const b = new Buf(8)
    expect(t.ioctl(C.IOMMU_IOAS_CHANGE_PROCESS, b)).toBe(0)
    b.u32(4, 1)
    expect(t.ioctl(C.IOMMU_IOAS_CHANGE_PROCESS, b)).toBe(err('EOPNOTSUPP'))
    b.u32(4, 0)
    expect(t.map(ioas, t.buffer, PAGE_SIZE, FIXED, BASE).rc).toBe(0)
    expect(t.ioctl(C.IOMMU_IOAS_CHANGE_PROCESS, b)).toBe(err('EINVAL'))
  })
  it('MAP_FILE: flag/overflow/IOAS checks as MAP, EBADF for a closed fd; the model has no memfd: EINVAL', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const mf = (flags: number, ioasId: number, fd: number, start: bigint, length: bigint | number): number => {
      const b = new Buf(40)
      b.u32(4, flags)
      b.u32(8, ioasId)
      b.s32(12, fd)
      b.u64(16, start)
      b.u64(24, length)
      return t.ioctl(C.IOMMU_IOAS_MAP_FILE, b)
    }
    expect(mf(1 << 4, ioas, t.fd, 0n, PAGE_SIZE)).toBe(err('EOPNOTSUPP'))
    expect(mf(RW, ioas, t.fd, 0n, U64_MAX)).toBe(err('EOVERFLOW'))
    expect(mf(0, ioas, t.fd, 0n, PAGE_SIZE)).toBe(err('EINVAL'))
    expect(mf(RW, 99, t.fd, 0n, PAGE_SIZE)).toBe(err('ENOENT'))
    expect(mf(RW, ioas, 77, 0n, PAGE_SIZE)).toBe(err('EBADF'))
    expect(mf(RW, ioas, -1, 0n, PAGE_SIZE)).toBe(err('EBADF'))
    expect(mf(RW, ioas, t.fd, 0n, PAGE_SIZE)).toBe(err('EINVAL'))
  })
})
