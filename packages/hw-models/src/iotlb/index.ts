export { Iotlb, type IotlbOptions, type IotlbStats, type IotlbEntry, type IotlbReplacement } from './iotlb.js'
export { TranslationContext, translate, type TranslationContextOptions } from './translate.js'
