/**
 * The translation loop one thread runs for one shard of a batch: the descriptors whose units
 * belong to the shard, in batch order. Shared by the worker and the single-thread path so both
 * give identical results. Hot path: typed arrays, one reused WalkResult, no allocation.
 */
import type { PhysicalMemory } from '../memory/physical-memory.js'
import { WalkResult } from '../walk/result.js'
import { DMA_TRANSFER, DMA_WRITE, type DmaBatch } from './batch.js'
import type { DmaUnitModel } from './unit-model.js'

/** Per-unit statistics columns (Float64, stride UNIT_STATS). */
export const US_TRANSLATIONS = 0
export const US_FAULTS = 1
export const US_WALK_READS = 2
export const US_BYTES = 3
export const UNIT_STATS = 4
/** Per-device statistics columns (Float64, stride DEVICE_STATS). */
export const DS_TRANSLATIONS = 0
export const DS_FAULTS = 1
export const DS_BYTES = 2
export const DEVICE_STATS = 3

export interface ShardContext {
  readonly mem: PhysicalMemory
  readonly units: readonly DmaUnitModel[]
  /** Engine device table: [unit, deviceId] per slot. */
  readonly devices: Int32Array
  readonly unitStats: Float64Array
  readonly deviceStats: Float64Array
  readonly out: WalkResult
}

/** Runs descriptors order[start..end) of `batch`. Units of the shard are gated for the whole run. */
export function runShard(ctx: ShardContext, batch: DmaBatch, order: Int32Array, start: number, end: number, shardUnits: readonly number[]): void {
  for (const u of shardUnits) ctx.units[u]!.beginBatch()
  try {
    const u8 = ctx.mem.u8
    const data = batch.bytes
    const out = ctx.out
    const devices = ctx.devices
    const us = ctx.unitStats
    const ds = ctx.deviceStats
    for (let k = start; k < end; k++) {
      const i = order[k]!
      const slot = batch.device[i]!
      const unitIndex = devices[slot * 2]!
      const unit = ctx.units[unitIndex]!
      const sid = devices[slot * 2 + 1]!
      const flags = batch.flags[i]!
      const write = (flags & DMA_WRITE) !== 0
      const transfer = (flags & DMA_TRANSFER) !== 0
      const ssid = batch.ssid[i]!
      let iova = batch.iova[i]!
      let remaining = batch.length[i]! > 0 ? batch.length[i]! : 1
      let dataOff = batch.dataOffset[i]!
      let moved = 0
      let fault = 0
      let first = true
      while (remaining > 0) {
        out.reads = 0
        const rc = unit.translate(sid, ssid, iova, write, out)
        us[unitIndex * UNIT_STATS + US_TRANSLATIONS]!++
        us[unitIndex * UNIT_STATS + US_WALK_READS]! += out.reads
        ds[slot * DEVICE_STATS + DS_TRANSLATIONS]!++
        if (rc !== 0) {
          fault = rc
          us[unitIndex * UNIT_STATS + US_FAULTS]!++
          ds[slot * DEVICE_STATS + DS_FAULTS]!++
          break
        }
        const size = 2 ** out.sizeLg2
        const inPage = size - (iova % size)
        const n = inPage < remaining ? inPage : remaining
        if (first) {
          batch.pa[i] = out.oa
          first = false
        }
        if (transfer && batch.length[i]! > 0) {
          const pa = out.oa
          if (write) u8.set(data.subarray(dataOff, dataOff + n), pa)
          else data.set(u8.subarray(pa, pa + n), dataOff)
          moved += n
        }
        remaining -= n
        iova += n
        dataOff += n
      }
      if (first) batch.pa[i] = -1
      batch.moved[i] = moved
      batch.fault[i] = fault
      us[unitIndex * UNIT_STATS + US_BYTES]! += moved
      ds[slot * DEVICE_STATS + DS_BYTES]! += moved
    }
  } finally {
    for (const u of shardUnits) ctx.units[u]!.endBatch()
  }
}
