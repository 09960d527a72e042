/**
 * PageTable (driver-side map / unmap): page-size choice, block splitting, table freeing, error
 * atomicity, bigint / canonical addresses, and the descriptor write protocol.
 */
import { describe, expect, it } from 'vitest'
import {
  FaultKind, IOMMU_READ, IOMMU_WRITE, PageTable, PageTableError, PhysicalMemory, PhysicalMemoryError, TableGather, WalkResult,
  amdV1Format, lpaeS1Format, lpaeS2Format, vtdSsFormat, walk, x86_64Format, type PageTableFormat,
} from '../src/index.js'

const RW = IOMMU_READ | IOMMU_WRITE
const formats: PageTableFormat[] = [
  lpaeS1Format({ inputBits: 48 }),
  lpaeS1Format({ inputBits: 47, granule: 16384 }),
  lpaeS1Format({ inputBits: 48, granule: 65536 }),
  lpaeS2Format({ inputBits: 40 }),
  x86_64Format({ levels: 4 }),
  x86_64Format({ levels: 5 }),
  vtdSsFormat({ levels: 4 }),
  amdV1Format({ mode: 4 }),
  amdV1Format({ mode: 6 }),
]

function sizes(pt: PageTable): number[] {
  return pt.mappings().map((m) => m.sizeLg2)
}

describe('map chooses the largest page size', () => {
  for (const fmt of formats) {
    it(`${fmt.name}: one leaf per supported size for an aligned range`, () => {
      const mem = new PhysicalMemory({ bytes: 64 << 20 })
      for (const lg2 of fmt.pageSizesLg2.filter((l) => l <= 36)) {
        const pt = new PageTable(mem, fmt)
        const iova = 2 ** lg2 * 3
        pt.map(iova, 2 ** lg2 * 5, 2 ** lg2, RW)
        expect(pt.mappings()).toMatchObject([{ iova, oa: 2 ** lg2 * 5, sizeLg2: lg2 }])
        pt.destroy()
      }
    })
  }

  it('mixes sizes along a range: 4K pages up to a 2M boundary, a 2M block, then pages', () => {
    const mem = new PhysicalMemory({ bytes: 8 << 20 })
    const pt = new PageTable(mem, x86_64Format({ levels: 4 }))
    pt.map(0x1f_e000, 0x1f_e000, 0x20_4000, RW)
    expect(sizes(pt)).toEqual([12, 12, 21, 12, 12])
  })

  it('uses contiguous-hint groups where aligned (LPAE 4K: 64K and 32M)', () => {
    const mem = new PhysicalMemory({ bytes: 8 << 20 })
    const pt = new PageTable(mem, lpaeS1Format({ inputBits: 48 }))
    pt.map(0x1_0000, 0x5_0000, 0x2_0000, RW)
    pt.map(0x200_0000, 0x400_0000, 0x200_0000, RW)
    expect(sizes(pt)).toEqual([16, 16, 25])
  })

  it('honours a restricted page-size list (the driver pgsize bitmap)', () => {
    const mem = new PhysicalMemory({ bytes: 8 << 20 })
    const pt = new PageTable(mem, lpaeS1Format({ inputBits: 48, pageSizes: [4096, 2 ** 21] }))
    pt.map(0, 0, 0x40_0000, RW)
    expect(sizes(pt)).toEqual([21, 21])
    expect(() => lpaeS1Format({ inputBits: 48, pageSizes: [8192] })).toThrow(/not supported/)
  })

  it('replaces an empty table left by unmaps with a larger page', () => {
    const mem = new PhysicalMemory({ bytes: 8 << 20 })
    const pt = new PageTable(mem, vtdSsFormat({ levels: 4 }))
    pt.map(0x20_0000, 0x20_0000, 0x1000, RW)
    const frames = pt.tableFrameCount
    expect(pt.unmap(0x20_0000, 0x1000)).toBe(0x1000)
    pt.map(0x20_0000, 0x40_0000, 0x20_0000, RW)
    expect(sizes(pt)).toEqual([21])
    expect(pt.tableFrameCount).toBe(frames - 1)
  })
})

describe('unmap', () => {
  it('splits a block only where needed and keeps the rest mapped', () => {
    const mem = new PhysicalMemory({ bytes: 8 << 20 })
    const pt = new PageTable(mem, lpaeS1Format({ inputBits: 48, pageSizes: [4096, 2 ** 21, 2 ** 30] }))
    pt.map(0x4000_0000, 0x8000_0000, 0x4000_0000, RW) // one 1G block
    const frames = pt.tableFrameCount
    expect(pt.unmap(0x4010_3000, 0x1000)).toBe(0x1000)
    const m = pt.mappings()
    expect(m.filter((x) => x.sizeLg2 === 21)).toHaveLength(511)
    expect(m.filter((x) => x.sizeLg2 === 12)).toHaveLength(511)
    expect(pt.tableFrameCount).toBe(frames + 2)
    expect(pt.iovaToPhys(0x4010_3000)).toBe(-1)
    expect(pt.iovaToPhys(0x4010_4abc)).toBe(0x8010_4abc)
    expect(pt.iovaToPhys(0x7fff_ffff)).toBe(0xbfff_ffff)
    // attributes survive the split
    const out = new WalkResult()
    expect(pt.walk(0x4010_2000, 0, out)).toBe(true)
    expect(out.leafLo & 0xffc).toBe(0x400 | 0x200 | 0x800 | 0x40) // AF, SH=OS, nG, AP unpriv
  })

  it('breaks a contiguous group and an AMD NextLevel-7 page into single entries', () => {
    const mem = new PhysicalMemory({ bytes: 8 << 20 })
    const lp = new PageTable(mem, lpaeS1Format({ inputBits: 48 }))
    lp.map(0x1_0000, 0x9_0000, 0x1_0000, RW)
    expect(lp.unmap(0x1_4000, 0x1000)).toBe(0x1000)
    expect(sizes(lp)).toEqual(Array(15).fill(12))
    const amd = new PageTable(mem, amdV1Format({ mode: 3 }))
    amd.map(0x10_0000, 0x30_0000, 0x10_0000, RW) // 1M: NextLevel 7 at level 1
    expect(amd.unmap(0x1f_f000, 0x1000)).toBe(0x1000)
    expect(sizes(amd)).toEqual(Array(255).fill(12))
    expect(amd.iovaToPhys(0x1f_e123)).toBe(0x3f_e123)
  })

  it('frees tables wholly inside the range, or hands them to a gather', () => {
    const mem = new PhysicalMemory({ bytes: 8 << 20 })
    const pt = new PageTable(mem, x86_64Format({ levels: 4 }))
    const root = pt.tableFrameCount
    pt.map(0x1000, 0x1000, 0x3000, RW)
    expect(pt.tableFrameCount).toBe(root + 3)
    const free = mem.freeFrameCount
    const gather = new TableGather(mem)
    expect(pt.unmap(0, 2 ** 39, gather)).toBe(0x3000)
    expect([pt.tableFrameCount, gather.count, mem.freeFrameCount]).toEqual([root, 3, free])
    gather.release()
    expect(mem.freeFrameCount).toBe(free + 3)
  })

  it('returns 0 for an unmapped range', () => {
    const pt = new PageTable(new PhysicalMemory({ bytes: 1 << 20 }), amdV1Format({ mode: 3 }))
    expect(pt.unmap(0x1000, 0x1000)).toBe(0)
  })
})

describe('errors change nothing', () => {
  it('EEXIST over an existing mapping, with the earlier mapping intact and no tables left behind', () => {
    const mem = new PhysicalMemory({ bytes: 8 << 20 })
    const pt = new PageTable(mem, lpaeS2Format({ inputBits: 40 }))
    pt.map(0x20_5000, 0x5000, 0x1000, RW)
    const frames = mem.freeFrameCount
    let err: unknown
    // now a range that hits the existing page in its middle
    try {
      pt.map(0x10_0000, 0x10_0000, 0x20_0000, RW)
    } catch (e) {
      err = e
    }
    expect(PageTableError.is(err) && err.code).toBe('EEXIST')
    expect(pt.mappings()).toEqual([expect.objectContaining({ iova: 0x20_5000, oa: 0x5000, sizeLg2: 12 })])
    expect(mem.freeFrameCount).toBe(frames)
  })

  it('ENOMEM while mapping rolls everything back', () => {
    const mem = new PhysicalMemory({ bytes: 16 * 4096 })
    const pt = new PageTable(mem, x86_64Format({ levels: 4, pageSizes: [4096] }))
    pt.map(0, 0, 0x1000, RW)
    const free = mem.freeFrameCount
    let err: unknown
    try {
      pt.map(2 ** 30, 0, 2 ** 30, RW) // 512 page tables: far more than memory
    } catch (e) {
      err = e
    }
    expect(PhysicalMemoryError.is(err) && err.code).toBe('ENOMEM')
    expect(mem.freeFrameCount).toBe(free)
    expect(pt.mappings()).toHaveLength(1)
  })

  it('ENOMEM before a split leaves the block untouched', () => {
    const mem = new PhysicalMemory({ bytes: 8 * 4096 })
    const pt = new PageTable(mem, x86_64Format({ levels: 4 }))
    pt.map(0x4000_0000, 0, 0x4000_0000, RW) // 1G page: 2 tables + root
    while (mem.freeFrameCount > 1) mem.allocFrames()
    expect(() => pt.unmap(0x4000_1000, 0x1000)).toThrow(/out of physical memory/)
    expect(pt.mappings()).toMatchObject([{ iova: 0x4000_0000, sizeLg2: 30 }])
  })

  it('EINVAL for misaligned, out-of-range or permission-less requests', () => {
    const mem = new PhysicalMemory({ bytes: 1 << 20 })
    const pt = new PageTable(mem, lpaeS1Format({ inputBits: 39 }))
    const code = (f: () => void): string | undefined => {
      try {
        f()
      } catch (e) {
        return PageTableError.is(e) ? e.code : String(e)
      }
      return undefined
    }
    expect(code(() => pt.map(0x800, 0, 0x1000, RW))).toBe('EINVAL')
    expect(code(() => pt.map(0, 0x800, 0x1000, RW))).toBe('EINVAL')
    expect(code(() => pt.map(2 ** 39 - 0x1000, 0, 0x2000, RW))).toBe('EINVAL')
    expect(code(() => pt.map(0, 2 ** 48, 0x1000, RW))).toBe('EINVAL')
    expect(code(() => pt.map(0, 0, 0x1000, 0))).toBe('EINVAL')
    expect(code(() => pt.map(0, 0, 0, RW))).toBe('EINVAL')
    expect(code(() => pt.map(0n, 0n, 2n ** 60n, RW))).toBe('EINVAL')
    expect(code(() => pt.unmap(0x10, 0x1000))).toBe('EINVAL')
    expect(code(() => new PageTable(mem, vtdSsFormat({ levels: 4, forceWritable: true })).map(0, 0, 0x1000, IOMMU_READ))).toBe('EINVAL')
    expect(pt.mappings()).toEqual([])
  })
})

describe('addresses', () => {
  it('takes bigint and canonical upper-half addresses (x86-64)', () => {
    const mem = new PhysicalMemory({ bytes: 4 << 20 })
    for (const fmt of [x86_64Format({ levels: 4 }), x86_64Format({ levels: 5 })]) {
      const pt = new PageTable(mem, fmt)
      // 4-level: the bottom of the upper half, 0xffff_8000_0000_0000 = -2^47. 5-level: addresses
      // are numbers, so only |iova| < 2^53 is reachable: 0xfff0_0000_0000_0000 = -2^52.
      const top = fmt.levels === 4 ? 0xffff_8000_0000_0000n : 0xfff0_0000_0000_0000n
      const topNum = fmt.levels === 4 ? -(2 ** 47) : -(2 ** 52)
      pt.map(top, 0x1_0000_0000n, 0x20_0000n, RW)
      pt.map(-0x1000, 0x2000, 0x2000, RW) // straddles 0: the last page of the upper half and the first of the lower
      expect(pt.iovaToPhys(top + 0x1234n)).toBe(0x1_0000_1234)
      expect(pt.iovaToPhys(topNum + 0x1234)).toBe(0x1_0000_1234)
      expect(pt.iovaToPhys(-1)).toBe(0x2fff)
      expect(pt.iovaToPhys(0)).toBe(0x3000)
      expect(pt.mappings().map((m) => [m.iova, m.sizeLg2])).toEqual([[topNum, 21], [-0x1000, 12], [0, 12]])
      expect(pt.unmap(-0x1000, 0x2000)).toBe(0x2000)
      pt.destroy()
    }
    const pt5 = new PageTable(mem, x86_64Format({ levels: 5 }))
    expect(() => pt5.map(0xff00_0000_0000_1000n, 0, 0x1000, RW)).toThrow(/below 2\^53/)
  })

  it('destroy returns every frame and forbids further use', () => {
    const mem = new PhysicalMemory({ bytes: 8 << 20 })
    const free = mem.freeFrameCount
    const pt = new PageTable(mem, lpaeS1Format({ inputBits: 48, granule: 65536 }))
    pt.map(0x1234_0000, 0x10_0000, 0x50_0000, RW)
    pt.destroy()
    expect(mem.freeFrameCount).toBe(free)
    expect(() => pt.map(0, 0, 0x1_0000, RW)).toThrow(/destroyed/)
  })
})

describe('descriptor write protocol (concurrent walkers)', () => {
  // Every format keeps its valid / present bits in the low word, so the intermediate states of
  // store64Ordered (high word written, low word not yet) and clear64Ordered (low word cleared,
  // high word not yet) read as "not present", never as a wrong translation.
  for (const fmt of formats) {
    it(`${fmt.name}: half-written and half-cleared leaves do not translate`, () => {
      const mem = new PhysicalMemory({ bytes: 8 << 20 })
      const pt = new PageTable(mem, fmt)
      pt.map(0x4000_0000, 0x7777_7000_0000 % fmt.outputLimit, 2 ** fmt.granuleLg2, RW)
      const out = new WalkResult()
      expect(walk(mem, fmt, pt.root, 0x4000_0000, 0, out)).toBe(true)
      // find the leaf slot: the only non-zero word pair in the last table touched
      let leafPa = -1
      for (let pa = 0; pa < mem.bytes; pa += 8) {
        if (mem.read64Lo(pa) === (out.leafLo >>> 0) && mem.read64Hi(pa) === (out.leafHi >>> 0)) leafPa = pa
      }
      expect(leafPa).toBeGreaterThan(0)
      const hi = mem.read64Hi(leafPa)
      mem.clear64Ordered(leafPa)
      mem.write32(leafPa + 4, hi) // install in progress: high word only
      expect(walk(mem, fmt, pt.root, 0x4000_0000, 0, out)).toBe(false)
      expect(out.fault).toBe(FaultKind.TRANSLATION)
    })
  }
})

describe('HTTU dirty state (lpaeS1Format hardwareDirty) and forEachLeaf', () => {
  const DBM_HI = 1 << 19
  const AP2 = 1 << 7
  it('writable leaves get DBM and start writable-dirty (AP[2] = 0); read-only ones get neither (io-pgtable-arm QUIRK_ARM_HD)', () => {
    const mem = new PhysicalMemory({ bytes: 16 << 20 })
    const pt = new PageTable(mem, lpaeS1Format({ inputBits: 48, pageSizes: [4096, 2 << 20], hardwareDirty: true, hardwareAccessFlag: true }))
    pt.map(0x20_0000, 0x40_0000, 0x20_0000, IOMMU_READ | IOMMU_WRITE) // one 2 MiB block
    pt.map(0x1000, 0x8000, 0x2000, IOMMU_READ)
    const seen: [number, number, number, number][] = []
    pt.forEachLeaf(0, 0x40_0000, (iova, lg2, pa) => seen.push([iova, lg2, mem.u32[(pa >>> 2) + 1]! & DBM_HI, mem.u32[pa >>> 2]! & AP2]))
    expect(seen).toEqual([
      [0x1000, 12, 0, AP2],
      [0x2000, 12, 0, AP2],
      [0x20_0000, 21, DBM_HI, 0],
    ])
  })
  it('forEachLeaf visits only leaves intersecting the range', () => {
    const mem = new PhysicalMemory({ bytes: 16 << 20 })
    const pt = new PageTable(mem, lpaeS1Format({ inputBits: 48, pageSizes: [4096] }))
    for (let i = 0; i < 8; i++) pt.map(0x10_0000 + i * 0x1000, 0x8000 + i * 0x1000, 0x1000, IOMMU_READ)
    const seen: number[] = []
    pt.forEachLeaf(0x10_2800, 0x2000, (iova) => seen.push(iova))
    expect(seen).toEqual([0x10_2000, 0x10_3000, 0x10_4000])
  })
})
