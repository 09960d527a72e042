/**
 * Format-independent encode / decode of single descriptors, with architecture-numbered levels.
 * Control path (bigint, allocation); for tools, dumps, tests and unit models that build or inspect
 * tables by hand. The walker and `PageTable` use the per-family codecs directly.
 */
import { EntryType, type DecodedEntry, type PageTableFormat } from './format.js'
import { PageTableError } from './errors.js'

/** The descriptors of one leaf group (1 entry, or a contiguous / replicated run). */
export interface EncodedLeaf {
  /** entries in the group */
  readonly count: number
  /** descriptor j is `values[j]` (64-bit, little-endian in memory) */
  readonly values: readonly bigint[]
}


function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)
}

function genericLevel(fmt: PageTableFormat, level: number): number {
  const g = fmt.genericLevel(level)
  if (!Number.isInteger(g) || g < 0 || g > fmt.topLevel) throw new PageTableError('EINVAL', `${fmt.name}: no level ${level}`)
  return g
}

/**
 * Encodes a leaf mapping 2^sizeLg2 bytes at `oa` with Linux `IOMMU_*` flags, at an
 * architecture-numbered level. `sizeLg2` may exceed the level's entry size where the format has
 * multi-entry leaves (VMSAv8-64 contiguous hint, AMD NextLevel 7).
 */
export function encodeLeaf(fmt: PageTableFormat, level: number, oa: number, sizeLg2: number, prot: number): EncodedLeaf {
  const g = genericLevel(fmt, level)
  const shift = fmt.lvShift[g]!
  if (fmt.lvLeaf[g] !== 1) throw new PageTableError('EINVAL', `${fmt.name}: level ${level} cannot hold leaves`)
  const okSize = sizeLg2 === shift ||
    (fmt.replicateGroups ? sizeLg2 > shift && sizeLg2 <= shift + 8 : fmt.lvContigLg2[g]! > 0 && sizeLg2 === shift + fmt.lvContigLg2[g]!)
  if (!okSize) throw new PageTableError('EINVAL', `${fmt.name}: 2^${sizeLg2} bytes is not a leaf size at level ${level}`)
  if (oa < 0 || oa % 2 ** sizeLg2 !== 0) throw new PageTableError('EINVAL', `${fmt.name}: 0x${oa.toString(16)} is not aligned to 2^${sizeLg2}`)
  if (oa + 2 ** sizeLg2 > fmt.outputLimit) throw new PageTableError('EINVAL', `${fmt.name}: 0x${oa.toString(16)} + 2^${sizeLg2} exceeds ${fmt.outputBits}-bit output addresses`)
  const attrs = new Uint32Array(2)
  fmt.codec.protToAttrs(fmt, prot, attrs)
  const w = new Uint32Array(2)
  const count = 2 ** (sizeLg2 - shift)
  const values: bigint[] = []
  for (let j = 0; j < count; j++) {
    fmt.codec.encodeLeaf(fmt, g, fmt.replicateGroups ? oa : oa + j * 2 ** shift, sizeLg2, attrs[0]!, attrs[1]!, w)
    values.push(toBig(w[0]!, w[1]!))
  }
  return { count, values }
}

/** Encodes a table descriptor at an architecture-numbered level pointing at `tablePa`. */
export function encodeTable(fmt: PageTableFormat, level: number, tablePa: number): bigint {
  const g = genericLevel(fmt, level)
  if (g === 0) throw new PageTableError('EINVAL', `${fmt.name}: level ${level} is the last level`)
  if (tablePa < 0 || tablePa % fmt.tableBytes !== 0) throw new PageTableError('EINVAL', `${fmt.name}: table 0x${tablePa.toString(16)} is not ${fmt.tableBytes}-byte aligned`)
  const w = new Uint32Array(2)
  fmt.codec.encodeTable(fmt, g, tablePa, w)
  return toBig(w[0]!, w[1]!)
}

/** Decodes one descriptor found at an architecture-numbered level. */
export function decodeEntry(fmt: PageTableFormat, level: number, value: bigint | readonly [number, number]): DecodedEntry {
  const g = genericLevel(fmt, level)
  const lo = typeof value === 'bigint' ? Number(value & 0xffff_ffffn) : value[0] >>> 0
  const hi = typeof value === 'bigint' ? Number((value >> 32n) & 0xffff_ffffn) : value[1] >>> 0
  const codec = fmt.codec
  switch (codec.entryType(fmt, g, lo, hi)) {
    case EntryType.EMPTY:
      return { type: 'empty' }
    case EntryType.INVALID:
      return { type: 'invalid', reason: `reserved encoding at level ${level}` }
    case EntryType.TABLE:
      return { type: 'table', address: codec.tableAddress(fmt, g, lo, hi), nextLevel: fmt.archLevel(codec.tableLevel(fmt, g, lo, hi)), attrs: codec.describe(fmt, g, lo, hi) }
    default: {
      const groupLg2 = codec.leafGroupLg2(fmt, g, lo, hi)
      const entryOa = codec.leafAddress(fmt, g, lo, hi)
      // Contiguous groups: each entry holds its own part, so the group base is rounded down.
      const address = fmt.replicateGroups ? entryOa : Math.floor(entryOa / 2 ** groupLg2) * 2 ** groupLg2
      return { type: 'leaf', address, sizeLg2: groupLg2, entrySizeLg2: fmt.lvShift[g]!, perm: codec.leafPerm(fmt, g, lo, hi), attrs: codec.describe(fmt, g, lo, hi) }
    }
  }
}

