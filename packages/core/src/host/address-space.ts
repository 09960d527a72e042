import { IommufdError, fail } from '../errors/iommufd-error.js'
import type { UserMemory } from '../driver/user-data.js'
import type { FrameBook } from './frame-book.js'

export const PROT_READ = 1
export const PROT_WRITE = 2

interface DeviceMapping {
  /** Frame mapped at `startVa`. */
  readonly basePfn: number
  readonly startVa: bigint
  /** VMAs left of this mapping (munmap may split it); release runs when the last goes. */
  pieces: number
  readonly release: () => void
}

interface Vma {
  start: bigint
  /** exclusive */
  end: bigint
  prot: number
  /** MMIO / driver memory mapped from a file (not owned by the process, never pinned). */
  device?: DeviceMapping
}

export interface MmapOptions {
  /** PROT_READ | PROT_WRITE (default both). */
  readonly prot?: number
  /** Place the mapping at this page-aligned address (MAP_FIXED semantics: replaces overlaps). */
  readonly fixedVa?: bigint | number
}

const MMAP_BASE = 0x7f00_0000_0000n

/**
 * A process's memory: VMAs and a page table from virtual page numbers to host frames.
 * Pages are faulted in on first write or pin (reads of untouched pages see zeros, like the
 * zero page). With transparent huge pages, a fault inside a 2 MiB-aligned stretch of a VMA
 * takes a physically contiguous 2 MiB run, so IOMMU mappings of it can use large pages.
 */
export class AddressSpace implements UserMemory {
  private vmas: Vma[] = []
  private readonly pte = new Map<number, number>()
  private nextVa = MMAP_BASE
  private readonly pageShift: bigint
  private readonly pageMask: bigint

  constructor(
    private readonly frames: FrameBook,
    readonly pageSize: number,
    /** THP size in bytes, or 0 when transparent huge pages are off. */
    readonly hugePageSize: number,
  ) {
    this.pageShift = BigInt(Math.log2(pageSize))
    this.pageMask = BigInt(pageSize - 1)
  }

  mmap(length: bigint | number, options: MmapOptions = {}): bigint {
    const len = BigInt(length)
    if (len <= 0n) throw fail('EINVAL', 'mmap', 'length must be positive')
    const size = (len + this.pageMask) & ~this.pageMask
    const prot = options.prot ?? PROT_READ | PROT_WRITE
    let start: bigint
    if (options.fixedVa !== undefined) {
      start = BigInt(options.fixedVa)
      if ((start & this.pageMask) !== 0n) throw fail('EINVAL', 'mmap', 'fixed address not page aligned')
      this.unmapRange(start, start + size)
    } else {
      const align = this.hugePageSize > 0 && size >= BigInt(this.hugePageSize) ? BigInt(this.hugePageSize) : BigInt(this.pageSize)
      start = (this.nextVa + align - 1n) & ~(align - 1n)
      // Leave a guard page between mappings so adjacent VMAs are never silently contiguous.
      this.nextVa = start + size + BigInt(this.pageSize)
    }
    this.vmas.push({ start, end: start + size, prot })
    this.vmas.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
    return start
  }

  /**
   * Maps physically contiguous memory the process does not own (an mmap of a driver region):
   * [pa, pa + length) at a fresh VA; `release` runs when the mapping is fully unmapped.
   */
  mmapDevice(pa: number, length: number, prot: number, release: () => void): bigint {
    const size = BigInt(length)
    const start = (this.nextVa + BigInt(this.pageSize) - 1n) & ~this.pageMask
    this.nextVa = start + size + BigInt(this.pageSize)
    this.vmas.push({ start, end: start + size, prot, device: { basePfn: pa / this.pageSize, startVa: start, pieces: 1, release } })
    this.vmas.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
    return start
  }

  munmap(va: bigint | number, length: bigint | number): void {
    const start = BigInt(va)
    const len = BigInt(length)
    if ((start & this.pageMask) !== 0n || len <= 0n) throw fail('EINVAL', 'munmap', 'address not page aligned or length not positive')
    this.unmapRange(start, start + ((len + this.pageMask) & ~this.pageMask))
  }

  /** Drops every mapping (process exit). */
  clear(): void {
    this.unmapRange(0n, 1n << 64n)
  }

  isMapped(va: bigint, length: bigint): boolean {
    if (length <= 0n) return true
    let cur = va
    const end = va + length
    for (const v of this.vmas) {
      if (v.end <= cur) continue
      if (v.start > cur) return false
      cur = v.end
      if (cur >= end) return true
    }
    return false
  }

  read(va: bigint, length: number): Uint8Array {
    this.requireRange(va, length, false, 'read')
    const out = new Uint8Array(length)
    this.copy(va, length, 'read', (pa, off, n) => out.set(this.frames.memory.u8.subarray(pa, pa + n), off))
    return out
  }

  write(va: bigint, bytes: Uint8Array): void {
    // Check the whole range first so a faulting write changes nothing.
    this.requireRange(va, bytes.length, true, 'write')
    this.copy(va, bytes.length, 'write', (pa, off, n) => this.frames.memory.u8.set(bytes.subarray(off, off + n), pa))
  }

  /**
   * Pins the page containing `va` (faulting it in) and returns its frame number.
   * EFAULT if unmapped, or when `write` is asked of a read-only mapping.
   */
  pin(va: bigint, write: boolean): number {
    const vma = this.vmaAt(va)
    if (vma === undefined || vma.device !== undefined || (write && (vma.prot & PROT_WRITE) === 0) || (vma.prot & PROT_READ) === 0) {
      throw fail('EFAULT', 'pin_user_pages', `no ${write ? 'writable ' : ''}mapping at 0x${va.toString(16)}`)
    }
    const pfn = this.fault(va, vma)
    this.frames.pin(pfn)
    return pfn
  }

  /** The frame currently behind `va`, faulting it in; undefined if unmapped. */
  frameOf(va: bigint): number | undefined {
    const vma = this.vmaAt(va)
    return vma === undefined ? undefined : this.fault(va, vma)
  }

  private copy(va: bigint, length: number, what: string, fn: (pa: number, off: number, n: number) => void): void {
    this.requireRange(va, length, what === 'write', what)
    let off = 0
    while (off < length) {
      const cur = va + BigInt(off)
      const inPage = this.pageSize - Number(cur & this.pageMask)
      const n = Math.min(inPage, length - off)
      const vpn = Number(cur >> this.pageShift)
      const vma = this.vmaAt(cur)!
      let pfn = vma.device !== undefined ? this.fault(cur, vma) : this.pte.get(vpn)
      if (pfn === undefined && what === 'write') pfn = this.fault(cur, vma)
      if (pfn !== undefined) fn(pfn * this.pageSize + Number(cur & this.pageMask), off, n)
      off += n
    }
  }

  private requireRange(va: bigint, length: number, write: boolean, what: string): void {
    if (va < 0n || va + BigInt(length) > 1n << 64n || !this.isMapped(va, BigInt(length))) {
      throw new IommufdError('EFAULT', what, `bad address [0x${va.toString(16)}, +${length})`)
    }
    if (write) {
      for (const v of this.vmas) {
        if (v.end > va && v.start < va + BigInt(length) && (v.prot & PROT_WRITE) === 0) {
          throw new IommufdError('EFAULT', what, `read-only mapping at 0x${v.start.toString(16)}`)
        }
      }
    }
  }

  private vmaAt(va: bigint): Vma | undefined {
    for (const v of this.vmas) if (va >= v.start && va < v.end) return v
    return undefined
  }

  private fault(va: bigint, vma: Vma): number {
    if (vma.device !== undefined) return vma.device.basePfn + Number((va - vma.device.startVa) >> this.pageShift)
    const vpn = Number(va >> this.pageShift)
    const have = this.pte.get(vpn)
    if (have !== undefined) return have
    if (this.hugePageSize > 0) {
      const huge = BigInt(this.hugePageSize)
      const hs = va & ~(huge - 1n)
      const npages = this.hugePageSize / this.pageSize
      const firstVpn = Number(hs >> this.pageShift)
      if (hs >= vma.start && hs + huge <= vma.end && !this.anyPresent(firstVpn, npages)) {
        try {
          const pfn = this.frames.allocate(npages)
          for (let i = 0; i < npages; i++) this.pte.set(firstVpn + i, pfn + i)
          return pfn + (vpn - firstVpn)
        } catch {
          // Fragmented memory: fall back to a small page, as THP does.
        }
      }
    }
    let pfn: number
    try {
      pfn = this.frames.allocate(1)
    } catch (e) {
      throw new IommufdError('ENOMEM', 'page fault', `out of host memory faulting 0x${va.toString(16)}`, { cause: e })
    }
    this.pte.set(vpn, pfn)
    return pfn
  }

  private anyPresent(firstVpn: number, n: number): boolean {
    for (let i = 0; i < n; i++) if (this.pte.has(firstVpn + i)) return true
    return false
  }

  private unmapRange(start: bigint, end: bigint): void {
    const next: Vma[] = []
    for (const v of this.vmas) {
      if (v.end <= start || v.start >= end) {
        next.push(v)
        continue
      }
      const keep: Vma[] = []
      if (v.start < start) keep.push({ ...v, end: start })
      if (v.end > end) keep.push({ ...v, start: end })
      next.push(...keep)
      if (v.device !== undefined) {
        v.device.pieces += keep.length - 1
        if (v.device.pieces === 0) v.device.release()
      }
    }
    this.vmas = next
    for (const [vpn, pfn] of this.pte) {
      const va = BigInt(vpn) << this.pageShift
      if (va >= start && va < end) {
        this.pte.delete(vpn)
        this.frames.put(pfn)
      }
    }
  }
}
