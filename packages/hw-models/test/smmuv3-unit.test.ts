/**
 * The SMMUv3 hardware model programmed by hand (no driver): stream-table and CD decoding with the
 * configuration errors the architecture reports, translation faults and their event records, the
 * queues' pointer protocols, and caches that keep serving until invalidated
 * (reference hw-formats.md §1.1–§1.11; QEMU hw/arm/smmuv3.c decode checks).
 */
import { describe, expect, it } from 'vitest'
import {
  CR0_CMDQEN,
  CR0_EVTQEN,
  CR0_SMMUEN,
  EVT_ID,
  GBPA_ABORT,
  PhysicalMemory,
  SMMU_CMDQ_BASE,
  SMMU_CMDQ_CONS,
  SMMU_CMDQ_PROD,
  SMMU_CR0,
  SMMU_IDR0,
  SMMU_CR0ACK,
  SMMU_EVTQ_BASE,
  SMMU_EVTQ_CONS,
  SMMU_EVTQ_PROD,
  SMMU_GBPA,
  SMMU_GERROR,
  SMMU_STRTAB_BASE,
  SMMU_STRTAB_BASE_CFG,
  SmmuOutcome,
  Smmuv3,
  WalkResult,
} from '../src/index.js'

const MEM = 16 << 20
const STRTAB = 0x10_0000
const CMDQ = 0x20_0000
const EVTQ = 0x21_0000
const CDTAB = 0x30_0000
const S1_L0 = 0x40_0000
const S2_ROOT = 0x50_0000 // 48-bit IPA, 4K: level-0 start
const DATA = 0x60_0000

/** A 48-bit, 4 KiB stage-1 or stage-2 chain mapping `va` → `pa` with hand-encoded descriptors. */
function map4k(mem: PhysicalMemory, root: number, va: number, pa: number, leafAttrs: bigint, tables: number[]): void {
  let table = root
  for (let level = 0; level < 3; level++) {
    const idx = Math.floor(va / 2 ** (39 - 9 * level)) % 512
    const next = tables[level]!
    mem.write64(table + idx * 8, BigInt(next) | 0b11n)
    table = next
  }
  mem.write64(table + (Math.floor(va / 4096) % 512) * 8, BigInt(pa) | leafAttrs | 0b11n)
}
const S1_RW = (1n << 10n) | (3n << 8n) | (1n << 6n) | (1n << 2n) // AF, SH inner, AP unpriv RW, AttrIndx 1
const S1_RO = S1_RW | (1n << 7n)
const S2_RW = (1n << 10n) | (3n << 8n) | (3n << 6n) | (0xfn << 2n) // AF, SH, S2AP RW, MemAttr WB

function smmu(opts: { linear?: boolean; httu?: 0 | 1 | 2 } = {}) {
  const mem = new PhysicalMemory({ bytes: MEM })
  const hw = new Smmuv3(mem, { sidBits: 8, ...(opts.httu === undefined ? {} : { httu: opts.httu }) })
  hw.writeReg64(SMMU_STRTAB_BASE, BigInt(STRTAB))
  hw.writeReg(SMMU_STRTAB_BASE_CFG, opts.linear === false ? (1 << 16) | (4 << 6) | 8 : 8) // linear, 256 STEs
  hw.writeReg64(SMMU_CMDQ_BASE, BigInt(CMDQ) | 4n) // 16 entries
  hw.writeReg64(SMMU_EVTQ_BASE, BigInt(EVTQ) | 2n) // 4 entries
  hw.writeReg(SMMU_CR0, CR0_CMDQEN | CR0_EVTQEN | CR0_SMMUEN)
  let prod = 0
  const command = (q0: bigint, q1 = 0n) => {
    mem.write64(CMDQ + (prod & 15) * 16, q0)
    mem.write64(CMDQ + (prod & 15) * 16 + 8, q1)
    prod = (prod + 1) & 31
    hw.writeReg(SMMU_CMDQ_PROD, prod)
  }
  const ste = (sid: number, words: bigint[]) => {
    for (let i = 0; i < 8; i++) mem.write64(STRTAB + sid * 64 + i * 8, words[i] ?? 0n)
    command(0x03n | (BigInt(sid) << 32n), 1n) // CFGI_STE
  }
  const out = new WalkResult()
  const events = () => {
    const list: bigint[][] = []
    let cons = hw.readReg(SMMU_EVTQ_CONS)
    const prodE = hw.readReg(SMMU_EVTQ_PROD)
    while ((cons & 7) !== (prodE & 7)) {
      const pa = EVTQ + (cons & 3) * 32
      list.push([0, 1, 2, 3].map((i) => mem.read64(pa + i * 8)))
      cons = (cons + 1) & 7
    }
    hw.writeReg(SMMU_EVTQ_CONS, cons | (prodE & 0x8000_0000))
    return list
  }
  return { mem, hw, command, ste, out, events }
}

// STE builders, hand-encoded from the field table (§1.3).
const V = 1n
const cfg = (c: number) => BigInt(c) << 1n
const s2Words = (vmid: number) => (BigInt(vmid) | (16n << 32n) | (2n << 38n) | (1n << 40n) | (1n << 42n) | (3n << 44n) | (5n << 48n) | (1n << 51n) | (1n << 58n))
const cd = (asid: number, ttb0: number) => [
  16n | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 30n) | (1n << 31n) | (5n << 32n) | (1n << 41n) | (1n << 45n) | (1n << 46n) | (1n << 47n) | (BigInt(asid) << 48n),
  BigInt(ttb0),
  0n,
  0xf404ff44n,
]

describe('SMMUv3 unit: enabling, bypass and abort', () => {
  it('CR0 writes are acknowledged in CR0ACK; with SMMUEN = 0 traffic bypasses, or aborts per GBPA.ABORT', () => {
    const { hw, out } = smmu()
    expect(hw.readReg(SMMU_CR0ACK)).toBe(hw.readReg(SMMU_CR0))
    hw.writeReg(SMMU_CR0, 0)
    expect(hw.translate(1, -1, 0x1234, false, out)).toBe(SmmuOutcome.OK)
    expect(out.oa).toBe(0x1234)
    hw.writeReg(SMMU_GBPA, GBPA_ABORT)
    expect(hw.translate(1, -1, 0x1234, false, out)).toBe(SmmuOutcome.ABORT)
  })
  it('STE Config = bypass passes the address through; Config = abort terminates without an event', () => {
    const s = smmu()
    s.ste(1, [V | cfg(4)])
    expect(s.hw.translate(1, -1, 0xabc000, true, s.out)).toBe(SmmuOutcome.OK)
    expect(s.out.oa).toBe(0xabc000)
    s.ste(2, [V | cfg(0)])
    expect(s.hw.translate(2, -1, 0, false, s.out)).toBe(SmmuOutcome.ABORT)
    expect(s.events()).toEqual([])
  })
})

describe('SMMUv3 unit: configuration errors become events (§1.11)', () => {
  it('a StreamID beyond the stream table → C_BAD_STREAMID, with the StreamID and input address', () => {
    const s = smmu()
    expect(s.hw.translate(300, -1, 0x5000, false, s.out)).toBe(EVT_ID.C_BAD_STREAMID)
    const [e] = s.events()
    expect(Number(e![0]! & 0xffn)).toBe(EVT_ID.C_BAD_STREAMID)
    expect(Number(e![0]! >> 32n)).toBe(300)
    expect(e![2]).toBe(0x5000n)
    expect(Number((e![1]! >> 35n) & 1n)).toBe(1) // RnW = read
  })
  it('V = 0, a reserved Config, or bad stage-2 fields → C_BAD_STE', () => {
    const s = smmu()
    s.ste(3, [0n])
    s.ste(4, [V | cfg(2)])
    s.ste(5, [V | cfg(6), 0n, s2Words(1) & ~(1n << 51n), BigInt(S2_ROOT)]) // S2AA64 = 0
    s.ste(6, [V | cfg(6), 0n, (s2Words(1) & ~(3n << 38n)) | (3n << 38n), BigInt(S2_ROOT)]) // SL0 = 3
    s.ste(7, [V | cfg(6), 0n, s2Words(1), BigInt(S2_ROOT + 0x10)]) // S2TTB not aligned to the table size
    for (const sid of [3, 4, 5, 6, 7]) expect(s.hw.translate(sid, -1, 0, false, s.out)).toBe(EVT_ID.C_BAD_STE)
    expect(s.events().map((e) => Number(e[0]! & 0xffn))).toEqual([4, 4, 4, 4])
    expect(s.hw.stats.eventsLost).toBe(1) // a 4-entry queue: the fifth event overflowed
  })
  it('SubstreamIDs: SSV with S1CDMax = 0 or beyond 2^S1CDMax → C_BAD_SUBSTREAMID; none with S1DSS = terminate (or reserved 0b11) → F_STREAM_DISABLED (SMMUv3 §5.2)', () => {
    const s = smmu()
    s.ste(8, [V | cfg(5) | BigInt(CDTAB)])
    expect(s.hw.translate(8, 1, 0, false, s.out)).toBe(EVT_ID.C_BAD_SUBSTREAMID)
    s.ste(9, [V | cfg(5) | BigInt(CDTAB) | (2n << 59n), 0n]) // 4 CDs, S1DSS = terminate
    expect(s.hw.translate(9, 4, 0, false, s.out)).toBe(EVT_ID.C_BAD_SUBSTREAMID)
    expect(s.hw.translate(9, -1, 0, false, s.out)).toBe(EVT_ID.F_STREAM_DISABLED)
    s.ste(10, [V | cfg(5) | BigInt(CDTAB) | (2n << 59n), 3n]) // S1DSS = 0b11 (reserved)
    expect(s.hw.translate(10, -1, 0, false, s.out)).toBe(EVT_ID.F_STREAM_DISABLED)
    const ev = s.events()
    expect(ev.map((e) => Number(e[0]! & 0xffn))).toEqual([0x08, 0x08, 0x06, 0x06])
    expect(Number((ev[0]![0]! >> 11n) & 1n)).toBe(1) // SSV
    expect(Number((ev[0]![0]! >> 12n) & 0xfffffn)).toBe(1)
    expect(Number((ev[2]![0]! >> 11n) & 1n)).toBe(0) // no SubstreamID
  })
  it('a SubstreamID on a bypass STE is terminated with C_BAD_SUBSTREAMID (SMMUv3 §3.3.2: SubstreamIDs need stage 1)', () => {
    const s = smmu()
    s.ste(11, [V | cfg(4)])
    expect(s.hw.translate(11, 0, 0, false, s.out)).toBe(EVT_ID.C_BAD_SUBSTREAMID)
    expect(s.hw.translate(11, -1, 0x1234, false, s.out)).toBe(SmmuOutcome.OK)
    expect(s.events().map((e) => Number(e[0]! & 0xffn))).toEqual([0x08])
  })
  it('S1DSS = SSID0: no-substream traffic uses CD 0 and SubstreamID 0 is illegal (C_BAD_SUBSTREAMID)', () => {
    const s = smmu()
    cd(1, S1_L0).forEach((w, i) => s.mem.write64(CDTAB + i * 8, w))
    s.ste(12, [V | cfg(5) | BigInt(CDTAB) | (2n << 59n), 2n])
    expect(s.hw.translate(12, 0, 0, false, s.out)).toBe(EVT_ID.C_BAD_SUBSTREAMID)
    expect(s.hw.translate(12, -1, 0, false, s.out)).not.toBe(EVT_ID.C_BAD_SUBSTREAMID)
  })
  it('2-level CD tables: S1Fmt = 1 has 4 KiB leaves of 64 CDs, S1Fmt = 2 64 KiB leaves of 1024 (SMMUv3 STE.S1Fmt)', () => {
    const s = smmu()
    const L1 = 0x31_0000
    const LEAF = 0x32_0000
    s.mem.write64(L1 + 8, BigInt(LEAF) | 1n) // L1 descriptor 1: V, L2PTR
    map4k(s.mem, S1_L0, 0, DATA, S1_RW, [0x41_0000, 0x42_0000, 0x43_0000])
    cd(1, S1_L0).forEach((w, i) => s.mem.write64(LEAF + 1 * 64 + i * 8, w)) // slot 1 of that leaf
    const S1FMT = (f: bigint) => f << 4n
    s.ste(13, [V | cfg(5) | S1FMT(1n) | BigInt(L1) | (10n << 59n), 2n])
    expect(s.hw.translate(13, 65, 0, false, s.out)).toBe(SmmuOutcome.OK) // 65 = leaf 1, slot 1
    expect(s.out.oa).toBe(DATA)
    s.ste(14, [V | cfg(5) | S1FMT(2n) | BigInt(L1) | (11n << 59n), 2n])
    expect(s.hw.translate(14, 1025, 0, false, s.out)).toBe(SmmuOutcome.OK) // 1025 = leaf 1, slot 1
    expect(s.hw.translate(14, 65, 0, false, s.out)).toBe(EVT_ID.C_BAD_CD) // leaf 0 is not valid
  })
  it('a configuration that faulted is not cached: fixing the STE in memory takes effect without CFGI (QEMU smmuv3_get_config caches only decoded configs)', () => {
    const s = smmu()
    s.ste(15, [0n]) // V = 0
    expect(s.hw.translate(15, -1, 0x2000, false, s.out)).toBe(EVT_ID.C_BAD_STE)
    s.mem.write64(STRTAB + 15 * 64, V | cfg(4)) // bypass, no CFGI_STE
    expect(s.hw.translate(15, -1, 0x2000, false, s.out)).toBe(SmmuOutcome.OK)
    expect(s.out.oa).toBe(0x2000)
  })
  it('an invalid CD (V = 0 or AA64 = 0) → C_BAD_CD', () => {
    const s = smmu()
    const words = cd(1, S1_L0)
    words[0] = words[0]! & ~(1n << 31n)
    words.forEach((w, i) => s.mem.write64(CDTAB + i * 8, w))
    s.ste(10, [V | cfg(5) | BigInt(CDTAB)])
    expect(s.hw.translate(10, -1, 0, false, s.out)).toBe(EVT_ID.C_BAD_CD)
  })
})

describe('SMMUv3 unit: HTTU (IDR0.HTTU, CD.HA / CD.HD)', () => {
  const HA_HD = (1n << 43n) | (1n << 42n)
  const DBM = 1n << 51n
  const setup = (httu: 0 | 1 | 2, leaf: bigint) => {
    const s = smmu({ httu })
    map4k(s.mem, S1_L0, 0x1000, DATA, leaf, [0x41_0000, 0x42_0000, 0x43_0000])
    const words = cd(1, S1_L0)
    words[0] = words[0]! | HA_HD
    words.forEach((w, i) => s.mem.write64(CDTAB + i * 8, w))
    s.ste(20, [V | cfg(5) | BigInt(CDTAB)])
    const leafPa = 0x43_0000 + 8
    return { ...s, leafPa }
  }
  it('IDR0.HTTU reports the option; a CD asking for HA / HD the SMMU lacks is C_BAD_CD', () => {
    expect((smmu().hw.readReg(SMMU_IDR0) >>> 6) & 3).toBe(2)
    const s = setup(0, S1_RW)
    expect((s.hw.readReg(SMMU_IDR0) >>> 6) & 3).toBe(0)
    expect(s.hw.translate(20, -1, 0x1000, false, s.out)).toBe(EVT_ID.C_BAD_CD)
  })
  it('HD: a write to a writable-clean leaf (DBM = 1, AP[2] = 1) clears AP[2] in memory instead of faulting; a read leaves it clean', () => {
    const s = setup(2, S1_RO | DBM)
    expect(s.hw.translate(20, -1, 0x1000, false, s.out)).toBe(SmmuOutcome.OK)
    expect(s.mem.read64(s.leafPa) & (1n << 7n)).toBe(1n << 7n) // still clean, and cached read-only
    expect(s.hw.translate(20, -1, 0x1008, true, s.out)).toBe(SmmuOutcome.OK) // the cached entry denies: re-walk marks it dirty
    expect(s.out.oa).toBe(DATA + 8)
    expect(s.mem.read64(s.leafPa) & (1n << 7n)).toBe(0n)
    expect(s.events()).toEqual([])
  })
  it('HD without DBM: a write to a read-only leaf is still F_PERMISSION', () => {
    const s = setup(2, S1_RO)
    expect(s.hw.translate(20, -1, 0x1000, true, s.out)).toBe(EVT_ID.F_PERMISSION)
  })
  it('HA: an AF = 0 leaf gets AF set by the walk instead of F_ACCESS', () => {
    const s = setup(1, S1_RW & ~(1n << 10n))
    // HTTU = 1 has no dirty state: the CD above asks for HD too, so drop it.
    s.mem.write64(CDTAB, s.mem.read64(CDTAB) & ~(1n << 42n))
    s.command(0x05n | (20n << 32n), 1n) // CFGI_CD
    expect(s.hw.translate(20, -1, 0x1000, false, s.out)).toBe(SmmuOutcome.OK)
    expect(s.mem.read64(s.leafPa) & (1n << 10n)).toBe(1n << 10n)
  })
})

describe('SMMUv3 unit: translation faults (§1.5, §1.11)', () => {
  function s1World() {
    const s = smmu()
    cd(7, S1_L0).forEach((w, i) => s.mem.write64(CDTAB + i * 8, w))
    map4k(s.mem, S1_L0, 0x1000_0000, DATA, S1_RW, [S1_L0 + 0x1000, S1_L0 + 0x2000, S1_L0 + 0x3000])
    map4k(s.mem, S1_L0, 0x1000_1000, DATA + 0x1000, S1_RO, [S1_L0 + 0x1000, S1_L0 + 0x2000, S1_L0 + 0x3000])
    s.ste(11, [V | cfg(5) | BigInt(CDTAB), 0n, 0n, 0n])
    return s
  }
  it('stage 1 translates through hand-written tables (4 levels)', () => {
    const s = s1World()
    expect(s.hw.translate(11, -1, 0x1000_0abc, true, s.out)).toBe(SmmuOutcome.OK)
    expect(s.out.oa).toBe(DATA + 0xabc)
    expect(s.out.sizeLg2).toBe(12)
  })
  it('unmapped → F_TRANSLATION; write to read-only → F_PERMISSION; AF = 0 → F_ACCESS (CD.R records them)', () => {
    const s = s1World()
    expect(s.hw.translate(11, -1, 0x2000_0000, false, s.out)).toBe(EVT_ID.F_TRANSLATION)
    expect(s.hw.translate(11, -1, 0x1000_1000, true, s.out)).toBe(EVT_ID.F_PERMISSION)
    expect(s.hw.translate(11, -1, 0x1000_1000, false, s.out)).toBe(SmmuOutcome.OK)
    const l3 = S1_L0 + 0x3000 + (Math.floor(0x1000_2000 / 4096) % 512) * 8
    s.mem.write64(l3, BigInt(DATA + 0x2000) | (S1_RW & ~(1n << 10n)) | 0b11n)
    expect(s.hw.translate(11, -1, 0x1000_2000, false, s.out)).toBe(EVT_ID.F_ACCESS)
    const ev = s.events()
    expect(ev.map((e) => Number(e[0]! & 0xffn))).toEqual([0x10, 0x13, 0x12])
    expect(Number((ev[1]![1]! >> 35n) & 1n)).toBe(0) // RnW = write
    expect(Number((ev[0]![1]! >> 39n) & 1n)).toBe(0) // stage 1
  })
  it('the IOTLB serves a cleared PTE until TLBI_NH_VA for the ASID; TLBI of another ASID does not help', () => {
    const s = s1World()
    expect(s.hw.translate(11, -1, 0x1000_0000, false, s.out)).toBe(SmmuOutcome.OK)
    s.mem.write64(S1_L0 + 0x3000 + (Math.floor(0x1000_0000 / 4096) % 512) * 8, 0n)
    expect(s.hw.translate(11, -1, 0x1000_0000, false, s.out)).toBe(SmmuOutcome.OK) // stale
    s.command(0x12n | (8n << 48n), 0x1000_0000n | 1n) // NH_VA, ASID 8
    expect(s.hw.translate(11, -1, 0x1000_0000, false, s.out)).toBe(SmmuOutcome.OK)
    s.command(0x12n | (7n << 48n), 0x1000_0000n | 1n) // NH_VA, ASID 7
    expect(s.hw.translate(11, -1, 0x1000_0000, false, s.out)).toBe(EVT_ID.F_TRANSLATION)
  })
  it('the STE is cached: changing it in memory has no effect until CFGI_STE', () => {
    const s = s1World()
    expect(s.hw.translate(11, -1, 0x1000_0000, false, s.out)).toBe(SmmuOutcome.OK)
    s.mem.write64(STRTAB + 11 * 64, V | cfg(0)) // abort, without CFGI
    expect(s.hw.translate(11, -1, 0x1000_0000, false, s.out)).toBe(SmmuOutcome.OK)
    s.command(0x03n | (11n << 32n), 1n)
    expect(s.hw.translate(11, -1, 0x1000_0000, false, s.out)).toBe(SmmuOutcome.ABORT)
  })
  it('nested: the CD and every stage-1 table are IPAs; a stage-2 hole under a stage-1 table → F_TRANSLATION, S2 = 1, CLASS = TT', () => {
    const s = smmu()
    // Stage 2 identity-maps the IPAs the guest uses, except the stage-1 level-2 table.
    // One level-3 table per 2 MiB region of IPA space.
    const s2t = (ipa: number) => [S2_ROOT + 0x1000, S2_ROOT + 0x2000, S2_ROOT + 0x3000 + Math.floor(ipa / (2 << 20)) * 0x1000]
    for (const ipa of [CDTAB, S1_L0, S1_L0 + 0x1000, S1_L0 + 0x3000, DATA]) map4k(s.mem, S2_ROOT, ipa, ipa, S2_RW, s2t(ipa))
    cd(3, S1_L0).forEach((w, i) => s.mem.write64(CDTAB + i * 8, w))
    map4k(s.mem, S1_L0, 0x7000, DATA, S1_RW, [S1_L0 + 0x1000, S1_L0 + 0x2000, S1_L0 + 0x3000])
    s.ste(12, [V | cfg(7) | BigInt(CDTAB), 0n, s2Words(5), BigInt(S2_ROOT)])
    expect(s.hw.translate(12, -1, 0x7000, false, s.out)).toBe(EVT_ID.F_TRANSLATION)
    const [e] = s.events()
    expect(Number((e![1]! >> 39n) & 1n)).toBe(1) // S2
    expect(Number((e![1]! >> 40n) & 3n)).toBe(1) // CLASS = TT
    expect((e![3]! >> 12n) << 12n).toBe(BigInt(S1_L0 + 0x2000)) // IPA of the stage-1 table
    map4k(s.mem, S2_ROOT, S1_L0 + 0x2000, S1_L0 + 0x2000, S2_RW, s2t(S1_L0))
    s.command(0x28n | (5n << 32n)) // TLBI_S12_VMALL(5): nothing cached anyway
    expect(s.hw.translate(12, -1, 0x7000, false, s.out)).toBe(SmmuOutcome.OK)
    expect(s.out.oa).toBe(DATA)
  })
})

describe('SMMUv3 unit: the queues (§1.1)', () => {
  it('CONS follows PROD with wrap bits; an unknown opcode stops the queue with CONS.ERR = ILL and toggles GERROR', () => {
    const s = smmu()
    for (let i = 0; i < 20; i++) s.command(0x46n) // CMD_SYNC ×20 through a 16-entry ring
    expect(s.hw.readReg(SMMU_CMDQ_CONS)).toBe(s.hw.readReg(SMMU_CMDQ_PROD))
    expect(s.hw.stats.syncs).toBe(20)
    s.command(0x55n)
    expect((s.hw.readReg(SMMU_CMDQ_CONS) >>> 24) & 0x7f).toBe(1)
    expect(s.hw.readReg(SMMU_GERROR) & 1).toBe(1)
  })
  it('a full event queue flags overflow in EVTQ_PROD bit 31 and drops the event', () => {
    const s = smmu()
    for (let i = 0; i < 5; i++) s.hw.translate(255, -1, i * 4096, false, s.out)
    expect(s.hw.readReg(SMMU_EVTQ_PROD) >>> 31).toBe(1)
    // A second loss before software acknowledges leaves OVFLG as it is (it toggles only while it
    // equals CONS.OVACKFLG), so the overflow stays visible.
    s.hw.translate(255, -1, 5 * 4096, false, s.out)
    expect(s.hw.readReg(SMMU_EVTQ_PROD) >>> 31).toBe(1)
    expect(s.hw.stats.eventsLost).toBe(2)
    expect(s.events().length).toBe(4)
  })
})
