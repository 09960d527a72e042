import { runMockScenario } from './scenario.js'
import { runVmScenario } from './vm-scenario.js'
import { runMigrationScenario } from './migration-scenario.js'

console.log('== 1. a process, a device and the mock IOMMU ==')
const basic = runMockScenario()
for (const line of basic.lines) console.log(line)

console.log('\n== 2. a VM with two vSMMUs on two physical SMMUv3 units ==')
const vm = runVmScenario()
for (const line of vm.lines) console.log(line)

console.log('\n== 3. pre-copy migration: SMMUv3 dirty tracking (HTTU), and a PASID ==')
const migration = runMigrationScenario()
for (const line of migration.lines) console.log(line)

const converged = migration.dirtyPerRound.at(-1)?.length === 0 && migration.leftovers.objects === 0 && migration.leftovers.pins === 0
if (!converged || !basic.faultedAfterUnmap || vm.events.length !== 1 || vm.leftovers.objects !== 0 || vm.leftovers.pins !== 0) {
  console.error('demo: the scenario did not behave as expected')
  process.exit(1)
}
