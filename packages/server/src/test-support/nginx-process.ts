/** A real nginx for tests: the CLI lab's NginxProcess (packages/cli/src/lab/nginx-process.ts). */
export {
  type NginxCheck,
  type NginxConfigSource,
  type NginxPaths,
  NginxProcess,
  type NginxRuntime,
} from '../../../cli/src/lab/nginx-process.js';
