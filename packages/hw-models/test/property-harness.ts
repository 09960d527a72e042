/**
 * The property-test harness (used by property.test.ts, and runnable from a script): seeded
 * random map / unmap sequences checked after every operation against a reference model — a plain
 * sorted list of ranges — through our walker and through the independent BigInt walkers.
 */
import {
  FormatKind, IOMMU_READ, IOMMU_WRITE, PageTable, PageTableError, type PageTableFormat, Perm, PhysicalMemory, WalkResult,
  amdV1Format, lpaeS1Format, lpaeS2Format, vtdSsFormat, x86_64Format,
} from '../src/index.js'
import { prng, randInt, refAmdV1, refLpae, refVtdSs, refWalk, refX86, type RefEntry } from './helpers.js'

function assert(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(msg)
}

function eq(a: unknown, b: unknown, msg: string): void {
  if (a !== b) throw new Error(`${msg}: got ${String(a)}, expected ${String(b)}`)
}

interface Range { s: number; e: number; pa: number; prot: number }

/** The reference model: disjoint ranges sorted by start. */
class Model {
  ranges: Range[] = []
  overlaps(s: number, e: number): boolean {
    return this.ranges.some((r) => r.s < e && s < r.e)
  }
  map(s: number, e: number, pa: number, prot: number): void {
    this.ranges.push({ s, e, pa, prot })
    this.ranges.sort((a, b) => a.s - b.s)
  }
  unmap(s: number, e: number): number {
    let bytes = 0
    const next: Range[] = []
    for (const r of this.ranges) {
      if (r.e <= s || e <= r.s) {
        next.push(r)
        continue
      }
      bytes += Math.min(r.e, e) - Math.max(r.s, s)
      if (r.s < s) next.push({ s: r.s, e: s, pa: r.pa, prot: r.prot })
      if (e < r.e) next.push({ s: e, e: r.e, pa: r.pa + (e - r.s), prot: r.prot })
    }
    this.ranges = next.sort((a, b) => a.s - b.s)
    return bytes
  }
  find(p: number): Range | undefined {
    return this.ranges.find((r) => r.s <= p && p < r.e)
  }
  get total(): number {
    return this.ranges.reduce((n, r) => n + r.e - r.s, 0)
  }
}

export interface Config {
  readonly fmt: PageTableFormat
  /** input window the operations stay in */
  readonly lo: number
  readonly hi: number
  readonly memBytes?: number
}

function window(fmt: PageTableFormat, spanLg2: number, base = 0): Config {
  const span = 2 ** Math.min(spanLg2, fmt.inputBits - (fmt.signExtended ? 1 : 0))
  return { fmt, lo: fmt.signExtended ? -span / 2 : base, hi: fmt.signExtended ? span / 2 : base + span }
}

export const configs: Config[] = [
  window(lpaeS1Format({ inputBits: 48 }), 36),
  window(lpaeS1Format({ inputBits: 39 }), 36),
  window(lpaeS1Format({ inputBits: 30 }), 30),
  window(lpaeS1Format({ inputBits: 21 }), 21),
  window(lpaeS1Format({ inputBits: 47, granule: 16384 }), 38),
  window(lpaeS1Format({ inputBits: 36, granule: 16384 }), 36),
  window(lpaeS1Format({ inputBits: 25, granule: 16384 }), 25),
  { ...window(lpaeS1Format({ inputBits: 48, granule: 65536 }), 40), memBytes: 128 << 20 },
  { ...window(lpaeS1Format({ inputBits: 29, granule: 65536 }), 29), memBytes: 64 << 20 },
  { ...window(lpaeS1Format({ inputBits: 52, granule: 65536, outputBits: 52 }), 46), memBytes: 128 << 20 },
  window(lpaeS2Format({ inputBits: 40 }), 36),
  window(lpaeS2Format({ inputBits: 34, startLevel: 2 }), 34),
  window(lpaeS2Format({ inputBits: 40, granule: 16384 }), 38),
  { ...window(lpaeS2Format({ inputBits: 48, granule: 65536 }), 40), memBytes: 128 << 20 },
  window(x86_64Format({ levels: 4 }), 36),
  window(x86_64Format({ levels: 5 }), 40),
  window(x86_64Format({ levels: 4, pages1G: false }), 34),
  window(vtdSsFormat({ levels: 3 }), 36),
  window(vtdSsFormat({ levels: 4 }), 36, 2 ** 44),
  window(vtdSsFormat({ levels: 5 }), 36, 2 ** 52),
  window(vtdSsFormat({ levels: 4, pages2M: false }), 30),
  window(amdV1Format({ mode: 1 }), 21),
  window(amdV1Format({ mode: 2 }), 30),
  window(amdV1Format({ mode: 3 }), 36),
  window(amdV1Format({ mode: 4 }), 42),
  window(amdV1Format({ mode: 5 }), 42, 2 ** 50),
  window(amdV1Format({ mode: 6 }), 44, 2 ** 52),
]

/** An independent walk for any format, built from helpers.ts decoders and the format's geometry. */
function independentWalk(mem: PhysicalMemory, fmt: PageTableFormat, root: number, iova: number): { oa: number; sizeLg2: number; entry: RefEntry } | null {
  // Exact two's-complement input bits, whatever the sign and width.
  const v = BigInt(iova) & ((1n << BigInt(fmt.inputBits)) - 1n)
  const levels: number[] = []
  for (let g = fmt.topLevel; g >= 0; g--) levels.push(fmt.archLevel(g))
  const shiftOf = (level: number): number => fmt.granuleLg2 + fmt.genericLevel(level) * fmt.bitsPerLevel
  const indexOf = (level: number): number => {
    const g = fmt.genericLevel(level)
    const bits = g === fmt.topLevel ? fmt.inputBits - shiftOf(level) : fmt.bitsPerLevel
    return Number((v >> BigInt(shiftOf(level))) & ((1n << BigInt(bits)) - 1n))
  }
  const decode = fmt.kind === FormatKind.LPAE_S1 || fmt.kind === FormatKind.LPAE_S2
    ? (d: bigint, l: number) => refLpae(d, l, fmt.granuleLg2, fmt.stage)
    : fmt.kind === FormatKind.X86_64 ? refX86 : fmt.kind === FormatKind.VTD_SS ? refVtdSs : refAmdV1
  const r = refWalk(mem, decode, levels, indexOf, BigInt(root))
  if (r === null) return null
  return { oa: Number(r.oa + (v & ((1n << BigInt(r.sizeLg2)) - 1n))), sizeLg2: r.sizeLg2, entry: r.entry }
}

function protFor(fmt: PageTableFormat, rnd: () => number): number {
  // x86 and stage-1 LPAE leaves are always readable; the others can be write-only.
  const choices = fmt.kind === FormatKind.X86_64 || fmt.kind === FormatKind.LPAE_S1
    ? [IOMMU_READ, IOMMU_READ | IOMMU_WRITE]
    : [IOMMU_READ, IOMMU_WRITE, IOMMU_READ | IOMMU_WRITE]
  return choices[randInt(rnd, 0, choices.length)]!
}

export function runConfig(cfg: Config, seed: number, ops: number): void {
  const { fmt, lo, hi } = cfg
  const rnd = prng(seed)
  const mem = new PhysicalMemory({ bytes: cfg.memBytes ?? 32 << 20 })
  const freeAtStart = mem.freeFrameCount
  const pt = new PageTable(mem, fmt)
  const model = new Model()
  const out = new WalkResult()
  const granule = 2 ** fmt.granuleLg2
  const paLimit = Math.min(fmt.outputLimit, 2 ** 46)
  const sizes = fmt.pageSizesLg2.filter((l) => 2 ** l <= (hi - lo) / 2)
  const alignedRandom = (from: number, to: number, align: number): number => from + Math.floor(rnd() * ((to - from) / align)) * align
  const largeSizeIn = (lg2: number): boolean => 2 ** lg2 <= (hi - lo) / 4

  const check = (p: number, ctx: string): void => {
    if (p < lo || p >= hi) return
    const r = model.find(p)
    const ok = pt.walk(p, 0, out)
    const ref = independentWalk(mem, fmt, pt.root, p)
    if (r === undefined) {
      assert(!ok, `${ctx}: 0x${p.toString(16)} should not translate (${out.describe()})`)
      assert(ref === null, `${ctx}: independent walk of 0x${p.toString(16)} should fail`)
      return
    }
    assert(ok, `${ctx}: 0x${p.toString(16)} should translate (${out.describe()})`)
    const want = r.pa + (p - r.s)
    eq(out.oa, want, `${ctx}: oa of 0x${p.toString(16)}`)
    eq((out.perm & Perm.W) !== 0, (r.prot & IOMMU_WRITE) !== 0, `${ctx}: write permission of 0x${p.toString(16)}`)
    eq((out.perm & Perm.R) !== 0, (r.prot & IOMMU_READ) !== 0 || fmt.kind === FormatKind.X86_64 || fmt.kind === FormatKind.LPAE_S1, `${ctx}: read permission`)
    // The page reported must lie inside the mapped range (map chose a legal size).
    const pageStart = p - (((p % 2 ** out.sizeLg2) + 2 ** out.sizeLg2) % 2 ** out.sizeLg2)
    assert(pageStart >= r.s && pageStart + 2 ** out.sizeLg2 <= r.e, `${ctx}: page 2^${out.sizeLg2} at 0x${p.toString(16)} inside its range`)
    assert(ref !== null, `${ctx}: independent walk of 0x${p.toString(16)}`)
    eq(ref.oa, want, `${ctx}: independent oa of 0x${p.toString(16)}`)
  }
  const sample = (ctx: string, extra: number[]): void => {
    for (const p of extra) check(p, ctx)
    for (let k = 0; k < 6; k++) check(alignedRandom(lo, hi, 8), ctx)
    for (let k = 0; k < 4 && model.ranges.length > 0; k++) {
      const r = model.ranges[randInt(rnd, 0, model.ranges.length)]!
      check(r.s + Math.floor(rnd() * (r.e - r.s) / 8) * 8, ctx)
      check(r.e - 8, ctx)
    }
  }

  for (let op = 0; op < ops; op++) {
    const ctx = `${fmt.name} seed ${seed} op ${op}`
    if (rnd() < 0.6 || model.ranges.length === 0) {
      // map: mostly size-aligned addresses so large and contiguous pages get used
      const lg2 = sizes[Math.floor(rnd() ** 2 * sizes.length)] ?? fmt.granuleLg2
      const big = rnd() < 0.8 && largeSizeIn(lg2)
      const align = big ? 2 ** lg2 : granule
      const size = (big ? 2 ** lg2 * randInt(rnd, 1, 3) : 0) + granule * randInt(rnd, big ? 0 : 1, 24)
      const s = alignedRandom(lo, hi - size, align)
      if (s < lo || s + size > hi || size === 0) continue
      const pa = alignedRandom(0, paLimit - size, align)
      const prot = protFor(fmt, rnd)
      const frames = pt.tableFrameCount
      if (model.overlaps(s, s + size)) {
        let err: unknown
        try {
          pt.map(s, pa, size, prot)
        } catch (e) {
          err = e
        }
        assert(PageTableError.is(err) && err.code === 'EEXIST', `${ctx}: map over a mapping fails with EEXIST, got ${String(err)}`)
        // A failed map frees the tables it made (it may also have reclaimed empty tables it replaced).
        assert(pt.tableFrameCount <= frames, `${ctx}: a failed map frees the tables it made: ${pt.tableFrameCount} > ${frames}`)
      } else {
        pt.map(s, pa, size, prot)
        model.map(s, s + size, pa, prot)
      }
      sample(ctx, [s, s + size - 8, s - 8, s + size])
    } else {
      // unmap: anything from one granule to a large span, sometimes over holes or block middles
      const spanLg2 = sizes[randInt(rnd, 0, sizes.length)] ?? fmt.granuleLg2
      const size = granule * randInt(rnd, 1, 16) + (rnd() < 0.3 ? 2 ** spanLg2 : 0)
      const s = rnd() < 0.5 && model.ranges.length > 0
        ? Math.min(model.ranges[randInt(rnd, 0, model.ranges.length)]!.s + granule * randInt(rnd, 0, 8), hi - size)
        : alignedRandom(lo, hi - size, granule)
      if (s < lo || s + size > hi) continue
      const want = model.unmap(s, s + size)
      eq(pt.unmap(s, size), want, `${ctx}: bytes unmapped from [0x${s.toString(16)}, +0x${size.toString(16)})`)
      sample(ctx, [s - 8, s, s + size - 8, s + size])
    }
  }
  // The leaves listed by the table tile exactly the model's ranges.
  const leaves = pt.mappings()
  eq(leaves.reduce((n, m) => n + 2 ** m.sizeLg2, 0), model.total, 'leaves cover the model')
  for (const m of leaves) {
    const r = model.find(m.iova)
    assert(r !== undefined, `leaf at 0x${m.iova.toString(16)} is in the model`)
    eq(m.oa, r.pa + (m.iova - r.s), `leaf oa at 0x${m.iova.toString(16)}`)
    assert(m.iova + 2 ** m.sizeLg2 <= r.e, `leaf at 0x${m.iova.toString(16)} ends inside its range`)
  }
  // Unmapping everything empties the table; destroy returns every frame.
  eq(pt.unmap(lo, hi - lo), model.total, 'unmap of the whole window')
  eq(pt.mappings().length, 0, 'no leaves left')
  pt.destroy()
  eq(mem.freeFrameCount, freeAtStart, 'every frame returned')
}

