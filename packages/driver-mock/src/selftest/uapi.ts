/**
 * `struct iommu_test_cmd` and the selftest op numbers (drivers/iommu/iommufd/iommufd_test.h,
 * torvalds/linux, checked against the 7.x header that adds DMABUF_GET/REVOKE). The struct is
 * size @0, op @4, id @8, __reserved @12, a 48-byte union of per-op arguments @16, last @64;
 * sizeof = 72. Offsets below are absolute (from the start of the struct).
 */

export const IOMMU_TEST_OP_ADD_RESERVED = 1
export const IOMMU_TEST_OP_MOCK_DOMAIN = 2
export const IOMMU_TEST_OP_MD_CHECK_MAP = 3
export const IOMMU_TEST_OP_MD_CHECK_REFS = 4
export const IOMMU_TEST_OP_CREATE_ACCESS = 5
export const IOMMU_TEST_OP_DESTROY_ACCESS_PAGES = 6
export const IOMMU_TEST_OP_ACCESS_PAGES = 7
export const IOMMU_TEST_OP_ACCESS_RW = 8
export const IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT = 9
export const IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE = 10
export const IOMMU_TEST_OP_ACCESS_REPLACE_IOAS = 11
export const IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS = 12
export const IOMMU_TEST_OP_DIRTY = 13
export const IOMMU_TEST_OP_MD_CHECK_IOTLB = 14
export const IOMMU_TEST_OP_TRIGGER_IOPF = 15
export const IOMMU_TEST_OP_DEV_CHECK_CACHE = 16
export const IOMMU_TEST_OP_TRIGGER_VEVENT = 17
export const IOMMU_TEST_OP_PASID_ATTACH = 18
export const IOMMU_TEST_OP_PASID_REPLACE = 19
export const IOMMU_TEST_OP_PASID_DETACH = 20
export const IOMMU_TEST_OP_PASID_CHECK_HWPT = 21
export const IOMMU_TEST_OP_DMABUF_GET = 22
export const IOMMU_TEST_OP_DMABUF_REVOKE = 23

/** ACCESS_PAGES flags. */
export const MOCK_FLAGS_ACCESS_WRITE = 1 << 0
export const MOCK_FLAGS_ACCESS_SYZ = 1 << 16
/** ACCESS_RW flags (= IOMMUFD_ACCESS_RW_WRITE / __IOMMUFD_ACCESS_RW_SLOW_PATH). */
export const MOCK_ACCESS_RW_WRITE = 1 << 0
export const MOCK_ACCESS_RW_SLOW_PATH = 1 << 2
/** CREATE_ACCESS flags. */
export const MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES = 1 << 0

export const SIZEOF_IOMMU_TEST_CMD = 72

/** Absolute offsets in `struct iommu_test_cmd`. */
export const TEST_CMD = {
  size: 0,
  op: 4,
  id: 8,
  reserved: 12,
  last: 64,
  add_reserved: { start: 16, length: 24 },
  mock_domain: { out_stdev_id: 16, out_hwpt_id: 20, out_idev_id: 24 },
  mock_domain_flags: { out_stdev_id: 16, out_hwpt_id: 20, out_idev_id: 24, dev_flags: 28 },
  mock_domain_replace: { pt_id: 16 },
  check_map: { iova: 16, length: 24, uptr: 32 },
  check_refs: { length: 16, uptr: 24, refs: 32 },
  create_access: { out_access_fd: 16, flags: 20 },
  destroy_access_pages: { access_pages_id: 16 },
  access_pages: { flags: 16, out_access_pages_id: 20, iova: 24, length: 32, uptr: 40 },
  access_rw: { iova: 16, length: 24, uptr: 32, flags: 40 },
  memory_limit: { limit: 16 },
  access_replace_ioas: { ioas_id: 16 },
  dirty: { flags: 16, iova: 24, length: 32, page_size: 40, uptr: 48, out_nr_dirty: 56 },
  check_iotlb: { id: 16, iotlb: 20 },
  trigger_iopf: { dev_id: 16, pasid: 20, grpid: 24, perm: 28, addr: 32 },
  check_dev_cache: { id: 16, cache: 20 },
  trigger_vevent: { dev_id: 16 },
  pasid_attach: { pasid: 16, pt_id: 20 },
  pasid_replace: { pasid: 16, pt_id: 20 },
  pasid_detach: { pasid: 16 },
  pasid_check: { pasid: 16, hwpt_id: 20 },
  dmabuf_get: { length: 16, open_flags: 20 },
  dmabuf_revoke: { dmabuf_fd: 16, revoked: 20 },
} as const
