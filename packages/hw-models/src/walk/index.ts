export { WalkResult } from './result.js'
export type { WalkFetch } from './fetch.js'
export { walk, walkStage, walkNested, Stage2Fetch } from './walk.js'
