/**
 * bench/results.json at the repository root: `{ machine: { cores, node, cpu }, results: [ { name,
 * unit, value } ] }`. Each bench merges its entries by name, so runs can be compared over time.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus } from 'node:os'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface BenchResult {
  readonly name: string
  readonly unit: string
  readonly value: number
}

export const RESULTS_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bench/results.json')

export function recordResults(results: readonly BenchResult[], path = RESULTS_PATH): void {
  let previous: BenchResult[] = []
  if (existsSync(path)) {
    try {
      previous = (JSON.parse(readFileSync(path, 'utf8')) as { results?: BenchResult[] }).results ?? []
    } catch {
      previous = []
    }
  }
  const byName = new Map(previous.map((r) => [r.name, r]))
  for (const r of results) byName.set(r.name, { name: r.name, unit: r.unit, value: Number(r.value.toPrecision(6)) })
  const machine = { cores: availableParallelism(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown' }
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, JSON.stringify({ machine, results: [...byName.values()].sort((a, b) => a.name.localeCompare(b.name)) }, null, 2) + '\n')
}
