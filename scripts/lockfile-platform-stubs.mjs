// The registry this project installs from serves only the platform packages of the machine
// (linux-x64), so `npm install` leaves other platforms' optional binaries (e.g. @rollup/rollup-*)
// out of package-lock.json, and `npm ci` then refuses the lockfile ("Missing: … from lock file").
// This adds the missing optional entries with their os / cpu / libc, so npm ci skips them as
// platform-inappropriate without fetching. Run after any `npm install`: `npm run lock:fix`.
import { readFileSync, writeFileSync } from 'node:fs'

const OS = ['android', 'darwin', 'freebsd', 'linux', 'openbsd', 'openharmony', 'netbsd', 'sunos', 'aix', 'win32']
const CPU = ['arm64', 'arm', 'x64', 'ia32', 'loong64', 'ppc64', 'riscv64', 's390x', 'mips64el']

function platformOf(name) {
  const base = name.split('/').pop()
  for (const os of OS) {
    for (const cpu of CPU) {
      const m = base.match(new RegExp(`-${os}-${cpu}(?:-(gnu|musl|gnueabihf|musleabihf|msvc|eabi))?$`))
      if (m) {
        const libc = m[1] === 'gnu' || m[1] === 'gnueabihf' ? 'glibc' : m[1] === 'musl' || m[1] === 'musleabihf' ? 'musl' : undefined
        return { os, cpu, libc }
      }
    }
  }
  return undefined
}

const path = new URL('../package-lock.json', import.meta.url)
const lock = JSON.parse(readFileSync(path, 'utf8'))
let added = 0
for (const [key, entry] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const at = `node_modules/${dep}`
    if (lock.packages[at] !== undefined || lock.packages[`${key}/node_modules/${dep}`] !== undefined) continue
    const p = platformOf(dep)
    if (p === undefined) continue
    lock.packages[at] = { version, ...(entry.dev ? { dev: true } : {}), optional: true, os: [p.os], cpu: [p.cpu], ...(p.libc ? { libc: [p.libc] } : {}) }
    added++
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))))
writeFileSync(path, JSON.stringify(lock, null, 2) + '\n')
console.log(`lockfile: ${added} platform-specific optional entr${added === 1 ? 'y' : 'ies'} added`)
