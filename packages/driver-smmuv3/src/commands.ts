/**
 * SMMUv3 command builders (16-byte CMDQ entries as [Q0, Q1]) in the layout of reference
 * hw-formats.md §1.8, and the range-invalidation split Linux uses (NUM/SCALE, §1.8).
 */
import { CMDQ_OP, CMD_SYNC_CS_SEV, CFGI_RANGE_ALL } from '@iommu-sim/hw-models'

export type Command = readonly [bigint, bigint]

const b = BigInt
const sidField = (sid: number): bigint => b(sid >>> 0) << 32n
const vmidField = (vmid: number): bigint => b(vmid & 0xffff) << 32n
const asidField = (asid: number): bigint => b(asid & 0xffff) << 48n

export const cmd = {
  cfgiSte: (sid: number, leaf = true): Command => [b(CMDQ_OP.CFGI_STE) | sidField(sid), leaf ? 1n : 0n],
  cfgiAll: (): Command => [b(CMDQ_OP.CFGI_STE_RANGE), b(CFGI_RANGE_ALL)],
  cfgiCd: (sid: number, ssid: number, leaf = true): Command => [b(CMDQ_OP.CFGI_CD) | (b(ssid & 0xfffff) << 12n) | sidField(sid), leaf ? 1n : 0n],
  cfgiCdAll: (sid: number): Command => [b(CMDQ_OP.CFGI_CD_ALL) | sidField(sid), 0n],
  tlbiNhAll: (vmid: number): Command => [b(CMDQ_OP.TLBI_NH_ALL) | vmidField(vmid), 0n],
  tlbiNhAsid: (asid: number, vmid: number): Command => [b(CMDQ_OP.TLBI_NH_ASID) | vmidField(vmid) | asidField(asid), 0n],
  tlbiS12Vmall: (vmid: number): Command => [b(CMDQ_OP.TLBI_S12_VMALL) | vmidField(vmid), 0n],
  tlbiNsnhAll: (): Command => [b(CMDQ_OP.TLBI_NSNH_ALL), 0n],
  atcInvAll: (sid: number): Command => [b(CMDQ_OP.ATC_INV) | sidField(sid), 52n],
  sync: (): Command => [b(CMDQ_OP.CMD_SYNC) | (b(CMD_SYNC_CS_SEV) << 12n), 0n],
  /** TLBI_NH_VA (asid) or TLBI_S2_IPA (asid undefined) over one page or a NUM/SCALE range. */
  tlbiRange(op: 'nh-va' | 's2-ipa', vmid: number, asid: number, addr: bigint, num: number, scale: number, tg: number, leaf: boolean): Command {
    const opcode = op === 'nh-va' ? CMDQ_OP.TLBI_NH_VA : CMDQ_OP.TLBI_S2_IPA
    let q0 = b(opcode) | vmidField(vmid) | (b(num & 0x1f) << 12n) | (b(scale & 0x1f) << 20n)
    if (op === 'nh-va') q0 |= asidField(asid)
    const q1 = (addr & ~0xfffn) | (b(tg & 3) << 10n) | (leaf ? 1n : 0n)
    return [q0, q1]
  },
}

/**
 * Without range invalidation, more pages than this are invalidated by ASID / VMID instead of page by
 * page (Linux's CMDQ_MAX_TLBI_OPS, 1 << (PAGE_SHIFT - 3), bounding the commands one unmap issues).
 */
export const MAX_TLBI_OPS = 512

/**
 * Invalidation commands for [iova, iova + size) with 4 KiB granules: with range invalidation,
 * Linux's split into (NUM + 1) · 2^SCALE page runs; without it, one command per page, or one
 * ASID-wide (stage 1) / VMID-wide (stage 2) command above {@link MAX_TLBI_OPS} pages.
 */
export function rangeInvalidations(op: 'nh-va' | 's2-ipa', vmid: number, asid: number, iova: bigint, size: bigint, ril: boolean, leaf = true): Command[] {
  const out: Command[] = []
  let pages = size >> 12n
  let addr = iova
  if (!ril) {
    if (pages > BigInt(MAX_TLBI_OPS)) return [op === 'nh-va' ? cmd.tlbiNhAsid(asid, vmid) : cmd.tlbiS12Vmall(vmid)]
    for (; pages > 0n; pages--, addr += 0x1000n) out.push(cmd.tlbiRange(op, vmid, asid, addr, 0, 0, 0, leaf))
    return out
  }
  const tg = 1 // 4 KiB granule: (log2(granule) − 10) / 2
  while (pages > 0n) {
    let scale = 0
    while (((pages >> b(scale)) & 1n) === 0n) scale++
    const num = Number((pages >> b(scale)) & 31n)
    out.push(cmd.tlbiRange(op, vmid, asid, addr, num - 1, scale, tg, leaf))
    const step = b(num) << b(scale)
    addr += step << 12n
    pages -= step
  }
  return out
}
