/**
 * IOMMU_TEST_CMD: the selftest-only command. The dispatcher applies the common rules
 * (struct iommu_test_cmd: size 72, minimum offsetofend(last) = 68) and hands the kernel copy to
 * the first IOMMU unit on the host that implements `selftest` (the mock driver does, like the
 * kernel's selftest.c built into iommufd). With no such unit the command does not exist:
 * ENOTTY, as a kernel built without CONFIG_IOMMUFD_TEST.
 */
import type { Iommufd } from '../iommufd/context.js'
import type { Process } from '../host/process.js'
import type { IommuUnit } from '../driver/ops.js'
import type { ProcessUserMemory } from './user-memory.js'

/** What a driver's selftest hook receives for one IOMMU_TEST_CMD. */
export interface SelftestCall {
  /** The iommufd context the command was issued on. */
  readonly ctx: Iommufd
  /** The calling process (pointers in the command are its virtual addresses). */
  readonly proc: Process
  /**
   * The kernel copy of `struct iommu_test_cmd` (72 bytes, little-endian): size @0, op @4, id @8,
   * __reserved @12, the per-op union @16..63, last @64. Outputs are written here.
   */
  readonly cmd: DataView
  /** The calling process's memory (copy_from_user / copy_to_user; EFAULT when unmapped). */
  readonly memory: ProcessUserMemory
  /** iommufd_ucmd_respond: write the command back to the user (also done on success). */
  respond(): void
}

/** The unit that serves IOMMU_TEST_CMD on this context's host, if any. */
export function selftestUnit(ctx: Iommufd): (IommuUnit & { selftest: NonNullable<IommuUnit['selftest']> }) | undefined {
  for (const unit of ctx.host.iommus) {
    if (typeof unit.selftest === 'function') return unit as IommuUnit & { selftest: NonNullable<IommuUnit['selftest']> }
  }
  return undefined
}
