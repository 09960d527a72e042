/**
 * VMSAv8-64 golden tests: tables written from hand-encoded descriptors (bit layouts of
 * reference/hw-formats.md §1.5, i.e. the Arm ARM as paraphrased from io-pgtable-arm.c), walked
 * by our walker; our encoder checked by the independent decoder in helpers.ts; every fault kind.
 */
import { describe, expect, it } from 'vitest'
import {
  FaultKind, IOMMU_CACHE, IOMMU_MMIO, IOMMU_NOEXEC, IOMMU_PRIV, IOMMU_READ, IOMMU_WRITE, PageTable, Perm, PhysicalMemory,
  WalkResult, accessMask, decodeEntry, encodeLeaf, encodeTable, lpaeS1Format, lpaeS2Format, walk,
} from '../src/index.js'
import { put, refLpae } from './helpers.js'

const RW_ALL = Perm.R | Perm.W | Perm.X | Perm.PR | Perm.PW | Perm.PX // 63
const READ = accessMask(false)
const WRITE = accessMask(true)
const EXEC = accessMask(false, true)

describe('VMSAv8-64 stage 1, 4K granule, 48-bit input (levels 0-3)', () => {
  // Tables: L0 0x10000, L1 0x11000, L2 0x12000, L3 0x13000.
  // IOVA 0x80_8060_4123 = L0 index 1 | L1 index 2 | L2 index 3 | L3 index 4 | offset 0x123.
  const mem = new PhysicalMemory({ bytes: 1 << 20 })
  const fmt = lpaeS1Format({ inputBits: 48 })
  put(mem, 0x10008, 0x0000_0000_0001_1003n) // L0[1]: table -> 0x11000 (bits[1:0] = 0b11)
  put(mem, 0x11010, 0x0000_0000_0001_2003n) // L1[2]: table -> 0x12000
  put(mem, 0x12018, 0x0000_0000_0001_3003n) // L2[3]: table -> 0x13000
  // L3[4]: page OA 0x4_5678_9000 | nG(11) AF(10) SH=IS(9:8) AP[1]=unpriv(6) AttrIndx=1(4:2) page(1:0)
  put(mem, 0x13020, 0x0000_0004_5678_9f47n)
  // L2[5]: 2M block OA 0x8000_0000 | AF | AP=0b11 (read-only, unprivileged) | block, UXN+PXN (53,54)
  put(mem, 0x12028, 0x0060_0000_8000_04c1n)
  // L3[16..31]: contiguous run (bit 52) of pages OA 0x20_0000 + j*4K | AF | AP[1] | page
  for (let j = 0; j < 16; j++) put(mem, 0x13000 + (16 + j) * 8, 0x0010_0000_0020_0443n + BigInt(j) * 0x1000n)
  put(mem, 0x13030, 0x0000_0000_0030_0441n) // L3[6]: 0b01 at level 3 is reserved
  put(mem, 0x13038, 0x0000_0000_0030_0043n) // L3[7]: page with AF = 0
  put(mem, 0x13040, 0x0000_0000_0030_0403n) // L3[8]: AP = 0b00: privileged read/write only
  put(mem, 0x13048, 0x0000_0100_0000_0443n) // L3[9]: OA 0x100_0000_0000 (bit 40)
  put(mem, 0x12030, 0x0000_0200_0000_0003n) // L2[6]: table at 0x200_0000_0000 (bit 41)
  put(mem, 0x12038, 0x0000_0000_4000_0003n) // L2[7]: table at 1 GiB, beyond this 1 MiB memory
  put(mem, 0x10018, 0x0000_0000_0000_0401n) // L0[3]: a block at level 0 (not allowed with 4K)
  // L0[2]: table -> 0x14000 with APTable[1] (62, no write below) and UXNTable (60)
  put(mem, 0x10010, 0x5000_0000_0001_4003n)
  put(mem, 0x14000, 0x0000_0000_4000_0441n) // L1[0] below it: 1G block OA 0x4000_0000, RW unpriv
  const out = new WalkResult()

  it('walks a 4K page through four levels', () => {
    expect(walk(mem, fmt, 0x10000, 0x80_8060_4123, READ, out)).toBe(true)
    expect(out.oa).toBe(0x4_5678_9123)
    expect(out.sizeLg2).toBe(12)
    expect(out.perm).toBe(RW_ALL)
    expect(out.level).toBe(3)
    expect(out.stage).toBe(1)
    expect(out.reads).toBe(4)
    expect(out.leafLo >>> 0).toBe(0x5678_9f47)
  })

  it('walks a 2M block: read-only, execute-never', () => {
    expect(walk(mem, fmt, 0x10000, 0x80_80a1_2345, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.perm, out.level]).toEqual([0x8001_2345, 21, Perm.R | Perm.PR, 2])
  })

  it('reports a contiguous-hint run as one 64K translation', () => {
    expect(walk(mem, fmt, 0x10000, 0x80_8061_5077, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2]).toEqual([0x20_5077, 16])
    const noHint = lpaeS1Format({ inputBits: 48, honourContiguous: false })
    expect(walk(mem, noHint, 0x10000, 0x80_8061_5077, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2]).toEqual([0x20_5077, 12])
  })

  it('applies APTable and UXNTable from the table descriptor above the leaf', () => {
    expect(walk(mem, fmt, 0x10000, 0x100_0000_0789, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2]).toEqual([0x4000_0789, 30])
    expect(out.perm).toBe(Perm.R | Perm.PR | Perm.PX)
    const hpd = lpaeS1Format({ inputBits: 48, hierarchicalPermDisable: true })
    expect(walk(mem, hpd, 0x10000, 0x100_0000_0789, WRITE, out)).toBe(true)
    expect(walk(mem, fmt, 0x10000, 0x100_0000_0789, WRITE, out)).toBe(false)
    expect(out.fault).toBe(FaultKind.PERMISSION)
  })

  const faults: Array<[string, number, number, number, number]> = [
    // name, iova, required, fault, level
    ['invalid descriptor', 0x80_8060_5123, READ, FaultKind.TRANSLATION, 3],
    ['0b01 at level 3', 0x80_8060_6000, READ, FaultKind.TRANSLATION, 3],
    ['block at level 0', 0x180_0000_0000, READ, FaultKind.TRANSLATION, 0],
    ['input beyond 2^48', 0x1_0000_0000_0000, READ, FaultKind.TRANSLATION, 0],
    ['AF = 0', 0x80_8060_7000, READ, FaultKind.ACCESS_FLAG, 3],
    ['write to read-only block', 0x80_80a0_0000, WRITE, FaultKind.PERMISSION, 2],
    ['instruction fetch from XN block', 0x80_80a0_0000, EXEC, FaultKind.PERMISSION, 2],
    ['unprivileged read of a privileged page', 0x80_8060_8000, READ, FaultKind.PERMISSION, 3],
    ['table beyond physical memory', 0x80_80e0_0000, READ, FaultKind.WALK_ABORT, 3],
  ]
  for (const [name, iova, req, fault, level] of faults) {
    it(`faults: ${name}`, () => {
      expect(walk(mem, fmt, 0x10000, iova, req, out)).toBe(false)
      expect([out.fault, out.level, out.stage, out.faultAddress, out.duringTableWalk]).toEqual([fault, level, 1, iova, false])
    })
  }

  it('privileged reads of the privileged page succeed', () => {
    expect(walk(mem, fmt, 0x10000, 0x80_8060_8000, accessMask(false, false, true), out)).toBe(true)
    expect(out.perm).toBe(Perm.PR | Perm.PW | Perm.PX | Perm.X)
  })

  it('faults: address size for output and table addresses beyond a 40-bit output size', () => {
    const fmt40 = lpaeS1Format({ inputBits: 48, outputBits: 40 })
    expect(walk(mem, fmt40, 0x10000, 0x80_8060_9000, READ, out)).toBe(false)
    expect([out.fault, out.level]).toEqual([FaultKind.ADDRESS_SIZE, 3])
    expect(walk(mem, fmt40, 0x10000, 0x80_80c0_0000, READ, out)).toBe(false)
    expect([out.fault, out.level]).toEqual([FaultKind.ADDRESS_SIZE, 2])
    expect(walk(mem, fmt40, 0x10000, 0x80_8060_4123, READ, out)).toBe(true)
  })

  it('describes its hardware geometry', () => {
    expect(fmt.hwInfo).toMatchObject({ t0sz: 16, tg0: 0, ips: 5, startLevel: 0 })
    expect(fmt.startLevel).toBe(0)
    expect(fmt.pageSizes).toEqual([2 ** 30, 2 ** 25, 2 ** 21, 2 ** 16, 2 ** 12])
  })
})

describe('VMSAv8-64 stage 1, 64K granule', () => {
  it('walks 3 levels (6 + 13 + 13 index bits) to a page and a 512M block; no 4T block without 52-bit OA', () => {
    const mem = new PhysicalMemory({ bytes: 1 << 20 })
    const fmt = lpaeS1Format({ granule: 65536, inputBits: 48 })
    expect([fmt.levels, fmt.startLevel]).toEqual([3, 1])
    // IOVA 0x400_4003_1234 = L1 index 1 (bit 42) | L2 index 2 (bit 29) | L3 index 3 (bit 16) | 0x1234
    put(mem, 0x20008, 0x0000_0000_0003_0003n) // L1[1] -> L2 table 0x30000
    put(mem, 0x30010, 0x0000_0000_0004_0003n) // L2[2] -> L3 table 0x40000
    put(mem, 0x40018, 0x0000_0000_0007_0443n) // L3[3]: 64K page OA 0x7_0000
    put(mem, 0x30020, 0x0000_0000_2000_0441n) // L2[4]: 512M block OA 0x2000_0000
    put(mem, 0x20010, 0x0000_0000_0000_0441n) // L1[2]: 4T block, reserved without FEAT_LPA
    const out = new WalkResult()
    expect(walk(mem, fmt, 0x20000, 0x400_4003_1234, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.level]).toEqual([0x7_1234, 16, 3])
    expect(walk(mem, fmt, 0x20000, 0x400_8123_4567, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.level]).toEqual([0x2123_4567, 29, 2])
    expect(walk(mem, fmt, 0x20000, 0x800_0000_0000, READ, out)).toBe(false)
    expect([out.fault, out.level]).toEqual([FaultKind.TRANSLATION, 1])
  })

  it('52-bit output: OA[51:48] in descriptor bits [15:12], and 4T blocks at level 1', () => {
    const mem = new PhysicalMemory({ bytes: 1 << 20 })
    const fmt = lpaeS1Format({ granule: 65536, inputBits: 52, outputBits: 52 })
    expect([fmt.levels, fmt.entriesAt(fmt.topLevel)]).toEqual([3, 1024])
    put(mem, 0x50008, 0x0000_0000_0006_0003n) // L1[1] -> L2 0x60000
    put(mem, 0x60000, 0x0000_0000_0007_0003n) // L2[0] -> L3 0x70000
    put(mem, 0x70000, 0x0000_0000_0007_a443n) // L3[0]: OA bits [47:16] = 0x7_0000, [51:48] = 0xa
    put(mem, 0x50010, 0x0000_0400_0000_0441n) // L1[2]: 4T block at 0x400_0000_0000
    const out = new WalkResult()
    expect(walk(mem, fmt, 0x50000, 0x400_0000_1234, READ, out)).toBe(true)
    expect(out.oa).toBe(0xa_0000_0007_1234)
    expect(walk(mem, fmt, 0x50000, 0x805_0000_0000, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.level]).toEqual([0x405_0000_0000, 42, 1])
  })
})

describe('VMSAv8-64 stage 1, 16K granule', () => {
  it('36-bit input uses levels 2-3; a 32M block', () => {
    const mem = new PhysicalMemory({ bytes: 1 << 20 })
    const fmt = lpaeS1Format({ granule: 16384, inputBits: 36 })
    expect([fmt.levels, fmt.startLevel]).toEqual([2, 2])
    put(mem, 0x14018, 0x0000_0002_0000_0441n) // L2[3]: 32M block OA 0x2_0000_0000
    const out = new WalkResult()
    expect(walk(mem, fmt, 0x14000, 0x612_3456, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.level]).toEqual([0x2_0012_3456, 25, 2])
  })

  it('47-bit input starts at level 1 (11 bits), 48-bit at level 0 (1 bit)', () => {
    expect(lpaeS1Format({ granule: 16384, inputBits: 47 }).startLevel).toBe(1)
    const f48 = lpaeS1Format({ granule: 16384, inputBits: 48 })
    expect([f48.startLevel, f48.entriesAt(f48.topLevel)]).toEqual([0, 2])
  })
})

describe('VMSAv8-64 stage 2', () => {
  // 4K granule, 40-bit IPA: Linux starts at level 1 with two concatenated tables (8K root).
  const mem = new PhysicalMemory({ bytes: 1 << 20 })
  const fmt = lpaeS2Format({ inputBits: 40 })
  // IPA 0x80_4000_0678: level-1 index 513 (bits [39:30]) lands in the second concatenated table.
  put(mem, 0x21008, 0x0000_0000_0002_2003n) // L1[513] -> L2 0x22000
  put(mem, 0x22000, 0x0000_0000_0002_3003n) // L2[0] -> L3 0x23000
  // L3[0]: OA 0x1234_5000 | AF | SH=IS | S2AP=0b11 (R,W) | MemAttr=0xF | page
  put(mem, 0x23000, 0x0000_0000_1234_57ffn)
  // L3[1]: S2AP=0b01 (read) | AF | page, XN[1] (bit 54)
  put(mem, 0x23008, 0x0040_0000_0030_0443n)
  put(mem, 0x23010, 0x0000_0000_0040_00c3n) // L3[2]: S2AP=0b11, AF = 0
  const out = new WalkResult()

  it('uses concatenated start-level tables', () => {
    expect(fmt.hwInfo).toMatchObject({ s2t0sz: 24, s2sl0: 1, startLevel: 1, concatenated: 2 })
    expect([fmt.rootBytes, fmt.rootAlignFrames]).toEqual([8192, 2])
    expect(walk(mem, fmt, 0x20000, 0x80_4000_0678, READ, out)).toBe(true)
    expect([out.oa, out.sizeLg2, out.perm, out.stage, out.level]).toEqual([0x1234_5678, 12, RW_ALL, 2, 3])
  })

  it('S2AP and XN', () => {
    expect(walk(mem, fmt, 0x20000, 0x80_4000_1000, READ, out)).toBe(true)
    expect(out.perm).toBe(Perm.R | Perm.PR)
    expect(walk(mem, fmt, 0x20000, 0x80_4000_1000, WRITE, out)).toBe(false)
    expect([out.fault, out.stage, out.level]).toEqual([FaultKind.PERMISSION, 2, 3])
  })

  it('AF = 0 is an access-flag fault unless S2AFFD', () => {
    expect(walk(mem, fmt, 0x20000, 0x80_4000_2000, READ, out)).toBe(false)
    expect([out.fault, out.stage, out.level]).toEqual([FaultKind.ACCESS_FLAG, 2, 3])
    expect(walk(mem, lpaeS2Format({ inputBits: 40, accessFlagFaultDisable: true }), 0x20000, 0x80_4000_2000, READ, out)).toBe(true)
  })

  it('an IPA beyond S2T0SZ is a stage-2 translation fault at the start level', () => {
    expect(walk(mem, fmt, 0x20000, 0x100_0000_0000, READ, out)).toBe(false)
    expect([out.fault, out.stage, out.level]).toEqual([FaultKind.TRANSLATION, 2, 1])
  })

  it('S2SL0 encodings and explicit start levels', () => {
    expect(lpaeS2Format({ inputBits: 48 }).hwInfo).toMatchObject({ s2sl0: 2, startLevel: 0 })
    expect(lpaeS2Format({ inputBits: 48, granule: 65536 }).hwInfo).toMatchObject({ s2sl0: 2, startLevel: 1 })
    expect(lpaeS2Format({ inputBits: 42, granule: 65536 }).hwInfo).toMatchObject({ s2sl0: 1, startLevel: 2 })
    // 34-bit IPA from level 2: 2^(34 - 21) entries = 16 concatenated 4K tables.
    const c16 = lpaeS2Format({ inputBits: 34, startLevel: 2 })
    expect(c16.hwInfo).toMatchObject({ s2sl0: 0, concatenated: 16 })
    expect(c16.rootBytes).toBe(16 * 4096)
    expect(() => lpaeS2Format({ inputBits: 40, startLevel: 2 })).toThrow(/1024 concatenated/)
  })
})

describe('VMSAv8-64 encoder vs an independent decoder', () => {
  const cases = [
    { fmt: lpaeS1Format({ inputBits: 48 }), stage: 1 as const },
    { fmt: lpaeS1Format({ inputBits: 47, granule: 16384 }), stage: 1 as const },
    { fmt: lpaeS1Format({ inputBits: 48, granule: 65536 }), stage: 1 as const },
    { fmt: lpaeS2Format({ inputBits: 40 }), stage: 2 as const },
    { fmt: lpaeS2Format({ inputBits: 48, granule: 65536 }), stage: 2 as const },
  ]
  const prots = [IOMMU_READ, IOMMU_READ | IOMMU_WRITE, IOMMU_READ | IOMMU_NOEXEC, IOMMU_READ | IOMMU_WRITE | IOMMU_PRIV | IOMMU_CACHE, IOMMU_WRITE | IOMMU_MMIO]
  for (const { fmt, stage } of cases) {
    it(`${fmt.name}: every leaf size and prot round-trips`, () => {
      for (let g = 0; g <= fmt.topLevel; g++) {
        if (fmt.lvLeaf[g] !== 1) continue
        const level = fmt.archLevel(g)
        const shift = fmt.lvShift[g]!
        const sizes = [shift, ...(fmt.lvContigLg2[g]! > 0 ? [shift + fmt.lvContigLg2[g]!] : [])]
        for (const sizeLg2 of sizes) {
          for (const prot of prots) {
            const oa = 2 ** sizeLg2 * 3
            const enc = encodeLeaf(fmt, level, oa, sizeLg2, prot)
            expect(enc.count).toBe(2 ** (sizeLg2 - shift))
            enc.values.forEach((v, j) => {
              const d = refLpae(v, level, fmt.granuleLg2, stage)
              expect(d.kind).toBe('leaf')
              if (d.kind !== 'leaf') return
              expect(d.oa).toBe(BigInt(oa))
              expect(d.sizeLg2).toBe(sizeLg2)
              expect(Number((v >> 10n) & 1n)).toBe(1) // AF always set by map
              if (stage === 1) {
                expect(d.write).toBe((prot & IOMMU_WRITE) !== 0)
                expect(d.user).toBe((prot & IOMMU_PRIV) === 0)
                expect(Number((v >> 2n) & 7n)).toBe(prot & IOMMU_MMIO ? 2 : prot & IOMMU_CACHE ? 1 : 0) // AttrIndx
              } else {
                expect([d.read, d.write]).toEqual([(prot & IOMMU_READ) !== 0, (prot & IOMMU_WRITE) !== 0])
                expect(Number((v >> 2n) & 0xfn)).toBe(prot & IOMMU_MMIO ? 0x1 : prot & IOMMU_CACHE ? 0xf : 0x5) // MemAttr
              }
              expect(d.exec).toBe((prot & IOMMU_NOEXEC) === 0)
              // entry j of a contiguous run maps its own part of the run
              expect(v & 0x0000_ffff_ffff_f000n & ~((1n << BigInt(shift)) - 1n)).toBe(BigInt(oa + j * 2 ** shift))
              const ours = decodeEntry(fmt, level, v)
              expect(ours).toMatchObject({ type: 'leaf', address: oa, sizeLg2 })
            })
          }
        }
      }
      for (let g = 1; g <= fmt.topLevel; g++) {
        const t = encodeTable(fmt, fmt.archLevel(g), 0x7654_0000)
        expect(refLpae(t, fmt.archLevel(g), fmt.granuleLg2, stage)).toEqual({ kind: 'table', addr: 0x7654_0000n })
      }
    })
  }

  it('tables built by PageTable decode independently', () => {
    const mem = new PhysicalMemory({ bytes: 4 << 20 })
    const fmt = lpaeS1Format({ inputBits: 48 })
    const pt = new PageTable(mem, fmt)
    pt.map(0x12_3456_7000, 0x9_8765_4000, 0x1000, IOMMU_READ)
    const idx = (l: number): number => Math.floor(0x12_3456_7000 / 2 ** (12 + 9 * (3 - l))) % 512
    let table = BigInt(pt.root)
    for (let l = 0; l < 3; l++) {
      const d = refLpae(mem.read64(Number(table) + idx(l) * 8), l, 12, 1)
      expect(d.kind).toBe('table')
      if (d.kind === 'table') table = d.addr
    }
    const leaf = refLpae(mem.read64(Number(table) + idx(3) * 8), 3, 12, 1)
    expect(leaf).toMatchObject({ kind: 'leaf', oa: 0x9_8765_4000n, sizeLg2: 12, write: false, user: true })
  })
})
