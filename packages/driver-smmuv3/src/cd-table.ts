/**
 * A master's context-descriptor table (`struct arm_smmu_ctx_desc_cfg`), laid out as Linux's
 * arm_smmu_alloc_cd_tables does: one linear table when 2^S1CDMax CDs fit in 1024 entries (or the
 * SMMU has no 2-level CD tables), otherwise an L1 table of descriptors pointing at 64 KiB
 * (1024-CD) leaf tables allocated on first use (STE.S1Fmt = 2, reference hw-formats.md §1.4).
 */
import { CD_L1, CD_L1_DESC_SIZE, CD_L2_ENTRIES, CD_SIZE, STE_S1FMT_64K_L2, STE_S1FMT_LINEAR, setField, type PhysicalMemory } from '@iommu-sim/hw-models'

const FRAME = 4096
const L2_FRAMES = (CD_L2_ENTRIES * CD_SIZE) / FRAME

export class CdTable {
  /** STE.S1CDMax: log2 of the number of CDs. */
  readonly s1cdmax: number
  /** STE.S1Fmt. */
  readonly s1fmt: number
  /** STE.S1ContextPtr: the linear table or the L1 table. */
  readonly base: number
  private readonly baseFrames: number
  private readonly leaves = new Map<number, number>()
  /** SubstreamIDs other than 0 whose CD is valid (Linux's `used_ssids`). */
  readonly pasidsInUse = new Set<number>()

  constructor(
    private readonly mem: PhysicalMemory,
    ssidBits: number,
    twoLevel: boolean,
  ) {
    this.s1cdmax = ssidBits
    const contexts = 2 ** ssidBits
    if (!twoLevel || contexts <= CD_L2_ENTRIES) {
      this.s1fmt = STE_S1FMT_LINEAR
      this.baseFrames = Math.ceil((contexts * CD_SIZE) / FRAME)
    } else {
      this.s1fmt = STE_S1FMT_64K_L2
      this.baseFrames = Math.ceil((Math.ceil(contexts / CD_L2_ENTRIES) * CD_L1_DESC_SIZE) / FRAME)
    }
    this.base = mem.allocFrames(this.baseFrames)
  }

  /**
   * Physical address of CD `ssid`, allocating its leaf table when needed. `onNewLeaf` runs after
   * a new L1 descriptor is written (an invalid L1 descriptor may be cached: the caller issues
   * CFGI_CD for it, as arm_smmu_alloc_cd_ptr does).
   */
  cdAddress(ssid: number, allocate: boolean, onNewLeaf?: () => void): number | undefined {
    if (this.s1fmt === STE_S1FMT_LINEAR) return this.base + ssid * CD_SIZE
    const l1 = Math.floor(ssid / CD_L2_ENTRIES)
    let leaf = this.leaves.get(l1)
    if (leaf === undefined) {
      if (!allocate) return undefined
      leaf = this.mem.allocFrames(L2_FRAMES, L2_FRAMES)
      this.leaves.set(l1, leaf)
      const desc = [0n]
      setField(desc, CD_L1.V, 1)
      setField(desc, CD_L1.L2PTR, BigInt(leaf) >> 12n)
      this.mem.write64(this.base + l1 * CD_L1_DESC_SIZE, desc[0]!)
      onNewLeaf?.()
    }
    return leaf + (ssid % CD_L2_ENTRIES) * CD_SIZE
  }

  /** Clears a CD: Q0 (V) first, then the rest. */
  clearCd(pa: number): void {
    this.mem.write64(pa, 0n)
    this.mem.write(pa + 8, new Uint8Array(CD_SIZE - 8))
  }

  /** Frees every table frame. */
  free(): void {
    for (const leaf of this.leaves.values()) this.mem.freeFrames(leaf, L2_FRAMES)
    this.leaves.clear()
    this.mem.freeFrames(this.base, this.baseFrames)
  }
}
