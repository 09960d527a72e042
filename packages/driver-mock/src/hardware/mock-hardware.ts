/**
 * The mock IOMMU as hardware the DMA engine can run on any thread: a device table (device id +
 * PASID → domain slot) and a domain table (root, levels, dirty tracking) in SharedArrayBuffers,
 * and a translate that walks the domain's page table in host memory. The mock has no IOTLB and no
 * invalidation queue: every translation walks memory, so a change is visible to the next one.
 * Imported by workers by URL (see `share()`), so it imports hw-models only.
 */
import { Perm, type DmaUnitModel, type ExternalUnitState, type PhysicalMemory, type WalkResult } from '@iommu-sim/hw-models'
import { MOCK_PT_PAGE_SHIFT, mockFindLeaf, mockLeafLevel, mockLeafOutput, mockLeafReadable, mockLeafWritable, mockMarkDirty } from '../pagetable/mock-page-table.js'

/** Leaf size per level and its inverse (hot path: no `2 **`, no division). */
const LEAF_SIZE = Float64Array.from({ length: 8 }, (_, l) => 2 ** (MOCK_PT_PAGE_SHIFT + 9 * l))
const LEAF_INV = Float64Array.from({ length: 8 }, (_, l) => 2 ** -(MOCK_PT_PAGE_SHIFT + 9 * l))

/** translate() results besides 0 (translated). */
export const MOCK_HW_TRANSLATION_FAULT = 1
export const MOCK_HW_PERMISSION_FAULT = 2
export const MOCK_HW_BLOCKED = -1

const DOMAINS = 1024
const D_USED = 0
const D_ROOT = 1
const D_LEVELS = 2
const D_FLAGS = 3
const D_WORDS = 4
const FLAG_TRACKING = 1

const DEVICES = 4096 // open-addressed, power of two
const E_STATE = 0 // 0 empty, 1 used, 2 deleted
const E_DEV = 1
const E_PASID = 2 // pasid + 1; 0 = RID
const E_SLOT = 3
const E_WORDS = 4

export interface MockHardwareState extends ExternalUnitState {
  readonly kind: 'mock-iommu'
  readonly domains: SharedArrayBuffer
  readonly devices: SharedArrayBuffer
}

export class MockHardware implements DmaUnitModel {
  readonly domains: Int32Array
  readonly devices: Int32Array
  onInterrupt: (() => void) | undefined
  readonly interruptPending = false

  constructor(
    readonly mem: PhysicalMemory,
    shared?: MockHardwareState,
  ) {
    this.domains = new Int32Array(shared?.domains ?? new SharedArrayBuffer(DOMAINS * D_WORDS * 4))
    this.devices = new Int32Array(shared?.devices ?? new SharedArrayBuffer(DEVICES * E_WORDS * 4))
  }

  // ---- programming (main thread, by the driver) ----------------------------------------------

  /** A domain slot for a page table at `root` with `levels` levels. */
  allocDomain(root: number, levels: number): number {
    const d = this.domains
    for (let s = 0; s < DOMAINS; s++) {
      if (d[s * D_WORDS + D_USED] === 0) {
        d[s * D_WORDS + D_ROOT] = root | 0
        d[s * D_WORDS + D_LEVELS] = levels
        d[s * D_WORDS + D_FLAGS] = 0
        Atomics.store(d, s * D_WORDS + D_USED, 1)
        return s
      }
    }
    throw new RangeError(`mock IOMMU: more than ${DOMAINS} domains`)
  }

  freeDomain(slot: number): void {
    Atomics.store(this.domains, slot * D_WORDS + D_USED, 0)
  }

  setTracking(slot: number, on: boolean): void {
    const i = slot * D_WORDS + D_FLAGS
    Atomics.store(this.domains, i, on ? this.domains[i]! | FLAG_TRACKING : this.domains[i]! & ~FLAG_TRACKING)
  }

  private find(dev: number, pasidKey: number): number {
    const t = this.devices
    let h = (Math.imul(dev ^ (pasidKey << 16), 0x9e3779b1) >>> 20) & (DEVICES - 1)
    for (let n = 0; n < DEVICES; n++, h = (h + 1) & (DEVICES - 1)) {
      const st = t[h * E_WORDS + E_STATE]!
      if (st === 0) return -1 - h // not found; -1 - first empty slot
      if (st === 1 && t[h * E_WORDS + E_DEV] === dev && t[h * E_WORDS + E_PASID] === pasidKey) return h
    }
    return -1 - DEVICES
  }

  /** Points (device, PASID) at a domain slot, or blocks it (slot −1). */
  setDevice(dev: number, pasid: number | undefined, slot: number): void {
    const key = pasid === undefined ? 0 : pasid + 1
    let h = this.find(dev, key)
    const t = this.devices
    if (h < 0) {
      if (slot < 0) return // blocked is the default
      h = -1 - h
      if (h >= DEVICES) throw new RangeError('mock IOMMU: device table full')
      t[h * E_WORDS + E_DEV] = dev
      t[h * E_WORDS + E_PASID] = key
      t[h * E_WORDS + E_SLOT] = slot
      Atomics.store(t, h * E_WORDS + E_STATE, 1)
      return
    }
    Atomics.store(t, h * E_WORDS + E_SLOT, slot)
  }

  // ---- the hardware (any thread) -------------------------------------------------------------

  translate(dev: number, ssid: number, iova: number, write: boolean, out: WalkResult): number {
    const h = this.find(dev, ssid < 0 ? 0 : ssid + 1)
    const slot = h < 0 ? -1 : this.devices[h * E_WORDS + E_SLOT]!
    if (slot < 0) {
      out.clear()
      return MOCK_HW_BLOCKED
    }
    const d = this.domains
    const u32 = this.mem.u32
    const e = mockFindLeaf(u32, d[slot * D_WORDS + D_ROOT]! >>> 0, d[slot * D_WORDS + D_LEVELS]!, iova)
    out.reads = d[slot * D_WORDS + D_LEVELS]!
    if (e === 0) {
      out.fault = 1
      out.faultAddress = iova
      return MOCK_HW_TRANSLATION_FAULT
    }
    const level = mockLeafLevel
    const readable = mockLeafReadable(u32, e)
    const writable = mockLeafWritable(u32, e)
    if (write ? !writable : !readable) {
      out.fault = 2
      out.faultAddress = iova
      return MOCK_HW_PERMISSION_FAULT
    }
    if (write && (d[slot * D_WORDS + D_FLAGS]! & FLAG_TRACKING) !== 0) mockMarkDirty(u32, e)
    const lg2 = MOCK_PT_PAGE_SHIFT + 9 * level
    out.fault = 0
    out.sizeLg2 = lg2
    out.level = level
    out.oa = mockLeafOutput(u32, e) + (iova - Math.floor(iova * LEAF_INV[level]!) * LEAF_SIZE[level]!)
    out.perm = (readable ? Perm.R | Perm.PR : 0) | (writable ? Perm.W | Perm.PW : 0)
    return 0
  }

  beginBatch(): void {}
  endBatch(): void {}

  share(): MockHardwareState {
    return { kind: 'mock-iommu', module: import.meta.url, domains: this.domains.buffer as SharedArrayBuffer, devices: this.devices.buffer as SharedArrayBuffer }
  }
}

/** Entry point workers import by URL (see `DmaUnitModel` in hw-models). */
export function attachUnitModel(mem: PhysicalMemory, state: ExternalUnitState): DmaUnitModel {
  return new MockHardware(mem, state as MockHardwareState)
}
