// AMD-Vi driver: not implemented yet. This package reserves the name and the folder; nothing here
// pretends to work.
export {}
