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
  ViommuOps,
} from './driver/ops.js'
export { UserData, UserDataArray, BufferUserMemory, copyExtensible, type UserMemory } from './driver/user-data.js'
export { iommuMap, iommuUnmap } from './driver/iommu-map.js'
export { Host, createHost, type HostOptions } from './host/host.js'
export { HostDma } from './host/dma.js'
export { Device, type AddDeviceOptions, type DmaOptions } from './host/device.js'
export { Process, type ProcessOptions, type ProcessMemory } from './host/process.js'
export { PROT_READ, PROT_WRITE, type MmapOptions } from './host/address-space.js'
export { OpenFile } from './host/files.js'
export { IommufdFile, VfioDeviceFile } from './host/vfio.js'
export { Iommufd, type ContextSnapshot, type ObjectSnapshot } from './iommufd/context.js'
export type * from './iommufd/types.js'
export { Ioas } from './iommufd/ioas.js'
export { Hwpt, HwptPaging, HwptNested } from './iommufd/hwpt.js'
export { Viommu, Vdevice, HwQueue, HwQueueAccess, type MmapRegion } from './iommufd/viommu.js'
export { Veventq, FaultQueue, EventQueueFile, VEVENT_HEADER_SIZE, PGFAULT_RECORD_SIZE, PAGE_RESPONSE_SIZE, type FaultGroup, type PageRequest } from './iommufd/eventq.js'
export { IommufdDevice } from './iommufd/device.js'
export { IommufdObject, type ObjectType } from './objects/object.js'
export type { IovaRange } from './ioas/ranges.js'
// ---- the ioctl ABI (abi/) and the in-kernel ACCESS API ----------------------------------------
export * from './abi/constants.js'
export * from './abi/layout.js'
export { iommufdIoctl } from './abi/iommufd-ioctl.js'
export { vfioDeviceIoctl } from './abi/vfio-ioctl.js'
export { ProcessUserMemory, USER_COPY_LIMIT } from './abi/user-memory.js'
export type { SelftestCall } from './abi/selftest.js'
export { setIoctlHandlers, type IoctlHandler, type DeviceIoctlHandler } from './host/vfio.js'
export { IommufdAccess, type AccessOps } from './iommufd/access.js'
