/**
 * The IOMMU_TEST_CMD ops of the kernel's selftest mock (drivers/iommu/iommufd/selftest.c
 * iommufd_test(), reference/mock-driver.md §A.1–§A.10), over core's kernel API: object table,
 * device bind/attach/replace/detach, IommufdAccess, and the mock's own domains and device
 * state. Each op checks in the kernel's order and throws IommufdError with the kernel's errno.
 */
import {
  IOMMU_NO_PASID,
  IommufdAccess,
  fail,
  type Device,
  type HwptPaging,
  type HwptNested,
  type Iommufd,
  type IommufdDevice,
  type SelftestCall,
} from '@iommu-sim/core'
import { MockDeviceState } from '../device-state.js'
import { MockPagingDomain } from '../domains/paging-domain.js'
import { MockNestedDomain } from '../domains/nested-domain.js'
import { MOCK_DEVICE_FLAGS, MOCK_NESTED_DOMAIN_IOTLB_ID_MAX, MOCK_DEV_CACHE_ID_MAX, IOMMU_VEVENTQ_TYPE_SELFTEST } from '../constants.js'
import type { MockIommuUnit } from '../unit.js'
import { SelftestAccessFile, SelftestObject } from './objects.js'
import * as T from './uapi.js'
import { U64_MAX } from '@iommu-sim/core'

/** The ACCESS_PAGES / ACCESS_RW size cap (selftest.c: "Prevent syzkaller from triggering a WARN_ON in kvzalloc()"). */
const ACCESS_LENGTH_MAX = 16n * 1024n * 1024n
/** Mock devices created by MOCK_DOMAIN get ids from here, clear of any realistic BDF/StreamID. */
export const MOCK_SELFTEST_DEVICE_ID_BASE = 0x1_0000

const u32 = (c: DataView, off: number): number => c.getUint32(off, true)
const u64 = (c: DataView, off: number): bigint => c.getBigUint64(off, true)
const setU32 = (c: DataView, off: number, v: number): void => c.setUint32(off, v >>> 0, true)
const setU64 = (c: DataView, off: number, v: bigint): void => c.setBigUint64(off, v & U64_MAX, true)

/** Per-unit selftest state (the module globals of selftest.c). */
export class MockSelftest {
  /** iommufd_test_memory_limit: the batching knob of pages.c (no effect on results here). */
  memoryLimit = 65536

  constructor(readonly unit: MockIommuUnit) {}

  run(call: SelftestCall): number {
    const c = call.cmd
    const op = u32(c, T.TEST_CMD.op)
    switch (op) {
      case T.IOMMU_TEST_OP_ADD_RESERVED:
        return this.addReserved(call)
      case T.IOMMU_TEST_OP_MOCK_DOMAIN:
      case T.IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS:
        return this.mockDomain(call, op === T.IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS ? u32(c, T.TEST_CMD.mock_domain_flags.dev_flags) : 0)
      case T.IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE:
        return this.mockDomainReplace(call)
      case T.IOMMU_TEST_OP_MD_CHECK_MAP:
        return this.checkMap(call)
      case T.IOMMU_TEST_OP_MD_CHECK_REFS:
        return this.checkRefs(call)
      case T.IOMMU_TEST_OP_MD_CHECK_IOTLB:
        return this.checkIotlb(call)
      case T.IOMMU_TEST_OP_DEV_CHECK_CACHE:
        return this.checkDevCache(call)
      case T.IOMMU_TEST_OP_CREATE_ACCESS:
        return this.createAccess(call)
      case T.IOMMU_TEST_OP_ACCESS_REPLACE_IOAS:
        return this.accessReplaceIoas(call)
      case T.IOMMU_TEST_OP_ACCESS_PAGES:
        return this.accessPages(call)
      case T.IOMMU_TEST_OP_ACCESS_RW:
        return this.accessRw(call)
      case T.IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
        return this.destroyAccessPages(call)
      case T.IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT: {
        // "can not be less than elmsz": sizeof(unsigned long) + sizeof(u32)
        const limit = u32(c, T.TEST_CMD.memory_limit.limit)
        if (limit < 12) throw fail('EINVAL', 'SET_TEMP_MEMORY_LIMIT', `limit ${limit} < 12`)
        this.memoryLimit = limit
        return 0
      }
      case T.IOMMU_TEST_OP_DIRTY:
        return this.dirty(call)
      case T.IOMMU_TEST_OP_TRIGGER_IOPF:
        return this.triggerIopf(call)
      case T.IOMMU_TEST_OP_TRIGGER_VEVENT:
        return this.triggerVevent(call)
      case T.IOMMU_TEST_OP_PASID_ATTACH:
        return this.pasidAttach(call, false)
      case T.IOMMU_TEST_OP_PASID_REPLACE:
        return this.pasidAttach(call, true)
      case T.IOMMU_TEST_OP_PASID_DETACH: {
        const sobj = selftestObj(call.ctx, u32(c, T.TEST_CMD.id), 'PASID_DETACH')
        call.ctx.deviceDetach(sobj.idev, u32(c, T.TEST_CMD.pasid_detach.pasid))
        return 0
      }
      case T.IOMMU_TEST_OP_PASID_CHECK_HWPT:
        return this.pasidCheckHwpt(call)
      default:
        // Includes DMABUF_GET / DMABUF_REVOKE: the model has no dma-buf files.
        throw fail('EOPNOTSUPP', 'IOMMU_TEST_CMD', `op ${op} is not supported`)
    }
  }

  /** iommufd_test_add_reserved: length 0 → EINVAL; wrap → EOVERFLOW; IOAS → ENOENT; overlap → EADDRINUSE. */
  private addReserved(call: SelftestCall): number {
    const op = 'ADD_RESERVED'
    const c = call.cmd
    const start = u64(c, T.TEST_CMD.add_reserved.start)
    const length = u64(c, T.TEST_CMD.add_reserved.length)
    if (length === 0n) throw fail('EINVAL', op, 'length is 0')
    const last = start + length - 1n
    if (last > U64_MAX) throw fail('EOVERFLOW', op, 'start + length overflows')
    const ioas = call.ctx.getIoas(u32(c, T.TEST_CMD.id), op)
    ioas.iopt.reserve(start, last, null, op)
    return 0
  }

  /**
   * iommufd_test_mock_domain: reserves the SELFTEST object's id first, creates a mock device
   * (unknown dev_flags → EINVAL), binds it (the DEVICE id), attaches it to `id` (an IOAS or an
   * HWPT; the HWPT actually attached is returned), then publishes the object. Any failure
   * unwinds all of it.
   */
  private mockDomain(call: SelftestCall, devFlags: number): number {
    const op = 'MOCK_DOMAIN'
    const { ctx } = call
    const c = call.cmd
    const ptId = u32(c, T.TEST_CMD.id)
    const stdevId = ctx.objects.reserve(op)
    let dev: Device | undefined
    let idev: IommufdDevice | undefined
    try {
      if ((devFlags & ~MOCK_DEVICE_FLAGS) !== 0) throw fail('EINVAL', op, `unknown mock device flags 0x${devFlags.toString(16)}`)
      dev = ctx.host.addDevice({ iommu: this.unit, id: this.freeDeviceId(ctx), flags: devFlags })
      idev = ctx.deviceBind(dev, op)
      const hwptId = ctx.deviceAttach(idev, ptId, IOMMU_NO_PASID, op)
      const sobj = new SelftestObject(ctx, idev, dev)
      setU32(c, T.TEST_CMD.mock_domain.out_hwpt_id, hwptId)
      setU32(c, T.TEST_CMD.mock_domain.out_stdev_id, stdevId)
      setU32(c, T.TEST_CMD.mock_domain.out_idev_id, idev.id)
      call.respond()
      ctx.objects.publish(stdevId, sobj)
      return 0
    } catch (e) {
      if (idev !== undefined) ctx.deviceUnbind(idev)
      if (dev !== undefined) ctx.host.removeDevice(dev)
      ctx.objects.abandon(stdevId)
      throw e
    }
  }

  private freeDeviceId(ctx: Iommufd): number {
    const used = new Set(ctx.host.devices.filter((d) => d.iommu === this.unit).map((d) => d.id))
    let id = MOCK_SELFTEST_DEVICE_ID_BASE
    while (used.has(id)) id++
    return id
  }

  /** iommufd_test_mock_domain_replace: replaces the RID attachment; returns the HWPT in pt_id. */
  private mockDomainReplace(call: SelftestCall): number {
    const op = 'MOCK_DOMAIN_REPLACE'
    const c = call.cmd
    const sobj = selftestObj(call.ctx, u32(c, T.TEST_CMD.id), op)
    const hwptId = call.ctx.deviceReplace(sobj.idev, u32(c, T.TEST_CMD.mock_domain_replace.pt_id), IOMMU_NO_PASID, op)
    setU32(c, T.TEST_CMD.mock_domain_replace.pt_id, hwptId)
    return 0
  }

  /**
   * iommufd_test_md_check_pa: `id` must be a mock paging HWPT (ENOENT / EINVAL); iova, length
   * and uptr multiples of the domain's smallest page (EINVAL); every page of the domain must
   * translate to the physical address behind the user VA (EINVAL; EFAULT when unmapped).
   */
  private checkMap(call: SelftestCall): number {
    const op = 'MD_CHECK_MAP'
    const c = call.cmd
    const domain = mockPaging(call.ctx, u32(c, T.TEST_CMD.id), op)
    let iova = u64(c, T.TEST_CMD.check_map.iova)
    let length = u64(c, T.TEST_CMD.check_map.length)
    let uptr = u64(c, T.TEST_CMD.check_map.uptr)
    const pageSize = domain.pgsizeBitmap & -domain.pgsizeBitmap
    if (iova % pageSize !== 0n || length % pageSize !== 0n || uptr % pageSize !== 0n || uptr + length > U64_MAX) {
      throw fail('EINVAL', op, 'iova, length or uptr not aligned to the domain page size, or uptr + length overflows')
    }
    const ps = BigInt(call.ctx.host.pageSize)
    for (; length > 0n; length -= pageSize, iova += pageSize, uptr += pageSize) {
      const pfn = call.proc.addressSpace.frameOf(uptr - (uptr % ps))
      if (pfn === undefined) throw fail('EFAULT', op, `user address 0x${uptr.toString(16)} is not mapped`)
      const expect = BigInt(pfn) * ps + (uptr % ps)
      if (domain.iovaToPhys(iova) !== expect) throw fail('EINVAL', op, `iova 0x${iova.toString(16)} does not translate to the user page`)
    }
    return 0
  }

  /**
   * iommufd_test_md_check_refs: length and uptr page aligned (EINVAL); every page's pin count
   * must equal `refs` (EIO). The kernel skips compound (huge) pages; the model checks every page.
   */
  private checkRefs(call: SelftestCall): number {
    const op = 'MD_CHECK_REFS'
    const c = call.cmd
    let length = u64(c, T.TEST_CMD.check_refs.length)
    let uptr = u64(c, T.TEST_CMD.check_refs.uptr)
    const refs = u32(c, T.TEST_CMD.check_refs.refs)
    const ps = BigInt(call.ctx.host.pageSize)
    if (length % ps !== 0n || uptr % ps !== 0n || uptr + length > U64_MAX) throw fail('EINVAL', op, 'length or uptr not page aligned, or overflow')
    for (; length > 0n; length -= ps, uptr += ps) {
      const pfn = call.proc.addressSpace.frameOf(uptr)
      if (pfn === undefined) throw fail('EFAULT', op, `user address 0x${uptr.toString(16)} is not mapped`)
      const pins = call.ctx.host.frames.pinCount(pfn)
      if (pins !== refs) throw fail('EIO', op, `page at 0x${uptr.toString(16)} has ${pins} pins, expected ${refs}`)
    }
    return 0
  }

  /**
   * iommufd_test_md_check_iotlb: `id` must be an HWPT_NESTED (ENOENT) of the mock (EINVAL);
   * index ≤ MOCK_NESTED_DOMAIN_IOTLB_ID_MAX and the entry equal to `iotlb`, else EINVAL.
   */
  private checkIotlb(call: SelftestCall): number {
    const op = 'MD_CHECK_IOTLB'
    const c = call.cmd
    const hwpt = call.ctx.objects.get<HwptNested>(u32(c, T.TEST_CMD.id), 'HWPT_NESTED', op)
    if (!(hwpt.domain instanceof MockNestedDomain)) throw fail('EINVAL', op, `HWPT ${hwpt.id} is not a mock nested domain`)
    const iotlb = hwpt.domain.iotlb
    const index = u32(c, T.TEST_CMD.check_iotlb.id)
    if (index > MOCK_NESTED_DOMAIN_IOTLB_ID_MAX || iotlb[index] !== u32(c, T.TEST_CMD.check_iotlb.iotlb)) throw fail('EINVAL', op, `iotlb[${index}] mismatch`)
    return 0
  }

  /** iommufd_test_dev_check_cache: `id` is a DEVICE (ENOENT); index ≤ 3 and cache[index] == `cache`, else EINVAL. */
  private checkDevCache(call: SelftestCall): number {
    const op = 'DEV_CHECK_CACHE'
    const c = call.cmd
    const idev = call.ctx.getDevice(u32(c, T.TEST_CMD.id), op)
    const st = idev.dev.driverData
    // The kernel assumes a mock device; a device of another driver has no cache to compare.
    if (!(st instanceof MockDeviceState)) throw fail('EINVAL', op, 'not a mock device')
    const index = u32(c, T.TEST_CMD.check_dev_cache.id)
    if (index > MOCK_DEV_CACHE_ID_MAX || st.cache[index] !== u32(c, T.TEST_CMD.check_dev_cache.cache)) throw fail('EINVAL', op, `cache[${index}] mismatch`)
    return 0
  }

  /**
   * iommufd_test_create_access: flags ⊆ {NEEDS_PIN_PAGES} (EOPNOTSUPP); an ACCESS object is
   * created (its id is consumed) and attached to IOAS `id` (ENOENT / EADDRINUSE: the access is
   * destroyed again); the access fd is returned in out_access_fd.
   */
  private createAccess(call: SelftestCall): number {
    const op = 'CREATE_ACCESS'
    const c = call.cmd
    const flags = u32(c, T.TEST_CMD.create_access.flags)
    if ((flags & ~T.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) !== 0) throw fail('EOPNOTSUPP', op, `unknown flags 0x${flags.toString(16)}`)
    const file = new SelftestAccessFile((flags & T.MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) !== 0)
    const access = IommufdAccess.create(call.ctx, { needsPinPages: file.needsPinPages, unmap: (iova, length) => file.unmap(iova, length) })
    try {
      access.attach(u32(c, T.TEST_CMD.id))
    } catch (e) {
      access.destroyAccess()
      throw e
    }
    file.access = access
    const fd = call.proc.installFile(file)
    setU32(c, T.TEST_CMD.create_access.out_access_fd, fd)
    return 0
  }

  private accessReplaceIoas(call: SelftestCall): number {
    const c = call.cmd
    const file = accessFile(call, u32(c, T.TEST_CMD.id))
    file.access!.replace(u32(c, T.TEST_CMD.access_replace_ioas.ioas_id))
    return 0
  }

  /**
   * iommufd_test_access_pages: length > 16 MiB → ENOMEM; flags ⊆ {WRITE, SYZ} (EOPNOTSUPP); the
   * fd must be an access fd (EBADFD) made with NEEDS_PIN_PAGES (EOPNOTSUPP); pins, and when
   * uptr != 0 checks every pinned page is the page behind uptr (EBADE); returns an item id.
   */
  private accessPages(call: SelftestCall): number {
    const op = 'ACCESS_PAGES'
    const c = call.cmd
    const length = u64(c, T.TEST_CMD.access_pages.length)
    const flags = u32(c, T.TEST_CMD.access_pages.flags)
    if (length > ACCESS_LENGTH_MAX) throw fail('ENOMEM', op, 'length > 16 MiB')
    if ((flags & ~(T.MOCK_FLAGS_ACCESS_WRITE | T.MOCK_FLAGS_ACCESS_SYZ)) !== 0) throw fail('EOPNOTSUPP', op, `unknown flags 0x${flags.toString(16)}`)
    const file = accessFile(call, u32(c, T.TEST_CMD.id))
    const access = file.access!
    if (!file.needsPinPages) throw fail('EOPNOTSUPP', op, 'the access was created without NEEDS_PIN_PAGES')
    let iova = u64(c, T.TEST_CMD.access_pages.iova)
    if (flags & T.MOCK_FLAGS_ACCESS_SYZ) {
      iova = syzConvIova(access, iova)
      setU64(c, T.TEST_CMD.access_pages.iova, iova)
    }
    const pfns = access.pinPages(iova, length, flags & T.MOCK_FLAGS_ACCESS_WRITE)
    const uptr = u64(c, T.TEST_CMD.access_pages.uptr)
    if (uptr !== 0n) {
      const ps = BigInt(call.ctx.host.pageSize)
      const base = uptr - (iova % ps)
      try {
        pfns.forEach((pfn, i) => {
          const va = base + BigInt(i) * ps
          const got = call.proc.addressSpace.frameOf(va)
          if (got === undefined) throw fail('EFAULT', op, `user address 0x${va.toString(16)} is not mapped`)
          if (got !== pfn) throw fail('EBADE', op, `page ${i} is not the page behind the user address`)
        })
      } catch (e) {
        access.unpinPages(iova, length)
        throw e
      }
    }
    const id = file.nextId
    file.nextId = (file.nextId + 1) >>> 0
    file.items.push({ iova, length, id })
    setU32(c, T.TEST_CMD.access_pages.out_access_pages_id, id)
    return 0
  }

  /**
   * iommufd_test_access_rw: length > 16 MiB → ENOMEM; flags ⊆ {WRITE, SLOW_PATH, SYZ}
   * (EOPNOTSUPP); access fd (EBADFD); for a write the user buffer is read first (EFAULT); then
   * iommufd_access_rw; for a read the result is copied to the user buffer (EFAULT).
   */
  private accessRw(call: SelftestCall): number {
    const op = 'ACCESS_RW'
    const c = call.cmd
    const length = u64(c, T.TEST_CMD.access_rw.length)
    const flags = u32(c, T.TEST_CMD.access_rw.flags)
    if (length > ACCESS_LENGTH_MAX) throw fail('ENOMEM', op, 'length > 16 MiB')
    if ((flags & ~(T.MOCK_ACCESS_RW_WRITE | T.MOCK_ACCESS_RW_SLOW_PATH | T.MOCK_FLAGS_ACCESS_SYZ)) !== 0) {
      throw fail('EOPNOTSUPP', op, `unknown flags 0x${flags.toString(16)}`)
    }
    const file = accessFile(call, u32(c, T.TEST_CMD.id))
    const access = file.access!
    const ubuf = u64(c, T.TEST_CMD.access_rw.uptr)
    const write = (flags & T.MOCK_ACCESS_RW_WRITE) !== 0
    const tmp = write ? call.memory.read(ubuf, Number(length)) : new Uint8Array(Number(length))
    let iova = u64(c, T.TEST_CMD.access_rw.iova)
    if (flags & T.MOCK_FLAGS_ACCESS_SYZ) {
      iova = syzConvIova(access, iova)
      setU64(c, T.TEST_CMD.access_rw.iova, iova)
    }
    access.rw(iova, tmp, write ? T.MOCK_ACCESS_RW_WRITE : 0)
    if (!write) call.memory.write(ubuf, tmp)
    return 0
  }

  /** iommufd_test_access_item_destroy: access fd (EBADFD); unknown item → ENOENT. */
  private destroyAccessPages(call: SelftestCall): number {
    const c = call.cmd
    const file = accessFile(call, u32(c, T.TEST_CMD.id))
    const id = u32(c, T.TEST_CMD.destroy_access_pages.access_pages_id)
    const i = file.items.findIndex((it) => it.id === id)
    if (i < 0) throw fail('ENOENT', 'DESTROY_ACCESS_PAGES', `no item ${id}`)
    const [item] = file.items.splice(i, 1)
    file.access!.unpinPages(item!.iova, item!.length)
    return 0
  }

  /**
   * iommufd_test_dirty: page_size and length non-zero, iova and length multiples of page_size,
   * a bitmap pointer (EINVAL); a mock paging HWPT (ENOENT / EINVAL) with dirty tracking on
   * (EINVAL); the bitmap is read (EFAULT); every set bit marks the IOPTE covering that page
   * dirty. out_nr_dirty = number of set bits.
   */
  private dirty(call: SelftestCall): number {
    const op = 'DIRTY'
    const c = call.cmd
    const iova = u64(c, T.TEST_CMD.dirty.iova)
    const length = u64(c, T.TEST_CMD.dirty.length)
    const pageSize = u64(c, T.TEST_CMD.dirty.page_size)
    const uptr = u64(c, T.TEST_CMD.dirty.uptr)
    if (pageSize === 0n || length === 0n || iova % pageSize !== 0n || length % pageSize !== 0n || uptr === 0n) {
      throw fail('EINVAL', op, 'bad page_size, length, iova or bitmap pointer')
    }
    const domain = mockPaging(call.ctx, u32(c, T.TEST_CMD.id), op)
    if (domain.dirtyOps === undefined || !domain.trackingEnabled) throw fail('EINVAL', op, 'dirty tracking is not enabled')
    const max = length / pageSize
    const bitmap = call.memory.read(uptr, Number((max + 7n) / 8n))
    let count = 0n
    for (let i = 0n; i < max; i++) {
      if ((bitmap[Number(i >> 3n)]! & (1 << Number(i & 7n))) === 0) continue
      const cur = iova + i * pageSize
      if (cur < 1n << 53n) domain.pt.markDirty(Number(cur))
      count++
    }
    setU64(c, T.TEST_CMD.dirty.out_nr_dirty, count)
    return 0
  }

  /**
   * iommufd_test_trigger_iopf: a one-request page-request group (LAST_PAGE, PASID_VALID when
   * pasid != 0) reported for the device. The kernel ignores the report's outcome: 0 whenever
   * the device exists (ENOENT otherwise).
   */
  private triggerIopf(call: SelftestCall): number {
    const c = call.cmd
    const idev = call.ctx.getDevice(u32(c, T.TEST_CMD.trigger_iopf.dev_id), 'TRIGGER_IOPF')
    const pasid = u32(c, T.TEST_CMD.trigger_iopf.pasid)
    call.ctx.reportPageRequest(idev.dev, pasid === IOMMU_NO_PASID ? undefined : pasid, {
      grpid: u32(c, T.TEST_CMD.trigger_iopf.grpid),
      perm: u32(c, T.TEST_CMD.trigger_iopf.perm),
      addr: u64(c, T.TEST_CMD.trigger_iopf.addr),
      last: true,
    })
    return 0
  }

  /**
   * iommufd_test_trigger_vevent: the device (ENOENT) must be attached to a vIOMMU-based nested
   * domain with a vDEVICE (ENOENT otherwise); the event { virt_id } goes to the vIOMMU's
   * selftest vEVENTQ (EOPNOTSUPP when there is none).
   */
  private triggerVevent(call: SelftestCall): number {
    const op = 'TRIGGER_VEVENT'
    const idev = call.ctx.getDevice(u32(call.cmd, T.TEST_CMD.trigger_vevent.dev_id), op)
    const st = idev.dev.driverData
    if (!(st instanceof MockDeviceState) || st.viommu === undefined || st.vdevId === 0n) throw fail('ENOENT', op, 'the device is not attached through a vIOMMU')
    const event = new Uint8Array(4)
    new DataView(event.buffer).setUint32(0, Number(st.vdevId & 0xffff_ffffn), true)
    st.viommu.reportEvent(IOMMU_VEVENTQ_TYPE_SELFTEST, event)
    return 0
  }

  /** iommufd_test_pasid_attach / _replace: `id` is the SELFTEST object; returns the HWPT in pt_id. */
  private pasidAttach(call: SelftestCall, replace: boolean): number {
    const op = replace ? 'PASID_REPLACE' : 'PASID_ATTACH'
    const c = call.cmd
    const sobj = selftestObj(call.ctx, u32(c, T.TEST_CMD.id), op)
    const pasid = u32(c, T.TEST_CMD.pasid_attach.pasid)
    const ptId = u32(c, T.TEST_CMD.pasid_attach.pt_id)
    const hwptId = replace ? call.ctx.deviceReplace(sobj.idev, ptId, pasid, op) : call.ctx.deviceAttach(sobj.idev, ptId, pasid, op)
    setU32(c, T.TEST_CMD.pasid_attach.pt_id, hwptId)
    return 0
  }

  /**
   * iommufd_test_pasid_check_hwpt: hwpt_id 0 checks that the PASID is detached; otherwise
   * `hwpt_id` (ENOENT) must be an HWPT (EINVAL) whose domain is the one attached (EINVAL).
   */
  private pasidCheckHwpt(call: SelftestCall): number {
    const op = 'PASID_CHECK_HWPT'
    const c = call.cmd
    const sobj = selftestObj(call.ctx, u32(c, T.TEST_CMD.id), op)
    const pasid = u32(c, T.TEST_CMD.pasid_check.pasid)
    const hwptId = u32(c, T.TEST_CMD.pasid_check.hwpt_id)
    const attached = sobj.idev.group.pasidAttach.get(pasid)?.hwpt.domain
    if (hwptId === 0) {
      if (attached !== undefined) throw fail('EINVAL', op, `PASID ${pasid} is attached`)
      return 0
    }
    const obj = call.ctx.objects.get(hwptId, undefined, op)
    if (obj.type !== 'HWPT_PAGING' && obj.type !== 'HWPT_NESTED') throw fail('EINVAL', op, `object ${hwptId} is a ${obj.type}`)
    if (attached !== (obj as HwptPaging).domain) throw fail('EINVAL', op, `PASID ${pasid} is not attached to HWPT ${hwptId}`)
    return 0
  }
}

/** iommufd_test_get_selftest_obj: `id` must be a SELFTEST object (ENOENT). */
function selftestObj(ctx: Iommufd, id: number, op: string): SelftestObject {
  const obj = ctx.objects.get(id, 'SELFTEST', op)
  if (!(obj instanceof SelftestObject)) throw fail('EINVAL', op, `object ${id} is not a mock device object`)
  return obj
}

/** get_md_pagetable: an HWPT_PAGING (ENOENT) whose domain is a mock paging domain (EINVAL). */
function mockPaging(ctx: Iommufd, id: number, op: string): MockPagingDomain {
  const hwpt = ctx.objects.get<HwptPaging>(id, 'HWPT_PAGING', op)
  if (!(hwpt.domain instanceof MockPagingDomain)) throw fail('EINVAL', op, `HWPT ${id} is not a mock paging domain`)
  return hwpt.domain
}

/** iommufd_access_get: the fd must be open and an access fd of the selftest, else EBADFD. */
function accessFile(call: SelftestCall, fd: number): SelftestAccessFile {
  const f = call.proc.files.get(fd)
  if (!(f instanceof SelftestAccessFile) || f.access === undefined) throw fail('EBADFD', 'IOMMU_TEST_CMD', `fd ${fd} is not a selftest access fd`)
  return f
}

/**
 * iommufd_test_syz_conv_iova: with MOCK_FLAGS_ACCESS_SYZ the u64 iova is {u32 nth_area;
 * u32 offset}: the nth area's IOVA plus the offset (0 when there is no such area).
 */
function syzConvIova(access: IommufdAccess, raw: bigint): bigint {
  const nth = Number(raw & 0xffff_ffffn)
  const offset = raw >> 32n
  const area = access.ioas?.iopt.areas[nth]
  return area === undefined ? 0n : (area.iova + offset) & U64_MAX
}
