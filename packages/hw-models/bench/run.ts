/**
 * Benchmarks for the page-table formats, the walker and the IOTLB (`npm run bench` at the repo
 * root). Writes / merges `<repo>/bench/results.json`:
 *   { "machine": { "cores", "node", "cpu" }, "results": [ { "name", "unit", "value" } ] }
 * Entries with other names (e.g. a DMA-engine bench's `engine.*`) are kept.
 *
 * Method (reference/performance.md §3a): IOVAs spaced 7 pages apart, looked up in a random order,
 * independent lookups back to back (throughput). "Cache-resident" = 4096 mapped pages;
 * `.large` = 262 144 mapped pages (tens of MB of tables). Each figure is the median of 5 timed
 * rounds after a warm-up, single thread. `--quick` runs shorter rounds and skips the large sets.
 */
import { availableParallelism, cpus } from 'node:os'
import {
  IOMMU_READ, IOMMU_WRITE, Iotlb, PageTable, PhysicalMemory, Stage2Fetch, TranslationContext, WalkResult, accessMask, amdV1Format,
  lpaeS1Format, lpaeS2Format, translate, vtdSsFormat, walk, walkNested, x86_64Format, type PageTableFormat,
} from '../src/index.js'
import { RESULTS_PATH, recordResults, type BenchResult } from './results.js'

const results: BenchResult[] = []
const quick = process.argv.includes('--quick')
const ROUND_MS = quick ? 60 : 150
const ROUNDS = quick ? 3 : 5

const RW = IOMMU_READ | IOMMU_WRITE
const READ = accessMask(false)
const SMALL = 4096
const LARGE = 262144
const BASE = 0x10_0000_0000
const out = new WalkResult()

/** Runs `body(n)` (which performs n operations) and returns the median operations per second. */
function measure(body: (n: number) => number): number {
  // calibrate + warm up
  let n = 1024
  let sink = 0
  for (;;) {
    const t0 = performance.now()
    sink += body(n)
    const dt = performance.now() - t0
    if (dt > ROUND_MS / 4) {
      n = Math.max(1, Math.round((n * ROUND_MS) / dt))
      break
    }
    n *= 2
  }
  const rates: number[] = []
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now()
    sink += body(n)
    rates.push(n / ((performance.now() - t0) / 1000))
  }
  if (sink === 0.5) console.log('') // keep the work observable
  rates.sort((a, b) => a - b)
  return rates[Math.floor(rates.length / 2)]!
}

function record(name: string, value: number, unit = 'ops/s'): void {
  const rounded = unit === 'ops/s' ? Math.round(value) : Math.round(value * 100) / 100
  results.push({ name, unit, value: rounded })
  const shown = unit === 'ops/s' ? `${(value / 1e6).toFixed(2)} M/s` : `${rounded} ${unit}`
  console.log(`${name.padEnd(34)} ${shown}`)
}

/** Random permutation of n IOVAs spaced 7 pages apart. */
function iovaSet(n: number, seed: number, page = 4096): Float64Array {
  const a = new Float64Array(n)
  for (let i = 0; i < n; i++) a[i] = BASE + i * 7 * page
  let s = seed >>> 0
  for (let i = n - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    const j = s % (i + 1)
    const t = a[i]!
    a[i] = a[j]!
    a[j] = t
  }
  return a
}

function mapSpaced(pt: PageTable, n: number, paBase: number): void {
  const page = pt.format.tableBytes // the granule
  for (let i = 0; i < n; i++) pt.map(BASE + i * 7 * page, paBase + i * page, page, RW)
}

function benchWalk(name: string, mem: PhysicalMemory, fmt: PageTableFormat, n: number): number {
  const pt = new PageTable(mem, fmt)
  mapSpaced(pt, n, 0x1_0000_0000)
  const iovas = iovaSet(n, 12345, fmt.tableBytes)
  const mask = n - 1
  const root = pt.root
  const rate = measure((count) => {
    let ok = 0
    for (let i = 0; i < count; i++) if (walk(mem, fmt, root, iovas[i & mask]! + 8, READ, out)) ok++
    return ok
  })
  record(name, rate)
  pt.destroy()
  return rate
}

/**
 * Re-basing anchors (performance.md §3a): the bare algorithms the reference figures were measured
 * with — a 4-level walk with no checks over the same x86-64 tables, and an open-addressing hash
 * with 2048 live entries — so results can be compared across machines as ratios.
 */
const INV_SHIFT = new Float64Array([2 ** -12, 2 ** -21, 2 ** -30, 2 ** -39])

function benchBaselines(mem: PhysicalMemory): void {
  const fmt = x86_64Format({ levels: 4, pageSizes: [4096] })
  const pt = new PageTable(mem, fmt)
  mapSpaced(pt, SMALL, 0x1_0000_0000)
  const iovas = iovaSet(SMALL, 12345)
  const u32 = mem.u32
  const rootWi = pt.root >>> 2
  const mask = SMALL - 1
  record('baseline.walk_4level_minimal', measure((count) => {
    let sum = 0
    for (let i = 0; i < count; i++) {
      const va = iovas[i & mask]!
      let wi = rootWi
      let lo = 0
      for (let l = 3; l >= 0; l--) {
        lo = u32[wi + ((Math.floor(va * INV_SHIFT[l]!) & 511) << 1)]!
        wi = (lo & 0xfffff000) >>> 2
      }
      sum += lo
    }
    return sum
  }))
  const slots = 4096
  const keys = new Float64Array(slots).fill(-1)
  const vals = new Float64Array(slots)
  const live = 2048
  const pages = new Float64Array(live)
  for (let i = 0; i < live; i++) {
    const pn = (BASE + i * 7 * 4096) / 4096
    pages[i] = pn
    let h = Math.imul(pn | 0, 0x9e3779b1) >>> 20
    while (keys[h] !== -1) h = (h + 1) & (slots - 1)
    keys[h] = pn
    vals[h] = pn * 4096 + 0x1000
  }
  const order = iovaSet(live, 4)
  record('baseline.iotlb_hash_minimal', measure((count) => {
    let sum = 0
    for (let i = 0; i < count; i++) {
      const iova = order[i & (live - 1)]!
      const pn = Math.floor(iova / 4096)
      let h = Math.imul(pn | 0, 0x9e3779b1) >>> 20
      while (keys[h] !== pn) h = (h + 1) & (slots - 1)
      sum += vals[h]! + (iova - pn * 4096)
    }
    return sum
  }))
  pt.destroy()
}

function benchNested(name: string, mem: PhysicalMemory, s1fmt: PageTableFormat, s2fmt: PageTableFormat, n: number): number {
  // Stage 2 maps the guest's table memory 1:1 with 4K pages (every stage-2 walk has all its
  // levels; no walk caches) and the guest data IPAs elsewhere.
  const s2 = new PageTable(mem, s2fmt)
  const s1 = new PageTable(mem, s1fmt)
  mapSpaced(s1, n, 0x1_0000_0000)
  const tableLo = Math.floor(s1.root / 0x20_0000) * 0x20_0000
  const tableHi = Math.ceil((mem.bytes - mem.freeFrameCount * 4096 + 0x40_0000) / 0x20_0000) * 0x20_0000
  s2.map(tableLo, tableLo, Math.min(tableHi, mem.bytes) - tableLo, RW)
  s2.map(0x1_0000_0000, 0x2_0000_0000, Math.ceil((n * 4096) / 0x20_0000) * 0x20_0000, RW)
  const fetch = new Stage2Fetch(mem, s2fmt, s2.root)
  const iovas = iovaSet(n, 999)
  const mask = n - 1
  const root = s1.root
  const rate = measure((count) => {
    let ok = 0
    for (let i = 0; i < count; i++) if (walkNested(mem, s1fmt, root, fetch, iovas[i & mask]! + 8, READ, out)) ok++
    return ok
  })
  if (!walkNested(mem, s1fmt, root, fetch, iovas[0]!, READ, out)) throw new Error(`${name}: nested setup does not translate: ${out.describe()}`)
  record(name, rate)
  s1.destroy()
  s2.destroy()
  return rate
}

function benchIotlbHit(mem: PhysicalMemory): void {
  const fmt = lpaeS1Format({ inputBits: 48, pageSizes: [4096] })
  const pt = new PageTable(mem, fmt)
  const live = 1024
  mapSpaced(pt, live, 0x1_0000_0000)
  const tlb = new Iotlb({ capacity: 4096, ways: 8 })
  const ctx = new TranslationContext(mem, { format: fmt, root: pt.root, tagA: 1, tagB: 1 })
  const iovas = iovaSet(live, 7)
  for (let i = 0; i < live; i++) translate(tlb, ctx, iovas[i]!, READ, out)
  const mask = live - 1
  record('translate.iotlb_hit', measure((count) => {
    let ok = 0
    for (let i = 0; i < count; i++) if (translate(tlb, ctx, iovas[i & mask]! + 8, READ, out)) ok++
    return ok
  }))
  record('iotlb.lookup_hit', measure((count) => {
    let s = 0
    for (let i = 0; i < count; i++) s += tlb.lookup(1, 1, ctx.origin, iovas[i & mask]!)
    return s
  }))
  const st = tlb.stats()
  if (st.valid !== live || st.evictions !== 0) console.warn(`  (warning: set conflicts evicted entries: ${JSON.stringify(st)})`)
  // Miss path: a 512-entry IOTLB cycling over 4096 pages (every lookup misses, walks, fills, evicts).
  const big = new PageTable(mem, fmt)
  mapSpaced(big, SMALL, 0x1_0000_0000)
  const small = new Iotlb({ capacity: 512, ways: 8 })
  const ctx2 = new TranslationContext(mem, { format: fmt, root: big.root, tagA: 2, tagB: 2 })
  const seq = new Float64Array(SMALL)
  for (let i = 0; i < SMALL; i++) seq[i] = BASE + i * 7 * 4096
  record('translate.iotlb_miss_walk_fill', measure((count) => {
    let ok = 0
    for (let i = 0; i < count; i++) if (translate(small, ctx2, seq[i & (SMALL - 1)]!, READ, out)) ok++
    return ok
  }))
  // Invalidation costs (performance.md §5.7: page-selective ≤ 1 µs, full flush of 4k entries ≤ 50 µs).
  const flush = new Iotlb({ capacity: 4096, ways: 8 })
  record('iotlb.invalidate_page', measure((count) => {
    for (let i = 0; i < count; i++) {
      const iova = BASE + (i & 1023) * 4096
      flush.insert(3, 4, 1, iova, 12, iova, 63, 63, 3, 0, 0)
      flush.invalidateRange(3, 4, iova, 4096)
    }
    return count
  }))
  record('iotlb.invalidate_all_4096', measure((count) => {
    let s = 0
    for (let i = 0; i < count; i++) s += flush.invalidateAll()
    return s + 1
  }))
  pt.destroy()
  big.destroy()
}

function benchMapUnmap(mem: PhysicalMemory, label: string, fmt: PageTableFormat, size: number, count: number): void {
  // map: fresh ranges each round; unmap: tear down what was mapped, one page at a time.
  const pts: PageTable[] = []
  let cursor = 0
  const mapRate = measure((n) => {
    const pt = new PageTable(mem, fmt)
    pts.push(pt)
    for (let i = 0; i < n; i++) pt.map(BASE + (cursor + i) * size, 0x1_0000_0000 + i * size, size, RW)
    cursor += n
    return n
  })
  for (const pt of pts) pt.destroy()
  record(`map.${label}`, mapRate)
  const pt = new PageTable(mem, fmt)
  for (let i = 0; i < count; i++) pt.map(BASE + i * size, 0x1_0000_0000 + i * size, size, RW)
  let next = 0
  const unmapRate = measure((n) => {
    for (let i = 0; i < n; i++) {
      if (next === count) {
        for (let j = 0; j < count; j++) pt.map(BASE + j * size, 0x1_0000_0000 + j * size, size, RW) // refill (rare)
        next = 0
      }
      pt.unmap(BASE + next++ * size, size)
    }
    return n
  })
  record(`unmap.${label}`, unmapRate)
  pt.destroy()
}

function main(): void {
  const t0 = performance.now()
  console.log(`hw-models bench — node ${process.version}, ${cpus()[0]?.model ?? '?'}, ${availableParallelism()} cores${quick ? ' (quick)' : ''}\n`)
  const mem = new PhysicalMemory({ bytes: 512 << 20 })

  benchBaselines(mem)
  benchIotlbHit(mem)

  const s1 = benchWalk('walk.lpae_s1_4k', mem, lpaeS1Format({ inputBits: 48, pageSizes: [4096] }), SMALL)
  benchWalk('walk.lpae_s1_16k', mem, lpaeS1Format({ inputBits: 47, granule: 16384, pageSizes: [16384] }), SMALL)
  benchWalk('walk.lpae_s1_64k', mem, lpaeS1Format({ inputBits: 48, granule: 65536, pageSizes: [65536] }), SMALL)
  benchWalk('walk.lpae_s2_4k', mem, lpaeS2Format({ inputBits: 48, pageSizes: [4096] }), SMALL)
  const x86 = benchWalk('walk.x86_64_4level', mem, x86_64Format({ levels: 4, pageSizes: [4096] }), SMALL)
  benchWalk('walk.x86_64_5level', mem, x86_64Format({ levels: 5, pageSizes: [4096] }), SMALL)
  benchWalk('walk.vtd_ss', mem, vtdSsFormat({ levels: 4, pageSizes: [4096] }), SMALL)
  benchWalk('walk.amd_v1', mem, amdV1Format({ mode: 4, pageSizes: [4096] }), SMALL)

  const nested = benchNested('walk.nested_lpae', mem, lpaeS1Format({ inputBits: 48, pageSizes: [4096] }), lpaeS2Format({ inputBits: 48, pageSizes: [4096] }), SMALL)
  record('walk.nested_lpae.cost_vs_single', s1 / nested, 'x')
  const nestedVtd = benchNested('walk.nested_vtd', mem, x86_64Format({ levels: 4, pageSizes: [4096] }), vtdSsFormat({ levels: 4, pageSizes: [4096] }), SMALL)
  record('walk.nested_vtd.cost_vs_single', x86 / nestedVtd, 'x')
  benchNested('walk.nested_amd', mem, x86_64Format({ levels: 4, pageSizes: [4096] }), amdV1Format({ mode: 4, pageSizes: [4096] }), SMALL)

  if (!quick) {
    benchWalk('walk.lpae_s1_4k.large', mem, lpaeS1Format({ inputBits: 48, pageSizes: [4096] }), LARGE)
    benchWalk('walk.x86_64_4level.large', mem, x86_64Format({ levels: 4, pageSizes: [4096] }), LARGE)
    benchWalk('walk.vtd_ss.large', mem, vtdSsFormat({ levels: 4, pageSizes: [4096] }), LARGE)
    benchWalk('walk.amd_v1.large', mem, amdV1Format({ mode: 4, pageSizes: [4096] }), LARGE)
    benchNested('walk.nested_lpae.large', mem, lpaeS1Format({ inputBits: 48, pageSizes: [4096] }), lpaeS2Format({ inputBits: 48, pageSizes: [4096] }), LARGE)
  }

  benchMapUnmap(mem, '4k', lpaeS1Format({ inputBits: 48 }), 4096, 65536)
  benchMapUnmap(mem, '2m', lpaeS1Format({ inputBits: 48 }), 2 ** 21, 4096)
  benchMapUnmap(mem, '4k.x86_64', x86_64Format({ levels: 4 }), 4096, 65536)
  benchMapUnmap(mem, '4k.amd_v1', amdV1Format({ mode: 4 }), 4096, 65536)

  recordResults(results)
  console.log(`\nwrote ${RESULTS_PATH} (${((performance.now() - t0) / 1000).toFixed(1)} s)`)
}

main()
