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
  readonly order: SharedArrayBuffer
  readonly start: number
  readonly end: number
  readonly shardUnits: readonly number[]
}
