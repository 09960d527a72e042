/**
 * The IOVA → memory map of one IOAS (`struct io_pagetable`): areas, reserved and allowed
 * ranges, the IOVA alignment, automatic IOVA allocation, and the mirroring of every area into
 * each member domain. Follows drivers/iommu/iommufd/io_pagetable.c rule for rule; every
 * operation either completes or leaves the table as it was (except UNMAP, which the kernel
 * defines as non-atomic).
 */
import { IOMMU_WRITE } from '../uapi/constants.js'
import { fail } from '../errors/iommufd-error.js'
import type { IommuDomain } from '../driver/ops.js'
import { iommuMap, iommuUnmap } from '../driver/iommu-map.js'
import type { Pages } from './pages.js'
import { U64, alignUp, holes, lowestSetBit, mergeRanges, overlaps, roundupPowOfTwo, type IovaRange } from './ranges.js'

const ULONG_MAX = U64

/** One contiguous mapped IOVA range (`struct iopt_area`). */
export class Area {
  /** In-kernel access pins on this area (each blocks unmap until the access lets go). */
  numAccesses = 0
  /** Pins that lock the area against unmap (HW queues): UNMAP → EBUSY. */
  numLocks = 0
  /** True while this area's pages are pinned for the IOAS's domains. */
  domainPinned = false

  constructor(
    readonly iova: bigint,
    readonly last: bigint,
    /** IOMMU_READ | IOMMU_WRITE | IOMMU_CACHE */
    readonly prot: number,
    readonly pages: Pages,
    /** Offset of the area's first byte from pages.uptr. */
    readonly startByte: bigint,
  ) {}

  get length(): bigint {
    return this.last - this.iova + 1n
  }
  get pageOffset(): number {
    return Number(this.startByte % BigInt(this.pages.pageSize))
  }
  get firstPage(): number {
    return Number(this.startByte / BigInt(this.pages.pageSize))
  }
  get lastPage(): number {
    return Number((this.startByte + this.length - 1n) / BigInt(this.pages.pageSize))
  }
  /** Offset from pages.uptr of the byte mapped at `iova`. */
  startByteOf(iova: bigint): bigint {
    return this.startByte + (iova - this.iova)
  }
}

/** A reserved IOVA range and who reserved it (device, domain, or null for test reservations). */
export interface Reserved {
  readonly start: bigint
  readonly last: bigint
  readonly owner: unknown
}

/** A slice of pages to place at consecutive IOVAs (MAP: one; COPY: one per source area). */
export interface PagesSlice {
  readonly pages: Pages
  readonly startByte: bigint
  readonly length: bigint
}

/** An in-kernel user of the IOAS (ACCESS): constrains alignment and must release pins on unmap. */
export interface AccessHook {
  readonly iovaAlignment: number
  /** Asked to drop its pins on [iova, iova + length) before the range is unmapped. */
  notifyUnmap(iova: bigint, length: bigint): void
}

export interface IoPagetableConfig {
  /** Host PAGE_SIZE. */
  readonly pageSize: number
  /** Cap on the automatic IOVA alignment (THP size, or PAGE_SIZE without THP). */
  readonly maxAutoAlignment: number
}

export class IoPagetable {
  /** Sorted by IOVA, never overlapping. */
  private areaList: Area[] = []
  private reservedList: Reserved[] = []
  private allowedList: IovaRange[] = []
  /** Member domains, in join order (compacted by swapping with the tail on removal). */
  readonly domains: IommuDomain[] = []
  readonly accesses = new Set<AccessHook>()
  iovaAlignment = 1
  disableLargePages = false

  constructor(readonly config: IoPagetableConfig) {}

  get areas(): readonly Area[] {
    return this.areaList
  }
  get reserved(): readonly Reserved[] {
    return this.reservedList
  }
  get allowed(): readonly IovaRange[] {
    return this.allowedList
  }

  private get pageSize(): bigint {
    return BigInt(this.config.pageSize)
  }

  // ---- lookups --------------------------------------------------------------------------

  areasIn(start: bigint, last: bigint): Area[] {
    return this.areaList.filter((a) => overlaps(a.iova, a.last, start, last))
  }

  private reservedIn(start: bigint, last: bigint): boolean {
    return this.reservedList.some((r) => overlaps(r.start, r.last, start, last))
  }

  private allowedIn(start: bigint, last: bigint): boolean {
    return this.allowedList.some((r) => overlaps(r.start, r.last, start, last))
  }

  /** The holes of the reserved set over [0, U64_MAX] (IOMMU_IOAS_IOVA_RANGES). */
  usableRanges(): IovaRange[] {
    return holes(this.reservedList, 0n, ULONG_MAX)
  }

  /**
   * The contiguous run of areas covering [iova, iova + length) as page slices
   * (iopt_get_pages): length 0 → EINVAL, wrap → EOVERFLOW, any hole → ENOENT.
   */
  getPages(iova: bigint, length: bigint, op: string): { slices: PagesSlice[]; areas: Area[] } {
    if (length === 0n) throw fail('EINVAL', op, 'length is 0')
    const last = iova + length - 1n
    if (last > ULONG_MAX) throw fail('EOVERFLOW', op, 'iova + length overflows')
    const slices: PagesSlice[] = []
    const areas: Area[] = []
    let cur = iova
    for (const a of this.areaList) {
      if (a.last < cur) continue
      if (a.iova > cur) break
      const end = a.last < last ? a.last : last
      slices.push({ pages: a.pages, startByte: a.startByteOf(cur), length: end - cur + 1n })
      areas.push(a)
      if (end === last) return { slices, areas }
      cur = end + 1n
    }
    throw fail('ENOENT', op, `IOVA range [0x${iova.toString(16)}, 0x${last.toString(16)}] is not fully mapped`)
  }

  // ---- MAP / COPY -------------------------------------------------------------------------

  /**
   * Places `slices` back to back at a fixed or automatic IOVA, pins and maps them into every
   * domain (iopt_map_pages). Returns the IOVA. All-or-nothing.
   */
  mapPages(slices: readonly PagesSlice[], length: bigint, fixedIova: bigint | undefined, prot: number, op: string): bigint {
    // iopt_alloc_area_pages
    if (length === 0n || (length & BigInt(this.iovaAlignment - 1)) !== 0n) {
      throw fail('EINVAL', op, `length 0x${length.toString(16)} is zero or not a multiple of the IOVA alignment ${this.iovaAlignment}`)
    }
    let iova: bigint
    if (fixedIova === undefined) {
      const first = slices[0]!
      iova = this.allocIova(first.pages.uptr + first.startByte, length, op)
    } else {
      iova = fixedIova
      this.checkIova(iova, length, op)
    }
    const created: Area[] = []
    let cur = iova
    for (const s of slices) {
      // iopt_insert_area
      if ((prot & IOMMU_WRITE) !== 0 && !s.pages.writable) throw fail('EPERM', op, 'write access requested on pages mapped read-only')
      const pageOffset = s.startByte % this.pageSize
      if ((pageOffset & BigInt(this.iovaAlignment - 1)) !== 0n) {
        throw fail('EINVAL', op, `user address page offset 0x${pageOffset.toString(16)} is not aligned to the IOVA alignment ${this.iovaAlignment}`)
      }
      const last = cur + s.length - 1n
      if (last > ULONG_MAX) throw fail('EOVERFLOW', op, 'iova + length overflows')
      created.push(new Area(cur, last, prot, s.pages, s.startByte))
      cur = last + 1n
    }
    // iopt_fill_domains_pages: pin once, map into every member domain.
    const filled: Area[] = []
    try {
      for (const a of created) {
        this.fillDomains(a, op)
        filled.push(a)
      }
    } catch (e) {
      for (const a of filled) this.unfillDomains(a, op)
      throw e
    }
    for (const a of created) this.insertArea(a)
    return iova
  }

  private insertArea(a: Area): void {
    const i = this.areaList.findIndex((x) => x.iova > a.iova)
    if (i < 0) this.areaList.push(a)
    else this.areaList.splice(i, 0, a)
  }

  /** iopt_check_iova for a fixed IOVA. */
  private checkIova(iova: bigint, length: bigint, op: string): void {
    if ((iova & BigInt(this.iovaAlignment - 1)) !== 0n) throw fail('EINVAL', op, `iova 0x${iova.toString(16)} not aligned to ${this.iovaAlignment}`)
    const last = iova + length - 1n
    if (last > ULONG_MAX) throw fail('EOVERFLOW', op, 'iova + length overflows')
    if (this.reservedIn(iova, last)) throw fail('EINVAL', op, `[0x${iova.toString(16)}, 0x${last.toString(16)}] intersects a reserved range`)
    if (this.areasIn(iova, last).length > 0) throw fail('EEXIST', op, `[0x${iova.toString(16)}, 0x${last.toString(16)}] intersects an existing mapping`)
  }

  /**
   * Automatic IOVA (iopt_alloc_iova): keep the alignment the user address has, capped at the
   * huge-page size; first fit in ascending order inside the allowed ranges (or the whole space
   * less the first and last page), outside reserved ranges and areas.
   */
  allocIova(uptr: bigint, length: bigint, op: string): bigint {
    if (length === 0n || length >= ULONG_MAX / 2n) throw fail('EOVERFLOW', op, 'length too large for automatic IOVA')
    const pageOffset = uptr % this.pageSize
    let align = roundupPowOfTwo(length)
    if (uptr !== 0n) {
      const low = lowestSetBit(uptr)
      if (low < align) align = low
    }
    const cap = BigInt(this.config.maxAutoAlignment)
    if (align > cap) align = cap
    if (align < BigInt(this.iovaAlignment)) throw fail('EINVAL', op, `natural alignment 0x${align.toString(16)} is below the IOVA alignment ${this.iovaAlignment}`)

    const windowStart = this.pageSize
    const windowLast = ULONG_MAX - this.pageSize
    const allowedSpans =
      this.allowedList.length === 0
        ? [{ start: windowStart, last: windowLast }]
        : mergeRanges(this.allowedList)
            .filter((r) => r.last >= windowStart && r.start <= windowLast)
            .map((r) => ({ start: r.start < windowStart ? windowStart : r.start, last: r.last > windowLast ? windowLast : r.last }))
    const used = [...this.reservedList, ...this.areaList.map((a) => ({ start: a.iova, last: a.last }))]
    for (const span of allowedSpans) {
      const spanStart = this.fitStart(span.start, span.last, length, align, pageOffset)
      if (spanStart === undefined) continue
      for (const hole of holes(used, spanStart, span.last)) {
        const start = this.fitStart(hole.start, hole.last, length, align, pageOffset)
        if (start !== undefined) return start
      }
    }
    throw fail('ENOSPC', op, `no free IOVA hole of 0x${length.toString(16)} bytes`)
  }

  /** ALIGN(start, align) | page_offset if [that, last] still holds `length` bytes. */
  private fitStart(start: bigint, last: bigint, length: bigint, align: bigint, pageOffset: bigint): bigint | undefined {
    if (last - start < length - 1n) return undefined
    const s = alignUp(start, align) | pageOffset
    if (s > last || last - s < length - 1n) return undefined
    return s
  }

  // ---- UNMAP ------------------------------------------------------------------------------

  /**
   * iopt_unmap_iova_range: removes whole areas inside [start, last] in ascending order.
   * Not atomic: areas removed before an error stay removed (the error is still thrown).
   * Returns the bytes unmapped; nothing to unmap → ENOENT.
   */
  unmapRange(start: bigint, last: bigint, op: string): bigint {
    let unmapped = 0n
    let accessRounds = 0
    for (;;) {
      const area = this.areaList.find((a) => overlaps(a.iova, a.last, start, last))
      if (area === undefined) break
      if (area.numLocks > 0) throw fail('EBUSY', op, `area at 0x${area.iova.toString(16)} is pinned by a hardware queue`)
      if (area.iova < start || area.last > last) {
        throw fail('ENOENT', op, `area [0x${area.iova.toString(16)}, 0x${area.last.toString(16)}] is only partly inside the range`)
      }
      if (area.numAccesses > 0) {
        // Ask every access to drop its pins, then look again.
        if (++accessRounds > 100) throw fail('EDEADLOCK', op, 'an in-kernel access did not release its pins')
        for (const acc of [...this.accesses]) acc.notifyUnmap(area.iova, area.length)
        continue
      }
      this.unfillDomains(area, op)
      this.areaList.splice(this.areaList.indexOf(area), 1)
      unmapped += area.length
    }
    if (unmapped === 0n) throw fail('ENOENT', op, `nothing mapped in [0x${start.toString(16)}, 0x${last.toString(16)}]`)
    return unmapped
  }

  /** iopt_unmap_all: like unmapRange over everything, but an empty IOAS is fine. */
  unmapAll(op: string): bigint {
    if (this.areaList.length === 0) return 0n
    return this.unmapRange(0n, ULONG_MAX, op)
  }

  // ---- reserved and allowed ranges ----------------------------------------------------------

  /** iopt_reserve_iova: refused with EADDRINUSE over an area or an allowed range. */
  reserve(start: bigint, last: bigint, owner: unknown, op: string): void {
    if (this.areasIn(start, last).length > 0 || this.allowedIn(start, last)) {
      throw fail('EADDRINUSE', op, `reserved range [0x${start.toString(16)}, 0x${last.toString(16)}] overlaps a mapping or an allowed range`)
    }
    this.reservedList.push({ start, last, owner })
    this.reservedList.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
  }

  removeReserved(owner: unknown): void {
    this.reservedList = this.reservedList.filter((r) => r.owner !== owner)
  }

  /** iopt_set_allow_iova: replaces the list; any overlap with a reservation → EADDRINUSE, old list kept. */
  setAllowed(ranges: readonly IovaRange[], op: string): void {
    for (const r of ranges) {
      if (this.reservedIn(r.start, r.last)) {
        throw fail('EADDRINUSE', op, `allowed range [0x${r.start.toString(16)}, 0x${r.last.toString(16)}] overlaps a reserved range`)
      }
    }
    this.allowedList = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))
  }

  // ---- domains ----------------------------------------------------------------------------

  /**
   * iopt_table_add_domain: the domain's smallest page sets the alignment (must be ≤ PAGE_SIZE),
   * its aperture limits become reserved ranges owned by the domain, and every area is pinned
   * and mapped into it. All-or-nothing.
   */
  addDomain(domain: IommuDomain, op: string): void {
    const minPage = lowestSetBit(domain.pgsizeBitmap)
    let newAlign = BigInt(this.iovaAlignment)
    if (minPage > newAlign) newAlign = minPage
    if (newAlign > this.pageSize) throw fail('EINVAL', op, `domain page size 0x${minPage.toString(16)} is larger than PAGE_SIZE`)
    if (newAlign !== BigInt(this.iovaAlignment)) this.checkAlignment(Number(newAlign), op)
    try {
      if (domain.aperture.start !== 0n) this.reserve(0n, domain.aperture.start - 1n, domain, op)
      if (domain.aperture.end !== ULONG_MAX) this.reserve(domain.aperture.end + 1n, ULONG_MAX, domain, op)
      const filled: Area[] = []
      try {
        for (const a of this.areaList) {
          this.fillDomain(a, domain, this.domains.length === 0, op)
          filled.push(a)
        }
      } catch (e) {
        for (const a of filled) this.unfillDomain(a, domain, this.domains.length === 0, op)
        throw e
      }
    } catch (e) {
      this.removeReserved(domain)
      throw e
    }
    this.iovaAlignment = Number(newAlign)
    this.domains.push(domain)
  }

  /** iopt_table_remove_domain: unmap everything from it, drop its reservations, recompute alignment. */
  removeDomain(domain: IommuDomain, op: string): void {
    const i = this.domains.indexOf(domain)
    if (i < 0) return
    const tail = this.domains.pop()!
    if (tail !== domain) this.domains[i] = tail
    const last = this.domains.length === 0
    for (const a of this.areaList) this.unfillDomain(a, domain, last, op)
    this.removeReserved(domain)
    this.recalculateAlignment(op)
  }

  /** iopt_calculate_iova_alignment. Raising it over existing areas → EADDRINUSE (nothing changes). */
  recalculateAlignment(op: string): void {
    let align = this.disableLargePages ? this.config.pageSize : 1
    for (const d of this.domains) align = Math.max(align, Number(lowestSetBit(d.pgsizeBitmap)))
    for (const acc of this.accesses) align = Math.max(align, acc.iovaAlignment)
    if (align > this.iovaAlignment) this.checkAlignment(align, op)
    this.iovaAlignment = align
  }

  private checkAlignment(align: number, op: string): void {
    const mask = BigInt(align - 1)
    for (const a of this.areaList) {
      if ((a.iova & mask) !== 0n || (a.length & mask) !== 0n || (BigInt(a.pageOffset) & mask) !== 0n) {
        throw fail('EADDRINUSE', op, `area at 0x${a.iova.toString(16)} does not satisfy alignment ${align}`)
      }
    }
  }

  /** IOMMU_OPTION_HUGE_PAGES = 0 (iopt_disable_large_pages). */
  setLargePages(enabled: boolean, op: string): void {
    if (enabled) {
      this.disableLargePages = false
      this.recalculateAlignment(op)
      return
    }
    if (this.disableLargePages) return
    if (this.domains.length > 0 && this.areaList.length > 0) throw fail('EINVAL', op, 'cannot disable large pages while domains hold mappings')
    this.disableLargePages = true
    try {
      this.recalculateAlignment(op)
    } catch (e) {
      this.disableLargePages = false
      throw e
    }
  }

  addAccess(access: AccessHook, op: string): void {
    this.accesses.add(access)
    try {
      this.recalculateAlignment(op)
    } catch (e) {
      this.accesses.delete(access)
      throw e
    }
  }

  removeAccess(access: AccessHook, op: string): void {
    this.accesses.delete(access)
    this.recalculateAlignment(op)
  }

  // ---- filling domains ----------------------------------------------------------------------

  /** Pins the area (when domains exist) and maps it into every member domain. */
  private fillDomains(area: Area, op: string): void {
    if (this.domains.length === 0) return
    area.pages.pin(area.firstPage, area.lastPage)
    const done: IommuDomain[] = []
    try {
      for (const d of this.domains) {
        this.mapArea(area, d, op)
        done.push(d)
      }
    } catch (e) {
      for (const d of done) iommuUnmap(d, area.iova, area.length, op)
      area.pages.unpin(area.firstPage, area.lastPage)
      throw e
    }
    area.domainPinned = true
  }

  private unfillDomains(area: Area, op: string): void {
    for (const d of this.domains) iommuUnmap(d, area.iova, area.length, op)
    if (area.domainPinned) {
      area.pages.unpin(area.firstPage, area.lastPage)
      area.domainPinned = false
    }
  }

  /** Maps one area into a joining domain; the first domain pins the pages. */
  private fillDomain(area: Area, domain: IommuDomain, first: boolean, op: string): void {
    if (first) area.pages.pin(area.firstPage, area.lastPage)
    try {
      this.mapArea(area, domain, op)
    } catch (e) {
      if (first) area.pages.unpin(area.firstPage, area.lastPage)
      throw e
    }
    if (first) area.domainPinned = true
  }

  private unfillDomain(area: Area, domain: IommuDomain, last: boolean, op: string): void {
    iommuUnmap(domain, area.iova, area.length, op)
    if (last && area.domainPinned) {
      area.pages.unpin(area.firstPage, area.lastPage)
      area.domainPinned = false
    }
  }

  /**
   * Maps the area's pinned pages, one iommu_map per physically contiguous run (per page when
   * large pages are disabled, so the domain never holds a large leaf).
   */
  private mapArea(area: Area, domain: IommuDomain, op: string): void {
    const ps = this.config.pageSize
    const pages = area.pages
    let iova = area.iova
    let remaining = area.length
    let page = area.firstPage
    let offset = area.pageOffset
    let runIova = iova
    let runPa = -1
    let runLen = 0n
    const mapped: [bigint, bigint][] = []
    try {
      while (remaining > 0n) {
        const chunk = BigInt(ps - offset) < remaining ? BigInt(ps - offset) : remaining
        const pa = pages.pfnOf(page) * ps + offset
        if (runLen > 0n && !this.disableLargePages && BigInt(runPa) + runLen === BigInt(pa)) {
          runLen += chunk
        } else {
          if (runLen > 0n) {
            iommuMap(domain, runIova, BigInt(runPa), runLen, area.prot, op)
            mapped.push([runIova, runLen])
          }
          runIova = iova
          runPa = pa
          runLen = chunk
        }
        iova += chunk
        remaining -= chunk
        page++
        offset = 0
      }
      if (runLen > 0n) {
        iommuMap(domain, runIova, BigInt(runPa), runLen, area.prot, op)
        mapped.push([runIova, runLen])
      }
    } catch (e) {
      for (const [i, l] of mapped) iommuUnmap(domain, i, l, op)
      throw e
    }
  }

  /** The host physical address behind `iova` per the areas (reference for checks); -1 if none or unpinned. */
  physOf(iova: bigint): number {
    const a = this.areaList.find((x) => iova >= x.iova && iova <= x.last)
    if (a === undefined) return -1
    const byte = a.startByteOf(iova)
    const page = Number(byte / this.pageSize)
    if (!a.pages.isPinned(page)) return -1
    return a.pages.pfnOf(page) * this.config.pageSize + Number(byte % this.pageSize)
  }
}

