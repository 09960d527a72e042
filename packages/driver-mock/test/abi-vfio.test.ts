/**
 * The VFIO device cdev through raw ioctls: VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_ATTACH_IOMMUFD_PT
 * (with VFIO_DEVICE_ATTACH_PASID) and VFIO_DEVICE_DETACH_IOMMUFD_PT, with VFIO's argsz/flags
 * rules (drivers/vfio/device_cdev.c, vfio_main.c; include/uapi/linux/vfio.h; reference
 * iommufd-uapi.md §3.1, §3.5).
 */
import { describe, expect, it } from 'vitest'
import * as C from '@iommu-sim/core'
import * as M from '../src/index.js'
import { Buf, err, PAGE_SIZE, selftest } from './abi-helpers.js'

function vfioWorld(flags = 0) {
  const t = selftest()
  const dev = t.host.addDevice({ iommu: t.host.iommus[0]!, id: 0x10, flags })
  const vfd = t.proc.open(dev.cdevPath)
  expect(vfd).toBeGreaterThan(t.fd)
  const v = (request: number, b: Buf): number => t.proc.ioctl(vfd, request, b.bytes)
  const bind = (iommufd = t.fd, argsz = 16, flags = 0): { rc: number; devId: number; b: Buf } => {
    const b = new Buf(argsz < 16 ? 16 : argsz)
    b.size(argsz)
    b.u32(4, flags)
    b.s32(8, iommufd)
    b.u32(12, 0xdead)
    const rc = v(C.VFIO_DEVICE_BIND_IOMMUFD, b)
    return { rc, devId: b.u32(12), b }
  }
  const attach = (ptId: number, pasid?: number, argsz?: number): { rc: number; ptId: number } => {
    const b = new Buf(16)
    b.size(argsz ?? (pasid === undefined ? 12 : 16))
    b.u32(4, pasid === undefined ? 0 : C.VFIO_DEVICE_ATTACH_PASID)
    b.u32(8, ptId)
    b.u32(12, pasid ?? 0)
    const rc = v(C.VFIO_DEVICE_ATTACH_IOMMUFD_PT, b)
    return { rc, ptId: b.u32(8) }
  }
  const detach = (pasid?: number, argsz?: number): number => {
    const b = new Buf(12)
    b.size(argsz ?? (pasid === undefined ? 8 : 12))
    b.u32(4, pasid === undefined ? 0 : C.VFIO_DEVICE_DETACH_PASID)
    b.u32(8, pasid ?? 0)
    return v(C.VFIO_DEVICE_DETACH_IOMMUFD_PT, b)
  }
  return { ...t, dev, vfd, v, bind, attach, detach }
}

describe('VFIO_DEVICE_BIND_IOMMUFD', () => {
  it('binds and writes back out_devid only', () => {
    const w = vfioWorld()
    const ioas = w.ioasAlloc()
    const r = w.bind()
    expect(r.rc).toBe(0)
    expect(r.devId).toBe(ioas + 1)
    expect(w.bind().rc).toBe(err('EINVAL')) // one device cannot be bound twice
  })
  it('argsz and flags rules; the token_uuid_ptr extension (6.17+) is copied with the extensible-struct rules', () => {
    const w = vfioWorld()
    expect(w.proc.ioctl(w.vfd, C.VFIO_DEVICE_BIND_IOMMUFD, new Uint8Array(2))).toBe(err('EFAULT'))
    expect(w.bind(w.fd, 15).rc).toBe(err('EINVAL'))
    expect(w.bind(-1).rc).toBe(err('EINVAL'))
    expect(w.bind(w.fd, 16, 2).rc).toBe(err('EINVAL'))
    const long = new Buf(32)
    long.s32(8, w.fd)
    long.u8(30, 1)
    expect(w.v(C.VFIO_DEVICE_BIND_IOMMUFD, long)).toBe(err('E2BIG'))
    const big = new Buf(16)
    big.size(64)
    expect(w.v(C.VFIO_DEVICE_BIND_IOMMUFD, big)).toBe(err('EFAULT'))
    // A VF token: read (EFAULT when unmapped), then refused — the model has no SR-IOV PF/VF pairs.
    const tok = new Buf(24)
    tok.u32(4, C.VFIO_DEVICE_BIND_FLAG_TOKEN)
    tok.s32(8, w.fd)
    tok.u64(16, 0x10n)
    expect(w.v(C.VFIO_DEVICE_BIND_IOMMUFD, tok)).toBe(err('EFAULT'))
    tok.u64(16, w.proc.mmap(PAGE_SIZE))
    expect(w.v(C.VFIO_DEVICE_BIND_IOMMUFD, tok)).toBe(err('EINVAL'))
    // the iommufd must be an open fd (EBADF) of /dev/iommu (EBADFD)
    expect(w.bind(77).rc).toBe(err('EBADF'))
    expect(w.bind(w.vfd).rc).toBe(err('EBADFD'))
    // nothing of the above bound the device
    expect(w.proc.iommufd(w.fd).snapshot().objects).toEqual([])
    expect(w.bind(w.fd, 24).rc).toBe(0)
  })
  it('before BIND every other request is EINVAL; after it, requests VFIO does not know go to the driver: ENOTTY', () => {
    const w = vfioWorld()
    expect(w.attach(1).rc).toBe(err('EINVAL'))
    expect(w.detach()).toBe(err('EINVAL'))
    expect(w.v(0x3b6b /* VFIO_DEVICE_GET_INFO */, new Buf(16))).toBe(err('EINVAL'))
    expect(w.bind().rc).toBe(0)
    expect(w.v(0x3b6b, new Buf(16))).toBe(err('ENOTTY'))
    // iommufd requests on the device fd, and VFIO requests on the iommufd, are unknown there
    expect(w.v(C.IOMMU_IOAS_ALLOC, new Buf(12))).toBe(err('ENOTTY'))
    expect(w.ioctl(C.VFIO_DEVICE_BIND_IOMMUFD, new Buf(16))).toBe(err('ENOTTY'))
  })
})

describe('VFIO_DEVICE_ATTACH_IOMMUFD_PT / DETACH', () => {
  it('attach to an IOAS returns the auto HWPT in pt_id; a second attach replaces; DMA goes through it', () => {
    const w = vfioWorld()
    const ioas = w.ioasAlloc()
    const { devId } = w.bind()
    const a = w.attach(ioas)
    expect(a).toEqual({ rc: 0, ptId: devId + 1 })
    const m = w.map(ioas, w.buffer, PAGE_SIZE)
    expect(m.rc).toBe(0)
    w.proc.memory.write(w.buffer, new TextEncoder().encode('iommufd'))
    expect(new TextDecoder().decode(w.dev.dmaRead(m.iova, 7))).toBe('iommufd')
    const h = w.hwptAlloc(devId, ioas)
    expect(h.rc).toBe(0)
    expect(w.attach(h.id)).toEqual({ rc: 0, ptId: h.id }) // replace
    expect(w.destroy(a.ptId)).toBe(err('ENOENT')) // the auto HWPT is gone
    expect(new TextDecoder().decode(w.dev.dmaRead(m.iova, 7))).toBe('iommufd')
    expect(w.detach()).toBe(0)
    expect(w.detach()).toBe(0) // not attached: nothing to do
    expect(() => w.dev.dmaRead(m.iova, 1)).toThrow(C.DmaFault)
    expect(w.attach(99).rc).toBe(err('ENOENT'))
    expect(w.attach(devId).rc).toBe(err('EINVAL')) // a DEVICE is not a page table
  })
  it('argsz and flags rules; only pt_id is written back', () => {
    const w = vfioWorld()
    const ioas = w.ioasAlloc()
    w.bind()
    expect(w.proc.ioctl(w.vfd, C.VFIO_DEVICE_ATTACH_IOMMUFD_PT, new Uint8Array(8))).toBe(err('EFAULT'))
    expect(w.attach(ioas, undefined, 11).rc).toBe(err('EINVAL'))
    const b = new Buf(16)
    b.size(12)
    b.u32(4, 2)
    b.u32(8, ioas)
    expect(w.v(C.VFIO_DEVICE_ATTACH_IOMMUFD_PT, b)).toBe(err('EINVAL'))
    expect(w.attach(ioas, 5, 12).rc).toBe(err('EINVAL')) // PASID flag needs argsz to cover pasid
    const ok = new Buf(16)
    ok.size(12)
    ok.u32(8, ioas)
    ok.u32(12, 0xfeed) // beyond argsz, untouched
    expect(w.v(C.VFIO_DEVICE_ATTACH_IOMMUFD_PT, ok)).toBe(0)
    expect(ok.u32(12)).toBe(0xfeed)
    expect(w.detach(undefined, 7)).toBe(err('EINVAL'))
    expect(w.detach(3, 8)).toBe(err('EINVAL'))
    const d = new Buf(12)
    d.size(8)
    d.u32(4, 4)
    expect(w.v(C.VFIO_DEVICE_DETACH_IOMMUFD_PT, d)).toBe(err('EINVAL'))
  })
  it('PASID attach: needs a PASID-capable device (EOPNOTSUPP) and a PASID-compatible HWPT (EINVAL)', () => {
    const plain = vfioWorld()
    const ioas0 = plain.ioasAlloc()
    plain.bind()
    expect(plain.attach(ioas0, 5).rc).toBe(err('EOPNOTSUPP'))
    const w = vfioWorld(M.MOCK_FLAGS_DEVICE_PASID)
    const ioas = w.ioasAlloc()
    const { devId } = w.bind()
    expect(w.attach(ioas, 5).rc).toBe(err('EINVAL')) // auto HWPTs are never PASID-compatible
    const h = w.hwptAlloc(devId, ioas, C.IOMMU_HWPT_ALLOC_PASID)
    expect(h.rc).toBe(0)
    expect(w.attach(h.id, 5)).toEqual({ rc: 0, ptId: h.id })
    expect(w.destroy(h.id)).toBe(err('EBUSY'))
    expect(w.detach(5)).toBe(0)
    expect(w.destroy(h.id)).toBe(0)
  })
  it('closing the device fd detaches and unbinds: the DEVICE id is gone', () => {
    const w = vfioWorld()
    const ioas = w.ioasAlloc()
    const { devId } = w.bind()
    expect(w.attach(ioas).rc).toBe(0)
    expect(w.proc.close(w.vfd)).toBe(0)
    expect(w.destroy(devId)).toBe(err('ENOENT'))
    expect(w.destroy(ioas)).toBe(0)
  })
})
