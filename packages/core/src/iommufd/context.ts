/**
 * One open of /dev/iommu (`struct iommufd_ctx`) and its typed API: the semantics of every
 * ioctl live here, once. The ioctl ABI is a codec over these methods.
 */
import * as C from '../uapi/constants.js'
import { fail, IommufdError } from '../errors/iommufd-error.js'
import { ObjectTable } from '../objects/object-table.js'
import { getRef, putRef, type IommufdObject, type ObjectType } from '../objects/object.js'
import type { Host } from '../host/host.js'
import type { Process } from '../host/process.js'
import type { Device } from '../host/device.js'
import { Pages } from '../ioas/pages.js'
import { U64, type IovaRange } from '../ioas/ranges.js'
import { UserData, UserDataArray } from '../driver/user-data.js'
import { USER_COPY_LIMIT } from '../abi/user-memory.js'
import { Ioas } from './ioas.js'
import { HwptNested, HwptPaging, type Hwpt } from './hwpt.js'
import { HwQueue, HwQueueAccess, Vdevice, Viommu, type MmapRegion, type ViommuHost } from './viommu.js'
import { EventQueueFile, FaultQueue, Veventq, type PageRequest } from './eventq.js'
import { AttachEngine, GroupRecord, IommufdDevice } from './device.js'
import type * as T from './types.js'

const ULONG_MAX = U64
const SIZE_MAX = U64

const MAP_FLAGS = C.IOMMU_IOAS_MAP_FIXED_IOVA | C.IOMMU_IOAS_MAP_WRITEABLE | C.IOMMU_IOAS_MAP_READABLE
const PAGING_FLAGS = C.IOMMU_HWPT_ALLOC_NEST_PARENT | C.IOMMU_HWPT_ALLOC_DIRTY_TRACKING | C.IOMMU_HWPT_FAULT_ID_VALID | C.IOMMU_HWPT_ALLOC_PASID

function u64(v: T.U64Input, op: string, what: string): bigint {
  const b = typeof v === 'bigint' ? v : Number.isInteger(v) ? BigInt(v) : NaN
  if (typeof b !== 'bigint' || b < 0n || b > U64) throw fail('EINVAL', op, `${what} is not a u64`)
  return b
}

function defaultMapFlags(flags: number | undefined, fixed: boolean): number {
  return flags ?? C.IOMMU_IOAS_MAP_READABLE | C.IOMMU_IOAS_MAP_WRITEABLE | (fixed ? C.IOMMU_IOAS_MAP_FIXED_IOVA : 0)
}

/** IOMMU_READ/WRITE/CACHE from IOMMU_IOAS_MAP_* flags (conv_iommu_prot). */
function mapProt(flags: number): number {
  let prot = C.IOMMU_CACHE
  if (flags & C.IOMMU_IOAS_MAP_READABLE) prot |= C.IOMMU_READ
  if (flags & C.IOMMU_IOAS_MAP_WRITEABLE) prot |= C.IOMMU_WRITE
  return prot
}

export interface ObjectSnapshot {
  readonly id: number
  readonly type: ObjectType
  readonly users: number
}

/** Everything a failed call must leave unchanged: objects, areas, reservations, alignment, pins. */
export interface ContextSnapshot {
  readonly objects: readonly ObjectSnapshot[]
  readonly ioas: readonly {
    readonly id: number
    readonly areas: readonly { readonly iova: bigint; readonly last: bigint; readonly prot: number }[]
    readonly reserved: readonly IovaRange[]
    readonly allowed: readonly IovaRange[]
    readonly iovaAlignment: number
    readonly domains: number
  }[]
  readonly attachments: readonly { readonly devId: number; readonly pasid: number; readonly hwptId: number }[]
  readonly pins: number
}

export class Iommufd {
  readonly objects = new ObjectTable()
  readonly groups = new Map<number, GroupRecord>()
  /** RLIMIT accounting mode: 'user' (default) or 'mm' (per process). */
  accountMode: 'user' | 'mm' = 'user'
  /** The IOAS used by the legacy VFIO container emulation. */
  vfioIoas: Ioas | undefined
  readonly attachEngine: AttachEngine
  /** Open files and bound devices keeping the context alive. */
  private holders = 1
  private closed = false

  constructor(
    readonly host: Host,
    readonly process: Process,
  ) {
    this.attachEngine = new AttachEngine(
      (idev, pasid, ioas, immediate, op) => this.allocHwptPaging(idev, ioas, pasid, 0, immediate, undefined, true, op),
      (hwpt) => this.objects.remove(hwpt, false),
    )
    this.viommuHost = {
      pageSize: host.pageSize,
      allocMmapOffset: (region) => {
        // Page-aligned offsets, skipping the first page.
        const ps = BigInt(this.host.pageSize)
        let off = ps
        for (;;) {
          const clash = [...this.mmapRegions].some(([o, r]) => off < o + BigInt(r.length) && o < off + BigInt(region.length))
          if (!clash) break
          off += ps
        }
        this.mmapRegions.set(off, region)
        return off
      },
      freeMmapOffset: (offset) => {
        this.mmapRegions.delete(offset)
      },
    }
  }

  // ---- lifetime ----------------------------------------------------------------------------

  /** Another holder of the context (an event-queue fd, a bound VFIO device). */
  hold(): void {
    this.holders++
  }

  /** Drops a holder; the last one destroys every object (context close). */
  release(): void {
    if (--this.holders > 0 || this.closed) return
    this.closed = true
    this.objects.destroyAll()
  }

  get isClosed(): boolean {
    return this.closed
  }

  // ---- IOMMU_DESTROY --------------------------------------------------------------------------

  destroy(req: number | { readonly id: number }): void {
    const id = typeof req === 'number' ? req : req.id
    this.objects.destroyUser(id, 'IOMMU_DESTROY')
  }

  // ---- IOAS -----------------------------------------------------------------------------------

  ioasAlloc(req: T.IoasAllocRequest = {}): T.IoasAllocResponse {
    const op = 'IOMMU_IOAS_ALLOC'
    if ((req.flags ?? 0) !== 0) throw fail('EOPNOTSUPP', op, 'flags must be 0')
    const ioas = this.objects.create(op, () => this.newIoas())
    return { outIoasId: ioas.id }
  }

  private newIoas(): Ioas {
    return new Ioas({ pageSize: this.host.pageSize, maxAutoAlignment: this.host.maxAutoIovaAlignment }, (ioas) => {
      if (this.vfioIoas === ioas) this.vfioIoas = undefined
    })
  }

  getIoas(id: number, op: string): Ioas {
    return this.objects.get<Ioas>(id, 'IOAS', op)
  }

  ioasMap(req: T.IoasMapRequest): T.IoasMapResponse {
    const op = 'IOMMU_IOAS_MAP'
    const flags = defaultMapFlags(req.flags, req.iova !== undefined)
    const iovaIn = u64(req.iova ?? 0, op, 'iova')
    const length = u64(req.length, op, 'length')
    const userVa = u64(req.userVa, op, 'userVa')
    if ((flags & ~MAP_FLAGS) !== 0) throw fail('EOPNOTSUPP', op, `unknown flags 0x${flags.toString(16)}`)
    if (iovaIn >= ULONG_MAX || length >= ULONG_MAX) throw fail('EOVERFLOW', op, 'iova or length ≥ ULONG_MAX')
    if ((flags & (C.IOMMU_IOAS_MAP_READABLE | C.IOMMU_IOAS_MAP_WRITEABLE)) === 0) throw fail('EINVAL', op, 'neither READABLE nor WRITEABLE')
    const ioas = this.getIoas(req.ioasId, op)
    // iopt_alloc_user_pages / iopt_alloc_pages
    if (userVa + length > ULONG_MAX) throw fail('EOVERFLOW', op, 'user_va + length overflows')
    if (length === 0n || length > SIZE_MAX - BigInt(this.host.pageSize)) throw fail('EINVAL', op, 'length is 0 or too large')
    const pages = this.userPages(userVa, length, (flags & C.IOMMU_IOAS_MAP_WRITEABLE) !== 0)
    const iova = ioas.iopt.mapPages(
      [{ pages, startByte: userVa - pages.uptr, length }],
      length,
      flags & C.IOMMU_IOAS_MAP_FIXED_IOVA ? iovaIn : undefined,
      mapProt(flags),
      op,
    )
    return { iova }
  }

  /** A pages object over [userVa, userVa + length) of this context's process. */
  private userPages(userVa: bigint, length: bigint, writable: boolean): Pages {
    const ps = BigInt(this.host.pageSize)
    const uptr = userVa - (userVa % ps)
    const npages = Number((userVa + length - uptr + ps - 1n) / ps)
    return new Pages(this.process.addressSpace, this.host.frames, uptr, npages, writable)
  }

  ioasUnmap(req: T.IoasUnmapRequest): T.IoasUnmapResponse {
    const op = 'IOMMU_IOAS_UNMAP'
    const iova = u64(req.iova, op, 'iova')
    const length = u64(req.length, op, 'length')
    const ioas = this.getIoas(req.ioasId, op)
    if (iova === 0n && length === U64) return { length: ioas.iopt.unmapAll(op) }
    if (iova >= ULONG_MAX || length >= ULONG_MAX) throw fail('EOVERFLOW', op, 'iova or length ≥ ULONG_MAX')
    if (length === 0n) throw fail('EINVAL', op, 'length is 0')
    const last = iova + length - 1n
    if (last > ULONG_MAX) throw fail('EOVERFLOW', op, 'iova + length overflows')
    return { length: ioas.iopt.unmapRange(iova, last, op) }
  }

  ioasCopy(req: T.IoasCopyRequest): T.IoasCopyResponse {
    const op = 'IOMMU_IOAS_COPY'
    const flags = defaultMapFlags(req.flags, req.dstIova !== undefined)
    const length = u64(req.length, op, 'length')
    const srcIova = u64(req.srcIova, op, 'srcIova')
    const dstIovaIn = u64(req.dstIova ?? 0, op, 'dstIova')
    if ((flags & ~MAP_FLAGS) !== 0) throw fail('EOPNOTSUPP', op, `unknown flags 0x${flags.toString(16)}`)
    if (length >= ULONG_MAX || srcIova >= ULONG_MAX || dstIovaIn >= ULONG_MAX) throw fail('EOVERFLOW', op, 'a u64 input is ≥ ULONG_MAX')
    if ((flags & (C.IOMMU_IOAS_MAP_READABLE | C.IOMMU_IOAS_MAP_WRITEABLE)) === 0) throw fail('EINVAL', op, 'neither READABLE nor WRITEABLE')
    const src = this.getIoas(req.srcIoasId, op)
    const { slices } = src.iopt.getPages(srcIova, length, op)
    const dst = this.getIoas(req.dstIoasId, op)
    const dstIova = dst.iopt.mapPages(slices, length, flags & C.IOMMU_IOAS_MAP_FIXED_IOVA ? dstIovaIn : undefined, mapProt(flags), op)
    return { dstIova }
  }

  ioasIovaRanges(req: T.IoasIovaRangesRequest): T.IoasIovaRangesResponse {
    const ioas = this.getIoas(req.ioasId, 'IOMMU_IOAS_IOVA_RANGES')
    const ranges = ioas.iopt.usableRanges()
    return { numIovas: ranges.length, allowedIovas: ranges, outIovaAlignment: BigInt(ioas.iopt.iovaAlignment) }
  }

  ioasAllowIovas(req: T.IoasAllowIovasRequest): void {
    const op = 'IOMMU_IOAS_ALLOW_IOVAS'
    const ioas = this.getIoas(req.ioasId, op)
    const ranges: IovaRange[] = req.allowedIovas.map((r) => ({ start: u64(r.start, op, 'start'), last: u64(r.last, op, 'last') }))
    for (const r of ranges) {
      if (r.start >= r.last) throw fail('EINVAL', op, `range [0x${r.start.toString(16)}, 0x${r.last.toString(16)}] is empty or inverted`)
    }
    const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : 1))
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]!.start <= sorted[i - 1]!.last) throw fail('EINVAL', op, 'allowed ranges overlap')
    }
    ioas.iopt.setAllowed(ranges, op)
  }

  option(req: T.OptionRequest): T.OptionResponse {
    const op = 'IOMMU_OPTION'
    const objectId = req.objectId ?? 0
    const val64 = u64(req.val64 ?? 0, op, 'val64')
    // The op is checked inside each option, after its object (ioas.c iommufd_ioas_option looks up
    // the IOAS first): HUGE_PAGES with a bad op and a bad object_id is ENOENT.
    const badOp = req.op !== C.IOMMU_OPTION_OP_SET && req.op !== C.IOMMU_OPTION_OP_GET
    if (req.optionId === C.IOMMU_OPTION_RLIMIT_MODE) {
      if (objectId !== 0) throw fail('EOPNOTSUPP', op, 'RLIMIT_MODE is global: object_id must be 0')
      if (badOp) throw fail('EOPNOTSUPP', op, `unknown op ${req.op}`)
      if (req.op === C.IOMMU_OPTION_OP_GET) return { val64: this.accountMode === 'mm' ? 1n : 0n }
      if (!this.process.privileged) throw fail('EPERM', op, 'CAP_SYS_RESOURCE required')
      if (!this.objects.isEmpty) throw fail('EBUSY', op, 'the context already has objects')
      if (val64 > 1n) throw fail('EINVAL', op, 'RLIMIT_MODE is 0 (user) or 1 (mm)')
      this.accountMode = val64 === 1n ? 'mm' : 'user'
      return { val64 }
    }
    if (req.optionId === C.IOMMU_OPTION_HUGE_PAGES) {
      const ioas = this.getIoas(objectId, op)
      if (badOp) throw fail('EOPNOTSUPP', op, `unknown op ${req.op}`)
      if (req.op === C.IOMMU_OPTION_OP_GET) return { val64: ioas.iopt.disableLargePages ? 0n : 1n }
      if (val64 > 1n) throw fail('EINVAL', op, 'HUGE_PAGES is 0 or 1')
      ioas.iopt.setLargePages(val64 === 1n, op)
      return { val64 }
    }
    throw fail('EOPNOTSUPP', op, `unknown option ${req.optionId}`)
  }

  vfioIoasOp(req: T.VfioIoasRequest): T.VfioIoasResponse {
    const op = 'IOMMU_VFIO_IOAS'
    switch (req.op) {
      case C.IOMMU_VFIO_IOAS_GET:
        if (this.vfioIoas === undefined) throw fail('ENODEV', op, 'no compat IOAS selected')
        return { ioasId: this.vfioIoas.id }
      case C.IOMMU_VFIO_IOAS_SET:
        this.vfioIoas = this.getIoas(req.ioasId ?? 0, op)
        return { ioasId: this.vfioIoas.id }
      case C.IOMMU_VFIO_IOAS_CLEAR:
        this.vfioIoas = undefined
        return { ioasId: req.ioasId ?? 0 }
      default:
        throw fail('EOPNOTSUPP', op, `unknown op ${req.op}`)
    }
  }

  /** IOMMU_IOAS_CHANGE_PROCESS: only file-backed areas can move; this model has none yet. */
  ioasChangeProcess(): void {
    const op = 'IOMMU_IOAS_CHANGE_PROCESS'
    for (const obj of this.objects.objects()) {
      if (obj.type === 'IOAS' && (obj as Ioas).iopt.areas.length > 0) throw fail('EINVAL', op, `IOAS ${obj.id} has areas that are not file-backed`)
    }
  }

  // ---- devices (kernel API used by VFIO) -----------------------------------------------------

  /** iommufd_device_bind (§3.1): returns the new DEVICE object. */
  deviceBind(dev: Device, op = 'VFIO_DEVICE_BIND_IOMMUFD'): IommufdDevice {
    if (dev.host !== this.host) throw fail('EINVAL', op, 'device of another host')
    if (!dev.iommu.capable(dev, 'CACHE_COHERENCY')) throw fail('EINVAL', op, 'the IOMMU cannot provide cache-coherent DMA')
    for (const d of this.host.devices) {
      if (d.iommu === dev.iommu && d.group === dev.group && d.dmaOwner !== undefined && d.dmaOwner !== this) {
        throw fail('EPERM', op, 'the IOMMU group is owned by another context')
      }
    }
    let group = this.groups.get(dev.group)
    const newGroup = group === undefined
    group ??= new GroupRecord(dev.group)
    const idev = this.objects.create(op, () => new IommufdDevice(dev, group, dev.iommu.capable(dev, 'ENFORCE_CACHE_COHERENCY'), (d) => this.onDeviceDestroy(d)))
    if (newGroup) this.groups.set(dev.group, group)
    group.bound++
    dev.dmaOwner = this
    return idev
  }

  private onDeviceDestroy(idev: IommufdDevice): void {
    for (const pasid of [...idev.attachments.keys()]) this.attachEngine.undoAttachHwpt(idev, pasid)
    if (--idev.group.bound === 0) this.groups.delete(idev.group.id)
    idev.dev.dmaOwner = undefined
  }

  private boundDevices(): IommufdDevice[] {
    return [...this.objects.objects()].filter((o): o is IommufdDevice => o.type === 'DEVICE')
  }

  /** iommufd_device_unbind: forcibly destroys (and tombstones) the vDEVICE, then the DEVICE. */
  deviceUnbind(idev: IommufdDevice): void {
    idev.destroying = true
    // Forced removal of the vDEVICE; its id stays a tombstone until the context closes.
    if (idev.vdev !== undefined && idev.vdev.users === 1) this.objects.remove(idev.vdev, true)
    putRef(idev) // the binding driver's reference
    if (idev.users !== 1) throw new Error(`iommufd: unbinding device ${idev.id} that is still attached or referenced`)
    this.objects.remove(idev, false)
  }

  getDevice(id: number, op: string): IommufdDevice {
    return this.objects.get<IommufdDevice>(id, 'DEVICE', op)
  }

  /** iommufd_device_attach: `ptId` is an IOAS, HWPT_PAGING or HWPT_NESTED; returns the HWPT id. */
  deviceAttach(idev: IommufdDevice, ptId: number, pasid: number = C.IOMMU_NO_PASID, op = 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'): number {
    const pt = this.objects.get(ptId, undefined, op)
    return this.attachEngine.attach(idev, pasid, pt, op).id
  }

  deviceReplace(idev: IommufdDevice, ptId: number, pasid: number = C.IOMMU_NO_PASID, op = 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'): number {
    const pt = this.objects.get(ptId, undefined, op)
    return this.attachEngine.replace(idev, pasid, pt, op).id
  }

  deviceDetach(idev: IommufdDevice, pasid: number = C.IOMMU_NO_PASID): void {
    this.attachEngine.detach(idev, pasid)
  }

  // ---- HWPT ------------------------------------------------------------------------------

  hwptAlloc(req: T.HwptAllocRequest): T.HwptAllocResponse {
    const op = 'IOMMU_HWPT_ALLOC'
    const flags = req.flags ?? 0
    const dataType = req.dataType ?? (req.data instanceof UserData ? req.data.type : C.IOMMU_HWPT_DATA_NONE)
    const userData = req.data === undefined ? undefined : req.data instanceof UserData ? req.data : UserData.fromBytes(dataType, req.data)
    const dataLen = userData?.len ?? 0
    if ((dataType === C.IOMMU_HWPT_DATA_NONE && dataLen !== 0) || (dataType !== C.IOMMU_HWPT_DATA_NONE && dataLen === 0)) {
      throw fail('EINVAL', op, 'data_type and data_len disagree')
    }
    const idev = this.getDevice(req.devId, op)
    const pt = this.objects.find(req.ptId)
    if (pt === undefined) throw fail('EINVAL', op, `pt_id ${req.ptId} does not exist`)
    let hwpt: Hwpt
    if (pt.type === 'IOAS') {
      hwpt = this.allocHwptPaging(idev, pt as Ioas, C.IOMMU_NO_PASID, flags, false, dataLen !== 0 ? userData : undefined, false, op)
    } else if (pt.type === 'HWPT_PAGING' || pt.type === 'VIOMMU') {
      hwpt = this.allocHwptNested(idev, pt, flags, dataLen !== 0 ? userData : undefined, op)
    } else {
      throw fail('EINVAL', op, `pt_id ${req.ptId} is a ${pt.type}`)
    }
    if (flags & C.IOMMU_HWPT_FAULT_ID_VALID) {
      try {
        const fault = this.objects.get(req.faultId ?? 0, 'FAULT', op)
        getRef(fault)
        hwpt.fault = fault
      } catch (e) {
        this.abortHwpt(hwpt)
        throw e
      }
    }
    return { outHwptId: hwpt.id }
  }

  private abortHwpt(hwpt: Hwpt): void {
    this.objects.remove(hwpt, false)
  }

  /**
   * iommufd_hwpt_paging_alloc (§2.11 a / §3.3): validate flags, let the driver allocate the
   * domain, optionally attach at once (auto domains), then join the IOAS.
   */
  allocHwptPaging(idev: IommufdDevice, ioas: Ioas, pasid: number, flags: number, immediateAttach: boolean, userData: UserData | undefined, auto: boolean, op: string): HwptPaging {
    const dev = idev.dev
    if ((flags & ~PAGING_FLAGS) !== 0) throw fail('EOPNOTSUPP', op, `unsupported flags 0x${flags.toString(16)}`)
    if ((flags & C.IOMMU_HWPT_ALLOC_DIRTY_TRACKING) && !dev.iommu.capable(dev, 'DIRTY_TRACKING')) {
      throw fail('EOPNOTSUPP', op, 'the device cannot track dirty pages')
    }
    if ((flags & C.IOMMU_HWPT_FAULT_ID_VALID) && (flags & C.IOMMU_HWPT_ALLOC_NEST_PARENT)) {
      throw fail('EOPNOTSUPP', op, 'a nest parent cannot take I/O page faults')
    }
    return this.objects.create(op, (id) => {
      const domain = dev.iommu.domainAllocPagingFlags(dev, flags & ~C.IOMMU_HWPT_FAULT_ID_VALID, userData)
      if (domain.type !== 'paging') {
        domain.free()
        throw fail('EINVAL', op, `driver returned a ${domain.type} domain`)
      }
      const hwpt = new HwptPaging(domain, (flags & C.IOMMU_HWPT_ALLOC_PASID) !== 0, ioas, (flags & C.IOMMU_HWPT_ALLOC_NEST_PARENT) !== 0)
      hwpt.id = id
      getRef(ioas)
      try {
        if (idev.enforceCacheCoherency && domain.enforceCacheCoherency !== undefined) {
          if (!domain.enforceCacheCoherency()) throw fail('EINVAL', op, 'driver refused to enforce cache coherency')
          hwpt.enforceCacheCoherency = true
        }
        if (immediateAttach) this.attachEngine.attachHwpt(idev, pasid, hwpt, op)
        try {
          ioas.iopt.addDomain(domain, op)
        } catch (e) {
          if (immediateAttach) this.attachEngine.undoAttachHwpt(idev, pasid)
          throw e
        }
      } catch (e) {
        domain.free()
        putRef(ioas)
        throw e
      }
      hwpt.joined = true
      hwpt.autoDomain = auto
      ioas.hwptList.push(hwpt)
      return hwpt
    })
  }

  getHwptPaging(id: number, op: string): HwptPaging {
    return this.objects.get<HwptPaging>(id, 'HWPT_PAGING', op)
  }

  getHwInfo(req: T.GetHwInfoRequest): T.GetHwInfoResponse {
    const op = 'IOMMU_GET_HW_INFO'
    const flags = req.flags ?? 0
    if ((flags & ~C.IOMMU_HW_INFO_FLAG_INPUT_TYPE) !== 0) throw fail('EOPNOTSUPP', op, `unknown flags 0x${flags.toString(16)}`)
    const type = flags & C.IOMMU_HW_INFO_FLAG_INPUT_TYPE ? (req.inDataType ?? 0) : C.IOMMU_HW_INFO_TYPE_DEFAULT
    const idev = this.getDevice(req.devId, op)
    const dev = idev.dev
    let outType = C.IOMMU_HW_INFO_TYPE_NONE
    let data: Uint8Array = new Uint8Array(0)
    if (dev.iommu.hwInfo !== undefined) {
      const info = dev.iommu.hwInfo(dev, type)
      if (info.type === C.IOMMU_HW_INFO_TYPE_NONE) throw fail('EOPNOTSUPP', op, 'driver reported type NONE')
      outType = info.type
      data = info.data
    } else if (type !== C.IOMMU_HW_INFO_TYPE_DEFAULT) {
      throw fail('EOPNOTSUPP', op, `hw info type ${type} not supported`)
    }
    const want = req.dataLen ?? data.length
    const out = new Uint8Array(want)
    out.set(data.subarray(0, Math.min(want, data.length)))
    let caps = 0n
    if (dev.iommu.capable(dev, 'DIRTY_TRACKING')) caps |= BigInt(C.IOMMU_HW_CAP_DIRTY_TRACKING)
    if (!dev.iommu.capable(dev, 'PCI_ATS_SUPPORTED')) caps |= BigInt(C.IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED)
    return { dataLen: data.length, data: out, outDataType: outType, outMaxPasidLog2: dev.iommu.maxPasidLog2(dev), outCapabilities: caps }
  }

  hwptSetDirtyTracking(req: T.HwptSetDirtyTrackingRequest): void {
    const op = 'IOMMU_HWPT_SET_DIRTY_TRACKING'
    if ((req.flags & ~C.IOMMU_HWPT_DIRTY_TRACKING_ENABLE) !== 0) throw fail('EOPNOTSUPP', op, `unknown flags 0x${req.flags.toString(16)}`)
    const hwpt = this.getHwptPaging(req.hwptId, op)
    const ops = hwpt.domain.dirtyOps
    if (ops === undefined) throw fail('EOPNOTSUPP', op, 'HWPT was not allocated with dirty tracking')
    const enable = (req.flags & C.IOMMU_HWPT_DIRTY_TRACKING_ENABLE) !== 0
    if (enable) {
      // Start from a clean state: read and discard whatever is dirty now.
      for (const a of hwpt.ioas.iopt.areas) ops.readAndClearDirty(a.iova, a.length, 0, () => {})
    }
    ops.setDirtyTracking(enable)
  }

  /**
   * IOMMU_HWPT_GET_DIRTY_BITMAP semantics; `setBit(b)` is called for every dirty page index
   * (bits are only ever set). The typed wrapper below collects them into a bitmap.
   */
  readDirtyBitmap(req: T.HwptGetDirtyBitmapRequest, setBit: (bit: bigint) => void, allocate?: (bits: bigint) => void): void {
    const op = 'IOMMU_HWPT_GET_DIRTY_BITMAP'
    const flags = req.flags ?? 0
    const iova = u64(req.iova, op, 'iova')
    const length = u64(req.length, op, 'length')
    const pageSize = u64(req.pageSize, op, 'pageSize')
    if ((flags & ~C.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR) !== 0) throw fail('EOPNOTSUPP', op, `unknown flags 0x${flags.toString(16)}`)
    const hwpt = this.getHwptPaging(req.hwptId, op)
    // iommufd_check_iova_range, then the dirty ops (§2.14 steps 3-4)
    const last = (iova + length - 1n) & U64
    if (iova + length - 1n > U64 || (length === 0n && iova > 0n)) throw fail('EOVERFLOW', op, 'iova + length overflows')
    const align = BigInt(hwpt.ioas.iopt.iovaAlignment)
    const end = (last + 1n) & U64
    if ((iova & (align - 1n)) !== 0n || (end & (align - 1n)) !== 0n) throw fail('EINVAL', op, 'range not aligned to the IOAS alignment')
    if (pageSize === 0n) throw fail('EINVAL', op, 'page_size is 0')
    if ((iova & (pageSize - 1n)) !== 0n || (end & (pageSize - 1n)) !== 0n) throw fail('EINVAL', op, 'range not aligned to page_size')
    const ops = hwpt.domain.dirtyOps
    if (ops === undefined) throw fail('EOPNOTSUPP', op, 'HWPT was not allocated with dirty tracking')
    allocate?.(length / pageSize)
    const shift = BigInt((pageSize & -pageSize).toString(2).length - 1)
    const record = (diova: bigint, dlen: bigint): void => {
      const lo = diova < iova ? iova : diova
      const hi = diova + dlen - 1n > last ? last : diova + dlen - 1n
      if (hi < lo) return
      for (let b = (lo - iova) >> shift; b <= (hi - iova) >> shift; b++) setBit(b)
    }
    const dirtyFlags = flags & C.IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR ? C.IOMMU_DIRTY_NO_CLEAR : 0
    // Per area intersecting the range; unmapped sub-ranges simply report clean.
    for (const a of hwpt.ioas.iopt.areasIn(iova, last)) {
      const lo = a.iova < iova ? iova : a.iova
      const hi = a.last > last ? last : a.last
      ops.readAndClearDirty(lo, hi - lo + 1n, dirtyFlags, record)
    }
  }

  hwptGetDirtyBitmap(req: T.HwptGetDirtyBitmapRequest): T.HwptGetDirtyBitmapResponse {
    let bitmap = new Uint8Array(0)
    // Allocated once the request is validated; a bitmap the kernel could not allocate is ENOMEM.
    const allocate = (bits: bigint): void => {
      const bytes = ((bits + 63n) / 64n) * 8n
      if (bytes > BigInt(USER_COPY_LIMIT)) throw fail('ENOMEM', 'IOMMU_HWPT_GET_DIRTY_BITMAP', `a ${bytes}-byte bitmap`)
      bitmap = new Uint8Array(Number(bytes))
    }
    this.readDirtyBitmap(req, (b) => {
      const i = Number(b)
      bitmap[i >> 3]! |= 1 << (i & 7)
    }, allocate)
    return { bitmap }
  }

  // ---- nesting and the vIOMMU family (reference §2.11 b/c, §2.15–§2.22) -----------------

  /** HWPT_ALLOC with pt_id = a nest-parent HWPT_PAGING (legacy) or a VIOMMU. */
  protected allocHwptNested(idev: IommufdDevice, pt: IommufdObject, flags: number, data: UserData | undefined, op: string): Hwpt {
    const nestedFlags = C.IOMMU_HWPT_FAULT_ID_VALID | C.IOMMU_HWPT_ALLOC_PASID
    const dev = idev.dev
    if (pt instanceof Viommu) {
      if (pt.unit !== dev.iommu) throw fail('EINVAL', op, `device is not behind the vIOMMU's IOMMU ${pt.unit.name}`)
      if ((flags & ~nestedFlags) !== 0) throw fail('EOPNOTSUPP', op, `unsupported flags 0x${flags.toString(16)}`)
      if (data === undefined || data.len === 0) throw fail('EOPNOTSUPP', op, 'nested allocation needs driver data')
      const alloc = pt.ops?.allocDomainNested
      if (alloc === undefined) throw fail('EOPNOTSUPP', op, 'the vIOMMU cannot allocate nested domains')
      const viommu = pt
      return this.objects.create(op, (id) => {
        const domain = alloc.call(viommu.ops, viommu, flags & ~C.IOMMU_HWPT_FAULT_ID_VALID, data)
        if (domain.type !== 'nested') {
          domain.free()
          throw fail('EINVAL', op, `driver returned a ${domain.type} domain`)
        }
        const hwpt = new HwptNested(domain, (flags & C.IOMMU_HWPT_ALLOC_PASID) !== 0, viommu.hwpt, viommu)
        hwpt.id = id
        getRef(viommu)
        return hwpt
      })
    }
    const parent = pt as HwptPaging
    if ((flags & ~nestedFlags) !== 0 || data === undefined || data.len === 0 || dev.iommu.domainAllocNested === undefined) {
      throw fail('EOPNOTSUPP', op, 'nested allocation needs driver data, nesting flags only, and a driver with nesting')
    }
    if (parent.autoDomain || !parent.nestParent || parent.domain.unit.driverName !== dev.iommu.driverName) {
      throw fail('EINVAL', op, `HWPT ${parent.id} is not a manual nest parent of this driver`)
    }
    const allocNested = dev.iommu.domainAllocNested.bind(dev.iommu)
    return this.objects.create(op, (id) => {
      const domain = allocNested(dev, parent.domain, flags & ~C.IOMMU_HWPT_FAULT_ID_VALID, data)
      if (domain.type !== 'nested') {
        domain.free()
        throw fail('EINVAL', op, `driver returned a ${domain.type} domain`)
      }
      const hwpt = new HwptNested(domain, (flags & C.IOMMU_HWPT_ALLOC_PASID) !== 0, parent, undefined)
      hwpt.id = id
      getRef(parent)
      return hwpt
    })
  }

  hwptInvalidate(req: T.HwptInvalidateRequest): T.HwptInvalidateResponse {
    const op = 'IOMMU_HWPT_INVALIDATE'
    if (req.entryNum !== 0 && (req.data === undefined || req.entryLen === 0)) throw withEntryNum(fail('EINVAL', op, 'entries without data or entry_len'), 0)
    const array =
      req.data instanceof UserDataArray
        ? req.data
        : UserDataArray.fromBytes(req.dataType, req.data ?? new Uint8Array(0), req.entryLen, req.entryNum)
    let obj: IommufdObject
    try {
      obj = this.objects.get(req.hwptId, undefined, op)
    } catch (e) {
      throw withEntryNum(e as IommufdError, 0)
    }
    let run: () => void
    if (obj instanceof HwptNested) {
      const inv = obj.domain.cacheInvalidateUser
      if (inv === undefined) throw withEntryNum(fail('EOPNOTSUPP', op, 'the nested domain has no invalidation'), 0)
      const domain = obj.domain
      run = () => inv.call(domain, array)
    } else if (obj instanceof Viommu) {
      const viommu = obj
      const inv = viommu.ops?.cacheInvalidate
      if (inv === undefined) throw withEntryNum(fail('EOPNOTSUPP', op, 'the vIOMMU has no invalidation'), 0)
      run = () => inv.call(viommu.ops, viommu, array)
    } else {
      throw withEntryNum(fail('EINVAL', op, `${obj.type} ${obj.id} cannot be invalidated`), 0)
    }
    try {
      run()
    } catch (e) {
      if (IommufdError.is(e)) throw withEntryNum(e.withOp(op), array.entryNum)
      throw e
    }
    return { entryNum: array.entryNum }
  }

  faultQueueAlloc(req: T.FaultQueueAllocRequest = {}): T.FaultQueueAllocResponse {
    const op = 'IOMMU_FAULT_QUEUE_ALLOC'
    if ((req.flags ?? 0) !== 0) throw fail('EOPNOTSUPP', op, 'flags must be 0')
    const fault = this.objects.create(op, () => new FaultQueue())
    return { outFaultId: fault.id, outFaultFd: this.installQueueFile(fault) }
  }

  /** The fd of a FAULT / vEVENTQ: +1 users on the queue and a hold on the context while open. */
  private installQueueFile(queue: FaultQueue | Veventq): number {
    getRef(queue)
    this.hold()
    return this.process.installFile(new EventQueueFile(queue, () => this.release()))
  }

  /**
   * An I/O page request from `dev` (the iommu core's iommu_report_device_fault): requests
   * accumulate per group until the last one, then the group goes to the FAULT of the HWPT the
   * device/PASID is attached to. Without a fault-capable HWPT the group is answered INVALID.
   * `respond` receives the final response code.
   */
  reportPageRequest(dev: Device, pasid: number | undefined, request: PageRequest, respond: (code: number) => void = () => {}): void {
    const idev = this.boundDevices().find((d) => d.dev === dev)
    const hwpt = idev?.attachments.get(pasid ?? C.IOMMU_NO_PASID)
    const fault = hwpt?.fault
    if (idev === undefined || !(fault instanceof FaultQueue)) {
      respond(C.IOMMUFD_PAGE_RESP_INVALID)
      return
    }
    const key = `${idev.id}/${pasid ?? -1}/${request.grpid}`
    const partial = this.partialGroups.get(key) ?? []
    partial.push(request)
    if (!request.last) {
      this.partialGroups.set(key, partial)
      return
    }
    this.partialGroups.delete(key)
    fault.enqueue({ idev, pasid, requests: partial, respond })
  }

  private readonly partialGroups = new Map<string, PageRequest[]>()

  viommuAlloc(req: T.ViommuAllocRequest): T.ViommuAllocResponse {
    const op = 'IOMMU_VIOMMU_ALLOC'
    if ((req.flags ?? 0) !== 0 || req.type === C.IOMMU_VIOMMU_TYPE_DEFAULT) throw fail('EOPNOTSUPP', op, 'flags must be 0 and type not DEFAULT')
    const idev = this.getDevice(req.devId, op)
    const unit = idev.dev.iommu
    const init = unit.viommuInit
    if (unit.getViommuSize === undefined || init === undefined) throw fail('EOPNOTSUPP', op, `${unit.name} has no vIOMMU support`)
    if (unit.getViommuSize(idev.dev, req.type) === 0) throw fail('EOPNOTSUPP', op, `vIOMMU type 0x${req.type.toString(16)} not supported by ${unit.name}`)
    const parent = this.getHwptPaging(req.hwptId, op)
    if (!parent.nestParent) throw fail('EINVAL', op, `HWPT ${parent.id} was not allocated with NEST_PARENT`)
    const data = req.data === undefined ? undefined : req.data instanceof UserData ? req.data : UserData.fromBytes(req.type, req.data)
    const viommu = this.objects.create(op, (id) => {
      const v = new Viommu(this.viommuHost, req.type, unit, parent)
      v.id = id
      getRef(parent)
      try {
        init.call(unit, v, parent.domain, data !== undefined && data.len !== 0 ? data : undefined)
        if (v.ops === undefined) throw fail('EOPNOTSUPP', op, 'driver did not set vIOMMU ops')
      } catch (e) {
        v.destroy()
        throw e
      }
      return v
    })
    return { outViommuId: viommu.id }
  }

  getViommu(id: number, op: string): Viommu {
    return this.objects.get<Viommu>(id, 'VIOMMU', op)
  }

  vdeviceAlloc(req: T.VdeviceAllocRequest): T.VdeviceAllocResponse {
    const op = 'IOMMU_VDEVICE_ALLOC'
    const virtId = u64(req.virtId, op, 'virtId')
    const viommu = this.getViommu(req.viommuId, op)
    const idev = this.getDevice(req.devId, op)
    if (idev.dev.iommu !== viommu.unit) throw fail('EINVAL', op, `device is not behind the vIOMMU's IOMMU ${viommu.unit.name}`)
    if (idev.destroying) throw fail('ENOENT', op, 'device is being unbound')
    if (idev.vdev !== undefined) throw fail('EEXIST', op, `device ${idev.id} already has vDEVICE ${idev.vdev.id}`)
    const ops = viommu.ops
    if (ops?.vdeviceSize !== undefined && ops.vdeviceSize !== 0 && ops.vdeviceInit === undefined) throw fail('EOPNOTSUPP', op, 'driver vDEVICE size without vdeviceInit')
    if (viommu.vdevs.has(virtId)) throw fail('EEXIST', op, `virt_id 0x${virtId.toString(16)} is already used on vIOMMU ${viommu.id}`)
    const vdev = this.objects.create(op, (id) => {
      const v = new Vdevice(viommu, idev, virtId)
      v.id = id
      viommu.vdevs.set(virtId, v)
      idev.vdev = v
      getRef(viommu)
      getRef(idev)
      try {
        ops?.vdeviceInit?.(v)
      } catch (e) {
        v.destroyHook = undefined
        v.destroy()
        throw e
      }
      return v
    })
    return { outVdeviceId: vdev.id }
  }

  veventqAlloc(req: T.VeventqAllocRequest): T.VeventqAllocResponse {
    const op = 'IOMMU_VEVENTQ_ALLOC'
    if ((req.flags ?? 0) !== 0 || req.type === C.IOMMU_VEVENTQ_TYPE_DEFAULT) throw fail('EOPNOTSUPP', op, 'flags must be 0 and type not DEFAULT')
    if (req.veventqDepth === 0) throw fail('EINVAL', op, 'depth is 0')
    const viommu = this.getViommu(req.viommuId, op)
    if (viommu.veventqs.has(req.type)) throw fail('EEXIST', op, `vIOMMU ${viommu.id} already has a vEVENTQ of type 0x${req.type.toString(16)}`)
    const q = this.objects.create(op, (id) => {
      const v = new Veventq(viommu, req.type, req.veventqDepth)
      v.id = id
      getRef(viommu)
      viommu.veventqs.set(req.type, v)
      return v
    })
    return { outVeventqId: q.id, outVeventqFd: this.installQueueFile(q) }
  }

  hwQueueAlloc(req: T.HwQueueAllocRequest): T.HwQueueAllocResponse {
    const op = 'IOMMU_HW_QUEUE_ALLOC'
    if ((req.flags ?? 0) !== 0 || req.type === C.IOMMU_HW_QUEUE_TYPE_DEFAULT) throw fail('EOPNOTSUPP', op, 'flags must be 0 and type not DEFAULT')
    const length = u64(req.length, op, 'length')
    const base = u64(req.nestingParentIova, op, 'nestingParentIova')
    if (length === 0n) throw fail('EINVAL', op, 'length is 0')
    if (base + length - 1n > U64) throw fail('EOVERFLOW', op, 'nesting_parent_iova + length overflows')
    const viommu = this.getViommu(req.viommuId, op)
    const ops = viommu.ops
    const initPhys = ops?.hwQueueInitPhys
    if (ops?.getHwQueueSize === undefined || initPhys === undefined) throw fail('EOPNOTSUPP', op, 'the vIOMMU has no HW queues')
    if (ops.getHwQueueSize(viommu, req.type) === 0) throw fail('EOPNOTSUPP', op, `HW queue type 0x${req.type.toString(16)} not supported`)
    const ioas = viommu.hwpt.ioas
    const ps = BigInt(this.host.pageSize)
    const start = base - (base % ps)
    const end = ((base + length + ps - 1n) / ps) * ps
    if (end - 1n > U64) throw fail('ERANGE', op, 'size arithmetic overflow')
    const removeAccess = (a: HwQueueAccess): void => this.objects.remove(a, false)
    const queue = this.objects.create(op, (id) => {
      // The internal ACCESS takes the next id, as in the kernel.
      const access = this.objects.create(op, () => new HwQueueAccess(ioas, this.host.pageSize))
      let basePa: number
      try {
        getRef(ioas)
        ioas.iopt.addAccess(access, op)
        basePa = this.pinQueueMemory(access, ioas, start, end - start, base, op)
      } catch (e) {
        if (access.users > 1) {
          access.users = 1
          access.unpinAll()
          this.objects.remove(access, false)
        }
        throw e
      }
      const q = new HwQueue(viommu, req.type, req.index, base, length, access, removeAccess)
      q.id = id
      getRef(viommu)
      try {
        initPhys.call(ops, q, req.index, basePa)
      } catch (e) {
        q.destroyHook = undefined
        q.destroy()
        throw e
      }
      return q
    })
    return { outHwQueueId: queue.id }
  }

  /** Pins [start, start + length) through `access`; returns the physical address of `base`. */
  private pinQueueMemory(access: HwQueueAccess, ioas: Ioas, start: bigint, length: bigint, base: bigint, op: string): number {
    const { areas } = ioas.iopt.getPages(start, length, op)
    const last = start + length - 1n
    const ps = this.host.pageSize
    const ranges = areas.map((area) => {
      if ((area.prot & C.IOMMU_READ) === 0) throw fail('EPERM', op, `area at 0x${area.iova.toString(16)} is not readable`)
      const lo = area.iova > start ? area.iova : start
      const hi = area.last < last ? area.last : last
      return { area, first: Number(area.startByteOf(lo) / BigInt(ps)), last: Number(area.startByteOf(hi) / BigInt(ps)) }
    })
    access.pin(ranges)
    // The hardware reads the queue linearly: the pinned pages must be physically contiguous.
    let expect = -1
    for (let iova = start; iova <= last; iova += BigInt(ps)) {
      const pa = ioas.iopt.physOf(iova)
      if (expect >= 0 && pa !== expect) {
        access.unpinAll()
        throw fail('EFAULT', op, 'queue memory is not physically contiguous')
      }
      expect = pa + ps
    }
    return ioas.iopt.physOf(base)
  }

  // ---- mmap of vIOMMU regions on the iommufd (§2.22) ----------------------------------------

  private readonly mmapRegions = new Map<bigint, MmapRegion>()

  private readonly viommuHost: ViommuHost

  /**
   * mmap(iommufd, offset, length): the registered region must match exactly (ENXIO); length
   * page-aligned (EINVAL); PROT_EXEC refused (EPERM). The mapping holds the vIOMMU.
   */
  mmapRegion(offset: bigint, length: number, exec: boolean): { region: MmapRegion; release: () => void } {
    const op = 'mmap'
    if (length === 0 || length % this.host.pageSize !== 0) throw fail('EINVAL', op, 'length not page aligned')
    if (exec) throw fail('EPERM', op, 'PROT_EXEC on an iommufd mapping')
    const region = this.mmapRegions.get(offset)
    if (region === undefined || region.length !== length) throw fail('ENXIO', op, `no region of ${length} bytes at offset 0x${offset.toString(16)}`)
    // The VMA holds the vIOMMU and, like a mapping of the file, the context.
    getRef(region.viommu)
    this.hold()
    let released = false
    return {
      region,
      release: () => {
        if (released) return
        released = true
        putRef(region.viommu)
        this.release()
      },
    }
  }

  // ---- diagnostics -----------------------------------------------------------------------

  /** A deep, comparable picture of the context (tests compare it before and after failing calls). */
  snapshot(): ContextSnapshot {
    const objects = [...this.objects.objects()].map((o) => ({ id: o.id, type: o.type, users: o.users }))
    const ioas = [...this.objects.objects()]
      .filter((o): o is Ioas => o.type === 'IOAS')
      .map((o) => ({
        id: o.id,
        areas: o.iopt.areas.map((a) => ({ iova: a.iova, last: a.last, prot: a.prot })),
        reserved: o.iopt.reserved.map((r) => ({ start: r.start, last: r.last })),
        allowed: [...o.iopt.allowed],
        iovaAlignment: o.iopt.iovaAlignment,
        domains: o.iopt.domains.length,
      }))
    const attachments = this.boundDevices().flatMap((d) => [...d.attachments].map(([pasid, h]) => ({ devId: d.id, pasid, hwptId: h.id })))
    return { objects, ioas, attachments, pins: this.host.frames.totalPins() }
  }
}

export { IommufdError }

/** Attaches the entries-handled count the kernel writes back with an invalidation error. */
export function withEntryNum(e: IommufdError, entryNum: number): IommufdError {
  e.details = { ...e.details, entryNum }
  return e
}
