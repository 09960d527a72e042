/**
 * The vIOMMU family (drivers/iommu/iommufd/viommu.c, driver.c): VIOMMU, VDEVICE, HW_QUEUE and
 * the helpers a driver uses on them (virt_id lookups, event reports, mmap regions, queue
 * dependencies). Reference iommufd-uapi.md §1.4.6–§1.4.9, §2.17–§2.22, §4.5.
 */
import { fail } from '../errors/iommufd-error.js'
import { IommufdObject, getRef, putRef } from '../objects/object.js'
import type { Device } from '../host/device.js'
import type { IommuUnit, ViommuOps } from '../driver/ops.js'
import type { HwptPaging } from './hwpt.js'
import type { IommufdDevice } from './device.js'
import type { Veventq } from './eventq.js'
import type { Area } from '../ioas/io-pagetable.js'
import type { Ioas } from './ioas.js'

/** A registered MMIO region of a vIOMMU that userspace may mmap from the iommufd (§2.22). */
export interface MmapRegion {
  readonly viommu: Viommu
  /** Host physical address of the first byte (page aligned). */
  readonly pa: number
  readonly length: number
}

/** What a vIOMMU needs from its context (kept narrow so the objects do not depend on it). */
export interface ViommuHost {
  readonly pageSize: number
  allocMmapOffset(region: MmapRegion): bigint
  freeMmapOffset(offset: bigint): void
}

/** IOMMUFD_OBJ_VIOMMU: one VM's slice of one physical IOMMU instance. */
export class Viommu extends IommufdObject {
  readonly type = 'VIOMMU' as const
  /** Set by the driver's viommuInit. */
  ops: ViommuOps | undefined
  /** The driver's per-vIOMMU state (its VMID, registers, queues ...). */
  driverData: unknown
  /** virt_id → vDEVICE. */
  readonly vdevs = new Map<bigint, Vdevice>()
  /** vEVENTQ per type (at most one of each). */
  readonly veventqs = new Map<number, Veventq>()
  private readonly mmaps = new Set<bigint>()

  constructor(
    private readonly host: ViommuHost,
    /** `enum iommu_viommu_type`. */
    readonly viommuType: number,
    /** The physical IOMMU instance of the device the vIOMMU was allocated for. */
    readonly unit: IommuUnit,
    /** The nest-parent HWPT_PAGING (stage 2) this vIOMMU wraps. */
    readonly hwpt: HwptPaging,
  ) {
    super()
  }

  /** iommufd_viommu_find_dev: the device behind a virt_id, if a vDEVICE has it. */
  findDev(virtId: bigint): Device | undefined {
    return this.vdevs.get(virtId)?.idev.dev
  }

  /** iommufd_viommu_get_vdev_id: the virt_id of `dev` on this vIOMMU, else ENOENT. */
  getVdevId(dev: Device, op = 'iommufd_viommu_get_vdev_id'): bigint {
    for (const v of this.vdevs.values()) if (v.idev.dev === dev) return v.virtId
    throw fail('ENOENT', op, `device 0x${dev.id.toString(16)} has no vDEVICE on vIOMMU ${this.id}`)
  }

  /**
   * iommufd_viommu_report_event: queues `data` on the vEVENTQ of `type`. No such queue →
   * EOPNOTSUPP (the event is dropped); len 0 → EINVAL. A full queue records a lost event.
   */
  reportEvent(type: number, data: Uint8Array): void {
    const op = 'iommufd_viommu_report_event'
    if (data.length === 0) throw fail('EINVAL', op, 'empty event')
    const q = this.veventqs.get(type)
    if (q === undefined) throw fail('EOPNOTSUPP', op, `no vEVENTQ of type 0x${type.toString(16)}`)
    q.report(data)
  }

  /** iommufd_viommu_alloc_mmap: exposes [pa, pa + length) to userspace; returns the mmap offset. */
  allocMmap(pa: number, length: number): bigint {
    const ps = this.host.pageSize
    if (pa % ps !== 0 || length === 0 || length % ps !== 0) throw fail('EINVAL', 'iommufd_viommu_alloc_mmap', 'region not page aligned')
    const offset = this.host.allocMmapOffset({ viommu: this, pa, length })
    this.mmaps.add(offset)
    return offset
  }

  destroyMmap(offset: bigint): void {
    if (this.mmaps.delete(offset)) this.host.freeMmapOffset(offset)
  }

  destroy(): void {
    this.ops?.destroy?.(this)
    for (const off of [...this.mmaps]) this.destroyMmap(off)
    putRef(this.hwpt)
  }
}

/** IOMMUFD_OBJ_VDEVICE: a device's identity (vSID / vDeviceID / vRID) on a vIOMMU. */
export class Vdevice extends IommufdObject {
  readonly type = 'VDEVICE' as const
  /** Driver teardown, set by vdeviceInit when needed. */
  destroyHook: ((vdev: Vdevice) => void) | undefined
  driverData: unknown

  constructor(
    readonly viommu: Viommu,
    readonly idev: IommufdDevice,
    readonly virtId: bigint,
  ) {
    super()
  }

  destroy(): void {
    this.destroyHook?.(this)
    this.viommu.vdevs.delete(this.virtId)
    this.idev.vdev = undefined
    putRef(this.viommu)
    putRef(this.idev)
  }
}

/**
 * The internal ACCESS a HW queue pins its memory through (IOMMUFD_OBJ_ACCESS, no uAPI). Its
 * areas are locked: IOMMU_IOAS_UNMAP over them fails with EBUSY while the queue exists.
 */
export class HwQueueAccess extends IommufdObject {
  readonly type = 'ACCESS' as const
  readonly iovaAlignment: number
  private pinned: { area: Area; first: number; last: number }[] = []

  constructor(
    readonly ioas: Ioas,
    pageSize: number,
  ) {
    super()
    this.users = 2 // the table + its HW queue: not destroyable by IOMMU_DESTROY
    this.iovaAlignment = pageSize
  }

  /** Pins and locks the pages behind [start, start + length) of the IOAS. */
  pin(areas: readonly { area: Area; first: number; last: number }[]): void {
    const done: typeof areas[number][] = []
    try {
      for (const p of areas) {
        p.area.pages.pin(p.first, p.last)
        p.area.numLocks++
        done.push(p)
      }
    } catch (e) {
      for (const p of done) {
        p.area.numLocks--
        p.area.pages.unpin(p.first, p.last)
      }
      throw e
    }
    this.pinned = [...areas]
  }

  notifyUnmap(): void {}

  unpinAll(): void {
    for (const p of this.pinned) {
      p.area.numLocks--
      p.area.pages.unpin(p.first, p.last)
    }
    this.pinned = []
  }

  destroy(): void {
    this.unpinAll()
    this.ioas.iopt.removeAccess(this, 'IOMMU_DESTROY')
    putRef(this.ioas)
  }
}

/** IOMMUFD_OBJ_HW_QUEUE: a queue the hardware reads straight from guest memory. */
export class HwQueue extends IommufdObject {
  readonly type = 'HW_QUEUE' as const
  destroyHook: ((queue: HwQueue) => void) | undefined
  driverData: unknown

  constructor(
    readonly viommu: Viommu,
    /** `enum iommu_hw_queue_type`. */
    readonly queueType: number,
    readonly index: number,
    /** Guest physical (= nesting parent IOVA) base. */
    readonly baseAddr: bigint,
    readonly length: bigint,
    readonly access: HwQueueAccess,
    private readonly removeAccess: (access: HwQueueAccess) => void,
  ) {
    super()
  }

  /** iommufd_hw_queue_depend: this queue must be destroyed before `other` (same vIOMMU). */
  depend(other: HwQueue): void {
    if (other === this || other.viommu !== this.viommu) throw fail('EINVAL', 'iommufd_hw_queue_depend', 'queues of different vIOMMUs')
    getRef(other)
  }

  undepend(other: HwQueue): void {
    putRef(other)
  }

  destroy(): void {
    this.destroyHook?.(this)
    putRef(this.access)
    this.removeAccess(this.access)
    putRef(this.viommu)
  }
}
