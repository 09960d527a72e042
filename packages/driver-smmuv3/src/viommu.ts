/**
 * The SMMUv3 vIOMMU (`struct arm_vsmmu`, arm-smmu-v3-iommufd.c): guest STE validation, nested
 * domains, and the guest command conversion of IOMMU_HWPT_INVALIDATE.
 *
 * Difference from Linux (issue: multi-unit VMs): Linux takes the VMID from the parent S2
 * domain and refuses a parent owned by another SMMU (EINVAL). iommu-sim keeps that on the
 * parent's own SMMU and lifts the restriction across units: a vIOMMU on another SMMU allocates
 * its own VMID there and shares the parent's stage-2 table, which is then invalidated on every
 * unit that uses it.
 */
import {
  IOMMU_HWPT_DATA_ARM_SMMUV3,
  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,
  fail,
  type IommuDomain,
  type UserDataArray,
  type Viommu,
  type ViommuOps,
} from '@iommu-sim/core'
import { CMDQ_OP, EVT_ID } from '@iommu-sim/hw-models'
import { cmd, type Command } from './commands.js'
import { CMDQ_BATCH_ENTRIES } from './cmdq.js'
import { Smmuv3NestedDomain } from './domains/nested.js'
import { Smmuv3PagingDomain } from './domains/paging.js'
import type { Smmuv3IommuUnit } from './unit.js'

/** STRTAB_STE_0_NESTING_ALLOWED / STRTAB_STE_1_NESTING_ALLOWED (reference §1.10). */
export const STE0_NESTING_ALLOWED = 0xf80f_ffff_ffff_ffffn
export const STE1_NESTING_ALLOWED = 0x3800_00ffn
/** Guest event IDs forwarded to the vEVENTQ (reference §1.10). */
export const VEVENT_FORWARDED = new Set<number>([EVT_ID.C_BAD_STE, EVT_ID.F_STREAM_DISABLED, EVT_ID.C_BAD_SUBSTREAMID, EVT_ID.C_BAD_CD, EVT_ID.F_TRANSLATION, EVT_ID.F_ADDR_SIZE, EVT_ID.F_ACCESS, EVT_ID.F_PERMISSION])

export class Vsmmu {
  constructor(
    readonly unit: Smmuv3IommuUnit,
    readonly parent: Smmuv3PagingDomain,
    readonly vmid: number,
    /** True when the VMID was allocated for this vIOMMU (parent on another unit). */
    readonly ownVmid: boolean,
  ) {}
}

function vsmmuOf(viommu: Viommu): Vsmmu {
  const v = viommu.driverData
  if (!(v instanceof Vsmmu)) throw new Error(`vIOMMU ${viommu.id} is not an SMMUv3 vIOMMU`)
  return v
}

export function initVsmmu(unit: Smmuv3IommuUnit, viommu: Viommu, parent: IommuDomain): void {
  if (!(parent instanceof Smmuv3PagingDomain) || parent.stage !== 2) throw fail('EINVAL', 'viommu_init', 'parent is not an SMMUv3 stage-2 domain')
  if (parent.unit === unit) {
    viommu.driverData = new Vsmmu(unit, parent, parent.vmid, false)
    return
  }
  const vmid = unit.vmids.alloc()
  let users = parent.s2Users.get(unit)
  if (users === undefined) parent.s2Users.set(unit, (users = new Set()))
  users.add(vmid)
  viommu.driverData = new Vsmmu(unit, parent, vmid, true)
}

/** arm_smmu_validate_vste: returns the STE to use (EATS stripped) and whether ATS is on. EIO on illegal data. */
export function validateVste(ste: readonly [bigint, bigint]): { ste: [bigint, bigint]; ats: boolean } {
  const op = 'alloc_domain_nested'
  if ((ste[0] & 1n) === 0n) return { ste: [0n, 0n], ats: false } // V = 0: treated as abort
  if ((ste[0] & ~STE0_NESTING_ALLOWED) !== 0n || (ste[1] & ~STE1_NESTING_ALLOWED) !== 0n) throw fail('EIO', op, 'vSTE sets fields the guest may not own')
  const cfg = Number((ste[0] >> 1n) & 7n)
  if (cfg !== 0 && cfg !== 4 && cfg !== 5) throw fail('EIO', op, `vSTE Config ${cfg} is not abort, bypass or S1 translate`)
  const eats = Number((ste[1] >> 28n) & 3n)
  if (eats !== 0 && eats !== 1) throw fail('EIO', op, `vSTE EATS ${eats} is not supported`)
  return { ste: [ste[0], ste[1] & ~(3n << 28n)], ats: cfg === 5 && eats === 1 }
}

/** arm_vsmmu_convert_user_cmd: the physical command for a guest one, or EIO. */
export function convertUserCommand(viommu: Viommu, vsmmu: Vsmmu, q0: bigint, q1: bigint): Command {
  const op = Number(q0 & 0xffn)
  const vmidMask = 0xffffn << 32n
  const sidMask = 0xffff_ffffn << 32n
  switch (op) {
    case CMDQ_OP.TLBI_NSNH_ALL:
      return cmd.tlbiNhAll(vsmmu.vmid)
    case CMDQ_OP.TLBI_NH_VA:
    case CMDQ_OP.TLBI_NH_VAA:
    case CMDQ_OP.TLBI_NH_ALL:
    case CMDQ_OP.TLBI_NH_ASID:
      return [(q0 & ~vmidMask) | (BigInt(vsmmu.vmid) << 32n), q1]
    case CMDQ_OP.ATC_INV:
    case CMDQ_OP.CFGI_CD:
    case CMDQ_OP.CFGI_CD_ALL: {
      const vsid = q0 >> 32n
      const dev = viommu.findDev(vsid)
      if (dev === undefined) throw fail('EIO', 'cache_invalidate', `no vDEVICE with vSID 0x${vsid.toString(16)}`)
      return [(q0 & ~sidMask) | (BigInt(dev.id) << 32n), q1]
    }
    default:
      throw fail('EIO', 'cache_invalidate', `guest command 0x${op.toString(16)} is not allowed`)
  }
}

export const vsmmuOps: ViommuOps = {
  destroy(viommu) {
    const v = vsmmuOf(viommu)
    if (v.ownVmid) {
      v.unit.cmdq.issue([cmd.tlbiS12Vmall(v.vmid)])
      v.parent.s2Users.get(v.unit)?.delete(v.vmid)
      v.unit.vmids.free(v.vmid)
    }
  },

  /** arm_vsmmu_alloc_domain_nested: flags must be 0; the data is a 16-byte guest STE. */
  allocDomainNested(viommu, flags, userData) {
    const op = 'alloc_domain_nested'
    if (flags !== 0) throw fail('EOPNOTSUPP', op, `unsupported flags 0x${flags.toString(16)}`)
    const raw = userData.copyStruct(IOMMU_HWPT_DATA_ARM_SMMUV3, 16, 16, op)
    const v = new DataView(raw.buffer)
    const { ste, ats } = validateVste([v.getBigUint64(0, true), v.getBigUint64(8, true)])
    return new Smmuv3NestedDomain(viommu, vsmmuOf(viommu), ste, ats)
  },

  /**
   * arm_vsmmu_cache_invalidate: the whole array is copied, each command converted and issued in
   * batches of 63 with a CMD_SYNC. As in Linux, a conversion error stops the loop and the
   * converted commands of the current, unissued batch are dropped; entry_num reports the index.
   */
  cacheInvalidate(viommu, array: UserDataArray) {
    const vsmmu = vsmmuOf(viommu)
    let cur = 0
    try {
      const entries = array.copyAll(IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3, 16, 'cache_invalidate')
      let batch: Command[] = []
      for (const e of entries) {
        const d = new DataView(e.buffer)
        batch.push(convertUserCommand(viommu, vsmmu, d.getBigUint64(0, true), d.getBigUint64(8, true)))
        cur++
        if (cur !== entries.length && batch.length !== CMDQ_BATCH_ENTRIES - 1) continue
        vsmmu.unit.cmdq.issue(batch)
        batch = []
      }
    } finally {
      array.entryNum = cur
    }
  },
}
