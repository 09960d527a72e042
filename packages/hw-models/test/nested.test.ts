/**
 * Nested (two-stage) walks through the stage-2 fetch hook (reference §1.6, §2.6, §3.5): every
 * stage-1 descriptor fetch is translated by stage 2, faults say which stage and whether it
 * happened on a stage-1 table fetch; combined results take the smaller page and intersect
 * permissions.
 */
import { describe, expect, it } from 'vitest'
import {
  FaultKind, IOMMU_READ, IOMMU_WRITE, Iotlb, Origin, PageTable, Perm, PhysicalMemory, Stage2Fetch, TranslationContext, WalkResult,
  accessMask, amdV1Format, lpaeS1Format, lpaeS2Format, translate, vtdSsFormat, walk, walkNested, x86_64Format, type PageTableFormat,
  type WalkFetch,
} from '../src/index.js'

const RW = IOMMU_READ | IOMMU_WRITE
const READ = accessMask(false)
const WRITE = accessMask(true)
const MEM = 16 << 20
const IPA_DATA = 0x1_0000_0000 // guest data lives here in IPA space
const PA_DATA = 0x8000_0000 // ... and here in PA space (not backed: never read)

/**
 * A guest stage-1 table whose tables sit in [0, MEM) of IPA space, identity-mapped by stage 2 so
 * the guest's PageTable can write IPAs into its descriptors; data IPAs map elsewhere.
 */
function setup(s1fmt: PageTableFormat, s2fmt: PageTableFormat, s2DataPageSizes?: number[]) {
  const mem = new PhysicalMemory({ bytes: MEM })
  const s2 = new PageTable(mem, s2fmt)
  s2.map(0, 0, MEM, RW)
  const s1 = new PageTable(mem, s1fmt)
  const s2data = s2DataPageSizes
  return { mem, s1, s2, s2data }
}

const pairs: Array<[string, PageTableFormat, PageTableFormat]> = [
  // Stage 2 uses 4K pages only, so that every stage-2 walk has all its levels.
  ['SMMUv3 LPAE S1 over LPAE S2 (4x4 levels)', lpaeS1Format({ inputBits: 48 }), lpaeS2Format({ inputBits: 48, pageSizes: [4096] })],
  ['SMMUv3 64K S1 over 4K concatenated S2', lpaeS1Format({ inputBits: 48, granule: 65536 }), lpaeS2Format({ inputBits: 40, pageSizes: [4096] })],
  ['VT-d first stage over second stage', x86_64Format({ levels: 4 }), vtdSsFormat({ levels: 4, pageSizes: [4096] })],
  ['AMD v2 over v1', x86_64Format({ levels: 4 }), amdV1Format({ mode: 4, pageSizes: [4096] })],
]

describe('nested walks', () => {
  for (const [name, s1fmt, s2fmt] of pairs) {
    describe(name, () => {
      const { mem, s1, s2 } = setup(s1fmt, s2fmt)
      s1.map(0x10_0000_0000, IPA_DATA, 0x20_0000, RW) // one 2M S1 page (64K granule: contiguous run)
      s2.map(IPA_DATA, PA_DATA, 0x1000, IOMMU_READ) // S2: the first 4K read-only
      s2.map(IPA_DATA + 0x1000, PA_DATA + 0x1000, 0x1f_f000, RW)
      const fetch = new Stage2Fetch(mem, s2fmt, s2.root)
      const out = new WalkResult()

      it('translates through both stages; combined size is the smaller, permissions intersect', () => {
        expect(walkNested(mem, s1fmt, s1.root, fetch, 0x10_0000_0234, READ, out)).toBe(true)
        expect(out.oa).toBe(PA_DATA + 0x234)
        expect(out.ipa).toBe(IPA_DATA + 0x234)
        expect(out.sizeLg2).toBe(12)
        expect(out.perm & (Perm.R | Perm.W)).toBe(Perm.R)
        expect(out.s1Perm & Perm.W).toBe(Perm.W)
        expect(walkNested(mem, s1fmt, s1.root, fetch, 0x10_0000_5000, WRITE, out)).toBe(true)
        expect(out.oa).toBe(PA_DATA + 0x5000)
      })

      it('counts every descriptor fetch: S1 levels x (S2 levels + 1) + S2 levels', () => {
        expect(walkNested(mem, s1fmt, s1.root, fetch, 0x10_0000_5000, READ, out)).toBe(true)
        // The 2M stage-1 leaf is 3 levels down in every stage-1 format here (LPAE 4K: L2 block;
        // LPAE 64K: contiguous L3 run under L1, L2; x86: PDE).
        expect(out.reads).toBe(3 * (s2fmt.levels + 1) + s2fmt.levels)
      })

      it('a stage-2 permission fault on the output is stage 2, not during the table walk, at the IPA', () => {
        expect(walkNested(mem, s1fmt, s1.root, fetch, 0x10_0000_0010, WRITE, out)).toBe(false)
        expect([out.fault, out.stage, out.duringTableWalk, out.faultAddress]).toEqual([FaultKind.PERMISSION, 2, false, IPA_DATA + 0x10])
      })

      it('a stage-1 fault is stage 1', () => {
        expect(walkNested(mem, s1fmt, s1.root, fetch, 0x20_0000_0000, READ, out)).toBe(false)
        expect([out.fault, out.stage, out.duringTableWalk]).toEqual([FaultKind.TRANSLATION, 1, false])
      })

      it('a stage-2 fault while fetching a stage-1 descriptor is reported as such', () => {
        // Unmap the stage-2 page holding the stage-1 root table.
        const rootPage = Math.floor(s1.root / 4096) * 4096
        s2.unmap(rootPage, 4096)
        try {
          expect(walkNested(mem, s1fmt, s1.root, fetch, 0x10_0000_1234, READ, out)).toBe(false)
          expect([out.fault, out.stage, out.duringTableWalk]).toEqual([FaultKind.TRANSLATION, 2, true])
          expect(Math.floor(out.faultAddress / 4096) * 4096).toBe(rootPage)
        } finally {
          s2.map(rootPage, rootPage, 4096, RW)
        }
      })
    })
  }

  it('a 4x4 LPAE nested walk makes 24 descriptor reads', () => {
    const { mem, s1, s2 } = setup(lpaeS1Format({ inputBits: 48, pageSizes: [4096] }), lpaeS2Format({ inputBits: 48, pageSizes: [4096] }))
    s1.map(0x10_0000_0000, IPA_DATA, 0x1000, RW)
    s2.map(IPA_DATA, PA_DATA, 0x1000, RW)
    const out = new WalkResult()
    expect(walkNested(mem, s1.format, s1.root, new Stage2Fetch(mem, s2.format, s2.root), 0x10_0000_0abc, READ, out)).toBe(true)
    expect([out.oa, out.reads]).toEqual([PA_DATA + 0xabc, 24])
  })

  it('the fetch hook is pluggable (e.g. tracing, or a walk cache)', () => {
    const { mem, s1, s2 } = setup(lpaeS1Format({ inputBits: 48 }), lpaeS2Format({ inputBits: 40 }))
    s1.map(0x1000, IPA_DATA, 0x1000, RW)
    s2.map(IPA_DATA, PA_DATA, 0x1000, RW)
    const inner = new Stage2Fetch(mem, s2.format, s2.root)
    const seen: number[] = []
    const tracing: WalkFetch = { fetch: (addr, out) => (seen.push(addr), inner.fetch(addr, out)) }
    const out = new WalkResult()
    expect(walkNested(mem, s1.format, s1.root, inner, 0x1234, READ, out)).toBe(true)
    const t = new TranslationContext(mem, { format: s1.format, root: s1.root, stage2: { format: s2.format, root: s2.root } })
    expect(t.origin).toBe(Origin.NESTED)
    const direct = new WalkResult()
    expect(translate(null, t, 0x1234, READ, direct)).toBe(true)
    expect(direct.oa).toBe(out.oa)
    // the hook sees stage-1 descriptor IPAs, starting with the root slot
    const res = new WalkResult()
    expect(walkNestedWith(mem, s1.format, s1.root, tracing, 0x1234, res)).toBe(true)
    expect(seen).toHaveLength(s1.format.levels)
    expect(seen[0]).toBe(s1.root)
  })
})

function walkNestedWith(mem: PhysicalMemory, fmt: PageTableFormat, root: number, fetch: WalkFetch, iova: number, out: WalkResult): boolean {
  // stage 1 only, through an arbitrary hook
  return walk(mem, fmt, root, iova, READ, out, fetch)
}

describe('nested translations in the IOTLB', () => {
  it('caches the combined entry under the stage-1 tags and reports permission faults per stage', () => {
    const { mem, s1, s2 } = setup(lpaeS1Format({ inputBits: 48 }), lpaeS2Format({ inputBits: 40 }))
    s1.map(0x10_0000_0000, IPA_DATA, 0x20_0000, RW)
    s2.map(IPA_DATA, PA_DATA, 0x20_0000, IOMMU_READ)
    const tlb = new Iotlb({ capacity: 64, ways: 4 })
    const ctx = new TranslationContext(mem, { format: s1.format, root: s1.root, stage2: { format: s2.format, root: s2.root }, tagA: 5, tagB: 9 })
    const out = new WalkResult()
    expect(translate(tlb, ctx, 0x10_0000_1234, READ, out)).toBe(true)
    expect(out.reads).toBeGreaterThan(0)
    expect(tlb.entries()).toMatchObject([{ tagA: 5, tagB: 9, origin: Origin.NESTED, iova: 0x10_0000_0000, sizeLg2: 21, oa: PA_DATA, ipa: IPA_DATA }])
    expect(translate(tlb, ctx, 0x10_0001_2345, READ, out)).toBe(true)
    expect([out.oa, out.ipa, out.reads, out.sizeLg2]).toEqual([PA_DATA + 0x1_2345, IPA_DATA + 0x1_2345, 0, 21])
    expect(translate(tlb, ctx, 0x10_0001_2345, WRITE, out)).toBe(false)
    expect([out.fault, out.stage, out.faultAddress]).toEqual([FaultKind.PERMISSION, 2, IPA_DATA + 0x1_2345])
    expect(tlb.stats()).toMatchObject({ hits: 2, misses: 1, fills: 1 })
  })
})
