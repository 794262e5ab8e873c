/**
 * `zerodrop token <deviceId>`: mint a device token with a fleet secret, for testing a device, a
 * firmware build or a curl against a gateway that authenticates devices (docs/PROTOCOL.md §1a). The
 * secret comes from `--secret` or the first of `$ZERODROP_DEVICE_SECRETS`, the same variable the
 * gateway reads; the token goes to stdout, nothing else does.
 */
import { isValidDeviceId } from '@zerodrop/protocol';
import { signDeviceToken } from '@zerodrop/server';
import { parseArgs, wantsHelp } from '../args.js';
import { UsageError } from '../cli-error.js';

const COMMAND = 'token';

const HELP = `Usage: zerodrop token <deviceId> [--secret <secret>] [--at <unix seconds>]

Prints a device token (v1.<deviceId>.<unixSeconds>.<HMAC-SHA256>) for the gateway's device
authentication. A token is valid within the gateway's clock-skew window (default ±5 min) of its time.

  --secret <s>   the fleet secret (default: the first of $ZERODROP_DEVICE_SECRETS)
  --at <s>       the token's time in unix seconds (default: now), e.g. to reproduce a test vector
  -h, --help     this help

Example:
  curl -H "Authorization: Bearer $(zerodrop token bear-0042)" ...`;

export async function tokenCommand(argv: string[]): Promise<number> {
  if (wantsHelp(argv)) {
    console.log(HELP);
    return 0;
  }
  const args = parseArgs(argv, { secret: { kind: 'value' }, at: { kind: 'value' } }, COMMAND);
  const [deviceId, ...extra] = args.positionals;
  if (!deviceId || extra.length > 0) throw new UsageError('give exactly one device id', COMMAND);
  if (!isValidDeviceId(deviceId))
    throw new UsageError('the device id may hold letters, digits and ._:@- (1-128)', COMMAND);
  const secret = args.value('secret') ?? process.env.ZERODROP_DEVICE_SECRETS?.split(',')[0]?.trim();
  if (!secret) throw new UsageError('no secret: pass --secret or set ZERODROP_DEVICE_SECRETS', COMMAND);
  const atText = args.value('at');
  if (atText !== undefined && !/^\d{1,12}$/.test(atText))
    throw new UsageError('--at takes unix seconds', COMMAND);
  const at = atText === undefined ? Math.floor(Date.now() / 1000) : Number(atText);
  console.log(signDeviceToken(secret, deviceId, at));
  return 0;
}
