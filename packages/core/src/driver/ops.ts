/**
 * The driver-ops contract between core and an IOMMU driver (DESIGN §3), modelled on Linux's
 * `iommu_ops`, `iommu_domain_ops`, `iommu_dirty_ops` and `iommufd_viommu_ops`.
 *
 * Drivers report failure by throwing `IommufdError` with the errno the kernel driver would
 * return. `EINVAL` from `attachDev` means "this domain is incompatible with this device": core
 * then tries another automatic domain, so do not use EINVAL for other failures.
 */
import type { DmaUnitModel, PhysicalMemory } from '@iommu-sim/hw-models'
import type { Device } from '../host/device.js'
import type { UserData, UserDataArray } from './user-data.js'
import type { SelftestCall } from '../abi/selftest.js'
import type { Viommu, Vdevice, HwQueue } from '../iommufd/viommu.js'

/** Capabilities core asks about (`enum iommu_cap`). */
export type IommuCap =
  | 'CACHE_COHERENCY'
  | 'NOEXEC'
  | 'PRE_BOOT_PROTECTION'
  | 'ENFORCE_CACHE_COHERENCY'
  | 'DEFERRED_FLUSH'
  | 'DIRTY_TRACKING'
  | 'PCI_ATS_SUPPORTED'

/** `enum iommu_resv_type`. DIRECT_RELAXABLE regions are ignored by iommufd. */
export type ResvRegionType = 'direct' | 'direct-relaxable' | 'reserved' | 'msi' | 'sw-msi'

export interface ResvRegion {
  readonly start: bigint
  readonly length: bigint
  readonly type: ResvRegionType
}

export type DomainType = 'paging' | 'nested' | 'blocked' | 'identity'

/** What core gives a driver when it probes its units on a host. */
export interface HostServices {
  readonly memory: PhysicalMemory
  /** Host CPU page size (PAGE_SIZE). */
  readonly pageSize: number
}

/**
 * A driver package's entry point (Kysely's Dialect): a named factory of physical IOMMU units.
 * Pass instances to `createHost({ drivers })`; importing a driver registers nothing.
 */
export interface IommuDriver {
  readonly name: string
  /** The core driver-API version the driver was written for. */
  readonly coreApi: 1
  /** Creates this driver's physical IOMMU instances on a host. Called once per host. */
  createUnits(host: HostServices): readonly IommuUnit[]
}

/** Options a host device is created with; drivers read what concerns them. */
export interface DeviceOptions {
  /** Driver-defined device flags (e.g. the mock's MOCK_FLAGS_DEVICE_*). */
  readonly flags?: number
  /** PASID width the device supports (0 = no PASID). */
  readonly pasidBits?: number
}

/**
 * One physical IOMMU instance and the driver's per-instance ops (`struct iommu_ops`, bound to
 * the instance). Units also own the hardware side: `translate` is what the silicon does for a DMA.
 */
export interface IommuUnit {
  /** Instance name, unique on the host (e.g. 'mock0', 'smmu1'). */
  readonly name: string
  /** Name of the driver that created the unit. */
  readonly driverName: string
  /** The domain a device goes to when detached (always blocks DMA). */
  readonly blockedDomain: IommuDomain
  /** The unit's hardware model, when it has one the DMA engine can run on worker threads. */
  readonly dmaModel?: DmaUnitModel

  /** Validates and initialises per-device driver state when a device is added behind the unit. */
  probeDevice(dev: Device): void
  /** Frees per-device driver state when a device is removed (iommu_ops.release_device). */
  releaseDevice?(dev: Device): void
  capable(dev: Device, cap: IommuCap): boolean
  /** `hw_info`: `type` is the requested type (0 = native); unsupported type → EOPNOTSUPP. */
  hwInfo?(dev: Device, type: number): { readonly type: number; readonly data: Uint8Array }
  /** log2 of the number of PASIDs the device may use, 0 without PASID support. */
  maxPasidLog2(dev: Device): number
  domainAllocPagingFlags(dev: Device, flags: number, userData: UserData | undefined): IommuDomain
  domainAllocNested?(dev: Device, parent: IommuDomain, flags: number, userData: UserData): IommuDomain
  /** Size of the driver's vIOMMU struct for `type`; 0 = type unsupported (→ EOPNOTSUPP). */
  getViommuSize?(dev: Device, type: number): number
  /**
   * Initialises a vIOMMU on `parent` (the nest-parent domain): must set `viommu.ops`; may write
   * outputs back through `userData`, register mmap regions, keep state in `viommu.driverData`.
   */
  viommuInit?(viommu: Viommu, parent: IommuDomain, userData: UserData | undefined): void
  getResvRegions(dev: Device): readonly ResvRegion[]

  /**
   * Hardware translation of one access by `dev` (with `pasid`, or undefined for RID traffic):
   * writes the physical address and the number of bytes that stay contiguous from it into
   * `out`, or throws `DmaFault` (after recording the fault where the hardware would).
   */
  translate(dev: Device, pasid: number | undefined, iova: bigint, write: boolean, out: Translation): void

  /**
   * IOMMU_TEST_CMD (the kernel's selftest ops, drivers/iommu/iommufd/selftest.c). Optional: a
   * host with no unit implementing it answers the command with ENOTTY. Decode `call.cmd`
   * (struct iommu_test_cmd), run the op, write outputs into `call.cmd`; throw IommufdError to
   * fail (nothing is written back then, unless the op called `call.respond()`). Returns the
   * ioctl's non-negative result (0 for every op but those that return an fd).
   */
  selftest?(call: SelftestCall): number | void
}

/** Result slot reused across translations (no allocation per translation). */
export interface Translation {
  pa: number
  /** Bytes from `pa` that the same translation covers (to the end of the page). */
  length: number
}

/** `struct iommu_dirty_ops`. */
export interface DirtyOps {
  setDirtyTracking(enabled: boolean): void
  /**
   * Reports dirty spans within [iova, iova + size) through `record` and, unless
   * `flags & IOMMU_DIRTY_NO_CLEAR`, clears them.
   */
  readAndClearDirty(iova: bigint, size: bigint, flags: number, record: (iova: bigint, length: bigint) => void): void
}

/** `struct iommu_domain` + `struct iommu_domain_ops`. */
export interface IommuDomain {
  readonly type: DomainType
  /** The physical unit (and so the driver) that owns the domain. */
  readonly unit: IommuUnit
  /** Supported page sizes; the lowest set bit is the IOVA granule. 0n for non-paging domains. */
  readonly pgsizeBitmap: bigint
  /** Inclusive IOVA aperture. */
  readonly aperture: { readonly start: bigint; readonly end: bigint }
  /** Present iff the domain was allocated with dirty tracking. */
  readonly dirtyOps?: DirtyOps

  attachDev(dev: Device, old: IommuDomain | undefined): void
  setDevPasid?(dev: Device, pasid: number, old: IommuDomain | undefined): void
  /** Maps `pgcount` pages of `pgsize` bytes; on failure maps nothing and throws. */
  mapPages?(iova: bigint, paddr: bigint, pgsize: bigint, pgcount: number, prot: number): void
  /** Unmaps exactly what was asked; returns the bytes unmapped. */
  unmapPages?(iova: bigint, pgsize: bigint, pgcount: number): bigint
  /** Exact for every mapped IOVA; -1n when unmapped. */
  iovaToPhys?(iova: bigint): bigint
  /** Switches to enforcing cache coherency; true if now enforcing (permanent). */
  enforceCacheCoherency?(): boolean
  cacheInvalidateUser?(array: UserDataArray): void
  free(): void
}

/** `struct iommufd_viommu_ops`: what a driver's vIOMMU can do. Missing ops → EOPNOTSUPP. */
export interface ViommuOps {
  /** Releases driver state; core frees the object afterwards. */
  destroy?(viommu: Viommu): void
  /** A nested domain (stage 1 owned by the guest) on this vIOMMU; flags ⊆ {PASID}. */
  allocDomainNested?(viommu: Viommu, flags: number, userData: UserData): IommuDomain
  /** Invalidation on behalf of the guest; must set `array.entryNum` to the entries handled. */
  cacheInvalidate?(viommu: Viommu, array: UserDataArray): void
  /** Non-zero: the driver keeps per-vDEVICE state and `vdeviceInit` is required. */
  readonly vdeviceSize?: number
  vdeviceInit?(vdev: Vdevice): void
  /** Size of the driver's HW queue struct for `type`; 0 = unsupported. */
  getHwQueueSize?(viommu: Viommu, type: number): number
  /** Queue memory is pinned and physically contiguous from `basePa`. */
  hwQueueInitPhys?(queue: HwQueue, index: number, basePa: number): void
}
