/**
 * Intel VT-d second-stage tables (3, 4 or 5 levels for 39/48/57-bit AW). There is no present bit:
 * an entry is present when R or W is set, and R/W are ANDed down the walk. Facts:
 * reference/hw-formats.md §2.4 (Linux generic_pt fmt/vtdss.h, intel/iommu.h `DMA_PTE_*`, QEMU
 * reserved-bit masks).
 */
import type { PhysicalMemory } from '../memory/physical-memory.js'
import { FaultKind, FormatKind, IOMMU_READ, IOMMU_WRITE } from './constants.js'
import { PageTableError } from './errors.js'
import { EntryType, PageTableFormat, reservedAddressHiMask, restrictPageSizes, type FormatCodec } from './format.js'
import type { WalkFetch } from '../walk/fetch.js'
import type { WalkResult } from '../walk/result.js'
import { setFault, setLeaf, setPermFault } from '../walk/fault.js'
import { MAX_WALK_BYTES } from '../walk/descriptor.js'

/** Option bits in {@link PageTableFormat.flags} for the VT-d second-stage format. */
export const VtdSsFlag = {
  /** ECAP.SC: SNP (bit 11) is defined; without it a set SNP is a reserved-field fault. */
  SNOOP_CONTROL: 1,
  /** Execute requests need X (bit 2) at every level (SLEE / ERS); otherwise X follows R. */
  EXECUTE: 2,
  /** map: set SNP on every leaf (PT_FEAT_VTDSS_FORCE_COHERENCE). */
  FORCE_SNOOP: 4,
  /** map: refuse read-only leaves (nest parent, erratum 772415 SPR17; PT_FEAT_VTDSS_FORCE_WRITEABLE). */
  FORCE_WRITABLE: 8,
} as const

export interface VtdSsOptions {
  /** 3, 4 or 5 levels (AW = 1, 2, 3; 39-, 48- or 57-bit input). */
  readonly levels: 3 | 4 | 5
  /** Host address width (HAW); address bits above it are reserved. Default 52. */
  readonly outputBits?: number
  /** CAP.SLLPS bit 0: 2 MB leaves. Default true. */
  readonly pages2M?: boolean
  /** CAP.SLLPS bit 1: 1 GB leaves. Default true. */
  readonly pages1G?: boolean
  /** ECAP.SC. Default true. */
  readonly snoopControl?: boolean
  /** Enforce the X bit for execute requests. Default false. */
  readonly executeEnable?: boolean
  /** Set SNP on leaves written by `map`. Default false. */
  readonly forceSnoop?: boolean
  /** Refuse read-only mappings (nest-parent erratum). Default false. */
  readonly forceWritable?: boolean
  /** Leaf sizes `map` may use (bytes). */
  readonly pageSizes?: readonly number[]
}

const TWO32 = 4294967296
const R = 1
const W = 2
const X = 4
const EMT_IPAT = 0x78 // EMT [5:3] + IPAT [6]
const PS = 1 << 7
const SNP = 1 << 11
const H_ADDR = 0xfffff

const P_R = 1, P_W = 2, P_X = 4, P_PR = 8, P_PW = 16, P_PX = 32

function vtdPerm(acc: number, flags: number): number {
  let perm = ((acc & R) !== 0 ? P_R | P_PR : 0) | ((acc & W) !== 0 ? P_W | P_PW : 0)
  if ((flags & VtdSsFlag.EXECUTE) !== 0 ? (acc & X) !== 0 : (acc & R) !== 0) perm |= P_X | P_PX
  return perm
}

const vtdCodec: FormatCodec = {
  entryType(fmt, g, lo) {
    if ((lo & (R | W)) === 0) return EntryType.EMPTY
    if (g === 0) return EntryType.LEAF
    if ((lo & PS) !== 0) return fmt.lvLeaf[g] === 1 ? EntryType.LEAF : EntryType.INVALID
    return EntryType.TABLE
  },
  tableAddress: (_fmt, _g, lo, hi) => (hi & H_ADDR) * TWO32 + ((lo & 0xfffff000) >>> 0),
  tableLevel: (_fmt, g) => g - 1,
  leafAddress: (fmt, g, lo, hi) => (hi & H_ADDR) * TWO32 + ((lo & fmt.lvOaLoMask[g]!) >>> 0),
  leafGroupLg2: (fmt, g) => fmt.lvShift[g]!,
  protToAttrs(fmt, prot, out) {
    // generic_pt fmt/vtdss.h vtdss_pt_iommu_set_prot.
    if ((prot & (IOMMU_READ | IOMMU_WRITE)) === 0) throw new PageTableError('EINVAL', `${fmt.name}: a mapping needs IOMMU_READ or IOMMU_WRITE (no present bit)`)
    if ((fmt.flags & VtdSsFlag.FORCE_WRITABLE) !== 0 && (prot & IOMMU_WRITE) === 0) {
      throw new PageTableError('EINVAL', `${fmt.name}: read-only mappings are refused on a nest parent (ERRATA_772415_SPR17)`)
    }
    out[0] = ((prot & IOMMU_READ) !== 0 ? R : 0) | ((prot & IOMMU_WRITE) !== 0 ? W : 0) | ((fmt.flags & VtdSsFlag.FORCE_SNOOP) !== 0 ? SNP : 0)
    out[1] = 0
  },
  leafAttrs(_fmt, _g, lo, _hi, out) {
    out[0] = lo & (R | W | X | EMT_IPAT | SNP)
    out[1] = 0
  },
  encodeLeaf(fmt, g, entryOa, _groupLg2, attrLo, _attrHi, out) {
    out[0] = (attrLo & (R | W | X | EMT_IPAT | SNP)) | (g !== 0 ? PS : 0) | ((entryOa % TWO32) & fmt.lvOaLoMask[g]!)
    out[1] = Math.floor(entryOa / TWO32) & H_ADDR
  },
  encodeTable(_fmt, _g, tablePa, out) {
    // vtdss.h vtdss_pt_install_table: R | W, permissions are decided at the leaf.
    out[0] = ((tablePa % TWO32) & 0xfffff000) | R | W
    out[1] = Math.floor(tablePa / TWO32) & H_ADDR
  },
  leafPerm: (fmt, _g, lo) => vtdPerm(lo, fmt.flags),
  describe(_fmt, g, lo) {
    return {
      r: (lo & R) !== 0, w: (lo & W) !== 0, x: (lo & X) !== 0, emt: (lo >>> 3) & 7, ipat: (lo & 0x40) !== 0,
      ps: g !== 0 && (lo & PS) !== 0, a: (lo & 0x100) !== 0, d: (lo & 0x200) !== 0, snp: (lo & SNP) !== 0,
    }
  },
}

/** A VT-d second-stage format (context / PASID entry: SSPTPTR, AW). */
export function vtdSsFormat(opts: VtdSsOptions): PageTableFormat {
  const levels = opts.levels
  if (levels !== 3 && levels !== 4 && levels !== 5) throw new RangeError(`vtd-ss: levels must be 3, 4 or 5, got ${String(levels)}`)
  const outputBits = opts.outputBits ?? 52
  if (!Number.isInteger(outputBits) || outputBits < 32 || outputBits > 52) throw new RangeError(`vtd-ss: outputBits must be 32..52, got ${outputBits}`)
  const pages2M = opts.pages2M ?? true
  const pages1G = opts.pages1G ?? true
  const flags = ((opts.snoopControl ?? true) ? VtdSsFlag.SNOOP_CONTROL : 0) | (opts.executeEnable ? VtdSsFlag.EXECUTE : 0) |
    (opts.forceSnoop ? VtdSsFlag.FORCE_SNOOP : 0) | (opts.forceWritable ? VtdSsFlag.FORCE_WRITABLE : 0)
  if (opts.forceSnoop && !(opts.snoopControl ?? true)) throw new RangeError('vtd-ss: forceSnoop needs snoopControl (ECAP.SC)')
  // vtdss.h can_have_leaf: level <= 2 (generic), i.e. PTE, PDE (2 MB) and PDPTE (1 GB).
  const leafLevels = [true, pages2M, pages2M && pages1G, false, false].slice(0, levels)
  const supported = [12, ...(pages2M ? [21] : []), ...(pages2M && pages1G ? [30] : [])]
  const name = `vtd-ss/${levels}level`
  return new PageTableFormat({
    kind: FormatKind.VTD_SS, name, stage: 2, granuleLg2: 12, levels, topIndexBits: 9, bitsPerLevel: 9,
    inputBits: 12 + 9 * levels, outputBits, signExtended: false, flags, leafLevels, contigLg2: [],
    pageSizesLg2: restrictPageSizes(supported, opts.pageSizes, name), replicateGroups: false,
    archLevelBase: 1, archLevelStep: 1, hwInfo: { aw: levels - 2, levels }, codec: vtdCodec,
    reservedHiMask: reservedAddressHiMask(outputBits),
  })
}

/** Walks VT-d second-stage tables; R/W (and X with EXECUTE) are ANDed over every level. */
export function walkVtdSs(mem: PhysicalMemory, fmt: PageTableFormat, root: number, iova: number, required: number, out: WalkResult, fetch: WalkFetch | null): boolean {
  let g = fmt.topLevel
  // Input bits above AW must be zero (reference §2.4: fault 0x04 / 0x84 "address beyond").
  if (!(iova >= 0 && iova < fmt.inputLimit)) return setFault(out, FaultKind.ADDRESS_SIZE, 2, g + 1, iova, 0)
  const u32 = mem.u32
  const memBytes = mem.bytes < MAX_WALK_BYTES ? mem.bytes : MAX_WALK_BYTES
  const memWords = u32.length
  const flags = fmt.flags
  const inv = fmt.lvInv
  const hiRsvd = fmt.reservedHiMask
  let tableD = root
  let twi = 0
  if (fetch === null) {
    if (!(root >= 0 && root < memBytes)) return setFault(out, FaultKind.WALK_ABORT, 2, g + 1, iova, 0)
    twi = root >>> 2
  }
  let acc = R | W | X
  let reads = 0
  for (;;) {
    const q = Math.floor(iova * inv[g]!)
    let wi: number
    if (fetch === null) {
      wi = twi + ((q & 511) << 1)
      if (wi + 2 > memWords) return setFault(out, FaultKind.WALK_ABORT, 2, g + 1, iova, reads)
    } else {
      const dpa = fetch.fetch(tableD + (q & 511) * 8, out)
      if (dpa < 0) {
        out.duringTableWalk = true
        out.reads += reads
        return false
      }
      if (dpa + 8 > memBytes) return setFault(out, FaultKind.WALK_ABORT, 2, g + 1, iova, reads)
      wi = dpa >>> 2
    }
    let lo = u32[wi]!
    let hi = u32[wi + 1]!
    while (u32[wi] !== lo) {
      lo = u32[wi]!
      hi = u32[wi + 1]!
    }
    reads++
    if ((lo & (R | W)) === 0) return setFault(out, FaultKind.TRANSLATION, 2, g + 1, iova, reads)
    if ((hi & hiRsvd) !== 0) return setFault(out, FaultKind.RESERVED, 2, g + 1, iova, reads)
    acc &= lo
    if (g !== 0 && (lo & PS) === 0) {
      const hiA = hi & H_ADDR
      if (fetch !== null) {
        tableD = hiA * TWO32 + ((lo & 0xfffff000) >>> 0)
      } else {
        if (hiA !== 0) return setFault(out, FaultKind.WALK_ABORT, 2, g, iova, reads)
        twi = (lo & 0xfffff000) >>> 2
      }
      g--
      continue
    }
    // PS where SLLPS allows no leaf (always in L4/L5), low address bits of a superpage, or SNP
    // without snoop control are reserved-field faults.
    if (g !== 0 && (fmt.lvLeaf[g] === 0 || (lo & ~fmt.lvOaLoMask[g]! & ~0xfff) !== 0)) {
      return setFault(out, FaultKind.RESERVED, 2, g + 1, iova, reads)
    }
    if ((lo & SNP) !== 0 && (flags & VtdSsFlag.SNOOP_CONTROL) === 0) return setFault(out, FaultKind.RESERVED, 2, g + 1, iova, reads)
    const perm = vtdPerm(acc, flags)
    if ((perm & required) !== required) return setPermFault(out, perm, 2, g + 1, iova, reads)
    return setLeaf(out, 2, g + 1, (hi & H_ADDR) * TWO32 + ((lo & fmt.lvOaLoMask[g]!) >>> 0) + (iova - q * fmt.lvPow[g]!), fmt.lvShift[g]!, perm, lo, hi, reads)
  }
}
