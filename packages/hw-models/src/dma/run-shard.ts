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

/** Thread-local accumulators: counting in private memory and adding once per shard is cheaper. */
let localUnit = new Float64Array(0)
let localDevice = new Float64Array(0)

/** What one shard run did: the totals the engine reports without rescanning the batch. */
export interface ShardTotals {
  readonly faults: number
  readonly bytes: number
}

/** Per-unit "in this shard" flags, reused. */
let mine = new Uint8Array(0)

/**
 * Runs, in batch order, the descriptors 0..count-1 of `batch` whose device sits behind one of
 * `shardUnits`; the others belong to other shards. Every thread scans the batch itself, so
 * nothing is partitioned serially before the run. Units of the shard are gated for the whole run.
 */
export function runShard(ctx: ShardContext, batch: DmaBatch, count: number, shardUnits: readonly number[]): ShardTotals {
  let faults = 0
  let bytes = 0
  if (mine.length < ctx.units.length) mine = new Uint8Array(ctx.units.length)
  mine.fill(0)
  for (const u of shardUnits) mine[u] = 1
  const inShard = mine
  for (const u of shardUnits) ctx.units[u]!.beginBatch()
  try {
    const u8 = ctx.mem.u8
    const data = batch.bytes
    const out = ctx.out
    const devices = ctx.devices
    if (localUnit.length < ctx.unitStats.length) localUnit = new Float64Array(ctx.unitStats.length)
    if (localDevice.length < ctx.deviceStats.length) localDevice = new Float64Array(ctx.deviceStats.length)
    const us = localUnit
    const ds = localDevice
    us.fill(0)
    ds.fill(0)
    const descDevice = batch.device
    const descFlags = batch.flags
    const descSsid = batch.ssid
    const descIova = batch.iova
    const descLength = batch.length
    const resPa = batch.pa
    const resMoved = batch.moved
    const resFault = batch.fault
    for (let i = 0; i < count; i++) {
      const slot = descDevice[i]!
      const unitIndex = devices[slot * 2]!
      if (inShard[unitIndex] === 0) continue
      const unit = ctx.units[unitIndex]!
      const sid = devices[slot * 2 + 1]!
      const flags = descFlags[i]!
      const write = (flags & DMA_WRITE) !== 0
      const transfer = (flags & DMA_TRANSFER) !== 0
      const ssid = descSsid[i]!
      let iova = descIova[i]!
      const length = descLength[i]!
      if (length <= 0) {
        // Translate only: the common case, kept short.
        out.reads = 0
        const rc = unit.translate(sid, ssid, iova, write, out)
        us[unitIndex * UNIT_STATS + US_TRANSLATIONS]!++
        us[unitIndex * UNIT_STATS + US_WALK_READS]! += out.reads
        ds[slot * DEVICE_STATS + DS_TRANSLATIONS]!++
        resPa[i] = rc === 0 ? out.oa : -1
        resMoved[i] = 0
        resFault[i] = rc
        if (rc !== 0) {
          faults++
          us[unitIndex * UNIT_STATS + US_FAULTS]!++
          ds[slot * DEVICE_STATS + DS_FAULTS]!++
        }
        continue
      }
      let remaining = length
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
          resPa[i] = out.oa
          first = false
        }
        if (transfer && length > 0) {
          const pa = out.oa
          if (write) u8.set(data.subarray(dataOff, dataOff + n), pa)
          else data.set(u8.subarray(pa, pa + n), dataOff)
          moved += n
        }
        remaining -= n
        iova += n
        dataOff += n
      }
      if (first) resPa[i] = -1
      resMoved[i] = moved
      resFault[i] = fault
      if (fault !== 0) faults++
      bytes += moved
      us[unitIndex * UNIT_STATS + US_BYTES]! += moved
      ds[slot * DEVICE_STATS + DS_BYTES]! += moved
    }
    // Only this shard's units and devices have counts; adding zeros to the others' slots would
    // race with the threads that own them (a lost update), so skip them.
    const sharedUnit = ctx.unitStats
    for (let k = 0; k < sharedUnit.length; k++) if (us[k] !== 0) sharedUnit[k]! += us[k]!
    const sharedDevice = ctx.deviceStats
    for (let k = 0; k < sharedDevice.length; k++) if (ds[k] !== 0) sharedDevice[k]! += ds[k]!
  } finally {
    for (const u of shardUnits) ctx.units[u]!.endBatch()
  }
  return { faults, bytes }
}
