/**
 * IOAS rules of the typed API on the mock driver. Each test names the rule it checks
 * (reference iommufd-uapi.md §2.2–§2.9, drivers/iommu/iommufd/io_pagetable.c, ioas.c).
 */
import { describe, expect, it } from 'vitest'
import {
  IOMMU_IOAS_MAP_FIXED_IOVA as FIXED,
  IOMMU_IOAS_MAP_READABLE as READ,
  IOMMU_IOAS_MAP_WRITEABLE as WRITE,
  IOMMU_OPTION_HUGE_PAGES,
  IOMMU_OPTION_OP_GET,
  IOMMU_OPTION_OP_SET,
  IOMMU_OPTION_RLIMIT_MODE,
  PROT_READ,
  U64_MAX,
  createHost,
} from '@iommu-sim/core'
import { mockDriver } from '../src/index.js'
import { errOf, fixture, RW } from './support/fixture.js'

const PAGE = 4096n

describe('IOMMU_IOAS_ALLOC', () => {
  it('flags != 0 → EOPNOTSUPP', () => {
    const { ictx } = fixture()
    expect(errOf(() => ictx.ioasAlloc({ flags: 1 }))).toBe('EOPNOTSUPP')
    expect(ictx.snapshot().objects).toEqual([])
  })
  it('a fresh IOAS has one usable range [0, U64_MAX] and alignment 1', () => {
    const { ictx } = fixture()
    const { outIoasId } = ictx.ioasAlloc()
    expect(ictx.ioasIovaRanges({ ioasId: outIoasId })).toEqual({ numIovas: 1, allowedIovas: [{ start: 0n, last: U64_MAX }], outIovaAlignment: 1n })
  })
})

describe('IOMMU_IOAS_MAP validation order', () => {
  const f = fixture()
  const ioasId = f.ictx.ioasAlloc().outIoasId
  const buf = f.proc.mmap(0x10000)
  it('unknown flag bits → EOPNOTSUPP', () => expect(errOf(() => f.ictx.ioasMap({ flags: RW | 8, ioasId, userVa: buf, length: PAGE }))).toBe('EOPNOTSUPP'))
  it('iova ≥ ULONG_MAX → EOVERFLOW', () => expect(errOf(() => f.ictx.ioasMap({ flags: RW | FIXED, ioasId, userVa: buf, length: PAGE, iova: U64_MAX }))).toBe('EOVERFLOW'))
  it('length ≥ ULONG_MAX → EOVERFLOW', () => expect(errOf(() => f.ictx.ioasMap({ flags: RW, ioasId, userVa: buf, length: U64_MAX }))).toBe('EOVERFLOW'))
  it('neither READABLE nor WRITEABLE → EINVAL', () => expect(errOf(() => f.ictx.ioasMap({ flags: 0, ioasId, userVa: buf, length: PAGE }))).toBe('EINVAL'))
  it('unknown IOAS → ENOENT', () => expect(errOf(() => f.ictx.ioasMap({ flags: RW, ioasId: 99, userVa: buf, length: PAGE }))).toBe('ENOENT'))
  it('user_va + length wraps → EOVERFLOW', () => expect(errOf(() => f.ictx.ioasMap({ flags: RW, ioasId, userVa: U64_MAX - 0xfffn, length: 0x2000n }))).toBe('EOVERFLOW'))
  it('length 0 → EINVAL', () => expect(errOf(() => f.ictx.ioasMap({ flags: RW, ioasId, userVa: buf, length: 0 }))).toBe('EINVAL'))
  it('fixed iova + length - 1 wraps → EOVERFLOW', () =>
    expect(errOf(() => f.ictx.ioasMap({ flags: RW | FIXED, ioasId, userVa: buf, length: 0x2000, iova: U64_MAX - 0x1000n }))).toBe('EOVERFLOW'))
  it('a write-only mapping is allowed', () => {
    const { iova } = f.ictx.ioasMap({ flags: WRITE, ioasId, userVa: buf, length: PAGE })
    expect(f.ictx.ioasUnmap({ ioasId, iova, length: PAGE }).length).toBe(PAGE)
  })
  it('nothing is left behind by any failure', () => {
    expect(f.ictx.snapshot().ioas[0]!.areas).toEqual([])
  })
})

describe('fixed IOVA placement (iopt_check_iova)', () => {
  it('unaligned fixed IOVA → EINVAL, over a reserved range → EINVAL, over an area → EEXIST', () => {
    const f = fixture()
    const dev = f.addDevice()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.bind(dev).vf.attach(ioasId) // mock aperture: [16M, 2G) usable, alignment 2048
    const buf = f.proc.mmap(0x10000)
    expect(errOf(() => f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x800, iova: 0x100_0400 }))).toBe('EINVAL')
    expect(errOf(() => f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x800, iova: 0x1000 }))).toBe('EINVAL')
    f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x2000, iova: 0x100_0000 })
    expect(errOf(() => f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x800, iova: 0x100_1800 }))).toBe('EEXIST')
  })
  it('length not a multiple of the IOAS alignment → EINVAL', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.bind(f.addDevice()).vf.attach(ioasId)
    const buf = f.proc.mmap(0x10000)
    expect(errOf(() => f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x900 }))).toBe('EINVAL')
  })
  it('a user address whose page offset is not a multiple of the alignment → EINVAL', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.bind(f.addDevice()).vf.attach(ioasId)
    const buf = f.proc.mmap(0x10000)
    expect(errOf(() => f.ictx.ioasMap({ ioasId, userVa: buf + 0x400n, length: 0x800, iova: 0x100_0000 }))).toBe('EINVAL')
  })
})

describe('automatic IOVA allocation (reference §2.5.1, iopt_alloc_iova)', () => {
  it('never returns IOVA 0: the first page is skipped', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const buf = f.proc.mmap(0x4000)
    expect(f.ictx.ioasMap({ ioasId, userVa: buf, length: PAGE }).iova).toBe(PAGE)
  })
  it('keeps the natural alignment of the length and the user address', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const buf = f.proc.mmap(0x100000)
    expect(f.ictx.ioasMap({ ioasId, userVa: buf, length: PAGE }).iova).toBe(0x1000n)
    // 0x8000 bytes: aligned to 0x8000, first fit after [0x1000, 0x1fff]
    expect(f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x8000 }).iova).toBe(0x8000n)
    // user address only 0x1000 aligned: alignment min(0x4000, 0x1000) = 0x1000
    expect(f.ictx.ioasMap({ ioasId, userVa: buf + 0x1000n, length: 0x4000 }).iova).toBe(0x2000n)
  })
  it('keeps the sub-page offset of the user address', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const buf = f.proc.mmap(0x4000)
    // align = min(0x800, lowbit(va + 0x800) = 0x800); ALIGN(0x1000, 0x800) | 0x800 = 0x1800
    expect(f.ictx.ioasMap({ ioasId, userVa: buf + 0x800n, length: 0x800 }).iova).toBe(0x1800n)
  })
  it('caps the alignment at the huge-page size (2 MiB with THP) or PAGE_SIZE without THP', () => {
    const f = fixture({ memoryBytes: 32 << 20 })
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const buf = f.proc.mmap(8 << 20)
    f.ictx.ioasMap({ ioasId, userVa: buf, length: PAGE, iova: 0x20_0000 })
    // 4 MiB wants 4 MiB alignment; capped to 2 MiB, the first fit is 0x40_0000
    expect(f.ictx.ioasMap({ ioasId, userVa: buf, length: 4 << 20 }).iova).toBe(0x40_0000n)
    const g = fixture({ transparentHugePages: false })
    const id2 = g.ictx.ioasAlloc().outIoasId
    const b2 = g.proc.mmap(0x10000)
    g.ictx.ioasMap({ ioasId: id2, userVa: b2, length: PAGE, iova: 0x3000 })
    expect(g.ictx.ioasMap({ ioasId: id2, userVa: b2, length: 0x8000 }).iova).toBe(0x4000n)
  })
  it('allocates only inside the allowed ranges when some are set', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const buf = f.proc.mmap(0x10000)
    f.ictx.ioasAllowIovas({ ioasId, allowedIovas: [{ start: 0x1000_0000, last: 0x1000_ffff }] })
    expect(f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x8000 }).iova).toBe(0x1000_0000n)
    expect(f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x8000 }).iova).toBe(0x1000_8000n)
    expect(errOf(() => f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x1000 }))).toBe('ENOSPC')
    // fixed maps are not checked against the allowed list
    expect(f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x1000, iova: 0x5000 }).iova).toBe(0x5000n)
  })
  it('natural alignment below the IOAS alignment → EINVAL', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.ictx.option({ optionId: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_SET, objectId: ioasId, val64: 0 }) // alignment = PAGE_SIZE
    const buf = f.proc.mmap(0x10000)
    expect(errOf(() => f.ictx.ioasMap({ ioasId, userVa: buf + 0x800n, length: 0x1000 }))).toBe('EINVAL')
  })
  it('a length ≥ ULONG_MAX / 2 cannot be auto-placed → EOVERFLOW', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    expect(errOf(() => f.ictx.ioasMap({ ioasId, userVa: 0x1000, length: 1n << 63n }))).toBe('EOVERFLOW')
  })
})

describe('lazy pinning (no domain: nothing pinned, user memory not even looked at)', () => {
  it('MAP of unmapped user memory succeeds without a domain, and the attach that needs the pages fails with EFAULT', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const { iova } = f.ictx.ioasMap({ ioasId, userVa: 0x4000_0000, length: 0x10000, iova: 0x100_0000 })
    expect(iova).toBe(0x100_0000n)
    expect(f.host.frames.totalPins()).toBe(0)
    const dev = f.addDevice()
    const { vf } = f.bind(dev)
    const before = f.ictx.snapshot()
    expect(errOf(() => vf.attach(ioasId))).toBe('EFAULT')
    expect(f.ictx.snapshot()).toEqual(before)
    // the auto HWPT's reserved id was given back
    expect(f.ictx.ioasAlloc().outIoasId).toBe(3)
  })
  it('pages are pinned when the first domain joins and unpinned when the last leaves', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const buf = f.proc.mmap(0x10000)
    f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x10000, iova: 0x100_0000 })
    expect(f.host.frames.totalPins()).toBe(0)
    const { vf } = f.bind(f.addDevice())
    vf.attach(ioasId)
    expect(f.host.frames.totalPins()).toBe(16)
    vf.detach()
    expect(f.host.frames.totalPins()).toBe(0)
  })
  it('with a domain, MAP of unmapped user memory → EFAULT and no area is left', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.bind(f.addDevice()).vf.attach(ioasId)
    expect(errOf(() => f.ictx.ioasMap({ ioasId, userVa: 0x4000_0000, length: 0x1000 }))).toBe('EFAULT')
    expect(f.ictx.snapshot().ioas[0]!.areas).toEqual([])
  })
  it('a writeable MAP of read-only memory → EFAULT at pin time', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.bind(f.addDevice()).vf.attach(ioasId)
    const ro = f.proc.mmap(0x2000, { prot: PROT_READ })
    expect(errOf(() => f.ictx.ioasMap({ ioasId, userVa: ro, length: 0x2000 }))).toBe('EFAULT')
    expect(f.ictx.ioasMap({ flags: READ, ioasId, userVa: ro, length: 0x2000 }).iova).toBeGreaterThan(0n)
  })
})

describe('IOMMU_IOAS_UNMAP (reference §2.8)', () => {
  function mapped() {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const buf = f.proc.mmap(0x10000)
    f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x1000, iova: 0x1000 }) // A = [0x1000, 0x1fff]
    f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x2000, iova: 0x3000 }) // B = [0x3000, 0x4fff]
    return { ...f, ioasId }
  }
  it('the non-atomic example: UNMAP(0x1000, 0x3000) removes A then fails ENOENT on B', () => {
    const f = mapped()
    expect(errOf(() => f.ictx.ioasUnmap({ ioasId: f.ioasId, iova: 0x1000, length: 0x3000 }))).toBe('ENOENT')
    expect(f.ictx.snapshot().ioas[0]!.areas.map((a) => a.iova)).toEqual([0x3000n])
  })
  it('UNMAP covering both removes both and reports the bytes', () => {
    const f = mapped()
    expect(f.ictx.ioasUnmap({ ioasId: f.ioasId, iova: 0, length: 0x6000 }).length).toBe(0x3000n)
  })
  it('UNMAP of a hole → ENOENT', () => {
    const f = mapped()
    expect(errOf(() => f.ictx.ioasUnmap({ ioasId: f.ioasId, iova: 0x2000, length: 0x1000 }))).toBe('ENOENT')
  })
  it('unmap-all (iova 0, length U64_MAX) removes everything and succeeds on an empty IOAS', () => {
    const f = mapped()
    expect(f.ictx.ioasUnmap({ ioasId: f.ioasId, iova: 0, length: U64_MAX }).length).toBe(0x3000n)
    expect(f.ictx.ioasUnmap({ ioasId: f.ioasId, iova: 0, length: U64_MAX }).length).toBe(0n)
  })
  it('length 0 → EINVAL; ≥ ULONG_MAX → EOVERFLOW; wrap → EOVERFLOW; bad IOAS → ENOENT', () => {
    const f = mapped()
    expect(errOf(() => f.ictx.ioasUnmap({ ioasId: f.ioasId, iova: 0x1000, length: 0 }))).toBe('EINVAL')
    expect(errOf(() => f.ictx.ioasUnmap({ ioasId: f.ioasId, iova: U64_MAX, length: 1 }))).toBe('EOVERFLOW')
    expect(errOf(() => f.ictx.ioasUnmap({ ioasId: f.ioasId, iova: U64_MAX - 5n, length: 0x10 }))).toBe('EOVERFLOW')
    expect(errOf(() => f.ictx.ioasUnmap({ ioasId: 42, iova: 0x1000, length: 0x1000 }))).toBe('ENOENT')
  })
})

describe('IOMMU_IOAS_COPY (reference §2.7)', () => {
  it('the destination shares the source pages, pinned once', () => {
    const f = fixture()
    const src = f.ictx.ioasAlloc().outIoasId
    const dst = f.ictx.ioasAlloc().outIoasId
    const d1 = f.addDevice()
    const d2 = f.addDevice()
    f.bind(d1).vf.attach(src)
    f.bind(d2).vf.attach(dst)
    const buf = f.proc.mmap(0x4000)
    f.proc.memory.write(buf + 0x1000n, new TextEncoder().encode('shared'))
    const { iova } = f.ictx.ioasMap({ ioasId: src, userVa: buf, length: 0x4000 })
    expect(f.host.frames.totalPins()).toBe(4)
    const { dstIova } = f.ictx.ioasCopy({ dstIoasId: dst, srcIoasId: src, length: 0x2000, srcIova: iova + 0x1000n })
    expect(f.host.frames.totalPins()).toBe(4)
    expect(new TextDecoder().decode(d2.dmaRead(dstIova, 6))).toBe('shared')
    d2.dmaWrite(dstIova, new TextEncoder().encode('SH'))
    expect(new TextDecoder().decode(d1.dmaRead(iova + 0x1000n, 6))).toBe('SHared')
  })
  it('a source range with a hole → ENOENT; spanning adjacent areas is fine', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const buf = f.proc.mmap(0x10000)
    f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x1000, iova: 0x1000 })
    f.ictx.ioasMap({ ioasId, userVa: buf + 0x1000n, length: 0x1000, iova: 0x2000 })
    f.ictx.ioasMap({ ioasId, userVa: buf, length: 0x1000, iova: 0x4000 })
    expect(errOf(() => f.ictx.ioasCopy({ dstIoasId: ioasId, srcIoasId: ioasId, length: 0x4000, srcIova: 0x1000 }))).toBe('ENOENT')
    const { dstIova } = f.ictx.ioasCopy({ dstIoasId: ioasId, srcIoasId: ioasId, length: 0x2000, srcIova: 0x1000 })
    expect(f.ictx.snapshot().ioas[0]!.areas.filter((a) => a.iova >= dstIova).length).toBe(2)
  })
  it('WRITEABLE copy of pages mapped read-only → EPERM', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    const buf = f.proc.mmap(0x1000)
    f.ictx.ioasMap({ flags: READ, ioasId, userVa: buf, length: 0x1000, iova: 0x1000 })
    expect(errOf(() => f.ictx.ioasCopy({ flags: RW, dstIoasId: ioasId, srcIoasId: ioasId, length: 0x1000, srcIova: 0x1000 }))).toBe('EPERM')
    expect(f.ictx.ioasCopy({ flags: READ, dstIoasId: ioasId, srcIoasId: ioasId, length: 0x1000, srcIova: 0x1000 }).dstIova).toBeGreaterThan(0n)
  })
  it('flag and id errors in the kernel order', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    expect(errOf(() => f.ictx.ioasCopy({ flags: 0x10 | RW, dstIoasId: ioasId, srcIoasId: ioasId, length: 0x1000, srcIova: 0 }))).toBe('EOPNOTSUPP')
    expect(errOf(() => f.ictx.ioasCopy({ dstIoasId: ioasId, srcIoasId: ioasId, length: U64_MAX, srcIova: 0 }))).toBe('EOVERFLOW')
    expect(errOf(() => f.ictx.ioasCopy({ flags: 0, dstIoasId: ioasId, srcIoasId: ioasId, length: 0x1000, srcIova: 0 }))).toBe('EINVAL')
    expect(errOf(() => f.ictx.ioasCopy({ dstIoasId: ioasId, srcIoasId: 9, length: 0x1000, srcIova: 0 }))).toBe('ENOENT')
    expect(errOf(() => f.ictx.ioasCopy({ dstIoasId: ioasId, srcIoasId: ioasId, length: 0, srcIova: 0 }))).toBe('EINVAL')
  })
})

describe('IOMMU_IOAS_ALLOW_IOVAS (reference §2.4)', () => {
  it('start ≥ last → EINVAL; overlapping ranges → EINVAL', () => {
    const { ictx } = fixture()
    const ioasId = ictx.ioasAlloc().outIoasId
    expect(errOf(() => ictx.ioasAllowIovas({ ioasId, allowedIovas: [{ start: 0x1000, last: 0x1000 }] }))).toBe('EINVAL')
    expect(errOf(() => ictx.ioasAllowIovas({ ioasId, allowedIovas: [{ start: 0x1000, last: 0x2fff }, { start: 0x2000, last: 0x3fff }] }))).toBe('EINVAL')
  })
  it('an allowed range over a reserved range → EADDRINUSE and the old list stays', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.bind(f.addDevice()).vf.attach(ioasId)
    f.ictx.ioasAllowIovas({ ioasId, allowedIovas: [{ start: 0x200_0000, last: 0x2ff_ffff }] })
    expect(errOf(() => f.ictx.ioasAllowIovas({ ioasId, allowedIovas: [{ start: 0x1000, last: 0x1fff }] }))).toBe('EADDRINUSE')
    expect(f.ictx.snapshot().ioas[0]!.allowed).toEqual([{ start: 0x200_0000n, last: 0x2ff_ffffn }])
    f.ictx.ioasAllowIovas({ ioasId, allowedIovas: [] })
    expect(f.ictx.snapshot().ioas[0]!.allowed).toEqual([])
  })
  it('a later reservation (a domain aperture) over an allowed range fails the attach with EADDRINUSE', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.ictx.ioasAllowIovas({ ioasId, allowedIovas: [{ start: 0x1000, last: 0xffff }] })
    const { vf } = f.bind(f.addDevice())
    expect(errOf(() => vf.attach(ioasId))).toBe('EADDRINUSE')
  })
})

describe('IOMMU_IOAS_IOVA_RANGES', () => {
  it('reports the holes of the reserved set and the alignment of the member domains', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.bind(f.addDevice({ resvRegions: [{ start: 0x2000_0000n, length: 0x10_0000n, type: 'msi' }] })).vf.attach(ioasId)
    expect(f.ictx.ioasIovaRanges({ ioasId })).toEqual({
      numIovas: 2,
      allowedIovas: [
        { start: 0x100_0000n, last: 0x1fff_ffffn },
        { start: 0x2010_0000n, last: 0x7fff_ffffn },
      ],
      outIovaAlignment: 2048n,
    })
  })
})

describe('IOMMU_OPTION (reference §2.9)', () => {
  it('RLIMIT_MODE: GET, SET by a privileged process on an empty context, EPERM / EBUSY / EINVAL / EOPNOTSUPP otherwise', () => {
    const host = createHost({ drivers: [mockDriver()], memory: { bytes: 16 << 20 } })
    const user = host.createProcess({ privileged: false }).iommufd()
    expect(errOf(() => user.option({ optionId: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_SET, val64: 1 }))).toBe('EPERM')
    const root = host.createProcess().iommufd()
    expect(root.option({ optionId: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_GET }).val64).toBe(0n)
    expect(errOf(() => root.option({ optionId: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_SET, val64: 2 }))).toBe('EINVAL')
    expect(errOf(() => root.option({ optionId: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_GET, objectId: 1 }))).toBe('EOPNOTSUPP')
    root.option({ optionId: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_SET, val64: 1 })
    expect(root.option({ optionId: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_GET }).val64).toBe(1n)
    root.ioasAlloc()
    expect(errOf(() => root.option({ optionId: IOMMU_OPTION_RLIMIT_MODE, op: IOMMU_OPTION_OP_SET, val64: 0 }))).toBe('EBUSY')
  })
  it('unknown option or op → EOPNOTSUPP', () => {
    const { ictx } = fixture()
    expect(errOf(() => ictx.option({ optionId: 7, op: IOMMU_OPTION_OP_GET }))).toBe('EOPNOTSUPP')
    expect(errOf(() => ictx.option({ optionId: IOMMU_OPTION_RLIMIT_MODE, op: 5 }))).toBe('EOPNOTSUPP')
  })
  it('HUGE_PAGES: per IOAS; disabling raises the alignment to PAGE_SIZE; refused with domains and areas', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    expect(errOf(() => f.ictx.option({ optionId: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_GET, objectId: 77 }))).toBe('ENOENT')
    expect(f.ictx.option({ optionId: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_GET, objectId: ioasId }).val64).toBe(1n)
    expect(errOf(() => f.ictx.option({ optionId: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_SET, objectId: ioasId, val64: 3 }))).toBe('EINVAL')
    f.ictx.option({ optionId: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_SET, objectId: ioasId, val64: 0 })
    expect(f.ictx.ioasIovaRanges({ ioasId }).outIovaAlignment).toBe(4096n)
    f.ictx.option({ optionId: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_SET, objectId: ioasId, val64: 1 })
    expect(f.ictx.ioasIovaRanges({ ioasId }).outIovaAlignment).toBe(1n)
    f.bind(f.addDevice()).vf.attach(ioasId)
    f.ictx.ioasMap({ ioasId, userVa: f.proc.mmap(0x1000), length: 0x1000 })
    expect(errOf(() => f.ictx.option({ optionId: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_SET, objectId: ioasId, val64: 0 }))).toBe('EINVAL')
  })
  it('HUGE_PAGES disable conflicting with an existing area → EADDRINUSE', () => {
    const f = fixture()
    const ioasId = f.ictx.ioasAlloc().outIoasId
    f.ictx.ioasMap({ ioasId, userVa: f.proc.mmap(0x1000), length: 0x800, iova: 0x1000 })
    expect(errOf(() => f.ictx.option({ optionId: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_SET, objectId: ioasId, val64: 0 }))).toBe('EADDRINUSE')
    expect(f.ictx.option({ optionId: IOMMU_OPTION_HUGE_PAGES, op: IOMMU_OPTION_OP_GET, objectId: ioasId }).val64).toBe(1n)
  })
})
