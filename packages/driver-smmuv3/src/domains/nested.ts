import { fail, type Device, type IommuDomain, type Viommu } from '@iommu-sim/core'
import { STE_CFG_ABORT, STE_CFG_BYPASS } from '@iommu-sim/hw-models'
import { abortSte, nestedSte, s2Ste, steConfig } from '../ste.js'
import { smmuMaster } from '../unit.js'
import type { Vsmmu } from '../viommu.js'

/**
 * A nested domain from a guest STE (`struct arm_smmu_nested_domain`): Config abort, bypass (the
 * parent stage 2 only) or S1 translate (nested STE with the guest's CD table).
 */
export class Smmuv3NestedDomain implements IommuDomain {
  readonly type = 'nested' as const
  readonly pgsizeBitmap = 0n
  readonly aperture = { start: 0n, end: 0n }

  constructor(
    readonly viommu: Viommu,
    readonly vsmmu: Vsmmu,
    /** The validated guest STE words (EATS stripped). */
    readonly ste: readonly [bigint, bigint],
    readonly enableAts: boolean,
  ) {}

  get unit() {
    return this.vsmmu.unit
  }

  attachDev(dev: Device): void {
    const op = 'attach_dev'
    if (dev.iommu !== this.vsmmu.unit) throw fail('EINVAL', op, 'nested domain of another SMMU')
    const master = smmuMaster(dev)
    // The guest owns the CD table of a nested STE: not while host PASIDs use the master's.
    if (this.vsmmu.unit.ssidsInUse(master)) throw fail('EBUSY', op, 'PASIDs of this device use its CD table')
    const cfg = this.ste[0] === 0n ? STE_CFG_ABORT : steConfig([...this.ste])
    // A translating guest STE needs the device's vSID (ENOENT); abort / bypass do not.
    let vsid: bigint | undefined
    try {
      vsid = this.viommu.getVdevId(dev, op)
    } catch (e) {
      if (cfg !== STE_CFG_ABORT && cfg !== STE_CFG_BYPASS) throw e
    }
    const parent = this.vsmmu.parent
    const s2 = s2Ste(parent.pt, this.vsmmu.vmid, this.vsmmu.unit.features.oasBits, false, this.vsmmu.unit.features.s2fwb)
    const ste = cfg === STE_CFG_ABORT ? abortSte() : cfg === STE_CFG_BYPASS ? s2 : nestedSte(s2, this.ste, this.enableAts)
    master.domain = this
    master.vmaster = vsid === undefined ? undefined : { viommu: this.viommu, vsid }
    this.vsmmu.unit.installSte(master, ste)
    if (master.cdTable !== undefined) this.vsmmu.unit.writeCd(master, 0, undefined)
  }

  free(): void {}
}
