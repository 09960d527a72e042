// Public surface of @iommu-sim/core.
export * from './errors/index.js'
export * from './uapi/constants.js'
export type {
  IommuDriver,
  IommuUnit,
  IommuDomain,
  IommuCap,
  DirtyOps,
  DomainType,
  HostServices,
  ResvRegion,
  ResvRegionType,
  Translation,
  DeviceOptions,
} from './driver/ops.js'
export { UserData, UserDataArray, BufferUserMemory, copyExtensible, type UserMemory } from './driver/user-data.js'
export { iommuMap, iommuUnmap } from './driver/iommu-map.js'
export { Host, createHost, type HostOptions } from './host/host.js'
export { Device, type AddDeviceOptions, type DmaOptions } from './host/device.js'
export { Process, type ProcessOptions, type ProcessMemory } from './host/process.js'
export { PROT_READ, PROT_WRITE, type MmapOptions } from './host/address-space.js'
export { OpenFile } from './host/files.js'
export { IommufdFile, VfioDeviceFile } from './host/vfio.js'
export { Iommufd, type ContextSnapshot, type ObjectSnapshot } from './iommufd/context.js'
export type * from './iommufd/types.js'
export { Ioas } from './iommufd/ioas.js'
export { Hwpt, HwptPaging } from './iommufd/hwpt.js'
export { IommufdDevice } from './iommufd/device.js'
export { IommufdObject, type ObjectType } from './objects/object.js'
export type { IovaRange } from './ioas/ranges.js'
