/**
 * x86-64 long-mode paging, 4 and 5 levels: the VT-d first-stage format and the AMD v2 (guest)
 * format. Facts: reference/hw-formats.md §2.5 and §3.4 (Linux generic_pt fmt/x86_64.h, intel
 * `DMA_FL_PTE_*`, QEMU `vtd_iova_to_fspte`).
 *
 * Input addresses are canonical: the upper half is passed as a negative number (the address as a
 * signed 64-bit value, e.g. 0xffff_8000_0000_0000 → -2^47), which a double holds exactly.
 */
import type { PhysicalMemory } from '../memory/physical-memory.js'
import { FaultKind, FormatKind, IOMMU_READ, IOMMU_WRITE } from './constants.js'
import { PageTableError } from './errors.js'
import { EntryType, PageTableFormat, reservedAddressHiMask, restrictPageSizes, type FormatCodec } from './format.js'
import type { WalkFetch } from '../walk/fetch.js'
import type { WalkResult } from '../walk/result.js'
import { setFault, setLeaf, setPermFault } from '../walk/fault.js'
import { MAX_WALK_BYTES } from '../walk/descriptor.js'

/** Walker option bits in {@link PageTableFormat.flags} for the x86-64 format. */
export const X86Flag = {
  /** XD (bit 63) is honoured (NXE / ERE); otherwise a set XD bit is reserved. */
  NXE: 1,
  /** WPE: supervisor writes honour R/W; otherwise supervisor writes ignore R/W. */
  WPE: 2,
} as const

export interface X86_64Options {
  /** 4 (48-bit) or 5 (57-bit, VT-d FSPM=1 / AMD GuestPagingMode 5-level). */
  readonly levels: 4 | 5
  /** Physical-address width (MAXPHYADDR / HAW); address bits above it are reserved. Default 52. */
  readonly outputBits?: number
  /** 1 GB pages in PDPTEs (VT-d CAP.FL1GP). Default true. */
  readonly pages1G?: boolean
  /** Execute-disable honoured (ERE). Default true. */
  readonly nxe?: boolean
  /** Supervisor writes honour R/W (PASID-entry WPE). Default false, the bit's reset value. */
  readonly wpe?: boolean
  /** Leaf sizes `map` may use (bytes). Default 4K, 2M and 1G when supported. */
  readonly pageSizes?: readonly number[]
}

const TWO32 = 4294967296
const P = 1
const RW = 1 << 1
const US = 1 << 2
const PWT = 1 << 3
const PCD = 1 << 4
const A = 1 << 5
const D = 1 << 6
const PS = 1 << 7
const G = 1 << 8
const H_XD = 1 << 31 // bit 63
const H_ADDR = 0xfffff // bits [51:32]

const P_R = 1, P_W = 2, P_X = 4, P_PR = 8, P_PW = 16, P_PX = 32

/** Permissions one entry grants (the walk ANDs these over every level). */
function x86EntryPerm(lo: number, hi: number, flags: number): number {
  const rw = (lo & RW) !== 0
  const xd = (hi & H_XD) !== 0 && (flags & X86Flag.NXE) !== 0
  let perm = P_PR | (rw || (flags & X86Flag.WPE) === 0 ? P_PW : 0) | (xd ? 0 : P_PX)
  if ((lo & US) !== 0) perm |= P_R | (rw ? P_W : 0) | (xd ? 0 : P_X)
  return perm
}

const x86Codec: FormatCodec = {
  entryType(fmt, g, lo) {
    if ((lo & P) === 0) return EntryType.EMPTY
    if (g === 0) return EntryType.LEAF
    if ((lo & PS) !== 0) return fmt.lvLeaf[g] === 1 ? EntryType.LEAF : EntryType.INVALID
    return EntryType.TABLE
  },
  tableAddress: (_fmt, _g, lo, hi) => (hi & H_ADDR) * TWO32 + ((lo & 0xfffff000) >>> 0),
  tableLevel: (_fmt, g) => g - 1,
  leafAddress: (fmt, g, lo, hi) => (hi & H_ADDR) * TWO32 + ((lo & fmt.lvOaLoMask[g]!) >>> 0),
  leafGroupLg2: (fmt, g) => fmt.lvShift[g]!,
  protToAttrs(fmt, prot, out) {
    // generic_pt fmt/x86_64.h x86_64_pt_iommu_set_prot: U|A, plus RW|D when writable; no XD.
    if ((prot & (IOMMU_READ | IOMMU_WRITE)) === 0) throw new PageTableError('EINVAL', `${fmt.name}: a mapping needs IOMMU_READ or IOMMU_WRITE`)
    out[0] = US | A | ((prot & IOMMU_WRITE) !== 0 ? RW | D : 0)
    out[1] = 0
  },
  leafAttrs(_fmt, _g, lo, hi, out) {
    out[0] = lo & (RW | US | PWT | PCD | A | D | G)
    out[1] = hi & H_XD
  },
  encodeLeaf(fmt, g, entryOa, _groupLg2, attrLo, attrHi, out) {
    out[0] = (attrLo & (RW | US | PWT | PCD | A | D | G)) | P | (g !== 0 ? PS : 0) | ((entryOa % TWO32) & fmt.lvOaLoMask[g]!)
    out[1] = (attrHi & H_XD) | (Math.floor(entryOa / TWO32) & H_ADDR)
  },
  encodeTable(_fmt, _g, tablePa, out) {
    // x86_64.h x86_64_pt_install_table: P | RW | U | A.
    out[0] = ((tablePa % TWO32) & 0xfffff000) | P | RW | US | A
    out[1] = Math.floor(tablePa / TWO32) & H_ADDR
  },
  leafPerm: (fmt, _g, lo, hi) => x86EntryPerm(lo, hi, fmt.flags),
  describe(_fmt, g, lo, hi) {
    return {
      p: (lo & P) !== 0, rw: (lo & RW) !== 0, us: (lo & US) !== 0, pwt: (lo & PWT) !== 0, pcd: (lo & PCD) !== 0,
      a: (lo & A) !== 0, d: (lo & D) !== 0, ps: g !== 0 && (lo & PS) !== 0, g: (lo & G) !== 0, xd: (hi & H_XD) !== 0,
    }
  },
}

/** An x86-64 4- or 5-level format (VT-d first stage, AMD v2). */
export function x86_64Format(opts: X86_64Options): PageTableFormat {
  const levels = opts.levels
  if (levels !== 4 && levels !== 5) throw new RangeError(`x86-64: levels must be 4 or 5, got ${String(levels)}`)
  const outputBits = opts.outputBits ?? 52
  if (!Number.isInteger(outputBits) || outputBits < 32 || outputBits > 52) throw new RangeError(`x86-64: outputBits must be 32..52, got ${outputBits}`)
  const pages1G = opts.pages1G ?? true
  const flags = ((opts.nxe ?? true) ? X86Flag.NXE : 0) | (opts.wpe ? X86Flag.WPE : 0)
  const leafLevels = [true, true, pages1G, false, false].slice(0, levels)
  const name = `x86-64/${levels}level`
  const supported = pages1G ? [12, 21, 30] : [12, 21]
  return new PageTableFormat({
    kind: FormatKind.X86_64, name, stage: 1, granuleLg2: 12, levels, topIndexBits: 9, bitsPerLevel: 9,
    inputBits: levels === 5 ? 57 : 48, outputBits, signExtended: true, flags, leafLevels, contigLg2: [],
    pageSizesLg2: restrictPageSizes(supported, opts.pageSizes, name), replicateGroups: false,
    archLevelBase: 1, archLevelStep: 1, hwInfo: { levels, fspm: levels === 5 ? 1 : 0 }, codec: x86Codec,
    reservedHiMask: reservedAddressHiMask(outputBits) | ((flags & X86Flag.NXE) === 0 ? H_XD : 0),
  })
}

/** Permissions from the AND of the low words and the OR of the high words of a walk. */
function x86Perm(accLo: number, accHi: number, flags: number): number {
  return x86EntryPerm(accLo, accHi, flags)
}

/**
 * Walks x86-64 tables. Checks per level in QEMU's order (reference §2.5): present, then U/S and
 * R/W (and XD) against the request, then reserved bits; the input must be canonical (else
 * ADDRESS_SIZE). Permissions are the AND of U/S and R/W and the OR of XD over all levels.
 */
export function walkX86(mem: PhysicalMemory, fmt: PageTableFormat, root: number, iova: number, required: number, out: WalkResult, fetch: WalkFetch | null): boolean {
  let g = fmt.topLevel
  if (!(iova >= fmt.inputMin && iova < fmt.inputLimit)) return setFault(out, FaultKind.ADDRESS_SIZE, 1, g + 1, iova, 0)
  // Upper-half (negative) inputs index correctly as they are: floor(x · 2^-s) & 511 is the
  // two's-complement index, and x - floor(...) · 2^s the page offset (exact for x ≥ -2^56).
  const va = iova
  const u32 = mem.u32
  const memBytes = mem.bytes < MAX_WALK_BYTES ? mem.bytes : MAX_WALK_BYTES
  const memWords = u32.length
  const flags = fmt.flags
  const inv = fmt.lvInv
  const hiRsvd = fmt.reservedHiMask
  // What every level must grant for this request: U/S for user accesses, R/W for user writes
  // (and supervisor writes with WPE), no XD for instruction fetches.
  const needLo = ((required & (P_R | P_W | P_X)) !== 0 ? US : 0) |
    ((required & P_W) !== 0 || ((required & P_PW) !== 0 && (flags & X86Flag.WPE) !== 0) ? RW : 0)
  const denyHi = (required & (P_X | P_PX)) !== 0 && (flags & X86Flag.NXE) !== 0 ? H_XD : 0
  let tableD = root
  let twi = 0
  if (fetch === null) {
    if (!(root >= 0 && root < memBytes)) return setFault(out, FaultKind.WALK_ABORT, 1, g + 1, iova, 0)
    twi = root >>> 2
  }
  let accLo = -1
  let accHi = 0
  let reads = 0
  for (;;) {
    const q = Math.floor(va * inv[g]!)
    let wi: number
    if (fetch === null) {
      wi = twi + ((q & 511) << 1)
      if (wi + 2 > memWords) return setFault(out, FaultKind.WALK_ABORT, 1, g + 1, iova, reads)
    } else {
      const dpa = fetch.fetch(tableD + (q & 511) * 8, out)
      if (dpa < 0) {
        out.duringTableWalk = true
        out.reads += reads
        return false
      }
      if (dpa + 8 > memBytes) return setFault(out, FaultKind.WALK_ABORT, 1, g + 1, iova, reads)
      wi = dpa >>> 2
    }
    let lo = u32[wi]!
    let hi = u32[wi + 1]!
    while (u32[wi] !== lo) {
      lo = u32[wi]!
      hi = u32[wi + 1]!
    }
    reads++
    if ((lo & P) === 0) return setFault(out, FaultKind.TRANSLATION, 1, g + 1, iova, reads)
    accLo &= lo
    accHi |= hi
    if ((lo & needLo) !== needLo || (hi & denyHi) !== 0) return setPermFault(out, x86Perm(accLo, accHi, flags), 1, g + 1, iova, reads)
    if ((hi & hiRsvd) !== 0) return setFault(out, FaultKind.RESERVED, 1, g + 1, iova, reads)
    if (g !== 0 && (lo & PS) === 0) {
      const hiA = hi & H_ADDR
      if (fetch !== null) {
        tableD = hiA * TWO32 + ((lo & 0xfffff000) >>> 0)
      } else {
        // A direct walk cannot fetch at or above 4 GiB: external abort at the next level.
        if (hiA !== 0) return setFault(out, FaultKind.WALK_ABORT, 1, g, iova, reads)
        twi = (lo & 0xfffff000) >>> 2
      }
      g--
      continue
    }
    // Leaf: PS in a PML4E/PML5E (or a PDPTE without 1G support) is reserved, and so are the
    // address bits of a superpage below its size, except bit 12 (PAT).
    if (g !== 0 && (fmt.lvLeaf[g] === 0 || (lo & ~fmt.lvOaLoMask[g]! & ~0x1fff) !== 0)) {
      return setFault(out, FaultKind.RESERVED, 1, g + 1, iova, reads)
    }
    const oaLoMask = fmt.lvOaLoMask[g]!
    return setLeaf(out, 1, g + 1, (hi & H_ADDR) * TWO32 + ((lo & oaLoMask) >>> 0) + (va - q * fmt.lvPow[g]!), fmt.lvShift[g]!, x86Perm(accLo, accHi, flags), lo, hi, reads)
  }
}
