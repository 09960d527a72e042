/**
 * IOTLB-fronted translation: look the input address up, and on a miss walk (one or two stages)
 * and cache the result. A {@link TranslationContext} is what a unit model derives from its
 * configuration caches (STE/CD, context/PASID entry, DTE): formats, roots and tags.
 */
import type { PhysicalMemory } from '../memory/physical-memory.js'
import { FormatKind, Origin } from '../pgtable/constants.js'
import { LpaeFlag } from '../pgtable/lpae.js'
import type { PageTableFormat } from '../pgtable/format.js'
import type { WalkResult } from '../walk/result.js'
import { Stage2Fetch, walk, walkNested } from '../walk/walk.js'
import type { Iotlb } from './iotlb.js'

export interface TranslationContextOptions {
  /** Stage-1 format when nested, otherwise the only stage's format. */
  readonly format: PageTableFormat
  /** Root of that stage (an IPA / GPA when nested). */
  readonly root: number
  /** Stage 2 of a nested translation. */
  readonly stage2?: { readonly format: PageTableFormat; readonly root: number }
  /** IOTLB tags, integers in [0, 2^31): e.g. VMID / DID / DomainID. Default 0. */
  readonly tagA?: number
  /** e.g. ASID / PASID. Default 0. */
  readonly tagB?: number
}

export class TranslationContext {
  readonly format: PageTableFormat
  root: number
  readonly stage2: Stage2Fetch | null
  readonly tagA: number
  readonly tagB: number
  /** {@link Origin} of the entries this context caches. */
  readonly origin: number
  /** Stage-1 HTTU dirty-state updates (CD.HD): denied IOTLB hits are re-walked. */
  readonly hardwareDirty: boolean

  constructor(readonly mem: PhysicalMemory, options: TranslationContextOptions) {
    this.format = options.format
    this.root = options.root
    this.stage2 = options.stage2 ? new Stage2Fetch(mem, options.stage2.format, options.stage2.root) : null
    this.tagA = options.tagA ?? 0
    this.tagB = options.tagB ?? 0
    for (const t of [this.tagA, this.tagB]) {
      if (!Number.isInteger(t) || t < 0 || t > 0x7fffffff) throw new RangeError(`TranslationContext: tags must be integers in [0, 2^31), got ${t}`)
    }
    this.origin = this.stage2 !== null ? Origin.NESTED : this.format.stage === 1 ? Origin.S1 : Origin.S2
    this.hardwareDirty = (this.format.flags & LpaeFlag.HD) !== 0 && (this.format.kind === FormatKind.LPAE_S1)
  }
}

/**
 * Translates `iova` for `ctx`: IOTLB hit (permission-checked), or walk and fill. Pass `tlb` null
 * to always walk. Nested contexts cache the combined entry (smaller page size, S1 ∩ S2
 * permissions) under the stage-1 tags. Hot path: no allocation.
 */
export function translate(tlb: Iotlb | null, ctx: TranslationContext, iova: number, required: number, out: WalkResult): boolean {
  if (tlb !== null) {
    const e = tlb.lookup(ctx.tagA, ctx.tagB, ctx.origin, iova)
    // A write denied by a cached writable-clean entry re-walks: with HTTU the walk marks it dirty.
    if (e >= 0 && (tlb.hitInto(e, iova, required, out) || !ctx.hardwareDirty)) return out.fault === 0
  }
  return translateMiss(tlb, ctx, iova, required, out)
}

/** The miss path, kept out of line so the hit path stays small enough to inline. */
function translateMiss(tlb: Iotlb | null, ctx: TranslationContext, iova: number, required: number, out: WalkResult): boolean {
  const s2 = ctx.stage2
  const ok = s2 === null
    ? walk(ctx.mem, ctx.format, ctx.root, iova, required, out, null)
    : walkNested(ctx.mem, ctx.format, ctx.root, s2, iova, required, out)
  if (ok && tlb !== null) tlb.insertWalk(ctx.tagA, ctx.tagB, ctx.origin, iova, out)
  return ok
}
