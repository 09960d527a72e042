import type { DmaBatchBuffers } from './batch.js'
import type { SharedUnitState } from './unit-model.js'

/** What a worker task carries: shared buffers and offsets, nothing cloned but handles. */
export interface DmaTask {
  /** The engine's shared state, or null when the worker has it in workerData. */
  readonly engine: {
    readonly id: number
    readonly memory: SharedArrayBuffer
    readonly units: readonly SharedUnitState[]
    readonly devices: SharedArrayBuffer
    readonly unitStats: SharedArrayBuffer
    readonly deviceStats: SharedArrayBuffer
  } | null
  readonly batch: DmaBatchBuffers
  /** Descriptors 0..count-1 are the batch; the task runs those behind `shardUnits`. */
  readonly count: number
  readonly shardUnits: readonly number[]
}

/** What a worker task returns (plain values). */
export interface DmaTaskResult {
  readonly faults: number
  readonly bytes: number
}
