/**
 * SMMUv3 in-memory structures: STE (64 B), CD (64 B), command (16 B) and event (32 B) field
 * positions and opcodes (reference hw-formats.md §1.2–§1.4, §1.8, §1.11; arm-smmu-v3.h).
 * Values are given as [word, shift, width] so both the model and the driver read them one way.
 */

export const STE_SIZE = 64
export const CD_SIZE = 64
export const CMD_SIZE = 16
export const EVT_SIZE = 32
export const STRTAB_L1_DESC_SIZE = 8
export const CD_L1_DESC_SIZE = 8
/** CDs per level-2 CD table (Linux CTXDESC_L2_ENTRIES). */
export const CD_L2_ENTRIES = 1024

/** A field of a little-endian structure of 64-bit words. */
export type Field = readonly [word: number, shift: number, width: number]

export const STE = {
  V: [0, 0, 1],
  CONFIG: [0, 1, 3],
  S1FMT: [0, 4, 2],
  S1CTXPTR: [0, 6, 46],
  S1CDMAX: [0, 59, 5],
  S1DSS: [1, 0, 2],
  S1CIR: [1, 2, 2],
  S1COR: [1, 4, 2],
  S1CSH: [1, 6, 2],
  MEV: [1, 19, 1],
  S2FWB: [1, 25, 1],
  S1STALLD: [1, 27, 1],
  EATS: [1, 28, 2],
  STRW: [1, 30, 2],
  SHCFG: [1, 44, 2],
  S2VMID: [2, 0, 16],
  S2T0SZ: [2, 32, 6],
  S2SL0: [2, 38, 2],
  S2IR0: [2, 40, 2],
  S2OR0: [2, 42, 2],
  S2SH0: [2, 44, 2],
  S2TG: [2, 46, 2],
  S2PS: [2, 48, 3],
  S2AA64: [2, 51, 1],
  S2ENDI: [2, 52, 1],
  S2AFFD: [2, 53, 1],
  S2PTW: [2, 54, 1],
  S2HD: [2, 55, 1],
  S2HA: [2, 56, 1],
  S2S: [2, 57, 1],
  S2R: [2, 58, 1],
  S2TTB: [3, 4, 48],
} as const satisfies Record<string, Field>

export const STE_CFG_ABORT = 0
export const STE_CFG_BYPASS = 4
export const STE_CFG_S1_TRANS = 5
export const STE_CFG_S2_TRANS = 6
export const STE_CFG_NESTED = 7
export const STE_S1FMT_LINEAR = 0
export const STE_S1FMT_64K_L2 = 2
export const STE_S1DSS_TERMINATE = 0
export const STE_S1DSS_BYPASS = 1
export const STE_S1DSS_SSID0 = 2
/** STE.S2TG / CD.TG0 encodings. */
export const TG_4K = 0
export const TG_64K = 1
export const TG_16K = 2

export const CD = {
  T0SZ: [0, 0, 6],
  TG0: [0, 6, 2],
  IRGN0: [0, 8, 2],
  ORGN0: [0, 10, 2],
  SH0: [0, 12, 2],
  EPD0: [0, 14, 1],
  ENDI: [0, 15, 1],
  EPD1: [0, 30, 1],
  V: [0, 31, 1],
  IPS: [0, 32, 3],
  AFFD: [0, 35, 1],
  WXN: [0, 36, 1],
  TBI0: [0, 38, 1],
  AA64: [0, 41, 1],
  HD: [0, 42, 1],
  HA: [0, 43, 1],
  S: [0, 44, 1],
  R: [0, 45, 1],
  A: [0, 46, 1],
  ASET: [0, 47, 1],
  ASID: [0, 48, 16],
  HAD0: [1, 1, 1],
  TTB0: [1, 4, 48],
  MAIR: [3, 0, 64],
} as const satisfies Record<string, Field>

/** L1 descriptors: stream table SPAN [4:0] / L2PTR [51:6]; CD table V [0] / L2PTR [51:12]. */
export const STRTAB_L1 = { SPAN: [0, 0, 5], L2PTR: [0, 6, 46] } as const satisfies Record<string, Field>
export const CD_L1 = { V: [0, 0, 1], L2PTR: [0, 12, 40] } as const satisfies Record<string, Field>

export const CMD = {
  OPCODE: [0, 0, 8],
  SSV: [0, 11, 1],
  SSID: [0, 12, 20],
  SID: [0, 32, 32],
  NUM: [0, 12, 5],
  SCALE: [0, 20, 5],
  VMID: [0, 32, 16],
  ASID: [0, 48, 16],
  LEAF: [1, 0, 1],
  TTL: [1, 8, 2],
  TG: [1, 10, 2],
  ADDR: [1, 12, 52],
  RANGE: [1, 0, 5],
  ATC_GLOBAL: [0, 9, 1],
  ATC_SIZE: [1, 0, 6],
  SYNC_CS: [0, 12, 2],
  SYNC_MSIDATA: [0, 32, 32],
  SYNC_MSIADDR: [1, 2, 50],
} as const satisfies Record<string, Field>

export const CMDQ_OP = {
  PREFETCH_CONFIG: 0x01,
  PREFETCH_ADDR: 0x02,
  CFGI_STE: 0x03,
  CFGI_STE_RANGE: 0x04,
  CFGI_CD: 0x05,
  CFGI_CD_ALL: 0x06,
  TLBI_NH_ALL: 0x10,
  TLBI_NH_ASID: 0x11,
  TLBI_NH_VA: 0x12,
  TLBI_NH_VAA: 0x13,
  TLBI_EL3_ALL: 0x18,
  TLBI_EL3_VA: 0x1a,
  TLBI_EL2_ALL: 0x20,
  TLBI_EL2_ASID: 0x21,
  TLBI_EL2_VA: 0x22,
  TLBI_EL2_VAA: 0x23,
  TLBI_S12_VMALL: 0x28,
  TLBI_S2_IPA: 0x2a,
  TLBI_NSNH_ALL: 0x30,
  ATC_INV: 0x40,
  PRI_RESP: 0x41,
  RESUME: 0x44,
  STALL_TERM: 0x45,
  CMD_SYNC: 0x46,
} as const
export const CMD_SYNC_CS_NONE = 0
export const CMD_SYNC_CS_IRQ = 1
export const CMD_SYNC_CS_SEV = 2
/** CFGI_STE_RANGE with RANGE = 31 invalidates every STE (Linux CFGI_ALL). */
export const CFGI_RANGE_ALL = 31

export const EVT = {
  ID: [0, 0, 8],
  SSV: [0, 11, 1],
  SSID: [0, 12, 20],
  SID: [0, 32, 32],
  STAG: [1, 0, 16],
  STALL: [1, 31, 1],
  PNU: [1, 33, 1],
  IND: [1, 34, 1],
  RNW: [1, 35, 1],
  S2: [1, 39, 1],
  CLASS: [1, 40, 2],
  TTRNW: [1, 44, 1],
  INPUT_ADDR: [2, 0, 64],
  IPA: [3, 12, 40],
  FETCH_ADDR: [3, 3, 49],
} as const satisfies Record<string, Field>

export const EVT_ID = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
  F_VMS_FETCH: 0x25,
} as const
export const EVT_CLASS_CD = 0
export const EVT_CLASS_TT = 1
export const EVT_CLASS_IN = 2

// ---- field access on 64-bit words held as bigint (control path) -----------------------------

export function getField(words: readonly bigint[], f: Field): bigint {
  const [w, shift, width] = f
  return (words[w]! >> BigInt(shift)) & ((1n << BigInt(width)) - 1n)
}

export function setField(words: bigint[], f: Field, value: bigint | number): void {
  const [w, shift, width] = f
  const mask = ((1n << BigInt(width)) - 1n) << BigInt(shift)
  words[w] = (words[w]! & ~mask) | ((BigInt(value) << BigInt(shift)) & mask)
}

/** Reads `n` little-endian 64-bit words at `pa` of a byte array. */
export function readWords(u8: Uint8Array, pa: number, n: number): bigint[] {
  const v = new DataView(u8.buffer, u8.byteOffset + pa, n * 8)
  return Array.from({ length: n }, (_, i) => v.getBigUint64(i * 8, true))
}

export function wordsToBytes(words: readonly bigint[]): Uint8Array {
  const out = new Uint8Array(words.length * 8)
  const v = new DataView(out.buffer)
  words.forEach((w, i) => v.setBigUint64(i * 8, w & 0xffff_ffff_ffff_ffffn, true))
  return out
}

export function bytesToWords(bytes: Uint8Array): bigint[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return Array.from({ length: bytes.byteLength >> 3 }, (_, i) => v.getBigUint64(i * 8, true))
}
