/**
 * The iommufd ioctl dispatcher rules (drivers/iommu/iommufd/main.c iommufd_fops_ioctl;
 * reference/iommufd-uapi.md §2.0), through proc.ioctl with raw struct bytes only.
 */
import { describe, expect, it } from 'vitest'
import * as C from '@iommu-sim/core'
import { createHost } from '@iommu-sim/core'
import * as M from '../src/index.js'
import { Buf, BUFFER_SIZE, err, selftest } from './abi-helpers.js'

/** Every command: request, sizeof(struct), offsetofend(last mandatory field) — from the uAPI headers. */
const COMMANDS: readonly { name: string; request: number; size: number; min: number }[] = [
  { name: 'IOMMU_DESTROY', request: 0x3b80, size: 8, min: 8 },
  { name: 'IOMMU_IOAS_ALLOC', request: 0x3b81, size: 12, min: 12 },
  { name: 'IOMMU_IOAS_ALLOW_IOVAS', request: 0x3b82, size: 24, min: 24 },
  { name: 'IOMMU_IOAS_COPY', request: 0x3b83, size: 40, min: 40 },
  { name: 'IOMMU_IOAS_IOVA_RANGES', request: 0x3b84, size: 32, min: 32 },
  { name: 'IOMMU_IOAS_MAP', request: 0x3b85, size: 40, min: 40 },
  { name: 'IOMMU_IOAS_UNMAP', request: 0x3b86, size: 24, min: 24 },
  { name: 'IOMMU_OPTION', request: 0x3b87, size: 24, min: 24 },
  { name: 'IOMMU_VFIO_IOAS', request: 0x3b88, size: 12, min: 12 },
  { name: 'IOMMU_HWPT_ALLOC', request: 0x3b89, size: 48, min: 24 },
  { name: 'IOMMU_GET_HW_INFO', request: 0x3b8a, size: 40, min: 32 },
  { name: 'IOMMU_HWPT_SET_DIRTY_TRACKING', request: 0x3b8b, size: 16, min: 16 },
  { name: 'IOMMU_HWPT_GET_DIRTY_BITMAP', request: 0x3b8c, size: 48, min: 48 },
  { name: 'IOMMU_HWPT_INVALIDATE', request: 0x3b8d, size: 32, min: 32 },
  { name: 'IOMMU_FAULT_QUEUE_ALLOC', request: 0x3b8e, size: 16, min: 16 },
  { name: 'IOMMU_IOAS_MAP_FILE', request: 0x3b8f, size: 40, min: 40 },
  { name: 'IOMMU_VIOMMU_ALLOC', request: 0x3b90, size: 40, min: 24 },
  { name: 'IOMMU_VDEVICE_ALLOC', request: 0x3b91, size: 24, min: 24 },
  { name: 'IOMMU_IOAS_CHANGE_PROCESS', request: 0x3b92, size: 8, min: 8 },
  { name: 'IOMMU_VEVENTQ_ALLOC', request: 0x3b93, size: 32, min: 28 },
  { name: 'IOMMU_HW_QUEUE_ALLOC', request: 0x3b94, size: 40, min: 40 },
  { name: 'IOMMU_TEST_CMD', request: 0x3ba0, size: 72, min: 68 },
]

describe('request numbers and exported constants (include/uapi/linux/iommufd.h)', () => {
  it.each(COMMANDS)('$name = 0x$request, struct sizes match the ABI layer', ({ name, request, size }) => {
    expect((C as unknown as Record<string, number>)[name]).toBe(request)
    const sizeName = name === 'IOMMU_GET_HW_INFO' ? 'SIZEOF_IOMMU_HW_INFO' : name === 'IOMMU_FAULT_QUEUE_ALLOC' ? 'SIZEOF_IOMMU_FAULT_ALLOC' : `SIZEOF_${name}`
    expect((C as unknown as Record<string, number>)[sizeName]).toBe(size)
  })
  it('VFIO cdev requests are _IO(VFIO_TYPE, VFIO_BASE + 18/19/20) (include/uapi/linux/vfio.h)', () => {
    expect([C.VFIO_DEVICE_BIND_IOMMUFD, C.VFIO_DEVICE_ATTACH_IOMMUFD_PT, C.VFIO_DEVICE_DETACH_IOMMUFD_PT]).toEqual([0x3b76, 0x3b77, 0x3b78])
    expect([C.SIZEOF_VFIO_DEVICE_BIND_IOMMUFD, C.SIZEOF_VFIO_DEVICE_ATTACH_IOMMUFD_PT, C.SIZEOF_VFIO_DEVICE_DETACH_IOMMUFD_PT]).toEqual([24, 16, 12])
  })
})

describe('step 1–3: the request number (ENOTTY)', () => {
  it('nr below IOMMUFD_CMD_BASE goes to the VFIO container emulation, not modelled: ENOTTY without reading size', () => {
    const t = selftest()
    expect(t.proc.ioctl(t.fd, 0x3b64 /* VFIO_GET_API_VERSION */, new Uint8Array(0))).toBe(err('ENOTTY'))
    expect(t.proc.ioctl(t.fd, 0x3b00, new Uint8Array(0))).toBe(err('ENOTTY'))
  })
  it('nr past the end of the command table: ENOTTY without reading size', () => {
    const t = selftest()
    expect(t.proc.ioctl(t.fd, 0x3bff, new Uint8Array(0))).toBe(err('ENOTTY'))
    expect(t.proc.ioctl(t.fd, 0x3ba1, new Uint8Array(0))).toBe(err('ENOTTY'))
  })
  it('a hole in the table (0x95–0x9f): size is read first (EFAULT), then ENOTTY', () => {
    const t = selftest()
    expect(t.proc.ioctl(t.fd, 0x3b95, new Uint8Array(0))).toBe(err('EFAULT'))
    expect(t.ioctl(0x3b95, new Buf(8))).toBe(err('ENOTTY'))
    expect(t.ioctl(0x3b9f, new Buf(8))).toBe(err('ENOTTY'))
  })
  it('a known nr with size/direction bits or another type byte is not the table entry: ENOTTY', () => {
    const t = selftest()
    const iowr = ((3 << 30) | (40 << 16) | 0x3b85) >>> 0
    expect(t.ioctl(iowr, new Buf(40))).toBe(err('ENOTTY'))
    expect(t.ioctl(0x1285, new Buf(40))).toBe(err('ENOTTY'))
  })
  it('IOMMU_TEST_CMD exists only with a selftest-capable IOMMU (CONFIG_IOMMUFD_TEST): ENOTTY otherwise', () => {
    const host = createHost({ drivers: [] })
    const proc = host.createProcess()
    const fd = proc.open('/dev/iommu')
    const b = new Buf(72)
    b.u32(4, M.IOMMU_TEST_OP_MOCK_DOMAIN)
    expect(proc.ioctl(fd, C.IOMMU_TEST_CMD, b.bytes)).toBe(err('ENOTTY'))
    // and the regular commands still work
    expect(proc.ioctl(fd, C.IOMMU_IOAS_ALLOC, new Buf(12).bytes)).toBe(0)
  })
  it('an fd that is not open: EBADF', () => {
    const t = selftest()
    expect(t.proc.ioctl(99, C.IOMMU_IOAS_ALLOC, new Buf(12).bytes)).toBe(err('EBADF'))
    expect(t.proc.close(t.fd)).toBe(0)
    expect(t.proc.ioctl(t.fd, C.IOMMU_IOAS_ALLOC, new Buf(12).bytes)).toBe(err('EBADF'))
  })
})

describe('step 2, 4, 5: reading the struct', () => {
  it('an argument too short for the leading u32 size: EFAULT', () => {
    const t = selftest()
    expect(t.proc.ioctl(t.fd, C.IOMMU_IOAS_ALLOC, new Uint8Array(3))).toBe(err('EFAULT'))
  })

  it.each(COMMANDS)('$name: size below the minimum ($min) → EINVAL, nothing written back', ({ request, min }) => {
    const t = selftest()
    const b = new Buf(min - 1, 80)
    b.bytes.fill(0x5a, 4)
    const before = b.bytes.slice()
    expect(t.ioctl(request, b)).toBe(err('EINVAL'))
    expect(b.bytes).toEqual(before)
    expect(t.proc.iommufd(t.fd).snapshot().objects).toEqual([])
  })

  it.each(COMMANDS)('$name: a longer struct with a non-zero byte past the kernel size ($size) → E2BIG', ({ request, size }) => {
    const t = selftest()
    const b = new Buf(size + 8)
    b.u8(size + 5, 1)
    const before = b.bytes.slice()
    expect(t.ioctl(request, b)).toBe(err('E2BIG'))
    expect(b.bytes).toEqual(before)
  })

  it.each(COMMANDS)('$name: size larger than the argument buffer → EFAULT (the bytes are not mapped)', ({ request, size }) => {
    const t = selftest()
    const b = new Buf(size)
    b.size(size + 64)
    expect(t.ioctl(request, b)).toBe(err('EFAULT'))
  })

  it('a longer struct with a zero tail behaves exactly like sizeof; the tail is neither read nor written', () => {
    const t = selftest()
    const exact = new Buf(12)
    expect(t.ioctl(C.IOMMU_IOAS_ALLOC, exact)).toBe(0)
    const long = new Buf(24, 8)
    long.bytes.fill(0xee, 24) // beyond `size`: not part of the struct at all
    expect(t.ioctl(C.IOMMU_IOAS_ALLOC, long)).toBe(0)
    expect(exact.u32(8)).toBe(1)
    expect(long.u32(8)).toBe(2)
    expect([...long.bytes.subarray(12, 24)]).toEqual(new Array(12).fill(0))
    expect([...long.bytes.subarray(24)]).toEqual(new Array(8).fill(0xee))
  })

  it('a shorter struct is zero-extended: HWPT_ALLOC with size 24 ignores bytes past it (they would be a bad data_type)', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const md = t.mockDomain(ioas)
    expect(md.rc).toBe(0)
    const b = new Buf(24, 24)
    b.bytes.fill(0xab, 24)
    b.u32(8, md.idevId)
    b.u32(12, ioas)
    expect(t.ioctl(C.IOMMU_HWPT_ALLOC, b)).toBe(0)
    expect(b.u32(16)).toBe(md.hwptId + 1) // out_hwpt_id written (it is inside the 24 bytes)
    expect([...b.bytes.subarray(24)]).toEqual(new Array(24).fill(0xab)) // min(size, sizeof) written back
  })

  it('write-back is min(size, kernel size): GET_HW_INFO with size 32 gets data_len/type/pasid but not out_capabilities', () => {
    const t = selftest()
    const md = t.mockDomain(t.ioasAlloc())
    const b = new Buf(32, 8)
    b.u32(8, md.idevId)
    b.u64(32, 0x1122_3344_5566_7788n) // beyond size 32: the user's, untouched
    expect(t.ioctl(C.IOMMU_GET_HW_INFO, b)).toBe(0)
    expect(b.u32(12)).toBe(M.IOMMU_TEST_HW_INFO_SIZE)
    expect(b.u32(24)).toBe(M.IOMMU_HW_INFO_TYPE_SELFTEST)
    expect(b.u64(32)).toBe(0x1122_3344_5566_7788n)
  })
})

describe('step 6: outputs on failure', () => {
  it('generally nothing is written back on failure (IOAS_ALLOC with flags, MAP into a missing IOAS)', () => {
    const t = selftest()
    const a = new Buf(12)
    a.u32(4, 1)
    a.u32(8, 0xdead)
    expect(t.ioctl(C.IOMMU_IOAS_ALLOC, a)).toBe(err('EOPNOTSUPP'))
    expect(a.u32(8)).toBe(0xdead)
    const m = new Buf(40)
    m.u32(4, C.IOMMU_IOAS_MAP_READABLE)
    m.u32(8, 77)
    m.u64(16, t.buffer)
    m.u64(24, BUFFER_SIZE)
    m.u64(32, 0x1234n)
    expect(t.ioctl(C.IOMMU_IOAS_MAP, m)).toBe(err('ENOENT'))
    expect(m.u64(32)).toBe(0x1234n)
  })

  it('IOMMU_IOAS_IOVA_RANGES writes the struct back before returning EMSGSIZE (ioas.c)', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const b = new Buf(32)
    b.u32(4, ioas)
    b.u32(8, 0)
    b.u64(24, 0xffn)
    expect(t.ioctl(C.IOMMU_IOAS_IOVA_RANGES, b)).toBe(err('EMSGSIZE'))
    expect(b.u32(8)).toBe(1)
    expect(b.u64(24)).toBe(1n)
  })

  it('IOMMU_HWPT_INVALIDATE always writes entry_num back: 0 when the core refuses first (hw_pagetable.c)', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const md = t.mockDomain(ioas)
    const b = new Buf(32)
    b.u32(4, md.hwptId)
    b.u32(24, 5)
    b.u32(28, 1) // __reserved
    expect(t.ioctl(C.IOMMU_HWPT_INVALIDATE, b)).toBe(err('EOPNOTSUPP'))
    expect(b.u32(24)).toBe(0)
    b.u32(28, 0)
    b.u32(24, 5) // entries without data_uptr
    b.u32(20, 8)
    expect(t.ioctl(C.IOMMU_HWPT_INVALIDATE, b)).toBe(err('EINVAL'))
    expect(b.u32(24)).toBe(0)
    b.u32(4, 1000)
    b.u32(24, 0)
    expect(t.ioctl(C.IOMMU_HWPT_INVALIDATE, b)).toBe(err('ENOENT'))
    b.u32(4, md.hwptId) // a paging HWPT cannot be invalidated
    b.u32(24, 3)
    b.u64(8, t.buffer)
    expect(t.ioctl(C.IOMMU_HWPT_INVALIDATE, b)).toBe(err('EINVAL'))
    expect(b.u32(24)).toBe(0)
  })

  it('IOMMU_TEST_CMD: size 68 (up to `last`) is accepted and only 68 bytes are written back', () => {
    const t = selftest()
    const ioas = t.ioasAlloc()
    const b = new Buf(68, 4)
    b.u32(4, M.IOMMU_TEST_OP_MOCK_DOMAIN)
    b.u32(8, ioas)
    b.u32(68, 0xc0ffee)
    expect(t.ioctl(C.IOMMU_TEST_CMD, b)).toBe(0)
    expect([b.u32(16), b.u32(20), b.u32(24)]).toEqual([2, 4, 3])
    expect(b.u32(68)).toBe(0xc0ffee)
  })
})
