/**
 * The tagged IOTLB: lookups over several page sizes, bounded capacity with LRU / FIFO
 * replacement, invalidation by tag, range and all (filtered by origin), counters, shared buffer.
 */
import { describe, expect, it } from 'vitest'
import {
  ANY_TAG, FaultKind, IOMMU_READ, IOMMU_WRITE, Iotlb, Origin, PageTable, Perm, PhysicalMemory, TranslationContext, WalkResult,
  accessMask, lpaeS1Format, translate, x86_64Format,
} from '../src/index.js'
import { prng, randInt } from './helpers.js'

const RW_PERM = Perm.R | Perm.W | Perm.PR | Perm.PW

function fill(tlb: Iotlb, tagA: number, tagB: number, origin: number, iova: number, sizeLg2: number, oa: number, perm = RW_PERM): number {
  return tlb.insert(tagA, tagB, origin, iova, sizeLg2, oa, perm, perm, 3, 0, 0)
}

describe('Iotlb', () => {
  it('hits within the page, by tags and origin, over several page sizes', () => {
    const tlb = new Iotlb({ capacity: 256, ways: 4 })
    fill(tlb, 1, 2, Origin.S1, 0x1234_5678, 12, 0x9_9999_9678) // oa is the translation of iova itself
    fill(tlb, 1, 2, Origin.S1, 0x4020_0000, 21, 0x8000_0000)
    fill(tlb, 1, 2, Origin.S1, 0x80_4000_0000, 30, 0x1_0000_0000)
    const out = new WalkResult()
    const hit = (a: number, b: number, o: number, iova: number): number => {
      const e = tlb.lookup(a, b, o, iova)
      return e < 0 ? -1 : tlb.hitInto(e, iova, 0, out) ? out.oa : -2
    }
    expect(hit(1, 2, Origin.S1, 0x1234_5fff)).toBe(0x9_9999_9fff)
    expect(hit(1, 2, Origin.S1, 0x4030_0001)).toBe(0x8010_0001)
    expect(out.sizeLg2).toBe(21)
    expect(hit(1, 2, Origin.S1, 0x80_7fff_ffff)).toBe(0x1_3fff_ffff)
    expect(hit(1, 3, Origin.S1, 0x1234_5000)).toBe(-1)
    expect(hit(2, 2, Origin.S1, 0x1234_5000)).toBe(-1)
    expect(hit(1, 2, Origin.NESTED, 0x1234_5000)).toBe(-1)
    expect(hit(1, 2, Origin.S1, 0x1234_6000)).toBe(-1)
    expect(tlb.stats()).toMatchObject({ hits: 3, misses: 4, fills: 3, valid: 3, evictions: 0 })
    // sign-extended (negative) inputs work the same
    fill(tlb, 1, 2, Origin.S1, -0x1000, 12, 0x5000)
    expect(hit(1, 2, Origin.S1, -0x10)).toBe(0x5ff0)
  })

  it('re-inserting the same key replaces the entry', () => {
    const tlb = new Iotlb({ capacity: 16, ways: 4 })
    fill(tlb, 0, 0, Origin.S2, 0x1000, 12, 0x1000)
    fill(tlb, 0, 0, Origin.S2, 0x1000, 12, 0x7000)
    expect(tlb.entries()).toMatchObject([{ oa: 0x7000 }])
    expect(tlb.stats().valid).toBe(1)
  })

  it('permission checks on a hit attribute the fault to the denying stage', () => {
    const tlb = new Iotlb({ capacity: 16, ways: 4 })
    const out = new WalkResult()
    tlb.insert(1, 1, Origin.NESTED, 0x1000, 12, 0x9000, Perm.R | Perm.PR, RW_PERM, 3, 0x5000, 0)
    expect(tlb.hitInto(tlb.lookup(1, 1, Origin.NESTED, 0x1008), 0x1008, accessMask(true), out)).toBe(false)
    expect([out.fault, out.stage, out.faultAddress, out.ipa]).toEqual([FaultKind.PERMISSION, 2, 0x5008, 0x5008])
    tlb.insert(1, 1, Origin.NESTED, 0x2000, 12, 0xa000, Perm.R | Perm.PR, Perm.R | Perm.PR, 3, 0x6000, 0)
    expect(tlb.hitInto(tlb.lookup(1, 1, Origin.NESTED, 0x2008), 0x2008, accessMask(true), out)).toBe(false)
    expect([out.stage, out.faultAddress]).toEqual([1, 0x2008])
    expect(tlb.hitInto(tlb.lookup(1, 1, Origin.NESTED, 0x2008), 0x2008, accessMask(false), out)).toBe(true)
    expect(out.oa).toBe(0xa008)
  })

  it('evicts the least recently used way of a full set', () => {
    const tlb = new Iotlb({ capacity: 4, ways: 4 }) // one set: fully associative
    for (let i = 0; i < 4; i++) fill(tlb, 0, 0, Origin.S1, i * 0x1000, 12, i * 0x1000)
    tlb.lookup(0, 0, Origin.S1, 0) // page 0 becomes most recent; page 1 is now LRU
    fill(tlb, 0, 0, Origin.S1, 0x9000, 12, 0x9000)
    expect(tlb.entries().map((e) => e.iova).sort((a, b) => a - b)).toEqual([0, 0x2000, 0x3000, 0x9000])
    expect(tlb.stats().evictions).toBe(1)
  })

  it('FIFO replacement ignores use', () => {
    const tlb = new Iotlb({ capacity: 4, ways: 4, replacement: 'fifo' })
    for (let i = 0; i < 4; i++) fill(tlb, 0, 0, Origin.S1, i * 0x1000, 12, 0)
    tlb.lookup(0, 0, Origin.S1, 0)
    fill(tlb, 0, 0, Origin.S1, 0x9000, 12, 0)
    fill(tlb, 0, 0, Origin.S1, 0xa000, 12, 0)
    expect(tlb.entries().map((e) => e.iova).sort((a, b) => a - b)).toEqual([0x2000, 0x3000, 0x9000, 0xa000])
  })

  it('invalidates by tag with wildcards and origin filters (SMMU / VT-d / AMD rules)', () => {
    const tlb = new Iotlb({ capacity: 64, ways: 8 })
    fill(tlb, 1, 10, Origin.S1, 0x1000, 12, 0)
    fill(tlb, 1, 11, Origin.NESTED, 0x1000, 12, 0)
    fill(tlb, 1, 0, Origin.S2, 0x1000, 12, 0)
    fill(tlb, 2, 10, Origin.S1, 0x1000, 12, 0)
    // TLBI_NH_ASID(asid 10, vmid 1)
    expect(tlb.invalidateTag(1, 10, Origin.S1 | Origin.NESTED)).toBe(1)
    // TLBI_NH_ALL(vmid 1): stage-1 and nested entries of the VMID, not stage-2-only ones
    expect(tlb.invalidateTag(1, ANY_TAG, Origin.S1 | Origin.NESTED)).toBe(1)
    expect(tlb.entries().map((e) => [e.tagA, e.origin])).toEqual(expect.arrayContaining([[1, Origin.S2], [2, Origin.S1]]))
    // TLBI_S12_VMALL(vmid 1)
    expect(tlb.invalidateTag(1)).toBe(1)
    const gen = tlb.generation
    expect(tlb.invalidateAll()).toBe(1)
    expect(tlb.generation).toBe(gen + 1)
    expect(tlb.stats()).toMatchObject({ valid: 0, invalidated: 4 })
  })

  it('range invalidation removes every entry overlapping the range, whichever path it takes', () => {
    const rnd = prng(42)
    for (let round = 0; round < 20; round++) {
      const tlb = new Iotlb({ capacity: 128, ways: 4 })
      for (let i = 0; i < 200; i++) {
        const lg2 = [12, 12, 12, 16, 21, 30][randInt(rnd, 0, 6)]!
        fill(tlb, randInt(rnd, 0, 3), randInt(rnd, 0, 3), [Origin.S1, Origin.S2, Origin.NESTED][randInt(rnd, 0, 3)]!, randInt(rnd, 0, 2 ** 20) * 4096, lg2, 0)
      }
      const before = tlb.entries()
      const tagA = rnd() < 0.3 ? ANY_TAG : randInt(rnd, 0, 3)
      const tagB = rnd() < 0.3 ? ANY_TAG : randInt(rnd, 0, 3)
      const origins = randInt(rnd, 1, 8)
      const start = randInt(rnd, 0, 2 ** 20) * 4096
      const length = rnd() < 0.5 ? 4096 * randInt(rnd, 1, 8) : 2 ** randInt(rnd, 12, 34)
      const victims = before.filter((e) =>
        (tagA < 0 || e.tagA === tagA) && (tagB < 0 || e.tagB === tagB) && (origins & e.origin) !== 0 &&
        e.iova < start + length && e.iova + 2 ** e.sizeLg2 > start)
      expect(tlb.invalidateRange(tagA, tagB, start, length, origins)).toBe(victims.length)
      const left = new Set(tlb.entries().map((e) => e.index))
      for (const v of victims) expect(left.has(v.index)).toBe(false)
      expect(left.size).toBe(before.length - victims.length)
    }
  })

  it('attach() gives another view of the same shared state', () => {
    const tlb = new Iotlb({ capacity: 32, ways: 4 })
    fill(tlb, 3, 4, Origin.S1, 0x5000, 12, 0x7000)
    const view = Iotlb.attach(tlb.buffer)
    expect([view.capacity, view.ways, view.replacement]).toEqual([32, 4, 'lru'])
    expect(view.lookup(3, 4, Origin.S1, 0x5010)).toBeGreaterThanOrEqual(0)
    view.invalidateAll()
    expect(tlb.lookup(3, 4, Origin.S1, 0x5010)).toBe(-1)
    expect(tlb.stats()).toMatchObject({ hits: 1, misses: 1 })
    expect(() => Iotlb.attach(new SharedArrayBuffer(4096))).toThrow(/does not hold/)
  })

  it('rejects bad geometry', () => {
    expect(() => new Iotlb({ capacity: 100 })).toThrow(/power of two/)
    expect(() => new Iotlb({ capacity: 64, ways: 128 })).toThrow(/ways/)
    expect(() => fill(new Iotlb(), 0, 0, Origin.S1, 0, 11, 0)).toThrow(/4 KiB/)
  })
})

describe('translate() with an IOTLB', () => {
  it('walks on a miss, caches, and serves stale entries until invalidated (as hardware does)', () => {
    const mem = new PhysicalMemory({ bytes: 4 << 20 })
    const pt = new PageTable(mem, x86_64Format({ levels: 4 }))
    pt.map(0x4000_0000, 0x1000_0000, 0x20_0000, IOMMU_READ | IOMMU_WRITE)
    const tlb = new Iotlb({ capacity: 64, ways: 4 })
    const ctx = new TranslationContext(mem, { format: pt.format, root: pt.root, tagA: 7, tagB: 1 })
    expect(ctx.origin).toBe(Origin.S1)
    const out = new WalkResult()
    expect(translate(tlb, ctx, 0x4000_1234, accessMask(true), out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.reads]).toEqual([0x1000_1234, 21, 3])
    expect(translate(tlb, ctx, 0x401f_0000, accessMask(false), out)).toBe(true)
    expect([out.oa, out.reads]).toEqual([0x101f_0000, 0])
    pt.unmap(0x4000_0000, 0x20_0000)
    expect(translate(tlb, ctx, 0x4000_0000, 0, out)).toBe(true) // stale
    expect(tlb.invalidateRange(7, 1, 0x4000_0000, 0x1000)).toBe(1)
    expect(translate(tlb, ctx, 0x4000_0000, 0, out)).toBe(false)
    expect(out.fault).toBe(FaultKind.TRANSLATION)
    expect(tlb.stats()).toMatchObject({ hits: 2, misses: 2, fills: 1 })
    // faults are not cached
    expect(tlb.stats().valid).toBe(0)
  })

  it('a permission fault found by the walk is not cached', () => {
    const mem = new PhysicalMemory({ bytes: 4 << 20 })
    const pt = new PageTable(mem, lpaeS1Format({ inputBits: 48 }))
    pt.map(0x1000, 0x1000, 0x1000, IOMMU_READ)
    const tlb = new Iotlb({ capacity: 64, ways: 4 })
    const ctx = new TranslationContext(mem, { format: pt.format, root: pt.root })
    const out = new WalkResult()
    expect(translate(tlb, ctx, 0x1000, accessMask(true), out)).toBe(false)
    expect([out.fault, out.stage]).toEqual([FaultKind.PERMISSION, 1])
    expect(tlb.stats().valid).toBe(0)
    expect(translate(tlb, ctx, 0x1000, accessMask(false), out)).toBe(true)
    expect(translate(tlb, ctx, 0x1000, accessMask(true), out)).toBe(false)
    expect([out.fault, out.stage]).toEqual([FaultKind.PERMISSION, 1])
    expect(() => new TranslationContext(mem, { format: pt.format, root: pt.root, tagA: -2 })).toThrow(/tags/)
  })
})
