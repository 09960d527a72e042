/**
 * One SMMUv3 instance as Linux's arm-smmu-v3 drives it: probe from the ID registers, stream
 * table / queues / enable, masters (StreamIDs), ASID and VMID allocation, STE and CD installs
 * with CFGI + CMD_SYNC, the event-queue interrupt handler that forwards guest events, and the
 * iommufd entry points (hw_info, paging / nested domains, vIOMMU).
 */
import {
  DmaFault,
  IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
  IOMMU_HWPT_ALLOC_NEST_PARENT,
  IOMMU_HWPT_ALLOC_PASID,
  IOMMU_HW_INFO_TYPE_ARM_SMMUV3,
  IOMMU_HW_INFO_TYPE_DEFAULT,
  IOMMU_VIOMMU_TYPE_ARM_SMMUV3,
  fail,
  type Device,
  type DmaFaultReason,
  type HostServices,
  type IommuCap,
  type IommuDomain,
  type IommuUnit,
  type ResvRegion,
  type Translation,
  type UserData,
  type Viommu,
} from '@iommu-sim/core'
import {
  CR0_CMDQEN,
  CR0_EVTQEN,
  CR0_SMMUEN,
  EVT_ID,
  EVT_SIZE,
  FaultKind,
  IDR0_S1P,
  IDR0_S2P,
  IDR0_ST_LVL_2LVL,
  IDR0_CD2L,
  IDR0_HTTU_SHIFT,
  STE_S1DSS_SSID0,
  STE_S1DSS_TERMINATE,
  IDR3_FWB,
  IDR3_RIL,
  OAS_BITS,
  PhysicalMemoryError,
  Q_OVERFLOW_FLAG,
  SMMU_CR0,
  SMMU_CMDQ_BASE,
  SMMU_CMDQ_CONS,
  SMMU_CMDQ_PROD,
  SMMU_EVTQ_BASE,
  SMMU_EVTQ_CONS,
  SMMU_EVTQ_PROD,
  SMMU_IDR0,
  SMMU_IDR1,
  SMMU_IDR3,
  SMMU_IDR5,
  SMMU_IIDR,
  SMMU_AIDR,
  SMMU_STRTAB_BASE,
  SMMU_STRTAB_BASE_CFG,
  STE_SIZE,
  STRTAB_CFG_FMT_SHIFT,
  STRTAB_CFG_SPLIT_SHIFT,
  SmmuOutcome,
  Smmuv3,
  WalkResult,
  qInc,
  qIndex,
  readWords,
  wordsToBytes,
  type PhysicalMemory,
  type Smmuv3Options,
} from '@iommu-sim/hw-models'
import { cmd } from './commands.js'
import { CommandQueue } from './cmdq.js'
import { IdAllocator } from './ids.js'
import { abortSte, cdTableSte, s1Cd, type Ste } from './ste.js'
import { CdTable } from './cd-table.js'
import { CD_ENTRY, STE_ENTRY, writeEntry } from './entry-writer.js'
import { Smmuv3BlockedDomain } from './domains/blocked.js'
import { Smmuv3PagingDomain } from './domains/paging.js'
import { Vsmmu, initVsmmu, vsmmuOps, VEVENT_FORWARDED } from './viommu.js'

/** Linux STRTAB_SPLIT: 256 STEs (one PCI bus) per level-2 table. */
const STRTAB_SPLIT = 8
const CMDQ_LOG2 = 8
const EVTQ_LOG2 = 7
/** IOVAs the model translates as JS numbers; anything above is an address-size fault. */
const MAX_SAFE_IOVA = 1n << 53n
/** `struct iommu_hw_info_arm_smmuv3` is 40 bytes. */
export const HW_INFO_ARM_SMMUV3_SIZE = 40
/** IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 */
export const VEVENTQ_TYPE_ARM_SMMUV3 = 1

/** Per-device state (`struct arm_smmu_master`). */
export class Smmuv3Master {
  /** Current domain (blocked after probe). */
  domain: IommuDomain
  /** The CD table (CD 0 for a stage-1 RID domain, CD n for PASID n), allocated on first use. */
  cdTable: CdTable | undefined
  /** Paging domains attached to SubstreamIDs (PASIDs) other than 0. */
  readonly pasids = new Map<number, IommuDomain>()
  /** Set while attached to a nested domain whose device has a vDEVICE: where its events go. */
  vmaster: { viommu: Viommu; vsid: bigint } | undefined
  constructor(
    readonly dev: Device,
    readonly sid: number,
    /** SubstreamID bits this master uses: min(device PASID width, IDR1.SSIDSIZE). */
    readonly ssidBits: number,
    blocked: IommuDomain,
  ) {
    this.domain = blocked
  }
}

export function smmuMaster(dev: Device): Smmuv3Master {
  const m = dev.driverData
  if (!(m instanceof Smmuv3Master)) throw new Error(`device 0x${dev.id.toString(16)} is not behind an SMMUv3`)
  return m
}

/** A host event that stayed in the host (not forwarded to a vEVENTQ). */
export interface HostEvent {
  readonly id: number
  readonly sid: number
  readonly record: Uint8Array
}

export class Smmuv3IommuUnit implements IommuUnit {
  readonly driverName = 'arm-smmu-v3'
  readonly hw: Smmuv3
  readonly blockedDomain: Smmuv3BlockedDomain
  readonly cmdq: CommandQueue
  readonly asids: IdAllocator
  readonly vmids: IdAllocator
  /** Features read from the ID registers at probe. */
  readonly features: { s1: boolean; s2: boolean; nesting: boolean; ril: boolean; oasBits: number; sidBits: number; ssidBits: number; twoLevel: boolean; twoLevelCd: boolean; s2fwb: boolean; hd: boolean }
  readonly masters = new Map<number, Smmuv3Master>()
  /** Events the host handled itself (bounded log, newest last). */
  readonly hostEvents: HostEvent[] = []
  private readonly l2Tables = new Map<number, number>()
  private strtab = 0
  private evtq = 0
  private readonly walk = new WalkResult()

  constructor(
    readonly name: string,
    private readonly host: HostServices,
    options: Smmuv3Options,
  ) {
    this.hw = new Smmuv3(host.memory, options)
    const idr0 = this.hw.readReg(SMMU_IDR0)
    const idr1 = this.hw.readReg(SMMU_IDR1)
    const s1 = (idr0 & IDR0_S1P) !== 0
    const s2 = (idr0 & IDR0_S2P) !== 0
    this.features = {
      s1,
      s2,
      nesting: s1 && s2,
      ril: (this.hw.readReg(SMMU_IDR3) & IDR3_RIL) !== 0,
      oasBits: OAS_BITS[this.hw.readReg(SMMU_IDR5) & 7] ?? 48,
      sidBits: idr1 & 0x3f,
      ssidBits: (idr1 >>> 6) & 0x1f,
      twoLevel: (idr0 & IDR0_ST_LVL_2LVL) !== 0,
      twoLevelCd: (idr0 & IDR0_CD2L) !== 0,
      s2fwb: (this.hw.readReg(SMMU_IDR3) & IDR3_FWB) !== 0,
      // IDR0.HTTU = 2: hardware Access flag and dirty state updates (ARM_SMMU_FEAT_HA | HD).
      hd: ((idr0 >>> IDR0_HTTU_SHIFT) & 3) === 2,
    }
    this.asids = new IdAllocator(1, (1 << 16) - 1, 'ASID')
    this.vmids = new IdAllocator(1, (1 << 16) - 1, 'VMID')
    this.blockedDomain = new Smmuv3BlockedDomain(this)
    const mem = this.memory
    // Queues and stream table (arm_smmu_init_structures), then enable (arm_smmu_device_reset).
    const cmdqBase = mem.allocFrames(((1 << CMDQ_LOG2) * 16) / 4096)
    this.cmdq = new CommandQueue(this.hw, mem, cmdqBase, CMDQ_LOG2)
    this.evtq = mem.allocFrames(((1 << EVTQ_LOG2) * EVT_SIZE) / 4096)
    this.hw.writeReg64(SMMU_CMDQ_BASE, BigInt(cmdqBase) | BigInt(CMDQ_LOG2))
    this.hw.writeReg(SMMU_CMDQ_PROD, 0)
    this.hw.writeReg(SMMU_CMDQ_CONS, 0)
    this.hw.writeReg64(SMMU_EVTQ_BASE, BigInt(this.evtq) | BigInt(EVTQ_LOG2))
    this.hw.writeReg(SMMU_EVTQ_PROD, 0)
    this.hw.writeReg(SMMU_EVTQ_CONS, 0)
    const sidBits = this.features.sidBits
    if (this.features.twoLevel) {
      const l1Entries = 2 ** Math.max(0, sidBits - STRTAB_SPLIT)
      this.strtab = mem.allocFrames(Math.max(1, Math.ceil((l1Entries * 8) / 4096)))
      this.hw.writeReg(SMMU_STRTAB_BASE_CFG, (1 << STRTAB_CFG_FMT_SHIFT) | (STRTAB_SPLIT << STRTAB_CFG_SPLIT_SHIFT) | sidBits)
    } else {
      this.strtab = mem.allocFrames(Math.ceil((2 ** sidBits * STE_SIZE) / 4096))
      this.hw.writeReg(SMMU_STRTAB_BASE_CFG, sidBits)
    }
    this.hw.writeReg64(SMMU_STRTAB_BASE, BigInt(this.strtab))
    this.hw.onInterrupt = () => this.handleEvents()
    this.hw.writeReg(SMMU_CR0, CR0_CMDQEN | CR0_EVTQEN)
    this.cmdq.issue([cmd.cfgiAll(), cmd.tlbiNsnhAll()])
    this.hw.writeReg(SMMU_CR0, CR0_CMDQEN | CR0_EVTQEN | CR0_SMMUEN)
  }

  get memory(): PhysicalMemory {
    return this.host.memory
  }

  /** The SMMUv3 model is the DMA engine's unit (translations can run on worker threads). */
  get dmaModel(): Smmuv3 {
    return this.hw
  }

  get pageSize(): number {
    return this.host.pageSize
  }

  // ---- masters and STEs -----------------------------------------------------------------------

  probeDevice(dev: Device): void {
    if (!Number.isInteger(dev.id) || dev.id < 0 || dev.id >= 2 ** this.features.sidBits) {
      throw fail('EINVAL', 'probe_device', `StreamID 0x${dev.id.toString(16)} beyond ${this.features.sidBits} bits`)
    }
    // arm_smmu_probe_device: the master's SSID width, capped at a 64 KiB linear CD table
    // (CTXDESC_LINEAR_CDMAX = 10) without 2-level CD table support.
    let ssidBits = this.features.s1 ? Math.min(dev.pasidBits, this.features.ssidBits) : 0 // CDs need stage 1
    if (!this.features.twoLevelCd) ssidBits = Math.min(ssidBits, 10)
    const master = new Smmuv3Master(dev, dev.id, ssidBits, this.blockedDomain)
    dev.driverData = master
    this.masters.set(dev.id, master)
    this.ensureL2(dev.id)
    this.installSte(master, abortSte())
  }

  /** arm_smmu_release_device: the STE goes back to abort and the master's CD table is freed. */
  releaseDevice(dev: Device): void {
    const master = smmuMaster(dev)
    this.installSte(master, abortSte())
    if (master.cdTable !== undefined) {
      this.cmdq.issue([cmd.cfgiCdAll(master.sid)])
      master.cdTable.free()
      master.cdTable = undefined
    }
    this.masters.delete(master.sid)
    dev.driverData = undefined
  }

  /** arm_smmu_init_l2_strtab: the level-2 table holding `sid`. */
  private ensureL2(sid: number): void {
    if (!this.features.twoLevel) return
    const l1 = sid >>> STRTAB_SPLIT
    if (this.l2Tables.has(l1)) return
    const frames = ((1 << STRTAB_SPLIT) * STE_SIZE) / 4096
    const l2 = this.memory.allocFrames(frames)
    // Every STE starts as abort (V=1, Config=0), as Linux initialises bypass/abort STEs.
    for (let i = 0; i < 1 << STRTAB_SPLIT; i++) this.memory.write(l2 + i * STE_SIZE, wordsToBytes(abortSte()))
    this.l2Tables.set(l1, l2)
    this.memory.write64(this.strtab + l1 * 8, BigInt(l2) | BigInt(STRTAB_SPLIT + 1)) // L2PTR | SPAN
    this.cmdq.issue([cmd.cfgiSte(sid, false)])
  }

  private stePa(sid: number): number {
    if (!this.features.twoLevel) return this.strtab + sid * STE_SIZE
    return this.l2Tables.get(sid >>> STRTAB_SPLIT)! + (sid & ((1 << STRTAB_SPLIT) - 1)) * STE_SIZE
  }

  /** Writes an STE (Q1..Q7 before Q0, which holds V and Config) and issues CFGI_STE + CMD_SYNC. */
  installSte(master: Smmuv3Master, ste: Ste): void {
    writeEntry(this.memory, this.stePa(master.sid), STE_ENTRY, ste, () => {
      this.cmdq.issue([cmd.cfgiSte(master.sid)])
    })
  }

  private cdTableOf(master: Smmuv3Master): CdTable {
    master.cdTable ??= new CdTable(this.memory, master.ssidBits, this.features.twoLevelCd)
    return master.cdTable
  }

  /**
   * Writes (or with `cd` undefined clears) CD `ssid` of the master's table and issues CFGI_CD +
   * CMD_SYNC (arm_smmu_write_cd_entry / arm_smmu_clear_cd). Tracks the SSIDs in use.
   */
  writeCd(master: Smmuv3Master, ssid: number, cd: bigint[] | undefined): void {
    const table = withEnomem('write_cd', () => this.cdTableOf(master))
    const pa = withEnomem('write_cd', () => table.cdAddress(ssid, cd !== undefined, () => this.cmdq.issue([cmd.cfgiCd(master.sid, ssid, false)])))
    if (pa === undefined) return // clearing a CD whose leaf table was never allocated
    const invalidate = (): void => {
      this.cmdq.issue([cmd.cfgiCd(master.sid, ssid)])
    }
    if (cd === undefined) {
      table.clearCd(pa)
      invalidate()
    } else {
      writeEntry(this.memory, pa, CD_ENTRY, cd, invalidate)
    }
    if (ssid !== 0) {
      if (cd === undefined) table.pasidsInUse.delete(ssid)
      else table.pasidsInUse.add(ssid)
    }
  }

  /** Whether CDs other than CD 0 are valid (arm_smmu_ssids_in_use). */
  ssidsInUse(master: Smmuv3Master): boolean {
    return (master.cdTable?.pasidsInUse.size ?? 0) > 0
  }

  /** Installs a stage-1 RID domain: CD 0, then the CD-table STE with S1DSS = SSID0. */
  installS1(master: Smmuv3Master, domain: Smmuv3PagingDomain): void {
    this.writeCd(master, 0, s1Cd(domain.pt, domain.asid, this.features.oasBits, domain.dirtyOps !== undefined))
    this.installSte(master, cdTableSte(this.cdTableOf(master), STE_S1DSS_SSID0, false))
  }

  /**
   * The blocked RID: an abort STE, or while PASIDs are in use the CD-table STE with S1DSS =
   * terminate and CD 0 cleared (arm_smmu_attach_dev_ste with a CD table in the STE).
   */
  installBlocked(master: Smmuv3Master): void {
    if (!this.ssidsInUse(master)) {
      this.installSte(master, abortSte())
      if (master.cdTable !== undefined) this.writeCd(master, 0, undefined)
      return
    }
    this.installSte(master, cdTableSte(master.cdTable!, STE_S1DSS_TERMINATE, false))
    this.writeCd(master, 0, undefined)
  }

  /**
   * arm_smmu_set_pasid: a stage-1 domain on SubstreamID `pasid`. The RID must already use the
   * CD table (a stage-1 domain) or be blocked, in which case the STE switches to the CD table.
   */
  setPasid(master: Smmuv3Master, pasid: number, domain: Smmuv3PagingDomain): void {
    const op = 'set_dev_pasid'
    if (domain.unit !== this) throw fail('EINVAL', op, `domain of ${domain.unit.name} on a device behind ${this.name}`)
    if (domain.stage !== 1) throw fail('EINVAL', op, 'only stage-1 domains can be attached to a PASID')
    if (pasid <= 0 || pasid >= 2 ** master.ssidBits) throw fail('EINVAL', op, `PASID ${pasid} beyond the master's ${master.ssidBits} SSID bits`)
    const rid = master.domain
    const ridUsesCdTable = rid instanceof Smmuv3PagingDomain && rid.stage === 1
    if (!ridUsesCdTable && rid.type !== 'blocked') throw fail('EINVAL', op, 'the RID domain does not use the CD table (stage 2 or nested)')
    this.writeCd(master, pasid, s1Cd(domain.pt, domain.asid, this.features.oasBits, domain.dirtyOps !== undefined))
    master.pasids.set(pasid, domain)
    if (!ridUsesCdTable) this.installSte(master, cdTableSte(master.cdTable!, STE_S1DSS_TERMINATE, false))
  }

  /** arm_smmu_blocking_set_dev_pasid: clears the CD; the last one downgrades a blocked RID's STE. */
  removePasid(master: Smmuv3Master, pasid: number): void {
    if (!master.pasids.delete(pasid)) return
    this.writeCd(master, pasid, undefined)
    if (!this.ssidsInUse(master) && master.domain.type === 'blocked') this.installSte(master, abortSte())
  }

  /** The STE the hardware holds for `sid` (tests compare it with what was asked). */
  readSte(sid: number): bigint[] {
    return readWords(this.memory.u8, this.stePa(sid), 8)
  }

  // ---- iommu_ops ------------------------------------------------------------------------------

  capable(_dev: Device, cap: IommuCap): boolean {
    switch (cap) {
      case 'CACHE_COHERENCY':
        return true // IDR0.COHACC
      case 'PCI_ATS_SUPPORTED':
        return this.hw.options.ats
      case 'DIRTY_TRACKING':
        return this.features.hd
      default:
        return false // no CANWBS firmware property
    }
  }

  hwInfo(_dev: Device, type: number): { type: number; data: Uint8Array } {
    if (type !== IOMMU_HW_INFO_TYPE_DEFAULT && type !== IOMMU_HW_INFO_TYPE_ARM_SMMUV3) {
      throw fail('EOPNOTSUPP', 'hw_info', `hw info type ${type} not supported`)
    }
    const data = new Uint8Array(HW_INFO_ARM_SMMUV3_SIZE)
    const v = new DataView(data.buffer)
    for (let i = 0; i <= 5; i++) v.setUint32(8 + i * 4, this.hw.readReg(SMMU_IDR0 + i * 4), true)
    v.setUint32(32, this.hw.readReg(SMMU_IIDR), true)
    v.setUint32(36, this.hw.readReg(SMMU_AIDR), true)
    return { type: IOMMU_HW_INFO_TYPE_ARM_SMMUV3, data }
  }

  /** The master's SubstreamID width (0 without PASID support). */
  maxPasidLog2(dev: Device): number {
    return smmuMaster(dev).ssidBits
  }

  /** arm_smmu_domain_alloc_paging_flags (out of host frames → ENOMEM). */
  domainAllocPagingFlags(dev: Device, flags: number, userData: UserData | undefined): IommuDomain {
    return withEnomem('domain_alloc_paging_flags', () => this.allocPaging(dev, flags, userData))
  }

  private allocPaging(_dev: Device, flags: number, userData: UserData | undefined): IommuDomain {
    const op = 'domain_alloc_paging_flags'
    const allowed = IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID | IOMMU_HWPT_ALLOC_NEST_PARENT
    if ((flags & ~allowed) !== 0 || userData !== undefined) throw fail('EOPNOTSUPP', op, `unsupported flags 0x${flags.toString(16)} or driver data`)
    switch (flags) {
      case 0:
        return new Smmuv3PagingDomain(this, this.features.s1 ? 1 : 2, false)
      case IOMMU_HWPT_ALLOC_PASID:
        // PASIDs select CDs: stage 1 only.
        if (!this.features.s1) throw fail('EOPNOTSUPP', op, 'PASID-capable domains need stage 1')
        return new Smmuv3PagingDomain(this, 1, false)
      case IOMMU_HWPT_ALLOC_NEST_PARENT:
        if (!this.features.nesting) throw fail('EOPNOTSUPP', op, 'no nesting support')
        return new Smmuv3PagingDomain(this, 2, true)
      case IOMMU_HWPT_ALLOC_DIRTY_TRACKING:
      case IOMMU_HWPT_ALLOC_DIRTY_TRACKING | IOMMU_HWPT_ALLOC_PASID:
        // Stage 1 with DBM leaves and CD.HA / CD.HD (needs IDR0.HTTU = 2).
        if (!this.features.hd || !this.features.s1) throw fail('EOPNOTSUPP', op, 'dirty tracking needs HTTU dirty state (IDR0.HTTU = 2)')
        return new Smmuv3PagingDomain(this, 1, false, true)
      default:
        throw fail('EOPNOTSUPP', op, `unsupported flag combination 0x${flags.toString(16)}`)
    }
  }

  getViommuSize(_dev: Device, type: number): number {
    // arm_smmu_get_viommu_size: nesting, and S2FWB (no device here is CANWBS) so the guest
    // cannot make stage-2 memory non-coherent.
    if (!this.features.nesting || !this.features.s2fwb) return 0
    return type === IOMMU_VIOMMU_TYPE_ARM_SMMUV3 ? 128 : 0
  }

  viommuInit(viommu: Viommu, parent: IommuDomain): void {
    initVsmmu(this, viommu, parent)
    viommu.ops = vsmmuOps
  }

  getResvRegions(dev: Device): readonly ResvRegion[] {
    return dev.resvRegions
  }

  // ---- DMA -----------------------------------------------------------------------------------

  translate(dev: Device, pasid: number | undefined, iova: bigint, write: boolean, out: Translation): void {
    const master = smmuMaster(dev)
    const r = this.walk
    const outcome = iova < MAX_SAFE_IOVA ? this.hw.translate(master.sid, pasid ?? -1, Number(iova), write, r) : EVT_ID.F_ADDR_SIZE
    if (outcome === SmmuOutcome.OK) {
      const size = 2 ** r.sizeLg2
      out.pa = r.oa
      out.length = size - (Number(iova) % size)
      return
    }
    throw new DmaFault({ reason: faultReason(outcome, r.fault), iova, deviceId: dev.id, pasid, write, level: r.level, stage: r.stage === 2 ? 2 : 1 })
  }

  // ---- events --------------------------------------------------------------------------------

  /** The EVTQ interrupt handler (arm_smmu_evtq_thread): forward guest events, keep the rest. */
  handleEvents(): void {
    const mem = this.memory
    let cons = this.hw.readReg(SMMU_EVTQ_CONS)
    const prod = this.hw.readReg(SMMU_EVTQ_PROD)
    while (qIndex(prod, EVTQ_LOG2) !== qIndex(cons, EVTQ_LOG2) || ((prod ^ cons) & (1 << EVTQ_LOG2)) !== 0) {
      const pa = this.evtq + qIndex(cons, EVTQ_LOG2) * EVT_SIZE
      this.handleEvent(mem.read(pa, EVT_SIZE))
      cons = qInc(cons, EVTQ_LOG2)
    }
    // Acknowledge an overflow by copying PROD.OVFLG into CONS.OVACKFLG.
    cons = ((cons & ~Q_OVERFLOW_FLAG) | (prod & Q_OVERFLOW_FLAG)) >>> 0
    this.hw.writeReg(SMMU_EVTQ_CONS, cons)
  }

  private handleEvent(record: Uint8Array): void {
    const v = new DataView(record.buffer, record.byteOffset, EVT_SIZE)
    const id = v.getUint8(0)
    const sid = v.getUint32(4, true)
    const q1hi = v.getUint32(12, true)
    const stall = (v.getUint32(8, true) >>> 31) & 1
    const s2 = (q1hi >>> 7) & 1 // Q1 bit 39
    const master = this.masters.get(sid)
    const vm = master?.vmaster
    if (vm !== undefined && stall === 0 && s2 === 0 && VEVENT_FORWARDED.has(id)) {
      const vevt = record.slice()
      new DataView(vevt.buffer).setUint32(4, Number(vm.vsid & 0xffff_ffffn), true)
      try {
        vm.viommu.reportEvent(VEVENTQ_TYPE_ARM_SMMUV3, vevt)
        return
      } catch {
        // no vEVENTQ of the type: the event stays with the host
      }
    }
    this.hostEvents.push({ id, sid, record: record.slice() })
    if (this.hostEvents.length > 256) this.hostEvents.shift()
  }

  /** The command sequence the unit has consumed since `logCommands` was set (tests). */
  get commandLog(): readonly (readonly [bigint, bigint])[] {
    return this.hw.commandLog
  }
}

/** Runs `fn`, turning the hardware model's out-of-frames error into the kernel's ENOMEM. */
function withEnomem<T>(op: string, fn: () => T): T {
  try {
    return fn()
  } catch (e) {
    if (PhysicalMemoryError.is(e)) throw fail('ENOMEM', op, e.message)
    throw e
  }
}

function faultReason(outcome: number, kind: number): DmaFaultReason {
  switch (outcome) {
    case EVT_ID.F_TRANSLATION:
      return 'translation'
    case EVT_ID.F_PERMISSION:
      return 'permission'
    case EVT_ID.F_ADDR_SIZE:
      return 'address-size'
    case EVT_ID.F_ACCESS:
      return 'access-flag'
    case EVT_ID.F_WALK_EABT:
    case EVT_ID.F_STE_FETCH:
    case EVT_ID.F_CD_FETCH:
      return 'external-abort'
    case SmmuOutcome.ABORT:
      if (kind === FaultKind.PERMISSION) return 'permission'
      if (kind === FaultKind.TRANSLATION || kind === FaultKind.RESERVED) return 'translation'
      if (kind === FaultKind.ACCESS_FLAG) return 'access-flag'
      if (kind === FaultKind.ADDRESS_SIZE) return 'address-size'
      return 'blocked'
    default:
      return 'bad-config'
  }
}

export { Vsmmu }
