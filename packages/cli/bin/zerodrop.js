#!/usr/bin/env node
// The `zerodrop` command's entry, committed so that npm links it at install time, before
// `npm run build` has written dist/ (npm skips a bin whose file does not exist yet).
import '../dist/bin.js';
