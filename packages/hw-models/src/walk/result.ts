import { faultKindName, permString } from '../pgtable/constants.js'

/**
 * The outcome of one walk or translation, written in place by the walker so that the hot path
 * never allocates: create one per thread / per unit and reuse it.
 *
 * On success `fault === 0` and `oa`, `sizeLg2`, `perm` describe the translation of the input
 * address. On a fault, `fault`, `stage`, `level`, `duringTableWalk` and `faultAddress` say what
 * the hardware would report; the other fields are unspecified.
 */
export class WalkResult {
  /** {@link FaultKind}; 0 = translated. */
  fault = 0
  /** Stage that faulted (1 = stage 1 / first stage / guest, 2 = stage 2 / second stage / host).
   *  On success, the stage of the format that produced the final output. */
  stage = 0
  /** Architecture-numbered level where the walk stopped (ARM 0..3, x86 / VT-d 1..5, AMD 1..6):
   *  the faulting level, or the level of the leaf. */
  level = 0
  /** True when a stage-2 fault happened while translating the address of a stage-1 descriptor
   *  (SMMU CLASS=TT, VT-d 0x73-0x77-style reasons) rather than the final output (CLASS=IN). */
  duringTableWalk = false
  /** Input address of the faulting stage: the IOVA for stage 1, the IPA/GPA for stage 2. */
  faultAddress = 0
  /** Output (physical) address of the input address, including the page offset. */
  oa = 0
  /** log2 of the size of the translation: the leaf (or contiguous group) size; for a nested
   *  translation the smaller of the two stages' sizes. */
  sizeLg2 = 0
  /** Effective permissions ({@link Perm} bits), stage 1 ∩ stage 2 when nested. */
  perm = 0
  /** Stage-1 permissions alone (equal to `perm` for a single-stage walk). */
  s1Perm = 0
  /** Raw low / high words of the stage-1 (or only) leaf descriptor, for memory attributes, as
   *  signed 32-bit integers (`>>> 0` gives the unsigned word). From an IOTLB hit: the attribute
   *  word the entry was filled with, and 0. */
  leafLo = 0
  leafHi = 0
  /** Intermediate address (stage-1 output) of a nested translation; 0 otherwise. */
  ipa = 0
  /** Descriptor fetches this walk made, including stage-2 fetches of a nested walk. */
  reads = 0

  /** Resets the fields a walk always sets. */
  clear(): void {
    this.fault = 0
    this.stage = 0
    this.level = 0
    this.duringTableWalk = false
    this.faultAddress = 0
    this.oa = 0
    this.sizeLg2 = 0
    this.perm = 0
    this.s1Perm = 0
    this.leafLo = 0
    this.leafHi = 0
    this.ipa = 0
    this.reads = 0
  }

  get ok(): boolean {
    return this.fault === 0
  }

  /** A readable summary for logs and test failures (allocates; not for the hot path). */
  describe(): string {
    if (this.fault !== 0) {
      return `${faultKindName(this.fault)} fault, stage ${this.stage}, level ${this.level}` +
        `${this.duringTableWalk ? ' (stage-1 table walk)' : ''} at 0x${this.faultAddress.toString(16)}`
    }
    return `-> 0x${this.oa.toString(16)} size 2^${this.sizeLg2} ${permString(this.perm)}`
  }
}
