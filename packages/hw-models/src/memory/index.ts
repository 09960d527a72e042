export { PhysicalMemory, FRAME_SIZE, FRAME_SHIFT, DEFAULT_MEMORY_BYTES, type PhysicalMemoryOptions } from './physical-memory.js'
export { FrameAllocator } from './frame-allocator.js'
export { PhysicalMemoryError, type PhysicalMemoryErrorCode } from './errors.js'
