/**
 * The in-kernel ACCESS object (iommufd/access.ts): iommufd_access_create / attach / replace /
 * detach / destroy / pin_pages / unpin_pages / rw (reference iommufd-uapi.md §1.4.10, §3.8),
 * on a host without IOMMUs — an access needs no domain.
 */
import { describe, expect, it } from 'vitest'
import { IommufdAccess, IommufdError, IOMMUFD_ACCESS_RW_WRITE, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_FIXED_IOVA, createHost } from '../src/index.js'

const code = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (e) {
    if (IommufdError.is(e)) return e.code
    throw e
  }
  return undefined
}

function world() {
  const host = createHost({ drivers: [], memory: { bytes: 16 << 20 }, transparentHugePages: false })
  const proc = host.createProcess()
  const ctx = proc.iommufd()
  const buf = proc.mmap(0x10000)
  proc.memory.write(buf, new Uint8Array(0x10000).map((_, i) => i & 0xff))
  const ioas = ctx.ioasAlloc().outIoasId
  ctx.ioasMap({ ioasId: ioas, userVa: buf, length: 0x8000, iova: 0x10_0000n })
  ctx.ioasMap({ ioasId: ioas, userVa: buf + 0x8000n, length: 0x8000, iova: 0x10_8000n })
  const pins: { iova: bigint; length: bigint }[] = []
  let access!: IommufdAccess
  const unmapCalls: [bigint, bigint][] = []
  const ops = {
    needsPinPages: true,
    unmap: (iova: bigint, length: bigint) => {
      unmapCalls.push([iova, length])
      for (const p of [...pins]) {
        if (p.iova + p.length - 1n < iova || p.iova > iova + length - 1n) continue
        pins.splice(pins.indexOf(p), 1)
        access.unpinPages(p.iova, p.length)
      }
    },
  }
  access = IommufdAccess.create(ctx, ops)
  return { host, proc, ctx, buf, ioas, access, pins, unmapCalls }
}

describe('IommufdAccess', () => {
  it('create: users = 2 (table + driver), IOMMU_DESTROY is EBUSY; attach raises the IOAS alignment to PAGE_SIZE', () => {
    const w = world()
    expect(w.access.users).toBe(2)
    expect(code(() => w.ctx.destroy(w.access.id))).toBe('EBUSY')
    expect(code(() => w.access.replace(w.ioas))).toBe('ENOENT') // not attached
    expect(code(() => w.access.attach(99))).toBe('ENOENT')
    w.access.attach(w.ioas)
    expect(code(() => w.access.attach(w.ioas))).toBe('EINVAL')
    expect(w.ctx.ioasIovaRanges({ ioasId: w.ioas }).outIovaAlignment).toBe(4096n)
    expect(code(() => w.ctx.destroy(w.ioas))).toBe('EBUSY')
    w.access.destroyAccess()
    expect(w.ctx.ioasIovaRanges({ ioasId: w.ioas }).outIovaAlignment).toBe(1n)
    w.ctx.destroy(w.ioas)
  })

  it('attach refuses an IOAS whose areas cannot meet PAGE_SIZE alignment (EADDRINUSE)', () => {
    const w = world()
    w.ctx.ioasMap({ ioasId: w.ioas, userVa: w.buf + 0x800n, length: 0x800, iova: 0x20_0800n })
    expect(code(() => w.access.attach(w.ioas))).toBe('EADDRINUSE')
    expect(w.access.ioas).toBeUndefined()
  })

  it('pinPages returns the frames behind the user pages, across contiguous areas; unpin releases them', () => {
    const w = world()
    w.access.attach(w.ioas)
    const pfns = w.access.pinPages(0x10_7000n, 0x2000n)
    expect(pfns).toEqual([w.proc.addressSpace.frameOf(w.buf + 0x7000n), w.proc.addressSpace.frameOf(w.buf + 0x8000n)])
    expect(w.host.frames.pinCount(pfns[0]!)).toBe(1)
    w.access.unpinPages(0x10_7000n, 0x2000n)
    expect(w.host.frames.pinCount(pfns[0]!)).toBe(0)
    expect(w.host.frames.totalPins()).toBe(0)
  })

  it('pinPages errors: length 0, overflow, not attached, hole, sub-page start, read-only area for write', () => {
    const w = world()
    expect(code(() => w.access.pinPages(0x10_0000n, 0x1000n))).toBe('ENOENT')
    w.access.attach(w.ioas)
    expect(code(() => w.access.pinPages(0x10_0000n, 0n))).toBe('EINVAL')
    expect(code(() => w.access.pinPages(0xffff_ffff_ffff_f000n, 0x2000n))).toBe('EOVERFLOW')
    expect(code(() => w.access.pinPages(0x10_f000n, 0x2000n))).toBe('ENOENT') // runs past the last area
    expect(code(() => w.access.pinPages(0x10_0800n, 0x800n))).toBe('EINVAL')
    w.ctx.ioasMap({ ioasId: w.ioas, userVa: w.buf, length: 0x1000, iova: 0x40_0000n, flags: IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_FIXED_IOVA })
    expect(code(() => w.access.pinPages(0x40_0000n, 0x1000n, IOMMUFD_ACCESS_RW_WRITE))).toBe('EPERM')
    expect(w.host.frames.totalPins()).toBe(0) // all or nothing
    const noPin = IommufdAccess.create(w.ctx, {})
    noPin.attach(w.ioas)
    expect(code(() => noPin.pinPages(0x10_0000n, 0x1000n))).toBe('EINVAL') // created without needsPinPages
  })

  it('unmap of a pinned area asks the access to unpin; an access that never does makes UNMAP fail with EDEADLOCK', () => {
    const w = world()
    w.access.attach(w.ioas)
    w.access.pinPages(0x10_0000n, 0x1000n)
    w.pins.push({ iova: 0x10_0000n, length: 0x1000n })
    expect(w.ctx.ioasUnmap({ ioasId: w.ioas, iova: 0x10_0000n, length: 0x8000n }).length).toBe(0x8000n)
    expect(w.unmapCalls).toEqual([[0x10_0000n, 0x8000n]])
    const stubborn = IommufdAccess.create(w.ctx, { needsPinPages: true, unmap: () => {} })
    stubborn.attach(w.ioas)
    stubborn.pinPages(0x10_8000n, 0x1000n)
    expect(code(() => w.ctx.ioasUnmap({ ioasId: w.ioas, iova: 0x10_8000n, length: 0x8000n }))).toBe('EDEADLOCK')
    stubborn.unpinPages(0x10_8000n, 0x1000n)
    expect(w.ctx.ioasUnmap({ ioasId: w.ioas, iova: 0x10_8000n, length: 0x8000n }).length).toBe(0x8000n)
  })

  it('rw reads and writes through pinned frames and through the process memory alike', () => {
    const w = world()
    w.access.attach(w.ioas)
    const out = new Uint8Array(4)
    w.access.rw(0x10_7ffen, out)
    expect([...out]).toEqual([0xfe, 0xff, 0x00, 0x01])
    w.access.pinPages(0x10_8000n, 0x1000n)
    w.access.rw(0x10_7fffn, new Uint8Array([0xaa, 0xbb]), IOMMUFD_ACCESS_RW_WRITE)
    expect([...w.proc.memory.read(w.buf + 0x7fffn, 2)]).toEqual([0xaa, 0xbb])
    expect(code(() => w.access.rw(0x10_0000n, new Uint8Array(0)))).toBe('EINVAL')
    expect(code(() => w.access.rw(0x20_0000n, new Uint8Array(1)))).toBe('ENOENT')
  })

  it('replace moves to another IOAS after asking for an unpin of everything; destroy detaches and lets the context go', () => {
    const w = world()
    const other = w.ctx.ioasAlloc().outIoasId
    w.access.attach(w.ioas)
    w.access.pinPages(0x10_0000n, 0x1000n)
    w.pins.push({ iova: 0x10_0000n, length: 0x1000n })
    w.access.replace(w.ioas) // same IOAS: nothing happens
    expect(w.unmapCalls).toEqual([])
    w.access.replace(other)
    expect(w.unmapCalls).toEqual([[0n, 0xffff_ffff_ffff_ffffn]])
    expect(w.host.frames.totalPins()).toBe(0)
    w.ctx.destroy(w.ioas)
    w.access.detach()
    w.ctx.destroy(other)
    w.access.destroyAccess()
    expect(w.ctx.snapshot().objects).toEqual([])
  })
})
