/**
 * A page table owned by a driver: map / unmap / iova-to-phys over any {@link PageTableFormat},
 * with its tables allocated from {@link PhysicalMemory}. Control path: arguments may be bigint,
 * errors are thrown; descriptor writes are ordered for concurrent walkers (install high word then
 * low word, clear low word first, replace present entries with one 64-bit atomic store).
 */
import type { PhysicalMemory } from '../memory/physical-memory.js'
import { WalkResult } from '../walk/result.js'
import { walk } from '../walk/walk.js'
import { EntryType, type PageTableFormat } from './format.js'
import { PageTableError } from './errors.js'

/** One mapped leaf group, as listed by {@link PageTable.mappings}. */
export interface MappedLeaf {
  /** input address (canonical: negative for the upper half of a sign-extended format) */
  readonly iova: number
  readonly oa: number
  readonly sizeLg2: number
  /** architecture-numbered level of the leaf */
  readonly level: number
  /** permissions the leaf descriptor grants on its own */
  readonly perm: number
}

/**
 * Tables removed by `unmap`, kept until the caller has invalidated the IOTLB / walk caches (as
 * Linux's iommu_iotlb_gather freelist); `release()` returns them to physical memory.
 */
export class TableGather {
  private readonly pending: number[] = []
  constructor(readonly mem: PhysicalMemory) {}

  add(pa: number, frames: number): void {
    this.pending.push(pa, frames)
  }

  /** Number of tables waiting. */
  get count(): number {
    return this.pending.length / 2
  }

  release(): void {
    for (let i = 0; i < this.pending.length; i += 2) this.mem.freeFrames(this.pending[i]!, this.pending[i + 1]!)
    this.pending.length = 0
  }
}

const TWO64 = 18446744073709551616n
const TWO63 = 9223372036854775808n

export class PageTable {
  /** Physical address of the root table (what the driver programs into TTB / SSPTPTR / DTE). */
  readonly root: number
  private frames: number
  private alive = true
  private readonly w = new Uint32Array(2)
  private readonly attrs = new Uint32Array(2)
  private readonly scratch = new WalkResult()
  /** generic level holding leaves of each log2 size, -1 when the format has none */
  private readonly levelOfSize = new Int8Array(64).fill(-1)
  private readonly minPageLg2: number
  /** the format's page sizes in bytes, largest first */
  private readonly sizes: Float64Array

  constructor(readonly mem: PhysicalMemory, readonly format: PageTableFormat) {
    for (let lg2 = 0; lg2 < 64; lg2++) {
      for (let g = format.topLevel; g >= 0; g--) {
        if (format.lvLeaf[g] === 1 && format.lvShift[g]! <= lg2) {
          this.levelOfSize[lg2] = g
          break
        }
      }
    }
    this.minPageLg2 = Math.min(...format.pageSizesLg2)
    this.sizes = Float64Array.from(format.pageSizesLg2, (l) => 2 ** l)
    this.root = mem.allocFrames(format.rootFrames, format.rootAlignFrames)
    this.frames = format.rootFrames
  }

  /** Frames of physical memory used by the tables, root included. */
  get tableFrameCount(): number {
    return this.frames
  }

  /**
   * Maps `[iova, iova + size)` to `[pa, pa + size)` with Linux `IOMMU_*` protection flags,
   * choosing at each step the largest page size the format (and its `pageSizes`) allows for the
   * alignment of both addresses and the remaining length. Throws EEXIST if any part is mapped,
   * EINVAL for bad arguments, ENOMEM when out of memory; a failed map changes nothing.
   */
  map(iova: number | bigint, pa: number | bigint, size: number | bigint, prot: number): void {
    this.checkAlive()
    const fmt = this.format
    const iv = this.inputNumber(iova, 'iova')
    const p = toSafe(pa, 'pa')
    const sz = toSafe(size, 'size')
    const align = 2 ** this.minPageLg2
    if (sz <= 0 || !aligned(iv, align) || !aligned(p, align) || !aligned(sz, align)) {
      throw new PageTableError('EINVAL', `${fmt.name}: map of [0x${iv.toString(16)}, +0x${sz.toString(16)}) -> 0x${p.toString(16)} is not ${align}-byte aligned`)
    }
    this.checkInputRange(iv, sz)
    if (p < 0 || p + sz > fmt.outputLimit) throw new PageTableError('EINVAL', `${fmt.name}: output 0x${p.toString(16)}+0x${sz.toString(16)} exceeds ${fmt.outputBits}-bit addresses`)
    fmt.codec.protToAttrs(fmt, prot, this.attrs)
    this.mapRange(iv, p, sz)
  }

  /**
   * Unmaps every leaf in `[iova, iova + size)`, splitting a block or contiguous group that straddles
   * either end (so the rest of it stays mapped). Tables wholly inside the range are freed — into
   * `gather` if given, so the caller can release them after invalidating. Returns the bytes that
   * were mapped (0 when nothing was).
   */
  unmap(iova: number | bigint, size: number | bigint, gather?: TableGather): number {
    this.checkAlive()
    const fmt = this.format
    const iv = this.inputNumber(iova, 'iova')
    const sz = toSafe(size, 'size')
    const align = 2 ** fmt.granuleLg2
    if (sz <= 0 || !aligned(iv, align) || !aligned(sz, align)) {
      throw new PageTableError('EINVAL', `${fmt.name}: unmap of [0x${iv.toString(16)}, +0x${sz.toString(16)}) is not ${align}-byte aligned`)
    }
    this.checkInputRange(iv, sz)
    return this.unmapRange(iv, sz, gather ?? null)
  }

  /** Output address of `iova`, or -1 when it does not translate. */
  iovaToPhys(iova: number | bigint): number {
    this.checkAlive()
    const v = this.inputNumber(iova, 'iova')
    return walk(this.mem, this.format, this.root, v, 0, this.scratch) ? this.scratch.oa : -1
  }

  /** Walks this table (see {@link walk}). */
  walk(iova: number, required: number, out: WalkResult): boolean {
    return walk(this.mem, this.format, this.root, iova, required, out)
  }

  /** Every mapped leaf group, in input-address order (control path; allocates). */
  mappings(): MappedLeaf[] {
    this.checkAlive()
    const out: MappedLeaf[] = []
    this.collect(this.root, this.format.topLevel, 0, out)
    if (this.format.signExtended) out.sort((a, b) => a.iova - b.iova)
    return out
  }

  /**
   * Calls `fn` for every leaf descriptor that maps part of [iova, iova + size), in address order,
   * with the leaf's input address, its size (one entry, not a contiguous group) and the physical
   * address of the descriptor (control path: e.g. harvesting HTTU dirty state). Formats without
   * sign extension only.
   */
  forEachLeaf(iova: number | bigint, size: number | bigint, fn: (leafIova: number, sizeLg2: number, descriptorPa: number) => void): void {
    this.checkAlive()
    if (this.format.signExtended) throw new PageTableError('EINVAL', `${this.format.name}: forEachLeaf needs a format without sign extension`)
    const start = this.inputNumber(iova, 'iova')
    const end = start + this.inputNumber(size, 'size')
    if (end > start) this.leavesIn(this.root, this.format.topLevel, 0, start, end, fn)
  }

  private leavesIn(table: number, g: number, base: number, start: number, end: number, fn: (leafIova: number, sizeLg2: number, descriptorPa: number) => void): void {
    const fmt = this.format
    const codec = fmt.codec
    const esz = fmt.lvPow[g]!
    const first = Math.max(0, Math.floor((start - base) / esz))
    const last = Math.min(fmt.entriesAt(g) - 1, Math.floor((end - 1 - base) / esz))
    for (let i = first; i <= last; i++) {
      const ea = table + i * 8
      this.read(ea)
      const lo = this.w[0]!
      const hi = this.w[1]!
      const t = codec.entryType(fmt, g, lo, hi)
      if (t === EntryType.TABLE) {
        if (codec.tableLevel(fmt, g, lo, hi) === g - 1) this.leavesIn(codec.tableAddress(fmt, g, lo, hi), g - 1, base + i * esz, start, end, fn)
      } else if (t === EntryType.LEAF) {
        fn(base + i * esz, fmt.lvShift[g]!, ea)
      }
    }
  }

  /** Frees every table, root included. The page table cannot be used afterwards. */
  destroy(): void {
    this.checkAlive()
    this.freeChildren(this.root, this.format.topLevel, null)
    this.mem.freeFrames(this.root, this.format.rootFrames)
    this.frames = 0
    this.alive = false
  }

  // ---------------------------------------------------------------------------------------
  // internals. Input addresses stay canonical (negative for the upper half of sign-extended
  // formats): floor(x · 2^-shift) & mask is the right two's-complement index for negatives, and a
  // power-of-two aligned chunk never straddles 0, so no conversion (which would exceed 2^53 for
  // 57-bit inputs) is needed. Only the root's slot numbers can come out negative; `& mask` maps
  // them onto the upper half of the root.

  private checkAlive(): void {
    if (!this.alive) throw new PageTableError('EINVAL', `${this.format.name}: page table was destroyed`)
  }

  private inputNumber(x: number | bigint, what: string): number {
    if (typeof x === 'bigint' && this.format.signExtended && x >= TWO63 && x < TWO64) x -= TWO64
    return toSafe(x, what)
  }

  private checkInputRange(iv: number, sz: number): void {
    const fmt = this.format
    if (iv < fmt.inputMin || iv + sz > fmt.inputLimit) {
      throw new PageTableError('EINVAL', `${fmt.name}: [0x${iv.toString(16)}, +0x${sz.toString(16)}) is outside the ${fmt.inputBits}-bit input range`)
    }
  }

  private read(ea: number): void {
    const i = ea >>> 2
    this.w[0] = this.mem.u32[i]!
    this.w[1] = this.mem.u32[i + 1]!
  }

  private allocTable(): number {
    const fmt = this.format
    const pa = this.mem.allocFrames(fmt.tableFrames, fmt.tableFrames)
    this.frames += fmt.tableFrames
    return pa
  }

  private freeTable(pa: number, gather: TableGather | null): void {
    const n = this.format.tableFrames
    if (gather !== null) gather.add(pa, n)
    else this.mem.freeFrames(pa, n)
    this.frames -= n
  }

  private pickSize(v: number, p: number, remaining: number): number {
    const sizes = this.sizes
    const lg2s = this.format.pageSizesLg2
    for (let i = 0; i < sizes.length; i++) {
      const size = sizes[i]!
      if (size <= remaining && v - Math.floor(v / size) * size === 0 && p - Math.floor(p / size) * size === 0) return lg2s[i]!
    }
    throw new PageTableError('EINVAL', `${this.format.name}: no page size fits 0x${v.toString(16)} -> 0x${p.toString(16)}`)
  }

  /** Maps a range; on failure unmaps what it mapped and frees the tables it made. */
  private mapRange(iv: number, p: number, sz: number): void {
    const created: number[] = [] // (parent entry address, table, parent level) triples made by this call
    let done = 0
    try {
      while (done < sz) {
        const v = iv + done
        const lg2 = this.pickSize(v, p + done, sz - done)
        this.mapOne(v, p + done, lg2, created)
        done += 2 ** lg2
      }
    } catch (e) {
      if (done > 0) this.unmapRange(iv, done, null)
      this.dropCreatedTables(created)
      throw e
    }
  }

  private mapOne(v: number, pa: number, lg2: number, created: number[]): void {
    const fmt = this.format
    const codec = fmt.codec
    const mem = this.mem
    const w = this.w
    const target = this.levelOfSize[lg2]!
    let table = this.root
    let g = fmt.topLevel
    while (g > target) {
      const ea = table + (Math.floor(v * fmt.lvInv[g]!) & fmt.lvIndexMask[g]!) * 8
      this.read(ea)
      const t = codec.entryType(fmt, g, w[0]!, w[1]!)
      if (t === EntryType.TABLE) {
        if (codec.tableLevel(fmt, g, w[0]!, w[1]!) !== g - 1) {
          throw new PageTableError('EINVAL', `${fmt.name}: a level-skipping table entry at 0x${ea.toString(16)} is not managed by map`)
        }
        table = codec.tableAddress(fmt, g, w[0]!, w[1]!)
      } else if (t === EntryType.EMPTY) {
        const child = this.allocTable()
        codec.encodeTable(fmt, g, child, w)
        mem.store64Ordered(ea, w[0]!, w[1]!)
        created.push(ea, child, g)
        table = child
      } else {
        throw new PageTableError('EEXIST', `${fmt.name}: 0x${v.toString(16)} is already mapped by a ${t === EntryType.LEAF ? 'larger page' : 'reserved entry'} at level ${fmt.archLevel(g)}`)
      }
      g--
    }
    const shift = fmt.lvShift[g]!
    const count = 2 ** (lg2 - shift)
    const first = table + (Math.floor(v * fmt.lvInv[g]!) & fmt.lvIndexMask[g]!) * 8
    // Every slot must be empty, or an empty table left behind by earlier unmaps (which a
    // larger page replaces, as io-pgtable-arm.c arm_lpae_init_pte does).
    for (let j = 0; j < count; j++) {
      this.read(first + j * 8)
      const t = codec.entryType(fmt, g, w[0]!, w[1]!)
      if (t === EntryType.EMPTY) continue
      if (t === EntryType.TABLE && codec.tableLevel(fmt, g, w[0]!, w[1]!) === g - 1 && this.subtreeEmpty(codec.tableAddress(fmt, g, w[0]!, w[1]!), g - 1)) continue
      throw new PageTableError('EEXIST', `${fmt.name}: 0x${(v + j * 2 ** shift).toString(16)} is already mapped`)
    }
    const attrLo = this.attrs[0]!
    const attrHi = this.attrs[1]!
    for (let j = 0; j < count; j++) {
      const ea = first + j * 8
      this.read(ea)
      const wasTable = codec.entryType(fmt, g, w[0]!, w[1]!) === EntryType.TABLE
      const oldTable = wasTable ? codec.tableAddress(fmt, g, w[0]!, w[1]!) : 0
      codec.encodeLeaf(fmt, g, fmt.replicateGroups ? pa : pa + j * 2 ** shift, lg2, attrLo, attrHi, w)
      if (wasTable) {
        mem.store64Atomic(ea, w[0]!, w[1]!)
        this.freeChildren(oldTable, g - 1, null)
        this.freeTable(oldTable, null)
      } else {
        mem.store64Ordered(ea, w[0]!, w[1]!)
      }
    }
  }

  private subtreeEmpty(table: number, g: number): boolean {
    const fmt = this.format
    const n = fmt.entriesAt(g)
    for (let i = 0; i < n; i++) {
      const ea = table + i * 8
      this.read(ea)
      const t = fmt.codec.entryType(fmt, g, this.w[0]!, this.w[1]!)
      if (t === EntryType.EMPTY) continue
      if (t === EntryType.TABLE && this.subtreeEmpty(fmt.codec.tableAddress(fmt, g, this.w[0]!, this.w[1]!), g - 1)) continue
      return false
    }
    return true
  }

  /** After a failed map: frees the tables it created that are empty again, deepest first. */
  private dropCreatedTables(created: number[]): void {
    const fmt = this.format
    for (let k = created.length - 3; k >= 0; k -= 3) {
      const ea = created[k]!
      const child = created[k + 1]!
      const g = created[k + 2]! // level of the parent entry
      this.read(ea)
      if (fmt.codec.entryType(fmt, g, this.w[0]!, this.w[1]!) !== EntryType.TABLE || fmt.codec.tableAddress(fmt, g, this.w[0]!, this.w[1]!) !== child) continue
      if (!this.subtreeEmpty(child, g - 1)) continue
      this.mem.clear64Ordered(ea)
      this.freeChildren(child, g - 1, null)
      this.freeTable(child, null)
    }
  }

  private unmapRange(iv: number, sz: number, gather: TableGather | null): number {
    const vs = iv
    const ve = iv + sz
    // Pre-allocate the tables block splits will need at the two ends, so that running out of
    // memory fails before anything changes.
    const need = this.splitsNeeded(vs) + this.splitsNeeded(ve)
    const spares: number[] = []
    try {
      for (let i = 0; i < need; i++) spares.push(this.allocTable())
    } catch (e) {
      for (const pa of spares) this.freeTable(pa, null)
      throw e
    }
    try {
      return this.unmapIn(this.root, this.format.topLevel, vs, ve, 0, spares, gather)
    } finally {
      for (const pa of spares) this.freeTable(pa, null)
    }
  }

  /** Tables needed to split the leaf that straddles boundary `b` (0 if none does). */
  private splitsNeeded(b: number): number {
    const fmt = this.format
    const codec = fmt.codec
    if (b <= fmt.inputMin || b >= fmt.inputLimit) return 0
    let table = this.root
    let base = 0
    for (let g = fmt.topLevel; g >= 0; g--) {
      const esz = fmt.lvPow[g]!
      const idx = Math.floor((b - base) / esz)
      this.read(table + (idx & fmt.lvIndexMask[g]!) * 8)
      const t = codec.entryType(fmt, g, this.w[0]!, this.w[1]!)
      if (t === EntryType.TABLE) {
        if (codec.tableLevel(fmt, g, this.w[0]!, this.w[1]!) !== g - 1) return 0
        table = codec.tableAddress(fmt, g, this.w[0]!, this.w[1]!)
        base += idx * esz
        continue
      }
      if (t !== EntryType.LEAF) return 0
      let n = 0
      for (let h = g; h > 0 && !aligned(b, fmt.lvPow[h]!); h--) n++
      return n
    }
    return 0
  }

  private unmapIn(table: number, g: number, vs: number, ve: number, base: number, spares: number[], gather: TableGather | null): number {
    const fmt = this.format
    const codec = fmt.codec
    const mem = this.mem
    const w = this.w
    const esz = fmt.lvPow[g]!
    const shift = fmt.lvShift[g]!
    const iEnd = Math.ceil((ve - base) / esz)
    let bytes = 0
    const slotMask = fmt.lvIndexMask[g]!
    for (let i = Math.floor((vs - base) / esz); i < iEnd; i++) {
      const ea = table + (i & slotMask) * 8
      this.read(ea)
      const lo = w[0]!
      const hi = w[1]!
      const t = codec.entryType(fmt, g, lo, hi)
      if (t === EntryType.EMPTY || t === EntryType.INVALID) continue
      const es = base + i * esz
      const ee = es + esz
      if (t === EntryType.TABLE) {
        if (codec.tableLevel(fmt, g, lo, hi) !== g - 1) {
          throw new PageTableError('EINVAL', `${fmt.name}: a level-skipping table entry at 0x${ea.toString(16)} is not managed by unmap`)
        }
        const child = codec.tableAddress(fmt, g, lo, hi)
        if (vs <= es && ee <= ve) {
          mem.clear64Ordered(ea)
          bytes += this.freeChildren(child, g - 1, gather)
          this.freeTable(child, gather)
        } else {
          bytes += this.unmapIn(child, g - 1, Math.max(vs, es), Math.min(ve, ee), es, spares, gather)
        }
        continue
      }
      const groupLg2 = codec.leafGroupLg2(fmt, g, lo, hi)
      if (groupLg2 > shift) {
        const gsize = 2 ** groupLg2
        const gs = Math.floor(es / gsize) * gsize
        const count = gsize / esz
        const gi0 = i - (es - gs) / esz
        if (vs <= gs && gs + gsize <= ve) {
          for (let j = 0; j < count; j++) mem.clear64Ordered(table + ((gi0 + j) & slotMask) * 8)
          bytes += gsize
          i = gi0 + count - 1
        } else {
          this.breakGroup(table, g, gi0 & slotMask, count, lo, hi)
          i--
        }
        continue
      }
      if (vs <= es && ee <= ve) {
        mem.clear64Ordered(ea)
        bytes += esz
        continue
      }
      this.splitLeaf(ea, g, lo, hi, spares)
      i--
    }
    return bytes
  }

  /** Rewrites a contiguous / replicated leaf group as independent entries of the level's size. */
  private breakGroup(table: number, g: number, gi0: number, count: number, lo: number, hi: number): void {
    const fmt = this.format
    const codec = fmt.codec
    const esz = fmt.lvPow[g]!
    const shift = fmt.lvShift[g]!
    const attrs = new Uint32Array(2)
    codec.leafAttrs(fmt, g, lo, hi, attrs)
    let groupBase: number
    if (fmt.replicateGroups) {
      groupBase = codec.leafAddress(fmt, g, lo, hi)
    } else {
      this.read(table + gi0 * 8)
      groupBase = codec.leafAddress(fmt, g, this.w[0]!, this.w[1]!)
    }
    for (let j = 0; j < count; j++) {
      codec.encodeLeaf(fmt, g, groupBase + j * esz, shift, attrs[0]!, attrs[1]!, this.w)
      this.mem.store64Atomic(table + (gi0 + j) * 8, this.w[0]!, this.w[1]!)
    }
  }

  /** Replaces a single leaf by a table of next-level leaves mapping the same range. */
  private splitLeaf(ea: number, g: number, lo: number, hi: number, spares: number[]): void {
    const fmt = this.format
    const codec = fmt.codec
    const cg = g - 1
    const child = spares.pop() ?? this.allocTable()
    const attrs = new Uint32Array(2)
    codec.leafAttrs(fmt, g, lo, hi, attrs)
    const oa = codec.leafAddress(fmt, g, lo, hi)
    const csz = fmt.lvPow[cg]!
    const cshift = fmt.lvShift[cg]!
    const n = fmt.entriesAt(cg)
    const u32 = this.mem.u32
    // The new table is not reachable yet: plain stores.
    for (let j = 0; j < n; j++) {
      codec.encodeLeaf(fmt, cg, oa + j * csz, cshift, attrs[0]!, attrs[1]!, this.w)
      const i = (child + j * 8) >>> 2
      u32[i] = this.w[0]!
      u32[i + 1] = this.w[1]!
    }
    codec.encodeTable(fmt, g, child, this.w)
    this.mem.store64Atomic(ea, this.w[0]!, this.w[1]!)
  }

  /** Frees every table below `table` (not `table` itself); returns the bytes its leaves mapped. */
  private freeChildren(table: number, g: number, gather: TableGather | null): number {
    const fmt = this.format
    const codec = fmt.codec
    const n = fmt.entriesAt(g)
    let bytes = 0
    for (let i = 0; i < n; i++) {
      this.read(table + i * 8)
      const lo = this.w[0]!
      const hi = this.w[1]!
      const t = codec.entryType(fmt, g, lo, hi)
      if (t === EntryType.LEAF) bytes += fmt.lvPow[g]!
      else if (t === EntryType.TABLE && codec.tableLevel(fmt, g, lo, hi) === g - 1) {
        const child = codec.tableAddress(fmt, g, lo, hi)
        bytes += this.freeChildren(child, g - 1, gather)
        this.freeTable(child, gather)
      }
    }
    return bytes
  }

  private collect(table: number, g: number, base: number, out: MappedLeaf[]): void {
    const fmt = this.format
    const codec = fmt.codec
    const n = fmt.entriesAt(g)
    const esz = fmt.lvPow[g]!
    // The upper half of a sign-extended root maps negative (canonical) addresses.
    const wrap = fmt.signExtended && g === fmt.topLevel ? n / 2 : n
    for (let i = 0; i < n; i++) {
      this.read(table + i * 8)
      const lo = this.w[0]!
      const hi = this.w[1]!
      const t = codec.entryType(fmt, g, lo, hi)
      const start = base + (i >= wrap ? i - n : i) * esz
      if (t === EntryType.TABLE) {
        if (codec.tableLevel(fmt, g, lo, hi) === g - 1) this.collect(codec.tableAddress(fmt, g, lo, hi), g - 1, start, out)
        continue
      }
      if (t !== EntryType.LEAF) continue
      const groupLg2 = codec.leafGroupLg2(fmt, g, lo, hi)
      const count = 2 ** (groupLg2 - fmt.lvShift[g]!)
      const addr = codec.leafAddress(fmt, g, lo, hi)
      const slot = i % count
      out.push({
        iova: start - slot * esz,
        oa: fmt.replicateGroups ? addr : addr - slot * esz,
        sizeLg2: groupLg2,
        level: fmt.archLevel(g),
        perm: codec.leafPerm(fmt, g, lo, hi),
      })
      i += count - 1 - slot
    }
  }
}

function toSafe(x: number | bigint, what: string): number {
  const n = typeof x === 'bigint' ? Number(x) : x
  if (!Number.isSafeInteger(n) || (typeof x === 'bigint' && BigInt(n) !== x)) {
    throw new PageTableError('EINVAL', `${what} ${String(x)} is not an integer below 2^53`)
  }
  return n
}

function aligned(x: number, size: number): boolean {
  return x - Math.floor(x / size) * size === 0
}
