/**
 * Updates a live STE or CD so that an SMMU decoding it at the same time (a DMA worker thread)
 * never combines words of the old and the new entry, following the order of Linux's
 * arm_smmu_write_entry (hw-formats.md §1.9):
 * - the current entry uses only Q0 (it is invalid, or an abort / bypass STE), or only Q0 changes:
 *   write Q1.. first, then Q0 high half first and its valid low half last; one invalidation;
 * - otherwise the update breaks: Q0 is rewritten with V clear and invalidated first, then the
 *   other words, then Q0; invalidated again.
 */
import { readWords, wordsToBytes, type PhysicalMemory } from '@iommu-sim/hw-models'

export interface EntryKind {
  /** Words in the entry (8 for an STE, 4 used words of a CD). */
  readonly words: number
  /** The V bit in Q0. */
  readonly valid: bigint
  /** Whether an entry decodes from Q0 alone (nothing else can be combined with it). */
  usesOnlyQ0(q0: bigint): boolean
}

/** Writes `target` at `pa`; `invalidate` issues the entry's CFGI + CMD_SYNC. Returns false when nothing changed. */
export function writeEntry(mem: PhysicalMemory, pa: number, kind: EntryKind, target: readonly bigint[], invalidate: () => void): boolean {
  const current = readWords(mem.u8, pa, kind.words)
  const restChanges = target.some((w, i) => i > 0 && w !== current[i])
  if (!restChanges && target[0] === current[0]) return false
  if (restChanges && !kind.usesOnlyQ0(current[0]!)) {
    storeQ0(mem, pa, current[0]! & ~kind.valid)
    invalidate()
  }
  if (restChanges) mem.write(pa + 8, wordsToBytes(target.slice(1)))
  storeQ0(mem, pa, target[0]!)
  invalidate()
  return true
}

function storeQ0(mem: PhysicalMemory, pa: number, q0: bigint): void {
  mem.store64Ordered(pa, Number(q0 & 0xffff_ffffn), Number(q0 >> 32n))
}

/** STE: V is Q0 bit 0; invalid, abort (Config 0) and bypass (Config 4) decode from Q0 alone. */
export const STE_ENTRY: EntryKind = {
  words: 8,
  valid: 1n,
  usesOnlyQ0: (q0) => (q0 & 1n) === 0n || ((q0 >> 1n) & 7n) === 0n || ((q0 >> 1n) & 7n) === 4n,
}

/** CD: V is Q0 bit 31; only an invalid CD decodes from Q0 alone. */
export const CD_ENTRY: EntryKind = {
  words: 8,
  valid: 1n << 31n,
  usesOnlyQ0: (q0) => ((q0 >> 31n) & 1n) === 0n,
}
