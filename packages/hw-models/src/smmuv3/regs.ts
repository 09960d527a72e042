/**
 * SMMUv3 programming interface: register offsets and fields, queue pointer arithmetic
 * (reference hw-formats.md §1.1; Linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h).
 */

export const SMMU_IDR0 = 0x00
export const SMMU_IDR1 = 0x04
export const SMMU_IDR2 = 0x08
export const SMMU_IDR3 = 0x0c
export const SMMU_IDR4 = 0x10
export const SMMU_IDR5 = 0x14
export const SMMU_IIDR = 0x18
export const SMMU_AIDR = 0x1c
export const SMMU_CR0 = 0x20
export const SMMU_CR0ACK = 0x24
export const SMMU_CR1 = 0x28
export const SMMU_CR2 = 0x2c
export const SMMU_GBPA = 0x44
export const SMMU_GERROR = 0x60
export const SMMU_GERRORN = 0x64
export const SMMU_STRTAB_BASE = 0x80
export const SMMU_STRTAB_BASE_CFG = 0x88
export const SMMU_CMDQ_BASE = 0x90
export const SMMU_CMDQ_PROD = 0x98
export const SMMU_CMDQ_CONS = 0x9c
export const SMMU_EVTQ_BASE = 0xa0
/** EVTQ PROD/CONS live in page 1 on real hardware (offset + 0x10000); both aliases are accepted. */
export const SMMU_EVTQ_PROD = 0xa8
export const SMMU_EVTQ_CONS = 0xac
export const SMMU_PAGE1 = 0x10000
/** Size of the register file modelled (page 0 registers up to 0x100). */
export const SMMU_REG_BYTES = 0x100

// IDR0
export const IDR0_S2P = 1 << 0
export const IDR0_S1P = 1 << 1
export const IDR0_TTF_AARCH64 = 2 << 2
export const IDR0_COHACC = 1 << 4
/** IDR0.HTTU [7:6]: 0 none, 1 Access flag, 2 Access flag and dirty state. */
export const IDR0_HTTU_SHIFT = 6
export const IDR0_ATS = 1 << 10
export const IDR0_ASID16 = 1 << 12
export const IDR0_MSI = 1 << 13
export const IDR0_SEV = 1 << 14
export const IDR0_PRI = 1 << 16
export const IDR0_VMID16 = 1 << 18
export const IDR0_CD2L = 1 << 19
export const IDR0_TTENDIAN_LE = 2 << 21
export const IDR0_STALL_MODEL_SHIFT = 24
export const IDR0_ST_LVL_2LVL = 1 << 27
// IDR1
export const IDR1_SIDSIZE_SHIFT = 0
export const IDR1_SSIDSIZE_SHIFT = 6
export const IDR1_PRIQS_SHIFT = 11
export const IDR1_EVTQS_SHIFT = 16
export const IDR1_CMDQS_SHIFT = 21
// IDR3
/** IDR3.FWB: stage-2 forced write-back (STE.S2FWB). */
export const IDR3_FWB = 1 << 8
export const IDR3_RIL = 1 << 10
// IDR5
export const IDR5_GRAN4K = 1 << 4
export const IDR5_GRAN16K = 1 << 5
export const IDR5_GRAN64K = 1 << 6
/** IDR5.OAS / STE.S2PS / CD.IPS encodings → address bits. */
export const OAS_BITS = [32, 36, 40, 42, 44, 48, 52] as const
export function oasEncoding(bits: number): number {
  const i = OAS_BITS.indexOf(bits as (typeof OAS_BITS)[number])
  if (i < 0) throw new RangeError(`SMMUv3: ${bits} is not an architected output size`)
  return i
}

// CR0
export const CR0_SMMUEN = 1 << 0
export const CR0_PRIQEN = 1 << 1
export const CR0_EVTQEN = 1 << 2
export const CR0_CMDQEN = 1 << 3
// GBPA
export const GBPA_ABORT = 1 << 20
export const GBPA_UPDATE = 1 << 31
// GERROR
export const GERROR_CMDQ_ERR = 1 << 0
export const GERROR_EVTQ_ABT = 1 << 2
// STRTAB_BASE_CFG
export const STRTAB_CFG_LOG2SIZE_MASK = 0x3f
export const STRTAB_CFG_SPLIT_SHIFT = 6
export const STRTAB_CFG_FMT_SHIFT = 16
export const STRTAB_FMT_LINEAR = 0
export const STRTAB_FMT_2LVL = 1
// Queue BASE: ADDR [51:5], LOG2SIZE [4:0]
export const Q_BASE_LOG2SIZE_MASK = 0x1f
// CMDQ_CONS.ERR [30:24]
export const CMDQ_CONS_ERR_SHIFT = 24
export const CMDQ_CONS_ERR_MASK = 0x7f << 24
export const CMDQ_ERR_NONE = 0
export const CMDQ_ERR_ILL = 1
export const CMDQ_ERR_ABT = 2
export const CMDQ_ERR_ATC_INV_SYNC = 3
/** Queue pointers: overflow flag in bit 31. */
export const Q_OVERFLOW_FLAG = 1 << 31

/** Index part of a queue pointer. */
export function qIndex(ptr: number, log2: number): number {
  return ptr & ((1 << log2) - 1)
}
/** Wrap bit of a queue pointer. */
export function qWrap(ptr: number, log2: number): number {
  return (ptr >>> log2) & 1
}
/** Pointer + 1 with wrap toggling, overflow flag preserved. */
export function qInc(ptr: number, log2: number): number {
  const mask = (2 << log2) - 1 // index + wrap bit
  return ((ptr & Q_OVERFLOW_FLAG) | ((ptr + 1) & mask)) >>> 0
}
export function qEmpty(prod: number, cons: number, log2: number): boolean {
  return qIndex(prod, log2) === qIndex(cons, log2) && qWrap(prod, log2) === qWrap(cons, log2)
}
export function qFull(prod: number, cons: number, log2: number): boolean {
  return qIndex(prod, log2) === qIndex(cons, log2) && qWrap(prod, log2) !== qWrap(cons, log2)
}
