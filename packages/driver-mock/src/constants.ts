/**
 * Constants of the kernel's selftest mock IOMMU (drivers/iommu/iommufd/iommufd_test.h and
 * selftest.c, Linux 7.1). Names and values are the kernel's.
 */
export const MOCK_APERTURE_START = 1n << 24n
export const MOCK_APERTURE_LAST = (1n << 31n) - 1n
export const MOCK_PAGE_SIZE = 2048
export const MOCK_HUGE_PAGE_SIZE = 512 * MOCK_PAGE_SIZE

export const MOCK_FLAGS_DEVICE_NO_DIRTY = 1 << 0
export const MOCK_FLAGS_DEVICE_PASID = 1 << 2
export const MOCK_DEVICE_FLAGS = MOCK_FLAGS_DEVICE_NO_DIRTY | MOCK_FLAGS_DEVICE_PASID
export const MOCK_PASID_WIDTH = 20

export const MOCK_IOMMUPT_DEFAULT = 0
export const MOCK_IOMMUPT_HUGE = 1

export const MOCK_NESTED_DOMAIN_IOTLB_NUM = 4
export const MOCK_NESTED_DOMAIN_IOTLB_ID_MAX = MOCK_NESTED_DOMAIN_IOTLB_NUM - 1
export const MOCK_DEV_CACHE_NUM = 4
export const MOCK_DEV_CACHE_ID_MAX = MOCK_DEV_CACHE_NUM - 1

export const IOMMU_TEST_IOTLB_DEFAULT = 0xbadbeef
export const IOMMU_TEST_DEV_CACHE_DEFAULT = 0xbaddad
export const IOMMU_TEST_PASID_RESERVED = 1024
export const IOMMU_TEST_INVALIDATE_FLAG_ALL = 1 << 0
export const IOMMU_TEST_HW_QUEUE_MAX = 2

export const IOMMU_HW_INFO_TYPE_SELFTEST = 0xfeedbeef
export const IOMMU_HW_INFO_SELFTEST_REGVAL = 0xdeadbeef
export const IOMMU_HWPT_DATA_SELFTEST = 0xdead
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST = 0xdeadbeef
export const IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID = 0xdadbeef
export const IOMMU_VIOMMU_TYPE_SELFTEST = 0xdeadbeef
export const IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST = 0xdeadbeef
export const IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID = 0xdadbeef
export const IOMMU_VEVENTQ_TYPE_SELFTEST = 0xbeefbeef
export const IOMMU_HW_QUEUE_TYPE_SELFTEST = 0xdeadbeef

/** struct iommu_hwpt_selftest { u32 iotlb; u32 pagetable_type; } */
export const IOMMU_HWPT_SELFTEST_SIZE = 8
/** offsetofend(struct iommu_hwpt_selftest, iotlb) */
export const IOMMU_HWPT_SELFTEST_MIN = 4
/** struct iommu_test_hw_info { u32 flags; u32 test_reg; } */
export const IOMMU_TEST_HW_INFO_SIZE = 8
