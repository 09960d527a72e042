/**
 * Numeric vocabulary shared by the page-table formats, the walker and the IOTLB.
 *
 * Everything here is a plain number so it can live in typed arrays and be compared on the hot
 * path without allocation.
 */

/** Page-table format families (one walker per family, parameterised by granule/levels/stage). */
export const FormatKind = {
  /** VMSAv8-64 stage 1 ("LPAE"), SMMUv3 CD.TTB0. */
  LPAE_S1: 1,
  /** VMSAv8-64 stage 2, SMMUv3 STE.S2TTB. */
  LPAE_S2: 2,
  /** x86-64 long-mode paging (VT-d first stage, AMD v2 guest tables). */
  X86_64: 3,
  /** Intel VT-d second-stage tables (no present bit; R/W bits). */
  VTD_SS: 4,
  /** AMD-Vi v1 host page tables (NextLevel field, level skipping, NextLevel-7 sizes). */
  AMD_V1: 5,
} as const
export type FormatKind = (typeof FormatKind)[keyof typeof FormatKind]

/**
 * Permission bits: what a translation allows. Unprivileged (user) and privileged (supervisor)
 * requests are checked against separate bits; formats without a privilege notion set both.
 * A request's required mask is built with {@link accessMask}.
 */
export const Perm = {
  /** unprivileged / user read */
  R: 1,
  /** unprivileged / user write */
  W: 2,
  /** unprivileged / user execute (instruction fetch) */
  X: 4,
  /** privileged / supervisor read */
  PR: 8,
  /** privileged / supervisor write */
  PW: 16,
  /** privileged / supervisor execute */
  PX: 32,
  /** read+write at both privilege levels */
  RW: 1 | 2 | 8 | 16,
  /** everything */
  ALL: 63,
  NONE: 0,
} as const

/** The permission bit a request needs: a write, an instruction fetch or a read, at a privilege. */
export function accessMask(write: boolean, exec = false, privileged = false): number {
  const bit = write ? Perm.W : exec ? Perm.X : Perm.R
  return privileged ? bit << 3 : bit
}

/** Renders a permission mask, e.g. `"rw-/rw-"` (unprivileged/privileged). */
export function permString(perm: number): string {
  const s = (r: number, w: number, x: number): string =>
    `${perm & r ? 'r' : '-'}${perm & w ? 'w' : '-'}${perm & x ? 'x' : '-'}`
  return `${s(Perm.R, Perm.W, Perm.X)}/${s(Perm.PR, Perm.PW, Perm.PX)}`
}

/**
 * What stopped a walk. The unit models map these onto their architecture's event / fault-reason
 * codes (SMMU F_TRANSLATION / F_PERMISSION / F_ADDR_SIZE / F_ACCESS / F_WALK_EABT, VT-d fault
 * reasons, AMD IO_PAGE_FAULT flags).
 */
export const FaultKind = {
  NONE: 0,
  /** No valid descriptor (invalid/not-present entry, reserved type encoding, input outside a table's range). */
  TRANSLATION: 1,
  /** The leaf (and the tables above it) do not grant the requested access. */
  PERMISSION: 2,
  /** Input address outside the configured input range (x86 non-canonical, VT-d beyond AW, AMD beyond Mode)
   *  or, for VMSAv8-64, a table/output address beyond the configured output size. */
  ADDRESS_SIZE: 3,
  /** VMSAv8-64 leaf with AF = 0 while access-flag faults are enabled. */
  ACCESS_FLAG: 4,
  /** A reserved bit or encoding is set (x86 / VT-d "reserved field", AMD RZ): PS where no leaf may
   *  be, low address bits of a superpage, an address above the output width, a bad NextLevel. */
  RESERVED: 5,
  /** A descriptor fetch fell outside physical memory (an external abort on the walk). */
  WALK_ABORT: 6,
} as const
export type FaultKind = (typeof FaultKind)[keyof typeof FaultKind]

const faultNames = ['none', 'translation', 'permission', 'address-size', 'access-flag', 'reserved', 'walk-abort'] as const
export function faultKindName(kind: number): string {
  return faultNames[kind] ?? `fault-${kind}`
}

/**
 * Linux `IOMMU_*` protection flags (include/linux/iommu.h), as passed to `map`.
 * Each format turns them into descriptor bits the way the Linux format code does.
 */
export const IOMMU_READ = 1 << 0
export const IOMMU_WRITE = 1 << 1
export const IOMMU_CACHE = 1 << 2
export const IOMMU_NOEXEC = 1 << 3
export const IOMMU_MMIO = 1 << 4
export const IOMMU_PRIV = 1 << 5

/** Where a cached translation came from; used as a bit mask in IOTLB invalidation filters. */
export const Origin = {
  /** stage 1 only (SMMU S1, VT-d first stage, AMD v2 without nesting) */
  S1: 1,
  /** stage 2 / host table only (SMMU S2, VT-d second stage, AMD v1) */
  S2: 2,
  /** a combined two-stage translation */
  NESTED: 4,
  ALL: 7,
} as const

/** Wildcard for IOTLB tag filters. Tags themselves are integers in [0, 2^31). */
export const ANY_TAG = -1
