/** Object types of the iommufd object table (`enum iommufd_object_type`). */
export type ObjectType =
  | 'DEVICE'
  | 'HWPT_PAGING'
  | 'HWPT_NESTED'
  | 'IOAS'
  | 'ACCESS'
  | 'FAULT'
  | 'VIOMMU'
  | 'VDEVICE'
  | 'VEVENTQ'
  | 'HW_QUEUE'
  | 'SELFTEST'

/**
 * Common header of every iommufd object. `users` starts at 1 (the table's reference); every
 * long-lived "A depends on B" adds one to B. IOMMU_DESTROY succeeds only at users == 1.
 */
export abstract class IommufdObject {
  abstract readonly type: ObjectType
  id = 0
  users = 1

  /** Drops the references this object holds on others. Called once, after removal from the table. */
  abstract destroy(): void
}

/** Adds a long-term reference. */
export function getRef(obj: IommufdObject): void {
  obj.users++
}

/** Drops a long-term reference (never below the table's own). */
export function putRef(obj: IommufdObject): void {
  if (obj.users <= 1) throw new Error(`iommufd: reference underflow on ${obj.type} ${obj.id}`)
  obj.users--
}
