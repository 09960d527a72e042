/**
 * IOMMUFD_OBJ_ACCESS: an in-kernel user of an IOAS (an emulated/mdev VFIO device, the selftest's
 * access fd) that reads, writes and pins IOAS memory by IOVA without a hardware domain.
 * The kernel API of drivers/iommu/iommufd/device.c — iommufd_access_create / _attach /
 * _replace / _detach / _destroy / _pin_pages / _unpin_pages / _rw — with its errnos
 * (reference/iommufd-uapi.md §1.4.10, §3.8). There is no uAPI for it.
 */
import { fail } from '../errors/iommufd-error.js'
import { IommufdObject, getRef, putRef } from '../objects/object.js'
import { IOMMU_READ, IOMMU_WRITE } from '../uapi/constants.js'
import type { AccessHook, Area } from '../ioas/io-pagetable.js'
import type { Iommufd } from './context.js'
import type { Ioas } from './ioas.js'
import { U64_MAX } from '../uapi/constants.js'

/** IOMMUFD_ACCESS_RW_WRITE (include/linux/iommufd.h). */
const RW_WRITE = 1 << 0

/** `struct iommufd_access_ops`. */
export interface AccessOps {
  /** The driver pins pages (pinPages): the IOAS alignment becomes at least PAGE_SIZE. */
  readonly needsPinPages?: boolean
  /**
   * Called when [iova, iova + length) is about to be unmapped (or the access moves to another
   * IOAS, with the whole range): the driver must unpin everything it pinned there.
   */
  unmap?(iova: bigint, length: bigint): void
}

interface PinnedSegment {
  readonly area: Area
  readonly first: number
  readonly last: number
}

interface PinRecord {
  readonly iova: bigint
  readonly length: bigint
  readonly segments: readonly PinnedSegment[]
}

export class IommufdAccess extends IommufdObject implements AccessHook {
  readonly type = 'ACCESS' as const
  readonly iovaAlignment: number
  /** The attached IOAS, if any. */
  ioas: Ioas | undefined
  private readonly pins: PinRecord[] = []

  private constructor(
    readonly ctx: Iommufd,
    readonly ops: AccessOps,
  ) {
    super()
    this.iovaAlignment = ops.needsPinPages ? ctx.host.pageSize : 1
  }

  /**
   * iommufd_access_create: a new ACCESS object (published at once, users = 2: the table and the
   * calling driver until destroyAccess()). It keeps the context open while it exists.
   */
  static create(ctx: Iommufd, ops: AccessOps): IommufdAccess {
    const access = ctx.objects.create('iommufd_access_create', () => new IommufdAccess(ctx, ops))
    getRef(access)
    ctx.hold()
    return access
  }

  /** iommufd_access_attach: already attached → EINVAL; IOAS lookup → ENOENT; alignment → EADDRINUSE. */
  attach(ioasId: number): void {
    const op = 'iommufd_access_attach'
    if (this.ioas !== undefined) throw fail('EINVAL', op, `access ${this.id} is already attached`)
    this.changeIoas(this.ctx.getIoas(ioasId, op), op)
  }

  /** iommufd_access_replace: not attached → ENOENT; then as attach (same IOAS: nothing happens). */
  replace(ioasId: number): void {
    const op = 'iommufd_access_replace'
    if (this.ioas === undefined) throw fail('ENOENT', op, `access ${this.id} is not attached`)
    this.changeIoas(this.ctx.getIoas(ioasId, op), op)
  }

  /** iommufd_access_detach: the driver is asked to unpin everything first. */
  detach(): void {
    if (this.ioas !== undefined) this.changeIoas(undefined, 'iommufd_access_detach')
  }

  /** iommufd_access_destroy: drops the driver's reference and destroys the object (detaching it). */
  destroyAccess(): void {
    putRef(this)
    this.ctx.objects.remove(this, false)
  }

  /** The object table's destroy: detach, then let go of the context. */
  destroy(): void {
    if (this.ioas !== undefined) this.changeIoas(undefined, 'iommufd_access_destroy')
    this.ctx.release()
  }

  /** iommufd_access_change_ioas. */
  private changeIoas(next: Ioas | undefined, op: string): void {
    const cur = this.ioas
    if (cur === next) return
    if (next !== undefined) {
      next.iopt.addAccess(this, op)
      getRef(next)
    }
    if (cur !== undefined) {
      this.ops.unmap?.(0n, U64_MAX)
      cur.iopt.removeAccess(this, op)
      putRef(cur)
    }
    this.ioas = next
  }

  /** AccessHook: the IOAS is about to unmap [iova, iova + length). */
  notifyUnmap(iova: bigint, length: bigint): void {
    this.ops.unmap?.(iova, length)
  }

  /**
   * Walks the areas covering [iova, last] contiguously, calling `visit` per area chunk;
   * ENOENT when they stop before `last` (iopt_for_each_contig_area + iopt_area_contig_done).
   */
  private walk(iova: bigint, last: bigint, op: string, visit: (area: Area, from: bigint, to: bigint, final: boolean) => void): void {
    const ioas = this.ioas
    if (ioas === undefined) throw fail('ENOENT', op, `access ${this.id} is not attached`)
    let cur = iova
    for (const area of ioas.iopt.areas) {
      if (area.last < cur) continue
      if (area.iova > cur) break
      const to = area.last < last ? area.last : last
      visit(area, cur, to, to === last)
      if (to === last) return
      cur = to + 1n
    }
    throw fail('ENOENT', op, `[0x${iova.toString(16)}, 0x${last.toString(16)}] is not fully mapped`)
  }

  private static prot(area: Area, flags: number): boolean {
    return (area.prot & (flags & RW_WRITE ? IOMMU_WRITE : IOMMU_READ)) !== 0
  }

  private range(iova: bigint, length: bigint, op: string): bigint {
    if (length === 0n) throw fail('EINVAL', op, 'length is 0')
    const last = iova + length - 1n
    if (last > U64_MAX) throw fail('EOVERFLOW', op, 'iova + length overflows')
    return last
  }

  /**
   * iommufd_access_pin_pages: pins the pages under [iova, iova + length) and returns their host
   * frame numbers (one per CPU page). Errors: an access without needsPinPages/unmap → EINVAL;
   * length 0 → EINVAL; overflow → EOVERFLOW; not attached → ENOENT; a chunk not starting on a
   * page boundary of the user memory (or an inner area not ending on one) → EINVAL; protection
   * mismatch → EPERM; not fully covered by contiguous areas → ENOENT. All or nothing.
   */
  pinPages(iova: bigint, length: bigint, flags = 0): number[] {
    const op = 'iommufd_access_pin_pages'
    const ps = BigInt(this.ctx.host.pageSize)
    if (this.iovaAlignment !== this.ctx.host.pageSize || this.ops.unmap === undefined) {
      throw fail('EINVAL', op, 'the access was not created to pin pages')
    }
    const last = this.range(iova, length, op)
    const segments: PinnedSegment[] = []
    try {
      this.walk(iova, last, op, (area, from, to, final) => {
        if (area.startByteOf(from) % ps !== 0n || (!final && area.startByteOf(area.last) % ps !== ps - 1n)) {
          throw fail('EINVAL', op, `area at 0x${area.iova.toString(16)} is not page aligned in user memory`)
        }
        if (!IommufdAccess.prot(area, flags)) throw fail('EPERM', op, `area at 0x${area.iova.toString(16)} does not allow this access`)
        if (flags & RW_WRITE && !area.pages.writable) throw fail('EPERM', op, 'pages were mapped read-only')
        const first = Number(area.startByteOf(from) / ps)
        const lastPage = Number(area.startByteOf(to) / ps)
        area.pages.pin(first, lastPage)
        area.numAccesses++
        segments.push({ area, first, last: lastPage })
      })
    } catch (e) {
      for (const s of segments) IommufdAccess.release(s)
      throw e
    }
    this.pins.push({ iova, length, segments })
    const pfns: number[] = []
    for (const s of segments) for (let p = s.first; p <= s.last; p++) pfns.push(s.area.pages.pfnOf(p))
    return pfns
  }

  private static release(s: PinnedSegment): void {
    s.area.numAccesses--
    s.area.pages.unpin(s.first, s.last)
  }

  /** iommufd_access_unpin_pages: undoes the pin of exactly [iova, iova + length) (else nothing, as the kernel's WARN). */
  unpinPages(iova: bigint, length: bigint): void {
    const i = this.pins.findIndex((p) => p.iova === iova && p.length === length)
    if (i < 0) return
    const [rec] = this.pins.splice(i, 1)
    for (const s of rec!.segments) IommufdAccess.release(s)
  }

  /** Pins currently held (for leak checks). */
  get pinCount(): number {
    return this.pins.length
  }

  /**
   * iommufd_access_rw: copies between `data` and the memory under [iova, iova + data.length).
   * Pinned pages are accessed through their frames, others through the mapping process's memory
   * (EFAULT when that is gone). Errors: length 0 → EINVAL; overflow → EOVERFLOW; not attached →
   * ENOENT; protection mismatch → EPERM; a hole → ENOENT (chunks before it are already copied).
   */
  rw(iova: bigint, data: Uint8Array, flags = 0): void {
    const op = 'iommufd_access_rw'
    const last = this.range(iova, BigInt(data.length), op)
    const ps = this.ctx.host.pageSize
    const u8 = this.ctx.host.memory.u8
    let off = 0
    this.walk(iova, last, op, (area, from, to) => {
      if (!IommufdAccess.prot(area, flags)) throw fail('EPERM', op, `area at 0x${area.iova.toString(16)} does not allow this access`)
      const pages = area.pages
      if (flags & RW_WRITE && !pages.writable) throw fail('EPERM', op, 'pages were mapped read-only')
      let byte = area.startByteOf(from)
      let left = Number(to - from + 1n)
      while (left > 0) {
        const page = Number(byte / BigInt(ps))
        const inPage = Number(byte % BigInt(ps))
        const n = Math.min(ps - inPage, left)
        const chunk = data.subarray(off, off + n)
        if (pages.isPinned(page)) {
          const pa = pages.pfnOf(page) * ps + inPage
          if (flags & RW_WRITE) u8.set(chunk, pa)
          else chunk.set(u8.subarray(pa, pa + n))
        } else {
          const va = pages.uptr + byte
          if (flags & RW_WRITE) pages.space.write(va, chunk)
          else chunk.set(pages.space.read(va, n))
        }
        off += n
        left -= n
        byte += BigInt(n)
      }
    })
  }
}
