/**
 * The mock IOMMU's page table: an AMD-v1-shaped radix tree with a 2 KiB base page, living in
 * host physical memory. Tables are 4 KiB (512 × 8-byte entries); a level-L entry covers
 * 2 KiB × 512^L (level 0: 2 KiB pages, level 1: 1 MiB huge pages).
 *
 * Entry layout (our own, modelled on AMD v1, hw-formats §3.3):
 *   bit 0 PR (present) · bit 5 A (accessed) · bit 6 D (dirty) · bit 7 C (part of a 2-entry
 *   4 KiB leaf) · bits 11:9 NextLevel (0 = leaf, L = table of level L) · bits 51:12 address
 *   >> 11 (2 KiB units) · bit 61 IR · bit 62 IW.
 * Everything is done on 32-bit halves with plain numbers: no BigInt on these paths.
 * IOVAs must stay below 2^53 (JS number precision); the HUGE format's aperture is capped there.
 */
import type { PhysicalMemory } from '@iommu-sim/hw-models'

export const MOCK_PT_PAGE_SHIFT = 11
const LEVEL_BITS = 9
const ENTRIES = 512
const TABLE_BYTES = 4096

// Low-word bits
const PR = 1 << 0
const A = 1 << 5
const D = 1 << 6
const C = 1 << 7
const NL_SHIFT = 9
const NL_MASK = 7 << NL_SHIFT
// High-word bits (bit 61 → 29, bit 62 → 30)
const IR = 1 << 29
const IW = 1 << 30
const ADDR_HI_MASK = (1 << 20) - 1 // address bits 51:32 of the field


export interface WalkResult {
  /** Physical address of the page (leaf base). */
  pa: number
  /** Size of the leaf in bytes. */
  size: number
  /** IOVA of the leaf start. */
  iova: number
  readable: boolean
  writable: boolean
  /** Physical address of the leaf entry (to set A/D bits). */
  entryPa: number
}

/** Per level: 2^-shift (index by multiplication) and, per level count, the IOVA limit. */
const LEVEL_INV = Float64Array.from({ length: 8 }, (_, l) => 2 ** -(MOCK_PT_PAGE_SHIFT + LEVEL_BITS * l))
const LEVELS_LIMIT = Float64Array.from({ length: 8 }, (_, n) => 2 ** (MOCK_PT_PAGE_SHIFT + LEVEL_BITS * n))

/** Level of the leaf the last `mockFindLeaf` found (a module-level scratch: no allocation). */
export let mockLeafLevel = 0

function decodeAddr(lo: number, hi: number): number {
  return ((lo >>> 12) + (hi & ADDR_HI_MASK) * 1048576) * 2048
}

/**
 * The hardware walk of a mock page table: the physical address of the leaf entry translating
 * `iova` (0 if none), with its level in `mockLeafLevel`. Numbers only, no allocation.
 */
export function mockFindLeaf(u32: Uint32Array, root: number, levels: number, iova: number): number {
  if (!(iova >= 0 && iova < LEVELS_LIMIT[levels]!)) return 0
  let table = root
  for (let l = levels - 1; l >= 0; l--) {
    const e = table + (Math.floor(iova * LEVEL_INV[l]!) & (ENTRIES - 1)) * 8
    const lo = u32[e >>> 2]!
    if ((lo & PR) === 0) return 0
    const hi = u32[(e >>> 2) + 1]!
    if (((lo & NL_MASK) >>> NL_SHIFT) === 0) {
      mockLeafLevel = l
      return e
    }
    table = decodeAddr(lo, hi)
  }
  return 0
}

/** Output address, permissions and dirty marking of a leaf entry found by mockFindLeaf. */
export function mockLeafOutput(u32: Uint32Array, entry: number): number {
  return decodeAddr(u32[entry >>> 2]!, u32[(entry >>> 2) + 1]!)
}
export function mockLeafReadable(u32: Uint32Array, entry: number): boolean {
  return (u32[(entry >>> 2) + 1]! & IR) !== 0
}
export function mockLeafWritable(u32: Uint32Array, entry: number): boolean {
  return (u32[(entry >>> 2) + 1]! & IW) !== 0
}
/** Sets A and D on a leaf (both halves of a contiguous 4 KiB leaf). */
export function mockMarkDirty(u32: Uint32Array, entry: number): void {
  u32[entry >>> 2] = (u32[entry >>> 2]! | A | D) >>> 0
  if ((u32[entry >>> 2]! & C) !== 0) {
    const pair = (entry & 8) === 0 ? entry + 8 : entry - 8
    u32[pair >>> 2] = (u32[pair >>> 2]! | A | D) >>> 0
  }
}

export class MockPageTable {
  readonly root: number
  /** Frames of every table in the tree (to free them all). */
  private readonly tables = new Set<number>()

  constructor(
    private readonly mem: PhysicalMemory,
    /** Number of table levels (the root is level `levels - 1`). */
    readonly levels: number,
  ) {
    this.root = this.newTable()
  }

  /** Bytes covered by one entry at `level`. */
  static entrySize(level: number): number {
    return 2 ** (MOCK_PT_PAGE_SHIFT + LEVEL_BITS * level)
  }

  private newTable(): number {
    const pa = this.mem.allocFrames(1)
    this.tables.add(pa)
    return pa
  }

  private index(iova: number, level: number): number {
    return Math.floor(iova / MockPageTable.entrySize(level)) % ENTRIES
  }

  private static encodeLo(pa: number, nextLevel: number, flags: number): number {
    const unit = pa / 2048 // pa in 2 KiB units; low 20 bits go to bits 31:12
    return (((unit % 1048576) << 12) | (nextLevel << NL_SHIFT) | flags) >>> 0
  }

  private static encodeHi(pa: number, prot: number): number {
    const unit = Math.floor(pa / 2048)
    return ((Math.floor(unit / 1048576) & ADDR_HI_MASK) | prot) >>> 0
  }

  private static decodeAddr(lo: number, hi: number): number {
    return decodeAddr(lo, hi)
  }

  /** Table at `level` covering `iova`, creating intermediate tables when `create`. 0 if absent. */
  private tableFor(iova: number, level: number, create: boolean): number {
    const u32 = this.mem.u32
    let table = this.root
    for (let l = this.levels - 1; l > level; l--) {
      const e = table + this.index(iova, l) * 8
      const lo = u32[e >>> 2]!
      if ((lo & PR) === 0) {
        if (!create) return 0
        const next = this.newTable()
        this.mem.store64Ordered(e, MockPageTable.encodeLo(next, l, PR), MockPageTable.encodeHi(next, IR | IW))
        table = next
        continue
      }
      const nl = (lo & NL_MASK) >>> NL_SHIFT
      if (nl === 0) return 0 // a leaf above `level` covers this IOVA
      table = MockPageTable.decodeAddr(lo, u32[(e >>> 2) + 1]!)
    }
    return table
  }

  /**
   * Maps `count` leaves of `leafSize` bytes (2 KiB, 4 KiB as two contiguous 2 KiB entries, or
   * 1 MiB) from `iova` to `pa`. Refuses to overwrite a present entry; on failure nothing is left
   * mapped. Returns false if an entry was already present.
   */
  map(iova: number, pa: number, leafSize: number, count: number, readable: boolean, writable: boolean): boolean {
    const prot = (readable ? IR : 0) | (writable ? IW : 0)
    const level = leafSize >= MockPageTable.entrySize(1) ? 1 : 0
    const step = MockPageTable.entrySize(level)
    const contig = leafSize === 4096 && level === 0
    const total = (leafSize / step) * count
    const u32 = this.mem.u32
    // Check first, so a clash leaves the table untouched.
    for (let i = 0; i < total; i++) {
      const cur = iova + i * step
      if (this.lookup(cur, null) !== 0) return false
      if (level === 1) {
        const t = this.tableFor(cur, 1, false)
        const e = t === 0 ? 0 : t + this.index(cur, 1) * 8
        if (e !== 0 && (u32[e >>> 2]! & PR) !== 0 && !this.isEmptyTable(MockPageTable.decodeAddr(u32[e >>> 2]!, u32[(e >>> 2) + 1]!))) return false
      }
    }
    for (let i = 0; i < total; i++) {
      const cur = iova + i * step
      const t = this.tableFor(cur, level, true)
      const e = t + this.index(cur, level) * 8
      if (level === 1 && (u32[e >>> 2]! & PR) !== 0) {
        // An empty level-0 table is replaced by the huge leaf.
        const child = MockPageTable.decodeAddr(u32[e >>> 2]!, u32[(e >>> 2) + 1]!)
        this.mem.clear64Ordered(e)
        this.tables.delete(child)
        this.mem.freeFrames(child)
      }
      const out = pa + i * step
      this.mem.store64Ordered(e, MockPageTable.encodeLo(out, 0, PR | (contig ? C : 0)), MockPageTable.encodeHi(out, prot))
    }
    return true
  }

  private isEmptyTable(table: number): boolean {
    const u32 = this.mem.u32
    for (let i = 0; i < ENTRIES; i++) if ((u32[(table >>> 2) + i * 2]! & PR) !== 0) return false
    return true
  }

  /** Level of the leaf found by the last successful lookup(). */
  private lastLevel = 0

  /**
   * Finds the leaf entry for `iova`; returns its physical address (0 if none) and fills `out`.
   * `lastLevel` is left at the leaf's level.
   */
  lookup(iova: number, out: WalkResult | null): number {
    const u32 = this.mem.u32
    const e = mockFindLeaf(u32, this.root, this.levels, iova)
    if (e === 0) return 0
    const l = mockLeafLevel
    this.lastLevel = l
    if (out !== null) {
      const size = MockPageTable.entrySize(l)
      const leafIova = Math.floor(iova / size) * size
      out.pa = mockLeafOutput(u32, e) + (iova - leafIova)
      out.iova = iova
      out.size = size - (iova - leafIova)
      out.readable = mockLeafReadable(u32, e)
      out.writable = mockLeafWritable(u32, e)
      out.entryPa = e
    }
    return e
  }

  /** Clears every leaf in [iova, iova + length); returns the bytes that were mapped. */
  unmap(iova: number, length: number): number {
    let done = 0
    let cur = iova
    const end = iova + length
    while (cur < end) {
      const e = this.lookup(cur, null)
      const size = MockPageTable.entrySize(e === 0 ? 0 : this.lastLevel)
      if (e !== 0) {
        this.mem.clear64Ordered(e)
        done += size
      }
      cur = Math.floor(cur / size) * size + size
    }
    return done
  }

  /** Sets A and D on the leaf for `iova` (a hardware write with dirty tracking on). */
  markDirty(iova: number): boolean {
    const e = this.lookup(iova, null)
    if (e === 0) return false
    mockMarkDirty(this.mem.u32, e)
    return true
  }

  /** Visits dirty leaves intersecting [iova, iova + length); clears D unless `noClear`. */
  readAndClearDirty(iova: number, length: number, noClear: boolean, record: (iova: number, size: number) => void): void {
    const u32 = this.mem.u32
    let cur = iova
    const end = iova + length
    while (cur < end) {
      const e = this.lookup(cur, null)
      const size = MockPageTable.entrySize(e === 0 ? 0 : this.lastLevel)
      const leafStart = Math.floor(cur / size) * size
      if (e !== 0 && (u32[e >>> 2]! & D) !== 0) {
        record(leafStart, size)
        if (!noClear) u32[e >>> 2] = (u32[e >>> 2]! & ~D) >>> 0
      }
      cur = leafStart + size
    }
  }

  /** Releases every table frame. */
  free(): void {
    for (const t of this.tables) this.mem.freeFrames(t)
    this.tables.clear()
  }

  /** Number of table frames in use (tests check tables are reclaimed). */
  get tableCount(): number {
    return this.tables.size
  }
}

export const MOCK_PT_TABLE_BYTES = TABLE_BYTES
