/**
 * A page-table format instance: one family (VMSAv8-64 S1/S2, x86-64, VT-d SS, AMD v1) with its
 * geometry fixed (granule, levels, input and output widths, options). Walkers read the per-level
 * typed arrays; `map` / `unmap` go through the family's {@link FormatCodec}.
 *
 * Level numbering: internally (and in the `lv*` arrays) levels are numbered leaf-first as in the
 * kernel's generic_pt code (drivers/iommu/generic_pt: "level 0 is the table that holds the
 * smallest pages"). Every public API that takes or reports a level uses the architecture's own
 * numbering instead (ARM 0..3 with 3 = leaf table; x86 / VT-d 1..5 with 1 = PTE; AMD 1..6 with
 * 1 = PTE); convert with {@link PageTableFormat.archLevel} / {@link PageTableFormat.genericLevel}.
 */
import { FRAME_SHIFT, FRAME_SIZE } from '../memory/physical-memory.js'

/** Classification of one descriptor (control path). */
export const EntryType = { EMPTY: 0, TABLE: 1, LEAF: 2, INVALID: 3 } as const
export type EntryType = (typeof EntryType)[keyof typeof EntryType]

/** A decoded descriptor, for tools, tests and dumps (allocates; not for the hot path). */
export type DecodedEntry =
  | { readonly type: 'empty' }
  | { readonly type: 'invalid'; readonly reason: string }
  | {
      readonly type: 'table'
      /** physical (or, in a nested stage 1, intermediate) address of the next table */
      readonly address: number
      /** architecture-numbered level of the table pointed to */
      readonly nextLevel: number
      readonly attrs: Readonly<Record<string, number | boolean>>
    }
  | {
      readonly type: 'leaf'
      /** output address of the first byte of the leaf group (contiguous run / replicated page) */
      readonly address: number
      /** log2 bytes mapped by the group this entry belongs to */
      readonly sizeLg2: number
      /** log2 bytes covered by this single entry's index slot */
      readonly entrySizeLg2: number
      /** permissions this descriptor alone grants ({@link Perm} bits) */
      readonly perm: number
      readonly attrs: Readonly<Record<string, number | boolean>>
    }

/**
 * Per-family descriptor codec. `g` is the generic (leaf-first) level. Attribute words carry
 * everything of a leaf except its address, type and size encoding; `map` derives them from
 * `IOMMU_*` flags and `unmap` copies them when it splits a block.
 */
export interface FormatCodec {
  entryType(fmt: PageTableFormat, g: number, lo: number, hi: number): EntryType
  tableAddress(fmt: PageTableFormat, g: number, lo: number, hi: number): number
  /** For a table entry: generic level of the table it points to (AMD may skip levels). */
  tableLevel(fmt: PageTableFormat, g: number, lo: number, hi: number): number
  /** Output address of the first byte covered by this entry's own index slot. */
  leafAddress(fmt: PageTableFormat, g: number, lo: number, hi: number): number
  /** log2 size of the leaf group (contiguous hint run, AMD NextLevel-7 page) this entry is part of. */
  leafGroupLg2(fmt: PageTableFormat, g: number, lo: number, hi: number): number
  /** Attribute words for Linux IOMMU_* flags. Throws EINVAL for combinations the format refuses. */
  protToAttrs(fmt: PageTableFormat, prot: number, out: Uint32Array): void
  /** Attribute words of an existing leaf. */
  leafAttrs(fmt: PageTableFormat, g: number, lo: number, hi: number, out: Uint32Array): void
  /**
   * Descriptor of one entry of a leaf group of `groupLg2` bytes at level g whose entry slot maps
   * `entryOa` (for replicated groups pass the group base).
   */
  encodeLeaf(fmt: PageTableFormat, g: number, entryOa: number, groupLg2: number, attrLo: number, attrHi: number, out: Uint32Array): void
  /** Descriptor of a table entry at level g pointing at a table of level g - 1. */
  encodeTable(fmt: PageTableFormat, g: number, tablePa: number, out: Uint32Array): void
  /** Permissions a leaf grants on its own. */
  leafPerm(fmt: PageTableFormat, g: number, lo: number, hi: number): number
  /** Named fields, for dumps. */
  describe(fmt: PageTableFormat, g: number, lo: number, hi: number): Record<string, number | boolean>
}

/** Everything a family module supplies to build a format instance. */
export interface FormatSpec {
  readonly kind: number
  readonly name: string
  readonly stage: 1 | 2
  readonly granuleLg2: number
  readonly levels: number
  /** index bits of the top table (may exceed `bitsPerLevel` for concatenated stage-2 roots) */
  readonly topIndexBits: number
  readonly bitsPerLevel: number
  readonly inputBits: number
  readonly outputBits: number
  /** true when inputs are sign-extended (x86-64 canonical addresses, upper half negative) */
  readonly signExtended: boolean
  readonly flags: number
  /** per generic level: hardware accepts a leaf here */
  readonly leafLevels: readonly boolean[]
  /** per generic level: log2 entries of a contiguous-hint group (LPAE), 0 if none */
  readonly contigLg2: readonly number[]
  /** leaf group sizes `map` may use, log2 bytes */
  readonly pageSizesLg2: readonly number[]
  /** entries of a multi-entry leaf group all hold the same descriptor (AMD NextLevel 7) */
  readonly replicateGroups: boolean
  readonly archLevelBase: number
  readonly archLevelStep: 1 | -1
  readonly hwInfo: Readonly<Record<string, number>>
  readonly codec: FormatCodec
  /** high-word bits that are reserved in every descriptor (address bits above the output width...) */
  readonly reservedHiMask?: number
}

const POW2 = (n: number): number => 2 ** n

export class PageTableFormat {
  readonly kind: number
  readonly name: string
  readonly stage: 1 | 2
  /** log2 bytes of the translation granule (smallest page and table size). */
  readonly granuleLg2: number
  readonly levels: number
  /** generic number of the top level (levels - 1) */
  readonly topLevel: number
  readonly bitsPerLevel: number
  readonly inputBits: number
  readonly outputBits: number
  readonly signExtended: boolean
  /** lowest valid input address (negative for sign-extended formats), at least -2^53 */
  readonly inputMin: number
  /** one past the highest valid input address, at most 2^53 */
  readonly inputLimit: number
  /** 2^outputBits */
  readonly outputLimit: number
  /** family-specific option bits read by the walker */
  readonly flags: number
  /** high-word bits reserved in every descriptor (a RESERVED fault for x86 / VT-d / AMD) */
  readonly reservedHiMask: number
  /** bytes / frames of a non-root table */
  readonly tableBytes: number
  readonly tableFrames: number
  /** bytes / frames of the root (concatenated stage-2 roots span several granules) */
  readonly rootBytes: number
  readonly rootFrames: number
  /** alignment of the root in frames (a concatenated root is aligned to its whole size) */
  readonly rootAlignFrames: number
  /** leaf sizes `map` may use, log2 bytes, largest first */
  readonly pageSizesLg2: readonly number[]
  readonly replicateGroups: boolean
  /** Values a driver programs into the hardware for this geometry (T0SZ/TG/SL0, AW, Mode, ...). */
  readonly hwInfo: Readonly<Record<string, number>>
  readonly codec: FormatCodec
  readonly archLevelBase: number
  readonly archLevelStep: number

  /** per generic level: shift of the input bits indexed at that level */
  readonly lvShift: Int32Array
  /** per generic level: index mask (entries - 1) */
  readonly lvIndexMask: Int32Array
  /** per generic level: 2^-shift and 2^shift, for exact double arithmetic on addresses */
  readonly lvInv: Float64Array
  readonly lvPow: Float64Array
  /** per generic level: 1 when the hardware accepts a leaf at that level */
  readonly lvLeaf: Uint8Array
  /** per generic level: log2 entries in a contiguous-hint group, 0 when the level has none */
  readonly lvContigLg2: Uint8Array
  /** per generic level: masks of the output-address bits of a leaf in the low / high word */
  readonly lvOaLoMask: Int32Array
  readonly lvOaHiMask: Int32Array

  constructor(spec: FormatSpec) {
    this.kind = spec.kind
    this.name = spec.name
    this.stage = spec.stage
    this.granuleLg2 = spec.granuleLg2
    this.levels = spec.levels
    this.topLevel = spec.levels - 1
    this.bitsPerLevel = spec.bitsPerLevel
    this.inputBits = spec.inputBits
    this.outputBits = spec.outputBits
    this.signExtended = spec.signExtended
    // Inputs are JS numbers: beyond ±2^53 they are not exact, so the range stops there (an input
    // outside it is the format's out-of-range fault, ADDRESS_SIZE for the 57/64-bit formats).
    this.inputMin = spec.signExtended ? Math.max(-POW2(spec.inputBits - 1), -POW2(53)) : 0
    this.inputLimit = Math.min(spec.signExtended ? POW2(spec.inputBits - 1) : POW2(spec.inputBits), POW2(53))
    this.outputLimit = POW2(spec.outputBits)
    this.flags = spec.flags
    this.reservedHiMask = spec.reservedHiMask ?? 0
    this.tableBytes = POW2(spec.granuleLg2)
    this.tableFrames = Math.max(1, this.tableBytes / FRAME_SIZE)
    const rootBytes = Math.max(this.tableBytes, 8 * POW2(spec.topIndexBits))
    this.rootBytes = rootBytes
    this.rootFrames = Math.max(1, rootBytes >> FRAME_SHIFT)
    this.rootAlignFrames = this.rootFrames
    this.pageSizesLg2 = Object.freeze([...spec.pageSizesLg2].sort((a, b) => b - a))
    this.replicateGroups = spec.replicateGroups
    this.hwInfo = Object.freeze({ ...spec.hwInfo })
    this.codec = spec.codec
    this.archLevelBase = spec.archLevelBase
    this.archLevelStep = spec.archLevelStep

    const n = spec.levels
    this.lvShift = new Int32Array(n)
    this.lvIndexMask = new Int32Array(n)
    this.lvInv = new Float64Array(n)
    this.lvPow = new Float64Array(n)
    this.lvLeaf = new Uint8Array(n)
    this.lvContigLg2 = new Uint8Array(n)
    this.lvOaLoMask = new Int32Array(n)
    this.lvOaHiMask = new Int32Array(n)
    // Output-address field: bits [47:G] for VMSAv8-64 (io-pgtable-arm.c, 48-bit OA), [51:12] for
    // the x86 / VT-d / AMD formats (generic_pt fmt/*.h *_FMT_OA = GENMASK_ULL(51, 12)).
    const oaTopBit = spec.kind === 1 || spec.kind === 2 ? 47 : 51
    for (let g = 0; g < n; g++) {
      const shift = spec.granuleLg2 + g * spec.bitsPerLevel
      const bits = g === n - 1 ? spec.topIndexBits : spec.bitsPerLevel
      this.lvShift[g] = shift
      this.lvIndexMask[g] = POW2(bits) - 1
      this.lvInv[g] = POW2(-shift)
      this.lvPow[g] = POW2(shift)
      this.lvLeaf[g] = spec.leafLevels[g] ? 1 : 0
      this.lvContigLg2[g] = spec.contigLg2[g] ?? 0
      this.lvOaLoMask[g] = shift >= 32 ? 0 : (~(POW2(shift) - 1)) | 0
      const hiTop = oaTopBit - 32 + 1 // number of address bits in the high word
      const hiAll = POW2(hiTop) - 1
      this.lvOaHiMask[g] = shift >= 32 ? hiAll & ~(POW2(shift - 32) - 1) : hiAll
    }
  }

  /** Architecture-numbered level of generic level `g`. */
  archLevel(g: number): number {
    return this.archLevelBase + this.archLevelStep * g
  }

  /** Generic (leaf-first) level of an architecture-numbered level. */
  genericLevel(archLevel: number): number {
    return (archLevel - this.archLevelBase) * this.archLevelStep
  }

  /** Architecture-numbered level of the root table. */
  get startLevel(): number {
    return this.archLevel(this.topLevel)
  }

  /** Number of entries in a table at generic level g. */
  entriesAt(g: number): number {
    return this.lvIndexMask[g]! + 1
  }

  /** Leaf sizes `map` may use, in bytes, largest first (the driver's pgsize bitmap). */
  get pageSizes(): number[] {
    return this.pageSizesLg2.map(POW2)
  }

  toString(): string {
    return this.name
  }
}

/** Validates a user page-size restriction against the sizes a format supports. */
export function restrictPageSizes(supported: readonly number[], requested: readonly number[] | undefined, name: string): number[] {
  if (requested === undefined) return [...supported]
  const out: number[] = []
  for (const size of requested) {
    const lg2 = Math.log2(size)
    if (!Number.isInteger(lg2) || !supported.includes(lg2)) {
      throw new RangeError(`${name}: page size ${size} is not supported (supported: ${supported.map((s) => 2 ** s).join(', ')})`)
    }
    out.push(lg2)
  }
  if (out.length === 0) throw new RangeError(`${name}: pageSizes must not be empty`)
  return out
}

/**
 * High-word mask of the physical-address bits [51:32] above `outputBits`: reserved (must be
 * zero) in x86-64, VT-d second-stage and AMD-Vi v1 entries.
 */
export function reservedAddressHiMask(outputBits: number): number {
  return outputBits >= 52 ? 0 : 0xfffff & ~((1 << (outputBits - 32)) - 1)
}
