/**
 * The generic IOMMU core's map/unmap (Linux `iommu_map` / `iommu_unmap`): split a range into
 * the largest page sizes the domain supports for the alignment of IOVA and physical address,
 * and call the domain's mapPages / unmapPages. On failure everything mapped so far is undone.
 */
import { fail } from '../errors/iommufd-error.js'
import type { IommuDomain } from './ops.js'

/** Largest supported page size for this iova/pa alignment and size, and how many to map at once (as iommu_pgsize). */
function pickPgsize(bitmap: bigint, iova: bigint, pa: bigint, size: bigint): { pgsize: bigint; count: bigint } {
  const addrMerge = iova | pa
  let limit = 1n
  while (limit <= size) limit <<= 1n
  let candidates = bitmap & (limit - 1n)
  if (addrMerge !== 0n) candidates &= (addrMerge & -addrMerge) * 2n - 1n
  if (candidates === 0n) return { pgsize: 0n, count: 0n }
  let pgsize = 1n
  for (let b = candidates; b > 1n; b >>= 1n) pgsize <<= 1n
  let span = size
  const larger = bitmap & ~((pgsize << 1n) - 1n)
  if (larger !== 0n) {
    const next = larger & -larger
    // Stop at the boundary where the next larger size becomes usable, if it ever can.
    if (((iova ^ pa) & (next - 1n)) === 0n) {
      const offset = next - (addrMerge & (next - 1n))
      if (offset + next <= size) span = offset
    }
  }
  return { pgsize, count: span / pgsize }
}

export function iommuMap(domain: IommuDomain, iova: bigint, pa: bigint, size: bigint, prot: number, op: string): void {
  if (domain.mapPages === undefined) throw fail('ENODEV', op, `${domain.type} domain cannot map`)
  const min = domain.pgsizeBitmap & -domain.pgsizeBitmap
  if (min === 0n || (iova | pa | size) % min !== 0n) {
    throw fail('EINVAL', op, `unaligned: iova 0x${iova.toString(16)} pa 0x${pa.toString(16)} size 0x${size.toString(16)} min page 0x${min.toString(16)}`)
  }
  let done = 0n
  try {
    while (done < size) {
      const { pgsize, count } = pickPgsize(domain.pgsizeBitmap, iova + done, pa + done, size - done)
      if (count === 0n) throw fail('EINVAL', op, 'no page size fits')
      domain.mapPages(iova + done, pa + done, pgsize, Number(count), prot)
      done += pgsize * count
    }
  } catch (e) {
    if (done > 0n) iommuUnmap(domain, iova, done, op)
    throw e
  }
}

export function iommuUnmap(domain: IommuDomain, iova: bigint, size: bigint, op: string): bigint {
  if (domain.unmapPages === undefined) return 0n
  let done = 0n
  while (done < size) {
    const { pgsize, count } = pickPgsize(domain.pgsizeBitmap, iova + done, iova + done, size - done)
    if (count === 0n) break
    const n = domain.unmapPages(iova + done, pgsize, Number(count))
    if (n !== pgsize * count) throw fail('EINVAL', op, `driver unmapped 0x${n.toString(16)} of 0x${(pgsize * count).toString(16)} bytes`)
    done += n
  }
  return done
}
