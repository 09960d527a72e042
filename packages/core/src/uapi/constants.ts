/**
 * iommufd uAPI constants, with the kernel's names and values (include/uapi/linux/iommufd.h,
 * drivers/iommu/iommufd/iommufd_test.h, include/uapi/linux/vfio.h). Request numbers are
 * `_IO(';', nr)` = 0x3b00 | nr: no size or direction bits.
 */

export const IOMMUFD_TYPE = 0x3b // ';'
export const IOMMUFD_CMD_BASE = 0x80

const io = (nr: number): number => (IOMMUFD_TYPE << 8) | nr

export const IOMMU_DESTROY = io(0x80)
export const IOMMU_IOAS_ALLOC = io(0x81)
export const IOMMU_IOAS_ALLOW_IOVAS = io(0x82)
export const IOMMU_IOAS_COPY = io(0x83)
export const IOMMU_IOAS_IOVA_RANGES = io(0x84)
export const IOMMU_IOAS_MAP = io(0x85)
export const IOMMU_IOAS_UNMAP = io(0x86)
export const IOMMU_OPTION = io(0x87)
export const IOMMU_VFIO_IOAS = io(0x88)
export const IOMMU_HWPT_ALLOC = io(0x89)
export const IOMMU_GET_HW_INFO = io(0x8a)
export const IOMMU_HWPT_SET_DIRTY_TRACKING = io(0x8b)
export const IOMMU_HWPT_GET_DIRTY_BITMAP = io(0x8c)
export const IOMMU_HWPT_INVALIDATE = io(0x8d)
export const IOMMU_FAULT_QUEUE_ALLOC = io(0x8e)
export const IOMMU_IOAS_MAP_FILE = io(0x8f)
export const IOMMU_VIOMMU_ALLOC = io(0x90)
export const IOMMU_VDEVICE_ALLOC = io(0x91)
export const IOMMU_IOAS_CHANGE_PROCESS = io(0x92)
export const IOMMU_VEVENTQ_ALLOC = io(0x93)
export const IOMMU_HW_QUEUE_ALLOC = io(0x94)
/** Selftest-only command (`IOMMUFD_CMD_BASE + 32`). */
export const IOMMU_TEST_CMD = io(0xa0)

// ---- IOMMU_IOAS_MAP / COPY ---------------------------------------------------------------
export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1
export const IOMMU_IOAS_MAP_READABLE = 1 << 2

// ---- IOMMU_OPTION -------------------------------------------------------------------------
export const IOMMU_OPTION_RLIMIT_MODE = 0
export const IOMMU_OPTION_HUGE_PAGES = 1
export const IOMMU_OPTION_OP_SET = 0
export const IOMMU_OPTION_OP_GET = 1

// ---- IOMMU_VFIO_IOAS ----------------------------------------------------------------------
export const IOMMU_VFIO_IOAS_GET = 0
export const IOMMU_VFIO_IOAS_SET = 1
export const IOMMU_VFIO_IOAS_CLEAR = 2

// ---- IOMMU_HWPT_ALLOC ---------------------------------------------------------------------
export const IOMMU_HWPT_ALLOC_NEST_PARENT = 1 << 0
export const IOMMU_HWPT_ALLOC_DIRTY_TRACKING = 1 << 1
export const IOMMU_HWPT_FAULT_ID_VALID = 1 << 2
export const IOMMU_HWPT_ALLOC_PASID = 1 << 3

export const IOMMU_HWPT_DATA_NONE = 0
export const IOMMU_HWPT_DATA_VTD_S1 = 1
export const IOMMU_HWPT_DATA_ARM_SMMUV3 = 2
export const IOMMU_HWPT_DATA_AMD_GUEST = 3

export const IOMMU_VTD_S1_SRE = 1 << 0
export const IOMMU_VTD_S1_EAFE = 1 << 1
export const IOMMU_VTD_S1_WPE = 1 << 2

// ---- IOMMU_GET_HW_INFO --------------------------------------------------------------------
export const IOMMU_HW_INFO_FLAG_INPUT_TYPE = 1 << 0
export const IOMMU_HW_INFO_TYPE_NONE = 0
export const IOMMU_HW_INFO_TYPE_DEFAULT = 0
export const IOMMU_HW_INFO_TYPE_INTEL_VTD = 1
export const IOMMU_HW_INFO_TYPE_ARM_SMMUV3 = 2
export const IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV = 3
export const IOMMU_HW_INFO_TYPE_AMD = 4
export const IOMMU_HW_CAP_DIRTY_TRACKING = 1 << 0
export const IOMMU_HW_CAP_PCI_PASID_EXEC = 1 << 1
export const IOMMU_HW_CAP_PCI_PASID_PRIV = 1 << 2
export const IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED = 1 << 3
export const IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17 = 1 << 0

// ---- dirty tracking -----------------------------------------------------------------------
export const IOMMU_HWPT_DIRTY_TRACKING_ENABLE = 1
export const IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR = 1

// ---- IOMMU_HWPT_INVALIDATE ----------------------------------------------------------------
export const IOMMU_HWPT_INVALIDATE_DATA_VTD_S1 = 0
export const IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3 = 1
export const IOMMU_VTD_INV_FLAGS_LEAF = 1 << 0

// ---- faults -------------------------------------------------------------------------------
export const IOMMU_PGFAULT_FLAGS_PASID_VALID = 1 << 0
export const IOMMU_PGFAULT_FLAGS_LAST_PAGE = 1 << 1
export const IOMMU_PGFAULT_PERM_READ = 1 << 0
export const IOMMU_PGFAULT_PERM_WRITE = 1 << 1
export const IOMMU_PGFAULT_PERM_EXEC = 1 << 2
export const IOMMU_PGFAULT_PERM_PRIV = 1 << 3
export const IOMMUFD_PAGE_RESP_SUCCESS = 0
export const IOMMUFD_PAGE_RESP_INVALID = 1

// ---- vIOMMU family ------------------------------------------------------------------------
export const IOMMU_VIOMMU_TYPE_DEFAULT = 0
export const IOMMU_VIOMMU_TYPE_ARM_SMMUV3 = 1
export const IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV = 2
export const IOMMU_VEVENTQ_TYPE_DEFAULT = 0
export const IOMMU_VEVENTQ_TYPE_ARM_SMMUV3 = 1
export const IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV = 2
export const IOMMU_VEVENTQ_FLAG_LOST_EVENTS = 1 << 0
export const IOMMU_HW_QUEUE_TYPE_DEFAULT = 0
export const IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV = 1

// ---- in-kernel constants that userspace observes -------------------------------------------
/** PASID value meaning "the RID, no PASID". */
export const IOMMU_NO_PASID = 0
/** Kernel iommu_domain prot bits passed to map_pages. */
export const IOMMU_READ = 1 << 0
export const IOMMU_WRITE = 1 << 1
export const IOMMU_CACHE = 1 << 2
export const IOMMU_NOEXEC = 1 << 3
export const IOMMU_MMIO = 1 << 4
export const IOMMU_PRIV = 1 << 5
/** read_and_clear_dirty flag. */
export const IOMMU_DIRTY_NO_CLEAR = 1 << 0

export const U64_MAX = 0xffff_ffff_ffff_ffffn
/** The model is a 64-bit kernel: ULONG_MAX == SIZE_MAX == U64_MAX. */
export const ULONG_MAX = U64_MAX
