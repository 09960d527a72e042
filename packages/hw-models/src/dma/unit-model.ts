/**
 * What the DMA engine needs of an IOMMU unit model: a translate entry point, the batch gate that
 * keeps its caches coherent with the command queue, and a way to rebuild it on another thread.
 */
import type { PhysicalMemory } from '../memory/physical-memory.js'
import type { Iotlb } from '../iotlb/iotlb.js'
import type { WalkResult } from '../walk/result.js'
import { Smmuv3, type Smmuv3SharedState } from '../smmuv3/unit.js'

/** Plain shared data describing a unit (SharedArrayBuffers + options). */
export type SharedUnitState = Smmuv3SharedState

export interface DmaUnitModel {
  readonly iotlb: Iotlb
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
export function attachUnitModel(mem: PhysicalMemory, state: SharedUnitState): DmaUnitModel {
  switch (state.kind) {
    case 'smmuv3':
      return Smmuv3.attach(mem, state)
    default:
      throw new Error(`DMA engine: unknown unit kind ${(state as { kind: string }).kind}`)
  }
}
