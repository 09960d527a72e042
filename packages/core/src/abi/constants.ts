/**
 * uAPI constants the ABI layer adds to uapi/constants.ts: command numbers, VFIO cdev requests
 * and flags, and struct sizes. Names and values are the kernel's (include/uapi/linux/iommufd.h,
 * include/uapi/linux/vfio.h, include/linux/iommufd.h, drivers/iommu/iommufd/iommufd_test.h).
 */
import * as L from './layout.js'

// ---- IOMMUFD_CMD_* (the `nr` of each request) ---------------------------------------------------
export const IOMMUFD_CMD_DESTROY = 0x80
export const IOMMUFD_CMD_IOAS_ALLOC = 0x81
export const IOMMUFD_CMD_IOAS_ALLOW_IOVAS = 0x82
export const IOMMUFD_CMD_IOAS_COPY = 0x83
export const IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84
export const IOMMUFD_CMD_IOAS_MAP = 0x85
export const IOMMUFD_CMD_IOAS_UNMAP = 0x86
export const IOMMUFD_CMD_OPTION = 0x87
export const IOMMUFD_CMD_VFIO_IOAS = 0x88
export const IOMMUFD_CMD_HWPT_ALLOC = 0x89
export const IOMMUFD_CMD_GET_HW_INFO = 0x8a
export const IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING = 0x8b
export const IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP = 0x8c
export const IOMMUFD_CMD_HWPT_INVALIDATE = 0x8d
export const IOMMUFD_CMD_FAULT_QUEUE_ALLOC = 0x8e
export const IOMMUFD_CMD_IOAS_MAP_FILE = 0x8f
export const IOMMUFD_CMD_VIOMMU_ALLOC = 0x90
export const IOMMUFD_CMD_VDEVICE_ALLOC = 0x91
export const IOMMUFD_CMD_IOAS_CHANGE_PROCESS = 0x92
export const IOMMUFD_CMD_VEVENTQ_ALLOC = 0x93
export const IOMMUFD_CMD_HW_QUEUE_ALLOC = 0x94

/** IDs start at 1; 0 names no object (include/uapi/linux/iommufd.h). */
export const IOMMUFD_INVALID_ID = 0

// ---- the in-kernel ACCESS API (include/linux/iommufd.h) ------------------------------------------
export const IOMMUFD_ACCESS_RW_READ = 0
export const IOMMUFD_ACCESS_RW_WRITE = 1 << 0
export const IOMMUFD_ACCESS_RW_KTHREAD = 1 << 1
/** Internal flag (`__IOMMUFD_ACCESS_RW_SLOW_PATH`): forces the page-by-page path; same result. */
export const IOMMUFD_ACCESS_RW_SLOW_PATH = 1 << 2

// ---- VFIO device cdev (include/uapi/linux/vfio.h) --------------------------------------------------
export const VFIO_TYPE = 0x3b // ';'
export const VFIO_BASE = 100
export const VFIO_API_VERSION = 0
const vfioIo = (nr: number): number => (VFIO_TYPE << 8) | (VFIO_BASE + nr)
export const VFIO_DEVICE_BIND_IOMMUFD = vfioIo(18)
export const VFIO_DEVICE_ATTACH_IOMMUFD_PT = vfioIo(19)
export const VFIO_DEVICE_DETACH_IOMMUFD_PT = vfioIo(20)
export const VFIO_DEVICE_BIND_FLAG_TOKEN = 1 << 0
export const VFIO_DEVICE_ATTACH_PASID = 1 << 0
export const VFIO_DEVICE_DETACH_PASID = 1 << 0

// ---- sizeof(struct ...) ----------------------------------------------------------------------------
export const SIZEOF_IOMMU_DESTROY = L.IOMMU_DESTROY_LAYOUT.size
export const SIZEOF_IOMMU_IOAS_ALLOC = L.IOMMU_IOAS_ALLOC_LAYOUT.size
export const SIZEOF_IOMMU_IOAS_ALLOW_IOVAS = L.IOMMU_IOAS_ALLOW_IOVAS_LAYOUT.size
export const SIZEOF_IOMMU_IOAS_COPY = L.IOMMU_IOAS_COPY_LAYOUT.size
export const SIZEOF_IOMMU_IOAS_IOVA_RANGES = L.IOMMU_IOAS_IOVA_RANGES_LAYOUT.size
export const SIZEOF_IOMMU_IOAS_MAP = L.IOMMU_IOAS_MAP_LAYOUT.size
export const SIZEOF_IOMMU_IOAS_MAP_FILE = L.IOMMU_IOAS_MAP_FILE_LAYOUT.size
export const SIZEOF_IOMMU_IOAS_UNMAP = L.IOMMU_IOAS_UNMAP_LAYOUT.size
export const SIZEOF_IOMMU_OPTION = L.IOMMU_OPTION_LAYOUT.size
export const SIZEOF_IOMMU_VFIO_IOAS = L.IOMMU_VFIO_IOAS_LAYOUT.size
export const SIZEOF_IOMMU_HWPT_ALLOC = L.IOMMU_HWPT_ALLOC_LAYOUT.size
export const SIZEOF_IOMMU_HW_INFO = L.IOMMU_HW_INFO_LAYOUT.size
export const SIZEOF_IOMMU_HWPT_SET_DIRTY_TRACKING = L.IOMMU_HWPT_SET_DIRTY_TRACKING_LAYOUT.size
export const SIZEOF_IOMMU_HWPT_GET_DIRTY_BITMAP = L.IOMMU_HWPT_GET_DIRTY_BITMAP_LAYOUT.size
export const SIZEOF_IOMMU_HWPT_INVALIDATE = L.IOMMU_HWPT_INVALIDATE_LAYOUT.size
export const SIZEOF_IOMMU_FAULT_ALLOC = L.IOMMU_FAULT_ALLOC_LAYOUT.size
export const SIZEOF_IOMMU_VIOMMU_ALLOC = L.IOMMU_VIOMMU_ALLOC_LAYOUT.size
export const SIZEOF_IOMMU_VDEVICE_ALLOC = L.IOMMU_VDEVICE_ALLOC_LAYOUT.size
export const SIZEOF_IOMMU_IOAS_CHANGE_PROCESS = L.IOMMU_IOAS_CHANGE_PROCESS_LAYOUT.size
export const SIZEOF_IOMMU_VEVENTQ_ALLOC = L.IOMMU_VEVENTQ_ALLOC_LAYOUT.size
export const SIZEOF_IOMMU_HW_QUEUE_ALLOC = L.IOMMU_HW_QUEUE_ALLOC_LAYOUT.size
export const SIZEOF_IOMMU_TEST_CMD = L.IOMMU_TEST_CMD_LAYOUT.size
export const SIZEOF_IOMMU_IOVA_RANGE = L.IOMMU_IOVA_RANGE_LAYOUT.size
export const SIZEOF_IOMMU_HWPT_VTD_S1 = L.IOMMU_HWPT_VTD_S1_LAYOUT.size
export const SIZEOF_IOMMU_HWPT_ARM_SMMUV3 = L.IOMMU_HWPT_ARM_SMMUV3_LAYOUT.size
export const SIZEOF_IOMMU_HWPT_AMD_GUEST = L.IOMMU_HWPT_AMD_GUEST_LAYOUT.size
export const SIZEOF_IOMMU_HW_INFO_VTD = L.IOMMU_HW_INFO_VTD_LAYOUT.size
export const SIZEOF_IOMMU_HW_INFO_ARM_SMMUV3 = L.IOMMU_HW_INFO_ARM_SMMUV3_LAYOUT.size
export const SIZEOF_IOMMU_HW_INFO_TEGRA241_CMDQV = L.IOMMU_HW_INFO_TEGRA241_CMDQV_LAYOUT.size
export const SIZEOF_IOMMU_HW_INFO_AMD = L.IOMMU_HW_INFO_AMD_LAYOUT.size
export const SIZEOF_IOMMU_HWPT_VTD_S1_INVALIDATE = L.IOMMU_HWPT_VTD_S1_INVALIDATE_LAYOUT.size
export const SIZEOF_IOMMU_VIOMMU_ARM_SMMUV3_INVALIDATE = L.IOMMU_VIOMMU_ARM_SMMUV3_INVALIDATE_LAYOUT.size
export const SIZEOF_IOMMU_HWPT_PGFAULT = L.IOMMU_HWPT_PGFAULT_LAYOUT.size
export const SIZEOF_IOMMU_HWPT_PAGE_RESPONSE = L.IOMMU_HWPT_PAGE_RESPONSE_LAYOUT.size
export const SIZEOF_IOMMU_VIOMMU_TEGRA241_CMDQV = L.IOMMU_VIOMMU_TEGRA241_CMDQV_LAYOUT.size
export const SIZEOF_IOMMUFD_VEVENT_HEADER = L.IOMMUFD_VEVENT_HEADER_LAYOUT.size
export const SIZEOF_IOMMU_VEVENT_ARM_SMMUV3 = L.IOMMU_VEVENT_ARM_SMMUV3_LAYOUT.size
export const SIZEOF_IOMMU_VEVENT_TEGRA241_CMDQV = L.IOMMU_VEVENT_TEGRA241_CMDQV_LAYOUT.size
export const SIZEOF_VFIO_DEVICE_BIND_IOMMUFD = L.VFIO_DEVICE_BIND_IOMMUFD_LAYOUT.size
export const SIZEOF_VFIO_DEVICE_ATTACH_IOMMUFD_PT = L.VFIO_DEVICE_ATTACH_IOMMUFD_PT_LAYOUT.size
export const SIZEOF_VFIO_DEVICE_DETACH_IOMMUFD_PT = L.VFIO_DEVICE_DETACH_IOMMUFD_PT_LAYOUT.size
