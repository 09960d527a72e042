/**
 * VMSAv8-64 ("LPAE") stage-1 and stage-2 translation tables, as used by SMMUv3 (CD.TTB0 and
 * STE.S2TTB): 4K / 16K / 64K granules, 1–4 levels, block entries, the contiguous hint,
 * AP / S2AP / XN permissions, hierarchical APTable / XNTable, AF, stage-2 concatenated roots.
 *
 * Facts (bit positions, sizes, fault priorities) are from reference/hw-formats.md §1.5, which
 * paraphrases Linux drivers/iommu/io-pgtable-arm.c and the Arm ARM; encodings used by `map` follow
 * io-pgtable-arm.c `arm_lpae_prot_to_pte`; the order AF → permission → output address size
 * follows QEMU hw/arm/smmu-common.c `smmu_ptw_64_s1/s2`.
 *
 * Addresses: output addresses are bits [47:G] of a descriptor (48-bit OA), plus OA[51:48] in
 * bits [15:12] for the 64K granule with a 52-bit output size (FEAT_LPA). Input addresses are the
 * TTB0 range [0, 2^IS); TTB1 (upper) ranges are the unit model's business.
 */
import type { PhysicalMemory } from '../memory/physical-memory.js'
import { FaultKind, FormatKind, IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE } from './constants.js'
import { PageTableError } from './errors.js'
import { EntryType, PageTableFormat, restrictPageSizes, type FormatCodec } from './format.js'
import type { WalkFetch } from '../walk/fetch.js'
import type { WalkResult } from '../walk/result.js'
import { setFault, setLeaf, setPermFault } from '../walk/fault.js'
import { MAX_WALK_BYTES } from '../walk/descriptor.js'

/** Walker option bits in {@link PageTableFormat.flags} for the LPAE formats. */
export const LpaeFlag = {
  /** CD.AFFD / STE.S2AFFD: an AF=0 leaf does not fault. */
  AFFD: 1,
  /** CD.HAD: hierarchical permissions (APTable / PXNTable / UXNTable) are disabled. */
  HPD: 2,
  /** FEAT_XNX: stage-2 XN[0] (bit 53) distinguishes privileged execute. */
  XNX: 4,
  /** Report the size of a contiguous-hint group instead of the single entry. */
  CONTIG: 8,
  /** 64K granule with 52-bit output addresses: OA[51:48] live in descriptor bits [15:12]. */
  OA52: 16,
  /** CD.HA (HTTU): the walker sets AF in an AF = 0 leaf instead of faulting. */
  HA: 32,
  /**
   * CD.HD (HTTU): a write to a DBM = 1, AP[2] = 1 ("writable-clean") stage-1 leaf clears AP[2]
   * ("writable-dirty") instead of faulting; `map` gives writable leaves DBM, as Linux's
   * io-pgtable-arm does with IO_PGTABLE_QUIRK_ARM_HD.
   */
  HD: 64,
} as const

export type LpaeGranule = 4096 | 16384 | 65536

export interface LpaeCommonOptions {
  readonly granule?: LpaeGranule
  /** Input address size IS = 64 − T0SZ. */
  readonly inputBits: number
  /** Output address size (CD.IPS / STE.S2PS effective value): 32, 36, 40, 42, 44, 48 or 52. Default 48. */
  readonly outputBits?: number
  /** AF = 0 leaves do not fault (AFFD). Default false. */
  readonly accessFlagFaultDisable?: boolean
  /** The walker reports a contiguous-hint group's full size. Default true. */
  readonly honourContiguous?: boolean
  /** Leaf sizes `map` may use (bytes). Default: every block, page and contiguous size of the granule. */
  readonly pageSizes?: readonly number[]
}

export interface LpaeS1Options extends LpaeCommonOptions {
  /** CD.HAD: ignore APTable / XNTable bits. Default false. */
  readonly hierarchicalPermDisable?: boolean
  /** CD.HA: hardware Access flag update. Default false. */
  readonly hardwareAccessFlag?: boolean
  /** CD.HD: hardware dirty state (DBM) update. Default false. */
  readonly hardwareDirty?: boolean
}

export interface LpaeS2Options extends LpaeCommonOptions {
  /** ARM-numbered start level (from S2SL0). Default: the Linux choice — the natural start level,
   *  except that a level-0 start with ≤ 16 entries becomes concatenated tables one level down. */
  readonly startLevel?: number
  /** FEAT_XNX semantics for XN[1:0]. Default false (only XN[1], bit 54, is honoured). */
  readonly xnx?: boolean
}

const TWO32 = 4294967296
const TWO48 = 281474976710656

// Descriptor bits (reference §1.5). Low word:
const D_VALID = 1
const D_TABLE = 2 // [1] = 1: table (levels 0-2) or page (level 3)
const D_AP1 = 1 << 6 // S1 AP[1] unprivileged access; S2 S2AP[0] read
const D_AP2 = 1 << 7 // S1 AP[2] read-only;        S2 S2AP[1] write
const D_AF = 1 << 10
const D_NG = 1 << 11
const D_SH_OS = 2 << 8
const D_SH_IS = 3 << 8
// High word (bit n of the descriptor = bit n-32 of the high word):
const H_CONT = 1 << 20 // bit 52 contiguous
const H_PXN = 1 << 21 // bit 53 S1 PXN / S2 XN[0]
const H_UXN = 1 << 22 // bit 54 S1 UXN / S2 XN[1]
const H_PXNTABLE = 1 << 27 // bit 59
const H_UXNTABLE = 1 << 28 // bit 60
const H_APTABLE0 = 1 << 29 // bit 61: no unprivileged access below
const H_APTABLE1 = 1 << 30 // bit 62: no write access below
const H_ADDR = 0xffff // bits [47:32]
const H_DBM = 1 << 19 // bit 51 dirty bit modifier

// Linux MAIR indices (io-pgtable-arm.c ARM_LPAE_MAIR_ATTR_IDX_*) and S2 MemAttr values
const ATTRIDX_CACHE = 1
const ATTRIDX_DEV = 2
const MEMATTR_DEV = 0x1
const MEMATTR_OIWB = 0xf
const MEMATTR_NC = 0x5

// Permission bits as plain numbers for the hot path (same values as Perm).
const P_R = 1, P_W = 2, P_X = 4, P_PR = 8, P_PW = 16, P_PX = 32

const IPS_BY_BITS: Readonly<Record<number, number>> = { 32: 0, 36: 1, 40: 2, 42: 3, 44: 4, 48: 5, 52: 6 }

/**
 * An HTTU descriptor update of the low word: sets `set` and clears `clear` atomically if the word
 * is still `lo`. Returns the new word, or -1 when software changed the descriptor since it was
 * read (the walk then reads this level again).
 */
function hardwareUpdate(u32: Uint32Array, wi: number, lo: number, set: number, clear: number): number {
  const next = ((lo | set) & ~clear) >>> 0
  return Atomics.compareExchange(u32, wi, lo >>> 0, next) === lo >>> 0 ? next : -1
}

/** Permissions granted by a stage-1 leaf on its own (AP[2:1], PXN, UXN). */
function s1LeafPerm(lo: number, hi: number): number {
  const ro = (lo & D_AP2) !== 0
  let perm = P_PR | (ro ? 0 : P_PW)
  if ((lo & D_AP1) !== 0) perm |= P_R | (ro ? 0 : P_W)
  if ((hi & H_PXN) === 0) perm |= P_PX
  if ((hi & H_UXN) === 0) perm |= P_X
  return perm
}

/** Permissions granted by a stage-2 leaf (S2AP, XN[1:0]). */
function s2LeafPerm(lo: number, hi: number, xnx: boolean): number {
  let perm = ((lo & D_AP1) !== 0 ? P_R | P_PR : 0) | ((lo & D_AP2) !== 0 ? P_W | P_PW : 0)
  if (xnx) {
    // XN[1:0]: 00 both levels may execute, 01 EL1 may not, 10 neither, 11 EL0 may not.
    switch ((hi >>> 21) & 3) {
      case 0: perm |= P_X | P_PX; break
      case 1: perm |= P_X; break
      case 3: perm |= P_PX; break
    }
  } else if ((hi & H_UXN) === 0) {
    perm |= P_X | P_PX
  }
  return perm
}

/** Permissions an S1 table descriptor removes from everything below it (APTable, XNTable). */
function tableDeny(hi: number): number {
  let deny = 0
  if ((hi & H_PXNTABLE) !== 0) deny |= P_PX
  if ((hi & H_UXNTABLE) !== 0) deny |= P_X
  if ((hi & H_APTABLE0) !== 0) deny |= P_R | P_W
  if ((hi & H_APTABLE1) !== 0) deny |= P_W | P_PW
  return deny
}

function granuleMask(fmt: PageTableFormat): number {
  return ~(fmt.tableBytes - 1) | 0
}

/** Next-table address of a table descriptor (bits [47:G], plus TA[51:48] in [15:12] with OA52). */
function lpaeTableAddress(fmt: PageTableFormat, lo: number, hi: number): number {
  let a = (hi & H_ADDR) * TWO32 + ((lo & granuleMask(fmt)) >>> 0)
  if ((fmt.flags & LpaeFlag.OA52) !== 0) a += ((lo >>> 12) & 0xf) * TWO48
  return a
}

function lpaeLeafAddress(fmt: PageTableFormat, g: number, lo: number, hi: number): number {
  let a = (hi & fmt.lvOaHiMask[g]!) * TWO32 + ((lo & fmt.lvOaLoMask[g]!) >>> 0)
  if ((fmt.flags & LpaeFlag.OA52) !== 0) a += ((lo >>> 12) & 0xf) * TWO48
  return a
}

const lpaeCodec: FormatCodec = {
  entryType(fmt, g, lo) {
    if ((lo & D_VALID) === 0) return EntryType.EMPTY
    if ((lo & D_TABLE) !== 0) return g === 0 ? EntryType.LEAF : EntryType.TABLE
    return g !== 0 && fmt.lvLeaf[g] === 1 ? EntryType.LEAF : EntryType.INVALID
  },
  tableAddress: (fmt, _g, lo, hi) => lpaeTableAddress(fmt, lo, hi),
  tableLevel: (_fmt, g) => g - 1,
  leafAddress: lpaeLeafAddress,
  leafGroupLg2(fmt, g, _lo, hi) {
    const c = fmt.lvContigLg2[g]!
    return fmt.lvShift[g]! + ((hi & H_CONT) !== 0 ? c : 0)
  },
  protToAttrs(fmt, prot, out) {
    if ((prot & (IOMMU_READ | IOMMU_WRITE)) === 0) {
      throw new PageTableError('EINVAL', `${fmt.name}: a mapping needs IOMMU_READ or IOMMU_WRITE`)
    }
    let lo = D_AF | ((prot & IOMMU_CACHE) !== 0 ? D_SH_IS : D_SH_OS)
    if (fmt.kind === FormatKind.LPAE_S1) {
      lo |= D_NG
      if ((prot & IOMMU_WRITE) === 0) lo |= D_AP2
      if ((prot & IOMMU_PRIV) === 0) lo |= D_AP1
      if ((prot & IOMMU_MMIO) !== 0) lo |= ATTRIDX_DEV << 2
      else if ((prot & IOMMU_CACHE) !== 0) lo |= ATTRIDX_CACHE << 2
    } else {
      if ((prot & IOMMU_READ) !== 0) lo |= D_AP1
      if ((prot & IOMMU_WRITE) !== 0) lo |= D_AP2
      lo |= ((prot & IOMMU_MMIO) !== 0 ? MEMATTR_DEV : (prot & IOMMU_CACHE) !== 0 ? MEMATTR_OIWB : MEMATTR_NC) << 2
    }
    out[0] = lo
    out[1] = (prot & IOMMU_NOEXEC) !== 0 ? H_PXN | H_UXN : 0
    // HTTU dirty tracking: writable leaves start writable-dirty (DBM = 1, AP[2] = 0).
    if (fmt.kind === FormatKind.LPAE_S1 && (fmt.flags & LpaeFlag.HD) !== 0 && (prot & IOMMU_WRITE) !== 0) out[1] |= H_DBM
  },
  leafAttrs(_fmt, _g, lo, hi, out) {
    out[0] = lo & 0xffc // bits [11:2]
    out[1] = hi & ~(H_ADDR | H_CONT) // bits [63:48] except the contiguous hint
  },
  encodeLeaf(fmt, g, entryOa, groupLg2, attrLo, attrHi, out) {
    let lo = (attrLo & 0xffc) | D_VALID | (g === 0 ? D_TABLE : 0)
    lo |= (entryOa % TWO32) & fmt.lvOaLoMask[g]!
    let hi = (attrHi & ~(H_ADDR | H_CONT)) | (Math.floor(entryOa / TWO32) & H_ADDR)
    if ((fmt.flags & LpaeFlag.OA52) !== 0) lo |= (Math.floor(entryOa / TWO48) & 0xf) << 12
    if (groupLg2 > fmt.lvShift[g]!) hi |= H_CONT
    out[0] = lo
    out[1] = hi
  },
  encodeTable(fmt, _g, tablePa, out) {
    let lo = ((tablePa % TWO32) & granuleMask(fmt)) | D_VALID | D_TABLE
    if ((fmt.flags & LpaeFlag.OA52) !== 0) lo |= (Math.floor(tablePa / TWO48) & 0xf) << 12
    out[0] = lo
    out[1] = Math.floor(tablePa / TWO32) & H_ADDR
  },
  leafPerm(fmt, _g, lo, hi) {
    return fmt.kind === FormatKind.LPAE_S1 ? s1LeafPerm(lo, hi) : s2LeafPerm(lo, hi, (fmt.flags & LpaeFlag.XNX) !== 0)
  },
  describe(fmt, g, lo, hi) {
    const common = { valid: (lo & 1) === 1, typeBit: (lo & 2) === 2 }
    if (lpaeCodec.entryType(fmt, g, lo, hi) === EntryType.TABLE) {
      return { ...common, nsTable: (hi >>> 31) === 1, apTable: (hi >>> 29) & 3, uxnTable: (hi & H_UXNTABLE) !== 0, pxnTable: (hi & H_PXNTABLE) !== 0 }
    }
    const leaf = {
      ...common, sh: (lo >>> 8) & 3, af: (lo & D_AF) !== 0, contiguous: (hi & H_CONT) !== 0,
      dbm: (hi & (1 << 19)) !== 0, software: (hi >>> 23) & 0xf,
    }
    return fmt.kind === FormatKind.LPAE_S1
      ? { ...leaf, attrIndx: (lo >>> 2) & 7, ns: (lo & 0x20) !== 0, ap: (lo >>> 6) & 3, nG: (lo & D_NG) !== 0, pxn: (hi & H_PXN) !== 0, uxn: (hi & H_UXN) !== 0 }
      : { ...leaf, memAttr: (lo >>> 2) & 0xf, s2ap: (lo >>> 6) & 3, xn: (hi >>> 21) & 3 }
  },
}

// ------------------------------------------------------------------------------------------
// Geometry

function checkGranule(name: string, granule: number): { g: number; s: number } {
  if (granule !== 4096 && granule !== 16384 && granule !== 65536) throw new RangeError(`${name}: granule must be 4096, 16384 or 65536, got ${granule}`)
  const g = Math.log2(granule)
  return { g, s: g - 3 }
}

function checkOutputBits(name: string, bits: number, granuleLg2: number): void {
  if (IPS_BY_BITS[bits] === undefined) throw new RangeError(`${name}: outputBits must be one of 32, 36, 40, 42, 44, 48, 52; got ${bits}`)
  if (bits === 52 && granuleLg2 !== 16) throw new RangeError(`${name}: 52-bit output addresses need the 64K granule (FEAT_LPA)`)
}

/**
 * Leaf levels per granule (io-pgtable-arm.c arm_lpae_restrict_pgsizes): 4K → L3 page, L2 and L1
 * blocks; 16K → L3 page, L2 block; 64K → L3 page, L2 block, L1 block only with 52-bit OA.
 * Contiguous groups (reference §1.5): 4K: 16 entries at L3 and L2; 16K: 128 at L3, 32 at L2;
 * 64K: 32 at L3 and L2.
 */
function lpaeLevels(granuleLg2: number, levels: number, oa52: boolean): { leaf: boolean[]; contig: number[] } {
  const leaf: boolean[] = []
  const contig: number[] = []
  for (let g = 0; g < levels; g++) {
    const arm = 3 - g
    leaf.push(arm === 3 || arm === 2 || (arm === 1 && (granuleLg2 === 12 || (granuleLg2 === 16 && oa52))))
    contig.push(arm === 3 ? { 12: 4, 14: 7, 16: 5 }[granuleLg2]! : arm === 2 ? { 12: 4, 14: 5, 16: 5 }[granuleLg2]! : 0)
  }
  return { leaf, contig }
}

function lpaePageSizes(granuleLg2: number, s: number, levels: number, topIndexBits: number, leaf: boolean[], contig: number[]): number[] {
  const sizes: number[] = []
  for (let g = 0; g < levels; g++) {
    if (!leaf[g]) continue
    const shift = granuleLg2 + g * s
    sizes.push(shift)
    const entries = g === levels - 1 ? topIndexBits : s
    if (contig[g]! > 0 && contig[g]! <= entries) sizes.push(shift + contig[g]!)
  }
  return sizes
}

function makeLpae(kind: 1 | 2, opts: LpaeCommonOptions, startLevel: number | undefined, flagsExtra: number, name0: string): PageTableFormat {
  const granule = opts.granule ?? 4096
  const { g: G, s: S } = checkGranule(name0, granule)
  const outputBits = opts.outputBits ?? 48
  checkOutputBits(name0, outputBits, G)
  const IS = opts.inputBits
  const maxIS = G === 16 && outputBits === 52 ? 52 : 48
  if (!Number.isInteger(IS) || IS <= G || IS > maxIS) throw new RangeError(`${name0}: inputBits must be an integer in (${G}, ${maxIS}], got ${IS}`)
  const naturalLevels = Math.ceil((IS - G) / S)
  let levels: number
  if (startLevel === undefined) {
    levels = naturalLevels
  } else {
    if (!Number.isInteger(startLevel) || startLevel < 0 || startLevel > 3) throw new RangeError(`${name0}: startLevel must be 0..3`)
    levels = 4 - startLevel
  }
  if (levels > 4) throw new RangeError(`${name0}: ${IS}-bit input needs more than 4 levels with a ${granule}-byte granule`)
  const topIndexBits = IS - (G + (levels - 1) * S)
  if (topIndexBits < 1) throw new RangeError(`${name0}: start level ${4 - levels} is below the ${IS}-bit input range`)
  if (topIndexBits > S + (kind === 2 ? 4 : 0)) {
    throw new RangeError(kind === 2
      ? `${name0}: start level ${4 - levels} would need ${2 ** (topIndexBits - S)} concatenated tables (at most 16)`
      : `${name0}: ${IS}-bit input does not fit ${levels} levels`)
  }
  const oa52 = outputBits === 52
  const { leaf, contig } = lpaeLevels(G, levels, oa52)
  const honourContig = opts.honourContiguous ?? true
  const flags = (opts.accessFlagFaultDisable ? LpaeFlag.AFFD : 0) | (honourContig ? LpaeFlag.CONTIG : 0) | (oa52 ? LpaeFlag.OA52 : 0) | flagsExtra
  const name = `${kind === 1 ? 'lpae-s1' : 'lpae-s2'}/${granule >> 10}k/${IS}bit/L${4 - levels}`
  const supported = lpaePageSizes(G, S, levels, topIndexBits, leaf, contig)
  const tg = { 12: 0, 16: 1, 14: 2 }[G]!
  const concatenated = topIndexBits > S ? 2 ** (topIndexBits - S) : 1
  const start = 4 - levels
  const hwInfo = kind === 1
    ? { t0sz: 64 - IS, tg0: tg, ips: IPS_BY_BITS[outputBits]!, startLevel: start }
    : { s2t0sz: 64 - IS, s2tg: tg, s2ps: IPS_BY_BITS[outputBits]!, s2sl0: lpaeS2Sl0(granule, start), startLevel: start, concatenated }
  return new PageTableFormat({
    kind, name, stage: kind, granuleLg2: G, levels, topIndexBits, bitsPerLevel: S, inputBits: IS, outputBits,
    signExtended: false, flags, leafLevels: leaf, contigLg2: contig,
    pageSizesLg2: restrictPageSizes(supported, opts.pageSizes, name),
    replicateGroups: false, archLevelBase: 3, archLevelStep: -1, hwInfo, codec: lpaeCodec,
  })
}

/** STE.S2SL0 value for a stage-2 start level (reference §1.5): 4K: L0→2, L1→1, L2→0; 16K/64K: L1→2, L2→1, L3→0. */
export function lpaeS2Sl0(granule: number, startLevel: number): number {
  return granule === 4096 ? 2 - startLevel : 3 - startLevel
}

/** ARM start level for STE.S2SL0 (inverse of {@link lpaeS2Sl0}). */
export function lpaeS2StartLevel(granule: number, sl0: number): number {
  return granule === 4096 ? 2 - sl0 : 3 - sl0
}

/** A VMSAv8-64 stage-1 format (SMMUv3 CD: T0SZ, TG0, IPS, AFFD, HAD). */
export function lpaeS1Format(opts: LpaeS1Options): PageTableFormat {
  const flags = (opts.hierarchicalPermDisable ? LpaeFlag.HPD : 0) | (opts.hardwareAccessFlag ? LpaeFlag.HA : 0) | (opts.hardwareDirty ? LpaeFlag.HD : 0)
  return makeLpae(1, opts, undefined, flags, 'lpae-s1')
}

/** A VMSAv8-64 stage-2 format (SMMUv3 STE: S2T0SZ, S2SL0, S2TG, S2PS, S2AFFD), with concatenated roots. */
export function lpaeS2Format(opts: LpaeS2Options): PageTableFormat {
  let start = opts.startLevel
  if (start === undefined) {
    const granule = opts.granule ?? 4096
    const G = Math.log2(granule)
    const S = G - 3
    const natural = 4 - Math.ceil((opts.inputBits - G) / S)
    const topBits = opts.inputBits - (G + (3 - natural) * S)
    // io-pgtable-arm.c arm_64_lpae_alloc_pgtable_s2: concatenate instead of a tiny level-0 table.
    start = natural === 0 && topBits <= 4 ? 1 : natural
  }
  if (opts.granule !== undefined && opts.granule !== 4096 && start === 0) {
    throw new RangeError('lpae-s2: start level 0 is not encodable in S2SL0 for the 16K / 64K granules')
  }
  return makeLpae(2, opts, start, opts.xnx ? LpaeFlag.XNX : 0, 'lpae-s2')
}

// ------------------------------------------------------------------------------------------
// Walker (hot path: numbers and typed arrays only)

/**
 * Walks one VMSAv8-64 stage. `required` is a {@link Perm} mask (0 = no permission check).
 * Reads each descriptor as low word, high word, low word again (see walk/descriptor.ts), so a
 * concurrent writer following the install / clear / replace protocol is never seen torn.
 *
 * Without a fetch hook, table addresses stay 32-bit word indices (memory is below 4 GiB), which
 * keeps the per-level dependency chain to integer operations.
 */
export function walkLpae(mem: PhysicalMemory, fmt: PageTableFormat, root: number, iova: number, required: number, out: WalkResult, fetch: WalkFetch | null): boolean {
  const stage = fmt.stage
  const base = fmt.archLevelBase
  let g = fmt.topLevel
  // QEMU smmu_ptw_64_s1 / s2: an input outside [0, 2^IS) is a translation fault.
  if (!(iova >= 0 && iova < fmt.inputLimit)) return setFault(out, FaultKind.TRANSLATION, stage, base - g, iova, 0)
  const u32 = mem.u32
  const memBytes = mem.bytes < MAX_WALK_BYTES ? mem.bytes : MAX_WALK_BYTES
  const memWords = u32.length
  const flags = fmt.flags
  const inv = fmt.lvInv
  const idxMask = fmt.lvIndexMask
  const tableMask = ~(fmt.tableBytes - 1)
  const outLimit = fmt.outputLimit
  const oa52 = (flags & LpaeFlag.OA52) !== 0
  const s1 = fmt.kind === FormatKind.LPAE_S1
  const hpd = !s1 || (flags & LpaeFlag.HPD) !== 0
  // Direct walks index memory by 32-bit word; hooked walks keep the (IPA) address as a double.
  let tableD = root
  let twi = 0
  if (fetch === null) {
    if (!(root >= 0 && root < memBytes)) return setFault(out, FaultKind.WALK_ABORT, stage, base - g, iova, 0)
    twi = root >>> 2
  }
  let deny = 0
  let reads = 0
  for (;;) {
    const q = Math.floor(iova * inv[g]!)
    let wi: number
    if (fetch === null) {
      wi = twi + ((q & idxMask[g]!) << 1)
      if (wi + 2 > memWords) return setFault(out, FaultKind.WALK_ABORT, stage, base - g, iova, reads)
    } else {
      const dpa = fetch.fetch(tableD + (q & idxMask[g]!) * 8, out)
      if (dpa < 0) {
        out.duringTableWalk = true
        out.reads += reads
        return false
      }
      if (dpa + 8 > memBytes) return setFault(out, FaultKind.WALK_ABORT, stage, base - g, iova, reads)
      wi = dpa >>> 2
    }
    let lo = u32[wi]!
    let hi = u32[wi + 1]!
    while (u32[wi] !== lo) {
      lo = u32[wi]!
      hi = u32[wi + 1]!
    }
    reads++
    if ((lo & D_VALID) === 0) return setFault(out, FaultKind.TRANSLATION, stage, base - g, iova, reads)
    if ((lo & D_TABLE) !== 0 && g !== 0) {
      const hiA = hi & H_ADDR
      if (hiA !== 0 || (oa52 && (lo & 0xf000) !== 0) || fetch !== null) {
        let next = hiA * TWO32 + ((lo & tableMask) >>> 0)
        if (oa52) next += ((lo >>> 12) & 0xf) * TWO48
        if (next >= outLimit) return setFault(out, FaultKind.ADDRESS_SIZE, stage, base - g, iova, reads)
        // A direct walk cannot fetch at or above 4 GiB: external abort at the next level.
        if (fetch === null) return setFault(out, FaultKind.WALK_ABORT, stage, base - g + 1, iova, reads)
        tableD = next
      } else {
        twi = (lo & tableMask) >>> 2
      }
      if (!hpd) deny |= tableDeny(hi)
      g--
      continue
    }
    // A block where the granule allows none, or 0b01 at level 3, is a reserved (invalid) encoding.
    if (g === 0 ? (lo & D_TABLE) === 0 : fmt.lvLeaf[g] === 0) {
      return setFault(out, FaultKind.TRANSLATION, stage, base - g, iova, reads)
    }
    if ((lo & D_AF) === 0 && (flags & LpaeFlag.AFFD) === 0) {
      if ((flags & LpaeFlag.HA) === 0) return setFault(out, FaultKind.ACCESS_FLAG, stage, base - g, iova, reads)
      lo = hardwareUpdate(u32, wi, lo, D_AF, 0) // HTTU: set AF instead of faulting
      if (lo < 0) continue // raced with software: read this level again
    }
    let perm = s1 ? s1LeafPerm(lo, hi) & ~deny : s2LeafPerm(lo, hi, (flags & LpaeFlag.XNX) !== 0)
    if ((perm & required) !== required) {
      // HTTU dirty state: a write to a writable-clean leaf (DBM = 1, AP[2] = 1) makes it dirty.
      if ((flags & LpaeFlag.HD) === 0 || (hi & H_DBM) === 0 || (lo & D_AP2) === 0) return setPermFault(out, perm, stage, base - g, iova, reads)
      const dirty = s1LeafPerm(lo & ~D_AP2, hi) & ~deny
      if ((dirty & required) !== required) return setPermFault(out, perm, stage, base - g, iova, reads)
      lo = hardwareUpdate(u32, wi, lo, 0, D_AP2)
      if (lo < 0) continue // raced with software: read this level again
      perm = dirty
    }
    let oa = (hi & fmt.lvOaHiMask[g]!) * TWO32 + ((lo & fmt.lvOaLoMask[g]!) >>> 0)
    if (oa52) oa += ((lo >>> 12) & 0xf) * TWO48
    if (oa >= outLimit) return setFault(out, FaultKind.ADDRESS_SIZE, stage, base - g, iova, reads)
    let sizeLg2 = fmt.lvShift[g]!
    if ((hi & H_CONT) !== 0 && (flags & LpaeFlag.CONTIG) !== 0) sizeLg2 += fmt.lvContigLg2[g]!
    return setLeaf(out, stage, base - g, oa + (iova - q * fmt.lvPow[g]!), sizeLg2, perm, lo, hi, reads)
  }
}
