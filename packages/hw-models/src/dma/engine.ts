/**
 * The DMA engine: runs batches of DMA descriptors for many devices on many IOMMU units, either
 * on a piscina worker pool (units sharded across workers so each unit's IOTLB has one writer at a
 * time) or on the calling thread, with identical results. Reference DESIGN §5,
 * toolchain.md §4 (piscina: lazily created, injectable, closed explicitly, sized to the machine).
 */
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { PhysicalMemory } from '../memory/physical-memory.js'
import { WalkResult } from '../walk/result.js'
import { DmaBatch } from './batch.js'
import { DEVICE_STATS, DS_BYTES, DS_FAULTS, DS_TRANSLATIONS, UNIT_STATS, US_BYTES, US_FAULTS, US_TRANSLATIONS, US_WALK_READS, runShard, type ShardContext, type ShardTotals } from './run-shard.js'
import type { DmaTask, DmaTaskResult } from './task.js'
import type { DmaUnitModel } from './unit-model.js'

/** The part of a piscina pool the engine uses (so callers may inject their own). */
export interface DmaPool {
  run(task: unknown, options?: { name?: string }): Promise<unknown>
  destroy(): Promise<void>
  readonly threads?: readonly unknown[]
}

export interface DmaEngineOptions {
  /** Worker threads (default `availableParallelism()`); 0 runs everything on the calling thread. */
  readonly workers?: number
  /** A pool to use instead of creating one (its worker must be this package's DMA worker). */
  readonly pool?: DmaPool
  /** Device slots the engine can register (default 4096). */
  readonly maxDevices?: number
}

export interface UnitDmaStats {
  readonly translations: number
  readonly iotlbHits: number
  readonly iotlbMisses: number
  readonly walkReads: number
  readonly faults: number
  readonly bytes: number
}

export interface DeviceDmaStats {
  readonly translations: number
  readonly faults: number
  readonly bytes: number
}

export interface DmaRunResult {
  readonly descriptors: number
  readonly faults: number
  readonly bytes: number
  /** Tasks the run was split into (shards with work). */
  readonly tasks: number
}

let nextEngineId = 1

/** Where the worker is: the built JS next to this module (dist), else the TS source run with tsx. */
export function resolveDmaWorker(base: string = import.meta.url): { filename: string; execArgv: string[] } {
  const built = new URL('./workers/dma-worker.js', base)
  if (existsSync(fileURLToPath(built))) return { filename: built.href, execArgv: [] }
  // From sources, sibling packages resolve to their sources too (the `@iommu-sim/source` condition).
  return { filename: new URL('./worker.ts', base).href, execArgv: ['--conditions=@iommu-sim/source', '--import', 'tsx'] }
}

export class DmaEngine {
  readonly id = nextEngineId++
  readonly workers: number
  private pool: DmaPool | undefined
  private readonly ownsPool: boolean
  private closed = false
  /** [unit, deviceId] per device slot. */
  private readonly devices: Int32Array
  private readonly deviceStats: Float64Array
  private deviceCount = 0
  private readonly maxDevices: number
  /** The shared state every task needs; sent once per worker (workerData) when the engine owns the pool. */
  private readonly payload: DmaTask['engine'] & {}
  /** Per device slot: used by the batch being prepared. */
  private readonly slotUsed: Uint8Array
  /** Batches being run: a batch's buffers are in use until its run settles. */
  private readonly running = new WeakSet<DmaBatch>()
  private readonly unitStats: Float64Array
  private readonly shardOf: Int32Array
  private readonly shardChains: Promise<unknown>[]
  private readonly local: ShardContext
  /** Milliseconds spent inside worker tasks (excludes messaging), for overhead accounting. */

  constructor(
    readonly memory: PhysicalMemory,
    readonly units: readonly DmaUnitModel[],
    options: DmaEngineOptions = {},
  ) {
    const requested = options.workers ?? availableParallelism()
    if (!Number.isInteger(requested) || requested < 0) throw new RangeError(`DmaEngine: workers must be ≥ 0, got ${requested}`)
    this.workers = options.pool !== undefined ? Math.max(1, options.pool.threads?.length ?? requested) : requested
    this.pool = options.pool
    this.ownsPool = options.pool === undefined
    this.maxDevices = options.maxDevices ?? 4096
    this.devices = new Int32Array(new SharedArrayBuffer(this.maxDevices * 2 * 4))
    this.slotUsed = new Uint8Array(this.maxDevices)
    this.deviceStats = new Float64Array(new SharedArrayBuffer(this.maxDevices * DEVICE_STATS * 8))
    this.unitStats = new Float64Array(new SharedArrayBuffer(Math.max(1, units.length) * UNIT_STATS * 8))
    this.payload = {
      id: this.id,
      memory: memory.buffer,
      units: units.map((u) => u.share()),
      devices: this.devices.buffer as SharedArrayBuffer,
      unitStats: this.unitStats.buffer as SharedArrayBuffer,
      deviceStats: this.deviceStats.buffer as SharedArrayBuffer,
    }
    const shards = Math.max(1, Math.min(Math.max(1, this.workers), units.length))
    this.shardOf = Int32Array.from(units, (_, u) => u % shards)
    this.shardChains = Array.from({ length: shards }, () => Promise.resolve())
    this.local = { mem: memory, units, devices: this.devices, unitStats: this.unitStats, deviceStats: this.deviceStats, out: new WalkResult() }
  }

  /** Registers a device (StreamID / BDF `deviceId` on unit `unit`); returns its slot for descriptors. */
  addDevice(unit: number, deviceId: number): number {
    if (!Number.isInteger(unit) || unit < 0 || unit >= this.units.length) throw new RangeError(`DmaEngine: no unit ${unit}`)
    for (let s = 0; s < this.deviceCount; s++) if (this.devices[s * 2] === unit && this.devices[s * 2 + 1] === deviceId) return s
    if (this.deviceCount >= this.maxDevices) throw new RangeError(`DmaEngine: more than ${this.maxDevices} devices (option maxDevices)`)
    const slot = this.deviceCount++
    this.devices[slot * 2] = unit
    this.devices[slot * 2 + 1] = deviceId
    return slot
  }

  createBatch(capacity: number, dataBytes = 0): DmaBatch {
    return new DmaBatch(capacity, dataBytes)
  }

  /**
   * Validates every descriptor before anything runs (a bad one fails the whole batch, changing
   * nothing) and returns which shards have work. The partition itself happens in the threads,
   * each scanning the batch for its own units.
   */
  private prepare(batch: DmaBatch, count: number): Uint8Array {
    if (this.closed) throw new Error('DmaEngine: closed')
    if (this.running.has(batch)) throw new Error('DmaEngine: this batch is already running')
    if (!Number.isInteger(count) || count < 0 || count > batch.capacity) throw new RangeError(`DmaEngine: count ${count} outside the batch`)
    const device = batch.device
    const flags = batch.flags
    const deviceCount = this.deviceCount
    const slotUsed = this.slotUsed
    slotUsed.fill(0, 0, deviceCount)
    for (let i = 0; i < count; i++) {
      const slot = device[i]!
      if (slot >>> 0 >= deviceCount) throw new RangeError(`DmaEngine: descriptor ${i} names device slot ${slot}, not registered`)
      slotUsed[slot] = 1
      if ((flags[i]! & 2) !== 0) {
        const off = batch.dataOffset[i]!
        if (off < 0 || off + batch.length[i]! > batch.bytes.length) throw new RangeError(`DmaEngine: descriptor ${i} moves data outside the batch data buffer`)
      }
    }
    const busy = new Uint8Array(this.shardChains.length)
    for (let slot = 0; slot < deviceCount; slot++) if (slotUsed[slot] !== 0) busy[this.shardOf[this.devices[slot * 2]!]!] = 1
    return busy
  }

  private shardUnits(s: number): number[] {
    const out: number[] = []
    for (let u = 0; u < this.units.length; u++) if (this.shardOf[u] === s) out.push(u)
    return out
  }

  private summarize(count: number, totals: readonly ShardTotals[]): DmaRunResult {
    let faults = 0
    let bytes = 0
    for (const t of totals) {
      faults += t.faults
      bytes += t.bytes
    }
    for (const u of this.units) if (u.interruptPending) u.onInterrupt?.()
    return { descriptors: count, faults, bytes, tasks: totals.length }
  }

  /** Runs the batch on the calling thread (the single-thread fallback). */
  runSync(batch: DmaBatch, count: number = batch.count): DmaRunResult {
    const busy = this.prepare(batch, count)
    const totals: ShardTotals[] = []
    for (let s = 0; s < this.shardChains.length; s++) {
      if (busy[s] !== 0) totals.push(runShard(this.local, batch, count, this.shardUnits(s)))
    }
    return this.summarize(count, totals)
  }

  /** Runs the batch on the worker pool (or on this thread when workers = 0). */
  async run(batch: DmaBatch, count: number = batch.count): Promise<DmaRunResult> {
    if (this.workers === 0 && this.pool === undefined) return this.runSync(batch, count)
    const busy = this.prepare(batch, count)
    const pool = await this.getPool()
    // An owned pool's workers got the engine state in workerData; an injected pool's get it per task.
    const engine = this.ownsPool ? null : this.payload
    const runs: Promise<DmaTaskResult>[] = []
    for (let s = 0; s < this.shardChains.length; s++) {
      if (busy[s] === 0) continue
      const task: DmaTask = { engine, batch: batch.buffers, count, shardUnits: this.shardUnits(s) }
      // One task per shard at a time: a unit's IOTLB has a single writer.
      const run = this.shardChains[s]!.then(() => pool.run(task) as Promise<DmaTaskResult>)
      this.shardChains[s] = run.catch(() => {})
      runs.push(run)
    }
    this.running.add(batch)
    let totals: DmaTaskResult[]
    try {
      totals = await Promise.all(runs)
    } finally {
      this.running.delete(batch)
    }
    return this.summarize(count, totals)
  }

  /** Round-trip time of an empty task through the pool, in microseconds (mean of `n`). */
  async measureTaskOverhead(n = 200): Promise<number> {
    const pool = await this.getPool()
    await pool.run(null, { name: 'noop' })
    const t0 = performance.now()
    for (let i = 0; i < n; i++) await pool.run(null, { name: 'noop' })
    return ((performance.now() - t0) * 1000) / n
  }

  private async getPool(): Promise<DmaPool> {
    if (this.closed) throw new Error('DmaEngine: closed')
    if (this.pool === undefined) {
      const { Piscina } = await import('piscina')
      const worker = resolveDmaWorker()
      this.pool = new Piscina({
        filename: worker.filename,
        execArgv: worker.execArgv,
        minThreads: this.workers,
        maxThreads: this.workers,
        idleTimeout: 30_000,
        workerData: { dma: this.payload },
      }) as unknown as DmaPool
    }
    return this.pool
  }

  unitStatsOf(unit: number): UnitDmaStats {
    const s = this.unitStats
    const b = unit * UNIT_STATS
    const tlb = this.units[unit]!.iotlb?.stats()
    return { translations: s[b + US_TRANSLATIONS]!, iotlbHits: tlb?.hits ?? 0, iotlbMisses: tlb?.misses ?? 0, walkReads: s[b + US_WALK_READS]!, faults: s[b + US_FAULTS]!, bytes: s[b + US_BYTES]! }
  }

  deviceStatsOf(slot: number): DeviceDmaStats {
    const s = this.deviceStats
    const b = slot * DEVICE_STATS
    return { translations: s[b + DS_TRANSLATIONS]!, faults: s[b + DS_FAULTS]!, bytes: s[b + DS_BYTES]! }
  }

  resetStats(): void {
    this.unitStats.fill(0)
    this.deviceStats.fill(0)
    for (const u of this.units) u.iotlb?.resetStats()
  }

  /** Stops the pool this engine created (an injected pool is left to its owner). */
  async close(): Promise<void> {
    if (this.closed) return
    await Promise.allSettled(this.shardChains)
    this.closed = true
    if (this.ownsPool && this.pool !== undefined) await this.pool.destroy()
    this.pool = undefined
  }
}
