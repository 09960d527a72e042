import { IOMMU_CACHE, IOMMU_DIRTY_NO_CLEAR, IOMMU_NOEXEC, fail, type Device, type DirtyOps, type IommuDomain } from '@iommu-sim/core'
import { PageTable, PageTableError, PhysicalMemoryError, TableGather, WalkResult, lpaeS1Format, lpaeS2Format, Perm } from '@iommu-sim/hw-models'
import { cmd, rangeInvalidations, type Command } from '../commands.js'
import { s2Ste } from '../ste.js'
import { smmuMaster, type Smmuv3IommuUnit } from '../unit.js'

const PGSIZE_4K_2M_1G = (1n << 12n) | (1n << 21n) | (1n << 30n)
const VA_BITS = 48
/** Stage-1 descriptor bits: AP[2] (read-only / writable-clean) in the low word, DBM (bit 51) in the high word. */
const LO_AP2 = 1 << 7
const HI_DBM = 1 << 19

/**
 * A paging domain (`struct arm_smmu_domain`): a VMSAv8-64 4 KiB stage-1 table tagged by an
 * ASID, or a stage-2 table tagged by a VMID (nest parents are always stage 2). Allocated on the
 * device's SMMU (Linux finalises at allocation).
 */
export class Smmuv3PagingDomain implements IommuDomain {
  readonly type = 'paging' as const
  readonly pgsizeBitmap = PGSIZE_4K_2M_1G
  readonly aperture = { start: 0n, end: (1n << BigInt(VA_BITS)) - 1n }
  readonly pt: PageTable
  readonly asid: number
  readonly vmid: number
  /**
   * Where this stage-2 table is used with which VMID: its own unit with `vmid`, plus every
   * vIOMMU on another unit that shares it as its stage 2 (iommu-sim lifts Linux's same-SMMU rule).
   */
  readonly s2Users = new Map<Smmuv3IommuUnit, Set<number>>()
  /** HTTU dirty tracking (IOMMU_HWPT_ALLOC_DIRTY_TRACKING): DBM leaves, CD.HA / CD.HD. */
  readonly dirtyOps?: DirtyOps
  private readonly scratch = new WalkResult()

  constructor(
    readonly unit: Smmuv3IommuUnit,
    readonly stage: 1 | 2,
    readonly nestParent: boolean,
    dirtyTracking = false,
  ) {
    const outputBits = Math.min(unit.features.oasBits, 48)
    const format =
      stage === 1
        ? lpaeS1Format({ granule: 4096, inputBits: VA_BITS, outputBits, pageSizes: [4096, 2 << 20, 1 << 30], hardwareDirty: dirtyTracking, hardwareAccessFlag: dirtyTracking })
        : lpaeS2Format({ granule: 4096, inputBits: VA_BITS, outputBits, pageSizes: [4096, 2 << 20, 1 << 30] })
    this.pt = new PageTable(unit.memory, format)
    try {
      this.asid = stage === 1 ? unit.asids.alloc() : 0
      this.vmid = stage === 2 ? unit.vmids.alloc() : 0
    } catch (e) {
      this.pt.destroy() // ASID / VMID space exhausted: give the root table back
      throw e
    }
    if (stage === 2) this.s2Users.set(unit, new Set([this.vmid]))
    if (dirtyTracking) {
      this.dirtyOps = {
        // The SMMU always updates dirty state once the CD has HD set (arm_smmu_set_dirty_tracking).
        setDirtyTracking: () => {},
        readAndClearDirty: (iova, size, flags, record) => this.readAndClearDirty(iova, size, flags, record),
      }
    }
  }

  /**
   * io-pgtable-arm's read_and_clear_dirty: a leaf is dirty when DBM = 1 and AP[2] = 0; clearing
   * sets AP[2] again (writable-clean), then the cleared range is invalidated so the next write
   * walks and marks it dirty (iommufd syncs the IOTLB gather after a dirty read).
   */
  private readAndClearDirty(iova: bigint, size: bigint, flags: number, record: (iova: bigint, length: bigint) => void): void {
    const u32 = this.unit.memory.u32
    const clear = (flags & IOMMU_DIRTY_NO_CLEAR) === 0
    let lo = -1
    let hi = -1
    this.pt.forEachLeaf(iova, size, (leafIova, sizeLg2, pa) => {
      const wi = pa >>> 2
      const word = Atomics.load(u32, wi)
      if ((u32[wi + 1]! & HI_DBM) === 0 || (word & LO_AP2) !== 0) return
      const length = 2 ** sizeLg2
      record(BigInt(leafIova), BigInt(length))
      if (!clear) return
      Atomics.or(u32, wi, LO_AP2)
      if (lo < 0) lo = leafIova
      hi = leafIova + length
    })
    if (lo >= 0) this.unit.cmdq.issue(rangeInvalidations('nh-va', 0, this.asid, BigInt(lo), BigInt(hi - lo), this.unit.features.ril))
  }

  attachDev(dev: Device): void {
    if (dev.iommu !== this.unit) throw fail('EINVAL', 'attach_dev', `domain of ${this.unit.name} cannot attach a device behind ${dev.iommu.name}`)
    const master = smmuMaster(dev)
    // A stage-2 STE has no CD table: not while PASIDs use it (arm_smmu_attach_dev).
    if (this.stage === 2 && this.unit.ssidsInUse(master)) throw fail('EBUSY', 'attach_dev', 'PASIDs of this device use its CD table')
    master.vmaster = undefined
    master.domain = this
    if (this.stage === 1) {
      this.unit.installS1(master, this)
    } else {
      this.unit.installSte(master, s2Ste(this.pt, this.vmid, this.unit.features.oasBits, false, this.nestParent && this.unit.features.s2fwb))
      if (master.cdTable !== undefined) this.unit.writeCd(master, 0, undefined)
    }
  }

  /** arm_smmu_s1_set_dev_pasid: CD `pasid` of the master's CD table. */
  setDevPasid(dev: Device, pasid: number): void {
    if (dev.iommu !== this.unit) throw fail('EINVAL', 'set_dev_pasid', `domain of ${this.unit.name} cannot attach a device behind ${dev.iommu.name}`)
    this.unit.setPasid(smmuMaster(dev), pasid, this)
  }

  mapPages(iova: bigint, paddr: bigint, pgsize: bigint, pgcount: number, prot: number): void {
    try {
      this.pt.map(iova, paddr, pgsize * BigInt(pgcount), prot | IOMMU_CACHE | (prot & IOMMU_NOEXEC))
    } catch (e) {
      if (e instanceof PageTableError) throw fail(e.code === 'EEXIST' ? 'EEXIST' : 'EINVAL', 'map_pages', e.message)
      if (PhysicalMemoryError.is(e)) throw fail('ENOMEM', 'map_pages', e.message) // PageTable.map undid its part
      throw e
    }
  }

  /** Unmaps, then invalidates by range on every unit that may cache it, then frees removed tables. */
  unmapPages(iova: bigint, pgsize: bigint, pgcount: number): bigint {
    const size = pgsize * BigInt(pgcount)
    const gather = new TableGather(this.unit.memory)
    const n = this.pt.unmap(iova, size, gather)
    if (this.stage === 1) {
      this.unit.cmdq.issue(rangeInvalidations('nh-va', 0, this.asid, iova, size, this.unit.features.ril))
    } else {
      for (const [unit, vmids] of this.s2Users) {
        const commands: Command[] = []
        for (const vmid of vmids) {
          commands.push(...rangeInvalidations('s2-ipa', vmid, 0, iova, size, unit.features.ril))
          // Nested translations are cached combined: a nest parent also drops every S1 entry of the VMID.
          if (this.nestParent) commands.push(cmd.tlbiNhAll(vmid))
        }
        unit.cmdq.issue(commands)
      }
    }
    gather.release()
    return BigInt(n)
  }

  iovaToPhys(iova: bigint): bigint {
    if (iova >= 2n ** 53n || !this.pt.walk(Number(iova), Perm.NONE, this.scratch)) return -1n
    return BigInt(this.scratch.oa)
  }

  free(): void {
    if (this.stage === 1) {
      this.unit.cmdq.issue([cmd.tlbiNhAsid(this.asid, 0)])
      this.unit.asids.free(this.asid)
    } else {
      this.unit.cmdq.issue([cmd.tlbiS12Vmall(this.vmid)])
      this.unit.vmids.free(this.vmid)
    }
    this.pt.destroy()
  }
}
