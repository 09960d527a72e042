import { IommufdObject, putRef } from '../objects/object.js'
import type { IommuDomain } from '../driver/ops.js'
import type { Ioas } from './ioas.js'

/** Common part of HWPT_PAGING and HWPT_NESTED (`struct iommufd_hw_pagetable`). */
export abstract class Hwpt extends IommufdObject {
  abstract override readonly type: 'HWPT_PAGING' | 'HWPT_NESTED'
  /** The FAULT object faults are routed to (IOMMU_HWPT_FAULT_ID_VALID). */
  fault: IommufdObject | undefined
  constructor(
    readonly domain: IommuDomain,
    /** Allocated with IOMMU_HWPT_ALLOC_PASID. */
    readonly pasidCompat: boolean,
  ) {
    super()
  }
  /** The paging HWPT whose IOAS backs this one (itself, or a nested HWPT's parent). */
  abstract get pagingParent(): HwptPaging
}

/** IOMMUFD_OBJ_HWPT_PAGING: a kernel-managed page table mirroring one IOAS. */
export class HwptPaging extends Hwpt {
  readonly type = 'HWPT_PAGING' as const
  autoDomain = false
  enforceCacheCoherency = false
  /** Still a member of its IOAS (set once it joined). */
  joined = false

  constructor(
    domain: IommuDomain,
    pasidCompat: boolean,
    readonly ioas: Ioas,
    readonly nestParent: boolean,
  ) {
    super(domain, pasidCompat)
  }

  get pagingParent(): HwptPaging {
    return this
  }

  get dirtyTracking(): boolean {
    return this.domain.dirtyOps !== undefined
  }

  destroy(): void {
    if (this.joined) {
      this.ioas.iopt.removeDomain(this.domain, 'IOMMU_DESTROY')
      const i = this.ioas.hwptList.indexOf(this)
      if (i >= 0) this.ioas.hwptList.splice(i, 1)
      this.joined = false
    }
    this.domain.free()
    if (this.fault !== undefined) putRef(this.fault)
    putRef(this.ioas)
  }
}

/** IOMMUFD_OBJ_HWPT_NESTED: a user-managed stage 1 on a nest-parent HWPT_PAGING. */
export class HwptNested extends Hwpt {
  readonly type = 'HWPT_NESTED' as const

  constructor(
    domain: IommuDomain,
    pasidCompat: boolean,
    readonly parent: HwptPaging,
    /** Set when allocated through a vIOMMU (which then holds the parent). */
    readonly viommu: IommufdObject | undefined,
  ) {
    super(domain, pasidCompat)
  }

  get pagingParent(): HwptPaging {
    return this.parent
  }

  destroy(): void {
    this.domain.free()
    if (this.fault !== undefined) putRef(this.fault)
    putRef(this.viommu ?? this.parent)
  }
}
