import { IommufdObject, putRef, getRef } from '../objects/object.js'
import { fail, IommufdError } from '../errors/iommufd-error.js'
import { IOMMU_NO_PASID } from '../uapi/constants.js'
import type { Device } from '../host/device.js'
import type { IommuDomain } from '../driver/ops.js'
import type { Hwpt } from './hwpt.js'
import { HwptPaging } from './hwpt.js'
import type { Ioas } from './ioas.js'

/** Per-context record of an IOMMU group (`struct iommufd_group`): who is attached on each PASID. */
export class GroupRecord {
  readonly pasidAttach = new Map<number, { hwpt: Hwpt; devices: Set<IommufdDevice> }>()
  bound = 0
  constructor(readonly id: number) {}
}

/** IOMMUFD_OBJ_DEVICE: a physical device bound to the context by its VFIO cdev. */
export class IommufdDevice extends IommufdObject {
  readonly type = 'DEVICE' as const
  /** PASID → attached HWPT. */
  readonly attachments = new Map<number, Hwpt>()
  /** The device's vDEVICE, if any (at most one per context). */
  vdev: IommufdObject | undefined
  /** Set while the device is being unbound (new vDEVICEs refused with ENOENT). */
  destroying = false

  constructor(
    readonly dev: Device,
    readonly group: GroupRecord,
    readonly enforceCacheCoherency: boolean,
    private readonly onDestroy: (idev: IommufdDevice) => void,
  ) {
    super()
    this.users = 2 // the table + the binding driver
  }

  destroy(): void {
    this.onDestroy(this)
  }
}

/**
 * Attach, replace and detach (drivers/iommu/iommufd/device.c), shared by the typed API, the
 * VFIO cdev and the selftest commands. `removeAuto` destroys an auto HWPT once unused.
 */
export class AttachEngine {
  constructor(
    private readonly allocAutoHwpt: (idev: IommufdDevice, pasid: number, ioas: Ioas, immediateAttach: boolean, op: string) => HwptPaging,
    /** Destroys an automatic HWPT (abandoned after a failed attach, or unused). */
    private readonly removeAuto: (hwpt: HwptPaging) => void,
  ) {}

  private groupDevices(idev: IommufdDevice): Device[] {
    return idev.dev.host.devices.filter((d) => d.iommu === idev.dev.iommu && d.group === idev.dev.group)
  }

  /** Applies the device's reserved regions to the IOAS behind `hwpt` (owner: the device). */
  private enforceResv(idev: IommufdDevice, ioas: Ioas, op: string): void {
    const regions = idev.dev.iommu.getResvRegions(idev.dev).filter((r) => r.type !== 'direct-relaxable')
    try {
      for (const r of regions) ioas.iopt.reserve(r.start, r.start + r.length - 1n, idev, op)
    } catch (e) {
      ioas.iopt.removeReserved(idev)
      throw e
    }
  }

  private checkPasidCompat(idev: IommufdDevice, pasid: number, hwpt: Hwpt, op: string): void {
    const g = idev.group
    if (pasid === IOMMU_NO_PASID) {
      const pasidsInUse = [...g.pasidAttach.keys()].some((p) => p !== IOMMU_NO_PASID)
      if (pasidsInUse && !hwpt.pasidCompat) throw fail('EINVAL', op, 'PASIDs are attached: the RID domain must be PASID-compatible')
    } else {
      if (!hwpt.pasidCompat) throw fail('EINVAL', op, `HWPT ${hwpt.id} was not allocated with IOMMU_HWPT_ALLOC_PASID`)
      const rid = g.pasidAttach.get(IOMMU_NO_PASID)
      if (rid !== undefined && !rid.hwpt.pasidCompat) throw fail('EINVAL', op, 'the RID is attached to a domain that is not PASID-compatible')
    }
  }

  /** Programs the hardware for (group, pasid) → domain, remembering `old`. */
  private program(idev: IommufdDevice, pasid: number, domain: IommuDomain, old: IommuDomain | undefined, op: string): void {
    if (pasid === IOMMU_NO_PASID) {
      const done: Device[] = []
      try {
        for (const d of this.groupDevices(idev)) {
          domain.attachDev(d, old)
          done.push(d)
        }
      } catch (e) {
        const back = old ?? idev.dev.iommu.blockedDomain
        for (const d of done) back.attachDev(d, domain)
        throw e
      }
      return
    }
    if (idev.dev.iommu.maxPasidLog2(idev.dev) === 0 || pasid >= 2 ** idev.dev.iommu.maxPasidLog2(idev.dev)) {
      throw fail('EINVAL', op, `PASID ${pasid} is beyond what the device supports`)
    }
    if (domain.setDevPasid === undefined) throw fail('EOPNOTSUPP', op, `${domain.type} domain cannot be attached to a PASID`)
    domain.setDevPasid(idev.dev, pasid, old)
  }

  /** iommufd_hw_pagetable_attach (§3.4). */
  attachHwpt(idev: IommufdDevice, pasid: number, hwpt: Hwpt, op: string): void {
    if (idev.attachments.has(pasid)) throw fail('EBUSY', op, `device ${idev.id} is already attached on PASID ${pasid} (use replace)`)
    const rec = idev.group.pasidAttach.get(pasid)
    if (rec !== undefined && rec.hwpt !== hwpt) throw fail('EINVAL', op, 'another device of the group is attached to a different HWPT')
    const ioas = pasid === IOMMU_NO_PASID ? hwpt.pagingParent.ioas : undefined
    if (ioas !== undefined) this.enforceResv(idev, ioas, op)
    try {
      if (rec === undefined) {
        this.checkPasidCompat(idev, pasid, hwpt, op)
        this.program(idev, pasid, hwpt.domain, undefined, op)
      }
    } catch (e) {
      if (ioas !== undefined) ioas.iopt.removeReserved(idev)
      throw e
    }
    if (rec === undefined) idev.group.pasidAttach.set(pasid, { hwpt, devices: new Set([idev]) })
    else rec.devices.add(idev)
    idev.attachments.set(pasid, hwpt)
    getRef(hwpt)
  }

  /** iommufd_device_attach: `ptId` object is an IOAS or an HWPT; returns the HWPT attached. */
  attach(idev: IommufdDevice, pasid: number, pt: IommufdObject, op: string): Hwpt {
    let hwpt: Hwpt
    if (pt.type === 'HWPT_PAGING' || pt.type === 'HWPT_NESTED') {
      hwpt = pt as Hwpt
      this.attachHwpt(idev, pasid, hwpt, op)
    } else if (pt.type === 'IOAS') {
      hwpt = this.autoDomain(idev, pasid, pt as Ioas, false, op)
    } else {
      throw fail('EINVAL', op, `object ${pt.id} is a ${pt.type}, not an IOAS or HWPT`)
    }
    getRef(idev)
    return hwpt
  }

  /**
   * Automatic domain selection (§3.3): reuse the first compatible auto HWPT of the IOAS
   * (EINVAL means incompatible: try the next), else allocate a new one.
   */
  private autoDomain(idev: IommufdDevice, pasid: number, ioas: Ioas, replace: boolean, op: string): Hwpt {
    for (const cand of [...ioas.hwptList]) {
      if (!cand.autoDomain || cand.users === 0) continue
      try {
        if (replace) this.doReplace(idev, pasid, cand, op)
        else this.attachHwpt(idev, pasid, cand, op)
        return cand
      } catch (e) {
        if (IommufdError.is(e) && e.code === 'EINVAL') continue
        throw e
      }
    }
    // A new auto domain: immediate attach for attach, join-then-swap for replace.
    const hwpt = this.allocAutoHwpt(idev, pasid, ioas, !replace, op)
    if (replace) {
      try {
        this.doReplace(idev, pasid, hwpt, op)
      } catch (e) {
        this.removeAuto(hwpt)
        throw e
      }
    }
    return hwpt
  }

  /** iommufd_device_replace: switch (group, pasid) to another HWPT or IOAS atomically. */
  replace(idev: IommufdDevice, pasid: number, pt: IommufdObject, op: string): Hwpt {
    if (!idev.group.pasidAttach.has(pasid) || !idev.attachments.has(pasid)) throw fail('EINVAL', op, `device ${idev.id} is not attached on PASID ${pasid}`)
    if (pt.type === 'HWPT_PAGING' || pt.type === 'HWPT_NESTED') {
      this.doReplace(idev, pasid, pt as Hwpt, op)
      return pt as Hwpt
    }
    if (pt.type === 'IOAS') return this.autoDomain(idev, pasid, pt as Ioas, true, op)
    throw fail('EINVAL', op, `object ${pt.id} is a ${pt.type}, not an IOAS or HWPT`)
  }

  private doReplace(idev: IommufdDevice, pasid: number, hwpt: Hwpt, op: string): void {
    const rec = idev.group.pasidAttach.get(pasid)!
    const old = rec.hwpt
    if (old === hwpt) return
    const members = [...rec.devices]
    const oldIoas = pasid === IOMMU_NO_PASID ? old.pagingParent.ioas : undefined
    const newIoas = pasid === IOMMU_NO_PASID ? hwpt.pagingParent.ioas : undefined
    const ioasChanged = newIoas !== undefined && newIoas !== oldIoas
    const applied: IommufdDevice[] = []
    try {
      if (ioasChanged) {
        for (const m of members) {
          this.enforceResv(m, newIoas, op)
          applied.push(m)
        }
      }
      this.checkPasidCompat(idev, pasid, hwpt, op)
      this.program(idev, pasid, hwpt.domain, old.domain, op)
    } catch (e) {
      for (const m of applied) newIoas!.iopt.removeReserved(m)
      throw e
    }
    if (ioasChanged && oldIoas !== undefined) for (const m of members) oldIoas.iopt.removeReserved(m)
    rec.hwpt = hwpt
    for (const m of members) {
      m.attachments.set(pasid, hwpt)
      getRef(hwpt)
      abortFaults(old, m, pasid)
      putRef(old)
    }
    if (old instanceof HwptPaging && old.autoDomain && old.users === 1) this.removeAuto(old)
  }

  /** iommufd_device_detach: no attachment → no-op. */
  detach(idev: IommufdDevice, pasid: number): void {
    const hwpt = this.undoAttachHwpt(idev, pasid)
    if (hwpt === undefined) return
    putRef(idev)
    if (hwpt instanceof HwptPaging && hwpt.autoDomain && hwpt.users === 1) this.removeAuto(hwpt)
  }

  /** Reverses attachHwpt: un-programs the group on its last device, drops reservations and the HWPT reference. */
  undoAttachHwpt(idev: IommufdDevice, pasid: number): Hwpt | undefined {
    const hwpt = idev.attachments.get(pasid)
    if (hwpt === undefined) return undefined
    const rec = idev.group.pasidAttach.get(pasid)!
    rec.devices.delete(idev)
    idev.attachments.delete(pasid)
    if (rec.devices.size === 0) {
      const blocked = idev.dev.iommu.blockedDomain
      if (pasid === IOMMU_NO_PASID) for (const d of this.groupDevices(idev)) blocked.attachDev(d, hwpt.domain)
      else blocked.setDevPasid?.(idev.dev, pasid, hwpt.domain)
      idev.group.pasidAttach.delete(pasid)
    }
    if (pasid === IOMMU_NO_PASID) hwpt.pagingParent.ioas.iopt.removeReserved(idev)
    abortFaults(hwpt, idev, pasid)
    putRef(hwpt)
    return hwpt
  }
}

/** Pending I/O page faults of an attachment that goes away are answered INVALID (§2.16). */
function abortFaults(hwpt: Hwpt, idev: IommufdDevice, pasid: number): void {
  const fault = hwpt.fault as { abortAttachment?: (idev: IommufdDevice, pasid: number) => void } | undefined
  fault?.abortAttachment?.(idev, pasid)
}
