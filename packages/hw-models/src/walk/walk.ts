/**
 * The walker entry points: one `walk` for every format (dispatching to the family walker), the
 * stage-2 fetch hook that turns a stage-1 walk into a nested (two-dimensional) walk, and
 * `walkNested` which also translates the stage-1 output through stage 2.
 *
 * Hot-path contract (DESIGN §4): numbers and typed arrays only, no allocation, no closures; the
 * caller owns the {@link WalkResult}.
 */
import type { PhysicalMemory } from '../memory/physical-memory.js'
import { FormatKind, Perm } from '../pgtable/constants.js'
import type { PageTableFormat } from '../pgtable/format.js'
import { walkLpae } from '../pgtable/lpae.js'
import { walkX86 } from '../pgtable/x86-64.js'
import { walkVtdSs } from '../pgtable/vtd-ss.js'
import { walkAmdV1 } from '../pgtable/amd-v1.js'
import type { WalkFetch } from './fetch.js'
import type { WalkResult } from './result.js'

/**
 * Walks one stage without resetting `out` (accumulates `out.reads`). Use this from a
 * {@link WalkFetch} implementation; use {@link walk} otherwise.
 */
export function walkStage(mem: PhysicalMemory, fmt: PageTableFormat, root: number, iova: number, required: number, out: WalkResult, fetch: WalkFetch | null): boolean {
  switch (fmt.kind) {
    case FormatKind.LPAE_S1:
    case FormatKind.LPAE_S2:
      return walkLpae(mem, fmt, root, iova, required, out, fetch)
    case FormatKind.X86_64:
      return walkX86(mem, fmt, root, iova, required, out, fetch)
    case FormatKind.VTD_SS:
      return walkVtdSs(mem, fmt, root, iova, required, out, fetch)
    default:
      return walkAmdV1(mem, fmt, root, iova, required, out, fetch)
  }
}

/**
 * Translates `iova` through the table rooted at `root` (a physical address, or with a `fetch`
 * hook whatever address space the hook translates from).
 *
 * @param required {@link Perm} bits the access needs (see `accessMask`); 0 checks nothing.
 * @returns true on success; details (or the fault) are in `out`.
 */
export function walk(mem: PhysicalMemory, fmt: PageTableFormat, root: number, iova: number, required: number, out: WalkResult, fetch: WalkFetch | null = null): boolean {
  out.reads = 0
  out.duringTableWalk = false
  out.ipa = 0
  return walkStage(mem, fmt, root, iova, required, out, fetch)
}

/**
 * A stage-2 translation used as the fetch hook of a stage-1 walk: each stage-1 descriptor address
 * (an IPA / GPA) is walked through stage 2 with read permission (reference §1.6, §2.6, §3.5).
 * Reusable: change `root` when the stage-2 table of the context changes.
 */
export class Stage2Fetch implements WalkFetch {
  constructor(readonly mem: PhysicalMemory, readonly format: PageTableFormat, public root: number) {}

  fetch(addr: number, out: WalkResult): number {
    return walkStage(this.mem, this.format, this.root, addr, Perm.R, out, null) ? out.oa : -1
  }
}

/**
 * A nested (two-stage) translation: the stage-1 walk fetches every descriptor through
 * `stage2`, then the stage-1 output is translated by stage 2. The result is the combined
 * translation: `oa` the final PA, `sizeLg2` the smaller of the two leaf sizes, `perm` the
 * intersection, `s1Perm` stage 1's alone, `ipa` the intermediate address, `leafLo/Hi` the stage-1
 * leaf. A fault says which stage, and `duringTableWalk` when stage 2 failed on a stage-1 table.
 */
export function walkNested(mem: PhysicalMemory, s1: PageTableFormat, s1Root: number, stage2: Stage2Fetch, iova: number, required: number, out: WalkResult): boolean {
  out.reads = 0
  out.duringTableWalk = false
  out.ipa = 0
  if (!walkStage(mem, s1, s1Root, iova, required, out, stage2)) return false
  const ipa = out.oa
  const s1Size = out.sizeLg2
  const s1Perm = out.perm
  const s1Level = out.level
  const leafLo = out.leafLo
  const leafHi = out.leafHi
  const ok = walkStage(mem, stage2.format, stage2.root, ipa, required, out, null)
  out.ipa = ipa
  out.s1Perm = s1Perm
  if (!ok) return false
  out.perm &= s1Perm
  if (s1Size < out.sizeLg2) out.sizeLg2 = s1Size
  out.level = s1Level
  out.leafLo = leafLo
  out.leafHi = leafHi
  return true
}
