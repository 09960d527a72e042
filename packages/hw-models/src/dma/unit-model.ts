/**
 * What the DMA engine needs of an IOMMU unit model: a translate entry point, the batch gate that
 * keeps its caches coherent with its invalidation interface, and a way to rebuild it on another
 * thread. Models are pluggable: a package outside hw-models names, in its shared state, an ES
 * module that exports `attachUnitModel(memory, state)`, and workers import it — so new unit
 * families plug in without engine changes.
 */
import type { PhysicalMemory } from '../memory/physical-memory.js'
import type { Iotlb } from '../iotlb/iotlb.js'
import type { WalkResult } from '../walk/result.js'
import { Smmuv3, type Smmuv3SharedState } from '../smmuv3/unit.js'

/** Shared state of a unit model defined outside hw-models. */
export interface ExternalUnitState {
  readonly kind: string
  /** URL of an ES module exporting `attachUnitModel(memory: PhysicalMemory, state): DmaUnitModel`. */
  readonly module: string
  readonly [field: string]: unknown
}

/** Plain shared data describing a unit (SharedArrayBuffers + options). */
export type SharedUnitState = Smmuv3SharedState | ExternalUnitState

export interface DmaUnitModel {
  /** The unit's IOTLB, if it has one (its hit / miss counters feed the statistics). */
  readonly iotlb?: Iotlb
  /** 0 = translated (out.oa / out.sizeLg2), otherwise a fault code (event id, or −1 for abort). */
  translate(deviceId: number, substreamId: number, iova: number, write: boolean, out: WalkResult): number
  beginBatch(): void
  endBatch(): void
  share(): SharedUnitState
  /** The unit's interrupt line, serviced on the main thread after a batch ran elsewhere. */
  onInterrupt: (() => void) | undefined
  /** True when the unit has unserviced events (e.g. EVTQ PROD ≠ CONS). */
  readonly interruptPending: boolean
}

/** Rebuilds a unit model from its shared state over `mem` (in a worker). */
export async function attachUnitModel(mem: PhysicalMemory, state: SharedUnitState): Promise<DmaUnitModel> {
  if (state.kind === 'smmuv3' && !('module' in state)) return Smmuv3.attach(mem, state as Smmuv3SharedState)
  const external = state as ExternalUnitState
  if (typeof external.module !== 'string') throw new Error(`DMA engine: unit kind ${state.kind} names no module`)
  const mod = (await importModule(external.module)) as { attachUnitModel?: (mem: PhysicalMemory, state: ExternalUnitState) => DmaUnitModel }
  if (typeof mod.attachUnitModel !== 'function') throw new Error(`DMA engine: ${external.module} exports no attachUnitModel`)
  return mod.attachUnitModel(mem, external)
}

/**
 * Imports a unit-model module. Built packages name .js modules; from sources (tests) the module is
 * TypeScript, which a worker can only load through tsx's API (its loader hooks do not reach a
 * dynamic import inside a worker). tsx is a development dependency, loaded only then.
 */
async function importModule(url: string): Promise<unknown> {
  if (!url.endsWith('.ts')) return import(url)
  const api = 'tsx/esm/api'
  const { tsImport } = (await import(api)) as { tsImport: (specifier: string, parent: string) => Promise<unknown> }
  return tsImport(url, import.meta.url)
}
