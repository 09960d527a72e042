/**
 * A tagged, set-associative IOTLB in one SharedArrayBuffer.
 *
 * Entries are keyed by two numeric tags (VMID+ASID, DID+PASID, DomainID+PASID, ...: each an
 * integer in [0, 2^31)), an origin ({@link Origin}: stage 1, stage 2 or nested), a page size
 * (any power of two from 4 KiB up) and the input page. Capacity is bounded; a full set evicts by
 * LRU or FIFO. Invalidation by tag, by range and everything, each filterable by origin, so the
 * unit models can implement their architecture's rules (reference §1.7, §2.7, §3.5).
 *
 * Hot path (`lookup`, then `hitInto` on a hit): typed arrays, no allocation. A unit's IOTLB has one writer at a
 * time (DESIGN §5); lookups write too (LRU stamps, counters). Another thread may `attach` the
 * same buffer.
 */
import { FaultKind, Origin } from '../pgtable/constants.js'
import type { WalkResult } from '../walk/result.js'

export type IotlbReplacement = 'lru' | 'fifo'

export interface IotlbOptions {
  /** Total entries, a power of two. Default 2048. */
  readonly capacity?: number
  /** Entries per set, a power of two ≤ capacity (capacity = fully associative). Default 8. */
  readonly ways?: number
  /** Victim choice in a full set. Default 'lru'. */
  readonly replacement?: IotlbReplacement
}

export interface IotlbStats {
  readonly hits: number
  readonly misses: number
  readonly fills: number
  readonly evictions: number
  /** entries removed by invalidations */
  readonly invalidated: number
  /** entries currently valid */
  readonly valid: number
  readonly capacity: number
}

/** A cached translation, as listed by {@link Iotlb.entries} (control path). */
export interface IotlbEntry {
  readonly index: number
  readonly tagA: number
  readonly tagB: number
  readonly origin: number
  readonly iova: number
  readonly sizeLg2: number
  readonly oa: number
  readonly ipa: number
  readonly perm: number
  readonly s1Perm: number
  readonly level: number
  readonly attr: number
}

const MAGIC = 0x494f544c // 'IOTL'
// Header words (Int32)
const H_MAGIC = 0
const H_CAPACITY = 1
const H_WAYS = 2
const H_SETS = 3
const H_POLICY = 4
const H_NACTIVE = 5
const H_CLOCK = 6
const H_VALID = 7
const H_GEN = 8
const H_ACTIVE = 16 // up to 64 active page sizes (log2), ascending
const H_SIZECOUNT = 80 // 64 counters, by log2 size
const HEADER_BYTES = 1024
// Counters (Float64) at HEADER_BYTES
const C_HITS = 0
const C_MISSES = 1
const C_FILLS = 2
const C_EVICTIONS = 3
const C_INVALIDATED = 4
const COUNTER_BYTES = 1024
const TAGS_AT = HEADER_BYTES + COUNTER_BYTES
// Entry record: 64 bytes = Float64 [0] output base, [1] intermediate base;
// Int32 [4] key (valid | origin << 1 | sizeLg2 << 8), [5] tagA, [6] tagB,
// [7] perm | s1Perm << 8 | level << 16, [8] attr, [9] LRU stamp.
const REC_BYTES = 64
const R_OUT = 0
const R_IPA = 1
const R_KEY = 4
const R_TAGA = 5
const R_TAGB = 6
const R_PERM = 7
const R_ATTR = 8
const R_STAMP = 9

const ORIGIN_S1 = Origin.S1
const ORIGIN_S2 = Origin.S2
const ORIGIN_NESTED = Origin.NESTED
const FAULT_PERMISSION = FaultKind.PERMISSION

/** Marker options for `attach` (module-private). */
const ATTACH: IotlbOptions = Object.freeze({})

const POLICY_LRU = 0
const POLICY_FIFO = 1

const POW2 = new Float64Array(64)
const INV2 = new Float64Array(64)
for (let k = 0; k < 64; k++) {
  POW2[k] = 2 ** k
  INV2[k] = 2 ** -k
}

/**
 * Set-index hash (Fibonacci hashing: the high bits of a multiplicative hash) of the page number's
 * low 32 bits, the tags and the size. Pages differing only above bit 31 of the page number share
 * a set, which costs capacity, never correctness.
 */
function hashKey(pn: number, tagA: number, tagB: number, lg2: number): number {
  return Math.imul((pn | 0) ^ Math.imul(tagA, 0x85ebca77) ^ Math.imul(tagB ^ (lg2 << 24), 0xc2b2ae3d), 0x9e3779b1)
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0
}

export class Iotlb {
  readonly buffer: SharedArrayBuffer
  readonly capacity: number
  readonly ways: number
  readonly sets: number
  readonly replacement: IotlbReplacement
  private readonly setMask: number
  private readonly setShift: number
  private readonly lru: boolean
  private readonly hdr: Int32Array
  private readonly ctr: Float64Array
  /** input page base per entry, the ways of a set adjacent (NaN = invalid: never matches) */
  private readonly tags: Float64Array
  /** entry records (see R_*), as doubles and as words */
  private readonly rf: Float64Array
  private readonly ri: Int32Array
  /** per set: FIFO next victim */
  private readonly rr: Int32Array

  /** Bytes of SharedArrayBuffer an IOTLB of this geometry needs. */
  static byteLength(capacity: number, ways: number): number {
    return TAGS_AT + capacity * 8 + capacity * REC_BYTES + (capacity / ways) * 4
  }

  /**
   * A new IOTLB (all entries invalid, counters zero), in `buffer` if given (at least
   * {@link Iotlb.byteLength} bytes) or in a new SharedArrayBuffer.
   */
  constructor(options: IotlbOptions = {}, buffer?: SharedArrayBuffer) {
    const attaching = options === ATTACH && buffer !== undefined
    let capacity: number
    let ways: number
    let replacement: IotlbReplacement
    let buf: SharedArrayBuffer
    if (attaching) {
      buf = buffer
      const h = new Int32Array(buf, 0, HEADER_BYTES / 4)
      capacity = h[H_CAPACITY]!
      ways = h[H_WAYS]!
      replacement = h[H_POLICY] === POLICY_LRU ? 'lru' : 'fifo'
    } else {
      capacity = options.capacity ?? 2048
      ways = options.ways ?? Math.min(8, capacity)
      if (!isPow2(capacity) || capacity > 1 << 24) throw new RangeError(`Iotlb: capacity must be a power of two ≤ 2^24, got ${capacity}`)
      if (!isPow2(ways) || ways > capacity) throw new RangeError(`Iotlb: ways must be a power of two ≤ capacity, got ${ways}`)
      replacement = options.replacement ?? 'lru'
      if (replacement !== 'lru' && replacement !== 'fifo') throw new RangeError(`Iotlb: replacement must be 'lru' or 'fifo'`)
      const bytes = Iotlb.byteLength(capacity, ways)
      buf = buffer ?? new SharedArrayBuffer(bytes)
      if (buf.byteLength < bytes) throw new RangeError(`Iotlb: buffer of ${buf.byteLength} bytes is smaller than the ${bytes} needed`)
    }
    // Same field order on every path: attached views (workers) share the object shape.
    this.buffer = buf
    this.capacity = capacity
    this.ways = ways
    this.sets = capacity / ways
    this.replacement = replacement
    this.setMask = this.sets - 1
    this.setShift = this.sets === 1 ? 0 : 32 - Math.log2(this.sets)
    this.lru = replacement === 'lru'
    this.hdr = new Int32Array(buf, 0, HEADER_BYTES / 4)
    this.ctr = new Float64Array(buf, HEADER_BYTES, COUNTER_BYTES / 8)
    this.tags = new Float64Array(buf, TAGS_AT, capacity)
    this.rf = new Float64Array(buf, TAGS_AT + capacity * 8, capacity * (REC_BYTES / 8))
    this.ri = new Int32Array(buf, TAGS_AT + capacity * 8, capacity * (REC_BYTES / 4))
    this.rr = new Int32Array(buf, TAGS_AT + capacity * (8 + REC_BYTES), this.sets)
    if (!attaching) {
      const hdr = this.hdr
      hdr.fill(0)
      new Uint8Array(buf, HEADER_BYTES, Iotlb.byteLength(capacity, ways) - HEADER_BYTES).fill(0)
      hdr[H_CAPACITY] = capacity
      hdr[H_WAYS] = ways
      hdr[H_SETS] = capacity / ways
      hdr[H_POLICY] = replacement === 'lru' ? POLICY_LRU : POLICY_FIFO
      this.tags.fill(NaN)
      Atomics.store(hdr, H_MAGIC, MAGIC)
    }
  }

  /** Another view (e.g. in a worker) of an IOTLB created elsewhere; shares all state. */
  static attach(buffer: SharedArrayBuffer): Iotlb {
    if (buffer.byteLength < HEADER_BYTES || Atomics.load(new Int32Array(buffer, 0, 1), 0) !== MAGIC) {
      throw new RangeError('Iotlb.attach: buffer does not hold an IOTLB')
    }
    return new Iotlb(ATTACH, buffer)
  }

  // ---------------------------------------------------------------------------------------
  // hot path

  /**
   * Finds the entry translating `iova` for (tagA, tagB, origin); returns its index or -1.
   * Probes each page size present in the IOTLB, smallest first. Counts a hit or a miss.
   */
  lookup(tagA: number, tagB: number, origin: number, iova: number): number {
    const hdr = this.hdr
    const n = hdr[H_NACTIVE]!
    const keyBase = (origin << 1) | 1
    const tags = this.tags
    const ri = this.ri
    const ways = this.ways
    for (let k = 0; k < n; k++) {
      const lg2 = hdr[H_ACTIVE + k]!
      const pn = Math.floor(iova * INV2[lg2]!)
      const base = pn * POW2[lg2]!
      let e = ((hashKey(pn, tagA, tagB, lg2) >>> this.setShift) & this.setMask) * ways
      const end = e + ways
      for (; e < end; e++) {
        if (tags[e] === base) {
          const r = e << 4
          if (ri[r + R_KEY] === (keyBase | (lg2 << 8)) && ri[r + R_TAGA] === tagA && ri[r + R_TAGB] === tagB) {
            this.ctr[C_HITS]!++
            if (this.lru) ri[r + R_STAMP] = hdr[H_CLOCK] = (hdr[H_CLOCK]! + 1) | 0
            return e
          }
        }
      }
    }
    this.ctr[C_MISSES]!++
    return -1
  }

  private deny(origin: number, iova: number, required: number, out: WalkResult): void {
    const s2 = origin === ORIGIN_S2 || (origin === ORIGIN_NESTED && (out.s1Perm & required) === required)
    out.fault = FAULT_PERMISSION
    out.stage = s2 ? 2 : 1
    out.faultAddress = s2 && origin === ORIGIN_NESTED ? out.ipa : iova
  }

  /**
   * Writes the translation of `iova` by entry `e` into `out`, checking `required` permissions
   * (a denied access becomes a permission fault of the stage that denies it). Returns success.
   */
  hitInto(e: number, iova: number, required: number, out: WalkResult): boolean {
    const ri = this.ri
    const r = e << 4
    const pw = ri[r + R_PERM]!
    const key = ri[r + R_KEY]!
    const perm = pw & 63
    const s1Perm = (pw >>> 8) & 63
    const off = iova - this.tags[e]!
    const origin = (key >>> 1) & 7
    out.reads = 0
    out.duringTableWalk = false
    out.level = (pw >>> 16) & 0xff
    out.sizeLg2 = (key >>> 8) & 63
    out.perm = perm
    out.s1Perm = s1Perm
    out.leafLo = ri[r + R_ATTR]!
    out.leafHi = 0
    out.ipa = origin === ORIGIN_NESTED ? this.rf[(e << 3) + R_IPA]! + off : 0
    if ((perm & required) !== required) {
      this.deny(origin, iova, required, out)
      return false
    }
    out.fault = 0
    out.stage = origin === ORIGIN_S1 ? 1 : 2
    out.oa = this.rf[(e << 3) + R_OUT]! + off
    return true
  }

  // ---------------------------------------------------------------------------------------
  // fills

  /**
   * Caches a translation of `iova`: a page of 2^sizeLg2 bytes whose input base is `iova` rounded
   * down and whose output base is `oa` minus the same offset (`ipa` likewise, for nested entries).
   * Replaces an existing entry with the same key; otherwise takes a free way or evicts. Returns
   * the entry index.
   */
  insert(tagA: number, tagB: number, origin: number, iova: number, sizeLg2: number, oa: number, perm: number, s1Perm: number, level: number, ipa: number, attr: number): number {
    if (!(sizeLg2 >= 12 && sizeLg2 < 64)) throw new RangeError(`Iotlb.insert: page size 2^${sizeLg2} is not between 4 KiB and 2^63`)
    const hdr = this.hdr
    const tags = this.tags
    const ri = this.ri
    const pn = Math.floor(iova * INV2[sizeLg2]!)
    const base = pn * POW2[sizeLg2]!
    const off = iova - base
    const key = ((origin << 1) | 1) | (sizeLg2 << 8)
    const set = (hashKey(pn, tagA, tagB, sizeLg2) >>> this.setShift) & this.setMask
    const first = set * this.ways
    const end = first + this.ways
    let victim = -1
    let free = -1
    for (let e = first; e < end; e++) {
      const r = e << 4
      if (ri[r + R_KEY] === 0) {
        if (free < 0) free = e
      } else if (tags[e] === base && ri[r + R_KEY] === key && ri[r + R_TAGA] === tagA && ri[r + R_TAGB] === tagB) {
        victim = e
        break
      }
    }
    if (victim >= 0) {
      this.remove(victim)
    } else if (free >= 0) {
      victim = free
    } else {
      victim = this.chooseVictim(first, end, set)
      this.ctr[C_EVICTIONS]!++
      this.remove(victim)
    }
    const r = victim << 4
    const f = victim << 3
    this.rf[f + R_OUT] = oa - off
    this.rf[f + R_IPA] = origin === ORIGIN_NESTED ? ipa - off : 0
    ri[r + R_KEY] = key
    ri[r + R_TAGA] = tagA
    ri[r + R_TAGB] = tagB
    ri[r + R_PERM] = (perm & 63) | ((s1Perm & 63) << 8) | ((level & 0xff) << 16)
    ri[r + R_ATTR] = attr | 0
    ri[r + R_STAMP] = hdr[H_CLOCK] = (hdr[H_CLOCK]! + 1) | 0
    tags[victim] = base
    hdr[H_VALID]!++
    if (hdr[H_SIZECOUNT + sizeLg2]!++ === 0) this.addActive(sizeLg2)
    this.ctr[C_FILLS]!++
    return victim
  }

  /** Caches the successful walk in `out` for `iova` (its `sizeLg2`, `oa`, permissions, level, IPA, leaf low word). */
  insertWalk(tagA: number, tagB: number, origin: number, iova: number, out: WalkResult): number {
    return this.insert(tagA, tagB, origin, iova, out.sizeLg2, out.oa, out.perm, out.s1Perm, out.level, out.ipa, out.leafLo)
  }

  private chooseVictim(first: number, end: number, set: number): number {
    if (!this.lru) {
      const r = this.rr[set]!
      this.rr[set] = (r + 1) % this.ways
      return first + r
    }
    const now = this.hdr[H_CLOCK]!
    let best = first
    let bestAge = -1
    for (let e = first; e < end; e++) {
      const age = (now - this.ri[(e << 4) + R_STAMP]!) >>> 0
      if (age > bestAge) {
        bestAge = age
        best = e
      }
    }
    return best
  }

  /** Drops entry e (if valid) from the size bookkeeping and marks it free. */
  private remove(e: number): boolean {
    const r = e << 4
    const key = this.ri[r + R_KEY]!
    if (key === 0) return false
    this.tags[e] = NaN
    this.ri[r + R_KEY] = 0
    const lg2 = (key >>> 8) & 63
    this.hdr[H_VALID]!--
    if (--this.hdr[H_SIZECOUNT + lg2]! === 0) this.dropActive(lg2)
    return true
  }

  private addActive(lg2: number): void {
    const hdr = this.hdr
    const n = hdr[H_NACTIVE]!
    let i = n
    while (i > 0 && hdr[H_ACTIVE + i - 1]! > lg2) {
      hdr[H_ACTIVE + i] = hdr[H_ACTIVE + i - 1]!
      i--
    }
    hdr[H_ACTIVE + i] = lg2
    hdr[H_NACTIVE] = n + 1
  }

  private dropActive(lg2: number): void {
    const hdr = this.hdr
    const n = hdr[H_NACTIVE]!
    let j = 0
    for (let i = 0; i < n; i++) {
      const v = hdr[H_ACTIVE + i]!
      if (v !== lg2) hdr[H_ACTIVE + j++] = v
    }
    hdr[H_NACTIVE] = j
  }

  // ---------------------------------------------------------------------------------------
  // invalidation

  /** Removes every entry. Returns the number removed. */
  invalidateAll(): number {
    const hdr = this.hdr
    const removed = hdr[H_VALID]!
    this.tags.fill(NaN)
    for (let e = 0; e < this.capacity; e++) this.ri[(e << 4) + R_KEY] = 0
    hdr[H_VALID] = 0
    hdr[H_NACTIVE] = 0
    hdr.fill(0, H_SIZECOUNT, H_SIZECOUNT + 64)
    this.ctr[C_INVALIDATED]! += removed
    Atomics.add(hdr, H_GEN, 1)
    return removed
  }

  /**
   * Removes the entries of `origins` whose tags match (`ANY_TAG` = -1 matches any value).
   * E.g. SMMU TLBI_NH_ASID(asid, vmid) = `invalidateTag(vmid, asid, S1 | NESTED)`,
   * TLBI_S12_VMALL(vmid) = `invalidateTag(vmid, ANY_TAG)`.
   */
  invalidateTag(tagA: number, tagB = -1, origins: number = Origin.ALL): number {
    return this.scan(tagA, tagB, origins, -Infinity, Infinity)
  }

  /**
   * Removes the entries of `origins` with matching tags that overlap `[start, start + length)`
   * (input addresses of the entries' origin: IOVA for stage-1 and nested entries, IPA for
   * stage-2-only ones). With both tags given and a small range, probes only the sets concerned.
   */
  invalidateRange(tagA: number, tagB: number, start: number, length: number, origins: number = Origin.ALL): number {
    const end = start + length
    if (!(length > 0)) return 0
    if (tagA >= 0 && tagB >= 0) {
      const hdr = this.hdr
      const n = hdr[H_NACTIVE]!
      let probes = 0
      for (let k = 0; k < n; k++) {
        const lg2 = hdr[H_ACTIVE + k]!
        probes += Math.floor((end - 1) * INV2[lg2]!) - Math.floor(start * INV2[lg2]!) + 1
      }
      if (probes * this.ways <= this.capacity) return this.probeRange(tagA, tagB, start, end, origins)
    }
    return this.scan(tagA, tagB, origins, start, end)
  }

  private probeRange(tagA: number, tagB: number, start: number, end: number, origins: number): number {
    const hdr = this.hdr
    const ri = this.ri
    const tags = this.tags
    let removed = 0
    // Copy the active list: removals may shrink it.
    const sizes = Array.from(hdr.subarray(H_ACTIVE, H_ACTIVE + hdr[H_NACTIVE]!))
    for (const lg2 of sizes) {
      const p0 = Math.floor(start * INV2[lg2]!)
      const p1 = Math.floor((end - 1) * INV2[lg2]!)
      for (let pn = p0; pn <= p1; pn++) {
        const base = pn * POW2[lg2]!
        const first = ((hashKey(pn, tagA, tagB, lg2) >>> this.setShift) & this.setMask) * this.ways
        for (let e = first; e < first + this.ways; e++) {
          if (tags[e] !== base) continue
          const r = e << 4
          const key = ri[r + R_KEY]!
          if (((key >>> 8) & 63) !== lg2 || (origins & ((key >>> 1) & 7)) === 0) continue
          if (ri[r + R_TAGA] === tagA && ri[r + R_TAGB] === tagB && this.remove(e)) removed++
        }
      }
    }
    return this.invalidated(removed)
  }

  private scan(tagA: number, tagB: number, origins: number, start: number, end: number): number {
    const ri = this.ri
    const tags = this.tags
    let removed = 0
    for (let e = 0; e < this.capacity; e++) {
      const r = e << 4
      const key = ri[r + R_KEY]!
      if (key === 0 || (origins & ((key >>> 1) & 7)) === 0) continue
      if (tagA >= 0 && ri[r + R_TAGA] !== tagA) continue
      if (tagB >= 0 && ri[r + R_TAGB] !== tagB) continue
      const base = tags[e]!
      if (base >= end || base + POW2[(key >>> 8) & 63]! <= start) continue
      if (this.remove(e)) removed++
    }
    return this.invalidated(removed)
  }

  private invalidated(removed: number): number {
    this.ctr[C_INVALIDATED]! += removed
    Atomics.add(this.hdr, H_GEN, 1)
    return removed
  }

  /** Incremented by every invalidation (for coherence checks across threads). */
  get generation(): number {
    return Atomics.load(this.hdr, H_GEN)
  }

  // ---------------------------------------------------------------------------------------
  // inspection

  stats(): IotlbStats {
    const c = this.ctr
    return {
      hits: c[C_HITS]!, misses: c[C_MISSES]!, fills: c[C_FILLS]!, evictions: c[C_EVICTIONS]!,
      invalidated: c[C_INVALIDATED]!, valid: this.hdr[H_VALID]!, capacity: this.capacity,
    }
  }

  resetStats(): void {
    this.ctr.fill(0)
  }

  /** Every valid entry (control path; allocates). */
  entries(): IotlbEntry[] {
    const list: IotlbEntry[] = []
    for (let e = 0; e < this.capacity; e++) {
      const r = e << 4
      const key = this.ri[r + R_KEY]!
      if (key === 0) continue
      const pw = this.ri[r + R_PERM]!
      list.push({
        index: e, tagA: this.ri[r + R_TAGA]!, tagB: this.ri[r + R_TAGB]!, origin: (key >>> 1) & 7, iova: this.tags[e]!,
        sizeLg2: (key >>> 8) & 63, oa: this.rf[(e << 3) + R_OUT]!, ipa: this.rf[(e << 3) + R_IPA]!, perm: pw & 63,
        s1Perm: (pw >>> 8) & 63, level: (pw >>> 16) & 0xff, attr: this.ri[r + R_ATTR]!,
      })
    }
    return list
  }
}
