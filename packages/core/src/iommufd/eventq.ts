/**
 * Event queues with a file (drivers/iommu/iommufd/eventq.c): the vEVENTQ of a vIOMMU and the
 * FAULT queue of I/O page-fault groups. Reference iommufd-uapi.md §2.16, §2.20.
 */
import { ERRNO } from '../errors/errno.js'
import { fail } from '../errors/iommufd-error.js'
import { IommufdObject, putRef } from '../objects/object.js'
import { OpenFile } from '../host/files.js'
import type { Process } from '../host/process.js'
import {
  IOMMUFD_PAGE_RESP_INVALID,
  IOMMUFD_PAGE_RESP_SUCCESS,
  IOMMU_PGFAULT_FLAGS_LAST_PAGE,
  IOMMU_PGFAULT_FLAGS_PASID_VALID,
  IOMMU_VEVENTQ_FLAG_LOST_EVENTS,
} from '../uapi/constants.js'
import type { Viommu } from './viommu.js'
import type { IommufdDevice } from './device.js'

const INT_MAX = 0x7fff_ffff
export const VEVENT_HEADER_SIZE = 8
export const PGFAULT_RECORD_SIZE = 40
export const PAGE_RESPONSE_SIZE = 8

interface VeventEntry {
  readonly flags: number
  sequence: number
  readonly data: Uint8Array | undefined
}

/** IOMMUFD_OBJ_VEVENTQ. */
export class Veventq extends IommufdObject {
  readonly type = 'VEVENTQ' as const
  private readonly queue: VeventEntry[] = []
  /** Real events queued (the lost header does not count). */
  numEvents = 0
  /** Next sequence number (0 … INT_MAX, then wraps). */
  private sequence = 0
  private readonly lost: VeventEntry = { flags: IOMMU_VEVENTQ_FLAG_LOST_EVENTS, sequence: 0, data: undefined }

  constructor(
    readonly viommu: Viommu,
    readonly veventqType: number,
    readonly depth: number,
  ) {
    super()
  }

  private nextSequence(): number {
    const s = this.sequence
    this.sequence = s === INT_MAX ? 0 : s + 1
    return s
  }

  /** Adds an event, or — when `depth` events are queued — moves the lost header to the tail. */
  report(data: Uint8Array): void {
    const lostAt = this.queue.indexOf(this.lost)
    if (this.numEvents >= this.depth) {
      if (lostAt >= 0) this.queue.splice(lostAt, 1)
      this.lost.sequence = this.nextSequence()
      this.queue.push(this.lost)
      return
    }
    // A lost header at the tail is dropped: the sequence gap tells the reader how many were lost.
    if (lostAt >= 0 && lostAt === this.queue.length - 1) this.queue.pop()
    this.queue.push({ flags: 0, sequence: this.nextSequence(), data: data.slice() })
    this.numEvents++
  }

  /** Whole events, header + payload, in order, while they fit in `count` bytes. */
  read(count: number): Uint8Array {
    const out: Uint8Array[] = []
    let used = 0
    while (this.queue.length > 0) {
      const e = this.queue[0]!
      const size = VEVENT_HEADER_SIZE + (e.data?.length ?? 0)
      if (used + size > count) break
      const rec = new Uint8Array(size)
      const v = new DataView(rec.buffer)
      v.setUint32(0, e.flags, true)
      v.setUint32(4, e.sequence, true)
      if (e.data !== undefined) rec.set(e.data, VEVENT_HEADER_SIZE)
      out.push(rec)
      used += size
      this.queue.shift()
      if (e !== this.lost) this.numEvents--
    }
    return concat(out, used)
  }

  get readable(): boolean {
    return this.queue.length > 0
  }

  destroy(): void {
    this.queue.length = 0
    this.viommu.veventqs.delete(this.veventqType)
    putRef(this.viommu)
  }
}

/** One I/O page request as the IOMMU reports it (PCI PRI / SMMU stall). */
export interface PageRequest {
  readonly grpid: number
  /** IOMMU_PGFAULT_PERM_* */
  readonly perm: number
  readonly addr: bigint
  /** Last request of its group (IOMMU_PGFAULT_FLAGS_LAST_PAGE). */
  readonly last: boolean
}

/** A fault group: all page requests of one PRI group of one device/PASID. */
export interface FaultGroup {
  readonly idev: IommufdDevice
  /** PASID of the faulting access, or undefined for RID traffic. */
  readonly pasid: number | undefined
  readonly requests: readonly PageRequest[]
  /** Called once with the response code when userspace (or the kernel) answers. */
  readonly respond: (code: number) => void
}

/** IOMMUFD_OBJ_FAULT. */
export class FaultQueue extends IommufdObject {
  readonly type = 'FAULT' as const
  private readonly deliver: FaultGroup[] = []
  /** cookie → group read but not answered. */
  private readonly response = new Map<number, FaultGroup>()

  enqueue(group: FaultGroup): void {
    this.deliver.push(group)
  }

  /** Whole groups of 40-byte records while they fit; each delivered group gets a fresh cookie. */
  read(count: number): Uint8Array | number {
    if (count % PGFAULT_RECORD_SIZE !== 0) return -ERRNO.ESPIPE
    const out: Uint8Array[] = []
    let used = 0
    while (this.deliver.length > 0) {
      const g = this.deliver[0]!
      const size = g.requests.length * PGFAULT_RECORD_SIZE
      if (used + size > count) break
      let cookie = 1
      while (this.response.has(cookie)) cookie++
      for (const r of g.requests) {
        const rec = new Uint8Array(PGFAULT_RECORD_SIZE)
        const v = new DataView(rec.buffer)
        v.setUint32(0, (g.pasid !== undefined ? IOMMU_PGFAULT_FLAGS_PASID_VALID : 0) | (r.last ? IOMMU_PGFAULT_FLAGS_LAST_PAGE : 0), true)
        v.setUint32(4, g.idev.id, true)
        v.setUint32(8, g.pasid ?? 0, true)
        v.setUint32(12, r.grpid, true)
        v.setUint32(16, r.perm, true)
        v.setBigUint64(24, r.addr, true)
        v.setUint32(32, 0, true) // length: always 0
        v.setUint32(36, cookie, true)
        out.push(rec)
      }
      used += size
      this.deliver.shift()
      this.response.set(cookie, g)
    }
    return concat(out, used)
  }

  /** Responses of 8 bytes; stops at the first bad one (EINVAL if none was consumed). */
  write(bytes: Uint8Array): number {
    if (bytes.length % PAGE_RESPONSE_SIZE !== 0) return -ERRNO.ESPIPE
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    let done = 0
    for (; done < bytes.length; done += PAGE_RESPONSE_SIZE) {
      const cookie = v.getUint32(done, true)
      const code = v.getUint32(done + 4, true)
      const g = this.response.get(cookie)
      if ((code !== IOMMUFD_PAGE_RESP_SUCCESS && code !== IOMMUFD_PAGE_RESP_INVALID) || g === undefined) break
      this.response.delete(cookie)
      g.respond(code)
    }
    return done > 0 || bytes.length === 0 ? done : -ERRNO.EINVAL
  }

  /** Answers INVALID everything queued or awaiting a response for (idev, pasid) (detach / replace). */
  abortAttachment(idev: IommufdDevice, pasid: number): void {
    const match = (g: FaultGroup): boolean => g.idev === idev && (g.pasid ?? 0) === pasid
    for (let i = this.deliver.length - 1; i >= 0; i--) {
      if (match(this.deliver[i]!)) this.deliver.splice(i, 1)[0]!.respond(IOMMUFD_PAGE_RESP_INVALID)
    }
    for (const [cookie, g] of [...this.response]) {
      if (match(g)) {
        this.response.delete(cookie)
        g.respond(IOMMUFD_PAGE_RESP_INVALID)
      }
    }
  }

  get readable(): boolean {
    return this.deliver.length > 0
  }

  get pending(): number {
    return this.deliver.length + this.response.size
  }

  destroy(): void {
    for (const g of this.deliver.splice(0)) g.respond(IOMMUFD_PAGE_RESP_INVALID)
    for (const g of this.response.values()) g.respond(IOMMUFD_PAGE_RESP_INVALID)
    this.response.clear()
  }
}

/** The anonymous-inode file of a vEVENTQ or FAULT object (holds the object and the context). */
export class EventQueueFile extends OpenFile {
  readonly kind: string
  constructor(
    readonly queue: Veventq | FaultQueue,
    private readonly releaseContext: () => void,
  ) {
    super()
    this.kind = queue.type === 'VEVENTQ' ? '[iommufd-viommu-event]' : '[iommufd-pgfault]'
  }
  override read(_proc: Process, length: number): Uint8Array | number {
    if (!Number.isInteger(length) || length < 0) return -ERRNO.EINVAL
    return this.queue.read(length)
  }
  override write(_proc: Process, bytes: Uint8Array): number {
    if (this.queue instanceof FaultQueue) return this.queue.write(bytes)
    return -ERRNO.EINVAL
  }
  release(): void {
    putRef(this.queue)
    this.releaseContext()
  }
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total)
  let off = 0
  for (const p of parts) {
    out.set(p, off)
    off += p.length
  }
  return out
}

export { fail }
