/**
 * The DMA engine on SMMUv3 units: the worker pool and the single-thread path give identical
 * translations, faults, data and statistics for the same random workload; invalidations that
 * complete (CMD_SYNC) are never undone by a batch running on another thread.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { createHost, type Host, type Process } from '@iommu-sim/core'
import { smmuv3Driver } from '../src/index.js'

const PAGES = 64

/** A seeded xorshift PRNG, so both hosts see the same workload. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 2 ** 32
  }
}

interface World {
  host: Host
  proc: Process
  ioas: number[]
  bufs: bigint[]
  iovas: bigint[]
  slots: number[]
}

/** 3 SMMUs, 2 devices each, each device in its own IOAS with PAGES pages of its own memory. */
function world(workers: number): World {
  const host = createHost({ drivers: [smmuv3Driver({ instances: 3 })], memory: { bytes: 64 << 20 }, dma: { workers } })
  const proc = host.createProcess()
  const ictx = proc.iommufd()
  const w: World = { host, proc, ioas: [], bufs: [], iovas: [], slots: [] }
  for (let d = 0; d < 6; d++) {
    const dev = host.addDevice({ iommu: host.iommus[d % 3]!, id: 0x100 + d })
    const vf = proc.vfioDevice(proc.open(dev.cdevPath))
    vf.bind(ictx)
    const ioasId = ictx.ioasAlloc().outIoasId
    vf.attach(ioasId)
    const buf = proc.mmap(PAGES * 4096)
    const fill = new Uint8Array(PAGES * 4096).map((_, i) => (i * 31 + d) & 0xff)
    proc.memory.write(buf, fill)
    w.ioas.push(ioasId)
    w.bufs.push(buf)
    w.iovas.push(ictx.ioasMap({ ioasId, userVa: buf, length: PAGES * 4096, iova: 0x4000_0000 + d * 0x100_0000 }).iova)
    w.slots.push(host.dma.device(dev))
  }
  return w
}

function workload(w: World, n: number, seed: number) {
  const r = rng(seed)
  const batch = w.host.dma.batch(n, n * 64)
  for (let i = 0; i < n; i++) {
    const d = Math.floor(r() * 6)
    // Mostly mapped pages, some beyond the mapping (faults), some transfers that cross a page.
    const page = Math.floor(r() * (PAGES + 4))
    const offset = Math.floor(r() * 4096)
    const transfer = r() < 0.3
    batch.set(i, w.slots[d]!, Number(w.iovas[d]!) + page * 4096 + offset, transfer ? 48 : 0, { write: r() < 0.5, transfer, dataOffset: i * 64 })
    if (transfer) for (let k = 0; k < 48; k++) batch.bytes[i * 64 + k] = (i + k) & 0xff
  }
  return batch
}

const pools: Host[] = []
afterAll(async () => {
  for (const h of pools) await h.dma.close()
})

describe('DMA engine: worker pool vs single thread', () => {
  it('identical translations, faults, moved data, memory contents and statistics for the same random workload', async () => {
    const a = world(2)
    const b = world(0)
    pools.push(a.host)
    const n = 20_000
    const ba = workload(a, n, 42)
    const bb = workload(b, n, 42)
    const ra = await a.host.dma.run(ba)
    const rb = b.host.dma.runSync(bb)
    expect(ra.descriptors).toBe(n)
    expect(ra.tasks).toBe(2) // three units sharded over two workers
    expect({ ...rb, tasks: 0 }).toEqual({ ...ra, tasks: 0 })
    expect(ra.faults).toBeGreaterThan(0)
    expect(ra.bytes).toBeGreaterThan(0)
    expect(Array.from(ba.pa.subarray(0, n))).toEqual(Array.from(bb.pa.subarray(0, n)))
    expect(Array.from(ba.fault.subarray(0, n))).toEqual(Array.from(bb.fault.subarray(0, n)))
    expect(Array.from(ba.moved.subarray(0, n))).toEqual(Array.from(bb.moved.subarray(0, n)))
    expect(ba.bytes).toEqual(bb.bytes)
    for (let d = 0; d < 6; d++) expect(a.proc.memory.read(a.bufs[d]!, PAGES * 4096)).toEqual(b.proc.memory.read(b.bufs[d]!, PAGES * 4096))
    for (const [i, u] of a.host.iommus.entries()) expect(a.host.dma.unitStats(u)).toEqual(b.host.dma.unitStats(b.host.iommus[i]!))
    const total = a.host.iommus.reduce((s, u) => s + a.host.dma.unitStats(u).translations, 0)
    expect(total).toBeGreaterThanOrEqual(n)
    // The faults were recorded as events and serviced by the driver's interrupt handler.
    expect(a.host.iommus.map((u) => (u as { hostEvents?: unknown[] }).hostEvents?.length ?? 0).reduce((x, y) => x + y, 0)).toBeGreaterThan(0)
  })

  it('a completed invalidation is never undone by a batch in flight on another thread (stress, bounded)', async () => {
    const w = world(2)
    pools.push(w.host)
    const ictx = w.proc.iommufd(w.proc.files.fds[0])
    const rounds = 12
    for (let round = 0; round < rounds; round++) {
      const d = round % 6
      const page = round % PAGES
      const iova = w.iovas[d]! + BigInt(page * 4096)
      // Warm the IOTLB with this page, then race a big batch against the unmap.
      const warm = w.host.dma.batch(1)
      warm.set(0, w.slots[d]!, Number(iova), 0)
      await w.host.dma.run(warm)
      const big = w.host.dma.batch(50_000)
      for (let i = 0; i < 50_000; i++) big.set(i, w.slots[(i + d) % 6]!, Number(w.iovas[(i + d) % 6]!) + (i % PAGES) * 4096, 0)
      const inFlight = w.host.dma.run(big)
      ictx.ioasUnmap({ ioasId: w.ioas[d]!, iova: w.iovas[d]!, length: BigInt(PAGES * 4096) }) // CMD_SYNC completes before this returns
      const after = w.host.dma.batch(PAGES)
      for (let p = 0; p < PAGES; p++) after.set(p, w.slots[d]!, Number(w.iovas[d]!) + p * 4096, 0)
      const r = await w.host.dma.run(after)
      expect(r.faults).toBe(PAGES) // nothing stale survives on any worker
      await inFlight
      // Map it back for the next round.
      ictx.ioasMap({ ioasId: w.ioas[d]!, userVa: w.bufs[d]!, length: PAGES * 4096, iova: w.iovas[d]! })
    }
  })

  it('unit statistics can be read before the engine was used (all zero)', () => {
    const host = createHost({ drivers: [smmuv3Driver()], memory: { bytes: 16 << 20 } })
    expect(host.dma.unitStats(host.iommus[0]!).translations).toBe(0)
  })
  it('the pool is created lazily and closed explicitly; runs after close are refused', async () => {
    const w = world(1)
    expect((w.host.dma.engine as unknown as { pool: unknown }).pool).toBeUndefined()
    const b = w.host.dma.batch(4)
    for (let i = 0; i < 4; i++) b.set(i, w.slots[i]!, Number(w.iovas[i]!), 0)
    expect((await w.host.dma.run(b)).faults).toBe(0)
    await w.host.dma.close()
    await expect(w.host.dma.run(b)).rejects.toThrow(/closed/)
  })
})
