/**
 * Golden tests for the x86-64 (VT-d first stage / AMD v2), VT-d second-stage and AMD v1 formats:
 * hand-encoded descriptors (reference/hw-formats.md §2.4, §2.5, §3.3, §3.4) walked by our
 * walker, our encoder checked against the independent decoders in helpers.ts, every fault kind.
 */
import { describe, expect, it } from 'vitest'
import {
  FaultKind, IOMMU_READ, IOMMU_WRITE, PageTable, Perm, PhysicalMemory, WalkResult, accessMask, amdV1Format, decodeEntry,
  encodeLeaf, encodeTable, vtdSsFormat, walk, x86_64Format,
} from '../src/index.js'
import { put, refAmdV1, refVtdSs, refX86 } from './helpers.js'

const READ = accessMask(false)
const WRITE = accessMask(true)
const EXEC = accessMask(false, true)
const SUP_READ = accessMask(false, false, true)
const SUP_WRITE = accessMask(true, false, true)
const ALL = 63

describe('x86-64 4-level (VT-d first stage, AMD v2)', () => {
  // PML4 0x10000, PDPT 0x11000, PD 0x12000, PT 0x13000.
  // IOVA 0x80_8060_4123 = PML4 index 1 | PDPT 2 | PD 3 | PT 4 | offset 0x123.
  const mem = new PhysicalMemory({ bytes: 1 << 20 })
  const fmt = x86_64Format({ levels: 4 })
  put(mem, 0x10008, 0x0000_0000_0001_1027n) // PML4E[1]: P | R/W | U/S | A -> 0x11000
  put(mem, 0x11010, 0x0000_0000_0001_2027n) // PDPTE[2] -> 0x12000
  put(mem, 0x12018, 0x0000_0000_0001_3027n) // PDE[3] -> 0x13000
  put(mem, 0x13020, 0x0000_0001_2345_6067n) // PTE[4]: 4K page 0x1_2345_6000 | P RW US A D
  put(mem, 0x12028, 0x0000_0000_4000_00e7n) // PDE[5]: 2M page 0x4000_0000 | P RW US A D PS
  put(mem, 0x11018, 0x0000_0000_c000_00e7n) // PDPTE[3]: 1G page 0xc000_0000
  put(mem, 0x13028, 0x0000_0000_0050_0025n) // PTE[5]: P | US | A (read-only)
  put(mem, 0x12030, 0x0000_0000_0001_4023n) // PDE[6]: P RW A, no U/S -> PT 0x14000
  put(mem, 0x14000, 0x0000_0000_0060_0067n) //   PTE[0] below it
  put(mem, 0x13038, 0x8000_0000_0070_0067n) // PTE[7]: XD
  put(mem, 0x10010, 0x0000_0000_0000_00e7n) // PML4E[2]: PS set: reserved
  put(mem, 0x12038, 0x0000_0000_4020_20e7n) // PDE[7]: 2M page 0x4020_0000 with address bit 13 set: reserved
  put(mem, 0x13048, 0x0000_0010_0000_0067n) // PTE[9]: address bit 36
  put(mem, 0x12040, 0x0000_0000_4000_0027n) // PDE[8] -> a page table at 1 GiB, outside this 1 MiB memory
  put(mem, 0x10ff8, 0x0000_0000_0001_5027n) // PML4E[511] (upper half) -> PDPT 0x15000
  put(mem, 0x15000, 0x0000_0000_8000_00e7n) //   PDPTE[0]: 1G page 0x8000_0000
  const out = new WalkResult()

  it('walks 4K, 2M and 1G pages', () => {
    expect(walk(mem, fmt, 0x10000, 0x80_8060_4123, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.level, out.perm, out.reads]).toEqual([0x1_2345_6123, 12, 1, ALL, 4])
    expect(walk(mem, fmt, 0x10000, 0x80_80a1_2345, WRITE, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.level]).toEqual([0x4001_2345, 21, 2])
    expect(walk(mem, fmt, 0x10000, 0x80_c123_4567, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.level]).toEqual([0xc123_4567, 30, 3])
  })

  it('walks the canonical upper half (negative numbers)', () => {
    const iova = -(2 ** 39) + 0x1234 // 0xffff_ff80_0000_1234
    expect(walk(mem, fmt, 0x10000, iova, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2]).toEqual([0x8000_1234, 30])
  })

  it('R/W, U/S and XD accumulate over the levels', () => {
    expect(walk(mem, fmt, 0x10000, 0x80_8060_5000, READ, out)).toBe(true)
    expect(out.perm & (Perm.W | Perm.R)).toBe(Perm.R)
    expect(walk(mem, fmt, 0x10000, 0x80_8060_5000, SUP_WRITE, out)).toBe(true) // WPE = 0
    const wpe = x86_64Format({ levels: 4, wpe: true })
    expect(walk(mem, wpe, 0x10000, 0x80_8060_5000, SUP_WRITE, out)).toBe(false)
    expect(walk(mem, fmt, 0x10000, 0x80_80c0_0000, SUP_READ, out)).toBe(true)
    expect(out.oa).toBe(0x60_0000)
    expect(walk(mem, fmt, 0x10000, 0x80_8060_7000, READ, out)).toBe(true)
    expect(out.perm & (Perm.X | Perm.PX)).toBe(0)
  })

  const faults: Array<[string, number, number, number, number]> = [
    ['not present', 0x80_8060_8000, READ, FaultKind.TRANSLATION, 1],
    ['user write to a read-only page', 0x80_8060_5000, WRITE, FaultKind.PERMISSION, 1],
    ['user access below a supervisor PDE (checked at that level)', 0x80_80c0_0000, READ, FaultKind.PERMISSION, 2],
    ['fetch from an XD page', 0x80_8060_7000, EXEC, FaultKind.PERMISSION, 1],
    ['PS in a PML4E', 0x100_0000_0000, READ, FaultKind.RESERVED, 4],
    ['2M page with address bits [20:13] set', 0x80_80e0_0000, READ, FaultKind.RESERVED, 2],
    ['non-canonical input', 0x8000_0000_0000, READ, FaultKind.ADDRESS_SIZE, 4],
    ['non-canonical negative input', -(2 ** 47) - 4096, READ, FaultKind.ADDRESS_SIZE, 4],
    ['page table outside physical memory', 0x80_8100_0000, READ, FaultKind.WALK_ABORT, 1],
  ]
  for (const [name, iova, req, fault, level] of faults) {
    it(`faults: ${name}`, () => {
      expect(walk(mem, fmt, 0x10000, iova, req, out)).toBe(false)
      expect([out.fault, out.level, out.stage, out.faultAddress]).toEqual([fault, level, 1, iova])
    })
  }

  it('faults: reserved address bits above MAXPHYADDR and XD without NXE', () => {
    expect(walk(mem, x86_64Format({ levels: 4, outputBits: 36 }), 0x10000, 0x80_8060_9000, READ, out)).toBe(false)
    expect([out.fault, out.level]).toEqual([FaultKind.RESERVED, 1])
    expect(walk(mem, x86_64Format({ levels: 4 }), 0x10000, 0x80_8060_9000, READ, out)).toBe(true)
    expect(walk(mem, x86_64Format({ levels: 4, nxe: false }), 0x10000, 0x80_8060_7000, READ, out)).toBe(false)
    expect(out.fault).toBe(FaultKind.RESERVED)
  })

  it('faults: a PDPTE with PS when 1G pages are not supported', () => {
    expect(walk(mem, x86_64Format({ levels: 4, pages1G: false }), 0x10000, 0x80_c000_0000, READ, out)).toBe(false)
    expect([out.fault, out.level]).toEqual([FaultKind.RESERVED, 3])
  })

  it('5 levels: a PML5 above the same tables', () => {
    put(mem, 0x16008, 0x0000_0000_0001_0027n) // PML5E[1] -> PML4 0x10000
    const f5 = x86_64Format({ levels: 5 })
    expect(f5.hwInfo).toMatchObject({ levels: 5, fspm: 1 })
    expect(walk(mem, f5, 0x16000, 0x1_0080_8060_4123, READ, out)).toBe(true)
    expect([out.oa, out.reads]).toEqual([0x1_2345_6123, 5])
  })

  it('encoder vs independent decoder (Linux: U|A, RW|D when writable, PS for large pages)', () => {
    for (const f of [fmt, x86_64Format({ levels: 5 })]) {
      for (const [level, sizeLg2] of [[1, 12], [2, 21], [3, 30]] as const) {
        for (const prot of [IOMMU_READ, IOMMU_READ | IOMMU_WRITE]) {
          const [v] = encodeLeaf(f, level, 0x3_c000_0000, sizeLg2, prot).values
          expect(refX86(v!, level)).toEqual({ kind: 'leaf', oa: 0x3_c000_0000n, sizeLg2, read: true, write: (prot & IOMMU_WRITE) !== 0, exec: true, user: true })
          expect(Number(v! & 0x60n)).toBe(prot & IOMMU_WRITE ? 0x60 : 0x20) // A, and D when writable
          expect(decodeEntry(f, level, v!)).toMatchObject({ type: 'leaf', address: 0x3_c000_0000, sizeLg2 })
        }
      }
      for (let level = 2; level <= f.levels; level++) {
        const t = encodeTable(f, level, 0x1234_5000)
        expect(t).toBe(0x0000_0000_1234_5027n)
        expect(refX86(t, level)).toEqual({ kind: 'table', addr: 0x1234_5000n })
      }
    }
  })
})

describe('VT-d second stage (no present bit)', () => {
  const mem = new PhysicalMemory({ bytes: 1 << 20 })
  const fmt = vtdSsFormat({ levels: 4 })
  put(mem, 0x10008, 0x0000_0000_0001_1003n) // SL-PML4E[1]: R | W -> 0x11000
  put(mem, 0x11010, 0x0000_0000_0001_2003n) // SL-PDPTE[2]
  put(mem, 0x12018, 0x0000_0000_0001_3003n) // SL-PDE[3]
  put(mem, 0x13020, 0x0000_0001_2345_6003n) // SL-PTE[4]: R | W page 0x1_2345_6000
  put(mem, 0x13028, 0x0000_0000_0050_0001n) // SL-PTE[5]: R only
  put(mem, 0x13030, 0x0000_0000_0060_0004n) // SL-PTE[6]: X only: not present
  put(mem, 0x12028, 0x0000_0000_4000_0083n) // SL-PDE[5]: 2M, R W PS
  put(mem, 0x11018, 0x0000_0000_c000_0083n) // SL-PDPTE[3]: 1G
  put(mem, 0x12038, 0x0000_0000_4020_1083n) // SL-PDE[7]: 2M with address bit 12 set: reserved
  put(mem, 0x10010, 0x0000_0000_0000_0083n) // SL-PML4E[2]: PS: reserved
  put(mem, 0x12030, 0x0000_0000_0001_4001n) // SL-PDE[6]: R only -> 0x14000
  put(mem, 0x14000, 0x0000_0000_0070_0003n) //   SL-PTE[0]: R | W
  put(mem, 0x13048, 0x0000_0000_0090_0803n) // SL-PTE[9]: SNP
  put(mem, 0x12040, 0x0000_0000_4000_0003n) // SL-PDE[8] -> a table at 1 GiB, outside memory
  const out = new WalkResult()

  it('walks 4K, 2M and 1G leaves', () => {
    expect(walk(mem, fmt, 0x10000, 0x80_8060_4123, WRITE, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.level, out.stage, out.perm]).toEqual([0x1_2345_6123, 12, 1, 2, ALL])
    expect(walk(mem, fmt, 0x10000, 0x80_80a1_2345, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2]).toEqual([0x4001_2345, 21])
    expect(walk(mem, fmt, 0x10000, 0x80_c123_4567, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2]).toEqual([0xc123_4567, 30])
    expect(fmt.hwInfo).toMatchObject({ aw: 2 })
  })

  it('R and W are ANDed down the walk', () => {
    expect(walk(mem, fmt, 0x10000, 0x80_80c0_0000, READ, out)).toBe(true)
    expect(out.perm).toBe(Perm.R | Perm.PR | Perm.X | Perm.PX)
    expect(walk(mem, fmt, 0x10000, 0x80_80c0_0000, WRITE, out)).toBe(false)
    expect([out.fault, out.level]).toEqual([FaultKind.PERMISSION, 1])
  })

  const faults: Array<[string, number, number, number, number]> = [
    ['empty entry', 0x80_8060_7000, READ, FaultKind.TRANSLATION, 1],
    ['entry with only X set is not present', 0x80_8060_6000, READ, FaultKind.TRANSLATION, 1],
    ['write to a read-only leaf', 0x80_8060_5000, WRITE, FaultKind.PERMISSION, 1],
    ['PS in an SL-PML4E', 0x100_0000_0000, READ, FaultKind.RESERVED, 4],
    ['2M leaf with address bits [20:12] set', 0x80_80e0_0000, READ, FaultKind.RESERVED, 2],
    ['input beyond the 48-bit AW', 0x1_0000_0000_0000, READ, FaultKind.ADDRESS_SIZE, 4],
    ['table outside physical memory', 0x80_8100_0000, READ, FaultKind.WALK_ABORT, 1],
  ]
  for (const [name, iova, req, fault, level] of faults) {
    it(`faults: ${name}`, () => {
      expect(walk(mem, fmt, 0x10000, iova, req, out)).toBe(false)
      expect([out.fault, out.level, out.stage]).toEqual([fault, level, 2])
    })
  }

  it('faults: SNP without snoop control, superpages without SLLPS', () => {
    expect(walk(mem, fmt, 0x10000, 0x80_8060_9000, READ, out)).toBe(true)
    expect(walk(mem, vtdSsFormat({ levels: 4, snoopControl: false }), 0x10000, 0x80_8060_9000, READ, out)).toBe(false)
    expect(out.fault).toBe(FaultKind.RESERVED)
    expect(walk(mem, vtdSsFormat({ levels: 4, pages2M: false }), 0x10000, 0x80_80a0_0000, READ, out)).toBe(false)
    expect([out.fault, out.level]).toEqual([FaultKind.RESERVED, 2])
  })

  it('encoder vs independent decoder (Linux: R, W, SNP when forced; tables R|W)', () => {
    const snoop = vtdSsFormat({ levels: 3, forceSnoop: true })
    for (const f of [fmt, snoop]) {
      for (const [level, sizeLg2] of [[1, 12], [2, 21], [3, 30]] as const) {
        for (const prot of [IOMMU_READ, IOMMU_WRITE, IOMMU_READ | IOMMU_WRITE]) {
          const [v] = encodeLeaf(f, level, 0x8000_0000, sizeLg2, prot).values
          expect(refVtdSs(v!, level)).toMatchObject({ kind: 'leaf', oa: 0x8000_0000n, sizeLg2, read: (prot & IOMMU_READ) !== 0, write: (prot & IOMMU_WRITE) !== 0 })
          expect(((v! >> 11n) & 1n) === 1n).toBe(f === snoop)
        }
      }
      expect(encodeTable(f, 2, 0x5000)).toBe(0x5003n)
    }
    expect(() => encodeLeaf(fmt, 1, 0, 12, 0)).toThrow(/IOMMU_READ or IOMMU_WRITE/)
    expect(() => encodeLeaf(vtdSsFormat({ levels: 4, forceWritable: true }), 1, 0, 12, IOMMU_READ)).toThrow(/ERRATA_772415/)
  })
})

describe('AMD v1', () => {
  // Mode 4: L4 0x10000, L3 0x11000, L2 0x12000, L1 0x13000. IOVA 0x80_8060_4123 as above.
  const mem = new PhysicalMemory({ bytes: 1 << 20 })
  const fmt = amdV1Format({ mode: 4 })
  put(mem, 0x10008, 0x6000_0000_0001_1601n) // L4[1]: PR | NextLevel 3 | IR | IW -> 0x11000
  put(mem, 0x11010, 0x6000_0000_0001_2401n) // L3[2]: NextLevel 2 -> 0x12000
  put(mem, 0x12018, 0x6000_0000_0001_3201n) // L2[3]: NextLevel 1 -> 0x13000
  put(mem, 0x13020, 0x7000_0001_2345_6001n) // L1[4]: PTE 0x1_2345_6000 | PR | FC | IR | IW
  // L1[8..15]: a 32K page (NextLevel 7, address bits [13:12] = 1, bit 14 = 0) at 0x8_0000, replicated 8 times
  for (let j = 8; j < 16; j++) put(mem, 0x13000 + j * 8, 0x6000_0000_0008_3e01n)
  // L2[8..9]: a 4M page (NextLevel 7, address bits [20:12] = 1, bit 21 = 0) at 0x40_0000, replicated twice
  put(mem, 0x12040, 0x6000_0000_005f_fe01n)
  put(mem, 0x12048, 0x6000_0000_005f_fe01n)
  put(mem, 0x12050, 0x6000_0000_0000_1e01n) // L2[10]: NextLevel 7 encoding a 16K size at level 2: reserved
  put(mem, 0x11018, 0x2000_0000_0001_4401n) // L3[3]: IR only -> L2 0x14000
  put(mem, 0x14000, 0x6000_0000_0020_0001n) //   L2[0]: 2M PTE (NextLevel 0)
  put(mem, 0x10010, 0x6000_0000_0001_5401n) // L4[2]: NextLevel 2, skipping level 3 -> L2 0x15000
  put(mem, 0x15008, 0x6000_0000_0040_0001n) //   L2[1]: 2M PTE 0x40_0000
  put(mem, 0x10018, 0x6000_0000_0001_1a01n) // L4[3]: NextLevel 5 from level 4: reserved
  put(mem, 0x13030, 0x6000_0000_0060_0201n) // L1[6]: NextLevel 1 in a level-1 entry: reserved
  put(mem, 0x12058, 0x6000_0000_4000_0201n) // L2[11]: NextLevel 1 -> a table at 1 GiB, outside memory
  const out = new WalkResult()

  it('walks a 4K PTE; IR/IW give R/W, reads allow execute', () => {
    expect(walk(mem, fmt, 0x10000, 0x80_8060_4123, WRITE, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.level, out.stage, out.perm, out.reads]).toEqual([0x1_2345_6123, 12, 1, 2, ALL, 4])
    expect(fmt.hwInfo).toEqual({ mode: 4 })
  })

  it('NextLevel 7: power-of-two sizes encoded in the address field', () => {
    expect(walk(mem, fmt, 0x10000, 0x80_8060_d432, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.level]).toEqual([0x8_5432, 15, 1])
    expect(walk(mem, fmt, 0x10000, 0x80_8123_4567, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.level]).toEqual([0x63_4567, 22, 2])
  })

  it('level skipping: the skipped levels must index zero', () => {
    expect(walk(mem, fmt, 0x10000, 0x100_0020_0777, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.level, out.reads]).toEqual([0x40_0777, 21, 2, 2])
    expect(walk(mem, fmt, 0x10000, 0x100_4020_0000, READ, out)).toBe(false)
    expect([out.fault, out.level]).toEqual([FaultKind.TRANSLATION, 4])
  })

  it('IR/IW are ANDed over the PDEs', () => {
    expect(walk(mem, fmt, 0x10000, 0x80_c000_0000, READ, out)).toBe(true)
    expect(out.perm).toBe(Perm.R | Perm.PR | Perm.X | Perm.PX)
  })

  const faults: Array<[string, number, number, number, number]> = [
    ['not present', 0x80_8060_5000, READ, FaultKind.TRANSLATION, 1],
    ['write below a read-only PDE', 0x80_c000_0000, WRITE, FaultKind.PERMISSION, 2],
    ['NextLevel not below the current level', 0x180_0000_0000, READ, FaultKind.RESERVED, 4],
    ['NextLevel 1..6 in a level-1 entry', 0x80_8060_6000, READ, FaultKind.RESERVED, 1],
    ['NextLevel-7 size outside the level', 0x80_8140_0000, READ, FaultKind.RESERVED, 2],
    ['input beyond the mode', 0x1_0000_0000_0000, READ, FaultKind.ADDRESS_SIZE, 4],
    ['table outside physical memory', 0x80_8160_0000, READ, FaultKind.WALK_ABORT, 1],
  ]
  for (const [name, iova, req, fault, level] of faults) {
    it(`faults: ${name}`, () => {
      expect(walk(mem, fmt, 0x10000, iova, req, out)).toBe(false)
      expect([out.fault, out.level, out.stage]).toEqual([fault, level, 2])
    })
  }

  it('faults: inputs at or above 2^53 (not exact as numbers) are address-size faults', () => {
    expect(walk(mem, amdV1Format({ mode: 6 }), 0x16000, 2 ** 53, READ, out)).toBe(false)
    expect([out.fault, out.level]).toEqual([FaultKind.ADDRESS_SIZE, 6])
    expect(walk(mem, x86_64Format({ levels: 5 }), 0x16000, -(2 ** 53) - 4096, READ, out)).toBe(false)
    expect(out.fault).toBe(FaultKind.ADDRESS_SIZE)
  })

  it('faults: a leaf at level 6 (mode 6 root)', () => {
    put(mem, 0x16000, 0x6000_0000_0000_0001n)
    expect(walk(mem, amdV1Format({ mode: 6 }), 0x16000, 0x1000, READ, out)).toBe(false)
    expect([out.fault, out.level]).toEqual([FaultKind.RESERVED, 6])
  })

  it('encoder vs independent decoder, every size of every level (Linux: PR, FC, IR, IW; NextLevel 0/7)', () => {
    for (const f of [fmt, amdV1Format({ mode: 6 })]) {
      for (const sizeLg2 of f.pageSizesLg2) {
        const level = Math.floor((sizeLg2 - 12) / 9) + 1
        const oa = 2 ** sizeLg2 * (sizeLg2 < 49 ? 5 : 1)
        const enc = encodeLeaf(f, level, oa, sizeLg2, IOMMU_READ | IOMMU_WRITE)
        expect(enc.count).toBe(2 ** ((sizeLg2 - 12) % 9))
        for (const v of enc.values) {
          expect(v).toBe(enc.values[0]) // replicated
          expect(refAmdV1(v, level)).toEqual({ kind: 'leaf', oa: BigInt(oa), sizeLg2, read: true, write: true, exec: true, user: true })
          expect((v >> 60n) & 1n).toBe(1n) // FC
        }
        expect(decodeEntry(f, level, enc.values[0]!)).toMatchObject({ type: 'leaf', address: oa, sizeLg2 })
      }
      if (f.levels === 6) expect(() => encodeLeaf(f, 5, 2 ** 52, 51, IOMMU_READ)).toThrow(/exceeds 52-bit/)
      expect(f.pageSizesLg2).not.toContain(39) // 512G excluded, as Linux does
      for (let level = 2; level <= f.levels; level++) {
        expect(refAmdV1(encodeTable(f, level, 0x9000), level)).toEqual({ kind: 'table', addr: 0x9000n, nextLevel: level - 1 })
      }
    }
  })

  it('map writes NextLevel-7 leaves that decode independently', () => {
    const m2 = new PhysicalMemory({ bytes: 4 << 20 })
    const pt = new PageTable(m2, amdV1Format({ mode: 3 }))
    pt.map(0x10_0000, 0x4_0000_0000, 0x10_0000, IOMMU_READ) // 1M: NextLevel 7 x 256 at level 1
    expect(pt.mappings()).toEqual([{ iova: 0x10_0000, oa: 0x4_0000_0000, sizeLg2: 20, level: 1, perm: Perm.R | Perm.PR | Perm.X | Perm.PX }])
    const l3 = refAmdV1(m2.read64(pt.root), 3)
    expect(l3.kind).toBe('table')
    const l2 = l3.kind === 'table' ? refAmdV1(m2.read64(Number(l3.addr)), 2) : l3
    expect(l2.kind).toBe('table')
    if (l2.kind !== 'table') return
    for (let i = 256; i < 512; i++) {
      expect(refAmdV1(m2.read64(Number(l2.addr) + i * 8), 1)).toMatchObject({ kind: 'leaf', oa: 0x4_0000_0000n, sizeLg2: 20, write: false })
    }
    expect(m2.read64(Number(l2.addr) + 255 * 8)).toBe(0n)
  })
})
