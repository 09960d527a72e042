/**
 * An ARM SMMUv3 unit: the register file, stream table and context-descriptor decoding with their
 * configuration caches, the command queue (consumed when PROD is written), the event queue, a
 * tagged IOTLB, and `translate()` for StreamID + SubstreamID + IOVA, faults included.
 * Facts: reference hw-formats.md §1; QEMU hw/arm/smmuv3.c and smmu-common.c for the decode
 * checks. Our own model; nothing here is copied.
 */
import { PhysicalMemory } from '../memory/physical-memory.js'
import { ANY_TAG, FaultKind, Origin, Perm, accessMask } from '../pgtable/constants.js'
import type { PageTableFormat } from '../pgtable/format.js'
import { lpaeS1Format, lpaeS2Format, lpaeS2StartLevel, type LpaeGranule } from '../pgtable/lpae.js'
import { Iotlb, type IotlbOptions } from '../iotlb/iotlb.js'
import { TranslationContext, translate } from '../iotlb/translate.js'
import { WalkResult } from '../walk/result.js'
import { walk } from '../walk/walk.js'
import * as R from './regs.js'
import * as S from './structures.js'

export interface Smmuv3Options {
  /** IDR1.SIDSIZE: StreamID bits (default 16). */
  readonly sidBits?: number
  /** IDR1.SSIDSIZE: SubstreamID bits (default 20). */
  readonly ssidBits?: number
  readonly stage1?: boolean
  readonly stage2?: boolean
  /** IDR0.ST_LEVEL = 2-level stream tables (default true). */
  readonly twoLevelStreamTable?: boolean
  /** IDR0.CD2L (default true). */
  readonly twoLevelCdTable?: boolean
  readonly asid16?: boolean
  readonly vmid16?: boolean
  /** IDR3.RIL: range invalidation (default true). */
  readonly rangeInvalidation?: boolean
  /** IDR3.FWB: STE.S2FWB is honoured (default true). Linux needs it (or CANWBS) for a vIOMMU. */
  readonly s2fwb?: boolean
  /** IDR0.ATS (default true). */
  readonly ats?: boolean
  /** IDR0.HTTU: 0 none, 1 hardware Access flag update, 2 Access flag and dirty state (default 2). */
  readonly httu?: 0 | 1 | 2
  /** IDR5.OAS in bits (default 48). */
  readonly oasBits?: number
  readonly granules?: readonly LpaeGranule[]
  /** IDR1.CMDQS / EVTQS: largest queues (log2 entries; default 19). */
  readonly cmdqLog2?: number
  readonly evtqLog2?: number
  readonly iotlb?: IotlbOptions
  readonly iidr?: number
  readonly aidr?: number
}

/** The outcome of `translate` besides the WalkResult: 0 = translated, else why not. */
export const SmmuOutcome = {
  OK: 0,
  /** Aborted without an event (STE abort, GBPA abort, unrecorded fault). */
  ABORT: -1,
} as const

interface DecodedSte {
  readonly config: number
  readonly vmid: number
  readonly s1ContextPtr: number
  readonly s1CdMax: number
  readonly s1Fmt: number
  readonly s1Dss: number
  /** Stage 2 (config 6 or 7): format and root, S2R. */
  readonly s2: { readonly format: PageTableFormat; readonly root: number; readonly record: boolean } | null
}

/** What one (SID, SSID) translates with, derived from the STE and CD and cached until CFGI. */
interface StreamContext {
  readonly kind: 'abort' | 'bypass' | 'translate'
  readonly ctx: TranslationContext | null
  /** CD.R: stage-1 faults are recorded. */
  readonly recordS1: boolean
  /** STE.S2R: stage-2 faults are recorded. */
  readonly recordS2: boolean
}

/** A configuration error found while decoding, with the event that reports it. */
class ConfigFault {
  constructor(
    readonly eventId: number,
    /** Stage-2 fault on a CD fetch (nested): class CD, with the IPA. */
    readonly s2Fetch: { kind: number; ipa: number; record: boolean } | null = null,
  ) {}
}

const MAX_SID_STES_LINEAR = 1 << 24
const TG_GRANULE: Record<number, LpaeGranule> = { [S.TG_4K]: 4096, [S.TG_64K]: 65536, [S.TG_16K]: 16384 }
const CMD_TG_GRANULE = [0, 4096, 16384, 65536] as const

/**
 * Everything another thread needs to run this unit over the same shared memory: the register
 * file, the IOTLB and the control words, plus the construction options. Plain data (SABs).
 */
export interface Smmuv3SharedState {
  readonly kind: 'smmuv3'
  readonly regs: SharedArrayBuffer
  readonly iotlb: SharedArrayBuffer
  readonly control: SharedArrayBuffer
  readonly options: Smmuv3Options
}

/** Control words (Int32) shared by every view of a unit. */
const CTL_GATE = 0 // 1 while the command queue is being consumed: new translation batches wait
const CTL_IN_FLIGHT = 1 // translation batches running on other threads
const CTL_CONFIG_GEN = 2 // bumped by every configuration-cache invalidation
const CTL_WORDS = 4

export interface Smmuv3Stats {
  commands: number
  syncs: number
  commandErrors: number
  events: number
  eventsLost: number
  steDecodes: number
  cdDecodes: number
}

export class Smmuv3 {
  /** The register file (little-endian u32 words over a SharedArrayBuffer). */
  readonly regs: Uint32Array
  readonly iotlb: Iotlb
  readonly sidBits: number
  readonly ssidBits: number
  readonly stats: Smmuv3Stats = { commands: 0, syncs: 0, commandErrors: 0, events: 0, eventsLost: 0, steDecodes: 0, cdDecodes: 0 }
  /** Every command consumed, as [Q0, Q1] (enable with `logCommands`; tests read the sequence). */
  readonly commandLog: [bigint, bigint][] = []
  logCommands = false
  /** The wired interrupt: called after an event is written or a command error raised. */
  onInterrupt: (() => void) | undefined

  private readonly stes = new Map<number, DecodedSte | ConfigFault>()
  private readonly contexts = new Map<number, StreamContext | ConfigFault>()
  /** Shared control words: batch gate, batches in flight, configuration generation. */
  readonly control: Int32Array
  /** The configuration generation this view's caches were built at. */
  private seenGen = 0
  /** One-entry cache in front of `contexts`: consecutive translations of one stream skip the Map. */
  private lastSid = -1
  private lastSsid = -2
  private lastCtx: StreamContext | ConfigFault | undefined
  private readonly sharedOptions: Smmuv3Options
  private readonly opts: Required<Omit<Smmuv3Options, 'iotlb' | 'granules'>> & { granules: readonly LpaeGranule[] }
  private readonly scratch = new WalkResult()

  constructor(
    readonly mem: PhysicalMemory,
    options: Smmuv3Options = {},
    /** Attach to a unit created elsewhere (another thread's view of the same hardware). */
    shared?: Smmuv3SharedState,
  ) {
    this.sharedOptions = options
    this.opts = {
      sidBits: options.sidBits ?? 16,
      ssidBits: options.ssidBits ?? 20,
      stage1: options.stage1 ?? true,
      stage2: options.stage2 ?? true,
      twoLevelStreamTable: options.twoLevelStreamTable ?? true,
      twoLevelCdTable: options.twoLevelCdTable ?? true,
      asid16: options.asid16 ?? true,
      vmid16: options.vmid16 ?? true,
      rangeInvalidation: options.rangeInvalidation ?? true,
      s2fwb: options.s2fwb ?? true,
      ats: options.ats ?? true,
      httu: options.httu ?? 2,
      oasBits: options.oasBits ?? 48,
      granules: options.granules ?? [4096, 16384, 65536],
      cmdqLog2: options.cmdqLog2 ?? 19,
      evtqLog2: options.evtqLog2 ?? 19,
      iidr: options.iidr ?? 0x0000_043b, // implementer ARM
      aidr: options.aidr ?? 0x2, // SMMUv3.2
    }
    this.sidBits = this.opts.sidBits
    this.ssidBits = this.opts.ssidBits
    if (shared !== undefined) {
      this.regs = new Uint32Array(shared.regs)
      this.iotlb = Iotlb.attach(shared.iotlb)
      this.control = new Int32Array(shared.control)
      this.seenGen = Atomics.load(this.control, CTL_CONFIG_GEN)
      return
    }
    this.regs = new Uint32Array(new SharedArrayBuffer(R.SMMU_REG_BYTES))
    this.iotlb = new Iotlb(options.iotlb ?? { capacity: 2048, ways: 8 })
    this.control = new Int32Array(new SharedArrayBuffer(CTL_WORDS * 4))
    const o = this.opts
    let idr0 = R.IDR0_TTF_AARCH64 | R.IDR0_COHACC | R.IDR0_MSI | R.IDR0_SEV | R.IDR0_TTENDIAN_LE
    if (o.stage2) idr0 |= R.IDR0_S2P
    if (o.stage1) idr0 |= R.IDR0_S1P
    if (o.ats) idr0 |= R.IDR0_ATS
    idr0 |= o.httu << R.IDR0_HTTU_SHIFT
    if (o.asid16) idr0 |= R.IDR0_ASID16
    if (o.vmid16) idr0 |= R.IDR0_VMID16
    if (o.twoLevelCdTable) idr0 |= R.IDR0_CD2L
    if (o.twoLevelStreamTable) idr0 |= R.IDR0_ST_LVL_2LVL
    this.set(R.SMMU_IDR0, idr0)
    this.set(R.SMMU_IDR1, (o.sidBits << R.IDR1_SIDSIZE_SHIFT) | (o.ssidBits << R.IDR1_SSIDSIZE_SHIFT) | (o.evtqLog2 << R.IDR1_EVTQS_SHIFT) | (o.cmdqLog2 << R.IDR1_CMDQS_SHIFT))
    this.set(R.SMMU_IDR3, (o.rangeInvalidation ? R.IDR3_RIL : 0) | (o.s2fwb ? R.IDR3_FWB : 0))
    let idr5 = R.oasEncoding(o.oasBits)
    if (o.granules.includes(4096)) idr5 |= R.IDR5_GRAN4K
    if (o.granules.includes(16384)) idr5 |= R.IDR5_GRAN16K
    if (o.granules.includes(65536)) idr5 |= R.IDR5_GRAN64K
    this.set(R.SMMU_IDR5, idr5)
    this.set(R.SMMU_IIDR, o.iidr)
    this.set(R.SMMU_AIDR, o.aidr)
  }

  /** The unit as plain shared data, to rebuild it on another thread with `Smmuv3.attach`. */
  share(): Smmuv3SharedState {
    return { kind: 'smmuv3', regs: this.regs.buffer as SharedArrayBuffer, iotlb: this.iotlb.buffer, control: this.control.buffer as SharedArrayBuffer, options: this.sharedOptions }
  }

  static attach(mem: PhysicalMemory, shared: Smmuv3SharedState): Smmuv3 {
    return new Smmuv3(mem, shared.options, shared)
  }

  // ---- cross-thread coherence ---------------------------------------------------------------

  /**
   * Called by a thread before it translates a batch for this unit: waits while the command queue
   * is being consumed, counts the batch in flight, and drops this view's configuration caches if
   * a CFGI happened since they were built. Pair with `endBatch`.
   */
  beginBatch(): void {
    const ctl = this.control
    for (;;) {
      while (Atomics.load(ctl, CTL_GATE) !== 0) Atomics.wait(ctl, CTL_GATE, 1, 100)
      Atomics.add(ctl, CTL_IN_FLIGHT, 1)
      if (Atomics.load(ctl, CTL_GATE) === 0) break
      this.endBatch() // the gate closed meanwhile: step back and wait
    }
    const gen = Atomics.load(ctl, CTL_CONFIG_GEN)
    if (gen !== this.seenGen) {
      this.stes.clear()
      this.contexts.clear()
      this.forgetLastContext()
      this.seenGen = gen
    }
  }

  endBatch(): void {
    if (Atomics.sub(this.control, CTL_IN_FLIGHT, 1) === 1) Atomics.notify(this.control, CTL_IN_FLIGHT)
  }

  /**
   * Closes the gate and waits until no batch is in flight on another thread, so that cache
   * invalidations have a single writer and take effect before CMD_SYNC completes (DESIGN §5).
   */
  private quiesce(): void {
    const ctl = this.control
    Atomics.store(ctl, CTL_GATE, 1)
    for (let n = Atomics.load(ctl, CTL_IN_FLIGHT); n !== 0; n = Atomics.load(ctl, CTL_IN_FLIGHT)) Atomics.wait(ctl, CTL_IN_FLIGHT, n, 100)
  }

  private reopen(): void {
    Atomics.store(this.control, CTL_GATE, 0)
    Atomics.notify(this.control, CTL_GATE)
  }

  private bumpConfigGen(): void {
    this.forgetLastContext()
    Atomics.add(this.control, CTL_CONFIG_GEN, 1)
    this.seenGen = Atomics.load(this.control, CTL_CONFIG_GEN)
  }

  private set(off: number, v: number): void {
    this.regs[off >>> 2] = v >>> 0
  }
  private get(off: number): number {
    return this.regs[off >>> 2]!
  }

  get options(): Readonly<typeof this.opts> {
    return this.opts
  }

  // ---- MMIO ---------------------------------------------------------------------------------

  readReg(offset: number): number {
    const off = offset >= R.SMMU_PAGE1 ? offset - R.SMMU_PAGE1 : offset
    if (off < 0 || off >= R.SMMU_REG_BYTES || (off & 3) !== 0) throw new RangeError(`SMMUv3: no register at 0x${offset.toString(16)}`)
    return this.get(off)
  }

  /** 64-bit register read (STRTAB_BASE, CMDQ_BASE, EVTQ_BASE). */
  readReg64(offset: number): bigint {
    return BigInt(this.readReg(offset)) | (BigInt(this.readReg(offset + 4)) << 32n)
  }

  writeReg(offset: number, value: number): void {
    const off = offset >= R.SMMU_PAGE1 ? offset - R.SMMU_PAGE1 : offset
    const v = value >>> 0
    switch (off) {
      case R.SMMU_CR0:
        this.set(R.SMMU_CR0, v)
        this.set(R.SMMU_CR0ACK, v)
        if ((v & R.CR0_SMMUEN) === 0) this.invalidateConfig()
        return
      case R.SMMU_CR1:
      case R.SMMU_CR2:
      case R.SMMU_STRTAB_BASE:
      case R.SMMU_STRTAB_BASE + 4:
      case R.SMMU_STRTAB_BASE_CFG:
      case R.SMMU_CMDQ_BASE:
      case R.SMMU_CMDQ_BASE + 4:
      case R.SMMU_EVTQ_BASE:
      case R.SMMU_EVTQ_BASE + 4:
      case R.SMMU_EVTQ_CONS:
        this.set(off, v)
        return
      case R.SMMU_GBPA:
        this.set(R.SMMU_GBPA, v & ~R.GBPA_UPDATE) // the update completes at once
        return
      case R.SMMU_GERRORN:
        this.set(R.SMMU_GERRORN, v)
        return
      case R.SMMU_CMDQ_CONS:
        if ((this.get(R.SMMU_CR0) & R.CR0_CMDQEN) === 0) this.set(R.SMMU_CMDQ_CONS, v)
        return
      case R.SMMU_CMDQ_PROD:
        this.set(R.SMMU_CMDQ_PROD, v)
        this.consumeCommands()
        return
      case R.SMMU_EVTQ_PROD:
        if ((this.get(R.SMMU_CR0) & R.CR0_EVTQEN) === 0) this.set(R.SMMU_EVTQ_PROD, v)
        return
      default:
        throw new RangeError(`SMMUv3: register 0x${offset.toString(16)} is not writable`)
    }
  }

  writeReg64(offset: number, value: bigint): void {
    this.writeReg(offset, Number(value & 0xffff_ffffn))
    this.writeReg(offset + 4, Number((value >> 32n) & 0xffff_ffffn))
  }

  // ---- command queue -------------------------------------------------------------------------

  private queue(baseReg: number): { base: number; log2: number } {
    const base = this.readReg64(baseReg)
    return { base: Number(base & 0x000f_ffff_ffff_ffe0n), log2: Number(base & BigInt(R.Q_BASE_LOG2SIZE_MASK)) }
  }

  /** Consumes commands from CONS to PROD, with translation batches on other threads drained. */
  private consumeCommands(): void {
    if ((this.get(R.SMMU_CR0) & R.CR0_CMDQEN) === 0) return
    this.quiesce()
    try {
      this.consumeQuiesced()
    } finally {
      this.reopen()
    }
  }

  /** An illegal command stops the queue with CONS.ERR. */
  private consumeQuiesced(): void {
    // A pending CMDQ error (GERROR ≠ GERRORN) halts the queue until acknowledged.
    if (((this.get(R.SMMU_GERROR) ^ this.get(R.SMMU_GERRORN)) & R.GERROR_CMDQ_ERR) !== 0) return
    const { base, log2 } = this.queue(R.SMMU_CMDQ_BASE)
    let cons = this.get(R.SMMU_CMDQ_CONS) & ~R.CMDQ_CONS_ERR_MASK
    const prod = this.get(R.SMMU_CMDQ_PROD)
    while (!R.qEmpty(prod, cons, log2)) {
      const pa = base + R.qIndex(cons, log2) * S.CMD_SIZE
      const err = this.execute(pa)
      if (err !== R.CMDQ_ERR_NONE) {
        this.stats.commandErrors++
        this.set(R.SMMU_CMDQ_CONS, (cons | (err << R.CMDQ_CONS_ERR_SHIFT)) >>> 0)
        this.set(R.SMMU_GERROR, this.get(R.SMMU_GERROR) ^ R.GERROR_CMDQ_ERR)
        this.onInterrupt?.()
        return
      }
      cons = R.qInc(cons, log2)
    }
    this.set(R.SMMU_CMDQ_CONS, cons)
  }

  /** Executes one 16-byte command; returns a CMDQ_CONS.ERR code. */
  private execute(pa: number): number {
    if (!this.mem.contains(pa, S.CMD_SIZE)) return R.CMDQ_ERR_ABT
    const u32 = this.mem.u32
    const i = pa >>> 2
    const q0lo = u32[i]!
    const q0hi = u32[i + 1]!
    const q1lo = u32[i + 2]!
    const q1hi = u32[i + 3]!
    this.stats.commands++
    if (this.logCommands) this.commandLog.push([(BigInt(q0hi) << 32n) | BigInt(q0lo), (BigInt(q1hi) << 32n) | BigInt(q1lo)])
    const op = q0lo & 0xff
    const sid = q0hi
    const vmid = this.opts.vmid16 ? q0hi & 0xffff : q0hi & 0xff
    const asid = this.opts.asid16 ? q0hi >>> 16 : (q0hi >>> 16) & 0xff
    const sidValid = sid < 2 ** this.opts.sidBits
    switch (op) {
      case S.CMDQ_OP.PREFETCH_CONFIG:
      case S.CMDQ_OP.PREFETCH_ADDR:
        return sidValid ? R.CMDQ_ERR_NONE : R.CMDQ_ERR_ILL
      case S.CMDQ_OP.CFGI_STE:
        if (!sidValid) return R.CMDQ_ERR_ILL
        this.invalidateSid(sid, 1)
        return R.CMDQ_ERR_NONE
      case S.CMDQ_OP.CFGI_STE_RANGE: {
        const range = q1lo & 0x1f
        if (range === S.CFGI_RANGE_ALL) {
          this.invalidateConfig()
          return R.CMDQ_ERR_NONE
        }
        const span = 2 ** (range + 1)
        this.invalidateSid(Math.floor(sid / span) * span, span)
        return R.CMDQ_ERR_NONE
      }
      case S.CMDQ_OP.CFGI_CD: {
        if (!sidValid) return R.CMDQ_ERR_ILL
        // CMD_CFGI_CD names a CD index (SSID [31:12]); CD 0 also serves no-substream traffic.
        const ssid = q0lo >>> 12
        this.bumpConfigGen()
        this.contexts.delete(this.contextKey(sid, ssid))
        if (ssid === 0) this.contexts.delete(this.contextKey(sid, -1))
        return R.CMDQ_ERR_NONE
      }
      case S.CMDQ_OP.CFGI_CD_ALL:
        if (!sidValid) return R.CMDQ_ERR_ILL
        this.invalidateContexts(sid)
        return R.CMDQ_ERR_NONE
      case S.CMDQ_OP.TLBI_NH_ALL:
        this.iotlb.invalidateTag(vmid, ANY_TAG, Origin.S1 | Origin.NESTED)
        return R.CMDQ_ERR_NONE
      case S.CMDQ_OP.TLBI_NH_ASID:
        this.iotlb.invalidateTag(vmid, asid, Origin.S1 | Origin.NESTED)
        return R.CMDQ_ERR_NONE
      case S.CMDQ_OP.TLBI_NH_VA:
      case S.CMDQ_OP.TLBI_NH_VAA:
      case S.CMDQ_OP.TLBI_S2_IPA: {
        const range = this.commandRange(q0lo, q1lo, q1hi, op === S.CMDQ_OP.TLBI_S2_IPA)
        if (range === null) return R.CMDQ_ERR_ILL
        if (op === S.CMDQ_OP.TLBI_S2_IPA) this.iotlb.invalidateRange(vmid, ANY_TAG, range[0], range[1], Origin.S2)
        else this.iotlb.invalidateRange(vmid, op === S.CMDQ_OP.TLBI_NH_VA ? asid : ANY_TAG, range[0], range[1], Origin.S1 | Origin.NESTED)
        return R.CMDQ_ERR_NONE
      }
      case S.CMDQ_OP.TLBI_S12_VMALL:
        this.iotlb.invalidateTag(vmid, ANY_TAG, Origin.ALL)
        return R.CMDQ_ERR_NONE
      case S.CMDQ_OP.TLBI_NSNH_ALL:
        this.iotlb.invalidateAll()
        return R.CMDQ_ERR_NONE
      case S.CMDQ_OP.TLBI_EL2_ALL:
      case S.CMDQ_OP.TLBI_EL2_ASID:
      case S.CMDQ_OP.TLBI_EL2_VA:
      case S.CMDQ_OP.TLBI_EL2_VAA:
      case S.CMDQ_OP.TLBI_EL3_ALL:
      case S.CMDQ_OP.TLBI_EL3_VA:
        return R.CMDQ_ERR_NONE // no EL2/EL3 translation regimes in this model: nothing cached
      case S.CMDQ_OP.ATC_INV:
        // Endpoint ATCs are not modelled (devices here do not cache translations).
        return sidValid ? R.CMDQ_ERR_NONE : R.CMDQ_ERR_ILL
      case S.CMDQ_OP.PRI_RESP:
      case S.CMDQ_OP.RESUME:
      case S.CMDQ_OP.STALL_TERM:
        return sidValid ? R.CMDQ_ERR_NONE : R.CMDQ_ERR_ILL
      case S.CMDQ_OP.CMD_SYNC: {
        this.stats.syncs++
        const cs = (q0lo >>> 12) & 3
        const msiAddr = (q1hi & 0xf_ffff) * 2 ** 32 + ((q1lo & ~3) >>> 0) // MSIADDR [51:2]
        if (cs === S.CMD_SYNC_CS_IRQ && msiAddr !== 0 && this.mem.contains(msiAddr, 4)) this.mem.write32(msiAddr, q0hi)
        return R.CMDQ_ERR_NONE
      }
      default:
        return R.CMDQ_ERR_ILL
    }
  }

  /** [start, length] of a TLBI address command (range form with TG ≠ 0 needs RIL). */
  private commandRange(q0lo: number, q1lo: number, q1hi: number, ipa: boolean): [number, number] | null {
    const tg = (q1lo >>> 10) & 3
    let addr = q1hi * 2 ** 32 + ((q1lo & ~0xfff) >>> 0)
    if (ipa) addr = addr % 2 ** 52
    if (tg === 0) return [addr, 1]
    if (!this.opts.rangeInvalidation) return null
    const num = (q0lo >>> 12) & 0x1f
    const scale = (q0lo >>> 20) & 0x1f
    const granule = CMD_TG_GRANULE[tg]!
    return [addr, (num + 1) * 2 ** scale * granule]
  }

  // ---- configuration caches --------------------------------------------------------------

  private contextKey(sid: number, ssid: number): number {
    return sid * 2 ** 21 + (ssid + 1)
  }

  private invalidateSid(first: number, count: number): void {
    this.bumpConfigGen()
    for (const sid of [...this.stes.keys()]) if (sid >= first && sid < first + count) this.stes.delete(sid)
    for (const key of [...this.contexts.keys()]) {
      const sid = Math.floor(key / 2 ** 21)
      if (sid >= first && sid < first + count) this.contexts.delete(key)
    }
  }

  private invalidateContexts(sid: number): void {
    this.bumpConfigGen()
    for (const key of [...this.contexts.keys()]) if (Math.floor(key / 2 ** 21) === sid) this.contexts.delete(key)
  }

  private invalidateConfig(): void {
    this.bumpConfigGen()
    this.stes.clear()
    this.contexts.clear()
  }

  /** Unserviced events: EVTQ PROD ≠ CONS (the interrupt line is asserted). */
  get interruptPending(): boolean {
    return ((this.get(R.SMMU_EVTQ_PROD) ^ this.get(R.SMMU_EVTQ_CONS)) & ~R.Q_OVERFLOW_FLAG) !== 0
  }

  private readWords(pa: number, n: number): bigint[] | null {
    if (!this.mem.contains(pa, n * 8)) return null
    return S.readWords(this.mem.u8, pa, n)
  }

  /** Finds and decodes the STE of `sid` (linear or two-level stream table). */
  private decodeSte(sid: number): DecodedSte | ConfigFault {
    this.stats.steDecodes++
    if (sid >= 2 ** this.opts.sidBits) return new ConfigFault(S.EVT_ID.C_BAD_STREAMID)
    const base = Number(this.readReg64(R.SMMU_STRTAB_BASE) & 0x000f_ffff_ffff_ffc0n)
    const cfg = this.get(R.SMMU_STRTAB_BASE_CFG)
    const log2 = cfg & R.STRTAB_CFG_LOG2SIZE_MASK
    const fmt = (cfg >>> R.STRTAB_CFG_FMT_SHIFT) & 3
    if (sid >= 2 ** log2) return new ConfigFault(S.EVT_ID.C_BAD_STREAMID)
    let stePa: number
    if (fmt === R.STRTAB_FMT_2LVL && this.opts.twoLevelStreamTable) {
      const split = (cfg >>> R.STRTAB_CFG_SPLIT_SHIFT) & 0x1f
      const l1 = this.readWords(base + Math.floor(sid / 2 ** split) * S.STRTAB_L1_DESC_SIZE, 1)
      if (l1 === null) return new ConfigFault(S.EVT_ID.F_STE_FETCH)
      const span = Number(S.getField(l1, S.STRTAB_L1.SPAN))
      const idx = sid % 2 ** split
      if (span === 0 || idx >= 2 ** (span - 1)) return new ConfigFault(S.EVT_ID.C_BAD_STREAMID)
      stePa = Number(S.getField(l1, S.STRTAB_L1.L2PTR) << 6n) + idx * S.STE_SIZE
    } else if (fmt === R.STRTAB_FMT_LINEAR) {
      if (sid >= MAX_SID_STES_LINEAR) return new ConfigFault(S.EVT_ID.C_BAD_STREAMID)
      stePa = base + sid * S.STE_SIZE
    } else {
      return new ConfigFault(S.EVT_ID.C_BAD_STREAMID)
    }
    const w = this.readWords(stePa, 4)
    if (w === null) return new ConfigFault(S.EVT_ID.F_STE_FETCH)
    if (S.getField(w, S.STE.V) === 0n) return new ConfigFault(S.EVT_ID.C_BAD_STE)
    const config = Number(S.getField(w, S.STE.CONFIG))
    if (config !== S.STE_CFG_ABORT && config < S.STE_CFG_BYPASS) return new ConfigFault(S.EVT_ID.C_BAD_STE)
    const wantS1 = config === S.STE_CFG_S1_TRANS || config === S.STE_CFG_NESTED
    const wantS2 = config === S.STE_CFG_S2_TRANS || config === S.STE_CFG_NESTED
    if ((wantS1 && !this.opts.stage1) || (wantS2 && !this.opts.stage2)) return new ConfigFault(S.EVT_ID.C_BAD_STE)
    const vmid = Number(S.getField(w, S.STE.S2VMID)) & (this.opts.vmid16 ? 0xffff : 0xff)
    let s2: DecodedSte['s2'] = null
    if (wantS2) {
      const decoded = this.decodeS2(w)
      if (decoded === null) return new ConfigFault(S.EVT_ID.C_BAD_STE)
      s2 = decoded
    }
    const s1CdMax = Number(S.getField(w, S.STE.S1CDMAX))
    const s1Fmt = Number(S.getField(w, S.STE.S1FMT))
    if (wantS1 && (s1CdMax > this.opts.ssidBits || s1Fmt === 3 || (s1Fmt !== 0 && !this.opts.twoLevelCdTable))) return new ConfigFault(S.EVT_ID.C_BAD_STE)
    return {
      config,
      vmid,
      s1ContextPtr: Number(S.getField(w, S.STE.S1CTXPTR) << 6n),
      s1CdMax,
      s1Fmt,
      s1Dss: Number(S.getField(w, S.STE.S1DSS)),
      s2,
    }
  }

  /** Stage-2 fields of an STE → format and root, or null if illegal (C_BAD_STE). */
  private decodeS2(w: readonly bigint[]): DecodedSte['s2'] {
    if (S.getField(w, S.STE.S2AA64) !== 1n || S.getField(w, S.STE.S2ENDI) !== 0n || S.getField(w, S.STE.S2S) !== 0n) return null
    const granule = TG_GRANULE[Number(S.getField(w, S.STE.S2TG))]
    if (granule === undefined || !this.opts.granules.includes(granule)) return null
    const t0sz = Number(S.getField(w, S.STE.S2T0SZ))
    const inputBits = 64 - t0sz
    const psEnc = Number(S.getField(w, S.STE.S2PS))
    const psBits = R.OAS_BITS[Math.min(psEnc, R.oasEncoding(this.opts.oasBits))]
    if (psBits === undefined) return null
    const outputBits = granule === 65536 ? psBits : Math.min(psBits, 48)
    if (inputBits < 25 || inputBits > outputBits || inputBits > 48) return null
    const sl0 = Number(S.getField(w, S.STE.S2SL0))
    if (sl0 === 3) return null
    const startLevel = lpaeS2StartLevel(granule, sl0)
    // Concatenated start-level tables: 1 to 16, as QEMU checks.
    const G = Math.log2(granule)
    const shift = G + (3 - startLevel) * (G - 3)
    const tables = 2 ** Math.max(0, inputBits - shift - (G - 3))
    if (startLevel < 0 || shift > inputBits + (G - 3) || tables > 16) return null
    const root = Number(S.getField(w, S.STE.S2TTB) << 4n)
    if (root % (tables * granule) !== 0 || root >= 2 ** outputBits) return null
    let format: PageTableFormat
    try {
      format = lpaeS2Format({ granule, inputBits, outputBits, startLevel, accessFlagFaultDisable: S.getField(w, S.STE.S2AFFD) === 1n })
    } catch {
      return null
    }
    return { format, root, record: S.getField(w, S.STE.S2R) === 1n }
  }

  private steFor(sid: number): DecodedSte | ConfigFault {
    let ste = this.stes.get(sid)
    if (ste === undefined) {
      ste = this.decodeSte(sid)
      // Only configurations that decode are cached, as QEMU's smmuv3_get_config does: an entry
      // that faulted (bad STE, fetch abort) is read again next time.
      if (!(ste instanceof ConfigFault)) this.stes.set(sid, ste)
    }
    return ste
  }

  /** The translation context of (sid, ssid); ssid −1 = no substream. */
  private contextFor(sid: number, ssid: number): StreamContext | ConfigFault {
    if (sid === this.lastSid && ssid === this.lastSsid && this.lastCtx !== undefined) return this.lastCtx
    const key = this.contextKey(sid, ssid)
    let c = this.contexts.get(key)
    if (c === undefined) {
      c = this.buildContext(sid, ssid)
      if (c instanceof ConfigFault) return c // not cached (see steFor)
      this.contexts.set(key, c)
    }
    this.lastSid = sid
    this.lastSsid = ssid
    this.lastCtx = c
    return c
  }

  private forgetLastContext(): void {
    this.lastSid = -1
    this.lastCtx = undefined
  }

  private buildContext(sid: number, ssid: number): StreamContext | ConfigFault {
    const ste = this.steFor(sid)
    if (ste instanceof ConfigFault) return ste
    const recordS2 = ste.s2?.record ?? false
    // STE.Config = abort: the transaction is terminated, no event is recorded.
    if (ste.config === S.STE_CFG_ABORT) return { kind: 'abort', ctx: null, recordS1: false, recordS2: false }
    // A SubstreamID without stage 1 is terminated with C_BAD_SUBSTREAMID (SMMUv3 §3.3.2).
    if (ste.config === S.STE_CFG_BYPASS) return ssid >= 0 ? new ConfigFault(S.EVT_ID.C_BAD_SUBSTREAMID) : { kind: 'bypass', ctx: null, recordS1: false, recordS2: false }
    if (ste.config === S.STE_CFG_S2_TRANS) {
      if (ssid >= 0) return new ConfigFault(S.EVT_ID.C_BAD_SUBSTREAMID)
      const s2 = ste.s2!
      return { kind: 'translate', ctx: new TranslationContext(this.mem, { format: s2.format, root: s2.root, tagA: ste.vmid, tagB: 0 }), recordS1: false, recordS2 }
    }
    // Stage 1 (config 5 or 7): pick the CD.
    let cdIndex = ssid
    if (ssid < 0) {
      if (ste.s1CdMax !== 0) {
        if (ste.s1Dss === S.STE_S1DSS_BYPASS) {
          if (ste.s2 === null) return { kind: 'bypass', ctx: null, recordS1: false, recordS2: false }
          return { kind: 'translate', ctx: new TranslationContext(this.mem, { format: ste.s2.format, root: ste.s2.root, tagA: ste.vmid, tagB: 0 }), recordS1: false, recordS2 }
        }
        // S1DSS terminate (and reserved 0b11, which behaves as terminate): no-substream traffic
        // is aborted with F_STREAM_DISABLED (SMMUv3 §5.2 STE.S1DSS).
        if (ste.s1Dss !== S.STE_S1DSS_SSID0) return new ConfigFault(S.EVT_ID.F_STREAM_DISABLED)
      }
      cdIndex = 0
    } else if (ste.s1CdMax === 0 || ssid >= 2 ** ste.s1CdMax || (ssid === 0 && ste.s1Dss === S.STE_S1DSS_SSID0)) {
      // With S1DSS = SSID0, CD 0 belongs to no-substream traffic and SubstreamID 0 is illegal.
      return new ConfigFault(S.EVT_ID.C_BAD_SUBSTREAMID)
    }
    const cd = this.fetchCd(ste, cdIndex)
    if (cd instanceof ConfigFault) return cd
    return this.contextFromCd(ste, cd, recordS2)
  }

  /** Reads CD `index` of the STE's CD table, translating IPAs through stage 2 when nested. */
  private fetchCd(ste: DecodedSte, index: number): bigint[] | ConfigFault {
    this.stats.cdDecodes++
    const nested = ste.config === S.STE_CFG_NESTED
    const toPa = (ipa: number): number | ConfigFault => {
      if (!nested) return ipa
      const r = this.scratch
      if (!walk(this.mem, ste.s2!.format, ste.s2!.root, ipa, Perm.R, r)) {
        // The stage-2 fault's own event (F_TRANSLATION / F_PERMISSION / ...), recorded per STE.S2R.
        return new ConfigFault(FAULT_EVENT[r.fault] ?? S.EVT_ID.F_TRANSLATION, { kind: r.fault, ipa, record: ste.s2!.record })
      }
      return r.oa
    }
    let cdAddr: number
    if (ste.s1Fmt === S.STE_S1FMT_LINEAR) {
      cdAddr = ste.s1ContextPtr + index * S.CD_SIZE
    } else {
      // S1Fmt 1: 4 KiB leaf tables of 64 CDs; S1Fmt 2: 64 KiB leaf tables of 1024 CDs.
      const leafEntries = ste.s1Fmt === S.STE_S1FMT_64K_L2 ? S.CD_L2_ENTRIES : 4096 / S.CD_SIZE
      const l1Addr = toPa(ste.s1ContextPtr + Math.floor(index / leafEntries) * S.CD_L1_DESC_SIZE)
      if (l1Addr instanceof ConfigFault) return l1Addr
      const l1 = this.readWords(l1Addr, 1)
      if (l1 === null) return new ConfigFault(S.EVT_ID.F_CD_FETCH)
      if (S.getField(l1, S.CD_L1.V) === 0n) return new ConfigFault(S.EVT_ID.C_BAD_CD)
      cdAddr = Number(S.getField(l1, S.CD_L1.L2PTR) << 12n) + (index % leafEntries) * S.CD_SIZE
    }
    const pa = toPa(cdAddr)
    if (pa instanceof ConfigFault) return pa
    const w = this.readWords(pa, 4)
    return w ?? new ConfigFault(S.EVT_ID.F_CD_FETCH)
  }

  private contextFromCd(ste: DecodedSte, cd: readonly bigint[], recordS2: boolean): StreamContext | ConfigFault {
    const f = (field: S.Field): number => Number(S.getField(cd, field))
    // HA / HD need IDR0.HTTU support (else the CD is treated as ILLEGAL here).
    const ha = f(S.CD.HA) === 1
    const hd = f(S.CD.HD) === 1
    if (f(S.CD.V) === 0 || f(S.CD.AA64) === 0 || f(S.CD.ENDI) === 1 || f(S.CD.S) === 1 || (ha && this.opts.httu < 1) || (hd && this.opts.httu < 2)) {
      return new ConfigFault(S.EVT_ID.C_BAD_CD)
    }
    const granule = TG_GRANULE[f(S.CD.TG0)]
    const inputBits = 64 - f(S.CD.T0SZ)
    if (granule === undefined || !this.opts.granules.includes(granule) || inputBits < 25 || inputBits > 48) return new ConfigFault(S.EVT_ID.C_BAD_CD)
    const ips = R.OAS_BITS[Math.min(f(S.CD.IPS), R.oasEncoding(this.opts.oasBits))]!
    const recordS1 = f(S.CD.R) === 1
    const asid = f(S.CD.ASID) & (this.opts.asid16 ? 0xffff : 0xff)
    let format: PageTableFormat
    try {
      format = lpaeS1Format({ granule, inputBits, outputBits: Math.min(ips, 48), accessFlagFaultDisable: f(S.CD.AFFD) === 1, hierarchicalPermDisable: f(S.CD.HAD0) === 1, hardwareAccessFlag: ha, hardwareDirty: hd })
    } catch {
      return new ConfigFault(S.EVT_ID.C_BAD_CD)
    }
    if (f(S.CD.EPD0) === 1) {
      // TTB0 walks disabled: every translation faults (F_TRANSLATION), still a valid CD.
      return { kind: 'translate', ctx: null, recordS1, recordS2 }
    }
    const root = Number(S.getField(cd, S.CD.TTB0) << 4n)
    const s2 = ste.config === S.STE_CFG_NESTED ? { format: ste.s2!.format, root: ste.s2!.root } : undefined
    const ctx = new TranslationContext(this.mem, { format, root, tagA: ste.vmid, tagB: asid, ...(s2 === undefined ? {} : { stage2: s2 }) })
    return { kind: 'translate', ctx, recordS1, recordS2 }
  }

  // ---- translation --------------------------------------------------------------------------

  /**
   * Translates one access of StreamID `sid` (SubstreamID `ssid`, or −1 for none). On success
   * returns SmmuOutcome.OK with `out.oa` / `out.sizeLg2` / `out.perm`; otherwise the event ID that
   * was recorded in the EVTQ (if recording is on for that fault) or SmmuOutcome.ABORT.
   */
  translate(sid: number, ssid: number, iova: number, write: boolean, out: WalkResult): number {
    const cr0 = this.regs[R.SMMU_CR0 >>> 2]!
    if ((cr0 & R.CR0_SMMUEN) === 0) {
      if ((this.regs[R.SMMU_GBPA >>> 2]! & R.GBPA_ABORT) !== 0) return SmmuOutcome.ABORT
      out.clear()
      out.oa = iova
      out.sizeLg2 = 12
      out.perm = Perm.ALL
      return SmmuOutcome.OK
    }
    const c = this.contextFor(sid, ssid)
    if (c instanceof ConfigFault) {
      out.clear()
      out.fault = FaultKind.TRANSLATION
      if (c.s2Fetch !== null) {
        // Stage-2 fault while fetching a CD of a nested stream (class CD).
        if (c.s2Fetch.record) this.recordTranslationFault(sid, ssid, iova, write, c.eventId, true, S.EVT_CLASS_CD, c.s2Fetch.ipa)
        return c.eventId
      }
      this.recordEvent(this.configEvent(c.eventId, sid, ssid, iova, write))
      return c.eventId
    }
    if (c.kind === 'abort') {
      out.clear()
      return SmmuOutcome.ABORT
    }
    if (c.kind === 'bypass') {
      out.clear()
      out.oa = iova
      out.sizeLg2 = 12
      out.perm = Perm.ALL
      return SmmuOutcome.OK
    }
    if (c.ctx === null) {
      out.clear()
      out.fault = FaultKind.TRANSLATION
      out.stage = 1
      out.faultAddress = iova
      if (!c.recordS1) return SmmuOutcome.ABORT
      this.recordTranslationFault(sid, ssid, iova, write, S.EVT_ID.F_TRANSLATION, false, S.EVT_CLASS_IN, 0)
      return S.EVT_ID.F_TRANSLATION
    }
    if (translate(this.iotlb, c.ctx, iova, accessMask(write), out)) return SmmuOutcome.OK
    const s2 = out.stage === 2
    if (s2 ? !c.recordS2 : !c.recordS1) return SmmuOutcome.ABORT
    const id = FAULT_EVENT[out.fault] ?? S.EVT_ID.F_TRANSLATION
    this.recordTranslationFault(sid, ssid, iova, write, id, s2, s2 && out.duringTableWalk ? S.EVT_CLASS_TT : S.EVT_CLASS_IN, s2 ? out.faultAddress : 0)
    return id
  }

  private configEvent(id: number, sid: number, ssid: number, iova: number, write: boolean): bigint[] {
    const w = [0n, 0n, 0n, 0n]
    S.setField(w, S.EVT.ID, id)
    S.setField(w, S.EVT.SID, sid)
    if (ssid >= 0) {
      S.setField(w, S.EVT.SSV, 1)
      S.setField(w, S.EVT.SSID, ssid)
    }
    S.setField(w, S.EVT.RNW, write ? 0 : 1)
    S.setField(w, S.EVT.INPUT_ADDR, BigInt(iova))
    return w
  }

  private recordTranslationFault(sid: number, ssid: number, iova: number, write: boolean, id: number, s2: boolean, cls: number, ipa: number): void {
    const w = this.configEvent(id, sid, ssid, iova, write)
    if (s2) S.setField(w, S.EVT.S2, 1)
    S.setField(w, S.EVT.CLASS, cls)
    if (s2) S.setField(w, S.EVT.IPA, BigInt(Math.floor(ipa / 4096)))
    this.recordEvent(w)
  }

  /** Writes a 32-byte record at EVTQ PROD (or flags overflow when full) and interrupts. */
  private recordEvent(words: readonly bigint[]): void {
    if ((this.get(R.SMMU_CR0) & R.CR0_EVTQEN) === 0) return
    const { base, log2 } = this.queue(R.SMMU_EVTQ_BASE)
    const prod = this.get(R.SMMU_EVTQ_PROD)
    const cons = this.get(R.SMMU_EVTQ_CONS)
    if (R.qFull(prod, cons, log2)) {
      this.stats.eventsLost++
      // Overflow: PROD.OVFLG toggles only when it equals CONS.OVACKFLG (no overflow pending), so
      // that it differs from it until software acknowledges; further losses leave it alone.
      if (((prod ^ cons) & R.Q_OVERFLOW_FLAG) === 0) this.set(R.SMMU_EVTQ_PROD, (prod ^ R.Q_OVERFLOW_FLAG) >>> 0)
      this.onInterrupt?.()
      return
    }
    const pa = base + R.qIndex(prod, log2) * S.EVT_SIZE
    if (!this.mem.contains(pa, S.EVT_SIZE)) {
      this.set(R.SMMU_GERROR, this.get(R.SMMU_GERROR) ^ R.GERROR_EVTQ_ABT)
      return
    }
    this.mem.write(pa, S.wordsToBytes(words))
    this.set(R.SMMU_EVTQ_PROD, R.qInc(prod, log2))
    this.stats.events++
    this.onInterrupt?.()
  }
}

const FAULT_EVENT: Record<number, number> = {
  [FaultKind.TRANSLATION]: S.EVT_ID.F_TRANSLATION,
  [FaultKind.RESERVED]: S.EVT_ID.F_TRANSLATION,
  [FaultKind.PERMISSION]: S.EVT_ID.F_PERMISSION,
  [FaultKind.ADDRESS_SIZE]: S.EVT_ID.F_ADDR_SIZE,
  [FaultKind.ACCESS_FLAG]: S.EVT_ID.F_ACCESS,
  [FaultKind.WALK_ABORT]: S.EVT_ID.F_WALK_EABT,
}
