// Sums the vitest JSON reports of every workspace package into the plain line CI reads:
// "N passed, N failed" (vitest's own summary is per package and not read by CI). A file that
// failed outside its tests (import error, hook), a package without a report, and a failing test
// command (e.g. typecheck; its exit status is the first argument) each count as a failure.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

let passed = 0
let failed = 0
let skipped = 0
const missing = []
for (const group of ['packages', 'apps']) {
  if (!existsSync(group)) continue
  for (const name of readdirSync(group)) {
    const dir = join(group, name)
    if (!existsSync(join(dir, 'package.json'))) continue
    const report = join(dir, '.vitest-results.json')
    if (!existsSync(report)) {
      missing.push(dir)
      continue
    }
    const r = JSON.parse(readFileSync(report, 'utf8'))
    passed += r.numPassedTests ?? 0
    const fileFailures = (r.testResults ?? []).filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed')).length
    failed += (r.numFailedTests ?? 0) + fileFailures
    skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0)
  }
}
if (missing.length > 0) {
  console.log(`no test report from: ${missing.join(', ')}`)
  failed += missing.length
}
const status = Number(process.argv[2] ?? 0)
if (status !== 0 && failed === 0) {
  console.log(`the test command exited with status ${status} (typecheck or runner failure)`)
  failed = 1
}
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)
