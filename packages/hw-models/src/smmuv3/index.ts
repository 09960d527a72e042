export * from './regs.js'
export * from './structures.js'
export { Smmuv3, SmmuOutcome, type Smmuv3Options, type Smmuv3Stats, type Smmuv3SharedState } from './unit.js'
