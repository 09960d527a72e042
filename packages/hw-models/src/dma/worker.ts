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
import type { DmaTask } from './task.js'

const contexts = new Map<number, ShardContext>()

function contextFor(task: DmaTask): ShardContext {
  let ctx = contexts.get(task.engine.id)
  if (ctx === undefined || ctx.units.length !== task.engine.units.length) {
    const mem = PhysicalMemory.attach(task.engine.memory)
    ctx = {
      mem,
      units: task.engine.units.map((u) => attachUnitModel(mem, u)),
      devices: new Int32Array(task.engine.devices),
      unitStats: new Float64Array(task.engine.unitStats),
      deviceStats: new Float64Array(task.engine.deviceStats),
      out: new WalkResult(),
    }
    contexts.set(task.engine.id, ctx)
  } else if (ctx.devices.buffer !== task.engine.devices) {
    // The device table grew: take the new shared arrays.
    ctx = { ...ctx, devices: new Int32Array(task.engine.devices), deviceStats: new Float64Array(task.engine.deviceStats) }
    contexts.set(task.engine.id, ctx)
  }
  return ctx
}

export default function runDmaTask(task: DmaTask): { done: number } {
  const ctx = contextFor(task)
  const batch = DmaBatch.attach(task.batch)
  runShard(ctx, batch, new Int32Array(task.order), task.start, task.end, task.shardUnits)
  return { done: task.end - task.start }
}

/** A no-op task: measures the pool's per-task overhead. */
export function noop(): number {
  return 0
}
