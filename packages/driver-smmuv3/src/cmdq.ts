import {
  CMDQ_CONS_ERR_MASK,
  CMDQ_CONS_ERR_SHIFT,
  CMDQ_ERR_NONE,
  CMD_SIZE,
  GERROR_CMDQ_ERR,
  SMMU_CMDQ_CONS,
  SMMU_CMDQ_PROD,
  SMMU_GERROR,
  SMMU_GERRORN,
  qInc,
  qIndex,
  type PhysicalMemory,
  type Smmuv3,
} from '@iommu-sim/hw-models'
import { cmd, type Command } from './commands.js'

/** Linux CMDQ_BATCH_ENTRIES: a batch is at most 63 commands plus its CMD_SYNC. */
export const CMDQ_BATCH_ENTRIES = 64

/**
 * The driver side of the command queue: writes entries at PROD, publishes PROD, and — as Linux's
 * arm_smmu_cmdq_skip_err does — recovers from a command error by replacing the bad entry with a
 * CMD_SYNC, acknowledging GERROR and resuming. Returns the CONS.ERR codes seen (tests read them).
 */
export class CommandQueue {
  /** Errors reported by the hardware (CONS.ERR values), oldest first. */
  readonly errors: number[] = []

  constructor(
    private readonly hw: Smmuv3,
    private readonly mem: PhysicalMemory,
    readonly base: number,
    readonly log2: number,
  ) {}

  /** Issues `commands` in batches of 63, each followed by a CMD_SYNC when `sync`. Returns true if no command failed. */
  issue(commands: readonly Command[], sync = true): boolean {
    if (commands.length === 0) return sync ? this.submit([cmd.sync()]) : true
    let ok = true
    for (let i = 0; i < commands.length; i += CMDQ_BATCH_ENTRIES - 1) {
      const batch = commands.slice(i, i + CMDQ_BATCH_ENTRIES - 1)
      if (sync) batch.push(cmd.sync())
      ok = this.submit(batch) && ok
    }
    return ok
  }

  /** Writes raw entries and rings the doorbell (no sync appended). */
  submit(entries: readonly Command[]): boolean {
    const capacity = (1 << this.log2) - 1
    let ok = true
    for (let i = 0; i < entries.length; i += capacity) {
      let prod = this.hw.readReg(SMMU_CMDQ_PROD)
      for (const [q0, q1] of entries.slice(i, i + capacity)) {
        const pa = this.base + qIndex(prod, this.log2) * CMD_SIZE
        this.mem.write64(pa, q0)
        this.mem.write64(pa + 8, q1)
        prod = qInc(prod, this.log2)
      }
      this.hw.writeReg(SMMU_CMDQ_PROD, prod)
      ok = this.drainErrors() && ok
    }
    return ok
  }

  /** After the doorbell: while CONS stopped with an error, skip the bad command and resume. */
  private drainErrors(): boolean {
    let ok = true
    for (;;) {
      const cons = this.hw.readReg(SMMU_CMDQ_CONS)
      const err = (cons & CMDQ_CONS_ERR_MASK) >>> CMDQ_CONS_ERR_SHIFT
      const pending = ((this.hw.readReg(SMMU_GERROR) ^ this.hw.readReg(SMMU_GERRORN)) & GERROR_CMDQ_ERR) !== 0
      if (!pending || err === CMDQ_ERR_NONE) return ok
      ok = false
      this.errors.push(err)
      const pa = this.base + qIndex(cons, this.log2) * CMD_SIZE
      const [q0, q1] = cmd.sync()
      this.mem.write64(pa, q0)
      this.mem.write64(pa + 8, q1)
      this.hw.writeReg(SMMU_GERRORN, this.hw.readReg(SMMU_GERROR))
      this.hw.writeReg(SMMU_CMDQ_PROD, this.hw.readReg(SMMU_CMDQ_PROD)) // resume
    }
  }
}
