// Sums the vitest JSON reports of every workspace package into the plain line CI reads:
// "N passed, N failed" (vitest's own summary is per package and not read by CI).
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
    failed += (r.numFailedTests ?? 0) + (r.numRuntimeErrorTests ?? 0)
    skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0)
  }
}
if (missing.length > 0) console.log(`no test report from: ${missing.join(', ')}`)
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)
