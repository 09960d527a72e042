/**
 * Test helpers: a seeded PRNG, and decoders / walkers written independently of the production
 * code, straight from the bit layouts in reference/hw-formats.md (BigInt, no shared code).
 */
import type { PhysicalMemory } from '../src/index.js'

/** mulberry32: small, seeded, good enough for test inputs. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function randInt(rnd: () => number, lo: number, hiExclusive: number): number {
  return lo + Math.floor(rnd() * (hiExclusive - lo))
}

export function put(mem: PhysicalMemory, pa: number, value: bigint): void {
  mem.write64(pa, value)
}

const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n
const field = (v: bigint, hi: number, lo: number): bigint => (v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n)
const mask = (hi: number, lo: number): bigint => ((1n << BigInt(hi + 1)) - 1n) & ~((1n << BigInt(lo)) - 1n)

/** What an independent decoder extracts from one descriptor. */
export type RefEntry =
  | { kind: 'invalid' }
  | { kind: 'table'; addr: bigint; nextLevel?: number }
  | { kind: 'leaf'; oa: bigint; sizeLg2: number; read: boolean; write: boolean; exec: boolean; user: boolean }

/** VMSAv8-64 descriptor (Arm ARM / reference §1.5), ARM level numbering, 48-bit OA. */
export function refLpae(v: bigint, armLevel: number, granuleLg2: number, stage: 1 | 2): RefEntry {
  if (!bit(v, 0)) return { kind: 'invalid' }
  const isTableBit = bit(v, 1)
  const s = granuleLg2 - 3
  if (armLevel < 3 && isTableBit) return { kind: 'table', addr: v & mask(47, granuleLg2) }
  if (armLevel === 3 && !isTableBit) return { kind: 'invalid' }
  const shift = granuleLg2 + (3 - armLevel) * s
  let sizeLg2 = shift
  if (bit(v, 52)) {
    const contig: Record<number, Record<number, number>> = { 12: { 3: 4, 2: 4 }, 14: { 3: 7, 2: 5 }, 16: { 3: 5, 2: 5 } }
    sizeLg2 += contig[granuleLg2]?.[armLevel] ?? 0
  }
  // Contiguous entries each hold their own part; the group starts at the size-aligned address.
  const oa = (v & mask(47, shift)) & ~((1n << BigInt(sizeLg2)) - 1n)
  if (stage === 1) {
    return { kind: 'leaf', oa, sizeLg2, read: true, write: !bit(v, 7), exec: !bit(v, 54), user: bit(v, 6) }
  }
  return { kind: 'leaf', oa, sizeLg2, read: bit(v, 6), write: bit(v, 7), exec: !bit(v, 54), user: true }
}

/** x86-64 paging entry (Intel SDM / reference §2.5), level 1 = PTE. */
export function refX86(v: bigint, level: number): RefEntry {
  if (!bit(v, 0)) return { kind: 'invalid' }
  const ps = level > 1 && bit(v, 7)
  if (level > 1 && !ps) return { kind: 'table', addr: v & mask(51, 12) }
  const shift = 12 + 9 * (level - 1)
  return { kind: 'leaf', oa: v & mask(51, shift), sizeLg2: shift, read: true, write: bit(v, 1), exec: !bit(v, 63), user: bit(v, 2) }
}

/** VT-d second-stage entry (reference §2.4): present iff R or W. */
export function refVtdSs(v: bigint, level: number): RefEntry {
  if (!bit(v, 0) && !bit(v, 1)) return { kind: 'invalid' }
  const ps = level > 1 && bit(v, 7)
  if (level > 1 && !ps) return { kind: 'table', addr: v & mask(51, 12) }
  const shift = 12 + 9 * (level - 1)
  return { kind: 'leaf', oa: v & mask(51, shift), sizeLg2: shift, read: bit(v, 0), write: bit(v, 1), exec: bit(v, 0), user: true }
}

/** AMD v1 entry (reference §3.3): NextLevel in [11:9], 7 = size encoded in the address. */
export function refAmdV1(v: bigint, level: number): RefEntry {
  if (!bit(v, 0)) return { kind: 'invalid' }
  const nl = Number(field(v, 11, 9))
  const read = bit(v, 61)
  const write = bit(v, 62)
  if (nl !== 0 && nl !== 7) {
    if (level === 1 || nl >= level) return { kind: 'invalid' }
    return { kind: 'table', addr: v & mask(51, 12), nextLevel: nl }
  }
  const natural = 12 + 9 * (level - 1)
  if (nl === 0) return { kind: 'leaf', oa: v & mask(51, natural), sizeLg2: natural, read, write, exec: read, user: true }
  // Lowest zero bit of the address field (from bit 12) at position p: page size 2^(p+1).
  let p = 12
  while (bit(v, p)) p++
  const sizeLg2 = p + 1
  return { kind: 'leaf', oa: v & mask(51, sizeLg2), sizeLg2, read, write, exec: read, user: true }
}

/** Generic independent walk over any of the decoders above (no permission checks). */
export function refWalk(
  mem: PhysicalMemory,
  decode: (v: bigint, level: number) => RefEntry,
  levels: number[],
  indexOf: (level: number) => number,
  root: bigint,
): { oa: bigint; sizeLg2: number; entry: RefEntry } | null {
  let table = root
  for (let li = 0; li < levels.length; li++) {
    const level = levels[li]!
    const v = mem.read64(Number(table) + indexOf(level) * 8)
    const e = decode(v, level)
    if (e.kind === 'invalid') return null
    if (e.kind === 'table') {
      if (e.nextLevel !== undefined && e.nextLevel !== levels[li + 1]) return null // skips not modelled here
      table = e.addr
      continue
    }
    return { oa: e.oa, sizeLg2: e.sizeLg2, entry: e }
  }
  return null
}
