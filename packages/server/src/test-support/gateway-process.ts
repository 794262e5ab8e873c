/**
 * A gateway in a child process whose application reports to the test over IPC: the CLI lab's
 * GatewayProcess (packages/cli/src/lab/gateway-process.ts), which the drills count with too.
 */
export { type AppMessage, GatewayProcess } from '../../../cli/src/lab/gateway-process.js';
