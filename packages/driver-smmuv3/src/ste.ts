/**
 * The STEs and CDs the driver writes, as Linux's arm_smmu_make_*_ste / make_s1_cd build them
 * (reference hw-formats.md §1.3, §1.4, §1.9).
 */
import { CD, STE, STE_CFG_ABORT, STE_CFG_BYPASS, STE_CFG_NESTED, STE_CFG_S1_TRANS, STE_CFG_S2_TRANS, oasEncoding, setField, type PageTable } from '@iommu-sim/hw-models'

/** Linux's MAIR: idx0 0x44 (NC), idx1 0xff (WB RWA), idx2 0x04 (Device nGnRE), idx3 0xf4. */
export const LINUX_MAIR = 0xf404ff44n

export type Ste = bigint[]

export function abortSte(): Ste {
  const w = new Array<bigint>(8).fill(0n)
  setField(w, STE.V, 1)
  setField(w, STE.CONFIG, STE_CFG_ABORT)
  return w
}

export function bypassSte(): Ste {
  const w = new Array<bigint>(8).fill(0n)
  setField(w, STE.V, 1)
  setField(w, STE.CONFIG, STE_CFG_BYPASS)
  return w
}

/**
 * S1 translate through the master's CD table (arm_smmu_make_cdtable_ste): S1Fmt and S1CDMax
 * from the table, and S1DSS, what non-substream traffic uses when S1CDMax > 0: CD 0 (SSID0) for
 * a stage-1 RID domain, terminate for a blocked RID with PASIDs in use.
 */
export function cdTableSte(table: { readonly base: number; readonly s1fmt: number; readonly s1cdmax: number }, s1dss: number, ats: boolean): Ste {
  const w = new Array<bigint>(8).fill(0n)
  setField(w, STE.V, 1)
  setField(w, STE.CONFIG, STE_CFG_S1_TRANS)
  setField(w, STE.S1FMT, table.s1fmt)
  setField(w, STE.S1CTXPTR, BigInt(table.base) >> 6n)
  setField(w, STE.S1CDMAX, table.s1cdmax)
  setField(w, STE.S1DSS, s1dss)
  setField(w, STE.S1CIR, 1)
  setField(w, STE.S1COR, 1)
  setField(w, STE.S1CSH, 3)
  if (ats) setField(w, STE.EATS, 1)
  setField(w, STE.SHCFG, 1)
  return w
}

/** S2 translate (arm_smmu_make_s2_domain_ste). */
export function s2Ste(pt: PageTable, vmid: number, oasBits: number, ats: boolean, s2fwb = false): Ste {
  const w = new Array<bigint>(8).fill(0n)
  const fmt = pt.format
  setField(w, STE.V, 1)
  setField(w, STE.CONFIG, STE_CFG_S2_TRANS)
  if (ats) setField(w, STE.EATS, 1)
  setField(w, STE.SHCFG, 1)
  if (s2fwb) setField(w, STE.S2FWB, 1)
  setField(w, STE.S2VMID, vmid)
  setField(w, STE.S2T0SZ, 64 - fmt.inputBits)
  setField(w, STE.S2SL0, fmt.hwInfo['s2sl0'] ?? 2)
  setField(w, STE.S2IR0, 1)
  setField(w, STE.S2OR0, 1)
  setField(w, STE.S2SH0, 3)
  setField(w, STE.S2TG, fmt.hwInfo['s2tg'] ?? 0)
  setField(w, STE.S2PS, oasEncoding(Math.min(oasBits, fmt.outputBits)))
  setField(w, STE.S2AA64, 1)
  setField(w, STE.S2PTW, 1)
  setField(w, STE.S2R, 1)
  setField(w, STE.S2TTB, BigInt(pt.root) >> 4n)
  return w
}

/** The nested STE: the S2 STE with Config = 7, the guest's CD-table fields and S1 attributes, MEV. */
export function nestedSte(s2: Ste, guest: readonly [bigint, bigint], ats: boolean): Ste {
  const w = [...s2]
  // V from the host, the guest's CD-table pointer, S1Fmt and S1CDMax; Config forced to nested.
  w[0] = (w[0]! & 1n) | (guest[0] & ~0xfn)
  setField(w, STE.CONFIG, STE_CFG_NESTED)
  w[1] = w[1]! | guest[1]
  setField(w, STE.MEV, 1)
  setField(w, STE.EATS, ats ? 1 : 0)
  return w
}

/** arm_smmu_make_s1_cd for a 4 KiB, 48-bit stage-1 table; `httu` sets CD.HA and CD.HD (dirty tracking). */
export function s1Cd(pt: PageTable, asid: number, oasBits: number, httu = false): bigint[] {
  const w = [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]
  const fmt = pt.format
  setField(w, CD.T0SZ, 64 - fmt.inputBits)
  setField(w, CD.TG0, fmt.hwInfo['tg0'] ?? 0)
  setField(w, CD.IRGN0, 1)
  setField(w, CD.ORGN0, 1)
  setField(w, CD.SH0, 3)
  setField(w, CD.EPD1, 1)
  setField(w, CD.V, 1)
  setField(w, CD.IPS, oasEncoding(Math.min(oasBits, fmt.outputBits)))
  setField(w, CD.AA64, 1)
  setField(w, CD.R, 1)
  setField(w, CD.A, 1)
  setField(w, CD.ASET, 1)
  setField(w, CD.ASID, asid)
  if (httu) {
    setField(w, CD.HA, 1)
    setField(w, CD.HD, 1)
  }
  setField(w, CD.TTB0, BigInt(pt.root) >> 4n)
  setField(w, CD.MAIR, LINUX_MAIR)
  return w
}

/** STE.Config of a raw STE. */
export function steConfig(w: readonly bigint[]): number {
  return Number((w[0]! >> 1n) & 7n)
}

export { STE_CFG_S1_TRANS, STE_CFG_BYPASS, STE_CFG_ABORT, STE_CFG_S2_TRANS }
