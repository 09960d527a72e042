import { fail } from '../errors/iommufd-error.js'
import type { AddressSpace } from '../host/address-space.js'
import type { FrameBook } from '../host/frame-book.js'

/**
 * The PFN source of one MAP (`struct iopt_pages`): a page-aligned stretch of a process's
 * memory. Areas created by MAP and by COPY share it; each page is pinned once however many
 * areas (or in-kernel accesses) use it, and unpinned when the last user lets go.
 */
export class Pages {
  /** Host frame of each pinned page. Sparse: a lazily-mapped area may span far more VA than memory. */
  private readonly pfns = new Map<number, number>()
  /** Pin users per pinned page. */
  private readonly users = new Map<number, number>()

  constructor(
    readonly space: AddressSpace,
    private readonly frames: FrameBook,
    /** Page-aligned user VA of page 0. */
    readonly uptr: bigint,
    readonly npages: number,
    /** Pinned for write (the MAP asked for IOMMU_WRITE). */
    readonly writable: boolean,
  ) {}

  get pageSize(): number {
    return this.space.pageSize
  }

  /** Pins pages [first, last]; all-or-nothing (EFAULT / ENOMEM leave nothing pinned). */
  pin(first: number, last: number): void {
    let i = first
    try {
      for (; i <= last; i++) {
        const n = this.users.get(i) ?? 0
        if (n === 0) this.pfns.set(i, this.space.pin(this.uptr + BigInt(i) * BigInt(this.pageSize), this.writable))
        this.users.set(i, n + 1)
      }
    } catch (e) {
      this.unpin(first, i - 1)
      throw e
    }
  }

  unpin(first: number, last: number): void {
    for (let i = first; i <= last; i++) {
      const n = this.users.get(i)! - 1
      if (n === 0) {
        this.frames.unpin(this.pfns.get(i)!)
        this.pfns.delete(i)
        this.users.delete(i)
      } else {
        this.users.set(i, n)
      }
    }
  }

  /** Frame of a pinned page. */
  pfnOf(page: number): number {
    const pfn = this.pfns.get(page)
    if (pfn === undefined) throw fail('EFAULT', 'iopt_pages', `page ${page} is not pinned`)
    return pfn
  }

  /** Physical address of byte `byteIndex` of this pages object (must be pinned). */
  physOf(byteIndex: number): number {
    const page = Math.floor(byteIndex / this.pageSize)
    const pfn = this.pfns.get(page)
    if (pfn === undefined) throw fail('EFAULT', 'iopt_pages', `page ${page} is not pinned`)
    return pfn * this.pageSize + (byteIndex % this.pageSize)
  }

  isPinned(page: number): boolean {
    return this.users.has(page)
  }
}
