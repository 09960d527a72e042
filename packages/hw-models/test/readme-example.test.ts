/** The README's page-table example, run as a test so it stays true (keep the two in sync). */
import { expect, it } from 'vitest'
import {
  FaultKind, IOMMU_READ, IOMMU_WRITE, Iotlb, PageTable, PhysicalMemory, TranslationContext, WalkResult,
  accessMask, lpaeS1Format, lpaeS2Format, translate, walk,
} from '../src/index.js'

it('README example', () => {
  const mem = new PhysicalMemory({ bytes: 64 << 20 })
  const fmt = lpaeS1Format({ granule: 4096, inputBits: 48 })
  const pt = new PageTable(mem, fmt)
  pt.map(0x1_0000_0000, 0x20_0000, 0x20_0000, IOMMU_READ | IOMMU_WRITE)
  expect(fmt.hwInfo).toEqual({ t0sz: 16, tg0: 0, ips: 5, startLevel: 0 })

  const out = new WalkResult()
  walk(mem, fmt, pt.root, 0x1_0000_1234, accessMask(true), out)
  expect([out.oa.toString(16), out.sizeLg2, out.level]).toEqual(['201234', 21, 2])

  const tlb = new Iotlb({ capacity: 2048, ways: 8 })
  const ctx = new TranslationContext(mem, { format: fmt, root: pt.root, tagA: 1, tagB: 7 })
  translate(tlb, ctx, 0x1_0000_2000, accessMask(false), out)
  translate(tlb, ctx, 0x1_0000_3000, accessMask(false), out)

  pt.unmap(0x1_0000_2000, 0x1000)
  expect(translate(tlb, ctx, 0x1_0000_2000, 0, out)).toBe(true)
  tlb.invalidateRange(1, 7, 0x1_0000_2000, 0x1000)
  expect([translate(tlb, ctx, 0x1_0000_2000, 0, out), out.fault === FaultKind.TRANSLATION]).toEqual([false, true])

  const s2fmt = lpaeS2Format({ granule: 4096, inputBits: 40 })
  const s2 = new PageTable(mem, s2fmt)
  s2.map(0, 0, 64 << 20, IOMMU_READ | IOMMU_WRITE)
  const nested = new TranslationContext(mem, { format: fmt, root: pt.root, stage2: { format: s2fmt, root: s2.root }, tagA: 1, tagB: 8 })
  translate(tlb, nested, 0x1_0000_5678, accessMask(false), out)
  expect([out.oa.toString(16), out.ipa.toString(16), out.reads]).toEqual(['205678', '205678', 14])
  expect(tlb.stats()).toMatchObject({ hits: 2, misses: 3, fills: 2 })
})
