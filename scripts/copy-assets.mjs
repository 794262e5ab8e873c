#!/usr/bin/env node
// Copies non-TypeScript files the compiled packages read at run time (the Redis Lua scripts) from
// src/ to dist/, keeping their relative paths. Run by `npm run build` after tsc.
import { cpSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const ASSET = /\.lua$/;

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (ASSET.test(name)) out.push(p);
  }
  return out;
}

for (const pkg of readdirSync(join(root, 'packages'))) {
  const src = join(root, 'packages', pkg, 'src');
  for (const file of walk(src, [])) cpSync(file, join(root, 'packages', pkg, 'dist', relative(src, file)));
}
