/**
 * DMA engine benchmark: translations per second with 1 … N workers (N = cores) for IOTLB-hit and
 * walk-dominated traffic at batch sizes 1K–256K, the scaling efficiency from 1 to 2 workers, and
 * the pool's per-task overhead. SMMUv3 units are programmed by hand (stream table, CD, stage-1
 * tables), as their driver would. Writes engine.* entries into bench/results.json. Runs against the
 * built package (dist), as users do: workers then load the built worker, not TypeScript via tsx.
 */
import { availableParallelism } from 'node:os'
import {
  CR0_CMDQEN,
  CR0_EVTQEN,
  CR0_SMMUEN,
  DmaEngine,
  IOMMU_READ,
  IOMMU_WRITE,
  PageTable,
  PhysicalMemory,
  SMMU_CMDQ_BASE,
  SMMU_CR0,
  SMMU_EVTQ_BASE,
  SMMU_STRTAB_BASE,
  SMMU_STRTAB_BASE_CFG,
  Smmuv3,
  lpaeS1Format,
  type DmaBatch,
} from '@iommu-sim/hw-models'
import { recordResults, type BenchResult } from './results.js'

const UNITS = 4
const SID = 1
const quick = process.argv.includes('--quick')

interface Setup {
  engine: DmaEngine
  slots: number[]
  pages: number
}

/** UNITS SMMUs, each with one device translating through its own stage-1 table of `pages` pages. */
function setup(mem: PhysicalMemory, pages: number, iotlbCapacity: number, workers: number): Setup {
  const units: Smmuv3[] = []
  const data = mem.allocFrames(16) // every IOVA page aliases one of 16 data frames
  for (let u = 0; u < UNITS; u++) {
    const hw = new Smmuv3(mem, { sidBits: 4, iotlb: { capacity: iotlbCapacity, ways: 8 } })
    const strtab = mem.allocFrames(1)
    hw.writeReg64(SMMU_STRTAB_BASE, BigInt(strtab))
    hw.writeReg(SMMU_STRTAB_BASE_CFG, 4)
    hw.writeReg64(SMMU_CMDQ_BASE, BigInt(mem.allocFrames(1)) | 8n)
    hw.writeReg64(SMMU_EVTQ_BASE, BigInt(mem.allocFrames(1)) | 7n)
    const pt = new PageTable(mem, lpaeS1Format({ granule: 4096, inputBits: 48, pageSizes: [4096] }))
    for (let p = 0; p < pages; p++) pt.map(0x1_0000_0000 + p * 4096, data + (p % 16) * 4096, 4096, IOMMU_READ | IOMMU_WRITE)
    const cd = mem.allocFrames(1)
    mem.write64(cd, 16n | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 30n) | (1n << 31n) | (5n << 32n) | (1n << 41n) | (1n << 45n) | (1n << 46n) | (1n << 47n) | (BigInt(u + 1) << 48n))
    mem.write64(cd + 8, BigInt(pt.root))
    mem.write64(strtab + SID * 64, 1n | (5n << 1n) | BigInt(cd)) // V, S1 translate, CD table
    hw.writeReg(SMMU_CR0, CR0_CMDQEN | CR0_EVTQEN | CR0_SMMUEN)
    units.push(hw)
  }
  const engine = new DmaEngine(mem, units, { workers })
  return { engine, slots: units.map((_, u) => engine.addDevice(u, SID)), pages }
}

function fill(s: Setup, batch: DmaBatch, n: number, seed: number): void {
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    const page = x % s.pages
    batch.set(i, s.slots[i % UNITS]!, 0x1_0000_0000 + page * 4096 + (i & 0xff8), 0)
  }
}

async function throughput(s: Setup, batchSize: number, sync: boolean): Promise<number> {
  const batch = s.engine.createBatch(batchSize)
  fill(s, batch, batchSize, batchSize)
  const run = () => (sync ? Promise.resolve(s.engine.runSync(batch, batchSize)) : s.engine.run(batch, batchSize))
  await run() // warm: IOTLB fill, JIT, worker attach
  const target = quick ? 150 : 400
  let done = 0
  const t0 = performance.now()
  while (performance.now() - t0 < target) {
    await run()
    done += batchSize
  }
  return (done / (performance.now() - t0)) * 1000
}

async function main(): Promise<void> {
  const cores = availableParallelism()
  const mem = new PhysicalMemory({ bytes: 256 << 20 })
  const results: BenchResult[] = []
  const sizes = quick ? [1024, 16384] : [1024, 16384, 65536, 262144]
  const traffic = [
    // IOTLB-resident: 256 pages per unit in a 2048-entry IOTLB.
    { kind: 'hit', pages: 256, capacity: 2048 },
    // Walk-dominated: 64K pages per unit through a 256-entry IOTLB.
    { kind: 'walk', pages: 65536, capacity: 256 },
  ]
  const table: string[] = []
  for (const t of traffic) {
    const best = new Map<number, number>()
    for (let w = 0; w <= cores; w++) {
      const s = setup(mem, t.pages, t.capacity, w)
      for (const size of sizes) {
        const tps = await throughput(s, size, w === 0)
        const name = w === 0 ? `engine.${t.kind}.sync.b${size}` : `engine.${t.kind}.w${w}.b${size}`
        results.push({ name, unit: 'translations/s', value: tps })
        table.push(`${name.padEnd(28)} ${(tps / 1e6).toFixed(2).padStart(8)} M/s`)
        if (w > 0 && size >= 16384) best.set(w, Math.max(best.get(w) ?? 0, tps))
      }
      if (w === 1 && t.kind === 'hit') {
        const us = await s.engine.measureTaskOverhead(quick ? 50 : 300)
        results.push({ name: 'engine.task_overhead_us', unit: 'us', value: us })
        table.push(`engine.task_overhead_us      ${us.toFixed(1).padStart(8)} µs`)
      }
      await s.engine.close()
    }
    for (const [w, tps] of best) results.push({ name: `engine.${t.kind}.w${w}`, unit: 'translations/s', value: tps })
    const w1 = best.get(1)
    const w2 = best.get(2)
    if (w1 !== undefined && w2 !== undefined) {
      results.push({ name: `engine.${t.kind}.scaling_1_to_2`, unit: 'ratio', value: w2 / (2 * w1) })
      table.push(`engine.${t.kind}.scaling_1_to_2   ${((w2 / (2 * w1)) * 100).toFixed(0).padStart(7)} %`)
    }
  }
  recordResults(results)
  console.log(table.join('\n'))
}

await main()
