export * from './memory/index.js'
export * from './pgtable/index.js'
export * from './walk/index.js'
export * from './iotlb/index.js'
