/**
 * The DMA engine's piscina worker: rebuilds memory and unit views from shared state once per
 * engine (cached by engine id), then runs shards of batches. Results and statistics are written
 * into shared arrays; the return value is a plain summary.
 */
import { PhysicalMemory } from '../memory/physical-memory.js'
import { WalkResult } from '../walk/result.js'
import { DmaBatch } from './batch.js'
import { runShard, type ShardContext } from './run-shard.js'
import { attachUnitModel } from './unit-model.js'
import type { DmaTask, DmaTaskResult } from './task.js'
import { workerData } from 'piscina'

const contexts = new Map<number, ShardContext>()

async function contextFor(task: DmaTask): Promise<ShardContext> {
  const engine = task.engine ?? (workerData as { dma: NonNullable<DmaTask['engine']> }).dma
  let ctx = contexts.get(engine.id)
  if (ctx === undefined) {
    const mem = PhysicalMemory.attach(engine.memory)
    ctx = {
      mem,
      units: await Promise.all(engine.units.map((u) => attachUnitModel(mem, u))),
      devices: new Int32Array(engine.devices),
      unitStats: new Float64Array(engine.unitStats),
      deviceStats: new Float64Array(engine.deviceStats),
      out: new WalkResult(),
    }
    contexts.set(engine.id, ctx)
  }
  return ctx
}

export default async function runDmaTask(task: DmaTask): Promise<DmaTaskResult> {
  const ctx = await contextFor(task)
  const batch = DmaBatch.attach(task.batch)
  const { faults, bytes } = runShard(ctx, batch, task.count, task.shardUnits)
  return { faults, bytes }
}

/** A no-op task: measures the pool's per-task overhead. */
export function noop(): number {
  return 0
}
