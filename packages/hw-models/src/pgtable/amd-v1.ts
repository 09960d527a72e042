/**
 * AMD-Vi v1 host page tables: 1–6 levels (DTE Mode), PR / IR / IW, the NextLevel field with level
 * skipping, and NextLevel-7 leaves of any power-of-two size encoded in the address field.
 * Facts: reference/hw-formats.md §3.3 (Linux generic_pt fmt/amdv1.h, amd_iommu_types.h, QEMU
 * hw/i386/amd_iommu.c `fetch_pte`).
 *
 * Mode 5 and 6 tables cover 57- and 64-bit inputs; this model takes input addresses as numbers,
 * so only the part below 2^53 is reachable (the index bits above are then zero).
 */
import type { PhysicalMemory } from '../memory/physical-memory.js'
import { FaultKind, FormatKind, IOMMU_READ, IOMMU_WRITE } from './constants.js'
import { PageTableError } from './errors.js'
import { EntryType, PageTableFormat, reservedAddressHiMask, restrictPageSizes, type FormatCodec } from './format.js'
import type { WalkFetch } from '../walk/fetch.js'
import type { WalkResult } from '../walk/result.js'
import { setFault, setLeaf, setPermFault } from '../walk/fault.js'
import { MAX_WALK_BYTES } from '../walk/descriptor.js'

/** Option bits in {@link PageTableFormat.flags} for the AMD v1 format. */
export const AmdV1Flag = {
  /** map: set FC (force coherent) on every leaf (PT_FEAT_AMDV1_FORCE_COHERENCE). */
  FORCE_COHERENT: 1,
} as const

export interface AmdV1Options {
  /** Paging mode = number of levels, 1..6 (DTE Mode field). */
  readonly mode: 1 | 2 | 3 | 4 | 5 | 6
  /** System physical address width; address bits above it are reserved. Default 52. */
  readonly outputBits?: number
  /** Set FC on leaves written by `map` (Linux always does). Default true. */
  readonly forceCoherent?: boolean
  /** Let `map` use 512 GB pages, which Linux avoids because of a hardware erratum. Default false. */
  readonly allow512G?: boolean
  /** Leaf sizes `map` may use (bytes). Default every power of two the mode can hold (Linux AMD_IOMMU_PGSIZES). */
  readonly pageSizes?: readonly number[]
}

const TWO32 = 4294967296
const PR = 1
const NL_SHIFT = 9
const NL_SIZE = 7
const H_ADDR = 0xfffff
const H_U = 1 << 27 // bit 59
const H_FC = 1 << 28 // bit 60
const H_IR = 1 << 29 // bit 61
const H_IW = 1 << 30 // bit 62

const P_R = 1, P_W = 2, P_X = 4, P_PR = 8, P_PW = 16, P_PX = 32

const POW2 = new Float64Array(65)
const INV2 = new Float64Array(65)
for (let k = 0; k <= 64; k++) {
  POW2[k] = 2 ** k
  INV2[k] = 2 ** -k
}

function amdPerm(hi: number): number {
  return ((hi & H_IR) !== 0 ? P_R | P_PR | P_X | P_PX : 0) | ((hi & H_IW) !== 0 ? P_W | P_PW : 0)
}

/** log2 size of a NextLevel-7 leaf: the lowest zero bit of the address field, plus one
 *  (amd_iommu_types.h PTE_PAGE_SIZE). Returns 0 when the field is all ones. */
function nl7SizeLg2(lo: number, hi: number): number {
  const zlo = ~(lo | 0xfff)
  if (zlo !== 0) return 32 - Math.clz32(zlo & -zlo)
  const zhi = ~hi & H_ADDR
  if (zhi !== 0) return 64 - Math.clz32(zhi & -zhi)
  return 0
}

function fieldAddress(lo: number, hi: number): number {
  return (hi & H_ADDR) * TWO32 + ((lo & 0xfffff000) >>> 0)
}

const amdCodec: FormatCodec = {
  entryType(fmt, g, lo) {
    if ((lo & PR) === 0) return EntryType.EMPTY
    const nl = (lo >>> NL_SHIFT) & 7
    if (nl === 0 || nl === NL_SIZE) return fmt.lvLeaf[g] === 1 ? EntryType.LEAF : EntryType.INVALID
    return g !== 0 && nl - 1 < g ? EntryType.TABLE : EntryType.INVALID
  },
  tableAddress: (_fmt, _g, lo, hi) => fieldAddress(lo, hi),
  tableLevel: (_fmt, _g, lo) => ((lo >>> NL_SHIFT) & 7) - 1,
  /** For NextLevel-7 groups every entry is identical, so this is the group's base address. */
  leafAddress(fmt, g, lo, hi) {
    const k = amdCodec.leafGroupLg2(fmt, g, lo, hi)
    return Math.floor(fieldAddress(lo, hi) * INV2[k]!) * POW2[k]!
  },
  leafGroupLg2(fmt, g, lo, hi) {
    return ((lo >>> NL_SHIFT) & 7) === NL_SIZE ? nl7SizeLg2(lo, hi) : fmt.lvShift[g]!
  },
  protToAttrs(fmt, prot, out) {
    // generic_pt fmt/amdv1.h amdv1pt_iommu_set_prot: FC (force coherence), IR, IW.
    if ((prot & (IOMMU_READ | IOMMU_WRITE)) === 0) throw new PageTableError('EINVAL', `${fmt.name}: a mapping needs IOMMU_READ or IOMMU_WRITE`)
    out[0] = 0
    out[1] = ((fmt.flags & AmdV1Flag.FORCE_COHERENT) !== 0 ? H_FC : 0) | ((prot & IOMMU_READ) !== 0 ? H_IR : 0) | ((prot & IOMMU_WRITE) !== 0 ? H_IW : 0)
  },
  leafAttrs(_fmt, _g, _lo, hi, out) {
    out[0] = 0
    out[1] = hi & (H_U | H_FC | H_IR | H_IW)
  },
  encodeLeaf(fmt, g, entryOa, groupLg2, _attrLo, attrHi, out) {
    let field = entryOa
    let nl = 0
    if (groupLg2 !== fmt.lvShift[g]) {
      // amdv1pt_install_leaf_entry: NextLevel 7, address bits [k-2:12] set, bit k-1 clear.
      nl = NL_SIZE
      field = entryOa + (POW2[groupLg2 - 1]! - 4096)
    }
    out[0] = ((field % TWO32) & 0xfffff000) | (nl << NL_SHIFT) | PR
    out[1] = (attrHi & (H_U | H_FC | H_IR | H_IW)) | (Math.floor(field / TWO32) & H_ADDR)
  },
  encodeTable(_fmt, g, tablePa, out) {
    // amdv1pt_install_table: PR | NextLevel (AMD level of the child) | IR | IW.
    out[0] = ((tablePa % TWO32) & 0xfffff000) | (g << NL_SHIFT) | PR
    out[1] = (Math.floor(tablePa / TWO32) & H_ADDR) | H_IR | H_IW
  },
  leafPerm: (_fmt, _g, _lo, hi) => amdPerm(hi),
  describe(_fmt, _g, lo, hi) {
    return {
      pr: (lo & PR) !== 0, a: (lo & 0x20) !== 0, d: (lo & 0x40) !== 0, nextLevel: (lo >>> NL_SHIFT) & 7,
      u: (hi & H_U) !== 0, fc: (hi & H_FC) !== 0, ir: (hi & H_IR) !== 0, iw: (hi & H_IW) !== 0,
    }
  },
}

/** An AMD v1 format of the given mode (DTE Mode / Host Page Table Root). */
export function amdV1Format(opts: AmdV1Options): PageTableFormat {
  const mode = opts.mode
  if (!Number.isInteger(mode) || mode < 1 || mode > 6) throw new RangeError(`amd-v1: mode must be 1..6, got ${String(mode)}`)
  const outputBits = opts.outputBits ?? 52
  if (!Number.isInteger(outputBits) || outputBits < 32 || outputBits > 52) throw new RangeError(`amd-v1: outputBits must be 32..52, got ${outputBits}`)
  const inputBits = mode === 6 ? 64 : 12 + 9 * mode
  // amdv1.h: the top-most level (mode 6's root) cannot hold leaves; every other level holds its
  // natural size and, with NextLevel 7, the 8 larger powers of two below the next level's size.
  const leafLevels: boolean[] = []
  const sizes: number[] = []
  for (let g = 0; g < mode; g++) {
    leafLevels.push(g < 5)
    if (g >= 5) continue
    for (let k = 12 + 9 * g; k <= 12 + 9 * g + 8 && k <= 51 && k < inputBits; k++) {
      if (k === 39 && !opts.allow512G) continue
      sizes.push(k)
    }
  }
  const name = `amd-v1/mode${mode}`
  return new PageTableFormat({
    kind: FormatKind.AMD_V1, name, stage: 2, granuleLg2: 12, levels: mode, topIndexBits: mode === 6 ? 7 : 9, bitsPerLevel: 9,
    inputBits, outputBits, signExtended: false, flags: (opts.forceCoherent ?? true) ? AmdV1Flag.FORCE_COHERENT : 0,
    leafLevels, contigLg2: [], pageSizesLg2: restrictPageSizes(sizes, opts.pageSizes, name), replicateGroups: true,
    archLevelBase: 1, archLevelStep: 1, hwInfo: { mode }, codec: amdCodec,
    reservedHiMask: reservedAddressHiMask(outputBits),
  })
}

/**
 * Walks AMD v1 tables. IR/IW are ANDed over every level; a PDE's NextLevel may skip levels, in
 * which case the skipped levels' input bits must be zero (modelled as a translation fault).
 */
export function walkAmdV1(mem: PhysicalMemory, fmt: PageTableFormat, root: number, iova: number, required: number, out: WalkResult, fetch: WalkFetch | null): boolean {
  let g = fmt.topLevel
  if (!(iova >= 0 && iova < fmt.inputLimit)) return setFault(out, FaultKind.ADDRESS_SIZE, 2, g + 1, iova, 0)
  const u32 = mem.u32
  const memBytes = mem.bytes < MAX_WALK_BYTES ? mem.bytes : MAX_WALK_BYTES
  const memWords = u32.length
  const inv = fmt.lvInv
  const pow = fmt.lvPow
  const idxMask = fmt.lvIndexMask
  const hiRsvd = fmt.reservedHiMask
  let tableD = root
  let twi = 0
  if (fetch === null) {
    if (!(root >= 0 && root < memBytes)) return setFault(out, FaultKind.WALK_ABORT, 2, g + 1, iova, 0)
    twi = root >>> 2
  }
  let acc = H_IR | H_IW
  let reads = 0
  for (;;) {
    const idx = Math.floor(iova * inv[g]!) & idxMask[g]!
    let wi: number
    if (fetch === null) {
      wi = twi + (idx << 1)
      if (wi + 2 > memWords) return setFault(out, FaultKind.WALK_ABORT, 2, g + 1, iova, reads)
    } else {
      const dpa = fetch.fetch(tableD + idx * 8, out)
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
    if ((lo & PR) === 0) return setFault(out, FaultKind.TRANSLATION, 2, g + 1, iova, reads)
    if ((hi & hiRsvd) !== 0) return setFault(out, FaultKind.RESERVED, 2, g + 1, iova, reads)
    acc &= hi
    const nl = (lo >>> NL_SHIFT) & 7
    if (nl !== 0 && nl !== NL_SIZE) {
      const ng = nl - 1
      // A PTE at level 1, or a NextLevel not below the current level, is a bad encoding.
      if (ng >= g) return setFault(out, FaultKind.RESERVED, 2, g + 1, iova, reads)
      if (ng < g - 1 && Math.floor(iova * inv[g]!) * pow[g]! !== Math.floor(iova * inv[ng + 1]!) * pow[ng + 1]!) {
        return setFault(out, FaultKind.TRANSLATION, 2, g + 1, iova, reads)
      }
      const hiA = hi & H_ADDR
      if (fetch !== null) {
        tableD = hiA * TWO32 + ((lo & 0xfffff000) >>> 0)
      } else {
        if (hiA !== 0) return setFault(out, FaultKind.WALK_ABORT, 2, nl, iova, reads)
        twi = (lo & 0xfffff000) >>> 2
      }
      g = ng
      continue
    }
    if (fmt.lvLeaf[g] === 0) return setFault(out, FaultKind.RESERVED, 2, g + 1, iova, reads)
    const shift = fmt.lvShift[g]!
    let k = shift
    if (nl === NL_SIZE) {
      k = nl7SizeLg2(lo, hi)
      if (k <= shift || k > shift + 8) return setFault(out, FaultKind.RESERVED, 2, g + 1, iova, reads)
    }
    const perm = amdPerm(acc)
    if ((perm & required) !== required) return setPermFault(out, perm, 2, g + 1, iova, reads)
    const invK = INV2[k]!
    const powK = POW2[k]!
    const oa = Math.floor(((hi & H_ADDR) * TWO32 + ((lo & 0xfffff000) >>> 0)) * invK) * powK + (iova - Math.floor(iova * invK) * powK)
    return setLeaf(out, 2, g + 1, oa, k, perm, lo, hi, reads)
  }
}
